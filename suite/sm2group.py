"""The group of the SM2 curve (GB/T 32918.5-2017) for protocols other than signing: points, scalars, hash-to-curve.

``suite.sm2`` signs through OpenSSL, which offers no hash-to-curve and no scalar multiplication of an arbitrary
point through the EVP interface; a commutative-encryption PSI needs both. This module gives them in Python
integers, over the curve constants of ``suite.sm2``:

- point encoding: the compressed form of GB/T 32918.1-2016 §4.2.9 (``02`` or ``03`` ‖ x, 33 bytes; the prefix is
  2 + the rightmost bit of y). :func:`decode_point` is the one way a received point enters: it refuses any other
  length or prefix, x ≥ p, an x with no point on the curve, and the point at infinity (which has no 33-byte form;
  a single ``00`` byte, its encoding, is refused by length). The SM2 curve's order is the prime n (cofactor 1,
  GB/T 32918.5 §3), so every point on the curve other than the identity generates the whole group: there is no
  small subgroup to check against;
- scalars: integers in [1, n − 1] (:func:`random_scalar` draws one from the ``secrets`` generator);
- hash-to-curve: RFC 9380's random-oracle encoding with the simplified SWU map (§6.6.2), which applies to the SM2
  curve directly (a ≠ 0, b ≠ 0, p ≡ 3 mod 4), with ``expand_message_xmd`` (§5.3.1) over SM3. RFC 9380 defines no
  suite for this curve; ours is named ``SM2_XMD:SM3_SSWU_RO_`` and fixed by the parameters below
  (docs/national-suite.md gives them and test vectors). Z = −9 is what §H.2's procedure picks for the SM2 field
  (the same procedure gives −10 for P-256, as the RFC lists). The map, the field's square root and ``sgn0`` are
  written for any prime p ≡ 3 mod 4 with a, b ≠ 0 (:class:`Curve`), so the tests run them over P-256 against
  the RFC's own vectors (Appendix J.1.1) as well.

Scalar multiplication on the SM2 curve, the one operation on a secret (a PSI blinding scalar, a VRF key), runs in
OpenSSL's libcrypto (``EC_POINT_mul`` on its SM2 group, ``suite._libcrypto``): for a single point OpenSSL uses its
Montgomery ladder, written to take the same time for every scalar. The rest is Python integers in Jacobian
coordinates and not constant-time: point addition and the map depend on their inputs, which are public points or
keyed identifiers (HMAC outputs under a job key), never a scalar; docs/national-suite.md states this limit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from suite import _libcrypto, sm2
from suite.errors import SuiteError

__all__ = [
    "H2C_SUITE",
    "POINT_SIZE",
    "SM2",
    "Curve",
    "Point",
    "PointError",
    "decode_point",
    "encode_point",
    "encode_to_curve",
    "expand_message_xmd",
    "hash_to_curve",
    "hash_to_field",
    "map_to_curve",
    "multiply",
    "multiply_python",
    "random_scalar",
]

POINT_SIZE: Final = 33
H2C_SUITE: Final = b"SM2_XMD:SM3_SSWU_RO_"

#: An affine point (x, y); ``None`` is the point at infinity.
Point = tuple[int, int] | None


class PointError(SuiteError):
    """Bytes that are not the compressed encoding of a point of the curve other than the identity."""


@dataclass(frozen=True, slots=True)
class Curve:
    """A short Weierstrass curve y² = x³ + ax + b over F_p, p ≡ 3 (mod 4), a ≠ 0, b ≠ 0, of prime order n
    (cofactor 1), with the hash-to-curve parameters of its RFC 9380 suite (Z, the hash of expand_message_xmd)."""

    name: str
    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int
    z: int  # the SSWU constant, as an element of F_p
    hash_name: str  # hashlib name for expand_message_xmd
    k: int = 128  # security level in bits (RFC 9380 §5): L = ceil((ceil(log2(p)) + k) / 8)

    def __post_init__(self) -> None:
        assert self.p % 4 == 3 and self.a % self.p and self.b % self.p

    @property
    def generator(self) -> tuple[int, int]:
        return (self.gx, self.gy)

    @property
    def field_bytes(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def on_curve(self, point: Point) -> bool:
        if point is None:
            return False
        x, y = point
        return 0 <= x < self.p and 0 <= y < self.p and (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0


SM2: Final = Curve("SM2", sm2.P, sm2.A, sm2.B, sm2.N, sm2.GX, sm2.GY, sm2.P - 9, "sm3")


def _sqrt(c: Curve, v: int) -> int | None:
    """A square root of v in F_p (p ≡ 3 mod 4), or None if v is not a square."""
    y = pow(v, (c.p + 1) // 4, c.p)
    return y if y * y % c.p == v % c.p else None


# --- arithmetic ------------------------------------------------------------------------------------------------
# Jacobian (X, Y, Z) stands for (X/Z², Y/Z³); Z = 0 is the point at infinity.

_Jac = tuple[int, int, int]
_INF: Final[_Jac] = (1, 1, 0)


def _double(c: Curve, pt: _Jac) -> _Jac:
    x, y, z = pt
    if z == 0 or y == 0:
        return _INF
    p = c.p
    yy = y * y % p
    s = 4 * x * yy % p
    zz = z * z % p
    m = (3 * x * x + c.a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * yy * yy) % p
    return (x3, y3, 2 * y * z % p)


def _add_affine(c: Curve, pt: _Jac, q: tuple[int, int]) -> _Jac:
    """pt + q for q affine (not the identity)."""
    x1, y1, z1 = pt
    if z1 == 0:
        return (q[0], q[1], 1)
    p = c.p
    z1z1 = z1 * z1 % p
    u2 = q[0] * z1z1 % p
    s2 = q[1] * z1 * z1z1 % p
    h = (u2 - x1) % p
    r = (s2 - y1) % p
    if h == 0:
        return _double(c, pt) if r == 0 else _INF
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - y1 * hhh) % p
    return (x3, y3, z1 * h % p)


def _affine(c: Curve, pt: _Jac) -> Point:
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, c.p)
    zi2 = zi * zi % c.p
    return (x * zi2 % c.p, y * zi2 * zi % c.p)


def add(c: Curve, p1: Point, p2: Point) -> Point:
    """p1 + p2."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    return _affine(c, _add_affine(c, (p1[0], p1[1], 1), p2))


