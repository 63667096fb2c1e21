"""What a node says about itself: ``consortium_nodeStatus``, ``GET /health`` and the health lines of ``/metrics``.

The definitions, the same wherever they are reported:

- **mode**: ``alone`` when the node seals alone (no peers; its genesis names its key as the only validator);
  in a network, ``validator`` when its account is in the validator set for the next block (the set the head
  names in its extra data), else ``follower`` (it runs no round timer and follows the chain by fetching what
  the validators decide).
- **in sync**: the node has not seen evidence that peers are ahead of it by more than one block, and no
  catch-up is running. Evidence is a head some peer is at: ``h - 1`` for a QBFT message of height ``h`` signed
  by a validator of the current set, the head a peer answers on ``GET /qbft/v1/status``, the last block a
  block fetch returned. Evidence of a head counts for :data:`EVIDENCE_TTL_S` after it was last seen, so a
  claim nobody repeats (a faulty peer's, a peer that went away) stops counting; catching up to within one
  block of it clears it at once. One block of lag is normal: a node that has not seen the last commit yet.
  While a fetched answer is being appended, its last block is evidence; a catch-up is running from a full
  answer (``chain.node.peers.MAX_BLOCKS`` blocks, or over half ``MAX_BLOCKS_BYTES``: it may have been cut, so
  more may wait) until an answer is not full. A node sealing alone is always in sync.
- **in quorum**: the node's connected peers plus itself include at least ``quorum(n)`` validators of the
  current set (``chain.qbft.rules.quorum``); for a follower, at least ``quorum(n)`` validators among its
  connected peers alone. A peer is connected when the last exchange with it (its status, polled every
  :data:`chain.node.peers.STATUS_INTERVAL_S`, or a message sent to it) succeeded; its address is the one its
  status answer names. That address is what the peer says, over a link mutual TLS authenticates as a member
  of the consortium, not a proof of the key. A connected peer whose status has named no address is counted
  as a validator (the approximation "connected peers plus itself"): the answer errs towards "in quorum" until
  a link's first status answer, and for good with a peer whose status never names one (an older version).
  A node sealing alone is always in quorum: it is the whole set.
- **missed proposals**: rounds whose round timer expired at this node before a valid proposal of that round
  was accepted there, counted against the round's proposer (``chain.qbft.machine.Counters``). A round this
  node left before its timer expired (for a later round's justified proposal, or on round changes from
  ``f+1`` or a quorum of validators) does not count here, though it may at the validators whose timer did
  expire. A follower runs no round timer and counts none. The total and the count of each proposer are
  reported (``missedProposalsBy``; ``consortium_consensus_missed_proposals_by_proposer_total{proposer=...}``),
  so an operator sees which validator keeps missing its turn.
- **time to finality**: for each block this node decided, the seconds from the first proposal of it being
  built here (this node proposed) or handed to this height's QBFT instance (another did) to the block being
  appended here. Blocks a node fetched (a follower's, a catch-up's) are not observed.
- **abstaining**: this validator sends no QBFT message for the height in progress because its record of signed
  messages is fresh (a data directory wiped or lost: ``chain.node.signed``); **abstained heights** counts the
  heights it sat out so since it started, **signed conflicts refused** the messages it did not sign because
  they conflicted with one it had signed before (the earlier one was sent again). A follower, or a node
  sealing alone, reports false and zeros.
- **withheld from peers**: what the node's peer links did not send to, or ask of, a peer whose server certificate
  the node's peer rule refuses (a member removed by governance, a revoked serial: ``chain.node.peers.PeerLinks``),
  by kind: ``messages`` (QBFT messages), ``transactions`` (gossiped), ``status`` (status requests not made);
  **peer requests refused**: connections refused at the handshake and requests refused for their client
  certificate at the node's peer server (``chain.node.peers.PeerServer``). Both count since the node started; a
  node sealing alone reports zeros.
- **last block age**: seconds from the head block's timestamp to the node's clock; null while the head is the
  genesis block. It grows while a consortium is idle (no empty blocks), so it is reported, never judged.

``GET /health`` answers 503 when a network node is not in sync or not in quorum, 200 otherwise.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

from eth_utils.address import to_checksum_address

from chain.qbft.rules import quorum
from chain.seal import extra_data

if TYPE_CHECKING:
    from eth.abc import BlockHeaderAPI

    from chain.node.node import Node

#: Seconds a peer's head counts as evidence after it was last seen.
EVIDENCE_TTL_S = 10.0
#: Upper bounds of the finality histogram's buckets, in seconds.
FINALITY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

#: The kinds of what a node's peer links withhold from a peer whose certificate its rule refuses.
PEER_WITHHELD_KINDS = ("messages", "transactions", "status")

Mode = Literal["alone", "validator", "follower"]


class NodeStatusJSON(TypedDict):
    """The result of ``consortium_nodeStatus`` (:meth:`NodeStatus.to_json`), which ``consortium chain status`` and
    ``consortium up``'s alarm probe read: addresses checksummed, counters by address or by kind as objects."""

    head: int
    hash: str
    mode: Mode
    height: int
    round: int | None
    validators: list[str]
    peers: int
    peersConnected: int
    inSync: bool
    inQuorum: bool
    roundChanges: int
    proposed: int
    missedProposals: int
    missedProposalsBy: dict[str, int]
    synced: int
    lastBlockAgeSeconds: float | None
    abstaining: bool
    abstainedHeights: int
    signedConflictsRefused: int
    peerWithheld: dict[str, int]
    peerRequestsRefused: int


