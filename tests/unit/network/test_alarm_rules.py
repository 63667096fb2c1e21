"""Each alarm rule over hand-made snapshots: when it holds, for which subject, at which severity."""

from __future__ import annotations

from typing import Any

from network.alarms.probe import notary_probe
from network.alarms.rules import (
    Condition,
    GatewayProbe,
    NodeProbe,
    NotaryProbe,
    Snapshot,
    WitnessPolicyView,
    WitnessProbe,
    evaluate,
)

ORGS = ("alpha", "beta", "gamma", "delta", "reg")
POLICY = WitnessPolicyView(3, require_regulator=True, regulators=frozenset({"reg"}))


def witnesses(*down: str) -> Snapshot:
    return Snapshot(witnesses=tuple(WitnessProbe(o, o not in down) for o in ORGS), policy=POLICY)


def by_id(conditions: list[Condition]) -> dict[str, Condition]:
    return {c.id: c for c in conditions}


def test_all_witnesses_up_is_no_alarm() -> None:
    assert evaluate(witnesses()) == []


def test_a_witness_down_is_a_warning_naming_it() -> None:
    found = by_id(evaluate(witnesses("beta")))
    assert found["witness-down:witness/beta"].severity == "warning"
    assert found["witness-down:witness/beta"].org == "beta"
    assert "witness-quorum:witnesses" not in found  # 4 up, the policy needs 3: one failure to spare


def test_the_quorum_is_at_risk_with_exactly_the_threshold_up() -> None:
    found = by_id(evaluate(witnesses("alpha", "beta")))
    quorum = found["witness-quorum:witnesses"]
    assert quorum.severity == "warning" and quorum.org is None
    assert quorum.summary == "quorum at risk: 3 of 5 witnesses up, the policy needs 3"


def test_below_the_threshold_is_critical() -> None:
    quorum = by_id(evaluate(witnesses("alpha", "beta", "gamma")))["witness-quorum:witnesses"]
    assert quorum.severity == "critical"
    assert quorum.summary.startswith("checkpoints cannot be published: 2 of 5 witnesses up")


def test_a_required_regulator_down_is_critical_even_with_enough_witnesses() -> None:
    quorum = by_id(evaluate(witnesses("reg")))["witness-quorum:witnesses"]
    assert quorum.severity == "critical" and "regulator" in quorum.summary


def test_a_validator_down_is_critical_a_follower_down_a_warning_and_consensus_at_risk() -> None:
    snapshot = Snapshot(
        nodes=(
            NodeProbe("a", True, False),
            NodeProbe("b", True, True),
            NodeProbe("c", True, True),
            NodeProbe("d", True, True),
            NodeProbe("reg", False, False),
        )
    )
    found = by_id(evaluate(snapshot))
    assert found["node-down:node/a"].severity == "critical"
    assert found["node-down:node/reg"].severity == "warning"
    assert found["chain-quorum:chain"].severity == "warning"  # 3 of 4, QBFT needs 3
    assert "3 of 4 validators up and in quorum, QBFT needs 3" in found["chain-quorum:chain"].summary


def test_consensus_out_of_quorum_is_critical() -> None:
    snapshot = Snapshot(
        nodes=(
            NodeProbe("a", True, False),
            NodeProbe("b", True, False),
            NodeProbe("c", True, True, in_quorum=False),
            NodeProbe("d", True, True, in_quorum=False),
        )
    )
    found = by_id(evaluate(snapshot))
    assert found["chain-quorum:chain"].severity == "critical"
    assert found["node-unhealthy:node/c"].summary == "chain node c: not in quorum"


def test_a_node_out_of_sync_is_unhealthy() -> None:
    found = by_id(evaluate(Snapshot(nodes=(NodeProbe("a", True, True, in_sync=False),))))
    assert found["node-unhealthy:node/a"].summary == "chain node a: not in sync"
    assert "chain-quorum:chain" not in found  # a single node: no QBFT quorum to watch


def missed(count: int) -> Snapshot:
    return Snapshot(
        nodes=(NodeProbe("a", True, True, missed_by={"0xaa": count}), NodeProbe("b", False, True, missed_by={})),
        accounts={"0xaa": "alpha"},
    )


def test_missed_proposals_rising_since_the_baseline_name_the_validator() -> None:
    found = by_id(evaluate(missed(5), baseline=missed(3)))
    condition = found["missed-proposals:node/alpha"]
    assert condition.org == "alpha" and "missed 2 proposal(s)" in condition.summary


def test_missed_proposals_not_rising_or_without_a_baseline_are_no_alarm() -> None:
    assert evaluate(missed(5), baseline=missed(5)) == []
    assert evaluate(missed(5)) == []
    assert evaluate(missed(0), baseline=missed(5)) == []  # the counting node restarted


def record(org: str = "alpha", validator: bool = True, up: bool = True, **counts: Any) -> Snapshot:
    return Snapshot(nodes=(NodeProbe(org, validator, up, **counts),))


