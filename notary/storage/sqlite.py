"""The embedded storage backend: one SQLite database in WAL mode with ``synchronous=FULL``.

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

from notary.log.tiles import format_entry_bundle
from notary.storage.base import (
    ALARM_COLUMNS,
    ALARMS_INDEX,
    ANCHOR_COLUMNS,
    ANCHOR_SUBJECT,
    ANCHORS_CHECKED_KEY,
    AlarmKey,
    AlarmRow,
    AnchorRow,
    BatchRow,
    BatchWrite,
    CheckpointRow,
    EntryRow,
    Plan,
    StorageFullError,
    StoreError,
    TreeState,
    alarm_row,
    alarms_page,
    anchor_row,
)
from notary.storage.schema import Migration

#: Version 1 is ``_SCHEMA`` as the first releases made it; later versions are ``_MIGRATIONS``, run in order when a
#: store opens (a new one is made at version 1 and migrated at once), each in one transaction with the ``meta``
#: key ``schema_version`` that releases before it check, so they refuse a store they cannot read.
SCHEMA_VERSION = 4

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


#: The subject of an alarm recorded before alarms had one: the size for the kinds of one alarm per size, the
#: witness of a ``split-view`` (its message begins ``witness <org> refused``), else the message.
_LEGACY_SUBJECT = """CASE
    WHEN kind = 'anchor-mismatch' AND size IS NOT NULL THEN 'anchor ' || size
    WHEN kind = 'checkpoint-mismatch' AND size IS NOT NULL THEN 'checkpoint ' || size
    WHEN kind = 'split-view' AND message LIKE 'witness % refused %'
        THEN 'witness ' || substr(message, 9, instr(substr(message, 9), ' ') - 1)
    ELSE message
