"""The evaluator: every few seconds, probe the components, apply the rules, and tell every transition.

One :meth:`Evaluator.step` probes (``network.alarms.probe``), evaluates the rules against the snapshot and the
one of ``window`` seconds before and what its :class:`AnchoringWatch` remembers of the notary's published sizes
(``network.alarms.rules``), updates the :class:`AlarmBook` (hold-down), and
for each transition: queues the webhook's document (``network.alarms.webhook``; never blocks), queues its record
for the audit log (``network.alarms.audit``; never blocks either), appends the document with the record's event
id to ``DIR/alarms/transitions.jsonl`` and tells ``say``; then it keeps the state of the round, with the time it
was evaluated, for :meth:`Evaluator.state` (what ``up``'s alarm endpoint serves the explorer,
``network.alarms.server``) and rewrites ``DIR/alarms/alarms.json`` with it. :meth:`start` runs steps on a thread
until :meth:`stop`. The clock is injected.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from network.alarms.audit import AlarmRecorder
from network.alarms.book import AlarmBook, Transition
from network.alarms.probe import Prober
from network.alarms.rules import DEFAULT_LIMITS, AnchoringWatch, Limits, Snapshot, evaluate
from network.alarms.store import ALARMS_DIR, NEVER, AlarmState, state_of, write_alarms
from network.alarms.webhook import WebhookSender, alarm_document

log = logging.getLogger("network.alarms")

#: Seconds between evaluations.
INTERVAL_S = 2.0
#: Seconds back to the baseline the rising-count rules compare with.
WINDOW_S = 60.0
TRANSITIONS_FILE = "transitions.jsonl"
#: The key of a transitions.jsonl line naming the event that records it in the audit log (null: not recorded).
AUDIT_EVENT_KEY = "audit_event_id"


class Evaluator:
    def __init__(
        self,
        directory: Path,
        consortium: str,
        prober: Prober,
        book: AlarmBook | None = None,
        webhook: WebhookSender | None = None,
        say: Callable[[str], None] | None = None,
        *,
        recorder: AlarmRecorder | None = None,
        interval: float = INTERVAL_S,
        window: float = WINDOW_S,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory, self.consortium = directory, consortium
        self.prober, self.book = prober, book or AlarmBook()
        self.webhook, self.say, self.recorder = webhook, say, recorder
        self.interval, self.window, self.limits, self.clock = interval, window, limits, clock
        self._history: deque[tuple[float, Snapshot]] = deque()
        self._anchoring = AnchoringWatch()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
        self.steps = 0
        self._state = NEVER

    def state(self) -> AlarmState:
        """The alarms of the last round, with when it was evaluated (:data:`NEVER` before the first)."""
        return self._state

    def start(self) -> None:
        if self.webhook is not None:
            self.webhook.start()
        if self.recorder is not None:
            self.recorder.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(self.interval + 10)
        self.prober.close()
        if self.webhook is not None:
            self.webhook.close()
        if self.recorder is not None:
            self.recorder.close()

    def step(self) -> list[Transition]:
        """One evaluation; the transitions it made."""
        snapshot = self.prober.probe()
        now = self.clock()
        baseline = self._baseline(now, snapshot)
        anchoring = self._anchoring.observe(snapshot.notary, now)
        transitions = self.book.update(evaluate(snapshot, baseline, self.limits, anchoring), now)
        for transition in transitions:
            self._tell(transition)
        active, resolved = self.book.active(), self.book.resolved()
        self._state = state_of(now, active, resolved)  # one reference replaced whole: a reader sees one round
        write_alarms(self.directory, now, active, resolved)
        self.steps += 1
        return transitions

    def _baseline(self, now: float, snapshot: Snapshot) -> Snapshot | None:
        """The oldest snapshot of the last ``window`` seconds (None on the first step); keeps ``snapshot``."""
        while self._history and now - self._history[0][0] > self.window:
            self._history.popleft()
        baseline = self._history[0][1] if self._history else None
        self._history.append((now, snapshot))
        return baseline

    def _tell(self, transition: Transition) -> None:
        document = alarm_document(self.consortium, transition)
        if self.webhook is not None:
            self.webhook.send(document)
        line = dict(document)
        if self.recorder is not None:  # queued only: a notary that is down holds up nothing here
            line[AUDIT_EVENT_KEY] = self.recorder.record(transition, document)
        path = self.directory / ALARMS_DIR / TRANSITIONS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        if self.say is not None:
            alarm = transition.alarm
            self.say(f"alarm {transition.kind}: {alarm.severity} {alarm.id}: {alarm.summary}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a bad round must not end the alarms; the next one tries again
                log.exception("alarm evaluation failed")
            self._stop.wait(self.interval)
