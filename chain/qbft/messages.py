"""The four QBFT messages, in Besu's wire encoding (``QbftV1`` message codes 0x12-0x15).

A signed payload is ``RLP([payload, signature])``; the signature is secp256k1 over
``keccak256(RLP([code, payload]))``, and a message's author is the address recovered from it. The payloads:

- PROPOSAL ``[height, round, block]``, sent as ``[signed, [[signed ROUND-CHANGE payloads], [signed PREPAREs]]]``;
  the two lists justify a proposal for a round above 0 and are empty in round 0;
- PREPARE ``[height, round, digest]``;
- COMMIT ``[height, round, digest, seal]``: the seal signs the block's commit digest for the round;
- ROUND-CHANGE ``[height, round, [] | [prepared round, prepared digest]]``, sent as
  ``[signed, prepared block | [], [signed PREPAREs]]``: the prepared certificate travels with it.

Decoding is strict and bounded: anything that is not exactly this raises :class:`MalformedError`, and so does a
signature that recovers no key. Whether the author is a validator, and whether a certificate holds, is for the
state machine to judge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, TypeVar

import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from chain.errors import MalformedError
from chain.qbft.block import QbftBlock, recover, sign

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_JUSTIFICATION = 256  # messages in a certificate: at most one per validator


class Code(IntEnum):
    PROPOSAL = 0x12
    PREPARE = 0x13
    COMMIT = 0x14
    ROUND_CHANGE = 0x15


@dataclass(frozen=True, slots=True)
class Prepare:
    height: int
    round: int
    digest: bytes
    author: bytes = b""
    signature: bytes = b""

    def payload(self) -> list[Any]:
        return [self.height, self.round, self.digest]


@dataclass(frozen=True, slots=True)
class Commit:
    height: int
    round: int
    digest: bytes
    seal: bytes
    author: bytes = b""
    signature: bytes = b""

    def payload(self) -> list[Any]:
        return [self.height, self.round, self.digest, self.seal]


@dataclass(frozen=True, slots=True)
class RoundChange:
    """A ROUND-CHANGE; ``block`` and ``prepares`` (the prepared certificate) are absent inside a proposal."""

    height: int
    round: int
    prepared_round: int | None
    prepared_digest: bytes | None
    author: bytes = b""
    signature: bytes = b""
    block: QbftBlock | None = None
    prepares: tuple[Prepare, ...] = ()

    def payload(self) -> list[Any]:
        prepared = [] if self.prepared_round is None else [self.prepared_round, self.prepared_digest]
        return [self.height, self.round, prepared]


@dataclass(frozen=True, slots=True)
class Proposal:
    height: int
    round: int
    block: QbftBlock
    author: bytes = b""
    signature: bytes = b""
    round_changes: tuple[RoundChange, ...] = ()
    prepares: tuple[Prepare, ...] = ()

    def payload(self) -> list[Any]:
        return [self.height, self.round, rlp.decode(self.block.raw)]


Message = Proposal | Prepare | Commit | RoundChange
_M = TypeVar("_M", Proposal, Prepare, Commit, RoundChange)
_CODES: dict[type, Code] = {
    Proposal: Code.PROPOSAL, Prepare: Code.PREPARE, Commit: Code.COMMIT, RoundChange: Code.ROUND_CHANGE,
}  # fmt: skip


def signing_digest(code: Code, payload: list[Any]) -> bytes:
    return bytes(keccak(rlp.encode([int(code), payload])))


def _signed(message: _M, key: PrivateKey) -> _M:
    """``message`` (its payload fields filled in) with ``key``'s signature over its payload and its author."""
    signature = sign(key, signing_digest(_CODES[type(message)], message.payload()))
    return replace(message, author=key.public_key.to_canonical_address(), signature=signature)


def prepare(key: PrivateKey, height: int, round_: int, digest: bytes) -> Prepare:
    return _signed(Prepare(height, round_, digest), key)


def commit(key: PrivateKey, block: QbftBlock, round_: int) -> Commit:
    """A COMMIT for ``block`` in ``round_``, with this validator's seal over the block's commit digest."""
    return _signed(Commit(block.number, round_, block.hash, sign(key, block.commit_digest(round_))), key)


