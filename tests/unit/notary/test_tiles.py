"""C2SP tlog-tiles: paths, tile arithmetic, entry bundles, and a tile-backed NodeReader that must give the
same proofs as the in-memory one, under each tree hash."""

from __future__ import annotations

import pytest

from notary.log.errors import MalformedError
from notary.log.hashing import SHA256, TreeHash
from notary.log.proof import MemoryNodeReader, prove_consistency, prove_inclusion, root_at
from notary.log.tiles import (
    EntriesAddress,
    TileAddress,
    TileNodeReader,
    entries_path,
    format_entry_bundle,
    parse_entry_bundle,
    parse_tile_path,
    tile_for_node,
    tile_path,
    tile_widths,
    tiles_for_size,
)
from tests.support import merkle_reference as ref
from tests.support.tree_hashes import each_tree


def leaf_hashes(n: int, tree: TreeHash = SHA256) -> list[bytes]:
    return [tree.leaf(i.to_bytes(4, "big")) for i in range(n)]


def build_tiles(hashes: list[bytes], tree: TreeHash = SHA256) -> dict[tuple[int, int], bytes]:
    """Every tile of the tree over ``hashes`` (fast: from levels_of, checked against the reference below)."""
    levels = tree.levels_of(hashes)
    out = {}
    for level in range(0, len(levels), 8):
        base = levels[level]
        for n in range(0, len(base), 256):
            out[(level // 8, n // 256)] = b"".join(base[n : n + 256])
    return out


class TileStore:
    """Tiles in a dict, counting reads."""

    def __init__(self, tiles: dict[tuple[int, int], bytes]) -> None:
        self.tiles = tiles
        self.reads: list[tuple[int, int]] = []

    def read_tile(self, level: int, index: int) -> bytes:
        self.reads.append((level, index))
        return self.tiles[(level, index)]


# Paths ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "address"),
    [
        ("tile/0/000", TileAddress(0, 0)),
        ("tile/0/x001/234", TileAddress(0, 1234)),
        ("tile/0/x001/x234/067", TileAddress(0, 1234067)),
        ("tile/1/x123/x456/789.p/42", TileAddress(1, 123456789, 42)),
        ("tile/63/999.p/255", TileAddress(63, 999, 255)),
        ("tile/entries/x001/234.p/5", EntriesAddress(1234, 5)),
        ("tile/entries/000", EntriesAddress(0)),
    ],
)
def test_tile_paths_round_trip(path: str, address: TileAddress | EntriesAddress) -> None:
    assert parse_tile_path(path) == address
    if isinstance(address, TileAddress):
        assert tile_path(address.level, address.index, address.width) == path
    else:
        assert entries_path(address.index, address.width) == path


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/000",
        "tile/0/000/",
        "tile/0/0",
        "tile/0/0000",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/x000/001",
        "tile/0/001/234",
        "tile/0/x1/234",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/x009/x223/x372/x036/x854/x775/808",
        "tile/0/x999/x999/x999/x999/x999/x999/999",
        "tile/0/x001/x002/x003/x004/x005/x006/x007/008",
        "tile/entry/000",
        "tile/0/０００",
        "tile/0/000\n",
        "",
    ],
)
def test_parse_tile_path_refuses_non_canonical(path: str) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(path)


def test_index_just_below_the_cap_is_accepted() -> None:
    assert parse_tile_path("tile/0/x009/x223/x372/x036/x854/x775/807") == TileAddress(0, 2**63 - 1)


def test_tile_path_refuses_out_of_range() -> None:
    for args in [(64, 0, 256), (-1, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257), (0, 2**64, 256)]:
        with pytest.raises(MalformedError):
            tile_path(*args)
    with pytest.raises(MalformedError):
        entries_path(0, 0)


# Tile arithmetic -----------------------------------------------------------------------------------------


def test_tiles_for_size_examples_from_the_spec() -> None:
    tiles = tiles_for_size(70_000)
    assert tiles[:273] == [TileAddress(0, n) for n in range(273)]
    assert tiles[273:] == [TileAddress(0, 273, 112), TileAddress(1, 0), TileAddress(1, 1, 17), TileAddress(2, 0, 1)]
    assert tiles_for_size(256) == [TileAddress(0, 0), TileAddress(1, 0, 1)]
    assert tiles_for_size(0) == []
    assert tile_widths(70_000, 1) == (1, 17)
    assert tile_widths(70_000, 3) == (0, 0)


