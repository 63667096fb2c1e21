"""``consortium node`` and ``consortium chain``: run the embedded chain node; re-execute and check its chain."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from cli._common import Context, fail, pass_ctx


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address JSON-RPC listens on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8545, show_default=True, help="JSON-RPC port.")
@click.option(
    "--block-time", type=click.FloatRange(0.01, 60), default=1.0, show_default=True, help="Seconds between blocks."
)
@click.option("--empty-blocks", is_flag=True, help="Make a block every block time even with nothing in it.")
@click.option("--org", help="The member whose account key this node signs with (default: the genesis' sealer).")
@click.option(
    "--chain-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="This node's chain directory: genesis.json and the store (default: DIRECTORY/chain).",
)
@click.option("--peer-port", type=click.IntRange(0, 65535), help="Join the network: the port peers reach this node on.")
@click.option("--peer-host", default="127.0.0.1", show_default=True, help="Address the peer server listens on.")
@click.option("--peer", "peers", multiple=True, help="Another node's peer URL (repeat for each).")
@click.option("--peer-cert", type=click.Path(exists=True, dir_okay=False), help="TLS certificate for peer links.")
@click.option("--peer-key", type=click.Path(exists=True, dir_okay=False), help="Its private key (PEM).")
@click.option("--peer-ca", type=click.Path(exists=True, dir_okay=False), help="CA bundle peers' certificates chain to.")
@click.option(
    "--round-timeout", type=click.FloatRange(0.1, 60), default=2.0, show_default=True, help="Round 0's timer, s."
)
@pass_ctx
def node(
    obj: Context,
    directory: Path,
    host: str,
    port: int,
    block_time: float,
    empty_blocks: bool,
    org: str | None,
    chain_dir: Path | None,
    peer_port: int | None,
    peer_host: str,
    peers: tuple[str, ...],
    peer_cert: str | None,
    peer_key: str | None,
    peer_ca: str | None,
    round_timeout: float,
) -> None:
    """Run the consortium's chain node on DIRECTORY/chain until SIGTERM or Ctrl-C.

    Alone, it seals every block with the genesis' sealer key. With --peer-port it joins the consortium's
    network: QBFT among the validators the chain names decides each block, with the other nodes at --peer
    (mutual TLS with --peer-cert, --peer-key and --peer-ca)."""
    import threading

    from chain.node import service

    chain_dir = chain_dir or directory / "chain"
    if not (chain_dir / service.GENESIS_FILE).is_file():
        fail(
            f"{chain_dir / service.GENESIS_FILE} not found: this directory was not initialised for the "
            "embedded node (run `consortium init`)"
        )
    tls = (peer_cert, peer_key, peer_ca)
    if any(tls) and not all(tls):
        fail("--peer-cert, --peer-key and --peer-ca go together")
    if peer_port is None and (peers or any(tls)):
        fail("--peer and the TLS files need --peer-port: they are for a node on the consortium's network")
    _, sealer_org = service.load_genesis(chain_dir)
    from network.identity import load_account_key

    key = load_account_key(directory, org or sealer_org, obj.passphrase())  # type: ignore[arg-type]
    settings = None
    if peer_port is not None:
        settings = service.PeerSettings(
            port=peer_port,
            peers=peers,
            host=peer_host,
            tls=(peer_cert, peer_key, peer_ca) if peer_cert and peer_key and peer_ca else None,
            round_timeout=round_timeout,
        )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.configure_logging()
    service.run(
        chain_dir,
        key,
        host=host,
        port=port,
        block_time=block_time,
        empty_blocks=empty_blocks,
        ready=lambda url: click.echo(f"node serving JSON-RPC at {url}", err=True),
        stop=stop,
        peers=settings,
    )


@click.group("chain")
def chain_group() -> None:
    """The chain store: verify."""


@chain_group.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def chain_verify(directory: Path) -> None:
    """Re-check every block in DIRECTORY/chain: links, seals, re-executed state roots."""
    from tqdm import tqdm

    from chain.node.service import STORE_DIR
    from chain.node.store import open_store
    from chain.node.verify import BlockVerificationError, verify_chain

    store_dir = directory / "chain" / STORE_DIR
    if not store_dir.is_dir():
        fail(f"{store_dir} not found: no chain store in this directory")
    with open_store(store_dir) as store:
        bar = tqdm(total=0, unit="block", disable=None, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = verify_chain(store, progress)
        except BlockVerificationError as exc:
            bar.close()
            fail(f"chain verification failed at block {exc.number}: {exc.reason}")
        bar.close()
    click.echo(
        f"chain verified: {report.head} blocks, {report.transactions} transactions, "
        f"state root 0x{report.state_root.hex()}"
    )