def round_change(
    key: PrivateKey,
    height: int,
    round_: int,
    prepared: tuple[int, QbftBlock, tuple[Prepare, ...]] | None = None,
) -> RoundChange:
    """A ROUND-CHANGE to ``round_``, carrying the prepared round, block and certificate if there is one."""
    if prepared is None:
        return _signed(RoundChange(height, round_, None, None), key)
    pr, block, prepares = prepared
    return replace(_signed(RoundChange(height, round_, pr, block.hash), key), block=block, prepares=prepares)


def proposal(
    key: PrivateKey,
    block: QbftBlock,
    round_: int,
    round_changes: tuple[RoundChange, ...] = (),
    prepares: tuple[Prepare, ...] = (),
) -> Proposal:
    bare = tuple(replace(m, block=None, prepares=()) for m in round_changes)  # a proposal carries payloads only
    return replace(_signed(Proposal(block.number, round_, block), key), round_changes=bare, prepares=prepares)


# -- the wire ------------------------------------------------------------------------------------------------


def _signed_items(message: Message) -> list[Any]:
    return [message.payload(), message.signature]


def encode(message: Message) -> tuple[Code, bytes]:
    """The message's code and its RLP body."""
    code = _CODES[type(message)]
    if isinstance(message, Proposal):
        justification = [
            [_signed_items(m) for m in message.round_changes],
            [_signed_items(p) for p in message.prepares],
        ]
        return code, bytes(rlp.encode([_signed_items(message), justification]))
    if isinstance(message, RoundChange):
        block = [] if message.block is None else rlp.decode(message.block.raw)
        prepares = [_signed_items(p) for p in message.prepares]
        return code, bytes(rlp.encode([_signed_items(message), block, prepares]))
    return code, bytes(rlp.encode(_signed_items(message)))


def signed_body(message: Message) -> bytes:
    """``RLP([payload, signature])``: the part of ``message`` its author signed, as it travels inside another
    message (a PROPOSAL's justification, a ROUND-CHANGE's certificate). Decoding is strict and canonical, so for a
    decoded message these are the very bytes received. A PREPARE's or COMMIT's wire body is this."""
    return bytes(rlp.encode(_signed_items(message)))


def inner(message: Message) -> list[tuple[Code, bytes, Message]]:
    """The signed messages ``message`` carries, each signed by its own author: a PROPOSAL's ROUND-CHANGE payloads
    and PREPAREs, a ROUND-CHANGE's certificate PREPAREs; each with its code and :func:`signed_body`."""
    carried: list[Message] = []
    if isinstance(message, Proposal):
        carried = [*message.round_changes, *message.prepares]
    elif isinstance(message, RoundChange):
        carried = list(message.prepares)
    return [(_CODES[type(m)], signed_body(m), m) for m in carried]


def decode_signed(code: int, body: bytes) -> Message:
    """A message from its wire body (:func:`decode`) or, for a ROUND-CHANGE, also from the signed part alone
    (:func:`signed_body`, as a PROPOSAL's justification carries it: no prepared block or certificate)."""
    if code == Code.ROUND_CHANGE and len(body) <= MAX_MESSAGE_BYTES:
        try:
            items = rlp.decode(body, strict=True)
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise MalformedError(f"message is not RLP: {exc}") from exc
        if isinstance(items, list) and len(items) == 2:
            return _round_change(items)
    return decode(code, body)


