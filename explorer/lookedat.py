"""Which of a firm's calls the regulator looked at: the regulator's queries of one call (its detail, provenance
or evidence, ``/api/v1/calls/{event_id}[/provenance|/evidence]``) that the firm may see, for the calls search and
the exports to mark each call with them (docs/explorer.md, "Audit of the auditors").

A firm sees a regulator's query only under the consortium's ``audit`` policy
(``QueryVisibility.regulator_queries_visible_to_subject``) and only when the query names the firm as its subject
(``notary.event.parties``, the rule of ``access.sees_call``): the query of a call names the call's caller and
provider, so a firm learns of the regulator's queries of its own calls and of no other firm's. The regulator's
people see every regulator's query of every call. A firm's own queries, and the regulator's searches, lists and
exports (which name no subject), mark nothing.

The call index has no column for a query's subject or for the call a query read: the call is in the query's
route and the subject in its entry. So the marks come from the newest :data:`LOOK_SCAN` of each regulator's
queries of each kind (detail, provenance, evidence), whose routes are matched to the calls asked about, and only
the matching ones' entries are read for their subject.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypedDict
from urllib.parse import unquote

from explorer.calls import CallFilter, CallStore
from notary.event import LEDGER_QUERY_CENTER, QueryVisibility, subjects

#: The audit events' ``api`` of a query that read one call, and the route's tail after the call's event id.
CALL_QUERY_APIS = {"calls.get": "", "calls.provenance": "provenance", "calls.evidence": "evidence"}
CALLS_ROUTE = "/api/v1/calls/"
#: How many of a regulator's queries of each kind one look-up reads at most, newest first.
LOOK_SCAN = 500


class Look(TypedDict):
    """One query of the regulator's that read a call: the query's event id (the query record, which the reader
    opens as any call), its time and its endpoint."""

    event_id: str
    time_ms: int
    api: str


def call_of_route(route: str, api: str) -> str | None:
    """The event id of the call a query of ``api`` read, from its route; None for another route."""
    tail = CALL_QUERY_APIS.get(api)
    if tail is None or not route.startswith(CALLS_ROUTE):
        return None
    parts = route[len(CALLS_ROUTE) :].split("/")
    if parts[1:] != ([tail] if tail else []) or not parts[0]:
        return None
    return unquote(parts[0])


def regulator_looks(
    calls: CallStore, visibility: QueryVisibility, reader: str | None, event_ids: Collection[str] | None = None
) -> dict[str, list[Look]]:
    """The regulator's queries of each call, by the call's event id, oldest first, as ``reader`` may see them:
    ``reader`` None is the regulator (every one); a firm sees those naming it as subject, under the policy only.
    ``event_ids`` restricts the answer to those calls (None: every call the scan finds)."""
    if (reader is not None and not visibility.regulator_queries_visible_to_subject) or event_ids == set():
        return {}  # nothing the reader may be shown, or no call to mark: no scan
    found: dict[str, list[Look]] = {}
    for regulator in sorted(visibility.regulators):
        for api in CALL_QUERY_APIS:
            f = CallFilter(center=LEDGER_QUERY_CENTER, caller=regulator, api=api, decision="allow")
            for row in calls.search(f, before=None, limit=LOOK_SCAN):
                call = call_of_route(row["route"], row["api"])
                if call is None or (event_ids is not None and call not in event_ids):
                    continue
                if reader is not None:
                    full = calls.by_index(row["index"])  # the subject is in the entry
                    if full is None or reader not in subjects(full):
                        continue
                found.setdefault(call, []).append(
                    {"event_id": row["event_id"], "time_ms": row["time_ms"], "api": row["api"]}
                )
    for looks in found.values():
        looks.sort(key=lambda look: (look["time_ms"], look["event_id"]))
    return found
