"""The client certificate of a TLS connection, handed to the app as the ASGI TLS extension says, and refused at
the handshake when the server's verdict says so.

uvicorn terminates TLS but does not put the peer's certificate in the request's scope. :class:`PeerCertificateH11`
is its h11 protocol with two additions. When a connection is made (the handshake done: OpenSSL has checked the
certificate's issuer against the trust store of the server's context, the member CAs, and nothing else), the
certificate the client presented is read from the TLS object and, when the protocol has a :attr:`gate`, put to
it: a refusal answers 403 with ``{"error": ...}`` saying why at once and closes the connection there, before any
request of it is read (what the client sends meanwhile is dropped unparsed, ``chain.node.linger.Discard``), with a
log line (a revoked, expired
or not yet valid certificate, a removed or suspended member). Otherwise the certificate is put,
as PEM, in ``scope["extensions"]["tls"]["client_cert_chain"]`` of every request on that connection, and the gate
is asked again at each request, so that a certificate revoked while its connection is open is refused from its
next request (403, ``{"error": ...}``, and the connection closed) whether it reads or writes.
``notary.api.deps.client_certificate`` reads the certificate there, and ``notary.readauth`` checks it
(``CertificateCheck``). Give it to uvicorn through ``notary.api.app.tls_options``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

from chain.node.linger import Discard, refusal_answer

Scope = dict[str, Any]
#: The certificate's DER -> why its connection is refused ("reason: detail"), or None.
Gate = Callable[[bytes], str | None]

log = logging.getLogger("notary.api.tls")


class PeerCertificateH11(H11Protocol):
    """uvicorn's h11 protocol, with the client certificate of the connection in each request's scope, and the
    connection refused when :attr:`gate` refuses that certificate (see the module docstring)."""

    #: None: every certificate OpenSSL accepted goes on to the app.
    gate: ClassVar[Gate | None] = None
    #: What drops the requests of a connection refused at the handshake (None: not refused).
    refused: Discard | None = None

    def data_received(self, data: bytes) -> None:
        if self.refused is None:
            super().data_received(data)
        else:
            self.refused.received(data)

    def eof_received(self) -> None:
        if self.refused is not None:
            self.refused.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused is not None:
            self.refused.close()
        super().connection_lost(exc)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        gate = type(self).gate
        if der and gate is not None:
            refusal = gate(der)
            if refusal is not None:
                # Answered at once, before any request is read: 403 and the reason, the connection closed once the
                # client has read it. What the client sends meanwhile never reaches h11 nor the app (Discard).
                log.warning("TLS connection from %s refused at the handshake: %s", self.client, refusal)
                self.refused = Discard(transport, _refusal(f"client certificate refused: {refusal}"))
                return
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        app = self.app

        async def with_tls(scope: Scope, receive: Any, send: Any) -> None:
            if scope.get("type") == "http" and ssl_object is not None:
                refusal = gate(der) if der and gate is not None else None
                if refusal is not None:
                    log.warning("request %s from %s refused: %s", scope.get("path", "")[:100], self.client, refusal)
                    await _refuse(send, f"client certificate refused: {refusal}")
                    return
                tls = {"client_cert_chain": chain, "client_cert_name": None, "client_cert_error": None,
                       "tls_version": None, "cipher_suite": None, "server_cert": None}  # fmt: skip
                scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
            await app(scope, receive, send)

        self.app = with_tls


def gated(gate: Gate) -> type[PeerCertificateH11]:
    """:class:`PeerCertificateH11` whose connections ``gate`` decides."""
    return type("GatedPeerCertificateH11", (PeerCertificateH11,), {"gate": staticmethod(gate)})


def _refusal(message: str) -> bytes:
    """The whole HTTP answer of a connection refused at the handshake."""
    return refusal_answer(403, {"error": message})


async def _refuse(send: Any, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
