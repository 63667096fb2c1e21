"""Where a gateway counts its grants' quotas: in its own outbox, or in PostgreSQL shared by the replicas of one
provider's gateway.

A grant's quota is the number of allowed calls it permits over its whole validity (0 = unlimited). The gateway
takes one unit before it forwards a call (:meth:`QuotaCounter.reserve`) and gives it back when the call could not
be recorded (:meth:`QuotaCounter.release`).

* :class:`LocalQuota` is the outbox's counter (``notary.submit.outbox``): reservations in memory, uses persisted
  with each allowed event. It is exact across restarts and ``kill -9``, but each gateway counts alone: two
  replicas behind a load balancer would each admit the whole quota.
* :class:`PostgresQuota` keeps one row per (grant, window) in a PostgreSQL database the replicas share, and takes
  a unit with one statement (``INSERT ... ON CONFLICT DO UPDATE SET used = used + 1 WHERE used < limit
  RETURNING used``): the row lock serialises the replicas' increments, so together they never admit more than
  the quota. Each replica keeps its own outbox and sequence numbers; only the count is shared.

**Failing closed.** When PostgreSQL cannot be reached (connection refused, the connect timeout of
``connect_timeout_s`` passed, a statement over ``statement_timeout_ms``), :meth:`PostgresQuota.reserve` raises
:class:`QuotaUnavailableError` and the gateway refuses the call with 503 ``quota_unavailable``, recorded like
any refusal: a call under a quota is never admitted unchecked. After a failure it does not try again for
``retry_s`` (the calls meanwhile are refused at once, without waiting for a timeout each); a connection that
broke while idle (the server restarted) is replaced once before a call is refused. Calls under grants without a
quota never touch PostgreSQL.

**What the shared count means.** A unit is taken in PostgreSQL before the call is forwarded and committed at
once, not in the outbox's transaction: a replica that dies between taking a unit and recording its event has
used a unit for a call nobody received, and a release that cannot reach PostgreSQL leaves its unit used. Both err
towards admitting fewer calls than the quota, never more.

**Privacy budgets.** A grant of a PSI asset whose terms set ``dp_budget`` (``privacy.dp``) is admitted a job only
while the ε its jobs spent, plus the job's, stays within the budget (:meth:`QuotaCounter.reserve_budget`, in
thousandths of ε). :class:`LocalQuota` keeps the spent total in the outbox, written in the transaction of the job's
request event (``notary.submit.outbox``); :class:`PostgresQuota` in a second table, ``gateway_dp_budget``, one row
per grant, taken by one statement (``... SET spent = spent + cost WHERE spent + cost <= budget``) like a unit of
quota, so the replicas together never spend more than the budget; like a unit, it errs towards spending: a replica
that dies between taking the cost and recording its event has spent ε on a job nobody ran.

**PSI runs.** A PSI request step is one run of its job (``gateway.psi``), keyed by the job's tag and the SHA-256 of
the request's bytes: the same request sent again after its run was counted takes nothing (the gateway records it
``psi_retry_of`` the counted step's event), and one sent again while the first is still in flight is refused (409
``psi_run_in_flight``) rather than counted twice. :meth:`QuotaCounter.claim_run` takes the run's unit and ε together
with its key, marked in flight under a lease; :meth:`QuotaCounter.renew_run` extends the lease while the run's call is
alive; :meth:`QuotaCounter.run_recorded` marks it counted once its event is recorded counted;
:meth:`QuotaCounter.release_run` drops the key and gives the unit and ε back when the call ends otherwise (no answer
from the owner's service, not recorded). :class:`LocalQuota` keeps the keys in flight and their leases in memory, on
its clock (one gateway: its outbox's ``psi_runs``, written with the counted event, knows the counted ones);
:class:`PostgresQuota` in a third table, ``gateway_psi_runs`` (schema version 3), written in the transaction that
takes the unit and the ε, so that a repeat on any replica finds the run: counted (it takes nothing) or in flight
(refused). A row is kept once counted (some 250 bytes a run).

**The lease of a run in flight.** A run's key is claimed with a lease of twice the longest the gateway waits for the
owner's service (``gateway.server``, at least 60 s). While the call is alive (waiting for the owner's service, its
answer streaming to the caller, its event being recorded) :func:`keep_run` renews it every third of the lease
(:data:`RENEWALS_PER_LEASE`), to a whole lease from then, and only while this call still holds the key (the row's
``event_id``, not counted): one ``UPDATE`` for :class:`PostgresQuota`, no round trip for :class:`LocalQuota`. A run
that ends within a third of its lease (most do) costs no round trip more; a longer one costs one per third of a
lease (a run of 5 minutes under the default lease of 70 s: 12). It stops when the run is marked counted or released.
So a repeat during a long live run is refused 409 ``psi_run_in_flight``, however long it runs; only a run whose call
stopped renewing (a replica that died with it in flight, or one that could not reach the store for two renewals
running) leaves its key to be taken over once the lease ends, by a request that then counts a new run (erring
towards counting, like the units above). A renewal that finds the key taken over changes nothing and stops; the
late call's release gives back its own unit and ε only.

**Windows.** Quotas count over a grant's whole validity, so every row has the window ``grant``; the window is
part of the key so that quotas per period can be counted in the same table.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, Protocol, TypedDict

from gateway.errors import GatewayError
from notary.storage.schema import Migration, Schema, SchemaError, migrate
from notary.submit.outbox import Outbox

log = logging.getLogger("gateway.quota")

#: The window of a quota counted over the grant's whole validity (the only kind there is).
WHOLE_GRANT: Final = "grant"
TABLE: Final = "gateway_quota"
BUDGET_TABLE: Final = "gateway_dp_budget"
RUNS_TABLE: Final = "gateway_psi_runs"
#: Seconds without a statement after which a health read checks that the store answers (``PostgresQuota``).
CHECK_AFTER_S: Final = 2.0
#: How many times in a lease :func:`keep_run` renews a PSI run's lease: every third of it, so that one renewal that
#: cannot reach the store leaves time for the next before the lease ends.
RENEWALS_PER_LEASE: Final = 3
_SCHEMA_V1: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    grant_id TEXT NOT NULL,
    quota_window TEXT NOT NULL,
    used BIGINT NOT NULL CHECK (used >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (grant_id, quota_window)
)
"""
#: The store's migrations (``notary.storage.schema``: replicas starting at once take turns under its advisory
#: lock); version 1 is the table of the releases before them.
_SCHEMA_V2: Final = f"""
CREATE TABLE IF NOT EXISTS {BUDGET_TABLE} (
    grant_id TEXT PRIMARY KEY,
    spent BIGINT NOT NULL CHECK (spent >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
_SCHEMA_V3: Final = f"""
CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
    job TEXT NOT NULL,
    request TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    counted BOOLEAN NOT NULL DEFAULT false,
    lease_until TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job, request),
    CHECK (counted OR lease_until IS NOT NULL)
)
"""
SCHEMA: Final = Schema(
    "gateway_quota",
    (
        Migration(1, "the quota table of the first releases", (_SCHEMA_V1,)),
        Migration(2, "the privacy budget spent per grant, in thousandths of ε", (_SCHEMA_V2,)),
        Migration(
            3,
            "the PSI runs of every replica (job tag, request SHA-256), in flight or counted, so that a request step "
            "sent again to any replica takes no second run",
            (_SCHEMA_V3,),
        ),
    ),
    (TABLE,),
    legacy_lock=0x636C_7175_6F74_61,
)
_TAKE: Final = f"""
INSERT INTO {TABLE} AS q (grant_id, quota_window, used) VALUES (%(grant)s, %(window)s, 1)
ON CONFLICT (grant_id, quota_window) DO UPDATE SET used = q.used + 1, updated_at = now()
WHERE q.used < %(limit)s
RETURNING used
"""
_GIVE_BACK: Final = f"""
UPDATE {TABLE} SET used = used - 1, updated_at = now()
WHERE grant_id = %(grant)s AND quota_window = %(window)s AND used > 0
"""
_USED: Final = f"SELECT used FROM {TABLE} WHERE grant_id = %(grant)s AND quota_window = %(window)s"
_SPEND: Final = f"""
INSERT INTO {BUDGET_TABLE} AS b (grant_id, spent) SELECT %(grant)s, %(cost)s WHERE %(cost)s <= %(budget)s
ON CONFLICT (grant_id) DO UPDATE SET spent = b.spent + %(cost)s, updated_at = now()
WHERE b.spent + %(cost)s <= %(budget)s
RETURNING spent
"""
_REFUND: Final = f"""
UPDATE {BUDGET_TABLE} SET spent = GREATEST(0, spent - %(cost)s), updated_at = now() WHERE grant_id = %(grant)s
"""
_SPENT: Final = f"SELECT spent FROM {BUDGET_TABLE} WHERE grant_id = %(grant)s"
#: A run's key, new or left by a call whose lease ended while in flight: taken for ``event``; nothing returned when
#: the key is counted or in flight under its lease (the row is locked by this transaction either way).
_CLAIM_RUN: Final = f"""
INSERT INTO {RUNS_TABLE} AS r (job, request, grant_id, event_id, lease_until)
VALUES (%(job)s, %(request)s, %(grant)s, %(event)s, now() + make_interval(secs => %(lease)s::float8))
ON CONFLICT (job, request) DO UPDATE SET grant_id = excluded.grant_id, event_id = excluded.event_id,
    lease_until = excluded.lease_until, updated_at = now()
