"""``consortium notary ...`` and ``consortium witness ...``: run the audit log's notary and its witnesses.

The notary of a consortium directory signs with the notary member's log key (``orgs/<org>/keys/notary.pem``)
and anchors with its chain account; each witness cosigns with its member's witness key
(``orgs/<org>/keys/witness.pem``) and keeps its state in ``witnesses/<org>/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chain.ids import Role
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
from network.description import ConsortiumDescription, load_description
from network.logsetup import (
    LogSetupError,
    log_origin,
    log_verifier,
    notary_member,
    notary_settings,
    read_access,
    witness_name,
    witness_orgs,
    witness_state_path,
)

if TYPE_CHECKING:
    import httpx

    from chain.backend import ClientTls
    from chain.trustview import TrustView
    from notary.logsuite import LogVerifier
    from notary.service import AnchorSettings

DEFAULT_NOTARY_PORT = 8546


def _witness_urls(values: tuple[str, ...]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for value in values:
        org, sep, url = value.partition("=")
        if not sep or not org or not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{value!r}: expected ORG=URL, e.g. jinghua-sec=http://127.0.0.1:8551")
        if org in urls:
            raise click.BadParameter(f"witness {org!r} given twice")
        urls[org] = url
    return urls


@click.group("notary")
def notary_group() -> None:
    """The audit log's notary: sequence events, checkpoint, collect cosignatures, anchor."""


