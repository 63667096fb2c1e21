"""``consortium notary alarms list`` in process (click's CliRunner) against the notary's real app and store: it
follows the pages of ``GET /v1/alarms`` (each page's ``next``) to the last, or until ``--limit`` alarms. The
app is served in process by Starlette's TestClient, an httpx client, which stands in for the client the command
would open to a notary's URL (``cli.log._alarms_client``); the reads are signed as the command signs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import cli.log
from cli.main import cli as consortium
from notary.api import create_app
from notary.readauth import SignedReads
from tests.unit.notary.test_read_access import NOW, Readers

#: More than the one page of 100 the notary answered before it paged, and the command read.
ALARMS = 130


@pytest.fixture
def readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Readers]:
    """The notary of ``test_read_access`` holding ``ALARMS`` alarms, every tenth resolved; the command's client
    reads it in process, signed as ``op/ops``, in pages of 40."""
    r = Readers(tmp_path / "notary")
    store = r.service.store
    for n in range(1, ALARMS + 1):
        store.add_alarm(n, "object-mismatch", n, f"other bytes under object {n}", subject=f"object {n}")
        if n % 10 == 0:
            assert store.resolve_alarm(n, n, "op/ops", "restored")[1]
    app = create_app(r.service, r.access)

    def client(_obj: object, org: str, _url: str | None) -> tuple[str, httpx.Client]:
        inprocess = TestClient(app, base_url="http://notary.test")
        inprocess.auth = SignedReads(f"{org}/ops", r.keys[org], clock=lambda: NOW)
        return "http://notary.test", inprocess

    monkeypatch.setattr(cli.log, "_alarms_client", client)
    monkeypatch.setattr(cli.log, "_ALARMS_PAGE", 40)
    yield r
    r.service.stop()


def listed(tmp_path: Path, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        consortium, ["--dir", str(tmp_path), "notary", "alarms", "list", "--as", "op", "--json", *args]
    )
    assert result.exit_code == 0, result.output
    found: list[dict[str, object]] = json.loads(result.output)
    return found


def test_alarms_list_follows_the_pages_to_the_last(readers: Readers, tmp_path: Path) -> None:
    every = listed(tmp_path)
    assert [a["id"] for a in every] == list(range(ALARMS, 0, -1))  # every one, once, the last found first
    assert [a["id"] for a in listed(tmp_path, "--open")] == [n for n in range(ALARMS, 0, -1) if n % 10]
    assert [a["id"] for a in listed(tmp_path, "--limit", "45")] == list(range(ALARMS, ALARMS - 45, -1))
    assert [a["id"] for a in listed(tmp_path, "--open", "--limit", "3")] == [129, 128, 127]
    text = CliRunner().invoke(consortium, ["--dir", str(tmp_path), "notary", "alarms", "list", "--as", "op"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert len(lines) == ALARMS
    resolved = "(resolved by op/ops: restored)"
    assert lines[0] == f"#{ALARMS} object-mismatch object {ALARMS}: found 1 times, last {ALARMS} ms {resolved}"
    refused = CliRunner().invoke(
        consortium, ["--dir", str(tmp_path), "notary", "alarms", "list", "--as", "op", "--limit", "0"]
    )
    assert refused.exit_code == 2 and "--limit" in refused.output
