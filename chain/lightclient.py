"""A light client of a QBFT chain: block headers and contract state proven from a trusted start, through any node.

A node's word counts for nothing here. From a header the verifier already trusts (the genesis whose validator
set is the one ``consortium.json`` names, or a header it verified before), each next header is accepted only if
its parent hash is the hash this client computed for the previous one and a quorum (``ceil(2n/3)``) of distinct
validators of the set the previous header names sealed it (``chain.seal``: Besu's QBFT rules, the ones ``chain
verify`` and the evidence verifier apply). The set each header names then checks the next, so changes of the
validator set made by governance are followed. Hashes are recomputed from the header's fields, never taken from
the answer. Once a header is accepted, ``eth_getProof`` answers are checked against its ``stateRoot``
(``chain.stateproof``).

A verifier that follows the same chain again and again keeps the last header it accepted between runs
(:class:`KeptHeader`: its number and hash, the validator set it names and the genesis it was followed from) and
resumes from it (:func:`resume`): the header the node now serves at that number must hash to the kept hash,
under the genesis this client just accepted from the founding validators; every header after it is checked as
above. A kept header is a trust anchor like the founding validators, so whoever keeps it keeps it where only
they can write (``network.keptheader``).

What this proves, and what it does not (``docs/trust.md``, "Proving state without trusting a node"): that a
quorum of the validators committed to this header, and so to its state; not that they executed the transactions
faithfully (``consortium chain verify`` re-executes), nor that the header is the newest one (a node can withhold
later blocks; the block's timestamp says how old the answer is).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chain.errors import ChainError, MalformedError
from chain.qbft.extradata import ExtraData
from chain.seal import QuorumError, block_hash, count_quorum, signers
from chain.stateproof import ProvenAccount, verify_account_proof

#: Header fields in RLP order (Yellow Paper, section 4.3), then those later forks appended, in order: London
#: (base fee), Shanghai (withdrawals), Cancun (blob gas, beacon root), Prague (requests). (name, is a quantity)
HEADER_FIELDS = (
    ("parentHash", False), ("sha3Uncles", False), ("miner", False), ("stateRoot", False),
    ("transactionsRoot", False), ("receiptsRoot", False), ("logsBloom", False), ("difficulty", True),
    ("number", True), ("gasLimit", True), ("gasUsed", True), ("timestamp", True), ("extraData", False),
    ("mixHash", False), ("nonce", False),
)  # fmt: skip
LATER_FIELDS = (
    ("baseFeePerGas", True), ("withdrawalsRoot", False), ("blobGasUsed", True), ("excessBlobGas", True),
    ("parentBeaconBlockRoot", False), ("requestsHash", False),
)  # fmt: skip
PARENT, STATE_ROOT, NUMBER, TIMESTAMP, EXTRA = 0, 3, 8, 11, 12
#: Headers asked for in one JSON-RPC batch (our node answers batches of up to 1,000 requests).
HEADER_BATCH = 200
#: Storage slots asked for in one eth_getProof (our node proves at most 256 per request).
PROOF_BATCH = 256


class HeaderChainError(ChainError):
    """A header the node answered is not the one the chain of trust leads to; ``number`` names it."""

    def __init__(self, number: int, reason: str) -> None:
        self.number = number
        self.reason = reason
        super().__init__(f"block {number}: {reason}")


class JsonRpc(Protocol):
    """What the light client asks of a node: single requests and batches (results in the order asked)."""

    def request(self, method: str, params: list[Any]) -> Any: ...

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class VerifiedHeader:
    """A header this client accepted. ``validators``: the set it names, which seals the next block;
    ``sealed_by``: the validators of its parent's set whose seals were counted (empty for a trusted start and for
    a header accepted by its child's parent hash); ``parent_hash``: the hash it names as its parent's."""

    number: int
    hash: bytes
    state_root: bytes
    timestamp: int
    round: int
    validators: tuple[bytes, ...]
    sealed_by: tuple[bytes, ...]
    parent_hash: bytes = b""


def _quantity(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise MalformedError(f"{what} must be a 0x-prefixed hex quantity, got {str(value)[:40]!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise MalformedError(f"{what} is not hex: {value[:40]!r}") from None


def _data(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedError(f"{what} must be 0x-prefixed hex, got {str(value)[:40]!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedError(f"{what} is not hex: {value[:40]!r}") from None


def header_fields(block: object) -> list[Any]:
    """The RLP fields of a block's header from its JSON-RPC form (``eth_getBlockByNumber``): the base fields,
    then each later fork's field while present."""
    if not isinstance(block, dict):
        raise MalformedError("the block is not a JSON object")
    fields: list[Any] = []
    for name, is_quantity in HEADER_FIELDS:
        if block.get(name) is None:
            raise MalformedError(f"the block lacks the header field {name}")
        fields.append(_quantity(block[name], name) if is_quantity else _data(block[name], name))
    for name, is_quantity in LATER_FIELDS:
        if block.get(name) is None:
            break
        fields.append(_quantity(block[name], name) if is_quantity else _data(block[name], name))
    return fields


