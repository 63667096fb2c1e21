"""``consortium demo ...``: the demo consortium's upstream services (:mod:`demo.services`) and its generator of
calls between members (:mod:`demo.traffic`)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from cli._common import command_passphrase, fail, root_chain_tls
from demo.traffic import ENDPOINTS_FILE, plans, run_traffic
from network.description import load_description
from network.identity import load_passphrase


@click.group("demo")
def demo_group() -> None:
    """The demo consortium: its upstream services and generated traffic."""


@demo_group.command("services")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8547, show_default=True)
@click.option("--provider", default=None, help="Serve only this org's APIs (default: every API of the catalogue).")
@click.option(
    "--privacy",
    "consortium_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Also serve the owner's PSI service of the demo's identifier set of the consortium in this directory, if "
    "it has one (demo.privacy; the passphrase from $CONSORTIUM_PASSPHRASE).",
)
def demo_services(host: str, port: int, provider: str | None, consortium_dir: Path | None) -> None:
    """Serve the demo catalogue's APIs with fictional, deterministic data (the gateways' upstream)."""
    import asyncio

    from demo import demo_config_path
    from demo import privacy as demo_psi
    from demo.privacy import DeferredPsi, deferred_demo_psi, is_demo_psi
    from demo.services import serve
    from network.config import load_config

    catalogue = load_config(demo_config_path()).catalogue
    assert catalogue is not None
    psi: list[DeferredPsi] = []
    if consortium_dir is not None and is_demo_psi(consortium_dir) and provider in (None, demo_psi.OWNER):
        psi = deferred_demo_psi(consortium_dir, load_passphrase())
    where = "".join(f", PSI at {service.steps}/" for service in psi)
    click.echo(f"demo services on http://{host}:{port} ({len(catalogue.apis())} APIs{where})", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(catalogue, host, port, provider=provider, psi=psi))


@demo_group.command("traffic")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rate", type=click.FloatRange(0.1, 10_000), default=5.0, show_default=True, help="Calls per second.")
@click.option(
    "--duration",
    type=click.FloatRange(0, 86_400),
    default=10.0,
    show_default=True,
    help="Seconds to run (0: until Ctrl-C).",
)
@click.option(
    "--deny-share",
    type=click.FloatRange(0, 1),
    default=0.25,
    show_default=True,
    help="Share of calls chosen among those that should be refused.",
)
@click.option("--seed", type=int, default=None, help="Make the sequence of calls repeatable.")
@click.option("--chain-url", default=None, help="Chain JSON-RPC URL (default: the one in consortium.json).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo_traffic(
    directory: Path,
    rate: float,
    duration: float,
    deny_share: float,
    seed: int | None,
    chain_url: str | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Generate calls between the members of the consortium in DIRECTORY through their gateways."""
    endpoints_path = directory / "gateways" / ENDPOINTS_FILE
    if not endpoints_path.is_file():
        fail(f"{endpoints_path} not found: start the consortium with `consortium up {directory}`")
    endpoints: dict[str, str] = json.loads(endpoints_path.read_text(encoding="utf-8"))
    passphrase = command_passphrase(passphrase_file)
    tls = root_chain_tls(directory, chain_url or load_description(directory).chain_url, passphrase)
    all_plans = [p for p in plans(directory, chain_url, tls) if p.provider in endpoints]
    if not all_plans:
        fail("no API of this consortium has a running gateway")
    summary = run_traffic(directory, endpoints, all_plans, passphrase, rate, duration, deny_share, seed)
    seen, mismatched, total = summary.outcomes, summary.unexpected, summary.calls
    if as_json:
        click.echo(json.dumps({"calls": total, "outcomes": dict(seen), "unexpected": mismatched}, sort_keys=True))
    else:
        click.echo(f"{total} calls: " + ", ".join(f"{k} {v}" for k, v in seen.most_common()))
        if mismatched:
            click.echo(f"{mismatched} calls were answered differently than the grants predicted")
