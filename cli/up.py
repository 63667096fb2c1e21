"""``consortium up``: start a consortium: chain node, notary, witnesses, gateways, demo traffic and explorer."""

from __future__ import annotations

import dataclasses
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chain.errors import MalformedError
from chain.ids import OrgId, Role
from chain.qbft.rules import quorum
from cli._common import Context, fail, pass_ctx
from demo import privacy as demo_psi
from demo.traffic import ensure_demo_identities, write_endpoints
from gateway.headers import PURPOSE_HEADER
from network.alarms.evaluator import Evaluator
from network.alarms.server import (
    PORT_OFFSET,
    AlarmEndpointError,
    AlarmServer,
    api_token,
    endpoint_tls,
    is_loopback,
    token_path,
)
from network.consortium import CHAIN_DIR, Consortium
from network.errors import NetworkError
from network.localchain import start_nodes, stop_together
from network.logsetup import (
    LogSetupError,
    check_log_keys,
    log_origin,
    monitor_token,
    notary_member,
    witness_orgs,
)
from network.nodes import (
    NODES_DIR,
    NodesError,
    NodeSpec,
    is_network,
    plan,
    read_nodes,
    up_ports,
    write_nodes,
)
from network.portplan import PortTakenError, bind_free, check_free, up_plan
from network.supervisor import (
    Child,
    StartReport,
    Supervisor,
    SupervisorError,
    start_child,
    start_demo_services,
    start_gateways,
    start_log_services,
    stop_all,
)
from network.trust import witness_ports
from network.upsettings import AlarmSettings, UpSettings, load_up_settings

if TYPE_CHECKING:
    from chain.backend import ClientTls
    from network.alarms.server import ClientCheck
    from network.description import ConsortiumDescription
    from network.localchain import LocalChain, NodeRpcTls


