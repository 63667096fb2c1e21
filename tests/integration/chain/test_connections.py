"""chain.node.connections: the pool that serves the HTTP servers' connections, driven with socket pairs as
connections (the servers' own use of it is tested over HTTP in ``test_rpc.py``, ``test_peer_admission.py`` and
``tests/integration/notary/test_witness_server.py``): a waiting connection is served when it sends, closed once it
waited its idle timeout, and every connection is closed at stop; and the HTTP server on it, whose workers a
stalled request holds only for a read's timeout, a trickling one only until its deadline (by an injected clock),
and a client refused at the handshake not at all while what it sends is dropped."""

from __future__ import annotations

import contextlib
import functools
import http.client
import itertools
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from eth.db.atomic import AtomicDB
from eth_keys.datatypes import PrivateKey

from chain.node import peers
from chain.node.connections import ConnectionPool, PooledHandler, PooledServer
from chain.node.node import Genesis, Node
from chain.node.peers import Handlers, PeerServer
from chain.node.rpc import RpcServer
from chain.node.rpc import server as rpc_server
from network.alarms import server as alarm_server
from network.alarms.server import AlarmServer
from tests.support.wait import wait_until


class Echo:
    """A connection that answers each message with the same bytes; ``theirs`` is the client's end."""

    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.theirs.settimeout(10)
        self.closed = threading.Event()
        self.handed_over = 0  # times the watcher handed it to the queue

    def fileno(self) -> int:
        return self.ours.fileno()

    def serve(self) -> bool:
        data = self.ours.recv(100)
        if data:
            self.ours.sendall(data)
        return bool(data)

    def buffered(self) -> bool:
        return False

    def queued(self) -> None:
        self.handed_over += 1

    def wait_limit(self) -> float | None:
        return None

    def failed(self) -> None:
        raise AssertionError("an echo does not fail")

    def close(self) -> None:
        self.ours.close()
        self.closed.set()


@pytest.mark.parametrize("epoll", [True, False], ids=["one-shot", "selector"])
def test_waiting_connections_are_served_when_they_send_and_closed_when_idle_too_long(epoll: bool) -> None:
    pool = ConnectionPool(workers=2, idle_timeout=2.0, name="test-pool", epoll=epoll)
    pool.start()
    talking, silent, hanging_up = Echo(), Echo(), Echo()
    try:
        for connection in (talking, silent, hanging_up):
            pool.add(connection)
        for message in (b"one", b"two", b"three"):  # served, given back, served again
            talking.theirs.sendall(message)
            assert talking.theirs.recv(100) == message
        assert talking.handed_over == 3  # the moment each request's deadline runs from
        hanging_up.theirs.close()
        wait_until(hanging_up.closed.is_set, "the connection whose client hung up to be closed", 10)
        wait_until(silent.closed.is_set, "the silent connection to be closed after its idle timeout", 10)
        assert silent.theirs.recv(100) == b""  # its client sees the end
    finally:
        pool.stop()
    assert talking.closed.is_set() and talking.theirs.recv(100) == b""
    assert not [t for t in threading.enumerate() if t.name.startswith("test-pool")]
    for connection in (talking, silent, hanging_up):
        connection.theirs.close()


@pytest.mark.skipif(not hasattr(select, "epoll"), reason="one-shot watching needs epoll")
def test_a_pool_never_started_stops_and_refuses_what_it_is_given() -> None:
    """A server that could not bind stops its pool without having started it."""
    pool = ConnectionPool(workers=1, idle_timeout=2.0, name="test-unstarted", epoll=False)
    pool.stop()
    pool.stop()
    late = Echo()
    pool.add(late)
    assert late.closed.is_set()
    late.theirs.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("test-unstarted")]


def test_a_served_connection_is_watched_again_without_waking_the_watcher() -> None:
    """With epoll, the worker that served a keep-alive request arms its connection again itself (one-shot): the
    watcher is woken by the connection's next bytes only, not by its hand-back."""
    pool = ConnectionPool(workers=1, idle_timeout=60.0, name="test-pool")
    pool.start()
    echo = Echo()
    try:
        pool.add(echo)
        echo.theirs.sendall(b"first")
        assert echo.theirs.recv(100) == b"first"
        woken = pool.wakeups  # the first connection's deadline woke it, to sleep until then
        for message in (b"two", b"three", b"four", b"five"):
            echo.theirs.sendall(message)
            assert echo.theirs.recv(100) == message
        assert pool.wakeups == woken
    finally:
        pool.stop()
        echo.theirs.close()
    assert echo.closed.is_set()


