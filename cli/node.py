"""``consortium node`` and ``consortium chain``: run the embedded chain node; re-execute and check its chain; list
and check the equivocation evidence its nodes kept."""

from __future__ import annotations

import dataclasses
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from cli._common import Context, fail, pass_ctx

if TYPE_CHECKING:
    from chain.backend import ClientTls
    from chain.node import service
    from chain.node.peerfollow import Source
    from chain.node.verify import VerifyReport
    from chain.qbft.evidence import Equivocation
    from network.description import ConsortiumDescription
    from network.equivocationsources import NodeSource, PeerAsk


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address JSON-RPC listens on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8545, show_default=True, help="JSON-RPC port.")
@click.option(
    "--block-time", type=click.FloatRange(0.01, 60), default=1.0, show_default=True, help="Seconds between blocks."
)
@click.option("--empty-blocks", is_flag=True, help="Make a block every block time even with nothing in it.")
@click.option("--org", help="The member whose node this is, and whose account key it signs with.")
@click.option(
    "--chain-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="This node's chain directory: genesis.json and the store "
    "(default: DIRECTORY/nodes/ORG, or DIRECTORY/chain in a consortium of one node).",
)
@click.option("--peer-port", type=click.IntRange(0, 65535), help="Join the network: the port peers reach this node on.")
@click.option("--peer-host", default="127.0.0.1", show_default=True, help="Address the peer server listens on.")
@click.option("--peer", "peers", multiple=True, help="Another node's peer URL (repeat for each).")
@click.option("--peer-cert", type=click.Path(exists=True, dir_okay=False), help="TLS certificate for peer links.")
@click.option("--peer-key", type=click.Path(exists=True, dir_okay=False), help="Its private key (PEM).")
@click.option("--peer-ca", type=click.Path(exists=True, dir_okay=False), help="CA bundle peers' certificates chain to.")
@click.option(
    "--peer-org",
    "peer_orgs",
    multiple=True,
    help="An org whose node certificate may use this node's peer routes (repeat for each; default: the orgs of "
    "DIRECTORY/nodes/nodes.json, or any member whose CA is in --peer-ca when there is none).",
)
@click.option(
    "--static-peers",
    is_flag=True,
    help="Link only to --peer, and admit only the bundle's CAs: do not follow the members' node endpoints and CAs "
    "in the TrustDirectory (followed by default on the network, docs/trust.md).",
)
@click.option(
    "--round-timeout", type=click.FloatRange(0.1, 60), default=2.0, show_default=True, help="Round 0's timer, s."
)
@click.option(
    "--rpc-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve JSON-RPC over HTTPS with this certificate (e.g. the org's node certificate), to members only.",
)
@click.option("--rpc-key", type=click.Path(exists=True, dir_okay=False), help="Its private key (PEM).")
@click.option(
    "--rpc-public",
    "rpc_public",
    multiple=True,
    metavar="METHODS",
    help="With --rpc-cert: read-only methods anyone may call without a member's certificate, comma-separated "
    "(e.g. eth_chainId,eth_blockNumber; repeatable; default: none). Write methods are refused.",
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
    peer_orgs: tuple[str, ...],
    static_peers: bool,
    round_timeout: float,
    rpc_cert: str | None,
    rpc_key: str | None,
    rpc_public: tuple[str, ...],
) -> None:
    """Run one member's chain node until SIGTERM or Ctrl-C.

        With --peer-port it joins the consortium's network: QBFT among the validators the chain names decides each
        block, with the other nodes at --peer (mutual TLS with --peer-cert, --peer-key and --peer-ca; an encrypted
        key is opened with the consortium passphrase). Only node certificates (CN=node.<org>, issued by that org's
    CA) of the orgs that run a node may use its peer routes; a person's or a gateway's certificate gets 403. A
    node that is not a validator (the regulator's) votes in
        nothing and checks every block it receives. It also links to the node endpoints the other members publish on
    chain and admits their node certificates through their CAs on chain (not with --static-peers). Run from the
    directory a firm joined from (`member join`) with --org and --peer-port, it writes its genesis (from
    consortium.json, checked against the chain), node certificate and peer bundle there on its first start and
    takes its peers from the chain. Without --peer-port the node seals every block alone, which only
        a chain of one validator allows.

    With --rpc-cert and --rpc-key, JSON-RPC is HTTPS and answers only clients presenting a certificate of a member
    (issued by a member CA of consortium.json, not revoked by its org's CRL in DIRECTORY, of an org the chain's
    registry lists as an active member); anyone else gets 401 or 403 with the reason, except for the methods of
    --rpc-public. Without --rpc-cert anyone who reaches --host:--port reads every block."""
    import threading

    from chain.node import service
    from network.nodes import NodesError, default_chain_dir, is_network, read_nodes

    description = _description(directory)
    founders = set() if description is None else {m.org for m in description.members}
    joined = description is not None and org is not None and org not in founders and not is_network(directory)
    if chain_dir is None and joined:
        # a firm admitted after init, in its own directory: genesis from consortium.json (checked against the
        # chain), its node certificate and a bundle of the founders' CAs and its own; peers from the chain
        if peer_port is None:
            fail(f"{org} is not a founder: its node runs on the consortium's network, give --peer-port")
        chain_dir = _prepare_joined(obj, directory, org, description)  # type: ignore[arg-type]
        from network.identity import OrgPaths
        from network.nodes import NODES_DIR, PEER_CA_FILE

        if not any((peer_cert, peer_key, peer_ca)):
            paths = OrgPaths.of(directory, org)  # type: ignore[arg-type]
            peer_cert, peer_key = str(paths.node_tls_cert), str(paths.node_tls_key)
            peer_ca = str(directory / NODES_DIR / PEER_CA_FILE)
    if chain_dir is None:
        try:
            chain_dir = default_chain_dir(directory, org)
        except NodesError as exc:
            fail(str(exc))
    if not (chain_dir / service.GENESIS_FILE).is_file():
        fail(
            f"{chain_dir / service.GENESIS_FILE} not found: this directory was not initialised for the "
            "embedded node (run `consortium init`)"
        )
    rpc_tls = _rpc_tls(directory, rpc_cert, rpc_key, rpc_public, obj)
    tls = (peer_cert, peer_key, peer_ca)
    if any(tls) and not all(tls):
        fail("--peer-cert, --peer-key and --peer-ca go together")
    if peer_port is None and (peers or any(tls)):
        fail("--peer and the TLS files need --peer-port: they are for a node on the consortium's network")
    genesis, sealer_org = service.load_genesis(chain_dir)
    if peer_port is None and len(genesis.validators) > 1:
        fail(
            f"this chain has {len(genesis.validators)} validators: a node joins their network with --peer-port and "
            "--peer (`consortium up` starts every node of a demo consortium)"
        )
    from network.accountrotation import AccountKeyFiles
    from network.identity import load_account_key

    key = load_account_key(directory, org or sealer_org, obj.passphrase())  # type: ignore[arg-type]
    settings = None
    orgs: tuple[str, ...] | None = peer_orgs or None
    if orgs is None and is_network(directory):
        try:
            orgs = tuple(e.org for e in read_nodes(directory))
        except NodesError as exc:
            fail(str(exc))
    if peer_orgs and peer_port is None:
        fail("--peer-org needs --peer-port: it is for a node on the consortium's network")
    if peer_port is not None:
        follow: dict[str, Any] = {}
        if not static_peers and description is not None and "TrustDirectory" in description.contracts:
            from chain.backend import ClientTls

            bootstrap = obj.chain_url or description.chain_url
            follow = {
                "directory": description.contracts["TrustDirectory"],
                "org": org or sealer_org,
                "bootstrap_url": None if peers else bootstrap,
                "bootstrap_tls": None
                if peers or not bootstrap.startswith("https://")
                else dataclasses.replace(obj, directory=directory).chain_tls(bootstrap),
                "own_tls": ClientTls(Path(peer_cert), Path(peer_key), Path(peer_ca), password=obj.passphrase())
                if rpc_tls is not None and peer_cert and peer_key and peer_ca
                else None,
            }
        settings = service.PeerSettings(
            port=peer_port,
            peers=peers,
            host=peer_host,
            tls=(peer_cert, peer_key, peer_ca) if peer_cert and peer_key and peer_ca else None,
            tls_password=obj.passphrase(),
            round_timeout=round_timeout,
            orgs=orgs,
            **follow,
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
        rpc_tls=rpc_tls,
        other_keys=AccountKeyFiles(directory, org or sealer_org, obj.passphrase()),
    )


