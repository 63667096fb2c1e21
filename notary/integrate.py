"""Integration: appending leaf hashes to the tree's right edge, laid out as C2SP tlog-tiles.

The tree is stored as tiles only (tile level L holds the hashes of height 8L; 256 per full tile), so the
store's size is about 32 bytes per leaf plus 1/256 of that per level above, and a proof needs one tile read
per 8 levels. :class:`TileWriter` keeps the current partial tile of each level in memory (at most 8 KiB per
level) and answers, for each appended run of leaf hashes, which tiles changed and their new bytes. A tile that
becomes full also yields its root, which is the next node of the level above, and its inner levels (the hashes
computed on the way to that root, kept so proofs never recompute them; see ``notary.log.tiles.tile_with_levels``),
all hashed with the log's ``tree`` hash (SHA-256 unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from notary.log.hashing import HASH_SIZE, SHA256, TreeHash
from notary.log.tiles import TILE_HEIGHT, TILE_WIDTH, split_tile, tile_with_levels

TILE_BYTES = TILE_WIDTH * HASH_SIZE


class TileWriter:
    """The right edge of a tree of ``size`` leaves: ``edge[L]`` is the partial tile of level L (maybe empty)."""

    __slots__ = ("_edge", "_tree", "size")

    def __init__(self, size: int, edge: dict[int, bytes], tree: TreeHash = SHA256) -> None:
        for level, data in edge.items():
            expected = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH * HASH_SIZE
            if len(data) != expected:
                raise AssertionError(f"edge tile of level {level} holds {len(data)} bytes, expected {expected}")
        self.size = size
        self._tree = tree
        self._edge = {level: data for level, data in edge.items() if data}

    def copy(self) -> TileWriter:
        return TileWriter(self.size, dict(self._edge), self._tree)

    def append(self, leaf_hashes: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
        """Append leaf hashes; return the tiles that changed, keyed by (level, index), with their full bytes."""
        return self.append_levels(leaf_hashes)[0]

    def append_levels(
        self, leaf_hashes: Sequence[bytes]
    ) -> tuple[dict[tuple[int, int], bytes], dict[tuple[int, int], bytes]]:
        """Like :meth:`append`, and also each tile that became full with its inner levels, by (level, index)."""
        changed: dict[tuple[int, int], bytes] = {}
        full: dict[tuple[int, int], bytes] = {}
        nodes = b"".join(leaf_hashes)
        level = 0
        levels_of = self._tree.levels_of
        while nodes:
            count = self.size >> (TILE_HEIGHT * level)  # complete nodes of this level before the append
            index = count // TILE_WIDTH
            buf = self._edge.get(level, b"") + nodes
            promoted: list[bytes] = []
            start = 0
            while len(buf) - start >= TILE_BYTES:
                tile = buf[start : start + TILE_BYTES]
                changed[(level, index)] = tile
                levels = levels_of(split_tile(tile))  # the same hashing as the tile's root alone
                full[(level, index)] = tile_with_levels(levels)
                promoted.append(levels[TILE_HEIGHT][0])
                start += TILE_BYTES
                index += 1
            rest = buf[start:]
            if rest:
                changed[(level, index)] = rest
                self._edge[level] = rest
            else:
                self._edge.pop(level, None)
            nodes = b"".join(promoted)
            level += 1
        self.size += len(leaf_hashes)
        return changed, full
