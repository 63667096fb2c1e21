"""A customer-identifier set as a data asset: the PSI terms its owner publishes, and the steps of a job as calls.

An owner registers its identifier set like any asset (``consortium asset register``) and sets the asset's
metadata digest to the SHA-256 of its *PSI terms document*, ``consortium-ledger/psi-asset/v1``: RFC 8785
canonical JSON and one line feed, byte strings in standard base64 with padding::

    {"asset": "customer-ids", "format": "consortium-ledger/psi-asset/v1", "kem_key": base64 (32 bytes, X25519),
     "max_input": 1000, "org": "alpha", "protocol": "ecdh-psi-p256", "steps": "/v1/privacy/customer-ids"}

In a consortium on the national suite the protocol is ``ecdh-psi-sm2`` and ``kem_key`` the owner's SM2 public key
(65 bytes, ``04 ‖ x ‖ y``), to which the client encrypts the job secret (``privacy.suites``).

An owner may add ``"dp_epsilon": "1"`` (a decimal string, above 0 and at most 10): the log then holds each job's
result count only as ε-differentially private (``privacy.dp``); with it, ``"dp_inputs": true`` releases each
party's input count the same way (a job then spends 3ε), and ``"dp_budget": "10"`` (a decimal string, above 0 and
at most 10,000) is the total ε the owner's gateway lets the jobs of one grant spend. So the protocol, the cap on
each party's input (``max_input``), those and the server's X25519 key (to which the client seals the job secret)
are fixed on chain by the digest of the asset's current version: a gateway holding the document checks it against
the chain before it applies it, a client checks the document it was given the same way, and changing a term is a
new asset version, itself on chain. The grant (``AccessGrants``) names the grantee, the purpose and the window as
for any asset; its quota is the number of jobs (runs) the grantee may start.

A job is three calls to the APIs of the asset, each registered in the catalogue under ``steps`` (the base route):

- ``GET <steps>/terms``: the document above (no run is counted);
- ``POST <steps>/request``: message 1 of ``privacy.psi``; the answer is message 2. This call starts a run: the
  owner's gateway counts it against the grant's quota, after it has checked the request's terms and that the
  number of elements in it is within ``max_input``;
- ``POST <steps>/record``: the record the client signed (:func:`format_record_step`); the answer is the record
  signed by both (``privacy.record.format_signed_record``). No run is counted.

Each step carries the job's *tag* in the header ``Consortium-Psi-Job`` (:func:`job_tag`: SHA-256 over a context
string, the grant id and the job id), which the owner's gateway records in the step's event (``psi_job``), so the
explorer can show a job's steps together without the log holding the job id.

**Terms per grant.** The asset's document may list grants that have terms of their own: ``"grants": {"<grant id>":
"<SHA-256 of the grant's terms document, hex>", ...}``. A grant's terms document, ``consortium-ledger/psi-grant-
terms/v1`` (same bytes rules), names the asset, the grant and its grantee, and replaces for that grant's jobs the
protocol, ``max_input`` and the DP options (the server's key and the route stay the asset's); a random ``salt``
keeps its low-entropy terms from being guessed from the digest the asset's document lists::

    {"asset": "customer-ids", "format": "consortium-ledger/psi-grant-terms/v1", "grant_id": "0x…64 hex",
     "grantee": "beta", "max_input": 100, "protocol": "ecdh-psi-p256", "salt": base64 (16 bytes)}

with ``dp_epsilon``, ``dp_budget``, ``dp_inputs`` as in the asset's document. So the grant's terms are fixed on
chain through the asset's metadata digest, like the asset's own: :func:`terms_of_grant` applies a grant's
document only if its SHA-256 is the one the asset's document lists for that grant, and a grant the list does not
name runs under the asset's terms. A job under a grant's own terms names that digest (``JobTerms.terms_digest``,
the record's ``terms``); a job under the asset's terms names none (its terms are the asset version's metadata
digest, which the step's event names). The terms step answers a grant's document at ``GET <steps>/terms?grant=<grant
id>``, to the grantee only.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from notary.event import canonical_entry
from notary.headers import PSI_JOB_HEADER
from privacy import _json
from privacy.dp import check_budget, check_dp_terms, check_epsilon
from privacy.errors import GrantTermsError, MalformedError
from privacy.record import GRANT_ID, NAME, JobRecord
from privacy.suites import PsiSuite, suite_of_protocol

ASSET_FORMAT: Final = "consortium-ledger/psi-asset/v1"
GRANT_TERMS_FORMAT: Final = "consortium-ledger/psi-grant-terms/v1"
#: An asset's document with about 450 grants of their own terms (136 bytes each in its ``grants``).
MAX_TERMS_BYTES: Final = 64 * 1024
MAX_GRANT_TERMS_BYTES: Final = 4096
GRANT_SALT_BYTES: Final = 16
#: The query parameter of the terms step that asks for a grant's own terms document.
GRANT_QUERY: Final = "grant"
Step = Literal["terms", "request", "record"]
STEPS: Final[tuple[Step, ...]] = ("terms", "request", "record")
STEP_METHODS: Final[dict[Step, str]] = {"terms": "GET", "request": "POST", "record": "POST"}
#: Steps that are not counted against the grant's quota: only a request starts a run.
FREE_STEPS: Final = frozenset({"terms", "record"})
_BASE: Final = re.compile(r"/[A-Za-z0-9._~/-]{1,100}\Z")
_SIG_HEX: Final = re.compile(r"[0-9a-f]{128}\Z")
MAX_RECORD_STEP_BYTES: Final = 32 * 1024
#: The header in which the client names the job's tag on each step (the gateway drops it before forwarding).
JOB_HEADER: Final = PSI_JOB_HEADER
JOB_TAG_CONTEXT: Final = b"consortium-ledger/psi-job-tag/v1\n"
_TAG: Final = re.compile(r"[0-9a-f]{64}\Z")
_HEX32: Final = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True, slots=True)
class PsiAssetTerms:
    """What the owner of an identifier set fixes for every job on it (module docstring)."""

    asset: str
    org: str
    protocol: str
    max_input: int
    kem_key: bytes  # the server's X25519 public key
    steps: str  # the base route of the three step APIs
    dp_epsilon: str | None = None  # the log holds a noisy count of each result with this ε (privacy.dp)
    dp_budget: str | None = None  # the total ε the jobs of one grant may spend (privacy.dp); None: no bound
    dp_inputs: bool = False  # the log holds each party's input count with noise too (privacy.dp)
    #: grant id → SHA-256 of the grant's own terms document (module docstring), sorted by grant id
    grants: tuple[tuple[str, bytes], ...] = ()

    def __post_init__(self) -> None:
        for grant_id, digest in self.grants:
            if GRANT_ID.match(grant_id) is None or len(digest) != 32:
                raise MalformedError(f"grants: {grant_id!r} must be a grant id naming a 32-byte SHA-256")
        if list(self.grants) != sorted(dict(self.grants).items()):
            raise MalformedError("grants: each grant once, sorted by grant id")
        for value, what in ((self.asset, "asset"), (self.org, "org"), (self.protocol, "protocol")):
            if NAME.match(value) is None:
                raise MalformedError(f"{what} {value!r} must be a short name")
        if not 0 < self.max_input <= 2**31:
            raise MalformedError(f"max_input {self.max_input} must be between 1 and 2^31")
        suite = suite_of_protocol(self.protocol)
        if len(self.kem_key) != suite.kem_key_size:
            kind = "an X25519 public key" if suite.name == "intl" else "an SM2 public key, 04 || x || y"
            raise MalformedError(f"kem_key must be {suite.kem_key_size} bytes ({kind}) under {self.protocol}")
        if _BASE.match(self.steps) is None or self.steps.endswith("/"):
            raise MalformedError(f"steps {self.steps!r} must be a route such as /v1/privacy/customer-ids")
        check_dp_terms(self.dp_epsilon, self.dp_budget, self.dp_inputs)

    @property
    def suite(self) -> PsiSuite:
        """The suite the terms' protocol pins (``privacy.suites``)."""
        return suite_of_protocol(self.protocol)

    def route(self, step: Step) -> str:
        return f"{self.steps}/{step}"

    def grant_digest(self, grant_id: str) -> bytes | None:
        """The SHA-256 of ``grant_id``'s own terms document this document lists, or None: the asset's terms."""
        return dict(self.grants).get(grant_id)

    def with_grant(self, grant_id: str, digest: bytes | None) -> PsiAssetTerms:
        """These terms listing ``digest`` for ``grant_id`` (None: the grant runs under the asset's terms again)."""
        grants = {g: d for g, d in self.grants if g != grant_id}
        if digest is not None:
            grants[grant_id] = digest
        return replace(self, grants=tuple(sorted(grants.items())))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ASSET_FORMAT,
            "asset": self.asset,
            "org": self.org,
            "protocol": self.protocol,
            "max_input": self.max_input,
            "kem_key": _json.to_b64(self.kem_key),
            "steps": self.steps,
            # absent without one, so a document written before keeps its bytes and its digest on chain
            **({"dp_epsilon": self.dp_epsilon} if self.dp_epsilon is not None else {}),
            **({"dp_budget": self.dp_budget} if self.dp_budget is not None else {}),
            **({"dp_inputs": True} if self.dp_inputs else {}),
            **({"grants": {g: d.hex() for g, d in self.grants}} if self.grants else {}),
        }


