"""Two-party private set intersection as explicit messages: over ``openmined.psi`` (ECDH-PSI on P-256) under the
``intl`` suite, over ``privacy.smpsi`` (ECDH-PSI on the SM2 curve) under ``sm`` (``privacy.suites``).

The client learns which of its identifiers the server also holds; the server learns the client's input size
(and, when it countersigns the record, the result's size). Both are semi-honest: each follows the protocol
on its stated input. Each message is bytes a transport carries and hashes; the record keeps their SHA-256 (SM3
under ``sm``). The job's suite is ``JobTerms.suite``; the header's ``protocol`` names it, and a message, key or
record of the other suite is refused (``privacy.errors.SuiteMismatchError``).

1. ``PsiClient.request()`` → request: a header and the client's PSI request (its keyed identifiers, blinded by
   its ECDH key). The header names the job's terms, the client's org, signing key and input commitment
   (``privacy.disclosure``), and the job secret sealed to the server's X25519 key with RFC 9180 HPKE
   (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, ``info`` = label ‖ job id); under ``sm``, SM2
   encryption (GB/T 32918.4) of label ‖ job id ‖ secret to the server's SM2 key.
2. ``PsiServer.respond(request)`` → response: the server refuses a request for other terms or claiming more than
   ``max_input`` identifiers, opens the secret, keys its own set, and answers with a header (its org, key and
   commitment, the request's hash) and the PSI response and setup (the RAW data structure: no false positives).
3. ``PsiClient.finish(response)`` → the intersection and the unsigned :class:`~privacy.record.JobRecord`, which
   the client signs and the server checks (:meth:`PsiServer.check_record`) and countersigns.

Message bytes: a 4-byte big-endian header length, the header as RFC 8785 canonical JSON, then the payload
(request: the PSI request; response: 4-byte length of the PSI response, the response, then the setup; under ``sm``
the request and response of ``privacy.smpsi``: count-prefixed lists of compressed points).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import private_set_intersection.python as openmined_psi
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from google.protobuf.message import DecodeError

from notary.event import canonical_entry
from notary.log.hashing import Hash32
from privacy import _json, smpsi
from privacy.disclosure import Commitment, CommittedSet, commit_set
from privacy.dp import MECHANISM, check_dp_terms, draw, noisy_count
from privacy.errors import InputTooLargeError, MalformedError, RefusedError
from privacy.identifiers import JOB_SECRET_SIZE, derive_job_key, key_identifiers, normalise_set
from privacy.record import GRANT_ID, JOB_ID, NAME, JobRecord, PartyEntry, key_bytes
from privacy.suites import INTL, SM, KemKey, PsiSuite, check_same_suite, raw_public, suite_of_protocol
from suite import sm2group
from suite.sm2 import SM2PublicKey

PROTOCOL: Final = INTL.protocol
IMPLEMENTATION: Final = f"openmined.psi {openmined_psi.__version__}"
#: The implementation each suite's record names.
IMPLEMENTATIONS: Final = {INTL.name: IMPLEMENTATION, SM.name: smpsi.IMPLEMENTATION}
MESSAGE_VERSION: Final = 1
MAX_HEADER_BYTES: Final = 16 * 1024
#: Bytes one identifier takes in a request's PSI payload: a compressed P-256 point (33 bytes) after its protobuf
#: field tag and length; the payload adds 2 bytes (the reveal-intersection flag).
REQUEST_ELEMENT_BYTES: Final = 35
_REQUEST_PAYLOAD_EXTRA: Final = 2
#: Seconds per identifier of ``max_input`` a transport waits for the answer to a request under ``intl``. The
#: server spends about 0.3 ms of CPU an identifier (committing to its own set, encrypting the client's elements, its
#: setup message: 31 s for 100,000 each); a 2-core machine shared with a load average of 35 stretched that to 221 s
#: of wall time, so the wait allows some sixteen times the CPU.
REQUEST_SECONDS_PER_ELEMENT: Final = 0.005
#: The same under ``sm``, sized the same way: its curve arithmetic (hash-to-curve, the SM2 VRF of each commitment,
#: point decoding) is in Python, and the server spent 1.9 ms of CPU an identifier up to its answer (3.82 s for
#: 2,000 each, against 0.64 s under ``intl``, at a load average of 17 on 2 cores; docs/national-suite.md), so sixteen
#: times that.
REQUEST_SECONDS_PER_ELEMENT_SM: Final = 0.03
_HPKE_INFO: Final = b"consortium-ledger psi job secret v1\x00"
_U32: Final = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class JobTerms:
    """What the grant fixes for a job, which both parties must agree on before any message."""

    job_id: str
    grant_id: str
    purpose: str
    max_input: int
    dp_epsilon: str | None = None  # the owner's terms ask for a differentially private count (privacy.dp)
    dp_inputs: bool = False  # and for each party's input count with noise (privacy.dp)
    suite: PsiSuite = INTL  # the consortium's suite (privacy.suites): protocol, keys, hashes
    dp_budget: str | None = None  # the grant's privacy budget the owner's terms set, which the record states
    #: SHA-256 of the grant's own terms document (privacy.asset), which the record names; None: the asset's terms
    terms_digest: bytes | None = None

    def __post_init__(self) -> None:
        if self.terms_digest is not None and len(self.terms_digest) != 32:
            raise MalformedError("the grant's terms digest must be 32 bytes (SHA-256)")
        if JOB_ID.match(self.job_id) is None:
            raise MalformedError(f"job id {self.job_id!r} must match {JOB_ID.pattern}")
        if GRANT_ID.match(self.grant_id) is None:
            raise MalformedError(f"grant id {self.grant_id!r} must be '0x' and 64 lower-case hex digits")
        if NAME.match(self.purpose) is None:
            raise MalformedError(f"purpose {self.purpose!r} must be a short name such as 'aml-screening'")
        if not 0 < self.max_input <= 2**31:
            raise MalformedError(f"max_input {self.max_input} must be between 1 and 2^31")
        check_dp_terms(self.dp_epsilon, self.dp_budget, self.dp_inputs)

    def to_json(self) -> dict[str, Any]:
        """The terms as the request's header names them (``dp_epsilon``, ``dp_inputs``, ``dp_budget`` only when
        set)."""
        return {
            "job_id": self.job_id,
            "grant_id": self.grant_id,
            "purpose": self.purpose,
            "max_input": self.max_input,
            "protocol": self.suite.protocol,
            "implementation": IMPLEMENTATIONS[self.suite.name],
            **({"dp_epsilon": self.dp_epsilon} if self.dp_epsilon is not None else {}),
            **({"dp_inputs": True} if self.dp_inputs else {}),
            **({"dp_budget": self.dp_budget} if self.dp_budget is not None else {}),
            **({"terms": self.terms_digest.hex()} if self.terms_digest is not None else {}),
        }

    @classmethod
    def from_json(cls, obj: object) -> JobTerms:
        """The terms :meth:`to_json` wrote (a job kept between its steps, ``privacy.jobfiles``); MalformedError for
        anything else, terms of another implementation version included (its record would differ)."""
        keys = {"job_id", "grant_id", "purpose", "max_input", "protocol", "implementation"}
        optional = {k for k in ("dp_epsilon", "dp_inputs", "dp_budget", "terms") if isinstance(obj, dict) and k in obj}
        o = _json.fields(obj, "job terms", keys | optional)
        digest = _json.text(o["terms"], "job terms.terms") if "terms" in o else None
        try:
            terms = cls(
                job_id=_json.text(o["job_id"], "job terms.job_id"),
                grant_id=_json.text(o["grant_id"], "job terms.grant_id"),
                purpose=_json.text(o["purpose"], "job terms.purpose"),
                max_input=_json.uint(o["max_input"], "job terms.max_input"),
                dp_epsilon=o.get("dp_epsilon"),
                dp_inputs=o.get("dp_inputs") is True,
                suite=suite_of_protocol(_json.text(o["protocol"], "job terms.protocol", NAME)),
                dp_budget=o.get("dp_budget"),
                terms_digest=None if digest is None else bytes.fromhex(digest),
            )
        except (TypeError, ValueError) as exc:
            raise MalformedError(f"job terms: {exc}") from exc
        if terms.to_json() != o:
            raise MalformedError(
                f"job terms: not the terms this version writes (implementation {o['implementation']!r}, this "
                f"version runs {IMPLEMENTATIONS[terms.suite.name]!r})"
            )
        return terms


def max_request_bytes(max_input: int) -> int:
    """The most bytes a request message of a job under ``max_input`` takes: the 4-byte length, a header of at most
    ``MAX_HEADER_BYTES`` and a payload of ``max_input`` elements. A transport sizes its body limit with it."""
    return 4 + MAX_HEADER_BYTES + REQUEST_ELEMENT_BYTES * max_input + _REQUEST_PAYLOAD_EXTRA


def request_time_budget_s(max_input: int, suite: PsiSuite = INTL) -> float:
    """How long a transport waits for the answer to a request of a job under ``max_input`` in ``suite``
    (``REQUEST_SECONDS_PER_ELEMENT``, ``REQUEST_SECONDS_PER_ELEMENT_SM``); a transport takes the larger of this and
    its own timeout."""
    per_element = REQUEST_SECONDS_PER_ELEMENT_SM if suite is SM else REQUEST_SECONDS_PER_ELEMENT
    return per_element * max_input


def message_hash(message: bytes, suite: PsiSuite = INTL) -> bytes:
    """SHA-256 (SM3 under ``sm``) of a message's bytes, as the record names it."""
    return suite.message_hash(message) if suite is not INTL else hashlib.sha256(message).digest()


