"""``consortium``: the command line of Consortium Ledger.

Every read takes ``--json``. A mistake prints one line on stderr (``error: ...``) and exits 1; a usage error
exits 2; ``grant check`` exits 0 when the call would be allowed and 3 when it would be denied.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from chain.errors import ChainError, ContractRevertError, MalformedError
from chain.ids import AssetKind, Role, check_name
from chain.tx import Signer
from cli.demo import demo_group, ensure_demo_identities, write_endpoints
from cli.gateway import gateway_group
from cli.log import notary_group, witness_group
from cli.user import user_group
from cli.verify import verify
from demo import demo_config_path
from network.config import ConsortiumConfig, load_config
from network.consortium import CHAIN_DIR, Consortium, ConsortiumError, init_consortium, wait_forever
from network.identity import IdentityError, load_passphrase
from network.logsetup import LogSetupError, log_origin
from network.supervisor import (
    Child,
    SupervisorError,
    start_child,
    start_demo_services,
    start_gateways,
    start_log_services,
    stop_all,
)
from notary.log.errors import NotaryError

F = TypeVar("F", bound=Callable[..., Any])
DENIED_EXIT = 3


@dataclass
class Context:
    directory: Path
    chain_url: str | None
    passphrase_file: Path | None
    _consortium: Consortium | None = None

    def consortium(self) -> Consortium:
        if self._consortium is None:
            self._consortium = Consortium.open(self.directory, self.chain_url)
        return self._consortium

    def passphrase(self) -> bytes:
        return load_passphrase(file=self.passphrase_file)

    def signer(self, org: str) -> Signer:
        """The account of ``org`` that signs this command's transaction (its key must be in DIR/orgs)."""
        return self.consortium().signer(org, self.passphrase())


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _plain(value: Any) -> Any:
    """JSON-ready form of our dataclasses: bytes as 0x-hex, enums by name, roles as name lists."""
    if isinstance(value, Role):
        return [n.lower() for n in value.names()]
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def emit(as_json: bool, data: Any, lines: Callable[[], list[str]]) -> None:
    if as_json:
        click.echo(json.dumps(_plain(data), indent=2, ensure_ascii=False))
    else:
        for line in lines():
            click.echo(line)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else "-"


def parse_time(text: str) -> int:
    """A unix time from ISO 8601 (``2026-12-01``, ``2026-12-01T10:00Z``) or plain seconds."""
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time such as 2026-12-01T10:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_digest(text: str, what: str) -> bytes:
    raw = text[2:] if text.startswith("0x") else text
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        raise click.BadParameter(f"{what} must be 64 hex digits") from None
    if len(value) != 32:
        raise click.BadParameter(f"{what} must be 32 bytes (64 hex digits)")
    return value


