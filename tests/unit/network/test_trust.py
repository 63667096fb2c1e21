"""network.trust: the keys genesis writes for a founder, and the notary's gateway key source before and after the
chain was read."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.errors import MalformedError
from chain.ids import MemberStatus, OrgId, Role
from chain.trustview import TrustSnapshot, TrustView
from contracts import CONTRACT_NAMES
from network.certificates import AuthError, CallerAuthenticator
from network.description import ConsortiumDescription, MemberDescription
from network.identity import create_org_identity, issue_identity, user_paths
from network.trust import GatewayKeySource, founder_keys, has_directory

PASS = b"trust-unit-passphrase"


def test_founder_keys_follow_the_roles(tmp_path: Path) -> None:
    identity = create_org_identity(tmp_path, OrgId("alpha"), "Alpha Securities", PASS)
    ca = x509.load_pem_x509_certificate(identity.ca_cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    common = [
        (KeyKind.CA_CERT, ca),
        (KeyKind.ACCOUNT, bytes.fromhex(identity.account[2:])),
        (KeyKind.GATEWAY_KEY, identity.gateway_public_key),
    ]
    assert list(founder_keys(identity, Role.MEMBER)) == common
    assert list(founder_keys(identity, Role.MEMBER | Role.WITNESS | Role.NOTARY)) == [
        *common,
        (KeyKind.WITNESS_KEY, identity.witness_public_key),
        (KeyKind.LOG_KEY, identity.notary_public_key),
    ]


class _NoChain:
    """A backend the view never asks in these tests."""

    description = "no chain"


def record(org: str, index: int, value: bytes, valid_from: int = 0, valid_until: int | None = None) -> KeyRecord:
    state = KeyState.OPEN if valid_until is None else KeyState.RETIRED
    return KeyRecord(OrgId(org), index, KeyKind.GATEWAY_KEY, value, valid_from, valid_until, state, 0, None)


def test_the_gateway_key_source_uses_consortium_json_only_until_the_chain_is_read() -> None:
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    source = GatewayKeySource(view, {"alpha": b"a" * 32})
    assert list(source("alpha")) == [b"a" * 32]
    assert list(source("beta")) == []
    snapshot = TrustSnapshot.of(
        10, 3, {"beta": (record("beta", 0, b"b" * 32), record("beta", 1, b"c" * 32, valid_until=10))}
    )
    view._snapshot, view._head = snapshot, 10  # as a refresh at block 10 leaves it
    assert list(source("alpha")) == []  # the chain names no key of alpha's
    assert list(source("beta")) == [b"b" * 32]
    assert view.keys(KeyKind.GATEWAY_KEY, "beta", at_block=9) == [b"b" * 32, b"c" * 32]


def test_a_consortium_json_without_a_directory_still_loads(tmp_path: Path) -> None:
    """A consortium created before the TrustDirectory existed: its file lacks the address, and nothing follows
    the chain's keys."""
    identity = create_org_identity(tmp_path, OrgId("alpha"), "Alpha Securities", PASS)
    description = ConsortiumDescription(
        name="old",
        chain_id=1,
        chain_kind="external",
        chain_url="http://127.0.0.1:1",
        contracts={name: f"0x{i + 1:040x}" for i, name in enumerate(CONTRACT_NAMES) if name != "TrustDirectory"},
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={},
        members=(MemberDescription(OrgId("alpha"), "Alpha Securities", Role.MEMBER, identity),),
    )
    loaded = ConsortiumDescription.from_json(description.to_json())
    assert "TrustDirectory" not in loaded.contracts and not has_directory(loaded)
    data = description.to_json()
    data["contracts"]["TrustDirectory"] = "0x" + "ab" * 20
    assert has_directory(ConsortiumDescription.from_json(data))
    del data["contracts"]["AuditAnchor"]
    with pytest.raises(MalformedError):
        ConsortiumDescription.from_json(data)


