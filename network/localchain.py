"""Chain processes on loopback: the consortium's own node, and anvil as a third-party peer.

``consortium init`` and ``consortium up`` run the embedded node (``consortium node DIR``) as a child process
and talk to it over JSON-RPC like any other client. anvil (npm ``@foundry-rs/anvil``, installed into the
repository by ``make``) is started the same way by the tests and benchmarks that compare against it.

A consortium of several nodes is started here too (:func:`start_nodes`, :func:`start_every_node`), from the
directory's layout and plan in :mod:`network.nodes`: this module imports that one, never the other way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chain.backend import ClientTls, RpcBackend
from chain.errors import BackendError
from network.nodes import NodeSpec, default_chain_dir, is_network, node_arguments, plan, read_nodes
from network.supervisor import Child, Progress, StartReport

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8545


def anvil_binary() -> Path:
    """The anvil executable: $CONSORTIUM_ANVIL, the repository's node_modules, or PATH.

    The npm package's ``.bin/anvil`` is a Node.js launcher that spawns the native binary; we run the native
    binary itself, so that a kill reaches the chain and not only its launcher.
    """
    native = sorted((REPO_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    candidates = [
        os.environ.get("CONSORTIUM_ANVIL", ""),
        *map(str, native),
        str(REPO_ROOT / "node_modules" / ".bin" / "anvil"),
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise BackendError("anvil not found: run `npm ci` in the repository (`make run` does), or set CONSORTIUM_ANVIL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LocalChain:
    """A running anvil process and a backend connected to it."""

    process: subprocess.Popen[bytes]
    url: str
    backend: RpcBackend
    #: How it was started (for a supervisor to start it again): the command and its environment.
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop cleanly (SIGTERM: the node finishes its block and closes its store), then wait for it."""
        stop_together([self.process], timeout)


def stop_together(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """SIGTERM every node process at once (each finishes its block and closes its store), then wait for each,
    killing one still running after ``timeout``: a network's nodes stop in the time of the slowest, not the sum."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_node(
    directory: Path,
    chain_id: int,
    passphrase: bytes,
    port: int | None = None,
    block_time: float = 1.0,
    timeout: float = 30.0,
    chain_dir: Path | None = None,
    extra: Sequence[str] = (),
    rpc_tls: NodeRpcTls | None = None,
    report: StartReport = StartReport(),
) -> LocalChain:
    """Start ``consortium node DIRECTORY`` on 127.0.0.1 and wait until it answers ``eth_chainId``, telling
    ``report.waiting`` while it does not (as the other children of ``up``).

    ``chain_dir`` (default: ``DIRECTORY/chain``, or the operator's node in a directory of several,
    :func:`network.nodes.default_chain_dir`) holds its genesis, store and ``node.log``; ``extra`` are more options
    (``--org``, ``--peer-port``, ``--peer``...). The passphrase reaches the child in its environment only, which
    only the same user can read."""
    launched = launch_node(directory, passphrase, port, block_time, chain_dir, extra, rpc_tls)
    return launched.wait(chain_id, timeout, "chain node", report)


@dataclass(frozen=True)
class NodeRpcTls:
    """A node's JSON-RPC for members only: its certificate and key (``consortium node --rpc-cert --rpc-key``,
    issued for 127.0.0.1 and localhost) and the member's client certificate this process reaches it with."""

    cert: Path
    key: Path
    client: ClientTls


