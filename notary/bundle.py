"""The evidence bundle formats (``consortium-ledger/evidence/v2``, and ``v1`` before it) as values: parsed,
shape-checked, written back.

``notary.evidence`` builds a bundle, ``notary.verify`` checks it; this module is what they agree on. A bundle is
JSON on the wire and on disk; here it is an :class:`EvidenceBundle` of frozen parts. ``EvidenceBundle.from_json``
accepts only the canonical form (bytes as canonical base64 in the log's parts, as ``0x`` + lowercase hex in the
chain's parts, integers as JSON integers, no unknown keys, lists capped) and raises ``MalformedError`` naming the
field; ``to_json`` gives back exactly that JSON, keys in the order the notary's API writes them.

The fields::

    format       "consortium-ledger/evidence/v2" (or "consortium-ledger/evidence/v1", see anchor.block)
    origin       the log's origin;  event_id, index: the event and its leaf index
    entry        the entry bytes (canonical JSON of the event);  leaf_hash: H(0x00 ‖ entry), H the tree hash of
                 the log's suite (SHA-256, or SM3 under sm), which the bundle does not name: the log key does
    receipt      the receipt (notary.receipt.Receipt.to_json: signed batch note and the path into the batch)
    checkpoint   {size, note: the cosigned checkpoint note, cosigners} or null
    inclusion    {size, proof: [hash, ...]} from leaf ``index`` to the checkpoint's root, or null
    anchor       or null: {chain_id, contract (AuditAnchor), size,
                  transaction: {hash, raw: the signed transaction, index: its position in the block},
                  block: v2: {number, hash, header: the RLP header,
                              transaction_proof: [node, ...]: the anchor transaction's Merkle-Patricia proof,
                                  key rlp(transaction.index), from the header's transactionsRoot,
                              receipt: its consensus-encoded receipt,
                              receipt_proof: [node, ...]: the receipt's proof, same key, from receiptsRoot}
                         v1: {number, hash, header, transactions: [raw, ...], receipts: [raw, ...]}: every
                              transaction and receipt of the block, other firms' too (why v2 replaced it),
                  seals: what the header's extra data holds (format null on a chain without our seals)}
    pending      [{part: "checkpoint" | "anchor", reason}] for each part still missing

The two formats differ only in ``anchor.block``; the notary builds v2, and both parse and verify.

A verifier must report on a bundle part by part, a malformed part as a failed check like a tampered one, so
:class:`BundleParts` parses each top-level part on its own and keeps, for a part that does not parse, the
``MalformedError`` that says why; ``EvidenceBundle.from_json`` is that parse with every part required to succeed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict, TypeVar

from notary.log.errors import MalformedError
from notary.mpt import MAX_PROOF_NODES
from notary.receipt import Receipt, ReceiptJSON

FORMAT_V1 = "consortium-ledger/evidence/v1"
FORMAT_V2 = "consortium-ledger/evidence/v2"
#: The format the notary builds.
FORMAT = FORMAT_V2
#: The formats that parse and verify.
FORMATS = (FORMAT_V2, FORMAT_V1)
#: Most transactions (and receipts) of one block a v1 bundle may carry (a block holds ~1,500 at 30 M gas).
MAX_BLOCK_TRANSACTIONS = 100_000
#: Most hashes of an inclusion proof or a batch path (a tree of 2^64 leaves needs 64).
MAX_PROOF_HASHES = 64
#: Most cosigners, validators and pending parts a bundle may name.
MAX_NAMES = 1_000
PENDING_PARTS = ("checkpoint", "anchor")

T = TypeVar("T")
PendingPart = Literal["checkpoint", "anchor"]


# -- the JSON of each part, as ``to_json`` writes it and ``from_json`` reads it back ------------------------------


class EvidenceCheckpointJSON(TypedDict):
    size: int
    note: str
    cosigners: list[str]


class EvidenceInclusionJSON(TypedDict):
    size: int
    proof: list[str]


class AnchorTransactionJSON(TypedDict):
    hash: str
    raw: str
    index: int


class AnchorBlockJSON(TypedDict):
    """``anchor.block`` of a v1 bundle: the whole block."""

    number: int
    hash: str
    header: str
    transactions: list[str]
    receipts: list[str]


class AnchorProofsJSON(TypedDict):
    """``anchor.block`` of a v2 bundle: the header and the two proofs."""

    number: int
    hash: str
    header: str
    transaction_proof: list[str]
    receipt: str
    receipt_proof: list[str]


class SealsJSON(TypedDict):
    format: str
    round: int
    seals: int
    validators: list[str]


class NoSealsJSON(TypedDict):
    format: None
    note: str


class AnchorEvidenceJSON(TypedDict):
    chain_id: int
    contract: str
    size: int
    transaction: AnchorTransactionJSON
    block: AnchorProofsJSON | AnchorBlockJSON
    seals: SealsJSON | NoSealsJSON


class PendingJSON(TypedDict):
    part: PendingPart
    reason: str


class EvidenceBundleJSON(TypedDict):
    """A whole bundle, keys in the order the notary writes them (``KEYS``)."""

    format: str
    origin: str
    event_id: str
    index: int
    entry: str
    leaf_hash: str
    receipt: ReceiptJSON
    checkpoint: EvidenceCheckpointJSON | None
    inclusion: EvidenceInclusionJSON | None
    anchor: AnchorEvidenceJSON | None
    pending: list[PendingJSON]


# -- field decoders: each names the field it refuses ------------------------------------------------------------


def _object(value: object, where: str, keys: Sequence[str]) -> Mapping[str, Any]:
    """A JSON object with exactly ``keys``; ``where`` is its path in the bundle ("" for the bundle itself)."""
    if not isinstance(value, Mapping):
        raise MalformedError(f"{where or 'the evidence bundle'} must be a JSON object, got {_kind(value)}")
    unknown = sorted(str(k) for k in value if k not in keys)
    if unknown:
        raise MalformedError(f"{where or 'the evidence bundle'} has unknown field(s) {', '.join(unknown)}")
    missing = [f"{where}.{k}" if where else k for k in keys if k not in value]
    if missing:
        raise MalformedError(f"missing the field(s) {', '.join(missing)}")
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedError(f"{where} must be text, got {_kind(value)}")
    return value


def _int(value: object, where: str) -> int:
    if type(value) is not int or value < 0:
        raise MalformedError(f"{where} must be a non-negative integer, got {value!r}")
    return value


def _b64(value: object, where: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise MalformedError(f"{where} must be base64 text, got {_kind(value)}")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{where} is not valid base64") from exc
    if base64.b64encode(data).decode("ascii") != value:
        raise MalformedError(f"{where} is not canonical base64")
    if size is not None and len(data) != size:
        raise MalformedError(f"{where} must be {size} bytes, got {len(data)}")
    return data


def _hex(value: object, where: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise MalformedError(f"{where} must be 0x-prefixed hex with an even number of digits")
    digits = value[2:]
    if digits != digits.lower():
        raise MalformedError(f"{where} must be lowercase hex")
    try:
        data = bytes.fromhex(digits)
    except ValueError as exc:
        raise MalformedError(f"{where} is not valid hex") from exc
    if size is not None and len(data) != size:
        raise MalformedError(f"{where} must be {size} bytes, got {len(data)}")
    return data


def _list(value: object, where: str, cap: int, item: Callable[[object, str], T]) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise MalformedError(f"{where} must be a list, got {_kind(value)}")
    if len(value) > cap:
        raise MalformedError(f"{where} has {len(value)} items, at most {cap} allowed")
    return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))


def _b64_text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hex_text(data: bytes) -> str:
    return "0x" + data.hex()


# -- the parts ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceReceipt:
    """The receipt as the bundle carries it: ``notary.receipt.Receipt.to_json``, with the fields that repeat the
    signed note's statement (origin, time, maximum merge delay) kept as written."""

    event_id: str
    origin: str
    index: int
    leaf_hash: bytes
    time_ms: int
    mmd_s: int
    batch_note: str
    batch_proof: tuple[bytes, ...]

    KEYS: ClassVar[tuple[str, ...]] = (
        "event_id",
        "origin",
        "index",
        "leaf_hash",
        "time_ms",
        "mmd_s",
        "batch_note",
        "batch_proof",
    )

    @classmethod
    def of(cls, receipt: Receipt) -> EvidenceReceipt:
        return cls.from_json(receipt.to_json())

    def receipt(self) -> Receipt:
        """The receipt to verify (``notary.receipt.verify_receipt``): the signed note and the path."""
        return Receipt(self.event_id, self.index, self.leaf_hash, self.batch_note.encode("utf-8"), self.batch_proof)

    def to_json(self) -> ReceiptJSON:
        return {
            "event_id": self.event_id,
            "origin": self.origin,
            "index": self.index,
            "leaf_hash": _b64_text(self.leaf_hash),
            "time_ms": self.time_ms,
            "mmd_s": self.mmd_s,
            "batch_note": self.batch_note,
            "batch_proof": [_b64_text(h) for h in self.batch_proof],
        }

    @classmethod
    def from_json(cls, data: object, where: str = "receipt") -> EvidenceReceipt:
        obj = _object(data, where, cls.KEYS)
        return cls(
            event_id=_text(obj["event_id"], f"{where}.event_id"),
            origin=_text(obj["origin"], f"{where}.origin"),
            index=_int(obj["index"], f"{where}.index"),
            leaf_hash=_b64(obj["leaf_hash"], f"{where}.leaf_hash", 32),
            time_ms=_int(obj["time_ms"], f"{where}.time_ms"),
            mmd_s=_int(obj["mmd_s"], f"{where}.mmd_s"),
            batch_note=_text(obj["batch_note"], f"{where}.batch_note"),
            batch_proof=_list(obj["batch_proof"], f"{where}.batch_proof", MAX_PROOF_HASHES, _hash32),
        )


