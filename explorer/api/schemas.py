"""The API's answers as pydantic models: the OpenAPI document describes every body from these.

Each model lists the keys an answer has today, in the order it has them. Routes serialise with
``response_model_exclude_unset``, so a key is in an answer exactly when the code put it there: a field with a
default (``redacted``, a transaction's ``events``) is one some answers leave out, never a ``null`` added.
Objects the explorer relays from another part of the consortium (health, anchors and gaps, a block's seals,
the followers' and the recorder's status) are :class:`Relayed`: their known keys are described, and any other
key they hold is passed on unchanged. The notary's evidence bundle is parsed at the explorer's edge
(``notary.bundle.EvidenceBundle``), so it is described exactly, every part with its properties, by the notary's own
models (``notary.bundleschema.Evidence``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from explorer.api.eventschema import ChainEvent, Transaction
from explorer.validators import SHOWN
from notary.bundleschema import Evidence


class Relayed(BaseModel):
    """An object another part of the consortium produced: the known keys below, and any others it holds."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    """Every refusal: a code (``not_found``, ``invalid_parameter``, ``rate_limited``...) and a sentence."""

    error: str
    detail: str
    errors: list[ErrorDetail] = Field(default_factory=list, description="invalid parameters only, at most 10")


# -- people and keys ---------------------------------------------------------------------------------------


class Me(BaseModel):
    org: str
    name: str
    role: str
    display_name: str
    regulator: bool
    expires_ms: int


class WitnessPolicy(BaseModel):
    threshold: int
    require_regulator: bool
    witnesses: list[str] | None = Field(default=None, description="the orgs counted")
    regulators: list[str] | None = Field(default=None, description="the regulators among them")


class WitnessKeySource(BaseModel):
    """Where the witness keys come from: the chain at a block, or consortium.json."""

    source: str = Field(description="chain, or consortium.json (the explorer reads no TrustDirectory)")
    block: int | None = Field(description="the block the keys are valid at")
    anchored: bool = Field(description="the block is the one that anchored the checkpoint (else the head)")
    detail: str
    log_key: str | None = Field(
        default=None,
        description="where the log key comes from: chain (`log_keys`, judged at the same block; `log_vkey` stays "
        "consortium.json's), or consortium.json",
    )
    log_key_detail: str | None = None


class WitnessKey(BaseModel):
    org: str
    vkey: str = Field(description="C2SP tlog-cosignature vkey")
    regulator: bool


class LogKeyEntry(BaseModel):
    """One log key as the TrustDirectory records it."""

    vkey: str = Field(description="C2SP signed-note vkey (the SM2 profile's under sm), named by the log's origin")
    key_id: str = Field(description="its C2SP key id in hex, as a checkpoint's signature line names it")
    record: int = Field(description="its record's index among the notary member's records")
    valid_from: int = Field(description="the first block it is valid at")
    valid_until: int | None = Field(description="the first block it is no longer valid at (retired or compromised)")
    compromised: bool = Field(description="declared compromised as of valid_until")
    valid: bool = Field(description="valid at the block the keys are judged at")


class LogKeysOnChain(BaseModel):
    """The log's keys on chain, judged at the block the witness keys are chosen at: a checkpoint counts only under
    the key its signature line names, valid at that block (docs/trust.md)."""

    block: int = Field(description="the block the keys are judged at: the checkpoint's anchor block, or the head")
    anchored: bool = Field(description="the block is the one that anchored the checkpoint (else the head)")
    detail: str
    keys: list[LogKeyEntry] = Field(description="every log key of the log the directory records")


class Keys(BaseModel):
    """The consortium's public keys for verifying the log: its origin and first key from consortium.json, the
    witness keys (one entry per key) valid on chain for the checkpoint and, when the chain holds them, the log's
    keys judged at the same block."""

    origin: str
    log_vkey: str = Field(
        description="C2SP signed-note vkey of the log as consortium.json holds it (the key it started with); a "
        "checkpoint is checked under it only when `log_keys` is absent"
    )
    witnesses: list[WitnessKey]
    policy: WitnessPolicy
    witness_keys: WitnessKeySource | None = None
    log_keys: LogKeysOnChain | None = Field(
        default=None,
        description="the log's keys on chain, judged at `witness_keys.block`; absent when the explorer reads no "
        "TrustDirectory or it holds no log key",
    )


# -- the consortium ------------------------------------------------------------------------------------------


class Member(BaseModel):
    org: str
    name: str
    roles: list[str]
    status: str
    certificate_fingerprint: str
    accounts: list[str]
    admitted_at: int


class Members(BaseModel):
    block: int = Field(description="the block the state was read at (-1 before the first read)")
    members: list[Member]


class MemberDetail(Member):
    history: list[ChainEvent]


class WitnessAnswer(Relayed):
    """A witness's last answer to the notary."""

    status: int | None = Field(None, description="HTTP status, 0 when unreachable")
    detail: str | None = None


class WitnessState(BaseModel):
    org: str
    status: int | None
    detail: str | None


class Witnesses(BaseModel):
    policy: WitnessPolicy
    witnesses: list[WitnessState]


