"""Batched Merkle Patricia trie updates: a block's storage writes applied in one pass.

py-evm hands each changed storage slot to py-trie one by one. Every such write decodes the path from the root
to its leaf, re-encodes it and hashes every node on it, so a block of 600 contract transactions (about 5,600
slot writes) hashed about 24,000 nodes for its storage roots, a third of the time it took to seal. Here the
block's writes to one trie are sorted and applied together: each node on the union of their paths is read once,
and each node of the new trie is encoded and hashed once.

The trie is Ethereum's (Yellow Paper, appendix D): the same nodes, the same hashes, the same root as py-trie's
``HexaryTrie`` (``tests/property/test_trie_properties.py`` checks that property on random batches). Keys in one
trie must be prefix-free, which every trie of a block is: storage and account keys are 32-byte hashes, and
transaction and receipt keys are RLP-encoded indices. Nodes are content-addressed, so a decoded node is cached by
its hash for as long as the process lives (the 65,536 most recently decoded).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak
from trie.exceptions import MissingTrieNode

# A node as RLP decodes it: a list of 17 (branch) or 2 (leaf, extension) items. An item is bytes (a value, a
# 32-byte node hash, or b"" for none) or a list (a child node under 32 bytes, embedded in its parent).
Node = list[Any]
# A child slot while a batch is applied: bytes or an embedded list as stored, or a tuple ``(node,)`` holding a
# new node that is not encoded yet (it may still merge into its parent).
Ref = bytes | list[Any] | tuple[Node]

_TO_NIBBLES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_FROM_NIBBLES = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")
_CACHE_SIZE = 65_536
_decoded: dict[bytes, Node] = {}  # read without a lock (one dict lookup), filled and trimmed under one
_decoded_lock = threading.Lock()


def nibbles(key: bytes) -> bytes:
    """The key's nibbles, one per byte."""
    return key.hex().encode().translate(_TO_NIBBLES)


def _hp_encode(path: bytes, leaf: bool) -> bytes:
    """Hex-prefix encoding of a nibble path (Yellow Paper, appendix C)."""
    flag = 2 if leaf else 0
    prefixed = bytes((flag + 1,)) + path if len(path) % 2 else bytes((flag, 0)) + path
    return bytes.fromhex(prefixed.translate(_FROM_NIBBLES).decode())


def _hp_decode(encoded: bytes) -> tuple[bytes, bool]:
    """(nibble path, is a leaf) of a hex-prefix encoded path."""
    hexed = nibbles(encoded)
    flag = hexed[0]
    if flag > 3:
        raise ValueError(f"bad hex-prefix flag {flag}")
    return (hexed[1:] if flag & 1 else hexed[2:]), bool(flag & 2)


# -- RLP, for trie nodes only (bytes and nested lists of bytes) ----------------------------------------------


def _length_prefix(offset: int, length: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(encoded),)) + encoded


def encode(item: bytes | list[Any]) -> bytes:
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length_prefix(0x80, len(item)) + item
    payload = b"".join([encode(x) for x in item])
    return _length_prefix(0xC0, len(payload)) + payload


def _decode_at(data: bytes, start: int) -> tuple[bytes | list[Any], int]:
    first = data[start]
    if first < 0x80:
        return data[start : start + 1], start + 1
    if first < 0xB8:
        end = start + 1 + first - 0x80
        return data[start + 1 : end], end
    if first < 0xC0:
        size_len = first - 0xB7
        begin = start + 1 + size_len
        end = begin + int.from_bytes(data[start + 1 : begin], "big")
        return data[begin:end], end
    if first < 0xF8:
        begin, end = start + 1, start + 1 + first - 0xC0
    else:
        size_len = first - 0xF7
        begin = start + 1 + size_len
        end = begin + int.from_bytes(data[start + 1 : begin], "big")
    items = []
    while begin < end:
        item, begin = _decode_at(data, begin)
        items.append(item)
    if begin != end:
        raise ValueError("RLP list overruns its length")
    return items, end


def decode(data: bytes) -> Node:
    item, end = _decode_at(data, 0)
    if end != len(data) or not isinstance(item, list) or len(item) not in (2, 17):
        raise ValueError("not an encoded trie node")
    return item


# -- reading -------------------------------------------------------------------------------------------------