def _description(directory: Path) -> ConsortiumDescription | None:
    """DIRECTORY's consortium.json, or None while it has none (``init`` starts the nodes before writing it)."""
    from network.description import FILENAME, load_description

    if not (directory / FILENAME).is_file():
        return None
    from chain.errors import ChainError
    from network.errors import NetworkError

    try:
        return load_description(directory)
    except (ChainError, NetworkError) as exc:
        fail(str(exc))


def _prepare_joined(obj: Context, directory: Path, org: str, description: ConsortiumDescription) -> Path:
    """The chain directory of a joined firm's node, written on its first start (``prepare_member_node``)."""
    import httpx
    import requests
    from web3.exceptions import Web3Exception

    from chain.backend import RpcBackend
    from chain.errors import ChainError
    from chain.ids import OrgId
    from network.errors import NetworkError
    from network.nodes import prepare_member_node

    if not (directory / "orgs" / org).is_dir():
        fail(f"no identity of {org!r} in {directory / 'orgs'}: run the node from the directory the firm joined from")
    url = obj.chain_url or description.chain_url
    try:
        tls = dataclasses.replace(obj, directory=directory).chain_tls(url) if url.startswith("https://") else None
        backend = RpcBackend(url, tls=tls)
        return prepare_member_node(directory, OrgId(org), description, backend, obj.passphrase())
    except (ChainError, NetworkError, httpx.HTTPError, requests.RequestException, Web3Exception, OSError,
            ValueError) as exc:  # fmt: skip
        fail(f"cannot prepare the node of {org} from {url}: {exc}")


