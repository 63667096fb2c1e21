"""The embedded chain node as a real process: clean restarts, ``kill -9`` under load, a tampered store, bad clients.

Every test runs ``python -m cli.main node DIR`` (what ``consortium node DIR`` runs) as a child process in
its own session and talks to it over JSON-RPC, exactly as ``consortium up`` and the member firms' tools do.
The chain is the smallest one there is: one org ("op") that is operator and only validator, and no
ConsortiumRegistry, so the operator is the only account allowed to send. Its transactions are the load:
value-0 self-transfers, and calls to a tiny contract that writes storage (deployed at nonce 1, never at
nonce 0, which is where genesis expects ConsortiumRegistry).

Nothing waits a fixed time for something to happen: every wait polls a condition against a deadline. The only
``sleep`` that is not such a poll is the random moment chosen to ``kill -9`` a node under load.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_canonical_address, to_checksum_address

from chain.ids import OrgId, contract_address
from chain.node.node import Genesis
from chain.node.service import STORE_DIR, write_genesis
from chain.node.store import open_store
from network.identity import create_org_identity, load_account_key
from tests.support.store_contract import STORE_INIT, STORE_RUNTIME, store_call
from tests.support.up_process import LineProcess
from tests.support.up_process import free_port as support_free_port
from tests.support.wait import wait_until

PASSPHRASE = "node-process-test-passphrase"
CHAIN_ID = 20261
ORG = "op"
CLI = [sys.executable, "-m", "cli.main"]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
SEAL_TIMEOUT = 30.0
VERIFY_TIMEOUT = 120.0
#: Kill-to-serving budget of test_time_from_kill_to_serving.
SERVING_BUDGET = 5.0


# -- JSON-RPC ---------------------------------------------------------------------------------------------------


class RpcFailure(AssertionError):
    """The node answered a JSON-RPC error object."""


def post(url: str, payload: Any, timeout: float = 10.0) -> Any:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def rpc(url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    answer = post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout)
    if "error" in answer:
        raise RpcFailure(f"{method}{list(params)!r}: {answer['error']}")
    return answer["result"]


def rpc_batch(url: str, calls: list[tuple[str, list[Any]]], timeout: float = 30.0) -> list[dict[str, Any]]:
    """Answers to a batch, in the order of ``calls`` (whatever order the node sent them in)."""
    answers: list[dict[str, Any]] = []
    for start in range(0, len(calls), 500):
        chunk = calls[start : start + 500]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(chunk)]
        by_id = {a["id"]: a for a in post(url, payload, timeout)}
        answers += [by_id[i] for i in range(len(chunk))]
    return answers


def block(url: str, number: int | str) -> dict[str, Any]:
    tag = hex(number) if isinstance(number, int) else number
    found = rpc(url, "eth_getBlockByNumber", tag, False)
    assert found is not None, f"no block {tag} at {url}"
    return dict(found)


def canonical_hashes(url: str, numbers: list[int]) -> dict[int, str | None]:
    answers = rpc_batch(url, [("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    return {n: (a["result"] or {}).get("hash") for n, a in zip(numbers, answers, strict=True)}


def receipts(url: str, tx_hashes: list[str]) -> dict[str, dict[str, Any] | None]:
    answers = rpc_batch(url, [("eth_getTransactionReceipt", [h]) for h in tx_hashes])
    return {h: a.get("result") for h, a in zip(tx_hashes, answers, strict=True)}


def wait_for_receipts(url: str, tx_hashes: list[str], timeout: float = SEAL_TIMEOUT) -> dict[str, dict[str, Any]]:
    def sealed() -> dict[str, dict[str, Any]] | None:
        found = receipts(url, tx_hashes)
        return None if any(r is None for r in found.values()) else {h: r for h, r in found.items() if r is not None}

    assert tx_hashes
    return wait_until(sealed, f"{len(tx_hashes)} transactions sealed", timeout)


# -- transactions -------------------------------------------------------------------------------------------------


def sign(account: LocalAccount, nonce: int, to: str | None = "self", data: bytes = b"", gas: int = 21000) -> Any:
    """A type-2 transaction of the operator on this free-gas chain; ``to=None`` deploys."""
    tx: dict[str, Any] = {
        "value": 0,
        "gas": gas,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "nonce": nonce,
        "chainId": CHAIN_ID,
        "type": 2,
        "data": data,
    }
    if to is not None:
        tx["to"] = account.address if to == "self" else to
    return account.sign_transaction(tx)


def raw(signed: Any) -> str:
    return "0x" + bytes(signed.raw_transaction).hex()


def tx_hash(signed: Any) -> str:
    return "0x" + bytes(signed.hash).hex()


def send_all(url: str, signed: list[Any]) -> list[str]:
    """Submit in one batch (the node answers a batch in order, so nonces may follow each other)."""
    answers = rpc_batch(url, [("eth_sendRawTransaction", [raw(s)]) for s in signed])
    errors = [a["error"] for a in answers if "error" in a]
    assert not errors, f"{len(errors)} transactions refused, first: {errors[0]}"
    return [str(a["result"]) for a in answers]


def created_address(account: LocalAccount, nonce: int) -> str:
    return to_checksum_address(contract_address(to_canonical_address(account.address), nonce))


def nonce_of(url: str, account: LocalAccount) -> int:
    return int(rpc(url, "eth_getTransactionCount", account.address, "latest"), 16)


# -- the node process ---------------------------------------------------------------------------------------------


def free_port(avoid: int = 0) -> int:
    while (port := support_free_port()) == avoid:
        pass
    return port


@dataclass(frozen=True)
class Sealed:
    number: int
    hash: str
    transactions: int


class NodeProcess(LineProcess):
    """``python -m cli.main node DIR`` in its own session, its output (JSON log lines) read live."""

    def __init__(self, directory: Path, block_time: float, port: int) -> None:
        self.directory = directory
        self.port = port
        self.sealed: list[Sealed] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
        env.update(CONSORTIUM_PASSPHRASE=PASSPHRASE, PYTHONUNBUFFERED="1")
        args = [*CLI, "node", str(directory), "--port", str(port), "--block-time", str(block_time)]
        super().__init__("the node", args, env, stop_timeout=STOP_TIMEOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self, line: str, entry: dict[str, Any] | None) -> None:
        if entry is not None and entry.get("msg") == "block sealed":
            self.sealed.append(Sealed(int(entry["number"]), str(entry["hash"]), int(entry["transactions"])))

    def wait_serving(self, timeout: float = START_TIMEOUT) -> int:
        """Poll ``eth_blockNumber`` until it answers; returns the head number."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"the node exited with {self.process.returncode} at start:\n{self.output()}")
            try:
                return int(rpc(self.url, "eth_blockNumber", timeout=2), 16)
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the node did not serve within {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.01)


