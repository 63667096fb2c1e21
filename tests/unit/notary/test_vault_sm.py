"""The salt vault at rest under each suite: SM4-GCM under PBKDF2-HMAC-SM3 for an ``sm`` vault, checked by opening its
files with GmSSL (``gmssl-pyx``, itself checked against GB/T 32907's example), AES-256-GCM under scrypt for an
``intl`` vault, checked by writing its files by hand; round trips, wrong passphrases, altered files, and a vault of
one suite refused under the other without being changed."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from notary.submit.vault import (
    FORMAT,
    SaltVault,
    VaultError,
    VaultSuiteError,
    event_salt,
    vault_key,
)
from suite.sm2 import SM2PrivateKey

DAY = "2026-12-01"
NOON = int(datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp() * 1000)
PASSPHRASE = b"a consortium passphrase"
# GB/T 32907-2016 Appendix A, example 1: key = plaintext
SM4_EXAMPLE_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_EXAMPLE_CIPHERTEXT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")


def _clock() -> float:
    return NOON / 1000


def _open(path: Path, suite: str, passphrase: bytes = PASSPHRASE) -> SaltVault:
    return SaltVault.open(path, "alpha", passphrase, clock=_clock, suite=suite)


def _files(path: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in path.iterdir())


def _aad(day: str) -> bytes:
    return f"{FORMAT}\nalpha\n{day}".encode()


def _gmssl_pbkdf2_sm3(passphrase: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 8018 §5.2 written out over GmSSL's HMAC-SM3, one 32-byte block cut to an SM4 key."""
    u = gmssl_pyx.sm3_hmac(passphrase, salt + b"\x00\x00\x00\x01")
    block = int.from_bytes(u, "big")
    for _ in range(iterations - 1):
        u = gmssl_pyx.sm3_hmac(passphrase, u)
        block ^= int.from_bytes(u, "big")
    return block.to_bytes(32, "big")[:16]


def test_gmssls_sm4_is_the_standards() -> None:
    # CTR's first key stream block is E(K, counter): with the example's plaintext as counter, the example's ciphertext
    assert gmssl_pyx.sm4_ctr_encrypt(SM4_EXAMPLE_KEY, SM4_EXAMPLE_KEY, bytes(16)) == SM4_EXAMPLE_CIPHERTEXT


def test_an_sm_vault_seals_its_keys_with_sm4_gcm_under_pbkdf2_hmac_sm3_as_gmssl_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSORTIUM_KDF_ITERATIONS", raising=False)  # the tests' lower count (tests/conftest.py)
    salt = _open(tmp_path, "sm").salt("e-1", NOON)
    document = json.loads((tmp_path / "vault-key.json").read_text())
    assert set(document) == {"format", "provider", "kdf", "iterations", "cipher", "salt", "nonce", "sealed"}
    assert (document["kdf"], document["cipher"], document["iterations"]) == ("pbkdf2-hmac-sm3", "sm4-gcm", 200_000)
    assert oct((tmp_path / "vault-key.json").stat().st_mode & 0o777) == "0o600"
    # the vault key, opened with GmSSL's PBKDF2-HMAC-SM3 (written out) and SM4-GCM
    passphrase_key = _gmssl_pbkdf2_sm3(PASSPHRASE, bytes.fromhex(document["salt"]), document["iterations"])
    sealed = bytes.fromhex(document["sealed"])
    key = gmssl_pyx.sm4_gcm_decrypt(
        passphrase_key, bytes.fromhex(document["nonce"]), _aad("vault-key"), sealed[:-16], sealed[-16:]
    )
    assert len(key) == 16
    # the day's epoch key: "clvsm4g1" ‖ nonce ‖ SM4-GCM ciphertext ‖ tag, the provider and day authenticated
    raw = (tmp_path / f"{DAY}.key").read_bytes()
    assert len(raw) == 8 + 12 + 32 + 16 and raw.startswith(b"clvsm4g1")
    epoch_key = gmssl_pyx.sm4_gcm_decrypt(key, raw[8:20], _aad(DAY), raw[20:-16], raw[-16:])
    assert salt == event_salt(epoch_key, "e-1", "sm3")
    # round trip: reopened with the passphrase alone
    assert _open(tmp_path, "sm").reveal("e-1", NOON) == salt


