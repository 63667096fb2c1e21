"""SM2 certificates and CRLs (suite.x509): issue → parse round trips, path validation, and every refusal.

Certificates that `suite.x509` would never issue (a CA without keyCertSign, a CRL signed by a stranger, a P-256
key under an SM2 signature) are made by editing an issued one with asn1crypto and signing it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as c_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from suite.errors import CertificateError, CertificateRevokedError, PathValidationError
from suite.sm2 import DEFAULT_ID, SM2PrivateKey
from suite.x509 import (
    CRL,
    Certificate,
    Name,
    certificates_from_pem,
    issue,
    issue_ca,
    issue_crl,
    key_identifier,
    verify_chain,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
NOW = T0 + 10 * DAY
CA_NAME = Name("Alpha Securities Root CA", "Alpha Securities", "PKI", "CN")

CA_KEY = SM2PrivateKey.generate()
CA = issue_ca(CA_NAME, CA_KEY, T0, T0 + 3650 * DAY, serial=1)
LEAF_KEY = SM2PrivateKey.generate()
LEAF = issue(
    Name("gateway-1", "Alpha Securities", "Gateways"),
    LEAF_KEY.public_key(),
    CA,
    CA_KEY,
    T0,
    T0 + 365 * DAY,
    usage="both",
    san_dns=("gw1.alpha.example",),
    san_ip=("10.1.2.3", "fd00::1"),
    serial=0x1234,
)


def _resign(der: bytes, key: SM2PrivateKey, edit: Callable[[Any], None]) -> bytes:
    """`der` (a certificate) with `edit` applied to its TBS, signed again by `key`."""
    cert = asn1_x509.Certificate.load(der)
    edit(cert["tbs_certificate"])
    tbs = asn1_x509.TbsCertificate.load(cert["tbs_certificate"].dump(force=True))
    signature = key.sign_der(tbs.dump(), DEFAULT_ID)
    algorithm = cert["signature_algorithm"]
    return bytes(
        asn1_x509.Certificate(
            {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
        ).dump()
    )


def _resign_crl(der: bytes, key: SM2PrivateKey) -> bytes:
    crl = asn1_crl.CertificateList.load(der)
    tbs = crl["tbs_cert_list"]
    signature = key.sign_der(tbs.dump(), DEFAULT_ID)
    return bytes(
        asn1_crl.CertificateList(
            {"tbs_cert_list": tbs, "signature_algorithm": crl["signature_algorithm"], "signature": signature}
        ).dump()
    )


def _set_extension(name: str, value: Any, critical: bool) -> Callable[[Any], None]:
    def edit(tbs: Any) -> None:
        kept = [e for e in tbs["extensions"] if e["extn_id"].native != name]
        tbs["extensions"] = [*kept, {"extn_id": name, "critical": critical, "extn_value": value}]

    return edit


# -- round trips ------------------------------------------------------------------------------------------------


def test_a_root_ca_parses_as_issued() -> None:
    ca = Certificate.from_der(CA)
    assert ca.subject == ca.issuer == "CN=Alpha Securities Root CA,OU=PKI,O=Alpha Securities,C=CN"
    assert ca.serial == 1
    assert (ca.not_before, ca.not_after) == (T0, T0 + 3650 * DAY)
    assert ca.public_key == CA_KEY.public_key()
    assert ca.is_ca and ca.path_length is None
    assert ca.key_usage == {"key_cert_sign", "crl_sign"}
    assert ca.ext_key_usage is None
    assert ca.ski == ca.aki == key_identifier(CA_KEY.public_key())
    assert len(ca.ski) == 20
    CA_KEY.public_key().verify_der(ca.signature, ca.tbs, DEFAULT_ID)


def test_an_end_entity_certificate_parses_as_issued() -> None:
    leaf = Certificate.from_der(LEAF)
    assert leaf.subject == "CN=gateway-1,OU=Gateways,O=Alpha Securities"
    assert leaf.issuer == Certificate.from_der(CA).subject
    assert leaf.serial == 0x1234
    assert (leaf.not_before, leaf.not_after) == (T0, T0 + 365 * DAY)
    assert leaf.public_key == LEAF_KEY.public_key()
    assert not leaf.is_ca
    assert leaf.key_usage == {"digital_signature"}
    assert leaf.ext_key_usage == frozenset({"client_auth", "server_auth"})
    assert leaf.san_dns == ("gw1.alpha.example",)
    assert leaf.san_ip == ("10.1.2.3", "fd00::1")
    assert leaf.ski == key_identifier(LEAF_KEY.public_key())
    assert leaf.aki == Certificate.from_der(CA).ski


@pytest.mark.parametrize(
    ("usage", "eku", "key_usage"),
    [
        ("client", {"client_auth"}, {"digital_signature"}),
        ("server", {"server_auth"}, {"digital_signature"}),
        ("signing", None, {"digital_signature", "non_repudiation"}),
    ],
)
def test_usages_set_key_usage_and_extended_key_usage(usage: Any, eku: Any, key_usage: set[str]) -> None:
    cert = Certificate.from_der(issue(Name("p"), LEAF_KEY.public_key(), CA, CA_KEY, T0, T0 + DAY, usage=usage))
    assert cert.ext_key_usage == eku
    assert cert.key_usage == key_usage


def test_serials_are_random_positive_and_at_most_128_bits() -> None:
    serials = {Certificate.from_der(issue_ca(CA_NAME, CA_KEY, T0, T0 + DAY)).serial for _ in range(8)}
    assert len(serials) == 8
    assert all(0 < s < 1 << 128 for s in serials)


def test_pem_round_trips() -> None:
    leaf, ca = Certificate.from_der(LEAF), Certificate.from_der(CA)
    assert Certificate.from_pem(leaf.to_pem()) == leaf
    assert leaf.to_pem().startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert [c.der for c in certificates_from_pem(leaf.to_pem() + b"\n" + ca.to_pem())] == [LEAF, CA]
    crl = CRL.from_der(issue_crl(CA, CA_KEY, [], T0, T0 + DAY, 1))
    assert CRL.from_pem(crl.to_pem()) == crl
    assert crl.to_pem().startswith(b"-----BEGIN X509 CRL-----\n")


def test_a_crl_parses_as_issued() -> None:
    revoked = [(0x1234, T0 + 2 * DAY), (77, T0 + DAY)]
    crl = CRL.from_der(issue_crl(CA, CA_KEY, revoked, T0 + 3 * DAY, T0 + 10 * DAY, 42))
    assert crl.issuer == Certificate.from_der(CA).subject
    assert (crl.this_update, crl.next_update, crl.crl_number) == (T0 + 3 * DAY, T0 + 10 * DAY, 42)
    assert crl.revoked == {0x1234: T0 + 2 * DAY, 77: T0 + DAY}
    assert crl.aki == Certificate.from_der(CA).ski
    assert CRL.from_der(issue_crl(CA, CA_KEY, [], T0, T0 + DAY, 1)).revoked == {}


def test_times_from_2050_are_generalized_time() -> None:
    late = datetime(2051, 6, 1, 12, 30, tzinfo=UTC)
    cert = Certificate.from_der(issue_ca(CA_NAME, CA_KEY, T0, late))
    assert cert.not_after == late
    assert b"\x18\x0f20510601123000Z" in cert.tbs


def test_names_are_rfc4514_escaped() -> None:
    cert = Certificate.from_der(issue_ca(Name(' #a,b+c"d '), CA_KEY, T0, T0 + DAY))
    assert cert.subject == 'CN=\\ #a\\,b\\+c\\"d\\ '
    assert Certificate.from_der(issue_ca(Name("#x=1;<>"), CA_KEY, T0, T0 + DAY)).subject == "CN=\\#x\\=1\\;\\<\\>"


# -- paths ------------------------------------------------------------------------------------------------------


def test_a_chain_verifies_and_the_path_is_returned() -> None:
    path = verify_chain(LEAF, [], [CA], at=NOW, usage="server")
    assert [c.der for c in path] == [LEAF, CA]
    crl = issue_crl(CA, CA_KEY, [(999, T0)], T0, T0 + 30 * DAY, 1)
    assert len(verify_chain(LEAF, [], [CA], at=NOW, usage="client", crls=[crl])) == 2


def test_a_chain_through_an_intermediate_verifies() -> None:
    sub_key = SM2PrivateKey.generate()
    sub = issue(Name("Alpha Issuing CA"), sub_key.public_key(), CA, CA_KEY, T0, T0 + 900 * DAY, usage="ca")
    leaf = issue(Name("alice"), LEAF_KEY.public_key(), sub, sub_key, T0, T0 + 90 * DAY, usage="client")
    crls = [issue_crl(CA, CA_KEY, [], T0, T0 + 30 * DAY, 1), issue_crl(sub, sub_key, [], T0, T0 + 30 * DAY, 1)]
    path = verify_chain(leaf, [sub, LEAF], [CA], at=NOW, usage="client", crls=crls)
    assert [c.der for c in path] == [leaf, sub, CA]


def _refused(match: str, leaf: bytes = LEAF, **kwargs: Any) -> PathValidationError:
    args: dict[str, Any] = {"intermediates": [], "roots": [CA], "at": NOW, "usage": None} | kwargs
    with pytest.raises(PathValidationError, match=match) as info:
        verify_chain(leaf, args.pop("intermediates"), args.pop("roots"), **args)
    return info.value


def test_expired_is_refused() -> None:
    error = _refused(r"'CN=gateway-1,.*' \(serial 1234\) expired at 2027-01-01", at=T0 + 366 * DAY)
    assert error.serial == 0x1234


def test_not_yet_valid_is_refused() -> None:
    _refused(r"gateway-1.* is not valid until 2026-01-01", at=T0 - DAY)


def test_an_expired_root_is_refused() -> None:
    short = issue_ca(CA_NAME, CA_KEY, T0, T0 + 5 * DAY)
    _refused(r"'CN=Alpha Securities Root CA,.*' \(serial [0-9a-f]+\) expired at 2026-01-06", roots=[short])


def test_another_issuer_is_refused() -> None:
    other_key = SM2PrivateKey.generate()
    other = issue_ca(Name("Beta Root CA"), other_key, T0, T0 + 3650 * DAY)
    _refused(r"gateway-1.* has no issuer among the given certificates \(issuer 'CN=Alpha", roots=[other])
    # The same name with another key: the key identifiers tell them apart.
    twin = issue_ca(CA_NAME, other_key, T0, T0 + 3650 * DAY)
    _refused(r"gateway-1.* has no issuer", roots=[twin])


def test_a_bad_signature_is_refused() -> None:
    tampered = LEAF.replace(b"gateway-1", b"gateway-2")
    _refused(r"'CN=gateway-2,.*' \(serial 1234\) has a signature that does not verify", leaf=tampered)


def test_a_leaf_used_as_a_ca_is_refused() -> None:
    # A "CA" with the leaf's name and key issues; the leaf's own certificate then sits in the path as issuer.
    fake_ca = issue_ca(Name("gateway-1", "Alpha Securities", "Gateways"), LEAF_KEY, T0, T0 + 365 * DAY)
    victim = issue(Name("mallory"), SM2PrivateKey.generate().public_key(), fake_ca, LEAF_KEY, T0, NOW, usage="client")
    _refused(r"gateway-1.* is not a CA \(basicConstraints CA:FALSE.*\) but issued certificate 'CN=mallory'",
             leaf=victim, intermediates=[LEAF])  # fmt: skip


def test_a_ca_without_key_cert_sign_is_refused() -> None:
    crl_only = _resign(CA, CA_KEY, _set_extension("key_usage", {"crl_sign"}, critical=True))
    _refused(r"Root CA.* lacks the keyCertSign key usage but issued certificate 'CN=gateway-1", roots=[crl_only])


def test_path_length_is_enforced() -> None:
    root = issue_ca(Name("Short Root"), CA_KEY, T0, T0 + 900 * DAY, path_length=0)
    sub_key = SM2PrivateKey.generate()
    sub = issue(Name("Sub"), sub_key.public_key(), root, CA_KEY, T0, T0 + 900 * DAY, usage="ca")
    leaf = issue(Name("bob"), LEAF_KEY.public_key(), sub, sub_key, T0, T0 + 90 * DAY, usage="client")
    _refused(r"Short Root.* allows 0 intermediate CAs below it \(pathLenConstraint\), the path has 1",
             leaf=leaf, intermediates=[sub], roots=[root])  # fmt: skip


@pytest.mark.parametrize(
    ("usage", "wanted", "match"),
    [
        ("client", "server", r"is not for server authentication \(extendedKeyUsage client_auth, needs server_auth\)"),
        ("server", "client", r"is not for client authentication"),
        ("signing", "client", r"is not for client authentication \(extendedKeyUsage none"),
    ],
)
def test_extended_key_usage_must_allow_the_use(usage: Any, wanted: Any, match: str) -> None:
    leaf = issue(Name("carol"), LEAF_KEY.public_key(), CA, CA_KEY, T0, T0 + 90 * DAY, usage=usage)
    _refused(r"'CN=carol'.* " + match, leaf=leaf, usage=wanted)


def test_a_revoked_certificate_is_refused_with_the_revocation_time() -> None:
    crl = issue_crl(CA, CA_KEY, [(0x1234, T0 + 5 * DAY)], T0 + 6 * DAY, T0 + 13 * DAY, 7)
    with pytest.raises(CertificateRevokedError, match=r"gateway-1.* was revoked at 2026-01-06T00:00:00\+00:00 \(CRL"):
        verify_chain(LEAF, [], [CA], at=NOW, usage="client", crls=[crl])
    with pytest.raises(CertificateRevokedError) as info:
        verify_chain(LEAF, [], [CA], at=NOW, usage="client", crls=[crl])
    assert info.value.revoked_at == T0 + 5 * DAY


def test_the_newest_crl_is_used() -> None:
    old = issue_crl(CA, CA_KEY, [], T0, T0 + 30 * DAY, 1)
    new = issue_crl(CA, CA_KEY, [(0x1234, T0 + 5 * DAY)], T0 + 6 * DAY, T0 + 30 * DAY, 2)
    with pytest.raises(CertificateRevokedError):
        verify_chain(LEAF, [], [CA], at=NOW, usage=None, crls=[old, new])


@pytest.mark.parametrize("at", [T0 + 5 * DAY, T0 + 9 * DAY, T0 + 12 * DAY])
def test_a_stale_crl_is_refused(at: datetime) -> None:
    crl = issue_crl(CA, CA_KEY, [], T0 + 6 * DAY, T0 + 9 * DAY, 3)
    _refused(r"gateway-1.* has no current CRL: number 3 of 'CN=Alpha Securities Root CA.*' covers", crls=[crl], at=at)


def test_a_crl_signed_by_another_ca_is_refused() -> None:
    forged = _resign_crl(issue_crl(CA, CA_KEY, [], T0, T0 + 30 * DAY, 9), SM2PrivateKey.generate())
    _refused(r"gateway-1.* has a CRL \(number 9\) not signed by its issuer 'CN=Alpha", crls=[forged])


def test_a_missing_crl_is_refused_when_crls_are_given() -> None:
    other_key = SM2PrivateKey.generate()
    other = issue_ca(Name("Beta Root CA"), other_key, T0, T0 + 3650 * DAY)
    crl = issue_crl(other, other_key, [(0x1234, T0)], T0, T0 + 30 * DAY, 1)
    _refused(r"gateway-1.* has no CRL of its issuer 'CN=Alpha.*' among the CRLs given", crls=[crl])


def test_at_must_be_aware() -> None:
    with pytest.raises(CertificateError, match="no time zone"):
        verify_chain(LEAF, [], [CA], at=datetime(2026, 2, 1), usage=None)


# -- refused input ----------------------------------------------------------------------------------------------


def _p256_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = c_x509.Name([c_x509.NameAttribute(NameOID.COMMON_NAME, "p256")])
    builder = (
        c_x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(5)
        .not_valid_before(T0)
        .not_valid_after(T0 + DAY)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_a_p256_certificate_is_refused() -> None:
    with pytest.raises(CertificateError, match=r"signed with sha256_ecdsa, not SM2-with-SM3 \(1.2.156.10197.1.501\)"):
        Certificate.from_der(_p256_certificate())


def test_a_p256_key_under_an_sm2_signature_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = keys.PublicKeyInfo.load(
        p256.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    def edit(tbs: Any) -> None:
        tbs["subject_public_key_info"] = spki

    with pytest.raises(CertificateError, match=r"key is not an SM2 key \(ec on secp256r1\)"):
        Certificate.from_der(_resign(LEAF, CA_KEY, edit))


@pytest.mark.parametrize("der", [b"", b"garbage", b"\x30\x03\x02\x01", b"\x30\x00", LEAF[:-1]])
def test_garbage_is_refused(der: bytes) -> None:
    with pytest.raises(CertificateError, match="not valid DER"):
        Certificate.from_der(der)
    with pytest.raises(CertificateError, match="not valid DER"):
        CRL.from_der(der)


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(CertificateError, match="trailing data"):
        Certificate.from_der(LEAF + b"\x00")
    with pytest.raises(CertificateError, match="trailing data"):
        CRL.from_der(issue_crl(CA, CA_KEY, [], T0, T0 + DAY, 1) + b"\x00")


def test_ber_is_refused() -> None:
    assert LEAF[:2] == b"\x30\x82"
    ber = b"\x30\x83\x00" + LEAF[2:]  # the same length in a longer form than needed
    with pytest.raises(CertificateError, match="DER"):
        Certificate.from_der(ber)


def test_an_unrecognised_critical_extension_is_refused() -> None:
    cert = _resign(LEAF, CA_KEY, _set_extension("inhibit_any_policy", 0, critical=True))
    with pytest.raises(CertificateError, match="unrecognised critical extension inhibit_any_policy"):
        Certificate.from_der(cert)


def test_a_certificate_is_not_a_crl() -> None:
    with pytest.raises(CertificateError):
        CRL.from_der(LEAF)
    with pytest.raises(CertificateError, match="'X509 CRL', expected 'CERTIFICATE'"):
        Certificate.from_pem(CRL.from_der(issue_crl(CA, CA_KEY, [], T0, T0 + DAY, 1)).to_pem())


def test_issuing_refuses_a_wrong_issuer_key_a_leaf_issuer_and_bad_times() -> None:
    with pytest.raises(CertificateError, match="the issuer key is not the key of certificate 'CN=Alpha"):
        issue(Name("x"), LEAF_KEY.public_key(), CA, LEAF_KEY, T0, NOW, usage="client")
    with pytest.raises(CertificateError, match=r"'CN=gateway-1.* is not a CA"):
        issue(Name("x"), LEAF_KEY.public_key(), LEAF, LEAF_KEY, T0, NOW, usage="client")
    with pytest.raises(CertificateError, match="no time zone"):
        issue_ca(CA_NAME, CA_KEY, datetime(2026, 1, 1), NOW)
    with pytest.raises(CertificateError, match=r"ends .* before it starts"):
        issue_ca(CA_NAME, CA_KEY, NOW, T0)
    with pytest.raises(CertificateError, match="not an IP address"):
        issue(Name("x"), LEAF_KEY.public_key(), CA, CA_KEY, T0, NOW, usage="server", san_ip=("gw1",))
    with pytest.raises(CertificateError, match="unknown usage"):
        issue(Name("x"), LEAF_KEY.public_key(), CA, CA_KEY, T0, NOW, usage="email")  # type: ignore[arg-type]
