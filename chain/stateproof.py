"""Checking an ``eth_getProof`` answer (EIP-1186) against a block's state root, trusting nothing the node says.

The state is Ethereum's (Yellow Paper, section 4.1 and appendix D): the state trie maps keccak-256 of an address
to the RLP of ``[nonce, balance, storageRoot, codeHash]``; an account's storage trie maps keccak-256 of a slot's
32 bytes to the RLP of its value. A proof is the list of the RLP nodes on the key's path that are referenced by
hash, root first (a node under 32 bytes is embedded in its parent and not listed), ending at the key's leaf or,
for a key not in the trie, at the node where the key's path leaves the trie (``chain.node.stateproof`` makes
them, as geth and Besu do).

The walk is strict: each listed node must be the one its parent names by keccak-256, be canonical RLP of a
17-item branch or a 2-item leaf or extension with a valid hex-prefix path, a hash reference must be 32 bytes and
name a node of at least 32 bytes, an embedded node must be under 32 bytes, and no node may be left over. The
values reported are those the proven leaves hold: what the node claims beside the proof (its ``value``,
``balance``, ``storageHash``) must agree with them, or the answer is refused. The empty trie has no nodes: its
proof is empty, and everything is absent from it.

``walk`` is the project's one Merkle-Patricia proof walker: the evidence bundle's proofs of the anchor transaction
and its receipt in their block's tries (``notary.mpt``) are walked by it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_hash.auto import keccak

from chain.errors import ChainError, MalformedError

#: keccak-256 of RLP(b""): the root of an empty trie.
EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
#: keccak-256 of no bytes: the code hash of an account without code.
EMPTY_CODE_HASH = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
ZERO_HASH = b"\0" * 32
HASH_SIZE = 32
#: Most nodes a proof may hold: a key of 32 bytes is 64 nibbles, so a path has at most 65 nodes.
MAX_PROOF_NODES = 65


class StateProofError(ChainError):
    """A proof does not show what the node claims against the state root it is checked against; ``where``
    names the account or slot."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class ProvenAccount:
    """An account as a state root holds it (all zero and ``exists`` false for an account not in the state),
    with the values of the slots proven under its storage root."""

    address: bytes
    exists: bool
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes
    storage: Mapping[int, int]


