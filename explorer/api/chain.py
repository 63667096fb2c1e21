"""The chain: ``/blocks`` (newest first), one block with its transactions, one transaction with its events, and
``/validators``, what the validators did over the newest blocks (:mod:`explorer.validators`). The arguments of a
grant's transaction are shown only to the grant's parties and the regulator; anyone else sees the transaction
``redacted``. Whoever may list the blocks may see the validators: both come from the blocks alone. And
``/validators/equivocations``, the equivocation evidence of the explorer's chain node, each record checked here
(:mod:`explorer.equivocations`): it is about validators' keys, not a tenant's data, so everyone logged in sees it
(docs/confidentiality.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from explorer import access
from explorer.api.deps import MAX_MS, Before, CurrentPerson, ExplorerDep, Limit, TxHash
from explorer.api.eventschema import Transaction
from explorer.api.schemas import BlockDetail, BlockPage, Equivocations, ValidatorActivity
from explorer.chainindex import BlockRow, TransactionRow
from explorer.equivocations import validators_from_index
from explorer.errors import NotFoundError
from explorer.validators import DEFAULT_WINDOW, MAX_WINDOW, activity

router = APIRouter(tags=["chain"])

Window = Annotated[int, Query(ge=1, le=MAX_WINDOW, description=f"the newest blocks counted (at most {MAX_WINDOW:,})")]


@router.get("/blocks", response_model=BlockPage, response_model_exclude_unset=True)
def blocks(explorer: ExplorerDep, before: Before = None, limit: Limit = 20) -> dict[str, Any]:
    chain = explorer.chain
    rows = chain.blocks(before=before, limit=limit)
    after = rows[-1]["number"] if len(rows) == limit and rows[-1]["number"] > 0 else None
    return {"blocks": rows, "next": after, "head": chain.head()}


@router.get("/blocks/{number}", response_model=BlockDetail, response_model_exclude_unset=True)
def block(explorer: ExplorerDep, p: CurrentPerson, number: Annotated[int, PathParam(ge=0, le=MAX_MS)]) -> BlockRow:
    found = explorer.chain.block(number)
    if found is None:
        raise NotFoundError(f"block {number} (indexed up to {explorer.chain.head()})")
    snap = explorer.state.snapshot

    def shown(tx: TransactionRow) -> TransactionRow:
        """A block's rows carry no events, and a grant's events name its grantor (the sender of
        ``create_grant``, not an argument): the row's party is decided on the transaction with its events,
        as ``/transactions/{hash}`` decides it."""
        if access.sees_transaction(p, tx, snap):
            return tx
        whole = explorer.chain.transaction(tx["hash"]) if tx.get("contract") == "AccessGrants" else None
        return tx if whole is not None and access.sees_transaction(p, whole, snap) else access.redact_transaction(tx)

    found["transactions"] = [shown(tx) for tx in found.get("transactions", [])]
    return found


@router.get("/transactions/{tx_hash}", response_model=Transaction, response_model_exclude_unset=True)
def transaction(explorer: ExplorerDep, p: CurrentPerson, tx_hash: TxHash) -> TransactionRow:
    found = explorer.chain.transaction(tx_hash.lower())
    if found is None:
        raise NotFoundError(f"transaction {tx_hash}")
    if not access.sees_transaction(p, found, explorer.state.snapshot):
        return access.redact_transaction(found)
    return found


@router.get("/validators", response_model=ValidatorActivity, response_model_exclude_unset=True)
def validators(explorer: ExplorerDep, window: Window = DEFAULT_WINDOW) -> dict[str, Any]:
    chain = explorer.chain
    # the window's blocks and the parent of its oldest, whose set and proposer decide who missed in it
    return activity(chain.blocks(before=None, limit=window + 1), window, chain.account_org)


@router.get("/validators/equivocations", response_model=Equivocations)
def equivocations(explorer: ExplorerDep) -> dict[str, Any]:
    book = explorer.equivocations
    if book is None:
        return {"equivocations": [], "refused": [], "source": {"ok": False, "error": "no chain node to ask"}}
    chain = explorer.chain
    return book.view(validators_from_index(chain.blocks), chain.account_org)
