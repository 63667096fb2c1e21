"""A notary with real witness servers on loopback, for the integration tests of the log."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from notary.checkpointer import Witness, WitnessPolicy
from notary.log.cosignature import CosignatureVerifier
from notary.log.note import NoteVerifier
from notary.service import AnchorSettings, NotaryService, NotarySettings
from notary.witness.server import WitnessConfig, WitnessServer, make_server
from notary.witness.state import init_witness

ORIGIN = "test-consortium/audit-log"
GATEWAY = "shuzhi-tech/gw-1"
WITNESS_ORGS = ("alpha", "beta", "reg")


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass
class LogWorld:
    """Keys, three witnesses (policy: 2 of 3 with the regulator ``reg``) and a notary in ``directory``."""

    directory: Path
    log_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    gateway_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    witness_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    servers: dict[str, WitnessServer] = field(default_factory=dict)
    threads: dict[str, threading.Thread] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for org in WITNESS_ORGS:
            self.witness_keys[org] = Ed25519PrivateKey.generate()
            init_witness(self.state_path(org), ORIGIN)
            self.start_witness(org)

    def state_path(self, org: str) -> Path:
        return self.directory / "witnesses" / org / "witness.db"

    def witness_config(self, org: str) -> WitnessConfig:
        return WitnessConfig(
            name=f"test-consortium/witness/{org}",
            private_key=self.witness_keys[org],
            state_path=self.state_path(org),
            logs={ORIGIN: [self.log_verifier()]},
        )

    def start_witness(self, org: str) -> None:
        server = make_server(self.witness_config(org), "127.0.0.1", self.ports.get(org, 0))
        self.ports[org] = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.servers[org], self.threads[org] = server, thread

    def stop_witness(self, org: str) -> None:
        server = self.servers.pop(org)
        server.shutdown()
        server.server_close()
        server.close_connections()
        self.threads.pop(org).join(5)

    def close(self) -> None:
        for org in list(self.servers):
            self.stop_witness(org)

    def log_verifier(self) -> NoteVerifier:
        return NoteVerifier(ORIGIN, raw(self.log_key))

    def cosigners(self) -> dict[str, CosignatureVerifier]:
        return {
            org: CosignatureVerifier(f"test-consortium/witness/{org}", raw(key))
            for org, key in self.witness_keys.items()
        }

    def policy(self) -> WitnessPolicy:
        return WitnessPolicy(2, WITNESS_ORGS, True, frozenset({"reg"}))

    def settings(self, anchor: AnchorSettings | None = None, **changes: Any) -> NotarySettings:
        verifiers = self.cosigners()
        witnesses = [Witness(org, f"http://127.0.0.1:{self.ports[org]}", verifiers[org]) for org in WITNESS_ORGS]
        values: dict[str, Any] = {
            "directory": self.directory / "notary",
            "origin": ORIGIN,
            "log_key": self.log_key,
            "gateway_keys": {"shuzhi-tech": raw(self.gateway_key)},
            "witnesses": witnesses,
            "policy": self.policy(),
            "anchor": anchor,
        }
        values.update(changes)
        return NotarySettings(**values)

    def notary(self, anchor: AnchorSettings | None = None, **changes: Any) -> NotaryService:
        return NotaryService(self.settings(anchor, **changes))
