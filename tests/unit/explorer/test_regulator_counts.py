"""The regulator's queries of calls, found exactly from the call index (``query_calls``, ``query_subjects``) and
counted for the dashboard and the compliance report (``explorer.lookedat``; docs/explorer.md, "Audit of the
auditors"), in process over a real SQLite call index: more regulator's queries than the old scan read (500 of
each kind), tried as each party of a call, another firm, the operator (a party of one call), the regulator and an
outsider, with the consortium's ``audit`` policy on and off (docs/confidentiality.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from chain.contracts.registry import MemberInfo
from chain.ids import MemberStatus, OrgId, Role
from explorer import lookedat
from explorer.api import Explorer, Limits, create_app
from explorer.api.operations import _regulator_counts
from explorer.calls import CallIndex
from explorer.chainindex import ChainIndex
from explorer.state import Snapshot
from notary.event import EventJSON, QueryVisibility, canonical_entry
from tests.support.org_logins import REGULATOR
from tests.unit.explorer.test_regulator_looks import FIRM, LOGINS, OPERATOR, OTHER, OUTSIDER, THIRD, call, query


def named(*orgs: str) -> str:
    """A query's ``subject``: the org ids sorted, comma-separated."""
    return ",".join(sorted(orgs))


#: More of the regulator's ``calls.get`` queries than the old scan's 500 newest, all after ``q-old``.
MANY = 600
CALLS = [
    call("call-old", FIRM, OTHER, 1),
    call("call-ab", FIRM, OTHER, 2),
    call("call-o", OTHER, THIRD, 3),
    call("call-op", OPERATOR, OTHER, 4),
]
QUERIES: list[EventJSON] = [
    query("q-old", REGULATOR, "calls.get", "/api/v1/calls/call-old", 1, subject=named(FIRM, OTHER)),
    *(
        query(f"q-o-{i}", REGULATOR, "calls.get", "/api/v1/calls/call-o", 10 + i, subject=named(OTHER, THIRD))
        for i in range(MANY)
    ),
    query("q-ab", REGULATOR, "calls.evidence", "/api/v1/calls/call-ab/evidence", 1000, subject=named(FIRM, OTHER)),
    query(
        "q-op", REGULATOR, "calls.provenance", "/api/v1/calls/call-op/provenance", 1001, subject=named(OPERATOR, OTHER)
    ),
    query("q-third", REGULATOR, "calls.get", "/api/v1/calls/call-ab", 1002, subject=THIRD),  # names a non-party
    query("q-firm", FIRM, "calls.get", "/api/v1/calls/call-ab", 1003, subject=named(FIRM, OTHER)),  # the firm's own
    query("q-grant", REGULATOR, "grants.get", "/api/v1/grants/0x00", 1004, subject=FIRM),  # no call
    query("q-refused", REGULATOR, "calls.get", "/api/v1/calls/call-ab", 1005, decision="deny", status=404),
]
#: The period every event falls in, and one that starts after ``q-old``.
FROM_MS, TO_MS = 1_795_000_000_000, 1_795_000_200_000
AFTER_OLD = QUERIES[1]["time_ms"]
#: firm → its calls the regulator's queries naming it read, and those queries (over the whole period)
COUNTS = {
    FIRM: {"calls": 2, "queries": 2},  # call-old (q-old), call-ab (q-ab); not q-third, q-firm, q-refused
    OTHER: {"calls": 4, "queries": 3 + MANY},
    THIRD: {"calls": 1, "queries": MANY},  # call-o; q-third read call-ab, which is not THIRD's
    OPERATOR: {"calls": 1, "queries": 1},  # a party of call-op; never of the query records it keeps
}
#: The regulator's queries naming each firm, any endpoint (q-grant names FIRM)
BY_FIRM = {FIRM: 3, OTHER: 3 + MANY, THIRD: MANY + 1, OPERATOR: 1}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallIndex]:
    found = CallIndex(tmp_path_factory.mktemp("counts") / "calls.db")
    found.add_entries(0, [canonical_entry(e) for e in CALLS])
    found.add_entries(len(CALLS), [canonical_entry(e) for e in QUERIES])  # a second batch: the calls are older
    try:
        yield found
    finally:
        found.close()


