"""What this validator signed, in the node's own store, kept before it leaves the node: a restart mid-height never
makes it sign a conflicting message (``chain.qbft.machine.Signed``).

A validator that is restarted in the middle of a height forgets its round state: without this it could sign, for
a height and round it already signed in, a PROPOSAL of another block (a round-0 block built again with another
timestamp), a PREPARE or COMMIT for another digest, or a ROUND-CHANGE without the prepared certificate it had sent
before. Its peers would rightly keep that as evidence of equivocation (``chain.qbft.evidence``), and a lost
prepared certificate is what QBFT's locking relies on.

So every message the QBFT machine signs passes through :meth:`SignedLog.keep` before it is applied or sent: the
first message of each (height, round, type) is written to the store, in one atomic batch that is durable when it
returns (fsync'd: docs/chain-store.md), and only then sent. A later message for the same slot that says the same
(the same digest: ``chain.qbft.evidence.digest_of``) is sent as it is; one that conflicts is not: the message kept
before is sent again instead, exactly as it was (a ROUND-CHANGE with the prepared block and certificate it carried
then). If the write fails, nothing is sent (safety before liveness) and the error is logged.

The keys, beside the chain, under a prefix py-evm never uses:

``consortium-node:signed:<height><round><code>``
    (8 bytes, 4 bytes, 1 byte, big-endian) the message's wire body (``chain.qbft.messages.encode``);
``consortium-node:signed``
    ``RLP([[height, round, code], ...])``: the slots kept;
``consortium-node:prepared:<height>``
    (8 bytes) ``RLP([round, block, [PREPARE, ...]])``: the prepared certificate (the round, the block's RLP, each
    PREPARE's wire body) of this validator's last COMMIT at that height, written in the COMMIT's batch. A validator
    restarted in that height starts prepared with it (:meth:`SignedLog.prepared`), so its ROUND-CHANGEs still
    carry the certificate QBFT's locking relies on, even for a round it had not reached before the restart.

``consortium-node:abstain``
    the height through which this validator abstains (8 bytes, big-endian; 0: it does not), or empty while that
    height is not fixed yet: see below.

Slots of heights below the one being signed for are deleted in the same batch as the next write (those heights
are decided: this validator signs only for the height after its head). :meth:`SignedLog.load` reads the slots back
at start; a store whose record does not decode raises :class:`~chain.node.store.StoreError` (the node does not
start on it).

**A fresh record abstains.** A data directory wiped or replaced loses the record, as it loses the chain, and a
validator restarted on it could sign, at the height it was voting in, what conflicts with what it signed before.
So a store that holds no record at all (neither the index nor the abstain key) is taken as fresh: :meth:`load`
writes the abstain key empty (*pending*) before anything is signed, and while it is pending :meth:`keep` sends
nothing. Once the node knows the head its peers are at (``chain.node.consensus``: every peer's first status
answer in, some peer's head known), it calls :meth:`at_head` with that head ``H``: the abstain key becomes
``H + 1``, the height in progress, and :meth:`keep` sends nothing for that height or below, in any round; it votes
again from ``H + 2``, the first height that begins after it knew that head (by then it has synced to it, as any
node does before it votes). At the genesis (``H = 0``) it does not abstain: every validator of a new consortium
starts with a fresh record, and all of them abstaining would stop the first block. A restart before the height
is fixed stays pending; one after keeps the height.

**A record behind its peers abstains too.** A store restored from a backup (of the data directory or of the chain
store alone) holds a record that may lack what the validator signed after the backup was taken, and nothing in
the store tells it from the record of a node that was merely stopped. What tells them apart is the network: a
node signs only at the height after its head, so whatever it signed and lost lies above the head its store holds.
So at every start the node's head ``h`` is kept (``consortium-node:signed-check``, before anything is signed; a
restart before the check keeps the first one's) and, as for a fresh record, nothing is signed until the head its
peers are at, ``H``, is known: if ``H > h`` (its peers decided a block this store did not hold) it abstains
through ``H + 1`` as a wiped one does; otherwise it votes at once. The store of a chain directory just made is
checked from head 1: ``consortium init`` writes a file beside the genesis that the node's first start turns into
an empty record (:func:`mark_new`; a node of a new consortium that starts after the others decided block 1 would
otherwise sit out the next). A record of another account (``consortium-node:signer``, the account a record
belongs to, written at its first start with this rule, or a kept message of another author: a store copied from
another node) is dropped and the store taken as fresh. The argument, and its limits, are in
``docs/decisions.md``.

**The operator may end a sit-out** (:func:`vouch`, ``consortium chain vote-again``). Two validators of four
abstaining in the same height stall it for good: neither votes there, and the two others are no quorum. An
operator who knows the validator's record is complete (its node was merely down while the others decided, or its
store was restored from a backup taken after its last signature) vouches for it with the node stopped: the abstain
height becomes 0 and the record is checked from :data:`VOUCHED_HEAD`, above any head, so the next start votes
whatever its peers' head. The start after that is checked as any. Vouching for a record that lacks what the
validator signed lets it sign twice in the height in progress: the operator's word replaces the rule for one
start. A record of another account is still dropped and taken as fresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import rlp
from eth.abc import AtomicDatabaseAPI
from eth_utils.address import to_checksum_address

from chain.errors import MalformedError
from chain.node.store import RESTORE_HINT, StoreError
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock
from chain.qbft.evidence import digest_of
from chain.qbft.machine import Certificate

log = logging.getLogger("consortium.node.consensus")

PREFIX = b"consortium-node:signed:"
INDEX_KEY = b"consortium-node:signed"
PREPARED_PREFIX = b"consortium-node:prepared:"
ABSTAIN_KEY = b"consortium-node:abstain"
#: The head this node's store held when it started, while the record is not yet checked against its peers' head.
CHECK_KEY = b"consortium-node:signed-check"
#: The account whose record this is (20 bytes).
OWNER_KEY = b"consortium-node:signer"
#: The head a record an operator vouched for (:func:`vouch`) is checked from: no peers' head is above it.
VOUCHED_HEAD = 2**64 - 1

Slot = tuple[int, int, int]  # height, round, message code


def slot_key(slot: Slot) -> bytes:
    height, round_, code = slot
    return PREFIX + height.to_bytes(8, "big") + round_.to_bytes(4, "big") + code.to_bytes(1, "big")


def prepared_key(height: int) -> bytes:
    return PREPARED_PREFIX + height.to_bytes(8, "big")


def format_certificate(certificate: Certificate) -> bytes:
    round_, block, prepares = certificate
    return bytes(rlp.encode([round_, block.raw, [m.encode(p)[1] for p in prepares]]))


def parse_certificate(raw: bytes) -> Certificate:
    """:func:`format_certificate`'s bytes read back (signatures checked); :class:`MalformedError` otherwise."""
    try:
        round_raw, block_raw, bodies = rlp.decode(raw, strict=True)
        if not isinstance(round_raw, bytes) or round_raw[:1] == b"\0" or not isinstance(block_raw, bytes):
            raise ValueError("a round and a block")
        prepares = []
        for body in bodies:
            prepare = m.decode(int(m.Code.PREPARE), body)
            if not isinstance(prepare, m.Prepare):
                raise MalformedError("not a prepared certificate: expected PREPAREs")
            prepares.append(prepare)
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise MalformedError(f"not a prepared certificate: {exc}") from exc
    return int.from_bytes(round_raw, "big"), QbftBlock.decode(block_raw), tuple(prepares)


