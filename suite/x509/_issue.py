"""Issuing SM2 certificates and CRLs of the profile (see ``suite.x509``)."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509

from suite.errors import CertificateError
from suite.sm2 import DEFAULT_ID, SM2PrivateKey, SM2PublicKey
from suite.x509._certs import OID_SM2_WITH_SM3, Certificate, Name, Usage

_EKU: dict[str, list[str]] = {
    "client": ["client_auth"],
    "server": ["server_auth"],
    "both": ["client_auth", "server_auth"],
    "signing": [],
}


def key_identifier(public_key: SM2PublicKey) -> bytes:
    """The profile's key identifier: SM3 of the 65-byte point (the subjectPublicKey BIT STRING's value), 20 bytes."""
    return hashlib.new("sm3", public_key.public_bytes()).digest()[:20]


def issue_ca(
    subject: Name,
    key: SM2PrivateKey,
    not_before: datetime,
    not_after: datetime,
    *,
    serial: int | None = None,
    path_length: int | None = None,
) -> bytes:
    """A self-signed root CA certificate (DER) for `key`, signed by `key` itself."""
    ski = key_identifier(key.public_key())
    name = subject._build()
    return _sign_certificate(
        name, name, key.public_key(), key, ski, not_before, not_after, serial, _ca_extensions(ski, ski, path_length)
    )


def issue(
    subject: Name,
    public_key: SM2PublicKey,
    issuer_cert: bytes,
    issuer_key: SM2PrivateKey,
    not_before: datetime,
    not_after: datetime,
    *,
    usage: Usage,
    san_dns: Sequence[str] = (),
    san_ip: Sequence[str] = (),
    serial: int | None = None,
    path_length: int | None = None,
) -> bytes:
    """A certificate (DER) for `public_key`, signed by the CA of `issuer_cert` with `issuer_key`.

    `usage` "client", "server", "both" or "signing" makes an end-entity certificate; "ca" an intermediate CA
    (with `path_length`, if given, as its pathLenConstraint). SANs are DNS names and IP addresses.
    """
    issuer = _issuer(issuer_cert, issuer_key)
    ski = key_identifier(public_key)
    aki = issuer.ski or key_identifier(issuer.public_key)
    if usage == "ca":
        if san_dns or san_ip:
            raise CertificateError("a CA certificate of the profile carries no subjectAltName")
        extensions = _ca_extensions(ski, aki, path_length)
    elif usage in _EKU:
        if path_length is not None:
            raise CertificateError("path_length applies to a CA certificate only")
        extensions = _leaf_extensions(ski, aki, usage, san_dns, san_ip)
    else:
        raise CertificateError(f"unknown usage {usage!r}: choose client, server, both, signing or ca")
    name = asn1_x509.Name.load(issuer.subject_der)
    return _sign_certificate(
        subject._build(), name, public_key, issuer_key, ski, not_before, not_after, serial, extensions
    )


def issue_crl(
    issuer_cert: bytes,
    issuer_key: SM2PrivateKey,
    revoked: Iterable[tuple[int, datetime]],
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
) -> bytes:
    """A v2 CRL (DER) of the CA of `issuer_cert`, listing `revoked` (serial, revocation time) pairs."""
    issuer = _issuer(issuer_cert, issuer_key)
    if "crl_sign" not in issuer.key_usage:
        raise CertificateError(f"{issuer.describe()} lacks the cRLSign key usage")
    _check_period(this_update, next_update)
    if not 0 <= crl_number < 1 << 159:
        raise CertificateError(f"the CRL number {crl_number} is negative or longer than 20 octets")
    entries = [
        {"user_certificate": serial, "revocation_date": _time(when)}
        for serial, when in sorted(revoked, key=lambda pair: pair[0])
    ]
    tbs: dict[str, Any] = {
        "version": "v2",
        "signature": {"algorithm": OID_SM2_WITH_SM3},
        "issuer": asn1_x509.Name.load(issuer.subject_der),
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            _extension("authority_key_identifier", {"key_identifier": issuer.ski or key_identifier(issuer.public_key)}),
            _extension("crl_number", crl_number),
        ],
    }
    if entries:  # RFC 5280 §5.1.2.6: absent, not empty, when nothing is revoked
        tbs["revoked_certificates"] = entries
    tbs_list = asn1_crl.TbsCertList(tbs)
    signature = issuer_key.sign_der(tbs_list.dump(), DEFAULT_ID)
    return bytes(
        asn1_crl.CertificateList(
            {"tbs_cert_list": tbs_list, "signature_algorithm": {"algorithm": OID_SM2_WITH_SM3}, "signature": signature}
        ).dump()
    )


def _issuer(issuer_cert: bytes, issuer_key: SM2PrivateKey) -> Certificate:
    issuer = Certificate.from_der(issuer_cert)
    if issuer.public_key != issuer_key.public_key():
        raise CertificateError(f"the issuer key is not the key of {issuer.describe()}")
    if not issuer.is_ca:
        raise CertificateError(f"{issuer.describe()} is not a CA")
    return issuer


def _sign_certificate(
    subject: Any,
    issuer: Any,
    public_key: SM2PublicKey,
    signer: SM2PrivateKey,
    ski: bytes,
    not_before: datetime,
    not_after: datetime,
    serial: int | None,
    extensions: list[dict[str, Any]],
) -> bytes:
    _check_period(not_before, not_after)
    if serial is None:
        serial = secrets.randbelow((1 << 128) - 1) + 1
    elif not 0 < serial < 1 << 159:
        raise CertificateError(f"the serial number {serial} is not positive or longer than 20 octets")
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": {"algorithm": OID_SM2_WITH_SM3},
            "issuer": issuer,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject,
            "subject_public_key_info": keys.PublicKeyInfo.load(public_key.to_der()),
            "extensions": extensions,
        }
    )
    signature = signer.sign_der(tbs.dump(), DEFAULT_ID)
    cert = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": {"algorithm": OID_SM2_WITH_SM3}, "signature_value": signature}
    )
    return bytes(cert.dump())


def _ca_extensions(ski: bytes, aki: bytes, path_length: int | None) -> list[dict[str, Any]]:
    basic: dict[str, Any] = {"ca": True}
    if path_length is not None:
        if path_length < 0:
            raise CertificateError(f"path_length {path_length} is negative")
        basic["path_len_constraint"] = path_length
    return [
        _extension("basic_constraints", basic, critical=True),
        _extension("key_usage", {"key_cert_sign", "crl_sign"}, critical=True),
        _extension("key_identifier", ski),
        _extension("authority_key_identifier", {"key_identifier": aki}),
    ]


def _leaf_extensions(
    ski: bytes, aki: bytes, usage: str, san_dns: Sequence[str], san_ip: Sequence[str]
) -> list[dict[str, Any]]:
    key_usage = {"digital_signature", "non_repudiation"} if usage == "signing" else {"digital_signature"}
    extensions = [
        _extension("basic_constraints", {"ca": False}, critical=True),
        _extension("key_usage", key_usage, critical=True),
    ]
    if _EKU[usage]:
        extensions.append(_extension("extended_key_usage", _EKU[usage]))
    names = [asn1_x509.GeneralName(name="dns_name", value=dns) for dns in san_dns]
    for ip in san_ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError as e:
            raise CertificateError(f"the SAN IP address {ip!r} is not an IP address") from e
        names.append(asn1_x509.GeneralName(name="ip_address", value=ip))
    if names:
        extensions.append(_extension("subject_alt_name", names))
    extensions += [_extension("key_identifier", ski), _extension("authority_key_identifier", {"key_identifier": aki})]
    return extensions


def _extension(name: str, value: Any, *, critical: bool = False) -> dict[str, Any]:
    return {"extn_id": name, "critical": critical, "extn_value": value}


def _check_period(start: datetime, end: datetime) -> None:
    for when in (start, end):
        if when.tzinfo is None or when.utcoffset() is None:
            raise CertificateError(f"the time {when.isoformat()} has no time zone; give an aware datetime")
    if not start < end:
        raise CertificateError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")


def _time(when: datetime) -> Any:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), to the second."""
    when = when.replace(microsecond=0)
    return asn1_x509.Time(name="utc_time" if when.year < 2050 else "general_time", value=when)
