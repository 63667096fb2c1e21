"""The notary API's response bodies, as pydantic models: what each JSON route returns, field by field.

The fields are listed in the order the routes have always written them; a model forbids keys it does not
declare, so a route that starts returning something else fails its tests instead of changing the JSON quietly.
Bytes of the log (hashes, entries) are base64; bytes of the chain (transactions, headers) are 0x-hex. The receipt
and the evidence bundle are ``notary.bundleschema``'s, which the explorer's API shares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from notary.bundleschema import Base64, Hex, Receipt
from notary.event import OPTIONAL_FIELDS, EventJSON


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Body):
    error: str = Field(description="What was wrong and what to do")
    detail: list[dict[str, Any]] | None = Field(None, description="The field errors of a malformed event (422)")


# -- write ---------------------------------------------------------------------------------------------------


class BatchGap(_Body):
    first: int
    last: int


class BatchResult(_Body):
    new: int = Field(description="Events sequenced now")
    duplicates: int = Field(description="Events the log already held (their receipts are returned again)")
    gaps: list[BatchGap] = Field(description="Gateway sequence numbers this batch revealed missing")
    receipts: list[Receipt]


# -- reads ---------------------------------------------------------------------------------------------------


def _entry_event() -> type[BaseModel]:
    """The event an entry holds (``notary.event.EventJSON``), its keys in the entry's order (RFC 8785: sorted),
    the optional ones (``notary.event.OPTIONAL_FIELDS``) absent where they do not apply."""
    hints = get_type_hints(EventJSON)
    fields: dict[str, Any] = {key: (hints[key], None if key in OPTIONAL_FIELDS else ...) for key in sorted(hints)}
    model = create_model("EntryEvent", __base__=_Body, **fields)
    model.__doc__ = "A recorded event: a call, a denial, a ledger query, an alarm record or a step of a PSI job."
    return model


if TYPE_CHECKING:
    EntryEvent = _Body
else:
    EntryEvent = _entry_event()


class Entry(_Body):
    index: int
    entry: Base64 = Field(description="The entry bytes: the event's canonical JSON")
    leaf_hash: Base64
    event: EntryEvent = Field(description="The event, parsed from the entry")


class EventRow(_Body):
    """One event of a listing: where it is in the log and who its parties are."""

    index: int = Field(description="The event's leaf index")
    event_id: str
    time_ms: int
    caller_org: str
    provider_org: str
    decision: str
    status: int | None


class EventPage(_Body):
    events: list[EventRow] = Field(description="The events of the page the reader may read, in index order")
    next: int | None = Field(description="``from`` for the next page; null when the scan reached the log's end")


class InclusionProof(_Body):
    index: int
    size: int = Field(description="The size of the published checkpoint proven against")
    leaf_hash: Base64
    proof: list[Base64]
    root: Base64
    checkpoint: str = Field(description="The cosigned checkpoint note of that size")


class ConsistencyProof(_Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    proof: list[Base64]


class Anchor(_Body):
    """One anchor transaction of a checkpoint on chain (AuditAnchor), as the notary tracks it."""

    size: int
    tx_hash: Hex
    nonce: int
    state: Literal["sent", "confirmed", "failed"]
    sent_ms: int
    block_number: int | None
    block_hash: Hex | None
    confirmed_ms: int | None


class Checkpoint(_Body):
    size: int
    root: Base64
    time_ms: int
    published_ms: int | None
    cosigners: list[str] = Field(description="The witnesses whose cosignatures the note carries")
    note: str = Field(description="The cosigned checkpoint note (C2SP tlog-checkpoint, signed-note)")
    anchor: Anchor | None


class CheckpointPage(_Body):
    checkpoints: list[Checkpoint]
    next: int | None = Field(description="``after`` for the next page; null on the last")


class AnchorPage(_Body):
    anchors: list[Anchor]
    next: int | None = Field(description="``after`` for the next page; null on the last")


class Gap(_Body):
    gateway: str
    first: int
    last: int
    found_ms: int


class Gaps(_Body):
    gaps: list[Gap]
    last_seq: dict[str, int] = Field(description="The last sequence number seen of each gateway")


class Alarm(_Body):
    """One open alarm per ``kind`` and ``subject``: the same condition found again counts on it, adds no alarm.
    Once resolved it is kept as it was, with who resolved it, when and why; the condition found again after that
    opens a new alarm."""

    id: int
    time_ms: int = Field(description="When it was first found (ms since the epoch)")
    kind: str
    size: int | None = Field(description="The tree size it named when first found")
    message: str = Field(description="What was found the first time")
    subject: str = Field(description="What it is about: an object's key, a witness, a checkpoint's or anchor's size")
    last_ms: int = Field(description="When it was last found (ms since the epoch)")
    count: int = Field(description="How many times it was found")
    resolved_ms: int | None = Field(description="When an operator resolved it (ms since the epoch); null while open")
    resolved_by: str | None = Field(description="Who resolved it: the operator's reader or person; null while open")
    reason: str | None = Field(description="Why it was resolved, as the operator gave it; null while open")


class Alarms(_Body):
    alarms: list[Alarm] = Field(description="A page of the alarms (`limit`, 100 unless given), the last found first")
    next: str | None = Field(
        description="`cursor` for the next page (an opaque string, bound to the `state` listed); null on the last"
    )


# -- operations ----------------------------------------------------------------------------------------------


class WitnessStatus(_Body):
    status: int = Field(description="The HTTP status of the witness's last answer; 0 when unreachable")
    detail: str


class Anchoring(_Body):
    last_error: str | None = Field(description="null while anchoring works")
    failing_since_ms: int | None
    retry_at_ms: int | None
    connected: bool


class LeaderStatus(_Body):
    leader: bool = Field(description="Whether this replica leads: signs, witnesses, publishes and anchors checkpoints")
    token: int | None = Field(description="The fencing token of its leader-only writes; null unless leader")
    since_ms: int | None = Field(description="When it became leader; null unless leader")
    replica: str = Field(description="This replica (host:pid)")
    election: str = Field(description="postgresql (replicas share the store), or none (an embedded store)")


class Health(_Body):
    """Liveness, and to authenticated readers and the monitor the figures (``notary.api.operations``)."""

    ok: bool
    origin: str | None = None
    vkey: str | None = Field(None, description="The log's verifier key (C2SP signed-note)")
    size: int | None = Field(None, description="Entries sequenced")
    signed_size: int | None = None
    published_size: int | None = None
    published_ms: int | None = None
    witnesses: dict[str, WitnessStatus] | None = None
    policy: str | None = None
    anchored_size: int | None = None
    anchoring: Anchoring | None = Field(None, description="null when this notary does not anchor")
    gaps: int | None = None
    alarms: int | None = Field(None, description="Open (not resolved) integrity alarms")
    leader: LeaderStatus | None = None
