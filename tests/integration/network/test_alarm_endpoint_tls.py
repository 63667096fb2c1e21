"""The alarm endpoint beyond loopback (``up --alarms-host``) through real TLS handshakes on loopback: the server
context and client check of ``network.alarms.server.endpoint_tls`` (the operator's ``alarms`` certificate issued
by its CA, a client certificate of a member CA required, the operator's org only, the token on top), read by the
explorer's client (``explorer.alarmsource.EndpointAlarms``) as ``python -m explorer --alarms-url https://...``
reads it. And the port check of ``consortium up`` (``network.portplan``) against a port a socket really holds.

The consortium (``tests/support/member_pki.py``) has members acme, globex and initech; acme plays the operator.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chain.ids import OrgId
from contracts import CONTRACT_NAMES
from explorer.alarmsource import EndpointAlarms
from network.alarms.book import Alarm
from network.alarms.server import TLS_SERVICE, WORKERS, AlarmEndpointError, AlarmServer, endpoint_tls
from network.alarms.store import state_of
from network.certificates import ca_bundle_pem
from network.identity import OrgPaths, issue_service_certificate
from network.portplan import PortTakenError, bind_free, check_free, up_plan
from tests.support.member_pki import PASS, World, build_world

TOKEN = "t0ken-of-api.token"
QUORUM = Alarm("witness-quorum:witnesses", "witness-quorum", "critical", "witnesses", None, "1 of 3 up", 10.0)
STATE = state_of(100.0, [QUORUM], [])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    # around the real now: OpenSSL checks the certificates' validity in the handshakes at the machine's time
    now = datetime.now(UTC).replace(microsecond=0)
    return build_world(tmp_path_factory.mktemp("consortium"), tmp_path_factory.mktemp("outside"), now)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[AlarmServer]:
    context, check = endpoint_tls(world.root, world.description, PASS, "acme", "127.0.0.1")
    endpoint = AlarmServer(TOKEN, 0, lambda: STATE, host="127.0.0.1", tls=context, client_check=check)
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.close()


def client(world: World, org: str | None, user: str = "", root: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_bundle_pem(world.description))
    if org is not None:
        context.load_cert_chain(world.cert(org, user, root), world.key(org, user, root), password=PASS)
    return context


def read(server: AlarmServer, context: ssl.SSLContext, token: str = TOKEN) -> tuple[str, str | None]:
    source = EndpointAlarms(server.url, token, clock=lambda: 101.0, tls=context)
    try:
        view = source.read()
    finally:
        source.close()
    return view.status, view.error


def test_the_operators_certificate_and_the_token_read_the_alarms(world: World, server: AlarmServer) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    cert = OrgPaths.of(world.root, OrgId("acme")).service_tls(TLS_SERVICE)[0]
    assert cert.is_file()  # issued by acme's CA at the first start
    source = EndpointAlarms(server.url, TOKEN, clock=lambda: 101.0, tls=client(world, "acme", "alice"))
    try:
        view = source.read()
    finally:
        source.close()
    assert view.status == "live" and view.active == (QUORUM,) and view.error is None


def test_another_members_certificate_is_refused_with_the_reason(world: World, server: AlarmServer) -> None:
    status, error = read(server, client(world, "globex", "bob"))
    assert status == "unreachable" and "403" in (error or "") and "globex may not read them" in (error or "")


def test_the_token_is_still_asked_of_the_operators_certificate(world: World, server: AlarmServer) -> None:
    status, error = read(server, client(world, "acme", "alice"), token="guessed")
    assert status == "unreachable" and "401" in (error or "")


def test_no_certificate_or_one_of_another_ca_fails_the_handshake(world: World, server: AlarmServer) -> None:
    for context in (client(world, None), client(world, "umbrella", "zed", world.outside)):
        status, error = read(server, context)
        said = (error or "").replace(server.url, "URL")  # the port may hold the digits 401 or 403
        assert status == "unreachable" and "401" not in said and "403" not in said, error
    # an expired certificate of the operator passes the handshake and is refused by the check, with the reason
    status, error = read(server, client(world, "acme", "old"))
    assert status == "unreachable" and "403" in (error or "") and "client certificate refused" in (error or "")


def test_connections_that_send_nothing_hold_no_thread(world: World, server: AlarmServer) -> None:
    """Ten clients connect and send nothing (not even a TLS ClientHello): no thread is started for them, a client
    is served meanwhile, and the endpoint's threads are its accepting one, the pool's watcher and its workers."""
    before = set(threading.enumerate())
    silent = [socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) for _ in range(10)]
    try:
        assert read(server, client(world, "acme", "alice")) == ("live", None)  # accepted after the ten
        assert [t.name for t in set(threading.enumerate()) - before] == []
        assert sorted(t.name for t in threading.enumerate() if t.name.startswith("alarm-endpoint")) == [
            "alarm-endpoint",
            *(f"alarm-endpoint-{i}" for i in range(WORKERS)),
            "alarm-endpoint-watcher",
        ]
    finally:
        for sock in silent:
            sock.close()


def test_a_wildcard_address_needs_a_certificate_issued_for_its_names(world: World, tmp_path: Path) -> None:
    with pytest.raises(AlarmEndpointError, match="identity server-cert --org globex --service alarms --san NAME"):
        endpoint_tls(world.root, world.description, PASS, "globex", "0.0.0.0")
    issue_service_certificate(world.root, OrgId("globex"), TLS_SERVICE, PASS, hostnames=["ops.example"], ips=[])
    with pytest.raises(AlarmEndpointError, match=re.escape("does not name 127.0.0.1")):
        endpoint_tls(world.root, world.description, PASS, "globex", "0.0.0.0")
    with pytest.raises(AlarmEndpointError, match=re.escape("does not name 10.0.0.5")):
        endpoint_tls(world.root, world.description, PASS, "globex", "10.0.0.5")
    endpoint_tls(world.root, world.description, PASS, "globex", "ops.example")  # named: taken


def test_a_port_a_socket_listens_on_stops_the_plan_and_a_freed_one_does_not() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    # the port held is the alarm endpoint's of `up --port PORT-3`
    plan = up_plan(port - 3, nodes=[("chain node", port - 3, None)], witnesses=[], members=0, explorer_port=port + 1)
    try:
        assert not bind_free("127.0.0.1", port) and not bind_free("0.0.0.0", port)
        with pytest.raises(PortTakenError, match=f"port {port} on 127.0.0.1, planned for the alarm endpoint"):
            check_free([p for p in plan if p.port == port], bind_free)
    finally:
        holder.close()
    assert bind_free("127.0.0.1", port)
    check_free([p for p in plan if p.port == port], bind_free)


def test_the_explorers_options_make_the_client_that_reads_it(world: World, server: AlarmServer) -> None:
    """``python -m explorer --alarms-url https://… --alarms-cert F --alarms-key F [--alarms-ca F]``: the context
    its options make reads the endpoint; a CA bundle that is not the endpoint's fails the handshake."""
    from explorer.__main__ import _alarms_tls

    # the consortium.json the explorer reads its member CAs from (contract addresses: any, none is called)
    contracts = {name: f"0x{i + 1:040x}" for i, name in enumerate(CONTRACT_NAMES)}
    dataclasses.replace(world.description, contracts=contracts).write(world.root)
    cert, key = world.cert("acme", "carol"), world.key("acme", "carol")
    context = _alarms_tls(world.root, server.url, cert, key, None, PASS)
    assert context is not None and read(server, context) == ("live", None)
    other_ca = OrgPaths.of(world.outside, OrgId("umbrella")).ca_cert
    foreign = _alarms_tls(world.root, server.url, cert, key, other_ca, PASS)
    assert foreign is not None
    status, error = read(server, foreign)
    assert status == "unreachable" and "CERTIFICATE_VERIFY_FAILED" in (error or ""), error
    assert _alarms_tls(world.root, "http://127.0.0.1:9/v1/alarms", None, None, None, PASS) is None


