"""The evaluator gives ``anchoring-behind`` its memory: a notary whose ``/healthz`` (answered by httpx's
``MockTransport``, no socket) shows a busy, healthy log, its anchored size always a little behind, raises no alarm;
once anchoring stops, the alarm fires when the oldest published size not anchored has waited 60 s, plus the 4 s
hold-down, and resolves once anchoring resumes. The clock is injected: every step is 2 s later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from network.alarms.book import AlarmBook
from network.alarms.evaluator import Evaluator
from network.alarms.probe import Prober, Targets

NOTARY = "http://127.0.0.1:9"


def test_a_busy_healthy_notary_raises_no_anchoring_alarm_and_a_stuck_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    health: dict[str, Any] = {"size": 0, "published_size": 0, "anchored_size": 0, "anchoring": {"last_error": None}}

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/healthz"
        return httpx.Response(200, json=health)

    real = httpx.Client

    class Answered(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["transport"] = httpx.MockTransport(answer)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(httpx, "Client", Answered)
    now = [1000.0]
    prober = Prober(Targets(notary=NOTARY), timeout=0.5)
    evaluator = Evaluator(tmp_path, "c", prober, AlarmBook(), clock=lambda: now[0])
    anchoring, previous = True, 0

    def rounds(seconds: float) -> list[tuple[str, str, float]]:
        """Every 2 s: the log grows by 7; while anchoring works, every 10 s the size seen 2 s before is anchored."""
        nonlocal previous
        out: list[tuple[str, str, float]] = []
        end = now[0] + seconds
        while now[0] < end:
            now[0] += 2.0
            if anchoring and now[0] % 10 == 0:
                health["anchored_size"] = previous
            health["size"] = health["published_size"] = health["published_size"] + 7
            previous = health["published_size"]
            out += [(t.kind, t.alarm.id, t.at) for t in evaluator.step()]
        return out

    try:
        assert rounds(300) == []
        assert health["anchored_size"] < health["published_size"]  # always a little behind
        anchoring = False  # the last anchor at 1300; the size published then waits from 1300
        assert rounds(62) == []
        assert rounds(2) == [("fired", "anchoring-behind:notary", 1364.0)]
        (alarm,) = evaluator.state().active
        assert "has waited 64 s" in alarm.summary
        anchoring = True
        assert rounds(20) == [("resolved", "anchoring-behind:notary", 1380.0)]
    finally:
        prober.close()
