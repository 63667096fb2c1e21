"""The distributed storage backend: PostgreSQL sequences and coordinates, an S3-compatible object store serves.

PostgreSQL holds what must be decided under a lock and found by key: the tree state (one row, locked ``FOR
UPDATE`` by each batch, so notary replicas take turns and no index is given twice or skipped), the right-edge
tiles, the entries' index (event id → index, gateway, sequence number, content for duplicate checks), batches,
gateways' sequence numbers and gaps, checkpoints, anchors, alarms, and the objects still to publish.

The object store holds what readers fetch: hash tiles and entry bundles under their C2SP tlog-tiles paths
(``tile/<L>/<N>``, ``tile/<L>/<N>.p/<W>``, ``tile/entries/<N>[.p/<W>]``), each written once with a conditional
write (``If-None-Match: *``), and the latest published checkpoint (``checkpoint``). Proofs, tiles and bundles
are read from there, never from the database.

A batch commits its entries, the tiles and bundles it changed (as rows of ``pending``) and the new tree size in
one transaction; the objects are written after the commit and the ``published`` watermark advances once every
object of every batch up to it is in the object store. Reads serve the published size. A crash, or an object
store outage, between the commit and the writes leaves the objects in ``pending``: :meth:`PostgresStore.maintain`
(run when a store opens, before each batch while publication lags, and periodically by the service, by any
replica) writes them. A conditional write that finds the object already there is success when the bytes are the
same (another replica, or an earlier attempt, wrote it) and an integrity alarm when they differ.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from notary.log.checkpoint import parse_checkpoint
from notary.log.errors import MalformedError
from notary.log.note import parse_note
from notary.log.tiles import TILE_WIDTH, entries_path, format_entry_bundle, parse_entry_bundle, tile_path
from notary.storage.base import (
    ALARM_COLUMNS,
    ALARMS_INDEX,
    ANCHOR_COLUMNS,
    ANCHOR_SUBJECT,
    ANCHORS_CHECKED_KEY,
    CHECKPOINT_SUBJECT,
    AlarmKey,
    AlarmRow,
    AnchorRow,
    BatchRow,
    BatchWrite,
    CheckpointRow,
    EntryRow,
    IntegrityError,
    NotLeaderError,
    Plan,
    StoreError,
    StoreUnavailableError,
    TreeState,
    alarm_row,
    alarms_page,
    anchor_row,
    edge_widths,
)
from notary.storage.schema import Migration, Schema, migrate

log = logging.getLogger("notary.storage")

_HASH = 32

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tree (
    id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, published BIGINT NOT NULL, last_time BIGINT NOT NULL
);
INSERT INTO tree (id, size, published, last_time) VALUES (1, 0, 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS edge (level INTEGER PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    idx BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, gateway TEXT NOT NULL, seq BIGINT NOT NULL,
    batch BIGINT NOT NULL, data BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id BIGSERIAL PRIMARY KEY, gateway TEXT NOT NULL, first BIGINT NOT NULL UNIQUE, count BIGINT NOT NULL,
    time_ms BIGINT NOT NULL, note BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS gateways (id TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS gaps (
    gateway TEXT NOT NULL, first BIGINT NOT NULL, last BIGINT NOT NULL, found_ms BIGINT NOT NULL,
    PRIMARY KEY (gateway, first)
);
CREATE TABLE IF NOT EXISTS pending (
    key TEXT PRIMARY KEY, first BIGINT NOT NULL, end_size BIGINT NOT NULL, data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_first ON pending (first);
CREATE TABLE IF NOT EXISTS checkpoints (
    size BIGINT PRIMARY KEY, root BYTEA NOT NULL, time_ms BIGINT NOT NULL, note BYTEA NOT NULL,
    cosigned BYTEA, published_ms BIGINT, cosigners TEXT
);
CREATE TABLE IF NOT EXISTS anchors (
    size BIGINT PRIMARY KEY, tx_hash TEXT NOT NULL, raw_tx BYTEA NOT NULL, nonce BIGINT NOT NULL,
    state TEXT NOT NULL, sent_ms BIGINT NOT NULL, block_number BIGINT, block_hash TEXT, confirmed_ms BIGINT
);
CREATE TABLE IF NOT EXISTS alarms (
    id BIGSERIAL PRIMARY KEY, time_ms BIGINT NOT NULL, kind TEXT NOT NULL, size BIGINT, message TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;
"""

_SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS leader (
    id INTEGER PRIMARY KEY CHECK (id = 1), token BIGINT NOT NULL, holder TEXT, since TIMESTAMPTZ
);
INSERT INTO leader (id, token) VALUES (1, 0) ON CONFLICT DO NOTHING;
"""

#: The subject of an alarm recorded before alarms had one: the size for the kinds of one alarm per size, the
#: witness of a ``split-view``, the object's key of an ``object-mismatch`` (the checkpoint object's size), else
#: the message.
_LEGACY_SUBJECT = r"""CASE
    WHEN kind = 'anchor-mismatch' AND size IS NOT NULL THEN 'anchor ' || size
    WHEN kind = 'checkpoint-mismatch' AND size IS NOT NULL THEN 'checkpoint ' || size
    WHEN kind = 'split-view' AND message LIKE 'witness % refused %' THEN 'witness ' || split_part(message, ' ', 2)
    WHEN kind = 'object-mismatch' AND message ~ 'under the immutable key \S+ than'
        THEN substring(message from 'under the immutable key (\S+) than')
    WHEN kind = 'object-mismatch' AND message ~ 'as checkpoint \d+ than'
        THEN 'checkpoint ' || substring(message from 'as checkpoint (\d+) than')
    ELSE message
