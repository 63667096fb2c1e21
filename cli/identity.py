"""``consortium identity``: a member's X.509 identities: create an org's CA, issue and revoke certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from chain.errors import MalformedError
from chain.ids import OrgId
from cli._common import Context, fail, name_arg, pass_ctx


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
@pass_ctx
def identity_issue(obj: Context, org: OrgId, name: str, days: int) -> None:
    """Issue an identity certificate NAME@ORG with the CA of ORG, for calling gateways over mutual TLS.

    Writes DIR/orgs/ORG/users/NAME@ORG/msp/: signcerts/cert.pem, keystore/key.pem (encrypted with the
    passphrase) and cacerts/ca-cert.pem. Refuses to overwrite an existing identity."""
    from network.identity import issue_identity, read_certificate, user_paths

    _require_org(obj, org)
    issue_identity(obj.directory, org, name, obj.passphrase(), days=days)
    paths = user_paths(obj.directory, org, name)
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
def identity_revoke(obj: Context, org: OrgId, cert_file: Path) -> None:
    """Revoke a certificate issued by the CA of ORG: add its serial to ORG's CRL (DIR/orgs/ORG/msp/crls/crl.pem).

    Gateways refuse the certificate within a second. Revoking a certificate twice changes nothing."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from network.identity import load_crl, read_certificate, revoke_identity

    cert = read_certificate(cert_file)
    _require_org(obj, org)
    serial, subject = cert.serial_number, cert.subject.rfc4514_string()
    before = load_crl(obj.directory, org)
    earlier = None if before is None else before.get_revoked_certificate_by_serial_number(serial)
    pem = cert.public_bytes(Encoding.PEM)
    crl = revoke_identity(obj.directory, org, pem, obj.passphrase())
    if earlier is not None:
        when = earlier.revocation_date_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"serial {serial:#x} ({subject}) was already revoked at {when}; {crl} unchanged")
    else:
        click.echo(f"revoked serial {serial:#x} ({subject}) in {crl}")
