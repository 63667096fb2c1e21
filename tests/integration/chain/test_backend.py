"""chain.backend.RpcBackend: the default connection and the lean one the gateway reads through."""

from __future__ import annotations

import socket

import pytest
import requests

from chain.backend import RpcBackend
from chain.errors import BackendError


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_default_backend_asks_the_chain_id_at_once(closed_url: str) -> None:
    with pytest.raises(BackendError, match="cannot reach the chain"):
        RpcBackend(closed_url)


def test_a_lean_backend_with_a_chain_id_asks_nothing_until_the_first_read(closed_url: str) -> None:
    backend = RpcBackend(closed_url, 1.0, lean=True, chain_id=20261)
    assert backend.chain_id == 20261
    assert backend.url == closed_url
    assert backend.description == f"JSON-RPC {closed_url}"
    with pytest.raises(requests.ConnectionError):
        backend.web3.eth.get_block_number()


def test_a_lean_backend_has_no_middleware_and_no_retries(closed_url: str) -> None:
    lean = RpcBackend(closed_url, lean=True, chain_id=1)
    assert len(lean.web3.middleware_onion) == 0
    assert lean.web3.provider.exception_retry_configuration is None  # type: ignore[attr-defined]


def test_a_backend_url_must_be_http(closed_url: str) -> None:
    with pytest.raises(BackendError, match="http://"):
        RpcBackend("ws" + closed_url[4:], lean=True, chain_id=1)
