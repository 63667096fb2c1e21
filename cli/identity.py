"""``consortium identity``: a member's X.509 identities: create an org's CA, issue and revoke certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from chain.errors import MalformedError
from chain.ids import OrgId
from cli._common import Context, as_option, emit, fail, json_option, name_arg, overlap_options, pass_ctx


@click.group()
def identity() -> None:
    """Identities: a firm's CA and keys, and the certificates its CA issues and revokes."""


@identity.command("create")
@click.argument("org", callback=name_arg("org id"))
@click.option("--name", required=True, help="Display name of the firm.")
@click.option(
    "--crypto",
    type=click.Choice(["intl", "sm"]),
    default=None,
    help="Suite of the witness, gateway and log keys: the consortium's, in DIR/consortium.json [default: that one, "
    "or intl where there is none].",
)
@pass_ctx
def identity_create(obj: Context, org: OrgId, name: str, crypto: str | None) -> None:
    """Create the CA, certificate and keys of ORG in DIR/orgs/ORG."""
    from network.description import DEFAULT_CRYPTO, FILENAME, load_description
    from network.identity import create_org_identity

    suite = load_description(obj.directory).crypto if (obj.directory / FILENAME).is_file() else None
    if crypto is not None and suite is not None and crypto != suite:
        where = obj.directory / FILENAME
        fail(f"{where} runs the {suite!r} suite: a firm joining it needs keys of that suite, not {crypto!r}")
    crypto = crypto or suite or DEFAULT_CRYPTO
    public = create_org_identity(obj.directory, org, name, obj.passphrase(), crypto=crypto)
    click.echo(f"identity of {org} created: account {public.account}, certificate 0x{public.cert_fingerprint.hex()}")


#: What each step of ``identity rotate-account`` did, as its output says it.
_ACCOUNT_STEPS = {
    "staged": "new key staged",
    "added": "added to the member",
    "recorded": "recorded in the TrustDirectory",
    "retired": "old record retired",
    "removed": "old account removed",
    "installed": "key file replaced",
}


@identity.command("rotate-account")
@click.option(
    "--stage",
    "stage_only",
    is_flag=True,
    help="Only make and stage the new key, and print its account: the address to give a regulator revoking the "
    "current account as compromised (member keys compromise ... --replacement ADDRESS); run the command again without "
    "--stage afterwards to finish.",
)
@as_option
@json_option
@pass_ctx
def identity_rotate_account(obj: Context, stage_only: bool, as_org: OrgId, as_json: bool) -> None:
    """Rotate the account key of --as (docs/trust.md, "Rotating an account key"): a new secp256k1 key, staged as
    orgs/ORG/keys/account.next.pem; the current account adds the new one to the member in the ConsortiumRegistry;
    the new one records itself in the TrustDirectory, retires the old account's record and removes the old account;
    then keys/account.pem and keys/account.address are replaced (atomically) and the staged file removed. Each step
    is skipped when the chain shows it done, so a run that stopped is finished by running the command again. From
    the removal's block the nodes refuse the old account's transactions.

    A validator's node seals with the new key from the block after the removal (the set names it from there), and
    the notary's anchorer sends from it once the registry lists it, both with no restart. Refuses a member that is
    not active, an account of DIR that is not the member's on chain and a wrong passphrase, sending nothing.

    A leaked account: --stage first, hand the printed address to a regulator, who declares the account's record
    compromised with it as --replacement (the registry then lists the new account instead of the leaked one, in one
    block), then run the command again to finish (record, key file)."""
    from network.accountrotation import AccountRotationError, rotate_account
    from network.trust import has_directory

    c = obj.consortium()
    try:
        r = rotate_account(
            obj.directory,
            obj.passphrase(),
            c.registry,
            c.trust if has_directory(c.description) else None,
            as_org,
            stage_only=stage_only,
        )
    except AccountRotationError as exc:
        fail(str(exc))
    if stage_only:
        staged = "staged now" if r.done else "staged by an earlier run"
        emit(
            as_json,
            r.to_json(),
            lambda: [
                f"new account of {r.org}: {r.new} ({staged}; the current one is {r.old})",
                "  hand it to a regulator revoking the current account: member keys compromise "
                f"{r.org} INDEX --as-of-block N --replacement {r.new} --as REGULATOR",
                "  or run this command again without --stage to rotate now",
            ],
        )
        return
    emit(
        as_json,
        r.to_json(),
        lambda: [
            f"account of {r.org}: {r.old} -> {r.new}",
            *(f"  done    {_ACCOUNT_STEPS[s]}" for s in r.done),
            *(f"  found   {_ACCOUNT_STEPS[s]} (by an earlier run)" for s in r.found),
        ],
    )


