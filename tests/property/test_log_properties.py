"""Property tests of the log core: the fast tree against the RFC 9162 reference under each tree hash
(SHA-256 and SM3), every genuine proof
verifies and every mutated one is refused (catalogue 1, 2, 22), and parsers never crash on garbage
(catalogue 3): they raise MalformedError or, for notes, another NotaryError."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notary.log.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from notary.log.cosignature import CosignatureSigner, CosignatureVerifier, parse_cosigner_vkey
from notary.log.errors import MalformedError, NotaryError, VerificationError
from notary.log.hashing import SHA256, Hash32, TreeHash
from notary.log.note import (
    NoteSigner,
    NoteVerifier,
    Verifier,
    add_signatures,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)
from notary.log.proof import (
    MemoryNodeReader,
    prove_consistency,
    prove_inclusion,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from notary.log.tiles import TileNodeReader, parse_entry_bundle, parse_tile_path
from notary.log.witnessing import (
    format_add_checkpoint,
    parse_add_checkpoint,
    parse_cosignature_lines,
    parse_size_body,
)
from tests.support import merkle_reference as ref
from tests.support.tree_hashes import each_tree

MAX_SIZE = 300
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def tree_of(size: int, th: TreeHash = SHA256) -> tuple[list[bytes], list[Hash32], MemoryNodeReader]:
    """Distinct entries, their leaf hashes under ``th`` and a reader over them."""
    data = [b"entry-%d" % i for i in range(size)]
    hashes = [th.leaf(e) for e in data]
    return data, hashes, MemoryNodeReader(hashes, th)


@cache
def mth(size: int, th: TreeHash = SHA256) -> bytes:
    return ref.mth(tree_of(MAX_SIZE, th)[0][:size], th.name)


def flip(proof: Sequence[bytes], which: int, bit: int) -> list[bytes]:
    out = list(proof)
    h = bytearray(out[which])
    h[bit // 8] ^= 1 << (bit % 8)
    out[which] = bytes(h)
    return out


def refused_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes, th: TreeHash = SHA256
) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root, th)
    except VerificationError:
        return True
    return False


def refused_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes, th: TreeHash = SHA256
) -> bool:
    try:
        verify_consistency(size1, size2, proof, root1, root2, th)
    except VerificationError:
        return True
    return False


Mutation = tuple[int, int, list[bytes]]


def inclusion_mutations(index: int, size: int, proof: Sequence[bytes], draw: st.DataObject) -> list[Mutation]:
    """The proof with a bit flipped, a hash dropped or added; the index ± 1; the size doubled or halved."""
    proof = list(proof)
    out: list[Mutation] = []
    if proof:
        which = draw.draw(st.integers(0, len(proof) - 1))
        out.append((index, size, flip(proof, which, draw.draw(st.integers(0, 255)))))
        out.append((index, size, proof[:which] + proof[which + 1 :]))
    extra = draw.draw(st.binary(min_size=32, max_size=32))
    at = draw.draw(st.integers(0, len(proof)))
    out.append((index, size, [*proof[:at], extra, *proof[at:]]))
    out.append((index, size, [*proof, proof[0] if proof else extra]))
    out += [(index + 1, size, proof), (index - 1, size, proof), (index, size * 2, proof), (index, size // 2, proof)]
    return out


@each_tree
@FAST
@given(st.integers(0, MAX_SIZE))
def test_root_matches_reference(tree: TreeHash, size: int) -> None:
    _, hashes, reader = tree_of(MAX_SIZE, tree)
    assert tree.root_of(hashes[:size]) == mth(size, tree)
    assert root_at(size, reader, tree) == mth(size, tree)


@each_tree
@FAST
@given(st.data())
def test_inclusion_proofs_match_reference_verify_and_mutations_fail(tree: TreeHash, draw: st.DataObject) -> None:
    size = draw.draw(st.integers(1, MAX_SIZE))
    index = draw.draw(st.integers(0, size - 1))
    data, hashes, reader = tree_of(size, tree)
    proof = prove_inclusion(index, size, reader, tree)
    assert proof == ref.path(index, data, tree.name)
    verify_inclusion(hashes[index], index, size, proof, mth(size, tree), tree)
    for i, n, bad in inclusion_mutations(index, size, proof, draw):
        assert refused_inclusion(hashes[index], i, n, bad, mth(size, tree), tree), (i, n)
        if 0 < n <= MAX_SIZE and (i, n) != (index, size):
            assert refused_inclusion(hashes[index], i, n, bad, mth(n, tree), tree), (i, n)


@each_tree
@FAST
@given(st.data())
def test_consistency_proofs_match_reference_verify_and_mutations_fail(tree: TreeHash, draw: st.DataObject) -> None:
    size2 = draw.draw(st.integers(1, MAX_SIZE))
    size1 = draw.draw(st.integers(0, size2))
    data, _, reader = tree_of(size2, tree)
    proof = prove_consistency(size1, size2, reader, tree)
    assert proof == ref.proof(size1, data, tree.name)
    root1, root2 = mth(size1, tree), mth(size2, tree)
    verify_consistency(size1, size2, proof, root1, root2, tree)
    if proof:
        which = draw.draw(st.integers(0, len(proof) - 1))
        bad = flip(proof, which, draw.draw(st.integers(0, 255)))
        assert refused_consistency(size1, size2, bad, root1, root2, tree)
        assert refused_consistency(size1, size2, proof[:which] + proof[which + 1 :], root1, root2, tree)
    extra = draw.draw(st.binary(min_size=32, max_size=32))
    assert refused_consistency(size1, size2, [*proof, extra], root1, root2, tree)
    assert refused_consistency(size1, size2, [extra, *proof], root1, root2, tree)
    if 0 < size1 < size2:
        assert refused_consistency(size1, size2, proof, root1, extra, tree)
        assert refused_consistency(size1, size2, proof, extra, root2, tree)
        for s1, s2 in [(size1 * 2, size2), (size1 // 2, size2), (size1, size2 * 2), (size1, size2 // 2)]:
            assert refused_consistency(s1, s2, proof, root1, root2, tree), (s1, s2)
            if 0 < s1 <= s2 <= MAX_SIZE:
                assert refused_consistency(s1, s2, proof, mth(s1, tree), mth(s2, tree), tree), (s1, s2)


@each_tree
@FAST
@given(st.data())
def test_inner_nodes_and_forged_leaves_are_not_leaves(tree: TreeHash, draw: st.DataObject) -> None:
    size = draw.draw(st.integers(2, 64))
    data, hashes, _ = tree_of(size, tree)
    levels = tree.levels_of(hashes)
    height = draw.draw(st.integers(1, len(levels) - 1))
    node_index = draw.draw(st.integers(0, len(levels[height]) - 1))
    node = levels[height][node_index]
    node_path = ref.path(node_index << height, data, tree.name)[height:]  # the audit path above the node
    left, right = levels[height - 1][2 * node_index], levels[height - 1][2 * node_index + 1]
    forged_leaf = tree.leaf(b"\x01" + left + right)
    assert forged_leaf != tree.children(left, right) == node
    root = mth(size, tree)
    for index in range(size):
        assert refused_inclusion(node, index, size, node_path, root, tree)
        assert refused_inclusion(forged_leaf, index, size, node_path, root, tree)
        assert refused_inclusion(forged_leaf, index, size, ref.path(index, data, tree.name), root, tree)


@each_tree
@settings(max_examples=100, deadline=None)
@given(st.integers(1, 2000), st.data())
def test_tile_reader_agrees_with_memory_reader(tree: TreeHash, size: int, draw: st.DataObject) -> None:
    hashes = [tree.leaf(b"%d" % i) for i in range(size)]
    levels = tree.levels_of(hashes)
    tiles = {}
    for level in range(0, len(levels), 8):
        for n in range(0, len(levels[level]), 256):
            tiles[(level // 8, n // 256)] = b"".join(levels[level][n : n + 256])
    tiled = TileNodeReader(lambda level, index: tiles[(level, index)], cache_size=3, tree=tree)
    memory = MemoryNodeReader(hashes, tree)
    index = draw.draw(st.integers(0, size - 1))
    size1 = draw.draw(st.integers(0, size))
    assert prove_inclusion(index, size, tiled, tree) == prove_inclusion(index, size, memory, tree)
    assert prove_consistency(size1, size, tiled, tree) == prove_consistency(size1, size, memory, tree)
    assert root_at(size1, tiled, tree) == root_at(size1, memory, tree)


# Parsers never crash ---------------------------------------------------------------------------------------

LOG = NoteSigner("example.com/log", Ed25519PrivateKey.from_private_bytes(b"\x05" * 32))
WITNESS = CosignatureSigner("example.com/w", Ed25519PrivateKey.from_private_bytes(b"\x06" * 32))
VERIFIERS: list[Verifier] = [
    NoteVerifier(LOG.name, LOG.public_key),
    CosignatureVerifier(WITNESS.name, WITNESS.public_key),
]
CP_TEXT = format_checkpoint(Checkpoint("example.com/log", 42, bytes(range(32))))
SIGNED = add_signatures(sign_note(CP_TEXT, [LOG]), [WITNESS.cosign(CP_TEXT, 7)])
REQUEST = format_add_checkpoint(40, [bytes(32), bytes(range(32))], SIGNED)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes flipped, inserted or deleted: garbage that gets deep into a parser."""
    out = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(out)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and pos < len(out):
            out[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete":
            del out[pos : pos + draw(st.integers(1, 3))]
        else:
            del out[pos:]
    return bytes(out)


garbage = st.one_of(st.binary(max_size=300), mutated(SIGNED), mutated(REQUEST))


@settings(max_examples=1000, deadline=None)
@given(garbage)
def test_byte_parsers_raise_only_malformed(data: bytes) -> None:
    for parse in (parse_note, parse_add_checkpoint, parse_size_body, parse_cosignature_lines, parse_entry_bundle):
        with contextlib.suppress(MalformedError):
            parse(data)
    with contextlib.suppress(NotaryError):
        open_note(data, VERIFIERS)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(max_size=200), mutated(CP_TEXT.encode()).map(lambda b: b.decode("utf-8", "replace"))))
def test_text_parsers_raise_only_malformed(text: str) -> None:
    for parse in (parse_checkpoint, parse_tile_path, parse_vkey, parse_cosigner_vkey):
        with contextlib.suppress(MalformedError):
            parse(text)


def test_genuine_inputs_of_the_garbage_generators_parse() -> None:
    note, verified = open_note(SIGNED, VERIFIERS)
    assert parse_checkpoint(note.text).size == 42 and len(verified) == 2
    assert parse_add_checkpoint(REQUEST)[0] == 40


@each_tree
@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257])
def test_tree_helper_has_distinct_leaves(tree: TreeHash, size: int) -> None:
    _, hashes, _ = tree_of(size, tree)
    assert len(set(hashes)) == size
