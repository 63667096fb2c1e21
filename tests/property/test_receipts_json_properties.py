"""The notary's answer to a batch written by its own writer (``BatchResult.to_json_bytes``, receipts by
``notary.receipt.receipts_json``) is, byte for byte, what FastAPI's ``JSONResponse`` writes for ``to_json()``: the
reference the API answered with before, and the shape the OpenAPI document and every client read."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from notary.log.hashing import SHA256, SM3
from notary.receipt import BatchStatement, Receipt, batch_receipts, receipts_json
from notary.sequencer import BatchResult

# origins and event ids as the schema allows them, and beyond: quotes, backslashes, controls, non-ASCII
texts = st.text(min_size=1, max_size=24)
digests = st.binary(min_size=32, max_size=32)


def note_of(origin: str, first: int, count: int, root: bytes, time_ms: int) -> bytes:
    statement = BatchStatement(origin, first, count, root, time_ms, 60)
    return (statement.to_text() + "\n— notary.example/log AAAA\n").encode("utf-8")  # a signature line, not checked


@st.composite
def batches(draw: st.DrawFn) -> BatchResult:
    """One or two batches' receipts (a batch's answer holds the first receipt again for a duplicate), with the
    gaps and counts of any answer."""
    receipts: list[Receipt] = []
    for _ in range(draw(st.integers(0, 2))):
        origin, first = draw(texts.filter(lambda s: "\n" not in s)), draw(st.integers(0, 2**40))
        ids = draw(st.lists(texts, min_size=1, max_size=9))
        leaves = draw(st.lists(digests, min_size=len(ids), max_size=len(ids)))
        note = note_of(origin, first, len(ids), draw(digests), draw(st.integers(0, 2**53)))
        tree = draw(st.sampled_from([SHA256, SM3]))
        receipts += batch_receipts(ids, first, leaves, note, tree)
    gaps = draw(st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)), max_size=3))
    return BatchResult(receipts, draw(st.integers(0, 1000)), draw(st.integers(0, 1000)), gaps)


@settings(max_examples=300, deadline=None)
@given(batches())
def test_the_batch_answer_is_what_json_response_writes(result: BatchResult) -> None:
    written = result.to_json_bytes()
    assert written == JSONResponse(result.to_json()).body
    assert json.loads(written) == result.to_json()


def test_no_receipt_is_an_empty_array() -> None:
    assert receipts_json([]) == b"[]"
    assert BatchResult([], 0, 3).to_json_bytes() == b'{"new":0,"duplicates":3,"gaps":[],"receipts":[]}'