def _hash32(value: object, where: str) -> bytes:
    return _b64(value, where, 32)


@dataclass(frozen=True, slots=True)
class EvidenceCheckpoint:
    """The published checkpoint the bundle proves against: its size, the cosigned note, who cosigned it."""

    size: int
    note: str
    cosigners: tuple[str, ...]

    KEYS: ClassVar[tuple[str, ...]] = ("size", "note", "cosigners")

    def to_json(self) -> EvidenceCheckpointJSON:
        return {"size": self.size, "note": self.note, "cosigners": list(self.cosigners)}

    @classmethod
    def from_json(cls, data: object, where: str = "checkpoint") -> EvidenceCheckpoint:
        obj = _object(data, where, cls.KEYS)
        return cls(
            size=_int(obj["size"], f"{where}.size"),
            note=_text(obj["note"], f"{where}.note"),
            cosigners=_list(obj["cosigners"], f"{where}.cosigners", MAX_NAMES, _text),
        )


@dataclass(frozen=True, slots=True)
class EvidenceInclusion:
    """The RFC 9162 inclusion proof of the leaf in the tree of ``size`` (the checkpoint's)."""

    size: int
    proof: tuple[bytes, ...]

    KEYS: ClassVar[tuple[str, ...]] = ("size", "proof")

    def to_json(self) -> EvidenceInclusionJSON:
        return {"size": self.size, "proof": [_b64_text(h) for h in self.proof]}

    @classmethod
    def from_json(cls, data: object, where: str = "inclusion") -> EvidenceInclusion:
        obj = _object(data, where, cls.KEYS)
        return cls(
            size=_int(obj["size"], f"{where}.size"),
            proof=_list(obj["proof"], f"{where}.proof", MAX_PROOF_HASHES, _hash32),
        )


