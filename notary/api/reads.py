"""The log's JSON reads: receipts, entries, inclusion and consistency proofs, checkpoints with their anchors,
anchors, gateway gaps, alarms and evidence bundles. Each route's body is a model of ``schemas``.

When the app authenticates reads (``notary.readauth``), every route here needs a member's or a witness's
credentials (401 without), and an event's receipt, entry, evidence and inclusion proof by event id are for its
parties (caller and provider org), regulators and trusted readers only: anyone else gets the 404 of a missing
event, so the answer does not even tell that the event exists. ``/v1/gaps`` answers each reader with its own
org's gateways only (all of them for regulators and trusted readers). ``/v1/events`` lists the events of the
reader's own org (every org's, or one named org's, for regulators and trusted readers; another org's is 403).

One route here writes: ``POST /v1/alarms/{id}/resolve``, an operator closing an integrity alarm with a reason. It
takes a reader's credentials like the reads (a signed request covers its path and query, the reason included), and
only the readers of the orgs that run the notary (``Reader.may_resolve_alarms``) may; a notary that authenticates
no reads knows no operator and resolves nothing."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from notary.answer import ModelAnswer
from notary.api.deps import Reading, check_event
from notary.api.schemas import (
    Alarm,
    Alarms,
    AnchorPage,
    Checkpoint,
    CheckpointPage,
    ConsistencyProof,
    Entry,
    ErrorBody,
    EventPage,
    Gaps,
    InclusionProof,
)
from notary.bundleschema import Evidence, Receipt
from notary.errors import MalformedError, NotFoundError
from notary.event import EventJSON, gateway_org, parse_entry
from notary.event import parties as event_parties
from notary.readauth import ForbiddenReadError, Reader
from notary.service import NotaryService
from notary.storage.base import (
    AlarmKey,
    CheckpointJSON,
    CheckpointRow,
    EntryRow,
    NotaryStorage,
    alarm_key,
    anchor_json,
)

router = APIRouter(tags=["read"])

MAX_PAGE = 1000
#: Entries ``/v1/events`` reads at most per request (the notary keeps no index by org: it scans the log).
MAX_SCAN = 4096


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def checkpoints_json(store: NotaryStorage, rows: Sequence[CheckpointRow]) -> list[CheckpointJSON]:
    """Checkpoints as the API shows them, each with its anchor (those anchors are read in one query)."""
    anchors = {a["size"]: a for a in store.anchors(sizes=[row.size for row in rows])}
    out: list[CheckpointJSON] = []
    for row in rows:
        anchor = anchors.get(row.size)
        out.append(
            {
                "size": row.size,
                "root": _b64(row.root),
                "time_ms": row.time_ms,
                "published_ms": row.published_ms,
                "cosigners": row.cosigners.split(",") if row.cosigners else [],
                "note": (row.cosigned or row.note).decode("utf-8"),
                "anchor": None if anchor is None else anchor_json(anchor),
            }
        )
    return out


def _party_entry(service: NotaryService, reader: Reader | None, event_id: str) -> EntryRow:
    """The entry of ``event_id`` if ``reader`` may read it; else the 404 of a missing event."""
    row = service.store.entries_by_id([event_id]).get(event_id)
    parties = None
    if row is not None:
        event = parse_entry(row.data)
        parties = event_parties(event, None if reader is None else reader.visibility)
    check_event(reader, event_id, parties)
    assert row is not None
    return row


@router.get("/v1/receipts/{event_id}", response_model=Receipt)
def receipt(read: Reading, event_id: str) -> Response:
    service, reader = read
    if reader is not None:
        _party_entry(service, reader, event_id)
    return RECEIPT(service.sequencer.receipt(event_id).to_json())


@router.get("/v1/entries/{event_id}", response_model=Entry, response_model_exclude_unset=True)
def entry(read: Reading, event_id: str) -> Response:
    service, reader = read
    row = _party_entry(service, reader, event_id)
    return ENTRY(
        {
            "index": row.index,
            "entry": _b64(row.data),
            "leaf_hash": _b64(service.suite.tree.leaf(row.data)),
            "event": parse_entry(row.data),
        }
    )


@router.get("/v1/events", response_model=EventPage, summary="The events of the reader's org, a page at a time")
def events(
    read: Reading,
    start: Annotated[int, Query(alias="from", ge=0, lt=2**63)] = 0,
    org: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since_ms: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    own: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> Response:
    """The events from index ``from`` on whose parties include the reader's org (``notary.event.parties``, as for
    ``/v1/entries/{event}``), or ``org`` for regulators and trusted readers (every event without it); a member
    asking for another org gets 403. ``own``: the reader's own org's events, whoever reads (a regulator's own
    calls). ``since_ms``: only events whose ``time_ms`` is at least that. The log is
    scanned, :data:`MAX_SCAN` entries at most per request: a page may hold fewer than ``limit`` events, even
    none, with ``next`` to go on from."""
    service, reader = read
    everyone = reader is None or reader.may_read_bundles()
    if reader is not None and not everyone and org not in (None, reader.org):
        raise ForbiddenReadError(f"{reader.name} lists the events of its own org ({reader.org}), not of {org}")
    if own and reader is not None:
        if org not in (None, reader.org):
            raise MalformedError(f"own=true lists {reader.org}'s events: give no other org")
        org = reader.org
    wanted = org if org is not None or everyone else None if reader is None else reader.org
    visibility = None if reader is None else reader.visibility
    end = min(service.sequencer.size, start + MAX_SCAN)
    found: list[dict[str, Any]] = []
    index = start
    for index, data in enumerate(service.store.entries(start, end - start) if start < end else [], start):
        event: EventJSON = json.loads(data)  # canonical, valid: checked when sequenced
        if wanted is not None and wanted not in event_parties(event, visibility):
            continue
        if since_ms is not None and event["time_ms"] < since_ms:
            continue
        found.append(
            {
                "index": index,
                "event_id": event["event_id"],
                "time_ms": event["time_ms"],
                "caller_org": event["caller_org"],
                "provider_org": event["provider_org"],
                "decision": event["decision"],
                "status": event["status"],
            }
        )
        if len(found) == limit:
            break
    else:
        index = end - 1
    following = index + 1
    return EVENTS({"events": found, "next": following if following < service.sequencer.size else None})


@router.get(
    "/v1/proofs/inclusion",
    response_model=InclusionProof,
    summary="Inclusion proof of an event in a published checkpoint",
)
def inclusion(
    read: Reading,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    index: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    size: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
) -> Response:
    service, reader = read
    if (event_id is None) == (index is None):
        raise MalformedError("give exactly one of event_id or index")
    if event_id is not None:
        index = _party_entry(service, reader, event_id).index
    assert index is not None
    cp = service.checkpoint_for(index, size)
    proof = service.reader.inclusion(index, cp.size)
    found = service.store.entry(index)
    assert found is not None
    return INCLUSION(
        {
            "index": index,
            "size": cp.size,
            "leaf_hash": _b64(service.suite.tree.leaf(found.data)),
            "proof": [_b64(h) for h in proof],
            "root": _b64(cp.root),
            "checkpoint": (cp.cosigned or b"").decode("utf-8"),
        }
    )


@router.get("/v1/proofs/consistency", response_model=ConsistencyProof)
def consistency(
    read: Reading,
    first: Annotated[int, Query(alias="from", ge=0, lt=2**63)],
    second: Annotated[int, Query(alias="to", ge=0, lt=2**63)],
) -> Response:
    proof = read.service.reader.consistency(first, second)
    return CONSISTENCY({"from": first, "to": second, "proof": [_b64(h) for h in proof]})


@router.get("/v1/checkpoints", response_model=CheckpointPage, summary="Published checkpoints in size order")
def checkpoints(
    read: Reading,
    after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    store = read.service.store
    rows = store.checkpoints(after, limit)
    return CHECKPOINTS(
        {
            "checkpoints": checkpoints_json(store, rows),
            "next": rows[-1].size if len(rows) == limit else None,
        }
    )


@router.get("/v1/checkpoints/{size}", response_model=Checkpoint)
def checkpoint_at(read: Reading, size: Annotated[int, Path(ge=0, lt=2**63)]) -> Response:
    store = read.service.store
    row = store.checkpoint(size)
    if row is None or row.cosigned is None:
        raise NotFoundError(f"no published checkpoint of size {size}")
    return CHECKPOINT(checkpoints_json(store, [row])[0])


@router.get("/v1/anchors", response_model=AnchorPage, summary="Anchors in size order, a page at a time")
def anchors(
    read: Reading,
    after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> Response:
    rows = read.service.store.anchors(after=after, limit=limit)
    return ANCHORS(
        {
            "anchors": [anchor_json(r) for r in rows],
            "next": rows[-1]["size"] if len(rows) == limit else None,
        }
    )


@router.get("/v1/gaps", response_model=Gaps, summary="Missing gateway sequence numbers")
def gaps(read: Reading) -> Response:
    """Every gateway's gaps and last sequence number for regulators and trusted readers (and with open reads);
    for anyone else only those of its own org's gateways (``Reader.may_read_gateway``)."""
    service, reader = read

    def shown(gateway: str) -> bool:
        if reader is None or reader.may_read_bundles():
            return True
        try:
            return reader.may_read_gateway(gateway_org(gateway))
        except MalformedError:  # every stored id was checked when sequenced; an odd one is nobody's to see
            return False

    return GAPS(
        {
            "gaps": [
                {"gateway": g, "first": a, "last": b, "found_ms": t} for g, a, b, t in service.store.gaps() if shown(g)
            ],
            "last_seq": {g: seq for g, seq in service.sequencer.last_seqs().items() if shown(g)},
        }
    )


