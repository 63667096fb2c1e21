"""The notary's check of a member's client certificate (``network.logsetup.certificate_check``), with real
member CAs and certificates (``tests.support.member_pki``): the gateways' checks, the org, the name, and who
reads as a regulator. The TLS side is in ``tests/integration/notary/test_evidence.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from chain.ids import OrgId, Role
from network.identity import issue_identity
from network.logsetup import certificate_check, notary_authenticator
from notary.readauth import UnauthenticatedError
from tests.support.member_pki import NOW, PASS, World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("notary-certificates")
    made = build_world(base / "root", base / "outside")
    for name, role in (("grace", "compliance"), ("ivy", "regulator")):
        issue_identity(
            made.root, OrgId("initech"), name, PASS, now=NOW - timedelta(hours=1), role=role,
            org_roles=Role.MEMBER | Role.REGULATOR,
        )  # fmt: skip
    return made


@pytest.fixture(scope="module")
def check(world: World) -> Callable[[str], tuple[str, str, bool]]:
    verdict = notary_authenticator(world.root, world.description, clock=lambda: NOW + timedelta(minutes=5))
    return certificate_check(world.root, world.description, {"initech"}, verdict)


def pem(world: World, org: str, name: str, root: Path | None = None) -> str:
    return world.cert(org, name, root).read_text(encoding="ascii")


def test_a_members_certificate_reads_as_its_org(world: World, check: Callable[[str], tuple[str, str, bool]]) -> None:
    assert check(pem(world, "acme", "alice")) == ("alice@acme", "acme", False)
    assert check(pem(world, "globex", "bob")) == ("bob@globex", "globex", False)


def test_the_regulators_people_with_the_role_and_its_services_read_as_regulator(
    world: World, check: Callable[[str], tuple[str, str, bool]]
) -> None:
    assert check(pem(world, "initech", "ivy")) == ("ivy@initech", "initech", True)
    assert check(pem(world, "initech", "erin")) == ("erin@initech", "initech", True)  # no role: a service's
    assert check(pem(world, "initech", "grace")) == ("grace@initech", "initech", False)  # compliance: not


@pytest.mark.parametrize(
    ("org", "name", "outside", "reason"),
    [
        ("umbrella", "zed", True, "unknown_issuer"),  # a CA nobody listed
        ("acme", "mallory", True, "unknown_issuer"),  # a forged acme CA: the same subject, another key
        ("acme", "old", False, "certificate_expired"),
        ("acme", "early", False, "certificate_not_yet_valid"),
    ],
)
def test_certificates_the_gateways_refuse_the_notary_refuses(
    world: World, check: Callable[[str], tuple[str, str, bool]], org: str, name: str, outside: bool, reason: str
) -> None:
    with pytest.raises(UnauthenticatedError, match=f"client certificate refused: {reason}: "):
        check(pem(world, org, name, world.outside if outside else None))


def test_something_that_is_no_certificate_is_refused(check: Callable[[str], tuple[str, str, bool]]) -> None:
    with pytest.raises(UnauthenticatedError, match="client certificate refused: malformed_certificate"):
        check("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
