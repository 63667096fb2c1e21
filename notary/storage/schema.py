"""Numbered schema migrations for the components that keep state in PostgreSQL.

The notary's store (``notary.storage.postgres``), the gateways' shared quota store (``gateway.quota``) and the
explorer's call index (``explorer.calls_pg``) each declare a :class:`Schema`: their component name and an
ordered list of :class:`Migration`\\ s, version 1 being the schema as the first releases created it. Which
versions a database holds is recorded in one table, ``schema_version`` (component, version, applied_at), a row
per migration applied, so that a release knows what it opens instead of finding out in the middle of work.

:func:`migrate` runs when a component opens its database: in one transaction, under one advisory lock shared by
every component (replicas starting at once take turns, and the first creates the version table), it reads the
component's version, refuses a database newer than the release (never downgrades), and applies the missing
migrations in order; a migration that fails rolls the whole transaction back, so the database stays at the
version it had. A database made before the version table existed (today's tables, no version rows) is adopted
as version 1 once every table the component's version 1 creates is found; one with only some of them is
refused rather than guessed at.

A later migration should also change whatever marker the releases before the version table check (the notary's
``meta`` and the explorer's ``explorer_meta`` key ``schema_version``), so that those releases refuse a database
they cannot read too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from notary.storage.base import StoreError

if TYPE_CHECKING:
    import psycopg

#: The advisory lock (transaction scope) under which every component reads and migrates its schema.
MIGRATION_LOCK: Final = 0x636C_5F73_6368_656D  # "cl_schem"

VERSION_TABLE: Final = "schema_version"
_CREATE_VERSION_TABLE: Final = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    component TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""


class SchemaError(StoreError):
    """A database's schema cannot be used by this release, or a migration of it failed (nothing was changed)."""


class SchemaNewerError(SchemaError):
    """The database holds a schema version this release does not know: a later release migrated it."""

    def __init__(self, component: str, found: int, known: int) -> None:
        super().__init__(
            f"database schema {found} of {component} is newer than this release ({known}): upgrade the release"
        )
        self.component = component
        self.found = found
        self.known = known


@dataclass(frozen=True)
class Migration:
    """Schema ``version``: ``statements`` run in order, in the migration's transaction. ``why`` says what it
    changes and for what, as a commit message would."""

    version: int
    why: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    """A component's migrations, versions 1, 2, … in order; ``tables`` are the tables version 1 creates,
    whose presence (with no version rows) marks a database made before the version table."""

    component: str
    migrations: tuple[Migration, ...]
    tables: tuple[str, ...]
    #: The advisory lock the component's releases before migrations took to create version 1, taken too: one of
    #: them starting at the same moment as this release (a rolling upgrade) takes turns with it.
    legacy_lock: int | None = None

    def __post_init__(self) -> None:
        versions = [m.version for m in self.migrations]
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"the migrations of {self.component} are not numbered 1, 2, …: {versions}")

    @property
    def latest(self) -> int:
        """The version this release creates and reads."""
        return len(self.migrations)


def _recorded(conn: psycopg.Connection[Any], component: str) -> int:
    row = conn.execute(
        f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE} WHERE component = %s", (component,)
    ).fetchone()
    return int(row[0]) if row else 0


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _found_tables(conn: psycopg.Connection[Any], schema: Schema) -> list[str]:
    return [t for t in schema.tables if _exists(conn, t)]


def _unrecorded(conn: psycopg.Connection[Any], schema: Schema) -> int:
    """The version of a database without version rows: 0 (nothing there) or 1 (version 1's tables, all of
    them). Some but not all of them is refused: a half-made or foreign schema is not guessed at."""
    found = _found_tables(conn, schema)
    if not found:
        return 0
    missing = [t for t in schema.tables if t not in found]
    if missing:
        raise SchemaError(
            f"the database has some of the tables of {schema.component} ({', '.join(found)}) but not "
            f"{', '.join(missing)}, and no schema version: not adopting it"
        )
    return 1


def current_version(conn: psycopg.Connection[Any], schema: Schema) -> int:
    """The component's schema version in the database, without changing anything: 0 when it holds none of the
    component's tables, 1 for version 1's tables without version rows (adopted at the next :func:`migrate`)."""
    recorded = _recorded(conn, schema.component) if _exists(conn, VERSION_TABLE) else 0
    return recorded or _unrecorded(conn, schema)


def check(conn: psycopg.Connection[Any], schema: Schema) -> int:
    """The component's version, refused unless it is this release's: for an opener that must not write (a
    read-only replica). 0 when the database holds none of the component's tables."""
    version = current_version(conn, schema)
    if version > schema.latest:
        raise SchemaNewerError(schema.component, version, schema.latest)
    if 0 < version < schema.latest:
        raise SchemaError(
            f"database schema {version} of {schema.component} is older than this release ({schema.latest}): "
            "open it once with a replica that writes, which migrates it"
        )
    return version


def migrate(conn: psycopg.Connection[Any], schema: Schema) -> int:
    """Bring the component's schema to this release's version and return it. ``conn`` is in autocommit mode;
    everything happens in one transaction under :data:`MIGRATION_LOCK`, so it is all or nothing."""
    import psycopg

    applying: Migration | None = None
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            if schema.legacy_lock is not None:  # always after the shared lock: no two openers wait on each other
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (schema.legacy_lock,))
            conn.execute(_CREATE_VERSION_TABLE)
            version = _recorded(conn, schema.component)
            if version == 0 and _unrecorded(conn, schema) == 1:
                _record(conn, schema.component, 1)
                version = 1
            if version > schema.latest:
                raise SchemaNewerError(schema.component, version, schema.latest)
            for migration in schema.migrations[version:]:
                applying = migration
                for statement in migration.statements:
                    conn.execute(statement)
                _record(conn, schema.component, migration.version)
            return schema.latest
    except psycopg.Error as exc:
        if applying is None or isinstance(exc, psycopg.OperationalError):
            raise
        raise SchemaError(
            f"migration {applying.version} of {schema.component} ({applying.why}) failed, nothing was changed: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        ) from exc


def _record(conn: psycopg.Connection[Any], component: str, version: int) -> None:
    conn.execute(f"INSERT INTO {VERSION_TABLE} (component, version) VALUES (%s, %s)", (component, version))


def versions(conn: psycopg.Connection[Any]) -> list[tuple[str, int, str]]:
    """Every migration the database records: (component, version, applied_at as ISO 8601), oldest first."""
    if not _exists(conn, VERSION_TABLE):
        return []
    rows = conn.execute(f"SELECT component, version, applied_at FROM {VERSION_TABLE} ORDER BY component, version")
    return [(str(c), int(v), at.isoformat()) for c, v, at in rows.fetchall()]


__all__ = [
    "MIGRATION_LOCK",
    "Migration",
    "Schema",
    "SchemaError",
    "SchemaNewerError",
    "check",
    "current_version",
    "migrate",
    "versions",
]
