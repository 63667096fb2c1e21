"""Structured logs of the consortium's processes (node, notary, witnesses, gateway): one JSON object per line.

A line holds ``time`` (UTC, ``2026-11-20T10:00:00Z``), ``level``, ``logger``, ``msg``, then the record's
``fields`` (``log.info("block sealed", extra={"fields": {...}})``) and, for a record with an exception, its
traceback as ``error``. Non-ASCII text is written as is. It lives in ``chain``, the lowest layer that logs this
way, so every layer above uses the same formatter.
"""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_json_logging(name: str) -> None:
    """Send the records of logger ``name`` (and its children), INFO and above, to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
