"""The JSON-RPC server's errors, and the one place where each error becomes a JSON-RPC error object.

Codes follow JSON-RPC 2.0 (-32700 to -32603) and what Ethereum clients expect of a node (EIP-1474's -32005; code 3
with the revert data for a reverted call). A transaction the node refuses before its mempool (permissioning, nonce,
chain id, gas, funds) answers -32000 with the node's sentence as ``message``, as geth and Besu answer their refusals:
web3.py raises ``Web3RPCError`` with that message, and ethers reads it where it reads geth's (EIP-1474's -32003 is
not one ethers maps). A client the node does not admit (``chain.node.rpc.access``) gets -32010, from the range
JSON-RPC 2.0 leaves to servers and EIP-1474 does not use, with HTTP 401 or 403.
A state the node lacks the trie nodes of (``eth_getProof``) answers -32000 naming the block, as geth and Besu answer
theirs.
"""

from __future__ import annotations

import logging
from typing import Any

from eth_utils.exceptions import ValidationError

from chain.errors import ChainError, MalformedError
from chain.node.node import ExecutionRevertedError, TransactionRefusedError
from chain.node.stateproof import StateUnavailableError

log = logging.getLogger("chain.node.rpc")


class RpcError(ChainError):
    """A request the server refuses; its class decides the JSON-RPC error code (see ``error_object``)."""


class ParseError(RpcError):
    """The body is not JSON (or not UTF-8)."""


class InvalidRequestError(RpcError):
    """The JSON is not a valid JSON-RPC 2.0 request."""


class MethodNotFoundError(RpcError):
    """No such method."""


class InvalidParamsError(RpcError):
    """Wrong number, type, or value of parameters, or a block that does not exist."""


class LimitExceededError(RpcError):
    """The request is well-formed but its answer would be too large."""


class RpcRefusedError(RpcError):
    """A client that may not make this request (``chain.node.rpc.access``): ``status`` is the HTTP status it is
    answered with (401 without a certificate, 403 with one that is not a member's), ``reason`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class InternalRpcError(RpcError):
    """The server failed answering a request (its own fault, logged where it happened)."""


class RpcConfigError(RpcError):
    """The server cannot run with the access it was given (a write method or an unknown one made public, a
    public subset without TLS)."""


#: The JSON-RPC error code of a refused client.
REFUSED_CODE = -32010
#: geth's and Besu's code for a request the node refuses to carry out, with its reason as the message: a refused
#: transaction, a call the EVM will not run.
SERVER_ERROR_CODE = -32000


def error_object(exc: BaseException) -> dict[str, Any]:
    """The JSON-RPC error object for ``exc``: the only place where error codes are chosen."""
    if isinstance(exc, ParseError):
        return {"code": -32700, "message": f"parse error: {exc}"}
    if isinstance(exc, InvalidRequestError):
        return {"code": -32600, "message": f"invalid request: {exc}"}
    if isinstance(exc, MethodNotFoundError):
        return {"code": -32601, "message": f"method not found: {exc}"}
    if isinstance(exc, InvalidParamsError | MalformedError):
        return {"code": -32602, "message": f"invalid params: {exc}"}
    if isinstance(exc, ExecutionRevertedError):
        return {"code": 3, "message": str(exc), "data": "0x" + exc.data.hex()}
    if isinstance(exc, TransactionRefusedError):
        return {"code": SERVER_ERROR_CODE, "message": f"transaction rejected: {exc.reason}"}
    if isinstance(exc, RpcRefusedError):
        return {"code": REFUSED_CODE, "message": f"refused: {exc.reason}"}
    if isinstance(exc, LimitExceededError):
        return {"code": -32005, "message": f"limit exceeded: {exc}"}
    if isinstance(exc, StateUnavailableError):  # geth and Besu answer a state they lack with -32000 too
        return {"code": SERVER_ERROR_CODE, "message": f"state unavailable: {exc}"}
    if isinstance(exc, ValidationError):  # py-evm refused to run a call, e.g. a value the sender cannot afford
        return {"code": SERVER_ERROR_CODE, "message": str(exc)}
    if isinstance(exc, InternalRpcError):  # logged where it happened
        return {"code": -32603, "message": f"internal error: {exc}"}
    log.error("internal error answering a JSON-RPC request", exc_info=exc)
    return {"code": -32603, "message": f"internal error: {exc.__class__.__name__}"}
