"""One validator's state machine fed hand-made messages: each refusal of the specification, and the rules that
move rounds. The validator under test is ``KEYS[3]``; the messages are signed by the others."""

from __future__ import annotations

from typing import TypeVar

import pytest
from eth_keys.datatypes import PrivateKey

from chain.qbft import messages as m
from chain.qbft.block import QbftBlock, recover
from chain.qbft.machine import Broadcast, Decided, Height
from chain.qbft.rules import RoundTimer, proposer
from tests.unit.chain.qbft.chainlike import Chain, address, keys, make_block

KEYS = sorted(keys(4), key=address)  # KEYS[i] is validator i in address order
VALIDATORS = tuple(address(k) for k in KEYS)
GENESIS = Chain(VALIDATORS[0], VALIDATORS).genesis


def key_of(addr: bytes) -> PrivateKey:
    return next(k for k in KEYS if address(k) == addr)


def machine(me: int = 3, *, early: bool = True) -> Height:
    chain = Chain(VALIDATORS[me], VALIDATORS)
    return Height(KEYS[me], 1, VALIDATORS, GENESIS.proposer, chain, now=0.0, propose_at=1.0,
                  timer=RoundTimer(base=2.0, cap=16.0), early_round_change=early)  # fmt: skip


def block_by(author: bytes, round_: int, payload: bytes = b"") -> QbftBlock:
    return make_block(GENESIS.hash, 1, author, VALIDATORS, round_, payload)


T = TypeVar("T", m.Proposal, m.Prepare, m.Commit, m.RoundChange)


def sent(actions: list[Broadcast | Decided], kind: type[T]) -> list[T]:
    return [a.message for a in actions if isinstance(a, Broadcast) and isinstance(a.message, kind)]


def prepared_round_changes(round_: int, pr: int, block: QbftBlock, authors: range) -> tuple[m.RoundChange, ...]:
    cert = tuple(m.prepare(KEYS[i], 1, pr, block.hash) for i in range(3))
    return tuple(m.round_change(KEYS[i], 1, round_, (pr, block.with_round(pr), cert)) for i in authors)


def test_a_valid_round_zero_proposal_is_prepared() -> None:
    h = machine()
    first = h.proposer(0)
    block = block_by(first, 0)
    out = h.receive(m.proposal(key_of(first), block, 0), 0.5)
    assert [p.digest for p in sent(out, m.Prepare)] == [block.hash]


def test_a_proposal_from_a_validator_that_is_not_the_proposer_is_ignored() -> None:
    h = machine()
    other = next(v for v in VALIDATORS if v != h.proposer(0))
    out = h.receive(m.proposal(key_of(other), block_by(other, 0), 0), 0.5)
    assert out == [] and h.counters.reasons == {"proposal from a validator that is not the round's proposer": 1}


def test_a_round_zero_proposal_with_a_justification_is_ignored() -> None:
    h = machine()
    first = h.proposer(0)
    block = block_by(first, 0)
    rcs = tuple(m.round_change(KEYS[i], 1, 0) for i in range(3))
    assert h.receive(m.proposal(key_of(first), block, 0, rcs), 0.5) == []
    assert h.counters.reasons == {"round-0 proposal carries a justification": 1}


def test_a_round_zero_block_by_someone_else_and_a_second_proposal_are_ignored() -> None:
    h = machine()
    first = h.proposer(0)
    other = next(v for v in VALIDATORS if v != first)
    assert h.receive(m.proposal(key_of(first), block_by(other, 0), 0), 0.5) == []
    assert h.receive(m.proposal(key_of(first), block_by(first, 0), 0), 0.5) != []
    assert h.receive(m.proposal(key_of(first), block_by(first, 0, b"other"), 0), 0.5) == []
    assert h.counters.reasons == {"round-0 block is not the proposer's own": 1, "second proposal for a round": 1}


def test_an_invalid_block_is_not_prepared() -> None:
    h = machine()
    first = h.proposer(0)
    orphan = make_block(b"\x01" * 32, 1, first, VALIDATORS)
    assert h.receive(m.proposal(key_of(first), orphan, 0), 0.5) == []
    assert h.counters.reasons == {"proposed block is not valid": 1}


