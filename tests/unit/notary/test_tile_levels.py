"""Full tiles kept with their inner levels, so that a proof reading a tile from the store hashes nothing.

The integration yields each tile that becomes full with its levels 0..7; the sequencer stores them beside the
tile in the same transaction; proofs read them and give exactly the proofs of a tree in memory; a store without
them (written before they existed) still gives the same proofs; and ``/tile/`` keeps serving plain C2SP tiles.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from notary.integrate import TileWriter
from notary.log.errors import MalformedError
from notary.log.hashing import HASH_SIZE, hash_leaf, levels_of
from notary.log.note import NoteSigner
from notary.log.proof import MemoryNodeReader, prove_consistency, prove_inclusion, root_at
from notary.log.tiles import TILE_WITH_LEVELS_BYTES, TileNodeReader, tile_with_levels
from notary.reader import LogReader
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.store import LogStore
from tests.support.notary_events import event

ORIGIN = "test-consortium/audit-log"
NOW = 1_795_000_000.0
GW = "shuzhi-tech/gw-1"


def leaf_hashes(n: int) -> list[bytes]:
    return [hash_leaf(i.to_bytes(4, "big")) for i in range(n)]


def test_a_tile_with_levels_is_the_tile_then_its_inner_levels() -> None:
    hashes = leaf_hashes(256)
    levels = levels_of(hashes)
    data = tile_with_levels(levels)
    assert len(data) == TILE_WITH_LEVELS_BYTES == 510 * HASH_SIZE
    expected = b"".join(b"".join(levels[r]) for r in range(8))  # 256, 128, ..., 2 hashes; not the root (level 8)
    assert data == expected and data[: 256 * HASH_SIZE] == b"".join(hashes)
    with pytest.raises(MalformedError):
        tile_with_levels(levels_of(hashes[:255]))


@pytest.mark.parametrize("chunks", [[1] * 300, [255, 1, 256, 300], [70_000], [65_536, 1, 255]])
def test_the_writer_yields_each_tile_that_becomes_full_with_its_levels(chunks: list[int]) -> None:
    hashes = leaf_hashes(sum(chunks))
    writer, plain = TileWriter(0, {}), TileWriter(0, {})
    tiles: dict[tuple[int, int], bytes] = {}
    full: dict[tuple[int, int], bytes] = {}
    start = 0
    for n in chunks:
        changed, levels = writer.append_levels(hashes[start : start + n])
        assert changed == plain.append(hashes[start : start + n])  # append is append_levels without the levels
        assert set(levels) <= set(changed) and not set(levels) & set(full)  # once, when the tile fills up
        tiles.update(changed)
        full.update(levels)
        start += n
    assert set(full) == {key for key, data in tiles.items() if len(data) == 256 * HASH_SIZE}
    memory = levels_of(hashes)
    for (level, index), data in full.items():
        assert data[: 256 * HASH_SIZE] == tiles[(level, index)]
        assert data == tile_with_levels(levels_of(memory[8 * level][256 * index : 256 * index + 256]))


def test_the_node_reader_slices_stored_levels_and_hashes_nothing() -> None:
    hashes = leaf_hashes(256 * 3 + 17)
    tiles = {(0, n): b"".join(hashes[256 * n : 256 * n + 256]) for n in range(4)}
    top = levels_of(hashes)
    tiles[(1, 0)] = b"".join(top[8])
    with_levels = {
        key: tile_with_levels(levels_of([d[i : i + 32] for i in range(0, len(d), 32)]))
        for key, d in tiles.items()
        if len(d) == 256 * HASH_SIZE
    }
    size = len(hashes)
    memory = MemoryNodeReader(hashes)
    reader = TileNodeReader(lambda level, index: with_levels.get((level, index)) or tiles[(level, index)])
    for index in (0, 1, 255, 256, 600, size - 1):
        assert prove_inclusion(index, size, reader) == prove_inclusion(index, size, memory)
        assert prove_consistency(index + 1, size, reader) == prove_consistency(index + 1, size, memory)
    assert root_at(size, reader) == root_at(size, memory)

    # the stored levels are used as they are: a wrong inner hash shows in the proof (so nothing was recomputed)
    forged = bytearray(with_levels[(0, 1)])
    forged[256 * HASH_SIZE : 257 * HASH_SIZE] = b"\xee" * HASH_SIZE  # level 1, node 0 of tile 0/1: leaves 256-257
    forging = TileNodeReader(lambda level, index: bytes(forged) if (level, index) == (0, 1) else tiles[(level, index)])
    assert b"\xee" * HASH_SIZE in prove_inclusion(258, size, forging)
    with pytest.raises(MalformedError):
        TileNodeReader(lambda level, index: bytes(TILE_WITH_LEVELS_BYTES - 32)).read_nodes([(0, 0)])


class Log:
    def __init__(self, directory: Path) -> None:
        self.gw_key = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
        public = self.gw_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.store = LogStore(directory / "notary.db")
        self.reader = LogReader(self.store)
        self.sequencer = Sequencer(
            self.store,
            NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)),
            SequencerSettings(ORIGIN),
            {"shuzhi-tech": public},
            clock=lambda: NOW,
            on_commit=self.reader.invalidate,
        )
        self.seq = 1

    def submit(self, count: int) -> None:
        events = [
            event(event_id=f"ev-{self.seq + i}", gateway_seq=self.seq + i, time_ms=int(NOW * 1000))
            for i in range(count)
        ]
        self.seq += count
        body = encode_batch(GW, events)
        self.sequencer.submit(GW, body, sign_batch_body(self.gw_key, body))

    def leaves(self) -> list[bytes]:
        return [hash_leaf(e) for e in self.store.entries(0, self.sequencer.size)]


def test_the_sequencer_stores_full_tiles_with_their_levels_and_proofs_use_them(tmp_path: Path) -> None:
    log = Log(tmp_path)
    for count in (100, 200, 300, *[10_000] * 6, 5_400):  # tiles fill up inside and across batches; tile 1/0 too
        log.submit(count)
    size = log.sequencer.size
    assert size == 66_000
    rows = sqlite3.connect(tmp_path / "notary.db").execute("SELECT id, length(data) FROM tile_levels").fetchall()
    full = [n << 6 for n in range(size // 256)] + [0 << 6 | 1]  # 257 full tiles of level 0, and tile 1/0
    assert sorted(rows) == sorted((i, TILE_WITH_LEVELS_BYTES) for i in full)
    leaves = log.leaves()
    memory = MemoryNodeReader(leaves)
    fresh = LogReader(log.store)  # cold cache: every tile is read from the store
    for index in (0, 255, 256, 1000, 65_535, 65_536, 65_791, 65_792, size - 1):
        assert fresh.inclusion(index, size) == prove_inclusion(index, size, memory)
    assert fresh.root_at(size) == root_at(size, memory)
    assert fresh.consistency(300, size) == prove_consistency(300, size, memory)

    # /tile/ serves the plain C2SP tile, never the levels
    assert log.reader.tile(0, 3, 256) == b"".join(leaves[768:1024])
    assert len(log.reader.tile(0, 3, 256)) == 256 * HASH_SIZE
    assert log.store.tile(0, 3) == log.store.tile_for_proofs(0, 3)[: 256 * HASH_SIZE]
    assert log.store.tile_for_proofs(0, size // 256) == log.store.tile(0, size // 256)  # partial: no levels


def test_a_store_written_before_the_levels_gives_the_same_proofs(tmp_path: Path) -> None:
    log = Log(tmp_path)
    log.submit(3000)
    size = log.sequencer.size
    expected = [LogReader(log.store).inclusion(i, size) for i in range(0, size, 97)]
    with log.store.transaction() as conn:
        conn.execute("DELETE FROM tile_levels")
    old = LogReader(log.store)
    assert [old.inclusion(i, size) for i in range(0, size, 97)] == expected
    log.submit(1000)  # and it goes on: the tiles that fill up from now on get their levels
    ids = [r[0] for r in log.store._query("SELECT id FROM tile_levels ORDER BY id")]
    assert ids == [n << 6 for n in range(3000 // 256, 4000 // 256)]
    memory = MemoryNodeReader(log.leaves())
    assert LogReader(log.store).inclusion(10, 4000) == prove_inclusion(10, 4000, memory)
