"""The peer routes of a node over real mutual TLS on loopback, with the certificates ``network.identity`` issues:
only a node certificate of a member that runs a node is served; the same member's person and admin
certificates, a gateway certificate with clientAuth, and the node certificate of a member that runs none, are
refused at every route (403 with the reason, a log line, nothing served or queued), and so is a node certificate
revoked on chain. The one exception is the evidence route, ``GET /qbft/v1/equivocations``, which every
certificate of a current member's CA reads (what the node's JSON-RPC answers to ``qbft_getEquivocations``): one
revoked on chain or of a member removed by governance is refused there too. A certificate neither rule admits
is answered 403 as soon as the handshake is done, before any request is read. The gateway's server certificate
(serverAuth only) does not get through the TLS handshake. Idle connections, silent or kept alive, hold none of
the server's threads, and a rule that changes refuses a kept connection at its next request.

``acme-sec`` runs the node under test; ``beta-sec`` is a member whose CA is in the bundle but that runs no node.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eth.db.atomic import AtomicDB
from eth_keys.datatypes import PrivateKey

from chain.ids import OrgId
from chain.node.node import Genesis, Node
from chain.node.peerauth import NodeCertificates
from chain.node.peers import EQUIVOCATIONS_PATH, WORKERS, Handlers, PeerServer, tls_contexts
from chain.node.rpc import RpcServer
from chain.qbft import messages as m
from chain.qbft.evidence import Equivocation
from network.identity import (
    OrgPaths,
    create_org_identity,
    issue_identity,
    issue_node_certificate,
    issue_server_certificate,
    user_paths,
)
from tests.support.idle import get, idle_connections

PASSPHRASE = b"peer-admission-passphrase"
NODE_ORG, OTHER_ORG = OrgId("acme-sec"), OrgId("beta-sec")
KEY = PrivateKey(b"\x01" * 32)
GENESIS = Genesis(20261, (KEY.public_key.to_checksum_address(),), KEY.public_key.to_checksum_address(), 1_795_000_000)
ROUTES = (
    ("GET", "/qbft/v1/status", None),
    ("GET", "/qbft/v1/blocks?from=1", None),
    ("POST", "/qbft/v1/message", b"\x12\xc0"),
    ("POST", "/qbft/v1/transaction", b"\x01"),
)
#: The evidence the node under test kept: KEY signed two PREPAREs for height 1, round 0.
EVIDENCE = (
    Equivocation(KEY.public_key.to_canonical_address(), 1, 0, m.Code.PREPARE,
                 m.encode(m.prepare(KEY, 1, 0, b"\x01" * 32))[1], m.encode(m.prepare(KEY, 1, 0, b"\x02" * 32))[1]),
)  # fmt: skip


@dataclass
class Received:
    messages: list[tuple[int, bytes]] = field(default_factory=list)
    transactions: list[bytes] = field(default_factory=list)
    statuses: int = 0

    def message(self, code: int, body: bytes) -> bool:
        self.messages.append((code, body))
        return True

    def status(self) -> dict[str, Any]:
        self.statuses += 1
        return {"address": "0x" + "00" * 20, "head": 0}


@dataclass
class World:
    root: Path
    bundle: Path
    server: PeerServer
    received: Received
    certs: dict[str, tuple[Path, Path]]

    def client(self, who: str) -> ssl.SSLContext:
        cert, key = self.certs[who]
        context = ssl.create_default_context(cafile=str(self.bundle))
        context.load_cert_chain(str(cert), str(key), PASSPHRASE)
        return context

    def ask(self, who: str, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        connection = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=self.client(who), timeout=5)
        try:
            headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
            connection.request(method, path, body, headers)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()


def gateway_client_certificate(root: Path) -> tuple[Path, Path]:
    """A certificate the org's CA could issue its gateway for calling out: ``CN=gateway.<org>`` with clientAuth
    and serverAuth, the node certificate's usages under another name."""
    paths = OrgPaths.of(root, NODE_ORG)
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), PASSPHRASE)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([*ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, NODE_ORG),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"gateway.{NODE_ORG}")])  # fmt: skip
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = root / "gateway-client.pem", root / "gateway-client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption = serialization.BestAvailableEncryption(PASSPHRASE)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return cert_path, key_path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("peers")
    for org, name in ((NODE_ORG, "Acme Securities"), (OTHER_ORG, "Beta Securities")):
        create_org_identity(root, org, name, PASSPHRASE)
    certs = {
        "node": issue_node_certificate(root, NODE_ORG, PASSPHRASE),
        "other node": issue_node_certificate(root, OTHER_ORG, PASSPHRASE),
        "gateway": issue_server_certificate(root, NODE_ORG, PASSPHRASE),
    }
    issue_identity(root, NODE_ORG, "alice", PASSPHRASE, role="compliance")
    alice = user_paths(root, NODE_ORG, "alice")
    certs["person"] = (alice.cert, alice.key)
    admin = user_paths(root, NODE_ORG, "Admin")
    certs["admin"] = (admin.cert, admin.key)
    certs["gateway client"] = gateway_client_certificate(root)
    bundle = root / "ca-bundle.pem"
    bundle.write_bytes(b"".join(OrgPaths.of(root, org).ca_cert.read_bytes() for org in (NODE_ORG, OTHER_ORG)))
    node_cert, node_key = certs["node"]
    server_ssl, _ = tls_contexts(str(node_cert), str(node_key), str(bundle), PASSPHRASE)
    received = Received()
    handlers = Handlers(received.message, received.transactions.append, received.status, lambda: EVIDENCE)
    rule = NodeCertificates.from_bundle(bundle.read_bytes(), [NODE_ORG])
    server = PeerServer(Node(AtomicDB(), GENESIS), handlers, ssl_context=server_ssl, certificates=rule)
    server.start()
    try:
        yield World(root, bundle, server, received, certs)
    finally:
        server.stop()


