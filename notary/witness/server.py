"""The witness service: C2SP tlog-witness ``POST /add-checkpoint`` over HTTP, answering with a C2SP
tlog-cosignature of each checkpoint that is consistent with the last one the witness cosigned for its log.

``Witness.add_checkpoint`` is the whole protocol, body bytes in and cosignature lines out, testable without
sockets; it raises one error per refusal and ``_refusal`` alone turns them into HTTP statuses:

====  ========================================================================================================
400   malformed body, or old size larger than the checkpoint's size
403   no signature by a trusted key of the log (none known, or a known key's signature is bad)
404   unknown origin: not configured, or not registered in the state (never initialised, or wiped)
409   old size is not the size last cosigned; the body is that size (``text/x.tlog.size``)
411   no Content-Length (chunked bodies are not accepted)
413   body over the limit, refused before a byte of it is read
422   not consistent with the last cosigned checkpoint; the log-signed note is kept as evidence, with an alarm
====  ========================================================================================================

One case departs from the letter of the spec, which answers 409 when old size = checkpoint size = stored size
but the roots differ. A 409 says "your old size is stale, retry from this one", and here it is not stale: the
log signed two different trees of one size, a split view, which is what an (empty) consistency proof between
equal sizes fails to verify. So it is a 422, with the evidence kept and the alarm raised, and a client that
retries on 409 does not loop. A checkpoint of the stored size and root is cosigned again (with a new time).

Checks and the state update of one origin run under that origin's lock, inside one SQLite transaction that
commits before the reply is written, so of two concurrent submissions from one old size only one can win and
the other gets 409 with the new size (the race the spec warns about). Cosignature timestamps never decrease,
across origins and restarts: each is ``max(last issued, now)``, even when the clock steps back.

A witness has one key, and its type is the suite (``notary.logsuite``) of the logs it witnesses: with an Ed25519
key it cosigns ``intl`` logs (C2SP tlog-cosignature), with an SM2 key ``sm`` logs (the profile of
``docs/national-suite.md``), checking their consistency proofs with that suite's tree hash. A log configured with
keys of the other suite is refused when the witness starts.

The HTTP layer (the standard library's HTTP server and request handler, keep-alive) frames bodies and serves
``GET /healthz`` (JSON: origin → size last cosigned) and ``GET /metrics`` (Prometheus text format); other paths
get 404, other methods 405. With ``WitnessConfig.access`` (``consortium witness serve --authenticate-reads``, as
``consortium up`` starts it) those figures follow the notary's rule (``notary.readauth``): they go to members'
services and people and to the monitor token; ``/healthz`` without credentials answers ``{"ok": true}`` (enough
for a liveness probe) and ``/metrics`` 401. The sizes a witness cosigned are the log's checkpoints' sizes, which
an outsider does not read from the notary either.

Its connections are served by a fixed set of threads (``chain.node.connections``: ``WORKERS`` by default), as the
node's JSON-RPC server's are: a connection waiting for its next request holds no thread, one that waits
``IDLE_TIMEOUT`` seconds is closed, and while a request is served each read may take ``REQUEST_TIMEOUT`` seconds
and the whole request 10 s (``chain.node.connections.REQUEST_DEADLINE``, plus 1 s per MiB of its body: 408 and
closed after).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from chain.node.connections import ConnectionPool, PooledHandler, PooledServer, declared_length
from notary.log.checkpoint import Checkpoint, parse_checkpoint
from notary.log.errors import MalformedError, NotaryError, SignatureError, UnknownKeyError, VerificationError
from notary.log.note import open_note, parse_note
from notary.log.proof import verify_consistency
from notary.log.witnessing import MAX_BODY_SIZE, format_cosignature_lines, format_size_body, parse_add_checkpoint
from notary.logsuite import LogVerifier, PrivateKey, suite_of_key
from notary.readauth import ReadAccess, UnauthenticatedError
from notary.witness.state import (
    MAX_TREE_SIZE,
    Conflict,
    ConflictKind,
    LogState,
    Transaction,
    UnknownOriginError,
    WitnessState,
    WitnessStateError,
)

log = logging.getLogger("notary.witness")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7380
#: Largest request body accepted (the largest a valid add-checkpoint body can be); larger ones get 413 unread.
MAX_BODY_BYTES = MAX_BODY_SIZE
#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT = 60.0
#: Seconds each read of a request may take once the client started sending.
REQUEST_TIMEOUT = 10.0
#: Threads serving the connections.
WORKERS = 8

SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
_JSON = "application/json"
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# -- errors ---------------------------------------------------------------------------------------------------


class SizeConflictError(VerificationError):
    """The request's old size is not the size the witness last cosigned (the client must retry from it)."""

    def __init__(self, origin: str, old_size: int, stored_size: int) -> None:
        super().__init__(f"old size {old_size} is not the size {stored_size} last cosigned for {origin}")
        self.origin = origin
        self.old_size = old_size
        self.stored_size = stored_size