def test_a_member_cannot_vouch_for_another_members_ca(tmp_path: Path) -> None:
    """gamma records alpha's CA on chain before alpha does: the authenticator ignores gamma's record (the CA's OU
    names alpha), so alpha's people stay alpha's, and a CA only gamma recorded issues nobody."""
    members = []
    for org in ("alpha", "gamma"):
        identity = create_org_identity(tmp_path, OrgId(org), f"{org.title()} Securities", PASS)
        members.append(MemberDescription(OrgId(org), f"{org.title()} Securities", Role.MEMBER, identity))
    issue_identity(tmp_path, OrgId("alpha"), "client", PASS)
    der = x509.load_pem_x509_certificate(user_paths(tmp_path, OrgId("alpha"), "client").cert.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    alpha_ca = x509.load_pem_x509_certificate(members[0].identity.ca_cert_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    description = ConsortiumDescription(
        "t", 1, "external", "http://127.0.0.1:1", {}, 0, 1, 7, {}, tuple(members)
    )  # fmt: skip
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]

    def ca(org: str, index: int) -> KeyRecord:
        return KeyRecord(OrgId(org), index, KeyKind.CA_CERT, alpha_ca, 0, None, KeyState.OPEN, 0, None)

    auth = CallerAuthenticator(description, None, lambda org: "active", trust=view)
    view._snapshot, view._head = TrustSnapshot.of(5, 1, {"gamma": (ca("gamma", 0),)}), 5
    auth._follow(view._snapshot)
    with pytest.raises(AuthError) as refused:
        auth.authenticate(der)
    assert refused.value.reason == "unknown_issuer"
    view._snapshot = TrustSnapshot.of(6, 2, {"gamma": (ca("gamma", 0),), "alpha": (ca("alpha", 0),)})
    view._head = 6
    auth._follow(view._snapshot)
    assert auth.authenticate(der).org == "alpha"


def test_a_removed_members_ca_issues_nobody_from_the_block_the_view_reads_the_removal(tmp_path: Path) -> None:
    """The CA's record stays on chain (its evidence of before still verifies) but its org is no longer a member:
    its people and clients are refused ``unknown_member`` at once, as the view's valid keys leave it out, without
    waiting for whatever else follows the registry (``member_status`` here says active still: the explorer's member
    check, the gateway's policy)."""
    identity = create_org_identity(tmp_path, OrgId("alpha"), "Alpha Securities", PASS)
    issue_identity(tmp_path, OrgId("alpha"), "client", PASS)
    der = x509.load_pem_x509_certificate(user_paths(tmp_path, OrgId("alpha"), "client").cert.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    ca_der = x509.load_pem_x509_certificate(identity.ca_cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    member = MemberDescription(OrgId("alpha"), "Alpha Securities", Role.MEMBER, identity)
    description = ConsortiumDescription("t", 1, "external", "http://127.0.0.1:1", {}, 0, 1, 7, {}, (member,))
    records = {"alpha": (KeyRecord(OrgId("alpha"), 0, KeyKind.CA_CERT, ca_der, 0, None, KeyState.OPEN, 0, None),)}
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    auth = CallerAuthenticator(description, None, lambda org: "active", trust=view)
    view._snapshot, view._head = TrustSnapshot.of(5, 1, records, {"alpha": MemberStatus.ACTIVE}), 5
    auth._follow(view._snapshot)
    assert auth.authenticate(der).org == "alpha"  # and the verdict is cached
    view._snapshot, view._head = TrustSnapshot.of(6, 1, records, {"alpha": MemberStatus.REMOVED}), 6
    auth._follow(view._snapshot)
    with pytest.raises(AuthError) as refused:
        auth.authenticate(der)
    assert refused.value.reason == "unknown_member" and "is not a member" in str(refused.value), refused.value
    assert view.ca_certs("alpha") == [] and view.valid(KeyKind.CA_CERT, "alpha", at_block=5) == []