def file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def name_arg(what: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def check(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is None:
            return value
        try:
            return check_name(value, what)
        except MalformedError as exc:
            raise click.BadParameter(str(exc)) from None

    return check


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
as_option = click.option(
    "--as",
    "as_org",
    required=True,
    callback=name_arg("org id"),
    help="Member org that signs the transaction (its key must be in DIR/orgs).",
)
pass_ctx = click.make_pass_decorator(Context)


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


# -- init and up ---------------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Consortium file (TOML). Default: the shipped demo consortium.",
)
@click.option("--demo", is_flag=True, help="Also load the demo catalogue, data assets and grants.")
@pass_ctx
def init(obj: Context, directory: Path, config_file: Path | None, demo: bool) -> None:
    """Create a consortium in DIRECTORY: identities, contracts, founding members."""
    config: ConsortiumConfig = load_config(config_file or demo_config_path())
    passphrase = obj.passphrase()
    description = init_consortium(
        directory,
        config,
        passphrase,
        chain_url=obj.chain_url,
        load_demo=demo,
        progress=lambda line: click.echo(f"  {line}"),
    )
    click.echo(
        f"initialised consortium {description.name!r} in {directory} "
        f"({len(description.members)} members, chain id {description.chain_id})"
    )
    click.echo(f"public description: {directory / 'consortium.json'}")


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8545,
    show_default=True,
    help="Loopback port of the chain node's JSON-RPC.",
)
@click.option(
    "--block-time", type=click.FloatRange(0.01, 60), default=1.0, show_default=True, help="Seconds between blocks."
)
@click.option(
    "--traffic",
    type=click.FloatRange(0, 1000),
    default=2.0,
    show_default=True,
    help="Calls per second the demo generates between members (0: none).",
)
@click.option(
    "--explorer-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Loopback port of the explorer, web UI and API [default: 8000 with the default --port, else PORT+60].",
)
@pass_ctx
def up(
    obj: Context, directory: Path, port: int, block_time: float, traffic: float, explorer_port: int | None
) -> None:
    """Start the consortium in DIRECTORY and keep it running until Ctrl-C."""
    from network.description import load_description
    from network.localchain import start_node

    description = load_description(directory)
    if description.chain_kind != "local":
        fail(f"this consortium runs on an external chain ({description.chain_url}); nothing to start here")
    # From here on SIGTERM stops `up` the way Ctrl-C does, also while the chain is starting.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        local = start_node(directory, description.chain_id, obj.passphrase(), port=port, block_time=block_time)
    except KeyboardInterrupt:
        click.echo("stopping")
        return
    children: list[Child] = []
    try:
        children = start_log_services(
            directory,
            description,
            obj.passphrase(),
            local.url,
            port + 1,
            [port + 6 + i for i in range(len(description.members))],
        )
        consortium = Consortium(directory, description, local.backend)
        for name, address in description.contracts.items():
            if not local.backend.web3.eth.get_code(local.backend.web3.to_checksum_address(address)):
                fail(
                    f"no {name} contract at {address} on the local chain: the chain state in "
                    f"{directory / CHAIN_DIR} does not match consortium.json"
                )
        notary = children[-1]
        providers = sorted({a.provider for a in consortium.assets.apis() if a.active})
        endpoints: dict[str, str] = {}
        if providers:
            children.append(start_demo_services(directory, port + 2, obj.passphrase()))
            ensure_demo_identities(directory, description, obj.passphrase())
            gateway_ports = [port + 20 + i for i in range(len(providers))]
            children += start_gateways(
                directory, obj.passphrase(), local.url, notary.url, children[-1].url, providers, gateway_ports,
                [p + 20 for p in gateway_ports],
            )
            endpoints = {org: f"https://localhost:{p}" for org, p in zip(providers, gateway_ports, strict=True)}
            write_endpoints(directory, endpoints)
            if traffic > 0:
                args = ["demo", "traffic", str(directory), "--rate", str(traffic), "--duration", "0"]
                args += ["--chain-url", local.url]
                children.append(
                    start_child("demo traffic", args, directory / "gateways" / "traffic.log", "", "", obj.passphrase())
                )
        logins = None
        if providers:
            from cli.user import ensure_demo_people, write_demo_logins

            regulators = [m.org for m in description.members if Role.REGULATOR in m.roles]
            others = [m.org for m in description.members if Role.REGULATOR not in m.roles]
            people = ensure_demo_people(directory, obj.passphrase(), regulators, others)
            logins = write_demo_logins(directory, obj.passphrase(), people)
        if explorer_port is None:
            explorer_port = 8000 if port == 8545 else port + 60
        explorer = start_child(
            "explorer",
            [str(directory), "--port", str(explorer_port), "--notary-url", notary.url, "--chain-url", local.url],
            directory / "explorer" / "explorer.log",
            f"http://127.0.0.1:{explorer_port}",
            "/healthz",
            obj.passphrase(),
            timeout=60.0,
            module="explorer",
        )
        children.append(explorer)
        members = consortium.registry.members()
        assets = consortium.assets
        click.echo(f"Consortium Ledger: {description.name}")
        click.echo(
            f"  chain      JSON-RPC {local.url}  (chain id {description.chain_id}, "
            f"block {local.backend.web3.eth.block_number}; embedded node, store in "
            f"{directory / CHAIN_DIR}, log in {directory / CHAIN_DIR / 'node.log'})"
        )
        click.echo(f"  members    {len(members)}: " + ", ".join(m.org for m in members))
        click.echo(
            f"  catalogue  {len(assets.centers())} service centers, {len(assets.units())} units, "
            f"{len(assets.apis())} APIs, {len(assets.assets())} data assets, "
            f"{len(consortium.grants.grants())} grants"
        )
        click.echo("  contracts  " + ", ".join(f"{k} {v}" for k, v in description.contracts.items()))
        click.echo(
            f"  notary     {notary.url}  (log {log_origin(description)}; checkpoint {notary.url}/checkpoint, "
            f"API {notary.url}/docs)"
        )
        witnesses = [c for c in children if c.name.startswith("witness ")]
        click.echo(f"  witnesses  {len(witnesses)}: " + ", ".join(c.name.split()[-1] + " " + c.url for c in witnesses))
        if endpoints:
            click.echo(
                f"  gateways   {len(endpoints)} (mutual TLS): " + ", ".join(f"{o} {u}" for o, u in endpoints.items())
            )
            traffic_log = directory / "gateways" / "traffic.log"
            click.echo(f"  traffic    {traffic:g} calls/s between members; log {traffic_log}")
            org = next(iter(endpoints))
            client = f"{directory}/orgs/jinghua-sec/users/client@jinghua-sec/msp"
            click.echo(
                f"  call       curl --cacert {directory}/ca-bundle.pem --cert {client}/signcerts/cert.pem "
                f"--key {client}/keystore/key.pem --pass \"$CONSORTIUM_PASSPHRASE\" "
                f"-H 'Consortium-Purpose: trading' '{endpoints[org]}/v1/market/quotes/level2?symbol=600519.SH'"
            )
        click.echo(f"  explorer   {explorer.url}  (API {explorer.url}/api/docs; log {explorer.log})")
        if logins is not None:
            click.echo(f"  log in     paste a token from {logins}:")
            for token in sorted(logins.glob("*.token"), key=lambda t: (not t.name.startswith("inspector@"), t.name)):
                if token.name.startswith(("inspector@", "compliance@jinghua-sec", "operator@jinghua-sec")):
                    click.echo(f"             {token}")
        chain_flag = "" if port == 8545 else f" --chain-url {local.url}"
        click.echo("  try        " + f"consortium --dir {directory}{chain_flag} service list | head")
        click.echo("             " + f"consortium --dir {directory}{chain_flag} grant list")
        click.echo("  stop       Ctrl-C (every sealed block is already on disk)")
        stopped = wait_forever(local, children)
        fail(f"{stopped} stopped unexpectedly; see its log")
    except SupervisorError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        stop_all(children)
        local.stop()


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    """SIGTERM stops `up` the way Ctrl-C does: the chain is stopped cleanly and saves its state."""
    raise KeyboardInterrupt


