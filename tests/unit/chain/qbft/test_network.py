"""Whole networks of QBFT validators in one process (``sim.Network``): the happy path, crashed validators,
restarts, partitions, a prepared block carried into a later round, garbage, and a Byzantine equivocator. After
every run no two honest validators decided different blocks at one height, and every block carries a quorum
of seals from the validators over its commit digest."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from chain.qbft import messages as m
from chain.qbft.rules import RoundTimer, proposer
from tests.unit.chain.qbft.sim import Network


def test_four_validators_decide_a_block_per_period_in_round_zero_with_the_proposer_rotating() -> None:
    net = Network(4)
    assert net.run_until(net.all_reach(8), until=60.0)
    net.assert_agreement()
    blocks = net.nodes[0].chain.blocks
    assert all(b.extra.round == 0 for b in blocks[1:9])
    for parent, block in itertools.pairwise(blocks[:9]):
        assert block.proposer == proposer(net.validators, parent.proposer, 0)
    assert len({b.proposer for b in blocks[1:9]}) == 4
    assert net.now < 8 * 1.0 + 8 * 0.5  # a period plus message latency per block, no timeouts


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_other_sizes_decide(n: int) -> None:
    net = Network(n, seed=n)
    assert net.run_until(net.all_reach(3), until=60.0)
    net.assert_agreement()


def test_one_of_four_down_a_non_proposer_keeps_round_zero() -> None:
    net = Network(4)
    first = proposer(net.validators, bytes(20), 0)
    down = next(i for i, node in enumerate(net.nodes) if node.me != first)
    net.stop(down)
    assert net.run_until(net.all_reach(2), until=60.0)
    blocks = net.nodes[(down + 1) % 4].chain.blocks
    assert blocks[1].extra.round == 0
    assert net.nodes[down].chain.head.number == 0


def test_one_of_four_down_the_proposer_costs_one_round_change_at_its_heights() -> None:
    net = Network(4, timer=RoundTimer(base=2.0, cap=16.0))
    first = proposer(net.validators, bytes(20), 0)
    down = next(i for i, node in enumerate(net.nodes) if node.me == first)
    net.stop(down)
    assert net.run_until(net.all_reach(6), until=120.0)
    net.assert_agreement()
    blocks = net.nodes[(down + 1) % 4].chain.blocks
    assert blocks[1].extra.round == 1 and blocks[1].proposer != first  # round 0's proposer was the dead one
    assert sum(b.extra.round > 0 for b in blocks[1:7]) <= 2  # it comes round once in four heights
    assert all(first not in b.committers() for b in blocks[1:])


def test_two_of_four_down_stalls_and_resumes_once_they_are_back() -> None:
    net = Network(4, timer=RoundTimer(base=1.0, cap=8.0))
    assert net.run_until(net.all_reach(2), until=60.0)
    net.stop(0)
    net.stop(1)
    before = max(net.heights())
    net.run_for(60.0)
    assert max(net.heights()) <= before + 1  # a block in flight may complete; then nothing
    stalled = max(net.heights())
    net.restart(0)
    net.restart(1)
    back = net.now
    assert net.run_until(net.all_reach(stalled + 2), until=back + 40.0)  # cap 8 s: bounded however long the stall
    net.assert_agreement()


def test_a_validator_restarted_with_a_wiped_directory_syncs_and_votes_again() -> None:
    """Besu #8307. Each validator keeps what it signs, as a node does: the wiped one's record is fresh, so it sits
    out the height in progress (``chain.node.signed``) and seals again from the next."""
    net = Network(4, keep_signed=True)
    assert net.run_until(net.all_reach(3), until=60.0)
    net.stop(2)
    net.restart(2, wipe=True)
    assert net.nodes[2].chain.head.number >= 3  # fetched, each block checked for a quorum of seals
    target = max(net.heights()) + 4
    assert net.run_until(net.all_reach(target), until=net.now + 60.0)
    net.assert_agreement()
    later = net.nodes[0].chain.blocks[target - 3 : target + 1]
    assert any(net.nodes[2].me in b.committers() for b in later)  # it seals again


def test_a_prepared_block_is_re_proposed_in_the_next_round_with_its_hash() -> None:
    """All four prepare the round-0 block but no commit gets through: round 1's proposer must propose that same
    block again (Besu #7875: a new round's proposal re-uses the highest prepared block), not a new one."""
    net = Network(4)
    net.drop = lambda _s, _d, msg: isinstance(msg, m.Commit) and msg.round == 0
    first = proposer(net.validators, bytes(20), 0)
    prepared: dict[str, bytes] = {}

    def all_prepared() -> bool:
        ready = [n.machine.prepared for n in net.nodes]
        if all(p is not None and p.round == 0 for p in ready):
            prepared["hash"] = ready[0].block.hash  # type: ignore[union-attr]
            return True
        return False

    assert net.run_until(all_prepared, until=10.0)
    assert net.run_until(net.all_reach(1), until=60.0)
    block = net.nodes[0].chain.blocks[1]
    assert block.hash == prepared["hash"] and block.extra.round == 1
    assert block.proposer == first  # the round-0 proposer's block, proposed again by round 1's
    net.assert_agreement()


def test_a_two_two_partition_decides_nothing_and_heals() -> None:
    net = Network(4, timer=RoundTimer(base=1.0, cap=4.0))
    assert net.run_until(net.all_reach(1), until=30.0)
    side = {0: "a", 1: "a", 2: "b", 3: "b"}
    net.drop = lambda s, d, _msg: side[s] != side[d]
    at = max(net.heights())
    net.run_for(40.0)
    assert max(net.heights()) <= at + 1
    net.drop = lambda _s, _d, _msg: False
    assert net.run_until(net.all_reach(max(net.heights()) + 3), until=net.now + 40.0)
    net.assert_agreement()


def test_garbage_and_strangers_are_ignored_and_the_network_goes_on() -> None:
    from tests.unit.chain.qbft.chainlike import keys

    net = Network(4)
    stranger = keys(9)[8]
    for i, raw in enumerate([b"", b"\xc0", os.urandom(64), b"\xf8\xff" + os.urandom(300)]):
        for code in m.Code:
            net.inject(i % 4, int(code), raw)
    net.inject(1, 0x16, b"\xc0")
    assert net.run_until(net.all_reach(1), until=30.0)
    for dst in range(4):
        height = net.nodes[dst].machine.height
        net.inject(dst, *m.encode(m.prepare(stranger, height, 0, b"\x01" * 32)))
        net.inject(dst, *m.encode(m.round_change(stranger, height, 5)))
    assert net.run_until(net.all_reach(4), until=60.0)
    assert net.garbage == 4 * 4 + 1
    assert sum(n.machine.counters.ignored for n in net.nodes) + net.garbage >= 1
    net.assert_agreement()


def test_an_equivocating_proposer_cannot_make_honest_validators_decide_two_blocks() -> None:
    for seed in range(6):
        net = Network(4, seed=seed, timer=RoundTimer(base=1.0, cap=4.0))
        first = proposer(net.validators, bytes(20), 0)
        byz = next(i for i, node in enumerate(net.nodes) if node.me == first)
        net.nodes[byz].equivocates = True
        assert net.run_until(net.all_reach(4), until=120.0), (seed, net.heights())
        net.assert_agreement()


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    seed=st.integers(0, 2**32 - 1),
    loss=st.floats(0.0, 0.6),
    heal_at=st.floats(0.0, 30.0),
    latency=st.tuples(st.floats(0.001, 0.5), st.floats(0.0, 1.5)),
    byzantine=st.booleans(),
)
def test_under_any_loss_and_delay_no_fork_and_progress_after_healing(
    seed: int, loss: float, heal_at: float, latency: tuple[float, float], byzantine: bool
) -> None:
    low, extra = latency
    net = Network(4, seed=seed, timer=RoundTimer(base=1.0, cap=4.0), latency=(low, low + extra))
    if byzantine:
        net.nodes[seed % 4].equivocates = True
    net.drop = lambda _s, _d, _msg: net.now < heal_at and net.random.random() < loss
    net.run_for(heal_at)
    net.assert_agreement()
    start = max(n.chain.head.number for n in net.honest())
    for i in range(4):
        net.catch_up(i)
    assert net.run_until(net.all_reach(start + 2), until=net.now + 90.0), net.heights()
    net.assert_agreement()