@notary_group.command("serve")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_NOTARY_PORT, show_default=True)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    metavar="ORG=URL",
    help="A witness to ask (repeatable). With a TrustDirectory, also an org consortium.json does not name: it is "
    "asked and counted while the chain lists a witness key of it and it holds the witness role (docs/trust.md).",
)
@click.option("--chain-url", default=None, help="Chain to anchor on (default: the one in consortium.json).")
@click.option("--no-anchor", is_flag=True, help="Do not anchor checkpoints on chain.")
@click.option("--anchor-interval", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True)
@click.option(
    "--anchor-max-backoff",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Longest wait (s) between two anchoring attempts while the chain is unreachable.",
)
@click.option("--checkpoint-interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True)
@click.option(
    "--authenticate-reads/--open-reads",
    default=False,
    show_default=True,
    help="Serve the log only to members, witnesses and regulators, each event to its parties (docs/notary.md).",
)
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--storage",
    metavar="URL",
    envvar="CONSORTIUM_NOTARY_STORAGE",
    default=None,
    help="postgresql://user@host/db: keep the log in PostgreSQL (with --object-store), shared by every notary "
    "replica given the same URLs (docs/notary.md, 'Storage backends'). Default: SQLite in DIRECTORY/notary.",
)
@click.option(
    "--object-store",
    metavar="URL",
    envvar="CONSORTIUM_NOTARY_OBJECT_STORE",
    default=None,
    help="s3://bucket[/prefix]?endpoint=http://host:port&region=…: where a PostgreSQL-backed notary writes tiles, "
    "entry bundles and its checkpoint (credentials from the AWS environment variables or profile).",
)
@click.option(
    "--leader-lease",
    type=click.FloatRange(0.5, 600),
    default=10.0,
    show_default=True,
    help="With --storage: replicas elect one leader to checkpoint and anchor; a leader silent this long (s) loses "
    "the lead to another replica, which also takes over at once when the leader exits or loses its database "
    "connection (docs/notary.md, 'Replicas and their leader').",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this server certificate (PEM, of a member CA, e.g. orgs/ORG/gateway/tls/cert.pem) and "
    "accept members' client certificates as read credentials (mutual TLS, with --authenticate-reads).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The private key of --tls-cert (encrypted with the consortium passphrase).",
)
@click.option(
    "--require-client-cert",
    is_flag=True,
    help="With --tls-cert: complete a TLS handshake only with a client presenting a certificate of a member CA "
    "(every gateway, witness, explorer and member client then presents its own; consortium up --notary-tls).",
)
def notary_serve(
    directory: Path,
    host: str,
    port: int,
    witnesses: tuple[str, ...],
    chain_url: str | None,
    no_anchor: bool,
    anchor_interval: float,
    anchor_max_backoff: float,
    checkpoint_interval: float,
    authenticate_reads: bool,
    passphrase_file: Path | None,
    storage: str | None,
    object_store: str | None,
    leader_lease: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    require_client_cert: bool,
) -> None:
    """Run the notary of the consortium in DIRECTORY until SIGTERM or Ctrl-C.

    The notary starts and serves while the chain is unreachable: it connects to the chain only to anchor, and
    keeps retrying with backoff (see /healthz "anchoring") until the chain answers."""
    from network.logsetup import (
        ChainLogKey,
        ChainWitnesses,
        gateway_keys,
        notary_authenticator,
        notary_tls,
        registry_roles,
    )
    from network.trust import GatewayKeySource, has_directory, trust_view
    from notary.api import run
    from notary.service import configure_logging

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if require_client_cert and tls_cert is None:
        raise click.UsageError("--require-client-cert needs --tls-cert and --tls-key")
    description = load_description(directory)
    passphrase = command_passphrase(passphrase_file)
    server_tls = None
    # the one verdict on members' client certificates: at the handshake, at each request and for the reads
    authenticator = notary_authenticator(directory, description)
    if tls_cert is not None and tls_key is not None:  # before anything starts: a bad file or passphrase is said now
        server_tls = notary_tls(
            directory, description, tls_cert, tls_key, passphrase, require_client_cert, authenticator=authenticator
        )
    url = None if no_anchor else chain_url or description.chain_url
    # a node serving members only: the root options' --chain-cert and --chain-key (the operator's)
    tls = root_chain_tls(directory, chain_url or description.chain_url, passphrase)
    follows = has_directory(description) and bool(chain_url or description.chain_url)
    urls = _witness_urls(witnesses)
    try:
        # no chain URL here: ``notary_settings`` would connect to the chain now; the anchoring is set up below
        settings = notary_settings(
            directory,
            dataclasses.replace(description, chain_url=""),
            passphrase,
            urls,
            checkpoint_interval=checkpoint_interval,
            followed=follows,
        )
    except LogSetupError as exc:
        fail(str(exc))
    if url:
        anchor = _lazy_anchor_settings(
            directory, description, passphrase, url, anchor_interval, anchor_max_backoff, tls
        )
        settings = dataclasses.replace(settings, anchor=anchor)
    if (storage is None) != (object_store is None):
        raise click.UsageError("--storage postgresql://… and --object-store s3://… go together")
    settings = dataclasses.replace(settings, storage=storage, object_store=object_store, leader_lease=leader_lease)
    source = None
    view = None  # the TrustDirectory followed: the chain's keys, CAs and members, not the file's
    if follows:
        # the gateways' keys, the witnesses and their keys as the chain says they are now, followed without a
        # restart (docs/trust.md); until the chain answers, or with no chain named at all, those of consortium.json
        view = trust_view(description, chain_url, tls=tls)
        view.start(require=False)
        source = GatewayKeySource(view, gateway_keys(description))
        chain_witnesses = ChainWitnesses(view, description, urls, registry_roles(view, description))
        settings = dataclasses.replace(settings, gateway_keys=source, follow_witnesses=chain_witnesses)
        # the log's key: a store signed under an earlier key is served under a rotated one valid on chain, and the
        # key file rewritten by `notary rotate-key` is signed with from the block its record is valid from
        log_key = ChainLogKey(view, directory, description, passphrase)
        settings = dataclasses.replace(settings, log_key_on_chain=log_key.on_chain, next_log_key=log_key)
        # the member CAs, revoked serials and members of the handshake and of the reads follow the chain too
        authenticator = notary_authenticator(directory, description, view)
        if tls_cert is not None and tls_key is not None:
            server_tls = notary_tls(
                directory, description, tls_cert, tls_key, passphrase, require_client_cert, authenticator=authenticator
            )
    configure_logging()
    scheme = "http" if server_tls is None else "https"
    click.echo(f"notary of {settings.origin} serving on {scheme}://{host}:{port}", err=True)
    access = read_access(directory, description, authenticator, view) if authenticate_reads else None
    if access is not None and source is not None:
        access.follow_gateway_keys(source)  # gateways sign their reads with the same keys
    run(settings, host, port, access, server_tls, authenticator.handshake_refusal)


