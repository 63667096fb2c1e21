"""A route's JSON answer checked against its model and written in the route's own thread (``ModelAnswer``).

The notary's evidence route and the explorer's provenance and call search use it (docs/notary.md, "Evidence
bundles"): a sync FastAPI route returning a dict has FastAPI validate it in a second worker-thread hop after the
route's, which costs more CPU than the validation itself. A route returning this ``Response`` keeps its
``response_model`` for the OpenAPI document only.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.exceptions import ResponseValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError


class ModelAnswer:
    """A route's JSON body checked against ``model`` and written as FastAPI writes a ``response_model`` answer
    (the same pydantic validation and ``dump_json``, so the same bytes; with ``exclude_unset`` as a route with
    ``response_model_exclude_unset``). A body the model refuses is FastAPI's ``ResponseValidationError`` (a 500),
    as when FastAPI checks it."""

    def __init__(self, model: type[BaseModel], *, exclude_unset: bool = False) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(model)
        self.exclude_unset = exclude_unset

    def __call__(self, body: Any) -> Response:
        try:
            value = self.adapter.validate_python(body, from_attributes=True)
        except ValidationError as exc:
            raise ResponseValidationError(exc.errors(include_url=False), body=body) from None
        written = self.adapter.dump_json(value, by_alias=True, exclude_unset=self.exclude_unset)
        return Response(written, media_type="application/json")
