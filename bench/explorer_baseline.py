"""``make bench-explorer ARGS="--baseline CHECKOUT"``: the explorer of another checkout's code against this tree's,
in turn, in one run.

Each round runs, for each code, that checkout's own ``python -m bench.explorer`` (``--quick`` unless ``--events``
says otherwise: 200,000 calls, smaller samples) in a process of its own, with the checkout as working directory and
``PYTHONPATH`` and this tree's virtual environment, its figures written to a temporary file (never over the
recorded ``bench/results/explorer.json`` of either). The rounds alternate the two codes so that both see the same
machine. From each run it takes the figures the explorer's targets are about — provenance (cold and warm), search
in process (its latency and its CPU time) and over HTTP (every page), the index load (per second and per CPU
second), the first export — prints their medians side by side with the ratio this/baseline, and writes them with
every round to ``bench/results/explorer_baseline.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.common import Figures, compare_checkouts, figures_at

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "explorer_baseline.json"
#: (figure, where it is in a run's ``results``): one path of keys, or an export's index then its key.
FIGURES: Figures = (
    ("provenance_cold_p50_ms", ("provenance", "cold", "p50_ms")),
    ("provenance_cold_p99_ms", ("provenance", "cold", "p99_ms")),
    ("provenance_warm_p50_ms", ("provenance", "warm", "p50_ms")),
    ("provenance_warm_p99_ms", ("provenance", "warm", "p99_ms")),
    ("search_inprocess_p50_ms", ("search_inprocess", "all_pages", "p50_ms")),
    ("search_inprocess_p99_ms", ("search_inprocess", "all_pages", "p99_ms")),
    # the CPU time of the same pages (the benchmark's thread): what waiting for the machine's cores and disk adds
    # to the latencies is not in it
    ("search_inprocess_cpu_p50_ms", ("search_inprocess", "all_pages_cpu", "p50_ms")),
    ("search_inprocess_cpu_p99_ms", ("search_inprocess", "all_pages_cpu", "p99_ms")),
    ("search_http_p50_ms", ("search_http", "all_pages", "p50_ms")),
    ("search_http_p99_ms", ("search_http", "all_pages", "p99_ms")),
    ("index_load_entries_per_s", ("build", "index_load_entries_per_s")),
    ("index_load_entries_per_cpu_s", ("build", "index_load_entries_per_cpu_s")),
    ("export_calls_csv_rows_per_s", ("exports", 0, "rows_per_s")),
)


def figures_of(results: Mapping[str, Any]) -> dict[str, float]:
    """The :data:`FIGURES` of one run's ``results``."""
    return figures_at(results, FIGURES)


def all_verified(checkout: str, results: Mapping[str, Any]) -> None:
    """Stop the comparison when a provenance answer of ``checkout``'s run did not verify."""
    if not results["provenance"]["all_verified"]:
        raise RuntimeError(f"{checkout}: a provenance answer did not verify")


def compare(args: argparse.Namespace, out: Path = RESULTS) -> dict[str, Any]:
    """Run the comparison ``args`` asks for (``baseline``, ``rounds``, ``events``) and write its figures to
    ``out``."""
    return compare_checkouts(
        args,
        "explorer",
        FIGURES,
        lambda row: (
            f"provenance cold p50/p99 {row['provenance_cold_p50_ms']}/{row['provenance_cold_p99_ms']} ms, "
            f"warm {row['provenance_warm_p50_ms']}/{row['provenance_warm_p99_ms']} ms; search p99 "
            f"{row['search_inprocess_p99_ms']} ms in process, {row['search_http_p99_ms']} ms over HTTP"
        ),
        out,
        check=all_verified,
    )
