"""Operations: the health of every part (``/health``), the operational alarms (``/alarms``), the dashboard's
figures, and ``/healthz``, the liveness probe that needs no credentials: to anyone ``{"ok": true}``, and its
figures (the log size indexed, the block indexed) only to a logged-in person, as the notary shows its own
(docs/confidentiality.md): the size of the log says how many calls the consortium made."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from explorer import access, lookedat
from explorer.alarmsource import FileAlarms
from explorer.api.deps import MAX_MS, MAX_PAGE, CurrentPerson, Explorer, ExplorerDep
from explorer.api.schemas import Alarms, Dashboard, Health, Liveness
from explorer.calls import CallFilter
from network.logins import LoginError, Person

router = APIRouter(tags=["operations"])
#: Outside ``/api``: neither authenticated nor recorded.
probe = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, response_model_exclude_unset=True)
def health(explorer: ExplorerDep, p: CurrentPerson) -> dict[str, Any]:
    notary = explorer.notary.health()
    return {
        "chain": {**explorer.state.status, "indexed": explorer.chain.head()},
        "notary": {"ok": notary is not None, **(notary or {})},
        "witnesses": (notary or {}).get("witnesses", {}),
        "gateways": [g for g in explorer.notary.gateways() if access.sees_gateway(p, g["gateway"])],
        "explorer": {
            "indexed_size": explorer.calls.size(),
            "followers": {k: getattr(v, "status", None) for k, v in explorer.followers.items()},
            "audit": explorer.recorder.status() if explorer.recorder else None,
        },
    }


@router.get("/alarms", response_model=Alarms, summary="Operational alarms, active and recently resolved")
def alarms(explorer: ExplorerDep, p: CurrentPerson) -> dict[str, Any]:
    """The alarms the evaluator of ``consortium up`` last evaluated, from its endpoint (or its file), with how
    fresh they are (docs/alarms.md): the regulator's people see all, anyone else all but those about another
    firm's gateway."""
    source = explorer.alarms if explorer.alarms is not None else FileAlarms(explorer.directory)
    return source.read().to_json(lambda a: access.sees_alarm(p, a))


@router.get("/dashboard", response_model=Dashboard, response_model_exclude_unset=True)
def dashboard(
    explorer: ExplorerDep, p: CurrentPerson, minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60
) -> dict[str, Any]:
    calls, status = explorer.calls, explorer.state.status
    now_ms = int(time.time() * 1000)
    latest = calls.latest_checkpoint()
    anchored = next((c for c in calls.checkpoints(before=None, limit=MAX_PAGE) if c.get("anchor")), None)
    notary = explorer.notary.health() or {}
    return {
        "head": {"number": status.get("head"), "time": status.get("head_time")},
        "checkpoint": latest,
        "anchor": anchored,
        "log_size": calls.size(),
        "witnesses": notary.get("witnesses", {}),
        "calls_per_minute": calls.per_minute(now_ms - minutes * 60_000, access.party(p)),
        "denials": calls.search(CallFilter(decision="deny", party=access.party(p)), before=None, limit=10),
        **_regulator_counts(explorer, p, now_ms - minutes * 60_000, MAX_MS + 1),
    }


def _regulator_counts(explorer: Explorer, p: Person, from_ms: int, to_ms: int) -> dict[str, Any]:
    """The dashboard's counts of the regulator's queries in its window (``explorer.lookedat``): for the
    regulator, its queries naming each firm (``regulator_queries_by_firm``); for a firm's people under the
    consortium's ``audit`` policy, how many of their firm's calls the regulator's queries read
    (``regulator_looks``); nothing for anyone else."""
    party = access.party(p)
    if party is None:
        by_firm = lookedat.queries_by_firm(explorer.calls, explorer.visibility, None, from_ms, to_ms) or {}
        return {"regulator_queries_by_firm": [{"org": o, "queries": n} for o, n in sorted(by_firm.items())]}
    looks = lookedat.look_counts(explorer.calls, explorer.visibility, party, party, from_ms, to_ms)
    return {} if looks is None else {"regulator_looks": looks}


@probe.get(
    "/healthz",
    summary="Liveness without credentials; the figures to a logged-in person",
    response_model=Liveness,
    response_model_exclude_unset=True,
)
def healthz(explorer: ExplorerDep, request: Request) -> dict[str, Any]:
    """Outside ``/api``, so the gatekeeper neither asks for a login nor records the request: a probe without
    credentials, or with a login that does not verify, learns only that the explorer answers."""
    try:
        explorer.auth.authenticate(request.headers.get("Authorization"))
    except LoginError:
        return {"ok": True}
    figures: dict[str, Any] = {
        "ok": True,
        "indexed_size": explorer.calls.size(),
        "chain_indexed": explorer.chain.head(),
    }
    if explorer.trust is not None:  # a login is decided against the directory at this block (docs/trust.md)
        figures["trust_head"] = explorer.trust.head
    return figures
