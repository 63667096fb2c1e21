"""Fixtures the gateway's process tests share: a fresh chain and an upstream service per module. A module that
needs another chain (``test_gateway_http``'s lagging one) defines its own ``chain``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.gateway.gateway_chain import GatewayChain, gateway_chain
from tests.integration.gateway.gateway_world import LoopThread, Upstream


@pytest.fixture(scope="module")
def chain() -> Iterator[GatewayChain]:
    with gateway_chain() as fresh:
        yield fresh


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    loop = LoopThread()
    service = Upstream(loop)
    yield service
    service.close()
    loop.close()
