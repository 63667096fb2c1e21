"""chain.node.connections: the pool that serves the HTTP servers' connections, driven with socket pairs as
connections (the servers' own use of it is tested over HTTP in ``test_rpc.py``, ``test_peer_admission.py`` and
``tests/integration/notary/test_witness_server.py``): a waiting connection is served when it sends, closed once it
waited its idle timeout, and every connection is closed at stop."""

from __future__ import annotations

import socket
import threading

from chain.node.connections import ConnectionPool
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
