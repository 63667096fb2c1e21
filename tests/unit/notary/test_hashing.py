"""RFC 9162 §2.1 hashing: known answers from the certificate-transparency test tree, and the fast tree
functions against the recursive reference."""

from __future__ import annotations

import hashlib

import pytest

from notary.log.hashing import (
    EMPTY_ROOT,
    fold_right,
    hash_children,
    hash_leaf,
    levels_of,
    range_nodes,
    root_of,
)
from tests.support import merkle_reference as ref

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


def test_empty_root_is_sha256_of_nothing() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert root_of([]) == EMPTY_ROOT


def test_leaf_and_interior_hashes_are_domain_separated() -> None:
    left, right = hash_leaf(b"a"), hash_leaf(b"b")
    assert hash_leaf(b"") == hashlib.sha256(b"\x00").digest()
    assert hash_children(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    # A leaf whose data is 0x01‖L‖R does not collide with the interior node over L and R (catalogue 2).
    assert hash_leaf(b"\x01" + left + right) != hash_children(left, right)


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_root_of_matches_published_ct_roots(size: int) -> None:
    leaf_hashes = [hash_leaf(x) for x in CT_LEAVES[:size]]
    assert root_of(leaf_hashes) == CT_ROOTS[size]
    assert ref.mth(CT_LEAVES[:size]) == CT_ROOTS[size]


@pytest.mark.parametrize("size", [*range(1, 40), 63, 64, 65, 255, 256, 257, 1000])
def test_root_of_matches_reference(size: int) -> None:
    entries = [i.to_bytes(4, "big") for i in range(size)]
    assert root_of([hash_leaf(e) for e in entries]) == ref.mth(entries)


def test_levels_of_keeps_only_complete_nodes() -> None:
    leaves = [hash_leaf(bytes([i])) for i in range(7)]
    levels = levels_of(leaves)
    assert [len(level) for level in levels] == [7, 3, 1]
    assert levels[0] == leaves and levels[0] is not leaves
    assert levels[1][2] == hash_children(leaves[4], leaves[5])
    assert levels[2][0] == ref.mth_of_hashes(leaves[:4])
    assert levels_of([]) == [[]]
    assert levels_of(leaves[:1]) == [leaves[:1]]


def test_range_nodes_splits_largest_power_of_two_first() -> None:
    assert range_nodes(0, 0) == []
    assert range_nodes(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert range_nodes(8, 13) == [(2, 2), (0, 12)]
    assert range_nodes(0, 16) == [(4, 0)]


def test_fold_right_of_range_nodes_is_the_rfc_subtree_hash() -> None:
    leaves = [hash_leaf(bytes([i])) for i in range(13)]
    levels = levels_of(leaves)
    for start, end in [(0, 13), (8, 13), (8, 11), (12, 13)]:
        hashes = [levels[h][i] for h, i in range_nodes(start, end)]
        assert fold_right(hashes) == ref.mth_of_hashes(leaves[start:end])
