"""A client's connection as a request handler of ``chain.node.connections`` reads and writes it, without a socket
(tests/unit/ opens none), on a clock the test moves: a handler's refusals and its request deadline are driven in
process, byte for byte, with no time waited."""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterable
from typing import Any

from tests.support.clock import Clock


class Wire:
    """What the client sends, as ``arrivals``: (time, bytes) pairs in order, each readable once ``clock`` reads its
    time. A read with nothing readable waits as a socket does with the timeout it was given: the clock moves to the
    next arrival if it comes within the timeout, else on by the timeout and the read raises ``TimeoutError``; with
    a timeout of 0 (non-blocking) it raises ``BlockingIOError``. After the last arrival the client sends nothing
    more and does not close. What the handler writes collects in ``sent``; ``waits`` holds the timeout of each read
    that had to wait."""

    def __init__(self, clock: Clock, arrivals: Iterable[tuple[float, bytes]]) -> None:
        self.clock = clock
        self.arrivals = deque(arrivals)
        self.sent = bytearray()
        self.timeout: float | None = None
        self.waits: list[float | None] = []

    def settimeout(self, value: float | None) -> None:
        self.timeout = value

    def setsockopt(self, *args: Any) -> None:
        pass

    def makefile(self, mode: str, buffering: int | None = None) -> io.BytesIO:
        return io.BytesIO()  # the handler replaces its reader, and writes through ``sendall``

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def recv(self, size: int) -> bytes:
        """What a lingering handler drops (``PooledHandler._discard``, non-blocking): as :meth:`recv_into` reads."""
        buffer = bytearray(size)
        return bytes(buffer[: self.recv_into(buffer)])

    def recv_into(self, buffer: Any) -> int:
        if not (self.arrivals and self.arrivals[0][0] <= self.clock.now):
            if self.timeout == 0:
                raise BlockingIOError("nothing to read")
            self.waits.append(self.timeout)
            if self.arrivals and (self.timeout is None or self.arrivals[0][0] - self.clock.now <= self.timeout):
                self.clock.now = self.arrivals[0][0]
            elif self.timeout is None:
                raise AssertionError("a read without a timeout would wait forever")
            else:
                self.clock.now += self.timeout
                raise TimeoutError("timed out")
        at, chunk = self.arrivals[0]
        n = min(len(buffer), len(chunk))
        buffer[:n] = chunk[:n]
        if n < len(chunk):
            self.arrivals[0] = (at, chunk[n:])
        else:
            self.arrivals.popleft()
        return n


def answer(sent: bytes | bytearray) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the one answer in ``sent``."""
    head, _, body = bytes(sent).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    assert int(headers["Content-Length"]) == len(body), "one whole answer"
    return int(status_line.split(" ")[1]), headers, body
