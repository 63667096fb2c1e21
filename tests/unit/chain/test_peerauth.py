"""Which client certificates may use a node's peer routes (``chain.node.peerauth``): a node certificate of an
org, issued by that org's CA, of an org that runs a node; every other certificate refused with its reason.

``org0`` and ``org1`` run nodes (``tests.support.tls_pki``: one CA each, in one bundle); ``org2`` is a member
with a CA in the bundle that runs no node."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chain.ids import OrgId
from chain.node.peerauth import Decision, NodeCertificates, PeerRefusedError
from network.identity import (
    OrgPaths,
    create_org_identity,
    issue_identity,
    issue_node_certificate,
    issue_server_certificate,
    user_paths,
)
from tests.support.tls_pki import NODE_USAGES, Pki, make_pki, member_name

CLIENT = (ExtendedKeyUsageOID.CLIENT_AUTH,)
SERVER = (ExtendedKeyUsageOID.SERVER_AUTH,)
RUNS_NODES = ("org0", "org1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), 3, ["org0", "org1", "org2"])


def der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)


def refusal(rule: NodeCertificates, certificate: bytes | None) -> str:
    with pytest.raises(PeerRefusedError) as caught:
        rule.admit(certificate)
    return caught.value.reason


def test_a_node_certificate_of_an_org_that_runs_a_node_is_admitted(pki: Pki) -> None:
    rule = pki.rule(RUNS_NODES)
    assert rule.admit(der(pki.certs[0][0])) == "org0"
    assert rule.admit(der(pki.certs[1][0])) == "org1"


def test_without_the_org_list_any_member_node_is_admitted(pki: Pki) -> None:
    assert pki.rule().admit(der(pki.certs[2][0])) == "org2"


def test_no_certificate_or_an_unreadable_one_is_refused(pki: Pki) -> None:
    assert "no client certificate" in refusal(pki.rule(), None)
    assert "no client certificate" in refusal(pki.rule(), b"")
    assert "cannot be parsed" in refusal(pki.rule(), b"\x30\x03\x02\x01\x01")


@pytest.mark.parametrize(
    ("common_name", "usages", "expected"),
    [
        ("alice@org0", CLIENT, "not a node certificate"),  # a person's
        ("gateway.org0", SERVER, "not a node certificate"),  # a gateway's server certificate
        ("gateway.org0", NODE_USAGES, "not a node certificate"),  # a gateway's, even with the node's usages
        ("node@org0", NODE_USAGES, "not a node certificate"),  # an identity named "node"
        ("node.org1", NODE_USAGES, "not a node certificate"),  # another org's node name under this org's OU
        ("node.org0", CLIENT, "lacks serverAuth and clientAuth"),  # the node's name on a client certificate
        ("node.org0", SERVER, "lacks serverAuth and clientAuth"),
    ],
)
def test_a_certificate_of_another_profile_is_refused(
    pki: Pki, common_name: str, usages: tuple[x509.ObjectIdentifier, ...], expected: str
) -> None:
    cert, _ = pki.issue("org0", member_name("org0", common_name), usages, f"other-{common_name}-{len(usages)}")
    assert expected in refusal(pki.rule(RUNS_NODES), der(cert))


def test_a_node_certificate_issued_by_another_orgs_ca_is_refused(pki: Pki) -> None:
    """org2 runs no node: its CA issuing a node certificate in org0's name does not make it org0's node."""
    cert, _ = pki.issue("org0", member_name("org0", "node.org0"), NODE_USAGES, "forged-node0", issuer="org2")
    assert "not issued by the CA of 'org0'" in refusal(pki.rule(RUNS_NODES), der(cert))


def test_a_node_certificate_of_an_org_that_runs_no_node_is_refused(pki: Pki) -> None:
    assert "runs no node" in refusal(pki.rule(RUNS_NODES), der(pki.certs[2][0]))


def test_a_node_certificate_of_a_member_removed_on_chain_is_refused_saying_so(pki: Pki) -> None:
    """The follower names the orgs governance removed: their node is refused with that reason, though their CA
    is still in the bundle; a certificate of another profile of theirs is refused for what it is."""
    rule = dataclasses.replace(pki.rule(RUNS_NODES), removed=frozenset({"org1"}))
    reason = refusal(rule, der(pki.certs[1][0]))
    assert "'org1' was removed from the consortium by governance on chain" in reason, reason
    assert rule.admit(der(pki.certs[0][0])) == "org0"
    person, _ = pki.issue("org1", member_name("org1", "alice@org1"), CLIENT, "removed-person")
    assert "not a node certificate" in refusal(rule, der(person))


def test_a_subject_without_exactly_one_org_is_refused(pki: Pki) -> None:
    two = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "org0"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "org1"),
            x509.NameAttribute(NameOID.COMMON_NAME, "node.org0"),
        ]
    )
    cert, _ = pki.issue("org0", two, NODE_USAGES, "two-orgs")
    assert "names no single org" in refusal(pki.rule(), der(cert))
    none = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node 0")])  # the test certificates of before
    cert, _ = pki.issue("org0", none, NODE_USAGES, "no-org")
    assert "names no single org" in refusal(pki.rule(), der(cert))


def test_a_bundle_without_certificates_is_malformed() -> None:
    with pytest.raises(ValueError, match="no readable certificate"):
        NodeCertificates.from_bundle(b"not a bundle")


def test_the_certificates_of_network_identity_node_admitted_person_and_gateway_refused(tmp_path: Path) -> None:
    """What ``consortium init`` writes: the node certificate passes as it is; the same CA's person and gateway
    certificates do not."""
    passphrase = b"peer-admission-test"
    org = OrgId("acme-sec")
    create_org_identity(tmp_path, org, "Acme Securities", passphrase)
    node_cert, _ = issue_node_certificate(tmp_path, org, passphrase)
    issue_identity(tmp_path, org, "alice", passphrase, role="compliance")
    gateway_cert, _ = issue_server_certificate(tmp_path, org, passphrase)
    rule = NodeCertificates.from_bundle(OrgPaths.of(tmp_path, org).ca_cert.read_bytes(), [org])
    assert rule.admit(der(node_cert)) == org
    assert "not a node certificate" in refusal(rule, der(user_paths(tmp_path, org, "alice").cert))
    assert "not a node certificate" in refusal(rule, der(OrgPaths.of(tmp_path, org).admin_cert))
    assert "not a node certificate" in refusal(rule, der(gateway_cert))


def test_a_connections_decision_follows_the_rule_that_replaces_another_and_no_rule_keeps_it(pki: Pki) -> None:
    """What the server asks at each request of a kept connection, and a link before each send on one: the verdict
    on the certificate the other end presented, decided again when the rule is another object (a rule is replaced
    whole, never changed)."""
    before = pki.rule(RUNS_NODES)
    after = dataclasses.replace(before, removed=frozenset({"org1"}))
    decision = Decision(der(pki.certs[1][0]))
    assert decision.decide(None) is None  # no rule: nothing refused
    assert decision.decide(before) is None
    reason = decision.decide(after)
    assert reason is not None and "'org1' was removed" in reason
    assert decision.decided_by is after
    assert decision.decide(after) is reason  # the same rule: the verdict kept, not decided again
    assert decision.decide(None) is reason  # no rule given: the last verdict stands
    assert decision.decide(before) is None  # a rule that admits it again: admitted
    assert Decision(None).decide(before) is not None  # no certificate at all


def member_refusal(rule: NodeCertificates, certificate: bytes | None) -> str:
    with pytest.raises(PeerRefusedError) as caught:
        rule.admit_member(certificate)
    return caught.value.reason


def test_the_evidence_route_admits_exactly_a_certificate_issued_by_a_current_members_ca(pki: Pki) -> None:
    """``admit_member``, the rule of ``GET /qbft/v1/equivocations``: a person's certificate and the node certificate
    of an org that runs no node pass; one another org's CA issued in its name, one without clientAuth, one without
    a single org, one revoked on chain and one of a member removed by governance do not."""
    rule = pki.rule(RUNS_NODES)
    person, _ = pki.issue("org0", member_name("org0", "alice@org0"), CLIENT, "evidence-person")
    assert rule.admit_member(der(person)) == "org0"
    assert rule.admit_member(der(pki.certs[2][0])) == "org2"  # runs no node: still a member
    forged, _ = pki.issue("org0", member_name("org0", "bob@org0"), CLIENT, "evidence-forged", issuer="org2")
    assert "not issued by the CA of 'org0'" in member_refusal(rule, der(forged))
    server, _ = pki.issue("org0", member_name("org0", "gateway.org0"), SERVER, "evidence-server")
    assert "lacks clientAuth" in member_refusal(rule, der(server))
    nameless = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carol")])
    no_org, _ = pki.issue("org0", nameless, CLIENT, "evidence-no-org")
    assert "names no single org" in member_refusal(rule, der(no_org))
    serial = x509.load_pem_x509_certificate(person.read_bytes()).serial_number
    revoked = dataclasses.replace(rule, revoked={"org0": frozenset({serial})})
    assert "revoked by 'org0' on chain" in member_refusal(revoked, der(person))
    removed = dataclasses.replace(rule, removed=frozenset({"org2"}))
    assert "'org2' was removed" in member_refusal(removed, der(pki.certs[2][0]))
    assert "no client certificate" in member_refusal(rule, None)
    # the peer server lets a connection in when this rule admits it: it admits every node the node rule does
    admitted = 0
    for cert, _ in pki.certs:
        try:
            org = rule.admit(der(cert))
        except PeerRefusedError:
            continue
        assert rule.admit_member(der(cert)) == org
        admitted += 1
    assert admitted >= 2


def test_a_decision_by_the_member_rule_admits_what_the_node_rule_refuses_and_follows_the_rule_too(pki: Pki) -> None:
    """The server keeps one Decision a rule for each connection: a person's certificate is refused by the node rule
    (every route but the evidence one) and admitted by the member rule (the evidence route), until its member is
    removed on chain."""
    person, _ = pki.issue("org0", member_name("org0", "dave@org0"), CLIENT, "decision-person")
    before = pki.rule(RUNS_NODES)
    after = dataclasses.replace(before, removed=frozenset({"org0"}))
    node = Decision(der(person))
    member = Decision(der(person), NodeCertificates.admit_member)
    reason = node.decide(before)
    assert reason is not None and "not a node certificate" in reason
    assert member.decide(before) is None
    reason = member.decide(after)
    assert reason is not None and "'org0' was removed" in reason
    assert member.decide(before) is None  # a rule that admits it again: admitted
