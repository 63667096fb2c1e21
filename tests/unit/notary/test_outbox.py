"""The gateway's outbox (notary.submit.outbox) on real SQLite files: numbering under concurrency, validation,
persistence, quota counting, the bound and its alarm, shipping state. ``kill -9`` of a process appending to it is
in ``tests/integration/notary/test_outbox_crash.py``."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from notary.event import EventSchemaError, UnsequencedEvent, canonical_entry
from notary.submit.outbox import DuplicateEventError, Outbox, OutboxClosedError, OutboxError, OutboxFullError
from tests.support.notary_events import event
from tests.support.wait import wait_until

GATEWAY = "shuzhi-tech/gw-1"
GRANTS = ("0x" + "a" * 64, "0x" + "b" * 64, "0x" + "c" * 64)


def call(event_id: str, **changes: Any) -> UnsequencedEvent:
    """A recorded call as the gateway hands it to the outbox: everything but gateway_seq (invalid with some
    ``changes``: the outbox validates what it is given)."""
    recorded = event(event_id=event_id, **changes)
    del recorded["gateway_seq"]
    return cast(UnsequencedEvent, recorded)


def crash_event(event_id: str) -> UnsequencedEvent:
    """A call whose content follows from its id alone (the crash test recomputes the bytes): allowed under one
    of ``GRANTS`` or denied."""
    pick = zlib.crc32(event_id.encode())
    if pick % 4 == 3:
        return call(event_id, decision="deny", denial_reason="no_grant", grant_id=None, status=403)
    return call(event_id, grant_id=GRANTS[pick % 3], latency_us=pick % 100_000)


def crash_dp_cost(event_id: str) -> int:
    """The thousandths of ε the crash test's call spends of its grant's privacy budget (0 to 3,000), from its id."""
    return (zlib.crc32(event_id.encode()) // 4) % 13 * 250


def entry(recorded: UnsequencedEvent, seq: int) -> bytes:
    data: bytes = canonical_entry({**recorded, "gateway_seq": seq})
    return data


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gateways" / "shuzhi-tech" / "outbox.db"


@pytest.fixture
def outbox(path: Path) -> Iterator[Outbox]:
    box = Outbox(path, GATEWAY)
    box.start()
    yield box
    box.close()


def run_threads(count: int, target: Any) -> None:
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---------------------------------------------------------------------------------------------- numbering


def test_50_threads_get_contiguous_seqs_in_commit_order(outbox: Outbox) -> None:
    per_thread = 100
    seqs: dict[str, int] = {}
    order: dict[int, list[int]] = {}

    def appender(n: int) -> None:
        # each thread queues all its appends before waiting: the queue order is its own order
        futures = [(f"t{n}-{i}", outbox.append(call(f"t{n}-{i}", latency_us=i))) for i in range(per_thread)]
        mine = [(eid, f.result(timeout=30)) for eid, f in futures]
        seqs.update(mine)
        order[n] = [s for _, s in mine]

    run_threads(50, appender)
    total = 50 * per_thread
    assert sorted(seqs.values()) == list(range(1, total + 1))
    for n, mine in order.items():
        assert mine == sorted(mine), f"thread {n}'s appends were numbered out of order"
    rows = outbox.pending(total + 10)
    assert [seq for seq, _ in rows] == list(range(1, total + 1))
    by_seq = {seq: eid for eid, seq in seqs.items()}
    for seq, data in rows:
        eid = by_seq[seq]
        n, i = (int(x) for x in eid[1:].split("-"))
        assert data == entry(call(eid, latency_us=i), seq)
    stats = outbox.stats()
    assert (stats.last_seq, stats.shipped_seq, stats.pending) == (total, 0, total)
    assert stats.oldest_pending_ms == event()["time_ms"]


@pytest.mark.benchmark
def test_append_throughput_of_50_threads(outbox: Outbox) -> None:
    """Saturated (each thread appends as fast as it can) and at a steady rate the gateway must sustain."""
    threads = 50
    latencies: list[float] = []
    lock = threading.Lock()

    def closed_loop(n: int) -> None:
        mine = []
        for i in range(120):
            recorded = call(f"sat-{n}-{i}")
            start = time.perf_counter()
            outbox.append(recorded).result(timeout=30)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    commits = outbox.commits
    started = time.perf_counter()
    run_threads(threads, closed_loop)
    rate = len(latencies) / (time.perf_counter() - started)
    group = len(latencies) / (outbox.commits - commits)
    latencies.sort()
    saturated = (rate, latencies[len(latencies) // 2] * 1000, latencies[len(latencies) * 99 // 100] * 1000)

    offered, seconds = 5000.0, 1.0
    paced: list[float] = []

    def steady(n: int) -> None:
        mine = []
        per_thread = offered / threads
        begin = time.perf_counter()
        for i in range(int(per_thread * seconds)):
            delay = begin + (i + n / threads) / per_thread - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            recorded = call(f"steady-{n}-{i}")
            start = time.perf_counter()
            outbox.append(recorded).result(timeout=30)
            mine.append(time.perf_counter() - start)
        with lock:
            paced.extend(mine)

    run_threads(threads, steady)
    paced.sort()
    p50, p99 = paced[len(paced) // 2] * 1000, paced[len(paced) * 99 // 100] * 1000
    print(
        f"\noutbox appends, 50 threads: saturated {saturated[0]:,.0f}/s (p50 {saturated[1]:.2f} ms, "
        f"p99 {saturated[2]:.2f} ms, {group:.1f} appends per commit); at {offered:,.0f}/s offered: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    assert outbox.stats().last_seq == len(latencies) + len(paced)
    # Timings depend on the machine and its load, so they are printed, not asserted; the mechanism is asserted:
    # 50 concurrent appenders share fsyncs instead of queueing for one each.
    assert group >= 5, f"only {group:.1f} appends per commit with 50 concurrent appenders"


# ---------------------------------------------------------------------------------------------- validation


def test_an_invalid_event_fails_only_its_own_append(path: Path) -> None:
    outbox = Outbox(path, GATEWAY)
    # queued before the writer starts, so all of them land in one group (one transaction)
    good1 = call("good-1")
    futures = {
        "good-1": outbox.append(good1),
        "bad-status": outbox.append(call("bad-status", status=99)),
        "seq-given": outbox.append(cast(UnsequencedEvent, {**call("seq-given"), "gateway_seq": 7})),
        "other-gateway": outbox.append(call("other-gateway", gateway_id="shuzhi-tech/gw-2")),
        "other-provider": outbox.append(call("other-provider", provider_org="jinghua-sec")),
        "duplicate-in-group": outbox.append(call("good-1", status=500)),
        "good-2": outbox.append(call("good-2")),
    }
    outbox.start()
    try:
        assert futures["good-1"].result(timeout=10) == 1
        assert futures["good-2"].result(timeout=10) == 2
        for name in ("bad-status", "seq-given", "other-gateway", "other-provider"):
            with pytest.raises(EventSchemaError) as caught:
                futures[name].result(timeout=10)
            assert caught.value.errors, name
        with pytest.raises(EventSchemaError) as caught:
            futures["bad-status"].result()
        assert caught.value.errors == [{"loc": ["status"], "msg": "must be an HTTP status code (100-599)"}]
        with pytest.raises(DuplicateEventError):
            futures["duplicate-in-group"].result(timeout=10)
        with pytest.raises(DuplicateEventError):  # and against what is already stored
            outbox.append(call("good-2", status=500)).result(timeout=10)
        assert outbox.pending(10) == [(1, entry(good1, 1)), (2, entry(call("good-2"), 2))]
        assert outbox.append(call("good-3")).result(timeout=10) == 3
    finally:
        outbox.close()


def test_the_caller_may_change_its_dict_after_append(outbox: Outbox) -> None:
    recorded = call("mutated")
    future = outbox.append(recorded)
    recorded["status"] = 500
    seq = future.result(timeout=10)
    assert outbox.pending(1) == [(seq, entry(call("mutated"), seq))]


# ---------------------------------------------------------------------------------------------- persistence


def test_events_and_state_persist_across_close_and_reopen(path: Path) -> None:
    first = Outbox(path, GATEWAY)
    first.start()
    recorded = [call(f"p-{i}", latency_us=i) for i in range(20)]
    seqs = [f.result(timeout=10) for f in [first.append(r) for r in recorded]]
    first.mark_shipped(5)
    first.close()

    with Outbox(path, GATEWAY) as again:
        stats = again.stats()
        assert (stats.last_seq, stats.shipped_seq, stats.pending) == (20, 5, 15)
        assert again.pending(100) == [(s, entry(r, s)) for s, r in zip(seqs, recorded, strict=True)][5:]
        assert again.append(call("p-next")).result(timeout=10) == 21
    with pytest.raises(OutboxError, match="outbox of gateway 'shuzhi-tech/gw-1'"):
        Outbox(path, "shuzhi-tech/gw-2")


def test_a_closed_outbox_commits_what_was_queued_and_refuses_the_rest(path: Path) -> None:
    outbox = Outbox(path, GATEWAY)
    queued = [outbox.append(call(f"q-{i}")) for i in range(5)]
    with pytest.raises(OutboxClosedError):  # the writer is not running: nothing can be marked
        outbox.mark_shipped(1)
    outbox.close()
    assert [f.result(timeout=0) for f in queued] == [1, 2, 3, 4, 5]
    with pytest.raises(OutboxClosedError):
        outbox.append(call("late")).result(timeout=10)
    with pytest.raises(OutboxClosedError):
        outbox.mark_shipped(3)
    with pytest.raises(OutboxClosedError):
        outbox.pending(10)
    with Outbox(path, GATEWAY) as again:
        assert again.stats().last_seq == 5


def test_append_async(outbox: Outbox) -> None:
    async def record() -> list[int]:
        return list(await asyncio.gather(*(outbox.append_async(call(f"a-{i}")) for i in range(30))))

    assert sorted(asyncio.run(record())) == list(range(1, 31))

    async def invalid() -> None:
        await outbox.append_async(call("a-bad", method="TRACE"))

    with pytest.raises(EventSchemaError):
        asyncio.run(invalid())


# ---------------------------------------------------------------------------------------------- quota


def test_exactly_quota_reservations_win_a_race_of_50_threads(outbox: Outbox) -> None:
    grant = GRANTS[0]
    barrier = threading.Barrier(50)
    won: list[int] = []

    def racer(n: int) -> None:
        barrier.wait()
        if outbox.reserve(grant, 10):
            won.append(n)

    run_threads(50, racer)
    assert len(won) == 10
    assert outbox.quota_used(grant) == 0  # reserved, not yet recorded
    # the winners' calls are recorded: their reservations become persisted uses, counted once
    for f in [outbox.append(call(f"won-{n}", grant_id=grant)) for n in won]:
        f.result(timeout=10)
    assert outbox.quota_used(grant) == 10
    assert not outbox.reserve(grant, 10)
    assert outbox.reserve(grant, 11)
    assert not outbox.reserve(grant, 11)
    # denied calls under the grant do not use it up
    outbox.append(call("denied", grant_id=grant, decision="deny", denial_reason="quota_exhausted")).result(10)
    assert outbox.quota_used(grant) == 10


def test_release_gives_a_reservation_back_and_zero_is_unlimited(outbox: Outbox) -> None:
    grant = GRANTS[1]
    assert outbox.reserve(grant, 1)
    assert not outbox.reserve(grant, 1)
    outbox.release(grant)
    assert outbox.reserve(grant, 1)
    outbox.release(grant)
    outbox.release(grant)  # one too many: ignored, never a negative count
    assert outbox.reserve(grant, 1)
    assert not outbox.reserve(grant, 1)
    assert all(outbox.reserve(GRANTS[2], 0) for _ in range(100))


def test_quota_counts_survive_reopen(path: Path) -> None:
    grant = GRANTS[0]
    with Outbox(path, GATEWAY) as first:
        for i in range(3):
            assert first.reserve(grant, 3)
            first.append(call(f"g-{i}", grant_id=grant)).result(timeout=10)
        assert not first.reserve(grant, 3)
    with Outbox(path, GATEWAY) as again:
        assert again.quota_used(grant) == 3
        assert not again.reserve(grant, 3)
        assert again.reserve(grant, 4)
        assert not again.reserve(grant, 4)


def test_an_allowed_event_appended_uncounted_takes_no_unit_of_its_grant(path: Path) -> None:
    """The free steps of a PSI job: recorded, allowed, under the grant, and not one of its runs."""
    grant = GRANTS[2]
    with Outbox(path, GATEWAY) as box:
        assert box.reserve(grant, 2)
        box.append(call("run-1", grant_id=grant)).result(timeout=10)
        for i in range(5):
            box.append(call(f"free-{i}", grant_id=grant), counted=False).result(timeout=10)
        assert box.quota_used(grant) == 1
        assert box.reserve(grant, 2)
        assert not box.reserve(grant, 2)
    with Outbox(path, GATEWAY) as again:
        assert again.quota_used(grant) == 1


def test_a_grant_read_for_the_first_time_while_its_events_commit_is_counted_once(outbox: Outbox) -> None:
    """The lazy read of a grant's count races with the writer committing that grant's events: every committed
    event is counted exactly once, whichever side of the read its commit falls."""
    grants = [f"0x{n:064x}" for n in range(1, 401)]
    current = [grants[0]]
    stop = threading.Event()

    def appender(n: int) -> None:
        i = 0
        while not stop.is_set():
            outbox.append(call(f"r-{n}-{i}", grant_id=current[0])).result(timeout=10)
            i += 1

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for grant in grants:  # the appenders switch to a new grant, whose first use reads its count mid-stream
        current[0] = grant
        time.sleep(random.uniform(0, 0.001))
        outbox.reserve(grant, 10**9)
        outbox.release(grant)
    stop.set()
    for t in threads:
        t.join()
    for grant in grants:
        committed = outbox.quota_used(grant)
        assert outbox.reserve(grant, committed + 1), f"{grant}: a commit was counted twice"
        assert not outbox.reserve(grant, committed + 1), f"{grant}: a commit was not counted"
    assert sum(outbox.quota_used(g) for g in grants) == outbox.stats().last_seq


# ---------------------------------------------------------------------------------------------- the bound


def test_full_at_max_pending_with_the_high_alarm_before(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="notary.submit.outbox")
    with Outbox(path, GATEWAY, max_pending=10, alarm_ratio=0.8) as outbox:
        for i in range(7):
            outbox.append(call(f"b-{i}")).result(timeout=10)
        assert not outbox.stats().high
        assert not [r for r in caplog.records if "outbox-high" in r.getMessage()]
        outbox.append(call("b-7")).result(timeout=10)
        stats = outbox.stats()
        assert stats.high and stats.pending == 8
        alarms = [r.getMessage() for r in caplog.records if "outbox-high" in r.getMessage()]
        assert len(alarms) == 1 and alarms[0].startswith("outbox-high: 8 events")
        outbox.append(call("b-8")).result(timeout=10)
        outbox.append(call("b-9")).result(timeout=10)
        with pytest.raises(OutboxFullError):
            outbox.append(call("b-10")).result(timeout=10)
        stats = outbox.stats()
        assert (stats.last_seq, stats.pending, stats.max_pending) == (10, 10, 10)
        assert outbox.pending(100)[-1][0] == 10  # nothing was written for the refused call

        outbox.mark_shipped(5)
        stats = outbox.stats()
        assert not stats.high and stats.pending == 5
        assert any("outbox-high cleared" in r.getMessage() for r in caplog.records)
        assert outbox.append(call("b-10")).result(timeout=10) == 11


def test_mark_shipped_never_moves_backwards(path: Path) -> None:
    with Outbox(path, GATEWAY) as outbox:
        for i in range(10):
            outbox.append(call(f"s-{i}")).result(timeout=10)
        outbox.mark_shipped(6)
        outbox.mark_shipped(3)
        assert outbox.stats().shipped_seq == 6
        assert [seq for seq, _ in outbox.pending(100)] == [7, 8, 9, 10]
        with pytest.raises(OutboxError, match="only 10 events are committed"):
            outbox.mark_shipped(11)
        assert outbox.stats().shipped_seq == 6
        assert outbox.stats().oldest_pending_ms == event()["time_ms"]
    with Outbox(path, GATEWAY) as again:
        again.mark_shipped(2)
        assert again.stats().shipped_seq == 6
        again.mark_shipped(10)
        stats = again.stats()
        assert (stats.shipped_seq, stats.pending, stats.oldest_pending_ms) == (10, 0, None)
        assert again.pending(100) == []


def test_a_ledger_query_without_a_grant_is_recorded_and_counts_against_no_quota(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "explorer.outbox.db", "shuzhi-tech/explorer")
    box.start()
    try:
        query = call("q-1", grant_id=None, center="explorer", unit="explorer", api="calls.search")
        query["gateway_id"] = "shuzhi-tech/explorer"
        assert box.append(query).result(timeout=10) == 1
        assert box.pending(10)[0][1] == entry(query, 1)
    finally:
        box.close()


# ---------------------------------------------------------------------------------------------- privacy budget


def test_a_budget_admits_costs_up_to_it_and_spends_them_with_their_events(path: Path) -> None:
    """Thousandths of ε: a budget of 7 (7,000) admits two jobs of 3 and not a third; a cost is spent when its
    allowed event commits, in the same transaction, and survives a reopen."""
    grant = GRANTS[0]
    with Outbox(path, GATEWAY) as box:
        assert box.reserve_budget(grant, 3000, 7000) == (True, 0)
        assert box.reserve_budget(grant, 3000, 7000) == (True, 3000)
        assert box.reserve_budget(grant, 3000, 7000) == (False, 6000)  # 9 > 7, in flight counts
        assert box.dp_spent(grant) == 0  # reserved, not yet recorded
        box.append(call("job-1", grant_id=grant), dp_cost=3000).result(timeout=10)
        box.release_budget(grant, 3000)  # the second job's call could not be recorded
        assert box.dp_spent(grant) == 3000
        assert box.reserve_budget(grant, 4000, 7000) == (True, 3000)  # exactly the budget
        box.append(call("job-2", grant_id=grant), dp_cost=4000).result(timeout=10)
        assert box.reserve_budget(grant, 1, 7000) == (False, 7000)
        assert box.reserve_budget(GRANTS[1], 7000, 7000) == (True, 0)  # per grant
    with Outbox(path, GATEWAY) as again:
        assert again.dp_spent(grant) == 7000 and again.dp_spent(GRANTS[1]) == 0
        assert again.reserve_budget(grant, 1, 7000) == (False, 7000)
        assert again.reserve_budget(grant, 1, 7001) == (True, 7000)


def test_a_counted_psi_run_is_kept_with_its_event_shipped_or_not_and_across_a_reopen(path: Path) -> None:
    """A PSI request step recorded counted keeps its run (job tag, request SHA-256) → its event id, in the event's
    transaction: still there once the event is shipped (and dropped from the outbox) and after a reopen. A step
    recorded uncounted (no answer, or a retry) or denied keeps none, and a second counted event of the same run
    leaves the first one's."""
    grant, tag, request = GRANTS[0], "7a" * 32, "1c" * 32
    with Outbox(path, GATEWAY) as box:
        box.append(call("no-answer", grant_id=grant, status=502), counted=False, run=(tag, request)).result(10)
        refused = call("refused", grant_id=grant, decision="deny", denial_reason="quota_exhausted", status=403)
        box.append(refused, run=(tag, "2d" * 32)).result(10)
        assert box.counted_run(tag, request) is None and box.counted_run(tag, "2d" * 32) is None
        seq = box.append(call("run", grant_id=grant), run=(tag, request)).result(10)
        assert box.counted_run(tag, request) == "run"
        box.append(call("twice", grant_id=grant), run=(tag, request)).result(10)
        box.mark_shipped(seq + 1)
        assert box.pending_count == 0
        assert box.counted_run(tag, request) == "run"
        assert box.counted_run(tag, "3e" * 32) is None and box.counted_run("4f" * 32, request) is None
    with Outbox(path, GATEWAY) as again:
        assert again.counted_run(tag, request) == "run"


