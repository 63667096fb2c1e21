"""Key files at rest outside the SM2 ones: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC at the operator's count.

Every encrypted key file states its PBKDF2 iteration count; what is written takes `suite.sm4.iterations_setting`
(200,000 unless ``$CONSORTIUM_KDF_ITERATIONS``, or its older name, says otherwise), and a file of any count, the
2,048 of OpenSSL's default included, is read with its own (docs/national-suite.md, "Keys at rest").
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from chain.ids import OrgId
from network._pem import encrypt
from network.identity import (
    OrgPaths,
    PassphraseError,
    create_org_identity,
    load_gateway_key,
    load_identity_key,
)
from suite import _der
from suite._pkcs8 import OID_AES256_CBC, OID_HMAC_SHA256, OID_PBES2, OID_PBKDF2

PASS = b"correct horse battery"
ENVS = ("CONSORTIUM_KDF_ITERATIONS", "CONSORTIUM_SM_KDF_ITERATIONS")


def _der_of(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.strip().splitlines()[1:-1]))


def _iterations(pem: bytes) -> int:
    """The PBKDF2 iteration count the file states, read by structure, not by searching its bytes."""
    outer = _der.Reader(_der_of(pem), "EncryptedPrivateKeyInfo")
    info = outer.read_sequence("body")
    algorithm = info.read_sequence("encryptionAlgorithm")
    assert algorithm.read_oid() == OID_PBES2
    params = algorithm.read_sequence("PBES2-params")
    kdf = params.read_sequence("keyDerivationFunc")
    scheme = params.read_sequence("encryptionScheme")
    assert kdf.read_oid() == OID_PBKDF2 and scheme.read_oid() == OID_AES256_CBC
    pbkdf2 = kdf.read_sequence("PBKDF2-params")
    pbkdf2.read(_der.OCTET_STRING)
    iterations = pbkdf2.read_integer()
    assert pbkdf2.read_sequence("prf").read_oid() == OID_HMAC_SHA256
    return iterations


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENVS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256K1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["p256", "secp256k1", "ed25519"],
)
def test_a_key_file_is_pbes2_aes_256_cbc_under_pbkdf2_hmac_sha256_at_200000_by_default_and_openssl_reads_it(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, unset: pytest.MonkeyPatch
) -> None:
    pem = encrypt(key, PASS)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n") and pem.endswith(
        b"-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    assert all(len(line) <= 64 for line in pem.splitlines())
    assert _iterations(pem) == 200_000
    opened = serialization.load_pem_private_key(pem, PASS)  # OpenSSL's own reader
    plain = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert opened.private_bytes(*plain) == key.private_bytes(*plain)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(pem, PASS + b"x")


def test_the_operators_setting_sets_the_count_and_the_older_name_is_read_when_the_new_one_is_unset(
    unset: pytest.MonkeyPatch,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    unset.setenv("CONSORTIUM_SM_KDF_ITERATIONS", "20000")
    assert _iterations(encrypt(key, PASS)) == 20_000
    unset.setenv("CONSORTIUM_KDF_ITERATIONS", "10000")  # the new name wins
    assert _iterations(encrypt(key, PASS)) == 10_000
    assert _iterations(encrypt(key, PASS, iterations=12_345)) == 12_345  # a count given wins over both


def test_an_identity_writes_its_keys_at_the_setting_and_reads_files_of_any_count(
    tmp_path: Path, unset: pytest.MonkeyPatch
) -> None:
    unset.setenv("CONSORTIUM_KDF_ITERATIONS", "10000")
    create_org_identity(tmp_path, OrgId("initech"), "INITECH", PASS)
    paths = OrgPaths.of(tmp_path, OrgId("initech"))
    for path in (paths.ca_key, paths.identity_key, paths.account_key, paths.gateway_key):
        assert _iterations(path.read_bytes()) == 10_000, path
    # a key written by OpenSSL's default, 2,048 iterations, as every file before this one was: read as it is
    old = ec.generate_private_key(ec.SECP256R1())
    paths.identity_key.write_bytes(
        old.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASS)
        )
    )
    assert load_identity_key(tmp_path, OrgId("initech"), PASS).private_numbers() == old.private_numbers()
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_gateway_key(tmp_path, OrgId("initech"), b"not the passphrase")


def test_an_empty_passphrase_writes_nothing() -> None:
    with pytest.raises(ValueError, match="passphrase"):
        encrypt(ed25519.Ed25519PrivateKey.generate(), b"")
