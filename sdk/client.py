"""The member SDK: call a provider's gateway over mutual TLS, fetch the call's receipt and evidence, verify it.

A member firm's developer holds an identity certificate issued by the firm's consortium CA
(``consortium identity issue``) and its encrypted key, and the consortium's public description
(``consortium.json``). Every call to a shared service goes through the provider's gateway, which checks the
certificate and the on-chain grant, forwards or denies, and records the call in the notary's log. The gateway's
answer names the event (``Consortium-Event-Id``); with it the caller fetches the notary's signed receipt and,
once a witnessed checkpoint covers the event, an evidence bundle that anyone can check offline::

    import json
    from pathlib import Path
    from network.description import load_description
    from sdk import MemberClient

    directory = Path("consortium")
    with MemberClient.from_directory(directory, "jinghua-sec", name="analyst", passphrase=b"...",
                                     notary_url="http://127.0.0.1:8546") as client:
        result = client.call("https://127.0.0.1:9443", "GET", "/v1/news/latest", purpose="research",
                             params={"limit": 20})
        if result.denial_reason:                            # refused: e.g. no_grant, quota_exhausted
            print("denied:", result.denial_reason)
        elif result.upstream_failure:                       # allowed, but the provider's service failed
            print("not answered:", result.status, result.upstream_failure)   # e.g. 503 circuit_open
        news = result.json()
        receipt = client.receipt(result.event_id)           # the notary's signed promise: sequenced, durable
        print(receipt.index, receipt.time_ms)               # an EvidenceReceipt: typed fields, receipt.to_json()
        bundle = client.evidence(result.event_id)           # waits for a published, cosigned checkpoint
        report = client.verify(bundle, load_description(directory))   # offline; raises VerificationFailedError
        print(report.to_text())
        Path("bundle.json").write_text(json.dumps(bundle.to_json()))   # for `consortium verify evidence`

The same certificate files work with any HTTP client that speaks mutual TLS. With curl (the key is encrypted
with the consortium passphrase; ``ca-bundle.pem`` is every member's CA certificate, which
:meth:`MemberClient.from_directory` writes into the consortium directory)::

    curl --cert orgs/jinghua-sec/users/analyst@jinghua-sec/msp/signcerts/cert.pem \\
         --key orgs/jinghua-sec/users/analyst@jinghua-sec/msp/keystore/key.pem --pass "$PASS" \\
         --cacert ca-bundle.pem -H 'Consortium-Purpose: research' -i https://localhost:9443/v1/news/latest

and with requests (which cannot pass a key password: give it a decrypted copy of the key, kept private, or use
an ``ssl.SSLContext`` through an adapter)::

    requests.get("https://localhost:9443/v1/news/latest", cert=("cert.pem", "key-decrypted.pem"),
                 verify="ca-bundle.pem", headers={"Consortium-Purpose": "research"})

The event id is in the response header ``Consortium-Event-Id``; ``curl http://NOTARY/v1/receipts/<id>`` and
``curl http://NOTARY/v1/evidence/<id>`` fetch the receipt and the bundle (from a notary that authenticates reads,
with ``-H "Authorization: Bearer $(consortium user token ...)"``), and
``consortium verify evidence bundle.json --consortium consortium.json`` checks it.

Errors: every expected failure raises an :class:`SdkError` subclass, never a bare httpx error:
:class:`ConfigurationError` (unreadable certificate or key, wrong passphrase, no notary URL),
:class:`TransportError` (a gateway or notary that cannot be reached, or a TLS handshake the server refused; its
subclass :class:`AnswerCutOffError` for an answer whose connection broke after its status line and headers),
:class:`NotaryResponseError` (the notary answered something other than the document or "not yet"),
:class:`NotReceiptedError` and :class:`EvidenceNotReadyError` (still missing after the wait) and
:class:`VerificationFailedError` (carrying the :class:`VerificationReport`). A denial by the gateway is not an
exception: :meth:`MemberClient.call` returns the :class:`CallResult` (status 401, 403, 409, 413, 429 or 503, with
:attr:`CallResult.denial_reason`, which the gateway also sends as ``Consortium-Denial-Reason``);
:meth:`CallResult.raise_for_denial` turns it into :class:`CallDeniedError`. The service's own answers of those
statuses are no denial: the gateway drops every ``Consortium-*`` header a service answers with. Nor is a call the
grant allowed but the provider's service did not answer: the gateway's 502
``upstream_unreachable``, 504 ``upstream_timeout`` or 503 ``circuit_open`` (and 502 ``psi_record_mismatch``) is
:attr:`CallResult.upstream_failure`, not a denial, as its event in the log says (decision ``allow``, with the
status; ``docs/gateway.md``).
"""

from __future__ import annotations

import json as jsonlib
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import httpx

