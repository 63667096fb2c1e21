"""``consortium grant``: access grants: create, revoke, list, check."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli._common import (
    DENIED_EXIT,
    Context,
    as_option,
    emit,
    iso,
    json_option,
    name_arg,
    parse_digest,
    parse_time,
    pass_ctx,
)


@click.group()
def grant() -> None:
    """Access grants: create, revoke, list, check."""


@grant.command("create")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--to", "grantee", required=True, callback=name_arg("org id"), help="Grantee member.")
@click.option("--purpose", required=True, callback=name_arg("purpose"), help="Purpose code, e.g. research.")
@click.option("--days", type=click.IntRange(1, 3650), help="Valid for this many days from now.")
@click.option("--expires", help="Expiry time (ISO 8601), instead of --days.")
@click.option("--not-before", "not_before", help="Start time (ISO 8601); default now.")
@click.option("--quota", type=click.IntRange(0), default=0, show_default=True, help="Calls allowed; 0 = unlimited.")
@as_option
@pass_ctx
def grant_create(
    obj: Context,
    asset_id: str,
    grantee: str,
    purpose: str,
    days: int | None,
    expires: str | None,
    not_before: str | None,
    quota: int,
    as_org: str,
) -> None:
    """Grant GRANTEE access to ASSET_ID for a purpose and a time window."""
    if (days is None) == (expires is None):
        raise click.UsageError("give exactly one of --days and --expires")
    c = obj.consortium()
    start = parse_time(not_before) if not_before else c.now()
    end = parse_time(expires) if expires else start + days * 86_400  # type: ignore[operator]
    grant_id = c.grants.create_grant(obj.signer(as_org), asset_id, grantee, purpose, start, end, quota)
    click.echo(
        f"grant 0x{grant_id.hex()}: {grantee} may use {asset_id} for {purpose} "
        f"from {iso(start)} to {iso(end)}" + (f", {quota} calls" if quota else "")
    )


@grant.command("revoke")
@click.argument("grant_id")
@click.option("--reason", type=click.IntRange(1, 65535), required=True, help="Reason code (1-65535).")
@as_option
@pass_ctx
def grant_revoke(obj: Context, grant_id: str, reason: int, as_org: str) -> None:
    """Revoke GRANT_ID (0x + 64 hex digits)."""
    c = obj.consortium()
    gid = parse_digest(grant_id, "grant id")
    c.grants.revoke(obj.signer(as_org), gid, reason)
    click.echo(f"revoked grant 0x{gid.hex()} (reason {reason})")


@grant.command("list")
@click.option("--asset", "asset_id", callback=name_arg("asset id"), help="Only grants on this asset.")
@click.option("--grantee", callback=name_arg("org id"), help="Only grants to this member.")
@json_option
@pass_ctx
def grant_list(obj: Context, asset_id: str | None, grantee: str | None, as_json: bool) -> None:
    """List grants."""
    c = obj.consortium()
    items = [
        g
        for g in c.grants.grants()
        if (asset_id is None or g.asset == asset_id) and (grantee is None or g.grantee == grantee)
    ]
    now = c.now()

    def state(g: Any) -> str:
        if g.revoked_at:
            return f"revoked ({g.revoke_reason})"
        return "expired" if now >= g.expires_at else ("pending" if now < g.not_before else "active")

    emit(
        as_json,
        items,
        lambda: (
            [
                f"0x{g.grant_id.hex()[:12]}.. {g.asset:<26} {g.grantor:<14} -> {g.grantee:<14} {g.purpose:<13} "
                f"until {iso(g.expires_at)}  {state(g)}" + (f"  quota {g.quota}" if g.quota else "")
                for g in items
            ]
            or ["no grants"]
        ),
    )


@grant.command("check")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--grantee", required=True, callback=name_arg("org id"))
@click.option("--purpose", required=True, callback=name_arg("purpose"))
@click.option("--at", "at_time", help="Time to check at (ISO 8601); default the latest block's time.")
@json_option
@pass_ctx
def grant_check(obj: Context, asset_id: str, grantee: str, purpose: str, at_time: str | None, as_json: bool) -> None:
    """Would GRANTEE's call on ASSET_ID for PURPOSE be allowed? Exit 0 if allowed, 3 if denied."""
    c = obj.consortium()
    at = parse_time(at_time) if at_time else c.now()
    result = c.grants.check(asset_id, grantee, purpose, at)
    emit(
        as_json,
        {
            "allowed": result.allowed,
            "status": result.status,
            "reason": result.status.reason,
            "grant_id": result.grant_id,
            "at": at,
        },
        lambda: [
            ("allowed" if result.allowed else f"denied: {result.status.reason}")
            + (f" (grant 0x{result.grant_id.hex()})" if result.grant_id else "")
        ],
    )
    if not result.allowed:
        sys.exit(DENIED_EXIT)


