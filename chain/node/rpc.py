"""The node's JSON-RPC server: the Ethereum execution API over HTTP for web3.py, ethers and foundry, plus
``consortium_*`` reads of the validator set and block seals.

Follows JSON-RPC 2.0 (https://www.jsonrpc.org/specification: batches, notifications, error objects) and the
Ethereum execution-apis conventions (https://github.com/ethereum/execution-apis): hex quantities without
leading zeros, EIP-1474 error codes, EIP-1898 block parameters, code 3 with the revert data for reverted
calls. Blocks have instant finality, so ``safe``, ``finalized`` and ``pending`` read the head. Fees are free
(base fee 0), so gas price answers are 0.

``RpcServer.handle`` is the whole protocol, bytes in and bytes out, testable without sockets; the HTTP layer
(standard library ``ThreadingHTTPServer``, keep-alive) only frames bodies, refuses oversized ones before
reading them, and serves ``GET /health`` and ``GET /metrics``. Every error code is chosen in one place,
``_error_object``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import rlp
from eth._utils.calculations import fake_exponential
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.vm.forks.cancun.constants import GAS_PER_BLOB, MIN_BLOB_BASE_FEE
from eth.vm.forks.prague.constants import BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE, MAX_BLOB_GAS_PER_BLOCK
from eth_bloom.bloom import BloomFilter
from eth_typing import BlockNumber, Hash32
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from chain.errors import ChainError, MalformedError
from chain.node.node import ExecutionRevertedError, Lru, Node, TransactionRefusedError, contract_address
from chain.seal import ExtraData, SealError, quorum, seal_hash, seal_signers, verify_seals

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
#: Largest request body accepted; larger ones get HTTP 413 before a byte of them is read.
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Most requests in one batch.
MAX_BATCH = 1000
#: Most blocks one eth_getLogs may scan, and most logs it may return.
MAX_LOG_RANGE = 5000
MAX_LOGS = 10_000
#: Most blocks one eth_feeHistory reports.
MAX_FEE_HISTORY = 1024
#: Deepest JSON nesting accepted in a body (a batched eth_getLogs with OR-ed topics nests 6 levels).
MAX_DEPTH = 32
#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT = 60.0
#: eth_call / eth_estimateGas results remembered, and the largest input and output worth remembering.
CALL_CACHE_ENTRIES = 4096
CALL_CACHE_MAX_BYTES = 16 * 1024

UINT256_LIMIT = 2**256
ZERO_ADDRESS = b"\0" * 20
BLOCK_TAGS = frozenset({"latest", "pending", "safe", "finalized", "earliest"})
_HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_JSON = "application/json"
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

try:
    CLIENT_VERSION = f"consortium-ledger/{version('consortium-ledger')}/py-evm"
except PackageNotFoundError:  # running from a checkout that was never installed
    CLIENT_VERSION = "consortium-ledger/unknown/py-evm"


# -- errors ---------------------------------------------------------------------------------------------------


class RpcError(ChainError):
    """A request the server refuses; its class decides the JSON-RPC error code (see ``_error_object``)."""


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


def _error_object(exc: BaseException) -> dict[str, Any]:
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
        return {"code": 3, "message": str(exc), "data": _hex(exc.data)}
    if isinstance(exc, TransactionRefusedError):
        return {"code": -32003, "message": f"transaction rejected: {exc.reason}"}
    if isinstance(exc, LimitExceededError):
        return {"code": -32005, "message": f"limit exceeded: {exc}"}
    if isinstance(exc, ValidationError):  # py-evm refused to run a call, e.g. a value the sender cannot afford
        return {"code": -32000, "message": str(exc)}
    log.error("internal error answering a JSON-RPC request", exc_info=exc)
    return {"code": -32603, "message": f"internal error: {exc.__class__.__name__}"}


# -- parameters -----------------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return (
        "null"
        if value is None
        else {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")
    )


def _quantity(value: object, what: str) -> int:
    """A uint256 given as hex (``0x1f``; leading zeros tolerated) or as a JSON integer."""
    if isinstance(value, str):
        if not _HEX_QUANTITY.fullmatch(value):
            raise InvalidParamsError(f"{what} must be a hex quantity below 2**256 such as 0x1f, got {value[:80]!r}")
        return int(value[2:], 16)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < UINT256_LIMIT:
            raise InvalidParamsError(f"{what} must be between 0 and 2**256 - 1")
        return value
    raise InvalidParamsError(f"{what} must be a hex quantity, got {_type_name(value)}")


def _data(value: object, what: str, length: int | None = None) -> bytes:
    """Bytes given as ``0x`` followed by an even number of hex digits; exactly ``length`` bytes if given."""
    if not isinstance(value, str):
        raise InvalidParamsError(f"{what} must be a 0x-prefixed hex string, got {_type_name(value)}")
    if not value.startswith("0x") or len(value) % 2:
        raise InvalidParamsError(f"{what} must be 0x followed by an even number of hex digits")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raw = b""
    if 2 * len(raw) != len(value) - 2:  # not hex, or whitespace that fromhex skipped
        raise InvalidParamsError(f"{what} must be 0x followed by hex digits only")
    if length is not None and len(raw) != length:
        raise InvalidParamsError(f"{what} must be {length} bytes, got {len(raw)}")
    return raw


def _address(value: object, what: str = "address") -> bytes:
    return _data(value, what, 20)


def _hash(value: object, what: str = "hash") -> bytes:
    return _data(value, what, 32)


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParamsError(f"{what} must be true or false, got {_type_name(value)}")
    return value


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParamsError(f"{what} must be an object, got {_type_name(value)}")
    return value


def _check_nesting(body: bytes) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH before parsing it.

    The json module's C parser recurses once per level, and py-evm raises the recursion limit to 100,000 on
    import (EVM call depth), so a body of 100,000 ``[`` would overflow the C stack and kill the process.
    Strings are dropped, then innermost bracket pairs peeled off one level per pass.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(MAX_DEPTH):
        peeled = _INNERMOST_PAIR.sub(b"", brackets)
        if not peeled:
            return
        if peeled == brackets:
            raise ParseError("unbalanced brackets")
        brackets = peeled
    raise InvalidRequestError(f"JSON nested deeper than {MAX_DEPTH} levels")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class CallArgs:
    """The parts of a transaction call object that execution depends on."""

    sender: bytes
    to: bytes
    data: bytes
    value: int
    gas: int | None

    @classmethod
    def parse(cls, value: object) -> CallArgs:
        obj = _object(value, "transaction call object")
        sender = _address(obj["from"], "from") if obj.get("from") is not None else ZERO_ADDRESS
        to = _address(obj["to"], "to") if obj.get("to") is not None else b""
        data = _data(obj["data"], "data") if obj.get("data") is not None else None
        given = _data(obj["input"], "input") if obj.get("input") is not None else None
        if data is not None and given is not None and data != given:
            raise InvalidParamsError("both data and input given, and they differ")
        amount = _quantity(obj["value"], "value") if obj.get("value") is not None else 0
        gas = _quantity(obj["gas"], "gas") if obj.get("gas") is not None else None
        for key in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "maxFeePerBlobGas", "nonce", "type", "chainId"):
            if obj.get(key) is not None:
                _quantity(obj[key], key)  # accepted and ignored: gas is free and calls need no nonce
        if obj.get("accessList") is not None and not isinstance(obj["accessList"], list):
            raise InvalidParamsError("accessList must be an array")
        payload = data if data is not None else given if given is not None else b""
        return cls(sender, to, payload, amount, gas)


@dataclass(frozen=True, slots=True)
class LogFilter:
    """An eth_getLogs filter: addresses (None: any) and per-position topic alternatives (None: any)."""

    addresses: frozenset[bytes] | None
    topics: tuple[frozenset[bytes] | None, ...]

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> LogFilter:
        raw_address = obj.get("address")
        addresses: frozenset[bytes] | None = None
        if isinstance(raw_address, list):
            addresses = frozenset(_address(a, "address") for a in raw_address) or None
        elif raw_address is not None:
            addresses = frozenset({_address(raw_address, "address")})
        raw_topics = obj.get("topics")
        if raw_topics is None:
            raw_topics = []
        if not isinstance(raw_topics, list) or len(raw_topics) > 4:
            raise InvalidParamsError("topics must be an array of at most 4 entries")
        topics: list[frozenset[bytes] | None] = []
        for position in raw_topics:
            if position is None:
                topics.append(None)
            elif isinstance(position, list):
                options = [_hash(t, "topic") if t is not None else None for t in position]
                topics.append(None if not options or None in options else frozenset(t for t in options if t))
            else:
                topics.append(frozenset({_hash(position, "topic")}))
        return cls(addresses, tuple(topics))  # trailing nulls stay: [A, null] wants 2 topics at least, as in geth

    def bloom_masks(self) -> list[list[int]]:
        """Per required group (address, then each constrained topic), the bloom masks of its alternatives."""
        groups = ([self.addresses] if self.addresses is not None else []) + [t for t in self.topics if t is not None]
        return [[int(BloomFilter.from_iterable([value])) for value in group] for group in groups]

    def matches(self, address: bytes, topics: tuple[bytes, ...]) -> bool:
        if self.addresses is not None and address not in self.addresses:
            return False
        if len(topics) < len(self.topics):
            return False
        return all(options is None or topic in options for options, topic in zip(self.topics, topics, strict=False))


# -- formatting -----------------------------------------------------------------------------------------------


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _topic(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@dataclass(frozen=True, slots=True)
class _BlockReceipts:
    """A block's receipts, with the block-wide index of each one's first log."""

    receipts: list[ReceiptAPI]
    first_logs: list[int]

    @classmethod
    def of(cls, receipts: list[ReceiptAPI]) -> _BlockReceipts:
        return cls(receipts, [0, *itertools.accumulate(len(r.logs) for r in receipts)])


@dataclass(frozen=True, slots=True)
class _Reverted:
    """A cached revert, raised again on a cache hit."""

    data: bytes
    message: str


# -- the server -----------------------------------------------------------------------------------------------


class RpcServer:
    """JSON-RPC 2.0 over HTTP for ``node``; ``handle`` is the transport-free core."""

    def __init__(
        self,
        node: Node,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        metrics: Callable[[], str] | None = None,
    ) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.metrics = metrics
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._senders: Lru[bytes, bytes] = Lru(65_536)
        self._receipts: Lru[bytes, _BlockReceipts] = Lru(256)
        self._calls: Lru[tuple[Any, ...], bytes | int | _Reverted] = Lru(CALL_CACHE_ENTRIES)
        self._methods: dict[str, tuple[Callable[..., Any], int, int]] = {
            # name: (implementation, required params, optional params)
            "web3_clientVersion": (self._client_version, 0, 0),
            "web3_sha3": (self._sha3, 1, 0),
            "net_version": (self._net_version, 0, 0),
            "net_listening": (self._true, 0, 0),
            "net_peerCount": (self._zero, 0, 0),
            "eth_chainId": (self._chain_id, 0, 0),
            "eth_syncing": (self._false, 0, 0),
            "eth_mining": (self._false, 0, 0),
            "eth_accounts": (self._no_accounts, 0, 0),
            "eth_blockNumber": (self._block_number, 0, 0),
            "eth_gasPrice": (self._zero, 0, 0),
            "eth_maxPriorityFeePerGas": (self._zero, 0, 0),
            "eth_blobBaseFee": (self._blob_base_fee, 0, 0),
            "eth_feeHistory": (self._fee_history, 2, 1),
            "eth_getBlockByNumber": (self._get_block_by_number, 1, 1),
            "eth_getBlockByHash": (self._get_block_by_hash, 1, 1),
            "eth_getBlockTransactionCountByNumber": (self._tx_count_by_number, 1, 0),
            "eth_getBlockTransactionCountByHash": (self._tx_count_by_hash, 1, 0),
            "eth_getTransactionByHash": (self._get_transaction, 1, 0),
            "eth_getTransactionByBlockNumberAndIndex": (self._tx_by_number_and_index, 2, 0),
            "eth_getTransactionByBlockHashAndIndex": (self._tx_by_hash_and_index, 2, 0),
            "eth_getTransactionReceipt": (self._get_receipt, 1, 0),
            "eth_getBlockReceipts": (self._get_block_receipts, 1, 0),
            "eth_getTransactionCount": (self._get_transaction_count, 1, 1),
            "eth_getBalance": (self._get_balance, 1, 1),
            "eth_getCode": (self._get_code, 1, 1),
            "eth_getStorageAt": (self._get_storage_at, 2, 1),
            "eth_call": (self._call, 1, 2),
            "eth_estimateGas": (self._estimate_gas, 1, 2),
            "eth_sendRawTransaction": (self._send_raw_transaction, 1, 0),
            "eth_getLogs": (self._get_logs, 1, 0),
            "consortium_validators": (self._validators, 0, 1),
            "consortium_getSeals": (self._get_seals, 0, 1),
        }

    # -- JSON-RPC ---------------------------------------------------------------------------------------------

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self._methods)

    def handle(self, body: bytes) -> bytes | None:
        """Answer a JSON-RPC body (one request or a batch); None when it held only notifications."""
        try:
            try:
                text = body.decode("utf-8")
                _check_nesting(body)
                request = json.loads(text, parse_constant=_reject_constant)
            except RecursionError as exc:
                raise InvalidRequestError(f"JSON nested deeper than {MAX_DEPTH} levels") from exc
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of too many digits
                raise ParseError(str(exc)) from exc
            if isinstance(request, list):
                if not request:
                    raise InvalidRequestError("empty batch")
                if len(request) > MAX_BATCH:
                    raise InvalidRequestError(f"a batch may hold at most {MAX_BATCH} requests, got {len(request)}")
                answers = [a for a in (self._answer(r) for r in request) if a is not None]
                return _dump(answers) if answers else None
            answer = self._answer(request)
            return None if answer is None else _dump(answer)
        except Exception as exc:  # a whole-body failure: parse error, bad batch, or a bug
            return _dump({"jsonrpc": "2.0", "id": None, "error": _error_object(exc)})

    def _answer(self, request: object) -> dict[str, Any] | None:
        """The response object to one request; None for a notification."""
        request_id: Any = None
        try:
            if not isinstance(request, dict):
                raise InvalidRequestError(f"a request must be an object, got {_type_name(request)}")
            given_id = request.get("id")
            if given_id is not None and (
                isinstance(given_id, bool)
                or not isinstance(given_id, str | int | float)
                or (isinstance(given_id, float) and not math.isfinite(given_id))
            ):
                raise InvalidRequestError("id must be a string, a number or null")
            request_id = given_id
            if request.get("jsonrpc") != "2.0":
                raise InvalidRequestError('jsonrpc must be exactly "2.0"')
            method = request.get("method")
            if not isinstance(method, str):
                raise InvalidRequestError("method must be a string")
            params = request.get("params")
            if params is None:
                params = []
            elif isinstance(params, dict):
                raise InvalidParamsError("params must be an array (by-name params are not supported)")
            elif not isinstance(params, list):
                raise InvalidRequestError("params must be an array")
        except Exception as exc:
            return {"jsonrpc": "2.0", "id": request_id, "error": _error_object(exc)}
        notification = "id" not in request
        try:
            result = self._dispatch(method, params)
        except Exception as exc:
            return None if notification else {"jsonrpc": "2.0", "id": request_id, "error": _error_object(exc)}
        return None if notification else {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        entry = self._methods.get(method)
        if entry is None:
            raise MethodNotFoundError(f"{method[:100]!r} is not a method of this node")
        function, required, optional = entry
        if len(params) < required:
            raise InvalidParamsError(f"{method} needs {required} param(s), got {len(params)}")
        if len(params) > required + optional:
            raise InvalidParamsError(f"{method} takes at most {required + optional} param(s), got {len(params)}")
        return function(*params)

    # -- block and state resolution ---------------------------------------------------------------------------

    def _number(self, tag: object, head: int) -> int:
        """A block number for a tag or a quantity (which may lie beyond the head)."""
        if isinstance(tag, str) and tag in BLOCK_TAGS:
            return 0 if tag == "earliest" else head
        return _quantity(tag, "block number")

    def _header_at(self, tag: object) -> BlockHeaderAPI:
        """The header named by a block tag, a number, or an EIP-1898 object; unknown blocks are invalid."""
        if tag is None:
            tag = "latest"
        with self.node.lock:
            head = self.node.head()
            if isinstance(tag, dict):
                unknown = set(tag) - {"blockHash", "blockNumber", "requireCanonical"}
                if unknown or ("blockHash" in tag) == ("blockNumber" in tag):
                    raise InvalidParamsError("a block object holds either blockHash or blockNumber")
                if tag.get("requireCanonical") is not None:
                    _bool(tag["requireCanonical"], "requireCanonical")  # only canonical blocks are served anyway
                if "blockHash" in tag:
                    block = self.node.block_by_hash(_hash(tag["blockHash"], "blockHash"))
                    if block is None:
                        raise InvalidParamsError(f"unknown block {tag['blockHash']}")
                    return block.header
                tag = tag["blockNumber"]
            number = self._number(tag, head.block_number)
            if number == head.block_number:
                return head
            if number > head.block_number:
                raise InvalidParamsError(f"unknown block {number}: the head is {head.block_number}")
            return self.node.chain.get_canonical_block_header_by_number(BlockNumber(number))

    def _block_by_tag(self, tag: object) -> BlockAPI | None:
        if isinstance(tag, str) and tag in BLOCK_TAGS:
            with self.node.lock:
                return self.node.block_by_number(self._number(tag, self.node.head().block_number))
        return self.node.block_by_number(_quantity(tag, "block number"))

    def _sender(self, tx: SignedTransactionAPI) -> bytes:
        """The recovered sender; signature recovery is slow, so remember it per transaction hash."""
        sender = self._senders.get(tx.hash)
        if sender is None:
            sender = bytes(tx.sender)
            self._senders.put(tx.hash, sender)
        return sender

    def _block_receipts(self, block: BlockAPI) -> _BlockReceipts:
        receipts = self._receipts.get(block.hash)
        if receipts is None:
            with self.node.lock:
                receipts = _BlockReceipts.of(list(block.get_receipts(self.node.chain.chaindb)))
            self._receipts.put(block.hash, receipts)
        return receipts

    # -- formatting -------------------------------------------------------------------------------------------

    def _block_json(self, block: BlockAPI, full: bool) -> dict[str, Any]:
        h: Any = block.header  # a Prague header: every post-merge field is present
        transactions: list[Any] = (
            [self._tx_json(tx, block, i) for i, tx in enumerate(block.transactions)]
            if full
            else [_hex(tx.hash) for tx in block.transactions]
        )
        return {
            "number": hex(h.block_number),
            "hash": _hex(h.hash),
            "parentHash": _hex(h.parent_hash),
            "nonce": _hex(h.nonce),
            "mixHash": _hex(h.mix_hash),
            "sha3Uncles": _hex(h.uncles_hash),
            "logsBloom": _hex(h.bloom.to_bytes(256, "big")),
            "transactionsRoot": _hex(h.transaction_root),
            "stateRoot": _hex(h.state_root),
            "receiptsRoot": _hex(h.receipt_root),
            "miner": _hex(h.coinbase),
            "difficulty": hex(h.difficulty),
            "totalDifficulty": "0x0",
            "extraData": _hex(h.extra_data),
            "size": hex(len(rlp.encode(block))),
            "gasLimit": hex(h.gas_limit),
            "gasUsed": hex(h.gas_used),
            "timestamp": hex(h.timestamp),
            "transactions": transactions,
            "uncles": [_hex(u.hash) for u in block.uncles],
            "baseFeePerGas": hex(h.base_fee_per_gas),
            "withdrawalsRoot": _hex(h.withdrawals_root),
            "withdrawals": [],
            "blobGasUsed": hex(h.blob_gas_used),
            "excessBlobGas": hex(h.excess_blob_gas),
            "parentBeaconBlockRoot": _hex(h.parent_beacon_block_root),
            "requestsHash": _hex(h.requests_hash),
        }

    def _tx_json(self, signed: SignedTransactionAPI, block: BlockAPI | None, index: int | None) -> dict[str, Any]:
        tx: Any = signed  # which fields exist depends on the transaction type
        type_id = tx.type_id or 0
        out: dict[str, Any] = {
            "type": hex(type_id),
            "hash": _hex(tx.hash),
            "nonce": hex(tx.nonce),
            "blockHash": None if block is None else _hex(block.hash),
            "blockNumber": None if block is None else hex(block.number),
            "transactionIndex": None if index is None else hex(index),
            "from": _hex(self._sender(signed)),
            "to": _hex(tx.to) if tx.to else None,
            "value": hex(tx.value),
            "gas": hex(tx.gas),
            "input": _hex(tx.data),
        }
        if type_id == 0:
            out["gasPrice"] = hex(tx.gas_price)
            if tx.chain_id is not None:
                out["chainId"] = hex(tx.chain_id)
            out.update(v=hex(tx.v), r=hex(tx.r), s=hex(tx.s))
            return out
        out.update(chainId=hex(tx.chain_id), yParity=hex(tx.y_parity), v=hex(tx.y_parity), r=hex(tx.r), s=hex(tx.s))
        out["accessList"] = [
            {"address": _hex(address), "storageKeys": [_topic(slot) for slot in slots]}
            for address, slots in tx.access_list
        ]
        if type_id == 1:
            out["gasPrice"] = hex(tx.gas_price)
            return out
        out["maxFeePerGas"] = hex(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = hex(tx.max_priority_fee_per_gas)
        out["gasPrice"] = hex(self._effective_gas_price(tx, block))
        if type_id == 3:
            out["maxFeePerBlobGas"] = hex(tx.max_fee_per_blob_gas)
            out["blobVersionedHashes"] = [_hex(h) for h in tx.blob_versioned_hashes]
        if type_id == 4:
            out["authorizationList"] = [
                {
                    "chainId": hex(a.chain_id),
                    "address": _hex(a.address),
                    "nonce": hex(a.nonce),
                    "yParity": hex(a.y_parity),
                    "r": hex(a.r),
                    "s": hex(a.s),
                }
                for a in tx.authorization_list
            ]
        return out

    @staticmethod
    def _effective_gas_price(signed: SignedTransactionAPI, block: BlockAPI | None) -> int:
        tx: Any = signed
        if not tx.type_id or tx.type_id == 1:
            return int(tx.gas_price)
        if block is None:  # pending: what it may pay at most, as geth reports
            return int(tx.max_fee_per_gas)
        base_fee = block.header.base_fee_per_gas or 0
        return min(int(tx.max_fee_per_gas), base_fee + int(tx.max_priority_fee_per_gas))

    def _receipt_json(self, block: BlockAPI, index: int, block_receipts: _BlockReceipts) -> dict[str, Any]:
        tx = block.transactions[index]
        receipts = block_receipts.receipts
        receipt = receipts[index]
        previous = receipts[index - 1].gas_used if index else 0
        first_log = block_receipts.first_logs[index]
        sender = self._sender(tx)
        out: dict[str, Any] = {
            "type": hex(tx.type_id or 0),
            "status": "0x1" if receipt.state_root == b"\x01" else "0x0",
            "transactionHash": _hex(tx.hash),
            "transactionIndex": hex(index),
            "blockHash": _hex(block.hash),
            "blockNumber": hex(block.number),
            "from": _hex(sender),
            "to": _hex(tx.to) if tx.to else None,
            "contractAddress": None if tx.to else _hex(contract_address(sender, tx.nonce)),
            "cumulativeGasUsed": hex(receipt.gas_used),
            "gasUsed": hex(receipt.gas_used - previous),
            "effectiveGasPrice": hex(self._effective_gas_price(tx, block)),
            "logs": [
                self._log_json(block, index, tx.hash, first_log + i, entry.address, entry.topics, entry.data)
                for i, entry in enumerate(receipt.logs)
            ],
            "logsBloom": _hex(receipt.bloom.to_bytes(256, "big")),
        }
        if tx.type_id == 3:
            out["blobGasUsed"] = hex(GAS_PER_BLOB * len(tx.blob_versioned_hashes))
            out["blobGasPrice"] = hex(_blob_base_fee(block.header))
        return out

    @staticmethod
    def _log_json(
        block: BlockAPI, tx_index: int, tx_hash: bytes, log_index: int, address: bytes, topics: Any, data: bytes
    ) -> dict[str, Any]:
        return {
            "address": _hex(address),
            "topics": [_topic(t) for t in topics],
            "data": _hex(data),
            "blockNumber": hex(block.number),
            "blockHash": _hex(block.hash),
            "blockTimestamp": hex(block.header.timestamp),
            "transactionHash": _hex(tx_hash),
            "transactionIndex": hex(tx_index),
            "logIndex": hex(log_index),
            "removed": False,
        }

    # -- methods: node and fees -------------------------------------------------------------------------------

    @staticmethod
    def _client_version() -> str:
        return CLIENT_VERSION

    @staticmethod
    def _sha3(data: object) -> str:
        return _hex(keccak(_data(data, "data")))

    def _net_version(self) -> str:
        return str(self.node.chain_id)

    def _chain_id(self) -> str:
        return hex(self.node.chain_id)

    @staticmethod
    def _true() -> bool:
        return True

    @staticmethod
    def _false() -> bool:
        return False

    @staticmethod
    def _zero() -> str:
        return "0x0"

    @staticmethod
    def _no_accounts() -> list[str]:
        return []

    def _block_number(self) -> str:
        return hex(self.node.head().block_number)

    def _blob_base_fee(self) -> str:
        return hex(_blob_base_fee(self.node.head()))

    def _fee_history(self, count: object, newest: object, percentiles: object = None) -> dict[str, Any]:
        blocks = _quantity(count, "block count")
        if percentiles is not None:
            if not isinstance(percentiles, list) or not all(
                isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 100 for p in percentiles
            ):
                raise InvalidParamsError("reward percentiles must be an array of numbers from 0 to 100")
            if any(a > b for a, b in itertools.pairwise(percentiles)):
                raise InvalidParamsError("reward percentiles must not decrease")
        last = self._header_at(newest).block_number
        blocks = min(blocks, MAX_FEE_HISTORY, last + 1)
        if blocks == 0:
            return {"oldestBlock": "0x0", "baseFeePerGas": [], "gasUsedRatio": [], "reward": []}
        with self.node.lock:
            headers = [
                self.node.chain.get_canonical_block_header_by_number(BlockNumber(n))
                for n in range(last - blocks + 1, last + 1)
            ]
        out: dict[str, Any] = {
            "oldestBlock": hex(last - blocks + 1),
            "baseFeePerGas": [hex(h.base_fee_per_gas or 0) for h in headers] + ["0x0"],  # the next base fee is 0 too
            "gasUsedRatio": [h.gas_used / h.gas_limit if h.gas_limit else 0.0 for h in headers],
            "baseFeePerBlobGas": [hex(_blob_base_fee(h)) for h in headers] + [hex(MIN_BLOB_BASE_FEE)],
            "blobGasUsedRatio": [h.blob_gas_used / MAX_BLOB_GAS_PER_BLOCK for h in headers],
        }
        if percentiles is not None:
            out["reward"] = [["0x0"] * len(percentiles) for _ in headers]
        return out

    # -- methods: blocks, transactions, receipts --------------------------------------------------------------

    def _full_flag(self, full: object) -> bool:
        return False if full is None else _bool(full, "full transactions flag")

    def _get_block_by_number(self, tag: object, full: object = None) -> dict[str, Any] | None:
        wanted = self._full_flag(full)
        block = self._block_by_tag(tag)
        return None if block is None else self._block_json(block, wanted)

    def _get_block_by_hash(self, block_hash: object, full: object = None) -> dict[str, Any] | None:
        wanted = self._full_flag(full)
        block = self.node.block_by_hash(_hash(block_hash, "block hash"))
        return None if block is None else self._block_json(block, wanted)

    def _tx_count_by_number(self, tag: object) -> str | None:
        block = self._block_by_tag(tag)
        return None if block is None else hex(len(block.transactions))

    def _tx_count_by_hash(self, block_hash: object) -> str | None:
        block = self.node.block_by_hash(_hash(block_hash, "block hash"))
        return None if block is None else hex(len(block.transactions))

    def _tx_in_block(self, block: BlockAPI | None, index: object) -> dict[str, Any] | None:
        position = _quantity(index, "transaction index")
        if block is None or position >= len(block.transactions):
            return None
        return self._tx_json(block.transactions[position], block, position)

    def _tx_by_number_and_index(self, tag: object, index: object) -> dict[str, Any] | None:
        return self._tx_in_block(self._block_by_tag(tag), index)

    def _tx_by_hash_and_index(self, block_hash: object, index: object) -> dict[str, Any] | None:
        return self._tx_in_block(self.node.block_by_hash(_hash(block_hash, "block hash")), index)

    def _get_transaction(self, tx_hash: object) -> dict[str, Any] | None:
        wanted = _hash(tx_hash, "transaction hash")
        with self.node.lock:
            location = self.node.transaction_location(wanted)
            if location is None:
                pending = self.node.pending_transaction(wanted)
                return None if pending is None else self._tx_json(pending, None, None)
            block = self.node.block_by_number(location[0])
        if block is None:  # pragma: no cover - a located transaction's block is canonical
            return None
        return self._tx_json(block.transactions[location[1]], block, location[1])

    def _get_receipt(self, tx_hash: object) -> dict[str, Any] | None:
        wanted = _hash(tx_hash, "transaction hash")
        location = self.node.transaction_location(wanted)
        if location is None:
            return None
        block = self.node.block_by_number(location[0])
        if block is None:  # pragma: no cover - a located transaction's block is canonical
            return None
        return self._receipt_json(block, location[1], self._block_receipts(block))

    def _get_block_receipts(self, tag: object) -> list[dict[str, Any]] | None:
        if isinstance(tag, dict):
            block = self.node.block_by_number(self._header_at(tag).block_number)
        else:
            block = self._block_by_tag(tag)
        if block is None:
            return None
        receipts = self._block_receipts(block)
        return [self._receipt_json(block, i, receipts) for i in range(len(block.transactions))]

    # -- methods: state and execution -------------------------------------------------------------------------

    def _get_transaction_count(self, address: object, tag: object = None) -> str:
        account = _address(address)
        if tag == "pending":
            return hex(self.node.nonce(account, pending=True))
        with self.node.lock:
            return hex(self.node.nonce(account, header=self._header_at(tag)))

    def _get_balance(self, address: object, tag: object = None) -> str:
        account = _address(address)
        with self.node.lock:
            return hex(self.node.state_at(self._header_at(tag)).get_balance(account))

    def _get_code(self, address: object, tag: object = None) -> str:
        account = _address(address)
        with self.node.lock:
            return _hex(self.node.state_at(self._header_at(tag)).get_code(account))

    def _get_storage_at(self, address: object, slot: object, tag: object = None) -> str:
        account = _address(address)
        position = _quantity(slot, "storage slot")
        with self.node.lock:
            value = self.node.state_at(self._header_at(tag)).get_storage(account, position)
        return _topic(int(value))

    def _call(self, call: object, tag: object = None, overrides: object = None) -> str:
        args = CallArgs.parse(call)
        if overrides is not None:
            raise InvalidParamsError("state overrides are not supported")
        header = self._header_at(tag)
        gas = None if args.gas is None else min(args.gas, self.node.genesis.gas_limit)
        result = self._cached("call", header, args, gas)
        assert isinstance(result, bytes)
        return _hex(result)

    def _estimate_gas(self, call: object, tag: object = None, overrides: object = None) -> str:
        args = CallArgs.parse(call)
        if overrides is not None:
            raise InvalidParamsError("state overrides are not supported")
        result = self._cached("estimate", self._header_at(tag), args, None)
        assert isinstance(result, int)
        return hex(result)

    def _cached(self, kind: str, header: BlockHeaderAPI, args: CallArgs, gas: int | None) -> bytes | int:
        """Run a call or an estimate, remembering the answer.

        ``Node.call`` and ``Node.estimate_gas`` execute in a child of ``header`` stamped with the node clock's
        second, so their answer is a function of (header, that second, inputs): repeating it within the second
        is exact, and dashboards that poll the same views get the answer without running py-evm again.
        """
        second = int(self.node.clock())
        key = (kind, header.hash, second, args.sender, args.to, args.data, args.value, gas)
        cached = self._calls.get(key)
        if isinstance(cached, _Reverted):
            raise ExecutionRevertedError(cached.data, cached.message)
        if cached is not None:
            return cached
        answer: bytes | int | _Reverted
        try:
            if kind == "call":
                answer = self.node.call(args.sender, args.to, args.data, args.value, gas, header)
            else:
                answer = self.node.estimate_gas(args.sender, args.to, args.data, args.value, header)
        except ExecutionRevertedError as exc:
            answer = _Reverted(exc.data, str(exc))
        cacheable = len(args.data) <= CALL_CACHE_MAX_BYTES and (
            not isinstance(answer, bytes | _Reverted)
            or len(answer if isinstance(answer, bytes) else answer.data) <= CALL_CACHE_MAX_BYTES
        )
        if cacheable and int(self.node.clock()) == second:
            self._calls.put(key, answer)
        if isinstance(answer, _Reverted):
            raise ExecutionRevertedError(answer.data, answer.message)
        return answer

    def _send_raw_transaction(self, raw: object) -> str:
        return _hex(self.node.submit(_data(raw, "raw transaction")))

    # -- methods: logs ----------------------------------------------------------------------------------------

    def _get_logs(self, criteria: object) -> list[dict[str, Any]]:
        obj = _object(criteria, "filter")
        unknown = set(obj) - {"fromBlock", "toBlock", "blockHash", "address", "topics"}
        if unknown:
            raise InvalidParamsError(f"unknown filter field(s): {', '.join(sorted(unknown))[:200]}")
        wanted = LogFilter.parse(obj)
        if obj.get("blockHash") is not None:
            if obj.get("fromBlock") is not None or obj.get("toBlock") is not None:
                raise InvalidParamsError("blockHash cannot be combined with fromBlock or toBlock")
            block = self.node.block_by_hash(_hash(obj["blockHash"], "blockHash"))
            if block is None:
                raise InvalidParamsError(f"unknown block {obj['blockHash']}")
            return list(self._logs_in(block, wanted))
        head = self.node.head().block_number
        first = self._number("latest" if obj.get("fromBlock") is None else obj["fromBlock"], head)
        last = self._number("latest" if obj.get("toBlock") is None else obj["toBlock"], head)
        if first > last:
            raise InvalidParamsError(f"fromBlock {first} is after toBlock {last}")
        if last - first + 1 > MAX_LOG_RANGE:
            raise InvalidParamsError(
                f"a log query may span at most {MAX_LOG_RANGE} blocks, this one spans {last - first + 1}"
            )
        masks = wanted.bloom_masks()
        found: list[dict[str, Any]] = []
        for number in range(first, min(last, head) + 1):
            with self.node.lock:  # per block, so that sealing is not held up by a long scan
                header = self.node.chain.get_canonical_block_header_by_number(BlockNumber(number))
                bloom = header.bloom
                if not all(any(bloom & m == m for m in group) for group in masks):
                    continue
                block = self.node.chain.get_canonical_block_by_number(BlockNumber(number))
            found.extend(self._logs_in(block, wanted))
            if len(found) > MAX_LOGS:
                raise LimitExceededError(f"the query matches more than {MAX_LOGS} logs; narrow the block range")
        return found

    def _logs_in(self, block: BlockAPI, wanted: LogFilter) -> Iterator[dict[str, Any]]:
        log_index = 0
        for tx_index, (tx, receipt) in enumerate(
            zip(block.transactions, self._block_receipts(block).receipts, strict=True)
        ):
            for entry in receipt.logs:
                topics = tuple(t.to_bytes(32, "big") for t in entry.topics)
                if wanted.matches(entry.address, topics):
                    yield self._log_json(block, tx_index, tx.hash, log_index, entry.address, entry.topics, entry.data)
                log_index += 1

    # -- methods: consortium ----------------------------------------------------------------------------------

    def _validators(self, tag: object = None) -> list[str]:
        """The validator set named in a block's extra data: the set that seals the blocks after it."""
        header = self._header_at(tag)
        return [to_checksum_address(v) for v in ExtraData.from_bytes(header.extra_data).validators]

    def _get_seals(self, tag: object = None) -> dict[str, Any]:
        """Who sealed a block, checked against the validator set of its parent (genesis needs no seals)."""
        header = self._header_at(tag)
        extra = ExtraData.from_bytes(header.extra_data)
        if header.block_number == 0:
            validators, valid = extra.validators, True
        else:
            with self.node.lock:
                parent = self.node.chain.get_block_header_by_hash(Hash32(header.parent_hash))
            validators = ExtraData.from_bytes(parent.extra_data).validators
            try:
                verify_seals(header, validators)
                valid = True
            except SealError:
                valid = False
        return {
            "number": hex(header.block_number),
            "hash": _hex(header.hash),
            "sealHash": _hex(seal_hash(header)),
            "round": hex(extra.round),
            "validators": [to_checksum_address(v) for v in validators],
            "signers": [to_checksum_address(s) for s in seal_signers(header)],
            "quorum": quorum(len(validators)),
            "valid": valid,
        }

    # -- HTTP -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen and serve in a daemon thread; with port 0 the system picks a free port (see ``url``)."""
        if self._http is not None:
            raise ChainError("the JSON-RPC server is already running")
        server_class = _HttpServer6 if ":" in self.host else _HttpServer
        self._http = server_class((self.host, self.port), _Handler)
        self._http.rpc = self
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, name="json-rpc", daemon=True)
        self._thread.start()
        log.info("JSON-RPC listening on %s", self.url)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Stop listening and close open keep-alive connections."""
        if self._http is None:
            return
        self._http.shutdown()
        self._http.server_close()
        self._http.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http = None
        self._thread = None

    def health(self) -> bytes:
        return _dump({"head": self.node.head().block_number})


def _blob_base_fee(header: BlockHeaderAPI) -> int:
    return int(fake_exponential(MIN_BLOB_BASE_FEE, header.excess_blob_gas, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE))


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("ascii")


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    rpc: RpcServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up are routine; anything else is logged, never printed to stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("connection from %s dropped: %s", client_address, exc)
        else:
            log.error("JSON-RPC connection from %s failed", client_address, exc_info=exc)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "consortium-ledger"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str | None = None, allow: str | None = None) -> None:
        """One write per response: status line, headers and body (no Nagle stalls on keep-alive)."""
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Server: {self.server_version}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        if allow is not None:
            lines.append(f"Allow: {allow}")
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def _refuse(self, status: int, message: str, allow: str | None = None) -> None:
        self._send(status, message.encode() + b"\n", "text/plain; charset=utf-8", allow)

    def _content_length(self) -> int | None:
        """The declared body length; answers (and closes) and returns None when it is unusable or too large."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            self._refuse(411, "chunked bodies are not accepted: send Content-Length")
            return None
        declared = self.headers.get("Content-Length")
        if declared is None or not (declared.isascii() and declared.isdigit()):
            self.close_connection = True
            self._refuse(411, "Content-Length required")
            return None
        length = int(declared)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._refuse(413, f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes")
            return None
        return length

    def handle_expect_100(self) -> bool:
        if self.command == "POST" and self._content_length() is None:
            return False
        return super().handle_expect_100()

    def do_POST(self) -> None:
        length = self._content_length()
        if length is None:
            return
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        answer = self.server.rpc.handle(body)
        if answer is None:
            self._send(204, b"")
        else:
            self._send(200, answer, _JSON)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        rpc = self.server.rpc
        try:
            if path == "/health":
                self._send(200, rpc.health(), _JSON)
            elif path == "/metrics" and rpc.metrics is not None:
                self._send(200, rpc.metrics().encode(), _METRICS_CONTENT_TYPE)
            elif path == "/metrics":
                self._refuse(404, "this node exports no metrics")
            else:
                self._method_not_allowed()
        except Exception:
            log.exception("GET %s failed", path)
            self.close_connection = True
            self._refuse(500, "internal error")

    def _method_not_allowed(self) -> None:
        self.close_connection = True  # a body we did not read may follow
        self._refuse(405, "JSON-RPC takes POST; GET serves /health and /metrics only", allow="POST")

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _method_not_allowed
