"""The notary's durable store: one SQLite database in WAL mode with ``synchronous=FULL``.

Nothing is acknowledged before its transaction is on disk: a batch's entries, the tiles they change, the
gateways' sequence state, any gap found and the signed batch statement commit together or not at all, so a
``kill -9`` at any moment leaves either the whole batch or none of it. Hashes live as C2SP tiles (``tiles``,
what ``/tile/`` serves) and, for proofs, each full tile once more with its inner levels (``tile_levels``, keyed
by ``index << 6 | level``, written in the tile's transaction): a proof then reads one row and hashes nothing (a
rowid table reads a 16 KiB row several times faster than ``tiles`` does its 8 KiB; a store from before it has
no such rows, and proofs compute the levels). Entries are kept one row per event, and entry bundles are cut from
them on read.

One writer connection (its transactions take turns under a lock), and one read connection per thread (WAL lets reads run
beside the writer and see only committed data).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notary.log.errors import NotaryError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    gateway TEXT NOT NULL,
    seq INTEGER NOT NULL,
    batch INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tile_levels (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY, gateway TEXT NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL,
    time_ms INTEGER NOT NULL, note BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS gateways (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps (
    gateway TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, found_ms INTEGER NOT NULL,
    PRIMARY KEY (gateway, first)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY, root BLOB NOT NULL, time_ms INTEGER NOT NULL, note BLOB NOT NULL,
    cosigned BLOB, published_ms INTEGER, cosigners TEXT
);
CREATE TABLE IF NOT EXISTS anchors (
    size INTEGER PRIMARY KEY, tx_hash TEXT NOT NULL, raw_tx BLOB NOT NULL, nonce INTEGER NOT NULL,
    state TEXT NOT NULL, sent_ms INTEGER NOT NULL, block_number INTEGER, block_hash TEXT, confirmed_ms INTEGER
);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, size INTEGER, message TEXT NOT NULL
);
"""


_ANCHOR_COLUMNS = (
    "size", "tx_hash", "raw_tx", "nonce", "state", "sent_ms", "block_number", "block_hash", "confirmed_ms"
)  # fmt: skip


class StoreError(NotaryError):
    """The store could not be read or written (I/O error, corruption, locked)."""


class StorageFullError(StoreError):
    """The disk (or the database's page limit) is full: nothing of the transaction was written."""


@dataclass(frozen=True, slots=True)
class EntryRow:
    index: int
    event_id: str
    gateway: str
    seq: int
    batch: int
    data: bytes


@dataclass(frozen=True, slots=True)
class BatchRow:
    id: int
    gateway: str
    first: int
    count: int
    time_ms: int
    note: bytes


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    size: int
    root: bytes
    time_ms: int
    note: bytes
    cosigned: bytes | None
    published_ms: int | None
    cosigners: str | None


def _wrap(exc: sqlite3.Error, what: str) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return StorageFullError(f"{what}: storage full ({exc}); nothing was written — free space and retry")
    return StoreError(f"{what}: {exc}")