@click.command()
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
@click.option(
    "--authenticate-reads/--open-reads",
    default=True,
    show_default=True,
    help="The notary serves its log to members and witnesses only, each event to its parties (docs/notary.md); "
    "--open-reads serves it to anyone who reaches its port.",
)
@click.option(
    "--alarm-webhook",
    metavar="URL",
    default=None,
    help="POST each alarm fired, changed or resolved to URL as JSON (docs/alarms.md). Alarms are evaluated and "
    "shown in the explorer without it. [default: alarms.webhook of DIR/up.toml, else none]",
)
@click.option(
    "--quota-store",
    metavar="URL",
    default=None,
    help="The gateways count the grants' quotas in this PostgreSQL database (postgresql://...) instead of each in "
    'its outbox (docs/gateway.md, "Quota").',
)
@click.option(
    "--explorer-index",
    metavar="URL",
    default=None,
    help="The explorer keeps its call index in this PostgreSQL database (postgresql://...), which further "
    'explorers can share (docs/explorer.md, "The call index"); default: SQLite under DIR/explorer/.',
)
@click.option(
    "--storage",
    metavar="URL",
    envvar="CONSORTIUM_NOTARY_STORAGE",
    default=None,
    help="The notary keeps its log in PostgreSQL at URL (postgresql://…), with --object-store (docs/notary.md, "
    "'Storage backends'). Default: SQLite in DIRECTORY/notary.",
)
@click.option(
    "--object-store",
    metavar="URL",
    envvar="CONSORTIUM_NOTARY_OBJECT_STORE",
    default=None,
    help="s3://bucket[/prefix]?endpoint=http://host:port: the notary's tiles, entry bundles and checkpoint, with "
    "--storage.",
)
@click.option(
    "--restart-delay",
    type=click.FloatRange(0.1, 30),
    default=1.0,
    show_default=True,
    help="Seconds before a component that stopped is started again; doubled at each stop in a row, up to 30 s. "
    "The fifth stop in a row leaves it stopped.",
)
@click.option(
    "--rpc-tls/--rpc-plain",
    default=True,
    show_default=True,
    help="The chain nodes serve JSON-RPC over HTTPS to members only (each with its node certificate; "
    'docs/confidentiality.md, "The chain"); every component up starts presents a client certificate of its org, '
    "orgs/ORG/users/chain@ORG, and consortium.json's chain URL becomes https. --rpc-plain: plain HTTP on loopback, "
    "to any process of the machine.",
)
@click.option(
    "--notary-tls/--notary-plain",
    default=True,
    show_default=True,
    help="The notary serves HTTPS with its certificate (orgs/ORG/notary/tls, which `consortium init` issues) and "
    "completes a handshake only with a member's client certificate: every gateway, the explorer and the alarms "
    "present their org's log@ORG identity (docs/confidentiality.md); consortium.json's notary URL becomes https. "
    "--notary-plain: plain HTTP on loopback, its reads still authenticated.",
)
@click.option(
    "--alarms-host",
    metavar="HOST",
    default=None,
    help="Where the live alarms' endpoint (PORT+3) listens. Beyond loopback (an explorer on another machine; "
    "0.0.0.0 for every address) it serves HTTPS over mutual TLS only: the operator's alarms certificate "
    "(orgs/OPERATOR/alarms/tls, or tls_cert of DIR/up.toml), a client certificate of the operator's org required, "
    'and the token of DIR/alarms/api.token on top (docs/alarms.md, "From another machine"). '
    "[default: alarms.host of DIR/up.toml, else 127.0.0.1]",
)
@pass_ctx
def up(
    obj: Context,
    directory: Path,
    port: int,
    block_time: float,
    traffic: float,
    explorer_port: int | None,
    authenticate_reads: bool,
    alarm_webhook: str | None,
    quota_store: str | None,
    explorer_index: str | None,
    storage: str | None,
    object_store: str | None,
    restart_delay: float,
    rpc_tls: bool,
    notary_tls: bool,
    alarms_host: str | None,
) -> None:
    """Start the consortium in DIRECTORY and keep it running until Ctrl-C.

    Settings set once for the consortium (the alarms' host, webhook, endpoint certificate, thresholds and
    hold-downs) are read from DIRECTORY/up.toml if there is one; an option given here wins over the file
    (docs/alarms.md, "Settings")."""
    from network.description import load_description
    from network.localchain import start_node

    try:  # before anything else: a malformed settings file starts nothing
        settings = load_up_settings(directory)
    except MalformedError as exc:
        fail(str(exc))
    alarm_settings = settings.alarms
    alarm_webhook, webhook_from = _setting(alarm_webhook, "--alarm-webhook", alarm_settings.webhook, settings,
                                           "alarms.webhook")  # fmt: skip
    alarms_host, host_from = _setting(alarms_host, "--alarms-host", alarm_settings.host, settings, "alarms.host")
    if alarms_host is None:
        alarms_host, host_from = "127.0.0.1", "default"
    description = load_description(directory)
    if description.chain_kind != "local":
        fail(f"this consortium runs on an external chain ({description.chain_url}); nothing to start here")
    if (storage is None) != (object_store is None):
        fail("--storage postgresql://… and --object-store s3://… go together")
    if alarm_webhook is not None and not alarm_webhook.startswith(("http://", "https://")):
        fail(f"--alarm-webhook {alarm_webhook!r}: give an http:// or https:// URL")
    if quota_store is not None and not quota_store.startswith(("postgresql://", "postgres://")):
        fail(f"--quota-store: give a postgresql:// URL, not {quota_store!r}")
    if explorer_index is not None and not explorer_index.startswith(("postgresql://", "postgres://")):
        fail(f"--explorer-index: give a postgresql:// URL, not {explorer_index!r}")
    try:  # the log's keys are of the consortium's suite (consortium.json "crypto"), or nothing starts
        check_log_keys(
            directory,
            description,
            obj.passphrase(),
            gateway_orgs=[m.org for m in description.members],
            storage=storage,
            object_store=object_store,
        )
    except LogSetupError as exc:
        fail(str(exc))
    try:
        specs = node_specs(directory, port, "https" if rpc_tls else "http") if is_network(directory) else []
    except NodesError as exc:
        fail(str(exc))
    if explorer_port is None:
        explorer_port = 8000 if port == 8545 else port + 60
    # every port of the plan is free, or nothing starts (network/portplan.py)
    nodes: list[tuple[str, int, int | None]] = [(f"node {s.org}", s.rpc_port, s.peer_port) for s in specs]
    planned = up_plan(
        port,
        nodes=nodes or [("chain node", port, None)],
        witnesses=witness_orgs(description),
        members=len(description.members),
        explorer_port=explorer_port,
        alarms_host=alarms_host,
    )
    try:
        check_free(planned, bind_free)
    except PortTakenError as exc:
        fail(str(exc))
    operator = next(m.org for m in description.members if Role.OPERATOR in m.roles)
    members_only = _MembersOnly(directory, description, obj.passphrase(), operator) if rpc_tls else None
    log_tls = None
    if notary_tls:  # before anything starts: a missing CA key or a wrong passphrase is said here
        try:
            log_tls = notary_server_tls(directory, description, obj.passphrase(), operator)
        except (LogSetupError, NetworkError) as exc:
            fail(str(exc))
    alarms_tls = None
    if not is_loopback(alarms_host):  # its certificate, issued or checked before anything starts
        try:
            alarms_tls = endpoint_tls(
                directory, description, obj.passphrase(), operator, alarms_host, alarm_settings.tls
            )
        except (AlarmEndpointError, NetworkError, MalformedError) as exc:
            where = f" ({settings.where('alarms.tls_cert')})" if alarm_settings.tls is not None else ""
            fail(f"{exc}{where}")
    if specs:  # nodes.json changes only once `up` is going to start them
        record_nodes(directory, specs)
    # From here on SIGTERM stops `up` the way Ctrl-C does, also while the chain is starting.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    click.echo(f"starting {description.name} from {directory} (crypto {description.crypto})")
    if settings.source is not None:  # where each setting comes from
        click.echo(f"  settings   {settings.source}: {', '.join(settings.keys) or 'none'}")
        click.echo(f"             alarms host {alarms_host} ({host_from}), webhook {alarm_webhook or 'none'} "
                   f"({webhook_from})")  # fmt: skip
        if alarm_settings.tls is not None and alarms_tls is None:
            click.echo(f"             alarms.tls_cert unused: the endpoint listens on loopback ({alarms_host}), "
                       "plain HTTP with the token")  # fmt: skip
    report = start_report(sys.stdout.isatty())
    began = time.monotonic()
    try:
        if specs:
            tls_of = None if members_only is None else members_only.node
            chains = start_nodes(
                directory, specs, description.chain_id, obj.passphrase(), block_time, rpc_tls=tls_of, report=report
            )
            for spec, chain in zip(specs, chains, strict=True):
                _announce(f"node {spec.org} ({spec.entry.role})", chain.url, time.monotonic() - began)
        else:
            alone = None if members_only is None else members_only.single_node()
            chains = [
                start_node(
                    directory,
                    description.chain_id,
                    obj.passphrase(),
                    port=port,
                    block_time=block_time,
                    rpc_tls=alone,
                    report=report,
                )
            ]
            _announce("chain node", chains[0].url, time.monotonic() - began)
    except KeyboardInterrupt:
        click.echo("stopping")
        return
    local = chains[0]
    node_children = [_node_child(spec, chain) for spec, chain in zip(specs, chains, strict=True)]
    chain_urls = {spec.org: spec.rpc_url for spec in specs}
    children: list[Child] = []
    evaluator: Evaluator | None = None
    alarm_server: AlarmServer | None = None
    notary_args = [] if storage is None else ["--storage", storage, "--object-store", str(object_store)]
    try:  # from here every way out, a SIGTERM included, goes through the `finally` that stops the chain
        # consortium.json says where the local chain, the notary and the explorer run: every later command without
        # --chain-url or --notary-url reads it (the gateways' addresses go to gateways/endpoints.json)
        running = dataclasses.replace(
            description,
            chain_url=local.url,
            notary_url=f"{'https' if notary_tls else 'http'}://127.0.0.1:{port + 1}",
            explorer_url=f"http://127.0.0.1:{explorer_port}",
        )
        if running != description:
            description = running
            description.write(directory)
        _stop_if_asked()
        if authenticate_reads:
            monitor_token(directory, create=True)
        # the live alarms' endpoint takes its port now, before the notary and the rest start; it serves "never
        # evaluated" until the evaluator is attached below (docs/alarms.md, "In the explorer")
        alarm_server = alarm_endpoint(directory, port, alarms_host, alarms_tls)
        children = start_log_services(
            directory,
            description,
            obj.passphrase(),
            local.url,
            port + 1,
            witness_ports(port, len(description.members)),
            authenticate_reads=authenticate_reads,
            report=report,
            notary_args=notary_args,
            chain_options=[] if members_only is None else members_only.options(notary_member(description).org),
            notary_tls=log_tls,
        )
        consortium = Consortium(directory, description, local.backend)
        for name, address in description.contracts.items():
            if not local.backend.web3.eth.get_code(local.backend.web3.to_checksum_address(address)):
                fail(
                    f"no {name} contract at {address} on the local chain: the chain state in "
                    f"{directory / CHAIN_DIR} does not match consortium.json"
                )
        if specs and "TrustDirectory" in description.contracts:
            _publish_endpoints(consortium, specs, obj.passphrase())
        notary = children[-1]
        providers = sorted({a.provider for a in consortium.assets.apis() if a.active})
        endpoints: dict[str, str] = {}
        if providers:
            _stop_if_asked()
            children.append(start_demo_services(directory, port + 2, obj.passphrase(), report=report))
            ensure_demo_identities(directory, description, obj.passphrase())
            gateway_ports = [port + 20 + i for i in range(len(providers))]
            _stop_if_asked()
            children += start_gateways(
                directory,
                obj.passphrase(),
                [chain_urls.get(p, local.url) for p in providers],
                notary.url,
                children[-1].url,
                providers,
                gateway_ports,
                [p + 20 for p in gateway_ports],
                report=report,
                quota_store=quota_store,
                chain_options=None if members_only is None else {p: members_only.options(p) for p in providers},
            )
            endpoints = {org: f"https://localhost:{p}" for org, p in zip(providers, gateway_ports, strict=True)}
            write_endpoints(directory, endpoints)
            if traffic > 0:
                args = [] if members_only is None else members_only.options(operator)
                args += ["demo", "traffic", str(directory), "--rate", str(traffic), "--duration", "0"]
                args += ["--chain-url", local.url]
                traffic_log = directory / "gateways" / "traffic.log"
                children.append(start_child("demo traffic", args, traffic_log, "", "", obj.passphrase(), report=report))
        logins = None
        if providers:
            from demo.people import ensure_demo_people, write_demo_logins

            regulators = [m.org for m in description.members if Role.REGULATOR in m.roles]
            others = [m.org for m in description.members if Role.REGULATOR not in m.roles]
            people = ensure_demo_people(directory, obj.passphrase(), regulators, others)
            logins = write_demo_logins(directory, obj.passphrase(), people)
        # the regulator's explorer reads the regulator's own node, which checks every block it is given
        followers = [spec for spec in specs if not spec.entry.validator]
        explorer_chain = followers[0].rpc_url if followers else local.url
        explorer_args = [str(directory), "--port", str(explorer_port), "--notary-url", notary.url]
        explorer_args += ["--chain-url", explorer_chain, "--alarms-url", alarm_server.url]
        if alarm_settings.stale_after_s is not None:
            explorer_args += ["--alarms-stale-after", repr(alarm_settings.stale_after_s)]
        if explorer_index is not None:
            explorer_args += ["--index", explorer_index]
        if members_only is not None:  # the operator's explorer: it signs its reads with the operator's key too
            explorer_args += members_only.options(operator)
        explorer = start_child(
            "explorer",
            explorer_args,
            directory / "explorer" / "explorer.log",
            f"http://127.0.0.1:{explorer_port}",
            "/healthz",
            obj.passphrase(),
            timeout=60.0,
            module="explorer",
            report=report,
        )
        children.append(explorer)
        _stop_if_asked()
        members = consortium.registry.members()
        assets = consortium.assets
        click.echo(f"all up in {time.monotonic() - began:.1f} s")
        click.echo(f"Consortium Ledger: {description.name}")
        if specs:
            validators = [spec for spec in specs if spec.entry.validator]
            click.echo(
                f"  chain      JSON-RPC {local.url}  (chain id {description.chain_id}, "
                f"block {local.backend.web3.eth.block_number}; {len(validators)} validators agree by QBFT, "
                f"quorum {quorum(len(validators))}; stores and logs in {directory / NODES_DIR}/<org>)"
            )
            for spec in specs:
                role = spec.entry.role
                click.echo(f"  node       {spec.org:<18} {role:<9} JSON-RPC {spec.rpc_url}  peers {spec.peer_url}")
        else:
            click.echo(
                f"  chain      JSON-RPC {local.url}  (chain id {description.chain_id}, "
                f"block {local.backend.web3.eth.block_number}; embedded node, store in "
                f"{directory / CHAIN_DIR}, log in {directory / CHAIN_DIR / 'node.log'})"
            )
        click.echo(f"  members    {len(members)}: " + ", ".join(m.org for m in members))
        counts = assets.counts()  # not the lists: under load every read waits behind the node's other callers
        click.echo(
            f"  catalogue  {counts.centers} service centers, {counts.units} units, "
            f"{counts.apis} APIs, {counts.assets} data assets, {consortium.grants.count()} grants"
        )
        click.echo("  contracts  " + ", ".join(f"{k} {v}" for k, v in description.contracts.items()))
        click.echo(
            f"  notary     {notary.url}  (log {log_origin(description)}; suite {description.crypto}, "
            f"{description.suite.digest_name} tree; checkpoint {notary.url}/checkpoint, API {notary.url}/docs)"
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
                f'--key {client}/keystore/key.pem --pass "$CONSORTIUM_PASSPHRASE" '
                f"-H '{PURPOSE_HEADER}: trading' '{endpoints[org]}/v1/market/quotes/level2?symbol=600519.SH'"
            )
            if demo_psi.OWNER in endpoints and demo_psi.is_demo_psi(directory):
                click.echo(
                    f"  privacy    {demo_psi.ASSET} of {demo_psi.OWNER} (PSI behind its gateway "
                    f"{endpoints[demo_psi.OWNER]}), granted to {demo_psi.CLIENT} for {demo_psi.PURPOSE}"
                )
                flag = "" if port == 8545 else f" --chain-url {local.url}"
                click.echo(f"  psi job    {demo_psi.run_command(directory, flag)}")
        click.echo(f"  explorer   {explorer.url}  (API {explorer.url}/api/docs; log {explorer.log})")
        if logins is not None:
            click.echo(f"  log in     paste a token from {logins}:")
            for token in sorted(logins.glob("*.token"), key=lambda t: (not t.name.startswith("inspector@"), t.name)):
                if token.name.startswith(("inspector@", "compliance@jinghua-sec", "operator@jinghua-sec")):
                    click.echo(f"             {token}")
        chain_flag = "" if port == 8545 else f" --chain-url {local.url}"
        if members_only is not None:  # the nodes answer members only: the operator's admin identity reads
            chain_flag += f" --as {operator}"
        if specs:
            click.echo("  try        " + f"consortium --dir {directory}{chain_flag} chain status")
            click.echo("             " + f"consortium --dir {directory}{chain_flag} service list | head")
        else:
            click.echo("  try        " + f"consortium --dir {directory}{chain_flag} service list | head")
        click.echo("             " + f"consortium --dir {directory}{chain_flag} grant list")
        if log_tls is not None:  # the notary takes a member's certificate: the operator's log@ identity, say
            msp = f"{directory}/orgs/{operator}/users/log@{operator}/msp"
            click.echo(
                "             "
                + f"consortium{chain_flag} verify log {notary.url} --consortium {directory}/consortium.json "
                + f"--cert {msp}/signcerts/cert.pem --key {msp}/keystore/key.pem"
            )
        say = _say
        evaluator = alarm_evaluator(
            directory,
            description,
            specs,
            local.url,
            children,
            alarm_webhook,
            say,
            obj.passphrase(),
            None if members_only is None else members_only.client(operator),
            None if log_tls is None else log_tls[2],
            alarm_settings,
            None if alarms_tls is None else alarms_tls[1],
        )
        evaluator.start()
        alarm_server.attach(evaluator.state)
        where = f"; each change POSTed to {alarm_webhook}" if alarm_webhook else ""
        mutual = f"over mutual TLS to a certificate of {operator} " if alarms_tls is not None else ""
        click.echo(
            f"  alarms     {explorer.url}/#/alarms  (served to the explorer at {alarm_server.url} {mutual}with the "
            f"token of {token_path(directory)}{where})"
        )
        if evaluator.recorder is not None:
            click.echo(f"             each recorded in the audit log as {evaluator.recorder.gateway_id}")
        click.echo("  stop       Ctrl-C (every sealed block is already on disk); a component that stops is restarted")
        supervisor = Supervisor(node_children + children, say, backoff_initial=restart_delay)
        # a network runs on while any of its nodes is restarted; a single node's end is the chain's
        stopped = supervisor.run(None if specs else local.process, stop=_STOP)
        if stopped is None:
            raise KeyboardInterrupt  # SIGTERM, its own exception lost
        fail(f"{stopped} stopped unexpectedly; see its log")
    except SupervisorError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        if alarm_server is not None:
            alarm_server.close()
        if evaluator is not None:
            evaluator.stop()
        stop_all(children)
        # every node at once; a node the supervisor started again runs under its child's process
        stop_together([c.process for c in node_children] if node_children else [local.process])


