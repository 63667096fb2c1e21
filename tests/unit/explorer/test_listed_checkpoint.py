"""``explorer.logfollow.listed_checkpoint``: a row of the notary's ``/v1/checkpoints`` read as the ``CheckpointJSON``
the explorer stores and answers. A row as the notary writes it comes back equal, its anchor the same object (a key
the explorer does not know relayed); a row with a field missing or of another JSON type is refused, naming it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from explorer.logfollow import listed_checkpoint
from notary.log.errors import MalformedError


def row() -> dict[str, Any]:
    return {
        "size": 300,
        "root": "cm9vdA==",
        "time_ms": 1_795_000_000_000,
        "published_ms": None,
        "cosigners": ["alpha", "reg"],
        "note": "test/audit-log\n300\ncm9vdA==\n\n— test/audit-log AAAA\n",
        "anchor": {
            "size": 300, "tx_hash": "0x" + "ab" * 32, "nonce": 4, "state": "confirmed", "sent_ms": 1,
            "block_number": 7, "block_hash": "0x" + "cd" * 32, "confirmed_ms": 2, "later_key": "relayed",
        },
    }  # fmt: skip


def test_a_row_as_the_notary_writes_it_is_read_unchanged() -> None:
    given = row()
    listed = listed_checkpoint(copy.deepcopy(given))
    assert listed == given and list(listed) == list(given)
    assert listed_checkpoint({**given, "anchor": None})["anchor"] is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.pop("time_ms"), "no time_ms"),
        (lambda r: r.update(size=True), "size is a boolean, not an integer"),
        (lambda r: r.update(root=None), "root is null, not a string"),
        (lambda r: r.update(published_ms="2"), "published_ms is a string, not an integer or null"),
        (lambda r: r.update(cosigners=["alpha", 1]), "cosigners is not a list of names"),
        (lambda r: r.update(anchor=[]), "anchor is a list, not an object or null"),
        (lambda r: r["anchor"].pop("tx_hash"), "no anchor.tx_hash"),
        (lambda r: r["anchor"].update(state="lost"), "anchor.state is 'lost', not one of sent, confirmed, failed"),
        (lambda r: r["anchor"].update(block_number=7.0), "anchor.block_number is a number, not an integer or null"),
    ],
)
def test_a_row_with_a_field_missing_or_of_another_type_is_refused_naming_it(change: Any, expected: str) -> None:
    bad = row()
    change(bad)
    with pytest.raises(MalformedError) as refused:
        listed_checkpoint(bad)
    assert str(refused.value) == expected


def test_a_row_that_is_no_object_is_refused() -> None:
    with pytest.raises(MalformedError, match="a listed checkpoint is a JSON object, not list"):
        listed_checkpoint([row()])
