"""The tests' one way to wait for something a server, a thread or a child process does in its own time: poll a
condition with a deadline (STYLE.md §6: no test sleeps to wait for something)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    timeout: float,
    every: float = 0.02,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Poll ``condition`` every ``every`` seconds until it returns something truthy, and return that.

    After ``timeout`` seconds it fails (AssertionError) naming ``what`` and the last value seen. An exception of
    a type in ``ignoring`` (a server not answering yet) counts as not yet; any other propagates."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value: T | Exception | None = condition()
        except ignoring as exc:
            value = exc
        if value and not isinstance(value, Exception):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {value!r})")
        time.sleep(every)