class LogStore:
    """The notary database at ``path`` (created if missing)."""

    def __init__(self, path: Path, max_pages: int | None = None) -> None:
        self.path = Path(path)
        self._max_pages = max_pages
        self._local = threading.local()
        self._write_lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.executescript(_SCHEMA)
            self._writer.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._writer.commit()
        except sqlite3.Error as exc:
            raise _wrap(exc, f"cannot open the notary store {self.path}") from exc
        version = self.meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: schema version {version}, this notary reads {SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        if self._max_pages is not None:
            conn.execute(f"PRAGMA max_page_count={int(self._max_pages)}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        self._writer.close()

    # ------------------------------------------------------------------------------------------ writes

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One durable write transaction on the writer connection; rolled back on any error.

        Writers from several threads (the sequencer, the checkpointer, the anchorer) take turns here: on one
        shared connection, a second BEGIN would fail and its ROLLBACK would undo the other thread's open
        transaction, whose remaining statements would then commit one by one — a partial batch."""
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise _wrap(exc, "notary store write failed") from exc
            except BaseException:
                _rollback(conn)
                raise

    @staticmethod
    def write_tiles(
        conn: sqlite3.Connection, tiles: dict[tuple[int, int], bytes], levels: dict[tuple[int, int], bytes]
    ) -> None:
        """Inside a transaction: the changed tiles, and those that became full with their inner levels (from
        ``TileWriter.append_levels``)."""
        conn.executemany(
            "INSERT OR REPLACE INTO tiles (level, idx, data) VALUES (?, ?, ?)",
            [(level, index, data) for (level, index), data in tiles.items()],
        )
        if levels:
            conn.executemany(
                "INSERT OR REPLACE INTO tile_levels (id, data) VALUES (?, ?)",
                [(index << 6 | level, data) for (level, index), data in levels.items()],
            )

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------------------------------ reads

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _wrap(exc, "notary store read failed") from exc

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def size(self) -> int:
        rows = self._query("SELECT MAX(idx) FROM entries")
        return 0 if rows[0][0] is None else int(rows[0][0]) + 1

    def tile(self, level: int, index: int) -> bytes:
        rows = self._query("SELECT data FROM tiles WHERE level = ? AND idx = ?", (level, index))
        return bytes(rows[0][0]) if rows else b""

    def tile_for_proofs(self, level: int, index: int) -> bytes:
        """A full tile with its inner levels if stored (``notary.log.tiles.tile_with_levels``), else the tile."""
        rows = self._query("SELECT data FROM tile_levels WHERE id = ?", (index << 6 | level,))
        return bytes(rows[0][0]) if rows else self.tile(level, index)

    def edge_tiles(self, size: int) -> dict[int, bytes]:
        """The partial tile of each level at the right edge of a tree of ``size`` leaves."""
        edge: dict[int, bytes] = {}
        level = 0
        while size >> (8 * level):
            count = size >> (8 * level)
            if count % 256:
                edge[level] = self.tile(level, count // 256)[: (count % 256) * 32]
            level += 1
        return edge

    def entries_by_id(self, event_ids: Sequence[str]) -> dict[str, EntryRow]:
        found: dict[str, EntryRow] = {}
        for start in range(0, len(event_ids), 900):
            chunk = event_ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT idx, event_id, gateway, seq, batch, data FROM entries WHERE event_id IN ({marks})"
            for row in self._query(sql, chunk):
                found[row[1]] = EntryRow(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))
        return found

    def entry(self, index: int) -> EntryRow | None:
        rows = self._query("SELECT idx, event_id, gateway, seq, batch, data FROM entries WHERE idx = ?", (index,))
        if not rows:
            return None
        i, event_id, gateway, seq, batch, data = rows[0]
        return EntryRow(int(i), str(event_id), str(gateway), int(seq), int(batch), bytes(data))

    def entries(self, first: int, count: int) -> list[bytes]:
        rows = self._query(
            "SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (first, first + count)
        )
        return [bytes(r[0]) for r in rows]

    def batch(self, batch_id: int) -> BatchRow:
        rows = self._query("SELECT id, gateway, first, count, time_ms, note FROM batches WHERE id = ?", (batch_id,))
        if not rows:
            raise StoreError(f"batch {batch_id} missing from the store")
        i, gateway, first, count, time_ms, note = rows[0]
        return BatchRow(int(i), str(gateway), int(first), int(count), int(time_ms), bytes(note))

    def last_batch_time(self) -> int:
        rows = self._query("SELECT MAX(time_ms) FROM batches")
        return int(rows[0][0] or 0)

    def gateways(self) -> dict[str, int]:
        return {str(g): int(s) for g, s in self._query("SELECT id, last_seq FROM gateways")}

    def gaps(self, gateway: str | None = None) -> list[tuple[str, int, int, int]]:
        if gateway is None:
            rows = self._query("SELECT gateway, first, last, found_ms FROM gaps ORDER BY gateway, first")
        else:
            rows = self._query(
                "SELECT gateway, first, last, found_ms FROM gaps WHERE gateway = ? ORDER BY first", (gateway,)
            )
        return [(str(g), int(a), int(b), int(t)) for g, a, b, t in rows]

    def checkpoint(self, size: int) -> CheckpointRow | None:
        rows = self._query("SELECT * FROM checkpoints WHERE size = ?", (size,))
        return _checkpoint_row(rows[0]) if rows else None

    def latest_checkpoint(self, published: bool) -> CheckpointRow | None:
        where = "WHERE cosigned IS NOT NULL" if published else ""
        rows = self._query(f"SELECT * FROM checkpoints {where} ORDER BY size DESC LIMIT 1")
        return _checkpoint_row(rows[0]) if rows else None

    def checkpoints(self, after: int, limit: int, published: bool = True) -> list[CheckpointRow]:
        where = "AND cosigned IS NOT NULL" if published else ""
        rows = self._query(f"SELECT * FROM checkpoints WHERE size > ? {where} ORDER BY size LIMIT ?", (after, limit))
        return [_checkpoint_row(r) for r in rows]

    def anchors(
        self, state: str | None = None, *, after: int = 0, limit: int = -1, sizes: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """Anchors in size order: those above size ``after`` (at most ``limit``; -1: all), in ``state`` if given,
        or only those of ``sizes``."""
        where: list[str] = ["size > ?"]
        params: list[Any] = [after]
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if sizes is not None:
            where.append("size IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([int(s) for s in sizes]))
        rows = self._query(
            f"SELECT {', '.join(_ANCHOR_COLUMNS)} FROM anchors WHERE {' AND '.join(where)} ORDER BY size LIMIT ?",
            (*params, limit),
        )
        return [dict(zip(_ANCHOR_COLUMNS, r, strict=True)) for r in rows]

    def anchored_size(self) -> int:
        """The largest size with a confirmed anchor (0 if none)."""
        rows = self._query("SELECT MAX(size) FROM anchors WHERE state = 'confirmed'")
        return int(rows[0][0] or 0)

    def anchor_covering(self, index: int, state: str = "confirmed") -> dict[str, Any] | None:
        """The anchor in ``state`` of the smallest published checkpoint covering leaf ``index``, or None."""
        picked = ", ".join("a." + c for c in _ANCHOR_COLUMNS)
        rows = self._query(
            f"SELECT {picked} FROM anchors a JOIN checkpoints c ON c.size = a.size"
            " WHERE a.size > ? AND a.state = ? AND c.cosigned IS NOT NULL ORDER BY a.size LIMIT 1",
            (index, state),
        )
        return dict(zip(_ANCHOR_COLUMNS, rows[0], strict=True)) if rows else None

    def anchor_progress(self) -> tuple[int, bool]:
        """The largest size sent or confirmed (0 if none), and whether a sent anchor awaits resolution."""
        rows = self._query(
            "SELECT MAX(size), SUM(state = 'sent') FROM anchors WHERE state IN ('sent', 'confirmed')"
        )
        return int(rows[0][0] or 0), bool(rows[0][1])

    def alarms(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._query("SELECT id, time_ms, kind, size, message FROM alarms ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(("id", "time_ms", "kind", "size", "message"), r, strict=True)) for r in rows]

    def add_alarm(self, time_ms: int, kind: str, size: int | None, message: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO alarms (time_ms, kind, size, message) VALUES (?, ?, ?, ?)", (time_ms, kind, size, message)
            )


def _checkpoint_row(row: Sequence[Any]) -> CheckpointRow:
    size, root, time_ms, note, cosigned, published_ms, cosigners = row
    return CheckpointRow(
        int(size), bytes(root), int(time_ms), bytes(note), None if cosigned is None else bytes(cosigned),
        published_ms, cosigners,
    )


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # no transaction was open (BEGIN itself failed)
        conn.execute("ROLLBACK")
