"""Calls: the search (``/calls``, newest first), one call with its log entry, its provenance (each link
checked) and its evidence bundle to verify offline.

The search is capped (``limit`` ≤ 200) and paginates with an opaque cursor bound to the query's filters, so a
cursor reused with other filters is refused rather than silently misapplied; the tenant filter is applied on
every page whatever the cursor says. A call the person may not see is a 404 identical to a missing one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response

from explorer import access, lookedat, provenance
from explorer.api.deps import MAX_MS, CurrentPerson, Cursor, EventId, Explorer, ExplorerDep, Filters, Limit, Subject
from explorer.api.errors import CURSOR, NOTARY
from explorer.api.schemas import CallDetail, CallPage, Provenance
from explorer.calls import CallFilter, CallRow, CallStore
from explorer.errors import ApiError, InvalidCursorError, MalformedEvidenceError, NotFoundError
from explorer.provenance import EVIDENCE_LINKS
from network.logins import Person
from network.shredding import ShredBook
from notary.answer import ModelAnswer
from notary.bundle import EvidenceBundle
from notary.bundleschema import Evidence
from notary.event import EventJSON, parties
from notary.submit.digest import GATEWAY_SALT_VERSION, SM3_EVENT_VERSION
from notary.submit.vault import SCHEME_EPOCH, SCHEME_EPOCH_SM3, SCHEME_GATEWAY, epoch_of

router = APIRouter(tags=["calls"])

#: The search page and the provenance checked and written in the route's thread (``ModelAnswer``), one hop each.
CALL_PAGE = ModelAnswer(CallPage, exclude_unset=True)
PROVENANCE = ModelAnswer(Provenance, exclude_unset=True)


# -- cursors -------------------------------------------------------------------------------------------------


def filter_hash(f: CallFilter) -> str:
    """What a cursor is bound to: a short hash of the query's filters."""
    return hashlib.sha256(json.dumps(asdict(f), sort_keys=True).encode()).hexdigest()[:12]


def encode_cursor(before: int, bound: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{before}:{bound}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, bound: str) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, before, found = text.split(":")
        value = int(before)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursorError("the cursor is not one this explorer issued") from None
    if version != "v1" or found != bound or not 0 <= value <= MAX_MS:
        raise InvalidCursorError("the cursor belongs to another query; start again without it")
    return value


# -- routes --------------------------------------------------------------------------------------------------


