"""chain.node.rpc: JSON-RPC 2.0 through ``handle()`` and over real HTTP on a free loopback port, web3.py on top.

A small consortium is built through the RPC itself: the operator deploys ConsortiumRegistry and AuditAnchor
from their committed artifacts with eth_sendRawTransaction, bootstraps two members and anchors checkpoints,
so that blocks, receipts, logs and state all have something to show.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth.abc import AtomicDatabaseAPI
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import HTTPProvider, Web3
from web3.exceptions import ExtraDataLengthError, Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware

from chain.backend import RpcBackend, block_hash, head_number, read_errors
from chain.errors import BackendError
from chain.ids import Role, name_to_bytes32
from chain.node.node import Genesis, Node
from chain.node.rpc import CLIENT_VERSION, MAX_BODY_BYTES, MAX_LOG_RANGE, RpcServer
from chain.node.rpc import methods as rpc_methods
from contracts import load_artifact

CHAIN_ID = 20261
W3 = Web3()
ERROR_CODES = {3, -32000, -32005, -32600, -32601, -32602, -32603, -32700}
ANCHORED = "0x" + keccak(text="Anchored(bytes32,uint64,string,bytes32,bytes32,bytes32)").hex()


def sign(account: LocalAccount, nonce: int, to: str | None, data: bytes | str = b"", gas: int = 6_000_000) -> str:
    tx: dict[str, Any] = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "to": to or b"",
        "data": data,
        "value": 0,
        "type": 2,
    }
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def deploy_data(name: str, *args: Any) -> str:
    art = load_artifact(name)
    return str(W3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction)


def encode(name: str, fn: str, *args: Any) -> str:
    return str(W3.eth.contract(abi=load_artifact(name).abi).encode_abi(fn, args=list(args)))


def topic(text: str) -> str:
    return "0x" + keccak(text=text).hex()


def uint_topic(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


@dataclass
class World:
    """A node with the registry and AuditAnchor deployed through the RPC; blocks 1-4 hold the set-up."""

    node: Node
    rpc: RpcServer
    accounts: dict[str, LocalAccount]
    registry: str = ""
    anchor: str = ""
    tx: dict[str, str] = field(default_factory=dict)
    next_id: int = 0

    def request(self, method: str, *params: Any) -> dict[str, Any]:
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)})
        answer = self.rpc.handle(body.encode())
        assert answer is not None
        doc: dict[str, Any] = json.loads(answer)
        assert doc["id"] == self.next_id and doc["jsonrpc"] == "2.0"
        return doc

    def result(self, method: str, *params: Any) -> Any:
        doc = self.request(method, *params)
        assert "error" not in doc, doc
        return doc["result"]

    def error(self, method: str, *params: Any) -> dict[str, Any]:
        doc = self.request(method, *params)
        assert "result" not in doc, doc
        error: dict[str, Any] = doc["error"]
        return error

    def send(self, name: str, raw: str) -> str:
        tx_hash: str = self.result("eth_sendRawTransaction", raw)
        self.tx[name] = tx_hash
        return tx_hash

    def seal(self) -> None:
        assert self.node.seal() is not None

    def nonce(self, who: str) -> int:
        return int(self.result("eth_getTransactionCount", self.accounts[who].address, "pending"), 16)


def build_world(db: AtomicDatabaseAPI | None = None) -> World:
    """The world, in memory unless ``db`` is given."""
    accounts = {name: Account.create() for name in ("op", "alpha", "outsider")}
    op, alpha = accounts["op"], accounts["alpha"]
    genesis = Genesis(CHAIN_ID, (op.address,), op.address, int(time.time()) - 1000)
    node = Node(AtomicDB() if db is None else db, genesis, bytes(op.key))
    world = World(node, RpcServer(node), accounts)
    world.registry = Web3.to_checksum_address(genesis.registry_address)
    world.send("deploy_registry", sign(op, 0, None, deploy_data("ConsortiumRegistry", 1, 86400)))
    for nonce, (org, who, roles) in enumerate(
        [
            ("op", op.address, Role.MEMBER | Role.OPERATOR | Role.NOTARY),
            ("alpha", alpha.address, Role.MEMBER | Role.NOTARY),
        ],
        1,
    ):
        fingerprint = bytes([nonce]) * 32
        call = encode(
            "ConsortiumRegistry", "bootstrap_member", name_to_bytes32(org), org, int(roles), fingerprint, [who]
        )
        world.send(f"bootstrap_{org}", sign(op, nonce, world.registry, call))
    world.send("finish", sign(op, 3, world.registry, encode("ConsortiumRegistry", "finish_bootstrap")))
    world.seal()  # block 1
    world.send("deploy_anchor", sign(op, 4, None, deploy_data("AuditAnchor", world.registry, False)))
    world.seal()  # block 2
    receipt = world.result("eth_getTransactionReceipt", world.tx["deploy_anchor"])
    world.anchor = Web3.to_checksum_address(receipt["contractAddress"])
    anchor_a1 = encode("AuditAnchor", "anchor", "origin-a", 1, b"\xaa" * 32, b"\xa1" * 32)
    anchor_b1 = encode("AuditAnchor", "anchor", "origin-b", 1, b"\xbb" * 32, b"\xb1" * 32)
    world.send("anchor_a1", sign(op, 5, world.anchor, anchor_a1))
    world.send("anchor_b1", sign(alpha, 0, world.anchor, anchor_b1))
    world.seal()  # block 3
    anchor_a2 = encode("AuditAnchor", "anchor", "origin-a", 2, b"\xab" * 32, b"\xa2" * 32)
    world.send("anchor_a2", sign(op, 6, world.anchor, anchor_a2))
    world.seal()  # block 4
    return world


@pytest.fixture(scope="module")
def world() -> World:
    """Shared, read-only: tests that add transactions build their own."""
    return build_world()


@pytest.fixture
def fresh() -> World:
    return build_world()


def assert_well_formed(answer: bytes | None, internal_errors: bool = False) -> None:
    """A JSON-RPC response or batch of responses: strict JSON, one of result/error, known error codes, and no
    internal error (a bug) unless allowed."""
    if answer is None:
        return

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in the output")

    doc = json.loads(answer.decode("ascii"), parse_constant=no_constants)
    items = doc if isinstance(doc, list) else [doc]
    assert items, "an empty batch answer must be omitted, not sent"
    for item in items:
        assert isinstance(item, dict) and item["jsonrpc"] == "2.0" and "id" in item
        assert set(item) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), item
        if "error" in item:
            error = item["error"]
            assert isinstance(error["code"], int) and error["code"] in ERROR_CODES, error
            assert internal_errors or error["code"] != -32603, error
            assert isinstance(error["message"], str) and error["message"]
            assert set(error) <= {"code", "message", "data"}


def lock_is_free(node: Node) -> bool:
    """Whether another thread can take the node lock (an RLock would let this thread in regardless)."""
    free: list[bool] = []

    def probe() -> None:
        acquired = node.lock.acquire(timeout=5)
        free.append(acquired)
        if acquired:
            node.lock.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return free == [True]


# -- happy paths through handle() --------------------------------------------------------------------------------


def test_node_identity_and_fee_answers(world: World) -> None:
    assert world.result("web3_clientVersion") == CLIENT_VERSION
    assert CLIENT_VERSION.startswith("consortium-ledger/") and CLIENT_VERSION.endswith("/py-evm")
    assert world.result("net_version") == str(CHAIN_ID)
    assert world.result("eth_chainId") == hex(CHAIN_ID)
    assert world.result("eth_blockNumber") == "0x4"
    assert world.result("eth_syncing") is False
    assert world.result("eth_gasPrice") == "0x0"
    assert world.result("eth_maxPriorityFeePerGas") == "0x0"
    assert world.result("eth_accounts") == []
    assert world.result("net_listening") is True
    assert world.result("web3_sha3", "0x68656c6c6f") == "0x" + keccak(b"hello").hex()


def test_fee_history_has_the_right_shape(world: World) -> None:
    history = world.result("eth_feeHistory", "0x3", "latest", [25, 75])
    assert history["oldestBlock"] == "0x2"
    assert history["baseFeePerGas"] == ["0x0"] * 4
    assert len(history["gasUsedRatio"]) == 3 and all(0 <= r <= 1 for r in history["gasUsedRatio"])
    assert history["reward"] == [["0x0", "0x0"]] * 3
    assert len(history["baseFeePerBlobGas"]) == 4 and len(history["blobGasUsedRatio"]) == 3
    everything = world.result("eth_feeHistory", 100, "0x1")
    assert everything["oldestBlock"] == "0x0" and len(everything["gasUsedRatio"]) == 2 and "reward" not in everything
    assert world.error("eth_feeHistory", "0x1", "latest", [50, 10])["code"] == -32602


def test_blocks_look_like_what_web3_expects(world: World) -> None:
    block = world.result("eth_getBlockByNumber", "latest", False)
    expected = {
        "number", "hash", "parentHash", "nonce", "sha3Uncles", "logsBloom", "transactionsRoot", "stateRoot",
        "receiptsRoot", "miner", "difficulty", "totalDifficulty", "extraData", "size", "gasLimit", "gasUsed",
        "timestamp", "transactions", "uncles", "baseFeePerGas", "withdrawalsRoot", "withdrawals", "blobGasUsed",
        "excessBlobGas", "parentBeaconBlockRoot", "requestsHash", "mixHash",
    }  # fmt: skip
    assert expected <= set(block)
    header = world.node.head()
    assert block["number"] == "0x4" and block["hash"] == "0x" + header.hash.hex()
    assert block["transactions"] == [world.tx["anchor_a2"]]
    assert block["baseFeePerGas"] == "0x0" and block["withdrawals"] == [] and block["uncles"] == []
    assert block["miner"].lower() == world.accounts["op"].address.lower()
    assert int(block["size"], 16) > 500 and int(block["gasUsed"], 16) > 21000
    by_hash = world.result("eth_getBlockByHash", block["hash"], False)
    assert by_hash == block
    for tag in ("pending", "safe", "finalized"):
        assert world.result("eth_getBlockByNumber", tag, False)["hash"] == block["hash"]
    genesis = world.result("eth_getBlockByNumber", "earliest", False)
    assert genesis["number"] == "0x0" and genesis["transactions"] == []
    assert block["parentHash"] == world.result("eth_getBlockByNumber", "0x3", False)["hash"]
    assert world.result("eth_getBlockByNumber", "0x99", False) is None
    assert world.result("eth_getBlockByHash", "0x" + "ab" * 32, True) is None
    assert world.result("eth_getBlockTransactionCountByNumber", "0x3") == "0x2"
    assert world.result("eth_getBlockTransactionCountByHash", block["hash"]) == "0x1"


def test_full_blocks_carry_typed_transactions(world: World) -> None:
    block = world.result("eth_getBlockByNumber", "0x3", True)
    first, second = block["transactions"]
    assert first["hash"] == world.tx["anchor_a1"] and second["hash"] == world.tx["anchor_b1"]
    assert first["from"].lower() == world.accounts["op"].address.lower()
    assert second["from"].lower() == world.accounts["alpha"].address.lower()
    assert first["to"].lower() == world.anchor.lower()
    assert first["blockHash"] == block["hash"] and first["blockNumber"] == "0x3"
    assert (first["transactionIndex"], second["transactionIndex"]) == ("0x0", "0x1")
    assert first["type"] == "0x2" and first["chainId"] == hex(CHAIN_ID)
    assert first["gasPrice"] == first["maxFeePerGas"] == first["maxPriorityFeePerGas"] == "0x0"
    assert first["accessList"] == [] and first["v"] == first["yParity"] and first["yParity"] in ("0x0", "0x1")
    assert first["nonce"] == "0x5" and first["gas"] == hex(6_000_000) and first["value"] == "0x0"
    assert first["input"].startswith(encode("AuditAnchor", "anchor", "origin-a", 1, b"\xaa" * 32, b"\xa1" * 32)[:10])
    assert world.result("eth_getTransactionByHash", world.tx["anchor_b1"]) == second
    assert world.result("eth_getTransactionByBlockNumberAndIndex", "0x3", "0x1") == second
    assert world.result("eth_getTransactionByBlockHashAndIndex", block["hash"], "0x0") == first
    assert world.result("eth_getTransactionByBlockNumberAndIndex", "0x3", "0x2") is None
    assert world.result("eth_getTransactionByHash", "0x" + "00" * 32) is None


def test_a_deployment_reads_back_through_receipt_and_code(world: World) -> None:
    receipt = world.result("eth_getTransactionReceipt", world.tx["deploy_registry"])
    assert receipt["status"] == "0x1" and receipt["type"] == "0x2"
    assert receipt["contractAddress"].lower() == world.registry.lower() and receipt["to"] is None
    assert receipt["blockNumber"] == "0x1" and receipt["transactionIndex"] == "0x0"
    assert receipt["gasUsed"] == receipt["cumulativeGasUsed"] and receipt["effectiveGasPrice"] == "0x0"
    code = world.result("eth_getCode", world.registry, "latest")
    creation = {"from": world.accounts["op"].address, "data": deploy_data("AuditAnchor", world.registry, False)}
    runtime = world.result("eth_call", creation)
    assert len(code) > 1000 and runtime.startswith("0x") and len(runtime) > 1000
    assert world.result("eth_getCode", world.registry, "earliest") == "0x"
    assert world.result("eth_getCode", world.anchor, {"blockNumber": "0x1"}) == "0x"
    anchor_code = world.result("eth_getCode", world.anchor)
    assert world.result("eth_getCode", world.anchor, {"blockNumber": "0x2"}) == anchor_code


def test_receipts_account_gas_and_logs_per_transaction(world: World) -> None:
    first = world.result("eth_getTransactionReceipt", world.tx["anchor_a1"])
    second = world.result("eth_getTransactionReceipt", world.tx["anchor_b1"])
    assert first["contractAddress"] is None and first["to"].lower() == world.anchor.lower()
    assert int(second["cumulativeGasUsed"], 16) == int(first["gasUsed"], 16) + int(second["gasUsed"], 16)
    (log_a,), (log_b,) = first["logs"], second["logs"]
    assert (log_a["logIndex"], log_b["logIndex"]) == ("0x0", "0x1")
    assert log_a["topics"] == [ANCHORED, "0x" + keccak(text="origin-a").hex(), uint_topic(1)]
    assert log_b["transactionHash"] == world.tx["anchor_b1"] and log_b["transactionIndex"] == "0x1"
    assert log_b["blockHash"] == first["blockHash"] and log_b["removed"] is False
    assert len(first["logsBloom"]) == 2 + 512
    assert world.result("eth_getBlockReceipts", "0x3") == [first, second]
    assert world.result("eth_getTransactionReceipt", "0x" + "00" * 32) is None


def test_state_reads_at_tags_numbers_and_block_hashes(world: World) -> None:
    op = world.accounts["op"].address
    assert world.result("eth_getTransactionCount", op, "latest") == "0x7"
    assert world.result("eth_getTransactionCount", op, "earliest") == "0x0"
    assert world.result("eth_getTransactionCount", op, "0x1") == "0x4"
    block1 = world.result("eth_getBlockByNumber", "0x1", False)["hash"]
    assert world.result("eth_getTransactionCount", op, {"blockHash": block1, "requireCanonical": True}) == "0x4"
    assert world.result("eth_getBalance", op, "latest") == "0x0"
    assert world.result("eth_getBalance", op) == "0x0"
    # AuditAnchor's storage: slot 0 holds the registry address (its first variable)
    slot0 = world.result("eth_getStorageAt", world.anchor, "0x0", "latest")
    assert len(slot0) == 66 and slot0.endswith(world.registry[2:].lower())
    assert world.result("eth_getStorageAt", world.anchor, "0x" + "00" * 32, "latest") == slot0
    assert world.result("eth_getStorageAt", world.anchor, "0x0", "0x1") == "0x" + "00" * 32


def test_call_and_estimate(world: World) -> None:
    count = world.result("eth_call", {"to": world.anchor, "data": encode("AuditAnchor", "anchor_count", "origin-a")})
    assert int(count, 16) == 2
    earlier = world.result(
        "eth_call", {"to": world.anchor, "input": encode("AuditAnchor", "anchor_count", "origin-a")}, "0x3"
    )
    assert int(earlier, 16) == 1
    data = encode("AuditAnchor", "anchor", "x", 1, b"\1" * 32, b"\2" * 32)
    gas = world.result("eth_estimateGas", {"from": world.accounts["op"].address, "to": world.anchor, "data": data})
    assert 21_000 < int(gas, 16) < 1_000_000
    origin_count = {"to": world.anchor, "data": encode("AuditAnchor", "origin_count")}
    repeated = [world.result("eth_call", origin_count) for _ in range(3)]
    assert len(set(repeated)) == 1 and int(repeated[0], 16) == 2


def test_logs_by_address_topics_and_range(world: World) -> None:
    def logs(criteria: dict[str, Any]) -> list[tuple[str, str]]:
        return [(entry["transactionHash"], entry["logIndex"]) for entry in world.result("eth_getLogs", criteria)]

    a1, b1, a2 = world.tx["anchor_a1"], world.tx["anchor_b1"], world.tx["anchor_a2"]
    everything = {"fromBlock": "earliest", "toBlock": "latest"}
    assert logs({**everything, "address": world.anchor}) == [(a1, "0x0"), (b1, "0x1"), (a2, "0x0")]
    origin_a, origin_b = topic("origin-a"), topic("origin-b")
    assert logs({**everything, "topics": [ANCHORED, origin_a]}) == [(a1, "0x0"), (a2, "0x0")]
    assert logs({**everything, "topics": [None, [origin_b, origin_a]]}) == [(a1, "0x0"), (b1, "0x1"), (a2, "0x0")]
    assert logs({**everything, "topics": [None, None, uint_topic(2)]}) == [(a2, "0x0")]
    assert logs({**everything, "topics": [[], [origin_b]]}) == [(b1, "0x1")]
    assert logs({**everything, "topics": [ANCHORED, None, None]}) == [(a1, "0x0"), (b1, "0x1"), (a2, "0x0")]
    assert logs({**everything, "topics": [ANCHORED, None, None, None]}) == []  # Anchored has 3 topics
    registry_logs = logs({**everything, "address": [world.registry]})
    set_up = {world.tx["bootstrap_op"], world.tx["bootstrap_alpha"], world.tx["finish"]}
    assert registry_logs and {tx_hash for tx_hash, _ in registry_logs} == set_up
    assert len(logs({**everything, "address": [world.registry, world.anchor]})) == len(registry_logs) + 3
    assert logs({"fromBlock": "0x3", "toBlock": "0x3"}) == [(a1, "0x0"), (b1, "0x1")]
    assert logs({"fromBlock": 4}) == [(a2, "0x0")]
    assert logs({}) == [(a2, "0x0")]  # latest only
    block3 = world.result("eth_getBlockByNumber", "0x3", False)["hash"]
    assert logs({"blockHash": block3, "topics": [ANCHORED, origin_b]}) == [(b1, "0x1")]
    assert logs({**everything, "address": world.accounts["op"].address}) == []
    assert logs({"fromBlock": "0x2", "toBlock": "0x50"}) == [(a1, "0x0"), (b1, "0x1"), (a2, "0x0")]
    assert logs({**everything, "topics": [topic("Nothing()")]}) == []


def test_consortium_validators_and_seals(world: World) -> None:
    op = world.accounts["op"].address
    assert world.result("consortium_validators") == [op]
    assert world.result("consortium_validators", "earliest") == [op]
    seals = world.result("consortium_getSeals", "0x2")
    assert seals["number"] == "0x2" and seals["hash"] == world.result("eth_getBlockByNumber", "0x2", False)["hash"]
    assert seals["validators"] == [op] and seals["signers"] == [op]
    assert seals["quorum"] == 1 and seals["valid"] is True and seals["round"] == "0x0"
    # Besu's rule: the seals sign the header with the commit round in, seals out; in round 0 that is the hash
    assert seals["sealHash"] == seals["hash"]
    genesis = world.result("consortium_getSeals", "earliest")
    assert genesis["signers"] == [] and genesis["valid"] is True
    assert world.result("consortium_getSeals")["number"] == "0x4"


def test_pending_transactions_and_pending_nonces(fresh: World) -> None:
    op = fresh.accounts["op"]
    data = encode("AuditAnchor", "anchor", "origin-c", 1, b"\1" * 32, b"\2" * 32)
    tx_hash = fresh.send("pending", sign(op, 7, fresh.anchor, data))
    pending = fresh.result("eth_getTransactionByHash", tx_hash)
    assert pending["blockHash"] is None and pending["blockNumber"] is None and pending["transactionIndex"] is None
    assert pending["from"].lower() == op.address.lower() and pending["nonce"] == "0x7"
    assert fresh.result("eth_getTransactionReceipt", tx_hash) is None
    assert fresh.result("eth_getTransactionCount", op.address, "pending") == "0x8"
    assert fresh.result("eth_getTransactionCount", op.address, "latest") == "0x7"
    fresh.seal()
    mined = fresh.result("eth_getTransactionByHash", tx_hash)
    assert mined["blockNumber"] == "0x5" and mined["transactionIndex"] == "0x0"
    assert fresh.result("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"


def test_calls_see_each_new_block_despite_the_call_cache(fresh: World) -> None:
    count = {"to": fresh.anchor, "data": encode("AuditAnchor", "anchor_count", "origin-e")}
    assert int(fresh.result("eth_call", count), 16) == 0
    data = encode("AuditAnchor", "anchor", "origin-e", 1, b"\1" * 32, b"\2" * 32)
    fresh.send("origin-e", sign(fresh.accounts["op"], 7, fresh.anchor, data))
    assert int(fresh.result("eth_call", count), 16) == 0  # pending transactions do not count
    fresh.seal()
    assert int(fresh.result("eth_call", count), 16) == 1
    assert int(fresh.result("eth_call", count, "0x4"), 16) == 0


def test_an_estimate_is_enough_gas_for_the_real_transaction(fresh: World) -> None:
    op = fresh.accounts["op"]
    data = encode("AuditAnchor", "anchor", "origin-d", 1, b"\1" * 32, b"\2" * 32)
    gas = int(fresh.result("eth_estimateGas", {"from": op.address, "to": fresh.anchor, "data": data}), 16)
    tx_hash = fresh.send("estimated", sign(op, 7, fresh.anchor, data, gas=gas))
    fresh.seal()
    assert fresh.result("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"


# -- errors through handle() -------------------------------------------------------------------------------------


def nested(depth: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(depth):
        value = [value]
    return value


def error_of(rpc: RpcServer, body: bytes) -> dict[str, Any]:
    answer = rpc.handle(body)
    assert_well_formed(answer)
    assert answer is not None
    doc: dict[str, Any] = json.loads(answer)
    assert "error" in doc, doc
    return doc


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", -32700),
        (b"", -32700),
        (b"not json", -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["\xff\xfe"]}', -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[NaN]}', -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[' + b"1" * 5000 + b"]}", -32700),
        (b"1", -32600),
        (b'"eth_chainId"', -32600),
        (b"null", -32600),
        (b"[]", -32600),
        (b"[" * 100_000 + b"]" * 100_000, -32600),  # would overflow the C stack: py-evm raises the recursion limit
        (b"[" * 100_000, -32700),
        (json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": nested(40)}).encode(), -32600),
        (b'{"jsonrpc":"2.0","id":true,"method":"eth_chainId"}', -32600),
        (b'{"jsonrpc":"2.0","id":{"a":1},"method":"eth_chainId"}', -32600),
        (b'{"jsonrpc":"2.0","id":[1],"method":"eth_chainId"}', -32600),
        (b'{"jsonrpc":"2.0","id":1e400,"method":"eth_chainId"}', -32600),
    ],
)
def test_malformed_bodies_get_a_null_id_error(world: World, body: bytes, code: int) -> None:
    doc = error_of(world.rpc, body)
    assert doc["error"]["code"] == code and doc["id"] is None


def test_brackets_inside_strings_do_not_count_as_nesting(world: World) -> None:
    text = '\\"[{' * 50 + "\\"
    request = {"jsonrpc": "2.0", "id": 1, "method": "web3_sha3", "params": ["0x"], "note": text, "deep": nested(20)}
    answer = world.rpc.handle(json.dumps(request).encode())
    assert answer is not None and json.loads(answer)["result"] == "0x" + keccak(b"").hex()


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"id": 7, "method": "eth_chainId"}, -32600),
        ({"jsonrpc": "1.0", "id": 7, "method": "eth_chainId"}, -32600),
        ({"jsonrpc": "2.0", "id": 7}, -32600),
        ({"jsonrpc": "2.0", "id": 7, "method": 5}, -32600),
        ({"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": 5}, -32600),
        ({"jsonrpc": "2.0", "id": 7, "method": "eth_getBalance", "params": {"address": "0x" + "00" * 20}}, -32602),
        ({"jsonrpc": "2.0", "id": 7, "method": "eth_nope"}, -32601),
        ({"jsonrpc": "2.0", "id": 7, "method": "admin_addPeer", "params": []}, -32601),
    ],
)
def test_invalid_requests_echo_their_id(world: World, request_: dict[str, Any], code: int) -> None:
    doc = error_of(world.rpc, json.dumps(request_).encode())
    assert doc["error"]["code"] == code and doc["id"] == 7


ADDRESS = "0x" + "11" * 20


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getBalance", [123]),
        ("eth_getBalance", [None]),
        ("eth_getBalance", []),
        ("eth_getBalance", [ADDRESS, "latest", "extra"]),
        ("eth_getBalance", ["0x" + "11" * 19]),
        ("eth_getBalance", ["0x" + "11" * 21]),
        ("eth_getBalance", ["11" * 20]),
        ("eth_getBalance", ["0x" + "zz" * 20]),
        ("eth_getBalance", ["0x" + "1" * 39]),
        ("eth_getBalance", ["0x" + "11" * 19 + " 1"]),
        ("eth_getBalance", [ADDRESS, "0x99"]),
        ("eth_getBalance", [ADDRESS, "newest"]),
        ("eth_getBalance", [ADDRESS, "-0x1"]),
        ("eth_getBalance", [ADDRESS, -1]),
        ("eth_getBalance", [ADDRESS, True]),
        ("eth_getBalance", [ADDRESS, "0x"]),
        ("eth_getBalance", [ADDRESS, "0x1_0"]),
        ("eth_getBalance", [ADDRESS, {"blockHash": "0x" + "00" * 32}]),
        ("eth_getBalance", [ADDRESS, {"blockHash": "0x" + "00" * 32, "blockNumber": "0x1"}]),
        ("eth_getBalance", [ADDRESS, {"blockNumber": "0x1", "requireCanonical": "yes"}]),
        ("eth_getStorageAt", [ADDRESS, "0x1" + "0" * 64, "latest"]),
        ("eth_getStorageAt", [ADDRESS, 2**256, "latest"]),
        ("eth_getStorageAt", [ADDRESS, 1.5, "latest"]),
        ("eth_getBlockByNumber", ["latest", "yes"]),
        ("eth_getBlockByNumber", [[]]),
        ("eth_getBlockByHash", ["0x1234", False]),
        ("eth_getTransactionByHash", ["0x" + "00" * 31]),
        ("eth_getTransactionReceipt", [42]),
        ("eth_call", ["not an object"]),
        ("eth_call", [{"to": ADDRESS, "data": "0x123"}]),
        ("eth_call", [{"to": ADDRESS, "data": "0x12", "input": "0x34"}]),
        ("eth_call", [{"to": ADDRESS, "value": "-1"}]),
        ("eth_call", [{"to": ADDRESS}, "latest", {ADDRESS: {"balance": "0x1"}}]),
        ("eth_estimateGas", [{"to": ADDRESS, "gas": "0x" + "f" * 65}]),
        ("eth_sendRawTransaction", ["0x02deadbeef"]),
        ("eth_sendRawTransaction", ["0x"]),
        ("eth_sendRawTransaction", [b"raw".hex()]),
        ("eth_getLogs", ["latest"]),
        ("eth_getLogs", [{"fromBlock": "0x3", "toBlock": "0x1"}]),
        ("eth_getLogs", [{"blockHash": "0x" + "00" * 32}]),
        ("eth_getLogs", [{"blockHash": "0x" + "00" * 32, "fromBlock": "0x1"}]),
        ("eth_getLogs", [{"topics": [None, None, None, None, None]}]),
        ("eth_getLogs", [{"topics": ["0x12"]}]),
        ("eth_getLogs", [{"address": ["0x12"]}]),
        ("eth_getLogs", [{"fromBlock": "0x0", "toBlok": "0x1"}]),
        ("eth_feeHistory", ["0x1", "0x99"]),
        ("eth_feeHistory", ["0x1", "latest", "50"]),
        ("web3_sha3", ["hello"]),
        ("consortium_getSeals", ["0x99"]),
        ("consortium_validators", [{"blockHash": "0x" + "00" * 32}]),
    ],
)
def test_invalid_params(world: World, method: str, params: list[Any]) -> None:
    error = world.error(method, *params)
    assert error["code"] == -32602, error
    assert error["message"].startswith("invalid params: ")


def test_a_huge_log_range_is_refused_naming_the_limit(world: World) -> None:
    error = world.error("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(10_000_000)})
    assert error["code"] == -32602 and str(MAX_LOG_RANGE) in error["message"]
    assert world.error("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(MAX_LOG_RANGE)})["code"] == -32602
    assert world.result("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(MAX_LOG_RANGE - 1)})


def test_a_revert_is_code_3_with_the_revert_data(world: World) -> None:
    call = {"to": world.registry, "data": encode("ConsortiumRegistry", "finish_bootstrap")}
    for method in ("eth_call", "eth_estimateGas"):
        for _ in range(2):  # the second answer comes from the call cache and must be the same error
            error = world.error(method, call)
            assert error["code"] == 3 and error["message"] == "execution reverted: bootstrap finished"
            assert error["data"].startswith("0x08c379a0") and bytes.fromhex(error["data"][2:]).endswith(
                b"bootstrap finished" + b"\0" * 14
            )


def test_a_revert_without_data_says_execution_reverted(world: World) -> None:
    """Regression: a REVERT without data was reported as py-evm's formatted Revert(b'')."""
    error = world.error("eth_call", {"to": world.registry, "data": "0xdeadbeef"})  # Vyper: no such method
    assert error["code"] == 3 and error["data"] == "0x"
    assert error["message"] == "execution reverted"


