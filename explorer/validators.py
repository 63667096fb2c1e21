"""What the validators did over the newest indexed blocks, derived from the chain alone: anyone holding the
blocks can recompute it.

The facts come from each block's seals as the follower indexed them (:func:`explorer.chainfollow.block_seals`):
``validators`` (the set a block names decides the next block), ``proposer`` (the block's beneficiary),
``signers`` (the recovered commit seals) and ``round`` (the round in which the block was decided). Over a
window of blocks, :func:`activity` counts for each validator:

- **proposed**: blocks whose beneficiary it is;
- **sealed**: blocks carrying its commit seal;
- **missed**: rounds it was the proposer of that did not decide their block. A block decided in round
  ``r > 0`` means rounds ``0..r-1`` at its height decided nothing; their proposers are those of QBFT's rotation
  (:func:`chain.qbft.rules.proposer`) over the parent's validators, starting after the parent's proposer
  (:func:`missed_proposers`). A proposer whose block was proposed but not committed in time counts too: from
  the chain, a proposal that never came and one that did not gather a quorum look the same;
- **in_set**: blocks its set decided (it was named in the parent's validators).

Blocks indexed before the proposer was recorded have none: they count in ``unknown_proposer``, and a block in a
later round whose parent is such a block (or is not indexed) cannot name who missed: ``unknown_missed``. Block 0
is never decided by a round and counts for none of these.

Beside the counts: the blocks decided in a later round (newest first) and the blocks that name a validator set
other than their parent's (newest first), each list cut at ``shown`` entries, with the totals in the window. A
validator's org is the member holding its account after the indexed blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address

from chain.qbft.rules import proposer

#: The window when none is asked for, and the largest one answered.
DEFAULT_WINDOW = 1000
MAX_WINDOW = 10_000
#: Most entries listed of the recent round changes and of the set changes.
SHOWN = 50


def _address(raw: bytes) -> str:
    return str(to_checksum_address(raw))


def _raw(address: str) -> bytes:
    if not isinstance(address, str) or len(address) != 42 or not address.startswith("0x"):
        raise ValueError(f"not an address: {address!r}")
    return bytes.fromhex(address[2:])


def missed_proposers(validators: Sequence[str], previous: str, round_: int) -> list[tuple[str, int]]:
    """The proposers of rounds ``0..round_-1`` at the height after a block proposed by ``previous``, decided by
    ``validators`` (any order): each as ``validators`` spells it, with how many of those rounds were its, in the
    order of the rotation (past the set's size the rotation comes back to the same proposers). ValueError for an
    empty set or a malformed address."""
    spelt = {_raw(v): v for v in validators}
    if not spelt:
        raise ValueError("no validators")
    ordered, last, n = sorted(spelt), _raw(previous), len(spelt)
    return [(spelt[proposer(ordered, last, k)], (round_ - 1 - k) // n + 1) for k in range(min(round_, n))]


def _seals(row: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    seals = None if row is None else row.get("seals")
    return seals if isinstance(seals, Mapping) else None


def _set(seals: Mapping[str, Any] | None) -> list[str] | None:
    named = None if seals is None else seals.get("validators")
    return [str(v) for v in named] if isinstance(named, list) else None


def _signers(seals: Mapping[str, Any]) -> list[str]:
    found = seals.get("signers")
    entries = found if isinstance(found, list) else []
    return [e["address"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("address"), str)]


def _proposer(seals: Mapping[str, Any]) -> str | None:
    found = seals.get("proposer")
    address = found.get("address") if isinstance(found, Mapping) else None
    return address if isinstance(address, str) else None


@dataclass
class _Counts:
    address: str
    proposed: int = 0
    sealed: int = 0
    missed: int = 0
    in_set: int = 0


@dataclass
class _Tally:
    org_of: Callable[[str], str | None]
    counts: dict[str, _Counts] = field(default_factory=dict)
    orgs: dict[str, str | None] = field(default_factory=dict)

    def of(self, address: str) -> _Counts:
        key = address.lower()
        if key not in self.counts:
            self.counts[key] = _Counts(_address(_raw(address)))
        return self.counts[key]

    def org(self, address: str) -> str | None:
        key = address.lower()
        if key not in self.orgs:
            self.orgs[key] = self.org_of(address)
        return self.orgs[key]

    def named(self, address: str) -> dict[str, Any]:
        shown = self.of(address).address
        return {"address": shown, "org": self.org(shown)}


def activity(
    rows: Sequence[Mapping[str, Any]],
    window: int,
    org_of: Callable[[str], str | None],
    *,
    shown: int = SHOWN,
) -> dict[str, Any]:
    """The validators' activity over the newest ``window`` of ``rows`` (blocks as the chain index lists them:
    newest first, consecutive; one more than the window, the parent of its oldest block, when there is one).

    ``{head, window, first (the oldest block counted), validators: [{address, org, current, proposed, sealed,
    missed, in_set}], unknown_proposer, unknown_missed, round_changes: [{number, round, proposer, missed}],
    round_changes_total, set_changes: [{number, validators, added, removed}], set_changes_total}``, as the
    module docstring says. ``validators`` lists the current set (the one the newest block names) in rotation
    order, then anyone else named or counted in the window; ``proposer`` and each missed proposer are ``{address,
    org}`` (a missed one adds ``rounds``, how many of the rounds were its); ``missed`` is None when it cannot be
    derived; ``added`` and ``removed`` are ``{address, org}`` too."""
    if window < 1:
        raise ValueError("the window is at least one block")
    tally = _Tally(org_of)
    counted = list(rows[:window])
    head = int(counted[0]["number"]) if counted else -1
    current = (_set(_seals(counted[0])) if counted else None) or []
    for address in current:
        tally.of(address)
    unknown_proposer = unknown_missed = 0
    round_changes: list[dict[str, Any]] = []
    set_changes: list[dict[str, Any]] = []
    rounds_total = sets_total = 0
    for i, row in enumerate(counted):
        number = int(row["number"])
        parent = rows[i + 1] if i + 1 < len(rows) and int(rows[i + 1]["number"]) == number - 1 else None
        seals = _seals(row)
        if seals is None or number == 0:
            continue
        parent_seals = _seals(parent)
        deciders = _set(parent_seals)
        for address in deciders or []:
            tally.of(address).in_set += 1
        named = _set(seals)
        for address in named or []:
            tally.of(address)
        if deciders is not None and named is not None and {a.lower() for a in deciders} != {a.lower() for a in named}:
            sets_total += 1
            if len(set_changes) < shown:
                before, after = {a.lower() for a in deciders}, {a.lower() for a in named}
                set_changes.append(
                    {
                        "number": number,
                        "validators": [tally.of(a).address for a in named],
                        "added": [tally.named(a) for a in named if a.lower() not in before],
                        "removed": [tally.named(a) for a in deciders if a.lower() not in after],
                    }
                )
        by = _proposer(seals)
        if by is None:
            unknown_proposer += 1
        else:
            tally.of(by).proposed += 1
        for address in {a.lower(): a for a in _signers(seals)}.values():  # a seal counts once per block
            tally.of(address).sealed += 1
        round_ = int(seals.get("round") or 0)
        if round_ <= 0:
            continue
        rounds_total += 1
        missed: list[dict[str, Any]] | None = None
        previous = None if parent_seals is None else _proposer(parent_seals)
        if deciders and previous is not None:
            try:
                missed = [{**tally.named(a), "rounds": k} for a, k in missed_proposers(deciders, previous, round_)]
            except ValueError:
                missed = None
        if missed is None:
            unknown_missed += 1
        else:
            for entry in missed:
                tally.of(entry["address"]).missed += entry["rounds"]
        if len(round_changes) < shown:
            round_changes.append(
                {
                    "number": number,
                    "round": round_,
                    "proposer": None if by is None else tally.named(by),
                    "missed": missed,
                }
            )
    in_current = {a.lower() for a in current}
    validators = []
    for key in sorted(in_current) + sorted(set(tally.counts) - in_current):  # lower-case hex: the rotation order
        c = tally.counts[key]
        validators.append(
            {
                "address": c.address,
                "org": tally.org(c.address),
                "current": key in in_current,
                "proposed": c.proposed,
                "sealed": c.sealed,
                "missed": c.missed,
                "in_set": c.in_set,
            }
        )
    return {
        "head": head,
        "window": window,
        "first": int(counted[-1]["number"]) if counted else None,
        "validators": validators,
        "unknown_proposer": unknown_proposer,
        "unknown_missed": unknown_missed,
        "round_changes": round_changes,
        "round_changes_total": rounds_total,
        "set_changes": set_changes,
        "set_changes_total": sets_total,
    }
