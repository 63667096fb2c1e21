"""Child processes of ``consortium up`` beside the chain node: the witnesses, the notary, the demo services and
the members' gateways, and the :class:`Supervisor` that keeps them running.

Each runs ``python -m cli.main ...`` with its log in the consortium directory, and counts as started once
its health endpoint answers 200; children of one kind (the witnesses, the gateways) start side by side. While
one has not, ``up`` is told every few seconds how long it has waited. The passphrase reaches children in their
environment only. A child that does not start, or stops, is started again
with the same command after a backoff; one that stops :attr:`Supervisor.give_up_after` times in a row is reported
and left stopped while the rest run on. A child being started again is looked at once per round of the
supervisor, so waiting for its health holds up no other child. The children stop in the reverse of their start,
those of one kind side by side (:func:`stop_all`).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chain.tlsclient import tls_client
from network.errors import NetworkError


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
    #: The TLS client context its health is asked with, for a child serving over mutual TLS (the notary of
    #: ``up --notary-tls``); None: plain HTTP, or TLS without a client certificate.
    tls: ssl.SSLContext | None = None

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
#: Told of a child still starting, with the seconds it has waited so far, at the cadence of a :class:`Progress`.
Waiting = Callable[[Child, float], None]
#: Told of a child that did not start (exited, or no answer within its timeout): it is handed to the
#: :class:`Supervisor` stopped, which starts it again as any child that stops.
Failed = Callable[[Child, SupervisorError], None]
#: A child without a health endpoint counts as started once it still runs this many seconds after its start.
SETTLE_S = 0.5


@dataclass
class Progress:
    """When to tell that a child is still starting: ``first`` seconds after ``began``, then every ``every``
    seconds (ticks missed while the caller was busy are skipped, not told in a burst). Pure: the caller gives
    the time."""

    began: float
    first: float = 5.0
    every: float = 5.0
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        if self.first <= 0 or self.every <= 0:
            raise ValueError("Progress needs first > 0 and every > 0")
        self._next = self.began + self.first

    def due(self, now: float) -> float | None:
        """The seconds waited, if a line is due at ``now``; else None."""
        if now < self._next:
            return None
        while self._next <= now:
            self._next += self.every
        return now - self.began


@dataclass(frozen=True, slots=True)
class StartReport:
    """Who is told what while children start: ``announce`` once one is up; ``waiting`` while one is not yet,
    first after ``progress[0]`` seconds, then every ``progress[1]`` seconds; ``failed`` if one does not start (then
    it is returned stopped, for the :class:`Supervisor` to start again; without ``failed``,
    :class:`SupervisorError` is raised)."""

    announce: Announce | None = None
    waiting: Waiting | None = None
    failed: Failed | None = None
    progress: tuple[float, float] = (5.0, 5.0)


def start_child(
    name: str,
    args: Sequence[str],
    log: Path,
    url: str,
    health: str,
    passphrase: bytes,
    timeout: float = 30.0,
    module: str = "cli.main",
    report: StartReport = StartReport(),
    clock: Callable[[], float] = time.monotonic,
    tls: ssl.SSLContext | None = None,
) -> Child:
    """Start ``python -m MODULE ARGS`` (the CLI by default) and wait until ``url + health`` answers 200 (with
    no ``health``, until it has run for :data:`SETTLE_S`; asked over ``tls``, if given), telling ``report`` as it
    goes."""
    child = spawn_child(name, args, log, url, health, passphrase, timeout, module)
    child.tls = tls
    return wait_started(child, report, clock)


def spawn_child(
    name: str,
    args: Sequence[str],
    log: Path,
    url: str,
    health: str,
    passphrase: bytes,
    timeout: float = 30.0,
    module: str = "cli.main",
) -> Child:
    """Start ``python -m MODULE ARGS`` and return at once: :func:`wait_all_started` waits for it, with others."""
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": passphrase.decode(), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", module, *args]
    return Child(name, _spawn(command, env, log), url, log, command, env, health, timeout)


def wait_started(
    child: Child, report: StartReport = StartReport(), clock: Callable[[], float] = time.monotonic
) -> Child:
    """Wait until ``child``, just started, is up (:func:`check_started`), telling ``report`` as it goes."""
    wait_all_started([child], report, clock)
    return child


def wait_all_started(
    children: Sequence[Child], report: StartReport = StartReport(), clock: Callable[[], float] = time.monotonic
) -> None:
    """Wait until each of ``children``, all just started, is up (:func:`check_started`) or has failed, telling
    ``report`` of each as it goes, in the order they come up. They start side by side and share the machine's
    cores, so each may take its timeout times as many children as there are cores (seven witnesses on two cores:
    3.5 times), as long as they would have had one after another. A child that fails goes to ``report.failed``
    (returned stopped, for the :class:`Supervisor`); without one, :class:`SupervisorError` is raised and every
    child of ``children`` is stopped."""
    allowance = max(1.0, len(children) / (os.cpu_count() or 1))
    began = clock()
    ticks = {id(child): Progress(began, *report.progress) for child in children}
    pending = list(children)
    try:
        while pending:
            for child in list(pending):
                try:
                    up = check_started(child, began, clock(), allowance)
                except SupervisorError as exc:
                    pending.remove(child)
                    if report.failed is None:
                        raise
                    report.failed(child, exc)
                    continue
                if up:
                    pending.remove(child)
                    if report.announce is not None:
                        report.announce(child, clock() - began)
                    continue
                seconds = ticks[id(child)].due(clock())
                if report.waiting is not None and seconds is not None:
                    report.waiting(child, seconds)
            if pending:
                time.sleep(0.1)
    except BaseException:  # Ctrl-C, SIGTERM, or a failure nobody takes: they are in no list to be stopped from yet
        stop_all(children)
        raise


def restart(child: Child) -> None:
    """Start ``child``'s command again, in place, without waiting: :func:`check_started` tells when it is up."""
    child.process = _spawn(child.command, child.env, child.log)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)


