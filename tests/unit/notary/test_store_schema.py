"""The embedded notary store's schema versions (``notary.storage.sqlite``): a store of version 1, whose alarms
table got a row each time a condition was found, is migrated when it opens (its alarms folded into one per kind
and subject), a store of version 2 gets the alarms' resolution (its alarms kept, open), a store of version 3 the
index of the alarms' pages (which their query then reads, without a sort), a store of a later release is refused
as it is, and a new store is made at the latest version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from notary.storage import sqlite as embedded
from notary.storage.base import AlarmKey, StoreError, alarms_page
from notary.storage.sqlite import SCHEMA_VERSION, LogStore


def version_1(path: Path, alarms: list[tuple[int, str, int | None, str]]) -> None:
    """A store as the releases of version 1 made it, holding ``alarms``."""
    conn = sqlite3.connect(path)
    conn.executescript(embedded._SCHEMA)
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    conn.executemany("INSERT INTO alarms (time_ms, kind, size, message) VALUES (?, ?, ?, ?)", alarms)
    conn.commit()
    conn.close()


def test_a_new_store_is_at_the_latest_version(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "notary.db")
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "4"
        store.add_alarm(1, "split-view", 3, "witness w1 refused checkpoint 3", subject="witness w1")
        store.add_alarm(2, "split-view", 4, "witness w1 refused checkpoint 4", subject="witness w1")
        ((alarm),) = store.alarms()
        assert (alarm["count"], alarm["time_ms"], alarm["last_ms"], alarm["size"]) == (2, 1, 2, 3)
    finally:
        store.close()


def test_a_store_of_version_1_is_migrated_and_its_alarms_folded(tmp_path: Path) -> None:
    path = tmp_path / "notary.db"
    version_1(
        path,
        [
            (1, "split-view", 9, "witness w1 refused checkpoint 9 as inconsistent with what it cosigned: 422"),
            (2, "anchor-mismatch", 9, "tamper alarm: the chain holds root 66 for size 9"),
            (3, "split-view", 12, "witness w1 refused checkpoint 12 as inconsistent with what it cosigned: 422"),
            (4, "anchor-mismatch", 9, "tamper alarm: the chain holds no root for size 9"),
            (5, "split-view", 12, "witness w2 refused checkpoint 12 as inconsistent with what it cosigned: 422"),
            (6, "anchor-mismatch", 10, "tamper alarm: the chain holds root 67 for size 10"),
            (7, "test", None, "the same words"),
            (8, "test", None, "the same words"),
        ],
    )
    store = LogStore(path)
    try:
        assert store.meta("schema_version") == "4"
        found = [(a["kind"], a["subject"], a["count"], a["time_ms"], a["last_ms"], a["size"]) for a in store.alarms()]
        assert found == [
            ("test", "the same words", 2, 7, 8, None),
            ("anchor-mismatch", "anchor 10", 1, 6, 6, 10),
            ("split-view", "witness w2", 1, 5, 5, 12),
            ("anchor-mismatch", "anchor 9", 2, 2, 4, 9),
            ("split-view", "witness w1", 2, 1, 3, 9),
        ]
        assert store.alarms()[-1]["message"].startswith("witness w1 refused checkpoint 9 ")
        store.anchor_checked(9, 20, "tamper alarm: the chain holds root 66 for size 9")  # found again: counted
        assert [(a["subject"], a["count"], a["last_ms"]) for a in store.alarms(limit=1)] == [("anchor 9", 3, 20)]
    finally:
        store.close()
    again = LogStore(path)  # opened again: nothing more to migrate
    try:
        assert again.meta("schema_version") == "4" and len(again.alarms()) == 5
    finally:
        again.close()


def test_a_store_of_a_later_release_is_refused_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "notary.db"
    version_1(path, [(1, "test", None, "an alarm")])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 5, this notary reads 4"):
        LogStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT time_ms, kind, message FROM alarms").fetchall() == [(1, "test", "an alarm")]
    conn.close()


def version_2(path: Path) -> None:
    """A store as the releases of version 2 made it: one alarm per kind and subject, counted, never resolved."""
    conn = sqlite3.connect(path)
    conn.executescript(embedded._SCHEMA)
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    for statement in embedded._MIGRATIONS[0].statements:
        conn.execute(statement)
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.executemany(
        "INSERT INTO alarms (time_ms, kind, size, message, subject, last_ms, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (1, "split-view", 9, "witness w1 refused checkpoint 9", "witness w1", 5, 3),
            (2, "test", None, "t", "t", 2, 1),
        ],
    )
    conn.commit()
    conn.close()


def test_a_store_of_version_2_gets_the_resolution_and_keeps_its_alarms_open(tmp_path: Path) -> None:
    path = tmp_path / "notary.db"
    version_2(path)
    store = LogStore(path)
    try:
        assert store.meta("schema_version") == "4"
        found = [(a["id"], a["subject"], a["count"], a["last_ms"], a["resolved_ms"]) for a in store.alarms()]
        assert found == [(1, "witness w1", 3, 5, None), (2, "t", 1, 2, None)]
        assert store.open_alarms() == 2
        store.add_alarm(6, "split-view", 12, "witness w1 refused checkpoint 12", subject="witness w1")  # still one
        assert [(a["id"], a["count"]) for a in store.alarms(open_only=True)] == [(1, 4), (2, 1)]
        row, resolved = store.resolve_alarm(1, 7, "shuzhi-tech/ops", "witness w1 restored from its backup")
        assert resolved and row is not None and (row["resolved_ms"], row["count"]) == (7, 4)
        store.add_alarm(8, "split-view", 13, "witness w1 refused checkpoint 13", subject="witness w1")  # a new one
        assert [(a["id"], a["subject"], a["resolved_ms"]) for a in store.alarms()] == [
            (3, "witness w1", None), (1, "witness w1", 7), (2, "t", None)
        ]  # fmt: skip
    finally:
        store.close()


def test_a_failing_migration_to_version_3_leaves_the_store_at_version_2(tmp_path: Path) -> None:
    """The three statements of version 3 and the version run in one transaction: a failure keeps version 2 whole."""
    path = tmp_path / "notary.db"
    version_2(path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE alarms_v3 (id INTEGER PRIMARY KEY)")  # in the way of the migration's first statement
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="alarms_v3 already exists"):
        LogStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    assert conn.execute("SELECT id, subject, count FROM alarms ORDER BY id").fetchall() == [
        (1, "witness w1", 3), (2, "t", 1)
    ]  # fmt: skip
    conn.close()


def version_3(path: Path, alarms: int) -> None:
    """A store as the releases of version 3 made it (alarms resolvable, no index of their order), holding
    ``alarms`` alarms found at times 0, 0, 1, 1, 2, … (two at each time)."""
    version_2(path)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM alarms")
    for statement in embedded._MIGRATIONS[1].statements:
        conn.execute(statement)
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.executemany(
        "INSERT INTO alarms (time_ms, kind, size, message, subject, last_ms, count) "
        "VALUES (?, 'test', NULL, ?, ?, ?, 1)",
        [(n // 2, f"alarm {n}", f"subject {n}", n // 2) for n in range(alarms)],
    )
    conn.commit()
    conn.close()


def plans(path: Path) -> dict[tuple[bool, bool], str]:
    """SQLite's plan of each form of the alarms' page query (``open_only``, ``after``), as one line."""
    conn = sqlite3.connect(path)
    found = {}
    try:
        for open_only in (False, True):
            for after in (False, True):
                query = "EXPLAIN QUERY PLAN " + alarms_page("?", open_only=open_only, after=after)
                rows = conn.execute(query, (5, 3, 10) if after else (10,)).fetchall()
                found[open_only, after] = "; ".join(str(row[3]) for row in rows)
    finally:
        conn.close()
    return found


def test_a_store_of_version_3_gets_the_index_of_the_alarms_pages_and_keeps_its_alarms(tmp_path: Path) -> None:
    path = tmp_path / "notary.db"
    version_3(path, 40)
    before = plans(path)
    assert all("USE TEMP B-TREE FOR ORDER BY" in plan for plan in before.values()), before  # a sort per page
    store = LogStore(path)
    try:
        assert store.meta("schema_version") == "4"
        assert len(store.alarms(limit=100)) == 40 and store.open_alarms() == 40
        page = store.alarms(limit=3, after=AlarmKey(last_ms=5, id=11))
        assert [(a["id"], a["last_ms"]) for a in page] == [(10, 4), (9, 4), (8, 3)]
        assert [(a["id"], a["last_ms"]) for a in store.alarms(limit=2)] == [(40, 19), (39, 19)]
    finally:
        store.close()
    after = plans(path)
    assert after == {
        (False, False): "SCAN alarms USING INDEX alarms_recent",
        (True, False): "SCAN alarms USING INDEX alarms_recent",
        (False, True): "SEARCH alarms USING INDEX alarms_recent (last_ms<?)",
        (True, True): "SEARCH alarms USING INDEX alarms_recent (last_ms<?)",
    }
