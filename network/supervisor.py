"""Child processes of ``consortium up`` beside the chain node: the witnesses, the notary, the demo services and
the members' gateways.

Each runs ``python -m cli.main ...`` with its log in the consortium directory, and counts as started once
its health endpoint answers 200. The passphrase reaches children in their environment only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from network.errors import NetworkError
from network.logsetup import log_origin, witness_orgs, witness_state_path


class SupervisorError(NetworkError):
    """A child process failed to start or stopped unexpectedly."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_child(
    name: str,
    args: Sequence[str],
    log: Path,
    url: str,
    health: str,
    passphrase: bytes,
    timeout: float = 30.0,
    module: str = "cli.main",
) -> Child:
    """Start ``python -m MODULE ARGS`` (the CLI by default) and wait until ``url + health`` answers 200 (with
    no ``health``, until it has run for half a second)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - handed to the child for its lifetime
    try:
        env = {**os.environ, "CONSORTIUM_PASSPHRASE": passphrase.decode(), "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", module, *args]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
    finally:
        out.close()
    child = Child(name, process, url, log)
    if not health:  # nothing to ask: started once it is still running a moment later
        time.sleep(0.5)
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise SupervisorError(f"{name} exited with code {process.returncode}: " + " | ".join(tail))
        return child
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise SupervisorError(f"{name} exited with code {process.returncode}: " + " | ".join(tail))
        try:
            if httpx.get(url + health, timeout=1.0).status_code == 200:
                return child
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            child.stop()
            raise SupervisorError(f"{name} did not answer at {url}{health} within {timeout:.0f} s (log: {log})")
        time.sleep(0.1)


def start_log_services(
    directory: Path,
    description: object,
    passphrase: bytes,
    chain_url: str,
    notary_port: int,
    witness_ports: Sequence[int],
    authenticate_reads: bool = False,
) -> list[Child]:
    """Start every witness of the consortium, then the notary pointed at them. On the very first start
    (no ``witnesses/`` directory yet) each witness's state is initialised at size 0; later, a witness whose
    state is gone stays refused until an operator runs ``consortium witness init``. With
    ``authenticate_reads`` the notary serves its log to members and witnesses only (``notary serve
    --authenticate-reads``); the explorer ``up`` starts signs its reads with the operator's gateway key."""
    from network.description import ConsortiumDescription
    from notary.witness.state import init_witness

    assert isinstance(description, ConsortiumDescription)
    orgs = witness_orgs(description)
    if len(witness_ports) < len(orgs):
        raise SupervisorError(f"{len(orgs)} witnesses need {len(orgs)} ports")
    if not (directory / "witnesses").exists():
        for org in orgs:
            init_witness(witness_state_path(directory, org), log_origin(description))
    children: list[Child] = []
    try:
        urls: dict[str, str] = {}
        for org, port in zip(orgs, witness_ports, strict=False):
            url = f"http://127.0.0.1:{port}"
            args = ["witness", "serve", str(directory), "--org", org, "--port", str(port)]
            log = directory / "witnesses" / org / "witness.log"
            children.append(start_child(f"witness {org}", args, log, url, "/healthz", passphrase))
            urls[org] = url
        args = ["notary", "serve", str(directory), "--port", str(notary_port), "--chain-url", chain_url]
        for org, url in urls.items():
            args += ["--witness", f"{org}={url}"]
        if authenticate_reads:
            args.append("--authenticate-reads")
        url = f"http://127.0.0.1:{notary_port}"
        children.append(start_child("notary", args, directory / "notary" / "notary.log", url, "/healthz", passphrase))
    except BaseException:
        stop_all(children)
        raise
    return children


def start_gateways(
    directory: Path,
    passphrase: bytes,
    chain_url: str,
    notary_url: str,
    upstream_url: str,
    providers: Sequence[str],
    ports: Sequence[int],
    admin_ports: Sequence[int],
) -> list[Child]:
    """Start one gateway (proxy mode) per providing member, in front of ``upstream_url``. A child's ``url`` is
    its admin endpoint; :func:`gateway_url` gives the TLS address callers use."""
    children: list[Child] = []
    try:
        for org, port, admin in zip(providers, ports, admin_ports, strict=True):
            args = [
                "gateway",
                "serve",
                str(directory),
                "--org",
                org,
                "--port",
                str(port),
                "--admin-port",
                str(admin),
                "--upstream",
                upstream_url,
                "--notary-url",
                notary_url,
                "--chain-url",
                chain_url,
            ]
            log = directory / "gateways" / org / "gateway.log"
            children.append(
                start_child(f"gateway {org}", args, log, f"http://127.0.0.1:{admin}", "/healthz", passphrase)
            )
    except BaseException:
        stop_all(children)
        raise
    return children


def start_demo_services(directory: Path, port: int, passphrase: bytes) -> Child:
    """The demo's upstream services: every API of the demo catalogue, fictional and deterministic."""
    args = ["demo", "services", "--port", str(port)]
    return start_child(
        "demo services", args, directory / "demo-services.log", f"http://127.0.0.1:{port}", "/healthz", passphrase
    )


def stop_all(children: Sequence[Child]) -> None:
    for child in reversed(children):
        child.stop()
