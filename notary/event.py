"""Audit events: the schema of one shared-service call and the canonical bytes of its log entry.

An event describes a call, never its payload. The entry stored in the log is the event encoded as JSON in the
canonical form of RFC 8785 (JCS) restricted to what the schema allows (objects, strings, integers, ``null``):
keys sorted by code point, no insignificant whitespace, integers in plain decimal, strings in UTF-8 with only
the escapes JSON requires. The leaf hash is RFC 9162's SHA-256(0x00 ‖ entry) over exactly those bytes.
``docs/notary.md`` lists every field; this module is the executable form of that table.

Validation collects every field error (``EventSchemaError.errors``, one ``{"loc", "msg"}`` per problem) so a
gateway learns all that is wrong with an event at once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, NotRequired, TypedDict, cast

from notary import tracecontext
from notary.log.errors import MalformedError

#: The schema versions: the same fields, the digests salted differently (``notary.submit.digest``). Version 1:
#: with the recording gateway's one salt, derived from its key; version 2: each event with its own salt from the
#: provider's epoch key of the event's UTC day (``notary.submit.vault``), which may be revealed or destroyed;
#: version 3: as version 2 under the national suite, with HKDF-SM3 salts, HMAC-SM3 digests and SM3 body hashes,
#: and the caller's identity the SM3 of their certificate (:func:`caller_identity`).
SCHEMA_VERSIONS: Final = (1, 2, 3)
#: The version of events salted from a salt vault, what the gateway and the explorer record.
SCHEMA_VERSION: Final = 2
#: The hash of ``caller_identity`` by schema version: SHA-256 (1, 2), SM3 (3, the national suite's).
IDENTITY_HASHES: Final = {1: "sha256", 2: "sha256", 3: "sm3"}
#: The schema versions a log of each suite (``notary.logsuite``) takes: an event's version names the hash of its
#: digests and caller identity, and a log holds only events hashed as its suite hashes.
LOG_VERSIONS: Final = {"intl": (1, 2), "sm": (3,)}
_HASH_NAMES: Final = {"sha256": "SHA-256", "sm3": "SM3"}


def version_refusal(version: int, suite: str) -> str | None:
    """Why a log of ``suite`` refuses an event of schema ``version``, or None if it takes it."""
    accepted = LOG_VERSIONS[suite]
    if version in accepted:
        return None
    other = next(name for name, versions in LOG_VERSIONS.items() if version in versions)
    takes = " or ".join(str(v) for v in accepted)
    return (
        f"schema version {version} is of the {other!r} suite ({_HASH_NAMES[IDENTITY_HASHES[version]]} digests and "
        f"caller identity), but this log is of the {suite!r} suite and takes version {takes}: the recorder must run "
        "the consortium's suite (consortium.json's crypto)"
    )


def caller_identity(certificate: bytes, version: int) -> str:
    """The ``caller_identity`` of an event of schema ``version``: the hash of the caller's certificate (its DER, or
    the bytes that stand for it, such as an alarm's subject) of :data:`IDENTITY_HASHES`, 64 lower-case hex."""
    try:
        name = IDENTITY_HASHES[version]
    except KeyError:
        raise MalformedError(f"no caller identity for event schema version {version}") from None
    return hashlib.new(name, certificate).hexdigest()


_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}\Z")
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
_GRANT = re.compile(r"0x[0-9a-f]{64}\Z")
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
#: An amount of ε above 0 as ``privacy.dp.format_milli`` writes it: at most three places, no trailing zero.
_EPSILON = re.compile(r"(?:[1-9][0-9]{0,5}(?:\.[0-9]{0,2}[1-9])?|0\.[0-9]{0,2}[1-9])\Z")
_ROUTE = re.compile(r"/[\x21-\x7e]{0,255}\Z")
_GATEWAY = re.compile(r"([a-z0-9][a-z0-9._-]{0,31})/([a-z0-9][a-z0-9._-]{0,31})\Z")
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MAX_INT: Final = 2**53 - 1  # JCS numbers are IEEE doubles: larger integers would not round-trip

DECISIONS: Final = ("allow", "deny")
#: The center (and gateway name) of the explorer's records of people querying the ledger (``is_ledger_query``).
LEDGER_QUERY_CENTER: Final = "explorer"
#: The center (and gateway name) of the records of operational alarms (``is_alarm_record``, docs/alarms.md).
ALARM_CENTER: Final = "alarms"

