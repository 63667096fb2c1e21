"""Our SM2 signatures against two independent implementations, with the same signer ID on both sides.

gmssl-pyx wraps GmSSL (C); snowland-smx (`pysmx`) is pure Python, so it gets few examples. A signature made under
the empty ID must not verify under the default one: that is what shows the ID really reaches the hash.
"""

from __future__ import annotations

import secrets

import gmssl_pyx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysmx import SM2 as pysmx_sm2

from suite.sm2 import DEFAULT_ID, InvalidSignatureError, SM2PrivateKey, SM2PublicKey, der_to_raw, raw_to_der

IDS = [DEFAULT_ID, b"alice@consortium", b"", b"x" * 300]
messages = st.binary(max_size=300)


def _pysmx_sign(key: SM2PrivateKey, message: bytes, signer_id: bytes) -> bytes:
    while True:
        nonce = secrets.randbelow(0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54122) + 1
        signature = pysmx_sm2.Sign(message, key.private_bytes(), f"{nonce:064x}", 64, uid=signer_id)
        if signature is not None:
            return bytes(signature)


@pytest.mark.parametrize("signer_id", [i for i in IDS if i])  # gmssl-pyx refuses an empty ID
@settings(max_examples=10, deadline=None)
@given(message=messages)
def test_gmssl_verifies_ours_and_we_verify_gmssl(signer_id: bytes, message: bytes) -> None:
    key = SM2PrivateKey.generate()
    point = key.public_key().public_bytes()[1:]
    assert gmssl_pyx.sm2_verify(point, message, key.sign_der(message, signer_id), signer_id)
    theirs = gmssl_pyx.sm2_sign(key.private_bytes(), point, message, signer_id)
    key.public_key().verify_der(theirs, message, signer_id)
    key.public_key().verify(der_to_raw(theirs), message, signer_id)


@pytest.mark.parametrize("signer_id", IDS)
@settings(max_examples=2, deadline=None)
@given(message=messages)
def test_pure_python_verifies_ours_and_we_verify_it(signer_id: bytes, message: bytes) -> None:
    key = SM2PrivateKey.generate()
    point = key.public_key().public_bytes()[1:]
    assert pysmx_sm2.Verify(key.sign(message, signer_id), message, point, 64, uid=signer_id)
    key.public_key().verify(_pysmx_sign(key, message, signer_id), message, signer_id)


def test_a_signature_under_the_empty_id_does_not_verify_under_the_default_id() -> None:
    key = SM2PrivateKey.generate()
    point = key.public_key().public_bytes()[1:]
    message = b"grant 0x3f.. to news-feed-v2"
    ours = key.sign(message, b"")
    pure = _pysmx_sign(key, message, b"")
    for signature in (ours, pure):
        key.public_key().verify(signature, message, b"")
        with pytest.raises(InvalidSignatureError):
            key.public_key().verify(signature, message, DEFAULT_ID)
    assert not gmssl_pyx.sm2_verify(point, message, raw_to_der(ours), DEFAULT_ID)
    assert not pysmx_sm2.Verify(ours, message, point, 64, uid=DEFAULT_ID)


def test_a_gmssl_key_pair_loads_and_matches() -> None:
    point, scalar = gmssl_pyx.sm2_key_generate()
    key = SM2PrivateKey.from_bytes(scalar)
    assert key.public_key() == SM2PublicKey.from_bytes(b"\x04" + point)


@settings(max_examples=5, deadline=None)
@given(message=st.binary(min_size=1, max_size=200))
def test_gmssl_opens_our_sm2_encryption_and_we_open_its(message: bytes) -> None:
    # GB/T 32918.4 encryption with SM3, the ciphertext in GM/T 0009's DER (what a PSI job's secret travels in)
    key = SM2PrivateKey.generate()
    point = key.public_key().public_bytes()[1:]
    assert gmssl_pyx.sm2_decrypt(key.private_bytes(), key.public_key().encrypt(message)) == message
    assert key.decrypt(gmssl_pyx.sm2_encrypt(point, message)) == message


def test_an_sm2_ciphertext_opens_with_its_key_only_and_not_once_changed() -> None:
    from suite.errors import SM2Error

    key = SM2PrivateKey.generate()
    sealed = bytearray(key.public_key().encrypt(b"x" * 48))
    with pytest.raises(SM2Error, match="SM2 decryption failed"):
        SM2PrivateKey.generate().decrypt(bytes(sealed))
    sealed[-1] ^= 1  # in C2: C3 = SM3(x2 || M || y2) no longer matches
    with pytest.raises(SM2Error, match="SM2 decryption failed"):
        key.decrypt(bytes(sealed))
