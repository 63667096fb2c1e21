"""A storage slot read the first time in a block reaches the storage lookup (``chain.node.vm._BatchedStorageLookup``);
the node's read and key hashing are compared with py-evm's (``StorageLookup.__getitem__`` and ``_decode_key``), read
by read: random storage tries, slots present and absent, before and after writes (the write trie; the roots after
them), and with a trie node missing from the store (the same error, with the same arguments)."""

from __future__ import annotations

import random

import pytest
from eth.db.atomic import AtomicDB
from eth.db.storage import StorageLookup
from eth.vm.interrupt import MissingStorageTrieNode
from eth_utils.crypto import keccak

from chain.node.vm import _BatchedStorageLookup

ADDRESS = b"\x42" * 20
BLANK = keccak(b"\x80")


class _PyEvmReads(_BatchedStorageLookup):
    __getitem__ = StorageLookup.__getitem__
    _decode_key = StorageLookup._decode_key


def _key(slot: int) -> bytes:
    return slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")


def _read(lookup: StorageLookup, key: bytes) -> object:
    try:
        return lookup[key]
    except MissingStorageTrieNode as error:
        return ("missing", type(error), error.args)


def _stored(rng: random.Random, slots: list[int]) -> tuple[AtomicDB, bytes]:
    """A store holding a storage trie of ``slots``, written by py-evm's lookup (py-trie), so that none of its
    nodes is in the node's cache of decoded nodes yet."""
    db = AtomicDB()
    if not slots:
        return db, BLANK
    lookup = StorageLookup(db, BLANK, ADDRESS)  # type: ignore[arg-type]
    for slot in slots:
        lookup[_key(slot)] = rng.randbytes(rng.choice([1, 5, 33]))
    root = lookup.get_changed_root()
    lookup.commit_to(db)
    return db, root


def test_slot_keys_are_hashed_as_py_evm_hashes_them() -> None:
    rng = random.Random(1)
    lookup = _BatchedStorageLookup(AtomicDB(), BLANK, ADDRESS)  # type: ignore[arg-type]
    for size in [*range(34), 40]:
        key = rng.randbytes(size)
        assert lookup._decode_key(key) == StorageLookup._decode_key(lookup, key), size


@pytest.mark.parametrize("seed", range(12))
def test_slot_reads_are_py_evms(seed: int) -> None:
    rng = random.Random(seed)
    slots = [rng.choice([rng.randrange(16), rng.getrandbits(256)]) for _ in range(rng.choice([0, 1, 3, 40]))]
    db, root = _stored(rng, slots)
    ours = _BatchedStorageLookup(db, root, ADDRESS)  # type: ignore[arg-type]
    theirs = _PyEvmReads(db, root, ADDRESS)  # type: ignore[arg-type]
    probes = [*slots, *(rng.getrandbits(rng.choice([8, 256])) for _ in range(20))]
    for _ in range(2):  # before writes (the trie at the starting root), then through the write trie
        for slot in probes:
            mine, reference = _read(ours, _key(slot)), _read(theirs, _key(slot))
            assert mine == reference and isinstance(mine, bytes), slot
        for slot in rng.sample(probes, 5):
            value = rng.randbytes(3)
            ours[_key(slot)] = theirs[_key(slot)] = value
    assert ours.get_changed_root() == theirs.get_changed_root()


@pytest.mark.parametrize("seed", range(4))
def test_a_missing_node_is_raised_as_py_evm_raises_it(seed: int) -> None:
    rng = random.Random(seed)
    slots = [rng.getrandbits(256) for _ in range(40)]
    db, root = _stored(rng, slots)
    nodes = list(db.wrapped_db.kv_store)  # type: ignore[attr-defined]
    del db[root if seed == 0 else rng.choice(nodes)]
    ours = _BatchedStorageLookup(db, root, ADDRESS)  # type: ignore[arg-type]
    theirs = _PyEvmReads(db, root, ADDRESS)  # type: ignore[arg-type]
    answers = [
        (_read(ours, _key(s)), _read(theirs, _key(s))) for s in [*slots, *(rng.getrandbits(256) for _ in range(30))]
    ]
    assert all(mine == reference for mine, reference in answers)
    assert any(isinstance(mine, tuple) for mine, _ in answers)