def _format_message(header: dict[str, Any], payload: bytes) -> bytes:
    head = canonical_entry(header)
    return _U32.pack(len(head)) + head + payload


def _parse_message(data: bytes, kind: str) -> tuple[dict[str, Any], bytes]:
    if len(data) < 4:
        raise MalformedError(f"{kind} message is {len(data)} bytes, shorter than its length prefix")
    (size,) = _U32.unpack_from(data)
    if size > MAX_HEADER_BYTES or 4 + size > len(data):
        raise MalformedError(f"{kind} message header of {size} bytes is too long or truncated")
    head = data[4 : 4 + size]
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"{kind} message header is not UTF-8 JSON: {exc}") from exc
    if not isinstance(header, dict) or canonical_entry(header) != head:
        raise MalformedError(f"{kind} message header is not a JSON object in canonical form (RFC 8785)")
    if header.get("v") != MESSAGE_VERSION or header.get("type") != kind:
        raise MalformedError(f"not a version {MESSAGE_VERSION} {kind} message")
    return header, data[4 + size :]


def _commitment_json(c: Commitment) -> dict[str, Any]:
    return {"vrf_key": c.vrf_key.hex(), "count": c.count, "root": c.root.hex()}


def _commitment_from(obj: object, loc: str, suite: PsiSuite | None = None) -> Commitment:
    try:
        assert isinstance(obj, dict)
        count = obj["count"]
        assert type(count) is int and count >= 0
        c = Commitment(bytes.fromhex(obj["vrf_key"]), count, Hash32(bytes.fromhex(obj["root"])))
        assert len(c.vrf_key) in (INTL.vrf_public_size, SM.vrf_public_size) and len(c.root) == 32
        assert suite is None or len(c.vrf_key) == suite.vrf_public_size
        return c
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise MalformedError(f"{loc}: not a commitment (vrf_key, count, root)") from exc


