"""The notary's FastAPI app, put together from its routers, and ``run``: the app served by uvicorn."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from notary.api import operations, reads, tiles, write
from notary.api.errors import ERROR_RESPONSES, notary_error
from notary.errors import NotaryError
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
    app.add_exception_handler(NotaryError, notary_error)
    for router in (write.router, tiles.router, reads.router, operations.router):
        app.include_router(router, responses=ERROR_RESPONSES)
    return app


def run(settings: NotarySettings, host: str, port: int, access: ReadAccess | None = None) -> None:
    """Serve a notary built from ``settings`` until interrupted, its checkpoint and anchor loops running; reads
    checked by ``access`` when given (``create_app``)."""
    service = NotaryService(settings)
    service.start()
    try:
        uvicorn.run(create_app(service, access), host=host, port=port, log_level="warning", access_log=False)
    finally:
        service.stop()
