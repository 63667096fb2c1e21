"""SM2 X.509 certificates and CRLs of the national suite: issue, parse, verify a path.

The profile is a subset of RFC 5280 as GM/T 0015-2012 constrains it: v3 certificates and v2 CRLs signed with
SM2-with-SM3 (OID 1.2.156.10197.1.501, no parameters; NULL is accepted on reading), subject keys id-ecPublicKey on
the SM2 curve (1.2.156.10197.1.301), signatures the GM/T 0009-2012 DER `SEQUENCE { r, s }` over the DER of the
TBSCertificate or TBSCertList, always under GB/T 35276-2017's signer ID `1234567812345678`.

Issued certificates carry, besides the names, validity and key:
- a CA: basicConstraints CA:TRUE (critical, pathLenConstraint when asked), keyUsage keyCertSign | cRLSign (critical);
- an end entity: basicConstraints CA:FALSE (critical), keyUsage digitalSignature (critical; also nonRepudiation for
  "signing"), extendedKeyUsage clientAuth and/or serverAuth (none for "signing"), subjectAltName if names are given;
- every certificate: subjectKeyIdentifier = SM3 of the subjectPublicKey BIT STRING's value (the 65-byte point)
  truncated to 160 bits (RFC 5280 §4.2.1.2 method 1 with SM3 in place of SHA-1), and authorityKeyIdentifier with
  the issuer's key identifier;
- a serial number of 128 random bits, positive (RFC 5280 §4.1.2.2).

`verify_chain` follows RFC 5280 §6 for what the profile uses: names and key identifiers link the path, every
signature is checked, every certificate must be valid at an instant the caller gives (never the clock), issuers must
be CAs with keyCertSign and within their pathLenConstraint, the leaf's extendedKeyUsage must allow the usage, and
given CRLs must be signed by the issuer, current, and not list the certificate. Unrecognised critical extensions are
refused when a certificate or CRL is parsed. Policies and name constraints are not processed.

Malformed or non-profile input raises `CertificateError`; a failed check `PathValidationError` (or
`CertificateRevokedError`), naming the certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import itertools
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509

from suite.errors import CertificateError, CertificateRevokedError, PathValidationError, SM2Error
from suite.sm2 import DEFAULT_ID, SM2PrivateKey, SM2PublicKey, der_to_raw

__all__ = [
    "CRL",
    "OID_SM2_CURVE",
    "OID_SM2_WITH_SM3",
    "Certificate",
    "Name",
    "Usage",
    "certificates_from_pem",
    "issue",
    "issue_ca",
    "issue_crl",
    "key_identifier",
    "verify_chain",
]

OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"  # GM/T 0006-2012
OID_SM2_CURVE = "1.2.156.10197.1.301"
MAX_DER = 64 * 1024  # a certificate or CRL of the consortium is a few hundred bytes to a few KiB
MAX_PATH = 8

Usage = Literal["client", "server", "both", "signing", "ca"]
_EKU: dict[str, list[str]] = {
    "client": ["client_auth"],
    "server": ["server_auth"],
    "both": ["client_auth", "server_auth"],
    "signing": [],
}
_KNOWN_EXTENSIONS = frozenset(
    {"basic_constraints", "key_usage", "extended_key_usage", "subject_alt_name", "key_identifier",
     "authority_key_identifier"}
)  # fmt: skip
_KNOWN_CRL_EXTENSIONS = frozenset({"crl_number", "authority_key_identifier"})
_RFC4514_KEYS = {
    "common_name": "CN",
    "organization_name": "O",
    "organizational_unit_name": "OU",
    "country_name": "C",
    "locality_name": "L",
    "state_or_province_name": "ST",
    "street_address": "STREET",
    "domain_component": "DC",
    "user_id": "UID",
}
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----\r?\n?")


@dataclass(frozen=True, slots=True)
class Name:
    """A distinguished name of the consortium: CN, with optional O, OU and C (written C, O, OU, CN)."""

    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None

    def _build(self) -> Any:
        if not self.common_name:
            raise CertificateError("a name needs a non-empty common name (CN)")
        if self.country is not None and not re.fullmatch(r"[A-Z]{2}", self.country):
            raise CertificateError(f"the country {self.country!r} is not a two-letter ISO 3166 code")
        fields = {
            "country_name": self.country,
            "organization_name": self.organization,
            "organizational_unit_name": self.organizational_unit,
            "common_name": self.common_name,
        }
        return asn1_x509.Name.build({k: v for k, v in fields.items() if v is not None})


# -- parsing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certificate:
    """A parsed SM2 certificate of the profile. Names are RFC 4514 strings; times are aware UTC datetimes."""

    der: bytes = field(repr=False)
    tbs: bytes = field(repr=False)
    signature: bytes = field(repr=False)  # GM/T 0009 DER SEQUENCE { r, s }
    subject: str
    issuer: str
    subject_der: bytes = field(repr=False)
    issuer_der: bytes = field(repr=False)
    serial: int
    not_before: datetime
    not_after: datetime
    public_key: SM2PublicKey
    is_ca: bool
    path_length: int | None
    key_usage: frozenset[str]  # asn1crypto's names: "digital_signature", "key_cert_sign", "crl_sign", ...
    ext_key_usage: frozenset[str] | None  # "client_auth", "server_auth", ... or a dotted OID; None when absent
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    ski: bytes | None
    aki: bytes | None

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        """Parse one DER certificate; `CertificateError` if it is malformed, has trailing bytes or is not SM2."""
        cert = _load(asn1_x509.Certificate, der, "certificate")
        tbs = cert["tbs_certificate"]
        if tbs["version"].native != "v3":
            raise CertificateError(f"the certificate is {tbs['version'].native}; the profile has only v3")
        _check_algorithm(cert["signature_algorithm"], tbs["signature"], "certificate")
        spki = tbs["subject_public_key_info"]
        if spki["algorithm"]["algorithm"].dotted != "1.2.840.10045.2.1" or _curve(spki) != OID_SM2_CURVE:
            raise CertificateError(f"the certificate's key is not an SM2 key ({_describe_key(spki)})")
        try:
            public_key = SM2PublicKey.from_der(spki.dump())
        except SM2Error as e:
            raise CertificateError(f"the certificate's SM2 public key is unusable: {e}") from e
        serial = tbs["serial_number"].native
        if not 0 < serial < 1 << 159:
            raise CertificateError(f"the serial number {serial} is not positive or longer than 20 octets")
        ext = _extensions(tbs["extensions"], _KNOWN_EXTENSIONS, "certificate")
        basic = ext.get("basic_constraints")
        aki = ext.get("authority_key_identifier")
        san = ext.get("subject_alt_name") or []
        eku = ext.get("extended_key_usage")
        return cls(
            der=der,
            tbs=tbs.dump(),
            signature=_signature(cert["signature_value"].native),
            subject=_rfc4514(tbs["subject"]),
            issuer=_rfc4514(tbs["issuer"]),
            subject_der=tbs["subject"].dump(),
            issuer_der=tbs["issuer"].dump(),
            serial=serial,
            not_before=tbs["validity"]["not_before"].native,
            not_after=tbs["validity"]["not_after"].native,
            public_key=public_key,
            is_ca=bool(basic and basic["ca"]),
            path_length=basic["path_len_constraint"] if basic else None,
            key_usage=frozenset(ext.get("key_usage") or ()),
            ext_key_usage=None if eku is None else frozenset(eku),
            san_dns=tuple(n.native for n in san if n.name == "dns_name"),
            san_ip=tuple(n.native for n in san if n.name == "ip_address"),
            ski=ext.get("key_identifier"),
            aki=aki["key_identifier"] if aki else None,
        )

    @classmethod
    def from_pem(cls, data: bytes) -> Certificate:
        """Parse one 'CERTIFICATE' PEM block."""
        blocks = _pem_decode(data, "CERTIFICATE")
        if len(blocks) != 1:
            raise CertificateError(f"expected one CERTIFICATE PEM block, found {len(blocks)}")
        return cls.from_der(blocks[0])

    def to_der(self) -> bytes:
        return self.der

    def to_pem(self) -> bytes:
        return _pem_encode("CERTIFICATE", self.der)

    def describe(self) -> str:
        """How messages name the certificate: its subject and serial."""
        return f"certificate {self.subject!r} (serial {self.serial:x})"


@dataclass(frozen=True, slots=True)
class CRL:
    """A parsed v2 CRL of the profile: issuer, update times, CRL number and the revoked serials with their times."""

    der: bytes = field(repr=False)
    tbs: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    issuer: str
    issuer_der: bytes = field(repr=False)
    this_update: datetime
    next_update: datetime
    crl_number: int
    aki: bytes | None
    revoked: dict[int, datetime]

    @classmethod
    def from_der(cls, der: bytes) -> CRL:
        """Parse one DER CRL; `CertificateError` if malformed, not v2 with nextUpdate and a CRL number, or not SM2."""
        crl = _load(asn1_crl.CertificateList, der, "CRL")
        tbs = crl["tbs_cert_list"]
        if tbs["version"].native != "v2":
            raise CertificateError("the CRL is not v2; the profile has only v2 CRLs")
        _check_algorithm(crl["signature_algorithm"], tbs["signature"], "CRL")
        ext = _extensions(tbs["crl_extensions"], _KNOWN_CRL_EXTENSIONS, "CRL")
        if "crl_number" not in ext or tbs["next_update"].native is None:
            raise CertificateError("the CRL lacks a CRL number or a nextUpdate (RFC 5280 §5.1.2.5, §5.2.3)")
        revoked: dict[int, datetime] = {}
        for entry in tbs["revoked_certificates"]:
            for entry_ext in entry["crl_entry_extensions"]:
                if entry_ext["critical"].native:
                    raise CertificateError(f"a CRL entry has a critical extension {entry_ext['extn_id'].native}")
            serial = entry["user_certificate"].native
            if serial in revoked:
                raise CertificateError(f"the CRL lists serial {serial:x} twice")
            revoked[serial] = entry["revocation_date"].native
        aki = ext.get("authority_key_identifier")
        return cls(
            der=der,
            tbs=tbs.dump(),
            signature=_signature(crl["signature"].native),
            issuer=_rfc4514(tbs["issuer"]),
            issuer_der=tbs["issuer"].dump(),
            this_update=tbs["this_update"].native,
            next_update=tbs["next_update"].native,
            crl_number=ext["crl_number"],
            aki=aki["key_identifier"] if aki else None,
            revoked=revoked,
        )

    @classmethod
    def from_pem(cls, data: bytes) -> CRL:
        """Parse one 'X509 CRL' PEM block."""
        blocks = _pem_decode(data, "X509 CRL")
        if len(blocks) != 1:
            raise CertificateError(f"expected one X509 CRL PEM block, found {len(blocks)}")
        return cls.from_der(blocks[0])

    def to_der(self) -> bytes:
        return self.der

    def to_pem(self) -> bytes:
        return _pem_encode("X509 CRL", self.der)


def certificates_from_pem(data: bytes) -> list[Certificate]:
    """Every certificate of a PEM bundle (one or more 'CERTIFICATE' blocks and nothing else)."""
    return [Certificate.from_der(der) for der in _pem_decode(data, "CERTIFICATE")]


def _load(spec: Any, der: bytes, what: str) -> Any:
    """Load and fully parse `der`, which must be exactly one element in its distinguished encoding."""
    if len(der) > MAX_DER:
        raise CertificateError(f"the {what} is {len(der)} bytes; at most {MAX_DER} are accepted")
    try:
        value = spec.load(der, strict=True)
        value.native  # asn1crypto parses lazily: force every field now  # noqa: B018
        canonical = value.dump(force=True) == der
    except (ValueError, TypeError, KeyError, OverflowError) as e:
        raise CertificateError(f"the {what} is not valid DER: {e}") from e
    if not canonical:
        raise CertificateError(f"the {what} is BER, not DER (it does not re-encode to the same bytes)")
    return spec.load(der, strict=True)


def _check_algorithm(outer: Any, inner: Any, what: str) -> None:
    for alg in (outer, inner):
        if alg["algorithm"].dotted != OID_SM2_WITH_SM3 or alg["parameters"].native is not None:
            raise CertificateError(
                f"the {what} is signed with {alg['algorithm'].native}, not SM2-with-SM3 ({OID_SM2_WITH_SM3})"
            )


def _curve(spki: Any) -> str | None:
    params = spki["algorithm"]["parameters"]
    return params.chosen.dotted if params.name == "named" else None


def _describe_key(spki: Any) -> str:
    alg = spki["algorithm"]["algorithm"].native
    return f"{alg} on {spki['algorithm']['parameters'].native}" if alg == "ec" else str(alg)


def _signature(value: bytes) -> bytes:
    try:
        der_to_raw(value)
    except SM2Error as e:
        raise CertificateError(f"the signature is not a GM/T 0009 SM2 signature: {e}") from e
    return value


def _extensions(extensions: Any, known: frozenset[str], what: str) -> dict[str, Any]:
    """Native values of the extensions by name; refuses duplicates and unrecognised critical ones (RFC 5280 §4.2)."""
    found: dict[str, Any] = {}
    for ext in extensions:
        name = ext["extn_id"].native
        if name in found:
            raise CertificateError(f"the {what} has the extension {name} twice")
        if ext["critical"].native and name not in known:
            raise CertificateError(f"the {what} has an unrecognised critical extension {name}")
        value = ext["extn_value"].parsed
        found[name] = value if name == "subject_alt_name" else value.native
    return found


def _rfc4514(name: Any) -> str:
    """RFC 4514 string of a Name: RDNs last to first, known attribute types by short name, others as OID=#hex."""
    rdns = []
    for rdn in reversed(list(name.chosen)):
        parts = []
        for atv in rdn:
            key = _RFC4514_KEYS.get(atv["type"].native)
            if key is None or not isinstance(atv["value"].native, str):
                parts.append(f"{atv['type'].dotted}=#{atv['value'].dump().hex()}")
            else:
                parts.append(f"{key}={_escape(atv['value'].native)}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


def _escape(value: str) -> str:
    out = re.sub(r'([\\,+"<>;=])', r"\\\1", value).replace("\x00", "\\00")
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and len(out) > 1:
        out = out[:-1] + "\\ "
    return out


def _pem_decode(data: bytes, label: str) -> list[bytes]:
    """The DER of every PEM block in `data`; all must carry `label`, and nothing but whitespace may surround them."""
    blocks, pos = [], 0
    stripped = data.strip()
    while pos < len(stripped):
        match = _PEM.match(stripped, pos)
        if match is None:
            raise CertificateError(f"not a PEM block at byte {pos}: expected '-----BEGIN {label}-----'")
        if match.group(1).decode() != label:
            raise CertificateError(f"the PEM block is {match.group(1).decode()!r}, expected {label!r}")
        try:
            blocks.append(base64.b64decode(re.sub(rb"\s", b"", match.group(2)), validate=True))
        except binascii.Error as e:
            raise CertificateError(f"the PEM block's base64 is broken: {e}") from e
        pos = match.end()
        while pos < len(stripped) and stripped[pos : pos + 1].isspace():
            pos += 1
    if not blocks:
        raise CertificateError(f"no PEM block: expected '-----BEGIN {label}-----'")
    return blocks


def _pem_encode(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label.encode(), lines, label.encode())


# -- issuing ---------------------------------------------------------------------------------------------------


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


# -- path validation -------------------------------------------------------------------------------------------


def verify_chain(
    leaf: bytes,
    intermediates: Sequence[bytes],
    roots: Sequence[bytes],
    *,
    at: datetime,
    usage: Literal["client", "server"] | None,
    crls: Sequence[bytes] = (),
) -> list[Certificate]:
    """The path [leaf, intermediates..., root] from `leaf` to one of `roots`, every check passed at `at`.

    Raises `CertificateError` for malformed input and `PathValidationError` (`CertificateRevokedError` for a
    revocation) naming the certificate that failed. When `crls` are given, every certificate below the root must be
    covered by a current CRL of its issuer.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise CertificateError("`at` has no time zone; give an aware datetime")
    path = _build_path(Certificate.from_der(leaf), [Certificate.from_der(c) for c in intermediates],
                       [Certificate.from_der(c) for c in roots])  # fmt: skip
    for cert in path:
        _check_validity(cert, at)
    for depth, issuer in enumerate(path[1:], start=1):
        _check_issuer(issuer, path[depth - 1], intermediates_below=depth - 1)
    _check_usage(path[0], usage)
    if crls:
        parsed = [CRL.from_der(c) for c in crls]
        for cert, issuer in itertools.pairwise(path):
            _check_revocation(cert, issuer, parsed, at)
    return path


def _fail(cert: Certificate, message: str) -> PathValidationError:
    return PathValidationError(f"{cert.describe()} {message}", cert.subject, cert.serial)


def _build_path(leaf: Certificate, intermediates: list[Certificate], roots: list[Certificate]) -> list[Certificate]:
    """Issuer by issuer, matching names byte for byte and key identifiers, until a root; every link's signature."""
    path = [leaf]
    if leaf in roots:
        return path
    while len(path) <= MAX_PATH:
        cert = path[-1]
        candidates = [
            c
            for c in roots + intermediates
            if c.subject_der == cert.issuer_der and (cert.aki is None or c.ski is None or c.ski == cert.aki)
            and c not in path
        ]  # fmt: skip
        if not candidates:
            raise _fail(cert, f"has no issuer among the given certificates (issuer {cert.issuer!r})")
        for issuer in candidates:
            try:
                issuer.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)
            except SM2Error:
                continue
            path.append(issuer)
            if issuer in roots:
                return path
            break
        else:
            raise _fail(cert, f"has a signature that does not verify under the key of its issuer {cert.issuer!r}")
    raise _fail(leaf, f"has no path to a root within {MAX_PATH} certificates")


