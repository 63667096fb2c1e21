"""The alarms in force, kept from one evaluation to the next: fired and resolved by diffing, with a hold-down.

:meth:`AlarmBook.update` takes the conditions that hold now (``network.alarms.rules``) and the time, and
returns the transitions:

- a condition fires once it has held, at every evaluation, for ``fire_after`` seconds (per rule too);
- an alarm resolves once its condition has been absent, at every evaluation, for ``resolve_after`` seconds
  (per rule too);
  a condition that comes back in that time leaves the alarm as it was;
- an active alarm whose severity changes (the witness quorum from at risk to lost) makes a ``changed``
  transition; its summary follows the condition without one.

So a probe that flaps faster than these windows fires once and resolves once. The clock is the caller's: the
book reads none.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypedDict

from network.alarms.rules import SEVERITIES, Condition, Param, Severity

Kind = Literal["fired", "changed", "resolved"]

#: Seconds a condition must hold before it fires, and be gone before its alarm resolves, unless set per rule.
FIRE_AFTER_S = 4.0
RESOLVE_AFTER_S = 10.0
#: Per-rule hold-downs by default: none (``anchoring-behind`` measures how long anchoring is behind itself,
#: ``network.alarms.rules.ANCHORING_BEHIND_S``).
RULE_FIRE_AFTER_S: Mapping[str, float] = {}
#: Resolved alarms kept for readers (the explorer), newest first.
KEEP_RESOLVED = 100


class AlarmJSON(TypedDict):
    """An alarm in the alarms document (``network.alarms.store``) and, without the summary's code and
    parameters, in a webhook's (``network.alarms.webhook``)."""

    id: str
    rule: str
    severity: Severity
    subject: str
    org: str | None
    summary: str
    summary_code: str | None
    summary_params: dict[str, Param]
    since_ms: int
    resolved_ms: int | None


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm: its condition, when it fired and, once resolved, when (seconds of the book's clock). ``code`` and
    ``params`` say what the summary says (``network.alarms.rules.SUMMARIES``; empty: an alarm kept before them)."""

    id: str
    rule: str
    severity: Severity
    subject: str
    org: str | None
    summary: str
    since: float
    resolved: float | None = None
    code: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)

    def to_json(self) -> AlarmJSON:
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "subject": self.subject,
            "org": self.org,
            "summary": self.summary,
            "summary_code": self.code or None,
            "summary_params": dict(self.params),
            "since_ms": int(self.since * 1000),
            "resolved_ms": None if self.resolved is None else int(self.resolved * 1000),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alarm:
        resolved = data.get("resolved_ms")
        if data["severity"] not in SEVERITIES:
            raise ValueError(f"severity {data['severity']!r} is none of {', '.join(SEVERITIES)}")
        return cls(
            id=str(data["id"]),
            rule=str(data["rule"]),
            severity=data["severity"],
            subject=str(data["subject"]),
            org=None if data.get("org") is None else str(data["org"]),
            summary=str(data["summary"]),
            since=int(data["since_ms"]) / 1000,
            resolved=None if resolved is None else int(resolved) / 1000,
            code=str(data.get("summary_code") or ""),
            params=_params(data.get("summary_params")),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    kind: Kind
    alarm: Alarm
    at: float


@dataclass(slots=True)
class _Pending:
    first_seen: float
    condition: Condition


class AlarmBook:
    """The active alarms and the recently resolved ones; see the module's rules."""

    def __init__(
        self,
        fire_after: float = FIRE_AFTER_S,
        resolve_after: float = RESOLVE_AFTER_S,
        rule_fire_after: Mapping[str, float] = RULE_FIRE_AFTER_S,
        keep_resolved: int = KEEP_RESOLVED,
        rule_resolve_after: Mapping[str, float] | None = None,
    ) -> None:
        self.fire_after, self.resolve_after = fire_after, resolve_after
        self.rule_fire_after = dict(rule_fire_after)
        self.rule_resolve_after = dict(rule_resolve_after or {})
        self._pending: dict[str, _Pending] = {}
        self._active: dict[str, Alarm] = {}
        self._absent_since: dict[str, float] = {}
        self._resolved: deque[Alarm] = deque(maxlen=keep_resolved)

    def active(self) -> list[Alarm]:
        """Active alarms, most severe first, then oldest first."""
        return sorted(self._active.values(), key=lambda a: (-_rank(a.severity), a.since, a.id))

    def resolved(self) -> list[Alarm]:
        """Recently resolved alarms, newest first."""
        return list(self._resolved)

    def update(self, conditions: Iterable[Condition], now: float) -> list[Transition]:
        """Take the conditions holding at ``now``; return what fired, changed and resolved."""
        holding = {c.id: c for c in conditions}
        out: list[Transition] = []
        for key in list(self._pending):
            if key not in holding:
                del self._pending[key]  # it must hold at every evaluation until it fires
        for key, condition in sorted(holding.items()):
            alarm = self._active.get(key)
            if alarm is not None:
                self._absent_since.pop(key, None)
                if condition.severity != alarm.severity:
                    alarm = _said(replace(alarm, severity=condition.severity), condition)
                    out.append(Transition("changed", alarm, now))
                elif condition.summary != alarm.summary:
                    alarm = _said(alarm, condition)
                self._active[key] = alarm
                continue
            pending = self._pending.setdefault(key, _Pending(now, condition))
            pending.condition = condition
            if now - pending.first_seen >= self.rule_fire_after.get(condition.rule, self.fire_after):
                del self._pending[key]
                alarm = Alarm(key, condition.rule, condition.severity, condition.subject, condition.org,
                              condition.summary, now, code=condition.code, params=condition.params)  # fmt: skip
                self._active[key] = alarm
                out.append(Transition("fired", alarm, now))
        for key in [k for k in self._active if k not in holding]:
            absent = self._absent_since.setdefault(key, now)
            if now - absent >= self.rule_resolve_after.get(self._active[key].rule, self.resolve_after):
                del self._absent_since[key]
                alarm = replace(self._active.pop(key), resolved=now)
                self._resolved.appendleft(alarm)
                out.append(Transition("resolved", alarm, now))
        return out


def _said(alarm: Alarm, condition: Condition) -> Alarm:
    """``alarm`` saying what ``condition``'s summary says."""
    return replace(alarm, summary=condition.summary, code=condition.code, params=condition.params)


def _params(value: Any) -> dict[str, Param]:
    """A summary's parameters as kept: text and whole numbers by name (anything else is dropped)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str | int) and not isinstance(v, bool)}


def _rank(severity: Severity) -> int:
    return {"info": 0, "warning": 1, "critical": 2}[severity]
