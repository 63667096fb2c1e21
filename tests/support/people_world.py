"""The people's login check's world, shared by the tests of ``network.logins`` under each suite
(``tests/unit/network/test_logins.py``, ``tests/unit/network/test_sm2_people.py``): a consortium directory of real org
identities and a ``consortium.json`` naming them, people issued as ``consortium user add`` does, an outside org
(umbrella) whose CA nobody listed, a settable clock, and the small builders of claims and headers both use.

Every world has, beside the people a module names: bob@acme (an identity without a role: a caller of the
gateways, not a person), rex@acme (a ``regulator`` title from a CA told acme were a regulator: the check must not
care) and zed@umbrella (a compliance officer of the outside org)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chain.ids import OrgId, Role
from network.description import DEFAULT_CRYPTO, ConsortiumDescription
from network.identity import create_org_identity, issue_identity, load_person_key, user_paths
from network.logins import AUDIENCE, REASONS, Authenticator, LoginError, make_token
from suite.x509 import Certificate
from tests.support.member_directory import write_description

#: The instant the worlds are made around (not the wall clock: every check here runs on a clock the test gives).
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1)
#: The regulator org of every world here.
REGULATORS = ("finreg",)


@dataclass
class Clock:
    """A wall clock the test sets: five minutes after :data:`NOW` unless told."""

    now: datetime = NOW + timedelta(minutes=5)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class PeopleWorld:
    """``root``: the consortium's directory; ``outside``: umbrella's; ``members``: who is a member now (a test may
    take one out and put it back)."""

    root: Path
    outside: Path
    description: ConsortiumDescription
    passphrase: bytes
    members: set[str] = field(default_factory=set)

    def cert_pem(self, org: str, name: str, root: Path | None = None) -> bytes:
        return user_paths(root or self.root, OrgId(org), name).cert.read_bytes()

    def cert(self, org: str, name: str, root: Path | None = None) -> Certificate:
        """An SM2 person's certificate, as ``suite.x509`` reads it."""
        return Certificate.from_pem(self.cert_pem(org, name, root))

    def key(self, org: str, name: str, root: Path | None = None) -> Any:
        """The person's key: ECDSA P-256, or SM2 for an SM2 certificate."""
        return load_person_key(root or self.root, OrgId(org), name, self.passphrase)

    def token(self, org: str, name: str, root: Path | None = None, **kwargs: Any) -> str:
        kwargs.setdefault("now", NOW)
        return make_token(self.cert_pem(org, name, root), self.key(org, name, root), **kwargs)

    def auth(self, clock: Callable[[], datetime] | None = None, **kwargs: Any) -> Authenticator:
        return Authenticator(
            self.root,
            regulator_orgs=REGULATORS,
            is_member=lambda org: org in self.members,
            clock=clock or Clock(),
            **kwargs,
        )


def people_world(
    factory: pytest.TempPathFactory,
    members: Mapping[str, tuple[str, Role]],
    people: Iterable[tuple[str, str, str]],
    passphrase: bytes,
    *,
    crypto: str = DEFAULT_CRYPTO,
    before_description: Callable[[Path], None] = lambda root: None,
) -> PeopleWorld:
    """The world of ``members`` (org → name, roles) with ``people`` (org, name, role) issued an hour before
    :data:`NOW`, under ``crypto``; ``before_description`` changes the directory before ``consortium.json`` is
    written (an ``sm`` member made before the SM2 identity CAs). Umbrella is made under ``crypto`` too; under
    ``sm`` it gets a ``consortium.json`` of its own (its SM2 CA is read from it)."""
    root = factory.mktemp("consortium" if crypto == DEFAULT_CRYPTO else f"{crypto}-consortium")
    outside = factory.mktemp("outside" if crypto == DEFAULT_CRYPTO else f"{crypto}-outside")
    for org, (name, _roles) in members.items():
        create_org_identity(root, OrgId(org), name, passphrase, now=CREATED, crypto=crypto)
    before_description(root)
    description = write_description(root, members, crypto=crypto)
    create_org_identity(outside, OrgId("umbrella"), "Umbrella Corp", passphrase, now=CREATED, crypto=crypto)
    if crypto != DEFAULT_CRYPTO:
        write_description(outside, {"umbrella": ("Umbrella Corp", Role.MEMBER)}, crypto=crypto)
    issued = NOW - timedelta(hours=1)
    for org, name, role in people:
        issue_identity(root, OrgId(org), name, passphrase, now=issued, role=role, org_roles=members[org][1])
    issue_identity(root, OrgId("acme"), "bob", passphrase, now=issued)  # a caller of the gateways, not a person
    # acme's CA may put anything in a certificate, told that acme were a regulator: the check must not care.
    issue_identity(root, OrgId("acme"), "rex", passphrase, now=issued, role="regulator", org_roles=Role.REGULATOR)
    issue_identity(outside, OrgId("umbrella"), "zed", passphrase, now=issued, role="compliance")
    return PeopleWorld(root, outside, description, passphrase, set(members))


def refused(reason: str, call: Callable[[], object]) -> LoginError:
    """The login refusal ``call`` raises, checked to be for ``reason`` and to say why."""
    assert reason in REASONS
    with pytest.raises(LoginError) as info:
        call()
    assert info.value.reason == reason, info.value
    assert info.value.detail
    return info.value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims(sub: str = "alice@acme", *, jti: str | None = "test-token", **changes: Any) -> dict[str, Any]:
    """A token's claims for ``sub``, issued at :data:`NOW` for an hour; a change to None leaves the claim out."""
    issued = int(NOW.timestamp())
    out: dict[str, Any] = {"aud": AUDIENCE, "sub": sub, "iat": issued, "nbf": issued, "exp": issued + 3600}
    if jti is not None:
        out["jti"] = jti
    for name, value in changes.items():
        if value is None:
            out.pop(name)
        else:
            out[name] = value
    return out


def bearer(token: str) -> str:
    return f"Bearer {token}"
