"""The node's account database keeps each code it reads by its hash (``chain.node.vm._AccountDB.get_code``); py-evm
reads it through the journal, the batch and the store at every message. Random sequences of code reads and writes,
checkpoints kept and discarded, persists, and accounts whose code is missing, run on the node's database and on the
same database with py-evm's ``get_code``: each read gives the same code or the same error, and the codes marked
accessed and the codes read from the store stay the same."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.vm.interrupt import MissingBytecode
from eth_typing import Address, Hash32
from eth_utils.crypto import keccak

from chain.node.vm import _AccountDB

ADDRESSES = [Address(bytes([0x10 + i]) * 20) for i in range(6)]
CODES = [b"\x60\x00" + bytes([i]) * (1 + 7 * i) for i in range(4)]


CODE_HASHES = {keccak(code) for code in CODES}


def _codes_read(accounts: AccountDB) -> set[bytes]:
    return accounts._raw_store_db._keys_read & CODE_HASHES


class _PyEvmCodes(_AccountDB):
    get_code = AccountDB.get_code


def _state(seed: int) -> tuple[AtomicDB, Hash32]:
    """A store with some accounts' codes already in it, and its state root."""
    rng = random.Random(seed)
    db = AtomicDB()
    accounts = AccountDB(db)
    for address in ADDRESSES[:3]:
        accounts.set_code(address, rng.choice(CODES[:3]))
    accounts.persist()
    return db, accounts.state_root


def _apply(accounts: AccountDB, step: tuple[Any, ...], checkpoints: list[Any]) -> Any:
    kind = step[0]
    if kind == "get":
        try:
            return accounts.get_code(step[1])
        except MissingBytecode as error:
            return ("missing", error.args)
    if kind == "set":
        accounts.set_code(step[1], step[2])
    elif kind == "hash only":  # an account naming a code the store does not hold
        accounts._set_account(step[1], accounts._get_account(step[1]).copy(code_hash=keccak(step[2])))
    elif kind == "record":
        checkpoints.append(accounts.record())
    elif kind in ("discard", "commit") and checkpoints:
        getattr(accounts, kind)(checkpoints.pop())
    elif kind == "persist":
        accounts.persist()
        checkpoints.clear()
    return None


def _steps(rng: random.Random) -> list[tuple[Any, ...]]:
    steps: list[tuple[Any, ...]] = []
    for _ in range(60):
        kind = rng.choice(["get"] * 6 + ["set", "hash only", "record", "record", "discard", "commit", "persist"])
        if kind == "set":
            steps.append((kind, rng.choice(ADDRESSES), rng.choice(CODES)))
        elif kind == "hash only":
            steps.append((kind, rng.choice(ADDRESSES), b"not stored" + bytes([rng.randrange(3)])))
        elif kind == "get":
            steps.append((kind, rng.choice(ADDRESSES)))
        else:
            steps.append((kind,))
    return steps


@pytest.mark.parametrize("seed", range(40))
def test_code_reads_are_py_evms(seed: int) -> None:
    rng = random.Random(seed)
    steps = _steps(rng)
    (ours_db, root), (theirs_db, same_root) = _state(seed), _state(seed)
    assert root == same_root
    ours, theirs = _AccountDB(ours_db, root), _PyEvmCodes(theirs_db, root)
    ours_checkpoints: list[Any] = []
    theirs_checkpoints: list[Any] = []
    for step in steps:
        mine, reference = _apply(ours, step, ours_checkpoints), _apply(theirs, step, theirs_checkpoints)
        assert mine == reference, step
        assert ours._accessed_bytecodes == theirs._accessed_bytecodes, step
        # the keys of codes read from the store (trie nodes are read once a process, through the node's cache)
        assert _codes_read(ours) == _codes_read(theirs), step
    assert ours.state_root == theirs.state_root


class _CountingStore:
    def __init__(self, db: AtomicDB) -> None:
        self.db, self.reads = db, []  # type: ignore[var-annotated]

    def __getitem__(self, key: bytes) -> bytes:
        self.reads.append(key)
        return self.db[key]


def test_a_code_kept_is_served_without_reading_the_store_again() -> None:
    db, root = _state(0)
    accounts = _AccountDB(db, root)
    store = _CountingStore(db)
    accounts._raw_store_db.wrapped_db = store  # type: ignore[assignment]
    first = accounts.get_code(ADDRESSES[0])
    code_hash = keccak(first)
    assert store.reads.count(code_hash) == 1
    again = accounts.get_code(ADDRESSES[0])
    assert again is first and store.reads.count(code_hash) == 1
