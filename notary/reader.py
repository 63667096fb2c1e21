"""Reading the log: roots, inclusion and consistency proofs, tiles and entry bundles, from the stored tiles.

Proofs read O(log n) hashes through :class:`notary.log.tiles.TileNodeReader`, which keeps a bounded cache of
tiles with their inner levels (stored beside each full tile, so a tile read from the store is hashed only when it
is partial or predates them), so memory stays flat at any log size. A log only grows: a size up to the largest the
reader has seen committed is served without asking the store again (``current_size``, a query of the store's
committed size, is asked only for a larger one). The sequencer calls
:meth:`LogReader.invalidate` with the tiles each commit rewrote, so a cached right-edge tile never goes stale. Every
hash is the log's ``tree`` hash (``notary.log.hashing``: SHA-256, or SM3 under the ``sm`` suite).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from notary.errors import MalformedError, NotFoundError
from notary.log.hashing import HASH_SIZE, SHA256, Hash32, TreeHash
from notary.log.proof import prove_consistency, prove_inclusion, root_at
from notary.log.tiles import TILE_WIDTH, TileNodeReader
from notary.storage.base import NotaryStorage


class LogReader:
    def __init__(
        self,
        store: NotaryStorage,
        current_size: Callable[[], int] | None = None,
        cache_tiles: int = 4096,
        tree: TreeHash = SHA256,
    ) -> None:
        self.store = store
        self.tree = tree
        self._current_size = current_size or store.size
        self._known_size = 0  # the largest committed size read so far: a log never shrinks
        self._nodes = TileNodeReader(store.tile_for_proofs, cache_tiles, tree)
        self._lock = threading.Lock()

    def invalidate(self, tiles: dict[tuple[int, int], bytes]) -> None:
        with self._lock:
            for level, index in tiles:
                self._nodes.invalidate(level, index)

    def root_at(self, size: int) -> Hash32:
        self._check_size(size)
        with self._lock:
            return root_at(size, self._nodes, self.tree)

    def inclusion(self, index: int, size: int) -> list[Hash32]:
        self._check_size(size)
        if not 0 <= index < size:
            raise MalformedError(f"leaf index {index} is not in a tree of size {size}")
        with self._lock:
            return prove_inclusion(index, size, self._nodes, self.tree)

    def consistency(self, size1: int, size2: int) -> list[Hash32]:
        self._check_size(size2)
        if not 0 <= size1 <= size2:
            raise MalformedError(f"no consistency proof from size {size1} to the smaller size {size2}")
        with self._lock:
            return prove_consistency(size1, size2, self._nodes, self.tree)

    def _check_size(self, size: int) -> None:
        if size < 0:
            raise MalformedError(f"tree size {size} is negative")
        if size <= self._known_size:
            return
        current = self._current_size()
        self._known_size = max(self._known_size, current)
        if size > current:
            raise NotFoundError(f"the log has {current} entries; there is no tree of size {size} yet")

    def tile(self, level: int, index: int, width: int) -> bytes:
        """The tile's hashes, ``width`` of them (256 for a full tile); a tile not yet that wide → NotFoundError."""
        data = self.store.tile(level, index)
        if len(data) < width * HASH_SIZE:
            raise NotFoundError(f"tile {level}/{index} has {len(data) // HASH_SIZE} hashes, not {width}")
        return data[: width * HASH_SIZE]

    def entry_bundle(self, index: int, width: int) -> bytes:
        if not 0 < width <= TILE_WIDTH:
            raise MalformedError(f"an entry bundle holds 1 to {TILE_WIDTH} entries, not {width}")
        bundle = self.store.entry_bundle(index, width)
        if bundle is None:
            have = max(0, min(TILE_WIDTH, self._current_size() - index * TILE_WIDTH))
            raise NotFoundError(f"entry bundle {index} has {have} entries, not {width}")
        return bundle