def _node_by_hash(db: Any, node_hash: bytes, root: bytes, key: bytes) -> Node:
    node = _decoded.get(node_hash)
    if node is not None:
        return node
    try:
        encoded = db[node_hash]
    except KeyError:
        raise MissingTrieNode(node_hash, root, key) from None  # type: ignore[arg-type]
    node = decode(encoded)
    with _decoded_lock:
        _decoded[node_hash] = node
        if len(_decoded) > _CACHE_SIZE:
            del _decoded[next(iter(_decoded))]  # the oldest
    return node


def get(db: Any, root: bytes, key: bytes) -> bytes:
    """The value under ``key`` in the trie at ``root``; b"" if there is none (as py-trie answers)."""
    if root == BLANK_ROOT_HASH:
        return b""
    node: Node | None = _node_by_hash(db, root, root, key)
    path = nibbles(key)
    while node is not None:
        if len(node) == 17:
            if not path:
                return bytes(node[16])
            child = node[path[0]]
            path = path[1:]
        else:
            node_path, leaf = _hp_decode(node[0])
            if leaf:
                return bytes(node[1]) if path == node_path else b""
            if not path.startswith(node_path):
                return b""
            child = node[1]
            path = path[len(node_path) :]
        if child == b"":
            return b""
        node = child if isinstance(child, list) else _node_by_hash(db, child, root, key)
    return b""


def prove(db: Any, root: bytes, key: bytes) -> list[bytes]:
    """The Merkle proof of ``key`` in the trie at ``root``, as EIP-1186 (``eth_getProof``) and geth give it: the
    RLP-encoded nodes on the key's path, root first, each one its parent names by hash (a node under 32 bytes is
    embedded in its parent, so it is not listed apart). The path ends at the key's leaf, or, for a key that is not
    in the trie, at the node where the key's path leaves the trie, which proves its absence. The empty trie has
    no nodes: its proof is empty. A node that is not in ``db`` raises py-trie's ``MissingTrieNode``."""
    if root == BLANK_ROOT_HASH:
        return []
    proof: list[bytes] = []
    ref: bytes | list[Any] = root
    path = nibbles(key)
    while True:
        if isinstance(ref, list):
            node = ref
        else:
            try:
                encoded = bytes(db[ref])
            except KeyError:
                raise MissingTrieNode(ref, root, key) from None  # type: ignore[arg-type]
            proof.append(encoded)
            node = decode(encoded)
        if len(node) == 17:
            if not path:
                return proof
            ref, path = node[path[0]], path[1:]
        else:
            node_path, leaf = _hp_decode(node[0])
            if leaf or not path.startswith(node_path):
                return proof
            ref, path = node[1], path[len(node_path) :]
        if ref == b"":
            return proof


# -- writing -------------------------------------------------------------------------------------------------


class _Batch:
    """One batch of changes applied to one trie; new nodes go to ``db`` as they are finished."""

    def __init__(self, db: MutableMapping[bytes, bytes], root: bytes) -> None:
        self.db = db
        self.root = root

    def load(self, ref: Ref) -> Node | None:
        if isinstance(ref, tuple):
            return ref[0]
        if isinstance(ref, list):
            return ref
        if ref == b"":
            return None
        return _node_by_hash(self.db, ref, self.root, b"")

    def ref(self, node: Node) -> bytes | Node:
        """How a parent refers to ``node``: embedded when its encoding is under 32 bytes, else by hash."""
        encoded = encode(node)
        if len(encoded) < 32:
            return node
        node_hash = keccak(encoded)
        self.db[node_hash] = encoded
        return node_hash

    def finish(self, slot: Ref) -> bytes | Node:
        return self.ref(slot[0]) if isinstance(slot, tuple) else slot

    def prefix(self, path: bytes, node: Node | None) -> Node | None:
        """``node`` moved down under ``path``: paths of leaves and extensions merge, a branch gets an extension."""
        if node is None or not path:
            return node
        if len(node) == 17:
            return [_hp_encode(path, False), self.ref(node)]
        node_path, leaf = _hp_decode(node[0])
        return [_hp_encode(path + node_path, leaf), node[1]]

    def build(self, items: list[tuple[bytes, bytes]]) -> Node | None:
        """A new subtrie holding ``items`` (sorted nibble paths, no deletions)."""
        if not items:
            return None
        if len(items) == 1:
            return [_hp_encode(items[0][0], True), items[0][1]]
        shared = _shared_prefix(items[0][0], items[-1][0])
        if shared:
            return self.prefix(items[0][0][:shared], self.build([(p[shared:], v) for p, v in items]))
        slots: list[Ref] = [b""] * 16
        for nibble, group in _by_first_nibble(items):
            slots[nibble] = (self.build(group),)  # type: ignore[assignment]
        return [self.finish(s) for s in slots] + [b""]

    def update(self, node: Node | None, changes: list[tuple[bytes, bytes | None]]) -> Node | None:
        """``node`` with ``changes`` (sorted nibble paths relative to it; None deletes) applied."""
        if node is None:
            return self.build([(p, v) for p, v in changes if v is not None])
        if len(node) == 17:
            if node[16] != b"":
                raise ValueError("branch nodes with values are not supported: keys must be prefix-free")
            return self.update_branch(list(node[:16]), changes)
        path, leaf = _hp_decode(node[0])
        if leaf:
            merged: dict[bytes, bytes | None] = {path: bytes(node[1])}
            merged.update(changes)
            return self.build(sorted((p, v) for p, v in merged.items() if v is not None))
        if all(p.startswith(path) for p, _ in changes):
            child = self.update(self.load(node[1]), [(p[len(path) :], v) for p, v in changes])
            return self.prefix(path, child)
        # Some change leaves the extension's path: open it into a branch at its first nibble.
        slots: list[Ref] = [b""] * 16
        slots[path[0]] = ([_hp_encode(path[1:], False), node[1]],) if len(path) > 1 else node[1]
        return self.update_branch(slots, changes)

    def update_branch(self, slots: list[Ref], changes: list[tuple[bytes, bytes | None]]) -> Node | None:
        """The branch of child ``slots`` with ``changes`` applied, collapsed if fewer than two children remain."""
        for nibble, group in _by_first_nibble(changes):
            child = self.update(self.load(slots[nibble]), group)
            slots[nibble] = b"" if child is None else (child,)
        live = [n for n in range(16) if slots[n] != b""]
        if not live:
            return None
        if len(live) == 1:
            return self.prefix(bytes(live[:1]), self.load(slots[live[0]]))
        return [self.finish(s) for s in slots] + [b""]


