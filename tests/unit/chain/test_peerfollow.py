"""A node's peers follow the node endpoints and CAs of the TrustDirectory (``chain.node.peerfollow``), in process:
snapshots of the directory built from real records, the node's real links (not started: nothing connects) and
its real admission rule and TLS contexts. A member's endpoint published on chain is linked and its node
certificate admitted; retired, declared compromised, or its member removed, it is unlinked and refused; the
peers the node was started with stay linked whatever the chain says, but the links hold their server certificates
to the same rule: a removed member's node is sent nothing (``tests/integration/chain/test_consensus_network.py``
shows it over sockets)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.ids import MemberStatus, OrgId
from chain.node.peerauth import Decision, NodeCertificates, PeerRefusedError
from chain.node.peerfollow import PeerFollower, plan_peers
from chain.node.peers import PeerLinks
from chain.trustview import TrustSnapshot
from tests.support.tls_pki import NODE_USAGES, Pki, make_pki, member_name

FOUNDERS = ("op", "reg")
NEWCOMER = "epsilon"
URLS = {"op": "https://127.0.0.1:8595", "reg": "https://127.0.0.1:8596", NEWCOMER: "https://10.0.0.8:30303"}


def record(org: str, index: int, kind: KeyKind, value: bytes, valid_from: int = 0, until: int | None = None,
           state: KeyState = KeyState.OPEN) -> KeyRecord:  # fmt: skip
    return KeyRecord(OrgId(org), index, kind, value, valid_from, until, state, valid_from, None)


def ca_der(pki: Pki, org: str) -> bytes:
    return pki._cas[org][0].public_bytes(serialization.Encoding.DER)


def node_der(pki: Pki, org: str) -> bytes:
    cert_path, _ = pki.certs[pki.orgs.index(org)]
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)


class Directory:
    """The directory's records as a test changes them, and the snapshot a follower would read."""

    def __init__(self, pki: Pki) -> None:
        self.pki = pki
        self.records: dict[str, list[KeyRecord]] = {}
        self.statuses: dict[str, int] = {}
        self.changes = 0
        for org in FOUNDERS:
            self.add(org, KeyKind.CA_CERT, ca_der(pki, org))
            self.add(org, KeyKind.NODE_ENDPOINT, URLS[org].encode())

    def add(self, org: str, kind: KeyKind, value: bytes, valid_from: int = 0) -> int:
        recs = self.records.setdefault(org, [])
        recs.append(record(org, len(recs), kind, value, valid_from))
        self.statuses.setdefault(org, MemberStatus.ACTIVE)
        self.changes += 1
        return len(recs) - 1

    def end(self, org: str, index: int, until: int, state: KeyState) -> None:
        old = self.records[org][index]
        self.records[org][index] = record(org, index, old.kind, old.value, old.valid_from, until, state)
        self.changes += 1

    def snapshot(self, block: int) -> TrustSnapshot:
        records = {org: tuple(recs) for org, recs in self.records.items()}
        return TrustSnapshot.of(block, self.changes, records, dict(self.statuses))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    world = make_pki(tmp_path, 3, [*FOUNDERS, NEWCOMER])
    bundle = b"".join(world._cas[org][0].public_bytes(serialization.Encoding.PEM) for org in FOUNDERS)
    world.ca.write_bytes(bundle)  # the node's bundle holds the founders' CAs only: the newcomer's is on chain
    return world


class Node:
    """What the follower acts on: the node's links, the rule its peer server applies, its TLS contexts."""

    def __init__(self, pki: Pki, static: tuple[str, ...] = ()) -> None:
        self.rule = NodeCertificates.from_bundle(pki.ca.read_bytes())
        self.links = PeerLinks(static, rule=lambda: self.rule)  # the peer server's rule, as ConsensusNode gives it
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self.client = ssl.create_default_context(cafile=str(pki.ca))
        self.follower = PeerFollower(
            "op",
            self.links.add,
            self.links.remove,
            self.set_rule,
            static=static,
            base=self.rule,
            contexts=(self.server, self.client),
        )

    def set_rule(self, rule: NodeCertificates) -> None:
        self.rule = rule

    def admits(self, pki: Pki, org: str) -> bool:
        try:
            return self.rule.admit(node_der(pki, org)) == org
        except PeerRefusedError:
            return False

    def trusts(self, der: bytes) -> bool:
        return all(
            any(c["subject"] == x509_subject(der) for c in context.get_ca_certs())
            for context in (self.server, self.client)
        )

    def follow(self, directory: Directory, block: int) -> tuple[list[str], list[str]]:
        return self.follower.apply(plan_peers(directory.snapshot(block), block, "op"))


