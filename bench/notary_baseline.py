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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.common import Figures, compare_checkouts, figures_at

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "notary_baseline.json"
#: (figure, the path of keys to it in a run's ``results``).
FIGURES: Figures = (
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


def figures_of(results: Mapping[str, Any]) -> dict[str, float]:
    """The :data:`FIGURES` of one run's ``results``."""
    return figures_at(results, FIGURES)


def compare(args: argparse.Namespace, out: Path = RESULTS) -> dict[str, Any]:
    """Run the comparison ``args`` asks for (``baseline``, ``rounds``, ``events``) and write its figures to
    ``out``."""
    return compare_checkouts(
        args,
        "notary",
        FIGURES,
        lambda row: (
            f"ingest {row['ingest_inprocess_events_per_s']:,.0f} ev/s in process, "
            f"{row['ingest_http_events_per_s']:,.0f} over HTTP; proofs over HTTP p50/p99 "
            f"{row['proofs_http_p50_ms']}/{row['proofs_http_p99_ms']} ms; checkpoint p50 "
            f"{row['checkpoint_steady_p50_s']} s; append {row['append_over_pymerkle']}x pymerkle"
        ),
        out,
    )
