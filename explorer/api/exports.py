"""Exports of the filtered calls (the search's filters, restricted to the person's firm): CSV and a JSON
array, streamed, and a zip of up to 1,000 evidence bundles with the consortium's keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from explorer import access, exports, lookedat
from explorer.api.deps import MAX_ZIP, CurrentPerson, Explorer, ExplorerDep, Filters
from explorer.api.schemas import ExportedCall
from network.logins import Person

router = APIRouter(tags=["exports"])


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _streamed(media_type: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "Streamed as an attachment", "content": {media_type: {"schema": schema}}}}


class JsonStream(StreamingResponse):
    """A streamed JSON answer, so that the OpenAPI document shows its media type and schema."""

    media_type = "application/json"


def _looks(explorer: Explorer, p: Person) -> dict[str, list[lookedat.Look]]:
    """The regulator's queries of calls the person may see (``explorer.lookedat``), for the export's rows."""
    return lookedat.regulator_looks(explorer.calls, explorer.visibility, access.party(p))


_TEXT = {"type": "string"}
_BINARY = {"type": "string", "format": "binary"}


@router.get(
    "/exports/calls.csv",
    summary="The filtered calls as CSV, streamed",
    response_class=StreamingResponse,
    responses=_streamed("text/csv", _TEXT),
)
def export_csv(explorer: ExplorerDep, p: CurrentPerson, f: Filters) -> StreamingResponse:
    stream = exports.csv_stream(explorer.calls, f, _looks(explorer, p))
    return StreamingResponse(stream, media_type="text/csv; charset=utf-8", headers=attachment("calls.csv"))


@router.get(
    "/exports/calls.json",
    summary="The filtered calls as a JSON array, streamed",
    response_class=JsonStream,
    responses={200: {"description": "Streamed as an attachment, one call per line", "model": list[ExportedCall]}},
)
def export_json(explorer: ExplorerDep, p: CurrentPerson, f: Filters) -> JsonStream:
    stream = exports.json_stream(explorer.calls, f, _looks(explorer, p))
    return JsonStream(stream, media_type="application/json", headers=attachment("calls.json"))


@router.get(
    "/exports/evidence.zip",
    summary="Evidence bundles of the filtered calls",
    response_class=StreamingResponse,
    responses=_streamed("application/zip", _BINARY),
)
def export_zip(
    explorer: ExplorerDep, f: Filters, limit: Annotated[int, Query(ge=1, le=MAX_ZIP)] = 100
) -> StreamingResponse:
    archive = exports.evidence_zip(explorer.calls, f, limit, explorer.keys, explorer.notary.evidence)
    return StreamingResponse(
        exports.read_chunks(archive), media_type="application/zip", headers=attachment("evidence.zip")
    )
