"""Links between the nodes of a consortium: QBFT messages, transaction gossip and catch-up sync over HTTP, with
mutual TLS when given the contexts.

Routes of :class:`PeerServer` (each node runs one beside its JSON-RPC):

- ``POST /qbft/v1/message``: one QBFT message, its Besu code in the first byte and its RLP body after it; 202
  once queued for the consensus loop (which decodes and checks it), 503 when the loop's inbox is full;
- ``POST /qbft/v1/transaction``: one raw signed transaction another node accepted; 202, or 400 with the reason
  the node refuses it (already known included). It is not passed on: every node links to every other;
- ``POST /qbft/v1/transactions``: several of them, in order, as an RLP list of raw transactions (at most
  :data:`MAX_PENDING`), each taken as if posted alone; 202 with how many were accepted and refused. A link sends
  the transactions waiting in its queue this way, one request for up to :data:`GOSSIP_BATCH` of them instead of
  one each (a peer that answers 404 to it, a node from before, gets them one by one);
- ``GET /qbft/v1/blocks?from=N``: the sealed blocks from ``N`` to the head, at most :data:`MAX_BLOCKS` and
  :data:`MAX_BLOCKS_BYTES`, as an RLP list of raw blocks; the receiver checks every seal and re-executes;
- ``GET /qbft/v1/status``: this node's account address, head, height, round and whether it validates, as JSON;
- ``GET /qbft/v1/transactions``: this node's pending transactions, each sender's in nonce order, as an RLP list
  of raw transactions, at most :data:`MAX_PENDING` and :data:`MAX_BLOCKS_BYTES`. A node asks it of each peer
  that answers its status for the first time (it started, or restarted): its pool starts empty, and without
  them its turn to propose could come before the peers' own status probes see it back and pass them on;
- ``GET /qbft/v1/equivocations``: the equivocation evidence this node kept (``chain.qbft.evidence``), as JSON: the
  list of records its JSON-RPC's ``qbft_getEquivocations`` answers, in the same encoding, at most
  :data:`MAX_EVIDENCE_BYTES` of it (the records the node keeps always fit: the rest, were there any, is left out
  with a log line). The explorer asks it of the nodes the chain lists (``explorer.service``).

The server's ``ssl.SSLContext`` decides who may connect: ``consortium node`` gives one that requires a client
certificate from the consortium's member CAs. Those CAs also issue their people's and services' certificates,
so the server then admits only node certificates of members that run a node (``chain.node.peerauth``, given
as ``certificates``), except at ``GET /qbft/v1/equivocations``, which any certificate of a current member's CA
may read (``NodeCertificates.admit_member``). A connection whose certificate neither rule admits (one of no
member's CA, of a removed member, revoked on chain) is answered 403 with the reason and closed, with a log line,
once its handshake is done and before any request of it is read; one let in is checked again at each request
by the rule of the moment for that route (it follows the chain) and answered 403 with the reason once refused:
a member's person, admin or service certificate gets 403 at every other route, its request's head read, its
body never. Nothing of a refused client is served or queued. What a peer sends is never trusted for its link:
messages are signed by validator accounts, blocks carry their seals, transactions their signatures. Stopping the
server also closes the connections it holds open, so a stopped node stops answering on them. Its connections are
served by a fixed set of threads (``chain.node.connections``: :data:`WORKERS`), as the JSON-RPC's are: a
connection waiting for its next request holds no thread, one that waits :data:`IDLE_TIMEOUT` seconds is closed,
and while a request is served (its TLS handshake first, in a worker once the client's first bytes arrived) each
read may take :data:`REQUEST_TIMEOUT` seconds, and the whole request 10 s
(``chain.node.connections.REQUEST_DEADLINE``, plus 1 s per MiB of its body: 408 with ``{"error": ...}``, as the
routes refuse, and closed after).

:class:`PeerLinks` sends to every peer from one thread per peer, through a bounded queue (a peer that is down
costs its queue, never the consensus loop's time); :meth:`PeerLinks.fetch_blocks` asks the peers in turn. One
more thread per peer asks its status every :data:`STATUS_INTERVAL_S`: whether the peer answers (a link is
``connected`` while the last status or message exchange with it succeeded, so an idle network still knows who
is up), the address it names and its head (``on_status``: a peer ahead of this node). :meth:`PeerLinks.fetch_blocks`
runs in the consensus loop, so it skips a peer whose last exchange failed (``down``) rather than wait out the
timeout of one that hangs (a frozen process, a network that drops packets) at every sync; the peer's status
prober finds out when it answers again.

The links hold each peer's server certificate to the node rule of the server's own (a node presents one
certificate as client and as server; the member rule of the evidence route is never theirs): once a connection's
handshake is done, and again on a kept connection before its next request whenever the rule is another,
``NodeCertificates.admit`` decides it. A peer it refuses (its org removed by
governance on chain, its serial revoked) stays linked, a URL given with ``--peer`` included, but is sent nothing,
no message, proposal or transaction (``PeerLinks.refused`` counts them), and its status, blocks and transactions
are not taken: it counts as down. Its prober connects again each status interval, so a certificate re-issued since
is seen; the senders open no connection for it until then.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import queue
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypedDict
from urllib.parse import parse_qs, urlsplit

import rlp

from chain.errors import BackendError, MalformedError
from chain.node import trace
from chain.node.connections import ConnectionPool, PooledHandler, PooledServer, declared_length
from chain.node.node import Node, TransactionRefusedError
from chain.node.peerauth import Decision, NodeCertificates
from chain.qbft.evidence import KEPT_JSON_BYTES, Equivocation
from chain.tlsfiles import ReloadingContext

log = logging.getLogger("consortium.node.peers")

MESSAGE_PATH = "/qbft/v1/message"
TRANSACTION_PATH = "/qbft/v1/transaction"
BLOCKS_PATH = "/qbft/v1/blocks"
STATUS_PATH = "/qbft/v1/status"
TRANSACTIONS_PATH = "/qbft/v1/transactions"
EQUIVOCATIONS_PATH = "/qbft/v1/equivocations"
#: Largest message body (a proposal carries a block, a round change its prepared block).
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Most blocks, and bytes of blocks, in one answer to ``GET /qbft/v1/blocks``.
MAX_BLOCKS = 256
MAX_BLOCKS_BYTES = 16 * 1024 * 1024
#: Most pending transactions in one answer to ``GET /qbft/v1/transactions``, and in one ``POST`` to it.
MAX_PENDING = 4_096
#: Most bytes of JSON in one answer to ``GET /qbft/v1/equivocations``: the records a node keeps, all of them.
MAX_EVIDENCE_BYTES = KEPT_JSON_BYTES
#: Most transactions a link sends in one ``POST /qbft/v1/transactions``.
GOSSIP_BATCH = 512
#: Messages queued per peer before new ones are dropped.
QUEUE = 2_000
#: Seconds between two status requests to a peer.
STATUS_INTERVAL_S = 1.0
#: After a status not answered or a failed ``on_connect`` the status is asked again this soon, then twice as late
#: each time (up to the status interval), and ``on_connect`` run at its answer.
CONTACT_RETRY_S = 0.25
#: Largest status answer read.
MAX_STATUS_BYTES = 64 * 1024
#: Threads serving the peer server's connections.
WORKERS = 16
#: Seconds an idle keep-alive connection to the peer server is kept open.
IDLE_TIMEOUT = 60.0
#: Seconds each read of a request (and the TLS handshake) may take once the client started sending.
REQUEST_TIMEOUT = 10.0


class PeerStatusJSON(TypedDict):
    """What ``GET /qbft/v1/status`` answers a peer (``chain.node.consensus``): the node's account, head, height and
    round, and its counters. A peer takes the address and the head from it, each only when well formed."""

    address: str
    head: int
    hash: str
    height: int
    round: int | None
    validator: bool
    decided: int
    proposed: int
    round_changes: int
    synced: int
    peers: int
    peers_connected: int


@dataclass(frozen=True, slots=True)
class Handlers:
    """What the server does with what it receives (the node's consensus loop and mempool)."""

    message: Callable[[int, bytes], bool]
    transaction: Callable[[bytes], None]
    status: Callable[[], Mapping[str, object]]  # the node's: a PeerStatusJSON
    #: The equivocation evidence the consensus loop kept (none by default).
    equivocations: Callable[[], Sequence[Equivocation]] = tuple


class PeerServer:
    def __init__(
        self,
        node: Node,
        handlers: Handlers,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        certificates: NodeCertificates | None = None,
        workers: int = WORKERS,
    ) -> None:
        """``certificates``: the rule of which client certificates may use the routes (with ``ssl_context``);
        without it every certificate the context accepts may. ``workers`` threads serve the connections."""
        self.node, self.handlers, self.workers = node, handlers, workers
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.certificates = certificates
        #: Connections refused at the handshake and requests refused for their client certificate.
        self.refused = 0
        #: Requests read (on any route, served or refused).
        self.requests = 0
        self._http: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    def start(self) -> None:
        if self.ssl_context is not None and self.certificates is None:
            log.warning("the peer server admits every certificate its TLS context accepts, not only nodes'")
        pool = ConnectionPool(self.workers, IDLE_TIMEOUT, "peers")
        self._http = _Server((self.host, self.port), _Handler, pool, self.ssl_context)
        self._http.peer = self
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, name="peers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._http is None:
            return
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http = None

    def blocks_from(self, first: int) -> bytes:
        """The RLP list of sealed blocks from ``first`` on, bounded."""
        out: list[bytes] = []
        size = 0
        head = int(self.node.head().block_number)
        for number in range(max(first, 1), min(head, first + MAX_BLOCKS - 1) + 1):
            block = self.node.block_by_number(number)
            if block is None:
                break
            raw = bytes(rlp.encode(block))
            if out and size + len(raw) > MAX_BLOCKS_BYTES:
                break
            out.append(raw)
            size += len(raw)
        return bytes(rlp.encode(out))

    def evidence(self) -> bytes:
        """The JSON list of the equivocation records this node kept, as ``qbft_getEquivocations`` writes each, in
        order while within :data:`MAX_EVIDENCE_BYTES`."""
        out: list[bytes] = []
        size = 2
        records = list(self.handlers.equivocations())
        for record in records:
            item = json.dumps(record.to_json()).encode()
            if size + len(item) + 1 > MAX_EVIDENCE_BYTES:
                log.warning("%d equivocation records over %d bytes left out of the answer", len(records) - len(out),
                            MAX_EVIDENCE_BYTES)  # fmt: skip
                break
            out.append(item)
            size += len(item) + 1
        return b"[" + b",".join(out) + b"]"

    def pending(self) -> bytes:
        """The RLP list of this node's pending raw transactions, each sender's in nonce order, bounded."""
        out: list[bytes] = []
        size = 0
        for raw in self.node.pending_raw()[:MAX_PENDING]:
            if size + len(raw) > MAX_BLOCKS_BYTES:
                break
            out.append(raw)
            size += len(raw)
        return bytes(rlp.encode(out))


class _Server(PooledServer):
    request_queue_size = 64
    peer: PeerServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError):
            log.info("peer connection from %s dropped: %s", client_address, exc)
        else:
            log.error("peer connection from %s failed", client_address, exc_info=exc)


