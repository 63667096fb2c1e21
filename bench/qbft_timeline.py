"""Where a block's wall-clock time goes on the network of ``make bench-chain``: one line per height, across the five
processes.

``python -m bench.qbft_timeline`` starts the four validators and the follower of ``bench.chain`` with their
timelines on (``chain.node.trace``), deploys the consortium, then sends pre-signed contract transactions to the
operator's node, either at a steady rate (``--rate``, ``--seconds``: the time to finality's load) or all at once
(``--burst N``: the pre-signed throughput's). It then reads the five nodes' logs and prints, for each height
decided during the load, in seconds from the parent's decision at the proposer (``+0.000``):

- ``start``: the proposer's machine for the height started; ``build``: it began executing the transactions
  (``wait`` before it: the block period), ``tx/pending``: how many it took of how many were pending, and why it
  stopped (``budget``: the build time budget; ``gas``: the block gas limit; ``all``: it took every one);
- ``sent``: its PROPOSAL sent; ``recv``: the last validator's arrival of it; ``valid``: the last validator done
  checking it (execution included); ``decided``: the first and last validator that appended it;
- ``follower``: the follower appended it, and how (``fetch``: asked its peers for it);
- ``next``: the proposer of the next height started it.

With ``--events FILE`` every node's events go to FILE as JSON lines too, with the node's name.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.chain import (
    NETWORK_ORGS,
    RunningNetwork,
    _consortium,
    _mixed_calls,
    _raw_transactions,
    measure_finality,
    network_factory,
)
from chain.backend import RpcBackend
from chain.ids import AssetKind
from chain.node import trace
from chain.tx import fee_fields

DIGEST = b"\x11" * 32
NAMES = (*NETWORK_ORGS, "reg")


def read_events(network: RunningNetwork, since: float) -> list[dict[str, Any]]:
    """Every trace event of the network's nodes at or after ``since``, each with its node's name, by time."""
    events = []
    for name in NAMES:
        path = network.directory / "nodes" / name / "chain" / "node.log"
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"trace"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "trace" and entry.get("t", 0) >= since:
                entry["node"] = name
                events.append(entry)
    events.sort(key=lambda e: e["t"])
    return events


def heights(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per height decided in ``events``: the moments of its life (see the module's docstring)."""
    by_height: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if "height" in e:
            by_height[int(e["height"])].append(e)
    decided_at: dict[int, dict[str, float]] = {}
    for h, evs in by_height.items():
        decided_at[h] = {e["node"]: e["t"] for e in evs if e["event"] in ("decided", "synced")}
    rows = []
    for h in sorted(by_height):
        evs = by_height[h]
        builds = [e for e in evs if e["event"] == "build"]
        decided = {n: t for n, t in decided_at[h].items() if n != "reg"}
        if not builds or not decided:
            continue
        build = builds[-1]
        proposer = build["node"]
        base = decided_at.get(h - 1, {}).get(proposer)
        if base is None:
            continue
        starts = [e["t"] for e in evs if e["event"] == "height" and e["node"] == proposer]
        sent = [e["t"] for e in evs if e["event"] == "send" and e["type"] == "Proposal" and e["node"] == proposer]
        recv = [e["t"] for e in evs if e["event"] == "receive" and e["type"] == "Proposal" and e["node"] != "reg"]
        valid = [e["t"] for e in evs if e["event"] == "validated" and e["node"] not in (proposer, "reg")]
        follower = [e for e in evs if e["node"] == "reg" and e["event"] in ("decided", "synced")]
        nxt = [e["t"] for e in by_height.get(h + 1, []) if e["event"] == "height"]
        stopped = "budget" if build["budget_spent"] else (
            "all" if build["transactions"] >= build["pending"] else "gas")  # fmt: skip
        rounds = {e.get("round") for e in evs if e["event"] == "decided"}
        rows.append({
            "height": h,
            "proposer": proposer,
            "round": max((r for r in rounds if r is not None), default=0),
            "transactions": build["transactions"],
            "pending": build["pending"],
            "stopped": stopped,
            "start": min(starts) - base if starts else None,
            "build": build["t"] - build["execute_s"] - base,
            "execute": build["execute_s"],
            "sent": min(sent) - base if sent else None,
            "received": max(recv) - base if recv else None,
            "valid": max(valid) - base if valid else None,
            "first_decided": min(decided.values()) - base,
            "last_decided": max(decided.values()) - base,
            "follower": follower[0]["t"] - base if follower else None,
            "follower_how": ("fetch" if follower and follower[0]["event"] == "synced" else "commits")
            if follower else None,
            "next": min(nxt) - base if nxt else None,
        })  # fmt: skip
    return rows