def test_an_sm_vault_key_sealed_under_the_operators_setting_states_its_iterations_and_opens_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSORTIUM_KDF_ITERATIONS", "10000")
    salt = _open(tmp_path, "sm").salt("e-1", NOON)
    document = json.loads((tmp_path / "vault-key.json").read_text())
    assert (document["kdf"], document["cipher"], document["iterations"]) == ("pbkdf2-hmac-sm3", "sm4-gcm", 10_000)
    monkeypatch.delenv("CONSORTIUM_KDF_ITERATIONS")
    assert _open(tmp_path, "sm").reveal("e-1", NOON) == salt  # read with the count the file states
    assert json.loads((tmp_path / "vault-key.json").read_text()) == document


def test_an_intl_vault_written_by_hand_in_its_format_opens_and_a_new_one_keeps_that_format(tmp_path: Path) -> None:
    key, epoch_key, salt, nonce = os.urandom(32), os.urandom(32), os.urandom(16), os.urandom(12)
    passphrase_key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(PASSPHRASE)
    document: dict[str, object] = {"format": "consortium-ledger/salt-vault-key/v1", "provider": "alpha"}
    document["kdf"] = "scrypt"
    document |= {"n": 2**15, "r": 8, "p": 1, "salt": salt.hex(), "nonce": nonce.hex()}
    document["sealed"] = AESGCM(passphrase_key).encrypt(nonce, key, _aad("vault-key")).hex()
    (tmp_path / "vault-key.json").write_text(json.dumps(document))
    (tmp_path / "vault.json").write_text(json.dumps({"format": FORMAT, "provider": "alpha"}))
    (tmp_path / f"{DAY}.key").write_bytes(b"clvault1" + nonce + AESGCM(key).encrypt(nonce, epoch_key, _aad(DAY)))
    assert _open(tmp_path, "intl").reveal("e-1", NOON) == event_salt(epoch_key, "e-1")

    fresh = tmp_path / "fresh"
    _open(fresh, "intl").salt("e-1", NOON)
    made = json.loads((fresh / "vault-key.json").read_text())
    assert list(made) == ["format", "provider", "kdf", "n", "r", "p", "salt", "nonce", "sealed"]
    assert (made["kdf"], len(bytes.fromhex(made["sealed"]))) == ("scrypt", 32 + 16)
    assert (fresh / f"{DAY}.key").read_bytes().startswith(b"clvault1")


def test_a_wrong_passphrase_opens_no_sm_vault_and_changes_nothing(tmp_path: Path) -> None:
    _open(tmp_path, "sm").salt("e-1", NOON)
    before = _files(tmp_path)
    with pytest.raises(VaultError, match="the passphrase does not open alpha's vault key"):
        _open(tmp_path, "sm", b"not the passphrase")
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        ("sealed", lambda v: ("1" if v[0] == "0" else "0") + v[1:], "the passphrase does not open"),
        ("nonce", lambda v: v[:-2] + ("00" if v[-2:] != "00" else "01"), "the passphrase does not open"),
        ("iterations", lambda v: v + 1, "the passphrase does not open"),
        ("iterations", lambda v: 10, "iterations out of range"),
        ("cipher", lambda v: "aes-256-gcm", "unreadable: kdf 'pbkdf2-hmac-sm3' and cipher 'aes-256-gcm' are of no"),
        ("nonce", lambda v: v[:-2], "the nonce is 11 bytes"),
    ],
)
def test_an_altered_sm_vault_key_document_is_refused(tmp_path: Path, field: str, change: object, message: str) -> None:
    _open(tmp_path, "sm")
    path = tmp_path / "vault-key.json"
    document = json.loads(path.read_text())
    assert callable(change)
    document[field] = change(document[field])
    path.write_text(json.dumps(document))
    with pytest.raises(VaultError, match=message):
        _open(tmp_path, "sm")