@pytest.mark.parametrize(
    ("follow", "clock", "followed"),
    [(30.0, lambda: 0.0, 2), (1.0, functools.partial(next, itertools.count(start=1000.0, step=10.0)), 0)],
    ids=["one-after-another", "far-apart"],
)
def test_a_worker_follows_a_connection_whose_requests_come_one_after_another(
    follow: float, clock: Callable[[], float], followed: int
) -> None:
    """A request that came within ``follow`` of the answer before (by the pool's clock, which stands): its worker
    follows the connection (the queue empty, the other worker idle) and serves the next requests itself, without the
    watcher; the first request has no answer before it, so the second comes through the watcher. A client that
    polls (a clock 10 s later at each reading: each request longer than ``follow`` after the answer before) is given
    back to the watcher at once, as following would cost a watch that times out at every request. Each request is
    handed over once either way (its deadline runs from then)."""
    pool = ConnectionPool(workers=2, idle_timeout=60.0, name="test-follow", follow=follow, clock=clock)
    pool.start()
    echo = Echo()
    try:
        pool.add(echo)
        for message in (b"one", b"two", b"three", b"four"):
            echo.theirs.sendall(message)
            assert echo.theirs.recv(100) == message
        assert pool.followed == followed
        assert echo.handed_over == 4
    finally:
        pool.stop()  # a worker following the connection returns at once, and the connection is closed
        echo.theirs.close()
    assert echo.closed.is_set()
    assert not [t for t in threading.enumerate() if t.name.startswith("test-follow")]


def test_a_worker_does_not_follow_a_connection_when_no_other_worker_would_serve_the_next() -> None:
    """One worker: it gives the connection it answered back to the watcher at once, so that another connection
    is served (a worker following for 30 s would leave it waiting that long, past the client's 10 s)."""
    pool = ConnectionPool(workers=1, idle_timeout=60.0, name="test-follow", follow=30.0, clock=lambda: 0.0)
    pool.start()
    first, second = Echo(), Echo()
    try:
        pool.add(first)
        pool.add(second)
        for connection, message in ((first, b"first"), (first, b"prompt"), (second, b"second"), (first, b"again")):
            connection.theirs.sendall(message)
            assert connection.theirs.recv(100) == message
        assert pool.followed == 0
        assert (first.handed_over, second.handed_over) == (3, 1)
    finally:
        pool.stop()
        first.theirs.close()
        second.theirs.close()


def test_a_follow_longer_than_the_idle_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="0 to idle_timeout"):
        ConnectionPool(workers=1, idle_timeout=1.0, name="test-follow", follow=2.0)
    with pytest.raises(ValueError, match="0 to idle_timeout"):
        ConnectionPool(workers=1, idle_timeout=1.0, name="test-follow", follow=-1.0)


def read_to_end(sock: socket.socket) -> bytes:
    """What ``sock``'s peer sends until it closes."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def answer_of(sock: socket.socket) -> bytes:
    """One answer on ``sock``: its head up to the empty line, and a body of its Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Hello(PooledHandler):
    """``GET`` answers ``hello``; ``reading`` is set once a worker starts reading a request."""

    timeout = 0.3
    reading = threading.Event()

    def handle_one_request(self) -> None:
        Hello.reading.set()
        super().handle_one_request()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_stalled_request_holds_the_only_worker_for_a_reads_timeout_only() -> None:
    """One worker, five silent connections, and a client that sends half a request and stalls while a worker reads
    it: the worker gives up at the handler's read timeout, answers 408 and closes that connection, and another
    client's request is answered; the server's threads stay the accepting one, the watcher and the worker."""
    server = PooledServer(("127.0.0.1", 0), Hello, ConnectionPool(1, 10.0, "test-http"))
    accepting = threading.Thread(target=server.serve_forever, args=(0.02,), name="test-http", daemon=True)
    accepting.start()
    port = server.server_address[1]
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
    asker = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        Hello.reading.clear()
        stalled.sendall(b"GET / HTTP/1.1\r\n")  # the rest never comes
        assert Hello.reading.wait(10), "no worker read the stalled request"
        asker.request("GET", "/")
        answer = asker.getresponse()
        assert (answer.status, answer.read()) == (200, b"hello")
        assert read_to_end(stalled).startswith(b"HTTP/1.1 408 ")  # answered, and closed
        assert sorted(t.name for t in threading.enumerate() if t.name.startswith("test-http")) == [
            "test-http",
            "test-http-0",
            "test-http-watcher",
        ]
    finally:
        server.shutdown()
        server.server_close()
        accepting.join(10)
        for sock in (*silent, stalled):
            sock.close()
        asker.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("test-http")]


