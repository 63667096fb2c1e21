"""Tests of what an org's CA does after creation: issue identities and the gateway's server certificate, revoke
certificates in its CRL. Real keys, certificates and CRLs in tmp_path; nothing mocked."""

from __future__ import annotations

import ipaddress
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chain.errors import MalformedError
from chain.ids import OrgId
from network.identity import (
    CRL_VALIDITY_DAYS,
    NOTARY_SERVICE,
    CertificateError,
    IdentityError,
    OrgPaths,
    OrgPublic,
    PassphraseError,
    create_org_identity,
    issue_identity,
    issue_server_certificate,
    issue_service_certificate,
    load_crl,
    read_certificate,
    revoke_identity,
    user_paths,
    verify_crl,
    verify_identity_certificate,
)

PASS = b"issue-test-passphrase"
WRONG = b"not-the-passphrase"
NOW = datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
START = NOW.replace(microsecond=0)
ACME = OrgId("acme")
GLOBEX = OrgId("globex")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cert_at(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ca_key(root: Path, org: OrgId) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(OrgPaths.of(root, org).ca_key.read_bytes(), PASS)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("issue")


@pytest.fixture(scope="module")
def acme(root: Path) -> OrgPublic:
    return create_org_identity(root, ACME, "ACME Securities", PASS, now=NOW)


@pytest.fixture(scope="module")
def globex(root: Path) -> OrgPublic:
    return create_org_identity(root, GLOBEX, "Globex Capital", PASS, now=NOW)


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A consortium directory of its own, with org acme: for tests that change the CRL."""
    create_org_identity(tmp_path, ACME, "ACME Securities", PASS, now=NOW)
    return tmp_path


# ------------------------------------------------------------------------------------------ identities


def test_issue_identity_layout_modes_and_keys(root: Path, acme: OrgPublic) -> None:
    msp = issue_identity(root, ACME, "alice", PASS, now=NOW)
    paths = user_paths(root, ACME, "alice")
    assert msp == paths.msp_dir == OrgPaths.of(root, ACME).org_dir / "users" / "alice@acme" / "msp"
    assert set(snapshot(paths.user_dir)) == {
        "msp/signcerts/cert.pem",
        "msp/keystore/key.pem",
        "msp/cacerts/ca-cert.pem",
    }
    assert mode(paths.user_dir) == 0o755
    assert mode(paths.key.parent) == 0o700
    assert mode(paths.key) == 0o600
    assert mode(paths.cert) == mode(paths.ca_cert) == 0o644
    data = paths.key.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASS not in data
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(data, WRONG)
    key = serialization.load_pem_private_key(data, PASS)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert cert_at(paths.cert).public_key() == key.public_key()
    assert paths.ca_cert.read_text() == acme.ca_cert_pem
    assert not [p for p in paths.user_dir.parent.iterdir() if p.name.startswith(".")]  # no staging dir left


def test_issued_certificate_contents(root: Path, acme: OrgPublic) -> None:
    issue_identity(root, ACME, "bob.trader", PASS, now=NOW, days=30)
    cert = cert_at(user_paths(root, ACME, "bob.trader").cert)
    ca = x509.load_pem_x509_certificate(acme.ca_cert_pem.encode())
    assert cert.subject.rfc4514_string() == "CN=bob.trader@acme,OU=acme,O=ACME Securities"
    assert cert.issuer == ca.subject
    assert cert.not_valid_before_utc == START
    assert cert.not_valid_after_utc == START + timedelta(days=30)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign and not ku.value.crl_sign
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["consortium://acme/bob.trader"]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert verify_identity_certificate(pem, acme.ca_cert_pem, now=NOW + timedelta(days=1)) == cert
    with pytest.raises(CertificateError, match="expired"):
        verify_identity_certificate(pem, acme.ca_cert_pem, now=NOW + timedelta(days=31))


def test_not_before_and_validity_capped_by_the_ca(root: Path, acme: OrgPublic) -> None:
    past = NOW - timedelta(days=100)
    issue_identity(root, ACME, "expired", PASS, now=NOW, not_before=past, days=10)
    cert = cert_at(user_paths(root, ACME, "expired").cert)
    assert cert.not_valid_before_utc == past.replace(microsecond=0)
    assert cert.not_valid_after_utc == past.replace(microsecond=0) + timedelta(days=10)
    future = datetime(2026, 12, 1, tzinfo=UTC)  # naive would be taken as UTC too
    issue_identity(root, ACME, "future", PASS, now=NOW, not_before=future.replace(tzinfo=None))
    assert cert_at(user_paths(root, ACME, "future").cert).not_valid_before_utc == future
    issue_identity(root, ACME, "forever", PASS, now=NOW, days=36500)
    ca = x509.load_pem_x509_certificate(acme.ca_cert_pem.encode())
    assert cert_at(user_paths(root, ACME, "forever").cert).not_valid_after_utc == ca.not_valid_after_utc


def test_refuses_to_overwrite_an_identity(root: Path, acme: OrgPublic) -> None:
    issue_identity(root, ACME, "carol", PASS, now=NOW)
    users = OrgPaths.of(root, ACME).users_dir
    before = snapshot(users)
    with pytest.raises(IdentityError, match=r"identity carol@acme already exists .* refusing to overwrite"):
        issue_identity(root, ACME, "carol", PASS, now=NOW)
    with pytest.raises(IdentityError, match="Admin@acme already exists"):
        issue_identity(root, ACME, "Admin", PASS, now=NOW)
    assert snapshot(users) == before


def test_unknown_org_is_refused_and_nothing_created(root: Path, acme: OrgPublic) -> None:
    with pytest.raises(IdentityError, match="no identity for org 'initech'"):
        issue_identity(root, OrgId("initech"), "alice", PASS, now=NOW)
    assert not (root / "orgs" / "initech").exists()
    with pytest.raises(MalformedError, match="invalid org id"):
        issue_identity(root, OrgId("../acme"), "alice", PASS, now=NOW)


def test_wrong_passphrase_leaves_nothing(root: Path, acme: OrgPublic) -> None:
    users = OrgPaths.of(root, ACME).users_dir
    before = snapshot(users)
    with pytest.raises(PassphraseError, match=r"ca-key\.pem"):
        issue_identity(root, ACME, "dave", WRONG, now=NOW)
    assert snapshot(users) == before
    assert not (users / "dave@acme").exists()
    assert not [p for p in users.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a@b", ".hidden", "-x", "x" * 65, "sp ace", "ünï"])
def test_bad_identity_names(root: Path, acme: OrgPublic, name: str) -> None:
    with pytest.raises(MalformedError, match="invalid identity name"):
        issue_identity(root, ACME, name, PASS, now=NOW)


@pytest.mark.parametrize("days", [0, -1, True, 1.5])
def test_bad_days(root: Path, acme: OrgPublic, days: object) -> None:
    with pytest.raises(MalformedError, match="days"):
        issue_identity(root, ACME, "erin", PASS, now=NOW, days=days)  # type: ignore[arg-type]
    assert not user_paths(root, ACME, "erin").user_dir.exists()


def test_short_passphrase_and_expired_ca_are_refused(root: Path, acme: OrgPublic) -> None:
    with pytest.raises(IdentityError, match="too short"):
        issue_identity(root, ACME, "frank", b"short", now=NOW)
    with pytest.raises(CertificateError, match="the CA of org 'acme' expired"):
        issue_identity(root, ACME, "frank", PASS, now=NOW + timedelta(days=3700))
    assert not user_paths(root, ACME, "frank").user_dir.exists()


# ------------------------------------------------------------------------------------------ server certificate


def test_server_certificate(root: Path, acme: OrgPublic) -> None:
    cert_file, key_file = issue_server_certificate(
        root, ACME, PASS, hostnames=("localhost", "gw.acme.example"), ips=("127.0.0.1", "::1"), now=NOW, days=90
    )
    paths = OrgPaths.of(root, ACME)
    assert (cert_file, key_file) == (paths.gateway_tls_cert, paths.gateway_tls_key)
    assert cert_file == paths.org_dir / "gateway" / "tls" / "cert.pem"
    assert mode(cert_file.parent) == 0o700
    assert mode(key_file) == 0o600 and mode(cert_file) == 0o644
    key = serialization.load_pem_private_key(key_file.read_bytes(), PASS)
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    cert = cert_at(cert_file)
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gateway.acme"
    assert cert.issuer == x509.load_pem_x509_certificate(acme.ca_cert_pem.encode()).subject
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=90)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "gw.acme.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(acme.ca_cert_pem.encode()))


def test_server_certificate_reissue_replaces_atomically(root: Path, acme: OrgPublic) -> None:
    cert_file, key_file = issue_server_certificate(root, ACME, PASS, now=NOW)
    one = cert_at(cert_file)
    first = snapshot(cert_file.parent)
    cert_file, key_file = issue_server_certificate(root, ACME, PASS, now=NOW)
    two = cert_at(cert_file)
    assert one.serial_number != two.serial_number and one.public_key() != two.public_key()
    key = serialization.load_pem_private_key(key_file.read_bytes(), PASS)
    assert two.public_key() == key.public_key()
    assert sorted(p.name for p in cert_file.parent.iterdir()) == ["cert.pem", "key.pem"]  # no temp files
    assert snapshot(cert_file.parent) != first
    san = two.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_server_certificate_refusals_leave_the_old_one(root: Path, acme: OrgPublic) -> None:
    issue_server_certificate(root, ACME, PASS, now=NOW)
    tls = OrgPaths.of(root, ACME).gateway_tls_cert.parent
    before = snapshot(tls)
    with pytest.raises(PassphraseError):
        issue_server_certificate(root, ACME, WRONG, now=NOW)
    for kwargs, match in [
        ({"hostnames": ("bad host",)}, "invalid host name"),
        ({"hostnames": ("-x.example",)}, "invalid host name"),
        ({"ips": ("127.0.0.256",)}, "invalid IP address"),
        ({"hostnames": (), "ips": ()}, "at least one"),
        ({"hostnames": "localhost"}, "not one string"),
        ({"days": 0}, "days"),
    ]:
        with pytest.raises(MalformedError, match=match):
            issue_server_certificate(root, ACME, PASS, now=NOW, **kwargs)  # type: ignore[arg-type]
    assert snapshot(tls) == before
    with pytest.raises(IdentityError, match="no identity for org 'initech'"):
        issue_server_certificate(root, OrgId("initech"), PASS, now=NOW)


def test_service_certificate_of_the_notary(root: Path, acme: OrgPublic) -> None:
    cert_file, key_file = issue_service_certificate(root, ACME, NOTARY_SERVICE, PASS, now=NOW)
    assert (cert_file, key_file) == OrgPaths.of(root, ACME).service_tls("notary")
    assert cert_file == OrgPaths.of(root, ACME).org_dir / "notary" / "tls" / "cert.pem"
    assert mode(cert_file.parent) == 0o700 and mode(key_file) == 0o600 and mode(cert_file) == 0o644
    key = serialization.load_pem_private_key(key_file.read_bytes(), PASS)
    cert = cert_at(cert_file)
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "notary.acme"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(acme.ca_cert_pem.encode()))
    # the gateway's and the node's are the same function's: same place as before
    assert issue_service_certificate(root, ACME, "gateway", PASS, now=NOW) == (
        OrgPaths.of(root, ACME).gateway_tls_cert,
        OrgPaths.of(root, ACME).gateway_tls_key,
    )


def test_service_certificate_refusals_write_nothing(tmp_path: Path) -> None:
    create_org_identity(tmp_path, ACME, "ACME Securities", PASS, now=NOW)
    before = snapshot(tmp_path)
    for service in ("", "Notary", "ca", "msp", "keys", "users", "../x", "a/b", "x" * 33, "1st"):
        with pytest.raises(MalformedError, match="invalid service name"):
            issue_service_certificate(tmp_path, ACME, service, PASS, now=NOW)
    with pytest.raises(MalformedError, match="invalid host name"):
        issue_service_certificate(tmp_path, ACME, "explorer", PASS, hostnames=("bad host",), now=NOW)
    with pytest.raises(MalformedError, match="invalid IP address"):
        issue_service_certificate(tmp_path, ACME, "explorer", PASS, ips=("10.0.0.300",), now=NOW)
    with pytest.raises(PassphraseError):
        issue_service_certificate(tmp_path, ACME, "explorer", WRONG, now=NOW)
    with pytest.raises(IdentityError, match="no identity for org 'initech'"):
        issue_service_certificate(tmp_path, OrgId("initech"), "explorer", PASS, now=NOW)
    OrgPaths.of(tmp_path, ACME).ca_key.unlink()  # a member whose CA key is kept elsewhere
    with pytest.raises(IdentityError, match=r"ca-key\.pem is missing"):
        issue_service_certificate(tmp_path, ACME, NOTARY_SERVICE, PASS, now=NOW)
    after = snapshot(tmp_path)
    del before[str(OrgPaths.of(tmp_path, ACME).ca_key.relative_to(tmp_path))]
    assert after == before
    assert not (OrgPaths.of(tmp_path, ACME).org_dir / "explorer").exists()
    assert not (OrgPaths.of(tmp_path, ACME).org_dir / "notary").exists()


# ------------------------------------------------------------------------------------------ revocation


def test_revoke_writes_a_signed_crl_and_keeps_earlier_entries(fresh: Path) -> None:
    assert load_crl(fresh, ACME) is None
    one = read_certificate(issue_identity(fresh, ACME, "one", PASS, now=NOW) / "signcerts" / "cert.pem")
    two = read_certificate(issue_identity(fresh, ACME, "two", PASS, now=NOW) / "signcerts" / "cert.pem")
    path = revoke_identity(fresh, ACME, one.public_bytes(serialization.Encoding.PEM), PASS, now=NOW)
    assert path == OrgPaths.of(fresh, ACME).org_dir / "msp" / "crls" / "crl.pem"
    assert mode(path) == 0o644
    crl = load_crl(fresh, ACME)
    assert crl is not None
    assert [r.serial_number for r in crl] == [one.serial_number]
    assert crl.last_update_utc == START
    assert crl.next_update_utc == START + timedelta(days=CRL_VALIDITY_DAYS)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    ca = x509.load_pem_x509_certificate(OrgPaths.of(fresh, ACME).ca_cert.read_bytes())
    assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]

    later = NOW + timedelta(hours=1)
    text = two.public_bytes(serialization.Encoding.PEM).decode()  # str is accepted too
    revoke_identity(fresh, ACME, text, PASS, now=later)
    crl = load_crl(fresh, ACME)
    assert crl is not None
    assert {r.serial_number: r.revocation_date_utc for r in crl} == {
        one.serial_number: START,
        two.serial_number: later.replace(microsecond=0),
    }
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2

    before = path.read_bytes()
    assert revoke_identity(fresh, ACME, text, PASS, now=later + timedelta(days=1)) == path
    assert path.read_bytes() == before  # already revoked: unchanged
    assert sorted(p.name for p in path.parent.iterdir()) == [".lock", "crl.pem"]  # no temp file left


def test_revoke_refuses_certificates_not_issued_by_the_org(root: Path, acme: OrgPublic, globex: OrgPublic) -> None:
    theirs = issue_identity(root, GLOBEX, "gina", PASS, now=NOW) / "signcerts" / "cert.pem"
    with pytest.raises(CertificateError, match=r"not issued by the CA of org 'acme' \(its issuer is CN=ca.globex"):
        revoke_identity(root, ACME, theirs.read_bytes(), PASS, now=NOW)
    with pytest.raises(CertificateError, match="is a CA certificate"):
        revoke_identity(root, ACME, acme.ca_cert_pem, PASS, now=NOW)
    # Same issuer name as acme's CA, signed by another key: a forgery.
    other = ec.generate_private_key(ec.SECP256R1())
    ca = x509.load_pem_x509_certificate(acme.ca_cert_pem.encode())
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged@acme")]))
        .issuer_name(ca.subject)
        .public_key(other.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(other, hashes.SHA256())
    )
    with pytest.raises(CertificateError, match="signature does not verify"):
        revoke_identity(root, ACME, forged.public_bytes(serialization.Encoding.PEM), PASS, now=NOW)
    with pytest.raises(MalformedError, match=r"not a PEM-encoded X\.509 certificate"):
        revoke_identity(root, ACME, b"hello", PASS, now=NOW)
    assert not OrgPaths.of(root, ACME).crl.exists()


def test_revoke_with_wrong_passphrase_changes_nothing(fresh: Path) -> None:
    cert = issue_identity(fresh, ACME, "one", PASS, now=NOW) / "signcerts" / "cert.pem"
    with pytest.raises(PassphraseError):
        revoke_identity(fresh, ACME, cert.read_bytes(), WRONG, now=NOW)
    assert load_crl(fresh, ACME) is None
    with pytest.raises(IdentityError, match="no identity for org 'initech'"):
        revoke_identity(fresh, OrgId("initech"), cert.read_bytes(), PASS, now=NOW)


def _flip_signature_bit(pem: bytes) -> bytes:
    crl = x509.load_pem_x509_crl(pem)
    der = bytearray(crl.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value, the last element of the DER
    tampered = x509.load_der_x509_crl(bytes(der))
    return tampered.public_bytes(serialization.Encoding.PEM)


def test_tampered_crl_is_an_error_not_no_crl(fresh: Path) -> None:
    one = issue_identity(fresh, ACME, "one", PASS, now=NOW) / "signcerts" / "cert.pem"
    two = issue_identity(fresh, ACME, "two", PASS, now=NOW) / "signcerts" / "cert.pem"
    path = revoke_identity(fresh, ACME, one.read_bytes(), PASS, now=NOW)
    good = path.read_bytes()

    path.write_bytes(_flip_signature_bit(good))
    with pytest.raises(CertificateError, match=r"signature of .*crl\.pem does not verify"):
        load_crl(fresh, ACME)
    with pytest.raises(CertificateError, match="does not verify"):
        revoke_identity(fresh, ACME, two.read_bytes(), PASS, now=NOW)  # never builds on a bad CRL
    assert path.read_bytes() == _flip_signature_bit(good)

    # A CRL signed by some other key under acme's name.
    other = ec.generate_private_key(ec.SECP256R1())
    ca = x509.load_pem_x509_certificate(OrgPaths.of(fresh, ACME).ca_cert.read_bytes())
    foreign = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(NOW)
        .next_update(NOW + timedelta(days=1))
        .sign(other, hashes.SHA256())
    )
    path.write_bytes(foreign.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateError, match="does not verify"):
        load_crl(fresh, ACME)

    path.write_bytes(b"garbage\n")
    with pytest.raises(MalformedError, match=r"not a PEM-encoded X\.509 CRL"):
        load_crl(fresh, ACME)

    path.write_bytes(good)
    crl = load_crl(fresh, ACME)
    assert crl is not None and len(crl) == 1


def test_verify_crl_checks_the_issuer(fresh: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    cert = issue_identity(fresh, ACME, "one", PASS, now=NOW) / "signcerts" / "cert.pem"
    data = revoke_identity(fresh, ACME, cert.read_bytes(), PASS, now=NOW).read_bytes()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    other = create_org_identity(elsewhere, GLOBEX, "Globex Capital", PASS, now=NOW)
    with pytest.raises(CertificateError, match=r"was issued by CN=ca\.acme"):
        verify_crl(data, x509.load_pem_x509_certificate(other.ca_cert_pem.encode()), "the CRL")
    own = x509.load_pem_x509_certificate(OrgPaths.of(fresh, ACME).ca_cert.read_bytes())
    assert len(verify_crl(data, own)) == 1


def test_load_crl_of_unknown_org(root: Path) -> None:
    with pytest.raises(IdentityError, match="no identity for org 'initech'"):
        load_crl(root, OrgId("initech"))


def test_concurrent_revocations_all_land(fresh: Path) -> None:
    certs = [
        (issue_identity(fresh, ACME, f"user{i}", PASS, now=NOW) / "signcerts" / "cert.pem").read_bytes()
        for i in range(8)
    ]
    errors: list[BaseException] = []

    def revoke(pem: bytes) -> None:
        try:
            revoke_identity(fresh, ACME, pem, PASS, now=NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=revoke, args=(pem,)) for pem in certs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    crl = load_crl(fresh, ACME)
    assert crl is not None
    assert {r.serial_number for r in crl} == {x509.load_pem_x509_certificate(p).serial_number for p in certs}
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 8


def test_read_certificate(root: Path, acme: OrgPublic, tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="cannot read certificate file"):
        read_certificate(tmp_path / "missing.pem")
    (tmp_path / "two.pem").write_text(acme.ca_cert_pem + acme.admin_cert_pem)
    with pytest.raises(MalformedError, match="expected one certificate"):
        read_certificate(tmp_path / "two.pem")
    assert read_certificate(OrgPaths.of(root, ACME).ca_cert).subject.rfc4514_string().startswith("CN=ca.acme")
