"""suite.sm2group: the SM2 curve's group, compressed points, and RFC 9380 hash-to-curve (SM2_XMD:SM3_SSWU_RO_).

The map and expand_message_xmd are checked over P-256 against RFC 9380's own vectors (Appendix J.1.1), since the
code is the same for any curve of the class; the SM2 suite's vectors (docs/national-suite.md) are ours, recomputed
here with an independent SM3 and independent point arithmetic (pysmx), and d·G against OpenSSL (suite.sm2).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysmx.SM2 import _SM2 as pysmx_sm2
from pysmx.SM3 import digest as pysmx_sm3

from suite import _libcrypto, sm2group
from suite.errors import SuiteError
from suite.sm2 import SM2PrivateKey
from suite.sm2group import SM2, PointError, decode_point, encode_point, hash_to_curve, multiply
from tests.support.curves import P256

P256_DST = b"QUUX-V01-CS02-with-P256_XMD:SHA-256_SSWU_RO_"
# RFC 9380 Appendix J.1.1: msg, u0, u1, P.x, P.y
P256_VECTORS = [
    (
        b"",
        "ad5342c66a6dd0ff080df1da0ea1c04b96e0330dd89406465eeba11582515009",
        "8c0f1d43204bd6f6ea70ae8013070a1518b43873bcd850aafa0a9e220e2eea5a",
        "2c15230b26dbc6fc9a37051158c95b79656e17a1a920b11394ca91c44247d3e4",
        "8a7a74985cc5c776cdfe4b1f19884970453912e9d31528c060be9ab5c43e8415",
    ),
    (
        b"abc",
        "afe47f2ea2b10465cc26ac403194dfb68b7f5ee865cda61e9f3e07a537220af1",
        "379a27833b0bfe6f7bdca08e1e83c760bf9a338ab335542704edcd69ce9e46e0",
        "0bb8b87485551aa43ed54f009230450b492fead5f1cc91658775dac4a3388a0f",
        "5c41b3d0731a27a7b14bc0bf0ccded2d8751f83493404c84a88e71ffd424212e",
    ),
]

SM2_DST = b"QUUX-V01-CS02-with-SM2_XMD:SM3_SSWU_RO_"
# Our suite's vectors, as docs/national-suite.md lists them: msg, u0, u1, Q0.x, Q1.x, P compressed
SM2_VECTORS = [
    (
        b"",
        "e3a0077d70dc77e0e2d9ecf81723c2faa0b4db94a3ad5daab62e503b9f40f1b9",
        "912e9c547ba989938905b91ec9035f95699a4402586255c4d2d21287637c72a9",
        "b844819a027c73a6fee5e080d9ff186c4a265f3e5621592583984fa3066bd5d3",
        "c85088b311868784c628f45b66cde744ad0786981f88b3373e4266ecb525e2b5",
        "0380048bf6454de460598966bc3bc9a3213e8776668817d85cf447eda370991a41",
    ),
    (
        b"abc",
        "8355d61dd83760ef45f02ede22b81f81f03280de19017d1913bf1498ee44465c",
        "9bfd2b47ee3dedade769b309dd5d9edebc182eaef68639e0dd7b2221ba50dcd6",
        "379b0fa2cbb6bca68beb1c258c50d684116f79533d73a2e93f7f63f0460144f9",
        "46d5849cdabc5fa55e347a23a0496872001cf34da2b3f5b67a733a256e93f398",
        "037cf8871dffcb584997d9b27cbc1b12308eec4544f38688f7b8c53531afb9fdcd",
    ),
    (
        b"abcdef0123456789",
        "495417ebeb10ceaec666bbe8c08baa01fe8d334af5a1542e3a77bf5271732d1e",
        "9d085a1c7ebf33f241fdbaa7fcde77ef8721db40cb28bf779a5eb940adfd1be6",
        "4d9162cd2b0948b2a5bbd06068c5ead5f75fcd651cc476e627582d1af2066f35",
        "2958a893cde20994ed37cd051adfeade9703301350f7ec159bea43254ee2d197",
        "039fbfac2f80e2492165c664f1329a2e8391d39ec33e6c7a57c0e582d17e533c0e",
    ),
]
_SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("msg", "u0", "u1", "px", "py"), P256_VECTORS)
def test_the_generic_map_gives_rfc_9380_p256_vectors(msg: bytes, u0: str, u1: str, px: str, py: str) -> None:
    assert sm2group.hash_to_field(msg, 2, P256_DST, P256) == [int(u0, 16), int(u1, 16)]
    assert hash_to_curve(msg, P256_DST, P256) == (int(px, 16), int(py, 16))
    assert sm2group.hash_to_curve_reference(msg, P256_DST, P256) == (int(px, 16), int(py, 16))


def _xmd_independent(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 written again over pysmx's SM3 (pure Python, not OpenSSL's)."""
    dst_prime = dst + bytes([len(dst)])
    b0 = pysmx_sm3(bytes(64) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime)
    blocks = [pysmx_sm3(b0 + b"\x01" + dst_prime)]
    while len(blocks) * 32 < length:
        mixed = bytes(a ^ b for a, b in zip(b0, blocks[-1], strict=True))
        blocks.append(pysmx_sm3(mixed + bytes([len(blocks) + 1]) + dst_prime))
    return b"".join(blocks)[:length]


