"""Child processes of ``consortium up`` beside the chain node: the witnesses, the notary, the demo services and
the members' gateways, and the :class:`Supervisor` that keeps them running.

Each runs ``python -m cli.main ...`` with its log in the consortium directory, and counts as started once
its health endpoint answers 200. The passphrase reaches children in their environment only. A child that
stops is started again with the same command after a backoff; one that keeps stopping is reported and left
stopped while the rest run on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    health: str = ""
    timeout: float = 30.0

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


#: Told of each child once it is up, with the seconds its start took (``consortium up`` prints a line).
Announce = Callable[[Child, float], None]


def start_child(
    name: str,
    args: Sequence[str],
    log: Path,
    url: str,
    health: str,
    passphrase: bytes,
    timeout: float = 30.0,
    module: str = "cli.main",
    announce: Announce | None = None,
) -> Child:
    """Start ``python -m MODULE ARGS`` (the CLI by default) and wait until ``url + health`` answers 200 (with
    no ``health``, until it has run for half a second); then ``announce`` it with the seconds that took."""
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": passphrase.decode(), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", module, *args]
    started = time.monotonic()
    child = Child(name, _spawn(command, env, log), url, log, command, env, health, timeout)
    _wait_started(child)
    if announce is not None:
        announce(child, time.monotonic() - started)
    return child


def restart(child: Child) -> None:
    """Start ``child``'s command again, in place, and wait until it is up as :func:`start_child` does."""
    child.process = _spawn(child.command, child.env, child.log)
    _wait_started(child)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)


def _wait_started(child: Child) -> None:
    process, name, log = child.process, child.name, child.log
    if not child.health:  # nothing to ask: started once it is still running a moment later
        time.sleep(0.5)
        if process.poll() is not None:
            raise SupervisorError(f"{name} exited with code {process.returncode}: {_tail(log)}")
        return
    deadline = time.monotonic() + child.timeout
    while True:
        if process.poll() is not None:
            raise SupervisorError(f"{name} exited with code {process.returncode}: {_tail(log)}")
        try:
            if httpx.get(child.url + child.health, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            child.stop()
            raise SupervisorError(
                f"{name} did not answer at {child.url}{child.health} within {child.timeout:.0f} s (log: {log})"
            )
        time.sleep(0.1)


def _tail(log: Path) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])


@dataclass
class _Watch:
    failures: int = 0  # stops in a row, each without the child staying up ``stable_s``
    restart_at: float | None = None
    started_at: float = 0.0
    given_up: bool = False


