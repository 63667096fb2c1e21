"""Anchoring published checkpoints through AuditAnchor: exactly once across crashes, tamper alarms, outages.

Runs on every chain backend of ``tests/conftest.py`` (eth-tester, anvil, the embedded node)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from chain.backend import EthTesterBackend
from chain.contracts import AuditAnchorClient, anchor_message
from chain.errors import BackendError, ChainError
from chain.tx import Signer
from notary.anchor import Anchorer, AnchoringStatus, checkpoint_digest
from notary.log.errors import MalformedError
from notary.logsuite import SM
from notary.sequencer import encode_batch, sign_batch_body
from notary.service import AnchorSettings, NotaryService
from suite.sm2 import DEFAULT_ID, SM2PublicKey
from tests.support.clock import Clock
from tests.support.consortium import Consortium, NodeBackend
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, ORIGIN, LogWorld
from tests.support.wait import wait_until

DEADLINE = 30.0  # for what the service does in its own time


def anchoring_of(service: NotaryService) -> AnchoringStatus:
    """The anchoring part of the health of ``service``, which anchors."""
    anchoring = service.health()["anchoring"]
    assert anchoring is not None
    return anchoring


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LogWorld]:
    w = LogWorld(tmp_path)
    yield w
    w.close()


class DeadChain:
    """A chain nobody answers for: the discard port on loopback."""

    def __init__(self, chain_id: int) -> None:
        self.web3 = Web3(HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 1}))
        self.chain_id = chain_id


def grow(service: NotaryService, world: LogWorld, first_seq: int, count: int) -> None:
    now = int(time.time() * 1000)
    events = [event(event_id=f"ev-{first_seq + i}", gateway_seq=first_seq + i, time_ms=now) for i in range(count)]
    body = encode_batch(GATEWAY, events)
    service.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))
    assert service.checkpointer.round() is not None


def anchored(consortium: Consortium, world: LogWorld, **kw: float) -> NotaryService:
    settings = AnchorSettings(consortium.anchors, Signer(consortium.deployer.account), interval=kw.get("interval", 0))
    return world.notary(settings)


def test_a_published_checkpoint_is_anchored_once_and_matches_the_log(consortium: Consortium, world: LogWorld) -> None:
    service = anchored(consortium, world)
    assert service.anchorer is not None
    grow(service, world, 1, 20)
    service.anchorer.step(force=True)
    info = consortium.anchors.at_size(ORIGIN, 20)
    assert info is not None and info.root_hash == service.reader.root_at(20)
    row = service.store.checkpoint(20)
    assert row is not None and info.checkpoint_digest == checkpoint_digest(row.note)
    service.anchorer.step(force=True)  # nothing new: no second anchor
    assert consortium.anchors.count(ORIGIN) == 1
    assert [a["state"] for a in service.store.anchors()] == ["confirmed"]
    assert service.store.alarms() == []
    service.stop()


@pytest.mark.parametrize("broadcast_before_crash", [True, False])
def test_killed_between_sending_and_recording_the_anchor_lands_exactly_once(
    consortium: Consortium, world: LogWorld, broadcast_before_crash: bool
) -> None:
    """Failure catalogue 12: the intent is stored before the broadcast; a new life resolves it."""
    service = anchored(consortium, world)
    anchorer = service.anchorer
    assert anchorer is not None
    grow(service, world, 1, 8)
    checkpoint = service.store.latest_checkpoint(published=True)
    assert checkpoint is not None
    if not broadcast_before_crash:  # the process died right after storing the signed transaction
        anchorer._broadcast = lambda raw: None  # type: ignore[method-assign]
    anchorer._send(checkpoint)  # ... and before it looked for the receipt
    assert [a["state"] for a in service.store.anchors()] == ["sent"]
    service.stop()

    reborn = anchored(consortium, world)
    assert reborn.anchorer is not None
    reborn.anchorer.step()
    assert [a["state"] for a in reborn.store.anchors()] == ["confirmed"]
    assert consortium.anchors.count(ORIGIN) == 1
    info = consortium.anchors.latest(ORIGIN)
    assert info is not None and info.tree_size == 8
    reborn.stop()


def test_a_broadcast_the_chain_answers_with_an_error_is_left_to_resolution(
    consortium: Consortium, world: LogWorld
) -> None:
    """A second broadcast of the same signed transaction ("already known", or "nonce too low" once it is mined)
    is an error answer of the node, which web3.py raises as its own RPC error: the anchorer logs it and lets
    resolution decide, it does not fail the round."""
    service = anchored(consortium, world)
    anchorer = service.anchorer
    assert anchorer is not None
    grow(service, world, 1, 4)
    checkpoint = service.store.latest_checkpoint(published=True)
    assert checkpoint is not None
    anchorer._send(checkpoint)
    (row,) = service.store.anchors()
    anchorer._broadcast(bytes(row["raw_tx"]))  # the node already holds (or has mined) it
    anchorer.step(force=True)
    assert [a["state"] for a in service.store.anchors()] == ["confirmed"]
    service.stop()


def test_a_root_on_chain_that_differs_from_the_log_raises_a_tamper_alarm(
    consortium: Consortium, world: LogWorld
) -> None:
    """Failure catalogue 13: someone with the notary's account anchored another root at a size of ours."""
    service = anchored(consortium, world)
    assert service.anchorer is not None
    grow(service, world, 1, 5)
    consortium.anchors.anchor(Signer(consortium.deployer.account), ORIGIN, 3, b"\x66" * 32, b"\x77" * 32)
    service.store.anchor_sent(3, "0x00", b"", 0, 0)  # record the foreign anchor as if we had sent it
    service.store.anchor_confirmed(3, 0, "", 0)
    service.anchorer.step(force=True)  # anchors 5; checks 3 (another root) and 5 (ours)
    alarms = service.store.alarms()
    assert [(a["kind"], a["size"]) for a in alarms] == [("anchor-mismatch", 3)]
    assert "size 3" in alarms[0]["message"]
    assert service.store.meta("anchors_checked") == "5"  # a restart starts checking above 5
    service.anchorer.step(force=True)
    assert len(service.store.alarms()) == 1  # each anchor is checked once
    service.stop()


