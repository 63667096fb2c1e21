"""Logins: who a person is (for the explorer), proven by a login token signed with the key of their identity
certificate.

A person is an identity certificate that the CA of a member firm issued with a role in it (``consortium user
add``; the role is the subject's ``title``, see :mod:`network.identity`): ``compliance``, ``operator``, or
``regulator``, the last only for an org with the regulator role. The person logs in with a token made by
:func:`make_token` (``consortium user token``): a JWT in compact form, signed ES256 (ECDSA P-256 with SHA-256)
with the person's private key, whose header carries the certificate::

    header  {"alg": "ES256", "typ": "JWT", "x5c": ["<base64 DER of the certificate>"]}
    claims  {"aud": "consortium-explorer", "sub": "<name>@<org>", "iat": ..., "nbf": ..., "exp": ..., "jti": ...}

A person of an ``sm`` consortium whose member has an SM2 identity CA (``network.identity``, ``sm2_ca_cert_pem`` in
``consortium.json``) holds an SM2 certificate and makes the same token with ``alg`` ``SM2SM3``, this project's
profile (JOSE registers no SM2 algorithm; ``docs/national-suite.md``): the signature is the 64 bytes ``r ‖ s`` of
SM2 (GB/T 32918.2, SM3, signer ID ``1234567812345678``) over the JWS signing input, base64url like any JWS's::

    header  {"alg": "SM2SM3", "typ": "JWT", "x5c": ["<base64 DER of the SM2 certificate>"]}

It is accepted only for an SM2 certificate with a path (:func:`suite.x509.verify_chain`, clientAuth) to the SM2
identity CA of the member its ``OU`` names; validity (the certificate's and its CA's, at the clock's instant), the
member's SM2 CRL (``orgs/<org>/ca/sm2-crl.pem``, reread within a second of a change, signature checked against the
certificate's SM2 CA, else another SM2 CA of the member trusted now, fail closed) and membership are checked on every
request, as for ES256. The member's one SM2 CRL counts for the people of each of its SM2 CAs trusted now, as its one
P-256 CRL does after a rotation (``network.certificates``): in a rotation's overlap the list the new CA signs does
not lock the old CA's people out, and a CA retired on chain signs no list that counts. As for the P-256 CRLs, a CRL past
its nextUpdate still counts: a stale list is no reason to let a revoked person in, nor to lock everyone out.

The lifetime (``exp`` minus the earlier of ``iat`` and ``nbf``) is at most 30 days. Nobody but the firm's CA is
trusted: the certificate must chain to the CA of a member in ``consortium.json``, and the token must verify with
the certificate's own key, so only the holder of the key could have made it. The token is sent as
``Authorization: Bearer <token>``; there are no sessions and nothing server-side to log out of: a token ends at
its ``exp``, or earlier when its certificate expires or is revoked.

:meth:`Authenticator.authenticate` answers the :class:`Person` or raises :class:`LoginError` (HTTP 401) with one
of these reasons. The token's form and algorithm are checked first, then its certificate (issuer, identity,
role), its signature and its claims; these depend on the token alone. Then, on every request, its times and the
certificate's validity, revocation and membership:

=========================== =====================================================================================
``no_credentials``          no Authorization header, an empty one, not the Bearer scheme, or an empty token
``malformed_token``         not a compact JWS, a header without exactly one ``x5c`` certificate, an unparsable
                            certificate, a missing claim, ``sub`` other than the certificate's ``<name>@<org>``,
                            times that are not numbers, ``exp`` not after ``nbf``, a ``crit`` header
``bad_signature``           any algorithm but ES256 and SM2SM3 (``none``, HS256 with the public key as the secret,
                            RS256...), ES256 with an SM2 certificate, SM2SM3 with one that is not SM2, a signature
                            that does not verify with the certificate's key (SM2SM3: or is not 64 bytes)
``unknown_issuer``          the certificate was not issued by the CA of a member of ``consortium.json`` (or
                            claims another org than its CA's); SM2: not by the SM2 identity CA of the member its
                            ``OU`` names, or that member lists none
``not_an_identity``         a CA certificate, one not for client authentication, a CN that is not ``name@org``
``no_role``                 the certificate carries no role (the org's admin, a caller of the gateways), an
                            unknown one or several, or ``regulator`` from an org that is not a regulator
``wrong_audience``          ``aud`` missing or not ``consortium-explorer``
``lifetime_too_long``       ``exp`` more than 30 days after ``iat``/``nbf``
``token_not_yet_valid``     before ``nbf`` (60 seconds of clock skew allowed)
``credentials_expired``     at or after ``exp``
``certificate_expired``     the certificate, or its CA, is outside its validity period (expired, or, for a
                            certificate dated in the future, not yet valid: the detail says which)
``certificate_revoked``     its serial is in the org's CRL, or that CRL cannot be trusted (fail closed)
``unknown_member``          ``is_member(org)`` says the org is no longer a member
=========================== =====================================================================================

The certificate checks of an ES256 token are the gateway's: :class:`network.certificates.CallerAuthenticator`,
built over the same ``consortium.json`` and CRL files, does them (issuer, identity, validity, CRL reread within a
second of a change, membership), and its reasons are mapped onto these. Those of an SM2SM3 token are this module's
(``_SM2Identities``), over the SM2 identity CAs the gateway authenticator knows
(:class:`network.sm2callers.Sm2IdentityCas`, the one place a gateway's SM2 callers are checked against too): they
are the founders' of ``consortium.json`` (``sm2_ca_cert_pem``) and,
given the chain's trust view, every member's the TrustDirectory records (a ``CA_CERT`` holding an SM2 CA with the
member's ``OU``, :func:`network.trust.sm2_identity_cas`: a firm that joined after genesis publishes its own with
``member keys publish``), each a record valid at the chain's head on every request. A founder's listed SM2 CA counts
by its listing only while the chain holds no record of it: once recorded, its records decide (retired on chain, it is
retired).

Cost. Everything that depends only on the token's bytes (parsing, the signature, the certificate's issuer and
role, the claims) is verified once and its outcome, success or failure, kept in a bounded cache keyed by the
token (1,024 tokens by default, the oldest goes first; tokens longer than 8 KiB are refused unread). A repeated
token costs a dict lookup, the clock, two comparisons and the gateway authenticator's cached check of the
certificate (its validity, its org's revocation list, membership): expiry and revocation are honoured on every
request.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chain.errors import MalformedError
from network._pem import org_units, parse_cert
from network.certificates import (
    AuthError,
    BoundedCache,
    CallerAuthenticator,
    event_identity,
)
from network.description import load_description
from network.errors import NetworkError
from network.identity import PERSON_ROLES, certificate_role
from notary.event import SCHEMA_VERSION, caller_identity
from notary.submit.digest import SM3_EVENT_VERSION

if TYPE_CHECKING:
    from chain.trustview import TrustView
    from network.sm2callers import Sm2IdentityCas
    from suite.sm2 import SM2PrivateKey
    from suite.x509 import Certificate as SM2Certificate

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "CACHE_SIZE",
    "MAX_LIFETIME_S",
    "MAX_TOKEN_CHARS",
    "NBF_LEEWAY_S",
    "REASONS",
    "ROLES",
    "SM2_ALGORITHM",
    "Authenticator",
    "LoginError",
    "Person",
    "make_token",
]

ROLES: Final = PERSON_ROLES
AUDIENCE: Final = "consortium-explorer"
ALGORITHM: Final = "ES256"
#: The ``alg`` of a token of an SM2 person: SM2 signature (GB/T 32918.2, signer ID 1234567812345678) with SM3. Not a
#: registered JOSE algorithm (there is none for SM2): this project's profile, see ``docs/national-suite.md``.
SM2_ALGORITHM: Final = "SM2SM3"
MAX_LIFETIME_S: Final = 30 * 86_400
NBF_LEEWAY_S: Final = 60
MAX_TOKEN_CHARS: Final = 8 * 1024
CACHE_SIZE: Final = 1024
#: The mode of a file holding a login token: readable by its owner alone.
TOKEN_FILE_MODE: Final = 0o600
#: The reason codes of :class:`LoginError`.
REASONS: Final = (
    "no_credentials",
    "malformed_token",
    "bad_signature",
    "unknown_issuer",
    "not_an_identity",
    "no_role",
    "wrong_audience",
    "lifetime_too_long",
    "token_not_yet_valid",
    "credentials_expired",
    "certificate_expired",
    "certificate_revoked",
    "unknown_member",
)

#: The gateway authenticator's reasons, as login reasons.
_CERTIFICATE_REASONS: Final = {
    "no_certificate": "malformed_token",
    "malformed_certificate": "malformed_token",
    "unknown_issuer": "unknown_issuer",
    "not_an_identity": "not_an_identity",
    "certificate_not_yet_valid": "certificate_expired",
    "certificate_expired": "certificate_expired",
    "certificate_revoked": "certificate_revoked",
    "unknown_member": "unknown_member",
}
#: Those that depend on the certificate alone: their outcome is cached with the token's.
_STATIC_CERTIFICATE_REASONS: Final = frozenset(
    {"no_certificate", "malformed_certificate", "unknown_issuer", "not_an_identity"}
)
_CLAIMS: Final = ("aud", "sub", "iat", "nbf", "exp", "jti")
_DECODER: Final = jwt.PyJWT(
    options={
        "verify_signature": True,
        "verify_aud": True,
        "verify_exp": False,  # times are checked here, against the authenticator's clock
        "verify_nbf": False,
        "verify_iat": False,
        "verify_iss": False,
        "verify_sub": True,
        "verify_jti": True,
        "require": list(_CLAIMS),
    }
)


@dataclass(frozen=True, slots=True)
class Person:
    """A logged-in person."""

    org: str  # the member org whose CA issued the certificate
    name: str  # the certificate's CN is <name>@<org>
    role: str  # one of ROLES, from the certificate
    identity: str  # SHA-256 of the certificate DER, 64 lower-case hex (like the gateway's caller identity)
    display_name: str  # "<name> (<firm's display name in consortium.json>)"
    expires_ms: int  # when the token expires, milliseconds since the epoch
    # SM3 of the certificate DER (the caller_identity of version 3 events, the sm suite's); as ``identity`` is of the
    # same certificate, equality need not compare it
    identity_sm3: str = field(default="", compare=False)

    def identity_for(self, version: int) -> str:
        """The ``caller_identity`` of an event of schema ``version`` (:func:`notary.event.caller_identity`)."""
        return event_identity(self.identity, self.identity_sm3, version)

    @property
    def is_regulator(self) -> bool:
        return self.role == "regulator"


class LoginError(NetworkError):
    """Login refused (HTTP 401): ``reason`` is a code of :data:`REASONS`, ``detail`` a sentence for humans."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def make_token(
    cert_pem: bytes,
    key: ec.EllipticCurvePrivateKey | SM2PrivateKey,
    *,
    hours: float = 8.0,
    now: datetime | None = None,
) -> str:
    """A login token for the person of ``cert_pem`` (one PEM certificate), signed with ``key``, its private key:
    valid from ``now`` (default: the current time) for ``hours`` hours, at most 30 days. An ECDSA P-256 key makes
    an ES256 token; an SM2 key (a person of an ``sm`` member's SM2 identity CA) an SM2SM3 one (see the module
    docstring).

    Raises :class:`ValueError` (:class:`MalformedError` for an unparsable certificate) when the lifetime is not
    in (0, 30 days], the key is neither an ECDSA P-256 nor an SM2 key or not the certificate's, or the certificate
    has no ``CN``. It does not check the certificate's issuer, role or validity: the explorer does."""
    from suite.sm2 import SM2PrivateKey

    if isinstance(key, SM2PrivateKey):
        return _make_sm2_token(cert_pem, key, hours, now)
    cert = parse_cert(cert_pem, "certificate")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("a login token is signed with an ECDSA P-256 key (ES256) or an SM2 key (SM2SM3)")
    if key.public_key() != cert.public_key():
        raise ValueError(f"the key is not the key of certificate {cert.subject.rfc4514_string()}")
    common_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    claims = _new_claims(common_names, cert.subject.rfc4514_string(), hours, now)
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"typ": "JWT", "x5c": [x5c]})