class InconsistentCheckpointError(VerificationError):
    """A log-signed checkpoint that is not consistent with the one last cosigned; ``conflict`` is the evidence
    kept (None when the checkpoint is the cosigned one and only the request's proof was wrong)."""

    def __init__(self, message: str, conflict: Conflict | None) -> None:
        super().__init__(message)
        self.conflict = conflict


# -- configuration --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessConfig:
    """One witness: its key name and key, its state file, and the logs it witnesses (origin → trusted keys, of
    the suite of ``private_key``: Ed25519 for ``intl``, SM2 for ``sm``).

    ``clock`` gives POSIX seconds for cosignature timestamps (tests step it); ``max_body_bytes`` caps requests;
    ``access``: who may read the figures of ``/healthz`` and ``/metrics`` (``None``: anyone).
    """

    name: str
    private_key: PrivateKey
    state_path: Path
    logs: Mapping[str, Sequence[LogVerifier]]
    clock: Callable[[], float] = time.time
    max_body_bytes: int = MAX_BODY_BYTES
    access: ReadAccess | None = None
    #: origin → the log's keys valid now, as the chain says (a log whose key rotates, ``notary.logkeys``), or None
    #: until it has been read: ``logs`` then. None: ``logs`` always.
    follow_logs: Callable[[str], Sequence[LogVerifier] | None] | None = None


# -- the protocol ---------------------------------------------------------------------------------------------


class Metrics:
    """Counters since start: cosignatures per origin, refusals per HTTP status, conflicts per origin and kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cosignatures: Counter[str] = Counter()
        self.refusals: Counter[int] = Counter()
        self.conflicts: Counter[tuple[str, str]] = Counter()

    def cosigned(self, origin: str) -> None:
        with self._lock:
            self.cosignatures[origin] += 1

    def refused(self, status: int) -> None:
        with self._lock:
            self.refusals[status] += 1

    def conflict(self, origin: str, kind: ConflictKind) -> None:
        with self._lock:
            self.conflicts[(origin, kind.value)] += 1

    def render(self, sizes: Mapping[str, int]) -> str:
        with self._lock:
            cosignatures = sorted(self.cosignatures.items())
            refusals = sorted(self.refusals.items())
            conflicts = sorted(self.conflicts.items())
        lines = [
            "# HELP witness_cosignatures_total Cosignatures issued since start, by log origin.",
            "# TYPE witness_cosignatures_total counter",
            *(f'witness_cosignatures_total{{origin="{_label(o)}"}} {n}' for o, n in cosignatures),
            "# HELP witness_refusals_total add-checkpoint requests refused since start, by HTTP status.",
            "# TYPE witness_refusals_total counter",
            *(f'witness_refusals_total{{status="{s}"}} {n}' for s, n in refusals),
            "# HELP witness_conflicts_total Inconsistent log-signed checkpoints refused since start (split-view "
            "evidence).",
            "# TYPE witness_conflicts_total counter",
            *(f'witness_conflicts_total{{origin="{_label(o)}",kind="{k}"}} {n}' for (o, k), n in conflicts),
            "# HELP witness_tree_size Tree size last cosigned, by log origin.",
            "# TYPE witness_tree_size gauge",
            *(f'witness_tree_size{{origin="{_label(o)}"}} {n}' for o, n in sorted(sizes.items())),
        ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """A Prometheus label value, escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class _Request:
    old_size: int
    proof: list[bytes]
    note: bytes
    text: str
    checkpoint: Checkpoint


