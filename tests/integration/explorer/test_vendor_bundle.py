"""The vendored SM2/SM3 module (``explorer/static/vendor/sm-crypto.js``) is what ``npm run build:vendor`` builds from
the packages package-lock.json pins: rebuilt into a temporary file, it is byte for byte the committed one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.explorer.test_verify_js import NODE, needs_node

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "explorer" / "static" / "vendor" / "sm-crypto.js"
BUILD = ROOT / "explorer" / "vendor" / "build.mjs"


@needs_node
def test_the_committed_bundle_is_what_the_build_script_makes(tmp_path: Path) -> None:
    if not (ROOT / "node_modules" / "esbuild").is_dir() or not (ROOT / "node_modules" / "sm-crypto-v2").is_dir():
        pytest.skip("esbuild and sm-crypto-v2 are not installed: `npm ci` installs them")
    assert NODE is not None
    out = tmp_path / "sm-crypto.js"
    done = subprocess.run([NODE, str(BUILD), str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BUNDLE.read_bytes(), "run `npm run build:vendor` and commit the bundle"


def test_the_bundle_names_the_locked_versions() -> None:
    """Its first lines name each bundled package at the version package-lock.json pins."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    head = BUNDLE.read_text(encoding="utf-8").split("\n", 2)[1]
    for name in ("sm-crypto-v2", "@noble/curves", "@noble/hashes", "@noble/ciphers"):
        assert f"{name} {lock[f'node_modules/{name}']['version']} (MIT)" in head, head