@identity.command("sm2-ca")
@click.option("--org", required=True, callback=name_arg("org id"), help="Member that gets an SM2 identity CA.")
@pass_ctx
def identity_sm2_ca(obj: Context, org: OrgId) -> None:
    """Create the SM2 identity CA of ORG, a member of an sm consortium that has none (one created before the SM2
    identity CAs): DIR/orgs/ORG/ca/sm2-ca.pem and sm2-ca.key (encrypted with the passphrase). A founder's is then
    listed in DIR/consortium.json (sm2_ca_cert_pem, the file replaced atomically); a firm that joined from DIR puts
    it on chain with `member keys publish`, as a founder may too. From then on `user add` issues ORG's people SM2
    certificates. Refuses an intl consortium, an org that is neither a founder nor the firm that joined from DIR,
    a member that has an SM2 CA and a wrong passphrase; a refusal writes nothing."""
    import dataclasses

    from network.admission import AdmissionError, joined_sm2_ca
    from network.description import FILENAME, load_description
    from network.errors import NetworkError
    from network.identity import OrgPaths, create_sm2_ca

    try:
        description = load_description(obj.directory)
        joined, requested = joined_sm2_ca(obj.directory, org)
    except (MalformedError, AdmissionError) as exc:
        fail(str(exc))
    if description.crypto != "sm":
        fail(f"{obj.directory / FILENAME} runs the {description.crypto!r} suite: only a member of an 'sm' consortium "
             "has an SM2 identity CA")  # fmt: skip
    founder = next((m for m in description.members if m.org == org), None)
    if founder is None and not joined:
        known = ", ".join(m.org for m in description.members)
        fail(f"no member {org!r} in {FILENAME} (members: {known}), and {obj.directory} holds no admission request of "
             f"{org!r} (`consortium member join`)")  # fmt: skip
    listed = founder.identity.sm2_ca_cert_pem if founder is not None else requested
    if listed is not None:
        where = FILENAME if founder is not None else "its admission request"
        fail(f"{org} already has an SM2 identity CA: {where} lists one; nothing was changed")
    _require_org(obj, org)
    paths = OrgPaths.of(obj.directory, org)
    if paths.sm2_ca_cert.exists() or paths.sm2_ca_key.exists():
        fail(f"{org} already has an SM2 identity CA ({paths.sm2_ca_cert}); nothing was changed")
    try:
        pem = create_sm2_ca(obj.directory, org, obj.passphrase())
    except NetworkError as exc:  # a wrong passphrase, files that appeared meanwhile: nothing was written
        fail(str(exc))
    if founder is not None:
        identity = dataclasses.replace(founder.identity, sm2_ca_cert_pem=pem)
        members = tuple(dataclasses.replace(m, identity=identity) if m.org == org else m for m in description.members)
        try:
            dataclasses.replace(description, members=members).write(obj.directory)
        except BaseException:
            paths.sm2_ca_cert.unlink(missing_ok=True)
            paths.sm2_ca_key.unlink(missing_ok=True)
            raise
    click.echo(f"SM2 identity CA of {org} created: {paths.sm2_ca_cert}")
    if founder is not None:
        click.echo(f"  listed in {obj.directory / FILENAME}: give the other members and the explorer this file")
    click.echo(
        f"  on chain, for every member's explorer: consortium --dir {obj.directory} member keys publish --as {org}"
    )


