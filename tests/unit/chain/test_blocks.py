"""chain.node.blocks: four real nodes (py-evm state, transactions executed) agree on blocks through the QBFT
core, in one process.

Each validator has its own node and store; the QBFT machine of each height asks its node for proposals and
checks others' by executing them (``NodeBlocks``); messages go through the wire encoding, delivered in order by
a small driver whose clock the test owns (the nodes' clocks follow it). After every run each node's chain is
the same block for block, and ``verify_chain`` (re-execution with py-evm's own code, seals against the parent's
set) is clean on each store.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import rlp
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_typing import BlockNumber

from chain.errors import MalformedError
from chain.node.blocks import BlockRefusedError, NodeBlocks, append, build, decode_block, execute
from chain.node.node import Genesis, Node
from chain.node.verify import verify_chain
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock, recover, sign
from chain.qbft.buffer import FutureMessages
from chain.qbft.machine import Broadcast, Decided, Height
from chain.qbft.rules import RoundTimer
from chain.seal import ExtraData, add_seals, extra_data, seal_signers, sign_seal
from tests.support.transfers import transfer

CHAIN_ID = 20261
T0 = 1_700_000_000


@dataclass
class Validator:
    key: PrivateKey
    node: Node
    blocks: NodeBlocks
    machine: Height | None = None
    buffer: FutureMessages = field(default_factory=FutureMessages)
    online: bool = True


class Consortium:
    """Four validators, each with its own node, driven one message at a time."""

    def __init__(self, n: int = 4) -> None:
        self.now = 0.0
        self.keys = [PrivateKey(bytes([i + 1]) * 32) for i in range(n)]
        addresses = [k.public_key.to_checksum_address() for k in self.keys]
        self.operator = Account.from_key(self.keys[0].to_bytes())
        genesis = Genesis(CHAIN_ID, tuple(addresses), addresses[0], T0)
        clock: Callable[[], float] = lambda: T0 + self.now  # noqa: E731 - the nodes' clocks follow the driver's
        self.validators: list[Validator] = []
        for key in self.keys:
            node = Node(AtomicDB(), genesis, clock=clock)
            self.validators.append(Validator(key, node, NodeBlocks(node, key.public_key.to_canonical_address())))
        for v in self.validators:
            v.machine = self._machine(v)
        self.queue: deque[tuple[int, int, bytes]] = deque()
        #: A validator whose decision is kept in ``held`` instead of appended (None: every one appends).
        self.hold: int | None = None
        self.held: Decided | None = None

    def _machine(self, v: Validator) -> Height:
        head = v.node.head()
        return Height(
            v.key,
            head.block_number + 1,
            extra_data(head).validators,
            head.coinbase,
            v.blocks,
            now=self.now,
            propose_at=self.now + 1.0,
            timer=RoundTimer(base=2.0, cap=8.0),
        )

    def submit(self, raw: bytes) -> None:
        """A transaction sent to every node, as gossip would spread it."""
        for v in self.validators:
            v.node.submit(raw)

    def _apply(self, i: int, actions: list[Any]) -> None:
        v = self.validators[i]
        for action in actions:
            if isinstance(action, Broadcast):
                code, body = m.encode(action.message)
                self.queue.extend((j, int(code), body) for j in range(len(self.validators)) if j != i)
            elif i == self.hold:
                self.held = action
            else:
                v.blocks.decided(action.block, action.recovered)  # as chain.node.consensus does
                v.machine = self._machine(v)
                for message in v.buffer.take(v.machine.height):
                    self._apply(i, v.machine.receive(message, self.now))

    def run_until(self, height: int, until: float = 120.0) -> None:
        """Deliver and tick until every online node's head reaches ``height``."""
        online = [v for v in self.validators if v.online]
        self.run_while(lambda: min(v.node.head().block_number for v in online) < height, until)

    def run_while(self, busy: Callable[[], bool], until: float = 120.0) -> None:
        """Deliver and tick while ``busy()``."""
        online = [v for v in self.validators if v.online]
        while busy():
            assert self.now <= until, f"no progress: heads {[v.node.head().block_number for v in online]}"
            if self.queue:
                dst, code, body = self.queue.popleft()
                v = self.validators[dst]
                if not v.online:
                    continue
                message = m.decode(code, body)
                assert v.machine is not None
                if message.height > v.machine.height:
                    v.buffer.keep(message, v.machine.height)
                else:
                    self._apply(dst, v.machine.receive(message, self.now))
                continue
            self.now = min(v.machine.next_wake() for v in online if v.machine is not None)
            for i, v in enumerate(self.validators):
                if v.online and v.machine is not None:
                    self._apply(i, v.machine.tick(self.now))

    def assert_one_chain(self, nodes: list[Node] | None = None) -> list[Any]:
        """Every node holds the same blocks, with the same hashes; each store verifies from genesis."""
        nodes = nodes if nodes is not None else [v.node for v in self.validators]
        head = min(n.head().block_number for n in nodes)
        for number in range(head + 1):
            hashes = {bytes(n.chain.get_canonical_block_hash(BlockNumber(number))) for n in nodes}
            assert len(hashes) == 1, f"nodes disagree at block {number}"
        for node in nodes:
            assert verify_chain(node.db).head == node.head().block_number
        return [nodes[0].block_by_number(i) for i in range(head + 1)]


