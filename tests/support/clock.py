"""A clock a test moves by hand, for the components that take one (``clock=``): time passes when the test says
so, however fast or slow the machine runs the test."""

from __future__ import annotations

import time
from datetime import UTC, datetime

#: The instant a unit test takes for "now" where the code under test takes a clock (``clock=``, ``now=``):
#: certificates are issued around it and checked at it, so no test depends on the day it runs.
FIXED_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
#: :data:`FIXED_NOW` in seconds since the epoch, for the clocks that count seconds (a node's, a genesis time).
FIXED_NOW_S = int(FIXED_NOW.timestamp())


class Clock:
    """Seconds, starting at ``now``; ``clock.now += 1.0`` moves it on."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ShiftedClock:
    """The machine's monotonic clock plus ``shift`` seconds, for a component that runs on real time in a test that
    needs to move its clock ahead at one moment (``clock.shift += 1.0``) without waiting for it."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.shift
