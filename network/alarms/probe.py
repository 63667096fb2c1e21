"""Probing the components ``consortium up`` started: one round of requests makes a :class:`Snapshot`.

Each witness's, gateway's and the notary's ``GET /healthz`` (the notary's and the witnesses' with the monitor token,
which opens their figures), and each chain node's JSON-RPC
``consortium_nodeStatus`` (docs/consensus.md), in parallel, each with a short timeout: a component that does
not answer 200 in time counts as down. Where they run is the :class:`Targets` (``targets_of`` builds it from
what ``up`` started and ``consortium.json``).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from chain.backend import ClientTls, RpcBackend
from chain.errors import BackendError
from chain.ids import Role
from network.alarms.rules import (
    GatewayProbe,
    NodeProbe,
    NotaryProbe,
    Snapshot,
    WitnessPolicyView,
    WitnessProbe,
)
from network.description import ConsortiumDescription

#: Seconds each request may take before its component counts as down.
TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class NodeTarget:
    org: str
    validator: bool
    url: str  # JSON-RPC


@dataclass(frozen=True, slots=True)
class Targets:
    """Where each component answers: org → base URL (a gateway's is its admin endpoint)."""

    witnesses: Mapping[str, str] = field(default_factory=dict)
    policy: WitnessPolicyView | None = None
    nodes: tuple[NodeTarget, ...] = ()
    notary: str | None = None
    gateways: Mapping[str, str] = field(default_factory=dict)
    accounts: Mapping[str, str] = field(default_factory=dict)  # validator address (lower case) → org
    notary_token: str | None = None  # the monitor token: the notary's and witnesses' figures
    chain_id: int | None = None  # the nodes' (consortium.json's), so that probing them never asks it


def policy_of(description: ConsortiumDescription) -> WitnessPolicyView:
    """The notary's witness policy as ``consortium.json`` states it."""
    policy = description.witness_policy
    regulators = frozenset(m.org for m in description.members if Role.REGULATOR in m.roles)
    return WitnessPolicyView(int(policy["threshold"]), bool(policy["require_regulator"]), regulators)


def targets_of(
    description: ConsortiumDescription,
    witnesses: Mapping[str, str],
    notary: str | None,
    gateways: Mapping[str, str],
    nodes: Sequence[NodeTarget],
    notary_token: str | None = None,
) -> Targets:
    return Targets(
        witnesses=dict(witnesses),
        policy=policy_of(description) if witnesses else None,
        nodes=tuple(nodes),
        notary=notary,
        gateways=dict(gateways),
        accounts={m.identity.account.lower(): m.org for m in description.members},
        notary_token=notary_token,
        chain_id=description.chain_id,
    )


class Prober:
    """Makes a :class:`Snapshot` of ``targets`` per :meth:`probe`."""

    def __init__(
        self,
        targets: Targets,
        timeout: float = TIMEOUT_S,
        node_tls: ClientTls | None = None,
        notary_tls: ssl.SSLContext | None = None,
    ) -> None:
        """``node_tls``: a member's client certificate for nodes serving members only (``https`` URLs);
        ``notary_tls``: the TLS client context for a notary served over mutual TLS (``up --notary-tls``)."""
        self.targets = targets
        self._timeout = timeout
        self._node_tls = node_tls
        self._client = httpx.Client(timeout=timeout)
        self._notary_client = self._client if notary_tls is None else httpx.Client(timeout=timeout, verify=notary_tls)
        self._nodes: dict[str, RpcBackend] = {}  # one JSON-RPC connection per node, made at its first answer
        self._nodes_lock = threading.Lock()
        count = len(targets.witnesses) + len(targets.nodes) + len(targets.gateways) + 1
        self._pool = ThreadPoolExecutor(max_workers=min(16, count), thread_name_prefix="alarm-probe")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
        if self._notary_client is not self._client:
            self._notary_client.close()

    def probe(self) -> Snapshot:
        t = self.targets
        monitor = {"Authorization": f"Bearer {t.notary_token}"} if t.notary_token else {}
        witnesses = {org: self._pool.submit(self._get, url + "/healthz", monitor) for org, url in t.witnesses.items()}
        gateways = {org: self._pool.submit(self._get, url + "/healthz") for org, url in t.gateways.items()}
        nodes = [self._pool.submit(self._node_status, n.url) for n in t.nodes]
        notary = self._pool.submit(self._get, t.notary + "/healthz", monitor, self._notary_client) if t.notary else None
        return Snapshot(
            witnesses=tuple(WitnessProbe(org, f.result() is not None) for org, f in witnesses.items()),
            policy=t.policy,
            nodes=tuple(node_probe(n, f.result()) for n, f in zip(t.nodes, nodes, strict=True)),
            notary=None if notary is None else notary_probe(notary.result()),
            gateways=tuple(gateway_probe(org, f.result()) for org, f in gateways.items()),
            accounts=t.accounts,
        )

    def _get(
        self, url: str, headers: Mapping[str, str] | None = None, client: httpx.Client | None = None
    ) -> dict[str, Any] | None:
        try:
            response = (client or self._client).get(url, headers=headers)
            if response.status_code != 200:
                return None
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) else {}

    def _node_status(self, url: str) -> dict[str, Any] | None:
        try:
            return self._node(url).node_status()
        except (httpx.HTTPError, ValueError, KeyError, TypeError, BackendError):
            return None

    def _node(self, url: str) -> RpcBackend:
        """The node's backend: one attempt per request (lean), the probe's timeout, the client certificate for an
        ``https`` URL. Without the chain id in the targets, making it asks the node (down: BackendError)."""
        with self._nodes_lock:
            node = self._nodes.get(url)
        if node is None:
            tls = self._node_tls if url.startswith("https://") else None
            node = RpcBackend(url, self._timeout, lean=True, chain_id=self.targets.chain_id, tls=tls)
            with self._nodes_lock:
                node = self._nodes.setdefault(url, node)
        return node


