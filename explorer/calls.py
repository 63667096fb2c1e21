"""The call index: one SQLite row per log entry, searchable by every field of the explorer's call filter.

The log only grows, so the index is built for appending and for reading newest first by leaf index:

- **rows.** ``calls`` is keyed by the leaf index (the rowid). Short names (org ids, centers, units, APIs,
  methods, assets, reasons, grants, gateways) are stored as small integers of one dictionary (``names``).
  The entry bytes are not stored as such: the columns plus ``extra`` (the caller identity, the request and
  response digests and the traceparent's parent id and flags, 73 or 105 bytes, and one more byte for an event
  of schema version 2) rebuild them exactly
  (``canonical_entry``), which is checked before a row is written; an entry that would not come back byte
  for byte keeps its bytes in ``entries``. A row takes ~300 bytes, where the entry alone is ~800.
- **chunks.** Leaf indices are cut into chunks of 65,536. For each searchable low-cardinality value (caller,
  provider, center, API, asset, decision, status, denial reason) and each chunk, ``bitmaps`` holds one bit per
  entry of the chunk that has the value. A search ANDs the bitmaps of its filters chunk by chunk, newest chunk
  first (a tenant's restriction is the OR of its caller and provider bitmaps, its rows then checked for
  ledger queries, below), and reads only the rows of the bits that survive: any combination of filters costs a
  few blob reads per chunk whatever its selectivity, and a chunk missing one of the values is skipped at once.
  High-cardinality values (grant, trace id, event id) have B-tree indexes keyed by ``chunk << 32 | value``, so
  each chunk's keys are one contiguous region of the index: appends touch only the newest region, and a lookup
  probes one small range per chunk.
- **time.** Event times are close to log order but not equal to it. ``bundles`` keeps per 256 entries the
  smallest and largest ``time_ms`` with a running maximum and a suffix minimum (both monotone), which turn a
  time range into a leaf-index range; per chunk, bundles entirely outside the range are masked out, and the
  rows left are checked exactly.
- **aggregates.** ``stats`` counts calls per minute, caller, provider, center, API, decision and reason, for
  the dashboard (``per_minute``) and compliance reports (``report``); ``seconds`` counts calls and denials per
  second, center, caller and provider, so the dashboard's window start costs a second of rows at most. What
  the aggregates cannot answer exactly (a period's ends within a minute or second) is counted from the rows:
  one SQL scan of the leaf-index range their time bundles give.
- **queries.** For each allowed ledger query, ``query_calls`` keeps the call its route names (``call_of_route``)
  and ``query_subjects`` each firm its ``subject`` names, keyed (value, leaf index), so the regulator's queries of
  a call, or naming a firm, are found exactly (``looks``, ``subject_counts``; ``explorer.lookedat``), and a firm's
  query audit listing pages through those naming it by leaf index (``subject_queries``).
- **the tree.** ``meta`` keeps the compact range (RFC 9162 right edge) of the indexed entries, updated in the
  transaction that adds them, so the log follower can check each new checkpoint's root against the index.

A **ledger query** (``notary.event.is_ledger_query``: a person's query recorded by the explorer, provider the
operator) belongs to the querying firm alone: a tenant's restriction (``CallFilter.party``) keeps it only where
the tenant is its caller, never as its provider, and so do the tenant's counts (``per_minute``) and a firm's
report (``report``: its ``served`` side never holds another firm's queries). The aggregates know the center,
not the gateway, so there a ledger query is a call of center ``explorer`` (``LEDGER_QUERY_CENTER``, which only
the explorer's records use without a grant).

Every append (rows, bitmaps, bundles, aggregates, names, compact range) is one transaction, its entries parsed
before it begins. One writer connection behind a lock; one reader connection per thread, each search in one read
transaction (WAL: readers never wait for the writer and see a consistent snapshot). Exports paginate by leaf
index in short read transactions, so they hold no snapshot open while streaming.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import sys
import threading
import zlib
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NotRequired, Protocol, TypedDict, cast
from urllib.parse import unquote

from notary.event import LEDGER_QUERY_CENTER, EventJSON, encode_entry, subjects
from notary.log.compact import CompactRange
from notary.log.errors import MalformedError
from notary.log.hashing import SHA256, TreeHash
from notary.storage.base import CheckpointJSON

SCHEMA_VERSION: Final = 3
CHUNK_BITS = 16  # (module variables rather than constants: the tests shrink the chunk)
CHUNK = 1 << CHUNK_BITS  # entries per chunk (one bitmap of 8 KiB per value and chunk)
BUNDLE: Final = 256  # entries per time bundle: a C2SP entry bundle
MINUTE_MS: Final = 60_000

# Bitmap columns: CallFilter field → column number in the bitmap key.
_CALLER, _PROVIDER, _CENTER, _API, _ASSET, _DECISION, _STATUS, _REASON = range(1, 9)
_DECISIONS: Final = {"allow": 0, "deny": 1}
_DECISION_NAMES: Final = ("allow", "deny")
_MAX_VALUE: Final = 1 << 34
_QUERY_GATEWAY: Final = "/" + LEDGER_QUERY_CENTER  # a ledger query's gateway ends so (``is_ledger_query``)
_scan_json: Final[Callable[[str, int], tuple[Any, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS calls (
    idx INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    ekey INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    caller INTEGER NOT NULL,
    provider INTEGER NOT NULL,
    center INTEGER NOT NULL,
    unit INTEGER NOT NULL,
    api INTEGER NOT NULL,
    method INTEGER NOT NULL,
    route TEXT NOT NULL,
    asset INTEGER NOT NULL,
    asset_version INTEGER,
    grant_id INTEGER NOT NULL,
    gkey INTEGER,
    decision INTEGER NOT NULL,
    reason INTEGER NOT NULL,
    status INTEGER NOT NULL,
    latency_us INTEGER NOT NULL,
    trace BLOB NOT NULL,
    tkey INTEGER NOT NULL,
    gateway INTEGER NOT NULL,
    gateway_seq INTEGER NOT NULL,
    leaf_hash BLOB NOT NULL,
    extra BLOB
);
CREATE INDEX IF NOT EXISTS calls_ekey ON calls (ekey);
CREATE INDEX IF NOT EXISTS calls_tkey ON calls (tkey);
CREATE INDEX IF NOT EXISTS calls_gkey ON calls (gkey) WHERE gkey IS NOT NULL;
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bitmaps (key INTEGER PRIMARY KEY, bits BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bundles (
    bundle INTEGER PRIMARY KEY, min_ms INTEGER NOT NULL, max_ms INTEGER NOT NULL,
    cummax INTEGER NOT NULL, sufmin INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bundles_cummax ON bundles (cummax);
CREATE INDEX IF NOT EXISTS bundles_sufmin ON bundles (sufmin);
CREATE TABLE IF NOT EXISTS stats (
    minute_ms INTEGER NOT NULL, caller INTEGER NOT NULL, provider INTEGER NOT NULL, center INTEGER NOT NULL,
    api INTEGER NOT NULL, decision INTEGER NOT NULL, reason INTEGER NOT NULL, calls INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, caller, provider, center, api, decision, reason)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stats_caller ON stats (caller, minute_ms);
CREATE TABLE IF NOT EXISTS seconds (
    second_ms INTEGER NOT NULL, center INTEGER NOT NULL, caller INTEGER NOT NULL, provider INTEGER NOT NULL,
    calls INTEGER NOT NULL, denials INTEGER NOT NULL, PRIMARY KEY (second_ms, center, caller, provider)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stats_provider ON stats (provider, minute_ms);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY, root TEXT NOT NULL, time_ms INTEGER, published_ms INTEGER,
    cosigners TEXT NOT NULL, note TEXT NOT NULL, anchor TEXT
);
CREATE TABLE IF NOT EXISTS gaps (pos INTEGER PRIMARY KEY, gap TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS psi_jobs (tag BLOB NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (tag, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS query_calls (
    call TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (call, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS query_calls_idx ON query_calls (idx);
CREATE TABLE IF NOT EXISTS query_subjects (
    subject INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (subject, idx)
) WITHOUT ROWID;
"""
#: At most this many steps of one PSI job are read (``by_job``): a job is three steps, a client retrying a refused
#: step under the same job id adds a few; more is a client reusing a tag, whose first steps are shown.
MAX_JOB_STEPS: Final = 32

_ROW_COLUMNS: Final = (
    "idx, event_id, time_ms, caller, provider, center, unit, api, method, route, asset, asset_version, grant_id, "
    "decision, reason, status, latency_us, trace, gateway, gateway_seq, leaf_hash"
)
_INSERT_CALL: Final = "INSERT INTO calls VALUES (" + ", ".join("?" * 25) + ")"
_CHECKPOINT_COLUMNS: Final = "size, root, time_ms, published_ms, cosigners, note, anchor"


