"""The ``consortium`` command line as the process tests run it: as a user's shell would, a subprocess with the
tests' passphrase and none of the run's other consortium settings but :data:`KEPT_SETTINGS`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PASSPHRASE = "cli-test-passphrase-4711"
COMMAND_TIMEOUT = 120.0

_SCRIPT = Path(sys.executable).with_name("consortium")
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "cli.main"]

#: The settings of the run that reach the commands: anvil's path, and the key files' PBKDF2 count (10,000 in the
#: tests, tests/conftest.py; at the default 200,000 `init --demo` and one start and stop of `up` alone spend some
#: 11 s of CPU more deriving the keys of the files they write and open).
KEPT_SETTINGS = ("CONSORTIUM_ANVIL", "CONSORTIUM_KDF_ITERATIONS")


def cli_env(passphrase: str | None = PASSPHRASE) -> dict[str, str]:
    """The environment of a user's shell: our passphrase (or none), and no consortium settings leaking in but
    :data:`KEPT_SETTINGS`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_") or k in KEPT_SETTINGS}
    env["PYTHONUNBUFFERED"] = "1"
    if passphrase is not None:
        env["CONSORTIUM_PASSPHRASE"] = passphrase
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env() if env is None else env,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def shown(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def assert_ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    return r.stdout
