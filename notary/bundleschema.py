"""The evidence bundle's JSON (``notary.bundle``'s ``to_json``) as pydantic models, field by field: what the
notary's ``GET /v1/evidence/{event_id}`` and the explorer's provenance and evidence routes answer, so both
OpenAPI documents describe every part of a bundle with its properties.

``notary.bundle`` parses and writes the bundle; these models only describe it (and check an answer against the
description: each forbids keys it does not declare, so a bundle that grew a field fails the routes' tests instead
of changing the JSON quietly). Bytes of the log (hashes, entries) are base64; bytes of the chain (transactions,
headers) are 0x-hex.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Base64 = str
Hex = str


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Receipt(_Part):
    """The notary's promise to include an event (``notary.receipt.Receipt.to_json``)."""

    event_id: str
    origin: str
    index: int = Field(description="The event's leaf index")
    leaf_hash: Base64
    time_ms: int = Field(description="When the batch was sequenced")
    mmd_s: int = Field(description="Maximum merge delay: the event is in a published checkpoint within this")
    batch_note: str = Field(description="The batch statement, a signed note by the log key")
    batch_proof: list[Base64] = Field(description="Inclusion proof of the leaf in the batch's tree")


class EvidenceCheckpoint(_Part):
    size: int
    note: str
    cosigners: list[str]


class EvidenceInclusion(_Part):
    size: int
    proof: list[Base64]


class AnchorTransaction(_Part):
    hash: Hex
    raw: Hex = Field(description="The signed transaction")
    index: int = Field(description="Its position in the block")


class AnchorProofs(_Part):
    """The anchor's block in v2: its header and the proofs of the anchor transaction and its receipt."""

    number: int
    hash: Hex
    header: Hex = Field(description="The RLP header")
    transaction_proof: list[Hex] = Field(
        description="The transaction's Merkle-Patricia proof: the nodes on key rlp(index) from transactionsRoot"
    )
    receipt: Hex = Field(description="The transaction's receipt, consensus-encoded")
    receipt_proof: list[Hex] = Field(description="The receipt's Merkle-Patricia proof, same key, from receiptsRoot")


class AnchorBlock(_Part):
    """The anchor's block in v1: its header and all its transactions and receipts."""

    number: int
    hash: Hex
    header: Hex = Field(description="The RLP header")
    transactions: list[Hex] = Field(description="Every transaction of the block, raw")
    receipts: list[Hex] = Field(description="Every receipt of the block, consensus-encoded")


class Seals(_Part):
    format: str
    round: int
    seals: int
    validators: list[Hex]


class NoSeals(_Part):
    format: None = Field(description="null: the chain's extra data is not in our seal format")
    note: str


class AnchorEvidence(_Part):
    chain_id: int
    contract: Hex = Field(description="The AuditAnchor contract")
    size: int
    transaction: AnchorTransaction
    block: AnchorProofs | AnchorBlock = Field(description="v2: the proofs; v1: the whole block")
    seals: Seals | NoSeals


class Pending(_Part):
    part: Literal["checkpoint", "anchor"]
    reason: str


class Evidence(_Part):
    """An evidence bundle (``consortium-ledger/evidence/v2``): everything to prove one event offline."""

    format: str
    origin: str
    event_id: str
    index: int
    entry: Base64
    leaf_hash: Base64
    receipt: Receipt
    checkpoint: EvidenceCheckpoint | None
    inclusion: EvidenceInclusion | None
    anchor: AnchorEvidence | None
    pending: list[Pending] = Field(description="Why each missing part is missing")


__all__ = [
    "AnchorBlock",
    "AnchorEvidence",
    "AnchorProofs",
    "AnchorTransaction",
    "Evidence",
    "EvidenceCheckpoint",
    "EvidenceInclusion",
    "NoSeals",
    "Pending",
    "Receipt",
    "Seals",
]
