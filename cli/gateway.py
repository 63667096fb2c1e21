"""``consortium gateway serve``: run a member's gateway in front of the shared services it provides."""

from __future__ import annotations

from pathlib import Path

import click

from chain.ids import OrgId
from cli._common import (
    Context,
    as_option,
    command_passphrase,
    emit,
    fail,
    json_option,
    overlap_options,
    pass_ctx,
    root_chain_tls,
)
from network.description import ServiceNotRecordedError, load_description

DEFAULT_GATEWAY_PORT = 8565


@click.group("gateway")
def gateway_group() -> None:
    """A provider's gateway: authenticate, check the on-chain grant, forward or deny, record every call."""


@gateway_group.command("serve")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", required=True, help="The providing member (its keys are under orgs/ORG/).")
@click.option("--name", default="gateway", show_default=True, help="The gateway's name: its id is ORG/NAME.")
@click.option(
    "--replica",
    default=None,
    metavar="ID",
    help="One replica of several behind a load balancer: its id is ORG/NAME-ID, with its own outbox and sequence "
    "numbers (use --quota-store so that the replicas share the quotas).",
)
@click.option(
    "--mode",
    type=click.Choice(["proxy", "auth"]),
    default="proxy",
    show_default=True,
    help="proxy: mutual-TLS reverse proxy to --upstream; auth: an nginx auth_request endpoint on loopback.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_GATEWAY_PORT, show_default=True)
@click.option(
    "--admin-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_GATEWAY_PORT + 10,
    show_default=True,
    help="Loopback port of /healthz and /metrics.",
)
@click.option("--upstream", default=None, help="Base URL of the upstream service (proxy mode).")
@click.option(
    "--notary-url",
    default=None,
    help="The notary the gateway ships its events to [default: the one `consortium up` recorded in consortium.json].",
)
@click.option("--chain-url", default=None, help="Chain JSON-RPC URL (default: the one in consortium.json).")
@click.option(
    "--poll",
    "poll_s",
    type=click.FloatRange(0.01, 10),
    default=0.1,
    show_default=True,
    help="Seconds between looks at the chain head for grant changes.",
)
@click.option(
    "--stale-after",
    "stale_s",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a cached grant is honoured while the chain is unreachable; then calls fail closed.",
)
@click.option(
    "--max-pending",
    type=click.IntRange(100, 100_000_000),
    default=1_000_000,
    show_default=True,
    help="Events the outbox holds unshipped before calls get 503 outbox_full.",
)
@click.option(
    "--breaker-failures",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="Upstream failures in a row (unreachable, timeout, 5xx) that open the circuit breaker.",
)
@click.option(
    "--breaker-cooldown",
    "breaker_cooldown_s",
    type=click.FloatRange(0.1, 3600),
    default=10.0,
    show_default=True,
    help="Seconds the open breaker answers 503 circuit_open before one call probes the upstream.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(1, 100_000),
    default=64,
    show_default=True,
    help="Calls of one member in flight at once (proxy mode); one more gets 429 too_many_in_flight, recorded.",
)
@click.option(
    "--quota-store",
    metavar="URL",
    default=None,
    help="Count the grants' quotas, PSI privacy budgets and PSI runs in this PostgreSQL database (postgresql://...), "
    "shared by the replicas of this org's gateway; when it cannot be reached, calls under a quota get 503 "
    "quota_unavailable. Default: in the outbox, per gateway.",
)
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
def gateway_serve(
    directory: Path,
    org: str,
    name: str,
    replica: str | None,
    mode: str,
    host: str,
    port: int,
    admin_port: int,
    upstream: str | None,
    notary_url: str | None,
    chain_url: str | None,
    poll_s: float,
    stale_s: float,
    max_pending: int,
    breaker_failures: int,
    breaker_cooldown_s: float,
    max_in_flight: int,
    quota_store: str | None,
    passphrase_file: Path | None,
) -> None:
    """Run the gateway of ORG for the consortium in DIRECTORY until SIGTERM or Ctrl-C."""
    from chain.errors import MalformedError
    from chain.ids import check_name
    from chain.jsonlog import configure_json_logging
    from gateway.policy import ChainUnavailableError
    from gateway.quota import QuotaSchemaError
    from gateway.service import GatewayOptions, run

    try:
        check_name(name, "gateway name")
    except MalformedError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    if replica is not None:
        name = f"{name}-{replica}"
        try:
            check_name(name, "gateway name with its replica")
        except MalformedError as exc:
            raise click.BadParameter(str(exc), param_hint="--replica") from None
    if quota_store is not None and not quota_store.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("a postgresql:// URL", param_hint="--quota-store")
    if mode == "proxy" and not upstream:
        raise click.UsageError("--upstream URL is required in proxy mode")
    if upstream is not None and not upstream.startswith(("http://", "https://")):
        raise click.BadParameter("an http:// or https:// URL", param_hint="--upstream")
    if mode == "auth" and host not in ("127.0.0.1", "::1", "localhost"):
        raise click.BadParameter(
            "the auth endpoint trusts the client-certificate header nginx sets, so it listens on loopback only",
            param_hint="--host",
        )
    try:
        from network.admission import org_roles

        description = load_description(directory)
        org_roles(directory, description, org)  # a founder, or the firm of this directory's admission request
    except MalformedError as exc:
        fail(str(exc))
    passphrase = command_passphrase(passphrase_file)
    # a node serving members only: the root options' --chain-cert and --chain-key (a certificate of ORG's)
    chain_tls = root_chain_tls(directory, chain_url or description.chain_url, passphrase)
    try:
        notary_url = description.service_url("notary", notary_url)
    except ServiceNotRecordedError as exc:  # none given, none recorded
        fail(str(exc))
    options = GatewayOptions(
        directory=directory,
        org=OrgId(org),  # checked above: a founder, or the firm of this directory's admission request
        name=name,
        host=host,
        port=port,
        admin_port=admin_port,
        mode=mode,
        upstream=upstream,
        notary_url=notary_url.rstrip("/"),
        chain_url=chain_url,
        poll_s=poll_s,
        stale_s=stale_s,
        max_pending=max_pending,
        breaker_failures=breaker_failures,
        breaker_cooldown_s=breaker_cooldown_s,
        max_in_flight=max_in_flight,
        quota_store=quota_store,
        chain_tls=chain_tls,
    )
    # its own records, and those of the shipper (batches refused, sent again) and of the key it signs with (a
    # rotated key taken, the key kept before it removed): JSON lines, INFO and above
    for logger in ("gateway", "notary.submit", "notary.keyswitch", "network.keyrotation"):
        configure_json_logging(logger)
    try:
        run(options, description, passphrase)
    except (ChainUnavailableError, QuotaSchemaError) as exc:
        fail(f"cannot start: {exc}")


@gateway_group.command("rotate-key")
@overlap_options()
@as_option
@json_option
@pass_ctx
def rotate_key(obj: Context, from_block: int | None, overlap_blocks: int, as_org: str, as_json: bool) -> None:
    """Rotate the gateway key of --as (the key its gateways sign batches and reads with; docs/trust.md, "Rotating
    a gateway key").

    Makes a new key of the consortium's suite, adds it on chain as a GATEWAY_KEY of --as (its account) valid from
    --from-block, retires the current one --overlap-blocks later, keeps it as orgs/ORG/keys/gateway.previous.pem
    (0600) until it is retired, for a gateway or SDK client started before the new key's block, and replaces
    orgs/ORG/keys/gateway.pem (written atomically, 0600) and gateway.pub. The org's salt vaults are made to depend
    on no gateway key first, so every earlier salt is still revealed. A running `gateway serve` signs with the new
    key from the block it is valid from, with no restart; the notary accepts batches under either key during the
    overlap, and under the old key no more after it."""
    from network.gatewaykeys import GatewayRotationError, rotate_gateway_key

    c = obj.consortium()
    try:
        r = rotate_gateway_key(
            obj.directory,
            c.description,
            obj.passphrase(),
            c.trust,
            obj.signer(as_org),
            as_org,
            from_block=from_block,
            overlap_blocks=overlap_blocks,
        )
    except GatewayRotationError as exc:
        fail(str(exc))
    emit(
        as_json,
        {
            "org": r.org,
            "old": {"index": r.old_index, "public_key": r.old_public.hex(), "valid_until": r.old_valid_until},
            "new": {"index": r.new_index, "public_key": r.new_public.hex(), "valid_from": r.valid_from},
        },
        lambda: [
            f"gateway key #{r.new_index} of {r.org} valid from block {r.valid_from}: {r.new_public.hex()}",
            f"gateway key #{r.old_index} retired at block {r.old_valid_until}: {r.old_public.hex()}",
            f"orgs/{r.org}/keys/gateway.pem replaced: a running gateway signs with it from block {r.valid_from}",
            f"orgs/{r.org}/keys/gateway.previous.pem keeps the old key until block {r.old_valid_until}",
        ],
    )


@gateway_group.command("nginx-config")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", required=True, help="The providing member: nginx presents its gateway TLS certificate.")
@click.option("--listen-host", default="127.0.0.1", show_default=True, help="Where nginx listens for callers.")
@click.option("--port", type=click.IntRange(1, 65535), default=8443, show_default=True, help="nginx's port.")
@click.option(
    "--auth-port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_GATEWAY_PORT,
    show_default=True,
    help="The loopback port of `gateway serve --mode auth`.",
)
@click.option("--upstream", required=True, metavar="HOST:PORT", help="The firm's service, for the calls allowed.")
@click.option(
    "--runtime-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="nginx's pid file, error log and temporary files.",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The passphrase of the encrypted TLS key, for nginx's ssl_password_file.",
)
@click.option(
    "--tlcp",
    is_flag=True,
    help="Also terminate TLCP (GB/T 38636) with Tongsuo's NTLS directives (a Tongsuo-built nginx or Tengine, not "
    "Debian's nginx; an 'sm' consortium): the caller's SM2 certificate is passed to the gateway like a TLS one.",
)
@click.option("--sign-cert", type=click.Path(dir_okay=False, path_type=Path), help="TLCP: the SM2 signing certificate.")
@click.option("--sign-key", type=click.Path(dir_okay=False, path_type=Path), help="TLCP: its key.")
@click.option("--enc-cert", type=click.Path(dir_okay=False, path_type=Path), help="TLCP: the encryption certificate.")
@click.option("--enc-key", type=click.Path(dir_okay=False, path_type=Path), help="TLCP: its key.")
def gateway_nginx_config(
    directory: Path,
    org: str,
    listen_host: str,
    port: int,
    auth_port: int,
    upstream: str,
    runtime_dir: Path,
    password_file: Path | None,
    tlcp: bool,
    sign_cert: Path | None,
    sign_key: Path | None,
    enc_cert: Path | None,
    enc_key: Path | None,
) -> None:
    """Print the nginx configuration of auth_request mode in front of ORG's service (docs/gateway.md): nginx
    terminates mutual TLS, asks `gateway serve --mode auth` on loopback about every call with the client's
    certificate, and answers refusals with the gateway's reason. With --tlcp it also terminates TLCP
    (docs/national-suite.md, "The gateway behind a TLCP terminator"); that configuration is for a Tongsuo-built
    nginx and is rendered, not checked, here."""
    from chain.errors import MalformedError
    from chain.ids import check_name
    from gateway.nginx import NginxSite, Tlcp, render
    from gateway.service import tls_paths

    try:
        check_name(org, "org id")
        description = load_description(directory)
    except MalformedError as exc:
        fail(str(exc))
    if org not in {m.org for m in description.members}:
        raise click.BadParameter(f"{org!r} is not a member in {directory}/consortium.json", param_hint="--org")
    host, _, upstream_port = upstream.rpartition(":")
    if not host or not upstream_port.isdigit() or not 0 < int(upstream_port) < 65536 or set(upstream) & set(" ;{}"):
        raise click.BadParameter("HOST:PORT, e.g. 127.0.0.1:9000", param_hint="--upstream")
    files = {"--sign-cert": sign_cert, "--sign-key": sign_key, "--enc-cert": enc_cert, "--enc-key": enc_key}
    given = [name for name, value in files.items() if value is not None]
    terminator = None
    if tlcp:
        if description.crypto != "sm":
            raise click.UsageError(
                f"--tlcp: {directory}/consortium.json runs the {description.crypto!r} suite; its gateways take no SM2 "
                "certificates (TLCP is for an 'sm' consortium)"
            )
        missing = [name for name, value in files.items() if value is None]
        if missing:
            raise click.UsageError(f"--tlcp needs {', '.join(missing)}: TLCP's signing and encryption certificates")
        assert sign_cert and sign_key and enc_cert and enc_key
        terminator = Tlcp(sign_cert.absolute(), sign_key.absolute(), enc_cert.absolute(), enc_key.absolute())
    elif given:
        raise click.UsageError(f"{', '.join(given)} only with --tlcp")
    cert_file, key_file = tls_paths(directory, org)
    site = NginxSite(
        listen_port=port,
        auth_port=auth_port,
        upstream=upstream,
        cert_file=cert_file.absolute(),
        key_file=key_file.absolute(),
        password_file=password_file.absolute() if password_file is not None else None,
        runtime_dir=runtime_dir.absolute(),
        listen_host=listen_host,
        tlcp=terminator,
    )
    click.echo(render(site), nl=False)
