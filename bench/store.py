"""``python -m bench.store``: the node's persistent key-value stores measured against each other.

For every kind in ``chain.node.store.available_kinds()`` (LMDB, SQLite, LevelDB if ``plyvel`` is installed):

a. durable atomic batches shaped like py-evm's: ``--batches`` batches of ``--batch-keys`` random 32-byte keys
   to 100-600-byte values, each committed (and fsync'd) before the next; then 300 single durable writes;
b. random point reads of existing keys, on the store from (a) and on the large store from (c);
c. a store of ``--big-keys`` keys loaded in 10k-key batches: load rate, size on disk, then open time (open
   and first read) after a clean close (median of 5) and after a writer was ``kill -9``-ed in the middle of
   its batches (median of 3);
d. py-evm itself: a ``MiningChain`` with ``PragueVM`` per kind, plus one on the in-memory ``AtomicDB`` as
   the baseline, all from the same genesis, mining the same ``--blocks`` blocks of ``--txs`` value transfers
   (pre-signed with ``eth_keys``, decoded afresh per chain) with ``mine_all``, hashing with the Keccak-256 a node
   selects (``chain.node.keccak``). A counting pass reports what py-evm asks of its database per block.

The kinds take turns step by step (a batch, a chunk of reads, a block; the order rotated every step), so
that load from other processes on the machine falls on all of them alike; the load average before and after
is recorded. Figures go to stdout and to ``bench/results/store.json``. Data lives in a temporary directory
(``--dir`` to choose where; the default is the system temp dir), removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from eth.abc import AtomicDatabaseAPI, AtomicWriteBatchAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseAtomicDB
from eth.typing import AccountState, HeaderParams
from eth.vm.forks.prague import PragueVM
from eth_keys.backends import get_default_backend_class
from eth_keys.datatypes import PrivateKey
from eth_typing import Address, BlockNumber

from bench.common import baseline_options, percentile, write_results
from chain.node.keccak import select_fast_keccak
from chain.node.store import Store, available_kinds, open_store

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


def _interleaved(kinds: list[str], steps: int, step: Callable[[str, int], None]) -> dict[str, list[float]]:
    """Seconds of each ``step(kind, i)``, i in range(steps), the kinds taking turns (order rotated every step)."""
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for i in range(steps):
        for j in range(len(kinds)):
            kind = kinds[(i + j) % len(kinds)]
            t0 = time.perf_counter()
            step(kind, i)
            times[kind].append(time.perf_counter() - t0)
    return times


def _commit(db: AtomicDatabaseAPI, items: list[tuple[bytes, bytes]]) -> None:
    with db.atomic_batch() as batch:
        for k, v in items:
            batch[k] = v


def _read_rates(
    stores: dict[str, Store], keys_: list[bytes], n_reads: int, rng: random.Random, chunk: int = 2000
) -> dict[str, int]:
    picks = [rng.choice(keys_) for _ in range(chunk)]

    def read(kind: str, _: int) -> None:
        db = stores[kind]
        for k in picks:
            db[k]

    times = _interleaved(list(stores), max(1, n_reads // chunk), read)
    return {k: round(len(t) * chunk / sum(t)) for k, t in times.items()}


def measure_writes(kinds: list[str], root: Path, n_batches: int, batch_keys: int, n_reads: int) -> dict[str, Any]:
    """(a) and (b) on a store per kind, the kinds taking turns batch by batch."""
    rng = random.Random(1)
    batches = [_items(rng, batch_keys) for _ in range(n_batches)]
    payload = sum(len(k) + len(v) for b in batches for k, v in b)
    singles = _items(rng, 300)
    stores = {k: open_store(root / f"batches-{k}", k) for k in kinds}
    try:
        latencies = _interleaved(kinds, n_batches, lambda kind, i: _commit(stores[kind], batches[i]))

        def single(kind: str, i: int) -> None:
            stores[kind][singles[i][0]] = singles[i][1]

        single_times = _interleaved(kinds, len(singles), single)
        reads = _read_rates(stores, [k for b in batches for k, _ in b], n_reads, rng)
    finally:
        for db in stores.values():
            db.close()
    return {
        kind: {
            "batches_per_s": round(n_batches / sum(latencies[kind]), 1),
            "keys_per_s": round(n_batches * batch_keys / sum(latencies[kind])),
            "mb_per_s": round(payload / sum(latencies[kind]) / 1e6, 2),
            "batch_p50_ms": round(statistics.median(latencies[kind]) * 1e3, 2),
            "batch_p99_ms": round(percentile(latencies[kind], 0.99) * 1e3, 2),
            "single_writes_per_s": round(len(singles) / sum(single_times[kind]), 1),
            "single_write_p50_ms": round(statistics.median(single_times[kind]) * 1e3, 2),
            "reads_per_s": reads[kind],
        }
        for kind in kinds
    }


def _open_and_read(kind: str, path: Path, probe: bytes) -> None:
    with open_store(path, kind) as db:
        db[probe]


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
        proc.stdout.close()
    return done


def measure_big(kinds: list[str], root: Path, n_keys: int, n_reads: int) -> dict[str, Any]:
    """(c), and (b) on the large store: load ``n_keys`` keys in 10k-key batches (kinds taking turns), then
    time open-and-first-read after a clean close (median of 5) and after a writer was killed (median of 3)."""
    paths = {k: root / f"big-{k}" for k in kinds}
    rng = random.Random(2)
    chunk = 10_000
    sample: list[bytes] = []
    load_s = dict.fromkeys(kinds, 0.0)
    stores = {k: open_store(paths[k], k) for k in kinds}
    try:
        for _ in range(0, n_keys, chunk):
            items = _items(rng, chunk)
            sample.extend(k for k, _ in items[:: max(1, n_keys // 200_000)])
            for kind in kinds:
                t0 = time.perf_counter()
                _commit(stores[kind], items)
                load_s[kind] += time.perf_counter() - t0
    finally:
        for db in stores.values():
            db.close()
    sizes = {k: sum(f.stat().st_size for f in paths[k].rglob("*") if f.is_file()) for k in kinds}
    probe = sample[len(sample) // 2]
    clean = _interleaved(kinds, 5, lambda kind, _: _open_and_read(kind, paths[kind], probe))
    stores = {k: open_store(paths[k], k) for k in kinds}
    try:
        reads = _read_rates(stores, sample, n_reads, rng)
    finally:
        for db in stores.values():
            db.close()
    recovery: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(3):
        for kind in kinds:
            _kill_writer_midway(kind, paths[kind], 20)
        for kind, t in _interleaved(kinds, 1, lambda kind, _: _open_and_read(kind, paths[kind], probe)).items():
            recovery[kind].extend(t)
    return {
        kind: {
            "keys": n_keys,
            "load_keys_per_s": round(n_keys / load_s[kind]),
            "disk_mb": round(sizes[kind] / 1e6, 1),
            "open_ms": round(statistics.median(clean[kind]) * 1e3, 2),
            "open_after_kill_ms": round(statistics.median(recovery[kind]) * 1e3, 2),
            "reads_per_s": reads[kind],
        }
        for kind in kinds
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


def _genesis(db: AtomicDatabaseAPI) -> BenchChain:
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
    return cast(BenchChain, BenchChain.from_genesis(db, params, state))


def _mine(chain: BenchChain, txs: list[SignedTransactionAPI]) -> None:
    _, _, computations = chain.mine_all(txs)
    if any(c.is_error for c in computations):
        raise RuntimeError("a benchmark transfer failed")


def _decode(blocks: list[list[bytes]]) -> list[list[SignedTransactionAPI]]:
    """Fresh transaction objects: py-evm caches the recovered sender on each."""
    builder = PragueVM.get_transaction_builder()
    return [[builder.decode(tx) for tx in block] for block in blocks]


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


def measure_chain(kinds: list[str], root: Path, blocks: list[list[bytes]]) -> dict[str, Any]:
    """(d): a chain per kind (and one in memory) from the same genesis, mining the same blocks in turns."""
    names = ["memory", *kinds]
    stores = {k: open_store(root / f"chain-{k}", k) for k in kinds}
    try:
        dbs: dict[str, AtomicDatabaseAPI] = {"memory": AtomicDB(), **stores}
        chains = {k: _genesis(dbs[k]) for k in names}
        txs = {k: _decode(blocks) for k in names}
        times = _interleaved(names, len(blocks), lambda kind, i: _mine(chains[kind], txs[kind][i]))
        heads = {(h.block_number, h.state_root) for h in (chains[k].get_canonical_head() for k in names)}
        if len(heads) != 1 or heads.pop()[0] != len(blocks):  # timestamps, hence hashes, may differ
            raise RuntimeError("the chains did not all reach the same state")
    finally:
        for db in stores.values():
            db.close()
    n_tx = sum(len(b) for b in blocks)
    return {
        k: {
            "blocks_per_s": round(len(blocks) / sum(times[k]), 2),
            "tx_per_s": round(n_tx / sum(times[k]), 1),
            "block_p50_ms": round(statistics.median(times[k]) * 1e3, 1),
        }
        for k in names
    }


def count_chain_ops(blocks: list[list[bytes]]) -> dict[str, float]:
    db = _CountingDB()
    chain = _genesis(db)
    for txs in _decode(blocks[:20]):
        _mine(chain, txs)
    return {k: round(v / min(20, len(blocks)), 1) for k, v in db.counts.items()}


def _pin_ecc_backend(choice: str) -> str:
    """Fix eth_keys' backend for the whole run (it is looked up anew for every key); its class path."""
    paths = {"native": "eth_keys.backends.NativeECCBackend", "coincurve": "eth_keys.backends.CoinCurveECCBackend"}
    path = paths.get(choice) or os.environ.get("ECC_BACKEND_CLASS") or get_default_backend_class()
    os.environ["ECC_BACKEND_CLASS"] = path
    return path