def test_an_altered_or_moved_sm_epoch_key_file_does_not_decrypt(tmp_path: Path) -> None:
    vault = _open(tmp_path, "sm")
    vault.salt("e-1", NOON)
    path = tmp_path / f"{DAY}.key"
    raw = bytearray(path.read_bytes())
    for at in (8, 20, len(raw) - 1):  # the nonce, the ciphertext, the tag
        altered = bytearray(raw)
        altered[at] ^= 0x01
        path.write_bytes(bytes(altered))
        with pytest.raises(VaultError, match="does not decrypt"):
            _open(tmp_path, "sm").reveal("e-1", NOON)
    path.write_bytes(bytes(raw))
    os.replace(path, tmp_path / "2026-12-02.key")  # a key file renamed to another day
    with pytest.raises(VaultError, match="does not decrypt"):
        _open(tmp_path, "sm").reveal("e-1", NOON + 86_400_000)


@pytest.mark.parametrize(("made", "opened"), [("intl", "sm"), ("sm", "intl")])
def test_a_vault_of_one_suite_is_refused_under_the_other_and_left_as_it_was(
    tmp_path: Path, made: str, opened: str
) -> None:
    salt = _open(tmp_path, made).salt("e-1", NOON)
    before = _files(tmp_path)
    with pytest.raises(VaultSuiteError) as refused:
        _open(tmp_path, opened)
    assert (refused.value.found, refused.value.expected) == (made, opened)
    cipher = {"intl": "AES-256-GCM", "sm": "SM4-GCM"}[made]
    assert f"vault-key.json is sealed with {cipher}: the vault is of the {made!r} suite, but it was opened " in str(
        refused.value
    )
    assert _files(tmp_path) == before
    assert _open(tmp_path, made).reveal("e-1", NOON) == salt


@pytest.mark.parametrize(("made", "opened"), [("intl", "sm"), ("sm", "intl")])
def test_epoch_key_files_of_the_other_suite_are_refused(tmp_path: Path, made: str, opened: str) -> None:
    gateway_key = SM2PrivateKey.generate()
    SaltVault.for_gateway_key(tmp_path, "alpha", gateway_key, clock=_clock, suite=made).salt("e-1", NOON)
    with pytest.raises(VaultSuiteError, match=f"{DAY}.key is sealed with"):
        SaltVault.for_gateway_key(tmp_path, "alpha", gateway_key, clock=_clock, suite=opened).reveal("e-1", NOON)
    # a vault of the other suite made under its gateway key gets no key of its own under this one
    before = _files(tmp_path)
    with pytest.raises(VaultSuiteError):
        SaltVault.open(tmp_path, "alpha", PASSPHRASE, legacy_key=gateway_key, clock=_clock, suite=opened)
    assert _files(tmp_path) == before


def test_an_sm_vault_made_under_its_gateway_key_keeps_its_day_keys_when_it_gets_a_key_of_its_own(
    tmp_path: Path,
) -> None:
    gateway_key = SM2PrivateKey.generate()
    assert len(vault_key(gateway_key, "sm")) == 16 and len(vault_key(gateway_key)) == 32
    salt = SaltVault.for_gateway_key(tmp_path, "alpha", gateway_key, clock=_clock, suite="sm").salt("e-1", NOON)
    opened = SaltVault.open(tmp_path, "alpha", PASSPHRASE, legacy_key=gateway_key, clock=_clock, suite="sm")
    assert opened.reveal("e-1", NOON) == salt
    assert _open(tmp_path, "sm").reveal("e-1", NOON) == salt  # from now on the gateway key no longer matters


def test_a_vault_key_of_the_wrong_size_or_suite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the vault key of an sm vault is 16 bytes"):
        SaltVault(tmp_path, "alpha", bytes(32), suite="sm")
    with pytest.raises(ValueError, match="the vault key of an intl vault is 32 bytes"):
        SaltVault(tmp_path, "alpha", bytes(16))
    with pytest.raises(ValueError, match="unknown suite 'gm'"):
        SaltVault.open(tmp_path, "alpha", PASSPHRASE, suite="gm")
    with pytest.raises(ValueError, match="unknown suite 'gm'"):
        vault_key(Ed25519PrivateKey.generate(), "gm")
