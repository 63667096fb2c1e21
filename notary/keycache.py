"""Raw public keys parsed once: the keys a source (the chain's directory, or ``consortium.json``) gives as bytes,
turned into key objects at first sight and kept, at most ``limit`` of them (the cache is emptied when full, so a
source that keeps changing costs a parse again, never memory)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K")


class ParsedKeys(Generic[K]):
    """``parse`` turns raw bytes into a key, raising one of ``refused`` for bytes that are no key it reads."""

    def __init__(self, parse: Callable[[bytes], K], refused: tuple[type[Exception], ...], limit: int = 4096) -> None:
        self._parse = parse
        self._refused = refused
        self._limit = limit
        self._keys: dict[bytes, K] = {}

    def add(self, raw: bytes) -> K:
        """The key of ``raw``, parsed now if new; a refused one raises (a key that must be valid)."""
        key = self._keys.get(raw)
        if key is None:
            key = self._parse(raw)
            if len(self._keys) >= self._limit:
                self._keys.clear()
            self._keys[raw] = key
        return key

    def of(self, raws: Iterable[bytes]) -> list[K]:
        """The keys of ``raws`` in order, leaving out those ``parse`` refuses (another suite's: they verify
        nothing here)."""
        keys = []
        for raw in raws:
            try:
                keys.append(self.add(raw))
            except self._refused:
                continue
        return keys
