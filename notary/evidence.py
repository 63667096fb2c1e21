"""Evidence bundles: everything needed to prove, offline, that one event is in the witnessed, anchored log.

A bundle (JSON, ``format: consortium-ledger/evidence/v2``) holds the entry and its receipt, the published
checkpoint that covers it (preferably the smallest one anchored on chain) with its cosignatures, the RFC 9162
inclusion proof to it, and the anchor: the signed anchor transaction, the RLP header of its block, the
Merkle-Patricia proofs of that transaction and of its receipt in the block's tries (``notary.mpt``) and, in the
header's extra data, the validators' seals. No other transaction of the block is in it: another firm's grant
in the same block stays out. ``notary.verify.verify_evidence`` checks it from the consortium's public keys alone.
A v1 bundle carried all the block's transactions and receipts instead; ``bundle_format=FORMAT_V1`` still builds
one (for a verifier that only knows v1).

The chain part is read over plain Ethereum JSON-RPC (raw responses, no client-side formatting), so it works on
the consortium's node, anvil or Besu. Raw transactions come from ``eth_getRawTransactionByHash`` where the node
has it, else are re-encoded from their fields (EIP-2718); either way each must hash to its transaction hash,
the re-encoded header must hash to the block hash, and the tries built from them must have the header's roots
(the proofs are cut from those tries), or the bundle says which part could not be rebuilt. Each answer is
checked where it is read (:func:`parse_block`, :func:`parse_transaction`, :func:`parse_receipt`: a JSON object
with the fields the encoders read, as text) and typed from there on (:class:`RpcBlock`, :class:`RpcTransaction`,
:class:`RpcReceipt`); a malformed answer raises ``EvidenceChainError`` naming the method and the field.

A part that does not exist yet (no published checkpoint covers the event, the checkpoint is not anchored yet,
the chain is unreachable) is ``null``, and ``pending`` says why; an unknown event raises NotFoundError.

The bundle's fields and their JSON form are ``notary.bundle``'s; the builder returns an ``EvidenceBundle`` and
the API writes ``to_json()``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NotRequired, TypedDict, cast

import rlp
from eth_utils.crypto import keccak

from chain.errors import ChainError
from chain.seal import SEAL_FORMAT, ExtraData
from chain.seal import block_hash as header_hash
from notary.anchor import Anchorer
from notary.bundle import (
    FORMAT,
    FORMAT_V1,
    FORMATS,
    AnchorBlock,
    AnchorEvidence,
    AnchorProofs,
    AnchorTransaction,
    EvidenceBundle,
    EvidenceCheckpoint,
    EvidenceInclusion,
    EvidenceReceipt,
    NoSeals,
    Pending,
    Seals,
)
from notary.errors import NotaryError, NotFoundError
from notary.log.hashing import SHA256, TreeHash
from notary.mpt import build_proof
from notary.receipt import Receipt
from notary.storage.base import AnchorRow, CheckpointRow, NotaryStorage
from notary.verify import HEADER_EXTRA, HEADER_RECEIPT_ROOT, HEADER_TX_ROOT

#: Header fields in RLP order (Yellow Paper §4.3), then the fields later forks appended, in order:
#: London (base fee), Shanghai (withdrawals), Cancun (blob gas, beacon root), Prague (requests).
_HEADER_FIELDS = (
    ("parentHash", False), ("sha3Uncles", False), ("miner", False), ("stateRoot", False),
    ("transactionsRoot", False), ("receiptsRoot", False), ("logsBloom", False), ("difficulty", True),
    ("number", True), ("gasLimit", True), ("gasUsed", True), ("timestamp", True), ("extraData", False),
    ("mixHash", False), ("nonce", False),
)  # fmt: skip
_HEADER_OPTIONAL = (
    ("baseFeePerGas", True), ("withdrawalsRoot", False), ("blobGasUsed", True), ("excessBlobGas", True),
    ("parentBeaconBlockRoot", False), ("requestsHash", False),
)  # fmt: skip

#: A JSON-RPC call: the method, its parameters, the answer's ``result`` (unparsed: see ``parse_*``).
Rpc = Callable[[str, list[Any]], object]


class EvidenceChainError(NotaryError, ChainError):
    """The chain did not answer, answered something malformed, or something that does not hash to what it claims."""


# -- the chain's answers, as read -----------------------------------------------------------------------------
# Quantities and data are JSON-RPC hex text ("0x..."); the encoders below decode them, refusing what is not hex.


class RpcAccess(TypedDict):
    """One entry of a transaction's access list (EIP-2930)."""

    address: str
    storageKeys: list[str]