def _publish_endpoints(consortium: Consortium, specs: list[NodeSpec], passphrase: bytes) -> None:
    """The chain says where each founder's node runs (its node endpoint, docs/trust.md): ``init`` wrote the URLs of
    ``up``'s default port; with another port, each node's org publishes its new one (and retires the old), so a
    firm that joined links to the nodes where they are."""
    from network.trust import publish_node_endpoints

    wanted = {spec.org: spec.peer_url for spec in specs}
    signers = {org: consortium.signer(org, passphrase) for org in wanted}
    for line in publish_node_endpoints(consortium.trust, wanted, signers):
        click.echo(f"  endpoints  {line}")


def node_specs(directory: Path, port: int, scheme: str = "http") -> list[NodeSpec]:
    """The nodes of a network directory on the ports of ``up --port PORT`` (:func:`record_nodes` writes them
    down once their ports are known to be free)."""
    entries = read_nodes(directory)
    return plan(directory, entries, up_ports(port, len(entries)), scheme)


def record_nodes(directory: Path, specs: list[NodeSpec]) -> None:
    """Where the nodes of ``specs`` run, in ``nodes.json``, for the commands that ask every node (``consortium
    chain status``)."""
    write_nodes(directory, [dataclasses.replace(s.entry, rpc_url=s.rpc_url, peer_url=s.peer_url) for s in specs])


