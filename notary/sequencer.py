"""Sequencing: a gateway's signed batch of events becomes durable, numbered log entries with receipts.

A batch is checked in this order, and refused as a whole on the first failing step (nothing is written):
size limit → the gateway's org has a registered key → the signature over ``consortium-ledger/batch/v1\\n`` ‖ body
→ JSON shape → every event's schema (all field errors at once), its schema version of the log's suite, its gateway
and provider, its time within the accepted window → duplicates → the gateway's sequence numbers. The log's suite
(``notary.logsuite``) decides the signature (Ed25519, or SM2 with ID ``1234567812345678`` under ``sm``), the leaf
hashes and the batch roots, and which schema versions it takes (``notary.event.LOG_VERSIONS``: 1 and 2 under
``intl``, 3 under ``sm``), so that a log never mixes events hashed with SHA-256 and with SM3.

An event id seen before returns the original index and receipt (the same content) or a conflict (different
content); it never becomes a second leaf. A gateway's sequence numbers must increase; a jump is recorded as a
gap, reported, and may be filled later by the missing events; a number already used is a conflict.

The new entries are integrated into the tree in the same transaction (so the store's tree size always equals
its number of entries), and receipts are answered only after that transaction has committed.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypedDict, runtime_checkable

from notary.errors import (
    BatchTooLargeError,
    CompromisedKeyError,
    ConflictError,
    MalformedError,
    NotFoundError,
    SignatureError,
    UnknownGatewayError,
)
from notary.event import (
    EventSchemaError,
    FieldError,
    canonical_entry,
    gateway_org,
    validate_event,
    version_refusal,
)
from notary.integrate import TileWriter
from notary.keycache import ParsedKeys
from notary.log.hashing import HASH_SIZE
from notary.log.note import Signer
from notary.log.tiles import TILE_WIDTH
from notary.logsuite import INTL, LogSuite, PrivateKey, suite_of_key
from notary.receipt import (
    BatchStatement,
    Receipt,
    ReceiptJSON,
    batch_receipt,
    batch_receipts,
    receipts_json,
    sign_batch,
)
from notary.storage.base import BatchWrite, EntryRow, NotaryStorage, TreeState

BATCH_CONTEXT = b"consortium-ledger/batch/v1\n"
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_BATCH_EVENTS = 10_000
_MAX_ERRORS = 100
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SequencerSettings:
    origin: str
    mmd_s: int = 10
    window_past_ms: int = 7 * DAY_MS  # events older than this are refused: an outbox may drain after days
    window_future_ms: int = 300_000  # and events from more than 5 minutes in the future


class GapJSON(TypedDict):
    first: int
    last: int


class BatchResultJSON(TypedDict):
    """The answer to a batch (``POST /v1/batches``)."""

    new: int
    duplicates: int
    gaps: list[GapJSON]
    receipts: list[ReceiptJSON]


@dataclass(frozen=True, slots=True)
class BatchResult:
    receipts: list[Receipt]
    new: int
    duplicates: int
    gaps: list[tuple[int, int]] = field(default_factory=list)  # gaps this batch revealed, (first, last)

    def to_json(self) -> BatchResultJSON:
        return {
            "new": self.new,
            "duplicates": self.duplicates,
            "gaps": [{"first": a, "last": b} for a, b in self.gaps],
            "receipts": [r.to_json() for r in self.receipts],
        }

    def to_json_bytes(self) -> bytes:
        """``to_json()`` as the API answers it (``json.dumps`` compact, not ASCII-escaped, in UTF-8), byte for byte,
        with the receipts written by :func:`notary.receipt.receipts_json`."""
        head = json.dumps(
            {"new": self.new, "duplicates": self.duplicates, "gaps": [{"first": a, "last": b} for a, b in self.gaps]},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return head[:-1].encode("utf-8") + b',"receipts":' + receipts_json(self.receipts) + b"}"


def sign_batch_body(private_key: PrivateKey, body: bytes) -> bytes:
    """A gateway's signature over a batch body, in the suite of its key (Ed25519, or SM2 for ``sm``)."""
    return suite_of_key(private_key).sign_batch(private_key, BATCH_CONTEXT + body)


