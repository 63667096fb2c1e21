"""The SM2 identity CA of a member of an ``sm`` consortium, and what it issues (see :mod:`network.identity`).

A member of a consortium on the ``sm`` suite holds, beside its ECDSA P-256 CA (which keeps issuing the TLS
certificates: OpenSSL's TLS takes no SM2 certificate), an SM2 identity CA of the profile of :mod:`suite.x509`:
``O=<display name>, OU=<org id>, CN=sm2-ca.<org id>``, CA:TRUE pathLenConstraint 0, 10 years, SM2-with-SM3. It
issues the people's certificates (``O, OU=<org id>, title=<role>, CN=<name>@<org id>``, clientAuth) and signs their
revocation list. Here are the parts that need no files: building the CA, checking a certificate or CRL against it,
issuing and revoking. :mod:`network.identity` reads and writes the files.

Errors are the suite's (:class:`suite.errors.CertificateError`, :class:`suite.errors.SM2Error`); the callers turn
them into the network's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from asn1crypto import x509 as asn1_x509

from suite.errors import CertificateError
from suite.sm2 import DEFAULT_ID, SM2PrivateKey, SM2PublicKey
from suite.x509 import CRL, Certificate, Name, issue, issue_ca, issue_crl

#: The validity of the SM2 identity CA, in years: the P-256 CA's.
CA_YEARS = 10


def ca_name(display_name: str, org_id: str) -> Name:
    """The SM2 identity CA's subject: ``O=<display name>, OU=<org id>, CN=sm2-ca.<org id>`` (another CN than the
    P-256 CA's ``ca.<org id>``, so that the two CAs never share an issuer name)."""
    return Name(common_name=f"sm2-ca.{org_id}", organization=display_name, organizational_unit=org_id)


def build_ca(key: SM2PrivateKey, display_name: str, org_id: str, not_before: datetime, not_after: datetime) -> bytes:
    """The self-signed SM2 identity CA certificate (DER) of ``org_id``, pathLenConstraint 0."""
    return issue_ca(ca_name(display_name, org_id), key, not_before, not_after, path_length=0)


def attributes(cert: Certificate, kind: str) -> list[str]:
    """The values of the subject attributes ``kind`` (asn1crypto's name: ``organizational_unit_name``, ``title``,
    ``common_name``, ``organization_name``) of ``cert``, in order."""
    name = asn1_x509.Name.load(cert.subject_der)
    return [str(atv["value"].native) for rdn in name.chosen for atv in rdn if atv["type"].native == kind]


def check_ca(cert: Certificate, org_id: str) -> Certificate:
    """``cert`` if it is a self-signed SM2 CA certificate with exactly one ``OU``, ``org_id``; else
    :class:`CertificateError` saying which check failed."""
    if not cert.is_ca or "key_cert_sign" not in cert.key_usage:
        raise CertificateError(f"{cert.describe()} is not a CA certificate (CA:TRUE with keyCertSign)")
    if attributes(cert, "organizational_unit_name") != [org_id]:
        raise CertificateError(f"{cert.describe()} is not for org {org_id!r} (its subject lacks OU={org_id})")
    if cert.subject_der != cert.issuer_der:
        raise CertificateError(f"{cert.describe()} is not self-signed (issuer {cert.issuer!r})")
    cert.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)  # InvalidSignatureError is an SM2Error
    return cert


def check_crl(crl: CRL, ca: Certificate) -> CRL:
    """``crl`` if ``ca`` issued and signed it; else :class:`CertificateError` (a bad signature: ``SM2Error``)."""
    if crl.issuer_der != ca.subject_der:
        raise CertificateError(f"the CRL was issued by {crl.issuer!r}, not by {ca.subject!r}")
    ca.public_key.verify_der(crl.signature, crl.tbs, DEFAULT_ID)
    return crl


def issue_person(
    ca: Certificate,
    ca_key: SM2PrivateKey,
    public_key: SM2PublicKey,
    name: str,
    org_id: str,
    role: str | None,
    not_before: datetime,
    not_after: datetime,
) -> bytes:
    """A person's (or, without ``role``, another identity's) SM2 certificate (DER): ``O=<the CA's O>,
    OU=<org id>[, title=<role>], CN=<name>@<org id>``, CA:FALSE, digitalSignature, clientAuth."""
    organization = attributes(ca, "organization_name")
    subject = Name(
        common_name=f"{name}@{org_id}",
        organization=organization[0] if organization else None,
        organizational_unit=org_id,
        title=role,
    )
    return issue(subject, public_key, ca.der, ca_key, not_before, not_after, usage="client")


def build_crl(
    ca: Certificate,
    ca_key: SM2PrivateKey,
    revoked: Iterable[tuple[int, datetime]],
    this_update: datetime,
    next_update: datetime,
    number: int,
) -> bytes:
    """The CA's CRL (PEM) listing ``revoked`` (serial, time) with CRL number ``number``."""
    der = issue_crl(ca.der, ca_key, revoked, this_update, next_update, number)
    return CRL.from_der(der).to_pem()