def format_asset_terms(terms: PsiAssetTerms) -> bytes:
    """The document's bytes; their SHA-256 (:func:`terms_digest`) is the asset's metadata digest."""
    return _json.format_document(terms.to_json())


def parse_asset_terms(data: bytes) -> PsiAssetTerms:
    """The terms in ``data`` (canonical form only); raises MalformedError naming the field."""
    document = _json.parse_document(data, "PSI terms document", ASSET_FORMAT, MAX_TERMS_BYTES)
    optional = {key for key in ("dp_epsilon", "dp_budget", "dp_inputs", "grants") if key in document}
    obj = _json.fields(
        document,
        "PSI terms document",
        optional | {"format", "asset", "org", "protocol", "max_input", "kem_key", "steps"},
    )
    grants = obj.get("grants", {})
    if not isinstance(grants, dict) or ("grants" in obj and not grants):
        raise MalformedError("grants must be an object of grant id → SHA-256 hex, or absent")
    return PsiAssetTerms(
        asset=_json.text(obj["asset"], "asset", NAME),
        org=_json.text(obj["org"], "org", NAME),
        protocol=_json.text(obj["protocol"], "protocol", NAME),
        max_input=_json.uint(obj["max_input"], "max_input"),
        kem_key=_json.from_b64(obj["kem_key"], "kem_key"),
        steps=_json.text(obj["steps"], "steps"),
        dp_epsilon=check_epsilon(obj["dp_epsilon"]) if "dp_epsilon" in obj else None,
        dp_budget=check_budget(obj["dp_budget"]) if "dp_budget" in obj else None,
        dp_inputs=_dp_inputs(obj),
        grants=tuple(
            (_json.text(g, "grants", GRANT_ID), bytes.fromhex(_json.text(d, f"grants.{g}", _HEX32)))
            for g, d in sorted(grants.items())
        ),
    )


