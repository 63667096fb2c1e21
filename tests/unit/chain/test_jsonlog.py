"""chain.jsonlog: the one JSON line format of the node, the notary, the witnesses and the gateway."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from chain.jsonlog import JsonFormatter, configure_json_logging


def _record(message: str, fields: dict[str, object] | None = None, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("déjà vu")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("consortium.node", logging.INFO, __file__, 1, message, (), exc_info)
    record.created = 1_795_168_800.5  # 2026-11-20T10:00:00.5Z
    if fields is not None:
        record.fields = fields
    return record


def test_a_line_holds_time_level_logger_message_and_fields_in_that_order() -> None:
    line = JsonFormatter().format(_record("block sealed", {"number": 7, "hash": "0xab"}))
    assert "\n" not in line
    assert list(json.loads(line).items()) == [
        ("time", "2026-11-20T10:00:00Z"),
        ("level", "info"),
        ("logger", "consortium.node"),
        ("msg", "block sealed"),
        ("number", 7),
        ("hash", "0xab"),
    ]


def test_an_exception_is_written_as_error_and_non_ascii_as_is() -> None:
    line = JsonFormatter().format(_record("sealing failed", exc=True))
    entry = json.loads(line)
    assert entry["msg"] == "sealing failed"
    assert entry["error"].startswith("Traceback") and "ValueError: déjà vu" in entry["error"]
    assert "déjà vu" in line


def test_configure_json_logging_sends_the_logger_and_its_children_to_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    logger = logging.getLogger("test-jsonlog")
    try:
        configure_json_logging("test-jsonlog")
        logging.getLogger("test-jsonlog.child").info("listening", extra={"fields": {"url": "http://127.0.0.1:1"}})
        logger.debug("not shown")
    finally:
        for handler in logger.handlers:
            logger.removeHandler(handler)
        logger.propagate = True
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["logger"] == "test-jsonlog.child"
    assert json.loads(lines[0])["url"] == "http://127.0.0.1:1"
