"""What the owner's gateway checks on the steps of a PSI job (``privacy.asset``) before it forwards them.

The gateway holds the PSI terms document of each identifier set its org owns (``orgs/<org>/privacy/
<asset>.terms.json``, :func:`load_terms`), each of the consortium's suite (a document naming the other suite's
protocol is refused at start, ``privacy.suites``; under ``sm`` a request's payload is the points of
``privacy.smpsi``, whose count it checks the same way). A call to an API of such an asset is a step, named by
the last segment of its route (``terms``, ``request``, ``record``). After the grant decision, and before any quota
is counted or anything forwarded, :meth:`PsiGuard.check`:

1. compares the document's SHA-256 with the metadata digest of the asset's current version on chain: the terms
   the gateway applies are the ones on chain, or none (503 ``psi_terms_mismatch``); the terms of the step's grant
   are the grant's own (``<asset>.grants/<grant id>.terms.json``, checked at start against the digest the asset's
   document lists for the grant, ``privacy.asset.terms_of_grant``) when the document lists some, else the
   asset's: every check below is against them, and a job under a grant's own terms must name their digest and be
   the grant's grantee's;
2. for a request: parses the message header and counts the elements of its PSI payload (no key needed), and
   refuses a request naming other terms than the grant's and the asset's (grant id, purpose, protocol,
   ``max_input``, the ``dp_epsilon`` of the differentially private count and the grant's ``dp_budget``, or none)
   or another client than the caller (403 ``psi_wrong_terms``), or holding more elements than ``max_input`` (403
   ``input_over_cap``);
   bytes that are not a request are 400 ``psi_malformed``;
3. for a record: the same terms and client, read from the record, and the gateway's org as its server;
4. for a request or a record: that the job tag the client names in ``Consortium-Psi-Job`` (if any) is the tag of
   the message's job (``privacy.asset.job_tag``, 403 ``psi_wrong_job``).

The step's event names the job's tag (``psi_job``): the tag of the message's job when the gateway parsed a
request or a record, else the tag the client named (the terms step, which has no body, and a step refused before
its message was read). An allowed record step whose answer is the record signed by both, the record the client
sent, also names the SHA-256 of that answer (``psi_record``) and what it says in digests and counts
(``psi_summary``, ``privacy.record.format_summary``), both from the same bytes (:func:`record_fields`): the bytes
each party keeps as ``record.json``. The gateway vouches only for a record it saw both sides of: a 200 answer to a
record step that is not the record and client signature the step forwarded, countersigned, or that is larger than
a signed record may be (``privacy.record.MAX_RECORD_BYTES``), is not passed on: the caller gets 502
``psi_record_mismatch``, and the event records that status and names no record.

Only a request counts against the grant's quota (one run); the terms and record steps are decided and recorded
like any call but free, so the last run's record can still be countersigned. A request the owner's service gives no
answer to (502 ``upstream_unreachable``, 504 ``upstream_timeout``, 503 ``circuit_open``, or an answer cut off: the
service stopped or was killed during the step) is recorded as allowed but no run: its event is uncounted and states
no ε, and the unit and the ε are given back (``gateway.server``), so the client sends the same request again, which
the owner's service answers the same (``privacy.service``), at one run for the job. When the asset's terms set a privacy
budget (``dp_budget``), a request that passed these checks also spends the job's ε of the grant's budget
(:meth:`PsiGuard.budget`: ε for each count the job releases with noise, sequential composition) once its run is
counted, and is refused (its run given back), 403 ``dp_budget_exhausted``, recorded like any refusal, when that
would take the ε the grant's jobs spent over the budget (``gateway.quota``: kept in the outbox with the request's
event, or shared by the replicas in PostgreSQL).

The terms also size the transport of a request step (:meth:`PsiGuard.body_limit`, :meth:`PsiGuard.timeout_s`): its
body may take as many bytes as a request of ``max_input`` elements can (``privacy.psi.max_request_bytes``, 35 bytes
an identifier and at most 16 KiB of header; when that is more than the gateway's limit for every other call), and
the upstream gets ``privacy.psi.request_time_budget_s`` to answer it (when that is longer than its usual timeout):
5 ms an identifier under ``intl``, 30 ms under ``sm``, whose curve arithmetic is in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gateway.errors import GatewayError
from notary.event import psi_summary_problem
from privacy.asset import (
    FREE_STEPS,
    GrantView,
    PsiAssetTerms,
    Step,
    is_job_tag,
    job_tag,
    parse_asset_terms,
    parse_record_step,
    step_of,
    terms_digest,
    terms_of_grant,
)
from privacy.dp import COUNTS_RESULT_ONLY, COUNTS_WITH_INPUTS, format_milli, job_cost, milli
from privacy.errors import MalformedError, PrivacyError
from privacy.psi import inspect_request, max_request_bytes, request_time_budget_s
from privacy.record import MAX_RECORD_BYTES, JobRecord, format_summary, parse_signed_record
from privacy.suites import check_same_suite, psi_suite

if TYPE_CHECKING:  # types only: the demo's services read the terms' layout here without the gateway's policy
    from gateway.policy import Decision, Service

TERMS_SUFFIX: Final = ".terms.json"
#: Beside ``<asset>.terms.json``: the folder of the grants' own terms documents, ``<grant id>.terms.json`` each.
GRANTS_SUFFIX: Final = ".grants"


def terms_dir(directory: Path, org: str) -> Path:
    """Where an org keeps the PSI terms documents of its identifier sets (and their X25519 keys)."""
    return directory / "orgs" / org / "privacy"


def load_terms(directory: Path, org: str) -> dict[str, bytes]:
    """Asset → terms document of every ``<asset>.terms.json`` of the org (none: no PSI asset)."""
    folder = terms_dir(directory, org)
    if not folder.is_dir():
        return {}
    return {path.name[: -len(TERMS_SUFFIX)]: path.read_bytes() for path in sorted(folder.glob(f"*{TERMS_SUFFIX}"))}


def grant_terms_dir(directory: Path, org: str, asset: str) -> Path:
    """Where an org keeps the grants' own PSI terms documents of its identifier set ``asset``."""
    return terms_dir(directory, org) / f"{asset}{GRANTS_SUFFIX}"


