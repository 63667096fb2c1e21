"""Leader election among notary replicas on one PostgreSQL database (``notary.storage.leader``), against the real
server the storage tests start: of several replicas exactly one leads; a leader whose connection is cut
(``pg_terminate_backend``) or that falls silent for its lease loses the lead to another, and its writes under the
old fencing token are refused even before it notices (a paused leader); a size has one checkpoint, published
once, with one root. The same with ``kill -9`` of a whole ``notary serve`` process is in ``test_replicas.py``
(slow: two notaries start); here a small process that only takes part in the election is killed."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from notary.anchor import CHECKED_KEY
from notary.checkpointer import Checkpointer, Witness, WitnessPolicy
from notary.log.checkpoint import parse_checkpoint
from notary.log.note import NoteVerifier, open_note, parse_note
from notary.logsuite import INTL, public_bytes
from notary.storage.base import IntegrityError, NotLeaderError
from notary.storage.leader import PostgresLeader
from notary.storage.postgres import ObjectStoreConfig, PostgresStore
from tests.integration.storage.test_conformance import LOG_KEYS, ORIGIN, Log
from tests.support.killed import run_until_killed
from tests.support.wait import wait_until


class Replica:
    """One notary replica in this process: its store, its log parts and its part in the election. Its lease
    clock stands still, so it never gives up the lead on its own: only the database's answers move it."""

    def __init__(self, url: str, config: ObjectStoreConfig, name: str) -> None:
        self.store = PostgresStore(url, config, connect_timeout=2)
        self.changes: list[tuple[bool, int | None]] = []
        self.leader = PostgresLeader(
            url, lease=2.0, replica=name, monotonic=lambda: 0.0, connect_timeout=2,
            on_change=lambda leading, token, _why: self.changes.append((leading, token)),
        )  # fmt: skip
        self.store.fence = self.leader.fencing_token
        self.log = Log(self.store, INTL)

    def close(self) -> None:
        self.leader.close()
        self.log.close()
        self.store.close()


@pytest.fixture
def replicas(postgres: Any, s3: Any) -> Iterator[tuple[str, list[Replica]]]:
    url, bucket = postgres.create_database("leader"), s3.create_bucket("leader")
    config = ObjectStoreConfig(bucket, s3.url, access_key=s3.access_key, secret_key=s3.secret_key, timeout_s=2)
    made = [Replica(url, config, name) for name in ("replica-a", "replica-b", "replica-c")]
    try:
        yield url, made
    finally:
        for replica in made:
            with contextlib.suppress(Exception):
                replica.close()


def test_exactly_one_replica_leads_and_a_cut_leader_is_fenced(replicas: tuple[str, list[Replica]]) -> None:
    url, (a, b, c) = replicas
    for _ in range(3):  # every replica steps a few times, in turns: one leads throughout
        assert [r.leader.step() for r in (a, b, c)] == [True, False, False]
    assert a.leader.fencing_token() == 1 and a.changes == [(True, 1)]
    assert b.leader.fencing_token() is None and c.leader.fencing_token() is None

    # the leader checkpoints; a follower's leader-only writes are refused
    receipts = a.log.submit("shuzhi-tech/gw-1", 1, 20)
    size, root = a.log.checkpoint()
    assert size == 20
    first = a.store.checkpoint(20)
    assert first is not None and first.cosigned is not None
    with pytest.raises(NotLeaderError, match="no fencing token"):
        b.store.add_checkpoint(20, root, 0, first.note)
    with pytest.raises(NotLeaderError):
        c.store.anchor_sent(20, "0x01", b"raw", 0, 0)

    # the leader's connection is cut: a follower takes over with the next token
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (a.leader.backend_pid,))
    wait_until(lambda: b.leader.step() or c.leader.step(), "a follower to take the lead", 10)
    new = b if b.leader.leading() else c
    assert new.leader.fencing_token() == 2

    # the old leader has not noticed yet (paused): it still holds token 1, and its writes under it are refused
    assert a.leader.fencing_token() == 1
    receipts += b.log.submit("shuzhi-tech/gw-1", 21, 10)  # every replica sequences
    with pytest.raises(NotLeaderError, match="fencing token 1, the current leader's is 2"):
        a.log.checkpointer.round()
    with pytest.raises(NotLeaderError):
        a.store.publish_checkpoint(20, first.note + b"\n", 1, "someone")
    with pytest.raises(NotLeaderError):
        a.store.anchor_sent(20, "0x02", b"raw", 0, 0)
    assert a.store.checkpoint(30) is None and a.store.anchors() == []
    assert a.store.checkpoint(20) == first  # published once, as it was

    # at its next step it sees the connection gone and stops leading; the lead stays with the new leader
    assert not a.leader.step()
    assert a.changes == [(True, 1), (False, None)]
    assert not a.leader.step() and new.leader.step()
    assert sum(r.leader.leading() for r in (a, b, c)) == 1

    # the new leader checkpoints the size the old one could not
    size2, root2 = new.log.checkpoint()
    assert size2 == 30
    assert sorted(r.index for r in receipts) == list(range(30))

    # one root per size, published once: another root for a recorded size is an integrity alarm, and a second
    # publication keeps the first
    with pytest.raises(IntegrityError, match="two trees of one size"):
        new.store.add_checkpoint(30, bytes(32), 0, first.note)
    assert [alarm["kind"] for alarm in new.store.alarms()] == ["checkpoint-mismatch"]
    published = new.store.checkpoint(30)
    assert published is not None
    new.store.publish_checkpoint(30, b"other bytes", 1, "someone")
    assert new.store.checkpoint(30) == published
    verifier = NoteVerifier(ORIGIN, public_bytes(LOG_KEYS[INTL.name]))
    for row in new.store.checkpoints(0, 10):
        assert row.cosigned is not None
        opened, _ = open_note(row.cosigned, [verifier])
        assert parse_checkpoint(opened.text).root == row.root == new.log.reader.root_at(row.size)
    assert (size, root) == (20, new.log.reader.root_at(20)) and root2 == new.log.reader.root_at(30)