# -- assets, services, grants ------------------------------------------------------------------------------


class Asset(BaseModel):
    asset: str
    owner: str
    kind: str
    classification: int
    private: bool
    version_count: int
    pending_owner: str | None
    registered_at: int
    retired: bool
    transfers: int


class Assets(BaseModel):
    block: int
    assets: list[Asset]


class AssetVersion(BaseModel):
    asset: str
    version: int
    content_digest: str | None
    metadata_digest: str | None
    classification: int | None
    block_number: int
    timestamp: int
    tx_hash: str
    registered_by: str | None


class Grant(BaseModel):
    grant_id: str
    asset: str
    grantor: str
    grantee: str | None = Field(
        description="the grantee; for a private grant the caller of a call under it, allowed or denied, as the log "
        "shows it (its grantor's gateway names the grant only when the grant's key binds that caller as grantee), "
        "null while no call used it"
    )
    purpose: str | None
    not_before: int | None
    expires_at: int | None
    quota: int | None
    created_at: int
    revoked_at: int | None
    revoke_reason: int | None
    state: str = Field(
        description="active, revoked, expired, not_yet_valid or void; a private grant revoked, void or private "
        "(whether it is active depends on its window, which is in its terms)"
    )
    private: bool | None = None
    terms: str | None = Field(None, description="for a private grant: what the explorer shows of its terms")
    key: str | None = Field(
        None, description="a private grant's locator on chain: keccak256(abi_encode(salt, asset, grantee, purpose))"
    )
    commitment: str | None = Field(
        None,
        description="a private grant's commitment on chain: keccak256(abi_encode(salt, grantee, purpose, not_before, "
        "expires_at, quota)); a party's browser checks its terms document against it",
    )


class AssetDetail(Asset):
    versions: list[AssetVersion]
    history: list[ChainEvent]
    grants: list[Grant]


class Api(BaseModel):
    api: str
    route: str
    method: str
    provider: str
    asset: str
    active: bool


class Unit(BaseModel):
    unit: str
    name: str
    apis: list[Api]


class Center(BaseModel):
    center: str
    name: str
    units: list[Unit]


class Services(BaseModel):
    block: int
    centers: list[Center]


class Grants(BaseModel):
    block: int
    grants: list[Grant]


class GrantDetail(Grant):
    history: list[ChainEvent]


# -- calls ---------------------------------------------------------------------------------------------------


class Call(BaseModel):
    """One call as indexed: the event's searchable fields and its leaf in the log."""

    index: int = Field(description="leaf index in the log")
    event_id: str
    time_ms: int
    caller_org: str
    provider_org: str
    center: str
    unit: str
    api: str
    method: str
    route: str
    asset_id: str | None
    asset_version: int | None
    grant_id: str | None
    decision: str
    denial_reason: str | None
    status: int
    latency_us: int
    trace_id: str
    gateway_id: str
    gateway_seq: int
    leaf_hash: str = Field(description="RFC 9162 leaf hash, base64")


class RegulatorQuery(BaseModel):
    """One of the regulator's queries of a call (its detail, provenance or evidence): the query record's event id,
    which the reader opens as a call (``/calls/{event_id}``), its time and endpoint."""

    event_id: str
    time_ms: int
    api: str


class SearchedCall(Call):
    regulator_queries: list[RegulatorQuery] = Field(
        description="the regulator's queries of this call that the person may see, oldest first: a firm's people "
        "see those of its calls only when the consortium's audit policy shows the regulator's queries to their "
        'subject (docs/explorer.md, "Audit of the auditors"); from the newest 500 of each kind of query'
    )


class CallPage(BaseModel):
    calls: list[SearchedCall]
    next: str | None = Field(description="cursor of the next page, None on the last")
    limit: int


class Event(BaseModel):
    """The call's log entry as the gateway recorded it (``notary.event``); digests are salted HMACs."""

    api: str
    asset_id: str | None
    asset_version: int | None
    caller_identity: str
    caller_org: str
    center: str
    decision: str
    denial_reason: str | None
    event_id: str
    gateway_id: str
    gateway_seq: int
    grant_id: str | None
    latency_us: int
    method: str
    provider_org: str
    request_digest: str
    response_digest: str | None
    route: str
    status: int
    time_ms: int
    traceparent: str
    unit: str
    v: int
    subject: str | None = Field(
        None, description="an explorer query's: the firms whose data it read, comma-separated; absent otherwise"
    )
    psi_dp_cost: str | None = Field(
        None,
        description="an allowed PSI request step under a privacy budget: the ε the owner's gateway charged to the "
        "grant's budget when it admitted it; absent otherwise",
    )
    psi_job: str | None = Field(
        None, description="a PSI job's step: the job's tag (SHA-256 over the grant id and the job id); absent otherwise"
    )
    psi_record: str | None = Field(
        None, description="an allowed PSI record step: the SHA-256 of the record signed by both (record.json)"
    )
    psi_retry_of: str | None = Field(
        None,
        description="an allowed PSI request step whose bytes are those of a request the owner's gateway already "
        "counted as the job's run: that step's event id (this one took no run and no ε); absent otherwise",
    )
    psi_summary: str | None = Field(
        None,
        description="with psi_record: that record's digests and counts without its job id and purpose, canonical "
        "JSON in a string (docs/privacy.md)",
    )


