"""The SM2 identity CA of a member of an ``sm`` consortium: its files, its place in ``consortium.json``, and the
refusals of a CA that is not one (another org's, an end entity's, one in an ``intl`` member)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chain.errors import MalformedError
from chain.ids import OrgId
from network import _sm2ca
from network.identity import (
    CertificateError,
    IdentityError,
    OrgPaths,
    OrgPublic,
    PassphraseError,
    create_org_identity,
    load_org_public,
    load_sm2_ca_key,
    load_sm2_crl,
)
from suite.sm2 import SM2PrivateKey
from suite.x509 import Certificate, Name, issue, issue_ca, verify_chain

PASS = b"sm2 identity passphrase"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACME = OrgId("acme")


@pytest.fixture(scope="module")
def sm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sm")
    create_org_identity(root, ACME, "Acme Corp", PASS, NOW, crypto="sm")
    return root


@pytest.fixture(scope="module")
def intl_public(tmp_path_factory: pytest.TempPathFactory) -> OrgPublic:
    return create_org_identity(tmp_path_factory.mktemp("intl"), ACME, "Acme Corp", PASS, NOW, crypto="intl")


def test_an_sm_member_gets_an_sm2_identity_ca(sm_root: Path) -> None:
    paths = OrgPaths.of(sm_root, ACME)
    ca = Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
    assert ca.subject == "CN=sm2-ca.acme,OU=acme,O=Acme Corp"
    assert ca.is_ca and ca.path_length == 0 and {"key_cert_sign", "crl_sign"} <= ca.key_usage
    assert ca.not_before == NOW and ca.not_after == NOW.replace(year=2036)
    assert verify_chain(ca.der, [], [ca.der], at=NOW, usage=None) == [ca]
    assert stat.S_IMODE(paths.sm2_ca_key.stat().st_mode) == 0o600
    assert paths.sm2_ca_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert load_sm2_ca_key(sm_root, ACME, PASS).public_key() == ca.public_key
    assert load_sm2_crl(sm_root, ACME) is None  # nothing revoked yet
    assert not paths.sm2_crl.exists()


def test_the_sm2_ca_key_needs_the_passphrase(sm_root: Path) -> None:
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_sm2_ca_key(sm_root, ACME, b"not the passphrase")


def test_an_intl_member_has_no_sm2_ca(intl_public: OrgPublic, tmp_path: Path) -> None:
    assert intl_public.sm2_ca_cert_pem is None
    assert "sm2_ca_cert_pem" not in intl_public.to_json()
    create_org_identity(tmp_path, ACME, "Acme Corp", PASS, NOW)
    assert not OrgPaths.of(tmp_path, ACME).sm2_ca_cert.exists()
    with pytest.raises(IdentityError, match="has no SM2 identity CA"):
        load_sm2_ca_key(tmp_path, ACME, PASS)


def test_the_sm2_ca_round_trips_through_consortium_json(sm_root: Path) -> None:
    public = load_org_public(sm_root, ACME)
    assert public.sm2_ca_cert_pem == OrgPaths.of(sm_root, ACME).sm2_ca_cert.read_text()
    data = public.to_json()
    assert data["sm2_ca_cert_pem"] == public.sm2_ca_cert_pem
    assert OrgPublic.from_json(data) == public
    crlf = {**data, "sm2_ca_cert_pem": public.sm2_ca_cert_pem.replace("\n", "\r\n")}  # re-encoded canonically
    assert OrgPublic.from_json(crlf) == public
    without = {k: v for k, v in data.items() if k != "sm2_ca_cert_pem"}  # a member from before the SM2 CAs
    assert OrgPublic.from_json(without).sm2_ca_cert_pem is None


def _with_sm2_ca(public: OrgPublic, pem: object) -> dict[str, object]:
    return {**public.to_json(), "sm2_ca_cert_pem": pem}


def test_an_sm2_ca_in_an_intl_member_is_refused(sm_root: Path, intl_public: OrgPublic) -> None:
    pem = load_org_public(sm_root, ACME).sm2_ca_cert_pem
    with pytest.raises(MalformedError, match="Ed25519"):
        OrgPublic.from_json(_with_sm2_ca(intl_public, pem))


def test_a_ca_of_another_org_is_refused(sm_root: Path) -> None:
    key = SM2PrivateKey.generate()
    other = Certificate.from_der(_sm2ca.build_ca(key, "Globex", "globex", NOW, NOW + timedelta(days=9))).to_pem()
    with pytest.raises(MalformedError, match="not for org 'acme'"):
        OrgPublic.from_json(_with_sm2_ca(load_org_public(sm_root, ACME), other.decode()))


def test_a_certificate_that_is_not_a_ca_is_refused(sm_root: Path) -> None:
    key = SM2PrivateKey.generate()
    root = issue_ca(Name("root", organizational_unit="acme"), key, NOW, NOW + timedelta(days=9))
    leaf = issue(
        Name("leaf", organizational_unit="acme"), key.public_key(), root, key, NOW, NOW + timedelta(days=9),
        usage="client",
    )  # fmt: skip
    public = load_org_public(sm_root, ACME)
    with pytest.raises(MalformedError, match="not a CA certificate"):
        OrgPublic.from_json(_with_sm2_ca(public, Certificate.from_der(leaf).to_pem().decode()))


def test_a_ca_that_is_not_self_signed_or_not_sm2_is_refused(sm_root: Path) -> None:
    public = load_org_public(sm_root, ACME)
    key = SM2PrivateKey.generate()
    root = issue_ca(Name("root", organizational_unit="acme"), key, NOW, NOW + timedelta(days=9))
    sub = issue(
        Name("sub", organizational_unit="acme"), SM2PrivateKey.generate().public_key(), root, key, NOW,
        NOW + timedelta(days=9), usage="ca",
    )  # fmt: skip
    with pytest.raises(MalformedError, match="not self-signed"):
        OrgPublic.from_json(_with_sm2_ca(public, Certificate.from_der(sub).to_pem().decode()))
    with pytest.raises(MalformedError, match="SM2 CA certificate"):  # the P-256 CA in the SM2 CA's place
        OrgPublic.from_json(_with_sm2_ca(public, public.ca_cert_pem))
    with pytest.raises(MalformedError, match="must be a string"):
        OrgPublic.from_json(_with_sm2_ca(public, 42))


def test_an_sm2_crl_that_does_not_verify_is_refused_not_ignored(tmp_path: Path) -> None:
    create_org_identity(tmp_path, ACME, "Acme Corp", PASS, NOW, crypto="sm")
    paths = OrgPaths.of(tmp_path, ACME)
    ca = Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
    key = load_sm2_ca_key(tmp_path, ACME, PASS)
    good = _sm2ca.build_crl(ca, key, [(5, NOW)], NOW, NOW + timedelta(days=30), 1)
    paths.sm2_crl.write_bytes(good)
    crl = load_sm2_crl(tmp_path, ACME)
    assert crl is not None and crl.crl_number == 1 and set(crl.revoked) == {5}
    # the same CRL signed by another key of the same name
    stranger = SM2PrivateKey.generate()
    forged_ca = Certificate.from_der(_sm2ca.build_ca(stranger, "Acme Corp", "acme", NOW, NOW + timedelta(days=9)))
    paths.sm2_crl.write_bytes(_sm2ca.build_crl(forged_ca, stranger, [], NOW, NOW + timedelta(days=30), 2))
    with pytest.raises(CertificateError, match="does not verify"):
        load_sm2_crl(tmp_path, ACME)
    paths.sm2_crl.write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(MalformedError, match="not an SM2 CRL"):
        load_sm2_crl(tmp_path, ACME)