def format_index(slots: list[Slot]) -> bytes:
    return bytes(rlp.encode([list(slot) for slot in sorted(slots)]))


def parse_index(raw: bytes) -> list[Slot]:
    """:func:`format_index`'s bytes read back; :class:`MalformedError` for anything else."""
    try:
        items = rlp.decode(raw, strict=True)
        slots = []
        for item in items:
            if len(item) != 3 or any(not isinstance(v, bytes) or v[:1] == b"\0" for v in item):
                raise ValueError("three scalars without leading zeros")
            height, round_, code = (int.from_bytes(v, "big") for v in item)
            slots.append((height, round_, code))
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise MalformedError(f"not an index of signed messages: {exc}") from exc
    return slots


def mark_new(db: AtomicDatabaseAPI) -> None:
    """Mark the store of a node that has signed nothing, in a directory just made (``consortium init``), as holding
    an empty record rather than none, checked from head 1: its first start abstains only if its peers are past
    block 1. A store with a record is left as it is."""
    if not db.exists(INDEX_KEY) and not db.exists(ABSTAIN_KEY):
        with db.atomic_batch() as batch:
            batch[ABSTAIN_KEY] = (0).to_bytes(8, "big")
            batch[CHECK_KEY] = (1).to_bytes(8, "big")  # checked from head 1: peers at block 1 are no sign of a loss


