"""The two ASGI middlewares every answer passes: :class:`Gatekeeper` for ``/api`` requests, then
:class:`SecurityHeaders` (outermost, so its headers are also on the gatekeeper's own refusals).

The gatekeeper runs before any route, in this order: a body over :data:`MAX_BODY` → 413 before it is read;
the ``Authorization`` header → a :class:`~network.logins.Person`, or 401 with the reason; the person's firm's
rate limit (:class:`RateLimiter`) → 429 with ``Retry-After``; with the audit outbox full → 503 before the
query runs, so no query goes unrecorded; a write method that some route would accept → 403 (the explorer is
read-only for everyone, the regulator included; it has no such route, so this is a guard for one added by
mistake). Any other method a path does not support is left to routing: 405 with ``Allow``, or 404. It then
records the query in the audit log (:mod:`explorer.audit`), holding the answer's last chunk until the event is
durable. Status codes and bodies come from :mod:`explorer.api.errors`.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from explorer.api.errors import Answer, answer
from explorer.audit import SCOPE_KEY, AuditRecorder, Query
from explorer.errors import ApiError, AuditUnavailableError, BodyTooLargeError, RateLimitedError, ReadOnlyError
from network.logins import Authenticator, LoginError
from notary.tracecontext import continue_trace

API = "/api/v1"
MAX_BODY = 64 * 1024
#: Paths under /api/v1 that say nothing about the ledger and are not recorded as queries.
UNRECORDED = frozenset({f"{API}/me", f"{API}/keys"})
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"


@dataclass(frozen=True, slots=True)
class Limits:
    rate: float = 50.0  # requests per second per firm
    burst: int = 100


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """A token bucket per firm: a noisy firm is slowed down without touching another firm's budget."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if admitted, else the seconds until a token is available."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(self.limits.burst), now))
            bucket.tokens = min(self.limits.burst, bucket.tokens + (now - bucket.stamp) * self.limits.rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.limits.rate


def api_name(path: str) -> str:
    """The endpoint's name for the audit event: ``calls.search``, ``calls.provenance``, ``exports.calls``..."""
    parts = [p for p in path[len(API) :].split("/") if p]
    if not parts:
        return "index"
    head = parts[0] if parts[0].replace("-", "").isalnum() else "unknown"
    if len(parts) == 1:
        name = f"{head}.search" if head == "calls" else f"{head}.list"
    elif head in ("exports", "stats") or (head == "alarms" and parts[1] == "records"):
        name = f"{head}.{parts[1].split('.')[0]}"
    elif len(parts) == 2:
        name = f"{head}.get"
    else:
        name = f"{head}.{parts[2]}"
    clean = "".join(c for c in name.lower() if c.isascii() and (c.isalnum() or c in "._-"))
    return (clean or "unknown")[:32]


def _printable(raw: bytes, limit: int) -> str:
    return "".join(chr(b) if 0x21 <= b <= 0x7E else "?" for b in raw[:limit])


async def _send_json(send: Send, status: int, body: Mapping[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})


def _headers(found: Answer) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in found.headers]


def _route_takes(scope: Scope) -> bool:
    """Whether a route of the app takes the request's method on its path. Asked of each route's own matching
    (a full match is path and method), not of its ``methods``: the routes of an included router (every route of
    the API) are one entry of the app's routes that has no ``methods`` of its own."""
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


class SecurityHeaders:
    """Content-Security-Policy and friends on every answer; ``no-store`` on the API's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if scope["path"].startswith("/api/"):
            extra.append((b"cache-control", b"no-store"))

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, wrapped)


class Gatekeeper:
    """Body limit, authentication, rate limit, read-only rule and audit recording for ``/api`` requests."""

    def __init__(self, app: ASGIApp, *, auth: Authenticator, recorder: AuditRecorder | None, limits: Limits) -> None:
        self.app = app
        self.auth = auth
        self.recorder = recorder
        self.limiter = RateLimiter(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            found = answer(BodyTooLargeError(MAX_BODY))
            await _send_json(send, found.status, found.body, _headers(found))
            return
        try:
            auth = headers.get("authorization")
            person = self.auth.authenticate(None if auth is None else auth.decode("latin-1"))
        except LoginError as exc:
            found = answer(exc)
            await _send_json(send, found.status, found.body, _headers(found))
            return
        scope.setdefault("state", {})["person"] = person
        recorder = self.recorder
        query = None
        if recorder is not None and scope["path"] not in UNRECORDED:
            raw_path = scope.get("raw_path") or scope["path"].encode()
            target = raw_path + (b"?" + scope["query_string"] if scope.get("query_string") else b"")
            trace = headers.get("traceparent", b"").decode("latin-1")
            ours, _ = continue_trace(trace or None)
            identity = person.identity_for(recorder.vault.version)  # of the certificate: SHA-256, SM3 under sm
            query = recorder.begin(
                person.org, identity, api_name(scope["path"]), scope["method"] if scope["method"] in
                ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") else "GET",
                "/" + _printable(raw_path.lstrip(b"/"), 255), target.decode("latin-1"), ours,
            )  # fmt: skip
            scope["state"][SCOPE_KEY] = query  # for the route to name the query's subject (audit.name_subject)
        wait = self.limiter.take(person.org)
        if wait > 0:
            await self._refuse(send, query, RateLimitedError(math.ceil(wait)))
            return
        if query is not None and recorder is not None and recorder.outbox.pending_count >= recorder.outbox.max_pending:
            found = answer(AuditUnavailableError())
            await _send_json(send, found.status, found.body, _headers(found))
            return
        if scope["method"] not in ("GET", "HEAD") and _route_takes(scope):
            await self._refuse(send, query, ReadOnlyError())
            return
        if query is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._recording(send, query))

    async def _refuse(self, send: Send, query: Query | None, exc: ApiError) -> None:
        """Answer ``exc``, recording the refused query first."""
        found = answer(exc)
        headers = _headers(found)
        if query is not None:
            data = json.dumps(found.body).encode()
            assert self.recorder is not None
            await self.recorder.record(query, found.status, hashlib.new(self.recorder.hash_name, data).hexdigest())
            headers = [*headers, (b"consortium-event-id", query.event_id.encode())]
        await _send_json(send, found.status, found.body, headers)

    def _recording(self, send: Send, query: Query) -> Send:
        recorder = self.recorder
        assert recorder is not None
        digest = hashlib.new(recorder.hash_name)  # SHA-256, or SM3 under sm
        status = 500

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"consortium-event-id", query.event_id.encode())]
            elif message["type"] == "http.response.body":
                digest.update(message.get("body", b""))
                if not message.get("more_body", False):
                    await recorder.record(query, status, digest.hexdigest())
            await send(message)

        return wrapped
