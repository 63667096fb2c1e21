"""The gateway's view of the chain (gateway.policy) against our own node over JSON-RPC on loopback.

Read-only checks share one deployed consortium per module; anything that changes members, assets or grants
gets a fresh chain (about a second to deploy). Waiting is always for a condition (the watcher's head reaching
a block, the watcher noticing an outage), never a fixed sleep.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chain.backend import RpcBackend
from chain.contracts import AccessGrantsClient
from chain.node.rpc import RpcServer
from gateway.policy import ChainUnavailableError, ChainView, Decision, Service
from tests.integration.gateway.gateway_chain import (
    API,
    ASSET,
    CENTER,
    GRANTEE,
    METHOD,
    OTHER,
    OTHER_ROUTE,
    PROVIDER,
    PURPOSE,
    QUOTA,
    RETIRED_ROUTE,
    ROUTE,
    SEARCH_API,
    SEARCH_ROUTE,
    UNIT,
    GatewayChain,
    gateway_chain,
    wait_for_head,
)
from tests.support.clock import Clock
from tests.support.wait import wait_until

POLL_S = 0.05
#: The view's own refusal of a cache miss while the chain is unreachable (no request is sent).
MISS_REFUSED = r"is unreachable for .*; a cache miss cannot be answered"


@pytest.fixture(scope="module")
def shared() -> Iterator[GatewayChain]:
    """One chain for the tests that only read."""
    with gateway_chain() as chain:
        yield chain


@pytest.fixture
def fresh() -> Iterator[GatewayChain]:
    """A chain of this test's own, for tests that change it."""
    with gateway_chain() as chain:
        yield chain


@pytest.fixture
def view_of() -> Iterator[Callable[..., ChainView]]:
    """Start ChainViews on a chain; each is stopped after the test."""
    views: list[ChainView] = []

    def make(chain: GatewayChain, view_class: type[ChainView] = ChainView, **kwargs: Any) -> ChainView:
        view = view_class(chain.backend, chain.contracts, PROVIDER, poll_s=POLL_S, **kwargs)
        view.start()
        views.append(view)
        return view

    yield make
    for view in views:
        view.stop()


def denied(decision: Decision, reason: str) -> None:
    assert not decision.allowed, decision
    assert decision.reason == reason, decision
    assert decision.detail.endswith("."), decision


# -- the service map ------------------------------------------------------------------------------------------


def test_service_map_holds_exactly_the_providers_active_apis(
    shared: GatewayChain, view_of: Callable[..., ChainView]
) -> None:
    view = view_of(shared)
    assert view.services() == [
        Service(api=API, unit=UNIT, center=CENTER, asset=ASSET, method="GET", route=ROUTE),
        Service(api=SEARCH_API, unit=UNIT, center=CENTER, asset=ASSET, method="POST", route=SEARCH_ROUTE),
    ]
    assert view.service("GET", ROUTE) == view.services()[0]
    assert view.service("get", ROUTE) == view.services()[0]  # methods are matched case-insensitively
    assert view.service("POST", ROUTE) is None  # the method is part of the key
    assert view.service("GET", ROUTE + "/") is None  # exact routes, no prefixes
    assert view.service("GET", RETIRED_ROUTE) is None  # a retired API
    assert view.service("GET", OTHER_ROUTE) is None  # another org's API
    # gamma's own view serves gamma's API and nothing of alpha's
    gamma = ChainView(shared.backend, shared.contracts, OTHER)
    gamma.start()
    try:
        assert [s.api for s in gamma.services()] == ["bonds-get"]
        assert gamma.service("GET", OTHER_ROUTE) is not None
        assert gamma.service("GET", ROUTE) is None
    finally:
        gamma.stop()


