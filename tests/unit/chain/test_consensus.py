"""chain.node.consensus.Consensus, stepped by hand with a clock the test owns (no thread, no socket).

A consortium of one validator decides alone (quorum 1), which exercises the whole loop: a height starts only
with work, the proposer waits out the block period, the block is decided and appended. A second node that is
handed a later height's message fetches what it lacks and follows; garbage and stale messages are counted and
change nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import rlp
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from pytest import MonkeyPatch

from chain.node.blocks import NodeBlocks, append, decode_block
from chain.node.consensus import AHEAD_S, Consensus
from chain.node.node import Genesis, Node
from chain.node.service import Metrics
from chain.node.signed import SignedLog, mark_new, sealed_alone
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock, recover
from chain.qbft.rules import RoundTimer, proposer
from chain.seal import seal_signers
from tests.support.transfers import transfer
from tests.unit.chain.test_node import registry_call
from tests.unit.chain.test_validator_set import Chain as ValidatorChain
from tests.unit.chain.test_validator_set import address as validator_address

KEY = PrivateKey(b"\x01" * 32)
GENESIS = Genesis(20261, (KEY.public_key.to_checksum_address(),), KEY.public_key.to_checksum_address(), 1_700_000_000)
OPERATOR = Account.from_key(KEY.to_bytes())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def node_at(clock: Clock) -> Node:
    """A fresh node on the test's genesis whose wall clock follows ``clock``."""
    return Node(AtomicDB(), GENESIS, clock=lambda: 1_700_000_000 + clock.now)