def policy(on: bool) -> QueryVisibility:
    return QueryVisibility(frozenset({REGULATOR}), regulator_queries_visible_to_subject=on)


def reader(who: str) -> str | None:
    return None if who == REGULATOR else who


@pytest.fixture(params=[False, True], ids=["policy-off", "policy-on"])
def on(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# -- exactness ------------------------------------------------------------------------------------------------


def test_every_regulator_query_of_a_call_is_found_however_many_came_after(index: CallIndex) -> None:
    """q-old is older than 600 of the regulator's queries of the same kind: the old scan of the newest 500 missed it;
    the index finds it, and all 600 of call-o, for the regulator and under the policy for the firms named."""
    everything = lookedat.regulator_looks(index, policy(False), None)
    assert [q["event_id"] for q in everything["call-old"]] == ["q-old"]
    assert len(everything["call-o"]) == MANY
    assert [q["event_id"] for q in everything["call-ab"]] == ["q-ab", "q-third"]
    assert {q["event_id"] for q in everything["call-op"]} == {"q-op"}
    firm = lookedat.regulator_looks(index, policy(True), FIRM, {"call-old", "call-ab"})
    assert {k: [q["event_id"] for q in v] for k, v in firm.items()} == {"call-old": ["q-old"], "call-ab": ["q-ab"]}
    third = lookedat.regulator_looks(index, policy(True), THIRD, {"call-o"})
    assert [q["event_id"] for q in third["call-o"]] == [f"q-o-{i}" for i in range(MANY)]  # oldest first


def test_the_search_and_export_mark_the_oldest_look(index: CallIndex, tmp_path: Path) -> None:
    stand_in = SimpleNamespace(
        auth=LOGINS, recorder=None, limits=Limits(), directory=tmp_path, calls=index, visibility=policy(True)
    )
    with TestClient(create_app(cast(Explorer, stand_in))) as client:
        headers = {"Authorization": f"Bearer {FIRM}"}
        rows = client.get("/api/v1/calls", params={"limit": 10}, headers=headers).json()["calls"]
        marks = {r["event_id"]: [q["event_id"] for q in r["regulator_queries"]] for r in rows}
        assert marks["call-old"] == ["q-old"] and marks["call-ab"] == ["q-ab"]
        exported = client.get("/api/v1/exports/calls.json", headers=headers).json()
        assert {r["event_id"]: [q["event_id"] for q in r["regulator_queries"]] for r in exported}["call-old"] == [
            "q-old"
        ]


def test_a_refused_query_and_a_firms_own_are_not_indexed_as_looks(index: CallIndex) -> None:
    looks = index.looks({FIRM, REGULATOR}, calls={"call-ab"})
    assert [(q["event_id"], q["caller_org"]) for q in looks] == [
        ("q-ab", REGULATOR), ("q-third", REGULATOR), ("q-firm", FIRM)
    ]  # fmt: skip
    assert index.looks(set(), calls={"call-ab"}) == [] and index.looks({REGULATOR}, calls=set()) == []
    assert index.looks({REGULATOR}, subject="nobody") == [] and index.looks({"nobody"}) == []


# -- counts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("firm", [FIRM, OTHER, THIRD, OPERATOR])
def test_a_firm_counts_the_looks_at_its_own_calls_under_the_policy_only(index: CallIndex, on: bool, firm: str) -> None:
    counts = lookedat.look_counts(index, policy(on), firm, firm, FROM_MS, TO_MS)
    assert counts == (COUNTS[firm] if on else None)
    for other in {FIRM, OTHER, THIRD, OPERATOR} - {firm}:  # never another firm's
        assert lookedat.look_counts(index, policy(on), firm, other, FROM_MS, TO_MS) is None
    assert lookedat.queries_by_firm(index, policy(on), firm, FROM_MS, TO_MS) is None


def test_the_regulator_counts_every_firms_looks_and_its_queries_per_firm(index: CallIndex, on: bool) -> None:
    for firm, expected in COUNTS.items():
        assert lookedat.look_counts(index, policy(on), None, firm, FROM_MS, TO_MS) == expected
    assert lookedat.queries_by_firm(index, policy(on), None, FROM_MS, TO_MS) == BY_FIRM


def test_the_counts_keep_to_the_period(index: CallIndex) -> None:
    assert lookedat.look_counts(index, policy(True), FIRM, FIRM, AFTER_OLD, TO_MS) == {"calls": 1, "queries": 1}
    assert lookedat.look_counts(index, policy(True), FIRM, FIRM, FROM_MS, AFTER_OLD) == {"calls": 1, "queries": 1}
    assert lookedat.look_counts(index, policy(True), FIRM, FIRM, TO_MS, TO_MS) == {"calls": 0, "queries": 0}
    assert lookedat.queries_by_firm(index, policy(True), None, FROM_MS, AFTER_OLD) == {FIRM: 1, OTHER: 1}
    assert lookedat.queries_by_firm(index, policy(True), None, TO_MS, FROM_MS) == {}


@pytest.mark.parametrize("who", [FIRM, OTHER, THIRD, OPERATOR, REGULATOR])
def test_the_dashboard_shows_each_person_their_counts(index: CallIndex, on: bool, who: str) -> None:
    stand_in = SimpleNamespace(calls=index, visibility=policy(on))
    person = LOGINS.authenticate(f"Bearer {who}")
    shown = _regulator_counts(cast(Explorer, stand_in), person, FROM_MS, TO_MS)
    if who == REGULATOR:
        assert shown == {"regulator_queries_by_firm": [{"org": o, "queries": n} for o, n in sorted(BY_FIRM.items())]}
    else:
        assert shown == ({"regulator_looks": COUNTS[who]} if on else {})


# -- the report over HTTP -------------------------------------------------------------------------------------


@pytest.fixture
def client(index: CallIndex, on: bool, tmp_path: Path) -> Iterator[TestClient]:
    chain = ChainIndex(tmp_path / "chain.db")
    members = tuple(
        MemberInfo(
            OrgId(org), org, Role.REGULATOR if org == REGULATOR else Role.MEMBER, MemberStatus.ACTIVE, b"", (), 0
        )
        for org in (FIRM, OTHER, THIRD, OPERATOR, REGULATOR)
    )
    stand_in = SimpleNamespace(
        auth=LOGINS, recorder=None, limits=Limits(), directory=tmp_path, calls=index, visibility=policy(on),
        chain=chain, state=SimpleNamespace(snapshot=Snapshot(block=1, block_time=0, members=members)),
    )  # fmt: skip
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            yield c
    finally:
        chain.close()


def report(client: TestClient, who: str, org: str, fmt: str = "json") -> Any:
    return client.get(
        f"/api/v1/reports/{org}",
        params={"from": FROM_MS, "to": TO_MS, "format": fmt},
        headers={"Authorization": f"Bearer {who}"},
    )


@pytest.mark.parametrize("firm", [FIRM, OTHER, THIRD, OPERATOR])
def test_a_firms_report_counts_the_regulators_looks_under_the_policy_only(
    client: TestClient, on: bool, firm: str
) -> None:
    own = report(client, firm, firm)
    assert own.status_code == 200, own.text
    assert own.json().get("regulator_looks") == (COUNTS[firm] if on else None)
    text = report(client, firm, firm, "csv").text
    assert ("regulator_looks.calls," in text) is on
    by_regulator = report(client, REGULATOR, firm)
    assert by_regulator.status_code == 200 and by_regulator.json()["regulator_looks"] == COUNTS[firm]


def test_another_firm_and_an_outsider_get_no_report(client: TestClient) -> None:
    assert report(client, OTHER, FIRM).status_code == 404
    assert report(client, OPERATOR, FIRM).status_code == 404
    assert report(client, OUTSIDER, FIRM).status_code == 401