def test_a_stopping_leader_hands_over_at_once(replicas: tuple[str, list[Replica]]) -> None:
    _, (a, b, _c) = replicas
    assert a.leader.step() and not b.leader.step()
    a.leader.close()  # a notary stopping (SIGTERM) releases the lock: no lease to wait out
    assert a.changes == [(True, 1), (False, None)] and a.leader.fencing_token() is None
    assert b.leader.step() and b.leader.fencing_token() == 2


LEADING_CHILD = """
import sys, time
from notary.storage.leader import PostgresLeader
leader = PostgresLeader(sys.argv[1], lease=5.0, replica="child")
while not leader.step():
    time.sleep(0.05)
print("leading", leader.fencing_token(), flush=True)
while True:
    time.sleep(0.2)
    leader.step()
"""


def test_kill_9_of_the_leader_process_hands_the_lead_to_a_follower(replicas: tuple[str, list[Replica]]) -> None:
    url, (a, b, _c) = replicas
    followers = (a, b)

    def leading(lines: list[str]) -> bool:
        if not any(line.startswith("leading") for line in lines):
            return False
        assert not any(r.leader.step() for r in followers)  # while the child leads, nobody else does
        return True

    lines = run_until_killed(LEADING_CHILD, [url], leading, "the child to lead", 30)
    killed = time.monotonic()
    token = int(next(line for line in lines if line.startswith("leading")).split()[1])
    new = wait_until(
        lambda: next((r for r in followers if r.leader.step()), None), "a follower to lead after the kill -9", 10
    )
    print(f"lead taken over {time.monotonic() - killed:.3f} s after the kill -9")
    assert new.leader.fencing_token() == token + 1
    assert sum(r.leader.leading() for r in followers) == 1


def test_a_silent_leader_loses_its_session_after_the_lease(replicas: tuple[str, list[Replica]]) -> None:
    _, (a, b, _c) = replicas
    assert a.leader.step() and not b.leader.step()
    # a says nothing more (paused, cut off): the server ends its idle session after the lease, and the lock with it
    wait_until(b.leader.step, "the server to end the silent leader's session", 10 * a.leader.lease)
    assert b.leader.fencing_token() == 2
    with pytest.raises(NotLeaderError):
        a.store.add_checkpoint(1, bytes(32), 0, b"")
    assert not a.leader.step() and a.changes == [(True, 1), (False, None)]