@dataclass(frozen=True, slots=True)
class PsiGrantTerms:
    """One grant's own terms (module docstring): they replace the asset's protocol, cap and DP options for it."""

    asset: str
    grant_id: str
    grantee: str
    protocol: str
    max_input: int
    salt: bytes
    dp_epsilon: str | None = None
    dp_budget: str | None = None
    dp_inputs: bool = False

    def __post_init__(self) -> None:
        for value, what in ((self.asset, "asset"), (self.grantee, "grantee"), (self.protocol, "protocol")):
            if NAME.match(value) is None:
                raise MalformedError(f"{what} {value!r} must be a short name")
        if GRANT_ID.match(self.grant_id) is None:
            raise MalformedError(f"grant id {self.grant_id!r} must be '0x' and 64 lower-case hex digits")
        if not 0 < self.max_input <= 2**31:
            raise MalformedError(f"max_input {self.max_input} must be between 1 and 2^31")
        suite_of_protocol(self.protocol)
        if len(self.salt) != GRANT_SALT_BYTES:
            raise MalformedError(f"salt must be {GRANT_SALT_BYTES} bytes")
        check_dp_terms(self.dp_epsilon, self.dp_budget, self.dp_inputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": GRANT_TERMS_FORMAT,
            "asset": self.asset,
            "grant_id": self.grant_id,
            "grantee": self.grantee,
            "protocol": self.protocol,
            "max_input": self.max_input,
            "salt": _json.to_b64(self.salt),
            **({"dp_epsilon": self.dp_epsilon} if self.dp_epsilon is not None else {}),
            **({"dp_budget": self.dp_budget} if self.dp_budget is not None else {}),
            **({"dp_inputs": True} if self.dp_inputs else {}),
        }


