"""``make bench-idle``: what a running demo consortium costs in CPU, with no traffic and with traffic at a fixed rate.

It initialises the demo consortium once in a temporary directory (``consortium init --demo``) and, for each rate
(``--rates``, calls/s; 0 first: no traffic at all), starts a copy of it with ``consortium up --traffic RATE``,
waits for ``up`` to say everything runs, lets it settle (``--warmup`` s), then reads the CPU time (``utime`` +
``stime`` of ``/proc/PID/stat``) of ``up`` and of every process below it at the start and at the end of a window
(``--seconds``), and stops it. Each process is counted under its kind, read from its command line (``node`` for
the validators and the follower, ``gateway``, ``notary``, ``witness``, ``explorer``, ``demo services``, ``demo
traffic``, ``up``). The figures are CPU-seconds per minute of wall time (60 would be one core kept busy), per kind
and in all, with the number of processes of each kind.

``--baseline DIR`` runs the same consortium a second time, at each rate, from the code of another checkout of the
project (its ``up`` and every child run with ``DIR`` as the working directory and ``PYTHONPATH``), alternating
with this tree's code so that both see the same load: the "before" and "after" of a change in one run. Figures
go to ``bench/results/idle.json``, with the date, the load average before and after each window and the command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import checkout_commit, load_average, print_table, write_results
from bench.gateway import PASSPHRASE, free_port_block, wait_up

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "idle.json"
#: The first word of a child's command (after ``cli.main``) that names its kind.
KINDS = ("node", "gateway", "notary", "witness", "explorer", "demo")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5), after pid and comm


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def kind(pid: int, root: int) -> str:
    """The component ``pid`` runs, from its command line."""
    if pid == root:
        return "up"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "gone"
    for i, word in enumerate(argv):
        if word in KINDS:
            if word == "demo" and i + 1 < len(argv):
                return "demo " + ("services" if argv[i + 1] == "serve" else argv[i + 1])
            return word
    return Path(argv[0]).name or "other"


def measure(code: Path, template: Path, work: Path, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """One ``up`` of a copy of ``template`` run from ``code``, traffic at ``rate``: its figures."""
    directory = work / f"run-{time.monotonic_ns()}"
    shutil.copytree(template, directory, symlinks=True)
    port = free_port_block(100, 23000)
    env = {**os.environ, "PYTHONPATH": str(code), "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    up = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", str(directory), "--port", str(port), "--traffic", f"{rate:g}"],
        env=env,
        cwd=code,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        started = time.monotonic()
        wait_up(up, timeout=args.start_timeout)
        print(f"  up in {time.monotonic() - started:.1f} s; settling {args.warmup:g} s", flush=True)
        time.sleep(args.warmup)
        load_before = load_average()
        pids = descendants(up.pid)
        first = {pid: cpu_seconds(pid) for pid in pids}
        kinds = {pid: kind(pid, up.pid) for pid in pids}
        began = time.monotonic()
        time.sleep(args.seconds)
        pids_after = descendants(up.pid)
        wall = time.monotonic() - began
        last = {pid: cpu_seconds(pid) for pid in pids_after}
        load_after = load_average()
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    per_kind: dict[str, float] = {}
    count: Counter[str] = Counter()
    for pid, end in last.items():
        if end is None:
            continue
        name = kinds.get(pid) or kind(pid, up.pid)  # one started during the window counts from zero
        per_kind[name] = per_kind.get(name, 0.0) + end - (first.get(pid) or 0.0)
        count[name] += 1
    scale = 60.0 / wall
    shutil.rmtree(directory, ignore_errors=True)
    return {
        "rate": rate,
        "window_s": round(wall, 1),
        "cpu_s_per_min": {k: round(v * scale, 2) for k, v in sorted(per_kind.items())},
        "processes": dict(sorted(count.items())),
        "total_cpu_s_per_min": round(sum(per_kind.values()) * scale, 2),
        "cores": round(sum(per_kind.values()) / wall, 3),
        "load_before": load_before,
        "load_after": load_after,
    }


def _shown(argv: list[str]) -> list[str]:
    """``argv`` with the directory given to ``--baseline`` written as ``CHECKOUT``."""
    shown, hide = [], False
    for word in argv:
        if hide:
            shown.append("CHECKOUT")
        elif word.startswith("--baseline="):
            shown.append("--baseline=CHECKOUT")
        else:
            shown.append(word)
        hide = word == "--baseline"
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="0,20", help="demo traffic rates to measure, calls/s (default 0,20)")
    parser.add_argument("--seconds", type=float, default=60, help="the measured window of each run (default 60)")
    parser.add_argument("--warmup", type=float, default=15, help="seconds after `up` is up, before the window")
    parser.add_argument("--start-timeout", type=float, default=400, help="seconds `up` may take to start")
    parser.add_argument("--baseline", type=Path, help="another checkout whose code to measure too (the 'before')")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    codes = {"this": ROOT}
    if args.baseline is not None:
        codes = {"baseline": args.baseline.resolve(), "this": ROOT}
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        work = Path(tmp)
        template = work / "demo"
        began = time.monotonic()
        init = subprocess.run(
            [sys.executable, "-m", "cli.main", "init", str(template), "--demo"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "CONSORTIUM_PASSPHRASE": PASSPHRASE},
            capture_output=True,
            text=True,
            check=False,
        )
        if init.returncode != 0:
            raise SystemExit(f"consortium init --demo failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
        print(f"demo consortium initialised in {time.monotonic() - began:.1f} s", flush=True)
        for rate in rates:
            for label, code in codes.items():
                print(f"{label} code, traffic {rate:g} calls/s", flush=True)
                run = measure(code, template, work, rate, args)
                runs.append({"code": label, **run})
                print(f"  {run['total_cpu_s_per_min']} CPU-s per min, load {run['load_after']}", flush=True)
    kinds = sorted({k for run in runs for k in run["cpu_s_per_min"]})
    header = ["component", *[f"{run['code']}@{run['rate']:g}/s" for run in runs]]
    rows = [[k, *[f"{run['cpu_s_per_min'].get(k, 0.0):.2f}" for run in runs]] for k in kinds]
    rows.append(["all", *[f"{run['total_cpu_s_per_min']:.2f}" for run in runs]])
    rows.append(["load after", *[f"{run['load_after'][0]:.2f}" for run in runs]])
    print("\nCPU-seconds per minute of wall time, by component kind")
    print_table(header, rows)
    out = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # the baseline's directory is this machine's business, not the figures'
        "command": "make bench-idle ARGS=" + repr(" ".join(_shown(sys.argv[1:]))),
        "cpus": os.cpu_count(),
        "commits": {label: checkout_commit(code) for label, code in codes.items()},
        "runs": runs,
    }
    print(f"\nwritten to {write_results(out, args.out)}")


if __name__ == "__main__":
    main()