@dataclass
class Launched:
    """A node process started and not yet known to answer: :meth:`wait` for it."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    command: list[str]
    env: dict[str, str]
    tls: ClientTls | None = None

    def wait(
        self, chain_id: int, timeout: float = 30.0, name: str = "chain node", report: StartReport = StartReport()
    ) -> LocalChain:
        """Wait until it answers with ``chain_id``; while it does not, ``report.waiting`` is told at its cadence,
        as ``name``."""
        waiting = None
        if report.waiting is not None:
            tell, child = report.waiting, Child(name, self.process, self.url, self.log)
            waiting = lambda seconds: tell(child, seconds)  # noqa: E731
        chain = _started(self.process, self.url, chain_id, timeout, self.log, self.tls, waiting, report.progress)
        chain.command, chain.env = self.command, self.env
        return chain


def launch_node(
    directory: Path,
    passphrase: bytes,
    port: int | None = None,
    block_time: float = 1.0,
    chain_dir: Path | None = None,
    extra: Sequence[str] = (),
    rpc_tls: NodeRpcTls | None = None,
) -> Launched:
    """Start ``consortium node DIRECTORY`` as :func:`start_node` does, without waiting: a network's nodes are
    started together, since none of them makes a block before a quorum of the others is there."""
    port = _usable_port(port)
    chain_dir = chain_dir or default_chain_dir(directory)
    args = [
        sys.executable,
        "-m",
        "cli.main",
        "node",
        str(directory),
        "--port",
        str(port),
        "--block-time",
        str(block_time),
        "--chain-dir",
        str(chain_dir),
        *extra,
    ]
    if rpc_tls is not None:
        args += ["--rpc-cert", str(rpc_tls.cert), "--rpc-key", str(rpc_tls.key)]
    scheme = "http" if rpc_tls is None else "https"
    log = open(chain_dir / "node.log", "ab")  # noqa: SIM115 - handed to the child for its lifetime
    try:
        env = {**os.environ, "CONSORTIUM_PASSPHRASE": passphrase.decode()}
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    finally:
        log.close()
    client = None if rpc_tls is None else rpc_tls.client
    return Launched(process, f"{scheme}://127.0.0.1:{port}", chain_dir / "node.log", args, env, client)


def start_anvil(chain_id: int, port: int | None = None, timeout: float = 20.0) -> LocalChain:
    """Start anvil on 127.0.0.1 as a free-gas chain and wait until it answers ``eth_chainId``."""
    port = _usable_port(port)
    args = [
        str(anvil_binary()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--block-base-fee-per-gas",
        "0",
        "--gas-price",
        "0",
        "--silent",
    ]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return _started(process, f"http://127.0.0.1:{port}", chain_id, timeout, None)


def _usable_port(port: int | None) -> int:
    port = port if port is not None else free_port()
    if port_in_use(port):
        raise BackendError(f"port {port} on 127.0.0.1 is already in use: stop what runs there or pass --port")
    return port


def _started(
    process: subprocess.Popen[bytes],
    url: str,
    chain_id: int,
    timeout: float,
    log: Path | None,
    tls: ClientTls | None = None,
    waiting: Callable[[float], None] | None = None,
    cadence: tuple[float, float] = (5.0, 5.0),
) -> LocalChain:
    try:
        backend = _wait_ready(process, url, timeout, log, tls, waiting, cadence)
    except BaseException:  # also KeyboardInterrupt (Ctrl-C, SIGTERM): never leave the chain running alone
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    if backend.chain_id != chain_id:
        process.kill()
        process.wait()
        raise BackendError(f"the chain at {url} reports chain id {backend.chain_id}, expected {chain_id}")
    return LocalChain(process, url, backend)


def _wait_ready(
    process: subprocess.Popen[bytes],
    url: str,
    timeout: float,
    log: Path | None,
    tls: ClientTls | None = None,
    waiting: Callable[[float], None] | None = None,
    cadence: tuple[float, float] = (5.0, 5.0),
) -> RpcBackend:
    import httpx

    began = time.monotonic()
    deadline, ticks = began + timeout, Progress(began, *cadence)
    # Until the node takes connections, one client knocks (a backend per look would load the CA bundle each time,
    # about 20 ms of CPU, twenty times a second); once it answers anything, the backend asks it properly.
    knock = httpx.Client(timeout=5.0, verify=tls.context() if tls is not None else False)
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        while True:
            if process.poll() is not None:
                break
            try:
                knock.post(url, json=payload)
            except httpx.TransportError:
                pass
            else:
                break
            now = time.monotonic()
            if now > deadline:
                raise BackendError(f"the chain did not answer at {url} within {timeout:.0f} s")
            seconds = ticks.due(now)
            if waiting is not None and seconds is not None:
                waiting(seconds)
            time.sleep(0.05)
    finally:
        knock.close()
    while True:
        if process.poll() is not None:
            if log is not None:
                err = log.read_text(errors="replace").strip()
            else:
                err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise BackendError(f"the chain process exited at start (code {process.returncode}): {err[-800:]}")
        try:  # one attempt per look (a backend's own retries would wait seconds after the node is up)
            chain_id = RpcBackend(url, timeout=5, tls=tls, lean=True).chain_id
            return RpcBackend(url, timeout=5, tls=tls, chain_id=chain_id)
        except BackendError:
            now = time.monotonic()
            if now > deadline:
                raise BackendError(f"the chain did not answer at {url} within {timeout:.0f} s") from None
            seconds = ticks.due(now)
            if waiting is not None and seconds is not None:
                waiting(seconds)
            time.sleep(0.05)


def start_nodes(
    directory: Path,
    specs: Sequence[NodeSpec],
    chain_id: int,
    passphrase: bytes,
    block_time: float,
    timeout: float = 60.0,
    rpc_tls: Callable[[NodeSpec], NodeRpcTls] | None = None,
    report: StartReport = StartReport(),
) -> list[LocalChain]:
    """Start every node of ``specs`` at once and wait until each answers JSON-RPC; on any failure, stop them
    all and raise. One spec alone runs sealing by itself, without a peer server. ``rpc_tls``: each node's
    JSON-RPC for members only (its certificate, and the client certificate it is reached with)."""
    launched: list[Launched] = []
    chains: list[LocalChain] = []
    try:
        for spec in specs:
            extra = node_arguments(directory, spec, specs) if len(specs) > 1 else ["--org", spec.org]
            tls = None if rpc_tls is None else rpc_tls(spec)
            launched.append(
                launch_node(directory, passphrase, spec.rpc_port, block_time, spec.chain_dir, extra, rpc_tls=tls)
            )
        for spec, one in zip(specs, launched, strict=True):
            chains.append(one.wait(chain_id, timeout, f"node {spec.org} ({spec.entry.role})", report))
    except BaseException:
        for one in launched:
            if one.process.poll() is None:
                one.process.kill()
                one.process.wait()
        raise
    return chains


def start_every_node(directory: Path, chain_id: int, passphrase: bytes, block_time: float = 1.0) -> list[LocalChain]:
    """Every node of ``directory`` on free ports, the operator's first (or the single node of a consortium of
    one): for tests and benchmarks that run a consortium without ``consortium up``."""
    if not is_network(directory):
        return [start_node(directory, chain_id, passphrase, block_time=block_time)]
    entries = read_nodes(directory)
    specs = plan(directory, entries, [(free_port(), free_port()) for _ in entries])
    return start_nodes(directory, specs, chain_id, passphrase, block_time)