#: field → (kind, nullable). Kinds are checked by ``_CHECKS``.
FIELDS: Final[dict[str, tuple[str, bool]]] = {
    "v": ("version", False),
    "event_id": ("event_id", False),
    "traceparent": ("traceparent", False),
    "time_ms": ("uint", False),
    "caller_org": ("name", False),
    "caller_identity": ("digest", False),
    "provider_org": ("name", False),
    "center": ("name", False),
    "unit": ("name", False),
    "api": ("name", False),
    "method": ("method", False),
    "route": ("route", False),
    "asset_id": ("name", True),
    "asset_version": ("uint", True),
    "grant_id": ("grant", True),
    "decision": ("decision", False),
    "denial_reason": ("reason", True),
    "request_digest": ("digest", False),
    "response_digest": ("digest", True),
    "status": ("status", False),
    "latency_us": ("uint", False),
    "gateway_id": ("gateway", False),
    "gateway_seq": ("seq", False),
}
#: Fields an event may leave out (absent, never null), so that events written before them stay valid and keep
#: their entry bytes. ``subject``: on an explorer query event only (``is_ledger_query``), the firms whose data
#: the query read, sorted and comma-separated (``subjects``); absent when it read no firm's data. ``psi_job``: on
#: a step of a privacy-computing job only, the job's tag (``privacy.asset.job_tag``: SHA-256 over the grant id and
#: the job id, never the job id itself); ``psi_record``: on an allowed record step only, the SHA-256 of the record
#: signed by both parties as the owner answered it (the bytes of each party's ``record.json``); ``psi_summary``: with
#: ``psi_record`` only, what that record says in digests and counts (:func:`psi_summary_problem`), as a string of
#: canonical JSON so that an entry stays an object of strings, integers and ``null``. ``psi_dp_cost``: on an allowed
#: step of a named PSI job that names no record (the request step), the ε the owner's gateway charged to the grant's
#: privacy budget when it admitted the step, a decimal string (``privacy.dp.format_milli``); absent when the terms
#: set no budget, and on the events of gateways older than the field. ``psi_retry_of``: on an allowed request step
#: of a named PSI job whose bytes are those of a request step the owner's gateway already counted as the job's run
#: (a client that lost the answer and sent the same request again), the event id of that counted step: this one
#: took no run and no ε, and so states none.
OPTIONAL_FIELDS: Final[dict[str, str]] = {
    "subject": "subjects",
    "psi_dp_cost": "epsilon",
    "psi_job": "digest",
    "psi_record": "digest",
    "psi_retry_of": "event_id",
    "psi_summary": "psi_summary",
}
#: At most this many firms in a query's ``subject``: a detail reads one call, grant or asset (two firms at most).
MAX_SUBJECTS: Final = 2


class UnsequencedEvent(TypedDict):
    """What a recorder (a gateway, the explorer's query audit, the alarm evaluator) hands its outbox: every field
    of :data:`FIELDS` but ``gateway_seq``, which the outbox assigns, and the optional fields of
    :data:`OPTIONAL_FIELDS` where they apply (absent, never null). Every kind of event (a call under a grant, a
    denied call, a ledger query, an alarm record, a step of a PSI job) has these fields: the kinds differ in
    their values, which :func:`validate_event`'s cross-field rules check, not in their shape."""

    v: int
    event_id: str
    traceparent: str
    time_ms: int
    caller_org: str
    caller_identity: str
    provider_org: str
    center: str
    unit: str
    api: str
    method: str
    route: str
    asset_id: str | None
    asset_version: int | None
    grant_id: str | None
    decision: str
    denial_reason: str | None
    request_digest: str
    response_digest: str | None
    status: int
    latency_us: int
    gateway_id: str
    subject: NotRequired[str]
    psi_dp_cost: NotRequired[str]
    psi_job: NotRequired[str]
    psi_record: NotRequired[str]
    psi_retry_of: NotRequired[str]
    psi_summary: NotRequired[str]


class EventJSON(UnsequencedEvent):
    """A valid event as JSON, what :func:`validate_event` and :func:`parse_entry` return and an entry holds: the
    recorder's fields and the ``gateway_seq`` its outbox gave it. :class:`Event` is the same as a frozen value."""

    gateway_seq: int


class FieldError(TypedDict):
    """One problem of an event: where (``loc``, the path of keys and positions) and what (``msg``)."""

    loc: list[str | int]
    msg: str


class PsiParty(TypedDict):
    """A party of a PSI job summary (``_PSI_PARTY``)."""

    org: str
    signing_key: str
    vrf_key: str
    input_count: int
    input_root: str


class PsiMessages(TypedDict):
    request: str
    response: str


class PsiResult(TypedDict):
    """The result of a PSI job: its root, and its count unless the count is differentially private."""

    root: str
    count: NotRequired[int]


