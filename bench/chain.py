"""``make bench-chain``: contract transactions and reads per second, on every chain backend in one run.

For each backend a fresh consortium is deployed; then a mix of contract transactions (a third each:
register a data asset, create an access grant, anchor a checkpoint), signed locally by member accounts and
sent with ``eth_sendRawTransaction``, all in flight before the receipts are collected; every receipt must
show success. Reads are ``AccessGrants.check`` through ``eth_call``, one after another. A second figure times
the path every CLI command takes (estimate, sign, send, wait) one transaction at a time. On the four validators,
two more: the time to finality at a steady load (:func:`measure_finality`) and from the proposer's ``kill -9`` to
the next block (:func:`measure_proposer_kill`).
Figures go to stdout and to ``bench/results/chain.json``.

With ``--baseline CHECKOUT`` it measures instead the consortium node of another checkout's code against this tree's,
in turn (``bench/chain_baseline.py``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat
from eth_account import Account
from eth_account.signers.local import LocalAccount

from bench.common import baseline_options, bound_socket, met, percentile, write_results
from chain.backend import Backend, EthTesterBackend, RpcBackend
from chain.contracts import Deployment, FoundingMember, deploy_consortium
from chain.ids import AssetKind, OrgId, Role, name_to_bytes32
from chain.node.node import Genesis
from chain.node.service import write_genesis
from chain.qbft.rules import proposer
from chain.tx import Signer, build_transaction, fee_fields, send_transaction, wait_receipt
from network.localchain import LocalChain, start_anvil, start_node

RESULTS = Path(__file__).resolve().parent / "results" / "chain.json"
CHAIN_ID = 20261
PASSPHRASE = b"benchmark-passphrase"
DIGEST = b"\x11" * 32


Factory = Callable[[LocalAccount, list[LocalAccount]], tuple[Backend, Callable[[], None]]]


def _consortium(backend_factory: Factory) -> tuple[Backend, Callable[[], None], Deployment, dict[str, Signer]]:
    signers = {org: Signer(account=Account.create()) for org in ("op", "alpha", "beta", "gamma")}
    backend, stop = backend_factory(signers["op"].account, [s.account for s in signers.values()])
    founders = [
        FoundingMember(
            OrgId("op"), "Operator", Role.MEMBER | Role.OPERATOR | Role.NOTARY, DIGEST, (signers["op"].address,)
        ),
        *[
            FoundingMember(OrgId(o), o.title(), Role.MEMBER, DIGEST, (signers[o].address,))
            for o in ("alpha", "beta", "gamma")
        ],
    ]
    deployment = deploy_consortium(backend, signers["op"], founders, threshold=2)
    return backend, stop, deployment, signers


def _mixed_calls(
    deployment: Deployment, backend: Backend, signers: dict[str, Signer], n: int, now: int, tag: str
) -> list[tuple[Signer, str, str, str]]:
    """(signer, contract address, calldata, kind) for n transactions: register, grant, anchor in turn."""
    assets, grants, anchors = deployment.assets(backend), deployment.grants(backend), deployment.anchors(backend)
    calls: list[tuple[Signer, str, str, str]] = []
    for i in range(n):
        owner = ("alpha", "beta", "gamma")[i % 3]
        kind = ("register", "grant", "anchor")[i % 3]
        if kind == "register":
            data = assets.encode(
                "register_asset", name_to_bytes32(f"{tag}-{i}"), int(AssetKind.FEED), DIGEST, DIGEST, 2
            )
            calls.append((signers[owner], assets.address, data, kind))
        elif kind == "grant":
            grantee = "beta" if owner == "alpha" else "alpha"
            data = grants.encode(
                "create_grant",
                name_to_bytes32(f"b-base-{owner}"),
                name_to_bytes32(grantee),
                name_to_bytes32(f"{tag}{i}"),
                now,
                now + 86_400,
                100,
            )
            calls.append((signers[owner], grants.address, data, kind))
        else:
            data = anchors.encode("anchor", f"bench/{tag}", i + 1, DIGEST, DIGEST)
            calls.append((signers["op"], anchors.address, data, kind))
    return calls


TARGET_TX_PER_S = 300
TARGET_READS_PER_S = 1000
TARGET_RECOVERY_S = 5.0
#: Four validators and a follower on this 2-core machine (each executes every block): issue "Consensus".
TARGET_NETWORK_TX_PER_S = 100
TARGET_NETWORK_SHARE = 0.35
#: Time to finality on the network at a steady load (block period 1 s), and from the proposer's kill -9 to the next
#: block.
FINALITY_RATE = 50.0
TARGET_FINALITY_P99_S = 2.0
TARGET_PROPOSER_KILL_S = 10.0


def measure(
    name: str,
    backend_factory: Factory,
    n_tx: int,
    n_reads: int,
    n_serial: int,
    n_sustained: int | None = None,
    finality_seconds: float = 0.0,
) -> dict[str, Any]:
    """One backend's figures; on the network of validators, with ``finality_seconds``, the time to finality at
    a steady :data:`FINALITY_RATE` for that long and the time from the proposer's ``kill -9`` to the next block."""
    backend, stop, deployment, signers = _consortium(backend_factory)
    try:
        assets, grants = deployment.assets(backend), deployment.grants(backend)
        for owner in ("alpha", "beta", "gamma"):
            assets.register_asset(signers[owner], f"b-base-{owner}", AssetKind.FEED, DIGEST, DIGEST, 2)
        now = int(backend.web3.eth.get_block("latest")["timestamp"])
        calls = _mixed_calls(deployment, backend, signers, n_tx, now, "b")
        # Gas per kind, estimated once: the pipelined run must not pay an estimate per transaction.
        gas = {}
        for signer, to, data, kind in calls[:3]:
            gas[kind] = int(backend.web3.eth.estimate_gas({"from": signer.address, "to": to, "data": data})) * 2  # type: ignore[typeddict-item]
        fees = fee_fields(backend)
        start = time.perf_counter()
        hashes = [
            send_transaction(backend, s, build_transaction(backend, s, to, data, gas=gas[kind], fees=fees))
            for s, to, data, kind in calls
        ]
        for h in hashes:
            wait_receipt(backend, h)
        tx_elapsed = time.perf_counter() - start
        raw_tx = None
        if isinstance(backend, RpcBackend):
            raw_calls = _mixed_calls(deployment, backend, signers, n_sustained or n_tx, now, "r")
            raw_tx = _raw_transactions(backend, raw_calls, gas, fees)
        blocks = int(backend.web3.eth.block_number)

        serial_calls = _mixed_calls(deployment, backend, signers, n_serial, now, "s")
        start = time.perf_counter()
        for s, to, data, kind in serial_calls:
            wait_receipt(backend, send_transaction(backend, s, build_transaction(backend, s, to, data, label=kind)))
        serial_elapsed = time.perf_counter() - start

        start = time.perf_counter()
        for i in range(n_reads):
            result = grants.check("b-base-beta", "alpha", f"b{(i % (n_tx // 3)) * 3 + 1}", now + 10)
            assert result.allowed, result
        read_elapsed = time.perf_counter() - start
        raw_reads = _raw_reads(backend, grants, n_reads, n_tx, now) if isinstance(backend, RpcBackend) else None
        finality = proposer_kill = None
        if isinstance(stop, RunningNetwork) and isinstance(backend, RpcBackend) and finality_seconds:
            steady = _mixed_calls(deployment, backend, signers, int(FINALITY_RATE * finality_seconds), now, "f")
            finality = measure_finality(stop, backend, steady, gas, fees, FINALITY_RATE)
            killer = _mixed_calls(deployment, backend, signers, 3, now, "k")
            proposer_kill = measure_proposer_kill(stop, killer, gas, fees, backend)
        return {
            "backend": name,
            "transactions": n_tx,
            "tx_per_s": round(n_tx / tx_elapsed, 1),
            "raw_jsonrpc_transactions": (n_sustained or n_tx) if raw_tx is not None else None,
            "raw_jsonrpc_tx_per_s": raw_tx,
            "serial_transactions": n_serial,
            "serial_tx_per_s": round(n_serial / serial_elapsed, 1),
            "reads": n_reads,
            "reads_per_s": round(n_reads / read_elapsed, 1),
            "raw_jsonrpc_reads_per_s": raw_reads,
            "blocks_at_end": blocks,
            **({"finality": finality, "proposer_kill": proposer_kill} if finality is not None else {}),
        }
    finally:
        stop()


