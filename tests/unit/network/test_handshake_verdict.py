"""The verdict our mutual-TLS servers ask once a handshake is done (``CallerAuthenticator.handshake_refusal``, over
``network.logsetup.notary_authenticator``), following a TrustDirectory on a chain in this process (eth-tester):
served while valid; refused once the view has read the block that revokes the serial, suspends the member, or
retires the CA, and not before; refused for a certificate out of its validity or of a CA of no member. Over real
TLS sockets: ``tests/integration/network/test_tls_revocation.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.backend import EthTesterBackend
from chain.contracts import KeyKind
from chain.ids import OrgId, Role
from chain.trustview import TrustView
from network.certificates import CallerAuthenticator
from network.description import ConsortiumDescription, MemberDescription
from network.identity import OrgPaths, create_org_identity, issue_identity, user_paths
from network.logsetup import notary_authenticator
from network.trust import ChainMemberStatus
from tests.support.clock import FIXED_NOW
from tests.support.consortium import Consortium, Keys, deploy_test_consortium

PASS = b"handshake-verdict-passphrase"
NOW = FIXED_NOW
ORGS = ("alpha", "beta", "gamma")


@dataclass
class World:
    root: Path
    consortium: Consortium
    view: TrustView
    verdict: CallerAuthenticator

    def der(self, org: str, name: str, root: Path | None = None) -> bytes:
        pem = user_paths(root or self.root, OrgId(org), name).cert.read_bytes()
        return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)

    def serial(self, org: str, name: str) -> int:
        return x509.load_der_x509_certificate(self.der(org, name)).serial_number


def ca_der(root: Path, org: str) -> bytes:
    pem = OrgPaths.of(root, OrgId(org)).ca_cert.read_bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One chain and directory for the module (each test changes only what no other test asks about, or
    restores it)."""
    tmp_path = tmp_path_factory.mktemp("consortium")
    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    consortium = deploy_test_consortium(backend, keys)
    members = []
    for org in ORGS:
        name = f"{org.title()} Securities"
        identity = create_org_identity(tmp_path, OrgId(org), name, PASS, now=NOW - timedelta(days=1))
        members.append(MemberDescription(OrgId(org), name, Role.MEMBER, identity))
        consortium.trust.add_key(consortium.signers[org], KeyKind.CA_CERT, ca_der(tmp_path, org))
    for name in ("leaked", "kept"):
        issue_identity(tmp_path, OrgId("beta"), name, PASS, now=NOW - timedelta(hours=1))
    for org in ("alpha", "gamma"):
        issue_identity(tmp_path, OrgId(org), "client", PASS, now=NOW - timedelta(hours=1))
    issue_identity(tmp_path, OrgId("beta"), "expired", PASS, now=NOW, not_before=NOW - timedelta(days=400), days=30)
    issue_identity(tmp_path, OrgId("beta"), "early", PASS, now=NOW, not_before=NOW + timedelta(days=10))
    description = ConsortiumDescription(
        "t", 1, "external", "http://127.0.0.1:1", {}, 0, 1, 7, {}, tuple(members)
    )  # fmt: skip
    view = TrustView(backend, consortium.trust.address)
    assert view.refresh()
    verdict = notary_authenticator(tmp_path, description, view, clock=lambda: NOW + timedelta(minutes=5))
    yield World(tmp_path, consortium, view, verdict)
    backend.close()


def test_a_valid_certificate_passes_and_none_is_left_to_the_servers_rule(world: World) -> None:
    assert world.verdict.handshake_refusal(world.der("beta", "kept")) is None
    assert world.verdict.handshake_refusal(None) is None  # 401 or a public subset, the server's to say
    assert world.verdict.handshake_refusal(b"") is None


def test_a_serial_revoked_on_chain_is_refused_from_the_views_next_read(world: World) -> None:
    leaked = world.der("beta", "leaked")
    world.consortium.trust.revoke_serial(world.consortium.signers["beta"], world.serial("beta", "leaked"))
    assert world.verdict.handshake_refusal(leaked) is None  # the view has not read that block yet
    assert world.view.refresh()
    refusal = world.verdict.handshake_refusal(leaked)
    assert refusal is not None and refusal.startswith("certificate_revoked: ") and "on chain" in refusal
    assert world.verdict.handshake_refusal(world.der("beta", "kept")) is None  # a colleague's still passes


@pytest.mark.parametrize(
    ("name", "reason"), [("expired", "certificate_expired"), ("early", "certificate_not_yet_valid")]
)
def test_a_certificate_out_of_its_validity_is_refused(world: World, name: str, reason: str) -> None:
    refusal = world.verdict.handshake_refusal(world.der("beta", name))
    assert refusal is not None and refusal.startswith(f"{reason}: ")


def test_a_certificate_of_a_ca_of_no_member_is_refused(world: World, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    create_org_identity(outside, OrgId("beta"), "Beta, forged", PASS, now=NOW - timedelta(days=1))
    issue_identity(outside, OrgId("beta"), "eve", PASS, now=NOW - timedelta(hours=1))
    refusal = world.verdict.handshake_refusal(world.der("beta", "eve", outside))
    assert refusal is not None and refusal.startswith("unknown_issuer: ")


def test_a_suspended_member_is_refused_until_reinstated(world: World) -> None:
    c = world.consortium
    gamma = world.der("gamma", "client")
    c.registry.suspend(c.signers["reg"], "gamma")
    assert world.view.refresh()
    refusal = world.verdict.handshake_refusal(gamma)
    assert refusal is not None and refusal.startswith("unknown_member: ") and "suspended" in refusal
    c.registry.reinstate(c.signers["reg"], "gamma")
    assert world.view.refresh()
    assert world.verdict.handshake_refusal(gamma) is None


def test_a_ca_retired_on_chain_issues_nobody_any_more(world: World) -> None:
    c = world.consortium
    alpha = world.der("alpha", "client")
    assert world.verdict.handshake_refusal(alpha) is None
    index = c.trust.find("alpha", KeyKind.CA_CERT, ca_der(world.root, "alpha"))
    assert index is not None
    c.trust.retire_key(c.signers["alpha"], index)
    assert world.view.refresh()
    refusal = world.verdict.handshake_refusal(alpha)
    assert refusal is not None and refusal.startswith("unknown_issuer: ")


def test_members_are_consortium_jsons_founders_only_until_the_chain_is_read(world: World) -> None:
    unread = TrustView(world.consortium.backend, world.consortium.trust.address)
    status = ChainMemberStatus(unread, ["beta"])
    assert (status("beta"), status("gamma")) == ("active", None)  # consortium.json's founders
    assert unread.refresh()
    assert (status("beta"), status("gamma"), status("delta")) == ("active", "active", None)  # the chain's
