"""The gateway's durable outbox: every recorded call, numbered, on disk before the caller hears of it.

One SQLite database per gateway, in WAL mode with ``synchronous=FULL``: a commit returns only once the WAL is
fsynced, so whatever has been acknowledged survives ``kill -9`` and power loss.

**Group commit.** :meth:`Outbox.append` only queues the event and returns a future. One writer thread, the only
one that writes, takes everything that arrived while it was busy (up to ``max_group`` appends), validates each
event (``notary.event.validate_event``: an invalid event fails its own future and nothing else), numbers them
``gateway_seq = last_seq + 1, + 2, ...`` in queue order, and commits the whole group in one transaction — one
fsync for all of them. Futures resolve only after that commit, so the seq a caller holds is durable, and seqs
are contiguous after any crash: a group is on disk whole or not at all. Under load the groups grow, which is
what keeps the fsync cost per event small.

**Quota.** A grant's quota is counted here: ``quota`` holds, per grant, the number of committed events that
were allowed under it, and an allowed event increments it in the same transaction as its own row (both
present or both absent after any crash). :meth:`Outbox.reserve` is the in-memory side that admits a call
*before* its event exists: admitted iff persisted uses + reservations in flight < quota, with the check and the
increment under one lock. When the event commits, its reservation turns into a persisted use in one step under
that lock (never counted twice, never zero times). A grant's persisted count is read lazily on first use; that
read also returns the ``last_seq`` its snapshot covers, so a commit racing with the read is added to the count
exactly when the snapshot missed it. A reservation is tied to its grant, not to an event: the caller gives it
back with :meth:`Outbox.release` when its event could not be recorded (any exception from ``append``). One
ambiguous case remains: an asyncio caller cancelled while its event is being committed sees the cancellation
although the event is recorded; if it then releases, the grant's in-flight count is one too low until the
grant's other calls in flight have committed (one call too many could be admitted meanwhile).

**Privacy budget.** The ε a grant's PSI jobs spent (``privacy.dp``, in thousandths) is counted the same way, in
``dp_spent``: an allowed event appended with a ``dp_cost`` adds it to its grant's total in the same transaction as
its own row, and :meth:`Outbox.reserve_budget` admits a job iff spent + in flight + its cost <= the budget. The
table is created when an outbox is opened (an outbox of an earlier release gets it empty: no job spent anything
under a budget before there was one).

**PSI runs.** An allowed, counted event appended with a ``run`` (a PSI request step: its job's tag and the SHA-256
of the request's bytes) is kept in ``psi_runs`` with its event id, in the same transaction, and stays there when the
event is shipped: :meth:`Outbox.counted_run` tells the gateway that a request step is the same request as one it
already counted (a client that lost the answer and sent it again), across restarts. One row per run, some 170 bytes;
created empty when an outbox of an earlier release is opened (its runs predate the check).

**Shipping state.** ``state`` holds ``last_seq`` and ``shipped_seq`` (a CHECK keeps ``shipped_seq <=
last_seq``). :meth:`Outbox.mark_shipped` goes through the writer thread too (it rides along in the next group),
moves ``shipped_seq`` forward only, and deletes the shipped rows in the same transaction: the notary holds them
with its receipts, so the file stays bounded by ``max_pending`` events. The bound is enforced by the writer
(``OutboxFullError``, the caller answers 503 ``outbox_full``); at ``alarm_ratio`` of it the ``outbox-high``
alarm is raised and logged, and its clearing logged too.

**Event ids** are unique among the unshipped events (a second append with the same id fails with
:class:`DuplicateEventError`): a batch carrying one id twice would be refused by the notary forever.
Each event must also carry this outbox's ``gateway_id`` and that gateway's org as ``provider_org``, for the
same reason.

**Readers** (``pending``, ``stats``, ``quota_used``, the lazy quota reads) share one read-only connection under
a lock: each read is a single indexed query, WAL lets it run beside the writer's transaction, and one
connection (rather than one per thread) can be closed by :meth:`Outbox.close` from any thread. ``last_seq`` and
``shipped_seq`` are also kept in memory by the writer, updated after each commit.

**Waking the shipper.** A commit that adds events notifies :meth:`Outbox.wait_pending` once as many events are
pending as a waiter waits for, so the shipper sleeps while nothing is pending instead of asking the outbox at a
fixed interval, and while it gathers a batch it is not woken by each commit that leaves the batch short;
:meth:`Outbox.wake` wakes it for another reason (it is stopping).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

from notary.event import (
    EventJSON,
    EventSchemaError,
    FieldError,
    UnsequencedEvent,
    canonical_entry,
    gateway_org,
    validate_event,
)
from notary.log.errors import MalformedError, NotaryError

log = logging.getLogger("notary.submit.outbox")

SCHEMA_VERSION: Final = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    last_seq INTEGER NOT NULL,
    shipped_seq INTEGER NOT NULL,
    CHECK (0 <= shipped_seq AND shipped_seq <= last_seq)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    time_ms INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS quota (grant_id TEXT PRIMARY KEY, used INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dp_spent (grant_id TEXT PRIMARY KEY, spent INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS psi_runs (
    job TEXT NOT NULL,
    request TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (job, request)
) WITHOUT ROWID;
"""


