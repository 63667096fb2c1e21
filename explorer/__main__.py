"""``python -m explorer DIR [--port 8000] [--notary-url URL] [--chain-url URL] [--no-audit] [--index URL]
[--alarms-url URL [--alarms-cert F --alarms-key F] [--alarms-ca F]] [--alarms-stale-after S]``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from explorer.alarmsource import STALE_AFTER_S, StaleAfterError, stale_after
from explorer.service import ExplorerOptions, serve
from network.errors import NetworkError
from network.identity import IdentityError, load_passphrase

if TYPE_CHECKING:
    import ssl

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
    help="The live alarms from the alarm endpoint of `consortium up`: http://127.0.0.1:PORT+3/v1/alarms, or "
    "https://HOST:PORT+3/v1/alarms from another machine when up serves it there (--alarms-host; mutual TLS). Its "
    "token is read from DIR/alarms/api.token. Default: DIR/alarms/alarms.json, which the evaluator also writes.",
)
@click.option(
    "--alarms-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The client certificate presented to an https --alarms-url: one of the operator's org [default: the "
    "operator's log@ identity, orgs/OPERATOR/users/log@OPERATOR, issued if missing].",
)
@click.option("--alarms-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Its private key (an encrypted key is opened with the passphrase).")  # fmt: skip
@click.option("--alarms-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CA bundle of the endpoint's certificate [default: the member CAs of consortium.json].")  # fmt: skip
@click.option(
    "--alarms-stale-after",
    metavar="SECONDS",
    default=str(STALE_AFTER_S),
    show_default=True,
    help="Live alarms last evaluated longer ago than this are shown as stale (above 0, at most a day).",
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
    alarms_cert: Path | None,
    alarms_key: Path | None,
    alarms_ca: Path | None,
    alarms_stale_after: str,
) -> None:
    """Serve the explorer of the consortium in DIRECTORY."""
    try:
        stale_seconds = stale_after(alarms_stale_after)
    except StaleAfterError as exc:
        raise click.BadParameter(str(exc), param_hint="--alarms-stale-after") from None
    alarms_token = None
    if alarms_url is None and (alarms_cert or alarms_key or alarms_ca):
        raise click.UsageError("--alarms-cert, --alarms-key and --alarms-ca are for an https --alarms-url")
    if alarms_url is not None:
        from network.alarms.server import api_token, token_path

        alarms_https = _alarms_scheme(alarms_url)
        if not alarms_https and (alarms_cert or alarms_key or alarms_ca):
            raise click.UsageError("--alarms-cert, --alarms-key and --alarms-ca are for an https --alarms-url")
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
        alarms_tls=_alarms_tls(directory, alarms_url, alarms_cert, alarms_key, alarms_ca, passphrase),
        alarms_stale_after=stale_seconds,
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


def _alarms_scheme(url: str) -> bool:
    """Whether the endpoint at ``url`` is served over TLS; a plain http URL must be of loopback (the endpoint
    beyond loopback is served over mutual TLS only, docs/alarms.md)."""
    from urllib.parse import urlsplit

    from network.alarms.server import is_loopback

    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return False
    raise click.BadParameter(
        "the endpoint of `consortium up`: http://127.0.0.1:PORT/v1/alarms on its machine, or https://HOST:PORT/"
        "v1/alarms from another (up --alarms-host; plain http beyond loopback is not served)",
        param_hint="--alarms-url",
    )


def _alarms_tls(
    directory: Path,
    url: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    passphrase: bytes | None,
) -> ssl.SSLContext | None:
    """The client context for an https alarm endpoint (mutual TLS): ``ca`` or the member CAs of consortium.json
    for its certificate; ``cert``/``key``, or the operator's log@ identity, presented. None for http."""
    import ssl

    from chain.backend import reloading_client_context
    from network.certificates import ca_bundle_pem
    from network.description import load_description
    from network.logsetup import LOG_IDENTITY

    if url is None or not url.startswith("https://"):
        return None
    if (cert is None) != (key is None):
        raise click.UsageError("--alarms-cert and --alarms-key go together")
    if passphrase is None:
        raise click.UsageError("an https --alarms-url needs CONSORTIUM_PASSPHRASE to open the client key")
    description = load_description(directory)
    try:
        if cert is None or key is None:
            from chain.ids import OrgId, Role
            from network.identity import issue_identity, user_paths

            operator = OrgId(next(m.org for m in description.members if Role.OPERATOR in m.roles))
            paths = user_paths(directory, operator, LOG_IDENTITY)
            if not paths.cert.is_file():
                issue_identity(directory, operator, LOG_IDENTITY, passphrase)
            cert, key = paths.cert, paths.key
        # the certificate followed in its file (a CA rotated re-issues it: chain.tlsfiles.ReloadingContext)
        bundle = ca_bundle_pem(description) if ca is None else None
        context = reloading_client_context(cert, key, passphrase, cafile=None if ca is None else str(ca), cadata=bundle)
    except (ssl.SSLError, NetworkError) as exc:
        raise click.UsageError(f"--alarms-url: cannot present {cert}: {exc}") from None
    return context


if __name__ == "__main__":
    main()
