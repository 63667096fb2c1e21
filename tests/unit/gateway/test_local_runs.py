"""The PSI runs of one gateway that counts in its own outbox (``gateway.quota.LocalQuota``): a run's unit and ε
taken with its key, the same request refused while that key is in flight, its key given back with the unit and ε
when its call ends without a counted event, and known counted from the outbox's ``psi_runs`` once it has one (an
outbox on disk, no socket)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from gateway.quota import LocalQuota, RunClaim
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
