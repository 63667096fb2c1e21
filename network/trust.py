"""The consortium's keys on chain (the TrustDirectory, ``docs/trust.md``), as the rest of ``network`` uses them.

:func:`founder_keys` is what ``consortium init`` writes for each founder, the same keys ``consortium.json``
lists, and :func:`genesis_witness_endpoints` the URLs its founders' witnesses are served at; :func:`trust_view`
follows the directory of a consortium, :func:`follow_ca_bundle` keeps a CA bundle file of the members' CAs on chain
for callers that take a file; :class:`GatewayKeySource` answers the notary's question "which keys may
sign for the gateways of org X now" from it, falling back to ``consortium.json`` until the chain has been read
once. :func:`sm2_ca_record` is the record of a member's SM2 identity CA (an ``sm`` consortium's), a ``CA_CERT``
beside its P-256 CA, and :func:`sm2_identity_cas` what the directory says of those CAs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.backend import ClientTls, RpcBackend
from chain.contracts.trust import KeyKind, KeyState, TrustDirectoryClient
from chain.ids import MemberStatus, OrgId, Role
from network.description import ConsortiumDescription
from network.identity import OrgPublic
from notary.sequencer import CompromisedGatewayKey

if TYPE_CHECKING:  # the follower imports web3; `init` and the read-only commands never need it
    from chain.contracts.trust import KeyRecord
    from chain.trustview import TrustSnapshot, TrustView
    from chain.tx import Signer
    from suite.x509 import Certificate as SM2Certificate

#: The contract name of the directory in ``consortium.json``'s ``contracts``.
CONTRACT = "TrustDirectory"
#: ``consortium up --port PORT`` serves the witness of the ``i``-th org of the witness policy on
#: PORT + WITNESS_PORT_OFFSET + ``i`` (loopback).
WITNESS_PORT_OFFSET = 6


def founder_keys(identity: OrgPublic, roles: Role) -> tuple[tuple[KeyKind, bytes], ...]:
    """The keys of a founding member that genesis writes into the directory: its CA certificate (DER), its
    account and gateway key, its witness key if it witnesses and its log key if it runs the notary."""
    ca = x509.load_pem_x509_certificate(identity.ca_cert_pem.encode("ascii"))
    keys = [
        (KeyKind.CA_CERT, ca.public_bytes(serialization.Encoding.DER)),
        (KeyKind.ACCOUNT, bytes.fromhex(identity.account.removeprefix("0x"))),
        (KeyKind.GATEWAY_KEY, identity.gateway_public_key),
    ]
    if Role.WITNESS in roles:
        keys.append((KeyKind.WITNESS_KEY, identity.witness_public_key))
    if Role.NOTARY in roles:
        keys.append((KeyKind.LOG_KEY, identity.notary_public_key))
    return tuple(keys)


def member_keys(
    identity: OrgPublic, roles: Role, witness_endpoint: bytes | None = None
) -> tuple[tuple[KeyKind, bytes], ...]:
    """The keys a member admitted by vote puts in the directory (``member keys publish``, sent itself or signed for a
    member to relay, ``network.keyrelay``): those of :func:`founder_keys`, its SM2 identity CA in an ``sm``
    consortium (:func:`sm2_ca_record`) and its witness's endpoint if given."""
    keys = list(founder_keys(identity, roles))
    if (sm2 := sm2_ca_record(identity)) is not None:  # the SM2 identity CA its people's certificates chain to
        keys.append(sm2)
    if witness_endpoint is not None:
        keys.append((KeyKind.WITNESS_ENDPOINT, witness_endpoint))
    return tuple(keys)


def sm2_ca_record(identity: OrgPublic) -> tuple[KeyKind, bytes] | None:
    """The record of the member's SM2 identity CA in the directory: a ``CA_CERT`` whose value is the SM2 CA
    certificate's DER (the kind says "a CA that issues the member's identities"; the TLS side, which reads
    ``CA_CERT`` records with OpenSSL, leaves out a certificate whose key it cannot read). None without one."""
    if identity.sm2_ca_cert_pem is None:
        return None
    from suite.x509 import Certificate

    return (KeyKind.CA_CERT, Certificate.from_pem(identity.sm2_ca_cert_pem.encode("ascii")).der)