def test_too_many_logs_is_a_limit_error(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpc_methods, "MAX_LOGS", 2)
    error = world.error("eth_getLogs", {"fromBlock": "0x0", "address": world.anchor})
    assert error["code"] == -32005 and "narrow the block range" in error["message"]


def test_a_bug_is_an_internal_error_without_details(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise KeyError("secret detail")

    monkeypatch.setitem(world.rpc._methods, "eth_chainId", (broken, 0, 0))
    error = world.error("eth_chainId")
    assert error == {"code": -32603, "message": "internal error: KeyError"}
    assert lock_is_free(world.node)


def test_calls_the_evm_refuses_are_server_errors(world: World) -> None:
    poor = world.error("eth_call", {"to": world.anchor, "value": "0x1"})
    assert poor["code"] == -32000 and "balance" in poor["message"]
    assert world.error("eth_call", {"to": world.anchor, "gas": "0x1"})["code"] == -32000


def test_a_refused_sender_is_32000_with_the_reason_and_the_mempool_is_unchanged(fresh: World) -> None:
    """A transaction refused before the mempool answers -32000 with the node's sentence, as geth and Besu do."""
    outsider = fresh.accounts["outsider"]
    before = dict(fresh.node.mempool.pending)
    error = fresh.error("eth_sendRawTransaction", sign(outsider, 0, fresh.anchor, "0x"))
    assert error == {
        "code": -32000,
        "message": f"transaction rejected: sender {outsider.address} is not an account of a consortium member",
    }
    alpha = fresh.accounts["alpha"]
    deploy = fresh.error(
        "eth_sendRawTransaction", sign(alpha, 1, None, deploy_data("AuditAnchor", fresh.registry, False))
    )
    assert deploy["code"] == -32000 and "reserved to the operator" in deploy["message"]
    wrong_nonce = fresh.error("eth_sendRawTransaction", sign(alpha, 9, fresh.anchor, "0x"))
    assert wrong_nonce["code"] == -32000 and "nonce 9 is not the next nonce 1" in wrong_nonce["message"]
    assert fresh.node.mempool.pending == before
    raw = sign(alpha, 1, fresh.anchor, "0x")
    fresh.result("eth_sendRawTransaction", raw)
    assert "already known" in fresh.error("eth_sendRawTransaction", raw)["message"]
    assert lock_is_free(fresh.node)


# -- batches and notifications -----------------------------------------------------------------------------------


def test_batches_answer_each_request_but_notifications(world: World) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},  # notification: no entry
        {"jsonrpc": "2.0", "id": "two", "method": "eth_nope"},
        5,
        {"jsonrpc": "2.0", "id": None, "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "id": 4.5, "method": "eth_getBalance", "params": ["0x12"]},
    ]
    answer = world.rpc.handle(json.dumps(batch).encode())
    assert_well_formed(answer)
    assert answer is not None
    docs = json.loads(answer)
    assert [d["id"] for d in docs] == [1, "two", None, None, 4.5]
    assert docs[0]["result"] == hex(CHAIN_ID)
    assert docs[1]["error"]["code"] == -32601
    assert docs[2]["error"]["code"] == -32600
    assert docs[3]["result"] == "0x4"
    assert docs[4]["error"]["code"] == -32602