def format_grant_terms(terms: PsiGrantTerms) -> bytes:
    """The grant's terms document's bytes; their SHA-256 is what the asset's document lists for the grant."""
    return _json.format_document(terms.to_json())


def parse_grant_terms(data: bytes) -> PsiGrantTerms:
    """The grant's terms in ``data`` (canonical form only); raises MalformedError naming the field."""
    document = _json.parse_document(data, "grant's PSI terms document", GRANT_TERMS_FORMAT, MAX_GRANT_TERMS_BYTES)
    optional = {key for key in ("dp_epsilon", "dp_budget", "dp_inputs") if key in document}
    obj = _json.fields(
        document,
        "grant's PSI terms document",
        optional | {"format", "asset", "grant_id", "grantee", "protocol", "max_input", "salt"},
    )
    return PsiGrantTerms(
        asset=_json.text(obj["asset"], "asset", NAME),
        grant_id=_json.text(obj["grant_id"], "grant_id", GRANT_ID),
        grantee=_json.text(obj["grantee"], "grantee", NAME),
        protocol=_json.text(obj["protocol"], "protocol", NAME),
        max_input=_json.uint(obj["max_input"], "max_input"),
        salt=_json.from_b64(obj["salt"], "salt", GRANT_SALT_BYTES),
        dp_epsilon=check_epsilon(obj["dp_epsilon"]) if "dp_epsilon" in obj else None,
        dp_budget=check_budget(obj["dp_budget"]) if "dp_budget" in obj else None,
        dp_inputs=_dp_inputs(obj),
    )


@dataclass(frozen=True, slots=True)
class GrantView:
    """The terms a job under one grant runs under: the asset's, with the grant's own in place when it has some."""

    terms: PsiAssetTerms  # the asset's terms with the grant's protocol, max_input and DP options
    digest: bytes | None  # SHA-256 of the grant's own terms document; None: the asset's terms
    grantee: str | None  # the grantee the grant's document names; None: the asset's terms


def terms_of_grant(asset: PsiAssetTerms, grant_id: str, document: bytes | None) -> GrantView:
    """The terms of ``grant_id``'s jobs: the asset's when its document lists no digest for the grant, else the
    grant's ``document``, which must be of this asset and grant and hash to the digest listed. Raises
    :class:`~privacy.errors.GrantTermsError` (reason ``grant_terms_other_asset``, ``grant_terms_other_grant``,
    ``grant_terms_mismatch``, ``grant_terms_missing``, ``grant_terms_unlisted``, ``wrong_suite``) otherwise."""
    listed = asset.grant_digest(grant_id)
    if listed is None:
        if document is not None:
            raise GrantTermsError(
                "grant_terms_unlisted",
                f"grant {grant_id} has terms of its own here, but the terms of {asset.asset} on chain list none for "
                "it: publish the asset's terms with the grant's digest as a new asset version",
            )
        return GrantView(asset, None, None)
    if document is None:
        raise GrantTermsError(
            "grant_terms_missing",
            f"the terms of {asset.asset} list terms of grant {grant_id} (SHA-256 {listed.hex()}); their document is "
            "not here",
        )
    try:
        own = parse_grant_terms(document)
    except MalformedError as exc:
        raise GrantTermsError("grant_terms_malformed", f"the terms document of grant {grant_id}: {exc}") from exc
    if own.asset != asset.asset:
        raise GrantTermsError(
            "grant_terms_other_asset",
            f"the terms document of grant {grant_id} is of asset {own.asset}, not {asset.asset}",
        )
    if own.grant_id != grant_id:
        raise GrantTermsError(
            "grant_terms_other_grant", f"the terms document given for grant {grant_id} is of grant {own.grant_id}"
        )
    digest = terms_digest(document)
    if digest != listed:
        raise GrantTermsError(
            "grant_terms_mismatch",
            f"the terms document of grant {grant_id} has SHA-256 {digest.hex()}; the terms of {asset.asset} on chain "
            f"list {listed.hex()}",
        )
    if suite_of_protocol(own.protocol) is not asset.suite:
        raise GrantTermsError(
            "wrong_suite", f"grant {grant_id}'s protocol {own.protocol} is not of the asset's {asset.suite.name} suite"
        )
    terms = replace(
        asset, protocol=own.protocol, max_input=own.max_input, dp_epsilon=own.dp_epsilon, dp_budget=own.dp_budget,
        dp_inputs=own.dp_inputs,
    )  # fmt: skip
    return GrantView(terms, digest, own.grantee)


