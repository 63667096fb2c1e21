"""The log's key rotated under two notary replicas sharing PostgreSQL + S3 (the real servers the storage tests
start), in this process, with the in-process chain's TrustDirectory and the world's witnesses (real servers on
loopback) following the log's keys on chain. Replica B leads and checkpoints under the first key; the new key is
added on chain and the old one retired ten blocks later; replica A, whose key file holds the new key, switches and
records the rotation in the shared store; B, whose key file was not replaced, finds the store's key moved past its
own: it leaves the lead at once (A checkpoints under the new key), signs receipts under its old key only while the
chain still says that key is valid, then refuses batches (503) without writing anything, and signs again once it is
given the new key. A replica restarted with the old key is refused rather than turning the store back to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.contracts import KeyKind
from notary.api.errors import status_of
from notary.errors import NotaryError
from notary.log.note import parse_note
from notary.logkeys import StaleLogKeyError
from notary.logsuite import INTL, PrivateKey, public_bytes
from notary.sequencer import encode_batch, sign_batch_body
from notary.service import NotaryService
from notary.storage.leader import PostgresLeader
from tests.integration.notary.test_log_key_rotation import chain_keys, follow_witnesses
from tests.support.consortium import Consortium, advance_time
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, ORIGIN, LogWorld, new_key
from tests.support.wait import wait_until

pytestmark = pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)

OVERLAP = 10  # blocks both keys are valid


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LogWorld]:
    w = LogWorld(tmp_path)
    yield w
    w.close()


def elected(service: NotaryService) -> bool:
    """One election round of a replica on PostgreSQL: whether it leads after it."""
    leader = service.leader
    assert isinstance(leader, PostgresLeader), leader
    return leader.step()


def submit(service: NotaryService, world: LogWorld, first: int, count: int) -> bytes:
    """Log events ``first``.. through ``service``; the key id of the receipt's signature."""
    events = [
        event(event_id=f"ev-{first + i}", gateway_seq=first + i, time_ms=int(time.time() * 1000)) for i in range(count)
    ]
    body = encode_batch(GATEWAY, events)
    result = service.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))
    assert result.new == count
    return key_id_of(result.receipts[0].note)


def key_id_of(note: bytes) -> bytes:
    return next(s.key_id for s in parse_note(note).signatures if s.name == ORIGIN)


def kid(key: PrivateKey) -> bytes:
    return INTL.note_verifier(ORIGIN, public_bytes(key)).key_id


def test_a_rotation_between_checkpoints_reaches_every_replica(
    consortium: Consortium, world: LogWorld, postgres: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = consortium
    op = c.signers["op"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    url, bucket = postgres.create_database("keyrot"), s3.create_bucket("keyrot")
    storage = {"storage": url, "object_store": f"s3://{bucket}?endpoint={s3.url}"}
    old_index = world.register_log_key(c.trust, op)
    follow_witnesses(world, c)
    old, new = world.log_key, new_key(INTL)
    key_files = {"a": old, "b": old}  # each replica's orgs/ORG/keys/notary.pem

    def next_key(replica: str) -> PrivateKey | None:  # as `notary serve` answers: its key file once valid on chain
        key = key_files[replica]
        return key if on_chain(public_bytes(key)) else None

    def on_chain(public: bytes) -> bool:
        return any(v.public_key == public for v in chain_keys(c).valid())

    def replica(name: str, key: PrivateKey = old) -> NotaryService:
        return world.notary(
            None, log_key=key, next_log_key=lambda: next_key(name), log_key_on_chain=on_chain, **storage
        )

    a, b = replica("a"), replica("b")
    try:
        assert elected(b) and not elected(a)  # B leads
        assert submit(a, world, 1, 2) == kid(old) and submit(b, world, 3, 2) == kid(old)
        first = b.checkpointer.round()
        assert first is not None and first.size == 4 and key_id_of(first.note) == kid(old)

        # the rotation: the new key valid from the next block, the old one retired OVERLAP blocks after it
        new_index = c.trust.add_key(op, KeyKind.LOG_KEY, public_bytes(new))
        valid_from = c.trust.record("op", new_index).valid_from  # type: ignore[union-attr]
        c.trust.retire_key(op, old_index, valid_from + OVERLAP)
        key_files["a"] = new  # `notary rotate-key` ran beside replica A

        def a_switched() -> bool:
            a.follow_log_key()
            return a.signer.public_key == public_bytes(new)

        wait_until(a_switched, "replica A to sign with the new key", 10.0)
        assert a.store.meta("vkey") == INTL.format_vkey(ORIGIN, public_bytes(new))
        assert a.stale_key is None

        # B finds its key rotated away: it leaves the lead, and A takes it and checkpoints under the new key
        b.follow_log_key()
        assert b.stale_key is not None and "rotated away" in b.stale_key
        assert b.signer.public_key == public_bytes(old)
        assert not elected(b) and elected(a)
        assert not elected(b)  # nor takes it again while its key is stale
        assert submit(a, world, 5, 2) == kid(new)
        # during the overlap the old key is still valid on chain: B's receipts under it count
        assert submit(b, world, 7, 2) == kid(old)
        second = a.checkpointer.round()
        assert second is not None and second.size == 8 and key_id_of(second.note) == kid(new)
        latest = a.store.latest_checkpoint(published=True)
        assert latest is not None and latest.size == 8 and latest.cosigned is not None  # the witnesses cosigned

        # a replica restarted with the old key during the overlap does not turn the store back to it
        with pytest.raises(NotaryError, match="the log rotated away from that key"):
            replica("c")
        assert a.store.meta("vkey") == INTL.format_vkey(ORIGIN, public_bytes(new))

        # past the old key's retirement B signs nothing: its batches are refused (503) and nothing is written
        while int(c.backend.web3.eth.block_number) < valid_from + OVERLAP:
            advance_time(c.backend, 1)
        assert not on_chain(public_bytes(old))
        b.follow_log_key()
        size = a.store.size()
        with pytest.raises(StaleLogKeyError, match="no longer valid on chain") as refused:
            submit(b, world, 9, 2)
        assert status_of(refused.value) == 503
        assert a.store.size() == size and a.store.entries_by_id(["ev-9"]) == {}

        # given the log's key, B signs again (the gateway's retried batch) and may lead again
        key_files["b"] = new
        b.follow_log_key()
        assert b.stale_key is None and submit(b, world, 9, 2) == kid(new)
        a.leader.close()
        assert elected(b)
        third = b.checkpointer.round()
        assert third is not None and third.size == 10 and key_id_of(third.note) == kid(new)
    finally:
        a.stop()
        b.stop()
