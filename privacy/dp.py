"""A differentially private count of a job's result, which the log holds instead of the exact one.

An owner may set ``dp_epsilon`` in its PSI terms (``privacy.asset``). Then the client, which learns the
intersection, draws a noisy count of it with OpenDP's Laplace mechanism on integers (the discrete Laplace, or
two-sided geometric, distribution, scale 1/ε) and puts it in the job record beside the exact count; both parties
sign both. The record's summary in the log (``privacy.record.format_summary``) then carries the noisy count, the
ε and the mechanism, and leaves the exact count out: whoever reads the log (the regulator, the operator that runs
the notary) learns the result's size only as ε-differentially private, the unit being one identifier (adding or
removing one customer from either party's set moves the exact count by at most one, the sensitivity the mechanism
is built for). The exact count stays in the two parties' ``record.json``, where a disclosure proof about the result
needs it (the Merkle tree's size).

The count is clamped to zero from below, which is post-processing and costs no privacy. One job spends ε once:
the grant's number of runs (its quota) bounds how often a grantee can ask again, so the regulator reads the total
privacy loss of one grant as ε times its runs, and the log shows every run.

OpenDP is imported at the first draw (about 0.1 s of CPU): a gateway, the notary or a command that only reads a
record never imports it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata
from typing import Any, Final

from notary.event import DP_EPSILON, DP_MECHANISM
from privacy import _json
from privacy.errors import MalformedError

MECHANISM: Final = DP_MECHANISM
#: ε as written in terms and records (as the log's summary holds it): a decimal with at most three places, above 0
#: and at most 10.
_EPSILON: Final = DP_EPSILON
MAX_EPSILON: Final = Decimal(10)
_FIELDS: Final = {"mechanism", "implementation", "epsilon", "count"}
_TEXT: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,63}\Z")


def check_epsilon(value: object, loc: str = "dp_epsilon") -> str:
    """``value`` if it is an ε as terms and records write it (a string such as ``"1"`` or ``"0.25"``), else raise
    MalformedError."""
    if not isinstance(value, str) or _EPSILON.match(value) is None or not 0 < Decimal(value) <= MAX_EPSILON:
        raise MalformedError(f'{loc} must be a decimal string above 0 and at most 10, such as "1" or "0.25"')
    return value


@functools.cache
def implementation() -> str:
    """The DP library and its version, as a record names it."""
    return f"opendp {metadata.version('opendp')}"


@dataclass(frozen=True, slots=True)
class DpCount:
    """A noisy count as a record holds it."""

    mechanism: str
    implementation: str
    epsilon: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "mechanism": self.mechanism,
            "implementation": self.implementation,
            "epsilon": self.epsilon,
            "count": self.count,
        }

    @classmethod
    def from_json(cls, obj: object, loc: str) -> DpCount:
        top = _json.fields(obj, loc, _FIELDS)
        mechanism = _json.text(top["mechanism"], f"{loc}.mechanism", _TEXT)
        if mechanism != MECHANISM:
            raise MalformedError(f"{loc}.mechanism must be {MECHANISM!r}, not {mechanism!r}")
        return cls(
            mechanism=mechanism,
            implementation=_json.text(top["implementation"], f"{loc}.implementation", _TEXT),
            epsilon=check_epsilon(top["epsilon"], f"{loc}.epsilon"),
            count=_json.uint(top["count"], f"{loc}.count"),
        )


def measurement(epsilon: str) -> Any:
    """OpenDP's Laplace mechanism on integers with scale 1/ε, for counts (absolute distance, sensitivity 1).

    OpenDP's privacy map is asked what the mechanism spends on a change of one: a mechanism that would spend more
    than ``epsilon`` (by rounding of the scale) is refused rather than drawn from."""
    eps = Decimal(check_epsilon(epsilon))
    import opendp.prelude as dp

    dp.enable_features("contrib")
    made = dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=float(1 / eps))
    spent = Decimal(repr(made.map(1)))  # type: ignore[no-untyped-call]
    if spent > eps * (1 + Decimal("1e-9")):
        raise MalformedError(f"the mechanism would spend ε {spent} on one identifier, more than {epsilon}")
    return made


def noisy_count(count: int, epsilon: str) -> DpCount:
    """``count`` with discrete Laplace noise of scale 1/ε (sensitivity 1), clamped to zero from below."""
    if count < 0:
        raise MalformedError(f"a count cannot be negative: {count}")
    return DpCount(MECHANISM, implementation(), epsilon, max(0, int(measurement(epsilon)(count))))