from chain.backend import ClientTls, reloading_client_context
from chain.ids import OrgId
from chain.tlsclient import tls_client
from chain.tlsfiles import ReloadingContext
from gateway.headers import EVENT_HEADER, GATEWAY_HEADER, ORIGIN_HEADER, PURPOSE_HEADER, REASON_HEADER, TRACE_HEADER
from network.certificates import ca_bundle_pem
from network.description import ConsortiumDescription, load_description
from network.gatewaykeys import rereading_gateway_key
from network.identity import OrgPaths
from network.witnesskeys import ChainWitnessKeys
from notary.bundle import EvidenceBundle, EvidenceReceipt, Pending
from notary.errors import MalformedError
from notary.readauth import SignedReads
from notary.tracecontext import is_well_formed, new_traceparent
from notary.verify import Step, TrustRoots, passed, verify_evidence, verify_evidence_json

if TYPE_CHECKING:
    from sdk.disclosure import DisclosureReport

__all__ = [
    "CA_BUNDLE_NAME",
    "AnswerCutOffError",
    "CallDeniedError",
    "CallResult",
    "ConfigurationError",
    "EvidenceNotReadyError",
    "MemberClient",
    "NotReceiptedError",
    "NotaryResponseError",
    "SdkError",
    "TransportError",
    "VerificationFailedError",
    "VerificationReport",
    "ca_bundle_pem",
    "new_traceparent",
    "parse_receipt",
    "write_ca_bundle",
]

#: The file :meth:`MemberClient.from_directory` writes in the consortium directory: every member's CA certificate.
CA_BUNDLE_NAME: Final = "ca-bundle.pem"
#: Statuses of a gateway's denial, a JSON body ``{"error", "reason", "detail", "event_id"}`` with the reason also in
#: ``Consortium-Denial-Reason``: 401 (authentication), 403 (the grant, the member, the purpose...), 413
#: (``body_too_large``), 429 (``too_many_in_flight``, ``Retry-After``) and 503 (the chain, the outbox). The same
#: statuses from the provider's service are its own answers: they carry no such header (the gateway drops every
#: ``Consortium-*`` header of an answer it passes on).
DENIAL_STATUSES: Final = frozenset({401, 403, 409, 413, 429, 503})
#: The reasons of a gateway's own 502, 503 or 504 for a call its grant allowed but the provider's service did not
#: answer (or, for a PSI record step, answered with something else than the record): not denials. The event says
#: so: decision ``allow``, no denial reason, and this status (``docs/gateway.md``, "Authorisation").
UPSTREAM_FAILURES: Final = frozenset(
    {"upstream_unreachable", "upstream_timeout", "circuit_open", "psi_record_mismatch"}
)
#: Poll interval of :meth:`MemberClient.receipt` and :meth:`MemberClient.evidence`: doubles up to the maximum.
POLL_FIRST_S: Final = 0.05
POLL_MAX_S: Final = 1.0
#: How often, at most, a client following the chain's member CAs (``from_directory(..., follow_chain=True)``) asks
#: its view whether they changed, before a call (seconds of its clock).
CHAIN_CAS_INTERVAL_S: Final = 1.0


# -- errors ---------------------------------------------------------------------------------------------------------


class SdkError(Exception):
    """Base of every error the SDK raises for an expected failure."""


class ConfigurationError(SdkError):
    """The client cannot be set up as asked: a missing or unreadable file, a wrong passphrase, no notary URL."""


class TransportError(SdkError):
    """A gateway or the notary could not be reached, timed out, or refused the TLS handshake."""


