"""The validators' activity (``explorer.validators``) derived from synthetic block rows as the chain index holds
them: who proposed and sealed, who missed the rounds before a block decided in a later round (QBFT's rotation,
``chain.qbft.rules.proposer``), the blocks where the set changed, and what cannot be derived from rows indexed
before the proposer was recorded."""

from __future__ import annotations

from typing import Any

import pytest

from explorer.validators import activity, missed_proposers
from tests.support.validator_blocks import ZERO, A, B, C, D, E, chain, next_proposer, org_of, row

# -- who missed --------------------------------------------------------------------------------------------------


def test_the_missed_proposers_are_the_rotation_from_the_parents_proposer() -> None:
    # after B: round 0 is C's, round 1 D's, round 2 A's (wrapping around)
    assert missed_proposers([A, B, C, D], B, 1) == [(C, 1)]
    assert missed_proposers([D, C, B, A], B, 3) == [(C, 1), (D, 1), (A, 1)]  # any order in, sorted as QBFT sorts
    # past the set's size the same proposers come back: rounds 0..5 are C D A B C D
    assert missed_proposers([A, B, C, D], B, 6) == [(C, 2), (D, 2), (A, 1), (B, 1)]
    assert missed_proposers([A, B, C, D], B, 0) == []
    # the genesis block's zero beneficiary, and a proposer no longer in the set: the first validator above it
    assert missed_proposers([A, B, C, D], ZERO, 2) == [(A, 1), (B, 1)]
    assert missed_proposers([A, C, D], B, 1) == [(C, 1)]


@pytest.mark.parametrize("previous", [ZERO, A, B, C, D, E])
@pytest.mark.parametrize("round_", [1, 2, 3, 4, 5, 9, 17])
def test_the_missed_proposers_count_every_round_of_the_rotation(previous: str, round_: int) -> None:
    validators = [A, B, C, D]
    expected: dict[str, int] = {}
    for r in range(round_):
        who = next_proposer(validators, previous, r)
        expected[who] = expected.get(who, 0) + 1
    found = missed_proposers(validators, previous, round_)
    assert dict(found) == expected and len(found) == len(expected)
    assert found[0][0] == next_proposer(validators, previous, 0)


def test_a_huge_round_is_counted_without_walking_every_round() -> None:
    assert missed_proposers([A, B, C, D], A, 2**31 - 1) == [(B, 536870912), (C, 536870912), (D, 536870912),
                                                            (A, 536870911)]  # fmt: skip


def test_the_missed_proposers_of_no_set_or_a_malformed_address_are_refused() -> None:
    with pytest.raises(ValueError):
        missed_proposers([], A, 1)
    with pytest.raises(ValueError):
        missed_proposers([A, "0x12"], A, 1)


# -- the counts ---------------------------------------------------------------------------------------------------


def by_address(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["address"]: v for v in answer["validators"]}


def test_proposed_sealed_missed_and_in_set_over_the_whole_chain() -> None:
    rows = chain([0, 0, 2, 0, 1, 0])
    # proposers: 1 A (after the zero beneficiary), 2 B, 3 round 2 after B: C and D missed, A decided;
    # 4 B, 5 round 1 after B: C missed, D decided; 6 A
    assert [r["seals"]["proposer"]["address"] for r in rows[::-1][1:]] == [A, B, A, B, D, A]
    answer = activity(rows, 1000, org_of)
    assert (answer["head"], answer["window"], answer["first"]) == (6, 1000, 0)
    assert [v["address"] for v in answer["validators"]] == [A, B, C, D]
    counts = {a: (v["proposed"], v["sealed"], v["missed"], v["in_set"]) for a, v in by_address(answer).items()}
    assert counts == {A: (3, 6, 0, 6), B: (2, 6, 0, 6), C: (0, 6, 2, 6), D: (1, 0, 1, 6)}
    assert all(v["current"] for v in answer["validators"])
    assert [v["org"] for v in answer["validators"]] == ["alpha", "beta", "gamma", "delta"]
    assert answer["unknown_proposer"] == answer["unknown_missed"] == 0
    assert answer["round_changes_total"] == 2
    assert answer["round_changes"] == [
        {"number": 5, "round": 1, "proposer": {"address": D, "org": "delta"},
         "missed": [{"address": C, "org": "gamma", "rounds": 1}]},
        {"number": 3, "round": 2, "proposer": {"address": A, "org": "alpha"},
         "missed": [{"address": C, "org": "gamma", "rounds": 1}, {"address": D, "org": "delta", "rounds": 1}]},
    ]  # fmt: skip
    assert answer["set_changes"] == [] and answer["set_changes_total"] == 0


def test_a_seal_counts_once_per_block_and_block_zero_for_nothing() -> None:
    rows = [row(1, [A, B], A, 0, [A, A, B.lower()]), row(0, [A, B], ZERO, 3, [B])]
    answer = activity(rows, 10, org_of)
    assert {a: (v["proposed"], v["sealed"], v["missed"]) for a, v in by_address(answer).items()} == {
        A: (1, 1, 0), B: (0, 1, 0),
    }  # fmt: skip
    assert answer["round_changes_total"] == 0  # block 0's round is not a round change


