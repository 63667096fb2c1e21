"""The one place the notary's errors become HTTP statuses.

Malformed event → 422 with field errors; other malformed input → 400; bad signature or a read without valid
credentials → 401; unknown gateway or a read the rule forbids → 403; not found → 404; conflict → 409; too large →
413; storage full → 507; storage failing, or a replica whose log key the log rotated away from → 503; any other
NotaryError → 500. The body is ``{"error": message}`` (``schemas.ErrorBody``), and so are FastAPI's own refusals,
which :func:`install` rewrites: a query parameter or header that fails its declared type or range → 422 with the
field errors in ``detail``; an unknown path → 404; a method the path does not support → 405 with an ``Allow`` header
naming the ones it does. :func:`error_responses` documents, per route, the statuses it can answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from notary.api.schemas import ErrorBody
from notary.errors import (
    BatchTooLargeError,
    ConflictError,
    MalformedError,
    NotaryError,
    NotFoundError,
    SignatureError,
    StorageFullError,
    StoreError,
    UnknownGatewayError,
    UnprocessableError,
)
from notary.event import EventSchemaError
from notary.logkeys import StaleLogKeyError
from notary.readauth import ForbiddenReadError, UnauthenticatedError

#: First match wins: subclasses before their bases.
STATUS: list[tuple[type[NotaryError], int]] = [
    (EventSchemaError, 422),
    (UnprocessableError, 422),
    (SignatureError, 401),
    (UnauthenticatedError, 401),
    (ForbiddenReadError, 403),
    (UnknownGatewayError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (BatchTooLargeError, 413),
    (StorageFullError, 507),
    (StoreError, 503),
    (StaleLogKeyError, 503),
    (MalformedError, 400),
]


#: What each refusal means, for the OpenAPI description of the routes that can answer it.
MEANING: dict[int, str] = {
    400: "Malformed input: what was wrong and what to do",
    401: "No valid credentials: a batch whose signature does not verify, or a read without a valid signature or login"
    " token when the notary authenticates reads (its security schemes say what to send); `error` says what was"
    " missing or wrong",
    403: "No key registered for that gateway, or a read the reader's role does not allow (entry bundles)",
    404: "No such event, checkpoint, tree size or tile",
    409: "A conflict with what the log already holds",
    413: "The batch body is over the limit",
    422: "A parameter, header or event that fails its declared type or range; `detail` lists the field errors",
    503: "The notary's storage is failing, or this replica holds a log key the log rotated away from (another"
    " replica serves)",
    507: "The notary's storage is full",
}
#: The refusals of the read routes (reads, tiles, operations).
READ_STATUSES = (400, 401, 403, 404, 422, 503)
#: The refusals of ``POST /v1/batches``.
WRITE_STATUSES = (400, 401, 403, 409, 413, 422, 503, 507)


def error_responses(statuses: tuple[int, ...], *, json_route: bool = True) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can refuse with ``statuses``, each with :class:`ErrorBody` as
    JSON. A route answering text or bytes (``json_route=False``) names the schema by reference: given a model,
    FastAPI would document the refusal with the route's own media type, which is not the one sent."""
    if json_route:
        return {status: {"model": ErrorBody, "description": MEANING[status]} for status in statuses}
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {status: {"description": MEANING[status], "content": content} for status in statuses}


def status_of(exc: NotaryError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


async def notary_error(_: Request, exc: Exception) -> JSONResponse:
    """The exception handler of every NotaryError a route lets through."""
    assert isinstance(exc, NotaryError), "installed for NotaryError only"
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, EventSchemaError):
        body["detail"] = exc.errors
    return JSONResponse(body, status_code=status_of(exc))


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """A parameter or header that fails its declaration: the notary's error body, with the field errors."""
    assert isinstance(exc, RequestValidationError), "installed for RequestValidationError only"
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()][:10]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    message = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return JSONResponse({"error": message, "detail": errors}, status_code=422)


async def _routing(request: Request, exc: Exception) -> JSONResponse:
    """An unknown path (404) or a method the path does not support (405, its ``Allow`` header kept)."""
    assert isinstance(exc, StarletteHTTPException), "installed for HTTPException only"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allow = headers.get("Allow", "")
        message = f"{request.method[:16]} is not supported on {request.url.path[:200]}; it answers {allow}"
    elif exc.status_code == 404:
        message = f"no route {request.url.path[:200]}; the API is described at /openapi.json"
    else:
        message = str(exc.detail)
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=headers or None)


def install(app: FastAPI) -> None:
    """Register the handlers of the notary's errors, invalid parameters and routing errors on ``app``."""
    app.add_exception_handler(NotaryError, notary_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _routing)
