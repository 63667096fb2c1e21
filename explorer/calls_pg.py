"""The call index in PostgreSQL: what :class:`explorer.calls.CallIndex` holds in SQLite, in a database that
several explorer replicas read (``python -m explorer DIR --index postgresql://...``).

Plain relational tables (prefixed ``explorer_``, so the database can hold others):

- ``explorer_calls``: one row per log entry, keyed by leaf index, with the event's fields as columns, the entry
  bytes and the leaf hash; B-tree indexes on (field, leaf index) for the searchable fields, so a search by
  party, asset, API, grant, trace or time reads newest first and stops at its page. ``is_query`` marks a ledger
  query (``notary.event.is_ledger_query``), for the tenant restriction;
- ``explorer_checkpoints``, ``explorer_gaps``: as the notary lists them;
- ``explorer_query_calls``, ``explorer_query_subjects`` (migration 3): what each allowed ledger query read, as
  SQLite's ``query_calls`` and ``query_subjects``; filled from the entries indexed before by the first writer;
- ``explorer_meta``: the schema version and the compact range (RFC 9162 right edge) of the indexed entries,
  updated in the transaction that adds them.

Entries are parsed and checked exactly as the SQLite index does (``calls._Batch``): the same entry is refused
with the same error by both. Reads give the same rows, in the same order, with the same tenant restriction
(``CallFilter.party``: the calls where the org is the caller, or the provider of anything but another firm's
ledger query), and the same aggregates (``per_minute``, ``report``; there, as in SQLite, a ledger query is a
call of center ``explorer``). Each search is one statement, so it sees one committed state.

**One writer.** Every replica runs a log follower, but only the one that holds the session advisory lock of the
index (:meth:`PostgresCallIndex.lead`) writes; the others read what it commits, and one takes over when the
writer's connection goes away. Appends also take a transaction advisory lock and check the index's size inside
the transaction, so two writers could never interleave entries anyway.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Final

from explorer.calls import (
    _DECISION_NAMES,
    MAX_JOB_STEPS,
    MINUTE_MS,
    CallFilter,
    CallReport,
    CallRow,
    MinuteCount,
    QueryLook,
    _Batch,
    _Names,
    call_of_route,
    checkpoint_of_row,
    summarize_report,
    with_subject,
)
from explorer.errors import IndexUnavailableError
from notary.event import LEDGER_QUERY_CENTER, subjects
from notary.log.compact import CompactRange
from notary.log.hashing import SHA256, TreeHash
from notary.storage.base import CheckpointJSON
from notary.storage.schema import Migration, Schema, SchemaError, check, migrate

#: Advisory lock keys: each append (a transaction lock), the writer's lease (session). The schema is migrated
#: under ``notary.storage.schema``'s lock.
_APPEND_LOCK: Final = 0x6578_706C_5F61_70  # "expl_ap"
_LEAD_LOCK: Final = 0x6578_706C_5F6C_64  # "expl_ld"

_SCHEMA_V1: Final = (
    "CREATE TABLE IF NOT EXISTS explorer_meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL)",
    """CREATE TABLE IF NOT EXISTS explorer_calls (
        idx BIGINT PRIMARY KEY,
        event_id TEXT NOT NULL,
        time_ms BIGINT NOT NULL,
        caller_org TEXT NOT NULL,
        provider_org TEXT NOT NULL,
        center TEXT NOT NULL,
        unit TEXT NOT NULL,
        api TEXT NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        asset_id TEXT,
        asset_version BIGINT,
        grant_id TEXT,
        decision SMALLINT NOT NULL,
        denial_reason TEXT,
        status INTEGER NOT NULL,
        latency_us BIGINT NOT NULL,
        trace_id TEXT NOT NULL,
        gateway_id TEXT NOT NULL,
        gateway_seq BIGINT NOT NULL,
        leaf_hash BYTEA NOT NULL,
        is_query BOOLEAN NOT NULL,
        entry BYTEA NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS explorer_calls_event ON explorer_calls (event_id)",
    "CREATE INDEX IF NOT EXISTS explorer_calls_time ON explorer_calls (time_ms)",
    "CREATE INDEX IF NOT EXISTS explorer_calls_caller ON explorer_calls (caller_org, idx)",
    "CREATE INDEX IF NOT EXISTS explorer_calls_provider ON explorer_calls (provider_org, idx)",
    "CREATE INDEX IF NOT EXISTS explorer_calls_asset ON explorer_calls (asset_id, idx)",
    "CREATE INDEX IF NOT EXISTS explorer_calls_api ON explorer_calls (api, idx)",
    "CREATE INDEX IF NOT EXISTS explorer_calls_grant ON explorer_calls (grant_id, idx)",
    "CREATE INDEX IF NOT EXISTS explorer_calls_trace ON explorer_calls (trace_id, idx)",
    """CREATE TABLE IF NOT EXISTS explorer_checkpoints (
        size BIGINT PRIMARY KEY, root TEXT NOT NULL, time_ms BIGINT, published_ms BIGINT,
        cosigners TEXT NOT NULL, note TEXT NOT NULL, anchor TEXT
    )""",
    "CREATE TABLE IF NOT EXISTS explorer_gaps (pos INTEGER PRIMARY KEY, gap TEXT NOT NULL)",
    "INSERT INTO explorer_meta VALUES ('schema_version', '1'::bytea) ON CONFLICT DO NOTHING",
)
#: The index's migrations (``notary.storage.schema``); version 1 is the schema of the releases before them.
SCHEMA: Final = Schema(
    "explorer_calls",
    (
        Migration(1, "the call index of the first releases", _SCHEMA_V1),
        Migration(
            2,
            "the steps of each PSI job by its tag (events' psi_job), for the explorer's job page; no log entry named "
            "a job before, so there is nothing to fill",
            (
                "CREATE TABLE IF NOT EXISTS explorer_psi_jobs (tag TEXT NOT NULL, idx BIGINT NOT NULL, "
                "PRIMARY KEY (tag, idx))",
            ),
        ),
        Migration(
            3,
            "what each allowed ledger query read: the call its route names and the firms its subject names, so that "
            "the regulator's queries of a call are found exactly (explorer.lookedat); the rows indexed before are "
            "filled from their entries by the first writer that opens the index (PostgresCallIndex._fill_queries)",
            (
                "CREATE TABLE IF NOT EXISTS explorer_query_calls (call TEXT NOT NULL, idx BIGINT NOT NULL, "
                "PRIMARY KEY (call, idx))",
                "CREATE INDEX IF NOT EXISTS explorer_query_calls_idx ON explorer_query_calls (idx)",
                "CREATE TABLE IF NOT EXISTS explorer_query_subjects (subject TEXT NOT NULL, idx BIGINT NOT NULL, "
                "PRIMARY KEY (subject, idx))",
            ),
        ),
    ),
    ("explorer_meta", "explorer_calls", "explorer_checkpoints", "explorer_gaps"),
    legacy_lock=0x6578_706C_5F73_63,
)
SCHEMA_VERSION: Final = SCHEMA.latest
_COLUMNS: Final = (
    "idx, event_id, time_ms, caller_org, provider_org, center, unit, api, method, route, asset_id, asset_version, "
    "grant_id, decision, denial_reason, status, latency_us, trace_id, gateway_id, gateway_seq, leaf_hash"
)
_INSERT: Final = f"INSERT INTO explorer_calls ({_COLUMNS}, is_query, entry) VALUES (" + ", ".join(["%s"] * 23) + ")"
_INSERT_QUERY_CALL: Final = "INSERT INTO explorer_query_calls (call, idx) VALUES (%s, %s) ON CONFLICT DO NOTHING"
_INSERT_QUERY_SUBJECT: Final = (
    "INSERT INTO explorer_query_subjects (subject, idx) VALUES (%s, %s) ON CONFLICT DO NOTHING"
)
_CHECKPOINT_COLUMNS: Final = "size, root, time_ms, published_ms, cosigners, note, anchor"
_MAX_INT: Final = (1 << 63) - 1
#: The tenant restriction in SQL: the party's calls but other firms' ledger queries (``CallFilter.party``).
_PARTY: Final = "(caller_org = %(party)s OR (provider_org = %(party)s AND NOT is_query))"
#: The aggregates' form of it, which knows the center, not the gateway (as ``CallIndex``'s ``stats``).
_PARTY_BY_CENTER: Final = "(caller_org = %(party)s OR (provider_org = %(party)s AND center <> %(query_center)s))"


