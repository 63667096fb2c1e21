"""A witness's state: one SQLite file (WAL, ``synchronous=FULL``) that remembers, per log origin, the checkpoint
the witness last cosigned, and keeps every inconsistent checkpoint it refused as evidence.

C2SP tlog-witness asks a witness to check the old size against its record and persist the new checkpoint
atomically, before it replies. Here that is one ``BEGIN IMMEDIATE`` transaction (``WitnessState.transaction``)
that the caller commits before sending its answer; the stored size of an origin never decreases (the update is
guarded in SQL too, so a bug cannot roll a log back).

A log is witnessed only once an operator registered it with ``init_witness``. Nothing here ever creates the
file as a side effect of serving: a witness whose state was wiped (file deleted, emptied, or without the
origin) knows no log and refuses to cosign until it is initialised again — otherwise it would happily cosign a
fresh, unrelated tree of a log it had witnessed before. Every transaction opens its own connection, so a file
deleted or re-created under a running witness is noticed on the next request.

Evidence (``conflicts``): each log-signed checkpoint the witness refused as inconsistent, with the checkpoint it
conflicts with, counted once per distinct note (a replayed note bumps ``seen``; only notes that carry a valid
log signature get here, so the table cannot be filled by strangers).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from notary.durable import fsync_dir
from notary.log.checkpoint import Checkpoint
from notary.log.errors import MalformedError, NotaryError
from notary.log.hashing import EMPTY_ROOT, HASH_SIZE, Hash32

log = logging.getLogger("notary.witness.state")

SCHEMA_VERSION = 1
#: Largest tree size a witness records (SQLite integers are signed 64-bit).
MAX_TREE_SIZE = 2**63 - 1
#: Seconds a transaction waits for another writer of the same file before giving up.
BUSY_TIMEOUT = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL,
    note BLOB,
    cosigned_at INTEGER,
    initialised_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    note_hash BLOB NOT NULL,
    old_size INTEGER NOT NULL,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    proof BLOB NOT NULL,
    stored_size INTEGER NOT NULL,
    stored_root BLOB NOT NULL,
    stored_note BLOB,
    reason TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    seen INTEGER NOT NULL,
    UNIQUE (origin, kind, note_hash)
);
"""


# -- errors ---------------------------------------------------------------------------------------------------


class WitnessStateError(NotaryError):
    """The state file cannot be read or written (I/O error, corruption, another schema)."""


class UnknownOriginError(NotaryError):
    """The witness has no record of this log: never initialised, or its state was wiped."""

    def __init__(self, origin: str, detail: str = "") -> None:
        hint = detail or "an operator must register it with `python -m notary.witness init`"
        super().__init__(f"unknown origin {origin!r}: {hint}")
        self.origin = origin


class OriginExistsError(NotaryError):
    """``init_witness`` was asked to register a log the witness already witnesses."""

    def __init__(self, origin: str, size: int) -> None:
        super().__init__(
            f"origin {origin!r} is already registered at size {size}; a witness never starts a log over "
            "(delete the state file first if this witness is to be retired and set up anew)"
        )
        self.origin = origin
        self.size = size


# -- values ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogState:
    """What the witness last cosigned for one log (size 0 and the empty root before its first cosignature,
    unless the operator started it from a trusted checkpoint)."""

    origin: str
    size: int
    root: Hash32
    note: bytes | None
    cosigned_at: int | None


class ConflictKind(StrEnum):
    """Why a log-signed checkpoint was refused as inconsistent."""

    #: Two log-signed checkpoints of one size with different roots: proof of a split view on its own.
    SPLIT_VIEW = "split-view"
    #: A log-signed checkpoint whose consistency proof from the cosigned checkpoint does not verify.
    BAD_PROOF = "bad-proof"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A refused checkpoint (``note``, signed by the log) and the cosigned one it conflicts with."""

    id: int
    origin: str
    kind: ConflictKind
    old_size: int
    size: int
    root: Hash32
    note: bytes
    proof: tuple[Hash32, ...]
    stored_size: int
    stored_root: Hash32
    stored_note: bytes | None
    reason: str
    first_seen: float
    last_seen: float
    seen: int


# -- connections ----------------------------------------------------------------------------------------------


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit); ``create=False`` never makes the file."""
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode={mode}",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT,
    )
    try:
        if create:  # WAL is a property of the file, set once; serving never writes to a file it did not find valid
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    except BaseException:
        conn.close()
        raise
    return conn


def _has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'logs'").fetchone()
    if not row[0]:
        return False
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if found is None or found[0] != str(SCHEMA_VERSION):
        version = None if found is None else found[0]
        raise WitnessStateError(f"witness state has schema version {version}, this witness reads {SCHEMA_VERSION}")
    return True


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


