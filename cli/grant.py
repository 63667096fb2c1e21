"""``consortium grant``: access grants: create (clear or private), revoke, list, check; the terms of private
grants: export, import, list (``network.grantterms``)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli._common import (
    DENIED_EXIT,
    Context,
    as_option,
    emit,
    fail,
    iso,
    json_option,
    name_arg,
    parse_digest,
    parse_time,
    pass_ctx,
)

if TYPE_CHECKING:
    from network.consortium import Consortium
    from network.grantterms import TermsRecord

store_option = click.option(
    "--as",
    "as_org",
    required=True,
    callback=name_arg("org id"),
    help="Member org whose terms store (DIR/orgs/ORG/grant-terms) is used.",
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
@click.option(
    "--private",
    "private",
    is_flag=True,
    help="Keep grantee, purpose, window and quota off chain: only a salted commitment goes there; the terms go "
    "to ORG's terms store, to be handed to the grantee with `grant terms export`.",
)
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
    private: bool,
    as_org: str,
) -> None:
    """Grant GRANTEE access to ASSET_ID for a purpose and a time window."""
    if (days is None) == (expires is None):
        raise click.UsageError("give exactly one of --days and --expires")
    c = obj.consortium()
    start = parse_time(not_before) if not_before else c.now()
    end = parse_time(expires) if expires else start + days * 86_400  # type: ignore[operator]
    if private:
        _create_private(obj, c, asset_id, grantee, purpose, start, end, quota, as_org)
        return
    grant_id = c.grants.create_grant(obj.signer(as_org), asset_id, grantee, purpose, start, end, quota)
    click.echo(
        f"grant 0x{grant_id.hex()}: {grantee} may use {asset_id} for {purpose} "
        f"from {iso(start)} to {iso(end)}" + (f", {quota} calls" if quota else "")
    )


def _create_private(
    obj: Context, c: Consortium, asset_id: str, grantee: str, purpose: str, start: int, end: int, quota: int, org: str
) -> None:
    """The terms go to ``org``'s store before the transaction (a crash loses no salt) and are removed if it is
    refused. The contract cannot check terms it does not see, so what it checks for a clear grant is checked
    here; the grantee's membership is checked again by ``check_private`` at every use."""
    from chain.contracts.grants import PrivateTerms
    from chain.ids import MemberStatus, Role
    from network.grantterms import TermsStore, new_record, with_grant_id

    if grantee == org:
        fail("cannot grant to the owner")
    member = c.registry.member(grantee)
    if member is not None and member.status is MemberStatus.SUSPENDED:
        fail("grantee suspended")
    if member is None or member.status is not MemberStatus.ACTIVE or not member.roles & Role.MEMBER:
        fail("grantee not a member")
    if end <= start:
        fail("expiry must be after not-before")
    if end <= c.now():
        fail("grant already expired")
    signer = obj.signer(org)
    store = TermsStore(obj.directory, org)
    salt = store.salt_for(asset_id, grantee, purpose)
    if salt is None:
        terms = PrivateTerms.draw(asset_id, org, grantee, purpose, start, end, quota)
    else:  # the triple's salt: the same key on chain, so this grant replaces the earlier one
        terms = PrivateTerms(asset_id, org, grantee, purpose, start, end, quota, salt)
    if any(r.terms.commitment == terms.commitment for r in store.records()):
        fail("a private grant of exactly these terms exists already; change the window or the quota")
    record = new_record(terms)
    store.put(record)
    try:
        grant_id = c.grants.create_private_grant(signer, terms)
    except BaseException:
        store.remove(record)
        raise
    path = store.put(with_grant_id(record, grant_id))
    gid = f"0x{grant_id.hex()}"
    click.echo(
        f"private grant {gid}: {grantee} may use {asset_id} for {purpose} from {iso(start)} to {iso(end)}"
        + (f", {quota} calls" if quota else "")
        + " (on chain: its asset, grantor and commitment only)"
    )
    click.echo(f"terms and salt kept in {_shown(path, obj.directory)}")
    click.echo(
        f"hand them to {grantee} (and to the regulator on request): `consortium grant terms export {gid} --as {org} "
        f"--out FILE`, then `consortium grant terms import FILE --as {grantee}`"
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
@click.option(
    "--as",
    "as_org",
    callback=name_arg("org id"),
    help="Show the terms of the private grants whose terms ORG's store holds (DIR/orgs/ORG/grant-terms), each "
    "checked against its key and commitment on chain: a grantee's list holds them once it imported their terms; "
    "and which grants have PSI terms of their own in the terms of ORG's identifier sets (`privacy grant-terms`).",
)
@json_option
@pass_ctx
def grant_list(obj: Context, asset_id: str | None, grantee: str | None, as_org: str | None, as_json: bool) -> None:
    """List grants. A private grant shows its asset and grantor only (its terms are held by its parties), unless
    --as names a party (or the regulator) whose terms store holds its terms; --grantee leaves out the private
    grants whose terms are not shown."""
    from network.grantterms import TermsStore

    c = obj.consortium()
    items = [
        g
        for g in c.grants.grants()
        if (asset_id is None or g.asset == asset_id) and (grantee is None or g.grantee == grantee)
    ]
    held = {}
    own_psi: dict[bytes, str] = {}  # grant id → SHA-256 of its own PSI terms, in the terms of ORG's identifier sets
    if as_org is not None:
        held = {r.grant_id: r.terms for r in TermsStore(obj.directory, as_org).records() if r.grant_id is not None}
        own_psi = _own_psi_terms(obj.directory, as_org)
    opened = []  # (the grant on chain, its terms from the store)
    hidden = []
    for pg in c.grants.private_grants():
        if asset_id is not None and pg.asset != asset_id:
            continue
        t = held.get(pg.grant_id)
        if t is not None and (t.asset, t.grantor, t.key, t.commitment) != (pg.asset, pg.grantor, pg.key, pg.commitment):
            click.echo(
                f"warning: the terms {as_org}'s store holds for grant 0x{pg.grant_id.hex()} do not match it on chain; "
                "not shown",
                err=True,
            )
            t = None
        if t is not None and (grantee is None or t.grantee == grantee):
            opened.append((pg, t))
        elif t is None and grantee is None:
            hidden.append(pg)
    now = c.now()

    def state(revoked_at: int, revoke_reason: int, not_before: int, expires_at: int) -> str:
        if revoked_at:
            return f"revoked ({revoke_reason})"
        return "expired" if now >= expires_at else ("pending" if now < not_before else "active")

    def line(grant_id: bytes, asset: str, grantor: str, grantee: str, purpose: str, expires_at: int) -> str:
        head = f"0x{grant_id.hex()[:12]}.. {asset:<26} {grantor:<14} -> {grantee:<14} {purpose:<13}"
        return f"{head} until {iso(expires_at)}"

    def psi(grant_id: bytes) -> str:
        digest = own_psi.get(grant_id)
        return "" if digest is None else f"  PSI terms of its own ({digest[:12]}..)"

    def psi_json(grant_id: bytes) -> dict[str, str]:
        return {"psi_terms": own_psi[grant_id]} if grant_id in own_psi else {}

    emit(
        as_json,
        [
            *({**asdict(g), **psi_json(g.grant_id)} if g.grant_id in own_psi else g for g in items),
            *(
                {
                    **asdict(g),
                    **psi_json(g.grant_id),
                    "private": True,
                    "grantee": t.grantee,
                    "purpose": t.purpose,
                    "not_before": t.not_before,
                    "expires_at": t.expires_at,
                    "quota": t.quota,
                    "terms_from": as_org,
                }
                for g, t in opened
            ),
            *({**asdict(g), "private": True} for g in hidden),
        ],
        lambda: (
            [
                f"{line(g.grant_id, g.asset, g.grantor, g.grantee, g.purpose, g.expires_at)}  "
                f"{state(g.revoked_at, g.revoke_reason, g.not_before, g.expires_at)}"
                + (f"  quota {g.quota}" if g.quota else "")
                + psi(g.grant_id)
                for g in items
            ]
            + [
                f"{line(g.grant_id, g.asset, g.grantor, t.grantee, t.purpose, t.expires_at)}  "
                f"{state(g.revoked_at, g.revoke_reason, t.not_before, t.expires_at)}"
                + (f"  quota {t.quota}" if t.quota else "")
                + psi(g.grant_id)
                + f"  (private: terms from {as_org}'s store)"
                for g, t in opened
            ]
            + [
                f"0x{g.grant_id.hex()[:12]}.. {g.asset:<26} {g.grantor:<14} -> (private: terms held by the parties)  "
                + (f"revoked ({g.revoke_reason})" if g.revoked_at else "not revoked")
                for g in hidden
            ]
            or ["no grants"]
        ),
    )


def _own_psi_terms(directory: Path, org: str) -> dict[bytes, str]:
    """Grant id → the SHA-256 (hex) of its own PSI terms, as the terms documents of ``org``'s identifier sets list
    them (``privacy.asset``); a document that does not parse is left out with a warning."""
    from gateway.psi import load_terms
    from privacy.asset import parse_asset_terms
    from privacy.errors import PrivacyError

    found = {}
    for asset, document in load_terms(directory, org).items():
        try:
            terms = parse_asset_terms(document)
        except PrivacyError as exc:
            click.echo(f"warning: the PSI terms of {asset} do not parse: {exc}", err=True)
            continue
        found.update({bytes.fromhex(grant_id[2:]): digest.hex() for grant_id, digest in terms.grants})
    return found


def _shown(path: Path, directory: Path) -> str:
    return str(path.relative_to(directory)) if path.is_relative_to(directory) else str(path)


@grant.command("check")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--grantee", required=True, callback=name_arg("org id"))
@click.option("--purpose", required=True, callback=name_arg("purpose"))
@click.option("--at", "at_time", help="Time to check at (ISO 8601); default the latest block's time.")
@click.option(
    "--terms-of",
    "terms_of",
    callback=name_arg("org id"),
    help="Whose terms store holds the private grants' terms (default: the asset's owner, as its gateway decides).",
)
@json_option
@pass_ctx
def grant_check(
    obj: Context,
    asset_id: str,
    grantee: str,
    purpose: str,
    at_time: str | None,
    terms_of: str | None,
    as_json: bool,
) -> None:
    """Would GRANTEE's call on ASSET_ID for PURPOSE be allowed? Exit 0 if allowed, 3 if denied. A private grant
    counts when the terms store holds its terms (the rule of the owner's gateway)."""
    from chain.contracts.privatecheck import UnprovenError
    from network.grantterms import TermsStore, decide, trusted_heads
    from network.keptheader import cli_header_path

    c = obj.consortium()
    at = parse_time(at_time) if at_time else c.now()
    if terms_of is None:
        asset = c.assets.asset(asset_id)
        terms_of = None if asset is None else asset.owner
    store = None if terms_of is None else TermsStore(obj.directory, terms_of)
    # a private grant's words proven from the header kept beside consortium.json (docs/confidentiality.md, note 4)
    proven = trusted_heads(c.backend, c.description, cli_header_path(obj.directory))
    try:
        decided = decide(c.grants, store, asset_id, grantee, purpose, at, proven=proven)
    except UnprovenError as exc:
        fail(f"no answer: the chain's words for the private grant are not proven: {exc}")
    if proven is not None and proven.keep_problem is not None:
        click.echo(f"warning: the newest trusted header is not kept: {proven.keep_problem}", err=True)
    result = decided.result
    kind = "private grant" if decided.terms is not None else "grant"
    emit(
        as_json,
        {
            "allowed": result.allowed,
            "status": result.status,
            "reason": result.status.reason,
            "grant_id": result.grant_id,
            "private": decided.terms is not None,
            "at": at,
        },
        lambda: [
            ("allowed" if result.allowed else f"denied: {result.status.reason}")
            + (f" ({kind} 0x{result.grant_id.hex()})" if result.grant_id else "")
        ],
    )
    if not result.allowed:
        sys.exit(DENIED_EXIT)


@grant.group("terms")
def terms() -> None:
    """The terms of private grants: hand them from grantor to grantee and regulator."""


def _store_record(obj: Context, org: str, grant_id: str) -> TermsRecord:
    from network.grantterms import TermsStore

    gid = parse_digest(grant_id, "grant id")
    record = TermsStore(obj.directory, org).by_grant(gid)
    if record is None:
        fail(f"the terms store of {org} holds no terms of grant 0x{gid.hex()}")
    return record


@terms.command("export")
@click.argument("grant_id")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (mode 0600).")
@store_option
@pass_ctx
def terms_export(obj: Context, grant_id: str, out: Path | None, as_org: str) -> None:
    """Print (or write) the terms and salt of private grant GRANT_ID from ORG's store, for its grantee or the
    regulator. They are confidential: send them over a channel only the parties read."""
    from network._pem import PRIVATE_FILE_MODE
    from notary.durable import replace_file

    record = _store_record(obj, as_org, grant_id)
    text = json.dumps(record.to_json(), indent=1) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    replace_file(out, text.encode(), PRIVATE_FILE_MODE)
    click.echo(f"terms of grant 0x{record.grant_id.hex() if record.grant_id else ''} written to {out}")


@terms.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@store_option
@pass_ctx
def terms_import(obj: Context, file: Path, as_org: str) -> None:
    """Check FILE's terms against their grant's commitment on chain and keep them in ORG's store. ORG must be
    the grant's grantor or grantee, or the regulator."""
    from chain.errors import MalformedError
    from chain.ids import Role
    from network.grantterms import TermsRecord, TermsStore

    try:
        record = TermsRecord.from_json(json.loads(file.read_bytes()))
    except (ValueError, MalformedError) as exc:
        fail(f"{file}: {exc}")
    if record.grant_id is None:
        fail(f"{file} names no grant id (its transaction was never confirmed)")
    gid = f"0x{record.grant_id.hex()}"
    c = obj.consortium()
    info = c.grants.private_grant(record.grant_id)
    t = record.terms
    if info is None:
        fail(f"no private grant {gid} on chain")
    if (info.asset, info.grantor) != (t.asset, t.grantor):
        fail(f"grant {gid} is {info.grantor}'s grant of {info.asset}, not {t.grantor}'s of {t.asset}")
    if (info.key, info.commitment) != (t.key, t.commitment):
        fail(f"the terms do not match the commitment of grant {gid} on chain")
    member = c.registry.member(as_org)
    if as_org not in (t.grantor, t.grantee) and (member is None or not member.roles & Role.REGULATOR):
        fail(f"{as_org} is neither a party to grant {gid} nor the regulator")
    path = TermsStore(obj.directory, as_org).put(record)
    click.echo(
        f"terms of private grant {gid} checked against the chain and kept in {_shown(path, obj.directory)}: "
        f"{t.grantee} may use {t.asset} for {t.purpose} from {iso(t.not_before)} to {iso(t.expires_at)}"
        + (f", {t.quota} calls" if t.quota else "")
    )


@terms.command("list")
@store_option
@json_option
@pass_ctx
def terms_list(obj: Context, as_org: str, as_json: bool) -> None:
    """The private grants whose terms ORG's store holds, newest first (salts not shown)."""
    from network.grantterms import TermsStore

    records = TermsStore(obj.directory, as_org).records()
    rows = [{k: v for k, v in r.to_json().items() if k not in ("salt", "format")} for r in records]
    emit(
        as_json,
        rows,
        lambda: (
            [
                f"{(row['grant_id'] or 'pending')[:14]}.. {row['asset']:<26} {row['grantor']:<14} -> "
                f"{row['grantee']:<14} {row['purpose']:<13} {iso(row['not_before'])} to {iso(row['expires_at'])}"
                + (f"  quota {row['quota']}" if row["quota"] else "")
                for row in rows
            ]
            or ["no private grant terms"]
        ),
    )
