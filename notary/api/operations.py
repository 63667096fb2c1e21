"""Operations: ``/healthz`` (JSON) and ``/metrics`` (Prometheus text exposition format).

When the notary authenticates reads, the figures (sizes, witnesses' answers, anchoring, gaps, alarms) go to
authenticated readers and to the monitor token only (``notary.readauth``): ``/healthz`` without credentials
answers ``{"ok": true}``, enough for a liveness probe, and ``/metrics`` answers 401."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from notary.api import errors
from notary.api.deps import Service, client_certificate
from notary.api.schemas import Health
from notary.readauth import ReadAccess, UnauthenticatedError
from notary.service import NotaryHealth

router = APIRouter(tags=["operations"])


def _check(request: Request) -> None:
    """Nothing when the app authenticates no reads; else ``UnauthenticatedError`` (401) unless the request
    carries a reader's credentials or the monitor token."""
    access: ReadAccess | None = request.app.state.access
    if access is not None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        access.authenticate_operations(request.method, target, request.headers, client_certificate(request))


@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_unset=True,
    summary="Liveness; the figures to members, witnesses and the monitor",
)
def health(service: Service, request: Request) -> dict[str, object]:
    try:
        _check(request)
    except UnauthenticatedError:
        return {"ok": True}
    return {"ok": True, **service.health()}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus; for members, witnesses and the monitor",
    responses=errors.error_responses((401,), json_route=False),
)
def metrics(service: Service, request: Request) -> str:
    _check(request)
    return metrics_text(service.health())


def metrics_text(health: NotaryHealth) -> str:
    """The gauges of ``health`` in Prometheus' text format."""
    lines = [
        "# TYPE notary_tree_size gauge",
        f"notary_tree_size {health['size']}",
        "# TYPE notary_published_size gauge",
        f"notary_published_size {health['published_size']}",
        "# TYPE notary_anchored_size gauge",
        f"notary_anchored_size {health['anchored_size']}",
        "# TYPE notary_gaps gauge",
        f"notary_gaps {health['gaps']}",
        "# TYPE notary_alarms gauge",
        f"notary_alarms {health['alarms']}",
        "# TYPE notary_leader gauge",
        f"notary_leader {1 if health['leader']['leader'] else 0}",
        "# TYPE notary_witness_up gauge",
    ]
    for org, answer in health["witnesses"].items():
        lines.append(f'notary_witness_up{{witness="{org}"}} {1 if answer["status"] == 200 else 0}')
    return "\n".join(lines) + "\n"
