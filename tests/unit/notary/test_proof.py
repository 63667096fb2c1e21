"""RFC 9162 §2.1.3-2.1.4 proofs: known answers, fast provers against the reference under each tree hash,
proofs of one tree hash refused by the other, and every refusal."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from notary.log.errors import ConsistencyProofError, InclusionProofError, MalformedError, RootMismatchError
from notary.log.hashing import EMPTY_ROOT, SHA256, SM3, TreeHash, hash_leaf
from notary.log.proof import (
    MemoryNodeReader,
    ProofPlan,
    consistency_plan,
    nodes_for_consistency,
    nodes_for_inclusion,
    nodes_for_root,
    prove_consistency,
    prove_inclusion,
    root_at,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from tests.support import merkle_reference as ref
from tests.support.tree_hashes import each_tree
from tests.unit.notary.test_hashing import CT_LEAVES, CT_ROOTS

CT_HASHES = [hash_leaf(x) for x in CT_LEAVES]


def h(hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes.split()]


# Published RFC 6962 proofs over the CT test tree (certificate-transparency-go / transparency-dev/merkle).
CT_INCLUSION = {
    (0, 8): h(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7 "
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e "
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
    ),
}
CT_CONSISTENCY = {
    (1, 8): CT_INCLUSION[(0, 8)],
    (6, 8): h(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a "
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0 "
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
    ),
    (2, 5): h(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e "
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
    ),
}


class CountingReader:
    """A MemoryNodeReader that records each read_nodes call."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.inner = MemoryNodeReader(leaf_hashes)
        self.calls: list[list[tuple[int, int]]] = []

    def read_nodes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(nodes))
        return self.inner.read_nodes(nodes)


def entries(n: int) -> list[bytes]:
    return [b"entry-%d" % i for i in range(n)]


def test_known_answer_inclusion_and_consistency_proofs() -> None:
    reader = MemoryNodeReader(CT_HASHES)
    for (index, size), expected in CT_INCLUSION.items():
        assert prove_inclusion(index, size, reader) == expected
        verify_inclusion(CT_HASHES[index], index, size, expected, CT_ROOTS[size])
    for (size1, size2), expected in CT_CONSISTENCY.items():
        assert prove_consistency(size1, size2, reader) == expected
        verify_consistency(size1, size2, expected, CT_ROOTS[size1], CT_ROOTS[size2])


@each_tree
@pytest.mark.parametrize("size", range(1, 34))
def test_every_inclusion_proof_matches_reference_and_verifies(tree: TreeHash, size: int) -> None:
    data = entries(size)
    reader = MemoryNodeReader([tree.leaf(e) for e in data], tree)
    root = ref.mth(data, tree.name)
    assert root_at(size, reader, tree) == root
    for index in range(size):
        proof = prove_inclusion(index, size, reader, tree)
        assert proof == ref.path(index, data, tree.name)
        verify_inclusion(tree.leaf(data[index]), index, size, proof, root, tree)


@each_tree
@pytest.mark.parametrize("size2", range(1, 34))
def test_every_consistency_proof_matches_reference_and_verifies(tree: TreeHash, size2: int) -> None:
    data = entries(size2)
    reader = MemoryNodeReader([tree.leaf(e) for e in data], tree)
    for size1 in range(size2 + 1):
        proof = prove_consistency(size1, size2, reader, tree)
        assert proof == ref.proof(size1, data, tree.name)
        verify_consistency(size1, size2, proof, ref.mth(data[:size1], tree.name), ref.mth(data, tree.name), tree)


@each_tree
def test_proofs_at_smaller_sizes_from_a_bigger_reader(tree: TreeHash) -> None:
    data = entries(100)
    reader = MemoryNodeReader([tree.leaf(e) for e in data], tree)
    assert prove_inclusion(41, 77, reader, tree) == ref.path(41, data[:77], tree.name)
    assert prove_consistency(13, 77, reader, tree) == ref.proof(13, data[:77], tree.name)
    assert root_at(77, reader, tree) == ref.mth(data[:77], tree.name)
    assert root_at(0, reader, tree) == tree.empty_root


@pytest.mark.parametrize("size", range(1, 20))
def test_the_sm3_tree_recomputes_with_sm3_in_plain_python(size: int) -> None:
    # Failure catalogue 35: every tree and proof recomputes with an SM3 independent of the one the log uses.
    data = entries(size)
    reader = MemoryNodeReader([SM3.leaf(e) for e in data], SM3)
    assert root_at(size, reader, SM3) == ref.mth(data, "sm3-python")
    for index in range(size):
        assert prove_inclusion(index, size, reader, SM3) == ref.path(index, data, "sm3-python")
    for size1 in range(size + 1):
        assert prove_consistency(size1, size, reader, SM3) == ref.proof(size1, data, "sm3-python")