class Witness:
    """The add-checkpoint protocol of one witness over its state file."""

    def __init__(self, config: WitnessConfig) -> None:
        self.config = config
        self.suite = suite_of_key(config.private_key)
        self.signer = self.suite.cosignature_signer(config.name, config.private_key)
        for origin, keys in config.logs.items():
            for key in keys:
                if suite_of_key(key) is not self.suite:
                    raise MalformedError(
                        f"log {origin!r} is trusted with a key of suite {suite_of_key(key).name}, but this witness's "
                        f"key is of suite {self.suite.name}: a witness cosigns logs of its own key's suite only"
                    )
        self.state = WitnessState(config.state_path)
        self.metrics = Metrics()
        self._verifiers = {origin: tuple(keys) for origin, keys in config.logs.items() if keys}
        # One lock per configured origin, made up front: no request can grow this map.
        self._locks = {origin: threading.Lock() for origin in self._verifiers}

    def add_checkpoint(self, body: bytes) -> bytes:
        """Cosign the checkpoint of an add-checkpoint request body; the 200 body (cosignature lines).

        Raises MalformedError, UnknownOriginError, UnknownKeyError or SignatureError, SizeConflictError,
        InconsistentCheckpointError; WitnessStateError if the state cannot be read or written. Nothing is
        written unless a cosignature is returned or a conflict is recorded.
        """
        request = self._parse(body)
        origin = request.checkpoint.origin
        conflicts: list[Conflict] = []
        with self._locks[origin], self.state.transaction(origin) as txn:
            outcome = self._decide(txn, request, conflicts)
        # Committed: only now may the answer (or the alarm about the evidence just kept) leave.
        for conflict in conflicts:
            self._alarm(conflict)
        if isinstance(outcome, Exception):
            raise outcome
        self.metrics.cosigned(origin)
        log.info(
            "cosigned %s at size %d",
            origin,
            request.checkpoint.size,
            extra={"fields": {"origin": origin, "size": request.checkpoint.size, "old_size": request.old_size}},
        )
        return outcome

    def _parse(self, body: bytes) -> _Request:
        old_size, proof, note_bytes = parse_add_checkpoint(body)
        checkpoint = parse_checkpoint(parse_note(note_bytes).text)
        verifiers = self._verifiers.get(checkpoint.origin)
        if verifiers is None:
            raise UnknownOriginError(checkpoint.origin, "this witness is not configured for it")
        followed = None if self.config.follow_logs is None else self.config.follow_logs(checkpoint.origin)
        note, _ = open_note(note_bytes, verifiers if followed is None else followed)
        if old_size > checkpoint.size:
            raise MalformedError(f"old size {old_size} is larger than the checkpoint's size {checkpoint.size}")
        if checkpoint.size > MAX_TREE_SIZE:
            raise MalformedError(f"tree size {checkpoint.size} exceeds the largest a witness records, {MAX_TREE_SIZE}")
        return _Request(old_size, list(proof), note_bytes, note.text, checkpoint)

    def _decide(self, txn: Transaction, request: _Request, conflicts: list[Conflict]) -> bytes | Exception:
        """Check ``request`` against the stored state and cosign it, or say why not (returned, not raised, so
        that the evidence recorded commits with the transaction)."""
        cp = request.checkpoint
        stored = txn.log_state(cp.origin)
        if stored.size == 0:  # registered without a checkpoint: the empty tree, whose root is the suite's
            stored = replace(stored, root=self.suite.tree.empty_root)
        same_size = cp.size == stored.size
        if request.old_size != stored.size:
            if same_size and cp.root != stored.root:  # a split view, whatever the old size says
                reason = f"the log signed two roots at size {cp.size}"
                conflicts.append(self._record(txn, stored, ConflictKind.SPLIT_VIEW, request, reason))
            return SizeConflictError(cp.origin, request.old_size, stored.size)
        if same_size and cp.root != stored.root:
            reason = f"the log signed two roots at size {cp.size}"
            conflict = self._record(txn, stored, ConflictKind.SPLIT_VIEW, request, reason)
            conflicts.append(conflict)
            return InconsistentCheckpointError(f"split view: {reason}; evidence kept", conflict)
        try:
            verify_consistency(request.old_size, cp.size, request.proof, stored.root, cp.root, self.suite.tree)
        except VerificationError as exc:
            if same_size:  # the cosigned checkpoint itself, with a proof that should have been empty
                return InconsistentCheckpointError(f"consistency proof does not verify: {exc}", None)
            reason = f"consistency proof from size {stored.size} to {cp.size} does not verify: {exc}"
            conflict = self._record(txn, stored, ConflictKind.BAD_PROOF, request, reason)
            conflicts.append(conflict)
            return InconsistentCheckpointError(f"{reason}; checkpoint kept as evidence", conflict)
        timestamp = max(txn.last_timestamp(), int(self.config.clock()))
        cosignature = self.signer.cosign(request.text, timestamp)
        txn.advance(cp.origin, cp.size, cp.root, request.note, timestamp)
        return format_cosignature_lines([cosignature])

    def _record(
        self, txn: Transaction, stored: LogState, kind: ConflictKind, request: _Request, reason: str
    ) -> Conflict:
        return txn.record_conflict(
            stored, kind, request.old_size, request.checkpoint, request.note, request.proof, reason, self.config.clock()
        )

    def _alarm(self, conflict: Conflict) -> None:
        self.metrics.conflict(conflict.origin, conflict.kind)
        level = logging.ERROR if conflict.seen == 1 else logging.WARNING
        again = "" if conflict.seen == 1 else f" (seen {conflict.seen} times)"
        log.log(
            level,
            "ALARM %s on log %s: refused checkpoint of size %d (root %s) as inconsistent with the cosigned one of "
            "size %d (root %s); evidence kept as conflict %d%s: %s",
            conflict.kind.value,
            conflict.origin,
            conflict.size,
            conflict.root.hex(),
            conflict.stored_size,
            conflict.stored_root.hex(),
            conflict.id,
            again,
            conflict.reason,
            extra={
                "fields": {
                    "alarm": conflict.kind.value,
                    "origin": conflict.origin,
                    "size": conflict.size,
                    "stored_size": conflict.stored_size,
                    "conflict": conflict.id,
                }
            },
        )

    def sizes(self) -> dict[str, int]:
        """The size last cosigned of each configured log the state knows."""
        return {origin: s.size for origin, s in self.state.logs().items() if origin in self._verifiers}

    def render_metrics(self) -> str:
        return self.metrics.render(self.sizes())


