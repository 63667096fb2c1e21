"""``consortium user ...``: the people of the member firms and of the regulator, and their logins to the explorer.

A person is an identity certificate issued by the org's CA with a role in it (``title=<role>`` in the subject,
see :mod:`network.identity`), in the same folder as every identity: ``DIR/orgs/<org>/users/<name>@<org>/msp/``.
The CA vouching for the role is what lets the explorer trust it; ``regulator`` is issued only to an org that
``consortium.json`` gives the regulator role. A login token (:func:`network.logins.make_token`) is a JWT signed
with the person's key that carries the certificate; the explorer checks both (``docs/explorer.md``, "Login")::

    consortium user add DIR --org ORG --name NAME --role compliance|operator|regulator [--days N]
    consortium user token DIR --org ORG --name NAME [--hours H] [--out FILE]
    consortium user list DIR [--org ORG] [--json]

``add`` and ``token`` decrypt keys with the consortium passphrase (``$CONSORTIUM_PASSPHRASE``, or
``--passphrase-file`` given to the command or to ``consortium``). ``token`` prints the token alone on stdout,
or writes it to FILE (mode 0600, replaced atomically). A person is revoked like any identity, with
``consortium identity revoke --org ORG --cert DIR/orgs/ORG/users/NAME@ORG/msp/signcerts/cert.pem``: the explorer
refuses the person's tokens within a second, and ``list`` shows them as revoked.

Exit codes, as for the other commands: 2 for a command line that cannot work as typed (a malformed name, an
unknown role, a number out of range, an org that is neither a member in ``consortium.json`` nor the firm whose
admission request is in DIR (``consortium member join``), ``regulator`` for an org
without the regulator role), with click's usage message; 1 with one line ``error: ...`` for a refusal by the
state of DIR (the identity exists, no such person, a certificate without a role, expired or revoked, a wrong
or missing passphrase). Either way nothing is written.

For the demo, ``consortium up`` issues the demo's people and their tokens with :mod:`demo.people`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn

import click

from chain.errors import MalformedError
from chain.ids import OrgId, Role, check_name
from cli._common import command_passphrase
from network.identity import PERSON_ROLES, IdentityError
from network.logins import TOKEN_FILE_MODE

__all__ = ["user_group"]

DEFAULT_TOKEN_HOURS: Final = 8.0
MAX_TOKEN_HOURS: Final = 720.0  # 30 days: the most the explorer accepts


# ---------------------------------------------------------------------------------------------- the commands


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _org_arg(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    if value is None:
        return value
    try:
        return check_name(value, "org id")
    except MalformedError as exc:
        raise click.BadParameter(str(exc)) from None


def _name_arg(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from network.identity import check_user_name

    try:
        return check_user_name(value)
    except MalformedError as exc:
        raise click.BadParameter(str(exc)) from None


def _member_roles(directory: Path, org: str) -> Role:
    """The roles of member ``org``: in ``DIR/consortium.json``, or, in a firm's own directory made by `consortium
    member join`, those of its admission request; neither: a usage error (exit 2)."""
    from network.admission import known_roles
    from network.description import load_description

    description = load_description(directory)  # missing or invalid: MalformedError, `error: ...`, exit 1
    roles = known_roles(directory, description, org)
    if roles is not None:
        return roles
    known = ", ".join(m.org for m in description.members)
    raise click.BadParameter(f"{org!r} is not a member of the consortium (members: {known})", param_hint="'--org'")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror or exc}") from None


def _revoked_at(
    directory: Path, org: OrgId, cert: Any, crls: dict[tuple[str, bool], Any] | None = None
) -> datetime | None:
    """When the org revoked ``cert`` (a person's certificate: ECDSA P-256, or SM2 under an ``sm`` member's SM2
    identity CA, each in its CA's CRL), or None. A CRL that cannot be trusted raises: never "not revoked". ``crls``
    keeps the CRLs read, for a caller asking about many certificates."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from network.identity import load_crl, load_sm2_crl, sm2_certificate

    crls = {} if crls is None else crls
    sm2 = sm2_certificate(cert.public_bytes(Encoding.PEM)) is not None
    if (org, sm2) not in crls:
        crls[org, sm2] = load_sm2_crl(directory, org) if sm2 else load_crl(directory, org)
    if sm2:
        sm2_crl = crls[org, sm2]
        return None if sm2_crl is None else sm2_crl.revoked.get(cert.serial_number)
    crl = crls[org, sm2]
    entry = None if crl is None else crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    return None if entry is None else entry.revocation_date_utc


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


directory_argument = click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the key passphrase (else $CONSORTIUM_PASSPHRASE).",
)


@click.group("user")
def user_group() -> None:
    """People of the member firms and of the regulator: their certificates with a role, their explorer logins."""


@user_group.command("add")
@directory_argument
@click.option("--org", required=True, callback=_org_arg, help="The person's firm: its CA issues the certificate.")
@click.option("--name", required=True, callback=_name_arg, help="The person's name: the certificate is NAME@ORG.")
@click.option("--role", required=True, type=click.Choice(PERSON_ROLES), help="What the person may see and do.")
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True, help="Validity in days.")
@passphrase_option
def user_add(directory: Path, org: str, name: str, role: str, days: int, passphrase_file: Path | None) -> None:
    """Issue a person's certificate, with their role, under ORG's CA.

    The certificate NAME@ORG carries ROLE and logs in to the explorer. Writes DIR/orgs/ORG/users/NAME@ORG/msp/
    like `consortium identity issue`. The role regulator is only for an
    org with the regulator role in consortium.json. Refuses to overwrite an existing identity."""
    from network.identity import issue_identity, read_certificate, user_paths

    org_roles = _member_roles(directory, org)
    if role == "regulator" and Role.REGULATOR not in org_roles:
        held = ", ".join(n.lower() for n in org_roles.names()) or "none"
        raise click.BadParameter(
            f"'regulator' is only for a person of an org with the regulator role; {org} has roles: {held}",
            param_hint="'--role'",
        )
    passphrase = command_passphrase(passphrase_file)
    issue_identity(directory, OrgId(org), name, passphrase, days=days, role=role, org_roles=org_roles)
    paths = user_paths(directory, OrgId(org), name)
    cert = read_certificate(paths.cert, "new certificate")
    click.echo(
        f"added {name}@{org}, role {role}: serial {cert.serial_number:#x}, valid until {_iso(cert.not_valid_after_utc)}"
    )
    click.echo(f"  certificate  {paths.cert}")
    click.echo(f"  key          {paths.key}")
    click.echo(f"  log in with  consortium user token {directory} --org {org} --name {name}")


@user_group.command("token")
@directory_argument
@click.option("--org", required=True, callback=_org_arg, help="The person's firm.")
@click.option("--name", required=True, callback=_name_arg, help="The person's name (the certificate NAME@ORG).")
@click.option(
    "--hours",
    type=click.FloatRange(0.01, MAX_TOKEN_HOURS),
    default=DEFAULT_TOKEN_HOURS,
    show_default=True,
    help="How long the token is valid (at most 720: 30 days).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the token to this file (mode 0600) instead of printing it.",
)
@passphrase_option
def user_token(
    directory: Path, org: str, name: str, hours: float, out: Path | None, passphrase_file: Path | None
) -> None:
    """Print (or write) a login token for the explorer.

    The token is a JWT signed with the key of person NAME of ORG, carrying their certificate. Send it as
    `Authorization: Bearer TOKEN`, or paste it into the explorer's login page."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from network.identity import certificate_role, load_person_key, read_certificate, user_paths
    from network.logins import make_token
    from notary.durable import replace_file

    _member_roles(directory, org)
    paths = user_paths(directory, OrgId(org), name)
    if out is not None and out.is_dir():
        raise click.BadParameter(f"{out} is a directory", param_hint="'--out'")
    if not paths.cert.is_file():
        _fail(f"no person {name}@{org} in {paths.user_dir.parent}: add one with `consortium user add`")
    cert = read_certificate(paths.cert, f"certificate of {name}@{org}")
    subject = cert.subject.rfc4514_string()
    role = certificate_role(cert)
    if role is None:
        _fail(
            f"identity {name}@{org} carries no role, so it cannot log in to the explorer:"
            " add a person with `consortium user add`"
        )
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        _fail(f"the certificate of {name}@{org} expired at {_iso(cert.not_valid_after_utc)}: add the person again")
    if now < cert.not_valid_before_utc:
        _fail(f"the certificate of {name}@{org} is not valid before {_iso(cert.not_valid_before_utc)}")
    revoked_at = _revoked_at(directory, OrgId(org), cert)
    if revoked_at is not None:
        _fail(f"the certificate of {name}@{org} ({subject}) was revoked at {_iso(revoked_at)}")
    key = load_person_key(directory, OrgId(org), name, command_passphrase(passphrase_file))
    try:
        token = make_token(cert.public_bytes(Encoding.PEM), key, hours=hours, now=now)
    except ValueError as exc:
        _fail(f"cannot make a token for {name}@{org}: {exc}")
    expires = datetime.fromtimestamp(int(now.timestamp()) + round(hours * 3600), UTC)
    if expires > cert.not_valid_after_utc:
        click.echo(
            f"note: the certificate of {name}@{org} expires at {_iso(cert.not_valid_after_utc)}, before the token;"
            " the explorer refuses the token from then on",
            err=True,
        )
    if out is None:
        click.echo(token)
        return
    try:
        replace_file(out, f"{token}\n".encode("ascii"), TOKEN_FILE_MODE)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"wrote the login token of {name}@{org} (role {role}), valid until {_iso(expires)}, to {out}")


@user_group.command("list")
@directory_argument
@click.option("--org", default=None, callback=_org_arg, help="Only the people of this org.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def user_list(directory: Path, org: str | None, as_json: bool) -> None:
    """List the people of DIR: role, validity, revocation.

    People are the identities with a role, of every org in DIR/orgs or of ORG only."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from network.description import FILENAME, load_description
    from network.identity import OrgPaths, certificate_role, read_certificate
    from notary.event import caller_identity
    from notary.submit.vault import SUITE_VERSIONS

    # the caller_identity of their calls' events: the SHA-256 of the certificate, its SM3 under sm
    suite = load_description(directory).crypto if (directory / FILENAME).is_file() else "intl"
    orgs_dir = directory / "orgs"
    if org is not None:
        if not OrgPaths.of(directory, OrgId(org)).ca_cert.is_file():
            raise click.BadParameter(f"no org {org!r} in {orgs_dir}", param_hint="'--org'")
        orgs = [org]
    else:
        found = sorted(orgs_dir.iterdir()) if orgs_dir.is_dir() else []
        orgs = [d.name for d in found if not d.name.startswith(".") and (d / "ca" / "ca-cert.pem").is_file()]
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    crls: dict[tuple[str, bool], Any] = {}
    for org_id in orgs:
        paths = OrgPaths.of(directory, OrgId(org_id))
        users = sorted(paths.users_dir.iterdir()) if paths.users_dir.is_dir() else []
        for user_dir in users:
            cert_file = user_dir / "msp" / "signcerts" / "cert.pem"
            if user_dir.name.startswith(".") or not cert_file.is_file():
                continue
            cert = read_certificate(cert_file)
            try:
                role = certificate_role(cert)
            except MalformedError:
                role = None
            if role is None:
                continue  # an identity, not a person
            revoked = _revoked_at(directory, OrgId(org_id), cert, crls)
            if revoked is not None:
                state = "revoked"
            elif now > cert.not_valid_after_utc:
                state = "expired"
            elif now < cert.not_valid_before_utc:
                state = "not yet valid"
            else:
                state = "valid"
            rows.append(
                {
                    "org": org_id,
                    "name": user_dir.name.rsplit("@", 1)[0],
                    "role": role,
                    "state": state,
                    "valid_from": _iso(cert.not_valid_before_utc),
                    "valid_until": _iso(cert.not_valid_after_utc),
                    "revoked_at": None if revoked is None else _iso(revoked),
                    "serial": f"{cert.serial_number:#x}",
                    "identity": caller_identity(cert.public_bytes(Encoding.DER), SUITE_VERSIONS[suite]),
                    "certificate": str(cert_file),
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        where = f"org {org}" if org is not None else str(orgs_dir)
        click.echo(f"no people in {where}: add one with `consortium user add`")
        return
    header = ("ORG", "NAME", "ROLE", "VALID FROM", "VALID UNTIL", "STATE")
    table = [header] + [
        (
            r["org"],
            r["name"],
            r["role"],
            r["valid_from"],
            r["valid_until"],
            r["state"] + (f" {r['revoked_at']}" if r["revoked_at"] else ""),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        click.echo("  ".join([*cells, row[-1]]))
