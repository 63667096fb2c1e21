"""The log: the consortium's public keys and witness policy (``/keys``, not recorded as a query), the
checkpoints the explorer has indexed (largest first) with their anchors, and the gaps in gateways' sequence
numbers (of the person's own firm's gateways; all of them for the regulator).

Each anchor also says whether AuditAnchor checked the log key's signature on it (``signature``), read from the
explorer's index of the chain: the anchor transaction's logs hold, beside the ``Anchored`` log of the checkpoint's
origin and size, an ``AnchorSigned`` log of the same origin and size when ``anchor_signed`` succeeded
(``checked``), and none when the anchor was a plain ``anchor`` (``unchecked``: an ``intl`` log's, or an ``sm``
log's on an AuditAnchor deployed before ``signed_only``, docs/national-suite.md); ``unknown`` while the chain
index does not hold that ``Anchored`` log (the transaction not yet indexed, not confirmed, or failed). Both logs
must come from the same AuditAnchor: the consortium's, or a retired one the chain follower decodes too."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from eth_utils.crypto import keccak
from fastapi import APIRouter, Query

from explorer import access
from explorer.api.deps import MAX_PAGE, Before, CurrentPerson, ExplorerDep, Limit
from explorer.api.schemas import Anchors, CheckpointPage, Gaps, Keys
from explorer.chainindex import ChainIndex
from explorer.keys import ConsortiumKeysJSON
from network.logsetup import log_origin
from notary.storage.base import CheckpointJSON

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
) -> ConsortiumKeysJSON:  # fmt: skip
    return explorer.keys(size)


class CheckpointPageJSON(TypedDict):
    """A page of the indexed checkpoints as ``/checkpoints`` answers it (``CheckpointPage``): the checkpoints as the
    notary listed them, and the size to ask ``before`` for the next page (None on the last)."""

    checkpoints: list[CheckpointJSON]
    next: int | None


@router.get("/checkpoints", tags=["log"], response_model=CheckpointPage, response_model_exclude_unset=True)
def checkpoints(explorer: ExplorerDep, before: Before = None, limit: Limit = 20) -> CheckpointPageJSON:
    rows = explorer.calls.checkpoints(before=before, limit=limit)
    return {"checkpoints": rows, "next": rows[-1]["size"] if len(rows) == limit else None}


@router.get("/anchors", tags=["log"], response_model=Anchors, response_model_exclude_unset=True)
def anchors(explorer: ExplorerDep, limit: Limit = 50) -> dict[str, Any]:
    rows = [(c, a) for c in explorer.calls.checkpoints(before=None, limit=MAX_PAGE) if (a := c["anchor"])][:limit]
    origin = log_origin(explorer.description)
    return {
        "crypto": explorer.description.crypto,
        "anchors": [
            {
                "size": c["size"],
                "root": c["root"],
                **a,
                "signature": signature_check(explorer.chain, origin, int(c["size"]), a.get("tx_hash")),
            }
            for c, a in rows
        ],
    }


SignatureCheck = Literal["checked", "unchecked", "unknown"]


def signature_check(chain: ChainIndex, origin: str, size: int, tx_hash: object) -> SignatureCheck:
    """Whether AuditAnchor checked the signature of the anchor of ``origin`` at ``size`` sent in ``tx_hash``, as
    the logs of that transaction in the chain index say (the module docstring)."""
    tx = chain.transaction(tx_hash) if isinstance(tx_hash, str) and tx_hash else None
    if tx is None:
        return "unknown"
    origin_hash = "0x" + keccak(text=origin).hex()
    ours = [(e, e["args"]) for e in tx.get("events", []) if e["contract"] == "AuditAnchor" and e["args"] is not None]

    def at_size(args: dict[str, Any]) -> bool:
        return args.get("tree_size") == size and str(args.get("origin_hash", "")).lower() == origin_hash

    anchored = next(
        (e for e, args in ours if e["event"] == "Anchored" and args.get("origin") == origin and at_size(args)), None
    )
    if anchored is None:
        return "unknown"
    by = str(anchored["address"] or "").lower()
    signed = any(
        e["event"] == "AnchorSigned" and at_size(args) and str(e["address"] or "").lower() == by for e, args in ours
    )
    return "checked" if signed else "unchecked"


@router.get("/gaps", tags=["log"], response_model=Gaps, response_model_exclude_unset=True)
def gaps(explorer: ExplorerDep, p: CurrentPerson) -> dict[str, Any]:
    return {"gaps": [g for g in explorer.calls.gaps() if access.sees_gateway(p, str(g.get("gateway", "")))]}
