"""``tests.support.faultproxy`` against an echo server on loopback: it forwards, a cut resets open connections
and refuses or blackholes new ones, and a heal lets them through again."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.wait import wait_until


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxied() -> Iterator[tuple[FaultProxy, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = FaultProxy()
    yield proxy, proxy.link(int(server.server_address[1]))
    proxy.stop()
    server.shutdown()
    server.server_close()


def echo(port: int, data: bytes = b"ping", timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return sock.recv(4096)


def test_forwards_then_a_cut_resets_and_refuses_and_a_heal_lets_through(proxied: tuple[FaultProxy, int]) -> None:
    proxy, port = proxied
    open_before = socket.create_connection(("127.0.0.1", port), timeout=5)
    open_before.sendall(b"one")
    assert open_before.recv(4096) == b"one"

    proxy.cut([port])
    with pytest.raises(OSError):  # reset, or closed before a byte came back
        open_before.sendall(b"two")
        if not open_before.recv(4096):
            raise ConnectionResetError("closed")
    open_before.close()
    with pytest.raises(OSError):
        if not echo(port):
            raise ConnectionResetError("closed")

    proxy.heal([port])
    assert echo(port) == b"ping"


def test_a_blackholed_link_answers_nothing_until_healed(proxied: tuple[FaultProxy, int]) -> None:
    proxy, port = proxied
    proxy.cut([port], "blackhole")
    with pytest.raises(TimeoutError):
        echo(port, timeout=0.3)
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.sendall(b"lost")
    wait_until(lambda: proxy.held(port) == 2, "both connections held", timeout=5)
    proxy.heal([port])
    with pytest.raises(OSError):  # the held connection is reset, never forwarded
        if not held.recv(4096):
            raise ConnectionResetError("closed")
    held.close()
    assert echo(port) == b"ping"
