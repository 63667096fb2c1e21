"""An index of another schema version is rebuilt from nothing, not refused: it is only an index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from explorer.calls import CallIndex
from explorer.service import _open_index


def test_an_index_of_another_schema_version_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    CallIndex(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = 'old' WHERE key = 'schema_version'")
    conn.close()
    index = _open_index(CallIndex, path)
    try:
        assert index.size() == 0
    finally:
        index.close()
    _open_index(CallIndex, path).close()  # and opens as it is the next time
