"""Operations: ``/healthz`` (JSON) and ``/metrics`` (Prometheus text exposition format)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from notary.api.deps import Service
from notary.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def health(service: Service) -> dict[str, Any]:
    return service.health()


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(service: Service) -> str:
    return metrics_text(service.health())


def metrics_text(health: dict[str, Any]) -> str:
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
        "# TYPE notary_witness_up gauge",
    ]
    for org, answer in health["witnesses"].items():
        lines.append(f'notary_witness_up{{witness="{org}"}} {1 if answer["status"] == 200 else 0}')
    return "\n".join(lines) + "\n"