def alarm_endpoint(
    directory: Path,
    port: int,
    host: str = "127.0.0.1",
    tls: tuple[ssl.SSLContext, ClientCheck] | None = None,
) -> AlarmServer:
    """The live alarms' endpoint of ``up --port PORT``: on HOST:PORT+3 (loopback unless ``--alarms-host``; then
    over mutual TLS, ``tls`` from :func:`~network.alarms.server.endpoint_tls`), its token made at the first start
    (``network.alarms.server``). A port taken since the check of the plan stops `up` with one line, before the
    notary starts."""
    token = api_token(directory, create=True)
    assert token is not None  # made when missing
    context, check = tls if tls is not None else (None, None)
    try:
        server = AlarmServer(token, port + PORT_OFFSET, host=host, tls=context, client_check=check)
    except OSError as exc:
        fail(f"the alarm endpoint cannot listen on {host}:{port + PORT_OFFSET}: {exc.strerror or exc}")
    server.start()
    return server


def alarm_evaluator(
    directory: Path,
    description: ConsortiumDescription,
    specs: list[NodeSpec],
    chain_url: str,
    children: list[Child],
    webhook: str | None,
    say: Callable[[str], None],
    passphrase: bytes,
    node_tls: ClientTls | None = None,
    notary_tls: ssl.SSLContext | None = None,
    settings: AlarmSettings | None = None,
    endpoint: ClientCheck | None = None,
) -> Evaluator:
    """The alarm evaluator over what `up` started: a thread of this process, which knows every child's URL and
    needs no restarting of its own (a failed round is logged and the next one runs). Each transition is recorded
    in the notary's log as the operator's ``<operator>/alarms``, signed with the operator's gateway key. With
    ``node_tls`` (``up --rpc-tls``) it asks the nodes with the operator's client certificate; with ``notary_tls``
    (``up --notary-tls``) it reaches the notary with that client context (the operator's ``log@`` identity).
    ``settings`` (``DIR/up.toml``) its interval, window, thresholds and hold-downs. ``endpoint``, the alarm
    endpoint's check beyond loopback, follows the directory through the same view."""
    from network.alarms.audit import OUTBOX_FILE, AlarmRecorder
    from network.alarms.book import AlarmBook
    from network.alarms.probe import NodeTarget, Prober, targets_of
    from network.alarms.store import ALARMS_DIR
    from network.alarms.webhook import WebhookSender
    from network.gatewaykeys import following_gateway_key
    from network.identity import load_gateway_key
    from network.shredding import alarms_vault
    from network.trust import has_directory, trust_view
    from notary.submit.vault import SaltVault

    def named(kind: str) -> dict[str, str]:
        return {c.name.split()[-1]: c.url for c in children if c.name.startswith(kind + " ")}

    notary = next((c.url for c in children if c.name == "notary"), None)
    if specs:
        nodes = [NodeTarget(s.org, s.entry.validator, s.rpc_url) for s in specs]
    else:
        validator = next(m.org for m in description.members if Role.VALIDATOR in m.roles)
        nodes = [NodeTarget(validator, True, chain_url)]
    targets = targets_of(
        description, named("witness"), notary, named("gateway"), nodes, notary_token=monitor_token(directory)
    )
    sender = WebhookSender(webhook) if webhook else None
    recorder = None
    # a view of the directory, a thread of this process as the evaluator's: the alarm records' gateway key, and the
    # member CAs of the alarm endpoint beyond loopback (a CA rotated, docs/trust.md)
    view = trust_view(description, chain_url, tls=node_tls) if has_directory(description) else None
    if view is not None and (notary is not None or endpoint is not None):
        view.start(require=False)
        if endpoint is not None:
            endpoint.follow(view)
    if notary is not None:
        operator = next(m.org for m in description.members if Role.OPERATOR in m.roles)
        key = load_gateway_key(directory, OrgId(operator), passphrase, description.crypto)
        vault = SaltVault.open(alarms_vault(directory), operator, passphrase, legacy_key=key, suite=description.crypto)
        # the operator's key rotated on chain is signed with once valid, no restart: the key file followed through the
        # view of the directory (until it reads: the key above)
        recorder = AlarmRecorder(
            directory / ALARMS_DIR / OUTBOX_FILE,
            operator,
            notary,
            key,
            vault,
            notary_tls=notary_tls,
            next_key=None
            if view is None
            else following_gateway_key(view, directory, operator, passphrase, description.crypto),
            follows=view,
        )
    prober = Prober(targets, node_tls=node_tls, notary_tls=notary_tls)
    s = settings or AlarmSettings()
    book = AlarmBook(
        s.fire_after_s,
        s.resolve_after_s,
        rule_fire_after=s.rule_fire_after_s,
        rule_resolve_after=s.rule_resolve_after_s,
    )
    return Evaluator(
        directory,
        description.name,
        prober,
        book,
        webhook=sender,
        say=say,
        recorder=recorder,
        interval=s.interval_s,
        window=s.window_s,
        limits=s.limits,
    )