def _decode(number: int, block: object) -> tuple[list[Any], bytes, ExtraData]:
    """(fields, hash, extra data) of the answer for block ``number``; the hash recomputed from the fields."""
    if block is None:
        raise HeaderChainError(number, "the node has no such block")
    try:
        fields = header_fields(block)
        extra = ExtraData.decode(fields[EXTRA])
    except MalformedError as exc:
        raise HeaderChainError(number, f"the header cannot be read: {exc}") from exc
    if fields[NUMBER] != number:
        raise HeaderChainError(number, f"the node answered block {fields[NUMBER]} instead")
    digest = block_hash(fields)
    claimed = block.get("hash") if isinstance(block, dict) else None
    if claimed is not None and claimed != "0x" + digest.hex():
        raise HeaderChainError(number, f"the node names it {claimed}, but its header hashes to 0x{digest.hex()}")
    return fields, digest, extra


def _accepted(fields: list[Any], digest: bytes, extra: ExtraData, sealed_by: Sequence[bytes]) -> VerifiedHeader:
    return VerifiedHeader(
        int(fields[NUMBER]),
        digest,
        bytes(fields[STATE_ROOT]),
        int(fields[TIMESTAMP]),
        extra.round,
        tuple(extra.validators),
        tuple(sealed_by),
        bytes(fields[PARENT]),
    )


def trust_genesis(block: object, validators: Collection[bytes]) -> VerifiedHeader:
    """Block 0, accepted when the validator set it names is exactly ``validators`` (the consortium's founding
    validators, from ``consortium.json``): the start of the chain of trust."""
    fields, digest, extra = _decode(0, block)
    if set(extra.validators) != set(validators) or len(extra.validators) != len(set(validators)):
        named = ", ".join("0x" + v.hex() for v in extra.validators) or "none"
        raise HeaderChainError(0, f"the genesis names the validators {named}, not the consortium's founding ones")
    return _accepted(fields, digest, extra, ())


def trust_header(block: object, number: int, expected_hash: bytes) -> VerifiedHeader:
    """Block ``number``, accepted when it hashes to ``expected_hash`` (a header verified before)."""
    fields, digest, extra = _decode(number, block)
    if digest != expected_hash:
        raise HeaderChainError(number, f"hashes to 0x{digest.hex()}, not the trusted 0x{expected_hash.hex()}")
    return _accepted(fields, digest, extra, ())


def check_child(parent: VerifiedHeader, block: object) -> VerifiedHeader:
    """The header after ``parent``, accepted when it links to it and a quorum of ``parent``'s set sealed it."""
    number = parent.number + 1
    fields, digest, extra = _decode(number, block)
    if fields[PARENT] != parent.hash:
        raise HeaderChainError(
            number,
            f"its parent hash is 0x{bytes(fields[PARENT]).hex()}, not block {parent.number}'s 0x{parent.hash.hex()}",
        )
    try:
        sealed_by = count_quorum(number, signers(fields, extra), parent.validators)
    except QuorumError as exc:
        raise HeaderChainError(number, f"{exc.valid} valid seal(s) from block {parent.number}'s validators, "
                                       f"{exc.needed} of {exc.validators} needed") from exc  # fmt: skip
    except (MalformedError, ChainError) as exc:
        raise HeaderChainError(number, f"seals: {exc}") from exc
    return _accepted(fields, digest, extra, sealed_by)


class KeptHeaderError(ChainError):
    """A kept header cannot be read, is not one of this chain, or cannot be written; the message says which."""


@dataclass(frozen=True, slots=True)
class KeptHeader:
    """A header accepted before, kept to resume from: ``genesis`` the hash of the block 0 it was followed from,
    ``validators`` the set it names (which seals its child). ``timestamp`` says how old it is; it is not
    checked."""

    genesis: bytes
    number: int
    hash: bytes
    validators: tuple[bytes, ...]
    timestamp: int

    @staticmethod
    def of(genesis: VerifiedHeader, header: VerifiedHeader) -> KeptHeader:
        return KeptHeader(genesis.hash, header.number, header.hash, header.validators, header.timestamp)


