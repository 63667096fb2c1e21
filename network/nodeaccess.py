"""Who is a member, for a chain node's JSON-RPC over TLS (``chain.node.rpc.access``): the gateways' check of a
caller's certificate, with membership read from the node's own chain.

A client certificate is a member's when :meth:`~network.certificates.CallerAuthenticator.admit` accepts it
(issued by the CA of the org it names, among the member CAs; an identity with clientAuth, not a CA; within its
validity; not revoked, by its org's CRL in the consortium directory, ``orgs/<org>/msp/crls/crl.pem``, nor on
chain) and the ConsortiumRegistry on the node's own chain says the org is an active member: a member removed or
suspended by governance is refused from the block that says so, without a restart. With a TrustDirectory in
``consortium.json`` (``docs/trust.md``) the member CAs and the revoked serials are the directory's at the node's
head, read in process from its own chain whenever its head moved (one call when the directory did not change),
so a serial revoked, or a CA retired, on chain is refused from the block that says so; until the directory has
been read, the CAs of ``consortium.json``. Every certificate of a member passes: an admin's, a person's, a
service's, a node's (a member's people read the chain as its services do; docs/confidentiality.md).

The server asks this rule once each TLS handshake is done, and disconnects a client whose certificate it refuses
before reading any request (``chain.node.rpc.server``); it asks again at every request, where the refusals carry
the authenticator's reason code and sentence: 401 for ``no_certificate``, 403 for every other
(``unknown_issuer``, ``certificate_revoked``, ``unknown_member``...). A certificate of a CA that is not a
member's never gets that far: OpenSSL refuses it in the TLS handshake (alert ``unknown_ca``), as at the gateways,
because Python's TLS cannot complete a handshake with a certificate it cannot verify. The Python client
(``chain.backend.RpcBackend``) names that case in its error.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

from chain.backend import ClientTls
from chain.errors import ChainError
from chain.ids import MemberStatus
from network.certificates import AuthError, CallerAuthenticator, ca_bundle_pem
from network.description import ConsortiumDescription

if TYPE_CHECKING:
    import ssl

    from chain.backend import Backend
    from chain.contracts import ConsortiumRegistryClient
    from chain.node.rpc.access import Admit
    from chain.node.service import OwnChain
    from chain.trustview import TrustView

log = logging.getLogger("network.nodeaccess")

REGISTRY = "ConsortiumRegistry"
_STATUS = {MemberStatus.ACTIVE: "active", MemberStatus.SUSPENDED: "suspended"}


def client_tls(
    description: ConsortiumDescription, cert: Path | None, key: Path | None, ca: Path | None, passphrase: bytes | None
) -> ClientTls:
    """A member's client certificate for a node serving members only: ``cert`` and ``key`` (e.g. an org's admin
    identity, ``orgs/<org>/users/Admin@<org>/msp/``; None: no certificate, for the public methods), trusting
    ``ca`` or, without it, the member CAs of ``consortium.json`` (a node's certificate is issued by its org's
    CA)."""
    return ClientTls(cert, key, ca, None if ca is not None else ca_bundle_pem(description), passphrase)


#: The identity a service of an org reaches a node serving members only with (``consortium up --rpc-tls``):
#: ``orgs/<org>/users/chain@<org>/msp``, a clientAuth certificate of the org's CA like any caller's. Not the
#: admin's: a long-running service that only reads and anchors should not hold the key that speaks for the org,
#: and this one can be revoked by the org's CRL alone (docs/confidentiality.md).
CHAIN_IDENTITY = "chain"


def service_identity(directory: Path, org: str, passphrase: bytes) -> tuple[Path, Path]:
    """The certificate and key of ``org``'s :data:`CHAIN_IDENTITY`, issued by its CA the first time."""
    from chain.ids import OrgId
    from network.identity import issue_identity, user_paths

    paths = user_paths(directory, OrgId(org), CHAIN_IDENTITY)
    if not paths.cert.is_file():
        issue_identity(directory, OrgId(org), CHAIN_IDENTITY, passphrase)
    return paths.cert, paths.key


def chain_options(directory: Path, org: str, passphrase: bytes) -> list[str]:
    """``consortium``'s options presenting ``org``'s :data:`CHAIN_IDENTITY` to a node serving members only."""
    cert, key = service_identity(directory, org, passphrase)
    return ["--chain-cert", str(cert), "--chain-key", str(key)]


