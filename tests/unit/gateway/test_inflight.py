"""The per-caller limit of calls in flight (gateway.inflight): slots are counted per caller, the one over the
limit is refused and counted, a slot given back is free again, and a caller that went quiet leaves nothing."""

from __future__ import annotations

import pytest

from gateway.inflight import InFlightLimiter


def test_a_caller_gets_limit_slots_and_the_next_call_is_refused() -> None:
    limiter = InFlightLimiter(3)
    assert [limiter.acquire("beta") for _ in range(4)] == [True, True, True, False]
    assert limiter.in_flight("beta") == 3  # the refused call took nothing
    assert limiter.refused == {"beta": 1}


def test_another_caller_is_not_touched_by_a_full_one() -> None:
    limiter = InFlightLimiter(2)
    assert limiter.acquire("beta") and limiter.acquire("beta") and not limiter.acquire("beta")
    assert limiter.acquire("gamma") and limiter.acquire("gamma")
    assert (limiter.in_flight("beta"), limiter.in_flight("gamma"), limiter.in_flight()) == (2, 2, 4)


def test_a_slot_given_back_is_free_again_and_a_quiet_caller_leaves_nothing() -> None:
    limiter = InFlightLimiter(1)
    assert limiter.acquire("beta") and not limiter.acquire("beta")
    limiter.release("beta")
    assert limiter.acquire("beta")
    limiter.release("beta")
    assert limiter.health() == {"limit_per_caller": 1, "in_flight": {}, "refused": 1}


def test_giving_back_a_slot_never_taken_is_a_bug() -> None:
    limiter = InFlightLimiter(1)
    with pytest.raises(AssertionError, match="never taken"):
        limiter.release("beta")


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InFlightLimiter(limit)


def test_many_acquires_and_releases_in_any_order_balance_to_zero() -> None:
    limiter = InFlightLimiter(5)
    taken = [org for org in ("a", "b", "a", "c", "a", "b") * 3 if limiter.acquire(org)]
    assert limiter.in_flight() == len(taken) and max(limiter.in_flight(o) for o in "abc") <= 5
    for org in reversed(taken):
        limiter.release(org)
    assert limiter.in_flight() == 0 and limiter.health()["in_flight"] == {}
