"""The call index in PostgreSQL (``explorer.calls_pg.PostgresCallIndex``) against a real server, held to the
SQLite index's tests: the unit tests of ``tests/unit/explorer/test_call_index.py`` that take the ``index``
fixture run here again on a fresh PostgreSQL database each, every filter of ``EACH_FILTER`` and a seeded draw of
random filters (tenant restriction included) must give what the SQLite index gives, and explorer replicas share
one index: one leads (follows the log), the others read what it commits, and another leads once it is gone."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from explorer import calls
from explorer.api.errors import answer
from explorer.calls import CallFilter, CallIndex
from explorer.calls_pg import PostgresCallIndex
from explorer.errors import IndexUnavailableError
from notary.event import canonical_entry
from tests.unit.explorer.test_call_index import (  # noqa: F401 - collected here again, on PostgreSQL
    EACH_FILTER,
    FIELD_VALUES,
    load,
    matches,
    random_events,
    search_all,
    small_chunks,
    test_a_large_batch_over_many_chunks_is_all_or_nothing,
    test_a_query_naming_its_subject_keeps_its_entry_and_shows_the_subject_in_its_detail,
    test_add_entries_refuses_a_wrong_start_or_a_bad_entry_and_changes_nothing,
    test_by_job_finds_the_steps_naming_a_psi_job_in_log_order,
    test_checkpoints_upsert_by_size_and_answer_by_index,
    test_entries_that_do_not_rebuild_byte_for_byte_are_kept_as_they_are,
    test_gaps_are_replaced_as_a_whole,
    test_iter_calls_streams_in_order_and_stops_at_the_size_when_it_started,
    test_pages_through_before_cover_each_call_once,
    test_per_minute_counts_calls_and_denials_by_minute_and_center,
    test_readers_in_threads_see_consistent_results_while_the_writer_appends,
    test_report_sums_a_firms_calls_made_and_served,
    test_rows_hold_every_field_and_the_exact_entry,
    test_subject_queries_page_through_the_queries_naming_a_firm_newest_first,
    test_the_operator_counts_no_other_firms_ledger_queries,
    test_the_smallest_anchored_checkpoint_covering_a_leaf,
    varied_events,
    vars_of,
)


@pytest.fixture
def index(postgres: Any) -> Iterator[PostgresCallIndex]:
    idx = PostgresCallIndex(postgres.create_database("explorer"))
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def both(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CallIndex, PostgresCallIndex]]:
    """The same events, ledger queries among them, in a SQLite and a PostgreSQL index (the SQLite one in the
    small chunks that ``small_chunks`` sets for each test)."""
    events = random_events(1300, seed=20261)
    entries = [canonical_entry(e) for e in events]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(calls, "CHUNK_BITS", 9)
        patch.setattr(calls, "CHUNK", 512)
        sqlite = CallIndex(tmp_path_factory.mktemp("calls") / "calls.db")
        pg = PostgresCallIndex(postgres.create_database("explorer"))
        for idx in (sqlite, pg):
            idx.add_entries(0, entries[:500])
            idx.add_entries(500, entries[500:])
        yield sqlite, pg
        sqlite.close()
        pg.close()


@pytest.mark.parametrize("f", EACH_FILTER, ids=lambda f: ",".join(f"{k}={v}" for k, v in vars_of(f).items()))
def test_each_filter_gives_what_the_sqlite_index_gives(
    both: tuple[CallIndex, PostgresCallIndex], f: CallFilter
) -> None:
    sqlite, pg = both
    want = search_all(sqlite, f, 50)
    assert search_all(pg, f, 50) == want
    assert [r["index"] for r in pg.iter_calls(f, batch=64)] == want[::-1]
    assert pg.search(f, before=None, limit=30) == sqlite.search(f, before=None, limit=30)


def test_random_filters_and_aggregates_give_what_the_sqlite_index_gives(
    both: tuple[CallIndex, PostgresCallIndex],
) -> None:
    sqlite, pg = both
    rng = random.Random(7)
    values: dict[str, list[Any]] = {
        "caller": ["jinghua-sec", "shuzhi-tech", "huaxin-bank", "ruida-data"],
        "provider": ["jinghua-sec", "shuzhi-tech", "huaxin-bank", "ruida-data"],
        "api": ["news-latest", "quotes-level2", "credit-watch", "calls.search"],
        "center": ["risk", "market-data", "explorer"],
        "asset": ["asset-0", "asset-1"],
        "decision": ["allow", "deny"],
        "status": [200, 403, 429],
        "denial_reason": ["no_grant", "quota_exhausted"],
        "party": ["jinghua-sec", "shuzhi-tech", "huaxin-bank", "ruida-data", "nobody"],
    }
    assert set(values) <= set(FIELD_VALUES)
    base = 1_795_000_000_000
    for _ in range(60):
        fields: dict[str, Any] = {k: rng.choice(values[k]) for k in rng.sample(sorted(values), rng.randint(0, 3))}
        if rng.random() < 0.4:
            fields["from_ms"] = base + rng.randint(-70_000, 40 * 1300)
            fields["to_ms"] = fields["from_ms"] + rng.randint(0, 30_000)
        f = CallFilter(**fields)
        page = rng.randint(1, 40)
        assert search_all(pg, f, page) == search_all(sqlite, f, page), f
    for since in (base - 60_000, base + 12_345, base + 30_000):
        for party in (None, "shuzhi-tech", "huaxin-bank", "nobody"):
            assert pg.per_minute(since, party) == sqlite.per_minute(since, party), (since, party)
    for org in ("shuzhi-tech", "ruida-data", "nobody"):
        for start, end in ((base - 10**6, base + 10**7), (base + 1234, base + 30_017), (base + 5, base + 50)):
            assert pg.report(org, start, end) == sqlite.report(org, start, end), (org, start, end)
    for i in (0, 1, 640, 1299):
        assert pg.by_event_id(f"ev-{i}") == sqlite.by_event_id(f"ev-{i}")
        assert pg.by_index(i) == sqlite.by_index(i)
    assert pg.root() == sqlite.root() and pg.size() == sqlite.size() == 1300


def test_replicas_share_one_index_and_one_of_them_leads(postgres: Any) -> None:
    url = postgres.create_database("explorer")
    with pytest.raises(FileNotFoundError):
        PostgresCallIndex(url, readonly=True)  # nothing indexed there yet
    first, second = PostgresCallIndex(url), PostgresCallIndex(url)
    reader = PostgresCallIndex(url, readonly=True)
    try:
        assert first.lead() and first.lead()  # held, and kept
        assert not second.lead() and not reader.lead()
        events = varied_events(300)
        load(first, events[:200])
        assert reader.size() == second.size() == 200
        f = CallFilter(party="ruida-data")
        assert search_all(reader, f, 25) == [i for i in range(199, -1, -1) if matches(events[i], f)]
        with pytest.raises(ValueError, match="read-only"):
            reader.add_entries(200, [])
        with pytest.raises(ValueError, match="start at the index size 200"):
            second.add_entries(150, [canonical_entry(e) for e in events[150:]])
        first.close()  # the leader goes away: its lock with it
        assert second.lead()
        second.add_entries(200, [canonical_entry(e) for e in events[200:]])
        assert reader.size() == 300 and reader.by_event_id("ev-250") is not None
    finally:
        for idx in (first, second, reader):
            idx.close()


def test_an_unreachable_database_is_a_503_and_the_index_recovers(postgres: Any) -> None:
    index = PostgresCallIndex(postgres.create_database("explorer"))
    try:
        load(index, varied_events(50))
        assert index.lead()
        postgres.kill()
        try:
            with pytest.raises(IndexUnavailableError) as refused:
                index.search(CallFilter(), before=None, limit=5)
            assert answer(refused.value).status == 503
            assert answer(refused.value).body["error"] == "index_unavailable"
            with pytest.raises(IndexUnavailableError):
                index.size()
            assert not index.lead()
        finally:
            postgres.start()
        assert [r["index"] for r in index.search(CallFilter(), before=None, limit=2)] == [49, 48]
        assert index.lead()  # the lock, lost with the old connection, taken again
        more = [canonical_entry(e) for e in varied_events(60)[50:]]
        with pytest.raises(IndexUnavailableError):
            index.add_entries(50, more)  # on the writer's connection, which died with the server
        index.add_entries(50, more)  # the follower's next round: on a new one
        assert index.size() == 60
    finally:
        index.close()


def test_the_sqlite_index_always_leads(tmp_path: Path) -> None:
    index = CallIndex(tmp_path / "calls.db")
    reader = CallIndex(tmp_path / "calls.db", readonly=True)
    try:
        assert index.lead() and not reader.lead()
    finally:
        reader.close()
        index.close()


def test_the_regulators_looks_and_counts_give_what_the_sqlite_index_gives(postgres: Any, tmp_path: Path) -> None:
    """``looks`` and ``subject_counts`` (``explorer.lookedat``) on the events of the unit tests of the counts; and
    an index migrated from schema 2, whose query tables start empty, is filled from its entries when opened."""
    from tests.support.org_logins import REGULATOR
    from tests.unit.explorer.test_regulator_counts import BY_FIRM, CALLS, FROM_MS, QUERIES, TO_MS

    entries = [canonical_entry(e) for e in [*CALLS, *QUERIES]]
    sqlite = CallIndex(tmp_path / "calls.db")
    url = postgres.create_database("explorer")
    pg = PostgresCallIndex(url)
    try:
        for idx in (sqlite, pg):
            idx.add_entries(0, entries[:3])
            idx.add_entries(3, entries[3:])
        for kwargs in (
            {},
            {"calls": {"call-ab", "call-old"}},
            {"subject": "huaxin-bank"},
            {"from_ms": QUERIES[1]["time_ms"]},
        ):
            assert pg.looks({REGULATOR, "huaxin-bank"}, **kwargs) == sqlite.looks({REGULATOR, "huaxin-bank"}, **kwargs)
        assert pg.subject_counts({REGULATOR}, FROM_MS, TO_MS) == sqlite.subject_counts({REGULATOR}, FROM_MS, TO_MS)
        assert pg.subject_counts({REGULATOR}, FROM_MS, TO_MS) == BY_FIRM
        want = pg.looks({REGULATOR})
        with pg._writing() as conn:  # as an index written before migration 3 holds them
            conn.execute("DELETE FROM explorer_query_calls")
            conn.execute("DELETE FROM explorer_query_subjects")
            conn.execute("DELETE FROM explorer_meta WHERE key = 'queries_indexed'")
        assert pg.looks({REGULATOR}) == []
    finally:
        sqlite.close()
        pg.close()
    reopened = PostgresCallIndex(url)
    try:
        assert reopened.looks({REGULATOR}) == want
        assert reopened.subject_counts({REGULATOR}, FROM_MS, TO_MS) == BY_FIRM
    finally:
        reopened.close()
