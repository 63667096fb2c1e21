"""A real notary on loopback for the gateway's tests, in its own process, on a port fixed before it starts.

The notary is the one ``bench.notary_server`` runs (its ``notary.json`` settings file, read by
``bench.notary_server.notary_settings``; ``NotaryService`` and ``notary.api`` behind uvicorn), without
witnesses. The only difference is the port: a gateway's shipper is configured with one notary URL, so the tests
choose the port up front and reuse it when they start the notary late, or again after ``kill -9``. ``suite="sm"``
makes its log of the national suite: an SM2 log key, SM3 trees, the gateways' SM2 keys (docs/national-suite.md).

``python gateway_notary.py DIR PORT`` serves the notary of ``DIR`` on 127.0.0.1:PORT and prints
``listening <url>`` once bound; :class:`NotaryProcess` writes ``DIR/notary.json`` and drives that process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import HOST, bound_socket
from bench.notary_server import notary_settings, raw_public
from notary.log.tiles import entries_path, parse_entry_bundle
from suite.sm2 import SM2PrivateKey
from tests.support.up_process import free_port
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[3]
ORIGIN = "gateway-test/audit-log"


GatewayKeys = Mapping[str, Ed25519PrivateKey | SM2PrivateKey]


def _public(key: Ed25519PrivateKey | SM2PrivateKey) -> bytes:
    """The raw public key the notary takes: 32 bytes Ed25519, or the SM2 point 04 ‖ x ‖ y."""
    return key.public_key().public_bytes() if isinstance(key, SM2PrivateKey) else raw_public(key)


class NotaryProcess:
    """The notary of ``directory``, accepting batches from the gateways of the orgs in ``gateway_keys``."""

    def __init__(
        self, directory: Path, gateway_keys: GatewayKeys, port: int | None = None, suite: str = "intl"
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.suite = suite
        self.log_key: Ed25519PrivateKey | SM2PrivateKey = (
            SM2PrivateKey.generate() if suite == "sm" else Ed25519PrivateKey.generate()
        )
        self.process: subprocess.Popen[str] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.configure(gateway_keys)

    def configure(self, gateway_keys: GatewayKeys) -> None:
        """Write the settings the next start reads (same log key; the gateway keys may change)."""
        config: dict[str, Any] = {
            "origin": ORIGIN,
            "suite": self.suite,
            "log_key": self.log_key.private_bytes_raw().hex(),
            "gateway_keys": {org: _public(key).hex() for org, key in gateway_keys.items()},
            "witnesses": [],
            "policy": {"threshold": 0, "witnesses": [], "require_regulator": False, "regulators": []},
            "checkpoint_interval": 0.5,
        }
        (self.directory / "notary.json").write_text(json.dumps(config))

    def start(self) -> None:
        """Start the process and return once it answers."""
        stderr = (self.directory / "stderr.log").open("a")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.directory), str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        stderr.close()
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening "):
            self.process.wait(10)
            raise RuntimeError(f"notary did not start: {(self.directory / 'stderr.log').read_text()[-2000:]}")
        wait_until(
            lambda: httpx.get(self.url + "/healthz", timeout=5).status_code == 200,
            "the notary to serve",
            30,
            every=0.05,
            ignoring=(httpx.HTTPError, ValueError, KeyError),
        )

    def kill(self) -> None:
        """``kill -9``."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._close_pipe()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    # ------------------------------------------------------------------------------------------ reads

    def size(self) -> int:
        return int(httpx.get(self.url + "/healthz", timeout=10).json()["size"])

    def gaps(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(self.url + "/v1/gaps", timeout=10).json()
        return result

    def receipt(self, event_id: str) -> httpx.Response:
        return httpx.get(f"{self.url}/v1/receipts/{event_id}", timeout=10)

    def entries(self) -> list[bytes]:
        """Every entry of the log, in index order, from the entry bundles."""
        size = self.size()
        entries: list[bytes] = []
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for n in range((size + 255) // 256):
                response = client.get("/" + entries_path(n, min(256, size - 256 * n)))
                response.raise_for_status()
                entries += parse_entry_bundle(response.content)
        return entries


def serve(directory: Path, port: int) -> None:
    """The notary of ``directory`` on 127.0.0.1:``port`` until SIGTERM."""
    import uvicorn

    from notary.api import create_app
    from notary.service import NotaryService

    config = json.loads((directory / "notary.json").read_text())
    service = NotaryService(notary_settings(directory, config))
    service.start()
    sock = bound_socket(port)  # the port of a killed notary, whose connections are in TIME_WAIT
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", access_log=False))
    print(f"listening http://{HOST}:{port}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        service.stop()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
