"""The edwards25519 group of RFC 8032 §5.1 in plain Python integers, for the ECVRF of ``privacy.vrf``.

Points are extended homogeneous coordinates ``(X, Y, Z, T)`` with x = X/Z, y = Y/Z, x·y = T/Z; addition is
RFC 8032 §5.1.4's unified formula, which also doubles. Encoding and decoding follow §5.1.2 and §5.1.3
(decoding refuses y ≥ p, a non-square x², and x = 0 with the sign bit set). Not constant time: the VRF keys
it serves are per job and the scalar multiplications run on the key holder's own machine; see
``docs/privacy.md``.
"""

from __future__ import annotations

from typing import Final

P: Final = 2**255 - 19
#: The order of the prime subgroup (RFC 8032's L, RFC 9381's q).
Q: Final = 2**252 + 27742317777372353535851937790883648493
D: Final = -121665 * pow(121666, P - 2, P) % P
_SQRT_M1: Final = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]

IDENTITY: Final[Point] = (0, 1, 1, 0)


def _base() -> Point:
    y = 4 * pow(5, P - 2, P) % P
    x = _recover_x(y, 0)
    assert x is not None
    return (x, y, 1, x * y % P)


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * _SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def add(p1: Point, p2: Point) -> Point:
    """p1 + p2 (RFC 8032 §5.1.4)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def negate(p: Point) -> Point:
    """-p."""
    x, y, z, t = p
    return (-x % P, y, z, -t % P)


def multiply(scalar: int, p: Point) -> Point:
    """scalar · p, double and add from the top bit (scalar ≥ 0)."""
    result = IDENTITY
    for bit in bin(scalar)[2:]:
        result = add(result, result)
        if bit == "1":
            result = add(result, p)
    return result


def equal(p1: Point, p2: Point) -> bool:
    """Whether two representations name the same point."""
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def encode(p: Point) -> bytes:
    """The 32-byte encoding of RFC 8032 §5.1.2: y little-endian, the low bit of x in bit 255."""
    x, y, z, _ = p
    zinv = pow(z, P - 2, P)
    x, y = x * zinv % P, y * zinv % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def decode(data: bytes) -> Point | None:
    """The point ``data`` encodes (RFC 8032 §5.1.3), or ``None`` if it encodes none."""
    if len(data) != 32:
        return None
    n = int.from_bytes(data, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


B: Final[Point] = _base()
