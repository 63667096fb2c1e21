"""``consortium init``: create a consortium: identities, contracts, founders, the consortium file."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from cli._common import Context, pass_ctx
from demo import demo_config_path
from demo.privacy import load_demo_psi
from network.config import ConsortiumConfig, load_config
from network.consortium import init_consortium


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Consortium file (TOML). Default: the shipped demo consortium.",
)
@click.option("--demo", is_flag=True, help="Also load the demo catalogue, data assets and grants.")
@click.option(
    "--crypto",
    type=click.Choice(["intl", "sm"]),
    default="intl",
    show_default=True,
    help="Suite of the audit log, kept for the consortium's life: intl (SHA-256, Ed25519) or sm (SM3, SM2; "
    "docs/national-suite.md). TLS, member CAs and logins are X.509 ECDSA under both.",
)
@pass_ctx
def init(obj: Context, directory: Path, config_file: Path | None, demo: bool, crypto: str) -> None:
    """Create a consortium in DIRECTORY: identities, contracts, founding members."""
    config: ConsortiumConfig = load_config(config_file or demo_config_path())
    passphrase = obj.passphrase()
    # The demo's identifier set and its grant name members of the shipped demo consortium; its terms are of the
    # consortium's suite (ecdh-psi-sm2 and an SM2 job-secret key under sm, docs/privacy.md).
    with_psi = config_file is None
    demo_steps = [functools.partial(load_demo_psi, passphrase=passphrase, crypto=crypto)] if with_psi else []
    description = init_consortium(
        directory,
        config,
        passphrase,
        chain_url=obj.chain_url,
        load_demo=demo,
        crypto=crypto,
        progress=lambda line: click.echo(f"  {line}"),
        demo_steps=demo_steps,
    )
    click.echo(
        f"initialised consortium {description.name!r} in {directory} "
        f"({len(description.members)} members, chain id {description.chain_id}), log suite {description.crypto}"
    )
    click.echo(f"public description: {directory / 'consortium.json'}")
