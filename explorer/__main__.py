"""``python -m explorer DIR [--port 8000] [--notary-url URL] [--chain-url URL] [--no-audit] [--index URL]
[--alarms-url URL]``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from explorer.service import ExplorerOptions, serve
from network.identity import IdentityError, load_passphrase

if TYPE_CHECKING:
    from chain.backend import ClientTls


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--notary-url",
    default=None,
    help="The notary's HTTP API [default: the one `consortium up` recorded in consortium.json].",
)
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
@click.option(
    "--chain-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A member's certificate for an https --chain-url whose node admits members only (as consortium's "
    "--chain-cert; `consortium up --rpc-tls` gives the operator's chain@ identity).",
)
@click.option("--chain-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Its private key (an encrypted key is opened with the passphrase).")  # fmt: skip
@click.option("--chain-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CA bundle of the node's certificate [default: the member CAs of consortium.json].")  # fmt: skip
@click.option(
    "--alarms-url",
    metavar="URL",
    default=None,
    help="The live alarms from the alarm endpoint of `consortium up` (http://127.0.0.1:PORT+3/v1/alarms; its token "
    "is read from DIR/alarms/api.token). Default: DIR/alarms/alarms.json, which the evaluator also writes.",
)
def main(
    directory: Path,
    host: str,
    port: int,
    notary_url: str | None,
    chain_url: str | None,
    no_audit: bool,
    poll: float,
    index_url: str | None,
    chain_cert: Path | None,
    chain_key: Path | None,
    chain_ca: Path | None,
    alarms_url: str | None,
) -> None:
    """Serve the explorer of the consortium in DIRECTORY."""
    alarms_token = None
    if alarms_url is not None:
        from network.alarms.server import api_token, token_path

        if not alarms_url.startswith("http://127.0.0.1:"):
            raise click.BadParameter(
                "the endpoint of `consortium up`, http://127.0.0.1:PORT/...", param_hint="--alarms-url"
            )
        alarms_token = api_token(directory)
        if alarms_token is None:
            raise click.UsageError(f"--alarms-url: no token in {token_path(directory)} (`consortium up` makes it)")
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
    from network.description import ServiceNotRecordedError, load_description

    tls = _chain_tls(directory, chain_url, chain_cert, chain_key, chain_ca, passphrase)
    try:
        notary_url = load_description(directory).service_url("notary", notary_url)
    except ServiceNotRecordedError as exc:
        raise click.UsageError(str(exc)) from None
    options = ExplorerOptions(
        directory=directory,
        notary_url=notary_url,
        chain_url=chain_url,
        passphrase=passphrase,
        audit=not no_audit,
        poll=poll,
        index_url=index_url,
        chain_tls=tls,
        alarms_url=alarms_url,
        alarms_token=alarms_token,
    )
    serve(options, host, port)


def _chain_tls(
    directory: Path,
    chain_url: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    passphrase: bytes | None,
) -> ClientTls | None:
    """The client certificate for an https chain URL (a node serving members only), as the CLI's; None for
    http."""
    from network.description import load_description
    from network.nodeaccess import client_tls

    if (cert is None) != (key is None):
        raise click.UsageError("--chain-cert and --chain-key go together")
    description = load_description(directory)
    if not (chain_url or description.chain_url).startswith("https://"):
        if cert is not None or ca is not None:
            raise click.UsageError("--chain-cert, --chain-key and --chain-ca are for an https chain URL")
        return None
    if key is not None and passphrase is None:
        raise click.UsageError("--chain-key needs CONSORTIUM_PASSPHRASE to open it")
    return client_tls(description, cert, key, ca, passphrase)


if __name__ == "__main__":
    main()
