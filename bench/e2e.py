"""``make bench-e2e``: the whole consortium as ``consortium up`` starts it (chain nodes, TLS gateways, notary,
7 witnesses, anchoring, the explorer following the log) on this machine, driven through the gateways by an
open-loop load generator (``bench.e2e_load``: mutual TLS with the members' client certificates, calls the grants
of the demo catalogue allow), on each storage backend of the notary in the same run.

Per backend (``--backends sqlite,postgres``; postgres is ``--storage postgresql://… --object-store s3://…`` with
PostgreSQL from Debian's package and moto's S3 server, both started by the bench on 127.0.0.1):

1. steady: the founding plan's average, 579 calls/s, for ``--steady-seconds``; then every call's event in the
   log, cosigned, anchored and searchable in the explorer; the lag from call to searchable (p50/p99 over sampled
   calls: the event id the gateway answers in ``Consortium-Event-Id``, polled at the explorer's
   ``/api/v1/calls/{id}`` with the regulator inspector's login token) and from call to cosigned and anchored; the
   CPU share of the consortium's processes (their CPU time over the phase / (wall × cores));
2. highest sustained rate: the offered rate stepped up (``--steps``, ``--max-seconds`` each) until calls fail,
   the generator cannot keep up or the backlog (the gateways' outboxes not yet shipped to the notary) grows
   through the step;
3. burst: ``--burst-seconds`` at ``--burst-rate``: every call answered (200, or 503 refused), none lost; what the
   outboxes held at the peak and how long the backlog took to drain;
4. zero loss, zero duplicates: the notary's ``/v1/gaps`` (no gap; each gateway's last sequence number there is the
   one the gateway's admin ``/healthz`` reports), the log's size equal to the sum of the last sequence numbers of
   every gateway that wrote to it, and the calls answered with an event id equal to the sequence numbers the
   gateways gave out.

Figures go to ``bench/results/e2e.json``, with the machine's load average before and after: the bench shares the
machine with the consortium it measures, and with anything else running there. ``--quick`` checks the bench in
a few minutes; its figures are marked ``"quick": true`` and say nothing about the full run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import load_average, percentile, print_table, write_client_pem
from bench.gateway import free_port_block

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "e2e.json"
PASSPHRASE = "bench-passphrase-not-for-production"
STEADY_RATE = 579.0  # the founding plan's average
TARGET_RATE = 2000.0  # the highest sustained rate aimed at, on 2 cores
BURST_RATE = 5800.0
SYMBOLS = ("600519.SH", "000001.SZ", "601318.SH", "300750.SZ")
INSPECTOR_TOKEN = "inspector@bjcm-supervision.token"


# -- the consortium ------------------------------------------------------------------------------------------


class Consortium:
    """``consortium up`` of a directory, its output drained to ``up.log``, and its URLs."""

    def __init__(self, directory: Path, port: int, env: dict[str, str], extra: list[str]) -> None:
        self.directory = directory
        self.port = port
        self.log = directory.parent / f"{directory.name}-up.log"
        command = [sys.executable, "-m", "cli.main", "up", str(directory), "--port", str(port), "--traffic", "0"]
        command += ["--rpc-plain", "--notary-plain"]  # as the figures before `up` served members only over TLS
        self.process = subprocess.Popen(
            [*command, *extra],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._ready = threading.Event()
        self._lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("w") as out:
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                self._lines.append(line)
                if line.strip().startswith("stop"):
                    self._ready.set()

    def wait_up(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("consortium up did not start:\n" + "".join(self._lines[-30:]))

    @property
    def notary(self) -> str:
        return f"http://127.0.0.1:{self.port + 1}"

    @property
    def explorer(self) -> str:
        return f"http://127.0.0.1:{self.port + 60}"

    def endpoints(self) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.directory / "gateways" / "endpoints.json").read_text())
        return data

    def admin_urls(self) -> dict[str, str]:
        """Each gateway's admin URL (its port + 20), by org."""
        return {org: f"http://127.0.0.1:{int(url.rsplit(':', 1)[1]) + 20}" for org, url in self.endpoints().items()}

    def token(self) -> str:
        return (self.directory / "explorer" / "logins" / INSPECTOR_TOKEN).read_text().strip()

    def monitor(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + (self.directory / "notary" / "monitor.token").read_text().strip()}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)