def _make_sm2_token(cert_pem: bytes, key: SM2PrivateKey, hours: float, now: datetime | None) -> str:
    """The SM2SM3 token: a compact JWS whose signature is the 64-byte ``r ‖ s`` of SM2 (signer ID
    1234567812345678) over the JWS signing input."""
    from network._sm2ca import attributes
    from suite.errors import SuiteError
    from suite.sm2 import DEFAULT_ID
    from suite.x509 import Certificate

    try:
        cert = Certificate.from_pem(cert_pem.encode("ascii") if isinstance(cert_pem, str) else cert_pem)
    except (SuiteError, UnicodeEncodeError) as exc:
        raise MalformedError(f"certificate: an SM2 key needs an SM2 certificate: {exc}") from None
    if key.public_key() != cert.public_key:
        raise ValueError(f"the key is not the key of certificate {cert.subject}")
    claims = _new_claims(attributes(cert, "common_name"), cert.subject, hours, now)
    header = {"alg": SM2_ALGORITHM, "typ": "JWT", "x5c": [base64.b64encode(cert.der).decode("ascii")]}
    signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
    signature = key.sign(signing_input.encode("ascii"), DEFAULT_ID)
    return f"{signing_input}.{_b64url(signature)}"


def _new_claims(common_names: list[str], subject: str, hours: float, now: datetime | None) -> dict[str, Any]:
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours):
        raise ValueError(f"hours must be a number, not {hours!r}")
    seconds = round(hours * 3600)
    if not 0 < seconds <= MAX_LIFETIME_S:
        raise ValueError(f"a login token lasts more than 0 and at most {MAX_LIFETIME_S // 3600} hours, not {hours}")
    if len(common_names) != 1:
        raise ValueError(f"certificate {subject} has no single CN to name the person by")
    when = datetime.now(UTC) if now is None else (now.replace(tzinfo=UTC) if now.tzinfo is None else now)
    issued = int(when.timestamp())
    return {
        "aud": AUDIENCE,
        "sub": common_names[0],
        "iat": issued,
        "nbf": issued,
        "exp": issued + seconds,
        "jti": secrets.token_urlsafe(16),
    }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _b64url_decode(text: str) -> bytes | None:
    """The bytes of unpadded base64url ``text`` (RFC 7515 §2), or None when it is not that."""
    if not text.isascii() or any(c not in _B64URL for c in text) or len(text) % 4 == 1:
        return None
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class _Named:
    """A person's certificate's CN and role, once :meth:`Authenticator._named` accepted them."""

    common_name: str
    role: str