# -- the chain node ------------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address JSON-RPC listens on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8545, show_default=True, help="JSON-RPC port.")
@click.option(
    "--block-time", type=click.FloatRange(0.01, 60), default=1.0, show_default=True, help="Seconds between blocks."
)
@click.option("--empty-blocks", is_flag=True, help="Seal a block every block time even with nothing to seal.")
@pass_ctx
def node(obj: Context, directory: Path, host: str, port: int, block_time: float, empty_blocks: bool) -> None:
    """Run the consortium's chain node on DIRECTORY/chain until SIGTERM or Ctrl-C."""
    import threading

    from chain.node import service

    chain_dir = directory / "chain"
    if not (chain_dir / service.GENESIS_FILE).is_file():
        fail(
            f"{chain_dir / service.GENESIS_FILE} not found: this directory was not initialised for the "
            "embedded node (run `consortium init`)"
        )
    _, sealer_org = service.load_genesis(chain_dir)
    from network.identity import load_account_key

    key = load_account_key(directory, sealer_org, obj.passphrase())  # type: ignore[arg-type]
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
    )


@cli.group("chain")
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


# -- members -------------------------------------------------------------------------------------------------


@cli.group()
def member() -> None:
    """Members: list, propose (admit, remove, suspend, reinstate, threshold), approve, suspend."""


