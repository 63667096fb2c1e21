"""ECVRF-EDWARDS25519-SHA512-TAI, the verifiable random function of RFC 9381 (suite 0x03), over libsodium.

A party holding a VRF secret key (a 32-byte RFC 8032 seed) computes, for any input ``alpha``, an output
``beta`` (64 bytes) and a proof ``pi`` (80 bytes); anyone with the public key checks ``pi`` and learns ``beta``
(§5.3), and nobody without the secret key can tell ``beta`` of an input they hold no proof for from random
(full pseudorandomness, §3.3), nor can the key holder make two outputs verify for one input (full uniqueness,
§3.1, which needs the key validation of §5.4.5 that :func:`verify` always does).

The suite's choices (§5.5): SHA-512; ``encode_to_curve`` by try-and-increment (§5.4.1.1) salted with the public
key; nonces as in RFC 8032 (§5.4.2.2); cLen = 16; cofactor 8. Checked against Appendix B.3's examples, and
against a plain-Python reference (``tests/support/ecvrf_reference.py``) on random keys and inputs.

Point and scalar arithmetic is libsodium's (PyNaCl's ``nacl.bindings``), constant time in the secret scalars;
the hashing and the try-and-increment loop are as the RFC writes them (the loop's running time depends on
``alpha`` and the public key, never on the secret key). Decoding, by what a point is:

- a candidate of ``encode_to_curve``: exactly RFC 8032 §5.1.3 (refuses y ≥ p, x = 0 with the sign bit set, and
  a non-square x²), as RFC 9381 §5.5 requires; the cofactor is cleared by three doublings
  (``crypto_core_ed25519_add``, which takes any point of the curve);
- the public key Y and the proof's Gamma: ``crypto_core_ed25519_is_valid_point``, which is stricter than
  RFC 9381: it also refuses a point with a component of small order (RFC 9381 refuses only a key of small
  order, §5.4.5, and any Gamma that decodes). An honest key x·B and an honest Gamma x·H lie in the prime-order
  subgroup, so this refuses only points built on purpose; for such a Gamma the RFC would give the same beta
  (8·Gamma), so refusing changes no output. A proof whose c or s is 0 is refused too (libsodium refuses a
  scalar multiplication by 0); an honest proof has one with probability about 2^-128.
"""

from __future__ import annotations

import hashlib
from typing import Final

from nacl import bindings as sodium
from nacl import exceptions as sodium_errors

from privacy.errors import MalformedError, VrfError

SUITE: Final = b"\x03"
SECRET_KEY_SIZE: Final = 32
PUBLIC_KEY_SIZE: Final = 32
PROOF_SIZE: Final = 80
OUTPUT_SIZE: Final = 64
_C_LEN: Final = 16
_P: Final = 2**255 - 19
#: The order of the prime subgroup (RFC 8032's L, RFC 9381's q).
_Q: Final = 2**252 + 27742317777372353535851937790883648493
_PAD: Final = bytes(32)


def _expand(secret_key: bytes) -> tuple[bytes, bytes]:
    """The secret scalar x (reduced mod q, 32 bytes little-endian) and the nonce prefix of an RFC 8032 seed."""
    if len(secret_key) != SECRET_KEY_SIZE:
        raise MalformedError(f"VRF secret key is {len(secret_key)} bytes, not {SECRET_KEY_SIZE}")
    h = hashlib.sha512(secret_key).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    # x·B = (x mod q)·B; the reduced scalar is what libsodium's scalar arithmetic takes.
    return sodium.crypto_core_ed25519_scalar_reduce(bytes(a) + _PAD), h[32:]


def public_key(secret_key: bytes) -> bytes:
    """The public key Y = x·B of a secret key, encoded (32 bytes)."""
    x, _ = _expand(secret_key)
    return sodium.crypto_scalarmult_ed25519_base_noclamp(x)


