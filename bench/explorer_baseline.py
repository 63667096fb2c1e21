"""``make bench-explorer ARGS="--baseline CHECKOUT"``: the explorer of another checkout's code against this tree's,
in turn, in one run.

Each round runs, for each code, that checkout's own ``python -m bench.explorer`` (``--quick`` unless ``--events``
says otherwise: 200,000 calls, smaller samples) in a process of its own, with the checkout as working directory and
``PYTHONPATH`` and this tree's virtual environment, its figures written to a temporary file (never over the
recorded ``bench/results/explorer.json`` of either). The rounds alternate the two codes so that both see the same
machine. From each run it takes the figures the explorer's targets are about — provenance (cold and warm), search
in process and over HTTP (every page), the index load, the first export — prints their medians side by side with
the ratio this/baseline, and writes them with every round to ``bench/results/explorer_baseline.json``.
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
RESULTS = ROOT / "bench" / "results" / "explorer_baseline.json"
#: (figure, where it is in a run's ``results``): one path of keys, or an export's index then its key.
FIGURES: tuple[tuple[str, tuple[str | int, ...]], ...] = (
    ("provenance_cold_p50_ms", ("provenance", "cold", "p50_ms")),
    ("provenance_cold_p99_ms", ("provenance", "cold", "p99_ms")),
    ("provenance_warm_p50_ms", ("provenance", "warm", "p50_ms")),
    ("provenance_warm_p99_ms", ("provenance", "warm", "p99_ms")),
    ("search_inprocess_p50_ms", ("search_inprocess", "all_pages", "p50_ms")),
    ("search_inprocess_p99_ms", ("search_inprocess", "all_pages", "p99_ms")),
    ("search_http_p50_ms", ("search_http", "all_pages", "p50_ms")),
    ("search_http_p99_ms", ("search_http", "all_pages", "p99_ms")),
    ("index_load_entries_per_s", ("build", "index_load_entries_per_s")),
    ("export_calls_csv_rows_per_s", ("exports", 0, "rows_per_s")),
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


def run_code(checkout: Path, args: argparse.Namespace, output: Path) -> dict[str, Any]:
    """One run of ``checkout``'s explorer benchmark: its figures, and whether every provenance verified."""
    command = [sys.executable, "-m", "bench.explorer", "--output", str(output)]
    command += ["--quick"] if args.events is None else ["--events", str(args.events)]
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=7200, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the explorer of {checkout.name} could not be measured:\n{done.stdout[-3000:]}")
    results: dict[str, Any] = json.loads(output.read_text())["results"]
    if not results["provenance"]["all_verified"]:
        raise RuntimeError(f"{checkout.name}: a provenance answer did not verify ({output})")
    return figures_of(results)


def compare(args: argparse.Namespace, out: Path = RESULTS) -> dict[str, Any]:
    """Run the comparison ``args`` asks for (``baseline``, ``rounds``, ``events``) and write its figures to
    ``out``."""
    baseline = Path(args.baseline).resolve()
    if not (baseline / "bench" / "explorer.py").exists():
        raise SystemExit(f"--baseline {args.baseline}: not a checkout of this project (no bench/explorer.py)")
    checkouts = {"baseline": baseline, "this": ROOT}
    loads = {"start": load_average()}
    with tempfile.TemporaryDirectory(prefix="bench-explorer-baseline-") as tmp:
        rounds = in_turn(
            checkouts,
            args.rounds,
            lambda label, checkout, n: run_code(checkout, args, Path(tmp) / f"{label}-{n}.json"),
            lambda row: (
                f"provenance cold p50/p99 {row['provenance_cold_p50_ms']}/{row['provenance_cold_p99_ms']} ms, "
                f"warm {row['provenance_warm_p50_ms']}/{row['provenance_warm_p99_ms']} ms; search p99 "
                f"{row['search_inprocess_p99_ms']} ms in process, {row['search_http_p99_ms']} ms over HTTP"
            ),
        )
    loads["end"] = load_average()
    size = "--quick" if args.events is None else f"--events {args.events}"
    command = f"make bench-explorer ARGS='--baseline CHECKOUT --rounds {args.rounds} {size}'"
    summary = {label: medians(rows, [name for name, _ in FIGURES]) for label, rows in rounds.items()}
    commits = {label: checkout_commit(checkout) for label, checkout in checkouts.items()}
    return write_side_by_side(rounds, summary, commits, command, loads, out)