def load_grant_terms(directory: Path, org: str, asset: str) -> dict[str, bytes]:
    """Grant id → the grant's own terms document of every ``<grant id>.terms.json`` of ``asset`` (none: every grant
    runs under the asset's terms)."""
    folder = grant_terms_dir(directory, org, asset)
    if not folder.is_dir():
        return {}
    return {path.name[: -len(TERMS_SUFFIX)]: path.read_bytes() for path in sorted(folder.glob(f"*{TERMS_SUFFIX}"))}


@dataclass(frozen=True, slots=True)
class PsiDenial:
    reason: str
    status: int
    detail: str


@dataclass(slots=True)
class PsiStep:
    """What the gateway knows of a step's job: the tag its event names (None: no tag, the event names none) and,
    for a record step whose message it read, the record it forwards (to recognise the answer)."""

    tag: str | None = None
    record: JobRecord | None = None
    client_signature: bytes | None = None


def claimed_tag(header: str | None) -> str | None:
    """The job tag a client names in its header, if it is one (anything else is ignored: the event names none)."""
    return header if header is not None and is_job_tag(header) else None


@dataclass(frozen=True, slots=True)
class RecordFields:
    """What the event of a record step names of the owner's answer: its SHA-256 (``psi_record``) and summary
    (``psi_summary``)."""

    digest: str
    summary: str


class RecordMismatchError(GatewayError):
    """The owner answered a record step with 200 but not with the record the step forwarded, signed by both."""


def expects_record(step: PsiStep | None, status: int) -> bool:
    """Whether an answer of ``status`` to this step must be the forwarded record signed by both (a record step the
    gateway read, answered 200)."""
    return step is not None and step.record is not None and status == 200


def record_fields(step: PsiStep, status: int, answer: bytes) -> RecordFields | None:
    """The event's ``psi_record`` and ``psi_summary`` of a record step's answer, both from ``answer``'s bytes; None
    for an answer that is not 200 (a refusal, which names no record). Raises :class:`RecordMismatchError` (saying what
    differs) for a 200 answer that is not the record and client signature the step forwarded, countersigned."""
    if not expects_record(step, status):
        return None
    if len(answer) > MAX_RECORD_BYTES:
        raise RecordMismatchError(
            f"the answer is {len(answer):,} bytes, over the {MAX_RECORD_BYTES:,} of a signed record"
        )
    try:
        signed = parse_signed_record(answer)
    except PrivacyError as exc:
        raise RecordMismatchError(f"the answer is not a signed job record: {exc}") from None
    if signed.record != step.record:
        raise RecordMismatchError("the answer is the record of another job than the one the record step forwarded")
    if signed.client_signature != step.client_signature:
        raise RecordMismatchError("the answer holds another client signature than the one the record step forwarded")
    summary = format_summary(signed)
    problem = psi_summary_problem(summary)  # the record's own checks are as strict; an event must never fail them
    if problem is not None:
        raise RecordMismatchError(f"the record's summary is not one an event may hold: {problem}")
    return RecordFields(hashlib.sha256(answer).hexdigest(), summary)