def test_four_nodes_agree_on_executed_blocks_with_the_proposer_rotating() -> None:
    c = Consortium()
    for nonce in range(5):
        c.submit(transfer(c.operator, nonce))
    c.run_until(3)
    blocks = c.assert_one_chain()
    assert sum(len(b.transactions) for b in blocks) == 5  # each transaction once, whoever proposed
    assert all(not v.node.mempool.pending for v in c.validators)  # included elsewhere, dropped here
    proposers = [bytes(b.header.coinbase) for b in blocks[1:4]]
    assert len(set(proposers)) == 3  # round 0's proposer rotates
    for block in blocks[1:]:
        assert ExtraData.decode(block.header.extra_data).round == 0
        assert len(set(seal_signers(block.header))) >= 3  # a quorum of 4
    assert all(v.blocks.refused == 0 for v in c.validators)


def test_with_the_proposer_offline_the_others_decide_in_round_one() -> None:
    c = Consortium()
    assert c.validators[0].machine is not None
    first = c.validators[0].machine.proposer(0)
    down = next(v for v in c.validators if v.key.public_key.to_canonical_address() == first)
    down.online = False
    c.submit(transfer(c.operator, 0))
    c.run_until(1)
    up = [v.node for v in c.validators if v.online]
    (_, block) = c.assert_one_chain(up)
    assert ExtraData.decode(block.header.extra_data).round == 1 and bytes(block.header.coinbase) != first
    assert len(block.transactions) == 1 and first not in seal_signers(block.header)


def _built(c: Consortium) -> tuple[Node, Any]:
    node = c.validators[1].node
    proposer = c.validators[1].key.public_key.to_canonical_address()
    c.submit(transfer(c.operator, 0))
    block = c.validators[1].blocks.create(0)
    return node, (proposer, decode_block(block.raw))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda b: b.copy(header=b.header.copy(state_root=b"\1" * 32)), "re-execution"),
        (lambda b: b.copy(header=b.header.copy(gas_used=b.header.gas_used + 1)), "re-execution"),
        (lambda b: b.copy(transactions=()), "re-execution"),
        (lambda b: b.copy(header=b.header.copy(block_number=5)), "does not extend the head"),
        (lambda b: b.copy(header=b.header.copy(parent_hash=b"\2" * 32)), "does not extend the head"),
        (
            lambda b: b.copy(header=b.header.copy(extra_data=ExtraData(b"\0" * 32, (b"\3" * 20,)).encode())),
            "another validator set",
        ),
        (lambda b: b.copy(header=b.header.copy(extra_data=b"")), "extra data"),
    ],
)
def test_a_proposal_that_does_not_re_execute_to_its_header_is_refused(change: Any, reason: str) -> None:
    c = Consortium()
    _, (_, block) = _built(c)
    checker = c.validators[2]
    forged = change(block)
    with pytest.raises(BlockRefusedError, match=reason):
        execute(checker.node, forged)
    if reason != "extra data":  # the machine never sees a block without QBFT extra data: its proposal fails to decode
        assert not checker.blocks.is_valid(QbftBlock.decode(rlp.encode(forged)))
        assert reason in checker.blocks.last_refusal
    assert checker.blocks.is_valid(QbftBlock.decode(rlp.encode(block)))  # the genuine one still passes
    assert checker.node.head().block_number == 0  # checking stores nothing


