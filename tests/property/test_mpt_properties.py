"""The Merkle-Patricia proof walker (``notary.mpt``) against py-trie's ``HexaryTrie``, the reference: on random
tries every key's proof gives exactly its value, and a proof with a node changed, added or left out, or asked
about another key, never proves a value the trie does not hold."""

from __future__ import annotations

import contextlib

import pytest
import rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from notary.mpt import MAX_PROOF_NODES, ProofError, build_proof, verify_proof
from notary.verify import trie_root

# Keys of 1-4 bytes from a small alphabet of nibbles share long prefixes and are prefixes of each other, so the
# tries get extensions, deep branches, values in branches and embedded nodes.
_byte = st.sampled_from([0x00, 0x01, 0x10, 0x11, 0xF0, 0xFF])
keys = st.lists(_byte, min_size=1, max_size=4).map(bytes)
values = st.one_of(
    st.binary(min_size=1, max_size=3),  # short values: nodes under 32 bytes are embedded in their parents
    st.binary(min_size=30, max_size=80),
)
tries = st.dictionaries(keys, values, min_size=1, max_size=40)
settings_ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _trie(items: dict[bytes, bytes]) -> HexaryTrie:
    trie = HexaryTrie({})
    for key, value in items.items():
        trie[key] = value
    return trie


def _proof(trie: HexaryTrie, key: bytes) -> list[bytes]:
    """py-trie's proof of ``key`` as a bundle holds it: the encoded nodes referenced by hash."""
    nodes = [bytes(rlp.encode(n)) for n in trie.get_proof(key)]  # type: ignore[no-untyped-call]
    return [n for i, n in enumerate(nodes) if i == 0 or len(n) >= 32]


@settings_
@given(tries)
def test_every_key_of_a_trie_is_proven_with_its_value(items: dict[bytes, bytes]) -> None:
    trie = _trie(items)
    for key, value in items.items():
        proof = _proof(trie, key)
        assert verify_proof(bytes(trie.root_hash), key, proof) == value
        reference = trie.get_proof(key)  # type: ignore[no-untyped-call]  # py-trie has no annotations here
        assert HexaryTrie.get_from_proof(trie.root_hash, key, reference) == value  # type: ignore[no-untyped-call]


@settings_
@given(tries, st.data())
def test_a_changed_node_never_proves(items: dict[bytes, bytes], data: st.DataObject) -> None:
    trie = _trie(items)
    key = data.draw(st.sampled_from(sorted(items)))
    proof = _proof(trie, key)
    at = data.draw(st.integers(0, len(proof) - 1))
    byte = data.draw(st.integers(0, len(proof[at]) - 1))
    bit = data.draw(st.integers(0, 7))
    node = bytearray(proof[at])
    node[byte] ^= 1 << bit
    proof[at] = bytes(node)
    with pytest.raises(ProofError):
        verify_proof(bytes(trie.root_hash), key, proof)


@settings_
@given(tries, st.data())
def test_a_node_added_or_left_out_never_proves(items: dict[bytes, bytes], data: st.DataObject) -> None:
    trie = _trie(items)
    key = data.draw(st.sampled_from(sorted(items)))
    proof = _proof(trie, key)
    root = bytes(trie.root_hash)
    extra = data.draw(st.sampled_from(proof))
    with pytest.raises(ProofError):
        verify_proof(root, key, [*proof, extra])
    at = data.draw(st.integers(0, len(proof) - 1))
    with pytest.raises(ProofError):
        verify_proof(root, key, proof[:at] + proof[at + 1 :])


@settings_
@given(tries, st.data(), keys)
def test_a_proof_asked_about_another_key_proves_only_what_the_trie_holds(
    items: dict[bytes, bytes], data: st.DataObject, other: bytes
) -> None:
    trie = _trie(items)
    key = data.draw(st.sampled_from(sorted(items)))
    proof = _proof(trie, key)
    try:
        value = verify_proof(bytes(trie.root_hash), other, proof)
    except ProofError:
        return
    # Only a key whose whole path is on the proven one (e.g. in the same embedded node) can be proven by it.
    assert items.get(other) == value


@settings_
@given(st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=300), st.data())
def test_build_proof_proves_an_item_of_a_block_trie(items: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(items) - 1))
    root, proof = build_proof(items, index)
    assert root == trie_root(items)
    assert verify_proof(root, rlp.encode(index), proof) == items[index]
    if len(items) > 1:
        other = data.draw(st.integers(0, len(items) - 1).filter(lambda i: i != index))
        # Small items share embedded nodes, so one proof may prove a neighbour, but only with its value.
        with contextlib.suppress(ProofError):
            assert verify_proof(root, rlp.encode(other), proof) == items[other]


def test_malformed_proofs_are_refused_with_a_reason() -> None:
    root, proof = build_proof([b"a" * 40, b"b" * 40, b"c"], 1)
    with pytest.raises(ProofError, match="32 bytes"):
        verify_proof(root[:31], rlp.encode(1), proof)
    with pytest.raises(ProofError, match="at most"):
        verify_proof(root, rlp.encode(1), [proof[0]] * (MAX_PROOF_NODES + 1))
    with pytest.raises(ProofError, match="ends after 0"):
        verify_proof(root, rlp.encode(1), [])
    with pytest.raises(ProofError, match="not the node its parent names"):
        verify_proof(root, rlp.encode(1), [b"\xc0", *proof[1:]])
    with pytest.raises(ProofError, match="not in the trie"):
        verify_proof(root, rlp.encode(7), proof)
    with pytest.raises(ValueError, match="index 3"):
        build_proof([b"a"], 3)
