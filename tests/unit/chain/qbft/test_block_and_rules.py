"""Besu's hashing rules on a real block, the quorum table, proposer rotation and the round timer."""

from __future__ import annotations

import pytest
import rlp
from eth_hash.auto import keccak

from chain.errors import MalformedError
from chain.qbft.block import QbftBlock, sign
from chain.qbft.extradata import ExtraData
from chain.qbft.rules import RoundTimer, faults, proposer, quorum
from tests.unit.chain.qbft.chainlike import address, keys, make_block

VALIDATORS = tuple(sorted(address(k) for k in keys(4)))


def test_the_block_hash_leaves_out_round_and_seals_and_the_commit_digest_keeps_the_round() -> None:
    block = make_block(bytes(32), 1, VALIDATORS[0], VALIDATORS, round_=0)
    header = rlp.decode(block.raw)[0]
    assert block.hash == keccak(rlp.encode(header))  # round 0, no seals: the header as it is
    again = block.with_round(3)
    assert again.hash == block.hash and again.extra.round == 3
    assert again.commit_digest(3) != block.commit_digest(0) and block.commit_digest(0) == block.hash
    sealed = again.sealed(3, [sign(k, again.commit_digest(3)) for k in keys(3)])
    assert sealed.hash == block.hash and sealed.raw != again.raw
    assert sealed.committers() == [address(k) for k in keys(3)]
    unsealed_round3 = list(header)
    unsealed_round3[12] = ExtraData(bytes(32), VALIDATORS, None, 3).encode()
    assert again.commit_digest(3) == keccak(rlp.encode(unsealed_round3))


def test_a_blocks_hash_kept_once_computed_is_the_one_computed_afresh_and_another_extra_is_hashed_again() -> None:
    """The hash a block keeps (and its copies in another round or sealed keep) is the one a fresh decode computes;
    a block whose extra data changes otherwise (other validators) is hashed again."""
    block = make_block(bytes(32), 1, VALIDATORS[0], VALIDATORS, round_=0)
    first = block.hash
    for copy in (block.with_round(2), block.sealed(2, [sign(k, block.commit_digest(2)) for k in keys(3)])):
        assert copy.hash == first == QbftBlock.decode(copy.raw).hash
    other = block.with_extra(ExtraData(bytes(32), VALIDATORS[:3], None, 0))
    assert other.hash == QbftBlock.decode(other.raw).hash != first
    assert block == QbftBlock.decode(block.raw)  # the kept hash takes no part in equality


def test_a_seal_over_another_round_recovers_someone_else() -> None:
    block = make_block(bytes(32), 1, VALIDATORS[0], VALIDATORS)
    wrong = block.sealed(1, [sign(keys(1)[0], block.commit_digest(0))])
    assert wrong.committers() != [address(keys(1)[0])]


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xc0", rlp.encode([[b"\x00"] * 15, [], []]), rlp.encode([b"header", [], []]), rlp.encode([[], []])],
)
def test_a_block_that_is_not_one_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedError):
        QbftBlock.decode(raw)


def test_the_quorum_table() -> None:
    assert [quorum(n) for n in range(1, 11)] == [1, 2, 2, 3, 4, 4, 5, 6, 6, 7]
    assert [faults(n) for n in range(1, 11)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    for n in range(1, 101):
        assert 2 * quorum(n) - n >= faults(n) + 1  # two quorums share an honest validator
        assert n - faults(n) >= quorum(n)  # the honest ones alone make a quorum
    with pytest.raises(ValueError):
        quorum(0)


def test_the_proposer_rotates_after_the_previous_one_and_with_each_round() -> None:
    v = [bytes([i]) * 20 for i in (0x10, 0x20, 0x30, 0x40)]
    assert [proposer(v, v[1], r) for r in range(5)] == [v[2], v[3], v[0], v[1], v[2]]
    assert proposer(v, v[3], 0) == v[0]
    assert proposer(v, bytes(20), 0) == v[0]  # the genesis block's zero beneficiary: the first validator
    assert proposer(v, bytes([0x25]) * 20, 0) == v[2]  # a removed proposer: the first one above it, round 0
    assert proposer(v, bytes([0x25]) * 20, 1) == v[3]
    assert proposer(v, bytes([0x50]) * 20, 0) == v[0]  # above all of them: wrap around
    with pytest.raises(ValueError):
        proposer(list(reversed(v)), v[0], 0)


def test_the_round_timer_doubles_up_to_its_cap() -> None:
    timer = RoundTimer(base=1.0, cap=10.0)
    assert [timer.duration(r) for r in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert timer.duration(10_000) == 10.0
    with pytest.raises(ValueError):
        RoundTimer(base=0.0)
    with pytest.raises(ValueError):
        RoundTimer(base=5.0, cap=1.0)
