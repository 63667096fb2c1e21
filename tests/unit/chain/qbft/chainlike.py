"""Blocks for driving the QBFT core in tests: real London-shaped block RLP (header, no transactions), linked by
their QBFT hashes, valid when they extend the tester's head. The node's executing block source takes this place
in a running consortium."""

from __future__ import annotations

from dataclasses import dataclass, field

import rlp
from eth_keys.datatypes import PrivateKey

from chain.qbft.block import QbftBlock
from chain.qbft.extradata import ExtraData

EMPTY_TRIE = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_OMMERS = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")
MIX = bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365")


def keys(n: int) -> list[PrivateKey]:
    return [PrivateKey((i + 1).to_bytes(32, "big")) for i in range(n)]


def address(key: PrivateKey) -> bytes:
    return bytes(key.public_key.to_canonical_address())


def make_block(
    parent: bytes, number: int, proposer: bytes, validators: tuple[bytes, ...], round_: int = 0, payload: bytes = b""
) -> QbftBlock:
    """A block: ``payload`` goes in the state root, so two proposers' blocks at one height differ."""
    extra = ExtraData(bytes(32), validators, None, round_)
    state = payload.ljust(32, b"\0")[:32] if payload else EMPTY_TRIE
    header = [
        parent, EMPTY_OMMERS, proposer, state, EMPTY_TRIE, EMPTY_TRIE, bytes(256), 1, number, 30_000_000, 0,
        1_700_000_000 + number, extra.encode(), MIX, bytes(8), 7,
    ]  # fmt: skip
    return QbftBlock.decode(rlp.encode([header, [], []]))


@dataclass
class Chain:
    """One validator's view: the blocks it has decided, and the blocks it builds and accepts."""

    me: bytes
    validators: tuple[bytes, ...]
    genesis: QbftBlock = field(init=False)
    blocks: list[QbftBlock] = field(default_factory=list)
    payload: bytes = b""

    def __post_init__(self) -> None:
        self.genesis = make_block(bytes(32), 0, bytes(20), self.validators)
        self.blocks = [self.genesis]

    @property
    def head(self) -> QbftBlock:
        return self.blocks[-1]

    def is_valid(self, block: QbftBlock) -> bool:
        return block.number == self.head.number + 1 and block.header[0] == self.head.hash

    def create(self, round_: int) -> QbftBlock:
        return make_block(self.head.hash, self.head.number + 1, self.me, self.validators, round_, self.payload)