WHERE NOT r.counted AND r.lease_until <= now()
RETURNING event_id
"""
_FIND_RUN: Final = f"SELECT event_id, counted FROM {RUNS_TABLE} WHERE job = %(job)s AND request = %(request)s"
_RUN_COUNTED: Final = f"""
UPDATE {RUNS_TABLE} SET counted = true, lease_until = NULL, updated_at = now()
WHERE job = %(job)s AND request = %(request)s AND event_id = %(event)s
"""
#: The lease of a run in flight extended to ``lease`` seconds from now, only while the call ``event`` holds it.
_RENEW_RUN: Final = f"""
UPDATE {RUNS_TABLE} SET lease_until = now() + make_interval(secs => %(lease)s::float8), updated_at = now()
WHERE job = %(job)s AND request = %(request)s AND event_id = %(event)s AND NOT counted
RETURNING event_id
"""
_DROP_RUN: Final = f"""
DELETE FROM {RUNS_TABLE} WHERE job = %(job)s AND request = %(request)s AND event_id = %(event)s AND NOT counted
"""


class QuotaUnavailableError(GatewayError):
    """The quota store cannot be reached: the call is refused (503 ``quota_unavailable``), never admitted."""


class QuotaSchemaError(QuotaUnavailableError):
    """The quota store's schema cannot be used by this release (a later release migrated it): calls under a
    quota are refused, and a gateway starting against it does not start."""


#: A PSI run's key: the job's tag and the SHA-256 of the request step's bytes, both hex.
RunKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RunClaim:
    """What :meth:`QuotaCounter.claim_run` found: ``claimed`` (the run's unit and ``dp_cost`` taken, its key in
    flight), ``retry`` (the same request as the counted run of event ``retry_of``: nothing taken), ``in_flight``
    (the same request is in flight: nothing taken), ``quota_exhausted`` or ``dp_budget_exhausted`` (nothing taken;
    ``spent``, the grant's spent ε before it)."""

    outcome: Literal["claimed", "retry", "in_flight", "quota_exhausted", "dp_budget_exhausted"]
    retry_of: str | None = None
    dp_cost: int = 0
    spent: int = 0


class QuotaHealth(TypedDict):
    """A quota store in the gateway's ``/healthz`` (``quota``): its kind and whether it is reached; the shared
    store adds where it is (password hidden), its refusals, the releases it lost, the runs left unmarked and its
    last error."""

    store: str
    reachable: bool
    url: NotRequired[str]
    refused: NotRequired[int]
    lost_releases: NotRequired[int]
    unmarked_runs: NotRequired[int]
    last_error: NotRequired[str | None]


class QuotaCounter(Protocol):
    """Counts the allowed calls under each grant's quota."""

    kind: str  # "local" or "postgresql", as /healthz shows it

    async def reserve(self, grant_id: str, quota: int) -> bool:
        """Take one unit of ``grant_id``'s quota (``quota`` 0 is unlimited): True if the call is admitted.
        Raises :class:`QuotaUnavailableError` when the count cannot be read."""
        ...

    def release(self, grant_id: str) -> None:
        """Give back a unit whose call could not be recorded (never blocks)."""
        ...

    async def reserve_budget(self, grant_id: str, cost: int, budget: int) -> tuple[bool, int]:
        """Reserve ``cost`` thousandths of ε of ``grant_id``'s privacy ``budget``: (True iff the spent total with it
        stays within the budget; the spent total before it, as far as this counter knows). Raises
        :class:`QuotaUnavailableError` when the total cannot be read."""
        ...

    def release_budget(self, grant_id: str, cost: int) -> None:
        """Give back a reserved cost whose call could not be recorded (never blocks)."""
        ...

    def spends_in_event(self) -> bool:
        """Whether the reserved cost is spent by the call's event (its ``dp_cost`` in the outbox) rather than
        already in the store."""
        ...

    async def claim_run(
        self,
        grant_id: str,
        run: RunKey,
        event_id: str,
        quota: int,
        budget: tuple[int, int] | None,
        lease_s: float,
    ) -> RunClaim:
        """Take one unit of ``quota`` (0 is unlimited) and, with ``budget`` (cost, limit in thousandths of ε), the
        cost, for the PSI run ``run`` of the call ``event_id``, unless the run is counted or in flight (module
        docstring). Raises :class:`QuotaUnavailableError` when the store cannot be read."""
        ...

    async def renew_run(self, run: RunKey, event_id: str, lease_s: float) -> bool:
        """Extend the lease of the run ``run`` that the call ``event_id`` claimed to ``lease_s`` from now: True if
        the call still holds it in flight (False: counted, released or taken over). Raises
        :class:`QuotaUnavailableError` when the store cannot be reached."""
        ...

    async def run_recorded(self, grant_id: str, run: RunKey, event_id: str) -> None:
        """The claimed run's event was recorded counted: a repeat of it takes nothing from now on (never raises)."""
        ...

    def release_run(self, grant_id: str, run: RunKey, event_id: str, quota: int, dp_cost: int) -> None:
        """The claimed run's call ends without its event recorded counted: drop its key, give back its unit and ε
        (never blocks)."""
        ...

    def health(self) -> QuotaHealth: ...

    def close(self) -> None: ...


async def keep_run(
    counter: QuotaCounter,
    run: RunKey,
    event_id: str,
    lease_s: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Renew the lease of the run ``run`` that the call ``event_id`` claimed in ``counter``, every
    ``lease_s`` / :data:`RENEWALS_PER_LEASE`, to ``lease_s`` from then (module docstring), until cancelled (the run is
    marked counted or released) or the call no longer holds it. A renewal that cannot reach the store, or fails
    otherwise, is logged and tried again at the next one: the task never ends with an exception nobody collects,
    and a run stays renewed while its call is alive. ``sleep`` waits that long (the tests' clock)."""
    while True:
        await sleep(lease_s / RENEWALS_PER_LEASE)
        try:
            held = await counter.renew_run(run, event_id, lease_s)
        except QuotaUnavailableError as exc:
            log.warning("the lease of the PSI run of event %s not renewed (tried again later): %s", event_id, exc)
            continue
        except Exception:  # not the store's known failure: said in full, and tried again as one
            log.exception("the lease of the PSI run of event %s not renewed (tried again later)", event_id)
            continue
        if not held:
            log.warning("the PSI run of event %s is no longer in flight for it: its lease is not renewed", event_id)
            return


class LocalQuota:
    """The outbox's own counter: one gateway, exact across restarts (``notary.submit.outbox``)."""

    kind = "local"

    def __init__(self, outbox: Outbox, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self._clock = clock  # monotonic seconds: the leases of the runs in flight
        #: the PSI runs in flight: key → (the event id of the call that claimed it, the end of its lease)
        self._runs: dict[RunKey, tuple[str, float]] = {}

    async def reserve(self, grant_id: str, quota: int) -> bool:
        # no await: the check and the reservation happen in one step of the event loop
        return self.outbox.reserve(grant_id, quota)

    def release(self, grant_id: str) -> None:
        self.outbox.release(grant_id)

    async def reserve_budget(self, grant_id: str, cost: int, budget: int) -> tuple[bool, int]:
        return self.outbox.reserve_budget(grant_id, cost, budget)  # no await: check and reservation in one step

    def release_budget(self, grant_id: str, cost: int) -> None:
        self.outbox.release_budget(grant_id, cost)

    def spends_in_event(self) -> bool:
        return True

    async def claim_run(
        self,
        grant_id: str,
        run: RunKey,
        event_id: str,
        quota: int,
        budget: tuple[int, int] | None,
        lease_s: float,
    ) -> RunClaim:
        # no await: the check of the runs in flight and the reservations happen in one step of the event loop; the
        # counted runs are the outbox's (``Outbox.counted_run``), which the gateway reads before
        now = self._clock()
        held = self._runs.get(run)
        if held is not None and held[1] > now:
            return RunClaim("in_flight")
        if not self.outbox.reserve(grant_id, quota):
            return RunClaim("quota_exhausted")
        cost = 0
        if budget is not None:
            cost, limit = budget
            admitted, spent = self.outbox.reserve_budget(grant_id, cost, limit)
            if not admitted:
                self.outbox.release(grant_id)
                return RunClaim("dp_budget_exhausted", spent=spent)
        self._runs[run] = (event_id, now + lease_s)  # a key whose lease ended is taken over
        return RunClaim("claimed", dp_cost=cost)

    async def renew_run(self, run: RunKey, event_id: str, lease_s: float) -> bool:
        return self.renew(run, event_id, lease_s)

    def renew(self, run: RunKey, event_id: str, lease_s: float) -> bool:
        """:meth:`renew_run`, at once."""
        held = self._runs.get(run)
        if held is None or held[0] != event_id:
            return False
        self._runs[run] = (event_id, self._clock() + lease_s)
        return True

    def in_flight(self, run: RunKey) -> tuple[str, float] | None:
        """The event id of the call that holds ``run`` in flight and the end of its lease, or None."""
        return self._runs.get(run)

    async def run_recorded(self, grant_id: str, run: RunKey, event_id: str) -> None:
        if self._held_by(run, event_id):  # the outbox holds it counted now
            del self._runs[run]

    def release_run(self, grant_id: str, run: RunKey, event_id: str, quota: int, dp_cost: int) -> None:
        if self._held_by(run, event_id):
            del self._runs[run]
        if quota > 0:
            self.outbox.release(grant_id)
        if dp_cost:
            self.outbox.release_budget(grant_id, dp_cost)

    def _held_by(self, run: RunKey, event_id: str) -> bool:
        held = self._runs.get(run)
        return held is not None and held[0] == event_id

    def health(self) -> QuotaHealth:
        return {"store": self.kind, "reachable": True}

    def close(self) -> None:
        """The outbox is closed by its owner."""


def redact(url: str) -> str:
    """``url`` without its password, for logs and /healthz."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, at, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in userinfo else ''}{at}{host}"


class PostgresQuota:
    """Quota counts in the PostgreSQL database at ``url``, shared by every gateway that uses it.

    :meth:`take` and :meth:`give_back` block (one statement each); :meth:`reserve` runs :meth:`take` on a
    pool of ``max_connections`` threads, each with its own connection, so the event loop never waits on the
    database. ``clock`` (monotonic seconds) times the pause after a failure.

    Whether the store can be reached is known from the statements the calls make, which a gateway without
    calls under a quota never makes: so a :meth:`health` read (``/healthz``, ``/metrics``: the alarm
    evaluator's probe every 2 s, Prometheus' scrapes) when no statement ran for ``check_after_s`` starts one
    ``SELECT 1`` on the pool and returns at once; its outcome shows at the next read. A check that fails is not
    counted as a refused call."""

    kind = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = 2.0,
        statement_timeout_ms: int = 2000,
        max_connections: int = 8,
        retry_s: float = 1.0,
        check_after_s: float = CHECK_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("the quota store is a postgresql:// URL")
        if max_connections < 1 or connect_timeout_s <= 0 or statement_timeout_ms < 1 or retry_s < 0:
            raise ValueError("max_connections, connect_timeout_s and statement_timeout_ms must be positive")
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.statement_timeout_ms = statement_timeout_ms
        self.retry_s = retry_s
        self.check_after_s = check_after_s
        self._clock = clock
        self._last_statement: float | None = None  # when a statement last ended, well or not
        self._checking = False
        self._local = threading.local()
        self._lock = threading.Lock()  # the connections, the state below
        self._connections: list[Any] = []
        self._closing = False
        self._closed = False
        self._schema_ready = False
        self._down_until = 0.0
        self._last_error: str | None = None
        self.reachable: bool | None = None  # None until the first statement
        self.refused = 0  # calls refused because the store could not be reached
        self.lost_releases = 0  # units that could not be given back
        #: PSI runs recorded counted whose row could not be marked so: in flight until their lease ends
        self.unmarked_runs = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(max_connections, thread_name_prefix="quota-pg")

    # ------------------------------------------------------------------------------------------ the counter

    async def reserve(self, grant_id: str, quota: int) -> bool:
        if quota <= 0:
            return True
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.take, grant_id, quota)

    def release(self, grant_id: str) -> None:
        try:
            self._executor.submit(self._give_back_logged, grant_id)
        except RuntimeError:  # closed
            with self._lock:
                self.lost_releases += 1

    async def reserve_budget(self, grant_id: str, cost: int, budget: int) -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.spend, grant_id, cost, budget)

    def release_budget(self, grant_id: str, cost: int) -> None:
        try:
            self._executor.submit(self._refund_logged, grant_id, cost)
        except RuntimeError:  # closed
            with self._lock:
                self.lost_releases += 1

    def spends_in_event(self) -> bool:
        return False

    async def claim_run(
        self,
        grant_id: str,
        run: RunKey,
        event_id: str,
        quota: int,
        budget: tuple[int, int] | None,
        lease_s: float,
    ) -> RunClaim:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.claim, grant_id, run, event_id, quota, budget, lease_s)

    async def run_recorded(self, grant_id: str, run: RunKey, event_id: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._mark_logged, run, event_id)
        except RuntimeError:  # closed
            with self._lock:
                self.unmarked_runs += 1

    async def renew_run(self, run: RunKey, event_id: str, lease_s: float) -> bool:
        loop = asyncio.get_running_loop()
        try:
            held: bool = await loop.run_in_executor(self._executor, self.renew, run, event_id, lease_s)
        except RuntimeError as exc:  # closed
            raise QuotaUnavailableError("the quota store is closed") from exc
        return held

    def release_run(self, grant_id: str, run: RunKey, event_id: str, quota: int, dp_cost: int) -> None:
        try:
            self._executor.submit(self._unclaim_logged, grant_id, run, event_id, quota, dp_cost)
        except RuntimeError:  # closed
            with self._lock:
                self.lost_releases += 1

    def claim(
        self,
        grant_id: str,
        run: RunKey,
        event_id: str,
        quota: int,
        budget: tuple[int, int] | None = None,
        lease_s: float = 60.0,
    ) -> RunClaim:
        """:meth:`claim_run`, in one transaction: the run's key (its row locked, waiting for a replica's transaction
        that holds it), then its unit, then its ε; a refusal rolls the whole back. Blocks."""
        import psycopg

        job, request = run
        key = {"job": job, "request": request, "grant": grant_id, "event": event_id, "lease": lease_s}

        def transaction(conn: Any) -> RunClaim:
            refused: RunClaim | None = None
            for _ in range(3):  # a key dropped between the insert and the read is tried again
                with conn.transaction():
                    if conn.execute(_CLAIM_RUN, key).fetchone() is None:
                        found = conn.execute(_FIND_RUN, key).fetchone()
                        if found is None:
                            continue
                        if found[0] == event_id and not found[1]:  # this call's own, committed by an attempt whose
                            return RunClaim("claimed", dp_cost=budget[0] if budget else 0)  # answer was lost
                        return RunClaim("retry", retry_of=str(found[0])) if found[1] else RunClaim("in_flight")
                    if (
                        quota > 0
                        and conn.execute(_TAKE, {**key, "window": WHOLE_GRANT, "limit": quota}).fetchone() is None
                    ):
                        refused = RunClaim("quota_exhausted")
                        raise psycopg.Rollback
                    if budget is not None:
                        cost, limit = budget
                        if conn.execute(_SPEND, {**key, "cost": cost, "budget": limit}).fetchone() is None:
                            refused = RunClaim("dp_budget_exhausted")
                            raise psycopg.Rollback
                    return RunClaim("claimed", dp_cost=budget[0] if budget else 0)
                if refused is not None:
                    break
            if refused is None:
                return RunClaim("in_flight")
            if refused.outcome == "dp_budget_exhausted":
                row = conn.execute(_SPENT, key).fetchone()
                return RunClaim("dp_budget_exhausted", spent=0 if row is None else int(row[0]))
            return refused

        if budget is not None and (budget[0] < 0 or budget[1] < 0):
            raise ValueError("a cost and a budget are counts of thousandths of ε, not negative")
        result: RunClaim = self._run(transaction)
        return result

    def mark_counted(self, run: RunKey, event_id: str) -> None:
        """:meth:`run_recorded`: the run of ``event_id`` is counted. Blocks."""
        self._execute(_RUN_COUNTED, {"job": run[0], "request": run[1], "event": event_id}, fetch=False)

    def renew(self, run: RunKey, event_id: str, lease_s: float) -> bool:
        """:meth:`renew_run`: one ``UPDATE`` of the run's row, if ``event_id`` still holds it in flight. Blocks; a
        renewal that cannot reach the store is no refused call (``refused`` counts the calls)."""
        key = {"job": run[0], "request": run[1], "event": event_id, "lease": lease_s}
        return self._execute(_RENEW_RUN, key, counted=False) is not None

    def unclaim(self, grant_id: str, run: RunKey, event_id: str, quota: int, dp_cost: int) -> None:
        """:meth:`release_run`, in one transaction: the run's key if ``event_id`` still holds it in flight, and the
        unit (``quota`` above 0) and the ε it took. Blocks."""
        params = {"job": run[0], "request": run[1], "event": event_id, "grant": grant_id, "window": WHOLE_GRANT}

        def transaction(conn: Any) -> None:
            with conn.transaction():
                conn.execute(_DROP_RUN, params)
                if quota > 0:
                    conn.execute(_GIVE_BACK, params)
                if dp_cost:
                    conn.execute(_REFUND, {**params, "cost": dp_cost})

        self._run(transaction)

    def run_of(self, run: RunKey) -> tuple[str, bool] | None:
        """The event id of the call that holds ``run`` and whether it is counted, or None. Blocks."""
        row = self._execute(_FIND_RUN, {"job": run[0], "request": run[1]})
        return None if row is None else (str(row[0]), bool(row[1]))

    def _mark_logged(self, run: RunKey, event_id: str) -> None:
        try:
            self.mark_counted(run, event_id)
        except QuotaUnavailableError as exc:
            with self._lock:
                self.unmarked_runs += 1
            log.warning("PSI run of event %s not marked counted (in flight until its lease ends): %s", event_id, exc)

    def _unclaim_logged(self, grant_id: str, run: RunKey, event_id: str, quota: int, dp_cost: int) -> None:
        try:
            self.unclaim(grant_id, run, event_id, quota, dp_cost)
        except QuotaUnavailableError as exc:
            with self._lock:
                self.lost_releases += 1
            log.warning("the PSI run of event %s could not be given back (it stays taken): %s", event_id, exc)

    def spend(self, grant_id: str, cost: int, budget: int) -> tuple[bool, int]:
        """Spend ``cost`` of ``grant_id``'s ``budget`` if the total stays within it: (whether it did, the total
        before). Blocks."""
        if cost < 0 or budget < 0:
            raise ValueError("a cost and a budget are counts of thousandths of ε, not negative")
        row = self._execute(_SPEND, {"grant": grant_id, "cost": cost, "budget": budget})
        if row is not None:
            return True, int(row[0]) - cost
        return False, self.spent(grant_id)

    def spent(self, grant_id: str) -> int:
        """The thousandths of ε spent under ``grant_id``. Blocks."""
        row = self._execute(_SPENT, {"grant": grant_id})
        return 0 if row is None else int(row[0])

    def refund(self, grant_id: str, cost: int) -> None:
        """Give back ``cost`` (never below 0). Blocks."""
        self._execute(_REFUND, {"grant": grant_id, "cost": cost}, fetch=False)

    def _refund_logged(self, grant_id: str, cost: int) -> None:
        try:
            self.refund(grant_id, cost)
        except QuotaUnavailableError as exc:
            with self._lock:
                self.lost_releases += 1
            log.warning("ε of grant %s could not be given back (it stays spent): %s", grant_id, exc)

    def take(self, grant_id: str, quota: int, window: str = WHOLE_GRANT) -> bool:
        """Take one unit of ``grant_id``'s ``quota`` in ``window``: True if one was left. Blocks."""
        if quota <= 0:
            return True
        row = self._execute(_TAKE, {"grant": grant_id, "window": window, "limit": quota})
        return row is not None

    def give_back(self, grant_id: str, window: str = WHOLE_GRANT) -> None:
        """Give back one unit (never below 0). Blocks."""
        self._execute(_GIVE_BACK, {"grant": grant_id, "window": window}, fetch=False)

    def used(self, grant_id: str, window: str = WHOLE_GRANT) -> int:
        """The units taken under ``grant_id`` in ``window``. Blocks."""
        row = self._execute(_USED, {"grant": grant_id, "window": window})
        return 0 if row is None else int(row[0])

    def _give_back_logged(self, grant_id: str) -> None:
        try:
            self.give_back(grant_id)
        except QuotaUnavailableError as exc:
            with self._lock:
                self.lost_releases += 1
            log.warning("a unit of grant %s could not be given back (it stays used): %s", grant_id, exc)

    # ------------------------------------------------------------------------------------------ connections

    def ensure_schema(self) -> None:
        """Create or migrate the table (also done before the first statement); :class:`QuotaSchemaError` if a
        later release migrated it. Blocks."""
        self._execute("SELECT 1", {})

    def check(self) -> bool:
        """Run ``SELECT 1``: whether the store answered. Blocks; not counted as a refused call."""
        try:
            self._execute("SELECT 1", {}, counted=False)
        except QuotaUnavailableError:
            return False
        return True

    def _check_if_idle(self) -> None:
        """Start a :meth:`check` on the pool if no statement ran for ``check_after_s`` and none is running."""
        with self._lock:
            now = self._clock()
            idle = self._last_statement is None or now - self._last_statement >= self.check_after_s
            if self._closing or self._checking or not idle or now < self._down_until:
                return
            self._checking = True
        try:
            self._executor.submit(self._background_check)
        except RuntimeError:  # closing
            with self._lock:
                self._checking = False

    def _background_check(self) -> None:
        try:
            self.check()
        finally:
            with self._lock:
                self._checking = False

    def _execute(self, sql: str, params: dict[str, Any], *, fetch: bool = True, counted: bool = True) -> Any:
        """Run one statement (autocommit): its first row if ``fetch``."""

        def statement(conn: Any) -> Any:
            cursor = conn.execute(sql, params)
            return cursor.fetchone() if fetch else None

        return self._run(statement, counted=counted)

    def _run(self, work: Callable[[Any], Any], *, counted: bool = True) -> Any:
        """``work(connection)`` on this thread's connection: what it returns. A connection that broke while idle is
        replaced once and ``work`` run again (a transaction it opened was rolled back with it)."""
        import psycopg

        with self._lock:
            if self._closed:
                raise QuotaUnavailableError("the quota store is closed")
            if self._clock() < self._down_until:
                self.refused += 1 if counted else 0
                raise QuotaUnavailableError(f"the quota store {redact(self.url)} is unreachable: {self._last_error}")
        conn = getattr(self._local, "conn", None)
        for attempt in (0, 1):
            fresh = conn is None
            try:
                if conn is None:
                    try:
                        conn = self._connect()
                    except QuotaSchemaError as exc:  # refused like an outage: after a pause, tried again
                        self._failed(exc, counted=counted)
                        raise
                row = work(conn)
            except psycopg.Error as exc:
                self._discard(conn)
                conn = None
                if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not fresh and attempt == 0:
                    continue  # a pooled connection that broke while idle: one more try on a new one
                self._failed(exc, counted=counted)
                raise QuotaUnavailableError(
                    f"the quota store {redact(self.url)} is unreachable: {_first_line(exc)}"
                ) from exc
            with self._lock:
                self._last_statement = self._clock()
                if not self.reachable:
                    if self.reachable is False:
                        log.warning("quota store %s reachable again", redact(self.url))
                    self.reachable = True
            return row
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(1, round(self.connect_timeout_s)),
            tcp_user_timeout=int(self.connect_timeout_s * 1000 + self.statement_timeout_ms),
        )
        try:
            conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
            if not self._schema_ready:
                migrate(conn, SCHEMA)
                self._schema_ready = True
        except SchemaError as exc:
            conn.close()
            raise QuotaSchemaError(f"the quota store {redact(self.url)}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        with self._lock:
            if self._closed:
                conn.close()
                raise QuotaUnavailableError("the quota store is closed")
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def _discard(self, conn: Any) -> None:
        self._local.conn = None
        if conn is None:
            return
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        with contextlib.suppress(Exception):  # a broken connection may fail to close; it is dropped either way
            conn.close()

    def _failed(self, exc: BaseException, *, counted: bool = True) -> None:
        with self._lock:
            self.refused += 1 if counted else 0
            self._last_error = _first_line(exc)
            self._last_statement = self._clock()
            self._down_until = self._last_statement + self.retry_s
            if self.reachable is not False and isinstance(exc, QuotaSchemaError):
                log.error("%s; calls under a quota are refused", exc)
            elif self.reachable is not False:
                log.error("quota store %s unreachable, calls under a quota are refused: %s", redact(self.url), exc)
            self.reachable = False

    # ------------------------------------------------------------------------------------------ lifecycle

    def health(self) -> QuotaHealth:
        self._check_if_idle()
        with self._lock:
            return {
                "store": self.kind,
                "url": redact(self.url),
                "reachable": self.reachable is not False,
                "refused": self.refused,
                "lost_releases": self.lost_releases,
                "unmarked_runs": self.unmarked_runs,
                "last_error": self._last_error,
            }

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._executor.shutdown(wait=True)  # the releases queued so far still reach the database
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def open_quota_store(url: str | None, outbox: Outbox) -> QuotaCounter:
    """The counter ``--quota-store`` names: the outbox's without a URL, PostgreSQL with one."""
    if url is None:
        return LocalQuota(outbox)
    return PostgresQuota(url)


__all__ = [
    "SCHEMA",
    "LocalQuota",
    "PostgresQuota",
    "QuotaCounter",
    "QuotaSchemaError",
    "QuotaUnavailableError",
    "RunClaim",
    "RunKey",
    "open_quota_store",
    "redact",
]
