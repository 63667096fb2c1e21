"""Anchoring across a change of leader, with notary replicas as the service runs them: each with its own store on
the tests' PostgreSQL and S3 servers, its part in the election and its anchorer, both loops in threads, on one
chain (a real anvil node) and one notary account.

The leader is paused (a long GC, a stopped VM) after it broadcast an anchor and before it recorded the
confirmation. Its session falls silent, the server ends it after the lease, and the other replica takes the lead,
finds the anchor its predecessor sent and confirms it, with no second transaction. The old leader then wakes up
still counting itself leader (its lease clock stands still, as a paused process's own view of time does) and
writes the confirmation: refused, its fencing token is the old one. The new leader anchors the next checkpoint.
On chain: every published checkpoint anchored once, no gap, no duplicate, and exactly one transaction each."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_typing import HexStr

from chain.backend import RpcBackend
from chain.contracts import AuditAnchorClient
from chain.tx import Signer
from notary.anchor import CHECKED_KEY, Anchorer
from notary.logsuite import INTL
from notary.storage.leader import PostgresLeader
from notary.storage.postgres import ObjectStoreConfig, PostgresStore
from tests.integration.storage.test_conformance import ORIGIN, Log
from tests.support.consortium import Keys, deploy_test_consortium
from tests.support.wait import wait_until

pytestmark = pytest.mark.anvil

LEASE = 1.0  # the replicas' leader lease (s): they try or confirm the lead every 0.2 s
TICK = 0.05  # the anchorers' step interval (s)
DEADLINE = 20.0  # for what the loops do in their own time


class Pause:
    """A replica's anchoring clock that stops its thread, as a paused process stops, the first time it is read
    while this replica's own anchor intent is stored and unconfirmed: after the broadcast, before the confirmation
    is written (``Anchorer._confirm`` reads the clock just before it writes)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.paused = threading.Event()
        self.resume = threading.Event()

    def __call__(self) -> float:
        if not self.paused.is_set() and self.store.anchors(state="sent"):
            self.paused.set()
            self.resume.wait(DEADLINE)
        return time.time()


class Replica:
    """One notary replica in this process: store, log, election and anchorer, the loops run as the service runs
    them (``NotaryService.start``). Its lease clock stands still: only the database's answers move its lead."""

    def __init__(
        self, url: str, config: ObjectStoreConfig, name: str, chain_url: str, anchors: str, keys: Keys,
        clock: Callable[[PostgresStore], Callable[[], float]],
    ) -> None:  # fmt: skip
        self.name = name
        self.store = PostgresStore(url, config, connect_timeout=2)
        self.leader = PostgresLeader(url, lease=LEASE, replica=name, monotonic=lambda: 0.0, connect_timeout=2)
        self.store.fence = self.leader.fencing_token
        self.log = Log(self.store, INTL)
        self.chain = RpcBackend(chain_url)
        self.clock = clock(self.store)
        self.anchorer = Anchorer(
            self.store, self.log.reader, AuditAnchorClient(self.chain, anchors), Signer(keys.deployer), ORIGIN,
            interval=0, clock=self.clock,
        )  # fmt: skip
        self.stop_leader, self.stop_anchoring = threading.Event(), threading.Event()
        self.threads: dict[str, threading.Thread] = {}

    def start(self) -> None:
        loops = {
            "leader": lambda: self.leader.run(self.stop_leader),
            "anchorer": lambda: self.anchorer.run(self.stop_anchoring, TICK, self.leader.leading),
        }
        for what, loop in loops.items():
            thread = threading.Thread(target=loop, name=f"{self.name}-{what}", daemon=True)
            thread.start()
            self.threads[what] = thread

    def close(self) -> None:
        self.stop_leader.set()
        self.stop_anchoring.set()
        if isinstance(self.clock, Pause):
            self.clock.resume.set()
        for thread in self.threads.values():
            thread.join(DEADLINE)
        self.leader.close()
        self.log.close()
        self.store.close()
        self.chain.close()


@pytest.fixture
def chain(anvil_url: str) -> tuple[str, str, Keys]:
    """A consortium freshly deployed on the session's anvil: (node URL, AuditAnchor address, keys)."""
    keys = Keys.create()
    backend = RpcBackend(anvil_url)
    try:
        consortium = deploy_test_consortium(backend, keys)
    finally:
        backend.close()
    return anvil_url, consortium.anchors.address, keys