class RpcAuthorization(TypedDict):
    """One entry of a type-4 transaction's authorization list (EIP-7702)."""

    chainId: str
    address: str
    nonce: str
    yParity: str
    r: str
    s: str


class RpcTransaction(TypedDict):
    """A transaction as ``eth_getBlockByHash(hash, true)`` lists it: the fields its type encodes (see
    ``_TRANSACTION_FIELDS``), checked present by :func:`parse_transaction`."""

    hash: str
    type: NotRequired[str]
    chainId: NotRequired[str]
    nonce: str
    gasPrice: NotRequired[str]
    maxPriorityFeePerGas: NotRequired[str]
    maxFeePerGas: NotRequired[str]
    gas: str
    to: NotRequired[str | None]
    value: str
    input: str
    accessList: NotRequired[list[RpcAccess]]
    maxFeePerBlobGas: NotRequired[str]
    blobVersionedHashes: NotRequired[list[str]]
    authorizationList: NotRequired[list[RpcAuthorization]]
    v: NotRequired[str]
    yParity: NotRequired[str]
    r: str
    s: str


class RpcLog(TypedDict):
    address: str
    topics: list[str]
    data: str


class RpcReceipt(TypedDict):
    """A receipt as ``eth_getTransactionReceipt`` or ``eth_getBlockReceipts`` answers it: ``status`` (EIP-658), or
    before Byzantium ``root``; ``blockHash`` null while the transaction is pending."""

    blockHash: str | None
    transactionIndex: str
    type: NotRequired[str]
    status: NotRequired[str]
    root: NotRequired[str]
    cumulativeGasUsed: str
    logsBloom: str
    logs: list[RpcLog]


class RpcBlock(TypedDict):
    """A block as ``eth_getBlockByHash(hash, true)`` answers it: its hash and number, its transactions in full,
    and the header's fields (``_HEADER_FIELDS``, read by name by :func:`encode_header`)."""

    hash: str
    number: str
    transactions: list[RpcTransaction]


#: The fields each transaction type encodes, besides ``hash``, ``r``, ``s`` and the signature's ``v``/``yParity``.
_TRANSACTION_FIELDS: dict[int, tuple[str, ...]] = {
    0: ("nonce", "gasPrice", "gas", "value", "input", "v"),
    1: ("chainId", "nonce", "gasPrice", "gas", "value", "input"),
    2: ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "value", "input"),
    3: ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "value", "input", "maxFeePerBlobGas",
        "blobVersionedHashes"),
    4: ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "value", "input", "authorizationList"),
}  # fmt: skip
_LIST_FIELDS = frozenset({"accessList", "blobVersionedHashes", "authorizationList", "logs", "transactions", "topics"})


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _answer(value: object, what: str, fields: Sequence[str]) -> dict[str, object]:
    """``value`` as a JSON object holding ``fields`` (lists where ``_LIST_FIELDS`` says, else text), or
    ``EvidenceChainError`` naming ``what`` and the first field that is missing or of the wrong kind."""
    if not isinstance(value, dict):
        raise EvidenceChainError(f"{what}: expected a JSON object, got {_kind(value)}")
    for name in fields:
        field = value.get(name)
        wanted = list if name in _LIST_FIELDS else str
        if not isinstance(field, wanted):
            raise EvidenceChainError(f"{what}: the field {name} must be {wanted.__name__}, got {_kind(field)}")
    return value


def parse_transaction(value: object, what: str = "transaction") -> RpcTransaction:
    """A transaction of a block's answer, with the fields its type encodes (``EvidenceChainError`` if not)."""
    tx = _answer(value, what, ("hash", "r", "s"))
    what = f"{what} ({tx['hash']})"
    kind = _quantity(tx.get("type", "0x0"))
    fields = _TRANSACTION_FIELDS.get(kind)
    if fields is None:
        raise EvidenceChainError(f"{what}: unknown type {kind}")
    _answer(tx, what, fields)
    if kind and not isinstance(tx.get("yParity", tx.get("v")), str):
        raise EvidenceChainError(f"{what}: the field yParity (or v) must be str")
    return cast(RpcTransaction, tx)