END"""

_SCHEMA_V3 = (
    "ALTER TABLE alarms ADD COLUMN subject TEXT, ADD COLUMN last_ms BIGINT, ADD COLUMN count BIGINT NOT NULL DEFAULT 1",
    f"UPDATE alarms SET subject = {_LEGACY_SUBJECT}, last_ms = time_ms",
    """UPDATE alarms SET time_ms = found.first_ms, last_ms = found.last_ms, count = found.n FROM (
        SELECT MIN(id) AS id, MIN(time_ms) AS first_ms, MAX(time_ms) AS last_ms, COUNT(*) AS n
        FROM alarms GROUP BY kind, subject
    ) AS found WHERE alarms.id = found.id""",
    "DELETE FROM alarms a USING alarms b WHERE a.kind = b.kind AND a.subject = b.subject AND a.id > b.id",
    "ALTER TABLE alarms ALTER COLUMN subject SET NOT NULL, ALTER COLUMN last_ms SET NOT NULL",
    "CREATE UNIQUE INDEX alarms_subject ON alarms (kind, subject)",
    "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
)

_SCHEMA_V4 = (
    "ALTER TABLE alarms ADD COLUMN resolved_ms BIGINT, ADD COLUMN resolved_by TEXT, ADD COLUMN reason TEXT",
    "ALTER TABLE alarms ADD CONSTRAINT alarms_resolution "
    "CHECK ((resolved_ms IS NULL) = (resolved_by IS NULL) AND (resolved_ms IS NULL) = (reason IS NULL))",
    "DROP INDEX alarms_subject",
    "CREATE UNIQUE INDEX alarms_open ON alarms (kind, subject) WHERE resolved_ms IS NULL",
    "UPDATE meta SET value = '4' WHERE key = 'schema_version'",
)

_SCHEMA_V5 = (ALARMS_INDEX, "UPDATE meta SET value = '5' WHERE key = 'schema_version'")

#: An alarm found: a new row, or the count and the last time of the open one of its kind and subject.
_ADD_ALARM = (
    "INSERT INTO alarms (time_ms, kind, size, message, subject, last_ms, count) VALUES (%s, %s, %s, %s, %s, %s, 1) "
    "ON CONFLICT (kind, subject) WHERE resolved_ms IS NULL DO UPDATE SET count = alarms.count + 1, "
    "last_ms = GREATEST(alarms.last_ms, EXCLUDED.last_ms), time_ms = LEAST(alarms.time_ms, EXCLUDED.time_ms)"
)

#: The store's migrations (``notary.storage.schema``); version 1 is the schema of the releases before them.
SCHEMA = Schema(
    "notary",
    (
        Migration(1, "the tables of the first releases", (_SCHEMA_V1,)),
        Migration(
            2,
            "leader election among replicas: the fencing token of the current leader, checked by every "
            "leader-only write (notary.storage.leader)",
            (_SCHEMA_V2,),
        ),
        Migration(
            3,
            "one alarm per kind and subject, counted and with the time it was last found, instead of a row each "
            "time the same condition is found (a changed object at every publication); the alarms of before "
            "folded by the subject they were about; the meta schema_version 3, which the releases before the "
            "version table refuse",
            _SCHEMA_V3,
        ),
        Migration(
            4,
            "an alarm is resolved by an operator (when, by whom, why; never deleted), and one kind and subject has "
            "one open alarm rather than one alarm for ever: found again after its alarm was resolved, it opens a "
            "new one; the meta schema_version 4",
            _SCHEMA_V4,
        ),
        Migration(
            5,
            "an index on (last_ms, id), the order of the alarms' pages and their cursor: a page of GET /v1/alarms "
            "reads its rows from the index instead of sorting the table; the meta schema_version 5",
            _SCHEMA_V5,
        ),
    ),
    tables=(
        "meta",
        "tree",
        "edge",
        "entries",
        "batches",
        "gateways",
        "gaps",
        "pending",
        "checkpoints",
        "anchors",
        "alarms",
    ),
    legacy_lock=0x6E6F74617279,
)
SCHEMA_VERSION = SCHEMA.latest

_CHECKPOINT_KEY = "checkpoint"
_CHECKPOINT_META = "checkpoint_object"  # meta: the size of the checkpoint last written to the object store
_CAS_ATTEMPTS = 8  # conditional writes of the checkpoint object before giving up until the next publication


def _checkpoint_size(data: bytes) -> int | None:
    """The size of the checkpoint in a cosigned note, or None if it holds none."""
    try:
        return parse_checkpoint(parse_note(data).text).size
    except (MalformedError, UnicodeDecodeError):
        return None


def _redacted(url: str) -> str:
    """A database URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# ---------------------------------------------------------------------------------------------- object store


