"""The privacy budget on the explorer's page of a PSI job (``privacy_budget``, ``explorer.api.jobs``), in process
over a real SQLite call index: real records signed by both parties, with differentially private counts and the
grant's budget (``privacy.dp``), logged as the owner's gateway logs a job's steps.

Under one grant with a budget of 4: job 1 releases the result's count with ε 0.5 (spends 0.5), job 2 the three counts
(1.5), job 3 the result's (0.5); job 2's record is logged before job 1's; job 4's request was allowed and its record
step never came. These events are a gateway's from before its request steps stated the ε they were charged
(``psi_dp_cost``): the page counts the recorded jobs by their summaries and the request without a record apart.
Another grant's job with a budget is logged between them and a job without DP after them.

Then a grant of budget 4 whose later request steps state the ε charged: job 8's request states none (an older
gateway) and its record says 0.5; job 5's request was charged 0.5, and a second request of the same job (refused by
the owner's service) 0.5 again; job 6's request 1.5 and no record ever came; job 7's request 0.5; job 9's request
got no answer from the owner's service (502, no run, no ε charged) and was not sent again; job 6's request was sent
again, the same bytes, after the gateway had counted it (``psi_retry_of``: no run, no ε). The owner's gateway
spent 3.5; so does the page."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from chain.contracts.grants import GrantInfo
from chain.ids import AssetId, OrgId
from explorer.api import Explorer, Limits, create_app
from explorer.api.schemas import PsiJob
from notary.event import Event, EventJSON, EventSchemaError, canonical_entry, validate_event
from privacy.asset import job_tag
from privacy.jobfiles import RECORD_FILE
from privacy.record import format_summary
from tests.support.job_explorer import REGULATOR, get, job_explorer
from tests.support.notary_events import event
from tests.support.privacy_job import CLIENT_ORG, SERVER_ORG, small_job

CLIENT, OWNER = CLIENT_ORG, SERVER_ORG
OTHER = "ruida-data"  # a member with no part in the jobs
OPERATOR = "shuzhi-tech"  # runs the explorer
ASSET, STEPS = "customer-ids", "/v1/privacy/customer-ids"
GRANT = "0x" + "3f" * 32
OTHER_GRANT = "0x" + "6a" * 32  # the same client and owner, another grant with its own budget
PLAIN_GRANT = "0x" + "7b" * 32  # a grant whose asset's terms set no ε
STATED_GRANT = "0x" + "5c" * 32  # a grant whose request steps state the ε the gateway charged (but job 8's)
JOBS = {
    "job-1": small_job("job-1", "0.5", dp_budget="4"),
    "job-2": small_job("job-2", "0.5", True, dp_budget="4"),
    "job-3": small_job("job-3", "0.5", dp_budget="4"),
    "job-x": small_job("job-x", "1", dp_budget="9", grant_id=OTHER_GRANT),
    "job-plain": small_job("job-plain", grant_id=PLAIN_GRANT),
    "job-5": small_job("job-5", "0.5", dp_budget="4", grant_id=STATED_GRANT),
    "job-7": small_job("job-7", "0.5", dp_budget="4", grant_id=STATED_GRANT),
    "job-8": small_job("job-8", "0.5", dp_budget="4", grant_id=STATED_GRANT),
}
GRANT_OF = {
    "job-x": OTHER_GRANT, "job-plain": PLAIN_GRANT, "job-5": STATED_GRANT, "job-6": STATED_GRANT,
    "job-7": STATED_GRANT, "job-8": STATED_GRANT, "job-9": STATED_GRANT,
}  # fmt: skip


def tag(job_id: str) -> str:
    return job_tag(GRANT_OF.get(job_id, GRANT), job_id)


def step(
    n: int, name: str, job_id: str, charged: str | None = None, status: int = 200, retry_of: str | None = None
) -> EventJSON:
    """The ``n``-th event, a step of ``job_id``; a request step ``charged`` states that ε (``psi_dp_cost``), one
    ``retry_of`` repeats the counted request step of that event id (``psi_retry_of``)."""
    fields: dict[str, Any] = {
        "v": 2, "event_id": f"ev-{n}", "time_ms": 1_795_000_000_000 + n, "gateway_seq": n + 1, "caller_org": CLIENT,
        "provider_org": OWNER, "gateway_id": f"{OWNER}/gw-1", "center": "compliance", "unit": "screening",
        "api": f"psi-{name}", "method": "POST", "route": f"{STEPS}/{name}", "asset_id": ASSET, "asset_version": 1,
        "grant_id": GRANT_OF.get(job_id, GRANT), "psi_job": tag(job_id), "status": status,
    }  # fmt: skip
    if charged is not None:
        fields["psi_dp_cost"] = charged
    if retry_of is not None:
        fields["psi_retry_of"] = retry_of
    if name == "record":
        job = JOBS[job_id]
        fields["psi_record"] = hashlib.sha256(job.client_files[RECORD_FILE]).hexdigest()
        fields["psi_summary"] = format_summary(job.signed)
    return validate_event(event(**fields))


STEPS_LOGGED = [
    ("request", "job-1"), ("request", "job-2"), ("record", "job-2"), ("request", "job-x"), ("record", "job-x"),
    ("record", "job-1"), ("request", "job-3"), ("record", "job-3"), ("request", "job-4"), ("request", "job-plain"),
    ("record", "job-plain"),
]  # fmt: skip
STATED_STEPS: list[tuple[str, str, str | None, int]] = [
    ("request", "job-8", None, 200), ("record", "job-8", None, 200), ("request", "job-5", "0.5", 200),
    ("request", "job-6", "1.5", 200), ("record", "job-5", None, 200), ("request", "job-5", "0.5", 403),
    ("request", "job-7", "0.5", 200), ("record", "job-7", None, 200), ("request", "job-9", None, 502),
]  # fmt: skip
EVENTS = [step(n, name, job_id) for n, (name, job_id) in enumerate(STEPS_LOGGED)] + [
    step(n, name, job_id, charged, status)
    for n, (name, job_id, charged, status) in enumerate(STATED_STEPS, start=len(STEPS_LOGGED))
]
JOB_6_REQUEST = f"ev-{len(STEPS_LOGGED) + 3}"  # charged 1.5, no record ever came
EVENTS.append(step(len(EVENTS), "request", "job-6", retry_of=JOB_6_REQUEST))  # the same request again: no run
GRANTS = [
    GrantInfo(bytes.fromhex(g[2:]), AssetId(ASSET), OrgId(OWNER), OrgId(CLIENT), "aml-screening",
              0, 0, 100, 1_794_000_000, 0, 0, 0)
    for g in (GRANT, OTHER_GRANT, PLAIN_GRANT, STATED_GRANT)
]  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    entries = [canonical_entry(e) for e in EVENTS]
    path: Path = tmp_path_factory.mktemp("budget")
    with job_explorer(path, entries, (CLIENT, OWNER, OTHER, OPERATOR), GRANTS) as c:
        yield c


def page(client: Any, job_id: str, reader: str = CLIENT) -> dict[str, Any]:
    status, body = get(client, f"/api/v1/jobs/{tag(job_id)}", reader)
    assert status == 200, body
    job: dict[str, Any] = json.loads(body)
    PsiJob.model_validate(job)  # the response model, as the OpenAPI document states it
    return job


def test_the_records_state_the_epsilon_and_the_budget() -> None:
    for job_id in ("job-1", "job-2", "job-3"):
        dp = JOBS[job_id].signed.record.dp
        assert dp is not None and (dp.epsilon, dp.budget) == ("0.5", "4")
    assert [JOBS[j].signed.record.dp.cost for j in ("job-1", "job-2", "job-3")] == [500, 1500, 500]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("job_id", "cost", "counts", "spent", "remaining"),
    [
        ("job-2", "1.5", 3, "1.5", "2.5"),  # its record is the grant's first in the log
        ("job-1", "0.5", 1, "2", "2"),
        ("job-3", "0.5", 1, "2.5", "1.5"),
    ],
)
@pytest.mark.parametrize("reader", [CLIENT, OWNER, REGULATOR])
def test_each_job_shows_its_epsilon_and_what_the_grant_spent_through_it_and_in_all(
    client: Any, reader: str, job_id: str, cost: str, counts: int, spent: str, remaining: str
) -> None:
    job = page(client, job_id, reader)
    # the summary as the API answers it is the event's, the budget kept (the browser checks this equality)
    assert job["summary"] == json.loads(job["summary_json"]) and job["summary"]["dp"]["budget"] == "4"
    budget = job["privacy_budget"]
    assert budget == {
        "epsilon": "0.5",
        "noisy_counts": counts,
        "cost": cost,
        "budget": "4",
        "spent": spent,
        "remaining": remaining,
        "spent_total": "2.5",  # job-x's grant is another: its ε is not counted
        "remaining_total": "1.5",
        "jobs": 3,
        "unrecorded_requests": 1,  # job-4: admitted, no record
        "uncounted_requests": 1,  # and its event states no ε: what it spent is not in spent_total
    }


@pytest.mark.parametrize(
    ("job_id", "spent", "remaining"),
    [
        ("job-8", "0.5", "3.5"),  # its request states no ε: counted at its record, as before the field
        ("job-5", "1", "3"),  # counted at its first request, which stated 0.5
        ("job-7", "3.5", "0.5"),  # job 5's second request and job 6's, never recorded, spent too
    ],
)
@pytest.mark.parametrize("reader", [CLIENT, OWNER, REGULATOR])
def test_requests_that_state_their_epsilon_count_what_the_gateway_spent(
    client: Any, reader: str, job_id: str, spent: str, remaining: str
) -> None:
    """Each allowed request stating ε counts once, recorded or not; the page's total is the gateway's: 0.5 (job 8,
    from its record) + 0.5 + 0.5 (job 5's two requests) + 1.5 (job 6) + 0.5 (job 7)."""
    budget = page(client, job_id, reader)["privacy_budget"]
    assert (budget["cost"], budget["spent"], budget["remaining"]) == ("0.5", spent, remaining)
    assert (budget["spent_total"], budget["remaining_total"]) == ("3.5", "0.5")
    # job 6 is the one request without a record; job 9's, unanswered, cost nothing and is neither
    assert (budget["jobs"], budget["unrecorded_requests"], budget["uncounted_requests"]) == (4, 1, 0)


DROP = object()  # a field left out


def test_the_stated_epsilon_is_an_allowed_request_steps_only() -> None:
    """The notary's schema takes ``psi_dp_cost`` on an allowed step of a named job without a record, as ε is written,
    and refuses it anywhere else or written otherwise."""
    good = dict(EVENTS[len(STEPS_LOGGED) + 2])
    assert good["psi_dp_cost"] == "0.5" and validate_event(good)["psi_dp_cost"] == "0.5"
    assert Event.from_json(good).to_entry() == canonical_entry(good)  # the fast encoder writes it in its place
    cases: dict[str, dict[str, Any]] = {
        "denied": {"decision": "deny", "denial_reason": "quota_exhausted", "status": 403},
        "no job": {"psi_job": DROP},
        "with a record": {"psi_record": "ab" * 32},
        "zero": {"psi_dp_cost": "0"},
        "trailing zero": {"psi_dp_cost": "1.50"},
        "four places": {"psi_dp_cost": "0.0001"},
        "a number": {"psi_dp_cost": 1},
    }
    for case, change in cases.items():
        bad = {k: v for k, v in {**good, **change}.items() if v is not DROP}
        with pytest.raises(EventSchemaError) as refused:
            validate_event(bad)
        assert "psi_dp_cost" in str(refused.value), (case, str(refused.value))


def test_a_retry_of_a_counted_request_is_an_allowed_request_step_stating_no_epsilon() -> None:
    """The notary's schema takes ``psi_retry_of`` (an event id) on an allowed step of a named job that names no
    record and states no ε, and refuses it anywhere else or written otherwise."""
    good = dict(EVENTS[-1])
    assert good["psi_retry_of"] == JOB_6_REQUEST and validate_event(good)["psi_retry_of"] == JOB_6_REQUEST
    assert Event.from_json(good).to_entry() == canonical_entry(good)  # the fast encoder writes it in its place
    cases: dict[str, dict[str, Any]] = {
        "denied": {"decision": "deny", "denial_reason": "quota_exhausted", "status": 403},
        "no job": {"psi_job": DROP},
        "with a record": {"psi_record": "ab" * 32},
        "charged": {"psi_dp_cost": "0.5"},
        "not an event id": {"psi_retry_of": "-ev"},
        "a number": {"psi_retry_of": 14},
    }
    for case, change in cases.items():
        bad = {k: v for k, v in {**good, **change}.items() if v is not DROP}
        with pytest.raises(EventSchemaError) as refused:
            validate_event(bad)
        assert "psi_retry_of" in str(refused.value), (case, str(refused.value))


def test_another_grants_budget_is_its_own(client: Any) -> None:
    budget = page(client, "job-x", OWNER)["privacy_budget"]
    assert (budget["budget"], budget["cost"], budget["spent"], budget["remaining"]) == ("9", "1", "1", "8")
    assert (budget["spent_total"], budget["jobs"], budget["unrecorded_requests"]) == ("1", 1, 0)
    assert budget["uncounted_requests"] == 0


def test_a_job_without_differential_privacy_or_without_a_record_shows_no_budget(client: Any) -> None:
    plain = page(client, "job-plain")
    assert plain["summary"]["result"]["count"] == 5 and plain["privacy_budget"] is None
    unrecorded = page(client, "job-4")
    assert unrecorded["summary"] is None and unrecorded["privacy_budget"] is None


@pytest.mark.parametrize("reader", [OTHER, OPERATOR])
@pytest.mark.parametrize("job_id", ["job-1", "job-2", "job-x", "job-plain", "job-5", "job-6", "job-7"])
def test_whoever_is_not_a_party_nor_the_regulator_sees_nothing(client: Any, reader: str, job_id: str) -> None:
    hidden = get(client, f"/api/v1/jobs/{tag(job_id)}", reader)
    unknown = get(client, f"/api/v1/jobs/{'0f' * 32}", reader)
    assert hidden[0] == unknown[0] == 404
    assert b"budget" not in hidden[1]


def test_the_openapi_document_describes_the_budget() -> None:
    stand_in = SimpleNamespace(auth=None, recorder=None, limits=Limits())
    spec = create_app(cast(Explorer, stand_in)).openapi()
    schemas = spec["components"]["schemas"]
    field = schemas["PsiJob"]["properties"]["privacy_budget"]
    assert {"$ref": "#/components/schemas/JobPrivacyBudget"} in field["anyOf"] and field["description"]
    budget = schemas["JobPrivacyBudget"]["properties"]
    assert sorted(budget) == sorted(
        ["epsilon", "noisy_counts", "cost", "budget", "spent", "remaining", "spent_total", "remaining_total", "jobs",
         "unrecorded_requests", "uncounted_requests"]
    )  # fmt: skip
    assert all(prop.get("description") for prop in budget.values())
    assert "budget" in schemas["JobDp"]["properties"]