def test_a_replaced_leader_asks_no_witness_marks_no_anchor_checked_and_raises_no_alarm_of_its_duties(
    replicas: tuple[str, list[Replica]],
) -> None:
    url, (a, b, c) = replicas
    assert a.leader.step() and not b.leader.step()
    a.log.submit("shuzhi-tech/gw-1", 1, 20)
    # a checkpointer with one witness that never answers (nothing listens on the discard port): the checkpoint
    # of 20 is signed and recorded, and stays unpublished
    verifier = INTL.cosignature_verifier("test-consortium/witness/w1", public_bytes(LOG_KEYS[INTL.name]))
    asking = Checkpointer(
        a.store, a.log.reader, INTL.note_signer(ORIGIN, LOG_KEYS[INTL.name]), ORIGIN,
        [Witness("w1", "http://127.0.0.1:9", verifier)], WitnessPolicy(1, ("w1",), False, frozenset()), a.store.size,
        timeout=1.0,
    )  # fmt: skip
    try:
        assert asking.round() is None and asking.last_answers["w1"].status == 0
        a.store.anchor_checked(5, 1, None)  # the leader's mark of the anchors it compared

        with psycopg.connect(url, autocommit=True) as admin:  # a's connection is cut; another replica leads
            admin.execute("SELECT pg_terminate_backend(%s)", (a.leader.backend_pid,))
        wait_until(lambda: b.leader.step() or c.leader.step(), "a follower to take the lead", 10)
        new = b if b.leader.leading() else c
        assert a.leader.fencing_token() == 1  # a has not noticed

        # a's next round asks no witness: refused before any request leaves
        asking.last_answers.clear()
        with pytest.raises(NotLeaderError, match="asking the witnesses to cosign checkpoint 20 refused"):
            asking.round()
        assert asking.last_answers == {}
    finally:
        asking.close()
    # nor does it move the mark of the anchors checked, nor raise the alarm of a duty that is no longer its own
    with pytest.raises(NotLeaderError, match="the check of the anchor of checkpoint 20 refused"):
        a.store.anchor_checked(20, 2, "tamper alarm: the chain holds no anchor for size 20")
    with pytest.raises(NotLeaderError, match="the split-view alarm refused"):
        a.store.add_alarm(2, "split-view", 20, "witness w1 refused checkpoint 20 as inconsistent", leader_only=True)
    a.store.add_alarm(2, "object-mismatch", 20, "found while publishing")  # any replica's alarm: kept
    assert new.store.meta(CHECKED_KEY) == "5"
    assert [alarm["kind"] for alarm in new.store.alarms()] == ["object-mismatch"]

    # the new leader's: the alarm with the mark, and the mark only forward
    new.store.check_leader("asking the witnesses")
    new.store.anchor_checked(20, 3, "tamper alarm: the chain holds no anchor for size 20")
    new.store.anchor_checked(10, 4, None)  # a slower check of an older anchor never takes the mark back
    new.store.add_alarm(5, "split-view", 20, "witness w1 refused checkpoint 20 as inconsistent", leader_only=True)
    assert new.store.meta(CHECKED_KEY) == "20"
    kinds = [(alarm["kind"], alarm["size"]) for alarm in new.store.alarms()]
    assert kinds == [("split-view", 20), ("anchor-mismatch", 20), ("object-mismatch", 20)]
    # the replaced leader's refused findings counted on nothing: each alarm found once, by the leader
    assert [alarm["count"] for alarm in new.store.alarms()] == [1, 1, 1]


def test_the_checkpoint_object_is_replaced_only_by_a_newer_checkpoint(replicas: tuple[str, list[Replica]]) -> None:
    _, (a, b, _c) = replicas
    assert a.leader.step()
    objects = a.store.objects
    a.log.submit("shuzhi-tech/gw-1", 1, 20)
    assert a.log.checkpoint()[0] == 20
    first = a.store.checkpoint(20)
    assert first is not None and first.cosigned is not None
    tagged = objects.get_tagged("checkpoint")
    assert tagged is not None and tagged[0] == first.cosigned
    a.log.submit("shuzhi-tech/gw-1", 21, 10)
    assert a.log.checkpoint()[0] == 30
    second = a.store.checkpoint(30)
    assert second is not None and second.cosigned is not None
    assert objects.get("checkpoint") == second.cosigned

    # a write conditional on the version of checkpoint 20, or on there being none, is refused now
    assert not objects.replace("checkpoint", first.cosigned, tagged[1])
    assert not objects.replace("checkpoint", first.cosigned, None)
    # a replica that read checkpoint 20 as the newest and was slowed down (or a leader deposed after publishing
    # it) writes it late: the object keeps 30
    b.store._raise_checkpoint_object(20, first.cosigned)
    assert objects.get("checkpoint") == second.cosigned

    # other bytes as checkpoint 30 in the bucket: an integrity alarm, the bucket left as found
    forged = (
        parse_note(second.cosigned).text.encode() + b"\n\xe2\x80\x94 someone " + base64.b64encode(bytes(68)) + b"\n"
    )
    current = objects.get_tagged("checkpoint")
    assert current is not None and objects.replace("checkpoint", forged, current[1])
    with pytest.raises(IntegrityError, match="other bytes as checkpoint 30"):
        b.store._raise_checkpoint_object(30, second.cosigned)
    assert objects.get("checkpoint") == forged
    assert [(alarm["kind"], alarm["size"]) for alarm in b.store.alarms()] == [("object-mismatch", 30)]
    # an object that holds no checkpoint at all is replaced by the newest published one
    current = objects.get_tagged("checkpoint")
    assert current is not None and objects.replace("checkpoint", b"not a checkpoint", current[1])
    b.store._raise_checkpoint_object(30, second.cosigned)
    assert objects.get("checkpoint") == second.cosigned
