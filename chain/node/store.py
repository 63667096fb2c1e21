"""Persistent, crash-safe key-value stores behind py-evm's database interface (``eth.abc.AtomicDatabaseAPI``).

py-evm 0.12 ships only an in-memory database; the node keeps its chain in one of these instead::

    with open_store(data_dir / "chain") as db:          # LMDB unless told otherwise
        chain = MyChain(db)                              # any py-evm Chain takes it as its base db

Three kinds, one behaviour (``docs/chain-store.md`` has the measurements that chose the default):

``lmdb``
    LMDB through the ``lmdb`` package, opened with ``sync=True, metasync=True``: a commit returns after the
    data pages and then the meta page are fsync'd. Copy-on-write B+tree, so there is nothing to recover
    after a crash: the last committed meta page is the database.
``sqlite``
    The standard library's SQLite, ``journal_mode=WAL``, ``synchronous=FULL``: a commit returns after the WAL
    is fsync'd; the next open replays committed WAL frames and drops torn ones.
``leveldb``
    LevelDB through the optional ``plyvel`` package (not a dependency of the project), every write with
    ``sync=True``: a commit returns after the log record holding the whole batch is fsync'd.

Semantics, the same for every kind:

- ``store[key] = value``, ``del store[key]``, ``store.set()``, ``store.delete()`` outside a batch are each
  their own transaction, durable when the call returns.
- ``with store.atomic_batch() as batch:`` buffers writes in memory; reads through ``batch`` see them, reads
  through ``store`` do not. When the block exits normally the whole batch is committed in one transaction
  and is durable when the ``with`` statement returns; when it exits by an exception nothing is written. A
  ``kill -9`` (or power loss, given a disk that honours flushes) at any moment leaves either all of a batch
  or none of it.
- ``with store.joined_batches():`` holds the calling thread's writes (batches included) in memory and commits
  them in one transaction when the block exits normally (nothing on an exception); the thread reads its own
  writes meanwhile, other threads see them after the commit. ``with store.holding(held):`` holds them in the
  dict ``held`` and commits nothing; ``joined_batches(held)`` commits them later with its own.
- One process at a time: opening takes an exclusive ``flock`` on ``store.lock`` in the store directory, so a
  second opener, in this process or another, gets :class:`StoreError` at once. The lock dies with the process.
- Keys are ``bytes`` of 1 to 511 bytes (LMDB's limit, applied to every kind so that they stay
  interchangeable); values are ``bytes`` of any length. Anything else raises :class:`MalformedError`.
- Iteration goes over the keys in bytewise order, in chunks; it is not a snapshot.
- A store is safe to share between threads of the one process that opened it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib
import json
import os
import sqlite3
import threading
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Final

import lmdb
from eth.abc import AtomicWriteBatchAPI
from eth.db.backends.base import BaseAtomicDB, BaseDB

from chain.errors import ChainError, MalformedError

__all__ = [
    "DEFAULT_KIND",
    "KINDS",
    "MAX_KEY_BYTES",
    "RESTORE_HINT",
    "LevelDbStore",
    "LmdbStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "available_kinds",
    "open_store",
]

KINDS: Final = ("lmdb", "sqlite", "leveldb")
DEFAULT_KIND: Final = "lmdb"
MAX_KEY_BYTES: Final = 511
MARKER = "STORE"
LOCK_FILE = "store.lock"
FORMAT = 1
LMDB_MAP_SIZE: Final = 1 << 40  # address space reserved, not disk used; a full map raises StoreError
_ITER_CHUNK = 1024
#: What to do with a data directory whose store cannot be read. A validator on a wiped directory, or on one restored
#: from a backup behind its peers, sits out the height in progress (docs/consensus.md, "A record behind its peers
#: abstains"); one restored at the network's head cannot tell what it signed after the backup.
RESTORE_HINT = (
    "move the data directory aside and let the node resync, or restore it from a backup taken before the network's "
    "latest block (a validator on either sits out the height in progress; one restored at the network's head is "
    "not covered: docs/consensus.md)"
)


class StoreError(ChainError):
    """The store cannot be opened or used: locked by another process, not a store, corrupt, closed, full."""


def available_kinds() -> tuple[str, ...]:
    """The kinds :func:`open_store` can open here (``leveldb`` only if ``plyvel`` is installed)."""
    return tuple(k for k in KINDS if k != "leveldb" or _plyvel_or_none() is not None)


def open_store(path: Path, kind: str = DEFAULT_KIND) -> Store:
    """Open (creating if needed) the store of ``kind`` in directory ``path``, locked for this process alone.

    Raises :class:`StoreError` if another process (or another open in this one) holds it, if ``path`` holds
    something else or a store of another kind, or if the data cannot be read.
    """
    classes: dict[str, type[Store]] = {"lmdb": LmdbStore, "sqlite": SqliteStore, "leveldb": LevelDbStore}
    if kind not in classes:
        raise StoreError(f"unknown store kind {kind!r}: choose one of {', '.join(KINDS)}")
    return classes[kind](path)


def _check_key(key: object) -> None:
    if not isinstance(key, bytes) or not 0 < len(key) <= MAX_KEY_BYTES:
        shown = f"{len(key)} bytes" if isinstance(key, bytes) else type(key).__name__
        raise MalformedError(f"store keys are bytes of 1 to {MAX_KEY_BYTES} bytes, got {shown}")


def _check_value(value: object) -> None:
    if not isinstance(value, bytes):
        raise MalformedError(f"store values are bytes, got {type(value).__name__}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(path: Path) -> int:
    """Take the exclusive lock of the store in ``path`` (which exists) or raise StoreError; return its fd."""
    lock_path = path / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StoreError(f"cannot open the lock file {lock_path}: {e.strerror}: check the permissions") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise StoreError(
                f"the store in {path} is already open (pid {holder}); only one process may use a store at a time:"
                " stop the other node, or give this one its own data directory"
            ) from e
        raise StoreError(f"cannot lock the store in {path}: {e.strerror}") from e
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _claim(path: Path, kind: str) -> int:
    """Check that ``path`` is a store of ``kind`` (or make it one), lock it; return the lock's fd."""
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} is a file, not a store directory: give a directory path")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the store directory {path}: {e.strerror}") from e
    if created:
        _fsync_dir(path.parent)
    marker = path / MARKER
    if not marker.exists() and any(p.name not in (LOCK_FILE, MARKER + ".tmp") for p in path.iterdir()):
        raise StoreError(f"{path} is not empty and holds no store: give an empty or new directory")
    fd = _lock(path)
    try:
        if marker.exists():
            try:
                found = json.loads(marker.read_text())
                found_kind, found_format = found["kind"], found["format"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise StoreError(f"unreadable store marker {marker}: {RESTORE_HINT}") from e
            if found_kind != kind:
                raise StoreError(f"{path} holds a {found_kind} store, not {kind}: open it with kind={found_kind!r}")
            if found_format != FORMAT:
                raise StoreError(f"{path} holds a store of format {found_format}; this version reads {FORMAT}")
        else:
            tmp = path / (MARKER + ".tmp")
            with tmp.open("w") as f:
                f.write(json.dumps({"kind": kind, "format": FORMAT}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(marker)
            _fsync_dir(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Store(BaseAtomicDB):
    """A persistent ``AtomicDatabaseAPI``; also closeable and a context manager. Open with :func:`open_store`.

    Subclasses provide the six primitives below; everything else (batches, checks, locking) is here.
    """

    kind: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._closed = True
        self._write_lock = threading.Lock()
        #: Per thread, inside :meth:`joined_batches`: its writes not yet committed (None: deleted).
        self._joined = threading.local()
        self._lock_fd = _claim(self.path, self.kind)
        try:
            self._open()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._closed = False

    # -- what a backend provides -------------------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None:
        """Open (creating if needed) the backend's files in ``self.path``; raise StoreError if unusable."""

    @abstractmethod
    def _get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or None."""

    @abstractmethod
    def _apply(self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes]) -> None:
        """Write ``puts`` then ``deletes`` (disjoint) in one durable transaction: all of them or none."""

    @abstractmethod
    def _delete_one(self, key: bytes) -> bool:
        """Delete ``key`` durably; whether it was there."""

    @abstractmethod
    def _keys_after(self, start: bytes | None, limit: int) -> list[bytes]:
        """Up to ``limit`` keys greater than ``start`` (all if None), in bytewise order."""

    @abstractmethod
    def _close(self) -> None:
        """Close the backend; called once."""

    # -- AtomicDatabaseAPI -----------------------------------------------------------------------------------

    def _read(self, key: bytes) -> bytes | None:
        if self._closed:
            raise self._closed_error()
        joined = self._joined.__dict__.get("pending")
        if joined is not None and key in joined:
            return joined[key]  # type: ignore[no-any-return]
        return self._get(key)

    def __getitem__(self, key: bytes) -> bytes:
        value = self._read(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: bytes, default: Any = None) -> Any:
        value = self._read(key)
        return default if value is None else value

    def _exists(self, key: bytes) -> bool:
        return self._read(key) is not None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        _check_key(key)
        _check_value(value)
        joined = self._joined.__dict__.get("pending")
        if joined is not None:
            joined[key] = value
            return
        with self._write_lock:
            if self._closed:
                raise self._closed_error()
            self._apply(((key, value),), ())

    def __delitem__(self, key: bytes) -> None:
        joined = self._joined.__dict__.get("pending")
        if joined is not None:
            if not self._exists(key):
                raise KeyError(key)
            joined[key] = None
            return
        with self._write_lock:
            if self._closed:
                raise self._closed_error()
            if not self._delete_one(key):
                raise KeyError(key)

    def __iter__(self) -> Iterator[bytes]:
        start: bytes | None = None
        while True:
            if self._closed:
                raise self._closed_error()
            keys = self._keys_after(start, _ITER_CHUNK)
            yield from keys
            if len(keys) < _ITER_CHUNK:
                return
            start = keys[-1]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @contextlib.contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        if self._closed:
            raise self._closed_error()
        batch = _WriteBatch(self)
        try:
            yield batch
            joined = self._joined.__dict__.get("pending")
            if joined is not None:
                joined.update(batch._pending)
                return
            puts, deletes = batch._changes()
            if puts or deletes:
                with self._write_lock:
                    if self._closed:
                        raise self._closed_error()
                    self._apply(puts, deletes)
        finally:
            batch._end()

    @contextlib.contextmanager
    def joined_batches(self, held: Mapping[bytes, bytes | None] | None = None) -> Iterator[None]:
        """Within this block, the calling thread's writes (its batches, and single writes) are held in memory and
        committed together, in one transaction, when the block exits normally: one durable write (one fsync)
        instead of one per batch. Nothing is written if it exits by an exception. Meanwhile the thread's own
        reads see them; other threads do not, until the commit. Nested, the inner block joins the outer one.
        ``held``: writes kept by :meth:`holding` before, committed in the same transaction.

        For writes that no reader needs before a later point, and that are atomic enough one by one: the trie
        nodes written while a block executes are content-addressed, and nothing refers to them before the block
        is stored, after the commit."""
        outer = self._joined.__dict__.get("pending")
        if outer is not None:
            outer.update(held or {})
            yield
            return
        pending: dict[bytes, bytes | None] = dict(held or {})
        self._joined.pending = pending
        try:
            yield
        finally:
            self._joined.pending = None
        puts = sorted((k, v) for k, v in pending.items() if v is not None)
        deletes = sorted(k for k, v in pending.items() if v is None)
        if puts or deletes:
            with self._write_lock:
                if self._closed:
                    raise self._closed_error()
                self._apply(puts, deletes)

    @contextlib.contextmanager
    def holding(self, held: dict[bytes, bytes | None]) -> Iterator[None]:
        """Within this block, the calling thread's writes (its batches, and single writes) go to ``held`` and are
        not committed, whether the block exits normally or not; the thread's reads see them (and what ``held``
        held before), other threads' do not. ``joined_batches(held)`` commits them later, in its transaction.
        Nested in a joined or holding block, the writes join that one and ``held`` stays as it was.

        For the trie nodes a block's execution writes: nothing but the executing thread reads them before the
        block is stored, and they are then stored in the block's own transaction (``chain.node.blocks``)."""
        if self._joined.__dict__.get("pending") is not None:
            yield
            return
        self._joined.pending = held
        try:
            yield
        finally:
            self._joined.pending = None

    # -- lifetime ------------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the store and release its lock; idempotent. Committed data is on disk already."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._close()
            finally:
                os.close(self._lock_fd)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.path)!r}{' closed' if self._closed else ''}>"

    def _closed_error(self) -> StoreError:
        return StoreError(f"the store in {self.path} is closed")


class _WriteBatch(BaseDB, AtomicWriteBatchAPI):
    """The pending writes of one ``atomic_batch``; reads fall through to the store for keys it has not touched."""

    def __init__(self, store: Store) -> None:
        self._store: Store | None = store
        self._pending: dict[bytes, bytes | None] = {}  # None: deleted in this batch

    def _live(self) -> Store:
        if self._store is None:
            raise StoreError("a write batch was used after its `with store.atomic_batch()` block ended")
        return self._store

    def __getitem__(self, key: bytes) -> bytes:
        store = self._live()
        if key in self._pending:
            value = self._pending[key]
            if value is None:
                raise KeyError(key)
            return value
        return store[key]

    def _exists(self, key: bytes) -> bool:
        store = self._live()
        if key in self._pending:
            return self._pending[key] is not None
        return store._exists(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._live()
        _check_key(key)
        _check_value(value)
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[key] = None

    def _changes(self) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        puts = sorted((k, v) for k, v in self._pending.items() if v is not None)
        deletes = sorted(k for k, v in self._pending.items() if v is None)
        return puts, deletes

    def _end(self) -> None:
        self._store = None
        self._pending = {}


# -- LMDB ---------------------------------------------------------------------------------------------------------


class LmdbStore(Store):
    """LMDB, ``sync=True, metasync=True``: commits fsync data then meta page; no recovery step on open."""

    kind = "lmdb"
    _env: lmdb.Environment

    def _open(self) -> None:
        try:
            self._env = lmdb.open(
                str(self.path / "lmdb"),
                map_size=LMDB_MAP_SIZE,
                subdir=True,
                sync=True,
                metasync=True,
                readahead=False,
                meminit=False,
                max_dbs=0,
                max_spare_txns=16,
                lock=True,
            )
        except lmdb.Error as e:
            raise StoreError(f"cannot open the LMDB store in {self.path}: {e}: {RESTORE_HINT}") from e
        self._env.reader_check()  # clear reader slots left by killed processes
        _fsync_dir(self.path)

    def _get(self, key: bytes) -> bytes | None:
        try:
            with self._env.begin() as txn:
                return txn.get(key)
        except lmdb.BadValsizeError:
            return None  # a key LMDB cannot hold is not there
        except lmdb.Error as e:  # MDB_CORRUPTED and friends: a damaged file, not a missing key
            raise StoreError(f"read from the LMDB store in {self.path} failed: {e}: {RESTORE_HINT}") from e

    def _apply(self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes]) -> None:
        try:
            with self._env.begin(write=True) as txn:
                for key, value in puts:
                    txn.put(key, value)
                for key in deletes:
                    txn.delete(key)
        except lmdb.MapFullError as e:
            raise StoreError(
                f"the LMDB store in {self.path} reached its map size ({LMDB_MAP_SIZE} bytes); nothing of this"
                " write was stored: raise chain.node.store.LMDB_MAP_SIZE"
            ) from e
        except lmdb.Error as e:
            raise StoreError(f"write to the LMDB store in {self.path} failed, nothing of it was stored: {e}") from e

    def _delete_one(self, key: bytes) -> bool:
        try:
            with self._env.begin(write=True) as txn:
                return txn.delete(key)
        except lmdb.BadValsizeError:
            return False
        except lmdb.Error as e:
            raise StoreError(f"delete in the LMDB store in {self.path} failed: {e}") from e

    def _keys_after(self, start: bytes | None, limit: int) -> list[bytes]:
        keys: list[bytes] = []
        try:
            with self._env.begin() as txn, txn.cursor() as cur:
                found = cur.set_range(start) if start is not None else cur.first()
                if found and start is not None and cur.key() == start:
                    found = cur.next()
                while found and len(keys) < limit:
                    keys.append(cur.key())
                    found = cur.next()
        except lmdb.Error as e:
            raise StoreError(f"reading keys of the LMDB store in {self.path} failed: {e}: {RESTORE_HINT}") from e
        return keys

    def _close(self) -> None:
        self._env.close()


# -- SQLite -------------------------------------------------------------------------------------------------------


class SqliteStore(Store):
    """SQLite, WAL, ``synchronous=FULL``: commits fsync the WAL; the next open replays it."""

    kind = "sqlite"
    _conn: sqlite3.Connection

    def _open(self) -> None:
        file = self.path / "store.sqlite"
        self._sql_lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(file, isolation_level=None, check_same_thread=False, timeout=0)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the SQLite store {file}: {e}: {RESTORE_HINT}") from e
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"the SQLite store {file} refused WAL mode ({mode}): is it on a network filesystem?")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID"
            )
            self._conn.execute("SELECT 1 FROM kv LIMIT 1").fetchall()
        except sqlite3.Error as e:
            self._conn.close()
            raise StoreError(f"cannot read the SQLite store {file}: {e}: {RESTORE_HINT}") from e
        except BaseException:
            self._conn.close()
            raise
        _fsync_dir(self.path)

    def _get(self, key: bytes) -> bytes | None:
        with self._sql_lock:
            row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _apply(self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes]) -> None:
        with self._sql_lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", puts)
                    self._conn.executemany("DELETE FROM kv WHERE k = ?", [(k,) for k in deletes])
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise StoreError(
                    f"write to the SQLite store in {self.path} failed, nothing of it was stored: {e}"
                ) from e

    def _delete_one(self, key: bytes) -> bool:
        with self._sql_lock:
            try:
                return self._conn.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount > 0
            except sqlite3.Error as e:
                raise StoreError(f"delete in the SQLite store in {self.path} failed: {e}") from e

    def _keys_after(self, start: bytes | None, limit: int) -> list[bytes]:
        with self._sql_lock:
            rows = self._conn.execute(
                "SELECT k FROM kv WHERE k > ? ORDER BY k LIMIT ?", (start if start is not None else b"", limit)
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def _close(self) -> None:
        with self._sql_lock:
            self._conn.close()


# -- LevelDB ------------------------------------------------------------------------------------------------------


def _plyvel_or_none() -> Any:
    try:
        return importlib.import_module("plyvel")  # optional, untyped: imported by name
    except ImportError:
        return None


class LevelDbStore(Store):
    """LevelDB via the optional ``plyvel``, every write ``sync=True``: commits fsync the log record."""

    kind = "leveldb"
    _db: Any

    def __init__(self, path: Path) -> None:
        if _plyvel_or_none() is None:  # before the directory is marked as a LevelDB store
            raise StoreError("LevelDB stores need the optional package plyvel: pip install plyvel")
        super().__init__(path)

    def _open(self) -> None:
        plyvel = _plyvel_or_none()
        self._plyvel_error: type[Exception] = plyvel.Error
        try:
            self._db = plyvel.DB(
                str(self.path / "leveldb"),
                create_if_missing=True,
                paranoid_checks=True,
                lru_cache_size=64 << 20,
                bloom_filter_bits=10,
            )
        except plyvel.Error as e:
            raise StoreError(f"cannot open the LevelDB store in {self.path}: {e}: {RESTORE_HINT}") from e
        _fsync_dir(self.path)

    def _get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def _apply(self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes]) -> None:
        batch = self._db.write_batch(sync=True)
        for key, value in puts:
            batch.put(key, value)
        for key in deletes:
            batch.delete(key)
        try:
            batch.write()
        except self._plyvel_error as e:
            raise StoreError(f"write to the LevelDB store in {self.path} failed, nothing of it was stored: {e}") from e

    def _delete_one(self, key: bytes) -> bool:
        if self._db.get(key) is None:
            return False
        try:
            self._db.delete(key, sync=True)
        except self._plyvel_error as e:
            raise StoreError(f"delete in the LevelDB store in {self.path} failed: {e}") from e
        return True

    def _keys_after(self, start: bytes | None, limit: int) -> list[bytes]:
        keys: list[bytes] = []
        it = self._db.iterator(start=start, include_start=False, include_value=False)
        try:
            for key in it:
                keys.append(key)
                if len(keys) >= limit:
                    break
        finally:
            it.close()
        return keys

    def _close(self) -> None:
        self._db.close()
        self._db = None  # plyvel's DB, freed late at interpreter exit, would print an error from its destructor