def _f(value: float | None) -> str:
    return "     -" if value is None else f"{value:+6.3f}"


def print_rows(rows: list[dict[str, Any]]) -> None:
    print("height proposer rnd  tx/pending why     start  build   exec   sent   recv  valid  dec1st dec-last "
          "follower  next")  # fmt: skip
    for r in rows:
        print(
            f"{r['height']:>6} {r['proposer']:<8} {r['round']:>3} {r['transactions']:>4}/{r['pending']:<6}"
            f"{r['stopped']:<6} {_f(r['start'])} {_f(r['build'])} {r['execute']:6.3f} {_f(r['sent'])} "
            f"{_f(r['received'])} {_f(r['valid'])} {_f(r['first_decided'])} {_f(r['last_decided'])}  "
            f"{_f(r['follower'])} {r['follower_how'] or '':<7} {_f(r['next'])}"
        )
    if not rows:
        return
    print("medians (s from the parent's decision at the proposer):")
    for key in ("start", "build", "execute", "sent", "received", "valid", "first_decided", "last_decided",
                "follower", "next"):  # fmt: skip
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            print(f"  {key:<14} {statistics.median(values):7.3f}  (max {max(values):.3f})")
    sizes = [r["transactions"] for r in rows]
    why: dict[str, int] = defaultdict(int)
    for r in rows:
        why[r["stopped"]] += 1
    print(f"  blocks {len(rows)}, transactions per block median {statistics.median(sizes):.0f}, max {max(sizes)}; "
          f"build stopped by: {dict(why)}; follower by: "
          f"{dict((h, sum(r['follower_how'] == h for r in rows)) for h in ('commits', 'fetch'))}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-height timeline of the QBFT network under load")
    parser.add_argument("--rate", type=float, default=50.0, help="transactions per second sent (steady load)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the steady load lasts")
    parser.add_argument("--burst", type=int, default=0, help="send this many pre-signed transactions at once instead")
    parser.add_argument("--events", type=Path, help="write every node's trace events to this file (JSON lines)")
    args = parser.parse_args(argv)
    os.environ[trace.ENV] = "1"  # the node processes inherit it
    backend, stop, deployment, signers = _consortium(network_factory)
    assert isinstance(stop, RunningNetwork) and isinstance(backend, RpcBackend)
    try:
        assets = deployment.assets(backend)
        for owner in ("alpha", "beta", "gamma"):
            assets.register_asset(signers[owner], f"b-base-{owner}", AssetKind.FEED, DIGEST, DIGEST, 2)
        now = int(backend.web3.eth.get_block("latest")["timestamp"])
        count = args.burst or int(args.rate * args.seconds)
        calls = _mixed_calls(deployment, backend, signers, count, now, "t")
        gas = {}
        for signer, to, data, kind in calls[:3]:
            estimate = backend.web3.eth.estimate_gas({"from": signer.address, "to": to, "data": data})  # type: ignore[typeddict-item]
            gas[kind] = int(estimate) * 2
        fees = fee_fields(backend)
        since = time.time()
        if args.burst:
            print(f"{args.burst} pre-signed transactions at once: {_raw_transactions(backend, calls, gas, fees)} tx/s")
        else:
            finality = measure_finality(stop, backend, calls, gas, fees, args.rate)
            print(f"{args.rate:.0f} tx/s for {args.seconds:.0f} s: {json.dumps(finality)}")
        time.sleep(1.0)  # the follower's last block
        events = read_events(stop, since)
    finally:
        stop()
    if args.events is not None:
        args.events.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    print_rows(heights(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
