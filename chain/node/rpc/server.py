"""The node's JSON-RPC server: ``RpcServer.handle`` (bytes in, bytes out, testable without sockets) and the HTTP
layer that frames its bodies.

The HTTP layer (the standard library's ``HTTPServer`` and request handler, keep-alive, one write per response)
only frames bodies, refuses oversized ones before reading them, and serves ``GET /health`` and ``GET /metrics``.
Its connections are served by a fixed set of threads (``chain.node.connections``: ``WORKERS`` by default), not
a thread each: a connection waiting for its next request holds no thread, and one that waits ``IDLE_TIMEOUT``
seconds is closed; while a request is served each read may take ``REQUEST_TIMEOUT`` seconds, and the whole request
10 s from the moment its connection is handed to the workers' queue (``chain.node.connections.REQUEST_DEADLINE``,
plus 1 s per MiB of its body; else 408, closed after). Every refusal of the HTTP layer (411 without a usable
``Content-Length`` or for a chunked body, 413, 405, 404 for ``/metrics`` of a node without metrics, 408, and the
standard library's) is one JSON-RPC error object, -32600 with a null id (-32603 for a 500), as for a refused
client. A body is taken whatever its ``Content-Type``.

``GET /health`` answers ``{"head": N, "mode": ..., "inSync": ..., "inQuorum": ...}`` from the node's status
(``chain.node.health``): 200 for a node sealing alone, or in sync and in quorum; 503 with the same body for a
node of a network that is not, so that load balancers and ``curl -f`` see it.

With an ``ssl_context`` the server speaks HTTPS; with an ``access`` (``chain.node.rpc.access``, which needs TLS)
it answers members only, and anyone else the public subset, ``GET /health``'s status and ``{"ok": ...}``, and
otherwise 401 or 403 with the reason. The TLS handshake runs in a worker once the client's first bytes arrived,
not in the accepting thread.
OpenSSL checks only that a member CA issued the client's certificate; once the handshake is done, a client that
presented a certificate the rule refuses (revoked, expired, not yet valid, of a member removed or suspended) is
disconnected before any request of it is read, whatever it meant to call, public methods and writes alike (a
client without a certificate goes on to the public subset). The rule is applied again to every request, so that
a certificate revoked while its connection is open is refused from its next request.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from chain.errors import ChainError
from chain.node.connections import ConnectionPool, PooledHandler, PooledServer, declared_length
from chain.node.health import NodeStatus
from chain.node.node import Node
from chain.node.rpc.access import RpcAccess, public_methods, refused_body
from chain.node.rpc.envelope import answer_body, dump
from chain.node.rpc.errors import (
    InternalRpcError,
    InvalidRequestError,
    RpcConfigError,
    RpcRefusedError,
    error_object,
)
from chain.node.rpc.methods import Methods
from chain.qbft.evidence import Equivocation

log = logging.getLogger("chain.node.rpc")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
#: Largest request body accepted; larger ones get HTTP 413 before a byte of them is read.
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT = 60.0
#: Seconds each read of a request (and the TLS handshake) may take once the client started sending.
REQUEST_TIMEOUT = 10.0
#: Threads serving the connections.
WORKERS = 16
_JSON = "application/json"
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RpcServer:
    """JSON-RPC 2.0 over HTTP for ``node``; ``handle`` is the transport-free core.

    ``metrics`` renders ``GET /metrics``; ``status`` is the node's report on itself (``consortium_nodeStatus``
    and ``GET /health``), by default that of a node sealing alone. ``ssl_context`` serves HTTPS; ``access``
    (which needs it; it may also be set before :meth:`start`) admits members and the public subset only.
    ``equivocations`` gives the evidence the consensus loop kept (``qbft_getEquivocations``; none by default).
    ``workers`` threads serve the connections."""

    def __init__(
        self,
        node: Node,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        metrics: Callable[[], str] | None = None,
        status: Callable[[], NodeStatus] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        access: RpcAccess | None = None,
        equivocations: Callable[[], Sequence[Equivocation]] | None = None,
        workers: int = WORKERS,
    ) -> None:
        self.node = node
        self.workers = workers
        self.host = host
        self.port = port
        self.metrics = metrics
        self.ssl_context = ssl_context
        self.access = access
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        methods = Methods(node, status, equivocations)
        self.status = methods.status
        self._methods = methods.table()

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self._methods)

    def handle(self, body: bytes) -> bytes | None:
        """Answer a JSON-RPC body (one request or a batch); None when it held only notifications."""
        return answer_body(body, self._methods)

    def read(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        """What the contract at ``to`` returns for ``data`` at ``block`` of this node's chain (``eth_call`` in
        process, through the same cache as the JSON-RPC's): how the rule of ``access`` reads the registry and the
        TrustDirectory."""
        call = self._methods["eth_call"][0]
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex(str(call({"to": to, "data": "0x" + data.hex()}, tag))[2:])

    def head(self) -> int:
        """The number of this node's head block."""
        return int(self.node.head().block_number)

    # -- HTTP -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen and serve in a daemon thread; with port 0 the system picks a free port (see ``url``)."""
        if self._http is not None:
            raise ChainError("the JSON-RPC server is already running")
        if self.access is not None and self.ssl_context is None:
            raise RpcConfigError("admitting members only needs TLS: give the JSON-RPC server a certificate")
        if self.access is not None:
            public_methods(self.access.public, self.methods)
        pool = ConnectionPool(self.workers, IDLE_TIMEOUT, "json-rpc")
        self._http = _HttpServer((self.host, self.port), _Handler, pool, self.ssl_context)
        self._http.rpc = self
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, name="json-rpc", daemon=True)
        self._thread.start()
        log.info("JSON-RPC listening on %s", self.url)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl_context else 'http'}://{host}:{self.port}"

    def stop(self) -> None:
        """Stop listening and close open keep-alive connections."""
        if self._http is None:
            return
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http = None
        self._thread = None

    def health(self) -> tuple[int, bytes]:
        """The HTTP status and body of ``GET /health``."""
        status = self.status()
        return (200 if status.healthy else 503), dump(status.health_json())


