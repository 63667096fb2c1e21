"""The node process: a persistent store, the node, its blocks, JSON-RPC with ``/metrics``, JSON logs.

``consortium node DIR`` runs :func:`run`. Blocks come one of two ways:

- **alone** (no ``peers``): the sealing loop seals the mempool every ``block_time`` seconds with the node's key
  (no empty blocks unless asked); the genesis must name that key as the only validator;
- **with peers** (:class:`PeerSettings`): the node is one member of the consortium's network; QBFT among the
  validators the chain names decides every block (``chain.node.consensus``), and its peer server listens
  beside JSON-RPC, with mutual TLS when given certificate files.

Its JSON-RPC is plain HTTP for whoever reaches the port, or, with :class:`RpcTls`, HTTPS for the consortium's
members and an explicit public subset (``chain.node.rpc.access``).

Each block is logged as one JSON line after it is durable. SIGTERM and SIGINT stop between blocks and close
the store.
"""

from __future__ import annotations

import gc
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from eth_utils.address import to_checksum_address

from chain.jsonlog import configure_json_logging
from chain.node import trace
from chain.node.health import Histogram, NodeStatus, alone_status
from chain.node.node import Genesis, Node
from chain.node.signed import mark_new, sealed_alone
from chain.qbft.rules import RoundTimer

if TYPE_CHECKING:
    from chain.backend import ClientTls
    from chain.node.consensus import ConsensusNode
    from chain.node.peerfollow import PeerFollower
    from chain.node.rpc.access import Admit
    from chain.node.signed import SignedCounts

log = logging.getLogger("consortium.node")

GENESIS_FILE = "genesis.json"
STORE_DIR = "chaindata"
#: Written with the genesis into a new chain directory: its node has signed nothing yet, so its first start does
#: not abstain (``chain.node.signed``); consumed by that start. A store wiped later starts without it.
NEW_DIRECTORY_FILE = "new-directory"


