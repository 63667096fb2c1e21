"""Who sees which call (``explorer.access.sees_call``): each role of each firm against each kind of event.

The explorer of OPERATOR records every person's query as a ledger query whose provider is OPERATOR. Such a
query is the querying firm's: its people and the regulator see it, the operator's people do not (unless their
firm made it), and no other firm does. Ordinary calls are seen by their caller's and provider's people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from explorer import access
from network.identity import PERSON_ROLES
from network.logins import Person
from notary.event import LEDGER_QUERY_CENTER, EventJSON, is_ledger_query, validate_event
from tests.support.notary_events import event

OPERATOR = "shuzhi-tech"  # runs the explorer
REGULATOR = "csrc"  # the regulator's org
FIRM = "huaxin-bank"  # a member firm that queries the explorer
OTHER = "ruida-data"  # a member firm with no part in any of the events


def person(org: str, role: str) -> Person:
    return Person(org=org, name="p", role=role, identity="ab" * 32, display_name=f"p ({org})", expires_ms=0)


def query_by(org: str, **changes: Any) -> EventJSON:
    """A ledger query of ``org``'s person, as the explorer of OPERATOR records it."""
    return validate_event(
        event(
            caller_org=org, provider_org=OPERATOR, center=LEDGER_QUERY_CENTER, unit=LEDGER_QUERY_CENTER,
            api="calls.search", route="/api/calls", asset_id=None, asset_version=None, grant_id=None,
            gateway_id=f"{OPERATOR}/{LEDGER_QUERY_CENTER}", **changes,
        )
    )  # fmt: skip


EVENTS: dict[str, Mapping[str, Any]] = {
    "regulator's query": query_by(REGULATOR),
    "regulator's refused query": query_by(REGULATOR, decision="deny", denial_reason="not_found", status=404),
    "firm's query": query_by(FIRM),
    "operator's own query": query_by(OPERATOR),
    "firm's call to the operator": event(caller_org=FIRM, provider_org=OPERATOR, gateway_id=f"{OPERATOR}/gw-1"),
    "operator's call to the firm": event(caller_org=OPERATOR, provider_org=FIRM, gateway_id=f"{FIRM}/gw-1"),
    # the center's name alone does not make a ledger query: a gateway of another name is an ordinary call
    "call to a center named explorer": event(
        caller_org=FIRM, provider_org=OPERATOR, center=LEDGER_QUERY_CENTER, gateway_id=f"{OPERATOR}/gw-1"
    ),
}

#: (event, org) → whether that org's people (compliance or operator role) see the event; the regulator's
#: people see every event.
MEMBERS_SEE: dict[str, set[str]] = {
    "regulator's query": set(),
    "regulator's refused query": set(),
    "firm's query": {FIRM},
    "operator's own query": {OPERATOR},
    "firm's call to the operator": {FIRM, OPERATOR},
    "operator's call to the firm": {FIRM, OPERATOR},
    "call to a center named explorer": {FIRM, OPERATOR},
}


def test_the_events_are_the_kinds_they_claim() -> None:
    for name, ev in EVENTS.items():
        validate_event(ev)
        assert is_ledger_query(ev) == name.endswith("query"), name


@pytest.mark.parametrize("kind", sorted(EVENTS))
@pytest.mark.parametrize("org", [OPERATOR, FIRM, OTHER])
@pytest.mark.parametrize("role", sorted(set(PERSON_ROLES) - {"regulator"}))
def test_a_members_people_see_their_firms_queries_and_calls_only(kind: str, org: str, role: str) -> None:
    assert access.sees_call(person(org, role), EVENTS[kind]) == (org in MEMBERS_SEE[kind])


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_the_regulators_people_see_every_query_and_call(kind: str) -> None:
    assert access.sees_call(person(REGULATOR, "regulator"), EVENTS[kind])


def test_the_operators_people_see_no_query_but_their_firms() -> None:
    compliance = person(OPERATOR, "compliance")
    seen = {kind for kind, ev in EVENTS.items() if is_ledger_query(ev) and access.sees_call(compliance, ev)}
    assert seen == {"operator's own query"}


@pytest.mark.parametrize(
    ("org", "role", "gateway", "seen"),
    [
        ("shuzhi-tech", "compliance", "shuzhi-tech/gw-1", True),  # its own firm's gateway
        ("shuzhi-tech", "operator", "shuzhi-tech/gw-2", True),
        ("jinghua-sec", "compliance", "shuzhi-tech/gw-1", False),  # another firm's
        ("bjic-cloud", "operator", "shuzhi-tech/gw-1", False),  # the operator's people as any other firm's
        ("bjic-cloud", "compliance", "bjic-cloud/explorer", True),  # the operator's own audit gateway
        ("shuzhi", "compliance", "shuzhi-tech/gw-1", False),  # a prefix of the org is not the org
        ("csrc", "regulator", "shuzhi-tech/gw-1", True),
        ("csrc", "regulator", "bjic-cloud/explorer", True),
    ],
)
def test_a_gateways_gaps_are_its_firms_and_the_regulators(org: str, role: str, gateway: str, seen: bool) -> None:
    assert access.sees_gateway(person(org, role), gateway) is seen