def test_a_node_certificate_of_a_member_that_runs_a_node_is_served(world: World) -> None:
    before = (len(world.received.messages), len(world.received.transactions), world.received.statuses)
    answers = [world.ask("node", method, path, body) for method, path, body in ROUTES]
    assert [status for status, _ in answers] == [200, 200, 202, 202]
    assert json.loads(answers[0][1])["head"] == 0
    assert answers[1][1] == b"\xc0"  # no block after genesis yet: an empty list
    after = (len(world.received.messages), len(world.received.transactions), world.received.statuses)
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)


@pytest.mark.parametrize("who", ["person", "admin", "gateway client", "other node"])
def test_other_certificates_of_the_consortiums_cas_are_refused_at_every_route(
    world: World, who: str, caplog: pytest.LogCaptureFixture
) -> None:
    received = world.received
    before = (list(received.messages), list(received.transactions), received.statuses)
    refused = world.server.refused
    with caplog.at_level(logging.WARNING, logger="consortium.node.peers"):
        for method, path, body in ROUTES:
            status, answer = world.ask(who, method, path, body)
            assert status == 403, (who, path)
            assert json.loads(answer)["error"].startswith("refused: "), (who, path)
    assert (received.messages, received.transactions, received.statuses) == before  # nothing served or queued
    assert world.server.refused == refused + len(ROUTES)
    lines = [r.getMessage() for r in caplog.records if " refused" in r.getMessage()]
    assert len(lines) == len(ROUTES)
    expected = "runs no node" if who == "other node" else "not a node certificate"
    assert all(expected in line for line in lines), lines


def rpc_evidence() -> list[dict[str, Any]]:
    """What the node's JSON-RPC answers to ``qbft_getEquivocations`` over the same evidence (no socket)."""
    server = RpcServer(Node(AtomicDB(), GENESIS), equivocations=lambda: EVIDENCE)
    raw = server.handle(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "qbft_getEquivocations"}).encode())
    assert raw is not None
    result: list[dict[str, Any]] = json.loads(raw)["result"]
    return result


@pytest.mark.parametrize("who", ["node", "person", "admin", "gateway client", "other node"])
def test_the_evidence_route_is_read_with_any_certificate_of_a_members_ca(world: World, who: str) -> None:
    """The node's, and a member's person, admin, service-like or other org's certificate (the explorer presents
    its ``chain@<org>`` identity): the records its JSON-RPC answers, nothing else served."""
    before = (list(world.received.messages), list(world.received.transactions), world.received.statuses)
    status, answer = world.ask(who, "GET", EQUIVOCATIONS_PATH, None)
    assert status == 200, answer
    assert json.loads(answer) == rpc_evidence() != []
    after = (world.received.messages, world.received.transactions, world.received.statuses)
    assert after == before


