"""The equivocation evidence a node keeps in its store survives ``kill -9`` (``chain.node.equivocations``): a
child process runs a validator's consensus loop on an LMDB store and is fed conflicting PREPAREs; it prints the
number of records after each one is saved; it is killed at a random point; the store, opened again, holds every
record reported and at most the one in flight, each whole and verifiable, and a loop started on it answers them
(one child process, a few seconds)."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chain.node.equivocations import EquivocationLog
from chain.node.store import open_store
from chain.qbft.evidence import EquivocationDetector, verify_equivocation
from tests.unit.chain.test_consensus_evidence import BY_ADDRESS, validator_on

ROOT = Path(__file__).resolve().parents[3]
DEADLINE_S = 60.0

_CHILD = """
import sys
from pathlib import Path
from chain.node.store import open_store
from chain.qbft import messages as m
from tests.unit.chain.test_consensus_evidence import KEYS, ME, deliver, validator_on

store = open_store(Path(sys.argv[1]))
consensus = validator_on(store)
print("start", len(consensus.equivocations.records), flush=True)
for round_ in range(40):
    for key in KEYS:
        if key is not ME:
            deliver(consensus, m.prepare(key, 1, round_, b"\\x01" * 32), m.prepare(key, 1, round_, b"\\x02" * 32))
            print(len(consensus.equivocations.records), flush=True)
"""


def run_until_killed(path: Path, reports: int) -> list[int]:
    """Start the child on the store at ``path``; kill -9 it once it has reported ``reports`` records saved."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + DEADLINE_S
    printed: list[int] = []
    try:
        while not printed or printed[-1] < reports:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the child reported {printed[-1:]} of {reports} records within {DEADLINE_S} s")
            if line is None:
                assert proc.stderr is not None
                pytest.fail(f"the child exited early: {proc.stderr.read()}")
            if not line.startswith("start"):
                printed.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=DEADLINE_S)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL
    return printed


def test_kill_9_leaves_every_record_reported_whole(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    reported = run_until_killed(path, random.Random().randint(1, 30))
    with open_store(path) as store:
        detector = EquivocationDetector()
        EquivocationLog(store).load(detector)
        kept = detector.records
        assert reported[-1] <= len(kept) <= reported[-1] + 1, "a record reported saved is missing"
        assert sum(detector.counts.values()) == len(kept)  # the index and the records of one batch
        assert all(verify_equivocation(r, BY_ADDRESS) == r.validator for r in kept)
        again = validator_on(store)  # the node started again on it answers the same records
        assert again.equivocations.records == kept
