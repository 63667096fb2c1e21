"""Who reads the log: the credentials of the notary's read API, and the rule of what each reader may read.

Two kinds of credentials, both made from keys and certificates the consortium already has:

- **A service signs its request** with a key the notary already knows from the consortium description,
  of the consortium's suite (Ed25519 under ``intl``; SM2 with ID ``1234567812345678``, r ‖ s, under ``sm``):
  a gateway key (one per member org; the explorer's audit key is the operator's gateway key, named
  ``<operator>/explorer``) or a witness key (named ``<org>/witness``). Three headers:
  ``Consortium-Reader: <org>/<name>``, ``Consortium-Read-Time: <unix seconds>`` and
  ``Consortium-Read-Signature: <base64 signature>`` over
  ``consortium-ledger/read/v1\\n`` ‖ time ‖ ``\\n`` ‖ method ‖ `` `` ‖ path (with its query). The notary
  refuses a time more than :data:`MAX_SKEW_S` seconds from its clock, so a captured signature replays only
  the same read, for two minutes at most (reads change nothing; the answer is what the capture already saw).
- **A person sends** ``Authorization: Bearer <login token>``, the explorer's login token
  (``network.logins``: ES256 JWT, x5c chained to a member's CA). The notary does not import ``network``; the
  check is a function handed in by whoever builds the notary (``network.logsetup``), returning the person's
  org and whether the person is a regulator.
- **A member presents its client certificate** (mutual TLS, a notary served over HTTPS): an identity
  certificate of a member's CA, as a gateway's callers present (``network.certificates.CallerAuthenticator``:
  issuer, clientAuth, validity, the org's CRL). The TLS layer hands the certificate to the app
  (``notary.api.tlspeer``, the ASGI TLS extension's ``client_cert_chain``); the check is again a function
  handed in (``network.logsetup``), returning the certificate's name, its org and whether it reads as a
  regulator (a person's certificate with the ``regulator`` role, or one without a role, a service's, of a
  regulator org). Credentials sent in headers take precedence over the certificate.

The rule (:meth:`Reader.may_read_event`, :meth:`Reader.may_read_bundles`, :meth:`Reader.may_read_gateway`):

- an event's entry, receipt, evidence and inclusion proof by event id: its parties (``caller_org`` and
  ``provider_org``; for an explorer query event only the querying firm, not the operator that records it, and,
  under the consortium's ``audit`` policy, the firms whose data a regulator's query read: ``notary.event.parties``
  with the reader's :class:`~notary.event.QueryVisibility`), regulators and trusted readers; anyone else gets 404
  exactly like a missing event;
- the listing of events (``/v1/events``): each reader its own org's events (the parties as above); regulators
  and trusted readers every org's or a named one's; another org's 403;
- entry bundles (``/tile/entries/...``, many firms' entries): regulators and trusted readers only (403);
- a gateway's sequence gaps and last sequence number (``/v1/gaps``): the gateway's own org (its services and
  people), regulators and trusted readers; the gateways of other orgs are left out of the answer, as if they did
  not exist (their count, the traffic of each, and when each lost events are that org's business);
- hash tiles, checkpoints, anchors, consistency proofs, inclusion proofs by index and alarms: every
  authenticated reader (members' services and people, witnesses); without credentials 401;
- resolving an integrity alarm (``POST /v1/alarms/{id}/resolve``, the one write of a reader): the operator's
  readers only (:meth:`Reader.may_resolve_alarms`: a service signing with the gateway key of an org named in
  ``operators``, a person of such an org, or its client certificate; never a witness key, never another org, a
  regulator's included); 403 for anyone else;
- the operations figures (``/healthz`` beyond liveness, ``/metrics``): every authenticated reader, and the
  consortium's monitoring (Prometheus, the alarm evaluator of ``consortium up``) with the monitor token, a bearer
  token that opens nothing else; ``/healthz`` without credentials answers liveness only.

Trusted readers are named services (the explorer, ``<operator>/explorer``): it indexes the whole log and
filters per person itself; that is a stated trust in the operator. A gateway key is one per org, so the trust is
in the org's key, not in one process of the org.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from notary.errors import NotaryError
from notary.event import QueryVisibility
from notary.keycache import ParsedKeys
from notary.keyswitch import KeySwitch
from suite.errors import SM2Error
from suite.sm2 import SM2PrivateKey, SM2PublicKey

#: A service's key: Ed25519 (``intl``) or SM2 (``sm``); both sign with ``key.sign(message)``.
ReaderKey = Ed25519PrivateKey | SM2PrivateKey
_SM2_POINT_SIZE = 65

log = logging.getLogger("notary.readauth")

READ_CONTEXT = b"consortium-ledger/read/v1\n"
MAX_SKEW_S = 120
READER_HEADER = "Consortium-Reader"
TIME_HEADER = "Consortium-Read-Time"
SIGNATURE_HEADER = "Consortium-Read-Signature"
WITNESS_NAME = "witness"  # <org>/witness signs with the org's witness key

#: A person's login check: the ``Authorization`` header → (org, is regulator), or (org, is regulator, the person's
#: name for the record of what they did, ``<name>@<org>``); raises ``UnauthenticatedError``.
PersonCheck = Callable[[str], tuple[str, bool] | tuple[str, bool, str]]
#: A member's client certificate check: the PEM certificate the TLS layer received → (name, org, is regulator);
#: raises ``UnauthenticatedError``.
CertificateCheck = Callable[[str], tuple[str, str, bool]]


class UnauthenticatedError(NotaryError):
    """A read came without credentials, or with credentials that do not verify (HTTP 401)."""


class ForbiddenReadError(NotaryError):
    """An authenticated reader asked for what the rule keeps from it (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Reader:
    """An authenticated reader: ``name`` is ``<org>/<service>`` or ``person@<org>``; ``visibility``, the
    consortium's policy on query events that the parties of an event are computed under."""

    name: str
    org: str
    regulator: bool = False
    trusted: bool = False
    visibility: QueryVisibility = field(default_factory=QueryVisibility)
    operator: bool = False  # of an org that runs the notary: it may resolve alarms
    person: str | None = None  # a person's ``<name>@<org>``, when the login check names them

    @property
    def who(self) -> str:
        """Who this is, for the record of what they did (an alarm's ``resolved_by``)."""
        return self.person or self.name

    def may_resolve_alarms(self) -> bool:
        return self.operator

    def may_read_event(self, parties: Collection[str]) -> bool:
        """``parties``: the event's firms (``notary.event.parties``)."""
        return self.regulator or self.trusted or self.org in parties

    def may_read_bundles(self) -> bool:
        return self.regulator or self.trusted

    def may_read_gateway(self, gateway_org: str) -> bool:
        """Whether the reader sees the gaps and last sequence number of a gateway run by ``gateway_org``."""
        return self.regulator or self.trusted or self.org == gateway_org


def signed_message(timestamp: str, method: str, target: str) -> bytes:
    """The bytes a service signs: context, time, method and path with query."""
    return READ_CONTEXT + f"{timestamp}\n{method.upper()} {target}".encode()


def sign_read(reader: str, key: ReaderKey, method: str, target: str, now: float) -> dict[str, str]:
    """The headers of a read of ``target`` (path and query) signed by ``reader`` with ``key`` at ``now``."""
    timestamp = str(int(now))
    signature = key.sign(signed_message(timestamp, method, target))
    return {
        READER_HEADER: reader,
        TIME_HEADER: timestamp,
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
    }


class SignedReads(httpx.Auth):
    """httpx authentication that signs every request as ``reader`` (give it as ``auth=`` to a client).

    With ``next_key`` (``network.gatewaykeys.following_gateway_key``: a rotated key once the chain says it is
    valid, None until then), each read is signed with the key it gives, once it gives one, else with the last key
    it gave (``key`` until then). The notary follows the chain on its own: a read under the new key it refuses
    (401) because its view has not reached the block the key is valid from is signed again at once with the
    previous key, still valid then, until the notary has taken one read under the new key
    (``notary.keyswitch.KeySwitch``, as the shipper's batches do)."""

    def __init__(
        self,
        reader: str,
        key: ReaderKey,
        clock: Callable[[], float] = time.time,
        *,
        next_key: Callable[[], ReaderKey | None] | None = None,
    ) -> None:
        self.reader = reader
        self._clock = clock
        self._keys = KeySwitch(key, next_key, signer=reader, signs="reads")

    @property
    def key(self) -> ReaderKey:
        """The key reads are signed with now (``key`` until a switch)."""
        return self._keys.key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = request.url.raw_path.decode("ascii")
        key, previous = self._keys.signing()
        request.headers.update(sign_read(self.reader, key, request.method, target, self._clock()))
        response = yield request
        if previous is None:
            return
        if response.status_code != 401:
            self._keys.taken(key)  # the notary took the new key: no falling back any more
            return
        log.info("the notary does not take the new key of %s yet; this read signed with the previous one", self.reader)
        request.headers.update(sign_read(self.reader, previous, request.method, target, self._clock()))
        yield request


class ReadAccess:
    """The notary's check of readers' credentials.

    ``gateway_keys``: org → raw public key of its gateways (a service ``<org>/<name>`` signs with it), or
    a source of the keys valid now asked at every read (:meth:`follow_gateway_keys`, the chain's);
    ``witness_keys``: org → raw witness key (``<org>/witness``), each a 32-byte Ed25519 key or a 65-byte SM2
    point; ``regulators``: orgs whose services are
    regulators; ``trusted``: service names that may read everything (the explorer); ``people``: the check of
    a person's ``Authorization`` header, or ``None`` to accept no people; ``monitor_token``: the bearer token
    of the consortium's monitoring, which reads the operations figures and nothing else (``None``: no monitor);
    ``subjects_see_regulator``: the ``audit`` policy ``regulator_queries_visible_to_subject``; ``query_regulators``:
    whose queries that rule takes for a regulator's (default: ``regulators``; the orgs holding the role, a removed
    one too, from ``network.logsetup.query_regulators``); ``certificates``: the
    check of a member's client certificate (mutual TLS), or ``None`` to accept none; ``operators``: the orgs that
    run the notary, whose readers (not their witness keys) may resolve its alarms."""

    def __init__(
        self,
        gateway_keys: Mapping[str, bytes],
        witness_keys: Mapping[str, bytes],
        regulators: Collection[str],
        trusted: Collection[str],
        people: PersonCheck | None = None,
        clock: Callable[[], float] = time.time,
        monitor_token: str | None = None,
        subjects_see_regulator: bool = False,
        certificates: CertificateCheck | None = None,
        operators: Collection[str] = (),
        query_regulators: Collection[str] | None = None,
    ) -> None:
        self._operators = frozenset(operators)
        self._gateway = {org: _reader_public_key(k) for org, k in gateway_keys.items()}
        self._gateway_source: Callable[[str], Sequence[bytes]] | None = None
        self._loaded = ParsedKeys(_reader_public_key, (ValueError, SM2Error))
        self._witness = {org: _reader_public_key(k) for org, k in witness_keys.items()}
        self._regulators = regulators  # asked at each read: one that follows the chain may grow
        self._query_regulators = regulators if query_regulators is None else query_regulators
        self._subjects_see_regulator = subjects_see_regulator
        self._trusted = frozenset(trusted)
        self._people = people
        self._certificates = certificates
        self._clock = clock
        self._monitor = None if monitor_token is None else f"Bearer {monitor_token}".encode()

    @property
    def visibility(self) -> QueryVisibility:
        """The query visibility rule under the regulators' queries: asked once per authenticated read, so one that
        follows the chain (``network.logsetup.query_regulators``, its set kept per snapshot) counts a regulator
        admitted later, and still one removed since, with no chain read per event."""
        return QueryVisibility(frozenset(self._query_regulators), self._subjects_see_regulator)

    @property
    def accepts_certificates(self) -> bool:
        """Whether a member's client certificate (mutual TLS) is a credential here."""
        return self._certificates is not None

    def authenticate_operations(
        self, method: str, target: str, headers: Mapping[str, str], client_cert: str | None = None
    ) -> None:
        """Whether a request may read the operations figures: the monitor token, or any reader's credentials
        (:meth:`authenticate`, a client certificate among them); ``UnauthenticatedError`` otherwise."""
        authorization = headers.get("Authorization")
        if (
            self._monitor is not None
            and authorization is not None
            and hmac.compare_digest(authorization.encode("utf-8", "replace"), self._monitor)
        ):
            return
        self.authenticate(method, target, headers, client_cert)

    def follow_gateway_keys(self, source: Callable[[str], Sequence[bytes]]) -> None:
        """Take the gateway keys from ``source`` (org → the raw keys valid now) at every read from now on: a
        read signed with any of them is accepted (``network.trust.GatewayKeySource`` follows the chain)."""
        self._gateway_source = source

    def _gateway_keys(self, org: str) -> list[Ed25519PublicKey | SM2PublicKey]:
        if self._gateway_source is None:
            key = self._gateway.get(org)
            return [] if key is None else [key]
        return self._loaded.of(self._gateway_source(org))  # a key this notary cannot read verifies nothing

    def authenticate(
        self, method: str, target: str, headers: Mapping[str, str], client_cert: str | None = None
    ) -> Reader:
        """The reader of a request with ``headers`` (a case-insensitive mapping, as the server's) and, over mutual
        TLS, the PEM ``client_cert`` it presented; or ``UnauthenticatedError`` saying what is missing or wrong."""
        reader = headers.get(READER_HEADER)
        if reader is not None:
            return self._service(reader, method, target, headers)
        authorization = headers.get("Authorization")
        if authorization is not None:
            if self._people is None:
                raise UnauthenticatedError("this notary accepts no login tokens; sign the request as a service")
            found = self._people(authorization)
            org, regulator = found[0], found[1]
            person = found[2] if len(found) > 2 else None
            return Reader(
                f"person@{org}", org, regulator=regulator, visibility=self.visibility,
                operator=org in self._operators, person=person,
            )  # fmt: skip
        if client_cert is not None:
            if self._certificates is None:
                raise UnauthenticatedError("this notary accepts no client certificates; send a login token")
            name, org, regulator = self._certificates(client_cert)
            return Reader(name, org, regulator=regulator, visibility=self.visibility, operator=org in self._operators)
        certificate = ", or present a member's client certificate" if self._certificates is not None else ""
        raise UnauthenticatedError(
            "the log is read by members and witnesses only: send Authorization: Bearer <login token>, or sign "
            f"the request ({READER_HEADER}, {TIME_HEADER}, {SIGNATURE_HEADER}) with a gateway or witness key"
            f"{certificate}"
        )

    def _service(self, reader: str, method: str, target: str, headers: Mapping[str, str]) -> Reader:
        org, slash, name = reader.partition("/")
        if not slash or not org or not name:
            raise UnauthenticatedError(f"{READER_HEADER} must be <org>/<name>, not {reader[:80]!r}")
        witness = self._witness.get(org)
        keys = ([] if witness is None else [witness]) if name == WITNESS_NAME else self._gateway_keys(org)
        if not keys:
            kind = "witness" if name == WITNESS_NAME else "gateway"
            raise UnauthenticatedError(f"reader {reader!r}: org {org!r} has no {kind} key in the consortium")
        timestamp = headers.get(TIME_HEADER) or ""
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise UnauthenticatedError(f"{TIME_HEADER} must be the request's time in unix seconds")
        skew = abs(self._clock() - int(timestamp))
        if skew > MAX_SKEW_S:
            raise UnauthenticatedError(
                f"{TIME_HEADER} is {skew:.0f} s from the notary's clock (at most {MAX_SKEW_S} s): sign each "
                "request when it is sent, and check the clock"
            )
        encoded = headers.get(SIGNATURE_HEADER) or ""
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if not any(_verifies(key, signature, signed_message(timestamp, method, target)) for key in keys):
            raise UnauthenticatedError(
                f"{SIGNATURE_HEADER} does not verify with the key of {reader!r} over this method, path and time"
            )
        return Reader(
            reader, org, regulator=org in self._regulators, trusted=reader in self._trusted, visibility=self.visibility,
            operator=org in self._operators and name != WITNESS_NAME,
        )  # fmt: skip


def _verifies(key: Ed25519PublicKey | SM2PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except (ValueError, InvalidSignature, SM2Error):
        return False
    return True


def _reader_public_key(raw: bytes) -> Ed25519PublicKey | SM2PublicKey:
    """A reader's public key from its raw bytes: a 65-byte SM2 point or a 32-byte Ed25519 key. Both verify with
    ``verify(signature, message)`` and raise on a bad signature (SM2 under the profile's ID, its default)."""
    if len(raw) == _SM2_POINT_SIZE:
        return SM2PublicKey.from_bytes(raw)
    return Ed25519PublicKey.from_public_bytes(raw)
