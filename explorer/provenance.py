"""The provenance of one call: each link from the call to the sealed block that anchors it, each with its check.

``call`` → ``grant`` (as it stood on chain at the call's time) → ``asset_version`` → ``entry`` → ``inclusion``
→ ``checkpoint`` → ``cosignatures`` → ``anchor`` → ``block``. The log and chain links are the steps of
``notary.verify.verify_evidence`` run on the notary's evidence bundle with the consortium's public keys, so the
explorer checks the notary instead of repeating what it says; the browser checks the log links once more.
The grant and asset links compare the event with the explorer's chain index: a call the gateway allowed under
a grant that was not active at that moment is a finding, shown as ✗.

A link is ``ok: true`` (checked), ``false`` (the check failed: ``detail`` says what), or ``null`` (it does not
exist yet, e.g. the checkpoint is not anchored yet, or does not apply, e.g. a call denied for want of a grant).
Each link also says what it found as a ``code`` of ``DETAILS`` and its ``params``, which the English ``detail`` is
written from, so that a page can say it in its own language.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

from explorer.calls import CallRow
from explorer.chainindex import ChainIndex
from notary.bundle import EvidenceBundle
from notary.event import EventJSON, parse_entry
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


#: What a link can say: its ``code`` and the English ``detail`` written from the code's ``params``. A page says it in
#: its language (``provStep.<code>`` in ``explorer/static/i18n.js``), the English detail where it knows no words.
DETAILS: dict[str, str] = {
    "call.invalid_entry": "the log entry is not a valid event: {error}",
    "call.differs": "the log entry differs from the index in {fields}",
    "call.matches": "{caller} → {provider} {api}: {decision}, status {status}",
    "grant.none": "no grant was involved (decision {decision}, reason {reason})",
    "grant.clocks": "the grant became active at chain time {active_at}, after the call's time {at} by the gateway's "
    "clock but within {skew_s} s: the two clocks cannot order them",
    "grant.allowed_missing": "allowed under grant {grant}, which did not exist on chain at {at}",
    "grant.missing": "grant {grant} did not exist on chain at {at}",
    "grant.allowed_not_active": "allowed, but the grant was {state} on chain at {at}",
    "grant.allowed_other_parties": "allowed, but the grant is for another grantee or asset",
    "grant.active": "active on chain at {at}: {grantor} → {grantee}",
    "grant.denied": "denied ({reason}); the grant was {state} at {at}",
    "grant.private_denied": "denied ({reason}); the private grant was {state}",
    "grant.private_not_active": "allowed, but the private grant was {state} on chain at {at}",
    "grant.private_other": "allowed, but the private grant is another provider's or of another asset",
    "grant.private_active": "a private grant of {grantor}, not revoked on chain at {at}; its grantee and window are "
    "held by the parties and were checked by the provider's gateway against its commitment",
    "asset.none": "the call names no data asset",
    "asset.clocks": "{asset} registered within {skew_s} s of chain time after the call's time {at}: the two clocks "
    "cannot order them",
    "asset.unregistered": "{asset} not registered at {at}",
    "asset.other_owner": "{asset} was owned by {owner}, not the provider, at {at}",
    "asset.owned": "{asset} owned by {owner} at {at}, version {version}",
    "asset.owned_no_version": "{asset} owned by {owner} at {at}, no version recorded",
    # the log and chain links: the notary's verifier's checks (``notary.verify``) say what they found, in English
    "evidence.checked": "{detail}",
    "evidence.failed": "{detail}",
    "evidence.pending": "{detail}",
    "evidence.unavailable": "{detail}",
    "evidence.malformed": "{detail}",
    "entry.other_leaf": "the bundle is for leaf {bundle_index}, the call is leaf {index}",
    "entry.other_leaf_hash": "the bundle's leaf hash differs from the leaf the log published",
}
#: A parameter of a link's code: text, a number or null.
Param = str | int | None


class ProvenanceStep(TypedDict):
    """One link of a call's provenance (``explorer.api.schemas.Step``): its name (``STEP_ORDER``), whether it was
    checked (``ok``, see the module doc), what was found, and what it was checked on (a grant's state, an asset's
    version, the evidence steps behind it) or null."""

    step: str
    ok: bool | None
    detail: str
    code: str
    params: dict[str, Param]
    data: Any


def _step(
    name: str, ok: bool | None, code: str, params: Mapping[str, Param] | None = None, data: Any = None
) -> ProvenanceStep:
    """A link saying ``DETAILS[code]`` with ``params``, in English in its ``detail``."""
    given = dict(params or {})
    return ProvenanceStep(step=name, ok=ok, detail=DETAILS[code].format(**given), code=code, params=given, data=data)


def unavailable_step(name: str, ok: bool | None, detail: str) -> ProvenanceStep:
    """A log or chain link when the notary gave no bundle (``detail``: the notary's answer)."""
    return _step(name, ok, "evidence.malformed" if ok is False else "evidence.unavailable", {"detail": detail})


def _combine(step: str, checks: Sequence[Step]) -> ProvenanceStep:
    if any(c.ok is False for c in checks):
        ok: bool | None = False
    elif any(c.ok is None for c in checks):
        ok = None
    else:
        ok = True
    shown = [c for c in checks if c.ok is ok] or list(checks)
    code = {True: "evidence.checked", False: "evidence.failed", None: "evidence.pending"}[ok]
    params: dict[str, Param] = {
        "detail": "; ".join(c.detail for c in shown),
        "checks": ", ".join(c.name for c in shown),
    }
    return _step(step, ok, code, params, {"checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]})


def call_step(row: CallRow, entry: bytes) -> tuple[ProvenanceStep, EventJSON | None]:
    """The entry is a valid event (``notary.event.parse_entry``) whose fields are the ones indexed (and shown) for
    this call; when they differ, the step shows the event as the log holds it. The event goes with the step, for
    the grant and asset links (None when the entry is not a valid event)."""
    try:
        event = parse_entry(entry)
    except MalformedError as exc:
        return _step("call", False, "call.invalid_entry", {"error": str(exc)}), None
    fields = ("event_id", "caller_org", "provider_org", "api", "decision", "status", "grant_id", "time_ms")
    wrong = [f for f in fields if event.get(f) != row.get(f)]
    if wrong:
        return _step("call", False, "call.differs", {"fields": ", ".join(wrong)}, event), event
    # the decision is the grant's verdict, the status what the caller got: an allowed call the provider's service did
    # not answer is "allow, status 503" (docs/gateway.md, "Authorisation")
    said: dict[str, Param] = {"decision": row["decision"], "status": row["status"]}
    parties = {"caller": row["caller_org"], "provider": row["provider_org"], "api": row["api"]}
    return _step("call", True, "call.matches", {**parties, **said}), event


def _text(value: Any) -> str:
    """A value as a link's detail writes it (``None`` as ``None``), for a parameter of its code."""
    return str(value)


def _when(seconds: Any) -> str:
    """Chain time (Unix seconds) as a step's detail says it: the number and, readable, its UTC time."""
    if not isinstance(seconds, int):
        return str(seconds)
    return f"{seconds} ({datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S} UTC)"


def _private_grant_step(event: EventJSON, state: dict[str, Any], lifecycle: Any, at: int) -> ProvenanceStep:
    """A private grant's link: its grantee and window are in terms the explorer does not hold, so it checks what
    the chain holds (the grant existed, was not revoked or voided, is the provider's grant of the call's asset)
    and says that the rest was the provider's gateway's to check (``check_private``)."""
    if event["decision"] != "allow":
        params = {"reason": _text(event["denial_reason"]), "state": _text(lifecycle)}
        return _step("grant", True, "grant.private_denied", params, state)
    when = _when(at)
    if lifecycle != "private":
        return _step("grant", False, "grant.private_not_active", {"state": _text(lifecycle), "at": when}, state)
    if state.get("asset") != event["asset_id"] or state.get("grantor") != event["provider_org"]:
        return _step("grant", False, "grant.private_other", None, state)
    return _step("grant", True, "grant.private_active", {"grantor": _text(state.get("grantor")), "at": when}, state)


def grant_step(chain: ChainIndex, event: EventJSON) -> ProvenanceStep:
    """The grant the gateway decided under, as it stood on chain at the call's time."""
    grant_id = event["grant_id"]
    at = event["time_ms"] // 1000
    when = _when(at)
    if grant_id is None:
        reason = event["denial_reason"] or "none"
        return _step("grant", None, "grant.none", {"decision": _text(event["decision"]), "reason": _text(reason)})
    state = chain.grant_state_at(grant_id, at)
    if event["decision"] == "allow" and (state is None or state.get("state") == "not_yet_valid"):
        later = chain.grant_state_at(grant_id, at + CLOCK_SKEW_S)
        if later is not None and later.get("state") == "active" and not later.get("void"):
            params: dict[str, Param] = {"active_at": _when(later.get("created_at")), "at": when, "skew_s": CLOCK_SKEW_S}
            return _step("grant", None, "grant.clocks", params, later)
    if state is None:
        if event["decision"] == "allow":
            return _step("grant", False, "grant.allowed_missing", {"grant": _text(grant_id), "at": when})
        return _step("grant", None, "grant.missing", {"grant": _text(grant_id), "at": when})
    lifecycle = "void" if state.get("void") else state.get("state")  # void: the asset changed owner since
    if state.get("private"):
        return _private_grant_step(event, state, lifecycle, at)
    parties_ok = state.get("grantee") == event["caller_org"] and state.get("asset") == event["asset_id"]
    if event["decision"] == "allow":
        if lifecycle != "active":
            return _step("grant", False, "grant.allowed_not_active", {"state": _text(lifecycle), "at": when}, state)
        if not parties_ok:
            return _step("grant", False, "grant.allowed_other_parties", None, state)
        parties = {"grantor": _text(state.get("grantor")), "grantee": _text(state.get("grantee"))}
        return _step("grant", True, "grant.active", {"at": when, **parties}, state)
    params = {"reason": _text(event["denial_reason"]), "state": _text(lifecycle), "at": when}
    return _step("grant", True, "grant.denied", params, state)


def asset_step(chain: ChainIndex, event: EventJSON) -> ProvenanceStep:
    """The asset behind the service: registered, owned by the provider at the call's time, and its version."""
    asset = event["asset_id"]
    if asset is None:
        return _step("asset_version", None, "asset.none")
    at = event["time_ms"] // 1000
    when = _when(at)
    owner = chain.owner_at(asset, at)
    if owner is None:
        if chain.owner_at(str(asset), at + CLOCK_SKEW_S) is not None:
            params: dict[str, Param] = {"asset": str(asset), "skew_s": CLOCK_SKEW_S, "at": when}
            return _step("asset_version", None, "asset.clocks", params)
        ok = None if event["decision"] == "deny" else False
        return _step("asset_version", ok, "asset.unregistered", {"asset": str(asset), "at": when})
    version_no = event["asset_version"]
    version = chain.asset_version_at(asset, version_no) if version_no is not None else None
    if version is None:
        for item in chain.history("asset", str(asset)):
            if item["event"] in ("AssetRegistered", "AssetVersionAdded") and item["timestamp"] <= at:
                number = item["args"].get("version", 1)
                version = chain.asset_version_at(str(asset), int(number)) or version
    found: dict[str, Param] = {"asset": str(asset), "owner": _text(owner), "at": when}
    if owner != event["provider_org"]:
        return _step("asset_version", False, "asset.other_owner", found, version)
    if version is None:
        return _step("asset_version", True, "asset.owned_no_version", found, version)
    return _step("asset_version", True, "asset.owned", {**found, "version": _text(version["version"])}, version)


def evidence_steps(checks: Sequence[Step], bundle: EvidenceBundle, row: CallRow) -> list[ProvenanceStep]:
    by_name = {c.name: c for c in checks}
    steps = [_combine(link, [by_name[n] for n in names if n in by_name]) for link, names in EVIDENCE_LINKS]
    if bundle.index != row["index"]:
        steps[0] = _step("entry", False, "entry.other_leaf", {"bundle_index": bundle.index, "index": row["index"]})
    elif base64.b64encode(bundle.leaf_hash).decode("ascii") != row["leaf_hash"]:
        steps[0] = _step("entry", False, "entry.other_leaf_hash")
    return steps