def parse_block(value: object, what: str) -> RpcBlock:
    """A block's answer (``eth_getBlockByHash`` with full transactions); its header fields are checked by
    :func:`encode_header`, which reads them."""
    block = _answer(value, what, ("hash", "number", "transactions"))
    transactions = cast(list[object], block["transactions"])
    for i, tx in enumerate(transactions):
        parse_transaction(tx, f"{what}: transaction {i}")
    return cast(RpcBlock, block)


def parse_receipt(value: object, what: str) -> RpcReceipt:
    """A receipt's answer, with what its consensus encoding needs (``EvidenceChainError`` if not)."""
    receipt = _answer(value, what, ("transactionIndex", "cumulativeGasUsed", "logsBloom", "logs"))
    if not isinstance(receipt.get("blockHash"), str | None):
        raise EvidenceChainError(f"{what}: the field blockHash must be str or null, got {_kind(receipt['blockHash'])}")
    if not isinstance(receipt.get("status", receipt.get("root")), str):
        raise EvidenceChainError(f"{what}: the field status (or root, before Byzantium) must be str")
    for i, log in enumerate(cast(list[object], receipt["logs"])):
        _answer(log, f"{what}: log {i}", ("address", "topics", "data"))
    return cast(RpcReceipt, receipt)


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


# -- which checkpoint ---------------------------------------------------------------------------------------


def choose_checkpoint(store: NotaryStorage, index: int) -> tuple[CheckpointRow | None, AnchorRow | None]:
    """The smallest published checkpoint covering ``index`` with a confirmed anchor, and that anchor; else the
    latest published checkpoint (no anchor) if it covers ``index``; else nothing."""
    anchor = store.anchor_covering(index)
    if anchor is not None:
        row = store.checkpoint(anchor["size"])
        if row is not None:
            return row, anchor
    latest = store.latest_checkpoint(published=True)
    if latest is not None and latest.size > index:
        return latest, None
    return None, None


