"""``make bench-gateway``: calls per second through one gateway process, and the latency it adds, against
calling the upstream service directly, under both log suites (``intl`` and ``sm``) in the same run.

It builds the demo consortium twice in a temporary directory (``consortium init --demo`` and ``consortium init
--demo --crypto sm``), starts both (``consortium up --traffic 0``: chain node, notary, witnesses, demo services,
one gateway per provider), and for each measures with ApacheBench (``ab``, keep-alive, mutual TLS with a member's
client certificate):

1. the upstream demo service directly (plain HTTP);
2. the same API through the provider's gateway in proxy mode (mutual TLS, grant check, outbox, shipping), with
   the gateway process's CPU time per call over the run (``gateway_cpu_us_per_call``: every thread of it, the
   outbox's writer and the shipper too, from ``/proc``; left out where that cannot be read);
3. the same API through nginx with the gateway in ``auth_request`` mode (nginx terminates TLS and passes the
   client's certificate to the gateway in a header, the path an ``sm`` gateway behind a TLCP terminator takes);

each path measured for both suites one after the other (intl, then sm) so that both see the same load; then the
added latency, one call at a time (keep-alive, after a warm-up), p50 and p99 of each path; and last, that every
call the gateways answered was recorded: each gateway's outbox holds exactly one event per call and the notary
received them all. Under ``sm`` the gateways salt and digest events with SM3 (schema version 3) and sign batches
with SM2 for an SM3 notary log. The ratio sm/intl of each path is printed beside the target (80 %).

What is not the ``sm`` production path: the client certificates and the member CAs stay X.509 ECDSA P-256 in an
``sm`` consortium and nginx speaks TLS, not TLCP (``docs/national-suite.md``, "Not built yet"), so both suites
are measured over the same TLS and certificate checks and differ in what the gateway records and signs.

Figures go to ``bench/results/gateway.json``: the ``intl`` figures under the keys they always had, the ``sm``
ones under ``sm``, the ratios under ``sm_vs_intl``, with the date, the load average and the command. With
``--suites intl`` (or ``sm``) one consortium alone is built and measured, its figures written to
``bench/results/gateway_intl.json`` (or ``gateway_sm.json``): the same conditions as a run of the gateway before
the second suite was built, for comparing the two.

With ``--baseline CHECKOUT`` it measures instead the proxy path of another checkout's code against this tree's,
both consortia up at once and measured in turn (``bench/gateway_baseline.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import ab_figures, baseline_options, load_average, write_client_pem
from gateway.headers import PURPOSE_HEADER

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "gateway.json"
PASSPHRASE = "bench-passphrase-not-for-production"
CALLER = "jinghua-sec"
PROVIDER = "bjic-cloud"  # the first provider in order: its gateway listens on PORT + 20
ROUTE = "/v1/market/quotes/level2?symbol=600519.SH"
PURPOSE = "trading"


def free_port_block(size: int, start: int = 21000) -> int:
    """A base port P with every port in [P, P + size) free on loopback (checked, not reserved)."""
    for base in range(start, 60000, 97):
        ok = True
        for p in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports")


def cli(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen[str]:
    """The CLI as a process; its output to ``log`` (a process whose output nobody reads must not write to a pipe:
    once the pipe is full, it stops) or else to a pipe the caller reads."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE if log is None else log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_up(process: subprocess.Popen[str], timeout: float = 240) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("consortium up exited:\n" + "".join(lines[-20:]))
        lines.append(line)
        if line.strip().startswith("stop"):
            # keep reading what `up` writes from now on, or it would stop once the pipe is full
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return lines
    raise RuntimeError("consortium up did not start in time:\n" + "".join(lines[-20:]))


def ab(url: str, requests: int, concurrency: int, *, client_pem: Path | None = None) -> dict[str, Any]:
    command = ["ab", "-q", "-k", "-n", str(requests), "-c", str(concurrency), "-H", f"{PURPOSE_HEADER}: {PURPOSE}"]
    if client_pem is not None:
        command += ["-E", str(client_pem)]
    out = subprocess.run([*command, url], capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"ab failed: {out.stderr.strip() or out.stdout[-500:]}")
    figures = ab_figures(out.stdout)
    if figures["calls_per_s"] is None or figures["failed"] is None:
        raise RuntimeError(f"ab printed no figures: {out.stdout[-500:]}")
    return {
        "requests": requests,
        "concurrency": concurrency,
        "calls_per_s": figures["calls_per_s"],
        "failed": int(figures["failed"]),
        "non_2xx": int(figures["non_2xx"] or 0),
        "p50_ms": math.nan if figures["p50_ms"] is None else figures["p50_ms"],
        "p99_ms": math.nan if figures["p99_ms"] is None else figures["p99_ms"],
    }


