"""ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) over edwards25519 (RFC 8032 §5.1) in plain Python integers; tests only.

The slow, obviously right implementation that ``privacy.vrf`` (libsodium) is checked against: every step as
RFC 9381 §5.1-§5.4 writes it, points in extended homogeneous coordinates ``(X, Y, Z, T)`` with RFC 8032
§5.1.4's unified addition, encoding and decoding as §5.1.2 and §5.1.3 (decoding refuses y ≥ p, a non-square x²,
and x = 0 with the sign bit set). Its key validation is the RFC's (§5.4.5: only a key of small order is
refused), looser than ``privacy.vrf``'s. Not constant time; about 5 ms per evaluation.
"""

from __future__ import annotations

import hashlib
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


SUITE: Final = b"\x03"
SECRET_KEY_SIZE: Final = 32
PUBLIC_KEY_SIZE: Final = 32
PROOF_SIZE: Final = 80
OUTPUT_SIZE: Final = 64
_C_LEN: Final = 16
_COFACTOR: Final = 8


def _expand(secret_key: bytes) -> tuple[int, bytes]:
    """The secret scalar x and the nonce prefix of an RFC 8032 §5.1.5 seed."""
    if len(secret_key) != SECRET_KEY_SIZE:
        raise ValueError(f"VRF secret key is {len(secret_key)} bytes, not {SECRET_KEY_SIZE}")
    h = hashlib.sha512(secret_key).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    return int.from_bytes(a, "little"), h[32:]


def public_key(secret_key: bytes) -> bytes:
    """The public key Y = x·B of a secret key, encoded (32 bytes)."""
    x, _ = _expand(secret_key)
    return encode(multiply(x, B))


def _encode_to_curve(salt: bytes, alpha: bytes) -> Point:
    """§5.4.1.1 try-and-increment: the first counter whose hash decodes to a point, times the cofactor."""
    for ctr in range(256):
        digest = hashlib.sha512(SUITE + b"\x01" + salt + alpha + bytes([ctr]) + b"\x00").digest()
        point = decode(digest[:32])
        if point is not None:
            return multiply(_COFACTOR, point)
    raise AssertionError("no counter below 256 gave a point (probability about 2^-256)")


def _challenge(*points: Point) -> int:
    """§5.4.3: the first cLen bytes of SHA-512(suite ‖ 0x02 ‖ the points ‖ 0x00), little-endian."""
    data = SUITE + b"\x02" + b"".join(encode(p) for p in points) + b"\x00"
    return int.from_bytes(hashlib.sha512(data).digest()[:_C_LEN], "little")


def _output(gamma: Point) -> bytes:
    """§5.2: beta = SHA-512(suite ‖ 0x03 ‖ cofactor·Gamma ‖ 0x00)."""
    return hashlib.sha512(SUITE + b"\x03" + encode(multiply(_COFACTOR, gamma)) + b"\x00").digest()


def prove(secret_key: bytes, alpha: bytes) -> bytes:
    """ECVRF_prove (§5.1): pi = Gamma ‖ c (16 bytes) ‖ s (32 bytes)."""
    x, prefix = _expand(secret_key)
    y = multiply(x, B)
    h = _encode_to_curve(encode(y), alpha)
    gamma = multiply(x, h)
    k = int.from_bytes(hashlib.sha512(prefix + encode(h)).digest(), "little") % Q
    c = _challenge(y, h, gamma, multiply(k, B), multiply(k, h))
    s = (k + c * x) % Q
    return encode(gamma) + c.to_bytes(_C_LEN, "little") + s.to_bytes(32, "little")


def _decode_proof(pi: bytes) -> tuple[Point, int, int]:
    if len(pi) != PROOF_SIZE:
        raise ValueError(f"VRF proof is {len(pi)} bytes, not {PROOF_SIZE}")
    gamma = decode(pi[:32])
    if gamma is None:
        raise ValueError("VRF proof: Gamma is not a point of edwards25519")
    c = int.from_bytes(pi[32:48], "little")
    s = int.from_bytes(pi[48:], "little")
    if s >= Q:
        raise ValueError("VRF proof: s is not below the group order")
    return gamma, c, s


def proof_to_hash(pi: bytes) -> bytes:
    """ECVRF_proof_to_hash (§5.2): the output of a proof, without checking it (use :func:`verify`)."""
    gamma, _, _ = _decode_proof(pi)
    return _output(gamma)


def verify(public: bytes, pi: bytes, alpha: bytes) -> bytes:
    """ECVRF_verify (§5.3) with key validation (§5.4.5): beta if ``pi`` is valid, else raise ValueError."""
    y = decode(public)
    if y is None:
        raise ValueError("VRF public key is not a point of edwards25519")
    if equal(multiply(_COFACTOR, y), IDENTITY):
        raise ValueError("VRF public key is of small order")
    gamma, c, s = _decode_proof(pi)
    h = _encode_to_curve(public, alpha)
    u = add(multiply(s, B), negate(multiply(c, y)))
    v = add(multiply(s, h), negate(multiply(c, gamma)))
    if _challenge(y, h, gamma, u, v) != c:
        raise ValueError("VRF proof does not verify for this public key and input")
    return _output(gamma)


def output(secret_key: bytes, alpha: bytes) -> bytes:
    """beta for ``alpha`` without building a proof (what a committer computes for every leaf)."""
    x, _ = _expand(secret_key)
    y = multiply(x, B)
    return _output(multiply(x, _encode_to_curve(encode(y), alpha)))