# -- HTTP -----------------------------------------------------------------------------------------------------


def _refusal(exc: BaseException) -> tuple[int, bytes, str]:
    """Status, body and content type of a refused add-checkpoint: the only place statuses are chosen."""
    if isinstance(exc, SizeConflictError):
        return 409, format_size_body(exc.stored_size), SIZE_CONTENT_TYPE
    if isinstance(exc, MalformedError):
        status = 400
    elif isinstance(exc, UnknownKeyError | SignatureError):
        status = 403
    elif isinstance(exc, UnknownOriginError):
        status = 404
    elif isinstance(exc, InconsistentCheckpointError):
        status = 422
    elif isinstance(exc, WitnessStateError):
        log.error("witness state unavailable: %s", exc)
        return 503, b"witness state unavailable; see the witness's log\n", TEXT_CONTENT_TYPE
    else:
        if not isinstance(exc, NotaryError):
            log.error("internal error answering add-checkpoint", exc_info=exc)
        return 500, b"internal error\n", TEXT_CONTENT_TYPE
    return status, _one_line(str(exc)).encode() + b"\n", TEXT_CONTENT_TYPE


def _one_line(message: str) -> str:
    """A message fit for a response body: one line, printable, bounded."""
    return "".join(c if c.isprintable() else "?" for c in message)[:500]


class WitnessServer(PooledServer):
    """The witness's HTTP server; ``serve_forever`` to run, ``url`` once bound. ``workers`` threads serve the
    connections from now on; ``server_close`` (or :meth:`stop`) ends them."""

    def __init__(self, witness: Witness, address: tuple[str, int], workers: int = WORKERS) -> None:
        self.witness = witness
        super().__init__(address, _Handler, ConnectionPool(workers, IDLE_TIMEOUT, "witness"))

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up are routine; anything else is logged, never printed to stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("connection from %s dropped: %s", client_address, exc)
        else:
            log.error("connection from %s failed", client_address, exc_info=exc)

    def stop(self) -> None:
        """Stop serving (from another thread than ``serve_forever``'s) and close every connection."""
        self.shutdown()
        self.server_close()