class AnswerCutOffError(TransportError):
    """The gateway's answer began (its status line and headers arrived) and its connection broke before the body's
    end: a provider's service that stopped while the gateway passed its answer on, or a connection lost on the way.
    ``status`` and ``event_id`` are those the headers gave (the call's event in the log: the gateway records the
    call, with the status it saw, whatever became of the answer)."""

    def __init__(self, message: str, status: int, event_id: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.event_id = event_id


class NotaryResponseError(SdkError):
    """The notary answered with an unexpected status (neither the document nor "not yet": 404)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotReceiptedError(SdkError):
    """The notary has no receipt for the event after the wait: the gateway has not shipped it (yet)."""

    def __init__(self, event_id: str, waited_s: float) -> None:
        super().__init__(
            f"the notary has no receipt for event {event_id!r} after {waited_s:.1f} s: the provider's gateway has "
            "not shipped it yet (it ships within seconds while the notary is reachable), or the id is wrong"
        )
        self.event_id = event_id
        self.waited_s = waited_s


class EvidenceNotReadyError(SdkError):
    """The evidence bundle is not complete enough after the wait: ``bundle`` is the bundle so far (None when the
    notary does not know the event yet) and ``pending`` its parts still missing, each with the notary's reason."""

    def __init__(self, event_id: str, waited_s: float, bundle: EvidenceBundle | None) -> None:
        if bundle is None:
            reasons = "entry: the notary does not know the event yet (not shipped?)"
        else:
            reasons = "; ".join(f"{p.part}: {p.reason}" for p in bundle.pending) or "no reason given"
        super().__init__(f"evidence of event {event_id!r} not ready after {waited_s:.1f} s ({reasons})")
        self.event_id = event_id
        self.waited_s = waited_s
        self.bundle = bundle
        self.pending: tuple[Pending, ...] = () if bundle is None else bundle.pending


class VerificationFailedError(SdkError):
    """An evidence bundle, or a disclosure (``sdk.disclosure``), failed verification; ``report`` names each check
    and why it failed: a :class:`VerificationReport`, or a ``sdk.disclosure.DisclosureReport`` with ``message``."""

    def __init__(self, report: VerificationReport | DisclosureReport, message: str | None = None) -> None:
        if message is None:
            failed = "; ".join(f"{s.name}: {s.detail}" for s in report.steps if s.ok is False)
            event_id = report.event_id if isinstance(report, VerificationReport) else None
            message = f"evidence of event {event_id!r} does NOT verify: {failed}"
        super().__init__(message)
        self.report = report


class CallDeniedError(SdkError):
    """A call the gateway denied (401, 403, 409, 413, 429 or 503; raised by :meth:`CallResult.raise_for_denial`)."""

    def __init__(self, result: CallResult) -> None:
        super().__init__(
            f"call denied with {result.status}: {result.denial_reason or 'no reason given'}"
            + (f" ({result.denial_detail})" if result.denial_detail else "")
            + (f", event {result.event_id}" if result.event_id else "")
        )
        self.result = result


# -- results --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallResult:
    """A gateway's answer: status, headers and body, and the audit headers the gateway added."""

    status: int
    headers: httpx.Headers
    content: bytes
    event_id: str | None
    log_origin: str | None
    gateway_id: str | None
    traceparent: str | None

    @classmethod
    def from_response(cls, response: httpx.Response) -> CallResult:
        """Read a (fully read) httpx response."""
        headers = response.headers
        return cls(
            status=response.status_code,
            headers=headers,
            content=response.content,
            event_id=headers.get(EVENT_HEADER) or None,
            log_origin=headers.get(ORIGIN_HEADER) or None,
            gateway_id=headers.get(GATEWAY_HEADER) or None,
            traceparent=headers.get(TRACE_HEADER) or None,
        )

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON (raises ``ValueError`` if it is not JSON)."""
        return jsonlib.loads(self.content)

    def _gateway_answer(self) -> Mapping[str, Any] | None:
        if self.status not in DENIAL_STATUSES and self.status not in (502, 504):
            return None
        try:
            body = jsonlib.loads(self.content)
        except (ValueError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    def _denial(self) -> Mapping[str, Any] | None:
        body = self._gateway_answer()
        if body is None or self.status not in DENIAL_STATUSES or body.get("reason") in UPSTREAM_FAILURES:
            return None
        if self.headers.get(REASON_HEADER) != body.get("reason"):  # the service's own 401, 403, 409, 413, 429 or 503
            return None
        return body

    @property
    def upstream_failure(self) -> str | None:
        """The reason code of the gateway's 502, 503 or 504 for a call the grant allowed but the provider's service
        did not answer (:data:`UPSTREAM_FAILURES`: ``upstream_unreachable``, ``upstream_timeout``,
        ``circuit_open``, ``psi_record_mismatch``), else None (the service's own 5xx answers included). Such a
        call is no denial: its event records it allowed, with this status."""
        if self.status not in (502, 503, 504):
            return None
        reason = (self._gateway_answer() or {}).get("reason")
        return reason if isinstance(reason, str) and reason in UPSTREAM_FAILURES else None

    @property
    def denial_reason(self) -> str | None:
        """The reason code of the gateway's denial (:data:`DENIAL_STATUSES`: ``no_grant``, ``certificate_expired``,
        ``too_many_in_flight``, ...), else None: the service's own answers, and a 503 ``circuit_open`` (an
        :attr:`upstream_failure`)."""
        reason = (self._denial() or {}).get("reason")
        return reason if isinstance(reason, str) else None

    @property
    def denial_detail(self) -> str | None:
        """The gateway's sentence explaining a denial, else None."""
        detail = (self._denial() or {}).get("detail")
        return detail if isinstance(detail, str) else None

    def raise_for_denial(self) -> CallResult:
        """Raise :class:`CallDeniedError` for the gateway's denial (:attr:`denial_reason` set: a 401, 403, 413, 429
        or 503 of the gateway, not an :attr:`upstream_failure` nor the service's own answer); return ``self``
        otherwise."""
        if self.denial_reason is not None:
            raise CallDeniedError(self)
        return self