@dataclass(frozen=True, slots=True)
class DpBudget:
    """What one job of an asset spends of each grant's privacy budget, and the budget, in thousandths of ε
    (``privacy.dp``)."""

    epsilon: str
    counts: int  # the counts a job releases with noise, each with ``epsilon``
    cost: int
    limit: int

    def refusal(self, grant_id: str, spent: int) -> str:
        """Why a job is refused when ``spent`` is what the grant's jobs spent."""
        return (
            f"the job would spend ε {format_milli(self.cost)} ({self.counts} noisy counts of ε {self.epsilon}, "
            f"sequential composition) of the privacy budget of grant {grant_id}, {format_milli(self.limit)}: "
            f"{format_milli(spent)} spent, {format_milli(max(0, self.limit - spent))} left"
        )


class PsiGuard:
    """The PSI terms the gateway enforces, by asset (module docstring)."""

    def __init__(
        self,
        documents: Mapping[str, bytes],
        org: str,
        crypto: str = "intl",
        grant_documents: Mapping[str, Mapping[str, bytes]] | None = None,
    ) -> None:
        self._org = org
        self._terms: dict[str, tuple[bytes, PsiAssetTerms]] = {}
        self._grants: dict[str, dict[str, GrantView]] = {}
        suite = psi_suite(crypto)
        for asset, document in documents.items():
            terms = parse_asset_terms(document)
            if terms.asset != asset or terms.org != org:
                raise MalformedError(f"the PSI terms of {asset} name asset {terms.asset} of {terms.org}")
            check_same_suite(suite, terms.suite, f"the PSI terms of {asset}")
            self._terms[asset] = (document, terms)
            own = (grant_documents or {}).get(asset, {})
            # refuses a grant's document of another asset or grant, not the one the asset's terms list, or missing
            self._grants[asset] = {
                grant_id: terms_of_grant(terms, grant_id, own.get(grant_id))
                for grant_id in sorted({g for g, _ in terms.grants} | set(own))
            }

    def view(self, asset: str, grant_id: str | None) -> GrantView:
        """The terms the jobs of ``grant_id`` on ``asset`` run under: the grant's own, or the asset's."""
        terms = self._terms[asset][1]
        return self._grants[asset].get(grant_id or "", GrantView(terms, None, None))

    def _largest(self, asset: str) -> PsiAssetTerms:
        """The terms of ``asset`` with the largest cap, its own or a grant's: what sizes a step before its grant is
        decided."""
        views = [self.view(asset, None), *self._grants[asset].values()]
        return max((v.terms for v in views), key=lambda t: t.max_input)

    @property
    def assets(self) -> list[str]:
        return sorted(self._terms)

    def step(self, service: Service) -> Step | None:
        """The PSI step ``service`` serves, or None for an API that is not one."""
        if service.asset not in self._terms:
            return None
        return step_of(service.route)

    def body_limit(self, service: Service) -> int | None:
        """The most bytes a body of ``service`` may take by the asset's terms: for a request step, a request of
        ``max_input`` elements; None for any other API (the gateway's own limit applies)."""
        if self.step(service) != "request":
            return None
        return max_request_bytes(self._largest(service.asset).max_input)

    def timeout_s(self, service: Service) -> float | None:
        """How long the upstream may take to answer a request step of the asset (module docstring); None for any
        other API."""
        if self.step(service) != "request":
            return None
        terms = self._largest(service.asset)
        return request_time_budget_s(terms.max_input, terms.suite)

    def limit_detail(self, service: Service) -> str:
        """Why a request step's body limit is what it is, for the refusal of a larger body."""
        terms = self._largest(service.asset)
        return (
            f"a request of at most {terms.max_input:,} identifiers, the largest max_input of {service.asset}'s "
            "PSI terms"
        )

    def budget(self, service: Service, grant_id: str | None) -> DpBudget | None:
        """What a job of ``service``'s asset under ``grant_id`` spends of the grant's privacy budget, or None when
        its terms (the grant's own, or the asset's) set none."""
        terms = self.view(service.asset, grant_id).terms
        if terms.dp_budget is None or terms.dp_epsilon is None:
            return None
        counts = COUNTS_WITH_INPUTS if terms.dp_inputs else COUNTS_RESULT_ONLY
        return DpBudget(terms.dp_epsilon, counts, job_cost(terms.dp_epsilon, terms.dp_inputs), milli(terms.dp_budget))

    @staticmethod
    def counts_a_run(step: Step) -> bool:
        return step not in FREE_STEPS

    def check(
        self,
        service: Service,
        step: Step,
        body: bytes,
        decision: Decision,
        purpose: str,
        caller_org: str,
        on_chain_digest: bytes | None,
        job: PsiStep | None = None,
    ) -> PsiDenial | None:
        """None if the step may go on, else why not (module docstring). ``job`` holds the tag the client claimed;
        once the message is read, it holds the message's tag and, for a record step, its record."""
        job = PsiStep() if job is None else job
        document = self._terms[service.asset][0]
        view = self.view(service.asset, decision.grant_id)
        terms = view.terms
        if on_chain_digest != terms_digest(document):
            return PsiDenial(
                "psi_terms_mismatch",
                503,
                f"the PSI terms this gateway holds for {service.asset} are not the ones its metadata digest on chain "
                "names; the owner must publish them as a new asset version",
            )
        expected = {
            "grant_id": decision.grant_id,
            "purpose": purpose,
            "protocol": terms.protocol,
            "max_input": terms.max_input,
            "dp_epsilon": terms.dp_epsilon,  # a request or record without the ε the terms set is refused
            "dp_inputs": True if terms.dp_inputs else None,  # and one without the noisy input counts they ask for
            "dp_budget": terms.dp_budget,  # and one that states another privacy budget than the terms'
            "terms": None if view.digest is None else view.digest.hex(),  # the grant's own terms, or none
        }
        if step == "request":
            try:
                summary = inspect_request(body)
            except MalformedError as exc:
                return PsiDenial("psi_malformed", 400, f"not a PSI request message: {exc}")
            named = {key: summary.terms.get(key) for key in expected}
            client = summary.client_org
            job_id = summary.terms.get("job_id")
        elif step == "record":
            try:
                record, signature = parse_record_step(body)
            except MalformedError as exc:
                return PsiDenial("psi_malformed", 400, f"not a PSI record step: {exc}")
            named = {
                "grant_id": record.grant_id,
                "purpose": record.purpose,
                "protocol": record.protocol,
                "max_input": record.max_input,
                "dp_epsilon": None if record.dp is None else record.dp.epsilon,
                "dp_inputs": True if record.dp is not None and record.dp.inputs is not None else None,
                "dp_budget": None if record.dp is None else record.dp.budget,
                "terms": None if record.terms is None else record.terms.hex(),
            }
            client = record.client.org
            job_id = record.job_id
            job.record, job.client_signature = record, signature
        else:
            return None
        claimed, grant_id = job.tag, named["grant_id"]
        ids_ok = isinstance(job_id, str) and isinstance(grant_id, str) and (job_id + grant_id).isascii()
        job.tag = job_tag(grant_id, job_id) if ids_ok else None  # type: ignore[arg-type]
        wrong = [f"{key} {named[key]!r} (expected {value!r})" for key, value in expected.items() if named[key] != value]
        if client != caller_org:
            wrong.append(f"client {client!r} (the caller is {caller_org!r})")
        if view.grantee is not None and caller_org != view.grantee:
            wrong.append(f"caller {caller_org!r} (the grant's terms are {view.grantee!r}'s)")
        if step == "record" and job.record is not None and job.record.server.org != self._org:
            wrong.append(f"server {job.record.server.org!r} (the owner is {self._org!r})")
        if wrong:
            return PsiDenial("psi_wrong_terms", 403, "the job names other terms than the grant's: " + "; ".join(wrong))
        if claimed is not None and claimed != job.tag:
            return PsiDenial(
                "psi_wrong_job", 403, "the job tag in the Consortium-Psi-Job header is not the tag of the message's job"
            )
        if step == "request" and summary.count > terms.max_input:
            return PsiDenial(
                "input_over_cap",
                403,
                f"the request holds {summary.count} identifiers, over the cap of {terms.max_input} the "
                + ("grant's own terms" if view.digest is not None else "asset's terms")
                + " on chain set",
            )
        return None
