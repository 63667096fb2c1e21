"""The four messages on the wire: each survives encoding with its author recovered, the signature covers the
message code, and anything else that arrives is a MalformedError, never another exception."""

from __future__ import annotations

import contextlib

import pytest
import rlp
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import MalformedError
from chain.qbft import messages as m
from tests.unit.chain.qbft.chainlike import address, keys, make_block

KEYS = keys(4)
VALIDATORS = tuple(sorted(address(k) for k in KEYS))
BLOCK = make_block(bytes(32), 5, address(KEYS[0]), VALIDATORS, round_=2)


def roundtrip(message: m.Message) -> m.Message:
    code, body = m.encode(message)
    return m.decode(code, body)


def test_a_prepare_and_a_commit_round_trip_with_their_authors() -> None:
    prepare = m.prepare(KEYS[1], 5, 2, BLOCK.hash)
    assert roundtrip(prepare) == prepare and prepare.author == address(KEYS[1])
    commit = m.commit(KEYS[2], BLOCK, 2)
    back = roundtrip(commit)
    assert back == commit and back.author == address(KEYS[2]) and back.digest == BLOCK.hash


def test_the_signature_covers_the_code_and_the_payload_as_besu_hashes_them() -> None:
    prepare = m.prepare(KEYS[1], 5, 2, BLOCK.hash)
    expected = keccak(rlp.encode([0x13, [5, 2, BLOCK.hash]]))
    assert m.signing_digest(m.Code.PREPARE, prepare.payload()) == expected
    _, body = m.encode(prepare)
    assert rlp.decode(body) == [[b"\x05", b"\x02", BLOCK.hash], prepare.signature]
    forged = m.decode(m.Code.COMMIT, rlp.encode([[5, 2, BLOCK.hash, bytes(65)], prepare.signature]))
    assert forged.author != prepare.author  # the same signature read as another kind names someone else


def test_a_round_change_carries_its_prepared_block_and_certificate() -> None:
    prepares = tuple(m.prepare(k, 5, 1, BLOCK.hash) for k in KEYS[:3])
    rc = m.round_change(KEYS[3], 5, 2, (1, BLOCK, prepares))
    back = roundtrip(rc)
    assert isinstance(back, m.RoundChange)
    assert back == rc and back.block is not None and back.block.raw == BLOCK.raw
    assert [p.author for p in back.prepares] == [address(k) for k in KEYS[:3]]
    empty = m.round_change(KEYS[3], 5, 2)
    assert roundtrip(empty) == empty
    assert rlp.decode(m.encode(empty)[1])[1:] == [[], []]


def test_a_proposal_carries_bare_round_changes_and_prepares() -> None:
    prepares = tuple(m.prepare(k, 5, 1, BLOCK.hash) for k in KEYS[:3])
    rcs = tuple(m.round_change(k, 5, 2, (1, BLOCK, prepares)) for k in KEYS[:3])
    proposal = m.proposal(KEYS[0], BLOCK, 2, rcs, prepares)
    assert all(rc.block is None and not rc.prepares for rc in proposal.round_changes)
    back = roundtrip(proposal)
    assert back == proposal and back.author == address(KEYS[0])
    body = rlp.decode(m.encode(proposal)[1])
    assert body[0][0][2] == rlp.decode(BLOCK.raw)  # the block sits in the payload as an RLP list, as in Besu


@pytest.mark.parametrize(
    ("code", "items"),
    [
        (m.Code.PREPARE, [[5, 2, b"\x01" * 31], b"\x01" * 65]),
        (m.Code.PREPARE, [[5, 2, b"\x01" * 32]]),
        (m.Code.PREPARE, [[b"\x00\x05", 2, b"\x01" * 32], b"\x01" * 65]),
        (m.Code.COMMIT, [[5, 2, b"\x01" * 32, b"\x01" * 64], b"\x01" * 65]),
        (m.Code.ROUND_CHANGE, [[[5, 2, [1]], b"\x01" * 65], [], []]),
        (m.Code.ROUND_CHANGE, [[[5, 2, []], b"\x01" * 65], [], [[[5, 1, b"\x01" * 32], b"\x01" * 65]]]),
        (m.Code.PROPOSAL, [[[5, 2, [b"not", b"a", b"block"]], b"\x01" * 65], [[], []]]),
        (0x16, [1, 2]),
    ],
)
def test_malformed_messages_are_refused(code: int, items: list[object]) -> None:
    with pytest.raises(MalformedError):
        m.decode(code, rlp.encode(items))


def test_a_round_change_naming_a_prepared_round_without_its_block_is_refused() -> None:
    signed = m.round_change(KEYS[1], 5, 2, (1, BLOCK, ()))
    body = rlp.encode([[signed.payload(), signed.signature], [], []])
    with pytest.raises(MalformedError, match="prepared round comes with its block"):
        m.decode(m.Code.ROUND_CHANGE, body)


def test_an_oversized_message_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(MalformedError, match="over"):
        m.decode(m.Code.PREPARE, b"\x00" * (m.MAX_MESSAGE_BYTES + 1))


@settings(max_examples=300)
@given(st.sampled_from(list(m.Code)), st.binary(max_size=400))
def test_garbage_raises_only_malformed_error(code: m.Code, body: bytes) -> None:
    with contextlib.suppress(MalformedError):
        m.decode(code, body)


@settings(max_examples=200)
@given(st.sampled_from(list(m.Code)), st.data())
def test_mutated_messages_raise_only_malformed_error_or_decode(code: m.Code, data: st.DataObject) -> None:
    samples: dict[m.Code, m.Message] = {
        m.Code.PREPARE: m.prepare(KEYS[1], 5, 2, BLOCK.hash),
        m.Code.COMMIT: m.commit(KEYS[1], BLOCK, 2),
        m.Code.ROUND_CHANGE: m.round_change(KEYS[1], 5, 2, (1, BLOCK, (m.prepare(KEYS[0], 5, 1, BLOCK.hash),))),
        m.Code.PROPOSAL: m.proposal(KEYS[0], BLOCK, 0),
    }
    body = bytearray(m.encode(samples[code])[1])
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(MalformedError):
        m.decode(code, bytes(body))
