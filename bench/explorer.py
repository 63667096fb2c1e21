"""``make bench-explorer``: the explorer's call search, provenance and exports at 10 million calls.

With ``--baseline CHECKOUT`` it runs instead another checkout's explorer benchmark and this tree's, in turn
(``bench/explorer_baseline.py``).

Everything runs on a real consortium made for the run (``consortium init --demo`` in a temporary directory,
``--dir`` to choose where): its embedded chain node, its 7 witnesses and its notary (processes of
``cli.main``, started as ``consortium up`` starts them), and the explorer (``bench.explorer_server``: what
``python -m explorer`` runs, per-firm rate limit raised), all on loopback. The bench process is the client.

0. The log and the index. ``--events`` calls (default 10,000,000) of the demo world (``bench.explorer_data``:
   7 members, 80 APIs in 3 centers, ~10% denials with 8 reasons, unique trace ids, times increasing with
   jitter, gateway batches of up to 1,000) are written into the consortium's notary store by
   ``bench.explorer_log`` in its own process, batch by batch through the notary's own sequencer commit (the
   checks ``Sequencer.submit`` makes before it are left out: ``bench.notary`` measures them). Meanwhile this process
   reads each committed range of entries back from that store and indexes it with ``CallIndex.add_entries``
   in steps of 16,384 (the log follower's step) into the explorer's ``calls.db``: the load rate is entries
   over the time spent in ``add_entries``. So the index is loaded directly from the log's entries, not
   followed over HTTP; when the explorer starts, its log follower checks the index's root against the
   notary's published, cosigned checkpoint (an alarm otherwise), and follows the log from there (the audit
   events of the benchmark's own queries).
   Then the witnesses and the notary start; the notary signs a checkpoint of the whole log, has it cosigned
   (policy 4 of 7 with the regulator), publishes it and anchors it on the chain; the run waits for the anchor's
   confirmation, then starts the explorer (its audit recorder on, as deployed) and waits until its follower
   has verified the index.
1. Call search, in-process: ``CallIndex.search`` on the explorer's index (opened read-only in this process)
   for a mix of queries as the API runs them (33 kinds, each ``--reps`` times with random values: every filter
   of ``CallFilter``, time ranges, combined filters; for the regulator (no ``party``) and for a member firm's
   officer (``party`` = the firm)); each query's first page (``limit`` 50), the next pages through ``before``
   up to page ``--pages``, and one page from a random ``before`` (a deep cursor). One pass with other random
   values warms the caches first. Latency p50/p99 of each page.
2. The same over HTTP, for ``--http-reps`` of each kind: ``GET /api/v1/calls`` with a real login token of the
   person (``network.logins.make_token``, identities issued as ``consortium user add`` does), pages through the
   ``next`` cursor; one request at a time on a keep-alive connection, sent at ``--http-rate`` per second (30:
   the phases then last long enough to meet the explorer's background work, e.g. its following of the chain at
   each new block), the time to the last byte.
3. Provenance: ``GET /api/v1/calls/{event_id}/provenance`` for ``--provenance`` random events, each first
   cold (the explorer fetches the evidence bundle from the notary, with the anchor's block, and verifies every
   link; one anchor covers the whole log, so the notary reads its block from the chain once and keeps it)
   and, after all of them, warm (the bundle cached; the checks run again). Every answer must say ``verified``.
   The notary's ``/v1/evidence/{event_id}`` alone is timed on other random events.
4. Exports: ``GET /api/v1/exports/calls.csv`` and ``calls.json`` for a time range holding a tenth of the
   calls (~1 M at 10 M), as the regulator, and ``calls.csv`` of everything a firm sees (``--export-firm``),
   streamed and counted; rows/s, and the explorer process's memory: its RSS before, the largest RSS and
   ``RssAnon`` (its own memory, apart from the index pages SQLite maps, ``RssFile``) sampled every 0.1 s
   during the export, and ``VmHWM`` (reset through ``/proc/<pid>/clear_refs`` at the export's start).

Besides: the HTTP floor (``/api/v1/me``, not recorded; ``/api/v1/gaps``, recorded in the audit log), the CPU
time of each in-process search, and the code measured (commit, changed files, a digest of ``explorer/`` and
``notary/``, and whether it changed during the run). ``--profile DIR`` runs py-spy on the processes during
(1)-(4) and adds where their samples go to the results (then the figures are not the benchmark's).

Figures go to stdout (figure, ours, target, met) and to ``bench/results/explorer.json`` with the conditions,
the machine and its load average before and after. ``--quick``: 200,000 events and smaller samples.
``--keep`` keeps the consortium directory; ``--reuse DIR`` measures (1)-(4) again on a kept one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

from bench import explorer_profile
from bench.common import baseline_options, met, percentile, print_table, status_kib, wait_for, write_results
from bench.explorer_data import CALLER_WEIGHTS, OTHER_REASONS, REGULATOR, EventStream, World, demo_world
from explorer.calls import CallFilter, CallIndex

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "explorer.json"
PASSPHRASE = "bench-passphrase-not-for-production"
TEN_MILLION = 10_000_000
STEP = 16_384  # entries per add_entries: the log follower's step (64 bundles of 256)
HOUR_MS = 3_600_000

TARGETS = {
    "search_p99_ms": 100.0,  # at most, with 10 M events in the index
    "provenance_p99_ms": 50.0,  # at most, with 10 M events in the log
}
FIRMS = tuple(org for org in CALLER_WEIGHTS if org != REGULATOR)
KINDS = 33  # of queries in query_mix: 21 asked by the regulator, 12 by a firm's officer
REASONS = ("no_grant", *(r for r, _ in OTHER_REASONS))


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 2)


def summary(values: list[float]) -> dict[str, Any]:
    """p50/p99/max/mean in ms of latencies in seconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": _ms(statistics.median(values)),
        "p99_ms": _ms(percentile(values, 0.99)),
        "max_ms": _ms(max(values)),
        "mean_ms": _ms(statistics.fmean(values)),
    }


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def code_under_test() -> dict[str, Any]:
    """The commit, the files of ``explorer/`` and ``notary/`` changed from it, and a digest of their contents
    (the code moves while it is measured: a digest that differs at the end says so)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("explorer/*.py"), *ROOT.glob("notary/**/*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout if out.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "explorer", "notary").splitlines()]
    commit = git("rev-parse", "--short", "HEAD").strip()
    return {"commit": commit, "changed_files": changed, "digest": digest.hexdigest()[:16]}


# ---------------------------------------------------------------------------------------------- the consortium


def child_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def init_consortium(directory: Path) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "init", str(directory), "--demo"],
        env=child_env(), cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"consortium init failed:\n{(out.stdout + out.stderr)[-2000:]}")
    return time.perf_counter() - t0


@dataclass
class Build:
    """(0): the notary's log written by ``bench.explorer_log``, the call index loaded from it here."""

    events: int
    writer_seconds: float = 0.0
    index_seconds: float = 0.0  # in add_entries
    wall_seconds: float = 0.0
    steps: int = 0
    step_p50_ms: float = 0.0
    step_p99_ms: float = 0.0
    index_cpu_seconds: float = 0.0  # this process, reading the entries included
    add_entries_cpu_seconds: float = 0.0  # this thread's CPU time in add_entries


