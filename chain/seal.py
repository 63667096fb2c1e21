"""Validator seals in the block header, in the shape of QBFT's extra data.

``extra_data = RLP([vanity, validators, round, seals])``:

- ``vanity``: 32 bytes, free for the sealer (zero here);
- ``validators``: the 20-byte addresses of the validator set that seals the *next* block;
- ``round``: the consensus round in which the block was committed (0 while one node seals);
- ``seals``: 65-byte secp256k1 signatures ``r ‖ s ‖ v`` (v in {0, 1}) over the seal hash.

The seal hash is the keccak-256 hash of the RLP header whose extra data carries the same vanity, validators
and round with an empty seal list, so adding seals does not change what was signed. A block is valid when
distinct members of its parent's validator set, at least ``quorum(n) = ceil(2n/3)`` of them, sealed it.

The format lives outside ``chain.node``: offline verifiers (``notary.verify``, ``notary.evidence``) and the
explorer check seals without the node, and py-evm is imported here for type checking only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import rlp
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from chain.errors import ChainError, MalformedError

if TYPE_CHECKING:
    from eth.abc import BlockHeaderAPI

VANITY_BYTES = 32
SEAL_BYTES = 65
MAX_VALIDATORS = 256


class SealError(ChainError):
    """A block's seals do not prove that a quorum of its validators committed it."""


class QuorumError(SealError):
    def __init__(self, block_number: int, valid: int, needed: int, validators: int) -> None:
        self.block_number, self.valid, self.needed, self.validators = block_number, valid, needed, validators
        super().__init__(
            f"block {block_number}: {valid} valid seal(s) from the validator set, {needed} of {validators} needed"
        )


@dataclass(frozen=True, slots=True)
class ExtraData:
    vanity: bytes
    validators: tuple[bytes, ...]
    round: int
    seals: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return bytes(rlp.encode([self.vanity, list(self.validators), self.round, list(self.seals)]))

    @classmethod
    def from_bytes(cls, raw: bytes) -> ExtraData:
        """Parse canonical extra data; anything else raises MalformedError."""
        try:
            vanity, validators, round_raw, seals = rlp.decode(raw, strict=True)
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise MalformedError(f"extra data is not RLP [vanity, validators, round, seals]: {exc}") from exc
        if not isinstance(vanity, bytes) or len(vanity) != VANITY_BYTES:
            raise MalformedError("extra data: vanity must be 32 bytes")
        if not isinstance(validators, list) or not 0 < len(validators) <= MAX_VALIDATORS:
            raise MalformedError(f"extra data: validators must be a list of 1-{MAX_VALIDATORS} addresses")
        if any(not isinstance(v, bytes) or len(v) != 20 for v in validators) or len(set(validators)) != len(validators):
            raise MalformedError("extra data: validators must be distinct 20-byte addresses")
        if not isinstance(round_raw, bytes) or round_raw[:1] == b"\0" or len(round_raw) > 8:
            raise MalformedError("extra data: round must be a canonical integer of at most 8 bytes")
        if not isinstance(seals, list) or any(not isinstance(s, bytes) or len(s) != SEAL_BYTES for s in seals):
            raise MalformedError("extra data: seals must be 65-byte signatures")
        extra = cls(vanity, tuple(validators), int.from_bytes(round_raw, "big"), tuple(seals))
        if extra.to_bytes() != raw:
            raise MalformedError("extra data is not in canonical form")
        return extra

    def unsealed(self) -> ExtraData:
        return ExtraData(self.vanity, self.validators, self.round, ())


def quorum(validators: int) -> int:
    """Seals needed out of ``validators``: ceil(2n/3), as in QBFT."""
    return (2 * validators + 2) // 3


def seal_hash(header: BlockHeaderAPI) -> bytes:
    """What every validator signs: the header hash with the seal list emptied."""
    extra = ExtraData.from_bytes(header.extra_data)
    return bytes(header.copy(extra_data=extra.unsealed().to_bytes()).hash)


def sign_seal(header: BlockHeaderAPI, private_key: bytes) -> bytes:
    signature = PrivateKey(private_key).sign_msg_hash(seal_hash(header))
    return bytes(signature.to_bytes())


def add_seals(header: BlockHeaderAPI, seals: Sequence[bytes]) -> BlockHeaderAPI:
    extra = ExtraData.from_bytes(header.extra_data)
    return header.copy(extra_data=ExtraData(extra.vanity, extra.validators, extra.round, tuple(seals)).to_bytes())


def seal_signers(header: BlockHeaderAPI) -> list[bytes]:
    """The addresses that sealed ``header`` (one per seal, in order; unrecoverable seals are skipped)."""
    digest = seal_hash(header)
    signers = []
    for raw in ExtraData.from_bytes(header.extra_data).seals:
        try:
            signers.append(Signature(raw).recover_public_key_from_msg_hash(digest).to_canonical_address())
        except (BadSignature, ValidationError):
            continue
    return signers


def verify_seals(header: BlockHeaderAPI, validators: Sequence[bytes]) -> list[bytes]:
    """Check that a quorum of distinct ``validators`` sealed ``header``; returns who did."""
    allowed = set(validators)
    valid = list(dict.fromkeys(s for s in seal_signers(header) if s in allowed))
    needed = quorum(len(allowed))
    if len(valid) < needed:
        raise QuorumError(int(header.block_number), len(valid), needed, len(allowed))
    return valid