def _log_state(row: Sequence[Any]) -> LogState:
    origin, size, root, note, cosigned_at = row
    return LogState(
        origin=str(origin),
        size=int(size),
        root=cast(Hash32, bytes(root)),
        note=None if note is None else bytes(note),
        cosigned_at=None if cosigned_at is None else int(cosigned_at),
    )


_LOG_COLUMNS = "origin, size, root, note, cosigned_at"
_CONFLICT_COLUMNS = (
    "id, origin, kind, old_size, size, root, note, proof, stored_size, stored_root, stored_note, reason, "
    "first_seen, last_seen, seen"
)


def _conflict(row: Sequence[Any]) -> Conflict:
    proof = bytes(row[7])
    return Conflict(
        id=int(row[0]),
        origin=str(row[1]),
        kind=ConflictKind(row[2]),
        old_size=int(row[3]),
        size=int(row[4]),
        root=cast(Hash32, bytes(row[5])),
        note=bytes(row[6]),
        proof=tuple(cast(Hash32, proof[i : i + HASH_SIZE]) for i in range(0, len(proof), HASH_SIZE)),
        stored_size=int(row[8]),
        stored_root=cast(Hash32, bytes(row[9])),
        stored_note=None if row[10] is None else bytes(row[10]),
        reason=str(row[11]),
        first_seen=float(row[12]),
        last_seen=float(row[13]),
        seen=int(row[14]),
    )


# -- the operator's step --------------------------------------------------------------------------------------