#: Alarms ``/v1/alarms`` answers per page unless ``limit`` says otherwise (before paging, all it ever answered).
ALARM_PAGE = 100
#: The longest cursor ``/v1/alarms`` issues is about 70 characters; anything longer is not one of its.
MAX_CURSOR = 128
#: The ids the stores can hold (SQLite's and PostgreSQL's signed 64-bit integers).
MAX_ALARM_ID = 2**63 - 1


def encode_alarm_cursor(key: AlarmKey, state: str) -> str:
    """The cursor of the page after the alarm of ``key``, bound to the ``state`` it was listed under: URL-safe
    base64 (unpadded) of ``v1:<last_ms>.<id>:<state>``, the form of the explorer's cursors."""
    return base64.urlsafe_b64encode(f"v1:{key.last_ms}.{key.id}:{state}".encode()).decode().rstrip("=")


def decode_alarm_cursor(cursor: str, state: str) -> AlarmKey:
    """The key :func:`encode_alarm_cursor` bound to ``state``; anything else is :class:`MalformedError` (400)."""
    try:
        if len(cursor) > MAX_CURSOR or not cursor.isascii():
            raise ValueError(cursor)
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, key, bound = text.split(":")
        last_ms, id_ = (int(part) for part in key.split("."))
        if (
            version != "v1"
            or f"{last_ms}.{id_}" != key
            or not (0 <= last_ms <= MAX_ALARM_ID and 1 <= id_ <= MAX_ALARM_ID)
        ):
            raise ValueError(text)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise MalformedError(
            "cursor: not one this notary issued; give the `next` of a page of /v1/alarms, or none for the first page"
        ) from None
    if bound != state:
        raise MalformedError(
            f"cursor: it continues a listing of state={bound}, not state={state}; start again without it"
        )
    return AlarmKey(last_ms, id_)