# -- CPU from /proc --------------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children) from ``/proc/<pid>/stat``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after the name: state ppid ... utime(14) stime(15) cutime(16) cstime(17), counted from the pid as field 1
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / CLOCK_TICKS


def descendants_cpu(roots: list[int]) -> dict[int, float]:
    """CPU seconds of each live process in the trees under ``roots`` (the roots included)."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                table[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, float] = {}
    todo = [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        out[pid] = table[pid][1]
        todo += children.get(pid, [])
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from ``/proc/stat``."""
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """CPU seconds used by process trees between ``start()`` and ``stop()`` (processes present at both ends)."""

    def __init__(self, roots: dict[str, list[int]]) -> None:
        self.roots = roots
        self.before: dict[str, dict[int, float]] = {}
        self.machine = (0, 0)
        self.began = 0.0

    def start(self) -> None:
        self.began = time.monotonic()
        self.before = {k: descendants_cpu(v) for k, v in self.roots.items()}
        self.machine = machine_ticks()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.began
        cores = os.cpu_count() or 1
        out: dict[str, Any] = {"wall_s": round(wall, 1), "cores": cores}
        busy, total = machine_ticks()
        # the whole machine's busy share over the phase, everything else running on it included
        out["machine_busy_share"] = round((busy - self.machine[0]) / max(1, total - self.machine[1]), 3)
        for name, roots in self.roots.items():
            after = descendants_cpu(roots)
            used = sum(after[p] - self.before[name].get(p, 0.0) for p in after)
            out[name] = {"cpu_s": round(used, 1), "share": round(used / (wall * cores), 3) if wall else None}
        return out


# -- figures of the running consortium ----------------------------------------------------------------------


