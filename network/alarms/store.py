"""The alarms document: the alarms in force and the recently resolved ones, as the evaluator last saw them.

``{"format": "consortium-ledger/alarms/v1", "evaluated_ms": <time of the evaluation>, "active": [alarm...],
"resolved": [alarm...]}``, each alarm as :meth:`network.alarms.book.Alarm.to_json`, active ones most severe
first, resolved ones newest first. The evaluator's endpoint (``network.alarms.server``) serves it, and the
evaluator also rewrites it atomically to ``DIR/alarms/alarms.json`` after each evaluation, which an explorer
started without the endpoint's URL reads per request. :func:`parse_alarms` reads either.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from chain.errors import MalformedError
from network.alarms.book import Alarm, AlarmJSON

FORMAT = "consortium-ledger/alarms/v1"
ALARMS_DIR = "alarms"
ALARMS_FILE = "alarms.json"
#: The largest document :func:`read_alarms` and the explorer's client accept.
MAX_BYTES = 4 * 1024 * 1024


class AlarmsJSON(TypedDict):
    """The alarms document (``FORMAT``): what ``DIR/alarms/alarms.json`` and the alarm endpoint hold, and what the
    explorer reads back through :func:`parse_alarms`."""

    format: str
    evaluated_ms: int | None
    active: list[AlarmJSON]
    resolved: list[AlarmJSON]


@dataclass(frozen=True, slots=True)
class AlarmState:
    evaluated_ms: int | None
    active: tuple[Alarm, ...]
    resolved: tuple[Alarm, ...]

    def to_json(self) -> AlarmsJSON:
        return {
            "format": FORMAT,
            "evaluated_ms": self.evaluated_ms,
            "active": [a.to_json() for a in self.active],
            "resolved": [a.to_json() for a in self.resolved],
        }


#: No evaluation yet.
NEVER = AlarmState(None, (), ())


def state_of(evaluated: float, active: Sequence[Alarm], resolved: Sequence[Alarm]) -> AlarmState:
    """The state of an evaluation at ``evaluated`` (seconds)."""
    return AlarmState(int(evaluated * 1000), tuple(active), tuple(resolved))


def alarms_path(directory: Path) -> Path:
    return directory / ALARMS_DIR / ALARMS_FILE


def write_alarms(directory: Path, evaluated: float, active: Sequence[Alarm], resolved: Sequence[Alarm]) -> Path:
    """Write the file atomically: a reader sees the previous version or this one."""
    path = alarms_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = state_of(evaluated, active, resolved).to_json()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def parse_alarms(raw: bytes, where: str) -> AlarmState:
    """The document in ``raw`` (from the file or the endpoint, named ``where`` in the error); MalformedError
    for anything else: too large, not JSON, another format, a field missing or of the wrong type."""
    if len(raw) > MAX_BYTES:
        raise MalformedError(f"{where} is over {MAX_BYTES} bytes")
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise MalformedError(f"{where}: format must be {FORMAT!r}, got {got!r}")
        evaluated = data["evaluated_ms"]
        if evaluated is not None and (isinstance(evaluated, bool) or not isinstance(evaluated, int)):
            raise MalformedError(f"{where}: evaluated_ms must be an integer or null, got {evaluated!r}")
        if not isinstance(data["active"], list) or not isinstance(data["resolved"], list):
            raise MalformedError(f"{where}: active and resolved must be lists")
        return AlarmState(
            evaluated,
            tuple(Alarm.from_json(a) for a in data["active"]),
            tuple(Alarm.from_json(a) for a in data["resolved"]),
        )
    except MalformedError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedError(f"{where} is malformed ({exc})") from exc


def read_alarms(directory: Path) -> AlarmState:
    """The file's alarms; no file (no evaluator ran here) is :data:`NEVER`."""
    path = alarms_path(directory)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return NEVER
    try:
        return parse_alarms(raw, str(path))
    except MalformedError as exc:
        raise MalformedError(f"{exc}: remove it, the evaluator writes it again") from exc
