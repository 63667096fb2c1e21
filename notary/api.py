"""The notary's HTTP API: gateways submit signed batches; anyone reads the log (C2SP tlog-tiles) and proofs.

Write: ``POST /v1/batches`` with headers ``Consortium-Gateway: <org>/<name>`` and ``Consortium-Signature:
<base64 Ed25519 signature over "consortium-ledger/batch/v1\\n" ‖ body>``. Read: ``/checkpoint``, ``/tile/...``
and ``/tile/entries/...`` exactly as C2SP tlog-tiles lays them out, plus JSON for receipts, proofs,
checkpoints, anchors, gaps and alarms. OpenAPI at ``/openapi.json``.

Statuses are chosen here and only here: malformed event → 422 with field errors; other malformed input → 400;
bad signature → 401; unknown gateway → 403; not found → 404; conflict → 409; too large → 413; storage full →
507; storage failing → 503.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

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
from notary.event import EventSchemaError, parse_entry
from notary.log.hashing import hash_leaf
from notary.log.tiles import EntriesAddress, parse_tile_path
from notary.sequencer import MAX_BATCH_BYTES
from notary.service import NotaryService

_STATUS: list[tuple[type[Exception], int]] = [
    (EventSchemaError, 422),
    (SignatureError, 401),
    (UnknownGatewayError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (BatchTooLargeError, 413),
    (StorageFullError, 507),
    (StoreError, 503),
    (MalformedError, 400),
]
_MAX_PAGE = 1000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def create_app(service: NotaryService) -> FastAPI:
    app = FastAPI(
        title="Consortium Ledger notary",
        version="1",
        description="Witnessed, anchored audit log of shared-service calls (RFC 9162, C2SP tlog-tiles).",
    )

    @app.exception_handler(NotaryError)
    async def notary_error(_: Request, exc: NotaryError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        body: dict[str, Any] = {"error": str(exc)}
        if isinstance(exc, EventSchemaError):
            body["detail"] = exc.errors
        return JSONResponse(body, status_code=status)

    @app.post("/v1/batches", tags=["write"], summary="Submit a gateway's signed batch of events")
    async def submit_batch(
        request: Request,
        consortium_gateway: Annotated[str, Header(max_length=80)],
        consortium_signature: Annotated[str, Header(max_length=100)],
    ) -> JSONResponse:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BATCH_BYTES):
            raise BatchTooLargeError(f"batch body over the limit of {MAX_BATCH_BYTES} bytes; split it")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BATCH_BYTES:
                raise BatchTooLargeError(f"batch body over the limit of {MAX_BATCH_BYTES} bytes; split it")
        try:
            signature = base64.b64decode(consortium_signature, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("Consortium-Signature must be the base64 of a 64-byte Ed25519 signature") from None
        result = await run_in_threadpool(service.sequencer.submit, consortium_gateway, bytes(body), signature)
        return JSONResponse(result.to_json())

    @app.get("/checkpoint", tags=["tlog-tiles"], response_class=PlainTextResponse)
    def checkpoint() -> Response:
        row = service.store.latest_checkpoint(published=True)
        if row is None or row.cosigned is None:
            raise NotFoundError("no checkpoint has been published yet (witness policy not met so far)")
        return Response(row.cosigned, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @app.get("/tile/{path:path}", tags=["tlog-tiles"], summary="Hash tiles and entry bundles (C2SP tlog-tiles)")
    def tile(path: str) -> Response:
        address = parse_tile_path("tile/" + path)
        if isinstance(address, EntriesAddress):
            data = service.reader.entry_bundle(address.index, address.width)
        else:
            data = service.reader.tile(address.level, address.index, address.width)
        immutable = address.width == 256
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})

    @app.get("/v1/receipts/{event_id}", tags=["read"])
    def receipt(event_id: str) -> dict[str, Any]:
        return service.sequencer.receipt(event_id).to_json()

    @app.get("/v1/entries/{event_id}", tags=["read"])
    def entry(event_id: str) -> dict[str, Any]:
        row = service.store.entries_by_id([event_id]).get(event_id)
        if row is None:
            raise NotFoundError(f"no event {event_id!r} in the log")
        return {
            "index": row.index,
            "entry": _b64(row.data),
            "leaf_hash": _b64(hash_leaf(row.data)),
            "event": parse_entry(row.data),
        }

    @app.get("/v1/proofs/inclusion", tags=["read"], summary="Inclusion proof of an event in a published checkpoint")
    def inclusion(
        event_id: Annotated[str | None, Query(max_length=64)] = None,
        index: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
        size: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
    ) -> dict[str, Any]:
        if (event_id is None) == (index is None):
            raise MalformedError("give exactly one of event_id or index")
        if event_id is not None:
            row = service.store.entries_by_id([event_id]).get(event_id)
            if row is None:
                raise NotFoundError(f"no event {event_id!r} in the log")
            index = row.index
        assert index is not None
        cp = service.checkpoint_for(index, size)
        proof = service.reader.inclusion(index, cp.size)
        found = service.store.entry(index)
        assert found is not None
        return {
            "index": index,
            "size": cp.size,
            "leaf_hash": _b64(hash_leaf(found.data)),
            "proof": [_b64(h) for h in proof],
            "root": _b64(cp.root),
            "checkpoint": (cp.cosigned or b"").decode("utf-8"),
        }

    @app.get("/v1/proofs/consistency", tags=["read"])
    def consistency(
        first: Annotated[int, Query(alias="from", ge=0, lt=2**63)],
        second: Annotated[int, Query(alias="to", ge=0, lt=2**63)],
    ) -> dict[str, Any]:
        proof = service.reader.consistency(first, second)
        return {"from": first, "to": second, "proof": [_b64(h) for h in proof]}

    @app.get("/v1/checkpoints", tags=["read"], summary="Published checkpoints in size order")
    def checkpoints(
        after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
        limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        rows = service.store.checkpoints(after, limit)
        return {
            "checkpoints": service.checkpoints_json(rows),
            "next": rows[-1].size if len(rows) == limit else None,
        }

    @app.get("/v1/checkpoints/{size}", tags=["read"])
    def checkpoint_at(size: int) -> dict[str, Any]:
        row = service.store.checkpoint(size)
        if row is None or row.cosigned is None:
            raise NotFoundError(f"no published checkpoint of size {size}")
        return service.checkpoints_json([row])[0]

    @app.get("/v1/anchors", tags=["read"], summary="Anchors in size order, a page at a time")
    def anchors(
        after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
        limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = _MAX_PAGE,
    ) -> dict[str, Any]:
        rows = service.store.anchors(after=after, limit=limit)
        return {
            "anchors": [{k: v for k, v in r.items() if k != "raw_tx"} for r in rows],
            "next": rows[-1]["size"] if len(rows) == limit else None,
        }

    @app.get("/v1/gaps", tags=["read"], summary="Missing gateway sequence numbers")
    def gaps() -> dict[str, Any]:
        return {
            "gaps": [{"gateway": g, "first": a, "last": b, "found_ms": t} for g, a, b, t in service.store.gaps()],
            "last_seq": service.sequencer.last_seqs(),
        }

    @app.get("/v1/alarms", tags=["read"])
    def alarms() -> dict[str, Any]:
        return {"alarms": service.store.alarms()}

    @app.get("/v1/evidence/{event_id}", tags=["read"], summary="Evidence bundle of one event, to verify offline")
    def evidence(event_id: str) -> dict[str, Any]:
        return service.evidence(event_id)

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, Any]:
        return service.health()

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics() -> str:
        return service.metrics_text()

    return app
