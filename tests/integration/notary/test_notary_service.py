"""The notary over HTTP with real witnesses: batches → receipts → cosigned checkpoints → proofs and tiles."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gmssl_pyx import sm2_verify

from notary.anchor import checkpoint_digest
from notary.api import create_app
from notary.errors import NotaryError
from notary.log.checkpoint import parse_checkpoint
from notary.log.note import open_note, parse_note
from notary.log.proof import verify_consistency, verify_inclusion
from notary.log.tiles import parse_entry_bundle
from notary.logsuite import INTL, SM, LogSuite
from notary.receipt import BatchStatement, Receipt, verify_receipt
from notary.sequencer import batch_request, encode_batch, sign_batch_body
from notary.service import NotaryService
from notary.storage.leader import PostgresLeader
from notary.verify import STEP_NAMES, TrustRoots, verify_evidence
from suite.sm2 import DEFAULT_ID, raw_to_der
from tests.support import merkle_reference, sm3_reference
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, ORIGIN, LogWorld, each_suite, new_key
from tests.support.wait import wait_until

NOW_MS = 1_795_000_000_000


@pytest.fixture
def suite() -> LogSuite:
    """The log's suite: intl, unless a test runs ``@each_suite``."""
    return INTL


@pytest.fixture
def world(tmp_path: Path, suite: LogSuite) -> Iterator[LogWorld]:
    w = LogWorld(tmp_path, suite)
    yield w
    w.close()


def batch(world: LogWorld, first_seq: int, count: int, prefix: str = "ev") -> tuple[bytes, dict[str, str]]:
    import time

    now = int(time.time() * 1000)
    events = [
        event(v=world.event_version, event_id=f"{prefix}-{first_seq + i}", gateway_seq=first_seq + i, time_ms=now)
        for i in range(count)
    ]
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


@each_suite
def test_from_batch_to_cosigned_checkpoint_proofs_and_tiles(
    world: LogWorld, notary: tuple[NotaryService, TestClient]
) -> None:
    service, client = notary
    tree = world.suite.tree
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
        base64.b64decode(proof["leaf_hash"]),
        42,
        300,
        [base64.b64decode(h) for h in proof["proof"]],
        checkpoint.root,
        tree,
    )

    full = client.get("/tile/0/000")
    assert full.status_code == 200 and full.headers["cache-control"].startswith("public")
    partial = client.get("/tile/0/001.p/44")
    entries = parse_entry_bundle(client.get("/tile/entries/001.p/44").content)
    leaves = [tree.leaf(e) for e in parse_entry_bundle(client.get("/tile/entries/000").content) + entries]
    assert full.content + partial.content == b"".join(leaves)
    assert tree.root_of(leaves) == checkpoint.root
    assert merkle_reference.mth_of_hashes(leaves, tree.name) == checkpoint.root
    assert client.get("/tile/0/001.p/45").status_code == 404  # not that wide yet
    assert client.get("/tile/0/001").status_code == 404

    body, headers = batch(world, 301, 10)
    assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
    service.checkpointer.round()
    second, _ = open_checkpoint(world, client.get("/checkpoint").content)
    consistency = client.get("/v1/proofs/consistency", params={"from": 300, "to": 310}).json()
    verify_consistency(
        300, 310, [base64.b64decode(h) for h in consistency["proof"]], checkpoint.root, second.root, tree
    )
    listed = client.get("/v1/checkpoints").json()["checkpoints"]
    assert [c["size"] for c in listed] == [300, 310]
    assert client.get("/v1/receipts/ev-8").json() == receipts[7].to_json()
    answer = client.get("/v1/entries/ev-8")
    entry = answer.json()
    assert entry["index"] == 7 and entry["event"]["gateway_seq"] == 8
    assert answer.content.endswith(b'"event":' + base64.b64decode(entry["entry"]) + b"}")  # the entry's own bytes


