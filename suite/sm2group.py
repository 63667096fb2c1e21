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
Montgomery ladder, written to take the same time for every scalar. The rest is not constant-time: point addition
and the map depend on their inputs, which are public points or keyed identifiers (HMAC outputs under a job key),
never a scalar; docs/national-suite.md states this limit.

Fast paths and their references. A PSI maps, multiplies and decodes thousands of points with one scalar, so the
``*_many`` functions take lists: :func:`map_to_curve_many` is RFC 9380's straight-line map (Appendix F.2, one
exponentiation a point), :func:`hash_to_curve_many` adds the pairs with one shared inversion,
:func:`decode_points` takes its square roots together, these exponentiations run in libcrypto
(``BN_mod_exp_mont``, several times faster than ``pow`` on 256-bit integers), and :func:`multiply_and_encode`
multiplies and encodes a list in one libcrypto call. The plain descriptions stay beside them as the references the
tests check them against for random inputs: :func:`map_to_curve` (RFC 9380 §6.6.2 as written),
:func:`hash_to_curve_reference`, :func:`decode_point_reference`, :func:`multiply_python`.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence
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
    "decode_point_reference",
    "decode_points",
    "encode_point",
    "encode_to_curve",
    "expand_message_xmd",
    "hash_to_curve",
    "hash_to_curve_many",
    "hash_to_curve_reference",
    "hash_to_field",
    "map_to_curve",
    "map_to_curve_many",
    "multiply",
    "multiply_and_encode",
    "multiply_python",
    "random_scalar",
]

POINT_SIZE: Final = 33
H2C_SUITE: Final = b"SM2_XMD:SM3_SSWU_RO_"

#: An affine point (x, y); ``None`` is the point at infinity.
Point = tuple[int, int] | None


