"""``gateway.quota.PostgresQuota``: a PSI run's lease renewal that finds the store down is no refused call. The
store is down by its own clock (its retry pause after a failure), so nothing is connected to: no socket."""

from __future__ import annotations

import asyncio

import pytest

from gateway.quota import PostgresQuota, QuotaUnavailableError
from tests.support.clock import Clock

RUN = ("8a" * 32, "1c" * 32)


def test_a_renewal_while_the_store_is_down_is_not_counted_a_refused_call() -> None:
    clock = Clock(100.0)
    store = PostgresQuota("postgresql://quota.invalid/q", retry_s=5.0, clock=clock)
    try:
        store._failed(ConnectionError("connection refused"))  # a call refused: the store down for 5 s
        assert store.refused == 1
        with pytest.raises(QuotaUnavailableError, match="unreachable"):
            asyncio.run(store.renew_run(RUN, "ev-1", 60.0))
        assert store.refused == 1  # the renewal is tried again later, no call was refused
    finally:
        store.close()