class NodeHealthJSON(TypedDict):
    """The body of ``GET /health``."""

    head: int
    mode: Mode
    inSync: bool
    inQuorum: bool


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node's report on itself (see the module's definitions)."""

    head: int
    hash: bytes
    mode: Mode
    height: int
    round: int | None
    validators: tuple[bytes, ...]
    peers: int
    peers_connected: int
    in_sync: bool
    in_quorum: bool
    round_changes: int
    proposed: int
    missed_proposals: int
    synced: int
    last_block_age_seconds: float | None
    missed_by_proposer: tuple[tuple[bytes, int], ...] = ()
    abstaining: bool = False
    abstained_heights: int = 0
    signed_conflicts_refused: int = 0
    #: What the peer links withheld from refused peers, by kind (:data:`PEER_WITHHELD_KINDS`, in that order).
    peer_withheld: tuple[tuple[str, int], ...] = tuple((kind, 0) for kind in PEER_WITHHELD_KINDS)
    peer_requests_refused: int = 0

    @property
    def healthy(self) -> bool:
        """What ``GET /health`` answers 200 for: sealing alone, or in sync and in quorum."""
        return self.mode == "alone" or (self.in_sync and self.in_quorum)

    def to_json(self) -> NodeStatusJSON:
        """The result of ``consortium_nodeStatus``."""
        return {
            "head": self.head,
            "hash": "0x" + self.hash.hex(),
            "mode": self.mode,
            "height": self.height,
            "round": self.round,
            "validators": [to_checksum_address(v) for v in self.validators],
            "peers": self.peers,
            "peersConnected": self.peers_connected,
            "inSync": self.in_sync,
            "inQuorum": self.in_quorum,
            "roundChanges": self.round_changes,
            "proposed": self.proposed,
            "missedProposals": self.missed_proposals,
            "missedProposalsBy": {to_checksum_address(a): n for a, n in self.missed_by_proposer},
            "synced": self.synced,
            "lastBlockAgeSeconds": self.last_block_age_seconds,
            "abstaining": self.abstaining,
            "abstainedHeights": self.abstained_heights,
            "signedConflictsRefused": self.signed_conflicts_refused,
            "peerWithheld": dict(self.peer_withheld),
            "peerRequestsRefused": self.peer_requests_refused,
        }

    def health_json(self) -> NodeHealthJSON:
        """The body of ``GET /health``."""
        return {"head": self.head, "mode": self.mode, "inSync": self.in_sync, "inQuorum": self.in_quorum}


def in_quorum(validators: Sequence[bytes], me: bytes, connected: Sequence[bytes | None]) -> bool:
    """Whether ``me`` (counted only if it validates) and its connected peers hold ``quorum(n)`` of
    ``validators``. ``connected`` holds each connected peer's address as its status named it, or None while it
    has named none: such a peer counts as a validator (see the module's definition)."""
    members = set(validators)
    reached = {a for a in connected if a is not None and a in members}
    if me in members:
        reached.add(me)
    unknown = sum(1 for a in connected if a is None)
    return len(reached) + unknown >= quorum(len(members))


def last_block_age(node: Node, head: BlockHeaderAPI) -> float | None:
    """Seconds from the head block's timestamp to the node's clock (0 if the clock is behind it); None at
    genesis."""
    if head.block_number == 0:
        return None
    return round(max(0.0, node.clock() - head.timestamp), 3)


def alone_status(node: Node, proposed: int = 0) -> NodeStatus:
    """The status of a node that seals alone: always in sync and in quorum, no peers, no QBFT instance."""
    head = node.head()
    return NodeStatus(
        head=int(head.block_number),
        hash=bytes(head.hash),
        mode="alone",
        height=int(head.block_number) + 1,
        round=None,
        validators=tuple(extra_data(head).validators),
        peers=0,
        peers_connected=0,
        in_sync=True,
        in_quorum=True,
        round_changes=0,
        proposed=proposed,
        missed_proposals=0,
        synced=0,
        last_block_age_seconds=last_block_age(node, head),
    )


class SyncEvidence:
    """The highest head some peer was seen at, and when it was last seen; it counts for ``ttl`` seconds after
    that. Fed from the consensus loop and the peer links' threads, read from the RPC server's."""

    def __init__(self, ttl: float = EVIDENCE_TTL_S) -> None:
        self.ttl = ttl
        self._head: int | None = None
        self._seen = 0.0
        self._lock = threading.Lock()

    def saw(self, head: int, now: float) -> None:
        """A peer is at ``head`` at time ``now``."""
        with self._lock:
            if self._head is None or head >= self._head or now - self._seen > self.ttl:
                self._head, self._seen = head, now

    def head(self, now: float) -> int | None:
        """The highest head some peer was seen at, if that is live evidence at ``now``."""
        with self._lock:
            return self._head if self._head is not None and now - self._seen <= self.ttl else None

    def ahead(self, mine: int, now: float) -> int:
        """How many blocks the peers are known to be ahead of head ``mine`` (0 without live evidence)."""
        with self._lock:
            if self._head is None or now - self._seen > self.ttl:
                return 0
            return max(0, self._head - mine)

    def in_sync(self, mine: int, now: float) -> bool:
        """No live evidence of peers more than one block ahead of head ``mine``."""
        return self.ahead(mine, now) <= 1


class Histogram:
    """A Prometheus histogram (cumulative buckets, sum and count); observed and rendered from any thread."""

    def __init__(self, buckets: Sequence[float] = FINALITY_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)  # the last one: above every bound (+Inf)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sum += value

    @property
    def count(self) -> int:
        with self._lock:
            return sum(self._counts)

    def render(self, name: str, doc: str) -> list[str]:
        """The histogram's lines in the Prometheus text format."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines = [f"# HELP {name} {doc}", f"# TYPE {name} histogram"]
        cumulative = 0
        for bound, count in zip([*(f"{b:g}" for b in self.buckets), "+Inf"], counts, strict=True):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
        lines += [f"{name}_sum {round(total, 6)}", f"{name}_count {cumulative}"]
        return lines
