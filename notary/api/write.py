"""``POST /v1/batches``: a gateway submits a signed batch of events and gets their receipts."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from notary.api.deps import Service
from notary.api.schemas import BatchResult
from notary.errors import BatchTooLargeError, SignatureError
from notary.sequencer import MAX_BATCH_BYTES

router = APIRouter(tags=["write"])


@router.post(
    "/v1/batches",
    summary="Submit a gateway's signed batch of events",
    response_class=JSONResponse,
    responses={200: {"model": BatchResult, "description": "The receipts of the batch's events"}},
)
async def submit_batch(
    service: Service,
    request: Request,
    consortium_gateway: Annotated[str, Header(max_length=80)],
    consortium_signature: Annotated[str, Header(max_length=100)],
) -> Response:
    # the body is read here, capped, rather than by a model: it is signed bytes, verified as they came
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

    def submit() -> bytes:  # the bytes JSONResponse would write, by the receipts' own writer, in the same thread
        return service.sequencer.submit(consortium_gateway, bytes(body), signature).to_json_bytes()

    return Response(await run_in_threadpool(submit), media_type=JSONResponse.media_type)
