"""Callers with SM2 identity certificates, forwarded by a TLCP terminator (``docs/national-suite.md``, "The gateway
behind a TLCP terminator").

OpenSSL's TLS (Python's ``ssl``) refuses SM2 certificates, so an SM2 client certificate never reaches a gateway over
its own mutual TLS. It arrives in the client-certificate header of auth mode instead, set by a server that speaks
TLCP (GB/T 38636; a Tongsuo-built nginx with ``enable_ntls on``, ``gateway/nginx.py``). There
:class:`~network.certificates.CallerAuthenticator` hands every certificate signed SM2-with-SM3 to :class:`Sm2Issuers`,
which checks it against the SM2 identity CA ``consortium.json`` lists for the member (``sm2_ca_cert_pem``, an ``sm``
consortium only) with :func:`suite.x509.verify_chain`, and reads the member's SM2 CRL
(``orgs/<org>/ca/sm2-crl.pem``) with :func:`read_sm2_crl`. The authenticator keeps the outcome in its cache and does
the per-request checks (validity at its clock, the CRL reread on a change, membership) as for a P-256 certificate,
with the same reason codes.

The checks here depend on the certificate and the CAs only, so their outcome is cached:

- ``unknown_issuer``: the consortium runs the ``intl`` suite (no member has an SM2 CA); the certificate names no
  member's SM2 CA as its issuer, or that member has none; its ``OU`` is not that member; or
  :func:`~suite.x509.verify_chain` refuses the path (its signature does not verify under the CA's key, the CA is not
  a CA with keyCertSign);
- ``malformed_certificate``: a certificate signed SM2-with-SM3 outside the profile of ``suite.x509``;
- ``not_an_identity``: a CA certificate, or one without clientAuth or without digitalSignature;
- ``certificate_expired`` or ``certificate_not_yet_valid``: never valid at the same time as its CA.

``verify_chain`` checks validity at an instant it is given and never reads a clock; it is given the first instant
at which both the certificate and its CA are valid, so that its verdict holds at any time and the validity at the
authenticator's clock is checked on every request, against the same two periods.

A caller's SM2 certificate is issued by :func:`issue_sm2_identity` (``consortium identity issue --sm2``) beside its
P-256 identity, and revoked by :func:`revoke_sm2_identity` (``consortium identity revoke``) on the SM2 CRL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chain.ids import OrgId
from network._pem import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, OrgPaths, write_file
from network._sm2ca import build_crl, check_crl, issue_person
from network.identity import (
    CRL_VALIDITY_DAYS,
    IDENTITY_VALIDITY_DAYS,
    CertificateError,
    IdentityError,
    _locked,
    load_sm2_ca_key,
    load_sm2_crl,
    user_paths,
)
from notary.durable import replace_file
from suite import x509 as sm2x509
from suite.errors import PathValidationError, SuiteError
from suite.sm2 import SM2PrivateKey

__all__ = [
    "Sm2Ca",
    "Sm2Issuers",
    "Sm2Paths",
    "Sm2Verdict",
    "issue_sm2_identity",
    "read_sm2_crl",
    "revoke_sm2_identity",
    "sm2_crl_path",
    "sm2_paths",
]


def sm2_crl_path(root: Path, org: str) -> Path:
    """Where the SM2 CRL of ``org`` lives: ``orgs/<org>/ca/sm2-crl.pem`` (its SM2 CA writes it,
    ``network.identity``)."""
    return OrgPaths.of(root, OrgId(org)).sm2_crl


@dataclass(frozen=True, slots=True)
class Sm2Ca:
    """The SM2 identity CA of one member, as ``consortium.json`` lists it."""

    org: str
    cert: sm2x509.Certificate


@dataclass(frozen=True, slots=True)
class Sm2Verdict:
    """A certificate that passed the checks that depend on it and its CA only."""

    ca: Sm2Ca
    subject: str
    serial: int
    not_before: datetime  # the later of the certificate's and its CA's
    not_after: datetime  # the earlier of the certificate's and its CA's
    cert_not_before: datetime
    cert_not_after: datetime


class Sm2Issuers:
    """The SM2 identity CAs of the members of an ``sm`` consortium, by org, and the checks of a certificate
    against them (see the module docstring). ``crypto`` is the consortium's suite: under ``intl`` every SM2
    certificate is refused, with a detail that says why."""

    def __init__(self, crypto: str, cas: Mapping[str, str | None]) -> None:
        """``cas``: each member's SM2 CA certificate, PEM (None: it has none)."""
        self.crypto = crypto
        self._cas: dict[str, Sm2Ca] = {}
        self._unusable: dict[str, str] = {}  # org → why its listed SM2 CA cannot be used
        for org, pem in cas.items():
            if pem is None:
                continue
            try:
                cert = sm2x509.Certificate.from_pem(pem.encode("ascii"))
            except (SuiteError, UnicodeEncodeError) as exc:
                self._unusable[org] = f"the SM2 CA certificate consortium.json lists for org {org} is unusable: {exc}"
                continue
            if not cert.is_ca:
                self._unusable[org] = f"the SM2 CA certificate consortium.json lists for org {org} is not a CA"
                continue
            self._cas[org] = Sm2Ca(org, cert)

    @property
    def orgs(self) -> tuple[str, ...]:
        """The members with a usable SM2 identity CA."""
        return tuple(self._cas)

    def ca(self, org: str) -> Sm2Ca | None:
        return self._cas.get(org)

    def verify(self, der: bytes, subject: str, units: Sequence[str]) -> Sm2Verdict | tuple[str, str]:
        """The checks of the SM2 certificate ``der`` (its RFC 4514 ``subject`` and ``OU`` values ``units`` as the
        authenticator parsed them) that depend on it and its CA only: an :class:`Sm2Verdict` or ``(reason,
        detail)``."""
        if self.crypto != "sm":
            return (
                "unknown_issuer",
                f"certificate {subject} is an SM2 certificate (SM2-with-SM3), but this consortium runs the "
                f"{self.crypto!r} suite: its member CAs are ECDSA P-256 and none issues SM2 certificates",
            )
        try:
            cert = sm2x509.Certificate.from_der(der)
        except SuiteError as exc:
            return ("malformed_certificate", f"the SM2 client certificate is outside the profile: {exc}")
        named = [ca for ca in self._cas.values() if ca.cert.subject_der == cert.issuer_der]
        if not named:
            unusable = [self._unusable[u] for u in units if u in self._unusable]
            if unusable:
                return ("unknown_issuer", unusable[0])
            return (
                "unknown_issuer",
                f"SM2 certificate {subject} was issued by {cert.issuer}, which is not the SM2 identity CA of any "
                "member (consortium.json's sm2_ca_cert_pem)",
            )
        named.sort(key=lambda ca: [ca.org] != list(units))  # the CA of the org it names first
        ca = named[0]
        if list(units) != [ca.org]:
            claimed = ", ".join(units) or "no OU"
            return (
                "unknown_issuer",
                f"SM2 certificate {subject} claims org {claimed} but names the SM2 CA of org {ca.org} as its issuer",
            )
        if cert.is_ca or "key_cert_sign" in cert.key_usage:
            return ("not_an_identity", f"SM2 certificate {subject} is a CA certificate, not an identity")
        if cert.ext_key_usage is None or "client_auth" not in cert.ext_key_usage:
            return ("not_an_identity", f"SM2 certificate {subject} is not for client authentication (no clientAuth)")
        if "digital_signature" not in cert.key_usage:
            return ("not_an_identity", f"SM2 certificate {subject} lacks the digitalSignature key usage")
        not_before = max(cert.not_before, ca.cert.not_before)
        not_after = min(cert.not_after, ca.cert.not_after)
        if not_before > not_after:  # never valid together: at any time one of them is expired or not yet valid
            reason = "certificate_expired" if ca.cert.not_after < cert.not_before else "certificate_not_yet_valid"
            return (
                reason,
                f"SM2 certificate {subject} is valid from {cert.not_before.isoformat()} to {cert.not_after.isoformat()}"
                f", the SM2 CA of org {ca.org} from {ca.cert.not_before.isoformat()} to "
                f"{ca.cert.not_after.isoformat()}: never both",
            )
        # verify_chain checks the validity at the instant it is given, the first at which both are valid, so that its
        # verdict holds whenever it is asked; the validity at the authenticator's clock is checked at each request
        try:
            sm2x509.verify_chain(der, [], [ca.cert.der], at=not_before, usage="client")
        except PathValidationError as exc:
            return ("unknown_issuer", f"the SM2 path of {subject} to the SM2 CA of org {ca.org} fails: {exc}")
        except SuiteError as exc:
            return ("malformed_certificate", f"the SM2 client certificate is outside the profile: {exc}")
        return Sm2Verdict(ca, subject, cert.serial, not_before, not_after, cert.not_before, cert.not_after)