@pytest.fixture
def replicas(postgres: Any, s3: Any, chain: tuple[str, str, Keys]) -> Iterator[tuple[Replica, Replica]]:
    url, bucket = postgres.create_database("anchoring"), s3.create_bucket("anchoring")
    config = ObjectStoreConfig(bucket, s3.url, access_key=s3.access_key, secret_key=s3.secret_key, timeout_s=2)
    a = Replica(url, config, "replica-a", *chain, clock=Pause)
    b = Replica(url, config, "replica-b", *chain, clock=lambda _store: time.time)
    try:
        yield a, b
    finally:
        for replica in (a, b):
            with contextlib.suppress(Exception):
                replica.close()


def test_a_leader_deposed_mid_anchoring_is_fenced_and_its_successor_anchors_once(
    replicas: tuple[Replica, Replica], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = replicas
    caplog.set_level(logging.INFO, logger="notary.anchor")
    pause = a.clock
    assert isinstance(pause, Pause)
    web3 = a.chain.web3
    account = a.anchorer.signer.account.address
    nonce_before = int(web3.eth.get_transaction_count(account))

    assert a.leader.step() and not b.leader.step()  # a leads with token 1
    receipts = a.log.submit("shuzhi-tech/gw-1", 1, 20)
    assert a.log.checkpoint()[0] == 20
    a.start()
    b.start()

    # a broadcasts the anchor of 20 and is paused before it records the confirmation
    wait_until(pause.paused.is_set, "the leader to pause between its broadcast and its confirmation", DEADLINE)
    (sent,) = a.store.anchors()
    assert (sent["size"], sent["state"]) == (20, "sent")
    # the whole process is paused: its election thread says nothing more either, and the server ends the silent
    # session after the lease; b takes the lead
    a.stop_leader.set()
    wait_until(b.leader.leading, "the other replica to take the lead after the lease", 10 * LEASE)
    assert b.leader.fencing_token() == 2 and a.leader.fencing_token() == 1  # a has not noticed

    # b resolves the anchor its predecessor sent: the same transaction, confirmed, not a second one
    wait_until(
        lambda: b.store.anchors(state="confirmed") and b.store.meta(CHECKED_KEY) == "20",
        "the new leader to confirm and check the anchor its predecessor sent",
        DEADLINE,
    )
    (confirmed,) = b.store.anchors()
    assert confirmed["tx_hash"] == sent["tx_hash"] and confirmed["nonce"] == sent["nonce"]

    # a wakes up counting itself leader: its confirmation, under token 1, is refused
    pause.resume.set()
    wait_until(
        lambda: any("fencing token 1, the current leader's is 2" in r.getMessage() for r in caplog.records),
        "the old leader's write to be refused",
        DEADLINE,
    )
    assert a.leader.leading()  # still believes it leads, and its loop goes on stepping: every write is fenced

    # the log grows; the new leader checkpoints and anchors the next size while both anchorers step
    receipts += b.log.submit("shuzhi-tech/gw-1", 21, 10)
    assert b.log.checkpoint()[0] == 30
    wait_until(lambda: b.store.meta(CHECKED_KEY) == "30", "the new leader to anchor and check checkpoint 30", DEADLINE)
    for replica in (a, b):
        replica.stop_anchoring.set()
        replica.threads["anchorer"].join(DEADLINE)
        assert not replica.threads["anchorer"].is_alive()

    # on chain: each published checkpoint anchored once, with its root; no gap, no duplicate, no wasted transaction
    anchors = AuditAnchorClient(b.chain, b.anchorer.anchors.address)
    published = [row.size for row in b.store.checkpoints(0, 10)]
    assert published == [20, 30]
    assert anchors.count(ORIGIN) == len(published)
    for size in published:
        info = anchors.at_size(ORIGIN, size)
        assert info is not None and info.root_hash == b.log.reader.root_at(size)
    latest = anchors.latest(ORIGIN)
    assert latest is not None and latest.tree_size == 30
    assert int(web3.eth.get_transaction_count(account)) == nonce_before + len(published)
    rows = b.store.anchors()
    assert [(row["size"], row["state"]) for row in rows] == [(20, "confirmed"), (30, "confirmed")]
    for row in rows:
        assert web3.eth.get_transaction_receipt(HexStr(row["tx_hash"]))["status"] == 1
    assert b.store.alarms() == []
    assert sorted(r.index for r in receipts) == list(range(30))
    # the bucket's checkpoint object is the newest published checkpoint
    newest = b.store.checkpoint(30)
    assert newest is not None and b.store.objects.get("checkpoint") == newest.cosigned
    # at its next step the old leader sees its session gone and stops leading
    assert not a.leader.step() and b.leader.step()
