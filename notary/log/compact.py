"""Compact ranges: the right edge of an RFC 9162 tree, enough to extend it and compute its root at any size.

A compact range of ``size`` leaves holds, left to right, the roots of the perfect subtrees that cover leaves
``[0, size)``: one per set bit of ``size``, largest first, the split RFC 9162 §2.1.1 makes at the largest
power of two. Appending a leaf merges equal-height roots like a binary counter's carry; the root folds the
hashes right to left. ``O(log size)`` hashes, whatever the size of the tree. A compact range hashes with
its log's ``tree`` hash (``hashing.SHA256`` unless told otherwise), which the serialised form does not name.

The serialised form (``to_bytes``/``from_bytes``) is the size as 8 bytes big-endian followed by the hashes,
32 bytes each, in order; parsing accepts only that form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from notary.log.errors import MalformedError
from notary.log.hashing import HASH_SIZE, SHA256, Hash32, TreeHash

_SIZE_BYTES = 8


class CompactRange:
    """The roots of the perfect subtrees covering leaves [0, size), left to right (the right edge of an
    RFC 9162 tree, hashed with ``tree``): enough to extend the tree and compute its root at ``size``."""

    __slots__ = ("hashes", "size", "tree")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = (), tree: TreeHash = SHA256) -> None:
        if not 0 <= size < 1 << 8 * _SIZE_BYTES:
            raise MalformedError(f"a compact range's size must be in [0, 2^64), not {size}")
        if len(hashes) != size.bit_count():
            raise MalformedError(f"a compact range of size {size} holds {size.bit_count()} hashes, not {len(hashes)}")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise MalformedError(f"a compact range holds hashes of {HASH_SIZE} bytes")
        self.size = size
        self.hashes = [bytes(h) for h in hashes]
        self.tree = tree

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.hashes, self.tree)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf."""
        self.append_node(0, leaf_hash)

    def append_node(self, height: int, node_hash: bytes) -> None:
        """Add the complete subtree of ``2**height`` leaves starting at ``size`` (which it must be aligned to)."""
        if height < 0 or self.size & ((1 << height) - 1):
            raise MalformedError(f"a node of height {height} cannot start at leaf {self.size}")
        node, n = node_hash, self.size >> height
        children = self.tree.children
        while n & 1:
            node = children(self.hashes.pop(), node)
            n >>= 1
        self.hashes.append(node)
        self.size += 1 << height

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add the next leaves (``append`` in a loop, with the hashing inlined: this is the indexers' hot path)."""
        hashes, size, new = self.hashes, self.size, self.tree.new
        for leaf in leaf_hashes:
            node, n = leaf, size
            while n & 1:
                node = new(b"\x01" + hashes.pop() + node).digest()
                n >>= 1
            hashes.append(node)
            size += 1
        self.size = size

    def root(self) -> Hash32:
        """The Merkle tree hash of leaves [0, size) (RFC 9162 §2.1.1); EMPTY_ROOT for none."""
        return self.tree.fold_right(self.hashes) if self.hashes else self.tree.empty_root

    def to_bytes(self) -> bytes:
        """The size as 8 bytes big-endian, then the hashes in order, 32 bytes each."""
        return self.size.to_bytes(_SIZE_BYTES, "big") + b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes, tree: TreeHash = SHA256) -> CompactRange:
        """The compact range ``to_bytes`` wrote, to be extended with ``tree``; MalformedError for anything else."""
        if len(data) < _SIZE_BYTES or (len(data) - _SIZE_BYTES) % HASH_SIZE:
            raise MalformedError(
                f"a serialised compact range is 8 bytes of size and 32 bytes per hash, not {len(data)} bytes"
            )
        size = int.from_bytes(data[:_SIZE_BYTES], "big")
        return cls(size, [data[i : i + HASH_SIZE] for i in range(_SIZE_BYTES, len(data), HASH_SIZE)], tree)