def _raw_transactions(
    backend: RpcBackend, calls: list[tuple[Signer, str, str, str]], gas: dict[str, int], fees: dict[str, int]
) -> float:
    """Contract transactions per second through ``eth_sendRawTransaction`` alone, as the gateways of many firms
    would send them: signed before the clock starts (signing is the sender's work, not the chain's), sent one after
    another on one keep-alive HTTP connection, then every receipt fetched the same way until the last is mined;
    the clock stops when every transaction has its receipt, and each must show success."""
    raws, hashes = _sign(backend, calls, gas, fees)
    rpc = _Rpc(backend.url, timeout=60)

    start = time.perf_counter()
    for raw, tx_hash in zip(raws, hashes, strict=True):
        if rpc("eth_sendRawTransaction", [raw]).lower() != tx_hash:
            raise RuntimeError(f"the node named another hash for {tx_hash}")
    statuses: list[str] = []
    wait = 120 + len(hashes) // 10  # anvil mines one block per transaction and falls behind on a long backlog
    deadline = time.monotonic() + wait
    for tx_hash in hashes:
        while (receipt := rpc("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{tx_hash} not mined within {wait} s")
            time.sleep(0.01)
        statuses.append(receipt["status"])
    elapsed = time.perf_counter() - start
    rpc.close()
    failed = [h for h, status in zip(hashes, statuses, strict=True) if status != "0x1"]
    if failed:
        raise RuntimeError(f"{len(failed)} transactions reverted, e.g. {failed[0]}")
    return round(len(raws) / elapsed, 1)


def _sign(
    backend: RpcBackend, calls: list[tuple[Signer, str, str, str]], gas: dict[str, int], fees: dict[str, int]
) -> tuple[list[str], list[str]]:
    """The raw transactions of ``calls``, signed in order (each signer's nonces in turn), and their hashes."""
    raws: list[str] = []
    hashes: list[str] = []
    for signer, to, data, kind in calls:
        tx = build_transaction(backend, signer, to, data, gas=gas[kind], fees=fees)
        signed = signer.account.sign_transaction(tx)  # type: ignore[arg-type]
        raws.append("0x" + bytes(signed.raw_transaction).hex())
        hashes.append("0x" + bytes(signed.hash).hex())
    return raws, hashes


class _Rpc:
    """JSON-RPC over one keep-alive HTTP connection."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)

    def __call__(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        self.connection.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = json.loads(self.connection.getresponse().read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        self.connection.close()


def _raw_reads(backend: RpcBackend, grants: Any, n_reads: int, n_tx: int, now: int) -> float:
    """``eth_call`` reads per second from one keep-alive HTTP connection, without web3.py's own overhead.

    Every call differs (its ``at`` argument moves), so no answer can come from a cache."""
    url = urlsplit(backend.url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=30)
    bodies = []
    for i in range(n_reads):
        data = grants.encode(
            "check",
            name_to_bytes32("b-base-beta"),
            name_to_bytes32("alpha"),
            name_to_bytes32(f"b{(i % (n_tx // 3)) * 3 + 1}"),
            now + 10 + i % 3600,
        )
        call = {"to": grants.address, "data": data}
        bodies.append(json.dumps({"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": [call, "latest"]}))
    start = time.perf_counter()
    for body in bodies:
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = json.loads(connection.getresponse().read())
        assert int(answer["result"][2:66], 16) == 0, answer  # GrantStatus.ALLOWED
    elapsed = time.perf_counter() - start
    connection.close()
    return round(n_reads / elapsed, 1)


def eth_tester_factory(_op: LocalAccount, accounts: list[LocalAccount]) -> tuple[Backend, Callable[[], None]]:
    backend = EthTesterBackend([a.address for a in accounts])
    return backend, backend.close


def anvil_factory(_op: LocalAccount, _accounts: list[LocalAccount]) -> tuple[Backend, Callable[[], None]]:
    local = start_anvil(CHAIN_ID)
    return local.backend, local.stop


def _write_account_key(directory: Path, org: str, account: LocalAccount) -> None:
    key = ec.derive_private_key(int.from_bytes(bytes(account.key), "big"), ec.SECP256K1())
    keys = directory / "orgs" / org / "keys"
    keys.mkdir(parents=True)
    (keys / "account.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSPHRASE))
    )


def node_directory(op: LocalAccount) -> Path:
    """A throwaway directory for ``consortium node``: the operator's encrypted key and the genesis."""
    directory = Path(tempfile.mkdtemp(prefix="bench-node-"))
    _write_account_key(directory, "op", op)
    genesis = Genesis(CHAIN_ID, (op.address,), op.address, int(time.time()))
    write_genesis(directory / "chain", genesis, "op")
    return directory


NETWORK_ORGS = ("op", "alpha", "beta", "gamma")


def network_factory(op: LocalAccount, accounts: list[LocalAccount]) -> tuple[Backend, Callable[[], None]]:
    """Four validators (the operator and the three members, each with its own account key and store) and a
    fifth node that only follows (the regulator's), each a ``consortium node`` process, QBFT between them over
    plain-HTTP peer links on loopback; clients use the operator's node."""
    directory = Path(tempfile.mkdtemp(prefix="bench-network-"))
    members = [*zip(NETWORK_ORGS, accounts, strict=True), ("reg", Account.create())]
    genesis = Genesis(CHAIN_ID, tuple(a.address for a in accounts), op.address, int(time.time()))
    peer_ports = []
    for org, account in members:
        _write_account_key(directory, org, account)
        write_genesis(directory / "nodes" / org / "chain", genesis, org)
        with bound_socket() as s:
            peer_ports.append(int(s.getsockname()[1]))
    nodes = []
    try:
        for i, (org, _) in enumerate(members):
            peers = [a for j, p in enumerate(peer_ports) if j != i for a in ("--peer", f"http://127.0.0.1:{p}")]
            extra = ["--org", org, "--peer-port", str(peer_ports[i]), *peers]
            chain_dir = directory / "nodes" / org / "chain"
            nodes.append(start_node(directory, CHAIN_ID, PASSPHRASE, block_time=1.0, chain_dir=chain_dir, extra=extra))
    except BaseException:
        for node in nodes:
            node.stop()
        shutil.rmtree(directory, ignore_errors=True)
        raise

    return nodes[0].backend, RunningNetwork(directory, nodes, [a.address for _, a in members])


@dataclass
class RunningNetwork:
    """The nodes of :func:`network_factory` (the follower last) and their accounts; calling it stops them."""

    directory: Path
    nodes: list[LocalChain]
    addresses: list[str]

    def __call__(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.stop()
            else:
                node.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def measure_finality(
    network: RunningNetwork,
    backend: RpcBackend,
    calls: list[tuple[Signer, str, str, str]],
    gas: dict[str, int],
    fees: dict[str, int],
    rate: float,
) -> dict[str, Any]:
    """Time to finality at a steady ``rate``: ``calls``, pre-signed, sent one every ``1/rate`` s to the operator's
    node over raw JSON-RPC, while another thread watches the follower (a node that never proposes) for new
    blocks; a transaction's time is from just before its ``eth_sendRawTransaction`` to the first look that
    finds its block there, sealed and appended with its receipt (polled every 20 ms)."""
    raws, hashes = _sign(backend, calls, gas, fees)
    sent_at: dict[str, float] = {}
    final_at: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        rpc = _Rpc(network.nodes[-1].url)
        seen = int(rpc("eth_blockNumber", []), 16)
        while not done.is_set():
            head = int(rpc("eth_blockNumber", []), 16)
            now = time.perf_counter()
            for number in range(seen + 1, head + 1):
                for tx_hash in rpc("eth_getBlockByNumber", [hex(number), False])["transactions"]:
                    final_at.setdefault(str(tx_hash).lower(), now)
            seen = head
            if len(final_at) >= len(hashes):
                break
            time.sleep(0.02)
        rpc.close()

    watcher = threading.Thread(target=watch, name="finality watcher", daemon=True)
    watcher.start()
    rpc = _Rpc(backend.url)
    start = time.perf_counter()
    for i, (raw, tx_hash) in enumerate(zip(raws, hashes, strict=True)):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent_at[tx_hash] = time.perf_counter()
        rpc("eth_sendRawTransaction", [raw])
    sending = time.perf_counter() - start
    rpc.close()
    watcher.join(timeout=60 + len(hashes) / rate)
    done.set()
    latencies = [final_at[h] - sent_at[h] for h in hashes if h in final_at]
    return {
        "rate_tx_per_s": rate,
        "sent_tx_per_s": round(len(hashes) / sending, 1),
        "transactions": len(hashes),
        "final": len(latencies),
        "p50_s": round(percentile(latencies, 0.5), 3) if latencies else None,
        "p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
    }


def measure_proposer_kill(network: RunningNetwork, calls: list[tuple[Signer, str, str, str]], gas: dict[str, int],
                          fees: dict[str, int], backend: RpcBackend) -> dict[str, Any]:  # fmt: skip
    """``kill -9`` of the validator whose turn to propose the next block is (round 0), then a transaction to a
    node left: the time from the kill to the next block at that node (the others' round 0 timer expires, the
    next round's proposer proposes). The network is left with a validator down: measure this last."""
    raws, _ = _sign(backend, calls, gas, fees)
    survivors = network.nodes[-1]  # the follower: never the proposer
    rpc = _Rpc(survivors.url)
    head = rpc("eth_getBlockByNumber", ["latest", False])
    validators = [bytes.fromhex(v[2:]) for v in rpc("consortium_nodeStatus", [])["validators"]]
    next_proposer = proposer(sorted(validators), bytes.fromhex(head["miner"][2:]), 0)
    index = [bytes.fromhex(a[2:]) for a in network.addresses].index(next_proposer)
    victim = network.nodes[index]
    number = int(head["number"], 16)
    victim.process.send_signal(signal.SIGKILL)
    killed = time.perf_counter()
    victim.process.wait()
    sender = _Rpc(network.nodes[(index + 1) % (len(network.nodes) - 1)].url)
    for raw in raws:
        sender("eth_sendRawTransaction", [raw])
    sender.close()
    while int(rpc("eth_blockNumber", []), 16) <= number:
        if time.perf_counter() - killed > 120:
            raise RuntimeError("no block within 120 s of the proposer's kill -9")
        time.sleep(0.02)
    elapsed = time.perf_counter() - killed
    block = rpc("eth_getBlockByNumber", [hex(number + 1), False])
    seals = rpc("consortium_getSeals", [hex(number + 1)])
    rpc.close()
    return {
        "killed": NETWORK_ORGS[index] if index < len(NETWORK_ORGS) else str(index),
        "kill9_to_next_block_s": round(elapsed, 3),
        "next_block_round": int(seals["round"], 16),
        "next_block_transactions": len(block["transactions"]),
    }


def node_factory(op: LocalAccount, _accounts: list[LocalAccount]) -> tuple[Backend, Callable[[], None]]:
    directory = node_directory(op)
    local = start_node(directory, CHAIN_ID, PASSPHRASE, block_time=1.0)

    def stop() -> None:
        local.stop()
        shutil.rmtree(directory, ignore_errors=True)

    return local.backend, stop


BACKENDS: dict[str, Factory] = {
    "eth-tester (in-process py-evm)": eth_tester_factory,
    "anvil (JSON-RPC)": anvil_factory,
    "consortium node (JSON-RPC)": node_factory,
    "4 validators + 1 follower, QBFT (JSON-RPC)": network_factory,
}
#: ``--backends`` names them so.
SHORT_NAMES_BY_FACTORY: dict[Factory, str] = {
    eth_tester_factory: "eth-tester",
    anvil_factory: "anvil",
    node_factory: "node",
    network_factory: "network",
}
SHORT_NAMES = tuple(SHORT_NAMES_BY_FACTORY.values())


def measure_recovery(n_tx: int, batch: int = 500) -> dict[str, Any]:
    """Fill a node with ``n_tx`` transactions, ``kill -9`` it, and time the restart until it serves again."""
    op = Account.create()
    directory = node_directory(op)
    try:
        local = start_node(directory, CHAIN_ID, PASSPHRASE, block_time=0.5)
        signer = Signer(op)
        fees = {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        sent = 0
        started = time.perf_counter()
        while sent < n_tx:
            hashes = []
            for _ in range(min(batch, n_tx - sent)):
                tx = build_transaction(local.backend, signer, op.address, "0x", gas=21_000, fees=fees)
                hashes.append(send_transaction(local.backend, signer, tx))
            for h in hashes:
                wait_receipt(local.backend, h, timeout=300)
            sent += len(hashes)
            if sys.stderr.isatty():  # one line rewritten in place on a terminal; a line per 10,000 in a log
                print(f"  recovery: {sent}/{n_tx} transactions on disk", end="\r", file=sys.stderr, flush=True)
            elif sent % 10_000 < len(hashes):
                print(f"  recovery: {sent}/{n_tx} transactions on disk", file=sys.stderr, flush=True)
        fill_seconds = time.perf_counter() - started
        head = int(local.backend.web3.eth.block_number)
        local.process.send_signal(signal.SIGKILL)
        local.process.wait()
        killed = time.perf_counter()
        again = start_node(directory, CHAIN_ID, PASSPHRASE, port=None, block_time=0.5, timeout=120)
        serving = time.perf_counter() - killed
        after = int(again.backend.web3.eth.block_number)
        again.stop()
        print(file=sys.stderr)
        return {
            "transactions_on_disk": n_tx,
            "blocks_on_disk": head,
            "head_after_restart": after,
            "fill_tx_per_s": round(n_tx / fill_seconds, 1),
            "kill9_to_serving_s": round(serving, 3),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Contract transactions and reads per second per chain backend")
    parser.add_argument("--transactions", type=int, default=600)
    parser.add_argument("--serial", type=int, default=150)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument(
        "--sustained",
        type=int,
        default=3000,
        help="pre-signed transactions the node is sent through raw JSON-RPC: enough blocks that the wait for "
        "the last one does not decide the figure",
    )
    parser.add_argument(
        "--recovery-transactions",
        type=int,
        default=100_000,
        help="transactions on disk before the kill -9 recovery measurement (0: skip it)",
    )
    parser.add_argument(
        "--finality-seconds",
        type=float,
        default=60.0,
        help=f"how long the network is loaded at {FINALITY_RATE:.0f} tx/s for the time to finality (0: skip it and "
        "the proposer's kill -9)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a check that the benchmark runs, not a measurement: our two chains only, few transactions, no "
        "recovery; pass --output too, so the recorded figures stay",
    )
    parser.add_argument(
        "--backends",
        help=f"a comma-separated subset of {','.join(SHORT_NAMES)} to measure, with no recovery measurement: a "
        "partial run, not the benchmark; pass --output too, so the recorded figures stay",
    )
    baseline_options(
        parser, "chain", "measure its consortium node against this tree's, in turn", 3, "; --serial at most 5"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.baseline is not None:
        from bench.chain_baseline import compare

        args.serial = min(args.serial, 5)  # a block a second on both: one by one says the block time
        compare(args)
        return 0
    backends = BACKENDS
    if args.quick:
        args.transactions, args.serial, args.reads, args.sustained = 60, 5, 100, 300
        args.recovery_transactions = 0
        args.finality_seconds = min(args.finality_seconds, 10.0)
        backends = {k: f for k, f in BACKENDS.items() if f in (node_factory, network_factory)}
    if args.backends:
        chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
        unknown = [b for b in chosen if b not in SHORT_NAMES]
        if unknown or not chosen:
            named = ", ".join(unknown) or "nothing"
            parser.error(f"--backends: unknown {named}; choose among {', '.join(SHORT_NAMES)}")
        backends = {k: f for k, f in backends.items() if SHORT_NAMES_BY_FACTORY[f] in chosen}
        args.recovery_transactions = 0
    if args.backends and args.output == RESULTS:
        parser.error("a partial run (--backends) does not replace the recorded figures: pass --output")
    rows = []
    for name, factory in backends.items():
        # anvil mines one block per transaction: with 3,000 pre-signed ones in flight it left some unmined after
        # 420 s (and once closed the connection), so its pre-signed figure is taken on --transactions.
        sustained = args.sustained if factory in (node_factory, network_factory) else None
        # one transaction per block one-by-one: a block a second on both of our chains
        serial = min(args.serial, 30) if factory is network_factory else args.serial
        finality_seconds = args.finality_seconds if factory is network_factory else 0.0
        row = measure(name, factory, args.transactions, args.reads, serial, sustained, finality_seconds)
        rows.append(row)
        raw = f"{row['raw_jsonrpc_reads_per_s']:>8.1f}" if row["raw_jsonrpc_reads_per_s"] else "       -"
        raw_tx = f"{row['raw_jsonrpc_tx_per_s']:>8.1f}" if row["raw_jsonrpc_tx_per_s"] else "       -"
        print(
            f"{name:<44} {row['tx_per_s']:>8.1f} tx/s pipelined {raw_tx} tx/s pre-signed, raw JSON-RPC "
            f"{row['serial_tx_per_s']:>7.1f} tx/s one-by-one "
            f"{row['reads_per_s']:>8.1f} reads/s (web3.py) {raw} reads/s (raw JSON-RPC)",
            flush=True,
        )
    recovery = measure_recovery(args.recovery_transactions) if args.recovery_transactions else None
    if recovery is not None:
        print(
            f"consortium node: kill -9 with {recovery['transactions_on_disk']} transactions on disk -> serving "
            f"again in {recovery['kill9_to_serving_s']} s (head {recovery['blocks_on_disk']} kept: "
            f"{recovery['head_after_restart']})",
            flush=True,
        )
    node = next((r for r in rows if r["backend"] == "consortium node (JSON-RPC)"), None)
    network = next((r for r in rows if r["backend"] == "4 validators + 1 follower, QBFT (JSON-RPC)"), None)
    if network is not None:
        share = (network["raw_jsonrpc_tx_per_s"] or 0) / ((node or {}).get("raw_jsonrpc_tx_per_s") or 1)
        print(
            f"targets (4 validators, raw JSON-RPC): >= {TARGET_NETWORK_TX_PER_S} contract tx/s: "
            f"{network['raw_jsonrpc_tx_per_s']} "
            f"({met((network['raw_jsonrpc_tx_per_s'] or 0) >= TARGET_NETWORK_TX_PER_S)}); "
            f">= {TARGET_NETWORK_SHARE:.0%} of the single node's: "
            + (f"{share:.0%} ({met(share >= TARGET_NETWORK_SHARE)})" if node is not None else "not measured"),
            flush=True,
        )
    finality, kill = (network.get("finality"), network.get("proposer_kill")) if network is not None else (None, None)
    if finality is not None and kill is not None:
        p99 = finality["p99_s"]
        print(
            f"4 validators, {finality['rate_tx_per_s']:.0f} tx/s steady ({finality['transactions']} sent, "
            f"{finality['final']} final on the follower): time to finality p50 {finality['p50_s']} s, p99 {p99} s "
            f"(target p99 < {TARGET_FINALITY_P99_S} s: {met(p99 is not None and p99 < TARGET_FINALITY_P99_S)}); "
            f"kill -9 of the proposer ({kill['killed']}) to the next block {kill['kill9_to_next_block_s']} s, round "
            f"{kill['next_block_round']} (target < {TARGET_PROPOSER_KILL_S} s: "
            f"{met(kill['kill9_to_next_block_s'] < TARGET_PROPOSER_KILL_S)})",
            flush=True,
        )
    if node is not None:
        _print_node_targets(node, recovery)
    result = {
        "benchmark": "chain",
        "workload": "1/3 register_asset, 1/3 create_grant, 1/3 anchor; reads: AccessGrants.check via eth_call",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
        "recovery": recovery,
    }
    print(f"written to {write_results(result, args.output)}")
    return 0


def _print_node_targets(node: dict[str, Any], recovery: dict[str, Any] | None) -> None:
    print(
        f"targets (consortium node, raw JSON-RPC): >= {TARGET_TX_PER_S} contract tx/s: {node['raw_jsonrpc_tx_per_s']} "
        f"({met((node['raw_jsonrpc_tx_per_s'] or 0) >= TARGET_TX_PER_S)}); >= {TARGET_READS_PER_S} eth_call/s: "
        f"{node['raw_jsonrpc_reads_per_s']} ({met((node['raw_jsonrpc_reads_per_s'] or 0) >= TARGET_READS_PER_S)})"
        + (
            f"; kill -9 to serving < {TARGET_RECOVERY_S} s: {recovery['kill9_to_serving_s']} "
            f"({met(recovery['kill9_to_serving_s'] < TARGET_RECOVERY_S)})"
            if recovery is not None
            else ""
        ),
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