def test_a_denied_event_spends_nothing_and_a_negative_cost_is_refused(outbox: Outbox) -> None:
    grant = GRANTS[1]
    outbox.append(
        call("refused", grant_id=grant, decision="deny", denial_reason="dp_budget_exhausted", status=403),
        dp_cost=3000,
    ).result(timeout=10)
    assert outbox.dp_spent(grant) == 0 and outbox.quota_used(grant) == 0
    with pytest.raises(ValueError, match="not negative"):
        outbox.reserve_budget(grant, -1, 10)


def test_exactly_as_many_jobs_as_the_budget_holds_win_a_race_of_40_threads(outbox: Outbox) -> None:
    grant = GRANTS[2]
    barrier = threading.Barrier(40)
    won: list[int] = []

    def racer(n: int) -> None:
        barrier.wait()
        if outbox.reserve_budget(grant, 1500, 10_000)[0]:
            won.append(n)

    run_threads(40, racer)
    assert len(won) == 6  # 6 × 1.5 = 9 <= 10 < 10.5
    for f in [outbox.append(call(f"won-{n}", grant_id=grant), dp_cost=1500) for n in won]:
        f.result(timeout=10)
    assert outbox.dp_spent(grant) == 9000
    assert outbox.reserve_budget(grant, 1000, 10_000) == (True, 9000)


