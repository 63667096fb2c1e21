"""The supervisor of ``consortium up`` with real child processes: a child that stops is started again with the
same command after a backoff that doubles; one that keeps stopping is reported and left stopped while the others
run on; a child that stays up long enough starts its count again. The clock is injected: no wait depends on how
fast the machine is, only on the processes having exited (waited for with a deadline)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from network.supervisor import SETTLE_S, Child, StartReport, Supervisor, stop_all, wait_started
from tests.support.clock import Clock
from tests.support.up_process import free_port
from tests.support.wait import wait_until


def until_released(release: Path, code: int) -> str:
    """Code for ``python -c``: run until the file ``release`` exists, take it away and exit with ``code``; each
    start of the command (the supervisor's restarts too) waits for a release of its own."""
    return (
        f"import os, sys, time\nwhile not os.path.exists({str(release)!r}):\n    time.sleep(0.01)\n"
        f"os.remove({str(release)!r})\nsys.exit({code})"
    )


def release(child: Child, release: Path) -> None:
    """Let ``child`` exit (see :func:`until_released`) and wait until it has."""
    release.touch()
    wait_until(lambda: not child.alive(), f"the {child.name} child to exit", 30.0)


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
    stop = tmp_path / "flaky.stop"
    flaky = child(tmp_path, "flaky", until_released(stop, 3))
    children += [steady, flaky]
    clock, said = Clock(), list[str]()
    sup = Supervisor(children, said.append, backoff_initial=1.0, backoff_max=4.0, give_up_after=3, clock=clock)
    delays = []
    for _round in range(4):
        release(flaky, stop)
        sup.step()  # notices the stop
        if sup.given_up():
            break
        delays.append(said[-1])
        sup.step()  # before the backoff: nothing
        assert not flaky.alive()
        clock.now += 4.0
        sup.step()  # starts it again
        assert flaky.alive() and said[-1] == delays[-1]  # not up yet: it has not run SETTLE_S
        clock.now += SETTLE_S
        sup.step()
        assert said[-1] == f"flaky restarted, back {4.0 + SETTLE_S:.1f} s after its stop was seen"
    assert [d.split("restarting in ")[1].split(" s;")[0] for d in delays] == ["1", "2"]
    # the third stop in a row is the last: give_up_after counts stops, the first start's included
    assert sup.given_up() == [flaky] and "stopped 3 times in a row (exit code 3); left stopped" in said[-1]
    assert steady.alive() and sup.restarts == 2
    sup.step()
    assert not flaky.alive() and sup.restarts == 2  # left stopped


def test_a_child_that_stays_up_starts_its_count_again(tmp_path: Path, children: list[Child]) -> None:
    stop = tmp_path / "once.stop"
    once = child(tmp_path, "once", until_released(stop, 1))
    children.append(once)
    clock, said = Clock(), list[str]()
    sup = Supervisor(children, said.append, backoff_initial=1.0, give_up_after=2, stable_s=60.0, clock=clock)
    release(once, stop)
    once.command = [sys.executable, "-c", "import time; time.sleep(600)"]  # the next start stays up
    sup.step()
    clock.now += 1.0
    sup.step()
    clock.now += SETTLE_S
    sup.step()
    assert said[-1] == f"once restarted, back {1.0 + SETTLE_S:.1f} s after its stop was seen"
    clock.now += 61.0
    sup.step()  # up 61 s: its count starts again
    once.process.kill()
    once.process.wait()
    sup.step()
    assert "restarting in 1 s" in said[-1] and sup.given_up() == []  # a first stop again, not a second


def test_a_child_slow_to_answer_is_waited_for_visibly_then_restarted_without_holding_up_another(
    tmp_path: Path, children: list[Child]
) -> None:
    """A child whose health endpoint never answers: its start tells the seconds waited once every 5 s, then that
    it did not start, and hands it over stopped. The supervisor starts it again beside another child that stopped;
    it looks at it once per round, so the other is back while it is still starting; past its timeout it is stopped,
    said, and counted as its second stop."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: each look is refused at once
    never = [sys.executable, "-c", "import time; time.sleep(600)"]
    slow = Child("slow", subprocess.Popen(never), url, tmp_path / "slow.log", never, dict(os.environ), "/healthz", 30.0)
    children.append(slow)
    start_clock, waited, failed = Clock(), list[float](), list[str]()

    def ticking() -> float:  # one second per look: the wait runs on this clock, not the machine's
        start_clock.now += 1.0
        return start_clock.now

    report = StartReport(
        announce=lambda c, s: failed.append(f"announced {c.name}"),
        waiting=lambda c, seconds: waited.append(seconds),
        failed=lambda c, exc: failed.append(str(exc)),
        progress=(5.0, 5.0),
    )
    assert wait_started(slow, report, ticking) is slow
    assert [int(s // 5) for s in waited] == [1, 2, 3, 4, 5, 6]  # one line per 5 s, none missed, none twice
    assert failed == [f"slow did not answer at {url}/healthz within 30 s (log: {slow.log})"]
    assert slow.process.wait(10) == -15  # stopped, handed over

    quick = child(tmp_path, "quick", "raise SystemExit(2)")
    children.append(quick)
    quick.command = never
    clock, said = Clock(), list[str]()
    sup = Supervisor(children, said.append, backoff_initial=1.0, clock=clock)
    wait_until(lambda: not quick.alive(), "the quick child to exit", 30.0)
    sup.step()
    assert [x.split(";")[0] for x in said] == ["slow stopped (exit code -15)", "quick stopped (exit code 2)"]
    clock.now += 1.0
    sup.step()  # both started again, neither up yet
    assert slow.alive() and quick.alive() and len(said) == 2
    clock.now += SETTLE_S
    sup.step()
    assert said[2:] == [f"quick restarted, back {1.0 + SETTLE_S:.1f} s after its stop was seen"]  # slow: starting
    clock.now += 29.0
    sup.step()
    assert said[3:] == [] and slow.alive()  # 29.5 s: within its timeout
    clock.now += 1.0
    sup.step()
    assert said[3] == f"slow did not start again: slow did not answer at {url}/healthz within 30 s (log: {slow.log})"
    assert said[4].startswith("slow stopped (exit code -15); restarting in 2 s")  # its second stop in a row
    assert not slow.alive() and quick.alive() and sup.restarts == 1


def test_the_supervisor_runs_until_the_chain_process_ends(tmp_path: Path, children: list[Child]) -> None:
    """It supervises (a child that stopped is reported) for as long as the chain runs, and returns what to say
    about the chain once it ends."""
    stop = tmp_path / "chain.stop"
    chain = subprocess.Popen([sys.executable, "-c", until_released(stop, 7)])
    quick = child(tmp_path, "quick", "raise SystemExit(2)")
    children.append(quick)
    said, returned = list[str](), list[str | None]()
    supervisor = Supervisor(children, said.append, clock=Clock())  # its restart never comes due
    running = threading.Thread(target=lambda: returned.append(supervisor.run(chain, poll=0.01)), daemon=True)
    try:
        running.start()
        wait_until(lambda: said, "the supervisor to report the stopped child", 30.0)
        assert said[0].startswith("quick stopped (exit code 2)"), said
        assert running.is_alive() and chain.poll() is None  # the chain runs, so the supervisor does
        stop.touch()
        running.join(60.0)  # the deadline only bounds a hang
        assert not running.is_alive()
        assert returned == ["the local chain (exit code 7)"]
    finally:
        chain.kill()
        chain.wait()


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


def test_a_node_that_does_not_answer_yet_is_told_as_waiting_then_refused_at_its_timeout(
    tmp_path: Path, children: list[Child]
) -> None:
    """A chain node that never answers JSON-RPC (here a process that only sleeps) is told to ``report.waiting``
    under the name ``up`` announces it by, at the report's cadence, and refused once its timeout passes."""
    from chain.errors import BackendError
    from network.localchain import Launched

    sleeper = child(tmp_path, "sleeper", "import time; time.sleep(600)")
    children.append(sleeper)
    told: list[tuple[str, str, float]] = []
    report = StartReport(waiting=lambda c, s: told.append((c.name, c.url, s)), progress=(0.1, 0.1))
    url = f"http://127.0.0.1:{free_port()}"
    launched = Launched(sleeper.process, url, tmp_path / "node.log", sleeper.command, sleeper.env)
    with pytest.raises(BackendError, match=f"the chain did not answer at {url} within 1 s"):
        launched.wait(20261, 1.0, "node alpha (validator)", report)
    assert told and {(name, where) for name, where, _ in told} == {("node alpha (validator)", url)}
    assert [s for *_, s in told] == sorted(s for *_, s in told) and all(s >= 0.1 for *_, s in told)
    assert not sleeper.alive()  # stopped, as a node that fails to start is
