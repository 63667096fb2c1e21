"""Who is calling: the caller's X.509 identity certificate, checked against the member CAs of ``consortium.json``.

A caller proves who it is with mutual TLS: it presents an identity certificate issued by its org's CA
(``consortium identity issue``). :meth:`CallerAuthenticator.server_ssl_context` builds the gateway's TLS server
context: TLS 1.2 or later, the gateway's own certificate and key, and as trust anchors for client certificates
the CA certificate of every member in ``consortium.json`` and nothing else (no system CAs). It *asks* for a
client certificate without requiring one (``CERT_OPTIONAL``), so that a caller without one reaches the
application and gets a 401 ``no_certificate`` instead of a TLS alert. It sets OpenSSL's
``X509_V_FLAG_NO_CHECK_TIME``, so an expired or not yet valid certificate also completes the handshake and gets
a 401 with its reason. Every other check of the chain is OpenSSL's: a certificate that no member CA issued,
or whose signature does not verify, fails the handshake itself ("unknown ca" / "certificate verify failed"), and
so does one whose extended key usage excludes clientAuth or a CA certificate ("unsuitable certificate purpose");
such a caller sees a TLS alert, never an HTTP answer, and the gateway records nothing. The context follows the
gateway's certificate and key files (``chain.tlsfiles.ReloadingContext``, at most one look a second, from the
handshakes): a certificate re-issued in place by a CA rotation (``identity rotate-ca``) is presented from the next
handshake on, without a restart, and files that cannot be used keep the certificate before (one warning a change).

:meth:`CallerAuthenticator.authenticate` then checks the peer certificate (its DER, as
``getpeercert(binary_form=True)`` gives it) on every request, and :meth:`~CallerAuthenticator.authenticate_pem`
does the same for the PEM that nginx passes in auth mode (``$ssl_client_escaped_cert``, URL-decoded); there
nothing has checked the chain before, so ``unknown_issuer`` is reachable. The checks, in this order, each with
its reason code (``docs/gateway.md``):

=============================== =================================================================================
``no_certificate``              no certificate (None or empty)
``malformed_certificate``       not a parsable X.509 certificate (one, in the PEM form)
``unknown_issuer``              its issuer is not the CA of a member, the CA's signature does not verify, or its
                                ``OU`` is not the org of the CA that issued it (a certificate of org A claiming
                                to be org B)
``not_an_identity``             a CA certificate (basicConstraints CA:true, or keyCertSign), or no clientAuth in
                                its extended key usage
``certificate_not_yet_valid``   before its notBefore (or its CA's), by ``clock``
``certificate_expired``         after its notAfter (or its CA's), by ``clock``
``certificate_revoked``         its serial is in its org's CRL, or that CRL cannot be trusted (fail closed)
``unknown_member``              ``member_status(org)`` is None: the org is not (or no longer) a member on chain;
                                or, given a trust view, its snapshot says the CA's org was removed
=============================== =================================================================================

A suspended member authenticates (``member_status`` says ``"suspended"``): the gateway denies it later, and
records the call.

SM2 certificates. A certificate signed SM2-with-SM3 reaches a gateway only in the header of auth mode, from a TLCP
terminator (OpenSSL's TLS refuses SM2 certificates at the handshake). It is checked by
:class:`network.sm2callers.Sm2Issuers` against the member's SM2 identity CAs (``consortium.json``'s
``sm2_ca_cert_pem`` and, with a trust view, those the TrustDirectory records, :class:`network.sm2callers.Sm2IdentityCas`
as the people checks ask it) with :func:`suite.x509.verify_chain`, under the same reason codes (an SM2 certificate in
an ``intl`` consortium, or of a member without an SM2 CA: ``unknown_issuer``); on every request its CA must be trusted
now (a record valid at the view's head, or listed and never recorded: ``unknown_issuer`` otherwise); its revocation
list is the org's SM2 CRL ``orgs/<org>/ca/sm2-crl.pem``, reread like the P-256 one (below) and checked against any SM2
CA of the org trusted now; the cache, the validity at ``clock``, the chain's revoked serials and the membership are
the same.

Cost. The first three checks and the identity checks depend only on the certificate bytes and on
``consortium.json``, so their outcome (success or failure) is cached per DER, in a bounded cache (4,096 entries
by default; the oldest entry goes first). A repeated certificate costs a dict lookup, the clock, two time
comparisons, a set lookup in its org's revocation list and the member-status call. The PEM form additionally
maps the PEM text to its DER through a second bounded cache.

Revocation lists. Each org's CRL is ``<directory>/orgs/<org>/msp/crls/crl.pem``, signed by that org's CA (the
CA of ``consortium.json`` or the chain, not whatever CA file lies next to it; after a CA rotation, ``identity
rotate-ca``, the org's one list is signed by its new CA and also counts for what the old CA issued: any CA of the
org verifies it, the certificate's own first). The file is looked at (``stat``) at most once
per ``crl_check_interval`` (1 s) per org and reread when its inode, mtime or size changed, so a revocation takes
effect within a second. A missing file means no revocations. A CRL that cannot be read, parsed or verified
makes every certificate of that org fail with ``certificate_revoked`` (the detail says why) until a valid one
is in place: a tampered list must not let a revoked certificate back in.

The chain's trust. Given a :class:`~chain.trustview.TrustView` of the TrustDirectory (``docs/trust.md``), the
member CAs are every CA certificate the directory has recorded, taken in whenever the view reads a change (the
cache of verified certificates starts empty then), and those of ``consortium.json`` only until the view has read
the chain once. On every request the issuing CA's record must be valid at the view's head (a CA retired or
declared compromised on chain gives ``unknown_issuer``; one valid from a later block too, until then) and its org
still a member (a removed member's keys count for nothing: ``unknown_member`` from the block the view reads the
removal at, as :meth:`chain.trustview.TrustSnapshot.valid` says, before whatever follows the registry apart has
seen it), and a
serial the org revoked on chain gives ``certificate_revoked`` from the block that revoked it, besides the CRL
file. A CA new to the consortium is added to the trust store of every TLS context made here, so its callers
complete the handshake from their next connection on; a CA once added stays in the stores (a handshake proves
nothing by itself: the request is refused with its reason).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from chain.ids import OrgId
from chain.tlsfiles import ReloadingContext
from network._pem import cert_pem, is_ca, org_units
from network.description import ConsortiumDescription
from network.errors import NetworkError
from network.identity import CertificateError, IdentityError, OrgPaths, PassphraseError, verify_crl
from notary.event import IDENTITY_HASHES, SCHEMA_VERSION, caller_identity
from notary.submit.digest import SM3_EVENT_VERSION

if TYPE_CHECKING:
    from chain.contracts.trust import KeyRecord
    from chain.trustview import TrustSnapshot, TrustView
    from network.sm2callers import Sm2Ca, Sm2IdentityCas, Sm2Issuers

__all__ = [
    "CACHE_SIZE",
    "CRL_CHECK_INTERVAL_S",
    "REASONS",
    "X509_V_FLAG_NO_CHECK_TIME",
    "AuthError",
    "Caller",
    "CallerAuthenticator",
    "CrlFile",
    "ca_bundle_pem",
]

log = logging.getLogger(__name__)

#: The reason codes of :class:`AuthError`, in the order they are checked.
REASONS: Final = (
    "no_certificate",
    "malformed_certificate",
    "unknown_issuer",
    "not_an_identity",
    "certificate_not_yet_valid",
    "certificate_expired",
    "certificate_revoked",
    "unknown_member",
)
CACHE_SIZE: Final = 4096
CRL_CHECK_INTERVAL_S: Final = 1.0
#: OpenSSL's X509_V_FLAG_NO_CHECK_TIME: verify the chain but not the validity periods.
X509_V_FLAG_NO_CHECK_TIME: Final = 0x200000
MAX_CERTIFICATE_BYTES: Final = 64 * 1024
#: The signature algorithm of an SM2 certificate (``suite.x509.OID_SM2_WITH_SM3``, named here so that a gateway that
#: never sees one does not load ``suite.x509``).
SM2_WITH_SM3_OID: Final = "1.2.156.10197.1.501"

_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_K = TypeVar("_K")
_V = TypeVar("_V")
_E = TypeVar("_E", bound=x509.ExtensionType)


def ca_bundle_pem(description: ConsortiumDescription) -> str:
    """The CA certificates of every member of ``description``, PEM, concatenated in member order: what a
    client trusts for the gateways' server certificates, and what a gateway trusts for callers."""
    return "".join(
        cert_pem(x509.load_pem_x509_certificate(m.identity.ca_cert_pem.encode("ascii"))) for m in description.members
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller."""

    org: str  # the org id (the certificate's OU, which matches its issuing member CA)
    identity: str  # SHA-256 of the certificate DER, 64 lower-case hex (the caller_identity of events of version 1, 2)
    subject: str  # RFC 4514 subject
    serial: int
    not_after: datetime
    # SM3 of the certificate DER (the caller_identity of version 3 events, the sm suite's); as ``identity`` is of the
    # same certificate, equality need not compare it
    identity_sm3: str = field(default="", compare=False)

    def identity_for(self, version: int) -> str:
        """The ``caller_identity`` of an event of schema ``version`` (:func:`notary.event.caller_identity`)."""
        return event_identity(self.identity, self.identity_sm3, version)


def event_identity(identity: str, identity_sm3: str, version: int) -> str:
    """Of a certificate's two identities, the ``caller_identity`` of an event of schema ``version``: ``identity``
    (SHA-256) for versions 1 and 2, ``identity_sm3`` for version 3 (:data:`notary.event.IDENTITY_HASHES`)."""
    if IDENTITY_HASHES[version] != "sm3":
        return identity
    assert identity_sm3, "a version 3 event needs the SM3 identity of the caller's certificate"
    return identity_sm3


class AuthError(NetworkError):
    """Authentication failed: ``reason`` is a code of :data:`REASONS`, ``detail`` a sentence for humans."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Issuer:
    org: str
    cert: x509.Certificate
    subject: str
    not_before: datetime
    not_after: datetime
    record: KeyRecord | None = None  # its record in the TrustDirectory, when the CAs come from the chain


@dataclass(frozen=True, slots=True)
class _Verified:
    """What the cache holds for a certificate that passed the static checks."""

    caller: Caller
    not_before: datetime  # the later of the certificate's and its CA's
    not_after: datetime  # the earlier of the certificate's and its CA's
    cert_not_before: datetime
    issuer: _Issuer
    crl: CrlFile | None
    sm2: Sm2Ca | None = None  # an SM2 certificate's CA: whether it is trusted, and its CRL, asked at each request

    def not_yet_valid(self) -> str:
        if self.not_before > self.cert_not_before:
            return (
                f"the CA of org {self.issuer.org} that issued {self.caller.subject} is not valid before"
                f" {self.not_before.isoformat()}"
            )
        return f"certificate {self.caller.subject} is not valid before {self.not_before.isoformat()}"

    def expired(self) -> str:
        if self.not_after < self.caller.not_after:
            return (
                f"the CA of org {self.issuer.org} that issued {self.caller.subject} expired at"
                f" {self.not_after.isoformat()}"
            )
        return f"certificate {self.caller.subject} expired at {self.not_after.isoformat()}"


class BoundedCache(Generic[_K, _V]):
    """A dict of at most ``size`` entries; inserting into a full one drops the oldest entry."""

    __slots__ = ("_data", "_lock", "_size", "get")

    def __init__(self, size: int) -> None:
        self._data: dict[_K, _V] = {}
        self._size = size
        self._lock = threading.Lock()
        self.get: Callable[[_K], _V | None] = self._data.get  # bound once: the hot path is one call

    def put(self, key: _K, value: _V) -> None:
        with self._lock:
            while len(self._data) >= self._size:
                del self._data[next(iter(self._data))]
            self._data[key] = value

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True, slots=True)
class _State:
    """The member CAs and the cache of certificates verified against them, replaced together."""

    cache: BoundedCache[bytes, _Verified | tuple[str, str]]
    issuers: dict[bytes, list[_Issuer]]
    pems: tuple[str, ...]


