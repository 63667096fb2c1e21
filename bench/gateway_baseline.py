"""``make bench-gateway ARGS="--baseline CHECKOUT"``: the gateway's proxy path of this tree's code against another
checkout's, both consortia running at once, measured in turn, so that both see the same machine and the same load.

Each code initialises its own demo consortium (``consortium init --demo``, run from that checkout, whose format
it reads) and starts it (``consortium up --traffic 0``; plain HTTP on loopback for the chain and the notary where
its ``up`` has ``--rpc-plain``, as the figures before ``up`` served them over TLS by default). Both stay up for
the whole run, so whatever one consortium does in the background (its chain nodes sealing blocks, its witnesses,
its explorer) weighs on the other's figures as on its own. Then, ``--rounds`` times, each code in turn:

1. ``--requests`` calls through the provider's gateway in proxy mode (ApacheBench, keep-alive, ``--concurrency``
   connections, mutual TLS with a member's client certificate): calls/s, and the CPU time each process of its
   consortium used during those calls, by kind (``node``, ``gateway``, ``notary``, ``witness``, ``explorer``,
   ``demo services``, ``up``; ``/proc/PID/stat``, every thread), per call — the CPU the calls themselves cost
   (the gateway, the demo service, ApacheBench) and the CPU the rest of the consortium spent meanwhile;
2. ``--latency-samples`` calls one at a time (keep-alive, after 200 to warm up), through the gateway and to the
   upstream directly: the latency the gateway adds, p50.

Every call must be answered 200; a failed or non-2xx call stops the run. The medians of the rounds are printed
side by side with the ratio this/baseline, and written with every round to ``bench/results/gateway_baseline.json``
(the commits, the date, the load average). nginx's ``auth_request`` path is not measured here (``make
bench-gateway`` measures it).

A checkout whose command line is ``cli.main`` runs it; an older one (before the ``cli`` package) runs
``network.cli``. Each runs with its own directory as working directory and ``PYTHONPATH``, and this tree's
virtual environment.
"""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import checkout_commit, in_turn, load_average, medians, write_client_pem, write_side_by_side
from bench.gateway import CALLER, PASSPHRASE, ROOT, ROUTE, ab, free_port_block, latencies, wait_up
from bench.idle import cpu_seconds, descendants, kind

RESULTS = ROOT / "bench" / "results" / "gateway_baseline.json"
#: The kinds whose CPU a proxied call itself costs; the others run beside the calls.
ON_THE_PATH = ("gateway", "demo services", "ab")


@dataclass
class Code:
    """One checkout's consortium, started."""

    label: str
    checkout: Path
    up: subprocess.Popen[str]
    port: int
    client_pem: Path
    ca_bundle: Path

    @property
    def proxy_url(self) -> str:
        return f"https://localhost:{self.port + 20}{ROUTE}"

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 2}{ROUTE}"


def entry_module(checkout: Path) -> str:
    """The module that is the ``consortium`` command in ``checkout``."""
    return "cli.main" if (checkout / "cli" / "main.py").exists() else "network.cli"


