"""The alarm rules: pure functions from a snapshot of the components' health to the conditions that hold now.

A :class:`Snapshot` is what one round of probing saw (``network.alarms.probe``): each witness, chain node,
gateway and the notary, answering or not, with the figures its health endpoint reports. :func:`evaluate`
turns it into :class:`Condition` s, each naming its rule, its subject (the component), a severity and a
one-line summary, written in English from a code of :data:`SUMMARIES` and its parameters, which a page says in its
language (``alarmSummary.<code>`` in ``explorer/static/i18n.js``). No I/O, no clock: rules that look for something
*rising* compare the snapshot with a ``baseline`` (the snapshot of a window ago, which the caller keeps), and
``anchoring-behind`` reads an :class:`AnchoringWait`, what an :class:`AnchoringWatch` the caller keeps remembers of
the notary's sizes.
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
- ``peer-refused``: a chain node's counts of what its peer rule refused rose since the baseline: what its links
  withheld from a peer whose server certificate the rule refuses (a member removed by governance, a revoked
  serial), or requests its peer server refused for their client certificate.
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
    "peer-refused",
    "notary-down",
    "anchoring-behind",
    "sequence-gap",
    "notary-integrity",
    "gateway-down",
    "gateway-outbox",
    "quota-store",
)


#: What a condition's summary can say, by code: the English the summary is written in from the code's parameters.
SUMMARIES: dict[str, str] = {
    "witness.down": "witness {org} does not answer",
    "witness_quorum.lost": "checkpoints cannot be published: {up} of {total} witnesses up, the policy needs {need}",
    "witness_quorum.lost_regulator": "checkpoints cannot be published: {up} of {total} witnesses up, the policy needs "
    "{need} and a regulator's, none of which is up",
    "witness_quorum.at_risk": "quorum at risk: {up} of {total} witnesses up, the policy needs {need}",
    "node.down": "chain node {org} does not answer",
    "node.not_in_sync": "chain node {org}: not in sync",
    "node.not_in_quorum": "chain node {org}: not in quorum",
    "node.not_in_sync_or_quorum": "chain node {org}: not in sync, not in quorum",
    "chain_quorum.lost": "no block can be decided: {working} of {validators} validators up and in quorum, QBFT needs "
    "{need}",
    "chain_quorum.at_risk": "consensus at risk: {working} of {validators} validators up and in quorum, QBFT needs "
    "{need}",
    "missed_proposals": "validator {name} missed {rise} proposal(s) recently ({count} counted in all)",
    "abstaining.now": "validator {org} sits out voting: its record of signed messages is fresh or behind its peers "
    "(its data directory was wiped, lost or restored from a backup, or it was down while they decided blocks); it "
    "votes again from the height after its peers' head",
    "abstaining.recently": "validator {org} sat out {heights} height(s) recently: its record of signed messages is "
    "fresh or behind its peers (its data directory was wiped, lost or restored from a backup, or it was down while "
    "they decided blocks); it votes again from the height after its peers' head",
    "signed_conflicts": "validator {org} refused to sign {refused} message(s) recently that conflicted with what it "
    "had signed before ({total} in all); it sent the earlier ones again",
    "peer_refused": "chain node {org} refused peers recently: {withheld} message(s), transaction(s) and status "
    "request(s) withheld from peers whose certificate its peer rule refuses, {requests} request(s) refused at its peer "
    "server (a member removed, a certificate revoked: drop that peer, or look into who keeps asking)",
    "notary.down": "the notary does not answer",
    "anchoring.waiting": "the oldest published size not anchored, {size}, has waited {waited} s (anchored size "
    "{anchored}, published size {published})",
    "anchoring.waiting_failing": "the oldest published size not anchored, {size}, has waited {waited} s (anchored "
    "size {anchored}, published size {published}); anchoring fails for {failing} s: {error}",
    "anchoring.none_waiting": "no published size waits to be anchored (anchored size {anchored}, published size "
    "{published})",
    "anchoring.none_waiting_failing": "no published size waits to be anchored (anchored size {anchored}, published "
    "size {published}); anchoring fails for {failing} s: {error}",
    "sequence_gap": "{gaps} open gap(s) in gateways' sequence numbers",
    "notary_integrity": "{alarms} open integrity alarm(s) of the notary: see its /v1/alarms?state=open",
    "gateway.down": "gateway of {org} does not answer",
    "quota_store": "gateway of {org}: its quota store ({store}) cannot be reached; calls under a quota are refused "
    "(503 quota_unavailable)",
    "gateway_outbox": "gateway of {org}: outbox {pending} of {capacity} pending ({share})",
}
#: A parameter of a summary's code: text or a whole number.
Param = str | int


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
    peer_withheld: int = 0  # messages, transactions and status requests its links withheld from refused peers
    peer_requests_refused: int = 0  # connections and requests its peer server refused for their client certificate


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
    """A rule that holds for a subject now. ``org`` is the firm whose component the subject is, if any; ``code`` and
    ``params``, what the summary says (:data:`SUMMARIES`), the English of which it is (empty: a summary without one)."""

    rule: str
    subject: str
    severity: Severity
    summary: str
    org: str | None = None
    code: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)

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


def said(
    rule: str, subject: str, severity: Severity, code: str, params: Mapping[str, Param], org: str | None = None
) -> Condition:
    """A condition whose summary is :data:`SUMMARIES` ``[code]`` with ``params``."""
    given = dict(params)
    return Condition(rule, subject, severity, SUMMARIES[code].format(**given), org, code, given)


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
        *peer_refused_conditions(snapshot, baseline),
        *notary_conditions(snapshot, anchoring, limits),
        *gateway_conditions(snapshot, limits),
    ]


def witness_conditions(snapshot: Snapshot) -> list[Condition]:
    out = [
        said("witness-down", f"witness/{w.org}", "warning", "witness.down", {"org": w.org}, w.org)
        for w in snapshot.witnesses
        if not w.up
    ]
    policy = snapshot.policy
    if policy is None or not snapshot.witnesses:
        return out
    up = {w.org for w in snapshot.witnesses if w.up}
    count, total, need = len(up), len(snapshot.witnesses), policy.threshold
    regulator_missing = policy.require_regulator and not (up & policy.regulators)
    figures = {"up": count, "total": total, "need": need}
    if count < need or regulator_missing:
        code = "witness_quorum.lost_regulator" if regulator_missing else "witness_quorum.lost"
        out.append(said("witness-quorum", "witnesses", "critical", code, figures))
    elif count < need + 1:
        out.append(said("witness-quorum", "witnesses", "warning", "witness_quorum.at_risk", figures))
    return out


def node_conditions(snapshot: Snapshot) -> list[Condition]:
    out: list[Condition] = []
    for node in snapshot.nodes:
        subject = f"node/{node.org}"
        if not node.up:
            severity: Severity = "critical" if node.validator else "warning"
            out.append(said("node-down", subject, severity, "node.down", {"org": node.org}, node.org))
        elif not (node.in_sync and node.in_quorum):
            code = (
                "node.not_in_sync_or_quorum"
                if not (node.in_sync or node.in_quorum)
                else "node.not_in_sync"
                if not node.in_sync
                else "node.not_in_quorum"
            )
            out.append(said("node-unhealthy", subject, "warning", code, {"org": node.org}, node.org))
    validators = [n for n in snapshot.nodes if n.validator]
    if len(validators) > 1:
        need = quorum(len(validators))
        working = sum(1 for n in validators if n.up and n.in_quorum)
        figures = {"working": working, "validators": len(validators), "need": need}
        if working < need:
            out.append(said("chain-quorum", "chain", "critical", "chain_quorum.lost", figures))
        elif working < need + 1:
            out.append(said("chain-quorum", "chain", "warning", "chain_quorum.at_risk", figures))
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
            missed: dict[str, Param] = {"name": name, "rise": rise, "count": count}
            out.append(said("missed-proposals", f"node/{name}", "warning", "missed_proposals", missed, org))
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
            sat: dict[str, Param] = {"org": node.org} if node.abstaining else {"org": node.org, "heights": sat_out}
            code = "abstaining.now" if node.abstaining else "abstaining.recently"
            out.append(said("validator-abstaining", subject, "warning", code, sat, node.org))
        refused = 0 if earlier is None else node.conflicts_refused - earlier.conflicts_refused
        if refused > 0:
            counts: dict[str, Param] = {"org": node.org, "refused": refused, "total": node.conflicts_refused}
            out.append(said("signed-conflicts", subject, "warning", "signed_conflicts", counts, node.org))
    return out


def peer_refused_conditions(snapshot: Snapshot, baseline: Snapshot | None) -> list[Condition]:
    """A chain node (validator or follower) whose peer rule refused a peer since ``baseline``: its links withheld
    something from a peer whose server certificate the rule refuses, or its peer server refused a request for its
    client certificate. A node restarted since (its counts back at zero) shows no rise until it counts again."""
    before = {n.org: n for n in baseline.nodes if n.up} if baseline is not None else {}
    out = []
    for node in snapshot.nodes:
        earlier = before.get(node.org)
        if not node.up or earlier is None:
            continue
        withheld = node.peer_withheld - earlier.peer_withheld
        requests = node.peer_requests_refused - earlier.peer_requests_refused
        if withheld < 0 or requests < 0 or withheld + requests == 0:  # a count fell: it restarted since
            continue
        counts: dict[str, Param] = {"org": node.org, "withheld": withheld, "requests": requests}
        out.append(said("peer-refused", f"node/{node.org}", "warning", "peer_refused", counts, node.org))
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
        return [said("notary-down", "notary", "critical", "notary.down", {})]
    out = []
    if notary.anchoring and anchoring is not None:
        after = limits.anchoring_behind_s
        waiting = anchoring.size > notary.anchored_size and anchoring.waited >= after
        failing = bool(notary.anchoring_error) and anchoring.failing_for >= after
        if waiting or failing:
            figures: dict[str, Param] = {"anchored": notary.anchored_size, "published": notary.published_size}
            if anchoring.size > notary.anchored_size:
                code = "anchoring.waiting"
                figures |= {"size": anchoring.size, "waited": f"{anchoring.waited:.0f}"}
            else:
                code = "anchoring.none_waiting"
            if notary.anchoring_error:
                code += "_failing"
                figures |= {"failing": f"{anchoring.failing_for:.0f}", "error": notary.anchoring_error[:200]}
            out.append(said("anchoring-behind", "notary", "warning", code, figures))
    if notary.gaps > 0:
        out.append(said("sequence-gap", "notary", "warning", "sequence_gap", {"gaps": notary.gaps}))
    if notary.alarms > 0:
        out.append(said("notary-integrity", "notary", "critical", "notary_integrity", {"alarms": notary.alarms}))
    return out


def gateway_conditions(snapshot: Snapshot, limits: Limits = DEFAULT_LIMITS) -> list[Condition]:
    out = []
    for gw in snapshot.gateways:
        subject = f"gateway/{gw.org}"
        if not gw.up:
            out.append(said("gateway-down", subject, "warning", "gateway.down", {"org": gw.org}, gw.org))
            continue
        if gw.quota_store is not None and not gw.quota_reachable:
            store = {"org": gw.org, "store": gw.quota_store}
            out.append(said("quota-store", subject, "critical", "quota_store", store, gw.org))
        if gw.max_pending <= 0:
            continue
        share = gw.pending / gw.max_pending
        if share >= limits.outbox_warning:
            severity: Severity = "critical" if share >= limits.outbox_critical else "warning"
            outbox: dict[str, Param] = {
                "org": gw.org,
                "pending": gw.pending,
                "capacity": gw.max_pending,
                "share": f"{share:.0%}",
            }
            out.append(said("gateway-outbox", subject, severity, "gateway_outbox", outbox, gw.org))
    return out
