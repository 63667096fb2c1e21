"""The explorer's snapshot of the contracts' state follows the head of our node (in this process, over real
JSON-RPC on loopback): a block without an event of the registry, the asset registry or the grants (an anchor)
only relabels the snapshot; a block with one (a revocation, a suspension) is read again, and so is the state
after ``full_every`` seconds whatever the blocks held."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator

import pytest

from chain.ids import AssetKind, MemberStatus
from explorer.state import ChainState, grant_state
from tests.integration.explorer.chainindex_chain import Deployed, LocalNode, deploy, founder_accounts

ASSET = "state-quotes"
ORIGIN = "ledger.example/state-log"


def digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


@pytest.fixture(scope="module")
def chain() -> Iterator[Deployed]:
    accounts = founder_accounts()
    backend = LocalNode(accounts["op"])
    try:
        yield deploy(backend, accounts)
    finally:
        backend.close()


def state_of(c: Deployed, full_every: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> ChainState:
    assert isinstance(c.backend, LocalNode)
    state = ChainState(c.backend.url, dict(c.deployment.addresses), full_every=full_every, clock=clock)
    assert state.refresh() is True
    return state


def head(c: Deployed) -> int:
    return int(c.backend.web3.eth.block_number)


def test_an_anchor_relabels_the_snapshot_and_a_revocation_is_read(chain: Deployed) -> None:
    c = chain
    s = c.signers
    c.assets.register_asset(s["alpha"], ASSET, AssetKind.API, digest("v1"), digest("meta"), 2)
    now = c.now()
    grant_id = c.grants.create_grant(s["alpha"], ASSET, "beta", "research", now - 60, now + 86_400, 10)
    state = state_of(c)
    assert state.reads == 1 and state.snapshot.block == head(c)
    grant = state.snapshot.grant("0x" + grant_id.hex())
    assert grant is not None and grant_state(grant, state.snapshot.asset(ASSET), now) == "active"

    c.anchors.anchor(s["op"], ORIGIN, 7, digest("root"), digest("checkpoint"))
    assert state.refresh() is False  # the anchor changes nothing the snapshot holds
    assert state.reads == 1 and state.snapshot.block == head(c)
    assert state.snapshot.grant("0x" + grant_id.hex()) is grant

    c.grants.revoke(s["alpha"], grant_id, 3)
    assert state.refresh() is True
    assert state.reads == 2 and state.snapshot.block == head(c)
    revoked = state.snapshot.grant("0x" + grant_id.hex())
    assert revoked is not None and grant_state(revoked, state.snapshot.asset(ASSET), c.now()) == "revoked"
    assert state.refresh() is False and state.reads == 2  # the head did not move


def test_a_suspension_is_read(chain: Deployed) -> None:
    c = chain
    state = state_of(c)
    member = state.snapshot.member("gamma")
    assert member is not None and member.status == MemberStatus.ACTIVE
    c.registry.suspend(c.signers["reg"], "gamma")
    try:
        assert state.refresh() is True
        member = state.snapshot.member("gamma")
        assert member is not None and member.status == MemberStatus.SUSPENDED
    finally:
        c.registry.reinstate(c.signers["reg"], "gamma")


def test_the_state_is_read_again_after_full_every(chain: Deployed) -> None:
    c = chain
    now = [1000.0]  # an injected clock: the machine's load cannot stretch the window
    state = state_of(c, full_every=0.2, clock=lambda: now[0])
    c.anchors.anchor(c.signers["op"], ORIGIN, 8, digest("root 8"), digest("checkpoint 8"))
    assert state.refresh() is False and state.reads == 1  # within full_every: relabelled
    now[0] += 0.25
    c.anchors.anchor(c.signers["op"], ORIGIN, 9, digest("root 9"), digest("checkpoint 9"))
    assert state.refresh() is True and state.reads == 2
    assert state.snapshot.block == head(c)
