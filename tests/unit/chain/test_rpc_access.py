"""The rule of a node's JSON-RPC for members only (``chain.node.rpc.access``) without sockets: which public
subsets a node accepts, which bodies count as public, and the refusal's body. The same rule over real TLS, with
a node process and the consortium's certificates, is ``tests/integration/chain/test_rpc_members.py``."""

from __future__ import annotations

import json

import pytest

from chain.node.rpc.access import RpcAccess, public_methods, refused_body, requested_methods
from chain.node.rpc.errors import RpcConfigError, RpcRefusedError

SERVED = frozenset({"eth_chainId", "eth_blockNumber", "eth_call", "eth_getLogs", "eth_sendRawTransaction"})
MEMBER = b"member certificate"


def admit(der: bytes | None) -> str:
    """A stand-in of the member check: the one DER ``MEMBER`` is alpha's."""
    if der is None:
        raise RpcRefusedError(401, "no_certificate: none presented")
    if der != MEMBER:
        raise RpcRefusedError(403, "unknown_member: not a member")
    return "alpha"


def request(method: object, request_id: object = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": []}


def test_a_public_subset_names_read_methods_the_node_serves() -> None:
    assert public_methods(["eth_chainId", " eth_blockNumber", ""], SERVED) == {"eth_chainId", "eth_blockNumber"}
    assert public_methods([], SERVED) == frozenset()


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["eth_chainId", "eth_sendRawTransaction"], "eth_sendRawTransaction cannot be public"),
        (["eth_sendTransaction"], "eth_sendTransaction cannot be public"),
        (["eth_chainId", "eth_teleport"], "serves no method eth_teleport"),
        (["*"], "serves no method *"),
    ],
    ids=["served-write", "other-clients-write", "unknown", "wildcard"],
)
def test_a_write_or_unknown_method_cannot_be_public(names: list[str], message: str) -> None:
    with pytest.raises(RpcConfigError, match=message.replace("*", r"\*")):
        public_methods(names, SERVED)


def test_a_write_method_is_refused_even_before_the_served_methods_are_known() -> None:
    with pytest.raises(RpcConfigError, match="cannot be public"):
        public_methods(["eth_sendRawTransaction"])
    assert public_methods(["eth_teleport"]) == {"eth_teleport"}  # the server checks it as it starts


@pytest.mark.parametrize(
    ("body", "methods"),
    [
        (json.dumps(request("eth_chainId")).encode(), ["eth_chainId"]),
        (json.dumps([request("eth_chainId"), request("eth_call")]).encode(), ["eth_chainId", "eth_call"]),
        (b"[]", None),
        (b"{", None),
        (b"[" * 100_000, None),
        (json.dumps([request("eth_chainId"), 5]).encode(), None),
        (json.dumps(request(7)).encode(), None),
    ],
    ids=["one", "batch", "empty-batch", "not-json", "too-deep", "batch-with-a-non-request", "method-not-a-string"],
)
def test_the_methods_a_body_names(body: bytes, methods: list[str] | None) -> None:
    assert requested_methods(body) == methods


def test_a_member_calls_anything_anyone_else_only_public_bodies() -> None:
    access = RpcAccess(admit, frozenset({"eth_chainId", "eth_blockNumber"}))
    assert access.refusal(MEMBER) is None
    refusal = access.refusal(None)
    assert refusal is not None and refusal.status == 401
    other = access.refusal(b"someone else")
    assert other is not None and other.status == 403
    assert access.all_public(json.dumps([request("eth_chainId"), request("eth_blockNumber")]).encode())
    assert not access.all_public(json.dumps([request("eth_chainId"), request("eth_getLogs")]).encode())
    assert not access.all_public(b"{")
    assert not RpcAccess(admit).all_public(json.dumps(request("eth_chainId")).encode())  # no public subset


def test_the_refusal_is_one_json_rpc_error_with_the_requests_id() -> None:
    refusal = RpcRefusedError(403, "unknown_member: not a member")
    one = json.loads(refused_body(json.dumps(request("eth_call", "abc")).encode(), refusal))
    assert one == {"jsonrpc": "2.0", "id": "abc", "error": {"code": -32010, "message": f"refused: {refusal.reason}"}}
    batch = json.loads(refused_body(json.dumps([request("eth_call")]).encode(), refusal))
    assert batch["id"] is None and batch["error"]["code"] == -32010
    assert json.loads(refused_body(b"{", refusal))["id"] is None