def sm2_identity_cas(snapshot: TrustSnapshot) -> dict[str, list[tuple[SM2Certificate, KeyRecord]]]:
    """org → the SM2 identity CAs its ``CA_CERT`` records hold (every one ever recorded, with its record: whether
    one is valid is asked against the chain's head), each a self-signed SM2 CA with the org's one ``OU``; the
    records that are not (the P-256 CAs, another org's CA) are left out. What the explorer's people, and any other
    verifier of an SM2 identity, learn of a member that joined after genesis."""
    from network._sm2ca import check_ca
    from suite.errors import SuiteError
    from suite.x509 import Certificate

    found: dict[str, list[tuple[SM2Certificate, KeyRecord]]] = {}
    for org, records in snapshot.records.items():
        for record in records:
            if record.kind is not KeyKind.CA_CERT:
                continue
            try:
                cert = check_ca(Certificate.from_der(record.value), org)
            except SuiteError:
                continue
            found.setdefault(org, []).append((cert, record))
    return found


def witness_ports(port: int, count: int) -> list[int]:
    """The ports ``consortium up --port PORT`` serves its ``count`` witnesses on, in the policy's order."""
    return [port + WITNESS_PORT_OFFSET + i for i in range(count)]


def genesis_witness_endpoints(witness_orgs: Sequence[str], port: int) -> tuple[tuple[str, bytes], ...]:
    """(org, URL) of each witness of the policy as ``consortium up --port PORT`` serves it: the witness endpoints
    ``consortium init`` writes at genesis for a witness whose ``witness_url`` the consortium file does not give."""
    ports = witness_ports(port, len(witness_orgs))
    return tuple((org, f"http://127.0.0.1:{p}".encode()) for org, p in zip(witness_orgs, ports, strict=True))


def has_directory(description: ConsortiumDescription) -> bool:
    """Whether the consortium has a TrustDirectory (one created before it existed has none)."""
    return CONTRACT in description.contracts


def trust_view(
    description: ConsortiumDescription,
    chain_url: str | None = None,
    *,
    poll_s: float = 0.5,
    timeout_s: float = 5.0,
    tls: ClientTls | None = None,
) -> TrustView:
    """A view (not started) of the consortium's directory, read through a lean connection of its own (with
    ``tls``, a member's client certificate, for a node serving members only)."""
    from chain.trustview import TrustView

    url = chain_url or description.chain_url
    backend = RpcBackend(url, timeout_s, lean=True, chain_id=description.chain_id, tls=tls)
    return TrustView(backend, description.contracts[CONTRACT], poll_s=poll_s)


