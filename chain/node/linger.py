"""Closing a connection refused once its TLS handshake is done, so that the refusal written to it arrives.

The node's servers (its JSON-RPC, its peer routes) answer a client whose certificate they refuse as soon as the
handshake is done, before reading any request. The client has usually sent its request by then: closing a socket
with unread data in it resets the connection, and the client may lose the answer. :func:`discard_until_closed`
reads and drops, unparsed, what the client sends until it closes (it has read the answer, ``Connection: close``),
a short while passes without a byte, or a bound is reached.
"""

from __future__ import annotations

import contextlib
import socket

#: Largest number of bytes dropped from a refused client.
DISCARD_LIMIT = 5 * 1024 * 1024


def discard_until_closed(sock: socket.socket, seconds: float = 1.0, limit: int = DISCARD_LIMIT) -> None:
    """Read and drop what the peer of ``sock`` sends until it closes, ``seconds`` pass without a byte, or ``limit``
    bytes came."""
    with contextlib.suppress(OSError):  # ssl.SSLError and timeouts included: the peer may end as it likes
        sock.settimeout(seconds)
        received = 0
        while received < limit:
            chunk = sock.recv(65536)
            if not chunk:
                return
            received += len(chunk)
