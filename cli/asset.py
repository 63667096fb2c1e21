"""``consortium asset``: data assets: register, version, list, show, transfer."""

from __future__ import annotations

from pathlib import Path

import click

from chain.ids import AssetKind
from cli._common import (
    Context,
    F,
    as_option,
    emit,
    fail,
    file_digest,
    iso,
    json_option,
    name_arg,
    parse_digest,
    pass_ctx,
)


def _digest_options(f: F) -> F:
    f = click.option(
        "--metadata-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="File whose SHA-256 is the metadata digest.",
    )(f)
    f = click.option("--metadata-digest", help="Metadata digest, 64 hex digits.")(f)
    f = click.option(
        "--content-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="File whose SHA-256 is the content digest (the file itself never leaves).",
    )(f)
    f = click.option("--content-digest", help="Content digest, 64 hex digits.")(f)
    f = click.option(
        "--classification",
        type=click.IntRange(1, 4),
        required=True,
        help="1 public, 2 internal, 3 confidential, 4 restricted.",
    )(f)
    return f


def _digests(
    content_digest: str | None,
    content_file: Path | None,
    metadata_digest: str | None,
    metadata_file: Path | None,
) -> tuple[bytes, bytes]:
    if (content_digest is None) == (content_file is None):
        raise click.UsageError("give exactly one of --content-digest and --content-file")
    if metadata_digest is not None and metadata_file is not None:
        raise click.UsageError("give at most one of --metadata-digest and --metadata-file")
    content = parse_digest(content_digest, "--content-digest") if content_digest else file_digest(content_file)  # type: ignore[arg-type]
    if metadata_digest:
        metadata = parse_digest(metadata_digest, "--metadata-digest")
    elif metadata_file:
        metadata = file_digest(metadata_file)
    else:
        metadata = b"\0" * 32
    return content, metadata


@click.group()
def asset() -> None:
    """Data assets: register, version, list, show, transfer."""


@asset.command("register")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--kind", type=click.Choice([k.name.lower() for k in AssetKind]), required=True)
@_digest_options
@as_option
@pass_ctx
def asset_register(
    obj: Context,
    asset_id: str,
    kind: str,
    classification: int,
    content_digest: str | None,
    content_file: Path | None,
    metadata_digest: str | None,
    metadata_file: Path | None,
    as_org: str,
) -> None:
    """Register ASSET_ID owned by the signing member."""
    content, metadata = _digests(content_digest, content_file, metadata_digest, metadata_file)
    c = obj.consortium()
    c.assets.register_asset(
        obj.signer(as_org),
        asset_id,
        AssetKind[kind.upper()],
        content,
        metadata,
        classification,
    )
    click.echo(f"registered {asset_id} (version 1, owner {as_org}, content 0x{content.hex()})")


@asset.command("version")
@click.argument("asset_id", callback=name_arg("asset id"))
@_digest_options
@as_option
@pass_ctx
def asset_version(
    obj: Context,
    asset_id: str,
    classification: int,
    content_digest: str | None,
    content_file: Path | None,
    metadata_digest: str | None,
    metadata_file: Path | None,
    as_org: str,
) -> None:
    """Add a new version of ASSET_ID; earlier versions stay on record."""
    content, metadata = _digests(content_digest, content_file, metadata_digest, metadata_file)
    c = obj.consortium()
    version = c.assets.add_version(obj.signer(as_org), asset_id, content, metadata, classification)
    click.echo(f"{asset_id} is now at version {version}")


@asset.command("list")
@click.option("--owner", callback=name_arg("org id"), help="Only assets of this owner.")
@json_option
@pass_ctx
def asset_list(obj: Context, owner: str | None, as_json: bool) -> None:
    """List data assets."""
    items = [a for a in obj.consortium().assets.assets() if owner is None or a.owner == owner]
    emit(
        as_json,
        items,
        lambda: (
            [
                f"{a.asset:<28} {a.kind.name.lower():<8} L{a.classification}  v{a.version_count:<3} {a.owner:<18}"
                + (" retired" if a.retired else "")
                + (f" (offered to {a.pending_owner})" if a.pending_owner else "")
                for a in items
            ]
            or ["no assets"]
        ),
    )


@asset.command("show")
@click.argument("asset_id", callback=name_arg("asset id"))
@json_option
@pass_ctx
def asset_show(obj: Context, asset_id: str, as_json: bool) -> None:
    """Show ASSET_ID with its full version history."""
    c = obj.consortium()
    info = c.assets.asset(asset_id)
    if info is None:
        fail(f"unknown asset {asset_id!r}")
    versions = c.assets.versions(asset_id)
    emit(
        as_json,
        {"asset": info, "versions": versions},
        lambda: (
            [
                f"asset           {info.asset}",
                f"owner           {info.owner}",
                f"kind            {info.kind.name.lower()}",
                f"classification  {info.classification}",
                f"registered      {iso(info.registered_at)}",
                f"status          {'retired' if info.retired else 'active'}"
                + (f", transfer offered to {info.pending_owner}" if info.pending_owner else ""),
                "versions:",
            ]
            + [
                f"  v{v.version}  {iso(v.registered_at)}  L{v.classification}  content 0x{v.content_digest.hex()}"
                f"  metadata 0x{v.metadata_digest.hex()}"
                for v in versions
            ]
        ),
    )


@asset.command("transfer")
@click.argument("action", type=click.Choice(["offer", "accept", "cancel"]))
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--to", "to_org", callback=name_arg("org id"), help="Receiving member (for offer).")
@as_option
@pass_ctx
def asset_transfer(obj: Context, action: str, asset_id: str, to_org: str | None, as_org: str) -> None:
    """Transfer rights to ASSET_ID: the owner offers, the receiving member accepts."""
    if action == "offer" and to_org is None:
        raise click.UsageError("offer needs --to ORG")
    c = obj.consortium()
    signer = obj.signer(as_org)
    if action == "offer":
        assert to_org is not None
        c.assets.offer_transfer(signer, asset_id, to_org)
        click.echo(
            f"{asset_id} offered to {to_org}; it accepts with: consortium asset transfer accept {asset_id} "
            f"--as {to_org}"
        )
    elif action == "accept":
        c.assets.accept_transfer(signer, asset_id)
        click.echo(f"{as_org} now owns {asset_id}")
    else:
        c.assets.cancel_transfer(signer, asset_id)
        click.echo(f"transfer offer of {asset_id} cancelled")
