"""Schema migrations (``notary.storage.schema``) against a real PostgreSQL server: the runner with test-only
migration lists (a fresh database, a migration applied once, a database newer than the release refused and left
as it is, a failing migration rolled back whole, a half-made schema not adopted, openers starting at once in
threads taking turns, and taking turns with a release from before migrations that holds its old lock), and the
three components that use it: the notary's store, the gateways' quota store and the explorer's call index each
record their version 1 in a fresh database, adopt a database made by the releases before the version table (their
version 1 statements run as those releases ran them, with data in it), and refuse one a later release
migrated; the notary's alarms of before, a row per finding, folded into one per kind and subject."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from explorer.calls_pg import PostgresCallIndex
from gateway.quota import PostgresQuota, QuotaSchemaError, QuotaUnavailableError
from notary.storage.base import AlarmKey, StoreError, alarms_page
from notary.storage.schema import (
    Migration,
    Schema,
    SchemaError,
    SchemaNewerError,
    check,
    current_version,
    migrate,
    versions,
)
from tests.support.wait import wait_until

V1 = Migration(1, "the widgets", ("CREATE TABLE widget (id INTEGER PRIMARY KEY)",))
V2 = Migration(2, "a widget's colour", ("ALTER TABLE widget ADD COLUMN colour TEXT NOT NULL DEFAULT 'red'",))
V3 = Migration(3, "a widget's size", ("ALTER TABLE widget ADD COLUMN size INTEGER",))


def widgets(*migrations: Migration) -> Schema:
    return Schema("widgets", migrations, ("widget",))


@pytest.fixture
def url(postgres: Any) -> str:
    return str(postgres.create_database("schema"))


@pytest.fixture
def connect(url: str) -> Iterator[Callable[[], psycopg.Connection[Any]]]:
    opened: list[psycopg.Connection[Any]] = []

    def open_one() -> psycopg.Connection[Any]:
        conn = psycopg.connect(url, autocommit=True)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()


def recorded(conn: psycopg.Connection[Any], component: str) -> list[int]:
    return [version for name, version, _ in versions(conn) if name == component]


def columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(r[0]) for r in rows]


# -- the runner ---------------------------------------------------------------------------------------------


def test_a_fresh_database_gets_every_migration_in_order(connect: Callable[[], psycopg.Connection[Any]]) -> None:
    conn = connect()
    assert versions(conn) == [] and current_version(conn, widgets(V1, V2)) == 0
    assert migrate(conn, widgets(V1, V2)) == 2
    assert recorded(conn, "widgets") == [1, 2]
    assert columns(conn, "widget") == ["id", "colour"]
    assert check(conn, widgets(V1, V2)) == 2


def test_a_migration_is_applied_once(connect: Callable[[], psycopg.Connection[Any]]) -> None:
    conn = connect()
    migrate(conn, widgets(V1))
    conn.execute("INSERT INTO widget (id) VALUES (7)")
    assert migrate(conn, widgets(V1, V2)) == 2  # ADD COLUMN again would fail: it is not run again below
    assert migrate(conn, widgets(V1, V2)) == 2
    assert migrate(connect(), widgets(V1, V2)) == 2
    assert recorded(conn, "widgets") == [1, 2]
    assert conn.execute("SELECT id, colour FROM widget").fetchall() == [(7, "red")]


def test_a_database_newer_than_the_release_is_refused_and_left_as_it_is(
    connect: Callable[[], psycopg.Connection[Any]],
) -> None:
    conn = connect()
    migrate(conn, widgets(V1, V2, V3))
    with pytest.raises(SchemaNewerError) as refused:
        migrate(conn, widgets(V1, V2))
    assert str(refused.value) == "database schema 3 of widgets is newer than this release (2): upgrade the release"
    with pytest.raises(SchemaNewerError):
        check(conn, widgets(V1))
    assert recorded(conn, "widgets") == [1, 2, 3]
    assert columns(conn, "widget") == ["id", "colour", "size"]  # never downgraded


def test_an_older_database_is_refused_by_a_reader_that_must_not_migrate(
    connect: Callable[[], psycopg.Connection[Any]],
) -> None:
    conn = connect()
    migrate(conn, widgets(V1))
    with pytest.raises(SchemaError, match=r"database schema 1 of widgets is older than this release \(2\)"):
        check(conn, widgets(V1, V2))
    assert recorded(conn, "widgets") == [1]


def test_a_failing_migration_rolls_back_whole_and_leaves_the_version(
    connect: Callable[[], psycopg.Connection[Any]],
) -> None:
    conn = connect()
    migrate(conn, widgets(V1))
    broken = Migration(2, "a colour, then a mistake", (V2.statements[0], "SELECT 1 / 0"))
    with pytest.raises(SchemaError, match=r"migration 2 of widgets \(a colour, then a mistake\) failed") as failed:
        migrate(conn, widgets(V1, broken, V3))
    assert "division by zero" in str(failed.value)
    assert recorded(conn, "widgets") == [1]
    assert columns(conn, "widget") == ["id"]  # the statement before the mistake is undone too
    assert migrate(conn, widgets(V1, V2, V3)) == 3  # the fixed release migrates it


def test_a_fresh_database_whose_first_migration_fails_keeps_nothing(
    connect: Callable[[], psycopg.Connection[Any]],
) -> None:
    conn = connect()
    with pytest.raises(SchemaError, match="migration 1 of widgets"):
        migrate(conn, widgets(Migration(1, "the widgets", (V1.statements[0], "SELECT 1 / 0"))))
    assert versions(conn) == [] and current_version(conn, widgets(V1)) == 0


def test_tables_of_version_1_without_a_version_are_adopted_as_version_1(
    connect: Callable[[], psycopg.Connection[Any]],
) -> None:
    conn = connect()
    conn.execute(V1.statements[0])  # as a release before the version table made it
    conn.execute("INSERT INTO widget (id) VALUES (1)")
    assert current_version(conn, widgets(V1, V2)) == 1
    assert migrate(conn, widgets(V1, V2)) == 2
    assert recorded(conn, "widgets") == [1, 2]
    assert conn.execute("SELECT id, colour FROM widget").fetchall() == [(1, "red")]


def test_some_of_version_1s_tables_without_a_version_are_not_adopted(
    connect: Callable[[], psycopg.Connection[Any]],
) -> None:
    conn = connect()
    schema = Schema(
        "pair", (Migration(1, "two tables", ("CREATE TABLE a (x INT)", "CREATE TABLE b (x INT)")),), ("a", "b")
    )
    conn.execute("CREATE TABLE a (x INT)")
    with pytest.raises(SchemaError, match=r"some of the tables of pair \(a\) but not b"):
        migrate(conn, schema)
    assert recorded(conn, "pair") == []


def test_migrations_must_be_numbered_from_1_without_holes() -> None:
    with pytest.raises(ValueError, match="not numbered"):
        widgets(V1, V3)
    with pytest.raises(ValueError, match="not numbered"):
        widgets(V2)


def test_openers_starting_at_once_take_turns(connect: Callable[[], psycopg.Connection[Any]]) -> None:
    """Plain CREATE TABLE and ADD COLUMN fail when run twice: every opener succeeds only if they take turns and
    each after the first finds the migrations recorded. The sleep holds the first in its transaction."""
    openers = 6
    slow = Migration(2, "a colour, slowly", ("SELECT pg_sleep(0.3)", *V2.statements))
    schema = widgets(V1, slow)
    conns = [connect() for _ in range(openers)]
    start = threading.Barrier(openers)
    results: list[int | BaseException] = []
    lock = threading.Lock()

    def open_one(conn: psycopg.Connection[Any]) -> None:
        start.wait()
        try:
            got: int | BaseException = migrate(conn, schema)
        except BaseException as exc:  # reported below
            got = exc
        with lock:
            results.append(got)

    threads = [threading.Thread(target=open_one, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [2] * openers
    assert recorded(conns[0], "widgets") == [1, 2]


def test_an_opener_takes_turns_with_a_release_from_before_migrations_holding_its_old_lock(
    connect: Callable[[], psycopg.Connection[Any]],
) -> None:
    schema = Schema("widgets", (V1,), ("widget",), legacy_lock=0x7769_6467_6574)
    old, new = connect(), connect()
    new_pid = new.info.backend_pid
    result: list[int | BaseException] = []

    def open_new() -> None:
        try:
            result.append(migrate(new, schema))
        except BaseException as exc:  # reported below
            result.append(exc)

    with old.transaction():  # an old release creating its tables under its own lock
        old.execute("SELECT pg_advisory_xact_lock(%s)", (schema.legacy_lock,))
        opener = threading.Thread(target=open_new)
        opener.start()
        waiting = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
        wait_until(lambda: old.execute(waiting, (new_pid,)).fetchone() == ("Lock",), "the opener to wait", 30)
        old.execute(V1.statements[0])
        assert result == []
    opener.join(timeout=30)
    assert result == [1]  # it found the old release's table and adopted it
    assert recorded(old, "widgets") == [1]


# -- the components -----------------------------------------------------------------------------------------


def open_notary(url: str, s3: Any) -> Any:
    from notary.storage.postgres import ObjectStoreConfig, PostgresStore

    bucket = s3.create_bucket("notary")
    config = ObjectStoreConfig(bucket, s3.url, access_key=s3.access_key, secret_key=s3.secret_key, timeout_s=2)
    return PostgresStore(url, config, connect_timeout=2)


def open_quota(url: str) -> PostgresQuota:
    quota = PostgresQuota(url)
    try:
        quota.ensure_schema()
    except BaseException:
        quota.close()
        raise
    return quota


def test_the_three_components_opening_one_fresh_database_at_once_each_record_their_migrations(
    url: str, s3: Any, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    opens: list[Callable[[], Any]] = [
        lambda: open_notary(url, s3),
        lambda: open_quota(url),
        lambda: PostgresCallIndex(url),
    ]
    opens = opens * 2  # two replicas of each
    start = threading.Barrier(len(opens))
    opened: list[Any] = []
    failed: list[BaseException] = []
    lock = threading.Lock()

    def open_one(make: Callable[[], Any]) -> None:
        start.wait()
        try:
            made = make()
        except BaseException as exc:  # reported below
            with lock:
                failed.append(exc)
            return
        with lock:
            opened.append(made)

    threads = [threading.Thread(target=open_one, args=(m,)) for m in opens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for made in opened:
        made.close()
    assert failed == []
    assert len(opened) == len(opens)
    from notary.storage.postgres import SCHEMA as NOTARY

    assert [(c, v) for c, v, _ in versions(connect())] == [
        ("explorer_calls", 1), ("explorer_calls", 2), ("explorer_calls", 3), ("gateway_quota", 1),
        ("gateway_quota", 2), ("gateway_quota", 3), *(("notary", v) for v in range(1, NOTARY.latest + 1)),
    ]  # fmt: skip


def test_the_notary_adopts_a_database_made_before_the_version_table(
    url: str, s3: Any, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    from notary.storage.postgres import SCHEMA

    conn = connect()
    for statement in SCHEMA.migrations[0].statements:
        conn.execute(statement)
    conn.execute("INSERT INTO gateways (id, last_seq) VALUES ('gw-1', 41)")
    store = open_notary(url, s3)
    try:
        assert store.gateways() == {"gw-1": 41}
        assert store.meta("schema_version") == str(SCHEMA.latest)  # the marker those releases refuse
    finally:
        store.close()
    assert recorded(conn, "notary") == list(range(1, SCHEMA.latest + 1))  # adopted as 1, then migrated


def test_the_notary_folds_the_alarms_of_before_into_one_per_kind_and_subject(
    url: str, s3: Any, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    """A database at version 2, whose alarms table got a row each time a condition was found: the migration
    to alarms with a subject keeps one per kind and subject, its first time, size and message, the count of the
    rows it folds and the last time among them; later findings count on it."""
    from notary.storage.postgres import SCHEMA

    conn = connect()
    migrate(conn, Schema(SCHEMA.component, SCHEMA.migrations[:2], SCHEMA.tables))
    store_of = "integrity alarm: the object store (s3://b) holds other bytes under the immutable key {} than the log"
    rows = [
        (1, "object-mismatch", 5, store_of.format("tile/0/000.p/5")),
        (2, "split-view", 9, "witness w1 refused checkpoint 9 as inconsistent with what it cosigned: 422"),
        (3, "object-mismatch", 7, store_of.format("tile/0/000.p/5")),
        (4, "split-view", 12, "witness w1 refused checkpoint 12 as inconsistent with what it cosigned: 422"),
        (5, "anchor-mismatch", 9, "tamper alarm: the chain holds root 66 for size 9"),
        (6, "anchor-mismatch", 9, "tamper alarm: the chain holds no root for size 9"),
        (7, "object-mismatch", 4, "integrity alarm: the object store holds other bytes as checkpoint 4 than the log"),
        (8, "split-view", 12, "witness w2 refused checkpoint 12 as inconsistent with what it cosigned: 422"),
    ]
    for row in rows:
        conn.execute("INSERT INTO alarms (time_ms, kind, size, message) VALUES (%s, %s, %s, %s)", row)
    store = open_notary(url, s3)
    try:
        found = [(a["kind"], a["subject"], a["count"], a["time_ms"], a["last_ms"], a["size"]) for a in store.alarms()]
        assert found == [
            ("split-view", "witness w2", 1, 8, 8, 12),
            ("object-mismatch", "checkpoint 4", 1, 7, 7, 4),
            ("anchor-mismatch", "anchor 9", 2, 5, 6, 9),
            ("split-view", "witness w1", 2, 2, 4, 9),
            ("object-mismatch", "tile/0/000.p/5", 2, 1, 3, 5),
        ]
        assert store.alarms()[-1]["message"] == store_of.format("tile/0/000.p/5")
        store.add_alarm(9, "split-view", 13, "witness w1 refused checkpoint 13", subject="witness w1")
        assert [(a["subject"], a["count"], a["last_ms"]) for a in store.alarms(limit=1)] == [("witness w1", 3, 9)]
    finally:
        store.close()
    assert recorded(conn, "notary") == list(range(1, SCHEMA.latest + 1))


def test_the_quota_store_adopts_a_table_made_before_the_version_table(
    url: str, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    from gateway.quota import SCHEMA

    conn = connect()
    for statement in SCHEMA.migrations[0].statements:
        conn.execute(statement)
    conn.execute("INSERT INTO gateway_quota (grant_id, quota_window, used) VALUES ('g', 'grant', 3)")
    quota = open_quota(url)
    try:
        assert quota.used("g") == 3
        assert quota.take("g", 4) and not quota.take("g", 4)
    finally:
        quota.close()
    assert recorded(conn, "gateway_quota") == [1, 2, 3]


def test_the_quota_store_of_version_2_keeps_its_counts_and_gets_the_psi_runs(
    url: str, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    """A quota store the release before the shared PSI runs made (version 2: units and ε spent, no runs): opening
    it migrates it to version 3, its counts as they were, and the runs taken from then on count against them."""
    from gateway.quota import RUNS_TABLE, SCHEMA, RunClaim

    conn = connect()
    migrate(conn, Schema(SCHEMA.component, SCHEMA.migrations[:2], SCHEMA.tables))
    conn.execute("INSERT INTO gateway_quota (grant_id, quota_window, used) VALUES ('g', 'grant', 3), ('h', 'grant', 1)")
    conn.execute("INSERT INTO gateway_dp_budget (grant_id, spent) VALUES ('g', 4500)")
    assert columns(conn, RUNS_TABLE) == []
    quota = open_quota(url)
    try:
        assert (quota.used("g"), quota.used("h"), quota.spent("g")) == (3, 1, 4500)
        run = ("7a" * 32, "1c" * 32)
        assert quota.claim("g", run, "ev-1", 4, (1500, 6000)) == RunClaim("claimed", dp_cost=1500)
        assert quota.claim("g", ("7a" * 32, "2d" * 32), "ev-2", 5, (1500, 6000)) == RunClaim(
            "dp_budget_exhausted", spent=6000
        )
        assert (quota.used("g"), quota.spent("g"), quota.run_of(run)) == (4, 6000, ("ev-1", False))
    finally:
        quota.close()
    assert recorded(conn, "gateway_quota") == [1, 2, 3]
    assert columns(conn, RUNS_TABLE) == [
        "job", "request", "grant_id", "event_id", "counted", "lease_until", "updated_at"
    ]  # fmt: skip


def test_the_call_index_adopts_an_index_made_before_the_version_table(
    url: str, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    from explorer.calls_pg import SCHEMA

    conn = connect()
    for statement in SCHEMA.migrations[0].statements:
        conn.execute(statement)
    conn.execute("INSERT INTO explorer_gaps VALUES (0, 'a gap')")
    older = rf"database schema 1 of explorer_calls is older than this release \({SCHEMA.latest}\): open it once with a"
    with pytest.raises(ValueError, match=older):  # a reader adopts it as version 1, records nothing, cannot migrate
        PostgresCallIndex(url, readonly=True)
    assert recorded(conn, "explorer_calls") == []
    index = PostgresCallIndex(url)  # a writer adopts it as version 1 and migrates it to this release's
    index.close()
    assert recorded(conn, "explorer_calls") == list(range(1, SCHEMA.latest + 1))
    PostgresCallIndex(url, readonly=True).close()  # and now a reader reads it
    assert conn.execute("SELECT gap FROM explorer_gaps").fetchall() == [("a gap",)]


def a_later_release(conn: psycopg.Connection[Any], component: str) -> int:
    """Record the next migration of ``component`` as a later release would; that version."""
    (version,) = conn.execute(
        "INSERT INTO schema_version (component, version) "
        "SELECT %s, max(version) + 1 FROM schema_version WHERE component = %s RETURNING version",
        (component, component),
    ).fetchone() or (0,)
    return int(version)


def test_the_notary_gets_the_resolution_of_alarms_in_one_transaction(
    url: str, s3: Any, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    """A database at version 3 (one alarm per kind and subject, never resolved): version 4 adds the resolution in
    one transaction. A failure half way (here an index already named as its own) leaves version 3 whole; once it
    runs, the alarms of before are open, resolvable, and the same condition after a resolution is a new alarm."""
    from notary.storage.postgres import SCHEMA

    conn = connect()
    migrate(conn, Schema(SCHEMA.component, SCHEMA.migrations[:3], SCHEMA.tables))
    conn.execute(
        "INSERT INTO alarms (time_ms, kind, size, message, subject, last_ms, count) "
        "VALUES (1, 'split-view', 9, 'witness w1 refused checkpoint 9', 'witness w1', 5, 3)"
    )
    conn.execute("CREATE INDEX alarms_open ON alarms (id)")  # in the way of version 4's last index
    with pytest.raises(StoreError, match="alarms_open"):
        open_notary(url, s3)
    assert recorded(conn, "notary") == [1, 2, 3]
    assert "resolved_ms" not in columns(conn, "alarms")
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    conn.execute("DROP INDEX alarms_open")
    store = open_notary(url, s3)
    try:
        assert store.meta("schema_version") == str(SCHEMA.latest) and store.open_alarms() == 1
        ((alarm_id, count, resolved),) = [(a["id"], a["count"], a["resolved_ms"]) for a in store.alarms()]
        assert (count, resolved) == (3, None)
        assert store.resolve_alarm(alarm_id, 6, "op/ops", "w1 restored")[1]
        store.add_alarm(7, "split-view", 12, "witness w1 refused checkpoint 12", subject="witness w1")
        assert [(a["count"], a["resolved_ms"]) for a in store.alarms()] == [(1, None), (3, 6)]
    finally:
        store.close()
    assert recorded(conn, "notary") == list(range(1, SCHEMA.latest + 1))


def page_plans(conn: psycopg.Connection[Any]) -> dict[tuple[bool, bool], str]:
    """PostgreSQL's plan of each form of the alarms' page query (``open_only``, ``after``), as text."""
    found = {}
    for open_only in (False, True):
        for after in (False, True):
            query = alarms_page("%s", open_only=open_only, after=after)
            rows = conn.execute("EXPLAIN " + query, (2500, 5000, 100) if after else (100,)).fetchall()
            found[open_only, after] = "\n".join(str(row[0]) for row in rows)
    return found


def test_the_notary_gets_the_index_of_the_alarms_pages_and_keeps_its_alarms(
    url: str, s3: Any, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    """A database at version 4 holding 10,000 alarms: version 5 adds the index on ``(last_ms, id)``, the alarms
    stay as they were, and each form of the page query reads the index backwards instead of sorting the table."""
    from notary.storage.postgres import SCHEMA

    conn = connect()
    migrate(conn, Schema(SCHEMA.component, SCHEMA.migrations[:4], SCHEMA.tables))
    conn.execute(
        "INSERT INTO alarms (time_ms, kind, size, message, subject, last_ms, count) "
        "SELECT n / 2, 'test', NULL, 'alarm ' || n, 'subject ' || n, n / 2, 1 FROM generate_series(1, 10000) AS n"
    )
    conn.execute("ANALYZE alarms")
    assert all("Sort" in plan for plan in page_plans(conn).values())
    store = open_notary(url, s3)
    try:
        assert store.meta("schema_version") == "5" and store.open_alarms() == 10_000
        page = store.alarms(limit=3, after=AlarmKey(last_ms=2500, id=5000))
        assert [(a["message"], a["last_ms"]) for a in page] == [("alarm 4999", 2499), ("alarm 4998", 2499),
                                                                ("alarm 4997", 2498)]  # fmt: skip
    finally:
        store.close()
    assert recorded(conn, "notary") == [1, 2, 3, 4, 5]
    conn.execute("ANALYZE alarms")
    for form, plan in page_plans(conn).items():
        assert "Index Scan Backward using alarms_recent on alarms" in plan and "Sort" not in plan, (form, plan)
    assert "Index Cond: (ROW(last_ms, id) < ROW(" in page_plans(conn)[False, True]


def test_the_notary_refuses_a_database_a_later_release_migrated(
    url: str, s3: Any, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    open_notary(url, s3).close()
    a_later_release(connect(), "notary")
    from notary.storage.postgres import SCHEMA

    later = SCHEMA.latest + 1
    newer = rf"database schema {later} of notary is newer than this release \({SCHEMA.latest}\)"
    with pytest.raises(SchemaNewerError, match=newer):
        open_notary(url, s3)


def test_the_quota_store_refuses_a_database_a_later_release_migrated(
    url: str, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    from gateway.quota import SCHEMA

    open_quota(url).close()
    a_later_release(connect(), "gateway_quota")
    clock = [1000.0]
    quota = PostgresQuota(url, clock=lambda: clock[0])
    later = SCHEMA.latest + 1
    newer = rf"database schema {later} of gateway_quota is newer than this release \({SCHEMA.latest}\): upgrade"
    try:
        with pytest.raises(QuotaSchemaError, match=newer):
            quota.ensure_schema()
        with pytest.raises(QuotaUnavailableError, match=newer):  # refused at once during the pause, as an outage
            quota.take("g", 4)
        assert quota.health()["reachable"] is False and "newer than this release" in str(quota.health()["last_error"])
        clock[0] += quota.retry_s
        with pytest.raises(QuotaSchemaError, match=newer):  # then the store is asked again, and refused again
            quota.take("g", 4)
    finally:
        quota.close()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM gateway_quota").fetchone() == (0,)  # never counted there


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_the_call_index_refuses_a_database_a_later_release_migrated(
    url: str, connect: Callable[[], psycopg.Connection[Any]], readonly: bool
) -> None:
    PostgresCallIndex(url).close()
    later = a_later_release(connect(), "explorer_calls")
    newer = rf"database schema {later} of explorer_calls is newer than this release \({later - 1}\)"
    with pytest.raises(ValueError, match=newer):
        PostgresCallIndex(url, readonly=readonly)


# -- the command that prints them ------------------------------------------------------------------------------


def test_storage_versions_prints_each_components_version_and_what_its_openers_do(
    url: str, connect: Callable[[], psycopg.Connection[Any]]
) -> None:
    """``consortium storage versions URL`` reads and changes nothing: a fresh database has no component; an index
    at version 1 is older than this release; one a later release migrated is newer (exit status 1); a database it
    cannot reach is one line of error."""
    from click.testing import CliRunner

    from cli.storage import _safe, storage_group
    from explorer.calls_pg import SCHEMA as EXPLORER

    def run(*args: str) -> Any:
        return CliRunner().invoke(storage_group, ["versions", *args])

    fresh = run(url)
    assert fresh.exit_code == 0, fresh.output
    assert fresh.output.count("not created: its first opener creates it") == 3, fresh.output
    assert "migrations recorded: none" in fresh.output and versions(connect()) == []  # it created nothing

    conn = connect()
    for statement in EXPLORER.migrations[0].statements:  # the index as a release of version 1 made it
        conn.execute(statement)
    older = json.loads(run(url, "--json").output)
    rows = {row["component"]: row for row in older["components"]}
    assert (rows["explorer_calls"]["database"], rows["explorer_calls"]["release"]) == (1, EXPLORER.latest)
    assert rows["explorer_calls"]["state"].startswith("older: a writer of this release migrates it")
    assert rows["notary"]["database"] == 0 and older["migrations"] == []

    PostgresCallIndex(url).close()
    later = a_later_release(connect(), "explorer_calls")
    newer = run(url)
    assert newer.exit_code == 1, newer.output
    component, *_, migration = (line.split() for line in newer.output.splitlines() if "explorer_calls" in line)
    assert component[:4] == ["explorer_calls", str(later), str(later - 1), "newer"], newer.output
    assert migration[:2] == ["explorer_calls", str(later)] and migration[3:] == ["unknown", "to", "this", "release"]
    assert _safe("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"

    refused = run("postgresql://nobody@127.0.0.1:1/none")
    assert refused.exit_code == 1 and refused.output.startswith("error: cannot read postgresql://nobody@127.0.0.1:1/")
    assert run("sqlite:///x.db").output.startswith("error: give a postgresql:// URL")
