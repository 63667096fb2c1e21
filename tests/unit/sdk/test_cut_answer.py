"""How ``MemberClient.call`` tells an answer cut off after its headers (``AnswerCutOffError``, which
``sdk.privacy.run_psi_job`` sends again under ``retries``) from a gateway it could not reach (a plain
``TransportError``, which it does not), over httpx's in-memory transport: no socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.headers import EVENT_HEADER
from sdk import AnswerCutOffError, MemberClient, TransportError

URL = "https://gateway.test:9443"


class _Broken(httpx.SyncByteStream):
    """A body that gives one chunk and then breaks, as a connection closed mid-body does."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"\x00" * 1024
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def _handle(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/unreachable"):
        raise httpx.ConnectError("connection refused", request=request)
    if request.url.path.endswith("/cut"):
        return httpx.Response(200, headers={EVENT_HEADER: "ev-cut"}, stream=_Broken())
    return httpx.Response(200, headers={EVENT_HEADER: "ev-whole"}, content=b"answer")


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
    member._http = httpx.Client(transport=httpx.MockTransport(_handle))  # the network, not the gateway's logic
    yield member
    member.close()


def test_an_answer_cut_after_its_headers_is_told_from_an_unreachable_gateway(client: MemberClient) -> None:
    whole = client.call(URL, "POST", "/v1/privacy/ids/request", purpose="aml-screening", content=b"message")
    assert (whole.status, whole.content, whole.event_id) == (200, b"answer", "ev-whole")
    with pytest.raises(AnswerCutOffError) as cut:
        client.call(URL, "POST", "/v1/privacy/ids/cut", purpose="aml-screening", content=b"message")
    assert (cut.value.status, cut.value.event_id) == (200, "ev-cut")
    assert isinstance(cut.value, TransportError) and "cut off after its headers" in str(cut.value)
    assert "event ev-cut" in str(cut.value)
    with pytest.raises(TransportError) as unreachable:
        client.call(URL, "POST", "/v1/privacy/ids/unreachable", purpose="aml-screening", content=b"message")
    assert not isinstance(unreachable.value, AnswerCutOffError)