def init_witness(
    path: Path,
    origin: str,
    checkpoint: Checkpoint | None = None,
    note: bytes | None = None,
    *,
    now: float | None = None,
) -> LogState:
    """Register the log ``origin`` with the witness whose state is at ``path`` (the file is created if missing).

    Without ``checkpoint`` the witness starts from size 0 (it will cosign any first checkpoint); with one
    (trusted by the operator, e.g. the log's latest cosigned checkpoint, ``note`` its signed form) it only
    cosigns checkpoints consistent with it. Raises OriginExistsError if the origin is already registered:
    re-initialising could roll the log back, so it takes deleting the state first.
    """
    if not origin or "\n" in origin:
        raise MalformedError(f"origin {origin!r} must be one non-empty line")
    if checkpoint is not None and checkpoint.origin != origin:
        raise MalformedError(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    size = 0 if checkpoint is None else checkpoint.size
    root = EMPTY_ROOT if checkpoint is None else checkpoint.root
    if not 0 <= size <= MAX_TREE_SIZE or len(root) != HASH_SIZE:
        raise MalformedError(f"checkpoint size {size} or root length {len(root)} out of range")
    path = Path(path)
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A WAL or shared-memory file left by a deleted state belongs to that state: SQLite would replay it
        # into the new file.
        for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            if stale.exists():
                log.warning("removing %s left behind by a deleted witness state", stale.name)
                stale.unlink(missing_ok=True)
    try:
        conn = _connect(path, create=True)
    except sqlite3.Error as exc:
        raise WitnessStateError(f"cannot create the witness state {path}: {exc}") from exc
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _has_schema(conn):
                # One statement at a time: executescript would commit the open transaction first.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            row = conn.execute(f"SELECT {_LOG_COLUMNS} FROM logs WHERE origin = ?", (origin,)).fetchone()
            if row is not None:
                raise OriginExistsError(origin, int(row[1]))
            conn.execute(
                "INSERT INTO logs (origin, size, root, note, cosigned_at, initialised_at) VALUES (?, ?, ?, ?, NULL, ?)",
                (origin, size, bytes(root), note, time.time() if now is None else now),
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    except sqlite3.Error as exc:
        raise WitnessStateError(f"cannot initialise the witness state {path}: {exc}") from exc
    finally:
        conn.close()
    if created:
        fsync_dir(path.parent)
    log.info("witness state %s: registered origin %s at size %d", path.name, origin, size)
    return LogState(origin, size, cast(Hash32, bytes(root)), note, None)


# -- serving --------------------------------------------------------------------------------------------------


class Transaction:
    """One open write transaction on the state (see ``WitnessState.transaction``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def log_state(self, origin: str) -> LogState:
        """The cosigned state of ``origin``; UnknownOriginError if the witness has no record of it."""
        row = self._conn.execute(f"SELECT {_LOG_COLUMNS} FROM logs WHERE origin = ?", (origin,)).fetchone()
        if row is None:
            raise UnknownOriginError(origin)
        return _log_state(row)

    def last_timestamp(self) -> int:
        """The latest cosignature timestamp this witness ever issued (0 before the first)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'last_timestamp'").fetchone()
        return 0 if row is None else int(row[0])

    def advance(self, origin: str, size: int, root: bytes, note: bytes, timestamp: int) -> None:
        """Record that ``origin`` was cosigned at ``size``/``root`` with ``timestamp``.

        The size must not be below the stored one and the timestamp not below the last one issued; breaking
        either is a bug of the caller (AssertionError), and nothing is written.
        """
        if not 0 <= size <= MAX_TREE_SIZE or len(root) != HASH_SIZE:
            raise AssertionError(f"advance of {origin!r} to size {size} with a {len(root)}-byte root")
        last = self.last_timestamp()
        if timestamp < last:
            raise AssertionError(f"cosignature timestamp {timestamp} is below the last one issued, {last}")
        updated = self._conn.execute(
            "UPDATE logs SET size = ?, root = ?, note = ?, cosigned_at = ? WHERE origin = ? AND size <= ?",
            (size, bytes(root), note, timestamp, origin, size),
        ).rowcount
        if updated != 1:
            raise AssertionError(f"refusing to move {origin!r} to size {size}: below its stored size, or unknown")
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_timestamp', ?)", (str(timestamp),))

    def record_conflict(
        self,
        stored: LogState,
        kind: ConflictKind,
        old_size: int,
        checkpoint: Checkpoint,
        note: bytes,
        proof: Sequence[bytes],
        reason: str,
        now: float,
    ) -> Conflict:
        """Keep ``note`` (refused as inconsistent with ``stored``) as evidence; a note kept before is counted."""
        note_hash = hashlib.sha256(note).digest()
        key = (stored.origin, kind.value, note_hash)
        found = self._conn.execute(
            "SELECT id FROM conflicts WHERE origin = ? AND kind = ? AND note_hash = ?", key
        ).fetchone()
        if found is None:
            conflict_id = self._conn.execute(
                "INSERT INTO conflicts (origin, kind, note_hash, old_size, size, root, note, proof, stored_size, "
                "stored_root, stored_note, reason, first_seen, last_seen, seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    *key,
                    old_size,
                    checkpoint.size,
                    bytes(checkpoint.root),
                    note,
                    b"".join(bytes(h) for h in proof),
                    stored.size,
                    bytes(stored.root),
                    stored.note,
                    reason,
                    now,
                    now,
                ),
            ).lastrowid
        else:
            conflict_id = int(found[0])
            self._conn.execute("UPDATE conflicts SET seen = seen + 1, last_seen = ? WHERE id = ?", (now, conflict_id))
        row = self._conn.execute(f"SELECT {_CONFLICT_COLUMNS} FROM conflicts WHERE id = ?", (conflict_id,)).fetchone()
        return _conflict(row)


class WitnessState:
    """The state file of one witness at ``path``. Cheap to create; holds no connection between calls."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _open(self) -> sqlite3.Connection | None:
        """A connection to the existing state, or None if there is none (never creates the file)."""
        if not self.path.exists():
            return None
        try:
            conn = _connect(self.path, create=False)
        except sqlite3.OperationalError:
            if not self.path.exists():  # deleted between the check and the open
                return None
            raise
        try:
            if _has_schema(conn):
                return conn
        except BaseException:
            conn.close()
            raise
        conn.close()
        return None

    @contextmanager
    def transaction(self, origin: str) -> Iterator[Transaction]:
        """One write transaction (``BEGIN IMMEDIATE``), committed durably when the block exits normally and
        rolled back if it raises. UnknownOriginError if there is no state or no record of ``origin``.
        """
        try:
            conn = self._open()
        except sqlite3.Error as exc:
            raise WitnessStateError(f"cannot open the witness state {self.path}: {exc}") from exc
        if conn is None:
            raise UnknownOriginError(origin, "this witness has no state; an operator must initialise it")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        except sqlite3.Error as exc:
            raise WitnessStateError(f"witness state {self.path} write failed: {exc}") from exc
        finally:
            conn.close()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            conn = self._open()
            if conn is None:
                return []
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise WitnessStateError(f"cannot read the witness state {self.path}: {exc}") from exc

    def logs(self) -> dict[str, LogState]:
        """Every log the witness has a record of, by origin (none when the state is missing)."""
        return {s.origin: s for s in map(_log_state, self._read(f"SELECT {_LOG_COLUMNS} FROM logs ORDER BY origin"))}

    def log_state(self, origin: str) -> LogState:
        rows = self._read(f"SELECT {_LOG_COLUMNS} FROM logs WHERE origin = ?", (origin,))
        if not rows:
            raise UnknownOriginError(origin)
        return _log_state(rows[0])

    def conflicts(self, origin: str | None = None) -> list[Conflict]:
        """The evidence kept, oldest first (of one origin, or of all)."""
        if origin is None:
            rows = self._read(f"SELECT {_CONFLICT_COLUMNS} FROM conflicts ORDER BY id")
        else:
            rows = self._read(f"SELECT {_CONFLICT_COLUMNS} FROM conflicts WHERE origin = ? ORDER BY id", (origin,))
        return [_conflict(row) for row in rows]
