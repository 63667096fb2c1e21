"""A node's peers from the chain: the members' node endpoints in the TrustDirectory (``docs/trust.md``).

Each member publishes the peer URL of its node as a record of kind ``NODE_ENDPOINT`` (the founders' at genesis,
written by ``consortium init``; a firm admitted later with ``consortium member keys add node-endpoint``). A node
that follows the directory (:class:`PeerFollower`) links to every endpoint of another member valid now, besides
the peers it was started with (``--peer``), and stops linking to one when its record is retired or declared
compromised, or its member is removed by governance; nothing restarts. A peer it was started with stays in the
list, but once the rule below refuses its node's certificate the links send it nothing (``chain.node.peers``).

The same answer decides who may use this node's peer routes (``chain.node.peerauth``): a node certificate of an
org that has an endpoint valid now, issued by a CA certificate of that org valid now on chain (its subject's
``OU`` naming the org: the contract cannot parse certificates, so the follower checks it), is admitted like one of
the bundle the node was started with; a CA new to the node is added to the trust stores of its live TLS contexts
(server and client), so the handshake with the new member's node completes from its next connection. A removed
member's node is refused, whether its CA came from the bundle or the chain.

:func:`plan_peers` is the pure part: a snapshot of the directory and a block in, the endpoints and CAs valid at
that block out, with the serials revoked on chain by then, which the rule refuses. :class:`PeerFollower` applies
one plan after another to the node's links and rule. Where the plans come from: the node's own chain, read
through its own JSON-RPC (``chain.trustview.TrustView``); for a node that starts with no peer at all (a firm's
first start: its store holds only the genesis), a snapshot read once through another node's JSON-RPC counts
until its own chain reaches the block that snapshot was read at.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from chain.contracts.trust import KeyKind
from chain.node.peerauth import NodeCertificates
from chain.trustview import TrustSnapshot

log = logging.getLogger("consortium.node.peerfollow")

#: Seconds between two looks at the directory's latest snapshot.
POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class PeerPlan:
    """What the directory says at ``block``: the node endpoints of every member but this node's own, the CA
    certificates of every member (DER, the ``OU`` of each checked against its org), and the orgs with records
    that are no longer members."""

    #: Not compared: a plan equal but for the block changes nothing (the follower rebuilds no rule for it).
    block: int = field(compare=False)
    endpoints: Mapping[str, tuple[str, ...]]
    cas: Mapping[str, tuple[bytes, ...]]
    removed: frozenset[str]
    #: org -> the serials of its certificates revoked on chain at ``block`` (an org with none is left out)
    revoked: Mapping[str, frozenset[int]] = field(default_factory=dict)

    @property
    def urls(self) -> frozenset[str]:
        return frozenset(url for urls in self.endpoints.values() for url in urls)


def _ca_org(der: bytes) -> str | None:
    """The one OU of a CA certificate OpenSSL can take into a trust store; None for another (unparsable, or an SM2
    identity CA of an ``sm`` member, which issues its people and never a TLS certificate)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        cert.public_key()
        values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    except (ValueError, UnsupportedAlgorithm):
        return None
    return str(values[0].value) if len(values) == 1 else None


def _endpoint(value: bytes) -> str | None:
    try:
        url = value.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return url if url.startswith(("https://", "http://")) and " " not in url else None


def plan_peers(snapshot: TrustSnapshot, block: int, own_org: str) -> PeerPlan:
    """The endpoints and CAs of ``snapshot`` valid at ``block`` (a removed member's count for nothing); an
    endpoint that is not an http(s) URL, and a CA whose subject does not name its org, are left out."""
    endpoints: dict[str, tuple[str, ...]] = {}
    cas: dict[str, tuple[bytes, ...]] = {}
    for org in snapshot.orgs():
        if org != own_org:
            urls = [_endpoint(r.value) for r in snapshot.valid(KeyKind.NODE_ENDPOINT, block, org)]
            if found := tuple(dict.fromkeys(u for u in urls if u is not None)):
                endpoints[org] = found
        certificates = tuple(r.value for r in snapshot.valid(KeyKind.CA_CERT, block, org) if _ca_org(r.value) == org)
        if certificates:
            cas[org] = certificates
    removed = frozenset(org for org in snapshot.orgs() if not snapshot.member(org))
    revoked = {
        org: serials
        for org, since in snapshot.revocations.items()
        if (serials := frozenset(s for s, first in since.items() if first <= block))
    }
    return PeerPlan(block, endpoints, cas, removed, revoked)


#: A source of plans: the latest snapshot and the block "now" means for it, or None while there is none.
Source = Callable[[], tuple[TrustSnapshot, int] | None]


