"""Blocks between the node and consensus: build a proposal, check one by executing it, append a decided block.

QBFT (``chain.qbft.machine``) asks the node two things, through :class:`NodeBlocks`: a new block for a round it
proposes, and whether a block another validator proposed is valid on its parent. Both execute the block's
transactions on the head's state, and neither stores anything but state trie nodes (content-addressed, so a
block that is never decided leaves only unreferenced nodes). Once a quorum has sealed a block, :func:`append`
checks the seals against the parent's validator set and makes it the head; a block this node built or checked
is not executed again (:attr:`Node.executed`, keyed by the block hash, which neither the round nor the seals
change).

None of them holds the node's lock while a block executes. Each takes the head (and the pending transactions)
under the lock, then executes on that head's state without it: the state's trie nodes stay in the store whatever
is appended meanwhile, and what execution writes (trie nodes) is content-addressed, so readers never see a
partial block. :func:`append` takes the lock again only to store the block, in one atomic batch, if the head it
executed on is still the head (otherwise it refuses the block), and to take its transactions out of the mempool.
So clients' transactions and reads, and peers' gossip, go on while a block executes.

A proposal is valid when it decodes as our block, extends the head (number and parent hash), carries no vote,
is at most :data:`MAX_DRIFT_S` ahead of this node's clock, re-executing it reproduces its header exactly
(py-evm's header rules: gas limit, zero base fee, timestamps after the parent's, extra data size; its
transactions: signatures, nonces, gas; its roots), and it names the validator set that decides the next block:
the one ConsortiumRegistry lists on the state it leaves (``Node.validators_after``; the parent's set under a
genesis without ``validator_contract``, or before the registry is bootstrapped).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from chain.errors import ChainError, MalformedError
from chain.node import trace
from chain.node.vm import ConsortiumBlock, ConsortiumHeader
from chain.qbft.block import QbftBlock, Recovered
from chain.seal import ExtraData, extra_data, verify_seals

if TYPE_CHECKING:
    from chain.node.node import Node

#: Seconds a proposed block's timestamp may be ahead of this node's clock.
MAX_DRIFT_S = 10


class BlockRefusedError(ChainError):
    """A block is not a valid next block of this node's chain; ``reason`` says why."""

    def __init__(self, number: int, reason: str) -> None:
        self.number, self.reason = number, reason
        super().__init__(f"block {number}: {reason}")


#: The transactions' place among a block's fields (``ConsortiumBlock.fields``).
_TRANSACTIONS = [name for name, _ in ConsortiumBlock._meta.fields].index("transactions")


class _KnownTransactions:
    """The block's transaction codec, taking a transaction from ``known`` (by hash) instead of decoding it: a hash
    names one transaction's bytes (``keccak`` of a typed transaction's item, of a legacy one's RLP list), so the
    object found is the transaction the block holds, its sender already recovered."""

    def __init__(self, known: Mapping[bytes, SignedTransactionAPI]) -> None:
        self.known = known

    def deserialize(self, item: bytes | list[Any]) -> SignedTransactionAPI:
        found = self.known.get(bytes(keccak(item if isinstance(item, bytes) else rlp.encode(item))))
        if found is not None:
            return found
        decoded: SignedTransactionAPI = ConsortiumBlock.transaction_builder.deserialize(item)
        return decoded


def decode_block(raw: bytes, known: Mapping[bytes, SignedTransactionAPI] | None = None) -> BlockAPI:
    """A block in its RLP form; :class:`MalformedError` for anything else. With ``known`` (the mempool's pending
    transactions, by hash), a transaction found there is that object rather than a new decode of the same bytes
    (sedes decoding is what decoding a block costs, and the pending object knows its sender); the block's other
    parts are decoded with its own codecs either way."""
    try:
        if not known:
            block: BlockAPI = rlp.decode(raw, sedes=ConsortiumBlock)
            return block
        sedes = [codec for _, codec in ConsortiumBlock._meta.fields]
        sedes[_TRANSACTIONS] = rlp.sedes.CountableList(_KnownTransactions(known))
        parts = rlp.decode(raw, sedes=rlp.sedes.List(sedes))
    except (rlp.DeserializationError, rlp.DecodingError, ValueError, TypeError) as exc:
        raise MalformedError(f"not an RLP block of this chain: {exc}") from exc
    return ConsortiumBlock(*parts)


