"""``consortium member``: the members, their proposals and votes, and the regulator's freeze."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import click

from chain.errors import ChainError
from chain.ids import OrgId, Role
from cli._common import (
    Context,
    address_param,
    as_option,
    emit,
    fail,
    iso,
    json_option,
    name_arg,
    parse_digest,
    pass_ctx,
    refused_without_certificate,
)

if TYPE_CHECKING:
    from chain.contracts.registry import ConsortiumRegistryClient
    from chain.contracts.trust import KeyKind, KeyRecord
    from network.admission import AdmissionRequest


@click.group()
def member() -> None:
    """Members: list, join, propose (admit, remove, suspend, reinstate, threshold), approve, suspend, keys."""


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


@member.command("join")
@click.argument("org", callback=name_arg("org id"))
@click.option(
    "--name", required=True, help="Display name of the firm (the O= of its certificates, at most 64 characters)."
)
@click.option(
    "--consortium", "description_file", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consortium's public description (a copy of its consortium.json).",
)  # fmt: skip
@click.option("--roles", default="member", show_default=True, help="Comma-separated roles the firm asks for.")
@click.option("--chain-url", "join_chain_url", default=None, help="A chain node's JSON-RPC URL [default: --chain-url "
              "given to consortium, else the one in the description].")  # fmt: skip
@pass_ctx
def member_join(
    obj: Context, org: OrgId, name: str, description_file: Path, roles: str, join_chain_url: str | None
) -> None:
    """Join a running consortium from this firm's own (new, empty) --dir: create its identity and write its signed
    admission request for the members to vote on."""
    import json

    from network.admission import join, open_registry
    from network.description import ConsortiumDescription
    from network.nodeaccess import client_tls

    try:
        data = json.loads(description_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{description_file} is not a consortium description (not JSON: {exc})")
    description = ConsortiumDescription.from_json(data)
    url = join_chain_url or obj.chain_url or description.chain_url
    # a node serving members only (over https, as `consortium up` starts them) is reached trusting the member CAs of
    # the description, with no certificate: the firm has none a member trusts yet, so such a node refuses it, and the
    # request is written unchecked against the chain (the members' `member propose admit` checks it there)
    tls = None if not url.startswith("https://") else client_tls(description, None, None, obj.chain_ca, None)
    try:
        registry: ConsortiumRegistryClient | None = open_registry(description, url, str(description_file), tls)
    except ChainError as exc:
        if tls is None or not refused_without_certificate(exc):
            raise
        registry = None
    description = dataclasses.replace(description, chain_url=url, chain_kind="external")
    wanted = Role.parse([r.strip() for r in roles.split(",") if r.strip()])
    request, path = join(obj.directory, description, org, name, wanted, obj.passphrase(), registry=registry)
    click.echo(f"identity of {org} created in {obj.directory / 'orgs' / org} (keys encrypted with your passphrase)")
    click.echo(f"  account         {request.account}")
    click.echo(f"  CA fingerprint  0x{request.ca_fingerprint.hex()}")
    if request.sm2_ca_fingerprint is not None:  # signed in the request with the rest: no second channel needed
        click.echo(f"  SM2 identity CA 0x{request.sm2_ca_fingerprint.hex()} (its people's; in the request)")
    click.echo(f"admission request written to {path}, signed by Admin@{org}")
    if registry is None:
        click.echo(
            f"  not checked against the chain: {url} answers members only; `member propose admit` checks there that "
            f"{org} and its account are new"
        )
    click.echo("next:")
    click.echo(
        f"  1. send {path.name} to a member of {description.name} (it holds no secret), and give them the CA "
        "fingerprint above by another channel (a call, a letter): it shows the request is yours"
    )
    click.echo(
        f"  2. a member proposes: consortium member propose admit --request {path.name} "
        "--ca-fingerprint 0x… --as MEMBER"
    )
    click.echo(f"     the others approve: consortium member approve ID --request {path.name} --as MEMBER")
    if registry is None:  # the nodes refuse this firm's certificates until its CA is on chain: a member sends them
        click.echo(
            f"  3. once admitted, here: consortium --dir {obj.directory} member keys publish --sign-only keys.json "
            f"--as {org}"
        )
        click.echo(
            "     and a member sends keys.json through its node: consortium member keys relay keys.json --as MEMBER"
        )
    else:
        click.echo(f"  3. once admitted, here: consortium --dir {obj.directory} member keys publish --as {org}")
    if request.sm2_ca_fingerprint is not None:
        click.echo("     (it publishes your SM2 identity CA too: explorers following the chain then admit your people)")


@member.group("propose")
def member_propose() -> None:
    """Propose a governance change; it is carried out when enough voting members approve."""


def _proposed(pid: int, obj: Context) -> None:
    info = obj.consortium().registry.proposal(pid)
    state = "carried out" if info is not None and info.executed else "awaiting approvals"
    click.echo(f"proposal #{pid} created ({state}); others approve with: consortium member approve {pid} --as ORG")


@member_propose.command("admit")
@click.argument("org", required=False, callback=name_arg("org id"))
@click.option("--roles", default=None, help="Comma-separated roles, e.g. member,witness (not with --request).")
@click.option(
    "--request", "request_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="The firm's admission request (`consortium member join`): its signature and contents are checked, and "
    "exactly what it asks is proposed.",
)  # fmt: skip
@click.option(
    "--ca-fingerprint", default=None, metavar="0xHEX",
    help="The CA fingerprint the firm gave you by another channel: the request's CA must be that one.",
)  # fmt: skip
@as_option
@pass_ctx
def propose_admit(
    obj: Context,
    org: OrgId | None,
    roles: str | None,
    request_file: Path | None,
    ca_fingerprint: str | None,
    as_org: str,
) -> None:
    """Propose admitting a firm: from its admission request (--request FILE), or ORG with --roles, whose identity
    was created here with `consortium identity create ORG`."""
    if request_file is not None:
        if roles is not None:
            fail("--roles comes from the request: its roles are proposed as they are, or not at all")
        _propose_request(obj, request_file, org, ca_fingerprint, as_org)
        return
    if org is None or roles is None:
        fail("give ORG and --roles (an identity created here), or --request FILE (a firm's admission request)")
    if ca_fingerprint is not None:
        fail("--ca-fingerprint checks a request: give it with --request FILE")
    from network.identity import load_org_public

    c = obj.consortium()
    if not (obj.directory / "orgs" / org).is_dir():
        fail(
            f"no identity for {org!r} in {obj.directory / 'orgs'}: create it first with "
            f"`consortium identity create {org} --name NAME`, or propose the firm's own request with --request FILE"
        )
    public = load_org_public(obj.directory, org)
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


def _checked_request(obj: Context, request_file: Path, org: str | None, ca_fingerprint: str | None) -> AdmissionRequest:
    """The request, checked in itself, against this consortium and (``--ca-fingerprint``) the fingerprint the firm
    gave by another channel."""
    from network.admission import load_request

    request = load_request(request_file)
    if org is not None and org != request.org:
        fail(f"the request in {request_file} is {request.org!r}'s, not {org!r}'s")
    if ca_fingerprint is not None:
        expected = parse_digest(ca_fingerprint, "--ca-fingerprint")
        if expected != request.ca_fingerprint:
            fail(
                f"the request's CA fingerprint is 0x{request.ca_fingerprint.hex()}, not the 0x{expected.hex()} the "
                f"firm gave: this request is not from the CA {request.org!r} told you of"
            )
    request.check_consortium(obj.consortium().description)
    return request


def _propose_request(
    obj: Context, request_file: Path, org: str | None, ca_fingerprint: str | None, as_org: str
) -> None:
    from network.admission import check_on_chain

    request = _checked_request(obj, request_file, org, ca_fingerprint)
    c = obj.consortium()
    check_on_chain(request, c.registry)
    click.echo(f"admission request of {request.org}: signature and contents check")
    for line in request.summary():
        click.echo(f"  {line}")
    if ca_fingerprint is None:
        click.echo(
            "  (compare the CA fingerprint with the one the firm gives you by another channel, or pass it with "
            "--ca-fingerprint)"
        )
    pid = c.registry.propose_admit(
        obj.signer(as_org), request.org, request.name, request.roles, request.cert_fingerprint, [request.account]
    )
    info = c.registry.proposal(pid)
    state = "carried out" if info is not None and info.executed else "awaiting approvals"
    click.echo(f"proposal #{pid} created ({state}); others approve with:")
    click.echo(f"  consortium member approve {pid} --request {request_file.name} --as ORG")


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
@click.option(
    "--request", "request_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="An admission's request file: approve only if the proposal admits exactly what it asks.",
)  # fmt: skip
@click.option("--ca-fingerprint", default=None, metavar="0xHEX", help="With --request: the CA the firm gave you.")
@as_option
@pass_ctx
def member_approve(
    obj: Context, proposal_id: int, request_file: Path | None, ca_fingerprint: str | None, as_org: str
) -> None:
    """Approve proposal PROPOSAL_ID."""
    c = obj.consortium()
    if request_file is not None:
        request = _checked_request(obj, request_file, None, ca_fingerprint)
        proposal = c.registry.proposal(proposal_id)
        if proposal is None:
            fail(f"no proposal #{proposal_id} on chain")
        request.check_proposal(proposal)
    elif ca_fingerprint is not None:
        fail("--ca-fingerprint checks a request: give it with --request FILE")
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


# -- keys on chain (docs/trust.md) ---------------------------------------------------------------------------

KINDS = (
    "ca-cert", "revoked-serial", "account", "witness-key", "gateway-key", "log-key", "node-endpoint",
    "witness-endpoint",
)  # fmt: skip
ENDPOINT_KINDS = ("node-endpoint", "witness-endpoint")


def _endpoint(url: str, option: str) -> bytes:
    """The value of an endpoint record: ``url`` checked as a follower will read it, at most the contract's bound."""
    from chain.ids import MAX_URL, endpoint_url

    value = url.encode("utf-8")
    if endpoint_url(value) is None:
        fail(f"{option} {url!r}: expected http://HOST[:PORT][/PATH] or https://…, no spaces, at most {MAX_URL} bytes")
    return value