def test_chain_unreachable_keeps_the_queue_and_resumes(consortium: Consortium, world: LogWorld) -> None:
    """Failure catalogue 14: no chain → the step fails, nothing is lost; the chain back → anchored."""
    service = anchored(consortium, world)
    grow(service, world, 1, 6)
    dead = AuditAnchorClient(DeadChain(consortium.backend.chain_id), consortium.anchors.address)  # type: ignore[arg-type]
    offline = Anchorer(service.store, service.reader, dead, Signer(consortium.deployer.account), ORIGIN, interval=0)
    with pytest.raises(Exception):  # noqa: B017 - whatever the HTTP stack raises; the point is what is kept
        offline.step(force=True)
    assert service.store.anchors() == []
    published = service.store.latest_checkpoint(published=True)
    assert published is not None and published.size == 6
    assert service.anchorer is not None
    service.anchorer.step(force=True)
    assert consortium.anchors.count(ORIGIN) == 1
    service.stop()


def test_anchor_interval_and_event_count_decide_when(consortium: Consortium, world: LogWorld) -> None:
    settings = AnchorSettings(consortium.anchors, Signer(consortium.deployer.account), interval=3600, every_events=10)
    service = world.notary(settings)
    assert service.anchorer is not None
    grow(service, world, 1, 4)
    service.anchorer.step()  # first anchor: the interval since "never" has passed
    grow(service, world, 5, 4)
    service.anchorer.step()  # 4 new events < 10, and an hour has not passed
    assert consortium.anchors.count(ORIGIN) == 1
    grow(service, world, 9, 10)
    service.anchorer.step()  # 14 new events ≥ 10
    assert consortium.anchors.count(ORIGIN) == 2
    latest = consortium.anchors.latest(ORIGIN)
    assert latest is not None and latest.tree_size == 18
    assert base64.b64encode(latest.root_hash) == base64.b64encode(service.reader.root_at(18))
    service.stop()