def test_a_proposal_from_the_future_and_garbage_are_refused() -> None:
    c = Consortium()
    _, (_, block) = _built(c)
    late = block.copy(header=block.header.copy(timestamp=int(T0 + c.now) + 60))
    checker = c.validators[3].blocks
    assert not checker.is_valid(QbftBlock.decode(rlp.encode(late))) and "ahead" in checker.last_refusal
    with pytest.raises(MalformedError):
        decode_block(b"\xc3\x01\x02\x03")


def test_a_block_decoded_against_the_pending_transactions_is_the_same_block_with_their_objects() -> None:
    """A proposal's transactions this node holds are taken from its mempool (their senders already recovered)
    rather than decoded again; the block is the one a plain decode gives, and malformed input is refused alike."""
    c = Consortium()
    for nonce in range(3):
        c.submit(transfer(c.operator, nonce))
    raw = c.validators[1].blocks.create(0).raw
    plain = decode_block(raw)
    assert len(plain.transactions) == 3
    held = {tx.hash: tx for tx in plain.transactions[:2]}  # as a validator that missed the third's gossip
    known = {bytes(h): PragueTransactionBuilder.decode(tx.encode()) for h, tx in held.items()}
    decoded = decode_block(raw, known)
    assert decoded == plain and decoded.hash == plain.hash and rlp.encode(decoded) == raw
    assert [tx is known.get(tx.hash) for tx in decoded.transactions] == [True, True, False]
    assert decoded.transactions[2] == plain.transactions[2]
    checker = c.validators[2]
    assert execute(checker.node, decoded).hash == plain.hash  # and it re-executes to its header
    other = {bytes(PragueTransactionBuilder.decode(transfer(c.operator, 9)).hash): plain.transactions[0]}
    assert decode_block(raw, other) == plain  # an unrelated pending transaction changes nothing
    for garbage in (b"\xc3\x01\x02\x03", raw[:-1], raw + b"\x00"):
        with pytest.raises(MalformedError):
            decode_block(garbage, known)


def test_appending_needs_a_quorum_of_the_parents_validators_and_the_head_as_parent() -> None:
    c = Consortium()
    node, (_, block) = _built(c)
    keys = c.keys
    two = add_seals(block.header, [sign_seal(block.header, k.to_bytes()) for k in keys[:2]])
    with pytest.raises(BlockRefusedError, match="2 valid seal"):
        append(node, block.copy(header=two))
    signing = [PrivateKey(b"\x99" * 32).to_bytes(), keys[0].to_bytes(), keys[1].to_bytes()]  # an outsider and two
    forged = add_seals(block.header, [sign_seal(block.header, k) for k in signing])
    with pytest.raises(BlockRefusedError, match="seals"):
        append(node, block.copy(header=forged))
    three = add_seals(block.header, [sign_seal(block.header, k.to_bytes()) for k in keys[:3]])
    stored = append(node, block.copy(header=three))
    assert node.head().hash == stored.hash == block.hash and node.mempool.pending == {}
    with pytest.raises(BlockRefusedError, match="does not extend the head"):
        append(node, block.copy(header=three))  # the same block again: its parent is no longer the head
    other = c.validators[2].node  # a node that never saw the proposal executes it when it is appended
    assert append(other, block.copy(header=three)).hash == block.hash
    c.assert_one_chain([node, other])


