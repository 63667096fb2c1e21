"""The consortium's local chain process, until the embedded node replaces it.

``consortium init`` and ``consortium up`` run anvil (the npm package ``@foundry-rs/anvil``, installed into the
repository by ``make``) on loopback as a free-gas chain (base fee 0) with the consortium's chain id. Its state
is kept in ``DIR/chain/state.json``: loaded at start, written every second and on a clean stop, so a restart
keeps every block older than about a second; a ``kill -9`` may lose the last second.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from chain.backend import RpcBackend
from chain.errors import BackendError

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

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM makes anvil write its state file), then wait for the process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_local_chain(
    chain_id: int, state_file: Path | None, port: int | None = None, timeout: float = 20.0
) -> LocalChain:
    """Start anvil on 127.0.0.1 and wait until it answers ``eth_chainId``."""
    port = port if port is not None else free_port()
    if port_in_use(port):
        raise BackendError(f"port {port} on 127.0.0.1 is already in use: stop what runs there or pass --port")
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
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--state", str(state_file), "--state-interval", "1"]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        backend = _wait_ready(process, url, timeout)
    except BaseException:  # also KeyboardInterrupt (Ctrl-C, SIGTERM): never leave the chain running alone
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    if backend.chain_id != chain_id:
        process.kill()
        process.wait()
        raise BackendError(f"the local chain reports chain id {backend.chain_id}, expected {chain_id}")
    return LocalChain(process, url, backend)


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float) -> RpcBackend:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise BackendError(f"the local chain exited at start (code {process.returncode}): {err[-500:]}")
        try:
            return RpcBackend(url, timeout=5)
        except BackendError:
            if time.monotonic() > deadline:
                raise BackendError(f"the local chain did not answer at {url} within {timeout:.0f} s") from None
            time.sleep(0.05)
