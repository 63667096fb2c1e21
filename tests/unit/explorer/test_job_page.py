"""The explorer's page of a PSI job (``/api/v1/jobs/{tag}``, ``explorer.api.jobs``) over a real SQLite call index,
in process, and the optional event fields it reads (``psi_job``, ``psi_record``, ``psi_summary``, ``notary.event``).

The job is ``tests.support.privacy_job``'s: a real record signed by both parties, whose SHA-256 the record step's
event names. Its steps are logged between other calls: an unrelated call, another firm's terms step naming the
same tag in its header (refused, no grant), and another job whose owner is the operator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from chain.contracts.grants import GrantInfo
from chain.ids import AssetId, OrgId
from notary.event import (
    LEDGER_QUERY_CENTER,
    MAX_PSI_SUMMARY_BYTES,
    Event,
    EventJSON,
    EventSchemaError,
    canonical_entry,
    validate_event,
)
from notary.storage.base import CheckpointJSON
from privacy.asset import job_tag
from privacy.jobfiles import RECORD_FILE
from privacy.record import format_summary
from tests.support.job_explorer import REGULATOR, get, job_explorer
from tests.support.notary_events import event
from tests.support.privacy_job import CLIENT_ORG, JOB_ID, SERVER_ORG, small_job

CLIENT, OWNER = CLIENT_ORG, SERVER_ORG  # the job's client and the owner of the identifier set
OTHER = "ruida-data"  # a member with no part in the job
OPERATOR = "shuzhi-tech"  # runs the explorer; owner of another job
ASSET, STEPS = "customer-ids", "/v1/privacy/customer-ids"
RECORD = small_job().client_files[RECORD_FILE]
SUMMARY = format_summary(small_job().signed)
GRANT = small_job().signed.record.grant_id
TAG = job_tag(GRANT, JOB_ID)
OTHER_GRANT = "0x" + "5e" * 32
OTHER_TAG = job_tag(OTHER_GRANT, "job-7")
UNKNOWN_TAG = "0f" * 32


def step(n: int, name: str, **changes: Any) -> EventJSON:
    fields = {
        "v": 2, "event_id": f"ev-{n}", "time_ms": 1_795_000_000_000 + n, "gateway_seq": n + 1, "caller_org": CLIENT,
        "provider_org": OWNER, "gateway_id": f"{OWNER}/gw-1", "center": "compliance", "unit": "screening",
        "api": f"psi-{name}", "method": "GET" if name == "terms" else "POST", "route": f"{STEPS}/{name}",
        "asset_id": ASSET, "asset_version": 1, "grant_id": GRANT, "psi_job": TAG,
    }  # fmt: skip
    return validate_event(event(**{**fields, **changes}))


EVENTS = [
    event(v=2, event_id="ev-0", caller_org=OTHER, provider_org=OPERATOR, gateway_id=f"{OPERATOR}/gw-1"),
    step(1, "terms"),
    step(2, "request"),
    step(3, "terms", caller_org=OTHER, grant_id=None, decision="deny", denial_reason="no_grant", status=403),
    step(4, "record", psi_record=hashlib.sha256(RECORD).hexdigest(), psi_summary=SUMMARY),
    step(5, "request", caller_org=OTHER, provider_org=OPERATOR, gateway_id=f"{OPERATOR}/gw-1", grant_id=OTHER_GRANT,
         psi_job=OTHER_TAG),
]  # fmt: skip
CHECKPOINTS: list[CheckpointJSON] = [
    {"size": 3, "root": "cm9vdA==", "time_ms": 1, "published_ms": 2, "cosigners": ["w1"], "note": "n", "anchor": None},
    {"size": 5, "root": "cm9vdA==", "time_ms": 2, "published_ms": 3, "cosigners": ["w2"], "note": "n", "anchor": None},
    {
        "size": 6, "root": "cm9vdA==", "time_ms": 3, "published_ms": 4, "cosigners": ["w1", "w2"], "note": "n",
        "anchor": {"size": 6, "tx_hash": "0x" + "ab" * 32, "nonce": 0, "state": "confirmed", "sent_ms": 3,
                   "block_number": 42, "block_hash": "0x" + "cd" * 32, "confirmed_ms": 4},
    },
]  # fmt: skip
GRANTS = [
    GrantInfo(bytes.fromhex(GRANT[2:]), AssetId(ASSET), OrgId(OWNER), OrgId(CLIENT), "aml-screening",
              0, 0, 100, 1_794_000_000, 0, 0, 0),
]  # fmt: skip
ORGS = (CLIENT, OWNER, OTHER, OPERATOR)


@pytest.fixture
def client(tmp_path: Path) -> Any:
    entries = [canonical_entry(e) for e in EVENTS]
    with job_explorer(tmp_path, entries, ORGS, GRANTS, CHECKPOINTS) as c:
        yield c


# -- the event fields ------------------------------------------------------------------------------------------


def test_events_without_the_job_fields_keep_their_bytes_and_with_them_round_trip() -> None:
    for v in (1, 2, 3):
        plain = event(v=v)
        assert Event.from_json(plain).to_entry() == canonical_entry(plain)
        assert "psi_job" not in Event.from_json(plain).to_json()
    named = EVENTS[4]
    entry = Event.from_json(named).to_entry()
    assert entry == canonical_entry(named)
    assert f'"provider_org":"{OWNER}","psi_job":"{TAG}","psi_record":"'.encode() in entry
    assert Event.from_entry(entry).psi_record == hashlib.sha256(RECORD).hexdigest()
    assert Event.from_entry(entry).psi_summary == SUMMARY
    assert b'"psi_summary":"{\\"client\\":{' in entry  # a string of canonical JSON inside the entry
    for v in (1, 2, 3):  # an optional field of every schema version, both suites' alike
        assert Event.from_json({**named, "v": v}).to_entry() == canonical_entry({**named, "v": v})


def test_the_summary_is_the_record_without_its_job_id_and_purpose_and_holds_no_identifier() -> None:
    summary = json.loads(SUMMARY)
    signed = json.loads(RECORD)
    record = {k: v for k, v in signed["record"].items() if k not in ("job_id", "purpose")}
    assert summary == {**record, "signatures": signed["signatures"]}
    counts = (summary["client"]["input_count"], summary["server"]["input_count"], summary["result"]["count"])
    assert counts == (25, 30, 5)
    assert JOB_ID not in SUMMARY and "aml-screening" not in SUMMARY and "ACCT:" not in SUMMARY
    assert len(SUMMARY.encode()) < MAX_PSI_SUMMARY_BYTES


def _summary(**changes: Any) -> str:
    return canonical_entry({**json.loads(SUMMARY), **changes}).decode()


RECORD_STEP = {"psi_job": TAG, "psi_record": hashlib.sha256(RECORD).hexdigest()}
PARTIES = {"caller_org": CLIENT, "provider_org": OWNER, "grant_id": GRANT}


@pytest.mark.parametrize(
    ("changes", "loc", "msg"),
    [
        ({"psi_job": "AB" * 32}, "psi_job", "64 lower-case hex"),
        ({"psi_job": None}, "psi_job", "must be a string"),
        ({"psi_job": TAG, "asset_id": None, "asset_version": None}, "psi_job", "only a call of an asset's API"),
        ({"psi_record": TAG}, "psi_record", "only an allowed step of a named PSI job"),
        (
            {"psi_job": TAG, "psi_record": TAG, "decision": "deny", "denial_reason": "psi_malformed", "status": 400},
            "psi_record",
            "only an allowed step",
        ),
        ({**PARTIES, "psi_job": TAG, "psi_summary": SUMMARY}, "psi_summary", "only a step that names a PSI record"),
        ({**PARTIES, **RECORD_STEP, "caller_org": OTHER, "psi_summary": SUMMARY}, "psi_summary", f"client {CLIENT}"),
        ({**PARTIES, **RECORD_STEP, "grant_id": OTHER_GRANT, "psi_summary": SUMMARY}, "psi_summary", "not the event's"),
        ({**PARTIES, **RECORD_STEP, "psi_summary": SUMMARY + " "}, "psi_summary", "canonical form"),
        ({**PARTIES, **RECORD_STEP, "psi_summary": _summary(job_id=JOB_ID)}, "psi_summary", "exactly the fields"),
        (
            {**PARTIES, **RECORD_STEP, "psi_summary": _summary(result={"count": -1, "root": TAG})},
            "psi_summary",
            "result.count must be a count",
        ),
        (
            {**PARTIES, **RECORD_STEP, "psi_summary": _summary(implementation="x" * MAX_PSI_SUMMARY_BYTES)},
            "psi_summary",
            f"at most {MAX_PSI_SUMMARY_BYTES} bytes",
        ),
    ],
    ids=[
        "upper-case",
        "null",
        "no-asset",
        "record-without-job",
        "record-on-a-denial",
        "summary-without-record",
        "summary-of-another-client",
        "summary-of-another-grant",
        "summary-not-canonical",
        "summary-with-job-id",
        "summary-negative-count",
        "summary-oversized",
    ],
)
def test_malformed_job_fields_are_refused(changes: dict[str, Any], loc: str, msg: str) -> None:
    with pytest.raises(EventSchemaError) as caught:
        validate_event(event(**changes))
    assert caught.value.errors[0]["loc"] == [loc] and msg in caught.value.errors[0]["msg"], caught.value.errors


def test_a_ledger_query_names_no_job() -> None:
    query = event(
        center=LEDGER_QUERY_CENTER, unit=LEDGER_QUERY_CENTER, gateway_id=f"{OPERATOR}/{LEDGER_QUERY_CENTER}",
        grant_id=None, asset_id=None, asset_version=None, psi_job=TAG,
    )  # fmt: skip
    with pytest.raises(EventSchemaError, match="only a call of an asset's API names a PSI job"):
        validate_event(query)


# -- the page --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", [CLIENT, OWNER, REGULATOR])
def test_the_job_shows_its_parties_grant_steps_record_digest_and_place_in_the_log(client: Any, reader: str) -> None:
    status, body = get(client, f"/api/v1/jobs/{TAG}", reader)
    assert status == 200, body
    job = json.loads(body)
    assert (job["tag"], job["client"], job["owner"], job["asset"], job["asset_version"]) == (
        TAG, CLIENT, OWNER, ASSET, 1
    )  # fmt: skip
    assert job["grant_id"] == GRANT and job["grant"]["purpose"] == "aml-screening"
    assert job["grant"]["grantee"] == CLIENT and job["grant"]["quota"] == 100
    # the other firm's terms step naming the same tag is not the job's
    assert [(s["step"], s["call"]["event_id"], s["tag_from"]) for s in job["steps"]] == [
        ("terms", "ev-1", "client"), ("request", "ev-2", "message"), ("record", "ev-4", "message"),
    ]  # fmt: skip
    assert [s["call"]["index"] for s in job["steps"]] == [1, 2, 4]
    assert [s["checkpoint"] for s in job["steps"]] == [3, 3, 5]
    assert job["record_sha256"] == hashlib.sha256(RECORD).hexdigest() == job["steps"][2]["record_sha256"]
    assert job["complete"] is True
    # the record's counts and digests as the log holds them, to the two parties and the regulator
    assert job["summary_json"] == SUMMARY and job["summary"] == json.loads(SUMMARY)
    assert (job["summary"]["client"]["input_count"], job["summary"]["server"]["input_count"]) == (25, 30)
    assert job["summary"]["result"]["count"] == 5 and job["summary"]["client"]["org"] == CLIENT
    assert job["privacy_budget"] is None  # no differentially private count: no budget to show
    # the smallest checkpoint covering every step is not anchored (the notary anchors only some): the next one is
    assert (job["checkpoint"]["size"], job["checkpoint"]["cosigners"], job["checkpoint"]["anchor"]) == (5, ["w2"], None)
    anchored = job["anchored"]
    assert (anchored["size"], anchored["cosigners"], anchored["anchor"]["block_number"]) == (6, ["w1", "w2"], 42)
    assert job["steps"][0]["call"]["decision"] == "allow" and job["steps"][0]["call"]["api"] == "psi-terms"


def test_a_job_under_its_grants_own_terms_shows_their_digest(tmp_path: Path) -> None:
    """A summary naming the grant's own PSI terms (``terms``, ``privacy.asset``) is taken and shown as it is; a job
    without one shows none (above), and a digest that is not one is refused with the event."""
    own = _summary(terms="ef" * 32)
    events = [*EVENTS[:3], step(4, "record", psi_record=hashlib.sha256(RECORD).hexdigest(), psi_summary=own)]
    validate_event(events[3])
    with job_explorer(tmp_path, [canonical_entry(e) for e in events], ORGS, GRANTS, CHECKPOINTS) as c:
        status, body = get(c, f"/api/v1/jobs/{TAG}", CLIENT)
    assert status == 200, body
    job = json.loads(body)
    assert job["summary"]["terms"] == "ef" * 32 and job["summary_json"] == own
    assert canonical_entry(job["summary"]).decode() == own  # what the browser checks: nothing added or dropped
    with pytest.raises(EventSchemaError, match="terms must be 64 lower-case hex"):
        validate_event({**events[3], "psi_summary": _summary(terms="EF" * 32)})


def test_the_record_the_parties_hold_names_the_tag_and_digest_the_log_holds(client: Any) -> None:
    """What the page checks in the browser, done here in Python: a party's record.json against the log."""
    status, body = get(client, f"/api/v1/jobs/{TAG}", CLIENT)
    assert status == 200
    job = json.loads(body)
    held = json.loads(RECORD)["record"]
    assert job_tag(held["grant_id"], held["job_id"]) == job["tag"]
    assert hashlib.sha256(RECORD).hexdigest() == job["record_sha256"]
    assert hashlib.sha256(RECORD.replace(b'"count":5', b'"count":6')).hexdigest() != job["record_sha256"]