def notary_server_tls(
    directory: Path, description: ConsortiumDescription, passphrase: bytes, operator: str
) -> tuple[Path, Path, ssl.SSLContext]:
    """``up --notary-tls``: the notary's server certificate and key (``orgs/<notary member>/notary/tls``, issued by
    its CA for 127.0.0.1 and localhost if a directory made before `init` issued it has none), and the client
    context `up` asks the notary's health with (the operator's ``log@`` identity)."""
    from network.identity import NOTARY_SERVICE, OrgPaths, issue_service_certificate
    from network.logsetup import notary_client_tls

    org = OrgId(notary_member(description).org)
    cert, key = OrgPaths.of(directory, org).service_tls(NOTARY_SERVICE)
    if not (cert.is_file() and key.is_file()):
        issue_service_certificate(directory, org, NOTARY_SERVICE, passphrase)
    return cert, key, notary_client_tls(directory, description, operator, passphrase)


class _MembersOnly:
    """``up --rpc-tls``: each node serves JSON-RPC over HTTPS to members only with its node certificate
    (``orgs/<org>/node/tls``, issued for 127.0.0.1 and localhost), and each component reaches it with the
    :data:`~network.nodeaccess.CHAIN_IDENTITY` of its org: a gateway its provider's, the notary the notary
    member's, the explorer, the alarm probe and `up` itself the operator's."""

    def __init__(self, directory: Path, description: ConsortiumDescription, passphrase: bytes, operator: str) -> None:
        self.directory = directory
        self.description = description
        self.passphrase = passphrase
        self._own = self.client(operator)

    def options(self, org: str) -> list[str]:
        from network.nodeaccess import chain_options

        return chain_options(self.directory, org, self.passphrase)

    def client(self, org: str) -> ClientTls:
        from network.nodeaccess import client_tls, service_identity

        cert, key = service_identity(self.directory, org, self.passphrase)
        return client_tls(self.description, cert, key, None, self.passphrase)

    def node(self, spec: NodeSpec) -> NodeRpcTls:
        """A node of a network: its certificate, written by `consortium init`."""
        from network.identity import OrgPaths
        from network.localchain import NodeRpcTls

        paths = OrgPaths.of(self.directory, spec.org)
        return NodeRpcTls(paths.node_tls_cert, paths.node_tls_key, self._own)

    def single_node(self) -> NodeRpcTls:
        """The node of a consortium of one: a directory of one node has no node certificate yet; its org's CA
        issues one (as `init` does for a network's nodes)."""
        from chain.ids import OrgId
        from network.identity import OrgPaths, issue_node_certificate
        from network.localchain import NodeRpcTls

        org = next(m.org for m in self.description.members if Role.VALIDATOR in m.roles)
        paths = OrgPaths.of(self.directory, OrgId(org))
        if not paths.node_tls_cert.is_file():
            issue_node_certificate(self.directory, OrgId(org), self.passphrase)
        return NodeRpcTls(paths.node_tls_cert, paths.node_tls_key, self._own)