@dataclass(frozen=True, slots=True)
class AnchorTransaction:
    """The signed anchor transaction, its hash as claimed, and its position in the block."""

    hash: bytes
    raw: bytes
    index: int

    KEYS: ClassVar[tuple[str, ...]] = ("hash", "raw", "index")

    def to_json(self) -> AnchorTransactionJSON:
        return {"hash": _hex_text(self.hash), "raw": _hex_text(self.raw), "index": self.index}

    @classmethod
    def from_json(cls, data: object, where: str = "anchor.transaction") -> AnchorTransaction:
        obj = _object(data, where, cls.KEYS)
        return cls(
            hash=_hex(obj["hash"], f"{where}.hash", 32),
            raw=_hex(obj["raw"], f"{where}.raw"),
            index=_int(obj["index"], f"{where}.index"),
        )


@dataclass(frozen=True, slots=True)
class AnchorBlock:
    """The block holding the anchor: its number and hash as claimed, its RLP header, and every raw transaction
    and consensus-encoded receipt in it (so both trie roots can be recomputed)."""

    number: int
    hash: bytes
    header: bytes
    transactions: tuple[bytes, ...]
    receipts: tuple[bytes, ...]

    KEYS: ClassVar[tuple[str, ...]] = ("number", "hash", "header", "transactions", "receipts")

    def to_json(self) -> AnchorBlockJSON:
        return {
            "number": self.number,
            "hash": _hex_text(self.hash),
            "header": _hex_text(self.header),
            "transactions": [_hex_text(t) for t in self.transactions],
            "receipts": [_hex_text(r) for r in self.receipts],
        }

    @classmethod
    def from_json(cls, data: object, where: str = "anchor.block") -> AnchorBlock:
        obj = _object(data, where, cls.KEYS)
        return cls(
            number=_int(obj["number"], f"{where}.number"),
            hash=_hex(obj["hash"], f"{where}.hash", 32),
            header=_hex(obj["header"], f"{where}.header"),
            transactions=_list(obj["transactions"], f"{where}.transactions", MAX_BLOCK_TRANSACTIONS, _hex),
            receipts=_list(obj["receipts"], f"{where}.receipts", MAX_BLOCK_TRANSACTIONS, _hex),
        )


