"""Grants of access: ``/grants`` (filtered by asset, grantee, grantor, state) and ``/grants/{grant_id}`` with
its history; a member's people see the grants where their firm is grantor or grantee, and the private grants
(no terms) where it is grantor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from explorer import access
from explorer.api.deps import NAME, CurrentPerson, ExplorerDep, GrantId, Subject
from explorer.api.schemas import GrantDetail, Grants
from explorer.errors import NotFoundError
from explorer.state import grant_json, private_grant_json

router = APIRouter(tags=["grants"])

GrantState = Annotated[
    str | None, Query(alias="state", pattern="^(active|revoked|expired|not_yet_valid|void|private)$")
]


@router.get("/grants", response_model=Grants, response_model_exclude_unset=True)
def grants(
    explorer: ExplorerDep,
    p: CurrentPerson,
    asset: Annotated[str | None, Query(pattern=NAME)] = None,
    grantee: Annotated[str | None, Query(pattern=NAME)] = None,
    grantor: Annotated[str | None, Query(pattern=NAME)] = None,
    grant_state: GrantState = None,
) -> dict[str, Any]:
    snap = explorer.state.snapshot
    out = []
    for g in snap.grants:
        if not access.sees_grant(p, g) or (asset and g.asset != asset) or (grantee and g.grantee != grantee):
            continue
        if grantor and g.grantor != grantor:
            continue
        row = grant_json(g, snap.asset(g.asset), snap.block_time)
        if grant_state is None or row["state"] == grant_state:
            out.append(row)
    for pg in snap.private_grants:  # its grantee is not known here: a grantee filter leaves it out
        if not access.sees_private_grant(p, pg) or grantee or (asset and pg.asset != asset):
            continue
        if grantor and pg.grantor != grantor:
            continue
        row = private_grant_json(pg, snap.asset(pg.asset))
        if grant_state is None or row["state"] == grant_state:
            out.append(row)
    return {"block": snap.block, "grants": out}


@router.get("/grants/{grant_id}", response_model=GrantDetail, response_model_exclude_unset=True)
def grant(explorer: ExplorerDep, p: CurrentPerson, grant_id: GrantId, subject: Subject) -> dict[str, Any]:
    snap = explorer.state.snapshot
    private = snap.private_grant(grant_id)
    if private is not None:
        if not access.sees_private_grant(p, private):
            raise NotFoundError(f"grant {grant_id}")
        subject([private.grantor])  # its grantee is in the terms, which the explorer does not hold
        return {
            **private_grant_json(private, snap.asset(private.asset)),
            "history": explorer.chain.history("grant", grant_id),
        }
    found = snap.grant(grant_id)
    asset, now = (snap.asset(found.asset), snap.block_time) if found is not None else (None, 0)
    if found is None and (fresh := explorer.state.fresh_grant(grant_id)) is not None:
        found, asset, now = fresh  # issued after the latest snapshot was read
    if found is None or not access.sees_grant(p, found):
        raise NotFoundError(f"grant {grant_id}")
    subject([found.grantor, found.grantee])
    return {
        **grant_json(found, asset, now),
        "history": explorer.chain.history("grant", grant_id),
    }
