"""How the explorer's errors become HTTP answers: the one place where status codes are chosen.

Every refusal has the same body, ``{"error": <code>, "detail": <sentence>}``; an invalid parameter adds
``errors`` (at most ten, each ``{loc, msg}``). :func:`answer` serves both the exception handlers that
:func:`install` registers on the app and the gatekeeper middleware, which answers before any route runs.
A login refused is a 401 whose code is the login's reason, with a ``WWW-Authenticate`` challenge. Routing's own
refusals have the same body: an unknown path is a 404 ``not_found``; a method the path does not support (``PUT``,
``DELETE``, ``TRACE``...) is a 405 ``method_not_allowed`` whose ``Allow`` header names the methods it does.
:data:`RESPONSES` (every ``/api`` route), :data:`CURSOR` and :data:`NOTARY` document these in the OpenAPI
document, each with :class:`~explorer.api.schemas.ErrorBody`, the one body every refusal has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from explorer.api.schemas import ErrorBody
from explorer.errors import (
    ApiError,
    AuditUnavailableError,
    BodyTooLargeError,
    ChainUnavailableError,
    IndexUnavailableError,
    InvalidCursorError,
    InvalidParameterError,
    MalformedEvidenceError,
    NotaryAnswerError,
    NotaryUnavailableError,
    NotFoundError,
    RateLimitedError,
    ReadOnlyError,
)
from network.logins import LoginError

#: Each request error's HTTP status and the code its body names.
STATUS: dict[type[ApiError], tuple[int, str]] = {
    InvalidCursorError: (400, "invalid_cursor"),
    ReadOnlyError: (403, "read_only"),
    NotFoundError: (404, "not_found"),
    BodyTooLargeError: (413, "too_large"),
    InvalidParameterError: (422, "invalid_parameter"),
    RateLimitedError: (429, "rate_limited"),
    NotaryAnswerError: (502, "notary_error"),
    MalformedEvidenceError: (502, "notary_error"),
    NotaryUnavailableError: (503, "notary_unavailable"),
    AuditUnavailableError: (503, "audit_unavailable"),
    IndexUnavailableError: (503, "index_unavailable"),
    ChainUnavailableError: (503, "chain_unavailable"),
}
#: The refusals any ``/api`` route may answer, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No login, or one refused (the code says why; `WWW-Authenticate`)"},
    404: {"model": ErrorBody, "description": "No such object, or one the person may not see"},
    413: {"model": ErrorBody, "description": "A request body over the limit (`too_large`)"},
    422: {"model": ErrorBody, "description": "An invalid parameter (`invalid_parameter`, each one in `errors`)"},
    429: {"model": ErrorBody, "description": "The firm's rate limit (`Retry-After`)"},
    503: {
        "model": ErrorBody,
        "description": "Queries cannot be recorded, or the notary, the call index's database or the chain cannot "
        "be reached",
    },
}
#: The refusal of a route that takes a ``cursor``.
CURSOR: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A cursor this explorer did not issue, or one of another query"},
}
#: The refusal of a route that answers what the notary sent.
NOTARY: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "The notary answered with an error or a malformed bundle"},
}
#: Seconds a client is asked to wait while queries cannot be recorded.
AUDIT_RETRY_AFTER = 5
_REALM = "consortium-explorer"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)


def answer(exc: ApiError | LoginError) -> Answer:
    """The HTTP answer to ``exc``."""
    if isinstance(exc, LoginError):
        challenge = f'Bearer realm="{_REALM}", error="invalid_token", error_description="{exc.reason}"'
        return Answer(401, {"error": exc.reason, "detail": exc.detail}, [("www-authenticate", challenge)])
    status, code = next((STATUS[k] for k in type(exc).__mro__ if k in STATUS), (500, "error"))
    headers: list[tuple[str, str]] = []
    if isinstance(exc, RateLimitedError):
        headers.append(("retry-after", str(exc.retry_after)))
    elif isinstance(exc, AuditUnavailableError | IndexUnavailableError):
        headers.append(("retry-after", str(AUDIT_RETRY_AFTER)))
    return Answer(status, {"error": code, "detail": exc.detail}, headers)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    found = answer(exc)
    return JSONResponse(found.body, status_code=found.status, headers=dict(found.headers) or None)


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()][:10]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return JSONResponse({"error": "invalid_parameter", "detail": detail, "errors": errors}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    if exc.status_code == 405:
        detail = f"{request.method[:16]} is not supported here; this path answers {headers.get('Allow', '')}"
    elif exc.status_code == 404:
        detail = f"no route {request.url.path[:200]}; the API is described at /openapi.json"
    else:
        detail = str(exc.detail)
    return JSONResponse({"error": code, "detail": detail}, status_code=exc.status_code, headers=headers or None)


def install(app: FastAPI) -> None:
    """Register the handlers of the explorer's errors, invalid parameters and routing errors on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