class StepsReport:
    """What a report of named checks (``notary.verify.Step``, in order: ``steps``) answers about them, for the
    evidence's :class:`VerificationReport` and a disclosure's ``sdk.disclosure.DisclosureReport``."""

    if TYPE_CHECKING:

        @property
        def steps(self) -> tuple[Step, ...]: ...

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the steps that failed."""
        return tuple(s.name for s in self.steps if s.ok is False)

    @property
    def pending(self) -> tuple[str, ...]:
        """The names of the steps that are pending, not applicable or not made."""
        return tuple(s.name for s in self.steps if s.ok is None)

    def step(self, name: str) -> Step:
        """The step called ``name`` (``KeyError`` if there is none)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class VerificationReport(StepsReport):
    """The steps of ``notary.verify.verify_evidence`` on one bundle, as ``consortium verify evidence`` prints them."""

    event_id: str | None
    steps: tuple[Step, ...]
    #: where the witness keys the cosignatures were counted under and the log key the checkpoint was checked under
    #: come from (``CheckpointWitnesses.to_json``: the chain at the anchor's block or the head, or consortium.json
    #: offline); None for trust roots given whole
    witness_keys: Mapping[str, object] | None = None

    @property
    def ok(self) -> bool:
        """True when no step failed (steps that are pending or do not apply do not count against)."""
        return passed(self.steps)

    @property
    def complete(self) -> bool:
        """True when every step passed: nothing pending, the anchor on chain included."""
        return all(s.ok is True for s in self.steps)

    def verdict(self) -> str:
        """Whether the evidence verified, in one line."""
        if not self.ok:
            return f"evidence of {self.event_id!r} does NOT verify: {', '.join(self.failed)}"
        tail = f" ({len(self.pending)} step(s) not applicable or pending)" if self.pending else ""
        return f"evidence of {self.event_id!r} verified{tail}"

    def to_text(self) -> str:
        """One line per step (``✓ name — detail``), then the verdict."""
        return "\n".join([s.to_text() for s in self.steps] + [self.verdict()])


# -- helpers ----------------------------------------------------------------------------------------------------------


