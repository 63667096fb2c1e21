"""The regulator's queries of a call, shown with the call in the calls search and in the CSV and JSON exports
(``explorer.lookedat``; docs/explorer.md, "Audit of the auditors"), in process: FastAPI's test client over a real
SQLite call index holding calls and the explorer's records of queries as the log does. Tried as each party of a
call, another firm named by no query of it, the operator, the regulator and an outsider, with the consortium's
``audit`` policy on and off (docs/confidentiality.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from explorer.api import Explorer, Limits, create_app
from explorer.calls import CallIndex
from explorer.lookedat import call_of_route
from notary.event import LEDGER_QUERY_CENTER, EventJSON, QueryVisibility, canonical_entry, validate_event
from tests.support.notary_events import event
from tests.support.org_logins import REGULATOR, OrgTokenLogins

OPERATOR = "shuzhi-tech"  # runs the explorer
FIRM = "huaxin-bank"
OTHER = "ruida-data"
THIRD = "jinghua-sec"
OUTSIDER = "no-member"
LOGINS = OrgTokenLogins(FIRM, OTHER, THIRD, REGULATOR, OPERATOR)


def call(event_id: str, caller: str, provider: str, seq: int) -> EventJSON:
    return validate_event(
        event(
            event_id=event_id, caller_org=caller, provider_org=provider, gateway_id=f"{provider}/gw-1",
            gateway_seq=seq, time_ms=1_795_000_000_000 + seq,
        )
    )  # fmt: skip


def query(event_id: str, org: str, api: str, route: str, seq: int, **changes: Any) -> EventJSON:
    if changes.get("decision") == "deny":
        changes = {"denial_reason": "not_found", **changes}
    fields: dict[str, Any] = {
        "event_id": event_id, "caller_org": org, "provider_org": OPERATOR, "center": LEDGER_QUERY_CENTER,
        "unit": LEDGER_QUERY_CENTER, "api": api, "route": route, "asset_id": None, "asset_version": None,
        "grant_id": None, "gateway_id": f"{OPERATOR}/{LEDGER_QUERY_CENTER}", "gateway_seq": seq,
        "time_ms": 1_795_000_100_000 + seq,
    }  # fmt: skip
    return validate_event(event(**{**fields, **changes}))


CALLS = [call("call-ab", FIRM, OTHER, 1), call("call-o", OTHER, THIRD, 2)]
QUERIES = [
    query("q-get", REGULATOR, "calls.get", "/api/v1/calls/call-ab", 1, subject=f"{FIRM},{OTHER}"),
    query("q-prov", REGULATOR, "calls.provenance", "/api/v1/calls/call-o/provenance", 2, subject=f"{THIRD},{OTHER}"),
    query("q-evid", REGULATOR, "calls.evidence", "/api/v1/calls/call-ab/evidence", 3, subject=f"{FIRM},{OTHER}"),
    query("q-search", REGULATOR, "calls.search", "/api/v1/calls", 4),  # a search names no subject
    query("q-refused", REGULATOR, "calls.get", "/api/v1/calls/call-ab", 5, decision="deny", status=404),
    query("q-firm", FIRM, "calls.get", "/api/v1/calls/call-ab", 6, subject=f"{FIRM},{OTHER}"),  # the firm's own
    query("q-third", REGULATOR, "calls.get", "/api/v1/calls/call-ab", 7, subject=THIRD),  # names another firm
]
#: reader → policy on? → call event id → the regulator's queries of it the reader is shown with it
EXPECTED: dict[str, dict[bool, dict[str, list[str]]]] = {
    FIRM: {False: {"call-ab": []}, True: {"call-ab": ["q-get", "q-evid"]}},
    OTHER: {False: {"call-ab": [], "call-o": []}, True: {"call-ab": ["q-get", "q-evid"], "call-o": ["q-prov"]}},
    THIRD: {False: {"call-o": []}, True: {"call-o": ["q-prov"]}},
    OPERATOR: {False: {}, True: {}},
    REGULATOR: {on: {"call-ab": ["q-get", "q-evid", "q-third"], "call-o": ["q-prov"]} for on in (False, True)},
}


@pytest.fixture(params=[False, True], ids=["policy-off", "policy-on"])
def on(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def client(on: bool, tmp_path: Path) -> Iterator[TestClient]:
    index = CallIndex(tmp_path / "calls.db")
    index.add_entries(0, [canonical_entry(e) for e in [*CALLS, *QUERIES]])
    visibility = QueryVisibility(frozenset({REGULATOR}), regulator_queries_visible_to_subject=on)
    stand_in = SimpleNamespace(
        auth=LOGINS, recorder=None, limits=Limits(), directory=tmp_path, calls=index, visibility=visibility
    )
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            yield c
    finally:
        index.close()


def get(client: TestClient, who: str, path: str, **params: Any) -> Any:
    answer = client.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {who}"})
    assert answer.status_code == 200, answer.text
    return answer


def ordinary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of calls, not of the reader's own query records (which the search also lists)."""
    return [r for r in rows if r["center"] != LEDGER_QUERY_CENTER]


