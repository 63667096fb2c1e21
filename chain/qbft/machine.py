"""One validator's QBFT state machine for one height, after the EEA QBFT specification and its Dafny model.

The machine does no I/O. It is fed messages (:meth:`Height.receive`) and the time (:meth:`Height.tick`), and
answers with what to do: :class:`Broadcast` a message to every validator (its own messages it has already
applied to itself), or :class:`Decided`, the block sealed by a quorum of commit seals. The node supplies the
two things that need execution (:class:`Blocks`): whether a proposed block is valid on its parent, and a new
block for a round this validator proposes.

The rules, with ``n`` validators, ``q = ceil(2n/3)`` and ``f = floor((n-1)/3)``:

- **round 0**: its proposer proposes a new block once the block period has passed (``propose_at``);
- **PROPOSAL** from the round's proposer, valid and justified: accepted once per round; every validator (the
  proposer too) answers with a PREPARE. A proposal for a later round that is justified moves to that round;
- **prepared**: ``q`` PREPAREs for the accepted block; the validator records the round, the block and the
  certificate, and sends a COMMIT with its seal over the block's commit digest;
- **decided**: ``q`` COMMITs with valid seals for a block accepted in some round: the block, with those seals;
- **round timer**: round ``r`` lasts ``base × 2^r`` (capped); when it expires the validator moves to ``r+1`` and
  sends a ROUND-CHANGE carrying its prepared round, block and certificate. If no valid proposal for ``r`` had
  been accepted by then, the round's proposer is counted as having missed it (:attr:`Counters.missed_proposals`);
- **early round change** (on by default): ROUND-CHANGEs for rounds above the current one from ``f+1``
  validators move it to the highest round that ``f+1`` of them asked for, and it sends its own;
- **new round**: ``q`` valid ROUND-CHANGEs for a round at or above the current one move the validator there;
  that round's proposer proposes the block of the highest prepared certificate among them (same block, new
  round: its hash does not change) or, if none was prepared, a new block, and attaches the round changes and
  that certificate as the justification.

**Justification** of a proposal: in round 0, none may be attached and the block is the proposer's own (its
beneficiary); in round ``r > 0``, ``q`` ROUND-CHANGEs for ``(height, r)`` from distinct validators, each with a
prepared round below ``r``, and either none of them prepared (then the block is the proposer's own and no
PREPARE is attached) or the block is the one named by a round change with the highest prepared round and ``q``
PREPAREs from distinct validators for that round and block come with it. A ROUND-CHANGE's certificate is
checked the same way. Messages from non-validators, for other heights, duplicates and anything malformed are
ignored; prepares and commits that arrive before their proposal are kept (bounded) and counted once it does.

**What it signs** passes through ``signed`` (:class:`Signed`, the node's ``chain.node.signed.SignedLog``) before
it is applied here or broadcast: kept durably first, and after a restart a message that conflicts with one this
validator signed before for the same height, round and type is replaced by that one. A COMMIT is kept with the
certificate it follows from, and a machine started on a height it committed in before a restart starts prepared
with it: its ROUND-CHANGEs carry it, as QBFT's locking requires.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from eth_keys.datatypes import PrivateKey

from chain.errors import MalformedError
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock, Recovered, recover
from chain.qbft.rules import RoundTimer, faults, proposer, quorum

#: Rounds ahead of the current one for which PREPAREs and COMMITs are kept before the validator gets there.
FUTURE_ROUNDS = 10
#: Different rounds for which one author's ROUND-CHANGEs are kept (its highest ones).
ROUND_CHANGES_PER_AUTHOR = 4
#: Different digests for which one author's PREPAREs or COMMITs are kept in one round (an honest one sends 1).
DIGESTS_PER_AUTHOR = 2
#: Commit seals whose check is remembered in one height (beyond, they are checked again each time they count).
SEALS_CHECKED = 1024


Vote = TypeVar("Vote", m.Prepare, m.Commit)


class Blocks(Protocol):
    def is_valid(self, block: QbftBlock) -> bool:
        """Whether ``block`` is a valid next block on this height's parent (header rules and execution)."""
        ...

    def create(self, round_: int) -> QbftBlock:
        """A new block for this height proposed by this validator in ``round_`` (unsealed)."""
        ...


