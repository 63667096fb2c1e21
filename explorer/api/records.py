"""The log's records of the consortium's own oversight, each listed with what its rows mean:

- ``/queries``: the audit of the auditors, the explorer's records of people's queries (center ``explorer``,
  ``notary.event.is_ledger_query``), each with its ``subject``, the firms whose data the query read; with the
  consortium's ``audit`` policy on, a firm also finds the regulator's queries that name it as subject;
- ``/alarms/records``: the records of operational alarms that fired, changed or resolved (center ``alarms``,
  ``notary.event.is_alarm_record``, docs/alarms.md "In the audit log").

Both read the explorer's own call index, which follows the notary's log (no other component's files), and both
apply the tenant restriction of the call search (``access.party``, ``CallFilter.party``): a query record is its
querying firm's and the regulator's; an alarm record its subject's firm's, the operator's (which raised it) and
the regulator's (docs/confidentiality.md). Newest first, ``limit`` ≤ 200, an opaque cursor bound to the filters.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from explorer import access
from explorer.api.calls import decode_cursor, encode_cursor, filter_hash
from explorer.api.deps import Caller, CurrentPerson, Cursor, Decision, Explorer, ExplorerDep, From, Limit, To
from explorer.api.errors import CURSOR
from explorer.api.schemas import AlarmRecordPage, QueryPage
from explorer.calls import CallFilter, CallRow
from explorer.errors import InvalidParameterError
from network.alarms.audit import ROUTE_PREFIX
from network.logins import Person
from notary.event import ALARM_CENTER, LEDGER_QUERY_CENTER, is_alarm_record, is_ledger_query, subjects

router = APIRouter(tags=["audit"])


def _filter(
    person: Person, center: str, caller: str | None, decision: str | None, from_ms: int | None, to_ms: int | None
) -> CallFilter:
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise InvalidParameterError("to must be later than from")
    return CallFilter(
        center=center, caller=caller, decision=decision, from_ms=from_ms, to_ms=to_ms, party=access.party(person)
    )


def _page(explorer: Explorer, f: CallFilter, limit: int, cursor: str | None) -> tuple[list[CallRow], str | None]:
    bound = filter_hash(f)
    rows = explorer.calls.search(f, before=decode_cursor(cursor, bound), limit=limit)
    after = encode_cursor(rows[-1]["index"], bound) if len(rows) == limit and rows[-1]["index"] > 0 else None
    return rows, after


def query_row(row: CallRow) -> dict[str, Any]:
    """A query record as the audit listing shows it (``row`` with its entry: ``CallStore.by_index``)."""
    return {
        "index": row["index"],
        "event_id": row["event_id"],
        "time_ms": row["time_ms"],
        "caller_org": row["caller_org"],
        "api": row["api"],
        "method": row["method"],
        "route": row["route"],
        "decision": row["decision"],
        "denial_reason": row["denial_reason"],
        "status": row["status"],
        "subject": list(subjects(row)),
        "leaf_hash": row["leaf_hash"],
    }


def alarm_record_row(row: CallRow) -> dict[str, Any]:
    """An alarm record as its listing shows it: the alarm, the transition and severity its event names."""
    route = row["route"]
    alarm_id = route[len(ROUTE_PREFIX) :] if route.startswith(ROUTE_PREFIX) else route
    transition, _, severity = row["api"].partition(".")
    return {
        "index": row["index"],
        "event_id": row["event_id"],
        "time_ms": row["time_ms"],
        "alarm_id": alarm_id,
        "rule": row["unit"],
        "subject": alarm_id.partition(":")[2],
        "transition": transition,
        "severity": severity,
        "org": row["caller_org"],
        "operator": row["provider_org"],
        "leaf_hash": row["leaf_hash"],
    }


@router.get(
    "/queries",
    summary="The explorer's records of people's queries (the audit of the auditors), newest first",
    response_model=QueryPage,
    responses=CURSOR,
)
def queries(
    explorer: ExplorerDep,
    p: CurrentPerson,
    caller: Caller = None,
    decision: Decision = None,
    from_ms: From = None,
    to_ms: To = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """A member's people see their own firm's queries, and, when the consortium's ``audit`` policy shows the
    regulator's queries to their subject, the regulator's queries that read their firm's data; the regulator's
    people every query. ``subject`` names the firms whose data a query read (docs/explorer.md, "Audit of the
    auditors"); a search, a list or a refused query names none. Keyset pages: ``limit`` rows at most (≤ 200),
    ``next`` the cursor below the last one (null once a page is not full), a cursor of another listing or filters 400
    ``invalid_cursor``; with the policy on, a firm's pages merge its own with the regulator's (:func:`_merged`).
    """
    f = _filter(p, LEDGER_QUERY_CENTER, caller, decision, from_ms, to_ms)
    bound = filter_hash(f)
    before = decode_cursor(cursor, bound)
    visibility = explorer.visibility
    if p.is_regulator or not visibility.regulator_queries_visible_to_subject:
        rows = explorer.calls.search(f, before=before, limit=limit)
        last = rows[-1]["index"] if len(rows) == limit else None
        shown = [_full(explorer, r["index"]) for r in rows]
    else:
        shown, last = _merged(explorer, p.org, f, before, limit, sorted(visibility.regulators))
    out = [
        query_row(full)
        for full in shown
        if full is not None and is_ledger_query(full) and access.sees_call(p, full, visibility)
    ]
    after = encode_cursor(last, bound) if last is not None and last > 0 else None
    return {"queries": out, "next": after, "limit": limit}


def _full(explorer: Explorer, index: int) -> CallRow | None:
    """The row at ``index`` with its entry, whose bytes name the subject (``explorer.calls.with_subject``)."""
    return explorer.calls.by_index(index)


def _merged(
    explorer: Explorer, org: str, f: CallFilter, before: int | None, limit: int, regulators: list[str]
) -> tuple[list[CallRow | None], int | None]:
    """One page of firm ``org``'s query listing under the policy that shows it the regulator's queries of its data: its
    own queries (``f``, restricted to the firm) merged by leaf index with the regulator's queries naming the firm
    as subject (``CallStore.subject_queries``, the index's ``query_subjects``), each side read as one keyset page
    of at most ``limit`` rows below ``before``. The ``limit`` highest indices of the two are the page, so a page
    is full unless the listing ends, and the next page starts below its last row: no row skipped or repeated.
    Returns the rows (with their entries) and where the next page starts (None: no more)."""
    own = explorer.calls.search(f, before=before, limit=limit)
    # A refused query names no subject (``query_subjects`` holds allowed queries only); ``caller`` keeps one firm.
    callers = [] if f.decision == "deny" else [r for r in regulators if f.caller in (None, r)]
    theirs = explorer.calls.subject_queries(callers, org, before=before, limit=limit, from_ms=f.from_ms, to_ms=f.to_ms)
    indices = sorted({int(r["index"]) for r in own} | set(theirs), reverse=True)[:limit]
    return [_full(explorer, i) for i in indices], (indices[-1] if len(indices) == limit else None)


@router.get(
    "/alarms/records",
    summary="The audit log's records of operational alarms (fired, changed, resolved), newest first",
    response_model=AlarmRecordPage,
    responses=CURSOR,
)
def alarm_records(
    explorer: ExplorerDep,
    p: CurrentPerson,
    from_ms: From = None,
    to_ms: To = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """A member's people see the records of alarms about their own firm's components; the operator's people
    every record (its evaluator raised them); the regulator's people every record (docs/alarms.md)."""
    f = _filter(p, ALARM_CENTER, None, None, from_ms, to_ms)
    rows, after = _page(explorer, f, limit, cursor)
    visibility = explorer.visibility  # once per request, not per row
    out = [alarm_record_row(r) for r in rows if is_alarm_record(r) and access.sees_call(p, r, visibility)]
    return {"records": out, "next": after, "limit": limit}
