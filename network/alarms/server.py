"""The evaluator's live alarms over HTTP: ``GET /v1/alarms``, served by ``consortium up`` on PORT+3.

The answer is the alarms document (``network.alarms.store``): every alarm in force and the recently resolved
ones, with ``evaluated_ms``, when the evaluator last finished a round (null before its first). It is the whole
list: the one client is the operator's explorer, which holds the token and shows each person only the alarms
that person may see (``explorer.access.sees_alarm``, docs/alarms.md), as it filters everything else it reads.

Who may ask. By default the server binds to 127.0.0.1 only, and every request must carry ``Authorization: Bearer
<token>``, the token of ``DIR/alarms/api.token`` (256 random bits, readable by the owner only, made by ``up`` at
its first start), as the notary's operations figures ask for the monitor token (``notary/monitor.token``). A
process of another account on the machine reaches the port but not the file; a request without the token gets
401 and learns nothing, not even whether an alarm is active. ``GET /healthz`` answers ``{"ok": true}`` to anyone
who reaches the port.

Beyond loopback (``up --alarms-host``, for an explorer on another machine) it is HTTPS only, over mutual TLS
(:func:`endpoint_tls`): the operator's ``alarms`` service certificate, a client certificate of a member CA
required in the handshake (as the notary's ``--require-client-cert``), checked at each request as the gateways
check callers (validity, the org's CRL) and required to be the operator's (403 otherwise), and the token on top
(401 without). A stolen token alone is worth nothing off the machine; a member's certificate alone neither.
Plain HTTP beyond loopback is refused (:class:`AlarmEndpointError`).

:func:`answer` is the whole protocol (method, path, Authorization and the client certificate's verdict in; status
and JSON body out), testable without sockets; :class:`AlarmServer` is the standard library's HTTP server around it
on a small pool of threads (``chain.node.connections``: :data:`WORKERS` workers, a watcher, and the accepting
thread, threads of ``up``), as the node's servers are: a connection that sends nothing holds no thread and is closed
after :data:`IDLE_TIMEOUT` seconds, the TLS handshake runs in a worker once the client's first bytes arrived, and a
request must arrive within 10 s of its first byte (408 otherwise). What it serves is whatever the source it is given
returns at the time of each request: :data:`NEVER` until ``up`` attaches the evaluator (:meth:`AlarmServer.attach`),
which ``up`` does once its children are up.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import ssl
import sys
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.ids import OrgId
from chain.node.connections import REQUEST_TIMEOUT, ConnectionPool, PooledHandler, PooledServer
from network.alarms.store import ALARMS_DIR, NEVER, AlarmState
from network.errors import NetworkError
from network.logsetup import secret_token

if TYPE_CHECKING:
    from chain.trustview import TrustView
    from network.certificates import CallerAuthenticator
    from network.description import ConsortiumDescription

log = logging.getLogger("network.alarms")

PATH = "/v1/alarms"
HEALTH_PATH = "/healthz"
TOKEN_FILE = "api.token"
HOST = "127.0.0.1"
#: ``consortium up --port PORT`` serves the endpoint on PORT + this (PORT+1 is the notary, PORT+2 the demo
#: services, PORT+6… the witnesses).
PORT_OFFSET = 3
#: Threads serving the endpoint's connections (its one client is the operator's explorer).
WORKERS = 4
#: Seconds a connection may wait for its request before it is closed.
IDLE_TIMEOUT = 60.0


def token_path(directory: Path) -> Path:
    return directory / ALARMS_DIR / TOKEN_FILE


def api_token(directory: Path, create: bool = False) -> str | None:
    """The endpoint's token of the consortium in ``directory`` (None if there is none); with ``create``, made
    (256 random bits, readable by the owner only) when missing."""
    return secret_token(token_path(directory), create)


#: The service whose TLS certificate the endpoint serves beyond loopback: ``orgs/<operator>/alarms/tls/``.
TLS_SERVICE = "alarms"


class AlarmEndpointError(NetworkError):
    """The alarm endpoint cannot be served as asked (beyond loopback without TLS, no certificate for the address
    it is reached at); the message is the one line ``up`` prints."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): what only this machine reaches."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether listening on ``host`` listens on every address of the machine (``0.0.0.0``, ``::``)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def endpoint_url_at(host: str, port: int, tls: bool) -> str:
    """The URL a client reaches the endpoint listening on ``host:port`` at (a wildcard address is reached on
    loopback; an IPv6 address in brackets)."""
    if is_wildcard(host):  # "::" listens on IPv4 too (dual stack): 127.0.0.1, which the certificate must name
        host = HOST
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}{PATH}"


def endpoint_url(port: int, host: str = HOST) -> str:
    """The URL of the endpoint of ``consortium up --port PORT [--alarms-host HOST]``: HTTPS beyond loopback."""
    return endpoint_url_at(host, port + PORT_OFFSET, not is_loopback(host))


