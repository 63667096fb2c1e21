"""The notary's FastAPI app, put together from its routers, and ``run``: the app served by uvicorn."""

from __future__ import annotations

import ssl
from typing import Any

import uvicorn
from fastapi import FastAPI

from notary.api import errors, operations, reads, security, tiles, write
from notary.api.tlspeer import Gate
from notary.readauth import ReadAccess
from notary.service import NotaryService, NotarySettings


def create_app(service: NotaryService, access: ReadAccess | None = None) -> FastAPI:
    """The API of ``service`` (started and stopped by the caller). With ``access`` every read is authenticated
    and filtered by the rule of ``notary.readauth``; without it the log is open to whoever reaches it."""
    app = FastAPI(
        title="Consortium Ledger notary",
        version="1",
        description="Witnessed, anchored audit log of shared-service calls (RFC 9162, C2SP tlog-tiles).",
    )
    app.state.service = service
    app.state.access = access
    errors.install(app)
    app.include_router(write.router, responses=errors.error_responses(errors.WRITE_STATUSES))
    app.include_router(reads.router, responses=errors.error_responses(errors.READ_STATUSES))
    # text and bytes: the refusals are still JSON (ErrorBody is in the document through the routes above)
    app.include_router(tiles.router, responses=errors.error_responses(errors.READ_STATUSES, json_route=False))
    app.include_router(operations.router, responses=errors.error_responses((503,), json_route=False))
    if access is not None:  # the document says how to authenticate; an open notary asks for nothing
        routes = [*reads.router.routes, *tiles.router.routes, *operations.router.routes]
        security.declare(app, routes, certificates=access.accepts_certificates)
    return app


def run(
    settings: NotarySettings,
    host: str,
    port: int,
    access: ReadAccess | None = None,
    ssl_context: ssl.SSLContext | None = None,
    gate: Gate | None = None,
) -> None:
    """Serve a notary built from ``settings`` until interrupted, its checkpoint and anchor loops running; reads
    checked by ``access`` when given (``create_app``). With ``ssl_context`` (``network.logsetup.notary_tls``) it
    serves HTTPS and hands each connection's client certificate to ``access`` (``tlspeer``), after ``gate``
    (``CallerAuthenticator.handshake_refusal``) let it in at the handshake and at each request."""
    service = NotaryService(settings)
    service.start()
    try:
        uvicorn.run(create_app(service, access), host=host, port=port, log_level="warning", access_log=False,
                    **tls_options(ssl_context, gate))  # fmt: skip
    finally:
        service.stop()


def tls_options(ssl_context: ssl.SSLContext | None, gate: Gate | None = None) -> dict[str, Any]:
    """uvicorn's options serving HTTPS with ``ssl_context`` and the client certificate in each request's scope
    (``tlspeer.PeerCertificateH11``), a connection whose certificate ``gate`` refuses closed at the handshake;
    none for plain HTTP."""
    if ssl_context is None:
        return {}
    from notary.api.tlspeer import PeerCertificateH11, gated

    protocol = PeerCertificateH11 if gate is None else gated(gate)
    return {"http": protocol, "ssl_context_factory": lambda _config, _default: ssl_context}
