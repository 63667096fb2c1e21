"""Closing a connection refused once its TLS handshake is done, so that the refusal written to it arrives.

Our mutual-TLS servers (a node's JSON-RPC and peer routes, the notary's HTTPS, the gateways) answer a client whose
certificate they refuse as soon as the handshake is done, before reading any request. The client has usually sent
its request by then: closing a socket with unread data in it resets the connection, and the client may lose the
answer. :class:`Discard` (an asyncio transport, the notary's and the gateways') and
``chain.node.connections.PooledHandler.linger`` (the node's servers, the witness, the alarm endpoint: the
connection waits in the pool's watcher, holding no thread) read and drop, unparsed, what the client sends until it
closes (it has read the answer, ``Connection: close``), a short while passes without a byte, or a bound of bytes
or of time is reached. :func:`refusal_answer` is the whole HTTP answer such a server writes first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, cast

#: Largest number of bytes dropped from a refused client.
DISCARD_LIMIT = 5 * 1024 * 1024
#: Longest time spent dropping what a refused client sends.
DISCARD_SECONDS = 5.0


def refusal_answer(status: int, body: Mapping[str, Any], headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The whole HTTP/1.1 answer of a connection refused at the handshake: ``status``, ``headers``, ``body`` as
    JSON, and ``Connection: close``."""
    data = json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "content-type: application/json",
             f"content-length: {len(data)}", "connection: close", *(f"{k}: {v}" for k, v in headers)]  # fmt: skip
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + data


class Discard:
    """For an asyncio transport: write ``answer`` to ``transport``, then drop what the
    protocol hands to :meth:`received` until the peer closes (:meth:`close` from ``eof_received``), ``seconds``
    pass without a byte, ``limit`` bytes came or ``total`` seconds passed in all; then close the transport."""

    def __init__(
        self,
        transport: asyncio.BaseTransport,
        answer: bytes,
        seconds: float = 1.0,
        limit: int = DISCARD_LIMIT,
        total: float = DISCARD_SECONDS,
    ) -> None:
        # asyncio's or uvloop's TLS transport (uvloop's are not registered as asyncio's classes)
        self._transport = cast(asyncio.WriteTransport, transport)
        self._seconds = seconds
        self._left = limit
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(seconds, self.close)
        self._total = loop.call_later(total, self.close)
        self._transport.write(answer)

    def received(self, data: bytes) -> None:
        """Drop ``data``, unparsed; close once the bound of bytes is passed."""
        self._left -= len(data)
        self._idle.cancel()
        if self._left <= 0:
            self.close()
        elif not self._transport.is_closing():
            self._idle = asyncio.get_running_loop().call_later(self._seconds, self.close)

    def close(self) -> None:
        """Close the transport (what was written is sent first) and stop the timers; again does nothing."""
        self._idle.cancel()
        self._total.cancel()
        if not self._transport.is_closing():
            self._transport.close()