def _kind(name: str) -> KeyKind:
    from chain.contracts.trust import KeyKind

    return KeyKind[name.upper().replace("-", "_")]


def _summary(record: KeyRecord) -> str:
    """A record's value in one short phrase: a CA's subject, a serial in hex, an account, a key's first bytes."""
    from chain.contracts.trust import KeyKind

    value = record.value
    if record.kind is KeyKind.CA_CERT:
        from cryptography import x509

        try:
            return x509.load_der_x509_certificate(value).subject.rfc4514_string()
        except ValueError:
            return f"unparsable certificate, {len(value)} bytes"
    if record.kind is KeyKind.REVOKED_SERIAL:
        return f"serial 0x{value.hex()}"
    if record.kind is KeyKind.ACCOUNT:
        from eth_utils.address import to_checksum_address

        return to_checksum_address(value)
    if record.kind in (KeyKind.NODE_ENDPOINT, KeyKind.WITNESS_ENDPOINT):
        return value.decode("utf-8", "replace")
    return value.hex()[:16] + "…"


@member.group("keys")
def member_keys() -> None:
    """Members' keys on chain: list; publish, add, retire, revoke your own; a regulator's compromise."""


@member_keys.command("list")
@click.argument("org", required=False, callback=name_arg("org id"))
@json_option
@pass_ctx
def keys_list(obj: Context, org: str | None, as_json: bool) -> None:
    """List the key records of ORG (default: every member's), with their validity in blocks."""
    trust = obj.consortium().trust
    records = [r for o in ([org] if org else trust.orgs()) for r in trust.records(o)]
    emit(
        as_json,
        records,
        lambda: (
            [
                f"{r.org:<18} #{r.index:<3} {r.kind.label:<15} {r.state.name.lower():<11} "
                f"blocks {r.valid_from}-{'' if r.valid_until is None else r.valid_until - 1:<8} {_summary(r)}"
                for r in records
            ]
            or ["no key records"]
        ),
    )


