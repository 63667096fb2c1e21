"""A slow, obviously correct RFC 9162 §2.1 Merkle tree, straight from the RFC text; used only by tests.

MTH, PATH and PROOF/SUBPROOF recurse over the list of entries exactly as written in §2.1.1, §2.1.3.1 and
§2.1.4.1, with k the largest power of two smaller than n.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(entries[0])
    k = split_point(n)
    return node_hash(mth(entries[:k]), mth(entries[k:]))


def path(m: int, entries: list[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*path(m, entries[:k]), mth(entries[k:])]
    return [*path(m - k, entries[k:]), mth(entries[:k])]


def proof(m: int, entries: list[bytes]) -> list[bytes]:
    if m == 0 or m == len(entries):
        return []
    return subproof(m, entries, True)


def subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries)]
    k = split_point(n)
    if m <= k:
        return [*subproof(m, entries[:k], b), mth(entries[k:])]
    return [*subproof(m - k, entries[k:], False), mth(entries[:k])]


def mth_of_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaves given by their leaf hashes (same recursion as ``mth``)."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return node_hash(mth_of_hashes(leaf_hashes[:k]), mth_of_hashes(leaf_hashes[k:]))


def tiles(leaf_hashes: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every tile (full or partial) of the tree, by the C2SP tlog-tiles formula: hash i of tile n at level l
    is MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]), for each whole such range inside the tree.
    """
    out: dict[tuple[int, int], bytes] = {}
    size = len(leaf_hashes)
    level = 0
    while size // 256**level:
        span = 256**level
        count = size // span
        for n in range((count + 255) // 256):
            hashes = [
                mth_of_hashes(leaf_hashes[(n * 256 + i) * span : (n * 256 + i + 1) * span])
                for i in range(min(256, count - n * 256))
            ]
            out[(level, n)] = b"".join(hashes)
        level += 1
    return out
