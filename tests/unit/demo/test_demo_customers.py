"""demo.privacy's made-up customer lists: the sizes and the overlap the README and ``consortium up`` announce, the
same lists on every run, and identifiers that cannot be anyone's."""

from __future__ import annotations

from demo.privacy import CLIENT_SIZE, MAX_INPUT, OWNER_SIZE, SHARED, demo_customers
from privacy.identifiers import normalise_identifier


def test_the_lists_have_the_announced_sizes_and_overlap() -> None:
    owner, client = demo_customers()
    assert (len(owner), len(client)) == (4_000, 3_000) == (OWNER_SIZE, CLIENT_SIZE)
    assert len(set(owner)) == len(owner) and len(set(client)) == len(client)
    assert len(set(owner) & set(client)) == 600 == SHARED
    assert max(len(owner), len(client)) <= MAX_INPUT


def test_the_lists_are_the_same_on_every_call() -> None:
    assert demo_customers() == demo_customers()


def test_every_identifier_is_a_valid_cnid_of_a_region_code_no_region_has() -> None:
    owner, client = demo_customers()
    for identifier in owner + client:
        assert normalise_identifier(identifier) == identifier  # GB 11643-1999, check character included
        assert identifier.startswith("CNID:99"), identifier


def test_the_shared_customers_are_spread_through_both_lists() -> None:
    owner, client = demo_customers()
    shared = set(owner) & set(client)
    for listing in (owner, client):
        positions = [i for i, identifier in enumerate(listing) if identifier in shared]
        assert positions[0] < len(listing) // 10 and positions[-1] > len(listing) * 9 // 10, positions[:3]