def sealed_alone(db: AtomicDatabaseAPI, head: int) -> None:
    """The node of this store sealed the blocks up to ``head`` alone (no peers, no QBFT: ``consortium init`` of a
    consortium with one validator seals its first blocks so): they are in this store, so nothing it signed is
    missing below ``head``, and a record waiting to be checked from an earlier head (:func:`mark_new`, or a start
    not yet checked) is checked from ``head``. Otherwise its first start by QBFT would take the blocks it sealed
    itself for its peers' and sit out a height; a validator alone in its set would stall for good."""
    if not db.exists(CHECK_KEY):
        return
    raw = db[CHECK_KEY]
    if len(raw) != 8:
        raise StoreError(f"the head this validator's record is checked from cannot be read: {RESTORE_HINT}")
    if int.from_bytes(raw, "big") < head:
        with db.atomic_batch() as batch:
            batch[CHECK_KEY] = head.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class RecordState:
    """Where a store's record of signed messages stands between starts (:func:`record_state`)."""

    #: Heights with a message kept.
    heights: tuple[int, ...]
    #: No record at all: the next start takes it as fresh (it abstains in the height in progress past the genesis).
    fresh: bool
    #: The height the record abstains through (0: none); None while that height is not fixed (a fresh record whose
    #: start did not learn its peers' head).
    abstain_through: int | None
    #: The head the next start's check compares its peers' head with, if a check is pending
    #: (:data:`VOUCHED_HEAD` after :func:`vouch`).
    check_from: int | None

    @property
    def vouched(self) -> bool:
        return self.check_from == VOUCHED_HEAD


def record_state(db: AtomicDatabaseAPI) -> RecordState:
    """The record in ``db`` as the next start will find it (read only; :class:`StoreError` if it cannot be read)."""
    log_ = SignedLog(db)
    if db.exists(INDEX_KEY):
        log_._read_record()
    abstain: int | None = 0
    if db.exists(ABSTAIN_KEY):
        log_._load_abstain(db[ABSTAIN_KEY])
        abstain = None if log_.pending else log_.abstain_through
    check = None
    if db.exists(CHECK_KEY):
        raw = db[CHECK_KEY]
        if len(raw) != 8:
            raise StoreError(f"the head this validator's record is checked from cannot be read: {RESTORE_HINT}")
        check = int.from_bytes(raw, "big")
    fresh = not db.exists(INDEX_KEY) and not db.exists(ABSTAIN_KEY)
    return RecordState(tuple(sorted({slot[0] for slot in log_.slots()})), fresh, None if fresh else abstain, check)


def vouch(db: AtomicDatabaseAPI) -> RecordState:
    """An operator vouches that the record in ``db`` holds everything its validator signed (module docstring, "The
    operator may end a sit-out"): no abstain height, and a check from :data:`VOUCHED_HEAD`, so the next start votes
    at once. The node must be stopped (its store is locked while it runs). Answers the state before."""
    before = record_state(db)
    with db.atomic_batch() as batch:
        batch[ABSTAIN_KEY] = (0).to_bytes(8, "big")
        batch[CHECK_KEY] = VOUCHED_HEAD.to_bytes(8, "big")
    return before