#: The audit events' ``api`` of a ledger query that read one call, and the route's tail after the call's event id.
CALL_QUERY_APIS: Final = {"calls.get": "", "calls.provenance": "provenance", "calls.evidence": "evidence"}
CALLS_ROUTE: Final = "/api/v1/calls/"


def call_of_route(route: str, api: str) -> str | None:
    """The event id of the call a query of ``api`` read, from its route; None for another route."""
    tail = CALL_QUERY_APIS.get(api)
    if tail is None or not route.startswith(CALLS_ROUTE):
        return None
    parts = route[len(CALLS_ROUTE) :].split("/")
    if parts[1:] != ([tail] if tail else []) or not parts[0]:
        return None
    return unquote(parts[0])


class QueryLook(TypedDict):
    """One ledger query that read a call (``CallStore.looks``): the call's event id, the query's event id, time,
    endpoint and querying firm."""

    call: str
    event_id: str
    time_ms: int
    api: str
    caller_org: str


class MinuteCount(TypedDict):
    """Calls and denials in one minute (``minute_ms``, its start) at one center (``CallStore.per_minute``)."""

    minute_ms: int
    center: str | None
    calls: int
    denials: int


class ApiCount(TypedDict):
    center: str | None
    api: str | None
    decision: str  # "allow" | "deny"
    calls: int


class ReportSide(TypedDict):
    """The calls an org made, or served, in a report's period."""

    calls: int
    allowed: int
    denied: int
    by_api: list[ApiCount]


class DenialCount(TypedDict):
    side: str  # "made" | "served"
    reason: str | None
    calls: int


class Counterpart(TypedDict):
    """The other party of an org's calls, and how many each way (a call to itself counts on both sides)."""

    org: str | None
    made: int
    served: int
    denied_made: int
    denied_served: int