END"""

#: A resolution is whole (when, by whom and why) or absent.
_RESOLUTION_CHECK = "CHECK ((resolved_ms IS NULL) = (resolved_by IS NULL) AND (resolved_ms IS NULL) = (reason IS NULL))"

_MIGRATIONS = (
    Migration(
        2,
        "one alarm per kind and subject, counted and with the time it was last found, instead of a row each time "
        "the same condition is found; the alarms of before folded by the subject they were about",
        (
            """CREATE TABLE alarms_v2 (
                id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, size INTEGER,
                message TEXT NOT NULL, subject TEXT NOT NULL, last_ms INTEGER NOT NULL, count INTEGER NOT NULL,
                UNIQUE (kind, subject)
            )""",
            f"""INSERT INTO alarms_v2 (id, time_ms, kind, size, message, subject, last_ms, count)
                WITH subjects AS (SELECT id, time_ms, kind, {_LEGACY_SUBJECT} AS subject FROM alarms),
                found AS (
                    SELECT MIN(id) AS id, subject, MIN(time_ms) AS first_ms, MAX(time_ms) AS last_ms, COUNT(*) AS n
                    FROM subjects GROUP BY kind, subject
                )
                SELECT a.id, f.first_ms, a.kind, a.size, a.message, f.subject, f.last_ms, f.n
                FROM found f JOIN alarms a ON a.id = f.id""",
            "DROP TABLE alarms",
            "ALTER TABLE alarms_v2 RENAME TO alarms",
        ),
    ),
    Migration(
        3,
        "an alarm is resolved by an operator (when, by whom, why; never deleted), and one kind and subject has one "
        "open alarm rather than one alarm for ever: found again after its alarm was resolved, it opens a new one",
        (
            f"""CREATE TABLE alarms_v3 (
                id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, size INTEGER,
                message TEXT NOT NULL, subject TEXT NOT NULL, last_ms INTEGER NOT NULL, count INTEGER NOT NULL,
                resolved_ms INTEGER, resolved_by TEXT, reason TEXT,
                {_RESOLUTION_CHECK}
            )""",
            """INSERT INTO alarms_v3 (id, time_ms, kind, size, message, subject, last_ms, count)
                SELECT id, time_ms, kind, size, message, subject, last_ms, count FROM alarms""",
            "DROP TABLE alarms",
            "ALTER TABLE alarms_v3 RENAME TO alarms",
            "CREATE UNIQUE INDEX alarms_open ON alarms (kind, subject) WHERE resolved_ms IS NULL",
        ),
    ),
    Migration(
        4,
        "an index on (last_ms, id), the order of the alarms' pages and their cursor: a page of GET /v1/alarms reads "
        "its rows from the index instead of sorting the table",
        (ALARMS_INDEX,),
    ),
)

#: An alarm found: a new row, or the count and the last time of the open one of its kind and subject.
_ADD_ALARM = (
    "INSERT INTO alarms (time_ms, kind, size, message, subject, last_ms, count) VALUES (?, ?, ?, ?, ?, ?, 1) "
    "ON CONFLICT (kind, subject) WHERE resolved_ms IS NULL DO UPDATE SET count = alarms.count + 1, "
    "last_ms = max(alarms.last_ms, excluded.last_ms), time_ms = min(alarms.time_ms, excluded.time_ms)"
)

_ANCHOR_COLUMNS = ANCHOR_COLUMNS


def _wrap(exc: sqlite3.Error, what: str) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return StorageFullError(f"{what}: storage full ({exc}); nothing was written — free space and retry")
    return StoreError(f"{what}: {exc}")


class LogStore:
    """The notary database at ``path`` (created if missing). It implements ``notary.storage.base.NotaryStorage``;
    the tree state the sequencer needs is cached in memory and checked against the stored size under the
    write lock, so another process appending to the same file (never done, but possible) is noticed."""

    def __init__(self, path: Path, max_pages: int | None = None) -> None:
        self.path = Path(path)
        self._max_pages = max_pages
        self._local = threading.local()
        self._write_lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.executescript(_SCHEMA)
            self._writer.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1')")
            self._writer.commit()
        except sqlite3.Error as exc:
            raise _wrap(exc, f"cannot open the notary store {self.path}") from exc
        self._migrate()
        version = self.meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: schema version {version}, this notary reads {SCHEMA_VERSION}")
        self._state: _Cached | None = None

    def _migrate(self) -> None:
        """Bring the store to :data:`SCHEMA_VERSION`: each missing migration in order, all of them in one
        transaction (another process opening the store at once waits, then finds it migrated). A store of a later
        release is left as it is (refused just after)."""
        with self.transaction() as conn:
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(found[0]) if found is not None and str(found[0]).isdigit() else None
            if version is None or version >= SCHEMA_VERSION:
                return
            for migration in _MIGRATIONS[version - 1 :]:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(migration.version),))

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

    def maintain(self) -> None:
        """Nothing to repair: tiles commit with their entries."""

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

    def sequence(self, gateway: str, event_ids: Sequence[str], plan: Plan) -> BatchWrite | None:
        """Under the write lock, in one ``BEGIN IMMEDIATE`` transaction (exclusive across processes too): the
        tree state, ``plan``'s write, commit."""
        with self.transaction() as conn:
            size = self._stored_size(conn)
            cached = self._state
            if cached is None or cached.size != size:
                cached = self._state = self._load_state(conn, size)
            existing = self._entries_by_id(conn, event_ids)
            state = TreeState(
                size, cached.edge, cached.last_time, cached.last_seq.get(gateway, 0),
                list(cached.gaps.get(gateway, [])), existing,
            )  # fmt: skip
            write = plan(state)
            if write is None:
                return None
            if write.first != size:
                raise AssertionError(f"a batch planned at size {write.first} in a tree of size {size}")
            self._insert(conn, write, cached.gaps.get(gateway, []))
        end = size + len(write.entries)
        edge = {level: data for level, data in cached.edge.items()}
        for level in list(edge):
            if (end >> (8 * level)) % 256 == 0:
                del edge[level]
        for (level, index), data in write.tiles.items():
            count = end >> (8 * level)
            if count % 256 and index == count // 256:
                edge[level] = data
        self._state = _Cached(
            end, edge, max(cached.last_time, write.time_ms), {**cached.last_seq, gateway: write.last_seq},
            {**cached.gaps, gateway: list(write.gaps)},
        )  # fmt: skip
        return write

    def _insert(self, conn: sqlite3.Connection, write: BatchWrite, old_gaps: list[tuple[int, int, int]]) -> None:
        gateway, first = write.gateway, write.first
        cursor = conn.execute(
            "INSERT INTO batches (gateway, first, count, time_ms, note) VALUES (?, ?, ?, ?, ?)",
            (gateway, first, len(write.entries), write.time_ms, write.note),
        )
        batch_id = cursor.lastrowid
        conn.executemany(
            "INSERT INTO entries (idx, event_id, gateway, seq, batch, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(first + i, eid, gateway, seq, batch_id, data) for i, (eid, seq, data) in enumerate(write.entries)],
        )
        self.write_tiles(conn, write.tiles, write.levels)
        conn.execute("INSERT OR REPLACE INTO gateways (id, last_seq) VALUES (?, ?)", (gateway, write.last_seq))
        if write.gaps != old_gaps:
            conn.execute("DELETE FROM gaps WHERE gateway = ?", (gateway,))
            conn.executemany(
                "INSERT INTO gaps (gateway, first, last, found_ms) VALUES (?, ?, ?, ?)",
                [(gateway, a, b, t) for a, b, t in write.gaps],
            )

    @staticmethod
    def _stored_size(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT MAX(idx) FROM entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def _load_state(self, conn: sqlite3.Connection, size: int) -> _Cached:
        edge: dict[int, bytes] = {}
        level = 0
        while size >> (8 * level):
            count = size >> (8 * level)
            if count % 256:
                row = conn.execute(
                    "SELECT data FROM tiles WHERE level = ? AND idx = ?", (level, count // 256)
                ).fetchone()
                edge[level] = (bytes(row[0]) if row else b"")[: (count % 256) * 32]
            level += 1
        last_time = int(conn.execute("SELECT MAX(time_ms) FROM batches").fetchone()[0] or 0)
        last_seq = {str(g): int(s) for g, s in conn.execute("SELECT id, last_seq FROM gateways")}
        gaps: dict[str, list[tuple[int, int, int]]] = {}
        for g, a, b, t in conn.execute("SELECT gateway, first, last, found_ms FROM gaps ORDER BY gateway, first"):
            gaps.setdefault(str(g), []).append((int(a), int(b), int(t)))
        return _Cached(size, edge, last_time, last_seq, gaps)

    def add_checkpoint(self, size: int, root: bytes, time_ms: int, note: bytes) -> CheckpointRow:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO checkpoints (size, root, time_ms, note) VALUES (?, ?, ?, ?)",
                (size, root, time_ms, note),
            )
        row = self.checkpoint(size)
        assert row is not None
        return row

    def publish_checkpoint(self, size: int, cosigned: bytes, published_ms: int, cosigners: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE checkpoints SET cosigned = ?, published_ms = ?, cosigners = ? WHERE size = ?",
                (cosigned, published_ms, cosigners, size),
            )

    def anchor_sent(self, size: int, tx_hash: str, raw_tx: bytes, nonce: int, sent_ms: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM anchors WHERE size = ? AND state = 'failed'", (size,))
            conn.execute(
                "INSERT INTO anchors (size, tx_hash, raw_tx, nonce, state, sent_ms) VALUES (?, ?, ?, ?, 'sent', ?)",
                (size, tx_hash, raw_tx, nonce, sent_ms),
            )

    def anchor_confirmed(self, size: int, block_number: int, block_hash: str, confirmed_ms: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE anchors SET state = 'confirmed', block_number = ?, block_hash = ?, confirmed_ms = ? "
                "WHERE size = ?",
                (block_number, block_hash, confirmed_ms, size),
            )

    def anchor_failed(self, size: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE anchors SET state = 'failed' WHERE size = ?", (size,))

    # ------------------------------------------------------------------------------------------ reads

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _wrap(exc, "notary store read failed") from exc

    def holds_log(self) -> bool:
        return self.meta("vkey") is not None

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def size(self) -> int:
        """The committed size (another store on the same file may have appended: it is read, not remembered)."""
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
        try:
            return self._entries_by_id(self._reader(), event_ids)
        except sqlite3.Error as exc:
            raise _wrap(exc, "notary store read failed") from exc

    @staticmethod
    def _entries_by_id(conn: sqlite3.Connection, event_ids: Sequence[str]) -> dict[str, EntryRow]:
        found: dict[str, EntryRow] = {}
        for start in range(0, len(event_ids), 900):
            chunk = event_ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT idx, event_id, gateway, seq, batch, data FROM entries WHERE event_id IN ({marks})"
            for row in conn.execute(sql, chunk):
                found[row[1]] = EntryRow(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))
        return found

    def entry(self, index: int) -> EntryRow | None:
        rows = self._query("SELECT idx, event_id, gateway, seq, batch, data FROM entries WHERE idx = ?", (index,))
        if not rows:
            return None
        i, event_id, gateway, seq, batch, data = rows[0]
        return EntryRow(int(i), str(event_id), str(gateway), int(seq), int(batch), bytes(data))

    def entries(self, first: int, count: int) -> list[bytes]:
        rows = self._query("SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (first, first + count))
        return [bytes(r[0]) for r in rows]

    def entry_bundle(self, index: int, width: int) -> bytes | None:
        entries = self.entries(index * 256, width)
        return format_entry_bundle(entries) if len(entries) == width else None

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
    ) -> list[AnchorRow]:
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
        return [anchor_row(r) for r in rows]

    def anchored_size(self) -> int:
        """The largest size with a confirmed anchor (0 if none)."""
        rows = self._query("SELECT MAX(size) FROM anchors WHERE state = 'confirmed'")
        return int(rows[0][0] or 0)

    def anchor_covering(self, index: int, state: str = "confirmed") -> AnchorRow | None:
        """The anchor in ``state`` of the smallest published checkpoint covering leaf ``index``, or None."""
        picked = ", ".join("a." + c for c in _ANCHOR_COLUMNS)
        rows = self._query(
            f"SELECT {picked} FROM anchors a JOIN checkpoints c ON c.size = a.size"
            " WHERE a.size > ? AND a.state = ? AND c.cosigned IS NOT NULL ORDER BY a.size LIMIT 1",
            (index, state),
        )
        return anchor_row(rows[0]) if rows else None

    def anchor_progress(self) -> tuple[int, bool]:
        """The largest size sent or confirmed (0 if none), and whether a sent anchor awaits resolution."""
        rows = self._query("SELECT MAX(size), SUM(state = 'sent') FROM anchors WHERE state IN ('sent', 'confirmed')")
        return int(rows[0][0] or 0), bool(rows[0][1])

    def alarms(self, limit: int = 100, open_only: bool = False, after: AlarmKey | None = None) -> list[AlarmRow]:
        keyed = () if after is None else (after.last_ms, after.id)
        rows = self._query(alarms_page("?", open_only=open_only, after=after is not None), (*keyed, limit))
        return [alarm_row(r) for r in rows]

    def open_alarms(self) -> int:
        ((count,),) = self._query("SELECT count(*) FROM alarms WHERE resolved_ms IS NULL")
        return int(count)

    def resolve_alarm(self, alarm_id: int, time_ms: int, by: str, reason: str) -> tuple[AlarmRow | None, bool]:
        """In one transaction with the alarms found at once (they take turns on the writer): a finding counted
        before it is resolved with it, one after opens a new alarm."""
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE alarms SET resolved_ms = ?, resolved_by = ?, reason = ? WHERE id = ? AND resolved_ms IS NULL",
                (time_ms, by, reason, alarm_id),
            ).rowcount
            row = conn.execute(f"SELECT {', '.join(ALARM_COLUMNS)} FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        return (None if row is None else alarm_row(row)), changed == 1

    def add_alarm(
        self,
        time_ms: int,
        kind: str,
        size: int | None,
        message: str,
        *,
        subject: str | None = None,
        leader_only: bool = False,
    ) -> None:
        """``leader_only`` changes nothing: the one notary of an embedded store always leads."""
        with self.transaction() as conn:
            conn.execute(_ADD_ALARM, (time_ms, kind, size, message, message if subject is None else subject, time_ms))

    def check_leader(self, what: str) -> None:
        """The one notary of an embedded store always leads."""

    def anchor_checked(self, size: int, time_ms: int, mismatch: str | None) -> None:
        with self.transaction() as conn:
            if mismatch is not None:
                subject = ANCHOR_SUBJECT.format(size=size)
                conn.execute(_ADD_ALARM, (time_ms, "anchor-mismatch", size, mismatch, subject, time_ms))
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value "
                "WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                (ANCHORS_CHECKED_KEY, str(size)),
            )


@dataclass(slots=True)
class _Cached:
    size: int
    edge: dict[int, bytes]
    last_time: int
    last_seq: dict[str, int]
    gaps: dict[str, list[tuple[int, int, int]]]


def _checkpoint_row(row: Sequence[Any]) -> CheckpointRow:
    size, root, time_ms, note, cosigned, published_ms, cosigners = row
    return CheckpointRow(
        int(size),
        bytes(root),
        int(time_ms),
        bytes(note),
        None if cosigned is None else bytes(cosigned),
        published_ms,
        cosigners,
    )


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # no transaction was open (BEGIN itself failed)
        conn.execute("ROLLBACK")