class Shredded(BaseModel):
    """The provider's signed statement that it destroyed the epoch key of the event's day."""

    provider: str
    day: str = Field(description="the UTC day, YYYY-MM-DD")
    shredded_ms: int
    by: str


class Digests(BaseModel):
    """How the event's digests were salted, and whether that salt can still be revealed."""

    scheme: str = Field(
        description="`epoch-hkdf/v1`: a salt per event from the provider's key of the day (event version 2); "
        "`epoch-hkdf-sm3/v1`: the same with HKDF-SM3 and HMAC-SM3 digests, under the national suite (version 3); "
        "`gateway-key/v1`: the recording gateway's one salt (version 1)"
    )
    day: str = Field(description="the UTC day of the event, whose epoch key salted it")
    shredded: Shredded | None = Field(
        description="set when the provider shredded that day's key: the digests can no longer be linked to any "
        "payload; the entry and every proof still verify"
    )


class CallDetail(BaseModel):
    call: Call
    event: Event
    digests: Digests


class GrantAtTime(BaseModel):
    """A grant as it stood on chain at a call's time (``explorer.chainindex.ChainIndex.grant_state_at``)."""

    grant_id: str
    asset: str | None
    grantor: str | None
    grantee: str | None = Field(description="null for a private grant: its grantee is in its terms")
    purpose: str | None = Field(description="null for a private grant")
    not_before: int | None = Field(description="chain time, seconds; null for a private grant")
    expires_at: int | None = Field(description="chain time, seconds; null for a private grant")
    quota: int | None = Field(description="null for a private grant")
    private: bool
    created_at: int = Field(description="chain time of the block that created it, seconds")
    created_block: int
    created_tx: str
    revoked: bool = Field(description="revoked at or before the call's time")
    revoked_at: int | None
    revoke_reason: int | None
    revoked_tx: str | None
    state: Literal["active", "revoked", "private", "not_yet_valid", "expired"] = Field(
        description="at the call's time; `private`: not revoked, its window is in its terms"
    )
    void: bool = Field(description="its asset changed owner after it and at or before the call's time")
    void_at: int | None


class EvidenceCheck(BaseModel):
    """One step of ``notary.verify.verify_evidence`` on the notary's bundle."""

    name: str
    ok: bool | None
    detail: str


class EvidenceChecks(BaseModel):
    checks: list[EvidenceCheck] = Field(description="the evidence steps behind this link, in the verifier's order")


class _Step(BaseModel):
    """One link of the provenance: ``ok`` true (checked), false (the check failed) or null (not yet, or n/a)."""

    step: str
    ok: bool | None
    detail: str = Field(description="what the check found, in English")
    code: str = Field(
        description="what the check found, as a code of `explorer.provenance.DETAILS` (the page says it in its "
        "language, from `params`); `detail` is its English"
    )
    params: dict[str, str | int | None] = Field(description="the values the code's words name")


class CallStep(_Step):
    """The log entry against the explorer's index of the call."""

    step: Literal["call"]
    data: Event | None = Field(
        description="when the entry's fields differ from the index, the event as the log holds it; else null"
    )


class GrantStep(_Step):
    """The grant the gateway decided under, as it stood on chain at the call's time."""

    step: Literal["grant"]
    data: GrantAtTime | None = Field(description="the grant at the call's time; null when none was involved")


class AssetVersionStep(_Step):
    """The asset behind the service, owned by the provider at the call's time, and its version."""

    step: Literal["asset_version"]
    data: AssetVersion | None = Field(description="the version the call names (or the last before it), if any")


class EvidenceStep(_Step):
    """A link of the log and the chain, checked on the notary's evidence bundle."""

    step: Literal["entry", "inclusion", "checkpoint", "cosignatures", "anchor", "block"]
    data: EvidenceChecks | None = Field(description="the checks behind the link; null when there is no bundle")


#: One link of a call's provenance, the model its ``step`` picks.
Step = Annotated[CallStep | GrantStep | AssetVersionStep | EvidenceStep, Field(discriminator="step")]


class Provenance(BaseModel):
    event_id: str
    call: Call
    verified: bool
    steps: list[Step]
    evidence: Evidence | None
    keys: Keys


class ExportedCall(Call):
    checkpoint_size: int | None = Field(description="the smallest checkpoint covering the call")
    checkpoint_root: str | None
    regulator_queries: list[RegulatorQuery] = Field(
        description="as in the search: the regulator's queries of this call that the person may see"
    )


# -- reports -------------------------------------------------------------------------------------------------


class ApiCount(BaseModel):
    center: str | None
    api: str | None
    decision: str
    calls: int


class Side(BaseModel):
    calls: int
    allowed: int
    denied: int
    by_api: list[ApiCount]


