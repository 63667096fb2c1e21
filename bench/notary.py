"""``make bench-notary``: the notary's ingest, proofs, checkpoint latency and memory, with pymerkle beside it.

Over ``--events`` audit events (default 1,000,000) in gateway-signed batches of ``--batch`` (default 1,000):

1. durable ingest in-process: ``Sequencer.submit`` on fresh batches into a ``LogStore`` (SQLite WAL,
   ``synchronous=FULL``), every batch committed before its receipts exist; the time to make and sign the
   batches is left out; once for a log of the ``intl`` suite and once for one of ``sm`` (SM3 tree, the gateway's
   SM2 batch signature verified and the receipt note SM2-signed once per batch);
2. durable ingest over HTTP: the notary API (uvicorn) in its own process (``bench.notary_server``), its
   checkpointer running against 7 witness processes (``notary.witness``, policy 4 of 7 with the regulator);
   this process posts signed batches with httpx over ``--connections`` keep-alive connections (one gateway
   each) and checks every answer;
3. inclusion proofs: ``LogReader.inclusion`` of random leaves against the full size, in-process (under
   ``intl`` and ``sm``, each on the log of (1)); then
   ``GET /v1/proofs/inclusion?index=`` against the published checkpoint over HTTP, one request at a time,
   latency p50/p99 (every proof is verified afterwards);
4. receipt → cosigned checkpoint: while one gateway sends batches at a steady ``--steady-rate``, the time from
   each batch's receipt (its signed ``time_ms``) to the ``published_ms`` of the first published checkpoint
   covering it, read back from ``/v1/checkpoints``; the same figure under the full-speed load of (2) too;
5. memory: the notary server process's peak RSS (``VmHWM``) over (2) to (4), at ``--events`` entries; the
   figure at 10 M entries needs ``--events 10000000``;
6. pymerkle's ``InmemoryTree`` against our tree in memory (tiles, as the sequencer writes them) over the same
   entries: append and root, inclusion proofs, verification; at most ``--peer-leaves`` leaves;
7. RFC 9162 hashing: ``root_of`` over leaf hashes, ``verify_inclusion`` of the proofs from (6);
8. the tree hash, SHA-256 (suite ``intl``) beside SM3 (suite ``sm``), on the pure tree in memory over the
   entries of (6): leaf hashes, ``root_of``, ``levels_of`` (every level, what a tile writer hashes), then
   ``prove_inclusion`` and ``verify_inclusion`` of the same random leaves; this process's CPU time (which
   other work on the machine does not shrink), best of 3 rounds, the hashes taking turns.

Figures go to stdout (figure, ours, target, met, peer) and to ``bench/results/notary.json`` with the
conditions. Data lives in a temporary directory (``--dir`` to choose where), removed at the end.

``--proofs-at N`` measures (3) in-process only, at N entries, in a minute or two even at 10 M: a log of N
synthetic leaf hashes whose tiles (and the inner levels of the full ones) are written through ``LogStore`` as
the sequencer writes them, without entries; ``LogReader.inclusion`` of ``--proofs`` random leaves, cold tile
cache then warm (wall clock, and per second of this process's CPU time, which other work on the machine does
not shrink), each of the first 1,000 verified. ``--without-levels`` writes no inner levels, as a store
written before them: proofs then recompute each tile's levels on a cache miss. Printed, and written to
``--output`` only when given.

``--tree-hashes N`` measures (8) only, on N leaves, in seconds; printed, and written to ``--output`` only
when given.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import gc
import json
import os
import platform
import random
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import baseline_options, met, percentile, print_table, status_kib, wait_for, write_results
from bench.notary_server import ORG, ORIGIN, THRESHOLD, WITNESS_ORGS, Cluster
from notary.event import LOG_VERSIONS
from notary.integrate import TileWriter
from notary.log.hashing import SHA256, SM3, Hash32, TreeHash, hash_leaf, root_of
from notary.log.proof import MemoryNodeReader, prove_inclusion, root_at, verify_inclusion
from notary.log.tiles import TileNodeReader
from notary.logsuite import INTL, SM, LogSuite, PrivateKey, public_bytes
from notary.reader import LogReader
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.store import LogStore
from suite.sm2 import SM2PrivateKey

RESULTS = Path(__file__).resolve().parent / "results" / "notary.json"
TEN_MILLION = 10_000_000
T = TypeVar("T")

TARGETS = {
    "ingest_inprocess": 20_000,  # events/s, at least
    "ingest_http": 10_000,  # events/s, at least
    "proofs_inprocess": 20_000,  # proofs/s, at least
    "ingest_inprocess_sm": 10_000,  # events/s, at least, a log of the sm suite
    "proofs_inprocess_sm": 20_000,  # proofs/s, at least, a log of the sm suite
    "proof_http_p99_ms": 10.0,  # at most
    "checkpoint_p99_s": 2.0,  # at most
    "rss_mib": 500,  # at most
}

# Published figures of other logs (not measured here; conditions differ): REFERENCE.md.
PUBLISHED = {"ingest": "Tessera POSIX ~2,900/s, Trillian 400-500/s (published)"}


# ---------------------------------------------------------------------------------------------- batches


def sample_event(gateway_id: str, event_id: str, seq: int, time_ms: int, version: int = 1) -> dict[str, Any]:
    """A valid audit event (``docs/notary.md``) of schema ``version`` (3 for a log of the ``sm`` suite, which takes
    no other): an allowed GET of a news feed."""
    return {
        "v": version,
        "event_id": event_id,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "time_ms": time_ms,
        "caller_org": "jinghua-sec",
        "caller_identity": "ab" * 32,
        "provider_org": ORG,
        "center": "public-business",
        "unit": "news",
        "api": "news-latest",
        "method": "GET",
        "route": "/v1/news/latest",
        "asset_id": "financial-news",
        "asset_version": 2,
        "grant_id": "0x" + "7" * 64,
        "decision": "allow",
        "denial_reason": None,
        "request_digest": "01" * 32,
        "response_digest": "02" * 32,
        "status": 200,
        "latency_us": 1834,
        "gateway_id": gateway_id,
        "gateway_seq": seq,
    }


class BatchMaker:
    """Signed batch bodies of one gateway, consecutive sequence numbers, made fast from a template (checked
    once against ``encode_batch``) so the client spends its CPU on sending, not on encoding."""

    def __init__(self, gateway_id: str, key: PrivateKey, size: int, version: int = 1) -> None:
        self.gateway_id = gateway_id
        self.size = size
        self.next_seq = 1
        self._key = key
        self._name = gateway_id.split("/")[1]
        marker = sample_event(gateway_id, "@ID@", 111_111_111_111_111, 222_222_222_222_222, version)
        text = json.dumps(marker, separators=(",", ":")).replace("%", "%%")
        self._template = (
            text.replace('"@ID@"', '"%(id)s"').replace("111111111111111", "%(seq)d").replace("222222222222222", "%(t)d")
        )
        self._head = json.dumps({"gateway": gateway_id}, separators=(",", ":"))[:-1] + ',"events":['
        now = int(time.time() * 1000)
        reference = encode_batch(gateway_id, [sample_event(gateway_id, f"{self._name}-1", 1, now, version)])
        if self._body(1, 1, now) != reference:
            raise AssertionError("the batch template does not encode like encode_batch")

    def _body(self, first: int, count: int, now: int) -> bytes:
        template, name = self._template, self._name
        events = ",".join([template % {"id": f"{name}-{s}", "seq": s, "t": now} for s in range(first, first + count)])
        return (self._head + events + "]}").encode()

    def next(self) -> tuple[bytes, bytes]:
        """The next batch: body and the gateway's signature over it."""
        body = self._body(self.next_seq, self.size, int(time.time() * 1000))
        self.next_seq += self.size
        return body, sign_batch_body(self._key, body)