def _rpc_tls(
    directory: Path, cert: str | None, key: str | None, public: tuple[str, ...], obj: Context
) -> service.RpcTls | None:
    """The JSON-RPC's TLS and member rule from the options, or None for plain HTTP; one line and exit 1 for a
    combination that cannot run."""
    from chain.errors import ChainError
    from chain.node import service
    from chain.node.rpc.access import public_methods
    from network.description import load_description
    from network.errors import NetworkError
    from network.nodeaccess import NodeMembers

    if (cert is None) != (key is None):
        fail("--rpc-cert and --rpc-key go together")
    names = [n for value in public for n in value.split(",")]
    if cert is None or key is None:
        if names:
            fail("--rpc-public needs --rpc-cert and --rpc-key: without TLS every method is open to whoever reaches "
                 "the port")  # fmt: skip
        return None
    try:
        chosen = public_methods(names)
        members = NodeMembers(directory, load_description(directory))
        context = members.server_context(Path(cert), Path(key), obj.passphrase())
    except (ChainError, NetworkError) as exc:
        fail(str(exc))
    return service.RpcTls(context, members.admit, chosen)


@click.group("chain")
def chain_group() -> None:
    """The chain: verify every node's store; status of every node; equivocations; end a validator's sit-out."""


@chain_group.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", help="Check only this member's node (default: every node in DIRECTORY).")
def chain_verify(directory: Path, org: str | None) -> None:
    """Re-check every block of each node in DIRECTORY: links, seals, re-executed state roots; then that the
    nodes hold one chain (the same block hashes up to the lowest head)."""
    from chain.node.store import open_store
    from chain.node.verify import canonical_hash

    targets = _stores(directory, org)
    heads: list[tuple[str, Path, int]] = []
    for name, store_dir in targets:
        label = f" ({name})" if name else ""
        if not store_dir.is_dir():
            if name and len(targets) > 1:
                click.echo(f"no store yet{label}: the node has not run")
                continue
            fail(f"{store_dir} not found: no chain store in this directory")
        report = _verify_one(store_dir, label)
        click.echo(
            f"chain verified{label}: {report.head} blocks, {report.transactions} transactions, "
            f"state root 0x{report.state_root.hex()}"
        )
        heads.append((name, store_dir, report.head))
    if len(heads) > 1:
        common = min(head for _, _, head in heads)
        hashes = {}
        for name, store_dir, _ in heads:
            with open_store(store_dir) as store:
                hashes[name] = canonical_hash(store, common)
        if len(set(hashes.values())) > 1:
            detail = ", ".join(f"{n} 0x{h.hex()[:16]}" for n, h in hashes.items())
            fail(f"the nodes hold different chains: block {common} is {detail}")
        click.echo(f"{len(heads)} nodes hold one chain: block {common} is 0x{next(iter(hashes.values())).hex()}")


