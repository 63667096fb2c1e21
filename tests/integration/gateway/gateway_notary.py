"""A real notary on loopback for the gateway's tests: ``consortium notary serve``, as an operator runs it (README,
docs/notary.md), in its own process, on a port fixed before it starts.

The notary serves a consortium directory of its own, written here: ``consortium.json`` lists one member for each
org of the gateway keys a test gives (an identity generated for it, with the test's key as its gateway key), the
first of them also the notary (its log key that org's), a witness policy of threshold 0 (every checkpoint is
published at once) and no chain (``--no-anchor``). The port is chosen up front: a gateway's shipper is configured
with one notary URL, so the tests reuse it when they start the notary late, or again after ``kill -9``.
``suite="sm"`` makes its log of the national suite: an SM2 log key, SM3 trees, the gateways' SM2 keys
(docs/national-suite.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chain.ids import OrgId, Role
from network.identity import OrgPaths, create_org_identity
from notary.log.tiles import entries_path, parse_entry_bundle
from suite.sm2 import SM2PrivateKey
from tests.support.member_directory import write_description
from tests.support.up_process import LineProcess, free_port
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[3]
NAME = "gateway-test"
PASSPHRASE = "gateway-notary-passphrase"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
POLICY = {"threshold": 0, "witnesses": [], "require_regulator": False}  # every checkpoint published at once


GatewayKeys = Mapping[str, Ed25519PrivateKey | SM2PrivateKey]


def _public(key: Ed25519PrivateKey | SM2PrivateKey) -> bytes:
    """The raw public key the notary takes: 32 bytes Ed25519, or the SM2 point 04 ‖ x ‖ y."""
    if isinstance(key, SM2PrivateKey):
        return key.public_key().public_bytes()
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class NotaryProcess:
    """The notary of ``directory``, accepting batches from the gateways of the orgs in ``gateway_keys``."""

    def __init__(
        self, directory: Path, gateway_keys: GatewayKeys, port: int | None = None, suite: str = "intl"
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.suite = suite
        self.notary_org = next(iter(gateway_keys))
        self.process: LineProcess | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.configure(gateway_keys)

    def configure(self, gateway_keys: GatewayKeys) -> None:
        """Write the ``consortium.json`` the next start reads (same log key; the gateway keys may change)."""
        keys = {org: _public(key) for org, key in gateway_keys.items()}
        members = {}
        for org in dict.fromkeys([self.notary_org, *keys]):
            if not OrgPaths.of(self.directory, OrgId(org)).org_dir.exists():
                create_org_identity(self.directory, OrgId(org), f"Org {org}", PASSPHRASE.encode(), crypto=self.suite)
            members[org] = (f"Org {org}", Role.MEMBER | Role.NOTARY if org == self.notary_org else Role.MEMBER)
        write_description(
            self.directory,
            members,
            name=NAME,
            crypto=self.suite,
            chain_url="",
            witness_policy=POLICY,
            gateway_keys=keys,
        )

    def start(self) -> None:
        """Start ``consortium notary serve`` and return once it answers."""
        argv = [sys.executable, "-m", "cli.main", "notary", "serve", str(self.directory)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--no-anchor", "--checkpoint-interval", "0.5"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
        env.update(CONSORTIUM_PASSPHRASE=PASSPHRASE, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        process = self.process = LineProcess("the notary", argv, env, cwd=ROOT, stop_timeout=STOP_TIMEOUT)

        def serving(client: httpx.Client) -> bool:
            if process.process.poll() is not None:
                raise AssertionError(f"the notary exited ({process.process.returncode}) at start:\n{process.output()}")
            return client.get(self.url + "/healthz").status_code == 200

        # one client for every look: httpx.get makes a client, and its TLS context, each time (some 20 ms of CPU)
        with httpx.Client(timeout=5) as client:
            wait_until(
                lambda: serving(client), "the notary to serve", START_TIMEOUT, every=0.05, ignoring=(httpx.HTTPError,)
            )

    def kill(self) -> None:
        """``kill -9``."""
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        """SIGTERM, if it runs; it must exit within ``STOP_TIMEOUT`` seconds."""
        if self.process is not None and self.process.process.poll() is None:
            self.process.terminate()

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
