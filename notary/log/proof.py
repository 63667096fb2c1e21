"""Inclusion and consistency proofs of the audit log, RFC 9162 §2.1.3-2.1.4.

Provers work from complete nodes only (``(height, index)``, see ``hashing``): a proof is planned as a list
of complete nodes plus how many of them fold into each proof hash (a partial right-edge subtree is several
complete nodes hashed together right to left). The whole plan is read with ONE ``read_nodes`` call, so a
tile-backed reader fetches each tile once per proof. Verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step
by step, recompute every hash, and refuse a proof of the wrong length before looking at it.

Every function that hashes takes the log's ``tree`` hash (``hashing.SHA256`` unless told otherwise): a proof
built or checked with another tree hash than the log's gives another root and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from notary.log.errors import ConsistencyProofError, InclusionProofError, MalformedError, RootMismatchError
from notary.log.hashing import HASH_SIZE, SHA256, Hash32, TreeHash, range_nodes

Node = tuple[int, int]


class NodeReader(Protocol):
    """Where provers get hashes of complete nodes ``(height, index)`` from (memory, tiles)."""

    def read_nodes(self, nodes: Sequence[Node]) -> Sequence[bytes]: ...


class MemoryNodeReader:
    """A NodeReader over leaf hashes held in memory (a batch, a test tree): every level precomputed with
    ``tree``."""

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes], tree: TreeHash = SHA256) -> None:
        self._levels = tree.levels_of(leaf_hashes)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def read_nodes(self, nodes: Sequence[Node]) -> list[bytes]:
        levels = self._levels
        try:
            return [levels[height][index] for height, index in nodes]
        except IndexError:
            missing = next(n for n in nodes if n[0] >= len(levels) or n[1] >= len(levels[n[0]]))
            raise MalformedError(f"node {missing} is not a complete node of a tree of {self.size} leaves") from None


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """The complete nodes a proof reads, and how many consecutive ones fold into each proof hash."""

    nodes: list[Node]
    counts: list[int]

    def combine(self, hashes: Sequence[bytes], tree: TreeHash = SHA256) -> list[Hash32]:
        """The proof from the hashes of ``nodes`` (in the same order), partial subtrees folded with ``tree``."""
        if len(hashes) != len(self.nodes):
            raise MalformedError(f"plan needs {len(self.nodes)} node hashes, got {len(hashes)}")
        out: list[bytes] = []
        k = 0
        for count in self.counts:
            if count == 1:
                out.append(hashes[k])
            else:
                out.append(tree.fold_right(hashes[k : k + count]))
            k += count
        return cast(list[Hash32], out)


def _append_path(level: int, index: int, size: int, nodes: list[Node], counts: list[int]) -> None:
    """Append the audit path of node ``(level, index)`` in a tree of ``size`` leaves, bottom up."""
    for height in range(level, (size - 1).bit_length()):
        start = ((index >> (height - level)) ^ 1) << height
        if start >= size:
            continue  # no sibling: the node is carried up unchanged
        if start + (1 << height) <= size:
            nodes.append((height, start >> height))
            counts.append(1)
        else:
            part = range_nodes(start, size)
            nodes.extend(part)
            counts.append(len(part))


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """The plan of the inclusion proof of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise MalformedError(f"inclusion proof for index {index} in tree of size {size}: index out of range")
    plan = ProofPlan([], [])
    _append_path(0, index, size, plan.nodes, plan.counts)
    return plan


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """The plan of the consistency proof from ``size1`` to ``size2`` (RFC 9162 §2.1.4.1).

    It is the audit path, in the new tree, of the last complete subtree of the old tree, preceded by that
    subtree's root unless the old tree is itself complete (a power of two).
    """
    if not 0 <= size1 <= size2:
        raise MalformedError(f"consistency proof from size {size1} to size {size2}: sizes out of order")
    plan = ProofPlan([], [])
    if size1 == 0 or size1 == size2:
        return plan
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    if index:
        plan.nodes.append((level, index))
        plan.counts.append(1)
    _append_path(level, index, size2, plan.nodes, plan.counts)
    return plan


def nodes_for_inclusion(index: int, size: int) -> list[Node]:
    """The complete nodes ``prove_inclusion`` reads."""
    return inclusion_plan(index, size).nodes


def nodes_for_consistency(size1: int, size2: int) -> list[Node]:
    """The complete nodes ``prove_consistency`` reads."""
    return consistency_plan(size1, size2).nodes


def nodes_for_root(size: int) -> list[Node]:
    """The complete nodes, left to right, whose right-to-left fold is the root at ``size``."""
    if size < 0:
        raise MalformedError(f"tree size {size} is negative")
    return range_nodes(0, size)


