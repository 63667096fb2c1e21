"""The provenance of one call: each link from the call to the sealed block that anchors it, each with its check.

``call`` → ``grant`` (as it stood on chain at the call's time) → ``asset_version`` → ``entry`` → ``inclusion``
→ ``checkpoint`` → ``cosignatures`` → ``anchor`` → ``block``. The log and chain links are the steps of
``notary.verify.verify_evidence`` run on the notary's evidence bundle with the consortium's public keys, so the
explorer checks the notary instead of repeating what it says; the browser checks the log links once more.
The grant and asset links compare the event with the explorer's chain index: a call the gateway allowed under
a grant that was not active at that moment is a finding, shown as ✗.

A link is ``ok: true`` (checked), ``false`` (the check failed: ``detail`` says what), or ``null`` (it does not
exist yet, e.g. the checkpoint is not anchored yet, or does not apply, e.g. a call denied for want of a grant).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

from explorer.calls import CallRow
from explorer.chainindex import ChainIndex
from notary.bundle import EvidenceBundle
from notary.event import parse_entry
from notary.log.errors import MalformedError
from notary.verify import Step

#: The evidence steps (``notary.verify.STEP_NAMES``) behind each log and chain link.
EVIDENCE_LINKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry", ("entry", "leaf hash", "receipt")),
    ("inclusion", ("inclusion",)),
    ("checkpoint", ("checkpoint",)),
    ("cosignatures", ("cosignatures",)),
    ("anchor", ("anchor transaction", "transaction succeeded")),
    ("block", ("transaction in block", "block hash", "seals")),
)
#: How far the chain's block times and a gateway's clock may disagree before a call and a grant can be ordered
#: by time: a chain seals at most one block per second of timestamp, so a burst of blocks (``consortium init``
#: registering the catalogue) runs its clock ahead of the wall clock for a while.
CLOCK_SKEW_S = 300
STEP_ORDER = ("call", "grant", "asset_version", *(name for name, _ in EVIDENCE_LINKS))


class ProvenanceStep(TypedDict):
    """One link of a call's provenance (``explorer.api.schemas.Step``): its name (``STEP_ORDER``), whether it was
    checked (``ok``, see the module doc), what was found, and what it was checked on (a grant's state, an asset's
    version, the evidence steps behind it) or null."""

    step: str
    ok: bool | None
    detail: str
    data: Any


def _step(name: str, ok: bool | None, detail: str, data: Any = None) -> ProvenanceStep:
    return ProvenanceStep(step=name, ok=ok, detail=detail, data=data)


def _combine(step: str, checks: Sequence[Step]) -> ProvenanceStep:
    if any(c.ok is False for c in checks):
        ok: bool | None = False
    elif any(c.ok is None for c in checks):
        ok = None
    else:
        ok = True
    shown = [c for c in checks if c.ok is ok] or list(checks)
    detail = "; ".join(c.detail for c in shown)
    return _step(step, ok, detail, {"checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]})


def call_step(row: CallRow, entry: bytes) -> tuple[ProvenanceStep, dict[str, Any] | None]:
    """The entry is a valid event (``notary.event.parse_entry``) whose fields are the ones indexed (and shown) for
    this call; when they differ, the step shows the event as the log holds it."""
    try:
        event: dict[str, Any] = dict(parse_entry(entry))
    except MalformedError as exc:
        return _step("call", False, f"the log entry is not a valid event: {exc}"), None
    fields = ("event_id", "caller_org", "provider_org", "api", "decision", "status", "grant_id", "time_ms")
    wrong = [f for f in fields if event.get(f) != row.get(f)]
    if wrong:
        return _step("call", False, f"the log entry differs from the index in {', '.join(wrong)}", event), event
    # the decision is the grant's verdict, the status what the caller got: an allowed call the provider's service did
    # not answer is "allow, status 503" (docs/gateway.md, "Authorisation")
    said = f"{row['decision']}, status {row['status']}"
    return _step("call", True, f"{row['caller_org']} → {row['provider_org']} {row['api']}: {said}"), event


def _when(seconds: Any) -> str:
    """Chain time (Unix seconds) as a step's detail says it: the number and, readable, its UTC time."""
    if not isinstance(seconds, int):
        return str(seconds)
    return f"{seconds} ({datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S} UTC)"


