"""chain.qbft.evidence: conflicting signed messages kept as evidence, checked offline from their bodies alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
import rlp
from eth_keys.datatypes import PrivateKey

from chain.errors import MalformedError
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock
from chain.qbft.evidence import Equivocation, EquivocationDetector, InvalidEvidenceError, verify_equivocation
from chain.qbft.rules import RoundTimer, proposer
from tests.unit.chain.qbft.chainlike import address, keys, make_block
from tests.unit.chain.qbft.sim import Network

KEYS = keys(5)
VALIDATORS = tuple(address(k) for k in KEYS[:4])
STRANGER = KEYS[4]
ALICE = KEYS[0]


def digest(i: int) -> bytes:
    return bytes([i]) * 32


def wire(message: m.Message) -> tuple[int, bytes, m.Message]:
    """The message as a peer receives it: its code, its body, and the body decoded (author recovered)."""
    code, body = m.encode(message)
    return int(code), body, m.decode(int(code), body)


def feed(detector: EquivocationDetector, message: m.Message, current: int = 1) -> Equivocation | None:
    code, body, decoded = wire(message)
    return detector.observe(code, body, decoded, current, VALIDATORS)


def prepares_record() -> Equivocation:
    detector = EquivocationDetector()
    assert feed(detector, m.prepare(ALICE, 1, 0, digest(1))) is None
    record = feed(detector, m.prepare(ALICE, 1, 0, digest(2)))
    assert record is not None
    return record


def test_two_prepares_with_different_digests_are_evidence_that_verifies_offline() -> None:
    record = prepares_record()
    assert (record.validator, record.height, record.round, record.code) == (address(ALICE), 1, 0, m.Code.PREPARE)
    assert verify_equivocation(record) == address(ALICE)
    assert verify_equivocation(record, VALIDATORS) == address(ALICE)
    again = Equivocation.from_json(record.to_json())  # what qbft_getEquivocations answers, read back
    assert again == record and verify_equivocation(again) == address(ALICE)


def test_two_proposals_of_different_blocks_and_two_commits_are_evidence() -> None:
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    two = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"two")
    detector = EquivocationDetector()
    assert feed(detector, m.proposal(ALICE, one, 0)) is None
    proposals = feed(detector, m.proposal(ALICE, two, 0))
    assert feed(detector, m.commit(ALICE, one, 0)) is None
    commits = feed(detector, m.commit(ALICE, two, 0))
    assert proposals is not None and proposals.code == m.Code.PROPOSAL
    assert commits is not None and commits.code == m.Code.COMMIT
    assert verify_equivocation(proposals) == verify_equivocation(commits) == address(ALICE)
    assert detector.records == [proposals, commits] and detector.counts == {address(ALICE): 2}


def test_a_tampered_record_fails_verification() -> None:
    record = prepares_record()
    body = bytearray(record.second)
    body[-1] ^= 1  # the signature's last byte: the body still decodes, to another signer or none
    forged = [
        replace(record, second=bytes(body)),
        replace(record, validator=address(KEYS[1])),
        replace(record, height=2),
        replace(record, round=1),
        replace(record, second=record.first),
        replace(record, code=m.Code.COMMIT),
        replace(record, code=m.Code.ROUND_CHANGE),
        replace(record, first=b"\xc0"),
        replace(record, second=m.encode(m.prepare(KEYS[1], 1, 0, digest(2)))[1]),  # another validator's
    ]
    for bad in forged:
        with pytest.raises(InvalidEvidenceError):
            verify_equivocation(bad)
    with pytest.raises(InvalidEvidenceError, match="not one of the given validators"):
        verify_equivocation(record, VALIDATORS[1:])
    with pytest.raises(MalformedError):
        Equivocation.from_json({**record.to_json(), "first": "c0"})


def test_duplicates_strangers_bad_signatures_round_changes_and_other_rounds_are_not_evidence() -> None:
    detector = EquivocationDetector()
    first = m.prepare(ALICE, 1, 0, digest(1))
    assert feed(detector, first) is None
    assert feed(detector, first) is None  # the same message again
    assert feed(detector, m.prepare(ALICE, 1, 1, digest(2))) is None  # another round
    assert feed(detector, m.prepare(ALICE, 2, 0, digest(2))) is None  # another height
    assert feed(detector, m.commit(ALICE, make_block(bytes(32), 1, address(ALICE), VALIDATORS), 0)) is None
    assert feed(detector, m.prepare(STRANGER, 1, 0, digest(1))) is None
    assert feed(detector, m.prepare(STRANGER, 1, 0, digest(2))) is None  # not a validator
    assert feed(detector, m.round_change(ALICE, 1, 3)) is None
    assert feed(detector, m.round_change(ALICE, 1, 3, None)) is None
    # a body whose signature was altered recovers another address (not a validator's): not ALICE's message
    code, body, _ = wire(m.prepare(ALICE, 1, 0, digest(3)))
    items = rlp.decode(body)
    items[1] = items[1][:-2] + bytes([items[1][-2] ^ 1]) + items[1][-1:]
    tampered = bytes(rlp.encode(items))
    try:
        decoded = m.decode(code, tampered)
    except MalformedError:
        pass  # recovers no key at all: it never reaches the detector
    else:
        assert decoded.author != address(ALICE)
        assert detector.observe(code, tampered, decoded, 1, VALIDATORS) is None
    assert feed(detector, m.prepare(ALICE, 0, 0, digest(9)), current=1) is None  # a past height
    assert detector.records == [] and detector.counts == {}


def test_one_record_per_height_round_and_type_and_the_first_body_is_kept() -> None:
    detector = EquivocationDetector()
    original = m.prepare(ALICE, 1, 0, digest(1))
    feed(detector, original)
    assert feed(detector, m.prepare(ALICE, 1, 0, digest(2))) is not None
    assert feed(detector, m.prepare(ALICE, 1, 0, digest(3))) is None  # a third digest: the slot is proven already
    assert len(detector.records) == 1 and detector.records[0].first == m.encode(original)[1]


def test_memory_stays_bounded_under_a_flood() -> None:
    detector = EquivocationDetector(keep=3, per_author=8, per_author_bytes=10_000)
    for round_ in range(50):  # one validator equivocating in every round
        feed(detector, m.prepare(ALICE, 1, round_, digest(1)))
        feed(detector, m.prepare(ALICE, 1, round_, digest(2)))
    for round_ in range(1000):  # and strangers flooding
        feed(detector, m.prepare(STRANGER, 1, round_, digest(1)))
    assert detector.remembered() == 8  # ALICE's slots; none for the stranger
    assert len(detector.records) == 3 and detector.counts == {address(ALICE): 8}
    assert detector.skipped == 2 * 42  # both of each later round's messages
    assert all(verify_equivocation(r) == address(ALICE) for r in detector.records)
    feed(detector, m.prepare(KEYS[1], 2, 0, digest(1)), current=2)  # the height moved on: height 1 is forgotten
    assert detector.remembered() == 1
    big = EquivocationDetector(per_author_bytes=250)
    for round_ in range(10):
        feed(big, m.prepare(ALICE, 1, round_, digest(1)))
    assert big.remembered() == 2  # a PREPARE's body is 108 bytes: two fit in 250


def test_a_validator_cannot_crowd_out_its_next_rounds_with_far_ones() -> None:
    detector = EquivocationDetector(per_author=8, ahead=10)
    for round_ in range(100, 108):  # its slots filled with far rounds first
        feed(detector, m.prepare(ALICE, 1, round_, digest(1)))
    assert feed(detector, m.prepare(ALICE, 12, 0, digest(1))) is None and detector.skipped == 1  # too far ahead
    feed(detector, m.prepare(ALICE, 1, 0, digest(1)))  # a nearer round takes the farthest one's place
    assert detector.remembered() == 8
    record = feed(detector, m.prepare(ALICE, 1, 0, digest(2)))
    assert record is not None and verify_equivocation(record) == address(ALICE)


def test_honest_traffic_yields_no_evidence() -> None:
    net = Network(4, seed=1)
    assert net.run_until(net.all_reach(4), until=60.0)
    assert all(node.evidence.records == [] and node.evidence.counts == {} for node in net.nodes)


def test_an_equivocating_proposer_is_named_by_the_evidence_the_honest_validators_keep() -> None:
    net = Network(4, seed=0, timer=RoundTimer(base=1.0, cap=4.0))
    first = proposer(net.validators, bytes(20), 0)
    byz = next(i for i, node in enumerate(net.nodes) if node.me == first)
    net.nodes[byz].equivocates = True
    assert net.run_until(net.all_reach(2), until=120.0), net.heights()
    net.assert_agreement()
    records = [r for node in net.honest() for r in node.evidence.records]
    assert records  # it prepared and committed both blocks to everyone
    assert {verify_equivocation(r, net.validators) for r in records} == {first}
    for node in net.honest():
        slots = [(r.height, r.round, r.code) for r in node.evidence.records]
        assert len(slots) == len(set(slots))  # one record per height, round and type


# -- ROUND-CHANGEs ----------------------------------------------------------------------------------------------


def certificate(block: QbftBlock, round_: int, signers: Sequence[PrivateKey]) -> tuple[m.Prepare, ...]:
    return tuple(m.prepare(k, 1, round_, block.hash) for k in signers)


def test_two_round_changes_with_different_prepared_parts_are_evidence_that_verifies_offline() -> None:
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    two = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"two")
    cert_one, cert_two = certificate(one, 0, KEYS[:3]), certificate(two, 1, KEYS[:3])
    cases = [
        (m.round_change(ALICE, 1, 2), m.round_change(ALICE, 1, 2, (0, one, cert_one))),  # none, then prepared
        (m.round_change(ALICE, 1, 2, (0, one, cert_one)), m.round_change(ALICE, 1, 2, (1, two, cert_two))),
        (m.round_change(ALICE, 1, 2, (0, one, cert_one)), m.round_change(ALICE, 1, 2, (1, one, cert_one))),  # round
    ]
    for first, second in cases:
        detector = EquivocationDetector()
        assert feed(detector, first) is None
        record = feed(detector, second)
        assert record is not None and record.code == m.Code.ROUND_CHANGE
        assert (record.height, record.round) == (1, 2)
        assert record.first == m.encode(first)[1] and record.second == m.encode(second)[1]  # bodies as received
        assert verify_equivocation(record, VALIDATORS) == address(ALICE)
        assert Equivocation.from_rlp(record.to_rlp()) == Equivocation.from_json(record.to_json()) == record


def test_a_round_change_sent_again_identically_or_with_another_certificate_is_not_evidence() -> None:
    block = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    signed = m.round_change(ALICE, 1, 2, (0, block, certificate(block, 0, KEYS[:3])))
    other_cert = m.round_change(ALICE, 1, 2, (0, block, certificate(block, 0, KEYS[1:4])))  # unsigned part differs
    detector = EquivocationDetector()
    for message in (signed, signed, other_cert, m.round_change(ALICE, 1, 3), m.round_change(ALICE, 2, 2)):
        assert feed(detector, message, current=1) is None
    assert detector.records == [] and detector.counts == {}
    # a record made of them anyway (forged) is refused: the signed prepared parts are the same
    forged = Equivocation(address(ALICE), 1, 2, m.Code.ROUND_CHANGE, m.encode(signed)[1], m.encode(other_cert)[1])
    with pytest.raises(InvalidEvidenceError, match="same prepared round and digest"):
        verify_equivocation(forged)


def test_a_forged_or_mismatched_round_change_record_is_refused() -> None:
    block = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    detector = EquivocationDetector()
    feed(detector, m.round_change(ALICE, 1, 2))
    record = feed(detector, m.round_change(ALICE, 1, 2, (0, block, certificate(block, 0, KEYS[:3]))))
    assert record is not None
    bob = KEYS[1]
    forged = [
        replace(record, second=record.first),  # one message twice
        replace(record, second=m.encode(m.round_change(bob, 1, 2))[1]),  # another validator's
        replace(record, first=m.encode(m.round_change(ALICE, 1, 3))[1]),  # another round
        replace(record, first=m.encode(m.round_change(ALICE, 2, 2))[1]),  # another height
        replace(record, code=m.Code.PREPARE),  # the bodies are not PREPAREs
        replace(record, validator=address(bob)),
    ]
    for bad in forged:
        with pytest.raises(InvalidEvidenceError):
            verify_equivocation(bad)
    for raw in (b"", b"\xc0", record.to_rlp()[:-1], rlp.encode([b"\x01" * 20, 1, 2, 0x99, b"", b""])):
        with pytest.raises(MalformedError):
            Equivocation.from_rlp(bytes(raw))


def test_one_validator_cannot_crowd_out_the_evidence_against_another_and_restored_conflicts_are_not_new() -> None:
    detector = EquivocationDetector(keep=4, keep_per_validator=2)
    for round_ in range(5):  # ALICE equivocates in five rounds: two records kept, five counted
        feed(detector, m.prepare(ALICE, 1, round_, digest(1)))
        feed(detector, m.prepare(ALICE, 1, round_, digest(2)))
    bob = KEYS[1]
    feed(detector, m.prepare(bob, 1, 0, digest(1)))
    assert feed(detector, m.prepare(bob, 1, 0, digest(2))) is not None
    assert [r.validator for r in detector.records] == [address(ALICE), address(ALICE), address(bob)]
    assert detector.counts == {address(ALICE): 5, address(bob): 1}
    small = EquivocationDetector(keep_bytes=3 * 108)  # a PREPARE's body is 108 bytes: one record of two fits
    for round_ in range(3):
        feed(small, m.prepare(ALICE, 1, round_, digest(1)))
        feed(small, m.prepare(ALICE, 1, round_, digest(2)))
    assert len(small.records) == 1 and small.counts == {address(ALICE): 3}
    # after a restart: the records and counts come back, and the same conflicts seen again add nothing
    restored = EquivocationDetector(keep=4, keep_per_validator=2)
    restored.restore(detector.records, detector.counts)
    feed(restored, m.prepare(bob, 1, 0, digest(1)))
    assert feed(restored, m.prepare(bob, 1, 0, digest(2))) is None
    assert restored.records == detector.records and restored.counts == detector.counts
    feed(restored, m.prepare(bob, 1, 1, digest(1)))
    assert feed(restored, m.prepare(bob, 1, 1, digest(2))) is not None  # a new slot is new evidence
    assert restored.counts[address(bob)] == 2 and len(restored.records) == 4
    with pytest.raises(AssertionError):
        restored.restore([], {})


# -- signed messages carried inside others --------------------------------------------------------------------


def feed_all(detector: EquivocationDetector, message: m.Message, current: int = 1) -> list[Equivocation]:
    code, body, decoded = wire(message)
    return detector.observe_all(code, body, decoded, current, VALIDATORS)


def test_a_prepare_inside_a_justification_that_conflicts_with_one_received_directly_is_evidence() -> None:
    bob, carol = KEYS[1], KEYS[2]
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    detector = EquivocationDetector()
    direct = m.prepare(carol, 1, 0, digest(9))
    assert feed_all(detector, direct) == []
    rcs = tuple(m.round_change(k, 1, 1, (0, one, certificate(one, 0, KEYS[:3]))) for k in KEYS[:3])
    proposal = m.proposal(bob, one.with_round(1), 1, rcs, certificate(one, 0, KEYS[:3]))
    (record,) = feed_all(detector, proposal)  # carol's PREPARE for `one` in the justification: one record
    assert (record.validator, record.code, record.height, record.round) == (address(carol), m.Code.PREPARE, 1, 0)
    assert record.first == m.encode(direct)[1]
    assert record.second == m.signed_body(m.prepare(carol, 1, 0, one.hash)) == m.encode(proposal.prepares[2])[1]
    assert verify_equivocation(Equivocation.from_json(record.to_json()), VALIDATORS) == address(carol)
    assert feed_all(detector, proposal) == []  # the same proposal again adds nothing


def test_round_change_payloads_inside_proposals_are_compared_with_full_round_changes() -> None:
    bob = KEYS[1]
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    prepared = m.round_change(ALICE, 1, 1, (0, one, certificate(one, 0, KEYS[:3])))
    forgot = m.round_change(ALICE, 1, 1)  # signed as if nothing was prepared: a conflict
    others = tuple(m.round_change(k, 1, 1) for k in KEYS[1:3])
    detector = EquivocationDetector()
    assert feed_all(detector, prepared) == []
    (record,) = feed_all(detector, m.proposal(bob, make_block(bytes(32), 1, address(bob), VALIDATORS, 1), 1,
                                              (forgot, *others)))  # fmt: skip
    assert (record.validator, record.code, record.round) == (address(ALICE), m.Code.ROUND_CHANGE, 1)
    assert record.first == m.encode(prepared)[1] and record.second == m.signed_body(forgot)  # as received
    assert verify_equivocation(record, VALIDATORS) == address(ALICE)
    assert m.decode_signed(int(m.Code.ROUND_CHANGE), record.second) == m.decode_signed(
        int(m.Code.ROUND_CHANGE), m.signed_body(forgot))  # fmt: skip
    tampered = replace(record, second=record.second[:-1] + bytes([record.second[-1] ^ 1]))
    with pytest.raises(InvalidEvidenceError):
        verify_equivocation(tampered)


def test_two_certificates_carrying_conflicting_prepares_of_one_validator_are_evidence() -> None:
    carol = KEYS[2]
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    two = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"two")
    detector = EquivocationDetector()
    assert feed_all(detector, m.round_change(ALICE, 1, 1, (0, one, certificate(one, 0, KEYS[:3])))) == []
    records = feed_all(detector, m.round_change(KEYS[1], 1, 1, (0, two, certificate(two, 0, KEYS[:3]))))
    assert {r.validator for r in records} == {address(k) for k in KEYS[:3]}  # each signed a PREPARE for both
    assert all(r.code == m.Code.PREPARE and verify_equivocation(r, VALIDATORS) == r.validator for r in records)
    assert address(carol) in detector.counts


def test_inner_messages_repeated_identical_or_of_other_rounds_are_not_evidence() -> None:
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    two = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"two")
    detector = EquivocationDetector()
    rcs = tuple(m.round_change(k, 1, 2, (0, one, certificate(one, 0, KEYS[:3]))) for k in KEYS[:3])
    messages: list[m.Message] = [
        rcs[0],
        m.round_change(KEYS[1], 1, 2, (0, one, certificate(one, 0, KEYS[1:4]))),  # the same PREPAREs, others
        *certificate(one, 0, KEYS[:4]),  # the same PREPAREs received directly
        m.round_change(KEYS[3], 1, 3, (1, two, certificate(two, 1, KEYS[:3]))),  # PREPAREs of another round
        m.proposal(KEYS[1], one.with_round(2), 2, rcs, certificate(one, 0, KEYS[:3])),  # the same ones inside
        m.round_change(ALICE, 2, 2, (0, two, tuple(m.prepare(k, 2, 0, two.hash) for k in KEYS[:3]))),  # height 2
    ]
    for message in messages:
        assert feed_all(detector, message) == [], message
    assert detector.records == [] and detector.counts == {}


def test_inner_messages_count_within_their_authors_bounds() -> None:
    detector = EquivocationDetector(per_author=2)
    one = make_block(bytes(32), 1, address(ALICE), VALIDATORS, payload=b"one")
    for round_ in range(4):  # four rounds of certificates: each signer's slots stay at two
        feed_all(detector, m.round_change(KEYS[3], 1, round_ + 1, (round_, one, certificate(one, round_, KEYS[:3]))))
    assert detector.remembered() <= 2 * 4 and detector.skipped > 0
    feed_all(detector, m.prepare(STRANGER, 1, 0, digest(1)))  # a stranger's: not remembered
    assert detector.remembered() <= 2 * 4