def test_a_decided_block_is_appended_without_recovering_its_seals_again_unless_changed_after_the_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine hands the node each seal's author as it checked it in the COMMITs, keyed by the commit digest:
    the block as decided is appended without one recovery, and one whose seals or round were changed after that
    check is recovered and refused, nothing stored."""
    recoveries: list[bytes] = []

    def counted(digest: bytes, seal: bytes) -> bytes:
        recoveries.append(seal)
        return recover(digest, seal)

    monkeypatch.setattr("chain.seal.recover", counted)
    c = Consortium()
    c.hold = 0
    c.submit(transfer(c.operator, 0))
    c.run_while(lambda: c.held is None)
    assert c.held is not None
    v, block, recovered = c.validators[0], c.held.block, c.held.recovered
    round_, seals = block.extra.round, block.extra.seals
    digest = block.commit_digest(round_)
    assert {(digest, seal) for seal in seals} == set(recovered) and len(seals) >= 3
    stranger = sign(PrivateKey(b"\x99" * 32), digest)  # a valid signature over the digest, by an outsider
    flipped = seals[0][:10] + bytes([seals[0][10] ^ 1]) + seals[0][11:]
    for changed in (
        block.sealed(round_, [*seals[:2], stranger]),  # two of the machine's seals and a stranger's
        block.sealed(round_, [flipped, *seals[1:3]]),  # a seal's bytes changed
        block.sealed(round_ + 1, seals),  # the same seals under another round: the same block hash
    ):
        assert changed.hash == block.hash
        recoveries.clear()
        with pytest.raises(BlockRefusedError, match="seals"):
            v.blocks.decided(changed, recovered)
        assert recoveries != [] and v.node.head().block_number == 0
    recoveries.clear()
    stored = v.blocks.decided(block, recovered)
    assert stored.hash == block.hash and v.node.head().block_number == 1 and recoveries == []
    assert seal_signers(stored.header) == [recovered[(digest, seal)] for seal in seals]


def test_execute_runs_a_block_once_whatever_its_round_and_seals() -> None:
    c = Consortium()
    node, (_, block) = _built(c)
    assert node.executed.get(bytes(block.hash)) is not None  # the proposer built it
    extra = ExtraData.decode(block.header.extra_data)
    later = block.copy(header=block.header.copy(extra_data=extra.with_seals(2, ()).encode()))
    assert later.hash == block.hash and execute(node, later) is node.executed.get(bytes(block.hash))


def test_a_proposal_holds_what_its_build_time_allows_and_the_rest_stays_pending() -> None:
    """``NodeBlocks.build_time`` bounds the execution of a new block's transactions, on its own clock: no
    transaction starts once it is spent, the first always does, and the others wait for the next block."""
    c = Consortium()
    for nonce in range(6):
        c.submit(transfer(c.operator, nonce))
    machine = c.validators[0].machine
    assert machine is not None
    proposer = next(v for v in c.validators if v.key.public_key.to_canonical_address() == machine.proposer(0))
    ticks = iter(range(1000))
    proposer.blocks.build_time, proposer.blocks.clock = 2.5, lambda: float(next(ticks))  # a second per look
    c.run_until(2)
    blocks = c.assert_one_chain()
    # the deadline is 2.5 after the look at 0; the looks before the 2nd, 3rd and 4th transactions read 1, 2, 3
    assert [len(b.transactions) for b in blocks[1:3]] == [3, 3]
    assert bytes(blocks[1].header.coinbase) == proposer.key.public_key.to_canonical_address()
    assert all(not v.node.mempool.pending for v in c.validators) and all(v.blocks.refused == 0 for v in c.validators)


def test_transactions_enter_the_mempool_while_a_block_executes() -> None:
    """Building a block does not hold the node's lock while its transactions execute: a transaction submitted from
    another thread in the middle of the execution (when the build budget's clock is read, between two
    transactions) is admitted there and then, a read answers, and both see the head the block is built on. The
    transaction stays pending for the next block; the block, sealed and appended, takes only its own out."""
    c = Consortium()
    for nonce in range(3):
        c.submit(transfer(c.operator, nonce))
    v = c.validators[1]
    proposer = v.key.public_key.to_canonical_address()
    late = transfer(c.operator, 3)
    during: list[tuple[bool, int]] = []
    heads: list[int] = []

    def submit_and_read() -> None:
        v.node.submit(late)
        heads.append(int(v.node.head().block_number))

    def clock() -> float:
        if not during:
            thread = threading.Thread(target=submit_and_read)
            thread.start()
            thread.join(timeout=30)  # a deadline: with the lock held during execution it would wait until the end
            during.append((not thread.is_alive(), len(v.node.mempool.pending)))
        return 0.0

    block = build(v.node, proposer, 0, budget=(clock, 100.0))
    assert block is not None
    assert during == [(True, 4)] and heads == [0]
    assert [tx.nonce for tx in block.transactions] == [0, 1, 2]  # what was pending when the build took the head
    sealed = add_seals(block.header, [sign_seal(block.header, k.to_bytes()) for k in c.keys[:3]])
    append(v.node, block.copy(header=sealed))
    assert [tx.nonce for tx in v.node.mempool.pending.values()] == [3]
    assert v.node.nonce(bytes.fromhex(c.operator.address[2:]), pending=True) == 4
    following = build(v.node, proposer, 0)
    assert following is not None and [tx.nonce for tx in following.transactions] == [3]