def with_header(block: BlockAPI, header: BlockHeaderAPI) -> BlockAPI:
    """``block`` under ``header``, sharing its transactions: rlp's ``copy(header=...)`` deep-copies every one of
    them (a whole block's worth per call, on every node, several times per block)."""
    return block.__class__(
        header=header, transactions=block.transactions, uncles=block.uncles, withdrawals=block.withdrawals
    )


def decode_header(block: QbftBlock) -> BlockHeaderAPI:
    """The header of ``block`` as our header class (its transactions left as they are); :class:`MalformedError`
    if it is not one."""
    try:
        header: BlockHeaderAPI = ConsortiumHeader.deserialize(list(block.items[0]))
    except (rlp.DeserializationError, ValueError, TypeError) as exc:
        raise MalformedError(f"not a block header of this chain: {exc}") from exc
    return header


def build(
    node: Node,
    proposer: bytes,
    round_: int,
    *,
    allow_empty: bool = True,
    budget: tuple[Callable[[], float], float] | None = None,
) -> BlockAPI | None:
    """A new unsealed block on the head from the mempool, proposed by ``proposer`` in ``round_``; None when
    the mempool is empty and ``allow_empty`` is not set. The block is executed and remembered as such.

    The node's lock is held only to take the head and the pending transactions: the execution runs on the head's
    state without it, so clients' transactions and reads, and peers' gossip, go on meanwhile.

    With ``budget`` (a clock and a deadline on it), no transaction is started once the clock has reached the
    deadline, but the first always is: the block holds what the time allowed, and the rest stays pending."""
    with node.lock:
        if not node.mempool.pending and not allow_empty:
            return None
        parent = node.chain.get_canonical_head()
        transactions = list(node.mempool.pending.values())
    header = node.chain.create_header_from_parent(
        parent,
        timestamp=max(int(node.clock()), parent.timestamp + 1),
        extra_data=ExtraData(b"\0" * 32, extra_data(parent).validators, round=round_).encode(),
        coinbase=proposer,
    )
    started = time.monotonic()
    held: dict[bytes, bytes | None] = {}
    with _holding(node, held):
        block = _run(node, parent, header, transactions, skip_invalid=True, budget=budget)
    if trace.enabled:
        trace.event("build", height=int(header.block_number), round=round_, pending=len(transactions),
                    transactions=len(block.transactions), gas_used=int(block.header.gas_used),
                    gas_limit=int(block.header.gas_limit), timestamp=int(header.timestamp),
                    budget_spent=budget is not None and budget[0]() >= budget[1],
                    execute_s=round(time.monotonic() - started, 4))  # fmt: skip
    current = extra_data(parent).validators
    with _holding(node, held):  # the registry is read on the state the block leaves, whose nodes are held
        validators = node.validators_after(block.header, current)
    if validators != current:  # the registry changed the set: this block names the one deciding the next
        named = ExtraData(b"\0" * 32, validators, round=round_).encode()
        block = with_header(block, block.header.copy(extra_data=named))
    _remember(node, block, held)
    return block


def _holding(node: Node, held: dict[bytes, bytes | None]) -> contextlib.AbstractContextManager[None]:
    """The node's store keeps this thread's writes in ``held`` instead of committing them (``Store.holding``);
    a store without it (in memory, for tests) writes them at once."""
    holding = getattr(node.db, "holding", None)
    return holding(held) if holding is not None else contextlib.nullcontext()


def _remember(node: Node, block: BlockAPI, held: dict[bytes, bytes | None]) -> None:
    """Keep ``block`` as executed, with the trie nodes its execution wrote (stored with it by :func:`append`)."""
    node.executed_nodes.put(bytes(block.hash), held)
    node.executed.put(bytes(block.hash), block)