@router.get(
    "/calls",
    summary="Search calls, newest first",
    response_model=CallPage,
    response_model_exclude_unset=True,
    responses=CURSOR,
)
def search_calls(
    explorer: ExplorerDep, p: CurrentPerson, f: Filters, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """Each call carries ``regulator_queries``: the regulator's queries of it the person may see
    (``explorer.lookedat``; a firm's people only under the consortium's ``audit`` policy)."""
    bound = filter_hash(f)
    rows = explorer.calls.search(f, before=decode_cursor(cursor, bound), limit=limit)
    after = encode_cursor(rows[-1]["index"], bound) if len(rows) == limit and rows[-1]["index"] > 0 else None
    shown = {r["event_id"] for r in rows}
    looks = lookedat.regulator_looks(explorer.calls, explorer.visibility, access.party(p), shown)
    calls = [{**r, "regulator_queries": looks.get(r["event_id"], [])} for r in rows]
    return CALL_PAGE({"calls": calls, "next": after, "limit": limit})


def visible_call(
    explorer: Explorer, person: Person, event_id: str, subject: Subject, bundle: EvidenceBundle | None = None
) -> CallRow:
    """The indexed call of ``event_id`` if the person may see it, else 404. With the notary's evidence bundle,
    found by the leaf index the bundle names (one primary-key probe), checked to be this event's. A call shown
    names its parties as the query's subject."""
    calls: CallStore = explorer.calls
    row = None
    if bundle is not None:
        row = calls.by_index(bundle.index)
        if row is not None and row["event_id"] != event_id:
            row = None  # the bundle names another leaf: evidence_steps will say so; find the call ourselves
    if row is None:
        row = calls.by_event_id(event_id)
    if row is None or not access.sees_call(person, row, explorer.visibility):
        raise NotFoundError(f"call {event_id}")
    subject(parties(row))
    return row


def digests(shreds: ShredBook, event: EventJSON) -> dict[str, Any]:
    """How an event's digests were salted and whether its provider shredded that salt's epoch key. A version 1
    event was salted with its gateway's one salt, which no day's shredding destroys; a version 3 one (``sm``) as a
    version 2 one, with HKDF-SM3 and HMAC-SM3."""
    day = epoch_of(event["time_ms"])
    if event["v"] == GATEWAY_SALT_VERSION:
        return {"scheme": SCHEME_GATEWAY, "day": day, "shredded": None}
    tombstone = shreds.lookup(event["provider_org"], day)
    shredded = None if tombstone is None else {k: v for k, v in tombstone.to_json().items() if k != "format"}
    scheme = SCHEME_EPOCH_SM3 if event["v"] == SM3_EVENT_VERSION else SCHEME_EPOCH
    return {"scheme": scheme, "day": day, "shredded": shredded}


@router.get("/calls/{event_id}", response_model=CallDetail, response_model_exclude_unset=True)
def call(explorer: ExplorerDep, p: CurrentPerson, event_id: EventId, subject: Subject) -> dict[str, Any]:
    row = visible_call(explorer, p, event_id, subject)
    entry = row.pop("entry")
    event: EventJSON = json.loads(entry)  # the entry the notary validated, as the index keeps it
    return {"call": row, "event": event, "digests": digests(explorer.shreds, event)}


@router.get(
    "/calls/{event_id}/provenance",
    summary="Each link of the call's provenance",
    response_model=Provenance,
    response_model_exclude_unset=True,
)
def call_provenance(explorer: ExplorerDep, p: CurrentPerson, event_id: EventId, subject: Subject) -> Response:
    # The bundle first: it names the call's leaf index, so the call is found by one probe (see visible_call);
    # whether the person may see the call is decided on the explorer's own row before anything is answered.
    missing: ApiError | None = None
    try:
        bundle: EvidenceBundle | None = explorer.notary.evidence(event_id)
    except ApiError as exc:
        bundle, missing = None, exc
    row = visible_call(explorer, p, event_id, subject, bundle)
    entry = row.pop("entry")
    first, event = provenance.call_step(row, entry)
    steps = [first]
    if event is not None:
        steps += [provenance.grant_step(explorer.chain, event), provenance.asset_step(explorer.chain, event)]
    if missing is not None:
        detail = missing.detail
        ok = False if isinstance(missing, MalformedEvidenceError) else None  # malformed fails, as tampered does
        steps += [provenance.unavailable_step(s, ok, detail) for s, _ in EVIDENCE_LINKS]
    # the checkpoint's witnesses, read from the chain once for both the verification and the keys answered
    size = None if bundle is None or bundle.checkpoint is None else bundle.checkpoint.size
    chosen = explorer.witnesses_for(size)
    if bundle is not None:
        steps += provenance.evidence_steps(explorer.verified(bundle, chosen), bundle, row)
    return PROVENANCE(
        {
            "event_id": event_id,
            "call": row,
            "verified": all(s["ok"] is True for s in steps if s["step"] not in ("grant", "asset_version")),
            "steps": steps,
            "evidence": None if bundle is None else bundle.to_json(),
            # the keys the browser checks the bundle against: the witnesses valid on chain for its checkpoint
            "keys": explorer.keys(size, chosen),
        }
    )


@router.get(
    "/calls/{event_id}/evidence",
    summary="The evidence bundle, to verify offline",
    response_model=Evidence,
    responses={200: {"description": "The bundle, as a JSON attachment (`evidence-<event_id>.json`)"}, **NOTARY},
)
def call_evidence(explorer: ExplorerDep, p: CurrentPerson, event_id: EventId, subject: Subject) -> Response:
    try:
        bundle = explorer.notary.evidence(event_id)
    except ApiError:
        visible_call(explorer, p, event_id, subject)  # one the person may not see is a 404 whatever the notary said
        raise
    visible_call(explorer, p, event_id, subject, bundle)
    body = json.dumps(bundle.to_json(), indent=1).encode()
    disposition = f'attachment; filename="evidence-{event_id.replace(":", "_")}.json"'
    return Response(body, media_type="application/json", headers={"Content-Disposition": disposition})
