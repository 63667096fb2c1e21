"""The client certificate of a TLS connection, handed to the app as the ASGI TLS extension says.

uvicorn terminates TLS but does not put the peer's certificate in the request's scope. :class:`PeerCertificateH11`
is its h11 protocol with one addition: when a connection is made, the certificate the client presented (already
verified by OpenSSL against the trust store of the server's context: the member CAs) is read from the TLS object
and put, as PEM, in ``scope["extensions"]["tls"]["client_cert_chain"]`` of every request on that connection.
``notary.api.deps.client_certificate`` reads it there, and ``notary.readauth`` checks it (``CertificateCheck``).
Give it to uvicorn as ``http=PeerCertificateH11`` with the server's SSL context.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]


class PeerCertificateH11(H11Protocol):
    """uvicorn's h11 protocol, with the client certificate of the connection in each request's scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        app = self.app

        async def with_tls(scope: Scope, receive: Any, send: Any) -> None:
            if scope.get("type") == "http" and ssl_object is not None:
                tls = {"client_cert_chain": chain, "client_cert_name": None, "client_cert_error": None,
                       "tls_version": None, "cipher_suite": None, "server_cert": None}  # fmt: skip
                scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
            await app(scope, receive, send)

        self.app = with_tls
