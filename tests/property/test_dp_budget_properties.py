"""The privacy budget of a grant in the gateway's outbox (``notary.submit.outbox``, ``privacy.dp``): over random
sequences of jobs (reserved, then recorded as allowed or denied, or given back) and reopenings of a real outbox, the
ε spent never exceeds the budget, what is spent is exactly the costs of the recorded allowed jobs, and a job is
admitted exactly when the spent total, the costs in flight and its own stay within the budget."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notary.submit.outbox import Outbox
from tests.unit.notary.test_outbox import GATEWAY, GRANTS, call

_OP = st.one_of(
    st.tuples(st.just("job"), st.integers(0, 1), st.integers(0, 4000), st.sampled_from(["allow", "deny", "lost"])),
    st.tuples(st.just("reopen"), st.just(0), st.just(0), st.just("")),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=st.integers(1, 12_000), ops=st.lists(_OP, max_size=25))
def test_the_spent_total_never_exceeds_the_budget(budget: int, ops: list[tuple[str, int, int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outbox.db"
        box = Outbox(path, GATEWAY)
        box.start()
        spent = {grant: 0 for grant in GRANTS[:2]}
        try:
            for n, (kind, which, cost, fate) in enumerate(ops):
                if kind == "reopen":  # a restart: what was recorded is read back from the file
                    box.close()
                    box = Outbox(path, GATEWAY)
                    box.start()
                    continue
                grant = GRANTS[which]
                admitted, before = box.reserve_budget(grant, cost, budget)
                assert before == spent[grant]
                assert admitted == (spent[grant] + cost <= budget)
                if not admitted:
                    continue
                if fate == "lost":  # its call could not be recorded: the cost is given back
                    box.release_budget(grant, cost)
                    continue
                changes = {} if fate == "allow" else {"decision": "deny", "denial_reason": "upstream_error"}
                box.append(call(f"job-{n}", grant_id=grant, **changes), dp_cost=cost).result(timeout=10)
                if fate == "allow":
                    spent[grant] += cost
                else:  # recorded as refused: nothing spent, and the reservation is given back by its caller
                    box.release_budget(grant, cost)
                for g, total in spent.items():
                    assert box.dp_spent(g) == total <= budget
        finally:
            box.close()