def _row(r: Sequence[Any]) -> CallRow:
    return {
        "index": r[0],
        "event_id": r[1],
        "time_ms": r[2],
        "caller_org": r[3],
        "provider_org": r[4],
        "center": r[5],
        "unit": r[6],
        "api": r[7],
        "method": r[8],
        "route": r[9],
        "asset_id": r[10],
        "asset_version": r[11],
        "grant_id": r[12],
        "decision": _DECISION_NAMES[r[13]],
        "denial_reason": r[14],
        "status": r[15],
        "latency_us": r[16],
        "trace_id": r[17],
        "gateway_id": r[18],
        "gateway_seq": r[19],
        "leaf_hash": base64.b64encode(bytes(r[20])).decode("ascii"),
    }


def _where(f: CallFilter) -> tuple[list[str], dict[str, Any]] | None:
    """The SQL conditions of a filter and their parameters; None when nothing can match."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for value, column in (
        (f.caller, "caller_org"), (f.provider, "provider_org"), (f.api, "api"), (f.center, "center"),
        (f.asset, "asset_id"), (f.grant, "grant_id"), (f.denial_reason, "denial_reason"),
    ):  # fmt: skip
        if value is not None:
            if not isinstance(value, str):
                return None
            clauses.append(f"{column} = %({column})s")
            params[column] = value
    if f.decision is not None:
        if f.decision not in ("allow", "deny"):
            return None
        clauses.append("decision = %(decision)s")
        params["decision"] = _DECISION_NAMES.index(f.decision)
    if f.status is not None:
        if type(f.status) is not int or not 0 <= f.status < 1 << 31:
            return None
        clauses.append("status = %(status)s")
        params["status"] = f.status
    if f.trace_id is not None:
        t = f.trace_id
        if not isinstance(t, str) or len(t) != 32 or t.lower() != t:
            return None
        try:
            bytes.fromhex(t)
        except ValueError:
            return None
        clauses.append("trace_id = %(trace)s")
        params["trace"] = t
    for bound, op, name in ((f.from_ms, ">=", "from_ms"), (f.to_ms, "<", "to_ms")):
        if bound is not None:
            if type(bound) is not int:
                return None
            clauses.append(f"time_ms {op} %({name})s")
            params[name] = max(-_MAX_INT, min(_MAX_INT, bound))
    if f.party is not None:
        if not isinstance(f.party, str):
            return None
        clauses.append(_PARTY)
        params["party"] = f.party
    return clauses, params


class PostgresCallIndex:
    """The call index in the PostgreSQL database at ``url`` (tables created if missing). ``readonly`` never
    writes, and never leads: a replica that only serves reads."""

    def __init__(
        self, url: str, *, readonly: bool = False, connect_timeout_s: int = 5, tree: TreeHash = SHA256
    ) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("the call index is a postgresql:// URL")
        self.url = url
        self.tree = tree  # the log's tree hash: leaf hashes and the compact range
        self._readonly = readonly
        self._connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._write_lock = threading.Lock()
        self._writer: Any = None
        self._leader: Any = None  # the connection that holds the writer's lease
        self._closed = False
        conn = self._local.conn = self._connect()
        try:  # a read-only replica never migrates: it reads this release's version or refuses
            version = check(conn, SCHEMA) if readonly else migrate(conn, SCHEMA)
        except SchemaError as exc:
            self.close()
            raise ValueError(f"the call index: {exc}") from exc
        except BaseException:
            self.close()
            raise
        if version == 0:
            self.close()
            raise FileNotFoundError("no call index in this database")
        if not readonly:
            try:
                self._fill_queries()
            except BaseException:
                self.close()
                raise

    def _fill_queries(self) -> None:
        """Once, after migration 3: index what the ledger queries indexed before it read (``explorer_query_calls``,
        ``explorer_query_subjects``), from their entries, parsed as ``calls._Batch`` does. Under the append lock,
        marked done in ``explorer_meta`` in the same transaction; idempotent if it is cut short."""
        conn = self._local.conn
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
            if conn.execute("SELECT 1 FROM explorer_meta WHERE key = 'queries_indexed'").fetchone() is not None:
                return
            rows = conn.execute(
                "SELECT idx, route, api, entry FROM explorer_calls WHERE is_query AND decision = 0 ORDER BY idx"
            ).fetchall()
            looks: list[tuple[str, int]] = []
            named: list[tuple[str, int]] = []
            for idx, route, api, entry in rows:
                call = call_of_route(route, api)
                if call is not None:
                    looks.append((call, idx))
                named.extend((name, idx) for name in dict.fromkeys(subjects(json.loads(bytes(entry)))))
            with conn.cursor() as cursor:
                if looks:
                    cursor.executemany(_INSERT_QUERY_CALL, looks)
                if named:
                    cursor.executemany(_INSERT_QUERY_SUBJECT, named)
            conn.execute("INSERT INTO explorer_meta VALUES ('queries_indexed', '1'::bytea) ON CONFLICT DO NOTHING")

    # ------------------------------------------------------------------------------------------ connections

    def _connect(self) -> Any:
        import psycopg

        with self._lock:
            if self._closed:
                raise ValueError("the call index is closed")
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout_s)
        with self._lock:
            self._connections.append(conn)
        return conn

    def _reader(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._connect()
        return conn

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        """This thread's connection; one that broke (the server restarted) is replaced at the next read. The
        database out of reach is :class:`IndexUnavailableError` (503 ``index_unavailable``)."""
        import psycopg

        try:
            conn = self._reader()
        except psycopg.OperationalError as exc:
            raise IndexUnavailableError(f"the call index cannot be reached: {_first_line(exc)}") from exc
        try:
            yield conn
        except psycopg.OperationalError as exc:
            self._local.conn = None
            with contextlib.suppress(Exception):
                conn.close()
            raise IndexUnavailableError(f"the call index cannot be reached: {_first_line(exc)}") from exc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()
        self._writer = self._leader = None

    # ---------------------------------------------------------------------------------------------- writes

    def lead(self) -> bool:
        """Whether this index writes: it holds (or now takes) the session advisory lock that one explorer at a
        time holds. Lost with its connection, and then another replica's next call takes it."""
        import psycopg

        if self._readonly:
            return False
        with self._write_lock:
            try:
                if self._leader is not None and not (self._leader.closed or self._leader.broken):
                    self._leader.execute("SELECT 1")
                    return True
                self._leader = None
                conn = self._connect()
                held = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LEAD_LOCK,)).fetchone()[0]
                if held:
                    self._leader = conn
                else:
                    conn.close()
                return bool(held)
            except psycopg.OperationalError:
                self._leader = None
                return False

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Any]:
        """The writer's connection, under the write lock. The database out of reach is
        :class:`IndexUnavailableError`; a connection that broke is dropped, and the next write opens another
        (the log follower tries again at its next round)."""
        import psycopg

        if self._readonly:
            raise ValueError("the call index is read-only")
        with self._write_lock:
            try:
                if self._writer is None or self._writer.closed or self._writer.broken:
                    self._writer = self._connect()
                yield self._writer
            except psycopg.OperationalError as exc:
                writer, self._writer = self._writer, None
                if writer is not None:
                    with contextlib.suppress(Exception):
                        writer.close()
                raise IndexUnavailableError(f"the call index cannot be reached: {_first_line(exc)}") from exc

    @staticmethod
    def _size(conn: Any) -> int:
        return int(conn.execute("SELECT coalesce(max(idx) + 1, 0) FROM explorer_calls").fetchone()[0])

    def _load_range(self, conn: Any) -> CompactRange:
        row = conn.execute("SELECT value FROM explorer_meta WHERE key = 'compact_range'").fetchone()
        return CompactRange(tree=self.tree) if row is None else CompactRange.from_bytes(bytes(row[0]), self.tree)

    def add_entries(self, start: int, entries: Sequence[bytes]) -> None:
        """Index ``entries`` as leaves ``start, start+1, ...``; ``start`` must be the current size. All or
        nothing: a malformed entry (MalformedError) or any failure leaves the index as it was."""
        with self._writing() as conn:
            size = self._size(conn)
            if start != size:
                raise ValueError(f"entries must start at the index size {size}, not {start}")
            if not entries:
                return
            batch = _Batch(_Names(), self._load_range(conn))
            batch.add(start, entries)  # parsed and checked as the SQLite index does, before the transaction
            names: list[str | None] = [None] * batch.next_id
            for name, id_ in batch.new_names.items():
                names[id_] = name
            suffix = "/" + LEDGER_QUERY_CENTER
            rows = []
            for r, entry in zip(batch.rows, entries, strict=True):
                center, gateway = names[r[6]], names[r[21]]
                rows.append((
                    r[0], r[1], r[3], names[r[4]], names[r[5]], center, names[r[7]], names[r[8]], names[r[9]],
                    r[10], names[r[11]], r[12], names[r[13]], r[15], names[r[16]], r[17], r[18],
                    bytes(r[19]).hex(), gateway, r[22], r[23],
                    center == LEDGER_QUERY_CENTER and str(gateway).endswith(suffix),
                    bytes(entry),
                ))  # fmt: skip
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
                if (now := self._size(conn)) != start:  # another writer got there first
                    raise ValueError(f"entries must start at the index size {now}, not {start}")
                with conn.cursor() as cursor:
                    cursor.executemany(_INSERT, rows)
                    if batch.jobs:
                        cursor.executemany(
                            "INSERT INTO explorer_psi_jobs (tag, idx) VALUES (%s, %s)",
                            [(tag.hex(), idx) for tag, idx in batch.jobs],
                        )
                    if batch.query_calls:
                        cursor.executemany(_INSERT_QUERY_CALL, batch.query_calls)
                    if batch.query_subjects:
                        cursor.executemany(_INSERT_QUERY_SUBJECT, [(names[s], i) for s, i in batch.query_subjects])
                conn.execute(
                    "INSERT INTO explorer_meta VALUES ('compact_range', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (batch.crange.to_bytes(),),
                )

    def put_checkpoints(self, rows: Sequence[CheckpointJSON]) -> None:
        """Store checkpoints as the notary's ``/v1/checkpoints`` lists them; a known size is replaced."""
        values = [
            (
                r["size"], r["root"], r["time_ms"], r["published_ms"], json.dumps(r["cosigners"]), r["note"],
                None if r["anchor"] is None else json.dumps(r["anchor"]),
            )
            for r in rows
        ]  # fmt: skip
        sql = (
            f"INSERT INTO explorer_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (size) DO UPDATE SET root = excluded.root, time_ms = excluded.time_ms, "
            "published_ms = excluded.published_ms, cosigners = excluded.cosigners, note = excluded.note, "
            "anchor = excluded.anchor"
        )
        with self._writing() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(sql, values)

    def put_gaps(self, gaps: Sequence[Mapping[str, Any]]) -> None:
        """Replace the gaps by ``gaps`` (as the notary's ``/v1/gaps`` lists them)."""
        values = [(i, json.dumps(dict(g))) for i, g in enumerate(gaps)]
        with self._writing() as conn, conn.transaction():
            conn.execute("DELETE FROM explorer_gaps")
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO explorer_gaps (pos, gap) VALUES (%s, %s)", values)

    # ----------------------------------------------------------------------------------------------- reads

    def size(self) -> int:
        with self._reading() as conn:
            return self._size(conn)

    def compact_range(self) -> CompactRange:
        with self._reading() as conn:
            return self._load_range(conn)

    def root(self) -> bytes:
        return self.compact_range().root()

    def _one(self, where: str, params: Sequence[Any]) -> CallRow | None:
        with self._reading() as conn:
            r = conn.execute(
                f"SELECT {_COLUMNS}, entry FROM explorer_calls WHERE {where} ORDER BY idx LIMIT 1", params
            ).fetchone()
        if r is None:
            return None
        call = _row(r)
        call["entry"] = bytes(r[21])
        return with_subject(call)

    def by_event_id(self, event_id: str) -> CallRow | None:
        """The call of ``event_id`` with its entry bytes (``"entry"``), or None."""
        if not isinstance(event_id, str):
            return None
        return self._one("event_id = %s", (event_id,))

    def by_index(self, index: int) -> CallRow | None:
        """The call at leaf ``index`` with its entry bytes (``"entry"``), or None."""
        if type(index) is not int or not 0 <= index <= _MAX_INT:
            return None
        return self._one("idx = %s", (index,))

    def by_job(self, tag: str) -> list[CallRow]:
        """The calls naming the PSI job ``tag``, with their entries, in log order (``CallIndex.by_job``)."""
        if not isinstance(tag, str) or len(tag) != 64 or any(c not in "0123456789abcdef" for c in tag):
            return []
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, entry FROM explorer_calls WHERE idx IN "
                "(SELECT idx FROM explorer_psi_jobs WHERE tag = %s ORDER BY idx LIMIT %s) ORDER BY idx",
                (tag, MAX_JOB_STEPS),
            ).fetchall()
        calls = []
        for r in rows:
            call = _row(r)
            call["entry"] = bytes(r[21])
            calls.append(with_subject(call))
        return calls

    def search(self, f: CallFilter, *, before: int | None, limit: int) -> list[CallRow]:
        """The calls matching ``f``, newest first (leaf index descending), only indices below ``before`` when
        given, at most ``limit``."""
        if limit <= 0:
            return []
        found = _where(f)
        if found is None:
            return []
        clauses, params = found
        if before is not None:
            clauses.append("idx < %(before)s")
            params["before"] = max(0, min(_MAX_INT, before))
        where = " AND ".join(clauses) or "TRUE"
        params["limit"] = limit
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM explorer_calls WHERE {where} ORDER BY idx DESC LIMIT %(limit)s", params
            ).fetchall()
        return [_row(r) for r in rows]

    def iter_calls(self, f: CallFilter, *, batch: int = 1000) -> Iterator[CallRow]:
        """Every call matching ``f``, by ascending leaf index, up to the size when iteration starts; ``batch``
        rows per statement (keyset pagination on the leaf index), no transaction held open between them."""
        batch = max(1, batch)
        found = _where(f)
        if found is None:
            return
        clauses, params = found
        end = self.size()
        where = " AND ".join([*clauses, "idx >= %(lo)s", "idx < %(hi)s"])
        params.update(lo=0, hi=end, limit=batch)
        while True:
            with self._reading() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM explorer_calls WHERE {where} ORDER BY idx LIMIT %(limit)s", params
                ).fetchall()
            yield from (_row(r) for r in rows)
            if len(rows) < batch:
                return
            params["lo"] = rows[-1][0] + 1

    # ------------------------------------------------------------------------------------------- checkpoints

    def checkpoint_covering(self, index: int) -> CheckpointJSON | None:
        """The smallest stored checkpoint that includes leaf ``index`` (size > index)."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM explorer_checkpoints WHERE size > %s ORDER BY size LIMIT 1",
                (index,),
            ).fetchone()
        return None if row is None else checkpoint_of_row(row)

    def anchored_covering(self, index: int) -> CheckpointJSON | None:
        """The smallest stored checkpoint with an anchor that includes leaf ``index`` (``CallIndex``'s)."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM explorer_checkpoints WHERE size > %s AND anchor IS NOT NULL "
                "ORDER BY size LIMIT 1",
                (index,),
            ).fetchone()
        return None if row is None else checkpoint_of_row(row)

    def latest_checkpoint(self) -> CheckpointJSON | None:
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM explorer_checkpoints ORDER BY size DESC LIMIT 1"
            ).fetchone()
        return None if row is None else checkpoint_of_row(row)

    def checkpoints(self, *, before: int | None, limit: int) -> list[CheckpointJSON]:
        """Stored checkpoints, largest size first, only sizes below ``before`` when given."""
        if limit <= 0:
            return []
        bound = _MAX_INT if before is None else before
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM explorer_checkpoints WHERE size < %s ORDER BY size DESC LIMIT %s",
                (bound, limit),
            ).fetchall()
        return [checkpoint_of_row(r) for r in rows]

    def gaps(self) -> list[dict[str, Any]]:
        with self._reading() as conn:
            rows = conn.execute("SELECT gap FROM explorer_gaps ORDER BY pos").fetchall()
        return [json.loads(r[0]) for r in rows]

    # -------------------------------------------------------------------------------------------- aggregates

    def per_minute(self, since_ms: int, party: str | None) -> list[MinuteCount]:
        """Calls and denials per minute (``minute_ms``, the minute's start) and center, for the calls with
        ``time_ms >= since_ms``, restricted to ``party`` when given (as ``CallIndex.per_minute``)."""
        where = "time_ms >= %(since)s"
        params: dict[str, Any] = {"since": since_ms, "query_center": LEDGER_QUERY_CENTER}
        if party is not None:
            where += " AND " + _PARTY_BY_CENTER
            params["party"] = party
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT time_ms - mod(time_ms, {MINUTE_MS}) AS minute, center, count(*), sum(decision) "
                f"FROM explorer_calls WHERE {where} GROUP BY minute, center",
                params,
            ).fetchall()
        out = [MinuteCount(minute_ms=int(m), center=c, calls=int(n), denials=int(d)) for m, c, n, d in rows]
        return sorted(out, key=lambda x: (x["minute_ms"], x["center"] or ""))

    def report(self, org: str, from_ms: int, to_ms: int) -> CallReport:
        """The compliance report of ``org`` for the calls with ``from_ms <= time_ms < to_ms`` (as
        ``CallIndex.report``)."""
        counts: list[tuple[Any, ...]] = []
        if isinstance(org, str) and from_ms < to_ms:
            with self._reading() as conn:
                counts = conn.execute(
                    "SELECT caller_org, provider_org, center, api, decision, denial_reason, count(*) "
                    f"FROM explorer_calls WHERE time_ms >= %(from_ms)s AND time_ms < %(to_ms)s AND {_PARTY_BY_CENTER} "
                    "GROUP BY caller_org, provider_org, center, api, decision, denial_reason",
                    {"from_ms": from_ms, "to_ms": to_ms, "party": org, "query_center": LEDGER_QUERY_CENTER},
                ).fetchall()
        return summarize_report(org, org, from_ms, to_ms, counts, lambda name: name)

    def looks(
        self, callers: Collection[str], *, calls: Collection[str] | None = None, subject: str | None = None,
        from_ms: int | None = None, to_ms: int | None = None,
    ) -> list[QueryLook]:  # fmt: skip
        """As ``CallIndex.looks``."""
        if (calls is not None and not calls) or not callers:
            return []
        sql = (
            "SELECT q.call, c.event_id, c.time_ms, c.api, c.caller_org FROM explorer_query_calls q "
            "JOIN explorer_calls c ON c.idx = q.idx"
        )
        params: dict[str, Any] = {"callers": sorted(set(callers))}
        if subject is not None:
            sql += " JOIN explorer_query_subjects s ON s.idx = q.idx AND s.subject = %(subject)s"
            params["subject"] = subject
        sql += " WHERE c.caller_org = ANY(%(callers)s)"
        if calls is not None:
            sql += " AND q.call = ANY(%(calls)s)"
            params["calls"] = sorted(set(calls))
        sql += _within(from_ms, to_ms, params)
        with self._reading() as conn:
            rows = conn.execute(sql + " ORDER BY c.time_ms, c.event_id", params).fetchall()
        return [{"call": r[0], "event_id": r[1], "time_ms": int(r[2]), "api": r[3], "caller_org": r[4]} for r in rows]

    def subject_counts(self, callers: Collection[str], from_ms: int, to_ms: int) -> dict[str, int]:
        """As ``CallIndex.subject_counts``."""
        if not callers or from_ms >= to_ms:
            return {}
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT s.subject, count(*) FROM explorer_query_subjects s JOIN explorer_calls c ON c.idx = s.idx "
                "WHERE c.caller_org = ANY(%(callers)s) AND c.time_ms >= %(from_ms)s AND c.time_ms < %(to_ms)s "
                "GROUP BY s.subject",
                {"callers": sorted(set(callers)), "from_ms": from_ms, "to_ms": to_ms},
            ).fetchall()
        return {str(subject): int(n) for subject, n in rows}

    def subject_queries(
        self, callers: Collection[str], subject: str, *, before: int | None, limit: int,
        from_ms: int | None = None, to_ms: int | None = None,
    ) -> list[int]:  # fmt: skip
        """As ``CallIndex.subject_queries``: a walk down the subject's range of ``explorer_query_subjects``'s
        primary key."""
        if limit <= 0 or not callers:
            return []
        sql = (
            "SELECT s.idx FROM explorer_query_subjects s JOIN explorer_calls c ON c.idx = s.idx "
            "WHERE s.subject = %(subject)s AND c.caller_org = ANY(%(callers)s)"
        )
        params: dict[str, Any] = {"subject": subject, "callers": sorted(set(callers)), "limit": limit}
        if before is not None:
            sql += " AND s.idx < %(before)s"
            params["before"] = before
        sql += _within(from_ms, to_ms, params)
        with self._reading() as conn:
            rows = conn.execute(sql + " ORDER BY s.idx DESC LIMIT %(limit)s", params).fetchall()
        return [int(r[0]) for r in rows]


def _within(from_ms: int | None, to_ms: int | None, params: dict[str, Any]) -> str:
    """As ``explorer.calls._within``, with named parameters: the condition that a query's call ``c`` has
    ``from_ms <= time_ms < to_ms`` (each bound only when given), its values put in ``params``."""
    sql = ""
    if from_ms is not None:
        sql += " AND c.time_ms >= %(from_ms)s"
        params["from_ms"] = from_ms
    if to_ms is not None:
        sql += " AND c.time_ms < %(to_ms)s"
        params["to_ms"] = to_ms
    return sql


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


__all__ = ["PostgresCallIndex"]
