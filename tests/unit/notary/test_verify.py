"""Offline verification of evidence bundles, and the log mirror: every step ✓ on genuine evidence, and each
tampered part fails its own step and only the steps that depend on it (failure catalogue 22).

The evidence is real: events and receipts from the pure core, a checkpoint signed by the log key and cosigned
by witness keys, and a chain part read through the JSON-RPC of an in-process consortium node (no socket:
``RpcServer.handle``) whose block holds the anchor transaction beside legacy, EIP-2930 and failed ones. The
bundle is v2 (Merkle-Patricia proofs of the anchor transaction and its receipt); a v1 bundle of the same event
(the whole block) still verifies, and its tampered blocks still fail.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import rlp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from chain.contracts import anchor_message
from chain.contracts.privatecheck import TrustedHeads
from chain.ids import Role, name_to_bytes32
from chain.node import blocks as node_blocks
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from chain.seal import ExtraData, add_seals, block_hash, commit_digest, seal_digest, sign_seal
from contracts import load_artifact
from network.witnesskeys import prove_anchor_block
from notary.bundle import FORMAT_V1, FORMAT_V2, AnchorEvidence, AnchorProofs, EvidenceBundle
from notary.checkpointer import WitnessPolicy
from notary.errors import MalformedError, NotFoundError
from notary.event import canonical_entry
from notary.evidence import anchor_evidence, encode_header
from notary.integrate import TileWriter
from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.cosignature import CosignatureSigner, CosignatureVerifier
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner, NoteVerifier, add_signatures, parse_note, sign_note
from notary.log.proof import MemoryNodeReader, prove_inclusion
from notary.log.smnote import SM2NoteVerifier
from notary.log.tiles import EntriesAddress, format_entry_bundle, parse_tile_path, tiles_for_size
from notary.mirror import AnchorClaim, LogMismatchError, ReadRefusedError, mirror_log
from notary.receipt import BatchStatement, batch_receipts, sign_batch
from notary.storage.base import AnchorRow
from notary.verify import (
    FORMAT,
    STEP_NAMES,
    Step,
    TrustRoots,
    anchor_calldata,
    passed,
    signed_anchor_problem,
    trie_root,
    verify_evidence,
    verify_evidence_json,
)
from suite.sm2 import DEFAULT_ID, SM2PrivateKey
from tests.support.clock import FIXED_NOW_S
from tests.support.inprocess_rpc import InProcessRpc, Tamper
from tests.support.notary_events import event
from tests.unit.chain.test_node import registry_call
from tests.unit.chain.test_node import sign as sign_tx
from tests.unit.chain.test_validator_set import Chain as ValidatorChain
from tests.unit.chain.test_validator_set import address as validator_address

ORIGIN = "test-consortium/audit-log"
CHAIN_ID = 20261
WITNESSES = ("alpha", "beta", "reg")
TARGET = 4  # the event the bundle proves: index 4 of 7, in the second batch
#: Init code of a contract whose every call reverts (runtime PUSH1 0 PUSH1 0 REVERT).
REVERTER_INIT = bytes.fromhex("6460006000fd6000526005601bf3")
ANCHOR_ADDRESS = "0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa"
OTHER_ADDRESS = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def calldata(origin: str, size: int, root: bytes, digest: bytes) -> bytes:
    """anchor(...) encoded from the contract's own ABI, independently of ``notary.verify.anchor_calldata``."""
    contract = Web3().eth.contract(abi=load_artifact("AuditAnchor").abi)
    return bytes.fromhex(contract.encode_abi("anchor", args=[origin, size, root, digest])[2:])


@dataclass
class World:
    bundle: dict[str, Any]  # v2
    bundle_v1: dict[str, Any]  # the same evidence with the whole block
    roots: TrustRoots
    failed_anchor: dict[str, Any]  # the anchor part of a transaction that reverted in its block
    failed_anchor_v1: dict[str, Any]
    block_transactions: list[bytes]  # every raw transaction of the anchor's block, in order
    reverter: str
    block_header: Any  # the py-evm header of the anchor's block
    witness_signers: dict[str, CosignatureSigner]
    log_signer: NoteSigner
    chain: Chain  # the node that sealed the anchor's block, to read it again
    anchor: AnchorRow  # the notary's row of the anchor transaction