def prove_inclusion(index: int, size: int, reader: NodeReader, tree: TreeHash = SHA256) -> list[Hash32]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves, deepest hash first."""
    plan = inclusion_plan(index, size)
    return plan.combine(reader.read_nodes(plan.nodes), tree)


def prove_consistency(size1: int, size2: int, reader: NodeReader, tree: TreeHash = SHA256) -> list[Hash32]:
    """The consistency proof between the trees of ``size1`` and ``size2`` leaves (empty if equal or 0)."""
    plan = consistency_plan(size1, size2)
    if not plan.nodes:
        return []
    return plan.combine(reader.read_nodes(plan.nodes), tree)


def root_at(size: int, reader: NodeReader, tree: TreeHash = SHA256) -> Hash32:
    """The root of the tree of ``size`` leaves, from the complete nodes that make it up."""
    nodes = nodes_for_root(size)
    if not nodes:
        return tree.empty_root
    return tree.fold_right(reader.read_nodes(nodes))


def inclusion_proof_length(index: int, size: int) -> int:
    """The number of hashes in the inclusion proof of ``index`` in a tree of ``size`` (0 ≤ index < size)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(size1: int, size2: int) -> int:
    """The number of hashes in the consistency proof from ``size1`` to ``size2`` (0 < size1 < size2)."""
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    return (1 if index else 0) + inclusion_proof_length(index, ((size2 - 1) >> level) + 1)


def _check_hash(value: bytes) -> bool:
    return len(value) == HASH_SIZE


def root_from_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], tree: TreeHash = SHA256
) -> Hash32:
    """The root that ``proof`` gives for ``leaf_hash`` at ``index`` in a tree of ``size`` (RFC 9162 §2.1.3.2).

    Raises InclusionProofError if index ≥ size, the proof has the wrong length or a hash is not 32 bytes.
    """
    if not 0 <= index < size:
        raise InclusionProofError(index, size, "index out of range")
    if len(leaf_hash) != HASH_SIZE:
        raise InclusionProofError(index, size, f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    want = inclusion_proof_length(index, size)
    if len(proof) != want:
        raise InclusionProofError(index, size, f"proof has {len(proof)} hashes, expected {want}")
    if not all(map(_check_hash, proof)):
        raise InclusionProofError(index, size, f"proof hashes must be {HASH_SIZE} bytes")
    new = tree.new
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise InclusionProofError(index, size, "proof is too long")
        if fn & 1 or fn == sn:
            r = new(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = new(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError(index, size, "proof is too short")
    return cast(Hash32, r)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes, tree: TreeHash = SHA256
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises InclusionProofError for a proof that cannot apply, RootMismatchError if it gives another root.
    """
    if len(root) != HASH_SIZE:
        raise InclusionProofError(index, size, f"root is {len(root)} bytes, not {HASH_SIZE}")
    calculated = root_from_inclusion(leaf_hash, index, size, proof, tree)
    if calculated != root:
        raise RootMismatchError(bytes(root), calculated, f"inclusion of index {index} in tree of size {size}")


def _check_consistency_input(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    if not 0 <= size1 <= size2:
        raise ConsistencyProofError(size1, size2, "sizes out of order")
    if len(root1) != HASH_SIZE or len(root2) != HASH_SIZE:
        raise ConsistencyProofError(size1, size2, f"roots must be {HASH_SIZE} bytes")
    if not all(map(_check_hash, proof)):
        raise ConsistencyProofError(size1, size2, f"proof hashes must be {HASH_SIZE} bytes")
    if (size1 == 0 or size1 == size2) and proof:
        raise ConsistencyProofError(size1, size2, f"proof must be empty, got {len(proof)} hashes")
    if 0 < size1 < size2:
        want = consistency_proof_length(size1, size2)
        if len(proof) != want:
            raise ConsistencyProofError(size1, size2, f"proof has {len(proof)} hashes, expected {want}")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes, tree: TreeHash = SHA256
) -> None:
    """Check that the tree of ``size2`` leaves with ``root2`` extends the one of ``size1`` with ``root1``.

    Follows RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots; from size 0 any tree is
    consistent with an empty proof (``root1`` is not consulted: the empty tree has no history to check).
    Raises ConsistencyProofError for a proof that cannot apply, RootMismatchError for a wrong root.
    """
    _check_consistency_input(size1, size2, proof, root1, root2)
    if size1 == 0:
        return
    if size1 == size2:
        if root1 != root2:
            raise RootMismatchError(bytes(root1), bytes(root2), f"trees of equal size {size1}")
        return
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fr, sr = _roots_from_consistency(size1, size2, path, tree)
    if fr != root1:
        raise RootMismatchError(bytes(root1), fr, f"old tree of size {size1} (consistency proof to size {size2})")
    if sr != root2:
        raise RootMismatchError(bytes(root2), sr, f"new tree of size {size2} (consistency proof from size {size1})")


def _roots_from_consistency(size1: int, size2: int, path: Sequence[bytes], tree: TreeHash) -> tuple[Hash32, Hash32]:
    """Steps 3-6 of RFC 9162 §2.1.4.2: the old and new roots ``path`` gives (0 < size1 < size2)."""
    new = tree.new
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = bytes(path[0])
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError(size1, size2, "proof is too long")
        if fn & 1 or fn == sn:
            fr = new(b"\x01" + c + fr).digest()
            sr = new(b"\x01" + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = new(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError(size1, size2, "proof is too short")
    return cast(Hash32, fr), cast(Hash32, sr)
