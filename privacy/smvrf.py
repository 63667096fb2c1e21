"""ECVRF-SM2-SM3-SSWU: a verifiable random function on the SM2 curve with SM3, our own suite in RFC 9381's structure.

RFC 9381 defines ECVRF suites only for P-256 and edwards25519, and no national standard defines a VRF on SM2, so
this suite is ours, labelled as such by its suite string. It is RFC 9381 §5 as written, instantiated the way the
RFC's own ECVRF-P256-SHA256-SSWU (suite 0x02) is, with the SM2 curve for P-256 and SM3 for SHA-256:

- suite_string: ``0xFF`` ‖ ``consortium-ledger/ECVRF-SM2-SM3-SSWU`` (a multi-octet string starting with 0xFF, so
  that it is none of the RFC's one-octet suites);
- the group: the SM2 curve of GB/T 32918.5 (fLen = qLen = 32, cofactor 1), points encoded compressed (ptLen = 33,
  ``suite.sm2group``); cLen = 16; Hash = SM3 (hLen = 32);
- the secret key is the scalar x itself, 32 bytes big-endian in [1, n − 1]; the public key Y = x·G, compressed;
- encode_to_curve (§5.4.1.2): RFC 9380's ``encode_to_curve`` of our suite ``SM2_XMD:SM3_SSWU_NU_`` (the ``_RO_``
  suite of docs/national-suite.md with one field element instead of two), DST = ``ECVRF_`` ‖
  ``SM2_XMD:SM3_SSWU_NU_`` ‖ suite_string, the salt being PK_string;
- nonces (§5.4.2.1): RFC 6979 §3.2 with HMAC-SM3 and h1 = SM3(point_to_string(H)) (the same code with HMAC-SHA256
  over P-256 gives RFC 6979's own k of Appendix A.2.5, which the tests check);
- challenge (§5.4.3) over Y, H, Gamma, U, V; proof (§5.1) Gamma ‖ c ‖ s, 33 + 16 + 32 = 81 bytes; beta (§5.2) =
  SM3(suite_string ‖ 0x03 ‖ point_to_string(Gamma) ‖ 0x00), 32 bytes.

:func:`verify` validates the key as §5.4.5 asks (on the curve, not the identity; with cofactor 1 there is no
small-order point), decodes Gamma with the same checks, refuses s ≥ q, and raises VrfError on any failure.
Scalar multiplications run in OpenSSL (``suite.sm2group.multiply``); s = k + c·x mod n and the nonce's
comparisons are Python integer arithmetic, whose timing is not guaranteed independent of the secrets
(docs/national-suite.md).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from privacy.errors import MalformedError, VrfError
from suite import sm2group
from suite.sm2group import SM2, Curve, Point, PointError, encode_point, multiply

SUITE: Final = b"\xff" + b"consortium-ledger/ECVRF-SM2-SM3-SSWU"
H2C_SUITE_NU: Final = b"SM2_XMD:SM3_SSWU_NU_"
SECRET_KEY_SIZE: Final = 32
PUBLIC_KEY_SIZE: Final = 33
PROOF_SIZE: Final = 33 + 16 + 32
OUTPUT_SIZE: Final = 32
_C_LEN: Final = 16


def _scalar(secret_key: bytes) -> int:
    if len(secret_key) != SECRET_KEY_SIZE:
        raise MalformedError(f"VRF secret key is {len(secret_key)} bytes, not {SECRET_KEY_SIZE}")
    x = int.from_bytes(secret_key, "big")
    if not 0 < x < SM2.n:
        raise MalformedError("VRF secret key is not a scalar in [1, n - 1] of the SM2 curve")
    return x


def public_key(secret_key: bytes) -> bytes:
    """Y = x·G, compressed (33 bytes)."""
    return encode_point(multiply(SM2, _scalar(secret_key), SM2.generator))


def _encode_to_curve(public: bytes, alpha: bytes) -> tuple[int, int]:
    return sm2group.encode_to_curve(public + alpha, b"ECVRF_" + H2C_SUITE_NU + SUITE)


def rfc6979_nonce(x: int, message: bytes, c: Curve = SM2) -> int:
    """RFC 6979 §3.2's k for secret x and ``message`` with HMAC over the curve's hash (qlen = hlen = 256 bits)."""
    name = c.hash_name
    size = (c.n.bit_length() + 7) // 8
    h1 = hashlib.new(name, message).digest()
    x_octets = x.to_bytes(size, "big")
    h_octets = (int.from_bytes(h1, "big") % c.n).to_bytes(size, "big")  # bits2octets, qlen = hlen
    v = b"\x01" * len(h1)
    k = b"\x00" * len(h1)
    k = hmac.new(k, v + b"\x00" + x_octets + h_octets, name).digest()
    v = hmac.new(k, v, name).digest()
    k = hmac.new(k, v + b"\x01" + x_octets + h_octets, name).digest()
    v = hmac.new(k, v, name).digest()
    while True:
        v = hmac.new(k, v, name).digest()
        candidate = int.from_bytes(v[:size], "big")
        if 0 < candidate < c.n:
            return candidate
        k = hmac.new(k, v + b"\x00", name).digest()
        v = hmac.new(k, v, name).digest()


def _challenge(*points: bytes) -> int:
    digest = hashlib.new("sm3", SUITE + b"\x02" + b"".join(points) + b"\x00").digest()
    return int.from_bytes(digest[:_C_LEN], "big")


def _output(gamma: Point) -> bytes:
    return hashlib.new("sm3", SUITE + b"\x03" + encode_point(gamma) + b"\x00").digest()


def prove(secret_key: bytes, alpha: bytes) -> bytes:
    """ECVRF_prove (§5.1): pi = Gamma (33) ‖ c (16) ‖ s (32)."""
    x = _scalar(secret_key)
    y = encode_point(multiply(SM2, x, SM2.generator))
    h = _encode_to_curve(y, alpha)
    h_string = encode_point(h)
    gamma = multiply(SM2, x, h)
    k = rfc6979_nonce(x, h_string)
    c = _challenge(y, h_string, encode_point(gamma), encode_point(multiply(SM2, k, SM2.generator)),
                   encode_point(multiply(SM2, k, h)))  # fmt: skip
    s = (k + c * x) % SM2.n
    return encode_point(gamma) + c.to_bytes(_C_LEN, "big") + s.to_bytes(32, "big")


def _decode_proof(pi: bytes) -> tuple[tuple[int, int], int, int]:
    if len(pi) != PROOF_SIZE:
        raise VrfError(f"VRF proof is {len(pi)} bytes, not {PROOF_SIZE}")
    try:
        gamma = sm2group.decode_point(pi[:33])
    except PointError as exc:
        raise VrfError(f"VRF proof: Gamma is not a valid point: {exc}") from exc
    c = int.from_bytes(pi[33 : 33 + _C_LEN], "big")
    s = int.from_bytes(pi[33 + _C_LEN :], "big")
    if s >= SM2.n:
        raise VrfError("VRF proof: s is not below the group order")
    return gamma, c, s


def proof_to_hash(pi: bytes) -> bytes:
    """ECVRF_proof_to_hash (§5.2): beta of a proof, without checking it (use :func:`verify`)."""
    gamma, _, _ = _decode_proof(pi)
    return _output(gamma)


def verify(public: bytes, pi: bytes, alpha: bytes) -> bytes:
    """ECVRF_verify (§5.3) with key validation (§5.4.5): beta if ``pi`` is valid, else raise VrfError."""
    try:
        y = sm2group.decode_point(public)
    except PointError as exc:
        raise VrfError(f"VRF public key is not a valid point: {exc}") from exc
    gamma, c, s = _decode_proof(pi)
    h = _encode_to_curve(public, alpha)
    minus_c = SM2.n - c
    u = sm2group.add(SM2, multiply(SM2, s, SM2.generator), multiply(SM2, minus_c, y))
    v = sm2group.add(SM2, multiply(SM2, s, h), multiply(SM2, minus_c, gamma))
    if u is None or v is None or _challenge(public, encode_point(h), pi[:33], encode_point(u), encode_point(v)) != c:
        raise VrfError("VRF proof does not verify for this public key and input")
    return _output(gamma)


def output(secret_key: bytes, alpha: bytes) -> bytes:
    """beta for ``alpha`` without building a proof: SM3 over x·H (what a committer computes for each leaf)."""
    return Evaluator(secret_key).output(alpha)


class Evaluator:
    """One secret key, its public key computed once, for many outputs (a set commitment evaluates the VRF once per
    leaf): each output is one encode_to_curve and one scalar multiplication."""

    __slots__ = ("_public", "_x")

    def __init__(self, secret_key: bytes) -> None:
        self._x = _scalar(secret_key)
        self._public = encode_point(multiply(SM2, self._x, SM2.generator))

    @property
    def public_key(self) -> bytes:
        return self._public

    def output(self, alpha: bytes) -> bytes:
        return _output(multiply(SM2, self._x, _encode_to_curve(self._public, alpha)))
