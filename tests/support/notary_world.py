"""A notary with real witness servers on loopback, for the integration tests of the log, under either suite."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.contracts import KeyKind, TrustDirectoryClient
from chain.tx import Signer
from notary.checkpointer import Witness, WitnessPolicy
from notary.event import LOG_VERSIONS
from notary.logsuite import INTL, SM, LogSuite, LogVerifier, PrivateKey, WitnessVerifier, public_bytes
from notary.sequencer import encode_batch, sign_batch_body
from notary.service import AnchorSettings, NotaryService, NotarySettings
from notary.witness.server import WitnessConfig, WitnessServer, make_server
from notary.witness.state import init_witness
from suite.sm2 import SM2PrivateKey
from tests.support.notary_events import event
from tests.support.wait import wait_until

ORIGIN = "test-consortium/audit-log"
GATEWAY = "shuzhi-tech/gw-1"
#: Seconds a notary of the world has to confirm an anchor (``LogWorld.anchored_evidence``).
ANCHOR_DEADLINE = 30.0
WITNESS_ORGS = ("alpha", "beta", "reg")
SUITES = (INTL, SM)

#: ``@each_suite`` runs a test taking ``suite: LogSuite`` once under ``intl`` and once under ``sm``.
each_suite = pytest.mark.parametrize("suite", SUITES, ids=[suite.name for suite in SUITES])


def raw(key: PrivateKey) -> bytes:
    return public_bytes(key)


def new_key(suite: LogSuite) -> PrivateKey:
    """A fresh private key of ``suite``: Ed25519 for intl, SM2 for sm."""
    return SM2PrivateKey.generate() if suite is SM else Ed25519PrivateKey.generate()


@dataclass
class LogWorld:
    """Keys of ``suite``, three witnesses (policy: 2 of 3 with the regulator ``reg``) and a notary in
    ``directory``."""

    directory: Path
    suite: LogSuite = INTL
    log_key: PrivateKey = field(init=False)
    gateway_key: PrivateKey = field(init=False)
    witness_keys: dict[str, PrivateKey] = field(default_factory=dict)
    servers: dict[str, WitnessServer] = field(default_factory=dict)
    threads: dict[str, threading.Thread] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_key = new_key(self.suite)
        self.gateway_key = new_key(self.suite)
        for org in WITNESS_ORGS:
            self.witness_keys[org] = new_key(self.suite)
            init_witness(self.state_path(org), ORIGIN)
            self.start_witness(org)

    @property
    def event_version(self) -> int:
        """The schema version of the events the tests log here: 1 in an ``intl`` log, 3 in an ``sm`` one."""
        return LOG_VERSIONS[self.suite.name][0]

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

    def log_verifier(self) -> LogVerifier:
        return self.suite.note_verifier(ORIGIN, raw(self.log_key))

    def cosigners(self) -> dict[str, WitnessVerifier]:
        return {
            org: self.suite.cosignature_verifier(f"test-consortium/witness/{org}", raw(key))
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
            "suite": self.suite,
        }
        values.update(changes)
        return NotarySettings(**values)

    def notary(self, anchor: AnchorSettings | None = None, **changes: Any) -> NotaryService:
        return NotaryService(self.settings(anchor, **changes))

    def register_log_key(self, trust: TrustDirectoryClient, notary: Signer) -> int:
        """Write the log key into the TrustDirectory as a LOG_KEY of the notary's member, as ``consortium init``
        does; AuditAnchor checks an ``sm`` log's anchors against it. Returns its index."""
        return trust.add_key(notary, KeyKind.LOG_KEY, public_bytes(self.log_key))

    def anchored_evidence(self, anchor: AnchorSettings, events: int, event_id: str) -> dict[str, Any]:
        """The evidence bundle of ``event_id`` once a notary of this world, anchoring with ``anchor``, has logged
        ``events`` events (``ev-1``, ``ev-2``, …) in one batch, published a checkpoint and anchored it."""
        service = self.notary(anchor)
        try:
            now = int(time.time() * 1000)
            batch = [
                event(v=self.event_version, event_id=f"ev-{i}", gateway_seq=i, time_ms=now)
                for i in range(1, events + 1)
            ]
            body = encode_batch(GATEWAY, batch)
            service.sequencer.submit(GATEWAY, body, sign_batch_body(self.gateway_key, body))
            assert service.checkpointer.round() is not None
            assert service.anchorer is not None
            service.anchorer.step(force=True)
            wait_until(lambda: service.store.anchors(state="confirmed"), "the anchor to be confirmed", ANCHOR_DEADLINE)
            bundle: dict[str, Any] = dict(service.evidence(event_id).to_json())  # the JSON, to tamper with
        finally:
            service.stop()
        assert bundle["anchor"] is not None
        return bundle
