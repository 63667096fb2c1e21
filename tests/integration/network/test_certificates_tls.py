"""Tests of network.certificates through real TLS handshakes on loopback with the gateway's server context: a
threaded ``ssl`` server socket, and an aiohttp server called by httpx and curl. Nothing of ours is mocked.

The consortium (``tests/support/member_pki.py``) has members acme, globex and initech. Outside it: umbrella (a CA
nobody listed) and a second "acme" created elsewhere, whose CA has the very subject of the real acme's CA but another
key (a forger).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from chain.ids import OrgId
from network.certificates import AuthError, CallerAuthenticator, ca_bundle_pem
from network.identity import OrgPaths
from tests.support.member_pki import PASS, World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    # around the real now: OpenSSL checks the certificates' validity in the handshakes at the machine's time
    now = datetime.now(UTC).replace(microsecond=0)
    return build_world(tmp_path_factory.mktemp("consortium"), tmp_path_factory.mktemp("outside"), now)


class TlsServer:
    """A loopback TLS server with the gateway's context; per connection it records what the app saw."""

    def __init__(self, ctx: ssl.SSLContext, auth: CallerAuthenticator) -> None:
        self.ctx, self.auth = ctx, auth
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.outcomes: queue.Queue[tuple[str, object]] = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(10)
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                conn.close()
                self.outcomes.put(("handshake_failed", exc))
                continue
            with tls:
                der = tls.getpeercert(binary_form=True)
                try:
                    answer = f"200 {self.auth.authenticate(der).org}"
                except AuthError as exc:
                    answer = f"401 {exc.reason}"
                self.outcomes.put(("app", (der, answer)))
                with contextlib.suppress(OSError):
                    tls.sendall(answer.encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the server thread
        self.sock.close()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture(scope="module")
def tls_server(world: World) -> Iterator[TlsServer]:
    paths = OrgPaths.of(world.root, OrgId("acme"))
    auth = world.auth(clock=lambda: datetime.now(UTC))
    server = TlsServer(auth.server_ssl_context(paths.gateway_tls_cert, paths.gateway_tls_key, PASS), auth)
    yield server
    server.close()


def client_context(world: World, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca_bundle_pem(world.description))
    if cert is not None:
        ctx.load_cert_chain(cert, key, password=PASS)
    return ctx


def call(server: TlsServer, ctx: ssl.SSLContext, hostname: str = "localhost") -> str:
    """Connect, read the app's one-line answer; a TLS failure on our side raises."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        data = b""
        while not data.endswith(b"\n"):
            chunk = tls.recv(256)
            if not chunk:
                break
            data += chunk
        return data.decode().strip()


def outcome(server: TlsServer) -> tuple[str, object]:
    return server.outcomes.get(timeout=10)


def app_saw(server: TlsServer) -> tuple[bytes | None, str]:
    """The peer certificate the app got after a completed handshake, and its answer."""
    kind, seen = outcome(server)
    assert kind == "app", seen
    assert isinstance(seen, tuple)
    der, answer = seen
    assert der is None or isinstance(der, bytes)
    return der, str(answer)


def handshake_failure(server: TlsServer) -> str:
    """What the server's TLS layer said when the handshake failed (the app never ran)."""
    kind, exc = outcome(server)
    assert kind == "handshake_failed", exc
    assert isinstance(exc, ssl.SSLError)
    return str(exc)


def test_tls_valid_client_certificate_reaches_the_app_with_its_der(world: World, tls_server: TlsServer) -> None:
    ctx = client_context(world, world.cert("acme", "alice"), world.key("acme", "alice"))
    assert call(tls_server, ctx) == "200 acme"
    der, answer = app_saw(tls_server)
    assert answer == "200 acme"
    assert der == world.der("acme", "alice")
    assert call(tls_server, client_context(world, world.cert("globex", "bob"), world.key("globex", "bob"))) == (
        "200 globex"
    )
    outcome(tls_server)


def test_tls_without_certificate_reaches_the_app_with_none(world: World, tls_server: TlsServer) -> None:
    assert call(tls_server, client_context(world)) == "401 no_certificate"
    der, _ = app_saw(tls_server)
    assert der is None


@pytest.mark.parametrize(("name", "reason"), [("old", "certificate_expired"), ("early", "certificate_not_yet_valid")])
def test_tls_certificate_outside_its_validity_completes_the_handshake(
    world: World, tls_server: TlsServer, name: str, reason: str
) -> None:
    ctx = client_context(world, world.cert("acme", name), world.key("acme", name))
    assert call(tls_server, ctx) == f"401 {reason}"
    der, _ = app_saw(tls_server)
    assert der == world.der("acme", name)


@pytest.mark.parametrize(("org", "name"), [("umbrella", "zed"), ("acme", "mallory")])
def test_tls_certificate_of_an_unknown_ca_fails_the_handshake(
    world: World, tls_server: TlsServer, org: str, name: str
) -> None:
    ctx = client_context(world, world.cert(org, name, world.outside), world.key(org, name, world.outside))
    try:
        answer = call(tls_server, ctx)
    except (ssl.SSLError, ConnectionError):
        answer = ""
    assert answer == ""  # TLS 1.3: the client learns of the alert on its first read
    assert "CERTIFICATE_VERIFY_FAILED" in handshake_failure(tls_server)


def test_tls_certificate_not_for_client_auth_fails_the_handshake(world: World, tls_server: TlsServer) -> None:
    paths = OrgPaths.of(world.root, OrgId("acme"))
    for cert, key in [(paths.gateway_tls_cert, paths.gateway_tls_key), (paths.ca_cert, paths.ca_key)]:
        try:
            answer = call(tls_server, client_context(world, cert, key))
        except (ssl.SSLError, ConnectionError):
            answer = ""
        assert answer == ""
        assert "unsuitable certificate purpose" in handshake_failure(tls_server)


def test_tls_server_certificate_names(world: World, tls_server: TlsServer) -> None:
    ctx = client_context(world, world.cert("acme", "alice"), world.key("acme", "alice"))
    assert call(tls_server, ctx, hostname="127.0.0.1") == "200 acme"  # the IP SAN
    outcome(tls_server)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        call(tls_server, ctx, hostname="gateway.example")
    outcome(tls_server)  # the server sees the client give up
    untrusting = ssl.create_default_context(cadata=OrgPaths.of(world.root, OrgId("globex")).ca_cert.read_text())
    with pytest.raises(ssl.SSLCertVerificationError):
        call(tls_server, untrusting)  # a client that trusts only globex's CA does not trust acme's gateway
    outcome(tls_server)


def test_aiohttp_server_with_httpx_and_curl(world: World) -> None:
    """The stack the gateway uses: aiohttp serving with this context; httpx and curl as callers."""
    paths = OrgPaths.of(world.root, OrgId("acme"))
    auth = world.auth(clock=lambda: datetime.now(UTC))
    seen: list[bytes | None] = []

    async def handler(request: web.Request) -> web.Response:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        seen.append(der)
        try:
            caller = auth.authenticate(der)
        except AuthError as exc:
            return web.json_response({"reason": exc.reason, "detail": exc.detail}, status=401)
        return web.json_response({"org": caller.org, "identity": caller.identity})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        ctx = auth.server_ssl_context(paths.gateway_tls_cert, paths.gateway_tls_key, PASS)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        port = runner.addresses[0][1]
        url = f"https://localhost:{port}/"
        try:
            alice = client_context(world, world.cert("acme", "alice"), world.key("acme", "alice"))
            async with httpx.AsyncClient(verify=alice) as client:
                r = await client.get(url)
                assert r.status_code == 200 and r.json() == {
                    "org": "acme",
                    "identity": hashlib.sha256(world.der("acme", "alice")).hexdigest(),
                }
            async with httpx.AsyncClient(verify=client_context(world)) as client:
                r = await client.get(url)
                assert r.status_code == 401 and r.json()["reason"] == "no_certificate"
            curl = shutil.which("curl")
            if curl is None:
                return
            bundle = world.root / "ca-bundle.pem"
            bundle.write_text(ca_bundle_pem(world.description))
            old_cert, old_key = world.cert("acme", "old"), world.key("acme", "old")
            proc = await asyncio.create_subprocess_exec(
                curl,
                "-sS",
                "--cacert",
                str(bundle),
                "--cert",
                str(old_cert),
                "--key",
                str(old_key),
                "--pass",
                PASS.decode(),
                "-w",
                "\n%{http_code}",
                url,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err
            body, status = out.decode().rsplit("\n", 1)
            assert status == "401" and '"reason": "certificate_expired"' in body
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    assert seen[0] == world.der("acme", "alice") and seen[1] is None
