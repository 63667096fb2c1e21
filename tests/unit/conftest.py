"""tests/unit/ is pure: no sockets to connect or bind, no child processes, no servers; this file enforces it.

A :class:`tests.support.purity.Guard` is armed during the setup and the call of every test under tests/unit/
(so a module or session fixture that a unit test is the first to need is that test's to justify): a refused call
fails the test with what was attempted and where such a test belongs (tests/integration/<package>/), even when
the code under test caught the error. See ``tests/support/purity.py`` for what is refused and what is not.

Teardown is not guarded: a session fixture started by an integration test may be stopped in the teardown of
whichever unit test happens to run last (pytest-randomly mixes the directories). The cost is a few attribute
swaps per phase, unmeasurable next to the tests.

One child process is allowed, before any test: ``suite._libcrypto`` finds OpenSSL's libcrypto with
``ctypes.util.find_library``, which runs ``ldconfig -p`` the first time a process needs SM2. This file loads it
when pytest imports it, so that whichever SM2 test runs first in a worker is not the one refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator

import pytest

from suite._libcrypto import _lib as _load_libcrypto
from suite.errors import SuiteError
from tests.support.purity import Guard

with contextlib.suppress(SuiteError):  # no OpenSSL 3: the SM2 tests say so themselves
    _load_libcrypto()


def guarded() -> Generator[None, object, object]:
    """Run one phase (the rest of the hook wrappers and pytest's own hook) with a guard armed."""
    guard = Guard()
    guard.arm()
    try:
        result = yield
    finally:
        guard.disarm()
    if guard.refused:  # the call raised inside the test; fail even if the code under test caught it
        raise guard.refused[0]
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    """Guard fixture setup."""
    return (yield from guarded())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Guard the test itself."""
    return (yield from guarded())