def x509_subject(der: bytes) -> tuple[tuple[tuple[str, str], ...], ...]:
    """A certificate's subject as ``SSLContext.get_ca_certs`` gives it."""
    names = {"O": "organizationName", "OU": "organizationalUnitName", "CN": "commonName"}
    cert = x509.load_der_x509_certificate(der)
    return tuple(((names[a.rfc4514_attribute_name], str(a.value)),) for a in cert.subject)


def test_the_plan_is_the_other_members_endpoints_and_cas_valid_at_the_block(pki: Pki) -> None:
    directory = Directory(pki)
    plan = plan_peers(directory.snapshot(5), 5, "op")
    assert dict(plan.endpoints) == {"reg": (URLS["reg"],)}  # its own endpoint is not a peer
    assert dict(plan.cas) == {"op": (ca_der(pki, "op"),), "reg": (ca_der(pki, "reg"),)}
    assert plan.removed == frozenset()
    directory.add(NEWCOMER, KeyKind.CA_CERT, ca_der(pki, NEWCOMER))
    directory.add(NEWCOMER, KeyKind.NODE_ENDPOINT, URLS[NEWCOMER].encode(), valid_from=8)
    directory.add(NEWCOMER, KeyKind.NODE_ENDPOINT, b"not a url")
    directory.add(NEWCOMER, KeyKind.CA_CERT, ca_der(pki, "reg"))  # another member's CA: its OU names reg
    assert NEWCOMER not in plan_peers(directory.snapshot(7), 7, "op").endpoints  # valid from a later block
    later = plan_peers(directory.snapshot(7), 8, "op")  # the same records, the head passed block 8
    assert later.endpoints[NEWCOMER] == (URLS[NEWCOMER],)
    assert later.cas[NEWCOMER] == (ca_der(pki, NEWCOMER),)


def test_a_published_endpoint_is_linked_and_its_node_admitted_until_it_is_retired(pki: Pki) -> None:
    directory, node = Directory(pki), Node(pki)
    assert node.follow(directory, 3) == ([URLS["reg"]], [])
    assert node.links.urls == [URLS["reg"]]
    assert node.admits(pki, "reg") and not node.admits(pki, NEWCOMER)
    rule = node.rule
    assert node.follow(directory, 4) == ([], [])  # nothing changed but the block: nothing done
    assert node.rule is rule  # the same rule: open connections are not decided again

    directory.add(NEWCOMER, KeyKind.CA_CERT, ca_der(pki, NEWCOMER))
    assert not node.trusts(ca_der(pki, NEWCOMER))
    index = directory.add(NEWCOMER, KeyKind.NODE_ENDPOINT, URLS[NEWCOMER].encode())
    assert node.follow(directory, 6) == ([URLS[NEWCOMER]], [])
    assert node.links.urls == [URLS["reg"], URLS[NEWCOMER]]
    assert node.admits(pki, NEWCOMER)  # the CA and the endpoint from the chain, none from the bundle
    assert node.trusts(ca_der(pki, NEWCOMER))  # in both live TLS contexts: the handshake completes

    directory.end(NEWCOMER, index, 9, KeyState.RETIRED)  # retired as of block 9
    assert node.follow(directory, 8) == ([], [])  # still valid at block 8
    assert node.follow(directory, 9) == ([], [URLS[NEWCOMER]])
    assert node.links.urls == [URLS["reg"]]
    assert not node.admits(pki, NEWCOMER)  # no endpoint: its node certificate no longer reaches the routes


