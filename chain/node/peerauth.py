"""Who may use a node's peer routes (``chain.node.peers``): the node certificates of members that run a node.

TLS already checks that the client's certificate chains to a CA of the bundle (``nodes/ca-bundle.pem``, every
member's CA) and allows clientAuth. Every member's CA also issues its people's and its services' certificates,
so TLS alone would let a compliance officer fetch every block or send consensus messages. The peer server
therefore admits a connection's certificate only when it is a node certificate, as
``network.identity.issue_node_certificate`` writes it:

- the subject names exactly one org, its ``OU``, and its ``CN`` is exactly ``node.<that org>`` (a person's or a
  service identity's is ``<name>@<org>``, a gateway's server certificate ``gateway.<org>``);
- its extendedKeyUsage holds both serverAuth and clientAuth (a person's has clientAuth alone, a gateway's
  serverAuth alone): a node serves its peers and calls them;
- it is issued (its signature checked here) by the CA in the bundle whose subject names that same org as ``OU``,
  so one member's CA cannot vouch for another member's node;
- its org is not a member governance removed on chain (the follower, ``chain.node.peerfollow``, names them: the
  refusal then says so, whichever CA issued the certificate);
- when the org list is known (``nodes/nodes.json``, or ``consortium node --peer-org``), that org runs a node;
- its serial is not among those its org revoked on chain (the TrustDirectory's revoked serials, which a node that
  follows the directory puts in the rule, ``chain.node.peerfollow``).

Its validity period is OpenSSL's to check: the peer contexts verify it in the handshake.

One route is read by more than nodes: ``GET /qbft/v1/equivocations``, the evidence of equivocation the node kept
(signed consensus messages every validator's node receives anyway, which a member already reads through a node's
JSON-RPC), so an explorer asks it with its member's client certificate (``orgs/<org>/users/chain@<org>``, the one
it reads the chain with under ``consortium up --rpc-tls``) and holds no node key. For that route alone
:meth:`NodeCertificates.admit_member` is the rule: a certificate issued by a current member's CA, that is

- its subject names exactly one org, its ``OU``, and it allows clientAuth;
- it is issued (its signature checked here) by a CA of the rule whose subject names that same org;
- its org is not a member governance removed on chain, and its serial is not among those its org revoked on
  chain.

Whether that org runs a node does not matter: a member that runs none may read the evidence too.

The rule is pure: :meth:`NodeCertificates.admit` takes the certificate's DER and returns the org or raises
:class:`PeerRefusedError` saying why; :meth:`NodeCertificates.admit_member` likewise. Both hold for the server
(``chain.node.peers.PeerServer``): it asks both of a client's certificate once each TLS handshake is done and
disconnects a client both refuse before reading any request of it; it asks again at each request on a connection
it let in, the evidence route by :meth:`~NodeCertificates.admit_member` and every other route by
:meth:`~NodeCertificates.admit`, and answers a refused request with 403 and the reason. The node rule holds for
both ends of a link, as a node presents the same certificate as client and as server: the links
(``chain.node.peers.PeerLinks``) ask :meth:`~NodeCertificates.admit` of a peer server's certificate once their
handshake is done and send nothing to, and take nothing from, a refused peer. Both ask again on a connection they
keep open whenever the rule is another (it changes with the chain: a member removed, a serial revoked):
:class:`Decision` is that connection's verdict by one of the two rules, the server answers a request refused since
with 403, a link withholds what it was to send.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chain.errors import ChainError, MalformedError

#: The common name of an org's node certificate is this prefix and the org id.
NODE_CN_PREFIX = "node."


class PeerRefusedError(ChainError):
    """A client certificate that may not use the peer routes; ``reason`` says what it lacks."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _one(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if len(values) == 1 else None