class DenialCount(BaseModel):
    side: str = Field(description="made or served")
    reason: str | None
    calls: int


class Counterpart(BaseModel):
    org: str | None
    made: int
    served: int
    denied_made: int
    denied_served: int


class CallReport(BaseModel):
    org: str
    from_ms: int
    to_ms: int
    made: Side
    served: Side
    denials: list[DenialCount]
    counterparts: list[Counterpart]


class GrantChange(BaseModel):
    time: int
    event: str
    grant_id: str | None
    tx_hash: str


class Gap(Relayed):
    """Gateway sequence numbers the notary never received."""

    gateway: str | None = None
    first: int | None = None
    last: int | None = None
    found_ms: int | None = None


class RegulatorLookCounts(BaseModel):
    """Of one firm's calls in a period, how many the regulator's queries (detail, provenance, evidence) naming
    the firm read, and how many such queries (``explorer.lookedat.look_counts``)."""

    calls: int = Field(ge=0, description="the firm's calls the regulator's queries read")
    queries: int = Field(ge=0, description="the regulator's queries of those calls")


class FirmQueryCount(BaseModel):
    """The regulator's queries in a period that name one firm as subject (``explorer.lookedat.queries_by_firm``)."""

    org: str
    queries: int = Field(ge=0)


class ComplianceReport(BaseModel):
    org: str
    from_ms: int
    to_ms: int
    generated_ms: int
    log_size: int
    calls: CallReport
    grants_changed: list[GrantChange]
    gaps: list[Gap]
    regulator_looks: RegulatorLookCounts | None = Field(
        None,
        description="how many of the firm's calls the regulator's queries read in the period: to the regulator, and "
        "to the firm's own people when the consortium's `audit` policy shows a firm the regulator's queries of its "
        "data; absent otherwise",
    )


# -- the chain -----------------------------------------------------------------------------------------------


class Signer(Relayed):
    address: str | None = None
    org: str | None = None


class BlockSeals(Relayed):
    """What a block's extra data says about its seals (``explorer.chainfollow.block_seals``)."""

    format: str | None = None
    round: int | None = None
    validators: list[str] | None = None
    proposer: Signer | None = Field(None, description="the block's beneficiary; absent from blocks indexed before")
    signers: list[Signer] | None = None
    threshold: int | None = None
    valid: bool | None = None
    note: str | None = None


class Block(BaseModel):
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    tx_count: int
    seals: BlockSeals | None


class BlockPage(BaseModel):
    blocks: list[Block]
    next: int | None
    head: int


class BlockDetail(Block):
    transactions: list[Transaction]


class Validator(BaseModel):
    """An account, named by the member that holds it (None if none does)."""

    address: str
    org: str | None


class ValidatorCounts(Validator):
    """What one validator did over the window (``explorer.validators``)."""

    current: bool = Field(description="in the set the newest block names, which decides the next block")
    proposed: int = Field(description="blocks whose beneficiary it is")
    sealed: int = Field(description="blocks carrying its commit seal")
    missed: int = Field(description="rounds it was the proposer of that decided no block")
    in_set: int = Field(description="blocks decided by a set naming it")


class MissedProposer(Validator):
    rounds: int = Field(description="how many of the rounds before the deciding one were its")


class RoundChange(BaseModel):
    """A block decided in a round after the first."""

    number: int
    round: int
    proposer: Validator | None = Field(description="null for a block indexed before proposers were recorded")
    missed: list[MissedProposer] | None = Field(description="null when the parent's set or proposer is unknown")


class SetChange(BaseModel):
    """A block naming a validator set other than its parent's."""

    number: int
    validators: list[str] = Field(description="the set it names, which decides the next block")
    added: list[Validator]
    removed: list[Validator]


class ValidatorActivity(BaseModel):
    """The validators over the newest ``window`` blocks, derived from the indexed blocks alone."""

    head: int = Field(description="the newest indexed block (-1 before the first)")
    window: int
    first: int | None = Field(description="the oldest block counted (null before the first)")
    validators: list[ValidatorCounts] = Field(description="the current set in rotation order, then the others")
    unknown_proposer: int = Field(description="blocks counted whose proposer the index does not hold")
    unknown_missed: int = Field(description="blocks decided in a later round whose missed proposers are unknown")
    round_changes: list[RoundChange] = Field(description=f"newest first, at most {SHOWN}")
    round_changes_total: int
    set_changes: list[SetChange] = Field(description=f"newest first, at most {SHOWN}")
    set_changes_total: int


class EquivocationJson(BaseModel):
    """A record as ``qbft_getEquivocations`` answers it (``chain.qbft.evidence.Equivocation.to_json``): what
    ``consortium chain equivocations --file F --verify`` checks offline."""

    validator: str
    height: str = Field(description="hex quantity")
    round: str = Field(description="hex quantity")
    type: str = Field(description="PROPOSAL, PREPARE, COMMIT or ROUND_CHANGE")
    code: str = Field(description="the QBFT message code, hex (0x12 to 0x15)")
    first: str = Field(description="the first message's body (RLP, hex) as the node received it")
    second: str = Field(description="the second message's body (RLP, hex) as the node received it")