def test_the_window_counts_the_newest_blocks_and_reads_the_parent_of_the_oldest() -> None:
    rows = chain([0, 0, 2, 0, 1, 0])
    # asked as the API asks: the window and one block more
    answer = activity(rows[:4], 3, org_of)  # blocks 6, 5, 4 counted; block 3 is the parent of block 4
    assert (answer["head"], answer["first"]) == (6, 4)
    counts = {a: (v["proposed"], v["missed"], v["in_set"]) for a, v in by_address(answer).items()}
    assert counts == {A: (1, 0, 3), B: (1, 0, 3), C: (0, 1, 3), D: (1, 0, 3)}
    assert [r["number"] for r in answer["round_changes"]] == [5] and answer["round_changes_total"] == 1
    # without the parent row, the oldest block's set is unknown: it counts for nobody's in_set
    alone = activity(rows[:3], 3, org_of)
    assert by_address(alone)[A]["in_set"] == 2


def test_a_block_decided_in_a_later_round_without_its_parent_cannot_name_who_missed() -> None:
    rows = chain([0, 0, 2])
    answer = activity(rows[:1], 1, org_of)  # block 3 alone
    assert answer["round_changes"] == [
        {"number": 3, "round": 2, "proposer": {"address": A, "org": "alpha"}, "missed": None}
    ]
    assert answer["unknown_missed"] == 1 and answer["round_changes_total"] == 1
    assert sum(v["missed"] for v in answer["validators"]) == 0


def test_rows_indexed_before_the_proposer_was_recorded_count_as_unknown() -> None:
    rows = chain([0, 1, 0, 1, 0], recorded_from=3)  # blocks 1 and 2 have no proposer key
    assert "proposer" not in rows[-2]["seals"]
    answer = activity(rows, 100, org_of)
    assert answer["unknown_proposer"] == 2
    assert sum(v["proposed"] for v in answer["validators"]) == 3
    # block 2 (round 1): its own proposer unknown, and its parent's too, so who missed is unknown
    # block 4 (round 1): its parent, block 3, has one, so the missed proposer is known
    changes = {r["number"]: r for r in answer["round_changes"]}
    assert changes[2]["proposer"] is None and changes[2]["missed"] is None
    assert changes[4]["missed"] is not None and len(changes[4]["missed"]) == 1
    assert answer["unknown_missed"] == 1
    # block 3's parent (block 2) lacks a proposer, but block 3 was decided in round 0: nothing to derive
    assert sum(v["missed"] for v in answer["validators"]) == 1


def test_set_changes_name_the_block_and_who_came_and_went() -> None:
    # block 3 names A B C (D leaves: it decides block 3, not block 4); block 5 names A B C E (E joins)
    rows = chain([0, 0, 0, 0, 0, 0], sets={3: [A, B, C], 5: [A, B, C, E]})
    answer = activity(rows, 1000, org_of)
    assert answer["set_changes_total"] == 2
    assert answer["set_changes"] == [
        {"number": 5, "validators": [A, B, C, E], "added": [{"address": E, "org": None}], "removed": []},
        {"number": 3, "validators": [A, B, C], "added": [], "removed": [{"address": D, "org": "delta"}]},
    ]
    listed = by_address(answer)
    assert [v["address"] for v in answer["validators"]] == [A, B, C, E, D]  # the current set first
    assert [v["current"] for v in answer["validators"]] == [True, True, True, True, False]
    assert listed[D]["in_set"] == 3  # blocks 1, 2 and 3
    assert listed[E]["in_set"] == 1  # block 6
    # the same set in another order is no change
    reordered = chain([0, 0], sets={2: [D, C, B, A]})
    assert activity(reordered, 10, org_of)["set_changes_total"] == 0


def test_the_lists_are_cut_and_the_totals_are_not() -> None:
    rows = chain([1] * 12, sets={n: ([A, B, C] if n % 2 else [A, B, C, D]) for n in range(1, 13)})
    answer = activity(rows, 1000, org_of, shown=5)
    assert answer["round_changes_total"] == 12 and len(answer["round_changes"]) == 5
    assert [r["number"] for r in answer["round_changes"]] == [12, 11, 10, 9, 8]  # newest first
    assert answer["set_changes_total"] == 12 and len(answer["set_changes"]) == 5
    assert sum(v["missed"] for v in answer["validators"]) == 12


def test_a_chain_without_seals_and_an_empty_index() -> None:
    plain = [{"number": n, "hash": "0x", "parent_hash": "0x", "timestamp": 0, "tx_count": 0, "seals": None}
             for n in (2, 1, 0)]  # fmt: skip
    answer = activity(plain, 10, org_of)
    assert (answer["head"], answer["first"], answer["validators"]) == (2, 0, [])
    assert answer["unknown_proposer"] == 0 and answer["round_changes"] == answer["set_changes"] == []
    empty = activity([], 10, org_of)
    assert (empty["head"], empty["first"], empty["validators"]) == (-1, None, [])


def test_each_org_is_looked_up_once() -> None:
    asked: list[str] = []

    def counting(address: str) -> str | None:
        asked.append(address)
        return org_of(address)

    activity(chain([0, 1, 2, 0, 3]), 1000, counting)
    assert sorted(asked) == sorted({A, B, C, D})


def test_the_window_is_at_least_one_block() -> None:
    with pytest.raises(ValueError):
        activity(chain([0]), 0, org_of)
