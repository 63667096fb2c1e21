"""``make bench-gateway``: calls per second through one gateway process, and the latency it adds, against
calling the upstream service directly, in the same run.

It builds the demo consortium in a temporary directory (``consortium init --demo``), starts it
(``consortium up --traffic 0``: chain node, notary, witnesses, demo services, one gateway per provider), and
measures with ApacheBench (``ab``, keep-alive, mutual TLS with a member's client certificate):

1. the upstream demo service directly (plain HTTP);
2. the same API through the provider's gateway in proxy mode (mutual TLS, grant check, outbox, shipping);
3. the same API through nginx with the gateway in ``auth_request`` mode;

then the added latency, one call at a time (keep-alive, after a warm-up), p50 and p99 of each path; and last,
that every call the gateways answered was recorded: each gateway's outbox holds exactly one event per call and
the notary received them all. Figures go to ``bench/results/gateway.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization

from gateway.headers import PURPOSE_HEADER

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "gateway.json"
PASSPHRASE = "bench-passphrase-not-for-production"
CALLER = "jinghua-sec"
PROVIDER = "bjic-cloud"  # the first provider in order: its gateway listens on PORT + 20
ROUTE = "/v1/market/quotes/level2?symbol=600519.SH"
PURPOSE = "trading"


def free_port_block(size: int) -> int:
    """A base port P with every port in [P, P + size) free on loopback (checked, not reserved)."""
    for base in range(21000, 60000, 97):
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


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
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
            return lines
    raise RuntimeError("consortium up did not start in time:\n" + "".join(lines[-20:]))


def ab(url: str, requests: int, concurrency: int, *, client_pem: Path | None = None) -> dict[str, Any]:
    command = ["ab", "-q", "-k", "-n", str(requests), "-c", str(concurrency), "-H", f"{PURPOSE_HEADER}: {PURPOSE}"]
    if client_pem is not None:
        command += ["-E", str(client_pem)]
    out = subprocess.run([*command, url], capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"ab failed: {out.stderr.strip() or out.stdout[-500:]}")
    text = out.stdout

    def number(pattern: str) -> float:
        match = re.search(pattern, text)
        return float(match.group(1)) if match else float("nan")

    return {
        "requests": requests,
        "concurrency": concurrency,
        "calls_per_s": number(r"Requests per second:\s+([\d.]+)"),
        "failed": int(number(r"Failed requests:\s+(\d+)")),
        "non_2xx": int(number(r"Non-2xx responses:\s+(\d+)")) if "Non-2xx" in text else 0,
        "p50_ms": number(r"\s50%\s+(\d+)"),
        "p99_ms": number(r"\s99%\s+(\d+)"),
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-samples", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary consortium directory.")
    args = parser.parse_args(argv)
    if shutil.which("ab") is None or (shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists()):
        sys.exit("bench-gateway needs ab (apache2-utils) and nginx: `make bench-gateway` installs them")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    port = free_port_block(70)  # `consortium up --port P` serves on P to P + 60
    directory = work / "consortium"
    processes: list[subprocess.Popen[str]] = []
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    try:
        started = time.monotonic()
        init = cli("init", str(directory), "--demo", env=env)
        out, _ = init.communicate(timeout=600)
        if init.returncode != 0:
            raise RuntimeError(f"consortium init failed:\n{out[-2000:]}")
        print(f"demo consortium initialised in {time.monotonic() - started:.1f} s", flush=True)
        up = cli("up", str(directory), "--port", str(port), "--traffic", "0", env=env)
        processes.append(up)
        wait_up(up)
        gateway_url = f"https://localhost:{port + 20}"
        upstream_url = f"http://127.0.0.1:{port + 2}"
        client_dir = directory / "orgs" / CALLER / "users" / f"client@{CALLER}" / "msp"
        cert = (client_dir / "signcerts" / "cert.pem").read_bytes()
        key = serialization.load_pem_private_key(
            (client_dir / "keystore" / "key.pem").read_bytes(), PASSPHRASE.encode()
        )
        client_pem = work / "client.pem"
        client_pem.write_bytes(
            cert
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        client_pem.chmod(0o600)

        # nginx in front of the upstream, with a second gateway of the provider in auth_request mode
        from gateway.nginx import NginxSite, render
        from gateway.service import tls_paths

        auth_port, nginx_port = port + 50, port + 51
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
            str(port + 52),
            "--notary-url",
            f"http://127.0.0.1:{port + 1}",
            "--chain-url",
            f"http://127.0.0.1:{port}",
            env=env,
        )
        processes.append(auth)
        runtime = work / "nginx"
        runtime.mkdir()
        password = work / "nginx.pass"
        password.write_text(PASSPHRASE + "\n")
        password.chmod(0o600)
        server_cert, server_key = tls_paths(directory, PROVIDER)
        site = NginxSite(nginx_port, auth_port, f"127.0.0.1:{port + 2}", server_cert, server_key, password, runtime)
        (runtime / "nginx.conf").write_text(render(site))
        wait_http(f"http://127.0.0.1:{port + 52}/healthz")
        ngx = subprocess.Popen([nginx, "-c", str(runtime / "nginx.conf"), "-p", str(runtime)], text=True)
        processes.append(ngx)
        wait_tcp(nginx_port)
        nginx_url = f"https://localhost:{nginx_port}"

        n, c = args.requests, args.concurrency
        for name, url, pem in (
            ("upstream_direct", upstream_url + ROUTE, None),
            ("gateway_proxy", gateway_url + ROUTE, client_pem),
            ("nginx_auth_request", nginx_url + ROUTE, client_pem),
        ):
            ab(url, min(n, 2000), c, client_pem=pem)  # warm-up: connections, caches
            results[name] = ab(url, n, c, client_pem=pem)
            print(
                f"{name:<20} {results[name]['calls_per_s']:>9,.0f} calls/s  (p50 {results[name]['p50_ms']:.0f} ms, "
                f"p99 {results[name]['p99_ms']:.0f} ms, failed {results[name]['failed']}, "
                f"non-2xx {results[name]['non_2xx']})",
                flush=True,
            )

        context = ssl.create_default_context(cafile=str(directory / "ca-bundle.pem"))
        context.load_cert_chain(str(client_pem))
        with httpx.Client(verify=context) as tls, httpx.Client() as plain:
            direct = latencies(plain, upstream_url + ROUTE, args.latency_samples)
            proxied = latencies(tls, gateway_url + ROUTE, args.latency_samples)
            via_nginx = latencies(tls, nginx_url + ROUTE, args.latency_samples)
        results["latency"] = {
            "upstream_direct": direct,
            "gateway_proxy": proxied,
            "nginx_auth_request": via_nginx,
            "added_by_gateway_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 3),
            "added_by_gateway_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 3),
            "added_by_nginx_auth_p50_ms": round(via_nginx["p50_ms"] - direct["p50_ms"], 3),
        }
        print(
            f"latency, one call at a time: direct p50 {direct['p50_ms']} ms; gateway p50 {proxied['p50_ms']} ms "
            f"(adds {results['latency']['added_by_gateway_p50_ms']} ms, p99 adds "
            f"{results['latency']['added_by_gateway_p99_ms']} ms); nginx+auth p50 {via_nginx['p50_ms']} ms",
            flush=True,
        )

        per_gateway = min(n, 2000) + n + 200 + args.latency_samples  # warm-up, run, latency warm-up, samples
        recorded = {}
        for name, admin in (("gateway", port + 40), ("nginx-auth", port + 52)):
            health = httpx.get(f"http://127.0.0.1:{admin}/healthz", timeout=10).json()
            recorded[name] = health["outbox"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            shipped = [
                httpx.get(f"http://127.0.0.1:{a}/healthz", timeout=10).json()["outbox"] for a in (port + 40, port + 52)
            ]
            if all(s["pending"] == 0 for s in shipped):
                break
            time.sleep(1)
        results["recorded"] = {
            "calls_made_per_gateway": per_gateway,
            "proxy_events_in_outbox": recorded["gateway"]["last_seq"],
            "auth_events_in_outbox": recorded["nginx-auth"]["last_seq"],
            "all_shipped_to_notary": all(s["pending"] == 0 for s in shipped),
            "notary_size": httpx.get(
                f"http://127.0.0.1:{port + 1}/healthz", headers=_monitor(directory), timeout=10
            ).json()["size"],
        }
        print("recorded: " + json.dumps(results["recorded"]), flush=True)
        results["targets"] = {
            "proxy_calls_per_s>=2000": results["gateway_proxy"]["calls_per_s"] >= 2000,
            "auth_request_calls_per_s>=3000": results["nginx_auth_request"]["calls_per_s"] >= 3000,
            "added_p50_ms<2": results["latency"]["added_by_gateway_p50_ms"] < 2,
        }
        print("targets: " + json.dumps(results["targets"]), flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {RESULTS.relative_to(ROOT)}")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def _monitor(directory: Path) -> dict[str, str]:
    """The monitor token `up` wrote: the notary shows its figures to it (``notary.readauth``)."""
    return {"Authorization": "Bearer " + (directory / "notary" / "monitor.token").read_text().strip()}


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
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