# ---------------------------------------------------------------------------------------------- memory


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------- in-process


@dataclass
class InProcessLog:
    store: LogStore
    sequencer: Sequencer
    reader: LogReader


def open_log(directory: Path, gateway_keys: dict[str, bytes], suite: LogSuite = INTL) -> InProcessLog:
    store = LogStore(directory / "notary.db")
    holder: list[Sequencer] = []
    # as NotaryService wires it: no size query per proof
    reader = LogReader(store, lambda: holder[0].size, tree=suite.tree)
    log_key = SM2PrivateKey.generate() if suite is SM else Ed25519PrivateKey.generate()
    sequencer = Sequencer(
        store,
        suite.note_signer(ORIGIN, log_key),
        SequencerSettings(ORIGIN),
        gateway_keys,
        on_commit=reader.invalidate,
        suite=suite,
    )
    holder.append(sequencer)
    return InProcessLog(store, sequencer, reader)


def measure_ingest_inprocess(log: InProcessLog, maker: BatchMaker, n_batches: int) -> dict[str, Any]:
    """(1): submit ``n_batches`` fresh batches one after another; only ``submit`` is timed."""
    latencies: list[float] = []
    for _ in range(n_batches):
        body, signature = maker.next()
        t0 = time.perf_counter()
        result = log.sequencer.submit(maker.gateway_id, body, signature)
        latencies.append(time.perf_counter() - t0)
        if result.new != maker.size:
            raise AssertionError(f"batch sequenced {result.new} new events, expected {maker.size}")
    events = n_batches * maker.size
    disk = sum(p.stat().st_size for p in log.store.path.parent.iterdir() if p.is_file())
    return {
        "events": events,
        "events_per_s": round(events / sum(latencies)),
        "batch_p50_ms": round(statistics.median(latencies) * 1e3, 2),
        "batch_p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
        "disk_bytes_per_event": round(disk / events),
        "bench_process_peak_rss_mib": round(status_kib("self", "VmHWM") / 1024, 1),
    }