def test_service_map_follows_registrations_retirements_and_transfers(
    fresh: GatewayChain, view_of: Callable[..., ChainView]
) -> None:
    view = view_of(fresh)
    wait_for_head(view, fresh.register_api("quotes-depth", "/v1/quotes/depth"))
    new = view.service("GET", "/v1/quotes/depth")
    assert new is not None and new.api == "quotes-depth" and new.asset == ASSET
    wait_for_head(view, fresh.retire_api(SEARCH_API))
    assert view.service("POST", SEARCH_ROUTE) is None
    assert view.service("GET", ROUTE) is not None
    # a grant made before a transfer of rights is void afterwards, and the API leaves alpha's map
    assert view.decide(ASSET, GRANTEE, PURPOSE, time.time()).allowed
    wait_for_head(view, fresh.transfer(ASSET, OTHER))
    assert view.services() == []
    denied(view.decide(ASSET, GRANTEE, PURPOSE, time.time()), "ownership_changed")


# -- decisions ------------------------------------------------------------------------------------------------


def test_allowed_decision_names_grant_quota_and_version(
    shared: GatewayChain, view_of: Callable[..., ChainView]
) -> None:
    view = view_of(shared)
    now = time.time()
    assert view.cached_decision(ASSET, GRANTEE, PURPOSE, now) is None  # nothing cached yet, and no I/O
    decision = view.decide(ASSET, GRANTEE, PURPOSE, now)
    assert decision == Decision(
        allowed=True,
        reason=None,
        detail=decision.detail,
        grant_id=shared.grant_id,
        quota=QUOTA,
        asset_version=1,
    )
    assert len(shared.grant_id) == 66 and shared.grant_id == shared.grant_id.lower()
    assert GRANTEE in decision.detail and ASSET in decision.detail
    assert view.cached_decision(ASSET, GRANTEE, PURPOSE, now) == decision
    assert view.health()["cached"] == 1


def test_denials_without_governance_changes(shared: GatewayChain, view_of: Callable[..., ChainView]) -> None:
    view = view_of(shared)
    now = time.time()
    no_grant = view.decide(ASSET, OTHER, PURPOSE, now)
    denied(no_grant, "no_grant")
    assert (no_grant.grant_id, no_grant.quota, no_grant.asset_version) == (None, 0, 1)
    denied(view.decide(ASSET, GRANTEE, "marketing", now), "no_grant")  # a grant is for one purpose only
    unknown = view.decide("no-such-asset", GRANTEE, PURPOSE, now)
    denied(unknown, "unknown_asset")
    assert unknown.asset_version is None
    denied(view.decide(ASSET, "delta", PURPOSE, now), "not_a_member")  # never admitted
    denied(view.decide(ASSET, "reg", PURPOSE, now), "not_a_member")  # a regulator holds no MEMBER role
    denied(view.decide(ASSET, "Not A Name", PURPOSE, now), "not_a_member")  # decided without asking the chain
    # denials are cached like any answer
    assert view.cached_decision(ASSET, OTHER, PURPOSE, now) == no_grant


def test_time_is_evaluated_locally_from_the_cached_window(
    shared: GatewayChain, view_of: Callable[..., ChainView]
) -> None:
    now = shared.now()
    later = shared.grant(OTHER, "backtest", not_before=now + 3600, expires_at=now + 7200, quota=5)
    view = view_of(shared)
    early = view.decide(ASSET, OTHER, "backtest", now)
    denied(early, "grant_not_yet_valid")
    assert (early.grant_id, early.quota) == (later, 5)
    # the same cache entry answers every moment of the window, with no call to the chain
    during = view.cached_decision(ASSET, OTHER, "backtest", now + 3600)
    assert during is not None and during.allowed and during.grant_id == later
    assert view.cached_decision(ASSET, OTHER, "backtest", now + 7199.5) == during
    after = view.cached_decision(ASSET, OTHER, "backtest", now + 7200)
    assert after is not None
    denied(after, "grant_expired")
    assert view.health()["cached"] == 1
    # a decision first asked after expiry comes from the chain as expired, and turns allowed for an earlier time
    fresh_view = view_of(shared)
    expired = fresh_view.decide(ASSET, GRANTEE, PURPOSE, now + 2 * 86400)
    denied(expired, "grant_expired")
    assert expired.grant_id == shared.grant_id
    again = fresh_view.cached_decision(ASSET, GRANTEE, PURPOSE, now)
    assert again is not None and again.allowed


