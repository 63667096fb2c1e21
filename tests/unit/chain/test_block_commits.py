"""A block costs its node one durable commit: executing it (building or checking) commits nothing, and the trie
nodes the execution wrote are stored with the block, in its own transaction, when it is appended
(``Store.holding``, ``chain.node.blocks``). A block executed but never appended leaves nothing in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain.node import blocks
from chain.node.node import Genesis, Node
from chain.node.store import Store, available_kinds, open_store
from chain.node.verify import verify_chain
from chain.seal import add_seals, sign_seal
from tests.support.transfers import RECIPIENT

CHAIN_ID = 20261
SEALER = Account.from_key(b"\x0b" * 32)


def transfer(nonce: int) -> bytes:
    tx = {"chainId": CHAIN_ID, "nonce": nonce, "gas": 21_000, "to": RECIPIENT, "value": 0, "gasPrice": 0}
    return bytes(SEALER.sign_transaction(tx).raw_transaction)


def counted(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    commits: list[int] = []
    apply = store._apply

    def counting(puts: Any, deletes: Any) -> None:
        commits.append(len(puts) + len(deletes))
        apply(puts, deletes)

    monkeypatch.setattr(store, "_apply", counting)
    return commits


@pytest.mark.parametrize("kind", [k for k in ("lmdb", "sqlite") if k in available_kinds()])
def test_one_commit_per_block(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "store", kind)
    try:
        genesis = Genesis(CHAIN_ID, (SEALER.address,), SEALER.address, 1_700_000_000)
        node = Node(store, genesis, sealer_key=bytes(SEALER.key))
        me = bytes.fromhex(SEALER.address[2:])
        node.submit(transfer(0))
        commits = counted(store, monkeypatch)

        block = blocks.build(node, me, 0)
        assert block is not None and len(block.transactions) == 1
        assert blocks.execute(node, block) is node.executed.get(bytes(block.hash))  # built: not executed again
        held = node.executed_nodes.get(bytes(block.hash))
        assert held and commits == []  # the execution's trie nodes are held, nothing is committed
        assert all(store.get(key) is None for key in held)  # and another thread (or a restart) sees none of them

        sealed = blocks.append(
            node, blocks.with_header(block, add_seals(block.header, [sign_seal(block.header, bytes(SEALER.key))]))
        )
        assert len(commits) == 1 and commits[0] > len(held)  # the block and its execution's nodes, together
        assert all(store.get(key) == value for key, value in held.items() if value is not None)
        assert node.head().hash == sealed.hash and node.nonce(me) == 1

        node.submit(transfer(1))
        assert node.seal() is not None  # the single sealer's path: build, seal, append
        assert len(commits) == 2
        report = verify_chain(store)  # py-evm's own code re-executes both from what was stored
        assert (report.head, report.transactions) == (2, 2)
    finally:
        store.close()


def test_a_block_never_appended_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path / "store", "lmdb")
    try:
        node = Node(store, Genesis(CHAIN_ID, (SEALER.address,), SEALER.address, 1_700_000_000))
        node.submit(transfer(0))
        commits = counted(store, monkeypatch)
        block = blocks.build(node, bytes.fromhex(SEALER.address[2:]), 0)
        assert block is not None
        held = node.executed_nodes.get(bytes(block.hash))
        assert held and commits == []
    finally:
        store.close()
    again = open_store(tmp_path / "store", "lmdb")
    try:
        assert all(again.get(key) is None for key in held)
        assert Node(again).head().block_number == 0
    finally:
        again.close()
