"""The PSI runs of one gateway that counts in its own outbox (``gateway.quota.LocalQuota``): a run's unit and ε
taken with its key, the same request refused while that key is in flight, its key given back with the unit and ε
when its call ends without a counted event, and known counted from the outbox's ``psi_runs`` once it has one (an
outbox on disk, no socket). A run's key is held under a lease that ``keep_run`` renews while its call is alive, on
an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from gateway.quota import LocalQuota, RunClaim, keep_run
from notary.event import UnsequencedEvent
from notary.submit.outbox import Outbox
from tests.support.notary_events import event

GATEWAY = "shuzhi-tech/gw-1"
GRANT = "0x" + "a" * 64
RUN = ("7a" * 32, "1c" * 32)
BUDGET = (1500, 4000)  # a job's ε and the grant's budget, in thousandths


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.db", GATEWAY) as box:
        yield box


def recorded(event_id: str) -> UnsequencedEvent:
    call = event(event_id=event_id, grant_id=GRANT, gateway_id=GATEWAY)
    del call["gateway_seq"]
    return cast(UnsequencedEvent, call)


def test_a_run_in_flight_refuses_the_same_request_and_a_counted_one_is_the_outboxs(outbox: Outbox) -> None:
    quota = LocalQuota(outbox)

    def claim(event_id: str, run: tuple[str, str] = RUN, runs: int = 3) -> RunClaim:
        return asyncio.run(quota.claim_run(GRANT, run, event_id, runs, BUDGET, 60.0))

    assert claim("ev-1") == RunClaim("claimed", dp_cost=1500)
    assert claim("ev-2") == RunClaim("in_flight")  # nothing taken
    assert outbox.reserve_budget(GRANT, 2500, 4000) == (True, 1500)  # 1500 in flight, not 3000
    outbox.release_budget(GRANT, 2500)
    quota.release_run(GRANT, RUN, "ev-1", 3, 1500)  # the owner's service gave no answer: a run again
    assert claim("ev-3") == RunClaim("claimed", dp_cost=1500)
    outbox.append(recorded("ev-3"), dp_cost=1500, run=RUN).result(10)
    asyncio.run(quota.run_recorded(GRANT, RUN, "ev-3"))
    assert outbox.counted_run(*RUN) == "ev-3"  # what the gateway reads first: the same request is a retry
    assert (outbox.quota_used(GRANT), outbox.dp_spent(GRANT)) == (1, 1500)

    other = (RUN[0], "2d" * 32)
    assert claim("ev-4", other, runs=1) == RunClaim("quota_exhausted")
    assert claim("ev-5", other) == RunClaim("claimed", dp_cost=1500)
    quota.release_run(GRANT, other, "ev-5", 3, 1500)
    assert claim("ev-6", other) == RunClaim("claimed", dp_cost=1500)
    assert claim("ev-7", ("8b" * 32, "2d" * 32)) == RunClaim("dp_budget_exhausted", spent=3000)
    assert claim("ev-8", other) == RunClaim("in_flight")  # ev-6 still holds it


class Ticks:
    """The clock of the leases and the sleep of ``keep_run``: a sleep ends once the test has moved the clock past
    it (:meth:`advance`), never on the wall clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleeping: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleeping.append((self.now + seconds, woken))
        await woken

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move the clock ``seconds`` on, ``step`` at a time, waking each sleep that ends and letting it run."""
        end = self.now + seconds
        while True:
            for _ in range(5):  # the tasks started or woken run to their next sleep (a local renewal never suspends)
                await asyncio.sleep(0)
            if self.now >= end:
                return
            self.now = min(end, self.now + step)
            due = [s for s in self._sleeping if s[0] <= self.now]
            self._sleeping = [s for s in self._sleeping if s[0] > self.now]
            for _, woken in due:
                if not woken.done():  # not the sleep of a cancelled task
                    woken.set_result(None)


def test_a_live_run_keeps_its_lease_and_a_silent_one_is_taken_over_when_it_ends(outbox: Outbox) -> None:
    """A run claimed under a lease of 60 s: a repeat within it is in flight. ``keep_run`` renews it every 20 s while
    the call is alive, so a repeat after 150 s is still in flight (without it, taken over at 60 s). Once the
    renewals stop (as a replica that died stops), a repeat is still refused until the lease from the last renewal ends,
    and then takes the key over as a new run; the late call can neither renew it nor give it back, and a renewal
    that finds it taken over stops."""
    ticks = Ticks()
    quota = LocalQuota(outbox, clock=ticks)

    async def scenario() -> None:
        assert await quota.claim_run(GRANT, RUN, "ev-1", 3, BUDGET, 60.0) == RunClaim("claimed", dp_cost=1500)
        alive = asyncio.create_task(keep_run(quota, RUN, "ev-1", 60.0, sleep=ticks.sleep))
        await ticks.advance(59)
        assert await quota.claim_run(GRANT, RUN, "ev-2", 3, BUDGET, 60.0) == RunClaim("in_flight")
        await ticks.advance(91)  # 150 s: renewed at 20, 40, ..., 140
        assert await quota.claim_run(GRANT, RUN, "ev-3", 3, BUDGET, 60.0) == RunClaim("in_flight")
        assert quota.in_flight(RUN) == ("ev-1", 200.0)
        alive.cancel()  # the call stops renewing without ending (its replica died)
        await ticks.advance(49)  # 199 s: within the lease of the last renewal
        assert await quota.claim_run(GRANT, RUN, "ev-4", 3, BUDGET, 60.0) == RunClaim("in_flight")
        await ticks.advance(1)
        assert await quota.claim_run(GRANT, RUN, "ev-5", 3, BUDGET, 60.0) == RunClaim("claimed", dp_cost=1500)
        assert not await quota.renew_run(RUN, "ev-1", 60.0)
        late = asyncio.create_task(keep_run(quota, RUN, "ev-1", 60.0, sleep=ticks.sleep))
        await ticks.advance(20)
        assert late.done() and late.exception() is None  # it found the key taken over and stopped
        quota.release_run(GRANT, RUN, "ev-1", 3, 1500)  # the late call ends: its own unit and ε only
        assert quota.in_flight(RUN) == ("ev-5", 260.0)

    asyncio.run(scenario())
    assert outbox.reserve_budget(GRANT, 2500, 4000) == (True, 1500)  # ev-5's ε in flight, ev-1's given back


class FailingOnce(LocalQuota):
    """The outbox's counter whose next renewal fails with an error that is not the store's known one."""

    failures = 1

    async def renew_run(self, run: tuple[str, str], event_id: str, lease_s: float) -> bool:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("a renewal's unexpected failure")
        return await super().renew_run(run, event_id, lease_s)


def test_a_renewal_that_fails_unexpectedly_is_logged_and_made_again(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    """An error other than the store's unavailability does not end ``keep_run`` (its exception collected by no one,
    the lease left to end under a live call): it is logged with its traceback and the next renewal holds the run."""
    ticks = Ticks()
    quota = FailingOnce(outbox, clock=ticks)

    async def scenario() -> None:
        assert await quota.claim_run(GRANT, RUN, "ev-1", 3, BUDGET, 60.0) == RunClaim("claimed", dp_cost=1500)
        alive = asyncio.create_task(keep_run(quota, RUN, "ev-1", 60.0, sleep=ticks.sleep))
        await ticks.advance(41)  # the renewal at 20 s fails, the one at 40 s holds
        assert not alive.done()
        assert quota.in_flight(RUN) == ("ev-1", 100.0)
        await ticks.advance(40)  # 81 s: past the claim's lease, renewed
        assert await quota.claim_run(GRANT, RUN, "ev-2", 3, BUDGET, 60.0) == RunClaim("in_flight")
        alive.cancel()

    asyncio.run(scenario())
    assert any("not renewed" in r.getMessage() and r.exc_info for r in caplog.records)