class PsiSignatures(TypedDict):
    client: str
    server: str


class PsiDp(TypedDict):
    """A differentially private count of the result (``privacy.dp``) and its ε, as written."""

    mechanism: str
    implementation: str
    epsilon: str
    count: int
    inputs: NotRequired[dict[str, int]]
    budget: NotRequired[str]  # the grant's privacy budget (privacy.dp), when the owner's terms set one


class PsiSummary(TypedDict):
    """A PSI job summary (:func:`psi_summary_problem`), parsed: ``_PSI_SHAPE``, or ``_PSI_SHAPE_DP`` with ``dp``."""

    v: int
    grant_id: str
    protocol: str
    implementation: str
    max_input: int
    client: PsiParty
    server: PsiParty
    messages: PsiMessages
    result: PsiResult
    signatures: PsiSignatures
    dp: NotRequired[PsiDp]
    terms: NotRequired[str]  # SHA-256 of the grant's own terms document (privacy.asset), when it has some


class EventSchemaError(MalformedError):
    """An event failed validation; ``errors`` lists each problem as ``{"loc": [...], "msg": ...}``."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}{more}")


def _is_int(value: object) -> bool:
    return type(value) is int


_PATTERNS: Final = {
    "name": _NAME,
    "event_id": _EVENT_ID,
    "traceparent": tracecontext.PATTERN,
    "digest": _DIGEST,
    "reason": _REASON,
    "route": _ROUTE,
    "gateway": _GATEWAY,
    "grant": _GRANT,
    "epsilon": _EPSILON,
}
_SUBJECTS = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}(,[a-z0-9][a-z0-9._-]{0,31})*\Z")


def _check(kind: str, value: object) -> str | None:
    """``None`` if ``value`` is a valid ``kind``, else what is wrong with it."""
    if kind in ("uint", "seq", "status", "version"):
        if not _is_int(value):
            return "must be an integer"
        n: int = value  # type: ignore[assignment]
        if kind == "version":
            expected = " or ".join(str(v) for v in SCHEMA_VERSIONS)
            return None if n in SCHEMA_VERSIONS else f"unsupported schema version {n}; expected {expected}"
        if kind == "status":
            return None if 100 <= n <= 599 else "must be an HTTP status code (100-599)"
        low = 1 if kind == "seq" else 0
        return None if low <= n <= _MAX_INT else f"must be between {low} and 2^53-1"
    if not isinstance(value, str):
        return "must be a string"
    pattern = _PATTERNS.get(kind)
    if pattern is not None:
        if pattern.match(value) is None:
            return _HINTS[kind]
        if kind == "traceparent":
            return _check_traceparent(value)
        return None
    if kind == "method":
        return None if value in _METHODS else f"must be one of {', '.join(sorted(_METHODS))}"
    if kind == "decision":
        return None if value in DECISIONS else "must be 'allow' or 'deny'"
    if kind == "psi_summary":
        return psi_summary_problem(value)
    if kind == "subjects":
        names = value.split(",")
        if _SUBJECTS.match(value) is None or names != sorted(set(names)) or len(names) > MAX_SUBJECTS:
            return f"must be 1-{MAX_SUBJECTS} org ids (short names), sorted, distinct and comma-separated"
        return None
    raise AssertionError(f"unknown field kind {kind}")


#: The most bytes of a ``psi_summary`` (UTF-8): a summary of two parties with org ids of 32 characters, a
#: protocol and implementations of 64, every count 2^53-1 and the longest ε takes 1,634 with a differentially
#: private count and 1,493 without (a real one ~1,300 and ~1,450); under the national suite the keys are longer
#: (an SM2 signing key 130 hex digits instead of 64, a VRF key 66), 136 more: 1,770 at most. The grant's budget in
#: ``dp`` (``"budget":"10000.000"``) adds 21: the largest national summaries with it, ε "10.000" and every count
#: 2^53-1, take 1,733 with exact input counts and 1,760 with noisy ones (``tests/unit/privacy/test_dp_budget.py``).
#: A job under its grant's own terms names their digest (``"terms":"<64 hex>"``), 75 more: 1,835 at most.
MAX_PSI_SUMMARY_BYTES: Final = 1900
#: The version of the summary's layout (its ``v``): the job record's (``privacy.record.RECORD_VERSION``).
PSI_SUMMARY_VERSION: Final = 1
_PSI_TEXT = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,63}\Z")
_PSI_SIGNATURE = re.compile(r"[0-9a-f]{128}\Z")
#: A party's signing key: Ed25519 (32 bytes) or SM2 (65, ``04 ‖ x ‖ y``); its VRF key: Ed25519 or a compressed SM2
#: point (33 bytes), by the suite the summary's protocol names (``privacy.suites``).
_PSI_SIGNING_KEY = re.compile(r"(?:[0-9a-f]{64}|04[0-9a-f]{128})\Z")
_PSI_VRF_KEY = re.compile(r"(?:[0-9a-f]{64}|0[23][0-9a-f]{64})\Z")
_PSI_PARTY: Final = {
    "org": "name", "signing_key": "signing_key", "vrf_key": "vrf_key", "input_count": "uint", "input_root": "digest",
}  # fmt: skip
#: The summary's fields and their kinds (a dict: an object of its own).
_PSI_SHAPE: Final[dict[str, Any]] = {
    "v": "version", "grant_id": "grant", "protocol": "text", "implementation": "text", "max_input": "uint",
    "client": _PSI_PARTY, "server": _PSI_PARTY,
    "messages": {"request": "digest", "response": "digest"}, "result": {"count": "uint", "root": "digest"},
    "signatures": {"client": "signature", "server": "signature"},
}  # fmt: skip
#: The mechanism of a differentially private count (``privacy.dp``), and its ε as written: a decimal above 0 with
#: at most two digits before the point and three after.
DP_MECHANISM: Final = "discrete-laplace"
DP_EPSILON: Final = re.compile(r"(?!0(?:\.0*)?\Z)(?:0|[1-9][0-9]?)(?:\.[0-9]{1,3})?\Z")
#: A grant's privacy budget as written (``privacy.dp``): a decimal above 0 and at most 10,000, with at most three
#: places.
DP_BUDGET: Final = re.compile(r"(?!0(?:\.0*)?\Z)(?:(?:0|[1-9][0-9]{0,3})(?:\.[0-9]{1,3})?|10000(?:\.0{1,3})?)\Z")
#: With a differentially private count (``privacy.dp``): that count and its ε, and no exact count of the result.
_PSI_SHAPE_DP: Final[dict[str, Any]] = {
    **_PSI_SHAPE,
    "result": {"root": "digest"},
    "dp": {"mechanism": "mechanism", "implementation": "text", "epsilon": "epsilon", "count": "uint"},
}
#: With the input counts drawn with noise too: the parties without their exact ``input_count``.
_PSI_PARTY_DP: Final = {key: kind for key, kind in _PSI_PARTY.items() if key != "input_count"}
_PSI_SHAPE_DP_INPUTS: Final[dict[str, Any]] = {
    **_PSI_SHAPE_DP,
    "client": _PSI_PARTY_DP,
    "server": _PSI_PARTY_DP,
    "dp": {**_PSI_SHAPE_DP["dp"], "inputs": {"client": "uint", "server": "uint"}},
}
#: The variants of each dp shape with the grant's budget (``dp.budget``), which records carry when the owner's
#: terms set one; a summary without it (of a record without a budget, or written before there was one) stays valid.
_PSI_DP_BUDGET: Final = {"budget": "budget"}
_PSI_TEXTS: Final = {
    "grant": (_GRANT, "an on-chain grant id ('0x' and 64 lower-case hex digits)"),
    "text": (_PSI_TEXT, "1-64 characters of printable ASCII"),
    "digest": (_DIGEST, "64 lower-case hex digits"),
    "name": (_NAME, "an org id (a short name)"),
    "signature": (_PSI_SIGNATURE, "128 lower-case hex digits (an Ed25519 signature, or SM2's r ‖ s)"),
    "signing_key": (_PSI_SIGNING_KEY, "an Ed25519 (64 lower-case hex digits) or SM2 public key ('04' and 128)"),
    "vrf_key": (_PSI_VRF_KEY, "an Ed25519 (64 lower-case hex digits) or compressed SM2 point (66) VRF key"),
    "mechanism": (re.compile(re.escape(DP_MECHANISM) + r"\Z"), f"'{DP_MECHANISM}'"),
    "epsilon": (DP_EPSILON, "a decimal string above 0, such as '1' or '0.25'"),
    "budget": (DP_BUDGET, "a decimal string above 0 and at most 10000, such as '10' or '2.5'"),
}


def psi_summary_problem(value: str) -> str | None:
    """None if ``value`` is a PSI job summary, else what is wrong with it.

    A summary is the canonical JSON (RFC 8785) of ``{"v": 1, "grant_id", "protocol", "implementation",
    "max_input", "client": party, "server": party, "messages": {"request", "response"}, "result": {"count",
    "root"}, "signatures": {"client", "server"}}``, a party being ``{"org", "signing_key", "vrf_key",
    "input_count", "input_root"}``: the job record signed by both (``privacy.record``) without its job id and
    purpose, with both signatures. With a differentially private count (``privacy.dp``) it has ``"dp":
    {"mechanism", "implementation", "epsilon", "count"}`` and its ``result`` only the root; with the input counts
    drawn with noise too, ``dp`` also has ``"inputs": {"client", "server"}`` and the parties no ``input_count``
    (a summary holds each count exactly or with noise, never both); when the owner's terms set a privacy budget,
    ``dp`` also has ``"budget"``, the grant's total ε (``privacy.dp``). A job under its grant's own terms has
    ``"terms"``, the SHA-256 of their document (``privacy.asset``). Every value is a name, a count, a hex
    digest, key or signature, or a protocol name: no identifier and no secret has a field to go in."""
    if len(value.encode("utf-8")) > MAX_PSI_SUMMARY_BYTES:
        return f"must be at most {MAX_PSI_SUMMARY_BYTES} bytes"
    try:
        obj = json.loads(value)
    except (ValueError, RecursionError):
        return "must be a JSON object (a PSI job summary)"
    if not isinstance(obj, dict) or canonical_entry(obj).decode("utf-8") != value:
        return "must be a JSON object in canonical form (RFC 8785: sorted keys, no whitespace)"
    if "dp" not in obj:
        shape = _PSI_SHAPE
    else:
        noisy_inputs = isinstance(obj["dp"], dict) and "inputs" in obj["dp"]
        shape = _PSI_SHAPE_DP_INPUTS if noisy_inputs else _PSI_SHAPE_DP
        if isinstance(obj["dp"], dict) and "budget" in obj["dp"]:
            shape = {**shape, "dp": {**shape["dp"], **_PSI_DP_BUDGET}}
    if "terms" in obj:  # a job under a grant's own terms (privacy.asset) names their document's SHA-256
        shape = {**shape, "terms": "digest"}
    return _psi_shape(obj, shape, "")


def _psi_shape(obj: dict[str, Any], shape: dict[str, Any], at: str) -> str | None:
    if sorted(obj) != sorted(shape):
        return f"{at.rstrip('.') or 'the summary'} must have exactly the fields {', '.join(sorted(shape))}"
    for key, kind in shape.items():
        value, where = obj[key], f"{at}{key}"
        if isinstance(kind, dict):
            problem = _psi_shape(value, kind, where + ".") if isinstance(value, dict) else f"{where} must be an object"
        elif kind == "version":
            problem = None if value == PSI_SUMMARY_VERSION and _is_int(value) else f"{where} must be 1"
        elif kind == "uint":
            problem = None if _is_int(value) and 0 <= value <= _MAX_INT else f"{where} must be a count"
        else:
            pattern, hint = _PSI_TEXTS[kind]
            problem = None if isinstance(value, str) and pattern.match(value) else f"{where} must be {hint}"
        if problem is not None:
            return problem
    return None


def psi_summary(obj: Mapping[str, Any]) -> PsiSummary | None:
    """The PSI job summary a valid event (or entry) carries, parsed, or None. Validation checked its shape
    (:func:`psi_summary_problem`), which :class:`PsiSummary` writes as a type."""
    value = obj.get("psi_summary")
    return cast(PsiSummary, json.loads(value)) if isinstance(value, str) else None


def _check_traceparent(value: str) -> str | None:
    return tracecontext.invalid_reason(value)


_HINTS: Final = {
    "name": "must be a short name: 1-32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
    "event_id": "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-', starting with a letter or digit",
    "traceparent": "must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>, lower case",
    "digest": "must be 64 lower-case hex digits (HMAC-SHA256)",
    "reason": "must be a reason code: 1-40 characters of a-z, 0-9 or '_', starting with a letter",
    "route": "must be a path starting with '/', printable ASCII without spaces, at most 256 characters",
    "gateway": "must be '<org id>/<gateway name>', both short names",
    "grant": "must be an on-chain grant id: '0x' and 64 lower-case hex digits",
    "epsilon": "must be an amount of ε above 0: a decimal of at most 6 digits and 3 places, no trailing zero",
}


def validate_event(obj: object, loc: tuple[str | int, ...] = ()) -> EventJSON:
    """``obj`` as a valid event (a copy, typed), else raise :class:`EventSchemaError` listing every problem."""
    if not isinstance(obj, Mapping):
        raise EventSchemaError([{"loc": [*loc], "msg": "an event must be a JSON object"}])
    errors: list[FieldError] = []
    for key in obj:
        if key in OPTIONAL_FIELDS:
            problem = _check(OPTIONAL_FIELDS[key], obj[key])
            if problem is not None:
                errors.append({"loc": [*loc, key], "msg": problem})
        elif key not in FIELDS:
            errors.append({"loc": [*loc, str(key)], "msg": "unknown field"})
    for key, (kind, nullable) in FIELDS.items():
        if key not in obj:
            errors.append({"loc": [*loc, key], "msg": "field required" + (" (may be null)" if nullable else "")})
            continue
        value = obj[key]
        if value is None:
            if not nullable:
                errors.append({"loc": [*loc, key], "msg": "must not be null"})
            continue
        problem = _check(kind, value)
        if problem is not None:
            errors.append({"loc": [*loc, key], "msg": problem})
    if not errors:
        errors.extend(_check_decision(obj, loc))
    if errors:
        raise EventSchemaError(errors)
    return cast(EventJSON, dict(obj))  # every field of FIELDS and OPTIONAL_FIELDS checked above, nothing else


def is_ledger_query(obj: Mapping[str, Any]) -> bool:
    """An explorer's record of a person querying the ledger itself (center ``explorer`` from a gateway named
    ``explorer``): authorised by the role in the person's certificate, not by a grant, so it names none."""
    return obj["center"] == LEDGER_QUERY_CENTER and str(obj["gateway_id"]).endswith("/" + LEDGER_QUERY_CENTER)


