"""One black-box suite for every notary storage backend (``notary.storage``): the embedded SQLite store and
PostgreSQL + an S3-compatible object store (the real servers of ``tests/support/servers.py``).

Each test opens stores through ``backend.open()`` (several calls: several replicas, or a restart, of one log),
sequences signed batches and checks what a reader of the log sees: proofs from the stored tiles against the
checkpoint root, no gap and no duplicate when two replicas append at once, a crash between the commit and the
publication recovered, and outages reported as such with nothing acknowledged lost.

PostgreSQL + S3 runs under both suites (``notary.logsuite``): ``intl``, and ``sm``, whose log keeps SM3 tiles,
SM2-signed checkpoints and receipts, and events of its own schema version in the same tables and objects; a
reader that has only the object store then proves the root with SM3 and opens the published ``checkpoint``
object with the log's SM2 key. The tests of a server's outage or of bytes changed in the bucket do not depend on
the suite and run under ``intl`` only. The embedded store runs under ``intl`` here; the notary's own tests run it
under ``sm`` (``tests/support/notary_world.py``'s ``each_suite``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.checkpointer import Checkpointer, WitnessPolicy
from notary.event import LOG_VERSIONS
from notary.log.checkpoint import parse_checkpoint
from notary.log.note import open_note
from notary.log.proof import root_at, verify_consistency, verify_inclusion
from notary.log.tiles import TILE_WIDTH, TileNodeReader, entries_path, parse_entry_bundle, tile_path
from notary.logsuite import INTL, SM, LogSuite, PrivateKey, public_bytes
from notary.reader import LogReader
from notary.receipt import Receipt, verify_receipt
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.storage.base import AlarmKey, NotaryStorage, StoreError, StoreUnavailableError, alarm_key
from suite.sm2 import SM2PrivateKey
from tests.support.notary_events import event

ORIGIN = "test-consortium/audit-log"
NOW = 1_795_000_000.0
#: The log's and the gateway's keys under each suite.
LOG_KEYS: dict[str, PrivateKey] = {
    INTL.name: Ed25519PrivateKey.from_private_bytes(b"\x01" * 32),
    SM.name: SM2PrivateKey.from_bytes(b"\x01" * 32),
}
GW_KEYS: dict[str, PrivateKey] = {
    INTL.name: Ed25519PrivateKey.from_private_bytes(b"\x02" * 32),
    SM.name: SM2PrivateKey.from_bytes(b"\x02" * 32),
}
NO_WITNESSES = WitnessPolicy(0, (), False, frozenset())


@dataclass
class Backend:
    """How to open (again) the stores of one log on one backend."""

    name: str
    open: Callable[[], NotaryStorage]
    suite: LogSuite = INTL
    servers: dict[str, Any] = field(default_factory=dict)
    bucket: str = ""
    opened: list[NotaryStorage] = field(default_factory=list)

    def store(self) -> NotaryStorage:
        store = self.open()
        self.opened.append(store)
        return store

    def log(self, store: NotaryStorage | None = None) -> Log:
        """A replica of the log under the backend's suite, over ``store`` or a newly opened one."""
        return Log(self.store() if store is None else store, self.suite)