def _check_validity(cert: Certificate, at: datetime) -> None:
    if at < cert.not_before:
        raise _fail(cert, f"is not valid until {cert.not_before.isoformat()} (checked at {at.isoformat()})")
    if at > cert.not_after:
        raise _fail(cert, f"expired at {cert.not_after.isoformat()} (checked at {at.isoformat()})")


def _check_issuer(issuer: Certificate, issued: Certificate, *, intermediates_below: int) -> None:
    if not issuer.is_ca:
        raise _fail(issuer, f"is not a CA (basicConstraints CA:FALSE or absent) but issued {issued.describe()}")
    if "key_cert_sign" not in issuer.key_usage:
        raise _fail(issuer, f"lacks the keyCertSign key usage but issued {issued.describe()}")
    if issuer.path_length is not None and intermediates_below > issuer.path_length:
        raise _fail(
            issuer,
            f"allows {issuer.path_length} intermediate CAs below it (pathLenConstraint), the path has "
            f"{intermediates_below}",
        )


def _check_usage(leaf: Certificate, usage: Literal["client", "server"] | None) -> None:
    if usage is None:
        return
    wanted = {"client": "client_auth", "server": "server_auth"}[usage]
    if leaf.ext_key_usage is None or wanted not in leaf.ext_key_usage:
        found = "none" if leaf.ext_key_usage is None else ", ".join(sorted(leaf.ext_key_usage))
        raise _fail(leaf, f"is not for {usage} authentication (extendedKeyUsage {found}, needs {wanted})")
    if "digital_signature" not in leaf.key_usage:
        raise _fail(leaf, f"lacks the digitalSignature key usage needed for {usage} authentication")