def measure_proofs_inprocess(log: InProcessLog, n: int, rng: random.Random) -> dict[str, Any]:
    """(3) in-process: ``LogReader.inclusion`` of random leaves against the full size (cold tile cache)."""
    size = log.sequencer.size
    indexes = [rng.randrange(size) for _ in range(n)]
    t0 = time.perf_counter()
    proofs = [log.reader.inclusion(i, size) for i in indexes]
    elapsed = time.perf_counter() - t0
    root = log.reader.root_at(size)
    tree = log.reader.tree
    for i, proof in zip(indexes[:1000], proofs, strict=False):
        entry = log.store.entry(i)
        assert entry is not None
        verify_inclusion(tree.leaf(entry.data), i, size, proof, root, tree)
    t0 = time.perf_counter()
    for i in indexes:
        log.reader.inclusion(i, size)
    warm = time.perf_counter() - t0
    return {
        "size": size,
        "proofs": n,
        "proofs_per_s": round(n / elapsed),
        "warm_cache_proofs_per_s": round(n / warm),
        "tile_cache": 4096,
    }


def synthetic_leaf(index: int) -> Hash32:
    return hash_leaf(b"synthetic entry %d" % index)


def build_synthetic_log(directory: Path, size: int, with_levels: bool) -> LogStore:
    """A store holding the tiles of ``size`` synthetic leaves (and their inner levels if ``with_levels``), written
    with ``TileWriter`` and ``LogStore.write_tiles`` as the sequencer writes them; no entries."""
    store = LogStore(directory / "notary.db")
    writer = TileWriter(0, {})
    chunk = 1 << 16
    for first in range(0, size, chunk):
        tiles, levels = writer.append_levels([synthetic_leaf(i) for i in range(first, min(size, first + chunk))])
        with store.transaction() as conn:
            store.write_tiles(conn, tiles, levels if with_levels else {})
    return store


def measure_proofs_at(directory: Path, size: int, n: int, with_levels: bool, rng: random.Random) -> dict[str, Any]:
    """(3) in-process at ``size`` entries on a synthetic log: cold tile cache, then warm; 1,000 proofs verified."""
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    store = build_synthetic_log(directory, size, with_levels)
    build_s = time.perf_counter() - t0
    try:
        disk = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
        reader = LogReader(store, lambda: size)
        indexes = [rng.randrange(size) for _ in range(n)]
        load_start = os.getloadavg()
        t0, c0 = time.perf_counter(), time.process_time()
        proofs = [reader.inclusion(i, size) for i in indexes]
        cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        for i in indexes:
            reader.inclusion(i, size)
        warm, warm_cpu = time.perf_counter() - t0, time.process_time() - c0
        load_end = os.getloadavg()
        root = reader.root_at(size)
        for i, proof in zip(indexes[:1000], proofs, strict=False):
            verify_inclusion(synthetic_leaf(i), i, size, proof, root)
    finally:
        store.close()
    return {
        "size": size,
        "proofs": n,
        "inner_levels_stored": with_levels,
        "proofs_per_s": round(n / cold),
        "warm_cache_proofs_per_s": round(n / warm),
        "per_cpu_second": {"proofs": round(n / cold_cpu), "warm_cache_proofs": round(n / warm_cpu)},
        "tile_cache": 4096,
        "build_s": round(build_s, 1),
        "db_bytes": disk,
        "load_average_1m_before_build_start_end": [round(x[0], 2) for x in (load_before, load_start, load_end)],
    }


def run_proofs_at(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="bench-notary-proofs-", dir=args.dir))
    try:
        print(f"(3) in-process: {args.proofs} inclusion proofs at {args.proofs_at} synthetic entries", flush=True)
        result = measure_proofs_at(root, args.proofs_at, args.proofs, not args.without_levels, random.Random(1))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = {
        "benchmark": "notary proofs",
        "command": f"python -m bench.notary --proofs-at {args.proofs_at} --proofs {args.proofs}"
        + (" --without-levels" if args.without_levels else ""),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "target_proofs_per_s": TARGETS["proofs_inprocess"],
        "results": result,
    }
    print(json.dumps(out, indent=2))
    if args.output is not None:
        write_results(out, args.output)
    return 0


# ---------------------------------------------------------------------------------------------- the cluster


@contextmanager
def rss_sampler(pid: int, every: float = 0.25) -> Iterator[list[int]]:
    """Samples of the process's VmRSS (KiB) while the block runs."""
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            samples.append(status_kib(pid, "VmRSS"))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


_INDEX = re.compile(rb'"index":(\d+)')
_TIME = re.compile(rb'"time_ms":(\d+)')


@dataclass(frozen=True, slots=True)
class Sent:
    """A batch the notary receipted: its first index, count, the receipts' time_ms and when the answer came."""

    first: int
    count: int
    time_ms: int
    received_ms: int