class Supervisor:
    """Keeps ``children`` running. A child that stops is started again after ``backoff_initial`` seconds,
    doubling up to ``backoff_max`` while it keeps stopping; after ``give_up_after`` stops in a row, none of them
    after ``stable_s`` seconds up, it is reported and left stopped. Every event is told through ``say``.

    :meth:`step` looks once; :meth:`run` loops until the chain node ends. The clock is injected for the tests.
    """

    def __init__(
        self,
        children: Sequence[Child],
        say: Callable[[str], None],
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        give_up_after: int = 5,
        stable_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = list(children)
        self.say = say
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.give_up_after, self.stable_s = give_up_after, stable_s
        self.clock = clock
        now = clock()
        self._watch = {id(c): _Watch(started_at=now) for c in self.children}
        self.restarts = 0

    def given_up(self) -> list[Child]:
        return [c for c in self.children if self._watch[id(c)].given_up]

    def step(self) -> None:
        for child in self.children:
            watch = self._watch[id(child)]
            if watch.given_up:
                continue
            now = self.clock()
            if child.alive():
                if watch.failures and now - watch.started_at >= self.stable_s:
                    watch.failures = 0
                continue
            if watch.restart_at is None:
                watch.failures += 1
                code = child.process.returncode
                if watch.failures > self.give_up_after:
                    watch.given_up = True
                    self.say(f"{child.name} stopped {watch.failures} times in a row (exit code {code}); "
                             f"left stopped, the rest run on; see {child.log}")  # fmt: skip
                    continue
                delay = min(self.backoff_initial * 2 ** (watch.failures - 1), self.backoff_max)
                watch.restart_at = now + delay
                self.say(f"{child.name} stopped (exit code {code}); restarting in {delay:g} s; see {child.log}")
            elif now >= watch.restart_at:
                watch.restart_at = None
                try:
                    restart(child)
                except SupervisorError as exc:
                    self.say(f"{child.name} did not start again: {exc}")
                    continue
                watch.started_at = self.clock()
                self.restarts += 1
                where = f" at {child.url}" if child.url else ""
                self.say(f"{child.name} restarted{where}")

    def run(
        self, chain: subprocess.Popen[bytes] | None, poll: float = 0.5, stop: threading.Event | None = None
    ) -> str | None:
        """Supervise until the chain node's process ends, and return what to report about it; or until ``stop``
        is set, and return None. With no ``chain`` (a network of nodes, each of them a supervised child), only
        ``stop`` ends it."""
        stop = stop or threading.Event()
        while chain is None or chain.poll() is None:
            if stop.is_set():
                return None
            self.step()
            stop.wait(poll)
        return f"the local chain (exit code {chain.returncode})"


def start_log_services(
    directory: Path,
    description: object,
    passphrase: bytes,
    chain_url: str,
    notary_port: int,
    witness_ports: Sequence[int],
    authenticate_reads: bool = False,
    announce: Announce | None = None,
    notary_args: Sequence[str] = (),
    chain_options: Sequence[str] = (),
) -> list[Child]:
    """Start every witness of the consortium, then the notary pointed at them (with ``notary_args`` added to its
    ``notary serve``, e.g. its storage). On the very first start
    (no ``witnesses/`` directory yet) each witness's state is initialised at size 0; later, a witness whose
    state is gone stays refused until an operator runs ``consortium witness init``. With
    ``authenticate_reads`` the notary serves its log to members and witnesses only (``notary serve
    --authenticate-reads``), and the notary's and the witnesses' figures go to members and the monitor token
    only; the explorer ``up`` starts signs its reads with the operator's gateway key. ``chain_options`` go before
    ``notary serve``: ``consortium``'s ``--chain-cert``, ``--chain-key`` and ``--chain-ca``, for a node serving
    members only."""
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
            if authenticate_reads:
                args.append("--authenticate-reads")
            log = directory / "witnesses" / org / "witness.log"
            children.append(start_child(f"witness {org}", args, log, url, "/healthz", passphrase, announce=announce))
            urls[org] = url
        args = [*chain_options, "notary", "serve", str(directory), "--port", str(notary_port), "--chain-url", chain_url]
        for org, url in urls.items():
            args += ["--witness", f"{org}={url}"]
        if authenticate_reads:
            args.append("--authenticate-reads")
        args += list(notary_args)
        url = f"http://127.0.0.1:{notary_port}"
        notary_log = directory / "notary" / "notary.log"
        children.append(start_child("notary", args, notary_log, url, "/healthz", passphrase, announce=announce))
    except BaseException:
        stop_all(children)
        raise
    return children


def start_gateways(
    directory: Path,
    passphrase: bytes,
    chain_urls: Sequence[str],
    notary_url: str,
    upstream_url: str,
    providers: Sequence[str],
    ports: Sequence[int],
    admin_ports: Sequence[int],
    announce: Announce | None = None,
    quota_store: str | None = None,
    chain_options: Mapping[str, Sequence[str]] | None = None,
) -> list[Child]:
    """Start one gateway (proxy mode) per providing member, in front of ``upstream_url``, each reading the
    chain at its entry of ``chain_urls`` (its own firm's node, where it runs one), counting quotas in
    ``quota_store`` (a PostgreSQL URL) if given, and reaching it with its org's entry of ``chain_options``
    (``consortium``'s ``--chain-cert``... for a node serving members only). A child's ``url`` is its
    admin endpoint; :func:`gateway_url` gives the TLS address callers use."""
    children: list[Child] = []
    try:
        for org, port, admin, chain_url in zip(providers, ports, admin_ports, chain_urls, strict=True):
            args = [
                *(chain_options or {}).get(org, ()),
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
            if quota_store is not None:
                args += ["--quota-store", quota_store]
            log = directory / "gateways" / org / "gateway.log"
            admin_url = f"http://127.0.0.1:{admin}"
            children.append(
                start_child(f"gateway {org}", args, log, admin_url, "/healthz", passphrase, announce=announce)
            )
    except BaseException:
        stop_all(children)
        raise
    return children


def start_demo_services(directory: Path, port: int, passphrase: bytes, announce: Announce | None = None) -> Child:
    """The demo's upstream services: every API of the demo catalogue, fictional and deterministic, and the PSI
    service of the demo's identifier set when the consortium in ``directory`` has one (``demo.privacy``)."""
    args = ["demo", "services", "--port", str(port), "--privacy", str(directory)]
    url, log = f"http://127.0.0.1:{port}", directory / "demo-services.log"
    return start_child("demo services", args, log, url, "/healthz", passphrase, announce=announce)


def stop_all(children: Sequence[Child]) -> None:
    for child in reversed(children):
        child.stop()
