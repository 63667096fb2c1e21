"""httpx clients whose kept-alive connections follow the certificate files of their TLS context.

A :class:`chain.tlsfiles.ReloadingContext` presents a certificate re-issued in its files (``consortium identity
rotate-ca``) from the next connection it makes. A client that keeps its connections alive makes none while they
last, so it would go on presenting the certificate of before, and once that one is no longer valid (the old CA's
end, ``--overlap-blocks`` after the rotation) every request on them would be refused by a node or a notary serving
members only, until the server closed them. :func:`tls_client` gives such a client a transport that asks the
context before each request whether it loaded its files again (a look at most once a second, as the context's own)
and, once it did, sends from then on over a pool of new connections, which present the new certificate. The pool of
before is closed at the next renewal or with the client, not at once: a request another thread has in flight on it
ends as it began.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx

from chain.tlsfiles import ReloadingContext

__all__ = ["DEFAULT_LIMITS", "RenewingTransport", "tls_client"]

#: httpx's own default limits, which a client given a transport of its own does not apply by itself.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class RenewingTransport(httpx.BaseTransport):
    """httpx's transport over ``context``, its connection pool made anew when the context loaded its files again."""

    def __init__(self, context: ReloadingContext, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        self._context, self._limits = context, limits
        self._lock = threading.Lock()
        self._generation = context.generation()
        self._pool = self._new_pool()
        self._retired: httpx.HTTPTransport | None = None
        self.renewals = 0  # how many times the pool was made anew

    def _new_pool(self) -> httpx.HTTPTransport:
        return httpx.HTTPTransport(verify=self._context, limits=self._limits)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            generation = self._context.generation()
            if generation != self._generation:
                retired, self._retired = self._retired, self._pool
                self._pool, self._generation = self._new_pool(), generation
                self.renewals += 1
                if retired is not None:
                    retired.close()
            pool = self._pool
        return pool.handle_request(request)

    def close(self) -> None:
        with self._lock:
            pools = [self._pool, self._retired]
            self._retired = None
        for pool in pools:
            if pool is not None:
                pool.close()


def tls_client(verify: ssl.SSLContext | bool, *, limits: httpx.Limits = DEFAULT_LIMITS, **kwargs: Any) -> httpx.Client:
    """``httpx.Client(verify=verify, limits=limits, **kwargs)``; over a :class:`ReloadingContext`, with a
    :class:`RenewingTransport` (module docstring)."""
    if isinstance(verify, ReloadingContext):
        return httpx.Client(transport=RenewingTransport(verify, limits), **kwargs)
    return httpx.Client(verify=verify, limits=limits, **kwargs)