def resume(rpc: JsonRpc, genesis: VerifiedHeader, kept: KeptHeader) -> VerifiedHeader:
    """The header ``kept`` names, accepted again from the node: ``kept`` must be of the chain whose block 0 is
    ``genesis`` (accepted by :func:`trust_genesis`), and the node's header at its number must hash to its hash
    and name its validators (:class:`KeptHeaderError` naming what differs). What follows it is checked by
    :func:`follow`, seal by seal."""
    if kept.genesis != genesis.hash:
        raise KeptHeaderError(
            f"it is of another chain: its genesis is 0x{kept.genesis.hex()}, this chain's is 0x{genesis.hash.hex()}"
        )
    try:
        header = trust_header(block_at(rpc, kept.number), kept.number, kept.hash)
    except HeaderChainError as exc:
        raise KeptHeaderError(f"the node's chain does not lead through it: {exc}") from exc
    if header.validators != kept.validators:
        raise KeptHeaderError(f"block {kept.number}'s header names other validators than the kept ones")
    return header


def follow(
    rpc: JsonRpc,
    start: VerifiedHeader,
    target: int,
    progress: Callable[[int, int], None] | None = None,
) -> VerifiedHeader:
    """Walk from ``start`` to block ``target``, checking every header on the way (``check_child``)."""
    if target < start.number:
        raise HeaderChainError(target, f"is before the trusted block {start.number}: start from an earlier one")
    header = start
    while header.number < target:
        numbers = range(header.number + 1, min(target, header.number + HEADER_BATCH) + 1)
        blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        for block in blocks:
            header = check_child(header, block)
        if progress is not None:
            progress(header.number, target)
    return header


def check_parent(child: VerifiedHeader, block: object) -> VerifiedHeader:
    """The header before ``child``, accepted when it hashes to ``child``'s parent hash: the hash commits to every
    field (the validator set it names among them), so a header accepted is as trusted as its child. Its seals are
    not counted (``sealed_by`` is empty): its child's seals already committed to it."""
    number = child.number - 1
    fields, digest, extra = _decode(number, block)
    if digest != child.parent_hash:
        raise HeaderChainError(
            number, f"hashes to 0x{digest.hex()}, not block {child.number}'s parent hash 0x{child.parent_hash.hex()}"
        )
    return _accepted(fields, digest, extra, ())


def walk_back(rpc: JsonRpc, start: VerifiedHeader, target: int) -> VerifiedHeader:
    """Walk from ``start`` back to block ``target`` by parent hashes (``check_parent``): an earlier block proven
    from a later trusted one without following the chain from the genesis again."""
    if not 0 <= target <= start.number:
        raise HeaderChainError(target, f"is not before the trusted block {start.number}")
    header = start
    while header.number > target:
        numbers = range(header.number - 1, max(target, header.number - HEADER_BATCH) - 1, -1)
        blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        for block in blocks:
            header = check_parent(header, block)
    return header


def block_at(rpc: JsonRpc, number: int) -> object:
    return rpc.request("eth_getBlockByNumber", [hex(number), False])


def prove_account(rpc: JsonRpc, header: VerifiedHeader, address: bytes, slots: Sequence[int]) -> ProvenAccount:
    """``address`` and the values of ``slots`` in ``header``'s state, each proven against its state root (in
    requests of at most :data:`PROOF_BATCH` slots, all for that block)."""
    unique = list(dict.fromkeys(slots))
    chunks = [unique[i : i + PROOF_BATCH] for i in range(0, len(unique), PROOF_BATCH)] or [[]]
    storage: dict[int, int] = {}
    account: ProvenAccount | None = None
    for chunk in chunks:
        answer = rpc.request("eth_getProof", ["0x" + address.hex(), [hex(s) for s in chunk], hex(header.number)])
        proven = verify_account_proof(header.state_root, address, chunk, answer)
        storage.update(proven.storage)
        account = proven
    assert account is not None
    return ProvenAccount(
        account.address, account.exists, account.nonce, account.balance, account.storage_root, account.code_hash,
        storage,
    )  # fmt: skip


__all__ = [
    "HeaderChainError",
    "JsonRpc",
    "KeptHeader",
    "KeptHeaderError",
    "VerifiedHeader",
    "block_at",
    "check_child",
    "follow",
    "header_fields",
    "prove_account",
    "resume",
    "trust_genesis",
    "trust_header",
]
