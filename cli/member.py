"""``consortium member``: the members, their proposals and votes, and the regulator's freeze."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from chain.ids import Role
from cli._common import Context, as_option, emit, fail, iso, json_option, name_arg, pass_ctx

if TYPE_CHECKING:
    from chain.contracts.trust import KeyKind, KeyRecord


@click.group()
def member() -> None:
    """Members: list, propose (admit, remove, suspend, reinstate, threshold), approve, suspend, keys."""


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


# -- keys on chain (docs/trust.md) ---------------------------------------------------------------------------

KINDS = ("ca-cert", "revoked-serial", "account", "witness-key", "gateway-key", "log-key", "node-endpoint")


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
    if record.kind is KeyKind.NODE_ENDPOINT:
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
                f"{r.org:<18} #{r.index:<3} {r.kind.name.lower().replace('_', '-'):<15} {r.state.name.lower():<11} "
                f"blocks {r.valid_from}-{'' if r.valid_until is None else r.valid_until - 1:<8} {_summary(r)}"
                for r in records
            ]
            or ["no key records"]
        ),
    )


@member_keys.command("publish")
@as_option
@pass_ctx
def keys_publish(obj: Context, as_org: str) -> None:
    """Put the keys of the org's identity in DIR/orgs (CA certificate, account, gateway key; witness and log keys
    by its roles on chain) in the directory, each that is not there yet: a member's first step once admitted."""
    from network.identity import load_org_public
    from network.trust import founder_keys

    c = obj.consortium()
    info = c.registry.member(as_org)
    if info is None:
        fail(f"{as_org!r} is not a member on chain: it publishes its keys once admitted")
    trust, signer = c.trust, obj.signer(as_org)
    added = 0
    for kind, value in founder_keys(load_org_public(obj.directory, as_org), info.roles):  # type: ignore[arg-type]
        if trust.find(as_org, kind, value) is None:
            index = trust.add_key(signer, kind, value)
            click.echo(f"added #{index} {kind.name.lower().replace('_', '-')}")
            added += 1
    click.echo(f"{added} key(s) published for {as_org}" if added else f"every key of {as_org} is already on chain")


@member_keys.command("add")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--hex", "hex_value", help="The value as hex (a raw public key, an account).")
@click.option(
    "--file", "value_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A PEM or DER certificate (ca-cert), or the value's raw bytes.",
)  # fmt: skip
@click.option("--from-block", type=click.IntRange(0), default=None, help="Valid from this block (default: now).")
@as_option
@pass_ctx
def keys_add(
    obj: Context, kind: str, hex_value: str | None, value_file: Path | None, from_block: int | None, as_org: str
) -> None:
    """Add a key of your own org, valid from now or from a later block (an overlap for a rotation)."""
    if (hex_value is None) == (value_file is None):
        fail("give the value with exactly one of --hex or --file")
    if value_file is not None:
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
@click.argument("serial")
@as_option
@pass_ctx
def keys_revoke(obj: Context, serial: str, as_org: str) -> None:
    """Revoke the certificate SERIAL (hex with 0x, or decimal) of your own org's CA, from this block on."""
    try:
        number = int(serial, 16) if serial.lower().startswith("0x") else int(serial)
    except ValueError:
        fail(f"{serial!r} is not a serial number (0x-hex or decimal)")
    c = obj.consortium()
    index = c.trust.revoke_serial(obj.signer(as_org), number)
    click.echo(f"revoked serial {number:#x} of {as_org} (record #{index})")


@member_keys.command("compromise")
@click.argument("org", callback=name_arg("org id"))
@click.argument("index", type=click.IntRange(0))
@click.option("--as-of-block", type=click.IntRange(0), required=True, help="Not valid from this block on.")
@as_option
@pass_ctx
def keys_compromise(obj: Context, org: str, index: int, as_of_block: int, as_org: str) -> None:
    """Declare key INDEX of ORG compromised as of a block, earlier ones included: a regulator's power."""
    c = obj.consortium()
    c.trust.declare_compromised(obj.signer(as_org), org, index, as_of_block)
    click.echo(f"declared #{index} of {org} compromised as of block {as_of_block}")