def _private_grant_step(event: Mapping[str, Any], state: dict[str, Any], lifecycle: Any, at: int) -> ProvenanceStep:
    """A private grant's link: its grantee and window are in terms the explorer does not hold, so it checks what
    the chain holds (the grant existed, was not revoked or voided, is the provider's grant of the call's asset)
    and says that the rest was the provider's gateway's to check (``check_private``)."""
    if event["decision"] != "allow":
        return _step("grant", True, f"denied ({event.get('denial_reason')}); the private grant was {lifecycle}", state)
    when = _when(at)
    if lifecycle != "private":
        return _step("grant", False, f"allowed, but the private grant was {lifecycle} on chain at {when}", state)
    if state.get("asset") != event.get("asset_id") or state.get("grantor") != event.get("provider_org"):
        return _step("grant", False, "allowed, but the private grant is another provider's or of another asset", state)
    return _step(
        "grant",
        True,
        f"a private grant of {state.get('grantor')}, not revoked on chain at {when}; its grantee and window are held "
        "by the parties and were checked by the provider's gateway against its commitment",
        state,
    )


def grant_step(chain: ChainIndex, event: Mapping[str, Any]) -> ProvenanceStep:
    """The grant the gateway decided under, as it stood on chain at the call's time."""
    grant_id = event.get("grant_id")
    at = int(event["time_ms"]) // 1000
    when = _when(at)
    if grant_id is None:
        reason = event.get("denial_reason") or "none"
        return _step("grant", None, f"no grant was involved (decision {event['decision']}, reason {reason})")
    state = chain.grant_state_at(str(grant_id), at)
    if event["decision"] == "allow" and (state is None or state.get("state") == "not_yet_valid"):
        later = chain.grant_state_at(str(grant_id), at + CLOCK_SKEW_S)
        if later is not None and later.get("state") == "active" and not later.get("void"):
            return _step(
                "grant",
                None,
                f"the grant became active at chain time {_when(later.get('created_at'))}, after the call's time {when}"
                f" by the gateway's clock but within {CLOCK_SKEW_S} s: the two clocks cannot order them",
                later,
            )
    if state is None:
        if event["decision"] == "allow":
            return _step("grant", False, f"allowed under grant {grant_id}, which did not exist on chain at {when}")
        return _step("grant", None, f"grant {grant_id} did not exist on chain at {when}")
    lifecycle = "void" if state.get("void") else state.get("state")  # void: the asset changed owner since
    if state.get("private"):
        return _private_grant_step(event, state, lifecycle, at)
    parties_ok = state.get("grantee") == event["caller_org"] and state.get("asset") == event.get("asset_id")
    if event["decision"] == "allow":
        if lifecycle != "active":
            return _step("grant", False, f"allowed, but the grant was {lifecycle} on chain at {when}", state)
        if not parties_ok:
            return _step("grant", False, "allowed, but the grant is for another grantee or asset", state)
        parties = f"{state.get('grantor')} → {state.get('grantee')}"
        return _step("grant", True, f"active on chain at {when}: {parties}", state)
    return _step("grant", True, f"denied ({event.get('denial_reason')}); the grant was {lifecycle} at {when}", state)


def asset_step(chain: ChainIndex, event: Mapping[str, Any]) -> ProvenanceStep:
    """The asset behind the service: registered, owned by the provider at the call's time, and its version."""
    asset = event.get("asset_id")
    if asset is None:
        return _step("asset_version", None, "the call names no data asset")
    at = int(event["time_ms"]) // 1000
    when = _when(at)
    owner = chain.owner_at(str(asset), at)
    if owner is None:
        if chain.owner_at(str(asset), at + CLOCK_SKEW_S) is not None:
            detail = f"{asset} registered within {CLOCK_SKEW_S} s of chain time after the call's time {when}"
            return _step("asset_version", None, detail + ": the two clocks cannot order them")
        ok = None if event["decision"] == "deny" else False
        return _step("asset_version", ok, f"{asset} not registered at {when}")
    version_no = event.get("asset_version")
    version = chain.asset_version_at(str(asset), int(version_no)) if version_no is not None else None
    if version is None:
        for item in chain.history("asset", str(asset)):
            if item["event"] in ("AssetRegistered", "AssetVersionAdded") and item["timestamp"] <= at:
                number = item["args"].get("version", 1)
                version = chain.asset_version_at(str(asset), int(number)) or version
    if owner != event["provider_org"]:
        return _step("asset_version", False, f"{asset} was owned by {owner}, not the provider, at {when}", version)
    which = f"version {version['version']}" if version else "no version recorded"
    return _step("asset_version", True, f"{asset} owned by {owner} at {when}, {which}", version)


def evidence_steps(checks: Sequence[Step], bundle: EvidenceBundle, row: CallRow) -> list[ProvenanceStep]:
    by_name = {c.name: c for c in checks}
    steps = [_combine(link, [by_name[n] for n in names if n in by_name]) for link, names in EVIDENCE_LINKS]
    if bundle.index != row["index"]:
        steps[0] = _step("entry", False, f"the bundle is for leaf {bundle.index}, the call is leaf {row['index']}")
    elif base64.b64encode(bundle.leaf_hash).decode("ascii") != row["leaf_hash"]:
        steps[0] = _step("entry", False, "the bundle's leaf hash differs from the leaf the log published")
    return steps
