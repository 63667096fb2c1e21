"""A running demo consortium (``consortium up`` with traffic) and its explorer, for the tests of this package (the
explorer's API and browser tests, the tenancy suite, the OpenAPI fuzzing): the real nodes, notary, witnesses,
gateways, demo traffic and explorer processes on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.up_process import PLAIN, UpProcess, free_port_block
from tests.support.wait import wait_until as poll

PASSPHRASE = "demo-passphrase-not-for-production"
CLI = [sys.executable, "-m", "cli.main"]
REGULATOR = "bjcm-supervision"


def cli_env() -> dict[str, str]:
    return {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}


@dataclass
class Live:
    directory: Path
    up: UpProcess
    url: str
    notary: str
    tokens: dict[str, str] = field(default_factory=dict)  # "<name>@<org>" → token

    def client(self, who: str | None) -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def get(self, who: str | None, path: str, **params: Any) -> httpx.Response:
        with self.client(who) as client:
            return client.get(path, params=params)

    def regulator(self) -> str:
        return f"inspector@{REGULATOR}"


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.25) -> Any:
    return poll(check, what, timeout, every=every, ignoring=(httpx.HTTPError,))


def start_live(base: Path, traffic: float = 20.0) -> Iterator[Live]:
    directory = base / "consortium"
    made = subprocess.run(
        [*CLI, "init", str(directory), "--demo"],
        env=cli_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert made.returncode == 0, (
        f"`consortium init --demo` exited {made.returncode}:\n{made.stdout[-3000:]}\n{made.stderr[-3000:]}"
    )
    port = free_port_block()
    argv = [*CLI, "up", str(directory), "--port", str(port), "--traffic", str(traffic), *PLAIN]
    up = UpProcess(argv, cli_env(), port)
    try:
        summary = up.wait_for_summary(timeout=240)
        url = f"http://127.0.0.1:{port + 60}"
        assert any(line.strip().startswith("explorer") and url in line for line in summary), summary
        logins = directory / "explorer" / "logins"
        tokens = {p.name.removesuffix(".token"): p.read_text().strip() for p in logins.glob("*.token")}
        live = Live(directory, up, url, f"http://127.0.0.1:{port + 1}", tokens)

        def busy() -> bool:
            rows = live.get(live.regulator(), "/api/v1/calls", limit=200).json().get("calls", [])
            pairs = {(r["caller_org"], r["provider_org"]) for r in rows if r["center"] != "explorer"}
            return len(pairs) >= 3 and any(r["decision"] == "deny" for r in rows)

        wait_until(busy, 90, "demo calls between several firms in the explorer")
        yield live
    finally:
        up.stop()
