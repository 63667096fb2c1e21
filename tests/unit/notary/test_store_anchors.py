"""LogStore's anchor queries: pages in size order, the anchor of the smallest published checkpoint covering a
leaf, the anchors of given sizes, and the largest anchored size, each one indexed query."""

from __future__ import annotations

from pathlib import Path

from notary.store import LogStore


def store_with_anchors(path: Path) -> LogStore:
    store = LogStore(path / "notary.db")
    with store.transaction() as conn:
        for size, state, published in ((10, "confirmed", True), (20, "failed", True), (30, "confirmed", True),
                                       (40, "confirmed", False), (50, "sent", True)):  # fmt: skip
            conn.execute(
                "INSERT INTO checkpoints (size, root, time_ms, note, cosigned) VALUES (?, x'00', 0, x'00', ?)",
                (size, b"cosigned" if published else None),
            )
            conn.execute(
                "INSERT INTO anchors (size, tx_hash, raw_tx, nonce, state, sent_ms) VALUES (?, ?, x'', ?, ?, 0)",
                (size, f"0x{size:02x}", size, state),
            )
    return store


def test_pages_in_size_order(tmp_path: Path) -> None:
    store = store_with_anchors(tmp_path)
    assert [a["size"] for a in store.anchors()] == [10, 20, 30, 40, 50]
    assert [a["size"] for a in store.anchors(after=10, limit=2)] == [20, 30]
    assert [a["size"] for a in store.anchors(after=30, limit=2)] == [40, 50]
    assert store.anchors(after=50) == []
    assert [a["size"] for a in store.anchors(state="confirmed", after=10)] == [30, 40]
    assert [a["size"] for a in store.anchors(sizes=[50, 20, 99])] == [20, 50]
    assert store.anchors(sizes=[]) == []
    store.close()


def test_the_covering_anchor_and_the_anchored_size(tmp_path: Path) -> None:
    store = store_with_anchors(tmp_path)
    covering = {i: a and a["size"] for i in (0, 9, 10, 29, 30, 45, 60) for a in [store.anchor_covering(i)]}
    assert covering == {0: 10, 9: 10, 10: 30, 29: 30, 30: None, 45: None, 60: None}  # 40 is not published
    sent = store.anchor_covering(30, state="sent")
    assert sent is not None and sent["size"] == 50
    assert store.anchored_size() == 40
    store.close()
