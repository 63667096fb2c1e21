"""The equivocation evidence a node kept (``chain.qbft.evidence``), in the node's own store, so a restart keeps it.

The records live beside the chain in the node's key-value store (``chain.node.store``; any py-evm
``AtomicDatabaseAPI``), under keys of their own that py-evm never uses (it keys by 32-byte hashes and its own
short prefixes):

``consortium-node:equivocation:<n>``
    record ``n`` (4 bytes, big-endian, from 0, in the order the node detected them):
    ``Equivocation.to_rlp``, that is ``RLP([validator, height, round, code, first, second])`` with both message
    bodies exactly as a peer sent them;
``consortium-node:equivocations``
    ``RLP([records, [[validator, detected], ...]])``: how many records there are, and how many equivocations the
    node detected per validator, kept or not (the ``/metrics`` counter), validators in byte order.

:meth:`EquivocationLog.save` writes the records the detector kept since the last save and the counts in one atomic
batch, durable when it returns (a ``kill -9`` leaves all of it or none); the records are as bounded as the
detector's (``chain.qbft.evidence.KEEP`` records, ``KEEP_BYTES`` of bodies), and each slot (validator, height,
round, type) is recorded once. :meth:`EquivocationLog.load` reads them back at start into a detector
(``EquivocationDetector.restore``), so ``qbft_getEquivocations`` answers the same records after a restart and a
conflict seen again is not recorded twice. Stored bytes that do not decode, or a record missing, raise
:class:`~chain.node.store.StoreError`: the node does not start on a store it cannot read.
"""

from __future__ import annotations

import rlp
from eth.abc import AtomicDatabaseAPI

from chain.errors import MalformedError
from chain.node.store import RESTORE_HINT, StoreError
from chain.qbft.evidence import Equivocation, EquivocationDetector

RECORD_PREFIX = b"consortium-node:equivocation:"
INDEX_KEY = b"consortium-node:equivocations"


def record_key(n: int) -> bytes:
    return RECORD_PREFIX + n.to_bytes(4, "big")


def format_index(records: int, counts: dict[bytes, int]) -> bytes:
    """``RLP([records, [[validator, detected], ...]])``, validators in byte order."""
    return bytes(rlp.encode([records, [[v, counts[v]] for v in sorted(counts)]]))


def parse_index(raw: bytes) -> tuple[int, dict[bytes, int]]:
    """:func:`format_index`'s bytes read back; :class:`MalformedError` for anything else."""
    try:
        items = rlp.decode(raw, strict=True)
        records, pairs = items
        counts = {}
        for validator, detected in pairs:
            if not isinstance(validator, bytes) or len(validator) != 20 or detected[:1] == b"\0":
                raise ValueError("a 20-byte address and a scalar")
            counts[validator] = int.from_bytes(detected, "big")
        if records[:1] == b"\0":
            raise ValueError("a scalar without leading zeros")
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise MalformedError(f"not an equivocation index: {exc}") from exc
    return int.from_bytes(records, "big"), counts


class EquivocationLog:
    """The evidence records and counts in ``db``; :meth:`load` once at start, then :meth:`save` after each
    record the detector returns."""

    def __init__(self, db: AtomicDatabaseAPI) -> None:
        self.db = db
        self.saved = 0  # records in the store
        self._counts: dict[bytes, int] = {}

    def load(self, detector: EquivocationDetector) -> None:
        """Restore ``detector`` (a new one) from the store."""
        if not self.db.exists(INDEX_KEY):
            return
        try:
            count, counts = parse_index(self.db[INDEX_KEY])
            records = []
            for n in range(count):
                key = record_key(n)
                if not self.db.exists(key):
                    raise MalformedError(f"record {n} of {count} is missing")
                records.append(Equivocation.from_rlp(self.db[key]))
        except MalformedError as exc:
            raise StoreError(
                f"the equivocation evidence in the store cannot be read ({exc}): save the evidence elsewhere, "
                f"then {RESTORE_HINT}"
            ) from exc
        detector.restore(records, counts)
        self.saved, self._counts = count, dict(counts)

    def save(self, detector: EquivocationDetector) -> None:
        """Write what ``detector`` kept and counted since the last save, in one durable batch."""
        new = detector.records[self.saved :]
        if not new and detector.counts == self._counts:
            return
        with self.db.atomic_batch() as batch:
            for n, record in enumerate(new, start=self.saved):
                batch[record_key(n)] = record.to_rlp()
            batch[INDEX_KEY] = format_index(len(detector.records), detector.counts)
        self.saved, self._counts = len(detector.records), dict(detector.counts)