def _setting(
    given: str | None, option: str, in_file: str | None, settings: UpSettings, key: str
) -> tuple[str | None, str]:
    """An option's value and where it comes from: the command line wins over ``DIR/up.toml``."""
    if given is not None:
        return given, option
    if in_file is not None:
        return in_file, settings.where(key)
    return None, "default"


def _say(line: str) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')}  {line}")


def _node_child(spec: NodeSpec, chain: LocalChain) -> Child:
    """A running node as a child the supervisor restarts if it stops (it catches up from its peers)."""
    return Child(f"node {spec.org}", chain.process, chain.url, spec.chain_dir / "node.log", chain.command, chain.env)


#: Set by SIGTERM. The handler's KeyboardInterrupt can land where Python ignores exceptions (a weakref finalizer or
#: a ``__del__`` running at that moment: "Exception ignored in ..."), so `up` also looks at this between its
#: steps and while it supervises.
_STOP = threading.Event()


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    """SIGTERM stops `up` the way Ctrl-C does: the chain is stopped cleanly and saves its state. A second SIGTERM
    (a service manager repeating itself, `timeout` passing its own on) does not cut that stopping short."""
    if _STOP.is_set():
        return
    _STOP.set()
    raise KeyboardInterrupt


def _announce(name: str, url: str, seconds: float, echo: Callable[..., None] = click.echo) -> None:
    """One line per component as it comes up, so a start that takes a minute is not a silent one."""
    echo(f"  up  {name:<24} {url or '-':<28} {seconds:5.1f} s")