@member_keys.command("ca-bundle")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the bundle to FILE (atomically) instead of printing it.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="With --out: keep running, reading the chain every --interval seconds, and write FILE again whenever the "
    "member CAs valid on chain change (a firm admitted, a CA rotated or retired, a member removed), until stopped "
    "(SIGTERM, Ctrl-C).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="With --follow: seconds between two reads of the chain.",
)
@pass_ctx
def keys_ca_bundle(obj: Context, out: Path | None, follow: bool, interval: float) -> None:
    """The CA certificates of the members valid on chain now, as a PEM bundle: what a caller that takes a bundle
    file (curl --cacert, a firm's own code) trusts a gateway's server certificate with, a firm admitted after init
    included, whose CA is in no consortium.json. A removed member's and a retired CA are left out (and a record
    OpenSSL cannot load as a certificate). With --follow the file is kept so while the command runs."""
    from network.trust import chain_ca_bundle, follow_ca_bundle, has_directory

    if follow and out is None:
        raise click.UsageError("--follow keeps a file: give it with --out")
    c = obj.consortium()
    if not has_directory(c.description):
        fail("consortium.json names no TrustDirectory: the member CAs are those of consortium.json (ca-bundle.pem)")
    from chain.trustview import TrustView

    view = TrustView(c.backend, c.trust.address)
    if follow:
        assert out is not None
        import contextlib
        import signal
        import threading

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the file keeps the last bundle written
            follow_ca_bundle(view, out, stop, interval, click.echo)
        return
    view.refresh()
    bundle, count = chain_ca_bundle(view)
    if out is None:
        click.echo(bundle, nl=False)
        return
    from notary.durable import replace_file

    replace_file(out, bundle.encode("ascii"), 0o644)
    click.echo(f"{count} member CA certificate(s) valid on chain at block {view.head} written to {out}")


