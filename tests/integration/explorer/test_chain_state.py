"""The explorer's snapshot of the contracts' state follows the head of our node (in this process, over real
JSON-RPC on loopback): a block without an event of the registry, the asset registry or the grants (an anchor)
only relabels the snapshot; a block with one (a revocation, a suspension) is read again, and so is the state
after ``full_every`` seconds whatever the blocks held."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator

import pytest

from chain.contracts.grants import PrivateTerms
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


def test_a_grant_or_asset_newer_than_the_snapshot_is_read_from_the_chain_for_its_detail(chain: Deployed) -> None:
    c = chain
    s = c.signers
    state = state_of(c)
    c.assets.register_asset(s["alpha"], "state-fresh", AssetKind.API, digest("v1"), digest("meta"), 1)
    now = c.now()
    grant_id = "0x" + c.grants.create_grant(s["alpha"], "state-fresh", "beta", "risk", now - 60, now + 600, 5).hex()
    assert state.snapshot.grant(grant_id) is None and state.snapshot.asset("state-fresh") is None  # not refreshed

    fresh = state.fresh_grant(grant_id)
    assert fresh is not None
    grant, asset, at = fresh
    assert (grant.asset, grant.grantor, grant.grantee, grant.purpose) == ("state-fresh", "alpha", "beta", "risk")
    assert asset is not None and asset.owner == "alpha" and grant_state(grant, asset, at) == "active"
    assert at == c.backend.web3.eth.get_block("latest")["timestamp"]
    found = state.fresh_asset("state-fresh")
    assert found is not None and found.owner == "alpha"
    assert state.lookups == 2

    assert state.fresh_grant("0x" + "00" * 32) is None and state.fresh_asset("no-such-asset") is None

    # a private grant, as the demo makes them: read on its own too, and only as what it is
    terms = PrivateTerms.draw("state-fresh", "alpha", "beta", "audit", now - 60, now + 600)
    private_id = "0x" + c.grants.create_private_grant(s["alpha"], terms).hex()
    assert state.snapshot.private_grant(private_id) is None
    private = state.fresh_private_grant(private_id)
    assert private is not None and (private.asset, private.grantor, private.key) == ("state-fresh", "alpha", terms.key)
    assert state.fresh_grant(private_id) is None and state.fresh_private_grant(grant_id) is None
    assert state.fresh_private_grant("0x" + "00" * 32) is None
    assert state.reads == 1  # none of it read a whole snapshot


def test_a_detail_lookup_with_the_chain_unreachable_is_none_and_the_next_one_reconnects(chain: Deployed) -> None:
    state = ChainState("http://127.0.0.1:9", dict(chain.deployment.addresses))  # port 9: nothing listens
    assert state.fresh_grant("0x" + "11" * 32) is None and state.fresh_asset(ASSET) is None
    assert state.lookups == 0
    assert isinstance(chain.backend, LocalNode)
    state.chain_url = chain.backend.url
    assert state.fresh_asset(ASSET) is not None and state.lookups == 1
