"""The arithmetic of QBFT: quorum, fault bound, proposer rotation (Besu's ``ProposerSelector``), round timer."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


def quorum(n: int) -> int:
    """Messages needed out of ``n`` validators: ``ceil(2n/3)``."""
    if n < 1:
        raise ValueError("a validator set has at least one member")
    return (2 * n + 2) // 3


def faults(n: int) -> int:
    """The most faulty validators ``n`` tolerate: ``floor((n-1)/3)``."""
    if n < 1:
        raise ValueError("a validator set has at least one member")
    return (n - 1) // 3


def proposer(validators: Sequence[bytes], previous: bytes, round_: int) -> bytes:
    """The proposer of ``round_`` at the height after a block proposed by ``previous``.

    ``validators`` are sorted ascending. If ``previous`` is one of them, round 0 goes to the next one after it;
    if not (removed, or the genesis block's zero beneficiary), round 0 goes to the first validator above it.
    Each later round moves one further, wrapping around.
    """
    if not validators:
        raise ValueError("no validators")
    if list(validators) != sorted(validators):
        raise ValueError("validators must be sorted")
    n = len(validators)
    following = validators.index(previous) + 1 if previous in validators else bisect.bisect_right(validators, previous)
    base = following % n
    return validators[(base + round_) % n]


@dataclass(frozen=True, slots=True)
class RoundTimer:
    """Round ``r`` lasts ``base × 2^r`` seconds, at most ``cap`` (Besu doubles without a cap: a validator that
    restarts in round 10 would wait over an hour for a round of its peers)."""

    base: float = 2.0
    cap: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError("the round timer needs 0 < base <= cap")

    def duration(self, round_: int) -> float:
        if round_ < 0:
            raise ValueError("rounds start at 0")
        if round_ >= 64:
            return self.cap
        return min(self.base * (1 << round_), self.cap)