@dataclass
class Metrics:
    """Counters behind ``/metrics`` (Prometheus text format). A node in a network adds its consensus lines:
    ``consensus`` is its report (``chain.node.health``), ``finality`` its time-to-finality histogram,
    ``equivocations`` the conflicting messages detected per validator, ``signed`` what its record of signed
    messages did (``chain.node.signed``: sent again, conflicts refused, abstained)."""

    node: Node
    started: float = field(default_factory=time.monotonic)
    sealed_blocks: int = 0
    sealed_transactions: int = 0
    last_seal_seconds: float = 0.0
    recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=120))
    consensus: Callable[[], NodeStatus] | None = None
    finality: Histogram | None = None
    #: Equivocations detected per validator (``chain.qbft.evidence``), on a network.
    equivocations: Callable[[], dict[bytes, int]] | None = None
    #: What this validator's record of signed messages did (``chain.node.signed.SignedCounts``), on a network.
    signed: Callable[[], SignedCounts] | None = None

    def record(self, transactions: int, seconds: float) -> None:
        self.sealed_blocks += 1
        self.sealed_transactions += transactions
        self.last_seal_seconds = seconds
        self.recent.append((time.monotonic(), transactions))

    def tx_per_second(self, window: float = 60.0) -> float:
        now = time.monotonic()
        span = min(window, now - self.started) or 1.0
        return sum(n for t, n in self.recent if now - t <= window) / span

    def render(self) -> str:
        head = self.node.head()
        lines = [
            ("consortium_chain_head", "gauge", "Number of the latest sealed block", head.block_number),
            (
                "consortium_mempool_transactions",
                "gauge",
                "Transactions waiting to be sealed",
                len(self.node.mempool.pending),
            ),
            ("consortium_sealed_blocks_total", "counter", "Blocks sealed by this process", self.sealed_blocks),
            (
                "consortium_sealed_transactions_total",
                "counter",
                "Transactions sealed by this process",
                self.sealed_transactions,
            ),
            (
                "consortium_transactions_per_second",
                "gauge",
                "Sealed transactions per second over the last minute",
                round(self.tx_per_second(), 3),
            ),
            (
                "consortium_block_seal_seconds",
                "gauge",
                "Time the last block took to seal and persist",
                round(self.last_seal_seconds, 6),
            ),
        ]
        if self.consensus is not None:
            state = self.consensus()
            lines += [
                ("consortium_consensus_height", "gauge", "Height this node's QBFT instance runs", state.height),
                ("consortium_consensus_round", "gauge", "Its current round (-1 while idle)", _or(state.round)),
                ("consortium_consensus_validator", "gauge", "1 if this node validates", int(state.mode == "validator")),
                ("consortium_consensus_round_changes_total", "counter", "Round timers expired", state.round_changes),
                ("consortium_consensus_proposals_total", "counter", "Blocks this node proposed", state.proposed),
                ("consortium_consensus_synced_blocks_total", "counter", "Blocks fetched from peers", state.synced),
                ("consortium_consensus_peers_connected", "gauge", "Peers reached last", state.peers_connected),
                (
                    "consortium_consensus_missed_proposals_total",
                    "counter",
                    "Rounds whose timer expired here before a valid proposal came",
                    state.missed_proposals,
                ),
                (
                    "consortium_consensus_in_sync",
                    "gauge",
                    "1 if no peer is known to be over a block ahead and no catch-up runs",
                    int(state.in_sync),
                ),
                (
                    "consortium_consensus_in_quorum",
                    "gauge",
                    "1 if this node and its connected peers hold a quorum of validators",
                    int(state.in_quorum),
                ),
            ]
        if self.signed is not None:
            signed = self.signed()
            lines += [
                (
                    "consortium_consensus_signed_resent_total",
                    "counter",
                    "Messages sent again as this validator signed them before (after a restart)",
                    signed.resent,
                ),
                (
                    "consortium_consensus_signed_conflicts_refused_total",
                    "counter",
                    "Messages not signed because they conflicted with one signed before (that one sent again)",
                    signed.conflicts_refused,
                ),
                (
                    "consortium_consensus_signed_withheld_total",
                    "counter",
                    "Messages not sent because the store refused to keep them",
                    signed.withheld,
                ),
                (
                    "consortium_consensus_abstained_messages_total",
                    "counter",
                    "Messages not signed because the record of signed messages was fresh",
                    signed.abstained,
                ),
                (
                    "consortium_consensus_abstained_heights_total",
                    "counter",
                    "Heights this validator sat out because its record of signed messages was fresh or behind",
                    signed.abstained_heights,
                ),
                (
                    "consortium_consensus_abstaining",
                    "gauge",
                    "1 while a fresh record keeps this validator from voting in its next height",
                    signed.abstaining,
                ),
            ]
        out = []
        for name, kind, doc, value in lines:
            out += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name} {value}"]
        if self.consensus is not None:
            name = "consortium_consensus_missed_proposals_by_proposer_total"
            out += [f"# HELP {name} Rounds whose timer expired here before a valid proposal came, by proposer"]
            out += [f"# TYPE {name} counter"]
            out += [f'{name}{{proposer="{to_checksum_address(a)}"}} {n}' for a, n in state.missed_by_proposer]
            name = "consortium_peer_withheld_total"
            out += [f"# HELP {name} Messages and transactions not sent, and status requests not made, to peers whose "
                    "certificate the peer rule refuses, by kind"]  # fmt: skip
            out += [f"# TYPE {name} counter"]
            out += [f'{name}{{kind="{kind}"}} {n}' for kind, n in state.peer_withheld]
            name = "consortium_peer_requests_refused_total"
            out += [f"# HELP {name} Connections and requests refused at the peer server for their client certificate"]
            out += [f"# TYPE {name} counter", f"{name} {state.peer_requests_refused}"]
        if self.equivocations is not None:
            name = "consortium_consensus_equivocations_total"
            out += [f"# HELP {name} Conflicting signed QBFT messages detected here, by validator"]
            out += [f"# TYPE {name} counter"]
            counts = sorted(self.equivocations().items())
            out += [f'{name}{{validator="{to_checksum_address(a)}"}} {n}' for a, n in counts]
        if self.finality is not None:
            out += self.finality.render(
                "consortium_consensus_finality_seconds",
                "Seconds from a block's first proposal being built or received here to its decision here",
            )
        return "\n".join(out) + "\n"