def nibbles(key: bytes) -> tuple[int, ...]:
    return tuple(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _hex_prefix(encoded: object, where: str) -> tuple[tuple[int, ...], bool]:
    """(nibble path, is a leaf) of a hex-prefix path (Yellow Paper, appendix C)."""
    if not isinstance(encoded, bytes) or not encoded:
        raise MalformedError(f"{where}: the path is not a non-empty byte string")
    flag = encoded[0] >> 4
    if flag > 3 or (not flag & 1 and encoded[0] & 0x0F):
        raise MalformedError(f"{where}: bad hex-prefix path 0x{encoded[:1].hex()}")
    return nibbles(encoded)[1 if flag & 1 else 2 :], bool(flag & 2)


def _node(raw: bytes, where: str) -> list[Any]:
    try:
        node = rlp.decode(raw, strict=True)
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise MalformedError(f"{where} is not canonical RLP: {exc}") from exc
    if not isinstance(node, list) or len(node) not in (2, 17):
        raise MalformedError(f"{where} is not a trie node (an RLP list of 2 or 17 items)")
    return node


def walk(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The value at ``key`` in the trie of ``root`` as ``proof`` shows it, or None where it shows the key
    absent; :class:`MalformedError` (the reason) when the proof shows neither."""
    if len(root) != HASH_SIZE:
        raise MalformedError(f"a trie root is {HASH_SIZE} bytes, got {len(root)}")
    if len(proof) > MAX_PROOF_NODES:
        raise MalformedError(f"the proof has {len(proof)} nodes, at most {MAX_PROOF_NODES} allowed")
    if root == EMPTY_TRIE_ROOT and not proof:
        return None
    path, depth, used = nibbles(key), 0, 0
    ref: object = root
    value: object = None
    while True:
        if isinstance(ref, bytes) and len(ref) == HASH_SIZE:
            if used == len(proof):
                raise MalformedError(f"the proof ends after {used} node(s), before the key's leaf")
            raw, where = proof[used], f"proof node {used}"
            if keccak(raw) != ref:
                raise MalformedError(f"{where} is not the node its parent names (its hash is 0x{keccak(raw).hex()})")
            if used and len(raw) < HASH_SIZE:
                raise MalformedError(f"{where} is under {HASH_SIZE} bytes, so it must be embedded in its parent")
            used += 1
            node = _node(raw, where)
        elif isinstance(ref, list):
            where = f"the node embedded in proof node {used - 1}"
            if len(rlp.encode(ref)) >= HASH_SIZE or len(ref) not in (2, 17):
                raise MalformedError(f"{where} is not a trie node under {HASH_SIZE} bytes")
            node = ref
        elif ref == b"":
            break  # an empty child on the key's path: absent
        else:
            raise MalformedError(f"proof node {used - 1} names a child that is neither a hash nor an embedded node")
        rest = path[depth:]
        if len(node) == 17:
            if not rest:
                value = node[16]
                break
            ref, depth = node[rest[0]], depth + 1
            continue
        segment, leaf = _hex_prefix(node[0], where)
        if leaf:
            value = node[1] if segment == rest else None  # a leaf of another key: absent
            break
        if not segment:
            raise MalformedError(f"{where} is an extension with an empty path")
        if rest[: len(segment)] != segment:
            break  # the key's path leaves the trie here: absent
        ref, depth = node[1], depth + len(segment)
    if used != len(proof):
        absent = " (the key is not in the trie: its path ends there)" if value is None or value == b"" else ""
        raise MalformedError(f"the proof has {len(proof) - used} node(s) beyond the end of the key's path{absent}")
    if value is None or value == b"":
        return None
    if not isinstance(value, bytes):
        raise MalformedError("the key's leaf holds a list, not a value")
    return value


def _data(value: object, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedError(f"{what} must be 0x-prefixed hex, got {str(value)[:40]!r}")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedError(f"{what} is not hex: {value[:40]!r}") from None
    if size is not None and len(data) != size:
        raise MalformedError(f"{what} must be {size} bytes, got {len(data)}")
    return data


def _quantity(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise MalformedError(f"{what} must be a 0x-prefixed hex quantity, got {str(value)[:40]!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise MalformedError(f"{what} is not hex: {value[:40]!r}") from None


def _nodes(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise MalformedError(f"{what} must be a list of hex trie nodes")
    return [_data(node, f"{what}[{i}]") for i, node in enumerate(value)]


def _rlp_int(raw: object, what: str) -> int:
    if not isinstance(raw, bytes) or raw[:1] == b"\0" or len(raw) > 32:
        raise MalformedError(f"{what} is not a canonical RLP integer")
    return int.from_bytes(raw, "big")


def _hash(raw: object, what: str) -> bytes:
    if not isinstance(raw, bytes) or len(raw) != HASH_SIZE:
        raise MalformedError(f"{what} is not {HASH_SIZE} bytes")
    return raw


def verify_account_proof(state_root: bytes, address: bytes, slots: Sequence[int], answer: object) -> ProvenAccount:
    """The account at ``address`` and the values of ``slots`` in the state of ``state_root``, from an
    ``eth_getProof`` answer for exactly that address and those slots; :class:`StateProofError` when the answer
    does not prove them, or claims anything its proofs do not show."""
    where = f"account 0x{address.hex()}"
    try:
        if not isinstance(answer, dict):
            raise MalformedError("the answer is not a JSON object")
        if _data(answer.get("address"), "address", 20) != address:
            raise MalformedError(f"the answer is for another account, {answer.get('address')}")
        leaf = walk(state_root, keccak(address), _nodes(answer.get("accountProof"), "accountProof"))
        claimed = (
            _quantity(answer.get("nonce"), "nonce"),
            _quantity(answer.get("balance"), "balance"),
            _data(answer.get("storageHash"), "storageHash", 32),
            _data(answer.get("codeHash"), "codeHash", 32),
        )
        if leaf is None:
            absent_hashes = claimed[2] in (ZERO_HASH, EMPTY_TRIE_ROOT) and claimed[3] in (ZERO_HASH, EMPTY_CODE_HASH)
            if claimed[:2] != (0, 0) or not absent_hashes:
                raise MalformedError("the proof shows no such account, yet the answer gives it a state")
            account = (0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
        else:
            fields = rlp.decode(leaf, strict=True)
            if not isinstance(fields, list) or len(fields) != 4:
                raise MalformedError("the account's leaf is not RLP [nonce, balance, storageRoot, codeHash]")
            account = (
                _rlp_int(fields[0], "nonce"),
                _rlp_int(fields[1], "balance"),
                _hash(fields[2], "the account's storageRoot"),
                _hash(fields[3], "the account's codeHash"),
            )
            if claimed != account:
                raise MalformedError("the answer's nonce, balance, storageHash or codeHash is not what the proof shows")
    except (MalformedError, rlp.DecodingError) as exc:
        raise StateProofError(where, f"{exc} (state root 0x{state_root.hex()})") from exc
    storage = _verify_storage(where, account[2], slots, answer.get("storageProof"))
    return ProvenAccount(address, leaf is not None, account[0], account[1], account[2], account[3], storage)


def _verify_storage(where: str, storage_root: bytes, slots: Sequence[int], entries: object) -> dict[int, int]:
    if not isinstance(entries, list) or len(entries) != len(slots):
        raise StateProofError(where, f"the answer must prove exactly the {len(slots)} slot(s) asked for")
    values: dict[int, int] = {}
    for slot, entry in zip(slots, entries, strict=True):
        at = f"{where} slot 0x{slot:x}"
        try:
            if not isinstance(entry, dict) or _quantity(entry.get("key"), "key") != slot:
                raise MalformedError("the answer proves another slot than the one asked for, or none")
            claimed = _quantity(entry.get("value"), "value")
            proof = _nodes(entry.get("proof"), "proof")
            if storage_root == EMPTY_TRIE_ROOT and not proof:
                leaf = None
            else:
                leaf = walk(storage_root, keccak(slot.to_bytes(32, "big")), proof)
            value = 0 if leaf is None else _rlp_int(rlp.decode(leaf, strict=True), "the slot's value")
            if leaf is not None and value == 0:
                raise MalformedError("a storage leaf holds zero, which a trie never stores")
        except (MalformedError, rlp.DecodingError) as exc:
            raise StateProofError(at, f"{exc} (storage root 0x{storage_root.hex()})") from exc
        if claimed != value:
            raise StateProofError(at, f"the answer says 0x{claimed:x}, the proof shows 0x{value:x}")
        values[slot] = value
    return values


__all__ = [
    "EMPTY_CODE_HASH",
    "EMPTY_TRIE_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_NODES",
    "ProvenAccount",
    "StateProofError",
    "nibbles",
    "verify_account_proof",
    "walk",
]
