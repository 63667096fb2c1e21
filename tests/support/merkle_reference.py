"""A slow, obviously correct RFC 9162 §2.1 Merkle tree, straight from the RFC text; used only by tests.

MTH, PATH and PROOF/SUBPROOF recurse over the list of entries exactly as written in §2.1.1, §2.1.3.1 and
§2.1.4.1, with k the largest power of two smaller than n. The hash is named (``"sha256"``, ``"sm3"``) and
taken from ``hashlib.new`` on every call, apart from the fast code's own hashing; ``"sm3-python"`` is SM3 in
plain Python (``sm3_reference``), independent of OpenSSL and slow: for small trees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tests.support import sm3_reference


def hash_of(data: bytes, hash_name: str = "sha256") -> bytes:
    if hash_name == "sm3-python":
        return sm3_reference.sm3(data)
    return hashlib.new(hash_name, data).digest()


def leaf_hash(entry: bytes, hash_name: str = "sha256") -> bytes:
    return hash_of(b"\x00" + entry, hash_name)


def node_hash(left: bytes, right: bytes, hash_name: str = "sha256") -> bytes:
    return hash_of(b"\x01" + left + right, hash_name)


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: list[bytes], hash_name: str = "sha256") -> bytes:
    n = len(entries)
    if n == 0:
        return hash_of(b"", hash_name)
    if n == 1:
        return leaf_hash(entries[0], hash_name)
    k = split_point(n)
    return node_hash(mth(entries[:k], hash_name), mth(entries[k:], hash_name), hash_name)


def path(m: int, entries: list[bytes], hash_name: str = "sha256") -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*path(m, entries[:k], hash_name), mth(entries[k:], hash_name)]
    return [*path(m - k, entries[k:], hash_name), mth(entries[:k], hash_name)]


def proof(m: int, entries: list[bytes], hash_name: str = "sha256") -> list[bytes]:
    if m == 0 or m == len(entries):
        return []
    return subproof(m, entries, True, hash_name)


def subproof(m: int, entries: list[bytes], b: bool, hash_name: str = "sha256") -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [mth(entries, hash_name)]
    k = split_point(n)
    if m <= k:
        return [*subproof(m, entries[:k], b, hash_name), mth(entries[k:], hash_name)]
    return [*subproof(m - k, entries[k:], False, hash_name), mth(entries[:k], hash_name)]


def mth_of_hashes(leaf_hashes: Sequence[bytes], hash_name: str = "sha256") -> bytes:
    """MTH over leaves given by their leaf hashes (same recursion as ``mth``)."""
    n = len(leaf_hashes)
    if n == 0:
        return hash_of(b"", hash_name)
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return node_hash(mth_of_hashes(leaf_hashes[:k], hash_name), mth_of_hashes(leaf_hashes[k:], hash_name), hash_name)


def tiles(leaf_hashes: Sequence[bytes], hash_name: str = "sha256") -> dict[tuple[int, int], bytes]:
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
                mth_of_hashes(leaf_hashes[(n * 256 + i) * span : (n * 256 + i + 1) * span], hash_name)
                for i in range(min(256, count - n * 256))
            ]
            out[(level, n)] = b"".join(hashes)
        level += 1
    return out