@member.command("list")
@json_option
@pass_ctx
def member_list(obj: Context, as_json: bool) -> None:
    """List every member with roles and status."""
    c = obj.consortium()
    members = c.registry.members()
    emit(
        as_json,
        members,
        lambda: (
            [
                f"{m.org:<20} {m.status.name.lower():<10} {','.join(r.lower() for r in m.roles.names()):<40} {m.name}"
                for m in members
            ]
            + [f"admission threshold: {c.registry.threshold()} of {c.registry.voter_count()} voters"]
        ),
    )


@member.command("show")
@click.argument("org", callback=name_arg("org id"))
@json_option
@pass_ctx
def member_show(obj: Context, org: str, as_json: bool) -> None:
    """Show one member."""
    info = obj.consortium().registry.member(org)
    if info is None:
        fail(f"no member {org!r} on chain")
    emit(
        as_json,
        info,
        lambda: [
            f"org          {info.org}",
            f"name         {info.name}",
            f"roles        {', '.join(r.lower() for r in info.roles.names())}",
            f"status       {info.status.name.lower()}",
            f"certificate  0x{info.cert_fingerprint.hex()}",
            f"accounts     {', '.join(info.accounts)}",
            f"admitted     {iso(info.admitted_at)}",
        ],
    )


@member.command("proposals")
@json_option
@pass_ctx
def member_proposals(obj: Context, as_json: bool) -> None:
    """List governance proposals and their approvals."""
    c = obj.consortium()
    proposals = c.registry.proposals()
    threshold = c.registry.threshold()
    emit(
        as_json,
        proposals,
        lambda: (
            [
                f"#{p.proposal_id:<4} {p.kind.name.lower():<14} {p.org or p.threshold!s:<20} "
                f"{'executed' if p.executed else f'{p.approvals}/{threshold} approvals'}  by {p.proposer}  "
                f"expires {iso(p.expires_at)}"
                for p in proposals
            ]
            or ["no proposals"]
        ),
    )


@member.group("propose")
def member_propose() -> None:
    """Propose a governance change; it is carried out when enough voting members approve."""


def _proposed(pid: int, obj: Context) -> None:
    info = obj.consortium().registry.proposal(pid)
    state = "carried out" if info is not None and info.executed else "awaiting approvals"
    click.echo(f"proposal #{pid} created ({state}); others approve with: consortium member approve {pid} --as ORG")


@member_propose.command("admit")
@click.argument("org", callback=name_arg("org id"))
@click.option("--roles", required=True, help="Comma-separated roles, e.g. member,witness.")
@as_option
@pass_ctx
def propose_admit(obj: Context, org: str, roles: str, as_org: str) -> None:
    """Propose admitting ORG, whose identity was created with `consortium identity create ORG`."""
    from network.identity import load_org_public

    c = obj.consortium()
    if not (obj.directory / "orgs" / org).is_dir():
        fail(
            f"no identity for {org!r} in {obj.directory / 'orgs'}: create it first with "
            f"`consortium identity create {org} --name NAME`"
        )
    public = load_org_public(obj.directory, org)  # type: ignore[arg-type]
    name = _display_name(public.admin_cert_pem, org)
    pid = c.registry.propose_admit(
        obj.signer(as_org),
        org,
        name,
        Role.parse([r.strip() for r in roles.split(",") if r.strip()]),
        public.cert_fingerprint,
        [public.account],
    )
    _proposed(pid, obj)