def test_a_compromised_endpoint_and_a_removed_member_are_dropped_a_started_peer_stays_linked_but_refused(
    pki: Pki,
) -> None:
    directory = Directory(pki)
    static = (URLS["reg"],)  # reg's node was given on the command line too
    node = Node(pki, static)
    directory.add(NEWCOMER, KeyKind.CA_CERT, ca_der(pki, NEWCOMER))
    index = directory.add(NEWCOMER, KeyKind.NODE_ENDPOINT, URLS[NEWCOMER].encode())
    assert node.follow(directory, 2) == ([URLS[NEWCOMER]], [])  # reg's is linked already, not twice
    assert node.links.urls == [URLS["reg"], URLS[NEWCOMER]]

    directory.end(NEWCOMER, index, 1, KeyState.COMPROMISED)  # declared compromised as of an earlier block
    assert node.follow(directory, 3) == ([], [URLS[NEWCOMER]])
    second = directory.add(NEWCOMER, KeyKind.NODE_ENDPOINT, b"https://10.0.0.9:30303")
    assert node.follow(directory, 4) == (["https://10.0.0.9:30303"], [])
    assert second == 2 and node.admits(pki, NEWCOMER)
    rule = node.rule

    directory.statuses[NEWCOMER] = MemberStatus.REMOVED  # governance removed it: its records stay
    assert node.follow(directory, 5) == ([], ["https://10.0.0.9:30303"])
    with pytest.raises(PeerRefusedError, match="'epsilon' was removed from the consortium by governance on chain"):
        node.rule.admit(node_der(pki, NEWCOMER))

    links_rule = node.links.rule
    assert links_rule is not None and links_rule() is node.rule  # the links ask the peer server's rule
    directory.statuses["reg"] = MemberStatus.REMOVED  # a founder removed: its bundle CA counts no more either
    directory.changes += 1
    assert node.follow(directory, 6) == ([], [])  # reg's URL was given at the start: it stays in the list
    assert node.links.urls == [URLS["reg"]]
    assert not node.admits(pki, "reg") and node.admits(pki, "op")
    with pytest.raises(PeerRefusedError, match="'reg' was removed"):  # the reason, though its CA is the bundle's
        node.rule.admit(node_der(pki, "reg"))
    # the links hold reg's server certificate (its node certificate: the same as its client one) to the new rule:
    # a connection to it, kept or new, carries nothing more
    assert links_rule() is node.rule
    verdict = Decision(node_der(pki, "reg"))
    assert verdict.decide(rule) is None  # admitted by the rule before the removal
    assert "'reg' was removed" in (verdict.decide(links_rule()) or "")  # refused by the one after


def test_the_sources_are_tried_in_order_and_a_node_without_tls_keeps_no_rule(pki: Pki) -> None:
    directory = Directory(pki)
    links = PeerLinks([])
    rules: list[NodeCertificates] = []
    follower = PeerFollower("reg", links.add, links.remove, rules.append)
    assert follower.step() is False  # no source yet
    own: list[tuple[TrustSnapshot, int]] = []
    boot = (directory.snapshot(10), 10)
    follower._sources = [lambda: own[0] if own else None, lambda: boot]
    assert follower.step() is True
    assert links.urls == [URLS["op"]] and rules == []  # from the bootstrap read; no TLS, no rule to replace
    directory.add("op", KeyKind.NODE_ENDPOINT, b"https://127.0.0.1:9595")
    own.append((directory.snapshot(12), 12))  # the node's own chain reached it
    follower.step()
    assert links.urls == [URLS["op"], "https://127.0.0.1:9595"]


def test_a_node_certificate_of_another_name_is_still_refused(pki: Pki) -> None:
    """The chain adds CAs and orgs to the rule, never loosens what a node certificate is."""
    directory, node = Directory(pki), Node(pki)
    directory.add(NEWCOMER, KeyKind.CA_CERT, ca_der(pki, NEWCOMER))
    directory.add(NEWCOMER, KeyKind.NODE_ENDPOINT, URLS[NEWCOMER].encode())
    node.follow(directory, 2)
    person, _ = pki.issue(NEWCOMER, member_name(NEWCOMER, f"eve@{NEWCOMER}"), NODE_USAGES, "eve")
    der = x509.load_pem_x509_certificate(person.read_bytes()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(PeerRefusedError, match="not a node certificate"):
        node.rule.admit(der)


def test_a_node_certificate_revoked_on_chain_is_refused_from_the_block_that_revokes_it(pki: Pki) -> None:
    directory, node = Directory(pki), Node(pki)
    node.follow(directory, 3)
    assert node.admits(pki, "reg")
    serial = x509.load_der_x509_certificate(node_der(pki, "reg")).serial_number
    directory.add("reg", KeyKind.REVOKED_SERIAL, serial.to_bytes(20, "big"), valid_from=6)
    assert plan_peers(directory.snapshot(5), 5, "op").revoked == {}  # revoked from block 6
    node.follow(directory, 5)
    assert node.admits(pki, "reg")
    node.follow(directory, 6)
    assert plan_peers(directory.snapshot(6), 6, "op").revoked == {"reg": frozenset({serial})}
    with pytest.raises(PeerRefusedError, match="revoked by 'reg' on chain"):
        node.rule.admit(node_der(pki, "reg"))