def read_sm2_crl(data: bytes, ca: Sm2Ca, path: Path) -> frozenset[int]:
    """The serials the SM2 CRL ``data`` (PEM, from ``path``) revokes, once it is checked to be issued and signed by the
    member's SM2 CA as ``consortium.json`` lists it (not whatever CA file lies beside it); ``CertificateError`` (a
    ``ValueError``) otherwise, a bad signature ``SM2Error`` (one too)."""
    what = f"SM2 CRL of org {ca.org!r} ({path})"
    try:
        return frozenset(check_crl(sm2x509.CRL.from_pem(data), ca.cert).revoked)
    except SuiteError as exc:
        raise CertificateError(f"{what}: {exc}") from None


# ---------------------------------------------------------------------------------------------- issuing, revoking


@dataclass(frozen=True, slots=True)
class Sm2Paths:
    """Where the SM2 identity of ``<name>@<org>`` lives, beside its P-256 one in ``users/<name>@<org>/msp/``."""

    cert: Path  # signcerts/sm2-cert.pem
    key: Path  # keystore/sm2-key.pem, PKCS#8 encrypted with PBES2, PBKDF2-HMAC-SM3 and SM4-CBC, 0600
    ca_cert: Path  # cacerts/sm2-ca.pem, a copy of the SM2 identity CA