def _or(value: int | None) -> int:
    return -1 if value is None else value


class SealingLoop:
    def __init__(self, node: Node, metrics: Metrics, block_time: float, empty_blocks: bool) -> None:
        self.node, self.metrics = node, metrics
        self.block_time, self.empty_blocks = block_time, empty_blocks
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sealer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self.stopping.is_set():
            next_at += self.block_time
            self.seal_once()
            self.stopping.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - self.block_time)

    def seal_once(self) -> None:
        started = time.perf_counter()
        try:
            block = self.node.seal(allow_empty=self.empty_blocks)
        except Exception:  # a bug must not kill the loop silently: log it with its traceback and go on
            log.exception("sealing failed")
            return
        if block is None:
            return
        elapsed = time.perf_counter() - started
        self.metrics.record(len(block.transactions), elapsed)
        log.info(
            "block sealed",
            extra={
                "fields": {
                    "number": block.number,
                    "hash": "0x" + block.hash.hex(),
                    "transactions": len(block.transactions),
                    "gas_used": block.header.gas_used,
                    "seal_ms": round(elapsed * 1000, 1),
                    "mempool": len(self.node.mempool.pending),
                }
            },
        )


@dataclass(frozen=True)
class PeerSettings:
    """How a node joins the consortium's network: where its peer server listens, the other nodes' peer URLs,
    the TLS files (certificate, key, CA bundle; all or none; the passphrase of an encrypted key) and the round
    timer."""

    port: int
    peers: tuple[str, ...]
    host: str = "127.0.0.1"
    tls: tuple[str, str, str] | None = None
    tls_password: bytes | None = None
    round_timeout: float = 2.0
    round_timeout_cap: float = 30.0
    #: The orgs whose node certificates may use the peer routes; None: any member with a CA in the bundle.
    orgs: tuple[str, ...] | None = None
    #: Follow the members' node endpoints in the TrustDirectory at this address (``chain.node.peerfollow``).
    directory: str | None = None
    #: This node's org: its own endpoints are not peers.
    org: str | None = None
    #: Another node's JSON-RPC, read once for the endpoints when the node starts without ``peers``.
    bootstrap_url: str | None = None
    bootstrap_tls: ClientTls | None = None
    #: How the follower reads this node's own JSON-RPC when it serves members only.
    own_tls: ClientTls | None = None
    follow_poll_s: float = 1.0


class OwnChain(Protocol):
    """The node's own chain, read in this process (``RpcServer``): how the member rule of its JSON-RPC reads the
    registry and the TrustDirectory."""

    def read(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        """What the contract at ``to`` returns for calldata ``data`` at ``block``."""
        ...

    def head(self) -> int:
        """The number of the node's head block."""
        ...


@dataclass(frozen=True)
class RpcTls:
    """How a node serves its JSON-RPC to members only: the server's TLS context (it asks for a client
    certificate without requiring one), ``members`` which makes the rule of who is a member given a way to read
    this node's own chain (the registry says which orgs are members), and the methods anyone may call."""

    context: ssl.SSLContext
    members: Callable[[OwnChain], Admit]
    public: frozenset[str] = frozenset()


def load_genesis(chain_dir: Path) -> tuple[Genesis, str]:
    """The genesis record written by ``consortium init`` and the org whose key seals."""
    data = json.loads((chain_dir / GENESIS_FILE).read_text(encoding="utf-8"))
    return Genesis.from_json(json.dumps(data["genesis"])), str(data["sealer_org"])


def write_genesis(chain_dir: Path, genesis: Genesis, sealer_org: str, *, new: bool = True) -> None:
    """Write the genesis record into ``chain_dir``. ``new``: the directory is being made for a node that has never
    run (``consortium init``), so, unless it already holds a store, :data:`NEW_DIRECTORY_FILE` is written too. A
    node that writes its own genesis as it starts passes False: it may be starting on a wiped directory."""
    chain_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"genesis": json.loads(genesis.to_json()), "sealer_org": sealer_org}, indent=2) + "\n"
    (chain_dir / GENESIS_FILE).write_text(text, encoding="utf-8")
    if new and not (chain_dir / STORE_DIR).exists():  # a new directory: its node has signed nothing
        (chain_dir / NEW_DIRECTORY_FILE).write_text(
            "This chain directory is new: its node has signed no consensus message yet. The node's first start\n"
            "reads this file and removes it.\n",
            encoding="utf-8",
        )


