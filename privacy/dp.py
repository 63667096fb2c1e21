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

The count is clamped to zero from below, which is post-processing and costs no privacy. The terms may also ask
for each party's input count to be released the same way (``dp_inputs``): the server draws its own in message 2,
the client its own, each a discrete Laplace draw with the same ε, and the summary in the log then holds no exact
count at all. The accounting is sequential composition, the sum of the ε of every count a job releases
(:func:`job_cost`): ε for the result alone, 3ε with both input counts (an upper bound: one identifier is in one
party's set, so it moves at most two of the three counts, and 2ε would hold too).

A grant's *budget* (``dp_budget`` in the terms, :func:`check_budget`) bounds the sum of the costs of the jobs the
owner's gateway admits under it (``notary.submit.outbox``, ``gateway.quota``): a job whose cost would take the
grant's spent total over the budget is refused (403 ``dp_budget_exhausted``). Without a budget the grant's runs (its
quota) bound the jobs, and the total is at most the cost times the runs. Amounts are kept in thousandths of ε
(:func:`milli`), exact integers, since ε and budget have at most three decimal places.

The record states the budget too (``budget`` beside the ε, when the terms set one; absent otherwise, so a record
without one keeps its bytes and one written before there was the field still parses): the server signs a record
only with its terms' budget, and the owner's gateway forwards a request or a record step only with it. So the log
says, per job, the ε it spent and the grant's budget, and whoever may see a grant's jobs computes what its jobs
spent and what remains (:func:`summary_cost`; the explorer's job page, ``docs/privacy.md``).

OpenDP is imported at the first draw (about 0.1 s of CPU): a gateway, the notary or a command that only reads a
record never imports it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata
from typing import Any, Final

from notary.event import DP_BUDGET, DP_EPSILON, DP_MECHANISM
from privacy import _json
from privacy.errors import MalformedError

MECHANISM: Final = DP_MECHANISM
#: ε as written in terms and records (as the log's summary holds it): a decimal with at most three places, above 0
#: and at most 10.
_EPSILON: Final = DP_EPSILON
MAX_EPSILON: Final = Decimal(10)
#: A grant's budget as written in terms: a decimal with at most three places, above 0 and at most 10,000.
_BUDGET: Final = DP_BUDGET
MAX_BUDGET: Final = Decimal(10_000)
#: The counts a job releases with noise: the result's, and with ``dp_inputs`` each party's input count.
COUNTS_RESULT_ONLY: Final = 1
COUNTS_WITH_INPUTS: Final = 3
_FIELDS: Final = {"mechanism", "implementation", "epsilon", "count"}
_INPUTS: Final = {"client", "server"}
_TEXT: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,63}\Z")


def check_epsilon(value: object, loc: str = "dp_epsilon") -> str:
    """``value`` if it is an ε as terms and records write it (a string such as ``"1"`` or ``"0.25"``), else raise
    MalformedError."""
    if not isinstance(value, str) or _EPSILON.match(value) is None or not 0 < Decimal(value) <= MAX_EPSILON:
        raise MalformedError(f'{loc} must be a decimal string above 0 and at most 10, such as "1" or "0.25"')
    return value


def check_budget(value: object, loc: str = "dp_budget") -> str:
    """``value`` if it is a budget as terms write it (a string such as ``"10"`` or ``"2.5"``), else raise
    MalformedError."""
    if not isinstance(value, str) or _BUDGET.match(value) is None or not 0 < Decimal(value) <= MAX_BUDGET:
        raise MalformedError(f'{loc} must be a decimal string above 0 and at most 10000, such as "10" or "2.5"')
    return value


def milli(value: str) -> int:
    """An ε or a budget (at most three places) in thousandths, exactly."""
    return int(Decimal(value) * 1000)


def job_cost(epsilon: str, dp_inputs: bool) -> int:
    """What one job spends, in thousandths of ε, by sequential composition: ε for each count it releases."""
    return milli(epsilon) * (COUNTS_WITH_INPUTS if dp_inputs else COUNTS_RESULT_ONLY)


def format_milli(amount: int) -> str:
    """Thousandths of ε as a decimal string (``2500`` → ``"2.5"``)."""
    whole, frac = divmod(amount, 1000)
    return f"{whole}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(whole)


def check_dp_terms(epsilon: str | None, budget: str | None, inputs: bool) -> None:
    """The differentially private parts of terms together: a budget or noisy inputs only with an ε, and a budget
    that lets at least one job run."""
    if epsilon is None:
        if budget is not None or inputs:
            raise MalformedError("dp_budget and dp_inputs need dp_epsilon: they are about the noisy counts")
        return
    check_epsilon(epsilon)
    if budget is not None and milli(check_budget(budget)) < job_cost(epsilon, inputs):
        cost = format_milli(job_cost(epsilon, inputs))
        raise MalformedError(f"dp_budget {budget} is less than the ε one job spends ({cost}): no job could run")


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
    #: with ``dp_inputs``: (client's, server's) input counts with noise, drawn each by its party with the same ε
    inputs: tuple[int, int] | None = None
    #: the grant's privacy budget (``dp_budget`` of the owner's terms), when they set one: the total ε the grant's
    #: jobs may spend, so that the log states it beside what each job spent
    budget: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mechanism": self.mechanism,
            "implementation": self.implementation,
            "epsilon": self.epsilon,
            "count": self.count,
            # absent without, so a record of the result's count alone keeps its bytes
            **({} if self.inputs is None else {"inputs": {"client": self.inputs[0], "server": self.inputs[1]}}),
            **({} if self.budget is None else {"budget": self.budget}),  # likewise absent without
        }

    @property
    def cost(self) -> int:
        """What the counts it releases spend, in thousandths of ε (:func:`job_cost`)."""
        return job_cost(self.epsilon, self.inputs is not None)

    @classmethod
    def from_json(cls, obj: object, loc: str) -> DpCount:
        optional = {key for key in ("inputs", "budget") if isinstance(obj, dict) and key in obj}
        top = _json.fields(obj, loc, _FIELDS | optional)
        inputs = None
        if "inputs" in top:
            pair = _json.fields(top["inputs"], f"{loc}.inputs", _INPUTS)
            inputs = (
                _json.uint(pair["client"], f"{loc}.inputs.client"),
                _json.uint(pair["server"], f"{loc}.inputs.server"),
            )
        mechanism = _json.text(top["mechanism"], f"{loc}.mechanism", _TEXT)
        if mechanism != MECHANISM:
            raise MalformedError(f"{loc}.mechanism must be {MECHANISM!r}, not {mechanism!r}")
        return cls(
            mechanism=mechanism,
            implementation=_json.text(top["implementation"], f"{loc}.implementation", _TEXT),
            epsilon=check_epsilon(top["epsilon"], f"{loc}.epsilon"),
            count=_json.uint(top["count"], f"{loc}.count"),
            inputs=inputs,
            budget=check_budget(top["budget"], f"{loc}.budget") if "budget" in top else None,
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


def draw(count: int, epsilon: str) -> int:
    """``count`` with discrete Laplace noise of scale 1/ε (sensitivity 1), clamped to zero from below."""
    if count < 0:
        raise MalformedError(f"a count cannot be negative: {count}")
    return max(0, int(measurement(epsilon)(count)))


def noisy_count(count: int, epsilon: str, inputs: tuple[int, int] | None = None, budget: str | None = None) -> DpCount:
    """``count`` drawn with noise (:func:`draw`); ``inputs``, the parties' input counts already drawn, and the
    grant's ``budget`` go beside."""
    return DpCount(MECHANISM, implementation(), epsilon, draw(count, epsilon), inputs, budget)


def summary_cost(dp: Mapping[str, Any]) -> int:
    """What the job of a summary's (or record's) ``dp`` spent, in thousandths of ε (:func:`job_cost`)."""
    return job_cost(str(dp["epsilon"]), "inputs" in dp)