def test_the_operator_sees_its_own_job_only(client: Any) -> None:
    status, body = get(client, f"/api/v1/jobs/{OTHER_TAG}", OPERATOR)
    assert status == 200 and json.loads(body)["owner"] == OPERATOR
    assert json.loads(body)["complete"] is False  # no record step
    assert json.loads(body)["summary"] is None and json.loads(body)["summary_json"] is None
    assert get(client, f"/api/v1/jobs/{TAG}", OPERATOR)[0] == 404


@pytest.mark.parametrize(
    "reader",
    [OTHER, OPERATOR, "forged-token", None],
    ids=["another-firm", "operator-not-a-party", "forged-token", "outsider-without-login"],
)
def test_a_hidden_job_is_answered_exactly_as_an_unknown_one(client: Any, reader: str | None) -> None:
    hidden = get(client, f"/api/v1/jobs/{TAG}", reader)
    unknown = get(client, f"/api/v1/jobs/{UNKNOWN_TAG}", reader)
    assert hidden[0] == unknown[0] == (404 if reader in (OTHER, OPERATOR) else 401)
    assert hidden[1].replace(TAG.encode(), b"T") == unknown[1].replace(UNKNOWN_TAG.encode(), b"T")


@pytest.mark.parametrize("tag", ["AB" * 32, "ab" * 31, "ab" * 33, "g" * 64])
def test_a_malformed_tag_is_a_422(client: Any, tag: str) -> None:
    assert get(client, f"/api/v1/jobs/{tag}", CLIENT)[0] == 422