class _HttpServer(PooledServer):
    rpc: RpcServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up, and failed TLS handshakes, are routine; anything else is logged, never printed
        to stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLError):
            log.info("TLS handshake with %s failed: %s", client_address, exc)
        elif isinstance(exc, ConnectionError | TimeoutError):
            log.debug("connection from %s dropped: %s", client_address, exc)
        else:
            log.error("JSON-RPC connection from %s failed", client_address, exc_info=exc)


class _Handler(PooledHandler):
    """One connection, served a request at a time by the pool (``chain.node.connections``)."""

    server_version = "consortium-ledger"
    timeout = REQUEST_TIMEOUT
    server: _HttpServer

    #: The client certificate (DER) of a TLS connection, read once, at its handshake (None: plain HTTP, or none
    #: presented); each request checks it against the rule of that moment (:meth:`_refusal`).
    client_der: bytes | None = None

    def _handshake_refusal(self) -> RpcRefusedError | None:
        """Why the certificate the client presented is refused by the rule now (None: none presented, no rule,
        or admitted)."""
        access = self.server.rpc.access
        if access is None or not self.client_der:
            return None
        return access.refusal(self.client_der)

    def opened(self) -> bool:
        """Refuse a client whose certificate the rule refuses now: answered at once, before any request is read,
        with the refusal's status and one JSON-RPC error object, and the connection closed. What the client sent
        meanwhile is discarded unparsed (a close with unread data would reset the connection and lose the
        answer), the connection waiting for it without a thread (``PooledHandler.linger``)."""
        if isinstance(self.request, ssl.SSLSocket):
            self.client_der = self.request.getpeercert(binary_form=True) or None
        refusal = self._handshake_refusal()
        if refusal is None:
            return True
        log.warning("JSON-RPC connection from %s refused at the handshake: %s", self.client_address[0],
                    refusal.reason)  # fmt: skip
        self.command, self.close_connection = "", True
        self._send(refusal.status, refused_body(b"", refusal), _JSON)
        self.linger()
        return False

    def _refusal(self) -> RpcRefusedError | None:
        """Why this request's client is not a member by the rule now, or None when it is (or the server admits
        anyone): the connection's certificate, read at its handshake, checked again at each request, so that one
        revoked while the connection is open is refused from its next request."""
        access = self.server.rpc.access
        if access is None:
            return None
        return access.refusal(self.client_der)

    def _refuse_rpc(self, refusal: RpcRefusedError, body: bytes) -> None:
        log.info("JSON-RPC %s %s from %s refused: %s", self.command, self.path[:100], self.client_address[0],
                 refusal.reason)  # fmt: skip
        self._send(refusal.status, refused_body(body, refusal), _JSON)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str | None = None, allow: str | None = None) -> None:
        """One write per response: status line, headers and body (no Nagle stalls on keep-alive)."""
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Server: {self.server_version}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        if allow is not None:
            lines.append(f"Allow: {allow}")
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def _refuse(self, status: int, message: str, allow: str | None = None) -> None:
        """A refusal of the HTTP layer (no usable Content-Length, a body too large, a method or path it does not
        serve, its own failure) as a JSON-RPC client reads one: ``status``, and one JSON-RPC error object with a
        null id (no request of it was read): -32600, invalid request, with ``message`` (-32603, internal error,
        for a 500)."""
        error = InternalRpcError(message) if status == 500 else InvalidRequestError(message)
        self._send(status, dump({"jsonrpc": "2.0", "id": None, "error": error_object(error)}), _JSON, allow)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a request not received within its deadline: 408, a bad request
        line, headers too long, an unknown method) in the same form (:meth:`_refuse`), the connection closed; a
        status line even for a request too broken to have a version."""
        self.close_connection = True
        self._refuse(code, message or HTTPStatus(code).phrase)

    def _content_length(self) -> int | None:
        """The declared body length; answers (and closes) and returns None when it is unusable or too large."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            self._refuse(411, "chunked bodies are not accepted: send Content-Length")
            return None
        length = declared_length(self.headers.get("Content-Length"))
        if length is None:
            self.close_connection = True
            self._refuse(411, "Content-Length required")
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._refuse(413, f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes")
            return None
        return length

    def handle_expect_100(self) -> bool:
        if self.command == "POST" and self._content_length() is None:
            return False
        return super().handle_expect_100()

    def do_POST(self) -> None:
        length = self._content_length()
        if length is None:
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        refusal = self._refusal()
        access = self.server.rpc.access
        if refusal is not None and access is not None and not access.all_public(body):
            self._refuse_rpc(refusal, body)
            return
        answer = self.server.rpc.handle(body)
        if answer is None:
            self._send(204, b"")
        else:
            self._send(200, answer, _JSON)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        rpc = self.server.rpc
        try:
            refusal = self._refusal()
            if path == "/health" and refusal is not None:
                status, _ = rpc.health()
                self._send(status, dump({"ok": status == 200}), _JSON)  # liveness only, to a non-member
            elif path == "/health":
                self._send(*rpc.health(), _JSON)
            elif path == "/metrics" and refusal is not None:
                self._refuse_rpc(refusal, b"")
            elif path == "/metrics" and rpc.metrics is not None:
                self._send(200, rpc.metrics().encode(), _METRICS_CONTENT_TYPE)
            elif path == "/metrics":
                self._refuse(404, "this node exports no metrics")
            else:
                self._method_not_allowed()
        except Exception:
            log.exception("GET %s failed", path)
            self.close_connection = True
            self._refuse(500, f"GET {path[:100]} failed; see the node's log")

    def _method_not_allowed(self) -> None:
        self.close_connection = True  # a body we did not read may follow
        self._refuse(405, "JSON-RPC takes POST; GET serves /health and /metrics only", allow="POST")

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _method_not_allowed