def _check_revocation(cert: Certificate, issuer: Certificate, crls: list[CRL], at: datetime) -> None:
    mine = [c for c in crls if c.issuer_der == issuer.subject_der and (c.aki is None or c.aki == issuer.ski)]
    if not mine:
        raise _fail(cert, f"has no CRL of its issuer {issuer.subject!r} among the CRLs given")
    crl = max(mine, key=lambda c: c.crl_number)
    try:
        issuer.public_key.verify_der(crl.signature, crl.tbs, DEFAULT_ID)
    except SM2Error as e:
        raise _fail(cert, f"has a CRL (number {crl.crl_number}) not signed by its issuer {issuer.subject!r}") from e
    if "crl_sign" not in issuer.key_usage:
        raise _fail(cert, f"has a CRL from {issuer.subject!r}, which lacks the cRLSign key usage")
    if not crl.this_update <= at < crl.next_update:
        raise _fail(
            cert,
            f"has no current CRL: number {crl.crl_number} of {issuer.subject!r} covers "
            f"{crl.this_update.isoformat()} to {crl.next_update.isoformat()}, checked at {at.isoformat()}",
        )
    revoked_at = crl.revoked.get(cert.serial)
    if revoked_at is not None:
        raise CertificateRevokedError(
            f"{cert.describe()} was revoked at {revoked_at.isoformat()} (CRL number {crl.crl_number} of "
            f"{issuer.subject!r})",
            cert.subject,
            cert.serial,
            revoked_at,
        )