class Watch:
    """Polls the gateways' admin ``/healthz`` and the notary's figures once a second; keeps the series."""

    def __init__(self, consortium: Consortium) -> None:
        self.consortium = consortium
        self.admins = consortium.admin_urls()
        self.headers = consortium.monitor()
        self.series: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.client = httpx.Client(timeout=10)

    def sample(self) -> dict[str, Any]:
        pending = 0
        last_seq: dict[str, int] = {}
        for org, url in self.admins.items():
            outbox = self.client.get(f"{url}/healthz").json()["outbox"]
            pending += outbox["pending"]
            last_seq[org] = outbox["last_seq"]
        notary = self.client.get(f"{self.consortium.notary}/healthz", headers=self.headers).json()
        return {
            "t": time.monotonic(),
            "pending": pending,
            "last_seq": last_seq,
            "size": notary["size"],
            "published_size": notary["published_size"],
            "anchored_size": notary["anchored_size"] or 0,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                self.series.append(self.sample())
            self._stop.wait(1.0)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def latest(self) -> dict[str, Any]:
        return self.series[-1] if self.series else self.sample()

    def since(self, t: float) -> list[dict[str, Any]]:
        return [s for s in self.series if s["t"] >= t]


class LagProbe:
    """For sampled calls (event id, time answered): when the explorer first shows each
    (``GET /api/v1/calls/{id}``, the inspector's token), and when the notary's published (cosigned) and anchored
    sizes first cover its leaf."""

    def __init__(self, consortium: Consortium, watch: Watch) -> None:
        self.url = consortium.explorer
        self.watch = watch
        self.client = httpx.Client(headers={"Authorization": "Bearer " + consortium.token()}, timeout=10)
        self.pending: list[tuple[str, float]] = []
        self.found: list[dict[str, Any]] = []  # event_id, answered, searchable, index
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def add(self, event_id: str, answered: float) -> None:
        with self.lock:
            self.pending.append((event_id, answered))

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                todo = list(self.pending)
            for event_id, answered in todo:
                try:
                    r = self.client.get(f"{self.url}/api/v1/calls/{event_id}")
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    now = time.time()
                    row = {"event_id": event_id, "answered": answered, "searchable": now}
                    row["index"] = r.json()["call"]["index"]
                    with self.lock:
                        self.pending.remove((event_id, answered))
                        self.found.append(row)
            self._stop.wait(0.25)

    def settle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending:
                    return
            time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def lags(self) -> dict[str, Any]:
        """Percentiles of answered → searchable, → cosigned, → anchored (the last two to the watch's resolution,
        one second)."""
        offset = time.time() - time.monotonic()
        searchable: list[float] = []
        cosigned: list[float] = []
        anchored: list[float] = []
        for row in self.found:
            searchable.append((row["searchable"] - row["answered"]) * 1000)
            for key, out in (("published_size", cosigned), ("anchored_size", anchored)):
                when = next((s["t"] for s in self.watch.series if s[key] > row["index"]), None)
                if when is not None:
                    out.append(max(0.0, (when + offset - row["answered"]) * 1000))

        def figures(values: list[float]) -> dict[str, Any]:
            if not values:
                return {"n": 0}
            return {
                "n": len(values),
                "p50_ms": round(percentile(values, 0.5)),
                "p99_ms": round(percentile(values, 0.99)),
                "max_ms": round(max(values)),
            }

        return {
            "samples": len(self.found) + len(self.pending),
            "never_searchable": len(self.pending),
            "call_to_searchable": figures(searchable),
            "call_to_cosigned": figures(cosigned),
            "call_to_anchored": figures(anchored),
        }


# -- the load generator --------------------------------------------------------------------------------------


def client_pems(directory: Path, callers: set[str], work: Path) -> dict[str, str]:
    """Each caller's certificate and decrypted key in one PEM file, for TLS client authentication."""
    out = {}
    for org in sorted(callers):
        msp = directory / "orgs" / org / "users" / f"client@{org}" / "msp"
        cert, key = msp / "signcerts" / "cert.pem", msp / "keystore" / "key.pem"
        out[org] = str(write_client_pem(cert, key, PASSPHRASE.encode(), work / f"client-{org}.pem"))
    return out


def allowed_calls(directory: Path, endpoints: dict[str, str]) -> list[dict[str, str]]:
    """GET calls the demo catalogue's grants allow, without a quota, for the next day at least (as ``demo traffic``
    plans them), each as URL, caller and purpose; interleaved so that consecutive calls go to different gateways."""
    from demo.traffic import plans

    now = time.time()
    chosen = [
        p
        for p in plans(directory)
        if p.expected(now) == "allow" and p.quota == 0 and p.method == "GET" and p.expires_at > now + 86400
    ]
    if not chosen:
        raise RuntimeError("no grant of the demo catalogue allows a GET call")
    calls = []
    for i, p in enumerate(chosen * len(SYMBOLS)):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        url = f"{endpoints[p.provider]}{p.route}?symbol={symbol}&limit=20"
        calls.append({"caller": p.caller, "url": url, "purpose": p.purpose, "provider": p.provider})
    by_provider: dict[str, list[dict[str, str]]] = {}
    for c in calls:
        by_provider.setdefault(c["provider"], []).append(c)
    mixed: list[dict[str, str]] = []
    while any(by_provider.values()):
        for queue in by_provider.values():
            if queue:
                mixed.append(queue.pop(0))
    return mixed


class Load:
    """One run of ``bench.e2e_load`` at ``rate`` for ``seconds``; sampled event ids go to ``probe``."""

    def __init__(self, base: dict[str, Any], rate: float, seconds: float, work: Path, probe: LagProbe | None) -> None:
        spec = {**base, "rate": rate, "seconds": seconds}
        spec["sample_every"] = max(1, int(rate * 2)) if probe is not None else 0  # one call in two seconds
        path = work / f"load-{rate:g}-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(spec))
        self.probe = probe
        self.result: dict[str, Any] | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.e2e_load", str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        self.pid = self.process.pid
        self.cpu_start = descendants_cpu([self.pid]).get(self.pid, 0.0)
        self.began = time.monotonic()
        self.cpu_s = 0.0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("S ") and self.probe is not None:
                _, event_id, answered = line.split()
                self.probe.add(event_id, float(answered))
            elif line.startswith("R "):
                # the generator's own CPU, read before it exits
                self.cpu_s = descendants_cpu([self.pid]).get(self.pid, 0.0) - self.cpu_start
                self.result = json.loads(line[2:])

    def wait(self) -> dict[str, Any]:
        self.process.wait()
        self._thread.join(30)
        if self.result is None:
            raise RuntimeError(f"the load generator exited with {self.process.returncode} and no figures")
        wall = time.monotonic() - self.began
        self.result["generator_cpu_s"] = round(self.cpu_s, 1)
        self.result["generator_cpu_share_of_one_core"] = round(self.cpu_s / wall, 3) if wall else None
        return self.result


# -- phases --------------------------------------------------------------------------------------------------


def drain(watch: Watch, timeout: float, what: str = "pending") -> float | None:
    """Seconds until the gateways' outboxes are empty (``what="pending"``) or the notary's published and anchored
    sizes reach its size (``"published"``, ``"anchored"``); None if not within ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            s = watch.sample()
        except (httpx.HTTPError, KeyError, ValueError):
            time.sleep(0.5)
            continue
        done = {
            "pending": s["pending"] == 0,
            "published": s["pending"] == 0 and s["published_size"] >= s["size"],
            "anchored": s["pending"] == 0 and s["anchored_size"] >= s["size"],
        }[what]
        if done:
            return round(time.monotonic() - began, 1)
        time.sleep(0.5)
    return None


def phase_steady(
    consortium: Consortium, watch: Watch, base: dict[str, Any], work: Path, seconds: float, cpu: CpuMeter
) -> dict[str, Any]:
    probe = LagProbe(consortium, watch)
    cpu.start()
    load = Load(base, STEADY_RATE, seconds, work, probe)
    result = load.wait()
    result["cpu"] = cpu.stop()
    after = watch.sample()
    # everything recorded: the outboxes shipped, then cosigned, anchored, and the last sampled call searchable
    result["drained_s"] = drain(watch, 120, "pending")
    result["all_cosigned_s"] = drain(watch, 180, "published")
    result["all_anchored_s"] = drain(watch, 240, "anchored")
    probe.settle(120)
    probe.stop()
    final = watch.sample()
    watch.series.append(final)  # the sizes the drains above waited for, for the lags
    result["log"] = {k: final[k] for k in ("size", "published_size", "anchored_size")}
    result["log"]["size_at_end_of_load"] = after["size"]
    result["lag"] = probe.lags()
    lag = result["lag"]["call_to_searchable"]
    print(
        f"  steady {STEADY_RATE:g}/s for {seconds:g} s: {result['ok']:,} answered 200 of {result['due']:,} "
        f"(statuses {result['statuses']}, {result['shed_by_generator']:,} not sent: {base['max_inflight']:,} calls "
        f"already waiting); call latency p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; "
        f"call→searchable p50 {lag.get('p50_ms')} ms, p99 {lag.get('p99_ms')} ms over {lag['n']} samples; "
        f"cosigned p50 {result['lag']['call_to_cosigned'].get('p50_ms')} ms, anchored p50 "
        f"{result['lag']['call_to_anchored'].get('p50_ms')} ms; consortium CPU "
        f"{result['cpu']['consortium']['share']:.0%} of {result['cpu']['cores']} cores (machine busy "
        f"{result['cpu']['machine_busy_share']:.0%}); generator "
        f"{result['generator_cpu_share_of_one_core']:.0%} of one core",
        flush=True,
    )
    return result


def sustained(result: dict[str, Any], window: list[dict[str, Any]], rate: float) -> tuple[bool, str]:
    """Whether a step held its rate: no call failed or was refused, the generator sent what was due at the rate
    asked, and the outboxes' backlog did not grow through the second half of the step."""
    failed = result["due"] - result["ok"]
    if failed > result["due"] * 0.001:
        return False, f"{failed} calls not answered 200 ({result['statuses']}, shed {result['shed_by_generator']})"
    if result["sent_rate"] is not None and result["sent_rate"] < rate * 0.97:
        return False, f"the generator sent {result['sent_rate']}/s of {rate:g}/s"
    if len(window) >= 4:
        half = window[len(window) // 2 :]
        growth = half[-1]["pending"] - half[0]["pending"]
        span = half[-1]["t"] - half[0]["t"]
        if span > 0 and growth / span > rate * 0.02 and half[-1]["pending"] > rate:
            return False, f"the outboxes' backlog grew {growth / span:,.0f}/s to {half[-1]['pending']:,}"
    return True, "held"


def phase_steps(
    watch: Watch, base: dict[str, Any], work: Path, rates: list[float], seconds: float, cpu: CpuMeter
) -> dict[str, Any]:
    steps = []
    best = 0.0
    for rate in rates:
        began = time.monotonic()
        cpu.start()
        result = Load(base, rate, seconds, work, None).wait()
        result["cpu"] = cpu.stop()
        ok, why = sustained(result, [s for s in watch.series if s["t"] >= began], rate)
        result["sustained"], result["verdict"] = ok, why
        result["drained_s"] = drain(watch, 120)
        steps.append(result)
        print(
            f"  step {rate:>6,.0f}/s: issued {result['sent_rate']}/s, {result['ok']:,} of {result['due']:,} answered "
            f"200 ({result['answered_200_rate']}/s over {result['elapsed_s']} s), p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms, consortium CPU "
            f"{result['cpu']['consortium']['share']:.0%}, generator {result['generator_cpu_share_of_one_core']:.0%}"
            f" of a core; {'sustained' if ok else 'NOT sustained: ' + why}; outboxes drained in "
            f"{result['drained_s']} s",
            flush=True,
        )
        if not ok:
            break
        best = rate
    return {"steps": steps, "highest_sustained_rate": best}


def phase_burst(
    watch: Watch, base: dict[str, Any], work: Path, rate: float, seconds: float, cpu: CpuMeter
) -> dict[str, Any]:
    began = time.monotonic()
    cpu.start()
    result = Load(base, rate, seconds, work, None).wait()
    result["cpu"] = cpu.stop()
    ended = time.monotonic()
    peak = max((s["pending"] for s in watch.series if s["t"] >= began), default=0)
    result["outbox_peak_pending"] = peak
    result["drain_after_burst_s"] = drain(watch, 600)
    result["cosigned_after_burst_s"] = drain(watch, 600, "published")
    result["drain_measured_from_end_of_load_s"] = round(time.monotonic() - ended, 1)
    answered = result["ok"] + result["refused_503"]
    result["unanswered"] = result["sent"] - answered
    result["never_lost"] = result["unanswered"] == 0
    print(
        f"  burst {rate:,.0f}/s for {seconds:g} s: issued {result['sent_rate']}/s ({result['shed_by_generator']:,} "
        f"shed by the generator); {result['ok']:,} answered 200, {result['refused_503']:,} refused 503, "
        f"{result['unanswered']:,} neither ({result['statuses']}); outboxes peaked at {peak:,} pending, drained "
        f"{result['drain_after_burst_s']} s after the load (cosigned after {result['cosigned_after_burst_s']} s)",
        flush=True,
    )
    return result


def check_loss(consortium: Consortium, watch: Watch, first: dict[str, int], calls_with_event: int) -> dict[str, Any]:
    """No gap and no duplicate: the notary's ``/v1/gaps`` against the gateways' own sequence numbers and the
    log's size."""
    drain(watch, 300)
    gaps = httpx.get(
        f"{consortium.notary}/v1/gaps", headers={"Authorization": "Bearer " + consortium.token()}, timeout=30
    ).json()
    last = watch.sample()
    notary_seq = gaps["last_seq"]
    mismatched = {
        org: {"gateway": seq, "notary": notary_seq.get(f"{org}/gateway", 0)}
        for org, seq in last["last_seq"].items()
        if notary_seq.get(f"{org}/gateway", 0) != seq
    }
    issued = sum(last["last_seq"][org] - first.get(org, 0) for org in last["last_seq"])
    out = {
        "gaps": gaps["gaps"],
        "gateway_last_seq": last["last_seq"],
        "notary_last_seq": notary_seq,
        "mismatched": mismatched,
        "log_size": last["size"],
        "sum_of_last_seq": sum(notary_seq.values()),
        "calls_answered_with_event_id": calls_with_event,
        "sequence_numbers_issued_during_bench": issued,
    }
    out["zero_loss"] = not gaps["gaps"] and not mismatched and calls_with_event == issued
    out["zero_duplicates"] = last["size"] == out["sum_of_last_seq"]
    print(
        f"  loss check: gaps {len(gaps['gaps'])}, gateways whose last seq the notary lacks {len(mismatched)}, "
        f"{calls_with_event:,} calls answered with an event id, {issued:,} sequence numbers issued; log size "
        f"{last['size']:,} = sum of last seqs {out['sum_of_last_seq']:,}: zero loss {out['zero_loss']}, "
        f"zero duplicates {out['zero_duplicates']}",
        flush=True,
    )
    return out


# -- one backend ---------------------------------------------------------------------------------------------


def run_backend(name: str, template: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    directory = work / name
    shutil.copytree(template, directory, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSORTIUM_", "AWS_"))}
    env.update({"CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"})
    extra: list[str] = []
    servers: list[Any] = []
    storage_pids: list[int] = []
    out: dict[str, Any] = {"backend": name}
    try:
        if name == "postgres":
            from tests.support.servers import PostgresServer, S3Server

            pg = PostgresServer(work / f"{name}-pg")
            servers.append(pg)
            s3 = S3Server(work / f"{name}-s3")
            servers.append(s3)
            storage = pg.create_database("notary")
            object_store = f"s3://{s3.create_bucket('notary')}?endpoint={s3.url}"
            extra = ["--storage", storage, "--object-store", object_store]
            env.update({"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
            # the postmaster (its backends are its children) and the S3 server, for their CPU time
            storage_pids = [p._process.pid for p in (pg, s3) if p._process is not None]
            out["storage"] = {"notary": "postgresql (Debian's package)", "objects": "moto S3 server"}
        port = free_port_block(70)
        started = time.monotonic()
        consortium = Consortium(directory, port, env, extra)
        servers.append(consortium)
        consortium.wait_up()
        out["startup_s"] = round(time.monotonic() - started, 1)
        print(f"[{name}] consortium up in {out['startup_s']} s", flush=True)
        endpoints = consortium.endpoints()
        calls = allowed_calls(directory, endpoints)
        base = {
            "calls": calls,
            "clients": client_pems(directory, {c["caller"] for c in calls}, work),
            "ca": str(directory / "ca-bundle.pem"),
            "connections": args.connections,
            "max_inflight": args.max_inflight,
            "timeout_s": 60,
        }
        out["calls"] = {
            "kinds": len({(c["caller"], c["url"].split("?")[0]) for c in calls}),
            "callers": sorted({c["caller"] for c in calls}),
            "gateways": sorted({c["provider"] for c in calls}),
        }
        watch = Watch(consortium)
        first = watch.sample()["last_seq"]
        watch.start()
        roots = {"consortium": [consortium.process.pid]}
        if storage_pids:
            roots["storage_servers"] = storage_pids
        cpu = CpuMeter(roots)
        with_event = 0
        # a short warm-up: connections, caches
        warm = Load(base, 100, 5, work, None).wait()
        with_event += warm["with_event_id"]
        drain(watch, 60)
        print(f"[{name}] 1. steady", flush=True)
        out["steady"] = phase_steady(consortium, watch, base, work, args.steady_seconds, cpu)
        with_event += out["steady"]["with_event_id"]
        print(f"[{name}] 2. highest sustained rate", flush=True)
        out["max"] = phase_steps(watch, base, work, args.steps, args.max_seconds, cpu)
        with_event += sum(s["with_event_id"] for s in out["max"]["steps"])
        print(f"[{name}] 3. burst", flush=True)
        out["burst"] = phase_burst(watch, base, work, args.burst_rate, args.burst_seconds, cpu)
        with_event += out["burst"]["with_event_id"]
        print(f"[{name}] 4. zero loss, zero duplicates", flush=True)
        out["loss"] = check_loss(consortium, watch, first, with_event)
        watch.stop()
        return out
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # stopping the rest matters more
                print(f"  (stopping {type(server).__name__}: {exc})", file=sys.stderr)


# -- main ----------------------------------------------------------------------------------------------------


def targets(r: dict[str, Any]) -> dict[str, bool]:
    steady = r["steady"]
    return {
        "steady_579_all_answered": steady["ok"] == steady["due"],
        "steady_all_cosigned_and_anchored": None not in (steady["all_cosigned_s"], steady["all_anchored_s"]),
        "steady_samples_all_searchable": steady["lag"]["never_searchable"] == 0,
        "max_rate>=2000": r["max"]["highest_sustained_rate"] >= TARGET_RATE,
        "burst_rate_offered": r["burst"]["shed_by_generator"] == 0,
        "burst_sent_calls_all_answered": r["burst"]["never_lost"],
        "burst_backlog_drained": r["burst"]["drain_after_burst_s"] is not None,
        "zero_loss": r["loss"]["zero_loss"],
        "zero_duplicates": r["loss"]["zero_duplicates"],
    }


def held(steps: dict[str, Any]) -> str:
    """The highest step held, or, when the first step was not held, that it lies below it (not 0: the steady
    phase's rate may have held)."""
    best = steps["highest_sustained_rate"]
    if best == 0 and steps["steps"]:
        return f"< {steps['steps'][0]['offered_rate']:,.0f}"
    return f"{best:,.0f}"


def side_by_side(results: dict[str, dict[str, Any]]) -> None:
    names = list(results)

    def row(label: str, f: Any) -> list[str]:
        cells = []
        for n in names:
            try:
                cells.append(str(f(results[n])))
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                cells.append("-")
        return [label, *cells]

    def met(ok: bool) -> str:
        return "met" if ok else "not met"

    lag = "call_to_searchable"
    rows = [
        row("steady issued (calls/s)", lambda r: f"{r['steady']['sent_rate']:,.0f}"),
        row("steady answered 200", lambda r: f"{r['steady']['ok']:,}/{r['steady']['due']:,}"),
        row("steady call p50/p99 (ms)", lambda r: f"{r['steady']['p50_ms']:.0f}/{r['steady']['p99_ms']:.0f}"),
        row("call→searchable p50 (ms)", lambda r: r["steady"]["lag"][lag]["p50_ms"]),
        row("call→searchable p99 (ms)", lambda r: r["steady"]["lag"][lag]["p99_ms"]),
        row("call→cosigned p50 (ms)", lambda r: r["steady"]["lag"]["call_to_cosigned"]["p50_ms"]),
        row("call→anchored p50 (ms)", lambda r: r["steady"]["lag"]["call_to_anchored"]["p50_ms"]),
        row("consortium CPU share", lambda r: f"{r['steady']['cpu']['consortium']['share']:.0%}"),
        row("storage servers CPU share", lambda r: f"{r['steady']['cpu']['storage_servers']['share']:.0%}"),
        row("machine busy (all processes)", lambda r: f"{r['steady']['cpu']['machine_busy_share']:.0%}"),
        row("generator CPU (of a core)", lambda r: f"{r['steady']['generator_cpu_share_of_one_core']:.0%}"),
        row("highest sustained (calls/s)", lambda r: held(r["max"])),
        row(f"  ≥ {TARGET_RATE:,.0f}/s", lambda r: met(r["max"]["highest_sustained_rate"] >= TARGET_RATE)),
        row("burst issued (calls/s)", lambda r: f"{r['burst']['sent_rate']:,.0f}"),
        row("burst shed by generator", lambda r: f"{r['burst']['shed_by_generator']:,}"),
        row(
            "burst 200 / 503 / neither",
            lambda r: f"{r['burst']['ok']}/{r['burst']['refused_503']}/{r['burst']['unanswered']}",
        ),
        row("burst outbox peak", lambda r: f"{r['burst']['outbox_peak_pending']:,}"),
        row("burst drained (s)", lambda r: r["burst"]["drain_after_burst_s"]),
        row("zero loss", lambda r: met(r["loss"]["zero_loss"])),
        row("zero duplicates", lambda r: met(r["loss"]["zero_duplicates"])),
    ]
    print_table(["", *names], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite, postgres, or both (default)")
    parser.add_argument("--steady-seconds", type=float, default=600)
    parser.add_argument("--max-seconds", type=float, default=60, help="seconds of each step of the rate")
    parser.add_argument("--steps", default="1000,1500,2000,3000,4000,5800", help="offered rates, calls/s")
    parser.add_argument("--burst-rate", type=float, default=BURST_RATE)
    parser.add_argument("--burst-seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=48, help="per caller (a gateway admits 64)")
    parser.add_argument("--max-inflight", type=int, default=4000)
    parser.add_argument(
        "--quick", action="store_true", help="30 s steady, 2 steps of 10 s, a 10 s burst at 2,900 calls/s"
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args(argv)
    if args.quick:
        args.steady_seconds, args.max_seconds, args.steps = 30, 10, "1000,2000"
        args.burst_rate, args.burst_seconds = BURST_RATE / 2, 10
    args.steps = [float(s) for s in str(args.steps).split(",")]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in ("sqlite", "postgres"):
            sys.exit(f"--backends: sqlite or postgres, not {b!r}")
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    results: dict[str, Any] = {
        "quick": bool(args.quick),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "load_average_before": load_average(),
        "options": {
            "steady_rate": STEADY_RATE,
            "steady_seconds": args.steady_seconds,
            "steps": args.steps,
            "step_seconds": args.max_seconds,
            "burst_rate": args.burst_rate,
            "burst_seconds": args.burst_seconds,
            "connections_per_caller": args.connections,
        },
        "backends": {},
    }
    print(f"load average before: {results['load_average_before']}", flush=True)
    try:
        began = time.monotonic()
        template = work / "template"
        init = subprocess.run(
            [sys.executable, "-m", "cli.main", "init", str(template), "--demo"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"consortium init failed:\n{(init.stdout + init.stderr)[-2000:]}")
        print(f"demo consortium initialised in {time.monotonic() - began:.1f} s", flush=True)
        for name in backends:
            results["backends"][name] = r = run_backend(name, template, work, args)
            r["targets"] = {k: ("met" if v else "not met") for k, v in targets(r).items()}
            print(f"[{name}] targets: " + ", ".join(f"{k} {v}" for k, v in r["targets"].items()), flush=True)
        results["load_average_after"] = load_average()
        print(f"load average after: {results['load_average_after']}", flush=True)
        side_by_side(results["backends"])
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nfigures written to {RESULTS.relative_to(ROOT)}" + (" (quick run)" if args.quick else ""))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