def test_a_validator_sitting_out_or_that_sat_out_a_height_since_the_baseline_is_abstaining() -> None:
    condition = by_id(evaluate(record(abstaining=True)))["validator-abstaining:node/alpha"]
    assert condition.org == "alpha" and condition.severity == "warning"
    assert condition.summary.startswith(
        "validator alpha sits out voting: its record of signed messages is fresh or behind its peers"
    )
    # the sit-out ended between two rounds (it lasts a block or two): the rise keeps it in view for the window
    found = by_id(evaluate(record(abstained_heights=1), baseline=record()))
    assert "sat out 1 height(s) recently" in found["validator-abstaining:node/alpha"].summary
    assert evaluate(record(abstained_heights=1), baseline=record(abstained_heights=1)) == []
    assert evaluate(record(abstained_heights=1)) == []  # no baseline: no rise
    assert evaluate(record(validator=False, abstaining=True)) == []  # a follower votes in no height


def test_conflicting_messages_refused_since_the_baseline_name_the_validator() -> None:
    found = by_id(evaluate(record(conflicts_refused=3), baseline=record(conflicts_refused=1)))
    condition = found["signed-conflicts:node/alpha"]
    assert condition.org == "alpha" and condition.severity == "warning"
    assert "refused to sign 2 message(s) recently" in condition.summary and "(3 in all)" in condition.summary
    assert evaluate(record(conflicts_refused=3), baseline=record(conflicts_refused=3)) == []
    assert evaluate(record(conflicts_refused=0), baseline=record(conflicts_refused=3)) == []  # it restarted
    assert evaluate(record(conflicts_refused=3)) == []
    assert "signed-conflicts:node/alpha" not in by_id(
        evaluate(record(up=False), baseline=record(conflicts_refused=1))
    )  # down: node-down says it


def test_notary_down_is_critical() -> None:
    found = by_id(evaluate(Snapshot(notary=NotaryProbe(up=False))))
    assert found["notary-down:notary"].severity == "critical"


def test_anchoring_behind_and_failing() -> None:
    lagging = NotaryProbe(up=True, size=20, published_size=20, anchored_size=12)
    found = by_id(evaluate(Snapshot(notary=lagging)))
    assert found["anchoring-behind:notary"].summary == "anchored size 12 trails the published size 20 by 8"
    failing = NotaryProbe(up=True, size=20, published_size=20, anchored_size=20, anchoring_error="chain unreachable")
    summary = by_id(evaluate(Snapshot(notary=failing)))["anchoring-behind:notary"].summary
    assert "anchoring fails: chain unreachable" in summary
    caught_up = NotaryProbe(up=True, size=20, published_size=20, anchored_size=20)
    assert evaluate(Snapshot(notary=caught_up)) == []
    not_anchoring = NotaryProbe(up=True, published_size=20, anchored_size=0, anchoring=False)
    assert evaluate(Snapshot(notary=not_anchoring)) == []


def test_open_sequence_gaps() -> None:
    found = by_id(evaluate(Snapshot(notary=NotaryProbe(up=True, gaps=2))))
    assert found["sequence-gap:notary"].summary == "2 open gap(s) in gateways' sequence numbers"


def test_open_integrity_alarms_of_the_notary_are_critical_until_resolved() -> None:
    """The notary's ``/healthz`` counts its open alarms only: once an operator resolved them, the condition is gone
    (and the alarm book resolves its alarm after the hold-down)."""
    found = by_id(evaluate(Snapshot(notary=notary_probe({"size": 3, "alarms": 2}))))
    alarm = found["notary-integrity:notary"]
    assert (alarm.severity, alarm.summary) == (
        "critical", "2 open integrity alarm(s) of the notary: see its /v1/alarms?state=open"
    )  # fmt: skip
    assert evaluate(Snapshot(notary=notary_probe({"size": 3, "alarms": 0}))) == []
    assert evaluate(Snapshot(notary=notary_probe({"size": 3}))) == []  # a notary of before, or liveness only


def test_gateway_down_and_outbox_filling() -> None:
    snapshot = Snapshot(
        gateways=(
            GatewayProbe("a", False),
            GatewayProbe("b", True, 40, 100),
            GatewayProbe("c", True, 50, 100),
            GatewayProbe("d", True, 80, 100),
        )
    )
    found = by_id(evaluate(snapshot))
    assert found["gateway-down:gateway/a"].org == "a"
    assert "gateway-outbox:gateway/b" not in found
    assert found["gateway-outbox:gateway/c"].severity == "warning"
    assert found["gateway-outbox:gateway/d"].severity == "critical"
    assert found["gateway-outbox:gateway/d"].summary == "gateway of d: outbox 80 of 100 pending (80%)"


def test_a_shared_quota_store_that_cannot_be_reached() -> None:
    snapshot = Snapshot(
        gateways=(
            GatewayProbe("a", True, quota_store="postgresql", quota_reachable=False),
            GatewayProbe("b", True, quota_store="postgresql", quota_reachable=True),
            GatewayProbe("c", False, quota_store="postgresql", quota_reachable=False),  # down says it all
        )
    )
    found = by_id(evaluate(snapshot))
    alarm = found["quota-store:gateway/a"]
    assert (alarm.severity, alarm.org) == ("critical", "a")
    assert alarm.summary == (
        "gateway of a: its quota store (postgresql) cannot be reached; calls under a quota are refused "
        "(503 quota_unavailable)"
    )
    assert set(found) == {"quota-store:gateway/a", "gateway-down:gateway/c"}
