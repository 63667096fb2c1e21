"""Privacy-computing jobs: ``/jobs/{tag}``, the steps of one PSI job as the log holds them (``docs/privacy.md``,
"The job in the log and the explorer").

A job's steps are the events naming its tag (``psi_job``, ``privacy.asset.job_tag``). The job is defined by its
first step whose tag the owner's gateway computed from the message it read (a request or a record), else by its
first event: the job's client, owner and grant are that step's caller, provider and grant, and only events with
the same three belong to it. So a firm that names another job's tag in its own header (which the gateway records
unchecked on a terms step) adds nothing to that job's page.

Who sees a job: its client's and owner's people and the regulator, the rule for its calls
(``explorer.access.sees_call``). A job the person may not see is the same 404 as a tag no event names.

The privacy budget (``privacy_budget``, ``privacy.dp``): a job whose record has a differentially private count
states in its summary the ε of each noisy count (so what the job spent, :func:`privacy.dp.summary_cost`) and, when
the owner's terms set one, the grant's budget. The page adds up what the jobs of the same grant, client and owner
spent, from their allowed request and record steps (below), in log order: through this job, and through every job
indexed. Those steps share the job's caller and provider, so whoever sees the job sees
them; each is checked with the same rule anyway. The owner's gateway spends a job's ε when it admits the request
(``gateway.psi``), and its request step's event states what it charged (``psi_dp_cost``): the page counts each allowed
request by that, once per event (a request the owner's service then refused, or whose record step never came, has
spent it too), so what it adds up is what the gateway spent. A job whose request event states no ε (a gateway older
than the field) is counted by its record's summary, as before the field; an allowed request of such a job without a
record step adds nothing and is counted apart (``uncounted_requests``). ``unrecorded_requests`` counts every allowed
request whose job has no record step. An allowed request answered 502, 503 or 504 that states no ε is one the
owner's service gave no answer to, which the gateway counts as no run and charges nothing (``gateway.psi``): the page
leaves it out of both, and so it does a request naming ``psi_retry_of``, the same request as one the gateway counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter
from fastapi import Path as PathParam

from explorer import access
from explorer.api.deps import CurrentPerson, Explorer, ExplorerDep, Subject
from explorer.api.grants import private_row
from explorer.api.schemas import PsiJob
from explorer.calls import CallFilter, CallRow
from explorer.errors import NotFoundError
from explorer.state import GrantJSON, grant_json
from network.logins import Person
from notary.event import parties, psi_summary
from privacy.asset import step_of
from privacy.dp import COUNTS_RESULT_ONLY, COUNTS_WITH_INPUTS, format_milli, milli, summary_cost

router = APIRouter(tags=["jobs"])

JobTag = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$", description="the job's tag: 64 lower-case hex digits")]
#: Refusals that come after the owner's gateway has read the step's message, and so its job's tag.
_READ_MESSAGE: Final = frozenset({"psi_wrong_terms", "psi_wrong_job", "input_over_cap", "quota_exhausted"})
#: The statuses of an allowed step the owner's service gave no answer to (the gateway's own 502, 503 and 504).
UNANSWERED: Final = frozenset({502, 503, 504})


def tag_from(step: str | None, row: Mapping[str, Any]) -> str:
    """``message`` if the gateway computed the event's tag from the step's message, else ``client`` (module
    docstring of ``gateway.psi``)."""
    read = row["decision"] == "allow" or row["denial_reason"] in _READ_MESSAGE
    return "message" if step in ("request", "record") and read else "client"


def _defining(steps: Sequence[tuple[str | None, CallRow]]) -> CallRow:
    for step, row in steps:
        if tag_from(step, row) == "message":
            return row
    return steps[0][1]


def _grant(explorer: Explorer, person: Person, grant_id: str | None) -> GrantJSON | None:
    if grant_id is None:
        return None
    snap = explorer.state.snapshot
    private = snap.private_grant(grant_id)
    if private is not None:
        return private_row(explorer, person, private)
    found = snap.grant(grant_id)
    if found is None or not access.sees_grant(person, found):
        return None
    return grant_json(found, snap.asset(found.asset), snap.block_time)


JobKey = tuple[str, str, str | None]  # a job's client, owner and grant


class _Spending:
    """What the jobs under one grant spent, as the log states it (module docstring): ``charges``, (leaf index,
    thousandths of ε, job tag) of each allowed request stating its ε and of each recorded job whose request stated
    none, in log order; ``jobs``, the tags counted; ``unrecorded``/``uncounted``, allowed requests whose job has no
    record step, and those of them counted nowhere (their event states no ε)."""

    def __init__(self) -> None:
        self.charges: list[tuple[int, int, str]] = []
        self.jobs: set[str] = set()
        self.unrecorded = 0
        self.uncounted = 0

    def through(self, tag: str) -> int:
        """Thousandths of ε spent up to the job ``tag``'s first charge, that one included."""
        at = min((i for i, _, t in self.charges if t == tag), default=None)
        return sum(c for i, c, _ in self.charges if at is None or i <= at)

    def total(self) -> int:
        return sum(c for _, c, _ in self.charges)