@pytest.mark.parametrize(("made", "checked"), [(SHA256, SM3), (SM3, SHA256)], ids=["sha256-in-sm3", "sm3-in-sha256"])
def test_a_proof_of_one_tree_hash_does_not_verify_in_the_other_tree(made: TreeHash, checked: TreeHash) -> None:
    data = entries(13)
    made_leaves = [made.leaf(e) for e in data]
    made_reader = MemoryNodeReader(made_leaves, made)
    checked_leaves = [checked.leaf(e) for e in data]
    checked_root = checked.root_of(checked_leaves)
    for index in range(13):
        proof = prove_inclusion(index, 13, made_reader, made)
        verify_inclusion(made_leaves[index], index, 13, proof, made.root_of(made_leaves), made)
        # The tree of the same entries under the other hash: its leaf hash and verifier, or this leaf hash.
        with pytest.raises(RootMismatchError):
            verify_inclusion(checked_leaves[index], index, 13, proof, checked_root, checked)
        with pytest.raises(RootMismatchError):
            verify_inclusion(made_leaves[index], index, 13, proof, checked_root, checked)
    for size1 in range(1, 13):
        proof = prove_consistency(size1, 13, made_reader, made)
        with pytest.raises(RootMismatchError):
            verify_consistency(size1, 13, proof, checked.root_of(checked_leaves[:size1]), checked_root, checked)


def test_each_proof_reads_its_nodes_once() -> None:
    reader = CountingReader([hash_leaf(e) for e in entries(1000)])
    prove_inclusion(517, 999, reader)
    prove_consistency(300, 999, reader)
    root_at(999, reader)
    assert reader.calls == [nodes_for_inclusion(517, 999), nodes_for_consistency(300, 999), nodes_for_root(999)]
    assert prove_consistency(5, 5, reader) == [] and prove_consistency(0, 5, reader) == []
    assert len(reader.calls) == 3


def test_plans_read_only_complete_nodes() -> None:
    for size in range(1, 70):
        for index in range(size):
            for height, i in nodes_for_inclusion(index, size):
                assert (i + 1) << height <= size
        for size1 in range(size + 1):
            for height, i in nodes_for_consistency(size1, size):
                assert (i + 1) << height <= size


def test_provers_refuse_out_of_range_arguments() -> None:
    reader = MemoryNodeReader(CT_HASHES)
    with pytest.raises(MalformedError, match="index 8 in tree of size 8: index out of range"):
        prove_inclusion(8, 8, reader)
    with pytest.raises(MalformedError):
        prove_inclusion(-1, 8, reader)
    with pytest.raises(MalformedError, match="from size 5 to size 4"):
        prove_consistency(5, 4, reader)
    with pytest.raises(MalformedError):
        nodes_for_root(-1)


def test_memory_reader_refuses_nodes_beyond_its_tree() -> None:
    reader = MemoryNodeReader(CT_HASHES[:5])
    with pytest.raises(MalformedError, match=r"node \(0, 5\)"):
        reader.read_nodes([(0, 1), (0, 5)])
    with pytest.raises(MalformedError):
        prove_inclusion(3, 7, reader)


def test_plan_refuses_wrong_number_of_hashes() -> None:
    plan = consistency_plan(3, 7)
    assert isinstance(plan, ProofPlan)
    with pytest.raises(MalformedError):
        plan.combine([b"\x00" * 32])