def _lazy_anchor_settings(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    url: str,
    interval: float,
    max_backoff: float,
    tls: ClientTls | None = None,
) -> AnchorSettings:
    """Anchoring on the chain at ``url`` through a client made at the anchorer's first need (and again after each
    failure), never at start-up."""
    from chain.backend import RpcBackend
    from chain.contracts import AuditAnchorClient
    from network.logsetup import anchor_settings

    address = description.contracts["AuditAnchor"]

    def connect() -> AuditAnchorClient:
        return AuditAnchorClient(RpcBackend(url, timeout=10.0, tls=tls), address)

    return anchor_settings(directory, description, passphrase, connect, interval=interval, max_backoff=max_backoff)


@notary_group.command("migrate-anchor")
@as_option
@json_option
@pass_ctx
def migrate_anchor(obj: Context, as_org: str, as_json: bool) -> None:
    """Move an sm consortium to a signed-only AuditAnchor (docs/national-suite.md, "Migration").

    Deploys AuditAnchor(registry, signed_only) from the account of --as (the account that deployed the
    consortium's contracts: it alone may set the TrustDirectory), sets the consortium's TrustDirectory on it,
    and rewrites consortium.json: contracts.AuditAnchor names the new contract, and retired_anchors the old one
    with the last anchor of the log it holds, which `verify evidence` and `verify log` still take from it. Stop
    the notary first; restart it, and hand the new consortium.json to the members, after."""
    from network.anchormove import move_to_signed_only

    c = obj.consortium()
    moved = move_to_signed_only(c.backend, obj.signer(as_org), c.description)
    written = moved.description.write(obj.directory)
    r = moved.retired
    emit(
        as_json,
        {"audit_anchor": moved.address, "retired": r.to_json()},
        lambda: [
            f"AuditAnchor {moved.address} deployed, signed only, checking log keys in TrustDirectory "
            f"{c.description.contracts['TrustDirectory']}",
            f"retired AuditAnchor {r.address}: its anchors up to size {r.last_size} still count",
            f"{written} rewritten: restart the notary and hand the file to the members",
        ],
    )


@notary_group.command("rotate-key")
@overlap_options("Refused if shorter than the anchoring interval in blocks of the chain.")
@click.option(
    "--anchor-interval",
    type=click.FloatRange(0.1, 3600),
    default=10.0,
    show_default=True,
    help="The notary's --anchor-interval (s), which the overlap must cover at the chain's measured block time.",
)
@as_option
@json_option
@pass_ctx
def rotate_key(
    obj: Context, from_block: int | None, overlap_blocks: int, anchor_interval: float, as_org: str, as_json: bool
) -> None:
    """Rotate the log's key (the notary's checkpoint and receipt key; docs/trust.md, "The log's key over time").

    Makes a new key of the consortium's suite, adds it on chain as a LOG_KEY of the notary's member (--as, its
    account) valid from --from-block, retires the current one --overlap-blocks later, and replaces
    orgs/ORG/keys/notary.pem (written atomically, 0600). A running `notary serve` with a chain signs with the new
    key from the block it is valid from, with no restart; checkpoints signed before stay valid under the old one."""
    from network.logrotation import LogRotationError, rotate_log_key
    from network.logsetup import log_origin

    c = obj.consortium()
    if notary_member(c.description).org != as_org:
        fail(f"{as_org} does not run the notary; the log's key is {notary_member(c.description).org}'s to rotate")
    try:
        r = rotate_log_key(
            obj.directory,
            c.description,
            obj.passphrase(),
            c.trust,
            obj.signer(as_org),
            from_block=from_block,
            overlap_blocks=overlap_blocks,
            anchor_interval_s=anchor_interval,
        )
    except LogRotationError as exc:
        fail(str(exc))
    origin = log_origin(c.description)
    vkeys = [c.description.suite.format_vkey(origin, k) for k in (r.old_public, r.new_public)]
    emit(
        as_json,
        {
            "org": r.org,
            "old": {"index": r.old_index, "vkey": vkeys[0], "valid_until": r.old_valid_until},
            "new": {"index": r.new_index, "vkey": vkeys[1], "valid_from": r.valid_from},
        },
        lambda: [
            f"log key #{r.new_index} of {r.org} valid from block {r.valid_from}: {vkeys[1]}",
            f"log key #{r.old_index} retired at block {r.old_valid_until}: {vkeys[0]}",
            "orgs/"
            + r.org
            + "/keys/notary.pem replaced: a running notary signs with it from block "
            + str(r.valid_from),
        ],
    )