class OutboxError(NotaryError):
    """The outbox could not record or read (I/O error, corruption, misuse)."""


class OutboxFullError(OutboxError):
    """``max_pending`` unshipped events are waiting: the caller answers 503 ``outbox_full``."""


class OutboxClosedError(OutboxError):
    """The outbox is closed (or its writer was never started)."""


class DuplicateEventError(OutboxError):
    """An unshipped event with the same ``event_id`` is already in the outbox."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    last_seq: int  # highest gateway_seq committed (0 if none)
    shipped_seq: int  # every seq <= this has been accepted by the notary
    pending: int  # last_seq - shipped_seq
    max_pending: int
    high: bool  # pending >= alarm_ratio * max_pending (the "outbox-high" alarm)
    oldest_pending_ms: int | None  # time_ms of the oldest unshipped event


@dataclass(slots=True)
class _Append:
    event: UnsequencedEvent
    future: concurrent.futures.Future[int]
    counted: bool = True  # an allowed event counts against its grant's quota
    dp_cost: int = 0  # thousandths of ε an allowed event spends of its grant's privacy budget
    run: tuple[str, str] | None = None  # a counted PSI request step: (its job's tag, the request's SHA-256, hex)


@dataclass(slots=True)
class _Ship:
    last_seq: int
    future: concurrent.futures.Future[int]


_STOP: Final = object()

_Item = _Append | _Ship | object


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # no transaction open (BEGIN itself failed)
        conn.execute("ROLLBACK")


class _Tally:
    """Per grant, a persisted amount (lazily read with the last_seq its snapshot covers) and the amounts reserved
    in flight: what :meth:`Outbox.reserve` and :meth:`Outbox.reserve_budget` admit against (module docstring).
    Its caller holds the lock."""

    def __init__(self, read: Callable[[str], tuple[int, int]]) -> None:
        self._read = read
        self._persisted: dict[str, int] = {}  # grant → persisted amount (lazily read)
        self._loaded_at: dict[str, int] = {}  # grant → last_seq covered by the read that initialised it
        self._inflight: dict[str, int] = {}  # grant → amounts reserved whose events have not committed yet

    def reserve(self, grant_id: str, amount: int, limit: int) -> tuple[bool, int]:
        """(whether persisted + in flight + ``amount`` <= ``limit``, and then it is in flight; persisted + in flight
        before this reservation)."""
        persisted = self._persisted.get(grant_id)
        if persisted is None:
            persisted, covered = self._read(grant_id)
            self._persisted[grant_id], self._loaded_at[grant_id] = persisted, covered
        inflight = self._inflight.get(grant_id, 0)
        if persisted + inflight + amount > limit:
            return False, persisted + inflight
        self._inflight[grant_id] = inflight + amount
        return True, persisted + inflight

    def release(self, grant_id: str, amount: int) -> None:
        self._inflight[grant_id] = max(0, self._inflight.get(grant_id, 0) - amount)

    def committed(self, grants: Counter[str], seq: int) -> None:
        """After a commit up to ``seq``: each grant's reservations become persisted amounts, in one step."""
        for grant, n in grants.items():
            if grant not in self._persisted or self._loaded_at[grant] >= seq:
                continue  # not read yet (the read will see this commit), or read after this commit
            self._persisted[grant] += n
            self._inflight[grant] = max(0, self._inflight.get(grant, 0) - n)


