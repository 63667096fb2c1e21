"""The explorer's HTTP app: the JSON API under ``/api/v1``, exports, reports, and the web UI at ``/``.

Every ``/api`` request passes one ASGI middleware (:class:`Gatekeeper`) before any endpoint runs: a body over
the limit → 413 before it is read; the ``Authorization`` header → a :class:`~network.logins.Person` or 401 with
the reason; the person's firm's rate limit → 429 with ``Retry-After``; any write method → 403 (the explorer is
read-only for everyone, the regulator included). It then records the query in the audit log
(:mod:`explorer.audit`), holding the response's last chunk until the event is durable; with the audit outbox
full it answers 503 before the query runs, so no query goes unrecorded. Endpoints apply the
tenant rules of :mod:`explorer.access`; what a person may not see is a 404 identical to a missing object.

Parameters are validated by FastAPI (patterns, ranges): a malformed one is a 422 naming the parameter. Lists
are capped (``limit`` ≤ 200) and paginate with an opaque cursor bound to the query's filters, so a cursor
reused with other filters is refused (400) rather than silently misapplied; the tenant filter is applied on
every page whatever the cursor says.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import html
import io
import json
import logging
import math
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from chain.ids import Role
from explorer import access, provenance
from explorer.audit import AuditRecorder
from explorer.calls import CallFilter, CallIndex
from explorer.chainindex import ChainIndex
from explorer.state import ChainState, asset_json, grant_json, member_json
from network.description import ConsortiumDescription
from network.logins import Authenticator, LoginError, Person
from network.logsetup import log_origin, witness_name
from notary.log.cosignature import format_cosigner_vkey
from notary.log.note import format_vkey
from notary.tracecontext import continue_trace
from notary.verify import TrustRoots, verify_evidence

log = logging.getLogger("explorer.app")

STATIC = Path(__file__).parent / "static"
API = "/api/v1"
MAX_BODY = 64 * 1024
MAX_PAGE = 200
MAX_ZIP = 1000
NAME = r"^[a-z0-9][a-z0-9._-]{0,31}$"
EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
GRANT = r"^0x[0-9a-f]{64}$"
TX_HASH = r"^0x[0-9a-fA-F]{64}$"
REASON = r"^[a-z][a-z0-9_]{0,39}$"
TRACE = r"^[0-9a-f]{32}$"
MAX_MS = 2**53 - 1
#: Paths under /api/v1 that say nothing about the ledger and are not recorded as queries.
UNRECORDED = frozenset({f"{API}/me", f"{API}/keys"})
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
CSV_COLUMNS = (
    "index", "event_id", "time_ms", "caller_org", "provider_org", "center", "unit", "api", "method", "route",
    "asset_id", "asset_version", "grant_id", "decision", "denial_reason", "status", "latency_us", "trace_id",
    "gateway_id", "gateway_seq", "leaf_hash", "checkpoint_size", "checkpoint_root",
)  # fmt: skip

# Query parameters shared by the call search and the exports.
Caller = Annotated[str | None, Query(pattern=NAME, description="caller org")]
Provider = Annotated[str | None, Query(pattern=NAME, description="provider org")]
Service = Annotated[str | None, Query(pattern=NAME, description="API id")]
Center = Annotated[str | None, Query(pattern=NAME)]
Asset = Annotated[str | None, Query(pattern=NAME)]
GrantQ = Annotated[str | None, Query(pattern=GRANT)]
Decision = Annotated[str | None, Query(pattern="^(allow|deny)$")]
Status = Annotated[int | None, Query(ge=100, le=599)]
Reason = Annotated[str | None, Query(pattern=REASON)]
From = Annotated[int | None, Query(alias="from", ge=0, le=MAX_MS, description="ms since the epoch")]
To = Annotated[int | None, Query(alias="to", ge=0, le=MAX_MS, description="ms since the epoch (exclusive)")]
Trace = Annotated[str | None, Query(pattern=TRACE, description="W3C trace id")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]

EventId = Annotated[str, PathParam(pattern=EVENT_ID)]


def call_filter(
    request: Request, caller: Caller = None, provider: Provider = None, service: Service = None,
    center: Center = None, asset: Asset = None, grant: GrantQ = None, decision: Decision = None,
    status: Status = None, denial_reason: Reason = None, from_ms: From = None, to_ms: To = None,
    trace: Trace = None,
) -> CallFilter:  # fmt: skip
    """The filters shared by the call search and the exports, restricted to the person's firm."""
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise ApiError(422, "invalid_parameter", "to must be later than from")
    return CallFilter(
        caller=caller, provider=provider, api=service, center=center, asset=asset, grant=grant,
        decision=decision, status=status, denial_reason=denial_reason, from_ms=from_ms, to_ms=to_ms,
        trace_id=trace, party=access.party(request.state.person),
    )  # fmt: skip


