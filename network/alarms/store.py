"""``DIR/alarms/alarms.json``: the alarms in force and the recently resolved ones, as the evaluator last saw them.

The evaluator rewrites the file atomically after each evaluation; the explorer reads it per request. It holds
``{"format": "consortium-ledger/alarms/v1", "evaluated_ms": <time of the evaluation>, "active": [alarm...],
"resolved": [alarm...]}``, each alarm as :meth:`network.alarms.book.Alarm.to_json`, active ones most severe
first, resolved ones newest first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chain.errors import MalformedError
from network.alarms.book import Alarm

FORMAT = "consortium-ledger/alarms/v1"
ALARMS_DIR = "alarms"
ALARMS_FILE = "alarms.json"
#: The largest file :func:`read_alarms` accepts.
MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AlarmState:
    evaluated_ms: int | None
    active: tuple[Alarm, ...]
    resolved: tuple[Alarm, ...]


def alarms_path(directory: Path) -> Path:
    return directory / ALARMS_DIR / ALARMS_FILE


def write_alarms(directory: Path, evaluated: float, active: Sequence[Alarm], resolved: Sequence[Alarm]) -> Path:
    """Write the file atomically: a reader sees the previous version or this one."""
    path = alarms_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "format": FORMAT,
        "evaluated_ms": int(evaluated * 1000),
        "active": [a.to_json() for a in active],
        "resolved": [a.to_json() for a in resolved],
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_alarms(directory: Path) -> AlarmState:
    """The file's alarms; no file (no evaluator ran here) is no alarm and no evaluation."""
    path = alarms_path(directory)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return AlarmState(None, (), ())
    if len(raw) > MAX_BYTES:
        raise MalformedError(f"{path} is over {MAX_BYTES} bytes: remove it, the evaluator writes it again")
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise MalformedError(f"{path}: format must be {FORMAT!r}, got {data.get('format')!r}")
        return AlarmState(
            int(data["evaluated_ms"]),
            tuple(Alarm.from_json(a) for a in data["active"]),
            tuple(Alarm.from_json(a) for a in data["resolved"]),
        )
    except MalformedError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedError(f"{path} is malformed ({exc}): remove it, the evaluator writes it again") from exc
