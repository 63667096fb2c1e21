"""The notary API's FastAPI dependencies, as ``Annotated`` aliases: the service, and for a read the service and its
reader."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import Depends, Request

from notary.errors import NotFoundError
from notary.readauth import ReadAccess, Reader
from notary.service import NotaryService


async def _service(request: Request) -> NotaryService:  # async: resolved on the event loop, no thread hop
    service: NotaryService = request.app.state.service
    return service


#: The service the app was built around (``create_app``).
Service = Annotated[NotaryService, Depends(_service)]


class Read(NamedTuple):
    """What a read route is given: the service the app was built around, and who reads (``None`` when the app
    authenticates no reads, ``create_app`` without ``access``: the log open to whoever reaches it)."""

    service: NotaryService
    reader: Reader | None


async def read(request: Request) -> Read:
    """The service and the authenticated reader of ``request``, in one dependency: FastAPI's machinery costs about
    7 µs of CPU a dependency a request, and every read needs both."""
    state = request.app.state
    access: ReadAccess | None = state.access
    if access is None:
        return Read(state.service, None)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    reader = access.authenticate(request.method, target, request.headers, client_certificate(request))
    return Read(state.service, reader)


def client_certificate(request: Request) -> str | None:
    """The PEM client certificate the request's TLS connection presented (the ASGI TLS extension's
    ``client_cert_chain``, which ``notary.api.tlspeer`` fills in), or None."""
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or ()
    return str(chain[0]) if chain else None


#: The service and who reads (``notary.readauth``): 401 before the route runs (and before its parameters are
#: checked) when the credentials are missing or wrong.
Reading = Annotated[Read, Depends(read)]


def check_event(reader: Reader | None, event_id: str, parties: tuple[str, ...] | None) -> None:
    """404 for a missing event (``parties`` ``None``) and, the same, for one ``reader`` is not a party to."""
    if parties is None or (reader is not None and not reader.may_read_event(parties)):
        raise NotFoundError(f"no event {event_id!r} in the log")