def _add_independent(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    """p1 + p2 with pysmx's SM2 arithmetic (Jacobian add, then back to affine)."""
    jac = pysmx_sm2.AddPoint(f"{p1[0]:064x}{p1[1]:064x}", f"{p2[0]:064x}{p2[1]:064x}", 64)
    affine = pysmx_sm2.ConvertJacb2Nor(jac, 64)
    return int(affine[:64], 16), int(affine[64:128], 16)


@pytest.mark.parametrize(("msg", "u0", "u1", "q0x", "q1x", "point"), SM2_VECTORS)
def test_sm2_suite_vectors(msg: bytes, u0: str, u1: str, q0x: str, q1x: str, point: str) -> None:
    # hash_to_field with an independent SM3
    uniform = _xmd_independent(msg, SM2_DST, 96)
    assert uniform == sm2group.expand_message_xmd(msg, SM2_DST, 96)
    us = [int.from_bytes(uniform[i * 48 : (i + 1) * 48], "big") % SM2.p for i in range(2)]
    assert us == [int(u0, 16), int(u1, 16)] == sm2group.hash_to_field(msg, 2, SM2_DST)
    q0, q1 = sm2group.map_to_curve(us[0]), sm2group.map_to_curve(us[1])
    assert (q0[0], q1[0]) == (int(q0x, 16), int(q1x, 16))
    assert SM2.on_curve(q0) and SM2.on_curve(q1)
    # the sum with independent point arithmetic
    assert encode_point(_add_independent(q0, q1)) == bytes.fromhex(point) == encode_point(hash_to_curve(msg, SM2_DST))
    assert sm2group.map_to_curve_many(us) == [q0, q1]
    assert encode_point(sm2group.hash_to_curve_reference(msg, SM2_DST)) == bytes.fromhex(point)


def test_expand_message_xmd_refuses_what_rfc_9380_forbids() -> None:
    with pytest.raises(ValueError, match="too long"):
        sm2group.expand_message_xmd(b"", b"D", 256 * 32)
    with pytest.raises(ValueError, match="too long"):
        sm2group.expand_message_xmd(b"", b"D" * 256, 32)
    with pytest.raises(ValueError, match="must not be empty"):
        sm2group.expand_message_xmd(b"", b"", 32)


@_SLOW
@given(st.integers(1, SM2.n - 1))
def test_base_multiplication_agrees_with_openssl_and_pysmx(d: int) -> None:
    ours = multiply(SM2, d, SM2.generator)
    assert ours is not None
    if d < SM2.n - 1:  # an SM2 private key is at most n - 2
        openssl = SM2PrivateKey.from_bytes(d.to_bytes(32, "big")).public_key().public_bytes()
        assert openssl == b"\x04" + ours[0].to_bytes(32, "big") + ours[1].to_bytes(32, "big")
    assert pysmx_sm2.kG(d, f"{SM2.gx:064x}{SM2.gy:064x}", 64) == f"{ours[0]:064x}{ours[1]:064x}"


@_SLOW
@given(st.binary(max_size=64), st.binary(min_size=1, max_size=40))
def test_hash_to_curve_is_on_curve_deterministic_and_round_trips(msg: bytes, dst: bytes) -> None:
    point = hash_to_curve(msg, dst)
    assert SM2.on_curve(point)
    assert hash_to_curve(msg, dst) == point
    encoded = encode_point(point)
    assert len(encoded) == 33 and encoded[0] in (2, 3)
    assert decode_point(encoded) == point
    assert multiply(SM2, SM2.n - 1, point) == (point[0], SM2.p - point[1])  # order n: (n-1)·P = -P


@_SLOW
@given(st.binary(max_size=32), st.binary(min_size=1, max_size=20), st.binary(min_size=1, max_size=20))
def test_hash_to_curve_separates_domains(msg: bytes, dst1: bytes, dst2: bytes) -> None:
    if dst1 != dst2:
        assert hash_to_curve(msg, dst1) != hash_to_curve(msg, dst2)


def test_hash_to_curve_separates_messages() -> None:
    points = {encode_point(hash_to_curve(b"%d" % i, SM2_DST)) for i in range(200)}
    assert len(points) == 200


@_SLOW
@given(st.integers(1, SM2.n - 1), st.integers(1, SM2.n - 1), st.binary(max_size=16))
def test_scalar_multiplication_commutes(a: int, b: int, msg: bytes) -> None:
    h = hash_to_curve(msg, SM2_DST)
    assert multiply(SM2, a, multiply(SM2, b, h)) == multiply(SM2, b, multiply(SM2, a, h)) == multiply(SM2, a * b, h)


def _off_curve_x() -> int:
    x = 0
    while True:
        x += 1
        try:
            decode_point(b"\x02" + x.to_bytes(32, "big"))
        except PointError:
            return x


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00", "point at infinity"),
        (b"", "33 bytes"),
        (b"\x02" + bytes(31), "33 bytes"),
        (b"\x04" + SM2.gx.to_bytes(32, "big") + SM2.gy.to_bytes(32, "big"), "33 bytes"),
        (b"\x04" + SM2.gx.to_bytes(32, "big"), "starts with 02 or 03, not 04"),
        (b"\x06" + SM2.gx.to_bytes(32, "big"), "starts with 02 or 03, not 06"),
        (b"\x02" + SM2.p.to_bytes(32, "big"), "not below the field prime"),
        (b"\x03" + (2**256 - 1).to_bytes(32, "big"), "not below the field prime"),
        (b"\x02" + _off_curve_x().to_bytes(32, "big"), "no point of the SM2 curve"),
    ],
)
def test_decode_point_refuses_what_is_not_a_point(data: bytes, message: str) -> None:
    with pytest.raises(PointError, match=message) as info:
        decode_point(data)
    assert isinstance(info.value, SuiteError)