def _rfc8032_decodes(data: bytes) -> bool:
    """Whether ``data`` passes RFC 8032 §5.1.3 before the square root that libsodium's decoding also does."""
    n = int.from_bytes(data, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    return y < _P and not (sign and y in (1, _P - 1))


def _times_cofactor(point: bytes) -> bytes | None:
    """8·point for any encoding libsodium decodes, by three doublings; ``None`` if it decodes to no point."""
    try:
        for _ in range(3):
            point = sodium.crypto_core_ed25519_add(point, point)
    except sodium_errors.RuntimeError:
        return None
    return point


def _candidate_point(candidate: bytes) -> bytes | None:
    """8·P for the point P that ``candidate`` encodes under RFC 8032 §5.1.3, or ``None`` if it encodes none."""
    return _times_cofactor(candidate) if _rfc8032_decodes(candidate) else None


def _encode_to_curve(salt: bytes, alpha: bytes) -> bytes:
    """§5.4.1.1 try-and-increment: the first counter whose hash decodes to a point, times the cofactor."""
    prefix = SUITE + b"\x01" + salt + alpha
    for ctr in range(256):
        h = _candidate_point(hashlib.sha512(prefix + bytes([ctr]) + b"\x00").digest()[:32])
        if h is not None:
            return h
    raise AssertionError("no counter below 256 gave a point (probability about 2^-256)")


def _challenge(*points: bytes) -> bytes:
    """§5.4.3: the first cLen bytes of SHA-512(suite ‖ 0x02 ‖ the points ‖ 0x00), as a 32-byte scalar."""
    data = SUITE + b"\x02" + b"".join(points) + b"\x00"
    return hashlib.sha512(data).digest()[:_C_LEN] + bytes(32 - _C_LEN)


def _output(gamma: bytes) -> bytes:
    """§5.2: beta = SHA-512(suite ‖ 0x03 ‖ cofactor·Gamma ‖ 0x00), Gamma already checked to be a valid point."""
    eight_gamma = _times_cofactor(gamma)
    assert eight_gamma is not None, "Gamma was checked to be a point"
    return hashlib.sha512(SUITE + b"\x03" + eight_gamma + b"\x00").digest()


def _prime_order_multiple(scalar: bytes, point: bytes) -> bytes:
    """scalar·point for a point of the prime-order subgroup and a scalar below q that is not 0."""
    return sodium.crypto_scalarmult_ed25519_noclamp(scalar, point)


def prove(secret_key: bytes, alpha: bytes) -> bytes:
    """ECVRF_prove (§5.1): pi = Gamma ‖ c (16 bytes) ‖ s (32 bytes)."""
    x, prefix = _expand(secret_key)
    y = sodium.crypto_scalarmult_ed25519_base_noclamp(x)
    h = _encode_to_curve(y, alpha)
    gamma = _prime_order_multiple(x, h)
    k = sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(prefix + h).digest())
    try:
        k_b = sodium.crypto_scalarmult_ed25519_base_noclamp(k)
        k_h = _prime_order_multiple(k, h)
    except sodium_errors.RuntimeError as exc:
        raise AssertionError("the nonce reduced to 0 (probability about 2^-252)") from exc
    c = _challenge(y, h, gamma, k_b, k_h)
    s = sodium.crypto_core_ed25519_scalar_add(k, sodium.crypto_core_ed25519_scalar_mul(c, x))
    return gamma + c[:_C_LEN] + s


def _decode_proof(pi: bytes) -> tuple[bytes, bytes, bytes]:
    """§5.4.4: Gamma, c (as a 32-byte scalar) and s of a proof; Gamma must be a valid point (module docstring)."""
    if len(pi) != PROOF_SIZE:
        raise VrfError(f"VRF proof is {len(pi)} bytes, not {PROOF_SIZE}")
    gamma, c, s = pi[:32], pi[32:48] + bytes(32 - _C_LEN), pi[48:]
    if not sodium.crypto_core_ed25519_is_valid_point(gamma):
        raise VrfError("VRF proof: Gamma is not a point of the prime-order subgroup of edwards25519")
    if int.from_bytes(s, "little") >= _Q:
        raise VrfError("VRF proof: s is not below the group order")
    return gamma, c, s


def proof_to_hash(pi: bytes) -> bytes:
    """ECVRF_proof_to_hash (§5.2): the output of a proof, without checking it (use :func:`verify`)."""
    gamma, _, _ = _decode_proof(pi)
    return _output(gamma)


def verify(public: bytes, pi: bytes, alpha: bytes) -> bytes:
    """ECVRF_verify (§5.3) with key validation (§5.4.5): beta if ``pi`` is valid, else raise VrfError."""
    if len(public) != PUBLIC_KEY_SIZE or not sodium.crypto_core_ed25519_is_valid_point(public):
        raise VrfError("VRF public key is not a point of edwards25519's prime-order subgroup other than the identity")
    gamma, c, s = _decode_proof(pi)
    h = _encode_to_curve(public, alpha)
    try:
        u = sodium.crypto_core_ed25519_sub(
            sodium.crypto_scalarmult_ed25519_base_noclamp(s), _prime_order_multiple(c, public)
        )
        v = sodium.crypto_core_ed25519_sub(_prime_order_multiple(s, h), _prime_order_multiple(c, gamma))
    except sodium_errors.RuntimeError as exc:
        raise VrfError("VRF proof: c or s is 0") from exc
    if _challenge(public, h, gamma, u, v) != c:
        raise VrfError("VRF proof does not verify for this public key and input")
    return _output(gamma)


def output(secret_key: bytes, alpha: bytes) -> bytes:
    """beta for ``alpha`` without building a proof (what a committer computes for every leaf)."""
    return Evaluator(secret_key).output(alpha)


class Evaluator:
    """One secret key, expanded once, for many outputs (a set commitment evaluates the VRF once per leaf)."""

    __slots__ = ("_eight_x", "_public")

    def __init__(self, secret_key: bytes) -> None:
        x, _ = _expand(secret_key)
        self._public = sodium.crypto_scalarmult_ed25519_base_noclamp(x)
        # 8·Gamma = (8x mod q)·H: one scalar multiplication, no Gamma and no doublings.
        self._eight_x = sodium.crypto_core_ed25519_scalar_mul(x, (8).to_bytes(32, "little"))

    @property
    def public_key(self) -> bytes:
        return self._public

    def output(self, alpha: bytes) -> bytes:
        """beta for ``alpha`` (§5.2 over (8x)·H), without the nonce and challenge of a proof."""
        eight_gamma = _prime_order_multiple(self._eight_x, _encode_to_curve(self._public, alpha))
        return hashlib.sha512(SUITE + b"\x03" + eight_gamma + b"\x00").digest()
