"""The checkpointer's witnesses and policy, followed: what its follower answers before a round is whom it asks and
what it counts in that round (``network.logsetup.ChainWitnesses`` answers from the TrustDirectory; the whole path
through the chain, with processes, is ``tests/integration/cli/test_witness_from_chain.py``). Real witness servers
on loopback, real signatures; one notary throughout."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from notary.checkpointer import Witness, WitnessPolicy
from notary.errors import NotaryError
from notary.log.note import open_note
from notary.logsuite import public_bytes
from notary.sequencer import encode_batch, sign_batch_body
from notary.service import NotaryService
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, LogWorld, new_key


class Follower:
    """Answers the witnesses of ``orgs``, each with its keys in ``keys`` (the world's by default), under a policy
    of two of them with the regulator ``reg``: what the chain would say, set by the test."""

    def __init__(self, world: LogWorld, orgs: Sequence[str]) -> None:
        self.world = world
        self.orgs = tuple(orgs)
        self.keys = {org: [world.witness_keys[org]] for org in world.witness_keys}
        self.asked = 0

    def __call__(self) -> tuple[Sequence[Witness], WitnessPolicy]:
        self.asked += 1
        suite = self.world.suite
        witnesses = []
        for org in self.orgs:
            name = f"test-consortium/witness/{org}"
            first, *others = [suite.cosignature_verifier(name, public_bytes(k)) for k in self.keys[org]]
            witnesses.append(Witness(org, f"http://127.0.0.1:{self.world.ports[org]}", first, tuple(others)))
        return witnesses, WitnessPolicy(2, self.orgs, True, frozenset({"reg"}))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LogWorld]:
    w = LogWorld(tmp_path)
    yield w
    w.close()


def grow(world: LogWorld, notary: NotaryService, seq: int) -> None:
    body = encode_batch(GATEWAY, [event(event_id=f"ev-{seq}", gateway_seq=seq, time_ms=int(time.time() * 1000))])
    notary.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))


def cosigners(world: LogWorld, note: bytes) -> set[str]:
    """The witnesses whose cosignature verifies on ``note``, under the keys the world's witnesses hold now."""
    open_note(note, [world.log_verifier()])
    found = set()
    for org, verifier in world.cosigners().items():
        try:
            _, signatures = open_note(note, [verifier])
        except NotaryError:
            continue
        if signatures:
            found.add(org)
    return found


def test_a_witness_the_follower_adds_is_asked_and_counted_from_the_next_round_and_one_it_drops_is_not(
    world: LogWorld,
) -> None:
    follower = Follower(world, ("reg",))
    notary = world.notary(witnesses=[], follow_witnesses=follower)
    try:
        grow(world, notary, 1)
        assert notary.checkpointer.round() is None  # reg alone: one of the two needed
        assert set(notary.checkpointer.last_answers) == {"reg"}

        follower.orgs = ("reg", "alpha")
        published = notary.checkpointer.round()
        assert published is not None and published.size == 1
        assert cosigners(world, published.cosigned or b"") == {"reg", "alpha"}
        assert notary.checkpointer.policy.describe() == "2 of 2 witnesses including a regulator"

        follower.orgs = ("reg",)  # alpha's key ended on chain: no longer asked, no longer counted
        grow(world, notary, 2)
        assert notary.checkpointer.round() is None
        assert set(notary.checkpointer.last_answers) == {"reg"}
        assert notary.store.latest_checkpoint(published=True).size == 1  # type: ignore[union-attr]
        assert follower.asked == 3
    finally:
        notary.stop()


def test_a_witness_in_a_rotations_overlap_is_counted_under_either_key(world: LogWorld) -> None:
    """alpha's new key is listed with its old one; alpha's witness, restarted with the new key, is counted; a key
    the follower does not list is not."""
    follower = Follower(world, ("reg", "alpha"))
    old, new = world.witness_keys["alpha"], new_key(world.suite)
    follower.keys["alpha"] = [old, new]
    notary = world.notary(witnesses=[], follow_witnesses=follower)
    try:
        world.stop_witness("alpha")
        world.witness_keys["alpha"] = new
        world.start_witness("alpha")
        grow(world, notary, 1)
        published = notary.checkpointer.round()
        assert published is not None
        assert cosigners(world, published.cosigned or b"") == {"reg", "alpha"}

        follower.keys["alpha"] = [old]  # the new key not listed (never published, or declared compromised)
        grow(world, notary, 2)
        assert notary.checkpointer.round() is None
        assert notary.checkpointer.last_answers["alpha"].detail == "no cosignature by the witness's key"
    finally:
        notary.stop()