def _user_name_arg(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from network.identity import check_user_name

    try:
        return check_user_name(value)
    except MalformedError as exc:
        raise click.BadParameter(str(exc)) from None


def _require_org(obj: Context, org: OrgId) -> None:
    """Fail (one line, exit 1) unless DIR/orgs/ORG holds an identity: before asking for the passphrase."""
    from network.identity import OrgPaths

    paths = OrgPaths.of(obj.directory, org)
    if not paths.ca_cert.is_file():
        fail(f"no identity for org {org!r} in {paths.org_dir.parent}: create it with `consortium identity create`")


@identity.command("issue")
@click.option("--org", required=True, callback=name_arg("org id"), help="Org whose CA issues the certificate.")
@click.option(
    "--name", required=True, callback=_user_name_arg, help="Name of the identity: the certificate is NAME@ORG."
)
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True, help="Validity in days.")
@click.option(
    "--sm2",
    is_flag=True,
    help="Also issue an SM2 certificate (SM2-with-SM3) with ORG's SM2 identity CA, for a TLCP terminator in front "
    "of a gateway (an 'sm' consortium only); for an existing identity, only that.",
)
@pass_ctx
def identity_issue(obj: Context, org: OrgId, name: str, days: int, sm2: bool) -> None:
    """Issue an identity certificate NAME@ORG with the CA of ORG, for calling gateways over mutual TLS.

    Writes DIR/orgs/ORG/users/NAME@ORG/msp/: signcerts/cert.pem, keystore/key.pem (encrypted with the
    passphrase) and cacerts/ca-cert.pem. Refuses to overwrite an existing identity. With --sm2 (an 'sm'
    consortium) also signcerts/sm2-cert.pem, keystore/sm2-key.pem (SM2, encrypted with PBKDF2-HMAC-SM3 and SM4)
    and cacerts/sm2-ca.pem, issued by ORG's SM2 identity CA: what a caller presents to a TLCP terminator (docs/
    national-suite.md); an existing identity without an SM2 certificate gets only those."""
    from network.identity import issue_identity, read_certificate, user_paths

    _require_org(obj, org)
    paths = user_paths(obj.directory, org, name)
    if sm2:
        _require_sm2(obj, org)
        if paths.cert.is_file():  # an identity already: its SM2 certificate beside it
            _issue_sm2(obj, org, name, days)
            return
    issue_identity(obj.directory, org, name, obj.passphrase(), days=days)
    paths = user_paths(obj.directory, org, name)
    cert = read_certificate(paths.cert, "new certificate")
    until = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"issued {name}@{org}: serial {cert.serial_number:#x}, valid until {until}")
    click.echo(f"  certificate  {paths.cert}")
    click.echo(f"  key          {paths.key}")
    click.echo(f"  CA           {paths.ca_cert}")
    if sm2:
        _issue_sm2(obj, org, name, days)


