"""chain.node.service.freeze_start_up: what a node process has live once started is left out of the garbage
collector's full collections, and only what is live: start-up's garbage is collected first, and a frozen object is
still freed when nothing refers to it any more."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from chain.node.service import freeze_start_up


class _Thing:
    def __init__(self) -> None:
        self.other: _Thing | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process goes on as it was


@pytest.mark.usefixtures("unfrozen")
def test_start_up_garbage_is_collected_and_the_live_objects_frozen() -> None:
    cycle, kept = _Thing(), _Thing()
    cycle.other = _Thing()
    cycle.other.other = cycle
    garbage = weakref.ref(cycle)
    del cycle
    held = [kept]
    frozen = freeze_start_up()
    assert garbage() is None, "start-up's garbage was frozen instead of collected"
    assert frozen == gc.get_freeze_count() > 0
    assert all(o is not kept for o in gc.get_objects()), "a live object is still in the collected generations"
    alive = weakref.ref(kept)
    del kept, held
    assert alive() is None, "a frozen object no longer referred to is freed"
