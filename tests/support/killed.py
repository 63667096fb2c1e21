"""A Python child killed with ``kill -9`` at a moment it chooses by what it prints: the crash tests of the node's
store and of the equivocation evidence kept in it."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """This environment, with the repository first on the child's ``PYTHONPATH``."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def run_until_killed(
    code: str, args: Sequence[str], enough: Callable[[list[str]], bool], what: str, deadline_s: float
) -> list[str]:
    """Run ``python -c code args`` and read the lines it prints until ``enough(lines)``, then ``kill -9`` it;
    every line it printed, those printed between the last read and the kill included. Fails the test if that
    takes more than ``deadline_s`` seconds or the child exits first (with its stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + deadline_s
    printed: list[str] = []
    try:
        while not enough(printed):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"{what} printed {len(printed)} line(s) within {deadline_s} s, not enough")
            if line is None:
                assert proc.stderr is not None
                pytest.fail(f"{what} exited early: {proc.stderr.read()}")
            printed.append(line)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=deadline_s)
    reader.join(timeout=deadline_s)
    while (line := lines.get_nowait()) is not None:  # lines printed between the last read and the kill
        printed.append(line)
    assert proc.returncode == -signal.SIGKILL
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return printed