def start_report(tty: bool, echo: Callable[..., None] = click.echo) -> StartReport:
    """What `up` prints while its children start: a line as each comes up; while one is still starting, a line
    "waiting for NAME at URL … N s" 5 s after its start and every 5 s after (on a terminal: one line rewritten in
    place every second, from the second second, which the component's "up" line then replaces); a line for one
    that did not start, which the :class:`Supervisor` starts again with the others' restarts once all is up (its
    failed start the first of the stops it gives up after)."""
    pending = [False]  # a progress line on a terminal, not ended yet

    def end_line() -> None:
        if pending[0]:
            echo("\r\x1b[2K", nl=False)
            pending[0] = False

    def announce(child: Child, seconds: float) -> None:
        end_line()
        _announce(child.name, child.url, seconds, echo)

    def waiting(child: Child, seconds: float) -> None:
        where = f" at {child.url}" if child.url else ""
        line = f"  ..  waiting for {child.name}{where} … {seconds:.0f} s"
        if tty:
            echo("\r\x1b[2K" + line, nl=False)
            pending[0] = True
        else:
            echo(line)

    def failed(child: Child, exc: SupervisorError) -> None:
        end_line()
        echo(f"  !!  {child.name} did not start: {exc}; started again once the rest is up")

    return StartReport(announce, waiting, failed, (2.0, 1.0) if tty else (5.0, 5.0))


def _stop_if_asked() -> None:
    if _STOP.is_set():
        raise KeyboardInterrupt
