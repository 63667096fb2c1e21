"""``python -m bench.store``: the node's persistent key-value stores measured against each other.

For every kind in ``chain.node.store.available_kinds()`` (LMDB, SQLite, LevelDB if ``plyvel`` is installed):

a. durable atomic batches shaped like py-evm's: ``--batches`` batches of ``--batch-keys`` random 32-byte keys
   to 100-600-byte values, each committed (and fsync'd) before the next; plus single durable writes;
b. random point reads of existing keys, on the store from (a) and on the large store from (c);
c. a store of ``--big-keys`` keys: bulk-load rate, then open time (open and first read) after a clean close
   and after a writer was ``kill -9``-ed in the middle of its batches;
d. py-evm itself: a ``MiningChain`` with ``PragueVM`` over the store, ``--blocks`` blocks of ``--txs`` value
   transfers each (pre-signed with ``eth_keys``, decoded afresh per run), mined with ``mine_all``; the
   in-memory ``AtomicDB`` is the baseline. A counting pass reports what py-evm asks of the store per block.

Figures go to stdout and to ``bench/results/store.json``. Data lives in a temporary directory on the same
filesystem as the system temp dir (``--dir`` to choose), removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from eth.abc import AtomicDatabaseAPI, AtomicWriteBatchAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseAtomicDB
from eth.typing import AccountState, HeaderParams
from eth.vm.forks.prague import PragueVM
from eth_keys.datatypes import PrivateKey
from eth_typing import Address, BlockNumber

from chain.node.store import available_kinds, open_store

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
ROOT = Path(__file__).resolve().parent.parent
CHAIN_ID = 4242
SENDER_KEY = PrivateKey(b"\x42" * 32)

# A writer that commits batches until killed; prints each batch number once its batch has returned.
_WRITER = """
import os, random, sys
from pathlib import Path
from chain.node.store import open_store
rng = random.Random(int(sys.argv[3]))
with open_store(Path(sys.argv[1]), sys.argv[2]) as db:
    i = 0
    while True:
        with db.atomic_batch() as b:
            for _ in range(200):
                b[rng.randbytes(32)] = rng.randbytes(rng.randint(100, 600))
        print(i, flush=True)
        i += 1
"""


class BenchChain(MiningChain):
    vm_configuration = ((BlockNumber(0), PragueVM),)
    chain_id = CHAIN_ID


def _items(rng: random.Random, n: int) -> list[tuple[bytes, bytes]]:
    return [(rng.randbytes(32), rng.randbytes(rng.randint(100, 600))) for _ in range(n)]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _reads_per_s(db: AtomicDatabaseAPI, keys_: list[bytes], n: int, rng: random.Random) -> float:
    picks = [rng.choice(keys_) for _ in range(n)]
    start = time.perf_counter()
    for k in picks:
        db[k]
    return n / (time.perf_counter() - start)


def measure_batches(kind: str, root: Path, n_batches: int, batch_keys: int, n_reads: int) -> dict[str, Any]:
    rng = random.Random(1)
    batches = [_items(rng, batch_keys) for _ in range(n_batches)]
    payload = sum(len(k) + len(v) for b in batches for k, v in b)
    latencies: list[float] = []
    with open_store(root / f"batches-{kind}", kind) as db:
        start = time.perf_counter()
        for items in batches:
            t0 = time.perf_counter()
            with db.atomic_batch() as batch:
                for k, v in items:
                    batch[k] = v
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        singles = _items(rng, 300)
        t0 = time.perf_counter()
        for k, v in singles:
            db[k] = v
        single_elapsed = time.perf_counter() - t0
        all_keys = [k for b in batches for k, _ in b]
        reads = _reads_per_s(db, all_keys, n_reads, rng)
    return {
        "batches_per_s": round(n_batches / elapsed, 1),
        "keys_per_s": round(n_batches * batch_keys / elapsed),
        "mb_per_s": round(payload / elapsed / 1e6, 2),
        "batch_p50_ms": round(statistics.median(latencies) * 1e3, 2),
        "batch_p99_ms": round(_pct(latencies, 0.99) * 1e3, 2),
        "single_writes_per_s": round(len(singles) / single_elapsed, 1),
        "reads_per_s": round(reads),
    }


def _open_ms(kind: str, path: Path, probe: bytes) -> float:
    t0 = time.perf_counter()
    with open_store(path, kind) as db:
        db[probe]
        return (time.perf_counter() - t0) * 1e3


def _kill_writer_midway(kind: str, path: Path, after: int) -> int:
    """Run the writer on ``path`` until it has reported ``after`` batches, kill -9 it; batches it reported."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), kind, "7"], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    assert proc.stdout is not None
    done = 0
    try:
        for line in proc.stdout:
            done = int(line) + 1
            if done >= after:
                break
    finally:
        proc.kill()
        proc.wait()
    return done


