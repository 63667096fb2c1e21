"""The store's writer lock: the sequencer, the checkpointer and the anchorer write through one SQLite connection.

Regression: without the lock in ``LogStore.transaction``, a thread's ``BEGIN`` inside another thread's open
transaction failed, and its ``ROLLBACK`` undid the other thread's transaction, whose remaining statements then
committed one by one — a partial batch, and the next batch refused with "UNIQUE constraint failed" (503 over
HTTP). Here real threads run both kinds of transactions at once through the real store, sequencer and
checkpointer, and every write must be there, whole, with no error anywhere.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from notary.checkpointer import Checkpointer, WitnessPolicy
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner
from notary.reader import LogReader
from notary.receipt import Receipt
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.store import CheckpointRow, LogStore
from tests.support.clock import FIXED_NOW_S
from tests.support.notary_events import event

ORIGIN = "test-consortium/audit-log"
ORG = "shuzhi-tech"
GATEWAYS = 3  # one submitting thread each
BATCHES = 40  # per gateway
EVENTS = 30  # per batch
DEADLINE_S = 120.0
MAX_ERRORS = 1000  # a broken store fails every step: stop there


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _clock() -> float:
    """The sequencer's and checkpointer's clock: the fixed instant the events are dated at."""
    return float(FIXED_NOW_S)


class Run:
    """Threads that write through one store at once; each records what it wrote and any error it met."""

    def __init__(self, directory: Path) -> None:
        log_key, self.gw_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        self.store = LogStore(directory / "notary.db")
        self.reader = LogReader(self.store)
        signer = NoteSigner(ORIGIN, log_key)
        self.sequencer = Sequencer(
            self.store,
            signer,
            SequencerSettings(ORIGIN),
            {ORG: raw(self.gw_key)},
            clock=_clock,
            on_commit=self.reader.invalidate,
        )
        no_witnesses = WitnessPolicy(0, (), False, frozenset())
        self.checkpointer = Checkpointer(
            self.store, self.reader, signer, ORIGIN, [], no_witnesses, lambda: self.sequencer.size, clock=_clock
        )
        self.receipts: list[tuple[bytes, Receipt]] = []  # (entry data, receipt) of every acknowledged event
        self.checkpoints: list[CheckpointRow] = []
        self.alarms: list[str] = []
        self.errors: list[str] = []
        self.sequencing_done = threading.Event()
        self._start = threading.Barrier(GATEWAYS + 2)
        self._lock = threading.Lock()

    def thread(self, name: str, step: Callable[[int], bool]) -> threading.Thread:
        """A thread calling ``step(0)``, ``step(1)``, ... until it returns False. Like the notary's loops and its
        HTTP server, it records an error and goes on with the next step."""

        def target() -> None:
            self._start.wait()
            n = 0
            while True:
                try:
                    if not step(n):
                        return
                except Exception as exc:
                    with self._lock:
                        self.errors.append(f"{name}: {exc.__class__.__name__}: {exc}")
                    if len(self.errors) > MAX_ERRORS:
                        return
                n += 1

        return threading.Thread(target=target, name=name, daemon=True)

    def sequence(self, gateway: int, b: int) -> bool:
        """Batch ``b`` of the gateway ``gw-<gateway>``."""
        if b >= BATCHES:
            return False
        gateway_id = f"{ORG}/gw-{gateway}"
        now = FIXED_NOW_S * 1000
        events = [
            event(event_id=f"{gateway}-{b}-{i}", gateway_id=gateway_id, gateway_seq=b * EVENTS + i + 1, time_ms=now)
            for i in range(EVENTS)
        ]
        body = encode_batch(gateway_id, events)
        result = self.sequencer.submit(gateway_id, body, sign_batch_body(self.gw_key, body))
        assert result.new == EVENTS
        with self._lock:
            self.receipts.extend(zip([_canonical(e) for e in events], result.receipts, strict=True))
        return True

    def checkpoint(self, _: int) -> bool:
        row = self.checkpointer.sign()
        if row is not None:
            self.checkpoints.append(row)
        return not self.sequencing_done.is_set()

    def alarm(self, n: int) -> bool:
        message = f"alarm {n}"
        self.store.add_alarm(n, "test", None, message)  # the anchorer's and checkpointer's other kind of write
        self.alarms.append(message)
        return not self.sequencing_done.is_set()

    def run(self) -> None:
        writers = [self.thread(f"gateway {g}", functools.partial(self.sequence, g)) for g in range(GATEWAYS)]
        others = [self.thread("checkpointer", self.checkpoint), self.thread("alarms", self.alarm)]
        for thread in writers + others:
            thread.start()
        deadline = time.monotonic() + DEADLINE_S
        for thread in writers:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.sequencing_done.set()
        for thread in others:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in writers + others), "a writer thread hung"
        final = self.checkpointer.sign()  # the size reached, checkpointed once more with nothing beside it
        if final is not None:
            self.checkpoints.append(final)


def _canonical(obj: dict[str, object]) -> bytes:
    from notary.event import canonical_entry, validate_event

    return canonical_entry(validate_event(obj, ()))


def test_concurrent_batches_and_checkpoints_commit_whole_and_without_errors(tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.run()

    store = LogStore(tmp_path / "notary.db")  # a fresh connection sees only what was committed
    # every batch stored is whole: its entries, and only those, carry its id
    counts = dict(store._query("SELECT batch, COUNT(*) FROM entries GROUP BY batch"))
    batches = store._query("SELECT id, first, count FROM batches ORDER BY id")
    partial = [f"batch {i} at {at}: {counts.get(i, 0)} of {n} entries" for i, at, n in batches if counts.get(i) != n]
    orphans = sum(n for i, n in counts.items() if i not in {b[0] for b in batches})
    # every acknowledged event is at its receipted index with its bytes
    lost = [r.index for data, r in run.receipts if (row := store.entry(r.index)) is None or row.data != data]
    assert (partial, orphans, lost) == ([], 0, []), f"partial batches {partial[:5]}, entries of no batch {orphans}"
    assert run.errors == [], "\n".join(run.errors[:10])  # e.g. "UNIQUE constraint failed" after a partial batch

    total = GATEWAYS * BATCHES * EVENTS
    assert len(batches) == GATEWAYS * BATCHES and len(run.receipts) == total
    assert run.sequencer.size == store.size() == total
    assert sorted(r.index for _, r in run.receipts) == list(range(total))

    # the tiles hold exactly the tree of the entries, and every checkpoint signed is stored with its root
    leaves = [hash_leaf(d) for d in store.entries(0, total)]
    fresh = LogReader(store)
    assert fresh.root_at(total) == root_of(leaves)
    assert run.checkpoints and run.checkpoints[-1].size == total
    for cp in run.checkpoints:
        stored = store.checkpoint(cp.size)
        assert stored is not None and stored.note == cp.note
        assert stored.root == root_of(leaves[: cp.size]), f"checkpoint {cp.size} does not match the entries"
    assert len(store._query("SELECT size FROM checkpoints")) == len(run.checkpoints)

    # and every alarm written is there
    assert sorted(a["message"] for a in store.alarms(limit=len(run.alarms) + 10)) == sorted(run.alarms)
    store.close()
    run.checkpointer.close()
    run.store.close()