def decode(code: int, body: bytes) -> Message:
    """The message ``body`` with ``code``, its author and those of its certificates recovered."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise MalformedError(f"message of {len(body)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        items = rlp.decode(body, strict=True)
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise MalformedError(f"message is not RLP: {exc}") from exc
    if code == Code.PREPARE:
        return _prepare(items)
    if code == Code.COMMIT:
        return _commit(items)
    if code == Code.ROUND_CHANGE:
        return _round_change_message(items)
    if code == Code.PROPOSAL:
        return _proposal_message(items)
    raise MalformedError(f"unknown QBFT message code 0x{code:02x}")


def _list(value: object, length: int | None, what: str) -> list[Any]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise MalformedError(f"{what}: expected a list" + (f" of {length}" if length is not None else ""))
    return value


def _scalar(value: object, limit: int, what: str) -> int:
    if not isinstance(value, bytes) or len(value) > limit or value[:1] == b"\0":
        raise MalformedError(f"{what}: expected a scalar of at most {limit} bytes without leading zeros")
    return int.from_bytes(value, "big")


def _bytes(value: object, length: int, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != length:
        raise MalformedError(f"{what}: expected {length} bytes")
    return value


def _author(code: Code, payload: list[Any], signature: object) -> tuple[bytes, bytes]:
    signature = _bytes(signature, 65, "signature")
    return recover(signing_digest(code, payload), signature), signature


def _round_id(payload: list[Any], what: str) -> tuple[int, int]:
    return _scalar(payload[0], 8, f"{what} height"), _scalar(payload[1], 4, f"{what} round")


def _prepare(items: object) -> Prepare:
    payload, signature = _list(items, 2, "signed PREPARE")
    payload = _list(payload, 3, "PREPARE payload")
    height, round_ = _round_id(payload, "PREPARE")
    digest = _bytes(payload[2], 32, "PREPARE digest")
    author, signature = _author(Code.PREPARE, payload, signature)
    return Prepare(height, round_, digest, author, signature)


def _commit(items: object) -> Commit:
    payload, signature = _list(items, 2, "signed COMMIT")
    payload = _list(payload, 4, "COMMIT payload")
    height, round_ = _round_id(payload, "COMMIT")
    digest = _bytes(payload[2], 32, "COMMIT digest")
    seal = _bytes(payload[3], 65, "COMMIT seal")
    author, signature = _author(Code.COMMIT, payload, signature)
    return Commit(height, round_, digest, seal, author, signature)


def _round_change(items: object) -> RoundChange:
    payload, signature = _list(items, 2, "signed ROUND-CHANGE")
    payload = _list(payload, 3, "ROUND-CHANGE payload")
    height, round_ = _round_id(payload, "ROUND-CHANGE")
    prepared = _list(payload[2], None, "ROUND-CHANGE prepared round")
    if prepared:
        prepared = _list(prepared, 2, "ROUND-CHANGE prepared round")
        pr: int | None = _scalar(prepared[0], 4, "prepared round")
        pd: bytes | None = _bytes(prepared[1], 32, "prepared digest")
    else:
        pr = pd = None
    author, signature = _author(Code.ROUND_CHANGE, payload, signature)
    return RoundChange(height, round_, pr, pd, author, signature)


def _prepares(items: object) -> tuple[Prepare, ...]:
    listed = _list(items, None, "prepares")
    if len(listed) > MAX_JUSTIFICATION:
        raise MalformedError(f"{len(listed)} prepares: at most {MAX_JUSTIFICATION}")
    return tuple(_prepare(p) for p in listed)


def _round_change_message(items: object) -> RoundChange:
    signed, block_items, prepares_items = _list(items, 3, "ROUND-CHANGE message")
    bare = _round_change(signed)
    block = None if block_items == [] else QbftBlock.from_items(block_items)
    prepares = _prepares(prepares_items)
    if (block is None) != (bare.prepared_round is None) or (block is None and prepares):
        raise MalformedError("ROUND-CHANGE: a prepared round comes with its block and certificate, or none of them")
    return RoundChange(
        bare.height, bare.round, bare.prepared_round, bare.prepared_digest, bare.author, bare.signature, block, prepares
    )


def _proposal_message(items: object) -> Proposal:
    signed, justification = _list(items, 2, "PROPOSAL message")
    payload, signature = _list(signed, 2, "signed PROPOSAL")
    payload = _list(payload, 3, "PROPOSAL payload")
    height, round_ = _round_id(payload, "PROPOSAL")
    block = QbftBlock.from_items(payload[2])
    author, signature = _author(Code.PROPOSAL, payload, signature)
    rcs_items, prepares_items = _list(justification, 2, "PROPOSAL justification")
    rcs = _list(rcs_items, None, "PROPOSAL round changes")
    if len(rcs) > MAX_JUSTIFICATION:
        raise MalformedError(f"{len(rcs)} round changes: at most {MAX_JUSTIFICATION}")
    return Proposal(height, round_, block, author, signature, tuple(_round_change(m) for m in rcs),
                    _prepares(prepares_items))  # fmt: skip
