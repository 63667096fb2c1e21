"""Callers with SM2 identity certificates, forwarded by a TLCP terminator (``docs/national-suite.md``, "The gateway
behind a TLCP terminator").

OpenSSL's TLS (Python's ``ssl``) refuses SM2 certificates, so an SM2 client certificate never reaches a gateway over
its own mutual TLS. It arrives in the client-certificate header of auth mode instead, set by a server that speaks
TLCP (GB/T 38636; a Tongsuo-built nginx with ``enable_ntls on``, ``gateway/nginx.py``). There
:class:`~network.certificates.CallerAuthenticator` hands every certificate signed SM2-with-SM3 to :class:`Sm2Issuers`,
which checks it with :func:`suite.x509.verify_chain` against the member's SM2 identity CAs as
:class:`Sm2IdentityCas` knows them: the one ``consortium.json`` lists (``sm2_ca_cert_pem``, an ``sm`` consortium's
founders) and, given the trust view the authenticator follows, those the TrustDirectory records (a firm that joined
later). :class:`Sm2IdentityCas` is the one answer the people checks (``network.logins``) ask too: which SM2 CAs an org
has, which are trusted now, and its SM2 CRL (``orgs/<org>/ca/sm2-crl.pem``, read with :func:`read_sm2_crl`) checked
against any of them. The authenticator keeps the outcome in its cache and does the per-request checks (the CA trusted
now, validity at its clock, the CRL reread on a change, membership) as for a P-256 certificate, with the same reason
codes.

The checks here depend on the certificate and the CAs only, so their outcome is cached:

- ``unknown_issuer``: the consortium runs the ``intl`` suite (no member has an SM2 CA); the certificate names no
  member's SM2 CA (listed or recorded, trusted now or not: that is asked per request) as its issuer, or that member
  has none; its ``OU`` is not that member; or
  :func:`~suite.x509.verify_chain` refuses the path (its signature does not verify under the CA's key, the CA is not
  a CA with keyCertSign);
- ``malformed_certificate``: a certificate signed SM2-with-SM3 outside the profile of ``suite.x509``;
- ``not_an_identity``: a CA certificate, or one without clientAuth or without digitalSignature;
- ``certificate_expired`` or ``certificate_not_yet_valid``: never valid at the same time as its CA.

``verify_chain`` checks validity at an instant it is given and never reads a clock; it is given the first instant
at which both the certificate and its CA are valid, so that its verdict holds at any time and the validity at the
authenticator's clock is checked on every request, against the same two periods.

A caller's SM2 certificate is issued by :func:`issue_sm2_identity` (``consortium identity issue --sm2``) beside its
P-256 identity, and revoked on the SM2 CRL as an SM2 person's is (``network.identity.revoke_identity``, ``consortium
identity revoke``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from chain.ids import OrgId
from network._pem import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, OrgPaths, write_file
from network._sm2ca import check_crl
from network.identity import (
    IDENTITY_VALIDITY_DAYS,
    CertificateError,
    IdentityError,
    _check_days,
    _sm2_ca_published,
    _sm2_person_files,
    _utc,
    user_paths,
)
from notary.durable import replace_file
from suite import x509 as sm2x509
from suite.errors import PathValidationError, SuiteError

if TYPE_CHECKING:
    from chain.contracts.trust import KeyRecord
    from chain.trustview import TrustView
    from network.certificates import CrlFile

__all__ = [
    "MAX_SM2_CRLS",
    "Sm2Ca",
    "Sm2IdentityCas",
    "Sm2Issuers",
    "Sm2Paths",
    "Sm2Verdict",
    "issue_sm2_identity",
    "read_sm2_crl",
    "sm2_crl_path",
    "sm2_paths",
]


def sm2_crl_path(root: Path, org: str) -> Path:
    """Where the SM2 CRL of ``org`` lives: ``orgs/<org>/ca/sm2-crl.pem`` (its SM2 CA writes it,
    ``network.identity``)."""
    return OrgPaths.of(root, OrgId(org)).sm2_crl


@dataclass(frozen=True, slots=True)
class Sm2Ca:
    """An SM2 identity CA of one member, as ``consortium.json`` lists it or the TrustDirectory records it."""

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


class Sm2IdentityCas:
    """The one answer of every verifier of SM2 identities (a gateway's callers, :class:`Sm2Issuers`; the explorer's
    and the notary's people, ``network.logins``) to "which SM2 identity CAs does org X have, trusted now" and "its
    SM2 CRL, checked against any of them".

    An org's SM2 CAs are the one ``consortium.json`` lists for it (``sm2_ca_cert_pem``, a founder's) and, given
    ``trust`` (a view of the TrustDirectory), every SM2 CA it has recorded as a ``CA_CERT``
    (:func:`network.trust.sm2_identity_cas`: a firm that joined later publishes its own with ``member keys
    publish``), read from the view's snapshot when it changes. A CA is trusted now (:meth:`trusted_now`) while a
    record of it is valid at the view's head, or, listed in ``consortium.json``, while the chain holds no record of
    it: once the member recorded it, its records decide (retired on chain, it is retired, listed or not). The org's
    SM2 CRL (``orgs/<org>/ca/sm2-crl.pem`` under ``directory``; None: no CRLs) counts when any of its SM2 CAs
    trusted now signed it (:meth:`crl`). Thread-safe."""

    def __init__(
        self,
        listed: Mapping[str, str | None],
        *,
        trust: TrustView | None = None,
        directory: Path | None = None,
        crl_check_interval: float = 1.0,
        crl_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``listed``: each member's SM2 CA certificate as ``consortium.json`` lists it, PEM (None: it has none)."""
        self.trust = trust  # set once by the authenticator that follows a view later (``CallerAuthenticator.follow``)
        self._listed: dict[str, sm2x509.Certificate] = {}
        self._unusable: dict[str, str] = {}  # org → why its listed SM2 CA cannot be used
        for org, pem in listed.items():
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
            self._listed[org] = cert
        self._directory = directory
        self._interval = crl_check_interval
        self._crl_clock = crl_clock
        self._seen: tuple[object, dict[str, list[tuple[sm2x509.Certificate, KeyRecord]]]] = (None, {})
        self._crls: dict[tuple[str | bytes, ...], CrlFile] = {}
        self._lock = threading.Lock()

    def _recorded(self) -> dict[str, list[tuple[sm2x509.Certificate, KeyRecord]]]:
        """org → its SM2 CAs on chain with their records, as the view's snapshot now says (read once a snapshot)."""
        trust = self.trust
        snapshot = None if trust is None else trust.snapshot
        seen, recorded = self._seen
        if snapshot is seen:
            return recorded
        from network.trust import sm2_identity_cas

        recorded = {} if snapshot is None else sm2_identity_cas(snapshot)
        self._seen = (snapshot, recorded)
        return recorded

    def unusable(self, org: str) -> str | None:
        """Why the SM2 CA ``consortium.json`` lists for ``org`` cannot be used, or None."""
        return self._unusable.get(org)

    def orgs(self) -> list[str]:
        """The orgs with an SM2 CA, listed or recorded."""
        return list(dict.fromkeys([*self._listed, *self._recorded()]))

    def candidates(self, org: str) -> list[sm2x509.Certificate]:
        """The SM2 CAs of ``org``, trusted now or not: the one ``consortium.json`` lists, then those on chain (any
        record, ever), each once."""
        listed = self._listed.get(org)
        found = {c.der: c for c in ([] if listed is None else [listed])}
        for cert, _ in self._recorded().get(org, ()):
            found.setdefault(cert.der, cert)
        return list(found.values())

    def trusted_now(self, ca: sm2x509.Certificate, org: str) -> str | None:
        """None when ``ca`` is still an SM2 CA of ``org``: recorded on chain by a record valid at the trust view's
        head, or listed in ``consortium.json`` and never recorded on chain; else why not."""
        trust = self.trust
        records = [r for c, r in self._recorded().get(org, ()) if c.der == ca.der]
        listed = self._listed.get(org)
        if listed is not None and listed.der == ca.der and not records:
            return None
        if trust is not None and any(r.valid_at(trust.head) for r in records):
            return None
        head = "" if trust is None else f" at block {trust.head}"
        return f"the SM2 CA {ca.subject!r} of org {org} is not valid on chain{head}"

    def crl(self, org: str, ca: sm2x509.Certificate) -> CrlFile | None:
        """The org's SM2 CRL file (None without a directory), reread as a gateway rereads its CRLs
        (:class:`network.certificates.CrlFile`), checked against ``ca`` (the certificate's), else another SM2 CA of
        the org trusted now (one rotated: the list signed by the new CA counts for the old CA's people in the
        overlap, as the P-256 list does); a CA no longer trusted (retired on chain) signs no list that counts."""
        if self._directory is None:
            return None
        others = [c for c in self.candidates(org) if c.der != ca.der and self.trusted_now(c, org) is None]
        cas = [ca, *others]
        key: tuple[str | bytes, ...] = (org, *(c.der for c in cas))
        with self._lock:
            crl = self._crls.get(key)
            if crl is None:
                if len(self._crls) >= MAX_SM2_CRLS:  # the CA sets seen; a rotation adds one or two per org
                    self._crls.clear()
                path = sm2_crl_path(self._directory, org)
                issuers = [Sm2Ca(org, c) for c in cas]

                def read(data: bytes) -> frozenset[int]:
                    refusals = []
                    for issuer in issuers:
                        try:
                            return read_sm2_crl(data, issuer, path)
                        except (CertificateError, ValueError) as exc:  # not of this CA
                            refusals.append(str(exc))
                    raise CertificateError(f"the SM2 CRL {path} is not one of the org's SM2 CAs: {'; '.join(refusals)}")

                from network.certificates import CrlFile

                crl = self._crls[key] = CrlFile(org, path, read, self._interval, self._crl_clock)
            return crl


