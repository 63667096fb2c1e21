"""Known-answer tests from the standards' own examples, each value also found in public reference test suites."""

from __future__ import annotations

import hashlib

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pysmx import SM2 as pysmx_sm2
from pysmx import SM3 as pysmx_sm3
from pysmx import SM4 as pysmx_sm4

from suite.sm2 import (
    DEFAULT_ID,
    InvalidSignatureError,
    N,
    SM2Error,
    SM2PrivateKey,
    SM2PublicKey,
    der_to_raw,
    known_answer_sign,
    raw_to_der,
    za,
)

# GB/T 32905-2016 Appendix A, examples 1 and 2.
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"

# GB/T 32907-2016 Appendix A, examples 1 (one encryption) and 2 (1,000,000 encryptions); key = plaintext.
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_ONCE = "681edf34d206965e86b3e94f536e4246"
SM4_MILLION = "595298c7c6fd271f0402f804c33d3f66"

# GM/T 0003.5-2012 / GB/T 32918.5 Annex A: the signature example on the recommended curve, ID 1234567812345678
# (the same values are in OpenSSL's test/sm2_internal_test.c).
KAT_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
KAT_X = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
KAT_Y = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
KAT_MESSAGE = b"message digest"
KAT_ZA = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
KAT_E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
KAT_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
KAT_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
KAT_SIGNATURE = bytes.fromhex(KAT_R + KAT_S)
# The example's nonce k and the point kG = (x1, y1), as the standard's example gives them; cited from
# OpenSSL's test/sm2_internal_test.c (sm2_sig_test: "From Annex A in both GM/T0003.5-2012 and GB/T 32918.5-2016",
# the nonce fed through its fake random generator, r and s as above; kG as C1 of its sm2_crypt_test, GM/T 0003.5
# Annex C, which uses the same k).
KAT_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
KAT_X1 = 0x04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73


def test_sm3_examples_of_gbt_32905() -> None:
    assert hashlib.new("sm3", b"abc").hexdigest() == SM3_ABC
    assert hashlib.new("sm3", b"abcd" * 16).hexdigest() == SM3_ABCD16


def test_sm4_example_1_of_gbt_32907() -> None:
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert (encryptor.update(SM4_KEY) + encryptor.finalize()).hex() == SM4_ONCE


def test_sm4_example_2_of_gbt_32907_a_million_encryptions() -> None:
    # CBC with a zero IV over the plaintext and then zero blocks encrypts each output block once more:
    # block i of the ciphertext is E^i(plaintext), so the last of 1,000,000 blocks is example 2's answer.
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.CBC(bytes(16))).encryptor()
    ciphertext = encryptor.update(SM4_KEY + bytes(16 * 999_999)) + encryptor.finalize()
    assert ciphertext[-16:].hex() == SM4_MILLION


def test_sm2_public_key_of_the_example_private_key() -> None:
    public = SM2PrivateKey.from_bytes(KAT_D).public_key()
    assert public.public_bytes().hex().upper() == "04" + KAT_X + KAT_Y


def test_sm2_za_and_e_of_the_example() -> None:
    public = SM2PublicKey.from_bytes(bytes.fromhex("04" + KAT_X + KAT_Y))
    digest = za(public, b"1234567812345678")
    assert digest.hex().upper() == KAT_ZA
    assert hashlib.new("sm3", digest + KAT_MESSAGE).hexdigest().upper() == KAT_E


def test_sm2_published_signature_verifies_raw_and_der() -> None:
    public = SM2PublicKey.from_bytes(bytes.fromhex("04" + KAT_X + KAT_Y))
    public.verify(KAT_SIGNATURE, KAT_MESSAGE, DEFAULT_ID)
    der = raw_to_der(KAT_SIGNATURE)
    public.verify_der(der, KAT_MESSAGE)
    assert der_to_raw(der) == KAT_SIGNATURE


def test_sm2_signing_the_example_with_its_k_gives_the_published_r_and_s() -> None:
    """GB/T 32918.2 §6.1 with the example's k: r = (e + x1) mod n, s = (1 + d)^-1 (k - r d) mod n, exactly."""
    key = SM2PrivateKey.from_bytes(KAT_D)
    signature = known_answer_sign(key, KAT_MESSAGE, KAT_K, b"1234567812345678")
    assert signature.hex().upper() == KAT_R + KAT_S
    assert (int(KAT_E, 16) + KAT_X1) % N == int(KAT_R, 16)  # r from e and the published x1
    key.public_key().verify(signature, KAT_MESSAGE)  # and OpenSSL takes it
    # another message or another ID under the same k gives another signature, which the published one is not
    assert known_answer_sign(key, b"message digesT", KAT_K) != KAT_SIGNATURE
    assert known_answer_sign(key, KAT_MESSAGE, KAT_K, b"") != KAT_SIGNATURE


