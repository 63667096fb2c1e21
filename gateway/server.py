"""The gateway's HTTP side: a reverse proxy that checks and records every call, or an nginx ``auth_request``
endpoint that does the same for an nginx in front of the service.

A connection, in proxy mode: once its TLS handshake is done, before any request of it is read, the certificate
the client presented is put to the verdict of every server of ours that serves members over mutual TLS
(``CallerAuthenticator.handshake_verdict``, the same cache as step 1): a revoked, expired or not yet valid
certificate, or one of a member removed, is answered 403 with the reason and the connection closed
(:class:`HandshakeGate`, :func:`listen`). No event: no call was read, so there is no API, route or request to
record; the refusal is a log line and ``consortium_gateway_handshake_refused_total`` (``docs/gateway.md``). A
suspended member's connection is let in, and each of its calls denied ``member_suspended`` and recorded (step 3),
so that what a suspended firm still tries is in the log.

One call, in proxy mode (``docs/gateway.md`` has the reasons and statuses):

1. authenticate the caller from its TLS client certificate (:mod:`network.certificates`), again at each request
   of the connection (the certificate read once, at the handshake) — a failure is a 401 and no event (there is
   no caller to name);
2. find the API by method and route in the provider's service map — none is a 404 and no event;
   take one of the caller's slots of calls in flight (:mod:`gateway.inflight`) — none left is a 429, recorded;
3. decide from the on-chain grant (:mod:`gateway.policy`, cached; a miss is answered by a worker
   thread), reserve one unit of the grant's quota;
4. forward to the upstream service and stream its answer back, holding back the last chunk; or deny with a
   JSON reason;
5. append the event to the outbox (:mod:`notary.submit.outbox`) and only then release the rest of the
   response, with the event id, the log origin, the gateway id and ``traceparent`` in its headers.

An event is built here and nowhere else, so both modes describe calls the same way. The listener of the calls
(TLS in proxy mode, loopback HTTP in auth mode) serves nothing else; ``/healthz`` and ``/metrics`` are on a
separate admin listener on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from chain.node.linger import Discard, refusal_answer
from chain.trustview import TrustViewHealth
from gateway.breaker import BreakerHealth, CircuitBreaker
from gateway.headers import (
    CALLER_ORG_HEADER,
    CLIENT_CERT_HEADER,
    EVENT_HEADER,
    GATEWAY_HEADER,
    ORIGIN_HEADER,
    ORIGINAL_METHOD_HEADER,
    ORIGINAL_URI_HEADER,
    PURPOSE_HEADER,
    REASON_HEADER,
    TRACE_HEADER,
)
from gateway.inflight import InFlightHealth, InFlightLimiter
from gateway.policy import ChainUnavailableError, ChainView, ChainViewHealth, Decision, Service
from gateway.psi import PsiGuard, PsiStep, RecordMismatchError, claimed_tag, expects_record, record_fields
from gateway.quota import LocalQuota, QuotaCounter, QuotaHealth, QuotaUnavailableError, RunKey, keep_run
from network.certificates import AuthError, Caller, CallerAuthenticator
from notary.event import UnsequencedEvent
from notary.submit.digest import DigestSalts, GatewaySalt, body_digest, digest_hash, request_digest, response_digest
from notary.submit.outbox import Outbox, OutboxError, OutboxFullError
from notary.tracecontext import continue_trace
from privacy.asset import JOB_HEADER
from privacy.dp import format_milli
from privacy.record import MAX_RECORD_BYTES

log = logging.getLogger("gateway")


_PURPOSE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}\Z")
_ROUTE = re.compile(r"/[\x21-\x7e]{0,255}\Z")
#: Headers that describe one connection, not the message (RFC 9110 §7.6.1), and ours that a caller may not set.
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_STREAM_ABOVE: Final = 256 * 1024  # responses larger than this (or of unknown length) are streamed
_CALLER_POLL_S: Final = 0.1  # how often a streamed answer checks that its caller is still connected
#: The status recorded for a call whose caller went away before its answer was whole (nginx's convention).
CALLER_GONE_STATUS: Final = 499
#: The Retry-After (s) of a PSI request step refused because the same request is in flight (409 ``psi_run_in_flight``).
PSI_IN_FLIGHT_RETRY_S: Final = 2
#: The shortest lease of a PSI run in flight (:meth:`Gateway._run_lease_s`), renewed while its call is alive.
PSI_RUN_LEASE_MIN_S: Final = 60.0

_DETAILS: Final = {
    "purpose_missing": "the Consortium-Purpose header is missing or not a purpose name (a-z, 0-9, '.', '_', '-')",
    "quota_exhausted": "the grant's quota of calls is used up",
    "quota_unavailable": "the store that counts the grant's quota cannot be reached; the call is refused rather "
    "than admitted uncounted",
    "chain_unavailable": "the chain cannot be reached and the cached grant is too old to rely on",
}


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    org: str
    name: str
    log_origin: str
    mode: str = "proxy"  # "proxy" or "auth"
    upstream: str | None = None  # base URL of the upstream service (proxy mode)
    connect_timeout_s: float = 5.0
    upstream_timeout_s: float = 30.0  # for each read from the upstream
    breaker_failures: int = 5  # failures in a row that open the circuit breaker (gateway.breaker)
    breaker_cooldown_s: float = 10.0  # how long it stays open before a probe
    max_in_flight: int = 64  # calls of one caller (member org) in flight at once (gateway.inflight)
    max_body_bytes: int = 1024 * 1024

    @property
    def gateway_id(self) -> str:
        return f"{self.org}/{self.name}"


class _Metrics:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()  # (decision, reason or "") → count
        self.unauthenticated: Counter[str] = Counter()
        self.handshake_refused: Counter[str] = Counter()  # reason → connections refused once the handshake was done
        self.not_found = 0
        self.latency_us_sum = 0
        self.latency_count = 0


class OutboxHealth(TypedDict):
    last_seq: int
    shipped_seq: int
    pending: int
    max_pending: int
    oldest_pending_ms: int | None


class GatewayHealth(TypedDict):
    """The gateway's admin ``/healthz``, which ``consortium up``'s alarm probe reads (``network.alarms.probe``):
    ``degraded`` while an alarm holds, and each part's own report."""

    status: Literal["ok", "degraded"]
    gateway: str
    mode: str
    alarms: list[str]
    outbox: OutboxHealth
    chain: ChainViewHealth
    trust: TrustViewHealth | None
    shipper: Mapping[str, object]
    upstream: BreakerHealth
    in_flight: InFlightHealth
    quota: QuotaHealth