@dataclass(frozen=True, slots=True)
class AnchorProofs:
    """The block holding the anchor, in v2: its number and hash as claimed, its RLP header, and the proofs that
    the anchor transaction and its receipt are at the transaction's index in the block's tries (each proof the
    RLP-encoded nodes referenced by hash on the key's path, root first: ``notary.mpt``). No other transaction
    or receipt of the block is in it."""

    number: int
    hash: bytes
    header: bytes
    transaction_proof: tuple[bytes, ...]
    receipt: bytes
    receipt_proof: tuple[bytes, ...]

    KEYS: ClassVar[tuple[str, ...]] = ("number", "hash", "header", "transaction_proof", "receipt", "receipt_proof")

    def to_json(self) -> AnchorProofsJSON:
        return {
            "number": self.number,
            "hash": _hex_text(self.hash),
            "header": _hex_text(self.header),
            "transaction_proof": [_hex_text(n) for n in self.transaction_proof],
            "receipt": _hex_text(self.receipt),
            "receipt_proof": [_hex_text(n) for n in self.receipt_proof],
        }

    @classmethod
    def from_json(cls, data: object, where: str = "anchor.block") -> AnchorProofs:
        obj = _object(data, where, cls.KEYS)
        return cls(
            number=_int(obj["number"], f"{where}.number"),
            hash=_hex(obj["hash"], f"{where}.hash", 32),
            header=_hex(obj["header"], f"{where}.header"),
            transaction_proof=_list(obj["transaction_proof"], f"{where}.transaction_proof", MAX_PROOF_NODES, _hex),
            receipt=_hex(obj["receipt"], f"{where}.receipt"),
            receipt_proof=_list(obj["receipt_proof"], f"{where}.receipt_proof", MAX_PROOF_NODES, _hex),
        )


@dataclass(frozen=True, slots=True)
class Seals:
    """What the header's extra data holds on a chain with our seals, for the reader (the verifier decodes the
    header itself): the format, the round, how many seals, the validators."""

    format: str
    round: int
    seals: int
    validators: tuple[bytes, ...]

    KEYS: ClassVar[tuple[str, ...]] = ("format", "round", "seals", "validators")

    def to_json(self) -> SealsJSON:
        return {
            "format": self.format,
            "round": self.round,
            "seals": self.seals,
            "validators": [_hex_text(v) for v in self.validators],
        }

    @classmethod
    def from_json(cls, data: object, where: str = "anchor.seals") -> Seals:
        obj = _object(data, where, cls.KEYS)
        return cls(
            format=_text(obj["format"], f"{where}.format"),
            round=_int(obj["round"], f"{where}.round"),
            seals=_int(obj["seals"], f"{where}.seals"),
            validators=_list(obj["validators"], f"{where}.validators", MAX_NAMES, _address),
        )


def _address(value: object, where: str) -> bytes:
    return _hex(value, where, 20)


@dataclass(frozen=True, slots=True)
class NoSeals:
    """The header's extra data is not in our seal format (``format`` null): ``note`` says what it is."""

    note: str

    KEYS: ClassVar[tuple[str, ...]] = ("format", "note")

    def to_json(self) -> NoSealsJSON:
        return {"format": None, "note": self.note}

    @classmethod
    def from_json(cls, data: object, where: str = "anchor.seals") -> NoSeals:
        obj = _object(data, where, cls.KEYS)
        if obj["format"] is not None:
            raise MalformedError(f"{where}.format must be null here")
        return cls(note=_text(obj["note"], f"{where}.note"))


def _seals(data: object, where: str) -> Seals | NoSeals:
    if isinstance(data, Mapping) and data.get("format") is None:
        return NoSeals.from_json(data, where)
    return Seals.from_json(data, where)


