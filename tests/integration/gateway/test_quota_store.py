"""The quota counter in PostgreSQL (``gateway.quota.PostgresQuota``) against a real server: many threads, each
with its own connection, and two counters (as two gateway replicas) never take more units than the quota, and
take exactly the quota, and the same for the privacy budget of a PSI grant (the ε its jobs spend); a unit given
back can be taken again; an unreachable server refuses instead of admitting,
at once after the first failure, and the counter works again once the server is back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gateway.quota import BUDGET_TABLE, RUNS_TABLE, TABLE, PostgresQuota, QuotaUnavailableError, RunClaim, redact
from tests.support.wait import wait_until

GRANT = "0x" + "ab" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(postgres: Any) -> str:
    return str(postgres.create_database("quota"))


@pytest.fixture
def counters(url: str) -> Iterator[list[PostgresQuota]]:
    made: list[PostgresQuota] = []
    yield made
    for counter in made:
        counter.close()


def test_threads_of_two_counters_take_exactly_the_quota(url: str, counters: list[PostgresQuota]) -> None:
    quota, threads, tries = 37, 16, 6  # 96 tries for 37 units
    replicas = [PostgresQuota(url), PostgresQuota(url)]
    counters.extend(replicas)
    taken: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(i: int) -> None:
        counter = replicas[i % 2]
        start.wait()
        for _ in range(tries):
            got = counter.take(GRANT, quota)
            with lock:
                taken.append(got)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert len(taken) == threads * tries
    assert sum(taken) == quota
    assert replicas[0].used(GRANT) == quota
    assert not replicas[1].take(GRANT, quota)
    with psycopg.connect(url) as conn:  # one row per (grant, window)
        assert conn.execute(f"SELECT grant_id, quota_window, used FROM {TABLE}").fetchall() == [(GRANT, "grant", 37)]


def test_the_gateway_side_reserves_on_its_threads_and_gives_back(url: str, counters: list[PostgresQuota]) -> None:
    counter = PostgresQuota(url, max_connections=4)
    counters.append(counter)

    async def reserve_all(n: int) -> list[bool]:
        return list(await asyncio.gather(*(counter.reserve(GRANT, 5) for _ in range(n))))

    assert sorted(asyncio.run(reserve_all(12))) == [False] * 7 + [True] * 5
    assert asyncio.run(counter.reserve("0x" + "cd" * 32, 0))  # no quota: admitted, nothing counted
    counter.give_back(GRANT)
    assert counter.used(GRANT) == 4
    assert counter.take(GRANT, 5) and not counter.take(GRANT, 5)
    counter.release(GRANT)  # from the event loop: queued on the counter's threads
    counter.close()  # waits for the queued release
    after = PostgresQuota(url)
    counters.append(after)
    assert after.used(GRANT) == 4
    for _ in range(6):
        after.give_back(GRANT)
    assert after.used(GRANT) == 0  # never below zero


def test_threads_of_two_counters_spend_a_privacy_budget_and_never_more(url: str, counters: list[PostgresQuota]) -> None:
    """A budget of 10 (10,000 thousandths of ε) and jobs of 1.5: six fit, 36 tries across two replicas."""
    budget, cost, threads, tries = 10_000, 1500, 12, 3
    replicas = [PostgresQuota(url), PostgresQuota(url)]
    counters.extend(replicas)
    taken: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(i: int) -> None:
        counter = replicas[i % 2]
        start.wait()
        for _ in range(tries):
            got, before = counter.spend(GRANT, cost, budget)
            assert before + (cost if got else 0) <= budget
            with lock:
                taken.append(got)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert len(taken) == threads * tries and sum(taken) == 6
    assert replicas[0].spent(GRANT) == 9000
    assert replicas[1].spend(GRANT, cost, budget) == (False, 9000)
    assert replicas[1].spend(GRANT, 1000, budget) == (True, 9000)  # exactly the budget
    assert replicas[0].spend(GRANT, 1, budget) == (False, 10_000)
    replicas[0].refund(GRANT, 1000)  # a job whose call could not be recorded gives its ε back
    assert replicas[1].spent(GRANT) == 9000
    assert asyncio.run(replicas[1].reserve_budget(GRANT, 1000, budget)) == (True, 9000)
    replicas[1].release_budget(GRANT, 1000)  # from the event loop: queued on the counter's threads
    replicas[1].close()  # waits for the queued refund
    assert replicas[0].spent(GRANT) == 9000
    assert replicas[0].spend("0x" + "cd" * 32, 10_001, budget) == (False, 0)  # a first job over the budget
    with psycopg.connect(url) as conn:  # one row per grant, never one for a refused first job
        assert conn.execute(f"SELECT grant_id, spent FROM {BUDGET_TABLE}").fetchall() == [(GRANT, 9000)]


def test_an_unreachable_server_refuses_and_the_counter_recovers(
    postgres: Any, url: str, counters: list[PostgresQuota]
) -> None:
    clock = Clock()
    counter = PostgresQuota(url, retry_s=5.0, clock=clock)
    counters.append(counter)
    assert counter.take(GRANT, 3)
    postgres.kill()
    try:
        with pytest.raises(QuotaUnavailableError, match="unreachable"):
            counter.take(GRANT, 3)  # the pooled connection is dead, and so is a new one
        assert counter.health()["reachable"] is False
        with pytest.raises(QuotaUnavailableError):
            counter.take(GRANT, 3)  # within retry_s: refused without trying
        assert counter.health()["refused"] == 2
    finally:
        postgres.start()
    with pytest.raises(QuotaUnavailableError):
        counter.take(GRANT, 3)  # still within retry_s
    clock.now += 5.0
    assert counter.take(GRANT, 3) and counter.take(GRANT, 3)
    assert not counter.take(GRANT, 3)
    assert counter.health()["reachable"] is True
    assert counter.used(GRANT) == 3  # the count survived the server's kill -9


def test_an_idle_counter_finds_the_server_down_and_back_through_its_health_reads(
    postgres: Any, url: str, counters: list[PostgresQuota]
) -> None:
    """No call under a quota, so no statement of a call: a health read (the alarm evaluator's probe, a scrape)
    after ``check_after_s`` without a statement checks the store in the background, and the next read says so.
    A check is not a refused call."""
    clock = Clock()
    counter = PostgresQuota(url, retry_s=1.0, check_after_s=2.0, clock=clock)
    counters.append(counter)
    assert counter.check()
    postgres.kill()
    try:
        assert counter.health()["reachable"] is True  # a statement ran 0 s ago: no check yet
        clock.now += 2.0
        wait_until(lambda: counter.health()["reachable"] is False, "a health read to find the store down", 20)
        health = counter.health()
        assert health["refused"] == 0 and health["last_error"]
    finally:
        postgres.start()
    assert counter.health()["reachable"] is False  # within retry_s: no check, the last one stands
    clock.now += 2.0
    wait_until(lambda: counter.health()["reachable"] is True, "a health read to find the store back", 20)
    assert counter.health()["refused"] == 0


def test_a_server_that_never_answered_is_refused_within_the_connect_timeout() -> None:
    counter = PostgresQuota("postgresql://nobody@127.0.0.1:1/none", connect_timeout_s=1)
    try:
        with pytest.raises(QuotaUnavailableError):
            counter.take(GRANT, 1)
        assert counter.health()["reachable"] is False
    finally:
        counter.close()


def test_urls_are_shown_without_their_password() -> None:
    assert redact("postgresql://gw:secret@db:5432/quota") == "postgresql://gw:***@db:5432/quota"
    assert redact("postgresql://gw@db/quota") == "postgresql://gw@db/quota"
    assert redact("postgresql:///quota") == "postgresql:///quota"


# -- PSI runs shared by the replicas (gateway_psi_runs) ------------------------------------------------------

RUN = ("7a" * 32, "1c" * 32)  # a job's tag, the SHA-256 of its request step's bytes


def test_a_psi_run_is_taken_once_across_two_replicas_with_its_unit_and_epsilon(
    url: str, counters: list[PostgresQuota]
) -> None:
    """Replica a claims a run (a unit of the quota of 3 and 1.5 ε of 10 with its key, in flight): the same request
    on replica b is in flight and takes nothing; once a's event is recorded counted it is a retry of a's event and
    takes nothing, however often; another request of the same job is a run. A run whose call ended without its
    event counted (no answer) gives its key, unit and ε back, so the same request is a run again; a refusal (runs or
    ε used up) leaves nothing behind. A key whose lease ended in flight (a replica that died with it) is taken over
    by a request that counts a new run; the late call's release then gives back its own unit and ε only."""
    a, b = PostgresQuota(url), PostgresQuota(url)
    counters.extend([a, b])
    budget = (1500, 10_000)
    assert a.claim(GRANT, RUN, "ev-a1", 3, budget) == RunClaim("claimed", dp_cost=1500)
    assert b.claim(GRANT, RUN, "ev-b1", 3, budget) == RunClaim("in_flight")
    assert (b.used(GRANT), b.spent(GRANT), b.run_of(RUN)) == (1, 1500, ("ev-a1", False))
    asyncio.run(a.run_recorded(GRANT, RUN, "ev-a1"))
    for replica, event in ((b, "ev-b2"), (a, "ev-a2"), (b, "ev-b3")):
        assert replica.claim(GRANT, RUN, event, 3, budget) == RunClaim("retry", retry_of="ev-a1")
    assert (a.used(GRANT), a.spent(GRANT), a.run_of(RUN)) == (1, 1500, ("ev-a1", True))

    other = (RUN[0], "2d" * 32)  # the same job started again: other bytes, a run
    assert b.claim(GRANT, other, "ev-b4", 3, budget) == RunClaim("claimed", dp_cost=1500)
    b.unclaim(GRANT, other, "ev-b4", 3, 1500)  # its owner's service gave no answer
    assert (a.used(GRANT), a.spent(GRANT), a.run_of(other)) == (1, 1500, None)
    assert a.claim(GRANT, other, "ev-a5", 3, budget) == RunClaim("claimed", dp_cost=1500)
    asyncio.run(a.run_recorded(GRANT, other, "ev-a5"))

    third, fourth = (RUN[0], "3e" * 32), ("4f" * 32, "3e" * 32)
    assert b.claim(GRANT, third, "ev-b6", 3, (1500, 4000)) == RunClaim("dp_budget_exhausted", spent=3000)
    assert b.claim(GRANT, third, "ev-b7", 2, budget) == RunClaim("quota_exhausted")
    assert (b.used(GRANT), b.spent(GRANT), b.run_of(third)) == (2, 3000, None)  # nothing taken, no key left

    assert b.claim(GRANT, third, "ev-b8", 0, None, lease_s=0) == RunClaim("claimed")  # unlimited, no ε: a key only
    assert a.claim(GRANT, third, "ev-a9", 3, budget) == RunClaim("claimed", dp_cost=1500)  # the lease ended: taken over
    assert (a.used(GRANT), a.spent(GRANT), a.run_of(third)) == (3, 4500, ("ev-a9", False))
    b.unclaim(GRANT, third, "ev-b8", 0, 0)  # the late call ends without an answer: a's key stays
    assert a.run_of(third) == ("ev-a9", False) and a.used(GRANT) == 3
    assert a.claim(GRANT, fourth, "ev-a10", 3, budget) == RunClaim("quota_exhausted")  # the quota of 3 is used
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT job, request, event_id, counted FROM {RUNS_TABLE} ORDER BY event_id").fetchall()
    assert rows == [(RUN[0], RUN[1], "ev-a1", True), (*other, "ev-a5", True), (*third, "ev-a9", False)]


def test_a_live_run_renews_its_lease_and_only_while_it_holds_the_key(url: str, counters: list[PostgresQuota]) -> None:
    """Replica a claims a run whose lease is over at once (``lease_s=0``, as a run that outlasted its lease): renewed
    by its live call, a repeat on replica b is in flight and takes nothing. A run left by a call that stopped
    renewing is taken over by b; the late call's renewal then finds the key no longer its own and changes nothing,
    nor does a renewal once the run is counted (no lease left)."""
    a, b = PostgresQuota(url), PostgresQuota(url)
    counters.extend([a, b])
    budget = (1500, 10_000)
    assert a.claim(GRANT, RUN, "ev-a1", 3, budget, lease_s=0) == RunClaim("claimed", dp_cost=1500)
    assert asyncio.run(a.renew_run(RUN, "ev-a1", 60.0))  # on the counter's threads, as keep_run renews it
    assert b.claim(GRANT, RUN, "ev-b1", 3, budget) == RunClaim("in_flight")
    assert (b.used(GRANT), b.spent(GRANT), b.run_of(RUN)) == (1, 1500, ("ev-a1", False))

    other = (RUN[0], "2d" * 32)
    assert a.claim(GRANT, other, "ev-a2", 3, budget, lease_s=0) == RunClaim("claimed", dp_cost=1500)
    assert b.claim(GRANT, other, "ev-b2", 3, budget, lease_s=5) == RunClaim("claimed", dp_cost=1500)  # taken over
    assert not a.renew(other, "ev-a2", 3600.0)
    leases = f"SELECT event_id, counted, lease_until > now() + interval '59 s' FROM {RUNS_TABLE} ORDER BY event_id"
    with psycopg.connect(url) as conn:
        assert conn.execute(leases).fetchall() == [("ev-a1", False, True), ("ev-b2", False, False)]  # b's 5 s
        asyncio.run(b.run_recorded(GRANT, other, "ev-b2"))
        assert not b.renew(other, "ev-b2", 3600.0)
        assert conn.execute(leases).fetchall() == [("ev-a1", False, True), ("ev-b2", True, None)]


def _waiting_on_locks(conn: psycopg.Connection[Any], database: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (database,)
    ).fetchone()
    return int(row[0]) if row else 0


def test_the_same_request_racing_on_two_replicas_takes_one_run(url: str, counters: list[PostgresQuota]) -> None:
    """Both replicas in their claim's transaction at once, driven by the row locks: a transaction of the test holds
    the grant's quota row, so replica a's claim inserts the run's key and waits for the row; replica b's claim of
    the same key then waits for a's transaction. The test's transaction ends: a takes its unit and commits, and b
    finds the key in flight and takes nothing. One unit used, one key, whichever replica each request reached."""
    a, b = PostgresQuota(url), PostgresQuota(url)
    counters.extend([a, b])
    assert a.take(GRANT, 10)  # the quota row exists: the test's transaction can hold it
    database = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    results: dict[str, RunClaim] = {}

    def claim(replica: PostgresQuota, event: str) -> None:
        results[event] = replica.claim(GRANT, RUN, event, 10)

    with psycopg.connect(url, autocommit=True) as watcher, psycopg.connect(url) as holder:
        holder.execute(f"SELECT used FROM {TABLE} WHERE grant_id = %s FOR UPDATE", (GRANT,))
        first = threading.Thread(target=claim, args=(a, "ev-a"))
        first.start()
        wait_until(lambda: _waiting_on_locks(watcher, database) == 1, "replica a to wait for the quota row", 20)
        second = threading.Thread(target=claim, args=(b, "ev-b"))
        second.start()
        wait_until(lambda: _waiting_on_locks(watcher, database) == 2, "replica b to wait for a's key", 20)
        assert results == {}
        holder.rollback()
        first.join(20)
        second.join(20)
    assert results == {"ev-a": RunClaim("claimed"), "ev-b": RunClaim("in_flight")}
    assert (a.used(GRANT), b.run_of(RUN)) == (2, ("ev-a", False))
