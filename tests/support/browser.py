"""Debian's chromium, headless, driven by Playwright: how every browser test launches it, and where its screenshots go
(``build/test-artifacts/explorer/``, or under ``$TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (make system-packages)")
    return found


@contextmanager
def launched() -> Iterator[Any]:
    """A chromium browser (Playwright's ``Browser``), closed on leaving; a module's ``browser`` fixture yields it."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot of ``page`` as ``explorer/NAME.png`` under :data:`ARTIFACTS`."""
    folder = ARTIFACTS / "explorer"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
