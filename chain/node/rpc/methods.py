"""The node's JSON-RPC methods: the Ethereum execution API (``web3_*``, ``net_*``, ``eth_*``) and the
``consortium_*`` reads of the validator set, block seals and the node's own status; ``qbft_getEquivocations``,
the evidence the node kept of validators that signed conflicting consensus messages.

Follows the Ethereum execution-apis conventions (https://github.com/ethereum/execution-apis): EIP-1898 block
parameters; blocks have instant finality, so ``safe``, ``finalized`` and ``pending`` read the head. Fees are free
(base fee 0), so gas price answers are 0. Parameters are decoded and results encoded by ``codec``; senders,
receipts and call answers are remembered by ``cache``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import NotRequired, TypedDict

from eth.abc import BlockAPI, BlockHeaderAPI
from eth.vm.forks.cancun.constants import MIN_BLOB_BASE_FEE
from eth.vm.forks.prague.constants import MAX_BLOB_GAS_PER_BLOCK
from eth_typing import BlockNumber, Hash32
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.node import stateproof
from chain.node.health import NodeStatus, NodeStatusJSON, alone_status
from chain.node.node import Node
from chain.node.rpc.cache import CallCache, ReceiptCache, SenderCache
from chain.node.rpc.codec import (
    BLOCK_TAGS,
    BlockJSON,
    CallArgs,
    LogFilter,
    LogJSON,
    TransactionJSON,
    TxReceiptJSON,
    blob_base_fee,
    format_block,
    format_data,
    format_log,
    format_receipt,
    format_transaction,
    format_word,
    json_type,
    parse_address,
    parse_bool,
    parse_data,
    parse_hash,
    parse_object,
    parse_quantity,
    parse_storage_key,
)
from chain.node.rpc.envelope import MethodTable
from chain.node.rpc.errors import InvalidParamsError, LimitExceededError
from chain.qbft.evidence import Equivocation, EquivocationJSON
from chain.seal import SealError, extra_data, quorum, seal_digest, seal_signers, verify_seals

#: Most blocks one eth_getLogs may scan, and most logs it may return.
MAX_LOG_RANGE = 5000
MAX_LOGS = 10_000
#: Most blocks one eth_feeHistory reports.
MAX_FEE_HISTORY = 1024
#: Most storage keys one eth_getProof proves: a few kilobytes of proof each, so about 1.5 MB at most.
MAX_PROOF_KEYS = 256


class FeeHistoryJSON(TypedDict):
    """``eth_feeHistory``'s result: the blob fields when any block is reported, ``reward`` when asked (or none)."""

    oldestBlock: str
    baseFeePerGas: list[str]
    gasUsedRatio: list[float]
    baseFeePerBlobGas: NotRequired[list[str]]
    blobGasUsedRatio: NotRequired[list[float]]
    reward: NotRequired[list[list[str]]]


class StorageProofJSON(TypedDict):
    key: str
    value: str
    proof: list[str]


class ProofJSON(TypedDict):
    """``eth_getProof``'s result (EIP-1186)."""

    address: str
    accountProof: list[str]
    balance: str
    codeHash: str
    nonce: str
    storageHash: str
    storageProof: list[StorageProofJSON]


class BlockSealsJSON(TypedDict):
    """``consortium_getSeals``'s result: who sealed a block, checked against its parent's validator set."""

    number: str
    hash: str
    sealHash: str
    round: str
    validators: list[str]
    signers: list[str]
    quorum: int
    valid: bool


try:
    CLIENT_VERSION = f"consortium-ledger/{version('consortium-ledger')}/py-evm"
except PackageNotFoundError:  # running from a checkout that was never installed
    CLIENT_VERSION = "consortium-ledger/unknown/py-evm"


