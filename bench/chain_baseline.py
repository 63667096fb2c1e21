"""``make bench-chain ARGS="--baseline CHECKOUT"``: the consortium node (one node sealing alone, JSON-RPC) of
another checkout's code against this tree's, in turn, in one run.

Each round runs, for each code, that checkout's own ``bench.chain.measure`` on its own node backend in a process
of its own (this file run with the checkout as working directory and ``PYTHONPATH``, this tree's virtual
environment): ``--transactions`` contract transactions pipelined through web3.py, ``--sustained`` pre-signed ones
through raw JSON-RPC, ``--serial`` one by one (a block each: a block a second on both, so few), and ``--reads``
``AccessGrants.check`` calls through web3.py and through raw JSON-RPC, with the node process's CPU time per raw
read (from ``/proc``: the machine's other load inflates it less than the rate, where client and node take turns
on two cores). The rounds alternate the two codes so that both see the same machine. The medians are printed
side by side with the ratio this/baseline, and written with every round to ``bench/results/chain_baseline.json``
(the commits, the date, the load average).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "chain_baseline.json"
FIGURES = ("tx_per_s", "raw_jsonrpc_tx_per_s", "reads_per_s", "raw_jsonrpc_reads_per_s", "node_cpu_us_per_raw_read")


def children_cpu_seconds() -> float:
    """The CPU time (user and system) the live children of this process used so far, from ``/proc``: the node
    ``bench.chain`` started."""
    me, tick, total = os.getpid(), os.sysconf("SC_CLK_TCK"), 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
        if int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure_here(transactions: int, reads: int, serial: int, sustained: int) -> dict[str, Any]:
    """The node backend measured by the ``bench.chain`` importable here (the checkout's own)."""
    import bench.chain as chain

    extra: dict[str, Any] = {}
    if "finality_seconds" in inspect.signature(chain.measure).parameters:  # a network's figure, not the node's
        extra["finality_seconds"] = 0.0
    name = next(name for name, factory in chain.BACKENDS.items() if factory is chain.node_factory)
    # the node's CPU time over the raw reads: a figure the machine's other load inflates less than the rate
    raw_reads, spent = chain._raw_reads, []

    def counted(backend: Any, grants: Any, n_reads: int, n_tx: int, now: int) -> float:
        before = children_cpu_seconds()
        rate = raw_reads(backend, grants, n_reads, n_tx, now)
        spent.append(children_cpu_seconds() - before)
        return rate

    chain._raw_reads = counted
    try:
        row: dict[str, Any] = chain.measure(name, chain.node_factory, transactions, reads, serial, sustained, **extra)
    finally:
        chain._raw_reads = raw_reads
    row["node_cpu_us_per_raw_read"] = round(spent[0] * 1e6 / reads, 1)
    return {key: row[key] for key in (*FIGURES, "serial_tx_per_s")}


def run_code(checkout: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One round of ``checkout``'s node, in a process of its own that imports that checkout's code."""
    # -P: this file's directory (which holds a chain.py) is not put first on sys.path, so `chain` is the checkout's
    command = [sys.executable, "-P", str(Path(__file__).resolve()), "--one"]
    command += [str(args.transactions), str(args.reads), str(args.serial), str(args.sustained)]
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the node of {checkout.name} could not be measured:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def compare(args: argparse.Namespace, out: Path = RESULTS) -> dict[str, Any]:
    """Run the comparison ``args`` asks for (``baseline``, ``rounds``, ``transactions``, ``reads``, ``serial``,
    ``sustained``) and write its figures to ``out``."""
    # imported here, not at the top: this file also runs inside the other checkout (--one), whose bench is older
    from bench.common import checkout_commit, in_turn, load_average, medians, write_side_by_side

    baseline = Path(args.baseline).resolve()
    if not (baseline / "bench" / "chain.py").exists():
        raise SystemExit(f"--baseline {args.baseline}: not a checkout of this project (no bench/chain.py)")
    checkouts = {"baseline": baseline, "this": ROOT}
    loads = {"start": load_average()}
    rounds = in_turn(
        checkouts,
        args.rounds,
        lambda _label, checkout, _n: run_code(checkout, args),
        lambda row: (
            f"{row['tx_per_s']:>7.1f} tx/s pipelined, {row['raw_jsonrpc_tx_per_s']:>7.1f} pre-signed; "
            f"{row['reads_per_s']:>7.1f} reads/s (web3.py), {row['raw_jsonrpc_reads_per_s']:>7.1f} (raw JSON-RPC, "
            f"node CPU {row['node_cpu_us_per_raw_read']:.0f} µs a read)"
        ),
    )
    loads["end"] = load_average()
    command = (
        f"make bench-chain ARGS='--baseline CHECKOUT --rounds {args.rounds} --transactions {args.transactions} "
        f"--reads {args.reads} --serial {args.serial} --sustained {args.sustained}'"
    )
    summary = {label: medians(rows, FIGURES) for label, rows in rounds.items()}
    commits = {label: checkout_commit(checkout) for label, checkout in checkouts.items()}
    return write_side_by_side(rounds, summary, commits, command, loads, out)


if __name__ == "__main__" and sys.argv[1:2] == ["--one"]:
    transactions, reads, serial, sustained = (int(word) for word in sys.argv[2:6])
    print(json.dumps(measure_here(transactions, reads, serial, sustained)))
