"""ECVRF-EDWARDS25519-SHA512-TAI, the verifiable random function of RFC 9381 (suite 0x03).

A party holding a VRF secret key (a 32-byte RFC 8032 seed) computes, for any input ``alpha``, an output
``beta`` (64 bytes) and a proof ``pi`` (80 bytes); anyone with the public key checks ``pi`` and learns ``beta``
(§5.3), and nobody without the secret key can tell ``beta`` of an input they hold no proof for from random
(full pseudorandomness, §3.3), nor can the key holder make two outputs verify for one input (full uniqueness,
§3.1, which needs the key validation of §5.4.5 that :func:`verify` always does).

The suite's choices (§5.5): SHA-512; ``encode_to_curve`` by try-and-increment (§5.4.1.1) salted with the public
key; nonces as in RFC 8032 (§5.4.2.2); cLen = 16; cofactor 8. Checked against Appendix B.3's examples.
"""

from __future__ import annotations

import hashlib
from typing import Final

from privacy import _edwards25519 as ed
from privacy.errors import MalformedError, VrfError

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
        raise MalformedError(f"VRF secret key is {len(secret_key)} bytes, not {SECRET_KEY_SIZE}")
    h = hashlib.sha512(secret_key).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    return int.from_bytes(a, "little"), h[32:]


def public_key(secret_key: bytes) -> bytes:
    """The public key Y = x·B of a secret key, encoded (32 bytes)."""
    x, _ = _expand(secret_key)
    return ed.encode(ed.multiply(x, ed.B))


def _encode_to_curve(salt: bytes, alpha: bytes) -> ed.Point:
    """§5.4.1.1 try-and-increment: the first counter whose hash decodes to a point, times the cofactor."""
    for ctr in range(256):
        digest = hashlib.sha512(SUITE + b"\x01" + salt + alpha + bytes([ctr]) + b"\x00").digest()
        point = ed.decode(digest[:32])
        if point is not None:
            return ed.multiply(_COFACTOR, point)
    raise AssertionError("no counter below 256 gave a point (probability about 2^-256)")


def _challenge(*points: ed.Point) -> int:
    """§5.4.3: the first cLen bytes of SHA-512(suite ‖ 0x02 ‖ the points ‖ 0x00), little-endian."""
    data = SUITE + b"\x02" + b"".join(ed.encode(p) for p in points) + b"\x00"
    return int.from_bytes(hashlib.sha512(data).digest()[:_C_LEN], "little")


def _output(gamma: ed.Point) -> bytes:
    """§5.2: beta = SHA-512(suite ‖ 0x03 ‖ cofactor·Gamma ‖ 0x00)."""
    return hashlib.sha512(SUITE + b"\x03" + ed.encode(ed.multiply(_COFACTOR, gamma)) + b"\x00").digest()


def prove(secret_key: bytes, alpha: bytes) -> bytes:
    """ECVRF_prove (§5.1): pi = Gamma ‖ c (16 bytes) ‖ s (32 bytes)."""
    x, prefix = _expand(secret_key)
    y = ed.multiply(x, ed.B)
    h = _encode_to_curve(ed.encode(y), alpha)
    gamma = ed.multiply(x, h)
    k = int.from_bytes(hashlib.sha512(prefix + ed.encode(h)).digest(), "little") % ed.Q
    c = _challenge(y, h, gamma, ed.multiply(k, ed.B), ed.multiply(k, h))
    s = (k + c * x) % ed.Q
    return ed.encode(gamma) + c.to_bytes(_C_LEN, "little") + s.to_bytes(32, "little")


def _decode_proof(pi: bytes) -> tuple[ed.Point, int, int]:
    if len(pi) != PROOF_SIZE:
        raise VrfError(f"VRF proof is {len(pi)} bytes, not {PROOF_SIZE}")
    gamma = ed.decode(pi[:32])
    if gamma is None:
        raise VrfError("VRF proof: Gamma is not a point of edwards25519")
    c = int.from_bytes(pi[32:48], "little")
    s = int.from_bytes(pi[48:], "little")
    if s >= ed.Q:
        raise VrfError("VRF proof: s is not below the group order")
    return gamma, c, s


def proof_to_hash(pi: bytes) -> bytes:
    """ECVRF_proof_to_hash (§5.2): the output of a proof, without checking it (use :func:`verify`)."""
    gamma, _, _ = _decode_proof(pi)
    return _output(gamma)


def verify(public: bytes, pi: bytes, alpha: bytes) -> bytes:
    """ECVRF_verify (§5.3) with key validation (§5.4.5): beta if ``pi`` is valid, else raise VrfError."""
    y = ed.decode(public)
    if y is None:
        raise VrfError("VRF public key is not a point of edwards25519")
    if ed.equal(ed.multiply(_COFACTOR, y), ed.IDENTITY):
        raise VrfError("VRF public key is of small order")
    gamma, c, s = _decode_proof(pi)
    h = _encode_to_curve(public, alpha)
    u = ed.add(ed.multiply(s, ed.B), ed.negate(ed.multiply(c, y)))
    v = ed.add(ed.multiply(s, h), ed.negate(ed.multiply(c, gamma)))
    if _challenge(y, h, gamma, u, v) != c:
        raise VrfError("VRF proof does not verify for this public key and input")
    return _output(gamma)


def output(secret_key: bytes, alpha: bytes) -> bytes:
    """beta for ``alpha`` without building a proof (what a committer computes for every leaf)."""
    x, _ = _expand(secret_key)
    y = ed.multiply(x, ed.B)
    return _output(ed.multiply(x, _encode_to_curve(ed.encode(y), alpha)))
