"""``consortium``: the command line of Consortium Ledger.

Every read takes ``--json``. A mistake prints one line on stderr (``error: ...``) and exits 1; a usage error
exits 2; ``grant check`` exits 0 when the call would be allowed and 3 when it would be denied.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import click

from chain.errors import ChainError, ContractRevertError
from cli._common import Context, fail, name_arg
from network.errors import NetworkError
from notary.log.errors import NotaryError

#: Each command: the module that defines it, its name there, and its one-line help. A command's module is
#: imported only when the command runs (or its own help is asked for), so ``consortium --help`` and a light
#: command do not pay for web3, py-evm or the notary. ``tests/integration/cli/test_lazy_commands.py`` checks each
#: line against the command's own help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "asset": ("cli.asset", "asset", "Data assets: register, version, list, show, transfer."),
    "chain": (
        "cli.node",
        "chain_group",
        "The chain: verify every node's store; status of every node; equivocations; end a validator's sit-out.",
    ),
    "data": (
        "cli.data",
        "data_group",
        "Crypto-shredding of call digests: reveal one event's salt, shred one day's epoch key.",
    ),
    "demo": ("cli.demo", "demo_group", "The demo consortium: its upstream services and generated traffic."),
    "gateway": (
        "cli.gateway",
        "gateway_group",
        "A provider's gateway: authenticate, check the on-chain grant, forward or deny, record every call.",
    ),
    "grant": ("cli.grant", "grant", "Access grants: create, revoke, list, check."),
    "identity": (
        "cli.identity",
        "identity",
        "Identities: a firm's CA and keys, and the certificates its CA issues and revokes.",
    ),
    "init": ("cli.init", "init", "Create a consortium in DIRECTORY: identities, contracts, founding members."),
    "member": (
        "cli.member",
        "member",
        "Members: list, join, propose (admit, remove, suspend, reinstate, threshold), approve, suspend, keys.",
    ),
    "node": ("cli.node", "node", "Run one member's chain node until SIGTERM or Ctrl-C."),
    "notary": (
        "cli.log",
        "notary_group",
        "The audit log's notary: sequence events, checkpoint, collect cosignatures, anchor.",
    ),
    "privacy": (
        "cli.privacy",
        "privacy_group",
        "Privacy computing: PSI jobs through the gateways, and disclosure proofs from a party's kept job files.",
    ),
    "service": ("cli.service", "service", "The service catalogue: service centers, units and APIs."),
    "storage": ("cli.storage", "storage_group", "Shared databases: the schema version of each component in one."),
    "up": ("cli.up", "up", "Start the consortium in DIRECTORY and keep it running until Ctrl-C."),
    "user": (
        "cli.user",
        "user_group",
        "People of the member firms and of the regulator: their certificates with a role, their explorer logins.",
    ),
    "verify": (
        "cli.verify",
        "verify",
        "Verify evidence bundles, the audit log, disclosure documents, revealed salts and the chain's state.",
    ),
    "witness": (
        "cli.log",
        "witness_group",
        "A member's witness of the audit log: cosign checkpoints consistent with what it cosigned before.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when one is used, with their one-line help kept in ``COMMANDS``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit))  # click's own truncation
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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
@click.option(
    "--chain-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CONSORTIUM_CHAIN_CERT",
    default=None,
    help="A member's certificate for an https --chain-url whose node admits members only, e.g. "
    "DIR/orgs/ORG/users/Admin@ORG/msp/signcerts/cert.pem.",
)
@click.option(
    "--chain-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CONSORTIUM_CHAIN_KEY",
    default=None,
    help="Its private key (an encrypted key is opened with the passphrase).",
)
@click.option(
    "--chain-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="CONSORTIUM_CHAIN_CA",
    default=None,
    help="CA bundle of the node's certificate [default: the member CAs of consortium.json].",
)
@click.option(
    "--as",
    "reader",
    metavar="ORG",
    envvar="CONSORTIUM_AS",
    default=None,
    callback=name_arg("org id"),
    help="The member a command reads an https chain as, one that serves members only (ORG's admin identity in "
    "DIR/orgs/ORG; or $CONSORTIUM_AS). A command's own --as wins; without either, the one org whose identity DIR "
    "holds.",
)
@click.version_option(package_name="consortium-ledger")
@click.pass_context
def cli(
    ctx: click.Context,
    directory: Path,
    chain_url: str | None,
    passphrase_file: Path | None,
    chain_cert: Path | None,
    chain_key: Path | None,
    chain_ca: Path | None,
    reader: str | None,
) -> None:
    """Consortium Ledger: data-asset rights, access grants and audit anchors on a consortium chain."""
    if {"CONSORTIUM_KDF_ITERATIONS", "CONSORTIUM_SM_KDF_ITERATIONS"} & os.environ.keys():  # key files' cost (suite.sm4)
        from suite.errors import SM4Error
        from suite.sm4 import iterations_setting

        try:
            iterations_setting()
        except SM4Error as exc:
            fail(str(exc))
    ctx.obj = Context(directory, chain_url, passphrase_file, chain_cert, chain_key, chain_ca, reader)


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
