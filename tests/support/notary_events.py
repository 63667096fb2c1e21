"""What the notary's tests start from: a valid audit event (``event(status=500)`` changes one field)."""

from __future__ import annotations

from typing import Any


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "v": 1,
        "event_id": "4f0c9d1e-8f52-4a7b-9d55-0b7c1d2e3f40",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "time_ms": 1_795_000_000_000,
        "caller_org": "jinghua-sec",
        "caller_identity": "ab" * 32,
        "provider_org": "shuzhi-tech",
        "center": "public-business",
        "unit": "news",
        "api": "news-latest",
        "method": "GET",
        "route": "/v1/news/latest",
        "asset_id": "financial-news",
        "asset_version": 2,
        "grant_id": "0x" + "7" * 64,
        "decision": "allow",
        "denial_reason": None,
        "request_digest": "01" * 32,
        "response_digest": "02" * 32,
        "status": 200,
        "latency_us": 1834,
        "gateway_id": "shuzhi-tech/gw-1",
        "gateway_seq": 1,
    }
    base.update(changes)
    return base
