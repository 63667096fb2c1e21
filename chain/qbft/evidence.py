"""Evidence that a validator equivocated: two messages its key signed that conflict, kept as they were received.

A validator equivocates when it signs two PROPOSALs for one height and round with different blocks (block hashes,
``QbftBlock.hash``), or two PREPAREs, or two COMMITs, for one height and round with different digests, or two
ROUND-CHANGEs for one height and round with different prepared parts (the signed ``[prepared round, prepared
digest]``, or ``[]`` for none: :func:`digest_of`). Honest validators never do (a round's proposal is built once; a
validator prepares and commits at most once a round, and sends its ROUND-CHANGE for a round once, as it enters
that round), so two such messages prove that the key was used against the protocol, whoever held it. What a
ROUND-CHANGE carries unsigned (the prepared block and its PREPAREs) does not count: the same signed payload sent
again with another certificate attached is not evidence.

Messages travel inside others too: a PROPOSAL carries the signed ROUND-CHANGE payloads and PREPAREs that justify
it, a ROUND-CHANGE the PREPAREs of its prepared certificate, each signed by its own author. Those count like
messages received directly (:meth:`EquivocationDetector.observe_all`); a record keeps such a message as its signed
part alone (``RLP([payload, signature])``, ``chain.qbft.messages.signed_body``: for a PREPARE its wire body, for a
ROUND-CHANGE its signed payload without block or certificate), which :func:`verify_equivocation` decodes too.

An :class:`Equivocation` holds the two messages as their wire bodies (the bytes a peer sent, code alongside), so
anyone can check it offline with :func:`verify_equivocation`: it decodes both bodies, recovers each signer from
its signature and checks that one key signed both and that they conflict. Nothing else is trusted: not the
record's other fields, not the node that kept it. :meth:`Equivocation.to_rlp` and :meth:`Equivocation.from_rlp`
are the canonical bytes a node keeps a record as in its store (``chain.node.equivocations``).

:class:`EquivocationDetector` is what a node feeds with the messages it received and decoded (their authors
recovered): it remembers the first digest each validator signed for each height, round and message type, and
returns a record when a later message conflicts. Its memory is bounded whatever peers send: only messages from
validators of the current set count (decoding checks each signature and recovers its author), for at most
``ahead`` heights after the current one; each validator has at most ``per_author`` slots remembered and
``per_author_bytes`` of bodies (a message for an earlier height and round than a slot's, not yet proven, takes
that slot's place); slots of past heights are dropped as the height moves on; and only the first ``keep``
records are kept, at most ``keep_per_validator`` of one validator (so one cannot crowd out the evidence against
another) and ``keep_bytes`` of bodies in all (later ones are counted, not stored). A detector can start from the
records and counts a node kept before a restart (:meth:`EquivocationDetector.restore`): a conflict already
recorded is not recorded or counted again. It does no I/O: the node's consensus loop (``chain.node.consensus``)
calls it where it decodes what peers send, and keeps what it records (``chain.node.equivocations``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import rlp
from eth_utils.address import to_checksum_address

from chain.errors import ChainError, MalformedError
from chain.qbft import messages as m

#: Message types whose conflicts are evidence: all four.
EVIDENT = (m.Code.PROPOSAL, m.Code.PREPARE, m.Code.COMMIT, m.Code.ROUND_CHANGE)
#: Records a detector keeps: the first ones, one per (validator, height, round, type).
KEEP = 64
#: Records kept of one validator (the first ones): the evidence against another still finds room.
KEEP_PER_VALIDATOR = 16
#: Bytes of message bodies in the records kept, in all (two PROPOSALs may each carry a large block).
KEEP_BYTES = 64 * 1024 * 1024
#: Most bytes of the JSON list of the records kept (``Equivocation.to_json``: bodies in hex, with room for the
#: other fields): what a node's answer of them may take, and a reader of one reads.
KEPT_JSON_BYTES = 2 * KEEP_BYTES + KEEP * 4096
#: Height, round and type slots remembered per validator; beyond, its new messages are not compared.
PER_AUTHOR = 256
#: Bytes of message bodies remembered per validator (a PROPOSAL carries a block and its justification).
PER_AUTHOR_BYTES = 32 * 1024 * 1024
#: Heights after the current one whose messages are compared (as many as ``chain.qbft.buffer`` keeps).
AHEAD = 10


class InvalidEvidenceError(ChainError):
    """A record that does not prove an equivocation; the message says which check failed."""


class EquivocationJSON(TypedDict):
    """A record as ``qbft_getEquivocations`` and a node's peer route answer it (:meth:`Equivocation.to_json`):
    the validator checksummed, scalars as ``0x`` hex, the message type by name and by code, both bodies as hex."""

    validator: str
    height: str
    round: str
    type: str
    code: str
    first: str
    second: str


@dataclass(frozen=True, slots=True)
class Equivocation:
    """Two conflicting messages one validator signed: ``first`` and ``second`` are their wire bodies (RLP, as
    received), both of message type ``code``, for ``height`` and ``round``."""

    validator: bytes
    height: int
    round: int
    code: m.Code
    first: bytes
    second: bytes

    def to_json(self) -> EquivocationJSON:
        return {
            "validator": to_checksum_address(self.validator),
            "height": hex(self.height),
            "round": hex(self.round),
            "type": self.code.name,
            "code": hex(int(self.code)),
            "first": "0x" + self.first.hex(),
            "second": "0x" + self.second.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Equivocation:
        """A record from :meth:`to_json`'s form (``qbft_getEquivocations``); :class:`MalformedError` if it is not."""
        try:
            return cls(
                _hex_bytes(data["validator"]),
                int(data["height"], 16),
                int(data["round"], 16),
                m.Code(int(data["code"], 16)),
                _hex_bytes(data["first"]),
                _hex_bytes(data["second"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedError(f"not an equivocation record: {exc}") from exc

    @property
    def slot(self) -> tuple[bytes, int, int, int]:
        """What a record is one of at most: its validator, height, round and message type."""
        return self.validator, self.height, self.round, int(self.code)

    def to_rlp(self) -> bytes:
        """``RLP([validator, height, round, code, first, second])``: 20 bytes, three scalars, the two bodies."""
        return bytes(rlp.encode([self.validator, self.height, self.round, int(self.code), self.first, self.second]))

    @classmethod
    def from_rlp(cls, raw: bytes) -> Equivocation:
        """A record from :meth:`to_rlp`'s bytes, canonical only; :class:`MalformedError` if they are not."""
        try:
            items = rlp.decode(raw, strict=True)
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise MalformedError(f"not an equivocation record: {exc}") from exc
        if not isinstance(items, list) or len(items) != 6 or not all(isinstance(i, bytes) for i in items):
            raise MalformedError("not an equivocation record: expected RLP of six byte strings")
        validator, height, round_, code, first, second = items
        if len(validator) != 20 or any(v[:1] == b"\0" for v in (height, round_, code)):
            raise MalformedError("not an equivocation record: a 20-byte address, then scalars without leading zeros")
        try:
            kind = m.Code(int.from_bytes(code, "big"))
        except ValueError as exc:
            raise MalformedError(f"not an equivocation record: {exc}") from exc
        return cls(validator, int.from_bytes(height, "big"), int.from_bytes(round_, "big"), kind, first, second)


def _hex_bytes(value: str) -> bytes:
    if not value.startswith("0x"):
        raise ValueError(f"{value[:20]!r} is not 0x-prefixed hex")
    return bytes.fromhex(value[2:])


def digest_of(message: m.Message) -> bytes:
    """What a message votes for: a PROPOSAL's block hash, a PREPARE's or COMMIT's digest, a ROUND-CHANGE's signed
    prepared part as RLP (``[prepared round, prepared digest]``, or ``[]``: ``0xc0``)."""
    if isinstance(message, m.Proposal):
        return message.block.hash
    if isinstance(message, m.Prepare | m.Commit):
        return message.digest
    return bytes(rlp.encode(message.payload()[2]))


def verify_equivocation(record: Equivocation, validators: Collection[bytes] | None = None) -> bytes:
    """The address of the validator ``record`` proves equivocated, checked from the two bodies alone: both decode
    as messages of ``record.code`` (a ROUND-CHANGE as its wire body or as its signed part alone, as a proposal's
    justification carries it), their signatures recover the same address (``record.validator``), they are for
    ``record.height`` and ``record.round``, and their digests differ. With ``validators`` (the set of that height,
    e.g. from its parent block's extra data), the address must be one of them.
    :class:`InvalidEvidenceError` says which check failed."""
    if record.code not in EVIDENT:
        raise InvalidEvidenceError(f"message type {record.code!r} is not one whose conflicts are evidence")
    decoded = []
    for name, body in (("first", record.first), ("second", record.second)):
        try:
            decoded.append(m.decode_signed(int(record.code), body))
        except MalformedError as exc:
            raise InvalidEvidenceError(f"the {name} message does not decode as a {record.code.name}: {exc}") from exc
    first, second = decoded
    for name, message in (("first", first), ("second", second)):
        if message.author != record.validator:
            raise InvalidEvidenceError(
                f"the {name} message is signed by {to_checksum_address(message.author)}, "
                f"not {to_checksum_address(record.validator)}"
            )
        if (message.height, message.round) != (record.height, record.round):
            raise InvalidEvidenceError(
                f"the {name} message is for height {message.height} round {message.round}, "
                f"not {record.height} round {record.round}"
            )
    if digest_of(first) == digest_of(second):
        what = "prepared round and digest" if record.code == m.Code.ROUND_CHANGE else "digest"
        raise InvalidEvidenceError(f"the two messages are for the same {what}: no conflict")
    if validators is not None and record.validator not in validators:
        raise InvalidEvidenceError(f"{to_checksum_address(record.validator)} is not one of the given validators")
    return record.validator


@dataclass
class _Slot:
    digest: bytes
    body: bytes
    recorded: bool = False


class EquivocationDetector:
    """Compares each validator's messages per height, round and type; see the module's docstring for bounds."""

    def __init__(
        self,
        *,
        keep: int = KEEP,
        keep_per_validator: int = KEEP_PER_VALIDATOR,
        keep_bytes: int = KEEP_BYTES,
        per_author: int = PER_AUTHOR,
        per_author_bytes: int = PER_AUTHOR_BYTES,
        ahead: int = AHEAD,
    ) -> None:
        self.keep, self.keep_per_validator, self.keep_bytes = keep, keep_per_validator, keep_bytes
        self.per_author, self.per_author_bytes, self.ahead = per_author, per_author_bytes, ahead
        self.records: list[Equivocation] = []
        #: Equivocations detected per validator, kept or not.
        self.counts: dict[bytes, int] = {}
        #: Messages not compared: too far ahead, or their validator's slots or bytes were used up by nearer ones.
        self.skipped = 0
        self._slots: dict[bytes, dict[tuple[int, int, int], _Slot]] = {}  # validator → (height, round, code) → …
        self._bytes: dict[bytes, int] = {}  # validator → bytes of bodies remembered
        self._floor = 0
        self._proven: set[tuple[bytes, int, int, int]] = set()  # the slots of the records kept
        self._kept_bytes = 0

    def restore(self, records: Sequence[Equivocation], counts: Mapping[bytes, int]) -> None:
        """Start from what a node kept before (its records, oldest first, and its counts): the same conflict
        seen again is not recorded or counted again. Only for a detector that has observed nothing yet."""
        if self.records or self.counts or self._slots:
            raise AssertionError("restore() is for a new detector")
        self.records = list(records)
        self.counts = dict(counts)
        self._proven = {record.slot for record in records}
        self._kept_bytes = sum(len(record.first) + len(record.second) for record in records)

    def observe(
        self, code: int, body: bytes, message: m.Message, current: int, validators: Collection[bytes]
    ) -> Equivocation | None:
        """Compare ``message`` (decoded from ``body``: its author recovered from its signature) with what its
        author signed before for its height, round and type; the new record if it conflicts for the first time
        (whether or not it is kept: kept ones are appended to :attr:`records`, a conflict restored from before a
        restart is not new). Only a message of a type in :data:`EVIDENT`, from one of ``validators`` (the current
        set), for ``current`` (the height the node runs) up to ``ahead`` heights later counts; slots of heights
        below ``current`` are dropped."""
        if current > self._floor:
            self._forget_below(current)
        if code not in EVIDENT or message.author not in validators or message.height < current:
            return None
        if message.height - current > self.ahead:
            self.skipped += 1
            return None
        author, key = message.author, (message.height, message.round, int(code))
        digest = digest_of(message)
        slots = self._slots.setdefault(author, {})
        slot = slots.get(key)
        if slot is None:
            if not self._make_room(author, slots, key, len(body)):
                self.skipped += 1
                return None
            slots[key] = _Slot(digest, body)
            self._bytes[author] = self._bytes.get(author, 0) + len(body)
            return None
        if slot.digest == digest or slot.recorded:
            return None
        slot.recorded = True
        record = Equivocation(author, message.height, message.round, m.Code(code), slot.body, body)
        if record.slot in self._proven:  # recorded before a restart
            return None
        self.counts[author] = self.counts.get(author, 0) + 1
        if self._has_room(record):
            self.records.append(record)
            self._proven.add(record.slot)
            self._kept_bytes += len(record.first) + len(record.second)
        return record

    def observe_all(
        self, code: int, body: bytes, message: m.Message, current: int, validators: Collection[bytes]
    ) -> list[Equivocation]:
        """:meth:`observe` ``message`` and then each signed message it carries (``chain.qbft.messages.inner``: a
        PROPOSAL's ROUND-CHANGE payloads and PREPAREs, a ROUND-CHANGE's certificate), each under its own author
        and within the same bounds, its body the signed part as received; the new records, in that order."""
        found = []
        for inner_code, inner_body, inner_message in [(code, body, message), *m.inner(message)]:
            record = self.observe(int(inner_code), inner_body, inner_message, current, validators)
            if record is not None:
                found.append(record)
        return found

    def _has_room(self, record: Equivocation) -> bool:
        """Whether ``record`` fits in the bounds of the records kept."""
        size = len(record.first) + len(record.second)
        mine = sum(1 for kept in self.records if kept.validator == record.validator)
        return (
            len(self.records) < self.keep
            and mine < self.keep_per_validator
            and self._kept_bytes + size <= self.keep_bytes
        )

    def remembered(self) -> int:
        """Slots held now (for tests of the bounds)."""
        return sum(len(slots) for slots in self._slots.values())

    def _make_room(self, author: bytes, slots: dict[tuple[int, int, int], _Slot], key: tuple[int, int, int],
                   size: int) -> bool:  # fmt: skip
        """Whether a slot of ``size`` bytes for ``key`` fits in ``author``'s bounds, after dropping its slots for
        later heights and rounds than ``key`` (not yet proven) if need be: nearer ones matter first, so a
        validator cannot crowd out its own next rounds with messages for far ones."""

        def full() -> bool:
            return len(slots) >= self.per_author or self._bytes.get(author, 0) + size > self.per_author_bytes

        while full():
            farther = [k for k, slot in slots.items() if k[:2] > key[:2] and not slot.recorded]
            if not farther:
                return False
            dropped = slots.pop(max(farther))
            self._bytes[author] -= len(dropped.body)
        return True

    def _forget_below(self, height: int) -> None:
        self._floor = height
        for author in list(self._slots):
            slots = self._slots[author]
            for key in [k for k in slots if k[0] < height]:
                self._bytes[author] -= len(slots.pop(key).body)
            if not slots:
                del self._slots[author], self._bytes[author]
