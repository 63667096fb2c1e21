"""Validator seals in block headers, as Hyperledger Besu's QBFT writes and checks them.

The header's extra data is Besu's ``RLP([vanity, validators, vote, round, seals])`` (``chain.qbft.extradata``):

- ``validators``: the 20-byte addresses of the validator set that seals the *next* block;
- ``vote``: ``[]`` on our chain (the set comes from ConsortiumRegistry, not from header votes);
- ``round``: the consensus round in which the block was committed;
- ``seals``: 65-byte secp256k1 commit seals ``r ‖ s ‖ v`` (v in {0, 1}).

Two hashes, both keccak-256 of the RLP header with the extra data re-encoded (Besu's ``BftBlockHashing``):

- the **block hash** leaves out the round and the seals, so a block keeps its hash whichever round committed it
  and whoever sealed it;
- the **commit digest**, what each seal signs, keeps the round and leaves out the seals.

A block is valid when distinct members of its parent's validator set, at least ``quorum(n) = ceil(2n/3)`` of
them, sealed its commit digest. This module applies those rules to py-evm headers and to raw RLP header fields;
offline verifiers (``notary.verify``, ``notary.evidence``) and the explorer use it without the node, and py-evm
is imported for type checking only.

:func:`block_hash` on raw fields decides the rule by the extra data's shape: an RLP list of five items whose
fourth is a byte string and fifth a list is hashed the QBFT way; anything else (anvil, a chain without seals)
Ethereum's way, keccak-256 of the header as it is. ``explorer/static/verify.js`` applies the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from chain.errors import ChainError, MalformedError
from chain.qbft.block import EXTRA, Recovered, header_hash, recover
from chain.qbft.extradata import MAX_VALIDATORS, SEAL_BYTES, VANITY_BYTES, Encoding, ExtraData
from chain.qbft.rules import quorum

if TYPE_CHECKING:
    from eth.abc import BlockHeaderAPI

__all__ = [
    "MAX_VALIDATORS",
    "SEAL_BYTES",
    "SEAL_FORMAT",
    "VANITY_BYTES",
    "ExtraData",
    "QuorumError",
    "Recovered",
    "SealError",
    "add_seals",
    "block_hash",
    "commit_digest",
    "count_quorum",
    "extra_data",
    "is_qbft_extra",
    "quorum",
    "seal_digest",
    "seal_signers",
    "sign_seal",
    "signers",
    "verify_seals",
]

#: How the explorer and evidence bundles name this seal format.
SEAL_FORMAT = "qbft (Besu extra data: RLP [vanity, validators, vote, round, seals])"


class SealError(ChainError):
    """A block's seals do not prove that a quorum of its validators committed it."""


class QuorumError(SealError):
    def __init__(self, block_number: int, valid: int, needed: int, validators: int) -> None:
        self.block_number, self.valid, self.needed, self.validators = block_number, valid, needed, validators
        super().__init__(
            f"block {block_number}: {valid} valid seal(s) from the validator set, {needed} of {validators} needed"
        )


def extra_data(header: BlockHeaderAPI) -> ExtraData:
    """The header's QBFT extra data; :class:`MalformedError` if it has none."""
    return ExtraData.decode(bytes(header.extra_data))


def _fields(header: BlockHeaderAPI) -> list[Any]:
    return list(rlp.decode(rlp.encode(header)))


def _qbft_items(raw: object) -> list[Any] | None:
    """The items of extra data of QBFT's shape (see the module's note), or None for any other."""
    if not isinstance(raw, bytes):
        return None
    try:
        items = rlp.decode(raw, strict=True)
    except (rlp.DecodingError, ValueError, TypeError):
        return None
    if isinstance(items, list) and len(items) == 5 and isinstance(items[3], bytes) and isinstance(items[4], list):
        return items
    return None


def is_qbft_extra(raw: bytes) -> bool:
    """Whether :func:`block_hash` hashes a header with this extra data the QBFT way (see the module's note)."""
    return _qbft_items(raw) is not None


def block_hash(fields: Sequence[Any]) -> bytes:
    """The hash of a header given as its RLP fields: QBFT's (round and seals out) or, for extra data of another
    shape, Ethereum's."""
    items = _qbft_items(fields[EXTRA])
    if items is None:
        return bytes(keccak(rlp.encode(list(fields))))
    unsealed = list(fields)
    unsealed[EXTRA] = bytes(rlp.encode([*items[:3], b"", []]))
    return bytes(keccak(rlp.encode(unsealed)))


def commit_digest(fields: Sequence[Any], extra: ExtraData) -> bytes:
    """What each commit seal of a header (as RLP fields with ``extra`` decoded) signs: round in, seals out."""
    return header_hash(fields, extra, Encoding.WITHOUT_SEALS)


def seal_digest(header: BlockHeaderAPI) -> bytes:
    """What the seals of ``header`` sign: its commit digest for the round its extra data names (in round 0, the
    block hash itself)."""
    return commit_digest(_fields(header), extra_data(header))


def sign_seal(header: BlockHeaderAPI, private_key: bytes) -> bytes:
    """A commit seal on ``header`` for the round its extra data names."""
    return bytes(PrivateKey(private_key).sign_msg_hash(seal_digest(header)).to_bytes())


def add_seals(header: BlockHeaderAPI, seals: Sequence[bytes]) -> BlockHeaderAPI:
    extra = extra_data(header)
    return header.copy(extra_data=extra.with_seals(extra.round, tuple(seals)).encode())


def signers(fields: Sequence[Any], extra: ExtraData, recovered: Recovered | None = None) -> list[bytes]:
    """The addresses whose seals a header carries, one per seal in order; unrecoverable seals are skipped. A seal
    that ``recovered`` holds under this header's own commit digest is not recovered again."""
    digest = commit_digest(fields, extra)
    known: Recovered = recovered or {}
    out = []
    for seal in extra.seals:
        signer = known.get((digest, seal))
        if signer is not None:
            out.append(signer)
            continue
        try:
            out.append(recover(digest, seal))
        except MalformedError:
            continue
    return out


def seal_signers(header: BlockHeaderAPI, recovered: Recovered | None = None) -> list[bytes]:
    """The addresses that sealed ``header`` (one per seal, in order; unrecoverable seals are skipped); see
    :func:`signers` for ``recovered``."""
    return signers(_fields(header), extra_data(header), recovered)


def count_quorum(number: int, sealed_by: Sequence[bytes], validators: Sequence[bytes]) -> list[bytes]:
    """The distinct members of ``validators`` among ``sealed_by``, in order; :class:`QuorumError` if they are
    fewer than the quorum of ``validators``."""
    allowed = set(validators)
    if not allowed:
        raise QuorumError(number, 0, 1, 0)
    valid = list(dict.fromkeys(s for s in sealed_by if s in allowed))
    needed = quorum(len(allowed))
    if len(valid) < needed:
        raise QuorumError(number, len(valid), needed, len(allowed))
    return valid


def verify_seals(
    header: BlockHeaderAPI, validators: Sequence[bytes], recovered: Recovered | None = None
) -> list[bytes]:
    """Check that a quorum of distinct ``validators`` sealed ``header``; returns who did.

    ``recovered`` holds seals whose signer the caller recovered already, keyed by the commit digest they were
    checked over (QBFT's machine, for the block it decided from COMMITs): a seal of ``header`` found there under
    ``header``'s own commit digest is not recovered again. The digest is computed here from ``header``, so a
    header or a seal changed after that check finds no entry and is recovered (and refused) as any other."""
    return count_quorum(int(header.block_number), seal_signers(header, recovered), validators)