@dataclass(frozen=True, slots=True)
class _Verified:
    """What the cache holds for a token whose static checks passed."""

    person: Person
    der: bytes  # the certificate, for the per-request checks
    not_before: float  # nbf minus the allowed clock skew
    expires: float  # exp
    sm2: tuple[SM2Certificate, SM2Certificate] | None = None  # an SM2 person's certificate and its SM2 CA


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Person` (see the module docstring). Thread-safe.

    ``root`` is the consortium directory: its ``consortium.json`` names the member CAs, ``orgs/<org>/msp/crls/``
    holds their CRLs. ``regulator_orgs`` are the orgs with the regulator role (only their people may be
    regulators); ``is_member(org)`` says whether an org is still a member (default: every member of
    ``consortium.json`` is); ``clock`` gives the current time (default: the system clock, UTC); ``trust``, a view
    of the TrustDirectory, makes the chain the source of the member CAs and revoked serials
    (:class:`~network.certificates.CallerAuthenticator`); ``crl_clock`` (monotonic seconds) is the one the CRLs'
    check interval is counted in. A missing or invalid ``consortium.json`` raises :class:`MalformedError`."""

    def __init__(
        self,
        root: Path,
        *,
        regulator_orgs: Collection[str],
        is_member: Callable[[str], bool] | None = None,
        clock: Callable[[], datetime] | None = None,
        cache_size: int = CACHE_SIZE,
        trust: TrustView | None = None,
        crl_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        description = load_description(Path(root))
        self._regulators = regulator_orgs  # asked per token: a collection that follows the chain may grow
        self._firms: dict[str, str] = {m.org: m.name for m in description.members}
        self._clock = clock or _utc_now
        member = is_member

        def status(org: str) -> str | None:
            return "active" if member is None or member(org) else None

        self._certificates = CallerAuthenticator(
            description, Path(root), status, clock=self._clock, cache_size=cache_size, trust=trust, crl_clock=crl_clock
        )
        self._sm2 = _SM2Identities(self._certificates.sm2_identity_cas, status, self._clock)
        self._cache: BoundedCache[str, _Verified | tuple[str, str]] = BoundedCache(cache_size)
        if trust is not None:  # a token refused for its issuer may pass once the chain names a new CA

            def forget(_: object) -> None:
                self._cache = BoundedCache(cache_size)

            trust.subscribe(forget)

    def authenticate(self, authorization: str | None) -> Person:
        """The person whose token is in ``authorization`` (the HTTP header's value, ``Bearer <token>``), or
        :class:`LoginError`."""
        if not authorization:
            raise LoginError("no_credentials", "no credentials: send the header 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise LoginError(
                "no_credentials",
                f"the Authorization header uses the scheme {scheme[:32]!r}; send 'Authorization: Bearer <token>'",
            )
        token = token.strip()
        if not token:
            raise LoginError("no_credentials", "the Authorization header holds no token after 'Bearer'")
        entry = self._cache.get(token)
        if entry is None:
            entry = self._verify(token)
            self._cache.put(token, entry)
        if isinstance(entry, tuple):
            raise LoginError(*entry)
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        at = now.timestamp()
        if at < entry.not_before:
            raise LoginError(
                "token_not_yet_valid", f"the token is not valid before {_iso(entry.not_before + NBF_LEEWAY_S)}"
            )
        if at >= entry.expires:
            raise LoginError("credentials_expired", f"the token expired at {_iso(entry.expires)}; make a new one")
        if entry.sm2 is not None:
            self._sm2.check(*entry.sm2, entry.person.org)
            return entry.person
        try:
            self._certificates.authenticate(entry.der)
        except AuthError as exc:
            raise LoginError(_CERTIFICATE_REASONS.get(exc.reason, "malformed_token"), exc.detail) from None
        return entry.person

    def __len__(self) -> int:
        """How many tokens the cache holds."""
        return len(self._cache)

    # ------------------------------------------------------------------------------------------ helpers

    def _verify(self, token: str) -> _Verified | tuple[str, str]:
        """The checks that depend on the token only: a :class:`_Verified` or ``(reason, detail)``."""
        if len(token) > MAX_TOKEN_CHARS:
            return ("malformed_token", f"the token is longer than {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return ("malformed_token", "the token is not a JWT (three base64url parts separated by dots)")
        alg = header.get("alg")
        if alg not in (ALGORITHM, SM2_ALGORITHM):
            return (
                "bad_signature",
                f"the token's algorithm is {alg!r}; only {ALGORITHM} (ECDSA P-256) and {SM2_ALGORITHM} (SM2) are"
                " accepted",
            )
        if "crit" in header:
            return ("malformed_token", "the token's header has critical extensions ('crit'), which are not supported")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            return ("malformed_token", f"the token's type is {typ!r}, not 'JWT'")
        der = _x5c(header.get("x5c"))
        if isinstance(der, tuple):
            return der
        sm2 = _sm2_certificate(der)
        if alg == SM2_ALGORITHM:
            if sm2 is not None:
                return self._verify_sm2(token, der, sm2)
            try:
                subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            except ValueError:
                return ("malformed_token", "the token's x5c certificate is not an X.509 certificate")
            return (
                "bad_signature",
                f"the token is signed {SM2_ALGORITHM}, but certificate {subject} is not an SM2 certificate"
                f" (an ECDSA P-256 person's token is {ALGORITHM})",
            )
        if sm2 is not None:
            return (
                "bad_signature",
                f"the token is signed {ALGORITHM}, but certificate {sm2.subject} is an SM2 certificate"
                f" (an SM2 person's token is {SM2_ALGORITHM})",
            )

        try:
            self._certificates.authenticate(der)
        except AuthError as exc:
            if exc.reason in _STATIC_CERTIFICATE_REASONS:
                return (_CERTIFICATE_REASONS[exc.reason], exc.detail)
            # Failed on time, revocation or membership: `authenticate` checks those again on every request.
        # The certificate was issued by the CA of member `org`, has OU=org, and is a clientAuth identity.
        cert = x509.load_der_x509_certificate(der)
        org = org_units(cert)[0]
        subject = cert.subject.rfc4514_string()
        common_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        named = self._named(subject, common_names, org, lambda: certificate_role(cert), MalformedError)
        if not isinstance(named, _Named):
            return named
        common_name, role = named.common_name, named.role
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            return ("bad_signature", f"the key of certificate {subject} is not an ECDSA P-256 key")
        try:
            claims: dict[str, Any] = _DECODER.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE)
        except jwt.InvalidSignatureError:
            return ("bad_signature", f"the token's signature does not verify with the key of certificate {subject}")
        except jwt.InvalidAlgorithmError:
            return ("bad_signature", f"only {ALGORITHM} is accepted")
        except jwt.InvalidAudienceError:
            return ("wrong_audience", f"the token is not for the explorer (its aud must be {AUDIENCE!r})")
        except jwt.MissingRequiredClaimError as exc:
            if exc.claim == "aud":
                return ("wrong_audience", f"the token names no audience (its aud must be {AUDIENCE!r})")
            return ("malformed_token", f"the token lacks the claim {exc.claim!r}")
        except jwt.InvalidTokenError as exc:
            return ("malformed_token", f"the token cannot be decoded: {exc}")
        return self._person(claims, der, common_name, org, role, None)

    def _verify_sm2(self, token: str, der: bytes, cert: SM2Certificate) -> _Verified | tuple[str, str]:
        """:meth:`_verify` of an SM2SM3 token carrying the SM2 certificate ``cert``, in the same order: the
        certificate (issuer, identity, role), then the signature and the claims."""
        from network._sm2ca import attributes
        from suite.errors import SM2Error
        from suite.sm2 import DEFAULT_ID

        issued = self._sm2.issuer(cert)
        if isinstance(issued[0], str):
            return issued  # (reason, detail)
        ca, org = issued
        assert isinstance(org, str)
        subject = cert.subject
        named = self._named(
            subject,
            attributes(cert, "common_name"),
            org,
            lambda: certificate_role(x509.load_der_x509_certificate(der)),
            ValueError,  # MalformedError, and a DER cryptography does not read
        )
        if not isinstance(named, _Named):
            return named
        common_name, role = named.common_name, named.role
        parts = token.split(".")
        if len(parts) != 3 or not token.isascii():
            return ("malformed_token", "the token is not a compact JWS (three base64url parts separated by dots)")
        header_part, payload_part, signature_part = parts
        signature = _b64url_decode(signature_part)
        if signature is None or len(signature) != 64:
            return ("bad_signature", "the token's signature is not the 64 bytes r ‖ s of an SM2 signature")
        try:
            cert.public_key.verify(signature, f"{header_part}.{payload_part}".encode("ascii"), DEFAULT_ID)
        except SM2Error:
            return ("bad_signature", f"the token's signature does not verify with the key of certificate {subject}")
        payload = _b64url_decode(payload_part)
        try:
            claims = json.loads(payload) if payload is not None else None
        except (ValueError, RecursionError):
            claims = None
        if not isinstance(claims, dict):
            return ("malformed_token", "the token's claims are not a base64url JSON object")
        for claim in _CLAIMS:
            if claim not in claims:
                if claim == "aud":
                    return ("wrong_audience", f"the token names no audience (its aud must be {AUDIENCE!r})")
                return ("malformed_token", f"the token lacks the claim {claim!r}")
        audience = claims["aud"]
        if not (audience == AUDIENCE or (isinstance(audience, list) and AUDIENCE in audience)):
            return ("wrong_audience", f"the token is not for the explorer (its aud must be {AUDIENCE!r})")
        for claim in ("sub", "jti"):
            if not isinstance(claims[claim], str):
                return ("malformed_token", f"the token's {claim} must be a string")
        return self._person(claims, der, common_name, org, role, (cert, ca))

    def _named(
        self,
        subject: str,
        common_names: list[str],
        org: str,
        read_role: Callable[[], str | None],
        unreadable: type[Exception],
    ) -> _Named | tuple[str, str]:
        """The identity checks both algorithms share, in order: one CN ``<name>@org``, then a role (``read_role``;
        an ``unreadable`` exception is ``no_role``), ``regulator`` only for a regulator org."""
        if len(common_names) != 1 or not common_names[0].endswith(f"@{org}") or common_names[0] == f"@{org}":
            return ("not_an_identity", f"certificate {subject} does not name a person as CN=<name>@{org}")
        try:
            role = read_role()
        except unreadable as exc:
            return ("no_role", str(exc))
        if role is None:
            return (
                "no_role",
                f"certificate {subject} carries no role: it is not a person's identity"
                " (issue one with `consortium user add`)",
            )
        if role == "regulator" and org not in self._regulators:
            return (
                "no_role",
                f"certificate {subject} carries the role 'regulator', but org {org!r} is not a regulator",
            )
        return _Named(common_names[0], role)

    def _person(
        self,
        claims: dict[str, Any],
        der: bytes,
        common_name: str,
        org: str,
        role: str,
        sm2: tuple[SM2Certificate, SM2Certificate] | None,
    ) -> _Verified | tuple[str, str]:
        """The checks of the claims both algorithms share, and the person they log in."""
        if claims["sub"] != common_name:
            return ("malformed_token", f"the token's sub {claims['sub']!r} is not the certificate's {common_name!r}")
        times = {name: claims[name] for name in ("iat", "nbf", "exp")}
        for name, value in times.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return ("malformed_token", f"the token's {name} must be a number of seconds since the epoch")
        issued, not_before, expires = float(times["iat"]), float(times["nbf"]), float(times["exp"])
        if expires <= not_before:
            return ("malformed_token", "the token expires before it becomes valid (exp <= nbf)")
        lifetime = expires - min(issued, not_before)
        if lifetime > MAX_LIFETIME_S:
            return (
                "lifetime_too_long",
                f"the token is valid for {lifetime / 86_400:.1f} days; at most {MAX_LIFETIME_S // 86_400} are accepted",
            )
        name = common_name[: -len(org) - 1]
        person = Person(
            org=org,
            name=name,
            role=role,
            identity=caller_identity(der, SCHEMA_VERSION),
            display_name=f"{name} ({self._firms.get(org, org)})",
            expires_ms=int(expires * 1000),
            identity_sm3=caller_identity(der, SM3_EVENT_VERSION),
        )
        return _Verified(person, der, not_before - NBF_LEEWAY_S, expires, sm2)


class _SM2Identities:
    """The checks of an SM2 person's certificate against the SM2 identity CAs of the members and their CRLs, as
    ``cas`` answers for them (:class:`network.sm2callers.Sm2IdentityCas`, the gateway authenticator's: the
    founders' of ``consortium.json`` and, given a trust view, those the TrustDirectory records)."""

    def __init__(
        self,
        cas: Callable[[], Sm2IdentityCas],
        member_status: Callable[[str], str | None],
        clock: Callable[[], datetime],
    ) -> None:
        self._cas = cas
        self._member_status = member_status
        self._clock = clock

    def issuer(self, cert: SM2Certificate) -> tuple[SM2Certificate, str] | tuple[str, str]:
        """``(CA, org)`` when the SM2 identity CA of the member that ``cert`` names (its one ``OU``) issued it and
        it is a client identity with a path to that CA (:func:`suite.x509.verify_chain`, at the first instant both
        are valid: the clock is looked at on every request), else ``(reason, detail)``."""
        from network._sm2ca import attributes
        from suite.errors import PathValidationError
        from suite.x509 import verify_chain

        subject = cert.subject
        units = attributes(cert, "organizational_unit_name")
        if len(units) != 1:
            return ("unknown_issuer", f"certificate {subject} names no single org (one OU)")
        org = units[0]
        cas = self._cas()
        candidates = cas.candidates(org)
        if not candidates:
            return (
                "unknown_issuer",
                f"certificate {subject} claims org {org!r}, which has no SM2 identity CA in consortium.json"
                + ("" if cas.trust is None else " nor on chain"),
            )
        named = [c for c in candidates if c.subject_der == cert.issuer_der]
        if not named:
            return ("unknown_issuer", f"certificate {subject} was not issued by the SM2 identity CA of org {org!r}")
        ca = next((c for c in named if _issued_by(cert, c)), None)
        if ca is None:
            return (
                "unknown_issuer",
                f"certificate {subject} was not issued by the SM2 identity CA of org {org!r} (its signature does"
                " not verify)",
            )
        if cert.is_ca:
            return ("not_an_identity", f"certificate {subject} is a CA certificate, not a person's")
        if cert.ext_key_usage is not None and "client_auth" not in cert.ext_key_usage:
            return ("not_an_identity", f"certificate {subject} is not for client authentication")
        start, end = max(cert.not_before, ca.not_before), min(cert.not_after, ca.not_after)
        if start > end:
            return ("certificate_expired", f"certificate {subject} is not valid while its CA is")
        try:
            verify_chain(cert.der, [], [ca.der], at=start, usage="client")
        except PathValidationError as exc:
            return ("unknown_issuer", f"certificate {subject} has no path to the SM2 CA of org {org!r}: {exc}")
        return (ca, org)

    def check(self, cert: SM2Certificate, ca: SM2Certificate, org: str) -> None:
        """The per-request checks of an SM2 person's certificate: validity (its and its CA's) at the clock's
        instant, its CA trusted now (:meth:`~network.sm2callers.Sm2IdentityCas.trusted_now`), the org's SM2 CRL
        (fail closed), membership; :class:`LoginError` says which failed."""
        cas = self._cas()
        untrusted = cas.trusted_now(ca, org)
        if untrusted is not None:
            raise LoginError("unknown_issuer", f"{untrusted}: certificate {cert.subject} is no longer accepted")
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        for checked, what in ((cert, f"certificate {cert.subject}"), (ca, f"the SM2 CA certificate of org {org}")):
            if now < checked.not_before:
                raise LoginError("certificate_expired", f"{what} is not valid before {checked.not_before.isoformat()}")
            if now > checked.not_after:
                raise LoginError("certificate_expired", f"{what} expired at {checked.not_after.isoformat()}")
        crl_file = cas.crl(org, ca)
        if crl_file is not None:
            crl = crl_file.current()
            if crl.error is not None:
                raise LoginError(
                    "certificate_revoked", f"the revocation status of {cert.subject} cannot be checked: {crl.error}"
                )
            if cert.serial in crl.revoked:
                raise LoginError(
                    "certificate_revoked",
                    f"certificate {cert.subject} (serial {cert.serial:#x}) is revoked by org {org}",
                )
        if self._member_status(org) is None:
            raise LoginError("unknown_member", f"org {org!r} is not a member of the consortium on chain")


def _issued_by(cert: SM2Certificate, ca: SM2Certificate) -> bool:
    from suite.errors import SM2Error
    from suite.sm2 import DEFAULT_ID

    try:
        ca.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)
    except SM2Error:
        return False
    return True


def _sm2_certificate(der: bytes) -> SM2Certificate | None:
    """``der`` as an SM2 certificate of the profile, or None (a P-256 certificate, garbage)."""
    from suite.errors import SuiteError
    from suite.x509 import Certificate

    try:
        return Certificate.from_der(der)
    except SuiteError:
        return None


def _x5c(value: object) -> bytes | tuple[str, str]:
    """The DER of the one certificate in the ``x5c`` header (RFC 7515: standard base64 of DER), or a failure."""
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str):
        return ("malformed_token", "the token's header must carry the certificate as x5c: [base64 DER]")
    if len(value[0]) > MAX_TOKEN_CHARS:
        return ("malformed_token", "the token's certificate is too large")
    try:
        return base64.b64decode(value[0], validate=True)
    except (binascii.Error, ValueError):
        return ("malformed_token", "the token's x5c certificate is not base64")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