def check_started(child: Child, began: float, now: float, allowance: float = 1.0) -> bool:
    """One look at a child started at ``began``: True once its health endpoint answers 200 (without one: once it
    still runs :data:`SETTLE_S` after ``began``), False while it may still come up. Raises
    :class:`SupervisorError` if it exited, or if ``now`` is past its timeout times ``allowance`` (then it is
    stopped first). A look waits at most a second for the answer."""
    process, name, log = child.process, child.name, child.log
    if process.poll() is not None:
        raise SupervisorError(f"{name} exited with code {process.returncode}: {_tail(log)}")
    if not child.health:  # nothing to ask: started once it is still running a moment later
        return now - began >= SETTLE_S
    try:
        if _health_client(child.tls).get(child.url + child.health).status_code == 200:
            return True
    except httpx.HTTPError:
        pass
    if now - began > child.timeout * allowance:
        child.stop()
        raise SupervisorError(
            f"{name} did not answer at {child.url}{child.health} within {child.timeout * allowance:.0f} s (log: {log})"
        )
    return False


_health: dict[int, tuple[ssl.SSLContext | None, httpx.Client]] = {}
_health_lock = threading.Lock()


def _health_client(tls: ssl.SSLContext | None = None) -> httpx.Client:
    """One client for every look at a child's health, for the life of the process: a new httpx client loads the
    CA bundle (about 20 ms of CPU), which at ten looks a second at seven children took more than half a core
    from the children starting. Health endpoints are plain HTTP on loopback, so it verifies no certificate;
    except a child's that serves over mutual TLS, asked with its ``tls`` context (one client per context)."""
    with _health_lock:
        key = 0 if tls is None else id(tls)
        if key not in _health:  # the context is kept with its client, so its id is not reused
            _health[key] = (tls, tls_client(False if tls is None else tls, timeout=1.0))
        return _health[key][1]


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class _Watch:
    failures: int = 0  # stops in a row, each without the child staying up ``stable_s``
    restart_at: float | None = None
    starting_since: float | None = None  # started again at this time, not up yet
    started_at: float = 0.0
    stopped_at: float = 0.0  # when its last stop was seen
    given_up: bool = False


