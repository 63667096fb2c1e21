"""Each alarm rule over hand-made snapshots: when it holds, for which subject, at which severity.

``anchoring-behind`` needs memory (how long a published size has waited): its tests run a notary's figures on an
injected clock, evaluated every 2 s through an :class:`AnchoringWatch` and the default :class:`AlarmBook`, as
the evaluator does."""

from __future__ import annotations

from typing import Any

from network.alarms.book import AlarmBook
from network.alarms.evaluator import INTERVAL_S
from network.alarms.probe import notary_probe
from network.alarms.rules import (
    ANCHORING_BEHIND_S,
    DEFAULT_LIMITS,
    AnchoringWait,
    AnchoringWatch,
    Condition,
    GatewayProbe,
    Limits,
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


def test_a_peer_refused_since_the_baseline_names_the_node_validator_or_follower() -> None:
    withheld = by_id(evaluate(record(peer_withheld=7), baseline=record(peer_withheld=2)))
    condition = withheld["peer-refused:node/alpha"]
    assert condition.org == "alpha" and condition.severity == "warning"
    assert "5 message(s), transaction(s) and status request(s) withheld" in condition.summary
    assert "0 request(s) refused at its peer server" in condition.summary
    follower = record(validator=False, peer_requests_refused=4)
    found = by_id(evaluate(follower, baseline=record(validator=False, peer_requests_refused=1)))
    assert "3 request(s) refused at its peer server" in found["peer-refused:node/alpha"].summary
    steady = record(peer_withheld=7, peer_requests_refused=1)
    assert evaluate(steady, baseline=steady) == []
    assert evaluate(steady) == []  # no baseline: no rise
    assert evaluate(record(peer_requests_refused=2), baseline=steady) == []  # it restarted: its withheld fell
    down = by_id(evaluate(record(up=False), baseline=record()))
    assert "peer-refused:node/alpha" not in down and "node-down:node/alpha" in down  # node-down says it


def test_notary_down_is_critical() -> None:
    found = by_id(evaluate(Snapshot(notary=NotaryProbe(up=False))))
    assert found["notary-down:notary"].severity == "critical"


#: The notary's anchoring interval (its default, which `up` runs it with).
ANCHOR_EVERY_S = 10


class Notary:
    """A notary's figures on an injected clock, evaluated every 2 s: with ``traffic`` each round publishes a bigger
    size; while ``anchoring`` works, every 10 s it anchors the size published the round before (the chain takes
    a block or two), so that a healthy notary's anchored size always trails its published size."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.now, self.published, self.anchored, self._previous = 1000.0, 0, 0, 0
        self.traffic, self.anchoring = True, True
        self.error: str | None = None
        self.limits, self.watch, self.book = limits, AnchoringWatch(), AlarmBook()
        self.held = 0  # rounds at which the old condition, anchored < published, held

    def run(self, seconds: float) -> list[tuple[str, float]]:
        """Evaluate every 2 s for ``seconds``; the transitions made, with when."""
        out: list[tuple[str, float]] = []
        end = self.now + seconds
        while self.now < end:
            self.now += INTERVAL_S
            if self.anchoring and self.error is None and self.now % ANCHOR_EVERY_S == 0:
                self.anchored = self._previous
            if self.traffic:
                self.published += 7
            self._previous = self.published
            self.held += self.anchored < self.published
            probe = NotaryProbe(True, self.published, self.published, self.anchored, anchoring_error=self.error)
            wait = self.watch.observe(probe, self.now)
            conditions = evaluate(Snapshot(notary=probe), limits=self.limits, anchoring=wait)
            out += [(t.kind, t.at) for t in self.book.update(conditions, self.now)]
        return out

    def summary(self) -> str:
        (alarm,) = self.book.active()
        assert alarm.id == "anchoring-behind:notary"
        return alarm.summary


def test_steady_traffic_with_anchoring_keeping_up_never_fires() -> None:
    notary = Notary()
    assert notary.run(1200) == []
    assert notary.held == 600 and notary.anchored < notary.published  # always a little behind, and healthy


def test_anchoring_stopped_under_traffic_fires_after_the_threshold_and_the_hold_down() -> None:
    notary = Notary()
    assert notary.run(120) == []
    notary.anchoring = False  # the last anchor at 1120; the size published then waits from 1120
    assert notary.run(62) == []
    assert notary.run(2) == [("fired", 1184.0)]  # 60 s waited, then the 4 s hold-down
    assert notary.summary() == (
        f"the oldest published size not anchored, {7 * 60}, has waited 64 s (anchored size {7 * 59}, "
        f"published size {notary.published})"
    )
    assert notary.run(30) == [] and "has waited 94 s" in notary.summary()


def test_anchoring_resumed_resolves() -> None:
    notary = Notary()
    assert notary.run(120) == []
    notary.anchoring = False
    assert notary.run(100) == [("fired", 1184.0)]
    notary.anchoring = True  # the next anchor, at 1230, takes every size seen before 1228
    assert notary.run(20) == [("resolved", 1240.0)]  # absent from 1230, for the 10 s of resolve_after
    assert notary.run(600) == []


def test_anchoring_stopped_without_traffic() -> None:
    idle = Notary()
    assert idle.run(60) == []
    idle.traffic = False
    assert idle.run(12) == [] and idle.anchored == idle.published  # the anchor at 1070 took the last size
    idle.anchoring = False
    assert idle.run(600) == []  # nothing published waits: nothing is behind
    stuck = Notary()
    assert stuck.run(60) == []  # the size published at 1060 is not anchored, and never will be
    stuck.traffic, stuck.anchoring = False, False
    assert stuck.run(62) == []
    assert stuck.run(2) == [("fired", 1124.0)]
    assert stuck.published == stuck.anchored + 7 and "has waited 64 s" in stuck.summary()


def test_anchoring_steps_failing_fire_as_long_as_they_fail() -> None:
    notary = Notary()
    assert notary.run(60) == []
    notary.traffic = False
    assert notary.run(12) == []  # everything anchored
    notary.error = "ConnectionError: chain unreachable"
    assert notary.run(2) == []
    notary.error = None  # one failed step, then it works again
    assert notary.run(120) == []
    notary.error = "ConnectionError: chain unreachable"  # failing from 1196
    assert notary.run(62) == []
    assert notary.run(4) == [("fired", 1260.0)]  # 60 s failing, then the 4 s hold-down
    assert notary.summary() == (
        f"no published size waits to be anchored (anchored size {notary.anchored}, published size "
        f"{notary.published}); anchoring fails for 64 s: ConnectionError: chain unreachable"
    )
    notary.error = None
    assert notary.run(12) == [("resolved", 1272.0)]


def test_the_threshold_is_the_limit_given() -> None:
    notary = Notary(Limits(anchoring_behind_s=20))
    assert notary.run(120) == []  # a healthy notary anchors a size within 12 s here
    notary.anchoring = False
    assert notary.run(30) == [("fired", 1144.0)]


def test_the_rule_without_memory_or_anchoring() -> None:
    lagging = NotaryProbe(up=True, size=20, published_size=20, anchored_size=12, anchoring_error="chain unreachable")
    assert evaluate(Snapshot(notary=lagging)) == []  # it needs the evaluator's memory
    long_ago = AnchoringWait(size=20, waited=ANCHORING_BEHIND_S, failing_for=ANCHORING_BEHIND_S)
    (found,) = evaluate(Snapshot(notary=lagging), anchoring=long_ago)
    assert (found.id, found.severity) == ("anchoring-behind:notary", "warning")
    assert "anchoring fails for 60 s: chain unreachable" in found.summary
    not_anchoring = NotaryProbe(up=True, published_size=20, anchored_size=0, anchoring=False)
    assert evaluate(Snapshot(notary=not_anchoring), anchoring=long_ago) == []
    assert AnchoringWatch().observe(not_anchoring, 0.0) is None
    caught_up = NotaryProbe(up=True, size=20, published_size=20, anchored_size=20)
    assert evaluate(Snapshot(notary=caught_up), anchoring=AnchoringWait(waited=ANCHORING_BEHIND_S)) == []


def test_the_watch_is_bounded_and_starts_afresh() -> None:
    watch = AnchoringWatch(keep=3)

    def seen(published: int, anchored: int, now: float, up: bool = True) -> AnchoringWait | None:
        return watch.observe(NotaryProbe(up, published_size=published, anchored_size=anchored), now)

    for size in range(1, 7):  # six sizes, one every 2 s from 2 s, nothing anchored
        assert seen(size, 0, 2.0 * size) == AnchoringWait(1, 2.0 * size - 2.0)
    assert seen(6, 1, 14.0) == AnchoringWait(2, 10.0)
    assert seen(6, 2, 16.0) == AnchoringWait(6, 10.0)  # kept as 3, first seen at 6 s: it can only look older
    assert seen(9, 2, 18.0, up=False) is None  # a notary that does not answer changes nothing
    assert seen(6, 2, 20.0) == AnchoringWait(6, 14.0)
    assert seen(3, 0, 22.0) == AnchoringWait(3, 0.0)  # a smaller log: a new one
    assert seen(3, 3, 24.0) == AnchoringWait(0, 0.0)


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