Filters = Annotated[CallFilter, Depends(call_filter)]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what}")


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


@dataclass
class Explorer:
    """What the app reads from: the indexes, the chain state, the notary, and who is asking."""

    directory: Path
    description: ConsortiumDescription
    calls: CallIndex
    chain: ChainIndex
    state: ChainState
    auth: Authenticator
    notary_url: str
    roots: TrustRoots
    recorder: AuditRecorder | None = None
    limits: Limits = field(default_factory=Limits)
    followers: dict[str, Any] = field(default_factory=dict)
    evidence_cache_size: int = 4096
    _evidence: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    _evidence_lock: threading.Lock = field(default_factory=threading.Lock)
    _notary_health: tuple[float, dict[str, Any] | None] = (0.0, None)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.notary_url.rstrip("/"), timeout=10.0)

    def close(self) -> None:
        self.http.close()

    # -- the notary
    def evidence(self, event_id: str) -> dict[str, Any]:
        """The notary's evidence bundle; kept once complete (anchored), since it never changes after that."""
        with self._evidence_lock:
            cached = self._evidence.get(event_id)
            if cached is not None:
                self._evidence.move_to_end(event_id)
                return cached
        try:
            response = self.http.get(f"/v1/evidence/{event_id}")
        except httpx.HTTPError as exc:
            raise ApiError(503, "notary_unavailable", f"the notary cannot be reached: {exc}") from None
        if response.status_code == 404:
            raise not_found(f"evidence for call {event_id} at the notary yet")
        if response.status_code != 200:
            raise ApiError(502, "notary_error", f"the notary answered {response.status_code}")
        bundle: dict[str, Any] = response.json()
        if not bundle.get("pending"):
            with self._evidence_lock:
                self._evidence[event_id] = bundle
                while len(self._evidence) > self.evidence_cache_size:
                    self._evidence.popitem(last=False)
        return bundle

    def notary_health(self) -> dict[str, Any] | None:
        stamp, cached = self._notary_health
        if time.monotonic() - stamp < 2.0:
            return cached
        try:
            response = self.http.get("/healthz", timeout=2.0)
            health: dict[str, Any] | None = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            health = None
        self._notary_health = (time.monotonic(), health)
        return health

    def keys(self) -> dict[str, Any]:
        """The consortium's public keys for verifying the log, in C2SP vkey form (from consortium.json)."""
        d = self.description
        regulators = {m.org for m in d.members if Role.REGULATOR in m.roles}
        notary = next(m for m in d.members if Role.NOTARY in m.roles)
        origin = log_origin(d)
        witnesses = [
            {
                "org": org,
                "vkey": format_cosigner_vkey(witness_name(d, org), d.member(org).identity.witness_public_key),
                "regulator": org in regulators,
            }
            for org in self.roots.policy.witnesses
        ]
        return {
            "origin": origin,
            "log_vkey": format_vkey(origin, notary.identity.notary_public_key),
            "witnesses": witnesses,
            "policy": {
                "threshold": self.roots.policy.threshold,
                "require_regulator": self.roots.policy.require_regulator,
            },
        }


# ---------------------------------------------------------------------------------------------- cursors


def _filter_hash(f: CallFilter) -> str:
    return hashlib.sha256(json.dumps(asdict(f), sort_keys=True).encode()).hexdigest()[:12]


