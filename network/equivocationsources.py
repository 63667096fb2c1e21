"""Where the consortium's chain nodes' equivocation evidence is asked (``qbft_getEquivocations``,
``chain.qbft.evidence``): the explorer's :class:`explorer.equivocations.EquivocationBook` and
``consortium chain equivocations`` gather from the same nodes, planned here.

A validator that equivocates towards some nodes only is recorded by the nodes that received both messages and by
no other, so one node alone may hold nothing: :func:`equivocation_sources` names a given node first, then every
other node ``nodes/nodes.json`` lists, then, from the directory on chain, the node endpoints of the members not
among those yet (a firm admitted later, which runs its node from its own directory). Those are peer URLs, which
serve no JSON-RPC: each is asked ``GET /qbft/v1/equivocations`` (:func:`ask_peer_evidence`) with a member's chain
client certificate, which a node admits at that route when a current member's CA issued it
(``chain.node.peerauth``). Each source only plans its ask: the caller asks them (side by side, or in turn), and
trusts none of the answers (``chain.qbft.evidence.verify_equivocation``).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chain.backend import ClientTls, RpcBackend
from chain.errors import BackendError, MalformedError
from chain.node.peerfollow import Source, plan_peers
from chain.qbft.evidence import KEPT_JSON_BYTES
from network.nodes import NodesError, is_network, read_nodes

if TYPE_CHECKING:
    from chain.trustview import TrustSnapshot

log = logging.getLogger("network.equivocationsources")

#: The name of the first node asked when ``nodes.json`` does not name it.
OWN = "chain node"

#: The peer route of a node that serves its equivocation evidence (``chain.node.peers.EQUIVOCATIONS_PATH``), and
#: the most bytes of it read (``chain.node.peers.MAX_EVIDENCE_BYTES``).
PEER_EVIDENCE_PATH = "/qbft/v1/equivocations"
MAX_PEER_EVIDENCE_BYTES = KEPT_JSON_BYTES

#: How a node's peer route is asked for its evidence: its peer URL, the client context (made when asked) and the
#: timeout in, the JSON list out (:func:`ask_peer_evidence`).
PeerAsk = Callable[[str, Callable[[], ssl.SSLContext], float], object]

Fetch = Callable[[], object]


@dataclass(frozen=True, slots=True)
class NodeSource:
    """A node to ask: ``name`` (its org, as ``nodes.json`` names it) and ``fetch``, which returns its
    ``qbft_getEquivocations`` result or raises; ``own``: the node named first (the explorer's own chain node)."""

    name: str
    fetch: Fetch = field(compare=False)
    own: bool = False


def equivocation_sources(
    directory: Path,
    chain_url: str,
    chain_id: int,
    tls: ClientTls | None,
    timeout: float,
    *,
    listed: Source | None = None,
    ask: PeerAsk | None = None,
) -> list[NodeSource]:
    """The nodes whose equivocation evidence is gathered: the node at ``chain_url`` first (the explorer's own chain
    node; the chain URL of ``consortium chain equivocations``), then every other node ``nodes/nodes.json`` lists
    (read at each call: ``up`` writes it as it starts them), each asked with ``timeout`` and, over https,
    presenting the client certificate of ``tls``; ``nodes.json`` unreadable is one more source, which fails saying
    so. Then, with ``listed`` (the directory on chain, as it stands now), the node endpoints members publish on
    chain valid now, of each org not among those yet (a firm admitted later, which runs its node from its own
    directory): they are peer URLs, which serve no JSON-RPC, so each is asked ``GET /qbft/v1/equivocations``
    (:func:`chain_sources`, with ``ask``)."""
    entries: list[tuple[str, str]] = []
    listing: NodesError | None = None
    if is_network(directory):
        try:
            entries = [(str(e.org), e.rpc_url) for e in read_nodes(directory) if e.rpc_url]
        except NodesError as exc:
            listing = exc
    own = next((org for org, url in entries if url == chain_url), OWN)
    sources = [NodeSource(own, partial(_ask_equivocations, chain_url, chain_id, tls, timeout), own=True)]
    seen = {chain_url}
    for org, url in entries:
        if url not in seen:
            seen.add(url)
            node_tls = tls if url.startswith("https://") else None
            sources.append(NodeSource(org, partial(_ask_equivocations, url, chain_id, node_tls, timeout)))
    if listing is not None:
        sources.append(NodeSource("nodes.json", partial(_raise, listing)))
    now = None if listed is None else listed()
    if now is not None:
        sources += chain_sources(*now, {s.name for s in sources}, tls, timeout, ask=ask or ask_peer_evidence)
    return sources


def chain_sources(
    snapshot: TrustSnapshot,
    block: int,
    known: set[str],
    tls: ClientTls | None,
    timeout: float,
    *,
    ask: PeerAsk | None = None,
) -> list[NodeSource]:
    """The node endpoints the directory lists valid now (``chain.node.peerfollow.plan_peers``: none of a removed
    member) of each org not in ``known``, each a source named by its org (by its org and URL after the first of
    an org) that asks the peer route ``GET /qbft/v1/equivocations``. Over https the caller presents its chain
    client certificate (``tls``), which a node admits at that route when a current member's CA issued it
    (``chain.node.peerauth``), and trusts the member CAs of ``tls`` and those valid on chain at ``block`` (a firm
    admitted later has its CA there only); without a certificate such a source fails saying so. ``ask``: how
    each is asked (:func:`ask_peer_evidence`)."""
    plan = plan_peers(snapshot, block, "")
    ask = ask or ask_peer_evidence
    context: Callable[[], ssl.SSLContext] = partial(_peer_context, tls, [d for ders in plan.cas.values() for d in ders])
    sources: list[NodeSource] = []
    for org, urls in plan.endpoints.items():
        if org in known:
            continue
        for n, url in enumerate(urls):
            name = org if n == 0 else f"{org} {url}"
            sources.append(NodeSource(name, partial(ask, url, context, timeout)))
    return sources


def _peer_context(tls: ClientTls | None, cas: list[bytes]) -> ssl.SSLContext:
    """The client context of the evidence route: ``tls``'s certificate and CAs, and the CAs ``cas`` (DER) too."""
    if tls is None or tls.cert is None:
        raise BackendError(
            "no client certificate to present at its peer route: it is asked with a member's chain client "
            "certificate, given for an https chain URL (consortium up --rpc-tls; the explorer's --chain-url "
            "https://... --chain-cert; consortium --chain-cert)"
        )
    context = tls.context()
    for der in cas:
        try:
            context.load_verify_locations(cadata=der)
        except ssl.SSLError as exc:  # one the chain holds that OpenSSL cannot take: the others still count
            log.info("a member CA on chain is not trusted for the evidence route: %s", exc)
    return context


def ask_peer_evidence(url: str, context: Callable[[], ssl.SSLContext], timeout: float) -> object:
    """What the node whose peer URL is ``url`` answers at ``GET /qbft/v1/equivocations``: the JSON list
    ``qbft_getEquivocations`` answers. :class:`BackendError` for no answer or a refusal (with the node's reason),
    :class:`MalformedError` for an answer that is not JSON or over :data:`MAX_PEER_EVIDENCE_BYTES`."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(host, parts.port or 443, timeout=timeout, context=context())
    else:
        connection = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path.rstrip("/") + PEER_EVIDENCE_PATH)
        answer = connection.getresponse()
        body = answer.read(MAX_PEER_EVIDENCE_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise BackendError(f"{url}{PEER_EVIDENCE_PATH}: {exc.__class__.__name__}: {exc}") from None
    finally:
        connection.close()
    if answer.status != 200:
        raise BackendError(f"{url}{PEER_EVIDENCE_PATH} answered {answer.status}: {_reason(body)}")
    if len(body) > MAX_PEER_EVIDENCE_BYTES:
        raise MalformedError(f"{url}{PEER_EVIDENCE_PATH} answered over {MAX_PEER_EVIDENCE_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MalformedError(f"{url}{PEER_EVIDENCE_PATH} answered no JSON: {exc}") from None


def _reason(body: bytes) -> str:
    """The ``error`` of a peer route's refusal, else the start of what it answered."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    return error if isinstance(error, str) else body[:200].decode("utf-8", "replace")


def _ask_equivocations(url: str, chain_id: int, tls: ClientTls | None, timeout: float) -> object:
    """What the node at ``url`` answers to ``qbft_getEquivocations`` (a connection of its own each time: one
    left hanging by an earlier ask is not shared)."""
    backend = RpcBackend(url, timeout, lean=True, chain_id=chain_id, tls=tls)
    try:
        return backend.request("qbft_getEquivocations", [])
    finally:
        backend.close()


def _raise(exc: Exception) -> object:
    raise exc