class AnchorParts:
    """The anchor parts of bundles, by confirmed anchor, the ``size`` most recently used.

    Every event under one anchor has the same anchor part, and the block of a confirmed anchor does not change
    (the key holds the block hash recorded at confirmation), so the chain is read once per anchor, not once per
    bundle. The parts are frozen values, so bundles share them.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._parts: OrderedDict[tuple[str, str], AnchorEvidence] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, anchor: AnchorRow, build: Callable[[], AnchorEvidence]) -> AnchorEvidence:
        key = (anchor["tx_hash"], str(anchor["block_hash"]))
        with self._lock:
            part = self._parts.get(key)
            if part is not None:
                self._parts.move_to_end(key)
                return part
        part = build()  # outside the lock: two first readers of one anchor both read the chain, no one waits
        with self._lock:
            self._parts[key] = part
            while len(self._parts) > self.size:
                self._parts.popitem(last=False)
        return part


# -- the bundle ---------------------------------------------------------------------------------------------


class EvidenceBuilder:
    """Builds the evidence bundles of one log from what they are made of: the store, each event's receipt,
    inclusion proofs, and the anchorer (None where the notary does not anchor) with its chain client, in
    ``bundle_format`` (v2 unless told otherwise); leaf hashes with the log's ``tree`` hash."""

    def __init__(
        self,
        origin: str,
        store: NotaryStorage,
        receipt: Callable[[str], Receipt],
        inclusion: Callable[[int, int], Sequence[bytes]],
        anchorer: Anchorer | None,
        mmd_s: int,
        bundle_format: str = FORMAT,
        tree: TreeHash = SHA256,
    ) -> None:
        if bundle_format not in FORMATS:
            raise ValueError(f"unknown evidence bundle format {bundle_format!r}")
        self.bundle_format = bundle_format
        self.tree = tree
        self.origin = origin
        self.store = store
        self.receipt = receipt
        self.inclusion = inclusion
        self.anchorer = anchorer
        self.mmd_s = mmd_s
        self.anchor_parts = AnchorParts()

    def build(self, event_id: str) -> EvidenceBundle:
        """The evidence bundle of ``event_id`` (see ``notary.bundle``); NotFoundError for an unknown event."""
        row = self.store.entries_by_id([event_id]).get(event_id)
        if row is None:
            raise NotFoundError(f"no event {event_id!r} in the log")
        bundle = EvidenceBundle(
            origin=self.origin,
            event_id=event_id,
            index=row.index,
            entry=bytes(row.data),
            leaf_hash=self.tree.leaf(row.data),
            receipt=EvidenceReceipt.of(self.receipt(event_id)),
            checkpoint=None,
            inclusion=None,
            anchor=None,
            pending=(),
            format=self.bundle_format,
        )
        checkpoint, anchor = choose_checkpoint(self.store, row.index)
        if checkpoint is None or checkpoint.cosigned is None:
            latest = self.store.latest_checkpoint(published=True)
            reason = (
                f"index {row.index} is not yet in a published checkpoint (latest published size "
                f"{latest.size if latest else 0}); the notary publishes within {self.mmd_s} s"
            )
            pending = (Pending("checkpoint", reason), Pending("anchor", "waits for a published checkpoint"))
            return replace(bundle, pending=pending)
        bundle = replace(
            bundle,
            checkpoint=EvidenceCheckpoint(
                size=checkpoint.size,
                note=checkpoint.cosigned.decode("utf-8"),
                cosigners=tuple(checkpoint.cosigners.split(",")) if checkpoint.cosigners else (),
            ),
            inclusion=EvidenceInclusion(
                size=checkpoint.size, proof=tuple(bytes(h) for h in self.inclusion(row.index, checkpoint.size))
            ),
        )
        if anchor is None:
            return replace(bundle, pending=(Pending("anchor", self._why_not_anchored(row.index)),))
        assert self.anchorer is not None, "a confirmed anchor exists only where the notary anchors"
        try:
            anchorer = self.anchorer
            whole_block = self.bundle_format == FORMAT_V1

            def build() -> AnchorEvidence:
                client = anchorer.client()  # connects if the anchorer has not yet: it raises while the chain is down
                web3, chain_id = client.backend.web3, client.backend.chain_id
                return anchor_evidence(_raw_rpc(web3), anchor, chain_id, client.address, whole_block=whole_block)

            return replace(bundle, anchor=self.anchor_parts.get(anchor, build))
        except (ChainError, OSError, KeyError, TypeError, ValueError) as exc:  # EvidenceChainError is a ChainError
            reason = f"the chain could not provide the anchor's block ({exc.__class__.__name__}: {exc})"
            return replace(bundle, pending=(Pending("anchor", reason),))

    def _why_not_anchored(self, index: int) -> str:
        if self.anchorer is None:
            return "this notary does not anchor checkpoints on a chain"
        sent = self.store.anchor_covering(index, state="sent")
        if sent is not None:
            return f"anchor transaction {sent['tx_hash']} of checkpoint {sent['size']} sent, not yet confirmed"
        interval = self.anchorer.interval
        return f"no checkpoint covering index {index} is anchored yet; the notary anchors every {interval:g} s"


# -- the chain part -----------------------------------------------------------------------------------------


def _raw_rpc(web3: Any) -> Rpc:
    """JSON-RPC through the provider itself: raw hex answers, untouched by web3's formatters and middleware."""

    def call(method: str, params: list[Any]) -> Any:
        try:
            response = web3.provider.make_request(method, params)
        except Exception as exc:  # requests, aiohttp and web3 raise many kinds; all mean "no answer"
            raise EvidenceChainError(f"{method}: {exc.__class__.__name__}: {exc}") from exc
        if "error" in response:
            raise EvidenceChainError(f"{method}: {response['error']}")
        return response.get("result")

    return call


