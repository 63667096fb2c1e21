"""What the benchmarks share: percentiles, a process's memory from ``/proc``, the load average, the loopback socket
the servers they start listen on, waiting for a condition, a member's client certificate and key in one PEM file,
the table and JSON file of figures each one writes, and what a run that measures another checkout's code beside
this tree's needs (``--baseline``: its options, its rounds in turn, their medians side by side)."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

HOST = "127.0.0.1"
T = TypeVar("T")


def percentile(values: Sequence[float], q: float) -> float:
    """The value at quantile ``q`` (0-1) of ``values``, nearest rank below."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def status_kib(pid: int | str, name: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (``VmRSS``, ``VmHWM``, ``RssAnon``...); ``pid`` may be ``"self"``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def bound_socket(port: int = 0) -> socket.socket:
    """A listening TCP socket on loopback ``port`` (0: a free one), to hand to uvicorn (``Server.run(sockets=[...])``).

    IPPROTO_TCP is spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP, and
    with it on, each keep-alive response waits ~40 ms for the client's delayed ACK. SO_REUSEADDR lets a server
    started again take its port while the killed one's connections are in TIME_WAIT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)  # connections queue from now on; uvicorn accepts them once it runs
    return sock


def wait_for(check: Callable[[], bool], deadline_s: float, what: str, every: float = 0.05) -> None:
    """Until ``check()`` is true; a server not answering yet (HTTP errors, a body not yet what is read from it)
    counts as false. RuntimeError after ``deadline_s`` seconds."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            if check():
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"gave up after {deadline_s:.0f} s waiting for {what}")
        time.sleep(every)


def ab_figures(text: str) -> dict[str, float | None]:
    """What ApacheBench (``ab``) printed: calls per second, complete, failed and non-2xx calls, and the p50 and
    p99 of its per-call times in ms (a run stopped by SIGINT prints the same, for the calls made so far). A figure
    ab did not print is None, but ``non_2xx`` and ``failed_length``, which ab prints only when there were some (0).
    ``failed`` counts answers of another length than the first as failures too (a refusal among answers of 200):
    ``failed_length`` says how many of them were only that."""

    def number(pattern: str) -> float | None:
        match = re.search(pattern, text, re.MULTILINE)
        return None if match is None else float(match.group(1))

    non_2xx = number(r"^Non-2xx responses:\s+(\d+)")
    return {
        "calls_per_s": number(r"^Requests per second:\s+([\d.]+)"),
        "complete": number(r"^Complete requests:\s+(\d+)"),
        "failed": number(r"^Failed requests:\s+(\d+)"),
        "failed_length": number(r"^\s+\(Connect: \d+, Receive: \d+, Length: (\d+), Exceptions: \d+\)") or 0.0,
        "non_2xx": 0.0 if non_2xx is None else non_2xx,
        "p50_ms": number(r"^\s+50%\s+(\d+)"),
        "p99_ms": number(r"^\s+99%\s+(\d+)"),
    }


def load_average() -> list[float]:
    """The load average over 1, 5 and 15 minutes, to two decimals."""
    return [round(x, 2) for x in os.getloadavg()]


def write_client_pem(cert: Path, key: Path, passphrase: bytes, out: Path) -> Path:
    """``cert`` and the private key in ``key`` (encrypted under ``passphrase``) written decrypted into one PEM file
    ``out`` (0600), as ApacheBench's ``-E`` and a TLS client's ``cert`` take them; ``out``."""
    from cryptography.hazmat.primitives import serialization

    loaded = serialization.load_pem_private_key(key.read_bytes(), passphrase)
    plain = loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    out.write_bytes(cert.read_bytes() + plain)
    out.chmod(0o600)
    return out


def met(ok: bool) -> str:
    return "yes" if ok else "NO"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> None:
    """The figures as aligned columns: those in ``left`` flush left, the others flush right."""
    lines = [header, *rows]
    widths = [max(len(r[k]) for r in lines) for k in range(len(header))]
    print()
    for row in lines:
        cells = [c.ljust(w) if k in left else c.rjust(w) for k, (c, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip())


def write_results(out: dict[str, Any], path: Path) -> str:
    """Write the figures as indented JSON; the path as to show it (relative to the working directory if below it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def checkout_commit(code: Path) -> str | None:
    """The commit checked out in ``code`` (with ``+`` when its tracked files differ from it); None without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=code, capture_output=True)
    except OSError:
        return None
    return head.stdout.strip() + ("+" if dirty.returncode else "") if head.returncode == 0 else None


def write_side_by_side(
    rounds: Mapping[str, list[dict[str, Any]]],
    summary: Mapping[str, dict[str, float]],
    commits: Mapping[str, str | None],
    command: str,
    loads: Mapping[str, list[float]],
    path: Path,
) -> dict[str, Any]:
    """Print the medians ``summary`` of the ``baseline`` and ``this`` codes side by side with their ratio, and write
    them with every round, the codes' ``commits`` (:func:`checkout_commit`), the date and the load average to
    ``path``."""
    ratios = {
        key: round(summary["this"][key] / summary["baseline"][key], 3) if summary["baseline"][key] else None
        for key in summary["this"]
    }
    print(
        f"\n{'medians of ' + str(len(rounds['this'])) + ' rounds':<32} {'baseline':>10}  {'this':>10}   this/baseline"
    )
    for key in summary["this"]:
        print(f"{key:<32} {summary['baseline'][key]:>10,.3f}  {summary['this'][key]:>10,.3f}   {ratios[key]}")
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "commits": dict(commits),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "load_average": dict(loads),
        "medians": dict(summary),
        "this_over_baseline": ratios,
        "rounds": dict(rounds),
    }
    print(f"figures written to {write_results(results, path)}")
    return results