@pytest.fixture(params=["sqlite", "postgres+s3", "postgres+s3-sm"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        from notary.storage.sqlite import LogStore

        found = Backend("sqlite", lambda: LogStore(tmp_path / "notary.db"))
    else:
        from notary.storage.postgres import ObjectStoreConfig, PostgresStore

        postgres, s3 = request.getfixturevalue("postgres"), request.getfixturevalue("s3")
        url, bucket = postgres.create_database("notary"), s3.create_bucket("notary")
        config = ObjectStoreConfig(bucket, s3.url, access_key=s3.access_key, secret_key=s3.secret_key, timeout_s=2)
        found = Backend(
            "postgres+s3",
            lambda: PostgresStore(url, config, connect_timeout=2),
            SM if request.param.endswith("-sm") else INTL,
            {"postgres": postgres, "s3": s3},
            bucket,
        )
    try:
        yield found
    finally:
        for store in found.opened:
            with contextlib.suppress(Exception):  # a store of a stopped server may fail to close
                store.close()


class Log:
    """A sequencer, reader and checkpointer of the backend's suite over one store (one notary replica)."""

    def __init__(self, store: NotaryStorage, suite: LogSuite) -> None:
        self.store = store
        self.suite = suite
        self.gateway_key = GW_KEYS[suite.name]
        self.reader = LogReader(store, tree=suite.tree)
        signer = suite.note_signer(ORIGIN, LOG_KEYS[suite.name])
        self.sequencer = Sequencer(
            store, signer, SequencerSettings(ORIGIN), {"shuzhi-tech": public_bytes(self.gateway_key)},
            clock=lambda: NOW, on_commit=self.reader.invalidate, suite=suite,
        )  # fmt: skip
        self.checkpointer = Checkpointer(store, self.reader, signer, ORIGIN, [], NO_WITNESSES, store.size)

    def event(self, **changes: Any) -> dict[str, Any]:
        """An event of the schema version the log's suite takes (1 under intl, 3 under sm)."""
        return event(v=LOG_VERSIONS[self.suite.name][0], **changes)

    def sign(self, body: bytes) -> bytes:
        return sign_batch_body(self.gateway_key, body)

    def submit(self, gateway: str, first_seq: int, count: int, tag: str = "") -> list[Receipt]:
        events = [
            self.event(event_id=f"{gateway.replace('/', '.')}-{tag}{seq}", gateway_id=gateway, gateway_seq=seq)
            for seq in range(first_seq, first_seq + count)
        ]
        body = encode_batch(gateway, events)
        return self.sequencer.submit(gateway, body, self.sign(body)).receipts

    def checkpoint(self) -> tuple[int, bytes]:
        self.checkpointer.round()
        row = self.store.latest_checkpoint(published=True)
        assert row is not None
        return row.size, row.root

    def close(self) -> None:
        self.checkpointer.close()


def check_log(log: Log, receipts: list[Receipt], size: int, root: bytes) -> None:
    """Every acknowledged event is leaf ``receipt.index`` of the checkpointed tree, proven from the stored tiles;
    the indexes are 0..size-1, each once; the entry bundles hold the entries."""
    tree = log.suite.tree
    verifier = log.suite.note_verifier(ORIGIN, public_bytes(LOG_KEYS[log.suite.name]))
    assert sorted(r.index for r in receipts) == list(range(size))
    entries = log.store.entries(0, size)
    assert len(entries) == size
    for receipt in receipts:
        verify_receipt(receipt, verifier, tree)
        leaf = tree.leaf(entries[receipt.index])
        verify_inclusion(leaf, receipt.index, size, log.reader.inclusion(receipt.index, size), root, tree)
    for index in range(0, (size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - index * TILE_WIDTH)
        assert parse_entry_bundle(log.reader.entry_bundle(index, width)) == entries[index * TILE_WIDTH :][:width]


def test_proofs_from_stored_tiles_match_the_checkpoint_root(backend: Backend) -> None:
    log = backend.log()
    receipts = log.submit("shuzhi-tech/gw-1", 1, 200)
    size1, root1 = log.checkpoint()
    receipts += log.submit("shuzhi-tech/gw-1", 201, 150)  # across the first full tile
    receipts += log.submit("shuzhi-tech/gw-2", 1, 7)
    size2, root2 = log.checkpoint()
    assert (size1, size2) == (200, 357)
    check_log(log, receipts, size2, root2)
    verify_consistency(size1, size2, log.reader.consistency(size1, size2), root1, root2, backend.suite.tree)
    duplicate = log.submit("shuzhi-tech/gw-2", 1, 7)  # the same events again: the same receipts, no new leaf
    assert duplicate == receipts[-7:] and log.store.size() == size2
    if backend.name == "postgres+s3":  # the object store alone, C2SP paths, proves the root
        client = backend.servers["s3"].client()

        def read_tile(level: int, index: int) -> bytes:
            count = size2 >> (8 * level)
            width = TILE_WIDTH if index < count // TILE_WIDTH else count % TILE_WIDTH
            got = client.get_object(Bucket=backend.bucket, Key=tile_path(level, index, width))
            return bytes(got["Body"].read())

        tree = backend.suite.tree
        assert root_at(size2, TileNodeReader(read_tile, tree=tree), tree) == root2
        bundle = client.get_object(Bucket=backend.bucket, Key=entries_path(1, size2 - TILE_WIDTH))["Body"].read()
        assert parse_entry_bundle(bundle) == log.store.entries(TILE_WIDTH, size2 - TILE_WIDTH)
        # the published checkpoint object opens with the log's key of the suite (an SM2 signed note under sm)
        note = bytes(client.get_object(Bucket=backend.bucket, Key="checkpoint")["Body"].read())
        verifier = backend.suite.note_verifier(ORIGIN, public_bytes(LOG_KEYS[backend.suite.name]))
        opened, _ = open_note(note, [verifier])
        checkpoint = parse_checkpoint(opened.text)
        assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (ORIGIN, size2, root2)


def test_two_replicas_appending_at_once_leave_no_gap_and_no_duplicate(backend: Backend) -> None:
    replicas = [backend.log(), backend.log()]
    receipts: list[Receipt] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def gateway(number: int) -> None:
        name = f"shuzhi-tech/gw-{number}"
        try:
            for k in range(12):  # each batch to the other replica
                got = replicas[(number + k) % 2].submit(name, 1 + 9 * k, 9)
                with lock:
                    receipts.extend(got)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=gateway, args=(n,)) for n in range(1, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    total = 3 * 12 * 9
    size, root = replicas[0].checkpoint()
    assert size == total
    check_log(replicas[1], receipts, size, root)
    assert replicas[1].store.gateways() == {f"shuzhi-tech/gw-{n}": 108 for n in range(1, 4)}
    assert replicas[0].store.gaps() == []


def test_a_failed_batch_leaves_nothing_and_the_log_goes_on(backend: Backend) -> None:
    """A batch refused inside the sequencing transaction (here: a conflict found under the lock) writes nothing;
    a reopened store (a restart) continues the same tree."""
    log = backend.log()
    receipts = log.submit("shuzhi-tech/gw-1", 1, 10)
    conflicting = [log.event(event_id="shuzhi-tech.gw-1-1", gateway_seq=11, status=500)]  # an old id, other content
    body = encode_batch("shuzhi-tech/gw-1", conflicting)
    with pytest.raises(Exception, match="already logged"):
        log.sequencer.submit("shuzhi-tech/gw-1", body, log.sign(body))
    assert log.store.size() == 10
    log.store.close()
    again = backend.log()
    receipts += again.submit("shuzhi-tech/gw-1", 11, 5)
    size, root = again.checkpoint()
    check_log(again, receipts, size, root)


def test_the_mark_of_the_anchors_checked_moves_only_forward_with_its_alarm(backend: Backend) -> None:
    """``anchor_checked`` records the comparison of an anchor's on-chain root and, when it differed, the alarm,
    together; the mark never goes back (a slower replica's older check). Without an election (one notary, or no
    fence set) the leader-only writes and ``check_leader`` let everything through."""
    store, other = backend.store(), backend.store()
    store.check_leader("asking the witnesses")
    store.anchor_checked(5, 1, None)
    other.anchor_checked(9, 2, "tamper alarm: the chain holds root 66 for size 9")
    store.anchor_checked(7, 3, None)
    store.add_alarm(4, "split-view", 9, "witness w1 refused checkpoint 9", leader_only=True)
    reopened = backend.store()
    assert reopened.meta("anchors_checked") == "9"
    assert [(a["kind"], a["size"], a["time_ms"]) for a in reopened.alarms()] == [
        ("split-view", 9, 4), ("anchor-mismatch", 9, 2),
    ]  # fmt: skip


def alarm_counts(store: NotaryStorage) -> list[tuple[str, str, int, int, int]]:
    """Each alarm as (kind, subject, count, first found, last found), the last found first."""
    return [(a["kind"], a["subject"], a["count"], a["time_ms"], a["last_ms"]) for a in store.alarms()]


def test_the_same_alarm_found_again_is_counted_on_its_one_row(backend: Backend) -> None:
    """An alarm of a kind and subject already recorded, found again by any replica, by a leader-only duty or by
    the check of an anchor, adds no row: its count and the time it was last found go up; its first time, size
    and message stay. Another subject, or another kind of the same subject, is another alarm; an alarm without a
    subject is about its message."""
    store, other = backend.store(), backend.store()
    first = "integrity alarm: other bytes under tile/0/000.p/5"
    store.add_alarm(10, "object-mismatch", 5, first, subject="tile/0/000.p/5")
    other.add_alarm(30, "object-mismatch", 7, "found again, by another replica", subject="tile/0/000.p/5")
    store.add_alarm(20, "object-mismatch", 9, "found again, a slower clock", subject="tile/0/000.p/5")
    store.add_alarm(15, "object-mismatch", 5, "another object changed", subject="tile/0/001.p/5")
    for round_ms in (40, 41, 42):  # a split view found at every round of the checkpointer
        other.add_alarm(round_ms, "split-view", 12, f"witness w1 refused at {round_ms}", subject="witness w1",
                        leader_only=True)  # fmt: skip
    store.add_alarm(43, "split-view", 12, "witness w2 refused", subject="witness w2", leader_only=True)
    store.anchor_checked(9, 50, "tamper alarm: the chain holds root 66 for size 9")
    other.anchor_checked(9, 55, "tamper alarm: the chain holds root 66 for size 9")  # a second leader's check
    store.add_alarm(60, "test", None, "the same words")
    store.add_alarm(61, "test", None, "the same words")
    store.add_alarm(62, "test", None, "other words")
    reopened = backend.store()
    assert alarm_counts(reopened) == [
        ("test", "other words", 1, 62, 62),
        ("test", "the same words", 2, 60, 61),
        ("anchor-mismatch", "anchor 9", 2, 50, 55),
        ("split-view", "witness w2", 1, 43, 43),
        ("split-view", "witness w1", 3, 40, 42),
        ("object-mismatch", "tile/0/000.p/5", 3, 10, 30),
        ("object-mismatch", "tile/0/001.p/5", 1, 15, 15),
    ]
    changed = {a["subject"]: a for a in reopened.alarms()}["tile/0/000.p/5"]
    assert (changed["size"], changed["message"]) == (5, first)
    assert [a["subject"] for a in reopened.alarms(limit=2)] == ["other words", "the same words"]


@pytest.fixture
def once(backend: Backend) -> Backend:
    """The backend, under ``intl`` only: what does not depend on the log's suite runs once per backend."""
    if backend.suite is not INTL:
        pytest.skip("alarms are the same under either suite: run under intl")
    return backend


def test_alarms_page_after_a_key_the_same_in_every_backend(once: Backend) -> None:
    """``alarms(after=key)`` continues the order of ``alarms()`` (the last found first, then the last opened)
    after the alarm of ``key``, with ``open_only`` too; alarms found at the same time are told apart by id, and an
    alarm found again moves up. Each backend pages to the same ids (the notary's ``/v1/alarms`` cursor is this
    key)."""
    store, other = once.store(), once.store()
    for n, at in enumerate((10, 20, 20, 20, 30, 40), start=1):
        (store if n % 2 else other).add_alarm(at, "split-view", n, f"witness w{n} refused", subject=f"witness w{n}")
    other.add_alarm(50, "split-view", 9, "witness w1 refused again", subject="witness w1")
    assert store.resolve_alarm(5, 60, "op/ops", "w5 restored")[1]
    every = [a["id"] for a in store.alarms()]
    assert every == [1, 6, 5, 4, 3, 2]

    def walk(limit: int, open_only: bool) -> list[list[int]]:
        pages, after = [], None
        while True:
            rows = other.alarms(limit=limit, open_only=open_only, after=after)
            pages.append([a["id"] for a in rows])
            if len(rows) < limit:
                return pages
            after = alarm_key(rows[-1])

    assert walk(2, False) == [[1, 6], [5, 4], [3, 2], []]
    assert walk(4, False) == [[1, 6, 5, 4], [3, 2]]
    assert walk(2, True) == [[1, 6], [4, 3], [2]]
    assert [a["id"] for a in store.alarms(after=AlarmKey(20, 4))] == [3, 2]  # found at 20, opened before 4
    assert [a["id"] for a in store.alarms(after=AlarmKey(20, 99))] == [4, 3, 2]  # a key of no alarm
    assert store.alarms(after=AlarmKey(0, 1)) == []


def test_a_resolved_alarm_keeps_its_history_and_the_condition_found_again_opens_another(once: Backend) -> None:
    """Resolving closes an open alarm once, by any replica, with when, who and why; the row and its count stay.
    An unknown id, or an alarm resolved already, changes nothing. The same kind and subject found after that, by
    any replica or by the check of an anchor, is a new open alarm, counted on its own."""
    store, other = once.store(), once.store()
    store.add_alarm(10, "split-view", 9, "witness w1 refused checkpoint 9", subject="witness w1")
    other.add_alarm(20, "split-view", 10, "witness w1 refused checkpoint 10", subject="witness w1")
    store.anchor_checked(9, 30, "tamper alarm: the chain holds root 66 for size 9")
    first, anchor = {a["subject"]: a["id"] for a in store.alarms()}["witness w1"], store.alarms()[0]["id"]
    assert store.resolve_alarm(first + anchor + 1000, 40, "op/ops", "checked") == (None, False)
    row, resolved = other.resolve_alarm(first, 40, "op/ops", "w1 restored from its backup")
    assert resolved and row is not None
    assert (row["count"], row["time_ms"], row["last_ms"], row["resolved_ms"], row["resolved_by"], row["reason"]) == (
        2, 10, 20, 40, "op/ops", "w1 restored from its backup"
    )  # fmt: skip
    assert store.resolve_alarm(first, 50, "someone/else", "again") == (row, False)  # never replaced
    store.add_alarm(60, "split-view", 12, "witness w1 refused checkpoint 12", subject="witness w1", leader_only=True)
    other.add_alarm(61, "split-view", 13, "witness w1 refused checkpoint 13", subject="witness w1")
    assert store.resolve_alarm(anchor, 62, "op/ops", "the chain reorganised; the anchor was sent again")[1]
    store.anchor_checked(9, 70, "tamper alarm: the chain holds root 67 for size 9")
    reopened = once.store()
    found = [
        (a["kind"], a["subject"], a["count"], a["time_ms"], a["last_ms"], a["resolved_ms"]) for a in reopened.alarms()
    ]
    assert found == [
        ("anchor-mismatch", "anchor 9", 1, 70, 70, None),
        ("split-view", "witness w1", 2, 60, 61, None),
        ("anchor-mismatch", "anchor 9", 1, 30, 30, 62),
        ("split-view", "witness w1", 2, 10, 20, 40),
    ]
    assert [a["subject"] for a in reopened.alarms(open_only=True)] == ["anchor 9", "witness w1"]
    assert reopened.open_alarms() == 2 and reopened.alarms(limit=1, open_only=True)[0]["last_ms"] == 70


def test_findings_while_an_alarm_is_resolved_are_each_counted_once(once: Backend) -> None:
    """Replicas finding one condition while an operator resolves its alarm: every finding is counted on exactly
    one row, at most one row is open, and the resolved one keeps the count it had when resolved."""
    stores = [once.store() for _ in range(3)]
    stores[0].add_alarm(1, "object-mismatch", 3, "changed", subject="tile/0/000.p/3")
    (alarm_id,) = [a["id"] for a in stores[0].alarms()]
    finders = stores[1:]
    start = threading.Barrier(len(finders) + 1, timeout=60)
    errors: list[BaseException] = []

    def find(store: NotaryStorage, n: int) -> None:
        try:
            start.wait()
            for i in range(15):
                store.add_alarm(100 + n * 20 + i, "object-mismatch", 3, "changed", subject="tile/0/000.p/3")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=find, args=(store, n)) for n, store in enumerate(finders)]
    for t in threads:
        t.start()
    start.wait()
    row, resolved = stores[0].resolve_alarm(alarm_id, 500, "op/ops", "bucket restored")
    for t in threads:
        t.join(timeout=120)
    assert not errors and resolved and row is not None
    rows = once.store().alarms()
    assert sum(a["count"] for a in rows) == 1 + len(finders) * 15
    assert [a["id"] for a in rows if a["resolved_ms"] is not None] == [alarm_id]
    assert len([a for a in rows if a["resolved_ms"] is None]) <= 1
    assert {a["id"]: a["count"] for a in rows}[alarm_id] == row["count"]


def test_alarms_found_at_once_by_many_threads_count_every_finding(backend: Backend) -> None:
    """Replicas finding the same condition at the same moment: one row, no finding lost."""
    stores = [backend.store() for _ in range(4)]
    start = threading.Barrier(len(stores))
    failed: list[BaseException] = []

    def find(store: NotaryStorage, n: int) -> None:
        start.wait()
        try:
            for i in range(10):
                store.add_alarm(100 + n * 10 + i, "object-mismatch", 3, "changed", subject="tile/0/000.p/3")
        except BaseException as exc:  # reported below
            failed.append(exc)

    threads = [threading.Thread(target=find, args=(store, n)) for n, store in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failed == []
    assert alarm_counts(backend.store()) == [("object-mismatch", "tile/0/000.p/3", 40, 100, 139)]


def test_a_crash_between_commit_and_publication_is_recovered(backend: Backend) -> None:
    """PostgreSQL + S3: the batch committed, then the process died before writing its objects (here the object
    store fails every write after the commit, and the store is abandoned as a dead process would leave it). The
    next store to open publishes the pending objects. SQLite commits tiles with the entries: nothing to recover."""
    log = backend.log()
    receipts = log.submit("shuzhi-tech/gw-1", 1, 20)
    if backend.name == "postgres+s3":
        from notary.storage.postgres import PostgresStore

        store = log.store
        assert isinstance(store, PostgresStore)

        def dead(key: str, data: bytes) -> None:
            raise StoreUnavailableError("the process died here")

        store.objects.put_immutable = dead  # type: ignore[method-assign]
        with pytest.raises(StoreUnavailableError, match=r"batch was committed as entries 20\.\.49"):
            log.submit("shuzhi-tech/gw-1", 21, 30)
        assert store.size() == 20  # committed but not readable: readers see the published size only
    else:
        receipts += log.submit("shuzhi-tech/gw-1", 21, 30)
    restarted = backend.log()  # opening publishes what is pending
    assert restarted.store.size() == 50
    receipts = receipts[:20] + restarted.submit("shuzhi-tech/gw-1", 21, 30)  # resubmitted: receipts, no new leaf
    assert restarted.store.size() == 50
    size, root = restarted.checkpoint()
    check_log(restarted, receipts, size, root)


@pytest.fixture
def servers(backend: Backend) -> dict[str, Any]:
    if backend.name == "sqlite":
        pytest.skip("the embedded store has no server to lose")
    if backend.suite is not INTL:
        pytest.skip("an outage of a server, or bytes changed under it, is the same under either suite: run under intl")
    return backend.servers


def test_a_database_outage_is_reported_and_loses_nothing(backend: Backend, servers: dict[str, Any]) -> None:
    log = backend.log()
    receipts = log.submit("shuzhi-tech/gw-1", 1, 10)
    servers["postgres"].kill()
    try:
        with pytest.raises(StoreUnavailableError, match=r"the database \(postgresql://.*\) is unreachable"):
            log.submit("shuzhi-tech/gw-1", 11, 5)
        with pytest.raises(StoreUnavailableError, match="database"):
            log.store.latest_checkpoint(published=False)
    finally:
        servers["postgres"].start()
    receipts += log.submit("shuzhi-tech/gw-1", 11, 5)  # the same store reconnects
    size, root = log.checkpoint()
    check_log(log, receipts, size, root)


def test_an_object_store_outage_is_reported_and_loses_nothing(backend: Backend, servers: dict[str, Any]) -> None:
    """moto keeps its objects in memory: the outage comes before anything was published, and the bucket is made
    again (empty) when the server is back; everything the database committed is then published from it."""
    log = backend.log()
    s3 = servers["s3"]
    s3.kill()
    try:
        with pytest.raises(StoreUnavailableError, match=r"the object store \(s3://.*\) is unreachable"):
            log.submit("shuzhi-tech/gw-1", 1, 10)
        with pytest.raises(StoreUnavailableError, match="object store"):
            log.submit("shuzhi-tech/gw-1", 11, 5)  # not committed: publication of the first comes first
        assert log.store.size() == 0
    finally:
        s3.start()
    s3.client().create_bucket(Bucket=backend.bucket)
    receipts = log.submit("shuzhi-tech/gw-1", 1, 10)  # the unacknowledged batch, resubmitted
    receipts += log.submit("shuzhi-tech/gw-1", 11, 5)
    size, root = log.checkpoint()
    check_log(log, receipts, size, root)


def test_other_bytes_under_an_immutable_key_raise_an_integrity_alarm(backend: Backend, servers: dict[str, Any]) -> None:
    log = backend.log()
    log.submit("shuzhi-tech/gw-1", 1, 3)
    servers["s3"].client().put_object(Bucket=backend.bucket, Key=tile_path(0, 0, 5), Body=b"\x00" * 160)
    with pytest.raises(StoreError, match=r"integrity alarm.*tile/0/000\.p/5"):
        log.submit("shuzhi-tech/gw-1", 4, 2)
    assert [(a["kind"], a["subject"], a["count"]) for a in log.store.alarms()] == [
        ("object-mismatch", "tile/0/000.p/5", 1)
    ]
    # found again at each try, and by another replica's maintenance when it opens: the one alarm counts them
    with pytest.raises(StoreError, match=r"integrity alarm.*tile/0/000\.p/5"):
        log.submit("shuzhi-tech/gw-1", 4, 2)
    with pytest.raises(StoreError, match=r"integrity alarm.*tile/0/000\.p/5"):
        backend.store()
    assert [(a["kind"], a["subject"], a["count"]) for a in log.store.alarms()] == [
        ("object-mismatch", "tile/0/000.p/5", 3)
    ]


def test_the_watermark_catches_up_when_another_replica_published_the_objects(
    backend: Backend, servers: dict[str, Any]
) -> None:
    """Two replicas publishing at once: one writes the objects and forgets the pending rows, but its watermark
    step ran before the older batch was published, so the watermark stays behind with nothing pending. The next
    maintenance, by any replica, moves it to the tree size."""
    import psycopg

    from notary.storage.postgres import PostgresStore

    log = backend.log()
    store = log.store
    assert isinstance(store, PostgresStore)
    real_put = store.objects.put_immutable

    def dead(key: str, data: bytes) -> None:
        raise StoreUnavailableError("the process died here")

    store.objects.put_immutable = dead  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailableError):
        log.submit("shuzhi-tech/gw-1", 1, 10)
    with psycopg.connect(store.url, autocommit=True) as conn:  # "the other replica": objects written, rows gone
        for key, data in conn.execute("SELECT key, data FROM pending").fetchall():
            real_put(key, bytes(data))
        conn.execute("DELETE FROM pending")
    assert store.size() == 0
    other = backend.store()
    assert other.size() == 10
    receipts = backend.log(other).submit("shuzhi-tech/gw-1", 1, 10)
    size, root = backend.log(other).checkpoint()
    check_log(backend.log(other), receipts, size, root)
