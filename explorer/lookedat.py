"""Which of a firm's calls the regulator looked at: the regulator's queries of one call (its detail, provenance
or evidence, ``/api/v1/calls/{event_id}[/provenance|/evidence]``) that the firm may see, for the calls search and
the exports to mark each call with them, and the counts of the dashboard and the compliance report
(docs/explorer.md, "Audit of the auditors").

A firm sees a regulator's query only under the consortium's ``audit`` policy
(``QueryVisibility.regulator_queries_visible_to_subject``) and only when the query names the firm as its subject
(``notary.event.parties``, the rule of ``access.sees_call``), and only for calls already in its results (the
marks) or of which it is a party (the counts): the query of a call names the call's caller and provider, so a
firm learns of the regulator's queries of its own calls and of no other firm's. The regulator's people see every
regulator's query of every call. A firm's own queries, and the regulator's searches, lists and exports (which
name no subject), mark nothing. The operator's people are a firm's like any other: the regulator's queries of
the calls their firm is a party to, under the policy; never others' because the operator records them.

The call index keeps, for each allowed ledger query, the call its route names and the firms its ``subject``
names (``CallStore.looks``, ``CallStore.subject_counts``), so the marks and counts are exact whatever the number
of queries and cost one index probe per call asked about.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypedDict

from explorer.calls import CALL_QUERY_APIS, CALLS_ROUTE, CallStore, call_of_route
from notary.event import QueryVisibility, is_ledger_query

__all__ = [
    "CALLS_ROUTE",
    "CALL_QUERY_APIS",
    "Look",
    "LookCounts",
    "call_of_route",
    "look_counts",
    "queries_by_firm",
    "regulator_looks",
]


class Look(TypedDict):
    """One query of the regulator's that read a call: the query's event id (the query record, which the reader
    opens as any call), its time and its endpoint."""

    event_id: str
    time_ms: int
    api: str


class LookCounts(TypedDict):
    """Of a firm's calls in a period: how many the regulator's queries read (``calls``), and how many such queries
    there were (``queries``)."""

    calls: int
    queries: int


def _sees(visibility: QueryVisibility, reader: str | None) -> bool:
    return reader is None or visibility.regulator_queries_visible_to_subject


def regulator_looks(
    calls: CallStore, visibility: QueryVisibility, reader: str | None, event_ids: Collection[str] | None = None
) -> dict[str, list[Look]]:
    """The regulator's queries of each call, by the call's event id, oldest first, as ``reader`` may see them:
    ``reader`` None is the regulator (every one); a firm sees those naming it as subject, under the policy only.
    ``event_ids`` restricts the answer to those calls (None: every call a regulator's query read); the caller
    marks only the rows the reader's results hold."""
    if not _sees(visibility, reader) or event_ids == set() or not visibility.regulators:
        return {}  # nothing the reader may be shown, or no call to mark
    found: dict[str, list[Look]] = {}
    for look in calls.looks(visibility.regulators, calls=event_ids, subject=reader):
        found.setdefault(look["call"], []).append(
            {"event_id": look["event_id"], "time_ms": look["time_ms"], "api": look["api"]}
        )
    return found


def look_counts(
    calls: CallStore, visibility: QueryVisibility, reader: str | None, org: str, from_ms: int, to_ms: int
) -> LookCounts | None:
    """How many of ``org``'s calls the regulator's queries in ``[from_ms, to_ms)`` read, and how many such
    queries, as ``reader`` (None: the regulator) may know it; None where the reader may not (a firm without the
    policy, or a firm asking about another). A call counts where ``org`` is its caller or provider (not a ledger
    query's provider: ``notary.event.parties``) and the query names ``org`` as subject."""
    if not _sees(visibility, reader) or (reader is not None and reader != org):
        return None
    if not visibility.regulators or from_ms >= to_ms:
        return {"calls": 0, "queries": 0}
    looks = calls.looks(visibility.regulators, subject=org, from_ms=from_ms, to_ms=to_ms)
    party: dict[str, bool] = {}
    queries = 0
    for look in looks:
        ours = party.get(look["call"])
        if ours is None:
            row = calls.by_event_id(look["call"])
            ours = party[look["call"]] = row is not None and (
                row["caller_org"] == org or (row["provider_org"] == org and not is_ledger_query(row))
            )
        queries += ours
    return {"calls": sum(party.values()), "queries": queries}


def queries_by_firm(
    calls: CallStore, visibility: QueryVisibility, reader: str | None, from_ms: int, to_ms: int
) -> dict[str, int] | None:
    """For the regulator (``reader`` None): its queries in ``[from_ms, to_ms)`` naming each firm as subject (any
    endpoint that read one firm's data: a call, a grant, an asset, a report), by firm; None for anyone else."""
    if reader is not None:
        return None
    return calls.subject_counts(visibility.regulators, from_ms, to_ms)
