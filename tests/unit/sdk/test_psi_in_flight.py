"""``sdk.privacy.run_psi_job`` sends a request step again when the owner's gateway refuses it 409
``psi_run_in_flight`` (the same request is still in flight there, ``gateway.quota``), and only under ``retries``:
over httpx's in-memory transport, a gateway that serves the terms and refuses the request step, no socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from gateway.headers import EVENT_HEADER, REASON_HEADER
from privacy.asset import PsiAssetTerms, format_asset_terms
from privacy.suites import INTL
from sdk import MemberClient
from sdk.privacy import PsiRefusedError, run_psi_job

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
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client@beta")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    member = MemberClient(
        cert=tmp_path / "cert.pem", key=tmp_path / "key.pem", key_password=None, ca_bundle=tmp_path / "cert.pem"
    )
    yield member
    member.close()


@pytest.mark.parametrize(("retries", "sent"), [(0, 1), (3, 3)])
def test_a_request_step_refused_in_flight_is_sent_again_under_retries(
    client: MemberClient, retries: int, sent: int
) -> None:
    """Twice in flight, then refused for another reason: with ``retries`` the same bytes are sent three times and
    the last refusal raised; without, the first refusal is."""
    gateway = Gateway(busy=2)
    client._http = httpx.Client(transport=httpx.MockTransport(gateway))  # the network, not the gateway's logic
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
