"""Offline verification of an evidence bundle (``notary.evidence``): from the consortium's public keys alone.

Nothing in the bundle is taken on trust when it can be recomputed (failure catalogue 22: a partially valid
proof is rejected). Every step runs even after an earlier one failed, so the report shows all that is wrong:

1. the entry is an event in canonical form (RFC 8785), and 2. its leaf hash is RFC 9162's H(0x00 ‖ entry);
3. the receipt is signed by the log key and its batch path leads from that leaf, at that index, to the signed
   batch root; 4. the checkpoint (C2SP tlog-checkpoint) is signed by the log key under the log's origin;
5. the witnesses' cosignatures (C2SP tlog-cosignature) verify and meet the witness policy;
6. the inclusion proof (RFC 9162 §2.1.3.2) leads from the leaf to the checkpoint's root;
7. the anchor transaction's signature recovers the notary's account, it calls AuditAnchor on our chain with
   ``anchor(origin, size, root, D(checkpoint body))`` of exactly this checkpoint (or a retired AuditAnchor of the
   trust roots, for a checkpoint no larger than the last size anchored there);
8. it is in its block and 9. succeeded (its receipt has status 1): in a v2 bundle, its Merkle-Patricia proof
   leads from the header's transactionsRoot along key rlp(index) to exactly this transaction, and its receipt's
   from receiptsRoot to exactly that receipt (``notary.mpt``); in a v1 bundle, both trie roots are recomputed
   from all the block's transactions and receipts (Ethereum Yellow Paper §4.3); 10. the block hash is the
   header's hash, by Besu's QBFT rule (keccak-256 of the RLP header with its extra data's round and seals left
   out) or, for a header without QBFT extra data, Ethereum's (``chain.seal.block_hash``); 11. a quorum of the
   validators sealed the header's commit digest (``chain.seal``).

H and D are the tree hash and checkpoint digest of the log's suite (``notary.logsuite``): SHA-256 for ``intl``,
SM3 for ``sm``, where the signatures of steps 3-5 are SM2 (``docs/national-suite.md``). The bundle does not name
its suite; the log key of the trust roots does (the key type pins the hash), so a bundle of one suite never
verifies under trust roots of the other.

A step is ✓ (``ok=True``), ✗ (``ok=False``) or not applicable (``ok=None``: the bundle says that part is still
pending, or the trust roots cannot decide it), always with a detail saying why.

``verify_evidence`` takes a parsed ``notary.bundle.EvidenceBundle``; ``verify_evidence_json`` takes the JSON as
a file or an HTTP answer holds it and parses each part on its own, so that a malformed part fails the steps that
need it, like a tampered part, and the others still report what they prove.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import rlp
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from trie.hexary import HexaryTrie

from chain.contracts.anchor import anchor_message
from chain.errors import ChainError
from chain.seal import ExtraData, QuorumError, block_hash, count_quorum, quorum, signers
from notary.bundle import (
    FORMAT,
    FORMATS,
    AnchorBlock,
    AnchorEvidence,
    AnchorProofs,
    BundleParts,
    EvidenceBundle,
    EvidenceCheckpoint,
)
from notary.checkpointer import WitnessPolicy
from notary.event import parse_entry
from notary.log.checkpoint import Checkpoint, parse_checkpoint
from notary.log.errors import MalformedError, NotaryError, VerificationError
from notary.log.note import Note, open_note, parse_note
from notary.log.proof import verify_inclusion
from notary.log.smnote import SM2NoteVerifier
from notary.logkeys import LogKeys
from notary.logsuite import LogSuite, LogVerifier, WitnessVerifier, suite_of_key
from notary.mpt import ProofError, verify_proof
from notary.receipt import verify_receipt
from suite.sm2 import DEFAULT_ID, SM2Error, SM2PublicKey

#: The AuditAnchor function the notary calls; its selector is the first 4 bytes of the keccak-256 of this.
ANCHOR_SIGNATURE = "anchor(string,uint64,bytes32,bytes32)"
ANCHOR_ARGUMENTS = ("string", "uint64", "bytes32", "bytes32")
#: What the notary of an `sm` log calls instead: the same four values, then the log key (x, y) and its SM2
#: signature (r, s) over ``chain.contracts.anchor_message`` of them, which AuditAnchor checks on chain.
ANCHOR_SIGNED_SIGNATURE = "anchor_signed(string,uint64,bytes32,bytes32,bytes32,bytes32,bytes32,bytes32)"
ANCHOR_SIGNED_ARGUMENTS = (*ANCHOR_ARGUMENTS, "bytes32", "bytes32", "bytes32", "bytes32")
#: What the anchor step adds for an ``sm`` log: whether AuditAnchor checked the log's SM2 signature itself.
ANCHOR_CHECKED_ON_CHAIN = (
    "checked on chain: anchor_signed succeeds only once AuditAnchor has verified this SM2 signature against a log "
    "key of the notary's member valid at its block"
)
ANCHOR_NOT_CHECKED_ON_CHAIN = (
    "NOT checked on chain (plain anchor, taken only by an AuditAnchor deployed before sm consortia refused "
    "unsigned anchors); checked offline instead: its values are the checkpoint's, whose SM2 signature by the log "
    "key is verified in the checkpoint step"
)
#: Header field positions in the RLP list (Yellow Paper §4.3).
HEADER_TX_ROOT, HEADER_RECEIPT_ROOT, HEADER_NUMBER, HEADER_EXTRA = 4, 5, 8, 12
HEADER_MIN_FIELDS = 15
#: EIP-2718 transaction types whose first RLP fields we decode: type → positions of (chain id, to, data).
_TYPED_FIELDS = {1: (0, 4, 6), 2: (0, 5, 7), 3: (0, 5, 7), 4: (0, 5, 7)}

T = TypeVar("T")


#: org → its witness key, or every key of it that counts (both keys of a rotation's overlap).
WitnessKeys = Mapping[str, WitnessVerifier | tuple[WitnessVerifier, ...]]


def verifiers_of(keys: WitnessVerifier | tuple[WitnessVerifier, ...]) -> tuple[WitnessVerifier, ...]:
    return keys if isinstance(keys, tuple) else (keys,)


@dataclass(frozen=True, slots=True)
class ProvenBlock:
    """The block a bundle's anchor claims, as a light client proved it from the founding validators
    (``network.witnesskeys.ChainWitnessKeys.evidence_roots``): its ``number``, its ``hash`` on the chain and the
    validator set that seals it (the one its parent names), said in ``source``; or ``problem``, why it could not be
    proven (the seals step then fails with it)."""

    number: int
    hash: bytes = b""
    validators: tuple[str, ...] = ()
    source: str = ""
    problem: str | None = None
    #: The accounts the registry lists for the notary's member in the state the block started from (its
    #: parent's), proven against that header's state root: an anchor's sender may be any of them (an account
    #: rotated since ``consortium.json`` was written); empty: ``TrustRoots.notary_account`` alone.
    notary_accounts: tuple[str, ...] = ()
    #: That member's org id, to say whose accounts they are.
    notary_org: str = ""


@dataclass(frozen=True, slots=True)
class TrustRoots:
    """What a verifier trusts, all public: from ``consortium.json`` (``network.logsetup.roots_from_description``),
    its witnesses and policy replaced by those valid on chain for the checkpoint (``network.witnesskeys``).

    ``validators`` empty means the trust roots hold no validator set for this chain (an external chain with its
    own seal format, or a development chain without seals): the seal step is then not applicable. The log key's
    type is the log's suite: an SM2 key (``notary.log.smnote``) means SM3 trees and digests.
    """

    log: LogVerifier
    witnesses: WitnessKeys
    policy: WitnessPolicy
    notary_account: str
    anchor_address: str
    chain_id: int
    validators: tuple[str, ...] = ()
    #: AuditAnchors the consortium anchored on before ``anchor_address`` (``consortium.json``'s
    #: ``retired_anchors``): (address, last size). An anchor there counts for a checkpoint up to that size only.
    retired_anchors: tuple[tuple[str, int], ...] = ()
    #: where ``witnesses`` and ``policy`` come from, said with the cosignatures' verdict (``network.witnesskeys``:
    #: the chain at which block, or consortium.json offline); None: not said
    witness_source: str | None = None
    #: The log's keys as the TrustDirectory records them (``notary.logkeys``), judged at the block the witness keys
    #: were chosen at (``network.witnesskeys``: the anchor's block, or the head): the checkpoint and the receipt
    #: are checked under the key their signature line names, valid by the rule of ``notary.logkeys`` there. None:
    #: ``log`` alone (``consortium.json``'s key).
    log_keys: LogKeys | None = None
    #: where the log key comes from, said with the checkpoint's verdict (``network.witnesskeys``); None: not said
    log_key_source: str | None = None
    #: The anchor's block proven from the founding validators, whose set then counts the seals instead of
    #: ``validators`` (the set of that block, a change by governance followed); None: ``validators``.
    anchor_block: ProvenBlock | None = None

    def counted_under(self, verdict: str) -> str:
        """``verdict`` on the cosignatures, with the source of the witness keys it was reached under."""
        return verdict if self.witness_source is None else f"{verdict}; counted under the {self.witness_source}"

    @property
    def origin(self) -> str:
        return self.log.name

    @property
    def suite(self) -> LogSuite:
        """The log's suite, which its key's type pins."""
        return suite_of_key(self.log)


@dataclass(frozen=True, slots=True)
class Step:
    """One check: ``ok`` is True (passed), False (failed) or None (not applicable or pending), with why."""

    name: str
    ok: bool | None
    detail: str

    @property
    def symbol(self) -> str:
        return {True: "✓", False: "✗", None: "-"}[self.ok]

    def to_text(self) -> str:
        return f"{self.symbol} {self.name} — {self.detail}"


def passed(steps: Sequence[Step]) -> bool:
    """True when no step failed (steps that do not apply do not count against)."""
    return all(step.ok is not False for step in steps)


class _FailError(VerificationError):
    """A step's check failed; the message says what was wrong. Caught by :func:`_verify`, never raised out of
    this module."""


class _SkipError(NotaryError):
    """A step does not apply; the message says why. Caught by :func:`_verify`, never raised out of this module."""


# -- small decoders (for what the bundle's parts hold: untrusted bytes) ----------------------------------------


def _address(text: str) -> bytes:
    raw = bytes.fromhex(text[2:] if text.startswith("0x") else text)
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {text!r}")
    return raw


def _show(address: bytes) -> str:
    return str(to_checksum_address(address))


def _rlp_list(raw: bytes, what: str) -> list[Any]:
    try:
        value = rlp.decode(raw, strict=True)
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise _FailError(f"{what} is not canonical RLP: {exc}") from exc
    if not isinstance(value, list):
        raise _FailError(f"{what} is not an RLP list")
    return value


def _rlp_int(value: object, what: str) -> int:
    if not isinstance(value, bytes) or value[:1] == b"\0":
        raise _FailError(f"{what} is not a canonical RLP integer")
    return int.from_bytes(value, "big")


def trie_root(values: Sequence[bytes]) -> bytes:
    """The root of the Merkle-Patricia trie mapping RLP(i) to ``values[i]``: transactionsRoot and receiptsRoot."""
    trie = HexaryTrie({})
    with trie.squash_changes() as batch:
        for i, value in enumerate(values):
            batch[rlp.encode(i)] = bytes(value)
    return bytes(trie.root_hash)


def anchor_calldata(origin: str, size: int, root: bytes, digest: bytes) -> bytes:
    """The exact calldata of ``AuditAnchor.anchor(origin, size, root, digest)`` (Solidity ABI encoding)."""
    return keccak(text=ANCHOR_SIGNATURE)[:4] + abi_encode(list(ANCHOR_ARGUMENTS), [origin, size, root, digest])


def signed_anchor_problem(
    data: bytes, origin: str, size: int, root: bytes, digest: bytes, log: LogVerifier
) -> str | None:
    """Why ``data`` is not ``AuditAnchor.anchor_signed`` of these values under the log's SM2 key with a valid
    signature; None when it is. An Ed25519 (``intl``) log key never signs anchors."""
    if not isinstance(log, SM2NoteVerifier):
        return "anchor_signed is for logs of the 'sm' suite, and this log's key is not an SM2 key"
    if data[:4] != keccak(text=ANCHOR_SIGNED_SIGNATURE)[:4]:
        return "it calls neither anchor nor anchor_signed"
    try:
        values = abi_decode(list(ANCHOR_SIGNED_ARGUMENTS), data[4:], strict=True)
    except (DecodingError, ValueError) as exc:
        return f"its anchor_signed arguments do not decode ({exc})"
    if data[4:] != abi_encode(list(ANCHOR_SIGNED_ARGUMENTS), list(values)):
        return "its anchor_signed arguments are not canonically encoded"
    if tuple(values[:4]) != (origin, size, root, digest):
        return "its anchor_signed arguments are not the checkpoint's origin, size, root and digest"
    key, signature = b"\x04" + values[4] + values[5], values[6] + values[7]
    if key != log.public_key:
        return "its anchor_signed key is not the log's key"
    try:
        SM2PublicKey.from_bytes(key).verify(signature, anchor_message(origin, size, root, digest), DEFAULT_ID)
    except SM2Error:
        return "its SM2 signature by the log's key does not verify"
    return None


@dataclass(frozen=True, slots=True)
class DecodedTransaction:
    """The fields of a signed transaction the anchor check needs."""

    type: int
    chain_id: int | None
    to: bytes | None
    data: bytes
    sender: bytes
    hash: bytes


def decode_transaction(raw: bytes) -> DecodedTransaction:
    """Decode a signed raw transaction (legacy or EIP-2718 types 1-4) and recover its sender."""
    if not raw:
        raise _FailError("empty transaction")
    if raw[0] >= 0xC0:  # legacy: RLP([nonce, gasPrice, gas, to, value, data, v, r, s])
        fields = _rlp_list(raw, "transaction")
        if len(fields) != 9:
            raise _FailError(f"legacy transaction has {len(fields)} fields, expected 9")
        v = _rlp_int(fields[6], "v")
        kind, chain_id, to, data = 0, ((v - 35) // 2 if v >= 35 else None), fields[3], fields[5]
    elif raw[0] in _TYPED_FIELDS:
        fields = _rlp_list(raw[1:], f"type-{raw[0]} transaction")
        positions = _TYPED_FIELDS[raw[0]]
        if len(fields) <= max(positions):
            raise _FailError(f"type-{raw[0]} transaction has too few fields")
        kind, to, data = raw[0], fields[positions[1]], fields[positions[2]]
        chain_id = _rlp_int(fields[positions[0]], "chain id")
    else:
        raise _FailError(f"unknown transaction type {raw[0]:#04x}")
    if not isinstance(to, bytes) or len(to) not in (0, 20) or not isinstance(data, bytes):
        raise _FailError("transaction 'to' or data field malformed")
    from eth_account import Account  # here, not with the module: only a proof of a transaction recovers its sender

    try:
        sender = bytes.fromhex(str(Account.recover_transaction(raw))[2:])
    except Exception as exc:  # eth-account raises many kinds for a bad signature; all mean "no valid signer"
        raise _FailError(f"transaction signature does not recover a sender ({exc.__class__.__name__}: {exc})") from exc
    return DecodedTransaction(kind, chain_id, to or None, data, sender, keccak(raw))


def receipt_status(raw: bytes) -> int:
    """The status of an encoded receipt (EIP-658: 1 success, 0 failure), typed (EIP-2718) or legacy."""
    body = raw if raw[:1] and raw[0] >= 0xC0 else raw[1:]
    fields = _rlp_list(body, "receipt")
    if len(fields) != 4 or not isinstance(fields[0], bytes):
        raise _FailError("receipt is not RLP [status, cumulativeGasUsed, logsBloom, logs]")
    if fields[0] not in (b"", b"\x01"):
        raise _FailError("receipt carries a pre-Byzantium state root, not a status")
    return 1 if fields[0] == b"\x01" else 0


def cosigning_witnesses(note: Note, witnesses: WitnessKeys) -> tuple[set[str], set[str]]:
    """The witnesses (org names) whose cosignature on ``note`` verifies under one of their keys, and those whose
    does not. A cosignature under a key that is not among ``witnesses`` (another org's, or a key of the org that no
    longer counts) is not looked at: it counts for nobody."""
    good: set[str] = set()
    bad: set[str] = set()
    for org, keys in sorted(witnesses.items()):
        for verifier in verifiers_of(keys):
            for sig in note.signatures:
                if (sig.name, sig.key_id) == (verifier.name, verifier.key_id):
                    (good if verifier.verify(note.text, sig) else bad).add(org)
    return good, bad


def check_cosignatures(note: Note, witnesses: WitnessKeys, policy: WitnessPolicy) -> str:
    """Check each witness's cosignature on ``note`` and the policy; returns who cosigned.

    A cosignature by a known witness key that does not verify fails the check even if the policy is met
    without it (C2SP signed-note: a known key's bad signature rejects the note)."""
    good, bad = cosigning_witnesses(note, witnesses)
    who = ", ".join(sorted(good)) or "nobody"
    if bad:
        raise VerificationError(f"cosignature by {', '.join(sorted(bad))} does not verify (valid: {who})")
    if not policy.satisfied(good):
        raise VerificationError(f"cosigned by {who}: the policy needs {policy.describe()}")
    return f"cosigned by {who} (policy: {policy.describe()})"


# -- the steps -----------------------------------------------------------------------------------------------


def _need(value: T | MalformedError) -> T:
    """A part of the bundle, or the failure of the step that needs it when the part did not parse."""
    if isinstance(value, MalformedError):
        raise _FailError(str(value))
    return value


class _State:
    """The bundle's parts, and what the steps recomputed so far (None when it could not be recomputed)."""

    def __init__(self, parts: BundleParts, roots: TrustRoots) -> None:
        self.parts = parts
        self.roots = roots
        self.entry: bytes | None = None
        self.leaf: bytes | None = None
        self.note_text: str | None = None
        self.checkpoint: Checkpoint | None = None
        self.anchor_tx: DecodedTransaction | None = None
        self.header: list[Any] | None = None
        self.position: int | None = None
        self.log_keys_used: list[str] = []

    @property
    def index(self) -> int:
        return _need(self.parts.index)

    def pending(self, part: str) -> Exception:
        """What to raise for a missing part: not applicable if the bundle says why it is pending, else a failure
        (a bundle may not silently leave out what it has, e.g. the inclusion proof of its checkpoint)."""
        pending = self.parts.pending
        if isinstance(pending, MalformedError):
            return _FailError(f"the bundle has no {part}, and its pending list is malformed: {pending}")
        for item in pending:
            if item.part == part:
                return _SkipError(f"pending: {item.reason}")
        return _FailError(f"the bundle has no {part} and does not say why it is pending")

    def anchor(self) -> AnchorEvidence:
        if self.parts.checkpoint is None:
            raise self.pending("checkpoint")
        anchor = _need(self.parts.anchor)
        if anchor is None:
            raise self.pending("anchor")
        return anchor

    def block(self) -> AnchorProofs | AnchorBlock:
        return self.anchor().block

    def log_key(self, note: bytes, receipt: bool = False) -> LogVerifier:
        """The log key ``note`` must verify under: the trust roots' one, or for a log whose key rotated the key on
        chain its signature line names, valid by the rule of ``notary.logkeys`` at the block the roots' keys were
        chosen at (the checkpoint's anchor block, or the head; LogKeyError otherwise)."""
        keys = self.roots.log_keys
        if keys is None:
            return self.roots.log
        chosen = keys.for_receipt(note, None) if receipt else keys.for_checkpoint(note, None)
        self.log_keys_used.append(chosen.describe())
        return chosen.verifier

    def checkpoint_part(self) -> EvidenceCheckpoint:
        part = _need(self.parts.checkpoint)
        if part is None:
            raise self.pending("checkpoint")
        return part


def _step_entry(s: _State) -> str:
    s.entry = _need(s.parts.entry)
    event = parse_entry(s.entry)
    claimed = _need(s.parts.event_id)
    if event["event_id"] != claimed:
        raise _FailError(f"the entry is event {event['event_id']!r}, the bundle claims {claimed!r}")
    return (
        f"event {event['event_id']}: {event['caller_org']} → {event['provider_org']} "
        f"{event['method']} {event['route']} ({event['decision']}, status {event['status']})"
    )


def _step_leaf(s: _State) -> str:
    if s.entry is None:
        raise _FailError("no readable entry to hash")
    suite = s.roots.suite
    s.leaf = suite.tree.leaf(s.entry)
    claimed = _need(s.parts.leaf_hash)
    if claimed != s.leaf:
        raise _FailError(f"{suite.digest_name}(0x00 ‖ entry) is {s.leaf.hex()}, the bundle claims {claimed.hex()}")
    return f"{suite.digest_name}(0x00 ‖ entry) = {s.leaf.hex()}"


def _step_receipt(s: _State) -> str:
    receipt = _need(s.parts.receipt).receipt()
    statement = verify_receipt(receipt, s.log_key(receipt.note, receipt=True))
    problems = []
    if statement.origin != s.roots.origin:
        problems.append(f"it is for log {statement.origin!r}, not {s.roots.origin!r}")
    if receipt.index != s.index:
        problems.append(f"it is for index {receipt.index}, the bundle's is {s.index}")
    if s.leaf is None or receipt.leaf_hash != s.leaf:
        problems.append("its leaf hash is not the entry's")
    if receipt.event_id != s.parts.event_id:
        problems.append(f"it names event {receipt.event_id!r}")
    if problems:
        raise _FailError("receipt signature and batch path verify, but " + "; ".join(problems))
    return (
        f"signed by {s.roots.origin}: index {receipt.index} in batch [{statement.first}, "
        f"{statement.first + statement.count}), batch path verified"
    )


def _step_checkpoint(s: _State) -> str:
    part = s.checkpoint_part()
    note = parse_note(part.note.encode("utf-8"))
    s.note_text = note.text
    s.checkpoint = parse_checkpoint(note.text)
    cp = s.checkpoint
    key = s.log_key(part.note.encode("utf-8"))
    open_note(part.note.encode("utf-8"), [key])  # raises unless the log key signed it
    problems = []
    if cp.origin != s.roots.origin:
        problems.append(f"its origin is {cp.origin!r}, the log's is {s.roots.origin!r}")
    origin = s.parts.origin
    if isinstance(origin, MalformedError):
        problems.append(str(origin))
    elif origin != s.roots.origin:
        problems.append(f"the bundle names origin {origin!r}")
    if part.size != cp.size:
        problems.append(f"the bundle claims size {part.size!r}, the note says {cp.size}")
    if cp.size <= s.index:
        problems.append(f"size {cp.size} does not cover index {s.index}")
    if problems:
        raise _FailError("; ".join(problems))
    which = f" ({s.log_keys_used[-1]})" if s.roots.log_keys is not None else ""
    source = "" if s.roots.log_key_source is None else f"; under the {s.roots.log_key_source}"
    return f"signed by the log key {s.roots.origin}{which}: size {cp.size}, root {cp.root.hex()}{source}"


def _step_cosignatures(s: _State) -> str:
    part = s.checkpoint_part()
    try:
        verdict = check_cosignatures(parse_note(part.note.encode("utf-8")), s.roots.witnesses, s.roots.policy)
    except VerificationError as exc:
        raise _FailError(s.roots.counted_under(str(exc))) from exc
    return s.roots.counted_under(verdict)


def _step_inclusion(s: _State) -> str:
    s.checkpoint_part()  # no checkpoint: pending like it
    part = _need(s.parts.inclusion)
    if part is None:
        raise _FailError("the bundle has a checkpoint but no inclusion proof to it")
    if s.leaf is None:
        raise _FailError("no leaf hash to prove (the entry is unreadable)")
    if s.checkpoint is None:
        raise _FailError("no readable checkpoint to prove against")
    if part.size != s.checkpoint.size:
        raise _FailError(f"the proof is for size {part.size!r}, the checkpoint's size is {s.checkpoint.size}")
    verify_inclusion(s.leaf, s.index, s.checkpoint.size, part.proof, s.checkpoint.root, s.roots.suite.tree)
    return f"leaf {s.index} is in the tree of size {s.checkpoint.size} ({len(part.proof)} hashes)"


def _step_anchor_tx(s: _State) -> str:
    claimed = s.anchor().transaction
    tx = decode_transaction(claimed.raw)
    s.anchor_tx = tx
    roots = s.roots
    digest_name = roots.suite.digest_name
    problems = []
    signed = False
    if claimed.hash != tx.hash:
        problems.append(f"its hash is 0x{tx.hash.hex()}, the bundle claims 0x{claimed.hash.hex()}")
    if tx.chain_id != roots.chain_id:
        problems.append(f"it is for chain id {tx.chain_id}, not {roots.chain_id}")
    rotated = _rotated_notary_account(roots, tx.sender)
    if tx.sender != _address(roots.notary_account) and rotated is None:
        problems.append(f"it was signed by {_show(tx.sender)}, not the notary's account {roots.notary_account}")
    retired = next((r for r in roots.retired_anchors if tx.to == _address(r[0])), None)
    size = s.checkpoint.size if s.checkpoint is not None else None
    if retired is not None and size is not None and size > retired[1]:
        problems.append(
            f"it calls the retired AuditAnchor {retired[0]}, whose anchors count up to size {retired[1]} only, "
            f"for size {size}"
        )
    elif retired is None and tx.to != _address(roots.anchor_address):
        problems.append(f"it calls {_show(tx.to) if tx.to else 'no contract'}, not AuditAnchor {roots.anchor_address}")
    if s.checkpoint is None or s.note_text is None:
        problems.append("no readable checkpoint to compare its calldata with")
    else:
        cp = s.checkpoint
        digest = roots.suite.digest(s.note_text.encode("utf-8"))
        if tx.data != anchor_calldata(cp.origin, cp.size, cp.root, digest):
            keys = roots.log_keys
            anchoring = [roots.log] if keys is None else keys.valid()
            whys = [signed_anchor_problem(tx.data, cp.origin, cp.size, cp.root, digest, k) for k in anchoring]
            none_valid = "no log key is valid" if keys is None else f"no log key is valid at {keys.where()}"
            why = None if None in whys else (whys[0] if whys else none_valid)
            if why is None:
                signed = True
            else:
                problems.append(
                    f"its calldata is not anchor({cp.origin!r}, {cp.size}, root, {digest_name}(checkpoint body))"
                    + ("" if tx.data[:4] != keccak(text=ANCHOR_SIGNED_SIGNATURE)[:4] else f", nor signed: {why}")
                )
    if problems:
        raise _FailError("; ".join(problems))
    function = "anchor_signed" if signed else "anchor"
    checked = ", the log's valid SM2 signature of them" if signed else ""
    text = (
        f"0x{tx.hash.hex()} from the notary {_show(tx.sender)} calls AuditAnchor.{function}(origin, "
        f"{s.checkpoint.size if s.checkpoint else '?'}, root, {digest_name}(checkpoint body){checked}) "
        f"on chain {tx.chain_id}"
    )
    if rotated is not None:
        text += f" ({rotated})"
    if retired is not None:
        text += f" (the retired AuditAnchor {retired[0]}, which holds the log's anchors up to size {retired[1]})"
    if signed:
        return text + f"; {ANCHOR_CHECKED_ON_CHAIN}"
    if isinstance(roots.log, SM2NoteVerifier):
        return text + f"; {ANCHOR_NOT_CHECKED_ON_CHAIN}"
    return text


def _rotated_notary_account(roots: TrustRoots, sender: bytes) -> str | None:
    """Why ``sender``, not ``consortium.json``'s notary account, may send the anchor: an account of the notary's
    member proven at the anchor's block (said so); None when it is not one, or nothing was proven. The seals step
    fails on a block other than the one proven, so the accounts are those of the chain the anchor is on."""
    proven = roots.anchor_block
    if proven is None or proven.problem is not None or sender == _address(roots.notary_account):
        return None
    if sender not in {_address(a) for a in proven.notary_accounts}:
        return None
    return (
        f"an account of the notary's member {proven.notary_org} in the registry at block {proven.number - 1}, proven "
        "against its state root: the account consortium.json names was rotated"
    )


def _header(s: _State) -> list[Any]:
    if s.header is None:
        header = _rlp_list(s.block().header, "block header")
        if len(header) < HEADER_MIN_FIELDS or any(not isinstance(f, bytes) for f in header):
            raise _FailError(
                f"block header has {len(header)} fields, expected at least {HEADER_MIN_FIELDS} byte strings"
            )
        s.header = header
    return s.header


def _proven(root: bytes, index: int, proof: Sequence[bytes], what: str) -> bytes:
    """The value a v2 proof proves at rlp(index) in the trie of ``root``; the step fails if it proves none."""
    try:
        return verify_proof(root, rlp.encode(index), proof)
    except ProofError as exc:
        raise _FailError(f"the {what} proof does not lead from the header's root to index {index}: {exc}") from exc


def _step_in_block(s: _State) -> str:
    header = _header(s)
    block = s.block()
    if isinstance(block, AnchorProofs):
        index = s.anchor().transaction.index
        value = _proven(header[HEADER_TX_ROOT], index, block.transaction_proof, "transaction")
        if value != s.anchor().transaction.raw:
            raise _FailError(
                f"the transactions trie holds another transaction at index {index} (keccak 0x{keccak(value).hex()})"
            )
        s.position = index
        number = _rlp_int(header[HEADER_NUMBER], "block number")
        return (
            f"transaction {index} in block {number}: proof of {len(block.transaction_proof)} node(s) "
            "from transactionsRoot"
        )
    transactions = block.transactions
    root = trie_root(transactions)
    problems = []
    if root != header[HEADER_TX_ROOT]:
        problems.append(
            f"the block's {len(transactions)} transactions give root 0x{root.hex()}, the header holds "
            f"0x{header[HEADER_TX_ROOT].hex()}"
        )
    anchor_raw = s.anchor().transaction.raw
    s.position = next((i for i, t in enumerate(transactions) if t == anchor_raw), None)
    if s.position is None:
        problems.append("the anchor transaction is not among the block's transactions")
    if problems:
        raise _FailError("; ".join(problems))
    number = _rlp_int(header[HEADER_NUMBER], "block number")
    return f"transaction {s.position} of {len(transactions)} in block {number}, transactionsRoot recomputed"


def _step_succeeded(s: _State) -> str:
    header = _header(s)
    block = s.block()
    if isinstance(block, AnchorProofs):
        index = s.anchor().transaction.index
        value = _proven(header[HEADER_RECEIPT_ROOT], index, block.receipt_proof, "receipt")
        if s.position is None:
            raise _FailError("the anchor transaction is not proven in the block, so its receipt is not proven its own")
        if value != block.receipt:
            raise _FailError(f"the receipts trie holds another receipt at index {index} than the bundle's")
        outcome = receipt_status(block.receipt)
        if outcome != 1:
            raise _FailError(f"the anchor transaction failed (receipt status {outcome})")
        return f"receipt status 1, proof of {len(block.receipt_proof)} node(s) from receiptsRoot"
    receipts = block.receipts
    root = trie_root(receipts)
    problems = []
    if root != header[HEADER_RECEIPT_ROOT]:
        problems.append(
            f"the block's {len(receipts)} receipts give root 0x{root.hex()}, the header holds "
            f"0x{header[HEADER_RECEIPT_ROOT].hex()}"
        )
    status = None
    if s.position is None:
        problems.append("the anchor transaction is not in the block, so none of its receipts is its own")
    elif s.position >= len(receipts):
        problems.append(f"no receipt at position {s.position}")
    else:
        status = receipt_status(receipts[s.position])
        if status != 1:
            problems.append(f"the anchor transaction failed (receipt status {status})")
    if problems:
        raise _FailError("; ".join(problems))
    return f"receipt status 1, receiptsRoot recomputed over {len(receipts)} receipts"


def _step_block_hash(s: _State) -> str:
    block = s.block()
    header = _header(s)
    digest = block_hash(header)
    number = _rlp_int(header[HEADER_NUMBER], "block number")
    problems = []
    if block.hash != digest:
        problems.append(f"the header hashes to 0x{digest.hex()}, the bundle claims 0x{block.hash.hex()}")
    if block.number != number:
        problems.append(f"the header is block {number}, the bundle claims {block.number!r}")
    if problems:
        raise _FailError("; ".join(problems))
    return f"block {number} hash 0x{digest.hex()} recomputed from its header"


def _step_seals(s: _State) -> str:
    header = _header(s)
    proven = s.roots.anchor_block
    if proven is not None:
        _check_proven(proven, header)
    validators = [_address(v) for v in (s.roots.validators if proven is None else proven.validators)]
    if not validators:
        raise _SkipError(
            "the trust roots name no validators for this chain: the block is not proven to be on the chain; "
            "compare its hash with a node you trust"
        )
    try:
        extra = ExtraData.decode(header[HEADER_EXTRA])
    except ChainError as exc:
        raise _FailError(f"the header's extra data carries no QBFT validator seals ({exc})") from exc
    sealed_by = signers(header, extra)
    who = ", ".join(_show(a) for a in dict.fromkeys(a for a in sealed_by if a in set(validators))) or "none of them"
    try:
        valid = count_quorum(_rlp_int(header[HEADER_NUMBER], "block number"), sealed_by, validators)
    except QuorumError as exc:
        detail = f"{exc.valid} valid seal(s) from the validators ({who}); {exc.needed} of {exc.validators} needed"
        raise _FailError(detail) from exc
    n = len(set(validators))
    said = f"sealed by {len(valid)} of {n} validators (quorum {quorum(n)}) in round {extra.round}: {who}"
    return said if proven is None else f"{said}; {proven.source}"


def _check_proven(proven: ProvenBlock, header: list[Any]) -> None:
    """The seals step fails unless the bundle's header is the block the light client proved at its number."""
    if proven.problem is not None:
        raise _FailError(proven.problem)
    number = _rlp_int(header[HEADER_NUMBER], "block number")
    digest = block_hash(header)
    if number != proven.number or digest != proven.hash:
        raise _FailError(
            f"the header is block {number} 0x{digest.hex()}, but the chain's block {proven.number} is "
            f"0x{proven.hash.hex()} ({proven.source})"
        )


_STEPS: tuple[tuple[str, Callable[[_State], str]], ...] = (
    ("entry", _step_entry),
    ("leaf hash", _step_leaf),
    ("receipt", _step_receipt),
    ("checkpoint", _step_checkpoint),
    ("cosignatures", _step_cosignatures),
    ("inclusion", _step_inclusion),
    ("anchor transaction", _step_anchor_tx),
    ("transaction in block", _step_in_block),
    ("transaction succeeded", _step_succeeded),
    ("block hash", _step_block_hash),
    ("seals", _step_seals),
)

#: The names of the steps, in the order ``verify_evidence`` reports them.
STEP_NAMES = tuple(name for name, _ in _STEPS)


def verify_evidence(bundle: EvidenceBundle, roots: TrustRoots) -> list[Step]:
    """Every step of the evidence check, in order; never stops at the first failure, never raises."""
    return _verify(BundleParts.of(bundle), roots)


def verify_evidence_json(data: object, roots: TrustRoots) -> list[Step]:
    """:func:`verify_evidence` on a bundle as JSON (a file, an HTTP answer), never raising on bad input.

    Each part is parsed on its own (``notary.bundle.BundleParts``): a part that does not parse fails the steps
    that need it, with what is wrong with it, and only those, as a tampered part does; a bundle that parses
    gives exactly the steps of :func:`verify_evidence` on ``EvidenceBundle.from_json(data)``. Something that is
    not a bundle of this format fails every step."""
    if not isinstance(data, Mapping) or data.get("format") not in FORMATS:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        expected = " or ".join(FORMATS)
        return [
            Step(name, False, f"not an evidence bundle of format {expected} (got {found!r})") for name in STEP_NAMES
        ]
    return _verify(BundleParts.from_json(data), roots)


def _verify(parts: BundleParts, roots: TrustRoots) -> list[Step]:
    state = _State(parts, roots)
    steps = []
    for name, check in _STEPS:
        try:
            steps.append(Step(name, True, check(state)))
        except _SkipError as exc:
            steps.append(Step(name, None, str(exc)))
        except (_FailError, NotaryError, ChainError) as exc:
            steps.append(Step(name, False, str(exc)))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, UnicodeError) as exc:
            steps.append(Step(name, False, f"malformed bundle ({exc.__class__.__name__}: {exc})"))
    return steps


__all__ = [
    "FORMAT",
    "FORMATS",
    "STEP_NAMES",
    "DecodedTransaction",
    "ProvenBlock",
    "Step",
    "TrustRoots",
    "WitnessKeys",
    "anchor_calldata",
    "check_cosignatures",
    "cosigning_witnesses",
    "decode_transaction",
    "passed",
    "receipt_status",
    "trie_root",
    "verifiers_of",
    "verify_evidence",
    "verify_evidence_json",
]
