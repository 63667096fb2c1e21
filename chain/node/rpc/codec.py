"""JSON-RPC values to and from the node's: parameter decoders (``parse_*``) and result encoders (``format_*``).

Follows the Ethereum execution-apis conventions (https://github.com/ethereum/execution-apis): quantities are
hex without leading zeros (decoders tolerate leading zeros and JSON integers), data is ``0x`` followed by an
even number of hex digits. A bad parameter raises InvalidParamsError naming it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import rlp
from eth._utils.calculations import fake_exponential
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.vm.forks.cancun.constants import GAS_PER_BLOB, MIN_BLOB_BASE_FEE
from eth.vm.forks.prague.constants import BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE
from eth_bloom.bloom import BloomFilter

from chain.ids import contract_address
from chain.node.rpc.errors import InvalidParamsError

UINT256_LIMIT = 2**256
ZERO_ADDRESS = b"\0" * 20
BLOCK_TAGS = frozenset({"latest", "pending", "safe", "finalized", "earliest"})
_HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")


# -- parameters -----------------------------------------------------------------------------------------------


def json_type(value: object) -> str:
    """The JSON type name of a decoded value, for error messages."""
    return (
        "null"
        if value is None
        else {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")
    )


def parse_quantity(value: object, what: str) -> int:
    """A uint256 given as hex (``0x1f``; leading zeros tolerated) or as a JSON integer."""
    if isinstance(value, str):
        if not _HEX_QUANTITY.fullmatch(value):
            raise InvalidParamsError(f"{what} must be a hex quantity below 2**256 such as 0x1f, got {value[:80]!r}")
        return int(value[2:], 16)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < UINT256_LIMIT:
            raise InvalidParamsError(f"{what} must be between 0 and 2**256 - 1")
        return value
    raise InvalidParamsError(f"{what} must be a hex quantity, got {json_type(value)}")


def parse_data(value: object, what: str, length: int | None = None) -> bytes:
    """Bytes given as ``0x`` followed by an even number of hex digits; exactly ``length`` bytes if given."""
    if not isinstance(value, str):
        raise InvalidParamsError(f"{what} must be a 0x-prefixed hex string, got {json_type(value)}")
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


def parse_address(value: object, what: str = "address") -> bytes:
    return parse_data(value, what, 20)


def parse_hash(value: object, what: str = "hash") -> bytes:
    return parse_data(value, what, 32)


def parse_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParamsError(f"{what} must be true or false, got {json_type(value)}")
    return value


def parse_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParamsError(f"{what} must be an object, got {json_type(value)}")
    return value


_HEX_KEY = re.compile(r"0x[0-9a-fA-F]{1,64}")


def parse_storage_key(value: object, what: str = "storage key") -> tuple[int, str]:
    """An ``eth_getProof`` storage key, and how the answer names it. As geth takes them: ``0x`` and 1 to 64 hex
    digits (a 32-byte word, or a quantity such as web3.py sends for an integer key). The answer echoes a 32-byte
    key as 64 hex digits and names a shorter one as a quantity, as geth does."""
    if not isinstance(value, str):
        raise InvalidParamsError(f"{what} must be a 0x-prefixed hex string, got {json_type(value)}")
    if not _HEX_KEY.fullmatch(value):
        raise InvalidParamsError(f"{what} must be 0x followed by 1 to 64 hex digits, got {value[:80]!r}")
    slot = int(value[2:], 16)
    digits = len(value) - 2
    return slot, format_word(slot) if (digits + 1) // 2 == 32 else hex(slot)


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
        obj = parse_object(value, "transaction call object")
        sender = parse_address(obj["from"], "from") if obj.get("from") is not None else ZERO_ADDRESS
        to = parse_address(obj["to"], "to") if obj.get("to") is not None else b""
        data = parse_data(obj["data"], "data") if obj.get("data") is not None else None
        given = parse_data(obj["input"], "input") if obj.get("input") is not None else None
        if data is not None and given is not None and data != given:
            raise InvalidParamsError("both data and input given, and they differ")
        amount = parse_quantity(obj["value"], "value") if obj.get("value") is not None else 0
        gas = parse_quantity(obj["gas"], "gas") if obj.get("gas") is not None else None
        for key in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "maxFeePerBlobGas", "nonce", "type", "chainId"):
            if obj.get(key) is not None:
                parse_quantity(obj[key], key)  # accepted and ignored: gas is free and calls need no nonce
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
            addresses = frozenset(parse_address(a, "address") for a in raw_address) or None
        elif raw_address is not None:
            addresses = frozenset({parse_address(raw_address, "address")})
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
                options = [parse_hash(t, "topic") if t is not None else None for t in position]
                topics.append(None if not options or None in options else frozenset(t for t in options if t))
            else:
                topics.append(frozenset({parse_hash(position, "topic")}))
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


# -- results --------------------------------------------------------------------------------------------------


def format_data(raw: bytes) -> str:
    return "0x" + raw.hex()


def format_word(value: int) -> str:
    """A 32-byte word (a topic, a storage value or slot) as 64 hex digits."""
    return "0x" + value.to_bytes(32, "big").hex()


def blob_base_fee(header: BlockHeaderAPI) -> int:
    return int(fake_exponential(MIN_BLOB_BASE_FEE, header.excess_blob_gas, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE))


@dataclass(frozen=True, slots=True)
class BlockReceipts:
    """A block's receipts, with the block-wide index of each one's first log."""

    receipts: list[ReceiptAPI]
    first_logs: list[int]

    @classmethod
    def of(cls, receipts: list[ReceiptAPI]) -> BlockReceipts:
        return cls(receipts, [0, *itertools.accumulate(len(r.logs) for r in receipts)])


# -- the result objects, as Ethereum clients read them (execution-apis' schemas) -------------------------------


class AccessListEntryJSON(TypedDict):
    address: str
    storageKeys: list[str]


class AuthorizationJSON(TypedDict):
    chainId: str
    address: str
    nonce: str
    yParity: str
    r: str
    s: str


#: A transaction object: the fields of every type, then those of its type (``gasPrice`` in each). Functional
#: form: ``from`` is a keyword.
TransactionJSON = TypedDict(
    "TransactionJSON",
    {
        "type": str,
        "hash": str,
        "nonce": str,
        "blockHash": str | None,
        "blockNumber": str | None,
        "transactionIndex": str | None,
        "from": str,
        "to": str | None,
        "value": str,
        "gas": str,
        "input": str,
        "gasPrice": NotRequired[str],
        "chainId": NotRequired[str],
        "yParity": NotRequired[str],
        "v": NotRequired[str],
        "r": NotRequired[str],
        "s": NotRequired[str],
        "accessList": NotRequired[list[AccessListEntryJSON]],
        "maxFeePerGas": NotRequired[str],
        "maxPriorityFeePerGas": NotRequired[str],
        "maxFeePerBlobGas": NotRequired[str],
        "blobVersionedHashes": NotRequired[list[str]],
        "authorizationList": NotRequired[list[AuthorizationJSON]],
    },
)


class BlockJSON(TypedDict):
    """A block object: ``transactions`` holds transaction objects, or only their hashes."""

    number: str
    hash: str
    parentHash: str
    nonce: str
    mixHash: str
    sha3Uncles: str
    logsBloom: str
    transactionsRoot: str
    stateRoot: str
    receiptsRoot: str
    miner: str
    difficulty: str
    totalDifficulty: str
    extraData: str
    size: str
    gasLimit: str
    gasUsed: str
    timestamp: str
    transactions: list[TransactionJSON] | list[str]
    uncles: list[str]
    baseFeePerGas: str
    withdrawalsRoot: str
    withdrawals: list[object]
    blobGasUsed: str
    excessBlobGas: str
    parentBeaconBlockRoot: str
    requestsHash: str


class LogJSON(TypedDict):
    address: str
    topics: list[str]
    data: str
    blockNumber: str
    blockHash: str
    blockTimestamp: str
    transactionHash: str
    transactionIndex: str
    logIndex: str
    removed: bool


#: A transaction receipt; a blob transaction's adds its blob gas. Functional form: ``from`` is a keyword.
TxReceiptJSON = TypedDict(
    "TxReceiptJSON",
    {
        "type": str,
        "status": str,
        "transactionHash": str,
        "transactionIndex": str,
        "blockHash": str,
        "blockNumber": str,
        "from": str,
        "to": str | None,
        "contractAddress": str | None,
        "cumulativeGasUsed": str,
        "gasUsed": str,
        "effectiveGasPrice": str,
        "logs": list[LogJSON],
        "logsBloom": str,
        "blobGasUsed": NotRequired[str],
        "blobGasPrice": NotRequired[str],
    },
)


def format_block(block: BlockAPI, full: bool, sender_of: Callable[[SignedTransactionAPI], bytes]) -> BlockJSON:
    """A block object; with ``full``, transaction objects (``sender_of`` gives their senders), else their hashes."""
    h: Any = block.header  # a Prague header: every post-merge field is present
    transactions: list[TransactionJSON] | list[str] = (
        [format_transaction(tx, block, i, sender_of(tx)) for i, tx in enumerate(block.transactions)]
        if full
        else [format_data(tx.hash) for tx in block.transactions]
    )
    return {
        "number": hex(h.block_number),
        "hash": format_data(h.hash),
        "parentHash": format_data(h.parent_hash),
        "nonce": format_data(h.nonce),
        "mixHash": format_data(h.mix_hash),
        "sha3Uncles": format_data(h.uncles_hash),
        "logsBloom": format_data(h.bloom.to_bytes(256, "big")),
        "transactionsRoot": format_data(h.transaction_root),
        "stateRoot": format_data(h.state_root),
        "receiptsRoot": format_data(h.receipt_root),
        "miner": format_data(h.coinbase),
        "difficulty": hex(h.difficulty),
        "totalDifficulty": "0x0",
        "extraData": format_data(h.extra_data),
        "size": hex(len(rlp.encode(block))),
        "gasLimit": hex(h.gas_limit),
        "gasUsed": hex(h.gas_used),
        "timestamp": hex(h.timestamp),
        "transactions": transactions,
        "uncles": [format_data(u.hash) for u in block.uncles],
        "baseFeePerGas": hex(h.base_fee_per_gas),
        "withdrawalsRoot": format_data(h.withdrawals_root),
        "withdrawals": [],
        "blobGasUsed": hex(h.blob_gas_used),
        "excessBlobGas": hex(h.excess_blob_gas),
        "parentBeaconBlockRoot": format_data(h.parent_beacon_block_root),
        "requestsHash": format_data(h.requests_hash),
    }


def format_transaction(
    signed: SignedTransactionAPI, block: BlockAPI | None, index: int | None, sender: bytes
) -> TransactionJSON:
    """A transaction object; ``block`` and ``index`` are None for a pending one."""
    tx: Any = signed  # which fields exist depends on the transaction type
    type_id = tx.type_id or 0
    out: TransactionJSON = {
        "type": hex(type_id),
        "hash": format_data(tx.hash),
        "nonce": hex(tx.nonce),
        "blockHash": None if block is None else format_data(block.hash),
        "blockNumber": None if block is None else hex(block.number),
        "transactionIndex": None if index is None else hex(index),
        "from": format_data(sender),
        "to": format_data(tx.to) if tx.to else None,
        "value": hex(tx.value),
        "gas": hex(tx.gas),
        "input": format_data(tx.data),
    }
    if type_id == 0:
        out["gasPrice"] = hex(tx.gas_price)
        if tx.chain_id is not None:
            out["chainId"] = hex(tx.chain_id)
        out["v"], out["r"], out["s"] = hex(tx.v), hex(tx.r), hex(tx.s)
        return out
    out["chainId"], out["yParity"] = hex(tx.chain_id), hex(tx.y_parity)
    out["v"], out["r"], out["s"] = hex(tx.y_parity), hex(tx.r), hex(tx.s)
    out["accessList"] = [
        {"address": format_data(address), "storageKeys": [format_word(slot) for slot in slots]}
        for address, slots in tx.access_list
    ]
    if type_id == 1:
        out["gasPrice"] = hex(tx.gas_price)
        return out
    out["maxFeePerGas"] = hex(tx.max_fee_per_gas)
    out["maxPriorityFeePerGas"] = hex(tx.max_priority_fee_per_gas)
    out["gasPrice"] = hex(effective_gas_price(tx, block))
    if type_id == 3:
        out["maxFeePerBlobGas"] = hex(tx.max_fee_per_blob_gas)
        out["blobVersionedHashes"] = [format_data(h) for h in tx.blob_versioned_hashes]
    if type_id == 4:
        out["authorizationList"] = [
            {
                "chainId": hex(a.chain_id),
                "address": format_data(a.address),
                "nonce": hex(a.nonce),
                "yParity": hex(a.y_parity),
                "r": hex(a.r),
                "s": hex(a.s),
            }
            for a in tx.authorization_list
        ]
    return out


def effective_gas_price(signed: SignedTransactionAPI, block: BlockAPI | None) -> int:
    tx: Any = signed
    if not tx.type_id or tx.type_id == 1:
        return int(tx.gas_price)
    if block is None:  # pending: what it may pay at most, as geth reports
        return int(tx.max_fee_per_gas)
    base_fee = block.header.base_fee_per_gas or 0
    return min(int(tx.max_fee_per_gas), base_fee + int(tx.max_priority_fee_per_gas))


def format_receipt(block: BlockAPI, index: int, block_receipts: BlockReceipts, sender: bytes) -> TxReceiptJSON:
    """The receipt of transaction ``index`` of ``block``, sent by ``sender``."""
    tx = block.transactions[index]
    receipts = block_receipts.receipts
    receipt = receipts[index]
    previous = receipts[index - 1].gas_used if index else 0
    first_log = block_receipts.first_logs[index]
    out: TxReceiptJSON = {
        "type": hex(tx.type_id or 0),
        "status": "0x1" if receipt.state_root == b"\x01" else "0x0",
        "transactionHash": format_data(tx.hash),
        "transactionIndex": hex(index),
        "blockHash": format_data(block.hash),
        "blockNumber": hex(block.number),
        "from": format_data(sender),
        "to": format_data(tx.to) if tx.to else None,
        "contractAddress": None if tx.to else format_data(contract_address(sender, tx.nonce)),
        "cumulativeGasUsed": hex(receipt.gas_used),
        "gasUsed": hex(receipt.gas_used - previous),
        "effectiveGasPrice": hex(effective_gas_price(tx, block)),
        "logs": [
            format_log(block, index, tx.hash, first_log + i, entry.address, entry.topics, entry.data)
            for i, entry in enumerate(receipt.logs)
        ],
        "logsBloom": format_data(receipt.bloom.to_bytes(256, "big")),
    }
    if tx.type_id == 3:
        out["blobGasUsed"] = hex(GAS_PER_BLOB * len(tx.blob_versioned_hashes))
        out["blobGasPrice"] = hex(blob_base_fee(block.header))
    return out


def format_log(
    block: BlockAPI, tx_index: int, tx_hash: bytes, log_index: int, address: bytes, topics: Any, data: bytes
) -> LogJSON:
    return {
        "address": format_data(address),
        "topics": [format_word(t) for t in topics],
        "data": format_data(data),
        "blockNumber": hex(block.number),
        "blockHash": format_data(block.hash),
        "blockTimestamp": hex(block.header.timestamp),
        "transactionHash": format_data(tx_hash),
        "transactionIndex": hex(tx_index),
        "logIndex": hex(log_index),
        "removed": False,
    }