class Methods:
    """The methods of one node; ``table`` is what the envelope dispatches on. ``status`` is the node's report on
    itself (its consensus loop's, given by whoever runs it); without one, the node seals alone."""

    def __init__(
        self,
        node: Node,
        status: Callable[[], NodeStatus] | None = None,
        equivocations: Callable[[], Sequence[Equivocation]] | None = None,
    ) -> None:
        self.node = node
        self.status: Callable[[], NodeStatus] = status or (lambda: alone_status(node))
        self.equivocations: Callable[[], Sequence[Equivocation]] = equivocations or tuple
        self._senders = SenderCache()
        self._receipts = ReceiptCache(node)
        self._calls = CallCache(node)

    def table(self) -> MethodTable:
        """Each method's name -> (implementation, required params, optional params)."""
        return {
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
            "eth_getProof": (self._get_proof, 2, 1),
            "eth_call": (self._call, 1, 2),
            "eth_estimateGas": (self._estimate_gas, 1, 2),
            "eth_sendRawTransaction": (self._send_raw_transaction, 1, 0),
            "eth_getLogs": (self._get_logs, 1, 0),
            "consortium_validators": (self._validators, 0, 1),
            "consortium_getSeals": (self._get_seals, 0, 1),
            "consortium_nodeStatus": (self._node_status, 0, 0),
            "qbft_getEquivocations": (self._get_equivocations, 0, 0),
        }

    # -- block and state resolution ---------------------------------------------------------------------------

    def _number(self, tag: object, head: int) -> int:
        """A block number for a tag or a quantity (which may lie beyond the head)."""
        if isinstance(tag, str) and tag in BLOCK_TAGS:
            return 0 if tag == "earliest" else head
        return parse_quantity(tag, "block number")

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
                    parse_bool(tag["requireCanonical"], "requireCanonical")  # only canonical blocks are served anyway
                if "blockHash" in tag:
                    block = self.node.block_by_hash(parse_hash(tag["blockHash"], "blockHash"))
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
        return self.node.block_by_number(parse_quantity(tag, "block number"))

    # -- methods: node and fees -------------------------------------------------------------------------------

    @staticmethod
    def _client_version() -> str:
        return CLIENT_VERSION

    @staticmethod
    def _sha3(data: object) -> str:
        return format_data(keccak(parse_data(data, "data")))

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
        return hex(blob_base_fee(self.node.head()))

    def _fee_history(self, count: object, newest: object, percentiles: object = None) -> FeeHistoryJSON:
        blocks = parse_quantity(count, "block count")
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
        out: FeeHistoryJSON = {
            "oldestBlock": hex(last - blocks + 1),
            "baseFeePerGas": [hex(h.base_fee_per_gas or 0) for h in headers] + ["0x0"],  # the next base fee is 0 too
            "gasUsedRatio": [h.gas_used / h.gas_limit if h.gas_limit else 0.0 for h in headers],
            "baseFeePerBlobGas": [hex(blob_base_fee(h)) for h in headers] + [hex(MIN_BLOB_BASE_FEE)],
            "blobGasUsedRatio": [h.blob_gas_used / MAX_BLOB_GAS_PER_BLOCK for h in headers],
        }
        if percentiles is not None:
            out["reward"] = [["0x0"] * len(percentiles) for _ in headers]
        return out

    # -- methods: blocks, transactions, receipts --------------------------------------------------------------

    def _full_flag(self, full: object) -> bool:
        return False if full is None else parse_bool(full, "full transactions flag")

    def _get_block_by_number(self, tag: object, full: object = None) -> BlockJSON | None:
        wanted = self._full_flag(full)
        block = self._block_by_tag(tag)
        return None if block is None else format_block(block, wanted, self._senders.sender)

    def _get_block_by_hash(self, block_hash: object, full: object = None) -> BlockJSON | None:
        wanted = self._full_flag(full)
        block = self.node.block_by_hash(parse_hash(block_hash, "block hash"))
        return None if block is None else format_block(block, wanted, self._senders.sender)

    def _tx_count_by_number(self, tag: object) -> str | None:
        block = self._block_by_tag(tag)
        return None if block is None else hex(len(block.transactions))

    def _tx_count_by_hash(self, block_hash: object) -> str | None:
        block = self.node.block_by_hash(parse_hash(block_hash, "block hash"))
        return None if block is None else hex(len(block.transactions))

    def _tx_in_block(self, block: BlockAPI | None, index: object) -> TransactionJSON | None:
        position = parse_quantity(index, "transaction index")
        if block is None or position >= len(block.transactions):
            return None
        tx = block.transactions[position]
        return format_transaction(tx, block, position, self._senders.sender(tx))

    def _tx_by_number_and_index(self, tag: object, index: object) -> TransactionJSON | None:
        return self._tx_in_block(self._block_by_tag(tag), index)

    def _tx_by_hash_and_index(self, block_hash: object, index: object) -> TransactionJSON | None:
        return self._tx_in_block(self.node.block_by_hash(parse_hash(block_hash, "block hash")), index)

    def _get_transaction(self, tx_hash: object) -> TransactionJSON | None:
        wanted = parse_hash(tx_hash, "transaction hash")
        with self.node.lock:
            location = self.node.transaction_location(wanted)
            if location is None:
                pending = self.node.pending_transaction(wanted)
                if pending is None:
                    return None
                return format_transaction(pending, None, None, self._senders.sender(pending))
            block = self.node.block_by_number(location[0])
        if block is None:  # pragma: no cover - a located transaction's block is canonical
            return None
        tx = block.transactions[location[1]]
        return format_transaction(tx, block, location[1], self._senders.sender(tx))

    def _get_receipt(self, tx_hash: object) -> TxReceiptJSON | None:
        wanted = parse_hash(tx_hash, "transaction hash")
        location = self.node.transaction_location(wanted)
        if location is None:
            return None
        block = self.node.block_by_number(location[0])
        if block is None:  # pragma: no cover - a located transaction's block is canonical
            return None
        tx = block.transactions[location[1]]
        return format_receipt(block, location[1], self._receipts.receipts(block), self._senders.sender(tx))

    def _get_block_receipts(self, tag: object) -> list[TxReceiptJSON] | None:
        if isinstance(tag, dict):
            block = self.node.block_by_number(self._header_at(tag).block_number)
        else:
            block = self._block_by_tag(tag)
        if block is None:
            return None
        receipts = self._receipts.receipts(block)
        return [format_receipt(block, i, receipts, self._senders.sender(tx)) for i, tx in enumerate(block.transactions)]

    # -- methods: state and execution -------------------------------------------------------------------------

    def _get_transaction_count(self, address: object, tag: object = None) -> str:
        account = parse_address(address)
        if tag == "pending":
            return hex(self.node.nonce(account, pending=True))
        with self.node.lock:
            return hex(self.node.nonce(account, header=self._header_at(tag)))

    def _get_balance(self, address: object, tag: object = None) -> str:
        account = parse_address(address)
        with self.node.lock:
            return hex(self.node.state_at(self._header_at(tag)).get_balance(account))

    def _get_code(self, address: object, tag: object = None) -> str:
        account = parse_address(address)
        with self.node.lock:
            return format_data(self.node.state_at(self._header_at(tag)).get_code(account))

    def _get_storage_at(self, address: object, slot: object, tag: object = None) -> str:
        account = parse_address(address)
        position = parse_quantity(slot, "storage slot")
        with self.node.lock:
            value = self.node.state_at(self._header_at(tag)).get_storage(account, position)
        return format_word(int(value))

    def _get_proof(self, address: object, keys: object, tag: object = None) -> ProofJSON:
        """EIP-1186: the account at a block, its storage slots ``keys``, and their Merkle proofs against the block's
        state root. Every parameter is checked before any state is read. Trie nodes are content-addressed and
        never deleted, so the proofs are made outside the node lock: sealing goes on meanwhile."""
        account = parse_address(address)
        if not isinstance(keys, list):
            raise InvalidParamsError(f"storage keys must be an array, got {json_type(keys)}")
        if len(keys) > MAX_PROOF_KEYS:
            raise InvalidParamsError(f"at most {MAX_PROOF_KEYS} storage keys per eth_getProof, got {len(keys)}")
        parsed = [parse_storage_key(key, f"storage key {i}") for i, key in enumerate(keys)]
        header = self._header_at(tag)
        proof = stateproof.prove(
            self.node.db, bytes(header.state_root), header.block_number, account, [slot for slot, _ in parsed]
        )
        return {
            "address": format_data(account),
            "accountProof": [format_data(node) for node in proof.proof],
            "balance": hex(proof.balance),
            "codeHash": format_data(proof.code_hash),
            "nonce": hex(proof.nonce),
            "storageHash": format_data(proof.storage_root),
            "storageProof": [
                {"key": name, "value": hex(slot.value), "proof": [format_data(node) for node in slot.proof]}
                for (_, name), slot in zip(parsed, proof.storage, strict=True)
            ],
        }

    def _call(self, call: object, tag: object = None, overrides: object = None) -> str:
        args = CallArgs.parse(call)
        if overrides is not None:
            raise InvalidParamsError("state overrides are not supported")
        header = self._header_at(tag)
        gas = None if args.gas is None else min(args.gas, self.node.genesis.gas_limit)
        result = self._calls.run("call", header, args, gas)
        assert isinstance(result, bytes)
        return format_data(result)

    def _estimate_gas(self, call: object, tag: object = None, overrides: object = None) -> str:
        args = CallArgs.parse(call)
        if overrides is not None:
            raise InvalidParamsError("state overrides are not supported")
        result = self._calls.run("estimate", self._header_at(tag), args, None)
        assert isinstance(result, int)
        return hex(result)

    def _send_raw_transaction(self, raw: object) -> str:
        return format_data(self.node.submit(parse_data(raw, "raw transaction")))

    # -- methods: logs ----------------------------------------------------------------------------------------

    def _get_logs(self, criteria: object) -> list[LogJSON]:
        obj = parse_object(criteria, "filter")
        unknown = set(obj) - {"fromBlock", "toBlock", "blockHash", "address", "topics"}
        if unknown:
            raise InvalidParamsError(f"unknown filter field(s): {', '.join(sorted(unknown))[:200]}")
        wanted = LogFilter.parse(obj)
        if obj.get("blockHash") is not None:
            if obj.get("fromBlock") is not None or obj.get("toBlock") is not None:
                raise InvalidParamsError("blockHash cannot be combined with fromBlock or toBlock")
            block = self.node.block_by_hash(parse_hash(obj["blockHash"], "blockHash"))
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
        found: list[LogJSON] = []
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

    def _logs_in(self, block: BlockAPI, wanted: LogFilter) -> Iterator[LogJSON]:
        log_index = 0
        for tx_index, (tx, receipt) in enumerate(
            zip(block.transactions, self._receipts.receipts(block).receipts, strict=True)
        ):
            for entry in receipt.logs:
                topics = tuple(t.to_bytes(32, "big") for t in entry.topics)
                if wanted.matches(entry.address, topics):
                    yield format_log(block, tx_index, tx.hash, log_index, entry.address, entry.topics, entry.data)
                log_index += 1

    # -- methods: consortium ----------------------------------------------------------------------------------

    def _validators(self, tag: object = None) -> list[str]:
        """The validator set named in a block's extra data: the set that seals the blocks after it."""
        header = self._header_at(tag)
        return [to_checksum_address(v) for v in extra_data(header).validators]

    def _get_seals(self, tag: object = None) -> BlockSealsJSON:
        """Who sealed a block, checked against the validator set of its parent (genesis needs no seals)."""
        header = self._header_at(tag)
        extra = extra_data(header)
        if header.block_number == 0:
            validators, valid = extra.validators, True
        else:
            with self.node.lock:
                parent = self.node.chain.get_block_header_by_hash(Hash32(header.parent_hash))
            validators = extra_data(parent).validators
            try:
                verify_seals(header, validators)
                valid = True
            except SealError:
                valid = False
        return {
            "number": hex(header.block_number),
            "hash": format_data(header.hash),
            "sealHash": format_data(seal_digest(header)),
            "round": hex(extra.round),
            "validators": [to_checksum_address(v) for v in validators],
            "signers": [to_checksum_address(s) for s in seal_signers(header)],
            "quorum": quorum(len(validators)),
            "valid": valid,
        }

    def _node_status(self) -> NodeStatusJSON:
        """This node's head, mode, QBFT height and round, validator set, peers, health and counters (the
        definitions are in ``chain.node.health``)."""
        return self.status().to_json()

    def _get_equivocations(self) -> list[EquivocationJSON]:
        """The evidence this node kept of validators that signed two conflicting QBFT messages for one height,
        round and type (``chain.qbft.evidence``): each record with both messages' bodies as received, for
        ``verify_equivocation``. A node sealing alone keeps none."""
        return [record.to_json() for record in self.equivocations()]