def encode_cursor(before: int, bound: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{before}:{bound}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, bound: str) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, before, found = text.split(":")
        value = int(before)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this explorer issued") from None
    if version != "v1" or found != bound or not 0 <= value <= MAX_MS:
        raise ApiError(400, "invalid_cursor", "the cursor belongs to another query; start again without it")
    return value


# ---------------------------------------------------------------------------------------------- middleware


def _api_name(path: str) -> str:
    """The endpoint's name for the audit event: ``calls.search``, ``calls.provenance``, ``exports.calls``..."""
    parts = [p for p in path[len(API) :].split("/") if p]
    if not parts:
        return "index"
    head = parts[0] if parts[0].replace("-", "").isalnum() else "unknown"
    if len(parts) == 1:
        name = f"{head}.search" if head == "calls" else f"{head}.list"
    elif head in ("exports", "stats"):
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


class SecurityHeaders:
    """Content-Security-Policy and friends on every answer; ``no-store`` on the API's."""

    def __init__(self, app: Any) -> None:
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

    def __init__(self, app: Any, explorer: Explorer) -> None:
        self.app = app
        self.explorer = explorer
        self.limiter = RateLimiter(explorer.limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await _send_json(send, 413, {"error": "too_large", "detail": f"bodies are limited to {MAX_BODY} bytes"}, [])
            return
        try:
            auth = headers.get("authorization")
            person = self.explorer.auth.authenticate(None if auth is None else auth.decode("latin-1"))
        except LoginError as exc:
            challenge = f'Bearer realm="consortium-explorer", error="invalid_token", error_description="{exc.reason}"'
            await _send_json(
                send, 401, {"error": exc.reason, "detail": exc.detail}, [(b"www-authenticate", challenge.encode())]
            )
            return
        scope.setdefault("state", {})["person"] = person
        recorder = self.explorer.recorder
        query = None
        if recorder is not None and scope["path"] not in UNRECORDED:
            raw_path = scope.get("raw_path") or scope["path"].encode()
            target = raw_path + (b"?" + scope["query_string"] if scope.get("query_string") else b"")
            trace = headers.get("traceparent", b"").decode("latin-1")
            ours, _ = continue_trace(trace or None)
            query = recorder.begin(
                person.org, person.identity, _api_name(scope["path"]), scope["method"] if scope["method"] in
                ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") else "GET",
                "/" + _printable(raw_path.lstrip(b"/"), 255), target.decode("latin-1"), ours,
            )  # fmt: skip
        wait = self.limiter.take(person.org)
        if wait > 0:
            retry = [(b"retry-after", str(math.ceil(wait)).encode())]
            await self._answer(send, query, 429, {"error": "rate_limited", "detail": "too many requests"}, retry)
            return
        if query is not None and recorder is not None and recorder.outbox.pending_count >= recorder.outbox.max_pending:
            detail = "queries cannot be recorded right now (the audit outbox is full); try again later"
            await _send_json(send, 503, {"error": "audit_unavailable", "detail": detail}, [(b"retry-after", b"5")])
            return
        if scope["method"] not in ("GET", "HEAD"):
            detail = "the explorer is read-only; the ledger is changed through the members' own tools"
            await self._answer(send, query, 403, {"error": "read_only", "detail": detail}, [])
            return
        if query is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._recording(send, query))

    async def _answer(
        self, send: Send, query: Any, status: int, body: Mapping[str, Any], headers: list[tuple[bytes, bytes]]
    ) -> None:
        if query is not None:
            data = json.dumps(body).encode()
            assert self.explorer.recorder is not None
            await self.explorer.recorder.record(query, status, hashlib.sha256(data).hexdigest())
            headers = [*headers, (b"consortium-event-id", query.event_id.encode())]
        await _send_json(send, status, body, headers)

    def _recording(self, send: Send, query: Any) -> Send:
        recorder = self.explorer.recorder
        assert recorder is not None
        digest = hashlib.sha256()
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


# ---------------------------------------------------------------------------------------------- the app