def serving(handler: type[PooledHandler], name: str) -> tuple[PooledServer, threading.Thread]:
    """A server of ``handler`` with one worker on loopback, accepting from a thread named ``name``."""
    server = PooledServer(("127.0.0.1", 0), handler, ConnectionPool(1, 30.0, name))
    accepting = threading.Thread(target=server.serve_forever, args=(0.02,), name=name, daemon=True)
    accepting.start()
    return server, accepting


def stop(server: PooledServer, accepting: threading.Thread, name: str) -> None:
    server.shutdown()
    server.server_close()
    accepting.join(10)
    assert not [t for t in threading.enumerate() if t.name.startswith(name)]


class Counted(Hello):
    """:class:`Hello`, counting the connections handed to the pool."""

    handed: ClassVar[list[object]] = []

    def __init__(self, request: Any, client_address: Any, server: PooledServer) -> None:
        Counted.handed.append(client_address)
        super().__init__(request, client_address, server)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_shutdown_returns_at_once_however_long_the_accepting_thread_polls(host: str) -> None:
    """The standard library's server looks at a stop request only between two polls of its socket: with an hour
    between two, :meth:`PooledServer.shutdown` still returns within the deadline (it wakes the poll with a
    connection of its own), and the connection it made is closed, never handed to the pool."""
    Counted.handed.clear()
    server = PooledServer((host, 0), Counted, ConnectionPool(1, 30.0, "test-stop"))
    accepting = threading.Thread(target=server.serve_forever, args=(3600,), name="test-stop", daemon=True)
    accepting.start()
    asker = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    asker.request("GET", "/")
    assert asker.getresponse().read() == b"hello"  # the accepting thread is in its hour-long poll again
    stopped = threading.Thread(target=server.shutdown, daemon=True)
    stopped.start()
    wait_until(lambda: not stopped.is_alive(), "shutdown to return", 30)
    accepting.join(10)
    asker.close()
    assert not accepting.is_alive() and len(Counted.handed) == 1, Counted.handed  # the asker's connection only
    server.server_close()
    assert not [t for t in threading.enumerate() if t.name.startswith("test-stop")]


class Deadlined(Hello):
    """``Hello`` with a clock of the test's: reads themselves may wait 10 s (never reached here); a body is given
    a second for each 100 bytes; ``POST`` reads its body and answers ``hello``; reading a request's headers takes
    ``headers_take`` seconds by the clock."""

    timeout = 10.0
    clock = Clock()
    body_rate = 100
    headers_take = 0.0

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        Deadlined.clock.now += Deadlined.headers_take
        return parsed

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.do_GET()


def test_a_request_must_arrive_within_its_deadline_however_slowly_it_trickles() -> None:
    """A keep-alive connection: a request answered; by the clock, a long idle time later, a next request is
    answered (a deadline of its own); a request whose bytes keep coming, each well within a read's timeout, is
    answered 408 and its connection closed once the clock passes its deadline, 10 s after a worker started
    reading it. A request with a body has more: a second for each ``body_rate`` bytes it declares."""
    server, accepting = serving(Deadlined, "test-deadline")
    client = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
    clock = Deadlined.clock
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        client.sendall(request)
        assert answer_of(client).endswith(b"hello")
        clock.now += 100  # idle between requests: no request's time
        client.sendall(request)
        assert answer_of(client).endswith(b"hello")
        Deadlined.headers_take = 19.5  # then its body is read: past 10 s, within the 20 s of a 1000-byte body
        try:
            client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            client.sendall(b"b" * 1000)
            assert answer_of(client).endswith(b"hello")
        finally:
            Deadlined.headers_take = 0.0
        Hello.reading.clear()
        client.sendall(b"GET / HTTP/1.1\r\n")
        assert Hello.reading.wait(10), "no worker read the trickling request"
        client.sendall(b"Host: x\r\n")
        clock.now += 9.5
        client.sendall(b"X-One: 1\r\n")
        clock.now += 1  # past the deadline, though no read waited
        client.sendall(b"X-Two: 2\r\n")
        answered = read_to_end(client)
        assert answered.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in answered
    finally:
        client.close()
        stop(server, accepting, "test-deadline")


