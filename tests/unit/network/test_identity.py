"""Tests of network.identity: real keys and certificates in tmp_path."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eth_account import Account

from chain.errors import MalformedError
from chain.ids import OrgId
from network.identity import (
    CertificateError,
    IdentityError,
    OrgPaths,
    OrgPublic,
    PassphraseError,
    VerificationError,
    certificate_fingerprint,
    create_org_identity,
    load_account_key,
    load_gateway_key,
    load_identity_key,
    load_notary_key,
    load_org_public,
    load_passphrase,
    load_witness_key,
    verify_identity_certificate,
)
from notary.logsuite import public_bytes

PASS = b"correct horse battery"
WRONG = b"incorrect pony staple"
NOW = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
ORG = OrgId("acme-sec")
OTHER = OrgId("globex")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("consortium")


@pytest.fixture(scope="module")
def acme(root: Path) -> OrgPublic:
    return create_org_identity(root, ORG, "ACME Securities, Inc.", PASS, now=NOW)


@pytest.fixture(scope="module")
def globex(root: Path) -> OrgPublic:
    return create_org_identity(root, OTHER, "Globex Capital", PASS, now=NOW)


# ------------------------------------------------------------------------------------------ round trips


def test_load_org_public_equals_created(root: Path, acme: OrgPublic) -> None:
    assert load_org_public(root, ORG) == acme
    assert acme.org_id == ORG
    assert len(acme.cert_fingerprint) == 32
    assert acme.cert_fingerprint == certificate_fingerprint(acme.admin_cert_pem)


def test_json_round_trip_both_ways(acme: OrgPublic) -> None:
    d = acme.to_json()
    assert set(d) == {
        "org_id",
        "ca_cert_pem",
        "admin_cert_pem",
        "cert_fingerprint",
        "account",
        "witness_public_key",
        "gateway_public_key",
        "notary_public_key",
    }
    assert d["cert_fingerprint"] == "0x" + acme.cert_fingerprint.hex()
    assert d["witness_public_key"] == acme.witness_public_key.hex()
    assert OrgPublic.from_json(json.loads(json.dumps(d))) == acme
    assert OrgPublic.from_json(d).to_json() == d


def test_from_json_accepts_upper_case_hex_and_crlf_pem(acme: OrgPublic) -> None:
    d = acme.to_json()
    d["cert_fingerprint"] = "0x" + acme.cert_fingerprint.hex().upper()
    d["gateway_public_key"] = acme.gateway_public_key.hex().upper()
    d["ca_cert_pem"] = acme.ca_cert_pem.replace("\n", "\r\n")
    assert OrgPublic.from_json(d) == acme


# ------------------------------------------------------------------------------------------ layout and files


def test_layout_modes_and_contents(root: Path, acme: OrgPublic) -> None:
    paths = OrgPaths.of(root, ORG)
    private = [
        paths.ca_key,
        paths.identity_key,
        paths.account_key,
        paths.witness_key,
        paths.gateway_key,
        paths.notary_key,
    ]
    public = [
        paths.ca_cert,
        paths.msp_ca_cert,
        paths.admin_cert,
        paths.sign_cert,
        paths.user_ca_cert,
        paths.account_address,
        paths.witness_pub,
        paths.gateway_pub,
        paths.notary_pub,
    ]
    assert {p.relative_to(paths.org_dir).as_posix() for p in private + public} == {
        "ca/ca-cert.pem",
        "ca/ca-key.pem",
        "msp/cacerts/ca-cert.pem",
        f"msp/admincerts/Admin@{ORG}.pem",
        f"users/Admin@{ORG}/msp/signcerts/cert.pem",
        f"users/Admin@{ORG}/msp/keystore/key.pem",
        f"users/Admin@{ORG}/msp/cacerts/ca-cert.pem",
        "keys/account.pem",
        "keys/account.address",
        "keys/witness.pem",
        "keys/witness.pub",
        "keys/gateway.pem",
        "keys/gateway.pub",
        "keys/notary.pem",
        "keys/notary.pub",
    }
    assert set(snapshot(paths.org_dir)) == {str(p.relative_to(paths.org_dir)) for p in private + public}
    for path in private:
        data = path.read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), path
        assert PASS not in data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in public:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    for directory in paths.private_dirs():
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    ca = acme.ca_cert_pem.encode()
    assert paths.ca_cert.read_bytes() == paths.msp_ca_cert.read_bytes() == paths.user_ca_cert.read_bytes() == ca
    admin = acme.admin_cert_pem.encode()
    assert paths.admin_cert.read_bytes() == paths.sign_cert.read_bytes() == admin
    assert paths.account_address.read_text() == acme.account + "\n"
    assert paths.witness_pub.read_text() == acme.witness_public_key.hex() + "\n"
    assert paths.gateway_pub.read_text() == acme.gateway_public_key.hex() + "\n"
    assert paths.notary_pub.read_text() == acme.notary_public_key.hex() + "\n"
    assert not [p for p in paths.org_dir.parent.iterdir() if p.name.startswith(".")]  # no temp dir left


# ------------------------------------------------------------------------------------------ private keys


def test_account_key_matches_address(root: Path, acme: OrgPublic) -> None:
    key = load_account_key(root, ORG, PASS)
    assert len(key) == 32
    assert Account.from_key(key).address == acme.account


def test_ed25519_and_identity_keys_match_public_parts(root: Path, acme: OrgPublic) -> None:
    for loaded in (
        load_witness_key(root, ORG, PASS),
        load_gateway_key(root, ORG, PASS),
        load_notary_key(root, ORG, PASS),
    ):
        assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    assert public_bytes(load_witness_key(root, ORG, PASS)) == acme.witness_public_key
    assert public_bytes(load_gateway_key(root, ORG, PASS)) == acme.gateway_public_key
    assert public_bytes(load_notary_key(root, ORG, PASS)) == acme.notary_public_key
    assert len({acme.witness_public_key, acme.gateway_public_key, acme.notary_public_key}) == 3
    identity = load_identity_key(root, ORG, PASS)
    assert isinstance(identity.curve, ec.SECP256R1)
    cert = x509.load_pem_x509_certificate(acme.admin_cert_pem.encode())
    assert cert.public_key() == identity.public_key()


@pytest.mark.parametrize(
    ("loader", "file"),
    [
        (load_account_key, "keys/account.pem"),
        (load_witness_key, "keys/witness.pem"),
        (load_gateway_key, "keys/gateway.pem"),
        (load_notary_key, "keys/notary.pem"),
        (load_identity_key, f"users/Admin@{ORG}/msp/keystore/key.pem"),
    ],
)
def test_wrong_passphrase_names_the_file(root: Path, acme: OrgPublic, loader: object, file: str) -> None:
    assert callable(loader)
    with pytest.raises(PassphraseError) as info:
        loader(root, ORG, WRONG)
    message = str(info.value)
    assert str(OrgPaths.of(root, ORG).org_dir / file) in message
    assert "CONSORTIUM_PASSPHRASE" in message
    assert WRONG.decode() not in message and PASS.decode() not in message
    assert WRONG.decode() not in repr(info.value)


def test_unencrypted_key_file_is_refused(tmp_path: Path) -> None:
    create_org_identity(tmp_path, ORG, "ACME", PASS, now=NOW)
    path = OrgPaths.of(tmp_path, ORG).witness_key
    key = load_witness_key(tmp_path, ORG, PASS)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(IdentityError, match="not an encrypted"):
        load_witness_key(tmp_path, ORG, PASS)


def test_missing_org(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="no identity for org 'nobody'"):
        load_org_public(tmp_path, OrgId("nobody"))
    with pytest.raises(IdentityError, match="no identity"):
        load_account_key(tmp_path, OrgId("nobody"), PASS)


# ------------------------------------------------------------------------------------------ certificates


def test_certificate_contents(acme: OrgPublic) -> None:
    ca = x509.load_pem_x509_certificate(acme.ca_cert_pem.encode())
    admin = x509.load_pem_x509_certificate(acme.admin_cert_pem.encode())
    start = NOW.replace(microsecond=0)
    assert ca.subject.rfc4514_string() == f"CN=ca.{ORG},OU={ORG},O=ACME Securities\\, Inc."
    assert ca.issuer == ca.subject
    assert ca.not_valid_before_utc == start
    assert ca.not_valid_after_utc == start.replace(year=start.year + 10)
    ca_bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_bc.critical and ca_bc.value.ca and ca_bc.value.path_length == 0
    ca_ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_ku.key_cert_sign and ca_ku.crl_sign and not ca_ku.digital_signature
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)

    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"Admin@{ORG}"
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == ORG
    assert admin.issuer == ca.subject
    assert admin.not_valid_after_utc == start.replace(year=start.year + 2)
    assert not admin.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ku = admin.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    eku = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = admin.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    san = admin.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"consortium://{ORG}/Admin"]
    der = admin.public_bytes(serialization.Encoding.DER)
    assert acme.cert_fingerprint == hashlib.sha256(der).digest()


def test_chain_verifies(acme: OrgPublic) -> None:
    cert = verify_identity_certificate(acme.admin_cert_pem, acme.ca_cert_pem, now=NOW + timedelta(days=100))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"Admin@{ORG}"
    same = verify_identity_certificate(acme.admin_cert_pem.encode(), acme.ca_cert_pem.encode(), now=NOW)
    assert same == cert
    naive = (NOW + timedelta(days=1)).replace(tzinfo=None)  # naive means UTC
    verify_identity_certificate(acme.admin_cert_pem, acme.ca_cert_pem, now=naive)


def test_cert_from_other_orgs_ca_is_rejected(acme: OrgPublic, globex: OrgPublic) -> None:
    with pytest.raises(CertificateError, match="issued by"):
        verify_identity_certificate(acme.admin_cert_pem, globex.ca_cert_pem, now=NOW)
    with pytest.raises(CertificateError, match="issued by"):
        verify_identity_certificate(globex.admin_cert_pem, acme.ca_cert_pem, now=NOW)


def test_lookalike_ca_with_same_name_is_rejected(tmp_path: Path, acme: OrgPublic) -> None:
    twin = create_org_identity(tmp_path, ORG, "ACME Securities, Inc.", PASS, now=NOW)
    with pytest.raises(CertificateError, match="signature"):
        verify_identity_certificate(acme.admin_cert_pem, twin.ca_cert_pem, now=NOW)


def test_expired_and_not_yet_valid_are_rejected(acme: OrgPublic) -> None:
    with pytest.raises(CertificateError, match="expired"):
        verify_identity_certificate(acme.admin_cert_pem, acme.ca_cert_pem, now=NOW + timedelta(days=3 * 365))
    with pytest.raises(CertificateError, match="expired"):
        verify_identity_certificate(acme.admin_cert_pem, acme.ca_cert_pem, now=datetime(2199, 1, 1, tzinfo=UTC))
    with pytest.raises(CertificateError, match="not valid before"):
        verify_identity_certificate(acme.admin_cert_pem, acme.ca_cert_pem, now=NOW - timedelta(days=1))


def test_tampered_signature_is_rejected(acme: OrgPublic) -> None:
    der = bytearray(
        x509.load_pem_x509_certificate(acme.admin_cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    )
    der[-1] ^= 0x01  # last byte of the ECDSA signature's s
    tampered = x509.load_der_x509_certificate(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateError, match="signature"):
        verify_identity_certificate(tampered, acme.ca_cert_pem, now=NOW)
    assert certificate_fingerprint(tampered) != acme.cert_fingerprint


def test_ca_certificate_is_not_an_identity(acme: OrgPublic) -> None:
    with pytest.raises(VerificationError, match="is a CA certificate"):
        verify_identity_certificate(acme.ca_cert_pem, acme.ca_cert_pem, now=NOW)
    with pytest.raises(CertificateError, match="not a CA"):
        verify_identity_certificate(acme.admin_cert_pem, acme.admin_cert_pem, now=NOW)


def test_garbage_pem_is_malformed(acme: OrgPublic) -> None:
    with pytest.raises(MalformedError):
        verify_identity_certificate("not a certificate", acme.ca_cert_pem, now=NOW)
    with pytest.raises(MalformedError):
        certificate_fingerprint(b"")
    with pytest.raises(MalformedError, match="one certificate"):
        certificate_fingerprint(acme.admin_cert_pem + acme.ca_cert_pem)


# ------------------------------------------------------------------------------------------ creation rules


def test_refuses_to_overwrite_existing_org(tmp_path: Path) -> None:
    create_org_identity(tmp_path, ORG, "ACME", PASS, now=NOW)
    org_dir = OrgPaths.of(tmp_path, ORG).org_dir
    before = snapshot(org_dir)
    with pytest.raises(IdentityError, match="already exists"):
        create_org_identity(tmp_path, ORG, "ACME again", WRONG, now=NOW)
    assert snapshot(org_dir) == before
    assert sorted(p.name for p in org_dir.parent.iterdir()) == [ORG]


def test_refuses_existing_empty_directory(tmp_path: Path) -> None:
    org_dir = tmp_path / "orgs" / ORG
    org_dir.mkdir(parents=True)
    with pytest.raises(IdentityError, match="refusing to overwrite"):
        create_org_identity(tmp_path, ORG, "ACME", PASS, now=NOW)
    assert list(org_dir.iterdir()) == []


def test_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from network._pem import write_file as real_write

    calls: list[Path] = []

    def flaky_write(path: Path, data: bytes, mode: int) -> None:
        calls.append(path)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        real_write(path, data, mode)

    monkeypatch.setattr("network.identity.write_file", flaky_write)
    with pytest.raises(IdentityError, match="No space left on device"):
        create_org_identity(tmp_path, ORG, "ACME", PASS, now=NOW)
    assert len(calls) == 5
    assert list((tmp_path / "orgs").iterdir()) == []


@pytest.mark.parametrize(
    ("org_id", "display_name", "passphrase", "error"),
    [
        ("Bad Org", "Bad", PASS, MalformedError),
        ("", "Empty", PASS, MalformedError),
        ("acme", "", PASS, MalformedError),
        ("acme", " padded", PASS, MalformedError),
        ("acme", "x" * 65, PASS, MalformedError),
        ("acme", "line\nbreak", PASS, MalformedError),
        ("acme", "ACME", b"", IdentityError),
        ("acme", "ACME", b"short", IdentityError),
    ],
)
def test_create_rejects_bad_input(
    tmp_path: Path, org_id: str, display_name: str, passphrase: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        create_org_identity(tmp_path, OrgId(org_id), display_name, passphrase, now=NOW)
    assert not (tmp_path / "orgs").exists() or not any((tmp_path / "orgs").iterdir())


def test_short_passphrase_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(IdentityError) as info:
        create_org_identity(tmp_path, ORG, "ACME", b"s3cr3t!", now=NOW)
    assert "s3cr3t" not in str(info.value)


# ------------------------------------------------------------------------------------------ load_passphrase


def test_passphrase_from_env() -> None:
    assert load_passphrase({"CONSORTIUM_PASSPHRASE": "päss-wörd-1"}) == "päss-wörd-1".encode()


def test_passphrase_file_wins_and_strips_one_newline(tmp_path: Path) -> None:
    file = tmp_path / "pass.txt"
    file.write_bytes(b"from the file\n\n")
    env = {"CONSORTIUM_PASSPHRASE": "from the environment"}
    assert load_passphrase(env, file) == b"from the file\n"
    file.write_bytes(b"windows line\r\n")
    assert load_passphrase({}, file) == b"windows line"
    file.write_bytes(b"  spaces kept  ")
    assert load_passphrase({}, file) == b"  spaces kept  "


def test_passphrase_missing() -> None:
    with pytest.raises(IdentityError) as info:
        load_passphrase({})
    assert str(info.value) == "no passphrase: set CONSORTIUM_PASSPHRASE or pass --passphrase-file FILE"


def test_passphrase_empty_or_short(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="empty"):
        load_passphrase({"CONSORTIUM_PASSPHRASE": ""})
    with pytest.raises(IdentityError, match="too short") as info:
        load_passphrase({"CONSORTIUM_PASSPHRASE": "1234567"})
    assert "1234567" not in str(info.value)
    assert load_passphrase({"CONSORTIUM_PASSPHRASE": "12345678"}) == b"12345678"
    file = tmp_path / "pass.txt"
    file.write_bytes(b"\n")
    with pytest.raises(IdentityError, match="empty"):
        load_passphrase({}, file)
    with pytest.raises(IdentityError, match="cannot read passphrase file"):
        load_passphrase({}, tmp_path / "missing.txt")


def test_passphrase_from_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSORTIUM_PASSPHRASE", "from os.environ")
    assert load_passphrase() == b"from os.environ"


# ------------------------------------------------------------------------------------------ from_json checks


def _hex_cases(acme: OrgPublic) -> list[tuple[str, object]]:
    fp = acme.cert_fingerprint.hex()
    key = acme.witness_public_key.hex()
    return [
        ("cert_fingerprint", fp),  # no 0x
        ("cert_fingerprint", "0x" + fp[:-2]),  # 31 bytes
        ("cert_fingerprint", "0x" + fp + "00"),  # 33 bytes
        ("cert_fingerprint", "0x" + fp[:-1] + "g"),  # not hex
        ("cert_fingerprint", "0x" + "00" * 32),  # not the admin certificate's
        ("witness_public_key", key[:-2]),
        ("witness_public_key", key + "00"),
        ("witness_public_key", "0x" + key),
        ("witness_public_key", key[:-1] + "z"),
        ("gateway_public_key", " " + key[1:]),
        ("gateway_public_key", ""),
        ("gateway_public_key", 42),
        ("account", acme.account.lower()),  # not checksummed
        ("account", acme.account[:-1]),
        ("account", None),
        ("org_id", "ACME"),
        ("org_id", OTHER),  # certificates are for another org
        ("ca_cert_pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        ("admin_cert_pem", ""),
    ]


def test_from_json_rejects_bad_values(acme: OrgPublic) -> None:
    for key, value in _hex_cases(acme):
        d: dict[str, object] = dict(acme.to_json())
        d[key] = value
        with pytest.raises(MalformedError):
            OrgPublic.from_json(d)
            pytest.fail(f"accepted {key}={value!r}")


def test_from_json_rejects_missing_keys_and_non_objects(acme: OrgPublic) -> None:
    for key in acme.to_json():
        d = acme.to_json()
        del d[key]
        with pytest.raises(MalformedError, match=key):
            OrgPublic.from_json(d)
    with pytest.raises(MalformedError):
        OrgPublic.from_json([])  # type: ignore[arg-type]


def test_swapped_certificates_are_rejected(acme: OrgPublic, globex: OrgPublic) -> None:
    d = acme.to_json()
    d["admin_cert_pem"] = globex.admin_cert_pem
    d["cert_fingerprint"] = globex.to_json()["cert_fingerprint"]
    with pytest.raises(MalformedError, match="not for org"):
        OrgPublic.from_json(d)


def test_constructor_checks_lengths(acme: OrgPublic) -> None:
    with pytest.raises(MalformedError, match="witness_public_key"):
        OrgPublic(
            org_id=acme.org_id,
            ca_cert_pem=acme.ca_cert_pem,
            admin_cert_pem=acme.admin_cert_pem,
            cert_fingerprint=acme.cert_fingerprint,
            account=acme.account,
            witness_public_key=acme.witness_public_key[:31],
            gateway_public_key=acme.gateway_public_key,
            notary_public_key=acme.notary_public_key,
        )


def test_repr_holds_no_secrets(root: Path, acme: OrgPublic) -> None:
    assert PASS.decode() not in repr(acme)
    assert PASS.decode() not in repr(OrgPaths.of(root, ORG))