class EquivocationListed(BaseModel):
    """A record that proves its validator signed two conflicting messages (checked by the explorer), once
    whichever nodes reported it (the same validator, height, round, type and two message bodies)."""

    index: int = Field(description="its place in the answer of the first node in `nodes`")
    validator: Validator
    height: int
    round: int
    type: str
    set_checked: bool = Field(description="its validator was checked against the set its height's parent names")
    record: EquivocationJson
    nodes: list[str] = Field(description="the nodes that reported it (see `Equivocations.nodes`), in their order")


class EquivocationRefused(BaseModel):
    """A record a node served that does not prove an equivocation."""

    index: int = Field(description="its place in that node's answer")
    reason: str
    node: str = Field(description="the node that served it")


class EvidenceSource(BaseModel):
    ok: bool = Field(description="the node answered qbft_getEquivocations at the last ask")
    error: str | None


class EvidenceNode(BaseModel):
    """One node asked for its records: the explorer's own chain node first, then the others `nodes.json` lists."""

    name: str = Field(description="its org as nodes.json names it (`chain node`: the explorer's, not named there)")
    own: bool = Field(description="the explorer's own chain node")
    ok: bool = Field(description="it answered a list at the last ask")
    error: str | None = Field(description="why not: down, too slow, lacking the method, or what it answered")
    records: int = Field(description="records of its last good answer (kept when it stops answering)")


class Equivocations(BaseModel):
    """The equivocation evidence the consortium's chain nodes kept, gathered from every node the explorer reaches,
    merged, and each record checked by the explorer (``explorer.equivocations``)."""

    equivocations: list[EquivocationListed]
    refused: list[EquivocationRefused]
    source: EvidenceSource = Field(description="the explorer's own chain node (as in `nodes`)")
    nodes: list[EvidenceNode] = Field(default_factory=list, description="every node asked, each with its status")


# -- the log -------------------------------------------------------------------------------------------------


class Anchor(Relayed):
    """A checkpoint's anchor transaction on chain, as the notary reports it."""

    size: int | None = None
    tx_hash: str | None = None
    nonce: int | None = None
    state: str | None = None
    sent_ms: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    confirmed_ms: int | None = None


class Checkpoint(BaseModel):
    size: int
    root: str = Field(description="base64")
    time_ms: int | None
    published_ms: int | None
    cosigners: list[str]
    note: str = Field(description="the cosigned checkpoint, C2SP signed-note")
    anchor: Anchor | None


class CheckpointPage(BaseModel):
    checkpoints: list[Checkpoint]
    next: int | None


class AnchoredCheckpoint(Relayed):
    """An anchor with the root of its checkpoint."""

    size: int | None = None
    root: str | None = None
    tx_hash: str | None = None
    nonce: int | None = None
    state: str | None = None
    sent_ms: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    confirmed_ms: int | None = None
    signature: Literal["checked", "unchecked", "unknown"] = Field(
        description="whether AuditAnchor checked the log key's signature on this anchor, from the explorer's chain "
        "index: checked (an anchor_signed, its AnchorSigned log in the transaction), unchecked (a plain anchor: "
        "an intl log's, or an sm log's on an AuditAnchor deployed before signed_only), unknown (the transaction's "
        "Anchored log is not indexed: not yet, not confirmed, or failed)"
    )


class Anchors(BaseModel):
    crypto: Literal["intl", "sm"] = Field(description="the consortium's suite (consortium.json's crypto)")
    anchors: list[AnchoredCheckpoint]


class Gaps(BaseModel):
    gaps: list[Gap]


# -- operations ----------------------------------------------------------------------------------------------


class ChainStatus(BaseModel):
    ok: bool
    last_error: str | None
    head: int | None
    head_time: int | None
    indexed: int


class NotaryAnchoring(Relayed):
    """The notary's anchoring loop (``notary.anchor.Anchorer.status``)."""

    last_error: str | None = Field(None, description="null while anchoring works")
    failing_since_ms: int | None = None
    retry_at_ms: int | None = None
    connected: bool | None = Field(None, description="whether a chain client is connected")


class NotaryHealth(Relayed):
    """``ok`` and, while the notary answers, its ``/healthz``."""

    ok: bool
    origin: str | None = None
    vkey: str | None = None
    size: int | None = None
    signed_size: int | None = None
    published_size: int | None = None
    published_ms: int | None = None
    witnesses: dict[str, WitnessAnswer] | None = None
    policy: str | None = None
    anchored_size: int | None = None
    anchoring: NotaryAnchoring | None = Field(None, description="null when the notary does not anchor")
    gaps: int | None = None
    alarms: int | None = None


class GatewayHealth(BaseModel):
    gateway: str
    last_seq: int
    gaps: int


class LogFollowerStatus(Relayed):
    """The log follower (``explorer.logfollow.LogFollower.status``)."""

    last_error: str | None = None
    indexed_size: int | None = None
    checkpoint_size: int | None = Field(None, description="of the last verified checkpoint")
    last_sync_ms: int | None = Field(None, description="the end of the last good round (ms since the epoch)")
    alarm: str | None = Field(
        None, description="a sentence naming the size, once the notary served data that does not check out"
    )
    running: bool | None = None