def is_alarm_record(obj: Mapping[str, Any]) -> bool:
    """The record of an operational alarm that fired, changed or resolved (center ``alarms`` from a gateway named
    ``alarms``, ``network.alarms.audit``): raised by the operator's alarm evaluator, not allowed by a grant, so
    it names none. Its caller is the firm whose component the alarm is about (the operator for consortium-wide
    subjects) and its provider the operator, so :func:`parties` needs no rule of its own for it."""
    return obj["center"] == ALARM_CENTER and str(obj["gateway_id"]).endswith("/" + ALARM_CENTER)


def subjects(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The firms whose data a ledger query read (its optional ``subject`` field); none for any other event."""
    value = obj.get("subject")
    return tuple(str(value).split(",")) if value else ()


@dataclass(frozen=True, slots=True)
class QueryVisibility:
    """The consortium's policy on who sees the explorer's query events beyond the querying firm (the ``audit``
    object of ``consortium.json``): ``regulators``, the regulator orgs; ``regulator_queries_visible_to_subject``,
    whether a firm sees the regulator's queries of its data (off by default: an investigation is not announced
    to its subject)."""

    regulators: frozenset[str] = frozenset()
    regulator_queries_visible_to_subject: bool = False


def parties(obj: Mapping[str, Any], visibility: QueryVisibility | None = None) -> tuple[str, ...]:
    """The firms an event (or a call row with its fields) belongs to: its caller and its provider; for a ledger
    query the querying firm alone, since the operator named as its provider only records it, and, when the
    ``visibility`` policy says so, the firms whose data a regulator's query read (``subjects``). A firm's own
    queries are never shown to their subjects. The one rule that the notary's reads and the explorer's views both
    apply (``docs/confidentiality.md``)."""
    caller = str(obj["caller_org"])
    if not is_ledger_query(obj):
        return (caller, str(obj["provider_org"]))
    if visibility is not None and visibility.regulator_queries_visible_to_subject and caller in visibility.regulators:
        return (caller, *(s for s in subjects(obj) if s != caller))
    return (caller,)


def _check_decision(obj: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[FieldError]:
    """Cross-field rules: an allowed call names its grant (a ledger query and an alarm record excepted) and no
    reason; a denied one names its reason; only a ledger query names a subject; only a call under a grant's asset
    names a PSI job, and only an allowed one of a named job a PSI record."""
    if "subject" in obj and not is_ledger_query(obj):
        return [{"loc": [*loc, "subject"], "msg": "only an explorer query event names a subject"}]
    if "psi_job" in obj and (is_ledger_query(obj) or is_alarm_record(obj) or obj["asset_id"] is None):
        return [{"loc": [*loc, "psi_job"], "msg": "only a call of an asset's API names a PSI job"}]
    if "psi_record" in obj and ("psi_job" not in obj or obj["decision"] != "allow"):
        return [{"loc": [*loc, "psi_record"], "msg": "only an allowed step of a named PSI job names a record"}]
    if "psi_dp_cost" in obj and ("psi_job" not in obj or obj["decision"] != "allow" or "psi_record" in obj):
        return [{
            "loc": [*loc, "psi_dp_cost"],
            "msg": "only an allowed request step of a named PSI job states the ε it was charged",
        }]  # fmt: skip
    if "psi_retry_of" in obj and (
        "psi_job" not in obj or obj["decision"] != "allow" or "psi_record" in obj or "psi_dp_cost" in obj
    ):
        return [{
            "loc": [*loc, "psi_retry_of"],
            "msg": "only an allowed request step of a named PSI job that states no ε is the retry of a counted one",
        }]  # fmt: skip
    if "psi_summary" in obj:
        problem = _summary_mismatch(obj)
        if problem is not None:
            return [{"loc": [*loc, "psi_summary"], "msg": problem}]
    if obj["decision"] == "allow":
        problems: list[FieldError] = []
        if obj["denial_reason"] is not None:
            problems.append({"loc": [*loc, "denial_reason"], "msg": "must be null when decision is 'allow'"})
        if obj["grant_id"] is None and not (is_ledger_query(obj) or is_alarm_record(obj)):
            problems.append({"loc": [*loc, "grant_id"], "msg": "an allowed call must name its grant"})
        return problems
    if obj["denial_reason"] is None:
        return [{"loc": [*loc, "denial_reason"], "msg": "a denied call must give its reason"}]
    return []


def _summary_mismatch(obj: Mapping[str, Any]) -> str | None:
    """Why a (well-formed) ``psi_summary`` does not belong on this event, or None: it goes with the record's digest
    only, and names the event's grant, its caller as the client and its provider as the server."""
    if "psi_record" not in obj:
        return "only a step that names a PSI record (psi_record) carries its summary"
    summary = psi_summary(obj)
    assert summary is not None
    named = (summary["grant_id"], summary["client"]["org"], summary["server"]["org"])
    if named != (obj["grant_id"], obj["caller_org"], obj["provider_org"]):
        return (
            f"the summary names grant {named[0]}, client {named[1]} and server {named[2]}, not the event's grant, "
            "caller and provider"
        )
    return None