class Chain:
    """An in-process consortium node; JSON-RPC answered by ``RpcServer.handle``, without a socket."""

    def __init__(self, operator: LocalAccount) -> None:
        genesis = Genesis(CHAIN_ID, (operator.address,), operator.address, FIXED_NOW_S - 10)
        self.node = Node(AtomicDB(), genesis, bytes(operator.key), clock=lambda: float(FIXED_NOW_S))
        self.server = RpcServer(self.node, port=0)
        self.operator = operator
        self.nonce = 0

    def rpc(self, method: str, params: list[Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer = json.loads(self.server.handle(json.dumps(request).encode()) or b"{}")
        if "error" in answer:
            raise NotFoundError(str(answer["error"]))
        return answer["result"]

    def send(self, **tx: Any) -> Any:
        fields = {"gas": 200_000, "chainId": CHAIN_ID, "value": 0, "nonce": self.nonce, **tx}
        if fields.get("type") == 2:
            fields.update(maxFeePerGas=0, maxPriorityFeePerGas=0)
        else:
            fields.setdefault("gasPrice", 0)
        signed = self.operator.sign_transaction(fields)
        self.node.submit(bytes(signed.raw_transaction))
        self.nonce += 1
        return signed


def anchor_row(signed: Any, size: int) -> AnchorRow:
    """The notary's row of an anchor sent as ``signed`` (``anchor_evidence`` reads its transaction and size)."""
    return AnchorRow(
        size=size, tx_hash="0x" + bytes(signed.hash).hex(), raw_tx=bytes(signed.raw_transaction), nonce=0,
        state="confirmed", sent_ms=0, block_number=None, block_hash=None, confirmed_ms=None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def world() -> World:
    log_key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    log_signer = NoteSigner(ORIGIN, log_key)
    witness_keys = {
        org: Ed25519PrivateKey.from_private_bytes(bytes([0x10 + i]) * 32) for i, org in enumerate(WITNESSES)
    }
    witness_signers = {org: CosignatureSigner(f"test-consortium/witness/{org}", k) for org, k in witness_keys.items()}

    events = [event(event_id=f"ev-{i}", gateway_seq=i + 1) for i in range(7)]
    entries = [canonical_entry(e) for e in events]
    leaves = [hash_leaf(e) for e in entries]
    receipts = []
    for first, count in ((0, 3), (3, 4)):
        batch = leaves[first : first + count]
        note = sign_batch(log_signer, BatchStatement(ORIGIN, first, count, root_of(batch), 1_795_000_000_000, 10))
        receipts += batch_receipts([f"ev-{i}" for i in range(first, first + count)], first, batch, note)
    size = len(leaves)
    root = root_of(leaves)
    text = format_checkpoint(Checkpoint(ORIGIN, size, root))
    cosigs = [witness_signers[org].cosign(text, 1_795_000_100) for org in ("alpha", "reg")]
    note = add_signatures(sign_note(text, [log_signer]), cosigs)
    digest = hashlib.sha256(text.encode()).digest()

    operator = Account.from_key(b"\x07" * 32)
    chain = Chain(operator)
    chain.send(to=OTHER_ADDRESS)  # nonce 0 would deploy at the registry's address, which the node consults
    deploy = chain.send(to=b"", data=REVERTER_INIT)
    chain.node.seal()
    reverter = chain.rpc("eth_getTransactionReceipt", ["0x" + bytes(deploy.hash).hex()])["contractAddress"]
    reverter = Web3.to_checksum_address(reverter)
    chain.send(to=OTHER_ADDRESS, data=b"\x01\x02")  # legacy, EIP-155
    anchor_tx = chain.send(type=2, to=ANCHOR_ADDRESS, data=calldata(ORIGIN, size, root, digest))
    chain.send(type=1, to=OTHER_ADDRESS, accessList=[{"address": OTHER_ADDRESS, "storageKeys": ["0x" + "00" * 32]}])
    failed_tx = chain.send(type=2, to=reverter, data=calldata(ORIGIN, size, root, digest))
    block = chain.node.seal()
    assert block is not None and len(block.transactions) == 4

    bundle = {
        "format": FORMAT,
        "origin": ORIGIN,
        "event_id": f"ev-{TARGET}",
        "index": TARGET,
        "entry": b64(entries[TARGET]),
        "leaf_hash": b64(leaves[TARGET]),
        "receipt": receipts[TARGET].to_json(),
        "checkpoint": {"size": size, "note": note.decode(), "cosigners": ["alpha", "reg"]},
        "inclusion": {"size": size, "proof": [b64(h) for h in prove_inclusion(TARGET, size, MemoryNodeReader(leaves))]},
        "anchor": anchor_evidence(chain.rpc, anchor_row(anchor_tx, size), CHAIN_ID, ANCHOR_ADDRESS).to_json(),
        "pending": [],
    }
    roots = TrustRoots(
        log=NoteVerifier(ORIGIN, raw(log_key)),
        witnesses={org: CosignatureVerifier(s.name, raw(witness_keys[org])) for org, s in witness_signers.items()},
        policy=WitnessPolicy(2, WITNESSES, True, frozenset({"reg"})),
        notary_account=operator.address,
        anchor_address=ANCHOR_ADDRESS,
        chain_id=CHAIN_ID,
        validators=(operator.address,),
    )
    failed = dict(anchor_evidence(chain.rpc, anchor_row(failed_tx, size), CHAIN_ID, reverter).to_json())
    whole = anchor_evidence(chain.rpc, anchor_row(anchor_tx, size), CHAIN_ID, ANCHOR_ADDRESS, whole_block=True)
    bundle_v1 = {**bundle, "format": FORMAT_V1, "anchor": whole.to_json()}
    failed_v1 = anchor_evidence(chain.rpc, anchor_row(failed_tx, size), CHAIN_ID, reverter, whole_block=True)
    transactions = [bytes(t.encode()) for t in block.transactions]
    return World(
        bundle, bundle_v1, roots, failed, dict(failed_v1.to_json()), transactions, reverter, block.header,
        witness_signers, log_signer, chain, anchor_row(anchor_tx, size),
    )  # fmt: skip


# -- helpers -----------------------------------------------------------------------------------------------


def outcome(steps: list[Step]) -> dict[str, bool | None]:
    assert [s.name for s in steps] == list(STEP_NAMES)
    return {s.name: s.ok for s in steps}


def failing(bundle: dict[str, Any], roots: TrustRoots) -> set[str]:
    """The names of the failed steps; every other step must have passed. A bundle that parses gives the same
    steps typed as JSON."""
    steps = verify_evidence_json(bundle, roots)
    assert verify_evidence(EvidenceBundle.from_json(bundle), roots) == steps
    result = outcome(steps)
    assert None not in result.values(), [s.to_text() for s in steps]
    return {name for name, ok in result.items() if ok is False}


def tampered(bundle: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copied = copy.deepcopy(bundle)
    change(copied)
    return copied


def flip_b64(text: str, byte: int = -1) -> str:
    data = bytearray(base64.b64decode(text))
    data[byte] ^= 0x01
    return b64(bytes(data))


def flip_hex(text: str, byte: int) -> str:
    data = bytearray(bytes.fromhex(text[2:]))
    data[byte] ^= 0x01
    return "0x" + data.hex()


def header_fields(bundle: dict[str, Any]) -> list[Any]:
    return list(rlp.decode(bytes.fromhex(bundle["anchor"]["block"]["header"][2:])))


def set_header(bundle: dict[str, Any], fields: list[Any], update_hash: bool) -> None:
    encoded = rlp.encode(fields)
    bundle["anchor"]["block"]["header"] = "0x" + encoded.hex()
    if update_hash:
        bundle["anchor"]["block"]["hash"] = "0x" + block_hash(fields).hex()


# -- genuine evidence ----------------------------------------------------------------------------------------


def test_genuine_evidence_passes_every_step(world: World) -> None:
    assert world.bundle["format"] == FORMAT == FORMAT_V2
    steps = verify_evidence_json(world.bundle, world.roots)
    assert all(s.ok is True for s in steps), "\n".join(s.to_text() for s in steps)
    details = {s.name: s.detail for s in steps}
    assert "alpha, reg" in details["cosignatures"]
    assert "sealed by 1 of 1 validators" in details["seals"]
    assert "transaction 1 in block 2: proof of" in details["transaction in block"]
    assert "from receiptsRoot" in details["transaction succeeded"]
    assert passed(steps)
    assert steps[0].to_text().startswith("✓ entry — event ev-4")


def test_genuine_v1_evidence_still_passes_every_step(world: World) -> None:
    steps = verify_evidence_json(world.bundle_v1, world.roots)
    assert all(s.ok is True for s in steps), "\n".join(s.to_text() for s in steps)
    assert "transaction 1 of 4 in block 2" in next(s.detail for s in steps if s.name == "transaction in block")
    parsed = EvidenceBundle.from_json(world.bundle_v1)
    assert parsed.format == FORMAT_V1 and parsed.to_json() == world.bundle_v1
    assert verify_evidence(parsed, world.roots) == steps


def test_a_v2_bundle_holds_no_other_transaction_of_the_block(world: World) -> None:
    text = json.dumps(world.bundle)
    anchor_raw = bytes.fromhex(world.bundle["anchor"]["transaction"]["raw"][2:])
    others = [t for t in world.block_transactions if t != anchor_raw]
    assert len(others) == 3 and anchor_raw in world.block_transactions
    assert all(t.hex() not in text for t in others)
    assert set(world.bundle["anchor"]["block"]) == set(AnchorProofs.KEYS)


def test_a_bundle_cannot_mix_formats(world: World) -> None:
    with pytest.raises(MalformedError, match=r"anchor\.block has unknown field"):
        EvidenceBundle.from_json({**world.bundle, "format": FORMAT_V1})
    with pytest.raises(MalformedError, match=r"anchor\.block has unknown field"):
        EvidenceBundle.from_json({**world.bundle_v1, "format": FORMAT_V2})
    v2 = EvidenceBundle.from_json(world.bundle)
    with pytest.raises(ValueError, match="cannot hold an anchor part"):
        replace(v2, format=FORMAT_V1)


def test_the_bundle_is_plain_json(world: World) -> None:
    assert json.loads(json.dumps(world.bundle)) == world.bundle


def test_the_bundle_round_trips_as_a_typed_value(world: World) -> None:
    bundle = EvidenceBundle.from_json(world.bundle)
    assert bundle.to_json() == world.bundle
    assert json.dumps(bundle.to_json(), indent=1) == json.dumps(world.bundle, indent=1)
    assert EvidenceBundle.from_json(json.loads(json.dumps(bundle.to_json(), sort_keys=True))) == bundle
    assert AnchorEvidence.from_json(world.failed_anchor).to_json() == world.failed_anchor
    assert bundle.anchor is not None and bundle.anchor.transaction.raw[:1] == b"\x02"  # bytes, not text
    assert verify_evidence(bundle, world.roots) == verify_evidence_json(world.bundle, world.roots)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(lambda b: b.pop("leaf_hash"), "leaf_hash", id="missing"),
        pytest.param(lambda b: b.update(index="4"), "index", id="index-text"),
        pytest.param(lambda b: b.update(index=True), "index", id="index-bool"),
        pytest.param(lambda b: b.update(entry=b["entry"].rstrip("=") + "x"), "entry", id="entry-not-base64"),
        pytest.param(lambda b: b["receipt"].pop("batch_note"), "receipt.batch_note", id="receipt-field"),
        pytest.param(lambda b: b["checkpoint"].update(note=7), "checkpoint.note", id="note-number"),
        pytest.param(lambda b: b["inclusion"].update(proof="nope"), "inclusion.proof", id="proof-text"),
        pytest.param(lambda b: b["inclusion"]["proof"].__setitem__(1, "AAAA"), "inclusion.proof[1]", id="short-hash"),
        pytest.param(
            lambda b: b["anchor"]["block"]["receipt_proof"].__setitem__(0, "0xZZ"),
            "anchor.block.receipt_proof[0]",
            id="receipt-proof-not-hex",
        ),
        pytest.param(
            lambda b: b["anchor"]["block"].update(transaction_proof=["0x00"] * 65),
            "anchor.block.transaction_proof",
            id="proof-too-long",
        ),
        pytest.param(
            lambda b: b["anchor"]["block"].update(hash=b["anchor"]["block"]["hash"].upper().replace("0X", "0x")),
            "anchor.block.hash",
            id="uppercase-hex",
        ),
        pytest.param(lambda b: b["anchor"]["seals"].update(round=-1), "anchor.seals.round", id="seals-round"),
        pytest.param(lambda b: b["anchor"].update(extra=1), "extra", id="unknown-field"),
        pytest.param(lambda b: b.update(pending=[{"part": "entry", "reason": "?"}]), "pending[0].part", id="pending"),
    ],
)
def test_a_malformed_bundle_is_a_malformed_error_naming_the_field(
    world: World, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    with pytest.raises(MalformedError) as raised:
        EvidenceBundle.from_json(tampered(world.bundle, change))
    assert field in str(raised.value)


@pytest.mark.parametrize(
    ("change", "failed", "named"),
    [
        pytest.param(lambda b: b.update(entry=7), {"entry", "leaf hash", "receipt", "inclusion"}, "entry", id="entry"),
        pytest.param(lambda b: b.update(index="4"), {"receipt", "checkpoint", "inclusion"}, "index", id="index"),
        pytest.param(lambda b: b["receipt"].update(index="4"), {"receipt"}, "receipt.index", id="receipt"),
        pytest.param(
            lambda b: b["checkpoint"].update(note=7),
            {"checkpoint", "cosignatures", "inclusion", "anchor transaction"},
            "checkpoint.note",
            id="checkpoint",
        ),
        pytest.param(lambda b: b["inclusion"].update(proof="nope"), {"inclusion"}, "inclusion.proof", id="inclusion"),
        pytest.param(
            lambda b: b["anchor"]["block"]["receipt_proof"].__setitem__(0, "0xZZ"),
            set(STEP_NAMES[6:]),
            "anchor.block.receipt_proof[0]",
            id="anchor",
        ),
    ],
)
def test_a_malformed_part_fails_the_steps_that_need_it_and_names_it(
    world: World, change: Callable[[dict[str, Any]], None], failed: set[str], named: str
) -> None:
    steps = verify_evidence_json(tampered(world.bundle, change), world.roots)
    assert {s.name for s in steps if s.ok is False} == failed
    assert all(s.ok is True for s in steps if s.name not in failed)
    assert named in next(s.detail for s in steps if s.ok is False)


def test_the_chain_part_recomputes_what_the_node_holds(world: World) -> None:
    block = world.bundle_v1["anchor"]["block"]
    header = header_fields(world.bundle_v1)
    assert world.bundle["anchor"]["block"]["header"] == block["header"]
    assert block["hash"] == "0x" + bytes(world.block_header.hash).hex()
    assert block_hash(header) == world.block_header.hash
    assert trie_root([bytes.fromhex(t[2:]) for t in block["transactions"]]) == world.block_header.transaction_root
    assert trie_root([bytes.fromhex(r[2:]) for r in block["receipts"]]) == world.block_header.receipt_root
    assert commit_digest(header, ExtraData.decode(header[12])) == seal_digest(world.block_header)
    assert world.bundle["anchor"]["seals"]["seals"] == 1


def test_anchor_calldata_matches_the_contract_abi() -> None:
    args = (ORIGIN, 12345, b"\x11" * 32, b"\x22" * 32)
    assert anchor_calldata(*args) == calldata(*args)


def signed_calldata(key: SM2PrivateKey, values: tuple[str, int, bytes, bytes], signature: bytes) -> bytes:
    """anchor_signed(...) encoded from the contract's own ABI."""
    point = key.public_key().public_bytes()
    contract = Web3().eth.contract(abi=load_artifact("AuditAnchor").abi)
    extra = [point[1:33], point[33:], signature[:32], signature[32:]]
    return bytes.fromhex(contract.encode_abi("anchor_signed", args=[*values, *extra])[2:])


def test_a_signed_anchor_is_checked_against_the_sm_log_key() -> None:
    key, other = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    log = SM2NoteVerifier(ORIGIN, key.public_key().public_bytes())
    values = (ORIGIN, 12345, b"\x11" * 32, b"\x22" * 32)
    good = key.sign(anchor_message(*values), DEFAULT_ID)
    assert signed_anchor_problem(signed_calldata(key, values, good), *values, log) is None
    other_root = anchor_message(ORIGIN, 12345, b"\x33" * 32, b"\x22" * 32)
    cases = {
        "another signer": (signed_calldata(key, values, other.sign(anchor_message(*values), DEFAULT_ID)), "verify"),
        "another root signed": (signed_calldata(key, values, key.sign(other_root, DEFAULT_ID)), "verify"),
        "another key": (signed_calldata(other, values, other.sign(anchor_message(*values))), "not the log's key"),
        "another size": (signed_calldata(key, (ORIGIN, 12346, *values[2:]), good), "not the checkpoint's"),
        "malformed": (signed_calldata(key, values, bytes(64)), "verify"),
        "truncated": (signed_calldata(key, values, good)[:-32], "do not decode"),
        "plain anchor": (anchor_calldata(*values), "neither anchor nor anchor_signed"),
    }
    for name, (data, reason) in cases.items():
        why = signed_anchor_problem(data, *values, log)
        assert why is not None and reason in why, name
    intl = NoteVerifier(ORIGIN, Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    assert "not an SM2 key" in (signed_anchor_problem(signed_calldata(key, values, good), *values, intl) or "")


def test_encode_header_refuses_a_block_without_a_base_field(world: World) -> None:
    from notary.evidence import EvidenceChainError

    with pytest.raises(EvidenceChainError, match="stateRoot"):
        encode_header({"hash": "0x00", "parentHash": "0x00", "sha3Uncles": "0x00", "miner": "0x00"})


def without(answer: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != field}


def answering(world: World, method: str, change: Callable[[Any], Any]) -> Callable[[str, list[Any]], Any]:
    """The chain's JSON-RPC with the answer to ``method`` changed by ``change`` (given a copy, it returns the
    answer to give)."""

    def rpc(name: str, params: list[Any]) -> Any:
        answer = world.chain.rpc(name, params)
        return change(copy.deepcopy(answer)) if name == method else answer

    return rpc


@pytest.mark.parametrize(
    ("method", "change", "refusal"),
    [
        ("eth_getTransactionReceipt", lambda r: [r], "eth_getTransactionReceipt: expected a JSON object, got list"),
        ("eth_getTransactionReceipt", lambda r: {**r, "logs": None}, "the field logs must be list, got null"),
        (
            "eth_getTransactionReceipt",
            lambda r: {**r, "logs": [{"address": r["to"], "data": "0x"}]},
            "eth_getTransactionReceipt: log 0: the field topics must be list, got null",
        ),
        ("eth_getTransactionReceipt", lambda r: without(r, "status"), "the field status (or root, before Byzantium)"),
        ("eth_getBlockByHash", lambda b: "0x01", "eth_getBlockByHash: expected a JSON object, got str"),
        ("eth_getBlockByHash", lambda b: {**b, "number": 7}, "eth_getBlockByHash: the field number must be str"),
        (
            "eth_getBlockByHash",
            lambda b: {**b, "transactions": [tx["hash"] for tx in b["transactions"]]},
            "eth_getBlockByHash: transaction 0: expected a JSON object, got str",
        ),
        (
            "eth_getBlockByHash",
            lambda b: {**b, "transactions": [{**tx, "r": None} for tx in b["transactions"]]},
            "eth_getBlockByHash: transaction 0: the field r must be str, got null",
        ),
        (
            "eth_getBlockByHash",
            lambda b: {**b, "transactions": [without(tx, "maxFeePerGas") for tx in b["transactions"]]},
            "eth_getBlockByHash: transaction 1 (0x",  # the first of type 2 (the anchor), and the field named
        ),
        (
            "eth_getBlockByHash",
            lambda b: {**b, "transactions": [without(tx, "maxFeePerGas") for tx in b["transactions"]]},
            "): the field maxFeePerGas must be str, got null",
        ),
        ("eth_getBlockReceipts", lambda rs: {"receipts": rs}, "eth_getBlockReceipts: expected a list, got dict"),
        (
            "eth_getBlockReceipts",
            lambda rs: [{**r, "cumulativeGasUsed": None} for r in rs],
            "eth_getBlockReceipts: receipt 0: the field cumulativeGasUsed must be str, got null",
        ),
    ],
)
def test_a_malformed_chain_answer_is_refused_naming_the_method_and_field(
    world: World, method: str, change: Callable[[Any], Any], refusal: str
) -> None:
    from notary.evidence import EvidenceChainError

    rpc = answering(world, method, change)
    with pytest.raises(EvidenceChainError) as refused:
        anchor_evidence(rpc, world.anchor, CHAIN_ID, ANCHOR_ADDRESS)
    assert refusal in str(refused.value)
    # the chain's own answers build the same part as the bundle's
    assert anchor_evidence(world.chain.rpc, world.anchor, CHAIN_ID, ANCHOR_ADDRESS).to_json() == world.bundle["anchor"]


# -- each tampered part fails its step and what depends on it ------------------------------------------------


def test_a_flipped_bit_that_breaks_the_entry(world: World) -> None:
    bundle = tampered(world.bundle, lambda b: b.update(entry=flip_b64(b["entry"], 0)))
    assert failing(bundle, world.roots) == {"entry", "leaf hash", "receipt", "inclusion"}


def test_a_flipped_bit_that_leaves_a_valid_event(world: World) -> None:
    bundle = tampered(world.bundle, lambda b: b.update(entry=flip_b64(b["entry"], 10)))  # inside "news-latest"
    assert failing(bundle, world.roots) == {"leaf hash", "receipt", "inclusion"}


def test_a_claimed_leaf_hash_is_never_trusted(world: World) -> None:
    bundle = tampered(world.bundle, lambda b: b.update(leaf_hash=flip_b64(b["leaf_hash"])))
    assert failing(bundle, world.roots) == {"leaf hash"}


def test_an_entry_of_another_event(world: World) -> None:
    other = canonical_entry(event(event_id="ev-9", gateway_seq=9))
    bundle = tampered(world.bundle, lambda b: b.update(entry=b64(other), leaf_hash=b64(hash_leaf(other))))
    assert failing(bundle, world.roots) == {"entry", "receipt", "inclusion"}


def test_a_flipped_hash_of_the_inclusion_proof(world: World) -> None:
    bundle = tampered(
        world.bundle, lambda b: b["inclusion"]["proof"].__setitem__(1, flip_b64(b["inclusion"]["proof"][1]))
    )
    assert failing(bundle, world.roots) == {"inclusion"}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.append(p[0]), id="extra-hash"),
        pytest.param(lambda p: p.pop(), id="missing-hash"),
        pytest.param(lambda p: p.reverse(), id="reordered"),
    ],
)
def test_a_partially_valid_inclusion_proof_is_rejected(world: World, change: Callable[[list[str]], None]) -> None:
    bundle = tampered(world.bundle, lambda b: change(b["inclusion"]["proof"]))
    assert failing(bundle, world.roots) == {"inclusion"}


def test_another_index(world: World) -> None:
    bundle = tampered(world.bundle, lambda b: b.update(index=TARGET + 1))
    assert failing(bundle, world.roots) == {"receipt", "inclusion"}


def test_a_flipped_hash_of_the_receipt_path(world: World) -> None:
    bundle = tampered(
        world.bundle, lambda b: b["receipt"]["batch_proof"].__setitem__(0, flip_b64(b["receipt"]["batch_proof"][0]))
    )
    assert failing(bundle, world.roots) == {"receipt"}


def test_a_changed_checkpoint_root(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        lines = b["checkpoint"]["note"].split("\n")
        lines[2] = flip_b64(lines[2])
        b["checkpoint"]["note"] = "\n".join(lines)

    bundle = tampered(world.bundle, change)
    assert failing(bundle, world.roots) == {"checkpoint", "cosignatures", "inclusion", "anchor transaction"}


def test_a_checkpoint_of_another_size(world: World) -> None:
    bundle = tampered(world.bundle, lambda b: b["checkpoint"].update(size=6))
    assert failing(bundle, world.roots) == {"checkpoint"}


def test_a_checkpoint_signed_by_another_log_key(world: World) -> None:
    stranger = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x09" * 32))
    note = parse_note(world.bundle["checkpoint"]["note"].encode())
    forged = sign_note(note.text, [stranger]) + b"".join(
        f"— {s.name} {b64(s.key_id + s.signature)}\n".encode() for s in note.signatures[1:]
    )
    bundle = tampered(world.bundle, lambda b: b["checkpoint"].update(note=forged.decode()))
    assert failing(bundle, world.roots) == {"checkpoint"}


def _edit_signature_line(bundle: dict[str, Any], org: str, edit: Callable[[str], str | None]) -> None:
    lines = bundle["checkpoint"]["note"].split("\n")
    name = f"test-consortium/witness/{org}"
    out = []
    for line in lines:
        if line.startswith(f"— {name} "):
            changed = edit(line)
            if changed is not None:
                out.append(changed)
        else:
            out.append(line)
    bundle["checkpoint"]["note"] = "\n".join(out)


def test_a_flipped_cosignature(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        _edit_signature_line(b, "alpha", lambda line: line.rsplit(" ", 1)[0] + " " + flip_b64(line.rsplit(" ", 1)[1]))

    bundle = tampered(world.bundle, change)
    assert failing(bundle, world.roots) == {"cosignatures"}
    steps = verify_evidence_json(bundle, world.roots)
    assert "alpha does not verify" in next(s.detail for s in steps if s.name == "cosignatures")


def test_too_few_cosigners_for_the_policy(world: World) -> None:
    without_regulator = tampered(world.bundle, lambda b: _edit_signature_line(b, "reg", lambda _: None))
    assert failing(without_regulator, world.roots) == {"cosignatures"}
    stricter = replace(world.roots, policy=WitnessPolicy(3, WITNESSES, True, frozenset({"reg"})))
    assert failing(world.bundle, stricter) == {"cosignatures"}


def test_a_cosignature_by_an_unknown_witness_counts_for_nothing(world: World) -> None:
    stranger = CosignatureSigner("test-consortium/witness/alpha", Ed25519PrivateKey.from_private_bytes(b"\x33" * 32))
    text = parse_note(world.bundle["checkpoint"]["note"].encode()).text

    def change(b: dict[str, Any]) -> None:
        _edit_signature_line(b, "alpha", lambda _: None)
        b["checkpoint"]["note"] = add_signatures(b["checkpoint"]["note"].encode(), [stranger.cosign(text, 1)]).decode()

    bundle = tampered(world.bundle, change)
    assert failing(bundle, world.roots) == {"cosignatures"}  # only reg left: 1 of the 2 needed


def _raw_anchor(bundle: dict[str, Any]) -> bytes:
    return bytes.fromhex(bundle["anchor"]["transaction"]["raw"][2:])


def test_changed_anchor_calldata(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        raw_tx = _raw_anchor(b)
        fields = rlp.decode(raw_tx[1:])
        data = bytearray(fields[7])
        data[4 + 2 * 32 + 5] ^= 0x01  # a byte of the root argument
        fields[7] = bytes(data)
        forged = raw_tx[:1] + rlp.encode(fields)
        b["anchor"]["transaction"].update(raw="0x" + forged.hex(), hash="0x" + keccak(forged).hex())

    bundle = tampered(world.bundle, change)
    assert failing(bundle, world.roots) == {"anchor transaction", "transaction in block", "transaction succeeded"}


@pytest.mark.parametrize(
    ("roots_change", "message"),
    [
        pytest.param({"notary_account": OTHER_ADDRESS}, "not the notary's account", id="other-notary"),
        pytest.param({"anchor_address": OTHER_ADDRESS}, "not AuditAnchor", id="other-contract"),
        pytest.param({"chain_id": 1}, "not 1", id="other-chain"),
    ],
)
def test_an_anchor_of_another_sender_contract_or_chain(
    world: World, roots_change: dict[str, Any], message: str
) -> None:
    roots = replace(world.roots, **roots_change)
    assert failing(world.bundle, roots) == {"anchor transaction"}
    detail = next(s.detail for s in verify_evidence_json(world.bundle, roots) if s.name == "anchor transaction")
    assert message in detail


def test_a_changed_transaction_of_the_v1_block(world: World) -> None:
    bundle = tampered(
        world.bundle_v1,
        lambda b: b["anchor"]["block"]["transactions"].__setitem__(
            0, flip_hex(b["anchor"]["block"]["transactions"][0], 20)
        ),
    )
    assert failing(bundle, world.roots) == {"transaction in block"}


def test_a_dropped_transaction_of_the_v1_block(world: World) -> None:
    bundle = tampered(world.bundle_v1, lambda b: b["anchor"]["block"]["transactions"].pop(0))
    assert failing(bundle, world.roots) == {"transaction in block"}


def test_a_changed_receipt_of_the_v1_block(world: World) -> None:
    bundle = tampered(
        world.bundle_v1,
        lambda b: b["anchor"]["block"]["receipts"].__setitem__(1, flip_hex(b["anchor"]["block"]["receipts"][1], 5)),
    )
    assert failing(bundle, world.roots) == {"transaction succeeded"}


@pytest.mark.parametrize("v1", [False, True], ids=["v2", "v1"])
def test_an_anchor_transaction_that_reverted(world: World, v1: bool) -> None:
    anchor = world.failed_anchor_v1 if v1 else world.failed_anchor
    bundle = tampered(world.bundle_v1 if v1 else world.bundle, lambda b: b.update(anchor=copy.deepcopy(anchor)))
    roots = replace(world.roots, anchor_address=world.reverter)
    assert failing(bundle, roots) == {"transaction succeeded"}
    detail = next(s.detail for s in verify_evidence_json(bundle, roots) if s.name == "transaction succeeded")
    assert "status 0" in detail


# -- v2: the proofs --------------------------------------------------------------------------------------------


def step_detail(bundle: dict[str, Any], roots: TrustRoots, name: str) -> str:
    return next(s.detail for s in verify_evidence_json(bundle, roots) if s.name == name)


@pytest.mark.parametrize("proof", ["transaction_proof", "receipt_proof"])
def test_a_changed_proof_node(world: World, proof: str) -> None:
    nodes = world.bundle["anchor"]["block"][proof]
    for at in range(len(nodes)):

        def change(b: dict[str, Any], at: int = at) -> None:
            b["anchor"]["block"][proof][at] = flip_hex(nodes[at], 40)

        bundle = tampered(world.bundle, change)
        if proof == "transaction_proof":
            assert failing(bundle, world.roots) == {"transaction in block", "transaction succeeded"}
            assert "transaction proof does not lead" in step_detail(bundle, world.roots, "transaction in block")
        else:
            assert failing(bundle, world.roots) == {"transaction succeeded"}
            assert "receipt proof does not lead" in step_detail(bundle, world.roots, "transaction succeeded")


@pytest.mark.parametrize("proof", ["transaction_proof", "receipt_proof"])
def test_a_proof_node_dropped_or_added(world: World, proof: str) -> None:
    step = "transaction in block" if proof == "transaction_proof" else "transaction succeeded"
    dropped = tampered(world.bundle, lambda b: b["anchor"]["block"][proof].pop())
    added = tampered(world.bundle, lambda b: b["anchor"]["block"][proof].append(b["anchor"]["block"][proof][0]))
    for bundle in (dropped, added):
        assert step in failing(bundle, world.roots)


def test_the_transaction_swapped_for_another_of_the_block(world: World) -> None:
    other = world.block_transactions[0]
    bundle = tampered(
        world.bundle,
        lambda b: b["anchor"]["transaction"].update(raw="0x" + other.hex(), hash="0x" + keccak(other).hex()),
    )
    assert failing(bundle, world.roots) == {"anchor transaction", "transaction in block", "transaction succeeded"}
    assert "another transaction at index 1" in step_detail(bundle, world.roots, "transaction in block")


def test_the_swapped_transaction_with_its_index(world: World) -> None:
    other = world.block_transactions[0]
    bundle = tampered(
        world.bundle,
        lambda b: b["anchor"]["transaction"].update(raw="0x" + other.hex(), hash="0x" + keccak(other).hex(), index=0),
    )
    assert failing(bundle, world.roots) == {"anchor transaction", "transaction in block", "transaction succeeded"}
    assert "index 0" in step_detail(bundle, world.roots, "transaction in block")


@pytest.mark.parametrize("index", [0, 2, 3, 4, 1000])
def test_another_index_of_the_anchor_transaction(world: World, index: int) -> None:
    bundle = tampered(world.bundle, lambda b: b["anchor"]["transaction"].update(index=index))
    assert failing(bundle, world.roots) == {"transaction in block", "transaction succeeded"}
    assert f"index {index}" in step_detail(bundle, world.roots, "transaction in block")


def test_a_changed_receipt(world: World) -> None:
    bundle = tampered(
        world.bundle, lambda b: b["anchor"]["block"].update(receipt=flip_hex(b["anchor"]["block"]["receipt"], 5))
    )
    assert failing(bundle, world.roots) == {"transaction succeeded"}
    assert "another receipt at index 1" in step_detail(bundle, world.roots, "transaction succeeded")


def test_a_changed_header(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        fields = header_fields(b)
        fields[11] = (int.from_bytes(fields[11], "big") + 1).to_bytes(len(fields[11]), "big")  # timestamp
        set_header(b, fields, update_hash=False)

    assert failing(tampered(world.bundle, change), world.roots) == {"block hash", "seals"}


def test_a_changed_header_with_a_matching_claimed_hash(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        fields = header_fields(b)
        fields[11] = (int.from_bytes(fields[11], "big") + 1).to_bytes(len(fields[11]), "big")
        set_header(b, fields, update_hash=True)

    assert failing(tampered(world.bundle, change), world.roots) == {"seals"}


@pytest.mark.parametrize("v1", [False, True], ids=["v2", "v1"])
def test_a_header_with_another_transactions_root(world: World, v1: bool) -> None:
    def change(b: dict[str, Any]) -> None:
        fields = header_fields(b)
        fields[4] = bytes(32)
        set_header(b, fields, update_hash=True)

    bundle = tampered(world.bundle_v1 if v1 else world.bundle, change)
    # v2: the transaction is not proven in the block, so neither is its receipt; v1 finds it among the block's
    expected = {"transaction in block", "seals"} if v1 else {"transaction in block", "transaction succeeded", "seals"}
    assert failing(bundle, world.roots) == expected


def test_a_flipped_seal(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        fields = header_fields(b)
        extra = ExtraData.decode(fields[12])
        seal = bytearray(extra.seals[0])
        seal[10] ^= 0x01
        fields[12] = extra.with_seals(extra.round, (bytes(seal),)).encode()
        set_header(b, fields, update_hash=False)  # seals are not part of the block hash

    assert failing(tampered(world.bundle, change), world.roots) == {"seals"}


def test_a_header_moved_to_another_round_keeps_its_hash_but_loses_its_seals(world: World) -> None:
    """The round is outside the block hash and inside what the seals sign (Besu's rule)."""

    def change(b: dict[str, Any]) -> None:
        fields = header_fields(b)
        extra = ExtraData.decode(fields[12])
        fields[12] = extra.with_seals(extra.round + 1, extra.seals).encode()
        set_header(b, fields, update_hash=False)

    assert failing(tampered(world.bundle, change), world.roots) == {"seals"}


def test_seals_by_someone_else_than_the_validators(world: World) -> None:
    roots = replace(world.roots, validators=(OTHER_ADDRESS,))
    assert failing(world.bundle, roots) == {"seals"}


def test_a_header_without_seals_fails_where_seals_are_expected(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        fields = header_fields(b)
        fields[12] = b"anvil"
        set_header(b, fields, update_hash=True)

    assert failing(tampered(world.bundle, change), world.roots) == {"seals"}


def test_seals_do_not_apply_without_validators_in_the_trust_roots(world: World) -> None:
    steps = verify_evidence_json(world.bundle, replace(world.roots, validators=()))
    assert outcome(steps)["seals"] is None
    assert passed(steps)


# -- pending and malformed bundles -----------------------------------------------------------------------------


def test_a_bundle_not_yet_checkpointed_is_pending_not_failed(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        b.update(checkpoint=None, inclusion=None, anchor=None)
        b["pending"] = [{"part": "checkpoint", "reason": "index 4 is not yet in a published checkpoint"}]

    steps = verify_evidence_json(tampered(world.bundle, change), world.roots)
    result = outcome(steps)
    assert [result[n] for n in ("entry", "leaf hash", "receipt")] == [True, True, True]
    assert all(result[n] is None for n in STEP_NAMES[3:])
    assert "pending: index 4 is not yet in a published checkpoint" in steps[3].detail
    assert passed(steps)


def test_a_bundle_not_yet_anchored_is_pending_not_failed(world: World) -> None:
    def change(b: dict[str, Any]) -> None:
        b["anchor"] = None
        b["pending"] = [{"part": "anchor", "reason": "no checkpoint covering index 4 is anchored yet"}]

    steps = verify_evidence_json(tampered(world.bundle, change), world.roots)
    result = outcome(steps)
    assert all(result[n] is True for n in STEP_NAMES[:6])
    assert all(result[n] is None for n in STEP_NAMES[6:])
    assert "anchored yet" in steps[6].detail


@pytest.mark.parametrize(
    "bundle",
    [
        pytest.param([], id="a-list"),
        pytest.param({"format": "something/else"}, id="other-format"),
        pytest.param({"format": FORMAT}, id="empty"),
        pytest.param(
            {"format": FORMAT, "entry": 5, "checkpoint": {"note": 7}, "anchor": {"block": []}}, id="wrong-types"
        ),
    ],
)
def test_malformed_bundles_fail_without_raising(world: World, bundle: Any) -> None:
    steps = verify_evidence_json(bundle, world.roots)
    assert [s.name for s in steps] == list(STEP_NAMES)
    assert not passed(steps)


def test_every_field_deleted_in_turn_fails_or_is_pending(world: World) -> None:
    for key in world.bundle:
        if key in ("format", "pending"):
            continue
        steps = verify_evidence_json(tampered(world.bundle, lambda b, k=key: b.pop(k)), world.roots)  # type: ignore[misc]
        assert not passed(steps), key


# -- the log mirror ------------------------------------------------------------------------------------------


class Published:
    """A log as its tiles publish it: a dict of paths, served by ``fetch`` (404 → NotFoundError)."""

    def __init__(self, entries: list[bytes], signer: NoteSigner, cosigners: dict[str, CosignatureSigner]) -> None:
        self.entries = entries
        leaves = [hash_leaf(e) for e in entries]
        writer = TileWriter(0, {})
        self.tiles = writer.append(leaves)
        self.root = root_of(leaves)
        text = format_checkpoint(Checkpoint(ORIGIN, len(entries), self.root))
        cosigs = [cosigners[o].cosign(text, 1_795_000_100) for o in ("alpha", "reg")]
        self.checkpoint = add_signatures(sign_note(text, [signer]), cosigs)
        self.overrides: dict[str, bytes | None] = {}
        self.fetched: list[str] = []
        #: As a notary that authenticates reads answers a member: entry bundles refused (403), and the entries
        #: of ``readable`` events served by id (the member's own); ``refuse_all``: an outsider (401).
        self.refuse_bundles = False
        self.readable: set[str] = set()
        self.refuse_all = False

    def fetch(self, path: str) -> bytes:
        self.fetched.append(path)
        if self.refuse_all:
            raise ReadRefusedError(f"HTTP 401 for {path}: the log is read by members and witnesses only")
        if path in self.overrides:
            value = self.overrides[path]
            if value is None:
                raise NotFoundError(f"404 for {path}")
            return value
        if path == "checkpoint":
            return self.checkpoint
        if path.startswith("v1/entries/"):
            event_id = path.removeprefix("v1/entries/")
            index = next((i for i, e in enumerate(self.entries) if json.loads(e)["event_id"] == event_id), None)
            if index is None or (self.refuse_bundles and event_id not in self.readable):
                raise NotFoundError(f"404 for {path}")
            return json.dumps({"index": index, "entry": b64(self.entries[index])}).encode()
        address = parse_tile_path(path)
        if isinstance(address, EntriesAddress):
            if self.refuse_bundles:
                raise ReadRefusedError(f"HTTP 403 for {path}: entry bundles are for regulators")
            first = address.index * 256
            return format_entry_bundle(self.entries[first : first + address.width])
        data = self.tiles.get((address.level, address.index))
        if data is None or len(data) < address.width * 32:
            raise NotFoundError(f"404 for {path}")
        return data[: address.width * 32]

    def root_at(self, size: int) -> bytes:
        return root_of([hash_leaf(e) for e in self.entries[:size]])


SIZE = 600  # two full level-0 tiles and a partial one; a partial level-1 tile of two hashes


@pytest.fixture(scope="module")
def log_entries() -> list[bytes]:
    return [canonical_entry(event(event_id=f"log-{i}", gateway_seq=i + 1)) for i in range(SIZE)]


@pytest.fixture
def published(world: World, log_entries: list[bytes]) -> Iterator[Published]:
    yield Published(log_entries, world.log_signer, world.witness_signers)


def claim(published: Published, size: int) -> AnchorClaim:
    text = parse_note(published.checkpoint).text if size == SIZE else ""
    return AnchorClaim(size, published.root_at(size), hashlib.sha256(text.encode()).digest(), 7)


def test_mirror_recomputes_a_genuine_log(world: World, published: Published) -> None:
    anchors = [claim(published, 5), claim(published, 256), claim(published, 513), claim(published, SIZE)]
    seen: list[int] = []
    report = mirror_log(published.fetch, world.roots, anchors, progress=seen.append)
    assert (report.size, report.root) == (SIZE, published.root)
    assert report.tiles == len(tiles_for_size(SIZE)) == 4
    assert report.anchors_checked == [5, 256, 513, SIZE]
    assert sum(seen) == SIZE
    assert "alpha, reg" in report.cosigners
    assert {"tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2", "tile/entries/002.p/88"} <= set(
        published.fetched
    )


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("tile/0/001", "tile/0/001"),
        ("tile/0/002.p/88", "tile/0/002.p/88"),
        ("tile/1/000.p/2", "tile/1/000.p/2"),
    ],
)
def test_mirror_names_the_first_tampered_tile(world: World, published: Published, path: str, where: str) -> None:
    data = bytearray(published.fetch(path))
    data[40] ^= 0x01  # hash 1 of the tile
    published.overrides[path] = bytes(data)
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == where
    assert "hash 1 " in info.value.detail


def test_mirror_names_a_swapped_entry_by_its_tile(world: World, published: Published, log_entries: list[bytes]) -> None:
    entries = list(log_entries[:256])
    entries[3], entries[4] = entries[4], entries[3]
    published.overrides["tile/entries/000"] = format_entry_bundle(entries)
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == "tile/0/000"
    assert "hash 3 (leaf 3)" in info.value.detail


def test_mirror_names_an_entry_that_is_not_a_canonical_event(world: World, published: Published) -> None:
    entries = list(published.entries[256:512])
    entries[7] = entries[7].replace(b'{"api"', b'{ "api"')
    published.overrides["tile/entries/001"] = format_entry_bundle(entries)
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == "entry 263 (tile/entries/001)"


def test_mirror_names_a_missing_tile(world: World, published: Published) -> None:
    published.overrides["tile/0/001"] = None
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == "tile/0/001" and "not served" in info.value.detail


def test_mirror_names_a_short_entry_bundle(world: World, published: Published) -> None:
    published.overrides["tile/entries/002.p/88"] = format_entry_bundle(published.entries[512:599])
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == "tile/entries/002.p/88"


def test_mirror_names_an_anchored_root_the_log_does_not_have(world: World, published: Published) -> None:
    wrong = AnchorClaim(300, published.root_at(299), b"\0" * 32, 9)
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots, [claim(published, 5), wrong])
    assert info.value.where == "size 300"
    assert "block 9" in info.value.detail


def test_mirror_refuses_a_log_that_went_back_behind_its_anchors(world: World, published: Published) -> None:
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots, [AnchorClaim(SIZE + 10, b"\1" * 32, b"\2" * 32)])
    assert info.value.where == f"size {SIZE + 10}"
    assert "went back" in info.value.detail


def test_mirror_checks_the_anchored_checkpoint_digest(world: World, published: Published) -> None:
    wrong = AnchorClaim(SIZE, published.root, b"\3" * 32, 4)
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots, [wrong])
    assert info.value.where == f"size {SIZE}" and "digest" in info.value.detail


def test_mirror_refuses_a_checkpoint_the_policy_does_not_accept(world: World, published: Published) -> None:
    text = parse_note(published.checkpoint).text
    published.overrides["checkpoint"] = add_signatures(
        sign_note(text, [world.log_signer]), [world.witness_signers["alpha"].cosign(text, 5)]
    )
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == "checkpoint" and "policy" in info.value.detail


def test_mirror_refuses_a_checkpoint_root_the_entries_do_not_give(world: World, published: Published) -> None:
    text = format_checkpoint(Checkpoint(ORIGIN, SIZE, published.root_at(SIZE - 1)))
    cosigs = [world.witness_signers[o].cosign(text, 5) for o in ("alpha", "reg")]
    published.overrides["checkpoint"] = add_signatures(sign_note(text, [world.log_signer]), cosigs)
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == f"size {SIZE}"


def test_mirror_refuses_a_checkpoint_by_another_key(world: World, published: Published) -> None:
    stranger = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x44" * 32))
    published.overrides["checkpoint"] = sign_note(parse_note(published.checkpoint).text, [stranger])
    with pytest.raises(LogMismatchError) as info:
        mirror_log(published.fetch, world.roots)
    assert info.value.where == "checkpoint"


# -- the log mirror by hash only (a member's credential under authenticated reads) ----------------------------


@pytest.fixture
def member_view(published: Published) -> Published:
    """The log as a member reads it: bundles refused, its own events ``log-3`` and ``log-300`` by id."""
    published.refuse_bundles = True
    published.readable = {"log-3", "log-300"}
    return published


def test_mirror_checks_by_hash_only_where_the_entries_are_refused(world: World, member_view: Published) -> None:
    anchors = [claim(member_view, 5), claim(member_view, 256), claim(member_view, 513), claim(member_view, SIZE)]
    seen: list[int] = []
    report = mirror_log(
        member_view.fetch,
        world.roots,
        anchors,
        progress=seen.append,
        entries="if-readable",
        events=["log-3", "log-300"],
    )
    assert (report.size, report.root) == (SIZE, member_view.root)
    assert (report.entries_checked, report.hash_only, report.leaf_tiles, report.tiles) == (0, SIZE, 3, 1)
    assert report.entries_refused == "not readable with this credential"
    assert report.refusal is not None and "HTTP 403" in report.refusal
    assert report.events_checked == ["log-3", "log-300"]
    assert report.anchors_checked == [5, 256, 513, SIZE]
    assert (report.cosigned, report.witnesses) == (2, 3)
    assert sum(seen) == SIZE
    bundles = [p for p in member_view.fetched if p.startswith("tile/entries/")]
    assert bundles == ["tile/entries/000"]  # asked once, then hash only
    assert {"tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2"} <= set(member_view.fetched)


def test_mirror_by_hash_only_on_request_reads_no_bundle(world: World, published: Published) -> None:
    report = mirror_log(published.fetch, world.roots, entries="skip")
    assert (report.entries_checked, report.hash_only) == (0, SIZE)
    assert not any(p.startswith("tile/entries/") for p in published.fetched)


def test_mirror_reads_the_entries_where_readable_even_if_hash_only_is_allowed(
    world: World, published: Published
) -> None:
    report = mirror_log(published.fetch, world.roots, entries="if-readable", events=["log-7"])
    assert (report.entries_checked, report.hash_only, report.entries_refused) == (SIZE, 0, None)
    assert report.events_checked == ["log-7"]


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("tile/0/002.p/88", f"size {SIZE}"),  # a partial leaf tile: only the root depends on it
        ("tile/0/001", "tile/1/000.p/2"),  # a full leaf tile: its root is a level-1 hash
        ("tile/1/000.p/2", "tile/1/000.p/2"),  # a level-1 hash itself
    ],
)
def test_mirror_by_hash_only_catches_a_tampered_hash_tile(
    world: World, member_view: Published, path: str, where: str
) -> None:
    data = bytearray(member_view.fetch(path))
    data[40] ^= 0x01
    member_view.overrides[path] = bytes(data)
    with pytest.raises(LogMismatchError) as info:
        mirror_log(member_view.fetch, world.roots, entries="if-readable")
    assert info.value.where == where
    if where.startswith("size"):
        assert "leaf hashes of the level-0 tiles give root" in info.value.detail


def test_mirror_by_hash_only_catches_an_own_entry_that_is_not_its_leaf(world: World, member_view: Published) -> None:
    member_view.overrides["v1/entries/log-3"] = json.dumps({"index": 4, "entry": b64(member_view.entries[3])}).encode()
    with pytest.raises(LogMismatchError) as info:
        mirror_log(member_view.fetch, world.roots, entries="if-readable", events=["log-3"])
    assert info.value.where == "event 'log-3'" and "leaf 4 of the log" in info.value.detail


def test_mirror_names_an_event_the_credential_may_not_read(world: World, member_view: Published) -> None:
    with pytest.raises(LogMismatchError) as info:
        mirror_log(member_view.fetch, world.roots, entries="if-readable", events=["log-9"])
    assert info.value.where == "event 'log-9'" and "not an event this credential's firm is a party to" in str(
        info.value
    )


def test_mirror_that_requires_the_entries_fails_where_they_are_refused(world: World, member_view: Published) -> None:
    with pytest.raises(LogMismatchError) as info:
        mirror_log(member_view.fetch, world.roots)  # entries="required", as before hash only existed
    assert info.value.where == "tile/entries/000" and info.value.detail.startswith("refused (HTTP 403")


def test_mirror_fails_where_bundles_are_refused_after_one_was_served(world: World, published: Published) -> None:
    fetch = published.fetch

    def refuse_the_second(path: str) -> bytes:
        if path == "tile/entries/001":
            raise ReadRefusedError("HTTP 403 for tile/entries/001")
        return fetch(path)

    with pytest.raises(LogMismatchError) as info:
        mirror_log(refuse_the_second, world.roots, entries="if-readable")
    assert info.value.where == "tile/entries/001"


def test_mirror_passes_on_the_refusal_of_an_outsider(world: World, published: Published) -> None:
    published.refuse_all = True
    with pytest.raises(ReadRefusedError, match="HTTP 401 for checkpoint"):
        mirror_log(published.fetch, world.roots, entries="if-readable")


@pytest.mark.parametrize("which", ["v2", "v1", "pending"])
def test_the_evidence_route_writes_the_bytes_fastapi_writes_for_its_model(world: World, which: str) -> None:
    """``GET /v1/evidence`` checks and writes the bundle in its own thread (``notary.answer.ModelAnswer``):
    the same bytes as FastAPI validating the dict against ``response_model=Evidence`` and dumping it."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from notary.api.reads import EVIDENCE
    from notary.bundleschema import Evidence

    bundle = {"v2": world.bundle, "v1": world.bundle_v1}.get(which) or {
        **world.bundle, "checkpoint": None, "inclusion": None, "anchor": None,
        "pending": [{"part": "checkpoint", "reason": "not yet — “published”"}, {"part": "anchor", "reason": "waits"}],
    }  # fmt: skip
    body = EvidenceBundle.from_json(bundle).to_json()
    app = FastAPI()
    app.get("/as-dict", response_model=Evidence)(lambda: body)
    with TestClient(app) as client:
        written = client.get("/as-dict")
    answer = EVIDENCE(body)
    assert written.status_code == 200 and answer.status_code == 200
    assert answer.body == written.content and answer.media_type == written.headers["content-type"]


def test_an_evidence_body_its_model_refuses_is_fastapis_response_validation_error(world: World) -> None:
    from fastapi.exceptions import ResponseValidationError

    from notary.api.reads import EVIDENCE

    with pytest.raises(ResponseValidationError) as refused:
        EVIDENCE({**world.bundle, "extra": 1})
    assert [e["loc"] for e in refused.value.errors()] == [("extra",)]


# -- the seals counted under the set of the anchor's block, proven from the founders ----------------------------


@dataclass
class GovernedAnchor:
    """The world's checkpoint anchored on a chain whose validator set governance grew from the founder ``op``
    to ``op``, ``beta`` and ``gamma``; the anchor's block sealed by ``beta`` and ``gamma`` alone (a quorum of
    three, none of it the founder's)."""

    chain: ValidatorChain
    bundle: dict[str, Any]
    number: int
    roots: TrustRoots  # the founder alone, as consortium.json names them

    def heads(self, tamper: Tamper | None = None) -> TrustedHeads:
        return TrustedHeads(InProcessRpc(RpcServer(self.chain.node), tamper), {validator_address(self.op)})

    @property
    def op(self) -> LocalAccount:
        op: LocalAccount = self.chain.accounts["op"]
        return op


@pytest.fixture(scope="module")
def governed(world: World) -> GovernedAnchor:
    chain = ValidatorChain()
    chain.accounts["gamma"] = Account.create()
    chain.nonces["gamma"] = 0
    for org in ("beta", "gamma"):  # one approval admits: each a validator from the next block
        admit = registry_call(
            "propose_admit", name_to_bytes32(org), org, int(Role.MEMBER | Role.VALIDATOR), b"\4" * 32,
            [chain.accounts[org].address],
        )  # fmt: skip
        chain.send("op", chain.registry, admit)
        chain.seal()
    assert len(chain.validators()) == 3
    bundle, number = anchored(chain, "op", world)
    roots = replace(world.roots, notary_account=chain.accounts["op"].address)
    return GovernedAnchor(chain, bundle, number, roots)


def anchored(chain: ValidatorChain, sender: str, world: World) -> tuple[dict[str, Any], int]:
    """The world's checkpoint anchored by ``sender``'s account in a block of ``chain`` that ``beta`` and ``gamma``
    seal (two of the three validators, not the founder): the world's bundle with that anchor, and the block."""
    checkpoint = world.bundle["checkpoint"]
    size = checkpoint["size"]
    body = checkpoint["note"].split("\n\n")[0] + "\n"
    root = base64.b64decode(body.split("\n")[2])
    raw_tx = sign_tx(chain.accounts[sender], chain.nonces[sender], ANCHOR_ADDRESS,
                     calldata(ORIGIN, size, root, hashlib.sha256(body.encode()).digest()))  # fmt: skip
    chain.node.submit(raw_tx)
    chain.nonces[sender] += 1
    block = node_blocks.build(chain.node, validator_address(chain.accounts["op"]), 0)
    assert block is not None
    keys = [bytes(chain.accounts[org].key) for org in ("beta", "gamma")]
    sealed = add_seals(block.header, [sign_seal(block.header, k) for k in keys])
    node_blocks.append(chain.node, block.copy(header=sealed))
    row = AnchorRow(
        size=size, tx_hash="0x" + keccak(raw_tx).hex(), raw_tx=raw_tx, nonce=0, state="confirmed", sent_ms=0,
        block_number=None, block_hash=None, confirmed_ms=None,
    )  # fmt: skip
    rpc = InProcessRpc(RpcServer(chain.node))
    anchor = anchor_evidence(rpc.request, row, 20261, ANCHOR_ADDRESS).to_json()
    return {**world.bundle, "anchor": anchor}, int(block.header.block_number)


def test_a_set_grown_by_governance_is_followed_where_the_founders_alone_no_longer_seal(
    governed: GovernedAnchor,
) -> None:
    steps = {s.name: s for s in verify_evidence_json(governed.bundle, governed.roots)}
    assert [n for n, s in steps.items() if s.ok is not True] == ["seals"]  # the founder's seal is not there
    assert "0 valid seal(s)" in steps["seals"].detail

    proven = prove_anchor_block(governed.heads(), governed.number)
    assert proven.problem is None and len(proven.validators) == 3
    steps = {s.name: s for s in verify_evidence_json(governed.bundle, replace(governed.roots, anchor_block=proven))}
    assert all(s.ok for s in steps.values()), [s.to_text() for s in steps.values()]
    n = governed.number
    assert steps["seals"].detail.startswith("sealed by 2 of 3 validators (quorum 2)")
    assert f"counted under the set block {n - 1} names, block {n} proven from the founding validators" in (
        steps["seals"].detail
    )


def test_an_anchor_sent_by_a_rotated_account_of_the_notarys_member_passes_once_proven(
    governed: GovernedAnchor, world: World
) -> None:
    """op (the notary's member) adds a second account, removes its first one and anchors with the second: under
    consortium.json's account alone the sender is refused; the account is op's in the registry at the anchor's
    parent block, proven against its state root, and that is said."""
    chain = governed.chain
    chain.accounts["op2"], chain.nonces["op2"] = Account.create(), 0
    op2 = chain.accounts["op2"]
    chain.send("op", chain.registry, registry_call("add_account", op2.address))
    chain.seal()
    chain.send("op2", chain.registry, registry_call("remove_account", governed.op.address))
    chain.seal()
    bundle, number = anchored(chain, "op2", world)
    steps = {s.name: s for s in verify_evidence_json(bundle, governed.roots)}
    assert "not the notary's account" in steps["anchor transaction"].detail
    proven = prove_anchor_block(governed.heads(), number, chain.registry, "op")
    assert proven.notary_accounts == (op2.address,)
    steps = {s.name: s for s in verify_evidence_json(bundle, replace(governed.roots, anchor_block=proven))}
    assert all(s.ok for s in steps.values()), [s.to_text() for s in steps.values()]
    assert f"an account of the notary's member op in the registry at block {number - 1}" in (
        steps["anchor transaction"].detail
    )
    # a sender the proof does not list as the notary's member's is refused as before
    stranger = replace(proven, notary_accounts=(OTHER_ADDRESS,))
    steps = {s.name: s for s in verify_evidence_json(bundle, replace(governed.roots, anchor_block=stranger))}
    assert steps["anchor transaction"].ok is False


def test_a_node_that_lies_about_the_set_fails_the_seals(governed: GovernedAnchor) -> None:
    """A node naming the anchor block's sealers as the set of its parent (so that the founder drops out) serves a
    header the founders' chain does not lead to: the seals step fails, saying which block."""
    n = governed.number

    def lie(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and int(params[0], 16) == n - 1:
            extra = ExtraData.decode(bytes.fromhex(result["extraData"][2:]))
            sealers = tuple(sorted(validator_address(governed.chain.accounts[o]) for o in ("beta", "gamma")))
            return {**result, "extraData": "0x" + replace(extra, validators=sealers).encode().hex(), "hash": None}
        return result

    proven = prove_anchor_block(governed.heads(lie), n)
    assert proven.problem is not None and f"block {n - 1}" in proven.problem
    steps = {s.name: s for s in verify_evidence_json(governed.bundle, replace(governed.roots, anchor_block=proven))}
    assert [name for name, s in steps.items() if s.ok is not True] == ["seals"]
    assert steps["seals"].detail == proven.problem


def test_a_bundle_of_another_block_than_the_one_proven_fails_the_seals(governed: GovernedAnchor) -> None:
    earlier = prove_anchor_block(governed.heads(), governed.number - 1)
    steps = {s.name: s for s in verify_evidence_json(governed.bundle, replace(governed.roots, anchor_block=earlier))}
    assert [name for name, s in steps.items() if s.ok is not True] == ["seals"]
    assert f"but the chain's block {governed.number - 1} is 0x{earlier.hash.hex()}" in steps["seals"].detail
