"""The alarm book: fire after the hold-down, resolve after the condition stayed away, no spam from a flapping
probe, severity changes; and the state file and webhook document round-trip. Times are given, never read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from chain.errors import MalformedError
from network.alarms.book import Alarm, AlarmBook, Transition
from network.alarms.rules import Condition, said
from network.alarms.store import read_alarms, write_alarms
from network.alarms.webhook import FORMAT, alarm_document

DOWN = Condition("witness-down", "witness/beta", "warning", "witness beta does not answer", "beta")
AT_RISK = Condition("witness-quorum", "witnesses", "warning", "quorum at risk: 2 of 3")
LOST = Condition("witness-quorum", "witnesses", "critical", "checkpoints cannot be published: 1 of 3")


def kinds(transitions: Sequence[Transition]) -> list[tuple[str, str]]:
    return [(t.kind, t.alarm.id) for t in transitions]


def test_fires_only_once_the_condition_held_for_the_hold_down() -> None:
    book = AlarmBook(fire_after=4.0, resolve_after=10.0)
    assert book.update([DOWN], 100.0) == []
    assert book.update([DOWN], 102.0) == []
    fired = book.update([DOWN], 104.0)
    assert kinds(fired) == [("fired", "witness-down:witness/beta")]
    assert fired[0].alarm.since == 104.0 and book.active() == [fired[0].alarm]
    assert book.update([DOWN], 106.0) == []  # fires once


def test_resolves_once_the_condition_stayed_away_for_the_resolve_time() -> None:
    book = AlarmBook(fire_after=0.0, resolve_after=10.0)
    book.update([DOWN], 100.0)
    assert book.update([], 102.0) == []
    assert book.update([], 111.0) == []
    resolved = book.update([], 112.0)
    assert kinds(resolved) == [("resolved", "witness-down:witness/beta")]
    assert resolved[0].alarm.resolved == 112.0 and resolved[0].alarm.since == 100.0
    assert book.active() == [] and book.resolved() == [resolved[0].alarm]


def test_a_flapping_probe_fires_once_and_resolves_once() -> None:
    book = AlarmBook(fire_after=4.0, resolve_after=10.0)
    seen = []
    for step in range(40):  # down on even steps, up on odd ones, one step a second
        seen += kinds(book.update([DOWN] if step % 2 == 0 else [], 100.0 + step))
    assert seen == []  # never held 4 s in a row: never fired
    book.update([DOWN], 200.0)
    seen += kinds(book.update([DOWN], 204.0))
    for step in range(20):
        seen += kinds(book.update([DOWN] if step % 2 == 0 else [], 205.0 + step))
    assert seen == [("fired", "witness-down:witness/beta")]  # comes back within 10 s each time: still active
    for step in range(11):
        seen += kinds(book.update([], 230.0 + step))
    assert seen == [("fired", "witness-down:witness/beta"), ("resolved", "witness-down:witness/beta")]


def test_a_pending_condition_that_goes_away_starts_its_hold_down_again() -> None:
    book = AlarmBook(fire_after=4.0)
    book.update([DOWN], 100.0)
    book.update([], 103.0)
    assert book.update([DOWN], 104.0) == []
    assert kinds(book.update([DOWN], 108.0)) == [("fired", "witness-down:witness/beta")]


def test_a_change_of_severity_is_a_transition_and_a_new_summary_is_not() -> None:
    book = AlarmBook(fire_after=0.0, resolve_after=0.0)
    assert kinds(book.update([AT_RISK], 1.0)) == [("fired", "witness-quorum:witnesses")]
    changed = book.update([LOST], 2.0)
    assert kinds(changed) == [("changed", "witness-quorum:witnesses")]
    assert changed[0].alarm.severity == "critical" and changed[0].alarm.since == 1.0
    other = Condition("witness-quorum", "witnesses", "critical", "checkpoints cannot be published: 0 of 3")
    assert book.update([other], 3.0) == []
    assert book.active()[0].summary.endswith("0 of 3")
    assert kinds(book.update([], 4.0)) == [("resolved", "witness-quorum:witnesses")]


def test_a_rule_may_hold_longer_before_it_fires() -> None:
    lag = Condition("anchoring-behind", "notary", "warning", "anchored size 1 trails 5")
    book = AlarmBook(fire_after=0.0, rule_fire_after={"anchoring-behind": 60.0})
    assert kinds(book.update([lag, DOWN], 0.0)) == [("fired", "witness-down:witness/beta")]
    assert book.update([lag, DOWN], 59.0) == []
    assert kinds(book.update([lag, DOWN], 60.0)) == [("fired", "anchoring-behind:notary")]


def test_active_alarms_are_listed_most_severe_first() -> None:
    book = AlarmBook(fire_after=0.0)
    book.update([DOWN], 1.0)
    book.update([DOWN, LOST], 2.0)
    assert [a.id for a in book.active()] == ["witness-quorum:witnesses", "witness-down:witness/beta"]


def test_the_resolved_list_is_bounded() -> None:
    book = AlarmBook(fire_after=0.0, resolve_after=0.0, keep_resolved=3)
    for step in range(10):
        book.update([DOWN], 2.0 * step)
        book.update([], 2.0 * step + 1)
    assert len(book.resolved()) == 3 and book.resolved()[0].resolved == 19.0


def test_the_state_file_round_trips(tmp_path: Path) -> None:
    assert read_alarms(tmp_path).evaluated_ms is None
    active = Alarm("witness-quorum:witnesses", "witness-quorum", "critical", "witnesses", None, "lost", 1.5)
    resolved = Alarm("witness-down:witness/beta", "witness-down", "warning", "witness/beta", "beta", "down", 1.0, 2.0)
    write_alarms(tmp_path, 3.25, [active], [resolved])
    state = read_alarms(tmp_path)
    assert state.evaluated_ms == 3250 and state.active == (active,) and state.resolved == (resolved,)


def test_a_malformed_state_file_is_refused(tmp_path: Path) -> None:
    write_alarms(tmp_path, 1.0, [], [])
    path = tmp_path / "alarms" / "alarms.json"
    path.write_text('{"format": "consortium-ledger/alarms/v1", "active": 3}', encoding="utf-8")
    with pytest.raises(MalformedError, match="malformed"):
        read_alarms(tmp_path)


def test_the_webhook_document() -> None:
    book = AlarmBook(fire_after=0.0)
    (fired,) = book.update([LOST], 1700000000.123)
    assert alarm_document("test-consortium", fired) == {
        "format": FORMAT,
        "consortium": "test-consortium",
        "transition": "fired",
        "time_ms": 1700000000123,
        "alarm": {
            "id": "witness-quorum:witnesses",
            "rule": "witness-quorum",
            "severity": "critical",
            "subject": "witnesses",
            "org": None,
            "summary": "checkpoints cannot be published: 1 of 3",
            "since_ms": 1700000000123,
            "resolved_ms": None,
        },
    }


def test_an_alarm_keeps_what_its_summary_says_as_a_code_and_the_webhook_document_leaves_it_out() -> None:
    figures = {"up": 2, "total": 3, "need": 2}
    book = AlarmBook(fire_after=0.0)
    (fired,) = book.update([said("witness-quorum", "witnesses", "warning", "witness_quorum.at_risk", figures)], 1.0)
    assert fired.alarm.summary == "quorum at risk: 2 of 3 witnesses up, the policy needs 2"
    assert (fired.alarm.code, dict(fired.alarm.params)) == ("witness_quorum.at_risk", figures)
    lost = {"up": 1, "total": 3, "need": 2}
    (changed,) = book.update([said("witness-quorum", "witnesses", "critical", "witness_quorum.lost", lost)], 2.0)
    assert (changed.alarm.code, dict(changed.alarm.params)) == ("witness_quorum.lost", lost)
    kept = changed.alarm.to_json()
    assert (kept["summary_code"], kept["summary_params"]) == ("witness_quorum.lost", lost)
    assert Alarm.from_json(kept) == changed.alarm
    older = {k: v for k, v in kept.items() if not k.startswith("summary_")} | {"summary": kept["summary"]}
    assert (Alarm.from_json(older).code, dict(Alarm.from_json(older).params)) == ("", {})  # kept before the codes
    assert "summary_code" not in alarm_document("c", changed)["alarm"]
