"""Hypothesis properties of SM2: round trips both ways, and any change to a signature or message fails."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suite import _der, sm2, sm2group
from suite.errors import SM4Error
from suite.sm2 import (
    DEFAULT_ID,
    InvalidSignatureError,
    N,
    SM2Error,
    SM2PrivateKey,
    SM2PublicKey,
    der_to_raw,
    raw_to_der,
)

KEY = SM2PrivateKey.generate()
signer_ids = st.one_of(st.just(DEFAULT_ID), st.binary(max_size=64))
scalars = st.integers(1, N - 1)


@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=500), signer_id=signer_ids)
def test_sign_then_verify(message: bytes, signer_id: bytes) -> None:
    signature = KEY.sign(message, signer_id)
    assert len(signature) == 64
    KEY.public_key().verify(signature, message, signer_id)
    KEY.public_key().verify_der(KEY.sign_der(message, signer_id), message, signer_id)


@settings(max_examples=40, deadline=None)
@given(message=st.binary(min_size=1, max_size=100), data=st.data())
def test_any_flipped_bit_of_signature_or_message_fails(message: bytes, data: st.DataObject) -> None:
    signature = bytearray(KEY.sign(message))
    changed = bytearray(message)
    target = data.draw(st.sampled_from(["signature", "message"]))
    buffer = signature if target == "signature" else changed
    bit = data.draw(st.integers(0, len(buffer) * 8 - 1))
    buffer[bit // 8] ^= 1 << (bit % 8)
    # A flip can push r or s out of [1, n - 1]: then it is malformed (SM2Error) rather than merely invalid.
    with pytest.raises(SM2Error):
        KEY.public_key().verify(bytes(signature), bytes(changed))


@settings(max_examples=10, deadline=None)
@given(message=st.binary(max_size=50), signer_id=st.binary(min_size=1, max_size=20))
def test_a_signature_is_bound_to_its_signer_id(message: bytes, signer_id: bytes) -> None:
    with pytest.raises(InvalidSignatureError):
        KEY.public_key().verify(KEY.sign(message, signer_id), message, signer_id + b"!")


@settings(max_examples=100)
@given(r=scalars, s=scalars)
def test_raw_and_der_round_trip(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    der = raw_to_der(raw)
    assert der_to_raw(der) == raw
    assert raw_to_der(der_to_raw(der)) == der
    assert der == _der.sequence(_der.integer(r), _der.integer(s))


@settings(max_examples=10, deadline=None)
@given(d=st.integers(1, N - 2))
def test_private_key_bytes_and_plain_pem_round_trip(d: int) -> None:
    key = SM2PrivateKey.from_bytes(d.to_bytes(32, "big"))
    assert key.private_bytes() == d.to_bytes(32, "big")
    again = SM2PrivateKey.from_pem(key.to_pem())
    assert again.private_bytes() == key.private_bytes()
    assert again.public_key() == key.public_key()


@settings(max_examples=5, deadline=None)
@given(password=st.binary(min_size=1, max_size=40).filter(lambda p: b"\x00" not in p))
def test_encrypted_pem_round_trips_and_a_wrong_password_fails(password: bytes) -> None:
    pem = KEY.to_pem(password, iterations=1000)  # the default costs about 0.4 s each way
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert SM2PrivateKey.from_pem(pem, password).private_bytes() == KEY.private_bytes()
    with pytest.raises(SM2Error, match="wrong password"):
        SM2PrivateKey.from_pem(pem, password + b"x")


def test_encrypted_pem_with_the_default_iteration_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSORTIUM_KDF_ITERATIONS", raising=False)  # the tests' lower count (tests/conftest.py)
    pem = KEY.to_pem(b"at rest")
    assert SM2PrivateKey.from_pem(pem, b"at rest").private_bytes() == KEY.private_bytes()
    assert _INTEGER_200_000 in _der_of(pem)


_INTEGER_200_000 = bytes.fromhex("0203030d40")  # PBKDF2-params' iterationCount, DER
_INTEGER_10_000 = bytes.fromhex("02022710")


def _der_of(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.strip().splitlines()[1:-1]))


def test_encrypted_pem_states_the_iterations_given_or_the_operators_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    pem = KEY.to_pem(b"at rest", iterations=10_000)
    assert _INTEGER_10_000 in _der_of(pem) and _INTEGER_200_000 not in _der_of(pem)
    assert SM2PrivateKey.from_pem(pem, b"at rest").private_bytes() == KEY.private_bytes()
    monkeypatch.setenv("CONSORTIUM_KDF_ITERATIONS", "10000")
    pem = KEY.to_pem(b"at rest")
    assert _INTEGER_10_000 in _der_of(pem)
    assert SM2PrivateKey.from_pem(pem, b"at rest").private_bytes() == KEY.private_bytes()
    monkeypatch.setenv("CONSORTIUM_KDF_ITERATIONS", "9999")
    with pytest.raises(SM4Error, match="CONSORTIUM_KDF_ITERATIONS"):
        KEY.to_pem(b"at rest")


@settings(max_examples=10, deadline=None)
@given(d=st.integers(1, N - 2))
def test_public_key_bytes_der_and_pem_round_trip(d: int) -> None:
    public = SM2PrivateKey.from_bytes(d.to_bytes(32, "big")).public_key()
    assert SM2PublicKey.from_bytes(public.public_bytes()) == public
    assert SM2PublicKey.from_der(public.to_der()) == public
    assert SM2PublicKey.from_pem(public.to_pem()) == public
    assert hash(SM2PublicKey.from_der(public.to_der())) == hash(public)
    assert len(public.to_der()) == 91


def _verification_equation_holds(public: SM2PublicKey, signature: bytes, message: bytes, signer_id: bytes) -> bool:
    """GB/T 32918.2 §7.1 in Python integers (``sm2group.multiply_python``, not OpenSSL): t = (r + s) mod n,
    (x1, y1) = sG + tP_A, and r = (e + x1) mod n."""
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    t = (r + s) % N
    if not (1 <= r < N and 1 <= s < N and t):
        return False
    point = public.public_bytes()
    p_a = (int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big"))
    curve = sm2group.SM2
    sum_ = sm2group.add(
        curve, sm2group.multiply_python(curve, s, curve.generator), sm2group.multiply_python(curve, t, p_a)
    )
    if sum_ is None:
        return False
    e = int.from_bytes(hashlib.new("sm3", sm2.za(public, signer_id) + message).digest(), "big")
    return (e + sum_[0]) % N == r


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, N - 2), k=scalars, message=st.binary(max_size=200), signer_id=signer_ids)
def test_a_signature_with_an_explicit_k_verifies_in_openssl(d: int, k: int, message: bytes, signer_id: bytes) -> None:
    key = SM2PrivateKey.from_bytes(d.to_bytes(32, "big"))
    signature = sm2.known_answer_sign(key, message, k, signer_id)  # r + k = n or s = 0: probability about 2^-255
    key.public_key().verify(signature, message, signer_id)
    assert _verification_equation_holds(key.public_key(), signature, message, signer_id)
    assert sm2.known_answer_sign(key, message, k, signer_id) == signature  # the same k, the same signature


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, N - 2), message=st.binary(max_size=200), signer_id=signer_ids)
def test_openssls_random_k_signatures_satisfy_the_verification_equation(
    d: int, message: bytes, signer_id: bytes
) -> None:
    key = SM2PrivateKey.from_bytes(d.to_bytes(32, "big"))
    signature = key.sign(message, signer_id)
    assert _verification_equation_holds(key.public_key(), signature, message, signer_id)
    assert signature != key.sign(message, signer_id)  # OpenSSL draws a fresh k each time
    tampered = bytearray(signature)
    tampered[31] ^= 1  # r changed by one bit: the equation fails
    assert not _verification_equation_holds(key.public_key(), bytes(tampered), message, signer_id)


def test_known_answer_signing_is_called_by_no_production_module() -> None:
    """``known_answer_sign`` takes the nonce from its caller; only tests may call it (``suite.sm2``'s docstring)."""
    root = Path(__file__).resolve().parents[3]
    callers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.parts[len(root.parts)] not in ("tests", "node_modules")
        and not any(part.startswith(".") for part in path.parts[len(root.parts) :])
        and "known_answer_sign" in path.read_text(encoding="utf-8", errors="replace")
    )
    assert callers == ["suite/sm2.py"], callers