#: The most (org, SM2 CAs) lists :class:`Sm2IdentityCas` keeps CRL files for before starting afresh.
MAX_SM2_CRLS: Final = 1024


class Sm2Issuers:
    """The checks of a caller's SM2 certificate against the SM2 identity CAs of the members of an ``sm``
    consortium (:class:`Sm2IdentityCas`; see the module docstring). ``crypto`` is the consortium's suite: under
    ``intl`` every SM2 certificate is refused, with a detail that says why."""

    def __init__(self, crypto: str, cas: Sm2IdentityCas) -> None:
        self.crypto = crypto
        self.cas = cas

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
        orgs = self.cas.orgs()
        named = [Sm2Ca(org, c) for org in orgs for c in self.cas.candidates(org) if c.subject_der == cert.issuer_der]
        if not named:
            unusable = [u for u in map(self.cas.unusable, units) if u is not None]
            if unusable:
                return ("unknown_issuer", unusable[0])
            where = "consortium.json (sm2_ca_cert_pem)" if self.cas.trust is None else "consortium.json nor on chain"
            if len(units) == 1 and units[0] not in orgs:
                return (
                    "unknown_issuer",
                    f"SM2 certificate {subject} claims org {units[0]!r}, which has no SM2 identity CA in {where}",
                )
            return (
                "unknown_issuer",
                f"SM2 certificate {subject} was issued by {cert.issuer}, which is not the SM2 identity CA of any "
                f"member in {where}",
            )
        named.sort(key=lambda ca: [ca.org] != list(units))  # the CA of the org it names first
        ca = named[0]
        if list(units) == [ca.org]:  # of the org's CAs with that name (one rotated in place), the one that signed it
            ca = next((c for c in named if c.org == ca.org and _issued_by(cert, c.cert)), ca)
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


