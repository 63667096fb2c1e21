"""Property tests of ``notary.log.compact``: after any sequence of appends the compact range's root is the
RFC 9162 root of all its leaves computed from scratch (``root_of``, cross-checked with the RFC text in
``tests/support/merkle_reference.py`` for small trees), under each tree hash (SHA-256 and SM3);
``to_bytes``/``from_bytes`` round-trip both ways; and malformed bytes are refused with MalformedError, never
parsed into something else."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notary.log.compact import CompactRange
from notary.log.errors import MalformedError
from notary.log.hashing import SHA256, Hash32, TreeHash
from tests.support import merkle_reference as ref
from tests.support.tree_hashes import each_tree

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_HEIGHT = 7  # nodes of up to 128 leaves
MAX_LEAVES = 3000


@cache
def leaf(i: int, tree: TreeHash = SHA256) -> Hash32:
    return tree.leaf(b"entry-%d" % i)


def leaves(start: int, end: int, tree: TreeHash = SHA256) -> list[Hash32]:
    return [leaf(i, tree) for i in range(start, end)]


#: One step: ("append", 0), ("extend", how many leaves) or ("node", height, aligned down to the size).
steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.just(0)),
        st.tuples(st.just("extend"), st.integers(0, 300)),
        st.tuples(st.just("node"), st.integers(0, MAX_HEIGHT)),
        st.tuples(st.just("copy"), st.just(0)),
    ),
    max_size=40,
)


def aligned_height(size: int, height: int) -> int:
    """The largest height up to ``height`` that a node starting at leaf ``size`` may have."""
    while size & ((1 << height) - 1):
        height -= 1
    return height


@each_tree
@FAST
@given(steps)
def test_root_after_any_appends_is_the_root_of_all_leaves(tree: TreeHash, plan: list[tuple[str, int]]) -> None:
    crange = CompactRange(tree=tree)
    assert crange.root() == tree.empty_root
    for kind, arg in plan:
        size = crange.size
        if kind == "append":
            crange.append(leaf(size, tree))
        elif kind == "extend":
            crange.extend(leaves(size, min(size + arg, MAX_LEAVES), tree))
        elif kind == "node":
            height = aligned_height(size, arg)
            crange.append_node(height, tree.root_of(leaves(size, size + (1 << height), tree)))
        else:
            copy = crange.copy()
            copy.append(leaf(size, tree))  # the copy moves on alone, with the same tree hash
            assert crange.size == size and copy.size == size + 1
            assert copy.root() == tree.root_of(leaves(0, size + 1, tree))
        assert crange.root() == tree.root_of(leaves(0, crange.size, tree))
        assert len(crange.hashes) == crange.size.bit_count()


@each_tree
@FAST
@given(st.integers(0, 64))
def test_root_agrees_with_the_rfc_text(tree: TreeHash, size: int) -> None:
    entries = [b"entry-%d" % i for i in range(size)]
    crange = CompactRange(tree=tree)
    for entry in entries:
        crange.append(tree.leaf(entry))
    assert crange.root() == ref.mth(entries, tree.name)


@each_tree
@FAST
@given(st.integers(0, MAX_LEAVES))
def test_bytes_round_trip(tree: TreeHash, size: int) -> None:
    crange = CompactRange(tree=tree)
    crange.extend(leaves(0, size, tree))
    data = crange.to_bytes()
    assert len(data) == 8 + 32 * size.bit_count()
    parsed = CompactRange.from_bytes(data, tree)
    assert (parsed.size, parsed.hashes) == (crange.size, crange.hashes)
    assert parsed.root() == crange.root()
    assert parsed.to_bytes() == data
    parsed.append(leaf(size, tree))  # and extends with the tree hash it was read for
    assert parsed.root() == tree.root_of(leaves(0, size + 1, tree))


@FAST
@given(st.binary(max_size=8 + 32 * 4))
def test_any_bytes_parse_back_to_themselves_or_are_refused(data: bytes) -> None:
    try:
        parsed = CompactRange.from_bytes(data)
    except MalformedError:
        return
    assert parsed.to_bytes() == data


@FAST
@given(st.integers(0, MAX_LEAVES), st.data())
def test_malformed_bytes_are_refused(size: int, data: st.DataObject) -> None:
    crange = CompactRange()
    crange.extend(leaves(0, size))
    good = crange.to_bytes()
    cut = data.draw(st.integers(0, len(good) - 1), label="cut")
    with pytest.raises(MalformedError):
        CompactRange.from_bytes(good[:cut])  # truncated
    extra = data.draw(st.binary(min_size=1, max_size=64), label="extra")
    with pytest.raises(MalformedError):
        CompactRange.from_bytes(good + extra)  # trailing bytes
    other = data.draw(st.integers(0, 2**64 - 1).filter(lambda n: n.bit_count() != size.bit_count()), label="size")
    with pytest.raises(MalformedError):
        CompactRange.from_bytes(other.to_bytes(8, "big") + good[8:])  # a size its hashes do not match


@FAST
@given(st.integers(1, 1000), st.integers(1, MAX_HEIGHT))
def test_a_node_not_aligned_to_the_size_is_refused(size: int, height: int) -> None:
    crange = CompactRange()
    crange.extend(leaves(0, size))
    if size % (1 << height) == 0:
        return
    with pytest.raises(MalformedError):
        crange.append_node(height, SHA256.root_of(leaves(size, size + (1 << height))))
    assert crange.root() == SHA256.root_of(leaves(0, size))  # nothing changed
