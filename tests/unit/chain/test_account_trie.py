"""The node's account database with the batched account trie (``chain.node.vm._AccountDB``) against py-evm's
own: the same random account changes (balances, nonces, code, storage, empty accounts touched, accounts deleted,
changes reverted to a checkpoint) give the same state root at every persist, py-evm's own account database reads
every account back from the nodes the batched trie wrote, and setting an earlier root reads that state."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth_typing import Address

from chain.node.vm import _AccountDB

ADDRESSES = [Address(bytes([i]) * 20) for i in range(1, 30)]


ACTIONS = ("balance", "nonce", "code", "storage", "touch", "delete", "revert")


def _changes(rng: random.Random) -> list[tuple[str, Address, int]]:
    return [(rng.choice(ACTIONS), rng.choice(ADDRESSES), rng.choice((0, 1, 2, 10**18))) for _ in range(40)]


def _apply(db: AccountDB, changes: list[tuple[str, Address, int]]) -> None:
    checkpoint = db.record()
    for action, address, value in changes:
        if action == "balance":
            db.set_balance(address, value)
        elif action == "nonce":
            db.set_nonce(address, value)
        elif action == "code":
            db.set_code(address, bytes([value % 256]) * 3)
        elif action == "storage":
            db.set_storage(address, value % 7, value)
        elif action == "touch":
            db.touch_account(address)
        elif action == "delete":  # as at a transaction's end: py-evm reverts across one deletion at most
            db.delete_account(address)
            db.commit(checkpoint)
            checkpoint = db.record()
        else:  # undo everything since the last checkpoint, then go on from a new one
            db.discard(checkpoint)
            checkpoint = db.record()
    db.commit(checkpoint)


@pytest.mark.parametrize("seed", range(3))
def test_the_batched_account_trie_gives_py_evms_roots(seed: int) -> None:
    rng = random.Random(seed)
    ours_db, theirs_db = AtomicDB(), AtomicDB()
    ours, theirs = _AccountDB(ours_db), AccountDB(theirs_db)
    roots = []
    for _ in range(4):
        changes = _changes(rng)
        _apply(ours, changes)
        _apply(theirs, changes)
        ours.persist()
        theirs.persist()
        assert ours.state_root == theirs.state_root
        roots.append(ours.state_root)
        ours, theirs = _AccountDB(ours_db, ours.state_root), AccountDB(theirs_db, theirs.state_root)
    reader = AccountDB(ours_db, ours.state_root)  # py-evm's own code, on the nodes the batched trie wrote
    for address in ADDRESSES:
        assert reader.get_balance(address) == theirs.get_balance(address)
        assert reader.get_nonce(address) == theirs.get_nonce(address)
        assert reader.get_code(address) == theirs.get_code(address)
        assert reader.account_exists(address) == theirs.account_exists(address)
        assert [reader.get_storage(address, s) for s in range(7)] == [theirs.get_storage(address, s) for s in range(7)]
    moved, earlier = _AccountDB(ours_db, roots[-1]), AccountDB(theirs_db, roots[0])
    moved.state_root = roots[0]  # back to an earlier root, as a revert to a snapshot sets it
    assert [moved.get_balance(a) for a in ADDRESSES] == [earlier.get_balance(a) for a in ADDRESSES]
    assert [moved.get_balance(a) for a in ADDRESSES] != [theirs.get_balance(a) for a in ADDRESSES]


def test_a_failure_while_squashing_leaves_the_account_trie_as_it_was() -> None:
    db = _AccountDB(AtomicDB())
    db.set_balance(ADDRESSES[0], 5)
    db.persist()
    root = db.state_root
    trie: Any = db._trie._db
    with pytest.raises(RuntimeError), db._trie.squash_changes() as squashed:
        squashed[ADDRESSES[1]] = b"\x01"
        raise RuntimeError("refused")
    assert trie._pending == {} and db.state_root == root


@pytest.mark.parametrize("seed", range(3))
def test_the_state_root_is_read_as_py_evm_reads_it(seed: int) -> None:
    """The node reads the root from the account trie itself (``_AccountDB.state_root``), not through the hashing
    wrapper's ``__getattr__``: the same root as py-evm's read on the same database, between changes, after each
    persist, and after a root is set back as a revert sets it."""
    rng = random.Random(seed)
    db = _AccountDB(AtomicDB())
    roots = [db.state_root]
    for _ in range(4):
        changes = _changes(rng)
        for cut in range(0, len(changes), 10):
            _apply(db, changes[cut : cut + 10])
            assert db.state_root == AccountDB.state_root.fget(db)  # type: ignore[attr-defined]
        db.persist()
        assert db.state_root == AccountDB.state_root.fget(db) != roots[-1]  # type: ignore[attr-defined]
        roots.append(db.state_root)
    db.state_root = roots[1]
    assert db.state_root == AccountDB.state_root.fget(db) == roots[1]  # type: ignore[attr-defined]