def encode_batch(gateway_id: str, events: Sequence[Mapping[str, Any]]) -> bytes:
    return json.dumps({"gateway": gateway_id, "events": list(events)}, separators=(",", ":")).encode("utf-8")


#: The bytes ``json.dumps`` writes alike with and without ``ensure_ascii``: printable ASCII (space to ``~``).
_PRINTABLE: Final = re.compile(rb"[\x20-\x7e]*")


def encode_entries_batch(gateway_id: str, entries: Sequence[bytes]) -> bytes:
    """:func:`encode_batch` of the events whose canonical entries (``notary.event.canonical_entry``, as an outbox
    stores them) are ``entries``, byte for byte, without decoding and encoding each again: an entry of printable
    ASCII is already what ``json.dumps`` writes for its event (sorted keys are kept, compact separators, the same
    escapes); any other (a character beyond ASCII, which ``encode_batch`` escapes) is decoded and encoded."""
    head = json.dumps({"gateway": gateway_id}, separators=(",", ":"))[:-1] + ',"events":['
    parts = [
        entry if _PRINTABLE.fullmatch(entry) else json.dumps(json.loads(entry), separators=(",", ":")).encode()
        for entry in entries
    ]
    return head.encode("utf-8") + b",".join(parts) + b"]}"


def batch_headers(gateway_id: str, body: bytes, private_key: PrivateKey) -> dict[str, str]:
    """The headers of ``POST /v1/batches`` with ``body``: the gateway and its signature with ``private_key``."""
    signature = base64.b64encode(sign_batch_body(private_key, body)).decode("ascii")
    return {"Consortium-Gateway": gateway_id, "Consortium-Signature": signature}


