"""QBFT extra data against the vectors of Besu's ``QbftExtraDataCodecTest``: the raw hex string, the three
encodings (full, without seals, without seals and round), and the inputs Besu refuses."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import MalformedError
from chain.qbft.extradata import Encoding, ExtraData, Vote

# QbftExtraDataCodecTest.RAW_HEX_ENCODING_STRING: vanity 0x01..0x20, validators 0x…01 and 0x…02, an add vote for
# 0x…01, round 0xFEDCBA, seals (r=1, s=10, v=0) and (r=10, s=1, v=0).
BESU_RAW = bytes.fromhex(
    "f8f0a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ea940000000000000000"
    "000000000000000000000001940000000000000000000000000000000000000002d7940000000000000000"
    "00000000000000000000000181ff83fedcbaf886b841000000000000000000000000000000000000000000"
    "0000000000000000000001000000000000000000000000000000000000000000000000000000000000000a"
    "00b841000000000000000000000000000000000000000000000000000000000000000a0000000000000000"
    "00000000000000000000000000000000000000000000000100"
)


def address(n: int) -> bytes:
    return n.to_bytes(20, "big")


def seal(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


BESU_DECODED = ExtraData(
    bytes(range(1, 33)), (address(1), address(2)), Vote(address(1), True), 0xFEDCBA, (seal(1, 10, 0), seal(10, 1, 0))
)


def test_the_besu_vector_encodes_and_decodes() -> None:
    assert BESU_DECODED.encode() == BESU_RAW
    assert ExtraData.decode(BESU_RAW) == BESU_DECODED


def test_without_seals_keeps_the_round_and_without_round_writes_zero() -> None:
    vote = [address(1), b"\xff"]
    base = [bytes(range(1, 33)), [address(1), address(2)], vote]
    assert BESU_DECODED.encode(Encoding.WITHOUT_SEALS) == rlp.encode([*base, 0xFEDCBA, []])
    assert BESU_DECODED.encode(Encoding.WITHOUT_SEALS_AND_ROUND) == rlp.encode([*base, b"", []])


def test_a_drop_vote_is_an_empty_type_and_no_vote_an_empty_list() -> None:
    drop = ExtraData(bytes(32), (), Vote(address(1), False), 0xFEDCBA)
    assert rlp.decode(drop.encode())[2] == [address(1), b""]
    assert ExtraData.decode(drop.encode()) == drop
    none = ExtraData(bytes(32), (), None, 0xFEDCBA)
    assert rlp.decode(none.encode())[2] == [] and ExtraData.decode(none.encode()) == none


def test_a_round_written_in_two_bytes_is_read() -> None:
    raw = rlp.encode([bytes(32), [], [address(1), b"\xff"], b"\xdc\xba", []])
    assert ExtraData.decode(raw).round == 0xDCBA


@pytest.mark.parametrize(
    ("items", "why"),
    [
        ([bytes(32), [], [address(1), b"\xff"], b"\x00\xdc\xba", []], "leading zero"),  # Besu: RLPException
        ([bytes(32), [], [address(1), b"\xaa"], 0xFEDCBA, []], "vote type"),  # incorrectVoteTypeThrowsException
        ([bytes(32), [], [address(1), b"\xff"], 0xFEDCBA, [], 1], "five items"),  # incorrectlyStructuredRlp…
        ([bytes(31), [], [], 0, []], "vanity"),
        ([bytes(32), [address(1)[:19]], [], 0, []], "validator"),
        ([bytes(32), [], [], 0, [bytes(64)]], "seal"),
        ([bytes(32), [], [], 2**31, []], "round"),
        ([bytes(32), [], [], 0, [seal(1, 1, 27)]], "recovery id"),
    ],
)
def test_what_besu_refuses_is_refused(items: list[object], why: str) -> None:
    with pytest.raises(MalformedError):
        ExtraData.decode(rlp.encode(items))


def test_empty_or_non_rlp_extra_data_is_refused() -> None:
    for raw in (b"", b"\xf8", b"\x01\x02"):
        with pytest.raises(MalformedError):
            ExtraData.decode(raw)


@given(
    st.binary(min_size=32, max_size=32),
    st.lists(st.binary(min_size=20, max_size=20), max_size=8),
    st.none() | st.builds(Vote, st.binary(min_size=20, max_size=20), st.booleans()),
    st.integers(0, 2**31 - 1),
    st.lists(st.binary(min_size=64, max_size=64).map(lambda b: b + b"\x01"), max_size=5),
)
def test_every_extra_data_survives_a_round_trip(
    vanity: bytes, validators: list[bytes], vote: Vote | None, round_: int, seals: list[bytes]
) -> None:
    extra = ExtraData(vanity, tuple(validators), vote, round_, tuple(seals))
    assert ExtraData.decode(extra.encode()) == extra