def latencies(client: httpx.Client, url: str, n: int) -> dict[str, float]:
    for _ in range(200):
        client.get(url, headers={PURPOSE_HEADER: PURPOSE})
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url, headers={PURPOSE_HEADER: PURPOSE})
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(samples[int(len(samples) * 0.99)], 3)}


SUITES = ("intl", "sm")
PATHS = ("upstream_direct", "gateway_proxy", "nginx_auth_request")
RATIO_TARGET = 0.8  # the sm gateway within 80 % of the intl one's calls/s


@dataclass
class Stack:
    """One demo consortium of one suite, started: its directory, base port and the client's certificate and key."""

    suite: str
    directory: Path
    port: int
    client_pem: Path
    nginx_port: int

    def url(self, path: str) -> str:
        return {
            "upstream_direct": f"http://127.0.0.1:{self.port + 2}",
            "gateway_proxy": f"https://localhost:{self.port + 20}",
            "nginx_auth_request": f"https://localhost:{self.nginx_port}",
        }[path] + ROUTE

    @property
    def admin_ports(self) -> dict[str, int]:
        return {"gateway": self.port + 40, "nginx-auth": self.port + 67}


def init_consortium(suite: str, directory: Path, env: dict[str, str]) -> None:
    started = time.monotonic()
    init = cli("init", str(directory), "--demo", "--crypto", suite, env=env)
    out, _ = init.communicate(timeout=1200)
    if init.returncode != 0:
        raise RuntimeError(f"consortium init --crypto {suite} failed:\n{out[-2000:]}")
    print(f"{suite}: demo consortium initialised in {time.monotonic() - started:.1f} s", flush=True)


def start_stack(
    suite: str, work: Path, port: int, env: dict[str, str], nginx: str, processes: list[subprocess.Popen[str]]
) -> Stack:
    """``consortium up`` of the suite's consortium on ports [port, port + 60] (its nodes' peer servers on port + 50
    and up), a second gateway of the provider in auth mode on port + 66 (admin port + 67) behind nginx on
    port + 68."""
    from gateway.nginx import NginxSite, render
    from gateway.service import tls_paths

    started = time.monotonic()
    directory = work / suite / "consortium"
    # plain HTTP on loopback for the chain and the notary, as the figures before `up` served them over TLS by default
    up = cli("up", str(directory), "--port", str(port), "--traffic", "0", "--rpc-plain", "--notary-plain", env=env)
    processes.append(up)
    wait_up(up, timeout=600)
    msp = directory / "orgs" / CALLER / "users" / f"client@{CALLER}" / "msp"
    pem = write_client_pem(
        msp / "signcerts" / "cert.pem", msp / "keystore" / "key.pem", PASSPHRASE.encode(), work / suite / "client.pem"
    )

    auth_port, nginx_port = port + 66, port + 68
    auth = cli(
        "gateway",
        "serve",
        str(directory),
        "--org",
        PROVIDER,
        "--name",
        "nginx-auth",
        "--mode",
        "auth",
        "--port",
        str(auth_port),
        "--admin-port",
        str(port + 67),
        "--notary-url",
        f"http://127.0.0.1:{port + 1}",
        "--chain-url",
        f"http://127.0.0.1:{port}",
        env=env,
        log=work / suite / "nginx-auth.log",
    )
    processes.append(auth)
    runtime = work / suite / "nginx"
    runtime.mkdir()
    password = work / suite / "nginx.pass"
    password.write_text(PASSPHRASE + "\n")
    password.chmod(0o600)
    server_cert, server_key = tls_paths(directory, PROVIDER)
    site = NginxSite(nginx_port, auth_port, f"127.0.0.1:{port + 2}", server_cert, server_key, password, runtime)
    (runtime / "nginx.conf").write_text(render(site))
    try:
        wait_http(f"http://127.0.0.1:{port + 67}/healthz", timeout=300, process=auth)
    except RuntimeError as error:
        log = (work / suite / "nginx-auth.log").read_text()[-3000:]
        raise RuntimeError(f"{error}; the auth-mode gateway wrote:\n{log}") from error
    ngx = subprocess.Popen([nginx, "-c", str(runtime / "nginx.conf"), "-p", str(runtime)], text=True)
    processes.append(ngx)
    wait_tcp(nginx_port)
    print(f"{suite}: started in {time.monotonic() - started:.1f} s (ports {port}..{port + 68})", flush=True)
    return Stack(suite, directory, port, pem, nginx_port)


def listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` of loopback (Linux: ``/proc/net/tcp`` gives the socket's inode, a
    process's ``fd`` directory the socket), or None when it cannot be told (another system, no permission)."""
    inodes = set()
    try:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                    return int(proc.name)
            except OSError:
                continue
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU time of process ``pid`` so far, every thread of it (``/proc/PID/stat``), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio(sm: float, intl: float) -> float:
    return round(sm / intl, 3) if intl else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-samples", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary consortium directories.")
    parser.add_argument(
        "--suites",
        default=",".join(SUITES),
        help="comma-separated, of intl and sm (both by default; one alone runs one consortium instead of two, and "
        "writes bench/results/gateway_SUITE.json)",
    )
    baseline_options(
        parser, "gateway", "measure its gateway's proxy path against this tree's, both consortia up at once, in turn", 5
    )
    args = parser.parse_args(argv)
    if args.baseline is not None:
        if shutil.which("ab") is None:
            sys.exit("bench-gateway needs ab (apache2-utils): `make bench-gateway` installs it")
        from bench.gateway_baseline import compare

        compare(args)
        return
    asked = set(args.suites.split(","))
    suites = tuple(s for s in SUITES if s in asked)
    if not suites or asked - set(SUITES):
        parser.error(f"--suites {args.suites!r}: one or both of {', '.join(SUITES)}")
    if shutil.which("ab") is None or (shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists()):
        sys.exit("bench-gateway needs ab (apache2-utils) and nginx: `make bench-gateway` installs them")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    command = " ".join(["python -m bench.gateway", *(sys.argv[1:] if argv is None else argv)])
    quick = args.requests < 20_000 or args.latency_samples < 2_000
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    processes: list[subprocess.Popen[str]] = []
    figures: dict[str, dict[str, Any]] = {suite: {} for suite in suites}
    loads = {"start": load_average()}
    try:
        for suite in suites:
            (work / suite).mkdir()
            init_consortium(suite, work / suite / "consortium", env)
        stacks: dict[str, Stack] = {}
        start = 21000
        for suite in suites:
            port = free_port_block(70, start)  # `consortium up --port P` serves on P to P + 60
            stacks[suite] = start_stack(suite, work, port, env, nginx, processes)
            start = port + 97
        loads["measuring"] = load_average()

        n, c = args.requests, args.concurrency
        for path in PATHS:  # both suites one after the other on each path: the same load for both
            for suite in suites:
                stack = stacks[suite]
                pem = None if path == "upstream_direct" else stack.client_pem
                ab(stack.url(path), min(n, 2000), c, client_pem=pem)  # warm-up: connections, caches
                gateway = listening_pid(stack.port + 20) if path == "gateway_proxy" else None
                cpu_before = cpu_seconds(gateway)
                row = figures[suite][path] = ab(stack.url(path), n, c, client_pem=pem)
                cpu_after = cpu_seconds(gateway)
                if cpu_before is not None and cpu_after is not None:  # the gateway process's CPU, all its threads
                    row["gateway_cpu_us_per_call"] = round((cpu_after - cpu_before) * 1e6 / n, 1)
                    print(f"{suite:<4} gateway CPU {row['gateway_cpu_us_per_call']:.0f} µs per call", flush=True)
                print(
                    f"{suite:<4} {path:<20} {row['calls_per_s']:>9,.0f} calls/s  (p50 {row['p50_ms']:.0f} ms, "
                    f"p99 {row['p99_ms']:.0f} ms, failed {row['failed']}, non-2xx {row['non_2xx']})",
                    flush=True,
                )

        for suite in suites:
            stack = stacks[suite]
            context = ssl.create_default_context(cafile=str(stack.directory / "ca-bundle.pem"))
            context.load_cert_chain(str(stack.client_pem))
            with httpx.Client(verify=context) as tls, httpx.Client() as plain:
                direct = latencies(plain, stack.url("upstream_direct"), args.latency_samples)
                proxied = latencies(tls, stack.url("gateway_proxy"), args.latency_samples)
                via_nginx = latencies(tls, stack.url("nginx_auth_request"), args.latency_samples)
            figures[suite]["latency"] = {
                "upstream_direct": direct,
                "gateway_proxy": proxied,
                "nginx_auth_request": via_nginx,
                "added_by_gateway_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 3),
                "added_by_gateway_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 3),
                "added_by_nginx_auth_p50_ms": round(via_nginx["p50_ms"] - direct["p50_ms"], 3),
                "added_by_nginx_auth_p99_ms": round(via_nginx["p99_ms"] - direct["p99_ms"], 3),
            }
            lat = figures[suite]["latency"]
            print(
                f"{suite:<4} latency, one call at a time: direct p50 {direct['p50_ms']} ms; gateway p50 "
                f"{proxied['p50_ms']} ms (adds {lat['added_by_gateway_p50_ms']} ms, p99 adds "
                f"{lat['added_by_gateway_p99_ms']} ms); nginx+auth p50 {via_nginx['p50_ms']} ms (adds "
                f"{lat['added_by_nginx_auth_p50_ms']} ms, p99 adds {lat['added_by_nginx_auth_p99_ms']} ms)",
                flush=True,
            )
        loads["end"] = load_average()

        per_gateway = min(n, 2000) + n + 200 + args.latency_samples  # warm-up, run, latency warm-up, samples
        for suite in suites:
            figures[suite]["recorded"] = recorded(stacks[suite], per_gateway)
            print(f"{suite:<4} recorded: " + json.dumps(figures[suite]["recorded"]), flush=True)
            figures[suite]["targets"] = {
                "proxy_calls_per_s>=2000": figures[suite]["gateway_proxy"]["calls_per_s"] >= 2000,
                "auth_request_calls_per_s>=3000": figures[suite]["nginx_auth_request"]["calls_per_s"] >= 3000,
                "added_p50_ms<2": figures[suite]["latency"]["added_by_gateway_p50_ms"] < 2,
            }
        results: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command,
            "quick": quick,
            "load_average": loads,
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        }
        if len(suites) == 2:
            intl, sm = figures["intl"], figures["sm"]
            proxy_ratio = ratio(sm["gateway_proxy"]["calls_per_s"], intl["gateway_proxy"]["calls_per_s"])
            nginx_ratio = ratio(sm["nginx_auth_request"]["calls_per_s"], intl["nginx_auth_request"]["calls_per_s"])
            comparison = {
                "gateway_proxy_calls_per_s": proxy_ratio,
                "nginx_auth_request_calls_per_s": nginx_ratio,
                "upstream_direct_calls_per_s": ratio(
                    sm["upstream_direct"]["calls_per_s"], intl["upstream_direct"]["calls_per_s"]
                ),
                "target": RATIO_TARGET,
                "path": "both suites over the same paths, in the same run: TLS 1.2/1.3 with X.509 ECDSA P-256 client "
                "certificates (nginx_auth_request: nginx terminates TLS and forwards the certificate in a header); "
                "no TLCP and no SM2 client certificates, which are not built",
            }
            comparison["gateway_proxy_within_target"] = proxy_ratio >= RATIO_TARGET
            comparison["nginx_auth_request_within_target"] = nginx_ratio >= RATIO_TARGET
            print(
                f"sm/intl calls/s: gateway proxy {comparison['gateway_proxy_calls_per_s']:.0%}, nginx + auth_request "
                f"{comparison['nginx_auth_request_calls_per_s']:.0%}, upstream direct "
                f"{comparison['upstream_direct_calls_per_s']:.0%} (target at least {RATIO_TARGET:.0%}; same TLS and "
                "client certificates for both suites: TLCP and SM2 client certificates are not built)",
                flush=True,
            )
            results.update(intl)  # the intl figures under the keys they have always had
            results.update({"sm": sm, "sm_vs_intl": comparison})
        else:
            (suite,) = suites
            results.update({"suite": suite, **figures[suite]})
        print("targets: " + json.dumps({suite: figures[suite]["targets"] for suite in suites}), flush=True)
        print(f"load average (1, 5, 15 min): {json.dumps(loads)}", flush=True)
        written = RESULTS if len(suites) == 2 else RESULTS.with_name(f"gateway_{suites[0]}.json")
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {written.relative_to(ROOT)}")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(120)  # `up` stops its children first: minutes at a heavy load
                except subprocess.TimeoutExpired:
                    process.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def recorded(stack: Stack, per_gateway: int) -> dict[str, Any]:
    """Each gateway's outbox after the calls, once shipped (or after two minutes): one event per call."""
    outbox = {}
    for name, admin in stack.admin_ports.items():
        outbox[name] = httpx.get(f"http://127.0.0.1:{admin}/healthz", timeout=10).json()["outbox"]
    deadline = time.monotonic() + 120
    shipped: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        shipped = [
            httpx.get(f"http://127.0.0.1:{a}/healthz", timeout=10).json()["outbox"] for a in stack.admin_ports.values()
        ]
        if all(s["pending"] == 0 for s in shipped):
            break
        time.sleep(1)
    return {
        "calls_made_per_gateway": per_gateway,
        "proxy_events_in_outbox": outbox["gateway"]["last_seq"],
        "auth_events_in_outbox": outbox["nginx-auth"]["last_seq"],
        "all_shipped_to_notary": all(s["pending"] == 0 for s in shipped),
        "notary_size": httpx.get(
            f"http://127.0.0.1:{stack.port + 1}/healthz", headers=_monitor(stack.directory), timeout=10
        ).json()["size"],
    }


def _monitor(directory: Path) -> dict[str, str]:
    """The monitor token `up` wrote: the notary shows its figures to it (``notary.readauth``)."""
    return {"Authorization": "Bearer " + (directory / "notary" / "monitor.token").read_text().strip()}


def wait_http(url: str, timeout: float = 60, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} did not answer: its process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def wait_tcp(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


if __name__ == "__main__":
    main()