def test_prepares_before_their_proposal_count_once_it_comes_and_commits_decide() -> None:
    h = machine()
    first = h.proposer(0)
    block = block_by(first, 0)
    others = [i for i in range(3)]
    for i in others:
        assert h.receive(m.prepare(KEYS[i], 1, 0, block.hash), 0.2) == []
    out = h.receive(m.proposal(key_of(first), block, 0), 0.5)
    assert len(sent(out, m.Prepare)) == 1 and len(sent(out, m.Commit)) == 1
    assert h.prepared is not None and h.prepared.block.hash == block.hash
    decided: list[Broadcast | Decided] = []
    for i in others[:2]:
        decided += h.receive(m.commit(KEYS[i], block, 0), 0.6)
    final = [a.block for a in decided if isinstance(a, Decided)]
    assert len(final) == 1 and final[0].hash == block.hash
    assert set(final[0].committers()) == {VALIDATORS[0], VALIDATORS[1], VALIDATORS[3]}


def test_a_commit_whose_seal_is_not_its_authors_is_not_counted() -> None:
    h = machine()
    first = h.proposer(0)
    block = block_by(first, 0)
    h.receive(m.proposal(key_of(first), block, 0), 0.5)
    for i in range(3):
        h.receive(m.prepare(KEYS[i], 1, 0, block.hash), 0.5)
    good = m.commit(KEYS[0], block, 0)
    forged_seal = m.commit(KEYS[1], block, 1).seal  # a seal over the round-1 digest
    bad = m.Commit(1, 0, block.hash, forged_seal)
    signed = m.decode(*m.encode(m.Commit(1, 0, block.hash, forged_seal, *_sign(KEYS[1], bad))))
    assert h.receive(good, 0.6) == []
    assert h.receive(signed, 0.6) == []
    assert h.decided is None and h.counters.reasons["commit seal does not match its author"] == 1


