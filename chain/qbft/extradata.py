"""QBFT header extra data, byte for byte as Hyperledger Besu writes it (``QbftExtraDataCodec``).

``extra_data = RLP([vanity, validators, vote, round, seals])``:

- ``vanity``: 32 bytes, free for the proposer;
- ``validators``: the 20-byte addresses of the validators (in the genesis block, the initial set; afterwards,
  the set that validates the *next* block);
- ``vote``: ``[]`` or ``[address, 0xff]`` (add) or ``[address, ""]`` (drop): a block-header vote, kept for
  format compatibility; our validator set comes from the registry contract, so our blocks carry ``[]``;
- ``round``: the round in which the block was committed, a scalar (no leading zero bytes; ``""`` for 0);
- ``seals``: 65-byte commit seals ``r ‖ s ‖ v`` (v in {0, 1}).

Three encodings of the same data matter (Besu's ``EncodingType``): all of it (the header on chain), without the
seals (what a commit seal signs: round in), and without seals and with round 0 (what the block hash covers),
so a block keeps its hash whichever round committed it and whoever sealed it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import rlp

from chain.errors import MalformedError

VANITY_BYTES = 32
ADDRESS_BYTES = 20
SEAL_BYTES = 65
ADD = b"\xff"
DROP = b""
MAX_VALIDATORS = 256
MAX_ROUND = 2**31 - 1  # Besu reads the round as a Java int


class Encoding(Enum):
    FULL = "full"
    WITHOUT_SEALS = "without seals"  # the commit-seal digest
    WITHOUT_SEALS_AND_ROUND = "without seals and round"  # the block hash


@dataclass(frozen=True, slots=True)
class Vote:
    recipient: bytes
    add: bool


@dataclass(frozen=True, slots=True)
class ExtraData:
    vanity: bytes
    validators: tuple[bytes, ...]
    vote: Vote | None = None
    round: int = 0
    seals: tuple[bytes, ...] = ()

    def encode(self, encoding: Encoding = Encoding.FULL) -> bytes:
        vote: list[bytes] = [] if self.vote is None else [self.vote.recipient, ADD if self.vote.add else DROP]
        round_ = 0 if encoding is Encoding.WITHOUT_SEALS_AND_ROUND else self.round
        seals = list(self.seals) if encoding is Encoding.FULL else []
        return bytes(rlp.encode([self.vanity, list(self.validators), vote, round_, seals]))

    def with_round(self, round_: int) -> ExtraData:
        return replace(self, round=round_, seals=())

    def with_seals(self, round_: int, seals: tuple[bytes, ...]) -> ExtraData:
        return replace(self, round=round_, seals=seals)

    @classmethod
    def decode(cls, raw: bytes) -> ExtraData:
        """Parse extra data as Besu does, strictly: anything else raises :class:`MalformedError`."""
        if not raw:
            raise MalformedError("extra data is empty: QBFT extra data required")
        try:
            items = rlp.decode(raw, strict=True)
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise MalformedError(f"extra data is not RLP: {exc}") from exc
        if not isinstance(items, list) or len(items) != 5:
            raise MalformedError("extra data must be RLP [vanity, validators, vote, round, seals]")
        vanity, validators, vote_raw, round_raw, seals = items
        if not isinstance(vanity, bytes) or len(vanity) != VANITY_BYTES:
            raise MalformedError("extra data: vanity must be 32 bytes")
        if not isinstance(validators, list) or len(validators) > MAX_VALIDATORS:
            raise MalformedError(f"extra data: validators must be a list of at most {MAX_VALIDATORS} addresses")
        if any(not isinstance(v, bytes) or len(v) != ADDRESS_BYTES for v in validators):
            raise MalformedError("extra data: each validator must be a 20-byte address")
        return cls(vanity, tuple(validators), _vote(vote_raw), _round(round_raw), _seals(seals))


def _vote(raw: object) -> Vote | None:
    if raw == []:
        return None
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(x, bytes) for x in raw):
        raise MalformedError("extra data: vote must be [] or [address, type]")
    recipient, kind = raw
    if len(recipient) != ADDRESS_BYTES:
        raise MalformedError("extra data: the vote's recipient must be a 20-byte address")
    if kind not in (ADD, DROP):
        raise MalformedError(f"extra data: vote type must be 0xff (add) or empty (drop), not 0x{kind.hex()}")
    return Vote(recipient, kind == ADD)


def _round(raw: object) -> int:
    if not isinstance(raw, bytes) or raw[:1] == b"\0" or len(raw) > 4:
        raise MalformedError("extra data: round must be a scalar of at most 4 bytes without leading zeros")
    value = int.from_bytes(raw, "big")
    if value > MAX_ROUND:
        raise MalformedError(f"extra data: round {value} is over {MAX_ROUND}")
    return value


def _seals(raw: object) -> tuple[bytes, ...]:
    if not isinstance(raw, list) or any(not isinstance(s, bytes) or len(s) != SEAL_BYTES for s in raw):
        raise MalformedError("extra data: seals must be a list of 65-byte signatures")
    if any(s[64] > 1 for s in raw):
        raise MalformedError("extra data: a seal's recovery id must be 0 or 1")
    return tuple(raw)