class TestVerifyInclusionRefusals:
    size = 7
    index = 4
    reader = MemoryNodeReader(CT_HASHES[:7])
    proof = prove_inclusion(4, 7, reader)
    leaf = CT_HASHES[4]
    root = CT_ROOTS[7]

    def test_index_out_of_range(self) -> None:
        with pytest.raises(InclusionProofError, match="inclusion proof for index 7 in tree of size 7: index out of"):
            verify_inclusion(self.leaf, 7, 7, self.proof, self.root)
        with pytest.raises(InclusionProofError):
            verify_inclusion(self.leaf, -1, 7, self.proof, self.root)
        with pytest.raises(InclusionProofError):
            verify_inclusion(self.leaf, 0, 0, [], EMPTY_ROOT)

    def test_wrong_length(self) -> None:
        with pytest.raises(InclusionProofError, match="proof has 2 hashes, expected 3"):
            verify_inclusion(self.leaf, 4, 7, self.proof[:-1], self.root)
        with pytest.raises(InclusionProofError, match="proof has 4 hashes"):
            verify_inclusion(self.leaf, 4, 7, [*self.proof, self.proof[0]], self.root)

    def test_hash_sizes(self) -> None:
        with pytest.raises(InclusionProofError, match="32 bytes"):
            verify_inclusion(self.leaf, 4, 7, [self.proof[0][:31], *self.proof[1:]], self.root)
        with pytest.raises(InclusionProofError, match="leaf hash is 31 bytes"):
            verify_inclusion(self.leaf[:31], 4, 7, self.proof, self.root)
        with pytest.raises(InclusionProofError, match="root is 33 bytes"):
            verify_inclusion(self.leaf, 4, 7, self.proof, self.root + b"\x00")

    def test_root_mismatch_carries_both_roots(self) -> None:
        bad = bytes(32)
        with pytest.raises(RootMismatchError) as info:
            verify_inclusion(self.leaf, 4, 7, self.proof, bad)
        assert info.value.expected == bad and info.value.calculated == self.root
        assert bad.hex() in str(info.value) and self.root.hex() in str(info.value)

    def test_index_plus_minus_one_and_doubled_or_halved_size(self) -> None:
        for index, size in [(3, 7), (5, 7), (4, 14), (4, 3)]:
            with pytest.raises((InclusionProofError, RootMismatchError)):
                verify_inclusion(self.leaf, index, size, self.proof, self.root)

    def test_size_is_bound_by_the_signed_root_not_by_the_proof(self) -> None:
        # RFC 9162 hashes the same way for (4, 7) and (4, 8): the proof alone does not fix the size, the
        # checkpoint's (size, root) pair does. With the genuine root of size 8 the proof is refused.
        verify_inclusion(self.leaf, 4, 8, self.proof, self.root)
        with pytest.raises(RootMismatchError):
            verify_inclusion(self.leaf, 4, 8, self.proof, CT_ROOTS[8])

    def test_root_from_inclusion(self) -> None:
        assert root_from_inclusion(self.leaf, 4, 7, self.proof) == self.root


class TestVerifyConsistencyRefusals:
    reader = MemoryNodeReader(CT_HASHES)
    proof = prove_consistency(3, 7, reader)

    def test_sizes_out_of_order(self) -> None:
        with pytest.raises(ConsistencyProofError, match="from size 7 to size 3: sizes out of order"):
            verify_consistency(7, 3, self.proof, CT_ROOTS[7], CT_ROOTS[3])

    def test_equal_sizes_need_empty_proof_and_equal_roots(self) -> None:
        verify_consistency(5, 5, [], CT_ROOTS[5], CT_ROOTS[5])
        with pytest.raises(ConsistencyProofError, match="must be empty"):
            verify_consistency(5, 5, [CT_ROOTS[5]], CT_ROOTS[5], CT_ROOTS[5])
        with pytest.raises(RootMismatchError):
            verify_consistency(5, 5, [], CT_ROOTS[5], CT_ROOTS[6])

    def test_size_zero_needs_empty_proof(self) -> None:
        verify_consistency(0, 7, [], EMPTY_ROOT, CT_ROOTS[7])
        with pytest.raises(ConsistencyProofError, match="must be empty"):
            verify_consistency(0, 7, [CT_ROOTS[7]], EMPTY_ROOT, CT_ROOTS[7])

    def test_wrong_length_and_hash_sizes(self) -> None:
        with pytest.raises(ConsistencyProofError, match="expected 4"):
            verify_consistency(3, 7, self.proof[:-1], CT_ROOTS[3], CT_ROOTS[7])
        with pytest.raises(ConsistencyProofError, match="expected 4"):
            verify_consistency(3, 7, [*self.proof, CT_ROOTS[1]], CT_ROOTS[3], CT_ROOTS[7])
        with pytest.raises(ConsistencyProofError, match="32 bytes"):
            verify_consistency(3, 7, [b"", *self.proof[1:]], CT_ROOTS[3], CT_ROOTS[7])
        with pytest.raises(ConsistencyProofError, match="roots must be 32 bytes"):
            verify_consistency(3, 7, self.proof, CT_ROOTS[3][:1], CT_ROOTS[7])

    def test_wrong_roots(self) -> None:
        with pytest.raises(RootMismatchError, match="old tree of size 3"):
            verify_consistency(3, 7, self.proof, CT_ROOTS[4], CT_ROOTS[7])
        with pytest.raises(RootMismatchError, match="new tree of size 7"):
            verify_consistency(3, 7, self.proof, CT_ROOTS[3], CT_ROOTS[8])

    def test_power_of_two_old_size_checks_the_old_root(self) -> None:
        proof = prove_consistency(4, 7, self.reader)
        verify_consistency(4, 7, proof, CT_ROOTS[4], CT_ROOTS[7])
        with pytest.raises(RootMismatchError):
            verify_consistency(4, 7, proof, CT_ROOTS[3], CT_ROOTS[7])
