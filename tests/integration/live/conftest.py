"""One running demo consortium (``consortium init --demo`` and ``consortium up`` with traffic, its explorer on
top) for every test of this package: the explorer's API and browser tests, the tenancy suite and the OpenAPI
fuzzing. It is started by the package's first test and stopped after its last one, so its twenty-odd processes
and their demo traffic do not run on beside the rest of ``make test``; ``tests/conftest.py`` keeps the package's
tests on one pytest-xdist worker, so it starts once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.live.consortium import Live, start_live


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The running demo consortium with its explorer (``tests/integration/live/consortium.py``)."""
    yield from start_live(tmp_path_factory.mktemp("explorer-live"))
