"""A clock a test moves by hand, for the components that take one (``clock=``): time passes when the test says
so, however fast or slow the machine runs the test."""

from __future__ import annotations

import time


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
