"""Our mutual-TLS servers refuse a member's certificate the chain no longer vouches for once the handshake is done,
before any request of it is read: the notary's HTTPS (``notary.api.tlspeer`` with
``network.logsetup.notary_authenticator``) and a node's JSON-RPC for members only (``chain.node.rpc.server`` with
``network.nodeaccess.NodeMembers``), both asking ``CallerAuthenticator.admit``. The peer routes between nodes
are ``tests/integration/chain/test_peer_admission.py``.

One in-process node (``gateway_world``'s chain: its registry and TrustDirectory hold alpha, beta, gamma and the
regulator, each founder's CA on chain) serves both in threads on loopback. Each test asks with a fresh
connection: "HTTP/1.1 200 OK" is served, "" is a connection closed without an answer (refused at the handshake,
or, for a CA of no member, OpenSSL's alert).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from chain.ids import OrgId
from chain.node.rpc import RpcServer
from chain.node.rpc.access import RpcAccess
from chain.trustview import TrustView
from network.identity import issue_identity, issue_node_certificate
from network.logsetup import notary_authenticator, notary_tls
from network.nodeaccess import NodeMembers
from network.trust import trust_view
from tests.integration.gateway.gateway_chain import GRANTEE, OTHER, PROVIDER, GatewayChain, wait_for_head
from tests.integration.gateway.gateway_world import (
    PASS,
    Identity,
    World,
    build_world,
    client_context,
    lagging_gateway_chain,
)
from tests.support.apiserver import ApiServer

RPC_BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()


class CountingApp:
    """The app behind the notary's TLS layer: it answers 200 and counts what reached it."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@dataclass
class Servers:
    rpc: RpcServer
    notary: ApiServer
    app: CountingApp
    view: TrustView  # the notary's view of the directory (the node's JSON-RPC reads its own chain)

    @property
    def notary_port(self) -> int:
        return self.notary.port