def multiply(c: Curve, k: int, point: Point) -> Point:
    """k·point (k taken mod n). On the SM2 curve through OpenSSL's ``EC_POINT_mul`` (its ladder, see the module
    docstring); on another curve (the tests' P-256) by :func:`multiply_python`."""
    k %= c.n
    if point is None or k == 0:
        return None
    if c is not SM2:
        return multiply_python(c, k, point)
    x, y = point
    product = _libcrypto.sm2_multiply(k.to_bytes(32, "big"), b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big"))
    if product is None:
        return None
    return (int.from_bytes(product[1:33], "big"), int.from_bytes(product[33:], "big"))


def multiply_python(c: Curve, k: int, point: Point) -> Point:
    """k·point by double-and-add in Python integers (k taken mod n; not constant-time)."""
    k %= c.n
    if point is None or k == 0:
        return None
    acc = _INF
    for bit in bin(k)[2:]:
        acc = _double(c, acc)
        if bit == "1":
            acc = _add_affine(c, acc, point)
    return _affine(c, acc)


def random_scalar(c: Curve = SM2) -> int:
    """A uniformly random scalar in [1, n − 1]."""
    return 1 + secrets.randbelow(c.n - 1)


# --- encoding --------------------------------------------------------------------------------------------------


def encode_point(point: Point, c: Curve = SM2) -> bytes:
    """The compressed form (GB/T 32918.1 §4.2.9): ``02`` or ``03`` (2 + the rightmost bit of y) ‖ x."""
    if point is None:
        raise PointError("the point at infinity has no compressed encoding")
    x, y = point
    return bytes([2 + (y & 1)]) + x.to_bytes(c.field_bytes, "big")


def decode_point(data: bytes, c: Curve = SM2) -> tuple[int, int]:
    """The point ``data`` encodes, validated (module docstring); PointError saying what is wrong otherwise."""
    size = 1 + c.field_bytes
    if len(data) != size:
        if data == b"\x00":
            raise PointError(f"the point is the point at infinity (00), which no {c.name} protocol message may carry")
        raise PointError(f"a compressed {c.name} point is {size} bytes (02 or 03 ‖ x), not {len(data)}")
    if data[0] not in (2, 3):
        raise PointError(
            f"a compressed {c.name} point starts with 02 or 03, not {data[0]:02x} (uncompressed and hybrid forms "
            "are not accepted)"
        )
    x = int.from_bytes(data[1:], "big")
    if x >= c.p:
        raise PointError(f"the point's x coordinate is not below the field prime of {c.name}")
    y = _sqrt(c, x * x * x + c.a * x + c.b)
    if y is None:
        raise PointError(f"no point of the {c.name} curve has this x coordinate")
    if y & 1 != data[0] - 2:
        y = c.p - y
    # y = 0 would be a point of order 2; the curve's order is the odd prime n, so there is none (the assert holds).
    assert y != 0 and c.on_curve((x, y))
    return (x, y)


# --- hash-to-curve (RFC 9380) ----------------------------------------------------------------------------------


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int, hash_name: str = "sm3") -> bytes:
    """RFC 9380 §5.3.1 over ``hash_name`` (a Merkle–Damgård hash of hashlib, SM3 by default)."""
    proto = hashlib.new(hash_name)
    b_in_bytes, s_in_bytes = proto.digest_size, proto.block_size
    ell = -(-len_in_bytes // b_in_bytes)
    if ell > 255 or len_in_bytes > 65535 or len(dst) > 255:
        raise ValueError("expand_message_xmd: len_in_bytes or the DST is too long (RFC 9380 §5.3.1)")
    if not dst:
        raise ValueError("expand_message_xmd: the domain separation tag must not be empty (RFC 9380 §3.1)")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(s_in_bytes) + msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime

    def h(data: bytes) -> bytes:
        return hashlib.new(hash_name, data).digest()

    b0 = h(msg_prime)
    bi = h(b0 + b"\x01" + dst_prime)
    out = [bi]
    for i in range(2, ell + 1):
        bi = h(bytes(x ^ y for x, y in zip(b0, bi, strict=True)) + bytes([i]) + dst_prime)
        out.append(bi)
    return b"".join(out)[:len_in_bytes]


def hash_to_field(msg: bytes, count: int, dst: bytes, c: Curve = SM2) -> list[int]:
    """RFC 9380 §5.2 for a prime field (m = 1): ``count`` elements of F_p."""
    length = (c.p.bit_length() + c.k + 7) // 8
    uniform = expand_message_xmd(msg, dst, count * length, c.hash_name)
    return [int.from_bytes(uniform[i * length : (i + 1) * length], "big") % c.p for i in range(count)]


def map_to_curve(u: int, c: Curve = SM2) -> tuple[int, int]:
    """The simplified SWU map of RFC 9380 §6.6.2 (its plain description), with sgn0 = parity (§4.1, m = 1)."""
    p, a, b, z = c.p, c.a, c.b, c.z
    u2 = u * u % p
    tv1 = (z * z * u2 * u2 + z * u2) % p
    tv1 = pow(tv1, -1, p) if tv1 else 0  # inv0
    x1 = (-b) * pow(a, -1, p) * (1 + tv1) % p if tv1 else b * pow(z * a, -1, p) % p
    gx1 = (x1 * x1 * x1 + a * x1 + b) % p
    y = _sqrt(c, gx1)
    x = x1
    if y is None:
        x = z * u2 * x1 % p
        y = _sqrt(c, (x * x * x + a * x + b) % p)
        assert y is not None, "RFC 9380 §6.6.2: one of g(x1), g(x2) is a square"
    if u % 2 != y % 2:
        y = (p - y) % p
    return (x, y)


def hash_to_curve(msg: bytes, dst: bytes, c: Curve = SM2) -> tuple[int, int]:
    """RFC 9380 §3's ``hash_to_curve`` (random oracle): map two field elements and add them (cofactor 1).

    The result is the identity with probability about 1/n; that is refused rather than returned."""
    u0, u1 = hash_to_field(msg, 2, dst, c)
    point = add(c, map_to_curve(u0, c), map_to_curve(u1, c))
    if point is None:
        raise PointError("hash_to_curve gave the point at infinity (probability about 2^-256)")
    return point


def encode_to_curve(msg: bytes, dst: bytes, c: Curve = SM2) -> tuple[int, int]:
    """RFC 9380 §3's ``encode_to_curve`` (nonuniform, suite ``SM2_XMD:SM3_SSWU_NU_`` on SM2): one field element,
    mapped (cofactor 1). The map never gives the identity."""
    (u,) = hash_to_field(msg, 1, dst, c)
    return map_to_curve(u, c)