def endpoint_tls(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    operator: str,
    host: str,
    given: tuple[Path, Path] | None = None,
) -> tuple[ssl.SSLContext, ClientCheck]:
    """The endpoint's mutual TLS beyond loopback: the server context (the operator's ``alarms`` service certificate,
    ``orgs/<operator>/alarms/tls/``; a client certificate of a member CA required in the handshake) and the check
    of the client's certificate at each request: the gateways' checks (a member CA issued it, clientAuth, its
    validity, its org's CRL), and its org the operator's, whose whole alarm list this is.

    The certificate is issued by the operator's CA when missing, for ``localhost``, ``127.0.0.1`` and ``host``;
    for a wildcard ``host`` (``0.0.0.0``) the names explorers reach the machine by are not known here, so it
    must be issued first (``consortium identity server-cert --service alarms --san NAME``): else, and when the
    certificate there does not name ``host``, :class:`AlarmEndpointError`. ``given`` (``tls_cert`` and ``tls_key``
    of ``DIR/up.toml``) is another certificate and key to serve, never issued here, which must name ``host`` as
    well; its key encrypted with the passphrase or not encrypted."""

    from network.certificates import CallerAuthenticator
    from network.identity import OrgPaths, issue_service_certificate

    org = OrgId(operator)
    cert, key = given or OrgPaths.of(directory, org).service_tls(TLS_SERVICE)
    if given is None and not (cert.is_file() and key.is_file()):
        if is_wildcard(host):
            raise AlarmEndpointError(
                f"--alarms-host {host}: no certificate in {cert.parent} for the names explorers reach this machine "
                f"by; issue it first: consortium --dir {directory} identity server-cert --org {operator} "
                f"--service {TLS_SERVICE} --san NAME --san 127.0.0.1"
            )
        names, ips = ["localhost"], ["127.0.0.1"]
        listed = ips if _is_ip(host) else names
        if host not in listed:
            listed.append(host)
        issue_service_certificate(directory, org, TLS_SERVICE, passphrase, hostnames=names, ips=ips)
    else:
        reached = HOST if is_wildcard(host) else host
        named = _names_of(cert)
        if reached not in named and given is not None:
            raise AlarmEndpointError(
                f"the alarm endpoint's certificate {cert} does not name {reached} "
                f"(it names {', '.join(sorted(named)) or 'nothing readable'}); give one that does"
            )
        if reached not in named:
            raise AlarmEndpointError(
                f"the alarm endpoint's certificate {cert} does not name {reached} "
                f"(it names {', '.join(sorted(named)) or 'nothing readable'}); "
                f"issue it again with --san {reached}: consortium --dir {directory} identity server-cert --org "
                f"{operator} --service {TLS_SERVICE} --san {reached} ..."
            )
    key_password = passphrase
    if given is not None:
        try:
            encrypted = b"ENCRYPTED" in key.read_bytes()
        except OSError as exc:
            raise AlarmEndpointError(f"the alarm endpoint's key {key}: {exc.strerror or exc}") from None
        key_password = passphrase if encrypted else b""
    members = frozenset(m.org for m in description.members)
    authenticator = CallerAuthenticator(description, directory, lambda o: "active" if o in members else None)
    context = authenticator.server_ssl_context(cert, key, key_password)
    context.verify_mode = ssl.CERT_REQUIRED

    return context, ClientCheck(authenticator, operator)


class ClientCheck:
    """The endpoint's verdict on a client certificate (PEM) at each request: None, or why it is refused. Its member
    CAs are ``consortium.json``'s until :meth:`follow` hands it a view of the TrustDirectory, whose CAs it then takes
    (a CA rotated, ``identity rotate-ca``: the operator's explorer presents the re-issued certificate, admitted during
    the overlap and after, the old one until the retirement), as the gateways do."""

    def __init__(self, authenticator: CallerAuthenticator, operator: str) -> None:
        self.authenticator = authenticator
        self.operator = operator

    def follow(self, trust: TrustView) -> None:
        self.authenticator.follow(trust)

    def __call__(self, pem: str) -> str | None:
        from network.certificates import AuthError

        try:
            caller = self.authenticator.authenticate_pem(pem)
        except AuthError as exc:
            return f"client certificate refused: {exc.reason}: {exc.detail}"
        if caller.org != self.operator:
            return f"the alarms are the operator's ({self.operator}); a certificate of {caller.org} may not read them"
        return None