class Outbox:
    """The outbox of gateway ``gateway_id`` at ``path`` (created if missing). Call :meth:`start` before use."""

    def __init__(
        self,
        path: Path,
        gateway_id: str,
        *,
        max_pending: int = 1_000_000,
        alarm_ratio: float = 0.8,
        max_group: int = 512,
    ) -> None:
        if max_pending < 1 or max_group < 1 or not 0 < alarm_ratio <= 1:
            raise ValueError("max_pending and max_group must be positive and alarm_ratio in (0, 1]")
        try:
            self._org = gateway_org(gateway_id)
        except MalformedError as exc:
            raise ValueError(str(exc)) from None
        self.path = Path(path)
        self.gateway_id = gateway_id
        self.max_pending = max_pending
        self.alarm_ratio = alarm_ratio
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()  # open/closed state, enqueueing, last_seq/shipped_seq/high
        self._grew = threading.Condition(self._lock)  # notified after a commit that added events, and by wake()
        self._waiting: Counter[int] = Counter()  # the at_least of each wait_pending waiting now
        self._read_lock = threading.Lock()  # the read connection
        self._quota_lock = threading.Lock()  # the quota counters and the privacy budgets
        self._quota = _Tally(lambda grant: self._read_amount("quota", "used", grant))
        self._budget = _Tally(lambda grant: self._read_amount("dp_spent", "spent", grant))
        self._thread: threading.Thread | None = None
        self._closed = False
        self._reader_closed = False
        self._commits = 0  # transactions committed since open: appends / commits is the mean group size
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = _connect(self.path)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc
        try:
            self._last_seq, self._shipped_seq = self._open_schema()
            self._reader = _connect(self.path)
            self._reader.execute("PRAGMA query_only=ON")
        except BaseException as exc:
            self._writer.close()
            if isinstance(exc, sqlite3.Error):
                raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc
            raise
        self._high = self._is_high(self._last_seq - self._shipped_seq)
        if self._high:
            log.warning("outbox-high: %d events pending at start (max %d)", self.pending_count, max_pending)

    def _open_schema(self) -> tuple[int, int]:
        """Create the schema if needed, check it belongs to this gateway and is intact; (last_seq, shipped_seq)."""
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?), ('gateway_id', ?)",
                (str(SCHEMA_VERSION), self.gateway_id),
            )
            conn.execute("INSERT OR IGNORE INTO state (id, last_seq, shipped_seq) VALUES (0, 0, 0)")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            last_seq, shipped_seq = conn.execute("SELECT last_seq, shipped_seq FROM state").fetchone()
            count, low, high = conn.execute(
                "SELECT COUNT(*), MIN(seq), MAX(seq) FROM events WHERE seq > ?", (shipped_seq,)
            ).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        if meta["schema_version"] != str(SCHEMA_VERSION):
            version = meta["schema_version"]
            raise OutboxError(f"{self.path}: schema version {version}, this gateway reads {SCHEMA_VERSION}")
        if meta["gateway_id"] != self.gateway_id:
            raise OutboxError(f"{self.path} is the outbox of gateway {meta['gateway_id']!r}, not {self.gateway_id!r}")
        intact = count == last_seq - shipped_seq and (count == 0 or (low == shipped_seq + 1 and high == last_seq))
        if not intact:
            raise OutboxError(
                f"{self.path} is damaged: {count} unshipped events in [{low}, {high}], state says "
                f"({shipped_seq}, {last_seq}]"
            )
        return int(last_seq), int(shipped_seq)

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._lock:
            if self._closed:
                raise OutboxClosedError(f"the outbox {self.path} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Refuse new appends, commit those already queued, stop the writer and close the database."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._thread is None:  # never started: still commit what was queued
                self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
                self._thread.start()
            self._queue.put(_STOP)
        self._thread.join()
        with self._read_lock:
            self._reader.close()
            self._reader_closed = True
        self._writer.close()

    def __enter__(self) -> Outbox:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ appends

    def append(
        self, event: UnsequencedEvent, *, counted: bool = True, dp_cost: int = 0, run: tuple[str, str] | None = None
    ) -> concurrent.futures.Future[int]:
        """Queue ``event`` (complete but for ``gateway_seq``); the future resolves to its seq once committed.
        An allowed event counts as one use of its grant's quota unless ``counted`` is False (a call the gateway
        admitted without reserving a unit: the free steps of a PSI job), and spends ``dp_cost`` (thousandths of ε,
        reserved with :meth:`reserve_budget`) of its grant's privacy budget. A counted, allowed event with ``run`` (a
        PSI request step's job tag and request SHA-256) is kept as that run's (:meth:`counted_run`).

        The future fails with :class:`~notary.event.EventSchemaError` (invalid event), :class:`DuplicateEventError`,
        :class:`OutboxFullError`, :class:`OutboxClosedError` or :class:`OutboxError` (the disk failed); in every
        one of those cases nothing was written for this event. Thread-safe; the event is copied."""
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                future.set_exception(OutboxClosedError(f"the outbox {self.path} is closed"))
                return future
            # any mapping, copied
            self._queue.put(_Append(cast(UnsequencedEvent, dict(event)), future, counted, dp_cost, run))
        return future

    async def append_async(
        self, event: UnsequencedEvent, *, counted: bool = True, dp_cost: int = 0, run: tuple[str, str] | None = None
    ) -> int:
        """:meth:`append` for asyncio: the event's gateway_seq once it is durable."""
        return await asyncio.wrap_future(self.append(event, counted=counted, dp_cost=dp_cost, run=run))

    def mark_shipped(self, last_seq: int) -> None:
        """Record durably that every seq <= ``last_seq`` has been accepted by the notary (never moves back), and
        drop those events from the outbox. Blocks until committed."""
        with self._lock:
            if last_seq <= self._shipped_seq:
                return
            if self._closed or self._thread is None:
                raise OutboxClosedError(f"the outbox {self.path} is closed or not started")
            future: concurrent.futures.Future[int] = concurrent.futures.Future()
            self._queue.put(_Ship(last_seq, future))
        future.result()

    # ------------------------------------------------------------------------------------------ writer

    def _run(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            appends = 1
            while appends < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
                appends += isinstance(item, _Append)
            if any(i is _STOP for i in items):
                # nothing can follow the stop marker: it is queued under the lock that refuses new items
                stop = True
                items = [i for i in items if i is not _STOP]
            try:
                self._commit_group(items)
            except BaseException as exc:  # never leave a caller waiting, whatever went wrong
                log.exception("outbox writer: a group failed")
                failure = OutboxError(f"outbox write failed: {exc}")
                for item in items:
                    if isinstance(item, _Append | _Ship) and not item.future.done():
                        item.future.set_exception(failure)

    def _commit_group(self, items: list[_Item]) -> None:
        appends = [i for i in items if isinstance(i, _Append) and i.future.set_running_or_notify_cancel()]
        ships = [i for i in items if isinstance(i, _Ship)]
        first_seq = self._last_seq
        seq, shipped = first_seq, self._shipped_seq
        existing = self._existing_ids(appends)
        ids: set[str] = set()
        rows: list[tuple[int, str, int, bytes]] = []
        grants: Counter[str] = Counter()
        spent: Counter[str] = Counter()
        runs: list[tuple[str, str, str]] = []
        accepted: list[tuple[concurrent.futures.Future[int], int]] = []
        for item in appends:
            try:
                event = self._validate(item.event, seq + 1)
            except EventSchemaError as exc:
                item.future.set_exception(exc)
                continue
            except Exception as exc:  # not even a mapping
                item.future.set_exception(EventSchemaError([{"loc": [], "msg": f"not an event: {exc}"}]))
                continue
            event_id = event["event_id"]
            if event_id in existing or event_id in ids:
                item.future.set_exception(DuplicateEventError(f"event {event_id!r} is already in the outbox"))
                continue
            if seq - shipped >= self.max_pending:
                item.future.set_exception(
                    OutboxFullError(f"outbox full: {seq - shipped} events wait for the notary (max {self.max_pending})")
                )
                continue
            seq += 1
            ids.add(event_id)
            rows.append((seq, event_id, event["time_ms"], canonical_entry(event)))
            if event["decision"] == "allow" and event["grant_id"] is not None:  # a query names none
                grants[event["grant_id"]] += item.counted
                spent[event["grant_id"]] += item.dp_cost
                if item.counted and item.run is not None:
                    runs.append((*item.run, event_id))
            accepted.append((item.future, seq))
        ship_to = shipped
        for ship in ships:
            if ship.last_seq > first_seq:
                ship.future.set_exception(
                    OutboxError(f"cannot mark seq {ship.last_seq} shipped: only {first_seq} events are committed")
                )
            else:
                ship_to = max(ship_to, ship.last_seq)
        waiting = [s.future for s in ships if not s.future.done()]
        if rows or ship_to > shipped:
            try:
                self._write(rows, grants, spent, shipped, ship_to, seq, runs)
            except sqlite3.Error as exc:
                log.error("outbox commit failed, %d appends refused: %s", len(rows), exc)
                failure = OutboxError(f"the outbox could not commit ({exc}); nothing was written")
                for future, _ in accepted:
                    future.set_exception(failure)
                for future in waiting:
                    future.set_exception(failure)
                return
        with self._lock:
            self._last_seq, self._shipped_seq = seq, ship_to
            self._commits += bool(rows or waiting)
            if rows and self._waiting and seq - ship_to >= min(self._waiting):  # a waiter's count is reached
                self._grew.notify_all()
        with self._quota_lock:
            self._quota.committed(+grants, seq)
            self._budget.committed(+spent, seq)
        self._check_alarm(seq - ship_to)
        for future, assigned in accepted:
            future.set_result(assigned)
        for future in waiting:
            future.set_result(ship_to)

    def _validate(self, raw: UnsequencedEvent, seq: int) -> EventJSON:
        if "gateway_seq" in raw:
            raise EventSchemaError([{"loc": ["gateway_seq"], "msg": "is assigned by the outbox; leave it out"}])
        event = validate_event({**raw, "gateway_seq": seq})
        errors: list[FieldError] = []
        if event["gateway_id"] != self.gateway_id:
            errors.append({"loc": ["gateway_id"], "msg": f"must be this outbox's gateway {self.gateway_id!r}"})
        if event["provider_org"] != self._org:
            errors.append({"loc": ["provider_org"], "msg": f"must be the gateway's org {self._org!r}"})
        if errors:
            raise EventSchemaError(errors)
        return event

    def _existing_ids(self, appends: list[_Append]) -> set[str]:
        """The event ids among ``appends`` that are already stored (one query per group, on the writer)."""
        wanted = [a.event.get("event_id") for a in appends if isinstance(a.event, dict)]
        wanted = [w for w in wanted if isinstance(w, str)]
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        rows = self._writer.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", wanted).fetchall()
        return {r[0] for r in rows}

    def _write(
        self,
        rows: list[tuple[int, str, int, bytes]],
        grants: Counter[str],
        spent: Counter[str],
        shipped: int,
        ship_to: int,
        seq: int,
        runs: list[tuple[str, str, str]],
    ) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO events (seq, event_id, time_ms, data) VALUES (?, ?, ?, ?)", rows)
            conn.executemany(
                "INSERT INTO quota (grant_id, used) VALUES (?, ?) "
                "ON CONFLICT (grant_id) DO UPDATE SET used = used + excluded.used",
                list((+grants).items()),
            )
            conn.executemany(
                "INSERT INTO dp_spent (grant_id, spent) VALUES (?, ?) "
                "ON CONFLICT (grant_id) DO UPDATE SET spent = spent + excluded.spent",
                list((+spent).items()),
            )
            if runs:  # the first counted event of a run stays its event
                conn.executemany("INSERT OR IGNORE INTO psi_runs (job, request, event_id) VALUES (?, ?, ?)", runs)
            if ship_to > shipped:
                conn.execute("DELETE FROM events WHERE seq > ? AND seq <= ?", (shipped, ship_to))
            conn.execute("UPDATE state SET last_seq = ?, shipped_seq = ? WHERE id = 0", (seq, ship_to))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _is_high(self, pending: int) -> bool:
        return pending >= self.alarm_ratio * self.max_pending

    def _check_alarm(self, pending: int) -> None:
        high = self._is_high(pending)
        if high == self._high:
            return
        with self._lock:
            self._high = high
        if high:
            log.warning("outbox-high: %d events wait for the notary (max %d)", pending, self.max_pending)
        else:
            log.warning("outbox-high cleared: %d events wait for the notary (max %d)", pending, self.max_pending)

    # ------------------------------------------------------------------------------------------ quota

    def reserve(self, grant_id: str, quota: int) -> bool:
        """Take one unit of ``grant_id``'s quota for a call about to be forwarded; ``quota`` 0 is unlimited.

        True iff persisted uses + reservations in flight < ``quota`` (and then one more is in flight).
        Thread-safe, does not wait for the writer."""
        if quota <= 0:
            return True
        with self._quota_lock:
            return self._quota.reserve(grant_id, 1, quota)[0]

    def release(self, grant_id: str) -> None:
        """Give back a reservation whose event could not be recorded."""
        with self._quota_lock:
            self._quota.release(grant_id, 1)

    def reserve_budget(self, grant_id: str, cost: int, budget: int) -> tuple[bool, int]:
        """Reserve ``cost`` (thousandths of ε) of ``grant_id``'s privacy ``budget`` for a job about to be forwarded:
        (True iff spent + in flight + ``cost`` <= ``budget``, and then ``cost`` is in flight; spent + in flight
        before it). Thread-safe, does not wait for the writer; the event that spends it is appended with
        ``dp_cost=cost``, or the reservation given back with :meth:`release_budget`."""
        if cost < 0 or budget < 0:
            raise ValueError("a cost and a budget are counts of thousandths of ε, not negative")
        with self._quota_lock:
            return self._budget.reserve(grant_id, cost, budget)

    def release_budget(self, grant_id: str, cost: int) -> None:
        """Give back a reserved cost whose event could not be recorded."""
        with self._quota_lock:
            self._budget.release(grant_id, cost)

    def _read_amount(self, table: str, column: str, grant_id: str) -> tuple[int, int]:
        """A grant's persisted amount in ``table`` and the last_seq of the same snapshot."""
        with self._reading() as conn:
            conn.execute("BEGIN")
            try:
                row = conn.execute(f"SELECT {column} FROM {table} WHERE grant_id = ?", (grant_id,)).fetchone()
                (covered,) = conn.execute("SELECT last_seq FROM state").fetchone()
            finally:
                conn.execute("COMMIT")
        return (0 if row is None else int(row[0])), int(covered)

    def quota_used(self, grant_id: str) -> int:
        """Committed events with decision ``allow`` under ``grant_id`` (from the database)."""
        return self._read_amount("quota", "used", grant_id)[0]

    def dp_spent(self, grant_id: str) -> int:
        """Thousandths of ε the committed events under ``grant_id`` spent of its privacy budget (from the database)."""
        return self._read_amount("dp_spent", "spent", grant_id)[0]

    def counted_run(self, job: str, request: str) -> str | None:
        """The event id of the committed, counted request step of job tag ``job`` whose request's SHA-256 (hex) is
        ``request``, or None: a request step with these is the same request sent again (from the database)."""
        with self._reading() as conn:
            row = conn.execute("SELECT event_id FROM psi_runs WHERE job = ? AND request = ?", (job, request)).fetchone()
        return None if row is None else str(row[0])

    # ------------------------------------------------------------------------------------------ reads

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._read_lock:
            if self._reader_closed:
                raise OutboxClosedError(f"the outbox {self.path} is closed")
            try:
                yield self._reader
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox read failed: {exc}") from exc

    @property
    def last_seq(self) -> int:
        """The highest committed gateway_seq (from memory, no database read)."""
        with self._lock:
            return self._last_seq

    @property
    def shipped_seq(self) -> int:
        """Every seq up to this one has been accepted by the notary (from memory, no database read)."""
        with self._lock:
            return self._shipped_seq

    @property
    def commits(self) -> int:
        """Write transactions (fsyncs) since the outbox was opened; appends per commit is the group size."""
        with self._lock:
            return self._commits

    @property
    def pending_count(self) -> int:
        with self._lock:
            return self._last_seq - self._shipped_seq

    def wait_pending(self, timeout: float, *, at_least: int = 1, woken: Callable[[], bool] = lambda: False) -> int:
        """Block until at least ``at_least`` committed events are unshipped, or ``woken()`` holds (looked at when
        :meth:`wake` is called; it runs under the outbox's lock, so it must not call the outbox), or ``timeout``
        seconds passed; the number of unshipped events then. No database read."""
        with self._grew:
            self._waiting[at_least] += 1
            try:
                self._grew.wait_for(lambda: self._last_seq - self._shipped_seq >= at_least or woken(), timeout)
            finally:
                self._waiting -= Counter({at_least: 1})
            return self._last_seq - self._shipped_seq

    def wake(self) -> None:
        """Wake every :meth:`wait_pending` to look at its ``woken()`` again."""
        with self._grew:
            self._grew.notify_all()

    def pending(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` unshipped events as (seq, entry bytes), oldest first. With nothing pending (the last
        committed seq is the last shipped one) the database is not read."""
        with self._lock:
            shipped, last = self._shipped_seq, self._last_seq
        if last <= shipped:
            return []
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (shipped, limit)
            ).fetchall()
        return [(int(seq), bytes(data)) for seq, data in rows]

    def stats(self) -> OutboxStats:
        with self._lock:
            last, shipped, high = self._last_seq, self._shipped_seq, self._high
        oldest = None
        if last > shipped:
            with self._reading() as conn:
                row = conn.execute(
                    "SELECT time_ms FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (shipped,)
                ).fetchone()
            oldest = None if row is None else int(row[0])
        return OutboxStats(last, shipped, last - shipped, self.max_pending, high, oldest)
