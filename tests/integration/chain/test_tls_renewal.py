"""Clients that keep their connections alive present a certificate re-issued in its files (a CA rotated) from the
next request after their context looked at the files, over a real TLS server on loopback that requires a client
certificate: ``chain.tlsclient.tls_client`` (the shipper's, the SDK's, the explorer's notary clients), and the three
connections of a ``RpcBackend`` (its httpx reads, a lean backend's standard-library connection for the head, web3's
requests session). Without the renewal a kept connection goes on presenting the old certificate: what a node serving
members only refuses once the old CA retired."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from chain.backend import ClientTls, RpcBackend
from chain.ids import OrgId
from chain.tlsclient import RenewingTransport, tls_client
from chain.tlsfiles import ReloadingContext
from network._pem import cert_pem, parse_cert
from network.carotation import cross_certificate, new_ca, reissue_folder
from network.identity import (
    OrgPaths,
    create_org_identity,
    issue_identity,
    issue_service_certificate,
    load_private_key,
    user_paths,
)
from tests.support.servers import QuietHandler
from tests.support.wait import wait_until

PASS = b"tls-renewal-passphrase"
ORG = OrgId("alpha")


class _SerialHandler(QuietHandler):
    """Answers every request, on a connection kept alive, with the serial of the client's certificate and the
    client's port (a new port: a new connection), as a JSON-RPC result too (the serial as a hex quantity)."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        assert isinstance(self.connection, ssl.SSLSocket)
        der = self.connection.getpeercert(binary_form=True)
        assert der is not None
        serial = x509.load_der_x509_certificate(der).serial_number
        body = json.dumps(
            {"jsonrpc": "2.0", "id": request.get("id", 1), "result": hex(serial), "port": self.client_address[1]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def org(tmp_path: Path) -> Path:
    create_org_identity(tmp_path, ORG, "Alpha Securities", PASS)
    issue_identity(tmp_path, ORG, "chain", PASS)
    issue_service_certificate(tmp_path, ORG, "gateway", PASS)
    return tmp_path


@dataclass
class Server:
    url: str
    context: ssl.SSLContext


@pytest.fixture
def server(org: Path) -> Iterator[Server]:
    """A TLS server requiring a client certificate of the org's CA (and of its new CA too, once :func:`_rotate`
    made it); its own certificate, loaded once, stays the old CA's."""
    paths = OrgPaths.of(org, ORG)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(paths.gateway_tls_cert, paths.gateway_tls_key, password=PASS)
    context.load_verify_locations(cafile=str(paths.ca_cert))
    context.verify_mode = ssl.CERT_REQUIRED
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SerialHandler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"https://localhost:{httpd.server_address[1]}", context)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _rotate(org: Path, server: Server) -> int:
    """The org's CA rotated (its folder re-issued in place, the client identity too), the server trusting the new CA
    as well; the serial of the client certificate re-issued."""
    paths = OrgPaths.of(org, ORG)
    old = parse_cert(paths.ca_cert.read_bytes())
    old_key = load_private_key(paths.ca_key, PASS)
    assert isinstance(old_key, ec.EllipticCurvePrivateKey)
    now = datetime.now(UTC)
    key, new = new_ca(old, now)
    list(reissue_folder(org, ORG, old, key, new, [cross_certificate(old_key, old, new, now)], now))
    server.context.load_verify_locations(cadata=cert_pem(new))
    return x509.load_pem_x509_certificates(user_paths(org, ORG, "chain").cert.read_bytes())[0].serial_number


def _serial(org: Path) -> int:
    return x509.load_pem_x509_certificates(user_paths(org, ORG, "chain").cert.read_bytes())[0].serial_number


def _ca(org: Path) -> str:
    return OrgPaths.of(org, ORG).ca_cert.read_text()


def test_a_client_keeping_its_connection_presents_the_reissued_certificate_after_its_next_look(
    org: Path, server: Server
) -> None:
    identity = user_paths(org, ORG, "chain")
    seconds = [0.0]
    context = ReloadingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=_ca(org))
    context.present(identity.cert, identity.key, PASS, interval=1.0, clock=lambda: seconds[0])
    before = _serial(org)
    with tls_client(context, timeout=10) as renewing, httpx.Client(verify=context, timeout=10) as kept:
        assert isinstance(renewing._transport, RenewingTransport)
        first, second = renewing.get(server.url).json(), renewing.get(server.url).json()
        assert int(first["result"], 16) == before and second["port"] == first["port"]  # one connection kept
        old_kept = kept.get(server.url).json()
        after = _rotate(org, server)
        assert after != before
        seconds[0] = 0.5  # looked at less than a second ago: the same connection, the certificate of before
        same = renewing.get(server.url).json()
        assert (int(same["result"], 16), same["port"]) == (before, first["port"])
        seconds[0] = 1.0
        renewed = renewing.get(server.url).json()
        assert int(renewed["result"], 16) == after and renewed["port"] != first["port"]
        assert renewing._transport.renewals == 1
        again = renewing.get(server.url).json()
        assert (int(again["result"], 16), again["port"]) == (after, renewed["port"])  # the new one kept
        # a client of the same context without the renewal keeps its connection and the certificate of before
        still = kept.get(server.url).json()
        assert (int(still["result"], 16), still["port"]) == (before, old_kept["port"])


def test_every_connection_of_a_chain_backend_presents_the_reissued_certificate(org: Path, server: Server) -> None:
    """The httpx reads, a lean backend's kept connection for the head and web3's session: each made and kept before
    the rotation, each presenting the re-issued certificate once the context looked at its files again (a real
    second: ``ClientTls`` follows them on the monotonic clock)."""
    identity = user_paths(org, ORG, "chain")
    tls = ClientTls(identity.cert, identity.key, None, _ca(org), PASS)
    backend = RpcBackend(server.url, 10.0, lean=True, chain_id=1, tls=tls)
    before = _serial(org)
    reads: dict[str, Callable[[], int]] = {
        "reads": lambda: int(backend.request("eth_blockNumber", []), 16),
        "head": backend.head_number,
        "web3": lambda: int(backend.web3.eth.block_number),
    }
    assert {name: read() for name, read in reads.items()} == dict.fromkeys(reads, before)
    after = _rotate(org, server)
    for name, read in reads.items():

        def presents(read: Callable[[], int] = read) -> bool:
            return read() == after

        wait_until(presents, f"the backend's {name} to present the re-issued certificate", 10)
    backend.close()
