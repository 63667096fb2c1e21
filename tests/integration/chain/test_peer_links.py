"""``chain.node.peers.PeerLinks`` against peers on loopback: one that answers, one that hangs."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
import rlp

from chain.node.peers import BLOCKS_PATH, STATUS_PATH, TRANSACTION_PATH, TRANSACTIONS_PATH, PeerLinks
from tests.support.servers import LocalHTTPServer, QuietHandler
from tests.support.wait import wait_until


class _Answers(QuietHandler):
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
    with LocalHTTPServer(_Answers) as answering:
        hung = Hung()
        yield f"http://127.0.0.1:{hung.port}", answering.url, hung
        hung.close()


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


class _Switchable(QuietHandler):
    """A peer whose status fails while ``up`` is False, and which records the transactions passed to it."""

    protocol_version = "HTTP/1.1"
    up = False
    received: ClassVar[list[bytes]] = []

    def do_GET(self) -> None:
        ok = type(self).up
        body = json.dumps({"address": "0x" + "22" * 20, "head": 0}).encode() if ok else b"down"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == TRANSACTION_PATH:
            type(self).received.append(data)
        elif self.path == TRANSACTIONS_PATH:
            type(self).received.extend(rlp.decode(data))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_peer_that_answers_again_is_announced_and_sent_what_it_missed_in_order() -> None:
    """``on_connect`` fires when a peer's status answers after it had not (up for the first time, or again),
    and only then; ``send_transactions`` passes transactions to that one peer in order. The node uses the two to
    hand a restarted peer its pending transactions."""
    _Switchable.up, _Switchable.received = True, []
    server = LocalHTTPServer(_Switchable)
    url = server.url
    announced: list[str] = []

    def connected(peer: str) -> None:
        announced.append(peer)
        links.send_transactions(peer, [b"first", b"second"])

    links = PeerLinks([url], timeout=1.0, status_interval=0.05, on_connect=connected)
    links.start()
    try:
        wait_until(lambda: _Switchable.received == [b"first", b"second"], "the transactions, in order", timeout=10)
        _Switchable.up = False
        wait_until(lambda: not links.connected[url], "the peer seen down", timeout=10)
        assert announced == [url]  # answering on and on announced it once
        _Switchable.up = True
        wait_until(lambda: len(announced) == 2, "the peer announced again", timeout=10)
        wait_until(lambda: len(_Switchable.received) == 4, "the transactions sent again", timeout=10)
        assert _Switchable.received == [b"first", b"second"] * 2
    finally:
        links.stop()
        server.close()


class _Busy(QuietHandler):
    """A peer whose status answers 503 the first ``status_failures`` times it is asked, and whose pending
    transactions answer 503 the first ``failures`` times they are asked for, then its one transaction."""

    protocol_version = "HTTP/1.1"
    failures = 0
    status_failures = 0
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        if self.path == STATUS_PATH and type(self).status_failures > 0:
            type(self).status_failures -= 1
            code, body = 503, b"starting"
        elif self.path == TRANSACTIONS_PATH and type(self).failures > 0:
            type(self).failures -= 1
            code, body = 503, b"busy"
        elif self.path == TRANSACTIONS_PATH:
            code, body = 200, bytes(rlp.encode([b"pending"]))
        else:
            code, body = 200, json.dumps({"address": "0x" + "44" * 20, "head": 0}).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_pull_of_a_peers_transactions_that_failed_at_its_first_contact_is_made_again_soon() -> None:
    """The node takes a peer's pending transactions at its first contact (``on_connect``); when the peer does not
    answer that pull (a server error twice here), the contact is made again at a status asked soon after, not a
    status interval (a minute here) later, until the pull is answered; then not again while the peer answers."""
    _Busy.failures, _Busy.status_failures, _Busy.asked = 2, 0, []
    server = LocalHTTPServer(_Busy)
    url = server.url
    taken: list[bytes] = []
    contacts: list[str] = []

    def connected(peer: str) -> None:
        contacts.append(peer)
        taken.extend(links.fetch_transactions(peer))

    links = PeerLinks([url], timeout=1.0, status_interval=60.0, on_connect=connected)
    links.start()
    try:
        wait_until(lambda: taken == [b"pending"], "the peer's transaction taken at a later contact", timeout=20)
        assert contacts == [url] * 3 and _Busy.asked.count(TRANSACTIONS_PATH) == 3
        assert _Busy.asked.count(STATUS_PATH) == 3  # a status asked before each contact
        assert links.probed() and links.connected[url]
    finally:
        links.stop()
        server.close()


def test_a_status_not_answered_is_asked_again_soon_and_the_contact_made_then() -> None:
    """A peer whose status does not answer at first (starting, or a handshake lost on a loaded machine) is asked
    again soon (0.25 s, doubling), not a status interval (a minute here) later, and the contact is made at its
    first answer."""
    _Busy.failures, _Busy.status_failures, _Busy.asked = 0, 2, []
    server = LocalHTTPServer(_Busy)
    url = server.url
    taken: list[bytes] = []

    links = PeerLinks(
        [url], timeout=1.0, status_interval=60.0, on_connect=lambda peer: taken.extend(links.fetch_transactions(peer))
    )
    links.start()
    try:
        wait_until(lambda: taken == [b"pending"], "the contact made at the third status asked", timeout=20)
        assert _Busy.asked == [STATUS_PATH] * 3 + [TRANSACTIONS_PATH]
        assert links.connected[url] and not links.down[url]
    finally:
        links.stop()
        server.close()


class _Before(QuietHandler):
    """A peer from before ``POST /qbft/v1/transactions``: 404 there (without reading the body, as that version
    did), and it records the transactions posted one by one."""

    protocol_version = "HTTP/1.1"
    received: ClassVar[list[bytes]] = []
    refused_batches = 0

    def do_GET(self) -> None:
        body = json.dumps({"address": "0x" + "33" * 20, "head": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.path != TRANSACTION_PATH:
            type(self).refused_batches += 1
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        type(self).received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_transactions_waiting_together_reach_a_peer_from_before_the_batch_route_one_by_one_in_order() -> None:
    """A link sends the transactions queued together in one request; a peer that answers 404 to it gets them, and
    every later one, one by one, in order."""
    _Before.received, _Before.refused_batches = [], 0
    server = LocalHTTPServer(_Before)
    url = server.url
    links = PeerLinks([url], timeout=1.0, status_interval=60)
    sent = [bytes([i]) * 8 for i in range(1, 7)]
    links.send_transactions(url, sent[:3])  # queued before the sender runs: one batch
    links.start()
    try:
        wait_until(lambda: _Before.received == sent[:3], "the first three, one by one", timeout=10)
        links.send_transactions(url, sent[3:])
        wait_until(lambda: _Before.received == sent, "the next three, one by one", timeout=10)
        assert _Before.refused_batches == 1  # asked once, then not again
    finally:
        links.stop()
        server.close()
