"""The demo's people: a compliance officer and an operator per member firm, an inspector per regulator, and
their login tokens for the explorer in ``DIR/explorer/logins/<name>@<org>.token`` (what ``consortium up`` makes
for the demo)."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from chain.ids import OrgId, Role
from network.identity import IdentityError
from network.logins import TOKEN_FILE_MODE

#: The demo's people of each member firm and of each regulator: (name, role).
DEMO_MEMBER_PEOPLE: Final = (("compliance", "compliance"), ("operator", "operator"))
DEMO_REGULATOR_PEOPLE: Final = (("inspector", "regulator"),)
#: Where the demo's login tokens go, under the consortium directory.
LOGINS_DIR: Final = Path("explorer") / "logins"
_LOGINS_DIR_MODE: Final = 0o700


def ensure_demo_people(
    root: Path, passphrase: bytes, regulator_orgs: Collection[str], member_orgs: Collection[str]
) -> list[tuple[str, str, str]]:
    """Issue the demo's people that are missing and return every one of them as ``(org, name, role)``:
    ``compliance`` (role compliance) and ``operator`` (role operator) of each of ``member_orgs``, then
    ``inspector`` (role regulator) of each of ``regulator_orgs``.

    An identity of one of those names that exists with another role (or none) raises :class:`IdentityError`:
    its tokens would be refused, so it is better said at once."""
    from network.identity import certificate_role, issue_identity, read_certificate, user_paths

    people = [(org, name, role) for org in member_orgs for name, role in DEMO_MEMBER_PEOPLE]
    people += [(org, name, role) for org in regulator_orgs for name, role in DEMO_REGULATOR_PEOPLE]
    for org, name, role in people:
        paths = user_paths(root, OrgId(org), name)
        if paths.user_dir.exists():
            held = certificate_role(read_certificate(paths.cert, f"certificate of {name}@{org}"))
            if held != role:
                raise IdentityError(
                    f"identity {name}@{org} exists with role {held or 'none'}, not {role}: the demo cannot log it in"
                    f" (remove {paths.user_dir} to have it issued again)"
                )
            continue
        org_roles = Role.REGULATOR if role == "regulator" else None  # regulator_orgs are the regulators
        issue_identity(root, OrgId(org), name, passphrase, role=role, org_roles=org_roles)
    return people


def write_demo_logins(
    root: Path, passphrase: bytes, people: Sequence[tuple[str, str, str]], hours: float = 24 * 7
) -> Path:
    """Write a fresh login token, valid for ``hours``, for each of ``people`` (``(org, name, role)``, as
    :func:`ensure_demo_people` returns them) to ``ROOT/explorer/logins/<name>@<org>.token`` (mode 0600, the
    folder 0700), replacing older ones; return the folder."""
    from network.identity import load_person_key, user_paths
    from network.logins import make_token
    from notary.durable import replace_file

    folder = Path(root) / LOGINS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, _LOGINS_DIR_MODE)
    now = datetime.now(UTC)
    for org, name, _role in people:
        paths = user_paths(root, OrgId(org), name)
        key = load_person_key(root, OrgId(org), name, passphrase)
        try:
            cert = paths.cert.read_bytes()
        except OSError as exc:
            raise IdentityError(f"cannot read {paths.cert}: {exc.strerror or exc}") from None
        token = make_token(cert, key, hours=hours, now=now)
        replace_file(folder / f"{name}@{org}.token", f"{token}\n".encode("ascii"), TOKEN_FILE_MODE)
    return folder
