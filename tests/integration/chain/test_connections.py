"""chain.node.connections: the pool that serves the HTTP servers' connections, driven with socket pairs as
connections (the servers' own use of it is tested over HTTP in ``test_rpc.py``, ``test_peer_admission.py`` and
``tests/integration/notary/test_witness_server.py``): a waiting connection is served when it sends, closed once it
waited its idle timeout, and every connection is closed at stop; and the HTTP server on it, whose workers a
stalled request holds only for a read's timeout."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any

from chain.node.connections import ConnectionPool, PooledHandler, PooledServer
from tests.support.wait import wait_until


class Echo:
    """A connection that answers each message with the same bytes; ``theirs`` is the client's end."""

    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.theirs.settimeout(10)
        self.closed = threading.Event()

    def fileno(self) -> int:
        return self.ours.fileno()

    def serve(self) -> bool:
        data = self.ours.recv(100)
        if data:
            self.ours.sendall(data)
        return bool(data)

    def buffered(self) -> bool:
        return False

    def failed(self) -> None:
        raise AssertionError("an echo does not fail")

    def close(self) -> None:
        self.ours.close()
        self.closed.set()


def test_waiting_connections_are_served_when_they_send_and_closed_when_idle_too_long() -> None:
    pool = ConnectionPool(workers=2, idle_timeout=2.0, name="test-pool")
    pool.start()
    talking, silent, hanging_up = Echo(), Echo(), Echo()
    try:
        for connection in (talking, silent, hanging_up):
            pool.add(connection)
        for message in (b"one", b"two", b"three"):  # served, given back, served again
            talking.theirs.sendall(message)
            assert talking.theirs.recv(100) == message
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
    it: the worker gives up at the handler's read timeout and closes that connection, and another client's request
    is answered; the server's threads stay the accepting one, the watcher and the worker."""
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
        assert stalled.recv(100) == b""  # closed, unanswered
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