def anchor_evidence(
    rpc: Rpc, anchor: AnchorRow, chain_id: int, contract: str, *, whole_block: bool = False
) -> AnchorEvidence:
    """The anchor part of a bundle: the stored raw transaction, the header of the block that holds it and the
    proofs of the transaction and its receipt in the block's tries (v2), or, ``whole_block``, every transaction
    and receipt of the block (v1)."""
    raw_tx = anchor["raw_tx"]
    tx_hash = keccak(raw_tx)
    if _hex(tx_hash) != anchor["tx_hash"].lower():
        raise EvidenceChainError(f"the stored anchor transaction does not hash to {anchor['tx_hash']}")
    answer = rpc("eth_getTransactionReceipt", [_hex(tx_hash)])
    receipt = None if answer is None else parse_receipt(answer, "eth_getTransactionReceipt")
    if receipt is None or receipt["blockHash"] is None:
        raise EvidenceChainError(f"the chain does not know the anchor transaction {_hex(tx_hash)}")
    answer = rpc("eth_getBlockByHash", [receipt["blockHash"], True])
    if answer is None:
        raise EvidenceChainError(f"the chain does not know block {receipt['blockHash']}")
    block = parse_block(answer, "eth_getBlockByHash")
    header = encode_header(block)
    fields = rlp.decode(header)
    if _hex(header_hash(fields)) != block["hash"]:
        raise EvidenceChainError(f"block {block['hash']}: its fields do not re-encode to its hash (unknown fork?)")
    transactions = [_raw_transaction(rpc, tx) for tx in block["transactions"]]
    receipts = [encode_receipt(r) for r in _block_receipts(rpc, block)]
    index = _quantity(receipt["transactionIndex"])
    if not 0 <= index < len(transactions) or transactions[index] != raw_tx:
        raise EvidenceChainError(f"block {block['hash']}: its transaction {index} is not the anchor transaction")
    tx_root, tx_proof = build_proof(transactions, index)
    receipt_root, receipt_proof = build_proof(receipts, index)
    if tx_root != fields[HEADER_TX_ROOT] or receipt_root != fields[HEADER_RECEIPT_ROOT]:
        raise EvidenceChainError(f"block {block['hash']}: transactions or receipts do not match its header")
    number, block_hash = _quantity(block["number"]), _data(block["hash"])
    part: AnchorProofs | AnchorBlock
    if whole_block:
        part = AnchorBlock(number, block_hash, header, tuple(transactions), tuple(receipts))
    else:
        part = AnchorProofs(number, block_hash, header, tx_proof, receipts[index], receipt_proof)
    return AnchorEvidence(
        chain_id=chain_id,
        contract=contract,
        size=anchor["size"],
        transaction=AnchorTransaction(hash=tx_hash, raw=raw_tx, index=index),
        block=part,
        seals=describe_seals(fields[HEADER_EXTRA]),
    )


def describe_seals(extra_data: bytes) -> Seals | NoSeals:
    """What the header's extra data holds (for the reader; the verifier decodes the header itself)."""
    try:
        extra = ExtraData.decode(extra_data)
    except ChainError as exc:
        return NoSeals(f"this chain's extra data is not QBFT's, so no seals ({exc})")
    return Seals(
        format=SEAL_FORMAT,
        round=extra.round,
        seals=len(extra.seals),
        validators=tuple(bytes(v) for v in extra.validators),
    )


def _quantity(value: object) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise EvidenceChainError(f"expected a hex quantity, got {value!r}")
    return int(value, 16)


