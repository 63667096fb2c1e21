"""``make run`` end to end: the commands of the Makefile's ``run`` target, on a throwaway DATA directory.

The test asks make for the target's commands (``make -n run DATA=<tmp>``) and for the passphrase it exports,
then runs those very commands itself, only with a free port in place of the default ``PORT`` (8545).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from up_process import CHAIN_ID, START_TIMEOUT, UpProcess, free_port, rpc_chain_id

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FOUNDERS = "bjic-cloud, jinghua-sec, yanshan-sec, yongding-sec, tonghui-sec, shuzhi-tech, bjcm-supervision"


def make(*args: str, env: dict[str, str]) -> str:
    r = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, f"make {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture
def make_env() -> dict[str, str]:
    """A user's environment with no consortium settings of its own, plus what the Makefile exports."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_") or k == "CONSORTIUM_ANVIL"}
    env.pop("MAKEFLAGS", None)
    env.pop("MFLAGS", None)
    passphrase = make(
        "-s", "--eval", 'print-passphrase: ; @printf "%s" "$$CONSORTIUM_PASSPHRASE"', "print-passphrase", env=env
    )
    assert passphrase, "the Makefile exports no CONSORTIUM_PASSPHRASE"
    env["CONSORTIUM_PASSPHRASE"] = passphrase
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class Recipe:
    """What ``make run DATA=<data>`` runs: the init line (a shell line) and the ``consortium up`` command."""

    data: Path
    init_line: str
    up_argv: list[str]
    env: dict[str, str]

    def init(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", self.init_line],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def up(self, port: int) -> UpProcess:
        return UpProcess([*self.up_argv, "--port", str(port)], self.env, port, cwd=REPO)


@pytest.fixture
def recipe(tmp_path: Path, make_env: dict[str, str]) -> Recipe:
    data = tmp_path / "demo-data"
    printed = make("-n", "-s", "run", f"DATA={data}", env=make_env).splitlines()
    # Whatever else make would do first (pip install, npm ci), the target's own recipe is these two lines.
    lines = [line for line in printed if "/consortium init " in line or "/consortium up " in line]
    assert len(lines) == 2, lines
    init_line, up_line = lines
    assert init_line.startswith(f"test -f {data}/consortium.json || "), init_line
    assert init_line.endswith(f" init {data} --demo"), init_line
    up_argv = shlex.split(up_line)
    assert up_argv[1:] == ["up", str(data), "--port", "8545"], up_line
    up_argv = up_argv[:3]
    consortium = REPO / up_argv[0]
    if not consortium.is_file():
        pytest.skip(f"{up_argv[0]} is missing: run `make install` first")
    return Recipe(data, init_line, [str(consortium), *up_argv[1:]], make_env)


def test_make_run_starts_the_demo_consortium(recipe: Recipe) -> None:
    data = recipe.data
    r = recipe.init()
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert "initialised consortium 'beijing-capital-market-pilot'" in r.stdout, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    described = (data / "consortium.json").stat().st_mtime_ns

    # A second `make run` keeps the existing consortium: the init step does nothing.
    r = recipe.init()
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert (data / "consortium.json").stat().st_mtime_ns == described

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = recipe.up(port)
    try:
        summary = up.wait_for_summary()
        text = "\n".join(summary)
        assert summary[0] == "Consortium Ledger: beijing-capital-market-pilot", text
        assert f"JSON-RPC {url}  (chain id {CHAIN_ID}," in text, text
        assert f"  members    7: {FOUNDERS}" in summary, text
        assert "3 service centers, 20 units, 80 APIs" in text, text
        notary = f"http://127.0.0.1:{port + 1}"
        assert f"  notary     {notary}  (log beijing-capital-market-pilot/audit-log;" in text, text
        assert "  witnesses  7: bjic-cloud http://127.0.0.1:" in text, text
        # The notary asks all seven witnesses and the policy (4 of 7 with the regulator) publishes a checkpoint.
        deadline = time.monotonic() + 30
        while True:
            health = httpx.get(notary + "/healthz", timeout=5).json()
            statuses = {w["status"] for w in health["witnesses"].values()}
            if len(health["witnesses"]) == 7 and statuses == {200} and health["published_ms"]:
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
        assert httpx.get(notary + "/checkpoint", timeout=5).text.startswith("beijing-capital-market-pilot/audit-log\n")

        # The summary's own hint is a command that works as printed.
        hint = next(line for line in summary if line.strip().endswith(" grant list"))
        hint_argv = shlex.split(hint.strip().removeprefix("try").strip())
        assert hint_argv[:5] == ["consortium", "--dir", str(data), "--chain-url", url], hint
        r = subprocess.run(
            [recipe.up_argv[0], *hint_argv[1:]],
            cwd=REPO,
            env=recipe.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
        assert len(r.stdout.splitlines()) >= 18, r.stdout
    except BaseException:
        up.kill()
        raise

    code = up.stop()
    assert code == 0, f"`consortium up` exited {code} on SIGTERM:\n{up.output()}"
    assert up.stdout[-1] == "stopping", up.output()
    assert (data / "chain" / "chaindata" / "STORE").is_file()
    assert rpc_chain_id(url) is None, "the chain still answers after `up` stopped"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port + 1}/healthz", timeout=2)


def test_sigterm_while_up_starts_leaves_no_chain_running(recipe: Recipe) -> None:
    """Regression: `up` once installed its SIGTERM handler only after printing its summary, so a SIGTERM while
    it started killed it at once and left its chain running, orphaned, on the port."""
    r = recipe.init()
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = recipe.up(port)
    try:
        # the node answers before `up` has read the catalogue and printed its summary: stop it in that window,
        # as a service manager (or a test harness) would if it gave up waiting.
        deadline = time.monotonic() + START_TIMEOUT
        while rpc_chain_id(url) != CHAIN_ID:
            assert up.process.poll() is None, up.output()
            assert time.monotonic() < deadline, up.output()
            time.sleep(0.005)
        code = up.stop()
        if any(line.lstrip().startswith("stop ") for line in up.stdout):
            pytest.skip("the SIGTERM came only after `up` had printed its summary: the start-up window was missed")
        gone = time.monotonic() + 3
        while rpc_chain_id(url) is not None and time.monotonic() < gone:
            time.sleep(0.05)
        assert rpc_chain_id(url) is None, f"`consortium up` exited {code} on SIGTERM, but its chain still runs at {url}"
    finally:
        up.kill()  # an orphaned chain would still be in the process group of `up`