def _stores(directory: Path, org: str | None) -> list[tuple[str, Path]]:
    """The chain stores in DIRECTORY, each with its node's org ("" for the single node of a one-node directory):
    ``org``'s alone if given."""
    from chain.node.service import STORE_DIR
    from network.nodes import NodesError, is_network, node_dir, read_nodes

    try:
        if is_network(directory):
            orgs = [e.org for e in read_nodes(directory)]
            if org is not None and org not in orgs:
                fail(f"{org} runs no node here: the nodes are {', '.join(orgs)}")
            return [(str(o), node_dir(directory, o) / STORE_DIR) for o in orgs if org in (None, o)]
    except NodesError as exc:
        fail(str(exc))
    return [("", directory / "chain" / STORE_DIR)]


@chain_group.command("vote-again")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", help="The member whose node is to vote again (needed where DIRECTORY runs several nodes).")
def chain_vote_again(directory: Path, org: str | None) -> None:
    """End a validator's sit-out: vouch that its stopped node's record of signed messages is complete, so that
    its next start votes at once whatever its peers' head.

    A validator whose record is fresh (a wiped data directory) or behind its peers (a restored backup, or a node
    that was down while they decided blocks) sits out the height in progress; two of four doing so at one height
    stall it for good. Only vouch for a record you know lacks nothing the validator signed: one that does lets it
    sign twice in that height."""
    from chain.node.signed import VOUCHED_HEAD, vouch
    from chain.node.store import StoreError, open_store

    stores = _stores(directory, org)
    if len(stores) > 1:
        fail(f"DIRECTORY runs {len(stores)} nodes: name one with --org ({', '.join(n for n, _ in stores)})")
    name, store_dir = stores[0]
    label = f" of {name}" if name else ""
    if not store_dir.is_dir():
        fail(f"{store_dir} not found: the node{label} has no chain store yet (it has not run)")
    try:
        with open_store(store_dir) as store:
            before = vouch(store)
    except StoreError as exc:
        fail(f"the chain store{label} cannot be changed, nothing was: {exc}")
    if before.fresh:
        was = "held no record (a fresh store: it would have sat out the height in progress)"
    elif before.abstain_through is None:
        was = "was fresh, its abstain height not fixed yet"
    elif before.check_from == VOUCHED_HEAD:
        was = "was already vouched for"
    elif before.abstain_through:
        was = f"abstained through height {before.abstain_through}"
    else:
        was = "did not abstain"
    if before.check_from is not None and before.check_from != VOUCHED_HEAD:
        was += f", and its next start would have compared its peers' head with block {before.check_from}"
    kept = f"heights {before.heights[0]} to {before.heights[-1]}" if before.heights else "no message"
    click.echo(f"the record of signed messages{label} {was}; it keeps {kept}")
    click.echo(f"vouched for: the node{label} votes at its next start, whatever its peers' head")