class PeerFollower:
    """Applies the directory's plans to a running node: ``add`` and ``remove`` link and unlink a peer URL
    (``ConsensusNode.add_peer``/``remove_peer``), ``set_rule`` replaces the rule of its peer server, ``contexts``
    are its live TLS contexts (new CAs go into their trust stores).

    ``static`` URLs (``--peer``) stay linked whatever the chain says (the links send to one only while the rule
    admits its node's certificate, ``chain.node.peers.PeerLinks``); ``base`` is the rule the node was started
    with (its bundle and the orgs it was told run a node; None: a node without TLS, whose rule stays none).
    ``sources`` are tried in order each poll: the first that has a snapshot gives the plan (the node's own chain
    first, then a bootstrap read, see the module's docstring)."""

    def __init__(
        self,
        own_org: str,
        add: Callable[[str], bool],
        remove: Callable[[str], bool],
        set_rule: Callable[[NodeCertificates], None],
        *,
        static: Sequence[str] = (),
        base: NodeCertificates | None = None,
        contexts: Sequence[ssl.SSLContext] = (),
        poll_s: float = POLL_S,
    ) -> None:
        self.own_org = own_org
        self._add, self._remove, self._set_rule = add, remove, set_rule
        self.static = frozenset(static)
        self.base = base
        self.contexts = tuple(contexts)
        self.poll_s = poll_s
        #: The URLs linked because the chain lists them (never a static one).
        self.linked: set[str] = set()
        #: The DER of every CA loaded into the contexts so far (the bundle's are there from the start).
        self.loaded: set[bytes] = set()
        if base is not None:
            self.loaded = {ca.public_bytes(serialization.Encoding.DER) for cas in base.cas.values() for ca in cas}
        self.plan: PeerPlan | None = None
        self.rule: NodeCertificates | None = base
        self._sources: list[Source] = []
        #: Called once the follower stopped (what it follows with: a trust view).
        self.closers: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def apply(self, plan: PeerPlan) -> tuple[list[str], list[str]]:
        """Make the links and the rule what ``plan`` says; the URLs added and removed."""
        if self.plan is not None and plan == self.plan:
            return [], []
        if self.base is not None:
            self.rule = self._rule(self.base, plan)
            for der in (der for cas in plan.cas.values() for der in cas if der not in self.loaded):
                for context in self.contexts:
                    context.load_verify_locations(cadata=der)
                self.loaded.add(der)
            self._set_rule(self.rule)
        wanted = plan.urls - self.static
        added = [url for url in sorted(wanted - self.linked) if self._add(url)]
        removed = [url for url in sorted(self.linked - wanted) if self._remove(url)]
        self.linked = (self.linked | set(added)) - set(removed)
        self.linked &= wanted
        for url in added:
            log.info("peer added from the chain: %s (block %d)", url, plan.block)
        for url in removed:
            log.info("peer removed: its endpoint is no longer valid on chain (block %d): %s", plan.block, url)
        self.plan = plan
        return added, removed

    @staticmethod
    def _rule(base: NodeCertificates, plan: PeerPlan) -> NodeCertificates:
        """The base rule with the chain's CAs and endpoint orgs added and the removed members taken out."""
        cas: dict[str, tuple[x509.Certificate, ...]] = {
            org: certificates for org, certificates in base.cas.items() if org not in plan.removed
        }
        for org, ders in plan.cas.items():
            known = {c.public_bytes(serialization.Encoding.DER) for c in cas.get(org, ())}
            cas[org] = (*cas.get(org, ()), *(x509.load_der_x509_certificate(d) for d in ders if d not in known))
        orgs = set(base.orgs if base.orgs is not None else base.cas) | set(plan.endpoints)
        return NodeCertificates(cas, frozenset(orgs - plan.removed), plan.revoked, plan.removed)

    # ------------------------------------------------------------------------------------------ following

    def follow(self, *sources: Source) -> None:
        """Take plans from ``sources`` (see the class's docstring) now and every ``poll_s`` in a thread."""
        self._sources = list(sources)
        self.step()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="peer-follow", daemon=True)
        self._thread.start()

    def step(self) -> bool:
        """One look at the sources; True when a plan was applied (changed or not)."""
        for source in self._sources:
            got = source()
            if got is not None:
                snapshot, block = got
                self.apply(plan_peers(snapshot, block, self.own_org))
                return True
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_s + 5)
            self._thread = None
        for close in self.closers:
            close()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.step()
            except Exception:  # a bug must not stop the follower silently: the peers would go stale
                log.exception("following the node endpoints failed")
