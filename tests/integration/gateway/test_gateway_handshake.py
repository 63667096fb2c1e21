"""A gateway refuses a member's certificate the chain no longer vouches for as soon as the TLS handshake is done,
before any request of it is read, as the notary and a node's JSON-RPC do (``CallerAuthenticator.handshake_verdict``,
``gateway.server.HandshakeGate``): 403 with the reason, the connection closed, no event (no call was read) but a
log line and a count. A connection let in is checked again at each request: a certificate revoked while it is
open is refused at its next request (401). A suspended member is let in: each of its calls is denied and recorded.

The gateway of ``alpha`` is built from its real parts (``gateway_world.LiveGateway``, following the chain's
TrustDirectory as ``gateway serve`` does) and served in process on loopback over real TLS; its chain is a real node.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.server import HandshakeGate
from tests.integration.gateway.gateway_chain import GRANTEE, METHOD, OTHER, PURPOSE, ROUTE, GatewayChain, wait_for_head
from tests.integration.gateway.gateway_world import (
    Caller,
    Identity,
    LiveGateway,
    LoopThread,
    Upstream,
    World,
    client_context,
)

REQUEST = f"{METHOD} {ROUTE} HTTP/1.1\r\nHost: localhost\r\nConsortium-Purpose: {PURPOSE}\r\n\r\n".encode()
#: Longest wait for the gateway to close a refused connection: it waits a second without a byte from the client
#: (``chain.node.linger.Discard``); this only bounds a hang.
CLOSE_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, world: World, chain: GatewayChain, loop: LoopThread, upstream: Upstream
) -> Iterator[LiveGateway]:
    live = LiveGateway(world, chain, loop, upstream.url, tmp_path_factory.mktemp("gateway"), follow_trust=True)
    yield live
    live.close()


def exchange(world: World, gateway: LiveGateway, identity: Identity, request: bytes) -> tuple[bytes, bool]:
    """Everything the gateway sends on a new connection presenting ``identity`` on which the client sends
    ``request`` (b"": nothing at all) and then only reads, and whether the gateway closed the connection (False:
    it was still open after ``CLOSE_TIMEOUT``)."""
    port = urlsplit(gateway.url).port
    assert port is not None
    received = b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=CLOSE_TIMEOUT) as raw,
        client_context(world, identity).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        if request:
            tls.sendall(request)
        while True:
            try:
                chunk = tls.recv(65536)
            except TimeoutError:
                return received, False
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
                return received, True
            if not chunk:
                return received, True
            received += chunk


def refusal(answer: bytes) -> tuple[str, dict[str, str], dict[str, str]]:
    """(status line, headers with lower-case names, JSON body) of one HTTP answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    assert len(body) == int(headers["content-length"]), answer  # one answer, whole, and nothing after it
    return status, headers, json.loads(body)


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def assert_refused_at_the_handshake(
    world: World, gateway: LiveGateway, upstream: Upstream, identity: Identity, reason: str, detail: str = ""
) -> None:
    """A new connection presenting ``identity`` is answered 403 with ``reason`` (and ``detail`` in its detail),
    then closed, whether the client sent a request or nothing at all (so the answer is the handshake's: a request
    was never needed); nothing reached aiohttp, the upstream or the outbox; each refusal was counted."""
    since, served = gateway.outbox.last_seq, len(upstream.served)
    unauthenticated = sum(gateway.gateway.metrics.unauthenticated.values())
    counted = gateway.gateway.metrics.handshake_refused[reason]
    for request in (REQUEST, b""):
        answer, closed = exchange(world, gateway, identity, request)
        status, headers, body = refusal(answer)
        assert status == "HTTP/1.1 403 Forbidden", answer
        assert body["error"] == "forbidden" and body["reason"] == reason and detail in body["detail"], body
        assert headers["consortium-denial-reason"] == reason and headers["connection"] == "close", headers
        assert headers["consortium-gateway"] == gateway.gateway_id and "consortium-event-id" not in headers
        assert closed, "the gateway kept a refused connection open"
    assert gateway.gateway.metrics.handshake_refused[reason] == counted + 2
    assert sum(gateway.gateway.metrics.unauthenticated.values()) == unauthenticated  # no request was answered
    assert len(upstream.served) == served and gateway.outbox.last_seq == since


def test_a_members_good_certificate_gets_through(world: World, gateway: LiveGateway, upstream: Upstream) -> None:
    served = len(upstream.served)
    with Caller(world, world.identity(GRANTEE)) as caller:
        answers = [caller.call(gateway.url), caller.call(gateway.url)]  # one connection, kept alive
    assert [a.status for a in answers] == [200, 200], [a.body for a in answers]
    assert all(a.recorded for a in answers)
    assert len(upstream.served) == served + 2


class CountingTls:
    """Stands in for the TLS object of a connection (``ssl.SSLObject``): its peer certificate, reads counted."""

    def __init__(self, der: bytes) -> None:
        self.der = der
        self.reads = 0

    def getpeercert(self, binary_form: bool = False) -> bytes:
        assert binary_form
        self.reads += 1
        return self.der


class TlsTransport(asyncio.BaseTransport):
    """Stands in for asyncio's TLS transport: its ``ssl_object`` only."""

    def __init__(self, tls: CountingTls) -> None:
        super().__init__()
        self.tls = tls

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.tls if name == "ssl_object" else default


