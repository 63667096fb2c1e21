"""How long ``consortium`` takes to start: CPU and wall time of ``--help``, ``member list`` and ``grant check``
against a running node, beside ``python -c pass`` in the same run.

A consortium is created in a temporary directory (``consortium init --demo``) and started with
``consortium up --traffic 0`` (its four validators agree by QBFT: no node runs the chain alone); each command
then runs ``--runs`` times and the median is printed and written to ``bench/results/cli.json``. The targets
(issue "Operations"): ``--help`` under 0.5 s of CPU, ``member list`` under 1 s.

    make bench-cli            # or: python -m bench.cli --runs 9
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import HOST, met, print_table, wait_for, write_results
from bench.gateway import free_port_block, wait_up

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cli.json"
PASSPHRASE = "bench-cli-passphrase"
ASSET, GRANTEE = "equity-quotes-l2", "jinghua-sec"  # a demo grant
TARGETS = {"--help": 0.5, "member list": 1.0}


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """CPU seconds (user + system, of the child and its children) and wall seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (the median is reported)")
    args = parser.parse_args()
    consortium = str(Path(sys.executable).parent / "consortium")
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT)}
    node: subprocess.Popen[str] | None = None
    try:
        directory = work / "consortium"
        print(f"creating a demo consortium in {directory} ...", flush=True)
        subprocess.run([consortium, "init", str(directory), "--demo"], env=env, check=True, capture_output=True)
        port = free_port_block(70)  # `consortium up --port P` serves on P to P + 60
        url = f"http://{HOST}:{port}"
        node = subprocess.Popen(
            # plain HTTP on loopback, as the figures before `up` served members only over TLS by default
            [consortium, "up", str(directory), "--port", str(port), "--traffic", "0", "--rpc-plain", "--notary-plain"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        wait_up(node)  # every service started: nothing else is starting while the commands are timed
        wait_for(lambda: httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).is_success,
                 60.0, "the chain")  # fmt: skip
        base = [consortium, "--dir", str(directory), "--chain-url", url]
        commands: list[tuple[str, list[str], tuple[int, ...]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"], (0,)),
            ("--help", [consortium, "--help"], (0,)),
            ("member list", [*base, "member", "list"], (0,)),
            ("grant check", [*base, "grant", "check", ASSET, "--grantee", GRANTEE, "--purpose", "trading"], (0, 3)),
        ]
        rows, out = [], {}
        for name, argv, ok in commands:
            runs = [timed(argv, env, ok) for _ in range(args.runs)]
            cpu = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            target = TARGETS.get(name)
            out[name] = {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "target_cpu_s": target}
            rows.append([name, f"{cpu:.2f}", f"{wall:.2f}", "" if target is None else f"< {target}",
                         "" if target is None else met(cpu < target)])  # fmt: skip
        print_table(["command", "CPU s", "wall s", "target CPU s", "met"], rows)
        written = write_results({"runs": args.runs, "commands": out}, RESULTS)
        print(f"\nmedian of {args.runs} runs each; written to {written}")
    finally:
        if node is not None:
            node.terminate()
            node.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