def test_tiles_for_size_lists_exactly_the_tiles_of_the_tree() -> None:
    for size in [1, 255, 256, 257, 600, 65_536, 65_537]:
        tiles = build_tiles(leaf_hashes(size))
        listed = {(t.level, t.index): t.width for t in tiles_for_size(size)}
        assert listed == {key: len(data) // 32 for key, data in tiles.items()}


@each_tree
def test_build_tiles_agrees_with_the_spec_formula(tree: TreeHash) -> None:
    hashes = leaf_hashes(600, tree)
    assert build_tiles(hashes, tree) == ref.tiles(hashes, tree.name)


@each_tree
def test_tile_for_node_locates_the_hash(tree: TreeHash) -> None:
    hashes = leaf_hashes(70_000, tree)
    levels = tree.levels_of(hashes)
    tiles = build_tiles(hashes, tree)
    for height, index in [(0, 0), (0, 69_999), (3, 17), (7, 272), (8, 0), (8, 272), (9, 100), (15, 1), (16, 0)]:
        level, tile, r, pos = tile_for_node(height, index)
        tile_hashes = [tiles[(level, tile)][i : i + 32] for i in range(0, len(tiles[(level, tile)]), 32)]
        assert tree.levels_of(tile_hashes)[r][pos] == levels[height][index]
    assert tile_for_node(9, 300) == (1, 2, 1, 44)


# Entry bundles -------------------------------------------------------------------------------------------


def test_entry_bundle_round_trips() -> None:
    entries = [b"", b"a", b"\x00" * 300, b"z" * 65_535]
    data = format_entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert parse_entry_bundle(data) == entries
    assert format_entry_bundle(parse_entry_bundle(data)) == data
    assert parse_entry_bundle(b"") == []


def test_entry_bundle_refusals() -> None:
    with pytest.raises(MalformedError):
        format_entry_bundle([b"x" * 65_536])
    for data in [b"\x00", b"\x00\x02a", b"\x00\x01ab", b"\x00\x01a\x00"]:
        with pytest.raises(MalformedError):
            parse_entry_bundle(data)
    with pytest.raises(MalformedError, match="more than 256"):
        parse_entry_bundle(b"\x00\x00" * 257)


# TileNodeReader ------------------------------------------------------------------------------------------


@each_tree
@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 513, 1000, 65_536, 66_000])
def test_tile_reader_gives_the_same_proofs_as_memory(tree: TreeHash, size: int) -> None:
    hashes = leaf_hashes(size, tree)
    memory = MemoryNodeReader(hashes, tree)
    tiled = TileNodeReader(TileStore(build_tiles(hashes, tree)).read_tile, tree=tree)
    probes = sorted({0, 1, size // 3, size // 2, size - 2, size - 1} & set(range(size)))
    assert root_at(size, tiled, tree) == root_at(size, memory, tree) == tree.root_of(hashes)
    for index in probes:
        assert prove_inclusion(index, size, tiled, tree) == prove_inclusion(index, size, memory, tree)
        assert prove_consistency(index, size, tiled, tree) == prove_consistency(index, size, memory, tree)
        if index:
            assert root_at(index, tiled, tree) == root_at(index, memory, tree)


def test_tile_reader_rereads_a_partial_tile_after_growth() -> None:
    hashes = leaf_hashes(600)
    store = TileStore(build_tiles(hashes[:300]))
    reader = TileNodeReader(store.read_tile)
    assert prove_inclusion(299, 300, reader) == prove_inclusion(299, 300, MemoryNodeReader(hashes[:300]))
    assert store.reads.count((0, 1)) == 1
    store.tiles = build_tiles(hashes)  # the tree grew: tile 0/1 is now full, tile 1/0 has width 2
    memory = MemoryNodeReader(hashes)
    assert prove_inclusion(299, 600, reader) == prove_inclusion(299, 600, memory)
    assert prove_consistency(300, 600, reader) == prove_consistency(300, 600, memory)
    assert store.reads.count((0, 1)) == 2
    assert root_at(600, reader) == root_at(600, memory)


def test_tile_reader_caches_and_invalidates() -> None:
    hashes = leaf_hashes(2000)
    store = TileStore(build_tiles(hashes))
    reader = TileNodeReader(store.read_tile)
    prove_inclusion(5, 2000, reader)
    reads = len(store.reads)
    prove_inclusion(6, 2000, reader)
    assert len(store.reads) == reads  # warm: no read at all
    reader.invalidate(0, 0)
    prove_inclusion(6, 2000, reader)
    assert store.reads[reads:] == [(0, 0)]


def test_tile_reader_cache_is_bounded() -> None:
    hashes = leaf_hashes(256 * 6)
    store = TileStore(build_tiles(hashes))
    reader = TileNodeReader(store.read_tile, cache_size=2)
    for tile in range(6):
        reader.read_nodes([(0, tile * 256)])
    reader.read_nodes([(0, 0)])
    assert store.reads.count((0, 0)) == 2
    reader.read_nodes([(0, 5 * 256)])
    assert store.reads.count((0, 5)) == 1
    with pytest.raises(MalformedError):
        TileNodeReader(store.read_tile, cache_size=0)


def test_tile_reader_refuses_short_or_malformed_tiles() -> None:
    store = TileStore(build_tiles(leaf_hashes(100)))
    reader = TileNodeReader(store.read_tile)
    with pytest.raises(MalformedError, match="has 100 hashes"):
        reader.read_nodes([(0, 100)])
    store.tiles[(0, 0)] = b"\x00" * 33
    reader.invalidate(0, 0)
    with pytest.raises(MalformedError):
        reader.read_nodes([(0, 0)])
    store.tiles[(0, 0)] = b""
    with pytest.raises(MalformedError):
        reader.read_nodes([(0, 0)])