def build_log_and_index(directory: Path, events: int, end_ms: int, seed: int, rate: float) -> Build:
    """Run the log writer and index what it commits as it commits it (see (0) in the module docstring)."""
    from network.logsetup import NOTARY_DIR
    from notary.service import DB_NAME

    result = Build(events)
    index = CallIndex(directory / "explorer" / "calls.db")
    if index.size():
        raise RuntimeError(f"{index.path} is not empty")
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    writer = subprocess.Popen(
        [sys.executable, "-m", "bench.explorer_log", str(directory), "--events", str(events), "--end-ms",
         str(end_ms), "--seed", str(seed), "--rate", str(rate), "--report-every", str(4 * STEP)],
        env=child_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdout is not None and writer.stderr is not None
    durations: list[float] = []
    notary_db: sqlite3.Connection | None = None
    indexed = 0
    try:
        for line in writer.stdout:
            words = line.split()
            if not words or words[0] not in ("size", "done"):
                continue
            committed = int(words[1])
            if words[0] == "done":
                result.writer_seconds = float(words[2])
            if notary_db is None:
                uri = (directory / NOTARY_DIR / DB_NAME).resolve().as_uri() + "?mode=ro"
                notary_db = sqlite3.connect(uri, uri=True)
            while indexed < committed:
                count = min(STEP, committed - indexed)
                rows = notary_db.execute(
                    "SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (indexed, indexed + count)
                ).fetchall()
                entries = [bytes(r[0]) for r in rows]
                t1, c1 = time.perf_counter(), time.thread_time()
                index.add_entries(indexed, entries)
                durations.append(time.perf_counter() - t1)
                result.add_entries_cpu_seconds += time.thread_time() - c1
                indexed += count
        if writer.wait() != 0:
            raise RuntimeError(f"the log writer failed:\n{writer.stderr.read()[-2000:]}")
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        writer.stdout.close()
        writer.stderr.close()
        if notary_db is not None:
            notary_db.close()
        index.close()
    if indexed != events:
        raise RuntimeError(f"indexed {indexed} entries, the writer wrote {events}")
    result.wall_seconds = time.perf_counter() - t0
    result.index_seconds = sum(durations)
    result.index_cpu_seconds = time.process_time() - cpu0
    result.steps = len(durations)
    result.step_p50_ms = _ms(statistics.median(durations))
    result.step_p99_ms = _ms(percentile(durations, 0.99))
    return result


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[str]
    log: IO[str]
    url: str = ""


def start_explorer(directory: Path, notary_url: str, chain_url: str) -> Process:
    log = (directory / "explorer" / "bench-explorer.log").open("w+")
    popen = subprocess.Popen(
        [sys.executable, "-m", "bench.explorer_server", str(directory), "--notary-url", notary_url,
         "--chain-url", chain_url],
        env=child_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    process = Process("explorer", popen, log)
    assert popen.stdout is not None
    line = popen.stdout.readline()
    if not line.startswith("listening "):
        popen.wait(timeout=30)
        log.seek(0)
        raise RuntimeError(f"the explorer did not start: {log.read()[-2000:]}")
    process.url = line.split()[1]
    return process


def stop_process(process: Process) -> None:
    if process.popen.poll() is None:
        process.popen.send_signal(signal.SIGTERM)
        try:
            process.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()
    if process.popen.stdout is not None:
        process.popen.stdout.close()
    process.log.close()


def make_tokens(directory: Path) -> dict[str, str]:
    """A login token for the regulator's inspector and each firm's compliance officer (issued if missing),
    keyed by org."""
    from chain.ids import OrgId, Role
    from demo.people import ensure_demo_people
    from network.description import load_description
    from network.identity import load_person_key, user_paths
    from network.logins import make_token

    description = load_description(directory)
    regulators = [m.org for m in description.members if Role.REGULATOR in m.roles]
    others = [m.org for m in description.members if Role.REGULATOR not in m.roles]
    people = ensure_demo_people(directory, PASSPHRASE.encode(), regulators, others)
    tokens = {}
    for org, name, _role in people:
        if name not in ("compliance", "inspector"):
            continue
        key = load_person_key(directory, OrgId(org), name, PASSPHRASE.encode())
        cert = user_paths(directory, OrgId(org), name).cert.read_bytes()
        tokens[org] = make_token(cert, key, hours=24, now=datetime.now(UTC))
    return tokens


# ---------------------------------------------------------------------------------------------- the query mix


@dataclass(frozen=True, slots=True)
class Sample:
    """One logged call, read back from the notary's store."""

    index: int
    event_id: str
    trace_id: str
    caller: str
    provider: str


@dataclass(frozen=True, slots=True)
class Query:
    kind: str
    who: str  # the org asking: REGULATOR, or a firm (then filter.party is that firm)
    filter: CallFilter


@dataclass
class Span:
    start_ms: int
    end_ms: int


def read_samples(directory: Path, size: int, n: int, rng: random.Random) -> list[Sample]:
    from network.logsetup import NOTARY_DIR
    from notary.service import DB_NAME

    uri = (directory / NOTARY_DIR / DB_NAME).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        out = []
        for i in rng.sample(range(size), n):
            (data,) = conn.execute("SELECT data FROM entries WHERE idx = ?", (i,)).fetchone()
            event = json.loads(data)
            trace = event["traceparent"][3:35]
            out.append(Sample(i, event["event_id"], trace, event["caller_org"], event["provider_org"]))
        return out
    finally:
        conn.close()


def query_mix(world: World, span: Span, samples: list[Sample], reps: int, rng: random.Random) -> list[Query]:
    """``reps`` queries of each kind, with random values (see (1) in the module docstring)."""
    apis = world.apis
    grants = sorted(world.grants.items())
    orgs = list(CALLER_WEIGHTS)

    def during(f: CallFilter, ms: int) -> CallFilter:
        """``f`` restricted to a random window of ``ms`` (at most half the time span)."""
        ms = min(ms, (span.end_ms - span.start_ms) // 2)
        start = rng.randrange(span.start_ms, span.end_ms - ms)
        return replace(f, from_ms=start, to_ms=start + ms)

    def other(firm: str) -> str:
        return rng.choice([o for o in orgs if o != firm])

    def sample_of(firm: str | None, inside: bool = True) -> Sample:
        pool = [s for s in samples if firm is None or ((firm in (s.caller, s.provider)) == inside)]
        return rng.choice(pool)

    regulator: dict[str, Callable[[], CallFilter]] = {
        "all": lambda: CallFilter(),
        "caller": lambda: CallFilter(caller=rng.choice(orgs)),
        "provider": lambda: CallFilter(provider=rng.choice(world.providers)),
        "api": lambda: CallFilter(api=rng.choice(apis).api),
        "center": lambda: CallFilter(center=rng.choice(world.centers)),
        "asset": lambda: CallFilter(asset=rng.choice(apis).asset),
        "grant": lambda: CallFilter(grant=rng.choice(grants)[1]),
        "deny": lambda: CallFilter(decision="deny"),
        "reason": lambda: CallFilter(denial_reason=rng.choice(REASONS)),
        "trace": lambda: CallFilter(trace_id=sample_of(None).trace_id),
        "trace_unknown": lambda: CallFilter(trace_id=f"{rng.getrandbits(128):032x}"),
        "minute": lambda: during(CallFilter(), 60_000),
        "hour": lambda: during(CallFilter(), HOUR_MS),
        "6h": lambda: during(CallFilter(), 6 * HOUR_MS),
        "caller+provider": lambda: CallFilter(caller=rng.choice(orgs), provider=rng.choice(world.providers)),
        "api+deny": lambda: CallFilter(api=rng.choice(apis).api, decision="deny"),
        "caller+hour": lambda: during(CallFilter(caller=rng.choice(orgs)), HOUR_MS),
        "provider+reason": lambda: CallFilter(provider=rng.choice(world.providers), denial_reason=rng.choice(REASONS)),
        "center+deny+6h": lambda: during(CallFilter(center=rng.choice(world.centers), decision="deny"), 6 * HOUR_MS),
        "asset+caller+deny": lambda: CallFilter(asset=rng.choice(apis).asset, caller=rng.choice(orgs), decision="deny"),
        "grant+6h": lambda: during(CallFilter(grant=rng.choice(grants)[1]), 6 * HOUR_MS),
    }

    def firm_kinds(firm: str) -> dict[str, Callable[[], CallFilter]]:
        own_grants = [g for (grantee, asset), g in grants if grantee == firm or world_owner(asset) == firm]
        return {
            "party": lambda: CallFilter(),
            "party+made": lambda: CallFilter(caller=firm),
            "party+served": lambda: CallFilter(provider=firm),
            "party+counterparty": lambda: CallFilter(caller=other(firm)),
            "party+api": lambda: CallFilter(api=rng.choice(apis).api),
            "party+deny": lambda: CallFilter(decision="deny"),
            "party+reason": lambda: CallFilter(denial_reason=rng.choice(REASONS)),
            "party+hour": lambda: during(CallFilter(), HOUR_MS),
            "party+trace": lambda: CallFilter(trace_id=sample_of(firm).trace_id),
            "party+trace_of_others": lambda: CallFilter(trace_id=sample_of(firm, inside=False).trace_id),
            "party+grant": lambda: CallFilter(grant=rng.choice(own_grants or [g for _, g in grants])),
            "party+asset+deny": lambda: CallFilter(asset=rng.choice(apis).asset, decision="deny"),
        }

    owners = {a.asset: a.provider for a in apis}

    def world_owner(asset: str) -> str:
        return owners.get(asset, "")

    queries = []
    for _ in range(reps):
        for kind, make in regulator.items():
            queries.append(Query(kind, REGULATOR, make()))
        firm = rng.choice(FIRMS)
        for kind, make in firm_kinds(firm).items():
            queries.append(Query(kind, firm, replace(make(), party=firm)))
    assert len(queries) == KINDS * reps
    rng.shuffle(queries)
    return queries


def http_params(f: CallFilter) -> dict[str, Any]:
    names = (
        ("caller", "caller"), ("provider", "provider"), ("api", "service"), ("center", "center"), ("asset", "asset"),
        ("grant", "grant"), ("decision", "decision"), ("status", "status"), ("denial_reason", "denial_reason"),
        ("from_ms", "from"), ("to_ms", "to"), ("trace_id", "trace"),
    )  # fmt: skip
    return {param: getattr(f, key) for key, param in names if getattr(f, key) is not None}


# ---------------------------------------------------------------------------------------------- measuring


def clients_for(url: str, tokens: dict[str, str]) -> dict[str, httpx.Client]:
    """A keep-alive client per org, logged in as that org's person."""
    return {
        org: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        for org, token in tokens.items()
    }


@dataclass
class Page:
    kind: str
    who: str
    page: int  # 1, 2, ...; 0 for a page from a random ``before``
    seconds: float
    rows: int
    cpu: float | None = None  # this thread's CPU seconds (in-process searches only)


@dataclass
class SearchRun:
    pages: list[Page] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        def pick(test: Callable[[Page], bool]) -> list[float]:
            return [p.seconds for p in self.pages if test(p)]

        kinds: dict[str, list[Page]] = {}
        for p in self.pages:
            kinds.setdefault(p.kind, []).append(p)
        slowest = sorted(self.pages, key=lambda p: p.seconds, reverse=True)[:10]
        cpu = [p.cpu for p in self.pages if p.cpu is not None]
        return {
            "all_pages": summary(pick(lambda p: True)),
            **({"all_pages_cpu": summary(cpu)} if cpu else {}),
            "first_pages": summary(pick(lambda p: p.page == 1)),
            "next_pages": summary(pick(lambda p: p.page > 1)),
            "random_before_pages": summary(pick(lambda p: p.page == 0)),
            "regulator": summary(pick(lambda p: p.who == REGULATOR)),
            "firm_officer": summary(pick(lambda p: p.who != REGULATOR)),
            "rows_per_page_mean": round(statistics.fmean(p.rows for p in self.pages), 1),
            "empty_pages": sum(1 for p in self.pages if p.rows == 0),
            "by_kind": {
                k: {**summary([p.seconds for p in v]), "rows_mean": round(statistics.fmean(p.rows for p in v), 1)}
                for k, v in sorted(kinds.items())
            },
            "slowest": [
                {
                    "kind": p.kind,
                    "who": p.who,
                    "page": p.page,
                    "ms": _ms(p.seconds),
                    "rows": p.rows,
                    **({} if p.cpu is None else {"cpu_ms": _ms(p.cpu)}),
                }
                for p in slowest
            ],
        }


def search_inprocess(
    index: CallIndex, queries: list[Query], pages: int, size: int, rng: random.Random, run: SearchRun | None
) -> SearchRun:
    """(1): each query's pages 1..``pages`` through ``before``, then one page from a random ``before``."""
    run = run if run is not None else SearchRun()
    clock, cpu = time.perf_counter, time.thread_time
    for q in queries:
        before: int | None = None
        for page in range(1, pages + 1):
            t0, c0 = clock(), cpu()
            rows = index.search(q.filter, before=before, limit=50)
            run.pages.append(Page(q.kind, q.who, page, clock() - t0, len(rows), cpu() - c0))
            if len(rows) < 50:
                break
            before = rows[-1]["index"]
        before = rng.randrange(1, size)
        t0, c0 = clock(), cpu()
        rows = index.search(q.filter, before=before, limit=50)
        run.pages.append(Page(q.kind, q.who, 0, clock() - t0, len(rows), cpu() - c0))
    return run


class Pacer:
    """Open-loop pacing of requests: the k-th goes at ``rate`` per second from the first (at once when late),
    so a phase spans the explorer's background work (followers, chain state, audit shipping) as a steady
    trickle of users would; rate 0: one after another."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start: float | None = None
        self.sent = 0

    def wait(self) -> None:
        if self.rate <= 0:
            return
        now = time.perf_counter()
        if self.start is None:
            self.start = now
        due = self.start + self.sent / self.rate
        self.sent += 1
        if due > now:
            time.sleep(due - now)


def search_http(
    url: str,
    tokens: dict[str, str],
    queries: list[Query],
    pages: int,
    expected: dict[int, list[int]] | None,
    pacer: Pacer,
) -> tuple[SearchRun, int]:
    """(2): each query's pages 1..``pages`` through the ``next`` cursor, as the person of ``who``. Returns the
    run and how many first pages differed from ``expected`` (query position → indices of the in-process
    answer; only for queries whose answer cannot change while the benchmark's own queries are logged)."""
    run = SearchRun()
    clients = clients_for(url, tokens)
    mismatches = 0
    clock = time.perf_counter
    try:
        for position, q in enumerate(queries):
            client = clients[q.who]
            params: dict[str, Any] = {**http_params(q.filter), "limit": 50}
            for page in range(1, pages + 1):
                pacer.wait()
                t0 = clock()
                response = client.get("/api/v1/calls", params=params)
                elapsed = clock() - t0
                if response.status_code != 200:
                    raise RuntimeError(f"search {q.kind} answered {response.status_code}: {response.text[:300]}")
                body = response.json()
                run.pages.append(Page(q.kind, q.who, page, elapsed, len(body["calls"])))
                if page == 1 and expected is not None and position in expected:
                    mismatches += [c["index"] for c in body["calls"]] != expected[position]
                if body["next"] is None:
                    break
                params["cursor"] = body["next"]
    finally:
        for c in clients.values():
            c.close()
    return run, mismatches


def http_floor(url: str, token: str, n: int, pacer: Pacer) -> dict[str, Any]:
    """What any API request costs beside its own work: ``GET /api/v1/me`` (authenticated, not recorded) and
    ``GET /api/v1/gaps`` (authenticated, and recorded in the audit log before the answer's last byte)."""
    out = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for path in ("/api/v1/me", "/api/v1/gaps"):
            times = []
            for _ in range(n):
                pacer.wait()
                t0 = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}")
            out[path] = summary(times)
    return out


def stable(f: CallFilter) -> bool:
    """Whether a search's answer cannot change while the benchmark's own queries are logged (they are calls of
    center ``explorer``, allowed or denied ``not_found``...): it names an API, asset, grant, trace or reason of
    the demo world."""
    return any(v is not None for v in (f.api, f.asset, f.grant, f.trace_id, f.denial_reason))


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_provenance(
    url: str,
    notary_url: str,
    tokens: dict[str, str],
    samples: list[Sample],
    others: list[Sample],
    pacer: Pacer,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """(3): cold then warm provenance of ``samples``; the notary's evidence endpoint alone on ``others``,
    interleaved with the cold requests (the same conditions). With ``pids``, the CPU time each of those processes
    used in each phase, per request of the phase (its background work included): a figure the machine's other load
    does not inflate as it does the latencies."""
    clients = clients_for(url, tokens)
    clock = time.perf_counter
    cold: list[float] = []
    warm: list[float] = []
    failures: list[str] = []
    steps_ok: dict[str, int] = {}

    def who(k: int, s: Sample) -> str:
        return REGULATOR if k % 2 == 0 else s.caller  # half asked by the regulator, half by the calling firm

    def ask(k: int, s: Sample, into: list[float]) -> None:
        pacer.wait()
        t0 = clock()
        response = clients[who(k, s)].get(f"/api/v1/calls/{s.event_id}/provenance")
        into.append(clock() - t0)
        if response.status_code != 200:
            raise RuntimeError(f"provenance of {s.event_id} answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        if not body["verified"]:
            failures.append(s.event_id)
        for step in body["steps"]:
            steps_ok[f"{step['step']}={step['ok']}"] = steps_ok.get(f"{step['step']}={step['ok']}", 0) + 1

    notary: list[float] = []
    direct = httpx.Client(base_url=notary_url, timeout=120)

    def ask_notary(s: Sample) -> None:
        pacer.wait()
        t0 = clock()
        response = direct.get(f"/v1/evidence/{s.event_id}")
        notary.append(clock() - t0)
        if response.status_code != 200 or response.json().get("pending"):
            detail = f"{response.status_code} {response.text[:300]}"
            raise RuntimeError(f"the notary's evidence of {s.event_id}: {detail}")

    pids = pids or {}
    cpu: dict[str, dict[str, float]] = {}

    def used(since: dict[str, float], requests: int) -> dict[str, float]:
        return {name: round((cpu_seconds(pid) - since[name]) * 1000 / requests, 3) for name, pid in pids.items()}

    try:
        start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        for k, s in enumerate(samples):  # cold, and the notary alone on another event after each
            ask(k, s, cold)
            if k < len(others):
                ask_notary(others[k])
        cpu["cold_and_notary_alone"] = used(start, len(samples) + min(len(samples), len(others)))
        order = list(enumerate(samples))
        random.Random(5).shuffle(order)
        start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        for k, s in order:
            ask(k, s, warm)
        cpu["warm"] = used(start, len(samples))
    finally:
        for c in [*clients.values(), direct]:
            c.close()
    return {
        "events": len(samples),
        "cold": {**summary(cold), "first_ms": _ms(cold[0]) if cold else None},  # the explorer's first answer
        "warm": summary(warm),
        "notary_evidence_alone": summary(notary),
        "cpu_ms_per_request": cpu,
        "all_verified": not failures,
        "not_verified_count": len(failures),
        "not_verified": failures[:20],
        "steps": dict(sorted(steps_ok.items())),
        "note": "verified = every link but grant and asset_version is ok: call, entry (with receipt), inclusion, "
        "checkpoint, cosignatures, anchor, block; grant and asset_version compare the call with the chain's "
        "history, which starts after the synthetic calls (and their grants are synthetic), so they are findings",
    }


@contextmanager
def rss_sampler(pid: int, every: float = 0.1) -> Iterator[list[tuple[int, int, int]]]:
    """Samples of the process's (VmRSS, RssAnon, RssFile) in KiB while the block runs."""
    samples: list[tuple[int, int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            samples.append((status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon"), status_kib(pid, "RssFile")))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def export(url: str, token: str, pid: int, path: str, params: dict[str, Any]) -> dict[str, Any]:
    """(4): stream one export to the end, count its rows; the server's RSS before and its peak during."""
    reset = True
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        reset = False
    before = status_kib(pid, "VmRSS")
    before_anon = status_kib(pid, "RssAnon")
    rows = size = 0
    tail = b""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client, rss_sampler(pid) as samples:
        t0 = time.perf_counter()
        with client.stream("GET", path, params=params) as response:
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.read()[:300]!r}")
            for chunk in response.iter_bytes():
                size += len(chunk)
                rows += (tail[-1:] + chunk).count(b"\r\n" if path.endswith(".csv") else b"\n{")
                tail = chunk[-1:] if chunk else tail
        elapsed = time.perf_counter() - t0
    if path.endswith(".csv"):
        rows -= 1  # the header line
    elif not tail.endswith(b"\n"):
        raise RuntimeError(f"{path}: the JSON array was cut short")
    peak = status_kib(pid, "VmHWM") if reset else max((x[0] for x in samples), default=before)
    return {
        "path": path,
        "params": params,
        "rows": rows,
        "bytes": size,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed) if elapsed else None,
        "mb_per_s": round(size / elapsed / 1e6, 1) if elapsed else None,
        "server_rss_before_mib": round(before / 1024, 1),
        "server_peak_rss_mib": round(peak / 1024, 1),
        "server_rss_max_sampled_mib": round(max((x[0] for x in samples), default=before) / 1024, 1),
        "server_rss_anon_before_mib": round(before_anon / 1024, 1),
        "server_rss_anon_max_sampled_mib": round(max((x[1] for x in samples), default=before_anon) / 1024, 1),
        "server_rss_file_max_sampled_mib": round(max((x[2] for x in samples), default=0) / 1024, 1),
        "peak_is": "VmHWM, reset to the RSS of the export's start (so never below server_rss_before_mib)"
        if reset
        else "the largest of the RSS samples every 0.1 s",
        "rss_note": "RSS counts the index's pages mapped by SQLite (mmap_size 2 GiB) as RssFile: page cache the "
        "kernel can drop; RssAnon is the process's own memory",
    }


# ---------------------------------------------------------------------------------------------- main


def call_mix(index_path: Path) -> dict[str, Any]:
    """The indexed calls by decision and reason, from the index's per-minute counts."""
    conn = sqlite3.connect(index_path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        names = dict(conn.execute("SELECT id, name FROM names").fetchall())
        total = conn.execute("SELECT sum(calls) FROM stats").fetchone()[0] or 0
        reasons = {
            names.get(r, "-"): n
            for r, n in conn.execute("SELECT reason, sum(calls) FROM stats WHERE decision = 1 GROUP BY reason")
        }
        denied = sum(reasons.values())
        times = conn.execute("SELECT min(min_ms), max(max_ms) FROM bundles").fetchone()
        return {
            "calls": total,
            "denied_share": round(denied / total, 4) if total else None,
            "denials_by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            "time_span_hours": round((times[1] - times[0]) / HOUR_MS, 2) if times[0] is not None else None,
        }
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The explorer's call search, provenance and exports at 10 M calls")
    parser.add_argument("--events", type=int, default=None, help="calls in the log and the index (10,000,000)")
    parser.add_argument("--rate", type=float, default=120.0, help="calls/s of the synthetic consortium")
    parser.add_argument("--reps", type=int, default=8, help="in-process queries of each of the 33 kinds")
    parser.add_argument("--pages", type=int, default=5, help="pages followed per query (limit 50)")
    parser.add_argument("--http-reps", type=int, default=3, help="HTTP queries of each kind")
    parser.add_argument("--provenance", type=int, default=300, help="events asked for their provenance")
    parser.add_argument("--http-rate", type=float, default=30.0, help="HTTP requests/s in (1)-(3); 0: back to back")
    parser.add_argument("--export-firm", default="yanshan-sec", help="the firm whose whole party is exported")
    parser.add_argument("--no-party-export", action="store_true", help="skip the export of a firm's whole party")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200,000 events and small samples: about 2 minutes")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the consortium (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the consortium directory")
    parser.add_argument("--reuse", type=Path, default=None, help="a consortium directory kept by --keep")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the processes during (1)-(4) into DIR")
    baseline_options(
        parser, "explorer", "run its explorer benchmark and this tree's in turn, --quick unless --events is given", 3
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.baseline is not None:
        from bench.explorer_baseline import compare

        compare(args)  # each run --quick unless --events is given
        return 0
    if args.events is None:
        args.events = TEN_MILLION
    if args.profile is not None and not explorer_profile.available():
        sys.exit("--profile needs py-spy (pip install py-spy into the venv)")
    if args.quick:
        args.events, args.reps, args.http_reps, args.provenance, args.pages = 200_000, 2, 1, 60, 3
    load_before = os.getloadavg()
    code_before = code_under_test()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    world = demo_world()
    results: dict[str, Any] = {}
    if args.reuse is not None:
        work = args.reuse.resolve()
        directory = work / "consortium"
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-explorer-", dir=args.dir))
        directory = work / "consortium"
    children: list[Any] = []
    local = None
    nodes: list[Any] = []
    explorer: Process | None = None
    try:
        from network.description import load_description
        from network.localchain import start_every_node, stop_together
        from network.supervisor import start_log_services, stop_all

        if args.reuse is None:
            print(f"(0) consortium init --demo in {work}", flush=True)
            results["init_seconds"] = round(init_consortium(directory), 1)
            end_ms = int(time.time() * 1000)
            meta: dict[str, Any] = {"events": args.events, "end_ms": end_ms, "rate": args.rate}
            (work / "bench-explorer.json").write_text(json.dumps(meta))
        else:
            meta = json.loads((work / "bench-explorer.json").read_text())
            args.events, end_ms, args.rate = int(meta["events"]), int(meta["end_ms"]), float(meta["rate"])
        description = load_description(directory)
        nodes = start_every_node(directory, description.chain_id, PASSPHRASE.encode(), block_time=1.0)
        local = nodes[0]
        if args.reuse is None:
            print(f"(0) writing {args.events:,} calls into the notary's store and indexing them", flush=True)
            load_build = os.getloadavg()[0]
            build = build_log_and_index(directory, args.events, end_ms, args.seed, args.rate)
            results["build"] = {
                "load_average_start_end": [round(load_build, 2), round(os.getloadavg()[0], 2)],
                "events": build.events,
                "index_load_entries_per_s": round(build.events / build.index_seconds),
                "index_seconds_in_add_entries": round(build.index_seconds, 1),
                "index_cpu_seconds_in_add_entries": round(build.add_entries_cpu_seconds, 1),
                "index_load_entries_per_cpu_s": round(build.events / build.add_entries_cpu_seconds),
                "index_process_cpu_seconds": round(build.index_cpu_seconds, 1),
                "add_entries_calls": build.steps,
                "add_entries_step_entries": STEP,
                "add_entries_p50_ms": build.step_p50_ms,
                "add_entries_p99_ms": build.step_p99_ms,
                "log_writer_seconds": round(build.writer_seconds, 1),
                "wall_seconds": round(build.wall_seconds, 1),
                "note": "the log writer (its own process) and the indexer (this one) ran at the same time; the load "
                "rate counts only the time spent in CallIndex.add_entries (wall clock; per CPU second beside it)",
            }
            print(
                f"    index load {results['build']['index_load_entries_per_s']:,} entries/s "
                f"({build.index_seconds:.0f} s in add_entries; {build.wall_seconds:.0f} s wall)",
                flush=True,
            )
            meta["build"] = results["build"]
            meta["init_seconds"] = results["init_seconds"]
            meta["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            (work / "bench-explorer.json").write_text(json.dumps(meta))
        elif "build" in meta:
            results["build"] = {**meta["build"], "from_run_at": meta.get("built_at"),
                                "reused": "measured by the run that built this directory"}  # fmt: skip
        calls_db = directory / "explorer" / "calls.db"
        results["disk"] = {
            "calls_db_bytes_per_event": round(calls_db.stat().st_size / args.events),
            "notary_db_bytes_per_event": round((directory / "notary" / "notary.db").stat().st_size / args.events),
        }
        ports = free_ports(1 + len(description.witness_policy["witnesses"]))
        print("(0) witnesses and notary: checkpoint, cosignatures, anchor", flush=True)
        t0 = time.perf_counter()
        children = start_log_services(directory, description, PASSPHRASE.encode(), local.url, ports[0], ports[1:])
        notary_url = children[-1].url

        def anchored() -> bool:
            health = httpx.get(notary_url + "/healthz", timeout=10).json()
            return bool(int(health["published_size"]) >= args.events and int(health["anchored_size"]) >= args.events)

        wait_for(anchored, 600, f"an anchored checkpoint of size {args.events}", every=0.5)
        results["notary_ready_seconds"] = round(time.perf_counter() - t0, 1)
        tokens = make_tokens(directory)
        explorer = start_explorer(directory, notary_url, local.url)
        explorer_url, pid = explorer.url, explorer.popen.pid

        def in_sync() -> bool:
            health = httpx.get(
                explorer_url + "/api/v1/health", headers={"Authorization": f"Bearer {tokens[REGULATOR]}"}, timeout=30
            ).json()
            status = health["explorer"]["followers"]["log"]
            if status.get("alarm"):
                raise RuntimeError(f"the explorer's log follower raised an alarm: {status['alarm']}")
            size = status.get("checkpoint_size")
            chain = health["chain"]  # the chain state read and the chain indexed up to the head: start-up is over
            head, indexed = chain.get("head"), chain.get("indexed")
            chain_ready = bool(chain.get("ok")) and head is not None and indexed is not None and indexed >= head
            return bool(size is not None and size >= args.events and status["indexed_size"] >= size and chain_ready)

        wait_for(in_sync, 300, "the explorer to verify the index against the checkpoint and index the chain", every=0.5)
        results["explorer_rss_at_start_mib"] = round(status_kib(pid, "VmRSS") / 1024, 1)
        results["call_mix"] = call_mix(calls_db)
        span = Span(EventStream(world, args.events, end_ms=end_ms, rate=args.rate).start_ms, end_ms)
        samples = read_samples(directory, args.events, max(400, args.provenance * 3), rng)

        print(f"(1) in-process search: {KINDS} kinds x {args.reps}, pages 1-{args.pages}, a random before", flush=True)
        index = CallIndex(calls_db, readonly=True)
        pids = {"explorer": pid, "notary": children[-1].process.pid, "node": local.process.pid}
        profiles: dict[str, Any] = {}
        try:
            warm = query_mix(world, span, samples, max(1, args.reps // 4), random.Random(args.seed + 100))
            search_inprocess(index, warm, args.pages, args.events, random.Random(args.seed + 101), None)
            queries = query_mix(world, span, samples, args.reps, rng)
            with explorer_profile.recording(args.profile, "search_inprocess", {"bench": os.getpid()}) as prof:
                run = search_inprocess(index, queries, args.pages, args.events, rng, None)
            profiles["search_inprocess"] = prof
            results["search_inprocess"] = {"queries": len(queries), "warmup_queries": len(warm), **run.report()}
            http_queries = query_mix(world, span, samples, args.http_reps, random.Random(args.seed + 200))
            expected = {
                k: [r["index"] for r in index.search(q.filter, before=None, limit=50)]
                for k, q in enumerate(http_queries)
                if stable(q.filter)
            }
        finally:
            index.close()
        r = results["search_inprocess"]
        print(f"    p50 {r['all_pages']['p50_ms']} ms, p99 {r['all_pages']['p99_ms']} ms", flush=True)

        print(f"(2) HTTP search: {KINDS} kinds x {args.http_reps}", flush=True)
        search_http(explorer.url, tokens, http_queries[:8], 1, None, Pacer(0))  # warm-up: connections, tokens
        results["http_floor"] = http_floor(
            explorer.url, tokens[REGULATOR], 50 if args.quick else 200, Pacer(args.http_rate)
        )
        with explorer_profile.recording(args.profile, "search_http", pids) as prof:
            http_run, mismatches = search_http(
                explorer.url, tokens, http_queries, args.pages, expected, Pacer(args.http_rate)
            )
        profiles["search_http"] = prof
        results["search_http"] = {
            "queries": len(http_queries),
            "first_pages_compared_with_inprocess": len(expected),
            "first_pages_differing": mismatches,
            **http_run.report(),
        }
        r = results["search_http"]
        print(f"    p50 {r['all_pages']['p50_ms']} ms, p99 {r['all_pages']['p99_ms']} ms", flush=True)

        print(f"(3) provenance of {args.provenance} random events, cold then warm", flush=True)
        picked = samples[: args.provenance]
        others = samples[args.provenance : args.provenance + min(200, args.provenance)]
        with explorer_profile.recording(args.profile, "provenance", pids) as prof:
            results["provenance"] = measure_provenance(
                explorer.url, notary_url, tokens, picked, others, Pacer(args.http_rate), pids
            )
        profiles["provenance"] = prof
        r = results["provenance"]
        print(
            f"    cold p99 {r['cold']['p99_ms']} ms (the first {r['cold']['first_ms']} ms), warm p99 "
            f"{r['warm']['p99_ms']} ms",
            flush=True,
        )
        print(f"    CPU ms per request: {r['cpu_ms_per_request']}", flush=True)

        print("(4) exports", flush=True)
        tenth = (span.end_ms - span.start_ms) // 10
        middle = span.start_ms + 4 * tenth
        window = {"from": middle, "to": middle + tenth}
        with explorer_profile.recording(args.profile, "exports", {"explorer": pid}) as prof:
            exports = [
                export(explorer.url, tokens[REGULATOR], pid, "/api/v1/exports/calls.csv", window),
                export(explorer.url, tokens[REGULATOR], pid, "/api/v1/exports/calls.json", window),
            ]
            if not args.no_party_export:
                exports.append(export(explorer.url, tokens[args.export_firm], pid, "/api/v1/exports/calls.csv", {}))
        profiles["exports"] = prof
        exports[0]["who"] = exports[1]["who"] = f"{REGULATOR} (regulator), a tenth of the time span"
        if len(exports) > 2:
            exports[2]["who"] = f"{args.export_firm} (compliance officer), everything the firm sees"
        for e in exports:
            print(f"    {e['path']} {e['rows']:,} rows: {e['rows_per_s']:,} rows/s, peak RSS "
                  f"{e['server_peak_rss_mib']} MiB (before {e['server_rss_before_mib']})", flush=True)  # fmt: skip
        results["exports"] = exports
        results["explorer_peak_rss_mib"] = round(status_kib(pid, "VmHWM") / 1024, 1)
        if args.profile is not None:
            results["profile"] = profiles
    finally:
        if explorer is not None:
            stop_process(explorer)
        if children:
            stop_all(children)
        if nodes:
            stop_together([node.process for node in nodes])
        if args.keep or args.reuse is not None:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    rows = table_rows(results, args.events)
    print_table(("figure", "ours", "target", "met"), rows)
    out = {
        "benchmark": "explorer",
        "command": "python -m bench.explorer" + (" --quick" if args.quick else ""),
        "conditions": {
            "events": args.events,
            "provenance_log_size": args.events,
            "world": "demo consortium: 7 members (6 firms, 1 regulator), 80 APIs, 3 centers, 20 units, 34 assets, "
            f"{len(world.grants)} synthetic grants",
            "call_rate_per_s": args.rate,
            "gateway_batches": "up to 1,000 events or 60 s of calls per gateway (6 gateways)",
            "index_loaded": "directly from the notary store's entries with CallIndex.add_entries (steps of 16,384), "
            "then verified by the explorer's log follower against the cosigned checkpoint; not followed over HTTP",
            "search": f"{args.reps} x {KINDS} kinds in-process, {args.http_reps} x {KINDS} over HTTP; pages "
            f"1-{args.pages} (limit 50) and, in-process, one page from a random before",
            "http": "uvicorn on 127.0.0.1, one request at a time, keep-alive, the time to the last byte; "
            f"{args.http_rate:g} requests/s (open loop) for search, floor and provenance"
            f"{'' if args.http_rate > 0 else ' (0: back to back)'}; audit recorder on; per-firm rate limit raised",
            "witness_policy": "4 of 7 including the regulator",
            "anchors": "one anchored checkpoint covers every event, so the notary reads the anchor's block from the "
            "chain for the first bundle and keeps that part (notary.evidence.AnchorParts, per confirmed anchor); in "
            "a log anchored every minute the events spread over many anchors, each read from the chain once",
            "reused_directory": args.reuse is not None,
            "profiled": args.profile is not None,
        },
        "params": {
            k: v for k, v in vars(args).items() if k not in ("dir", "output", "reuse", "profile", "baseline", "rounds")
        },
        "code": {**code_before, "changed_during_the_run": code_under_test()["digest"] != code_before["digest"]},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "targets": TARGETS,
        "table": [dict(zip(("figure", "ours", "target", "met"), r, strict=True)) for r in rows],
        "results": results,
    }
    shown = write_results(out, args.output)
    print(f"written to {shown} ({out['seconds']:.0f} s)")
    return 0


def table_rows(r: dict[str, Any], events: int) -> list[tuple[str, str, str, str]]:
    t = TARGETS
    at = f"{events / 1e6:g} M"
    rows: list[tuple[str, str, str, str]] = []
    if "build" in r:
        rows.append(("(0) index load, entries/s (CallIndex.add_entries)", f"{r['build']['index_load_entries_per_s']:,}",
                     "-", "-"))  # fmt: skip
    for key, label in (("search_inprocess", "in-process"), ("search_http", "HTTP")):
        s = r[key]
        for part, what in (("all_pages", "all pages"), ("first_pages", "first pages"), ("next_pages", "next pages"),
                           ("random_before_pages", "random before")):  # fmt: skip
            if s[part]["n"] == 0:
                continue
            rows.append((
                f"(1) search {label}, {what}, p50 / p99 ms ({at})",
                f"{s[part]['p50_ms']} / {s[part]['p99_ms']}",
                f"p99 < {t['search_p99_ms']:g}",
                met(s[part]["p99_ms"] < t["search_p99_ms"]),
            ))  # fmt: skip
    for path, what in (("/api/v1/me", "not recorded"), ("/api/v1/gaps", "recorded")):
        f = r["http_floor"][path]
        rows.append((f"(1) HTTP floor: GET {path} ({what}), p50 / p99 ms", f"{f['p50_ms']} / {f['p99_ms']}", "-", "-"))
    p = r["provenance"]
    for part, what in (("cold", "cold (evidence fetched and verified)"), ("warm", "warm (evidence cached)")):
        rows.append((
            f"(2) provenance {what}, p50 / p99 ms ({at})",
            f"{p[part]['p50_ms']} / {p[part]['p99_ms']}",
            f"p99 < {t['provenance_p99_ms']:g}",
            met(p[part]["p99_ms"] < t["provenance_p99_ms"]),
        ))  # fmt: skip
    n = p["notary_evidence_alone"]
    rows.append(("(2) notary's /v1/evidence alone, p50 / p99 ms", f"{n['p50_ms']} / {n['p99_ms']}", "-", "-"))
    rows.append(("(2) provenance answers verified", f"{p['events'] * 2 - p['not_verified_count']} of {p['events'] * 2}",
                 "all", met(p["all_verified"])))  # fmt: skip
    for e in r["exports"]:
        rows.append((
            f"(3) export {e['path'].rsplit('/', 1)[1]} {e['rows']:,} rows: rows/s; server RSS / anon, max MiB",
            f"{e['rows_per_s']:,}; {e['server_rss_max_sampled_mib']:g} / {e['server_rss_anon_max_sampled_mib']:g}",
            "-",
            "-",
        ))  # fmt: skip
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
