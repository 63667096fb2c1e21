"""A network of QBFT validators in one process, with a clock and a delivery schedule the test controls.

Every message goes through the wire encoding (encode, then decode with its author recovered) on its way, as it
would between processes. A node can be offline (it neither receives nor acts), a link can drop or delay what
it carries, and a node can be Byzantine: an equivocator sends one proposal to some validators and a different
one to the rest, and prepares and commits both. Each node keeps evidence of equivocations as the node's
consensus loop does (``chain.qbft.evidence``), and, if the network is made with ``keep_signed``, what it signed
as the node does (``chain.node.signed``).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from eth.db.atomic import AtomicDB
from eth_keys.datatypes import PrivateKey

from chain.errors import MalformedError
from chain.node.signed import SignedLog
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock
from chain.qbft.buffer import FutureMessages
from chain.qbft.evidence import EquivocationDetector
from chain.qbft.machine import Broadcast, Decided, Height
from chain.qbft.rules import RoundTimer, quorum
from tests.unit.chain.qbft.chainlike import Chain, address, keys


@dataclass
class Node:
    index: int
    key: PrivateKey
    chain: Chain
    machine: Height
    buffer: FutureMessages = field(default_factory=FutureMessages)
    online: bool = True
    equivocates: bool = False
    #: What the node's consensus loop keeps of validators' conflicting messages (``chain.node.consensus``).
    evidence: EquivocationDetector = field(default_factory=EquivocationDetector)
    #: What it signed, kept in its own store across restarts (``chain.node.signed``), when the network keeps it.
    signed: SignedLog | None = None

    @property
    def me(self) -> bytes:
        return address(self.key)


Link = Callable[[int, int, m.Message], bool]


class Network:
    def __init__(
        self,
        n: int,
        *,
        period: float = 1.0,
        timer: RoundTimer | None = None,
        early_round_change: bool = True,
        seed: int = 0,
        latency: tuple[float, float] = (0.01, 0.05),
        keep_signed: bool = False,
    ) -> None:
        """``keep_signed``: each validator keeps what it signs in a store of its own that a restart keeps
        (``chain.node.signed.SignedLog`` over an in-memory database), as a node does; otherwise it keeps nothing."""
        self.now = 0.0
        self.period = period
        self.timer = timer or RoundTimer(base=2.0, cap=16.0)
        self.early_round_change = early_round_change
        self.random = random.Random(seed)
        self.latency = latency
        self.stores: dict[int, AtomicDB] | None = {} if keep_signed else None
        self.keys = keys(n)
        self.validators = tuple(sorted(address(k) for k in self.keys))
        self.nodes = [self._fresh(i) for i in range(n)]
        for node in self.nodes:  # a new consortium: every record is fresh, at the genesis
            if node.signed is not None:
                node.signed.at_head(0)
        self.drop: Link = lambda _src, _dst, _msg: False
        self.delivered = 0
        self.garbage = 0
        self._queue: list[tuple[float, int, int, int, bytes, int]] = []
        self._seq = 0

    def _fresh(self, i: int, chain: Chain | None = None) -> Node:
        key = self.keys[i]
        chain = chain or Chain(address(key), self.validators, payload=bytes([i + 1]))
        signed = None
        if self.stores is not None:
            signed = SignedLog(self.stores.setdefault(i, AtomicDB()))
            signed.load()
        return Node(i, key, chain, self._machine(key, chain, signed), signed=signed)

    def _machine(self, key: PrivateKey, chain: Chain, signed: SignedLog | None = None) -> Height:
        head = chain.head
        return Height(key, head.number + 1, self.validators, head.proposer, chain, now=self.now,
                      propose_at=self.now + self.period, timer=self.timer,
                      early_round_change=self.early_round_change, signed=signed)  # fmt: skip

    # -- faults ----------------------------------------------------------------------------------------------

    def stop(self, i: int) -> None:
        self.nodes[i].online = False

    def restart(self, i: int, wipe: bool = False) -> None:
        """Bring node ``i`` back as after a process restart: it keeps its chain (unless wiped), not its round."""
        old = self.nodes[i]
        chain = None if wipe else old.chain
        if wipe and self.stores is not None:
            self.stores.pop(i, None)
        node = self._fresh(i, chain)
        node.equivocates = old.equivocates
        self.nodes[i] = node
        self.catch_up(i)

    def catch_up(self, i: int) -> None:
        """Fetch the decided blocks a node lacks from the others, accepting each only with a quorum of seals
        from the validators over its commit digest and on its own head."""
        node = self.nodes[i]
        for other in sorted(self.nodes, key=lambda o: -o.chain.head.number):
            if other is node or other.equivocates:
                continue
            for block in other.chain.blocks[node.chain.head.number + 1 :]:
                committers = set(block.committers())
                if len(committers & set(self.validators)) < quorum(len(self.validators)):
                    raise AssertionError(f"block {block.number} lacks a quorum of seals")
                if not node.chain.is_valid(block.with_round(block.extra.round)):
                    raise AssertionError(f"block {block.number} does not extend node {i}'s chain")
                node.chain.blocks.append(block)
        if node.machine.height != node.chain.head.number + 1:
            node.machine = self._machine(node.key, node.chain, node.signed)
            node.buffer = FutureMessages()
        if node.signed is not None:
            node.signed.at_head(node.chain.head.number)  # it holds every block its peers decided: at the head

    # -- delivery ----------------------------------------------------------------------------------------------

    def _send(self, src: int, dst: int, message: m.Message) -> None:
        if self.drop(src, dst, message):
            return
        code, body = m.encode(message)
        at = self.now + self.random.uniform(*self.latency)
        heapq.heappush(self._queue, (at, self._seq, src, dst, body, int(code)))
        self._seq += 1

    def inject(self, dst: int, code: int, body: bytes) -> None:
        """Deliver raw bytes to node ``dst`` at the next step, as if from the network."""
        heapq.heappush(self._queue, (self.now, self._seq, -1, dst, body, code))
        self._seq += 1

    def broadcast(self, src: int, message: m.Message) -> None:
        node = self.nodes[src]
        if node.equivocates:
            return self._equivocate(node, message)
        for dst in range(len(self.nodes)):
            if dst != src:
                self._send(src, dst, message)

    def _equivocate(self, node: Node, message: m.Message) -> None:
        """Send ``message`` to the lower half and a conflicting twin to the upper half."""
        twin: m.Message = message
        if isinstance(message, m.Proposal) and not message.round_changes:
            other = Chain(node.me, self.validators, payload=b"twin")
            other.blocks = list(node.chain.blocks)
            twin = m.proposal(node.key, other.create(message.round), message.round)
        elif isinstance(message, m.Proposal | m.Prepare | m.Commit):
            twin_block = self._twin_block(node, message)
            if twin_block is not None:
                twin = (m.prepare(node.key, message.height, message.round, twin_block.hash)
                        if isinstance(message, m.Prepare) else
                        m.commit(node.key, twin_block, message.round))  # fmt: skip
        half = len(self.nodes) // 2
        for dst in range(len(self.nodes)):
            if dst != node.index:
                self._send(node.index, dst, message if dst < half else twin)
                if isinstance(twin, m.Prepare | m.Commit) and twin is not message:
                    self._send(node.index, dst, twin if dst < half else message)  # both, to everyone

    def _twin_block(self, node: Node, message: m.Message) -> QbftBlock | None:
        other = Chain(node.me, self.validators, payload=b"twin")
        other.blocks = list(node.chain.blocks)
        block = other.create(message.round)
        return block if block.number == message.height else None

    def _deliver(self, dst: int, code: int, body: bytes) -> None:
        node = self.nodes[dst]
        if not node.online:
            return
        try:
            message = m.decode(code, body)
        except MalformedError:
            self.garbage += 1
            return
        self.delivered += 1
        if message.height >= node.machine.height:
            node.evidence.observe_all(code, body, message, node.machine.height, self.validators)
        if message.height > node.machine.height:
            self.catch_up(dst)  # a peer is ahead: fetch what it decided, as a node syncs
        if message.height > node.machine.height:
            node.buffer.keep(message, node.machine.height)
            return
        self._apply(node, node.machine.receive(message, self.now))

    def _apply(self, node: Node, actions: list[Broadcast | Decided]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self.broadcast(node.index, action.message)
            else:
                self._decide(node, action.block)

    def _decide(self, node: Node, block: QbftBlock) -> None:
        node.chain.blocks.append(block)
        node.machine = self._machine(node.key, node.chain, node.signed)
        for message in node.buffer.take(node.machine.height):
            self._apply(node, node.machine.receive(message, self.now))

    # -- time --------------------------------------------------------------------------------------------------

    def step(self) -> bool:
        """Run the next event (a delivery or a timer); False if there is none."""
        wake = min((n.machine.next_wake() for n in self.nodes if n.online), default=math.inf)
        at = self._queue[0][0] if self._queue else math.inf
        if at == math.inf and wake == math.inf:
            return False
        if at <= wake:
            at, _, _, dst, body, code = heapq.heappop(self._queue)
            self.now = max(self.now, at)
            self._deliver(dst, code, body)
        else:
            self.now = max(self.now, wake)
            for node in self.nodes:
                if node.online:
                    self._apply(node, node.machine.tick(self.now))
        return True

    def run_until(self, done: Callable[[], bool], *, until: float) -> bool:
        """Step until ``done()`` or the simulated clock passes ``until``."""
        while not done():
            if self.now > until or not self.step():
                return done()
        return True

    def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now <= end and self.step():
            pass

    # -- observations ------------------------------------------------------------------------------------------

    def honest(self) -> list[Node]:
        return [n for n in self.nodes if not n.equivocates]

    def heights(self) -> list[int]:
        return [n.chain.head.number for n in self.nodes]

    def all_reach(self, height: int, nodes: list[Node] | None = None) -> Callable[[], bool]:
        group = nodes if nodes is not None else [n for n in self.honest() if n.online]
        return lambda: all(n.chain.head.number >= height for n in group)

    def assert_agreement(self) -> None:
        """No two honest nodes decided different blocks at one height; every block carries a quorum of seals."""
        by_height: dict[int, bytes] = {}
        for node in self.honest():
            for block in node.chain.blocks[1:]:
                assert by_height.setdefault(block.number, block.hash) == block.hash, f"fork at {block.number}"
                signers = set(block.committers()) & set(self.validators)
                assert len(signers) >= quorum(len(self.validators)), f"block {block.number} lacks seals"