def batch_request(
    gateway_id: str, events: Sequence[Mapping[str, Any]], private_key: PrivateKey
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of ``POST /v1/batches`` carrying ``events``, signed with the gateway's key."""
    body = encode_batch(gateway_id, events)
    return body, batch_headers(gateway_id, body, private_key)


#: org id → the raw public keys its gateways may sign batches with now; asked at every batch, so a source that
#: follows the chain (``network.trust.GatewayKeySource``) changes the accepted keys without a restart.
GatewayKeySource = Callable[[str], Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class CompromisedGatewayKey:
    """A gateway key of an org declared compromised and no longer valid: it counts for an event only if the event's
    time is within ``[valid_from_ms, compromised_ms)``, the times of the blocks its record is valid from and is not
    valid from (the compromise's block, ``as_of_block``)."""

    key: bytes
    valid_from_ms: int
    compromised_ms: int
    as_of_block: int

    def counts_for(self, time_ms: int) -> bool:
        return self.valid_from_ms <= time_ms < self.compromised_ms


@runtime_checkable
class FollowedGatewayKeys(Protocol):
    """A :data:`GatewayKeySource` that also names the org's gateway keys declared compromised
    (``network.trust.GatewayKeySource`` over the chain's TrustDirectory)."""

    def __call__(self, org: str) -> Sequence[bytes]: ...

    def compromised(self, org: str) -> Sequence[CompromisedGatewayKey]: ...


class Sequencer:
    """Turns verified batches into entries; one writer at a time, reads from any thread. ``gateway_keys`` are
    raw public keys of the log's ``suite`` (32-byte Ed25519, or 65-byte SM2 points): one per org, fixed, or a
    :data:`GatewayKeySource` asked at every batch (a batch verifying with any key it names is accepted).

    A source that also names the keys declared compromised (:class:`FollowedGatewayKeys`) has a batch that
    verifies under none of the keys valid now checked under those: one that verifies under a compromised key is
    taken only if every event's time is when that key was valid, before the compromise
    (:meth:`CompromisedGatewayKey.counts_for`); otherwise it is refused as a whole, :class:`CompromisedKeyError`
    naming the events, and nothing is written (``docs/trust.md``, "A gateway key declared compromised").

    It keeps no tree state of its own: each batch is planned against the state the store reads under its
    sequencing lock (``NotaryStorage.sequence``), so several sequencers, in several processes, may append to one
    store (the PostgreSQL backend) with no gap and no duplicate."""

    def __init__(
        self,
        store: NotaryStorage,
        signer: Signer,
        settings: SequencerSettings,
        gateway_keys: Mapping[str, bytes] | GatewayKeySource,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[dict[tuple[int, int], bytes]], None] | None = None,
        suite: LogSuite = INTL,
    ) -> None:
        self.store = store
        self.settings = settings
        self.suite = suite
        self._tree = suite.tree
        self._signer = signer
        if isinstance(gateway_keys, Mapping):
            fixed = {org: (bytes(k),) for org, k in gateway_keys.items()}
            self._key_source: GatewayKeySource = lambda org: fixed.get(org, ())
        else:
            self._key_source = gateway_keys
        self._batch_keys = ParsedKeys(suite.batch_key, (ValueError, TypeError))
        for keys in fixed.values() if isinstance(gateway_keys, Mapping) else ():
            self._batch_keys.add(keys[0])  # a malformed fixed key fails here, at start
        self._clock = clock
        self._on_commit = on_commit
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.store.size()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------------------------------------ submit

    def submit(self, gateway_id: str, body: bytes, signature: bytes) -> BatchResult:
        if len(body) > MAX_BATCH_BYTES:
            raise BatchTooLargeError(f"batch of {len(body)} bytes exceeds the limit of {MAX_BATCH_BYTES}; split it")
        org, raw = self._gateway_keys(gateway_id)
        message = BATCH_CONTEXT + body
        under: CompromisedGatewayKey | None = None
        if not any(key.verify(signature, message) for key in self._batch_keys.of(raw)):
            compromised = self._compromised(org)
            if not raw and not compromised:
                raise UnknownGatewayError(f"gateway {gateway_id!r}: org {org!r} has no gateway key in the consortium")
            under = self._compromised_signer(compromised, signature, message)
            if under is None:
                raise SignatureError(f"batch signature does not verify with the gateway key of {gateway_id!r}")
        events = self._parse(gateway_id, body)
        rows = self._validate(gateway_id, events)
        if under is not None:
            self._check_compromised(org, under, events)
        with self._lock:
            return self._sequence(gateway_id, rows)

    def _gateway_keys(self, gateway_id: str) -> tuple[str, Sequence[bytes]]:
        """The gateway's org and the raw keys valid now (a key of another suite, or malformed, verifies nothing)."""
        try:
            org = gateway_org(gateway_id)
        except MalformedError as exc:
            raise UnknownGatewayError(str(exc)) from None
        return org, self._key_source(org)

    def _compromised(self, org: str) -> Sequence[CompromisedGatewayKey]:
        source = self._key_source
        return source.compromised(org) if isinstance(source, FollowedGatewayKeys) else ()

    def _compromised_signer(
        self, compromised: Sequence[CompromisedGatewayKey], signature: bytes, message: bytes
    ) -> CompromisedGatewayKey | None:
        """The key declared compromised that ``signature`` verifies under, if any."""
        for candidate in compromised:
            if any(key.verify(signature, message) for key in self._batch_keys.of([candidate.key])):
                return candidate
        return None

    @staticmethod
    def _check_compromised(org: str, key: CompromisedGatewayKey, events: list[Any]) -> None:
        """Refuse the batch (nothing written) if ``key``, declared compromised, does not count for each event."""
        late = [e["event_id"] for e in events if not key.counts_for(e["time_ms"])]
        if late:
            shown = ", ".join(late[:5]) + (f" and {len(late) - 5} more" if len(late) > 5 else "")
            raise CompromisedKeyError(
                f"batch signed with gateway key {key.key.hex()} of {org!r}, declared compromised as of block "
                f"{key.as_of_block} (time_ms {key.compromised_ms}): it counts only for events dated within "
                f"[{key.valid_from_ms}, {key.compromised_ms}); refused, nothing logged, for {len(late)} event(s) "
                f"outside: {shown}. Sign with a gateway key valid now (`consortium gateway rotate-key`)"
            )

    def _parse(self, gateway_id: str, body: bytes) -> list[Any]:
        try:
            batch = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise EventSchemaError([{"loc": [], "msg": f"body is not UTF-8 JSON: {exc}"}]) from None
        if not isinstance(batch, dict) or set(batch) != {"gateway", "events"}:
            raise EventSchemaError([{"loc": [], "msg": "a batch is an object with exactly 'gateway' and 'events'"}])
        if batch["gateway"] != gateway_id:
            raise EventSchemaError([{"loc": ["gateway"], "msg": f"must equal the signing gateway {gateway_id!r}"}])
        events = batch["events"]
        if not isinstance(events, list) or not events:
            raise EventSchemaError([{"loc": ["events"], "msg": "must be a non-empty list"}])
        if len(events) > MAX_BATCH_EVENTS:
            raise BatchTooLargeError(f"batch of {len(events)} events exceeds the limit of {MAX_BATCH_EVENTS}")
        return events

    def _validate(self, gateway_id: str, events: list[Any]) -> list[tuple[str, int, bytes]]:
        org = gateway_org(gateway_id)
        now = self.now_ms()
        low, high = now - self.settings.window_past_ms, now + self.settings.window_future_ms
        errors: list[FieldError] = []
        rows: list[tuple[str, int, bytes]] = []
        seen: set[str] = set()
        for i, obj in enumerate(events):
            loc: tuple[str | int, ...] = ("events", i)
            try:
                event = validate_event(obj, loc)
            except EventSchemaError as exc:
                errors.extend(exc.errors)
                if len(errors) >= _MAX_ERRORS:
                    break
                continue
            refusal = version_refusal(event["v"], self.suite.name)
            if refusal is not None:
                errors.append({"loc": [*loc, "v"], "msg": refusal})
            if event["gateway_id"] != gateway_id:
                errors.append({"loc": [*loc, "gateway_id"], "msg": f"must be the batch's gateway {gateway_id!r}"})
            if event["provider_org"] != org:
                errors.append({"loc": [*loc, "provider_org"], "msg": f"a gateway of {org!r} records calls to {org!r}"})
            if not low <= event["time_ms"] <= high:
                errors.append({"loc": [*loc, "time_ms"], "msg": f"outside the accepted window [{low}, {high}]"})
            if event["event_id"] in seen:
                errors.append({"loc": [*loc, "event_id"], "msg": "appears twice in the batch"})
            seen.add(event["event_id"])
            rows.append((event["event_id"], event["gateway_seq"], canonical_entry(event)))
        if errors:
            raise EventSchemaError(errors[:_MAX_ERRORS])
        return rows

    def _sequence(self, gateway_id: str, rows: list[tuple[str, int, bytes]]) -> BatchResult:
        planned: list[tuple[BatchWrite, list[bytes], list[tuple[int, int]]]] = []
        found: dict[str, EntryRow] = {}

        def plan(state: TreeState) -> BatchWrite | None:
            planned.clear()
            found.clear()
            found.update(state.existing)
            new = []
            for event_id, seq, data in rows:
                old = state.existing.get(event_id)
                if old is None:
                    new.append((event_id, seq, data))
                elif old.data != data:
                    raise ConflictError(
                        f"event id {event_id!r} was already logged at index {old.index} with other content"
                    )
            last, gaps, revealed = self._check_sequence(gateway_id, [r[1] for r in new], state)
            if not new:
                return None
            write, leaves = self._plan(gateway_id, new, last, gaps, state)
            planned.append((write, leaves, revealed))
            return write

        committed = self.store.sequence(gateway_id, [r[0] for r in rows], plan)
        receipts: dict[str, Receipt] = {}
        revealed: list[tuple[int, int]] = []
        if committed is not None:
            write, leaves, revealed = planned[0]
            if self._on_commit is not None:
                self._on_commit(write.tiles)
            new_ids = [eid for eid, _, _ in write.entries]
            receipts.update(
                {r.event_id: r for r in batch_receipts(new_ids, write.first, leaves, write.note, self._tree)}
            )
        receipts.update(self._receipts_of(list(found.values())))
        result = [receipts[r[0]] for r in rows]
        new_count = 0 if committed is None else len(committed.entries)
        return BatchResult(result, new_count, len(rows) - new_count, revealed)

    def _check_sequence(
        self, gateway_id: str, seqs: list[int], state: TreeState
    ) -> tuple[int, list[tuple[int, int, int]], list[tuple[int, int]]]:
        """The gateway's new last sequence number and gap list after ``seqs``, and the gaps newly revealed."""
        last = state.last_seq
        gaps = list(state.gaps)
        revealed: list[tuple[int, int]] = []
        previous = 0
        now = self.now_ms()
        for seq in seqs:
            if seq <= previous:
                raise EventSchemaError([{"loc": ["events"], "msg": "gateway_seq must increase within a batch"}])
            previous = seq
            if seq > last:
                if seq > last + 1:
                    gaps.append((last + 1, seq - 1, now))
                    revealed.append((last + 1, seq - 1))
                last = seq
                continue
            for k, (a, b, found) in enumerate(gaps):
                if a <= seq <= b:
                    gaps[k : k + 1] = [g for g in ((a, seq - 1, found), (seq + 1, b, found)) if g[0] <= g[1]]
                    break
            else:
                raise ConflictError(
                    f"gateway {gateway_id!r}: sequence number {seq} was already used (last sequenced: {last})"
                )
        return last, gaps, revealed

    def _plan(
        self,
        gateway_id: str,
        new: list[tuple[str, int, bytes]],
        last: int,
        gaps: list[tuple[int, int, int]],
        state: TreeState,
    ) -> tuple[BatchWrite, list[bytes]]:
        """The batch's write at the state's size: tiles, the signed batch statement, the gateway's new state."""
        writer = TileWriter(state.size, state.edge, self._tree)
        first = state.size
        leaf = self._tree.leaf
        leaves: list[bytes] = [leaf(data) for _, _, data in new]
        tiles, levels = writer.append_levels(leaves)
        time_ms = max(self.now_ms(), state.last_time)
        root = self._tree.root_of(leaves)
        statement = BatchStatement(self.settings.origin, first, len(new), root, time_ms, self.settings.mmd_s)
        note = sign_batch(self._signer, statement)
        write = BatchWrite(gateway_id, first, time_ms, note, new, tiles, levels, last, gaps)
        return write, leaves

    # ------------------------------------------------------------------------------------------ reads

    def receipt(self, event_id: str) -> Receipt:
        """The receipt of a logged event, rebuilt from its batch."""
        row = self.store.entries_by_id([event_id]).get(event_id)
        if row is None:
            raise NotFoundError(f"no event {event_id!r} in the log")
        return self._receipts_of([row])[event_id]

    def _receipts_of(self, rows: list[EntryRow]) -> dict[str, Receipt]:
        """Receipts of logged entries, reading each batch they belong to once."""
        by_batch: dict[int, list[EntryRow]] = {}
        for row in rows:
            by_batch.setdefault(row.batch, []).append(row)
        receipts: dict[str, Receipt] = {}
        for batch_id, members in by_batch.items():
            batch = self.store.batch(batch_id)
            leaves = self._leaf_hashes(batch.first, batch.count)
            for row in members:
                receipts[row.event_id] = batch_receipt(
                    row.event_id, row.index, batch.first, leaves, batch.note, self._tree
                )
        return receipts

    def _leaf_hashes(self, first: int, count: int) -> list[bytes]:
        """The leaf hashes of entries [first, first + count), from the level-0 tiles: 32 bytes each, stored in
        the same transaction as the entries, rather than every entry of the batch (about a kilobyte each) read
        and hashed again. A tile shorter than it must be (never written so) falls back to the entries."""
        hashes: list[bytes] = []
        end = first + count
        for t in range(first // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1):
            base = t * TILE_WIDTH
            lo, hi = max(first, base) - base, min(end, base + TILE_WIDTH) - base
            data = self.store.tile(0, t)
            if len(data) < hi * HASH_SIZE:
                return [self._tree.leaf(d) for d in self.store.entries(first, count)]
            hashes += [data[k * HASH_SIZE : (k + 1) * HASH_SIZE] for k in range(lo, hi)]
        return hashes

    def gaps(self) -> dict[str, list[tuple[int, int, int]]]:
        found: dict[str, list[tuple[int, int, int]]] = {}
        for gateway, first, last, found_ms in self.store.gaps():
            found.setdefault(gateway, []).append((first, last, found_ms))
        return found

    def last_seqs(self) -> dict[str, int]:
        return self.store.gateways()
