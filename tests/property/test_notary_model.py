"""A stateful model of the notary: submit, duplicate, gap, restart and read, against a plain list of entries.

Hypothesis drives random sequences of operations on a real store in a temporary directory; after each step
the sequencer's answers and the stored tree must agree with the model (the entries in order, their RFC 9162
root, every receipt's index)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from notary.errors import ConflictError
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner, NoteVerifier
from notary.log.proof import verify_inclusion
from notary.reader import LogReader
from notary.receipt import verify_receipt
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.store import LogStore
from tests.support.notary_events import event

ORIGIN = "model/audit-log"
GATEWAY = "shuzhi-tech/gw-1"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
GW_KEY = Ed25519PrivateKey.from_private_bytes(b"\x06" * 32)


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class NotaryModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="notary-model-"))
        self.entries: list[bytes] = []  # the model: entry bytes in index order
        self.index_of: dict[str, int] = {}
        self.sent: dict[str, dict[str, Any]] = {}
        self.next_seq = 1
        self.open()

    def open(self) -> None:
        self.store = LogStore(self.directory / "notary.db")
        self.reader = LogReader(self.store)
        self.seq = Sequencer(
            self.store,
            NoteSigner(ORIGIN, LOG_KEY),
            SequencerSettings(ORIGIN),
            {"shuzhi-tech": raw(GW_KEY)},
            on_commit=self.reader.invalidate,
        )

    def submit(self, events: list[dict[str, Any]]) -> Any:
        body = encode_batch(GATEWAY, events)
        return self.seq.submit(GATEWAY, body, sign_batch_body(GW_KEY, body))

    @rule(count=st.integers(1, 300), skip=st.integers(0, 3))
    def submit_new(self, count: int, skip: int) -> None:
        self.next_seq += skip  # a gap of `skip` numbers
        now = int(time.time() * 1000)
        events = [
            event(event_id=f"e{self.next_seq + i}", gateway_seq=self.next_seq + i, time_ms=now) for i in range(count)
        ]
        self.next_seq += count
        result = self.submit(events)
        assert result.new == count and result.duplicates == 0
        assert (skip > 0) == bool(result.gaps)
        for ev, receipt in zip(events, result.receipts, strict=True):
            assert receipt.index == len(self.entries)
            self.index_of[ev["event_id"]] = receipt.index
            self.sent[ev["event_id"]] = ev
            self.entries.append(self.store.entry(receipt.index).data)  # type: ignore[union-attr]

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def resubmit_duplicates(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(sorted(self.sent)), min_size=1, max_size=5, unique=True))
        ids.sort(key=lambda i: self.sent[i]["gateway_seq"])
        result = self.submit([self.sent[i] for i in ids])
        assert (result.new, result.duplicates) == (0, len(ids))
        assert [r.index for r in result.receipts] == [self.index_of[i] for i in ids]

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def reuse_a_sequence_number(self, data: st.DataObject) -> None:
        victim = self.sent[data.draw(st.sampled_from(sorted(self.sent)))]
        try:
            self.submit([event(event_id="intruder", gateway_seq=victim["gateway_seq"], time_ms=victim["time_ms"])])
        except ConflictError:
            return
        raise AssertionError("a used sequence number was accepted")

    @rule()
    def restart(self) -> None:
        self.store.close()
        self.open()

    @precondition(lambda self: bool(self.entries))
    @rule(data=st.data())
    def read_a_proof(self, data: st.DataObject) -> None:
        size = data.draw(st.integers(1, len(self.entries)))
        index = data.draw(st.integers(0, size - 1))
        proof = self.reader.inclusion(index, size)
        verify_inclusion(hash_leaf(self.entries[index]), index, size, proof, root_of(self.leaves()[:size]))
        event_id = next(i for i, n in self.index_of.items() if n == index)
        verify_receipt(self.seq.receipt(event_id), NoteVerifier(ORIGIN, raw(LOG_KEY)))

    def leaves(self) -> list[bytes]:
        return [hash_leaf(e) for e in self.entries]

    @invariant()
    def tree_matches_the_model(self) -> None:
        assert self.seq.size == self.store.size() == len(self.entries)
        if self.entries:
            assert self.reader.root_at(len(self.entries)) == root_of(self.leaves())

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)


NotaryModel.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
test_notary_model = NotaryModel.TestCase