@notary_group.group("alarms")
def alarms_group() -> None:
    """The notary's integrity alarms: list them, and resolve one (docs/notary.md, "Integrity alarms")."""


_ALARMS_READER = "{org}/ops"


def _alarms_client(obj: Context, org: str, notary_url: str | None) -> tuple[str, httpx.Client]:
    """A client of the notary whose reads (and resolutions) are signed as ``<org>/ops`` with ORG's gateway key, and
    over mutual TLS with ORG's ``log@`` identity when the notary is served over HTTPS."""
    import ssl

    import httpx

    from chain.ids import OrgId
    from network.description import ServiceNotRecordedError
    from network.errors import NetworkError
    from network.identity import load_gateway_key
    from notary.readauth import SignedReads

    description = load_description(obj.directory)
    try:
        url = description.service_url("notary", notary_url).rstrip("/")
    except ServiceNotRecordedError as exc:
        fail(str(exc))
    try:
        key = load_gateway_key(obj.directory, OrgId(org), obj.passphrase())
    except NetworkError as exc:
        fail(f"--as {org}: cannot load its gateway key: {exc}")
    verify: ssl.SSLContext | bool = True
    if url.startswith("https://"):
        from network.logsetup import notary_client_tls

        verify = notary_client_tls(obj.directory, description, org, obj.passphrase())
    reader = _ALARMS_READER.format(org=org)
    return url, httpx.Client(base_url=url, auth=SignedReads(reader, key), timeout=30, verify=verify)


def _alarm_line(a: dict[str, object]) -> str:
    state = "open" if a["resolved_ms"] is None else f"resolved by {a['resolved_by']}: {a['reason']}"
    return f"#{a['id']} {a['kind']} {a['subject']}: found {a['count']} times, last {a['last_ms']} ms ({state})"


_notary_url_option = click.option(
    "--notary-url", default=None, help="The notary [default: the notary URL `consortium up` recorded]."
)


#: Alarms asked for per request when ``alarms list`` follows the pages (the notary's largest page).
_ALARMS_PAGE = 1000


@alarms_group.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only the alarms not resolved.")
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Print at most this many, the last found first [default: every alarm, page after page].",
)
@click.option("--as", "as_org", required=True, help="The member org whose gateway key signs the read.")
@_notary_url_option
@json_option
@pass_ctx
def alarms_list(
    obj: Context, open_only: bool, limit: int | None, as_org: str, notary_url: str | None, as_json: bool
) -> None:
    """The notary's integrity alarms, the last found first (with --open, those not resolved). The notary answers
    a page at a time; this follows the pages (each page's `next`) to the last, or until --limit alarms."""
    import httpx

    url, client = _alarms_client(obj, as_org, notary_url)
    state = "open" if open_only else "all"
    alarms: list[dict[str, object]] = []
    cursor: str | None = None
    try:
        with client:
            while limit is None or len(alarms) < limit:
                page = _ALARMS_PAGE if limit is None else min(_ALARMS_PAGE, limit - len(alarms))
                params: dict[str, str | int] = {"state": state, "limit": page}
                if cursor is not None:
                    params["cursor"] = cursor
                response = client.get("/v1/alarms", params=params)
                if response.status_code != 200:
                    fail(f"the notary at {url} answered {response.status_code}: {response.text[:300]}")
                body = response.json()
                alarms.extend(body["alarms"][:page])
                if body.get("next") is None or not body["alarms"] or body["next"] == cursor:
                    break
                cursor = body["next"]
    except httpx.HTTPError as exc:
        fail(f"the notary at {url}: {exc}")
    emit(as_json, alarms, lambda: [_alarm_line(a) for a in alarms] or ["no alarms"])


