"""The explorer's HTTP app: the JSON API under ``/api/v1``, exports, reports, and the web UI at ``/``.

:func:`create_app` assembles one router per resource (``me``, ``members``, ``assets``, ``grants``, ``calls``, ``jobs``,
``exports``, ``reports``, ``chain``, ``log``, ``operations``, ``records``), each route with the response model of
:mod:`explorer.api.schemas` that the OpenAPI document shows. Every ``/api`` request first passes the
gatekeeper (:mod:`explorer.api.middleware`: body limit, login, rate limit, read-only rule, audit of the
query); the OpenAPI document declares that login as the HTTP bearer scheme (:data:`BEARER`) of every ``/api``
route, ``/healthz`` and the UI being public. Routes read what they need through :mod:`explorer.api.deps` and
apply the tenant rules of :mod:`explorer.access`, so what a person may not see is a 404 identical to a missing
object. Errors become HTTP answers in :mod:`explorer.api.errors` only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Security
from fastapi.responses import FileResponse
from fastapi.security import HTTPBearer
from starlette.staticfiles import StaticFiles

from explorer.api import (
    assets,
    calls,
    chain,
    errors,
    exports,
    grants,
    jobs,
    log,
    me,
    members,
    operations,
    records,
    reports,
)
from explorer.api.deps import Explorer
from explorer.api.middleware import API, Gatekeeper, Limits, SecurityHeaders

__all__ = ["API", "Explorer", "Limits", "create_app"]

STATIC = Path(__file__).parent.parent / "static"
#: How every ``/api`` route is authenticated, declared so that the OpenAPI document shows it. The gatekeeper
#: checks the token before any route runs; this dependency only reads the header and refuses nothing.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A login token (`consortium user token`): a JWT carrying the person's certificate, ES256 (SM2SM3 for"
    " an SM2 person of an sm consortium)",
    auto_error=False,
)


def create_app(explorer: Explorer) -> FastAPI:
    """The app serving ``explorer``; routes find it as ``app.state.explorer``."""
    app = FastAPI(
        title="Consortium Ledger explorer",
        version="1",
        description="Provenance of every shared-service call, with proofs anyone can check offline.",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.explorer = explorer
    app.add_middleware(Gatekeeper, auth=explorer.auth, recorder=explorer.recorder, limits=explorer.limits)
    app.add_middleware(SecurityHeaders)  # outermost: also on the gatekeeper's own answers
    errors.install(app)

    api = APIRouter(prefix=API, responses=errors.RESPONSES, dependencies=[Security(BEARER)])
    for module in (me, log, members, assets, grants, calls, jobs, exports, reports, chain, operations, records):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(operations.probe)

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(STATIC / "index.html")

    return app
