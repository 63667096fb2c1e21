"""Who sees an explorer query that names its subject (the firms whose data it read), under each setting of the
consortium's ``audit`` policy: ``explorer.access.sees_call`` and ``notary.event.parties``, the rule the notary's
reads apply too (``tests/unit/notary/test_read_access.py``).

A regulator's query is shown to its subject only with ``regulator_queries_visible_to_subject`` on; a firm's own
queries stay the firm's and the regulator's whatever the policy; the operator that records them sees none but its
own, and a regulator's query of its data with the policy on."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from explorer import access
from explorer.api import Explorer, Limits, create_app
from explorer.calls import CallIndex
from notary.event import (
    LEDGER_QUERY_CENTER,
    Event,
    EventJSON,
    EventSchemaError,
    QueryVisibility,
    canonical_entry,
    parties,
    subjects,
    validate_event,
)
from tests.support.notary_events import event
from tests.support.org_logins import REGULATOR, OrgTokenLogins, person

OPERATOR = "shuzhi-tech"  # runs the explorer
FIRM = "huaxin-bank"
OTHER = "ruida-data"  # a member with no part in the queries, unless named
OUTSIDER = "no-member"  # an org the consortium does not know
LOGINS = OrgTokenLogins(FIRM, OTHER, REGULATOR, OPERATOR)


def query_by(org: str, **changes: Any) -> EventJSON:
    """A ledger query of ``org``'s person, as the explorer of OPERATOR records it."""
    return validate_event(
        event(
            caller_org=org, provider_org=OPERATOR, center=LEDGER_QUERY_CENTER, unit=LEDGER_QUERY_CENTER,
            api="calls.detail", route="/api/calls/x", asset_id=None, asset_version=None, grant_id=None,
            gateway_id=f"{OPERATOR}/{LEDGER_QUERY_CENTER}", **changes,
        )
    )  # fmt: skip


QUERIES: dict[str, EventJSON] = {
    "regulator's query of the firm": query_by(REGULATOR, subject=FIRM),
    "regulator's query of a call of the firm and another": query_by(REGULATOR, subject=f"{FIRM},{OTHER}"),
    "regulator's query of the operator": query_by(REGULATOR, subject=OPERATOR),
    "regulator's search": query_by(REGULATOR),
    "firm's query of its call with another": query_by(FIRM, subject=f"{FIRM},{OTHER}"),
    "operator's query of the firm": query_by(OPERATOR, subject=FIRM),
}

#: query → (who sees it with the policy off, with it on).
SEEN: dict[str, tuple[set[str], set[str]]] = {
    "regulator's query of the firm": ({REGULATOR}, {REGULATOR, FIRM}),
    "regulator's query of a call of the firm and another": ({REGULATOR}, {REGULATOR, FIRM, OTHER}),
    "regulator's query of the operator": ({REGULATOR}, {REGULATOR, OPERATOR}),
    "regulator's search": ({REGULATOR}, {REGULATOR}),
    "firm's query of its call with another": ({REGULATOR, FIRM}, {REGULATOR, FIRM}),
    "operator's query of the firm": ({REGULATOR, OPERATOR}, {REGULATOR, OPERATOR}),
}


def policy(on: bool) -> QueryVisibility:
    return QueryVisibility(frozenset({REGULATOR}), regulator_queries_visible_to_subject=on)


@pytest.mark.parametrize("on", [False, True], ids=["policy-off", "policy-on"])
@pytest.mark.parametrize("reader", [FIRM, OTHER, REGULATOR, OPERATOR, OUTSIDER])
@pytest.mark.parametrize("kind", sorted(QUERIES))
def test_who_sees_a_query_under_the_policy(kind: str, reader: str, on: bool) -> None:
    expected = reader in SEEN[kind][on]
    assert access.sees_call(person(reader), QUERIES[kind], policy(on)) == expected
    # the notary's rule: the regulator reads every event by its role, the others by the parties
    assert (reader in parties(QUERIES[kind], policy(on)) or reader == REGULATOR) == expected


@pytest.mark.parametrize("kind", sorted(QUERIES))
def test_without_a_policy_a_query_is_its_firms_alone(kind: str) -> None:
    assert parties(QUERIES[kind]) == (QUERIES[kind]["caller_org"],)


def test_the_policy_shows_no_subject_of_an_ordinary_call() -> None:
    call = event(caller_org=FIRM, provider_org=OPERATOR, gateway_id=f"{OPERATOR}/gw-1")
    assert parties(call, policy(True)) == (FIRM, OPERATOR)
    assert subjects(call) == ()


def test_a_subject_is_refused_on_an_ordinary_call() -> None:
    with pytest.raises(EventSchemaError, match="only an explorer query event names a subject"):
        validate_event({**event(), "subject": FIRM})


@pytest.mark.parametrize(
    "subject",
    ["", f"{OTHER},{FIRM}", f"{FIRM},{FIRM}", "a,b,c", "Huaxin", f"{FIRM},", None, 7],
    ids=["empty", "unsorted", "repeated", "three", "upper-case", "trailing-comma", "null", "integer"],
)
def test_a_malformed_subject_is_refused(subject: object) -> None:
    with pytest.raises(EventSchemaError) as caught:
        validate_event({**query_by(REGULATOR), "subject": subject})
    assert [e["loc"] for e in caught.value.errors] == [["subject"]]


def test_events_without_a_subject_keep_their_bytes_and_with_one_round_trip() -> None:
    plain = query_by(REGULATOR)
    assert Event.from_json(plain).to_entry() == canonical_entry(plain)
    assert "subject" not in Event.from_json(plain).to_json()
    named = query_by(REGULATOR, subject=f"{FIRM},{OTHER}")
    entry = Event.from_json(named).to_entry()
    assert entry == canonical_entry(named)
    assert b'"status":200,"subject":"huaxin-bank,ruida-data","time_ms"' in entry
    assert Event.from_entry(entry).subject == f"{FIRM},{OTHER}"


# -- the call detail over HTTP, in process (FastAPI's test client over a real SQLite call index) ---------------


class NoShreds:
    def lookup(self, provider: str, day: str) -> None:
        return None


DETAIL_QUERIES = {
    "regulator's query of the firm": query_by(REGULATOR, event_id="q-reg", subject=FIRM),
    "firm's query of its call with another": query_by(FIRM, event_id="q-firm", subject=f"{FIRM},{OTHER}"),
}


@pytest.mark.parametrize("on", [False, True], ids=["policy-off", "policy-on"])
def test_the_call_detail_shows_a_query_to_whom_the_policy_says(tmp_path: Path, on: bool) -> None:
    index = CallIndex(tmp_path / "calls.db")
    index.add_entries(0, [canonical_entry(q) for q in DETAIL_QUERIES.values()])
    stand_in = SimpleNamespace(
        auth=LOGINS, recorder=None, limits=Limits(), directory=tmp_path, calls=index, shreds=NoShreds(),
        visibility=policy(on),
    )  # fmt: skip
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            for kind, query in DETAIL_QUERIES.items():
                path = f"/api/v1/calls/{query['event_id']}"
                for reader in (FIRM, OTHER, REGULATOR, OPERATOR):
                    answer = c.get(path, headers={"Authorization": f"Bearer {reader}"})
                    assert answer.status_code == (200 if reader in SEEN[kind][on] else 404), (kind, reader)
                    if answer.status_code == 200:
                        assert answer.json()["event"]["subject"] == query["subject"]
                assert c.get(path).status_code == 401  # an outsider, without a login
    finally:
        index.close()