@dataclass(frozen=True)
class ObjectStoreConfig:
    """Where the objects go: ``bucket`` (and a key ``prefix``), at ``endpoint`` (None: AWS itself). Credentials
    come from the usual AWS sources (environment, profile) unless given."""

    bucket: str
    endpoint: str | None = None
    prefix: str = ""
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    timeout_s: float = 5.0

    @classmethod
    def parse(cls, url: str) -> ObjectStoreConfig:
        """``s3://bucket[/prefix]?endpoint=http://host:port&region=…``."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StoreError(f"object store {url!r}: expected s3://bucket[/prefix][?endpoint=…&region=…]")
        query = dict(urllib.parse.parse_qsl(parts.query))
        prefix = parts.path.strip("/")
        return cls(
            bucket=parts.netloc, endpoint=query.get("endpoint"), prefix=prefix + "/" if prefix else "",
            region=query.get("region"),
        )  # fmt: skip

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


class ObjectStore:
    """The bucket, through boto3: immutable conditional writes, reads, and one object replaced by compare-and-swap
    on its ETag."""

    def __init__(self, config: ObjectStoreConfig) -> None:
        import boto3
        from botocore.config import Config

        self.config = config
        self._client = boto3.client(
            "s3",
            endpoint_url=config.endpoint,
            region_name=config.region or "us-east-1",
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
            config=Config(
                connect_timeout=config.timeout_s, read_timeout=config.timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )  # fmt: skip

    def _unreachable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the object store ({self.config.describe()}) is unreachable: {exc.__class__.__name__}: {exc}"
        )

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500:
                raise self._unreachable(exc) from exc
            raise StoreError(f"the object store ({self.config.describe()}) refused {what}: {exc}") from exc
        except BotoCoreError as exc:
            raise self._unreachable(exc) from exc

    def get(self, key: str) -> bytes | None:
        found = self.get_tagged(key)
        return None if found is None else found[0]

    def put_immutable(self, key: str, data: bytes) -> None:
        """Create ``key`` with ``data`` unless it exists; if it does, it must hold ``data`` (IntegrityError)."""
        from botocore.exceptions import ClientError

        with self._calls(f"writing {key}"):
            try:
                self._client.put_object(
                    Bucket=self.config.bucket, Key=self.config.prefix + key, Body=data, IfNoneMatch="*"
                )
                return
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if status not in (409, 412):  # 412: it exists; 409: a concurrent write of it is under way
                    raise
            found = self.get(key)
            if found is None:  # a concurrent conditional write not finished yet: write once more
                self._client.put_object(
                    Bucket=self.config.bucket, Key=self.config.prefix + key, Body=data, IfNoneMatch="*"
                )
                return
        if found != data:
            raise IntegrityError(
                f"integrity alarm: the object store ({self.config.describe()}) holds other bytes under the "
                f"immutable key {key} than the log committed (tampering, or another log writing this bucket)"
            )

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag (the version a conditional write names), or None if there is none."""
        from botocore.exceptions import ClientError

        with self._calls(f"reading {key}"):
            try:
                response = self._client.get_object(Bucket=self.config.bucket, Key=self.config.prefix + key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            return bytes(response["Body"].read()), str(response["ETag"])

    def replace(self, key: str, data: bytes, etag: str | None) -> bool:
        """Write ``data`` under ``key`` only if the object is still the version ``etag`` names (``If-Match``), or,
        with None, only if there is none (``If-None-Match: *``); False when another write came first."""
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        with self._calls(f"writing {key}"):
            try:
                self._client.put_object(Bucket=self.config.bucket, Key=self.config.prefix + key, Body=data, **condition)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                # 412: the condition failed; 409: a concurrent conditional write; 404: deleted meanwhile
                if status in (404, 409, 412):
                    return False
                raise
        return True


# ---------------------------------------------------------------------------------------------- the store


@dataclass(slots=True)
class _Edge:
    size: int
    edge: dict[int, bytes]


class PostgresStore:
    """A notary store on PostgreSQL (``database_url``) and an S3-compatible bucket; implements
    ``notary.storage.base.NotaryStorage``. Any number of instances, in any number of processes, may share one
    database and bucket."""

    def __init__(self, database_url: str, objects: ObjectStore | ObjectStoreConfig, connect_timeout: int = 5) -> None:
        self.url = database_url
        self._where = _redacted(database_url)
        self._connect_timeout = connect_timeout
        self.objects = objects if isinstance(objects, ObjectStore) else ObjectStore(objects)
        self._write_lock = threading.RLock()
        self._publish_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[psycopg.Connection[Any]] = []  # every thread's, closed by close()
        self._readers_lock = threading.Lock()
        self._writer: psycopg.Connection[Any] | None = None
        self._edge: _Edge | None = None
        #: The fencing token this replica holds as leader (``notary.storage.leader``), None when it does not
        #: lead. Unset (None here): no election, every leader-only write is let through (one replica, tests).
        self.fence: Callable[[], int | None] | None = None
        self._migrate()
        try:
            self.maintain()
        except StoreUnavailableError as exc:  # serve what is published; sequencing retries the publication
            log.warning("publication of pending objects deferred: %s", exc)

    def _migrate(self) -> None:
        """Bring the database to :data:`SCHEMA_VERSION` (refusing one a later release migrated), on a
        connection of its own: the migration is a transaction of its own, all or nothing."""
        conn = self._connect(autocommit=True)
        try:
            migrate(conn, SCHEMA)  # a SchemaError (a StoreError) as it is: SchemaNewerError says what to do
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from exc
        except psycopg.Error as exc:
            raise StoreError(f"the notary store's schema could not be read ({self._where}): {exc}") from exc
        finally:
            conn.close()

    # ------------------------------------------------------------------------------------------ connections

    def _unreachable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(f"the database ({self._where}) is unreachable: {exc.__class__.__name__}: {exc}")

    def _connect(self, autocommit: bool) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, autocommit=autocommit, connect_timeout=self._connect_timeout)
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from exc

    def _reader(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._connect(autocommit=True)
            with self._readers_lock:
                self._readers = [c for c in self._readers if not c.closed] + [conn]
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        for attempt in (0, 1):  # a connection lost while idle (a database restart): once more on a new one
            conn = self._reader()
            try:
                return conn.execute(sql, params).fetchall()
            except psycopg.OperationalError as exc:
                conn.close()
                if attempt:
                    raise self._unreachable(exc) from exc
            except psycopg.Error as exc:
                raise StoreError(f"notary store read failed ({self._where}): {exc}") from exc
        raise AssertionError("unreachable")

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the writer connection (threads of this process take turns); rolled back on any
        error. A connection lost while idle is made anew before the transaction begins."""
        with self._write_lock, ExitStack() as stack:
            for attempt in (0, 1):
                conn: psycopg.Connection[Any] = self._writer or self._connect(autocommit=True)
                if conn.closed or conn.broken:
                    conn = self._connect(autocommit=True)
                self._writer = conn
                try:
                    stack.enter_context(conn.transaction())  # BEGIN
                    break
                except psycopg.OperationalError as exc:
                    conn.close()
                    self._writer = None
                    if attempt:
                        raise self._unreachable(exc) from exc
            try:
                with stack:
                    yield conn
            except psycopg.OperationalError as exc:
                conn.close()
                self._writer = None
                raise self._unreachable(exc) from exc
            except psycopg.Error as exc:
                raise StoreError(f"notary store write failed ({self._where}): {exc}") from exc

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()

    # ------------------------------------------------------------------------------------------ sequencing

    def sequence(self, gateway: str, event_ids: Sequence[str], plan: Plan) -> BatchWrite | None:
        size, published = self._sizes()
        if published < size:
            self.maintain()  # an earlier batch's objects (a crash, an outage): publish them first
        with self._transaction() as conn:
            size, last_time = _one(conn.execute("SELECT size, last_time FROM tree WHERE id = 1 FOR UPDATE").fetchone())
            cached = self._edge
            if cached is None or cached.size != size:
                rows = conn.execute("SELECT level, data FROM edge").fetchall()
                cached = _Edge(size, {int(level): bytes(data) for level, data in rows})
            row = conn.execute("SELECT last_seq FROM gateways WHERE id = %s", (gateway,)).fetchone()
            gaps = [
                (int(a), int(b), int(t))
                for a, b, t in conn.execute(
                    "SELECT first, last, found_ms FROM gaps WHERE gateway = %s ORDER BY first", (gateway,)
                )
            ]
            existing = {
                str(r[1]): EntryRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), bytes(r[5]))
                for r in conn.execute(
                    "SELECT idx, event_id, gateway, seq, batch, data FROM entries WHERE event_id = ANY(%s)",
                    (list(event_ids),),
                )
            }
            state = TreeState(size, dict(cached.edge), int(last_time), int(row[0]) if row else 0, gaps, existing)
            write = plan(state)
            if write is None:
                return None
            if write.first != size:
                raise AssertionError(f"a batch planned at size {write.first} in a tree of size {size}")
            end = size + len(write.entries)
            edge = self._insert(conn, write, gaps, cached.edge, end)
            conn.execute(
                "UPDATE tree SET size = %s, last_time = GREATEST(last_time, %s) WHERE id = 1", (end, write.time_ms)
            )
        self._edge = _Edge(end, edge)
        try:
            self.maintain()
        except StoreUnavailableError as exc:
            raise StoreUnavailableError(
                f"{exc}; the batch was committed as entries {size}..{end - 1} and its tiles are published as soon "
                "as the object store answers: resubmit it then for its receipts"
            ) from exc
        return write

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        write: BatchWrite,
        old_gaps: list[tuple[int, int, int]],
        old_edge: dict[int, bytes],
        end: int,
    ) -> dict[int, bytes]:
        gateway, first = write.gateway, write.first
        batch_id = conn.execute(
            "INSERT INTO batches (gateway, first, count, time_ms, note) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (gateway, first, len(write.entries), write.time_ms, write.note),
        ).fetchone()
        batch_id = _one(batch_id)[0]
        with (
            conn.cursor() as cur,
            cur.copy("COPY entries (idx, event_id, gateway, seq, batch, data) FROM STDIN") as copy,
        ):
            for i, (eid, seq, data) in enumerate(write.entries):
                copy.write_row((first + i, eid, gateway, seq, batch_id, data))
        conn.execute(
            "INSERT INTO gateways (id, last_seq) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET last_seq = %s",
            (gateway, write.last_seq, write.last_seq),
        )
        if write.gaps != old_gaps:
            conn.execute("DELETE FROM gaps WHERE gateway = %s", (gateway,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO gaps (gateway, first, last, found_ms) VALUES (%s, %s, %s, %s)",
                    [(gateway, a, b, t) for a, b, t in write.gaps],
                )
        # the new right edge, for the next batch (of any replica)
        widths = edge_widths(end)
        edge = {level: data for level, data in old_edge.items() if widths.get(level) == len(data) // _HASH}
        for (level, index), data in write.tiles.items():
            if level in widths and index == (end >> (8 * level)) // TILE_WIDTH:
                edge[level] = data
        conn.execute("DELETE FROM edge")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO edge (level, data) VALUES (%s, %s)", list(edge.items()))
        # the objects to publish: every tile the batch changed and every entry bundle it touched
        objects = [(tile_path(level, index, len(data) // _HASH), data) for (level, index), data in write.tiles.items()]
        bundle = first // TILE_WIDTH * TILE_WIDTH
        earlier = [
            bytes(r[0])
            for r in conn.execute(
                "SELECT data FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx", (bundle, first)
            ).fetchall()
        ]
        entries = earlier + [data for _, _, data in write.entries]
        for start in range(bundle, end, TILE_WIDTH):
            part = entries[start - bundle : start - bundle + TILE_WIDTH]
            objects.append((entries_path(start // TILE_WIDTH, len(part)), format_entry_bundle(part)))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO pending (key, first, end_size, data) VALUES (%s, %s, %s, %s)",
                [(key, first, end, data) for key, data in objects],
            )
        return edge

    # ------------------------------------------------------------------------------------------ publication

    def _sizes(self) -> tuple[int, int]:
        rows = self._query("SELECT size, published FROM tree WHERE id = 1")
        return int(rows[0][0]), int(rows[0][1])

    def maintain(self) -> None:
        """Publish what the database committed and the object store lacks: pending tiles and bundles (in size
        order, advancing the published watermark), and the latest published checkpoint. Safe in any replica at
        any time: every write is idempotent."""
        with self._publish_lock:
            pending = self._query("SELECT key, end_size, data FROM pending ORDER BY end_size, key")
            groups: dict[int, list[tuple[str, bytes]]] = {}
            for key, end_size, data in pending:
                groups.setdefault(int(end_size), []).append((str(key), bytes(data)))
            for end_size, objects in groups.items():
                for key, data in objects:
                    try:
                        self.objects.put_immutable(key, data)
                    except IntegrityError as exc:
                        self.add_alarm(int(time.time() * 1000), "object-mismatch", end_size, str(exc), subject=key)
                        raise
                self._advance(end_size)
            if not groups:
                size, published = self._sizes()
                if published < size:  # another replica published the objects, its watermark step lost a race
                    self._advance(None)
            self._publish_checkpoint_object()

    def _advance(self, published_end: int | None) -> None:
        """Forget the pending rows of the batch ending at ``published_end`` (its objects are written), and move
        the watermark to the start of the oldest batch still pending, or to the tree size if none is. The tree
        row is locked first, so the statements after it see every batch committed (each commits under that
        lock) and no batch commits meanwhile."""
        with self._transaction() as conn:
            conn.execute("SELECT size FROM tree WHERE id = 1 FOR UPDATE")
            if published_end is not None:
                conn.execute("DELETE FROM pending WHERE end_size = %s", (published_end,))
            conn.execute(
                "UPDATE tree SET published = GREATEST(published, COALESCE((SELECT MIN(first) FROM pending), size)) "
                "WHERE id = 1"
            )

    def _publish_checkpoint_object(self) -> None:
        latest = self.latest_checkpoint(published=True)
        if latest is None or latest.cosigned is None:
            return
        if self.meta(_CHECKPOINT_META) == str(latest.size):
            return
        self._raise_checkpoint_object(latest.size, latest.cosigned)
        with self._transaction() as conn:  # only forward: a slower replica never records an older one
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = "
                "EXCLUDED.value WHERE meta.value::BIGINT < EXCLUDED.value::BIGINT",
                (_CHECKPOINT_META, str(latest.size)),
            )

    def _raise_checkpoint_object(self, size: int, cosigned: bytes) -> None:
        """Make the ``checkpoint`` object the published checkpoint of ``size`` unless it holds a larger one: a
        compare-and-swap on the object's ETag (``If-Match``; ``If-None-Match: *`` while there is none), so a slower
        replica, or a leader deposed after its publication committed, never writes an older checkpoint over a
        newer one. The bytes come from the database, where a size is published once (a fenced write)."""
        for _ in range(_CAS_ATTEMPTS):
            found = self.objects.get_tagged(_CHECKPOINT_KEY)
            etag = None
            if found is not None:
                data, etag = found
                there = _checkpoint_size(data)
                if there == size and data != cosigned:
                    message = (
                        f"integrity alarm: the object store ({self.objects.config.describe()}) holds other bytes "
                        f"as checkpoint {size} than the log published (tampering, or another log writing this bucket)"
                    )
                    subject = CHECKPOINT_SUBJECT.format(size=size)  # the one object holds each size in turn
                    self.add_alarm(int(time.time() * 1000), "object-mismatch", size, message, subject=subject)
                    raise IntegrityError(message)
                if there is not None and there >= size:
                    return  # this checkpoint, or a newer one, is there already
                if there is None:
                    log.warning(
                        "the object store's checkpoint object is unreadable; replacing it with checkpoint %d", size
                    )
            if self.objects.replace(_CHECKPOINT_KEY, cosigned, etag):
                return
        raise StoreError(
            f"the checkpoint object changed under each of {_CAS_ATTEMPTS} conditional writes of checkpoint {size} "
            f"({self.objects.config.describe()}); the next publication or maintenance writes it"
        )

    # ------------------------------------------------------------------------------------------ tree reads

    def size(self) -> int:
        """The published size: every tile and bundle of it is in the object store."""
        return self._sizes()[1]

    def _tile_key(self, level: int, index: int, size: int) -> str | None:
        count = size >> (8 * level)
        if index < count // TILE_WIDTH:
            return tile_path(level, index)
        if index == count // TILE_WIDTH and count % TILE_WIDTH:
            return tile_path(level, index, count % TILE_WIDTH)
        return None

    def tile(self, level: int, index: int) -> bytes:
        key = self._tile_key(level, index, self.size())
        if key is None:
            return b""
        data = self.objects.get(key)
        if data is None:
            raise StoreError(f"tile {key} is missing from the object store ({self.objects.config.describe()})")
        return data

    def tile_for_proofs(self, level: int, index: int) -> bytes:
        return self.tile(level, index)

    def edge_tiles(self, size: int) -> dict[int, bytes]:
        return {
            level: self.tile(level, (size >> (8 * level)) // TILE_WIDTH)[: width * _HASH]
            for level, width in edge_widths(size).items()
        }

    def _bundle(self, index: int, size: int) -> list[bytes]:
        have = min(TILE_WIDTH, size - index * TILE_WIDTH)
        if have <= 0:
            return []
        key = entries_path(index, have)
        data = self.objects.get(key)
        if data is None:
            raise StoreError(f"entry bundle {key} is missing from the object store ({self.objects.config.describe()})")
        return parse_entry_bundle(data)

    def entry_bundle(self, index: int, width: int) -> bytes | None:
        size = self.size()
        if index * TILE_WIDTH + width > size:
            return None
        if width == TILE_WIDTH or index * TILE_WIDTH + width == size:
            key = entries_path(index, width)
            data = self.objects.get(key)
            if data is not None:
                return data
        return format_entry_bundle(self._bundle(index, size)[:width])

    def entries(self, first: int, count: int) -> list[bytes]:
        """Entries [first, first + count) from the object store's bundles; those committed but not published
        yet (only a receipt of a batch whose publication is pending asks for them) from the database."""
        size = self.size()
        end = min(first + count, size)
        out: list[bytes] = []
        for index in range(first // TILE_WIDTH, (end - 1) // TILE_WIDTH + 1 if end > first else 0):
            bundle = self._bundle(index, size)
            base = index * TILE_WIDTH
            out += bundle[max(first, base) - base : end - base]
        if first + count > size:
            rows = self._query(
                "SELECT data FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx", (max(first, size), first + count)
            )
            out += [bytes(r[0]) for r in rows]
        return out

    # ------------------------------------------------------------------------------------------ index reads

    def entries_by_id(self, event_ids: Sequence[str]) -> dict[str, EntryRow]:
        rows = self._query(
            "SELECT idx, event_id, gateway, seq, batch, data FROM entries WHERE event_id = ANY(%s)", (list(event_ids),)
        )
        return {str(r[1]): EntryRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), bytes(r[5])) for r in rows}

    def entry(self, index: int) -> EntryRow | None:
        if index >= self.size():
            return None
        rows = self._query("SELECT idx, event_id, gateway, seq, batch, data FROM entries WHERE idx = %s", (index,))
        if not rows:
            return None
        r = rows[0]
        return EntryRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), bytes(r[5]))

    def batch(self, batch_id: int) -> BatchRow:
        rows = self._query("SELECT id, gateway, first, count, time_ms, note FROM batches WHERE id = %s", (batch_id,))
        if not rows:
            raise StoreError(f"batch {batch_id} missing from the store")
        i, gateway, first, count, time_ms, note = rows[0]
        return BatchRow(int(i), str(gateway), int(first), int(count), int(time_ms), bytes(note))

    def last_batch_time(self) -> int:
        return int(self._query("SELECT last_time FROM tree WHERE id = 1")[0][0])

    def gateways(self) -> dict[str, int]:
        return {str(g): int(s) for g, s in self._query("SELECT id, last_seq FROM gateways")}

    def gaps(self, gateway: str | None = None) -> list[tuple[str, int, int, int]]:
        if gateway is None:
            rows = self._query("SELECT gateway, first, last, found_ms FROM gaps ORDER BY gateway, first")
        else:
            rows = self._query(
                "SELECT gateway, first, last, found_ms FROM gaps WHERE gateway = %s ORDER BY first", (gateway,)
            )
        return [(str(g), int(a), int(b), int(t)) for g, a, b, t in rows]

    # ------------------------------------------------------------------------------------------ leader-only

    def _fenced(self, conn: psycopg.Connection[Any], what: str) -> None:
        """Refuse (:class:`NotLeaderError`) a leader-only write, in its own transaction, unless this replica holds
        the leader row's fencing token. The row is read ``FOR SHARE``: a replica taking over (which raises the
        token with an ``UPDATE``) waits until this write commits, so every write is made under a token that was
        current when it committed, and none of a leader that was replaced, paused or cut off gets through."""
        if self.fence is None:
            return
        mine = self.fence()
        row = conn.execute("SELECT token FROM leader WHERE id = 1 FOR SHARE").fetchone()
        current = None if row is None else int(row[0])
        if mine is None or mine != current:
            held = "no fencing token" if mine is None else f"fencing token {mine}"
            raise NotLeaderError(
                f"{what} refused: this replica holds {held}, the current leader's is {current} ({self._where}); "
                "another replica leads the log's checkpoints and anchors"
            )

    def check_leader(self, what: str) -> None:
        """The fence of a leader-only action that writes nothing here (asking the witnesses to cosign)."""
        with self._transaction() as conn:
            self._fenced(conn, what)

    # ------------------------------------------------------------------------------------------ checkpoints

    def add_checkpoint(self, size: int, root: bytes, time_ms: int, note: bytes) -> CheckpointRow:
        """Record the checkpoint of ``size`` (leader-only). One of that size already recorded is kept as it is;
        one with another root is refused (an integrity alarm): a size has one root for ever."""
        message = None
        with self._transaction() as conn:
            self._fenced(conn, f"checkpoint {size}")
            conn.execute(
                "INSERT INTO checkpoints (size, root, time_ms, note) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (size, root, time_ms, note),
            )
            recorded = bytes(_one(conn.execute("SELECT root FROM checkpoints WHERE size = %s", (size,)).fetchone())[0])
            if recorded != root:  # the alarm in the same fenced transaction: a replaced leader raises none
                message = (
                    f"integrity alarm: checkpoint {size} was recorded with root {recorded.hex()}, and a replica signed "
                    f"root {root.hex()} for it: two trees of one size"
                )
                now_ms, subject = int(time.time() * 1000), CHECKPOINT_SUBJECT.format(size=size)
                conn.execute(_ADD_ALARM, (now_ms, "checkpoint-mismatch", size, message, subject, now_ms))
        if message is not None:
            raise IntegrityError(message)
        row = self.checkpoint(size)
        assert row is not None
        return row

    def publish_checkpoint(self, size: int, cosigned: bytes, published_ms: int, cosigners: str) -> None:
        """Publish the checkpoint of ``size`` with its cosignatures (leader-only), once: a checkpoint already
        published keeps the bytes it was published with."""
        with self._transaction() as conn:
            self._fenced(conn, f"publication of checkpoint {size}")
            updated = conn.execute(
                "UPDATE checkpoints SET cosigned = %s, published_ms = %s, cosigners = %s "
                "WHERE size = %s AND cosigned IS NULL",
                (cosigned, published_ms, cosigners, size),
            ).rowcount
        if not updated:
            log.info("checkpoint %d was published already; its publication is kept as it was", size)
        self._publish_checkpoint_object()

    _CHECKPOINT_COLUMNS = "size, root, time_ms, note, cosigned, published_ms, cosigners"

    def checkpoint(self, size: int) -> CheckpointRow | None:
        rows = self._query(f"SELECT {self._CHECKPOINT_COLUMNS} FROM checkpoints WHERE size = %s", (size,))
        return _checkpoint_row(rows[0]) if rows else None

    def latest_checkpoint(self, published: bool) -> CheckpointRow | None:
        where = "WHERE cosigned IS NOT NULL" if published else ""
        rows = self._query(f"SELECT {self._CHECKPOINT_COLUMNS} FROM checkpoints {where} ORDER BY size DESC LIMIT 1")
        return _checkpoint_row(rows[0]) if rows else None

    def checkpoints(self, after: int, limit: int, published: bool = True) -> list[CheckpointRow]:
        where = "AND cosigned IS NOT NULL" if published else ""
        rows = self._query(
            f"SELECT {self._CHECKPOINT_COLUMNS} FROM checkpoints WHERE size > %s {where} ORDER BY size LIMIT %s",
            (after, limit),
        )
        return [_checkpoint_row(r) for r in rows]

    # ------------------------------------------------------------------------------------------ anchors

    def anchor_sent(self, size: int, tx_hash: str, raw_tx: bytes, nonce: int, sent_ms: int) -> None:
        with self._transaction() as conn:
            self._fenced(conn, f"anchor of checkpoint {size}")
            conn.execute("DELETE FROM anchors WHERE size = %s AND state = 'failed'", (size,))
            conn.execute(
                "INSERT INTO anchors (size, tx_hash, raw_tx, nonce, state, sent_ms)"
                " VALUES (%s, %s, %s, %s, 'sent', %s)",
                (size, tx_hash, raw_tx, nonce, sent_ms),
            )

    def anchor_confirmed(self, size: int, block_number: int, block_hash: str, confirmed_ms: int) -> None:
        with self._transaction() as conn:
            self._fenced(conn, f"confirmation of the anchor of checkpoint {size}")
            conn.execute(
                "UPDATE anchors SET state = 'confirmed', block_number = %s, block_hash = %s, confirmed_ms = %s "
                "WHERE size = %s",
                (block_number, block_hash, confirmed_ms, size),
            )

    def anchor_failed(self, size: int) -> None:
        with self._transaction() as conn:
            self._fenced(conn, f"failure of the anchor of checkpoint {size}")
            conn.execute("UPDATE anchors SET state = 'failed' WHERE size = %s", (size,))

    def anchors(
        self, state: str | None = None, *, after: int = 0, limit: int = -1, sizes: Sequence[int] | None = None
    ) -> list[AnchorRow]:
        where: list[str] = ["size > %s"]
        params: list[Any] = [after]
        if state is not None:
            where.append("state = %s")
            params.append(state)
        if sizes is not None:
            where.append("size = ANY(%s)")
            params.append([int(s) for s in sizes])
        params.append(None if limit < 0 else limit)
        rows = self._query(
            f"SELECT {', '.join(ANCHOR_COLUMNS)} FROM anchors WHERE {' AND '.join(where)} ORDER BY size LIMIT %s",
            params,
        )
        return [anchor_row(r) for r in rows]

    def anchored_size(self) -> int:
        rows = self._query("SELECT MAX(size) FROM anchors WHERE state = 'confirmed'")
        return int(rows[0][0] or 0)

    def anchor_covering(self, index: int, state: str = "confirmed") -> AnchorRow | None:
        picked = ", ".join("a." + c for c in ANCHOR_COLUMNS)
        rows = self._query(
            f"SELECT {picked} FROM anchors a JOIN checkpoints c ON c.size = a.size"
            " WHERE a.size > %s AND a.state = %s AND c.cosigned IS NOT NULL ORDER BY a.size LIMIT 1",
            (index, state),
        )
        return anchor_row(rows[0]) if rows else None

    def anchor_progress(self) -> tuple[int, bool]:
        rows = self._query(
            "SELECT MAX(size), COUNT(*) FILTER (WHERE state = 'sent') FROM anchors WHERE state IN ('sent', 'confirmed')"
        )
        return int(rows[0][0] or 0), bool(rows[0][1])

    def anchor_checked(self, size: int, time_ms: int, mismatch: str | None) -> None:
        """Leader-only, fenced with the alarm in the same transaction: a replaced leader neither moves the mark
        nor raises the alarm, and its successor, starting below the mark, compares that anchor again."""
        with self._transaction() as conn:
            self._fenced(conn, f"the check of the anchor of checkpoint {size}")
            if mismatch is not None:
                subject = ANCHOR_SUBJECT.format(size=size)
                conn.execute(_ADD_ALARM, (time_ms, "anchor-mismatch", size, mismatch, subject, time_ms))
            conn.execute(  # only forward: a slower replica never takes the mark back
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = "
                "EXCLUDED.value WHERE meta.value::BIGINT < EXCLUDED.value::BIGINT",
                (ANCHORS_CHECKED_KEY, str(size)),
            )

    # ------------------------------------------------------------------------------------------ the rest

    def holds_log(self) -> bool:
        return self.meta("vkey") is not None

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

    def alarms(self, limit: int = 100, open_only: bool = False, after: AlarmKey | None = None) -> list[AlarmRow]:
        keyed = () if after is None else (after.last_ms, after.id)
        rows = self._query(alarms_page("%s", open_only=open_only, after=after is not None), (*keyed, limit))
        return [alarm_row(r) for r in rows]

    def open_alarms(self) -> int:
        ((count,),) = self._query("SELECT count(*) FROM alarms WHERE resolved_ms IS NULL")
        return int(count)

    def resolve_alarm(self, alarm_id: int, time_ms: int, by: str, reason: str) -> tuple[AlarmRow | None, bool]:
        """Any replica: a resolution is the operator's, not a leader's duty. The row is locked while it is read and
        changed, so a finding counted on it at once is counted before the resolution or opens a new alarm after."""
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {', '.join(ALARM_COLUMNS)} FROM alarms WHERE id = %s FOR UPDATE", (alarm_id,)
            ).fetchone()
            if row is None:
                return None, False
            if row[ALARM_COLUMNS.index("resolved_ms")] is not None:
                return alarm_row(row), False
            resolved = conn.execute(
                f"UPDATE alarms SET resolved_ms = %s, resolved_by = %s, reason = %s WHERE id = %s "
                f"RETURNING {', '.join(ALARM_COLUMNS)}",
                (time_ms, by, reason, alarm_id),
            ).fetchone()
        return alarm_row(_one(resolved)), True

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
        """An alarm; one of a leader's duty (``leader_only``) is fenced in its transaction. Those any replica
        raises while publishing (``object-mismatch``) are not: every replica publishes. Replicas finding the same
        condition at once count on one row (the upsert on its kind and subject)."""
        with self._transaction() as conn:
            if leader_only:
                self._fenced(conn, f"the {kind} alarm")
            conn.execute(_ADD_ALARM, (time_ms, kind, size, message, message if subject is None else subject, time_ms))


def _one(row: Any) -> Any:
    if row is None:
        raise StoreError("the database returned no row where one must be")
    return row


def _checkpoint_row(row: Sequence[Any]) -> CheckpointRow:
    size, root, time_ms, note, cosigned, published_ms, cosigners = row
    return CheckpointRow(
        int(size), bytes(root), int(time_ms), bytes(note), None if cosigned is None else bytes(cosigned),
        None if published_ms is None else int(published_ms), cosigners,
    )  # fmt: skip