def _shared_prefix(a: bytes, b: bytes) -> int:
    """How many leading nibbles ``a`` and ``b`` share (for sorted paths, all paths between them share as many)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _by_first_nibble(items: list[tuple[bytes, Any]]) -> Iterable[tuple[int, list[tuple[bytes, Any]]]]:
    """Runs of sorted ``items`` sharing their first nibble, that nibble stripped."""
    start, count = 0, len(items)
    while start < count:
        path = items[start][0]
        if not path:
            raise ValueError("a key ends where others go on: keys must be prefix-free")
        nibble = path[0]
        end = start + 1
        while end < count and items[end][0][:1] == path[:1]:
            end += 1
        yield nibble, [(p[1:], v) for p, v in items[start:end]]
        start = end


def apply(db: MutableMapping[bytes, bytes], root: bytes, changes: dict[bytes, bytes | None]) -> bytes:
    """The root of the trie at ``root`` with ``changes`` (key to value; None or b"" deletes) applied.

    Every node of the new trie that is not already in ``db`` is written to it; nothing is deleted."""
    if not changes:
        return root
    batch = _Batch(db, root)
    ordered = sorted((nibbles(k), v or None) for k, v in changes.items())
    node = batch.update(batch.load(root) if root != BLANK_ROOT_HASH else None, ordered)
    if node is None:
        return BLANK_ROOT_HASH
    encoded = encode(node)
    root_hash = keccak(encoded)
    db[root_hash] = encoded
    return root_hash


def root_and_nodes(values: Iterable[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """The root and nodes of a block's transaction, receipt or withdrawal trie (keys: RLP of the index)."""
    nodes: dict[bytes, bytes] = {}
    changes = {encode(i.to_bytes((i.bit_length() + 7) // 8, "big")): v for i, v in enumerate(values)}
    return apply(nodes, BLANK_ROOT_HASH, changes), nodes  # type: ignore[arg-type]


class BatchTrie:
    """The part of py-trie's ``HexaryTrie`` that py-evm's storage lookup uses, with writes held until the root is
    asked for and then applied in one batch."""

    def __init__(self, db: MutableMapping[bytes, bytes], root_hash: bytes) -> None:
        self.db = db
        self._root = root_hash
        self._pending: dict[bytes, bytes | None] = {}

    @property
    def root_hash(self) -> bytes:
        if self._pending:
            self._root = apply(self.db, self._root, self._pending)
            self._pending = {}
        return self._root

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            return self._pending[key] or b""
        return get(self.db, self._root, key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value or None

    def __delitem__(self, key: bytes) -> None:
        self._pending[key] = None

    def __contains__(self, key: bytes) -> bool:
        return self[key] != b""