class Refusing(Hello):
    """Refuses the next connection while ``refuse`` is set (once each), answering 403 and lingering; a quiet time
    never reached here, a bound of 1000 bytes, and a clock of the test's."""

    refuse = False
    linger_quiet = 60.0
    linger_limit = 1000
    clock = Clock()

    def opened(self) -> bool:
        if not Refusing.refuse:
            return True
        Refusing.refuse = False
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.linger()
        return False


def test_a_client_refused_at_the_handshake_holds_no_worker_while_what_it_sends_is_dropped() -> None:
    """One worker. A refused client that neither reads nor closes, lingering a minute without a byte at most: the
    worker answers another client meanwhile. The refused connection is closed once it sent over the bound of
    bytes; another once the clock passed the bound of time. No thread is started for them."""
    server, accepting = serving(Refusing, "test-linger")
    port = server.server_address[1]
    clock = Refusing.clock
    refused = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    asker = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for sock in refused:
            Refusing.refuse = True
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 100)
            assert answer_of(sock).startswith(b"HTTP/1.1 403 ")
        asker.request("GET", "/")
        answer = asker.getresponse()
        assert (answer.status, answer.read()) == (200, b"hello")  # the worker is not held by the refused ones
        assert sorted(t.name for t in threading.enumerate() if t.name.startswith("test-linger")) == [
            "test-linger",
            "test-linger-0",
            "test-linger-watcher",
        ]
        refused[0].sendall(b"y" * 1000)  # over the bound of bytes
        assert read_to_end(refused[0]) == b""
        clock.now += Refusing.linger_total + 1
        refused[1].sendall(b"z")  # read once the bound of time passed
        assert read_to_end(refused[1]) == b""
    finally:
        for sock in refused:
            sock.close()
        asker.close()
        stop(server, accepting, "test-linger")


class Leaping:
    """A clock that moves 20 s at each reading: a request's deadline (10 s) has passed by the first read of it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 20
        return self.now


def _node() -> Node:
    validator = PrivateKey(b"\x01" * 32).public_key.to_checksum_address()
    return Node(AtomicDB(), Genesis(20261, (validator,), validator, 1_795_000_000))


@contextlib.contextmanager
def _json_rpc() -> Iterator[int]:
    rpc = RpcServer(_node(), host="127.0.0.1", port=0)
    rpc.start()
    try:
        yield rpc.port
    finally:
        rpc.stop()


@contextlib.contextmanager
def _peer() -> Iterator[int]:
    peer = PeerServer(_node(), Handlers(lambda _kind, _data: True, lambda _tx: None, dict))
    peer.start()
    try:
        yield peer.port
    finally:
        peer.stop()


@contextlib.contextmanager
def _alarms() -> Iterator[int]:
    endpoint = AlarmServer("t0ken")
    endpoint.start()
    try:
        yield int(endpoint.server_address[1])
    finally:
        endpoint.close()


TIMED_OUT = "request not received within 10 s"
RPC_TIMED_OUT = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": f"invalid request: {TIMED_OUT}"}}


@pytest.mark.parametrize(
    ("serving_", "handler", "body"),
    [
        (_json_rpc, rpc_server._Handler, RPC_TIMED_OUT),
        (_peer, peers._Handler, {"error": TIMED_OUT}),
        (_alarms, alarm_server._Handler, {"error": "request_timeout", "detail": TIMED_OUT}),
    ],
    ids=["json-rpc", "peer", "alarms"],
)
def test_each_servers_408_is_json_in_its_own_errors_form(
    monkeypatch: pytest.MonkeyPatch, serving_: Any, handler: type[PooledHandler], body: dict[str, Any]
) -> None:
    """The node's JSON-RPC answers a request past its deadline with one JSON-RPC error object, as it answers a
    refused client; the peer routes and the alarm endpoint with their own ``{"error": ...}`` bodies: JSON, not
    the standard library's HTML page (by a clock that leaps past the deadline at each reading: the headers are read
    past it)."""
    monkeypatch.setattr(handler, "clock", staticmethod(Leaping()))
    with serving_() as port, socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"POST / HTTP/1.1\r\n")  # its headers are read past the deadline
        head, _, answered = read_to_end(client).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].endswith(" 408 Request Timeout")
    assert {"Content-Type: application/json", "Connection: close"} <= set(lines)
    assert json.loads(answered) == body