def write_ca_bundle(directory: Path, description: ConsortiumDescription) -> Path:
    """Write every member's CA certificate (:func:`ca_bundle_pem`) to ``<directory>/ca-bundle.pem``, atomically
    and only if missing or different: the file curl, requests and this SDK trust the gateways with."""
    bundle = directory / CA_BUNDLE_NAME
    _write_if_changed(bundle, ca_bundle_pem(description))
    return bundle


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader sees the old file or the new one), unless it holds it."""
    data = text.encode("ascii")
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigurationError(f"cannot write the CA bundle {path}: {exc.strerror or exc}") from exc


def _no_password() -> bytes:
    # Given to OpenSSL when no password was: an encrypted key then fails instead of prompting on the terminal.
    return b""


def _client_context(
    cert: Path, key: Path, key_password: bytes | None, ca_bundle: Path, more_cas: Collection[bytes] = ()
) -> ssl.SSLContext:
    """The client's TLS context: its identity presented, the CAs of ``ca_bundle`` trusted, and those of
    ``more_cas`` (DER; one OpenSSL cannot load is left out)."""
    for what, path in (("certificate", cert), ("key", key), ("CA bundle", ca_bundle)):
        if not Path(path).is_file():
            raise ConfigurationError(f"{what} file {path} not found")
    try:  # the identity followed in its file: a CA rotated re-issues it (`identity rotate-ca`), presented from then on
        context = ReloadingContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=str(ca_bundle))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(f"cannot load the CA bundle {ca_bundle}: {exc}") from exc
    for der in more_cas:
        try:
            context.load_verify_locations(cadata=der)
        except ssl.SSLError:  # not a certificate OpenSSL loads: it issued no gateway's certificate it could verify
            continue
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:  # no key_password: b"" to OpenSSL, so an encrypted key fails instead of prompting on the terminal
        context.present(cert, key, key_password)
    except ssl.SSLError as exc:
        hint = "wrong passphrase, or the key does not match the certificate"
        if key_password is None:
            hint = "the key is encrypted and no key_password was given, or it does not match the certificate"
        raise ConfigurationError(f"cannot load the identity {cert} with key {key}: {hint} ({exc.reason})") from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read {cert} or {key}: {exc.strerror or exc}") from exc
    return context


# -- the client -------------------------------------------------------------------------------------------------------


class MemberClient:
    """A member firm's client: gateways over mutual TLS, the notary for receipts and evidence.

    ``cert``/``key``: the member's identity certificate and its key (PEM; the key usually encrypted with
    ``key_password``). ``ca_bundle``: the consortium's member CA certificates, which issue the gateways' server
    certificates. One TLS context and one keep-alive connection pool serve every call; close the client (or
    use it as a context manager) when done. ``notary_url`` is needed only for :meth:`receipt` and
    :meth:`evidence`; an ``https`` notary is checked against the system's CAs and the member CAs, and is shown the
    member's certificate (a notary served over mutual TLS, ``consortium up --notary-tls``, requires one).
    ``notary_auth`` signs the reads of a notary that authenticates them (``notary.readauth.SignedReads`` with
    the org's gateway key; :meth:`from_directory` makes it as ``<org>/sdk``): the notary then answers the
    receipts and evidence of the org's own calls, as caller or provider, and 404 for any other firm's.
    ``clock`` (seconds, monotonic) and ``sleep`` are what :meth:`receipt` and :meth:`evidence` count their
    ``wait_s`` with and pause between polls with (tests pass their own). ``chain_cas``: the member CA certificates
    (DER) valid on chain now, trusted for the gateways' certificates beside ``ca_bundle``'s, asked at most once per
    :data:`CHAIN_CAS_INTERVAL_S` before a call (:meth:`from_directory` with ``follow_chain`` gives it)."""

    def __init__(
        self,
        *,
        cert: Path,
        key: Path,
        key_password: bytes | None,
        ca_bundle: Path,
        notary_url: str | None = None,
        timeout: float = 10.0,
        notary_auth: httpx.Auth | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        chain_cas: Callable[[], Collection[bytes]] | None = None,
    ) -> None:
        self.cert = Path(cert)
        self._clock, self._sleep = clock, sleep
        self.notary_auth = notary_auth
        self.ca_bundle = Path(ca_bundle)
        self.notary_url = notary_url.rstrip("/") if notary_url else None
        self.timeout = timeout
        self._context = _client_context(self.cert, Path(key), key_password, self.ca_bundle)
        self._identity = (self.cert, Path(key), key_password)  # presented to an https notary too
        self._limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)
        self._http = tls_client(self._context, timeout=timeout, limits=self._limits, follow_redirects=False)
        self._notary: httpx.Client | None = None
        #: the member CAs valid on chain now (DER), trusted for gateways' certificates beside ``ca_bundle``'s,
        #: asked at most once per CHAIN_CAS_INTERVAL_S before a call; None: ``ca_bundle``'s alone
        self._chain_cas = chain_cas
        self._trusted: frozenset[bytes] = frozenset()
        self._cas_looked = float("-inf")
        self._cas_lock = threading.Lock()
        self._retired: httpx.Client | None = None  # the gateways' pool of the trust before, closed at the next change
        self._stop_following: Callable[[], None] | None = None

    @property
    def chain_tls(self) -> ClientTls:
        """This client's certificate for a chain node serving its JSON-RPC to members only (``consortium up``'s
        nodes), trusting the member CAs of ``ca_bundle``: ``verify(..., chain_tls=client.chain_tls)`` reads the
        witness and log keys on chain with it."""
        cert, key, password = self._identity
        return ClientTls(cert, key, ca_file=self.ca_bundle, password=password)

    @classmethod
    def from_directory(
        cls,
        directory: Path,
        org: str,
        *,
        name: str,
        passphrase: bytes,
        notary_url: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        follow_chain: bool = False,
        chain_url: str | None = None,
    ) -> MemberClient:
        """The identity ``<name>@<org>`` of a consortium directory (``consortium init`` and
        ``consortium identity issue`` lay it out), trusting the CAs of the members in its ``consortium.json``.

        Writes that CA bundle to ``<directory>/ca-bundle.pem`` (atomically, only if missing or different), so
        that curl or requests can use the same file. ``clock`` and ``sleep``: as for the constructor.

        With ``follow_chain``, the client also trusts, for the gateways' certificates, the member CAs valid on
        chain now, as a view of the TrustDirectory (read through ``chain_url``, else ``consortium.json``'s, with
        this identity's certificate for a node serving members only) follows them while the client lives: a firm
        admitted later is called with no CA file handed over, and a CA retired on chain stops being trusted unless
        the bundle holds it. The bundle file is not changed."""
        from chain.errors import MalformedError

        directory = Path(directory)
        msp = directory / "orgs" / org / "users" / f"{name}@{org}" / "msp"
        cert, key = msp / "signcerts" / "cert.pem", msp / "keystore" / "key.pem"
        if not cert.is_file() or not key.is_file():
            raise ConfigurationError(
                f"no identity {name}@{org} in {directory / 'orgs' / org / 'users'}: issue one with "
                f"`consortium identity issue {org} {name}`"
            )
        try:
            description = load_description(directory)
        except MalformedError as exc:
            raise ConfigurationError(str(exc)) from exc
        bundle = write_ca_bundle(directory, description)
        view = None
        if follow_chain:
            from network.trust import has_directory, trust_view

            url = chain_url or description.chain_url
            if not has_directory(description) or not url:
                raise ConfigurationError(
                    f"follow_chain: {directory / 'consortium.json'} names no TrustDirectory or no chain URL"
                )
            tls = ClientTls(cert, key, ca_file=bundle, password=passphrase) if url.startswith("https://") else None
            view = trust_view(description, url, tls=tls)
            view.start(require=False)  # read in the background: the bundle's CAs alone until it has
        client = cls(
            cert=cert,
            key=key,
            key_password=passphrase,
            ca_bundle=bundle,
            notary_url=notary_url,
            timeout=timeout,
            clock=clock,
            sleep=sleep,
            chain_cas=None if view is None else view.ca_certs,
        )
        if view is not None:
            client._stop_following = view.stop
        if OrgPaths.of(directory, OrgId(org)).gateway_key.is_file():  # the passphrase opened the identity's key
            # the key file read again when it changes: a gateway key rotated (`gateway rotate-key`) while the
            # client lives is signed with, the key before while the notary refuses the new one; a client made
            # after a rotation starts from the key it kept until that key retires (docs/trust.md)
            reader = rereading_gateway_key(directory, org, passphrase)
            client.notary_auth = SignedReads(f"{org}/sdk", reader.start(), next_key=reader)
        return client

    # ------------------------------------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the connection pools (and stop following the chain's CAs)."""
        if self._stop_following is not None:
            self._stop_following()
        self._http.close()
        if self._retired is not None:
            self._retired.close()
        if self._notary is not None:
            self._notary.close()

    def _gateways(self) -> httpx.Client:
        """The pool the gateways are called on: made anew, trusting them, once the member CAs valid on chain
        changed (a firm admitted, a CA rotated or retired), looked at most once per CHAIN_CAS_INTERVAL_S."""
        if self._chain_cas is None:
            return self._http
        with self._cas_lock:
            now = self._clock()
            if now - self._cas_looked < CHAIN_CAS_INTERVAL_S:
                return self._http
            self._cas_looked = now
            cas = frozenset(self._chain_cas())
            if cas != self._trusted:
                cert, key, password = self._identity
                context = _client_context(cert, key, password, self.ca_bundle, sorted(cas))
                retired, self._retired = self._retired, self._http
                self._http = tls_client(context, timeout=self.timeout, limits=self._limits, follow_redirects=False)
                self._context, self._trusted = context, cas
                if retired is not None:
                    retired.close()
            return self._http

    def __enter__(self) -> MemberClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ calls

    def call(
        self,
        gateway_url: str,
        method: str,
        path: str,
        *,
        purpose: str,
        params: Mapping[str, str | int | float] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        traceparent: str | None = None,
        timeout: float | None = None,
    ) -> CallResult:
        """Call ``method path`` through the gateway at ``gateway_url`` for ``purpose``; read the whole answer.
        ``timeout`` (seconds) replaces the client's for this call (a long computation behind the gateway).

        Sends ``Consortium-Purpose`` and a ``traceparent`` (``traceparent`` if given, else a fresh one). A
        denial is a result, not an exception (see :attr:`CallResult.denial_reason`). Raises
        :class:`TransportError` when the gateway cannot be reached or refuses the TLS handshake (an unknown or
        revoked-at-CA certificate fails there), :class:`AnswerCutOffError` when the answer's connection broke after
        its headers, ``ValueError`` for a malformed argument."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        if json is not None and content is not None:
            raise ValueError("give json or content, not both")
        if not purpose or any(c in purpose for c in "\r\n"):
            raise ValueError("purpose must be a non-empty single-line string")
        trace = traceparent if traceparent is not None else new_traceparent()
        if not is_well_formed(trace):
            raise ValueError(f"traceparent {trace!r} is not a W3C trace context (00-<32 hex>-<16 hex>-<2 hex>)")
        sent = {**(headers or {}), PURPOSE_HEADER: purpose, TRACE_HEADER: trace}
        url = gateway_url.rstrip("/") + path
        wait = self.timeout if timeout is None else timeout
        http = self._gateways()
        try:
            request = http.build_request(
                method.upper(),
                url,
                params=dict(params) if params else None,
                json=json,
                content=content,
                headers=sent,
                timeout=wait,
            )
            response = http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise TransportError(f"{method.upper()} {url}: no answer within {wait:g} s") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{method.upper()} {url}: {_describe(exc)}") from exc
        try:
            response.read()
        except httpx.HTTPError as exc:  # the answer began: its status and headers (the event id) are known
            event_id = response.headers.get(EVENT_HEADER) or None
            raise AnswerCutOffError(
                f"{method.upper()} {url}: the answer ({response.status_code}"
                + (f", event {event_id}" if event_id else "")
                + f") was cut off after its headers: {_describe(exc)}",
                response.status_code,
                event_id,
            ) from exc
        finally:
            response.close()
        return CallResult.from_response(response)

    # ------------------------------------------------------------------------------------------------ the notary

    def _notary_client(self) -> httpx.Client:
        if self.notary_url is None:
            raise ConfigurationError("no notary_url was given to this MemberClient; pass notary_url=...")
        if self._notary is None:
            cert, key, password = self._identity  # followed in its file, as the gateways' context
            context = reloading_client_context(cert, key, password, cafile=str(self.ca_bundle))
            self._notary = tls_client(context, base_url=self.notary_url, timeout=self.timeout, auth=self.notary_auth)
        return self._notary

    def _get_notary(self, path: str) -> httpx.Response:
        client = self._notary_client()
        try:
            return client.get(path)
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"the notary at {self.notary_url} did not answer {path} in {self.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"the notary at {self.notary_url}: {path}: {_describe(exc)}") from exc

    def _document(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise NotaryResponseError(f"the notary's {what} is not JSON", response.status_code) from exc
        if not isinstance(body, dict):
            raise NotaryResponseError(f"the notary's {what} is not a JSON object", response.status_code)
        return body

    def _unexpected(self, response: httpx.Response, what: str) -> NotaryResponseError:
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = response.text[:200]
        return NotaryResponseError(
            f"the notary answered {response.status_code} for the {what}: {error}", response.status_code
        )

    def receipt(self, event_id: str, *, wait_s: float = 10.0) -> EvidenceReceipt:
        """The notary's receipt of ``event_id`` (``GET /v1/receipts/{event_id}``), polling while it answers 404
        (the gateway ships its outbox in batches, so a receipt follows a call by a fraction of a second).

        The receipt is returned parsed (:func:`parse_receipt`), the same typed value as an evidence bundle's
        ``receipt``: ``receipt.receipt()`` is what ``notary.receipt.verify_receipt`` checks, ``receipt.to_json()``
        the notary's JSON document. Raises :class:`NotReceiptedError` after ``wait_s`` seconds, and
        :class:`NotaryResponseError` naming the field for a receipt that does not parse."""
        path = f"/v1/receipts/{_quoted(event_id)}"
        started = self._clock()
        # Counted to a deadline: the last pause (deadline - now, exact so near the deadline) ends on it, where the
        # rest of wait_s counted from ``started`` can be below the clock's resolution and leave it where it was
        # (with a clock that only the pauses move, the polling would never end).
        deadline = started + wait_s
        pause = POLL_FIRST_S
        while True:
            response = self._get_notary(path)
            if response.status_code == 200:
                return parse_receipt(self._document(response, "receipt"))
            if response.status_code != 404:
                raise self._unexpected(response, "receipt")
            now = self._clock()
            if now >= deadline:
                raise NotReceiptedError(event_id, now - started)
            self._sleep(min(pause, deadline - now))
            pause = min(pause * 2, POLL_MAX_S)

    def evidence(self, event_id: str, *, wait_s: float = 30.0, anchored: bool = False) -> EvidenceBundle:
        """The evidence bundle of ``event_id`` (``GET /v1/evidence/{event_id}``), once it is worth verifying.

        The notary answers 404 until the event is in its log, then a bundle whose ``checkpoint`` is None (with
        ``pending`` saying why) until a checkpoint covering the event is published with its witnesses'
        cosignatures (within the log's maximum merge delay), then one whose ``anchor`` is None until that
        checkpoint, or a later one, is anchored on chain. This polls until the checkpoint is there or, with
        ``anchored=True``, until the anchor is too. Raises :class:`EvidenceNotReadyError` (with the notary's
        reasons and the bundle so far) after ``wait_s`` seconds.

        The bundle is returned parsed, a :class:`~notary.bundle.EvidenceBundle` of typed parts, ready to pass to
        :meth:`verify`; ``bundle.to_json()`` is the notary's JSON document, to save (``json.dump``) for
        ``consortium verify evidence``. A bundle that does not parse raises :class:`NotaryResponseError` naming
        the malformed field."""
        path = f"/v1/evidence/{_quoted(event_id)}"
        started = self._clock()
        deadline = started + wait_s
        pause = POLL_FIRST_S
        bundle: EvidenceBundle | None = None
        while True:
            response = self._get_notary(path)
            if response.status_code == 200:
                document = self._document(response, "evidence bundle")
                try:
                    bundle = EvidenceBundle.from_json(document)
                except MalformedError as exc:
                    raise NotaryResponseError(f"the notary's evidence bundle is malformed: {exc}", 200) from exc
                if bundle.checkpoint is not None and (not anchored or bundle.anchor is not None):
                    return bundle
            elif response.status_code != 404:
                raise self._unexpected(response, "evidence bundle")
            now = self._clock()
            if now >= deadline:
                raise EvidenceNotReadyError(event_id, now - started, bundle)
            self._sleep(min(pause, deadline - now))
            pause = min(pause * 2, POLL_MAX_S)

    # ------------------------------------------------------------------------------------------------ verification

    @staticmethod
    def verify(
        evidence: EvidenceBundle | Mapping[str, Any],
        description: ConsortiumDescription | TrustRoots,
        *,
        check: bool = True,
        chain: str | ChainWitnessKeys | None = None,
        chain_tls: ClientTls | None = None,
        offline: bool = False,
    ) -> VerificationReport:
        """Verify an evidence bundle against the consortium's public keys, as ``consortium verify evidence`` does.

        ``evidence``: a parsed :class:`~notary.bundle.EvidenceBundle` (what :meth:`evidence` returns) or the
        JSON document (a saved bundle read back with ``json.load``; a malformed part fails the steps that need
        it).

        ``description``: the consortium's ``consortium.json`` (the trust roots are derived from it exactly as
        ``consortium verify evidence`` does), or ready-made :class:`~notary.verify.TrustRoots` (e.g. with other
        validators), used as given. Raises :class:`VerificationFailedError` when a step fails, unless ``check`` is
        False; steps that are still pending (no anchor yet) do not fail it: see :attr:`VerificationReport.complete`.

        With a ``description``, the cosignatures count under the witness keys valid on chain at the block that
        anchored the checkpoint (the head for one not anchored), of members active then, and the checkpoint and
        receipt are checked under the log key valid at that same block (a log whose key rotated, docs/trust.md,
        "The log's key over time"), both read from ``chain`` (:class:`network.witnesskeys.ChainWitnessKeys`): a URL
        (with ``chain_tls``, a member's client certificate for a node serving members only), a ready
        ``ChainWitnessKeys``, or by default consortium.json's chain URL. The seals of the anchor's block count
        under the validator set that sealed it, proven from consortium.json's founding validators header by header
        through that chain (a set changed by governance is followed; a ``ChainWitnessKeys`` given without ``heads``
        counts them under the founding set). ``offline=True`` reads no chain, counts consortium.json's witnesses
        under consortium.json's log key and the seals under its founding validators, trusting the file. Every
        other step is offline."""
        from network.logsetup import roots_from_description
        from network.witnesskeys import offline_witnesses, with_witnesses

        witness_keys = None
        if isinstance(description, TrustRoots):
            roots = description
        elif offline:
            chosen = offline_witnesses(description)
            roots = with_witnesses(roots_from_description(description), description, chosen)
            witness_keys = chosen.to_json()
        else:
            keys = chain if isinstance(chain, ChainWitnessKeys) else _chain_witness_keys(description, chain, chain_tls)
            roots, chosen = keys.evidence_roots(roots_from_description(description), evidence, prove_keys=True)
            witness_keys = chosen.to_json()
        if isinstance(evidence, EvidenceBundle):
            event_id: object = evidence.event_id
            steps = verify_evidence(evidence, roots)
        else:
            event_id = evidence.get("event_id") if isinstance(evidence, Mapping) else None
            steps = verify_evidence_json(evidence, roots)
        report = VerificationReport(
            event_id=event_id if isinstance(event_id, str) else None, steps=tuple(steps), witness_keys=witness_keys
        )
        if check and not report.ok:
            raise VerificationFailedError(report)
        return report


def _chain_witness_keys(description: ConsortiumDescription, url: str | None, tls: ClientTls | None) -> ChainWitnessKeys:
    """The witness keys of the chain at ``url`` (default: consortium.json's). An https node is trusted by the member
    CAs of consortium.json, as the CLI trusts it; without ``tls`` no certificate is shown, so a node serving members
    only refuses with its own reason (``no_certificate``)."""
    from chain.backend import RpcBackend
    from network.grantterms import trusted_heads
    from network.nodeaccess import client_tls

    url = url or description.chain_url
    if tls is None and url.startswith("https://"):
        tls = client_tls(description, None, None, None, None)
    backend = RpcBackend(url, tls=tls)
    return ChainWitnessKeys(description, backend, heads=trusted_heads(backend, description))


def parse_receipt(document: object) -> EvidenceReceipt:
    """The notary's receipt JSON (``GET /v1/receipts/{event_id}``, ``notary.receipt.Receipt.to_json``) as a typed
    :class:`~notary.bundle.EvidenceReceipt`, checked as an evidence bundle's receipt is (exactly its fields, bytes
    as canonical base64, integers as JSON integers). Raises :class:`NotaryResponseError` naming the malformed
    field, e.g. ``the notary's receipt is malformed: receipt.index must be a non-negative integer, got '7'``."""
    try:
        return EvidenceReceipt.from_json(document)
    except MalformedError as exc:
        raise NotaryResponseError(f"the notary's receipt is malformed: {exc}", 200) from exc


def _quoted(event_id: str) -> str:
    from urllib.parse import quote

    if not event_id:
        raise ValueError("event_id must not be empty")
    return quote(event_id, safe="")


def _describe(exc: httpx.HTTPError) -> str:
    """What went wrong, with the TLS reason when the handshake failed."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or cause})"
        cause = cause.__cause__ or cause.__context__
    return f"{exc.__class__.__name__}: {exc}"