def test_grant_expiry_on_chain_time(fresh: GatewayChain, view_of: Callable[..., ChainView]) -> None:
    """A short grant, chain time moved past it: the check on chain and the local evaluation agree."""
    now = fresh.now()
    short = fresh.grant(OTHER, "intraday", not_before=now, expires_at=now + 5)
    view = view_of(fresh)
    assert view.decide(ASSET, OTHER, "intraday", now + 1).allowed
    fresh.backend.advance(10)
    moved = fresh.now()
    assert moved >= now + 5
    denied(view.decide(ASSET, OTHER, "intraday", moved), "grant_expired")
    other_view = view_of(fresh)
    from_chain = other_view.decide(ASSET, OTHER, "intraday", moved)  # a miss: the contract's own answer
    denied(from_chain, "grant_expired")
    assert from_chain.grant_id == short


def test_denials_that_follow_governance_events(fresh: GatewayChain, view_of: Callable[..., ChainView]) -> None:
    view = view_of(fresh)

    def decide() -> Decision:
        return view.decide(ASSET, GRANTEE, PURPOSE, time.time())

    assert decide().allowed
    assert view.member_status(GRANTEE) == "active"
    wait_for_head(view, fresh.suspend(GRANTEE))
    denied(decide(), "member_suspended")
    assert view.member_status(GRANTEE) == "suspended"
    wait_for_head(view, fresh.reinstate(GRANTEE))
    assert decide().allowed
    wait_for_head(view, fresh.suspend(PROVIDER))
    denied(decide(), "provider_suspended")
    wait_for_head(view, fresh.reinstate(PROVIDER))
    assert decide().allowed
    version = fresh.add_version(ASSET)
    wait_for_head(view, fresh.head())
    assert decide().asset_version == version == 2
    wait_for_head(view, fresh.retire_asset(ASSET))
    denied(decide(), "asset_retired")
    assert view.service(METHOD, ROUTE) is not None  # still served, so that the denial is recorded
    assert view.health()["clears"] >= 6


def test_member_status_and_what_clears_it(fresh: GatewayChain, view_of: Callable[..., ChainView]) -> None:
    view = view_of(fresh)
    assert view.member_status(PROVIDER) == "active"
    assert view.member_status("reg") == "active"
    assert view.member_status("delta") is None
    assert view.member_status("Not A Name") is None  # not cached: never asked
    assert view.health()["members_cached"] == 3
    view.decide(ASSET, GRANTEE, PURPOSE, time.time())
    # a grant event clears the decisions but not the member statuses, which only the registry changes
    wait_for_head(view, fresh.grant_block(fresh.grant(OTHER, "audit")))
    assert (view.health()["cached"], view.health()["members_cached"]) == (0, 3)
    wait_for_head(view, fresh.suspend(OTHER))
    assert view.health()["members_cached"] == 0
    assert view.member_status(OTHER) == "suspended"


# -- invalidation -----------------------------------------------------------------------------------------------


def test_revocation_is_seen_within_a_poll_of_its_block(fresh: GatewayChain, view_of: Callable[..., ChainView]) -> None:
    """The second poll to finish after the revocation's block was sealed started after it, so it has processed
    it; until the head reaches the block the cached grant may stand, and from the moment it does no decision
    allows the call (the clear comes before the head moves)."""
    view = view_of(fresh)
    assert view.decide(ASSET, GRANTEE, PURPOSE, time.time()).allowed
    assert view.cached_decision(ASSET, GRANTEE, PURPOSE, time.time()) is not None
    block = fresh.revoke()  # returns once the block is sealed
    polls = view.polls
    meanwhile: list[tuple[bool, Decision]] = []

    def two_polls_on() -> bool:
        at_block = view.head >= block  # read before the decision: a head at the block means the clear is done
        meanwhile.append((at_block, view.decide(ASSET, GRANTEE, PURPOSE, time.time())))
        return view.polls >= polls + 2

    wait_until(two_polls_on, "two polls of the watcher after the revocation's block", 30.0, every=0.001)
    assert view.head >= block, f"two polls after block {block} was sealed the watcher is at {view.head}"
    assert all(d.allowed or d.reason == "grant_revoked" for _, d in meanwhile), meanwhile
    assert [d.allowed for at_block, d in meanwhile if at_block] == [False] * sum(a for a, _ in meanwhile)
    revoked = view.decide(ASSET, GRANTEE, PURPOSE, time.time())
    denied(revoked, "grant_revoked")
    assert (revoked.grant_id, revoked.quota) == (fresh.grant_id, QUOTA)
    assert view.cached_decision(ASSET, GRANTEE, PURPOSE, time.time()) == revoked


