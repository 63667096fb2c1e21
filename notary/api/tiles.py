"""The log as C2SP tlog-tiles serves it: ``/checkpoint`` (text) and ``/tile/...`` (binary hash tiles and entry
bundles). Full tiles never change, so they are cached for a year; partial tiles and the checkpoint are not.

When the app authenticates reads (``notary.readauth``), the checkpoint and hash tiles need a member's or a
witness's credentials (401 without), and entry bundles, which hold many firms' entries, are for regulators and
trusted readers (the explorer) only (403). Tiles are then cached ``private``: a shared cache must not hand them
to someone without credentials."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from notary.api.deps import Reading
from notary.errors import NotFoundError
from notary.log.tiles import TILE_WIDTH, EntriesAddress, parse_tile_path
from notary.readauth import ForbiddenReadError

router = APIRouter(tags=["tlog-tiles"])

_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@router.get(
    "/checkpoint",
    summary="The latest published checkpoint: a cosigned note (C2SP tlog-checkpoint)",
    response_class=PlainTextResponse,
)
def checkpoint(read: Reading) -> Response:
    row = read.service.store.latest_checkpoint(published=True)
    if row is None or row.cosigned is None:
        raise NotFoundError("no checkpoint has been published yet (witness policy not met so far)")
    return Response(row.cosigned, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})


@router.get(
    "/tile/{path:path}",
    summary="Hash tiles and entry bundles (C2SP tlog-tiles)",
    response_class=Response,
    responses={200: {"content": _BINARY, "description": "The tile's hashes, or the bundle's entries"}},
)
def tile(read: Reading, path: str) -> Response:
    service, reader = read
    address = parse_tile_path("tile/" + path)
    if isinstance(address, EntriesAddress):
        if reader is not None and not reader.may_read_bundles():
            raise ForbiddenReadError(
                f"entry bundles hold every firm's entries: {reader.name} may read its own events by id "
                "(/v1/entries/<event id>), bundles are for regulators and the explorer"
            )
        data = service.reader.entry_bundle(address.index, address.width)
    else:
        data = service.reader.tile(address.level, address.index, address.width)
    scope = "public" if reader is None else "private"
    cache = f"{scope}, max-age=31536000, immutable" if address.width == TILE_WIDTH else "no-cache"
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})