class Gateway:
    """Holds the parts of one gateway and answers its requests; :meth:`app` and :meth:`admin_app` are the two
    aiohttp applications to serve."""

    def __init__(
        self,
        settings: GatewaySettings,
        authenticator: CallerAuthenticator,
        chain: ChainView,
        outbox: Outbox,
        salt: bytes | DigestSalts,
        *,
        shipper_status: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        quota: QuotaCounter | None = None,
        psi: PsiGuard | None = None,
    ) -> None:
        if settings.mode not in ("proxy", "auth"):
            raise ValueError(f"gateway mode must be 'proxy' or 'auth', not {settings.mode!r}")
        if settings.mode == "proxy" and not settings.upstream:
            raise ValueError("a gateway in proxy mode needs the URL of its upstream service")
        self.settings = settings
        self.auth = authenticator
        self.chain = chain
        self.outbox = outbox
        self.quota: QuotaCounter = quota if quota is not None else LocalQuota(outbox)
        # each event's salt: from the provider's salt vault (schema version 2, or 3 under sm), or one salt for all
        # (version 1); the version fixes the hash of the digests and bodies (HMAC-SM3 and SM3 under sm)
        self._salts: DigestSalts = GatewaySalt(salt) if isinstance(salt, bytes) else salt
        self._hash = digest_hash(self._salts.version)
        self._empty_body = body_digest(b"", self._hash)
        self._shipper_status = shipper_status
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._upstream = (settings.upstream or "").rstrip("/")
        self._common = {ORIGIN_HEADER: settings.log_origin, GATEWAY_HEADER: settings.gateway_id}
        self.metrics = _Metrics()
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self.inflight = InFlightLimiter(settings.max_in_flight)
        self.psi = psi  # the PSI terms of the org's identifier sets (gateway.psi), checked before forwarding a step
        self._uncounted: set[str] = set()  # event ids of allowed calls that took no unit of quota (free PSI steps)
        self._dp_costs: dict[str, int] = {}  # event id → thousandths of ε its event spends of its grant's budget
        #: event ids of the PSI request steps in flight (each a run, unless its upstream gives no answer)
        self._runs: set[str] = set()
        #: event id → (job tag, the request's SHA-256) of each PSI request step in flight that counts as a run: kept
        #: in the outbox with its event when it is recorded counted (``Outbox.counted_run``)
        self._run_keys: dict[str, tuple[str, str]] = {}
        #: event id → (the counter that holds it, its run's key, the grant's quota) of each PSI request step in flight
        #: whose run it claimed (``QuotaCounter.claim_run``): marked counted once its event is, released with its unit
        #: and ε otherwise
        self._claims: dict[str, tuple[QuotaCounter, RunKey, int, float]] = {}  # ..., and the lease (s) of the run
        #: event id → the task that renews the lease of the run it claimed while its call is alive (``keep_run``),
        #: from when the call is forwarded until its run is marked counted or released
        self._leases: dict[str, asyncio.Task[None]] = {}
        #: the runs of grants with neither a quota nor a privacy budget (they cost nothing): kept by this gateway
        #: alone, in its outbox and memory, so that a shared quota store is not asked for them
        self._free_runs: QuotaCounter = self.quota if isinstance(self.quota, LocalQuota) else LocalQuota(outbox)
        #: event ids of admitted calls whose unit (and ε) is reserved and not yet used: it is used once the call's
        #: event is recorded counted, and given back if the call ends otherwise (``_admitted``)
        self._held: set[str] = set()
        self._call_salts: dict[str, bytes] = {}  # event id → its salt, while its call in proxy mode lasts
        #: each open connection's client certificate (DER; None without TLS or a certificate), read from its TLS
        #: object once at the handshake (:meth:`handshake_refusal`) until it is lost (:meth:`connection_lost`)
        self._peer_certificates: dict[asyncio.BaseTransport, bytes | None] = {}

    # ------------------------------------------------------------------------------------------ apps

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        if self.settings.mode == "proxy":
            app.router.add_route("*", "/{tail:.*}", self._proxy)
            app.on_startup.append(self._open_session)
            app.on_cleanup.append(self._close_session)
        else:
            app.router.add_route("*", "/auth", self._authorize)
        return app

    def admin_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _open_session(self, _app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.settings.connect_timeout_s, sock_read=self.settings.upstream_timeout_s
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )

    async def _close_session(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------------------------------ at the handshake

    def handshake_refusal(self, transport: asyncio.BaseTransport) -> bytes | None:
        """The whole answer to a TLS connection whose handshake just completed when the client's certificate is
        refused (``CallerAuthenticator.handshake_verdict``: 403 with the reason, ``Connection: close``), or None to
        serve it: a connection without TLS or without a certificate (each request is answered 401), one of a
        suspended member (each call denied ``member_suspended`` and recorded), and one whose member's status
        cannot be read now (each request is answered 503 ``chain_unavailable``). A refusal is
        logged and counted: there is no call to record as an event. The certificate is kept for the connection's
        requests (:meth:`peer_certificate`) until :meth:`connection_lost`."""
        der = self._peer_certificates[transport] = _peer_certificate(transport)
        try:
            refusal = self.auth.handshake_verdict(der, suspended=False)  # a suspended member's calls are recorded
        except ChainUnavailableError:
            return None
        if refusal is None:
            return None
        self.metrics.handshake_refused[refusal.reason] += 1
        peer = transport.get_extra_info("peername")
        log.warning("gateway %s refused a TLS connection from %s at the handshake: %s: %s", self.settings.gateway_id,
                    peer[0] if peer else "?", refusal.reason, refusal.detail)  # fmt: skip
        body = {"error": "forbidden", "reason": refusal.reason, "detail": refusal.detail}
        return refusal_answer(403, body, [*self._common.items(), (REASON_HEADER, refusal.reason)])

    def peer_certificate(self, transport: asyncio.BaseTransport) -> bytes | None:
        """The client certificate (DER) of the connection ``transport``, as read at its handshake: a connection's
        certificate cannot change, so a keep-alive connection's requests do not read it again from the TLS object
        (each request still checks it, revocation included, :meth:`CallerAuthenticator.authenticate`). A
        connection the handshake gate did not see (an application served otherwise) is read at each request."""
        try:
            return self._peer_certificates[transport]
        except KeyError:
            return _peer_certificate(transport)

    def connection_lost(self, transport: asyncio.BaseTransport) -> None:
        """Forget the certificate of a connection that ended."""
        self._peer_certificates.pop(transport, None)

    # ------------------------------------------------------------------------------------------ proxy mode

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter_ns()
        der = self.peer_certificate(request.transport) if request.transport else None
        try:
            caller = self.auth.authenticate(der)
        except AuthError as exc:
            return self._unauthenticated(exc)
        except ChainUnavailableError:
            return self._chain_unavailable()
        service = self.chain.service(request.method, request.path)
        if service is None:
            return self._not_found(request.method, request.path)
        trace, span = continue_trace(request.headers.get(TRACE_HEADER))
        event = self._event(caller, service, request.method, trace)
        try:
            if not self.inflight.acquire(caller.org):
                body = await self._read_body(request, self._body_limit(service))
                event["request_digest"] = self._request_digest(event, request, body or b"")
                limit = self.inflight.limit
                detail = (
                    f"{caller.org} already has {limit} calls in flight at this gateway, its limit; retry when one ends"
                )
                return await self._deny(event, "too_many_in_flight", 429, started, None, detail=detail, retry_after=1)
            try:
                return await self._admitted(request, caller, service, event, trace, span, started)
            finally:
                self.inflight.release(caller.org)
        finally:
            self._call_salts.pop(event["event_id"], None)

    def _body_limit(self, service: Service) -> int:
        """The most bytes a request body to ``service`` may take: ``max_body_bytes``, or more for the request step
        of a PSI asset whose terms allow larger requests (``gateway.psi``)."""
        derived = self.psi.body_limit(service) if self.psi is not None else None
        return max(self.settings.max_body_bytes, derived or 0)

    @staticmethod
    async def _read_body(request: web.Request, limit: int) -> bytes | None:
        """The request's body, or None when it is over ``limit`` bytes: refused on its declared length before
        anything is read, or as soon as the bytes read pass the limit, so at most ``limit`` bytes are held."""
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _salt(self, event: UnsequencedEvent) -> bytes:
        """The event's salt, derived once per call (HKDF of the day's epoch key, ``notary.submit.vault``): a call
        proxied digests its request and its response under it; :meth:`_proxy` forgets it when the call ends."""
        event_id = event["event_id"]
        salt = self._call_salts.get(event_id)
        if salt is None:
            salt = self._call_salts[event_id] = self._salts.salt(event_id, event["time_ms"])
        return salt

    def _request_digest(self, event: UnsequencedEvent, request: web.Request, body: bytes) -> str:
        body_hash = body_digest(body, self._hash) if body else self._empty_body
        return request_digest(self._salt(event), request.method, request.raw_path, body_hash, self._hash)

    def _response_digest(self, event: UnsequencedEvent, status: int, body_hash_hex: str) -> str:
        return response_digest(self._salt(event), status, body_hash_hex, self._hash)

    async def _admitted(
        self,
        request: web.Request,
        caller: Caller,
        service: Service,
        event: UnsequencedEvent,
        trace: str,
        span: str,
        started: int,
    ) -> web.StreamResponse:
        """The rest of a call that holds a slot: read, decide, forward or deny, record."""
        target = request.raw_path
        limit = self._body_limit(service)
        read = await self._read_body(request, limit)
        denial: tuple[str, int] | None
        detail: str | None = None
        step = self.psi.step(service) if self.psi is not None else None
        job = PsiStep(claimed_tag(request.headers.get(JOB_HEADER))) if step is not None else None
        dp_cost = 0  # thousandths of ε reserved of the grant's privacy budget (a PSI request step under a budget)
        run: tuple[str, str] | None = None  # a PSI request step's (job tag, request SHA-256): the run it starts
        retry_of: str | None = None  # the event id of the counted request step this one repeats, byte for byte
        if read is None:
            body, denial, decision = b"", ("body_too_large", 413), None
            detail = f"the request body is over {limit:,} bytes, the limit of {service.api}"
            if self.psi is not None and limit > self.settings.max_body_bytes:
                detail += f" ({self.psi.limit_detail(service)})"
        else:
            body = read
            purpose = request.headers.get(PURPOSE_HEADER)
            decision, denial = await self._decide(caller, service, purpose, charge=step is None)
            if step is not None and denial is None:  # a PSI step: its terms and size, then one run if it starts one
                assert self.psi is not None and decision is not None and purpose is not None
                try:
                    digest = await asyncio.get_running_loop().run_in_executor(
                        None, self.chain.metadata_digest, service.asset
                    )
                except ChainUnavailableError:
                    digest, denial = None, ("chain_unavailable", 503)
                if denial is None:
                    refused = self.psi.check(service, step, body, decision, purpose, caller.org, digest, job)
                    if refused is not None:
                        denial, detail = (refused.reason, refused.status), refused.detail
                    elif self.psi.counts_a_run(step) and job is not None and job.tag is not None:
                        run = (job.tag, hashlib.sha256(body).hexdigest())
                        try:
                            retry_of = self.outbox.counted_run(*run)
                        except OutboxError as exc:  # not known as a retry: counted as a run (never one too few)
                            log.warning("PSI run of event %s not looked up: %s", event["event_id"], exc)
                        if retry_of is None:  # the run, its unit and ε at once, unless counted or in flight elsewhere
                            denial, detail, dp_cost, retry_of = await self._claim_run(
                                service, decision, run, event["event_id"]
                            )
                    elif self.psi.counts_a_run(step):
                        # one run, then the job's ε of the grant's privacy budget
                        denial = await self._reserve(decision)
                        if denial is None:
                            denial, detail, dp_cost = await self._reserve_budget(service, decision)
                            if denial is not None:
                                self.quota.release(decision.grant_id or "")
        event["request_digest"] = self._request_digest(event, request, body)
        if job is not None and job.tag is not None:
            event["psi_job"] = job.tag
        if decision is not None:
            event["asset_version"] = decision.asset_version
            event["grant_id"] = decision.grant_id
        if denial is not None:
            retry_after = {"quota_unavailable": 1, "psi_run_in_flight": PSI_IN_FLIGHT_RETRY_S}.get(denial[0])
            return await self._deny(
                event, denial[0], denial[1], started, decision, detail=detail, retry_after=retry_after
            )
        assert decision is not None and decision.grant_id is not None
        event["decision"] = "allow"
        charged = step is None or (self.psi is not None and self.psi.counts_a_run(step) and retry_of is None)
        if retry_of is not None:  # the same request as a counted run: no second run, no ε (gateway.psi)
            event["psi_retry_of"] = retry_of
        if not charged:
            self._uncounted.add(event["event_id"])
        elif step is not None:  # a run, unless the owner's service gives no answer (_no_answer)
            self._runs.add(event["event_id"])
            if run is not None:
                self._run_keys[event["event_id"]] = run
        if dp_cost and self.quota.spends_in_event():
            self._dp_costs[event["event_id"]] = dp_cost
        if dp_cost and "psi_job" in event:  # the ε charged, stated in the log (the explorer adds it up)
            event["psi_dp_cost"] = format_milli(dp_cost)
        grant_id, event_id = decision.grant_id, event["event_id"]
        self._held.add(event_id)
        try:
            self._keep_claim(event_id)
            if self.outbox.pending_count >= self.outbox.max_pending:  # the call could not be recorded: not forwarded
                return self._outbox_full()
            timeout = self.psi.timeout_s(service) if self.psi is not None else None
            return await self._forward(request, event, body, target, trace, span, caller, started, job, timeout)
        except OutboxFullError:  # filled by the calls in flight since the check
            return self._outbox_full()
        finally:
            # Each call is counted once, whatever became of its answer: a call whose event was recorded counted has
            # used its unit and ε, even if its answer was then cut off (by the upstream or the caller) or the write
            # of its last chunk failed; any other gives them back: not recorded (outbox full, a failure), or
            # recorded uncounted (a PSI request step the owner's service gave no answer to: no run, _no_answer).
            claim = self._end_claim(event_id)
            if event_id in self._held:
                self._held.discard(event_id)
                if claim is not None:  # the run's key too, so that the same request sent again is a run
                    claim[0].release_run(grant_id, claim[1], event_id, claim[2], dp_cost)
                else:
                    if charged:
                        self.quota.release(grant_id)
                    if dp_cost:
                        self.quota.release_budget(grant_id, dp_cost)
            self._uncounted.discard(event_id)
            self._dp_costs.pop(event_id, None)
            self._runs.discard(event_id)
            self._run_keys.pop(event_id, None)

    def _no_answer(self, event: UnsequencedEvent) -> None:
        """The upstream gave no answer (whole) to the call of ``event``: a PSI request step is then no run
        (``gateway.psi``): its event is recorded uncounted and without ε, and :meth:`_admitted` gives the unit and
        the ε back, so that the client sends the same step again (the owner's service answers it the same) at no
        second run. Any other call counts as before: its event is recorded counted, and its unit stays used."""
        event_id = event["event_id"]
        if event_id in self._runs:
            self._uncounted.add(event_id)
            self._dp_costs.pop(event_id, None)
            event.pop("psi_dp_cost", None)

    async def _decide(
        self, caller: Caller, service: Service, purpose: str | None, *, charge: bool = True
    ) -> tuple[Decision | None, tuple[str, int] | None]:
        """The grant decision and, if the call is refused, (reason, status). Reserves a unit of quota when the
        call is allowed and ``charge`` (``gateway.quota``: the local counter checks and reserves in one step,
        PostgreSQL in one statement); a quota store that cannot be reached refuses the call (503
        ``quota_unavailable``)."""
        if purpose is None or _PURPOSE.match(purpose) is None:
            return None, ("purpose_missing", 403)
        now = self._clock()
        try:
            decision = self.chain.cached_decision(service.asset, caller.org, purpose, now)
            if decision is None:
                loop = asyncio.get_running_loop()
                decision = await loop.run_in_executor(None, self.chain.decide, service.asset, caller.org, purpose, now)
        except ChainUnavailableError:
            return None, ("chain_unavailable", 503)
        if not decision.allowed:
            assert decision.reason is not None
            return decision, (decision.reason, 403)
        if not charge:
            return decision, None
        return decision, await self._reserve(decision)

    async def _reserve_budget(
        self, service: Service, decision: Decision
    ) -> tuple[tuple[str, int] | None, str | None, int]:
        """Reserve the ε a PSI job of ``service`` spends of the grant's privacy budget, when the asset's terms set
        one (``gateway.psi``, ``privacy.dp``): (None, None, the cost reserved), or (reason and status, detail, 0)
        when the job would take the grant's spent total over the budget or the store cannot be reached."""
        assert self.psi is not None and decision.grant_id is not None
        budget = self.psi.budget(service, decision.grant_id)
        if budget is None:
            return None, None, 0
        try:
            admitted, spent = await self.quota.reserve_budget(decision.grant_id, budget.cost, budget.limit)
        except QuotaUnavailableError as exc:
            log.warning("PSI job under grant %s refused: %s", decision.grant_id, exc)
            return ("quota_unavailable", 503), None, 0
        if not admitted:
            return ("dp_budget_exhausted", 403), budget.refusal(decision.grant_id, spent), 0
        return None, None, budget.cost

    async def _claim_run(
        self, service: Service, decision: Decision, run: RunKey, event_id: str
    ) -> tuple[tuple[str, int] | None, str | None, int, str | None]:
        """Claim the run of a PSI request step with key ``run`` (``gateway.quota``): its unit of quota and the ε of
        the job, when the asset's terms set a budget, taken with its key (a grant with neither costs nothing: its
        runs are this gateway's own, the shared store is not asked). (None, None, the ε taken, None) when
        claimed; (None, None, 0, the counted step's event id) when it is the same request as a counted run (on any
        replica sharing the store); (reason and status, detail, 0, None) when the same request is in flight, the
        grant's runs or budget are used up, or the store cannot be reached."""
        assert self.psi is not None and decision.grant_id is not None
        grant_id = decision.grant_id
        budget = self.psi.budget(service, grant_id)
        counter = self.quota if decision.quota > 0 or budget is not None else self._free_runs
        lease_s = self._run_lease_s(service)
        try:
            claim = await counter.claim_run(
                grant_id, run, event_id, decision.quota,
                None if budget is None else (budget.cost, budget.limit), lease_s,
            )  # fmt: skip
        except QuotaUnavailableError as exc:
            log.warning("PSI job under grant %s refused: %s", grant_id, exc)
            return ("quota_unavailable", 503), None, 0, None
        if claim.outcome == "claimed":  # in flight, its lease renewed until it is marked counted or released
            self._claims[event_id] = (counter, run, decision.quota, lease_s)
            return None, None, claim.dp_cost, None
        if claim.outcome == "retry":
            return None, None, 0, claim.retry_of
        if claim.outcome == "in_flight":
            detail = (
                "the same request step of this job (the same bytes) is still in flight at the owner's gateway; send "
                f"it again in {PSI_IN_FLIGHT_RETRY_S} s: once it is answered it is answered the same at no second run"
            )
            return ("psi_run_in_flight", 409), detail, 0, None
        if claim.outcome == "dp_budget_exhausted" and budget is not None:
            return ("dp_budget_exhausted", 403), budget.refusal(grant_id, claim.spent), 0, None
        return ("quota_exhausted", 403), None, 0, None

    def _keep_claim(self, event_id: str) -> None:
        """Renew the lease of the run ``event_id``'s call claimed, if it claimed one, until :meth:`_end_claim`."""
        claim = self._claims.get(event_id)
        if claim is not None:
            counter, run, _quota, lease_s = claim
            self._leases[event_id] = asyncio.create_task(keep_run(counter, run, event_id, lease_s))

    def _end_claim(self, event_id: str) -> tuple[QuotaCounter, RunKey, int, float] | None:
        """The claim of the run of ``event_id``'s call, if it holds one, no longer held by this call: its lease is
        no longer renewed (the caller marks it counted or releases it)."""
        lease = self._leases.pop(event_id, None)
        if lease is not None:
            lease.cancel()
        return self._claims.pop(event_id, None)

    def _run_lease_s(self, service: Service) -> float:
        """How long a PSI run's key stays in flight without a renewal before another request may take it over (a
        replica that died with it; ``gateway.quota``): twice the longest the gateway waits for the owner's service to
        connect and to send a read, at least :data:`PSI_RUN_LEASE_MIN_S`."""
        read_s = max(self.settings.upstream_timeout_s, (self.psi.timeout_s(service) if self.psi else None) or 0.0)
        return max(PSI_RUN_LEASE_MIN_S, 2 * (self.settings.connect_timeout_s + read_s))

    async def _reserve(self, decision: Decision) -> tuple[str, int] | None:
        """Reserve one unit of the allowed ``decision``'s quota; (reason, status) if none is left or the store
        cannot be reached."""
        assert decision.grant_id is not None
        try:  # the local counter does not suspend here: its check and reservation are one step
            admitted = await self.quota.reserve(decision.grant_id, decision.quota)
        except QuotaUnavailableError as exc:
            log.warning("call under grant %s refused: %s", decision.grant_id, exc)
            return ("quota_unavailable", 503)
        if not admitted:
            return ("quota_exhausted", 403)
        return None

    async def _forward(
        self,
        request: web.Request,
        event: UnsequencedEvent,
        body: bytes,
        target: str,
        trace: str,
        span: str,
        caller: Caller,
        started: int,
        job: PsiStep | None = None,
        timeout_s: float | None = None,
    ) -> web.StreamResponse:
        """Forward the call; ``timeout_s`` (a PSI request step's budget) lengthens the wait for each read from the
        upstream when it is longer than ``upstream_timeout_s``."""
        assert self._session is not None
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("consortium-")
        }
        headers[TRACE_HEADER] = trace
        headers[CALLER_ORG_HEADER] = caller.org
        headers[EVENT_HEADER] = event["event_id"]
        peer = request.remote or ""
        forwarded = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        if not self.breaker.allow():
            return await self._upstream_failed(event, 503, "circuit_open", trace, started)
        read_s = max(self.settings.upstream_timeout_s, timeout_s or 0.0)
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout_s, sock_read=read_s)
        try:
            upstream = await self._session.request(
                request.method,
                self._upstream + target,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except TimeoutError:
            self.breaker.failure()
            return await self._upstream_failed(event, 504, "upstream_timeout", trace, started, read_s)
        except aiohttp.ClientError as exc:
            self.breaker.failure()
            log.warning("upstream %s unreachable: %s", self._upstream, exc)
            return await self._upstream_failed(event, 502, "upstream_unreachable", trace, started)
        if upstream.status >= 500:
            self.breaker.failure()
        else:
            self.breaker.success()
        try:
            out_headers = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("consortium-")
            }  # the Consortium-* headers of an answer are the gateway's alone: a service cannot forge a denial
            out_headers.update(self._common)
            out_headers[EVENT_HEADER] = event["event_id"]
            out_headers[TRACE_HEADER] = trace
            event["status"] = upstream.status
            length = upstream.content_length
            if expects_record(job, upstream.status) and (length is None or length > MAX_RECORD_BYTES):
                size = "of unknown length" if length is None else f"of {length:,} bytes"
                return await self._record_mismatch(event, f"the answer is {size}, over the {MAX_RECORD_BYTES:,} "
                                                   "bytes of a signed record", trace, started)  # fmt: skip
            if length is not None and length <= _STREAM_ABOVE:
                try:
                    content = await upstream.read()
                except (TimeoutError, aiohttp.ClientError):
                    self.breaker.failure()
                    return await self._upstream_failed(event, 504, "upstream_timeout", trace, started, read_s)
                try:
                    fields = None if job is None else record_fields(job, upstream.status, content)
                except RecordMismatchError as exc:
                    return await self._record_mismatch(event, str(exc), trace, started)
                event["response_digest"] = self._response_digest(
                    event, upstream.status, body_digest(content, self._hash)
                )
                if fields is not None and "psi_job" in event:
                    event["psi_record"] = fields.digest
                    event["psi_summary"] = fields.summary
                await self._record(event, started)
                return web.Response(status=upstream.status, body=content, headers=out_headers)
            try:
                return await self._stream(request, upstream, event, out_headers, started)
            except OutboxFullError as exc:  # the answer has begun: abort it rather than start another one
                raise ConnectionResetError("the outbox is full") from exc
        finally:
            upstream.release()

    async def _stream(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        event: UnsequencedEvent,
        headers: dict[str, str],
        started: int,
    ) -> web.StreamResponse:
        """Pass a large or open-ended body on as it arrives, holding back the last chunk until the event is
        committed; a failure on either side aborts the connection, so the caller never sees a whole response
        that was not recorded.

        A caller that goes away mid-response is noticed within ``_CALLER_POLL_S`` even while the upstream is
        silent: the upstream's answer is closed, the call recorded with status 499 and no response digest, and
        the call's slot freed. It says nothing about the upstream, so the circuit breaker does not count it.

        An upstream that fails mid-response: the call is recorded with status 502 and no response digest. Either
        way the call counts against its grant's quota once, like one answered whole (the provider's service did
        the work; :meth:`_admitted`), except a PSI request step whose upstream broke off: no run
        (:meth:`_no_answer`)."""
        response = web.StreamResponse(status=upstream.status, headers=headers)
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        digest = hashlib.new(self._hash)
        held: bytes | None = None
        gone = asyncio.Event()
        watcher = asyncio.create_task(self._close_when_caller_leaves(request, upstream, gone))
        try:
            async for chunk in upstream.content.iter_any():
                digest.update(chunk)
                if held is not None:
                    try:
                        await response.write(held)
                    except ConnectionResetError:
                        gone.set()
                        break
                held = chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            if not gone.is_set():
                self.breaker.failure()
                log.warning("upstream failed while streaming event %s: %s", event["event_id"], exc)
                event["response_digest"] = None
                event["status"] = 502
                self._no_answer(event)
                await self._record(event, started)
                raise ConnectionResetError("upstream failed mid-response") from exc
        finally:
            watcher.cancel()
        if gone.is_set():
            log.info("caller of event %s went away mid-response", event["event_id"])
            event["response_digest"] = None
            event["status"] = CALLER_GONE_STATUS
            await self._record(event, started)
            raise ConnectionResetError("the caller went away mid-response")
        event["response_digest"] = self._response_digest(event, upstream.status, digest.hexdigest())
        await self._record(event, started)
        if held is not None:
            await response.write(held)
        await response.write_eof()
        return response

    @staticmethod
    async def _close_when_caller_leaves(
        request: web.Request, upstream: aiohttp.ClientResponse, gone: asyncio.Event
    ) -> None:
        """Set ``gone`` and close ``upstream`` once the caller's connection is closed (aiohttp does not cancel a
        handler whose caller left, and a handler waiting on a silent upstream would not notice)."""
        while (transport := request.transport) is not None and not transport.is_closing():
            await asyncio.sleep(_CALLER_POLL_S)
        gone.set()
        upstream.close()

    async def _record_mismatch(self, event: UnsequencedEvent, why: str, trace: str, started: int) -> web.Response:
        """Refuse to pass on the owner's 200 answer to a record step that is not the record it forwarded signed by
        both (``gateway.psi``): 502 ``psi_record_mismatch``, recorded without ``psi_record``."""
        log.warning("the owner's answer to record step %s is not passed on: %s", event["event_id"], why)
        detail = (
            f"the owner's service answered the record step with something other than the record this gateway "
            f"forwarded, signed by both parties: {why}; nothing was passed on and the event names no record"
        )
        return await self._upstream_failed(event, 502, "psi_record_mismatch", trace, started, detail=detail)

    async def _upstream_failed(
        self,
        event: UnsequencedEvent,
        status: int,
        reason: str,
        trace: str,
        started: int,
        read_s: float | None = None,
        *,
        detail: str | None = None,
    ) -> web.Response:
        error = {502: "bad_gateway", 503: "service_unavailable"}.get(status, "gateway_timeout")
        waited = read_s or self.settings.upstream_timeout_s
        detail = (
            detail
            or {
                "upstream_unreachable": "the provider's service could not be reached",
                "upstream_timeout": f"the provider's service did not answer within {waited:g} s",
                "circuit_open": f"the provider's service failed {self.breaker.threshold} times in a row; calls are cut "
                f"off for up to {self.breaker.cooldown_s:g} s, then one goes through to try it",
            }[reason]
        )
        body = json.dumps({"error": error, "reason": reason, "detail": detail, "event_id": event["event_id"]}).encode()
        event["status"] = status
        event["response_digest"] = self._response_digest(event, status, body_digest(body, self._hash))
        self._no_answer(event)  # (a record step's mismatch is no request step: it counts nothing anyway)
        await self._record(event, started)
        headers = {**self._common, EVENT_HEADER: event["event_id"], TRACE_HEADER: trace, REASON_HEADER: reason}
        if status == 503:
            headers["Retry-After"] = str(self.breaker.retry_after_s())
        return web.Response(status=status, body=body, content_type="application/json", headers=headers)

    # ------------------------------------------------------------------------------------------ auth mode

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        """nginx ``auth_request``: 204 with the event headers, or 401/403 with the reason in a header (nginx
        passes only the status on; its configuration turns the headers into the caller's answer)."""
        started = time.perf_counter_ns()
        method = request.headers.get(ORIGINAL_METHOD_HEADER, "")
        uri = request.headers.get(ORIGINAL_URI_HEADER, "")
        if not method or _ROUTE.match(uri) is None:
            return web.json_response(
                {
                    "error": "bad_request",
                    "reason": "bad_subrequest",
                    "detail": f"{ORIGINAL_METHOD_HEADER} and {ORIGINAL_URI_HEADER} (a path) are required",
                },
                status=400,
            )
        cert = request.headers.get(CLIENT_CERT_HEADER)
        try:
            caller = self.auth.authenticate_pem(unquote(cert) if cert else None)
        except AuthError as exc:
            return self._unauthenticated(exc)
        except ChainUnavailableError:
            return self._chain_unavailable()
        path = uri.split("?", 1)[0]
        service = self.chain.service(method, path)
        if service is None:
            return self._not_found(method, path)
        trace, _span = continue_trace(request.headers.get(TRACE_HEADER))
        event = self._event(caller, service, method, trace)
        salt = self._salts.salt(event["event_id"], event["time_ms"])  # one digest of this call: not kept
        event["request_digest"] = request_digest(salt, method, uri, self._empty_body, self._hash)
        if self.psi is not None and self.psi.step(service) is not None:  # nginx shows no body: no size to check
            tag = claimed_tag(request.headers.get(JOB_HEADER))
            if tag is not None:
                event["psi_job"] = tag
            detail = "the steps of a PSI job are served by a gateway in proxy mode, which reads the request"
            return await self._deny(event, "psi_needs_proxy", 403, started, None, detail=detail)
        decision, denial = await self._decide(caller, service, request.headers.get(PURPOSE_HEADER))
        if decision is not None:
            event["asset_version"] = decision.asset_version
            event["grant_id"] = decision.grant_id
        if denial is not None:
            reason, status = denial
            # nginx understands only 401 and 403 from an auth subrequest; 503 becomes a 403 with its reason.
            return await self._deny(
                event, reason, 403 if status != 401 else 401, started, decision, status_recorded=status
            )
        assert decision is not None and decision.grant_id is not None
        event["decision"] = "allow"
        event["status"] = 200
        try:
            await self._record(event, started)
        except OutboxFullError:
            self.quota.release(decision.grant_id)
            return self._outbox_full()
        except BaseException:
            self.quota.release(decision.grant_id)
            raise
        headers = {**self._common, EVENT_HEADER: event["event_id"], TRACE_HEADER: trace, CALLER_ORG_HEADER: caller.org}
        return web.Response(status=204, headers=headers)

    # ------------------------------------------------------------------------------------------ shared

    def _event(self, caller: Caller, service: Service, method: str, trace: str) -> UnsequencedEvent:
        """The event of a call as it starts: denied, with no status yet; the request digest is set once the body
        is read (an event recorded without it is refused by the outbox: not 64 hex digits)."""
        return {
            "v": self._salts.version,
            "event_id": str(uuid.uuid4()),
            "traceparent": trace,
            "time_ms": int(self._clock() * 1000),
            "caller_org": caller.org,
            "caller_identity": caller.identity_for(self._salts.version),  # SHA-256, or SM3 in version 3
            "provider_org": self.settings.org,
            "center": service.center,
            "unit": service.unit,
            "api": service.api,
            "method": method,
            "route": service.route,
            "asset_id": service.asset,
            "asset_version": None,
            "grant_id": None,
            "decision": "deny",
            "denial_reason": None,
            "request_digest": "",
            "response_digest": None,
            "status": 0,
            "latency_us": 0,
            "gateway_id": self.settings.gateway_id,
        }

    async def _record(self, event: UnsequencedEvent, started: int) -> None:
        event["latency_us"] = (time.perf_counter_ns() - started) // 1000
        counted = event["event_id"] not in self._uncounted
        await self.outbox.append_async(
            event,
            counted=counted,
            dp_cost=self._dp_costs.get(event["event_id"], 0) if event["decision"] == "allow" else 0,
            run=self._run_keys.get(event["event_id"]) if event["decision"] == "allow" else None,
        )
        if counted:  # its unit (and ε) is used now, whatever becomes of the answer (_admitted)
            self._held.discard(event["event_id"])
            claim = self._end_claim(event["event_id"])
            if claim is not None:  # a repeat of the request on any replica takes nothing from now on
                await claim[0].run_recorded(event["grant_id"] or "", claim[1], event["event_id"])
        self.metrics.calls[(event["decision"], event["denial_reason"] or "")] += 1
        self.metrics.latency_us_sum += event["latency_us"]
        self.metrics.latency_count += 1

    async def _deny(
        self,
        event: UnsequencedEvent,
        reason: str,
        status: int,
        started: int,
        decision: Decision | None,
        *,
        status_recorded: int | None = None,
        detail: str | None = None,
        retry_after: int | None = None,
    ) -> web.Response:
        if detail is None:
            detail = (
                decision.detail if decision is not None and decision.reason == reason else _DETAILS.get(reason, reason)
            )
        body = json.dumps(
            {
                "error": {400: "bad_request", 403: "forbidden", 409: "conflict", 429: "too_many_requests"}.get(
                    status, "unavailable"
                ),
                "reason": reason,
                "detail": detail,
                "event_id": event["event_id"],
            }
        ).encode()
        event["decision"] = "deny"
        event["denial_reason"] = reason
        event["status"] = status_recorded or status
        if self.settings.mode == "proxy":
            event["response_digest"] = self._response_digest(event, status, body_digest(body, self._hash))
        try:
            await self._record(event, started)
        except OutboxFullError:
            return self._outbox_full()
        headers = {
            **self._common,
            EVENT_HEADER: event["event_id"],
            "traceparent": event["traceparent"],
            REASON_HEADER: reason,
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return web.Response(status=status, body=body, content_type="application/json", headers=headers)

    def _unauthenticated(self, exc: AuthError) -> web.Response:
        self.metrics.unauthenticated[exc.reason] += 1
        return web.json_response(
            {"error": "unauthorized", "reason": exc.reason, "detail": exc.detail},
            status=401,
            headers={REASON_HEADER: exc.reason},
        )

    def _not_found(self, method: str, path: str) -> web.Response:
        self.metrics.not_found += 1
        return web.json_response(
            {
                "error": "not_found",
                "reason": "unknown_api",
                "detail": f"{self.settings.org} serves no API at {method} {path[:200]}",
            },
            status=404,
            headers={REASON_HEADER: "unknown_api"},
        )

    @staticmethod
    def _chain_unavailable() -> web.Response:
        """The caller's membership cannot be checked: the chain is unreachable and the cache too old. No event:
        the caller is not authenticated."""
        return web.json_response(
            {"error": "unavailable", "reason": "chain_unavailable", "detail": _DETAILS["chain_unavailable"]},
            status=503,
            headers={REASON_HEADER: "chain_unavailable", "Retry-After": "5"},
        )

    @staticmethod
    def _outbox_full() -> web.Response:
        return web.json_response(
            {
                "error": "unavailable",
                "reason": "outbox_full",
                "detail": "the gateway cannot record more calls until its outbox drains to the notary",
            },
            status=503,
            headers={REASON_HEADER: "outbox_full", "Retry-After": "5"},
        )

    # ------------------------------------------------------------------------------------------ admin

    def health(self) -> GatewayHealth:
        stats = self.outbox.stats()
        chain = self.chain.health()
        shipper = dict(self._shipper_status()) if self._shipper_status else {}
        alarms: list[str] = []
        if stats.high:
            alarms.append("outbox-high")
        if chain.get("stale"):
            alarms.append("chain-stale")
        if shipper.get("refused"):
            alarms.append("notary-refused")
        if self.breaker.state != "closed":
            alarms.append("upstream-circuit-open")
        quota = self.quota.health()
        if not quota.get("reachable", True):
            alarms.append("quota-store-unreachable")
        return {
            "status": "ok" if not alarms else "degraded",
            "gateway": self.settings.gateway_id,
            "mode": self.settings.mode,
            "alarms": alarms,
            "outbox": {
                "last_seq": stats.last_seq,
                "shipped_seq": stats.shipped_seq,
                "pending": stats.pending,
                "max_pending": stats.max_pending,
                "oldest_pending_ms": stats.oldest_pending_ms,
            },
            "chain": chain,
            # its view of the TrustDirectory (the member CAs, revoked serials): the head it answers for
            "trust": None if self.auth.trust is None else self.auth.trust.health(),
            "shipper": shipper,
            "upstream": self.breaker.health(),
            "in_flight": self.inflight.health(),
            "quota": quota,
        }

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response(self.health())

    async def _metrics(self, _request: web.Request) -> web.Response:
        health = self.health()
        lines = [
            "# TYPE consortium_gateway_calls_total counter",
            *(
                f'consortium_gateway_calls_total{{decision="{d}",reason="{r}"}} {n}'
                for (d, r), n in sorted(self.metrics.calls.items())
            ),
            "# TYPE consortium_gateway_unauthenticated_total counter",
            *(
                f'consortium_gateway_unauthenticated_total{{reason="{r}"}} {n}'
                for r, n in sorted(self.metrics.unauthenticated.items())
            ),
            "# TYPE consortium_gateway_handshake_refused_total counter",
            *(
                f'consortium_gateway_handshake_refused_total{{reason="{r}"}} {n}'
                for r, n in sorted(self.metrics.handshake_refused.items())
            ),
            "# TYPE consortium_gateway_not_found_total counter",
            f"consortium_gateway_not_found_total {self.metrics.not_found}",
            "# TYPE consortium_gateway_latency_us_sum counter",
            f"consortium_gateway_latency_us_sum {self.metrics.latency_us_sum}",
            f"consortium_gateway_latency_us_count {self.metrics.latency_count}",
            "# TYPE consortium_gateway_outbox_pending gauge",
            f"consortium_gateway_outbox_pending {health['outbox']['pending']}",
            f"consortium_gateway_outbox_last_seq {health['outbox']['last_seq']}",
            f"consortium_gateway_outbox_shipped_seq {health['outbox']['shipped_seq']}",
            "# TYPE consortium_gateway_upstream_circuit_open gauge",
            f"consortium_gateway_upstream_circuit_open {int(self.breaker.state != 'closed')}",
            "# TYPE consortium_gateway_upstream_refused_total counter",
            f"consortium_gateway_upstream_refused_total {self.breaker.refused}",
            "# TYPE consortium_gateway_in_flight gauge",
            f"consortium_gateway_in_flight {self.inflight.in_flight()}",
            "# TYPE consortium_gateway_in_flight_refused_total counter",
            f"consortium_gateway_in_flight_refused_total {health['in_flight']['refused']}",
            "# TYPE consortium_gateway_quota_store_up gauge",
            f"consortium_gateway_quota_store_up {int(health['quota'].get('reachable', True))}",
            "# TYPE consortium_gateway_quota_unavailable_total counter",
            f"consortium_gateway_quota_unavailable_total {health['quota'].get('refused', 0)}",
            "# TYPE consortium_gateway_alarm gauge",
            *(f'consortium_gateway_alarm{{name="{a}"}} 1' for a in health["alarms"]),
            f"consortium_gateway_chain_head {health['chain'].get('head', 0)}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def _peer_certificate(transport: asyncio.BaseTransport) -> bytes | None:
    """The client certificate (DER) of a TLS connection, from its TLS object; None without TLS or a certificate."""
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


class HandshakeGate(asyncio.Protocol):
    """One connection to the calls' listener: ``gateway`` judges its client certificate once the TLS handshake is
    done (:meth:`Gateway.handshake_refusal`); a refused connection is answered and closed without a request of it
    being read (what the client sends meanwhile is dropped, ``chain.node.linger.Discard``), any other is handed
    to a protocol of ``protocols`` (aiohttp's, made then), which checks the certificate again at each request."""

    def __init__(self, gateway: Gateway, protocols: Callable[[], asyncio.Protocol]) -> None:
        self._gateway = gateway
        self._protocols = protocols
        self._inner: asyncio.Protocol = asyncio.Protocol()  # until the connection is let in
        self._refused: Discard | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        answer = self._gateway.handshake_refusal(transport)
        if answer is None:
            self._inner = self._protocols()
            self._inner.connection_made(transport)
        else:
            self._refused = Discard(transport, answer)

    def data_received(self, data: bytes) -> None:
        if self._refused is None:
            self._inner.data_received(data)
        else:
            self._refused.received(data)

    def eof_received(self) -> bool | None:
        if self._refused is None:
            return self._inner.eof_received()
        self._refused.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._gateway.connection_lost(self._transport)
        if self._refused is None:
            self._inner.connection_lost(exc)
        else:
            self._refused.close()

    def pause_writing(self) -> None:
        if self._refused is None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._refused is None:
            self._inner.resume_writing()


async def listen(
    gateway: Gateway,
    runner: web.AppRunner,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    backlog: int = 1024,
) -> asyncio.Server:
    """Serve ``runner`` (set up, :meth:`Gateway.app`'s) on ``host``:``port``, each connection through a
    :class:`HandshakeGate` of ``gateway``. Close the server returned before cleaning the runner up."""
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up before listening")
    return await asyncio.get_running_loop().create_server(
        lambda: HandshakeGate(gateway, server), host, port, ssl=ssl_context, backlog=backlog
    )


__all__ = ["Gateway", "GatewaySettings", "HandshakeGate", "OutboxError", "listen"]
