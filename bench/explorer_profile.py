"""``bench.explorer --profile DIR``: py-spy on the explorer, notary and chain node processes during a phase.

``py-spy record --format raw`` (collapsed stacks, the threads' CPU time: idle threads are left out) of each
process while the phase runs, written to ``DIR/<phase>-<process>.txt``; :func:`summarize` turns a file into
the functions with the most samples on the stack (inclusive) and on top of it (self), as shares of the
samples. Sampling pauses the processes now and then, so the figures of a profiled run are not the benchmark's.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """py-spy beside this Python (the venv's) or on the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def available() -> bool:
    return py_spy() is not None


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` → ``module.py:func`` (the path's last two parts)."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    parts = Path(match["file"]).parts
    return f"{'/'.join(parts[-2:])}:{match['func']}"


#: What each process does that matters here: the work below these frames is broken down by callee.
FOCUS = (
    "api/calls.py:call_provenance", "api/calls.py:search_calls", "explorer/exports.py:csv_stream",
    "explorer/exports.py:json_stream", "api/middleware.py:Gatekeeper.__call__",
    "explorer/state.py:ChainState.refresh", "explorer/logfollow.py:LogFollower.sync_once",
    "explorer/chainfollow.py:ChainFollower.sync_once", "gateway/outbox.py:Outbox._run",
    "notary/evidence.py:EvidenceBuilder.build", "notary/evidence.py:anchor_evidence",
    "notary/checkpointer.py:Checkpointer.round", "notary/anchor.py:Anchorer.step",
    "notary/sequencer.py:Sequencer.submit", "rpc/server.py:RpcServer.handle", "node/service.py:SealingLoop._run",
)  # fmt: skip


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    below: dict[str, Counter[str]] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
        for k, name in enumerate(frames):
            if any(name.endswith(focus) for focus in FOCUS):
                callee = frames[k + 1] if k + 1 < len(frames) else "(self)"
                below.setdefault(name, Counter())[callee] += count
                break  # the outermost focus frame of the stack
    if not total:
        return {"samples": 0}

    def shares(counter: Counter[str], n: int) -> list[dict[str, Any]]:
        return [{"function": f, "share": round(c / total, 3)} for f, c in counter.most_common(n)]

    return {
        "samples": total,
        "focus": {
            name: {"share": round(sum(c.values()) / total, 3), "callees": shares(c, 8)}
            for name, c in sorted(below.items(), key=lambda kv: -sum(kv[1].values()))
        },
        "inclusive": shares(inclusive, top),
        "self": shares(own, top),
    }


@contextmanager
def recording(directory: Path | None, phase: str, pids: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Record each of ``pids`` while the block runs (nothing if ``directory`` is None); the summaries land in
    the yielded dict once the block is left."""
    out: dict[str, Any] = {}
    if directory is None:
        yield out
        return
    directory.mkdir(parents=True, exist_ok=True)
    spies = {}
    command = [py_spy() or "py-spy", "record", "--format", "raw", "--rate", "250"]
    for name, pid in pids.items():
        target = directory / f"{phase}-{name}.txt"
        spy = subprocess.Popen(
            [*command, "--pid", str(pid), "--output", str(target)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        spies[name] = (spy, target)
    try:
        yield out
    finally:
        for spy, _ in spies.values():
            spy.send_signal(signal.SIGINT)
        for name, (spy, target) in spies.items():
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
            out[name] = summarize(target) if target.exists() else {"samples": 0, "error": "py-spy wrote nothing"}