@member_keys.command("publish")
@click.option(
    "--witness-url",
    default=None,
    metavar="URL",
    help="Where the org's witness is served (its `witness serve` address as the notary reaches it): published as "
    "its witness endpoint, so the notary asks it with no restart. An org with the witness role only.",
)
@click.option(
    "--sign-only",
    "sign_only",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Read no chain: sign the publication's transactions with the org's account and write them to FILE, for a "
    "member to send (`member keys relay FILE`): a firm just admitted to a consortium whose nodes serve members only, "
    "which refuse its certificates until its CA is on chain. The keys are those its admission request asked roles "
    "for.",
)
@click.option(
    "--nonce",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="With --sign-only: the account's next nonce (0 for an account that never sent a transaction).",
)
@as_option
@pass_ctx
def keys_publish(obj: Context, witness_url: str | None, sign_only: Path | None, nonce: int, as_org: OrgId) -> None:
    """Put the keys of the org's identity in DIR/orgs (CA certificate, account, gateway key; witness and log keys
    by its roles on chain; in an sm consortium its SM2 identity CA, as a second ca-cert) in the directory, each that
    is not there yet, and with --witness-url its witness's endpoint: a member's first step once admitted."""
    from chain.contracts.trust import KeyKind
    from chain.ids import Role
    from network.identity import load_org_public
    from network.trust import member_keys

    endpoint = None if witness_url is None else _endpoint(witness_url, "--witness-url")
    if sign_only is not None:
        _sign_publication(obj, as_org, endpoint, sign_only, nonce)
        return
    if nonce:
        fail("--nonce goes with --sign-only")
    c = obj.consortium()
    info = c.registry.member(as_org)
    if info is None:
        fail(f"{as_org!r} is not a member on chain: it publishes its keys once admitted")
    if endpoint is not None and Role.WITNESS not in info.roles:
        fail(f"{as_org} does not hold the witness role on chain: it has no witness endpoint to publish")
    trust, signer = c.trust, obj.signer(as_org)
    added = 0
    for kind, value in member_keys(load_org_public(obj.directory, as_org), info.roles, endpoint):
        if trust.find(as_org, kind, value) is None:
            index = trust.add_key(signer, kind, value)
            click.echo(f"added #{index} {kind.label}")
            added += 1
    click.echo(f"{added} key(s) published for {as_org}" if added else f"every key of {as_org} is already on chain")
    if Role.WITNESS in info.roles:
        head = int(c.backend.web3.eth.block_number)
        urls = [r for r in trust.records(as_org) if r.kind is KeyKind.WITNESS_ENDPOINT and r.valid_at(head + 1)]
        if endpoint is not None and len(urls) > 1:
            others = ", ".join(f"#{r.index} {_summary(r)}" for r in urls if r.value != endpoint)
            click.echo(f"the notary asks the witness at the endpoint added last; retire the others ({others}) with "
                       f"`member keys retire INDEX --as {as_org}` once they no longer answer")  # fmt: skip
        elif not urls:
            click.echo(f"no witness endpoint of {as_org} on chain: a notary asks its witness only once one is "
                       "(--witness-url URL) or it is given `--witness ORG=URL`")  # fmt: skip


