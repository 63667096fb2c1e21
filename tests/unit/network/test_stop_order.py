"""How ``consortium up`` stops its children (``network.supervisor.stop_all``): in the reverse of their start, the
witnesses and the gateways each side by side (a SIGTERM to every one of them before any is waited for), one
SIGTERM each, and a child that outlives its deadline killed. The processes are stand-ins that record what they
are sent: nothing is started."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import cast

from network.supervisor import Child, kind_of, stop_all
from tests.support.clock import Clock


class Recorded:
    """A stand-in for a child's ``Popen``: it runs until it is sent a signal (or, ``stubborn``, until killed),
    and notes each signal, wait and kill in ``log``."""

    def __init__(
        self, name: str, log: list[tuple[str, str]], stubborn: bool = False, clock: Clock | None = None
    ) -> None:
        self.name, self.log, self.stubborn, self.clock = name, log, stubborn, clock
        self.returncode: int | None = None
        self.signalled = False
        self.waited: list[float | None] = []  # the timeout of each wait

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, signum: int) -> None:
        assert signum == signal.SIGTERM
        self.log.append(("term", self.name))
        self.signalled = True

    def wait(self, timeout: float | None = None) -> int:
        self.log.append(("wait", self.name))
        self.waited.append(timeout)
        if self.returncode is None:
            if self.stubborn:
                if self.clock is not None and timeout is not None:  # the whole timeout passes
                    self.clock.now += timeout
                raise subprocess.TimeoutExpired(self.name, timeout or 0)
            assert self.signalled, f"{self.name} waited for before it was sent SIGTERM"
            self.returncode = 0
        return self.returncode

    def kill(self) -> None:
        self.log.append(("kill", self.name))
        self.returncode = -9


def children(names: list[str], log: list[tuple[str, str]], stubborn: str = "") -> list[Child]:
    made = []
    for name in names:
        process = cast("subprocess.Popen[bytes]", Recorded(name, log, stubborn=name == stubborn))
        made.append(Child(name, process, "", Path(f"{name}.log")))
    return made


UP = [  # the order `up` starts them in
    "witness a",
    "witness b",
    "witness c",
    "notary",
    "demo services",
    "gateway a",
    "gateway b",
    "demo traffic",
    "explorer",
]


def test_children_stop_in_reverse_with_each_kind_side_by_side() -> None:
    log: list[tuple[str, str]] = []
    stop_all(children(UP, log))
    assert log == [
        ("term", "explorer"),
        ("wait", "explorer"),
        ("term", "demo traffic"),
        ("wait", "demo traffic"),
        ("term", "gateway b"),
        ("term", "gateway a"),
        ("wait", "gateway b"),
        ("wait", "gateway a"),
        ("term", "demo services"),
        ("wait", "demo services"),
        ("term", "notary"),
        ("wait", "notary"),
        ("term", "witness c"),
        ("term", "witness b"),
        ("term", "witness a"),
        ("wait", "witness c"),
        ("wait", "witness b"),
        ("wait", "witness a"),
    ]


def test_a_stopped_child_is_not_signalled_and_one_past_its_deadline_is_killed() -> None:
    log: list[tuple[str, str]] = []
    made = children(["witness a", "witness b", "notary"], log, stubborn="witness b")
    made[0].process.returncode = 1  # it had stopped on its own
    stop_all(made, timeout=0.01)
    assert log == [
        ("term", "notary"),
        ("wait", "notary"),
        ("term", "witness b"),
        ("wait", "witness b"),
        ("kill", "witness b"),
        ("wait", "witness b"),
    ]


def test_only_the_witnesses_and_the_gateways_of_members_are_one_kind() -> None:
    kinds = [kind_of(c) for c in children([*UP, "witness", "notary x"], [])]
    assert kinds == [
        *["witness"] * 3,
        "notary",
        "demo services",
        *["gateway"] * 2,
        "demo traffic",
        "explorer",
        "witness",
        "notary x",
    ]
    log: list[tuple[str, str]] = []
    stop_all(children(["demo services", "demo traffic"], log))  # two of their own kind each, one after the other
    assert log == [("term", "demo traffic"), ("wait", "demo traffic"), ("term", "demo services"),
                   ("wait", "demo services")]  # fmt: skip


def test_the_children_of_a_kind_that_do_not_stop_share_one_deadline() -> None:
    """Three witnesses that ignore SIGTERM are killed ``timeout`` after it, not one ``timeout`` after another."""
    clock, log = Clock(0.0), list[tuple[str, str]]()
    stuck = [Recorded(f"witness {n}", log, stubborn=True, clock=clock) for n in "abc"]
    stop_all([Child(r.name, cast("subprocess.Popen[bytes]", r), "", Path("w.log")) for r in stuck], 10.0, clock=clock)
    assert [r.waited for r in reversed(stuck)] == [[10.0, None], [0.0, None], [0.0, None]]
    assert clock.now == 10.0 and [e for e in log if e[0] == "kill"] == [("kill", f"witness {n}") for n in "cba"]
