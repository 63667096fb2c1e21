"""What ``consortium up`` prints while a component starts: when a progress line is due (:class:`Progress`, on a
given clock) and what the lines are on a terminal and elsewhere (``cli.up.start_report``)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from cli.up import start_report
from network.supervisor import Child, Progress, SupervisorError


def test_a_line_is_due_first_after_first_then_every_every_seconds_and_missed_ticks_are_skipped() -> None:
    ticks = Progress(100.0, first=5.0, every=5.0)
    assert [ticks.due(t) for t in (100.0, 104.9)] == [None, None]
    assert ticks.due(105.0) == 5.0
    assert ticks.due(109.9) is None
    assert ticks.due(110.0) == 10.0
    assert ticks.due(127.0) == 27.0  # the caller was busy: one line, not three
    assert [ticks.due(t) for t in (127.5, 129.9)] == [None, None]
    assert ticks.due(130.0) == 30.0
    for first, every in ((0.0, 1.0), (1.0, 0.0), (-1.0, 5.0)):
        with pytest.raises(ValueError, match="first > 0 and every > 0"):
            Progress(0.0, first, every)


def _child(name: str, url: str) -> Child:
    return Child(name, cast("subprocess.Popen[bytes]", None), url, Path("x.log"))


class Echo:
    def __init__(self) -> None:
        self.out = ""

    def __call__(self, text: str = "", nl: bool = True, **_: Any) -> None:
        self.out += text + ("\n" if nl else "")


def test_off_a_terminal_each_progress_line_is_a_line_of_its_own() -> None:
    echo = Echo()
    report = start_report(False, echo)
    assert report.progress == (5.0, 5.0)
    notary = _child("notary", "http://127.0.0.1:8546")
    assert report.waiting is not None and report.announce is not None and report.failed is not None
    report.waiting(notary, 5.01)
    report.waiting(notary, 10.2)
    report.announce(notary, 12.3)
    report.failed(_child("witness a", "http://127.0.0.1:9"), SupervisorError("witness a exited with code 1: boom"))
    assert echo.out.splitlines() == [
        "  ..  waiting for notary at http://127.0.0.1:8546 … 5 s",
        "  ..  waiting for notary at http://127.0.0.1:8546 … 10 s",
        f"  up  {'notary':<24} {'http://127.0.0.1:8546':<28}  12.3 s",
        "  !!  witness a did not start: witness a exited with code 1: boom; started again once the rest is up",
    ]
    assert "\r" not in echo.out


def test_on_a_terminal_the_progress_line_is_rewritten_in_place_and_replaced_by_the_up_line() -> None:
    echo = Echo()
    report = start_report(True, echo)
    assert report.progress == (2.0, 1.0)
    explorer = _child("explorer", "http://127.0.0.1:8000")
    assert report.waiting is not None and report.announce is not None
    report.waiting(explorer, 2.0)
    report.waiting(explorer, 3.0)
    report.announce(explorer, 3.4)
    report.announce(_child("gateway b", "http://127.0.0.1:8600"), 1.0)  # no progress line to clear first
    clear = "\r\x1b[2K"
    assert echo.out == (
        f"{clear}  ..  waiting for explorer at http://127.0.0.1:8000 … 2 s"
        f"{clear}  ..  waiting for explorer at http://127.0.0.1:8000 … 3 s"
        f"{clear}  up  {'explorer':<24} {'http://127.0.0.1:8000':<28}   3.4 s\n"
        f"  up  {'gateway b':<24} {'http://127.0.0.1:8600':<28}   1.0 s\n"
    )