@dataclass(frozen=True, slots=True)
class AnchorEvidence:
    """The anchor part: the chain, the AuditAnchor contract (its address as the notary writes it), the anchored
    size, the transaction, its block (v2: the proofs; v1: the whole block) and the block's seals."""

    chain_id: int
    contract: str
    size: int
    transaction: AnchorTransaction
    block: AnchorProofs | AnchorBlock
    seals: Seals | NoSeals

    @property
    def format(self) -> str:
        """The bundle format this anchor part belongs in."""
        return FORMAT_V2 if isinstance(self.block, AnchorProofs) else FORMAT_V1

    KEYS: ClassVar[tuple[str, ...]] = ("chain_id", "contract", "size", "transaction", "block", "seals")

    def to_json(self) -> AnchorEvidenceJSON:
        return {
            "chain_id": self.chain_id,
            "contract": self.contract,
            "size": self.size,
            "transaction": self.transaction.to_json(),
            "block": self.block.to_json(),
            "seals": self.seals.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "anchor", format: str = FORMAT) -> AnchorEvidence:
        """The anchor part of a bundle of ``format``, which says what ``block`` holds."""
        obj = _object(data, where, cls.KEYS)
        block = AnchorBlock.from_json if format == FORMAT_V1 else AnchorProofs.from_json
        return cls(
            chain_id=_int(obj["chain_id"], f"{where}.chain_id"),
            contract=_text(obj["contract"], f"{where}.contract"),
            size=_int(obj["size"], f"{where}.size"),
            transaction=AnchorTransaction.from_json(obj["transaction"], f"{where}.transaction"),
            block=block(obj["block"], f"{where}.block"),
            seals=_seals(obj["seals"], f"{where}.seals"),
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """A part the bundle does not have yet (``checkpoint`` or ``anchor``) and why."""

    part: PendingPart
    reason: str

    KEYS: ClassVar[tuple[str, ...]] = ("part", "reason")

    def to_json(self) -> PendingJSON:
        return {"part": self.part, "reason": self.reason}

    @classmethod
    def from_json(cls, data: object, where: str = "pending[0]") -> Pending:
        obj = _object(data, where, cls.KEYS)
        part = obj["part"]
        if part == "checkpoint" or part == "anchor":
            return cls(part, _text(obj["reason"], f"{where}.reason"))
        raise MalformedError(f"{where}.part must be one of {', '.join(PENDING_PARTS)}, got {part!r}")


def _pending(value: object, where: str) -> tuple[Pending, ...]:
    return _list(value, where, len(PENDING_PARTS), Pending.from_json)


def _nullable(parse: Callable[[object, str], T]) -> Callable[[object, str], T | None]:
    def parse_or_null(value: object, where: str) -> T | None:
        return None if value is None else parse(value, where)

    return parse_or_null


# -- the bundle --------------------------------------------------------------------------------------------------

#: The top-level fields, in the order the notary writes them.
KEYS = (
    "format", "origin", "event_id", "index", "entry", "leaf_hash", "receipt", "checkpoint", "inclusion", "anchor",
    "pending",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BundleParts:
    """Each top-level part of a bundle parsed on its own: the part's value, or the ``MalformedError`` that says
    what is wrong with it (so one malformed part does not hide what the others prove)."""

    origin: str | MalformedError
    event_id: str | MalformedError
    index: int | MalformedError
    entry: bytes | MalformedError
    leaf_hash: bytes | MalformedError
    receipt: EvidenceReceipt | MalformedError
    checkpoint: EvidenceCheckpoint | MalformedError | None
    inclusion: EvidenceInclusion | MalformedError | None
    anchor: AnchorEvidence | MalformedError | None
    pending: tuple[Pending, ...] | MalformedError

    @classmethod
    def of(cls, bundle: EvidenceBundle) -> BundleParts:
        b = bundle
        return cls(
            b.origin, b.event_id, b.index, b.entry, b.leaf_hash, b.receipt, b.checkpoint, b.inclusion, b.anchor,
            b.pending,
        )  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BundleParts:
        """The parts of a JSON bundle (its ``format`` is the caller's to check: it must be one of ``FORMATS``,
        and the anchor part is parsed as that format's); a missing part is malformed."""
        format = FORMAT_V1 if data.get("format") == FORMAT_V1 else FORMAT_V2

        def anchor(value: object, where: str) -> AnchorEvidence:
            return AnchorEvidence.from_json(value, where, format)

        def part(key: str, parse: Callable[[object, str], T]) -> T | MalformedError:
            if key not in data:
                return MalformedError(f"the bundle lacks the field {key}")
            try:
                return parse(data[key], key)
            except MalformedError as exc:
                return exc

        return cls(
            origin=part("origin", _text),
            event_id=part("event_id", _text),
            index=part("index", _int),
            entry=part("entry", _b64),
            leaf_hash=part("leaf_hash", _hash32),
            receipt=part("receipt", EvidenceReceipt.from_json),
            checkpoint=part("checkpoint", _nullable(EvidenceCheckpoint.from_json)),
            inclusion=part("inclusion", _nullable(EvidenceInclusion.from_json)),
            anchor=part("anchor", _nullable(anchor)),
            pending=part("pending", _pending),
        )


def _ok(value: T | MalformedError) -> T:
    if isinstance(value, MalformedError):
        raise value
    return value


@dataclass(frozen=True, slots=True)
class EvidenceBundle:
    """One event's evidence (see the module docstring); ``None`` parts are pending, ``pending`` says why.

    ``format`` is the bundle's (one of ``FORMATS``); an anchor part must be of that format."""

    origin: str
    event_id: str
    index: int
    entry: bytes
    leaf_hash: bytes
    receipt: EvidenceReceipt
    checkpoint: EvidenceCheckpoint | None
    inclusion: EvidenceInclusion | None
    anchor: AnchorEvidence | None
    pending: tuple[Pending, ...]
    format: str = FORMAT

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown evidence bundle format {self.format!r}")
        if self.anchor is not None and self.anchor.format != self.format:
            raise ValueError(f"a bundle of format {self.format} cannot hold an anchor part of {self.anchor.format}")

    def to_json(self) -> EvidenceBundleJSON:
        """The bundle as the notary's API writes it (``GET /v1/evidence/{event_id}``)."""
        return {
            "format": self.format,
            "origin": self.origin,
            "event_id": self.event_id,
            "index": self.index,
            "entry": _b64_text(self.entry),
            "leaf_hash": _b64_text(self.leaf_hash),
            "receipt": self.receipt.to_json(),
            "checkpoint": None if self.checkpoint is None else self.checkpoint.to_json(),
            "inclusion": None if self.inclusion is None else self.inclusion.to_json(),
            "anchor": None if self.anchor is None else self.anchor.to_json(),
            "pending": [p.to_json() for p in self.pending],
        }

    @classmethod
    def from_json(cls, data: object) -> EvidenceBundle:
        """A bundle from its JSON; ``MalformedError`` naming the first field that is not in canonical form."""
        obj = _object(data, "", KEYS)
        if obj["format"] not in FORMATS:
            raise MalformedError(f"not an evidence bundle of format {' or '.join(FORMATS)} (format {obj['format']!r})")
        parts = BundleParts.from_json(obj)
        return cls(
            origin=_ok(parts.origin),
            event_id=_ok(parts.event_id),
            index=_ok(parts.index),
            entry=_ok(parts.entry),
            leaf_hash=_ok(parts.leaf_hash),
            receipt=_ok(parts.receipt),
            checkpoint=_ok(parts.checkpoint),
            inclusion=_ok(parts.inclusion),
            anchor=_ok(parts.anchor),
            pending=_ok(parts.pending),
            format=obj["format"],
        )


__all__ = [
    "FORMAT",
    "FORMATS",
    "FORMAT_V1",
    "FORMAT_V2",
    "MAX_BLOCK_TRANSACTIONS",
    "MAX_PROOF_NODES",
    "AnchorBlock",
    "AnchorBlockJSON",
    "AnchorEvidence",
    "AnchorEvidenceJSON",
    "AnchorProofs",
    "AnchorProofsJSON",
    "AnchorTransaction",
    "AnchorTransactionJSON",
    "BundleParts",
    "EvidenceBundle",
    "EvidenceBundleJSON",
    "EvidenceCheckpoint",
    "EvidenceCheckpointJSON",
    "EvidenceInclusion",
    "EvidenceInclusionJSON",
    "EvidenceReceipt",
    "NoSeals",
    "NoSealsJSON",
    "Pending",
    "PendingJSON",
    "ReceiptJSON",
    "Seals",
    "SealsJSON",
]