def canonical_entry(event: Mapping[str, Any]) -> bytes:
    """The entry bytes of a validated event: JCS (RFC 8785) over the schema's value types.

    For objects of strings, integers below 2^53 and ``null``, Python's encoder with sorted keys, compact
    separators and ``ensure_ascii=False`` produces exactly RFC 8785's output: the same key order (all keys are
    ASCII, so UTF-16 and code-point order agree), the same escapes (``\\"``, ``\\\\``, ``\\b``, ``\\f``,
    ``\\n``, ``\\r``, ``\\t``, other controls as lower-case ``\\u00xx``), and integers in plain decimal.
    """
    return _canonical(event).encode("utf-8")


#: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` without a new encoder at each call.
_canonical: Final[Callable[[Any], str]] = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode


def parse_entry(data: bytes) -> EventJSON:
    """The event held by entry bytes; raises :class:`MalformedError` unless they are a valid event in
    canonical form (so two different byte strings never claim to be the same event)."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"entry is not UTF-8 JSON: {exc}") from exc
    event = validate_event(obj)
    if canonical_entry(event) != data:
        raise MalformedError("entry is not in canonical form (RFC 8785: sorted keys, no whitespace)")
    return event


_encode: Final[Callable[[str], str]] = json.encoder.encode_basestring  # json.dumps(ensure_ascii=False)'s


def _opt_str(value: str | None) -> str:
    return "null" if value is None else _encode(value)


@dataclass(frozen=True, slots=True)
class Event:
    """One shared-service call as its gateway saw it: the typed form of a valid event (``FIELDS``).

    Build one from JSON with :meth:`from_json` or from entry bytes with :meth:`from_entry`; both validate, so
    an ``Event`` always holds a valid event. :meth:`to_entry` writes the canonical bytes field by field (the
    hot path of the explorer's index and exports); it equals :func:`canonical_entry` of :meth:`to_json`, the
    slow reference, which a property test checks."""

    v: int
    event_id: str
    traceparent: str
    time_ms: int
    caller_org: str
    caller_identity: str
    provider_org: str
    center: str
    unit: str
    api: str
    method: str
    route: str
    asset_id: str | None
    asset_version: int | None
    grant_id: str | None
    decision: str
    denial_reason: str | None
    request_digest: str
    response_digest: str | None
    status: int
    latency_us: int
    gateway_id: str
    gateway_seq: int
    subject: str | None = None
    psi_dp_cost: str | None = None
    psi_job: str | None = None
    psi_record: str | None = None
    psi_retry_of: str | None = None
    psi_summary: str | None = None

    @classmethod
    def from_json(cls, obj: object) -> Event:
        """The event ``obj`` holds; raises :class:`EventSchemaError` listing every problem."""
        return cls(**validate_event(obj))

    @classmethod
    def from_entry(cls, data: bytes) -> Event:
        """The event held by entry bytes in canonical form; raises :class:`MalformedError` otherwise."""
        return cls(**parse_entry(data))

    def to_json(self) -> EventJSON:
        obj = asdict(self)
        for key in OPTIONAL_FIELDS:
            if obj[key] is None:
                del obj[key]  # absent, never null (``OPTIONAL_FIELDS``)
        return cast(EventJSON, obj)  # the fields of a valid event, which an Event always holds

    def to_entry(self) -> bytes:
        """The canonical entry bytes (:func:`encode_entry`)."""
        return encode_entry(
            self.api, self.asset_id, self.asset_version, self.caller_identity, self.caller_org, self.center,
            self.decision, self.denial_reason, self.event_id, self.gateway_id, self.gateway_seq, self.grant_id,
            self.latency_us, self.method, self.provider_org, self.request_digest, self.response_digest, self.route,
            self.status, self.time_ms, self.traceparent, self.unit, self.v, subject=self.subject,
            psi_dp_cost=self.psi_dp_cost, psi_job=self.psi_job, psi_record=self.psi_record,
            psi_retry_of=self.psi_retry_of, psi_summary=self.psi_summary,
        )  # fmt: skip


def encode_entry(
    api: str, asset_id: str | None, asset_version: int | None, caller_identity: str, caller_org: str, center: str,
    decision: str, denial_reason: str | None, event_id: str, gateway_id: str, gateway_seq: int,
    grant_id: str | None, latency_us: int, method: str, provider_org: str, request_digest: str,
    response_digest: str | None, route: str, status: int, time_ms: int, traceparent: str, unit: str, v: int,
    *, subject: str | None = None, psi_dp_cost: str | None = None, psi_job: str | None = None,
    psi_record: str | None = None, psi_retry_of: str | None = None, psi_summary: str | None = None,
) -> bytes:  # fmt: skip
    """The canonical entry bytes of an event's fields, given in the entry's key order (code-point order): the
    bytes :func:`canonical_entry` gives for the same event, written field by field without building a dict
    (the explorer rebuilds entries from its index with it). The fields are not validated; a string where an
    integer belongs, or the reverse, raises ValueError or TypeError. ``subject`` and the ``psi_`` fields are written
    only when given."""
    sub = "" if subject is None else f'"subject":{_encode(subject)},'
    psi = "" if psi_dp_cost is None else f'"psi_dp_cost":{_encode(psi_dp_cost)},'
    psi += "" if psi_job is None else f'"psi_job":{_encode(psi_job)},'
    psi += "" if psi_record is None else f'"psi_record":{_encode(psi_record)},'
    psi += "" if psi_retry_of is None else f'"psi_retry_of":{_encode(psi_retry_of)},'
    psi += "" if psi_summary is None else f'"psi_summary":{_encode(psi_summary)},'
    av = "null" if asset_version is None else f"{asset_version:d}"
    return (
        f'{{"api":{_encode(api)},"asset_id":{_opt_str(asset_id)},"asset_version":{av},'
        f'"caller_identity":{_encode(caller_identity)},"caller_org":{_encode(caller_org)},"center":{_encode(center)},'
        f'"decision":{_encode(decision)},"denial_reason":{_opt_str(denial_reason)},"event_id":{_encode(event_id)},'
        f'"gateway_id":{_encode(gateway_id)},"gateway_seq":{gateway_seq:d},"grant_id":{_opt_str(grant_id)},'
        f'"latency_us":{latency_us:d},"method":{_encode(method)},"provider_org":{_encode(provider_org)},{psi}'
        f'"request_digest":{_encode(request_digest)},"response_digest":{_opt_str(response_digest)},'
        f'"route":{_encode(route)},"status":{status:d},{sub}"time_ms":{time_ms:d},"traceparent":{_encode(traceparent)},'
        f'"unit":{_encode(unit)},"v":{v:d}}}'
    ).encode()


def gateway_org(gateway_id: str) -> str:
    """The org that runs a gateway: the part of ``<org id>/<gateway name>`` before the slash."""
    match = _GATEWAY.match(gateway_id) if isinstance(gateway_id, str) else None
    if match is None:
        raise MalformedError(f"gateway id {gateway_id!r} {_HINTS['gateway']}")
    return match.group(1)
