"""The QBFT driver of one node: runs ``chain.qbft.machine.Height`` one height after another, in one thread.

Everything the machine needs from outside comes through here: messages from peers (:meth:`Consensus.deliver`,
decoded and checked in this thread), the time (a monotonic clock the tests inject), the node's blocks
(``chain.node.blocks.NodeBlocks``) and the way out to peers (``send``: every message this validator broadcasts,
as Besu's code and RLP body). Decided blocks are appended to the node, and the next height starts.

- **Heights start when there is work.** Unless ``empty_blocks``, a height's machine (and so its round timer)
  starts only when this node's mempool holds a transaction or a message for that height arrives; an idle
  consortium makes no blocks, as the single sealer did. Round 0's proposer proposes ``period`` seconds after the
  parent's timestamp (Besu's block timer), or ``period`` seconds after the previous block was decided here if that
  comes first, or at once if both are past: a block that took longer than the period to decide is followed at
  once, with no idle period, while the mempool holds more.
- **A proposal is built within a time budget** (``build_time``, by default :data:`BUILD_SHARE` of the round-0
  timer, as Besu bounds its transaction selection by a share of the block period): a full mempool makes a block
  of what the budget allows, leaving time for the other validators to re-execute it before their round timers
  expire; the rest waits for the next block.
- **Messages for later heights** are kept (``chain.qbft.buffer.FutureMessages``, bounded) and replayed when
  their height starts. One means peers decided a block this node lacks: it asks ``fetch`` for the sealed blocks
  after its head (for a message of the very next height, only if its own decision has not come within
  :data:`NEXT_HEIGHT_WAIT_S`: the validators that decided first move on while the COMMITs that decide it here
  are on their way, and a fetch then only held up the loop) and appends each (seals checked against the parent's
  set, transactions re-executed), so a node that was down or lost its store catches up before it votes again.
  It also asks at start, and every :data:`SYNC_INTERVAL_S` while no height runs, since the last messages of a
  block may have been sent while it was down. A quorum of COMMITs for a block its height's instance did not
  accept (an equivocating proposer sent it another) means the same: it asks at once, and every
  :data:`SYNC_INTERVAL_S` until a peer has the block.
- **Past heights and garbage** are dropped and counted; nothing a peer sends can raise out of the loop.
- **Equivocations** are kept as evidence: a PROPOSAL, PREPARE, COMMIT or ROUND-CHANGE from a validator of the
  current set, for this height or a later one, and each signed message it carries (a proposal's justification, a
  round change's certificate), is compared with what its author signed before for the same height, round and
  type (``chain.qbft.evidence.EquivocationDetector``, bounded); a conflict keeps both bodies as received
  (:attr:`Consensus.equivocations`: ``qbft_getEquivocations``, ``/metrics``). The records and counts are kept in
  the node's store (``chain.node.equivocations``) as they are detected and read back at start: a restart keeps
  them.
- **What this validator signs** is kept in the node's store before it is sent (``chain.node.signed``): after a
  restart mid-height it sends again what it signed before rather than sign a conflicting message.
- **A fresh record abstains.** A node whose store held no record of signed messages (a wiped or new data
  directory) starts no height and keeps every message of its next height in the buffer until it knows the head
  its peers are at (:meth:`Consensus.peers_head`: every peer's first status request has ended and some peer's
  head is known); the record then fixes the height in progress, the one after the higher of that head and its
  own, as the last one it abstains in, and it votes from the next (``chain.node.signed``). Meanwhile it syncs as
  any node does, and its machine counts the others' COMMITs. A store that holds a record waits the same way at
  every start, and abstains the same way if its peers' head is above the head the store held at the start (a
  backup restored, or a node that was down while they decided blocks: the store cannot tell the two apart).
- **What it reports** (:meth:`ConsensusNode.report`, defined in ``chain.node.health``): whether it is in sync
  (the heads peers show: later heights' messages, their status, what a fetch returns) and in quorum (the
  validators among its connected peers), the rounds whose proposer missed them (:attr:`Stats.missed_proposals`)
  and each decided block's time to finality (:attr:`Stats.finality`).

The validator set of a height is the one its parent names in its extra data: the set ConsortiumRegistry listed
on the state the parent left (``Node.validators_after``), so governance changes it from the next block. A node
whose account is not in the set (the regulator's) runs the same loop: its machine never votes, and it follows
the chain from the messages it is sent: a block proposed to it that a quorum of validators' COMMITs then seal is
appended with those seals (checked against the parent's set, re-executed) without asking anyone; a COMMIT for a
block it was not proposed makes it fetch the sealed block from its peers.

``CONSORTIUM_NODE_TRACE=1`` in the node's environment logs a timeline of each height (``chain.node.trace``: a
height started, a block built and why it holds what it holds, messages sent and received, a proposal checked, a
block decided or fetched), which ``python -m bench.qbft_timeline`` reads across the nodes of a network.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

from chain.errors import ChainError, MalformedError
from chain.node import trace
from chain.node.blocks import MAX_DRIFT_S, BlockRefusedError, NodeBlocks, append, decode_block, pending_copy
from chain.node.equivocations import EquivocationLog
from chain.node.health import PEER_WITHHELD_KINDS, Histogram, NodeStatus, SyncEvidence, in_quorum, last_block_age
from chain.node.node import Node, TransactionRefusedError
from chain.node.peerauth import NodeCertificates
from chain.node.peers import (
    MAX_BLOCKS,
    MAX_BLOCKS_BYTES,
    STATUS_INTERVAL_S,
    Handlers,
    PeerLinks,
    PeerServer,
    PeerStatusJSON,
)
from chain.node.signed import SignedLog
from chain.node.store import StoreError
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock, recover
from chain.qbft.buffer import FutureMessages
from chain.qbft.evidence import EquivocationDetector
from chain.qbft.machine import Action, Broadcast, Decided, Height
from chain.qbft.rules import RoundTimer, proposer, quorum
from chain.seal import extra_data

log = logging.getLogger("consortium.node.consensus")

#: Messages waiting for the loop; beyond this, new ones are dropped (and counted).
INBOX = 10_000
#: Longest wait of the loop between looks at its clock and the mempool.
IDLE_WAIT_S = 0.05
#: While no height runs, how often the node asks its peers for blocks it lacks (and once at start).
SYNC_INTERVAL_S = 5.0
#: How far ahead of this node's clock the next block's timestamp may be for a height to start by itself: half
#: the drift validators accept (``chain.node.blocks.MAX_DRIFT_S``), the rest a margin for their clocks.
AHEAD_S = MAX_DRIFT_S // 2
#: After a start, longest time a validator whose turn to propose has come waits for its peers' pending
#: transactions (every peer's first status request ended: those that answered passed theirs on).
READY_WAIT_S = 3.0
#: Proposals of the current height whose arrival is remembered for the time to finality.
SEEN_PROPOSALS = 64
#: How long a node that holds messages of the next height, but not yet the decision of its own, waits for that
#: decision before it fetches the block from its peers (a message two heights ahead: at once).
NEXT_HEIGHT_WAIT_S = 1.0
#: Share of the round-0 timer a proposer may spend executing the transactions of its proposal: the validators
#: re-execute it (on a shared machine, more slowly) and vote before their own timers expire.
BUILD_SHARE = 0.15
#: Proposed blocks, and (round, block) pairs with COMMITs, that a node voting in nothing keeps for its next height.
OBSERVED = 16

Send = Callable[[int, bytes], None]
#: Sealed blocks after a number, as raw RLP, from whichever peer answers.
Fetch = Callable[[int], Sequence[bytes]]


@dataclass
class Stats:
    """What the loop did, for metrics and ``/health``."""

    decided: int = 0
    proposed: int = 0
    synced: int = 0
    garbage: int = 0
    dropped: int = 0
    stale: int = 0
    refused_blocks: int = 0
    round_changes: int = 0
    last_decided_at: float = 0.0
    #: ``clock()`` at the start of the last turn that let the time act (finished): a turn at or after a moment
    #: has seen that moment's timers and pending transactions.
    last_tick_at: float = 0.0
    last_error: str = ""
    reasons: dict[str, int] = field(default_factory=dict)
    #: Per proposer (its address): rounds whose timer expired here before a valid proposal of that round came.
    missed_proposals: dict[bytes, int] = field(default_factory=dict)
    #: Their sum (read by other threads without walking the dict).
    missed_proposals_total: int = 0
    #: Seconds from a decided block's first proposal being built or received here to its append here.
    finality: Histogram = field(default_factory=Histogram)


class Consensus:
    def __init__(
        self,
        node: Node,
        key: PrivateKey,
        send: Send,
        *,
        fetch: Fetch | None = None,
        period: float = 1.0,
        timer: RoundTimer | None = None,
        empty_blocks: bool = False,
        early_round_change: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_decided: Callable[[int, int, float], None] | None = None,
        ready: Callable[[], bool] | None = None,
        ready_wait: float = READY_WAIT_S,
        build_time: float | None = None,
        keys: Callable[[], Sequence[PrivateKey]] | None = None,
    ) -> None:
        """``build_time``: the seconds a proposal's transactions may take to execute (default: :data:`BUILD_SHARE`
        of the round-0 timer); the budget is measured with ``clock``. ``keys``: the other keys this validator may
        seal with, asked at a height's start while ``key``'s account is not in the set that decides it (an account
        rotated, :meth:`_follow_key`)."""
        self.node, self.key, self.send, self.fetch = node, key, send, fetch
        self.keys = keys
        self.ready, self.ready_wait = ready, ready_wait
        #: Whether every peer's first status request has ended (``ready``, kept: a fresh record waits for it).
        self._probed = ready
        self.me = bytes(key.public_key.to_canonical_address())
        self.period, self.timer = period, timer or RoundTimer()
        self.empty_blocks, self.early_round_change = empty_blocks, early_round_change
        self.clock = clock
        self.on_decided = on_decided
        budget = self.timer.duration(0) * BUILD_SHARE if build_time is None else build_time
        self.blocks = NodeBlocks(node, self.me, before_create=self._wait_ready, build_time=budget, clock=clock)
        self._started = clock()
        self.machine: Height | None = None
        self.buffer = FutureMessages()
        #: Evidence of validators that signed conflicting messages (bounded), kept in the node's store.
        self.equivocations = EquivocationDetector()
        self.equivocation_log = EquivocationLog(node.db)
        self.equivocation_log.load(self.equivocations)
        #: What this validator signed, kept in the node's store before it is sent (a restart cannot contradict it).
        self.signed = SignedLog(node.db, self.me)
        self.signed.load(int(node.head().block_number))  # checked against its peers' head before it signs
        self.stats = Stats(last_decided_at=clock() - period)
        self.inbox: queue.Queue[tuple[int, bytes]] = queue.Queue(INBOX)
        #: The heads peers were seen at (``chain.node.health``: "in sync").
        self.evidence = SyncEvidence()
        self._proposals_seen: dict[bytes, float] = {}  # block hash → when its first proposal was built or received
        self._behind = False
        #: (height, when) this node first kept a message of the height after ``height`` while at ``height``.
        self._next_height_since: tuple[int, float] | None = None
        self._catching_up = False  # the last fetch's answer was full: more blocks wait
        #: A node that votes in nothing: the height it watches, the blocks proposed for it (by hash), and the valid
        #: commit seals for each (round, block hash), by author.
        self._observed_height = 0
        self._observed_blocks: dict[bytes, QbftBlock] = {}
        self._observed_seals: dict[tuple[int, bytes], dict[bytes, bytes]] = {}
        self._next_sync = clock()  # at start: a node that was down asks its peers before anything else
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consensus", daemon=True)

    # -- outside ----------------------------------------------------------------------------------------------

    def deliver(self, code: int, body: bytes) -> bool:
        """Queue a message from a peer; False when the inbox is full (the message is dropped)."""
        trace.event("inbox", code=code, size=len(body))
        try:
            self.inbox.put_nowait((code, body))
        except queue.Full:
            self.stats.dropped += 1
            return False
        return True

    def start(self) -> None:
        self._started = self.clock()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    @property
    def height(self) -> int:
        return int(self.node.head().block_number) + 1

    @property
    def round(self) -> int | None:
        return None if self.machine is None else self.machine.round

    @property
    def is_validator(self) -> bool:
        return self.me in extra_data(self.node.head()).validators

    def peer_at(self, head: int) -> None:
        """A peer said its head is ``head`` (its status; called from a peer link's thread). More than one block
        ahead of this node's head, it starts a catch-up."""
        self.evidence.saw(head, self.clock())
        if head > self.height and self.fetch is not None:
            self._behind = True

    def _wait_ready(self) -> None:
        """Before this validator builds a block: right after a start, wait until ``ready`` (every peer's first
        status request ended, so the pending transactions of the peers that answered are in this node's pool),
        at most until ``ready_wait`` after the start. Without it, a validator restarted while its peers held
        transactions, whose turn came before their status probes saw it back, proposed an empty block."""
        if self.ready is None:
            return
        deadline = self._started + self.ready_wait
        while not self.ready() and self.clock() < deadline and not self._stopping.is_set():
            time.sleep(0.01)
        self.ready = None  # once is enough: from then on the peers pass on what they accept

    def peers_head(self) -> int | None:
        """The head this node's peers are at, as far as it can know: the highest one seen once every peer's first
        status request has ended (None before, or while no peer's head is known: a node that finds its peers on
        its chain has none at first, and an empty fetch proves nothing), or at least its own. A node without
        ``fetch`` has no peers, and a validator alone in its set needs none: its own head."""
        head = self.node.head()
        mine = int(head.block_number)
        if self.fetch is None or tuple(extra_data(head).validators) == (self.me,):
            return mine
        if self._probed is not None and not self._probed():
            return None
        seen = self.evidence.head(self.clock())
        return None if seen is None else max(seen, mine)

    def _settle_record(self) -> None:
        """A fresh record of signed messages, once the head its peers are at is known: fix the height it abstains
        through, then start the height that waited (its messages are in the buffer)."""
        if not self.signed.pending:
            return
        head = self.peers_head()
        if head is not None and self.signed.at_head(head) and self.machine is None and len(self.buffer):
            self._machine()

    def in_sync(self) -> bool:
        """In sync (``chain.node.health``): no live evidence that peers are more than one block ahead of this
        node's head, and no catch-up running. While a fetched answer is appended, its last block is the
        evidence; after a full answer, the catch-up runs until the next answer is not full."""
        if self._catching_up:
            return False
        return self.evidence.in_sync(int(self.node.head().block_number), self.clock())

    # -- the loop ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception as exc:  # a bug must not stop consensus silently: log it and go on
                self.stats.last_error = f"{exc.__class__.__name__}: {exc}"
                log.exception("consensus step failed")

    def step(self, wait: float | None = None) -> None:
        """One turn: take a message if one comes before the next timer (or ``wait``), then let the time act."""
        now = self.clock()
        wake = self.machine.next_wake() if self.machine is not None else now + IDLE_WAIT_S
        timeout = min(max(0.0, wake - now), IDLE_WAIT_S) if wait is None else wait
        try:
            code, body = self.inbox.get(timeout=timeout)
        except queue.Empty:
            pass
        else:
            self._receive(code, body)
        since = self._next_height_since
        if since is not None and (since[0] != self.height or self.clock() - since[1] >= NEXT_HEIGHT_WAIT_S):
            self._next_height_since = None
            self._behind = self._behind or (since[0] == self.height and self.fetch is not None)
        if self.fetch is not None and (self._behind or (self.clock() >= self._next_sync and self._stalled())):
            self._catch_up()
        self._settle_record()
        self._tick()

    def _stalled(self) -> bool:
        """No height runs, or the one running cannot decide the block a quorum committed (see :meth:`_receive`)."""
        return self.machine is None or self.machine.committed_elsewhere()

    def _receive(self, code: int, body: bytes) -> None:
        try:
            message = m.decode(code, body)
        except MalformedError:
            self.stats.garbage += 1
            return
        head = self.node.head()
        height = int(head.block_number) + 1
        if trace.enabled:
            trace.event("receive", type=type(message).__name__, height=message.height, round=message.round,
                        author=message.author.hex()[:8], at=height, queued=self.inbox.qsize())  # fmt: skip
        if message.height < height:
            self.stats.stale += 1
            return
        validators = extra_data(head).validators
        self._check_equivocation(code, body, message, height, validators)
        if message.height == height and self.signed.pending:  # kept for the height it starts once at the head
            self.buffer.keep(message, height - 1)
            return
        if message.height > height:
            if message.author in validators:  # a validator of the set is that far: evidence
                self.evidence.saw(message.height - 1, self.clock())
            self.buffer.keep(message, height)
            if message.height > height + 1:
                self._behind = self.fetch is not None
            elif self._next_height_since is None or self._next_height_since[0] != height:
                # the next height's first messages: the validators that decided this one first have moved on,
                # and this node's own decision is usually on its way (their COMMITs); it fetches only if it is
                # still at this height NEXT_HEIGHT_WAIT_S later
                self._next_height_since = (height, self.clock())
            return
        if not self.is_validator:
            self._observe(message, height, validators)
            return
        machine = self._machine()
        self._feed(machine, message, self.clock())
        if isinstance(message, m.Commit) and machine.committed_elsewhere():
            # a quorum committed a block this validator did not accept: those validators decided it, and no
            # later height's message may come to say so while the consortium is idle. It fetches the block
            # now, and every SYNC_INTERVAL_S until a peer has it.
            self._behind = self.fetch is not None

    def _observe(self, message: m.Message, height: int, validators: Sequence[bytes]) -> None:
        """A message of the next height at a node that votes in nothing (the regulator's). It learns of a decision
        from the validators' COMMITs: once those of a quorum, each seal checked, name a block it was proposed (by
        the round's proposer; at most :data:`OBSERVED` blocks a height), it
        appends that block sealed with them (``chain.node.blocks.append`` counts the seals against the parent's
        set, each with the signer recovered here, not recovered again); it executes the block at the first valid
        COMMIT, while the others are on their way. A COMMIT for a block it was not proposed (or a block refused)
        makes it fetch the sealed block from its peers, as it did for every block before: asked as soon as a
        COMMIT came, a peer often had not appended the block yet, and the next try waited for the next height's
        messages."""
        if self._observed_height != height:
            self._observed_height, self._observed_blocks, self._observed_seals = height, {}, {}
        if message.author not in validators:
            return
        if isinstance(message, m.Proposal):
            block = message.block
            due = proposer(tuple(sorted(validators)), bytes(self.node.head().coinbase), message.round)
            if block.number == height and message.author == due and len(self._observed_blocks) < OBSERVED:
                self._observed_blocks.setdefault(block.hash, block)
                self._proposal_seen(block.hash, self.clock())
            return
        if not isinstance(message, m.Commit):
            return
        proposed = self._observed_blocks.get(message.digest)
        key = (message.round, message.digest)
        if proposed is None or (key not in self._observed_seals and len(self._observed_seals) >= OBSERVED):
            self._behind = self.fetch is not None
            return
        block = proposed.with_round(message.round)
        signed = block.commit_digest(message.round)
        try:
            valid = recover(signed, message.seal) == message.author
        except MalformedError:
            valid = False
        if not valid:
            return
        seals = self._observed_seals.setdefault(key, {})
        seals[message.author] = message.seal
        if len(seals) == 1 and not self.blocks.is_valid(block):  # executed now: appending it will not again
            self._behind = self.fetch is not None
            return
        if len(seals) < quorum(len(validators)):
            return
        counted = [seals[author] for author in sorted(seals)]
        recovered = {(signed, seal): author for author, seal in seals.items()}  # appended without recovering again
        self._apply([Decided(block.sealed(message.round, counted), recovered)])
        if int(self.node.head().block_number) < height:  # refused: the peers that decided it have it
            self._behind = self.fetch is not None

    def _check_equivocation(
        self, code: int, body: bytes, message: m.Message, height: int, validators: Sequence[bytes]
    ) -> None:
        """Keep the evidence if ``message``, or a signed message it carries (a justification's, a certificate's),
        conflicts with one its author (a validator of the current set) signed before for the same height, round
        and type (``chain.qbft.evidence``)."""
        records = self.equivocations.observe_all(code, body, message, height, validators)
        for record in records:
            fields = {"validator": to_checksum_address(record.validator), "height": record.height,
                      "round": record.round, "type": record.code.name}  # fmt: skip
            log.warning("validator equivocated", extra={"fields": fields})
        if records:
            try:
                self.equivocation_log.save(self.equivocations)
            except StoreError as exc:  # kept in memory: the next record's save writes it too
                self.stats.last_error = f"evidence not stored: {exc}"
                log.error("equivocation evidence not stored", extra={"fields": {"reason": str(exc)}})

    def _feed(self, machine: Height, message: m.Message, now: float) -> None:
        """Hand a message of its height to ``machine``; a proposal's arrival is remembered (time to finality)."""
        if isinstance(message, m.Proposal):
            self._proposal_seen(message.block.hash, now)
        self._apply(machine.receive(message, now))

    def _proposal_seen(self, block_hash: bytes, now: float) -> None:
        if block_hash not in self._proposals_seen and len(self._proposals_seen) < SEEN_PROPOSALS:
            self._proposals_seen[block_hash] = now

    def _tick(self) -> None:
        started = self.clock()
        if (self.machine is None and not self.signed.pending and (self.empty_blocks or self.node.mempool.pending)
                and self._clock_allows()):  # fmt: skip
            self._machine()
        machine = self.machine
        if machine is not None:
            before, missed = machine.round, dict(machine.counters.missed_proposals)
            self._apply(machine.tick(self.clock()))
            if machine.round != before:
                self.stats.round_changes += 1
            for proposer, count in machine.counters.missed_proposals.items():
                if count > missed.get(proposer, 0):
                    more = count - missed.get(proposer, 0)
                    self.stats.missed_proposals[proposer] = self.stats.missed_proposals.get(proposer, 0) + more
                    self.stats.missed_proposals_total += more
        self.stats.last_tick_at = started

    def _clock_allows(self) -> bool:
        """Whether the next block's timestamp (a second after its parent's, at least) stays within
        :data:`AHEAD_S` of this node's clock. Timestamps count whole seconds and must rise, so blocks that follow
        each other within the second run ahead of the clock, and validators refuse a proposal over
        ``MAX_DRIFT_S`` ahead of theirs: past this point a height waits for the clock rather than time out."""
        return int(self.node.head().timestamp) + 1 <= self.node.clock() + AHEAD_S

    def _machine(self) -> Height:
        """The machine of the current height, started (with the messages kept for it) if it was not."""
        if self.machine is not None and self.machine.height == self.height:
            return self.machine
        head = self.node.head()
        now = self.clock()
        validators = extra_data(head).validators
        self._follow_key(validators)
        # Round 0's proposer proposes a period after the parent's timestamp, as Besu's block timer does, or a
        # period after the previous decision here if that comes first (a period under a second: bursts).
        parent_due = now + (int(head.timestamp) + self.period - self.node.clock())
        self.machine = Height(
            self.key,
            int(head.block_number) + 1,
            validators,
            bytes(head.coinbase),
            self.blocks,
            now=now,
            propose_at=max(now, min(self.stats.last_decided_at + self.period, parent_due)),
            timer=self.timer,
            early_round_change=self.early_round_change,
            signed=self.signed,
        )
        machine = self.machine
        if trace.enabled:
            trace.event("height", height=machine.height, propose_in=round(machine.propose_at - now, 4),
                        proposer=machine.proposer(0) == self.me, pending=len(self.node.mempool.pending),
                        parent_timestamp=int(head.timestamp), buffered=len(self.buffer))  # fmt: skip
        for message in self.buffer.take(machine.height):
            if machine.is_validator:
                self._feed(machine, message, now)
            elif self.height == machine.height:  # not decided by the messages replayed before it
                self._observe(message, machine.height, machine.validators)
        return machine

    def _follow_key(self, validators: Sequence[bytes]) -> None:
        """Before a height starts: when this node's account is not in the set that decides it and another key it
        holds (``keys``) is, that key signs from this height on. A validator's account rotated by governance
        (``consortium identity rotate-account``: the new account added to its member, then the old one removed, so
        the set names the new one from the block after the removal) so changes with no restart and no height
        missed; the node's record of what it signed is kept under the new account (``SignedLog.rekey``)."""
        if self.keys is None or self.me in validators:
            return
        try:
            held = self.keys()
        except Exception as exc:  # a key file that cannot be read now: asked again at the next height
            log.warning("the other sealing keys cannot be read", extra={"fields": {"reason": str(exc)}})
            return
        for key in held:
            address = bytes(key.public_key.to_canonical_address())
            if address != self.me and address in validators:
                before = self.me
                self.key, self.me = key, address
                self.blocks.proposer = address
                self.signed.rekey(address)
                fields = {"from": to_checksum_address(before), "to": to_checksum_address(address)}
                log.warning("this validator seals with its rotated account from here", extra={"fields": fields})
                return

    def _apply(self, actions: list[Action]) -> None:
        """Send every message the machine broadcast, then append the block it decided, if it did."""
        decision = None
        for action in actions:
            if isinstance(action, Broadcast):
                if isinstance(action.message, m.Proposal):
                    self.stats.proposed += 1
                    self._proposal_seen(action.message.block.hash, self.clock())
                code, body = m.encode(action.message)
                if trace.enabled:
                    message = action.message
                    trace.event("send", type=type(message).__name__, height=message.height, round=message.round,
                                size=len(body))  # fmt: skip
                self.send(int(code), body)
            elif decision is None:
                decision = action
        if decision is None:
            return
        decided = decision.block
        proposed_at = self._proposals_seen.get(decided.hash)
        self._proposals_seen.clear()  # the head moves on (or was moved by a sync): they were all of this height
        started = self.clock()
        try:
            stored = self.blocks.decided(decided, decision.recovered)
        except (BlockRefusedError, ChainError) as exc:
            # the machine checked the seals; a refusal here means this node's head moved (a sync)
            self.stats.refused_blocks += 1
            self.stats.last_error = str(exc)
            log.warning("decided block not appended", extra={"fields": {"reason": str(exc)}})
            self.machine = None
            return
        if proposed_at is not None:
            self.stats.finality.observe(max(0.0, self.clock() - proposed_at))
        trace.event("decided", height=int(stored.number), round=decided.extra.round,
                    transactions=len(stored.transactions), append_s=round(self.clock() - started, 4))  # fmt: skip
        self._decided(int(stored.number), len(stored.transactions), started, decided.extra.round)

    def _decided(self, number: int, transactions: int, started: float, round_: int) -> None:
        self.stats.decided += 1
        self.stats.last_decided_at = self.clock()
        if self.machine is not None:
            for reason, count in self.machine.counters.reasons.items():
                self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + count
        self.machine = None
        log.info("block decided", extra={"fields": {"number": number, "round": round_, "transactions": transactions}})
        if self.on_decided is not None:
            self.on_decided(number, transactions, self.clock() - started)
        if len(self.buffer):
            self._machine()  # messages for the next height are waiting: start it now

    def _catch_up(self) -> None:
        """Fetch and append the sealed blocks peers decided after this node's head. A full answer (one that may
        have been cut at ``chain.node.peers.MAX_BLOCKS`` or ``MAX_BLOCKS_BYTES``) means more wait: the next turn
        fetches again, and the catch-up counts as running until an answer is not full."""
        self._behind = False
        self._next_sync = self.clock() + SYNC_INTERVAL_S
        assert self.fetch is not None
        first = self.height
        asked = self.clock()
        try:
            raws = self.fetch(first)
            trace.event("fetch", first=first, blocks=len(raws), fetch_s=round(self.clock() - asked, 4))
        except (OSError, ChainError) as exc:
            self.stats.last_error = f"sync: {exc}"
            self._catching_up = False
            return
        full = len(raws) >= MAX_BLOCKS or 2 * sum(len(raw) for raw in raws) >= MAX_BLOCKS_BYTES
        self._catching_up = full
        if raws:
            self.evidence.saw(first + len(raws) - 1, self.clock())  # a peer holds them
        appended = 0
        pending = pending_copy(self.node)
        for raw in raws:
            try:
                stored = append(self.node, decode_block(raw, pending))
            except (BlockRefusedError, MalformedError) as exc:
                self.stats.refused_blocks += 1
                self.stats.last_error = f"sync: {exc}"
                break
            appended += 1
            self.stats.synced += 1
            trace.event("synced", height=int(stored.number), transactions=len(stored.transactions))
            self.machine = None
        if appended:
            self._proposals_seen.clear()
        self._catching_up = full and appended == len(raws)
        if self._catching_up:
            self._behind = True
        if self.machine is None and len(self.buffer) and not self.signed.pending:
            self._machine()


class ConsensusNode:
    """One member's node on the consortium's network: its consensus loop, its peer server, its links out.

    Start it, then :meth:`connect` it to the other nodes' peer URLs (known once their servers listen)."""

    def __init__(
        self,
        node: Node,
        key: PrivateKey,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        certificates: NodeCertificates | None = None,
        status_interval: float = STATUS_INTERVAL_S,
        **consensus: Any,
    ) -> None:
        self.node, self.client_ssl, self.status_interval = node, client_ssl, status_interval
        self.links: PeerLinks | None = None
        consensus.setdefault("ready", self._probed)
        self.consensus = Consensus(node, key, self._broadcast, fetch=self._fetch, **consensus)
        detector = self.consensus.equivocations  # its evidence, at GET /qbft/v1/equivocations as over JSON-RPC
        handlers = Handlers(self.consensus.deliver, self._gossiped, self.status, lambda: tuple(detector.records))
        self.server = PeerServer(node, handlers, host, port, server_ssl, certificates)
        node.on_submit = self._gossip

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()
        self.consensus.start()

    def connect(self, urls: Sequence[str]) -> None:
        links = PeerLinks(
            [u for u in urls if u != self.url],
            self.client_ssl,
            status_interval=self.status_interval,
            on_head=lambda _url, head: self.consensus.peer_at(head),
            on_connect=self._connected,
            rule=lambda: self.server.certificates,  # the peer server's rule holds for the peers' servers too
        )
        self.links = links  # before the links start: a peer's first answer already calls _connected
        links.start()

    def add_peer(self, url: str) -> bool:
        """Link to one more node while running (its endpoint was published on chain); False if it is this node or
        linked already."""
        if self.links is None or url == self.url:
            return False
        return self.links.add(url)

    def remove_peer(self, url: str) -> bool:
        """Stop linking to a node while running (its endpoint ended on chain); False if it was not linked."""
        return self.links is not None and self.links.remove(url)

    def stop(self) -> None:
        self.consensus.stop()
        if self.links is not None:
            self.links.stop()
        self.server.stop()
        self.node.on_submit = None

    def status(self) -> PeerStatusJSON:
        """What ``GET /qbft/v1/status`` answers a peer: this node's account, head, height and round."""
        head = self.node.head()
        return {
            "address": to_checksum_address(self.consensus.me),
            "head": int(head.block_number),
            "hash": "0x" + bytes(head.hash).hex(),
            "height": int(head.block_number) + 1,
            "round": self.consensus.round,
            "validator": self.consensus.is_validator,
            "decided": self.consensus.stats.decided,
            "proposed": self.consensus.stats.proposed,
            "round_changes": self.consensus.stats.round_changes,
            "synced": self.consensus.stats.synced,
            "peers": len(self.links.urls) if self.links else 0,
            "peers_connected": sum(self.links.connected.values()) if self.links else 0,
        }

    def report(self) -> NodeStatus:
        """This node's status, health and counters (``consortium_nodeStatus``, ``GET /health``, ``/metrics``;
        the definitions are in ``chain.node.health``)."""
        consensus, links = self.consensus, self.links
        head = self.node.head()
        number = int(head.block_number)
        validators = tuple(extra_data(head).validators)
        machine = consensus.machine
        connected = links.connected_addresses() if links is not None else []
        signed = consensus.signed.counts(number)
        return NodeStatus(
            head=number,
            hash=bytes(head.hash),
            mode="validator" if consensus.me in validators else "follower",
            height=number + 1,
            round=machine.round if machine is not None and machine.height == number + 1 else None,
            validators=validators,
            peers=len(links.urls) if links is not None else 0,
            peers_connected=len(connected),
            in_sync=consensus.in_sync(),
            in_quorum=in_quorum(validators, consensus.me, connected),
            round_changes=consensus.stats.round_changes,
            proposed=consensus.stats.proposed,
            missed_proposals=consensus.stats.missed_proposals_total,
            synced=consensus.stats.synced,
            last_block_age_seconds=last_block_age(self.node, head),
            missed_by_proposer=tuple(sorted(consensus.stats.missed_proposals.items())),
            abstaining=bool(signed.abstaining) and consensus.me in validators,
            abstained_heights=signed.abstained_heights,
            signed_conflicts_refused=signed.conflicts_refused,
            peer_withheld=tuple(
                (kind, links.refused[kind] if links is not None else 0) for kind in PEER_WITHHELD_KINDS
            ),
            peer_requests_refused=self.server.refused,
        )

    def _broadcast(self, code: int, body: bytes) -> None:
        if self.links is not None:
            self.links.broadcast(code, body)

    def _fetch(self, first: int) -> Sequence[bytes]:
        return [] if self.links is None else self.links.fetch_blocks(first)

    def _gossip(self, raw: bytes) -> None:
        if self.links is not None:
            self.links.gossip(raw)

    def _probed(self) -> bool:
        return self.links is not None and self.links.probed()

    def _connected(self, url: str) -> None:
        """A peer answers (again): pass it the pending transactions, which it may have missed while it was down
        or before it started, so that it has them when its turn to propose comes; and take its own, which this
        node may have missed (after a start its pool is empty)."""
        if self.links is None:
            return
        self.links.send_transactions(url, self.node.pending_raw())
        for raw in self.links.fetch_transactions(url):
            with contextlib.suppress(TransactionRefusedError, MalformedError):
                self.node.submit(raw, gossip=False, hold=True)  # known ones are refused: nothing to do

    def _gossiped(self, raw: bytes) -> None:
        self.node.submit(raw, gossip=False, hold=True)
