"""``GET /api/v1/queries`` (the explorer's records of people's queries, with their subject) and
``GET /api/v1/alarms/records`` (the audit log's records of alarm transitions), in process: FastAPI's test client
over a real SQLite call index holding those events as the log does. Each read path is tried as a firm, another
firm, the regulator, the operator and an outsider (docs/confidentiality.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from explorer.api import Explorer, Limits, create_app
from explorer.api.middleware import api_name
from explorer.calls import CallIndex
from network.alarms.audit import alarm_event
from network.alarms.book import Alarm, Transition
from network.alarms.webhook import alarm_document
from notary.event import LEDGER_QUERY_CENTER, EventJSON, QueryVisibility, canonical_entry, validate_event
from notary.submit.vault import SaltVault
from tests.support.notary_events import event
from tests.support.org_logins import REGULATOR, OrgTokenLogins

OPERATOR = "shuzhi-tech"  # runs the explorer and the alarm evaluator
FIRM = "huaxin-bank"
OTHER = "ruida-data"
OUTSIDER = "no-member"
AT = 1_767_225_600.0
LOGINS = OrgTokenLogins(FIRM, OTHER, REGULATOR, OPERATOR)


def query_by(org: str, event_id: str, seq: int, **changes: Any) -> EventJSON:
    fields: dict[str, Any] = {
        "event_id": event_id, "caller_org": org, "provider_org": OPERATOR, "center": LEDGER_QUERY_CENTER,
        "unit": LEDGER_QUERY_CENTER, "api": "calls.get", "route": f"/api/v1/calls/{event_id}", "asset_id": None,
        "asset_version": None, "grant_id": None, "gateway_id": f"{OPERATOR}/{LEDGER_QUERY_CENTER}",
        "gateway_seq": seq, "time_ms": 1_795_000_000_000 + seq,
    }  # fmt: skip
    return validate_event(event(**{**fields, **changes}))


def alarm_record(vault: SaltVault, kind: str, rule: str, subject: str, org: str | None, seq: int) -> dict[str, Any]:
    alarm = Alarm(f"{rule}:{subject}", rule, "critical", subject, org, "a summary", AT - 4)
    t = Transition(kind, alarm, AT + seq)  # type: ignore[arg-type]
    document = alarm_document("test-consortium", t)
    return {**alarm_event(t, document, OPERATOR, vault, event_id=f"alarm-{seq}"), "gateway_seq": seq}


QUERIES = {
    "q-reg-firm": query_by(REGULATOR, "q-reg-firm", 1, subject=FIRM),
    "q-reg-search": query_by(REGULATOR, "q-reg-search", 2, api="calls.search", route="/api/v1/calls"),
    "q-firm": query_by(FIRM, "q-firm", 3, subject=f"{FIRM},{OTHER}"),
    "q-firm-refused": query_by(FIRM, "q-firm-refused", 4, decision="deny", denial_reason="not_found", status=404),
    "q-other": query_by(OTHER, "q-other", 5, subject=OTHER),
    "q-operator": query_by(OPERATOR, "q-operator", 6, subject=FIRM),
}
#: query event id → who lists it with the ``audit`` policy off (on, the regulator's queries' subjects too).
QUERY_READERS = {
    "q-reg-firm": {REGULATOR},
    "q-reg-search": {REGULATOR},
    "q-firm": {REGULATOR, FIRM},
    "q-firm-refused": {REGULATOR, FIRM},
    "q-other": {REGULATOR, OTHER},
    "q-operator": {REGULATOR, OPERATOR},
}
#: alarm record event id → who lists it: its component's firm, the operator that raised it, the regulator.
ALARM_READERS = {
    "alarm-1": {REGULATOR, OPERATOR},  # the witness quorum: consortium-wide, the operator's
    "alarm-2": {REGULATOR, OPERATOR, FIRM},  # the firm's gateway
    "alarm-3": {REGULATOR, OPERATOR, FIRM},
    "alarm-4": {REGULATOR, OPERATOR, OTHER},  # the other firm's witness
}


def query_readers(event_id: str, on: bool) -> set[str]:
    subject = QUERIES[event_id].get("subject", "")
    named = set(subject.split(",")) if on and subject and QUERIES[event_id]["caller_org"] == REGULATOR else set()
    return QUERY_READERS[event_id] | named


@pytest.fixture(params=[False, True], ids=["policy-off", "policy-on"])
def on(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def client(on: bool, tmp_path: Path) -> Iterator[TestClient]:
    vault = SaltVault.open(tmp_path / "vault", OPERATOR, b"passphrase", clock=lambda: AT)
    alarms = [
        alarm_record(vault, "fired", "witness-quorum", "witnesses", None, 1),
        alarm_record(vault, "fired", "gateway-outbox", f"gateway/{FIRM}", FIRM, 2),
        alarm_record(vault, "resolved", "gateway-outbox", f"gateway/{FIRM}", FIRM, 3),
        alarm_record(vault, "fired", "witness-down", f"witness/{OTHER}", OTHER, 4),
    ]
    index = CallIndex(tmp_path / "calls.db")
    ordinary = event(caller_org=FIRM, provider_org=OTHER, gateway_id=f"{OTHER}/gw-1", event_id="call-1")
    index.add_entries(0, [canonical_entry(e) for e in [ordinary, *QUERIES.values(), *alarms]])
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
    return answer.json()


@pytest.mark.parametrize("reader", [FIRM, OTHER, REGULATOR, OPERATOR])
def test_each_reader_lists_the_queries_the_model_gives_it_with_their_subject(
    client: TestClient, on: bool, reader: str
) -> None:
    body = get(client, reader, "/queries")
    listed = [q["event_id"] for q in body["queries"]]
    expected = [e for e in reversed(list(QUERIES)) if reader in query_readers(e, on)]
    assert listed == expected  # newest first
    for row in body["queries"]:
        source = QUERIES[row["event_id"]]
        assert row["subject"] == (source["subject"].split(",") if "subject" in source else [])
        assert (row["caller_org"], row["api"], row["decision"], row["status"]) == (
            source["caller_org"], source["api"], source["decision"], source["status"],
        )  # fmt: skip
    assert body["next"] is None


def test_the_queries_filter_and_paginate(client: TestClient) -> None:
    firm = get(client, REGULATOR, "/queries", caller=FIRM)
    assert [q["event_id"] for q in firm["queries"]] == ["q-firm-refused", "q-firm"]
    refused = get(client, REGULATOR, "/queries", decision="deny")["queries"]
    assert [(q["event_id"], q["subject"], q["denial_reason"]) for q in refused] == [("q-firm-refused", [], "not_found")]
    first = get(client, REGULATOR, "/queries", limit=4)
    assert len(first["queries"]) == 4 and first["next"]
    rest = get(client, REGULATOR, "/queries", limit=4, cursor=first["next"])
    assert [q["event_id"] for q in first["queries"] + rest["queries"]] == list(reversed(list(QUERIES)))
    assert get(client, OTHER, "/queries", caller=FIRM)["queries"] == []  # another firm's: nothing, not an error
    assert get(client, FIRM, "/queries", caller=OTHER)["queries"] == []
    wrong = client.get(
        "/api/v1/alarms/records", params={"cursor": first["next"]}, headers={"Authorization": f"Bearer {REGULATOR}"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_cursor"  # bound to the other listing


@pytest.mark.parametrize("reader", [FIRM, OTHER, REGULATOR, OPERATOR])
def test_each_reader_lists_the_alarm_records_the_model_gives_it(client: TestClient, reader: str) -> None:
    body = get(client, reader, "/alarms/records")
    expected = [e for e in reversed(list(ALARM_READERS)) if reader in ALARM_READERS[e]]
    assert [r["event_id"] for r in body["records"]] == expected
    if reader == REGULATOR:
        assert body["records"][-1] == {
            "index": 7, "event_id": "alarm-1", "time_ms": int((AT + 1) * 1000),
            "alarm_id": "witness-quorum:witnesses", "rule": "witness-quorum", "subject": "witnesses",
            "transition": "fired", "severity": "critical", "org": OPERATOR, "operator": OPERATOR,
            "leaf_hash": body["records"][-1]["leaf_hash"],
        }  # fmt: skip
        assert [(r["transition"], r["subject"]) for r in body["records"][1:3]] == [
            ("resolved", f"gateway/{FIRM}"),
            ("fired", f"gateway/{FIRM}"),
        ]


def test_no_query_and_no_call_is_listed_as_an_alarm_record_nor_the_reverse(client: TestClient) -> None:
    records = get(client, REGULATOR, "/alarms/records")["records"]
    queries = get(client, REGULATOR, "/queries")["queries"]
    assert {r["event_id"] for r in records} == set(ALARM_READERS)
    assert {q["event_id"] for q in queries} == set(QUERIES)


@pytest.mark.parametrize("path", ["/queries", "/alarms/records"])
def test_an_outsider_gets_nothing(client: TestClient, path: str) -> None:
    for headers in ({}, {"Authorization": f"Bearer {OUTSIDER}"}):
        answer = client.get(f"/api/v1{path}", headers=headers)
        assert answer.status_code == 401 and answer.json()["error"] == "no_credentials", (path, headers)


def test_bad_parameters_are_refused_with_their_name(client: TestClient) -> None:
    for path, params in (
        ("/queries", {"caller": "NOT A NAME"}),
        ("/queries", {"limit": 201}),
        ("/alarms/records", {"from": 10, "to": 5}),
        ("/alarms/records", {"limit": 0}),
    ):
        answer = client.get(f"/api/v1{path}", params=params, headers={"Authorization": f"Bearer {REGULATOR}"})
        assert answer.status_code == 422 and answer.json()["error"] == "invalid_parameter", (path, params)


def test_the_listings_have_names_of_their_own_in_the_audit() -> None:
    assert api_name("/api/v1/queries") == "queries.list"
    assert api_name("/api/v1/alarms/records") == "alarms.records"
    assert api_name("/api/v1/alarms") == "alarms.list"


def many_queries(n: int) -> list[EventJSON]:
    """``n`` query records: the firm's own, the regulator's naming the firm (one refused), naming another firm,
    and another firm's and the operator's."""
    events: list[EventJSON] = []
    for i in range(1, n + 1):
        if i % 4 == 0:
            events.append(query_by(FIRM, f"own-{i}", i, subject=FIRM))
        elif i % 3 == 0:
            events.append(query_by(REGULATOR, f"reg-of-firm-{i}", i, subject=f"{FIRM},{OTHER}"))
        elif i % 7 == 0:
            events.append(query_by(REGULATOR, f"reg-refused-{i}", i, decision="deny", denial_reason="not_found",
                                   status=404))  # fmt: skip
        elif i % 5 == 0:
            events.append(query_by(OPERATOR if i % 2 else OTHER, f"firm-{i}", i, subject=OTHER))
        else:
            events.append(query_by(REGULATOR, f"reg-other-{i}", i, subject=OTHER))
    return events


def readers_of(e: EventJSON, on: bool) -> set[str]:
    named = set(e.get("subject", "").split(",")) if on and e["caller_org"] == REGULATOR else set()
    return {REGULATOR, e["caller_org"]} | (named - {""})


def walk(c: TestClient, who: str, limit: int, **params: Any) -> tuple[list[str], int]:
    """Every page of ``who``'s listing: the event ids in order and the number of pages; every page but the last
    full."""
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        body = get(c, who, "/queries", limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert body["limit"] == limit and len(body["queries"]) <= limit
        seen += [q["event_id"] for q in body["queries"]]
        cursor = body["next"]
        pages += 1
        if cursor is None:
            return seen, pages
        assert len(body["queries"]) == limit  # no short page before the end: nothing read and dropped
        assert pages < 1000


@pytest.mark.parametrize("on", [True, False], ids=["policy-on", "policy-off"])
def test_every_reader_pages_through_more_queries_than_a_page_each_once(tmp_path: Path, on: bool) -> None:
    """More query records than the largest page (200): each reader's pages, at several sizes, hold exactly the
    rows the model gives it (docs/confidentiality.md), newest first, once each, every page but the last full;
    with the policy on a firm's pages merge its own with the regulator's naming it, read from the index's
    subjects page by page (``CallStore.subject_queries``), however many of the regulator's name other firms."""
    events = many_queries(460)
    index = CallIndex(tmp_path / "calls.db")
    index.add_entries(0, [canonical_entry(e) for e in events])
    visibility = QueryVisibility(frozenset({REGULATOR}), regulator_queries_visible_to_subject=on)
    unlimited = Limits(rate=1e9, burst=10**9)  # a walk is many requests at once; the rate limit is not tried here
    stand_in = SimpleNamespace(
        auth=LOGINS, recorder=None, limits=unlimited, directory=tmp_path, calls=index, visibility=visibility
    )
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            for reader in (FIRM, OTHER, OPERATOR, REGULATOR):
                wanted = [e["event_id"] for e in reversed(events) if reader in readers_of(e, on)]
                assert len(wanted) > 7 and (reader != REGULATOR or len(wanted) > 200)
                for limit in (1, 7, 200) if reader == FIRM else (7, 200):  # one row a page: the merge's edge
                    seen, pages = walk(c, reader, limit)
                    assert seen == wanted, (reader, limit)
                    full = -(-len(wanted) // limit)  # a last full page may be followed by an empty one
                    assert pages in (full, full + 1)
            # filters hold across pages: the firm finds the regulator's queries of its data by caller, none refused
            regulators = [e["event_id"] for e in reversed(events) if e["caller_org"] == REGULATOR]
            of_firm = [e for e in regulators if e.startswith("reg-of-firm-")]
            assert walk(c, FIRM, 5, caller=REGULATOR)[0] == (of_firm if on else [])
            assert walk(c, FIRM, 5, caller=REGULATOR, decision="deny")[0] == []
            assert walk(c, REGULATOR, 50, caller=REGULATOR)[0] == regulators
            low, high = events[99]["time_ms"], events[300]["time_ms"]
            timed = [
                e["event_id"] for e in reversed(events) if FIRM in readers_of(e, on) and low <= e["time_ms"] < high
            ]
            assert walk(c, FIRM, 6, **{"from": low, "to": high})[0] == timed and timed
    finally:
        index.close()


def test_a_bad_cursor_is_a_clear_400(client: TestClient) -> None:
    """A cursor the explorer did not issue, or one of other filters or of another firm's listing, is refused with
    ``invalid_cursor`` and a sentence saying why, not read as the first page."""
    first = get(client, REGULATOR, "/queries", limit=2)
    assert first["next"]
    firms = get(client, FIRM, "/queries", limit=1)["next"]
    assert firms
    for who, params, why in (
        (REGULATOR, {"cursor": "bm90LWEtY3Vyc29y"}, "not one this explorer issued"),
        (REGULATOR, {"cursor": "%%%"}, None),  # not even of the cursor's alphabet: a parameter error
        (REGULATOR, {"cursor": first["next"], "caller": FIRM}, "another query"),
        (REGULATOR, {"cursor": first["next"], "decision": "deny"}, "another query"),
        (OTHER, {"cursor": firms}, "another query"),  # bound to the firm's own listing
    ):
        answer = client.get("/api/v1/queries", params=params, headers={"Authorization": f"Bearer {who}"})
        if why is None:
            assert answer.status_code == 422 and answer.json()["error"] == "invalid_parameter", answer.text
            continue
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["error"] == "invalid_cursor" and why in answer.json()["detail"], answer.text


def test_a_firms_page_is_full_however_many_of_the_regulators_queries_name_other_firms(tmp_path: Path) -> None:
    """Three of the regulator's queries name the firm, then 700 name only another firm: the firm's first page
    holds the three (found by the index's subjects, not by reading the regulator's queries newest first until
    some bound), and the last page says so with no ``next``."""
    events = [query_by(REGULATOR, f"reg-of-firm-{i}", i, subject=FIRM) for i in range(1, 4)]
    events += [query_by(REGULATOR, f"reg-other-{i}", i, subject=OTHER) for i in range(4, 704)]
    index = CallIndex(tmp_path / "calls.db")
    index.add_entries(0, [canonical_entry(e) for e in events])
    visibility = QueryVisibility(frozenset({REGULATOR}), regulator_queries_visible_to_subject=True)
    stand_in = SimpleNamespace(
        auth=LOGINS, recorder=None, limits=Limits(), directory=tmp_path, calls=index, visibility=visibility
    )
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            first = get(c, FIRM, "/queries", limit=2)
            assert [q["event_id"] for q in first["queries"]] == ["reg-of-firm-3", "reg-of-firm-2"]
            rest = get(c, FIRM, "/queries", limit=2, cursor=first["next"])
            assert [q["event_id"] for q in rest["queries"]] == ["reg-of-firm-1"] and rest["next"] is None
            theirs = get(c, OTHER, "/queries", limit=200)  # the policy shows the other firm those naming it
            assert [q["event_id"] for q in theirs["queries"]] == [f"reg-other-{i}" for i in range(703, 503, -1)]
            assert theirs["next"]
    finally:
        index.close()