def test_followers_get_each_polled_head_after_the_caches(
    shared: GatewayChain, view_of: Callable[..., ChainView]
) -> None:
    """After each poll the watcher hands the head it read to its followers (the gateway's trust view follows the
    chain through it), once the view itself is at that head; a follower that raises stops neither the watcher nor
    the followers after it."""
    view = view_of(shared)
    seen: list[tuple[int | None, int]] = []

    def broken(_head: int | None) -> None:
        raise RuntimeError("a follower's bug")

    view.follow(broken)
    view.follow(lambda head: seen.append((head, view.head)))
    polls = view.polls
    wait_until(lambda: len(seen) >= 3 and view.polls >= polls + 3, "three polls handed on", 30.0, every=0.01)
    assert all(head is not None and head <= at for head, at in seen), seen
    assert seen[-1][0] == view.head


class RacingView(ChainView):
    """A ChainView with a hook run between reading the chain and storing the answer."""

    between: Callable[[], None] | None = None

    def _fetch(
        self, asset: str, grantee: str, purpose: str, now_s: float
    ) -> tuple[float, float, Decision, Decision, Decision]:
        entry = super()._fetch(asset, grantee, purpose, now_s)
        if self.between is not None:
            hook, self.between = self.between, None
            hook()
        return entry


def test_an_answer_read_before_a_clear_is_used_once_not_cached(
    fresh: GatewayChain, view_of: Callable[..., ChainView]
) -> None:
    view = view_of(fresh, RacingView)
    assert isinstance(view, RacingView)
    # control: without a clear in between, the answer is cached
    assert view.decide(ASSET, GRANTEE, PURPOSE, time.time()).allowed
    assert view.cached_decision(ASSET, GRANTEE, PURPOSE, time.time()) is not None
    # a clear between the read and the store: the revocation lands after the read of the grant
    other = fresh.grant(OTHER, PURPOSE)
    wait_for_head(view, fresh.grant_block(other))

    def revoke_and_wait() -> None:
        wait_for_head(view, fresh.revoke(other))

    view.between = revoke_and_wait
    raced = view.decide(ASSET, OTHER, PURPOSE, time.time())
    assert raced.allowed and raced.grant_id == other  # true when read, so this one call gets it
    assert view.cached_decision(ASSET, OTHER, PURPOSE, time.time()) is None  # but it was not cached
    denied(view.decide(ASSET, OTHER, PURPOSE, time.time()), "grant_revoked")


# -- an unreachable chain ---------------------------------------------------------------------------------------