def _sign_publication(obj: Context, org: OrgId, endpoint: bytes | None, path: Path, nonce: int) -> None:
    from network.admission import joined_roles
    from network.description import load_description
    from network.keyrelay import KeyRelayError, sign_publication, write_publication

    roles = joined_roles(obj.directory, org)
    if roles is None:
        fail(f"{obj.directory} holds no admission request of {org}: --sign-only is for a firm that joined from it")
    if endpoint is not None and Role.WITNESS not in roles:
        fail(f"{org} asked for no witness role: it has no witness endpoint to publish")
    if path.exists():
        fail(f"{path} exists: give a new file")
    try:
        publication = sign_publication(
            obj.directory, load_description(obj.directory), org, roles, obj.passphrase(), endpoint=endpoint, nonce=nonce
        )
    except KeyRelayError as exc:
        fail(str(exc))
    write_publication(path, publication)
    kinds = ", ".join(k.kind.label for k in publication.keys)
    click.echo(f"signed {len(publication.keys)} key(s) of {org} ({kinds}), nonces {nonce} to "
               f"{nonce + len(publication.keys) - 1}, in {path}")  # fmt: skip
    click.echo(f"a member sends them through its node: consortium member keys relay {path.name} --as MEMBER; "
               "then this directory's commands reach the nodes with its own certificates")  # fmt: skip


@member_keys.command("relay")
@click.argument("publication_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--as",
    "as_org",
    required=True,
    callback=name_arg("org id"),
    help="The member that sends them (its admin identity is shown to a node serving members only); it signs nothing.",
)
@pass_ctx
def keys_relay(obj: Context, publication_file: Path, as_org: OrgId) -> None:
    """Send a newly admitted firm's key publication (`member keys publish --sign-only`) through this consortium's
    node, after checking it: this chain and TrustDirectory, add_key calls only, each signed by the account that
    is the firm's on chain, the firm an active member. The transactions are the firm's, unchanged."""
    from network.keyrelay import KeyRelayError, read_publication, relay

    try:
        publication = read_publication(publication_file)
        relayed = relay(publication, obj.consortium())
    except KeyRelayError as exc:
        fail(str(exc))
    for key in relayed:
        click.echo(f"added #{key.index} {key.kind.label}")
    click.echo(f"{len(relayed)} key(s) of {publication.org} sent, signed by {publication.account}")