def _issued_by(cert: sm2x509.Certificate, ca: sm2x509.Certificate) -> bool:
    """Whether ``ca``'s key verifies the signature of ``cert``."""
    from suite.errors import SM2Error
    from suite.sm2 import DEFAULT_ID

    try:
        ca.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)
    except SM2Error:
        return False
    return True


def read_sm2_crl(data: bytes, ca: Sm2Ca, path: Path) -> frozenset[int]:
    """The serials the SM2 CRL ``data`` (PEM, from ``path``) revokes, once it is checked to be issued and signed by the
    member's SM2 CA as ``consortium.json`` lists it (not whatever CA file lies beside it); ``CertificateError`` (a
    ``ValueError``) otherwise, a bad signature ``SM2Error`` (one too)."""
    what = f"SM2 CRL of org {ca.org!r} ({path})"
    try:
        return frozenset(check_crl(sm2x509.CRL.from_pem(data), ca.cert).revoked)
    except SuiteError as exc:
        raise CertificateError(f"{what}: {exc}") from None


# ---------------------------------------------------------------------------------------------- issuing


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
    SM4-CBC at the operator's count), which must also open the SM2 CA's key. The certificate is issued as an SM2
    person's is (``network.identity``), without a role.

    Refuses (:class:`IdentityError`) an org without an SM2 identity CA that ``root/consortium.json`` lists as its
    ``sm2_ca_cert_pem`` (an ``intl`` consortium's, a member's from before the SM2 CAs), an expired CA and an
    identity that holds an SM2 certificate already; a wrong passphrase raises :class:`PassphraseError`. The
    certificate is written last: a failure leaves none of the three files."""
    paths = OrgPaths.of(root, org_id)
    sm2 = sm2_paths(root, org_id, name)
    if any(os.path.lexists(p) for p in (sm2.cert, sm2.key)):
        raise IdentityError(f"identity {name}@{org_id} holds an SM2 certificate already, {sm2.cert}: none written")
    if not _sm2_ca_published(root, paths):
        raise IdentityError(
            f"org {org_id!r} has no SM2 identity CA that {Path(root) / 'consortium.json'} lists as its sm2_ca_cert_pem"
            " (a member of an 'intl' consortium, or of an 'sm' one from before the SM2 identity CAs): no gateway would"
            " trust an SM2 certificate of it"
        )
    _check_days(days)
    when = _utc(now).replace(microsecond=0)
    user = dataclasses.replace(user_paths(root, org_id, name), cert=sm2.cert, key=sm2.key, ca_cert=sm2.ca_cert)
    files = _sm2_person_files(root, paths, user, passphrase, None, when, when, days)
    files.sort(key=lambda file: file[0] == sm2.cert)  # the certificate last: once it is there, the identity is whole
    written: list[Path] = []
    try:
        if not sm2.key.parent.is_dir():
            sm2.key.parent.mkdir(parents=True)
            os.chmod(sm2.key.parent, PRIVATE_DIR_MODE)
        for path, data, private in files:
            if path == sm2.ca_cert:
                replace_file(path, data, PUBLIC_FILE_MODE)  # the same CA's copy, if an earlier attempt left one
            else:
                write_file(path, data, PRIVATE_FILE_MODE if private else PUBLIC_FILE_MODE)  # never over another
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise IdentityError(f"cannot write the SM2 identity {name}@{org_id}: {exc.strerror or exc}") from None
    return sm2
