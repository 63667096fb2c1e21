"""``make bench-store ARGS="--baseline CHECKOUT"``: the node's key-value stores of another checkout's code against
this tree's, in turn, in one run.

Each round runs, for each code, that checkout's own ``python -m bench.store`` at the sizes given (``--batches``,
``--reads``, ``--big-keys``, ``--blocks``...; the kinds of ``--kinds``) in a process of its own, with the checkout
as working directory and ``PYTHONPATH`` and this tree's virtual environment, its figures written to a temporary
file (never over the recorded ``bench/results/store.json`` of either). The rounds alternate the two codes so that
both see the same machine. From each run it takes, for every kind, what the node asks of its store — durable
batches and single writes per second, point reads per second on the small and the large store, the bulk load, the
open after a writer's ``kill -9``, py-evm's blocks per second over it — and py-evm's blocks per second in memory
in the same run (no store's code in it: what the machine and py-evm alone moved), prints their medians side by
side with the ratio this/baseline, and writes them with every round to ``bench/results/store_baseline.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import Figures, compare_checkouts, figures_at

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "store_baseline.json"
#: (figure, the path of keys to it in a kind's ``results``).
PER_KIND: Figures = (
    ("batches_per_s", ("batches", "batches_per_s")),
    ("single_writes_per_s", ("batches", "single_writes_per_s")),
    ("reads_per_s", ("batches", "reads_per_s")),
    ("big_reads_per_s", ("big", "reads_per_s")),
    ("load_keys_per_s", ("big", "load_keys_per_s")),
    ("open_after_kill_ms", ("big", "open_after_kill_ms")),
    ("chain_blocks_per_s", ("chain", "blocks_per_s")),
)
#: py-evm's blocks per second on the in-memory ``AtomicDB`` in the same run: what no store's code moves.
IN_MEMORY: Figures = (("memory_chain_blocks_per_s", ("chain_in_memory_baseline", "blocks_per_s")),)
#: The sizes a comparison passes on to both checkouts' ``bench.store``, by option.
SIZES = ("kinds", "batches", "batch_keys", "reads", "big_keys", "blocks", "txs")


def figures(kinds: Sequence[str]) -> Figures:
    """:data:`PER_KIND` for each of ``kinds``, named ``KIND_FIGURE``, then :data:`IN_MEMORY`: paths in the file
    a run writes."""
    per_kind = tuple((f"{kind}_{name}", ("results", kind, *path)) for kind in kinds for name, path in PER_KIND)
    return per_kind + tuple(IN_MEMORY)


def figures_of(written: Mapping[str, Any], kinds: Sequence[str]) -> dict[str, float]:
    """The :func:`figures` of ``kinds`` in the file one run wrote."""
    return figures_at(written, figures(kinds))


def size_options(args: argparse.Namespace) -> list[str]:
    """The command-line options of ``bench.store`` that :data:`SIZES` of ``args`` spell."""
    options: list[str] = []
    for name in SIZES:
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        options += [flag, *value] if isinstance(value, list) else [flag, str(value)]
    return options


def compare(args: argparse.Namespace, out: Path = RESULTS) -> dict[str, Any]:
    """Run the comparison ``args`` asks for (``baseline``, ``rounds`` and the sizes) and write its figures to
    ``out``."""
    first = args.kinds[0]
    return compare_checkouts(
        args,
        "store",
        figures(args.kinds),
        lambda row: (
            f"{first}: {row[f'{first}_batches_per_s']:,.0f} batches/s, {row[f'{first}_reads_per_s']:,.0f} reads/s, "
            f"{row[f'{first}_chain_blocks_per_s']} py-evm blocks/s"
        ),
        out,
        size=size_options(args),
        section=None,
    )