class _OwnChain:
    """The one method of a backend that contract reads use (``ContractClient._call``), over the node itself."""

    description = "this node's own chain"

    def __init__(self, own: OwnChain) -> None:
        self._own = own

    def call(self, to: str, data: bytes, block: object = "latest") -> bytes:
        return self._own.read(to, data, block if isinstance(block, int | str) else "latest")


class NodeMembers:
    """The member check of a node's JSON-RPC for the consortium in ``directory``: :meth:`server_context` is the
    server's TLS context, :meth:`admit` (given a way to read the node's chain) the rule."""

    def __init__(self, directory: Path, description: ConsortiumDescription) -> None:
        self.description = description
        self._registry: ConsortiumRegistryClient | None = None
        self._own: OwnChain | None = None
        self._trust: TrustView | None = None
        self._tried = -1  # the last head the directory was read (or failed to be read) at
        self._failure: str | None = None  # why the last read failed
        self._lock = threading.Lock()
        self.authenticator = CallerAuthenticator(description, directory, self._member_status)

    def server_context(self, cert: Path, key: Path, password: bytes | None) -> ssl.SSLContext:
        """TLS 1.2+, ``cert`` and ``key`` (an encrypted key opened with ``password``), client certificates asked
        for, not required, and verified against the member CAs (``CallerAuthenticator.server_ssl_context``)."""
        return self.authenticator.server_ssl_context(cert, key, password)

    def admit(self, own: OwnChain) -> Admit:
        """The rule over the node's chain that ``own`` reads: a member's certificate DER -> its org. With a
        TrustDirectory in ``consortium.json``, the member CAs and the serials revoked on chain are the directory's
        as the node's own chain says at its head, read again (only when it changed) at each new block."""
        # imported here, by the node: every command imports this module for client_tls, and needs none of it
        from chain.contracts import ConsortiumRegistryClient
        from chain.node.rpc.errors import RpcRefusedError
        from network.trust import CONTRACT as TRUST_CONTRACT
        from network.trust import has_directory

        address = self.description.contracts.get(REGISTRY)
        if address is None:
            raise ChainError(f"consortium.json names no {REGISTRY}: the node cannot tell who is a member")
        chain = _OwnChain(own)
        self._own = own
        self._registry = ConsortiumRegistryClient(cast("Backend", chain), address)
        if has_directory(self.description):
            from chain.trustview import TrustView

            view = TrustView(cast("Backend", chain), self.description.contracts[TRUST_CONTRACT], head=own.head)
            self._trust = view
            self.authenticator.follow(view)

        def admit(der: bytes | None) -> str:
            self._follow()
            try:
                caller = self.authenticator.admit(der)
            except AuthError as exc:
                status = 401 if exc.reason == "no_certificate" else 403
                raise RpcRefusedError(
                    status, f"{exc.reason}: {exc.detail}; this node's JSON-RPC is for the consortium's members"
                ) from None
            return caller.org

        return admit

    def _follow(self) -> None:
        """Read the directory again when the node's head moved since the last read (one in-process call when
        nothing changed in it); a failed read keeps the last snapshot and is tried again at the next block."""
        view, own = self._trust, self._own
        if view is None or own is None:
            return
        head = own.head()
        if head == self._tried:
            return
        with self._lock:
            if head == self._tried:
                return
            try:
                view.refresh()
                self._failure = None
            except Exception as exc:  # a chain still syncing may not hold the directory yet: keep the last answer
                failure = f"{type(exc).__name__}: {exc}"
                if failure != self._failure:  # once, not at every block
                    log.warning("trust directory not read at block %d (tried again at each block): %s", head, failure)
                self._failure = failure
            self._tried = head

    def _member_status(self, org: str) -> str | None:
        """``active``, ``suspended`` or None, from the registry at the node's head (an in-process read; the
        node's call cache answers a repeated one until the next block)."""
        if self._registry is None:
            return None
        try:
            info = self._registry.member(org)
        except (ChainError, ValueError) as exc:
            raise AuthError("unknown_member", f"the registry cannot be read: {exc}") from None
        return None if info is None else _STATUS.get(info.status)
