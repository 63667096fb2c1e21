"""``consortium``: the command line of Consortium Ledger.

Every read takes ``--json``. A mistake prints one line on stderr (``error: ...``) and exits 1; a usage error
exits 2; ``grant check`` exits 0 when the call would be allowed and 3 when it would be denied.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from chain.errors import ChainError, ContractRevertError
from cli._common import Context, fail
from cli.asset import asset
from cli.demo import demo_group
from cli.gateway import gateway_group
from cli.grant import grant
from cli.identity import identity
from cli.init import init
from cli.log import notary_group, witness_group
from cli.member import member
from cli.node import chain_group, node
from cli.service import service
from cli.up import up
from cli.user import user_group
from cli.verify import verify
from network.errors import NetworkError
from notary.log.errors import NotaryError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    envvar="CONSORTIUM_DIR",
    default="demo-data",
    show_default=True,
    help="Consortium directory (or $CONSORTIUM_DIR).",
)
@click.option(
    "--chain-url",
    envvar="CONSORTIUM_CHAIN_URL",
    default=None,
    help="Use this Ethereum JSON-RPC URL instead of the one in consortium.json (e.g. a Besu node).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the key passphrase (else $CONSORTIUM_PASSPHRASE).",
)
@click.version_option(package_name="consortium-ledger")
@click.pass_context
def cli(ctx: click.Context, directory: Path, chain_url: str | None, passphrase_file: Path | None) -> None:
    """Consortium Ledger: data-asset rights, access grants and audit anchors on a consortium chain."""
    ctx.obj = Context(directory, chain_url, passphrase_file)


cli.add_command(init)
cli.add_command(up)
cli.add_command(node)
cli.add_command(chain_group)
cli.add_command(member)
cli.add_command(identity)
cli.add_command(asset)
cli.add_command(service)
cli.add_command(grant)
cli.add_command(notary_group)
cli.add_command(witness_group)
cli.add_command(verify)
cli.add_command(gateway_group)
cli.add_command(demo_group)
cli.add_command(user_group)


def main() -> None:
    """Entry point: turns every expected failure into one line on stderr."""
    try:
        cli(standalone_mode=True)
    except ContractRevertError as exc:
        fail(f"refused by the contract: {exc.reason}")
    except (ChainError, NetworkError, NotaryError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
