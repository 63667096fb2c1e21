"""Data assets and the service catalogue: ``/assets``, ``/assets/{asset_id}`` (versions, history and the
grants the person may see, private ones without their terms; a private asset's detail only for its owner, its
grantees (of a private grant, once the explorer knows the grantee: ``explorer.api.grants.private_grantee``) and
the regulator),
``/services`` (centers, units, APIs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from explorer import access
from explorer.api.deps import CurrentPerson, ExplorerDep, Name, Subject
from explorer.api.grants import private_grantee, private_row
from explorer.api.schemas import AssetDetail, Assets, Services
from explorer.errors import NotFoundError
from explorer.state import asset_json, grant_json

router = APIRouter(tags=["assets"])


@router.get("/assets", response_model=Assets, response_model_exclude_unset=True)
def assets(explorer: ExplorerDep) -> dict[str, Any]:
    snap = explorer.state.snapshot
    return {"block": snap.block, "assets": [asset_json(a) for a in snap.assets]}


@router.get("/assets/{asset_id}", response_model=AssetDetail, response_model_exclude_unset=True)
def asset(explorer: ExplorerDep, p: CurrentPerson, asset_id: Name, subject: Subject) -> dict[str, Any]:
    snap, chain = explorer.state.snapshot, explorer.chain
    found = snap.asset(asset_id) or explorer.state.fresh_asset(asset_id)  # registered after the snapshot
    if found is None or not access.sees_asset_detail(
        p, found, snap, lambda g: private_grantee(explorer, g, p.org) == p.org
    ):
        raise NotFoundError(f"asset {asset_id}")
    subject([found.owner])
    grants = [g for g in snap.grants if g.asset == asset_id and access.sees_grant(p, g)]
    private = [row for g in snap.private_grants if g.asset == asset_id and (row := private_row(explorer, p, g))]
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