@alarms_group.command("resolve")
@click.argument("alarm_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--reason", required=True, help="Why it is resolved: what was found and what was done (kept for ever).")
@click.option(
    "--as", "as_org", required=True, help="An org that runs the notary (the operator's): its gateway key signs."
)
@_notary_url_option
@json_option
@pass_ctx
def alarms_resolve(
    obj: Context, alarm_id: int, reason: str, as_org: str, notary_url: str | None, as_json: bool
) -> None:
    """Resolve the open alarm ALARM_ID, recording who, when and why; the alarm is kept. The same condition found
    again opens a new alarm. Refused, nothing changed: no such alarm, one resolved already, an org that does not
    run the notary, an empty reason."""
    import httpx

    if not reason.strip():
        fail("--reason is empty: say what was found and what was done")
    url, client = _alarms_client(obj, as_org, notary_url)
    try:
        with client:
            response = client.post(f"/v1/alarms/{alarm_id}/resolve", params={"reason": reason})
    except httpx.HTTPError as exc:
        fail(f"the notary at {url}: {exc}")
    if response.status_code != 200:
        try:
            error = str(response.json().get("error"))
        except ValueError:
            error = response.text[:300]
        fail(f"alarm {alarm_id} not resolved: the notary answered {response.status_code}: {error}")
    alarm = response.json()
    emit(as_json, alarm, lambda: [_alarm_line(alarm)])


# -- witnesses -----------------------------------------------------------------------------------------------


@click.group("witness")
def witness_group() -> None:
    """A member's witness of the audit log: cosign checkpoints consistent with what it cosigned before."""


def _check_witness(
    description: ConsortiumDescription,
    org: str,
    public_key: Callable[[], bytes] | None = None,
    tls: ClientTls | None = None,
) -> None:
    """Refuse an org that is not a witness: one consortium.json's policy names is; one it does not (a member
    admitted later) is when the chain says so, its witness role in the registry and, given ``public_key``, that
    key among its witness keys the TrustDirectory lists valid now (``docs/trust.md``)."""
    orgs = witness_orgs(description)
    if org in orgs:
        return
    from network.trust import has_directory

    listed = f"{org!r} is not a witness of this consortium ({', '.join(orgs) or 'its policy names none'})"
    if not has_directory(description) or any(m.org == org for m in description.members):
        fail(listed)
    from chain.contracts.trust import KeyKind
    from network.logsetup import registry_roles
    from network.trust import trust_view

    view = trust_view(description, tls=tls)
    try:
        view.refresh()
        roles = registry_roles(view, description)(org)
    except Exception as exc:  # the transport's errors and web3's, whichever the chain gives
        fail(f"{listed}, and the chain did not answer: {type(exc).__name__}: {exc}")
    if roles is None or Role.WITNESS not in roles:
        fail(f"{listed} nor a member holding the witness role on chain")
    if public_key is not None and public_key() not in view.keys(KeyKind.WITNESS_KEY, org):
        fail(
            f"the witness key of {org} (orgs/{org}/keys/witness.pem) is not one the TrustDirectory lists valid now: "
            f"publish it first (consortium member keys publish --as {org})"
        )