def test_each_commit_seal_is_recovered_once_however_often_the_commits_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each COMMIT that arrives makes the machine count all of the round's commits again: a seal's check is kept,
    so a height with n commits recovers n seals, not 1 + 2 + ... + n. A forged seal stays refused."""
    recovered: list[bytes] = []

    def counted(digest: bytes, signature: bytes) -> bytes:
        recovered.append(signature)
        return recover(digest, signature)

    monkeypatch.setattr("chain.qbft.machine.recover", counted)
    h = machine()
    first = h.proposer(0)
    block = block_by(first, 0)
    h.receive(m.proposal(key_of(first), block, 0), 0.5)
    forged_seal = m.commit(KEYS[2], block, 1).seal  # over the round-1 digest
    bad = m.Commit(1, 0, block.hash, forged_seal)
    forged = m.decode(*m.encode(m.Commit(1, 0, block.hash, forged_seal, *_sign(KEYS[2], bad))))
    assert isinstance(forged, m.Commit)
    commits = [m.commit(KEYS[0], block, 0), forged, m.commit(KEYS[1], block, 0)]
    for commit in commits:  # before the block is prepared here: kept, then counted at each arrival
        h.receive(commit, 0.6)
    assert h.decided is None
    out: list[Broadcast | Decided] = []
    for i in range(3):
        out += h.receive(m.prepare(KEYS[i], 1, 0, block.hash), 0.6)
    final = [a.block for a in out if isinstance(a, Decided)]
    assert len(final) == 1 and set(final[0].committers()) == {VALIDATORS[0], VALIDATORS[1], VALIDATORS[3]}
    assert sorted(recovered) == sorted([c.seal for c in commits] + [sent(out, m.Commit)[0].seal])
    assert len(set(recovered)) == len(recovered) == 4


def _sign(key: PrivateKey, message: m.Commit) -> tuple[bytes, bytes]:
    from chain.qbft.block import sign

    return address(key), sign(key, m.signing_digest(m.Code.COMMIT, message.payload()))


def test_the_round_timer_moves_to_the_next_round_with_a_round_change_and_doubles() -> None:
    h = machine()
    assert h.tick(1.9) == [] or h.proposer(0) == VALIDATORS[3]
    out = h.tick(2.0)
    assert [rc.round for rc in sent(out, m.RoundChange)] == [1] and h.round == 1
    assert h.deadline() == 2.0 + 4.0
    assert h.tick(5.9) == []
    assert [rc.round for rc in sent(h.tick(6.0), m.RoundChange)] == [2] and h.deadline() == 6.0 + 8.0


def test_a_round_whose_timer_expires_without_a_valid_proposal_counts_a_missed_proposal_for_its_proposer() -> None:
    first, second = (proposer(VALIDATORS, GENESIS.proposer, r) for r in (0, 1))
    me = next(i for i in range(4) if VALIDATORS[i] not in (first, second))
    h = machine(me)
    h.tick(2.0)  # round 0's proposer sent nothing
    assert h.round == 1 and h.counters.missed_proposals == {first: 1}
    rcs = tuple(m.round_change(KEYS[i], 1, 1) for i in range(4) if i != me)
    assert sent(h.receive(later_proposal(rcs, block_by(second, 1), (), 1), 2.5), m.Prepare)
    h.tick(6.0)  # round 1 had a valid proposal and still timed out (no quorum of prepares): not a missed one
    assert h.round == 2 and h.counters.missed_proposals == {first: 1}
    assert h.counters.round_changes == 2


def test_duplicate_round_changes_are_not_counted() -> None:
    h = machine(early=False)
    target = next(r for r in range(1, 9) if proposer(VALIDATORS, GENESIS.proposer, r) == VALIDATORS[3])
    rc0 = m.round_change(KEYS[0], 1, target)
    assert h.receive(rc0, 0.1) == [] and h.receive(rc0, 0.1) == []
    assert h.counters.reasons == {"duplicate round change": 1}
    out = h.receive(m.round_change(KEYS[1], 1, target), 0.1)
    assert out == [] and h.round == 0  # two of three, one of them twice: no quorum


def test_a_quorum_of_round_changes_makes_the_rounds_proposer_propose_a_new_block() -> None:
    h = machine(early=False)
    target = next(r for r in range(1, 9) if proposer(VALIDATORS, GENESIS.proposer, r) == VALIDATORS[3])
    out: list[Broadcast | Decided] = []
    for i in range(3):
        out += h.receive(m.round_change(KEYS[i], 1, target), 0.1)
    proposals = sent(out, m.Proposal)
    assert h.round == target and len(proposals) == 1
    p = proposals[0]
    assert isinstance(p, m.Proposal) and p.block.proposer == VALIDATORS[3] and not p.prepares
    assert len(p.round_changes) == 3 and p.block.extra.round == target


def test_f_plus_one_round_changes_for_later_rounds_move_the_validator_early() -> None:
    h = machine()
    assert h.receive(m.round_change(KEYS[0], 1, 5), 0.1) == [] and h.round == 0  # one is not f+1 = 2
    out = h.receive(m.round_change(KEYS[1], 1, 3), 0.1)
    assert h.round == 3 and [rc.round for rc in sent(out, m.RoundChange)] == [3]
    assert h.counters.early_round_changes == 1
    off = machine(early=False)
    off.receive(m.round_change(KEYS[0], 1, 5), 0.1)
    off.receive(m.round_change(KEYS[1], 1, 3), 0.1)
    assert off.round == 0


def later_proposal(
    rcs: tuple[m.RoundChange, ...], block: QbftBlock, prepares: tuple[m.Prepare, ...], r: int
) -> m.Proposal:
    author = proposer(VALIDATORS, GENESIS.proposer, r)
    return m.proposal(key_of(author), block.with_round(r), r, rcs, prepares)


def round_with_proposer_not_me() -> int:
    return next(r for r in range(1, 9) if proposer(VALIDATORS, GENESIS.proposer, r) != VALIDATORS[3])


def test_a_justified_later_round_proposal_of_the_prepared_block_moves_the_validator_and_is_prepared() -> None:
    h = machine(early=False)
    r = round_with_proposer_not_me()
    old = block_by(proposer(VALIDATORS, GENESIS.proposer, 0), 0)
    rcs = prepared_round_changes(r, 0, old, range(3))
    cert = tuple(m.prepare(KEYS[i], 1, 0, old.hash) for i in range(3))
    out = h.receive(later_proposal(rcs, old, cert, r), 0.3)
    assert h.round == r and [p.digest for p in sent(out, m.Prepare)] == [old.hash]


CERTIFICATE_SHORT = "prepared certificate lacks a quorum of prepares from distinct validators"
CERTIFICATE_WRONG = "prepared certificate holds a prepare for another height, round or block"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("two prepares", CERTIFICATE_SHORT),
        ("prepares for another block", CERTIFICATE_WRONG),
        ("prepares for another round", CERTIFICATE_WRONG),
        ("a new block despite a prepared one", "proposed block is not the highest prepared block"),
        ("two round changes", "justification lacks a quorum of round changes from distinct validators"),
        ("round changes for another round", "justification holds a round change for another height or round"),
        ("one prepare counted twice", CERTIFICATE_SHORT),
        ("prepares but none prepared", "justification carries prepares but no round change was prepared"),
    ],
)
def test_an_unjustified_later_round_proposal_is_ignored(fault: str, reason: str) -> None:
    h = machine(early=False)
    r = round_with_proposer_not_me()
    author = proposer(VALIDATORS, GENESIS.proposer, r)
    old = block_by(proposer(VALIDATORS, GENESIS.proposer, 0), 0)
    rcs = prepared_round_changes(r, 0, old, range(3))
    cert = tuple(m.prepare(KEYS[i], 1, 0, old.hash) for i in range(3))
    block = old
    if fault == "two prepares":
        cert = cert[:2]
    elif fault == "prepares for another block":
        cert = tuple(m.prepare(KEYS[i], 1, 0, b"\x07" * 32) for i in range(3))
    elif fault == "prepares for another round":
        cert = tuple(m.prepare(KEYS[i], 1, 1, old.hash) for i in range(3))
    elif fault == "a new block despite a prepared one":
        block, cert = block_by(author, r, b"new"), ()
    elif fault == "two round changes":
        rcs = rcs[:2]
    elif fault == "round changes for another round":
        rcs = prepared_round_changes(r + 1, 0, old, range(3))
    elif fault == "one prepare counted twice":
        cert = (cert[0], cert[0], cert[1])
    elif fault == "prepares but none prepared":
        rcs = tuple(m.round_change(KEYS[i], 1, r) for i in range(3))
        block = block_by(author, r, b"new")
    out = h.receive(later_proposal(rcs, block, cert, r), 0.3)
    assert out == [] and h.round == 0 and h.counters.reasons == {reason: 1}


def test_a_round_change_with_a_bad_certificate_is_ignored() -> None:
    h = machine(early=False)
    old = block_by(proposer(VALIDATORS, GENESIS.proposer, 0), 0)
    short = tuple(m.prepare(KEYS[i], 1, 0, old.hash) for i in range(2))
    assert h.receive(m.round_change(KEYS[0], 1, 2, (0, old, short)), 0.1) == []
    late = tuple(m.prepare(KEYS[i], 1, 2, old.hash) for i in range(3))
    assert h.receive(m.round_change(KEYS[1], 1, 2, (2, old, late)), 0.1) == []
    assert h.counters.ignored == 2 and all(k.startswith("round change:") for k in h.counters.reasons)


def test_messages_for_other_heights_and_from_strangers_are_ignored() -> None:
    h = machine()
    stranger = keys(9)[8]
    assert h.receive(m.prepare(KEYS[0], 2, 0, b"\x01" * 32), 0.1) == []
    assert h.receive(m.prepare(stranger, 1, 0, b"\x01" * 32), 0.1) == []
    assert h.counters.reasons == {"other height": 1, "not a validator": 1}