def test_a_certificate_and_key_given_are_served_instead_of_the_operators_alarms_one(world: World) -> None:
    """``tls_cert``/``tls_key`` of ``DIR/up.toml``: served as given (its key encrypted with the passphrase, or a
    plain copy), the operator's ``alarms`` certificate neither issued nor read; one that does not name the host is
    refused with the line ``up`` prints."""
    from cryptography.hazmat.primitives import serialization

    cert, key = issue_service_certificate(world.root, OrgId("initech"), "alarms-ext", PASS, ips=["127.0.0.1"])
    plain = key.with_name("plain-key.pem")
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=PASS)
    plain.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for given_key in (key, plain):
        context, check = endpoint_tls(world.root, world.description, PASS, "initech", "127.0.0.1", (cert, given_key))
        endpoint = AlarmServer(TOKEN, 0, lambda: STATE, host="127.0.0.1", tls=context, client_check=check)
        endpoint.start()
        try:
            assert read(endpoint, client(world, "initech", "erin")) == ("live", None)
            status, error = read(endpoint, client(world, "acme", "alice"))
            assert status == "unreachable" and "a certificate of acme may not read them" in (error or ""), error
        finally:
            endpoint.close()
    assert not OrgPaths.of(world.root, OrgId("initech")).service_tls(TLS_SERVICE)[0].exists()
    with pytest.raises(AlarmEndpointError, match=re.escape(f"certificate {cert} does not name 10.0.0.5")):
        endpoint_tls(world.root, world.description, PASS, "initech", "10.0.0.5", (cert, key))