def _names_of(cert: Path) -> set[str]:
    """The host names and IP addresses a server certificate names (none if it cannot be read as one)."""
    from cryptography import x509

    try:
        found = x509.load_pem_x509_certificate(cert.read_bytes()).extensions
        san = found.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return set()
    return {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def answer(
    state: Callable[[], AlarmState],
    token: str,
    method: str,
    path: str,
    authorization: str | None,
    client_refused: str | None = None,
) -> tuple[int, Mapping[str, object]]:
    """The status and JSON body of a request: 404 for another path, 405 for another method, 403 when the
    endpoint is served over mutual TLS and the client certificate is refused (``client_refused`` says why), 401
    without the token (checked in constant time), else 200 and the document of ``state()``."""
    route = path.split("?", 1)[0]
    if route not in (PATH, HEALTH_PATH):
        return 404, {"error": "not_found", "detail": f"no {route}: the alarms are at {PATH}"}
    if method != "GET":
        return 405, {"error": "method_not_allowed", "detail": f"{route} answers GET only"}
    if route == HEALTH_PATH:
        return 200, {"ok": True}
    if client_refused is not None:
        return 403, {"error": "forbidden", "detail": client_refused}
    expected = f"Bearer {token}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode("latin-1", "replace"), expected):
        return 401, {"error": "unauthenticated", "detail": f"give Authorization: Bearer <the token of {ALARMS_DIR}/"
                     f"{TOKEN_FILE}>"}  # fmt: skip
    return 200, state().to_json()


class AlarmServer(PooledServer):
    """The endpoint on ``host:port`` (port 0: a free port), serving from a thread of its own and :data:`WORKERS`
    workers; plain HTTP on loopback, or with ``tls`` (:func:`endpoint_tls`) HTTPS to client certificates that
    ``client_check`` (given the certificate's PEM, it answers None or why it is refused) lets through."""

    def __init__(
        self,
        token: str,
        port: int = 0,
        source: Callable[[], AlarmState] | None = None,
        *,
        host: str = HOST,
        tls: ssl.SSLContext | None = None,
        client_check: Callable[[str], str | None] | None = None,
        workers: int = WORKERS,
    ) -> None:
        if tls is None and not is_loopback(host):
            raise AlarmEndpointError(f"the alarm endpoint listens beyond loopback ({host}) over mutual TLS only")
        self.token = token
        self.host = host
        self.tls = tls
        self.client_check = client_check
        self._source: Callable[[], AlarmState] = source or (lambda: NEVER)
        super().__init__((host, port), _Handler, ConnectionPool(workers, IDLE_TIMEOUT, "alarm-endpoint"), tls)
        self._thread = threading.Thread(target=self.serve_forever, name="alarm-endpoint", daemon=True)

    @property
    def url(self) -> str:
        # the host as given, a name included: the name the server certificate names, not the address it resolved to
        return endpoint_url_at(self.host, int(self.server_address[1]), self.tls is not None)

    def attach(self, source: Callable[[], AlarmState]) -> None:
        """Serve what ``source`` returns from now on (``up`` gives the evaluator's ``state``)."""
        self._source = source

    def state(self) -> AlarmState:
        return self._source()

    def start(self) -> None:
        self._thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed TLS handshake (no certificate, one of another CA) ends the connection, unanswered, and is
        logged; clients that hang up are routine; anything else is logged, never printed to stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLError):
            log.info("alarm endpoint: TLS handshake with %s failed: %s", client_address[0], exc)
        elif isinstance(exc, ConnectionError | TimeoutError):
            log.debug("alarm endpoint: connection from %s dropped: %s", client_address[0], exc)
        else:
            log.error("alarm endpoint: connection from %s failed", client_address[0], exc_info=exc)

    def close(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join(10)
        self.server_close()


class _Handler(PooledHandler):
    server: AlarmServer
    #: One request per connection (HTTP/1.0): a loopback connect every few seconds costs nothing, and no
    #: kept-alive connection waits in the pool for a next request.
    protocol_version = "HTTP/1.0"
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        self._reply("GET")

    def do_POST(self) -> None:
        self._reply("POST")

    def do_PUT(self) -> None:
        self._reply("PUT")

    def do_DELETE(self) -> None:
        self._reply("DELETE")

    def _reply(self, method: str) -> None:
        try:
            refused = self._client_refused()
            status, body = answer(
                self.server.state, self.server.token, method, self.path, self.headers.get("Authorization"), refused
            )
        except Exception:  # a source that fails answers 500, and the server goes on
            log.exception("alarm endpoint failed")
            status, body = 500, {"error": "internal", "detail": "the alarms could not be read; see up's log"}
        self._write(status, body)

    def _write(self, status: int, body: Mapping[str, object], close: bool = False) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a request not received within its deadline: 408, a bad request
        line, headers too long, an unknown method) in the endpoint's form, ``{"error": <the status's name>,
        "detail": ...}``, with a status line even for a request too broken to have a version."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the standard library's default before a version is parsed
            self.request_version = self.protocol_version
        status = HTTPStatus(code)
        self._write(status, {"error": status.name.lower(), "detail": message or status.phrase}, close=True)

    def _client_refused(self) -> str | None:
        """Over mutual TLS, why the client's certificate may not read the alarms (None: it may)."""
        if self.server.tls is None or self.server.client_check is None:
            return None
        der = self.connection.getpeercert(binary_form=True) if isinstance(self.connection, ssl.SSLSocket) else None
        if der is None:
            return "a client certificate is required"
        return self.server.client_check(ssl.DER_cert_to_PEM_cert(der))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("alarm endpoint: " + format, *args)
