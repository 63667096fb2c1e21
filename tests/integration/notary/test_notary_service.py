"""The notary over HTTP with real witnesses: batches → receipts → cosigned checkpoints → proofs and tiles."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from notary.api import create_app
from notary.errors import NotaryError
from notary.log.checkpoint import parse_checkpoint
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import open_note
from notary.log.proof import verify_consistency, verify_inclusion
from notary.log.tiles import parse_entry_bundle
from notary.receipt import Receipt, verify_receipt
from notary.sequencer import batch_request, encode_batch, sign_batch_body
from notary.service import NotaryService
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, ORIGIN, LogWorld

NOW_MS = 1_795_000_000_000


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LogWorld]:
    w = LogWorld(tmp_path)
    yield w
    w.close()


def batch(world: LogWorld, first_seq: int, count: int, prefix: str = "ev") -> tuple[bytes, dict[str, str]]:
    import time

    now = int(time.time() * 1000)
    events = [event(event_id=f"{prefix}-{first_seq + i}", gateway_seq=first_seq + i, time_ms=now) for i in range(count)]
    return batch_request(GATEWAY, events, world.gateway_key)


@pytest.fixture
def notary(world: LogWorld) -> Iterator[tuple[NotaryService, TestClient]]:
    service = world.notary()
    with TestClient(create_app(service)) as client:
        yield service, client
    service.stop()


def open_checkpoint(world: LogWorld, note: bytes) -> tuple[Any, set[str]]:
    opened, _ = open_note(note, [world.log_verifier()])
    checkpoint = parse_checkpoint(opened.text)
    cosigners = set()
    for org, verifier in world.cosigners().items():
        try:
            _, sigs = open_note(note, [verifier])
        except NotaryError:
            continue
        if sigs:
            cosigners.add(org)
    return checkpoint, cosigners


def test_from_batch_to_cosigned_checkpoint_proofs_and_tiles(
    world: LogWorld, notary: tuple[NotaryService, TestClient]
) -> None:
    service, client = notary
    assert client.get("/checkpoint").status_code == 404  # nothing published yet
    body, headers = batch(world, 1, 300)
    response = client.post("/v1/batches", content=body, headers=headers)
    assert response.status_code == 200, response.text
    receipts = [Receipt.from_json(r) for r in response.json()["receipts"]]
    assert [r.index for r in receipts] == list(range(300))
    for r in receipts[:5]:
        verify_receipt(r, world.log_verifier())

    assert service.checkpointer.round() is not None
    note = client.get("/checkpoint").content
    checkpoint, cosigners = open_checkpoint(world, note)
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 300)
    assert cosigners == {"alpha", "beta", "reg"}

    proof = client.get("/v1/proofs/inclusion", params={"event_id": "ev-43"}).json()
    assert proof["index"] == 42 and proof["size"] == 300
    verify_inclusion(
        base64.b64decode(proof["leaf_hash"]), 42, 300, [base64.b64decode(h) for h in proof["proof"]], checkpoint.root
    )

    full = client.get("/tile/0/000")
    assert full.status_code == 200 and full.headers["cache-control"].startswith("public")
    partial = client.get("/tile/0/001.p/44")
    entries = parse_entry_bundle(client.get("/tile/entries/001.p/44").content)
    leaves = [hash_leaf(e) for e in parse_entry_bundle(client.get("/tile/entries/000").content) + entries]
    assert full.content + partial.content == b"".join(leaves)
    assert root_of(leaves) == checkpoint.root
    assert client.get("/tile/0/001.p/45").status_code == 404  # not that wide yet
    assert client.get("/tile/0/001").status_code == 404

    body, headers = batch(world, 301, 10)
    assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
    service.checkpointer.round()
    second, _ = open_checkpoint(world, client.get("/checkpoint").content)
    consistency = client.get("/v1/proofs/consistency", params={"from": 300, "to": 310}).json()
    verify_consistency(300, 310, [base64.b64decode(h) for h in consistency["proof"]], checkpoint.root, second.root)
    listed = client.get("/v1/checkpoints").json()["checkpoints"]
    assert [c["size"] for c in listed] == [300, 310]
    assert client.get("/v1/receipts/ev-8").json() == receipts[7].to_json()
    entry = client.get("/v1/entries/ev-8").json()
    assert entry["index"] == 7 and entry["event"]["gateway_seq"] == 8


def test_http_refusals_answer_with_the_right_status_and_write_nothing(
    world: LogWorld, notary: tuple[NotaryService, TestClient]
) -> None:
    service, client = notary
    body, headers = batch(world, 1, 2)
    assert client.post("/v1/batches", content=body, headers=headers).status_code == 200

    forged = {**headers, "Consortium-Signature": base64.b64encode(b"\0" * 64).decode()}
    assert client.post("/v1/batches", content=body + b" ", headers=forged).status_code == 401
    not_base64 = {**headers, "Consortium-Signature": "%%%"}
    assert client.post("/v1/batches", content=body, headers=not_base64).status_code == 401
    unknown = {**headers, "Consortium-Gateway": "jinghua-sec/gw-1"}
    response = client.post("/v1/batches", content=body, headers=unknown)
    assert response.status_code == 403 and "no gateway key" in response.json()["error"]
    too_big = client.post("/v1/batches", content=b"x" * (16 * 1024 * 1024 + 1), headers=headers)
    assert too_big.status_code == 413

    bad_events = json.loads(encode_batch(GATEWAY, [event(event_id="bad-1", gateway_seq=3, status=9999)]))
    bad_body = json.dumps(bad_events).encode()
    sig = base64.b64encode(sign_batch_body(world.gateway_key, bad_body)).decode()
    response = client.post("/v1/batches", content=bad_body, headers={**headers, "Consortium-Signature": sig})
    assert response.status_code == 422
    assert [tuple(e["loc"]) for e in response.json()["detail"]] == [("events", 0, "status")]

    reused, reused_headers = batch(world, 2, 1, prefix="other")
    assert client.post("/v1/batches", content=reused, headers=reused_headers).status_code == 409
    assert client.post("/v1/batches", content=body).status_code == 422  # headers missing
    assert client.get("/v1/receipts/nope").status_code == 404
    assert client.get("/tile/9/000").status_code == 404
    for bad in ("/tile/0/1", "/tile/0/000.p/0", "/tile/0/000.p/256", "/tile/x/000", "/tile/0/../etc"):
        assert client.get(bad).status_code == 400, bad
    assert client.get("/v1/proofs/inclusion", params={"index": 0}).status_code == 404  # not published yet
    assert client.get("/v1/proofs/inclusion").status_code == 400
    assert client.get("/v1/proofs/consistency", params={"from": 5, "to": 1}).status_code == 400
    assert client.get("/v1/proofs/consistency", params={"from": 1, "to": 2**62}).status_code == 404
    assert service.sequencer.size == 2


def test_below_quorum_nothing_is_published_and_nothing_is_lost(
    world: LogWorld, notary: tuple[NotaryService, TestClient]
) -> None:
    """Failure catalogue 6: only k-1 witnesses up → no checkpoint published, events still sequenced."""
    service, client = notary
    body, headers = batch(world, 1, 5)
    client.post("/v1/batches", content=body, headers=headers)
    assert service.checkpointer.round() is not None
    world.stop_witness("reg")  # the regulator is required
    body, headers = batch(world, 6, 5)
    assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
    assert service.checkpointer.round() is None
    checkpoint, _ = open_checkpoint(world, client.get("/checkpoint").content)
    assert checkpoint.size == 5
    assert service.checkpointer.last_answers["reg"].status == 0
    world.start_witness("reg")
    published = service.checkpointer.round()
    assert published is not None and published.size == 10
    checkpoint, cosigners = open_checkpoint(world, client.get("/checkpoint").content)
    assert checkpoint.size == 10 and "reg" in cosigners


def test_a_notary_whose_history_was_rewritten_is_refused_by_the_witnesses(world: LogWorld, tmp_path: Path) -> None:
    """Failure catalogue 5: the log key signs a tree inconsistent with what the witnesses cosigned → 422 and an
    alarm naming the size, nothing published."""
    first = world.notary()
    with TestClient(create_app(first)) as client:
        body, headers = batch(world, 1, 4)
        client.post("/v1/batches", content=body, headers=headers)
        assert first.checkpointer.round() is not None
    first.stop()
    forked = world.notary(directory=tmp_path / "forked-notary")
    with TestClient(create_app(forked)) as client:
        body, headers = batch(world, 1, 6, prefix="rewritten")
        client.post("/v1/batches", content=body, headers=headers)
        assert forked.checkpointer.round() is None
        assert {a.status for a in forked.checkpointer.last_answers.values()} == {422}
        alarms = client.get("/v1/alarms").json()["alarms"]
        assert alarms and alarms[0]["kind"] == "split-view" and alarms[0]["size"] == 6
        assert client.get("/checkpoint").status_code == 404
    forked.stop()


def test_a_log_never_changes_its_key_or_origin_silently(world: LogWorld) -> None:
    """Failure catalogue 23: a store started under one key refuses another key or origin."""
    world.notary().stop()
    with pytest.raises(NotaryError, match="may not change its origin or key"):
        world.notary(log_key=Ed25519PrivateKey.generate())
    with pytest.raises(NotaryError, match="may not change its origin or key"):
        world.notary(origin="another/audit-log")


def test_storage_full_answers_507_and_writes_nothing(world: LogWorld) -> None:
    """Failure catalogue 9 over HTTP: the database's page limit stands in for a full disk (SQLITE_FULL)."""
    service = world.notary()
    with TestClient(create_app(service)) as client:
        body, headers = batch(world, 1, 5)
        assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
    service.stop()
    pages = sqlite3.connect(world.directory / "notary" / "notary.db").execute("PRAGMA page_count").fetchone()[0]
    full = world.notary(max_pages=pages + 1)
    with TestClient(create_app(full)) as client:
        body, headers = batch(world, 6, 3000)
        response = client.post("/v1/batches", content=body, headers=headers)
        assert response.status_code == 507 and "storage full" in response.json()["error"]
        assert full.sequencer.size == 5
        assert client.get("/v1/entries/ev-6").status_code == 404
    full.stop()
    resumed = world.notary()
    with TestClient(create_app(resumed)) as client:
        assert client.post("/v1/batches", content=body, headers=headers).json()["receipts"][0]["index"] == 5
    resumed.stop()
