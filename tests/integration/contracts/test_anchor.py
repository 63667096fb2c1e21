"""AuditAnchor: only notaries anchor, tree sizes strictly increase per origin, and the lookups."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from chain.contracts import AnchorInfo
from chain.errors import MalformedError
from chain.ids import OrgId, Role, bytes32_to_name
from chain.tx import build_transaction, send_transaction, wait_receipt
from tests.integration.contracts.contract_helpers import digest, known, refused, send
from tests.support.consortium import Consortium

ZERO32 = b"\0" * 32
UINT64_MAX = 2**64 - 1
ORIGIN = "audit.consortium.example/log"


def anchor(c: Any, origin: str, size: int) -> Any:
    return c.anchors.anchor(c.signers["op"], origin, size, root(origin, size), checkpoint(origin, size))


def root(origin: str, size: int) -> bytes:
    return digest(f"root of {origin} at {size}")


def checkpoint(origin: str, size: int) -> bytes:
    return digest(f"checkpoint of {origin} at {size}")


def covering_reference(sizes: list[int], index: int) -> int | None:
    """The first anchored size whose tree holds leaf ``index``, i.e. the first size greater than it."""
    return next((s for s in sizes if s > index), None)


def test_anchor_records_the_checkpoint(consortium: Consortium) -> None:
    c = consortium
    receipt = anchor(c, ORIGIN, 3)
    (event,) = c.anchors.decode_events(receipt, "Anchored")
    args = event["args"]
    assert bytes(args["origin_hash"]) == Web3.keccak(text=ORIGIN)
    assert (args["tree_size"], args["origin"], bytes32_to_name(bytes(args["notary"]))) == (3, ORIGIN, "op")
    assert (bytes(args["root_hash"]), bytes(args["checkpoint_digest"])) == (root(ORIGIN, 3), checkpoint(ORIGIN, 3))

    block = c.backend.web3.eth.get_block(receipt["blockNumber"])
    first = AnchorInfo(
        ORIGIN, 3, root(ORIGIN, 3), checkpoint(ORIGIN, 3), OrgId("op"), receipt["blockNumber"], block["timestamp"]
    )
    assert c.anchors.latest(ORIGIN) == first
    assert c.anchors.at_size(ORIGIN, 3) == first
    assert c.anchors.count(ORIGIN) == 1
    assert c.anchors.origins() == [ORIGIN]

    receipt = anchor(c, ORIGIN, 10)
    second = c.anchors.latest(ORIGIN)
    assert second is not None
    assert (second.tree_size, second.root_hash, second.block_number) == (10, root(ORIGIN, 10), receipt["blockNumber"])
    assert c.anchors.at_size(ORIGIN, 3) == first
    assert c.anchors.at_size(ORIGIN, 10) == second
    assert c.anchors.at_size(ORIGIN, 5) is None
    assert c.anchors.count(ORIGIN) == 2
    fns = c.anchors.contract.functions
    assert [fns.size_at(ORIGIN, i).call() for i in range(2)] == [3, 10]
    assert fns.origin_count().call() == 1
    logged = c.anchors.events("Anchored", filters={"origin_hash": Web3.keccak(text=ORIGIN)})
    assert [e["args"]["tree_size"] for e in logged] == [3, 10]


def test_only_a_notary_anchors(consortium: Consortium) -> None:
    c = consortium
    args = (ORIGIN, 1, digest("r"), digest("c"))
    refused("not a notary", c.anchors.anchor, c.signers["alpha"], *args)
    refused("regulator is read-only", c.anchors.anchor, c.signers["reg"], *args)
    refused("not a member", c.anchors.anchor, c.outsider, *args)
    c.registry.suspend(c.signers["reg"], "op")
    refused("member suspended", c.anchors.anchor, c.signers["op"], *args)
    c.registry.reinstate(c.signers["reg"], "op")
    c.anchors.anchor(c.signers["op"], *args)
    assert c.anchors.count(ORIGIN) == 1


def test_a_notary_needs_no_member_role(consortium: Consortium) -> None:
    c = consortium
    notary = c.new_signer()
    pid = c.registry.propose_admit(
        c.signers["alpha"], "notary", "Notary", Role.NOTARY | Role.WITNESS, digest("n"), [notary.address]
    )
    assert c.registry.approve(c.signers["beta"], pid)
    c.anchors.anchor(notary, ORIGIN, 4, digest("r"), digest("c"))
    assert known(c.anchors.latest(ORIGIN)).notary == "notary"


def test_anchor_validation(consortium: Consortium) -> None:
    c = consortium
    op = c.signers["op"]
    refused("empty origin", send, c, c.anchors, op, "anchor", "", 1, digest("r"), digest("c"))
    refused("empty root hash", c.anchors.anchor, op, ORIGIN, 1, ZERO32, digest("c"))
    refused("empty checkpoint digest", c.anchors.anchor, op, ORIGIN, 1, digest("r"), ZERO32)
    for origin, size, root_hash in [
        ("", 1, digest("r")),
        ("x" * 129, 1, digest("r")),
        ("line\nbreak", 1, digest("r")),
        (ORIGIN, 0, digest("r")),
        (ORIGIN, 2**64, digest("r")),
        (ORIGIN, 1, b"short"),
    ]:
        with pytest.raises(MalformedError):
            c.anchors.anchor(op, origin, size, root_hash, digest("c"))
    c.anchors.anchor(op, "x" * 128, 1, digest("r"), digest("c"))  # the longest origin
    assert c.anchors.origins() == ["x" * 128]


def test_tree_size_must_strictly_increase(consortium: Consortium) -> None:
    c = consortium
    op = c.signers["op"]
    refused("tree size must increase", send, c, c.anchors, op, "anchor", ORIGIN, 0, digest("r"), digest("c"))
    assert c.anchors.origins() == []  # the refused first anchor did not register the origin
    anchor(c, ORIGIN, 5)
    for size in (5, 4, 1):
        refused("tree size must increase", anchor, c, ORIGIN, size)
    refused("tree size must increase", send, c, c.anchors, op, "anchor", ORIGIN, 0, digest("r"), digest("c"))
    anchor(c, ORIGIN, 6)
    anchor(c, ORIGIN, UINT64_MAX)
    refused("tree size must increase", anchor, c, ORIGIN, UINT64_MAX)
    assert c.anchors.count(ORIGIN) == 3
    assert known(c.anchors.latest(ORIGIN)).tree_size == UINT64_MAX


def test_origins_are_independent(consortium: Consortium) -> None:
    c = consortium
    anchor(c, "origin-a", 10)
    anchor(c, "origin-b", 3)  # smaller than origin-a's: each origin counts on its own
    anchor(c, "origin-b", 10)
    refused("tree size must increase", anchor, c, "origin-a", 10)
    anchor(c, "origin-a", 11)
    assert c.anchors.origins() == ["origin-a", "origin-b"]
    assert (c.anchors.count("origin-a"), c.anchors.count("origin-b")) == (2, 2)
    assert known(c.anchors.latest("origin-a")).root_hash == root("origin-a", 11)
    assert known(c.anchors.latest("origin-b")).root_hash == root("origin-b", 10)
    assert known(c.anchors.at_size("origin-b", 10)).checkpoint_digest == checkpoint("origin-b", 10)
    assert c.anchors.at_size("origin-a", 3) is None
    assert known(c.anchors.covering("origin-b", 2)).tree_size == 3
    assert known(c.anchors.covering("origin-a", 2)).tree_size == 10


def test_lookups_of_an_unknown_origin(consortium: Consortium) -> None:
    c = consortium
    assert c.anchors.latest("never-anchored") is None
    assert c.anchors.at_size("never-anchored", 1) is None
    assert c.anchors.covering("never-anchored", 0) is None
    assert c.anchors.count("never-anchored") == 0
    with pytest.raises(MalformedError):
        c.anchors.latest("")


def test_covering_finds_the_first_tree_holding_the_leaf(consortium: Consortium) -> None:
    c = consortium
    sizes = [3, 7, 8, 20]
    for size in sizes:
        anchor(c, ORIGIN, size)
    for index, expected in [
        (0, 3),
        (2, 3),
        (3, 7),
        (6, 7),
        (7, 8),
        (8, 20),
        (19, 20),
        (20, None),
        (21, None),
        (UINT64_MAX, None),
    ]:
        found = c.anchors.covering(ORIGIN, index)
        assert (found.tree_size if found else None) == expected, index
    found = known(c.anchors.covering(ORIGIN, 5))
    assert found == c.anchors.at_size(ORIGIN, 7)
    assert (found.root_hash, found.checkpoint_digest, found.notary) == (root(ORIGIN, 7), checkpoint(ORIGIN, 7), "op")


_origins = itertools.count()
#: Ample for one anchor; giving the gas skips estimation, the costliest step on an in-process chain.
ANCHOR_GAS = 500_000


def anchor_quickly(c: Any, origin: str, sizes: list[int]) -> None:
    """Anchor ``sizes`` in order, sending every transaction before waiting for the receipts."""
    op = c.signers["op"]
    hashes = []
    for size in sizes:
        data = c.anchors.encode("anchor", origin, size, root(origin, size), checkpoint(origin, size))
        tx = build_transaction(c.backend, op, c.anchors.address, data, gas=ANCHOR_GAS)
        hashes.append(send_transaction(c.backend, op, tx))
    for tx_hash in hashes:
        wait_receipt(c.backend, tx_hash, "AuditAnchor.anchor")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, UINT64_MAX), max_size=5, unique=True).map(sorted),
    extra=st.lists(st.integers(0, UINT64_MAX), max_size=5),
)
def test_covering_matches_a_reference(consortium: Consortium, sizes: list[int], extra: list[int]) -> None:
    """Every example anchors its sizes under an origin of its own on the test's one consortium."""
    c = consortium
    origin = f"property/{next(_origins)}"
    anchor_quickly(c, origin, sizes)
    assert c.anchors.count(origin) == len(sizes)
    indexes = {0, UINT64_MAX, *extra}
    for size in sizes:
        indexes.update(i for i in (size - 1, size, size + 1) if i <= UINT64_MAX)
    for index in sorted(indexes):
        found = c.anchors.covering(origin, index)
        expected = covering_reference(sizes, index)
        assert (found.tree_size if found else None) == expected, (sizes, index)
        if found is not None:
            assert expected is not None
            assert found.root_hash == root(origin, expected)