def options() -> argparse.ArgumentParser:
    """The command line of ``python -m bench.store``."""
    parser = argparse.ArgumentParser(description="The node's persistent key-value stores measured against each other")
    parser.add_argument("--kinds", nargs="*", default=list(available_kinds()))
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--batch-keys", type=int, default=200)
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--big-keys", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--txs", type=int, default=50)
    parser.add_argument(
        "--ecc",
        choices=["default", "native", "coincurve"],
        default="default",
        help="eth_keys backend for (d): pure Python or coincurve (default: coincurve if installed)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to put the stores (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    baseline_options(parser, "store", "run its store benchmark and this tree's in turn, at the sizes given", 3)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = options().parse_args(argv)
    if args.baseline is not None:
        from bench.store_baseline import compare

        compare(args)
        return 0
    ecc = _pin_ecc_backend(args.ecc)
    select_fast_keccak()  # as a node does when it is built: (d) runs py-evm on the node's Keccak-256
    root = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    kinds: list[str] = args.kinds
    load_before = os.getloadavg()
    try:
        print(f"(a, b) {args.batches} batches of {args.batch_keys} keys", flush=True)
        writes = measure_writes(kinds, root, args.batches, args.batch_keys, args.reads)
        print(f"(c) {args.big_keys} keys", flush=True)
        big = measure_big(kinds, root, args.big_keys, args.reads)
        for kind in kinds:
            shutil.rmtree(root / f"big-{kind}")
        print(f"(d) signing {args.blocks * args.txs} transfers", flush=True)
        blocks = _signed_blocks(args.blocks, args.txs)
        per_block = count_chain_ops(blocks)
        print(f"(d) {args.blocks} blocks x {args.txs} transfers", flush=True)
        chain = measure_chain(kinds, root, blocks)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results = {k: {"batches": writes[k], "big": big[k], "chain": chain[k]} for k in kinds}
    _print_table(results, chain["memory"], per_block, args)
    print(f"(d) signatures checked with {ecc}")
    out = {
        "benchmark": "store",
        "command": "python -m bench.store",
        "params": {k: v for k, v in vars(args).items() if k not in ("dir", "output")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "results": results,
        "chain_ecc_backend": ecc,
        "chain_in_memory_baseline": chain["memory"],
        "pyevm_store_ops_per_block": per_block,
    }
    print(f"written to {write_results(out, args.output)}")
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
        ("(d) py-evm block p50 ms", "chain.block_p50_ms"),
    ]
    kinds = list(results)
    print()
    print(f"{'':<42}" + "".join(f"{k:>14}" for k in kinds))
    for label, key in rows:
        group, field = key.split(".")
        print(f"{label:<42}" + "".join(f"{results[k][group][field]:>14}" for k in kinds))
    print(
        f"(d) in-memory AtomicDB baseline: {memory['blocks_per_s']} blocks/s, {memory['tx_per_s']} tx/s,"
        f" block p50 {memory['block_p50_ms']} ms"
    )
    print("(d) py-evm per block: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in per_block.items()))


if __name__ == "__main__":
    raise SystemExit(main())
