"""The one place the notary's errors become HTTP statuses.

Malformed event → 422 with field errors; other malformed input → 400; bad signature or a read without valid
credentials → 401; unknown gateway or a read the rule forbids → 403; not found → 404; conflict → 409; too large
→ 413; storage full → 507; storage failing → 503; any other NotaryError → 500. The body is
``{"error": message}`` (``schemas.ErrorBody``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

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
)
from notary.event import EventSchemaError
from notary.readauth import ForbiddenReadError, UnauthenticatedError

#: First match wins: subclasses before their bases.
STATUS: list[tuple[type[NotaryError], int]] = [
    (EventSchemaError, 422),
    (SignatureError, 401),
    (UnauthenticatedError, 401),
    (ForbiddenReadError, 403),
    (UnknownGatewayError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (BatchTooLargeError, 413),
    (StorageFullError, 507),
    (StoreError, 503),
    (MalformedError, 400),
]


#: For the OpenAPI description of every route: a refusal's body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "Refused: what was wrong and what to do"},
    "5XX": {"model": ErrorBody, "description": "The notary's storage is failing or full"},
}


def status_of(exc: NotaryError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


async def notary_error(_: Request, exc: Exception) -> JSONResponse:
    """The exception handler of every NotaryError a route lets through."""
    assert isinstance(exc, NotaryError), "installed for NotaryError only"
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, EventSchemaError):
        body["detail"] = exc.errors
    return JSONResponse(body, status_code=status_of(exc))