def test_encode_point_refuses_the_identity_and_decode_takes_both_parities() -> None:
    with pytest.raises(PointError, match="infinity"):
        encode_point(None)
    g = SM2.generator
    minus_g = (SM2.gx, SM2.p - SM2.gy)
    assert decode_point(encode_point(g)) == g
    assert decode_point(encode_point(minus_g)) == minus_g
    assert encode_point(g)[1:] == encode_point(minus_g)[1:] and encode_point(g)[0] != encode_point(minus_g)[0]
    assert sm2group.add(SM2, g, minus_g) is None
    assert multiply(SM2, SM2.n, g) is None


def test_z_satisfies_rfc_9380_h2_criteria_that_can_be_checked_cheaply() -> None:
    p, z = SM2.p, SM2.z
    assert z == p - 9
    assert pow(z, (p - 1) // 2, p) == p - 1  # not a square
    x = SM2.b * pow(z * SM2.a, -1, p) % p
    assert pow((x**3 + SM2.a * x + SM2.b) % p, (p - 1) // 2, p) == 1  # g(B / (Z·A)) is a square
    assert hashlib.new("sm3").block_size == 64


@_SLOW
@given(st.integers(1, SM2.n - 1), st.binary(max_size=16))
def test_openssl_and_python_scalar_multiplication_agree(k: int, msg: bytes) -> None:
    h = hash_to_curve(msg, SM2_DST)
    assert multiply(SM2, k, h) == sm2group.multiply_python(SM2, k, h)


def test_openssl_multiplication_by_the_order_is_the_identity() -> None:
    g = b"\x04" + SM2.gx.to_bytes(32, "big") + SM2.gy.to_bytes(32, "big")
    assert _libcrypto.sm2_multiply(SM2.n.to_bytes(32, "big"), g) is None
    assert _libcrypto.sm2_multiply((1).to_bytes(32, "big"), g) == g