def _run(
    node: Node,
    parent: BlockHeaderAPI,
    header: BlockHeaderAPI,
    transactions: list[SignedTransactionAPI],
    *,
    skip_invalid: bool,
    budget: tuple[Callable[[], float], float] | None = None,
) -> BlockAPI:
    """Apply ``transactions`` on ``parent``'s state under ``header`` and finalise the block: the node's batched
    tries and inline opcodes, as a single sealer builds. Building skips what does not apply (``skip_invalid``),
    and stops at the ``budget``'s deadline once a transaction is in (see :func:`build`); re-executing a proposal
    refuses the block instead."""
    started = time.monotonic()
    vm = node.chain.get_vm(header)
    first_at = time.monotonic()
    included: list[SignedTransactionAPI] = []
    receipts: list[ReceiptAPI] = []
    current = header
    number = int(header.block_number)
    for tx in transactions:
        if budget is not None and included and budget[0]() >= budget[1]:
            break
        if current.gas_used + tx.gas > current.gas_limit:
            if skip_invalid:
                break
            raise BlockRefusedError(number, f"transaction 0x{tx.hash.hex()} goes over the block gas limit")
        snapshot = vm.state.snapshot()
        try:
            receipt, _ = vm.apply_transaction(current, tx)
        except ValidationError as exc:
            vm.state.revert(snapshot)
            if skip_invalid:
                continue
            raise BlockRefusedError(number, f"re-execution failed: transaction 0x{tx.hash.hex()}: {exc}") from exc
        current = vm.add_receipt_to_header(current, receipt)
        if get_total_blob_gas(tx):  # py-evm copies the header again to add nothing for a transaction without blobs
            current = vm.increment_blob_gas_used(current, tx)
        included.append(tx)
        receipts.append(receipt)
    # The block's trie nodes (the transaction and receipt tries; py-evm's storage tries, then account trie) are
    # written where the caller's ``_holding`` keeps them: nothing refers to them before the block is stored,
    # and :func:`append` stores them in the block's own transaction (one durable commit a block, not two).
    executed_at = time.monotonic()
    block = vm.set_block_transactions_and_withdrawals(vm.get_block(), current, included, receipts, withdrawals=())
    # py-evm's ``mine_block`` would go on to validate the block it just built, rebuilding its transaction trie
    # with py-trie; the header checks are what can fail here, and `consortium chain verify` re-executes every
    # block with py-evm's own code.
    block = vm.finalize_block(vm.pack_block(block)).block
    vm.validate_header(block.header, parent)
    if trace.enabled:
        trace.event("run", height=number, transactions=len(included), setup_s=round(first_at - started, 4),
                    transactions_s=round(executed_at - first_at, 4),
                    finalize_s=round(time.monotonic() - executed_at, 4))  # fmt: skip
    return block


def execute(node: Node, block: BlockAPI) -> BlockAPI:
    """Check ``block`` as the next block of the head by executing it (once per block hash); returns it as
    executed. Raises :class:`BlockRefusedError` with the reason. The node's lock is not held while it executes."""
    return _execute_on(node, node.head(), block)[0]


def _execute_on(node: Node, parent: BlockHeaderAPI, block: BlockAPI) -> tuple[BlockAPI, dict[bytes, bytes | None]]:
    """:func:`execute` on ``parent``, a header the caller took as the head: it runs on ``parent``'s state, which
    stays in the store whatever is appended meanwhile (trie nodes are never deleted), so nothing is locked but the
    look at the mempool."""
    number = int(block.number)
    if number != parent.block_number + 1 or block.header.parent_hash != parent.hash:
        raise BlockRefusedError(number, f"does not extend the head (block {parent.block_number})")
    try:
        extra = extra_data(block.header)
    except MalformedError as exc:
        raise BlockRefusedError(number, str(exc)) from exc
    if extra.vote is not None:
        raise BlockRefusedError(number, "carries a validator vote (the set comes from ConsortiumRegistry)")
    done, done_nodes = node.executed.get(bytes(block.hash)), node.executed_nodes.get(bytes(block.hash))
    if done is not None and done_nodes is not None:
        return done, done_nodes
    unsealed = with_header(block, block.header.copy(extra_data=extra.with_seals(extra.round, ()).encode()))
    header = node.chain.create_header_from_parent(
        parent,
        timestamp=block.header.timestamp,
        extra_data=unsealed.header.extra_data,
        coinbase=block.header.coinbase,
    )
    # A transaction this node already holds is the same signed bytes (the hash covers them): its object
    # knows its sender, which a freshly decoded one would recover from the signature again.
    with node.lock:
        pending = node.mempool.pending
        transactions = [pending.get(tx.hash, tx) for tx in block.transactions]
    held: dict[bytes, bytes | None] = {}
    try:
        with _holding(node, held):
            result = _run(node, parent, header, transactions, skip_invalid=False)
    except BlockRefusedError:
        raise
    except Exception as exc:  # py-evm's ValidationError, and what a malformed transaction raises inside it
        raise BlockRefusedError(number, f"re-execution failed: {exc.__class__.__name__}: {exc}") from exc
    if result != unsealed:
        raise BlockRefusedError(number, "re-execution gives another header (state, receipts, gas or bloom)")
    with _holding(node, held):  # the registry is read on the state the block leaves, whose nodes are held
        validators = node.validators_after(result.header, extra_data(parent).validators)
    if extra.validators != validators:
        raise BlockRefusedError(number, "names another validator set than ConsortiumRegistry lists after it")
    _remember(node, result, held)
    return result, held