def test_unreachable_chain_honours_the_cache_until_stale_then_recovers(
    fresh: GatewayChain, view_of: Callable[..., ChainView]
) -> None:
    clock = Clock()
    view = view_of(fresh, stale_s=30.0, clock=clock)
    now = time.time()
    assert view.decide(ASSET, GRANTEE, PURPOSE, now).allowed
    assert view.member_status(GRANTEE) == "active"
    server = fresh.backend.server
    port = server.port
    server.stop()
    wait_until(lambda: not view.health()["reachable"], "the view to find the chain unreachable", 30.0, every=0.005)
    # the chain goes on without the gateway: the grant is revoked through another endpoint of the same node
    side = RpcServer(fresh.backend.node, port=0)
    side.start()
    try:
        grants = AccessGrantsClient(RpcBackend(side.url), fresh.contracts["AccessGrants"])
        revoked_at = int(grants.revoke(fresh.signers[PROVIDER], bytes.fromhex(fresh.grant_id[2:]), 3)["blockNumber"])
    finally:
        side.stop()
    # within the staleness bound the cached decisions stand (this is the bound's price) ...
    clock.now += 29
    cached = view.cached_decision(ASSET, GRANTEE, PURPOSE, now)
    assert cached is not None and cached.allowed
    assert view.member_status(GRANTEE) == "active"
    # ... while a miss fails at once: refused by the view itself, without a request to the chain
    with pytest.raises(ChainUnavailableError, match=MISS_REFUSED):
        view.decide(ASSET, OTHER, PURPOSE, now)
    with pytest.raises(ChainUnavailableError, match=MISS_REFUSED):
        view.member_status(OTHER)
    # past the bound nothing is answered
    clock.now += 2
    assert view.health()["stale"]
    with pytest.raises(ChainUnavailableError):
        view.cached_decision(ASSET, GRANTEE, PURPOSE, now)
    with pytest.raises(ChainUnavailableError):
        view.decide(ASSET, GRANTEE, PURPOSE, now)
    with pytest.raises(ChainUnavailableError):
        view.member_status(GRANTEE)
    # the node's endpoint comes back on the same port: polling resumes, the gap's events are read, caches cleared
    clears = view.health()["clears"]
    server.start()
    assert server.port == port
    wait_until(
        lambda: view.health()["reachable"] and not view.health()["stale"], "the chain to be back", 30.0, every=0.005
    )
    wait_for_head(view, revoked_at)
    assert view.health()["clears"] > clears
    assert view.cached_decision(ASSET, GRANTEE, PURPOSE, now) is None
    denied(view.decide(ASSET, GRANTEE, PURPOSE, now), "grant_revoked")


def test_start_fails_when_the_chain_does_not_answer(fresh: GatewayChain) -> None:
    fresh.backend.server.stop()
    try:
        with pytest.raises(ChainUnavailableError, match="does not answer"):
            ChainView(fresh.backend, fresh.contracts, PROVIDER).start()
    finally:
        fresh.backend.server.start()
    # ... and fails at once: one request, no retries (a connection that is not lean retries five times with a
    # back-off of about 4 s in all). An endpoint that accepts each connection and closes it counts the attempts.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        attempts = 0

        def hang_up() -> None:
            nonlocal attempts
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:  # the listener is closed: the test is over
                    return
                attempts += 1
                connection.close()

        counter = threading.Thread(target=hang_up)
        counter.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        silent = RpcBackend(url, chain_id=fresh.backend.chain_id)
        try:
            with pytest.raises(ChainUnavailableError, match="does not answer"):
                ChainView(silent, fresh.contracts, PROVIDER).start()
        finally:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
            counter.join(10)
        assert attempts == 1


# -- cost ---------------------------------------------------------------------------------------------------------


@pytest.mark.benchmark
def test_cost_of_a_cached_decision_and_of_a_miss(shared: GatewayChain, view_of: Callable[..., ChainView]) -> None:
    view = view_of(shared)
    now = time.time()
    view.decide(ASSET, GRANTEE, PURPOSE, now)
    calls = 100_000
    started_at = time.perf_counter()
    for _ in range(calls):
        view.cached_decision(ASSET, GRANTEE, PURPOSE, now)
    cached_us = (time.perf_counter() - started_at) / calls * 1e6
    misses = 20
    started_at = time.perf_counter()
    for i in range(misses):
        view.decide(ASSET, GRANTEE, f"purpose-{i}", now)
    miss_ms = (time.perf_counter() - started_at) / misses * 1e3
    print(f"cached decision {cached_us:.2f} µs, miss (no grant) {miss_ms:.2f} ms")
    assert cached_us < 20, f"a cached decision took {cached_us:.2f} µs"
    assert miss_ms < 100, f"a miss took {miss_ms:.2f} ms"