def test_a_connections_certificate_is_read_at_its_handshake_only_and_forgotten_when_it_ends(
    world: World, gateway: LiveGateway
) -> None:
    """A connection's client certificate cannot change: the gateway reads it from the TLS object at the handshake
    and its requests take it from there (each still checks it, revocation included: the test of a certificate
    revoked while its connection is open, below); once the connection is lost it is forgotten."""
    pem = world.identity(GRANTEE).cert.read_bytes()
    tls = CountingTls(x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER))
    transport = TlsTransport(tls)
    gate = HandshakeGate(gateway.gateway, asyncio.Protocol)
    gate.connection_made(transport)  # let in: a member's good certificate
    assert [gateway.gateway.peer_certificate(transport) for _ in range(3)] == [tls.der] * 3
    assert tls.reads == 1
    gate.connection_lost(None)
    assert gateway.gateway.peer_certificate(transport) == tls.der and tls.reads == 2  # forgotten: read again


@pytest.mark.parametrize(
    ("name", "reason"), [("expired", "certificate_expired"), ("early", "certificate_not_yet_valid")]
)
def test_an_expired_or_not_yet_valid_certificate_is_refused_once_the_handshake_is_done(
    world: World, gateway: LiveGateway, upstream: Upstream, name: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenSSL lets both through (the gateway's context leaves validity to the verdict); the verdict refuses them
    before any request is read, and the refusal is logged with its reason."""
    caplog.set_level(logging.WARNING, logger="gateway")
    assert_refused_at_the_handshake(world, gateway, upstream, world.identity(GRANTEE, name), reason)
    logged = [r.getMessage() for r in caplog.records if r.name == "gateway" and "at the handshake" in r.getMessage()]
    assert len(logged) == 2 and all(f": {reason}: " in line for line in logged), logged
    with Caller(world, world.identity(GRANTEE, name)) as caller:  # what an HTTP client makes of it
        answer = caller.call(gateway.url)
    assert (answer.status, answer.reason, answer.event_id) == (403, reason, None), answer.body


def test_a_certificate_revoked_on_chain_is_refused_at_the_handshake_and_at_the_next_request_of_an_open_connection(
    world: World, chain: GatewayChain, gateway: LiveGateway, upstream: Upstream
) -> None:
    revoked, colleague = world.identity(GRANTEE, "revoked"), world.identity(GRANTEE, "second")
    with Caller(world, revoked) as kept_alive:
        before = kept_alive.call(gateway.url)
        assert before.status == 200, before.body
        chain.consortium.trust.revoke_serial(chain.signers[GRANTEE], serial_of(revoked.cert))
        assert gateway.trust is not None
        wait_for_head(gateway.trust, chain.head(), timeout=15)
        since, served = gateway.outbox.last_seq, len(upstream.served)
        after = kept_alive.call(gateway.url)  # the connection opened before: its next request is refused
        assert (after.status, after.reason, after.event_id) == (401, "certificate_revoked", None), after.body
        assert len(upstream.served) == served and gateway.outbox.last_seq == since
    assert_refused_at_the_handshake(world, gateway, upstream, revoked, "certificate_revoked", "revoked by org")
    with Caller(world, colleague) as other:  # another certificate of the same org is unaffected
        assert other.call(gateway.url).status == 200


def test_a_suspended_members_connections_are_let_in_and_each_call_is_denied_and_recorded_until_it_is_reinstated(
    world: World, chain: GatewayChain, gateway: LiveGateway, upstream: Upstream
) -> None:
    """Unlike the notary and a node's JSON-RPC, a gateway lets a suspended member's valid certificate through the
    handshake: each call, on a connection open when the suspension took effect and on a new one, is denied by the
    grant check and recorded, so the log shows what a suspended firm still tried."""
    purpose = "suspension"
    wait_for_head(gateway.chain, chain.grant_block(chain.grant(OTHER, purpose)), timeout=15)
    gamma = world.identity(OTHER)
    counted = sum(gateway.gateway.metrics.handshake_refused.values())
    try:
        with Caller(world, gamma) as kept_alive:
            assert kept_alive.call(gateway.url, purpose=purpose).status == 200
            wait_for_head(gateway.chain, chain.suspend(OTHER), timeout=15)
            since, served = gateway.outbox.last_seq, len(upstream.served)
            denied = [kept_alive.call(gateway.url, purpose=purpose)]
        with Caller(world, gamma) as new_connection:
            denied.append(new_connection.call(gateway.url, purpose=purpose))
        for answer in denied:
            assert (answer.status, answer.reason) == (403, "member_suspended") and answer.recorded, answer.body
        recorded = [json.loads(data) for _, data in gateway.outbox.pending(1_000_000)]
        events = [e for e in recorded if e["gateway_seq"] > since]
        assert [(e["event_id"], e["denial_reason"], e["caller_org"]) for e in events] == [
            (answer.event_id, "member_suspended", OTHER) for answer in denied
        ]
        assert len(upstream.served) == served
        assert sum(gateway.gateway.metrics.handshake_refused.values()) == counted  # nothing refused at the handshake
    finally:
        wait_for_head(gateway.chain, chain.reinstate(OTHER), timeout=15)
    with Caller(world, gamma) as reinstated:
        assert reinstated.call(gateway.url, purpose=purpose).status == 200
