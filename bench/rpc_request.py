"""``python -m bench.rpc_request``: the CPU a node spends answering one ``eth_blockNumber`` on a kept connection.

An in-process node (one validator, empty chain) serves its JSON-RPC on 127.0.0.1; a client in another process
keeps one standard-library connection and polls ``eth_blockNumber`` on it, as a gateway's chain watcher and the
trust views do: ``idle`` waits ``--interval`` seconds (0.1) between polls, ``tight`` none. For each pattern and
each of ``--rounds`` rounds, the server process's CPU time (``time.process_time``; the client is elsewhere) over
``--requests`` polls, divided by them; and the CPU of each of the server's threads (``/proc/self/task``), by
name. Best (lowest) round. Figures go to ``bench/results/rpc_request.json`` with the load average and the command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth_account import Account

from bench.common import print_table, write_results
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer

RESULTS = Path(__file__).resolve().parent / "results" / "rpc_request.json"

#: The client: polls ``eth_blockNumber`` on one kept connection; prints the wall seconds it took.
CLIENT = """
import http.client, sys, time
port, count, interval = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
body = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
def poll():
    conn.request("POST", "/", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200 and b'"result"' in response.read()
for _ in range(5):
    poll()
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
for _ in range(count):
    poll()
    if interval:
        time.sleep(interval)
conn.close()
"""


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads (``/proc/self/task/TID/schedstat``, nanoseconds), summed by
    name, the pool's workers as one."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    out: dict[str, float] = defaultdict(float)
    for task in Path("/proc/self/task").iterdir():
        try:
            ns = int((task / "schedstat").read_text().split()[0])
        except OSError:
            continue
        name = names.get(int(task.name), "other")
        name = "json-rpc-worker" if name.startswith("json-rpc-") and name[9:].isdigit() else name
        out[name] += ns / 1e9
    return out


def one_round(port: int, count: int, interval: float) -> dict[str, Any]:
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port), str(count), str(interval)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None and client.stdin is not None
    assert client.stdout.readline().strip() == "ready"
    threads_before, cpu_before, wall_before = thread_cpu(), time.process_time(), time.monotonic()
    client.stdin.write("\n")
    client.stdin.flush()
    if client.wait():  # blocking: waiting with a timeout polls
        raise SystemExit("the client failed")
    cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
    threads_after = thread_cpu()
    per_thread = {k: (threads_after[k] - threads_before.get(k, 0.0)) / count * 1e6 for k in threads_after}
    return {
        "us_per_request": cpu / count * 1e6,
        "wall_s": wall,
        "thread_us_per_request": {k: round(v, 1) for k, v in sorted(per_thread.items()) if v > 0},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-requests", type=int, default=300, help="polls a round in the idle pattern")
    parser.add_argument("--tight-requests", type=int, default=5000, help="polls a round in the tight loop")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between polls in the idle pattern")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    key = Account.create()
    node = Node(AtomicDB(), Genesis(1337, (key.address,), key.address, int(time.time()) - 100), bytes(key.key))
    rpc = RpcServer(node, port=0)
    rpc.start()
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.rpc_request " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load_before": os.getloadavg(),
        "patterns": {},
    }
    rows = []
    try:
        for pattern, count, interval in (
            ("idle", args.idle_requests, args.interval),
            ("tight", args.tight_requests, 0.0),
        ):
            rounds = [one_round(rpc.port, count, interval) for _ in range(args.rounds)]
            best = min(rounds, key=lambda r: r["us_per_request"])
            out["patterns"][pattern] = {"requests": count, "interval_s": interval, "best": best, "rounds": rounds}
            threads = ", ".join(f"{k} {v:g}" for k, v in best["thread_us_per_request"].items())
            rows.append(
                [
                    pattern,
                    str(count),
                    f"{best['us_per_request']:.0f}",
                    " / ".join(f"{r['us_per_request']:.0f}" for r in rounds),
                    threads,
                ]
            )
    finally:
        rpc.stop()
    out["load_after"] = os.getloadavg()
    print_table(["pattern", "requests", "best µs/request", "rounds", "by thread (µs/request)"], rows, left=(0, 4))
    print(f"\nload average {out['load_before'][0]:.2f} -> {out['load_after'][0]:.2f}")
    print("written to", write_results(out, args.out))


if __name__ == "__main__":
    main()
