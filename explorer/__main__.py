"""``python -m explorer DIR [--port 8000] [--notary-url URL] [--chain-url URL] [--no-audit] [--index URL]``."""

from __future__ import annotations

from pathlib import Path

import click

from explorer.service import ExplorerOptions, serve
from network.identity import IdentityError, load_passphrase


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--notary-url", default="http://127.0.0.1:8546", show_default=True, help="The notary's HTTP API.")
@click.option("--chain-url", default=None, help="JSON-RPC of the chain (default: consortium.json's).")
@click.option(
    "--no-audit",
    is_flag=True,
    help="Do not record queries in the audit log (else CONSORTIUM_PASSPHRASE must unlock the operator's key).",
)
@click.option("--poll", type=click.FloatRange(0.05, 60), default=0.5, show_default=True, help="Seconds between syncs.")
@click.option(
    "--index",
    "index_url",
    metavar="URL",
    default=None,
    help="Keep the call index in this PostgreSQL database (postgresql://...), which several explorers share: one "
    "follows the log into it, all read it. Default: SQLite under DIR/explorer/.",
)
def main(
    directory: Path,
    host: str,
    port: int,
    notary_url: str,
    chain_url: str | None,
    no_audit: bool,
    poll: float,
    index_url: str | None,
) -> None:
    """Serve the explorer of the consortium in DIRECTORY."""
    if index_url is not None and not index_url.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("a postgresql:// URL", param_hint="--index")
    passphrase = None
    try:
        passphrase = load_passphrase()
    except IdentityError as exc:
        if not no_audit:
            message = f"{exc} (the audit recorder signs with the operator's key), or pass --no-audit"
            raise click.UsageError(message) from None
        # without the key the explorer reads only a notary that serves its log openly (--open-reads)
    options = ExplorerOptions(
        directory=directory,
        notary_url=notary_url,
        chain_url=chain_url,
        passphrase=passphrase,
        audit=not no_audit,
        poll=poll,
        index_url=index_url,
    )
    serve(options, host, port)


if __name__ == "__main__":
    main()
