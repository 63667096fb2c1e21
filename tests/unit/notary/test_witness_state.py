"""The witness's state file: registration by an operator, atomic updates that never move a log back, a wiped
state that knows no log, and the evidence of refused checkpoints."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.errors import MalformedError
from notary.log.hashing import EMPTY_ROOT, hash_leaf, root_of
from notary.log.note import NoteSigner, sign_note
from notary.witness.state import (
    ConflictKind,
    LogState,
    OriginExistsError,
    UnknownOriginError,
    WitnessState,
    WitnessStateError,
    init_witness,
)

ORIGIN = "beijing-capital-market-pilot/audit-log"
OTHER = "beijing-capital-market-pilot/other-log"
LEAVES = [hash_leaf(f"event {i}".encode()) for i in range(64)]
SIGNER = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))


def checkpoint(size: int, leaves: Sequence[bytes] = LEAVES) -> Checkpoint:
    return Checkpoint(ORIGIN, size, root_of(leaves[:size]))


def note(cp: Checkpoint) -> bytes:
    return sign_note(format_checkpoint(cp), [SIGNER])


def snapshot(path: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


def advance(state: WitnessState, size: int, timestamp: int) -> None:
    cp = checkpoint(size)
    with state.transaction(ORIGIN) as txn:
        txn.advance(ORIGIN, size, cp.root, note(cp), timestamp)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "witness" / "state.db"


# -- init -----------------------------------------------------------------------------------------------------


def test_init_registers_an_empty_log_in_a_wal_file(path: Path) -> None:
    registered = init_witness(path, ORIGIN)
    assert registered == LogState(ORIGIN, 0, EMPTY_ROOT, None, None)
    state = WitnessState(path)
    assert state.logs() == {ORIGIN: registered}
    assert state.log_state(ORIGIN) == registered
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_init_from_a_trusted_checkpoint(path: Path) -> None:
    cp = checkpoint(17)
    registered = init_witness(path, ORIGIN, cp, note(cp))
    assert (registered.size, registered.root, registered.note) == (17, cp.root, note(cp))
    assert WitnessState(path).log_state(ORIGIN) == registered


def test_init_registers_several_logs_in_one_file(path: Path) -> None:
    init_witness(path, ORIGIN)
    init_witness(path, OTHER)
    assert sorted(WitnessState(path).logs()) == sorted([ORIGIN, OTHER])


def test_init_twice_is_refused_and_changes_nothing(path: Path) -> None:
    init_witness(path, ORIGIN)
    advance(WitnessState(path), 9, 100)
    before = snapshot(path)
    with pytest.raises(OriginExistsError, match="already registered at size 9"):
        init_witness(path, ORIGIN)
    assert snapshot(path) == before


@pytest.mark.parametrize(
    ("origin", "cp"),
    [
        ("", None),
        ("two\nlines", None),
        (ORIGIN, Checkpoint(OTHER, 3, root_of(LEAVES[:3]))),
        (ORIGIN, Checkpoint(ORIGIN, 3, b"\x00" * 31)),
        (ORIGIN, Checkpoint(ORIGIN, 2**63, root_of(LEAVES[:3]))),
    ],
    ids=["empty-origin", "multiline-origin", "checkpoint-of-another-log", "short-root", "size-too-large"],
)
def test_init_refuses_bad_input_without_creating_anything(path: Path, origin: str, cp: Checkpoint | None) -> None:
    with pytest.raises(MalformedError):
        init_witness(path, origin, cp)
    assert not path.exists()


def test_init_discards_a_wal_left_behind_by_a_deleted_state(path: Path) -> None:
    path.parent.mkdir(parents=True)
    Path(f"{path}-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\x00" * 60)
    Path(f"{path}-shm").write_bytes(b"\x00" * 100)
    init_witness(path, ORIGIN)
    assert WitnessState(path).log_state(ORIGIN).size == 0


# -- updates --------------------------------------------------------------------------------------------------


def test_advance_commits_size_root_note_and_timestamp(path: Path) -> None:
    init_witness(path, ORIGIN)
    state = WitnessState(path)
    advance(state, 5, 1000)
    advance(state, 5, 1000)  # the same checkpoint again, at the same second
    advance(state, 12, 1001)
    cp = checkpoint(12)
    assert state.log_state(ORIGIN) == LogState(ORIGIN, 12, root_of(LEAVES[:12]), note(cp), 1001)
    with state.transaction(ORIGIN) as txn:
        assert txn.last_timestamp() == 1001


def test_stored_size_never_decreases(path: Path) -> None:
    init_witness(path, ORIGIN)
    state = WitnessState(path)
    advance(state, 12, 1000)
    before = snapshot(path)
    with pytest.raises(AssertionError, match="below its stored size"):
        advance(state, 11, 1001)
    assert snapshot(path) == before
    assert state.log_state(ORIGIN).size == 12


def test_timestamps_never_decrease(path: Path) -> None:
    init_witness(path, ORIGIN)
    init_witness(path, OTHER)
    state = WitnessState(path)
    advance(state, 3, 1000)
    before = snapshot(path)
    with pytest.raises(AssertionError, match="below the last one issued"), state.transaction(OTHER) as txn:
        txn.advance(OTHER, 1, root_of(LEAVES[:1]), b"", 999)  # the witness's clock is one across its logs
    assert snapshot(path) == before


def test_a_transaction_that_raises_writes_nothing(path: Path) -> None:
    init_witness(path, ORIGIN)
    state = WitnessState(path)
    before = snapshot(path)
    with pytest.raises(RuntimeError), state.transaction(ORIGIN) as txn:
        cp = checkpoint(30)
        txn.advance(ORIGIN, 30, cp.root, note(cp), 5)
        raise RuntimeError("the reply could not be built")
    assert snapshot(path) == before


def test_unknown_origin_in_an_existing_state(path: Path) -> None:
    init_witness(path, ORIGIN)
    state = WitnessState(path)
    with pytest.raises(UnknownOriginError, match=OTHER), state.transaction(OTHER) as txn:
        txn.log_state(OTHER)
    with pytest.raises(UnknownOriginError):
        state.log_state(OTHER)


# -- a wiped state --------------------------------------------------------------------------------------------


def test_missing_state_knows_no_log_and_is_not_created(path: Path) -> None:
    state = WitnessState(path)
    with pytest.raises(UnknownOriginError, match="no state"), state.transaction(ORIGIN):
        pass
    assert state.logs() == {}
    assert state.conflicts() == []
    assert not path.exists()


def test_deleted_state_refuses_until_initialised_again(path: Path) -> None:
    init_witness(path, ORIGIN)
    state = WitnessState(path)
    advance(state, 40, 1000)
    path.unlink()
    with pytest.raises(UnknownOriginError), state.transaction(ORIGIN):
        pass
    assert not path.exists()
    init_witness(path, ORIGIN)  # the operator's decision, not the witness's
    assert state.log_state(ORIGIN).size == 0


def test_emptied_state_file_knows_no_log(path: Path) -> None:
    init_witness(path, ORIGIN)
    path.write_bytes(b"")
    state = WitnessState(path)
    with pytest.raises(UnknownOriginError), state.transaction(ORIGIN):
        pass
    assert state.logs() == {}
    init_witness(path, ORIGIN)
    assert state.log_state(ORIGIN).size == 0


def test_state_of_another_schema_version_is_refused(path: Path) -> None:
    init_witness(path, ORIGIN)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(WitnessStateError, match="schema version 99"), WitnessState(path).transaction(ORIGIN):
        pass


def test_a_file_that_is_not_a_database_is_a_state_error(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database, " * 100)
    with pytest.raises(WitnessStateError), WitnessState(path).transaction(ORIGIN):
        pass


# -- evidence -------------------------------------------------------------------------------------------------


def test_conflicts_keep_both_notes_and_count_replays(path: Path) -> None:
    honest = checkpoint(8)
    init_witness(path, ORIGIN, honest, note(honest))
    state = WitnessState(path)
    forked_leaves = LEAVES[:5] + [hash_leaf(b"forged") for _ in range(10)]
    forked = checkpoint(8, forked_leaves)
    proof = [bytes(range(32))]
    for now in (10.0, 11.0):
        with state.transaction(ORIGIN) as txn:
            stored = txn.log_state(ORIGIN)
            recorded = txn.record_conflict(
                stored, ConflictKind.SPLIT_VIEW, 8, forked, note(forked), [], "two roots at size 8", now
            )
    assert recorded.seen == 2
    later = checkpoint(12, forked_leaves)
    with state.transaction(ORIGIN) as txn:
        txn.record_conflict(
            txn.log_state(ORIGIN), ConflictKind.BAD_PROOF, 8, later, note(later), proof, "proof fails", 12.0
        )
    first, second = state.conflicts(ORIGIN)
    assert (first.kind, first.size, first.root, first.note) == (ConflictKind.SPLIT_VIEW, 8, forked.root, note(forked))
    assert (first.stored_size, first.stored_root, first.stored_note) == (8, honest.root, note(honest))
    assert (first.first_seen, first.last_seen, first.seen) == (10.0, 11.0, 2)
    assert (second.kind, second.old_size, second.size, second.proof) == (ConflictKind.BAD_PROOF, 8, 12, tuple(proof))
    assert second.reason == "proof fails"
    assert state.conflicts(OTHER) == []
    assert state.conflicts() == [first, second]
    assert state.log_state(ORIGIN).size == 8  # evidence never moves the log