def medians(rounds: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    """The median of each of ``keys`` over ``rounds``."""
    return {key: round(statistics.median(r[key] for r in rounds), 3) for key in keys}


def baseline_options(parser: argparse.ArgumentParser, name: str, what: str, rounds: int, note: str = "") -> None:
    """``--baseline CHECKOUT`` and ``--rounds N`` for a benchmark whose ``bench/NAME_baseline.py`` does ``what``."""
    parser.add_argument(
        "--baseline",
        type=Path,
        help=f"another checkout of the project: {what} (bench/{name}_baseline.py; figures in "
        f"bench/results/{name}_baseline.json{note})",
    )
    parser.add_argument("--rounds", type=int, default=rounds, help="with --baseline: rounds of each code, alternating")


def in_turn(
    codes: Mapping[str, T],
    rounds: int,
    measure: Callable[[str, T, int], dict[str, Any]],
    show: Callable[[dict[str, Any]], str],
) -> dict[str, list[dict[str, Any]]]:
    """``rounds`` rounds, each measuring every code of ``codes`` in turn (``measure(label, code, round)``), each
    figure printed as it comes (``round N LABEL`` then ``show(figures)``): every code's figures, by label. Every
    other round takes the codes in the reverse order (``codes``' own in the first), so that no code always runs
    right after another: a run leaves work behind it (files written back and removed, processes ending) that falls
    on the run after it, and the machine's drift over a round falls on both alike."""
    out: dict[str, list[dict[str, Any]]] = {label: [] for label in codes}
    order = list(codes.items())
    for n in range(1, rounds + 1):
        for label, code in order if n % 2 else reversed(order):
            row = measure(label, code, n)
            out[label].append(row)
            print(f"round {n} {label:<8} {show(row)}", flush=True)
    return out


#: (figure, where it is in a run's ``results``): a path of keys (an index for a list).
Figures = Sequence[tuple[str, Sequence[str | int]]]


def figures_at(results: Mapping[str, Any], figures: Figures) -> dict[str, float]:
    """Each of ``figures`` read from one run's ``results``."""
    out: dict[str, float] = {}
    for name, path in figures:
        value: Any = results
        for key in path:
            value = value[key]
        out[name] = float(value)
    return out


def compare_checkouts(
    args: argparse.Namespace,
    name: str,
    figures: Figures,
    show: Callable[[dict[str, Any]], str],
    out: Path,
    check: Callable[[str, Mapping[str, Any]], None] | None = None,
    size: Sequence[str] | None = None,
    section: str | None = "results",
) -> dict[str, Any]:
    """``make bench-NAME ARGS="--baseline CHECKOUT"`` for a benchmark that writes its results with ``--output``:
    ``args.rounds`` rounds, each running ``python -m bench.NAME`` of ``args.baseline`` and of this tree in turn, each
    in a process of its own with its checkout as working directory and ``PYTHONPATH`` (this tree's virtual
    environment), with the options ``size`` (None: ``--quick`` unless ``args.events`` is given), its results
    written to a temporary file (never over either checkout's recorded ones); ``figures`` taken from each run (after
    ``check(checkout name, results)``, which raises to stop), ``show`` printing them as they come, and their medians
    written side by side to ``out`` (:func:`write_side_by_side`). ``figures`` and ``check`` read the ``section``
    of the file a run writes (None: the whole file). A directory that is no checkout of this project is refused
    before anything runs."""
    root = Path(__file__).resolve().parent.parent
    baseline = Path(args.baseline).resolve()
    if not (baseline / "bench" / f"{name}.py").exists():
        raise SystemExit(f"--baseline {args.baseline}: not a checkout of this project (no bench/{name}.py)")
    checkouts = {"baseline": baseline, "this": root}

    options = list(size) if size is not None else ["--quick"] if args.events is None else ["--events", str(args.events)]

    def run(checkout: Path, output: Path) -> dict[str, Any]:
        command = [sys.executable, "-m", f"bench.{name}", "--output", str(output), *options]
        env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1"}
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=7200)
        if done.returncode != 0:
            raise RuntimeError(f"bench.{name} of {checkout.name} could not be measured:\n{done.stdout[-3000:]}")
        written: dict[str, Any] = json.loads(output.read_text())
        results: dict[str, Any] = written if section is None else written[section]
        if check is not None:
            check(checkout.name, results)
        return figures_at(results, figures)

    loads = {"start": load_average()}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-baseline-") as tmp:
        rounds = in_turn(
            checkouts, args.rounds, lambda label, checkout, n: run(checkout, Path(tmp) / f"{label}-{n}.json"), show
        )
    loads["end"] = load_average()
    command = f"make bench-{name} ARGS='--baseline CHECKOUT --rounds {args.rounds} {' '.join(options)}'"
    summary = {label: medians(rows, [figure for figure, _ in figures]) for label, rows in rounds.items()}
    commits = {label: checkout_commit(checkout) for label, checkout in checkouts.items()}
    return write_side_by_side(rounds, summary, commits, command, loads, out)
