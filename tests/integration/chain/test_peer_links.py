"""``chain.node.peers.PeerLinks`` against peers on loopback: one that answers, one that hangs."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import rlp

from chain.node.peers import BLOCKS_PATH, STATUS_PATH, PeerLinks
from tests.support.wait import wait_until


class _Answers(BaseHTTPRequestHandler):
    """A peer at block 0 that holds no block after it."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith(STATUS_PATH):
            body = json.dumps({"address": "0x" + "11" * 20, "head": 0}).encode()
        else:
            body = bytes(rlp.encode([]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Hung:
    """A peer that accepts connections, reads what comes and never answers: a frozen process, or a network that
    drops packets. It records the first line of each request."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.requests: list[str] = []
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                self.held.append(connection)
                threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := connection.recv(4096):
                self.requests += [line for line in data.decode("latin-1").split("\r\n") if line.startswith("GET ")]

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def peers() -> Iterator[tuple[str, str, Hung]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hung = Hung()
    yield f"http://127.0.0.1:{hung.port}", f"http://127.0.0.1:{server.server_address[1]}", hung
    hung.close()
    server.shutdown()
    server.server_close()


def test_a_fetch_does_not_wait_on_a_peer_whose_last_exchange_timed_out(peers: tuple[str, str, Hung]) -> None:
    """Regression: the consensus loop fetches at every sync (every 5 s while idle), and fetch_blocks asked each
    peer in turn, so a peer that hangs held the loop for the whole link timeout each time; with one of four
    validators frozen or cut off by a packet-dropping network, blocks took 3.6 to 7 s instead of 0.1 s, round
    timers expiring meanwhile. A peer whose last exchange failed is skipped until its prober reaches it again."""
    hung_url, answering_url, hung = peers
    links = PeerLinks([hung_url, answering_url], timeout=1.0, status_interval=0.1)
    links.start()
    try:
        wait_until(lambda: links.connected[answering_url], "the answering peer's status", timeout=10)
        # its second status request means the first timed out: the hung peer's last exchange failed
        wait_until(lambda: hung.requests.count(f"GET {STATUS_PATH} HTTP/1.1") >= 2, "a status timed out", timeout=10)
        assert links.fetch_blocks(1) == []
        assert not any(r.startswith(f"GET {BLOCKS_PATH}") for r in hung.requests), "asked the hung peer for blocks"
    finally:
        links.stop()
