"""The log: the consortium's public keys and witness policy (``/keys``, not recorded as a query), the
checkpoints the explorer has indexed (largest first) with their anchors, and the gaps in gateways' sequence
numbers (of the person's own firm's gateways; all of them for the regulator)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from explorer import access
from explorer.api.deps import MAX_PAGE, Before, CurrentPerson, ExplorerDep, Limit
from explorer.api.schemas import Anchors, CheckpointPage, Gaps, Keys

router = APIRouter()

MAX_SIZE = 2**63 - 1


@router.get(
    "/keys",
    tags=["verification"],
    summary="Public keys and witness policy of the log",
    response_model=Keys,
    response_model_exclude_unset=True,
)
def keys(
    explorer: ExplorerDep,
    size: Annotated[
        int | None,
        Query(ge=0, le=MAX_SIZE, description="the checkpoint's size: its witnesses are those valid on chain at the "
              "block that anchored it (at the head if it is not anchored); without it, those valid now"),
    ] = None,
) -> dict[str, Any]:  # fmt: skip
    return explorer.keys(size)


@router.get("/checkpoints", tags=["log"], response_model=CheckpointPage, response_model_exclude_unset=True)
def checkpoints(explorer: ExplorerDep, before: Before = None, limit: Limit = 20) -> dict[str, Any]:
    rows = explorer.calls.checkpoints(before=before, limit=limit)
    return {"checkpoints": rows, "next": rows[-1]["size"] if len(rows) == limit else None}


@router.get("/anchors", tags=["log"], response_model=Anchors, response_model_exclude_unset=True)
def anchors(explorer: ExplorerDep, limit: Limit = 50) -> dict[str, Any]:
    rows = [c for c in explorer.calls.checkpoints(before=None, limit=MAX_PAGE) if c.get("anchor")][:limit]
    return {"anchors": [{"size": c["size"], "root": c["root"], **c["anchor"]} for c in rows]}


@router.get("/gaps", tags=["log"], response_model=Gaps, response_model_exclude_unset=True)
def gaps(explorer: ExplorerDep, p: CurrentPerson) -> dict[str, Any]:
    return {"gaps": [g for g in explorer.calls.gaps() if access.sees_gateway(p, str(g.get("gateway", "")))]}
