"""``consortium storage``: what a shared database holds.

``storage versions URL`` reads (never changes) the schema version of each component that keeps state in a
PostgreSQL database (the notary's log, the gateways' quota counts, the explorer's call index) beside the
version this release creates and reads, says what each opener will do with it, and lists every migration the
database records, as ``SELECT * FROM schema_version`` would, with the component's own words for each.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from cli._common import fail

if TYPE_CHECKING:
    from notary.storage.schema import Schema


@click.group("storage")
def storage_group() -> None:
    """Shared databases: the schema version of each component in one."""


def _schemas() -> list[Schema]:
    from explorer.calls_pg import SCHEMA as EXPLORER
    from gateway.quota import SCHEMA as QUOTA
    from notary.storage.postgres import SCHEMA as NOTARY

    return [NOTARY, QUOTA, EXPLORER]


def _state(found: int, latest: int) -> str:
    """What this release's openers do with a component at version ``found``."""
    if found == 0:
        return "not created: its first opener creates it"
    if found == latest:
        return "current"
    if found < latest:
        return "older: a writer of this release migrates it as it opens it; a read-only replica refuses it until then"
    return "newer than this release: every opener of this release refuses it; upgrade the release"


def _safe(url: str) -> str:
    """``url`` without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@storage_group.command("versions")
@click.argument("url", metavar="URL")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of lines.")
def versions_cmd(url: str, as_json: bool) -> None:
    """The schema version of each component in the PostgreSQL database at URL (postgresql://…), beside this
    release's, and every migration the database records. Reads only; exit status 1 if a component is newer than
    this release."""
    if not url.startswith(("postgresql://", "postgres://")):
        fail(f"give a postgresql:// URL, not {url!r}")
    import psycopg

    from notary.storage.schema import SchemaError, current_version, versions

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.read_only = True
            rows: list[dict[str, Any]] = []
            schemas = _schemas()
            for schema in schemas:
                try:
                    found: int | None = current_version(conn, schema)
                    state = _state(found or 0, schema.latest)
                except SchemaError as exc:  # some of version 1's tables without a version: not adopted
                    found, state = None, f"refused: {exc}"
                rows.append(
                    {"component": schema.component, "database": found, "release": schema.latest, "state": state}
                )
            whys = {(s.component, m.version): m.why for s in schemas for m in s.migrations}
            applied = [
                {"component": c, "version": v, "applied_at": at, "why": whys.get((c, v), "unknown to this release")}
                for c, v, at in versions(conn)
            ]
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"cannot read {_safe(url)}: {first}")
    newer = [r["component"] for r in rows if r["database"] is not None and r["database"] > r["release"]]
    if as_json:
        click.echo(json.dumps({"database": _safe(url), "components": rows, "migrations": applied}, indent=2))
    else:
        width = max(len(r["component"]) for r in rows)
        click.echo(f"database {_safe(url)}")
        click.echo(f"  {'component':<{width}}  {'database':>8}  {'release':>7}  state")
        for r in rows:
            shown = "-" if r["database"] is None else str(r["database"])
            click.echo(f"  {r['component']:<{width}}  {shown:>8}  {r['release']:>7}  {r['state']}")
        click.echo("migrations recorded:" if applied else "migrations recorded: none (no schema_version table yet)")
        for a in applied:
            click.echo(f"  {a['component']:<{width}}  {a['version']:>3}  {a['applied_at']}  {a['why']}")
    if newer:
        raise SystemExit(1)
