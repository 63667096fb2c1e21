"""A circuit breaker in front of the upstream service: a failing or hanging upstream is cut off instead of
holding every caller for its timeout.

- **closed**: calls go through. ``threshold`` failures in a row (the upstream unreachable, timing out, or
  answering 5xx) open it.
- **open**: calls are answered 503 ``circuit_open`` at once, without reaching the upstream, for ``cooldown_s``
  seconds. Each such answer is recorded in the audit log like any other.
- **half-open**: after the cooldown one call goes through as a probe while the others are still answered 503;
  its success closes the breaker, its failure opens it for another cooldown. A probe that never reports back is
  replaced by another after a cooldown, so the breaker cannot stay half-open for good.

The clock is injected (monotonic seconds), so the tests decide when the cooldown has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypedDict

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class BreakerHealth(TypedDict):
    """The breaker in the gateway's ``/healthz`` (``upstream``)."""

    state: str
    failures_in_a_row: int
    opened: int
    refused: int


class CircuitBreaker:
    def __init__(self, threshold: int = 5, cooldown_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        if threshold < 1 or cooldown_s <= 0:
            raise ValueError("a circuit breaker needs threshold >= 1 and cooldown_s > 0")
        self.threshold, self.cooldown_s, self._clock = threshold, cooldown_s, clock
        self.state = CLOSED
        self.failures = 0  # in a row
        self.opened = 0  # times it opened
        self.refused = 0  # calls answered 503 while open
        self._opened_at = 0.0
        self._probing = False
        self._probe_at = 0.0

    def allow(self) -> bool:
        """Whether a call may go to the upstream now; a False is to be answered 503 ``circuit_open``."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self.state, self._probing = HALF_OPEN, False
        if self.state == HALF_OPEN and (not self._probing or self._clock() - self._probe_at >= self.cooldown_s):
            # a probe that never reported (its caller went away, its recording failed) is replaced after a cooldown
            self._probing, self._probe_at = True, self._clock()
            return True
        self.refused += 1
        return False

    def success(self) -> None:
        self.state, self.failures, self._probing = CLOSED, 0, False

    def failure(self) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            if self.state != OPEN:
                self.opened += 1
            self.state, self._opened_at, self._probing = OPEN, self._clock(), False

    def retry_after_s(self) -> int:
        """Whole seconds until the next probe may go through (at least 1)."""
        left = self.cooldown_s - (self._clock() - self._opened_at) if self.state == OPEN else self.cooldown_s
        return max(1, int(left + 0.999))

    def health(self) -> BreakerHealth:
        return {"state": self.state, "failures_in_a_row": self.failures, "opened": self.opened, "refused": self.refused}