def _data(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise EvidenceChainError(f"expected hex data, got {value!r}")
    return bytes.fromhex(value[2:])


def encode_header(block: Mapping[str, object]) -> bytes:
    """The RLP header of a block in JSON-RPC form: the base fields, then each later fork's fields present."""
    fields: list[int | bytes] = []
    for name, is_quantity in _HEADER_FIELDS:
        if block.get(name) is None:
            raise EvidenceChainError(f"block {block.get('hash')} lacks the header field {name}")
        fields.append(_quantity(block[name]) if is_quantity else _data(block[name]))
    for name, is_quantity in _HEADER_OPTIONAL:
        if block.get(name) is None:
            break
        fields.append(_quantity(block[name]) if is_quantity else _data(block[name]))
    return bytes(rlp.encode(fields))


def _access_list(tx: RpcTransaction) -> list[list[bytes | list[bytes]]]:
    return [[_data(a["address"]), [_data(k) for k in a["storageKeys"]]] for a in tx.get("accessList") or []]


def _to(tx: RpcTransaction) -> bytes:
    to = tx.get("to")
    return b"" if to is None else _data(to)


def encode_transaction(tx: RpcTransaction) -> bytes:
    """The signed raw bytes of a transaction in JSON-RPC form (legacy, or EIP-2718 types 1 to 4; see
    :func:`parse_transaction`, which checks the fields its type needs are there)."""
    kind = _quantity(tx.get("type", "0x0"))
    q, d = _quantity, _data
    signature = [q(tx.get("yParity", tx.get("v"))), q(tx["r"]), q(tx["s"])]
    if kind == 0:
        fields = [q(tx["nonce"]), q(tx["gasPrice"]), q(tx["gas"]), _to(tx), q(tx["value"]), d(tx["input"])]
        return bytes(rlp.encode([*fields, q(tx["v"]), q(tx["r"]), q(tx["s"])]))
    head = [q(tx["chainId"]), q(tx["nonce"])]
    call = [q(tx["gas"]), _to(tx), q(tx["value"]), d(tx["input"]), _access_list(tx)]
    if kind == 1:
        body: list[object] = [*head, q(tx["gasPrice"]), *call]
    elif kind in (2, 3, 4):
        body = [*head, q(tx["maxPriorityFeePerGas"]), q(tx["maxFeePerGas"]), *call]
        if kind == 3:
            body += [q(tx["maxFeePerBlobGas"]), [d(h) for h in tx["blobVersionedHashes"]]]
        if kind == 4:
            body.append(
                [
                    [q(a["chainId"]), d(a["address"]), q(a["nonce"]), q(a["yParity"]), q(a["r"]), q(a["s"])]
                    for a in tx["authorizationList"]
                ]
            )
    else:
        raise EvidenceChainError(f"transaction {tx.get('hash')}: unknown type {kind}")
    return bytes([kind]) + bytes(rlp.encode([*body, *signature]))


def encode_receipt(receipt: RpcReceipt) -> bytes:
    """The consensus encoding of a receipt in JSON-RPC form (EIP-658 status; EIP-2718 type prefix)."""
    kind = _quantity(receipt.get("type", "0x0"))
    status = receipt.get("status")  # else, before Byzantium, an intermediate state root
    outcome = _quantity(status) if status is not None else _data(receipt.get("root"))
    logs = [[_data(log["address"]), [_data(t) for t in log["topics"]], _data(log["data"])] for log in receipt["logs"]]
    body = bytes(rlp.encode([outcome, _quantity(receipt["cumulativeGasUsed"]), _data(receipt["logsBloom"]), logs]))
    return body if kind == 0 else bytes([kind]) + body


def _raw_transaction(rpc: Rpc, tx: RpcTransaction) -> bytes:
    """The raw bytes of a block's transaction, checked against its hash."""
    raw = encode_transaction(tx)
    if _hex(keccak(raw)) != tx["hash"]:
        try:
            fetched = rpc("eth_getRawTransactionByHash", [tx["hash"]])
        except EvidenceChainError:
            fetched = None
        raw = _data(fetched) if fetched else raw
    if _hex(keccak(raw)) != tx["hash"]:
        raise EvidenceChainError(f"transaction {tx['hash']}: cannot obtain raw bytes that hash to it")
    return raw


def _block_receipts(rpc: Rpc, block: RpcBlock) -> list[RpcReceipt]:
    try:
        answer = rpc("eth_getBlockReceipts", [block["number"]])
    except EvidenceChainError:
        answer = None
    if answer is None:
        answers = [rpc("eth_getTransactionReceipt", [tx["hash"]]) for tx in block["transactions"]]
        method = "eth_getTransactionReceipt"
    elif isinstance(answer, list):
        answers, method = answer, "eth_getBlockReceipts"
    else:
        raise EvidenceChainError(f"eth_getBlockReceipts: expected a list, got {_kind(answer)}")
    if len(answers) != len(block["transactions"]) or any(r is None for r in answers):
        raise EvidenceChainError(f"block {block['hash']}: the chain gave no receipt for every transaction")
    return [parse_receipt(r, f"{method}: receipt {i}") for i, r in enumerate(answers)]