@router.get("/v1/alarms", response_model=Alarms, summary="The integrity alarms, the last found first, a page at a time")
def alarms(
    read: Reading,
    state: Annotated[
        Literal["all", "open"],
        Query(
            description="`all` (the default, as before alarms could be resolved): open and resolved ones; `open`: "
            "those not resolved"
        ),
    ] = "all",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Alarms per page")] = ALARM_PAGE,
    cursor: Annotated[
        str | None,
        Query(description="`next` of the previous page, listed with the same `state` (400 otherwise); none: the first"),
    ] = None,
) -> Response:
    """Keyset paging over (``last_ms``, ``id``), both descending: a page continues after the previous page's last
    alarm, so one walk through the pages lists an alarm at most once. An alarm found again or opened while a walk
    goes on moves up to the first page, ahead of the walk, which does not list it (again): a new walk does."""
    after = None if cursor is None else decode_alarm_cursor(cursor, state)
    rows = read.service.store.alarms(limit=limit, open_only=state == "open", after=after)
    return ALARMS(
        {
            "alarms": rows,
            "next": encode_alarm_cursor(alarm_key(rows[-1]), state) if len(rows) == limit else None,
        }
    )


#: A reason: at least one character other than a space, no control characters, at most this long.
MAX_REASON = 1000
_REASON = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"