def _verify_one(store_dir: Path, label: str) -> VerifyReport:
    from tqdm import tqdm

    from chain.node.store import open_store
    from chain.node.verify import BlockVerificationError, verify_chain

    with open_store(store_dir) as store:
        bar = tqdm(total=0, unit="block", disable=None, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            return verify_chain(store, progress)
        except BlockVerificationError as exc:
            fail(f"chain verification failed{label} at block {exc.number}: {exc.reason}")
        finally:
            bar.close()


@chain_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per node.")
@click.option("--timeout", type=click.FloatRange(0.1, 30), default=2.0, show_default=True, help="Seconds per node.")
@pass_ctx
def chain_status(obj: Context, as_json: bool, timeout: float) -> None:
    """Every node's height, head, round, peers and health, side by side (from the nodes `consortium up` last
    started; a node that does not answer is shown as down)."""
    import json as jsonlib

    from network.description import load_description
    from network.nodes import NodesError, is_network, read_nodes

    directory = obj.directory
    description = load_description(directory)
    try:
        if is_network(directory):
            nodes = [(str(e.org), e.role, e.rpc_url) for e in read_nodes(directory)]
        else:
            nodes = [("", "alone", obj.chain_url or description.chain_url)]
    except NodesError as exc:
        fail(str(exc))
    if any(not url for _, _, url in nodes):
        fail(f"the nodes in {directory} have not been started yet: run `consortium up {directory}`")
    https = next((url for _, _, url in nodes if url.startswith("https://")), None)
    tls = None if https is None else obj.chain_tls(https)  # nodes serving members only: --chain-cert's
    rows: list[dict[str, Any]] = [
        {"org": org, "role": role, "url": url, **_node_status(url, description.chain_id, timeout, tls)}
        for org, role, url in nodes
    ]
    if as_json:
        for row in rows:
            click.echo(jsonlib.dumps(row))
        return
    click.echo(f"{'node':<18} {'role':<9} {'JSON-RPC':<24} {'head':>7}  {'hash':<12} {'round':>5} {'peers':>5}  state")
    for row in rows:
        if "error" in row:
            click.echo(f"{row['org'] or '-':<18} {row['role']:<9} {row['url']:<24} {'-':>7}  {'-':<12} {'-':>5} "
                       f"{'-':>5}  down: {row['error']}")  # fmt: skip
            continue
        words = [("inSync", "in sync"), ("inQuorum", "in quorum")]
        state = ", ".join(word if row[key] else f"NOT {word}" for key, word in words if key in row)
        peers = f"{row['peersConnected']}/{row['peers']}" if "peers" in row else "-"
        round_ = "-" if row.get("round") is None else str(row["round"])
        click.echo(
            f"{row['org'] or '-':<18} {row['role']:<9} {row['url']:<24} {row['head']:>7}  {row['hash'][:12]:<12} "
            f"{round_:>5} {peers:>5}  {state or 'up'}"
        )
    heads = {row["head"] for row in rows if "head" in row}
    if len(heads) > 1:
        click.echo(f"heads differ by {max(heads) - min(heads)} block(s): a node behind catches up from its peers")


def _node_status(url: str, chain_id: int, timeout: float, tls: ClientTls | None = None) -> dict[str, Any]:
    """A node's ``consortium_nodeStatus``, or its head alone from a node without that method; ``error`` when it
    does not answer (or refuses: the reason of its JSON-RPC error). ``tls``: a member's client certificate, for
    a node serving members only."""
    import httpx

    from chain.backend import RpcBackend
    from chain.errors import BackendError, RpcAnswerError

    try:
        # The chain id is consortium.json's, not asked; one attempt (lean), as a status is a snapshot.
        node = RpcBackend(url, timeout, lean=True, chain_id=chain_id, tls=tls if url.startswith("https://") else None)
        status = node.node_status()
        if status is not None:
            return status
        block = node.request("eth_getBlockByNumber", ["latest", False])
        assert isinstance(block, dict)
        return {"head": int(str(block["number"]), 16), "hash": str(block["hash"])}
    except RpcAnswerError as exc:
        return {"error": exc.reason}
    except (httpx.HTTPError, ValueError, BackendError, AssertionError) as exc:
        return {"error": str(exc) or exc.__class__.__name__}


@chain_group.command("equivocations")
@click.option(
    "--file",
    "source",
    type=click.File("r"),
    help="Read the records from this file (or - for stdin) instead of asking the nodes: a saved "
    "qbft_getEquivocations answer, this command's --json output, or one record. Nothing else is read.",
)
@click.option("--verify", "check", is_flag=True, help="Check each record offline from its two signed messages.")
@click.option(
    "--validator",
    "validators",
    multiple=True,
    help="With --verify: the validator set of the records' heights (repeat for each); a record naming "
    "another address fails.",
)
@click.option("--json", "as_json", is_flag=True, help="The records as a JSON list (readable again with --file).")
@click.option("--timeout", type=click.FloatRange(0.1, 30), default=5.0, show_default=True, help="Seconds per node.")
@click.option(
    "--one-node",
    is_flag=True,
    help="Ask only the chain URL's node (--chain-url, else consortium.json's), not every node.",
)
@pass_ctx
def chain_equivocations(
    obj: Context,
    source: TextIO | None,
    check: bool,
    validators: tuple[str, ...],
    as_json: bool,
    timeout: float,
    one_node: bool,
) -> None:
    """The evidence of validators that signed two conflicting QBFT messages: what every node kept, or the records
    of --file. The nodes asked, side by side, are those the explorer asks: the chain URL's node, every other node
    nodes/nodes.json lists (their qbft_getEquivocations), and the nodes only the chain lists (a firm admitted
    later: its peer route GET /qbft/v1/equivocations, with the member certificate of --chain-cert); --one-node asks
    the chain URL's node alone. One line per record, with the nodes that hold it; a node that does not answer is
    said on stderr.

    With --verify each record is checked from its two message bodies alone (both decode, both signatures recover
    the record's validator, same height, round and type, different content): nothing the node says is trusted.
    Exits with 1 if a record fails."""
    import json as jsonlib

    from chain.errors import MalformedError

    if validators and not check:
        fail("--validator is for --verify: give both")
    try:
        allowed = [_address_bytes(v) for v in validators] or None
    except ValueError as exc:
        fail(str(exc))
    found: list[tuple[Equivocation, list[str]]]
    if source is not None:
        try:
            found = [(record, []) for record in _records_of(jsonlib.loads(source.read()))]
        except (ValueError, MalformedError) as exc:
            fail(f"{source.name}: {exc}")
    else:
        found = _records_of_nodes(obj, timeout, one_node)
    rows: list[dict[str, Any]] = []
    failed = 0
    for record, holders in found:
        row: dict[str, Any] = {**record.to_json(), "seenBy": holders}
        if check:
            verdict = _verdict(record, allowed)
            row["verified"] = verdict is None
            if verdict is not None:
                row["error"], failed = verdict, failed + 1
        rows.append(row)
    if as_json:
        click.echo(jsonlib.dumps(rows, indent=1))
    elif not rows:
        click.echo("no equivocation evidence")
    else:
        click.echo(f"{'validator':<42} {'height':>8} {'round':>5}  {'type':<12} {'checked':<8} seen by")
        for row in rows:
            checked = "-" if "verified" not in row else "ok" if row["verified"] else "FAILED"
            click.echo(
                f"{row['validator']:<42} {int(row['height'], 16):>8} {int(row['round'], 16):>5}  {row['type']:<12} "
                f"{checked:<8} {', '.join(row['seenBy']) or '-'}"
            )
            if "error" in row:
                click.echo(f"  {row['error']}")
    if check and failed:
        fail(f"{failed} of {len(rows)} record(s) do NOT prove an equivocation")
    if check and rows and not as_json:
        click.echo(f"{len(rows)} record(s) verified: each proves its validator signed two conflicting messages")


def _address_bytes(text: str) -> bytes:
    if not (text.startswith("0x") and len(text) == 42):
        raise ValueError(f"{text!r} is not an address (0x and 40 hex digits)")
    return bytes.fromhex(text[2:])


def _records_of(data: object) -> list[Equivocation]:
    """The records in a JSON document: a list of records, a JSON-RPC answer whose result is one, or one record."""
    from chain.errors import MalformedError
    from chain.qbft.evidence import Equivocation

    if isinstance(data, dict) and "result" in data:
        data = data["result"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise MalformedError("expected equivocation records: a JSON list of objects, or one object")
    return [Equivocation.from_json(item) for item in data]


def _records_of_nodes(obj: Context, timeout: float, one_node: bool) -> list[tuple[Equivocation, list[str]]]:
    """Every node's records (:func:`_equivocation_sources`; with ``one_node`` the chain URL's node's only), one per
    validator, height, round and type (the first node's bodies), with the nodes that hold one."""
    from network.description import load_description
    from network.nodes import NodesError, is_network, read_nodes
    from network.trust import has_directory

    directory = obj.directory
    description = load_description(directory)
    url = obj.chain_url or description.chain_url
    urls = [url]
    if not one_node and is_network(directory):
        try:
            urls += [e.rpc_url for e in read_nodes(directory)]
        except NodesError as exc:
            fail(str(exc))
        if not all(urls):
            fail(f"the nodes in {directory} have not been started yet: run `consortium up {directory}`")
    https = next((u for u in urls if u.startswith("https://")), None)
    tls = None if https is None else obj.chain_tls(https)
    listed = None
    if not one_node and has_directory(description):
        listed = _directory_now(description, url, tls if url.startswith("https://") else None)
    sources = _equivocation_sources(directory, url, description.chain_id, tls, timeout, one_node, listed)
    return _gather(sources)


def _directory_now(description: ConsortiumDescription, url: str, tls: ClientTls | None) -> Source | None:
    """The directory on chain as the node at ``url`` reads it now, for the nodes only the chain lists; None, said
    on stderr, when it cannot be read (the nodes of ``nodes.json`` are asked all the same)."""
    from network.trust import trust_view

    view = trust_view(description, url, tls=tls)
    try:
        view.refresh()
    except Exception as exc:  # the transport's errors and web3's, whichever the chain gives
        click.echo(f"nodes listed on chain: the directory was not read: {type(exc).__name__}: {exc}", err=True)
        return None
    snapshot, head = view.snapshot, view.head
    return None if snapshot is None else lambda: (snapshot, head)


def _equivocation_sources(
    directory: Path,
    url: str,
    chain_id: int,
    tls: ClientTls | None,
    timeout: float,
    one_node: bool,
    listed: Source | None = None,
    ask: PeerAsk | None = None,
) -> list[NodeSource]:
    """The nodes asked, as the explorer asks them (``network.equivocationsources.equivocation_sources``): the node at
    ``url`` first, then every other node ``nodes/nodes.json`` lists, then the nodes only the chain lists
    (``listed``), at their peer route (with ``ask``); with ``one_node``, the node at ``url`` alone."""
    from network.equivocationsources import equivocation_sources

    sources = equivocation_sources(directory, url, chain_id, tls, timeout, listed=None if one_node else listed, ask=ask)
    return sources[:1] if one_node else sources


def _gather(sources: Sequence[NodeSource]) -> list[tuple[Equivocation, list[str]]]:
    """Each source's records, asked side by side (each within its own timeout), merged one per validator, height,
    round and type (the first node's bodies) with the names of the nodes that hold one, in the sources' order. A
    node that does not answer, or answers no records, is said on stderr and hides nothing the others answered;
    none answering fails."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from chain.errors import BackendError, MalformedError, RpcAnswerError
    from network.nodes import NodesError

    def ask(source: NodeSource) -> list[Equivocation] | str:
        try:
            return _records_of(source.fetch())
        except RpcAnswerError as exc:
            return exc.reason
        except (httpx.HTTPError, OSError, ValueError, BackendError, MalformedError, NodesError) as exc:
            return f"not answering: {exc or exc.__class__.__name__}"

    with ThreadPoolExecutor(max_workers=max(1, len(sources))) as pool:
        answers = list(pool.map(ask, sources))
    merged: dict[tuple[bytes, int, int, int], tuple[Equivocation, list[str]]] = {}
    answered = 0
    for source, answer in zip(sources, answers, strict=True):
        if isinstance(answer, str):
            click.echo(f"{source.name}: {answer}", err=True)
            continue
        answered += 1
        for record in answer:
            merged.setdefault(record.slot, (record, []))[1].append(source.name)
    if not answered:
        fail("no node answered")
    return list(merged.values())


def _verdict(record: Equivocation, validators: list[bytes] | None) -> str | None:
    """None if ``record`` proves its equivocation, else why not."""
    from chain.qbft.evidence import InvalidEvidenceError, verify_equivocation

    try:
        verify_equivocation(record, validators)
    except InvalidEvidenceError as exc:
        return str(exc)
    return None