def configure_logging() -> None:
    """One JSON object per line on stderr for the node's own records (``chain.jsonlog``)."""
    configure_json_logging(log.name)
    trace.configure()


def freeze_start_up() -> int:
    """Leave the objects live once the node has started (modules, code, the contracts' artifacts, the store's and
    the chain's own) out of the garbage collector's full collections from now on: each full collection scanned
    them all again, for nothing. A collection first, so that only live objects are frozen: a frozen object is
    still freed when nothing refers to it any more, only a cycle among them would be kept, so memory stays bounded
    by what start-up held. ``python -m bench.qbft_cpu --gc-freeze`` measures it. Returns how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def run(
    chain_dir: Path,
    sealer_key: bytes,
    host: str = "127.0.0.1",
    port: int = 8545,
    block_time: float = 1.0,
    empty_blocks: bool = False,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    peers: PeerSettings | None = None,
    rpc_tls: RpcTls | None = None,
    other_keys: Callable[[], Sequence[bytes]] | None = None,
) -> None:
    """Run the node until ``stop`` is set (or forever): store, node, blocks (alone or by QBFT), JSON-RPC (for
    members only with ``rpc_tls``). ``other_keys``: the other account keys the member's validator may seal with
    once the set names one of them instead of ``sealer_key``'s (its account rotated; asked at a height's start
    while the set does not name the key sealing now)."""
    from chain.node.rpc import RpcServer
    from chain.node.rpc.access import RpcAccess
    from chain.node.store import open_store

    genesis, _ = load_genesis(chain_dir)
    stop = stop or threading.Event()
    with open_store(chain_dir / STORE_DIR) as store:
        started = time.perf_counter()
        node = Node(store, genesis, None if peers else sealer_key)
        node.other_sealers = None if peers else other_keys
        new_directory = chain_dir / NEW_DIRECTORY_FILE
        if new_directory.exists():  # its store's record of signed messages starts empty, not fresh
            mark_new(store)
            new_directory.unlink()
        metrics = Metrics(node)
        member = _member(node, sealer_key, metrics, block_time, empty_blocks, peers, other_keys) if peers else None

        def alone() -> NodeStatus:
            return alone_status(node, proposed=metrics.sealed_blocks)

        status = alone
        if member is not None:
            metrics.consensus = status = member.report
            metrics.finality = member.consensus.stats.finality
            detector = member.consensus.equivocations
            metrics.equivocations = lambda: dict(detector.counts)
            signed_log = member.consensus.signed
            metrics.signed = lambda: signed_log.counts(int(node.head().block_number))
        server = RpcServer(
            node,
            host,
            port,
            metrics.render,
            status,
            ssl_context=None if rpc_tls is None else rpc_tls.context,
            equivocations=None if member is None else lambda: tuple(member.consensus.equivocations.records),
        )
        if rpc_tls is not None:
            server.access = RpcAccess(rpc_tls.members(server), rpc_tls.public)
            log.info("JSON-RPC for members only; public methods: %s", ", ".join(sorted(rpc_tls.public)) or "none")
        server.start()
        loop = None
        follower = None
        if member is not None:
            member.start()
            member.connect(peers.peers if peers else ())
            if peers is not None and peers.directory is not None:
                follower = follow_directory(member, server.url, genesis.chain_id, peers)
        else:
            sealed_alone(store, int(node.head().block_number))
            loop = SealingLoop(node, metrics, block_time, empty_blocks)
            loop.start()
        head = node.head()
        frozen = freeze_start_up()
        log.info(
            "node serving",
            extra={
                "fields": {
                    "url": server.url,
                    "peer_url": member.url if member else None,
                    "chain_id": genesis.chain_id,
                    "head": head.block_number,
                    "state_root": "0x" + head.state_root.hex(),
                    "start_ms": round((time.perf_counter() - started) * 1000, 1),
                    "block_time": block_time,
                    "gc_frozen": frozen,
                }
            },
        )
        if ready is not None:
            ready(server.url)
        try:
            stop.wait()
        finally:
            if loop is not None:
                loop.stop()
                sealed_alone(store, int(node.head().block_number))
            if follower is not None:
                follower.stop()
            if member is not None:
                member.stop()
            server.stop()
            log.info("node stopped", extra={"fields": {"head": node.head().block_number}})


def _member(
    node: Node,
    key: bytes,
    metrics: Metrics,
    block_time: float,
    empty_blocks: bool,
    peers: PeerSettings,
    other_keys: Callable[[], Sequence[bytes]] | None = None,
) -> ConsensusNode:
    from eth_keys.datatypes import PrivateKey

    from chain.node.consensus import ConsensusNode
    from chain.node.peerauth import NodeCertificates
    from chain.node.peers import tls_contexts

    server_ssl, client_ssl = tls_contexts(*peers.tls, peers.tls_password) if peers.tls else (None, None)
    certificates = None
    if peers.tls:
        certificates = NodeCertificates.from_bundle(Path(peers.tls[2]).read_bytes(), peers.orgs)
        known = ", ".join(sorted(certificates.orgs)) if certificates.orgs is not None else "any member of the bundle"
        log.info("peer routes admit node certificates of %s", known)
    return ConsensusNode(
        node,
        PrivateKey(key),
        host=peers.host,
        port=peers.port,
        server_ssl=server_ssl,
        client_ssl=client_ssl,
        certificates=certificates,
        period=block_time,
        timer=RoundTimer(base=peers.round_timeout, cap=peers.round_timeout_cap),
        empty_blocks=empty_blocks,
        on_decided=lambda _number, transactions, seconds: metrics.record(transactions, seconds),
        keys=None if other_keys is None else lambda: [PrivateKey(k) for k in other_keys()],
    )


def follow_directory(member: ConsensusNode, rpc_url: str, chain_id: int, peers: PeerSettings) -> PeerFollower:
    """Follow the node endpoints of the directory on this node's own chain (and, for a node started without
    peers, through ``bootstrap_url`` until its own chain reaches the block read there)."""
    from chain.backend import RpcBackend
    from chain.contracts.trust import TrustDirectoryClient
    from chain.node.peerfollow import PeerFollower
    from chain.trustview import TrustSnapshot, TrustView, load_snapshot

    assert peers.directory is not None
    contexts = [c for c in (member.server.ssl_context, member.client_ssl) if c is not None]
    follower = PeerFollower(
        peers.org or "",
        member.add_peer,
        member.remove_peer,
        lambda rule: setattr(member.server, "certificates", rule),
        static=peers.peers,
        base=member.server.certificates,
        contexts=contexts,
        poll_s=peers.follow_poll_s,
    )
    own_url = rpc_url.replace("://0.0.0.0:", "://127.0.0.1:")
    own = RpcBackend(own_url, 5.0, lean=True, chain_id=chain_id, tls=peers.own_tls)
    view = TrustView(own, peers.directory, poll_s=peers.follow_poll_s)
    boot: tuple[TrustSnapshot, int] | None = None
    if not peers.peers and peers.bootstrap_url:
        try:
            other = RpcBackend(peers.bootstrap_url, 10.0, lean=True, chain_id=chain_id, tls=peers.bootstrap_tls)
            head = int(other.web3.eth.block_number)
            boot = (load_snapshot(TrustDirectoryClient(other, peers.directory), head), head)
            log.info("node endpoints read through %s at block %d", peers.bootstrap_url, head)
        except Exception as exc:  # the transport's, web3's or a decoder's: the node still follows its own chain
            log.warning("node endpoints not read through %s: %s: %s", peers.bootstrap_url, type(exc).__name__, exc)

    def from_own_chain() -> tuple[TrustSnapshot, int] | None:
        snapshot = view.snapshot
        if snapshot is None or (boot is not None and view.head < boot[1]):
            return None
        return snapshot, view.head

    def from_bootstrap() -> tuple[TrustSnapshot, int] | None:
        return boot

    view.start(require=False)
    follower.closers.append(view.stop)
    follower.follow(from_own_chain, from_bootstrap)
    return follower
