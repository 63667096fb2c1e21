"""The gateway's circuit breaker with an injected clock: failures in a row open it, it refuses during the
cooldown, lets one probe through after it, and the probe's outcome closes or reopens it."""

from __future__ import annotations

import pytest

from gateway.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failures_in_a_row_open_it_and_a_success_in_between_resets_the_count() -> None:
    b = CircuitBreaker(threshold=3, cooldown_s=10.0, clock=Clock())
    b.failure()
    b.failure()
    b.success()  # the upstream answered: the count starts again
    b.failure()
    b.failure()
    assert b.state == CLOSED and b.allow()
    b.failure()
    assert b.state == OPEN and b.opened == 1
    assert not b.allow() and not b.allow() and b.refused == 2


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes_it() -> None:
    clock = Clock()
    b = CircuitBreaker(threshold=1, cooldown_s=10.0, clock=clock)
    b.failure()
    clock.now += 9.5
    assert not b.allow() and b.retry_after_s() == 1
    clock.now += 0.5
    assert b.allow() and b.state == HALF_OPEN  # the probe
    assert not b.allow()  # the others still wait for it
    b.success()
    assert b.state == CLOSED and b.allow() and b.allow()


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(threshold=2, cooldown_s=10.0, clock=clock)
    b.failure()
    b.failure()
    clock.now += 10.0
    assert b.allow()
    b.failure()  # one failure is enough in half-open
    assert b.state == OPEN and b.opened == 2 and b.retry_after_s() == 10
    clock.now += 9.0
    assert not b.allow()
    assert b.health() == {"state": "open", "failures_in_a_row": 3, "opened": 2, "refused": 1}


def test_a_probe_that_never_reports_back_is_replaced_after_a_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(threshold=1, cooldown_s=10.0, clock=clock)
    b.failure()
    clock.now += 10.0
    assert b.allow()  # a probe whose caller went away: neither success() nor failure() comes
    clock.now += 9.0
    assert not b.allow()
    clock.now += 1.0
    assert b.allow() and b.state == HALF_OPEN  # another probe


def test_a_breaker_needs_a_threshold_and_a_cooldown() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker(cooldown_s=0.0)
