"""The node's batched trie (``chain.node.trie``) against py-trie's ``HexaryTrie``, the reference: the same
root after any batch of inserts, updates and deletions over any starting trie, every key readable from the
nodes the batch wrote, and the same transaction/receipt trie roots as py-evm computes."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.trie import _make_trie_root_and_nodes
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie.exceptions import BadTrieProof
from trie.hexary import HexaryTrie

from chain.node import trie

# Keys from a small alphabet of nibbles share long prefixes, so the tries get extensions, deep branches and
# embedded nodes; 32 bytes like storage and account keys.
_nibble = st.sampled_from([0, 1, 15])
keys = st.lists(_nibble, min_size=64, max_size=64).map(lambda n: bytes(n[i] * 16 + n[i + 1] for i in range(0, 64, 2)))
values = st.one_of(
    st.binary(min_size=1, max_size=3),  # short values: nodes under 32 bytes are embedded in their parents
    st.integers(min_value=1, max_value=2**256 - 1).map(lambda v: rlp.encode(v)),
)
settings_ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reference(db: dict[bytes, bytes], root: bytes, changes: dict[bytes, bytes | None]) -> bytes:
    reference = HexaryTrie(db, root)
    for key, value in changes.items():
        if value is None:
            del reference[key]
        else:
            reference[key] = value
    return bytes(reference.root_hash)


@settings_
@given(
    st.dictionaries(keys, values, max_size=40),
    st.dictionaries(keys, st.one_of(st.none(), values), max_size=40),
    st.data(),
)
def test_a_batch_gives_py_trie_s_root_and_every_key_reads_back(
    start: dict[bytes, bytes], changes: dict[bytes, bytes | None], data: st.DataObject
) -> None:
    # Deletions aim at keys that are there as well as at keys that are not.
    for key in data.draw(st.lists(st.sampled_from(sorted(start)), max_size=10)) if start else []:
        changes[key] = None
    db: dict[bytes, bytes] = {}
    root = _reference(db, BLANK_ROOT_HASH, dict(start))
    expected = _reference(dict(db), root, changes)

    ours_db = dict(db)
    got = trie.apply(ours_db, root, changes)
    assert got == expected

    final = {**start, **changes}
    reader = HexaryTrie(ours_db, got)
    for key, value in final.items():
        assert reader[key] == (value or b"")  # py-trie reads the batch's nodes
        assert trie.get(ours_db, got, key) == (value or b"")


@settings_
@given(st.lists(st.binary(min_size=0, max_size=120), max_size=300))
def test_block_tries_match_py_evm(items: list[bytes]) -> None:
    root, nodes = trie.root_and_nodes(items)
    expected_root, expected_nodes = _make_trie_root_and_nodes(tuple(items))
    assert root == expected_root
    assert set(nodes.items()) >= set(expected_nodes.items())


@settings_
@given(st.recursive(st.binary(max_size=70), lambda inner: st.lists(inner, max_size=5), max_leaves=20))
def test_node_rlp_matches_pyrlp(item: Any) -> None:
    assert trie.encode(item) == rlp.encode(item)
    if isinstance(item, list) and len(item) in (2, 17):
        assert trie.decode(rlp.encode(item)) == rlp.decode(rlp.encode(item))


@settings_
@given(st.dictionaries(keys, values, max_size=40), st.lists(keys, max_size=5))
def test_proofs_verify_with_py_trie_for_keys_present_and_absent(
    contents: dict[bytes, bytes], others: list[bytes]
) -> None:
    """``trie.prove`` against py-trie's verifier, on tries py-trie built: a present key's proof gives its value,
    an absent key's proof shows it absent, and the proof is py-trie's own path without the embedded nodes (what
    geth lists), root first."""
    db: dict[bytes, bytes] = {}
    root = _reference(db, BLANK_ROOT_HASH, dict(contents))
    reference = HexaryTrie(db, root)
    for key in [*contents, *others]:
        proof = trie.prove(db, root, key)
        nodes = [rlp.decode(node) for node in proof]
        assert HexaryTrie.get_from_proof(root, key, nodes) == contents.get(key, b"")
        path = [rlp.encode(node) for node in reference.get_proof(key)]
        assert proof == [node for i, node in enumerate(path) if i == 0 or len(node) >= 32]
        if proof:
            assert keccak(proof[0]) == root
            with pytest.raises(BadTrieProof):
                HexaryTrie.get_from_proof(root, key, nodes[:-1])


def test_keys_that_are_prefixes_of_others_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix-free"):
        trie.apply({}, BLANK_ROOT_HASH, {b"\x01": b"a", b"\x01\x02": b"b"})


def test_garbage_is_not_a_node() -> None:
    for garbage in (b"", b"\x80", b"\xc1\x80", b"\xc3\x80\x80\x80", b"\xc2\x80"):
        with pytest.raises((ValueError, IndexError)):
            trie.decode(garbage)
