"""The asyncio side of closing a connection refused at the handshake (``chain.node.linger``): the answer written
first and whole, what the client sends after it dropped, and the transport closed when the client closes, after a
while without a byte, past a bound of bytes or of time, never twice. The transport is a recording stand-in for
asyncio's (no socket: these are unit tests); the servers over real TLS are the integration tests'."""

from __future__ import annotations

import asyncio
import json

from chain.node.linger import Discard, refusal_answer


class RecordingTransport(asyncio.Transport):
    """What a protocol wrote and whether (and how often) it closed the transport."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closes, "written after close"
        self.written += bytes(data)

    def close(self) -> None:
        self.closes += 1

    def is_closing(self) -> bool:
        return self.closes > 0


async def closed_within(transport: RecordingTransport, bound: float = 10.0) -> bool:
    """Whether ``transport`` is closed before ``bound`` seconds (a hang's bound, not a timing)."""
    deadline = asyncio.get_running_loop().time() + bound
    while not transport.is_closing() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)
    return transport.is_closing()


def test_the_refusal_answer_is_one_whole_http_answer_that_closes_the_connection() -> None:
    answer = refusal_answer(403, {"error": "forbidden", "reason": "certificate_revoked"}, [("X-Reason", "r")])
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 403 Forbidden"
    assert {"content-type: application/json", "connection: close", "X-Reason: r"} <= set(lines[1:])
    assert f"content-length: {len(body)}" in lines
    assert json.loads(body) == {"error": "forbidden", "reason": "certificate_revoked"}


def test_what_the_client_sends_is_dropped_until_it_closes() -> None:
    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        discard = Discard(transport, b"answer", seconds=60, total=60)
        assert transport.written == b"answer" and not transport.is_closing()
        discard.received(b"GET / HTTP/1.1\r\n\r\n")
        assert transport.written == b"answer" and not transport.is_closing()  # dropped, nothing answered
        discard.close()  # the client's EOF
        discard.close()  # and the connection lost after it
        return transport

    transport = asyncio.run(run())
    assert transport.closes == 1


def test_a_silent_client_is_closed_after_the_idle_wait() -> None:
    async def run() -> bool:
        transport = RecordingTransport()
        Discard(transport, b"answer", seconds=0.01, total=60)
        return await closed_within(transport)

    assert asyncio.run(run())


def test_a_client_that_keeps_sending_is_closed_past_the_byte_bound_or_the_total_time() -> None:
    async def by_bytes() -> RecordingTransport:
        transport = RecordingTransport()
        discard = Discard(transport, b"answer", seconds=60, limit=100, total=60)
        discard.received(b"x" * 99)
        assert not transport.is_closing()
        discard.received(b"x")
        return transport

    assert asyncio.run(by_bytes()).closes == 1

    async def by_time() -> bool:
        transport = RecordingTransport()
        discard = Discard(transport, b"answer", seconds=60, total=0.05)
        for _ in range(2000):  # a byte at a time, each resetting the idle wait but not the total (bounds a hang)
            if transport.is_closing():
                break
            discard.received(b"x")
            await asyncio.sleep(0.005)
        return transport.is_closing()

    assert asyncio.run(by_time())
