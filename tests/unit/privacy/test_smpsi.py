"""privacy.smpsi: the sm suite's ECDH-PSI over SM2, keyed with HMAC-SM3; and the sm keying of privacy.identifiers."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysmx.SM3 import digest as pysmx_sm3

from notary.log.hashing import SM3
from privacy import smpsi
from privacy.errors import InputTooLargeError, InvalidPointError, MalformedError, PrivacyError, RefusedError
from privacy.identifiers import derive_job_key, key_identifier, key_identifiers
from privacy.smpsi import SmPsiClient, SmPsiServer, commit_keyed, element, parse_points
from suite import sm2group
from suite.sm2group import SM2, encode_point

CAP = 64


def _hmac_sm3(key: bytes, msg: bytes) -> bytes:
    """RFC 2104 written out over pysmx's SM3 (block 64 bytes), independent of OpenSSL's HMAC and SM3."""
    key = key.ljust(64, b"\x00")
    inner = pysmx_sm3(bytes(k ^ 0x36 for k in key) + msg)
    outer: bytes = pysmx_sm3(bytes(k ^ 0x5C for k in key) + inner)
    return outer


def _job_key() -> bytes:
    return derive_job_key(os.urandom(32), "job-1", "sm")


def _ids(numbers: list[int] | set[int] | range) -> list[str]:
    return [f"ACCT:{n}" for n in numbers]


def test_hmac_sm3_keying_and_hkdf_sm3_match_an_independent_sm3() -> None:
    secret = bytes(range(32))
    key = derive_job_key(secret, "job-7", "sm")
    # RFC 5869 with HMAC-SM3: PRK = HMAC(0^32, IKM), OKM = T(1) = HMAC(PRK, info ‖ 0x01)
    prk = _hmac_sm3(bytes(32), secret)
    info = b"consortium-ledger psi job key sm3 v1\x00job-7"
    assert key == _hmac_sm3(prk, info + b"\x01")
    assert key_identifier(key, "ACCT:1", "sm") == _hmac_sm3(key, b"ACCT:1")
    assert key_identifiers(key, ["ACCT:1", "ACCT:2"], "sm") == [_hmac_sm3(key, b"ACCT:1"), _hmac_sm3(key, b"ACCT:2")]
    # the suites key differently, and intl is unchanged by the suite parameter's default
    assert derive_job_key(secret, "job-7") != key
    assert key_identifier(key, "ACCT:1") != key_identifier(key, "ACCT:1", "sm")
    with pytest.raises(MalformedError, match="unknown suite"):
        key_identifier(key, "ACCT:1", "gost")


def test_a_job_under_sm_end_to_end() -> None:
    key = _job_key()
    client = SmPsiClient(key, ["acct: 1", "ACCT:2", "ACCT:3", "cnid:11010519491231002x"], CAP)
    server = SmPsiServer(key, ["ACCT:3", "ACCT:4", "CNID:11010519491231002X", "ACCT:2"], CAP)
    request = client.request()
    assert len(request) == 4 + 4 * 33
    response = server.respond(request)
    assert len(response) == 4 + 4 * 33 + 4 + 4 * 33
    outcome = client.finish(response)
    assert outcome.intersection == ("ACCT:2", "ACCT:3", "CNID:11010519491231002X")
    assert outcome.server_count == 4
    assert outcome.input_root == client.input_root
    shared = key_identifiers(key, outcome.intersection, "sm")
    assert outcome.result_root == SM3.root_of([SM3.leaf(k) for k in sorted(shared)])
    assert outcome.result_root == commit_keyed(list(reversed(shared)))  # the order given does not matter


def test_no_match_across_job_keys() -> None:
    client = SmPsiClient(_job_key(), _ids(range(5)), CAP)
    server = SmPsiServer(_job_key(), _ids(range(5)), CAP)
    assert client.finish(server.respond(client.request())).intersection == ()


def test_server_answers_its_own_elements_sorted_and_blinded() -> None:
    key = _job_key()
    b = sm2group.random_scalar()
    server = SmPsiServer(key, _ids(range(6)), CAP, scalar=b)
    response = server.respond(smpsi.format_points([]))
    _, offset = parse_points(response, 0, "c", CAP)
    own, _ = parse_points(response, offset, "s", CAP)
    encoded = [encode_point(p) for p in own]
    assert encoded == sorted(encoded)
    expected = sorted(smpsi.blind(b, [element(k) for k in key_identifiers(key, sorted(_ids(range(6))), "sm")]))
    assert encoded == expected
    plain = {encode_point(element(k)) for k in key_identifiers(key, _ids(range(6)), "sm")}
    assert not plain & set(encoded)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.integers(0, 40), max_size=12), st.sets(st.integers(0, 40), max_size=12))
def test_intersection_is_right_on_random_sets(mine: set[int], theirs: set[int]) -> None:
    key = _job_key()
    client = SmPsiClient(key, _ids(mine), CAP)
    outcome = client.finish(SmPsiServer(key, _ids(theirs), CAP).respond(client.request()))
    assert outcome.intersection == tuple(sorted(_ids(mine & theirs)))
    assert outcome.server_count == len(theirs)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, SM2.n - 1), st.integers(1, SM2.n - 1), st.binary(min_size=32, max_size=32))
def test_blinding_commutes(a: int, b: int, keyed: bytes) -> None:
    h = element(keyed)
    ab = smpsi.blind(b, [sm2group.decode_point(smpsi.blind(a, [h])[0])])
    ba = smpsi.blind(a, [sm2group.decode_point(smpsi.blind(b, [h])[0])])
    assert ab == ba


def test_caps_are_enforced_on_both_sides() -> None:
    key = _job_key()
    with pytest.raises(InputTooLargeError) as info:
        SmPsiClient(key, _ids(range(5)), 4)
    assert (info.value.party, info.value.count, info.value.cap) == ("client", 5, 4)
    with pytest.raises(InputTooLargeError):
        SmPsiServer(key, _ids(range(5)), 4)
    request = SmPsiClient(key, _ids(range(5)), 10).request()
    with pytest.raises(InputTooLargeError) as info:
        SmPsiServer(key, _ids(range(2)), 4).respond(request)
    assert info.value.reason == "input_over_cap" and info.value.count == 5


def _valid_request(n: int) -> bytearray:
    return bytearray(SmPsiClient(_job_key(), _ids(range(n)), CAP).request())


_OFF_CURVE_X = next(x for x in range(1, 100) if pow((x**3 + SM2.a * x + SM2.b) % SM2.p, (SM2.p - 1) // 2, SM2.p) != 1)


@pytest.mark.parametrize(
    ("element_bytes", "reason"),
    [
        (b"\x02" + _OFF_CURVE_X.to_bytes(32, "big"), "no point of the SM2 curve"),
        (b"\x02" + SM2.p.to_bytes(32, "big"), "not below the field prime"),
        (b"\x04" + SM2.gx.to_bytes(32, "big"), "starts with 02 or 03"),
        (b"\x00" * 33, "starts with 02 or 03"),
    ],
)
def test_server_refuses_a_request_with_an_invalid_point(element_bytes: bytes, reason: str) -> None:
    request = _valid_request(3)
    request[4 + 33 : 4 + 66] = element_bytes
    server = SmPsiServer(_job_key(), _ids(range(3)), CAP)
    with pytest.raises(InvalidPointError, match=reason) as info:
        server.respond(bytes(request))
    assert (info.value.field, info.value.index) == ("request.client_elements", 1)
    assert isinstance(info.value, PrivacyError)


def test_client_refuses_a_response_with_an_invalid_point_in_either_list() -> None:
    key = _job_key()
    client = SmPsiClient(key, _ids(range(3)), CAP)
    response = bytearray(SmPsiServer(key, _ids(range(2)), CAP).respond(client.request()))
    bad = b"\x03" + _OFF_CURVE_X.to_bytes(32, "big")
    first = bytearray(response)
    first[4 : 4 + 33] = bad
    with pytest.raises(InvalidPointError) as info:
        client.finish(bytes(first))
    assert (info.value.field, info.value.index) == ("response.client_elements", 0)
    second = bytearray(response)
    start = 4 + 3 * 33 + 4
    second[start + 33 : start + 66] = bad
    with pytest.raises(InvalidPointError) as info:
        client.finish(bytes(second))
    assert (info.value.field, info.value.index) == ("response.server_elements", 1)
    assert client.finish(bytes(response)).intersection == tuple(sorted(_ids(range(2))))  # the good one still works


def test_refuses_truncated_padded_and_miscounted_messages() -> None:
    key = _job_key()
    client = SmPsiClient(key, _ids(range(3)), CAP)
    request = client.request()
    server = SmPsiServer(key, _ids(range(3)), CAP)
    with pytest.raises(MalformedError, match="shorter"):
        server.respond(request[:-1])
    with pytest.raises(MalformedError, match="after its last point"):
        server.respond(request + b"\x00")
    with pytest.raises(MalformedError, match="4-byte count"):
        server.respond(b"\x00\x00")
    response = server.respond(request)
    with pytest.raises(MalformedError, match="after its last point"):
        client.finish(response + b"\x00")
    fewer = SmPsiServer(key, _ids(range(3)), CAP).respond(SmPsiClient(key, _ids(range(2)), CAP).request())
    with pytest.raises(RefusedError, match="answers 2 elements") as info:
        client.finish(fewer)
    assert info.value.reason == "count_mismatch"
    with pytest.raises(MalformedError, match="before request"):
        SmPsiClient(key, _ids(range(1)), CAP).finish(response)


def test_scalar_must_be_in_range() -> None:
    for bad in (0, SM2.n, -1):
        with pytest.raises(MalformedError, match="blinding scalar"):
            SmPsiServer(_job_key(), [], CAP, scalar=bad)


def test_random_overlap_of_a_hundred() -> None:
    rng = random.Random(7)
    mine, theirs = set(rng.sample(range(1000), 100)), set(rng.sample(range(1000), 100))
    key = _job_key()
    client = SmPsiClient(key, _ids(mine), 200)
    outcome = client.finish(SmPsiServer(key, _ids(theirs), 200).respond(client.request()))
    assert outcome.intersection == tuple(sorted(_ids(mine & theirs)))