# -- fixtures -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """An org identity made once per module; each test copies it into a fresh consortium directory."""

    root: Path
    account: LocalAccount


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("node-template")
    create_org_identity(root, OrgId(ORG), "Operator", PASSPHRASE.encode())
    return Template(root, Account.from_key(load_account_key(root, OrgId(ORG), PASSPHRASE.encode())))


def new_node_dir(template: Template, directory: Path) -> Path:
    """A consortium directory with the operator's identity and a genesis written, no chain store yet."""
    shutil.copytree(template.root / "orgs", directory / "orgs")
    genesis = Genesis(
        chain_id=CHAIN_ID,
        validators=(template.account.address,),
        operator=template.account.address,
        timestamp=int(time.time()),
    )
    write_genesis(directory / "chain", genesis, ORG)
    return directory


@pytest.fixture
def node_dir(template: Template, tmp_path: Path) -> Path:
    return new_node_dir(template, tmp_path / "consortium")


@pytest.fixture
def operator(template: Template) -> LocalAccount:
    return template.account


Starter = Callable[..., NodeProcess]


@pytest.fixture
def start() -> Iterator[Starter]:
    """Start node processes; whatever still runs at the end of the test is killed with its process group."""
    started: list[NodeProcess] = []

    def starter(directory: Path, block_time: float = 0.05, avoid_port: int = 0) -> NodeProcess:
        node = NodeProcess(directory, block_time, free_port(avoid_port))
        started.append(node)
        return node

    try:
        yield starter
    finally:
        for node in started:
            if node.process.poll() is None:
                node.kill()