@dataclass(frozen=True, slots=True)
class SignedCounts:
    """What :class:`SignedLog` did since the node started (``/metrics``: ``chain.node.service.Metrics``)."""

    #: Messages sent again as kept before, for a slot signed before (the same message, or the one kept in place
    #: of a conflicting one).
    resent: int
    #: Messages not sent because they conflicted with the one kept for their slot (that one was sent instead).
    conflicts_refused: int
    #: Messages not sent because the store refused the write.
    withheld: int
    #: Messages not signed because the record was fresh (pending, or at or below the abstain height).
    abstained: int
    #: Heights it sat out: those in which it abstained from at least one message, and the height it abstains
    #: through once its head is past it (decided by the others before this node was asked to sign anything there,
    #: it was sat out all the same).
    abstained_heights: int
    #: 1 while it abstains (a fresh record pending, or its head below the abstain height), else 0; not while a
    #: record kept waits for its peers' head to be checked against (a few seconds at a start).
    abstaining: int


class SignedLog:
    """The messages this validator signed, per (height, round, type), in ``db``; :meth:`load` once at start."""

    def __init__(self, db: AtomicDatabaseAPI, me: bytes | None = None) -> None:
        """``me``: this node's account; a record of another account's messages is dropped (:meth:`load`)."""
        self.db, self.me = db, me
        self._kept: dict[Slot, m.Message] = {}
        self._prepared: dict[int, Certificate] = {}  # height → the certificate of its last COMMIT
        #: Messages not sent because they conflicted with one signed before (that one was sent instead).
        self.replaced = 0
        #: Messages sent again as kept before (the same, or in place of a conflicting one).
        self.resent = 0
        #: Messages not sent because the store refused the write.
        self.withheld = 0
        #: Messages not signed because the record is fresh, and the heights they were for.
        self.abstained = 0
        self.abstained_heights = 0
        self._last_abstained = -1
        #: The height this process fixed to sit out (:meth:`at_head`), counted in :meth:`counts` once passed.
        self._window = 0
        #: True while the record is fresh and the abstain height not fixed yet (:meth:`at_head`).
        self.pending = False
        #: The height through which this validator abstains (0: it does not).
        self.abstain_through = 0
        #: While :attr:`pending`: the head above which its peers' head makes it abstain (0 for a fresh record).
        self.since = 0
        #: Pending only until a record kept is checked against its peers' head (not counted as abstaining).
        self.checking = False

    def load(self, head: int | None = None) -> None:
        """Read the record back. ``head``: the node's head now, before it syncs; given (as the node does), a record
        is checked against its peers' head before anything is signed (:meth:`at_head`)."""
        if self.db.exists(ABSTAIN_KEY):
            self._load_abstain(self.db[ABSTAIN_KEY])
        elif not self.db.exists(INDEX_KEY):  # a fresh store: abstain until the height in progress is known
            with self.db.atomic_batch() as batch:
                batch[ABSTAIN_KEY] = b""
            self.pending = True
        if self.db.exists(INDEX_KEY):
            self._read_record()
        if self.me is not None:
            self._own()
        if head is not None and not self.pending:
            self._check_from(head)

    def _read_record(self) -> None:
        try:
            kept = {}
            for slot in parse_index(self.db[INDEX_KEY]):
                key = slot_key(slot)
                if not self.db.exists(key):
                    raise MalformedError(f"the message of height {slot[0]} round {slot[1]} is missing")
                message = m.decode(slot[2], self.db[key])
                if (message.height, message.round) != slot[:2]:
                    raise MalformedError(f"the message kept for height {slot[0]} round {slot[1]} is for another")
                kept[slot] = message
            prepared = {}
            for height in {slot[0] for slot in kept}:
                if self.db.exists(prepared_key(height)):
                    prepared[height] = parse_certificate(self.db[prepared_key(height)])
        except MalformedError as exc:
            raise StoreError(
                f"the messages this validator signed cannot be read from the store ({exc}): {RESTORE_HINT}"
            ) from exc
        self._kept, self._prepared = kept, prepared

    def _own(self) -> None:
        """Drop a record that is another account's (a store copied from another node): taken as fresh."""
        assert self.me is not None
        owner = self.db[OWNER_KEY] if self.db.exists(OWNER_KEY) else None
        strangers = {message.author for message in self._kept.values()} - {self.me}
        if owner is None and not strangers:
            with self.db.atomic_batch() as batch:
                batch[OWNER_KEY] = self.me
            return
        if owner == self.me and not strangers:
            return
        with self.db.atomic_batch() as batch:
            for slot in self._kept:
                del batch[slot_key(slot)]
            for height in self._prepared:
                del batch[prepared_key(height)]
            for key in (INDEX_KEY, CHECK_KEY):
                if self.db.exists(key):
                    del batch[key]
            batch[ABSTAIN_KEY] = b""
            batch[OWNER_KEY] = self.me
        self._kept, self._prepared = {}, {}
        self.pending, self.abstain_through, self.since = True, 0, 0
        fields = {"owner": to_checksum_address(owner) if owner is not None and len(owner) == 20 else None,
                  "validator": to_checksum_address(self.me)}  # fmt: skip
        log.warning("record of signed messages of another account dropped: taken as fresh", extra={"fields": fields})

    def rekey(self, me: bytes) -> None:
        """This validator signs with account ``me`` from now (its account rotated, ``chain.node.consensus``): the
        record becomes ``me``'s, what the account before signed dropped from it (for heights its set decided, all
        past now: kept, a restart would take the record as another account's and sit a height out)."""
        if me == self.me:
            return
        others = {slot for slot, message in self._kept.items() if message.author != me}
        heights = {slot[0] for slot in others} & set(self._prepared)
        with self.db.atomic_batch() as batch:
            for slot in others:
                del batch[slot_key(slot)]
            for height in heights:
                del batch[prepared_key(height)]
            if others:
                batch[INDEX_KEY] = format_index([slot for slot in self._kept if slot not in others])
            batch[OWNER_KEY] = me
        for slot in others:
            del self._kept[slot]
        for height in heights:
            del self._prepared[height]
        self.me = me

    def _check_from(self, head: int) -> None:
        """Sign nothing until the peers' head is known (:meth:`at_head`) and compared with ``head``, this start's
        (or that of an earlier start not yet checked, which the store keeps)."""
        if self.db.exists(CHECK_KEY):
            raw = self.db[CHECK_KEY]
            if len(raw) != 8:
                raise StoreError(f"the head this validator's record is checked from cannot be read: {RESTORE_HINT}")
            head = int.from_bytes(raw, "big")
        else:
            with self.db.atomic_batch() as batch:
                batch[CHECK_KEY] = head.to_bytes(8, "big")
        self.pending, self.since, self.checking = True, head, True

    def _load_abstain(self, raw: bytes) -> None:
        if raw == b"":
            self.pending = True
        elif len(raw) == 8:
            self.abstain_through = int.from_bytes(raw, "big")
        else:
            raise StoreError(f"the height this validator abstains through cannot be read: {RESTORE_HINT}")

    def at_head(self, head: int) -> bool:
        """The head this node's peers are at (or its own, if higher) is ``head``: fix the abstain height of a
        pending record durably: the height in progress, ``head + 1``, if ``head`` is above :attr:`since` (a fresh
        record: past the genesis; a record kept: a block decided that the store did not hold at the start), else
        none. False if the store refused the write (it stays pending and sends nothing); True otherwise, and at once
        if nothing was pending."""
        if not self.pending:
            return True
        checked = self.db.exists(CHECK_KEY)
        through = max(head + 1 if head > self.since else 0, self.abstain_through)
        try:
            with self.db.atomic_batch() as batch:
                batch[ABSTAIN_KEY] = through.to_bytes(8, "big")
                if checked:
                    del batch[CHECK_KEY]
        except StoreError as exc:
            log.error("abstain height not kept: still abstaining", extra={"fields": {"reason": str(exc)}})
            return False
        self.pending, self.abstain_through, self.checking = False, through, False
        if head > self.since:
            self._window = through
        fields = {"head": head, "through": through, "since": self.since}
        if self.since == VOUCHED_HEAD:
            vouched = {"head": head, "through": through, "since": "vouched"}
            log.warning("record of signed messages vouched for by its operator: voting", extra={"fields": vouched})
        elif head > self.since:
            what = "record of signed messages behind its peers" if checked else "fresh record of signed messages"
            log.warning(f"{what}: abstaining in the height in progress", extra={"fields": fields})
        else:
            log.info("record of signed messages checked against its peers' head: voting", extra={"fields": fields})
        return True

    def abstains(self, height: int) -> bool:
        """Whether this validator sends nothing for ``height`` (its record is fresh)."""
        return self.pending or height <= self.abstain_through

    def counts(self, head: int) -> SignedCounts:
        """The counters, with the node at ``head``: the height it sits out counts once ``head`` is past it, whether
        or not this node was asked to sign anything there (heights are counted in order: the last counted is the
        window's or below it)."""
        passed = 0 < self._window <= head and self._last_abstained < self._window
        return SignedCounts(self.resent, self.replaced, self.withheld, self.abstained,
                            self.abstained_heights + int(passed),
                            int(self.abstains(head + 1) and not self.checking))  # fmt: skip

    def prepared(self, height: int) -> Certificate | None:
        """The certificate kept with this validator's last COMMIT at ``height`` (None if it sent none)."""
        return self._prepared.get(height)

    def slots(self) -> list[Slot]:
        """The slots kept now, in order (for tests and the store's record)."""
        return sorted(self._kept)

    def keep(self, message: m.Message, prepared: Certificate | None = None) -> m.Message | None:
        """What to send for ``message``, just signed: itself once kept in the store (or if the one kept for its
        slot says the same), the message kept for its slot if it conflicts with that one, None if the store
        refused the write or the record is fresh and this validator abstains at the message's height. ``prepared``:
        a COMMIT's certificate, kept in the same batch."""
        code, body = m.encode(message)
        if self.abstains(message.height):
            self.abstained += 1
            if message.height != self._last_abstained:
                self._last_abstained = message.height
                self.abstained_heights += 1
            return None
        slot = (message.height, message.round, int(code))
        before = self._kept.get(slot)
        if before is not None:
            self.resent += 1
            if digest_of(before) == digest_of(message):
                return message
            self.replaced += 1
            fields = {"height": message.height, "round": message.round, "type": code.name,
                      "validator": to_checksum_address(message.author)}  # fmt: skip
            log.warning("not signing a conflicting message: sending the one signed before", extra={"fields": fields})
            return before
        current = self._prepared.get(message.height)
        if prepared is not None and current is not None and prepared[0] < current[0]:
            prepared = None  # the certificate kept is of a later round: it stays
        stale = [s for s in self._kept if s[0] < message.height]
        remaining = [s for s in self._kept if s[0] >= message.height]
        try:
            with self.db.atomic_batch() as batch:
                for old in stale:
                    del batch[slot_key(old)]
                for height in {old[0] for old in stale} & set(self._prepared):
                    del batch[prepared_key(height)]
                batch[slot_key(slot)] = body
                if prepared is not None:
                    batch[prepared_key(message.height)] = format_certificate(prepared)
                batch[INDEX_KEY] = format_index([*remaining, slot])
        except StoreError as exc:
            self.withheld += 1
            log.error("signed message not kept, so not sent", extra={"fields": {"reason": str(exc)}})
            return None
        for old in stale:
            del self._kept[old]
            self._prepared.pop(old[0], None)
        self._kept[slot] = message
        if prepared is not None:
            self._prepared[message.height] = prepared
        return message