def create_app(explorer: Explorer) -> FastAPI:
    app = FastAPI(
        title="Consortium Ledger explorer",
        version="1",
        description="Provenance of every shared-service call, with proofs anyone can check offline.",
        docs_url="/api/docs",
        redoc_url=None,
    )
    calls, chain, state = explorer.calls, explorer.chain, explorer.state
    app.add_middleware(Gatekeeper, explorer=explorer)
    app.add_middleware(SecurityHeaders)  # outermost: also on the gatekeeper's own answers

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()][:10]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        return JSONResponse({"error": "invalid_parameter", "detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse({"error": code, "detail": str(exc.detail)}, status_code=exc.status_code)

    def person_of(request: Request) -> Person:
        person: Person = request.state.person
        return person

    # -- who, keys, members ---------------------------------------------------------------------------

    @app.get(f"{API}/me", tags=["people"], summary="Who is asking")
    def me(request: Request) -> dict[str, Any]:
        p = person_of(request)
        return {
            "org": p.org, "name": p.name, "role": p.role, "display_name": p.display_name,
            "regulator": p.is_regulator, "expires_ms": p.expires_ms,
        }  # fmt: skip

    @app.get(f"{API}/keys", tags=["verification"], summary="Public keys and witness policy of the log")
    def keys() -> dict[str, Any]:
        return explorer.keys()

    @app.get(f"{API}/members", tags=["consortium"])
    def members() -> dict[str, Any]:
        return {"block": state.snapshot.block, "members": [member_json(m) for m in state.snapshot.members]}

    @app.get(f"{API}/members/{{org}}", tags=["consortium"])
    def member(org: Annotated[str, PathParam(pattern=NAME)]) -> dict[str, Any]:
        found = state.snapshot.member(org)
        if found is None:
            raise not_found(f"member {org}")
        return {**member_json(found), "history": chain.history("member", org)}

    @app.get(f"{API}/witnesses", tags=["consortium"])
    def witnesses() -> dict[str, Any]:
        health = explorer.notary_health() or {}
        answers = health.get("witnesses", {})
        policy = explorer.roots.policy
        return {
            "policy": {"threshold": policy.threshold, "require_regulator": policy.require_regulator},
            "witnesses": [
                {"org": org, "status": answers.get(org, {}).get("status"), "detail": answers.get(org, {}).get("detail")}
                for org in policy.witnesses
            ],
        }

    # -- assets, services, grants ----------------------------------------------------------------------

    @app.get(f"{API}/assets", tags=["assets"])
    def assets() -> dict[str, Any]:
        return {"block": state.snapshot.block, "assets": [asset_json(a) for a in state.snapshot.assets]}

    @app.get(f"{API}/assets/{{asset_id}}", tags=["assets"])
    def asset(request: Request, asset_id: Annotated[str, PathParam(pattern=NAME)]) -> dict[str, Any]:
        snap = state.snapshot
        found = snap.asset(asset_id)
        p = person_of(request)
        if found is None or not access.sees_asset_detail(p, found, snap):
            raise not_found(f"asset {asset_id}")
        grants = [g for g in snap.grants if g.asset == asset_id and access.sees_grant(p, g)]
        versions = [chain.asset_version_at(asset_id, n) for n in range(1, found.version_count + 1)]
        return {
            **asset_json(found),
            "versions": [v for v in versions if v is not None],
            "history": chain.history("asset", asset_id),
            "grants": [grant_json(g, found, snap.block_time) for g in grants],
        }

    @app.get(f"{API}/services", tags=["assets"], summary="The service catalogue: centers, units, APIs")
    def services() -> dict[str, Any]:
        snap = state.snapshot
        units: dict[str, list[dict[str, Any]]] = {}
        for unit in snap.units:
            apis = [
                {"api": a.api, "route": a.route, "method": a.method, "provider": a.provider, "asset": a.asset,
                 "active": a.active}
                for a in snap.apis if a.unit == unit.unit
            ]  # fmt: skip
            units.setdefault(unit.center, []).append({"unit": unit.unit, "name": unit.name, "apis": apis})
        centers = [{"center": c.center, "name": c.name, "units": units.get(c.center, [])} for c in snap.centers]
        return {"block": snap.block, "centers": centers}

    @app.get(f"{API}/grants", tags=["grants"])
    def grants(
        request: Request,
        asset: Annotated[str | None, Query(pattern=NAME)] = None,
        grantee: Annotated[str | None, Query(pattern=NAME)] = None,
        grantor: Annotated[str | None, Query(pattern=NAME)] = None,
        grant_state: Annotated[
            str | None, Query(alias="state", pattern="^(active|revoked|expired|not_yet_valid|void)$")
        ] = None,
    ) -> dict[str, Any]:
        snap, p = state.snapshot, person_of(request)
        out = []
        for g in snap.grants:
            if not access.sees_grant(p, g) or (asset and g.asset != asset) or (grantee and g.grantee != grantee):
                continue
            if grantor and g.grantor != grantor:
                continue
            row = grant_json(g, snap.asset(g.asset), snap.block_time)
            if grant_state is None or row["state"] == grant_state:
                out.append(row)
        return {"block": snap.block, "grants": out}

    @app.get(f"{API}/grants/{{grant_id}}", tags=["grants"])
    def grant(request: Request, grant_id: Annotated[str, PathParam(pattern=GRANT)]) -> dict[str, Any]:
        snap = state.snapshot
        found = snap.grant(grant_id)
        if found is None or not access.sees_grant(person_of(request), found):
            raise not_found(f"grant {grant_id}")
        return {
            **grant_json(found, snap.asset(found.asset), snap.block_time),
            "history": chain.history("grant", grant_id),
        }

    # -- calls -----------------------------------------------------------------------------------------

    @app.get(f"{API}/calls", tags=["calls"], summary="Search calls, newest first")
    def search_calls(
        f: Filters,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        bound = _filter_hash(f)
        rows = calls.search(f, before=decode_cursor(cursor, bound), limit=limit)
        after = encode_cursor(rows[-1]["index"], bound) if len(rows) == limit and rows[-1]["index"] > 0 else None
        return {"calls": rows, "next": after, "limit": limit}

    def visible_call(request: Request, event_id: str, bundle: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The indexed call of ``event_id`` if the person may see it, else 404. With the notary's evidence bundle,
        found by the leaf index the bundle names (one primary-key probe), checked to be this event's."""
        row = None
        if bundle is not None and type(bundle.get("index")) is int:
            row = calls.by_index(bundle["index"])
            if row is not None and row["event_id"] != event_id:
                row = None  # the bundle names another leaf: evidence_steps will say so; find the call ourselves
        if row is None:
            row = calls.by_event_id(event_id)
        if row is None or not access.sees_call(person_of(request), row):
            raise not_found(f"call {event_id}")
        return row

    @app.get(f"{API}/calls/{{event_id}}", tags=["calls"])
    def call(request: Request, event_id: EventId) -> dict[str, Any]:
        row = visible_call(request, event_id)
        entry = row.pop("entry")
        return {"call": row, "event": json.loads(entry)}

    @app.get(f"{API}/calls/{{event_id}}/provenance", tags=["calls"], summary="Each link of the call's provenance")
    def call_provenance(request: Request, event_id: EventId) -> dict[str, Any]:
        # The bundle first: it names the call's leaf index, so the call is found by one probe (see visible_call);
        # whether the person may see the call is decided on the explorer's own row before anything is answered.
        missing: ApiError | None = None
        try:
            bundle: dict[str, Any] | None = explorer.evidence(event_id)
        except ApiError as exc:
            bundle, missing = None, exc
        row = visible_call(request, event_id, bundle)
        entry = row.pop("entry")
        first, event = provenance.call_step(row, entry)
        steps = [first]
        if event is not None:
            steps += [provenance.grant_step(chain, event), provenance.asset_step(chain, event)]
        if missing is not None:
            detail = missing.detail
            steps += [{"step": s, "ok": None, "detail": detail, "data": None} for s, _ in provenance.EVIDENCE_LINKS]
        if bundle is not None:
            steps += provenance.evidence_steps(verify_evidence(bundle, explorer.roots), bundle, row)
        return {
            "event_id": event_id,
            "call": row,
            "verified": all(s["ok"] is True for s in steps if s["step"] not in ("grant", "asset_version")),
            "steps": steps,
            "evidence": bundle,
            "keys": explorer.keys(),
        }

    @app.get(f"{API}/calls/{{event_id}}/evidence", tags=["calls"], summary="The evidence bundle, to verify offline")
    def call_evidence(request: Request, event_id: EventId) -> Response:
        try:
            bundle = explorer.evidence(event_id)
        except ApiError:
            visible_call(request, event_id)  # a call the person may not see is a 404 whatever the notary said
            raise
        visible_call(request, event_id, bundle)
        body = json.dumps(bundle, indent=1).encode()
        disposition = f'attachment; filename="evidence-{event_id.replace(":", "_")}.json"'
        return Response(body, media_type="application/json", headers={"Content-Disposition": disposition})

    # -- exports ---------------------------------------------------------------------------------------

    def export_rows(f: CallFilter) -> Iterator[dict[str, Any]]:
        covering: dict[str, Any] | None = None
        for row in calls.iter_calls(f):
            if covering is None or row["index"] >= covering["size"]:
                covering = calls.checkpoint_covering(row["index"])
            yield {
                **row,
                "checkpoint_size": covering["size"] if covering else None,
                "checkpoint_root": covering["root"] if covering else None,
            }

    def csv_stream(f: CallFilter) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        for n, row in enumerate(export_rows(f), 1):
            writer.writerow(row)
            if n % 500 == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    def json_stream(f: CallFilter) -> Iterator[bytes]:
        yield b"["
        chunk: list[str] = []
        first = True
        for row in export_rows(f):
            chunk.append(("\n" if first else ",\n") + json.dumps(row, separators=(",", ":")))
            first = False
            if len(chunk) >= 500:
                yield "".join(chunk).encode()
                chunk.clear()
        yield ("".join(chunk) + "\n]\n").encode()

    def attachment(name: str) -> dict[str, str]:
        return {"Content-Disposition": f'attachment; filename="{name}"'}

    @app.get(f"{API}/exports/calls.csv", tags=["exports"], summary="The filtered calls as CSV, streamed")
    def export_csv(f: Filters) -> StreamingResponse:
        return StreamingResponse(csv_stream(f), media_type="text/csv; charset=utf-8", headers=attachment("calls.csv"))

    @app.get(f"{API}/exports/calls.json", tags=["exports"], summary="The filtered calls as a JSON array, streamed")
    def export_json(f: Filters) -> StreamingResponse:
        return StreamingResponse(json_stream(f), media_type="application/json", headers=attachment("calls.json"))

    @app.get(f"{API}/exports/evidence.zip", tags=["exports"], summary="Evidence bundles of the filtered calls")
    def export_zip(
        request: Request, caller: Caller = None, provider: Provider = None, service: Service = None,
        center: Center = None, asset: Asset = None, grant: GrantQ = None, decision: Decision = None,
        status: Status = None, denial_reason: Reason = None, from_ms: From = None, to_ms: To = None,
        trace: Trace = None, limit: Annotated[int, Query(ge=1, le=MAX_ZIP)] = 100,
    ) -> StreamingResponse:  # fmt: skip
        f = call_filter(
            request, caller, provider, service, center, asset, grant, decision, status, denial_reason, from_ms,
            to_ms, trace,
        )  # fmt: skip
        spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - closed by the stream
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("consortium-keys.json", json.dumps(explorer.keys(), indent=1))
            for row in calls.search(f, before=None, limit=limit):
                try:
                    bundle = explorer.evidence(row["event_id"])
                except ApiError as exc:
                    bundle = {"event_id": row["event_id"], "error": exc.detail}
                archive.writestr(f"{row['index']:012d}-{row['event_id']}.json", json.dumps(bundle, indent=1))
        spool.seek(0)

        def stream() -> Iterator[bytes]:
            with spool:
                while block := spool.read(256 * 1024):
                    yield block

        return StreamingResponse(stream(), media_type="application/zip", headers=attachment("evidence.zip"))

    # -- reports ---------------------------------------------------------------------------------------

    @app.get(f"{API}/reports/{{org}}", tags=["exports"], summary="Compliance report of one firm for a period")
    def report(
        request: Request,
        org: Annotated[str, PathParam(pattern=NAME)],
        from_ms: Annotated[int, Query(alias="from", ge=0, le=MAX_MS)],
        to_ms: Annotated[int, Query(alias="to", ge=0, le=MAX_MS)],
        fmt: Annotated[str, Query(alias="format", pattern="^(html|csv|json)$")] = "html",
    ) -> Response:
        if state.snapshot.member(org) is None or not access.sees_org_report(person_of(request), org):
            raise not_found(f"member {org}")
        if to_ms <= from_ms:
            raise ApiError(422, "invalid_parameter", "to must be later than from")
        data = compliance_report(explorer, org, from_ms, to_ms)
        name = f"report-{org}-{from_ms}-{to_ms}"
        if fmt == "json":
            return JSONResponse(data)
        if fmt == "csv":
            return Response(report_csv(data), media_type="text/csv; charset=utf-8", headers=attachment(name + ".csv"))
        return Response(report_html(data), media_type="text/html; charset=utf-8")

    # -- chain -----------------------------------------------------------------------------------------

    @app.get(f"{API}/blocks", tags=["chain"])
    def blocks(before: Annotated[int | None, Query(ge=0, le=MAX_MS)] = None, limit: Limit = 20) -> dict[str, Any]:
        rows = chain.blocks(before=before, limit=limit)
        after = rows[-1]["number"] if len(rows) == limit and rows[-1]["number"] > 0 else None
        return {"blocks": rows, "next": after, "head": chain.head()}

    @app.get(f"{API}/blocks/{{number}}", tags=["chain"])
    def block(request: Request, number: Annotated[int, PathParam(ge=0, le=MAX_MS)]) -> dict[str, Any]:
        found = chain.block(number)
        if found is None:
            raise not_found(f"block {number} (indexed up to {chain.head()})")
        p, snap = person_of(request), state.snapshot
        found["transactions"] = [
            tx if access.sees_transaction(p, tx, snap) else access.redact_transaction(tx)
            for tx in found.get("transactions", [])
        ]
        return found

    @app.get(f"{API}/transactions/{{tx_hash}}", tags=["chain"])
    def transaction(request: Request, tx_hash: Annotated[str, PathParam(pattern=TX_HASH)]) -> dict[str, Any]:
        found = chain.transaction(tx_hash.lower())
        if found is None:
            raise not_found(f"transaction {tx_hash}")
        if not access.sees_transaction(person_of(request), found, state.snapshot):
            return access.redact_transaction(found)
        return found

    @app.get(f"{API}/checkpoints", tags=["log"])
    def checkpoints(before: Annotated[int | None, Query(ge=0, le=MAX_MS)] = None, limit: Limit = 20) -> dict[str, Any]:
        rows = calls.checkpoints(before=before, limit=limit)
        return {"checkpoints": rows, "next": rows[-1]["size"] if len(rows) == limit else None}

    @app.get(f"{API}/anchors", tags=["log"])
    def anchors(limit: Limit = 50) -> dict[str, Any]:
        rows = [c for c in calls.checkpoints(before=None, limit=MAX_PAGE) if c.get("anchor")][:limit]
        return {"anchors": [{"size": c["size"], "root": c["root"], **c["anchor"]} for c in rows]}

    @app.get(f"{API}/gaps", tags=["log"])
    def gaps() -> dict[str, Any]:
        return {"gaps": calls.gaps()}

    # -- health and dashboard --------------------------------------------------------------------------

    @app.get(f"{API}/health", tags=["operations"])
    def health() -> dict[str, Any]:
        notary = explorer.notary_health()
        return {
            "chain": {**state.status, "indexed": chain.head()},
            "notary": {"ok": notary is not None, **(notary or {})},
            "witnesses": (notary or {}).get("witnesses", {}),
            "gateways": gateway_health(explorer),
            "explorer": {
                "indexed_size": calls.size(),
                "followers": {k: getattr(v, "status", None) for k, v in explorer.followers.items()},
                "audit": explorer.recorder.status() if explorer.recorder else None,
            },
        }

    @app.get(f"{API}/dashboard", tags=["operations"])
    def dashboard(request: Request, minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60) -> dict[str, Any]:
        p = person_of(request)
        now_ms = int(time.time() * 1000)
        latest = calls.latest_checkpoint()
        anchored = next((c for c in calls.checkpoints(before=None, limit=MAX_PAGE) if c.get("anchor")), None)
        notary = explorer.notary_health() or {}
        return {
            "head": {"number": state.status.get("head"), "time": state.status.get("head_time")},
            "checkpoint": latest,
            "anchor": anchored,
            "log_size": calls.size(),
            "witnesses": notary.get("witnesses", {}),
            "calls_per_minute": calls.per_minute(now_ms - minutes * 60_000, access.party(p)),
            "denials": calls.search(CallFilter(decision="deny", party=access.party(p)), before=None, limit=10),
        }

    @app.get("/healthz", tags=["operations"], summary="Liveness, without credentials")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "indexed_size": calls.size(), "chain_indexed": chain.head()}

    # -- the web UI ------------------------------------------------------------------------------------

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(STATIC / "index.html")

    return app


def gateway_health(explorer: Explorer) -> list[dict[str, Any]]:
    """Each gateway's last sequence number as the notary knows it, and its gaps."""
    try:
        answer = explorer.http.get("/v1/gaps", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return []
    gaps: dict[str, int] = {}
    for g in answer.get("gaps", []):
        gaps[g["gateway"]] = gaps.get(g["gateway"], 0) + 1
    return [
        {"gateway": k, "last_seq": v, "gaps": gaps.get(k, 0)} for k, v in sorted(answer.get("last_seq", {}).items())
    ]


# ---------------------------------------------------------------------------------------------- reports


def compliance_report(explorer: Explorer, org: str, from_ms: int, to_ms: int) -> dict[str, Any]:
    """Calls made and served, denials, grants changed and gaps of ``org`` between ``from_ms`` and ``to_ms``."""
    grants_changed = []
    for kind in ("GrantCreated", "GrantRevoked"):
        for item in explorer.chain.events(contract="AccessGrants", event=kind, before=None, limit=10_000):
            args = item.get("args") or {}
            parties = {args.get("grantee"), args.get("grantor")}
            grant = explorer.state.snapshot.grant(str(args.get("grant_id")))
            if grant is not None:
                parties |= {grant.grantor, grant.grantee}
            if org in parties and from_ms <= int(item["timestamp"]) * 1000 < to_ms:
                grants_changed.append({"time": item["timestamp"], "event": kind, "grant_id": args.get("grant_id"),
                                       "tx_hash": item["tx_hash"]})  # fmt: skip
    gaps = [g for g in explorer.calls.gaps() if str(g.get("gateway", "")).split("/")[0] == org]
    return {
        "org": org,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "generated_ms": int(time.time() * 1000),
        "log_size": explorer.calls.size(),
        "calls": explorer.calls.report(org, from_ms, to_ms),
        "grants_changed": sorted(grants_changed, key=lambda g: g["time"]),
        "gaps": gaps,
    }


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, "" if value is None else str(value)))


def report_csv(data: Mapping[str, Any]) -> bytes:
    rows: list[tuple[str, str]] = []
    _flatten("", data, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("field", "value"))
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _html_value(value: Any) -> str:
    if isinstance(value, Mapping):
        cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_html_value(v)}</td></tr>" for k, v in value.items())
        return f"<table>{cells}</table>"
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            keys = list(dict.fromkeys(k for v in value for k in v))
            head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
            body = "".join("<tr>" + "".join(f"<td>{_html_value(v.get(k))}</td>" for k in keys) + "</tr>" for v in value)
            return f"<table><tr>{head}</tr>{body}</table>"
        return "<ul>" + "".join(f"<li>{_html_value(v)}</li>" for v in value) + "</ul>" if value else "—"
    return html.escape("—" if value is None else str(value))


def report_html(data: Mapping[str, Any]) -> str:
    title = f"Compliance report — {data['org']}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<link rel="stylesheet" href="/static/style.css"></head><body class="report">'
        f"<h1>{html.escape(title)}</h1>{_html_value(data)}</body></html>"
    )
