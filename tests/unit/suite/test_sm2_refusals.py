"""Every malformed input is refused with SM2Error and a message saying what was wrong."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from suite.sm2 import InvalidSignatureError, N, P, SM2Error, SM2PrivateKey, SM2PublicKey, der_to_raw, raw_to_der, za

# Fixed, not generated: parameters are built from the key, and pytest-xdist's workers must collect the same ids.
KEY = SM2PrivateKey.from_bytes(bytes.fromhex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"))
PUBLIC = KEY.public_key()
GOOD = KEY.sign(b"m")
R_S = "02 01 01 02 01 01"  # INTEGER 1, INTEGER 1


def _rs(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("d", "message"),
    [
        (bytes(31), "32 bytes, not 31"),
        (bytes(33), "32 bytes, not 33"),
        (bytes(32), r"not in \[1, n - 2\]"),
        ((N - 1).to_bytes(32, "big"), r"not in \[1, n - 2\]"),
        (N.to_bytes(32, "big"), r"not in \[1, n - 2\]"),
        (b"\xff" * 32, r"not in \[1, n - 2\]"),
    ],
)
def test_bad_private_scalar(d: bytes, message: str) -> None:
    with pytest.raises(SM2Error, match=message):
        SM2PrivateKey.from_bytes(d)


def test_largest_private_scalar_is_accepted() -> None:
    SM2PrivateKey.from_bytes((N - 2).to_bytes(32, "big"))


@pytest.mark.parametrize(
    ("point", "message"),
    [
        (PUBLIC.public_bytes()[1:], "65 bytes 04 || x || y, not 64"),
        (b"\x02" + PUBLIC.public_bytes()[1:33], "not 33"),
        (b"\x03" + PUBLIC.public_bytes()[1:], "starting b'\\\\x03'"),
        (PUBLIC.public_bytes()[:-1] + bytes([PUBLIC.public_bytes()[-1] ^ 1]), "not a point on the SM2 curve"),
        (b"\x04" + bytes(64), "not a point on the SM2 curve"),
        (b"\x04" + P.to_bytes(32, "big") + bytes(32), "not below the field prime"),
    ],
)
def test_bad_public_point(point: bytes, message: str) -> None:
    with pytest.raises(SM2Error, match=message):
        SM2PublicKey.from_bytes(point)


def test_public_key_of_another_curve_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = p256.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(SM2Error, match="not an SM2 key"):
        SM2PublicKey.from_der(spki)


def test_garbage_spki_is_refused() -> None:
    with pytest.raises(SM2Error, match="cannot read the SubjectPublicKeyInfo"):
        SM2PublicKey.from_der(b"\x30\x03\x02\x01\x01")


def test_public_pem_with_another_label_is_refused() -> None:
    with pytest.raises(SM2Error, match="'PRIVATE KEY', expected 'PUBLIC KEY'"):
        SM2PublicKey.from_pem(KEY.to_pem())


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (_rs(1, 1)[:63], "64 bytes"),
        (_rs(1, 1) + b"\x00", "64 bytes"),
        (_rs(0, 1), "r is zero"),
        (_rs(1, 0), "s is zero"),
        (_rs(N, 1), "r is not below the curve order n"),
        (_rs(1, N), "s is not below the curve order n"),
    ],
)
def test_bad_raw_signature(signature: bytes, message: str) -> None:
    with pytest.raises(SM2Error, match=message):
        raw_to_der(signature)
    with pytest.raises(SM2Error, match=message) as caught:
        PUBLIC.verify(signature, b"m")
    assert not isinstance(caught.value, InvalidSignatureError)  # malformed, not merely wrong


@pytest.mark.parametrize(
    ("hex_der", "message"),
    [
        ("30 06" + R_S + "00", "1 bytes left over"),  # trailing byte inside the SEQUENCE
        ("30 06" + R_S, None),  # the canonical form, for contrast
        ("30 81 06" + R_S, "shortest form"),  # long-form length for a short one
        ("30 80" + R_S + "00 00", "indefinite"),  # BER indefinite length
        ("30 07 02 02 00 01 02 01 01", "superfluous leading zero"),
        ("30 06 02 01 81 02 01 01", "negative INTEGER"),
        ("30 05 02 00 02 01 01", "empty INTEGER"),
        ("30 03 02 01 01", "expected tag 0x02, found the end"),
        ("31 06" + R_S, "expected tag 0x30, found 0x31"),
        ("30 06" + R_S + "30", "bytes left over"),  # trailing byte after the SEQUENCE
        ("30 06 02 01 00 02 01 01", "r is zero"),
    ],
)
def test_non_canonical_der_signature(hex_der: str, message: str | None) -> None:
    der = bytes.fromhex(hex_der)
    if message is None:
        assert der_to_raw(der) == _rs(1, 1)
        return
    with pytest.raises(SM2Error, match=message):
        der_to_raw(der)
    with pytest.raises(SM2Error, match=message):
        PUBLIC.verify_der(der, b"m")


def test_signer_id_longer_than_8190_bytes_is_refused() -> None:
    # ENTL has room for 8191 bytes, but OpenSSL refuses 8191 (len >= 0xFFFF / 8), so the limit is 8190 everywhere.
    PUBLIC.verify(KEY.sign(b"m", b"i" * 8190), b"m", b"i" * 8190)
    for call in (
        lambda: KEY.sign(b"m", b"i" * 8191),
        lambda: KEY.sign_der(b"m", b"i" * 8191),
        lambda: PUBLIC.verify(GOOD, b"m", b"i" * 8191),
        lambda: PUBLIC.verify_der(raw_to_der(GOOD), b"m", b"i" * 8191),
        lambda: za(PUBLIC, b"i" * 8191),
    ):
        with pytest.raises(SM2Error, match="8191 bytes; at most 8190 are accepted"):
            call()


def test_wrong_password_is_refused() -> None:
    pem = KEY.to_pem(b"right", iterations=1000)
    with pytest.raises(SM2Error, match="wrong password"):
        SM2PrivateKey.from_pem(pem, b"wrong")
    with pytest.raises(SM2Error, match="encrypted: give its password"):
        SM2PrivateKey.from_pem(pem)
    with pytest.raises(SM2Error, match="not encrypted, but a password was given"):
        SM2PrivateKey.from_pem(KEY.to_pem(), b"right")
    with pytest.raises(SM2Error, match="non-empty"):
        KEY.to_pem(b"")


def test_pem_of_a_non_sm2_key_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    plain = p256.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SM2Error, match="is a EC key, not an SM2 key"):
        SM2PrivateKey.from_pem(plain)
    # Encrypted with another PBES2 scheme (AES-256-CBC, HMAC-SHA256): OpenSSL decrypts it, and it is still refused.
    encrypted = p256.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(SM2Error, match="not an SM2 key"):
        SM2PrivateKey.from_pem(encrypted, b"pw")


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"not a pem", "not a PEM block"),
        (b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "'EC PRIVATE KEY', expected"),
        (b"-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n", "base64"),
        (b"-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n", "cannot read the PKCS#8"),
    ],
)
def test_bad_private_pem(pem: bytes, message: str) -> None:
    with pytest.raises(SM2Error, match=message):
        SM2PrivateKey.from_pem(pem)


# The OIDs' DER encodings: sm4-cbc 1.2.156.10197.1.104.2 (GM/T 0006-2012; OpenSSL's `sm4-cbc`), hmacWithSM3
# 1.2.156.10197.1.401.3.1 (GM/T 0091-2020 Table A.1; OpenSSL 3.2's `hmacWithSM3`), PBES2 and PBKDF2 (RFC 8018 A.2, A.4).
SM4_CBC = bytes.fromhex("06082a811ccf5501680" + "2")
HMAC_WITH_SM3 = bytes.fromhex("060a2a811ccf550183110301")
PBES2 = bytes.fromhex("06092a864886f70d01050d")
PBKDF2 = bytes.fromhex("06092a864886f70d01050c")


def test_encrypted_pem_names_pbes2_pbkdf2_hmac_sm3_and_sm4_cbc() -> None:
    pem = KEY.to_pem(b"pw", iterations=1000)
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    for oid in (PBES2, PBKDF2, HMAC_WITH_SM3, SM4_CBC):
        assert oid in der
    assert der.index(PBKDF2) < der.index(HMAC_WITH_SM3) < der.index(SM4_CBC)


def test_wrong_password_that_happens_to_leave_valid_padding_still_says_wrong_password() -> None:
    # Regression: about one wrong password in 256 decrypts to bytes ending in valid PKCS#7 padding. One PBKDF2
    # round a try: the count is given, so neither the default nor $CONSORTIUM_KDF_ITERATIONS sets it.
    pem = KEY.to_pem(b"right", iterations=1)
    for attempt in range(5000):
        password = b"wrong-%d" % attempt
        try:
            SM2PrivateKey.from_pem(pem, password)
        except SM2Error as e:
            assert "wrong password" in str(e)