def _display_name(admin_cert_pem: str, org: str) -> str:
    """The firm's display name: the O= of its admin certificate."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(admin_cert_pem.encode())
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else org


@member_propose.command("remove")
@click.argument("org", callback=name_arg("org id"))
@as_option
@pass_ctx
def propose_remove(obj: Context, org: str, as_org: str) -> None:
    """Propose removing ORG from the consortium."""
    c = obj.consortium()
    _proposed(c.registry.propose_remove(obj.signer(as_org), org), obj)


@member_propose.command("suspend")
@click.argument("org", callback=name_arg("org id"))
@as_option
@pass_ctx
def propose_suspend(obj: Context, org: str, as_org: str) -> None:
    """Propose suspending (freezing) ORG."""
    c = obj.consortium()
    _proposed(c.registry.propose_suspend(obj.signer(as_org), org), obj)


@member_propose.command("reinstate")
@click.argument("org", callback=name_arg("org id"))
@as_option
@pass_ctx
def propose_reinstate(obj: Context, org: str, as_org: str) -> None:
    """Propose reinstating a suspended ORG."""
    c = obj.consortium()
    _proposed(c.registry.propose_reinstate(obj.signer(as_org), org), obj)


@member_propose.command("threshold")
@click.argument("k", type=click.IntRange(1, 256))
@as_option
@pass_ctx
def propose_threshold(obj: Context, k: int, as_org: str) -> None:
    """Propose a new admission threshold K (approvals needed)."""
    c = obj.consortium()
    _proposed(c.registry.propose_threshold(obj.signer(as_org), k), obj)


@member.command("approve")
@click.argument("proposal_id", type=click.IntRange(1))
@as_option
@pass_ctx
def member_approve(obj: Context, proposal_id: int, as_org: str) -> None:
    """Approve proposal PROPOSAL_ID."""
    c = obj.consortium()
    executed = c.registry.approve(obj.signer(as_org), proposal_id)
    click.echo(f"approved proposal #{proposal_id}" + ("; it was carried out" if executed else ""))


@member.command("suspend")
@click.argument("org", callback=name_arg("org id"))
@as_option
@pass_ctx
def member_suspend(obj: Context, org: str, as_org: str) -> None:
    """Suspend (freeze) ORG at once: a regulator's supervisory power."""
    c = obj.consortium()
    c.registry.suspend(obj.signer(as_org), org)
    click.echo(f"suspended {org}")


@member.command("reinstate")
@click.argument("org", callback=name_arg("org id"))
@as_option
@pass_ctx
def member_reinstate(obj: Context, org: str, as_org: str) -> None:
    """Reinstate a suspended ORG at once: a regulator's supervisory power."""
    c = obj.consortium()
    c.registry.reinstate(obj.signer(as_org), org)
    click.echo(f"reinstated {org}")


@cli.group()
def identity() -> None:
    """Identities: a firm's CA and keys, and the certificates its CA issues and revokes."""


@identity.command("create")
@click.argument("org", callback=name_arg("org id"))
@click.option("--name", required=True, help="Display name of the firm.")
@pass_ctx
def identity_create(obj: Context, org: str, name: str) -> None:
    """Create the CA, certificate and keys of ORG in DIR/orgs/ORG."""
    from network.identity import create_org_identity

    public = create_org_identity(obj.directory, org, name, obj.passphrase())  # type: ignore[arg-type]
    click.echo(f"identity of {org} created: account {public.account}, certificate 0x{public.cert_fingerprint.hex()}")


def _user_name_arg(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from network.identity import check_user_name

    try:
        return check_user_name(value)
    except MalformedError as exc:
        raise click.BadParameter(str(exc)) from None


def _require_org(obj: Context, org: str) -> None:
    """Fail (one line, exit 1) unless DIR/orgs/ORG holds an identity: before asking for the passphrase."""
    from network.identity import OrgPaths

    paths = OrgPaths.of(obj.directory, org)  # type: ignore[arg-type]
    if not paths.ca_cert.is_file():
        fail(f"no identity for org {org!r} in {paths.org_dir.parent}: create it with `consortium identity create`")


@identity.command("issue")
@click.option("--org", required=True, callback=name_arg("org id"), help="Org whose CA issues the certificate.")
@click.option(
    "--name", required=True, callback=_user_name_arg, help="Name of the identity: the certificate is NAME@ORG."
)
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True, help="Validity in days.")
@pass_ctx
def identity_issue(obj: Context, org: str, name: str, days: int) -> None:
    """Issue an identity certificate NAME@ORG with the CA of ORG, for calling gateways over mutual TLS.

    Writes DIR/orgs/ORG/users/NAME@ORG/msp/: signcerts/cert.pem, keystore/key.pem (encrypted with the
    passphrase) and cacerts/ca-cert.pem. Refuses to overwrite an existing identity."""
    from network.identity import issue_identity, read_certificate, user_paths

    _require_org(obj, org)
    issue_identity(obj.directory, org, name, obj.passphrase(), days=days)  # type: ignore[arg-type]
    paths = user_paths(obj.directory, org, name)  # type: ignore[arg-type]
    cert = read_certificate(paths.cert, "new certificate")
    until = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"issued {name}@{org}: serial {cert.serial_number:#x}, valid until {until}")
    click.echo(f"  certificate  {paths.cert}")
    click.echo(f"  key          {paths.key}")
    click.echo(f"  CA           {paths.ca_cert}")


