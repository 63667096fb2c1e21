"""The notary API's FastAPI dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from notary.service import NotaryService


async def _service(request: Request) -> NotaryService:  # async: resolved on the event loop, no thread hop
    service: NotaryService = request.app.state.service
    return service


#: The service the app was built around (``create_app``).
Service = Annotated[NotaryService, Depends(_service)]