def test_wait_pending_sleeps_until_a_commit_adds_events_or_wake(outbox: Outbox) -> None:
    """What lets the shipper sleep at rest: a waiter is woken by a commit that adds events (not before, with an
    hour's timeout) and by ``wake`` once its ``woken()`` holds; with events pending it does not wait at all."""
    assert outbox.wait_pending(0) == 0
    woken = threading.Event()
    answers: list[int] = []
    waiter = threading.Thread(target=lambda: answers.append(outbox.wait_pending(3600, woken=woken.is_set)))
    waiter.start()
    outbox.append(call("ev-1")).result(timeout=30)
    waiter.join(30)
    assert not waiter.is_alive() and answers == [1]

    assert outbox.wait_pending(3600) == 1  # pending already: no wait
    waiter = threading.Thread(target=lambda: answers.append(outbox.wait_pending(3600, at_least=3, woken=woken.is_set)))
    waiter.start()
    outbox.append(call("ev-2")).result(timeout=30)  # two pending, fewer than it waits for
    outbox.wake()  # woken() does not hold yet: it goes on waiting
    assert waiter.is_alive()
    woken.set()
    outbox.wake()
    waiter.join(30)
    assert not waiter.is_alive() and answers == [1, 2]


def test_a_waiter_gathering_a_batch_is_not_woken_by_each_commit_that_leaves_it_short(outbox: Outbox) -> None:
    """The shipper gathering a batch (``at_least`` events) sleeps through the commits that leave fewer pending:
    its condition is looked at once as it starts, then when the count is reached, not at each commit. Between
    commits the waiter is seen back asleep on the outbox's condition before the next, so a wake per commit would
    be counted."""
    looked: list[bool] = []

    def woken() -> bool:  # evaluated each time the waiter looks at its condition with too few pending
        looked.append(False)  # (under the outbox's lock: it must not call the outbox)
        return False

    answers: list[int] = []
    waiter = threading.Thread(target=lambda: answers.append(outbox.wait_pending(3600, at_least=4, woken=woken)))
    waiter.start()
    asleep = lambda: len(cast(Any, outbox._grew)._waiters) == 1  # noqa: E731 - the waiter back on the condition
    wait_until(asleep, "the waiter asleep", timeout=30)
    for i in range(1, 4):  # three commits, each leaving fewer than four pending
        outbox.append(call(f"ev-{i}")).result(timeout=30)
        wait_until(asleep, "the waiter asleep again", timeout=30)
    assert len(looked) == 1, looked  # looked at once, as it started
    outbox.append(call("ev-4")).result(timeout=30)
    waiter.join(30)
    assert not waiter.is_alive() and answers == [4] and len(looked) == 1
