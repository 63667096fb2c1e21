"""Compliance reports: ``/reports/{org}`` for a period, as HTML (default), CSV or JSON; for the firm's own
people and the regulator, a 404 for anyone else."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from explorer import access, lookedat
from explorer.api.deps import MAX_MS, CurrentPerson, ExplorerDep, Name, Subject
from explorer.api.exports import attachment
from explorer.api.schemas import ComplianceReport
from explorer.errors import InvalidParameterError, NotFoundError
from explorer.reports import compliance_report, report_csv, report_html

router = APIRouter(tags=["exports"])

_OTHER_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON, or with `format=csv` CSV rows of `field,value`, or an HTML page",
        "content": {"text/csv": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/reports/{org}",
    summary="Compliance report of one firm for a period",
    response_model=ComplianceReport,
    response_model_exclude_unset=True,
    responses=_OTHER_FORMATS,
)
def report(
    explorer: ExplorerDep,
    p: CurrentPerson,
    org: Name,
    subject: Subject,
    from_ms: Annotated[int, Query(alias="from", ge=0, le=MAX_MS)],
    to_ms: Annotated[int, Query(alias="to", ge=0, le=MAX_MS)],
    fmt: Annotated[str, Query(alias="format", pattern="^(html|csv|json)$")] = "html",
) -> dict[str, Any] | Response:
    snapshot = explorer.state.snapshot
    if snapshot.member(org) is None or not access.sees_org_report(p, org):
        raise NotFoundError(f"member {org}")
    if to_ms <= from_ms:
        raise InvalidParameterError("to must be later than from")
    subject([org])
    looks = lookedat.look_counts(explorer.calls, explorer.visibility, access.party(p), org, from_ms, to_ms)
    data = compliance_report(explorer.calls, explorer.chain, snapshot, org, from_ms, to_ms, looks)
    name = f"report-{org}-{from_ms}-{to_ms}"
    if fmt == "json":
        return data
    if fmt == "csv":
        return Response(report_csv(data), media_type="text/csv; charset=utf-8", headers=attachment(name + ".csv"))
    return Response(report_html(data), media_type="text/html; charset=utf-8")