def _require_sm2(obj: Context, org: OrgId) -> None:
    """Fail (one line, exit 1) unless DIR/consortium.json runs the 'sm' suite and lists ORG's SM2 identity CA as the
    one in DIR/orgs/ORG/ca/sm2-ca.pem: before anything is written or the passphrase asked for."""
    from network.description import FILENAME, load_description
    from network.identity import OrgPaths

    if not (obj.directory / FILENAME).is_file():
        fail(f"no {FILENAME} in {obj.directory}: an SM2 certificate is for a member of an 'sm' consortium")
    try:
        description = load_description(obj.directory)
    except MalformedError as exc:
        fail(str(exc))
    if description.crypto != "sm":
        fail(f"{FILENAME} runs the {description.crypto!r} suite: SM2 certificates are for an 'sm' consortium, whose "
             "gateways take them from a TLCP terminator")  # fmt: skip
    member = next((m for m in description.members if m.org == org), None)
    listed = None if member is None else member.identity.sm2_ca_cert_pem
    if listed is None:
        fail(f"{FILENAME} lists no SM2 identity CA for {org!r} (sm2_ca_cert_pem): no gateway would trust an SM2 "
             "certificate of it")  # fmt: skip
    from network.errors import NetworkError
    from network.identity import is_own_sm2_ca

    path = OrgPaths.of(obj.directory, org).sm2_ca_cert
    try:  # the listed one, or one rotated from it (`identity rotate-ca --sm2`), which the chain's records trust
        same = path.is_file() and is_own_sm2_ca(obj.directory, org, listed)
    except (NetworkError, ValueError) as exc:  # the suite's errors are ValueErrors
        fail(f"{path}: {exc}")
    if not same:
        fail(f"{path} is not the SM2 identity CA {FILENAME} lists for {org}, nor rotated from it: no gateway would "
             "trust what it issues")  # fmt: skip