def _post(client: httpx.Client, maker: BatchMaker) -> Sent:
    body, signature = maker.next()
    headers = {
        "Consortium-Gateway": maker.gateway_id,
        "Consortium-Signature": _b64(signature),
        "Content-Type": "application/json",
    }
    response = client.post("/v1/batches", content=body, headers=headers)
    if response.status_code != 200 or not response.content.startswith(b'{"new":%d,' % maker.size):
        raise RuntimeError(f"batch refused: {response.status_code} {response.content[:300]!r}")
    head = response.content[:600]  # the first receipt: its index and time are all a batch needs here
    index, stamp = _INDEX.search(head), _TIME.search(head)
    assert index is not None and stamp is not None
    return Sent(int(index.group(1)), maker.size, int(stamp.group(1)), int(time.time() * 1000))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def measure_ingest_http(cluster: Cluster, makers: list[BatchMaker], n_batches: int) -> dict[str, Any]:
    """(2): the makers (one gateway, one connection each) post ``n_batches`` batches in all, concurrently."""
    sent: list[Sent] = []
    errors: list[BaseException] = []
    shares = [len(range(k, n_batches, len(makers))) for k in range(len(makers))]

    def client(maker: BatchMaker, count: int) -> None:
        try:
            with httpx.Client(base_url=cluster.url, timeout=120) as http:
                for _ in range(count):
                    sent.append(_post(http, maker))
        except BaseException as exc:
            errors.append(exc)

    cpu0, own0 = _cpu_seconds(cluster.pid), time.process_time()
    threads = [threading.Thread(target=client, args=(m, c)) for m, c in zip(makers, shares, strict=True)]
    with rss_sampler(cluster.pid) as samples:
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]!r}") from errors[0]
    events = n_batches * makers[0].size
    server_cpu = _cpu_seconds(cluster.pid) - cpu0
    return {
        "events": events,
        "connections": len(makers),
        "events_per_s": round(events / elapsed),
        "seconds": round(elapsed, 1),
        "server_cpu_percent_of_one_core": round(100 * server_cpu / elapsed),
        "client_cpu_percent_of_one_core": round(100 * (time.process_time() - own0) / elapsed),
        "server_rss_max_sampled_mib": round(max(samples, default=0) / 1024, 1),
        "sent": sent,
    }


def published_checkpoints(url: str) -> list[tuple[int, int]]:
    """(size, published_ms) of every published checkpoint, in size order, from ``/v1/checkpoints``."""
    rows: list[tuple[int, int]] = []
    after = 0
    with httpx.Client(base_url=url, timeout=30) as http:
        while True:
            page = http.get("/v1/checkpoints", params={"after": after, "limit": 1000}).json()
            rows.extend((int(c["size"]), int(c["published_ms"])) for c in page["checkpoints"])
            if page["next"] is None:
                return rows
            after = int(page["next"])


def wait_published(url: str, size: int, deadline_s: float = 60) -> None:
    def covered() -> bool:
        response = httpx.get(url + "/checkpoint", timeout=5)
        return response.status_code == 200 and int(response.text.split("\n")[1]) >= size

    wait_for(covered, deadline_s, f"a published checkpoint of size {size}")


def checkpoint_latencies(sent: list[Sent], published: list[tuple[int, int]]) -> dict[str, Any]:
    """(4): for each receipted batch, the first published checkpoint that covers all of it."""
    sizes = [s for s, _ in published]
    delays: list[float] = []
    for batch in sent:
        k = bisect.bisect_right(sizes, batch.first + batch.count - 1)
        if k == len(sizes):
            raise AssertionError(f"no published checkpoint covers index {batch.first + batch.count - 1}")
        delays.append((published[k][1] - batch.time_ms) / 1000)
    return {
        "batches": len(delays),
        "p50_s": round(statistics.median(delays), 3),
        "p99_s": round(percentile(delays, 0.99), 3),
        "max_s": round(max(delays), 3),
    }


def measure_steady(cluster: Cluster, maker: BatchMaker, rate: float, seconds: float) -> dict[str, Any]:
    """(4): one gateway sends a batch every ``batch / rate`` seconds for ``seconds``."""
    interval = maker.size / rate
    sent: list[Sent] = []
    with httpx.Client(base_url=cluster.url, timeout=60) as http:
        start = time.monotonic()
        k = 0
        while k * interval < seconds:
            delay = start + k * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent.append(_post(http, maker))
            k += 1
        elapsed = time.monotonic() - start
    last = max(s.first + s.count for s in sent)
    wait_published(cluster.url, last)
    result = checkpoint_latencies(sent, published_checkpoints(cluster.url))
    result["events_per_s_sent"] = round(len(sent) * maker.size / elapsed)
    latest = httpx.get(cluster.url + "/v1/checkpoints", params={"after": last - 1, "limit": 1}, timeout=10).json()
    result["last_checkpoint_cosigners"] = latest["checkpoints"][0]["cosigners"]
    return result