def measure_big(kind: str, root: Path, n_keys: int, n_reads: int) -> dict[str, Any]:
    path = root / f"big-{kind}"
    rng = random.Random(2)
    sample: list[bytes] = []
    chunk = 10_000
    start = time.perf_counter()
    with open_store(path, kind) as db:
        for _ in range(0, n_keys, chunk):
            items = _items(rng, chunk)
            with db.atomic_batch() as batch:
                for k, v in items:
                    batch[k] = v
            sample.extend(k for k, _ in items[:: max(1, n_keys // 200_000)])
    load_elapsed = time.perf_counter() - start
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    probe = sample[len(sample) // 2]
    clean = statistics.median(_open_ms(kind, path, probe) for _ in range(5))
    with open_store(path, kind) as db:
        reads = _reads_per_s(db, sample, n_reads, rng)
    killed_after = _kill_writer_midway(kind, path, 50)
    recovery = _open_ms(kind, path, probe)
    return {
        "keys": n_keys,
        "load_keys_per_s": round(n_keys / load_elapsed),
        "disk_mb": round(size / 1e6, 1),
        "open_ms": round(clean, 2),
        "open_after_kill_ms": round(recovery, 2),
        "writer_batches_before_kill": killed_after,
        "reads_per_s": round(reads),
    }


def _signed_blocks(n_blocks: int, per_block: int) -> list[list[bytes]]:
    rng = random.Random(3)
    blocks: list[list[bytes]] = []
    nonce = 0
    for _ in range(n_blocks):
        encoded = []
        for _ in range(per_block):
            unsigned = PragueVM.create_unsigned_transaction(
                nonce=nonce, gas_price=10**10, gas=21_000, to=Address(rng.randbytes(20)), value=1 + nonce, data=b""
            )
            encoded.append(unsigned.as_signed_transaction(SENDER_KEY, chain_id=CHAIN_ID).encode())
            nonce += 1
        blocks.append(encoded)
    return blocks


def _run_chain(db: AtomicDatabaseAPI, blocks: list[list[bytes]]) -> float:
    """Genesis, then mine every block; seconds spent mining."""
    sender = Address(SENDER_KEY.public_key.to_canonical_address())
    params: dict[str, HeaderParams] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "coinbase": b"\0" * 20,
        "extra_data": b"",
        "nonce": b"\0" * 8,
        "mix_hash": b"\0" * 32,
    }
    state: AccountState = {sender: {"balance": 10**24, "nonce": 0, "code": b"", "storage": {}}}
    chain = cast(BenchChain, BenchChain.from_genesis(db, params, state))
    builder = PragueVM.get_transaction_builder()
    decoded: list[list[SignedTransactionAPI]] = [[builder.decode(tx) for tx in block] for block in blocks]
    start = time.perf_counter()
    for txs in decoded:
        _, _, computations = chain.mine_all(txs)
        if any(c.is_error for c in computations):
            raise RuntimeError("a benchmark transfer failed")
    elapsed = time.perf_counter() - start
    head = chain.get_canonical_head()
    if head.block_number != len(blocks):
        raise RuntimeError(f"head is block {head.block_number}, expected {len(blocks)}")
    return elapsed


class _CountingDB(BaseAtomicDB):
    """An in-memory AtomicDB that counts what py-evm asks of it."""

    def __init__(self) -> None:
        self.inner = AtomicDB()
        self.counts = {"reads": 0, "single_writes": 0, "batches": 0, "batch_writes": 0}

    def __getitem__(self, key: bytes) -> bytes:
        self.counts["reads"] += 1
        return self.inner[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.counts["single_writes"] += 1
        self.inner[key] = value

    def __delitem__(self, key: bytes) -> None:
        self.counts["single_writes"] += 1
        del self.inner[key]

    def _exists(self, key: bytes) -> bool:
        self.counts["reads"] += 1
        return key in self.inner

    @contextlib.contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        with self.inner.atomic_batch() as batch:
            yield batch
            self.counts["batches"] += 1
            self.counts["batch_writes"] += len(cast(Any, batch)._track_diff.diff())


def measure_chain(kind: str, root: Path, blocks: list[list[bytes]]) -> dict[str, Any]:
    n_tx = sum(len(b) for b in blocks)
    if kind == "memory":
        elapsed = _run_chain(AtomicDB(), blocks)
    else:
        with open_store(root / f"chain-{kind}", kind) as db:
            elapsed = _run_chain(db, blocks)
    return {"blocks_per_s": round(len(blocks) / elapsed, 2), "tx_per_s": round(n_tx / elapsed, 1)}


def count_chain_ops(blocks: list[list[bytes]]) -> dict[str, float]:
    db = _CountingDB()
    _run_chain(db, blocks[:20])
    return {k: round(v / min(20, len(blocks)), 1) for k, v in db.counts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The node's persistent key-value stores measured against each other")
    parser.add_argument("--kinds", nargs="*", default=list(available_kinds()))
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--batch-keys", type=int, default=200)
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--big-keys", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--txs", type=int, default=50)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the stores (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    results: dict[str, dict[str, Any]] = {k: {} for k in args.kinds}
    try:
        for kind in args.kinds:
            print(f"[{kind}] a, b: {args.batches} batches of {args.batch_keys} keys", flush=True)
            results[kind]["batches"] = measure_batches(kind, root, args.batches, args.batch_keys, args.reads)
            print(f"[{kind}] c: {args.big_keys} keys", flush=True)
            results[kind]["big"] = measure_big(kind, root, args.big_keys, args.reads)
            shutil.rmtree(root / f"big-{kind}")
        print(f"signing {args.blocks * args.txs} transfers", flush=True)
        blocks = _signed_blocks(args.blocks, args.txs)
        per_block = count_chain_ops(blocks)
        chain: dict[str, dict[str, Any]] = {}
        for kind in ["memory", *args.kinds]:
            print(f"[{kind}] d: {args.blocks} blocks x {args.txs} transfers", flush=True)
            chain[kind] = measure_chain(kind, root, blocks)
        for kind in args.kinds:
            results[kind]["chain"] = chain[kind]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _print_table(results, chain["memory"], per_block, args)
    out = {
        "benchmark": "store",
        "command": "python -m bench.store",
        "params": {k: v for k, v in vars(args).items() if k not in ("dir", "output")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
        "chain_in_memory_baseline": chain["memory"],
        "pyevm_store_ops_per_block": per_block,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    shown = args.output.relative_to(Path.cwd()) if args.output.is_relative_to(Path.cwd()) else args.output
    print(f"written to {shown}")
    return 0


def _print_table(
    results: dict[str, dict[str, Any]], memory: dict[str, Any], per_block: dict[str, float], args: argparse.Namespace
) -> None:
    rows: list[tuple[str, str]] = [
        (f"(a) batches/s ({args.batch_keys} keys, fsync'd)", "batches.batches_per_s"),
        ("(a) keys/s in batches", "batches.keys_per_s"),
        ("(a) batch commit p50 ms", "batches.batch_p50_ms"),
        ("(a) batch commit p99 ms", "batches.batch_p99_ms"),
        ("(a) single durable writes/s", "batches.single_writes_per_s"),
        (f"(b) reads/s, {args.batches * args.batch_keys} keys", "batches.reads_per_s"),
        (f"(b) reads/s, {args.big_keys} keys", "big.reads_per_s"),
        ("(c) bulk load keys/s (10k-key batches)", "big.load_keys_per_s"),
        ("(c) size on disk MB", "big.disk_mb"),
        ("(c) open + first read ms", "big.open_ms"),
        ("(c) open after kill -9 ms", "big.open_after_kill_ms"),
        (f"(d) py-evm blocks/s ({args.txs} transfers)", "chain.blocks_per_s"),
        ("(d) py-evm tx/s", "chain.tx_per_s"),
    ]
    kinds = list(results)
    print()
    print(f"{'':<42}" + "".join(f"{k:>14}" for k in kinds))
    for label, key in rows:
        group, field = key.split(".")
        print(f"{label:<42}" + "".join(f"{results[k][group][field]:>14}" for k in kinds))
    print(f"(d) in-memory AtomicDB baseline: {memory['blocks_per_s']} blocks/s, {memory['tx_per_s']} tx/s")
    print("(d) py-evm per block: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in per_block.items()))


if __name__ == "__main__":
    raise SystemExit(main())
