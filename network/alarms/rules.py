"""The alarm rules: pure functions from a snapshot of the components' health to the conditions that hold now.

A :class:`Snapshot` is what one round of probing saw (``network.alarms.probe``): each witness, chain node,
gateway and the notary, answering or not, with the figures its health endpoint reports. :func:`evaluate`
turns it into :class:`Condition` s, each naming its rule, its subject (the component), a severity and a
one-line summary. No I/O, no clock: rules that look for something *rising* compare the snapshot with a
``baseline`` (the snapshot of a window ago, which the caller keeps), and ``anchoring-behind`` reads an
:class:`AnchoringWait`, what an :class:`AnchoringWatch` the caller keeps remembers of the notary's sizes.
Whether a condition becomes an alarm, and when it is resolved, is the :class:`network.alarms.book.AlarmBook` 's
business (hold-down).

The rules (docs/alarms.md):

- ``witness-down``: a witness does not answer ``/healthz``.
- ``witness-quorum``: fewer witnesses up than the notary's policy needs plus one (warning: one more failure
  stops publication), or fewer than it needs, or no required regulator up (critical: checkpoints are not
  published).
- ``node-down``: a chain node does not answer; ``node-unhealthy``: it answers but is not in sync or not in
  quorum (the definitions of docs/consensus.md).
- ``chain-quorum``: validators up and in quorum fewer than ``quorum(n)`` plus one (warning) or than
  ``quorum(n)`` (critical: no block can be decided).
- ``missed-proposals``: a validator's missed proposals (``missedProposalsBy`` as any node counts them) rose
  since the baseline.
- ``validator-abstaining``: a validator sits out voting, or sat out a height since the baseline, because its
  record of signed messages is fresh (its data directory was wiped or lost) or behind its peers (restored from a
  backup, or the node was down while they decided blocks: ``chain.node.signed``).
- ``signed-conflicts``: a validator's count of messages it refused to sign, since they conflicted with ones it
  had signed before, rose since the baseline.
- ``notary-down``: the notary does not answer.
- ``anchoring-behind``: a published size has waited :data:`ANCHORING_BEHIND_S` or more to be anchored, or
  anchoring steps have failed at every evaluation for as long. A healthy notary is always a little behind (it
  anchors every 10 s while the log grows), so trailing the published size is no alarm in itself.
- ``sequence-gap``: the notary has open gaps in gateways' sequence numbers.
- ``notary-integrity``: the notary has open integrity alarms (a split view, an anchor, checkpoint or object
  mismatch; its ``/v1/alarms``); it resolves once an operator resolved them all there.
- ``gateway-down``: a gateway's admin endpoint does not answer; ``gateway-outbox``: its outbox is filling
  (warning at half, critical at :data:`OUTBOX_CRITICAL` of its capacity, or at the :class:`Limits` given);
  ``quota-store``: the shared quota store it counts quotas in (PostgreSQL) cannot be reached, so it refuses
  every call under a quota (503 ``quota_unavailable``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from chain.qbft.rules import quorum

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

#: Share of a gateway's outbox capacity at which ``gateway-outbox`` is a warning, and critical (the gateway's own
#: ``outbox-high`` alarm is at 0.8).
OUTBOX_WARNING = 0.5
OUTBOX_CRITICAL = 0.8
#: Seconds a published size may wait to be anchored, and anchoring steps may fail, before ``anchoring-behind``
#: holds: the notary anchors every 10 s and the chain takes a block or two, so a healthy one anchors a size
#: within about 15 s of publishing it.
ANCHORING_BEHIND_S = 60.0
#: Published sizes an :class:`AnchoringWatch` remembers, each with when it was first seen.
KEEP_PUBLISHED = 64

RULES = (
    "witness-down",
    "witness-quorum",
    "node-down",
    "node-unhealthy",
    "chain-quorum",
    "missed-proposals",
    "validator-abstaining",
    "signed-conflicts",
    "notary-down",
    "anchoring-behind",
    "sequence-gap",
    "notary-integrity",
    "gateway-down",
    "gateway-outbox",
    "quota-store",
)


@dataclass(frozen=True, slots=True)
class Limits:
    """The rules' thresholds an operator may set (``DIR/up.toml``, ``network.upsettings``): the shares of a gateway's
    outbox capacity at which ``gateway-outbox`` is a warning and critical; the seconds a published size may wait to
    be anchored, and anchoring steps may fail, before ``anchoring-behind`` holds."""

    outbox_warning: float = OUTBOX_WARNING
    outbox_critical: float = OUTBOX_CRITICAL
    anchoring_behind_s: float = ANCHORING_BEHIND_S


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class WitnessProbe:
    org: str
    up: bool


@dataclass(frozen=True, slots=True)
class NodeProbe:
    """A chain node: ``status`` is its ``consortium_nodeStatus`` result, None when it did not answer."""

    org: str
    validator: bool
    up: bool
    in_sync: bool = True
    in_quorum: bool = True
    missed_by: Mapping[str, int] = field(default_factory=dict)  # proposer address (lower case) → count
    abstaining: bool = False  # a validator sitting out the height in progress (a fresh or lagging signed record)
    abstained_heights: int = 0  # heights it sat out so since it started
    conflicts_refused: int = 0  # messages it did not sign: they conflicted with one it had signed before


@dataclass(frozen=True, slots=True)
class NotaryProbe:
    up: bool
    size: int = 0
    published_size: int = 0
    anchored_size: int = 0
    anchoring_error: str | None = None
    anchoring: bool = True  # whether the notary anchors at all
    gaps: int = 0
    alarms: int = 0  # open integrity alarms


@dataclass(frozen=True, slots=True)
class GatewayProbe:
    """A gateway: ``quota_store`` the kind of store of its shared quota counts (``postgresql``), None when it
    counts them in its own outbox; ``quota_reachable`` whether that store answers."""

    org: str
    up: bool
    pending: int = 0
    max_pending: int = 0
    quota_store: str | None = None
    quota_reachable: bool = True


@dataclass(frozen=True, slots=True)
class WitnessPolicyView:
    """What the notary's policy needs: ``threshold`` of the witnesses, a regulator among them if required."""

    threshold: int
    require_regulator: bool = False
    regulators: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One round of probing. ``accounts`` maps a validator's address (lower case) to its org."""

    witnesses: tuple[WitnessProbe, ...] = ()
    policy: WitnessPolicyView | None = None
    nodes: tuple[NodeProbe, ...] = ()
    notary: NotaryProbe | None = None
    gateways: tuple[GatewayProbe, ...] = ()
    accounts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule that holds for a subject now. ``org`` is the firm whose component the subject is, if any."""

    rule: str
    subject: str
    severity: Severity
    summary: str
    org: str | None = None

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.subject}"


@dataclass(frozen=True, slots=True)
class AnchoringWait:
    """What an :class:`AnchoringWatch` remembers of the notary's anchoring at one evaluation: ``size`` the oldest
    published size not anchored yet (0: none) and ``waited`` the seconds since it was first seen; ``failing_for``
    the seconds anchoring steps have failed at every evaluation (0 while they work)."""

    size: int = 0
    waited: float = 0.0
    failing_for: float = 0.0


class AnchoringWatch:
    """The memory ``anchoring-behind`` needs, kept by the caller from one evaluation to the next: the published
    sizes not anchored yet, each with when it was first seen, and since when anchoring steps fail.

    At most ``keep`` sizes are kept (a size leaves once anchored): beyond that, a newer size counts from when the
    newest kept one was first seen, which can only make it look older, and only while anchoring is far behind. A
    published size below the newest kept (a new log) starts afresh, as does a notary that anchors nothing; a notary
    that does not answer leaves the memory as it was. The clock is the caller's: ``now`` is given.
    """

    def __init__(self, keep: int = KEEP_PUBLISHED) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.keep = keep
        self._waiting: deque[tuple[int, float]] = deque()  # (published size, first seen), sizes rising
        self._failing_since: float | None = None

    def observe(self, notary: NotaryProbe | None, now: float) -> AnchoringWait | None:
        """Take the notary's figures seen at ``now``; what has waited how long (None: nothing to say, the notary
        not probed, not answering, or anchoring nothing)."""
        if notary is None or not notary.up:
            return None
        waiting = self._waiting
        if not notary.anchoring:
            waiting.clear()
            self._failing_since = None
            return None
        published, anchored = notary.published_size, notary.anchored_size
        if waiting and published < waiting[-1][0]:
            waiting.clear()
        if published > anchored and (not waiting or published > waiting[-1][0]):
            if len(waiting) < self.keep:
                waiting.append((published, now))
            else:
                waiting[-1] = (published, waiting[-1][1])
        while waiting and waiting[0][0] <= anchored:
            waiting.popleft()
        if not notary.anchoring_error:
            self._failing_since = None
        elif self._failing_since is None:
            self._failing_since = now
        size, seen = waiting[0] if waiting else (0, now)
        failing = 0.0 if self._failing_since is None else now - self._failing_since
        return AnchoringWait(size, now - seen, failing)


def evaluate(
    snapshot: Snapshot,
    baseline: Snapshot | None = None,
    limits: Limits = DEFAULT_LIMITS,
    anchoring: AnchoringWait | None = None,
) -> list[Condition]:
    """Every condition that holds in ``snapshot`` (``baseline``: the snapshot a window ago, for rising counts;
    ``limits``: the thresholds; ``anchoring``: what the caller's :class:`AnchoringWatch` made of the notary's
    figures, without which ``anchoring-behind`` never holds)."""
    return [
        *witness_conditions(snapshot),
        *node_conditions(snapshot),
        *missed_proposal_conditions(snapshot, baseline),
        *signed_record_conditions(snapshot, baseline),
        *notary_conditions(snapshot, anchoring, limits),
        *gateway_conditions(snapshot, limits),
    ]


def witness_conditions(snapshot: Snapshot) -> list[Condition]:
    out = [
        Condition("witness-down", f"witness/{w.org}", "warning", f"witness {w.org} does not answer", w.org)
        for w in snapshot.witnesses
        if not w.up
    ]
    policy = snapshot.policy
    if policy is None or not snapshot.witnesses:
        return out
    up = {w.org for w in snapshot.witnesses if w.up}
    count, total, need = len(up), len(snapshot.witnesses), policy.threshold
    regulator_missing = policy.require_regulator and not (up & policy.regulators)
    figures = f"{count} of {total} witnesses up, the policy needs {need}"
    if count < need or regulator_missing:
        why = " and a regulator's, none of which is up" if regulator_missing else ""
        summary = f"checkpoints cannot be published: {figures}{why}"
        out.append(Condition("witness-quorum", "witnesses", "critical", summary))
    elif count < need + 1:
        out.append(Condition("witness-quorum", "witnesses", "warning", f"quorum at risk: {figures}"))
    return out


def node_conditions(snapshot: Snapshot) -> list[Condition]:
    out: list[Condition] = []
    for node in snapshot.nodes:
        subject = f"node/{node.org}"
        if not node.up:
            severity: Severity = "critical" if node.validator else "warning"
            out.append(Condition("node-down", subject, severity, f"chain node {node.org} does not answer", node.org))
        elif not (node.in_sync and node.in_quorum):
            problems = (("not in sync", not node.in_sync), ("not in quorum", not node.in_quorum))
            why = ", ".join(w for w, bad in problems if bad)
            out.append(Condition("node-unhealthy", subject, "warning", f"chain node {node.org}: {why}", node.org))
    validators = [n for n in snapshot.nodes if n.validator]
    if len(validators) > 1:
        need = quorum(len(validators))
        working = sum(1 for n in validators if n.up and n.in_quorum)
        figures = f"{working} of {len(validators)} validators up and in quorum, QBFT needs {need}"
        if working < need:
            out.append(Condition("chain-quorum", "chain", "critical", f"no block can be decided: {figures}"))
        elif working < need + 1:
            out.append(Condition("chain-quorum", "chain", "warning", f"consensus at risk: {figures}"))
    return out


def missed_proposal_conditions(snapshot: Snapshot, baseline: Snapshot | None) -> list[Condition]:
    """A validator whose missed proposals, as counted by the node that counts most of them, rose since
    ``baseline``. A node restarted since (its counts back at zero) shows no rise until it counts again."""
    if baseline is None:
        return []
    now, before = _missed(snapshot), _missed(baseline)
    out = []
    for address, count in sorted(now.items()):
        rise = count - before.get(address, 0)
        if rise > 0:
            org = snapshot.accounts.get(address)
            name = org or address
            summary = f"validator {name} missed {rise} proposal(s) recently ({count} counted in all)"
            out.append(Condition("missed-proposals", f"node/{name}", "warning", summary, org))
    return out


def signed_record_conditions(snapshot: Snapshot, baseline: Snapshot | None) -> list[Condition]:
    """What a validator's record of signed messages did: it sits out voting now, or sat out a height since
    ``baseline`` (a sit-out lasts a block or two, shorter than a hold-down, so the rise keeps it in view for the
    window); it refused to sign messages that conflicted with ones it had signed before, since ``baseline``. A node
    restarted since (its counts back at zero) shows no rise until it counts again."""
    before = {n.org: n for n in baseline.nodes if n.up} if baseline is not None else {}
    out = []
    for node in snapshot.nodes:
        if not (node.up and node.validator):
            continue
        subject, earlier = f"node/{node.org}", before.get(node.org)
        sat_out = 0 if earlier is None else node.abstained_heights - earlier.abstained_heights
        if node.abstaining or sat_out > 0:
            now = "sits out voting" if node.abstaining else f"sat out {sat_out} height(s) recently"
            summary = (
                f"validator {node.org} {now}: its record of signed messages is fresh or behind its peers (its data "
                "directory was wiped, lost or restored from a backup, or it was down while they decided blocks); it "
                "votes again from the height after its peers' head"
            )
            out.append(Condition("validator-abstaining", subject, "warning", summary, node.org))
        refused = 0 if earlier is None else node.conflicts_refused - earlier.conflicts_refused
        if refused > 0:
            summary = (
                f"validator {node.org} refused to sign {refused} message(s) recently that conflicted with what it "
                f"had signed before ({node.conflicts_refused} in all); it sent the earlier ones again"
            )
            out.append(Condition("signed-conflicts", subject, "warning", summary, node.org))
    return out


def _missed(snapshot: Snapshot) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in snapshot.nodes:
        for address, n in node.missed_by.items():
            counts[address.lower()] = max(counts.get(address.lower(), 0), n)
    return counts


def notary_conditions(
    snapshot: Snapshot, anchoring: AnchoringWait | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[Condition]:
    notary = snapshot.notary
    if notary is None:
        return []
    if not notary.up:
        return [Condition("notary-down", "notary", "critical", "the notary does not answer")]
    out = []
    if notary.anchoring and anchoring is not None:
        after = limits.anchoring_behind_s
        waiting = anchoring.size > notary.anchored_size and anchoring.waited >= after
        failing = bool(notary.anchoring_error) and anchoring.failing_for >= after
        if waiting or failing:
            figures = f"anchored size {notary.anchored_size}, published size {notary.published_size}"
            if anchoring.size > notary.anchored_size:
                summary = (
                    f"the oldest published size not anchored, {anchoring.size}, has waited {anchoring.waited:.0f} s "
                    f"({figures})"
                )
            else:
                summary = f"no published size waits to be anchored ({figures})"
            if notary.anchoring_error:
                summary += f"; anchoring fails for {anchoring.failing_for:.0f} s: {notary.anchoring_error[:200]}"
            out.append(Condition("anchoring-behind", "notary", "warning", summary))
    if notary.gaps > 0:
        summary = f"{notary.gaps} open gap(s) in gateways' sequence numbers"
        out.append(Condition("sequence-gap", "notary", "warning", summary))
    if notary.alarms > 0:
        summary = f"{notary.alarms} open integrity alarm(s) of the notary: see its /v1/alarms?state=open"
        out.append(Condition("notary-integrity", "notary", "critical", summary))
    return out


def gateway_conditions(snapshot: Snapshot, limits: Limits = DEFAULT_LIMITS) -> list[Condition]:
    out = []
    for gw in snapshot.gateways:
        subject = f"gateway/{gw.org}"
        if not gw.up:
            out.append(Condition("gateway-down", subject, "warning", f"gateway of {gw.org} does not answer", gw.org))
            continue
        if gw.quota_store is not None and not gw.quota_reachable:
            summary = (
                f"gateway of {gw.org}: its quota store ({gw.quota_store}) cannot be reached; "
                "calls under a quota are refused (503 quota_unavailable)"
            )
            out.append(Condition("quota-store", subject, "critical", summary, gw.org))
        if gw.max_pending <= 0:
            continue
        share = gw.pending / gw.max_pending
        if share >= limits.outbox_warning:
            severity: Severity = "critical" if share >= limits.outbox_critical else "warning"
            summary = f"gateway of {gw.org}: outbox {gw.pending} of {gw.max_pending} pending ({share:.0%})"
            out.append(Condition("gateway-outbox", subject, severity, summary, gw.org))
    return out