def pending_copy(node: Node) -> dict[bytes, SignedTransactionAPI]:
    """The node's pending transactions by hash, as they are now (a block decodes against them without the lock)."""
    with node.lock:
        return dict(node.mempool.pending)


def append(node: Node, block: BlockAPI, recovered: Recovered | None = None) -> BlockAPI:
    """Make ``block``, sealed by a quorum of the head's validators, the new head; returns it as stored.

    Its seals are checked against the head's validator set, it is executed unless it already was (without the
    node's lock), and then, under the lock, it is stored in one atomic batch if the head it was executed on is
    still the head, and its transactions leave the mempool. Raises :class:`BlockRefusedError` (bad seals
    included, and a head that moved meanwhile: the block was executed on a state that is no longer the head's).

    ``recovered``: the seals' signers as QBFT checked them in the COMMITs that decided the block
    (``chain.seal.verify_seals``, keyed by the commit digest, which this check computes from ``block`` itself);
    a block fetched from a peer comes without, and each of its seals is recovered."""
    number = int(block.number)
    parent = node.head()
    try:
        verify_seals(block.header, extra_data(parent).validators, recovered)
    except (ChainError, MalformedError) as exc:
        raise BlockRefusedError(number, f"seals: {exc}") from exc
    executed, held = _execute_on(node, parent, block)
    sealed = with_header(executed, block.header)
    joined = getattr(node.db, "joined_batches", None)
    with node.lock:
        head = node.chain.get_canonical_head()
        if head.hash != parent.hash:
            raise BlockRefusedError(number, f"the head moved to block {head.block_number} while it executed")
        # the block, and the trie nodes its execution wrote, in one atomic and durable batch
        with joined(held) if joined is not None else contextlib.nullcontext():
            node.chain.chaindb.persist_block(sealed)
        node.remember(sealed)
        node.mempool.remove(tx.hash for tx in sealed.transactions)
        node.mempool.promote(lambda sender: node.nonce(sender))
    return sealed


@dataclass
class NodeBlocks:
    """What the QBFT state machine of one height asks the node (``chain.qbft.machine.Blocks``)."""

    node: Node
    proposer: bytes
    refused: int = 0
    last_refusal: str = ""
    #: Called before a block is built (the consensus loop waits there, bounded, for its peers' pending
    #: transactions after a start: ``chain.node.consensus``).
    before_create: Callable[[], None] | None = None
    #: Seconds on ``clock`` that executing a new block's transactions may take (see :func:`build`); None: no bound.
    build_time: float | None = None
    clock: Callable[[], float] = time.monotonic

    def create(self, round_: int) -> QbftBlock:
        if self.before_create is not None:
            self.before_create()
        budget = None if self.build_time is None else (self.clock, self.clock() + self.build_time)
        block = build(self.node, self.proposer, round_, budget=budget)
        assert block is not None  # allow_empty
        return QbftBlock.decode(rlp.encode(block))

    def _decoded(self, block: QbftBlock) -> BlockAPI:
        """``block`` as our block class. One this node built or checked already (its own proposal, coming back to
        it through the machine; a block proposed again in a later round; the block decided) is not decoded again:
        its header is, and the transactions are the executed block's. The hash, which covers the header's
        transaction root, names that block; :func:`execute` and :func:`append` use the executed block for it."""
        executed = self.node.executed.get(block.hash)
        if executed is None:
            return decode_block(block.raw, pending_copy(self.node))
        return with_header(executed, decode_header(block))

    def is_valid(self, block: QbftBlock) -> bool:
        started = time.monotonic()
        try:
            decoded = self._decoded(block)
            if decoded.header.timestamp > self.node.clock() + MAX_DRIFT_S:
                raise BlockRefusedError(block.number, f"its timestamp is over {MAX_DRIFT_S} s ahead of this clock")
            execute(self.node, decoded)
        except (BlockRefusedError, MalformedError) as exc:
            self.refused += 1
            self.last_refusal = str(exc)
            trace.event("validated", height=block.number, round=block.extra.round, ok=False, reason=str(exc))
            return False
        trace.event("validated", height=block.number, round=block.extra.round, ok=True,
                    check_s=round(time.monotonic() - started, 4))  # fmt: skip
        return True

    def decided(self, block: QbftBlock, recovered: Recovered | None = None) -> BlockAPI:
        """Append the block the machine decided (``recovered``: its seals as the machine checked them)."""
        return append(self.node, self._decoded(block), recovered)