@witness_group.command("init")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", required=True, help="The witnessing member.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A checkpoint note the operator trusts (e.g. the log's latest, from /checkpoint); default: size 0.",
)
def witness_init(directory: Path, org: str, checkpoint_file: Path | None) -> None:
    """Register the consortium's log with the witness of ORG (the operator's step after a state loss)."""
    from notary.log.checkpoint import parse_checkpoint
    from notary.log.note import open_note
    from notary.witness.state import init_witness

    description = load_description(directory)
    _check_witness(
        description, org, tls=_joined_witness_tls(directory, description, org, lambda: command_passphrase(None))
    )
    checkpoint = note = None
    if checkpoint_file is not None:
        note = checkpoint_file.read_bytes()
        opened, _ = open_note(note, [log_verifier(description)])
        checkpoint = parse_checkpoint(opened.text)
    state = init_witness(witness_state_path(directory, org), log_origin(description), checkpoint, note)
    click.echo(f"witness {org}: log {log_origin(description)} registered at size {state.size}")


@witness_group.command("serve")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", required=True, help="The witnessing member (its key is orgs/ORG/keys/witness.pem).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), required=True)
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--authenticate-reads/--open-reads",
    default=False,
    show_default=True,
    help="Show the sizes cosigned (/healthz beyond liveness, /metrics) to members and the monitor token only, "
    "as the notary shows its figures (docs/confidentiality.md).",
)
def witness_serve(
    directory: Path, org: str, host: str, port: int, passphrase_file: Path | None, authenticate_reads: bool
) -> None:
    """Run the witness of ORG until SIGTERM or Ctrl-C."""
    from chain.ids import OrgId
    from chain.jsonlog import configure_json_logging
    from network.identity import load_witness_key
    from notary.logsuite import public_bytes
    from notary.witness.server import WitnessConfig, serve

    description = load_description(directory)
    passphrase = command_passphrase(passphrase_file)
    private_key = load_witness_key(directory, OrgId(org), passphrase, description.crypto)
    tls = _joined_witness_tls(directory, description, org, lambda: passphrase)
    _check_witness(description, org, lambda: public_bytes(private_key), tls)
    view = _witness_view(
        description,
        tls or (root_chain_tls(directory, description.chain_url, passphrase) if description.chain_url else None),
    )
    config = WitnessConfig(
        name=witness_name(description, org),
        private_key=private_key,
        state_path=witness_state_path(directory, org),
        logs={log_origin(description): [log_verifier(description)]},
        access=read_access(directory, description, trust=view) if authenticate_reads else None,
        follow_logs=None if view is None else _followed_log_keys(description, view),
    )
    configure_json_logging("notary.witness")
    serve(config, host, port)


def _joined_witness_tls(
    directory: Path, description: ConsortiumDescription, org: str, passphrase: Callable[[], bytes]
) -> ClientTls | None:
    """For a member admitted later (no witness of consortium.json's policy), checked on a node serving members only
    (an https chain URL): ORG's admin identity in ``directory`` (or the root options' certificate); None otherwise."""
    if org in witness_orgs(description) or not description.chain_url.startswith("https://"):
        return None
    return root_chain_tls(directory, description.chain_url, passphrase())


def _witness_view(description: ConsortiumDescription, tls: ClientTls | None) -> TrustView | None:
    """For a consortium with a TrustDirectory and a chain: a view of it (started, followed while the witness
    runs), through which the witness follows the log's keys and, with ``--authenticate-reads``, checks its readers
    as the notary does (the member CAs, SM2 ones too, the regulators and who is a member, as the chain says). None:
    no chain to follow."""
    from network.trust import has_directory, trust_view

    if not has_directory(description) or not description.chain_url:
        return None
    view = trust_view(description, tls=tls)
    view.start(require=False)
    return view


def _followed_log_keys(
    description: ConsortiumDescription, view: TrustView
) -> Callable[[str], Sequence[LogVerifier] | None]:
    """origin → the log keys valid now on chain (the log's key may rotate, ``notary rotate-key``), read by
    ``view``; None until it has read it (``consortium.json``'s key then)."""
    from network.logsetup import chain_log_keys

    origin = log_origin(description)

    def follow(asked: str) -> Sequence[LogVerifier] | None:
        snapshot = view.snapshot
        if asked != origin or snapshot is None:
            return None
        keys = chain_log_keys(snapshot, description, view.head)
        return keys.valid() if keys.keys else None  # a directory without the log's key: consortium.json's

    return follow
