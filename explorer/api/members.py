"""The consortium's members and witnesses: ``/members``, ``/members/{org}`` with its history, ``/witnesses``
with each witness's last answer to the notary."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from explorer.api.deps import ExplorerDep, Name
from explorer.api.schemas import MemberDetail, Members, Witnesses
from explorer.errors import ChainUnavailableError, NotFoundError
from explorer.state import member_json
from network.witnesskeys import offline_witnesses

router = APIRouter(tags=["consortium"])


@router.get("/members", response_model=Members, response_model_exclude_unset=True)
def members(explorer: ExplorerDep) -> dict[str, Any]:
    snap = explorer.state.snapshot
    return {"block": snap.block, "members": [member_json(m) for m in snap.members]}


@router.get("/members/{org}", response_model=MemberDetail, response_model_exclude_unset=True)
def member(explorer: ExplorerDep, org: Name) -> dict[str, Any]:
    found = explorer.state.snapshot.member(org)
    if found is None:
        raise NotFoundError(f"member {org}")
    return {**member_json(found), "history": explorer.chain.history("member", org)}


@router.get("/witnesses", response_model=Witnesses, response_model_exclude_unset=True)
def witnesses(explorer: ExplorerDep) -> dict[str, Any]:
    health = explorer.notary.health() or {}
    answers = health.get("witnesses", {})
    try:
        policy = explorer.witnesses_for(None).policy  # the witnesses counted now, as the chain says
    except ChainUnavailableError:  # a status page, not a verification: consortium.json's list while the chain is out
        policy = offline_witnesses(explorer.description).policy
    return {
        "policy": {"threshold": policy.threshold, "require_regulator": policy.require_regulator},
        "witnesses": [
            {"org": org, "status": answers.get(org, {}).get("status"), "detail": answers.get(org, {}).get("detail")}
            for org in policy.witnesses
        ],
    }