def test_notifications_get_no_answer(world: World) -> None:
    assert world.rpc.handle(b'{"jsonrpc":"2.0","method":"eth_chainId"}') is None
    assert world.rpc.handle(b'{"jsonrpc":"2.0","method":"eth_nope","params":[1]}') is None
    assert world.rpc.handle(b'[{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","method":"x"}]') is None


def test_a_batch_over_the_limit_is_one_error(world: World) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1001)]
    doc = error_of(world.rpc, json.dumps(batch).encode())
    assert doc["error"]["code"] == -32600 and "1000" in doc["error"]["message"]


# -- fuzzing handle() --------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
hexish = st.one_of(
    st.binary(max_size=40).map(lambda b: "0x" + b.hex()),
    st.sampled_from(["latest", "pending", "earliest", "safe", "finalized", "0x", "0x0", "0x00", "-0x1", "0xg"]),
    st.integers(min_value=-(2**260), max_value=2**260).map(lambda n: hex(n)),
)
FIELDS = ["from", "to", "data", "input", "value", "gas", "fromBlock", "toBlock", "address", "topics", "blockHash"]
param_values = st.one_of(
    hexish,
    json_values,
    st.dictionaries(
        st.sampled_from(FIELDS),
        st.one_of(hexish, st.lists(st.one_of(hexish, st.none()), max_size=3), st.none()),
        max_size=5,
    ),
)


