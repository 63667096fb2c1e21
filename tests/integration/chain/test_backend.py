"""chain.backend.RpcBackend: the default connection and the lean one the gateway reads through."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
import requests

from chain.backend import RpcBackend
from chain.errors import BackendError, RpcAnswerError
from tests.support.servers import LocalHTTPServer, QuietHandler


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


class _Node(QuietHandler):
    """A JSON-RPC endpoint on loopback: ``/consortium`` has ``consortium_nodeStatus``, ``/anvil`` has not,
    ``/members`` refuses this client as a members-only node does (403 with a JSON-RPC error object)."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, answer = 200, {"jsonrpc": "2.0", "id": request["id"]}
        if self.path == "/members":
            status, answer["error"] = 403, {"code": -32003, "message": "not a member's certificate"}
        elif request["method"] == "consortium_nodeStatus" and self.path == "/consortium":
            answer["result"] = {"head": 7, "hash": "0x" + "ab" * 32, "inSync": True}
        elif request["method"] == "eth_getBlockByNumber":
            answer["result"] = {"number": "0x7", "hash": "0x" + "ab" * 32}
        else:
            answer["error"] = {"code": -32601, "message": f"the method {request['method']} does not exist"}
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def node_url() -> Iterator[str]:
    with LocalHTTPServer(_Node) as node:
        yield node.url


def test_node_status_is_the_nodes_own_method_or_none_without_it(node_url: str) -> None:
    assert RpcBackend(node_url + "/consortium", lean=True, chain_id=1).node_status() == {
        "head": 7,
        "hash": "0x" + "ab" * 32,
        "inSync": True,
    }
    anvil = RpcBackend(node_url + "/anvil", lean=True, chain_id=1)
    assert anvil.node_status() is None
    assert anvil.request("eth_getBlockByNumber", ["latest", False])["number"] == "0x7"
    with pytest.raises(RpcAnswerError, match="the chain refused eth_chainId") as error:
        anvil.request("eth_chainId", [])
    assert error.value.reason == "the method eth_chainId does not exist"


def test_a_refusal_carries_the_nodes_reason(node_url: str) -> None:
    members = RpcBackend(node_url + "/members", lean=True, chain_id=1)
    assert members.node_status() is None
    with pytest.raises(RpcAnswerError, match=r"refused eth_blockNumber \(HTTP 403\)") as error:
        members.request("eth_blockNumber", [])
    assert error.value.reason == "not a member's certificate"
    assert isinstance(error.value, BackendError)


def test_an_unreachable_node_raises_the_transport_error(closed_url: str) -> None:
    with pytest.raises(httpx.ConnectError):
        RpcBackend(closed_url, 1.0, lean=True, chain_id=1).node_status()
