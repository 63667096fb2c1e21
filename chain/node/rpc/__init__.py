"""The node's JSON-RPC server: the Ethereum execution API over HTTP for web3.py, ethers and foundry, plus
``consortium_*`` reads of the validator set, block seals and the node's own status.

Follows JSON-RPC 2.0 (https://www.jsonrpc.org/specification: batches, notifications, error objects) and the
Ethereum execution-apis conventions (https://github.com/ethereum/execution-apis): hex quantities without
leading zeros, EIP-1474 error codes, EIP-1898 block parameters, code 3 with the revert data for reverted
calls. Blocks have instant finality, so ``safe``, ``finalized`` and ``pending`` read the head. Fees are free
(base fee 0), so gas price answers are 0.

One module per part, in the order a request meets them:

- ``server``: ``RpcServer`` and the HTTP layer (bodies, ``GET /health``, ``GET /metrics``, TLS);
- ``access``: who may call what when the node serves members only (``consortium node --rpc-cert``);
- ``envelope``: JSON-RPC 2.0 itself, a body in and a body out (``RpcServer.handle``);
- ``errors``: the errors, and ``error_object``, the one place where error codes are chosen;
- ``methods``: the ``web3_*``, ``net_*``, ``eth_*`` and ``consortium_*`` methods;
- ``codec``: parameter decoders and result encoders;
- ``cache``: recovered senders, decoded receipts and call answers kept between requests.
"""

from chain.node.rpc.cache import CALL_CACHE_ENTRIES, CALL_CACHE_MAX_BYTES
from chain.node.rpc.codec import CallArgs, LogFilter
from chain.node.rpc.envelope import MAX_BATCH, MAX_DEPTH
from chain.node.rpc.errors import (
    InvalidParamsError,
    InvalidRequestError,
    LimitExceededError,
    MethodNotFoundError,
    ParseError,
    RpcError,
)
from chain.node.rpc.methods import CLIENT_VERSION, MAX_FEE_HISTORY, MAX_LOG_RANGE, MAX_LOGS, MAX_PROOF_KEYS
from chain.node.rpc.server import DEFAULT_HOST, DEFAULT_PORT, IDLE_TIMEOUT, MAX_BODY_BYTES, RpcServer

__all__ = [
    "CALL_CACHE_ENTRIES",
    "CALL_CACHE_MAX_BYTES",
    "CLIENT_VERSION",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "IDLE_TIMEOUT",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_FEE_HISTORY",
    "MAX_LOGS",
    "MAX_LOG_RANGE",
    "MAX_PROOF_KEYS",
    "CallArgs",
    "InvalidParamsError",
    "InvalidRequestError",
    "LimitExceededError",
    "LogFilter",
    "MethodNotFoundError",
    "ParseError",
    "RpcError",
    "RpcServer",
]
