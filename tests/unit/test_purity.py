"""The guard of tests/unit/ (``tests/support/purity.py``): it refuses sockets and child processes, lets an event
loop run, puts back what it replaced, and fails a test even when the code under test swallowed the refusal.

Each test arms a guard of its own inside the one ``tests/unit/conftest.py`` arms around its call; nothing here
reaches the real functions, since the inner guard answers first (and a fork that got through would end at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
from collections.abc import Callable

import pytest

from tests.support.purity import Guard, ImpureUnitTest
from tests.unit.conftest import guarded


def _udp_send() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", 9))


def _unix_bind() -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind("/nonexistent/unit.sock")


def _fork() -> None:
    if os.fork() == 0:  # only if the guard let it through: the child leaves at once
        os._exit(0)


async def _child() -> None:
    await asyncio.create_subprocess_exec("true")


ATTEMPTS: dict[str, Callable[[], object]] = {
    "socket.connect(('127.0.0.1', 9))": lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
    "socket.bind(('127.0.0.1', 0))": lambda: socket.create_server(("127.0.0.1", 0)),
    "socket.sendto(('127.0.0.1', 9))": _udp_send,
    "socket.bind('/nonexistent/unit.sock')": _unix_bind,
    "subprocess.Popen(['true'])": lambda: subprocess.run(["true"], check=True),
    "subprocess.Popen(('true',))": lambda: asyncio.run(_child()),
    "os.system('true')": lambda: os.system("true"),
    "os.fork()": _fork,
}


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_a_socket_or_a_child_process_is_refused_with_where_the_test_belongs(attempt: str) -> None:
    with Guard() as guard, pytest.raises(ImpureUnitTest) as refused:
        ATTEMPTS[attempt]()
    assert str(refused.value).startswith(f"{attempt}: tests under tests/unit/ are pure")
    assert "belongs in tests/integration/<package>/" in str(refused.value)
    assert guard.refused == [refused.value]


def test_an_event_loop_and_a_socketpair_still_work() -> None:
    async def echo() -> bytes:
        await asyncio.sleep(0)
        return b"ok"

    with Guard() as guard:
        assert asyncio.run(echo()) == b"ok"
        left, right = socket.socketpair()
        with left, right:
            left.sendall(b"ping")
            assert right.recv(4) == b"ping"
    assert guard.refused == []


def test_disarming_puts_back_what_arming_found() -> None:
    before = (socket.socket.connect, subprocess.Popen.__init__, os.fork)
    inner = Guard()
    inner.arm()
    assert socket.socket.connect is not before[0] and os.fork is not before[2]
    inner.disarm()
    assert (socket.socket.connect, subprocess.Popen.__init__, os.fork) == before


def test_a_refusal_the_code_under_test_swallowed_still_fails_the_phase() -> None:
    phase = guarded()
    next(phase)  # armed, as for a test's setup or call
    with contextlib.suppress(Exception):  # code that hides every error must not hide this one
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(ImpureUnitTest, match=r"^socket\.connect"):
        phase.send(None)


def test_a_phase_without_a_refusal_returns_what_the_phase_returned() -> None:
    phase = guarded()
    next(phase)
    with pytest.raises(StopIteration) as done:
        phase.send("result")
    assert done.value.value == "result"
