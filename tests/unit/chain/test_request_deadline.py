"""chain.node.connections.PooledHandler: a request's deadline runs from the moment the watcher handed its connection
to the workers' queue (the wait for a worker counts), what arrived in time is read however late the worker comes,
and a request already in the buffers when the last was answered has a deadline from its worker's start. Driven
in process (``tests.support.wire``) by a clock the test moves."""

from __future__ import annotations

from typing import Any, cast

from chain.node.connections import PooledHandler, PooledServer
from tests.support.clock import Clock
from tests.support.wire import Wire, answer

T0 = 1_000_000.0


class Echoing(PooledHandler):
    """Answers a POST with its body."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def connection(clock: Clock, arrivals: list[tuple[float, bytes]]) -> tuple[Echoing, Wire]:
    wire = Wire(clock, arrivals)
    handler = Echoing(wire, ("127.0.0.1", 40000), cast(PooledServer, None))
    handler.clock = clock
    return handler, wire


def post(body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def test_the_wait_in_the_queue_counts_against_the_deadline() -> None:
    """Handed to the queue at T0 and taken by a worker at T0 + 9: the request has 1 s left, not 10 more; the 408 is
    followed by a linger, as a refusal is, so that a client still sending does not lose it to a reset."""
    clock = Clock(T0)
    handler, wire = connection(clock, [(T0, b"POST / HTTP/1.1\r\n"), (T0 + 9.5, b"Host: x\r\n")])
    handler.queued()
    clock.now = T0 + 9
    assert handler.serve() is True  # answered, and kept while what the client still sends is dropped (linger)
    assert answer(wire.sent)[0] == 408 and b"within 10 s" in wire.sent
    assert wire.waits == [1.0, 0.5] and clock.now == T0 + 10
    clock.now += handler.linger_total
    assert handler.serve() is False  # then closed: its client sent nothing more, and the linger's time is up
    assert answer(wire.sent)[0] == 408  # nothing more written


def test_what_arrived_in_time_is_read_however_late_the_worker_comes() -> None:
    """A keep-alive connection's next request arrived whole at T0 + 1, its worker came at T0 + 13: past the deadline,
    and served, its body (over the reader's buffer) read without waiting."""
    clock = Clock(T0)
    large = b"x" * 20_000
    handler, wire = connection(clock, [(T0, post(b"first")), (T0 + 1, post(large))])
    handler.queued()
    assert handler.serve() is True
    assert answer(wire.sent)[::2] == (200, b"first")
    del wire.sent[:]
    clock.now = T0 + 1
    handler.queued()
    clock.now = T0 + 13
    assert handler.serve() is True
    assert answer(wire.sent)[::2] == (200, large) and wire.waits == []


def test_a_request_already_buffered_has_a_deadline_from_its_workers_start() -> None:
    """Sent right after the first (pipelined), the second request was never handed to the queue: its deadline runs
    from when the worker, done with the first at T0 + 9, starts on it, not from the first's hand-over."""
    clock = Clock(T0)
    pipelined = post(b"first") + post(b"abcd")[:-2]
    handler, wire = connection(clock, [(T0, pipelined), (T0 + 15, b"cd")])
    handler.queued()
    clock.now = T0 + 9
    assert handler.serve() is True
    del wire.sent[:]
    assert handler.serve() is True
    assert answer(wire.sent)[::2] == (200, b"abcd") and clock.now == T0 + 15