def run_verify(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
    return subprocess.run(
        [*CLI, "chain", "verify", str(directory)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=VERIFY_TIMEOUT,
        check=False,
    )


def shown(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def assert_verified(directory: Path, head: int) -> None:
    r = run_verify(directory)
    assert r.returncode == 0, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    assert f"chain verified: {head} blocks" in r.stdout, shown(r)


def assert_verify_error(directory: Path, *fragments: str) -> str:
    """Verify fails the way a user should see it: exit 1, one ``error:`` line on stderr, no traceback."""
    r = run_verify(directory)
    assert r.returncode == 1, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    assert "chain verified" not in r.stdout, shown(r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown(r)
    for fragment in fragments:
        assert fragment in lines[0], shown(r)
    return lines[0]


# -- restart ------------------------------------------------------------------------------------------------------


def test_restart_keeps_head_and_state_root(node_dir: Path, operator: LocalAccount, start: Starter) -> None:
    node = start(node_dir)
    assert node.wait_serving() == 0
    contract = created_address(operator, 1)
    signed = [sign(operator, 0), sign(operator, 1, to=None, data=STORE_INIT, gas=200_000)]
    signed += [sign(operator, n, to=contract, data=store_call(n, n * 7 + 1), gas=100_000) for n in range(2, 40)]
    signed += [sign(operator, n) for n in range(40, 60)]
    hashes = send_all(node.url, signed)
    sealed = wait_for_receipts(node.url, hashes)
    assert all(r["status"] == "0x1" for r in sealed.values())
    assert rpc(node.url, "eth_getCode", contract, "latest") == "0x" + STORE_RUNTIME.hex()

    before = block(node.url, "latest")
    storage = {n: rpc(node.url, "eth_getStorageAt", contract, hex(n), "latest") for n in range(2, 40)}
    assert int(storage[39], 16) == 39 * 7 + 1
    assert node.terminate() == 0, node.output()
    assert any('"node stopped"' in line for line in node.lines), node.output()

    again = start(node_dir, avoid_port=node.port)
    assert again.wait_serving() == int(before["number"], 16)
    after = block(again.url, "latest")
    for key in ("number", "hash", "stateRoot", "receiptsRoot", "transactionsRoot", "parentHash"):
        assert after[key] == before[key], f"{key} changed across a clean restart: {before[key]} -> {after[key]}"
    assert {n: rpc(again.url, "eth_getStorageAt", contract, hex(n), "latest") for n in range(2, 40)} == storage
    assert nonce_of(again.url, operator) == 60
    kept = receipts(again.url, hashes)
    assert {h: (r or {}).get("blockHash") for h, r in kept.items()} == {h: r["blockHash"] for h, r in sealed.items()}

    # The next transactions continue from the stored nonce, on top of the stored head.
    stale = rpc_batch(again.url, [("eth_sendRawTransaction", [raw(sign(operator, 59, data=b"stale", gas=30_000))])])[0]
    assert "error" in stale and "nonce 59 is not the next nonce 60" in stale["error"]["message"], stale
    more = send_all(
        again.url, [sign(operator, 60), sign(operator, 61, to=contract, data=store_call(1, 5), gas=100_000)]
    )
    wait_for_receipts(again.url, more)
    head = block(again.url, "latest")
    assert int(head["number"], 16) > int(before["number"], 16)
    first_new = block(again.url, int(before["number"], 16) + 1)
    assert first_new["parentHash"] == before["hash"]
    assert int(rpc(again.url, "eth_getStorageAt", contract, "0x1", "latest"), 16) == 5
    assert nonce_of(again.url, operator) == 62
    assert again.terminate() == 0, again.output()


# -- kill -9 ------------------------------------------------------------------------------------------------------


class Sender(threading.Thread):
    """Streams the operator's self-transfers at a node, batch after batch, and collects the receipts it gets.

    Stops by itself when the node goes away (connection refused or reset); any other failure is kept in
    ``failure`` for the test to report."""

    BATCH = 20
    MAX_PENDING = 400

    def __init__(self, url: str, account: LocalAccount, nonce: int) -> None:
        super().__init__(name="sender", daemon=True)
        self.url, self.account, self.nonce = url, account, nonce
        self.pending: dict[str, int] = {}  # tx hash -> nonce, sent and not yet seen sealed
        self.receipts: dict[str, tuple[int, str]] = {}  # tx hash -> (block number, block hash), as answered
        self.failure: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                if len(self.pending) < self.MAX_PENDING:
                    self._send()
                self._poll()
        except (OSError, http.client.HTTPException):
            return  # the node was killed
        except BaseException as exc:
            self.failure = exc

    def _send(self) -> None:
        signed = [sign(self.account, self.nonce + i) for i in range(self.BATCH)]
        answers = rpc_batch(self.url, [("eth_sendRawTransaction", [raw(s)]) for s in signed])
        for s, answer in zip(signed, answers, strict=True):
            if "error" in answer:
                raise AssertionError(f"the transaction of nonce {self.nonce} was refused: {answer['error']}")
            self.pending[tx_hash(s)] = self.nonce
            self.nonce += 1

    def _poll(self) -> None:
        asked = list(self.pending)[:200]
        for h, receipt in receipts(self.url, asked).items():
            if receipt is not None:
                self.receipts[h] = (int(receipt["blockNumber"], 16), str(receipt["blockHash"]))
                del self.pending[h]


def assert_nothing_lost(
    url: str, reported: dict[int, str], sealed_receipts: dict[str, tuple[int, str]], context: str
) -> int:
    """Every block ever reported sealed is still canonical, every receipt ever answered still holds; -> head."""
    head = int(rpc(url, "eth_blockNumber"), 16)
    if reported:
        assert head >= max(reported), f"head {head} is behind block {max(reported)}, reported sealed ({context})"
    numbers = sorted(reported)
    now = canonical_hashes(url, numbers)
    lost = {n: (reported[n], now[n]) for n in numbers if now[n] != reported[n]}
    assert not lost, (
        f"{len(lost)} reported blocks are no longer canonical (reported, now): {dict(list(lost.items())[:5])}"
        f" ({context})"
    )
    hashes = sorted(sealed_receipts)
    now_receipts = receipts(url, hashes)
    moved = {
        h: (sealed_receipts[h], r and (int(r["blockNumber"], 16), r["blockHash"]))
        for h, r in now_receipts.items()
        if r is None or (int(r["blockNumber"], 16), r["blockHash"]) != sealed_receipts[h]
    }
    assert not moved, (
        f"{len(moved)} answered receipts were lost or moved (then, now): {dict(list(moved.items())[:5])} ({context})"
    )
    return head


def test_kill_9_during_sealing_under_load_loses_no_sealed_block(
    node_dir: Path, operator: LocalAccount, start: Starter
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    reported: dict[int, str] = {}  # block number -> hash, from the "block sealed" log lines of every run
    answered: dict[str, tuple[int, str]] = {}  # tx hash -> (number, hash), from receipts the clients got
    kills: list[str] = []
    port = 0
    for round_ in range(3):
        node = start(node_dir, block_time=0.05, avoid_port=port)
        port = node.port
        node.wait_serving()
        assert_nothing_lost(node.url, reported, answered, f"seed {seed}; " + "; ".join(kills))
        sender = Sender(node.url, operator, nonce_of(node.url, operator))
        sender.start()
        try:
            # Under load: blocks with transactions keep coming; then kill at a random moment.
            node.wait_until(
                "two blocks with transactions", lambda n: sum(s.transactions > 0 for s in n.sealed) >= 2, SEAL_TIMEOUT
            )
            delay = rng.uniform(0.1, 0.8)
            time.sleep(delay)
            in_flight = len(sender.pending)
            node.kill()
        finally:
            sender.stopping.set()
            sender.join(STOP_TIMEOUT)
        assert not sender.is_alive(), "the sender did not stop after the node died"
        assert sender.failure is None, f"round {round_}: {sender.failure!r}\n{node.output()}"
        for s in node.sealed:
            assert reported.get(s.number, s.hash) == s.hash, f"block {s.number} was reported sealed twice, differently"
            reported[s.number] = s.hash
        answered.update(sender.receipts)
        kills.append(
            f"round {round_}: killed {delay:.2f} s in, after block {node.sealed[-1].number}, "
            f"{len(sender.receipts)} receipts, {in_flight} txs unsealed"
        )
    context = f"seed {seed}; " + "; ".join(kills)
    print(context)
    assert len(answered) >= 100, f"too little load to mean anything: {context}"

    node = start(node_dir, block_time=0.05, avoid_port=port)
    node.wait_serving()
    head = assert_nothing_lost(node.url, reported, answered, context)
    # The chain goes on from where it is: the next nonce is the stored one.
    more = send_all(node.url, [sign(operator, nonce_of(node.url, operator))])
    wait_for_receipts(node.url, more)
    head = assert_nothing_lost(node.url, reported, answered, context)
    assert node.terminate() == 0, node.output()
    assert_verified(node_dir, head)


# -- a tampered store ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoppedChain:
    """A consortium directory whose node ran and stopped cleanly, and what JSON-RPC said of its blocks."""

    directory: Path
    head: int
    blocks: dict[int, dict[str, Any]]  # number -> eth_getBlockByNumber(number, false)
    single_tx_block: int  # a block holding exactly one transaction (a 21000-gas self-transfer)

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.directory, to)
        return to

    @staticmethod
    def store(directory: Path) -> Path:
        return directory / "chain" / STORE_DIR


@pytest.fixture(scope="module")
def stopped_chain(template: Template, tmp_path_factory: pytest.TempPathFactory) -> StoppedChain:
    directory = new_node_dir(template, tmp_path_factory.mktemp("stopped") / "consortium")
    node = NodeProcess(directory, 0.05, free_port())
    try:
        node.wait_serving()
        account = template.account
        first = send_all(node.url, [sign(account, 0)])
        single = int(wait_for_receipts(node.url, first)[first[0]]["blockNumber"], 16)
        nonce = 1
        for _ in range(7):
            hashes = send_all(node.url, [sign(account, nonce + i) for i in range(5)])
            nonce += 5
            wait_for_receipts(node.url, hashes)
        head = int(rpc(node.url, "eth_blockNumber"), 16)
        blocks = {n: block(node.url, n) for n in range(head + 1)}
        assert len(blocks[single]["transactions"]) == 1
        assert node.terminate() == 0, node.output()
    finally:
        if node.process.poll() is None:
            node.kill()
    assert head >= 5, f"only {head} blocks"
    return StoppedChain(directory, head, blocks, single)


def xor_byte(file: Path, offset: int, mask: int) -> None:
    with open(file, "r+b") as f:
        f.seek(offset)
        old = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([old ^ mask]))
        f.flush()
        os.fsync(f.fileno())


def flip_live_byte(store_dir: Path, key: bytes, index: int, mask: int = 0x01) -> int:
    """Flip one bit of byte ``index`` of the value stored under ``key``, in the live copy of it; -> file offset.

    LMDB is copy-on-write, so data.mdb may also hold stale copies of the value in freed pages: each copy is
    flipped in turn and kept flipped only if the store then reads a different value. One byte changes."""
    with open_store(store_dir) as s:
        value = bytes(s[key])
    data_file = store_dir / "lmdb" / "data.mdb"
    data = data_file.read_bytes()
    offsets = []
    at = data.find(value)
    while at >= 0:
        offsets.append(at)
        at = data.find(value, at + 1)
    assert offsets, f"the value of {key.hex()} is not in {data_file.name} as one piece"
    for at in offsets:
        xor_byte(data_file, at + index, mask)
        with open_store(store_dir) as s:
            now = bytes(s[key])
        if now != value:
            assert sum(a != b for a, b in zip(now, value, strict=True)) == 1
            return at + index
        xor_byte(data_file, at + index, mask)
    raise AssertionError(f"none of the {len(offsets)} copies of the value of {key.hex()} is the live one")


def test_the_stopped_chain_verifies(stopped_chain: StoppedChain, tmp_path: Path) -> None:
    """The baseline of the tamper tests below: untouched, the same store verifies."""
    assert_verified(stopped_chain.copy(tmp_path / "c"), stopped_chain.head)


def test_a_flipped_byte_in_the_store_is_reported(stopped_chain: StoppedChain, tmp_path: Path) -> None:
    directory = stopped_chain.copy(tmp_path / "c")
    k = stopped_chain.head // 2
    header = stopped_chain.blocks[k]
    block_hash = bytes.fromhex(header["hash"][2:])
    with open_store(StoppedChain.store(directory)) as s:
        header_rlp = bytes(s[block_hash])
    state_root = bytes.fromhex(header["stateRoot"][2:])
    index = header_rlp.find(state_root)
    assert index > 0, "the state root is not in the stored header"
    flip_live_byte(StoppedChain.store(directory), block_hash, index + 5)
    assert_verify_error(directory, f"block {k}:")


def test_an_lmdb_file_that_cannot_be_opened_is_reported(stopped_chain: StoppedChain, tmp_path: Path) -> None:
    """A flip in LMDB's meta page (its magic number): the store does not open; a clear error, no traceback."""
    directory = stopped_chain.copy(tmp_path / "c")
    xor_byte(StoppedChain.store(directory) / "lmdb" / "data.mdb", 16, 0x01)
    assert_verify_error(directory, "cannot open the LMDB store")


def lmdb_root_page(data_file: Path) -> int:
    """File offset of the root page of LMDB's main B-tree, read from the newer of its two meta pages."""
    data = data_file.read_bytes()
    assert struct.unpack_from("<I", data, 16)[0] == 0xBEEFC0DE, "not an LMDB file with the expected layout"
    page_size = int(struct.unpack_from("<I", data, 40)[0])  # the free DB's md_pad holds the page size in a meta page
    metas: list[tuple[int, int]] = []
    for page in (0, 1):
        base = page * page_size
        root, txnid = struct.unpack_from("<Q", data, base + 128)[0], struct.unpack_from("<Q", data, base + 144)[0]
        metas.append((int(txnid), int(root)))
    root = max(metas)[1]
    assert struct.unpack_from("<Q", data, root * page_size)[0] == root, "the root page does not carry its number"
    return root * page_size


def test_a_corrupt_lmdb_page_is_reported_without_traceback(stopped_chain: StoppedChain, tmp_path: Path) -> None:
    """Regression: LmdbStore let lmdb.CorruptedError escape, so verify crashed with a traceback."""
    directory = stopped_chain.copy(tmp_path / "c")
    data_file = StoppedChain.store(directory) / "lmdb" / "data.mdb"
    root = lmdb_root_page(data_file)
    flags = data_file.read_bytes()[root + 10]
    assert flags & 0x03, f"root page flags {flags:#x} are neither branch nor leaf"
    xor_byte(data_file, root + 10, flags & 0x03)  # the page's type bits: now neither branch nor leaf
    assert_verify_error(directory)


def test_a_flipped_byte_in_a_stored_receipt_is_reported(
    stopped_chain: StoppedChain, tmp_path: Path, start: Starter
) -> None:
    """Regression: verify once compared only roots with the header, so a tampered stored receipt passed."""
    directory = stopped_chain.copy(tmp_path / "c")
    k = stopped_chain.single_tx_block
    receipts_root = bytes.fromhex(stopped_chain.blocks[k]["receiptsRoot"][2:])
    with open_store(StoppedChain.store(directory)) as s:
        node_rlp = bytes(s[receipts_root])  # one receipt: the trie's root is its leaf
    index = node_rlp.find(bytes.fromhex("825208"))  # cumulative gas used, 21000
    assert index > 0, f"no cumulative gas of 21000 in the receipt node {node_rlp.hex()}"
    flip_live_byte(StoppedChain.store(directory), receipts_root, index + 2)  # 21000 -> 21001
    # What a client now gets from the node:
    node = start(directory)
    node.wait_serving()
    tx = stopped_chain.blocks[k]["transactions"][0]
    served = rpc(node.url, "eth_getTransactionReceipt", tx)
    assert served["cumulativeGasUsed"] == hex(21001), served
    assert node.terminate() == 0, node.output()
    assert_verify_error(directory, f"block {k}:")


# -- restart time ---------------------------------------------------------------------------------------------------


@pytest.mark.benchmark
@pytest.mark.slow
def test_time_from_kill_to_serving(node_dir: Path, operator: LocalAccount, start: Starter) -> None:
    node = start(node_dir, block_time=0.05)
    node.wait_serving()
    count = 3000
    hashes: list[str] = []
    for first in range(0, count, 500):
        hashes += send_all(node.url, [sign(operator, n) for n in range(first, first + 500)])
    wait_for_receipts(node.url, hashes[-1:], timeout=60)
    head = block(node.url, "latest")

    started = time.monotonic()
    node.kill()
    again = start(node_dir, block_time=0.05, avoid_port=node.port)
    assert again.wait_serving() == int(head["number"], 16)
    elapsed = time.monotonic() - started
    print(f"kill -9 -> serving with {count} transactions in {head['number']} blocks on disk: {elapsed:.2f} s")
    assert elapsed < SERVING_BUDGET, (
        f"kill -9 -> first eth_blockNumber took {elapsed:.2f} s (budget {SERVING_BUDGET} s)"
    )
    assert block(again.url, "latest")["stateRoot"] == head["stateRoot"]
    assert nonce_of(again.url, operator) == count


# -- bad clients --------------------------------------------------------------------------------------------------


def raw_post(port: int, body: bytes, declared: int | None = None, send_body: bool = True) -> tuple[int, bytes]:
    """POST over a raw socket: ``declared`` may differ from ``len(body)``; -> (HTTP status, body) or (0, b"")."""
    length = len(body) if declared is None else declared
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        writer = None
        if send_body:

            def write() -> None:
                with contextlib.suppress(OSError):  # the server may refuse and hang up before it is all sent
                    sock.sendall(body)

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
        else:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            answer = (response.status, response.read())
        except (OSError, http.client.HTTPException):
            answer = (0, b"")
        if writer is not None:
            writer.join(10)
        return answer


def test_malformed_requests_leave_the_node_serving(node_dir: Path, operator: LocalAccount, start: Starter) -> None:
    node = start(node_dir)
    node.wait_serving()
    wait_for_receipts(node.url, send_all(node.url, [sign(operator, n) for n in range(5)]))
    before = block(node.url, "latest")

    status, body = raw_post(node.port, b'{"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": [')
    assert status == 200 and json.loads(body)["error"]["code"] == -32700, (status, body)
    status, body = raw_post(node.port, b"\xff\xfe not utf-8")
    assert status == 200 and json.loads(body)["error"]["code"] == -32700, (status, body)
    answer = post(node.url, {"jsonrpc": "2.0", "id": 7, "method": "eth_noSuchMethod", "params": []})
    assert answer["id"] == 7 and answer["error"]["code"] == -32601, answer

    six_mib = b"[" + b" " * (6 * 1024 * 1024 - 2) + b"]"
    status, body = raw_post(node.port, six_mib)
    assert status == 413, (status, body)
    # A client that declares a body and hangs up half way through it.
    assert raw_post(node.port, b'{"jsonrpc": "2.0"', declared=1000, send_body=False) == (0, b"")

    assert rpc(node.url, "eth_chainId") == hex(CHAIN_ID)
    after = block(node.url, "latest")
    assert (after["number"], after["hash"]) == (before["number"], before["hash"])
    wait_for_receipts(node.url, send_all(node.url, [sign(operator, 5)]))
    assert int(rpc(node.url, "eth_blockNumber"), 16) > int(before["number"], 16)
    assert node.terminate() == 0, node.output()
