"""The log as C2SP tlog-tiles serves it: ``/checkpoint`` (text) and ``/tile/...`` (binary hash tiles and entry
bundles). Full tiles never change, so they are cached for a year; partial tiles and the checkpoint are not."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from notary.api.deps import Service
from notary.errors import NotFoundError
from notary.log.tiles import TILE_WIDTH, EntriesAddress, parse_tile_path

router = APIRouter(tags=["tlog-tiles"])

_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@router.get(
    "/checkpoint",
    summary="The latest published checkpoint: a cosigned note (C2SP tlog-checkpoint)",
    response_class=PlainTextResponse,
)
def checkpoint(service: Service) -> Response:
    row = service.store.latest_checkpoint(published=True)
    if row is None or row.cosigned is None:
        raise NotFoundError("no checkpoint has been published yet (witness policy not met so far)")
    return Response(row.cosigned, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get(
    "/tile/{path:path}",
    summary="Hash tiles and entry bundles (C2SP tlog-tiles)",
    response_class=Response,
    responses={200: {"content": _BINARY, "description": "The tile's hashes, or the bundle's entries"}},
)
def tile(service: Service, path: str) -> Response:
    address = parse_tile_path("tile/" + path)
    if isinstance(address, EntriesAddress):
        data = service.reader.entry_bundle(address.index, address.width)
    else:
        data = service.reader.tile(address.level, address.index, address.width)
    cache = "public, max-age=31536000, immutable" if address.width == TILE_WIDTH else "no-cache"
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})