@dataclass(frozen=True, slots=True)
class NodeCertificates:
    """The rule: the member CAs by org (the ``OU`` of each CA's subject) and the orgs that run a node (``None``:
    any org with a CA in the bundle)."""

    cas: Mapping[str, tuple[x509.Certificate, ...]]
    orgs: frozenset[str] | None = None
    #: org -> the serials of its certificates revoked on chain
    revoked: Mapping[str, frozenset[int]] = field(default_factory=dict)
    #: the orgs governance removed on chain: their nodes are refused, saying so
    removed: frozenset[str] = frozenset()

    @classmethod
    def from_bundle(cls, pem: bytes, orgs: Collection[str] | None = None) -> NodeCertificates:
        """The rule over the CA certificates of ``pem`` (a bundle; a CA without exactly one ``OU`` names no
        org and admits nobody). :class:`MalformedError` for a bundle without certificates."""
        try:
            certificates = x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            raise MalformedError(f"the peer CA bundle holds no readable certificate: {exc}") from None
        cas: dict[str, tuple[x509.Certificate, ...]] = {}
        for ca in certificates:
            org = _one(ca.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
            if org is not None:
                cas[org] = (*cas.get(org, ()), ca)
        return cls(cas, None if orgs is None else frozenset(orgs))

    def admit(self, der: bytes | None) -> str:
        """The org whose node presented the certificate ``der`` (a client's, or a peer server's); raises
        :class:`PeerRefusedError` if it may not use the peer routes, nor be sent to."""
        cert, subject, org = _certificate(der, "the peer routes are for the consortium's nodes", "a node certificate")
        if _one(cert.subject, NameOID.COMMON_NAME) != NODE_CN_PREFIX + org:
            raise PeerRefusedError(
                f"{subject} is not a node certificate (CN={NODE_CN_PREFIX}{org}): a person's or a service's "
                "certificate does not reach the peer routes"
            )
        if not {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= _usages(cert):
            raise PeerRefusedError(f"{subject} lacks serverAuth and clientAuth: not a node certificate")
        if org in self.removed:
            raise PeerRefusedError(
                f"{subject}: {org!r} was removed from the consortium by governance on chain; its node is refused"
            )
        if not any(_issued_by(cert, ca) for ca in self.cas.get(org, ())):
            raise PeerRefusedError(f"{subject} is not issued by the CA of {org!r} in the peer CA bundle")
        if self.orgs is not None and org not in self.orgs:
            raise PeerRefusedError(f"{org!r} runs no node in this consortium (nodes.json): its certificate is refused")
        if cert.serial_number in self.revoked.get(org, ()):
            raise PeerRefusedError(f"{subject} (serial {cert.serial_number:#x}) is revoked by {org!r} on chain")
        return org

    def admit_member(self, der: bytes | None) -> str:
        """The org whose CA issued the client certificate ``der``, a current member's (the rule of the evidence
        route: see the module's docstring); :class:`PeerRefusedError` saying why not."""
        cert, subject, org = _certificate(
            der, "the evidence route is for the consortium's members", "a member's certificate"
        )
        if ExtendedKeyUsageOID.CLIENT_AUTH not in _usages(cert):
            raise PeerRefusedError(f"{subject} lacks clientAuth: not a client certificate")
        if org in self.removed:
            raise PeerRefusedError(
                f"{subject}: {org!r} was removed from the consortium by governance on chain; its certificates are "
                "refused"
            )
        if not any(_issued_by(cert, ca) for ca in self.cas.get(org, ())):
            raise PeerRefusedError(f"{subject} is not issued by the CA of {org!r}, a member's")
        if cert.serial_number in self.revoked.get(org, ()):
            raise PeerRefusedError(f"{subject} (serial {cert.serial_number:#x}) is revoked by {org!r} on chain")
        return org


def _certificate(der: bytes | None, whose: str, kind: str) -> tuple[x509.Certificate, str, str]:
    """The certificate ``der``, its subject and its org (the subject's one ``OU``); :class:`PeerRefusedError` if
    there is none (``whose`` the route is for), it cannot be parsed or names no single org (not ``kind``)."""
    if not der:
        raise PeerRefusedError(f"no client certificate: {whose}")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise PeerRefusedError("the client certificate cannot be parsed") from None
    subject = cert.subject.rfc4514_string()
    org = _one(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if org is None:
        raise PeerRefusedError(f"{subject} names no single org (OU): not {kind}")
    return cert, subject, org


class Decision:
    """One connection's verdict on the certificate its other end presented (DER), by the rule of the moment:
    decided again only when the rule is another object (a rule is replaced whole, never changed), so a request or
    a send on a kept connection costs one comparison. ``check`` is which of the rule's checks it applies: the node
    rule (:meth:`NodeCertificates.admit`, the default) or the member rule (:meth:`NodeCertificates.admit_member`)."""

    __slots__ = ("check", "decided_by", "der", "refusal")

    def __init__(
        self, der: bytes | None, check: Callable[[NodeCertificates, bytes | None], str] = NodeCertificates.admit
    ) -> None:
        self.der = der
        self.check = check
        self.decided_by: NodeCertificates | None = None
        #: Why the certificate is refused by the rule it was last decided by; None when it is not (or never was).
        self.refusal: str | None = None

    def decide(self, rule: NodeCertificates | None) -> str | None:
        """Why ``rule`` refuses the certificate, None if it admits it (``rule`` None: the last verdict stands)."""
        if rule is not None and rule is not self.decided_by:
            self.decided_by = rule
            try:
                self.check(rule, self.der)
                self.refusal = None
            except PeerRefusedError as exc:
                self.refusal = exc.reason
        return self.refusal


def _usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    """The certificate's extended key usages (none without the extension)."""
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