def loadable_ca_pem(der: bytes) -> str | None:
    """``der`` as PEM if OpenSSL loads it as a CA certificate; None otherwise (a record of the directory that is
    no certificate OpenSSL takes: it issued no certificate a TLS peer could verify)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=der)
    except ssl.SSLError:
        return None
    return ssl.DER_cert_to_PEM_cert(der)


def chain_ca_bundle(view: TrustView) -> tuple[str, int]:
    """The CA certificates of the members valid on chain in ``view``'s last read, as one PEM bundle, and how many:
    what a caller taking a bundle file (curl --cacert, a firm's own code) trusts the gateways' server certificates
    with, a firm admitted after ``init`` included; a removed member's and a retired CA are left out."""
    pems = [pem for der in view.ca_certs() if (pem := loadable_ca_pem(der)) is not None]
    return "".join(pems), len(pems)


def follow_ca_bundle(
    view: TrustView, out: Path, stop: threading.Event, interval: float, said: Callable[[str], None]
) -> None:
    """Keep ``out`` the bundle of :func:`chain_ca_bundle` until ``stop`` is set: the view read again every
    ``interval`` seconds, the file written (atomically, 0644) at the start and whenever the bundle changed, each
    write ``said`` in one line. A read that fails is said and tried again at the next interval; the file keeps the
    last bundle meanwhile."""
    from notary.durable import replace_file

    written: str | None = None
    while True:
        try:
            view.refresh()
        except Exception as exc:  # the chain unreachable or refusing: the file stays as it was
            said(f"the chain cannot be read ({type(exc).__name__}: {exc}); {out} is left as it is")
        else:
            bundle, count = chain_ca_bundle(view)
            if bundle != written:
                replace_file(out, bundle.encode("ascii"), 0o644)
                written = bundle
                said(f"{count} member CA certificate(s) valid on chain at block {view.head} written to {out}")
        if stop.wait(interval):
            return


class GatewayKeySource:
    """org → the gateway keys valid now: the chain's once ``view`` has read it, ``consortium.json``'s until then
    (the founders' keys, which genesis also wrote on chain). Callable, as the notary's sequencer takes it."""

    def __init__(self, view: TrustView, fallback: Mapping[str, bytes]) -> None:
        self._view = view
        self._fallback = dict(fallback)

    def __call__(self, org: str) -> Sequence[bytes]:
        if self._view.snapshot is None:
            key = self._fallback.get(org)
            return () if key is None else (key,)
        return self._view.gateway_keys(org)

    def compromised(self, org: str) -> list[CompromisedGatewayKey]:
        """The gateway keys of ``org`` a regulator declared compromised as of a block the view's head has passed,
        each with the times it was valid between (``Sequencer`` takes a batch one signs only for events dated
        then); none of an org that is no longer a member, nor before the chain has been read."""
        snapshot = self._view.snapshot
        if snapshot is None or not snapshot.member(org):
            return []
        head = self._view.head
        at = self._view.block_time
        return [
            CompromisedGatewayKey(r.value, at(r.valid_from) * 1000, at(r.valid_until) * 1000, r.valid_until)
            for r in snapshot.records.get(org, ())
            if r.kind is KeyKind.GATEWAY_KEY
            and r.state == KeyState.COMPROMISED
            and r.valid_until is not None
            and r.valid_until <= head
        ]


class ChainMemberStatus:
    """org → ``"active"``, ``"suspended"`` or None (not, or no longer, a member), as the registry statuses ``view``
    read with the directory say; until it has read them once, the founders of ``consortium.json`` are active.
    What :class:`~network.certificates.CallerAuthenticator` asks of a service that follows the chain (the notary)."""

    def __init__(self, view: TrustView, founders: Collection[str]) -> None:
        self._view = view
        self._founders = frozenset(founders)

    def __call__(self, org: str) -> str | None:
        snapshot = self._view.snapshot
        if snapshot is None or snapshot.statuses is None:
            return "active" if org in self._founders else None
        return _STATUS.get(snapshot.statuses.get(org, 0))


_STATUS: Final[dict[int, str]] = {MemberStatus.ACTIVE: "active", MemberStatus.SUSPENDED: "suspended"}


def publish_node_endpoints(
    client: TrustDirectoryClient, wanted: Mapping[OrgId, str], signers: Mapping[OrgId, Signer]
) -> list[str]:
    """Make each org's open node endpoint on chain the URL of ``wanted`` (``consortium up`` starting the founders'
    nodes on other ports than ``init`` wrote): add it, signed by the org's own account, and retire the org's other
    open endpoints, all in one pipelined round. A URL recorded before and retired since cannot be recorded again
    (the directory records a value once): that org is left as it is. One line per org changed or left."""
    from chain.tx import pipelined

    said: list[str] = []
    with pipelined():
        for org, url in wanted.items():
            value = url.encode()
            endpoints = [r for r in client.records(org) if r.kind is KeyKind.NODE_ENDPOINT]
            current = [r for r in endpoints if r.state is KeyState.OPEN and r.valid_until is None]
            if any(r.value == value for r in current) and len(current) == 1:
                continue
            if not any(r.value == value for r in current):
                if any(r.value == value for r in endpoints):
                    said.append(f"{org}: node endpoint {url} was retired on chain before and cannot be recorded again")
                    continue
                client.submit_key(signers[org], KeyKind.NODE_ENDPOINT, value)
            for r in current:
                if r.value != value:
                    client.retire_key(signers[org], r.index)
            said.append(f"{org}: node endpoint {url} published")
    return said