def _issue_sm2(obj: Context, org: OrgId, name: str, days: int) -> None:
    """Issue NAME@ORG's SM2 certificate beside its P-256 one and say where it went."""
    from network.sm2callers import issue_sm2_identity
    from suite.x509 import Certificate

    paths = issue_sm2_identity(obj.directory, org, name, obj.passphrase(), days=days)
    cert = Certificate.from_pem(paths.cert.read_bytes())
    until = cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    click.echo(f"issued {name}@{org} (SM2): serial {cert.serial:#x}, valid until {until}")
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
def identity_revoke(obj: Context, org: OrgId, cert_file: Path) -> None:
    """Revoke a certificate issued by the CA of ORG: add its serial to ORG's CRL (DIR/orgs/ORG/msp/crls/crl.pem;
    an SM2 certificate's, a person's or a caller's of `identity issue --sm2`, to the SM2 identity CA's,
    DIR/orgs/ORG/ca/sm2-crl.pem).

    Gateways refuse the certificate within a second. Revoking a certificate twice changes nothing."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from network.identity import load_crl, load_sm2_crl, read_leaf_certificate, revoke_identity, sm2_certificate

    cert = read_leaf_certificate(cert_file)  # a TLS certificate of a rotated CA is followed by cross certificates
    _require_org(obj, org)
    serial, subject = cert.serial_number, cert.subject.rfc4514_string()
    pem = cert.public_bytes(Encoding.PEM)
    if sm2_certificate(pem) is not None:  # an SM2 person of an sm member: the SM2 identity CA's CRL
        sm2_before = load_sm2_crl(obj.directory, org)
        earlier = None if sm2_before is None else sm2_before.revoked.get(serial)
    else:
        before = load_crl(obj.directory, org)
        entry = None if before is None else before.get_revoked_certificate_by_serial_number(serial)
        earlier = None if entry is None else entry.revocation_date_utc
    crl = revoke_identity(obj.directory, org, pem, obj.passphrase())
    if earlier is not None:
        when = earlier.strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"serial {serial:#x} ({subject}) was already revoked at {when}; {crl} unchanged")
    else:
        click.echo(f"revoked serial {serial:#x} ({subject}) in {crl}")


@identity.command("server-cert")
@click.option("--org", required=True, callback=name_arg("org id"), help="Member whose CA issues the certificate.")
@click.option(
    "--service",
    default="notary",
    show_default=True,
    help="The member's HTTP service the certificate is for: notary, gateway, explorer, or another name "
    "(lower-case letters, digits, '-'). Written to DIR/orgs/ORG/SERVICE/tls/.",
)
@click.option(
    "--san",
    "sans",
    multiple=True,
    metavar="HOST|IP",
    help="A host name or IP address the service is reached at (repeatable) [default: localhost and 127.0.0.1].",
)
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True, help="Validity in days.")
@pass_ctx
def identity_server_cert(obj: Context, org: OrgId, service: str, sans: tuple[str, ...], days: int) -> None:
    """Issue the TLS server certificate of ORG's SERVICE with the CA of ORG (CN=SERVICE.ORG, serverAuth).

    The CA must be the one DIR/consortium.json lists for ORG, or one rotated from it (`identity rotate-ca`, whose
    cross certificates are written after the certificate), so that every member's client trusts the certificate.
    Writes cert.pem and key.pem (encrypted with the passphrase, mode 0600), each replaced atomically, to
    DIR/orgs/ORG/SERVICE/tls/; re-issuing replaces them. Bad input writes nothing."""
    import ipaddress

    from network.identity import issue_service_certificate, read_leaf_certificate

    hosts: list[str] = []
    ips: list[str] = []
    for san in sans or ("localhost", "127.0.0.1"):
        try:
            ips.append(str(ipaddress.ip_address(san)))
        except ValueError:
            hosts.append(san)
    _require_org(obj, org)
    _require_listed_ca(obj, org)
    try:
        cert_path, key_path = issue_service_certificate(
            obj.directory, org, service, obj.passphrase(), hostnames=hosts, ips=ips, days=days
        )
    except MalformedError as exc:
        fail(str(exc))
    cert = read_leaf_certificate(cert_path, "new certificate")  # followed by a rotation's cross certificates
    until = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    click.echo(
        f"issued {service}.{org}: serial {cert.serial_number:#x}, valid until {until}, for {', '.join(hosts + ips)}"
    )
    click.echo(f"  certificate  {cert_path}")
    click.echo(f"  key          {key_path}")


def _require_listed_ca(obj: Context, org: OrgId) -> None:
    """Fail unless the CA in DIR/orgs/ORG is the one ORG was admitted with, or linked to it by the cross
    certificates of a rotation: a founder's as DIR/consortium.json lists it, or, for the firm that joined from DIR
    (`member join`, whose consortium.json lists the founders only), the one in its admission request (a directory
    without consortium.json yet, being set up, is taken as it is)."""
    from cryptography import x509

    from network.admission import FILENAME as REQUEST
    from network.admission import AdmissionError, joined_ca
    from network.description import FILENAME, load_description
    from network.identity import OrgPaths, read_certificate

    if not (obj.directory / FILENAME).is_file():
        return
    try:
        description = load_description(obj.directory)
        founder = next((m for m in description.members if m.org == org), None)
        listed = founder.identity.ca_cert_pem if founder else joined_ca(obj.directory, org)
        source = FILENAME if founder else REQUEST
    except (MalformedError, AdmissionError) as exc:
        fail(str(exc))
    if listed is None:
        known = ", ".join(m.org for m in description.members)
        fail(f"no member {org!r} in {FILENAME} (members: {known}), and {obj.directory} holds no admission request of "
             f"{org!r} (`consortium member join`)")  # fmt: skip
    from network.carotation import links_to, read_cross_chain

    paths = OrgPaths.of(obj.directory, org)
    anchor = x509.load_pem_x509_certificate(listed.encode("ascii"))
    # a CA rotated since (`identity rotate-ca`) is linked to the listed one by its cross certificates
    if not links_to(read_certificate(paths.ca_cert, "CA certificate"), read_cross_chain(paths.ca_cross), anchor):
        fail(f"{paths.ca_cert} is not the CA {source} lists for {org}, nor linked to it by the cross certificates of "
             f"a rotation ({paths.ca_cross.name}): no member would trust what it issues")  # fmt: skip


@identity.command("rotate-ca")
@overlap_options("A CA staged by an earlier run and on chain is installed instead, once it is valid.")
@click.option(
    "--sm2",
    is_flag=True,
    help="Rotate the SM2 identity CA of --as instead (an 'sm' consortium's; see docs/national-suite.md).",
)
@as_option
@json_option
@pass_ctx
def identity_rotate_ca(
    obj: Context, from_block: int | None, overlap_blocks: int, sm2: bool, as_org: OrgId, as_json: bool
) -> None:
    """Rotate the CA of --as (docs/trust.md, "Rotating a CA"): a new CA key and certificate, published on chain as a
    CA certificate of --as valid from --from-block, the current CA retired --overlap-blocks later; once the new CA is
    valid, the org's certificates its CA issued (its people's in users/, its services' in SERVICE/tls/, the admin's)
    are issued again by the new CA with the same keys, each file replaced atomically, and the org's CRL signed
    again. With a later --from-block the new CA is staged in orgs/ORG/ca/ and published; run the command again
    from that block (before the old CA retires) to re-issue the certificates. Gateways, the explorer, the notary and
    nodes admit the certificates of both CAs during the overlap and of the new one only after it, with no restart.

    With --sm2, the SM2 identity CA of --as (an 'sm' consortium's) the same way: its SM2 people's and SM2 callers'
    certificates issued again, its SM2 CRL signed again; a founder's SM2 CA that consortium.json lists and the chain
    does not hold yet is recorded first, then retired. Refuses an 'intl' consortium, an org that is neither a founder
    nor the firm that joined from DIR, one without an SM2 CA, a rotation staged already and a wrong passphrase,
    writing nothing."""
    from network.carotation import CaRotationError, rotate_ca
    from network.identity import IdentityError
    from network.trust import has_directory

    if sm2:  # what needs neither the chain nor the passphrase, refused first
        from network.description import load_description
        from network.sm2rotation import check_sm2_rotation

        try:
            check_sm2_rotation(obj.directory, load_description(obj.directory), as_org)
        except (CaRotationError, MalformedError) as exc:
            fail(str(exc))
    c = obj.consortium()
    if not has_directory(c.description):
        fail("consortium.json names no TrustDirectory: the member CAs are not on chain to rotate")
    try:
        if sm2:
            from network.sm2rotation import rotate_sm2_ca

            r = rotate_sm2_ca(
                obj.directory, obj.passphrase(), c.description, c.trust, c.registry, obj.signer(as_org), as_org,
                from_block=from_block, overlap_blocks=overlap_blocks,
            )  # fmt: skip
        else:
            r = rotate_ca(
                obj.directory,
                obj.passphrase(),
                c.trust,
                c.registry,
                obj.signer(as_org),
                as_org,
                from_block=from_block,
                overlap_blocks=overlap_blocks,
            )
    except (CaRotationError, IdentityError, MalformedError) as exc:
        fail(str(exc))
    written = [str(p.relative_to(obj.directory)) for p in r.reissued]
    what = "SM2 CA" if sm2 else "CA"
    emit(
        as_json,
        {
            "org": r.org,
            "old": {"index": r.old_index, "fingerprint": r.old_fingerprint.hex(), "valid_until": r.old_valid_until},
            "new": {"index": r.new_index, "fingerprint": r.new_fingerprint.hex(), "valid_from": r.valid_from},
            "installed": r.installed,
            "reissued": written,
        },
        lambda: [
            f"{what} #{r.new_index} of {r.org} valid from block {r.valid_from}: sha256 {r.new_fingerprint.hex()}",
            f"{what} #{r.old_index} retired at block {r.old_valid_until}: sha256 {r.old_fingerprint.hex()}",
            *(
                [f"re-issued by the new CA: {len(written)} file(s)", *(f"  {w}" for w in written)]
                if r.installed
                else [
                    f"the new {what} is staged in orgs/{r.org}/ca/: run `consortium identity rotate-ca"
                    f"{' --sm2' if sm2 else ''} --as {r.org}` again from block {r.valid_from}, before block "
                    f"{r.old_valid_until}, to re-issue the certificates"
                ]
            ),
        ],
    )