def _hex_field(header: dict[str, Any], key: str, size: int | None = None) -> bytes:
    try:
        value = bytes.fromhex(header[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedError(f"message field {key} is missing or not hex") from exc
    if size is not None and len(value) != size:
        raise MalformedError(f"message field {key} is {len(value)} bytes, not {size}")
    return value


def _check_cap(party: str, count: int, terms: JobTerms) -> None:
    if count > terms.max_input:
        raise InputTooLargeError(party, count, terms.max_input)


def _parse_proto(cls: Any, data: bytes, what: str) -> Any:
    proto = cls()
    try:
        proto.ParseFromString(data)
    except DecodeError as exc:
        raise MalformedError(f"{what} is not a valid openmined.psi message") from exc
    return proto


@dataclass(frozen=True, slots=True)
class RequestSummary:
    """What a transport (the owner's gateway) reads from a request before it forwards it: the terms it names, the
    client org it claims, the count its commitment claims and the number of elements its PSI payload holds."""

    terms: dict[str, Any]  # job_id, grant_id, purpose, max_input, protocol, implementation as the header names them
    client_org: str
    claimed_count: int
    element_count: int

    @property
    def count(self) -> int:
        """The larger of the claimed and the actual number of elements: what a cap is checked against."""
        return max(self.claimed_count, self.element_count)


def inspect_request(request: bytes) -> RequestSummary:
    """Parse message 1 without any key: its header and the number of elements in its PSI request.

    Raises MalformedError for bytes that are not a request message."""
    header, payload = _parse_message(request, "request")
    terms = {
        key: header.get(key)
        for key in (
            "job_id", "grant_id", "purpose", "max_input", "protocol", "implementation", "dp_epsilon", "dp_inputs",
            "dp_budget", "terms",
        )
    }  # fmt: skip
    commitment = _commitment_from(header.get("client_commitment"), "client_commitment")
    suite = suite_of_protocol(str(header.get("protocol")))
    if suite is SM:  # a count and that many 33-byte points; the owner's service validates each point
        if len(payload) < 4:
            raise MalformedError("the request payload ends before its count of points")
        (elements,) = _U32.unpack_from(payload)
        if len(payload) != 4 + elements * sm2group.POINT_SIZE:
            raise MalformedError(f"the request payload is not {elements} points of {sm2group.POINT_SIZE} bytes")
    else:
        elements = len(_parse_proto(openmined_psi.Request, payload, "PSI request").encrypted_elements)
    return RequestSummary(terms, str(header.get("client_org")), commitment.count, elements)


@dataclass(frozen=True, slots=True)
class PsiOutcome:
    """What the client holds after the protocol."""

    intersection: tuple[str, ...]  # the client's identifiers the server also holds, sorted
    result: CommittedSet  # the commitment to the intersection, under the client's VRF key
    record: JobRecord  # unsigned; both parties sign it (privacy.record.sign_record)


class _Side:
    """What both parties hold: the job's terms, their input normalised (and within the cap), org and signing key."""

    def __init__(
        self,
        side: str,
        terms: JobTerms,
        org: str,
        signing_key: Ed25519PublicKey | SM2PublicKey | bytes,
        identifiers: Sequence[str],
    ) -> None:
        self.terms = terms
        self.suite = terms.suite
        self._ids = normalise_set(identifiers)
        _check_cap(side, len(self._ids), terms)
        self._org = org
        self._signing_key = key_bytes(signing_key)
        if len(self._signing_key) != self.suite.signing_key_size:
            other = SM if self.suite is INTL else INTL
            check_same_suite(self.suite, other, f"the {side}'s signing key")
        self._scalar = sm2group.random_scalar() if self.suite is SM else 0  # the sm protocol's blinding scalar

    def _keyed_points(self, keyed: Sequence[bytes]) -> list[bytes]:
        """Under ``sm``: scalar·H(k) of each keyed identifier, encoded (``privacy.smpsi``)."""
        return smpsi.blind(self._scalar, smpsi.elements(keyed))

    def _hash(self, message: bytes) -> bytes:
        return message_hash(message, self.suite)


class PsiClient(_Side):
    """The party that learns the intersection. ``identifiers`` are raw; they are normalised here."""

    def __init__(
        self,
        terms: JobTerms,
        org: str,
        signing_key: Ed25519PublicKey | SM2PublicKey | bytes,
        identifiers: Sequence[str],
        server_kem_key: X25519PublicKey | bytes,
        *,
        vrf_secret: bytes | None = None,
    ) -> None:
        super().__init__("client", terms, org, signing_key, identifiers)
        suite = self.suite
        self._secret = os.urandom(JOB_SECRET_SIZE)
        self._keyed_raw = key_identifiers(derive_job_key(self._secret, terms.job_id, suite.name), self._ids, suite.name)
        self._keyed = [k.hex() for k in self._keyed_raw]
        self.committed = commit_set(terms.job_id, vrf_secret or suite.new_vrf_secret(), self._ids, suite)
        self._server_kem_key = raw_public(server_kem_key)
        if len(self._server_kem_key) != suite.kem_key_size:
            check_same_suite(suite, SM if suite is INTL else INTL, "the server's job-secret key")
        self._psi = openmined_psi.client.CreateWithNewKey(True) if suite is INTL else None
        self._request: bytes | None = None

    def request(self) -> bytes:
        """Message 1 (see the module docstring)."""
        sealed = self.suite.seal(self._server_kem_key, self._secret, _HPKE_INFO + self.terms.job_id.encode())
        header = {
            "v": MESSAGE_VERSION,
            "type": "request",
            **self.terms.to_json(),
            "client_org": self._org,
            "client_signing_key": self._signing_key.hex(),
            "client_commitment": _commitment_json(self.committed.commitment),
            "sealed_secret": sealed.hex(),
        }
        if self._psi is not None:
            payload = self._psi.CreateRequest(self._keyed).SerializeToString()
        else:
            payload = smpsi.format_points(self._keyed_points(self._keyed_raw))
        self._request = _format_message(header, payload)
        return self._request

    def finish(self, response: bytes) -> PsiOutcome:
        """Read message 2: the intersection, its commitment and the record to sign."""
        if self._request is None:
            raise MalformedError("finish() before request(): there is no request this response could answer")
        header, payload = _parse_message(response, "response")
        if header.get("job_id") != self.terms.job_id:
            raise RefusedError("wrong_job", f"response is for job {header.get('job_id')!r}, not {self.terms.job_id}")
        if _hex_field(header, "request_hash", 32) != self._hash(self._request):
            raise RefusedError("wrong_request", "response answers another request than the one sent")
        server_commitment = _commitment_from(header.get("server_commitment"), "server_commitment", self.suite)
        _check_cap("server", server_commitment.count, self.terms)
        indices = self._intersect(payload, server_commitment.count)
        inputs = None
        if self.terms.dp_inputs:  # the server drew its own input count; the client draws its own
            assert self.terms.dp_epsilon is not None
            server_noisy = header.get("server_dp_input")
            if type(server_noisy) is not int or server_noisy < 0:
                raise RefusedError("wrong_terms", "the response has no noisy input count of the server (dp_inputs)")
            inputs = (draw(len(self._ids), self.terms.dp_epsilon), server_noisy)
        elif "server_dp_input" in header:
            raise RefusedError("wrong_terms", "the response has a noisy input count the job's terms do not ask for")
        intersection = tuple(sorted(self._ids[i] for i in indices))
        result = self.committed.subset(intersection)
        server = PartyEntry(
            org=str(header.get("server_org")),
            signing_key=_hex_field(header, "server_signing_key", self.suite.signing_key_size),
            input=server_commitment,
        )
        record = JobRecord(
            job_id=self.terms.job_id,
            grant_id=self.terms.grant_id,
            purpose=self.terms.purpose,
            max_input=self.terms.max_input,
            protocol=self.suite.protocol,
            implementation=IMPLEMENTATIONS[self.suite.name],
            client=PartyEntry(self._org, self._signing_key, self.committed.commitment),
            server=server,
            request_hash=self._hash(self._request),
            response_hash=self._hash(response),
            result_count=result.commitment.count,
            result_root=result.commitment.root,
            dp=None
            if self.terms.dp_epsilon is None
            else noisy_count(result.commitment.count, self.terms.dp_epsilon, inputs, self.terms.dp_budget),
            terms=self.terms.terms_digest,
        )
        return PsiOutcome(intersection, result, record)

    def _intersect(self, payload: bytes, server_count: int) -> list[int]:
        """The indices of the client's identifiers the response shows the server holds too."""
        if self._psi is None:  # sm: b·a·H(k) in the request's order, then b·H(k') of the server's set
            doubled, offset = smpsi.parse_points(payload, 0, "response.client_elements", len(self._ids))
            if len(doubled) != len(self._ids):
                raise RefusedError("count_mismatch", "the server's response answers another number of elements")
            theirs, end = smpsi.parse_points(payload, offset, "response.server_elements", self.terms.max_input)
            if end != len(payload):
                raise MalformedError(f"the response has {len(payload) - end} bytes after its last point")
            if len(theirs) != server_count:
                raise RefusedError(
                    "count_mismatch", "the server's setup holds another number of elements than it committed"
                )
            blinded = set(smpsi.blind(self._scalar, theirs))
            return [i for i, point in enumerate(doubled) if sm2group.encode_point(point) in blinded]
        if len(payload) < 4:
            raise MalformedError("response payload is truncated")
        (size,) = _U32.unpack_from(payload)
        psi_response = _parse_proto(openmined_psi.Response, payload[4 : 4 + size], "PSI response")
        setup = _parse_proto(openmined_psi.ServerSetup, payload[4 + size :], "PSI setup")
        if len(setup.raw.encrypted_elements) != server_count:
            raise RefusedError(
                "count_mismatch", "the server's setup holds another number of elements than it committed"
            )
        if len(psi_response.encrypted_elements) != len(self._ids):
            raise RefusedError("count_mismatch", "the server's response answers another number of elements")
        return list(self._psi.GetIntersection(setup, psi_response))


@dataclass(frozen=True, slots=True)
class ServerState:
    """What the server keeps of an answered request to check and countersign its record (:meth:`PsiServer.state`,
    :meth:`PsiServer.resume`): no secret; the VRF key of its input commitment is kept apart."""

    request_hash: bytes
    response_hash: bytes
    client: dict[str, Any]  # client_org, client_signing_key, client_commitment as the request's header named them
    noisy_input: int | None  # its own input count with noise, as the response named it (dp_inputs)


#: The request's header fields :meth:`PsiServer.check_record` compares with the record.
STATE_CLIENT_FIELDS: Final = ("client_org", "client_signing_key", "client_commitment")


class PsiServer(_Side):
    """The party that holds the asset (the owner's side): it learns sizes only."""

    def __init__(
        self,
        terms: JobTerms,
        org: str,
        signing_key: Ed25519PublicKey | SM2PublicKey | bytes,
        identifiers: Sequence[str],
        kem_key: KemKey,
        *,
        vrf_secret: bytes | None = None,
    ) -> None:
        super().__init__("server", terms, org, signing_key, identifiers)
        self.suite.kem_public(kem_key)  # refuses a key of the other suite
        self._kem_key = kem_key
        self.committed = commit_set(terms.job_id, vrf_secret or self.suite.new_vrf_secret(), self._ids, self.suite)
        self._seen: tuple[bytes, bytes, dict[str, Any]] | None = None
        self._noisy_input: int | None = None  # its own input count with noise, drawn once (dp_inputs)

    def respond(self, request: bytes) -> bytes:
        """Read message 1 and answer with message 2; raises RefusedError (terms, cap) or MalformedError."""
        header, payload = _parse_message(request, "request")
        terms = self.terms.to_json()
        protocol = header.get("protocol")
        if protocol != self.suite.protocol and isinstance(protocol, str):
            try:
                check_same_suite(self.suite, suite_of_protocol(protocol), "the request")
            except MalformedError as exc:
                raise RefusedError("wrong_suite", str(exc)) from None
        # a request without the ε, the noisy inputs or the budget the terms set, or with others
        for key in ("dp_epsilon", "dp_inputs", "dp_budget", "terms", *terms):
            value = terms.get(key)
            if header.get(key) != value:
                raise RefusedError("wrong_terms", f"request names {key} {header.get(key)!r}; the job has {value!r}")
        client_commitment = _commitment_from(header.get("client_commitment"), "client_commitment", self.suite)
        _check_cap("client", client_commitment.count, self.terms)
        if len(_hex_field(header, "client_signing_key")) != self.suite.signing_key_size:
            raise RefusedError("wrong_suite", f"the client's signing key is not a key of the {self.suite.name} suite")
        if self.suite is SM:
            # the count first: a request that claims fewer points than it carries costs no point decoding (0.1 ms each)
            if len(payload) >= 4 and int.from_bytes(payload[:4], "big") != client_commitment.count:
                raise RefusedError("count_mismatch", "the request holds another number of elements than it claims")
            points, end = smpsi.parse_points(payload, 0, "request.client_elements", self.terms.max_input)
            if end != len(payload):
                raise MalformedError(f"the request has {len(payload) - end} bytes after its last point")
            if len(points) != client_commitment.count:
                raise RefusedError("count_mismatch", "the request holds another number of elements than it claims")
        else:
            psi_request = _parse_proto(openmined_psi.Request, payload, "PSI request")
            if len(psi_request.encrypted_elements) != client_commitment.count:
                raise RefusedError("count_mismatch", "the request holds another number of elements than it claims")
            if not psi_request.reveal_intersection:
                raise RefusedError(
                    "wrong_terms", "the request asks for the cardinality protocol; this job reveals elements"
                )
        sealed = _hex_field(header, "sealed_secret")
        secret = self.suite.open(self._kem_key, sealed, _HPKE_INFO + self.terms.job_id.encode())
        if len(secret) != JOB_SECRET_SIZE:
            raise MalformedError(f"the sealed job secret is {len(secret)} bytes, not {JOB_SECRET_SIZE}")
        name = self.suite.name
        keyed = key_identifiers(derive_job_key(secret, self.terms.job_id, name), self._ids, name)
        if self.suite is SM:
            own = sorted(self._keyed_points(keyed))
            body = smpsi.format_points(smpsi.blind(self._scalar, points)) + smpsi.format_points(own)
        else:
            server = openmined_psi.server.CreateWithNewKey(True)
            hexed = [k.hex() for k in keyed]
            setup = server.CreateSetupMessage(0.0, client_commitment.count, hexed, openmined_psi.DataStructure.RAW)
            psi_response = server.ProcessRequest(psi_request).SerializeToString()
            body = _U32.pack(len(psi_response)) + psi_response + setup.SerializeToString()
        response_header = {
            "v": MESSAGE_VERSION,
            "type": "response",
            "job_id": self.terms.job_id,
            "request_hash": self._hash(request).hex(),
            "server_org": self._org,
            "server_signing_key": self._signing_key.hex(),
            "server_commitment": _commitment_json(self.committed.commitment),
        }
        if self.terms.dp_inputs:
            assert self.terms.dp_epsilon is not None
            if self._noisy_input is None:  # one draw per job: a second request may not average the noise away
                self._noisy_input = draw(self.committed.commitment.count, self.terms.dp_epsilon)
            response_header["server_dp_input"] = self._noisy_input
        response = _format_message(response_header, body)
        self._seen = (self._hash(request), self._hash(response), header)
        return response

    def state(self) -> ServerState:
        """What :meth:`check_record` needs of the answered request, to keep between the steps."""
        if self._seen is None:
            raise MalformedError("state() before respond(): no request has been answered")
        request_hash, response_hash, header = self._seen
        client = {key: header.get(key) for key in STATE_CLIENT_FIELDS}
        return ServerState(request_hash, response_hash, client, self._noisy_input)

    def resume(self, state: ServerState) -> None:
        """Take up a job answered before (by this owner, with this server's VRF key: the caller checks that
        ``committed`` is the commitment the response named), so that its record can be checked."""
        self._seen = (state.request_hash, state.response_hash, dict(state.client))
        self._noisy_input = state.noisy_input

    def check_record(self, record: JobRecord) -> None:
        """Refuse to countersign a record whose fields differ from what this server sent and saw.

        The result's count and root are the client's statement: the server cannot check them, nor the noise of a
        differentially private count; it checks that the count is there exactly when its terms set an ε, with that ε.
        """
        if self._seen is None:
            raise RefusedError("no_job", "no request has been answered, so there is no record to countersign")
        request_hash, response_hash, header = self._seen
        expected = {
            "terms": (
                record.job_id,
                record.grant_id,
                record.purpose,
                record.max_input,
                record.protocol,
                record.implementation,
            )
            == tuple(self.terms.to_json().values())[:6],
            "grant terms": record.terms == self.terms.terms_digest,
            "dp": (record.dp.epsilon, record.dp.mechanism) == (self.terms.dp_epsilon, MECHANISM)
            and (record.dp.inputs is not None) == self.terms.dp_inputs
            and (record.dp.inputs is None or record.dp.inputs[1] == self._noisy_input)
            and record.dp.budget == self.terms.dp_budget
            if record.dp is not None
            else self.terms.dp_epsilon is None,
            "messages": (record.request_hash, record.response_hash) == (request_hash, response_hash),
            "server": record.server == PartyEntry(self._org, self._signing_key, self.committed.commitment),
            "client": (record.client.org, record.client.signing_key.hex(), _commitment_json(record.client.input))
            == (header.get("client_org"), header.get("client_signing_key"), header.get("client_commitment")),
            "result": record.result_count <= min(record.client.input.count, record.server.input.count),
        }
        wrong = [name for name, ok in expected.items() if not ok]
        if wrong:
            raise RefusedError("record_mismatch", f"the record differs from this job in: {', '.join(wrong)}")