def start(label: str, checkout: Path, work: Path, port: int) -> Code:
    """Initialise ``checkout``'s demo consortium with its own code and start it on ports [port, port + 60]."""
    module = entry_module(checkout)
    env = {**os.environ, "PYTHONPATH": str(checkout), "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    directory = work / label / "consortium"
    directory.parent.mkdir(parents=True)
    began = time.monotonic()
    init = subprocess.run(
        [sys.executable, "-m", module, "init", str(directory), "--demo"],
        cwd=checkout, env=env, capture_output=True, text=True, check=False, timeout=1200,
    )  # fmt: skip
    if init.returncode != 0:
        raise RuntimeError(f"{label}: consortium init --demo failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
    options = subprocess.run(
        [sys.executable, "-m", module, "up", "--help"], cwd=checkout, env=env, capture_output=True, text=True
    ).stdout
    plain = ["--rpc-plain", "--notary-plain"] if "--rpc-plain" in options else []
    up = subprocess.Popen(
        [sys.executable, "-m", module, "up", str(directory), "--port", str(port), "--traffic", "0", *plain],
        cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_up(up, timeout=600)
    except BaseException:
        stop(up)
        raise
    msp = directory / "orgs" / CALLER / "users" / f"client@{CALLER}" / "msp"
    pem = write_client_pem(
        msp / "signcerts" / "cert.pem", msp / "keystore" / "key.pem", PASSPHRASE.encode(), work / label / "client.pem"
    )
    print(f"{label}: initialised and up in {time.monotonic() - began:.1f} s ({module}, ports {port}..)", flush=True)
    return Code(label, checkout, up, port, pem, directory / "ca-bundle.pem")


def stop(up: subprocess.Popen[str]) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()


def ab_cpu_seconds() -> float:
    """CPU time of this process's finished children so far (ApacheBench, once it has exited)."""
    usage = os.times()
    return usage.children_user + usage.children_system


def round_of(code: Code, requests: int, concurrency: int, samples: int) -> dict[str, Any]:
    """One round of ``code``: its calls/s under load with the CPU per call by kind, then its latencies."""
    pids = descendants(code.up.pid)
    kinds = {pid: kind(pid, code.up.pid) for pid in pids}
    before = {pid: cpu_seconds(pid) for pid in pids}
    ab_before = ab_cpu_seconds()
    load = ab(code.proxy_url, requests, concurrency, client_pem=code.client_pem)
    ab_after = ab_cpu_seconds()
    after = {pid: cpu_seconds(pid) for pid in descendants(code.up.pid)}
    if load["failed"] or load["non_2xx"]:
        raise RuntimeError(f"{code.label}: {load['failed']} failed and {load['non_2xx']} non-2xx calls of {requests}")
    used: dict[str, float] = {}
    for pid, end in after.items():
        if end is not None:
            name = kinds.get(pid) or kind(pid, code.up.pid)  # one started during the calls counts from zero
            used[name] = used.get(name, 0.0) + end - (before.get(pid) or 0.0)
    used["ab"] = ab_after - ab_before
    per_call = {name: round(seconds * 1e6 / requests, 1) for name, seconds in sorted(used.items())}
    context = ssl.create_default_context(cafile=str(code.ca_bundle))
    context.load_cert_chain(str(code.client_pem))
    with httpx.Client(verify=context) as tls, httpx.Client() as plain:
        proxied = latencies(tls, code.proxy_url, samples)
        direct = latencies(plain, code.direct_url, samples)
    return {
        "calls_per_s": load["calls_per_s"],
        "cpu_us_per_call": per_call,
        "cpu_us_per_call_on_the_path": round(sum(v for k, v in per_call.items() if k in ON_THE_PATH), 1),
        "cpu_us_per_call_beside": round(sum(v for k, v in per_call.items() if k not in ON_THE_PATH), 1),
        "proxied_p50_ms": proxied["p50_ms"],
        "direct_p50_ms": direct["p50_ms"],
        "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 3),
    }


def summarise(rounds: list[dict[str, Any]]) -> dict[str, float]:
    """The medians over ``rounds`` of the figures printed side by side."""
    out = medians(rounds, ("calls_per_s", "cpu_us_per_call_on_the_path", "cpu_us_per_call_beside", "added_p50_ms"))
    out["gateway_cpu_us_per_call"] = round(statistics.median(r["cpu_us_per_call"]["gateway"] for r in rounds), 1)
    return out


def compare(args: argparse.Namespace, out: Path = RESULTS) -> dict[str, Any]:
    """Run the comparison ``args`` asks for (``baseline``, ``rounds``, ``requests``, ``concurrency``,
    ``latency_samples``) and write its figures to ``out``."""
    checkouts = {"baseline": Path(args.baseline).resolve(), "this": ROOT}
    baseline = checkouts["baseline"]
    if not (baseline / entry_module(baseline).replace(".", "/")).with_suffix(".py").exists():
        raise SystemExit(f"--baseline {args.baseline}: not a checkout of this project (no consortium command)")
    loads = {"start": load_average()}
    codes: dict[str, Code] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gateway-baseline-") as tmp:
        try:
            port = 21000
            for label, checkout in checkouts.items():
                port = free_port_block(70, port)
                codes[label] = start(label, checkout, Path(tmp), port)
                port += 97
            for code in codes.values():  # warm-up: connections, caches
                ab(code.proxy_url, min(args.requests, 2000), args.concurrency, client_pem=code.client_pem)
            loads["measuring"] = load_average()
            rounds = in_turn(
                codes,
                args.rounds,
                lambda _label, code, _n: round_of(code, args.requests, args.concurrency, args.latency_samples),
                lambda row: (
                    f"{row['calls_per_s']:>7,.0f} calls/s; CPU per call: gateway "
                    f"{row['cpu_us_per_call'].get('gateway', 0):.0f} µs, on the path "
                    f"{row['cpu_us_per_call_on_the_path']:.0f} µs, beside {row['cpu_us_per_call_beside']:.0f} µs; "
                    f"adds p50 {row['added_p50_ms']:.3f} ms"
                ),
            )
            loads["end"] = load_average()
        finally:
            for code in codes.values():
                stop(code.up)
    command = (
        f"make bench-gateway ARGS='--baseline CHECKOUT --rounds {args.rounds} --requests {args.requests} "
        f"--concurrency {args.concurrency} --latency-samples {args.latency_samples}'"
    )
    summary = {label: summarise(rows) for label, rows in rounds.items()}
    commits = {label: checkout_commit(checkout) for label, checkout in checkouts.items()}
    return write_side_by_side(rounds, summary, commits, command, loads, out)
