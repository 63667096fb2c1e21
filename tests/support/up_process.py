"""Child processes of the tests: ``consortium up`` (:class:`UpProcess`, shared by the CLI and the end-to-end
tests) and any one service whose output lines a test reads live (:class:`LineProcess`: the chain node, a
witness, the gateway tests' notary), with the ports they serve on.

Each process runs in its own session, so that a failed test can end it and whatever it started together; its
output is collected line by line, and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

CHAIN_ID = 20261
START_TIMEOUT = 300.0  # `up` starts about twenty processes (30 to 60 s with two test workers on two cores; 120 s and
# more on a machine loaded several times over): a deadline for the failure case only, never waited out otherwise
STOP_TIMEOUT = 30.0
#: ``up``'s options for a consortium whose chain and notary serve plain HTTP on loopback, as before its default was
#: members only over mutual TLS: for the tests of what does not depend on the transport, whose helpers read the chain
#: and the notary as any process of the machine may then. ``up``'s default runs in tests/e2e/test_make_run.py and
#: tests/integration/cli/test_up_rpc_tls.py
PLAIN = ("--rpc-plain", "--notary-plain")


UP_PORT_SPAN = 70  # `consortium up --port P` serves on P to P + 60 (chain, notary, witnesses, gateways, explorer...)
_BLOCKS_FROM = 10_000  # below the kernel's ephemeral ports (32768 and up), which clients and bind(0) draw from
_WORKER_RANGE = 11_000  # ports per pytest-xdist worker: [10000, 21000) for gw0, [21000, 32000) for gw1
_BLOCKS_SPAN = 8_000  # of a worker's range, blocks for `up`; the last 3,000 ports are handed out one by one
_next_block = [0]
_next_single = [0]


def _worker_low() -> int:
    """The first port of this pytest-xdist worker's range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) % 2 if worker[2:].isdigit() else 0
    return _BLOCKS_FROM + index * _WORKER_RANGE


def free_port() -> int:
    """A free port for a server a test starts, from this worker's own range outside the ephemeral ports.

    A port found with ``bind(0)`` is one of the ephemeral ports, which every client connection draws from too: in
    the seconds before the test's server binds it, another connection (of this worker or of the other) may take
    it, and the server dies with ``Address already in use``. Ports here are handed out in turn, each checked by
    binding it, and never to the other worker."""
    low = _worker_low() + _BLOCKS_SPAN
    count = _WORKER_RANGE - _BLOCKS_SPAN
    for _ in range(count):
        port = low + _next_single[0] % count
        _next_single[0] += 1
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in [{low}, {low + count})")


def free_port_block(span: int = UP_PORT_SPAN) -> int:
    """A base port for ``consortium up --port`` whose whole block [base, base + span) is free.

    ``free_port`` gives one free port in the ephemeral range; the twenty-odd ports ``up`` derives from it could be
    taken meanwhile by any client connection or by the other test worker's consortium (``Address already in use``
    in a witness). Blocks here come from a range of their own per xdist worker, outside the ephemeral range, each
    block once per worker process, and every port of a block is checked by binding it."""
    low = _worker_low()
    blocks = _BLOCKS_SPAN // span
    for _ in range(blocks):
        base = low + (_next_block[0] % blocks) * span
        _next_block[0] += 1
        if all(_bindable(port) for port in range(base, base + span)):
            return base
    raise RuntimeError(f"no block of {span} free ports in [{low}, {low + _BLOCKS_SPAN})")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def rpc_chain_id(url: str, context: ssl.SSLContext | None = None) -> int | None:
    """``eth_chainId`` of the node at ``url``, or None if nothing answers there; ``context``: a member's client
    context for an https node serving members only."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return int(json.loads(response.read())["result"], 16)
    except OSError:
        return None


@contextlib.contextmanager
def consortium_process(argv: list[str], passphrase: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``consortium ARGV`` (one service: a witness, a notary...) given ``passphrase`` in the environment, its output
    in ``log``, until the block ends: then SIGTERM, and SIGKILL if it has not stopped within ``STOP_TIMEOUT``."""
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": passphrase, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *argv], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def serves(url: str, child: subprocess.Popen[bytes], log: Path) -> bool:
    """Whether ``child`` answers 200 at ``url``/healthz (a transport error: not yet); if it has exited, the wait
    fails at once with the end of its ``log``."""
    assert child.poll() is None, log.read_text(errors="replace")[-3000:]
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:  # refused, reset, or an HTTP error status
        return False