class CallReport(TypedDict):
    """The compliance report of ``org`` for ``from_ms <= time_ms < to_ms`` (``CallStore.report``)."""

    org: str
    from_ms: int
    to_ms: int
    made: ReportSide
    served: ReportSide
    denials: list[DenialCount]
    counterparts: list[Counterpart]


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What a call search asks for; ``None`` fields do not restrict. ``party`` is the tenant restriction: the
    calls where that org is the caller or the provider, except the ledger queries of other firms (where it is
    the provider only as the explorer's operator: ``explorer.access.sees_call``)."""

    caller: str | None = None  # caller_org
    provider: str | None = None  # provider_org
    api: str | None = None
    center: str | None = None
    asset: str | None = None  # asset_id
    grant: str | None = None  # grant_id ("0x" + 64 hex)
    decision: str | None = None  # "allow" | "deny"
    status: int | None = None
    denial_reason: str | None = None
    from_ms: int | None = None  # time_ms >= from_ms
    to_ms: int | None = None  # time_ms < to_ms
    trace_id: str | None = None  # 32 hex, the trace id of the event's traceparent
    party: str | None = None  # caller_org == party OR (provider_org == party AND not a ledger query)


class CallRow(TypedDict):
    """A call as the index answers it: the event's fields (``notary.event.EventJSON``) but the digests and the
    caller identity, the traceparent as its trace id, and where the entry sits in the log (``index``, and
    ``leaf_hash`` in base64). ``entry`` (the entry's bytes) and ``subject`` (a ledger query's, from them) come
    with a single call's read (``by_event_id``, ``by_index``, ``by_job``), not with a search's rows."""

    index: int
    event_id: str
    time_ms: int
    caller_org: str
    provider_org: str
    center: str
    unit: str
    api: str
    method: str
    route: str
    asset_id: str | None
    asset_version: int | None
    grant_id: str | None
    decision: str
    denial_reason: str | None
    status: int
    latency_us: int
    trace_id: str
    gateway_id: str
    gateway_seq: int
    leaf_hash: str
    entry: NotRequired[bytes]
    subject: NotRequired[str]


class CallStore(Protocol):
    """What the explorer asks of a call index: :class:`CallIndex` (SQLite, one per explorer) or
    ``explorer.calls_pg.PostgresCallIndex`` (PostgreSQL, shared by explorer replicas). Both answer every read
    alike, the tenant restriction (``CallFilter.party``) included."""

    def lead(self) -> bool:
        """Whether this explorer may write (follow the log): always for SQLite; for PostgreSQL the one holding
        the index's lock."""
        ...

    def add_entries(self, start: int, entries: Sequence[bytes]) -> None: ...
    def put_checkpoints(self, rows: Sequence[CheckpointJSON]) -> None: ...
    def put_gaps(self, gaps: Sequence[Mapping[str, Any]]) -> None: ...
    def size(self) -> int: ...
    def compact_range(self) -> CompactRange: ...
    def root(self) -> bytes: ...
    def by_event_id(self, event_id: str) -> CallRow | None: ...
    def by_index(self, index: int) -> CallRow | None: ...
    def by_job(self, tag: str) -> list[CallRow]: ...
    def search(self, f: CallFilter, *, before: int | None, limit: int) -> list[CallRow]: ...
    def iter_calls(self, f: CallFilter, *, batch: int = 1000) -> Iterator[CallRow]: ...
    def checkpoint_covering(self, index: int) -> CheckpointJSON | None: ...
    def anchored_covering(self, index: int) -> CheckpointJSON | None: ...
    def latest_checkpoint(self) -> CheckpointJSON | None: ...
    def checkpoints(self, *, before: int | None, limit: int) -> list[CheckpointJSON]: ...
    def gaps(self) -> list[dict[str, Any]]: ...
    def per_minute(self, since_ms: int, party: str | None) -> list[MinuteCount]: ...
    def report(self, org: str, from_ms: int, to_ms: int) -> CallReport: ...
    def looks(
        self, callers: Collection[str], *, calls: Collection[str] | None = None, subject: str | None = None,
        from_ms: int | None = None, to_ms: int | None = None,
    ) -> list[QueryLook]: ...  # fmt: skip
    def subject_counts(self, callers: Collection[str], from_ms: int, to_ms: int) -> dict[str, int]: ...
    def subject_queries(
        self, callers: Collection[str], subject: str, *, before: int | None, limit: int,
        from_ms: int | None = None, to_ms: int | None = None,
    ) -> list[int]: ...  # fmt: skip
    def close(self) -> None: ...


class _Names:
    """The dictionary of short strings ↔ small integers (id 0 stands for null); shared by a CallIndex's
    threads. Ids are immutable once committed, so a reader refreshes only on an id or name it does not know."""

    def __init__(self) -> None:
        self.by_id: list[str | None] = [None]
        self.ids: dict[str, int] = {}
        #: The ids of the names ``<org>/explorer``: the gateways whose ledger queries a tenant search restricts.
        self.query_gateways: frozenset[int] = frozenset()
        self.lock = threading.Lock()

    def learn(self, rows: Iterable[tuple[int, str]]) -> None:
        suffix = "/" + LEDGER_QUERY_CENTER
        with self.lock:
            found: list[int] = []
            for id_, name in rows:
                if id_ == len(self.by_id):
                    self.by_id.append(name)
                    self.ids[name] = id_
                    if name.endswith(suffix):
                        found.append(id_)
            if found:
                self.query_gateways = self.query_gateways.union(found)

    def refresh(self, conn: sqlite3.Connection) -> None:
        self.learn(conn.execute("SELECT id, name FROM names WHERE id >= ? ORDER BY id", (len(self.by_id),)))

    def lookup(self, conn: sqlite3.Connection, name: str) -> int | None:
        found = self.ids.get(name)
        if found is None:
            self.refresh(conn)
            found = self.ids.get(name)
        return found


@dataclass(slots=True)
class _Plan:
    """A search turned into index ranges: leaf indices [lo, hi), the bitmap terms (AND of ORs of bitmap
    keys without their chunk), an optional driver index (grant or trace key without its chunk), and what is
    checked on each row."""

    lo: int
    hi: int
    terms: list[list[int]]
    driver: str | None = None  # "gkey" | "tkey"
    driver_value: int = 0
    from_ms: int | None = None
    to_ms: int | None = None
    trace: bytes | None = None
    grant: int | None = None  # checked on rows when the driver is the trace
    party: int | None = None  # with query_gateways: a ledger query is kept only if party is its caller
    query_center: int | None = None  # the id of center ``explorer``
    query_gateways: frozenset[int] = frozenset()  # the ids of the gateways named ``<org>/explorer``

    def narrows_rows(self) -> bool:
        """Whether times, trace or grant are checked on the rows, which many rows may fail; the tenant's restriction
        on ledger queries, also checked on rows, fails only the operator's rows of other firms' queries."""
        return self.from_ms is not None or self.to_ms is not None or self.trace is not None or self.grant is not None


def _key(column: int, value: int, chunk: int = 0) -> int:
    return ((column << 34 | value) << 24) | chunk


def _chunk_key(chunk: int, value: int) -> int:
    return chunk << 32 | value


def _set_bits(x: int, base: int, descending: bool) -> Iterator[int]:
    """The leaf indices of the bits set in a chunk bitmap ``x`` (bit i ↔ leaf ``base + i``), in order."""
    words = array("Q")
    words.frombytes(x.to_bytes(CHUNK // 8, "little"))
    if sys.byteorder == "big":  # pragma: no cover - little-endian machines only in practice
        words.byteswap()
    if descending:
        for i in range(len(words) - 1, -1, -1):
            w = words[i]
            if w:
                at = base + (i << 6)
                while w:
                    top = w.bit_length() - 1
                    yield at + top
                    w ^= 1 << top
    else:
        for i in range(len(words)):
            w = words[i]
            if w:
                at = base + (i << 6)
                while w:
                    low = w & -w
                    yield at + low.bit_length() - 1
                    w ^= low


def _range_mask(start: int, end: int) -> int:
    """The bits [start, end) of a chunk bitmap."""
    return ((1 << (end - start)) - 1) << start


def with_subject(call: CallRow) -> CallRow:
    """``call`` (a row with its ``entry``) with the ``subject`` its entry names, if any: the firms whose data an
    explorer query read (``notary.event.subjects``). Rows carry no subject column: such an entry does not come
    back from the columns byte for byte, so the index keeps its bytes and the detail reads it from them."""
    entry = call["entry"]
    if b'"subject":' in entry:
        subject = json.loads(entry).get("subject")
        if isinstance(subject, str):
            call["subject"] = subject
    return call


def _entry_bytes(
    event_id: str,
    time_ms: int,
    names: Sequence[Any],  # caller, provider, center, unit, api, method, asset, grant, reason, gateway: str | None
    route: str,
    asset_version: int | None,
    decision: int,
    status: int,
    latency_us: int,
    trace: bytes,
    gateway_seq: int,
    extra: bytes,
) -> bytes:
    """The entry a row holds: exactly ``canonical_entry`` of its event (:func:`notary.event.encode_entry`).
    Raises ValueError or TypeError for values of other types.

    ``extra`` is the caller identity, the request digest, the span id and flags (73 bytes), then the response
    digest if there is one (32), then the event's schema version if it is not 1 (one byte, 2 or 3; an index
    written before version 2 holds none)."""
    caller, provider, center, unit, api, method, asset, grant, reason, gateway = names
    size = len(extra)
    return encode_entry(
        api, asset, asset_version, extra[0:32].hex(), caller, center, _DECISION_NAMES[decision], reason, event_id,
        gateway, gateway_seq, grant, latency_us, method, provider, extra[32:64].hex(),
        None if size in (73, 74) else extra[73:105].hex(), route, status, time_ms,
        f"00-{trace.hex()}-{extra[64:72].hex()}-{extra[72]:02x}", unit, extra[-1] if size in (74, 106) else 1,
    )  # fmt: skip


# The row tuple of ``calls`` (in column order) and the positions of the bitmap columns in it.
_R_IDX, _R_TIME, _R_CALLER, _R_PROVIDER, _R_CENTER, _R_API, _R_ASSET = 0, 3, 4, 5, 6, 8, 11
_R_DECISION, _R_REASON, _R_STATUS = 15, 16, 17
_BITMAP_POSITIONS: Final = (
    (_CALLER, _R_CALLER), (_PROVIDER, _R_PROVIDER), (_CENTER, _R_CENTER), (_API, _R_API), (_ASSET, _R_ASSET),
    (_DECISION, _R_DECISION), (_STATUS, _R_STATUS), (_REASON, _R_REASON),
)  # fmt: skip


class _Batch:
    """What one ``add_entries`` writes, prepared in Python before its transaction."""

    def __init__(self, names: _Names, crange: CompactRange) -> None:
        self.names = names
        self.new_names: dict[str, int] = {}
        self.next_id = len(names.by_id)
        self.rows: list[tuple[Any, ...]] = []
        self.raw: list[tuple[int, bytes]] = []
        self.jobs: list[tuple[bytes, int]] = []  # (PSI job tag, leaf index) of the entries naming a job
        self.query_calls: list[tuple[str, int]] = []  # (call's event id, leaf index) of a ledger query of one call
        self.query_subjects: list[tuple[int, int]] = []  # (subject's name id, leaf index) of a ledger query
        self.bits: dict[int, bytearray] = {}
        self.stats: Counter[tuple[int, ...]] = Counter()
        self.seconds: dict[tuple[int, int, int, int], list[int]] = {}
        self.bundles: dict[int, list[int]] = {}
        self.crange = crange

    def code(self, name: object) -> int:
        """The id of a name, a new one if it is not in the dictionary yet."""
        if type(name) is not str:
            raise MalformedError(f"expected a string, found {name!r}")
        found = self.names.ids.get(name) or self.new_names.get(name)
        if found is None:
            found = self.new_names[name] = self.next_id
            self.next_id += 1
        return found

    def add(self, start: int, entries: Sequence[bytes]) -> None:
        """Parse ``entries`` (leaves ``start, start+1, ...``) into rows, then bitmaps, bundles and counts."""
        ids = self.names.ids  # committed names; new ones go through ``code``
        code = self.code
        fromhex = bytes.fromhex
        scan = _scan_json
        rows = self.rows
        stats = self.stats
        seconds = self.seconds
        leaves = []
        new = self.crange.tree.new  # the log's tree hash: SHA-256 (intl) or SM3 (sm)
        for offset, entry in enumerate(entries):
            index = start + offset
            if type(entry) is not bytes:
                entry = bytes(entry)
            try:
                text = entry.decode("utf-8")
                obj, end = scan(text, 0)
                if end != len(text) or type(obj) is not dict:
                    raise MalformedError("not one JSON object")
                # the notary validated the entry (its log's witnesses cosigned it), so it is read as an event; a
                # key it lacks raises KeyError below, a value of the wrong type fails the checks or re-encoding
                e = cast(EventJSON, obj)
                tp = e["traceparent"]
                response = e["response_digest"]
                extra = (
                    fromhex(e["caller_identity"]) + fromhex(e["request_digest"]) + fromhex(tp[36:52])
                    + fromhex(tp[53:55]) + (b"" if response is None else fromhex(response))
                )  # fmt: skip
                trace = fromhex(tp[3:35])
                strings = (
                    e["caller_org"], e["provider_org"], e["center"], e["unit"], e["api"], e["method"],
                    e["asset_id"], e["grant_id"], e["denial_reason"], e["gateway_id"],
                )  # fmt: skip
                caller = ids.get(strings[0]) or code(strings[0])
                provider = ids.get(strings[1]) or code(strings[1])
                center = ids.get(strings[2]) or code(strings[2])
                unit = ids.get(strings[3]) or code(strings[3])
                api = ids.get(strings[4]) or code(strings[4])
                method = ids.get(strings[5]) or code(strings[5])
                asset = 0 if strings[6] is None else ids.get(strings[6]) or code(strings[6])
                grant = 0 if strings[7] is None else ids.get(strings[7]) or code(strings[7])
                reason = 0 if strings[8] is None else ids.get(strings[8]) or code(strings[8])
                gateway = ids.get(strings[9]) or code(strings[9])
                decision = _DECISIONS[e["decision"]]
                event_id, time_ms, route, asset_version = e["event_id"], e["time_ms"], e["route"], e["asset_version"]
                status, latency_us, gateway_seq = e["status"], e["latency_us"], e["gateway_seq"]
                if (
                    type(time_ms) is not int or type(status) is not int or type(latency_us) is not int
                    or type(gateway_seq) is not int or (asset_version is not None and type(asset_version) is not int)
                    or type(event_id) is not str or type(route) is not str
                ):  # fmt: skip
                    raise MalformedError("a field of the wrong type")
                if len(trace) != 16 or len(extra) not in (73, 105):
                    raise MalformedError("malformed traceparent or digests")
                if e["v"] != 1:  # 2, or 3 under sm; the row keeps it as a last byte
                    extra += bytes([e["v"]])
                try:
                    exact = entry == _entry_bytes(
                        event_id, time_ms, strings, route, asset_version, decision, status, latency_us, trace,
                        gateway_seq, extra,
                    )  # fmt: skip
                except (ValueError, TypeError):
                    exact = False
                job = e.get("psi_job")
                if job is not None:
                    if type(job) is not str or len(job) != 64:
                        raise MalformedError("a psi_job that is not a digest")
                    self.jobs.append((fromhex(job), index))
                if decision == 0 and strings[2] == LEDGER_QUERY_CENTER and strings[9].endswith(_QUERY_GATEWAY):
                    self._query(index, e, route, strings[4])
            except MalformedError as exc:
                raise MalformedError(f"entry {index} is not an event: {exc}") from None
            except (ValueError, KeyError, TypeError, IndexError, AttributeError, StopIteration) as exc:
                raise MalformedError(f"entry {index} is not an event: {type(exc).__name__} {exc}") from None
            chunk = index >> CHUNK_BITS
            leaf = new(b"\x00" + entry).digest()
            leaves.append(leaf)
            rows.append((
                index, event_id, chunk << 32 | zlib.crc32(event_id.encode()), time_ms,
                caller, provider, center, unit, api, method, route, asset, asset_version,
                grant, chunk << 32 | grant if grant else None, decision, reason, status, latency_us,
                trace, chunk << 32 | int.from_bytes(trace[:4], "big"), gateway, gateway_seq, leaf,
                extra if exact else None,
            ))  # fmt: skip
            if not exact:
                self.raw.append((index, bytes(entry)))
            stats[(time_ms - time_ms % MINUTE_MS, caller, provider, center, api, decision, reason)] += 1
            second = seconds.get(key := (time_ms - time_ms % 1000, center, caller, provider))
            if second is None:
                seconds[key] = [1, decision]
            else:
                second[0] += 1
                second[1] += decision
        self.crange.extend(leaves)
        self._summarize(start, len(entries))

    def _query(self, index: int, e: EventJSON, route: str, api: str) -> None:
        """Note what the allowed ledger query at ``index`` read: the call its route names (``call_of_route``) and
        the firms its ``subject`` names (``notary.event.subjects``), each once."""
        call = call_of_route(route, api)
        if call is not None:
            self.query_calls.append((call, index))
        subject = e.get("subject")
        if subject is not None:
            if type(subject) is not str:
                raise MalformedError("a subject that is not a string")
            for name in dict.fromkeys(subjects(e)):
                self.query_subjects.append((self.code(name), index))

    def _summarize(self, start: int, count: int) -> None:
        """Add the rows of leaves [start, start + count) to the batch's bitmaps (per chunk) and time bundles."""
        rows = self.rows[len(self.rows) - count :]
        end = start + count
        cut = start
        while cut < end:
            stop = min(end, (cut | (CHUNK - 1)) + 1)
            part = rows[cut - start : stop - start]
            offsets = [r[_R_IDX] & (CHUNK - 1) for r in part]
            chunk = cut >> CHUNK_BITS
            for column, position in _BITMAP_POSITIONS:
                groups: dict[int, list[int]] = {}
                for o, value in zip(offsets, map(itemgetter(position), part), strict=True):
                    group = groups.get(value)
                    if group is None:
                        groups[value] = [o]
                    else:
                        group.append(o)
                for value, members in groups.items():
                    if (value == 0 and column in (_ASSET, _REASON)) or not 0 <= value < _MAX_VALUE:
                        continue
                    key = _key(column, value, chunk)
                    bits = self.bits.get(key)
                    if bits is None:
                        bits = self.bits[key] = bytearray(CHUNK // 8)
                    for o in members:
                        bits[o >> 3] |= 1 << (o & 7)
            cut = stop
        cut = start
        while cut < end:
            stop = min(end, (cut // BUNDLE + 1) * BUNDLE)
            times = [r[_R_TIME] for r in rows[cut - start : stop - start]]
            low, high = min(times), max(times)
            bounds = self.bundles.setdefault(cut // BUNDLE, [low, high])
            bounds[0], bounds[1] = min(bounds[0], low), max(bounds[1], high)
            cut = stop


class CallIndex:
    """The SQLite call index at ``path`` (see the module docstring). ``readonly`` opens an existing index for
    reading only."""

    def __init__(self, path: Path, *, readonly: bool = False, tree: TreeHash = SHA256) -> None:
        self.path = Path(path)
        self.tree = tree  # the log's tree hash: leaf hashes and the compact range
        self._readonly = readonly
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._names = _Names()
        self._closed = False
        self._bitmap_cache: OrderedDict[int, int] = OrderedDict()
        self._bitmap_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no call index at {self.path}")
            conn = self._reader()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            self._writer = conn
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            self.close()
            raise ValueError(f"{self.path}: call index schema {row and row[0]}, this explorer reads {SCHEMA_VERSION}")
        self._names.refresh(conn)
        self._crange = self._load_range(conn)

    # ------------------------------------------------------------------------------------------ connections

    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        if readonly:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                check_same_thread=False, timeout=30,
            )  # fmt: skip
        else:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")  # the index is rebuilt from the log if ever lost
        conn.execute("PRAGMA cache_size=-131072")  # 128 MiB
        conn.execute("PRAGMA mmap_size=2147418112")
        conn.execute("PRAGMA temp_store=MEMORY")
        with self._conn_lock:
            self._connections.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise ValueError("the call index is closed")
            conn = self._connect(readonly=self._readonly)
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on this thread's connection: every read inside sees the same committed state."""
        conn = self._reader()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._conn_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._writer = None

    # ---------------------------------------------------------------------------------------------- writes

    def lead(self) -> bool:
        """A SQLite index has one writer, its explorer's follower."""
        return not self._readonly

    @staticmethod
    def _size(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT max(idx) FROM calls").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def _load_range(self, conn: sqlite3.Connection) -> CompactRange:
        row = conn.execute("SELECT value FROM meta WHERE key = 'compact_range'").fetchone()
        return CompactRange(tree=self.tree) if row is None else CompactRange.from_bytes(row[0], self.tree)

    def _write_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            raise ValueError("the call index is read-only" if self._readonly else "the call index is closed")
        return self._writer

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed if the block completes, rolled back if it raises."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def add_entries(self, start: int, entries: Sequence[bytes]) -> None:
        """Index ``entries`` as leaves ``start, start+1, ...``; ``start`` must be the current size. All or
        nothing: a malformed entry (MalformedError) or any failure leaves the index as it was."""
        with self._write_lock:
            conn = self._write_conn()
            size = self._size(conn)
            if start != size:
                raise ValueError(f"entries must start at the index size {size}, not {start}")
            if self._crange.size != size:
                self._crange = self._load_range(conn)
            if not entries:
                return
            self._names.refresh(conn)
            batch = _Batch(self._names, self._crange.copy())
            batch.add(start, entries)
            with self._transaction(conn):
                if self._size(conn) != start:  # another writer got there first
                    raise ValueError(f"entries must start at the index size {self._size(conn)}, not {start}")
                conn.executemany(_INSERT_CALL, batch.rows)
                self._write_batch(conn, batch)
            self._names.learn(sorted((i, n) for n, i in batch.new_names.items()))
            self._crange = batch.crange

    def _write_batch(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        """All of a batch but its rows: names, raw entries, bitmaps, bundles, counts, the compact range."""
        if batch.new_names:
            conn.executemany("INSERT INTO names (id, name) VALUES (?, ?)", [(i, n) for n, i in batch.new_names.items()])
        if batch.raw:
            conn.executemany("INSERT INTO entries (idx, entry) VALUES (?, ?)", batch.raw)
        if batch.jobs:
            conn.executemany("INSERT INTO psi_jobs (tag, idx) VALUES (?, ?)", batch.jobs)
        if batch.query_calls:
            conn.executemany("INSERT INTO query_calls (call, idx) VALUES (?, ?)", batch.query_calls)
        if batch.query_subjects:
            conn.executemany("INSERT INTO query_subjects (subject, idx) VALUES (?, ?)", batch.query_subjects)
        select = "SELECT bits FROM bitmaps WHERE key = ?"
        updates = []
        for key, bits in batch.bits.items():
            value = int.from_bytes(bits, "little")
            old = conn.execute(select, (key,)).fetchone()
            if old is not None:
                value |= int.from_bytes(old[0], "little")
            updates.append((key, value.to_bytes((value.bit_length() + 7) // 8, "little")))
        conn.executemany("INSERT OR REPLACE INTO bitmaps (key, bits) VALUES (?, ?)", updates)
        self._write_bundles(conn, batch.bundles)
        conn.executemany(
            "INSERT INTO stats VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET calls = calls + excluded.calls",
            [(*key, n) for key, n in batch.stats.items()],
        )
        conn.executemany(
            "INSERT INTO seconds VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, denials = denials + excluded.denials",
            [(*key, n, d) for key, (n, d) in batch.seconds.items()],
        )
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('compact_range', ?)", (batch.crange.to_bytes(),))

    @staticmethod
    def _write_bundles(conn: sqlite3.Connection, bundles: dict[int, list[int]]) -> None:
        ordered = sorted(bundles)
        first = ordered[0]
        old = conn.execute("SELECT min_ms, max_ms FROM bundles WHERE bundle = ?", (first,)).fetchone()
        if old is not None:
            bounds = bundles[first]
            bounds[0], bounds[1] = min(bounds[0], old[0]), max(bounds[1], old[1])
        before = conn.execute("SELECT cummax FROM bundles WHERE bundle = ?", (first - 1,)).fetchone()
        cummax = before[0] if before is not None else None
        rows = []
        for b in ordered:
            low, high = bundles[b]
            cummax = high if cummax is None else max(cummax, high)
            rows.append([b, low, high, cummax, low])
        for i in range(len(rows) - 2, -1, -1):
            rows[i][4] = min(rows[i][4], rows[i + 1][4])
        conn.executemany("INSERT OR REPLACE INTO bundles VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("UPDATE bundles SET sufmin = ?1 WHERE sufmin > ?1 AND bundle < ?2", (rows[0][4], first))

    def put_checkpoints(self, rows: Sequence[CheckpointJSON]) -> None:
        """Store checkpoints as the notary's ``/v1/checkpoints`` lists them; a known size is replaced."""
        values = [
            (
                r["size"], r["root"], r["time_ms"], r["published_ms"], json.dumps(r["cosigners"]), r["note"],
                None if r["anchor"] is None else json.dumps(r["anchor"]),
            )
            for r in rows
        ]  # fmt: skip
        sql = f"INSERT OR REPLACE INTO checkpoints ({_CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        with self._write_lock, self._transaction(self._write_conn()) as conn:
            conn.executemany(sql, values)

    def put_gaps(self, gaps: Sequence[Mapping[str, Any]]) -> None:
        """Replace the gaps by ``gaps`` (as the notary's ``/v1/gaps`` lists them)."""
        values = [(i, json.dumps(dict(g))) for i, g in enumerate(gaps)]
        with self._write_lock, self._transaction(self._write_conn()) as conn:
            conn.execute("DELETE FROM gaps")
            conn.executemany("INSERT INTO gaps (pos, gap) VALUES (?, ?)", values)

    # ----------------------------------------------------------------------------------------------- reads

    def size(self) -> int:
        """The number of indexed entries: leaf indices 0 .. size-1."""
        return self._size(self._reader())

    def compact_range(self) -> CompactRange:
        """The compact range of the indexed entries (as committed)."""
        return self._load_range(self._reader())

    def root(self) -> bytes:
        """The RFC 9162 root of the indexed entries."""
        return self.compact_range().root()

    def _name(self, conn: sqlite3.Connection, id_: int) -> str | None:
        by_id = self._names.by_id
        if id_ >= len(by_id):
            self._names.refresh(conn)
            by_id = self._names.by_id
        return by_id[id_]

    def _decoder(self, conn: sqlite3.Connection) -> Callable[[tuple[Any, ...]], CallRow]:
        names = self._names

        def decode(r: tuple[Any, ...]) -> CallRow:
            n = names.by_id
            if max(r[3], r[4], r[5], r[6], r[7], r[8], r[10], r[12], r[14], r[18]) >= len(n):
                names.refresh(conn)
                n = names.by_id
            trace: bytes = r[17]
            return {
                "index": r[0],
                "event_id": r[1],
                "time_ms": r[2],
                "caller_org": n[r[3]],
                "provider_org": n[r[4]],
                "center": n[r[5]],
                "unit": n[r[6]],
                "api": n[r[7]],
                "method": n[r[8]],
                "route": r[9],
                "asset_id": n[r[10]],
                "asset_version": r[11],
                "grant_id": n[r[12]],
                "decision": _DECISION_NAMES[r[13]],
                "denial_reason": n[r[14]],
                "status": r[15],
                "latency_us": r[16],
                "trace_id": trace.hex(),
                "gateway_id": n[r[18]],
                "gateway_seq": r[19],
                "leaf_hash": base64.b64encode(r[20]).decode("ascii"),
            }

        return decode

    def by_event_id(self, event_id: str) -> CallRow | None:
        """The call of ``event_id`` with its entry bytes (``"entry"``), or None.

        One probe of the ``ekey`` index per chunk of the log (153 at 10 M entries): fast while the index's pages are
        cached, up to tens of milliseconds when they must come from disk. Where the leaf index is known (the
        notary's evidence bundle holds it), :meth:`by_index` is one primary-key probe."""
        with self._snapshot() as conn:
            size = self._size(conn)
            if not size or not isinstance(event_id, str):
                return None
            crc = zlib.crc32(event_id.encode())
            keys = json.dumps([_chunk_key(c, crc) for c in range(((size - 1) >> CHUNK_BITS) + 1)])
            rows = conn.execute(
                f"SELECT {_ROW_COLUMNS}, extra FROM calls WHERE ekey IN (SELECT value FROM json_each(?)) "
                "AND event_id = ? ORDER BY idx LIMIT 1",
                (keys, event_id),
            ).fetchall()
            return self._with_entry(conn, rows[0]) if rows else None

    def by_index(self, index: int) -> CallRow | None:
        """The call at leaf ``index`` with its entry bytes (``"entry"``), or None."""
        with self._snapshot() as conn:
            rows = conn.execute(f"SELECT {_ROW_COLUMNS}, extra FROM calls WHERE idx = ?", (index,)).fetchall()
            return self._with_entry(conn, rows[0]) if rows else None

    def by_job(self, tag: str) -> list[CallRow]:
        """The calls whose events name the PSI job ``tag`` (``psi_job``), with their entry bytes, in log order;
        at most ``MAX_JOB_STEPS``. None for a tag that is not 64 lower-case hex digits."""
        if not isinstance(tag, str) or len(tag) != 64 or tag != tag.lower():
            return []
        try:
            key = bytes.fromhex(tag)
        except ValueError:
            return []
        with self._snapshot() as conn:
            rows = conn.execute(
                f"SELECT {_ROW_COLUMNS}, extra FROM calls WHERE idx IN "
                "(SELECT idx FROM psi_jobs WHERE tag = ? ORDER BY idx LIMIT ?) ORDER BY idx",
                (key, MAX_JOB_STEPS),
            ).fetchall()
            return [self._with_entry(conn, r) for r in rows]

    def _with_entry(self, conn: sqlite3.Connection, r: tuple[Any, ...]) -> CallRow:
        call = self._decoder(conn)(r[:21])
        extra = r[21]
        if extra is None:
            call["entry"] = conn.execute("SELECT entry FROM entries WHERE idx = ?", (r[0],)).fetchone()[0]
            with_subject(call)
        else:
            names = (
                call["caller_org"], call["provider_org"], call["center"], call["unit"], call["api"], call["method"],
                call["asset_id"], call["grant_id"], call["denial_reason"], call["gateway_id"],
            )  # fmt: skip
            call["entry"] = _entry_bytes(r[1], r[2], names, r[9], r[11], r[13], r[15], r[16], r[17], r[19], extra)
        return call

    # --------------------------------------------------------------------------------------------- search

    def _plan(self, conn: sqlite3.Connection, f: CallFilter, before: int | None) -> _Plan | None:
        """The plan of a search within one snapshot; None when nothing can match."""
        size = self._size(conn)
        hi = size if before is None else max(0, min(size, before))
        plan = _Plan(0, hi, [], from_ms=f.from_ms, to_ms=f.to_ms)
        if f.from_ms is not None or f.to_ms is not None:
            bounds = self._time_bounds(conn, f.from_ms, f.to_ms)
            if bounds is None:
                return None
            plan.lo, plan.hi = max(plan.lo, bounds[0]), min(plan.hi, bounds[1])
        if plan.lo >= plan.hi:
            return None

        def code(name: str | None) -> int | None:
            return None if not isinstance(name, str) else self._names.lookup(conn, name)

        # The terms, rarest kinds first: an empty bitmap in a chunk skips the rest.
        named = ((f.asset, _ASSET), (f.api, _API), (f.denial_reason, _REASON), (f.caller, _CALLER),
                 (f.provider, _PROVIDER), (f.center, _CENTER))  # fmt: skip
        for value, column in named:
            if value is not None:
                c = code(value)
                if c is None:
                    return None
                plan.terms.append([_key(column, c)])
        if f.status is not None:
            if type(f.status) is not int or not 0 <= f.status < _MAX_VALUE:
                return None
            plan.terms.append([_key(_STATUS, f.status)])
        if f.party is not None:
            p = code(f.party)
            if p is None:
                return None
            plan.terms.append([_key(_CALLER, p), _key(_PROVIDER, p)])
            plan.query_center = code(LEDGER_QUERY_CENTER)
            if plan.query_center is not None:
                plan.party = p
                self._names.refresh(conn)  # every name this read transaction sees, the gateways among them
                plan.query_gateways = self._names.query_gateways
        if f.decision is not None:
            d = _DECISIONS.get(f.decision) if isinstance(f.decision, str) else None
            if d is None:
                return None
            plan.terms.append([_key(_DECISION, d)])
        if f.grant is not None:
            g = code(f.grant)
            if g is None:
                return None
            plan.grant = g
        if f.trace_id is not None:
            t = f.trace_id
            if not isinstance(t, str) or len(t) != 32 or t.lower() != t:
                return None
            try:
                plan.trace = bytes.fromhex(t)
            except ValueError:
                return None
            plan.driver, plan.driver_value = "tkey", int.from_bytes(plan.trace[:4], "big")
        elif plan.grant is not None:
            plan.driver, plan.driver_value, plan.grant = "gkey", plan.grant, None
        return plan

    @staticmethod
    def _time_bounds(conn: sqlite3.Connection, from_ms: int | None, to_ms: int | None) -> tuple[int, int] | None:
        """Leaf indices [lo, hi) outside which no entry has a time in [from_ms, to_ms)."""
        lo, hi = 0, 1 << 62
        if from_ms is not None:
            row = conn.execute(
                "SELECT bundle FROM bundles WHERE cummax >= ? ORDER BY cummax, bundle LIMIT 1", (from_ms,)
            ).fetchone()
            if row is None:
                return None
            lo = row[0] * BUNDLE
        if to_ms is not None:
            row = conn.execute(
                "SELECT bundle FROM bundles WHERE sufmin < ? ORDER BY sufmin DESC, bundle DESC LIMIT 1", (to_ms,)
            ).fetchone()
            if row is None:
                return None
            hi = (row[0] + 1) * BUNDLE
        return lo, hi

    def _bitmap(self, conn: sqlite3.Connection, key: int, full: bool) -> int:
        """The bitmap of a key (0 when absent). Bitmaps of full chunks never change and are cached."""
        if full:
            with self._bitmap_lock:
                cached = self._bitmap_cache.get(key)
                if cached is not None:
                    self._bitmap_cache.move_to_end(key)
                    return cached
        row = conn.execute("SELECT bits FROM bitmaps WHERE key = ?", (key,)).fetchone()
        value = 0 if row is None else int.from_bytes(row[0], "little")
        if full:
            with self._bitmap_lock:
                self._bitmap_cache[key] = value
                while len(self._bitmap_cache) > 4096:
                    self._bitmap_cache.popitem(last=False)
        return value

    def _time_mask(self, conn: sqlite3.Connection, chunk: int, from_ms: int | None, to_ms: int | None) -> int | None:
        """The bundles of a chunk that may hold times in [from_ms, to_ms), as a bitmap; None if all may."""
        first = chunk * (CHUNK // BUNDLE)
        last = first + CHUNK // BUNDLE - 1
        low, high = conn.execute(
            "SELECT min(min_ms), max(max_ms) FROM bundles WHERE bundle BETWEEN ? AND ?", (first, last)
        ).fetchone()
        if low is None:
            return 0
        if (from_ms is None or low >= from_ms) and (to_ms is None or high < to_ms):
            return None
        mask = bytearray(CHUNK // 8)
        ones = b"\xff" * (BUNDLE // 8)
        rows = conn.execute("SELECT bundle, min_ms, max_ms FROM bundles WHERE bundle BETWEEN ? AND ?", (first, last))
        for b, lo_ms, hi_ms in rows:
            if (from_ms is None or hi_ms >= from_ms) and (to_ms is None or lo_ms < to_ms):
                at = (b - first) * (BUNDLE // 8)
                mask[at : at + BUNDLE // 8] = ones
        return int.from_bytes(mask, "little")

    def _candidates(self, conn: sqlite3.Connection, plan: _Plan, descending: bool) -> Iterator[int]:
        """The leaf indices in [plan.lo, plan.hi) that the bitmaps, driver and time bundles let through, in
        order; rows still need ``_residual``."""
        first, last = plan.lo >> CHUNK_BITS, (plan.hi - 1) >> CHUNK_BITS
        size_chunks = self._size(conn) >> CHUNK_BITS  # chunks below this are full
        chunks = range(last, first - 1, -1) if descending else range(first, last + 1)
        timed = plan.from_ms is not None or plan.to_ms is not None
        for chunk in chunks:
            base = chunk << CHUNK_BITS
            start, end = max(plan.lo, base) - base, min(plan.hi, base + CHUNK) - base
            full = chunk < size_chunks
            bits: int | None = None
            for term in plan.terms:
                x = 0
                for key in term:
                    x |= self._bitmap(conn, key | chunk, full)
                bits = x if bits is None else bits & x
                if not bits:
                    break
            if bits == 0:
                continue
            if timed:
                mask = self._time_mask(conn, chunk, plan.from_ms, plan.to_ms)
                if mask is not None:
                    bits = mask if bits is None else bits & mask
                    if not bits:
                        continue
            if bits is not None and (start or end < CHUNK):
                bits &= _range_mask(start, end)
            if plan.driver is not None:
                yield from self._driven(conn, plan, chunk, base + start, base + end, bits, descending)
            elif bits is None:
                everything = range(base + start, base + end)
                yield from (reversed(everything) if descending else everything)
            else:
                yield from _set_bits(bits, base, descending)

    @staticmethod
    def _driven(
        conn: sqlite3.Connection, plan: _Plan, chunk: int, start: int, end: int, bits: int | None, descending: bool
    ) -> Iterator[int]:
        order = "DESC" if descending else "ASC"
        cursor = conn.execute(
            f"SELECT idx FROM calls WHERE {plan.driver} = ? AND idx >= ? AND idx < ? ORDER BY idx {order}",
            (_chunk_key(chunk, plan.driver_value), start, end),
        )
        base = chunk << CHUNK_BITS
        test = None if bits is None else bits.to_bytes(CHUNK // 8, "little")
        while True:
            page = cursor.fetchmany(256)
            if not page:
                return
            for (i,) in page:
                o = i - base
                if test is None or test[o >> 3] >> (o & 7) & 1:
                    yield i

    @staticmethod
    def _fetch(conn: sqlite3.Connection, ids: list[int], columns: str, descending: bool) -> list[tuple[Any, ...]]:
        """Rows of ``ids`` (sorted in the given order), in that order."""
        order = "DESC" if descending else "ASC"
        low, high = (ids[-1], ids[0]) if descending else (ids[0], ids[-1])
        if high - low + 1 == len(ids):
            sql = f"SELECT {columns} FROM calls WHERE idx BETWEEN ? AND ? ORDER BY idx {order}"
            return conn.execute(sql, (low, high)).fetchall()
        if high - low + 1 <= 2 * len(ids):
            wanted = set(ids)
            sql = f"SELECT {columns} FROM calls WHERE idx BETWEEN ? AND ? ORDER BY idx {order}"
            return [r for r in conn.execute(sql, (low, high)) if r[0] in wanted]
        sql = f"SELECT {columns} FROM calls WHERE idx IN (SELECT value FROM json_each(?)) ORDER BY idx {order}"
        return conn.execute(sql, (json.dumps(ids),)).fetchall()

    @staticmethod
    def _residual(plan: _Plan) -> Callable[[tuple[Any, ...]], bool] | None:
        """The check of what the indexes do not decide exactly, on a row of ``_ROW_COLUMNS`` (or None): times,
        trace, grant, and the tenant's restriction on ledger queries (caller at 3, center at 5, gateway at 18)."""
        from_ms, to_ms, trace, grant = plan.from_ms, plan.to_ms, plan.trace, plan.grant
        party, query_center, query_gateways = plan.party, plan.query_center, plan.query_gateways
        if party is None or not query_gateways:
            party = None
        if party is None and not plan.narrows_rows():
            return None

        def check(r: tuple[Any, ...]) -> bool:
            t = r[2]
            return (
                (from_ms is None or t >= from_ms)
                and (to_ms is None or t < to_ms)
                and (trace is None or r[17] == trace)
                and (grant is None or r[12] == grant)
                and (party is None or r[3] == party or r[5] != query_center or r[18] not in query_gateways)
            )

        return check

    @staticmethod
    def _page(plan: _Plan, limit: int) -> int:
        """How many candidates a search reads at a time for a page of ``limit`` rows: twice as many, at least 64,
        when times, trace or grant are checked on them (:meth:`_Plan.narrows_rows`); else ``limit``, since at most
        a tenant's restriction on ledger queries is checked, which few rows fail (one more read finds the rest)."""
        return max(2 * limit, 64) if plan.narrows_rows() else limit

    def _rows(
        self, conn: sqlite3.Connection, plan: _Plan, descending: bool, page: int, columns: str = _ROW_COLUMNS
    ) -> Generator[tuple[Any, ...], None, None]:
        """The matching rows, in order, fetched ``page`` candidates at a time (columns as ``_ROW_COLUMNS``
        for the residual check: idx, ..., time_ms at 2, grant_id at 12, trace at 17)."""
        check = self._residual(plan)
        ids: list[int] = []
        for i in self._candidates(conn, plan, descending):
            ids.append(i)
            if len(ids) >= page:
                rows = self._fetch(conn, ids, columns, descending)
                yield from (rows if check is None else filter(check, rows))
                ids = []
        if ids:
            rows = self._fetch(conn, ids, columns, descending)
            yield from (rows if check is None else filter(check, rows))

    def search(self, f: CallFilter, *, before: int | None, limit: int) -> list[CallRow]:
        """The calls matching ``f``, newest first (leaf index descending), only indices below ``before`` when
        given, at most ``limit``."""
        if limit <= 0:
            return []
        with self._snapshot() as conn:
            plan = self._plan(conn, f, before)
            if plan is None:
                return []
            decode = self._decoder(conn)
            out: list[CallRow] = []
            page = self._page(plan, limit)
            with contextlib.closing(self._rows(conn, plan, True, page)) as rows:
                for row in rows:
                    out.append(decode(row))
                    if len(out) >= limit:
                        break
            return out

    def iter_calls(self, f: CallFilter, *, batch: int = 1000) -> Iterator[CallRow]:
        """Every call matching ``f``, by ascending leaf index, up to the size when iteration starts.

        Reads ``batch`` rows per short read transaction (keyset pagination on the leaf index): memory stays
        bounded and no snapshot stays open between batches, whatever the export's length."""
        batch = max(1, batch)
        with self._snapshot() as conn:
            plan = self._plan(conn, f, None)
        if plan is None:
            return
        while plan.lo < plan.hi:
            with self._snapshot() as conn:
                decode = self._decoder(conn)
                rows: list[CallRow] = []
                last = None
                with contextlib.closing(self._rows(conn, plan, False, batch)) as found:
                    for r in found:
                        rows.append(decode(r))
                        last = r[0]
                        if len(rows) >= batch:
                            break
            if last is None or len(rows) < batch:
                yield from rows
                return
            plan.lo = last + 1
            yield from rows

    # ------------------------------------------------------------------------------------------- checkpoints

    def checkpoint_covering(self, index: int) -> CheckpointJSON | None:
        """The smallest stored checkpoint that includes leaf ``index`` (size > index)."""
        row = (
            self._reader()
            .execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints WHERE size > ? ORDER BY size LIMIT 1", (index,))
            .fetchone()
        )
        return None if row is None else checkpoint_of_row(row)

    def anchored_covering(self, index: int) -> CheckpointJSON | None:
        """The smallest stored checkpoint with an anchor that includes leaf ``index``: the notary anchors only some
        checkpoints (the newest one every few seconds), so the smallest covering one may never be."""
        row = (
            self._reader()
            .execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints WHERE size > ? AND anchor IS NOT NULL "
                "ORDER BY size LIMIT 1",
                (index,),
            )
            .fetchone()
        )
        return None if row is None else checkpoint_of_row(row)

    def latest_checkpoint(self) -> CheckpointJSON | None:
        row = (
            self._reader()
            .execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size DESC LIMIT 1")
            .fetchone()
        )
        return None if row is None else checkpoint_of_row(row)

    def checkpoints(self, *, before: int | None, limit: int) -> list[CheckpointJSON]:
        """Stored checkpoints, largest size first, only sizes below ``before`` when given."""
        if limit <= 0:
            return []
        bound = (1 << 63) - 1 if before is None else before
        rows = (
            self._reader()
            .execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints WHERE size < ? ORDER BY size DESC LIMIT ?",
                (bound, limit),
            )
            .fetchall()
        )
        return [checkpoint_of_row(r) for r in rows]

    def gaps(self) -> list[dict[str, Any]]:
        rows = self._reader().execute("SELECT gap FROM gaps ORDER BY pos").fetchall()
        return [json.loads(r[0]) for r in rows]

    # -------------------------------------------------------------------------------------------- aggregates

    def _edge_counts(
        self, conn: sqlite3.Connection, party: int | None, from_ms: int, to_ms: int
    ) -> list[tuple[int, ...]]:
        """Counts as ``stats`` rows (minute_ms, caller, provider, center, api, decision, reason, calls) of the
        calls in [from_ms, to_ms) (the part of a minute a period cuts), restricted to the party's id (other
        firms' ledger queries left out): one SQL scan of the leaf-index range the time bundles give."""
        if from_ms >= to_ms:
            return []
        bounds = self._time_bounds(conn, from_ms, to_ms)
        if bounds is None:
            return []
        lo, hi = bounds[0], min(bounds[1], self._size(conn))
        where = "" if party is None else " AND (caller = ?5 OR (provider = ?5 AND center != ?6))"
        sql = (
            "SELECT time_ms - time_ms % 60000, caller, provider, center, api, decision, reason, count(*) FROM calls "
            f"WHERE idx >= ?1 AND idx < ?2 AND time_ms >= ?3 AND time_ms < ?4{where} GROUP BY 1, 2, 3, 4, 5, 6, 7"
        )
        params: tuple[int, ...] = (lo, hi, from_ms, to_ms)
        if party is not None:
            params += (party, self._query_center(conn))
        return conn.execute(sql, params).fetchall()

    def _query_center(self, conn: sqlite3.Connection) -> int:
        """The id of the ledger queries' center, -1 (no id) before the first one is indexed."""
        found = self._names.lookup(conn, LEDGER_QUERY_CENTER)
        return -1 if found is None else found

    def per_minute(self, since_ms: int, party: str | None) -> list[MinuteCount]:
        """Calls and denials per minute (``minute_ms``, the minute's start) and center, for the calls with
        ``time_ms >= since_ms``, restricted to ``party`` when given (as ``CallFilter.party``: other firms'
        ledger queries are not the party's, so they are not counted)."""
        with self._snapshot() as conn:
            p = None if party is None else self._names.lookup(conn, party)
            if party is not None and p is None:
                return []
            # Whole minutes from ``stats``, whole seconds of the minute before from ``seconds``, the rest from rows.
            whole = -(-since_ms // MINUTE_MS) * MINUTE_MS
            whole_s = -(-since_ms // 1000) * 1000
            party_only = "" if p is None else " AND (caller = ?3 OR (provider = ?3 AND center != ?4))"
            params = (whole, whole_s) if p is None else (whole, whole_s, p, self._query_center(conn))
            counts: dict[tuple[int, int], list[int]] = {}
            rows = conn.execute(
                "SELECT minute_ms, center, sum(calls), sum(CASE WHEN decision = 1 THEN calls ELSE 0 END) "
                f"FROM stats WHERE minute_ms >= ?1{party_only} GROUP BY minute_ms, center UNION ALL "
                "SELECT second_ms - second_ms % 60000, center, sum(calls), sum(denials) FROM seconds "
                f"WHERE second_ms >= ?2 AND second_ms < ?1{party_only} GROUP BY 1, 2",
                params,
            )
            for minute, center, calls, denials in rows:
                slot = counts.setdefault((minute, center), [0, 0])
                slot[0] += calls
                slot[1] += denials
            for minute, _, _, center, _, decision, _, n in self._edge_counts(conn, p, since_ms, whole_s):
                slot = counts.setdefault((minute, center), [0, 0])
                slot[0] += n
                slot[1] += n * decision
            out: list[MinuteCount] = [
                {"minute_ms": minute, "center": self._name(conn, center), "calls": c[0], "denials": c[1]}
                for (minute, center), c in counts.items()
            ]
            return sorted(out, key=lambda x: (x["minute_ms"], x["center"] or ""))

    def report(self, org: str, from_ms: int, to_ms: int) -> CallReport:
        """The compliance report of ``org`` for the calls with ``from_ms <= time_ms < to_ms``.

        ``made`` (org is the caller) and ``served`` (org is the provider): ``{calls, allowed, denied, by_api:
        [{center, api, decision, calls}]}``; ``denials``: ``[{side: "made" | "served", reason, calls}]``;
        ``counterparts``: ``[{org, made, served, denied_made, denied_served}]`` (the other party of each call;
        a call to itself counts on both sides). Lists are sorted by their keys. Another firm's ledger query is
        not served by ``org`` even where ``org`` runs the explorer (``CallFilter.party``)."""
        with self._snapshot() as conn:
            found = self._names.lookup(conn, org) if isinstance(org, str) else None
            o = -1 if found is None else found
            counts: list[tuple[int, ...]] = []
            if found is not None and from_ms < to_ms:
                lo = -(-from_ms // MINUTE_MS) * MINUTE_MS
                hi = to_ms - to_ms % MINUTE_MS
                if lo < hi:
                    columns = "caller, provider, center, api, decision, reason, sum(calls)"
                    group = "GROUP BY caller, provider, center, api, decision, reason"
                    sql = (
                        f"SELECT {columns} FROM stats WHERE caller = ?1 AND minute_ms >= ?2 AND minute_ms < ?3 {group} "
                        f"UNION ALL SELECT {columns} FROM stats WHERE provider = ?1 AND caller != ?1 "
                        f"AND center != ?4 AND minute_ms >= ?2 AND minute_ms < ?3 {group}"
                    )
                    counts += conn.execute(sql, (o, lo, hi, self._query_center(conn))).fetchall()
                    edges = [(from_ms, lo), (hi, to_ms)]
                else:
                    edges = [(from_ms, to_ms)]
                for start, end in edges:
                    counts += [r[1:] for r in self._edge_counts(conn, o, start, end)]
            return summarize_report(org, o, from_ms, to_ms, counts, lambda id_: self._name(conn, id_))

    def looks(
        self, callers: Collection[str], *, calls: Collection[str] | None = None, subject: str | None = None,
        from_ms: int | None = None, to_ms: int | None = None,
    ) -> list[QueryLook]:  # fmt: skip
        """The allowed ledger queries by ``callers`` (orgs) that read one call (``query_calls``), oldest first:
        only of ``calls`` (event ids) if given, only those naming ``subject`` (``query_subjects``) if given, only
        those with ``from_ms <= time_ms < to_ms`` if given. Exact: every such query the index holds."""
        if (calls is not None and not calls) or not callers:
            return []
        with self._snapshot() as conn:
            ids = self._caller_ids(conn, callers)
            s = None if subject is None else self._names.lookup(conn, subject)
            if not ids or (subject is not None and s is None):
                return []
            # CROSS JOIN fixes the order SQLite reads in: the calls asked about first (one range of ``query_calls``'s
            # primary key each), else the subject's queries (one of ``query_subjects``'s), then each query's row
            select = "SELECT q.call, c.event_id, c.time_ms, c.api, c.caller FROM "
            params: list[Any] = []
            if calls is not None:
                sql = select + "json_each(?) j CROSS JOIN query_calls q"
                params.append(json.dumps(sorted(set(calls))))
                if s is not None:
                    sql += " CROSS JOIN query_subjects s"
                sql += " CROSS JOIN calls c WHERE q.call = j.value"
                if s is not None:
                    sql += " AND s.subject = ? AND s.idx = q.idx"
                    params.append(s)
            elif s is not None:
                sql = select + "query_subjects s CROSS JOIN query_calls q CROSS JOIN calls c WHERE s.subject = ?"
                sql += " AND q.idx = s.idx"  # one probe of ``query_calls_idx`` per query
                params.append(s)
            else:
                sql = select + "query_calls q CROSS JOIN calls c WHERE 1"
            sql += " AND c.idx = q.idx AND c.caller IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(ids))
            sql += _within(from_ms, to_ms, params)
            rows = conn.execute(sql + " ORDER BY c.time_ms, c.event_id", params).fetchall()
            return [
                {"call": r[0], "event_id": r[1], "time_ms": r[2], "api": self._name(conn, r[3]) or "",
                 "caller_org": self._name(conn, r[4]) or ""}
                for r in rows
            ]  # fmt: skip

    def _caller_ids(self, conn: sqlite3.Connection, callers: Collection[str]) -> list[int]:
        """The name ids of ``callers`` the index knows, in name order (an org it never saw made no query)."""
        return [i for i in (self._names.lookup(conn, c) for c in sorted(set(callers))) if i is not None]

    def subject_counts(self, callers: Collection[str], from_ms: int, to_ms: int) -> dict[str, int]:
        """How many allowed ledger queries by ``callers`` with ``from_ms <= time_ms < to_ms`` name each firm as
        their subject (any endpoint: a call, a grant, an asset, a report), by firm."""
        with self._snapshot() as conn:
            ids = self._caller_ids(conn, callers)
            if not ids or from_ms >= to_ms:
                return {}
            rows = conn.execute(
                "SELECT s.subject, count(*) FROM query_subjects s JOIN calls c ON c.idx = s.idx "
                "WHERE c.caller IN (SELECT value FROM json_each(?)) AND c.time_ms >= ? AND c.time_ms < ? "
                "GROUP BY s.subject",
                (json.dumps(ids), from_ms, to_ms),
            ).fetchall()
            return {str(self._name(conn, subject)): n for subject, n in rows}

    def subject_queries(
        self, callers: Collection[str], subject: str, *, before: int | None, limit: int,
        from_ms: int | None = None, to_ms: int | None = None,
    ) -> list[int]:  # fmt: skip
        """The leaf indices of the allowed ledger queries by ``callers`` (orgs) that name ``subject`` as a firm whose
        data they read (``query_subjects``), newest first, only below ``before`` when given, only those with
        ``from_ms <= time_ms < to_ms`` if given, at most ``limit``: one page of a keyset walk down the subject's
        range of ``query_subjects``'s primary key, exact whatever the number of queries."""
        if limit <= 0 or not callers:
            return []
        with self._snapshot() as conn:
            ids = self._caller_ids(conn, callers)
            s = self._names.lookup(conn, subject)
            if not ids or s is None:
                return []
            # CROSS JOIN fixes the order: the subject's range of query_subjects, newest first, then each query's row
            sql = (
                "SELECT s.idx FROM query_subjects s CROSS JOIN calls c WHERE s.subject = ? "
                "AND c.idx = s.idx AND c.caller IN (SELECT value FROM json_each(?))"
            )
            params: list[Any] = [s, json.dumps(ids)]
            if before is not None:
                sql += " AND s.idx < ?"
                params.append(before)
            sql += _within(from_ms, to_ms, params)
            rows = conn.execute(sql + " ORDER BY s.idx DESC LIMIT ?", [*params, limit]).fetchall()
            return [int(r[0]) for r in rows]


def _within(from_ms: int | None, to_ms: int | None, params: list[Any]) -> str:
    """The condition that a query's call ``c`` has ``from_ms <= time_ms < to_ms`` (each bound only when given), its
    values appended to ``params``."""
    sql = ""
    if from_ms is not None:
        sql += " AND c.time_ms >= ?"
        params.append(from_ms)
    if to_ms is not None:
        sql += " AND c.time_ms < ?"
        params.append(to_ms)
    return sql


def checkpoint_of_row(r: Sequence[Any]) -> CheckpointJSON:
    """A stored checkpoint as the API answers it, from its row (``size, root, time_ms, published_ms, cosigners,
    note, anchor``), in either call index: as the notary's ``/v1/checkpoints`` listed it."""
    return CheckpointJSON(
        size=r[0],
        root=r[1],
        time_ms=r[2],
        published_ms=r[3],
        cosigners=json.loads(r[4]),
        note=r[5],
        anchor=None if r[6] is None else json.loads(r[6]),
    )


def summarize_report(
    org: str,
    me: Any,
    from_ms: int,
    to_ms: int,
    counts: Iterable[Sequence[Any]],
    name: Callable[[Any], str | None],
) -> CallReport:
    """The report of :meth:`CallIndex.report` from counts ``(caller, provider, center, api, decision (0 allow,
    1 deny), reason, calls)``, where names are keys that ``name`` turns into names and ``me`` is the org's key."""
    made: Counter[tuple[Any, Any, int]] = Counter()
    served: Counter[tuple[Any, Any, int]] = Counter()
    denials: Counter[tuple[str, Any]] = Counter()
    counterparts: dict[Any, list[int]] = {}
    for caller, provider, center, api, decision, reason, n in counts:
        if caller == me:
            made[(center, api, decision)] += n
            slot = counterparts.setdefault(provider, [0, 0, 0, 0])
            slot[0] += n
            slot[2] += n * decision
            if decision:
                denials[("made", reason)] += n
        if provider == me:
            served[(center, api, decision)] += n
            slot = counterparts.setdefault(caller, [0, 0, 0, 0])
            slot[1] += n
            slot[3] += n * decision
            if decision:
                denials[("served", reason)] += n

    def side(counts: Counter[tuple[Any, Any, int]]) -> ReportSide:
        by_api = sorted(
            (ApiCount(center=name(c), api=name(a), decision=_DECISION_NAMES[d], calls=n)
             for (c, a, d), n in counts.items()),
            key=lambda x: (x["center"] or "", x["api"] or "", x["decision"]),
        )  # fmt: skip
        denied = sum(n for (_, _, d), n in counts.items() if d)
        total = sum(counts.values())
        return {"calls": total, "allowed": total - denied, "denied": denied, "by_api": by_api}

    return {
        "org": org,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "made": side(made),
        "served": side(served),
        "denials": sorted(
            (DenialCount(side=s, reason=name(r), calls=n) for (s, r), n in denials.items()),
            key=lambda x: (x["side"], x["reason"] or ""),
        ),
        "counterparts": sorted(
            (
                Counterpart(org=name(p), made=c[0], served=c[1], denied_made=c[2], denied_served=c[3])
                for p, c in counterparts.items()
            ),
            key=lambda x: x["org"] or "",
        ),
    }


def bulk_load(index: CallIndex, entries: Iterable[bytes], *, batch: int = 20_000) -> int:
    """Append ``entries`` to ``index`` in transactions of ``batch`` entries (``add_entries``), for benchmarks and
    rebuilds; returns how many were added. Each batch is all or nothing; on a failure the batches before stay."""
    start = added = index.size()
    pending: list[bytes] = []
    for entry in entries:
        pending.append(entry)
        if len(pending) >= batch:
            index.add_entries(added, pending)
            added += len(pending)
            pending = []
    if pending:
        index.add_entries(added, pending)
        added += len(pending)
    return added - start