def test_the_evidence_route_refuses_a_certificate_revoked_on_chain_or_of_a_removed_member(world: World) -> None:
    rule = world.server.certificates
    assert rule is not None
    serial = x509.load_pem_x509_certificate(world.certs["person"][0].read_bytes()).serial_number
    world.server.certificates = dataclasses.replace(
        rule, revoked={NODE_ORG: frozenset({serial})}, removed=frozenset({OTHER_ORG})
    )
    try:
        refusals = {who: world.ask(who, "GET", EQUIVOCATIONS_PATH, None) for who in ("person", "other node", "admin")}
    finally:
        world.server.certificates = rule
    assert refusals["admin"][0] == 200
    for who, reason in (("person", "revoked by 'acme-sec' on chain"), ("other node", "removed from the consortium")):
        status, answer = refusals[who]
        assert status == 403 and reason in json.loads(answer)["error"], (who, answer)


def test_the_refusal_comes_before_any_request(world: World) -> None:
    """A person's certificate revoked on chain, which neither rule admits: the 403 arrives though the client sends
    nothing after the handshake."""
    rule = world.server.certificates
    assert rule is not None
    serial = x509.load_pem_x509_certificate(world.certs["person"][0].read_bytes()).serial_number
    world.server.certificates = dataclasses.replace(rule, revoked={NODE_ORG: frozenset({serial})})
    try:
        with (
            socket.create_connection(("127.0.0.1", world.server.port), timeout=5) as raw,
            world.client("person").wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.recv(4096).startswith(b"HTTP/1.1 403 ")
    finally:
        world.server.certificates = rule


def test_a_node_certificate_revoked_on_chain_is_refused(world: World) -> None:
    """The rule a node following the directory makes (``peerfollow``) names the serials revoked on chain: the
    node certificate is refused from the next connection, and served again by a rule without the revocation."""
    rule = world.server.certificates
    assert rule is not None
    serial = x509.load_pem_x509_certificate(world.certs["node"][0].read_bytes()).serial_number
    assert world.ask("node", "GET", "/qbft/v1/status", None)[0] == 200
    world.server.certificates = dataclasses.replace(rule, revoked={NODE_ORG: frozenset({serial})})
    try:
        status, answer = world.ask("node", "POST", "/qbft/v1/message", b"\x12\xc0")
        assert status == 403 and "revoked by 'acme-sec' on chain" in json.loads(answer)["error"]
    finally:
        world.server.certificates = rule
    assert world.ask("node", "GET", "/qbft/v1/status", None)[0] == 200


def server_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name == "peers" or t.name.startswith("peers-"))


def test_idle_connections_hold_no_thread_and_a_kept_one_follows_the_rule(world: World) -> None:
    """50 idle connections, 25 that never send (not even a TLS ClientHello) and 25 node connections kept alive
    after a request: the server's threads stay its fixed set (the accepting one, the watcher, the workers), and
    another connection and the kept ones are answered. A kept connection whose certificate the rule refuses from
    now on gets 403 at its next request."""
    before = set(threading.enumerate())
    assert len(server_threads()) == WORKERS + 2
    port, context = world.server.port, world.client("node")

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)

    with idle_connections(port, 25, connect, "/qbft/v1/status") as kept:
        assert world.ask("node", "GET", "/qbft/v1/blocks?from=1", None)[0] == 200  # every connection accepted by now
        assert set(threading.enumerate()) - before == set()
        assert len(server_threads()) == WORKERS + 2
        rule = world.server.certificates
        assert rule is not None
        serial = x509.load_pem_x509_certificate(world.certs["node"][0].read_bytes()).serial_number
        world.server.certificates = dataclasses.replace(rule, revoked={NODE_ORG: frozenset({serial})})
        try:
            kept[0].request("GET", "/qbft/v1/status")
            answer = kept[0].getresponse()
            assert answer.status == 403 and "revoked" in json.loads(answer.read())["error"]
        finally:
            world.server.certificates = rule
        assert [get(connection, "/qbft/v1/status") for connection in kept[1:]] == [200] * 24


def test_the_gateways_server_certificate_does_not_even_complete_tls(world: World) -> None:
    """It is for serverAuth only: TLS refuses it as a client certificate before any route is reached."""
    statuses = world.received.statuses
    with pytest.raises((ssl.SSLError, ConnectionError)):
        world.ask("gateway", "GET", "/qbft/v1/status", None)
    assert world.received.statuses == statuses
