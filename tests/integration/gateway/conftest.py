"""Fixtures the gateway's process tests share: a fresh chain, the members' world built on it, an event loop thread
and an upstream service on it, per module. A module that needs another chain (``test_gateway_http``'s lagging
one) or world (``test_gateway_private_grants``'s) defines its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.gateway.gateway_chain import GatewayChain, gateway_chain
from tests.integration.gateway.gateway_world import LoopThread, Upstream, World, build_world


@pytest.fixture(scope="module")
def chain() -> Iterator[GatewayChain]:
    with gateway_chain() as fresh:
        yield fresh


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, chain: GatewayChain) -> World:
    return build_world(tmp_path_factory.mktemp("consortium"), chain)  # each founder's CA is on chain


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def upstream(loop: LoopThread) -> Iterator[Upstream]:
    service = Upstream(loop)
    yield service
    service.close()
