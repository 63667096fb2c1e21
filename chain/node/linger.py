"""Closing a connection refused once its TLS handshake is done, so that the refusal written to it arrives.

The node's servers (its JSON-RPC, its peer routes) answer a client whose certificate they refuse as soon as the
handshake is done, before reading any request. The client has usually sent its request by then: closing a socket
with unread data in it resets the connection, and the client may lose the answer. :func:`discard_until_closed`
reads and drops, unparsed, what the client sends until it closes (it has read the answer, ``Connection: close``),
a short while passes without a byte, or a bound of bytes or of time is reached.
"""

from __future__ import annotations

import contextlib
import socket
import time

#: Largest number of bytes dropped from a refused client.
DISCARD_LIMIT = 5 * 1024 * 1024
#: Longest time spent dropping what a refused client sends.
DISCARD_SECONDS = 5.0


def discard_until_closed(
    sock: socket.socket, seconds: float = 1.0, limit: int = DISCARD_LIMIT, total: float = DISCARD_SECONDS
) -> None:
    """Read and drop what the peer of ``sock`` sends until it closes, ``seconds`` pass without a byte, ``limit``
    bytes came, or ``total`` seconds passed in all (a client dripping a byte at a time holds the connection no
    longer than that)."""
    deadline = time.monotonic() + total
    with contextlib.suppress(OSError):  # ssl.SSLError and timeouts included: the peer may end as it likes
        received = 0
        while received < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(min(seconds, left))
            chunk = sock.recv(65536)
            if not chunk:
                return
            received += len(chunk)
