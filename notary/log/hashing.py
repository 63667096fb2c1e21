"""Merkle tree hashing of the audit log, RFC 9162 §2.1 (the same hashes as RFC 6962).

A leaf hash is SHA-256(0x00 ‖ data), an interior hash SHA-256(0x01 ‖ left ‖ right), the empty tree's root
SHA-256(""). A *node* ``(height, index)`` is the root of the complete subtree over the leaves
``[index·2^height, (index+1)·2^height)``; the tree of any size is built from complete nodes by promoting an
unpaired right-most node to the level above, which is exactly RFC 9162's split at the largest power of two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NewType, cast

Hash32 = NewType("Hash32", bytes)
LeafIndex = NewType("LeafIndex", int)
TreeSize = NewType("TreeSize", int)

HASH_SIZE = 32

_sha256 = hashlib.sha256
EMPTY_ROOT = Hash32(_sha256(b"").digest())


def hash_leaf(data: bytes) -> Hash32:
    """The leaf hash of ``data``: SHA-256(0x00 ‖ data)."""
    return cast(Hash32, _sha256(b"\x00" + data).digest())


def hash_children(left: bytes, right: bytes) -> Hash32:
    """The interior hash of two children: SHA-256(0x01 ‖ left ‖ right)."""
    return cast(Hash32, _sha256(b"\x01" + left + right).digest())


def _pair_up(level: Sequence[bytes]) -> list[bytes]:
    """The hashes of the complete parents of ``level`` (an unpaired last hash is left out)."""
    sha = _sha256
    return [sha(b"\x01" + left + right).digest() for left, right in zip(level[::2], level[1::2], strict=False)]


def root_of(leaf_hashes: Sequence[bytes]) -> Hash32:
    """The Merkle Tree Hash over ``leaf_hashes`` (RFC 9162 §2.1.1); EMPTY_ROOT for none.

    Level by level: pair up the hashes, carry an unpaired last one to the level above.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        parents = _pair_up(level)
        if len(level) & 1:
            parents.append(level[-1])
        level = parents
    return cast(Hash32, bytes(level[0]))


def levels_of(hashes: Sequence[bytes]) -> list[list[Hash32]]:
    """Every complete level above ``hashes``: level 0 is a copy of the input, level r holds the complete
    nodes of height r (pairs of level r-1); an unpaired last node is not promoted.
    """
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        levels.append(_pair_up(levels[-1]))
    return cast(list[list[Hash32]], levels)


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The complete nodes, left to right, that make up the leaves ``[start, end)``.

    ``start`` must be a multiple of a power of two larger than ``end - start`` (0 always is): the range is
    then the left-aligned part of one subtree and splits like RFC 9162's MTH, largest power of two first.
    """
    nodes = []
    width = end - start
    pos = start
    for height in range(width.bit_length() - 1, -1, -1):
        if width >> height & 1:
            nodes.append((height, pos >> height))
            pos += 1 << height
    return nodes


def fold_right(hashes: Sequence[bytes]) -> Hash32:
    """Hash complete-node roots together right to left: the root of the range they make up (one or more)."""
    sha = _sha256
    acc = hashes[-1]
    for k in range(len(hashes) - 2, -1, -1):
        acc = sha(b"\x01" + hashes[k] + acc).digest()
    return cast(Hash32, bytes(acc))