class ChainFollowerStatus(Relayed):
    """The chain follower (``explorer.chainfollow.ChainFollower.status``)."""

    head_seen: int | None = None
    indexed_head: int | None = None
    last_error: str | None = None
    last_sync_ms: int | None = Field(None, description="the end of the last good round (ms since the epoch)")
    halted: bool | None = Field(None, description="indexing stopped for good: the chain reorganised below it")
    running: bool | None = None


class Followers(BaseModel):
    """The explorer's followers of the log and the chain; a follower without a status is null."""

    model_config = ConfigDict(extra="forbid")

    log: LogFollowerStatus | None = None
    chain: ChainFollowerStatus | None = None


class AuditRecorderStatus(Relayed):
    """The recorder of the regulator's queries (``explorer.audit``): its outbox and its shipper to the notary."""

    gateway: str | None = Field(None, description="the gateway id it records as")
    recorded: int | None = None
    pending: int | None = Field(None, description="events in the outbox not shipped yet")
    shipped_total: int | None = None
    batches: int | None = None
    consecutive_failures: int | None = None
    last_error: str | None = None
    last_success_ms: int | None = None
    refused: bool | None = Field(
        None, description="the notary refused the last batch (4xx): retried, it needs an operator"
    )
    key: str | None = Field(None, description="the public key the shipper signs with, hex")


class ExplorerHealth(BaseModel):
    indexed_size: int
    followers: Followers
    audit: AuditRecorderStatus | None = Field(description="null when the explorer records no queries")


class Health(BaseModel):
    chain: ChainStatus
    notary: NotaryHealth
    witnesses: dict[str, WitnessAnswer]
    gateways: list[GatewayHealth]
    explorer: ExplorerHealth


class Alarm(BaseModel):
    """An operational alarm of the consortium's components (docs/alarms.md)."""

    id: str = Field(description="`<rule>:<subject>`, stable while the alarm lasts")
    rule: str
    severity: Literal["info", "warning", "critical"]
    subject: str = Field(description="the component: `witness/<org>`, `node/<org>`, `gateway/<org>`, `notary`, ...")
    org: str | None = Field(description="the firm whose component the subject is, if any")
    summary: str = Field(description="what holds, in English")
    summary_code: str | None = Field(
        description="what `summary` says, as a code of `network.alarms.rules.SUMMARIES` (the page says it in its "
        "language from `summary_params`); null for an alarm evaluated before the codes"
    )
    summary_params: dict[str, str | int] = Field(description="the values the summary's code names")
    since_ms: int
    resolved_ms: int | None


class Alarms(BaseModel):
    status: Literal["live", "stale", "unreachable", "never"] = Field(
        description="`live`: evaluated within `stale_after_ms`; `stale`: evaluated longer ago, shown as they were; "
        "`unreachable`: the alarm source gave no usable answer (`error` says why), the lists are its last answer "
        "or null; `never`: no evaluation yet, the lists are null"
    )
    source: Literal["endpoint", "file"] = Field(
        description="`endpoint`: the alarm endpoint of `consortium up`; `file`: DIR/alarms/alarms.json"
    )
    evaluated_ms: int | None = Field(description="when the alarms shown were evaluated; null: never")
    age_ms: int | None = Field(description="how long ago, by the explorer's clock")
    stale_after_ms: int = Field(description="the age beyond which they are `stale`")
    error: str | None = Field(description="why the source is unreachable")
    active: list[Alarm] | None = Field(description="most severe first; null: not known")
    resolved: list[Alarm] | None = Field(description="recently resolved, newest first; null: not known")


class AlarmRecord(BaseModel):
    """The audit log's record of one alarm transition (``network.alarms.audit``; docs/alarms.md)."""

    index: int = Field(description="leaf index in the log")
    event_id: str
    time_ms: int = Field(description="when the evaluator saw the transition")
    alarm_id: str = Field(description="`<rule>:<subject>`")
    rule: str
    subject: str = Field(description="the component: `witness/<org>`, `gateway/<org>`, `witnesses`, `notary`, ...")
    transition: str = Field(description="`fired`, `changed` or `resolved`")
    severity: str = Field(description="`info`, `warning` or `critical`")
    org: str = Field(description="the firm whose component the alarm is about; the operator for consortium-wide ones")
    operator: str = Field(description="the firm whose evaluator raised and recorded it")
    leaf_hash: str = Field(description="RFC 9162 leaf hash, base64")


class AlarmRecordPage(BaseModel):
    records: list[AlarmRecord]
    next: str | None = Field(description="cursor of the next page, None on the last")
    limit: int


