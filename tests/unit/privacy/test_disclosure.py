"""privacy.disclosure: membership and non-membership proofs verify; forged ones fail."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notary.log.hashing import Hash32
from privacy.disclosure import Commitment, CommittedSet, LeafProof, commit_set, prove_disclosure, verify_disclosure
from privacy.errors import DisclosureError

KEY = bytes(range(32))
ids = st.sets(st.integers(0, 60).map(lambda n: f"ACCT:{n}"), max_size=10)


def _commit(identifiers: set[str]) -> CommittedSet:
    return commit_set("job-1", KEY, sorted(identifiers))


@settings(max_examples=15, deadline=None)
@given(ids, st.integers(0, 60).map(lambda n: f"ACCT:{n}"))
def test_proof_verifies_and_tells_the_truth(members: set[str], x: str) -> None:
    committed = _commit(members)
    proof = prove_disclosure(committed, "client", "input", x)
    assert proof.member == (x in members)
    verify_disclosure(proof, committed.commitment)
    # the same proof for another identifier fails: its VRF proof is for x
    other = "ACCT:999"
    with pytest.raises(DisclosureError):
        verify_disclosure(dataclasses.replace(proof, identifier=other), committed.commitment)
    # flipping the claim fails
    with pytest.raises(DisclosureError):
        verify_disclosure(dataclasses.replace(proof, member=not proof.member), committed.commitment)


@settings(max_examples=12, deadline=None)
@given(st.sets(st.integers(0, 60).map(lambda n: f"ACCT:{n}"), min_size=3, max_size=10), st.data())
def test_forged_leaves_fail(members: set[str], data: st.DataObject) -> None:
    committed = _commit(members)
    size = len(committed.leaves)
    x = data.draw(st.integers(100, 200).map(lambda n: f"ACCT:{n}"))  # never a member
    proof = prove_disclosure(committed, "server", "input", x)
    assert not proof.member
    # a tampered path hash
    leaf = proof.leaves[0]
    if leaf.path:
        path = list(leaf.path)
        path[0] = Hash32(bytes(b ^ 1 for b in path[0]))
        forged = dataclasses.replace(proof, leaves=(dataclasses.replace(leaf, path=tuple(path)), *proof.leaves[1:]))
        with pytest.raises(DisclosureError):
            verify_disclosure(forged, committed.commitment)
    # a real leaf that is not a neighbour, with a valid inclusion proof, in place of each honest one
    honest = [lp.index for lp in proof.leaves]
    far = data.draw(st.sampled_from([i for i in range(size) if i not in honest]))
    far_leaf = prove_disclosure(committed, "server", "input", committed.identifiers[far]).leaves[0]
    for k in range(len(proof.leaves)):
        leaves = list(proof.leaves)
        leaves[k] = far_leaf
        with pytest.raises(DisclosureError):
            verify_disclosure(dataclasses.replace(proof, leaves=tuple(leaves)), committed.commitment)
    # a member's leaf claimed as its own by a non-member
    member_leaf = prove_disclosure(committed, "server", "input", committed.identifiers[0]).leaves[0]
    with pytest.raises(DisclosureError):
        verify_disclosure(dataclasses.replace(proof, member=True, leaves=(member_leaf,)), committed.commitment)


def test_non_adjacent_neighbours_fail() -> None:
    committed = _commit({f"ACCT:{n}" for n in range(12)})
    proof = next(
        p
        for p in (prove_disclosure(committed, "client", "input", f"ACCT:{n}") for n in range(500, 540))
        if len(p.leaves) == 2 and p.leaves[0].index > 0
    )
    lower, upper = proof.leaves
    # widen the gap: the leaf one further down is still below beta, but not adjacent to the upper one
    further = prove_disclosure(committed, "client", "input", committed.identifiers[lower.index - 1]).leaves[0]
    with pytest.raises(DisclosureError, match="not adjacent"):
        verify_disclosure(dataclasses.replace(proof, leaves=(further, upper)), committed.commitment)


def test_empty_set_and_wrong_commitment() -> None:
    empty = _commit(set())
    proof = prove_disclosure(empty, "client", "result", "ACCT:1")
    assert not proof.member and proof.leaves == ()
    verify_disclosure(proof, empty.commitment)
    full = _commit({"ACCT:1"})
    with pytest.raises(DisclosureError):
        verify_disclosure(proof, full.commitment)
    member = prove_disclosure(full, "client", "input", "ACCT:1")
    other_key = commit_set("job-1", bytes(32), ["ACCT:1"]).commitment
    with pytest.raises(DisclosureError):
        verify_disclosure(member, other_key)
    with pytest.raises(DisclosureError):
        verify_disclosure(member, Commitment(full.commitment.vrf_key, 2, full.commitment.root))
    with pytest.raises(DisclosureError):
        verify_disclosure(dataclasses.replace(member, leaves=(LeafProof(0, b"\x00" * 64, ()),)), full.commitment)
