"""TrustView: the TrustDirectory read at a block, followed as the chain moves, and the questions it answers."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable

import httpx
import pytest

from chain.contracts import KeyKind
from chain.trustview import TrustSnapshot, TrustView, load_changes, load_snapshot
from tests.support.consortium import Consortium, founder_keys
from tests.support.wait import wait_until


def key(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def head(c: Consortium) -> int:
    return int(c.backend.web3.eth.block_number)


def mine(c: Consortium, blocks: int) -> None:
    """Move the chain ``blocks`` blocks on with transactions that change nothing in the directory."""
    for i in range(blocks):
        c.registry.set_certificate(c.signers["gamma"], key(f"gamma cert {time.time_ns()} {i}"))


@pytest.fixture
def view(consortium: Consortium) -> TrustView:
    v = TrustView(consortium.backend, consortium.trust.address, poll_s=0.02)
    assert v.refresh()
    return v


def test_a_snapshot_holds_every_record_at_its_block(consortium: Consortium, view: TrustView) -> None:
    c = consortium
    snapshot = view.snapshot
    assert snapshot is not None
    assert snapshot.block == head(c) == view.head
    assert snapshot.orgs() == ["alpha"]
    assert [(r.kind, r.value) for r in snapshot.records["alpha"]] == list(founder_keys("alpha"))
    assert view.ca_certs("alpha") == [founder_keys("alpha")[0][1]]
    assert view.ca_certs() == view.ca_certs("alpha")
    assert view.gateway_keys("alpha") == [founder_keys("alpha")[1][1]]
    assert view.gateway_keys("beta") == []
    before = head(c)
    c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, key("beta gw"))
    old = load_snapshot(c.trust, before)
    assert old.orgs() == ["alpha"] and old.change_count == snapshot.change_count


def test_refresh_reads_again_only_after_a_change(consortium: Consortium, view: TrustView) -> None:
    c = consortium
    seen: list[TrustSnapshot] = []
    view.subscribe(seen.append)
    assert len(seen) == 1  # the current one, at once
    mine(c, 2)
    assert view.refresh() is False
    assert view.head == head(c) and len(seen) == 1
    c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, key("beta gw"))
    assert view.refresh() is True
    assert len(seen) == 2 and seen[-1] is view.snapshot
    assert view.gateway_keys("beta") == [key("beta gw")]
    assert view.refresh() is False


def test_now_moves_with_the_head_through_an_overlap(consortium: Consortium, view: TrustView) -> None:
    """A rotation announced for later blocks takes effect as the head passes them, with no new read."""
    c = consortium
    alpha = c.signers["alpha"]
    old, new = founder_keys("alpha")[1][1], key("alpha gw 2")
    start = head(c) + 4
    c.trust.add_key(alpha, KeyKind.GATEWAY_KEY, new, valid_from=start)
    c.trust.retire_key(alpha, 1, valid_until=start + 3)
    assert view.refresh()
    assert view.gateway_keys("alpha") == [old]
    reads = view.snapshot
    while head(c) < start:
        mine(c, 1)
    assert view.refresh() is False and view.snapshot is reads
    assert view.gateway_keys("alpha") == [old, new]
    while head(c) < start + 3:
        mine(c, 1)
    view.refresh()
    assert view.gateway_keys("alpha") == [new]
    assert view.keys(KeyKind.GATEWAY_KEY, "alpha", at_block=start - 1) == [old]


def test_revoked_serials_count_from_their_block(consortium: Consortium, view: TrustView) -> None:
    c = consortium
    before = head(c)
    c.trust.revoke_serial(c.signers["beta"], 0x1F00D)
    assert not view.is_revoked("beta", 0x1F00D)
    view.refresh()
    assert view.is_revoked("beta", 0x1F00D)
    assert not view.is_revoked("alpha", 0x1F00D)
    assert view.revoked_serials("beta") == {0x1F00D}
    assert view.revoked_serials("beta", at_block=before) == frozenset()


def test_validity_at_a_time_counts_a_compromise_declared_later(consortium: Consortium, view: TrustView) -> None:
    c = consortium
    gw = founder_keys("alpha")[1][1]
    mine(c, 2)
    block = head(c)
    stamp = int(c.backend.web3.eth.get_block(block)["timestamp"])
    c.advance_time(5)
    mine(c, 1)
    view.refresh()
    at = view.block_at_time(stamp)
    assert at is not None and at >= block
    assert view.block_at_time(0) is None
    assert view.was_valid_at_time("alpha", KeyKind.GATEWAY_KEY, gw, stamp)
    assert not view.was_valid_at_time("alpha", KeyKind.GATEWAY_KEY, key("unknown"), stamp)
    c.trust.declare_compromised(c.signers["reg"], "alpha", 1, block)
    view.refresh()
    assert not view.was_valid_at_time("alpha", KeyKind.GATEWAY_KEY, gw, stamp)
    assert view.was_valid("alpha", KeyKind.GATEWAY_KEY, gw, block - 1)
    assert view.gateway_keys("alpha") == []


def test_a_removed_members_keys_count_for_nothing_now(consortium: Consortium, view: TrustView) -> None:
    c = consortium
    c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, key("beta gw"))
    view.refresh()
    assert view.gateway_keys("beta") == [key("beta gw")]
    before = head(c)
    proposal = c.registry.propose_remove(c.signers["alpha"], "beta")
    assert c.registry.approve(c.signers["gamma"], proposal)
    assert view.refresh() is True  # the registry changed, the directory did not
    assert view.gateway_keys("beta") == []
    assert view.keys(KeyKind.GATEWAY_KEY, "beta", at_block=before) == []
    assert view.was_valid("beta", KeyKind.GATEWAY_KEY, key("beta gw"), before)  # what it signed as a member
    assert view.gateway_keys("alpha") == [founder_keys("alpha")[1][1]]


def test_changes_are_read_from_their_events_and_equal_a_full_read(consortium: Consortium, view: TrustView) -> None:
    """Each kind of change (a key added, by a new org and an org already there; a key retired; a serial revoked; a
    compromise declared; several in one refresh, and none of the directory's but a member's removal): the view reads
    only the records they name, from the snapshot before and the events since, and holds what a full read of the
    directory at its head holds."""
    c = consortium
    changes: list[Callable[[], object]] = [
        lambda: c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, key("beta gw")),  # a new org
        lambda: c.trust.add_key(c.signers["alpha"], KeyKind.WITNESS_KEY, key("alpha w"), valid_from=head(c) + 3),
        lambda: c.trust.retire_key(c.signers["alpha"], 1, valid_until=head(c) + 2),
        lambda: c.trust.revoke_serial(c.signers["gamma"], 0x2BAD),
        lambda: c.trust.declare_compromised(c.signers["reg"], "beta", 0, head(c)),
        lambda: (
            c.trust.add_key(c.signers["gamma"], KeyKind.CA_CERT, b"gamma ca"),
            c.trust.add_key(c.signers["op"], KeyKind.LOG_KEY, key("op log")),
            c.trust.retire_key(c.signers["alpha"], 0),
        ),
        lambda: c.registry.approve(c.signers["gamma"], c.registry.propose_remove(c.signers["alpha"], "beta")),
    ]
    for change in changes:
        change()
        assert view.refresh() is True
        full = load_snapshot(c.trust, view.head)
        assert view.snapshot == full
    assert view.full_reads == 1  # the first read only
    assert view.snapshot is not None and view.snapshot.orgs() == ["alpha", "beta", "gamma", "op"]


def test_changes_the_events_do_not_account_for_are_read_in_full(consortium: Consortium, view: TrustView) -> None:
    """A snapshot whose change count the events since do not add up to (what a node that kept no logs would
    give): the changes are not read from events, the directory is read in full."""
    c = consortium
    before = view.snapshot
    assert before is not None
    c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, key("beta gw"))
    state = c.trust.follow_state(head(c))
    assert load_changes(c.trust, before, head(c), state) == load_snapshot(c.trust, head(c))
    miscounted = dataclasses.replace(before, change_count=before.change_count - 1)
    assert load_changes(c.trust, miscounted, head(c), state) is None
    view._snapshot = miscounted  # as if the view had read it
    assert view.refresh() is True and view.full_reads == 2
    assert view.snapshot == load_snapshot(c.trust, view.head)


def test_the_thread_follows_the_chain(consortium: Consortium) -> None:
    c = consortium
    view = TrustView(c.backend, c.trust.address, poll_s=0.02)
    view.start()
    try:
        c.trust.add_key(c.signers["gamma"], KeyKind.CA_CERT, b"gamma ca")
        block = head(c)
        wait_until(
            lambda: view.ca_certs("gamma") == [b"gamma ca"], f"the view to follow to block {block}", 10, every=0.01
        )
        assert view.health()["reachable"] is True
    finally:
        view.stop()


def test_following_an_owners_poll_reads_no_head_of_its_own(consortium: Consortium) -> None:
    """Driven by another poll of the head (the gateway's chain view), the view reads the head only after that poll
    failed, to find out whether the chain answers; a chain that does not marks it unreachable without raising."""
    c = consortium
    reads: list[int] = []
    down = False

    def own_head() -> int:
        reads.append(1)
        if down:
            raise httpx.ConnectError("the node is down")
        return head(c)

    view = TrustView(c.backend, c.trust.address, head=own_head)
    assert view.refresh() and len(reads) == 1
    c.trust.add_key(c.signers["gamma"], KeyKind.CA_CERT, b"gamma ca")
    view.follow(head(c))
    assert view.ca_certs("gamma") == [b"gamma ca"] and view.head == head(c)
    assert len(reads) == 1
    down = True
    view.follow(None)
    assert len(reads) == 2 and view.health()["reachable"] is False
    down = False
    view.follow(None)
    assert view.health()["reachable"] is True
