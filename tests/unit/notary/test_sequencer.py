"""Sequencing: signed batches become durable entries with receipts; every refusal leaves the store as it was."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from notary.errors import (
    BatchTooLargeError,
    CompromisedKeyError,
    ConflictError,
    NotFoundError,
    SignatureError,
    StorageFullError,
    UnknownGatewayError,
)
from notary.event import EventSchemaError, canonical_entry
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner, NoteVerifier
from notary.reader import LogReader
from notary.receipt import Receipt, verify_receipt
from notary.sequencer import (
    CompromisedGatewayKey,
    Sequencer,
    SequencerSettings,
    encode_batch,
    encode_entries_batch,
    sign_batch_body,
)
from notary.store import LogStore
from tests.support.notary_events import event

ORIGIN = "test-consortium/audit-log"
NOW = 1_795_000_000.0
GW = "shuzhi-tech/gw-1"


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class Harness:
    def __init__(self, directory: Path, max_pages: int | None = None) -> None:
        self.directory = directory
        self.log_key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
        self.gw_key = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
        self.now = NOW
        self.max_pages = max_pages
        self.open()

    def open(self) -> None:
        self.store = LogStore(self.directory / "notary.db", max_pages=self.max_pages)
        self.reader = LogReader(self.store)
        self.seq = Sequencer(
            self.store,
            NoteSigner(ORIGIN, self.log_key),
            SequencerSettings(ORIGIN),
            {"shuzhi-tech": raw(self.gw_key)},
            clock=lambda: self.now,
            on_commit=self.reader.invalidate,
        )

    def reopen(self) -> None:
        self.store.close()
        self.open()

    def submit(self, events: list[dict[str, Any]], gateway: str = GW, key: Ed25519PrivateKey | None = None) -> Any:
        body = encode_batch(gateway, events)
        return self.seq.submit(gateway, body, sign_batch_body(key or self.gw_key, body))

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(ORIGIN, raw(self.log_key))

    def snapshot(self) -> dict[str, list[Any]]:
        conn = sqlite3.connect(self.directory / "notary.db")
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
        finally:
            conn.close()


def events(first_seq: int, count: int, prefix: str = "ev") -> list[dict[str, Any]]:
    return [
        event(event_id=f"{prefix}-{first_seq + i}", gateway_seq=first_seq + i, time_ms=int(NOW * 1000))
        for i in range(count)
    ]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_a_reader_asks_the_committed_size_only_for_a_size_beyond_the_largest_it_saw(tmp_path: Path) -> None:
    """A log only grows: proofs at sizes the reader has seen committed ask the store nothing more; a larger size is
    asked again, and one beyond the log is refused each time; the proofs are those of a reader asking every time."""
    h = Harness(tmp_path)
    asked: list[int] = []

    def committed() -> int:
        asked.append(h.store.size())
        return asked[-1]

    counting = LogReader(h.store, committed)

    def invalidate(tiles: dict[tuple[int, int], bytes]) -> None:
        h.reader.invalidate(tiles)
        counting.invalidate(tiles)

    h.seq = Sequencer(
        h.store, NoteSigner(ORIGIN, h.log_key), SequencerSettings(ORIGIN), {"shuzhi-tech": raw(h.gw_key)},
        clock=lambda: h.now, on_commit=invalidate,
    )  # fmt: skip
    h.submit(events(1, 8))
    assert counting.inclusion(2, 8) == h.reader.inclusion(2, 8)
    assert counting.inclusion(3, 5) == h.reader.inclusion(3, 5)
    assert counting.consistency(4, 8) == h.reader.consistency(4, 8)
    assert counting.root_at(8) == h.reader.root_at(8)
    assert asked == [8]
    for _ in range(2):
        with pytest.raises(NotFoundError, match="the log has 8 entries"):
            counting.inclusion(0, 9)
    assert asked == [8, 8, 8]
    h.submit(events(9, 4))
    assert counting.inclusion(0, 12) == h.reader.inclusion(0, 12)
    assert counting.inclusion(1, 8) == h.reader.inclusion(1, 8)
    assert asked == [8, 8, 8, 12]


def test_a_batch_gets_consecutive_indexes_and_receipts_that_verify(h: Harness) -> None:
    first = h.submit(events(1, 3))
    second = h.submit(events(4, 5))
    assert [r.index for r in first.receipts + second.receipts] == list(range(8))
    assert (first.new, first.duplicates, second.new) == (3, 0, 5)
    for receipt in first.receipts + second.receipts:
        statement = verify_receipt(receipt, h.verifier())
        assert statement.origin == ORIGIN
        assert statement.time_ms == int(NOW * 1000)
        assert Receipt.from_json(receipt.to_json()) == receipt
    assert h.seq.size == h.store.size() == 8


def test_the_tiles_hold_the_tree_of_the_entries(h: Harness) -> None:
    for k in range(3):
        h.submit(events(1 + 300 * k, 300))
    leaves = [hash_leaf(d) for d in h.store.entries(0, 900)]
    assert h.reader.root_at(900) == root_of(leaves)
    assert h.reader.root_at(257) == root_of(leaves[:257])
    assert h.store.tile(0, 0) == b"".join(leaves[:256])
    assert h.store.tile(1, 0) == b"".join(root_of(leaves[i : i + 256]) for i in (0, 256, 512))


def test_a_duplicate_returns_the_original_receipt_and_adds_no_leaf(h: Harness) -> None:
    batch = events(1, 4)
    original = h.submit(batch)
    again = h.submit(batch[1:3])
    assert (again.new, again.duplicates) == (0, 2)
    assert again.receipts == original.receipts[1:3]
    mixed = h.submit([batch[0], *events(5, 1)])
    assert mixed.receipts[0] == original.receipts[0]
    assert mixed.receipts[1].index == 4
    assert h.seq.size == 5
    assert h.seq.receipt(batch[2]["event_id"]) == original.receipts[2]


def test_receipts_rebuilt_later_are_those_given_at_submission_across_tile_edges(h: Harness) -> None:
    given = []
    for first, count in ((1, 250), (251, 300), (551, 1), (552, 260)):  # batches across the edges 256, 512, 768
        given += h.submit(events(first, count)).receipts
    assert h.seq.size == 811
    for receipt in given[::7] + given[250:252] + given[-2:]:
        assert h.seq.receipt(receipt.event_id) == receipt


def test_the_same_event_id_with_other_content_is_a_conflict(h: Harness) -> None:
    h.submit(events(1, 1))
    before = h.snapshot()
    changed = events(1, 1)[0] | {"status": 500}
    with pytest.raises(ConflictError, match="already logged at index 0 with other content"):
        h.submit([changed])
    assert h.snapshot() == before


def test_a_jump_in_sequence_numbers_is_recorded_as_a_gap_and_can_be_filled(h: Harness) -> None:
    h.submit(events(1, 2))
    result = h.submit(events(6, 2))
    assert result.gaps == [(3, 5)]
    assert [(g, a, b) for g, a, b, _ in h.store.gaps()] == [(GW, 3, 5)]
    h.submit(events(4, 1))  # a late event fills the middle of the gap
    assert [(a, b) for _, a, b, _ in h.store.gaps()] == [(3, 3), (5, 5)]
    h.reopen()
    assert [(a, b) for _, a, b, _ in h.store.gaps()] == [(3, 3), (5, 5)]
    assert h.seq.last_seqs() == {GW: 7}


def test_a_reused_sequence_number_is_a_conflict(h: Harness) -> None:
    h.submit(events(1, 3))
    before = h.snapshot()
    with pytest.raises(ConflictError, match="sequence number 2 was already used"):
        h.submit(events(2, 1, prefix="other"))
    assert h.snapshot() == before


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda e: e[0].update(status=42), EventSchemaError, "events.0.status"),
        (lambda e: e[1].update(gateway_id="shuzhi-tech/gw-2"), EventSchemaError, "events.1.gateway_id"),
        (lambda e: e[0].update(provider_org="jinghua-sec"), EventSchemaError, "events.0.provider_org"),
        (lambda e: e[0].update(time_ms=int(NOW * 1000) - 8 * 86_400_000), EventSchemaError, "accepted window"),
        (lambda e: e[0].update(time_ms=int(NOW * 1000) + 600_000), EventSchemaError, "accepted window"),
        (lambda e: e[1].update(event_id=e[0]["event_id"]), EventSchemaError, "twice"),
        (lambda e: e[1].update(gateway_seq=1), EventSchemaError, "increase"),
    ],
)
def test_a_bad_event_refuses_the_whole_batch(h: Harness, mutate: Any, error: type[Exception], message: str) -> None:
    h.submit(events(1, 1, prefix="seed"))
    before = h.snapshot()
    batch = copy.deepcopy(events(2, 3))
    mutate(batch)
    with pytest.raises(error) as info:
        h.submit(batch)
    text = str(info.value) + " ".join(str(e) for e in getattr(info.value, "errors", []))
    assert message.split(".")[-1] in text
    assert h.snapshot() == before
    assert h.seq.size == 1


def test_signature_gateway_and_size_refusals(h: Harness) -> None:
    before = h.snapshot()
    body = encode_batch(GW, events(1, 1))
    with pytest.raises(SignatureError):
        h.seq.submit(GW, body, sign_batch_body(Ed25519PrivateKey.generate(), body))
    with pytest.raises(SignatureError):
        h.seq.submit(GW, body + b" ", sign_batch_body(h.gw_key, body))
    with pytest.raises(UnknownGatewayError, match="no gateway key"):
        h.submit(events(1, 1), gateway="jinghua-sec/gw-1")
    with pytest.raises(UnknownGatewayError):
        h.seq.submit("not a gateway", body, sign_batch_body(h.gw_key, body))
    with pytest.raises(BatchTooLargeError):
        h.seq.submit(GW, b" " * (16 * 1024 * 1024 + 1), b"")
    bad_bodies = (b"[]", b"{", b'{"gateway": "shuzhi-tech/gw-1", "events": []}', b'{"gateway": "x", "events": [{}]}')
    for bad_body in bad_bodies:
        with pytest.raises(EventSchemaError):
            h.seq.submit(GW, bad_body, sign_batch_body(h.gw_key, bad_body))
    assert h.snapshot() == before


def test_storage_full_writes_nothing_and_resumes_after_space_is_freed(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.submit(events(1, 10))
    pages = sqlite3.connect(tmp_path / "notary.db").execute("PRAGMA page_count").fetchone()[0]
    h.store.close()
    h.max_pages = pages + 2
    h.open()
    before = h.snapshot()
    with pytest.raises(StorageFullError, match="storage full"):
        h.submit(events(11, 2000))
    assert h.snapshot() == before
    assert h.seq.size == 10
    h.store.close()
    h.max_pages = None  # space freed
    h.open()
    result = h.submit(events(11, 2000))
    assert result.receipts[0].index == 10
    assert h.reader.root_at(2010) == root_of([hash_leaf(d) for d in h.store.entries(0, 2010)])


def test_restart_resumes_the_tree_where_it_was(h: Harness) -> None:
    h.submit(events(1, 700))
    root = h.reader.root_at(700)
    h.reopen()
    assert h.seq.size == 700
    assert h.reader.root_at(700) == root
    h.submit(events(701, 100))
    assert h.reader.root_at(800) == root_of([hash_leaf(d) for d in h.store.entries(0, 800)])


def test_receipt_time_never_goes_back_when_the_clock_does(h: Harness) -> None:
    a = h.submit(events(1, 1)).receipts[0]
    h.now -= 3600
    b = h.submit([e | {"time_ms": int(h.now * 1000)} for e in events(2, 1)]).receipts[0]
    ta = verify_receipt(a, h.verifier()).time_ms
    tb = verify_receipt(b, h.verifier()).time_ms
    assert tb >= ta
    assert b.index == a.index + 1


def test_unknown_event_has_no_receipt(h: Harness) -> None:
    with pytest.raises(NotFoundError):
        h.seq.receipt("nope")


def test_a_key_source_is_asked_at_every_batch_and_any_key_it_names_verifies(tmp_path: Path) -> None:
    """A source of keys (the chain's, in a running notary) changes the accepted keys without a new sequencer."""
    h = Harness(tmp_path)
    old, new = h.gw_key, Ed25519PrivateKey.from_private_bytes(b"\x03" * 32)
    keys: dict[str, list[bytes]] = {"shuzhi-tech": [raw(old)]}
    h.seq = Sequencer(
        h.store, NoteSigner(ORIGIN, h.log_key), SequencerSettings(ORIGIN), lambda org: keys.get(org, []),
        clock=lambda: h.now,
    )  # fmt: skip
    with pytest.raises(SignatureError):
        h.submit([event(event_id="4f0c9d1e-8f52-4a7b-9d55-0b7c1d2e3f41", gateway_seq=1)], key=new)
    keys["shuzhi-tech"] = [raw(old), raw(new), b"\x00" * 5]  # an overlap, and a malformed key that verifies nothing
    h.submit([event(event_id="4f0c9d1e-8f52-4a7b-9d55-0b7c1d2e3f42", gateway_seq=1)], key=old)
    h.submit([event(event_id="4f0c9d1e-8f52-4a7b-9d55-0b7c1d2e3f43", gateway_seq=2)], key=new)
    keys["shuzhi-tech"] = []
    with pytest.raises(UnknownGatewayError):
        h.submit([event(event_id="4f0c9d1e-8f52-4a7b-9d55-0b7c1d2e3f44", gateway_seq=3)], key=new)
    assert h.seq.size == 2


class CompromisedSource:
    """A key source naming no key valid now and one key declared compromised (as ``network.trust.GatewayKeySource``
    answers once the chain says so), valid between the times of its first block and of the compromise's block."""

    def __init__(self, key: bytes, valid_from_ms: int, compromised_ms: int) -> None:
        self.key = CompromisedGatewayKey(key, valid_from_ms, compromised_ms, as_of_block=42)

    def __call__(self, org: str) -> list[bytes]:
        return []

    def compromised(self, org: str) -> list[CompromisedGatewayKey]:
        return [self.key] if org == "shuzhi-tech" else []


def test_a_compromised_key_counts_only_for_events_dated_while_it_was_valid(h: Harness) -> None:
    t = int(NOW * 1000)
    h.seq = Sequencer(
        h.store, NoteSigner(ORIGIN, h.log_key), SequencerSettings(ORIGIN),
        CompromisedSource(raw(h.gw_key), t - 60_000, t - 1000), clock=lambda: h.now,
    )  # fmt: skip
    before = h.snapshot()
    for refused in (t - 1000, t - 60_001):  # at the compromise; before the key's first block
        with pytest.raises(CompromisedKeyError, match=r"declared compromised as of block 42") as caught:
            h.submit([event(event_id="ev-1", gateway_seq=1, time_ms=t - 2000), event(event_id="ev-2", gateway_seq=2,
                      time_ms=refused)])  # fmt: skip
        assert "ev-2" in str(caught.value) and "ev-1" not in str(caught.value)
        assert h.snapshot() == before
    with pytest.raises(SignatureError, match="does not verify"):  # another key: as before
        h.submit([event(event_id="ev-1", gateway_seq=1, time_ms=t - 2000)], key=Ed25519PrivateKey.generate())
    result = h.submit([event(event_id="ev-1", gateway_seq=1, time_ms=t - 60_000), event(event_id="ev-2",
                       gateway_seq=2, time_ms=t - 1001)])  # fmt: skip
    assert (result.new, h.seq.size) == (2, 2)


@pytest.mark.parametrize(("suite_name", "taken", "refused"), [("intl", 2, 3), ("sm", 3, 1), ("sm", 3, 2)])
def test_a_log_refuses_events_whose_schema_version_is_of_the_other_suite(
    tmp_path: Path, suite_name: str, taken: int, refused: int
) -> None:
    """An event's version names its hashes (SHA-256 in 1 and 2, SM3 in 3): a log takes only its suite's, and a batch
    holding one of the other suite's is refused whole, naming the event and both suites; nothing is written."""
    from notary.logsuite import log_suite, public_bytes
    from tests.support.notary_world import new_key

    suite = log_suite(suite_name)
    log_key, gw_key = new_key(suite), new_key(suite)
    store = LogStore(tmp_path / "notary.db")
    try:
        seq = Sequencer(
            store,
            suite.note_signer(ORIGIN, log_key),
            SequencerSettings(ORIGIN),
            {"shuzhi-tech": public_bytes(gw_key)},
            clock=lambda: NOW,
            suite=suite,
        )
        batch = [{**e, "v": taken} for e in events(1, 3)]
        batch[1]["v"] = refused
        body = encode_batch(GW, batch)
        with pytest.raises(EventSchemaError) as info:
            seq.submit(GW, body, sign_batch_body(gw_key, body))
        other = "sm" if suite_name == "intl" else "intl"
        assert info.value.errors == [
            {
                "loc": ["events", 1, "v"],
                "msg": f"schema version {refused} is of the {other!r} suite "
                f"({'SM3' if refused == 3 else 'SHA-256'} digests and caller identity), but this log is of the "
                f"{suite_name!r} suite and takes version {'1 or 2' if suite_name == 'intl' else '3'}: the recorder "
                "must run the consortium's suite (consortium.json's crypto)",
            }
        ]
        assert seq.size == 0
        batch[1]["v"] = taken
        body = encode_batch(GW, batch)
        assert seq.submit(GW, body, sign_batch_body(gw_key, body)).new == 3
    finally:
        store.close()


_TEXT = st.text(st.characters(max_codepoint=0x2FFF, exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers(-(2**53) + 1, 2**53 - 1), st.none()), max_size=6)),
    _TEXT,
)
def test_a_batch_of_stored_entries_is_the_batch_of_their_events_byte_for_byte(
    events: list[dict[str, Any]], gateway: str
) -> None:
    """The shipper writes its batch from the canonical entries as the outbox stores them (``encode_entries_batch``):
    the same bytes ``encode_batch`` writes from the decoded events, whatever the strings hold (quotes, backslashes,
    controls, DEL, characters beyond ASCII, which the two encoders escape differently)."""
    entries = [canonical_entry(e) for e in events]
    assert encode_entries_batch(gateway, entries) == encode_batch(gateway, [json.loads(e) for e in entries])


def test_a_real_event_goes_into_the_batch_as_stored() -> None:
    entries = [canonical_entry(event(gateway_seq=1)), canonical_entry(event(gateway_seq=2, route="/v1/报价\x7f"))]
    body = encode_entries_batch(GW, entries)
    assert body == encode_batch(GW, [json.loads(e) for e in entries])
    assert entries[0] in body and entries[1] not in body  # the second is written escaped, as json.dumps does
