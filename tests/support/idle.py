"""Idle connections to a server on loopback, for the tests that check it serves them without a thread each
(``chain.node.connections``): some that never send, not even a TLS ClientHello, and some kept alive after a
request."""

from __future__ import annotations

import contextlib
import http.client
import socket
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def idle_connections(
    port: int, count: int, connect: Callable[[], http.client.HTTPConnection], path: str
) -> Iterator[list[http.client.HTTPConnection]]:
    """``count`` connections to 127.0.0.1:``port`` that send nothing, and ``count`` from ``connect`` kept alive
    after one ``GET path`` each, answered 200; yields the kept ones, and closes them all at the end."""
    silent: list[socket.socket] = []
    kept: list[http.client.HTTPConnection] = []
    try:
        for _ in range(count):
            silent.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            kept.append(connect())
            assert get(kept[-1], path) == 200
        yield kept
    finally:
        for connection in kept:
            connection.close()
        for sock in silent:
            sock.close()


def get(connection: http.client.HTTPConnection, path: str) -> int:
    """``GET path`` on ``connection``, its answer read; its status (the connection must stay open)."""
    connection.request("GET", path)
    answer = connection.getresponse()
    answer.read()
    assert not answer.will_close, f"{path} closed the connection"
    return int(answer.status)
