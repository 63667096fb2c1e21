"""``consortium chain verify``: re-check every stored block from genesis to the head.

For each block: the canonical index points at a header whose hash is its key; the parent link holds; a
quorum of the parent's validator set sealed it; re-executing its transactions on a fresh in-memory chain
reproduces its transaction root, receipt root, gas used and state root (re-executed with py-evm's own state, trie
and interpreter code, not the batched tries and inline opcodes the node seals with); and what the node serves
besides the header (stored receipts, the transaction index) equals what re-execution produced. The first block
that fails is named with the reason. Nothing is written to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth.abc import AtomicDatabaseAPI, BlockAPI
from eth.db.atomic import AtomicDB
from eth_typing import BlockNumber, Hash32

from chain.errors import ChainError, MalformedError
from chain.node.node import GENESIS_KEY, Genesis, Node
from chain.seal import extra_data, verify_seals


class BlockVerificationError(ChainError):
    """A stored block failed a check; ``number`` names it."""

    def __init__(self, number: int, reason: str) -> None:
        self.number = number
        self.reason = reason
        super().__init__(f"block {number}: {reason}")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    head: int
    transactions: int
    state_root: bytes
    head_hash: bytes


def verify_chain(db: AtomicDatabaseAPI, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Verify every block in ``db``; raises BlockVerificationError at the first bad one."""
    if not db.exists(GENESIS_KEY):
        raise ChainError("this store holds no chain (no genesis record)")
    genesis = Genesis.from_json(db[GENESIS_KEY])
    stored = Node(db).chain
    try:
        head = stored.get_canonical_head()
    except Exception as exc:
        raise BlockVerificationError(-1, f"the canonical head cannot be read: {exc}") from exc
    checker = Node(AtomicDB(), genesis, reference_vm=True)
    fresh = checker.chain
    if fresh.get_canonical_head().hash != _canonical_hash(stored, 0):
        raise BlockVerificationError(0, "genesis differs from the one its record describes")
    parent = fresh.get_canonical_head()
    transactions = 0
    for number in range(1, head.block_number + 1):
        block = _read_block(stored, number)
        if block.header.parent_hash != parent.hash:
            raise BlockVerificationError(number, "parent hash does not link to the previous block")
        try:
            verify_seals(block.header, extra_data(parent).validators)
        except (ChainError, MalformedError) as exc:
            raise BlockVerificationError(number, f"seals: {exc}") from exc
        try:
            fresh.import_block(block, perform_validation=True)
        except Exception as exc:  # py-evm's ValidationError and decoding errors alike
            raise BlockVerificationError(number, f"re-execution: {exc.__class__.__name__}: {exc}") from exc
        _compare_served_data(stored, fresh, block)
        try:
            expected = checker.validators_after(block.header, extra_data(parent).validators)
        except ChainError as exc:
            raise BlockVerificationError(number, f"the validator set after it cannot be read: {exc}") from exc
        if extra_data(block.header).validators != expected:
            raise BlockVerificationError(number, "names another validator set than ConsortiumRegistry lists after it")
        parent = block.header
        transactions += len(block.transactions)
        if progress is not None:
            progress(number, head.block_number)
    if parent.hash != head.hash:
        raise BlockVerificationError(head.block_number, "the canonical head is not the last verified block")
    return VerifyReport(int(head.block_number), transactions, bytes(head.state_root), bytes(head.hash))


def canonical_hash(db: AtomicDatabaseAPI, number: int) -> bytes:
    """The hash of block ``number`` on the chain in ``db``: how nodes' copies of the chain are compared."""
    return _canonical_hash(Node(db).chain, number)


def _compare_served_data(stored: Any, fresh: Any, block: BlockAPI) -> None:
    """What the node serves for ``block`` beyond its header: receipts and the transaction index."""
    number = int(block.number)
    try:
        served = block.get_receipts(stored.chaindb)
    except Exception as exc:
        raise BlockVerificationError(number, f"stored receipts cannot be read: {exc.__class__.__name__}") from exc
    expected = fresh.get_canonical_block_by_number(BlockNumber(number)).get_receipts(fresh.chaindb)
    for index, (got, want) in enumerate(zip(served, expected, strict=False)):
        if got != want:
            raise BlockVerificationError(number, f"stored receipt {index} differs from re-execution")
    if len(served) != len(expected):
        raise BlockVerificationError(number, f"{len(served)} stored receipts for {len(expected)} transactions")
    for index, tx in enumerate(block.transactions):
        try:
            location = stored.chaindb.get_transaction_index(tx.hash)
        except Exception:
            location = None
        if location != (number, index):
            raise BlockVerificationError(
                number, f"transaction index of 0x{tx.hash.hex()} is {location}, expected ({number}, {index})"
            )


def _canonical_hash(chain: object, number: int) -> bytes:
    try:
        return bytes(chain.chaindb.get_canonical_block_hash(BlockNumber(number)))  # type: ignore[attr-defined]
    except Exception as exc:
        raise BlockVerificationError(number, f"no canonical hash stored: {exc}") from exc


def _read_block(chain: object, number: int) -> BlockAPI:
    block_hash = _canonical_hash(chain, number)
    try:
        block: BlockAPI = chain.get_block_by_hash(Hash32(block_hash))  # type: ignore[attr-defined]
    except Exception as exc:
        raise BlockVerificationError(number, f"cannot be read: {exc.__class__.__name__}: {exc}") from exc
    if block.hash != block_hash:
        raise BlockVerificationError(
            number, f"stored header hashes to 0x{block.hash.hex()}, indexed as 0x{block_hash.hex()}"
        )
    return block
