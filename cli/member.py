"""``consortium member``: the members, their proposals and votes, and the regulator's freeze."""

from __future__ import annotations

import click

from chain.ids import Role
from cli._common import Context, as_option, emit, fail, iso, json_option, name_arg, pass_ctx


@click.group()
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