#: A prepared certificate: the round, the block, the PREPAREs of a quorum.
Certificate = tuple[int, QbftBlock, tuple[m.Prepare, ...]]


class Signed(Protocol):
    def keep(self, message: m.Message, prepared: Certificate | None = None) -> m.Message | None:
        """What to send for ``message``, which this validator has just signed: ``message`` once it is kept durably
        (a COMMIT with the certificate ``prepared`` it follows from); the message this validator signed before
        for the same height, round and type if ``message`` conflicts with it (after a restart); None to send
        nothing."""
        ...

    def prepared(self, height: int) -> Certificate | None:
        """The certificate kept with this validator's last COMMIT at ``height``, if it sent one."""
        ...


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: m.Message


@dataclass(frozen=True, slots=True)
class Decided:
    block: QbftBlock
    #: The block's seals as this machine checked them, ``(commit digest, seal) → author``: the node appends the
    #: block without recovering them again (``chain.seal.verify_seals``).
    recovered: Recovered = field(default_factory=dict)


Action = Broadcast | Decided


@dataclass(slots=True)
class Counters:
    """What the machine did, for metrics and tests."""

    proposals: int = 0
    round_changes: int = 0
    early_round_changes: int = 0
    ignored: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    #: Per proposer: rounds whose timer expired here before a valid proposal of that round was accepted.
    missed_proposals: dict[bytes, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    round: int
    block: QbftBlock
    prepares: tuple[m.Prepare, ...]


class Height:
    """The consensus instance of one validator (``key``) for block ``height``."""

    def __init__(
        self,
        key: PrivateKey,
        height: int,
        validators: Sequence[bytes],
        previous_proposer: bytes,
        blocks: Blocks,
        *,
        now: float,
        propose_at: float | None = None,
        timer: RoundTimer | None = None,
        early_round_change: bool = True,
        signed: Signed | None = None,
    ) -> None:
        if height < 1:
            raise ValueError("consensus starts at height 1")
        self.key = key
        self.me = key.public_key.to_canonical_address()
        self.height = height
        self.validators = tuple(sorted(validators))
        if len(set(self.validators)) != len(self.validators) or not self.validators:
            raise ValueError("validators must be distinct and at least one")
        self.previous_proposer = previous_proposer
        self.blocks = blocks
        self.timer = timer or RoundTimer()
        self.early_round_change = early_round_change
        self.signed = signed
        self.quorum = quorum(len(self.validators))
        self.faults = faults(len(self.validators))
        self.round = 0
        self.round_started = now
        self.propose_at = now if propose_at is None else propose_at
        self.prepared: Prepared | None = None
        restored = signed.prepared(height) if signed is not None else None
        if restored is not None:  # what it prepared before a restart: its ROUND-CHANGEs carry it again
            self.prepared = Prepared(*restored)
        self.decided: QbftBlock | None = None
        self.counters = Counters()
        self._accepted: dict[int, m.Proposal] = {}
        self._proposed: set[int] = set()
        self._committed_in: set[int] = set()
        self._prepares: dict[int, dict[bytes, dict[bytes, m.Prepare]]] = {}  # round → author → digest → msg
        self._commits: dict[int, dict[bytes, dict[bytes, m.Commit]]] = {}
        self._round_changes: dict[bytes, dict[int, m.RoundChange]] = {}  # author → round → msg
        #: Commit seals checked: (round, digest, seal, author) → whether it holds; at most SEALS_CHECKED.
        self._seals_checked: dict[tuple[int, bytes, bytes, bytes], bool] = {}
        self._out: list[Action] = []

    # -- the interface -------------------------------------------------------------------------------------------

    def proposer(self, round_: int) -> bytes:
        return proposer(self.validators, self.previous_proposer, round_)

    @property
    def is_validator(self) -> bool:
        return self.me in self.validators

    def deadline(self) -> float:
        """When the current round's timer expires."""
        return self.round_started + self.timer.duration(self.round)

    def next_wake(self) -> float:
        """The earliest time at which :meth:`tick` has something to do (infinity once decided)."""
        if self.decided is not None or not self.is_validator:
            return math.inf
        wake = self.deadline()
        if self.round == 0 and 0 not in self._proposed and self.proposer(0) == self.me:
            wake = min(wake, self.propose_at)
        return wake

    def committed_elsewhere(self) -> bool:
        """Whether a quorum of validators sent COMMITs for one block in one round while this validator has
        decided none: it accepted another proposal of that round (an equivocating proposer's), or none. It cannot
        decide that block without its body; the validators that committed it hold it, or will."""
        if self.decided is not None:
            return False
        for by_author in self._commits.values():
            counts: dict[bytes, int] = {}
            for by_digest in by_author.values():
                for digest in by_digest:
                    counts[digest] = counts.get(digest, 0) + 1
            if max(counts.values(), default=0) >= self.quorum:
                return True
        return False

    def tick(self, now: float) -> list[Action]:
        """Let the time be ``now``: propose in round 0 once the block period is over; expire the round timer."""
        if self.decided is None and self.is_validator:
            if self.round == 0 and now >= self.propose_at and self.proposer(0) == self.me and 0 not in self._proposed:
                self._propose(0, (), None)
            if now >= self.deadline():
                if self.round not in self._accepted:
                    missed = self.proposer(self.round)
                    self.counters.missed_proposals[missed] = self.counters.missed_proposals.get(missed, 0) + 1
                self._start_round(self.round + 1, now)
                self.counters.round_changes += 1
                self._send_round_change()
        return self._flush()

    def receive(self, message: m.Message, now: float) -> list[Action]:
        """Apply a message from the network (already decoded, its author recovered)."""
        if self.decided is not None or not self.is_validator:
            return self._flush()
        if message.height != self.height:
            self._ignore("other height")
        elif message.author not in self.validators:
            self._ignore("not a validator")
        elif isinstance(message, m.Proposal):
            self._on_proposal(message, now)
        elif isinstance(message, m.Prepare):
            self._on_prepare(message)
        elif isinstance(message, m.Commit):
            self._on_commit(message)
        else:
            self._on_round_change(message, now)
        return self._flush()

    # -- handlers ----------------------------------------------------------------------------------------------

    def _on_proposal(self, p: m.Proposal, now: float) -> None:
        if p.round < self.round:
            return self._ignore("proposal for a past round")
        if p.round in self._accepted:
            return self._ignore("second proposal for a round")
        if p.author != self.proposer(p.round):
            return self._ignore("proposal from a validator that is not the round's proposer")
        reason = self._unjustified(p)
        if reason:
            return self._ignore(reason)
        if p.round > self.round:
            self._start_round(p.round, now)
        self._accepted[p.round] = p
        self._send(m.prepare(self.key, self.height, p.round, p.block.hash))
        self._check_prepared(p.round)
        self._check_committed(p.round)

    def _on_prepare(self, msg: m.Prepare) -> None:
        if not self._keep(self._prepares, msg):
            return
        self._check_prepared(msg.round)

    def _on_commit(self, msg: m.Commit) -> None:
        accepted = self._accepted.get(msg.round)
        if accepted is not None and not self._seal_ok(msg, accepted.block):
            return self._ignore("commit seal does not match its author")
        if not self._keep(self._commits, msg):
            return
        self._check_committed(msg.round)

    def _on_round_change(self, rc: m.RoundChange, now: float) -> None:
        if rc.round < max(self.round, 1):
            return self._ignore("round change for a past round")
        reason = ""
        if rc.prepared_round is not None:
            reason = self._bad_certificate(rc.prepared_round, rc.prepared_digest, rc.round, rc.block, rc.prepares)
        if reason:
            return self._ignore(f"round change: {reason}")
        mine = self._round_changes.setdefault(rc.author, {})
        if rc.round in mine:
            return self._ignore("duplicate round change")
        mine[rc.round] = rc
        while len(mine) > ROUND_CHANGES_PER_AUTHOR:
            del mine[min(mine)]
        if self.early_round_change:
            self._maybe_early_round_change(now)
        self._maybe_new_round(now)

    # -- rules -------------------------------------------------------------------------------------------------

    def _check_prepared(self, round_: int) -> None:
        accepted = self._accepted.get(round_)
        if accepted is None or round_ != self.round or round_ in self._committed_in:
            return
        digest = accepted.block.hash
        votes = [by_digest[digest] for by_digest in self._prepares.get(round_, {}).values() if digest in by_digest]
        if len(votes) < self.quorum:
            return
        certificate = (round_, accepted.block, tuple(sorted(votes, key=lambda v: v.author)))
        if self.prepared is None or round_ > self.prepared.round:  # one restored after a restart may be as late
            self.prepared = Prepared(*certificate)
        self._committed_in.add(round_)
        self._send(m.commit(self.key, accepted.block, round_), certificate)

    def _check_committed(self, round_: int) -> None:
        accepted = self._accepted.get(round_)
        if accepted is None or self.decided is not None:
            return
        digest = accepted.block.hash
        counted = []
        for author in sorted(self._commits.get(round_, {})):
            commit = self._commits[round_][author].get(digest)
            if commit is not None and self._seal_ok(commit, accepted.block):
                counted.append(commit)
        if len(counted) >= self.quorum:
            self.decided = accepted.block.sealed(round_, [c.seal for c in counted])
            signed = accepted.block.commit_digest(round_)  # what each counted seal was checked over
            self._out.append(Decided(self.decided, {(signed, c.seal): c.author for c in counted}))

    def _maybe_early_round_change(self, now: float) -> None:
        highest = sorted((max(rounds) for rounds in self._round_changes.values() if max(rounds) > self.round),
                         reverse=True)  # fmt: skip
        if len(highest) < self.faults + 1:
            return
        self._start_round(highest[self.faults], now)  # the highest round that f+1 validators asked for
        self.counters.early_round_changes += 1
        self._send_round_change()

    def _maybe_new_round(self, now: float) -> None:
        by_round: dict[int, list[m.RoundChange]] = {}
        for rounds in self._round_changes.values():
            for r, rc in rounds.items():
                if r >= self.round:
                    by_round.setdefault(r, []).append(rc)
        ready = [r for r, rcs in by_round.items() if len(rcs) >= self.quorum]
        if not ready:
            return
        target = max(ready)
        if target > self.round:
            self._start_round(target, now)
        if self.proposer(target) != self.me or target in self._proposed:
            return
        rcs = tuple(sorted(by_round[target], key=lambda rc: rc.author))
        best = max((rc for rc in rcs if rc.prepared_round is not None),
                   key=lambda rc: rc.prepared_round or 0, default=None)  # fmt: skip
        self._propose(target, rcs, best)

    def _propose(self, round_: int, rcs: tuple[m.RoundChange, ...], best: m.RoundChange | None) -> None:
        self._proposed.add(round_)
        if best is not None and best.block is not None:
            block, prepares = best.block.with_round(round_), best.prepares
        else:
            block, prepares = self.blocks.create(round_), ()
        self.counters.proposals += 1
        self._send(m.proposal(self.key, block, round_, rcs, prepares))

    # -- checks ------------------------------------------------------------------------------------------------

    def _unjustified(self, p: m.Proposal) -> str:
        """Why proposal ``p`` is not justified, or "" if it is."""
        block = p.block
        if block.number != self.height:
            return "proposed block is for another height"
        if block.extra.round != p.round or block.extra.seals:
            return "proposed block carries another round or seals"
        if p.round == 0:
            if p.round_changes or p.prepares:
                return "round-0 proposal carries a justification"
            if block.proposer != p.author:
                return "round-0 block is not the proposer's own"
        else:
            reason = self._round_changes_justify(p)
            if reason:
                return reason
        if not self.blocks.is_valid(block):
            return "proposed block is not valid"
        return ""

    def _round_changes_justify(self, p: m.Proposal) -> str:
        rcs = p.round_changes
        authors = {rc.author for rc in rcs}
        if len(authors) != len(rcs) or len(authors) < self.quorum or not authors <= set(self.validators):
            return "justification lacks a quorum of round changes from distinct validators"
        for rc in rcs:
            if rc.height != self.height or rc.round != p.round:
                return "justification holds a round change for another height or round"
            if rc.prepared_round is not None and rc.prepared_round >= p.round:
                return "justification holds a round change prepared at or after the proposal's round"
        prepared = [rc for rc in rcs if rc.prepared_round is not None]
        if not prepared:
            if p.prepares:
                return "justification carries prepares but no round change was prepared"
            if p.block.proposer != p.author:
                return "new block in a later round is not the proposer's own"
            return ""
        highest = max(rc.prepared_round or 0 for rc in prepared)
        named = {rc.prepared_digest for rc in prepared if rc.prepared_round == highest}
        if p.block.hash not in named:
            return "proposed block is not the highest prepared block"
        return self._bad_certificate(highest, p.block.hash, p.round, p.block, p.prepares)

    def _bad_certificate(
        self, pr: int, digest: bytes | None, below: int, block: QbftBlock | None, prepares: tuple[m.Prepare, ...]
    ) -> str:
        """Why ``prepares`` do not prove that ``block`` (named ``digest``) was prepared in round ``pr``, a round
        below ``below``; "" if they do."""
        if block is None or pr >= below:
            return "prepared round without its block, or not below the round"
        if block.hash != digest:
            return "prepared block does not match the prepared digest"
        if block.number != self.height:
            return "prepared block is for another height"
        authors = {p.author for p in prepares}
        if len(authors) != len(prepares) or len(authors) < self.quorum or not authors <= set(self.validators):
            return "prepared certificate lacks a quorum of prepares from distinct validators"
        if any(p.height != self.height or p.round != pr or p.digest != block.hash for p in prepares):
            return "prepared certificate holds a prepare for another height, round or block"
        return ""

    def _seal_ok(self, commit: m.Commit, block: QbftBlock) -> bool:
        """Whether ``commit``'s seal, if it names ``block``, was signed by its author over the block's commit digest
        for its round. A commit's seal is checked once: each later COMMIT makes the machine count them all again,
        and the answer is kept (the block hash names the header, so with the round it names the digest)."""
        if commit.digest != block.hash:
            return True  # counted for no block: nothing to check
        key = (commit.round, commit.digest, commit.seal, commit.author)
        ok = self._seals_checked.get(key)
        if ok is None:
            try:
                ok = recover(block.commit_digest(commit.round), commit.seal) == commit.author
            except MalformedError:
                ok = False
            if len(self._seals_checked) < SEALS_CHECKED:
                self._seals_checked[key] = ok
        return ok

    # -- bookkeeping -------------------------------------------------------------------------------------------

    def _keep(self, store: dict[int, dict[bytes, dict[bytes, Vote]]], msg: Vote) -> bool:
        past_but_accepted = isinstance(msg, m.Commit) and msg.round in self._accepted
        if not (self.round <= msg.round <= self.round + FUTURE_ROUNDS or past_but_accepted):
            self._ignore("prepare or commit outside the rounds kept")
            return False
        by_digest = store.setdefault(msg.round, {}).setdefault(msg.author, {})
        if msg.digest in by_digest:
            self._ignore("duplicate prepare or commit")
            return False
        if len(by_digest) >= DIGESTS_PER_AUTHOR:
            self._ignore("too many conflicting messages from one author")
            return False
        by_digest[msg.digest] = msg
        return True

    def _start_round(self, round_: int, now: float) -> None:
        self.round, self.round_started = round_, now
        for old in [r for r in self._prepares if r < round_]:
            del self._prepares[old]

    def _send_round_change(self) -> None:
        prepared = None
        if self.prepared is not None:
            prepared = (self.prepared.round, self.prepared.block, self.prepared.prepares)
        self._send(m.round_change(self.key, self.height, self.round, prepared))

    def _send(self, message: m.Message, prepared: Certificate | None = None) -> None:
        if self.signed is not None:
            kept = self.signed.keep(message, prepared)
            if kept is None:
                return self._ignore("own message not kept, so not sent")
            if kept is not message:
                self._ignore("own message conflicts with one signed before: that one sent again")
            message = kept
        self._out.append(Broadcast(message))
        if isinstance(message, m.Proposal):
            self._on_proposal(message, self.round_started)
        elif isinstance(message, m.Prepare):
            self._on_prepare(message)
        elif isinstance(message, m.Commit):
            self._on_commit(message)
        else:
            self._on_round_change(message, self.round_started)

    def _ignore(self, reason: str) -> None:
        self.counters.ignored += 1
        self.counters.reasons[reason] = self.counters.reasons.get(reason, 0) + 1

    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out