def node_probe(target: NodeTarget, status: Mapping[str, Any] | None) -> NodeProbe:
    """A node from its ``consortium_nodeStatus`` result (None: it did not answer)."""
    if status is None:
        return NodeProbe(target.org, target.validator, up=False)
    missed = status.get("missedProposalsBy") or {}
    withheld = status.get("peerWithheld") or {}  # by kind; absent from an older node's status
    return NodeProbe(
        target.org,
        target.validator,
        up=True,
        in_sync=bool(status.get("inSync", True)),
        in_quorum=bool(status.get("inQuorum", True)),
        missed_by={str(a).lower(): int(n) for a, n in missed.items()} if isinstance(missed, dict) else {},
        abstaining=bool(status.get("abstaining", False)),
        abstained_heights=int(status.get("abstainedHeights") or 0),
        conflicts_refused=int(status.get("signedConflictsRefused") or 0),
        peer_withheld=sum(int(n) for n in withheld.values()) if isinstance(withheld, dict) else 0,
        peer_requests_refused=int(status.get("peerRequestsRefused") or 0),
    )


def notary_probe(health: Mapping[str, Any] | None) -> NotaryProbe:
    """The notary from its ``/healthz`` (None: it did not answer)."""
    if health is None:
        return NotaryProbe(up=False)
    anchoring = health.get("anchoring")
    error = anchoring.get("last_error") if isinstance(anchoring, dict) else None
    return NotaryProbe(
        up=True,
        size=int(health.get("size", 0)),
        published_size=int(health.get("published_size", 0)),
        anchored_size=int(health.get("anchored_size", 0)),
        anchoring_error=None if error is None else str(error),
        anchoring=anchoring is not None,
        gaps=int(health.get("gaps", 0)),
        alarms=int(health.get("alarms") or 0),
    )


def gateway_probe(org: str, health: Mapping[str, Any] | None) -> GatewayProbe:
    """A gateway from its admin ``/healthz`` (None: it did not answer)."""
    if health is None:
        return GatewayProbe(org, up=False)
    outbox = health.get("outbox") or {}
    quota = health.get("quota") or {}
    store = quota.get("store")
    shared = isinstance(store, str) and store != "local"  # the outbox's own count has nothing to reach
    return GatewayProbe(
        org,
        True,
        int(outbox.get("pending", 0)),
        int(outbox.get("max_pending", 0)),
        quota_store=store if shared else None,
        quota_reachable=bool(quota.get("reachable", True)),
    )