def sm2_paths(root: Path, org_id: OrgId, name: str) -> Sm2Paths:
    """The SM2 files of identity ``name`` of ``org_id`` (``name`` is checked)."""
    user = user_paths(root, org_id, name)
    return Sm2Paths(
        user.cert.with_name("sm2-cert.pem"), user.key.with_name("sm2-key.pem"), user.ca_cert.with_name("sm2-ca.pem")
    )


def issue_sm2_identity(
    root: Path,
    org_id: OrgId,
    name: str,
    passphrase: bytes,
    *,
    now: datetime | None = None,
    days: int = IDENTITY_VALIDITY_DAYS,
) -> Sm2Paths:
    """Issue the SM2 identity certificate ``CN=<name>@<org id>`` (``O``, ``OU=<org id>``, CA:FALSE, digitalSignature,
    clientAuth, SM2-with-SM3) with the org's SM2 identity CA, and write it beside the P-256 identity of that name
    (:func:`sm2_paths`): what a caller presents to a TLCP terminator in front of a gateway. Valid from ``now`` for
    ``days`` days, never beyond the CA; the new SM2 key is encrypted with ``passphrase`` (PBKDF2-HMAC-SM3 and
    SM4-CBC at the operator's count), which must also open the SM2 CA's key.

    Refuses (:class:`IdentityError`) an org without an SM2 identity CA (an ``intl`` consortium's), an expired CA and
    an identity that holds an SM2 certificate already; a wrong passphrase raises :class:`PassphraseError`. The three
    files are written into a temporary directory and moved in: a failure leaves none of them."""
    paths = sm2_paths(root, org_id, name)
    if any(os.path.lexists(p) for p in (paths.cert, paths.key)):
        raise IdentityError(
            f"identity {name}@{org_id} holds an SM2 certificate already ({paths.cert}); nothing written"
        )
    if not isinstance(days, int) or not 1 <= days <= 36500:
        raise IdentityError(f"days must be 1 to 36500, not {days!r}")
    ca_key = load_sm2_ca_key(root, org_id, passphrase)  # IdentityError without an SM2 CA, PassphraseError
    ca = sm2x509.Certificate.from_pem(OrgPaths.of(root, org_id).sm2_ca_cert.read_bytes())
    start = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    end = min(start + timedelta(days=days), ca.not_after)
    if end <= start or start < ca.not_before:
        raise IdentityError(
            f"the SM2 CA of org {org_id!r} is valid from {ca.not_before.isoformat()} to {ca.not_after.isoformat()}"
        )
    key = SM2PrivateKey.generate()
    der = issue_person(ca, ca_key, key.public_key(), name, org_id, None, start, end)
    files = [  # the certificate last: once it is there, the identity is whole
        (paths.key, key.to_pem(passphrase), PRIVATE_FILE_MODE),
        (paths.ca_cert, ca.to_pem(), PUBLIC_FILE_MODE),
        (paths.cert, sm2x509.Certificate.from_der(der).to_pem(), PUBLIC_FILE_MODE),
    ]
    written: list[Path] = []
    try:
        if not paths.key.parent.is_dir():
            paths.key.parent.mkdir(parents=True)
            os.chmod(paths.key.parent, PRIVATE_DIR_MODE)
        for path, data, mode in files:
            if path == paths.ca_cert:
                replace_file(path, data, mode)  # the same CA's copy, if an earlier attempt left one
            else:
                write_file(path, data, mode)  # never over another key or certificate
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise IdentityError(f"cannot write the SM2 identity {name}@{org_id}: {exc.strerror or exc}") from None
    return paths


