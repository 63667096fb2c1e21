"""tests.support.cleartext's search for ABI words: a word counts where the ABI puts one, and nowhere else."""

from __future__ import annotations

import json

from tests.support.cleartext import occurrences, word_occurrences

QUOTA = (5000).to_bytes(32, "big")
OP = b"op".ljust(32, b"\0")


def body(**fields: str) -> bytes:
    return json.dumps(fields).encode()


def test_a_word_counts_at_a_word_boundary_of_log_data_or_of_calldata_after_its_selector() -> None:
    needle = {"quota": [QUOTA.hex().encode()]}
    key = bytes.fromhex("1388") + bytes(30)  # a random key that happens to start with the quota's digits
    across = body(data="0x" + (OP + key).hex())  # op's padded name, then that key: the quota's hex spans the two
    assert occurrences({"log": across}, needle) == ["log: quota"]  # the substring search counts it
    assert word_occurrences({"log": across}, needle) == []  # no word of the log is the quota
    assert word_occurrences({"log": body(data="0x" + (OP + QUOTA).hex())}, needle) == ["log: quota"]
    calldata = "0x" + "deadbeef" + (OP + QUOTA).hex()
    assert word_occurrences({"tx": body(input=calldata)}, needle) == ["tx: quota"]
    shifted = "0x" + "dead" + (OP + QUOTA).hex()  # neither at the start nor after a selector
    assert word_occurrences({"tx": body(input=shifted)}, needle) == []