def _dp_inputs(obj: dict[str, Any]) -> bool:
    """``dp_inputs`` is written only as ``true`` (absent is false), so one set of terms has one document."""
    if "dp_inputs" not in obj:
        return False
    if obj["dp_inputs"] is not True:
        raise MalformedError("dp_inputs must be true, or absent")
    return True


def terms_digest(document: bytes) -> bytes:
    """SHA-256 of the document's bytes: what the asset's metadata digest on chain must be."""
    return hashlib.sha256(document).digest()


def job_tag(grant_id: str, job_id: str) -> str:
    """The job's tag, 64 lower-case hex digits: SHA-256(``consortium-ledger/psi-job-tag/v1`` ‖ LF ‖ grant id ‖ LF
    ‖ job id), the ids in ASCII as the record names them. The grant binds it to one grantee and one owner's asset
    (two firms' jobs of the same id get other tags); the owner's service refuses a job id it answered before, so
    under one grant it names one job. Anyone who holds the record computes it; the log holds only the tag."""
    return hashlib.sha256(JOB_TAG_CONTEXT + grant_id.encode("ascii") + b"\n" + job_id.encode("ascii")).hexdigest()


def is_job_tag(value: str) -> bool:
    return _TAG.match(value) is not None


def step_of(route: str) -> Step | None:
    """Which step an API's route serves (its last segment), or None."""
    last = route.rsplit("/", 1)[-1]
    return last if last in STEPS else None


def format_record_step(record: JobRecord, client_signature: bytes) -> bytes:
    """The body of the record step: the record and the client's signature, canonical JSON."""
    return canonical_entry({"record": record.to_json(), "client_signature": client_signature.hex()})


def parse_record_step(data: bytes) -> tuple[JobRecord, bytes]:
    """(record, client signature) of a record step's body; canonical form only."""
    if len(data) > MAX_RECORD_STEP_BYTES:
        raise MalformedError(f"record step is {len(data)} bytes, at most {MAX_RECORD_STEP_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"record step is not UTF-8 JSON: {exc}") from exc
    top = _json.fields(obj, "record step", {"record", "client_signature"})
    record = JobRecord.from_json(top["record"])
    signature = bytes.fromhex(_json.text(top["client_signature"], "client_signature", _SIG_HEX))
    if format_record_step(record, signature) != data:
        raise MalformedError("record step is not in canonical form (RFC 8785)")
    return record, signature


__all__ = [
    "ASSET_FORMAT",
    "FREE_STEPS",
    "GRANT_TERMS_FORMAT",
    "STEPS",
    "STEP_METHODS",
    "GrantView",
    "PsiAssetTerms",
    "PsiGrantTerms",
    "Step",
    "format_asset_terms",
    "format_grant_terms",
    "format_record_step",
    "parse_asset_terms",
    "parse_grant_terms",
    "parse_record_step",
    "step_of",
    "terms_digest",
    "terms_of_grant",
]