class QueryRecord(BaseModel):
    """The explorer's record of one person's query (``explorer.audit``; docs/explorer.md "Audit of the auditors")."""

    index: int = Field(description="leaf index in the log")
    event_id: str
    time_ms: int
    caller_org: str = Field(description="the querying person's firm")
    api: str = Field(description="the endpoint: `calls.search`, `calls.provenance`, `grants.get`, ...")
    method: str
    route: str
    decision: str = Field(description="`allow`, or `deny` for a refused query")
    denial_reason: str | None
    status: int
    subject: list[str] = Field(
        description="the firms whose data the query read; empty for a search, a list, an export or a refused query"
    )
    leaf_hash: str = Field(description="RFC 9162 leaf hash, base64")


class QueryPage(BaseModel):
    """One keyset page of the query audit, newest first: at most ``limit`` records, all below the cursor's."""

    queries: list[QueryRecord] = Field(description="the records the person may see, newest first, at most `limit`")
    next: str | None = Field(
        description="opaque cursor of the next page (`cursor=`), bound to these filters and the person's firm; "
        "null once a page is not full"
    )
    limit: int = Field(description="the page size asked for, 1 to 200 (default 50)")


class Head(BaseModel):
    number: int | None
    time: int | None


class MinuteCount(BaseModel):
    minute_ms: int
    center: str | None
    calls: int
    denials: int


class Dashboard(BaseModel):
    head: Head
    checkpoint: Checkpoint | None
    anchor: Checkpoint | None = Field(description="the latest anchored checkpoint")
    log_size: int
    witnesses: dict[str, WitnessAnswer]
    calls_per_minute: list[MinuteCount]
    denials: list[Call]
    regulator_looks: RegulatorLookCounts | None = Field(
        None,
        description="to a firm's people under the consortium's `audit` policy: how many of their firm's calls the "
        "regulator's queries read in the window; absent otherwise",
    )
    regulator_queries_by_firm: list[FirmQueryCount] | None = Field(
        None, description="to the regulator's people: its queries in the window naming each firm, by firm; absent "
        "to anyone else",
    )  # fmt: skip


class Liveness(BaseModel):
    """``ok``; the figures only to a logged-in person (``explorer.api.operations.healthz``)."""

    ok: bool
    indexed_size: int | None = None
    chain_indexed: int | None = None
    trust_head: int | None = Field(
        None,
        description="the block up to which the logins' view of the chain's TrustDirectory has read it (CAs, revoked "
        "serials, members): every login is decided against the directory at this block; absent without a view",
    )


# -- privacy-computing jobs ----------------------------------------------------------------------------------


class JobStep(BaseModel):
    """One step of a PSI job: its call as indexed, and what its event says of the job."""

    step: str | None = Field(description="terms, request or record (the last segment of the API's route)")
    call: Call
    tag_from: str = Field(
        description="`message`: the owner's gateway computed the job's tag from the job id and grant id of the "
        "request or record it read; `client`: the tag the client named in its header, unchecked (the terms step, "
        "or a step refused before its message was read)"
    )
    record_sha256: str | None = Field(
        description="an allowed record step's: the SHA-256 of the record signed by both, as the owner answered it"
    )
    checkpoint: int | None = Field(description="the size of the smallest indexed checkpoint that includes the step")


class JobParty(BaseModel):
    """One party of a job as its signed record names it."""

    org: str
    signing_key: str = Field(
        description="its signing key, hex: Ed25519, or SM2 (04 || x || y) under the national suite"
    )
    vrf_key: str = Field(description="the public key of the VRF that keyed its identifiers for this job, hex")
    input_count: int | None = Field(
        None,
        description="how many identifiers it put in; absent from a summary whose dp holds the input counts with noise",
    )
    input_root: str = Field(description="RFC 9162 Merkle root over its sorted keyed identifiers (VRF leaves), hex")


class JobMessages(BaseModel):
    request: str = Field(description="SHA-256 of the request message, hex")
    response: str = Field(description="SHA-256 of the response message, hex")


class JobResult(BaseModel):
    count: int | None = Field(
        None,
        description="how many identifiers the two sets share; absent from a summary with a differentially private "
        "count (dp), which the log holds instead",
    )
    root: str = Field(description="Merkle root over the result's keyed identifiers (the client's VRF), hex")


class JobDpInputs(BaseModel):
    client: int = Field(description="the client's input count with noise (drawn by the client)")
    server: int = Field(description="the owner's input count with noise (drawn by the owner's service)")


class JobDp(BaseModel):
    """The result's count as ε-differentially private (``privacy.dp``), when the owner's terms set an ε, and with
    ``inputs`` each party's input count the same way."""

    mechanism: str = Field(description="'discrete-laplace': OpenDP's Laplace mechanism on integers, scale 1/ε")
    implementation: str = Field(description="the DP library and its version")
    epsilon: str = Field(
        description="ε of each noisy count, a decimal string (sensitivity: one identifier); a job spends it once per "
        "count it releases (sequential composition: ε, or 3ε with inputs)"
    )
    count: int = Field(description="the noisy count of the result, clamped to zero from below")
    inputs: JobDpInputs | None = Field(
        None, description="each party's input count with noise, when the asset's terms ask for it (dp_inputs)"
    )
    budget: str | None = Field(
        None,
        description="the grant's privacy budget (the total ε its jobs may spend), when the owner's terms set one; "
        "absent from records without one",
    )