class Supervisor:
    """Keeps ``children`` running. A child that stops, or does not start, is started again after
    ``backoff_initial`` seconds, doubling up to ``backoff_max`` while it keeps stopping; its ``give_up_after``-th
    stop in a row, none of them after ``stable_s`` seconds up, gets it reported and left stopped (with the
    default 5: the first start and four more, each a crash). Every event is told through ``say``: a stop with the
    child's exit code and the delay before its restart, a restart with the seconds the child was down (from the
    look that saw it stopped to the one that found it up).

    A child started again is looked at once per :meth:`step` (:func:`check_started`) until it is up, exits or
    passes its timeout, so one slow to answer holds up no other. :meth:`step` looks once; :meth:`run` loops
    until the chain node ends. The clock is injected for the tests.
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
        if give_up_after < 1:
            raise ValueError("give_up_after must be at least 1")
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
            if watch.starting_since is not None:
                try:
                    if not check_started(child, watch.starting_since, now):
                        continue  # still starting: looked at again next round
                except SupervisorError as exc:
                    watch.starting_since = None
                    self.say(f"{child.name} did not start again: {exc}")  # stopped: counted below
                else:
                    watch.starting_since, watch.started_at = None, now
                    self.restarts += 1
                    where = f" at {child.url}" if child.url else ""
                    down = now - watch.stopped_at
                    self.say(f"{child.name} restarted{where}, back {down:.1f} s after its stop was seen")
                    continue
            if child.alive():
                if watch.failures and now - watch.started_at >= self.stable_s:
                    watch.failures = 0
                continue
            if watch.restart_at is None:
                watch.failures += 1
                watch.stopped_at = now
                code = child.process.returncode
                if watch.failures >= self.give_up_after:
                    watch.given_up = True
                    self.say(f"{child.name} stopped {watch.failures} times in a row (exit code {code}); "
                             f"left stopped, the rest run on; see {child.log}")  # fmt: skip
                    continue
                delay = min(self.backoff_initial * 2 ** (watch.failures - 1), self.backoff_max)
                watch.restart_at = now + delay
                self.say(f"{child.name} stopped (exit code {code}); restarting in {delay:g} s; see {child.log}")
            elif now >= watch.restart_at:
                watch.restart_at = None
                restart(child)
                watch.starting_since = now

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
    report: StartReport = StartReport(),
    notary_args: Sequence[str] = (),
    chain_options: Sequence[str] = (),
    notary_tls: tuple[Path, Path, ssl.SSLContext] | None = None,
) -> list[Child]:
    """Start every witness of the consortium (side by side), then the notary pointed at them (with
    ``notary_args`` added to its ``notary serve``, e.g. its storage). On the very first start
    (no ``witnesses/`` directory yet) each witness's state is initialised at size 0; later, a witness whose
    state is gone stays refused until an operator runs ``consortium witness init``. With
    ``authenticate_reads`` the notary serves its log to members and witnesses only (``notary serve
    --authenticate-reads``), and the notary's and the witnesses' figures go to members and the monitor token
    only; the explorer ``up`` starts signs its reads with the operator's gateway key. ``chain_options`` go before
    ``notary serve``: ``consortium``'s ``--chain-cert``, ``--chain-key`` and ``--chain-ca``, for a node serving
    members only. With ``notary_tls`` (its server certificate, its key, and the client context its health is
    asked with) the notary serves HTTPS to members' client certificates only (``--require-client-cert``)."""
    from network.description import ConsortiumDescription
    from network.logsetup import log_origin, witness_orgs, witness_state_path  # imports the notary, and web3
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
            children.append(spawn_child(f"witness {org}", args, log, url, "/healthz", passphrase))
            urls[org] = url
        wait_all_started(children, report)
        args = [*chain_options, "notary", "serve", str(directory), "--port", str(notary_port), "--chain-url", chain_url]
        for org, url in urls.items():
            args += ["--witness", f"{org}={url}"]
        if authenticate_reads:
            args.append("--authenticate-reads")
        args += list(notary_args)
        children.append(start_notary(directory, args, notary_port, passphrase, report, notary_tls))
    except BaseException:
        stop_all(children)
        raise
    return children