def _spending(explorer: Explorer, person: Person, key: JobKey) -> _Spending:
    """What the jobs under the grant ``key`` names (client, owner, grant) spent (:class:`_Spending`)."""
    caller, provider, grant_id = key
    out = _Spending()
    if grant_id is None:
        return out
    stated: set[str] = set()  # tags whose request events state what they were charged
    requested: list[tuple[str, bool]] = []  # each allowed request: its tag, whether its event states ε
    recorded: dict[str, tuple[int, int]] = {}  # tag → its first allowed record step with a summary: index, cost
    found = CallFilter(caller=caller, provider=provider, grant=grant_id, decision="allow")
    visibility = explorer.visibility  # once per request, not per row
    for row in explorer.calls.iter_calls(found):
        step = step_of(row["route"])
        if step not in ("request", "record") or not access.sees_call(person, row, visibility):
            continue
        full = explorer.calls.by_index(row["index"])
        if full is None or "entry" not in full:
            continue
        entry = json.loads(full["entry"])
        tag = entry.get("psi_job")
        if not isinstance(tag, str):
            continue
        if step == "request":
            if "psi_retry_of" in entry:
                continue  # the same request as one the gateway counted: no run, no ε, the job's own request
            cost = entry.get("psi_dp_cost")
            if isinstance(cost, str):
                stated.add(tag)
                out.charges.append((row["index"], milli(cost), tag))
            elif entry.get("status") in UNANSWERED:
                continue  # the owner's service gave no answer: the gateway counted no run and charged no ε
            requested.append((tag, isinstance(cost, str)))
            continue
        summary = psi_summary(entry)
        if summary is None or tag in recorded:
            continue
        dp = summary.get("dp")
        recorded[tag] = (row["index"], 0 if dp is None else summary_cost(dp))
    for tag, (index, cost) in recorded.items():
        if tag not in stated:  # older events: the record's summary says what the job spent
            out.charges.append((index, cost, tag))
    out.charges.sort()
    out.jobs = {t for _, _, t in out.charges}
    unrecorded = [has_cost for tag, has_cost in requested if tag not in recorded]
    out.unrecorded = len(unrecorded)
    out.uncounted = unrecorded.count(False)
    return out


def _privacy_budget(
    explorer: Explorer, person: Person, key: JobKey, tag: str, summary: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What the job spent of its grant's privacy budget, and what the grant's jobs spent (module docstring); None
    for a job without a differentially private count."""
    dp = summary.get("dp")
    if not isinstance(dp, Mapping):
        return None
    cost = summary_cost(dp)
    budget = dp.get("budget")
    spending = _spending(explorer, person, key)
    if tag not in spending.jobs:  # not indexed as the grant's (cannot happen for a job the page shows): last
        spending.charges.append((spending.charges[-1][0] + 1 if spending.charges else 0, cost, tag))
        spending.jobs.add(tag)
    spent = spending.through(tag)  # through this job, in log order
    total = spending.total()
    limit = None if budget is None else milli(budget)
    return {
        "epsilon": dp["epsilon"],
        "noisy_counts": COUNTS_WITH_INPUTS if "inputs" in dp else COUNTS_RESULT_ONLY,
        "cost": format_milli(cost),
        "budget": budget,
        "spent": format_milli(spent),
        "remaining": None if limit is None else format_milli(max(0, limit - spent)),
        "spent_total": format_milli(total),
        "remaining_total": None if limit is None else format_milli(max(0, limit - total)),
        "jobs": len(spending.jobs),
        "unrecorded_requests": spending.unrecorded,
        "uncounted_requests": spending.uncounted,
    }


@router.get(
    "/jobs/{tag}",
    summary="One privacy-computing job's steps in the log",
    response_model=PsiJob,
    response_model_exclude_unset=True,
)
def job(explorer: ExplorerDep, p: CurrentPerson, tag: JobTag, subject: Subject) -> dict[str, Any]:
    steps: list[tuple[str | None, CallRow]] = []
    psi: dict[int, tuple[str | None, str | None]] = {}  # leaf index → its entry's psi_record and psi_summary
    for row in explorer.calls.by_job(tag):
        entry = json.loads(row.pop("entry"))
        if entry.get("psi_job") != tag:  # the index's word is checked against the entry itself
            continue
        psi[row["index"]] = (entry.get("psi_record"), entry.get("psi_summary"))
        steps.append((step_of(row["route"]), row))
    if not steps:
        raise NotFoundError(f"job {tag}")
    first = _defining(steps)
    key: JobKey = (first["caller_org"], first["provider_org"], first["grant_id"])
    steps = [(s, r) for s, r in steps if (r["caller_org"], r["provider_org"], r["grant_id"]) == key]
    if not access.sees_call(p, first, explorer.visibility):
        raise NotFoundError(f"job {tag}")
    subject(parties(first))
    calls = explorer.calls
    shown = []
    summaries: list[str | None] = []
    for step, row in steps:
        covering = calls.checkpoint_covering(row["index"])
        record, summary_text = psi[row["index"]]
        summaries.append(summary_text)
        shown.append({
            "step": step,
            "call": row,
            "tag_from": tag_from(step, row),
            "record_sha256": record,
            "checkpoint": None if covering is None else covering["size"],
        })  # fmt: skip
    record_sha256, summary = next(
        ((s["record_sha256"], text) for s, text in zip(shown, summaries, strict=True) if s["record_sha256"]),
        (None, None),
    )
    requested = [r for s, r in steps if s == "request"]
    last = max(r["index"] for _, r in steps)
    version_of = requested[0] if requested else first
    parsed = None if summary is None else json.loads(summary)
    return {
        "tag": tag,
        "client": first["caller_org"],
        "owner": first["provider_org"],
        "asset": first["asset_id"],
        "asset_version": version_of["asset_version"],
        "grant_id": first["grant_id"],
        "grant": _grant(explorer, p, first["grant_id"]),
        "complete": record_sha256 is not None and any(r["decision"] == "allow" for r in requested),
        "record_sha256": record_sha256,
        "summary": parsed,
        "privacy_budget": None if parsed is None else _privacy_budget(explorer, p, key, tag, parsed),
        "summary_json": summary,
        "steps": shown,
        "checkpoint": calls.checkpoint_covering(last),
        "anchored": calls.anchored_covering(last),
    }