class _Handler(PooledHandler):
    server_version = "consortium-ledger-peer"
    timeout = REQUEST_TIMEOUT
    server: _Server

    #: The verdicts on a TLS connection's client certificate by the node rule (every route but the evidence one)
    #: and by the member rule (the evidence route): the rule can change while a connection is open (a node that
    #: follows the chain's endpoints), so each request asks the route's again (``peerauth.Decision``).
    decision: Decision | None = None
    member_decision: Decision | None = None

    def opened(self) -> bool:
        if not isinstance(self.request, ssl.SSLSocket):
            return True
        der = self.request.getpeercert(binary_form=True)
        self.decision = Decision(der)
        self.member_decision = Decision(der, NodeCertificates.admit_member)
        # let in when the least demanding route's rule admits it: the member rule of the evidence route, which
        # admits every certificate the node rule does (each route's own rule is asked at its requests)
        refusal = self._refusal(evidence=True)
        if refusal is None:
            return True
        # Refused once the handshake is done: answered 403 at once, no request of it read, nothing served or
        # queued; what it sent meanwhile is dropped unparsed, the connection waiting without a thread
        # (``PooledHandler.linger``).
        self.server.peer.refused += 1
        log.warning("peer connection from %s refused at the handshake: %s", self.client_address[0], refusal)
        self.close_connection = True
        self.request_version, self.requestline = "HTTP/1.1", ""  # what send_response uses, before any request
        self._error(403, f"refused: {refusal}")
        self.linger()
        return False

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, reason: str) -> None:
        self._send(status, json.dumps({"error": reason}).encode())

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a request not received within its deadline: 408, a bad request
        line, headers too long, an unknown method) in the routes' form, ``{"error": reason}``, with a status line
        even for a request too broken to have a version."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the standard library's default before a version is parsed
            self.request_version = self.protocol_version
        body = json.dumps({"error": message or HTTPStatus(code).phrase}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes | None:
        """The request's body; None once it is refused (411: chunked, or no Content-Length of digits; 413: over
        :data:`MAX_BODY_BYTES`) and the connection is to close, its body unread."""
        declared = declared_length(self.headers.get("Content-Length"))
        if self.headers.get("Transfer-Encoding") is not None:
            self._error(411, "chunked bodies are not accepted: send Content-Length")
        elif declared is None:
            self._error(411, "Content-Length required")
        elif declared > MAX_BODY_BYTES:
            self._error(413, f"body of {declared} bytes over {MAX_BODY_BYTES} bytes")
        else:
            return self.rfile.read(declared)
        self.close_connection = True
        return None

    def _refusal(self, evidence: bool = False) -> str | None:
        """Why the connection's client certificate may not use the route by the server's rule now (the member rule
        for the evidence route, the node rule for every other); None if it may (or the connection is not TLS)."""
        decision = self.member_decision if evidence else self.decision
        return None if decision is None else decision.decide(self.server.peer.certificates)

    def _refused(self, evidence: bool = False) -> bool:
        """Answer 403 and close if the connection's certificate may not use the route (by the rule now: the member
        rule for the evidence route, the node rule for every other)."""
        self.server.peer.requests += 1
        refusal = self._refusal(evidence)
        if refusal is None:
            return False
        self.server.peer.refused += 1
        log.warning("peer request %s %s from %s refused: %s", self.command, urlsplit(self.path).path,
                    self.client_address[0], refusal)  # fmt: skip
        self.close_connection = True  # a POST's body is left unread
        self._error(403, f"refused: {refusal}")
        return True

    def do_POST(self) -> None:
        if self._refused():
            return None
        peer = self.server.peer
        path = urlsplit(self.path).path
        if path not in (MESSAGE_PATH, TRANSACTION_PATH, TRANSACTIONS_PATH):
            self.close_connection = True  # the body is left unread
            return self._error(404, "no such route")
        body = self._body()
        if body is None:
            return None
        if path == MESSAGE_PATH:
            if not body:
                return self._error(400, "empty message")
            if not peer.handlers.message(body[0], body[1:]):
                return self._error(503, "consensus inbox full")
            return self._send(202)
        if path == TRANSACTIONS_PATH:
            return self._transactions(body)
        try:
            peer.handlers.transaction(body)
        except (TransactionRefusedError, MalformedError) as exc:
            return self._error(400, str(exc))
        return self._send(202)

    def _transactions(self, body: bytes) -> None:
        """``POST /qbft/v1/transactions``: each raw transaction of the list, in order, as if posted alone."""
        try:
            items = rlp.decode(body)
        except rlp.DecodingError as exc:
            return self._error(400, f"not an RLP list of transactions: {exc}")
        if not isinstance(items, list) or not all(isinstance(i, bytes) for i in items):
            return self._error(400, "not an RLP list of transactions")
        if len(items) > MAX_PENDING:
            return self._error(413, f"{len(items)} transactions: at most {MAX_PENDING} a request")
        accepted = 0
        for raw in items:
            with contextlib.suppress(TransactionRefusedError, MalformedError):  # known ones included, as alone
                self.server.peer.handlers.transaction(bytes(raw))
                accepted += 1
        trace.event("gossip_in", transactions=len(items), accepted=accepted)
        return self._send(202, json.dumps({"accepted": accepted, "refused": len(items) - accepted}).encode())

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if self._refused(evidence=parts.path == EQUIVOCATIONS_PATH):
            return None
        peer = self.server.peer
        if parts.path == EQUIVOCATIONS_PATH:
            return self._send(200, peer.evidence())
        if parts.path == STATUS_PATH:
            return self._send(200, json.dumps(peer.handlers.status()).encode())
        if parts.path == TRANSACTIONS_PATH:
            return self._send(200, peer.pending(), "application/octet-stream")
        if parts.path != BLOCKS_PATH:
            return self._error(404, "no such route")
        try:
            first = int(parse_qs(parts.query).get("from", [""])[0])
        except ValueError:
            return self._error(400, "from must be a block number")
        if first < 1:
            return self._error(400, "from must be 1 or more")
        return self._send(200, peer.blocks_from(first), "application/octet-stream")


def tls_contexts(
    cert: str, key: str, ca: str, password: bytes | None = None, *, clock: Callable[[], float] = time.monotonic
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The server and client contexts of a node's peer links: its certificate and key (decrypted with
    ``password`` when it is encrypted), and the CA bundle whose certificates it accepts from peers (the
    consortium's member CAs). Both sides require the other's. Both follow the certificate's and the key's files
    (``chain.tlsfiles``, looked at at most once a second of ``clock``): once a CA rotated re-issued the node's
    certificate in place, the next connection the server accepts and the next a link makes present the new one."""
    server = ReloadingContext(ssl.PROTOCOL_TLS_SERVER)  # ssl.create_default_context(Purpose.CLIENT_AUTH)'s
    server.load_verify_locations(cafile=ca)
    server.verify_mode = ssl.CERT_REQUIRED
    server.present(cert, key, password, clock=clock)
    client = ReloadingContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname checked, certificate required, as the default's
    client.load_verify_locations(cafile=ca)
    client.present(cert, key, password, clock=clock)
    return server, client


class PeerUnansweredError(BackendError):
    """A peer did not answer a request (down, too slow, or an HTTP error); asked again later."""


class _Link:
    """One peer's queues and threads: consensus messages and transactions each from a thread and a connection of
    their own (a message never waits behind a batch of transactions), and its status prober."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages = queue.Queue[tuple[str, bytes] | None](QUEUE)
        self.transactions = queue.Queue[tuple[str, bytes] | None](QUEUE)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        #: Whether the prober runs ``on_connect`` at its next answered status: at the start, after any exchange
        #: with the peer failed, and after ``on_connect`` itself failed (a pull of its transactions unanswered).
        self.contact_due = True
        #: Why the peer's server certificate was last refused, and the rule that refused it (both None once a
        #: connection's certificate is admitted): until the rule is another, the senders withhold without connecting
        #: and only the prober connects again (at each status interval: a certificate re-issued meanwhile is seen).
        self.refusal: str | None = None
        self.refused_by: NodeCertificates | None = None

    def end(self) -> None:
        self.stopping.set()
        for q in (self.messages, self.transactions):
            with contextlib.suppress(queue.Full):
                q.put_nowait(None)


class _TlsConnection(http.client.HTTPSConnection):
    """A connection to a peer server over TLS, with the verdict on the certificate it presented."""

    decision: Decision | None = None


class PeerLinks:
    """Outgoing links to the other nodes: broadcast, gossip, fetch, and each peer's status.

    ``on_head`` is called (from a link's thread) with a peer's URL and the head its status named; ``on_connect``
    with a peer's URL when its status answers and an exchange with it had failed since ``on_connect`` last ran
    whole (it is up for the first time, or again): the node sends it what it missed meanwhile
    (``send_transactions``), and asks it for what this node may have missed (``fetch_transactions``); an
    ``on_connect`` that raises is run again at a status asked soon after. :meth:`probed` says whether every
    peer's first status request has ended, ``on_connect`` included: by then this node holds what the peers that
    answered hold.

    Peers can be added and removed while the links run (:meth:`add`, :meth:`remove`: a node that follows the
    members' node endpoints on chain). The per-peer dicts below change their keys only by being replaced whole,
    under a lock, so a reader iterating one never sees it change size.

    ``rule`` gives the rule of the moment of this node's peer server (``chain.node.peerauth``; None: none, as for a
    node without TLS), and the links hold the peers' server certificates to its node rule too
    (``NodeCertificates.admit``, never the evidence route's member rule): a peer whose certificate it refuses (its
    org removed by governance on chain, its serial revoked) stays linked, a URL given with ``--peer`` included, but
    nothing is sent to it (counted in ``refused``) and its status, blocks and transactions are not taken; it counts
    as not connected. Each connection is decided once its handshake is done, and a kept one again before its next
    request whenever the rule is another."""

    def __init__(
        self,
        urls: Sequence[str],
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
        *,
        status_interval: float = STATUS_INTERVAL_S,
        on_head: Callable[[str, int], None] | None = None,
        on_connect: Callable[[str], None] | None = None,
        rule: Callable[[], NodeCertificates | None] | None = None,
    ) -> None:
        self.ssl_context, self.timeout = ssl_context, timeout
        self.status_interval, self.on_head, self.on_connect = status_interval, on_head, on_connect
        self.rule = rule
        self.dropped = 0
        #: What was not sent because the peer's certificate is refused by the rule: messages and transactions (each
        #: one), and status requests not made.
        self.refused = {"messages": 0, "transactions": 0, "status": 0}
        self.failures = 0
        self._stopping = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        self._links: dict[str, _Link] = {}
        #: Whether the last exchange with each peer (its status, or a message to it) succeeded.
        self.connected: dict[str, bool] = {}
        #: Whether the last exchange with each peer failed (False until one did): fetches skip such a peer.
        self.down: dict[str, bool] = {}
        #: The account address each peer's last status named; None until one did.
        self.addresses: dict[str, bytes | None] = {}
        #: The head each peer's last status named; None until one did.
        self.heads: dict[str, int | None] = {}
        #: Whether each peer's first status request has ended (answered, ``on_connect`` run, or failed).
        self.first_probe: dict[str, bool] = {}
        #: Whether each peer takes ``POST /qbft/v1/transactions`` (until it answers 404 to one).
        self._batches: dict[str, bool] = {}
        #: Each sender thread's keep-alive connection to its peer, by (peer URL, "messages" or "transactions").
        self._connections: dict[tuple[str, str], http.client.HTTPConnection | None] = {}
        for url in urls:
            self.add(url)

    @property
    def urls(self) -> list[str]:
        """The peers linked now, in the order they were added."""
        return list(self._links)

    def add(self, url: str) -> bool:
        """Link to one more peer (its threads start at once if the links run); False if it is linked already."""
        with self._lock:
            if url in self._links or self._stopping.is_set():
                return False
            link = _Link(url)
            link.threads = [
                threading.Thread(target=self._sender, args=(link, link.messages, "messages"), name=f"peer {url}",
                                 daemon=True),
                threading.Thread(target=self._sender, args=(link, link.transactions, "transactions"),
                                 name=f"peer transactions {url}", daemon=True),
                threading.Thread(target=self._prober, args=(link,), name=f"peer status {url}", daemon=True),
            ]  # fmt: skip
            self.connected = {**self.connected, url: False}
            self.down = {**self.down, url: False}
            self.addresses = {**self.addresses, url: None}
            self.heads = {**self.heads, url: None}
            self.first_probe = {**self.first_probe, url: False}
            self._batches = {**self._batches, url: True}
            self._links = {**self._links, url: link}
            if self._started:
                for thread in link.threads:
                    thread.start()
        return True

    def remove(self, url: str) -> bool:
        """Stop linking to a peer: what is queued for it is dropped, its threads end by themselves; False if it
        was not linked."""
        with self._lock:
            link = self._links.get(url)
            if link is None:
                return False
            self._links = {u: v for u, v in self._links.items() if u != url}
            for name in ("connected", "down", "addresses", "heads", "first_probe", "_batches"):
                setattr(self, name, {u: v for u, v in getattr(self, name).items() if u != url})
        link.end()
        return True

    def start(self) -> None:
        with self._lock:
            self._started = True
            for link in self._links.values():
                for thread in link.threads:
                    thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            links = list(self._links.values())
        for link in links:
            link.end()
        for link in links:
            for thread in link.threads:
                if thread.is_alive():
                    thread.join(timeout=5)

    def refusal(self, url: str) -> str | None:
        """Why the rule refuses the server certificate of the peer at ``url`` (last seen); None if it does not."""
        link = self._links.get(url)
        return None if link is None else link.refusal

    def probed(self) -> bool:
        """Whether every peer's first status request has ended (see the class's docstring)."""
        return all(self.first_probe.values())

    def connected_addresses(self) -> list[bytes | None]:
        """The addresses of the peers connected now (None for one whose status named none yet)."""
        connected, addresses = self.connected, self.addresses
        return [addresses.get(url) for url, up in connected.items() if up]

    def broadcast(self, code: int, body: bytes) -> None:
        self._enqueue([link.messages for link in self._links.values()], MESSAGE_PATH, bytes([code]) + body)

    def gossip(self, raw_transaction: bytes) -> None:
        self._enqueue([link.transactions for link in self._links.values()], TRANSACTION_PATH, raw_transaction)

    def send_transactions(self, url: str, raw_transactions: Sequence[bytes]) -> None:
        """Pass ``raw_transactions`` on to one peer, in order (a peer just connected: what it missed)."""
        link = self._links.get(url)
        if link is None:  # removed meanwhile
            return
        q = link.transactions
        for raw in raw_transactions:
            try:
                q.put_nowait((TRANSACTION_PATH, raw))
            except queue.Full:
                self.dropped += 1

    def _enqueue(self, queues: list[queue.Queue[tuple[str, bytes] | None]], path: str, body: bytes) -> None:
        for q in queues:
            try:
                q.put_nowait((path, body))
            except queue.Full:
                self.dropped += 1

    def _connection(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 443
        if parts.scheme == "https":
            return _TlsConnection(host, port, timeout=self.timeout, context=self.ssl_context)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _rule(self) -> NodeCertificates | None:
        return None if self.rule is None else self.rule()

    def _withholds(self, peer: _Link) -> bool:
        """Whether the rule that refused the peer's certificate last is still the rule: nothing is sent to it, and
        no connection opened for it, until the prober sees its certificate admitted."""
        rule = peer.refused_by
        return rule is not None and rule is self._rule()

    def _refuses(self, peer: _Link, connection: http.client.HTTPConnection) -> bool:
        """Whether the rule now refuses the certificate the peer's server presented on ``connection`` (connected
        here if it is not yet: OSError if that fails), decided again only when the rule is another. A refused
        peer counts as not connected; the refusal is logged when it starts and ends."""
        rule = self._rule()
        if rule is None or not isinstance(connection, _TlsConnection):
            return False
        if connection.sock is None:
            connection.connect()
        if connection.decision is None:
            sock = connection.sock
            der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
            connection.decision = Decision(der)
        refusal = connection.decision.decide(rule)
        before = peer.refusal
        peer.refusal, peer.refused_by = refusal, None if refusal is None else rule
        if refusal is None:
            if before is not None:
                log.info("peer %s's certificate is admitted again: it is sent to", peer.url)
            return False
        if refusal != before:
            log.warning("peer %s is sent nothing, its status and blocks not taken: %s", peer.url, refusal)
        self._answered(peer.url, False)
        return True

    def _sender(self, peer: _Link, q: queue.Queue[tuple[str, bytes] | None], kind: str) -> None:
        """Send the queue's items to the peer in order; transactions waiting one after another go together
        (``POST /qbft/v1/transactions``, up to :data:`GOSSIP_BATCH`)."""
        url = peer.url
        link = (url, kind)
        self._connections[link] = None
        backlog: list[tuple[str, bytes] | None] = []
        while True:
            item = backlog.pop() if backlog else q.get()
            if item is None or peer.stopping.is_set():
                break
            path, body = item
            if path != TRANSACTION_PATH:
                started = time.monotonic()
                self._post(peer, link, path, body)
                if trace.enabled:
                    trace.event("post", peer=url, code=body[0], size=len(body), queued=q.qsize(),
                                post_s=round(time.monotonic() - started, 4))  # fmt: skip
                continue
            raws = [body]
            while len(raws) < GOSSIP_BATCH:
                try:
                    more = q.get_nowait()
                except queue.Empty:
                    break
                if more is None or more[0] != TRANSACTION_PATH:
                    backlog.append(more)  # a message or the end: after these transactions
                    break
                raws.append(more[1])
            if trace.enabled:
                trace.event("gossip_out", peer=url, transactions=len(raws), queued=q.qsize())
            if len(raws) > 1 and self._batches.get(url, False):
                status = self._post(peer, link, TRANSACTIONS_PATH, bytes(rlp.encode(raws)), len(raws))
                if status != 404:
                    continue
                with self._lock:  # a node from before the route: one by one from now on
                    if url in self._batches:
                        self._batches[url] = False
                stale = self._connections[link]
                if stale is not None:  # that node answered without reading the body: the connection is spent
                    stale.close()
                    self._connections[link] = None
            for raw in raws:
                self._post(peer, link, TRANSACTION_PATH, raw)
        connection = self._connections.pop(link, None)
        if connection is not None:
            connection.close()

    def _post(self, peer: _Link, link: tuple[str, str], path: str, body: bytes, items: int = 1) -> int | None:
        """POST ``body`` (``items`` messages or transactions) to the peer on the link's connection (one retry on a
        fresh one: a peer may have closed an idle one); the answer's status, None if there was none. Withheld, not
        sent, when the rule refuses the peer's certificate (the connection is closed: a certificate re-issued
        since is seen on the next)."""
        url = link[0]
        if self._withholds(peer):
            self.refused[link[1]] += items
            return None
        for _ in range(2):
            connection = self._connections.get(link)
            try:
                connection = connection or self._connection(url)
                self._connections[link] = connection
                if self._refuses(peer, connection):
                    connection.close()
                    self._connections[link] = None
                    self.refused[link[1]] += items
                    return None
                connection.request("POST", path, body, {"Content-Type": "application/octet-stream"})
                answer = connection.getresponse()
                answer.read()
                if answer.will_close:
                    connection.close()
                    self._connections[link] = None
                self._answered(url, True)
                return int(answer.status)
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                self._connections[link] = None
                self._answered(url, False)
        self.failures += 1
        return None

    def _prober(self, peer: _Link) -> None:
        """Ask the peer's status now and every ``status_interval`` until the links stop or the peer is removed;
        at an answer that follows a failed exchange (or the first), run ``on_connect``. A status not answered, or
        an ``on_connect`` that failed, is tried again sooner: :data:`CONTACT_RETRY_S`, doubling up to the status
        interval, back to it once a contact is complete (a peer down or slow for a moment is not left a whole
        interval, which a node may set long)."""
        url = peer.url
        connection: http.client.HTTPConnection | None = None
        retry = CONTACT_RETRY_S
        while not (self._stopping.is_set() or peer.stopping.is_set()):
            wait = self.status_interval
            status: Mapping[str, object] | None = None
            try:
                connection = connection or self._connection(url)
                if self._refuses(peer, connection):  # not asked: nothing of it is taken, on_connect not run
                    connection.close()
                    connection = None
                    self.refused["status"] += 1
                else:
                    connection.request("GET", STATUS_PATH)
                    answer = connection.getresponse()
                    body = answer.read(MAX_STATUS_BYTES)
                    if answer.status != 200:
                        raise http.client.HTTPException(f"status answered {answer.status}")
                    status = json.loads(body)
                    if not isinstance(status, dict):
                        raise ValueError("the status is not a JSON object")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if connection is not None:
                    connection.close()
                connection = None
                if self.connected.get(url):
                    log.info("peer %s does not answer its status: %s", url, exc)
                self._answered(url, False)
                wait, retry = min(retry, self.status_interval), min(retry * 2, self.status_interval)
            if status is not None:
                self._answered(url, True)
                self._learn(url, status)
                if peer.contact_due and self.on_connect is not None:
                    peer.contact_due = False
                    try:
                        self.on_connect(url)
                    except Exception as exc:  # the prober must go on whatever the callback does
                        peer.contact_due = True
                        wait, retry = min(retry, self.status_interval), min(retry * 2, self.status_interval)
                        if isinstance(exc, PeerUnansweredError):
                            log.info("peer %s's contact not completed, again in %.2f s: %s", url, wait, exc)
                        else:
                            log.exception("handling peer %s's connection failed", url)
                    else:
                        retry = CONTACT_RETRY_S
            with self._lock:
                if url in self.first_probe:
                    self.first_probe[url] = True
            peer.stopping.wait(wait)
        if connection is not None:
            connection.close()

    def _answered(self, url: str, ok: bool) -> None:
        with self._lock:  # a peer removed meanwhile is not put back
            if url in self.connected:
                self.connected[url], self.down[url] = ok, not ok
            link = self._links.get(url)
            if link is not None and not ok:
                link.contact_due = True  # what it missed is passed on, and taken, at its next answered status

    def _learn(self, url: str, status: Mapping[str, object]) -> None:
        address, head = status.get("address"), status.get("head")
        known = None
        if isinstance(address, str) and len(address) == 42 and address[:2] == "0x":
            with contextlib.suppress(ValueError):
                known = bytes.fromhex(address[2:])
        with self._lock:
            if url not in self.addresses:
                return
            self.addresses[url] = known
        if isinstance(head, int) and not isinstance(head, bool) and head >= 0:
            with self._lock:
                if url in self.heads:
                    self.heads[url] = head
            if self.on_head is not None:
                self.on_head(url, head)

    def fetch_transactions(self, url: str) -> list[bytes]:
        """The pending raw transactions of one peer. Raises :class:`PeerUnansweredError` if it does not answer them
        (no answer, or a server error: its prober runs ``on_connect`` again soon); a peer that refuses the request
        or answers something other than a list of byte strings answers nothing."""
        peer = self._links.get(url)
        if peer is None or self._withholds(peer):
            return []
        connection = self._connection(url)
        try:
            if self._refuses(peer, connection):
                return []
            connection.request("GET", TRANSACTIONS_PATH)
            answer = connection.getresponse()
            body = answer.read(MAX_BLOCKS_BYTES + 1024 * 1024)
            if answer.status >= 500:
                raise PeerUnansweredError(f"its pending transactions answered {answer.status}")
            if answer.status != 200:
                return []  # refused (a node that does not serve them): asking again would be refused again
            items = rlp.decode(body)
        except (OSError, http.client.HTTPException) as exc:
            raise PeerUnansweredError(f"fetching its pending transactions failed: {exc}") from exc
        except rlp.DecodingError as exc:
            log.info("peer %s's pending transactions are not RLP: %s", url, exc)
            return []
        finally:
            connection.close()
        if not isinstance(items, list) or not all(isinstance(i, bytes) for i in items):
            return []
        return [bytes(i) for i in items[:MAX_PENDING]]

    def fetch_blocks(self, first: int) -> list[bytes]:
        """Sealed blocks from ``first`` on, from the first peer that has any; [] if none does. A peer whose last
        exchange failed is not asked (see the module's docstring)."""
        for url, peer in self._links.items():
            if self.down.get(url, True) or self._withholds(peer):
                continue
            connection = self._connection(url)
            try:
                if self._refuses(peer, connection):
                    continue
                connection.request("GET", f"{BLOCKS_PATH}?from={first}")
                answer = connection.getresponse()
                body = answer.read(MAX_BLOCKS_BYTES + 1024 * 1024)
                self._answered(url, True)
                if answer.status != 200:
                    continue
                items = rlp.decode(body)
                if isinstance(items, list) and items and all(isinstance(i, bytes) for i in items):
                    return [bytes(i) for i in items]
            except (OSError, http.client.HTTPException) as exc:
                self._answered(url, False)
                log.info("fetching blocks from %s failed: %s", url, exc)
            except rlp.DecodingError as exc:
                log.info("fetching blocks from %s failed: %s", url, exc)
            finally:
                connection.close()
        return []
