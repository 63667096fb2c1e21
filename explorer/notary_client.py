"""What the explorer asks the notary over its HTTP API, besides the log itself (which the log follower reads).

A call's evidence bundle (``/v1/evidence/{event_id}``), parsed here (``notary.bundle.EvidenceBundle``) and kept
once complete, since an anchored bundle never changes; the notary's health (``/healthz``), kept two seconds,
since every dashboard asks for it; and each gateway's last sequence number and gaps (``/v1/gaps``). An
unreachable notary or an unexpected answer (a bundle that does not parse too) is an
:class:`~explorer.errors.ApiError` for the evidence, and simply no data for health and gateways.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from typing import Any

import httpx

from chain.tlsclient import tls_client
from explorer.errors import MalformedEvidenceError, NotaryAnswerError, NotaryUnavailableError, NotFoundError
from notary.bundle import EvidenceBundle
from notary.errors import MalformedError

#: Seconds the notary's health is reused for.
HEALTH_TTL = 2.0


class NotaryClient:
    """The notary at ``url``; at most ``cache_size`` complete evidence bundles are kept (least recently used
    first out). ``auth`` signs each request (``notary.readauth.SignedReads`` as the explorer, a trusted reader)
    for a notary that authenticates reads."""

    def __init__(
        self, url: str, *, cache_size: int = 4096, auth: httpx.Auth | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        verify: ssl.SSLContext | bool = tls if tls is not None else True
        self.http = tls_client(verify, base_url=url.rstrip("/"), timeout=10.0, auth=auth)
        self.cache_size = cache_size
        self._evidence: OrderedDict[str, EvidenceBundle] = OrderedDict()
        self._evidence_lock = threading.Lock()
        self._health: tuple[float, dict[str, Any] | None] = (0.0, None)

    def close(self) -> None:
        self.http.close()

    def evidence(self, event_id: str) -> EvidenceBundle:
        """The notary's evidence bundle; kept once complete (anchored), since it never changes after that.
        A bundle that does not parse is a :class:`~explorer.errors.MalformedEvidenceError` naming the field."""
        with self._evidence_lock:
            cached = self._evidence.get(event_id)
            if cached is not None:
                self._evidence.move_to_end(event_id)
                return cached
        try:
            response = self.http.get(f"/v1/evidence/{event_id}")
        except httpx.HTTPError as exc:
            raise NotaryUnavailableError(f"the notary cannot be reached: {exc}") from None
        if response.status_code == 404:
            raise NotFoundError(f"evidence for call {event_id} at the notary yet")
        if response.status_code != 200:
            raise NotaryAnswerError(response.status_code)
        try:
            bundle = EvidenceBundle.from_json(response.json())
        except (ValueError, MalformedError) as exc:  # ValueError: not JSON at all
            raise MalformedEvidenceError(event_id, str(exc)) from exc
        if not bundle.pending:
            with self._evidence_lock:
                self._evidence[event_id] = bundle
                while len(self._evidence) > self.cache_size:
                    self._evidence.popitem(last=False)
        return bundle

    def health(self) -> dict[str, Any] | None:
        """The notary's ``/healthz`` answer, or None when it is down or answers anything else."""
        stamp, cached = self._health
        if time.monotonic() - stamp < HEALTH_TTL:
            return cached
        try:
            response = self.http.get("/healthz", timeout=2.0)
            health: dict[str, Any] | None = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            health = None
        self._health = (time.monotonic(), health)
        return health

    def gateways(self) -> list[dict[str, Any]]:
        """Each gateway's last sequence number as the notary knows it, and its gaps."""
        try:
            answer = self.http.get("/v1/gaps", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return []
        gaps: dict[str, int] = {}
        for g in answer.get("gaps", []):
            gaps[g["gateway"]] = gaps.get(g["gateway"], 0) + 1
        return [
            {"gateway": k, "last_seq": v, "gaps": gaps.get(k, 0)} for k, v in sorted(answer.get("last_seq", {}).items())
        ]
