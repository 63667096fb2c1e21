"""A consortium directory without a chain: real org identities (``create_org_identity``) and a ``consortium.json``
naming them, enough for what reads only the directory: the people's login check (``network.logins``), the
notary's read access as ``consortium up`` builds it (``network.logsetup.read_access``), and a notary run with
``consortium notary serve --no-anchor``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from chain.ids import OrgId, Role
from contracts import CONTRACT_NAMES
from network.description import DEFAULT_CRYPTO, ConsortiumDescription, MemberDescription
from network.identity import (
    OrgPublic,
    create_org_identity,
    issue_identity,
    load_org_public,
    load_person_key,
    user_paths,
)
from network.logins import make_token


def write_description(
    root: Path,
    members: Mapping[str, tuple[str, Role]],
    *,
    name: str = "explorer auth test",
    crypto: str = DEFAULT_CRYPTO,
    chain_url: str = "http://127.0.0.1:9",
    witness_policy: Mapping[str, Any] | None = None,
    gateway_keys: Mapping[str, bytes] | None = None,
) -> ConsortiumDescription:
    """A ``consortium.json`` in ``root`` for orgs whose identities are in ``root/orgs`` (no chain behind it; with
    ``chain_url=""`` none named either, as a notary run with ``--no-anchor`` needs). ``gateway_keys``: an org's
    gateway public key in place of its identity's, for gateways whose keys a test made itself."""
    keys = gateway_keys or {}

    def identity(org: str) -> OrgPublic:
        public = load_org_public(root, OrgId(org))
        return public if org not in keys else dataclasses.replace(public, gateway_public_key=keys[org])

    description = ConsortiumDescription(
        name=name,
        chain_id=1,
        chain_kind="local",
        chain_url=chain_url,
        contracts={name: f"0x{i + 1:040x}" for i, name in enumerate(CONTRACT_NAMES)},
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy=dict(witness_policy or {}),
        members=tuple(
            MemberDescription(OrgId(org), org_name, roles, identity(org)) for org, (org_name, roles) in members.items()
        ),
        crypto=crypto,
    )
    description.write(root)
    return description


def member_directory(
    root: Path, members: Mapping[str, tuple[str, Role]], passphrase: bytes, now: datetime | None = None
) -> ConsortiumDescription:
    """Create each member's identity in ``root`` (its CA, gateway, witness and account keys) and the
    ``consortium.json`` naming them."""
    for org, (name, _roles) in members.items():
        create_org_identity(root, OrgId(org), name, passphrase, now=now)
    return write_description(root, members)


def person_token(root: Path, org: str, name: str, role: str, org_roles: Role, passphrase: bytes) -> str:
    """Issue the person ``name@org`` with ``role`` by the org's CA and return a login token of theirs."""
    issue_identity(root, OrgId(org), name, passphrase, role=role, org_roles=org_roles)
    key = load_person_key(root, OrgId(org), name, passphrase)
    return make_token(user_paths(root, OrgId(org), name).cert.read_bytes(), key)
