"""``make run SUITE=sm``: the Makefile passes ``--crypto sm`` to ``consortium init``, keeps the national suite's
demo in a directory of its own, and refuses a DATA directory created under the other suite before ``up``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "SUITE", "DATA")}
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def recipe(*args: str) -> list[str]:
    r = make("-n", "-s", "run", *args)
    assert r.returncode == 0, r.stderr
    return [line for line in r.stdout.splitlines() if "/consortium init " in line or "/consortium up " in line]


def test_suite_sm_inits_with_crypto_sm_in_its_own_directory() -> None:
    init, up = recipe("SUITE=sm")
    assert init.endswith(" init demo-data-sm --demo --crypto sm"), init
    assert up.endswith(" up demo-data-sm --port 8545"), up
    init, up = recipe()
    assert init.endswith(" init demo-data --demo"), init
    assert up.endswith(" up demo-data --port 8545"), up


@pytest.mark.parametrize(("found", "asked"), [("intl", "sm"), ("sm", "intl")], ids=["intl-dir-sm", "sm-dir-intl"])
def test_a_data_directory_of_the_other_suite_is_refused(tmp_path: Path, found: str, asked: str) -> None:
    description = {"format": "consortium-ledger/1", "name": "x"} | ({} if found == "intl" else {"crypto": found})
    (tmp_path / "consortium.json").write_text(json.dumps(description))
    # -o: take the venv as installed; BIN: this interpreter's; init is skipped (consortium.json exists) and the
    # suite check stops the recipe before `up`
    bin_dir = Path(sys.executable).parent
    r = make("-s", "-o", ".venv/.installed", "run", f"SUITE={asked}", f"DATA={tmp_path}", f"BIN={bin_dir}")
    assert r.returncode != 0, r.stdout
    assert f"{tmp_path}/consortium.json is a consortium of the {found} suite, not {asked}" in r.stderr, r.stderr
    assert f"SUITE={found}" in r.stderr
    assert "starting" not in r.stdout