def test_sm2_known_answer_signing_refuses_a_k_outside_the_group() -> None:
    key = SM2PrivateKey.from_bytes(KAT_D)
    for k in (0, N, N + KAT_K, -KAT_K):
        with pytest.raises(SM2Error, match=r"nonce k is not in \[1, n - 1\]"):
            known_answer_sign(key, KAT_MESSAGE, k)


@pytest.mark.parametrize(
    ("message", "signer_id"),
    [
        (b"message digesT", DEFAULT_ID),
        (KAT_MESSAGE, b""),  # OpenSSL's own default ID: proves the ID we pass is the one hashed
        (KAT_MESSAGE, b"1234567812345679"),
    ],
)
def test_sm2_published_signature_fails_for_another_message_or_id(message: bytes, signer_id: bytes) -> None:
    public = SM2PublicKey.from_bytes(bytes.fromhex("04" + KAT_X + KAT_Y))
    with pytest.raises(InvalidSignatureError):
        public.verify(KAT_SIGNATURE, message, signer_id)


# The same examples through the two independent implementations of the cross-library matrix
# (tests/unit/suite/test_sm2_interop.py): GmSSL (gmssl-pyx) and the pure-Python snowland-smx. They agree with
# the standards here, so agreeing with them there is agreeing with the standards.


def test_sm3_examples_of_gbt_32905_in_gmssl_and_snowland_smx() -> None:
    for message, digest in ((b"abc", SM3_ABC), (b"abcd" * 16, SM3_ABCD16)):
        assert gmssl_pyx.sm3_hash(message).hex() == digest
        assert pysmx_sm3.hexdigest(message) == digest


def test_sm4_example_1_of_gbt_32907_in_gmssl_and_snowland_smx() -> None:
    # GmSSL exposes no single-block SM4: CTR with the plaintext as the counter block, over a zero block, is E(P).
    assert gmssl_pyx.sm4_ctr_encrypt(SM4_KEY, SM4_KEY, bytes(16)).hex() == SM4_ONCE
    # snowland-smx pads in ECB (PKCS#7): the first block is the one encryption.
    assert pysmx_sm4.sm4_crypt_ecb(pysmx_sm4.ENCRYPT, SM4_KEY, SM4_KEY)[:16].hex() == SM4_ONCE


def test_sm2_example_za_and_signature_in_gmssl_and_snowland_smx() -> None:
    point = bytes.fromhex(KAT_X + KAT_Y)
    assert pysmx_sm2.get_za(b"1234567812345678", point).upper() == KAT_ZA
    assert pysmx_sm2.Verify(KAT_SIGNATURE, KAT_MESSAGE, point, 64, uid=b"1234567812345678")
    assert gmssl_pyx.sm2_verify(point, KAT_MESSAGE, raw_to_der(KAT_SIGNATURE), b"1234567812345678")
    # and neither takes it for another message or under OpenSSL's empty default ID
    assert not pysmx_sm2.Verify(KAT_SIGNATURE, b"message digesT", point, 64, uid=b"1234567812345678")
    assert not pysmx_sm2.Verify(KAT_SIGNATURE, KAT_MESSAGE, point, 64, uid=b"")
    assert not gmssl_pyx.sm2_verify(point, b"message digesT", raw_to_der(KAT_SIGNATURE), b"1234567812345678")


def test_sm2_example_signed_with_its_k_verifies_in_gmssl_and_snowland_smx() -> None:
    """The signature our explicit-k path makes, not the published bytes: both independent libraries take it."""
    signature = known_answer_sign(SM2PrivateKey.from_bytes(KAT_D), KAT_MESSAGE, KAT_K)
    point = bytes.fromhex(KAT_X + KAT_Y)
    assert pysmx_sm2.Verify(signature, KAT_MESSAGE, point, 64, uid=b"1234567812345678")
    assert gmssl_pyx.sm2_verify(point, KAT_MESSAGE, raw_to_der(signature), b"1234567812345678")