READERS = [FIRM, OTHER, THIRD, OPERATOR, REGULATOR]


@pytest.mark.parametrize("reader", READERS)
def test_the_search_marks_each_call_with_the_regulators_queries_the_reader_may_see(
    client: TestClient, on: bool, reader: str
) -> None:
    rows = get(client, reader, "/calls", limit=200).json()["calls"]
    marks = {r["event_id"]: [q["event_id"] for q in r["regulator_queries"]] for r in ordinary(rows)}
    assert marks == EXPECTED[reader][on]
    own = [r for r in rows if r["center"] == LEDGER_QUERY_CENTER]
    assert all(r["regulator_queries"] == [] for r in own)  # a query record is marked by nothing
    for r in ordinary(rows):
        for q in r["regulator_queries"]:
            assert q["api"] in ("calls.get", "calls.provenance", "calls.evidence") and q["time_ms"] > r["time_ms"]


@pytest.mark.parametrize("reader", READERS)
def test_the_exports_carry_the_same_marks(client: TestClient, on: bool, reader: str) -> None:
    rows = get(client, reader, "/exports/calls.json").json()
    marks = {r["event_id"]: [q["event_id"] for q in r["regulator_queries"]] for r in ordinary(rows)}
    assert marks == EXPECTED[reader][on]
    table = list(csv.DictReader(io.StringIO(get(client, reader, "/exports/calls.csv").text)))
    marks = {r["event_id"]: r["regulator_queries"].split() for r in table if r["center"] != LEDGER_QUERY_CENTER}
    assert marks == EXPECTED[reader][on]


def test_a_marked_query_is_one_the_query_audit_lists_to_the_firm(client: TestClient, on: bool) -> None:
    """Every mark a firm is shown is a query its query audit (``/queries``) lists to it: the same rule."""
    listed = {q["event_id"] for q in get(client, FIRM, "/queries", limit=200).json()["queries"]}
    marked = {q["event_id"] for r in get(client, FIRM, "/calls").json()["calls"] for q in r["regulator_queries"]}
    assert marked <= listed
    assert ("q-get" in listed) is on and "q-third" not in listed


def test_no_query_of_another_firms_call_reaches_a_firm_in_any_form(client: TestClient) -> None:
    """THIRD is not a party of call-ab: nothing about the regulator's queries of it reaches THIRD, even q-third,
    which names THIRD as its subject, in no search and no export."""
    for path in ("/calls", "/exports/calls.json", "/exports/calls.csv"):
        text = get(client, THIRD, path).text
        assert "call-ab" not in text and "q-get" not in text and "q-evid" not in text and "q-third" not in text


@pytest.mark.parametrize("path", ["/calls", "/exports/calls.csv", "/exports/calls.json"])
def test_an_outsider_gets_401(client: TestClient, path: str) -> None:
    assert client.get(f"/api/v1{path}").status_code == 401
    assert client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {OUTSIDER}"}).status_code == 401


@pytest.mark.parametrize(
    ("route", "api", "found"),
    [
        ("/api/v1/calls/call-ab", "calls.get", "call-ab"),
        ("/api/v1/calls/a%3Ab", "calls.get", "a:b"),
        ("/api/v1/calls/call-ab/provenance", "calls.provenance", "call-ab"),
        ("/api/v1/calls/call-ab/evidence", "calls.evidence", "call-ab"),
        ("/api/v1/calls/call-ab/evidence", "calls.get", None),  # the route is not the api's
        ("/api/v1/calls/call-ab/provenance/x", "calls.provenance", None),
        ("/api/v1/calls/", "calls.get", None),
        ("/api/v1/calls", "calls.search", None),
        ("/api/v1/grants/0x00", "grants.get", None),
    ],
)
def test_the_call_a_query_read_is_the_one_its_route_names(route: str, api: str, found: str | None) -> None:
    assert call_of_route(route, api) == found