@identity.command("revoke")
@click.option("--org", required=True, callback=name_arg("org id"), help="Org whose CA issued the certificate.")
@click.option(
    "--cert",
    "cert_file",
    required=True,
    type=click.Path(path_type=Path),
    help="PEM file of the certificate to revoke (e.g. DIR/orgs/ORG/users/NAME@ORG/msp/signcerts/cert.pem).",
)
@pass_ctx
def identity_revoke(obj: Context, org: str, cert_file: Path) -> None:
    """Revoke a certificate issued by the CA of ORG: add its serial to ORG's CRL (DIR/orgs/ORG/msp/crls/crl.pem).

    Gateways refuse the certificate within a second. Revoking a certificate twice changes nothing."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from network.identity import load_crl, read_certificate, revoke_identity

    cert = read_certificate(cert_file)
    _require_org(obj, org)
    serial, subject = cert.serial_number, cert.subject.rfc4514_string()
    before = load_crl(obj.directory, org)  # type: ignore[arg-type]
    earlier = None if before is None else before.get_revoked_certificate_by_serial_number(serial)
    pem = cert.public_bytes(Encoding.PEM)
    crl = revoke_identity(obj.directory, org, pem, obj.passphrase())  # type: ignore[arg-type]
    if earlier is not None:
        when = earlier.revocation_date_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"serial {serial:#x} ({subject}) was already revoked at {when}; {crl} unchanged")
    else:
        click.echo(f"revoked serial {serial:#x} ({subject}) in {crl}")


# -- assets --------------------------------------------------------------------------------------------------


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


@cli.group()
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


# -- services ------------------------------------------------------------------------------------------------


@cli.group()
def service() -> None:
    """The service catalogue: service centers, units and APIs."""


@service.command("list")
@click.option("--center", callback=name_arg("center id"), help="Only this service center.")
@click.option("--provider", callback=name_arg("org id"), help="Only APIs of this provider.")
@json_option
@pass_ctx
def service_list(obj: Context, center: str | None, provider: str | None, as_json: bool) -> None:
    """List the catalogue, center by center."""
    registry = obj.consortium().assets
    centers = [x for x in registry.centers() if center is None or x.center == center]
    units = registry.units()
    apis = [a for a in registry.apis() if provider is None or a.provider == provider]
    tree: list[dict[str, Any]] = [
        {
            "center": x.center,
            "name": x.name,
            "units": [
                {"unit": u.unit, "name": u.name, "apis": [a for a in apis if a.unit == u.unit]}
                for u in units
                if u.center == x.center
            ],
        }
        for x in centers
    ]

    def lines() -> list[str]:
        out = []
        for x in tree:
            out.append(f"{x['center']}  {x['name']}")
            for u in x["units"]:
                out.append(f"  {u['unit']}  {u['name']}")
                for a in u["apis"]:
                    out.append(
                        f"    {a.method:<6} {a.route:<44} {a.api:<24} {a.provider:<14} asset {a.asset}"
                        + ("" if a.active else " (retired)")
                    )
        return out or ["no services"]

    emit(as_json, tree, lines)


# -- grants --------------------------------------------------------------------------------------------------


@cli.group()
def grant() -> None:
    """Access grants: create, revoke, list, check."""


@grant.command("create")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--to", "grantee", required=True, callback=name_arg("org id"), help="Grantee member.")
@click.option("--purpose", required=True, callback=name_arg("purpose"), help="Purpose code, e.g. research.")
@click.option("--days", type=click.IntRange(1, 3650), help="Valid for this many days from now.")
@click.option("--expires", help="Expiry time (ISO 8601), instead of --days.")
@click.option("--not-before", "not_before", help="Start time (ISO 8601); default now.")
@click.option("--quota", type=click.IntRange(0), default=0, show_default=True, help="Calls allowed; 0 = unlimited.")
@as_option
@pass_ctx
def grant_create(
    obj: Context,
    asset_id: str,
    grantee: str,
    purpose: str,
    days: int | None,
    expires: str | None,
    not_before: str | None,
    quota: int,
    as_org: str,
) -> None:
    """Grant GRANTEE access to ASSET_ID for a purpose and a time window."""
    if (days is None) == (expires is None):
        raise click.UsageError("give exactly one of --days and --expires")
    c = obj.consortium()
    start = parse_time(not_before) if not_before else c.now()
    end = parse_time(expires) if expires else start + days * 86_400  # type: ignore[operator]
    grant_id = c.grants.create_grant(obj.signer(as_org), asset_id, grantee, purpose, start, end, quota)
    click.echo(
        f"grant 0x{grant_id.hex()}: {grantee} may use {asset_id} for {purpose} "
        f"from {iso(start)} to {iso(end)}" + (f", {quota} calls" if quota else "")
    )


@grant.command("revoke")
@click.argument("grant_id")
@click.option("--reason", type=click.IntRange(1, 65535), required=True, help="Reason code (1-65535).")
@as_option
@pass_ctx
def grant_revoke(obj: Context, grant_id: str, reason: int, as_org: str) -> None:
    """Revoke GRANT_ID (0x + 64 hex digits)."""
    c = obj.consortium()
    gid = parse_digest(grant_id, "grant id")
    c.grants.revoke(obj.signer(as_org), gid, reason)
    click.echo(f"revoked grant 0x{gid.hex()} (reason {reason})")


@grant.command("list")
@click.option("--asset", "asset_id", callback=name_arg("asset id"), help="Only grants on this asset.")
@click.option("--grantee", callback=name_arg("org id"), help="Only grants to this member.")
@json_option
@pass_ctx
def grant_list(obj: Context, asset_id: str | None, grantee: str | None, as_json: bool) -> None:
    """List grants."""
    c = obj.consortium()
    items = [
        g
        for g in c.grants.grants()
        if (asset_id is None or g.asset == asset_id) and (grantee is None or g.grantee == grantee)
    ]
    now = c.now()

    def state(g: Any) -> str:
        if g.revoked_at:
            return f"revoked ({g.revoke_reason})"
        return "expired" if now >= g.expires_at else ("pending" if now < g.not_before else "active")

    emit(
        as_json,
        items,
        lambda: (
            [
                f"0x{g.grant_id.hex()[:12]}.. {g.asset:<26} {g.grantor:<14} -> {g.grantee:<14} {g.purpose:<13} "
                f"until {iso(g.expires_at)}  {state(g)}" + (f"  quota {g.quota}" if g.quota else "")
                for g in items
            ]
            or ["no grants"]
        ),
    )


@grant.command("check")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--grantee", required=True, callback=name_arg("org id"))
@click.option("--purpose", required=True, callback=name_arg("purpose"))
@click.option("--at", "at_time", help="Time to check at (ISO 8601); default the latest block's time.")
@json_option
@pass_ctx
def grant_check(obj: Context, asset_id: str, grantee: str, purpose: str, at_time: str | None, as_json: bool) -> None:
    """Would GRANTEE's call on ASSET_ID for PURPOSE be allowed? Exit 0 if allowed, 3 if denied."""
    c = obj.consortium()
    at = parse_time(at_time) if at_time else c.now()
    result = c.grants.check(asset_id, grantee, purpose, at)
    emit(
        as_json,
        {
            "allowed": result.allowed,
            "status": result.status,
            "reason": result.status.reason,
            "grant_id": result.grant_id,
            "at": at,
        },
        lambda: [
            ("allowed" if result.allowed else f"denied: {result.status.reason}")
            + (f" (grant 0x{result.grant_id.hex()})" if result.grant_id else "")
        ],
    )
    if not result.allowed:
        sys.exit(DENIED_EXIT)


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
    except (ChainError, ConsortiumError, IdentityError, NotaryError, LogSetupError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
