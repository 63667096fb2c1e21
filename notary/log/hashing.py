"""Merkle tree hashing of the audit log, RFC 9162 §2.1 (the same hashes as RFC 6962), over a chosen hash.

A log's tree hash H is fixed when the log is created: SHA-256 (:data:`SHA256`, the ``intl`` suite, RFC 9162's
own) or SM3 (:data:`SM3`, GB/T 32905, the ``sm`` suite); both give 32-byte hashes, so every wire format is
the same. A leaf hash is H(0x00 ‖ data), an interior hash H(0x01 ‖ left ‖ right), the empty tree's root H("").
A *node* ``(height, index)`` is the root of the complete subtree over the leaves
``[index·2^height, (index+1)·2^height)``; the tree of any size is built from complete nodes by promoting an
unpaired right-most node to the level above, which is exactly RFC 9162's split at the largest power of two.

The module-level functions (``hash_leaf``, ``root_of``, ...) and ``EMPTY_ROOT`` are SHA-256's and are
:data:`SHA256`'s own; :func:`tree_hash` names the instance a log's configuration asks for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NewType, Protocol, cast

from notary.log.errors import MalformedError, NotaryError

Hash32 = NewType("Hash32", bytes)

HASH_SIZE = 32


class HashObject(Protocol):
    """What a hash constructor returns: ``hashlib.sha256(data)`` and the like."""

    def digest(self) -> bytes: ...


#: A hash constructor: ``new(data).digest()`` is H(data).
HashNew = Callable[[bytes], HashObject]

_sha256 = hashlib.sha256
EMPTY_ROOT = Hash32(_sha256(b"").digest())


def hash_leaf(data: bytes) -> Hash32:
    """The leaf hash of ``data``: SHA-256(0x00 ‖ data)."""
    return cast(Hash32, _sha256(b"\x00" + data).digest())


def hash_children(left: bytes, right: bytes) -> Hash32:
    """The interior hash of two children: SHA-256(0x01 ‖ left ‖ right)."""
    return cast(Hash32, _sha256(b"\x01" + left + right).digest())


def _pair_up(level: Sequence[bytes], new: HashNew = _sha256) -> list[bytes]:
    """The hashes of the complete parents of ``level`` (an unpaired last hash is left out)."""
    return [new(b"\x01" + left + right).digest() for left, right in zip(level[::2], level[1::2], strict=False)]


def _root_of(leaf_hashes: Sequence[bytes], new: HashNew, empty_root: Hash32) -> Hash32:
    if not leaf_hashes:
        return empty_root
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        parents = _pair_up(level, new)
        if len(level) & 1:
            parents.append(level[-1])
        level = parents
    return cast(Hash32, bytes(level[0]))


def root_of(leaf_hashes: Sequence[bytes]) -> Hash32:
    """The Merkle Tree Hash over ``leaf_hashes`` (RFC 9162 §2.1.1); EMPTY_ROOT for none.

    Level by level: pair up the hashes, carry an unpaired last one to the level above.
    """
    return _root_of(leaf_hashes, _sha256, EMPTY_ROOT)


def _levels_of(hashes: Sequence[bytes], new: HashNew) -> list[list[Hash32]]:
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        levels.append(_pair_up(levels[-1], new))
    return cast(list[list[Hash32]], levels)


def levels_of(hashes: Sequence[bytes]) -> list[list[Hash32]]:
    """Every complete level above ``hashes``: level 0 is a copy of the input, level r holds the complete
    nodes of height r (pairs of level r-1); an unpaired last node is not promoted.
    """
    return _levels_of(hashes, _sha256)


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


def _fold_right(hashes: Sequence[bytes], new: HashNew) -> Hash32:
    acc = hashes[-1]
    for k in range(len(hashes) - 2, -1, -1):
        acc = new(b"\x01" + hashes[k] + acc).digest()
    return cast(Hash32, bytes(acc))


def fold_right(hashes: Sequence[bytes]) -> Hash32:
    """Hash complete-node roots together right to left: the root of the range they make up (one or more)."""
    return _fold_right(hashes, _sha256)


@dataclass(frozen=True, slots=True, eq=False)
class TreeHash:
    """The hash of one log's Merkle tree and the tree functions over it (see the module docstring).

    ``new`` is the raw constructor, for loops that inline the interior hash; the other fields are the
    module-level functions of the same name bound to this hash. Compare instances by ``name`` or identity.
    """

    name: str
    new: HashNew
    empty_root: Hash32
    leaf: Callable[[bytes], Hash32]
    children: Callable[[bytes, bytes], Hash32]
    root_of: Callable[[Sequence[bytes]], Hash32]
    levels_of: Callable[[Sequence[bytes]], list[list[Hash32]]]
    fold_right: Callable[[Sequence[bytes]], Hash32]

    def __repr__(self) -> str:
        return f"TreeHash({self.name!r})"


def _bind(name: str, new: HashNew, empty_root: Hash32) -> TreeHash:
    """The TreeHash of ``new`` (32-byte digests; ``empty_root`` is H("")), its functions bound to it."""

    def leaf(data: bytes) -> Hash32:
        return cast(Hash32, new(b"\x00" + data).digest())

    def children(left: bytes, right: bytes) -> Hash32:
        return cast(Hash32, new(b"\x01" + left + right).digest())

    return TreeHash(
        name=name,
        new=new,
        empty_root=empty_root,
        leaf=leaf,
        children=children,
        root_of=lambda leaf_hashes: _root_of(leaf_hashes, new, empty_root),
        levels_of=lambda hashes: _levels_of(hashes, new),
        fold_right=lambda hashes: _fold_right(hashes, new),
    )


def _sm3_constructor() -> HashNew:
    """SM3 through OpenSSL, copying one prototype object: ``hashlib.new("sm3")`` looks the digest up on
    every call and costs about twice as much as a copy. An OpenSSL built without SM3 leaves SHA-256 logs
    working: only hashing with SM3 fails, with NotaryError."""
    try:
        prototype = hashlib.new("sm3")
    except ValueError:

        def unavailable(data: bytes) -> HashObject:
            raise NotaryError("this Python's OpenSSL offers no SM3 (GB/T 32905), which a log of the sm suite needs")

        return unavailable
    copy = prototype.copy

    def sm3(data: bytes) -> HashObject:
        h = copy()
        h.update(data)
        return h

    return sm3


#: RFC 9162's tree hash, the ``intl`` suite's: its functions are the module-level ones.
SHA256 = TreeHash(
    name="sha256",
    new=_sha256,
    empty_root=EMPTY_ROOT,
    leaf=hash_leaf,
    children=hash_children,
    root_of=root_of,
    levels_of=levels_of,
    fold_right=fold_right,
)
#: SM3 (GB/T 32905), the ``sm`` suite's tree hash.
SM3 = _bind(
    "sm3",
    _sm3_constructor(),
    Hash32(bytes.fromhex("1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b")),  # SM3("")
)

_BY_NAME = {tree.name: tree for tree in (SHA256, SM3)}


def tree_hash(name: str) -> TreeHash:
    """The tree hash called ``name`` ("sha256" or "sm3"); MalformedError for any other name."""
    tree = _BY_NAME.get(name)
    if tree is None:
        known = ", ".join(repr(n) for n in _BY_NAME)
        raise MalformedError(f"unknown tree hash {name[:40]!r}: a log's tree hash is one of {known}")
    return tree
