"""The JSON-RPC requests a web3 provider is asked, counted by method: for tests that bound how many reads a
component makes of the chain (the witness-key cache, the explorer's provenance, a receipt's wait)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chain.backend import EthTesterBackend


@contextmanager
def counted_requests(backend: EthTesterBackend) -> Iterator[Counter[str]]:
    """Count, by method, the requests ``backend``'s web3 makes while the block runs (the counter may be cleared
    as the test goes); the provider itself answers them as before."""
    manager: Any = backend.web3.manager
    real = manager._make_request
    seen: Counter[str] = Counter()

    def counted(method: Any, params: Any) -> Any:
        seen[str(method)] += 1
        return real(method, params)

    manager._make_request = counted
    try:
        yield seen
    finally:
        del manager._make_request
