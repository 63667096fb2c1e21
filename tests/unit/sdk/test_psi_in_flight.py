"""``sdk.privacy.run_psi_job`` sends a request step again when the owner's gateway refuses it 409
``psi_run_in_flight`` (the same request is still in flight there, ``gateway.quota``), and only under ``retries``:
over httpx's in-memory transport, a gateway that serves the terms and refuses the request step, no socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.headers import EVENT_HEADER, REASON_HEADER
from privacy.asset import PsiAssetTerms, format_asset_terms
from privacy.suites import INTL
from sdk import MemberClient
from sdk.privacy import PsiRefusedError, run_psi_job
from tests.support.memory_member import answer_with, memory_member

URL = "https://gateway.test:9443"
STEPS = "/v1/privacy/ids"
GRANT = "0x" + "ab" * 32
TERMS = format_asset_terms(
    PsiAssetTerms("ids", "alpha", INTL.protocol, 100, INTL.kem_public(INTL.generate_kem()), STEPS)
)


class Gateway:
    """Serves the terms, and refuses the request step: in flight ``busy`` times, then ``quota_exhausted``."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.requests: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/terms"):
            return httpx.Response(200, headers={EVENT_HEADER: "ev-terms"}, content=TERMS)
        self.requests.append(request.content)
        status, reason = (409, "psi_run_in_flight") if len(self.requests) <= self.busy else (403, "quota_exhausted")
        body = {"error": "refused", "reason": reason, "detail": reason, "event_id": f"ev-{len(self.requests)}"}
        headers = {EVENT_HEADER: body["event_id"], REASON_HEADER: reason, "Retry-After": "2"}
        return httpx.Response(status, headers=headers, content=json.dumps(body).encode())


@pytest.fixture
def client(tmp_path: Path) -> Iterator[MemberClient]:
    with memory_member(tmp_path) as member:
        yield member


@pytest.mark.parametrize(("retries", "sent"), [(0, 1), (3, 3)])
def test_a_request_step_refused_in_flight_is_sent_again_under_retries(
    client: MemberClient, retries: int, sent: int
) -> None:
    """Twice in flight, then refused for another reason: with ``retries`` the same bytes are sent three times and
    the last refusal raised; without, the first refusal is."""
    gateway = Gateway(busy=2)
    answer_with(client, gateway)
    waits: list[float] = []
    with pytest.raises(PsiRefusedError) as refused:
        run_psi_job(
            client, URL, STEPS, org="beta", purpose="aml-screening", grant_id=GRANT, identifiers=["ACCT:A1", "ACCT:B2"],
            signing_key=Ed25519PrivateKey.generate(), retries=retries, retry_wait_s=0.5, sleep=waits.append,
        )  # fmt: skip
    assert len(gateway.requests) == sent and len(set(gateway.requests)) == 1  # the same bytes each time
    assert refused.value.step == "request"
    assert refused.value.reason == ("quota_exhausted" if retries else "psi_run_in_flight")
    assert waits == [0.5, 1.0][: sent - 1]
