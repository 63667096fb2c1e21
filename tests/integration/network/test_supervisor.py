"""The supervisor of ``consortium up`` with real child processes: a child that stops is started again with the
same command after a backoff that doubles; one that keeps stopping is reported and left stopped while the others
run on; a child that stays up long enough starts its count again. The clock is injected: no wait depends on how
fast the machine is, only on the processes having exited (waited for with a deadline)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from network.supervisor import Child, Supervisor, stop_all
from tests.support.wait import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def child(tmp_path: Path, name: str, code: str) -> Child:
    """A child running ``python -c CODE`` (no health endpoint: up once it runs half a second)."""
    command = [sys.executable, "-c", code]
    return Child(name, subprocess.Popen(command), "", tmp_path / f"{name}.log", command, dict(os.environ))


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    stop_all(made)


def test_a_stopped_child_is_restarted_after_a_doubling_backoff_and_a_crash_loop_is_given_up(
    tmp_path: Path, children: list[Child]
) -> None:
    steady = child(tmp_path, "steady", "import time; time.sleep(600)")
    flaky = child(tmp_path, "flaky", "import time; time.sleep(1.5); raise SystemExit(3)")
    children += [steady, flaky]
    clock, said = Clock(), list[str]()
    sup = Supervisor(children, said.append, backoff_initial=1.0, backoff_max=4.0, give_up_after=3, clock=clock)
    delays = []
    for _round in range(4):
        wait_until(lambda: not flaky.alive(), "the flaky child to exit", 30.0)
        sup.step()  # notices the stop
        if sup.given_up():
            break
        delays.append(said[-1])
        sup.step()  # before the backoff: nothing
        assert not flaky.alive()
        clock.now += 4.0
        sup.step()  # restarts it
        assert said[-1] == "flaky restarted"
    assert [d.split("restarting in ")[1].split(" s;")[0] for d in delays] == ["1", "2", "4"]
    assert sup.given_up() == [flaky] and "stopped 4 times in a row (exit code 3); left stopped" in said[-1]
    assert steady.alive() and sup.restarts == 3
    sup.step()
    assert not flaky.alive() and sup.restarts == 3  # left stopped


def test_a_child_that_stays_up_starts_its_count_again(tmp_path: Path, children: list[Child]) -> None:
    once = child(tmp_path, "once", "import time; time.sleep(1.5); raise SystemExit(1)")
    children.append(once)
    clock, said = Clock(), list[str]()
    sup = Supervisor(children, said.append, backoff_initial=1.0, give_up_after=1, stable_s=60.0, clock=clock)
    wait_until(lambda: not once.alive(), "the child to exit", 30.0)
    sup.step()
    clock.now += 1.0
    sup.step()
    assert said[-1] == "once restarted"
    once.command = [sys.executable, "-c", "import time; time.sleep(600)"]  # the next start stays up
    clock.now += 61.0
    sup.step()  # up 61 s: its count starts again
    once.process.kill()
    once.process.wait()
    sup.step()
    assert "restarting in 1 s" in said[-1] and sup.given_up() == []  # a first stop again, not a second


def test_the_supervisor_runs_until_the_chain_process_ends(tmp_path: Path, children: list[Child]) -> None:
    chain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(7)"])
    started = time.monotonic()
    assert Supervisor(children, print).run(chain, poll=0.05) == "the local chain (exit code 7)"
    assert time.monotonic() - started < 120  # returned (the deadline only guards a hang)


def test_the_supervisor_returns_none_when_asked_to_stop(children: list[Child]) -> None:
    """`up`'s SIGTERM handler sets the event as well as raising, since Python drops an exception raised inside a
    finalizer: the supervisor still stops."""
    chain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    stop = threading.Event()
    stop.set()
    try:
        assert Supervisor(children, print).run(chain, poll=0.05, stop=stop) is None
    finally:
        chain.kill()
        chain.wait()
