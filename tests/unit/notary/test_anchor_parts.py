"""The anchor parts of evidence bundles are read from the chain once per confirmed anchor and block."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from notary.evidence import AnchorParts
from notary.storage.base import AnchorRow


def anchor(tx: str, block: str = "0xb1") -> AnchorRow:
    return AnchorRow(
        size=10, tx_hash=tx, raw_tx=b"", nonce=0, state="confirmed", sent_ms=0, block_number=1, block_hash=block,
        confirmed_ms=0,
    )  # fmt: skip


def read(what: str) -> Any:
    """What the stand-in chain answers for ``what``: AnchorParts keeps any answer as it is."""
    return {"read": what}


class Chain:
    def __init__(self) -> None:
        self.reads: list[str] = []

    def reader(self, what: str) -> Callable[[], Any]:
        def build() -> Any:
            self.reads.append(what)
            return read(what)

        return build


def test_one_read_per_anchor() -> None:
    parts, chain = AnchorParts(size=4), Chain()
    first = parts.get(anchor("0xa1"), chain.reader("a1"))
    assert parts.get(anchor("0xa1"), chain.reader("a1 again")) is first
    assert parts.get(anchor("0xa2"), chain.reader("a2")) == read("a2")
    assert chain.reads == ["a1", "a2"]


def test_another_block_for_the_same_transaction_is_read_again() -> None:
    parts, chain = AnchorParts(size=4), Chain()
    parts.get(anchor("0xa1", "0xb1"), chain.reader("b1"))
    assert parts.get(anchor("0xa1", "0xb2"), chain.reader("b2")) == read("b2")
    assert chain.reads == ["b1", "b2"]


def test_the_least_recently_used_is_dropped() -> None:
    parts, chain = AnchorParts(size=2), Chain()
    parts.get(anchor("0x1"), chain.reader("1"))
    parts.get(anchor("0x2"), chain.reader("2"))
    parts.get(anchor("0x1"), chain.reader("1 again"))  # 0x1 is now the most recent
    parts.get(anchor("0x3"), chain.reader("3"))  # drops 0x2
    parts.get(anchor("0x1"), chain.reader("1 third"))
    parts.get(anchor("0x2"), chain.reader("2 again"))
    assert chain.reads == ["1", "2", "3", "2 again"]


def test_a_failed_read_is_not_kept() -> None:
    parts, chain = AnchorParts(size=2), Chain()

    def down() -> Any:
        raise OSError("connection refused")

    try:
        parts.get(anchor("0x1"), down)
    except OSError:
        pass
    else:
        raise AssertionError("the chain's error must reach the caller")
    assert parts.get(anchor("0x1"), chain.reader("up")) == read("up")


def test_concurrent_readers_get_a_whole_part() -> None:
    parts, chain = AnchorParts(size=8), Chain()
    seen: list[Any] = []
    threads = [
        threading.Thread(target=lambda k=k: seen.append(parts.get(anchor(f"0x{k % 3}"), chain.reader(f"{k % 3}"))))
        for k in range(30)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 30 and all(part["read"] in {"0", "1", "2"} for part in seen)
    assert sorted(set(chain.reads)) == ["0", "1", "2"]