def first_line(port: int, context: ssl.SSLContext, request: bytes) -> str:
    """The status line the server at ``port`` answers over a new connection on which the client sends
    ``request`` (b"": nothing at all); "" when it closes the connection without one (or ends the handshake with an
    alert)."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            if request:
                tls.sendall(request)
            return tls.recv(4096).split(b"\r\n", 1)[0].decode("ascii", "replace")
    except (ssl.SSLError, ConnectionError):
        return ""


def rpc_request() -> bytes:
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(RPC_BODY)}"
    return head.encode() + b"\r\n\r\n" + RPC_BODY


NOTARY_WRITE = b"POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


def answers(servers: Servers, world: World, identity: Identity) -> tuple[str, str]:
    """(the node's JSON-RPC's status line, the notary's) for a new connection presenting ``identity`` and
    sending a request (a JSON-RPC call; a write to the notary)."""
    context = client_context(world, identity)
    return (
        first_line(servers.rpc.port, context, rpc_request()),
        first_line(servers.notary_port, context, NOTARY_WRITE),
    )


def unasked(servers: Servers, world: World, identity: Identity) -> tuple[str, str]:
    """:func:`answers` when the client sends nothing after the handshake: only a refusal at the handshake answers
    that (a request refused by the rules behind it would need a request)."""
    context = client_context(world, identity)
    return first_line(servers.rpc.port, context, b""), first_line(servers.notary_port, context, b"")


SERVED = ("HTTP/1.1 200 OK", "HTTP/1.1 200 OK")
REFUSED = ("HTTP/1.1 403 Forbidden", "HTTP/1.1 403 Forbidden")


@pytest.fixture(scope="module")
def chain() -> Iterator[GatewayChain]:
    with lagging_gateway_chain() as lagging:
        yield lagging


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, chain: GatewayChain) -> World:
    world = build_world(tmp_path_factory.mktemp("consortium"), chain)
    issue_node_certificate(world.root, OrgId(PROVIDER), PASS)  # the server certificate of both
    for name in ("leaked", "kept"):
        issue_identity(world.root, OrgId(GRANTEE), name, PASS)
    return world


@pytest.fixture(scope="module")
def servers(world: World, chain: GatewayChain) -> Iterator[Servers]:
    cert = world.root / "orgs" / PROVIDER / "node" / "tls" / "cert.pem"
    key = world.root / "orgs" / PROVIDER / "node" / "tls" / "key.pem"
    members = NodeMembers(world.root, world.description)
    rpc = RpcServer(chain.backend.node, port=0, ssl_context=members.server_context(cert, key, PASS))
    rpc.access = RpcAccess(members.admit(rpc))
    rpc.start()
    view = trust_view(world.description, chain.backend.url, poll_s=0.02)
    view.start()
    authenticator = notary_authenticator(world.root, world.description, view)
    context = notary_tls(world.root, world.description, cert, key, PASS, True, authenticator=authenticator)
    app = CountingApp()
    notary = ApiServer(app, ssl_context=context, gate=authenticator.handshake_refusal)
    try:
        yield Servers(rpc, notary, app, view)
    finally:
        notary.stop()
        view.stop()
        rpc.stop()


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_a_members_valid_certificate_is_served(world: World, servers: Servers) -> None:
    before = servers.app.requests
    assert answers(servers, world, world.identity(GRANTEE)) == SERVED
    assert servers.app.requests == before + 1


@pytest.mark.parametrize(
    ("name", "reason"), [("expired", "certificate_expired"), ("early", "certificate_not_yet_valid")]
)
def test_an_expired_or_not_yet_valid_certificate_is_refused_at_the_handshake(
    world: World, servers: Servers, name: str, reason: str
) -> None:
    """OpenSSL lets both through (the contexts leave the validity to the verdict); the verdict refuses them as
    the handshake ends, with the reason, whatever the client asks or if it asks nothing."""
    before = servers.app.requests
    identity = world.identity(GRANTEE, name)
    assert answers(servers, world, identity) == REFUSED
    assert unasked(servers, world, identity) == REFUSED
    with httpx.Client(verify=client_context(world, identity), timeout=10) as client:
        rpc = client.post(f"https://127.0.0.1:{servers.rpc.port}", content=RPC_BODY)
        notary = client.post(f"https://127.0.0.1:{servers.notary_port}/v1/batches", content=b"{}")
    assert rpc.status_code == 403 and rpc.json()["error"]["message"].startswith(f"refused: {reason}: ")
    assert notary.status_code == 403 and notary.json()["error"].startswith(f"client certificate refused: {reason}: ")
    assert servers.app.requests == before  # the notary's app saw nothing, the write included


def test_a_certificate_of_a_ca_of_no_member_is_refused(world: World, servers: Servers) -> None:
    before = servers.app.requests
    assert answers(servers, world, world.crafted["stranger"]) == ("", "")  # OpenSSL's alert: unknown ca
    assert servers.app.requests == before


def test_a_certificate_revoked_on_chain_is_refused_from_the_next_read_of_the_directory(
    world: World, chain: GatewayChain, servers: Servers
) -> None:
    """Revoked while the servers run: a new connection is refused at the handshake as soon as each has read the
    block (the node at its next block, the notary at its view's next poll); a connection opened before is
    refused at its next request; a colleague's certificate is still served."""
    leaked, kept = world.identity(GRANTEE, "leaked"), world.identity(GRANTEE, "kept")
    assert answers(servers, world, leaked) == SERVED
    rpc_open = http.client.HTTPSConnection("127.0.0.1", servers.rpc.port, context=client_context(world, leaked))
    notary_open = http.client.HTTPSConnection("127.0.0.1", servers.notary_port, context=client_context(world, leaked))
    try:
        rpc_open.request("POST", "/", RPC_BODY, {"Content-Type": "application/json"})
        served = rpc_open.getresponse()
        assert (served.status, "result" in json.loads(served.read())) == (200, True)
        notary_open.request("GET", "/v1/events")
        served = notary_open.getresponse()
        assert (served.status, served.read()) == (200, b"ok")
        chain.consortium.trust.revoke_serial(chain.signers[GRANTEE], serial_of(leaked.cert))
        wait_for_head(servers.view, chain.head(), timeout=15)  # the block that revoked it, or a later one
        before = servers.app.requests
        assert answers(servers, world, leaked) == REFUSED
        assert unasked(servers, world, leaked) == REFUSED
        assert servers.app.requests == before

        rpc_open.request("POST", "/", RPC_BODY, {"Content-Type": "application/json"})
        refused = rpc_open.getresponse()
        assert refused.status == 403
        assert json.loads(refused.read())["error"]["message"].startswith("refused: certificate_revoked: ")
        notary_open.request("POST", "/v1/batches", b"{}")
        refused = notary_open.getresponse()
        assert refused.status == 403
        assert json.loads(refused.read())["error"].startswith("client certificate refused: certificate_revoked: ")
        assert servers.app.requests == before
    finally:
        rpc_open.close()
        notary_open.close()
    assert answers(servers, world, kept) == SERVED


def test_the_node_reads_a_connections_certificate_once_and_checks_it_at_every_request(
    world: World, servers: Servers
) -> None:
    """The JSON-RPC reads the client certificate at the handshake and hands that same DER to the rule at every
    request of the connection (read again per request, each call would get a new bytes object)."""
    rule = servers.rpc.access
    assert rule is not None
    seen: list[bytes | None] = []

    def admit(der: bytes | None) -> str:
        seen.append(der)
        return rule.admit(der)

    servers.rpc.access = RpcAccess(admit, rule.public)
    connection = http.client.HTTPSConnection(
        "127.0.0.1", servers.rpc.port, context=client_context(world, world.identity(GRANTEE))
    )
    try:
        for _ in range(3):
            connection.request("POST", "/", RPC_BODY, {"Content-Type": "application/json"})
            served = connection.getresponse()
            assert (served.status, "result" in json.loads(served.read())) == (200, True)
    finally:
        connection.close()
        servers.rpc.access = rule
    assert len(seen) == 4 and seen[0] is not None  # the handshake's check, then one per request
    assert all(der is seen[0] for der in seen)


def test_a_suspended_member_is_refused_until_reinstated(world: World, chain: GatewayChain, servers: Servers) -> None:
    block = chain.suspend(OTHER)
    try:
        wait_for_head(servers.view, block, timeout=15)
        assert unasked(servers, world, world.identity(OTHER)) == REFUSED
    finally:
        block = chain.reinstate(OTHER)
    wait_for_head(servers.view, block, timeout=15)
    assert answers(servers, world, world.identity(OTHER)) == SERVED
