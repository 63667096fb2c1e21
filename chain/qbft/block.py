"""A block as QBFT sees it: RLP ``[header, transactions, ommers, ...]`` whose header carries QBFT extra data.

Besu's hashing rules (``BftBlockHashing``), which make a block's identity independent of how it was committed:

- the **block hash** is keccak-256 of the RLP header whose extra data has round 0 and no seals;
- the **commit digest**, what each validator's commit seal signs, is keccak-256 of the RLP header whose extra
  data has the commit round and no seals.

So a proposal re-made in a later round (same block, new round) keeps its hash, which is what PREPAREs and
COMMITs name, while its seals bind the round that committed it. The proposer is the header's beneficiary
(coinbase), as in Besu.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from chain.errors import MalformedError
from chain.qbft.extradata import Encoding, ExtraData

COINBASE, NUMBER, EXTRA = 2, 8, 12
MIN_HEADER_FIELDS = 15  # London and later add fields after the nonce

#: Commit seals already recovered: ``(commit digest, seal) → address`` the seal recovers to over that digest.
#: Recovery is a function of the digest and the seal alone, so an entry stands for the recovery it replaces.
Recovered = Mapping[tuple[bytes, bytes], bytes]


@dataclass(frozen=True, slots=True)
class QbftBlock:
    """A decoded block; ``raw`` is its canonical RLP (with whatever round and seals it carries)."""

    raw: bytes
    items: tuple[Any, ...]
    extra: ExtraData
    #: :attr:`hash`, once computed: it hashes the header, and a validator asks it at each PREPARE, COMMIT and seal
    #: check of the block (the same block in another round or sealed keeps it: round and seals are left out).
    _hash: bytes | None = field(default=None, compare=False, repr=False)

    @classmethod
    def decode(cls, raw: bytes) -> QbftBlock:
        try:
            items = rlp.decode(raw, strict=True)
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise MalformedError(f"block is not RLP: {exc}") from exc
        return cls.from_items(items)

    @classmethod
    def from_items(cls, items: object) -> QbftBlock:
        if not isinstance(items, list) or len(items) < 3 or not isinstance(items[0], list):
            raise MalformedError("block must be RLP [header, transactions, ommers, ...]")
        header = items[0]
        if len(header) < MIN_HEADER_FIELDS or not all(isinstance(f, bytes) for f in header):
            raise MalformedError(f"block header must be a list of at least {MIN_HEADER_FIELDS} byte strings")
        if len(header[COINBASE]) != 20 or len(header[NUMBER]) > 8 or header[NUMBER][:1] == b"\0":
            raise MalformedError("block header: bad beneficiary or number")
        return cls(bytes(rlp.encode(items)), tuple(items), ExtraData.decode(header[EXTRA]))

    @property
    def header(self) -> list[bytes]:
        return list(self.items[0])

    @property
    def number(self) -> int:
        return int.from_bytes(self.header[NUMBER], "big")

    @property
    def proposer(self) -> bytes:
        return bytes(self.header[COINBASE])

    @property
    def hash(self) -> bytes:
        """The block hash: round and seals left out (computed once per block)."""
        if self._hash is None:
            object.__setattr__(self, "_hash", header_hash(self.header, self.extra, Encoding.WITHOUT_SEALS_AND_ROUND))
        assert self._hash is not None
        return self._hash

    def commit_digest(self, round_: int) -> bytes:
        """What a commit seal for this block in ``round_`` signs."""
        return header_hash(self.header, self.extra.with_round(round_), Encoding.WITHOUT_SEALS)

    def with_extra(self, extra: ExtraData) -> QbftBlock:
        return self._with_extra(extra, None)

    def _with_extra(self, extra: ExtraData, block_hash: bytes | None) -> QbftBlock:
        header = self.header
        header[EXTRA] = extra.encode()
        items = (header, *self.items[1:])
        return QbftBlock(bytes(rlp.encode(list(items))), items, extra, block_hash)

    def with_round(self, round_: int) -> QbftBlock:
        """The same block proposed in ``round_``, unsealed (its hash does not change)."""
        return self._with_extra(self.extra.with_round(round_), self._hash)

    def sealed(self, round_: int, seals: Sequence[bytes]) -> QbftBlock:
        """The block as committed in ``round_`` with ``seals`` (its hash does not change)."""
        return self._with_extra(self.extra.with_seals(round_, tuple(seals)), self._hash)

    def committers(self) -> list[bytes]:
        """The addresses whose seals this block carries, in order; an unrecoverable seal raises."""
        digest = self.commit_digest(self.extra.round)
        return [recover(digest, seal) for seal in self.extra.seals]


def header_hash(header: Sequence[bytes], extra: ExtraData, encoding: Encoding) -> bytes:
    fields = list(header)
    fields[EXTRA] = extra.encode(encoding)
    return bytes(keccak(rlp.encode(fields)))


def sign(key: PrivateKey, digest: bytes) -> bytes:
    """A 65-byte secp256k1 signature ``r ‖ s ‖ v`` (v in {0, 1}) over a 32-byte digest."""
    return bytes(key.sign_msg_hash(digest).to_bytes())


def recover(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed ``digest``; :class:`MalformedError` if the signature recovers none."""
    try:
        return bytes(Signature(signature).recover_public_key_from_msg_hash(digest).to_canonical_address())
    except (BadSignature, ValidationError, ValueError) as exc:
        raise MalformedError(f"signature recovers no key: {exc}") from exc