class _Handler(PooledHandler):
    server_version = "consortium-ledger-witness"
    timeout = REQUEST_TIMEOUT
    server: WitnessServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str, allow: str | None = None) -> None:
        """One write per response: status line, headers and body."""
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Server: {self.server_version}"]
        lines.append(f"Content-Type: {content_type}")
        if allow is not None:
            lines.append(f"Allow: {allow}")
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def _refuse(self, status: int, message: str, allow: str | None = None) -> None:
        if status >= 400:
            self.server.witness.metrics.refused(status)
        self._send(status, message.encode() + b"\n", TEXT_CONTENT_TYPE, allow)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (bad request line, unknown method, headers too long), in our
        format: a status line even for a request too broken to have a version, and a one-line text body."""
        self.close_connection = True
        self._refuse(code, _one_line(message or HTTPStatus(code).phrase))

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
        limit = self.server.witness.config.max_body_bytes
        if length > limit:
            self.close_connection = True
            self._refuse(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
            return None
        return length

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def handle_expect_100(self) -> bool:
        if self.command == "POST" and self._content_length() is None:
            return False
        return super().handle_expect_100()

    def do_POST(self) -> None:
        if self._path() != "/add-checkpoint":
            self.close_connection = True  # its body is not read
            self._refuse(404, "not found: POST /add-checkpoint is the only write")
            return
        length = self._content_length()
        if length is None:
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        witness = self.server.witness
        try:
            answer = witness.add_checkpoint(body)
        except Exception as exc:
            status, message, content_type = _refusal(exc)
            witness.metrics.refused(status)
            self._send(status, message, content_type)
            return
        self._send(200, answer, TEXT_CONTENT_TYPE)

    def _refusal_of_figures(self) -> str | None:
        """Why the request may not read the figures (its credentials are missing or wrong), or None when it
        may: the witness authenticates no reads, or the request carries a reader's credentials or the monitor
        token (``notary.readauth.ReadAccess.authenticate_operations``)."""
        access = self.server.witness.config.access
        if access is None:
            return None
        try:
            access.authenticate_operations(self.command, self.path, httpx.Headers(list(self.headers.items())))
        except UnauthenticatedError as exc:
            return str(exc)
        return None

    def do_GET(self) -> None:
        path = self._path()
        witness = self.server.witness
        try:
            if path == "/healthz":
                figures = self._refusal_of_figures() is None
                body = witness.sizes() if figures else {"ok": True}
                self._send(200, json.dumps(body, sort_keys=True).encode(), _JSON)
            elif path == "/metrics":
                refusal = self._refusal_of_figures()
                if refusal is None:
                    self._send(200, witness.render_metrics().encode(), _METRICS_CONTENT_TYPE)
                else:
                    self._refuse(401, _one_line(refusal))
            else:
                self._send(404, b"not found: GET serves /healthz and /metrics\n", TEXT_CONTENT_TYPE)
        except Exception:
            log.exception("GET %s failed", path[:200])
            self.close_connection = True
            self._send(500, b"internal error\n", TEXT_CONTENT_TYPE)

    def _method_not_allowed(self) -> None:
        self.close_connection = True  # a body we did not read may follow
        self._refuse(405, "POST /add-checkpoint; GET /healthz and /metrics", allow="GET, POST")

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _method_not_allowed


def make_server(config: WitnessConfig, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> WitnessServer:
    """A bound witness server, its threads waiting for connections it has yet to accept (call ``serve_forever``;
    ``server_close`` ends them); port 0 picks a free port."""
    witness = Witness(config)
    known = witness.state.logs()
    for origin in config.logs:
        if origin not in known:
            log.warning(
                "origin %s is not registered in the witness state: answering 404 until an operator runs init",
                origin,
                extra={"fields": {"origin": origin}},
            )
    return WitnessServer(witness, (host, port))


def serve(config: WitnessConfig, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run the witness until SIGTERM or Ctrl-C."""
    server = make_server(config, host, port)
    if threading.current_thread() is threading.main_thread():
        # shutdown() waits for serve_forever() to return, so it must run on another thread than this one.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    log.info(
        "witness %s listening on %s",
        config.name,
        server.url,
        extra={"fields": {"url": server.url, "name": config.name}},
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("witness %s stopped", config.name)