@member_keys.command("add")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--hex", "hex_value", help="The value as hex (a raw public key, an account).")
@click.option(
    "--file", "value_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PEM or DER certificate (ca-cert), or the value's raw bytes.",
)  # fmt: skip
@click.option("--url", default=None,
              help="The value of a node-endpoint (the node's peer URL, https://host:port, as other nodes reach it) "
              "or of a witness-endpoint (http:// or https://).")  # fmt: skip
@click.option("--from-block", type=click.IntRange(0), default=None, help="Valid from this block (default: now).")
@as_option
@pass_ctx
def keys_add(
    obj: Context,
    kind: str,
    hex_value: str | None,
    value_file: Path | None,
    url: str | None,
    from_block: int | None,
    as_org: str,
) -> None:
    """Add a key of your own org, valid from now or from a later block (an overlap for a rotation); an endpoint
    (node-endpoint, witness-endpoint) by its --url. A node endpoint (`node-endpoint --url https://host:port`) makes
    every running node of the consortium link to your node and admit its certificate (docs/trust.md)."""
    if sum(v is not None for v in (hex_value, value_file, url)) != 1:
        fail("give the value with exactly one of --hex, --file or --url")
    if kind in ENDPOINT_KINDS:
        if url is None:
            fail(f"give a {kind} with --url URL")
        value = _endpoint(str(url), "--url")
        if kind == "node-endpoint":
            from urllib.parse import urlsplit

            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname or parts.port is None or parts.path not in ("", "/"):
                fail(
                    f"--url {url!r}: give the node's peer URL as https://host:port (its peer server speaks mutual TLS)"
                )
            value = url.rstrip("/").encode()
    elif url is not None:
        fail(f"--url is the value of a node-endpoint or a witness-endpoint; give a {kind} with --hex or --file")
    elif value_file is not None:
        value = value_file.read_bytes()
        if value.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization

            value = x509.load_pem_x509_certificate(value).public_bytes(serialization.Encoding.DER)
    else:
        try:
            value = bytes.fromhex(str(hex_value).removeprefix("0x"))
        except ValueError:
            fail(f"--hex {hex_value!r} is not hex")
    c = obj.consortium()
    index = c.trust.add_key(obj.signer(as_org), _kind(kind), value, from_block)
    click.echo(f"added #{index} {kind} of {as_org}")


@member_keys.command("retire")
@click.argument("index", type=click.IntRange(0))
@click.option("--at-block", type=click.IntRange(0), default=None, help="Valid until this block (default: now).")
@as_option
@pass_ctx
def keys_retire(obj: Context, index: int, at_block: int | None, as_org: str) -> None:
    """Retire key INDEX of your own org, now or at a later block."""
    c = obj.consortium()
    c.trust.retire_key(obj.signer(as_org), index, at_block)
    record = c.trust.record(as_org, index)
    until = "?" if record is None or record.valid_until is None else record.valid_until
    click.echo(f"retired #{index} of {as_org}: valid until block {until}")


@member_keys.command("revoke")
@click.argument("serial", required=False)
@click.option(
    "--cert", "cert_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="The certificate to revoke (PEM), instead of SERIAL: it must be one your org's CA issued.",
)  # fmt: skip
@as_option
@pass_ctx
def keys_revoke(obj: Context, serial: str | None, cert_file: Path | None, as_org: OrgId) -> None:
    """Revoke the certificate SERIAL (hex with 0x, or decimal), or the one of --cert, of your own org's CA, from this
    block on."""
    if (serial is None) == (cert_file is None):
        fail("give the certificate's SERIAL or --cert FILE, one of them")
    if cert_file is not None:
        number = _serial_of_own(obj, cert_file, as_org)
    else:
        try:
            number = int(str(serial), 16) if str(serial).lower().startswith("0x") else int(str(serial))
        except ValueError:
            fail(f"{serial!r} is not a serial number (0x-hex or decimal)")
    c = obj.consortium()
    index = c.trust.revoke_serial(obj.signer(as_org), number)
    click.echo(f"revoked serial {number:#x} of {as_org} (record #{index})")


