"""SM2 X.509 names, certificates and CRLs as parsed, and their PEM form (see ``suite.x509``)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509

from suite.errors import CertificateError, SM2Error
from suite.sm2 import SM2PublicKey, der_to_raw

OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"  # GM/T 0006-2012
OID_SM2_CURVE = "1.2.156.10197.1.301"
MAX_DER = 64 * 1024  # a certificate or CRL of the consortium is a few hundred bytes to a few KiB
MAX_PATH = 8

Usage = Literal["client", "server", "both", "signing", "ca"]
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
    """A distinguished name of the consortium: CN, with optional O, OU, title and C (written C, O, OU, title, CN).

    ``title`` (X.520, OID 2.5.4.12) is where a person's certificate carries the person's role."""

    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    title: str | None = None

    def _build(self) -> Any:
        if not self.common_name:
            raise CertificateError("a name needs a non-empty common name (CN)")
        if self.country is not None and not re.fullmatch(r"[A-Z]{2}", self.country):
            raise CertificateError(f"the country {self.country!r} is not a two-letter ISO 3166 code")
        fields = {
            "country_name": self.country,
            "organization_name": self.organization,
            "organizational_unit_name": self.organizational_unit,
            "title": self.title,
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
