"""Evidence that a validator equivocated: two messages its key signed that conflict, kept as they were received.

A validator equivocates when it signs two PROPOSALs for one height and round with different blocks (block hashes,
``QbftBlock.hash``), or two PREPAREs, or two COMMITs, for one height and round with different digests. Honest
validators never do (a round's proposal is built once; a validator prepares and commits at most once a round),
so two such messages prove that the key was used against the protocol, whoever held it.

An :class:`Equivocation` holds the two messages as their wire bodies (the bytes a peer sent, code alongside), so
anyone can check it offline with :func:`verify_equivocation`: it decodes both bodies, recovers each signer from
its signature and checks that one key signed both and that they conflict. Nothing else is trusted: not the
record's other fields, not the node that kept it.

:class:`EquivocationDetector` is what a node feeds with the messages it received and decoded (their authors
recovered): it remembers the first digest each validator signed for each height, round and message type, and
returns a record when a later message conflicts. Its memory is bounded whatever peers send: only messages from
validators of the current set count (decoding checks each signature and recovers its author), for at most
``ahead`` heights after the current one; each validator has at most ``per_author`` slots remembered and
``per_author_bytes`` of bodies (a message for an earlier height and round than a slot's, not yet proven, takes
that slot's place); slots of past heights are dropped as the height moves on; and only the first ``keep``
records are kept (later ones are counted, not stored). It does no I/O: the node's consensus loop
(``chain.node.consensus``) calls it where it decodes what peers send.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from chain.errors import ChainError, MalformedError
from chain.qbft import messages as m

#: Message types whose conflicts are evidence. Two ROUND-CHANGEs are not compared: a
#: validator may honestly send a round's again, with the certificate of a round prepared since.
EVIDENT = (m.Code.PROPOSAL, m.Code.PREPARE, m.Code.COMMIT)
#: Records a detector keeps: the first ones, one per (validator, height, round, type).
KEEP = 64
#: Height, round and type slots remembered per validator; beyond, its new messages are not compared.
PER_AUTHOR = 256
#: Bytes of message bodies remembered per validator (a PROPOSAL carries a block and its justification).
PER_AUTHOR_BYTES = 32 * 1024 * 1024
#: Heights after the current one whose messages are compared (as many as ``chain.qbft.buffer`` keeps).
AHEAD = 10


class InvalidEvidenceError(ChainError):
    """A record that does not prove an equivocation; the message says which check failed."""


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

    def to_json(self) -> dict[str, Any]:
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
    def from_json(cls, data: dict[str, Any]) -> Equivocation:
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
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedError(f"not an equivocation record: {exc}") from exc


def _hex_bytes(value: str) -> bytes:
    if not value.startswith("0x"):
        raise ValueError(f"{value[:20]!r} is not 0x-prefixed hex")
    return bytes.fromhex(value[2:])


def digest_of(message: m.Message) -> bytes:
    """What a message votes for: a PROPOSAL's block hash, a PREPARE's or COMMIT's digest."""
    if isinstance(message, m.Proposal):
        return message.block.hash
    if isinstance(message, m.Prepare | m.Commit):
        return message.digest
    raise MalformedError(f"{type(message).__name__} is not a message whose conflicts are evidence")


def verify_equivocation(record: Equivocation, validators: Collection[bytes] | None = None) -> bytes:
    """The address of the validator ``record`` proves equivocated, checked from the two bodies alone: both decode
    as messages of ``record.code``, their signatures recover the same address (``record.validator``), they are
    for ``record.height`` and ``record.round``, and their digests differ. With ``validators`` (the set of that
    height, e.g. from its parent block's extra data), the address must be one of them.
    :class:`InvalidEvidenceError` says which check failed."""
    if record.code not in EVIDENT:
        raise InvalidEvidenceError(f"message type {record.code!r} is not one whose conflicts are evidence")
    decoded = []
    for name, body in (("first", record.first), ("second", record.second)):
        try:
            decoded.append(m.decode(int(record.code), body))
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
        raise InvalidEvidenceError("the two messages are for the same digest: no conflict")
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
        per_author: int = PER_AUTHOR,
        per_author_bytes: int = PER_AUTHOR_BYTES,
        ahead: int = AHEAD,
    ) -> None:
        self.keep, self.per_author, self.per_author_bytes, self.ahead = keep, per_author, per_author_bytes, ahead
        self.records: list[Equivocation] = []
        #: Equivocations detected per validator, kept or not.
        self.counts: dict[bytes, int] = {}
        #: Messages not compared: too far ahead, or their validator's slots or bytes were used up by nearer ones.
        self.skipped = 0
        self._slots: dict[bytes, dict[tuple[int, int, int], _Slot]] = {}  # validator → (height, round, code) → …
        self._bytes: dict[bytes, int] = {}  # validator → bytes of bodies remembered
        self._floor = 0

    def observe(
        self, code: int, body: bytes, message: m.Message, current: int, validators: Collection[bytes]
    ) -> Equivocation | None:
        """Compare ``message`` (decoded from ``body``: its author recovered from its signature) with what its
        author signed before for its height, round and type; the new record if it conflicts for the first time
        (whether or not it is kept). Only a message of a type in :data:`EVIDENT`, from one of ``validators``
        (the current set), for ``current`` (the height the node runs) up to ``ahead`` heights later counts;
        slots of heights below ``current`` are dropped."""
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
        self.counts[author] = self.counts.get(author, 0) + 1
        if len(self.records) < self.keep:
            self.records.append(record)
        return record

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