def fuzz_check(world: World, body: bytes) -> None:
    head, pending = world.node.head(), dict(world.node.mempool.pending)
    answer = world.rpc.handle(body)
    assert_well_formed(answer)
    assert world.node.head() == head and world.node.mempool.pending == pending


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300))
def test_random_bytes_never_break_handle(world: World, body: bytes) -> None:
    fuzz_check(world, body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_random_json_never_breaks_handle(world: World, value: Any) -> None:
    fuzz_check(world, json.dumps(value).encode())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    params=st.lists(param_values, max_size=4),
    request_id=st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans()),
    batch=st.booleans(),
)
def test_random_requests_never_break_handle_nor_change_state(
    world: World, data: st.DataObject, params: list[Any], request_id: Any, batch: bool
) -> None:
    method = data.draw(st.sampled_from([*sorted(world.rpc.methods), "eth_nope"]), label="method")
    request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    fuzz_check(world, json.dumps([request, request] if batch else request).encode())
    assert lock_is_free(world.node)


# -- HTTP --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[RpcServer]:
    rpc = RpcServer(world.node, port=0, metrics=lambda: "# TYPE consortium_blocks counter\nconsortium_blocks 4\n")
    rpc.start()
    yield rpc
    rpc.stop()


def connect(rpc: RpcServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", rpc.port, timeout=10)


def post(conn: http.client.HTTPConnection, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    conn.request("POST", "/", body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    return response.status, response.read()


def test_http_serves_json_rpc_on_a_keep_alive_connection(server: RpcServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}" and server.port != 0
    conn = connect(server)
    status, body = post(conn, b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')
    first_socket = conn.sock
    assert status == 200 and json.loads(body)["result"] == hex(CHAIN_ID)
    status, body = post(conn, b'[{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber"}]', content_type="text/plain")
    assert status == 200 and json.loads(body) == [{"jsonrpc": "2.0", "id": 2, "result": "0x4"}]
    assert conn.sock is first_socket  # the same connection served both
    status, body = post(conn, b"\xff\xfe{")
    assert status == 200 and json.loads(body)["error"]["code"] == -32700
    status, body = post(conn, b'{"jsonrpc":"2.0","method":"eth_chainId"}')
    assert status == 204 and body == b""
    conn.close()


def test_http_refuses_an_oversized_body_before_reading_it(server: RpcServer) -> None:
    conn = connect(server)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    conn.endheaders()  # and no body at all: the answer must come anyway
    response = conn.getresponse()
    assert response.status == 413 and str(MAX_BODY_BYTES) in response.read().decode()
    assert response.getheader("Connection") == "close"
    conn.close()
    conn = connect(server)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Length", str(6 * 1024 * 1024))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()


def test_http_methods_other_than_post_are_refused(server: RpcServer) -> None:
    for method in ("GET", "PUT", "DELETE"):
        conn = connect(server)
        conn.request(method, "/")
        response = conn.getresponse()
        assert response.status == 405 and response.getheader("Allow") == "POST"
        response.read()
        conn.close()


def test_http_needs_a_content_length(server: RpcServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 411 ")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 411 ")


def test_http_health_and_metrics(server: RpcServer, world: World) -> None:
    conn = connect(server)
    conn.request("GET", "/health")
    response = conn.getresponse()
    assert response.status == 200  # a node sealing alone is always healthy
    assert json.loads(response.read()) == {"head": 4, "mode": "alone", "inSync": True, "inQuorum": True}
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    assert b"consortium_blocks 4" in response.read()
    conn.close()
    bare = RpcServer(world.node, port=0)
    bare.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", bare.port, timeout=10)
        conn.request("GET", "/metrics")
        assert conn.getresponse().status == 404
        conn.close()
    finally:
        bare.stop()


def test_stop_closes_keep_alive_connections(world: World) -> None:
    rpc = RpcServer(world.node, port=0)
    rpc.start()
    conn = http.client.HTTPConnection("127.0.0.1", rpc.port, timeout=10)
    assert post(conn, b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')[0] == 200
    rpc.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        post(conn, b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')
    conn.close()
    rpc.stop()  # idempotent


def test_a_burst_of_connections_is_served_by_a_fixed_set_of_threads(world: World) -> None:
    """40 keep-alive clients at once, a server of 3 workers: every request answered, no thread started for a
    connection or a request; connections that send nothing hold no worker."""
    before = set(threading.enumerate())
    rpc = RpcServer(world.node, port=0, workers=3)
    rpc.start()
    try:
        started = set(threading.enumerate()) - before
        assert sorted(t.name for t in started) == ["json-rpc", "json-rpc-0", "json-rpc-1", "json-rpc-2",
                                                   "json-rpc-watcher"]  # fmt: skip
        silent = [socket.create_connection(("127.0.0.1", rpc.port), timeout=10) for _ in range(3)]
        answers: list[int] = []
        errors: list[BaseException] = []
        go = threading.Barrier(40)

        def client() -> None:
            try:
                conn = connect(rpc)
                go.wait(10)
                for i in range(5):
                    status, body = post(conn, f'{{"jsonrpc":"2.0","id":{i},"method":"eth_blockNumber"}}'.encode())
                    assert status == 200 and json.loads(body)["result"] == "0x4"
                    answers.append(i)
                conn.close()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        clients = [threading.Thread(target=client) for _ in range(40)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(30)
        assert errors == [] and len(answers) == 200
        assert set(threading.enumerate()) - before == started  # not one thread more, during or after
        for sock in silent:
            sock.close()
    finally:
        rpc.stop()
    assert not any(thread.is_alive() for thread in started)


def test_requests_sent_before_the_answers_are_all_answered_in_order(server: RpcServer) -> None:
    """Two requests in one write (pipelined): the second is already in the server's buffer when the first is
    answered, so no readable socket would announce it."""
    body = b'{"jsonrpc":"2.0","id":%d,"method":"eth_chainId"}'
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"".join(request % len(body % i) + body % i for i in (1, 2)))
        sock.settimeout(10)
        received = b""
        while received.count(b'"id":') < 2:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    assert received.count(b"HTTP/1.1 200 ") == 2 and received.index(b'"id":1') < received.index(b'"id":2')


def test_concurrent_http_clients_and_a_sealer_leave_the_node_consistent(fresh: World) -> None:
    rpc = RpcServer(fresh.node, port=0)
    rpc.start()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", rpc.port, timeout=30)
            for i in range(30):
                call = {"to": fresh.anchor, "data": encode("AuditAnchor", "origin_count")}
                batch = [
                    {"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": ["latest", True]},
                    {"jsonrpc": "2.0", "id": i, "method": "eth_getLogs", "params": [{"fromBlock": "0x0"}]},
                    {"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [call]},
                ]
                body = json.dumps(batch).encode()
                status, answer = post(conn, body)
                assert status == 200
                assert_well_formed(answer)
            conn.close()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(5):
        fresh.node.seal(allow_empty=True)
    for thread in threads:
        thread.join()
    rpc.stop()
    assert errors == []
    assert lock_is_free(fresh.node)


# -- web3.py on top ----------------------------------------------------------------------------------------------


@pytest.fixture
def sealing(fresh: World) -> Iterator[RpcServer]:
    """The fresh world served over HTTP, with a sealing loop every 0.1 s as a real node runs one."""
    rpc = RpcServer(fresh.node, port=0)
    rpc.start()
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.1):
            fresh.node.seal()

    sealer = threading.Thread(target=loop, daemon=True)
    sealer.start()
    yield rpc
    stop.set()
    sealer.join(timeout=10)
    rpc.stop()


def test_web3_smoke(fresh: World, sealing: RpcServer) -> None:
    w3 = Web3(HTTPProvider(sealing.url, request_kwargs={"timeout": 30}))
    assert w3.is_connected()
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.eth.block_number >= 4
    with pytest.raises(ExtraDataLengthError):  # sealed QBFT-style extra data, as on Besu: clients inject ...
        w3.eth.get_block("latest")
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)  # ... the POA middleware
    block = w3.eth.get_block("latest", full_transactions=True)
    assert block["number"] >= 4 and block["baseFeePerGas"] == 0
    op = fresh.accounts["op"]
    anchor = w3.eth.contract(address=Web3.to_checksum_address(fresh.anchor), abi=load_artifact("AuditAnchor").abi)
    assert anchor.functions.anchor_count("origin-a").call() == 2
    data = encode("AuditAnchor", "anchor", "origin-w3", 1, b"\5" * 32, b"\6" * 32)
    nonce = w3.eth.get_transaction_count(op.address, "pending")
    tx_hash = w3.eth.send_raw_transaction(HexStr(sign(op, nonce, fresh.anchor, data)))
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05)
    assert receipt["status"] == 1 and receipt["transactionHash"] == tx_hash
    assert w3.eth.get_transaction(tx_hash)["from"] == op.address
    assert anchor.functions.anchor_count("origin-w3").call() == 1
    (event,) = anchor.events.Anchored().get_logs(from_block=receipt["blockNumber"], to_block=receipt["blockNumber"])
    assert event["args"]["origin"] == "origin-w3" and event["args"]["tree_size"] == 1
    assert w3.eth.fee_history(2, "latest", [50])["baseFeePerGas"] == [0, 0, 0]
    with pytest.raises(Web3RPCError, match="is not an account of a consortium member"):
        w3.eth.send_raw_transaction(HexStr(sign(fresh.accounts["outsider"], 0, fresh.anchor, data)))


def test_web3_raises_the_nodes_sentence_for_a_transaction_permissioning_refuses(world: World) -> None:
    """web3.py over HTTP: a transaction of a sender no member owns, and a deployment by a member that is not the
    operator, each raise ``Web3RPCError`` whose message is the node's sentence, from a -32000 error."""
    rpc = RpcServer(world.node, port=0)
    rpc.start()
    try:
        w3 = Web3(HTTPProvider(rpc.url, request_kwargs={"timeout": 30}))
        outsider, alpha = world.accounts["outsider"], world.accounts["alpha"]
        refused = {
            f"transaction rejected: sender {outsider.address} is not an account of a consortium member": sign(
                outsider, 0, world.anchor, "0x"
            ),
            f"transaction rejected: contract deployment is reserved to the operator; {alpha.address} (alpha) is "
            "not one": sign(alpha, world.nonce("alpha"), None, deploy_data("AuditAnchor", world.registry, False)),
        }
        for sentence, raw in refused.items():
            with pytest.raises(Web3RPCError) as caught:
                w3.eth.send_raw_transaction(HexStr(raw))
            assert sentence in str(caught.value)  # web3.py 7 shows the error object: {'code': ..., 'message': ...}
            assert caught.value.rpc_response is not None
            assert caught.value.rpc_response["error"] == {"code": -32000, "message": sentence}
    finally:
        rpc.stop()


def test_a_default_backend_asks_the_chain_id_when_it_opens_not_at_each_read(world: World) -> None:
    """web3 checks the chain id of every call it validates; RpcBackend answers that from the provider's cache,
    so a walk of a long list costs one request per item, not two."""
    rpc = RpcServer(world.node, port=0)
    asked: list[str] = []
    handle = rpc.handle

    def counting(body: bytes) -> bytes | None:
        asked.append(str(json.loads(body)["method"]))
        return handle(body)

    rpc.handle = counting  # type: ignore[method-assign]
    rpc.start()
    try:
        backend = RpcBackend(rpc.url)
        anchor = backend.web3.eth.contract(
            address=Web3.to_checksum_address(world.anchor), abi=load_artifact("AuditAnchor").abi
        )
        counts = [anchor.functions.origin_count().call() for _ in range(10)]
    finally:
        rpc.stop()
    assert counts == [2] * 10
    assert asked.count("eth_call") == 10
    # Asked when the backend opens, and by web3 when it is first made (filling its cache); never once per read.
    assert asked.count("eth_chainId") <= 3, asked
    assert "eth_chainId" not in asked[asked.index("eth_call") :], asked


def test_a_blocks_hash_read_as_plain_json_rpc_is_web3s_and_a_missing_block_is_refused(server: RpcServer) -> None:
    """``chain.backend.block_hash``: over JSON-RPC one ``eth_getBlockByNumber`` without web3's stack (the witness
    keys of a checkpoint, at every provenance answer), the hash web3 reads; a block the chain does not hold (yet)
    raises BackendError naming it."""
    backend = RpcBackend(server.url, 5.0, chain_id=CHAIN_ID)
    for number in (0, 4):
        assert block_hash(backend, number) == bytes(backend.web3.eth.get_block(number)["hash"])
    with pytest.raises(BackendError, match="has no block 99"):
        block_hash(backend, 99)


def test_a_lean_backends_head_poll_keeps_a_plain_connection_and_opens_it_again_when_the_node_closed_it(
    world: World, server: RpcServer
) -> None:
    """A lean backend (the gateway's chain view, the trust views) polls ``eth_blockNumber`` on a standard library
    connection kept open between polls, not through httpx's client (about a third of the CPU a poll); a kept
    connection the node closed meanwhile is opened again at once, so the poll does not fail; a node that is gone
    fails the poll with a read error."""
    backend = RpcBackend(server.url, 5.0, lean=True, chain_id=CHAIN_ID)
    assert head_number(backend) == 4
    plain = backend._plain
    assert plain is not None and plain.sock is not None
    kept = plain.sock
    assert [head_number(backend) for _ in range(3)] == [4, 4, 4] and plain.sock is kept  # one connection
    assert backend._http is None  # no httpx client was made
    server._http.close_connections()  # type: ignore[union-attr]  # as the node's idle timeout would
    assert head_number(backend) == 4 and backend._plain is not None and backend._plain.sock is not kept

    gone = RpcServer(world.node, port=0)
    gone.start()
    other = RpcBackend(gone.url, 5.0, lean=True, chain_id=CHAIN_ID)
    assert head_number(other) == 4
    gone.stop()
    with pytest.raises(read_errors()):
        head_number(other)