def loop(node: Node, clock: Clock, sent: list[tuple[int, bytes]], key: PrivateKey = KEY, **kwargs: object) -> Consensus:
    return Consensus(
        node, key, lambda code, body: sent.append((code, body)), period=1.0, timer=RoundTimer(base=2.0, cap=8.0),
        clock=clock, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def run(consensus: Consensus, clock: Clock, seconds: float, step: float = 0.25) -> None:
    end = clock.now + seconds
    while clock.now < end:
        consensus.step(wait=0)
        clock.now += step


class Elsewhere:
    """Four validators' network seen from one of them, ``me`` (the second key): the others' chain, ``elsewhere``,
    on which :meth:`next_block` builds the round's proposal with the other three's COMMITs and :meth:`decide`
    appends it sealed; :meth:`fetch` answers a node's fetch from it."""

    def __init__(self) -> None:
        self.keys = [PrivateKey(bytes([i]) * 32) for i in (1, 2, 3, 4)]
        addresses = tuple(k.public_key.to_checksum_address() for k in self.keys)
        self.genesis = Genesis(20261, addresses, addresses[0], 1_700_000_000)
        self.clock = Clock()
        self.by_address = {k.public_key.to_canonical_address(): k for k in self.keys}
        self.me = self.keys[1]
        self.elsewhere = self.node(AtomicDB())

    def node(self, db: AtomicDB) -> Node:
        return Node(db, self.genesis, clock=lambda: 1_700_000_000 + self.clock.now)

    def next_block(self) -> tuple[QbftBlock, list[m.Commit], PrivateKey]:
        head = self.elsewhere.head()
        author = self.by_address[proposer(sorted(self.by_address), bytes(head.coinbase), 0)]
        block = NodeBlocks(self.elsewhere, author.public_key.to_canonical_address()).create(0)
        return block, [m.commit(k, block, 0) for k in self.keys if k is not self.me], author

    def decide(self) -> None:
        block, commits, _ = self.next_block()
        append(self.elsewhere, decode_block(block.sealed(0, [c.seal for c in commits]).raw))

    def fetch(self, first: int) -> Sequence[bytes]:
        head = self.elsewhere.head().block_number
        return [bytes(rlp.encode(self.elsewhere.block_by_number(n))) for n in range(first, head + 1)]


def test_one_validator_decides_blocks_only_when_there_is_work_and_after_the_block_period() -> None:
    clock, sent = Clock(), list[tuple[int, bytes]]()
    node = node_at(clock)
    consensus = loop(node, clock, sent)
    run(consensus, clock, 5)
    assert node.head().block_number == 0 and consensus.machine is None and sent == []  # idle: no height started
    node.submit(transfer(OPERATOR, 0))
    consensus.step(wait=0)  # the last block is over a period old: proposed and decided at once
    assert node.head().block_number == 1 and consensus.stats.decided == 1 and not node.mempool.pending
    assert {code for code, _ in sent} == {m.Code.PROPOSAL, m.Code.PREPARE, m.Code.COMMIT}
    node.submit(transfer(OPERATOR, 1))
    consensus.step(wait=0)
    assert consensus.machine is not None and node.head().block_number == 1  # started; proposes after the period
    run(consensus, clock, 0.75)
    assert node.head().block_number == 1
    run(consensus, clock, 0.5)
    assert node.head().block_number == 2
    run(consensus, clock, 5)
    assert node.head().block_number == 2  # idle again


def test_the_next_proposal_is_due_a_period_after_its_parents_timestamp_as_besus_block_timer() -> None:
    """Timestamps count whole seconds: a block decided late in its second (as after a long execution) is followed
    at the next second, a period after its timestamp, not a whole period after its decision."""
    clock, sent = Clock(), list[tuple[int, bytes]]()
    clock.now = 100.9
    node = node_at(clock)
    consensus = loop(node, clock, sent)
    node.submit(transfer(OPERATOR, 0))
    consensus.step(wait=0)
    assert node.head().block_number == 1 and node.head().timestamp == 1_700_000_100
    node.submit(transfer(OPERATOR, 1))
    consensus.step(wait=0)
    assert node.head().block_number == 1  # a period after the parent's timestamp is 101.0
    clock.now = 101.0
    consensus.step(wait=0)
    assert node.head().block_number == 2 and node.head().timestamp == 1_700_000_101  # not at 101.9


def test_empty_blocks_start_every_height() -> None:
    clock, sent = Clock(), list[tuple[int, bytes]]()
    node = node_at(clock)
    consensus = loop(node, clock, sent, empty_blocks=True)
    run(consensus, clock, 3.1)
    assert node.head().block_number == 4  # one at once, then one a period


def test_blocks_faster_than_the_second_wait_for_the_clock_once_their_timestamps_run_ahead() -> None:
    """Timestamps count seconds and rise by one at least: with a block period under a second the chain's time
    runs ahead, and past AHEAD_S a height waits for the clock instead of proposing what validators would refuse
    (over MAX_DRIFT_S ahead) and timing out."""
    clock, sent = Clock(), list[tuple[int, bytes]]()
    node = node_at(clock)
    consensus = Consensus(
        node, KEY, lambda code, body: sent.append((code, body)), period=0.01, timer=RoundTimer(base=2.0, cap=8.0),
        clock=clock,
    )  # fmt: skip
    nonce = 0
    while node.head().timestamp + 1 <= node.clock() + AHEAD_S:
        node.submit(transfer(OPERATOR, nonce))
        nonce += 1
        run(consensus, clock, 0.02, step=0.01)  # a block every 20 ms: timestamps outrun the clock
        assert node.head().block_number == nonce
    assert node.head().timestamp > node.clock() + AHEAD_S - 1
    node.submit(transfer(OPERATOR, nonce))
    run(consensus, clock, 0.5, step=0.01)
    assert node.head().block_number == nonce and consensus.machine is None  # waits, no round runs out
    run(consensus, clock, 1.0, step=0.01)
    assert node.head().block_number == nonce + 1 and consensus.stats.round_changes == 0
    assert node.head().timestamp <= node.clock() + AHEAD_S


def test_garbage_and_stale_messages_are_counted_and_change_nothing() -> None:
    clock, sent = Clock(), list[tuple[int, bytes]]()
    node = node_at(clock)
    consensus = loop(node, clock, sent, empty_blocks=True)
    run(consensus, clock, 0.1)
    assert node.head().block_number == 1
    stale = sent[0]  # the proposal of height 1, now past
    for code, body in [(0x12, b"garbage"), (0x99, b""), (0x13, b"\xc0"), stale]:
        assert consensus.deliver(code, body)
    for _ in range(4):
        consensus.step(wait=0)
    assert consensus.stats.garbage == 3 and consensus.stats.stale == 1
    assert node.head().block_number == 1 and consensus.stats.last_error == ""


def test_a_node_handed_a_later_heights_message_fetches_the_blocks_it_lacks_and_follows() -> None:
    clock, sent = Clock(), list[tuple[int, bytes]]()
    ahead = node_at(clock)
    leader = loop(ahead, clock, sent, empty_blocks=True)
    run(leader, clock, 3.1)
    assert ahead.head().block_number == 4

    def fetch(first: int) -> Sequence[bytes]:
        return [bytes(rlp.encode(ahead.block_by_number(n))) for n in range(first, ahead.head().block_number + 1)]

    behind = node_at(clock)
    follower = loop(behind, clock, [], PrivateKey(b"\x02" * 32), fetch=fetch)  # not a validator: the regulator's
    latest = sent[-1]  # a message of height 4 or 5: peers are ahead
    follower.deliver(*latest)
    follower.step(wait=0)
    assert behind.head().block_number == 4 and follower.stats.synced == 4
    assert behind.head().hash == ahead.head().hash
    run(follower, clock, 3)
    assert behind.head().block_number == 4 and not follower.is_validator  # it follows, never proposes


def test_a_follower_appends_the_proposed_block_once_a_quorum_commits_it_without_fetching() -> None:
    """The regulator's node is sent every PROPOSAL and COMMIT: it appends the decided block from them (seals
    checked, re-executed) instead of asking its peers, which may not have appended it yet when the COMMITs come."""
    clock, sent = Clock(), list[tuple[int, bytes]]()
    ahead = node_at(clock)
    leader = loop(ahead, clock, sent)
    ahead.submit(transfer(OPERATOR, 0))
    leader.step(wait=0)
    assert ahead.head().block_number == 1
    fetched: list[int] = []

    def fetch(first: int) -> Sequence[bytes]:
        fetched.append(first)
        return []  # no peer has it yet

    behind = node_at(clock)
    follower = loop(behind, clock, [], PrivateKey(b"\x02" * 32), fetch=fetch)
    follower.peer_at(0)  # its peers' head: its record of signed messages (new) is settled
    follower.step(wait=0)  # the sync asked at start
    fetched.clear()
    follower.deliver(*next((c, b) for c, b in sent if c == m.Code.PROPOSAL))
    follower.deliver(*next((c, b) for c, b in sent if c == m.Code.COMMIT))
    follower.step(wait=0)
    follower.step(wait=0)
    assert behind.head().hash == ahead.head().hash and fetched == []
    assert follower.stats.decided == 1 and follower.stats.synced == 0 and follower.stats.finality.count == 1
    assert len(behind.block_by_number(1).transactions) == 1  # type: ignore[union-attr]


def test_a_follower_sent_a_commit_for_a_block_it_was_not_proposed_fetches_it() -> None:
    clock, sent = Clock(), list[tuple[int, bytes]]()
    ahead = node_at(clock)
    leader = loop(ahead, clock, sent)
    ahead.submit(transfer(OPERATOR, 0))
    leader.step(wait=0)
    fetched: list[int] = []

    def fetch(first: int) -> Sequence[bytes]:
        fetched.append(first)
        return [bytes(rlp.encode(ahead.block_by_number(n))) for n in range(first, ahead.head().block_number + 1)]

    behind = node_at(clock)
    follower = loop(behind, clock, [], PrivateKey(b"\x02" * 32), fetch=fetch)
    follower.step(wait=0)  # the sync asked at start finds the block already
    assert behind.head().block_number == 1
    ahead.submit(transfer(OPERATOR, 1))
    clock.now += 1.0
    sent.clear()
    leader.step(wait=0)
    assert ahead.head().block_number == 2
    follower.deliver(*next((c, b) for c, b in sent if c == m.Code.COMMIT))  # its PROPOSAL lost
    follower.step(wait=0)
    follower.step(wait=0)
    assert behind.head().hash == ahead.head().hash and fetched[-1] == 2 and follower.stats.synced == 2


def test_a_validator_that_accepted_another_proposal_fetches_the_block_a_quorum_committed() -> None:
    """Regression: an equivocating proposer sent one block to two validators and another to the third; the two
    and the proposer committed theirs and decided it. The third held a quorum of COMMITs for a block it never
    accepted, and with no later height's message to come while the consortium was idle it stayed in that height,
    changing rounds alone. It fetches the block the quorum committed."""
    keys = [PrivateKey(bytes([i]) * 32) for i in (1, 2, 3, 4)]
    addresses = tuple(k.public_key.to_checksum_address() for k in keys)
    genesis = Genesis(20261, addresses, addresses[0], 1_700_000_000)
    clock = Clock()
    by_address = {k.public_key.to_canonical_address(): k for k in keys}
    first = by_address[proposer(sorted(by_address), b"\0" * 20, 0)]
    me = next(k for k in keys if k is not first)
    others = [k for k in keys if k is not me]

    elsewhere = Node(AtomicDB(), genesis, clock=lambda: 1_700_000_000 + clock.now)

    def fetch(first: int) -> Sequence[bytes]:
        return [
            bytes(rlp.encode(elsewhere.block_by_number(n))) for n in range(first, elsewhere.head().block_number + 1)
        ]

    node = Node(AtomicDB(), genesis, clock=lambda: 1_700_000_000 + clock.now)
    consensus = loop(node, clock, [], me, fetch=fetch, empty_blocks=True)
    consensus.peer_at(0)  # its peers' statuses: all at the genesis (its record, fresh, needs to know)
    run(consensus, clock, 0.5)
    assert consensus.machine is not None and node.head().block_number == 0  # height 1 runs; no proposal came

    block = NodeBlocks(elsewhere, first.public_key.to_canonical_address()).create(0)
    commits = [m.commit(k, block, 0) for k in others]
    append(elsewhere, decode_block(block.sealed(0, [c.seal for c in commits]).raw))
    for commit in commits:
        consensus.deliver(*m.encode(commit))
    run(consensus, clock, 1.0)  # within the round, long before SYNC_INTERVAL_S
    assert node.head().block_number == 1 and node.head().hash == elsewhere.head().hash
    assert consensus.stats.synced == 1


def test_a_started_validator_builds_its_first_block_once_its_peers_pending_transactions_are_in() -> None:
    """Right after a start the pool is empty; the peers' pending transactions come once the links' first status
    requests end (``ready``). A block built before would be empty: the first waits for them."""
    clock, sent = Clock(), list[tuple[int, bytes]]()
    node = node_at(clock)
    ready, asked = threading.Event(), threading.Event()

    def is_ready() -> bool:
        asked.set()
        return ready.is_set()

    consensus = loop(node, clock, sent, ready=is_ready, ready_wait=60.0)

    def peers_answer() -> None:
        asked.wait(30)  # until the block being built waits for the peers
        node.submit(transfer(OPERATOR, 0), gossip=False, hold=True)  # a peer's pending transaction, pulled
        ready.set()

    thread = threading.Thread(target=peers_answer)
    thread.start()
    block = consensus.blocks.create(0)
    thread.join()
    assert asked.is_set()
    assert len(decode_block(block.raw).transactions) == 1
    assert consensus.ready is None  # the wait happens once, after the start


def test_the_wait_for_the_peers_is_bounded() -> None:
    node = Node(AtomicDB(), GENESIS)
    consensus = Consensus(node, KEY, lambda code, body: None, ready=lambda: False, ready_wait=0.2)
    assert decode_block(consensus.blocks.create(0).raw).transactions == ()
    assert consensus.ready is None


def test_a_validator_on_a_wiped_store_abstains_in_the_height_in_progress_and_votes_from_the_next() -> None:
    """Its store is fresh (``chain.node.signed``) and its peers have decided two blocks. It starts no height and
    signs nothing until its peers' first statuses are in and it holds their head; then it sits out height 3, the
    one in progress (messages of it that came meanwhile were kept, and its machine follows the others' COMMITs),
    and votes at height 4."""
    world = Elsewhere()
    clock, me, elsewhere, next_block, fetch = world.clock, world.me, world.elsewhere, world.next_block, world.fetch
    for _ in range(2):
        world.decide()
    probed = threading.Event()
    sent: list[tuple[int, bytes]] = []
    node = world.node(AtomicDB())
    consensus = loop(node, clock, sent, me, fetch=fetch, ready=probed.is_set, empty_blocks=True)
    block, commits, author = next_block()
    consensus.deliver(*m.encode(m.proposal(author, block, 0)))
    run(consensus, clock, 1.0)
    assert node.head().block_number == 2 and consensus.signed.pending  # synced; its peers' heads not all in yet
    assert consensus.machine is None and sent == []  # no height started, nothing signed
    probed.set()
    consensus.peer_at(2)
    run(consensus, clock, 0.5)
    assert not consensus.signed.pending and consensus.signed.abstain_through == 3
    assert consensus.machine is not None and consensus.machine.height == 3
    run(consensus, clock, 6.0)  # its round timers expire: no ROUND-CHANGE either
    assert sent == [] and consensus.signed.abstained_heights == 1
    metrics = Metrics(node, signed=lambda: consensus.signed.counts(int(node.head().block_number)))
    lines = metrics.render().splitlines()
    assert {"consortium_consensus_abstained_heights_total 1", "consortium_consensus_abstaining 1"} <= set(lines)
    assert f"consortium_consensus_abstained_messages_total {consensus.signed.abstained}" in lines
    assert consensus.signed.abstained >= 3  # a PREPARE for the proposal kept meanwhile, ROUND-CHANGEs
    append(elsewhere, decode_block(block.sealed(0, [c.seal for c in commits]).raw))
    for commit in commits:
        consensus.deliver(*m.encode(commit))
    run(consensus, clock, 1.0)  # a message a turn
    assert node.head().hash == elsewhere.head().hash and consensus.stats.synced == 2  # by COMMITs, not fetched
    block, _, author = next_block()
    consensus.deliver(*m.encode(m.proposal(author, block, 0)))
    run(consensus, clock, 0.5)
    votes = [m.decode(code, body) for code, body in sent]
    assert any(isinstance(v, m.Prepare) and v.height == 4 and v.digest == block.hash for v in votes)
    assert all(v.height == 4 for v in votes)
    lines = metrics.render().splitlines()
    assert {"consortium_consensus_abstained_heights_total 1", "consortium_consensus_abstaining 0"} <= set(lines)
    assert {"consortium_consensus_signed_resent_total 0", "consortium_consensus_signed_conflicts_refused_total 0",
            "consortium_consensus_signed_withheld_total 0"} <= set(lines)  # fmt: skip


def test_a_fresh_record_with_no_peer_known_waits_and_at_the_genesis_does_not_abstain() -> None:
    """A node that finds its peers on its chain has none at first: an empty fetch proves nothing, so its fresh
    record waits for a peer's head. At the genesis (every validator of a new consortium starts fresh) it votes."""
    keys = [PrivateKey(bytes([i]) * 32) for i in (1, 2, 3, 4)]
    addresses = tuple(k.public_key.to_checksum_address() for k in keys)
    genesis = Genesis(20261, addresses, addresses[0], 1_700_000_000)
    clock, sent = Clock(), list[tuple[int, bytes]]()
    node = Node(AtomicDB(), genesis, clock=lambda: 1_700_000_000 + clock.now)
    author = next(k for k in keys if k.public_key.to_canonical_address() == proposer(
        sorted(k.public_key.to_canonical_address() for k in keys), bytes(20), 0))  # fmt: skip
    me = next(k for k in keys if k is not author)
    consensus = loop(node, clock, sent, me, fetch=lambda _first: [], ready=lambda: True, empty_blocks=True)
    block = NodeBlocks(
        Node(AtomicDB(), genesis, clock=lambda: 1_700_000_000 + clock.now), author.public_key.to_canonical_address()
    ).create(0)
    consensus.deliver(*m.encode(m.proposal(author, block, 0)))
    run(consensus, clock, 6.0)
    assert consensus.signed.pending and consensus.machine is None and sent == []
    consensus.peer_at(0)
    run(consensus, clock, 0.5)
    assert not consensus.signed.pending and consensus.signed.abstain_through == 0
    votes = [m.decode(code, body) for code, body in sent]
    assert any(isinstance(v, m.Prepare) and v.height == 1 and v.digest == block.hash for v in votes)  # kept, then fed


def test_a_validator_restored_from_a_backup_abstains_if_its_peers_are_past_the_backups_head_and_else_votes() -> None:
    """Its store is copied at head 1 (a backup); the validator goes on and its peers decide block 2. Started on
    the copy, its record is not fresh, but its store's head (1) is below its peers' (2): what it signed after the
    backup may be missing, so it signs nothing until it knows their head, sits out height 3, and votes at height 4.
    Started on its own store, kept (head 2, as its peers), it votes at height 3 at once."""
    world = Elsewhere()
    clock, me, elsewhere, next_block, fetch = world.clock, world.me, world.elsewhere, world.next_block, world.fetch
    decide = world.decide
    own = AtomicDB()
    node = world.node(own)
    mark_new(own)  # a directory `consortium init` made
    decide()
    first = loop(node, clock, [], me, fetch=fetch, ready=lambda: True)
    first.peer_at(1)
    run(first, clock, 0.5)  # its first start: it syncs block 1
    assert node.head().block_number == 1 and first.signed.abstain_through == 0
    backup = AtomicDB(MemoryDB(dict(own.wrapped_db.kv_store)))  # type: ignore[attr-defined]
    decide()
    run(first, clock, 6.0)  # block 2, from the periodic sync (its COMMIT there is not needed here)
    assert node.head().block_number == 2

    for store, since, through in ((own, 2, 0), (backup, 1, 3)):
        sent: list[tuple[int, bytes]] = []
        restarted = world.node(store)
        probed = threading.Event()
        consensus = loop(restarted, clock, sent, me, fetch=fetch, ready=probed.is_set, empty_blocks=True)
        assert consensus.signed.pending and consensus.signed.since == since  # a record: its store's head, unchecked
        block, commits, author = next_block()
        consensus.deliver(*m.encode(m.proposal(author, block, 0)))
        run(consensus, clock, 1.0)
        assert restarted.head().block_number == 2 and sent == []  # synced; its peers' heads not all in yet
        probed.set()
        consensus.peer_at(2)
        run(consensus, clock, 0.5)
        assert not consensus.signed.pending and consensus.signed.abstain_through == through
        if through == 0:
            assert [m.decode(code, body).height for code, body in sent][:1] == [3]  # the proposal kept, voted on
            continue
        run(consensus, clock, 6.0)  # its round timers expire: nothing at height 3
        assert sent == [] and consensus.signed.abstained_heights == 1
        append(elsewhere, decode_block(block.sealed(0, [c.seal for c in commits]).raw))
        for commit in commits:
            consensus.deliver(*m.encode(commit))
        run(consensus, clock, 1.0)
        assert restarted.head().hash == elsewhere.head().hash
        block, _, author = next_block()
        consensus.deliver(*m.encode(m.proposal(author, block, 0)))
        run(consensus, clock, 0.5)
        votes = [m.decode(code, body) for code, body in sent]
        assert any(isinstance(v, m.Prepare) and v.height == 4 and v.digest == block.hash for v in votes)


def test_a_follower_appends_no_block_proposed_by_a_validator_out_of_turn_nor_one_short_of_a_quorum() -> None:
    """The regulator's node appends a proposed block from COMMITs only if the round's proposer proposed it and a
    quorum of distinct validators sealed it. A block proposed by another validator, which a quorum of COMMITs names
    (those validators' seals are valid: only the proposer check stands in the way), is not appended from them (it
    asks its peers, which have nothing); the proposer's own block is not appended with two validators' seals, the
    same validator's twice and a stranger's, and is once a third validator's comes."""
    keys = [PrivateKey(bytes([i]) * 32) for i in (1, 2, 3, 4)]
    addresses = tuple(k.public_key.to_checksum_address() for k in keys)
    genesis = Genesis(20261, addresses, addresses[0], 1_700_000_000)
    clock = Clock()
    by_address = {k.public_key.to_canonical_address(): k for k in keys}
    elsewhere = Node(AtomicDB(), genesis, clock=lambda: 1_700_000_000 + clock.now)
    due = by_address[proposer(sorted(by_address), bytes(elsewhere.head().coinbase), 0)]
    out_of_turn = next(k for k in keys if k is not due)
    stranger = PrivateKey(b"\x09" * 32)
    fetched: list[int] = []

    def fetch(first: int) -> Sequence[bytes]:
        fetched.append(first)
        return []  # no peer has a block to give

    node = Node(AtomicDB(), genesis, clock=lambda: 1_700_000_000 + clock.now)
    follower = loop(node, clock, [], stranger, fetch=fetch, ready=lambda: True)
    follower.peer_at(0)
    run(follower, clock, 0.5)
    assert not follower.is_validator and not follower.signed.pending
    fetched.clear()

    forged = NodeBlocks(elsewhere, out_of_turn.public_key.to_canonical_address()).create(0)
    follower.deliver(*m.encode(m.proposal(out_of_turn, forged, 0)))
    for key in keys:
        if key is not due:
            follower.deliver(*m.encode(m.commit(key, forged, 0)))  # a quorum (3 of 4), every seal valid
    run(follower, clock, 1.0)
    assert node.head().block_number == 0 and follower.stats.decided == 0
    assert fetched != []  # a COMMIT for a block it was not proposed: it asks its peers instead

    block = NodeBlocks(elsewhere, due.public_key.to_canonical_address()).create(0)
    follower.deliver(*m.encode(m.proposal(due, block, 0)))
    voters = [k for k in keys if k is not out_of_turn]
    short = [m.commit(voters[0], block, 0), m.commit(voters[1], block, 0), m.commit(voters[1], block, 0),
             m.commit(stranger, block, 0)]  # fmt: skip
    for commit in short:
        follower.deliver(*m.encode(commit))
    run(follower, clock, 1.0)
    assert node.head().block_number == 0 and follower.stats.decided == 0
    follower.deliver(*m.encode(m.commit(voters[2], block, 0)))
    run(follower, clock, 0.5)
    assert node.head().block_number == 1 and node.head().hash == block.hash and follower.stats.decided == 1


def test_a_fetched_block_has_every_seal_recovered_even_those_its_commits_showed(monkeypatch: MonkeyPatch) -> None:
    """A block decided from COMMITs is appended with the seals the loop checked in them, none recovered again; one
    fetched from a peer is not: each of its seals is recovered at append and counted against the validator set,
    also those whose COMMITs this node checked already, and the same seals under another round (the same block
    hash) refuse it."""
    recoveries: list[bytes] = []

    def counted(digest: bytes, seal: bytes) -> bytes:
        recoveries.append(seal)
        return recover(digest, seal)

    monkeypatch.setattr("chain.seal.recover", counted)  # append's check, not the loop's own of each COMMIT
    world = Elsewhere()
    clock = world.clock
    served: list[bytes] = []
    node = world.node(AtomicDB())
    follower = loop(node, clock, [], PrivateKey(b"\x09" * 32), fetch=lambda first: served, ready=lambda: True)
    follower.peer_at(0)
    follower.step(wait=0)  # the sync asked at start: nothing yet
    for height in (1, 2):
        served.clear()
        block, commits, author = world.next_block()
        seals = [c.seal for c in commits]
        follower.deliver(*m.encode(m.proposal(author, block, 0)))
        for commit in commits[:2]:  # two of the three: below the quorum, each seal checked by the loop
            follower.deliver(*m.encode(commit))
        run(follower, clock, 0.5)
        assert node.head().block_number == height - 1 and recoveries == []
        if height == 1:
            served[:] = [block.sealed(1, seals).raw]  # round 1 claimed, seals over round 0's digest
            run(follower, clock, 6.0)  # the periodic sync
            assert node.head().block_number == 0 and "seals" in follower.stats.last_error
            assert sorted(recoveries) == sorted(seals)
            recoveries.clear()
            follower.deliver(*m.encode(commits[2]))  # the quorum: decided from the COMMITs
            run(follower, clock, 0.5)
            assert node.head().block_number == 1 and follower.stats.decided == 1 and recoveries == []
        else:
            served[:] = [block.sealed(0, seals).raw]
            run(follower, clock, 6.0)
            assert node.head().hash == decode_block(served[0]).hash and follower.stats.synced == 1
            assert sorted(recoveries) == sorted(seals)  # every seal, the two its COMMITs showed included
        append(world.elsewhere, decode_block(block.sealed(0, seals).raw))  # the peers' chain moves on
        recoveries.clear()


def test_a_validator_whose_account_rotated_seals_with_the_new_key_from_the_height_the_set_names_it() -> None:
    """op, the one validator, adds a second account and the second removes the first (``identity rotate-account``):
    from the block after the removal the set names the second account. The loop asks ``keys`` at that height's
    start and seals with the key that the set names; without ``keys`` it cannot seal at all."""
    chain = ValidatorChain()
    chain.accounts["op2"], chain.nonces["op2"] = Account.create(), 0
    op, op2 = chain.accounts["op"], chain.accounts["op2"]
    chain.send("op", chain.registry, registry_call("add_account", op2.address))
    chain.seal()
    assert chain.validators() == (validator_address(op),)  # a member's first account is its validator's
    chain.send("op2", chain.registry, registry_call("remove_account", op.address))
    chain.seal()
    assert chain.validators() == (validator_address(op2),)
    head = int(chain.node.head().block_number)
    mark_new(chain.node.db)
    sealed_alone(chain.node.db, head)  # its blocks so far sealed by hand, as a lone validator's are at init
    clock, sent = Clock(), list[tuple[int, bytes]]()

    stuck = loop(chain.node, clock, sent, PrivateKey(bytes(op.key)), fetch=lambda _first: [], ready=lambda: True)
    chain.send("op2", chain.registry, registry_call("propose_threshold", 1))
    stuck.peer_at(head)
    run(stuck, clock, 3.0)
    assert int(chain.node.head().block_number) == head and sent == []  # op's key is no validator's now

    staged = PrivateKey(bytes(op2.key))
    asked: list[int] = []

    def keys() -> list[PrivateKey]:
        asked.append(int(chain.node.head().block_number))
        return [PrivateKey(bytes(op.key)), staged]

    rotating = loop(chain.node, clock, sent, PrivateKey(bytes(op.key)), fetch=lambda _first: [],
                    ready=lambda: True, keys=keys)  # fmt: skip
    rotating.peer_at(head)
    run(rotating, clock, 3.0)
    assert int(chain.node.head().block_number) == head + 1, rotating.stats
    assert rotating.me == validator_address(op2) and rotating.blocks.proposer == rotating.me and asked == [head]
    sealed = chain.node.head()
    assert bytes(sealed.coinbase) == rotating.me and seal_signers(sealed) == [rotating.me]
    assert rotating.signed.me == rotating.me
    assert {m.decode(code, body).author for code, body in sent} == {rotating.me}
    again = SignedLog(chain.node.db, rotating.me)  # a restart with the new key keeps the record as its own
    again.load()
    assert not again.pending
