from __future__ import annotations

import hashlib
import hmac
import os

import gmssl_pyx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suite.errors import SM4Error
from suite.sm4 import (
    DEFAULT_ITERATIONS,
    ITERATIONS_ENV,
    OLD_ITERATIONS_ENV,
    derive_key,
    iterations_setting,
    open_,
    seal,
)

KEY = bytes(range(16))


@settings(max_examples=30, deadline=None)
@given(plaintext=st.binary(max_size=200), associated=st.binary(max_size=40))
def test_seal_opens_and_gcm_output_is_nonce_ciphertext_tag(plaintext: bytes, associated: bytes) -> None:
    sealed = seal(KEY, plaintext, associated)
    assert len(sealed) == 12 + len(plaintext) + 16
    assert open_(KEY, sealed, associated) == plaintext


def test_seal_interoperates_with_gmssl_sm4_gcm() -> None:
    sealed = seal(KEY, b"member list", b"v1")
    nonce, ciphertext, tag = sealed[:12], sealed[12:-16], sealed[-16:]
    assert gmssl_pyx.sm4_gcm_decrypt(KEY, nonce, b"v1", ciphertext, tag) == b"member list"


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_flipped_bit_fails_to_open(data: st.DataObject) -> None:
    sealed = bytearray(seal(KEY, b"a secret", b"header"))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SM4Error, match="does not open"):
        open_(KEY, bytes(sealed), b"header")


@pytest.mark.parametrize(
    ("key", "associated"),
    [(bytes(16), b"header"), (KEY, b"other header"), (KEY, b"")],
)
def test_wrong_key_or_associated_data_fails(key: bytes, associated: bytes) -> None:
    with pytest.raises(SM4Error, match="wrong key or associated data"):
        open_(key, seal(KEY, b"a secret", b"header"), associated)


@pytest.mark.parametrize("key", [b"", bytes(15), bytes(17), bytes(32)])
def test_key_of_wrong_length_is_refused(key: bytes) -> None:
    with pytest.raises(SM4Error, match="16 bytes"):
        seal(key, b"x")
    with pytest.raises(SM4Error, match="16 bytes"):
        open_(key, bytes(40))


def test_too_short_sealed_box_is_refused() -> None:
    with pytest.raises(SM4Error, match="at least 28 bytes"):
        open_(KEY, bytes(27))


def test_derive_key_is_pbkdf2_with_hmac_sm3() -> None:
    # RFC 8018 §5.2 by hand with GmSSL's HMAC-SM3: T1 = U1 xor U2, U1 = HMAC(P, S || INT(1)), U2 = HMAC(P, U1).
    passphrase, salt = b"correct horse", os.urandom(16)
    u1 = gmssl_pyx.sm3_hmac(passphrase, salt + b"\x00\x00\x00\x01")
    u2 = gmssl_pyx.sm3_hmac(passphrase, u1)
    expected = bytes(a ^ b for a, b in zip(u1, u2, strict=True))[:16]
    assert derive_key(passphrase, salt, 2) == expected
    assert expected == hashlib.pbkdf2_hmac("sm3", passphrase, salt, 2, 16)
    assert hmac.compare_digest(derive_key(passphrase, salt, 1000), derive_key(passphrase, salt, 1000))
    assert derive_key(passphrase, salt, 1000) != derive_key(b"correct horsf", salt, 1000)


@pytest.mark.parametrize(
    ("salt", "iterations", "message"),
    [(bytes(7), 1, "at least 8"), (bytes(16), 0, "not between"), (bytes(16), 10_000_001, "not between")],
)
def test_derive_key_refuses_short_salt_and_bad_iterations(salt: bytes, iterations: int, message: str) -> None:
    with pytest.raises(SM4Error, match=message):
        derive_key(b"pw", salt, iterations)


def test_what_is_written_takes_the_default_iterations_or_the_operators_setting() -> None:
    assert iterations_setting({}) == DEFAULT_ITERATIONS == 200_000
    assert iterations_setting({}, default=1000) == 1000
    assert iterations_setting({ITERATIONS_ENV: "10000"}) == 10_000
    assert iterations_setting({ITERATIONS_ENV: " 600000\n"}, default=1000) == 600_000
    assert iterations_setting({ITERATIONS_ENV: "10000000"}) == 10_000_000
    assert iterations_setting({OLD_ITERATIONS_ENV: "20000"}) == 20_000  # the older name, read when the new is unset
    assert iterations_setting({OLD_ITERATIONS_ENV: "20000", ITERATIONS_ENV: "30000"}) == 30_000


@pytest.mark.parametrize("value", ["9999", "0", "-10000", "1e5", "", "ten thousand", "10000001", "１００００"])
def test_an_iterations_setting_outside_the_range_is_refused_naming_the_variable(value: str) -> None:
    expected = r"\$CONSORTIUM_KDF_ITERATIONS is .* from 10,000 to 10,000,000 \(unset: 200,000\)"
    with pytest.raises(SM4Error, match=expected):
        iterations_setting({ITERATIONS_ENV: value})
    with pytest.raises(SM4Error, match=expected.replace("CONSORTIUM_", "CONSORTIUM_SM_")):  # its older name
        iterations_setting({OLD_ITERATIONS_ENV: value})
