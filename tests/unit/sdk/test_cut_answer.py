"""How ``MemberClient.call`` tells an answer cut off after its headers (``AnswerCutOffError``, which
``sdk.privacy.run_psi_job`` sends again under ``retries``) from a gateway it could not reach (a plain
``TransportError``, which it does not), over httpx's in-memory transport: no socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.headers import EVENT_HEADER
from sdk import AnswerCutOffError, MemberClient, TransportError
from tests.support.memory_member import memory_member

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
    with memory_member(tmp_path, _handle) as member:
        yield member


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
