"""Every refusal of the node's HTTP servers' transport comes in that server's own error form, with its status and
a message saying why: the JSON-RPC server's one JSON-RPC error object with a null id (-32600, invalid request; a
failure of its own: -32603), for its own refusals (no usable Content-Length, a chunked body, a body too large, a
method or path it does not serve) and the standard library's alike; the peer routes' ``{"error": ...}``. Driven in
process (``tests.support.wire``), no socket."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth_keys.datatypes import PrivateKey

from chain.node import peers
from chain.node.connections import PooledHandler
from chain.node.health import NodeStatus
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from chain.node.rpc import server as rpc_server
from chain.node.rpc.server import MAX_BODY_BYTES
from network.alarms import server as alarm_server
from tests.support.clock import Clock
from tests.support.wire import Wire, answer

T0 = 1_000_000.0
TOO_LARGE = MAX_BODY_BYTES + 1


def _failing_status() -> NodeStatus:
    raise RuntimeError("the status is unreadable")


@pytest.fixture(scope="module")
def rpc() -> RpcServer:
    validator = PrivateKey(b"\x01" * 32).public_key.to_checksum_address()
    node = Node(AtomicDB(), Genesis(20261, (validator,), validator, 1_795_000_000))
    return RpcServer(node, status=_failing_status)  # not started: its handler is driven below


def served(handler_class: type[PooledHandler], server: Any, request: bytes) -> tuple[int, dict[str, str], Any]:
    """The status, headers and JSON body ``handler_class`` answers ``request`` with, all of it sent at once."""
    clock = Clock(T0)
    wire = Wire(clock, [(T0, request)])
    handler = handler_class(wire, ("127.0.0.1", 40000), server)
    handler.clock = clock
    handler.serve()
    status, headers, body = answer(wire.sent)
    assert headers["Content-Type"] == "application/json"
    return status, headers, json.loads(body)


RPC_REFUSALS = [
    (b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 411, "Content-Length required"),
    (b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 411, "Content-Length required"),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411, "chunked bodies are not accepted"),
    (b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % TOO_LARGE, 413, f"of {TOO_LARGE} bytes exceeds the limit"),
    (b"POST / HTTP/1.1\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % TOO_LARGE, 413, "exceeds the limit"),
    (b"POST / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", 413, "exceeds the limit"),  # past int()'s
    (b"GET / HTTP/1.1\r\n\r\n", 405, "JSON-RPC takes POST"),
    (b"PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 405, "JSON-RPC takes POST"),
    (b"BREW / HTTP/1.1\r\n\r\n", 501, "Unsupported method ('BREW')"),
    (b"POST\r\n\r\n", 400, "Bad request syntax"),
    (b"POST / HTTP/2.0\r\n\r\n", 505, "Invalid HTTP version (2.0)"),
    (b"POST / HTTP/1.1\r\nLong: " + b"x" * 70_000 + b"\r\n\r\n", 431, "Line too long"),
    (b"GET /" + b"x" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
    (b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{", 408, "request not received within 10 s"),
    (b"GET /metrics HTTP/1.1\r\n\r\n", 404, "this node exports no metrics"),
]


@pytest.mark.parametrize(("request_", "status", "says"), RPC_REFUSALS, ids=[str(r[1]) for r in RPC_REFUSALS])
def test_each_refusal_of_the_json_rpc_transport_is_one_json_rpc_error_object(
    rpc: RpcServer, request_: bytes, status: int, says: str
) -> None:
    answered, headers, body = served(rpc_server._Handler, SimpleNamespace(rpc=rpc), request_)
    assert answered == status
    assert body["jsonrpc"] == "2.0" and body["id"] is None and set(body) == {"jsonrpc", "id", "error"}
    assert body["error"]["code"] == -32600 and body["error"]["message"].startswith("invalid request: ")
    assert says in body["error"]["message"]
    if status == 405:
        assert headers["Allow"] == "POST"
    if status != 404:  # a refused request is the connection's last: its body, if any, is left unread
        assert headers["Connection"] == "close"


def test_a_failure_of_the_json_rpc_transport_itself_is_an_internal_error(rpc: RpcServer) -> None:
    status, headers, body = served(rpc_server._Handler, SimpleNamespace(rpc=rpc), b"GET /health HTTP/1.1\r\n\r\n")
    assert status == 500 and headers["Connection"] == "close"
    assert body == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32603, "message": "internal error: GET /health failed; see the node's log"},
    }


PEER_REFUSALS = [
    (b"POST /qbft/v1/message HTTP/1.1\r\n\r\n", 411, "Content-Length required"),
    (b"POST /qbft/v1/message HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 411, "Content-Length required"),
    (b"POST /qbft/v1/message HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n", 411, "Content-Length required"),
    (b"POST /qbft/v1/message HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 411, "chunked"),
    (b"POST /qbft/v1/message HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (peers.MAX_BODY_BYTES + 1), 413, "over"),
    (b"POST /qbft/v1/message HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", 413, "over"),
    (b"BREW / HTTP/1.1\r\n\r\n", 501, "Unsupported method ('BREW')"),
    (b"POST /qbft/v1/message HTTP/1.1\r\nContent-Length: 10\r\n\r\n{", 408, "request not received within 10 s"),
]


@pytest.mark.parametrize(("request_", "status", "says"), PEER_REFUSALS, ids=[str(r[1]) for r in PEER_REFUSALS])
def test_each_refusal_of_the_peer_transport_is_its_json_error(request_: bytes, status: int, says: str) -> None:
    peer = SimpleNamespace(requests=0, refused=0, certificates=None)  # a plain connection: no rule is asked
    answered, _, body = served(peers._Handler, SimpleNamespace(peer=peer), request_)
    assert peer.refused == 0
    assert answered == status and set(body) == {"error"} and says in body["error"]


def test_the_alarm_endpoints_refusal_of_a_method_is_its_json_error() -> None:
    status, headers, body = served(alarm_server._Handler, SimpleNamespace(), b"BREW / HTTP/1.0\r\n\r\n")
    assert (status, headers["Connection"]) == (501, "close")
    assert body == {"error": "not_implemented", "detail": "Unsupported method ('BREW')"}