def revoke_sm2_identity(
    root: Path, org_id: OrgId, cert_pem: bytes, passphrase: bytes, *, now: datetime | None = None
) -> Path:
    """Add the serial of the SM2 certificate ``cert_pem`` to the org's SM2 CRL (``ca/sm2-crl.pem``) and return its
    path: the list a gateway rereads within a second of the change. The certificate must be an end entity its SM2
    identity CA issued and signed (:class:`CertificateError` otherwise). The new CRL keeps every earlier entry, has
    the next CRL number, thisUpdate ``now`` and nextUpdate ``CRL_VALIDITY_DAYS`` later, and is signed by the SM2 CA;
    an existing CRL that does not verify is refused, not overwritten. A serial already listed changes nothing."""
    paths = OrgPaths.of(root, org_id)
    try:
        cert = sm2x509.Certificate.from_pem(cert_pem)
    except SuiteError as exc:
        raise CertificateError(f"the certificate to revoke is not an SM2 certificate of the profile: {exc}") from None
    ca_key = load_sm2_ca_key(root, org_id, passphrase)
    ca = sm2x509.Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
    try:
        sm2x509.verify_chain(cert.der, [], [ca.der], at=max(cert.not_before, ca.not_before), usage=None)
    except SuiteError as exc:
        raise CertificateError(f"{cert.describe()} is not one the SM2 CA of org {org_id!r} issued: {exc}") from None
    if cert.is_ca:
        raise CertificateError(f"{cert.describe()} is a CA certificate, not an identity")
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    try:
        with _locked(paths.sm2_crl.parent / ".sm2-crl.lock"):
            current = load_sm2_crl(root, org_id)
            entries = {} if current is None else dict(current.revoked)
            if cert.serial in entries:
                return paths.sm2_crl
            entries[cert.serial] = when
            number = 1 if current is None else current.crl_number + 1
            pem = build_crl(ca, ca_key, entries.items(), when, when + timedelta(days=CRL_VALIDITY_DAYS), number)
            replace_file(paths.sm2_crl, pem, PUBLIC_FILE_MODE)
    except OSError as exc:
        raise IdentityError(
            f"cannot write the SM2 CRL of org {org_id!r} at {paths.sm2_crl}: {exc.strerror or exc}"
        ) from None
    return paths.sm2_crl