class PointError(SuiteError):
    """Bytes that are not the compressed encoding of a point of the curve other than the identity; ``index`` is
    the position of the bad encoding in a list :func:`decode_points` was given (None from :func:`decode_point`)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


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


def multiply_and_encode(c: Curve, k: int, points: Sequence[tuple[int, int]]) -> list[bytes]:
    """encode_point(k·P) for each point P, in order (k taken mod n); PointError if a product is the identity (only
    k ≡ 0 gives one: the points are on the curve, of prime order). On the SM2 curve one libcrypto call does them
    all (``_libcrypto.sm2_multiply_many``: the same ladder per point as :func:`multiply`, the products made affine
    together and encoded there); on another curve (the tests' P-256) :func:`multiply_python` and
    :func:`encode_point`, the reference it is checked against."""
    k %= c.n
    if k == 0:
        if points:
            raise PointError("the point at infinity has no compressed encoding")
        return []
    if c is not SM2:
        return [encode_point(multiply_python(c, k, p), c) for p in points]
    wire = [b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big") for x, y in points]
    products = _libcrypto.sm2_multiply_many(k.to_bytes(32, "big"), wire, compressed=True)
    if any(product is None for product in products):
        raise PointError("the point at infinity has no compressed encoding")
    return [product for product in products if product is not None]


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
    try:
        return decode_points([data], c)[0]
    except PointError as exc:
        raise PointError(str(exc)) from None


def decode_points(encodings: Sequence[bytes], c: Curve = SM2) -> list[tuple[int, int]]:
    """The points ``encodings`` encode, each validated as :func:`decode_point` does; PointError for the first
    that is not a point, its ``index`` naming it. The square roots run together in libcrypto
    (``_libcrypto.mod_exp_many``); :func:`decode_point_reference` is the same check in Python integers."""
    xs: list[int] = []
    refused: PointError | None = None
    for i, data in enumerate(encodings):
        try:
            xs.append(_decode_x(data, c))
        except PointError as exc:
            refused = PointError(str(exc), i)
            break
    roots = _libcrypto.mod_exp_many([(x * x * x + c.a * x + c.b) % c.p for x in xs], (c.p + 1) // 4, c.p)
    points = []
    for i, (x, y) in enumerate(zip(xs, roots, strict=True)):
        if y * y % c.p != (x * x * x + c.a * x + c.b) % c.p:
            raise PointError(f"no point of the {c.name} curve has this x coordinate", i)
        if y & 1 != encodings[i][0] - 2:
            y = c.p - y
        # y = 0 would be a point of order 2; the curve's order is the odd prime n, so there is none.
        assert y != 0
        points.append((x, y))
    if refused is not None:
        raise refused
    return points


def _decode_x(data: bytes, c: Curve) -> int:
    """x of a compressed encoding, its length, prefix and range checked (not yet that a point has it)."""
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
    return x


def decode_point_reference(data: bytes, c: Curve = SM2) -> tuple[int, int]:
    """:func:`decode_point` in Python integers alone (the square root by ``pow``): the tests' reference."""
    x = _decode_x(data, c)
    y = _sqrt(c, x * x * x + c.a * x + c.b)
    if y is None:
        raise PointError(f"no point of the {c.name} curve has this x coordinate")
    if y & 1 != data[0] - 2:
        y = c.p - y
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
    b0_int = int.from_bytes(b0, "big")
    for i in range(2, ell + 1):
        bi = h((b0_int ^ int.from_bytes(bi, "big")).to_bytes(b_in_bytes, "big") + bytes([i]) + dst_prime)
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

    The result is the identity with probability about 1/n; that is refused rather than returned. The same as
    :func:`hash_to_curve_reference`, by the straight-line map (:func:`hash_to_curve_many`)."""
    return hash_to_curve_many([msg], dst, c)[0]


def hash_to_curve_many(msgs: Sequence[bytes], dst: bytes, c: Curve = SM2) -> list[tuple[int, int]]:
    """:func:`hash_to_curve` of each message, in order: both field elements of every message go through
    :func:`map_to_curve_many` at once, and the sums share one field inversion (Montgomery's trick)."""
    us = [u for msg in msgs for u in hash_to_field(msg, 2, dst, c)]
    mapped = map_to_curve_many(us, c)
    pairs = [(mapped[2 * i], mapped[2 * i + 1]) for i in range(len(msgs))]
    # affine addition, λ = (y1 − y0)/(x1 − x0); a pair with x0 = x1 (probability about 2^-256) goes to add()
    slopes = _invert_all([(q1[0] - q0[0]) % c.p or 1 for q0, q1 in pairs], c.p)
    points = []
    for (q0, q1), inverse in zip(pairs, slopes, strict=True):
        if q0[0] == q1[0]:
            point = add(c, q0, q1)
            if point is None:
                raise PointError("hash_to_curve gave the point at infinity (probability about 2^-256)")
            points.append(point)
            continue
        lam = (q1[1] - q0[1]) * inverse % c.p
        x = (lam * lam - q0[0] - q1[0]) % c.p
        points.append((x, (lam * (q0[0] - x) - q0[1]) % c.p))
    return points


def hash_to_curve_reference(msg: bytes, dst: bytes, c: Curve = SM2) -> tuple[int, int]:
    """:func:`hash_to_curve` by RFC 9380's plain description alone (:func:`map_to_curve`, Jacobian addition), in
    Python integers: the reference the tests check the fast path against."""
    u0, u1 = hash_to_field(msg, 2, dst, c)
    point = add(c, map_to_curve(u0, c), map_to_curve(u1, c))
    if point is None:
        raise PointError("hash_to_curve gave the point at infinity (probability about 2^-256)")
    return point


def encode_to_curve(msg: bytes, dst: bytes, c: Curve = SM2) -> tuple[int, int]:
    """RFC 9380 §3's ``encode_to_curve`` (nonuniform, suite ``SM2_XMD:SM3_SSWU_NU_`` on SM2): one field element,
    mapped (cofactor 1). The map never gives the identity."""
    (u,) = hash_to_field(msg, 1, dst, c)
    return map_to_curve_many([u], c)[0]


def map_to_curve_many(us: Sequence[int], c: Curve = SM2) -> list[tuple[int, int]]:
    """:func:`map_to_curve` of each field element, by the straight-line simplified SWU of RFC 9380 Appendix F.2
    with its ``sqrt_ratio`` for p ≡ 3 (mod 4) (F.2.1.2): one exponentiation a point, all of them in one libcrypto
    call (``_libcrypto.mod_exp_many``), and x = xn/xd with one field inversion for all the points."""
    p, a, b, z = c.p, c.a, c.b, c.z
    c2 = _sqrt_minus_z(c)
    staged = []
    for u in us:
        tv1 = z * u * u % p
        tv2 = (tv1 * tv1 + tv1) % p
        tv3 = b * (tv2 + 1) % p
        tv4 = a * (-tv2 if tv2 else z) % p  # A · CMOV(Z, −tv2, tv2 ≠ 0)
        tv6 = tv4 * tv4 % p
        gxn = (tv3 * tv3 + a * tv6) % p * tv3 % p
        tv6 = tv6 * tv4 % p
        gxn = (gxn + b * tv6) % p  # g(x1) = gxn / tv6
        # sqrt_ratio(gxn, tv6): y1 = (gxn·tv6³)^((p − 3)/4) · gxn·tv6
        uv = gxn * tv6 % p
        staged.append((u, tv1, tv3, tv4, gxn, tv6, uv, tv6 * tv6 % p * uv % p))
    powers = _libcrypto.mod_exp_many([s[7] for s in staged], (p - 3) // 4, p)
    numerators = []
    for (u, tv1, tv3, _tv4, gxn, tv6, uv, _t), power in zip(staged, powers, strict=True):
        y1 = power * uv % p
        is_square = y1 * y1 % p * tv6 % p == gxn
        if is_square:
            xn, y = tv3, y1
        else:
            xn, y = tv1 * tv3 % p, tv1 * u % p * y1 * c2 % p
        if u & 1 != y & 1:
            y = -y % p
        numerators.append((xn, y))
    inverses = _invert_all([s[3] for s in staged], p)
    return [(xn * inverse % p, y) for (xn, y), inverse in zip(numerators, inverses, strict=True)]


@functools.cache
def _sqrt_minus_z(c: Curve) -> int:
    """F.2.1.2's c2 = sqrt(−Z): −Z is a square, since Z is not and −1 is not (p ≡ 3 mod 4)."""
    root = _sqrt(c, -c.z % c.p)
    assert root is not None
    return root


def _invert_all(values: Sequence[int], p: int) -> list[int]:
    """The inverse mod p of each value (all non-zero), by Montgomery's trick: one ``pow(·, −1, p)`` for the lot."""
    prefix = []
    acc = 1
    for v in values:
        prefix.append(acc)
        acc = acc * v % p
    inverse = pow(acc, -1, p) if values else 1
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = prefix[i] * inverse % p
        inverse = inverse * values[i] % p
    return out