class UpProcess:
    """``argv`` (a ``consortium up … --port PORT`` command) running, with its output collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, cwd: Path | None = None) -> None:
        self.port = port
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for t in self._pumps:
            t.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _pump(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self) -> str:
        with self._changed:
            return "--- stdout\n" + "\n".join(self.stdout) + "\n--- stderr\n" + "\n".join(self.stderr)

    def wait_for_summary(self, timeout: float = START_TIMEOUT, plain_rpc: bool = True) -> list[str]:
        """Poll until ``up`` has printed its whole summary (the ``stop`` hint is its last line) and its
        JSON-RPC port answers plain HTTP (unless not ``plain_rpc``: ``up --rpc-tls``); returns the summary."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(line.lstrip().startswith("stop ") for line in self.stdout):
                if self.process.poll() is not None:
                    raise AssertionError(f"`consortium up` exited with {self.process.returncode}:\n{self.output()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"`consortium up` printed no summary within {timeout:.0f} s:\n{self.output()}")
                self._changed.wait(min(remaining, 0.1))
            start = next((i for i, line in enumerate(self.stdout) if line.startswith("Consortium Ledger: ")), 0)
            summary = self.stdout[start:]  # the lines before are the components announced as they came up
        while plain_rpc and rpc_chain_id(self.url) != CHAIN_ID:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing answers eth_chainId {CHAIN_ID} at {self.url}:\n{self.output()}")
            time.sleep(0.05)
        return summary

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns the exit code once its output is all read."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            stacks = _py_stacks(self.process.pid)
            self.kill()
            raise AssertionError(
                f"`consortium up` did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM:\n{self.output()}\n{stacks}"
            ) from None
        for t in self._pumps:
            t.join(5)
        return code

    def kill(self) -> None:
        """Last resort after a failure: end `up` and the chain node it started (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class LineProcess:
    """``argv`` running in a session of its own, its stdout and stderr read live as one stream of lines.

    ``name`` ("the node") names it in failures, which show its last output lines. A subclass keeps what it needs
    of each line in :meth:`seen`; a test waits for a condition on what was seen with :meth:`wait_until`.
    ``stop_timeout``: how long it has to exit after SIGTERM or ``kill -9``, and its output to be read."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        cwd: Path | None = None,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.name = name
        self.stop_timeout = stop_timeout
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def seen(self, line: str, entry: dict[str, Any] | None) -> None:
        """One more output line (``entry``: the line as a JSON object, if it is one), with the lock held."""

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            line = text.rstrip("\n")
            entry: Any = None
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
            with self._changed:
                self.lines.append(line)
                self.seen(line, entry if isinstance(entry, dict) else None)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self, last: int = 40) -> str:
        with self._changed:
            return "\n".join(self.lines[-last:])

    def wait_until(self, what: str, condition: Callable[[Self], bool], timeout: float) -> None:
        """Until ``condition(self)`` holds, checked (with the lock held) at each line; fails naming ``what`` if the
        process exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                if self.process.poll() is not None and not self._pump_thread.is_alive():
                    raise AssertionError(
                        f"{self.name} exited ({self.process.returncode}) before {what}:\n{self.output()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {what} within {timeout:.0f} s:\n{self.output()}")
                self._changed.wait(min(remaining, 0.1))

    def terminate(self) -> int:
        """SIGTERM, as a service manager stops it; its exit code once its output is all read."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {self.stop_timeout:.0f} s of SIGTERM") from None
        self._pump_thread.join(self.stop_timeout)
        return code

    def kill(self) -> None:
        """``kill -9`` of its whole process group; returns once it is dead and its output is all read."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(self.stop_timeout)
        self._pump_thread.join(self.stop_timeout)


def _py_stacks(pid: int) -> str:
    """Where a process that will not stop is, for the failure message: its threads' Python stacks (py-spy, if
    installed) and the process tree's commands."""
    lines = []
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is not None:
        done = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30)
        lines.append(done.stdout or done.stderr)
    tree = subprocess.run(
        ["ps", "--forest", "-o", "pid,stat,etime,args", "-g", str(pid)], capture_output=True, text=True
    )
    lines.append(tree.stdout)
    return "\n".join(lines)