def test_a_chain_down_at_start_is_connected_lazily_and_anchoring_resumes(
    consortium: Consortium, world: LogWorld
) -> None:
    """Failure catalogue 14 in the running service: the client is made only when the chain answers; until then
    the loops run, checkpoints are published, health names the error, and nothing is anchored twice after. The
    notary's clock stands still, so each retry's time in health is the failure's time plus the backoff chosen."""
    chain_up = threading.Event()
    clock = Clock(time.time())
    backoffs: list[int] = []

    def connect() -> AuditAnchorClient:
        retry_at_ms = anchoring_of(service)["retry_at_ms"]
        if retry_at_ms is not None:  # a retry: the backoff the last failure chose, on the notary's clock
            backoffs.append(retry_at_ms - int(clock() * 1000))
        if not chain_up.is_set():
            raise BackendError("cannot reach the chain at http://127.0.0.1:9: ConnectionError")
        return consortium.anchors

    settings = AnchorSettings(connect, Signer(consortium.deployer.account), interval=0, max_backoff=1.0)
    service = world.notary(settings, checkpoint_interval=0.05, clock=clock)
    assert backoffs == []  # building the service never touches the chain
    service.start()
    try:
        grow_only(service, world, 1, 6)
        wait_until(
            lambda: service.health()["published_size"] == 6, "checkpoint 6 published with the chain down", DEADLINE
        )
        wait_until(lambda: anchoring_of(service)["last_error"], "the anchoring error in health", DEADLINE)
        anchoring = anchoring_of(service)
        assert "cannot reach the chain" in str(anchoring["last_error"]) and anchoring["connected"] is False
        grow_only(service, world, 7, 4)
        wait_until(
            lambda: service.health()["published_size"] == 10, "checkpoint 10 published with the chain down", DEADLINE
        )
        wait_until(lambda: len(backoffs) >= 3, "the anchorer to retry", DEADLINE)
        assert service.store.anchors() == []
        assert set(backoffs) == {1000}, f"the backoff is not held at its maximum of 1 s: {backoffs} ms"

        chain_up.set()
        wait_until(
            lambda: service.health()["anchored_size"] == 10, "checkpoint 10 anchored once the chain is up", DEADLINE
        )
        wait_until(lambda: anchoring_of(service)["last_error"] is None, "the anchoring error to clear", DEADLINE)
        assert [(a["size"], a["state"]) for a in service.store.anchors()] == [(10, "confirmed")]
        assert consortium.anchors.count(ORIGIN) == 1
        info = consortium.anchors.at_size(ORIGIN, 10)
        assert info is not None and info.root_hash == service.reader.root_at(10)
    finally:
        service.stop()


def grow_only(service: NotaryService, world: LogWorld, first_seq: int, count: int) -> None:
    """Sequence ``count`` events; the service's own checkpointer publishes them."""
    now = int(time.time() * 1000)
    events = [event(event_id=f"ev-{first_seq + i}", gateway_seq=first_seq + i, time_ms=now) for i in range(count)]
    body = encode_batch(GATEWAY, events)
    service.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))


def test_an_sm_log_anchors_with_its_sm2_signature_checked_on_chain(consortium: Consortium, tmp_path: Path) -> None:
    """Under ``sm`` the notary calls anchor_signed with the log key's signature, which AuditAnchor checks against
    the notary member's LOG_KEY; on anvil, which has no SM2 precompile, it anchors with plain anchor instead."""
    world = LogWorld(tmp_path / "sm", suite=SM)
    try:
        index = world.register_log_key(consortium.trust, consortium.signers["op"])
        service = anchored(consortium, world)
        assert service.anchorer is not None
        now = int(time.time() * 1000)
        events = [event(v=world.event_version, event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in range(1, 6)]
        body = encode_batch(GATEWAY, events)
        service.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))
        assert service.checkpointer.round() is not None
        service.anchorer.step(force=True)
        info = consortium.anchors.at_size(ORIGIN, 5)
        row = service.store.checkpoint(5)
        assert info is not None and row is not None and info.root_hash == service.reader.root_at(5)
        assert info.checkpoint_digest == checkpoint_digest(row.note, SM)
        if not isinstance(consortium.backend, EthTesterBackend | NodeBackend):
            # anvil has no SM2 precompile: the notary saw it and anchored unchecked rather than not at all
            assert not consortium.anchors.checks_signatures()
            assert consortium.anchors.signature_key(ORIGIN, 5) is None
            service.stop()
            return
        assert consortium.anchors.signature_key(ORIGIN, 5) == index
        (signed,) = consortium.anchors.events("AnchorSigned")
        signature = bytes(signed["args"]["r"]) + bytes(signed["args"]["s"])
        key = SM2PublicKey.from_bytes(b"\x04" + bytes(signed["args"]["key_x"]) + bytes(signed["args"]["key_y"]))
        key.verify(signature, anchor_message(ORIGIN, 5, info.root_hash, info.checkpoint_digest), DEFAULT_ID)
        service.stop()
    finally:
        world.close()