def _serial_of_own(obj: Context, cert_file: Path, org: OrgId) -> int:
    """The serial of a certificate that ``org``'s CA (in DIR/orgs) issued; any other is refused."""
    from cryptography.exceptions import InvalidSignature

    from network.identity import OrgPaths, read_certificate, read_leaf_certificate

    cert = read_leaf_certificate(cert_file)  # a TLS certificate is followed by a CA rotation's cross certificates
    paths = OrgPaths.of(obj.directory, org)
    cas = [read_certificate(paths.ca_cert, f"CA certificate of {org}")]
    if paths.ca_previous.is_file():  # the CA before a rotation (`identity rotate-ca`): what it issued is the org's too
        cas.append(read_certificate(paths.ca_previous, f"CA certificate of {org} before its rotation"))
    for ca in cas:
        try:
            if cert.issuer != ca.subject:
                raise InvalidSignature
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return int(cert.serial_number)
    fail(f"{cert_file} ({cert.subject.rfc4514_string()}) was not issued by the CA of {org}: a firm revokes its own")


@member_keys.command("compromise")
@click.argument("org", callback=name_arg("org id"))
@click.argument("index", type=click.IntRange(0))
@click.option("--as-of-block", type=click.IntRange(0), required=True, help="Not valid from this block on.")
@click.option(
    "--replacement",
    default=None,
    metavar="ADDRESS",
    help="For an account record: the account ORG handed over to replace it (identity rotate-account --stage), made "
    "ORG's in the same block the leaked one stops being; required when the leaked account is ORG's only one.",
)
@as_option
@pass_ctx
def keys_compromise(obj: Context, org: str, index: int, as_of_block: int, replacement: str | None, as_org: str) -> None:
    """Declare key INDEX of ORG compromised as of a block, earlier ones included: a regulator's power. For an
    account record whose account is still ORG's in the registry, the account is also revoked there
    (ConsortiumRegistry.revoke_account): from that block its transactions are refused, by the nodes and the
    contracts alike, and --replacement, if given, is ORG's account instead."""
    from chain.contracts.trust import KeyKind

    c = obj.consortium()
    records = c.trust.records(org)
    record = records[index] if index < len(records) else None
    account = None
    if record is not None and record.kind is KeyKind.ACCOUNT:
        address = "0x" + record.value.hex()
        if c.registry.org_of(address) == org:
            account = address
    if replacement is not None:
        if record is None or record.kind is not KeyKind.ACCOUNT:
            raise click.UsageError("--replacement is for an account record")
        address_param(replacement, "--replacement")
        holder = c.registry.org_of(replacement)
        if holder is not None:
            fail(f"the replacement {replacement} is already {holder}'s account: nothing declared")
    if account is not None and replacement is None:
        member = c.registry.member(org)
        if member is not None and len(member.accounts) < 2:
            fail(
                f"{account} is {org}'s only account: give --replacement ADDRESS (an account {org} staged for it: "
                f"identity rotate-account --stage), or suspend {org}; nothing declared"
            )
    signer = obj.signer(as_org)
    c.trust.declare_compromised(signer, org, index, as_of_block)
    click.echo(f"declared #{index} of {org} compromised as of block {as_of_block}")
    if account is not None:
        receipt = c.registry.revoke_account(signer, account, replacement)
        then = f"; {replacement} is {org}'s instead" if replacement is not None else ""
        click.echo(f"account {account} revoked in the registry from block {receipt['blockNumber']}{then}")