def start_notary(
    directory: Path,
    args: Sequence[str],
    port: int,
    passphrase: bytes,
    report: StartReport = StartReport(),
    tls: tuple[Path, Path, ssl.SSLContext] | None = None,
) -> Child:
    """Start the notary (``consortium ARGS``, its ``notary serve`` on ``port``) and wait for its health; with
    ``tls`` (its server certificate, its key, and a member's client context), over HTTPS to members' client
    certificates only (``--tls-cert``, ``--tls-key``, ``--require-client-cert``), its health asked with that
    context."""
    args, scheme, context = list(args), "http", None
    if tls is not None:
        cert, key, context = tls
        args += ["--tls-cert", str(cert), "--tls-key", str(key), "--require-client-cert"]
        scheme = "https"
    url = f"{scheme}://127.0.0.1:{port}"
    log = directory / "notary" / "notary.log"
    return start_child("notary", args, log, url, "/healthz", passphrase, report=report, tls=context)


def start_gateways(
    directory: Path,
    passphrase: bytes,
    chain_urls: Sequence[str],
    notary_url: str,
    upstream_url: str,
    providers: Sequence[str],
    ports: Sequence[int],
    admin_ports: Sequence[int],
    report: StartReport = StartReport(),
    quota_store: str | None = None,
    chain_options: Mapping[str, Sequence[str]] | None = None,
) -> list[Child]:
    """Start one gateway (proxy mode) per providing member, side by side, in front of ``upstream_url``, each reading the
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
            children.append(spawn_child(f"gateway {org}", args, log, admin_url, "/healthz", passphrase))
        wait_all_started(children, report)
    except BaseException:
        stop_all(children)
        raise
    return children


def start_demo_services(directory: Path, port: int, passphrase: bytes, report: StartReport = StartReport()) -> Child:
    """The demo's upstream services: every API of the demo catalogue, fictional and deterministic, and the PSI
    service of the demo's identifier set when the consortium in ``directory`` has one (``demo.privacy``)."""
    args = ["demo", "services", "--port", str(port), "--privacy", str(directory)]
    url, log = f"http://127.0.0.1:{port}", directory / "demo-services.log"
    return start_child("demo services", args, log, url, "/healthz", passphrase, report=report)


def stop_all(children: Sequence[Child], timeout: float = 10.0, *, clock: Callable[[], float] = time.monotonic) -> None:
    """Stop ``children`` in the reverse of their order (what started later may use what started before: the
    gateways the notary, the notary the witnesses), children of one kind in a row side by side, as they started
    (:func:`kind_of`): a SIGTERM to each of them, then a wait for each, killing one still running ``timeout``
    seconds (by ``clock``) after their SIGTERM. Seven witnesses stop in the time of the slowest, not in the sum of
    theirs, and seven that do not stop are killed after ``timeout``, not after seven times it."""
    groups: list[list[Child]] = []
    for child in reversed(children):
        if groups and kind_of(groups[-1][0]) == kind_of(child):
            groups[-1].append(child)
        else:
            groups.append([child])
    for group in groups:
        signalled = [child for child in group if child.alive()]
        for child in signalled:
            child.process.send_signal(signal.SIGTERM)
        deadline = clock() + timeout
        for child in signalled:  # one SIGTERM each: a second may cut a child's own stopping short
            try:
                child.process.wait(max(0.0, deadline - clock()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()


def kind_of(child: Child) -> str:
    """What a child is, apart from whose: ``witness`` of ``witness bjic-cloud``, ``gateway`` of ``gateway
    jinghua-sec``; a child of its own kind (``notary``, ``demo services``, ``explorer``) its whole name."""
    kind, _, org = child.name.partition(" ")
    return kind if kind in SIDE_BY_SIDE and org else child.name


#: The kinds of children ``up`` starts side by side, one per member (:func:`start_log_services`,
#: :func:`start_gateways`), and stops side by side (:func:`stop_all`).
SIDE_BY_SIDE = frozenset({"witness", "gateway"})
