"""Data assets and the service catalogue: ``/assets``, ``/assets/{asset_id}`` (versions, history and the
grants the person may see, private ones without their terms; a private asset's detail only for its owner, its
grantees and the regulator), ``/services`` (centers, units, APIs).

A private grant on the asset is shown, and makes its grantee's people see a private asset's detail, by the rule
of the grants list (``explorer.api.grants.private_row``): its grantee is known from the log, or from the
``consortium-grant-opening`` header the page sends (the openings of the terms documents held in the tab), which
the list takes too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from chain.contracts.grants import PrivateGrantInfo
from explorer import access
from explorer.api.deps import CurrentPerson, ExplorerDep, Name, Subject
from explorer.api.grants import Openings, held_openings, private_row
from explorer.api.schemas import AssetDetail, Assets, Services
from explorer.errors import NotFoundError
from explorer.state import asset_json, grant_json

router = APIRouter(tags=["assets"])


@router.get("/assets", response_model=Assets, response_model_exclude_unset=True)
def assets(explorer: ExplorerDep) -> dict[str, Any]:
    snap = explorer.state.snapshot
    return {"block": snap.block, "assets": [asset_json(a) for a in snap.assets]}


@router.get("/assets/{asset_id}", response_model=AssetDetail, response_model_exclude_unset=True)
def asset(
    explorer: ExplorerDep, p: CurrentPerson, asset_id: Name, subject: Subject, openings: Openings = None
) -> dict[str, Any]:
    snap, chain = explorer.state.snapshot, explorer.chain
    found = snap.asset(asset_id) or explorer.state.fresh_asset(asset_id)  # registered after the snapshot
    if found is None:
        raise NotFoundError(f"asset {asset_id}")
    opened = held_openings(openings)
    rows = {g.grant_id: private_row(explorer, p, g, opened) for g in snap.private_grants if g.asset == asset_id}

    def grantee_is_own(g: PrivateGrantInfo) -> bool:
        row = rows.get(g.grant_id)
        return row is not None and row["grantee"] == p.org

    if not access.sees_asset_detail(p, found, snap, grantee_is_own):
        raise NotFoundError(f"asset {asset_id}")
    subject([found.owner])
    grants = [g for g in snap.grants if g.asset == asset_id and access.sees_grant(p, g)]
    private = [row for row in rows.values() if row is not None]
    versions = [chain.asset_version_at(asset_id, n) for n in range(1, found.version_count + 1)]
    return {
        **asset_json(found),
        "versions": [v for v in versions if v is not None],
        "history": chain.history("asset", asset_id),
        "grants": [grant_json(g, found, snap.block_time) for g in grants] + private,
    }


@router.get(
    "/services",
    summary="The service catalogue: centers, units, APIs",
    response_model=Services,
    response_model_exclude_unset=True,
)
def services(explorer: ExplorerDep) -> dict[str, Any]:
    snap = explorer.state.snapshot
    units: dict[str, list[dict[str, Any]]] = {}
    for unit in snap.units:
        apis = [
            {"api": a.api, "route": a.route, "method": a.method, "provider": a.provider, "asset": a.asset,
             "active": a.active}
            for a in snap.apis if a.unit == unit.unit
        ]  # fmt: skip
        units.setdefault(unit.center, []).append({"unit": unit.unit, "name": unit.name, "apis": apis})
    centers = [{"center": c.center, "name": c.name, "units": units.get(c.center, [])} for c in snap.centers]
    return {"block": snap.block, "centers": centers}
