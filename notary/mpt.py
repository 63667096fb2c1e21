"""Merkle-Patricia trie inclusion proofs of a block's transactions and receipts, as evidence bundles carry them.

An evidence bundle (``consortium-ledger/evidence/v2``) proves that its anchor transaction is in its block, and its
receipt too, with the nodes on that key's path in the block's transactions and receipts tries (Ethereum Yellow
Paper, appendix D), instead of carrying every transaction of the block (which would show other firms' data).
This module checks such a proof with nothing but keccak-256 and RLP, and builds one from a list of values.

A proof is the list of the RLP-encoded nodes that are referenced by hash on the path, from the root down, in
order: the form ``eth_getProof`` uses too. The walk itself is ``chain.stateproof.walk``, the one walker of the
project (the light client checks state proofs with it): strict, each listed node the one its parent names, each
node a canonical branch, leaf or extension, no node left over. An inclusion proof must show a value at the key:
a proof that shows the key absent is refused here, as is a proof longer than a bundle may carry.
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from trie.hexary import HexaryTrie

from chain.errors import MalformedError as ChainMalformedError
from chain.stateproof import HASH_SIZE, nibbles, walk
from notary.log.errors import MalformedError

#: Most nodes one proof of a bundle may hold: a key of the block tries is rlp(index), at most 8 nibbles for 2^32
#: items, so a path has at most 9 nodes; 64 leaves room for any trie whose keys are up to 32 bytes.
MAX_PROOF_NODES = 64


class ProofError(MalformedError):
    """The proof does not lead from the root to a value at the key; the message says where it stops."""


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """The value at ``key`` in the trie of ``root``, as ``proof`` proves it; ``ProofError`` if it does not.

    Every node of ``proof`` must be used, in order; a key that the proof shows absent is an error too."""
    if len(proof) > MAX_PROOF_NODES:
        raise ProofError(f"the proof has {len(proof)} nodes, at most {MAX_PROOF_NODES} allowed")
    try:
        value = walk(root, key, proof)
    except ChainMalformedError as exc:
        raise ProofError(str(exc)) from exc
    if value is None:
        raise ProofError("the key is not in the trie: the proof shows it absent")
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