def test_the_json_reads_answer_fastapis_bytes_in_one_worker_thread_hop(
    world: LogWorld, notary: tuple[NotaryService, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON reads (an event's receipt, entry and inclusion proof, the consistency proof, the pages of events,
    checkpoints, anchors and alarms, the gaps) are checked against their ``response_model`` and written in the
    route's own worker thread (``notary.answer.ModelAnswer``): one hop a request, not FastAPI's second one for the
    validation, and the same bytes as FastAPI writes when the route hands it the dict."""
    from fastapi import routing
    from starlette.concurrency import run_in_threadpool

    from notary.api import reads

    service, client = notary
    for first, count in ((1, 3), (6, 2)):  # 4 and 5 missing: a gap
        body, headers = batch(world, first, count)
        assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
        assert service.checkpointer.round() is not None
    paths: list[tuple[str, dict[str, Any]]] = [
        ("/v1/receipts/ev-2", {}),
        ("/v1/entries/ev-2", {}),
        ("/v1/proofs/inclusion", {"event_id": "ev-2"}),
        ("/v1/proofs/inclusion", {"index": 2}),
        ("/v1/proofs/consistency", {"from": 3, "to": 5}),
        ("/v1/events", {}),
        ("/v1/checkpoints", {"limit": 1}),
        ("/v1/checkpoints/5", {}),
        ("/v1/anchors", {}),
        ("/v1/gaps", {}),
        ("/v1/alarms", {}),
    ]
    hops = 0

    async def counted(*args: Any, **kwargs: Any) -> Any:  # FastAPI's hop of a sync route and of its validation
        nonlocal hops
        hops += 1
        return await run_in_threadpool(*args, **kwargs)

    monkeypatch.setattr(routing, "run_in_threadpool", counted)
    answered = []
    for path, params in paths:
        hops = 0
        answer = client.get(path, params=params)
        assert (answer.status_code, hops) == (200, 1), path
        answered.append((answer.headers["content-type"], answer.content))
    assert json.loads(answered[-2][1])["gaps"] != []
    answers = ("RECEIPT", "ENTRY", "INCLUSION", "CONSISTENCY", "EVENTS", "CHECKPOINTS", "CHECKPOINT", "ANCHORS", "GAPS")
    for name in (*answers, "ALARMS"):
        monkeypatch.setattr(reads, name, lambda body: body)  # the dict to FastAPI, as the routes once returned
    for (path, params), expected in zip(paths, answered, strict=True):
        hops = 0
        answer = client.get(path, params=params)
        assert (answer.status_code, hops) == (200, 2), path
        assert (answer.headers["content-type"], answer.content) == expected, path


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


@each_suite
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
        assert all(a["subject"] == f"witness {a['message'].split()[1]}" and a["count"] == 1 for a in alarms)
        assert forked.checkpointer.round() is None  # the next round finds the same: no new alarm, counted
        again = client.get("/v1/alarms").json()["alarms"]
        assert sorted((a["subject"], a["count"]) for a in again) == sorted((a["subject"], 2) for a in alarms)
        assert client.get("/checkpoint").status_code == 404
    forked.stop()


@each_suite
def test_a_log_never_changes_its_key_or_origin_silently(world: LogWorld) -> None:
    """Failure catalogue 23: a store started under one key refuses another key or origin."""
    world.notary().stop()
    with pytest.raises(NotaryError, match="may not change its origin or key"):
        world.notary(log_key=new_key(world.suite))
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


# -- the suite of a log ------------------------------------------------------------------------------------------


def trust_roots(world: LogWorld) -> TrustRoots:
    """The world's public keys as a verifier holds them; no chain (the bundles here are not anchored)."""
    return TrustRoots(
        log=world.log_verifier(),
        witnesses=world.cosigners(),
        policy=world.policy(),
        notary_account="0x" + "11" * 20,
        anchor_address="0x" + "22" * 20,
        chain_id=1,
    )


def published_log(world: LogWorld, service: NotaryService, client: TestClient) -> None:
    """Two batches (3 and 5 events) sequenced and a checkpoint of size 8 published."""
    for first, count in ((1, 3), (4, 5)):
        body, headers = batch(world, first, count)
        assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
    published = service.checkpointer.round()
    assert published is not None and published.size == 8


@each_suite
def test_evidence_verifies_offline_under_its_own_suite_only(
    world: LogWorld, notary: tuple[NotaryService, TestClient], tmp_path: Path
) -> None:
    """Sequencer, tiles, receipts, checkpoint, cosignatures and the evidence bundle, verified offline from the trust
    roots alone; the trust roots of a log of the other suite (same names, its own keys) refuse every signature."""
    service, client = notary
    published_log(world, service, client)
    bundle = service.evidence("ev-5").to_json()
    steps = {s.name: s for s in verify_evidence(service.evidence("ev-5"), trust_roots(world))}
    assert list(steps) == list(STEP_NAMES)
    log_steps = ("entry", "leaf hash", "receipt", "checkpoint", "cosignatures", "inclusion")
    assert all(steps[name].ok for name in log_steps), [steps[n].to_text() for n in log_steps]
    assert {steps[name].ok for name in STEP_NAMES if name not in log_steps} == {None}  # anchor pending
    assert world.suite.digest_name + "(0x00 ‖ entry)" in steps["leaf hash"].detail
    assert bundle["leaf_hash"] == base64.b64encode(world.suite.tree.leaf(base64.b64decode(bundle["entry"]))).decode()

    other = LogWorld(tmp_path / "other", SM if world.suite is INTL else INTL)
    try:
        crossed = {s.name: s.ok for s in verify_evidence(service.evidence("ev-5"), trust_roots(other))}
    finally:
        other.close()
    failed = {name for name, ok in crossed.items() if ok is False}
    assert failed == {"leaf hash", "receipt", "checkpoint", "cosignatures", "inclusion"}
    # and the other suite's witness keys have other key ids: no cosignature counts, so the policy is not met.
    assert crossed["cosignatures"] is False


@each_suite
def test_a_store_never_changes_its_suite(world: LogWorld, suite: LogSuite) -> None:
    """The store records the log's vkey, whose type is the suite: a store created under one suite refuses to open
    under the other, even for the same origin."""
    world.notary().stop()
    other = SM if suite is INTL else INTL
    with pytest.raises(NotaryError, match=f"the store's suite is {suite.name}, these settings' {other.name}"):
        world.notary(log_key=new_key(other), suite=other, gateway_keys={})


def test_an_sm_log_on_postgres_and_s3(tmp_path: Path, postgres: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PostgreSQL + S3 backend (``tests/integration/storage/test_conformance.py`` runs its own tests under
    both suites) behind a whole ``sm`` notary: its SM2-cosigned checkpoint, SM3 tiles read back from the bucket
    and receipts make an evidence bundle that verifies offline, and the store, which records the log's SM2 vkey
    in the database, refuses to open under ``intl``."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    bucket = s3.create_bucket("notary")
    storage = {
        "storage": postgres.create_database("notary"),
        "object_store": f"s3://{bucket}?endpoint={s3.url}&region={s3.region}",
    }
    world = LogWorld(tmp_path, SM)
    try:
        service = world.notary(**storage)
        with TestClient(create_app(service)) as client:
            # on PostgreSQL the notary checkpoints once it leads: it is elected there (notary.storage.leader)
            leader = service.leader
            assert isinstance(leader, PostgresLeader), leader
            wait_until(leader.step, "the notary to win its replicas' election", 30.0)
            published_log(world, service, client)
            steps = {s.name: s for s in verify_evidence(service.evidence("ev-5"), trust_roots(world))}
        service.stop()
        log_steps = ("entry", "leaf hash", "receipt", "checkpoint", "cosignatures", "inclusion")
        assert all(steps[name].ok for name in log_steps), [steps[n].to_text() for n in log_steps]
        assert "SM3(0x00 ‖ entry)" in steps["leaf hash"].detail
        published = s3.client().get_object(Bucket=bucket, Key="checkpoint")["Body"].read()
        note, verified = open_note(published, [world.log_verifier(), *world.cosigners().values()])
        assert parse_checkpoint(note.text).size == 8 and len(verified) >= 3  # the log's SM2 signature and 2 of 3
        with pytest.raises(NotaryError, match="the store's suite is sm, these settings' intl"):
            world.notary(log_key=new_key(INTL), suite=INTL, gateway_keys={}, **storage)
    finally:
        world.close()


def gmssl_verifies(public_point: bytes, signature: bytes, message: bytes) -> bool:
    """GmSSL's SM2 verification (an implementation independent of ours), under the profile's ID."""
    return bool(sm2_verify(public_point[1:], message, raw_to_der(signature), signer_id=DEFAULT_ID))


@pytest.mark.parametrize("suite", [SM], ids=["sm"])
def test_an_sm_log_checks_out_with_gmssl_and_a_plain_python_sm3(
    world: LogWorld, notary: tuple[NotaryService, TestClient]
) -> None:
    """The checkpoint, a cosignature and a receipt of an sm log verify with GmSSL's SM2; the tree and batch roots
    recompute with SM3 written in plain Python, and so does the checkpoint digest anchored on chain."""
    service, client = notary
    published_log(world, service, client)
    note = parse_note(client.get("/checkpoint").content)
    checkpoint = parse_checkpoint(note.text)
    by_name = {sig.name: sig for sig in note.signatures}
    log_point = service.signer.public_key
    assert gmssl_verifies(log_point, by_name[ORIGIN].signature, note.text.encode())
    cosigner = world.cosigners()["reg"]
    cosignature = by_name[cosigner.name].signature
    timestamp = int.from_bytes(cosignature[:8], "big")
    message = f"cosignature/v1\ntime {timestamp}\n{note.text}".encode()
    assert gmssl_verifies(cosigner.public_key, cosignature[8:], message)

    entries = parse_entry_bundle(client.get("/tile/entries/000.p/8").content)
    assert merkle_reference.mth(entries, "sm3-python") == checkpoint.root
    receipt = Receipt.from_json(client.get("/v1/receipts/ev-5").json())
    batch_note = parse_note(receipt.note)
    assert gmssl_verifies(log_point, batch_note.signatures[0].signature, batch_note.text.encode())
    statement = BatchStatement.from_text(batch_note.text)
    assert (statement.first, statement.count) == (3, 5)
    assert merkle_reference.mth(entries[3:8], "sm3-python") == statement.root
    stored = service.store.checkpoint(8)
    assert stored is not None
    assert checkpoint_digest(stored.note, world.suite) == sm3_reference.sm3(note.text.encode())


@each_suite
def test_the_empty_tree_of_a_new_log_is_cosigned_under_its_suite(
    world: LogWorld, notary: tuple[NotaryService, TestClient]
) -> None:
    """A witness registered without a checkpoint holds the empty tree; its root is the suite's (SM3("") under sm),
    so the first checkpoint of an empty sm log is no split view."""
    service, _ = notary
    published = service.checkpointer.round()
    assert published is not None and published.size == 0 and published.root == world.suite.tree.empty_root
    assert {a.status for a in service.checkpointer.last_answers.values()} == {200}
