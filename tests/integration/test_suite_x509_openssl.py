"""SM2 certificates and CRLs of suite.x509 against the `openssl` command line (OpenSSL 3), both ways.

OpenSSL 3.0 takes the signer ID for certificate signatures as `-vfyopt distid:` and applies it to the certificate
being verified only: a CA file's certificates and `-untrusted` intermediates are checked under the empty ID, so the
chains here are CA → leaf. It checks CRL signatures under the empty ID with no option to change that; our CRLs'
signatures are checked with `openssl dgst` over their TBSCertList instead, and a test pins the limitation.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl

from suite.sm2 import DEFAULT_ID, SM2PrivateKey
from suite.x509 import CRL, Certificate, Name, issue, issue_ca, issue_crl, verify_chain

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
DISTID = f"distid:{DEFAULT_ID.decode()}"


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=30, check=False)


def _chain(tmp_path: Path) -> tuple[SM2PrivateKey, bytes, bytes]:
    ca_key = SM2PrivateKey.generate()
    ca = issue_ca(Name("Alpha Root CA", "Alpha Securities", country="CN"), ca_key, T0, T0 + timedelta(days=3650))
    leaf = issue(
        Name("gateway-1", "Alpha Securities"), SM2PrivateKey.generate().public_key(), ca, ca_key,
        T0, T0 + timedelta(days=365), usage="both", san_dns=("gw1.alpha.example",),
    )  # fmt: skip
    (tmp_path / "ca.pem").write_bytes(Certificate.from_der(ca).to_pem())
    (tmp_path / "leaf.pem").write_bytes(Certificate.from_der(leaf).to_pem())
    return ca_key, ca, leaf


def test_openssl_verifies_our_chain_only_under_the_profile_id(tmp_path: Path) -> None:
    _, _, leaf = _chain(tmp_path)
    at = str(int(NOW.timestamp()))
    ok = _openssl("verify", "-attime", at, "-vfyopt", DISTID, "-purpose", "sslclient", "-CAfile", tmp_path / "ca.pem",
                  tmp_path / "leaf.pem")  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    no_id = _openssl("verify", "-attime", at, "-CAfile", tmp_path / "ca.pem", tmp_path / "leaf.pem")
    assert no_id.returncode != 0 and b"certificate signature failure" in no_id.stdout + no_id.stderr

    (tmp_path / "tampered.pem").write_bytes(Certificate.from_der(leaf.replace(b"gateway-1", b"gateway-2")).to_pem())
    tampered = _openssl("verify", "-attime", at, "-vfyopt", DISTID, "-CAfile", tmp_path / "ca.pem",
                        tmp_path / "tampered.pem")  # fmt: skip
    assert tampered.returncode != 0 and b"certificate signature failure" in tampered.stdout + tampered.stderr

    text = _openssl("x509", "-in", tmp_path / "leaf.pem", "-noout", "-text")
    assert text.returncode == 0, text.stderr
    for shown in (b"Signature Algorithm: SM2-with-SM3", b"ASN1 OID: SM2", b"CA:FALSE", b"DNS:gw1.alpha.example",
                  b"TLS Web Client Authentication, TLS Web Server Authentication"):  # fmt: skip
        assert shown in text.stdout


def test_openssl_reads_our_crl_and_its_signature_verifies_under_the_profile_id(tmp_path: Path) -> None:
    ca_key, ca, leaf = _chain(tmp_path)
    serial = Certificate.from_der(leaf).serial
    crl = CRL.from_der(issue_crl(ca, ca_key, [(serial, T0 + timedelta(days=2))], T0, T0 + timedelta(days=30), 5))
    (tmp_path / "crl.pem").write_bytes(crl.to_pem())

    text = _openssl("crl", "-in", tmp_path / "crl.pem", "-noout", "-text")
    assert text.returncode == 0, text.stderr
    assert b"Signature Algorithm: SM2-with-SM3" in text.stdout
    digits = b"%X" % serial
    assert b"Serial Number: " + digits.zfill(len(digits) + len(digits) % 2) in text.stdout  # whole bytes: 0778F0…
    assert b"X509v3 CRL Number: \n                5" in text.stdout

    # The TBSCertList as an independent DER reader cuts it, and the signature, checked by openssl under the ID.
    (tmp_path / "tbs.der").write_bytes(asn1_crl.CertificateList.load(crl.der)["tbs_cert_list"].dump())
    (tmp_path / "sig.der").write_bytes(crl.signature)
    (tmp_path / "ca.pub").write_bytes(ca_key.public_key().to_pem())
    checked = _openssl("dgst", "-sm3", "-verify", tmp_path / "ca.pub", "-sigopt", DISTID,
                       "-signature", tmp_path / "sig.der", tmp_path / "tbs.der")  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_openssl_3_0_checks_crl_signatures_under_the_empty_id_only(tmp_path: Path) -> None:
    """Pins a limitation: when this starts to pass, `openssl verify -crl_check` can check our CRLs (update docs)."""
    ca_key, ca, _ = _chain(tmp_path)
    (tmp_path / "crl.pem").write_bytes(CRL.from_der(issue_crl(ca, ca_key, [], T0, T0 + timedelta(days=30), 1)).to_pem())
    refused = _openssl("crl", "-in", tmp_path / "crl.pem", "-CAfile", tmp_path / "ca.pem", "-noout", "-verify")
    assert b"verify failure" in refused.stdout + refused.stderr
    at = str(int(NOW.timestamp()))
    with_crl = _openssl("verify", "-attime", at, "-vfyopt", DISTID, "-crl_check", "-CRLfile", tmp_path / "crl.pem",
                        "-CAfile", tmp_path / "ca.pem", tmp_path / "leaf.pem")  # fmt: skip
    assert b"CRL signature failure" in with_crl.stdout + with_crl.stderr


def test_a_chain_openssl_issued_verifies_with_verify_chain(tmp_path: Path) -> None:
    made = _openssl(
        "req", "-x509", "-newkey", "sm2", "-nodes", "-keyout", tmp_path / "ca.key", "-sm3", "-sigopt", DISTID,
        "-subj", "/C=CN/O=Beta Securities/CN=Beta Root CA", "-days", "30",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", tmp_path / "ca.pem",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (tmp_path / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nsubjectAltName=DNS:alice.beta.example\n"
    )
    request = _openssl(
        "req", "-new", "-newkey", "sm2", "-nodes", "-keyout", tmp_path / "leaf.key", "-sm3", "-sigopt", DISTID,
        "-subj", "/O=Beta Securities/CN=alice", "-out", tmp_path / "leaf.csr",
    )  # fmt: skip
    assert request.returncode == 0, request.stderr
    signed = _openssl(
        "x509", "-req", "-in", tmp_path / "leaf.csr", "-CA", tmp_path / "ca.pem", "-CAkey", tmp_path / "ca.key",
        "-set_serial", "4660", "-sm3", "-sigopt", DISTID, "-vfyopt", DISTID, "-extfile", tmp_path / "leaf.ext",
        "-days", "10", "-out", tmp_path / "leaf.pem",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr

    ca = Certificate.from_pem((tmp_path / "ca.pem").read_bytes())
    leaf = Certificate.from_pem((tmp_path / "leaf.pem").read_bytes())
    assert ca.subject == "CN=Beta Root CA,O=Beta Securities,C=CN" and ca.is_ca
    assert (leaf.subject, leaf.serial, leaf.san_dns) == ("CN=alice,O=Beta Securities", 4660, ("alice.beta.example",))
    assert leaf.public_key == SM2PrivateKey.from_pem((tmp_path / "leaf.key").read_bytes()).public_key()
    path = verify_chain(leaf.der, [], [ca.der], at=leaf.not_before + timedelta(hours=1), usage="client")
    assert path == [leaf, ca]


def test_openssl_verifies_a_person_of_an_sm_member_against_its_sm2_identity_ca(tmp_path: Path) -> None:
    # what `consortium user add` issues in an sm consortium (network.identity, docs/national-suite.md)
    from chain.ids import OrgId, Role
    from network.identity import OrgPaths, create_org_identity, issue_identity, user_paths
    from tests.support.member_directory import write_description

    passphrase = b"openssl person passphrase"
    create_org_identity(tmp_path, OrgId("acme"), "ACME Securities", passphrase, crypto="sm")
    write_description(tmp_path, {"acme": ("ACME Securities", Role.MEMBER)}, crypto="sm")
    issue_identity(tmp_path, OrgId("acme"), "alice", passphrase, role="compliance")
    ca, cert = OrgPaths.of(tmp_path, OrgId("acme")).sm2_ca_cert, user_paths(tmp_path, OrgId("acme"), "alice").cert
    ok = _openssl("verify", "-vfyopt", DISTID, "-purpose", "sslclient", "-CAfile", ca, cert)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    text = _openssl("x509", "-in", cert, "-noout", "-subject", "-issuer")
    assert b"O = ACME Securities, OU = acme, title = compliance, CN = alice@acme" in text.stdout, text.stdout
    assert b"CN = sm2-ca.acme" in text.stdout, text.stdout
