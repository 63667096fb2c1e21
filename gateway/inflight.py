"""Per-caller concurrency limits: at most ``limit`` calls of one calling member org in flight at a gateway.

A caller is its member org (the certificate's OU), as grants and quotas know it and as the explorer keys its
rate limits: two identities of one firm share its limit, another firm's calls never wait on it. A call takes a
slot once its caller and API are known and gives it back when its answer is finished or aborted, whatever
happened meanwhile (the upstream failed or timed out, the caller went away, the event could not be recorded).
A call over the limit is refused at once, never queued: the gateway answers 429 ``too_many_in_flight`` with
``Retry-After`` and records the refusal like any other (``docs/gateway.md``).

The limiter lives on the gateway's event loop and is used from it alone, so it needs no lock: there is no
``await`` between counting and taking a slot.
"""

from __future__ import annotations

from collections import Counter
from typing import TypedDict


class InFlightHealth(TypedDict):
    """The limits in the gateway's ``/healthz`` (``in_flight``)."""

    limit_per_caller: int
    in_flight: dict[str, int]
    refused: int


class InFlightLimiter:
    """Counts the calls in flight per caller and refuses the one that would exceed ``limit``."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a limit of calls in flight must be at least 1, not {limit}")
        self.limit = limit
        self.refused: Counter[str] = Counter()  # caller → calls refused since the start
        self._in_flight: dict[str, int] = {}

    def acquire(self, caller: str) -> bool:
        """Take a slot for one call of ``caller``; False (and nothing taken) when it already has ``limit``."""
        held = self._in_flight.get(caller, 0)
        if held >= self.limit:
            self.refused[caller] += 1
            return False
        self._in_flight[caller] = held + 1
        return True

    def release(self, caller: str) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        held = self._in_flight.get(caller, 0)
        assert held > 0, f"a slot of {caller} given back that was never taken"
        if held == 1:
            del self._in_flight[caller]  # callers that went quiet cost nothing
        else:
            self._in_flight[caller] = held - 1

    def in_flight(self, caller: str | None = None) -> int:
        """The calls in flight of ``caller``, or of every caller."""
        return self._in_flight.get(caller, 0) if caller is not None else sum(self._in_flight.values())

    def health(self) -> InFlightHealth:
        return {
            "limit_per_caller": self.limit,
            "in_flight": dict(sorted(self._in_flight.items())),
            "refused": sum(self.refused.values()),
        }