class JobSignatures(BaseModel):
    client: str = Field(description="the client's signature over the record, hex: Ed25519, or SM2 r || s under sm")
    server: str = Field(description="the owner's signature over the record, hex: Ed25519, or SM2 r || s under sm")


class JobSummary(BaseModel):
    """What the record step's event says of the record signed by both (its ``psi_summary``): the record without its
    job id and purpose, with both signatures. Digests, counts and public keys only."""

    v: int
    grant_id: str
    protocol: str
    implementation: str = Field(description="the PSI implementation and its version")
    max_input: int = Field(description="the cap on each party's input the job's terms set (the grant's or the asset's)")
    client: JobParty
    server: JobParty
    messages: JobMessages
    result: JobResult
    dp: JobDp | None = Field(None, description="the differentially private count, when the asset's terms ask for one")
    terms: str | None = Field(
        None,
        description="the SHA-256 (hex) of the grant's own PSI terms document, which the asset's terms on chain list "
        "for the grant, when the job ran under it; absent: the job ran under the asset's terms (the metadata digest "
        "of the asset version its events name)",
    )
    signatures: JobSignatures


class JobPrivacyBudget(BaseModel):
    """What a job with a differentially private count spent of its grant's privacy budget, and what the grant's
    jobs spent, computed from the log (``privacy.dp``; amounts are decimal strings of ε, with at most three places):
    each allowed request step by the ε its event states the owner's gateway charged (``psi_dp_cost``), and a job
    whose request event states none (a gateway older than the field) by its record step's summary. Only the steps
    of the same grant, client and owner that the explorer indexed are counted."""

    epsilon: str = Field(description="ε of each noisy count the job released")
    noisy_counts: int = Field(description="how many counts it released with noise: 1 (the result) or 3 (with inputs)")
    cost: str = Field(description="the ε this job spent: epsilon times noisy_counts (sequential composition)")
    budget: str | None = Field(
        description="the grant's privacy budget as the job's record states it (the owner's terms' dp_budget); null "
        "when the terms set none (then the grant's runs alone bound what its jobs spend) or the record predates it"
    )
    spent: str = Field(description="the ε the grant's jobs spent through this one, in log order")
    remaining: str | None = Field(description="budget minus spent (not below 0); null without a budget")
    spent_total: str = Field(
        description="the ε every job of the grant spent, as far as the explorer indexed: what the owner's gateway "
        "spent, unless some events predate psi_dp_cost (uncounted_requests)"
    )
    remaining_total: str | None = Field(description="budget minus spent_total (not below 0); null without a budget")
    jobs: int = Field(description="the grant's jobs counted in spent_total (admitted requests and recorded jobs)")
    unrecorded_requests: int = Field(
        description="allowed requests of the grant whose job has no record step in the log (the owner's gateway spent "
        "each one's ε when it admitted it; counted in spent when the event states it)"
    )
    uncounted_requests: int = Field(
        description="those of unrecorded_requests whose event states no ε (a gateway older than psi_dp_cost): what "
        "they spent is in no figure here, so spent_total is lower than the gateway's by their ε"
    )


class PsiJob(BaseModel):
    """A privacy-computing job as the log holds it: the events of its steps, grouped by the tag they name.

    The log holds no job id and no identifier: the tag, each step's event, the record's SHA-256 and, on a record
    step the owner's gateway recorded since it writes one, the record's summary (its counts, roots, message
    digests, keys and signatures; ``summary``). Whoever holds ``record.json`` checks it against ``record_sha256``,
    ``tag`` and ``summary`` (the web UI does, in the browser) and reads its job id and purpose from it."""

    tag: str
    client: str = Field(description="the org that ran the client (the steps' caller)")
    owner: str = Field(description="the org that owns the identifier set (the steps' provider)")
    asset: str | None
    asset_version: int | None = Field(description="the asset's version the request step (else the first) ran under")
    grant_id: str | None
    grant: Grant | None = Field(description="the grant as the chain holds it now; null if the explorer has none")
    complete: bool = Field(description="an allowed request step and an allowed record step naming the record")
    record_sha256: str | None
    summary: JobSummary | None = Field(
        None,
        description="the record step's psi_summary, parsed: sizes, roots, message digests, result count and root, "
        "keys and signatures; null when the record step names no summary",
    )
    summary_json: str | None = Field(
        None, description="the psi_summary exactly as the event holds it (its bytes are in the event's leaf hash)"
    )
    privacy_budget: JobPrivacyBudget | None = Field(
        None,
        description="with a differentially private count in the summary: the ε the job spent, the grant's budget, "
        "what its recorded jobs spent and what remains; null for a job without one or without a summary",
    )
    steps: list[JobStep]
    checkpoint: Checkpoint | None = Field(
        description="the smallest indexed checkpoint that includes every step, with its cosignatures"
    )
    anchored: Checkpoint | None = Field(
        description="the smallest indexed checkpoint with an anchor that includes every step (the notary anchors "
        "only some checkpoints): the job's anchor transaction and block"
    )