def measure_proofs_http(cluster: Cluster, n: int, rng: random.Random) -> dict[str, Any]:
    """(3) over HTTP: ``GET /v1/proofs/inclusion?index=`` of random leaves, one request at a time."""
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        size = int(http.get("/checkpoint").text.split("\n")[1])
        for _ in range(20):  # warm up the connection and the process
            http.get("/v1/proofs/inclusion", params={"index": rng.randrange(size)})
        latencies: list[float] = []
        answers: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        for _ in range(n):
            index = rng.randrange(size)
            t1 = time.perf_counter()
            response = http.get("/v1/proofs/inclusion", params={"index": index})
            latencies.append(time.perf_counter() - t1)
            if response.status_code != 200:
                raise RuntimeError(f"inclusion proof refused: {response.status_code} {response.text[:300]}")
            answers.append(response.json())
        elapsed = time.perf_counter() - t0
    for a in answers:
        proof = [base64.b64decode(h) for h in a["proof"]]
        verify_inclusion(base64.b64decode(a["leaf_hash"]), a["index"], a["size"], proof, base64.b64decode(a["root"]))
    return {
        "size": size,
        "requests": n,
        "p50_ms": round(statistics.median(latencies) * 1e3, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
        "requests_per_s": round(n / elapsed),
    }


# ---------------------------------------------------------------------------------------------- pymerkle


def _entries(first: int, count: int) -> list[bytes]:
    """Entries the size of a canonical audit event (~650 bytes), distinct."""
    filler = b"e" * 640
    return [b"%010d" % i + filler for i in range(first, first + count)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The garbage collector collected, then paused (as ``timeit`` does): neither tree pays for the other's
    objects (pymerkle's millions of nodes make every full collection slow)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    """``work()`` and its seconds, the garbage collector paused."""
    with _gc_paused():
        t0 = time.perf_counter()
        result = work()
        return result, time.perf_counter() - t0


def measure_peer(n: int, n_proofs: int, batch: int, rng: random.Random) -> dict[str, Any]:
    """(6) and (7): our tree in memory (tiles, written as the sequencer writes them, ``batch`` leaves at a time)
    against pymerkle's InmemoryTree, over the same ``n`` entries; proofs of the same random leaves, checked equal;
    verification of each."""
    from pymerkle import InmemoryTree  # type: ignore[import-untyped]
    from pymerkle import verify_inclusion as peer_verify

    tiles: dict[tuple[int, int], bytes] = {}
    writer = TileWriter(0, {})
    tree = InmemoryTree()
    nodes = TileNodeReader(lambda level, index: tiles[(level, index)], cache_size=1 << 20)

    def ours_append(entries: list[bytes]) -> None:
        for k in range(0, len(entries), batch):
            tiles.update(writer.append([hash_leaf(e) for e in entries[k : k + batch]]))

    def peer_append(entries: list[bytes]) -> None:
        for e in entries:
            tree.append_entry(e)

    ours_s = peer_s = 0.0
    with _gc_paused():
        for first in range(0, n, 10_000):  # the entries are made outside the timed parts
            entries = _entries(first, min(10_000, n - first))
            t0 = time.perf_counter()
            ours_append(entries)
            t1 = time.perf_counter()
            peer_append(entries)
            peer_s += time.perf_counter() - t1
            ours_s += t1 - t0
    ours_root, seconds = _timed(lambda: root_at(n, nodes))
    ours_s += seconds
    peer_root, seconds = _timed(lambda: tree.get_root())
    peer_s += seconds
    if peer_root != ours_root:
        raise AssertionError("pymerkle and notary.log disagree on the root")

    indexes = [rng.randrange(n) for _ in range(n_proofs)]
    ours_proofs, ours_prove_s = _timed(lambda: [prove_inclusion(i, n, nodes) for i in indexes])
    peer_proofs, peer_prove_s = _timed(lambda: [tree.prove_inclusion(i + 1, n) for i in indexes])
    leaves = [tree.get_leaf(i + 1) for i in indexes]
    for ours, peer in zip(ours_proofs, peer_proofs, strict=True):
        if list(ours) != list(peer.path[1:]):  # pymerkle's path starts with the leaf hash itself
            raise AssertionError("pymerkle's proof differs from ours")

    def ours_verify() -> None:
        for i, leaf, proof in zip(indexes, leaves, ours_proofs, strict=True):
            verify_inclusion(leaf, i, n, proof, ours_root)

    def peer_verify_all() -> None:
        for leaf, proof in zip(leaves, peer_proofs, strict=True):
            peer_verify(leaf, peer_root, proof)

    ours_verify_s = _timed(ours_verify)[1]
    peer_verify_s = _timed(peer_verify_all)[1]
    all_leaves = [Hash32(tiles[(0, k // 256)][(k % 256) * 32 : (k % 256 + 1) * 32]) for k in range(n)]
    root, root_of_s = _timed(lambda: root_of(all_leaves))
    if root != ours_root:
        raise AssertionError("root_of and the tiles disagree")
    return {
        "leaves": n,
        "proofs": n_proofs,
        "ours": {
            "append_and_root_s": round(ours_s, 3),
            "append_leaves_per_s": round(n / ours_s),
            "proofs_per_s": round(n_proofs / ours_prove_s),
            "verify_per_s": round(n_proofs / ours_verify_s),
        },
        "pymerkle": {
            "append_and_root_s": round(peer_s, 3),
            "append_leaves_per_s": round(n / peer_s),
            "proofs_per_s": round(n_proofs / peer_prove_s),
            "verify_per_s": round(n_proofs / peer_verify_s),
        },
        "ratio_ours_over_pymerkle": {
            "append": round(peer_s / ours_s, 2),
            "proofs": round(peer_prove_s / ours_prove_s, 2),
            "verify": round(peer_verify_s / ours_verify_s, 2),
        },
        "root_of_leaves_per_s": round(n / root_of_s),
    }


def _cpu_timed(work: Callable[[], T]) -> tuple[T, float]:
    """``work()`` and the CPU seconds of this process it took, the garbage collector paused."""
    with _gc_paused():
        t0 = time.process_time()
        result = work()
        return result, time.process_time() - t0


def _tree_round(tree: TreeHash, entries: list[bytes], indexes: list[int]) -> dict[str, float]:
    """One round of (8) under ``tree``: the seconds of each figure; the tree checked against its own root."""
    n = len(entries)
    leaf = tree.leaf
    seconds: dict[str, float] = {}
    leaves, seconds["leaves"] = _cpu_timed(lambda: [leaf(e) for e in entries])
    root, seconds["root_of"] = _cpu_timed(lambda: tree.root_of(leaves))
    reader, seconds["levels_of"] = _cpu_timed(lambda: MemoryNodeReader(leaves, tree))  # levels_of, every level
    if root_at(n, reader, tree) != root:
        raise AssertionError(f"root_of and levels_of disagree under {tree.name}")
    proofs, seconds["prove"] = _cpu_timed(lambda: [prove_inclusion(i, n, reader, tree) for i in indexes])

    def verify_all() -> None:
        for i, proof in zip(indexes, proofs, strict=True):
            verify_inclusion(leaves[i], i, n, proof, root, tree)

    seconds["verify"] = _cpu_timed(verify_all)[1]
    return seconds


def measure_tree_hashes(n: int, n_proofs: int, rng: random.Random, rounds: int = 3) -> dict[str, Any]:
    """(8): the pure tree under each tree hash over the same ``n`` entries; per figure the best CPU time of
    ``rounds``, the hashes taking turns within each round."""
    entries = _entries(0, n)
    indexes = [rng.randrange(n) for _ in range(n_proofs)]
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for tree in (SHA256, SM3):
            seconds = _tree_round(tree, entries, indexes)
            kept = best.setdefault(tree.name, seconds)
            for figure, value in seconds.items():
                kept[figure] = min(kept[figure], value)
    figures = {
        name: {
            "leaf_hashes_per_s": round(n / b["leaves"]),
            "root_of_leaves_per_s": round(n / b["root_of"]),
            "levels_of_leaves_per_s": round(n / b["levels_of"]),
            "proofs_per_s": round(n_proofs / b["prove"]),
            "verify_per_s": round(n_proofs / b["verify"]),
        }
        for name, b in best.items()
    }
    sha, sm3 = figures["sha256"], figures["sm3"]
    return {
        "leaves": n,
        "entry_bytes": len(entries[0]),
        "proofs": n_proofs,
        "rounds": rounds,
        **figures,
        "sm3_time_over_sha256": {k: round(sha[k] / sm3[k], 2) for k in sha},
    }


def tree_hash_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(8) as rows: figure, SHA-256, SM3, how many times SHA-256's time SM3 takes."""
    labels = {
        "leaf_hashes_per_s": f"(8) leaf hashes of {r['entry_bytes']}-byte entries, /s",
        "root_of_leaves_per_s": f"(8) root_of, leaves/s ({r['leaves']:,} leaves)",
        "levels_of_leaves_per_s": "(8) levels_of (every level), leaves/s",
        "proofs_per_s": "(8) prove_inclusion in memory, proofs/s",
        "verify_per_s": "(8) verify_inclusion, proofs/s",
    }
    sha, sm3, ratio = r["sha256"], r["sm3"], r["sm3_time_over_sha256"]
    return [(label, f"{sha[k]:,}", f"{sm3[k]:,}", f"x{ratio[k]}") for k, label in labels.items()]


def run_tree_hashes(args: argparse.Namespace) -> int:
    n_proofs = min(args.proofs, 100_000)
    print(f"(8) the tree under sha256 and sm3: {args.tree_hashes} leaves, {n_proofs} proofs", flush=True)
    result = measure_tree_hashes(args.tree_hashes, n_proofs, random.Random(1))
    print_table(("figure", "sha256", "sm3", "sm3 time"), tree_hash_rows(result))
    out = {
        "benchmark": "notary tree hashes",
        "command": f"python -m bench.notary --tree-hashes {args.tree_hashes} --proofs {n_proofs}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "results": result,
    }
    if args.output is not None:
        print(f"written to {write_results(out, args.output)}")
    return 0


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The notary's ingest, proofs, checkpoint latency and memory")
    parser.add_argument("--events", type=int, default=None, help="events in the log (1,000,000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per signed batch")
    parser.add_argument("--connections", type=int, default=2, help="HTTP client connections (one gateway each)")
    parser.add_argument("--proofs", type=int, default=100_000, help="in-process inclusion proofs")
    parser.add_argument("--http-proofs", type=int, default=2000, help="inclusion proofs requested over HTTP")
    parser.add_argument("--steady-rate", type=float, default=5000, help="events/s sent while timing checkpoints")
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--checkpoint-interval", type=float, default=0.5, help="seconds between checkpoint rounds")
    parser.add_argument("--peer-leaves", type=int, default=1_000_000, help="most leaves for the pymerkle comparison")
    parser.add_argument("--quick", action="store_true", help="50,000 events and small samples: well under a minute")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the logs (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=None, help=f"default: {RESULTS.relative_to(RESULTS.parents[2])}")
    parser.add_argument(
        "--proofs-at", type=int, default=None, metavar="N", help="only (3) in-process, on a synthetic log of N entries"
    )
    parser.add_argument("--without-levels", action="store_true", help="with --proofs-at: store no inner levels")
    parser.add_argument(
        "--tree-hashes", type=int, default=None, metavar="N", help="only (8), SHA-256 beside SM3, on N leaves"
    )
    baseline_options(
        parser, "notary", "run its notary benchmark and this tree's in turn, --quick unless --events is given", 3
    )
    args = parser.parse_args(argv)
    if args.baseline is not None:
        from bench.notary_baseline import compare

        compare(args)  # each run --quick unless --events is given
        return 0
    if args.events is None:
        args.events = 1_000_000
    if args.proofs_at is not None:
        return run_proofs_at(args)
    if args.tree_hashes is not None:
        return run_tree_hashes(args)
    args.output = args.output or RESULTS
    if args.quick:
        args.events, args.proofs, args.http_proofs = 50_000, 20_000, 500
        args.steady_seconds, args.peer_leaves = 8.0, 50_000
    n_batches = max(1, args.events // args.batch)
    events = n_batches * args.batch
    rng = random.Random(1)
    gateway_key = Ed25519PrivateKey.generate()
    root = Path(tempfile.mkdtemp(prefix="bench-notary-", dir=args.dir))
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    try:
        sm_gateway_key = SM2PrivateKey.generate()
        for suite, key, suffix in ((INTL, gateway_key, ""), (SM, sm_gateway_key, "_sm")):
            print(f"(1) in-process, suite {suite.name}: {events} events in batches of {args.batch}", flush=True)
            log = open_log(root / "inprocess", {ORG: public_bytes(key)}, suite)
            try:
                maker = BatchMaker(f"{ORG}/gw-1", key, args.batch, LOG_VERSIONS[suite.name][0])
                results["ingest_inprocess" + suffix] = measure_ingest_inprocess(log, maker, n_batches)
                print(f"(3) in-process, suite {suite.name}: {args.proofs} inclusion proofs", flush=True)
                results["proofs_inprocess" + suffix] = measure_proofs_inprocess(log, args.proofs, rng)
            finally:
                log.store.close()
            shutil.rmtree(root / "inprocess")

        print(f"(2) HTTP: 7 witnesses, the notary; {events} events over {args.connections} connection(s)", flush=True)
        cluster = Cluster(root / "cluster", Ed25519PrivateKey.generate(), gateway_key, args.checkpoint_interval)
        try:
            cluster.start()
            makers = [BatchMaker(f"{ORG}/gw-{k + 1}", gateway_key, args.batch) for k in range(args.connections)]
            ingest = measure_ingest_http(cluster, makers, n_batches)
            sent: list[Sent] = ingest.pop("sent")
            wait_published(cluster.url, events)
            ingest["disk_bytes_per_event"] = round(cluster.disk_bytes() / events)
            results["ingest_http"] = ingest
            results["checkpoint_under_full_load"] = checkpoint_latencies(sent, published_checkpoints(cluster.url))
            print(f"(4) steady {args.steady_rate:.0f} events/s for {args.steady_seconds:.0f} s", flush=True)
            steady_maker = BatchMaker(f"{ORG}/gw-steady", gateway_key, args.batch)
            results["checkpoint_steady"] = measure_steady(cluster, steady_maker, args.steady_rate, args.steady_seconds)
            print(f"(3) HTTP: {args.http_proofs} inclusion proofs", flush=True)
            results["proofs_http"] = measure_proofs_http(cluster, args.http_proofs, rng)
            results["memory"] = {
                "entries": int(httpx.get(cluster.url + "/healthz", timeout=10).json()["size"]),
                "notary_peak_rss_mib": round(status_kib(cluster.pid, "VmHWM") / 1024, 1),
                "notary_rss_mib": round(status_kib(cluster.pid, "VmRSS") / 1024, 1),
                "note": "the notary server process (API, sequencer, checkpointer) over (2)-(4); "
                + (
                    "this run is at 10 M entries or more"
                    if events >= TEN_MILLION
                    else "the figure at 10 M entries must be produced with --events 10000000"
                ),
            }
        finally:
            cluster.stop()

        n_peer = min(events, args.peer_leaves)
        print(f"(6, 7) pymerkle vs ours in memory: {n_peer} leaves", flush=True)
        results["peer"] = measure_peer(n_peer, min(args.proofs, 100_000), args.batch, rng)
        print(f"(8) the tree under sha256 and sm3: {n_peer} leaves", flush=True)
        results["tree_hashes"] = measure_tree_hashes(n_peer, min(args.proofs, 100_000), rng)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    if n_peer < events:
        results["peer"]["note"] = f"pymerkle compared on {n_peer} leaves, not {events} (--peer-leaves)"
    rows = table_rows(results)
    print_table(("figure", "ours", "target", "met", "peer"), rows, left=(0, 4))
    tree_rows = tree_hash_rows(results["tree_hashes"])
    print_table(("figure", "sha256", "sm3", "sm3 time"), tree_rows)
    out = {
        "benchmark": "notary",
        "command": "python -m bench.notary" + (" --quick" if args.quick else ""),
        "conditions": {
            "events": events,
            "batch_size": args.batch,
            "http_connections": args.connections,
            "witnesses": len(WITNESS_ORGS),
            "policy": f"{THRESHOLD} of {len(WITNESS_ORGS)} including the regulator",
            "checkpoint_interval_s": args.checkpoint_interval,
            "steady_rate_events_per_s": args.steady_rate,
            "steady_seconds": args.steady_seconds,
            "store": "SQLite WAL, synchronous=FULL, one transaction per batch",
        },
        "params": {k: v for k, v in vars(args).items() if k not in ("dir", "output")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "targets": TARGETS,
        "table": [dict(zip(("figure", "ours", "target", "met", "peer"), r, strict=True)) for r in rows],
        "tree_hash_table": [dict(zip(("figure", "sha256", "sm3", "sm3_time"), r, strict=True)) for r in tree_rows],
        "results": results,
    }
    print(f"written to {write_results(out, args.output)}")
    return 0


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    t = TARGETS
    peer = r["peer"]
    ours_p, their_p, ratio = peer["ours"], peer["pymerkle"], peer["ratio_ours_over_pymerkle"]
    mem = r["memory"]
    steady, loaded = r["checkpoint_steady"], r["checkpoint_under_full_load"]
    return [
        (
            "(1) durable ingest in-process, events/s",
            f"{r['ingest_inprocess']['events_per_s']:,}",
            f">= {t['ingest_inprocess']:,}",
            met(r["ingest_inprocess"]["events_per_s"] >= t["ingest_inprocess"]),
            PUBLISHED["ingest"],
        ),
        (
            "(1) the same, a log of the sm suite (SM3 tree, SM2 signatures), events/s",
            f"{r['ingest_inprocess_sm']['events_per_s']:,}",
            f">= {t['ingest_inprocess_sm']:,}",
            met(r["ingest_inprocess_sm"]["events_per_s"] >= t["ingest_inprocess_sm"]),
            "-",
        ),
        (
            f"(2) durable ingest over HTTP, events/s ({r['ingest_http']['connections']} conn.)",
            f"{r['ingest_http']['events_per_s']:,}",
            f">= {t['ingest_http']:,}",
            met(r["ingest_http"]["events_per_s"] >= t["ingest_http"]),
            PUBLISHED["ingest"],
        ),
        (
            "(3) inclusion proofs in-process, proofs/s",
            f"{r['proofs_inprocess']['proofs_per_s']:,}",
            f">= {t['proofs_inprocess']:,}",
            met(r["proofs_inprocess"]["proofs_per_s"] >= t["proofs_inprocess"]),
            f"pymerkle {their_p['proofs_per_s']:,} (in memory)",
        ),
        (
            "(3) the same, a log of the sm suite (SM3 tree), proofs/s",
            f"{r['proofs_inprocess_sm']['proofs_per_s']:,}",
            f">= {t['proofs_inprocess_sm']:,}",
            met(r["proofs_inprocess_sm"]["proofs_per_s"] >= t["proofs_inprocess_sm"]),
            "-",
        ),
        (
            "(3) inclusion proof over HTTP, p50 / p99 ms",
            f"{r['proofs_http']['p50_ms']} / {r['proofs_http']['p99_ms']}",
            f"p99 < {t['proof_http_p99_ms']}",
            met(r["proofs_http"]["p99_ms"] < t["proof_http_p99_ms"]),
            "-",
        ),
        (
            "(4) receipt -> cosigned checkpoint, steady, p50 / p99 s",
            f"{steady['p50_s']} / {steady['p99_s']}",
            f"p99 < {t['checkpoint_p99_s']}",
            met(steady["p99_s"] < t["checkpoint_p99_s"]),
            "-",
        ),
        (
            "(4) the same under full ingest load, p50 / p99 s",
            f"{loaded['p50_s']} / {loaded['p99_s']}",
            f"p99 < {t['checkpoint_p99_s']}",
            met(loaded["p99_s"] < t["checkpoint_p99_s"]),
            "-",
        ),
        (
            f"(5) notary peak RSS MiB at {mem['entries']:,} entries",
            f"{mem['notary_peak_rss_mib']}",
            f"< {t['rss_mib']}",
            met(mem["notary_peak_rss_mib"] < t["rss_mib"]),
            "-",
        ),
        (
            f"(6) append + root, leaves/s ({peer['leaves']:,}, in memory)",
            f"{ours_p['append_leaves_per_s']:,}",
            "-",
            "-",
            f"pymerkle {their_p['append_leaves_per_s']:,} (x{ratio['append']})",
        ),
        (
            "(6) inclusion proofs in memory, proofs/s",
            f"{ours_p['proofs_per_s']:,}",
            "-",
            "-",
            f"pymerkle {their_p['proofs_per_s']:,} (x{ratio['proofs']})",
        ),
        (
            "(7) verify_inclusion, proofs/s",
            f"{ours_p['verify_per_s']:,}",
            "-",
            "-",
            f"pymerkle {their_p['verify_per_s']:,} (x{ratio['verify']})",
        ),
        ("(7) root_of, leaves/s", f"{peer['root_of_leaves_per_s']:,}", "-", "-", "-"),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
