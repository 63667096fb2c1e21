"""Merkle-Patricia trie inclusion proofs: walking one key's path from a trie root through untrusted nodes.

An evidence bundle (``consortium-ledger/evidence/v2``) proves that its anchor transaction is in its block, and its
receipt too, with the nodes on that key's path in the block's transactions and receipts tries (Ethereum Yellow
Paper, appendix D), instead of carrying every transaction of the block (which would show other firms' data).
This module checks such a proof with nothing but keccak-256 and RLP, and builds one from a list of values.

A proof is the list of the RLP-encoded nodes that are referenced by hash on the path, from the root down, in
order. A node under 32 bytes is embedded in its parent (appendix D, ``c(J, i)``), so it is not in the list; the
root is always referenced by its hash. The walk is strict: each listed node must be the one its parent names,
each node must be a canonical 17-item branch or 2-item leaf or extension with a valid hex-prefix path, a hash
reference must be exactly 32 bytes and name a node of at least 32 bytes, an embedded node must be under 32
bytes, and no node may be left over. The value found at the key is returned; the caller compares it with what
the bundle claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth_utils.crypto import keccak
from trie.hexary import HexaryTrie

from notary.log.errors import MalformedError

#: Most nodes one proof may hold: a key of the block tries is rlp(index), at most 8 nibbles for 2^32 items, so
#: a path has at most 9 nodes; 64 leaves room for any trie whose keys are up to 32 bytes.
MAX_PROOF_NODES = 64
HASH_SIZE = 32


class ProofError(MalformedError):
    """The proof does not lead from the root to a value at the key; the message says where it stops."""


def nibbles(key: bytes) -> tuple[int, ...]:
    """The key's nibbles, high nibble of each byte first."""
    return tuple(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _hex_prefix(encoded: object, where: str) -> tuple[tuple[int, ...], bool]:
    """(nibble path, is a leaf) of a hex-prefix encoded path (Yellow Paper, appendix C)."""
    if not isinstance(encoded, bytes) or not encoded:
        raise ProofError(f"{where}: the path is not a non-empty byte string")
    flag = encoded[0] >> 4
    if flag > 3:
        raise ProofError(f"{where}: bad hex-prefix flag {flag}")
    if not flag & 1 and encoded[0] & 0x0F:
        raise ProofError(f"{where}: an even hex-prefix path must pad with a zero nibble")
    path = nibbles(encoded)[1 if flag & 1 else 2 :]
    return path, bool(flag & 2)


def _decode(raw: bytes, where: str) -> list[Any]:
    try:
        node = rlp.decode(raw, strict=True)
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise ProofError(f"{where} is not canonical RLP: {exc}") from exc
    if not isinstance(node, list) or len(node) not in (2, 17):
        raise ProofError(f"{where} is not a trie node (an RLP list of 2 or 17 items)")
    return node


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """The value at ``key`` in the trie of ``root``, as ``proof`` proves it; ``ProofError`` if it does not.

    Every node of ``proof`` must be used, in order; a key that the proof shows absent is an error too."""
    if len(root) != HASH_SIZE:
        raise ProofError(f"the root must be {HASH_SIZE} bytes, got {len(root)}")
    if len(proof) > MAX_PROOF_NODES:
        raise ProofError(f"the proof has {len(proof)} nodes, at most {MAX_PROOF_NODES} allowed")
    path = nibbles(key)
    ref: object = root
    used = 0
    depth = 0  # nibbles of the key consumed so far
    while True:
        if isinstance(ref, bytes) and len(ref) == HASH_SIZE:
            if used == len(proof):
                raise ProofError(f"the proof ends after {used} node(s), before the key's value")
            raw = proof[used]
            where = f"proof node {used}"
            if keccak(raw) != ref:
                raise ProofError(f"{where} is not the node its parent names (keccak-256 0x{keccak(raw).hex()})")
            if used and len(raw) < HASH_SIZE:
                raise ProofError(f"{where} is under {HASH_SIZE} bytes, so it must be embedded in its parent")
            used += 1
            node = _decode(raw, where)
        elif isinstance(ref, list):
            where = f"the node embedded in proof node {used - 1}"
            if len(rlp.encode(ref)) >= HASH_SIZE or len(ref) not in (2, 17):
                raise ProofError(f"{where} is not a trie node under {HASH_SIZE} bytes")
            node = ref
        elif ref == b"":
            raise ProofError(f"the key is not in the trie: no child at nibble {depth} (proof node {used - 1})")
        else:
            raise ProofError(f"proof node {used - 1} names a child that is neither a hash nor an embedded node")
        rest = path[depth:]
        if len(node) == 17:
            if not rest:
                value = node[16]
                break
            ref = node[rest[0]]
            depth += 1
            continue
        segment, leaf = _hex_prefix(node[0], where)
        if leaf:
            if segment != rest:
                raise ProofError(f"the key is not in the trie: {where} is a leaf for another key")
            value = node[1]
            break
        if not segment or rest[: len(segment)] != segment:
            raise ProofError(f"the key is not in the trie: {where} is an extension off the key's path")
        depth += len(segment)
        ref = node[1]
    if not isinstance(value, bytes) or not value:
        raise ProofError(f"the key is not in the trie: {where} holds no value for it")
    if used != len(proof):
        raise ProofError(f"the proof has {len(proof) - used} node(s) beyond the key's value")
    return value


def build_proof(values: Sequence[bytes], index: int) -> tuple[bytes, tuple[bytes, ...]]:
    """(root, proof of key rlp(index)) of the trie mapping rlp(i) to ``values[i]``: transactionsRoot or
    receiptsRoot and one item's proof. The proof lists only the nodes referenced by hash (see the module doc)."""
    if not 0 <= index < len(values):
        raise ValueError(f"index {index} is not one of the {len(values)} items")
    trie = HexaryTrie({})
    with trie.squash_changes() as batch:
        for i, value in enumerate(values):
            batch[rlp.encode(i)] = bytes(value)
    path = trie.get_proof(rlp.encode(index))  # type: ignore[no-untyped-call]  # py-trie has no annotations here
    nodes = [bytes(rlp.encode(node)) for node in path]
    return bytes(trie.root_hash), tuple(n for i, n in enumerate(nodes) if i == 0 or len(n) >= HASH_SIZE)


__all__ = ["MAX_PROOF_NODES", "ProofError", "build_proof", "nibbles", "verify_proof"]