@router.post(
    "/v1/alarms/{alarm_id}/resolve",
    response_model=Alarm,
    summary="Resolve an integrity alarm (the notary's operator only)",
    responses={
        403: {
            "model": ErrorBody,
            "description": "Not a reader of an org that runs the notary, or a notary that authenticates no reads",
        },
        404: {"model": ErrorBody, "description": "No such alarm"},
        409: {"model": ErrorBody, "description": "The alarm was resolved already; its resolution stays as it was"},
        422: {"model": ErrorBody, "description": "No reason, or an id or reason out of range"},
    },
)
def resolve_alarm(
    read: Reading,
    alarm_id: Annotated[int, Path(ge=1, le=MAX_ALARM_ID)],
    reason: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_REASON,
            pattern=_REASON,
            description="Why it is resolved: what was found and what was done (kept with the alarm, never changed)",
        ),
    ],
) -> dict[str, Any]:
    """Close an open alarm: when, by whom and why are recorded on its row, which is never deleted; the same
    condition found after this opens a new alarm. Refused with nothing changed: 404 for no such alarm, 409 for one
    resolved already, 403 for a reader not of an org that runs the notary, 422 for no reason."""
    service, reader = read
    if reader is None:
        raise ForbiddenReadError(
            "this notary authenticates no reads, so it knows no operator and resolves no alarm: serve it with "
            "--authenticate-reads"
        )
    if not reader.may_resolve_alarms():
        raise ForbiddenReadError(
            f"{reader.who} may not resolve alarms: only the readers of the orgs that run the notary may"
        )
    return dict(service.resolve_alarm(alarm_id, reader.who, reason))


@router.get(
    "/v1/evidence/{event_id}",
    response_model=Evidence,
    summary="Evidence bundle of one event, to verify offline",
)
def evidence(read: Reading, event_id: str) -> Response:
    service, reader = read
    if reader is not None:
        _party_entry(service, reader, event_id)
    return EVIDENCE(service.evidence(event_id).to_json())


#: The answers of the JSON reads, each checked against its route's ``response_model`` and written in the route's
#: own worker thread (``notary.answer.ModelAnswer``: the same bytes as FastAPI's, without its second hop): the
#: evidence bundle (the largest read), the receipt, the entry and the inclusion proof of an event (a gateway's, a
#: member's and a verifier's per-event reads), and the pages and proofs of the log.
EVIDENCE = ModelAnswer(Evidence)
RECEIPT = ModelAnswer(Receipt)
ENTRY = ModelAnswer(Entry, exclude_unset=True)
INCLUSION = ModelAnswer(InclusionProof)
EVENTS = ModelAnswer(EventPage)
CONSISTENCY = ModelAnswer(ConsistencyProof)
CHECKPOINTS = ModelAnswer(CheckpointPage)
CHECKPOINT = ModelAnswer(Checkpoint)
ANCHORS = ModelAnswer(AnchorPage)
GAPS = ModelAnswer(Gaps)
ALARMS = ModelAnswer(Alarms)
