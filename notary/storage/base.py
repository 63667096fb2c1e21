"""The notary's storage interface: what the sequencer, the checkpointer, the anchorer and the readers need of a
backend, and nothing more. One module per backend (``sqlite``: one embedded database, the default;
``postgres``: PostgreSQL for sequencing and coordination, an S3-compatible object store for tiles, entry bundles
and checkpoints), sharing only this module.

Sequencing is one call, :meth:`NotaryStorage.sequence`: under a lock exclusive across every process that
writes the log, the backend reads the tree state (:class:`TreeState`: size, right-edge tiles, the gateway's last
sequence number and gaps, the entries already logged under the batch's event ids), hands it to the caller's
``plan``, and commits what the plan returns (:class:`BatchWrite`: entries, batch statement, tiles, gateway state
and gaps) in one transaction, or nothing. The plan runs inside the lock, so it must not block on anything but
CPU; an exception it raises (a conflict) rolls the transaction back and propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, TypedDict, runtime_checkable

from notary.log.errors import NotaryError


class StoreError(NotaryError):
    """The store could not be read or written (I/O error, corruption, locked, a server unreachable)."""


class StorageFullError(StoreError):
    """The disk (or the database's page limit) is full: nothing of the transaction was written."""


class StoreUnavailableError(StoreError):
    """A server the store needs (the database, the object store) does not answer; the message names it. Nothing
    that was acknowledged is lost: a write either committed before the outage or was refused."""


class NotLeaderError(StoreError):
    """A leader-only write (a checkpoint, its publication, an anchor, the mark of the anchors checked, an alarm of
    those duties) or action (asking the witnesses) was refused: this replica does not hold the
    current fencing token (``notary.storage.leader``). Another replica leads now; this one stops its leader
    duties and keeps sequencing and serving."""


class IntegrityError(StoreError):
    """The object store holds other bytes under an immutable key than the database says it must: tampering, or
    two logs sharing a bucket. An alarm, never retried away."""


@dataclass(frozen=True, slots=True)
class EntryRow:
    index: int
    event_id: str
    gateway: str
    seq: int
    batch: int
    data: bytes


@dataclass(frozen=True, slots=True)
class BatchRow:
    id: int
    gateway: str
    first: int
    count: int
    time_ms: int
    note: bytes


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    size: int
    root: bytes
    time_ms: int
    note: bytes
    cosigned: bytes | None
    published_ms: int | None
    cosigners: str | None


AnchorState = Literal["sent", "confirmed", "failed"]


class AnchorJSON(TypedDict):
    """An anchor as the notary's API lists it (``GET /v1/anchors``, a checkpoint's ``anchor``): the row without
    its raw transaction, which the evidence bundle carries."""

    size: int
    tx_hash: str
    nonce: int
    state: AnchorState
    sent_ms: int
    block_number: int | None
    block_hash: str | None
    confirmed_ms: int | None


class AnchorRow(AnchorJSON):
    """One anchor of a checkpoint on the chain, as the ``anchors`` table holds it (``ANCHOR_COLUMNS``): the signed
    transaction and its nonce from when it was sent, the block once it is confirmed. The notary's API writes it
    (``GET /v1/anchors``, the checkpoints' ``anchor``) with ``raw_tx`` left out."""

    raw_tx: bytes


class CheckpointJSON(TypedDict):
    """A checkpoint as the notary's API lists it (``GET /v1/checkpoints``) and the explorer stores and answers it:
    the root in base64, the cosigned note as text, the cosigners' names, and its anchor if one was sent."""

    size: int
    root: str
    time_ms: int
    published_ms: int | None
    cosigners: list[str]
    note: str
    anchor: AnchorJSON | None


class AlarmRow(TypedDict):
    """One alarm the notary raised (``alarms`` table; ``GET /v1/alarms``): one row per ``kind`` and ``subject``
    (what it is about) while it is open, the same condition found again counting on it (``count``, ``last_ms``)
    instead of adding a row. ``time_ms``, ``size`` and ``message`` are those of the first finding. An operator
    closes it (``resolve_alarm``): ``resolved_ms``, ``resolved_by`` and ``reason`` are set once, never cleared, and
    the row is never deleted; the same condition found after that opens a new alarm (a new row and id)."""

    id: int
    time_ms: int
    kind: str
    size: int | None
    message: str
    subject: str
    last_ms: int
    count: int
    resolved_ms: int | None
    resolved_by: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class TreeState:
    """What a batch is sequenced against, read under the sequencing lock."""

    size: int
    edge: dict[int, bytes]  # the partial tile of each level at the right edge (``LogStore.edge_tiles``)
    last_time: int  # the latest batch time so far (batch times never go back)
    last_seq: int  # the gateway's last sequence number (0 if none)
    gaps: list[tuple[int, int, int]]  # the gateway's open gaps: (first, last, found_ms)
    existing: dict[str, EntryRow]  # entries already logged under the batch's event ids


@dataclass(frozen=True, slots=True)
class BatchWrite:
    """What one batch adds, committed together: ``entries`` are (event id, gateway seq, canonical entry) at
    indexes ``first``..; ``tiles`` every tile the append changed and ``levels`` each tile that became full with
    its inner levels (``TileWriter.append_levels``); ``gaps`` the gateway's whole new gap list."""

    gateway: str
    first: int
    time_ms: int
    note: bytes
    entries: list[tuple[str, int, bytes]]
    tiles: dict[tuple[int, int], bytes]
    levels: dict[tuple[int, int], bytes]
    last_seq: int
    gaps: list[tuple[int, int, int]]


#: Given the tree state, what to commit (None: nothing to write, e.g. all duplicates).
Plan = Callable[[TreeState], BatchWrite | None]


@runtime_checkable
class NotaryStorage(Protocol):
    """A notary's durable store. Every method raises :class:`StoreError` (or a subclass) when the backend
    cannot answer; reads return only committed (and, for an object store, published) data."""

    # -- sequencing
    def sequence(self, gateway: str, event_ids: Sequence[str], plan: Plan) -> BatchWrite | None:
        """Run ``plan`` on the tree state under the exclusive sequencing lock and commit its write atomically;
        returns what was committed."""
        ...

    def size(self) -> int:
        """The tree size every read can serve (all its tiles readable)."""
        ...

    # -- the tree and its entries
    def tile(self, level: int, index: int) -> bytes:
        """The tile's hashes at the current size (b"" if none yet)."""
        ...

    def tile_for_proofs(self, level: int, index: int) -> bytes: ...

    def edge_tiles(self, size: int) -> dict[int, bytes]: ...

    def entries(self, first: int, count: int) -> list[bytes]: ...

    def entry_bundle(self, index: int, width: int) -> bytes | None:
        """The C2SP entry bundle ``index`` of ``width`` entries, or None if the log is not that long yet."""
        ...

    def entries_by_id(self, event_ids: Sequence[str]) -> dict[str, EntryRow]: ...

    def entry(self, index: int) -> EntryRow | None: ...

    def batch(self, batch_id: int) -> BatchRow: ...

    def last_batch_time(self) -> int: ...

    def gateways(self) -> dict[str, int]: ...

    def gaps(self, gateway: str | None = None) -> list[tuple[str, int, int, int]]: ...

    # -- checkpoints
    def add_checkpoint(self, size: int, root: bytes, time_ms: int, note: bytes) -> CheckpointRow:
        """Record a signed checkpoint (a second one of the same size, by another replica, is kept as is)."""
        ...

    def publish_checkpoint(self, size: int, cosigned: bytes, published_ms: int, cosigners: str) -> None: ...

    def checkpoint(self, size: int) -> CheckpointRow | None: ...

    def latest_checkpoint(self, published: bool) -> CheckpointRow | None: ...

    def checkpoints(self, after: int, limit: int, published: bool = True) -> list[CheckpointRow]: ...

    # -- anchors
    def anchor_sent(self, size: int, tx_hash: str, raw_tx: bytes, nonce: int, sent_ms: int) -> None:
        """Record an anchor intent (replacing a failed one of that size) before it is broadcast."""
        ...

    def anchor_confirmed(self, size: int, block_number: int, block_hash: str, confirmed_ms: int) -> None: ...

    def anchor_failed(self, size: int) -> None: ...

    def anchors(
        self, state: str | None = None, *, after: int = 0, limit: int = -1, sizes: Sequence[int] | None = None
    ) -> list[AnchorRow]: ...

    def anchored_size(self) -> int: ...

    def anchor_covering(self, index: int, state: str = "confirmed") -> AnchorRow | None: ...

    def anchor_progress(self) -> tuple[int, bool]: ...

    def anchor_checked(self, size: int, time_ms: int, mismatch: str | None) -> None:
        """Record that the on-chain root of the confirmed anchor of ``size`` was compared with the log's
        (leader-only): the ``anchors_checked`` mark moves up to ``size`` (never down) and, when the roots differed,
        an ``anchor-mismatch`` alarm with the message ``mismatch`` is added, both in one transaction."""
        ...

    # -- the rest
    def holds_log(self) -> bool:
        """Whether a log was started in this store: its origin and key recorded (meta ``vkey``) by a notary's first
        start. Until then the store belongs to no log and any key of the consortium's may start one."""
        ...

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def alarms(self, limit: int = 100, open_only: bool = False, after: AlarmKey | None = None) -> list[AlarmRow]:
        """The alarms, the last found first (``last_ms``, then ``id``, both descending): every one, resolved ones
        included, or with ``open_only`` those not resolved. ``after``: only those that come after the alarm of
        that key in this order (the key of a page's last alarm, :func:`alarm_key`: the next page); a key need
        not be of an alarm that exists."""
        ...

    def open_alarms(self) -> int:
        """How many alarms are open (not resolved)."""
        ...

    def resolve_alarm(self, alarm_id: int, time_ms: int, by: str, reason: str) -> tuple[AlarmRow | None, bool]:
        """Close the open alarm ``alarm_id``, recording when, by whom and why, in one transaction; its other
        fields stay as they are. Returns the row and whether this call resolved it: ``(None, False)`` for no such
        alarm, ``(row, False)`` for one already resolved (left as it was: a resolution is never replaced)."""
        ...

    def add_alarm(
        self,
        time_ms: int,
        kind: str,
        size: int | None,
        message: str,
        *,
        subject: str | None = None,
        leader_only: bool = False,
    ) -> None:
        """Record an alarm about ``subject`` (None: the message itself). An open alarm of that ``kind`` and subject
        is found again: its ``count`` goes up by one and its ``last_ms`` to ``time_ms`` (its
        ``time_ms`` down to it, were it earlier), the rest kept, so a condition found at every round is one row.
        Found again after its alarm was resolved, it opens a new alarm.
        ``leader_only``: the alarm comes of a leader's duty (a witness's answer to the checkpointer), so it is
        fenced like the duty's writes (:class:`NotLeaderError`); the leader after this one does the duty again and
        so raises it again if it still holds."""
        ...

    def check_leader(self, what: str) -> None:
        """Refuse (:class:`NotLeaderError`, naming ``what``) a leader-only action that writes nothing here (asking
        the witnesses), unless this replica holds the current fencing token; nothing to check for a store with
        one notary."""
        ...

    def maintain(self) -> None:
        """Repair what a crash or an outage left behind (an object store backend publishes pending objects);
        called periodically, by any replica. Nothing to do for an embedded store."""
        ...

    def close(self) -> None: ...


#: The meta key of the largest anchored size whose on-chain root was compared with the log's (``anchor_checked``).
ANCHORS_CHECKED_KEY = "anchors_checked"

ANCHOR_COLUMNS = (
    "size", "tx_hash", "raw_tx", "nonce", "state", "sent_ms", "block_number", "block_hash", "confirmed_ms"
)  # fmt: skip
ALARM_COLUMNS = (
    "id", "time_ms", "kind", "size", "message", "subject", "last_ms", "count", "resolved_ms", "resolved_by", "reason"
)  # fmt: skip

#: The subject of the ``anchor-mismatch`` alarm of the anchor of checkpoint ``size``, and of the
#: ``checkpoint-mismatch`` alarm of a second root for ``size`` (one alarm per size, however often found).
ANCHOR_SUBJECT = "anchor {size}"
CHECKPOINT_SUBJECT = "checkpoint {size}"


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def anchor_row(row: Sequence[Any]) -> AnchorRow:
    """The row of ``ANCHOR_COLUMNS`` a backend read, typed (``raw_tx`` as bytes whatever the driver returns)."""
    size, tx_hash, raw_tx, nonce, state, sent_ms, block_number, block_hash, confirmed_ms = row
    if state not in ("sent", "confirmed", "failed"):
        raise StoreError(f"the anchor of checkpoint {size} is in an unknown state {state!r}")
    return AnchorRow(
        size=int(size), tx_hash=str(tx_hash), raw_tx=bytes(raw_tx), nonce=int(nonce), state=state,
        sent_ms=int(sent_ms), block_number=_optional_int(block_number),
        block_hash=None if block_hash is None else str(block_hash), confirmed_ms=_optional_int(confirmed_ms),
    )  # fmt: skip


def anchor_json(anchor: AnchorRow) -> AnchorJSON:
    """An anchor as the API shows it: without its raw transaction (the evidence bundle carries that)."""
    return AnchorJSON(
        size=anchor["size"], tx_hash=anchor["tx_hash"], nonce=anchor["nonce"], state=anchor["state"],
        sent_ms=anchor["sent_ms"], block_number=anchor["block_number"], block_hash=anchor["block_hash"],
        confirmed_ms=anchor["confirmed_ms"],
    )  # fmt: skip


class AlarmKey(NamedTuple):
    """Where an alarm stands in the order of :meth:`NotaryStorage.alarms`: the last found first, then the last
    opened. An alarm found again moves up (``last_ms`` only rises), never down; ``id`` never changes."""

    last_ms: int
    id: int


def alarm_key(row: AlarmRow) -> AlarmKey:
    return AlarmKey(row["last_ms"], row["id"])


#: The condition of the alarms after a key, in either backend's SQL (``p`` its placeholder; the parameters are
#: ``last_ms``, ``id``): a row-value comparison, the same text in both, which both serve as a range of the index on
#: ``(last_ms, id)`` read backwards (SQLite plans the same condition written out with ``OR`` as two searches and a
#: sort).
ALARMS_AFTER = "(last_ms, id) < ({p}, {p})"


#: The index of the alarms' order (:func:`alarms_page`), the same statement in either backend's migration.
ALARMS_INDEX = "CREATE INDEX alarms_recent ON alarms (last_ms, id)"


def alarms_page(p: str, *, open_only: bool, after: bool) -> str:
    """The SQL of a page of :meth:`NotaryStorage.alarms`, with ``p`` the backend's placeholder; its parameters are
    the key's ``last_ms`` and ``id`` when ``after``, then the limit. The index ``alarms_recent`` on
    ``(last_ms, id)`` serves its order (read backwards, no sort) and the key's condition."""
    conditions = (["resolved_ms IS NULL"] if open_only else []) + ([ALARMS_AFTER.format(p=p)] if after else [])
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    return f"SELECT {', '.join(ALARM_COLUMNS)} FROM alarms {where}ORDER BY last_ms DESC, id DESC LIMIT {p}"


def alarm_row(row: Sequence[Any]) -> AlarmRow:
    """The row of ``ALARM_COLUMNS`` a backend read, typed."""
    id_, time_ms, kind, size, message, subject, last_ms, count, resolved_ms, resolved_by, reason = row
    return AlarmRow(
        id=int(id_), time_ms=int(time_ms), kind=str(kind), size=_optional_int(size), message=str(message),
        subject=str(subject), last_ms=int(last_ms), count=int(count), resolved_ms=_optional_int(resolved_ms),
        resolved_by=None if resolved_by is None else str(resolved_by), reason=None if reason is None else str(reason),
    )  # fmt: skip


def edge_widths(size: int) -> dict[int, int]:
    """The width (in hashes) of the partial tile of each level at the right edge of a tree of ``size``."""
    widths: dict[int, int] = {}
    level = 0
    while size >> (8 * level):
        count = size >> (8 * level)
        if count % 256:
            widths[level] = count % 256
        level += 1
    return widths
