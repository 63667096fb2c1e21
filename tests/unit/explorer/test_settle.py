"""``explorer.service.settle``: what the explorer made before it serves is out of the cyclic collector's reach, so a
full collection while serving scans only what serving made (docs/explorer.md, "Provenance")."""

from __future__ import annotations

import gc
import weakref

from explorer.service import settle


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_what_was_made_before_serving_is_frozen_and_garbage_left_by_starting_is_collected_first() -> None:
    assert gc.get_freeze_count() == 0
    gc.disable()  # no automatic collection between making the garbage and settle's own
    kept = _Node()
    garbage = weakref.ref(_Node())  # unreachable at once, but held by its own cycle: garbage starting left
    assert garbage() is not None
    try:
        settle()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert garbage() is None  # collected, not frozen
        assert not any(o is kept for o in gc.get_objects())  # frozen: no collection scans it
        gc.collect()
        assert gc.get_freeze_count() == frozen  # a collection after it leaves them where they are
    finally:
        gc.unfreeze()
        gc.enable()