def test_an_sm_log_anchors_only_signed_on_a_signed_only_audit_anchor(consortium: Consortium, tmp_path: Path) -> None:
    """An ``sm`` consortium's AuditAnchor (``signed_only``) takes nothing but anchor_signed, and the notary of an
    ``sm`` log sends nothing else; on a chain without the precompile it pauses anchoring with the reason instead
    of sending anchors that would all revert."""
    anchors = consortium.signed_only_anchors()
    world = LogWorld(tmp_path / "sm", suite=SM)
    try:
        index = world.register_log_key(consortium.trust, consortium.signers["op"])
        service = world.notary(AnchorSettings(anchors, Signer(consortium.deployer.account), interval=0))
        assert service.anchorer is not None
        try:
            grow_v(service, world, 1, 5)
            if not isinstance(consortium.backend, EthTesterBackend | NodeBackend):
                with pytest.raises(ChainError, match="no SM2-verify precompile"):
                    service.anchorer.step(force=True)
                assert service.store.anchors() == [] and anchors.count(ORIGIN) == 0
                return
            service.anchorer.step(force=True)
            assert [(a["size"], a["state"]) for a in service.store.anchors()] == [(5, "confirmed")]
            info = anchors.at_size(ORIGIN, 5)
            assert info is not None and info.root_hash == service.reader.root_at(5)
            assert anchors.signature_key(ORIGIN, 5) == index
            grow_v(service, world, 6, 3)
            service.anchorer.step(force=True)
            assert anchors.signature_key(ORIGIN, 8) == index and anchors.count(ORIGIN) == 2
            assert service.store.alarms() == []
        finally:
            service.stop()
    finally:
        world.close()


def test_an_intl_log_cannot_anchor_on_a_signed_only_audit_anchor(consortium: Consortium, world: LogWorld) -> None:
    """An Ed25519 log key signs nothing the chain can check: pointed at a signed-only AuditAnchor, the notary says
    so and sends nothing (the intent is never stored)."""
    anchors = consortium.signed_only_anchors()
    service = world.notary(AnchorSettings(anchors, Signer(consortium.deployer.account), interval=0))
    assert service.anchorer is not None
    try:
        grow(service, world, 1, 5)
        with pytest.raises(ChainError, match="refuses unsigned anchors"):
            service.anchorer.step(force=True)
        assert service.store.anchors() == [] and anchors.count(ORIGIN) == 0
    finally:
        service.stop()


def test_an_sm_log_without_its_sm2_key_does_not_anchor(consortium: Consortium, tmp_path: Path) -> None:
    world = LogWorld(tmp_path / "sm", suite=SM)
    try:
        service = world.notary()
        try:
            with pytest.raises(MalformedError, match="SM2 log key"):
                Anchorer(service.store, service.reader, consortium.anchors, consortium.deployer, ORIGIN, suite=SM)
        finally:
            service.stop()
    finally:
        world.close()


def grow_v(service: NotaryService, world: LogWorld, first_seq: int, count: int) -> None:
    """``grow`` with events of the world's suite's schema version, published by a checkpointer round."""
    now = int(time.time() * 1000)
    events = [
        event(v=world.event_version, event_id=f"ev-{first_seq + i}", gateway_seq=first_seq + i, time_ms=now)
        for i in range(count)
    ]
    body = encode_batch(GATEWAY, events)
    service.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))
    assert service.checkpointer.round() is not None
