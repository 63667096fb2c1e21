"""Tiles and entry bundles of the audit log, C2SP tlog-tiles.

A tile at level L, index n holds the hashes of the complete nodes of height 8L with indices n·256 ..
n·256+255 (256 hashes, 8,192 bytes, when full; fewer at the right edge: a *partial* tile, at path suffix
``.p/<width>``). The levels between tiles are recomputed by hashing the tile's hashes, so node
``(height, index)`` sits at internal level ``height % 8`` of tile ``(height // 8, index >> (8 - height % 8))``.
Entry bundles hold the entries of one level-0 tile, each as a big-endian uint16 length and the bytes.

A store may keep, beside each full tile, the tile *with its inner levels* (:func:`tile_with_levels`: the 256
hashes, then the 254 of internal levels 1 to 7, level by level) so a proof reading that tile hashes nothing.
That is not the tile format: ``/tile/`` serves the 256 hashes only. Inner levels are hashed with the log's
``tree`` hash (``hashing.SHA256`` unless told otherwise); tile bytes are the same whatever the hash.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from notary.log.errors import MalformedError
from notary.log.hashing import HASH_SIZE, SHA256, TreeHash

TILE_HEIGHT = 8
TILE_WIDTH = 256
MAX_LEVEL = 63
MAX_INDEX = 2**63 - 1
MAX_ENTRY_SIZE = 0xFFFF
#: A full tile with its inner levels: levels 0..7 of the tile, 256 + 128 + ... + 2 = 510 hashes.
TILE_WITH_LEVELS_BYTES = (2 * TILE_WIDTH - 2) * HASH_SIZE
#: Where internal level r starts in those bytes, r = 0..8 (level r holds 256 >> r hashes).
_LEVEL_OFFSETS = (0, *(HASH_SIZE * (2 * TILE_WIDTH - (TILE_WIDTH >> r)) for r in range(TILE_HEIGHT)))

_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/){0,6}[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


@dataclass(frozen=True, slots=True)
class TileAddress:
    """A Merkle tree tile: ``width`` hashes (256 when full) of level ``level``, tile ``index``."""

    level: int
    index: int
    width: int = TILE_WIDTH


@dataclass(frozen=True, slots=True)
class EntriesAddress:
    """An entry bundle: ``width`` entries (256 when full) of the level-0 tile ``index``."""

    index: int
    width: int = TILE_WIDTH


def _encode_index(index: int) -> str:
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + groups[-1:])


def _check_address(index: int, width: int) -> None:
    if not 0 <= index <= MAX_INDEX:
        raise MalformedError(f"tile index {index} out of range 0..2^63-1")
    if not 1 <= width <= TILE_WIDTH:
        raise MalformedError(f"tile width {width} out of range 1..{TILE_WIDTH}")


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """The path of a tile, e.g. ``tile/0/x001/234`` (full) or ``tile/1/x123/x456/789.p/42`` (partial)."""
    if not 0 <= level <= MAX_LEVEL:
        raise MalformedError(f"tile level {level} out of range 0..{MAX_LEVEL}")
    _check_address(index, width)
    return f"tile/{level}/{_encode_index(index)}{_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """The path of an entry bundle, e.g. ``tile/entries/x001/234.p/5``."""
    _check_address(index, width)
    return f"tile/entries/{_encode_index(index)}{_suffix(width)}"


def parse_tile_path(path: str) -> TileAddress | EntriesAddress:
    """The tile or entry bundle a canonical path names (no leading slash, starts with ``tile/``)."""
    match = _PATH.fullmatch(path)
    if match is None:
        raise MalformedError(f"not a canonical tile path: {path[:100]!r}")
    kind, encoded, width_text = match.groups()
    index = int(encoded.replace("x", "").replace("/", ""))
    width = TILE_WIDTH if width_text is None else int(width_text)
    partial_too_wide = width_text is not None and width >= TILE_WIDTH
    if index > MAX_INDEX or partial_too_wide or _encode_index(index) != encoded:
        raise MalformedError(f"not a canonical tile path: {path[:100]!r}")
    if kind == "entries":
        return EntriesAddress(index, width)
    level = int(kind)
    if level > MAX_LEVEL:
        raise MalformedError(f"tile level {level} out of range 0..{MAX_LEVEL}: {path[:100]!r}")
    return TileAddress(level, index, width)


def tile_for_node(height: int, index: int) -> tuple[int, int, int, int]:
    """Where node ``(height, index)`` lives: (tile level, tile index, internal level r, position in level r)."""
    level, r = divmod(height, TILE_HEIGHT)
    shift = TILE_HEIGHT - r
    return level, index >> shift, r, index & ((1 << shift) - 1)


def tile_widths(size: int, level: int) -> tuple[int, int]:
    """For a tree of ``size`` leaves: (number of full tiles at ``level``, width of the partial tile or 0)."""
    if size < 0 or not 0 <= level <= MAX_LEVEL:
        raise MalformedError(f"no tiles at level {level} for tree size {size}")
    count = size >> (TILE_HEIGHT * level)
    return count // TILE_WIDTH, count % TILE_WIDTH


def tiles_for_size(size: int) -> list[TileAddress]:
    """Every tile of a tree of ``size`` leaves, level by level: the full tiles, then the partial one if any."""
    tiles: list[TileAddress] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        full, partial = tile_widths(size, level)
        tiles.extend(TileAddress(level, n) for n in range(full))
        if partial:
            tiles.append(TileAddress(level, full, partial))
        level += 1
    return tiles


def format_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """The bundle bytes: for each entry, its length as a big-endian uint16, then the entry."""
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise MalformedError(f"entry of {len(entry)} bytes exceeds {MAX_ENTRY_SIZE}")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; MalformedError on a truncated entry or more than 256 entries."""
    entries = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise MalformedError(f"entry bundle truncated in a length prefix at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > end:
            raise MalformedError(f"entry bundle truncated: entry of {length} bytes at byte {pos - 2}")
        entries.append(bytes(data[pos : pos + length]))
        pos += length
        if len(entries) > TILE_WIDTH:
            raise MalformedError(f"entry bundle holds more than {TILE_WIDTH} entries")
    return entries


def split_tile(data: bytes) -> list[bytes]:
    """The hashes of a tile's bytes (1 to 256 hashes of 32 bytes)."""
    if not data or len(data) % HASH_SIZE or len(data) > TILE_WIDTH * HASH_SIZE:
        raise MalformedError(f"tile of {len(data)} bytes is not 1 to {TILE_WIDTH} hashes of {HASH_SIZE} bytes")
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


def tile_with_levels(levels: Sequence[Sequence[bytes]]) -> bytes:
    """A full tile followed by its inner levels, from ``levels_of`` of its 256 hashes: levels 0 to 7, joined."""
    if len(levels) != TILE_HEIGHT + 1 or len(levels[0]) != TILE_WIDTH:
        raise MalformedError("inner levels are kept for full tiles only")
    return b"".join(b"".join(levels[r]) for r in range(TILE_HEIGHT))


def _levels_bytes(data: bytes, tree: TreeHash) -> tuple[bytes, ...]:
    """Internal levels 0..7 of a tile, each as the bytes of its hashes: sliced from a tile with its inner levels
    (nothing hashed), else computed from a plain tile's hashes."""
    if len(data) == TILE_WITH_LEVELS_BYTES:
        at = _LEVEL_OFFSETS
        return tuple(data[at[r] : at[r + 1]] for r in range(TILE_HEIGHT))
    return tuple(b"".join(level) for level in tree.levels_of(split_tile(data))[:TILE_HEIGHT])


class TileNodeReader:
    """A NodeReader backed by tiles, with a bounded LRU cache of each tile's internal levels.

    ``read_tile(level, index)`` returns the stored tile's bytes, partial or full, or a full tile with its inner
    levels (:func:`tile_with_levels`), whose levels are then not recomputed. A cached tile too narrow for a
    requested node (it was partial when cached and the tree has grown) is read again. The cache holds bytes
    (16 KiB per full tile); a node is sliced from them when asked for. A plain tile's levels are hashed with
    ``tree``.
    """

    __slots__ = ("_cache", "_capacity", "_read_tile", "_tree")

    def __init__(self, read_tile: Callable[[int, int], bytes], cache_size: int = 4096, tree: TreeHash = SHA256) -> None:
        if cache_size < 1:
            raise MalformedError(f"cache size {cache_size} must be at least 1")
        self._read_tile = read_tile
        self._capacity = cache_size
        self._tree = tree
        self._cache: OrderedDict[int, tuple[int, tuple[bytes, ...]]] = OrderedDict()

    def invalidate(self, level: int, index: int) -> None:
        """Forget the cached tile ``(level, index)`` (e.g. after it was rewritten)."""
        self._cache.pop(index << 6 | level, None)

    def read_nodes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        cache = self._cache
        out: list[bytes] = []
        for height, index in nodes:
            r = height & 7
            shift = 8 - r
            tile = index >> shift
            pos = index & ((1 << shift) - 1)
            key = tile << 6 | height >> 3
            entry = cache.get(key)
            if entry is None or (pos + 1) << r > entry[0]:
                entry = self._load(height >> 3, tile, (pos + 1) << r)
            else:
                cache.move_to_end(key)
            at = pos * HASH_SIZE
            out.append(entry[1][r][at : at + HASH_SIZE])
        return out

    def _load(self, level: int, index: int, need: int) -> tuple[int, tuple[bytes, ...]]:
        data = bytes(self._read_tile(level, index))
        levels = _levels_bytes(
            data, self._tree
        )  # MalformedError unless 1 to 256 hashes, or a full tile with its levels
        width = len(levels[0]) // HASH_SIZE
        if width < need:
            raise MalformedError(f"tile {level}/{index} has {width} hashes, a requested node needs {need}")
        entry = (width, levels)
        cache = self._cache
        cache[index << 6 | level] = entry
        cache.move_to_end(index << 6 | level)
        while len(cache) > self._capacity:
            cache.popitem(last=False)
        return entry
