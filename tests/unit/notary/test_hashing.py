"""RFC 9162 §2.1 hashing: known answers from the certificate-transparency test tree and of SM3, and the fast
tree functions against the recursive reference, under each tree hash (SHA-256 and SM3)."""

from __future__ import annotations

import hashlib

import pytest

from notary.log.errors import MalformedError
from notary.log.hashing import (
    EMPTY_ROOT,
    SHA256,
    SM3,
    TreeHash,
    fold_right,
    hash_children,
    hash_leaf,
    levels_of,
    range_nodes,
    root_of,
    tree_hash,
)
from tests.support import merkle_reference as ref
from tests.support import sm3_reference
from tests.support.tree_hashes import each_tree

# The eight leaves of the RFC 6962 test tree used by certificate-transparency-go and transparency-dev/merkle.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
# Their published roots for sizes 0..8.
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


# GB/T 32905-2016 examples 1 and 2 (also in draft-shen-sm3-hash-01 and GM/T 0004-2012).
SM3_KNOWN_ANSWERS = [
    (b"abc", "66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0"),
    (b"abcd" * 16, "debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732"),
]


@pytest.mark.parametrize(("data", "digest"), SM3_KNOWN_ANSWERS, ids=["abc", "abcd*16"])
def test_sm3_gives_the_standards_known_answers(data: bytes, digest: str) -> None:
    expected = bytes.fromhex(digest.replace(" ", ""))
    assert SM3.new(data).digest() == expected
    assert SM3.new(data).digest() == expected  # the copied prototype is never changed by a hash
    assert hashlib.new("sm3", data).digest() == expected  # the reference's SM3
    assert sm3_reference.sm3(data) == expected


@pytest.mark.parametrize("length", [*range(0, 130), 1000])
def test_openssl_sm3_agrees_with_sm3_in_plain_python(length: int) -> None:
    # Every padding case: the length field in the same block or the next (55/56, 119/120 bytes) and whole blocks.
    data = bytes((7 * i + length) & 0xFF for i in range(length))
    assert SM3.new(data).digest() == sm3_reference.sm3(data)


@each_tree
def test_empty_root_is_the_hash_of_nothing(tree: TreeHash) -> None:
    assert hashlib.new(tree.name, b"").digest() == tree.empty_root
    assert tree.root_of([]) == tree.empty_root


@each_tree
def test_leaf_and_interior_hashes_are_domain_separated(tree: TreeHash) -> None:
    left, right = tree.leaf(b"a"), tree.leaf(b"b")
    assert tree.leaf(b"") == hashlib.new(tree.name, b"\x00").digest()
    assert left == hashlib.new(tree.name, b"\x00a").digest()
    assert tree.children(left, right) == hashlib.new(tree.name, b"\x01" + left + right).digest()
    # A leaf whose data is 0x01‖L‖R does not collide with the interior node over L and R (catalogue 2).
    assert tree.leaf(b"\x01" + left + right) != tree.children(left, right)


def test_sha256_is_the_module_level_functions() -> None:
    assert (SHA256.leaf, SHA256.children, SHA256.root_of, SHA256.levels_of, SHA256.fold_right) == (
        hash_leaf,
        hash_children,
        root_of,
        levels_of,
        fold_right,
    )
    assert SHA256.empty_root == EMPTY_ROOT and SHA256.new is hashlib.sha256


def test_the_two_tree_hashes_give_different_trees() -> None:
    leaves = [bytes([i]) for i in range(5)]
    assert SM3.empty_root != SHA256.empty_root
    assert SM3.leaf(leaves[0]) != SHA256.leaf(leaves[0])
    assert SM3.root_of([SM3.leaf(x) for x in leaves]) != SHA256.root_of([SHA256.leaf(x) for x in leaves])


def test_tree_hash_by_name() -> None:
    assert tree_hash("sha256") is SHA256 and tree_hash("sm3") is SM3
    assert repr(SM3) == "TreeHash('sm3')"
    for name in ["SHA256", "sha-256", "sm2", "sha3_256", ""]:
        with pytest.raises(MalformedError, match=r"unknown tree hash .*one of 'sha256', 'sm3'"):
            tree_hash(name)


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_root_of_matches_published_ct_roots(size: int) -> None:
    leaf_hashes = [hash_leaf(x) for x in CT_LEAVES[:size]]
    assert root_of(leaf_hashes) == CT_ROOTS[size]
    assert ref.mth(CT_LEAVES[:size]) == CT_ROOTS[size]


@each_tree
@pytest.mark.parametrize("size", [*range(1, 40), 63, 64, 65, 255, 256, 257, 1000])
def test_root_of_matches_reference(tree: TreeHash, size: int) -> None:
    entries = [i.to_bytes(4, "big") for i in range(size)]
    assert tree.root_of([tree.leaf(e) for e in entries]) == ref.mth(entries, tree.name)


@each_tree
def test_levels_of_keeps_only_complete_nodes(tree: TreeHash) -> None:
    leaves = [tree.leaf(bytes([i])) for i in range(7)]
    levels = tree.levels_of(leaves)
    assert [len(level) for level in levels] == [7, 3, 1]
    assert levels[0] == leaves and levels[0] is not leaves
    assert levels[1][2] == tree.children(leaves[4], leaves[5])
    assert levels[2][0] == ref.mth_of_hashes(leaves[:4], tree.name)
    assert tree.levels_of([]) == [[]]
    assert tree.levels_of(leaves[:1]) == [leaves[:1]]


def test_range_nodes_splits_largest_power_of_two_first() -> None:
    assert range_nodes(0, 0) == []
    assert range_nodes(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert range_nodes(8, 13) == [(2, 2), (0, 12)]
    assert range_nodes(0, 16) == [(4, 0)]


@each_tree
def test_fold_right_of_range_nodes_is_the_rfc_subtree_hash(tree: TreeHash) -> None:
    leaves = [tree.leaf(bytes([i])) for i in range(13)]
    levels = tree.levels_of(leaves)
    for start, end in [(0, 13), (8, 13), (8, 11), (12, 13)]:
        hashes = [levels[h][i] for h, i in range_nodes(start, end)]
        assert tree.fold_right(hashes) == ref.mth_of_hashes(leaves[start:end], tree.name)