class CrlFile:
    """The revocation list of one org, reread when its file changes (looked at at most once per interval): ``read``
    turns the file's bytes into the serials it revokes once it has checked who signed it, or raises ``ValueError``
    (the P-256 list, :func:`_p256_crl`; an SM2 one, :func:`network.sm2callers.read_sm2_crl`)."""

    __slots__ = ("_lock", "checked_at", "clock", "error", "interval", "org", "path", "read", "revoked", "stamp")

    def __init__(
        self,
        org: str,
        path: Path,
        read: Callable[[bytes], frozenset[int]],
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.org = org
        self.path = path
        self.read = read
        self.interval = interval
        self.clock = clock
        self.checked_at = -float("inf")
        self.stamp: tuple[int, int, int] | None = None
        self.revoked: frozenset[int] = frozenset()
        self.error: str | None = None
        self._lock = threading.Lock()

    def current(self) -> CrlFile:
        if self.clock() - self.checked_at >= self.interval:
            self._refresh()
        return self

    def _refresh(self) -> None:
        with self._lock:
            now = self.clock()
            if now - self.checked_at < self.interval:
                return
            self.checked_at = now
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                if self.stamp is not None or self.error is not None:
                    log.info("CRL of org %s removed: no revocations", self.org)
                self.stamp, self.revoked, self.error = None, frozenset(), None
                return
            except OSError as exc:
                self._fail((0, 0, 0), f"cannot read {self.path}: {exc.strerror or exc}")
                return
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp == self.stamp:
                return
            try:
                revoked = self.read(self.path.read_bytes())
            except (ValueError, CertificateError) as exc:  # MalformedError is a ValueError, so is the suite's
                self._fail(stamp, str(exc))
                return
            except OSError as exc:
                self._fail(stamp, f"cannot read {self.path}: {exc.strerror or exc}")
                return
            self.stamp, self.revoked, self.error = stamp, revoked, None
            log.info("CRL of org %s loaded: %d revoked certificate(s)", self.org, len(self.revoked))

    def _fail(self, stamp: tuple[int, int, int], error: str) -> None:
        if error != self.error:
            log.error("CRL of org %s unusable, refusing its certificates: %s", self.org, error)
        self.stamp, self.error = stamp, error


def _p256_crl(org: str, path: Path, cas: Sequence[x509.Certificate]) -> Callable[[bytes], frozenset[int]]:
    """How the P-256 CRL file of ``org`` is read: signed by one of the org's CAs (``cas``, the certificate's own
    first): after a rotation (``identity rotate-ca``) the new CA signs the one list of the org, which still holds the
    serials of what the old one issued; the first CA's refusal is the error otherwise."""
    what = f"CRL of org {org!r} ({path})"

    def read(data: bytes) -> frozenset[int]:
        first: CertificateError | None = None
        for ca in cas:
            try:
                return frozenset(r.serial_number for r in verify_crl(data, ca, what))
            except CertificateError as exc:
                first = first or exc
        assert first is not None, "a CRL is checked against one CA at least"
        raise first

    return read


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CallerAuthenticator:
    """Authenticates callers by their identity certificates (see the module docstring for the checks).

    ``directory`` is the consortium directory holding ``orgs/<org>/msp/crls/crl.pem`` (None: no CRLs);
    ``member_status(org)`` answers ``"active"``, ``"suspended"`` or None (not a member), from the chain;
    ``clock`` gives the time the validity periods are checked against, ``crl_clock`` (monotonic seconds) the time
    the CRL files' ``crl_check_interval`` is counted in; ``trust``, a view of the TrustDirectory,
    makes the chain the source of the member CAs and of revoked serials (see "The chain's trust" in the module
    docstring). Thread-safe."""

    def __init__(
        self,
        description: ConsortiumDescription,
        directory: Path | None,
        member_status: Callable[[str], str | None],
        *,
        clock: Callable[[], datetime] = _utc_now,
        cache_size: int = CACHE_SIZE,
        crl_check_interval: float = CRL_CHECK_INTERVAL_S,
        crl_clock: Callable[[], float] = time.monotonic,
        trust: TrustView | None = None,
        sm2_cas: Mapping[str, str | None] | None = None,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._member_status = member_status
        self._clock = clock
        self._cache_size = cache_size
        self._directory = directory
        self._crl_check_interval = crl_check_interval
        self._crl_clock = crl_clock
        self._pem_cache: BoundedCache[str, bytes | tuple[str, str]] = BoundedCache(cache_size)
        self._crls: dict[tuple[str, bytes], CrlFile] = {}
        self._trust: TrustView | None = None  # set by follow()
        self._contexts: list[ssl.SSLContext] = []
        self._loaded: set[str] = set()  # the CA PEMs in the trust store of every context made
        self._lock = threading.Lock()
        # the SM2 identity CAs of an sm consortium's members (consortium.json's sm2_ca_cert_pem, or as given): read
        # at the first SM2 certificate, so that a gateway that never sees one never loads suite.x509
        self._crypto = description.crypto
        self._sm2_listed = dict(sm2_cas) if sm2_cas is not None else _listed_sm2_cas(description)
        self._sm2: Sm2Issuers | None = None
        self._sm2_lock = threading.Lock()
        # consortium.json's founders' CAs; with a trust view, only until it has read the chain (and every CA
        # since is the chain's: the founders' were written there at genesis)
        cas = [(m.org, m.identity.ca_cert_pem.encode("ascii"), None) for m in description.members]
        self._state = self._tables(cas)
        if trust is not None:
            self.follow(trust)

    @property
    def trust(self) -> TrustView | None:
        """The view of the TrustDirectory the member CAs come from (None: ``consortium.json``'s)."""
        return self._trust

    def follow(self, trust: TrustView) -> None:
        """Make ``trust`` the source of the member CAs and revoked serials from now on (as if given at
        construction; for a server whose view of the chain exists only once it serves, a node's JSON-RPC)."""
        if self._trust is not None:
            raise RuntimeError("the authenticator already follows a trust view")
        self._trust = trust
        sm2 = self._sm2
        if sm2 is not None:
            sm2.cas.trust = trust
        trust.subscribe(self._follow)

    def sm2_identity_cas(self) -> Sm2IdentityCas:
        """The SM2 identity CAs of the members (``consortium.json``'s, and the chain's through the trust view) and
        their SM2 CRLs, made at the first SM2 certificate (:class:`network.sm2callers.Sm2IdentityCas`): the one
        answer this authenticator and the people checks over it (``network.logins``) share."""
        return self._sm2_issuers().cas

    def _sm2_issuers(self) -> Sm2Issuers:
        sm2 = self._sm2
        if sm2 is None:
            from network.sm2callers import Sm2IdentityCas, Sm2Issuers

            with self._sm2_lock:
                sm2 = self._sm2
                if sm2 is None:
                    cas = Sm2IdentityCas(
                        self._sm2_listed,
                        trust=self._trust,
                        directory=self._directory,
                        crl_check_interval=self._crl_check_interval,
                        crl_clock=self._crl_clock,
                    )
                    sm2 = self._sm2 = Sm2Issuers(self._crypto, cas)
        return sm2

    def _tables(self, cas: Sequence[tuple[str, bytes, KeyRecord | None]]) -> _State:
        """The issuers of ``cas`` (org, PEM or DER, record) by subject, and an empty cache of verified
        certificates to go with them."""
        issuers: dict[bytes, list[_Issuer]] = {}
        pems: list[str] = []
        for org, data, record in cas:
            try:
                ca = (
                    x509.load_pem_x509_certificate(data)
                    if data.startswith(b"-----")
                    else x509.load_der_x509_certificate(data)
                )
            except ValueError:
                log.warning("a CA certificate of member %s cannot be parsed: ignored", org)
                continue
            if not is_ca(ca):
                log.warning("the CA certificate of member %s is not a CA certificate: ignored", org)
                continue
            try:
                ca.public_key()
            except UnsupportedAlgorithm:  # an SM2 identity CA (an sm member's, for its people): no TLS issuer
                continue
            if org_units(ca) != [org]:  # a member cannot vouch for another's CA (its OU names that other)
                log.warning("a CA certificate recorded by member %s names another org: ignored", org)
                continue
            issuer = _Issuer(
                org, ca, ca.subject.rfc4514_string(), ca.not_valid_before_utc, ca.not_valid_after_utc, record
            )
            issuers.setdefault(ca.subject.public_bytes(), []).append(issuer)
            pems.append(cert_pem(ca))
        return _State(BoundedCache(self._cache_size), issuers, tuple(pems))

    def _follow(self, snapshot: TrustSnapshot) -> None:
        """A new TrustDirectory snapshot: every CA certificate it has ever recorded becomes an issuer (whether
        one is valid is asked at each request, against the chain's head), the cache starts empty, and the CAs
        new to the TLS contexts are added to their trust stores, so a new member's callers complete the
        handshake from the next connection on."""
        from chain.contracts.trust import KeyKind

        cas = [(r.org, r.value, r) for recs in snapshot.records.values() for r in recs if r.kind is KeyKind.CA_CERT]
        state = self._tables(cas)
        self._state = state
        with self._lock:
            self._add_to_contexts(state.pems)
        log.info("member CAs from the trust directory at block %d: %d", snapshot.block, len(state.pems))

    def _add_to_contexts(self, pems: tuple[str, ...]) -> None:
        new = [p for p in pems if p not in self._loaded]
        if not new:
            return
        for ctx in self._contexts:
            ctx.load_verify_locations(cadata="".join(new))
        self._loaded.update(new)

    def _crl(self, issuer: _Issuer, issuers: dict[bytes, list[_Issuer]]) -> CrlFile | None:
        """The CRL file of the issuer's org, checked against its CA, else another CA of the org (one rotated)."""
        if self._directory is None:
            return None
        same_name = issuers.get(issuer.cert.subject.public_bytes(), [])
        cas = [issuer.cert, *(c.cert for c in same_name if c.org == issuer.org)]
        cas = list({ca.fingerprint(hashes.SHA256()): ca for ca in cas}.values())
        key = (issuer.org, b"".join(ca.fingerprint(hashes.SHA256()) for ca in cas))
        crl = self._crls.get(key)
        if crl is None:
            path = OrgPaths.of(self._directory, OrgId(issuer.org)).crl
            crl = CrlFile(issuer.org, path, _p256_crl(issuer.org, path, cas), self._crl_check_interval, self._crl_clock)
            crl = self._crls.setdefault(key, crl)
        return crl

    # ------------------------------------------------------------------------------------------ per request

    def authenticate(self, der: bytes | None) -> Caller:
        """The caller presenting the certificate ``der`` (the TLS peer certificate, binary form), or
        :class:`AuthError`."""
        if not der:
            raise AuthError("no_certificate", "no client certificate was presented")
        state = self._state
        entry = state.cache.get(der)
        if entry is None:
            entry = self._verify(der, state.issuers)
            state.cache.put(der, entry)
        if isinstance(entry, tuple):
            raise AuthError(*entry)
        trust = self._trust
        if trust is not None and entry.issuer.record is not None:
            head, snapshot = trust.head, trust.snapshot  # the head first: the snapshot is as new or newer
            if not entry.issuer.record.valid_at(head):
                raise AuthError(
                    "unknown_issuer",
                    f"the CA certificate of org {entry.issuer.org} that issued {entry.caller.subject} is not valid on "
                    f"chain at block {head}",
                )
            if snapshot is not None and not snapshot.member(entry.issuer.org):  # its keys count for nothing now
                raise AuthError(
                    "unknown_member",
                    f"org {entry.issuer.org!r} is not a member of the consortium on chain (removed as of block "
                    f"{snapshot.block} or before: its CA issues nobody)",
                )
        caller = entry.caller
        crl_file = entry.crl
        if entry.sm2 is not None:  # its CA trusted now (unknown_issuer first, as a P-256 CA's record), its CRL file
            crl_file = self._sm2_now(entry, caller)
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        if now < entry.not_before:
            raise AuthError("certificate_not_yet_valid", entry.not_yet_valid())
        if now > entry.not_after:
            raise AuthError("certificate_expired", entry.expired())
        if crl_file is not None:
            crl = crl_file.current()
            if crl.error is not None:
                raise AuthError(
                    "certificate_revoked",
                    f"the revocation status of {caller.subject} cannot be checked: {crl.error}",
                )
            if caller.serial in crl.revoked:
                raise AuthError(
                    "certificate_revoked",
                    f"certificate {caller.subject} (serial {caller.serial:#x}) is revoked by org {caller.org}",
                )
        if trust is not None and trust.is_revoked(caller.org, caller.serial):
            raise AuthError(
                "certificate_revoked",
                f"certificate {caller.subject} (serial {caller.serial:#x}) is revoked by org {caller.org} on chain",
            )
        if self._member_status(caller.org) is None:
            raise AuthError("unknown_member", f"org {caller.org!r} is not a member of the consortium on chain")
        return caller

    def _sm2_now(self, entry: _Verified, caller: Caller) -> CrlFile | None:
        """The per-request check of an SM2 certificate's CA (trusted now: its record valid at the view's head, or
        listed and never recorded) and the org's SM2 CRL file to check it against."""
        ca = entry.sm2
        assert ca is not None
        cas = self._sm2_issuers().cas
        untrusted = cas.trusted_now(ca.cert, ca.org)
        if untrusted is not None:
            raise AuthError("unknown_issuer", f"{untrusted}: certificate {caller.subject} is no longer accepted")
        return cas.crl(ca.org, ca.cert)

    def admit(self, der: bytes | None) -> Caller:
        """The verdict of a server that serves members only (the notary over mutual TLS, a node's JSON-RPC, the
        peer routes): :meth:`authenticate`, and a member suspended on chain refused too (``unknown_member``),
        since such a server has nothing to serve it. :class:`AuthError` says why not."""
        return self._not_suspended(self.authenticate(der))

    def handshake_verdict(self, der: bytes | None, *, suspended: bool = True) -> AuthError | None:
        """Why the peer of a TLS handshake just completed, presenting ``der``, must be disconnected before any
        request of it is read (the :class:`AuthError` of :meth:`admit`), or None. No certificate is not refused
        here: the server's own rule answers it (401, or a public subset). The one verdict of every server of ours
        that serves members over mutual TLS (the notary, a node's JSON-RPC, the gateways), with its cache.

        ``suspended=False`` lets a suspended member's valid certificate through (:meth:`authenticate` alone): a
        gateway denies and records each call of a suspended member (``member_suspended``), so the regulator sees
        what a suspended firm still tried, which a refusal at the handshake, with no call read, could not show."""
        if not der:
            return None
        try:
            if suspended:
                self.admit(der)
            else:
                self.authenticate(der)
        except AuthError as exc:
            return exc
        return None

    def handshake_refusal(self, der: bytes | None) -> str | None:
        """:meth:`handshake_verdict` as ``"reason: detail"``, or None."""
        refusal = self.handshake_verdict(der)
        return None if refusal is None else f"{refusal.reason}: {refusal.detail}"

    def authenticate_pem(self, pem: str | None) -> Caller:
        """The caller presenting the PEM certificate ``pem`` (nginx's ``$ssl_client_escaped_cert``, already
        URL-decoded; leading whitespace on lines, as in ``$ssl_client_cert``, is accepted), or
        :class:`AuthError`."""
        if pem is None or not pem.strip():
            raise AuthError("no_certificate", "no client certificate was presented")
        der = self._pem_cache.get(pem)
        if der is None:
            der = _pem_to_der(pem)
            self._pem_cache.put(pem, der)
        if isinstance(der, tuple):
            raise AuthError(*der)
        return self.authenticate(der)

    def admit_pem(self, pem: str | None) -> Caller:
        """:meth:`admit` for the PEM form of :meth:`authenticate_pem`."""
        return self._not_suspended(self.authenticate_pem(pem))

    def _not_suspended(self, caller: Caller) -> Caller:
        if self._member_status(caller.org) == "suspended":
            raise AuthError("unknown_member", f"org {caller.org!r} is suspended on chain")
        return caller

    # ------------------------------------------------------------------------------------------ TLS

    def server_ssl_context(
        self,
        cert_file: Path,
        key_file: Path,
        password: bytes | None,
        *,
        reload_clock: Callable[[], float] = time.monotonic,
    ) -> ssl.SSLContext:
        """The gateway's TLS server context (see the module docstring): TLS 1.2+, ``cert_file`` and
        ``key_file`` (``password`` decrypts an encrypted key), client certificates optional and verified
        against the member CAs only, validity periods left to :meth:`authenticate`.

        A client certificate from an unknown CA, with a bad signature, or without clientAuth fails the
        handshake. Unreadable files raise :class:`IdentityError`, a key the password does not decrypt
        :class:`PassphraseError`. The context follows both files (:class:`chain.tlsfiles.ReloadingContext`,
        looked at at most once a second of ``reload_clock``): a certificate re-issued in place (``identity
        rotate-ca``) is presented from the next handshake on, with no restart, and one that cannot be used keeps
        the certificate before, with a warning."""
        try:
            key_data = Path(key_file).read_bytes()
            Path(cert_file).read_bytes()
        except OSError as exc:
            raise IdentityError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
        try:
            serialization.load_pem_private_key(key_data, password=password or None)
        except TypeError:
            raise PassphraseError(f"cannot decrypt {key_file}: it is encrypted and no passphrase was given") from None
        except ValueError:
            raise PassphraseError(f"cannot decrypt {key_file}: wrong passphrase or not a PEM private key") from None
        except UnsupportedAlgorithm:
            raise IdentityError(f"{key_file}: unsupported key type or key encryption") from None
        ctx = ReloadingContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.present(cert_file, key_file, password, clock=reload_clock)
        except ssl.SSLError as exc:
            raise IdentityError(f"cannot use {cert_file} with {key_file}: {exc.reason or exc}") from None
        with self._lock:
            pems = self._state.pems
            if not pems:
                source = "the trust directory" if self._trust is not None else "consortium.json"
                raise IdentityError(f"{source} lists no member CA certificate: no caller could authenticate")
            ctx.load_verify_locations(cadata="".join(pems))
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.verify_flags = ssl.VerifyFlags(ctx.verify_flags | X509_V_FLAG_NO_CHECK_TIME)
            self._loaded.update(pems)
            self._contexts.append(ctx)
        return ctx

    # ------------------------------------------------------------------------------------------ helpers

    def _verify(self, der: bytes, issuers: dict[bytes, list[_Issuer]]) -> _Verified | tuple[str, str]:
        """The checks that depend on the certificate only: a :class:`_Verified` or ``(reason, detail)``."""
        if len(der) > MAX_CERTIFICATE_BYTES:
            return ("malformed_certificate", f"the certificate is larger than {MAX_CERTIFICATE_BYTES} bytes")
        try:
            cert = x509.load_der_x509_certificate(der)
            subject = cert.subject.rfc4514_string()
            issuer_name = cert.issuer
            issuer_key = issuer_name.public_bytes()
            serial = cert.serial_number
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            units = org_units(cert)
            extensions = cert.extensions
            basic = _extension(extensions, x509.BasicConstraints)
            usage = _extension(extensions, x509.KeyUsage)
            eku = _extension(extensions, x509.ExtendedKeyUsage)
        except Exception as exc:  # any parse failure of hostile input is "malformed", never a crash
            return ("malformed_certificate", f"the client certificate cannot be parsed ({type(exc).__name__})")

        if cert.signature_algorithm_oid.dotted_string == SM2_WITH_SM3_OID:
            return self._verify_sm2(der, subject, units)
        candidates = issuers.get(issuer_key, [])
        if not candidates:
            return (
                "unknown_issuer",
                f"certificate {subject} was issued by {issuer_name.rfc4514_string()},"
                " which is not the CA of any member",
            )
        issuer = None
        for candidate in sorted(candidates, key=lambda c: [c.org] != units):  # the CA of the org it names first
            try:
                cert.verify_directly_issued_by(candidate.cert)
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
                continue
            issuer = candidate
            break
        if issuer is None:
            return (
                "unknown_issuer",
                f"the signature of certificate {subject} does not verify with the key of {candidates[0].subject}",
            )
        if units != [issuer.org]:
            claimed = ", ".join(units) or "no OU"
            return (
                "unknown_issuer",
                f"certificate {subject} claims org {claimed} but was issued by the CA of org {issuer.org}",
            )
        if (basic is not None and basic.ca) or (usage is not None and usage.key_cert_sign):
            return ("not_an_identity", f"certificate {subject} is a CA certificate, not an identity")
        if eku is None or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            return ("not_an_identity", f"certificate {subject} is not for client authentication (no clientAuth)")
        caller = Caller(
            org=issuer.org,
            identity=caller_identity(der, SCHEMA_VERSION),
            subject=subject,
            serial=serial,
            not_after=not_after,
            identity_sm3=caller_identity(der, SM3_EVENT_VERSION),
        )
        return _Verified(
            caller=caller,
            not_before=max(not_before, issuer.not_before),
            not_after=min(not_after, issuer.not_after),
            cert_not_before=not_before,
            issuer=issuer,
            crl=self._crl(issuer, issuers),
        )

    def _verify_sm2(self, der: bytes, subject: str, units: list[str]) -> _Verified | tuple[str, str]:
        """The checks of an SM2 certificate, forwarded by a TLCP terminator, that depend on it only
        (:class:`network.sm2callers.Sm2Issuers`): a :class:`_Verified` whose CRL is the org's SM2 one, or
        ``(reason, detail)``."""
        verdict = self._sm2_issuers().verify(der, subject, units)
        if isinstance(verdict, tuple):
            return verdict
        ca = verdict.ca
        issuer = _Issuer(
            ca.org, x509.load_der_x509_certificate(ca.cert.der), ca.cert.subject, ca.cert.not_before, ca.cert.not_after
        )
        caller = Caller(
            org=ca.org,
            identity=caller_identity(der, SCHEMA_VERSION),
            subject=subject,
            serial=verdict.serial,
            not_after=verdict.cert_not_after,
            identity_sm3=caller_identity(der, SM3_EVENT_VERSION),
        )
        return _Verified(
            caller=caller,
            not_before=verdict.not_before,
            not_after=verdict.not_after,
            cert_not_before=verdict.cert_not_before,
            issuer=issuer,
            crl=None,
            sm2=ca,
        )


def _listed_sm2_cas(description: ConsortiumDescription) -> dict[str, str | None]:
    """Each member's SM2 identity CA as consortium.json lists it (``sm2_ca_cert_pem``; an ``sm`` consortium's)."""
    return {m.org: m.identity.sm2_ca_cert_pem for m in description.members}


def _extension(extensions: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _pem_to_der(pem: str) -> bytes | tuple[str, str]:
    """The DER of a PEM holding exactly one certificate, or ``(reason, detail)``."""
    if len(pem) > 2 * MAX_CERTIFICATE_BYTES:
        return ("malformed_certificate", "the client certificate is too large")
    text = "\n".join(line.strip() for line in pem.strip().splitlines()) + "\n"
    if not text.startswith(_PEM_BEGIN):
        return ("malformed_certificate", "the client certificate is not a PEM certificate")
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return ("malformed_certificate", "the client certificate is not a parsable PEM certificate")
    if len(certs) != 1:
        return ("malformed_certificate", f"expected one certificate in the PEM, found {len(certs)}")
    return certs[0].public_bytes(serialization.Encoding.DER)
