"""``make bench-notary ARGS="--baseline CHECKOUT"``: the audit log of another checkout's code against this tree's,
in turn, in one run.

Each round runs, for each code, that checkout's own ``python -m bench.notary`` (``--quick`` unless ``--events``
says otherwise: 50,000 events, small samples) in a process of its own, with the checkout as working directory and
``PYTHONPATH`` and this tree's virtual environment, its figures written to a temporary file (never over the
recorded ``bench/results/notary.json`` of either). The rounds alternate the two codes so that both see the same
machine. From each run it takes the figures the notary's targets are about — ingest in process and over HTTP,
inclusion proofs in process and over HTTP, the checkpoint's latency under load and at a steady rate, the notary
server's peak memory — and the tree's speed over pymerkle's in the same run (a figure the machine's load moves
less), prints their medians side by side with the ratio this/baseline, and writes them with every round to
``bench/results/notary_baseline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import checkout_commit, in_turn, load_average, medians, write_side_by_side

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "notary_baseline.json"
#: (figure, the path of keys to it in a run's ``results``).
FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ingest_inprocess_events_per_s", ("ingest_inprocess", "events_per_s")),
    ("ingest_http_events_per_s", ("ingest_http", "events_per_s")),
    ("proofs_inprocess_per_s", ("proofs_inprocess", "proofs_per_s")),
    ("proofs_http_p50_ms", ("proofs_http", "p50_ms")),
    ("proofs_http_p99_ms", ("proofs_http", "p99_ms")),
    ("checkpoint_full_load_p50_s", ("checkpoint_under_full_load", "p50_s")),
    ("checkpoint_steady_p50_s", ("checkpoint_steady", "p50_s")),
    ("notary_peak_rss_mib", ("memory", "notary_peak_rss_mib")),
    ("append_over_pymerkle", ("peer", "ratio_ours_over_pymerkle", "append")),
    ("proofs_over_pymerkle", ("peer", "ratio_ours_over_pymerkle", "proofs")),
)


def figures_of(results: dict[str, Any]) -> dict[str, float]:
    """The :data:`FIGURES` of one run's ``results``."""
    out: dict[str, float] = {}
    for name, path in FIGURES:
        value: Any = results
        for key in path:
            value = value[key]
        out[name] = float(value)
    return out


def run_code(checkout: Path, args: argparse.Namespace, output: Path) -> dict[str, float]:
    """One run of ``checkout``'s notary benchmark: its figures."""
    command = [sys.executable, "-m", "bench.notary", "--output", str(output)]
    command += ["--quick"] if args.events is None else ["--events", str(args.events)]
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=7200, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the notary of {checkout.name} could not be measured:\n{done.stdout[-3000:]}")
    results: dict[str, Any] = json.loads(output.read_text())["results"]
    return figures_of(results)


def compare(args: argparse.Namespace, out: Path = RESULTS) -> dict[str, Any]:
    """Run the comparison ``args`` asks for (``baseline``, ``rounds``, ``events``) and write its figures to
    ``out``."""
    baseline = Path(args.baseline).resolve()
    if not (baseline / "bench" / "notary.py").exists():
        raise SystemExit(f"--baseline {args.baseline}: not a checkout of this project (no bench/notary.py)")
    checkouts = {"baseline": baseline, "this": ROOT}
    loads = {"start": load_average()}
    with tempfile.TemporaryDirectory(prefix="bench-notary-baseline-") as tmp:
        rounds = in_turn(
            checkouts,
            args.rounds,
            lambda label, checkout, n: run_code(checkout, args, Path(tmp) / f"{label}-{n}.json"),
            lambda row: (
                f"ingest {row['ingest_inprocess_events_per_s']:,.0f} ev/s in process, "
                f"{row['ingest_http_events_per_s']:,.0f} over HTTP; proofs over HTTP p50/p99 "
                f"{row['proofs_http_p50_ms']}/{row['proofs_http_p99_ms']} ms; checkpoint p50 "
                f"{row['checkpoint_steady_p50_s']} s; append {row['append_over_pymerkle']}x pymerkle"
            ),
        )
    loads["end"] = load_average()
    size = "--quick" if args.events is None else f"--events {args.events}"
    command = f"make bench-notary ARGS='--baseline CHECKOUT --rounds {args.rounds} {size}'"
    summary = {label: medians(rows, [name for name, _ in FIGURES]) for label, rows in rounds.items()}
    commits = {label: checkout_commit(checkout) for label, checkout in checkouts.items()}
    return write_side_by_side(rounds, summary, commits, command, loads, out)
