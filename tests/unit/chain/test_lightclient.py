"""The light client (``chain.lightclient``, ``chain.stateproof``, ``chain.contracts.proven``) against one real node
in this process, through its own JSON-RPC handler: the chain of trust from the genesis validators across a change
of the validator set, registry records proven from the state, and a refusal for every way a node can lie.

The trie walk is cross-checked against py-trie's ``HexaryTrie``, a verifier that is not ours, on random tries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import rlp
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from chain import lightclient
from chain.contracts.layout import LayoutError, StorageLayout, read
from chain.contracts.privatecheck import TrustedHeads
from chain.contracts.proven import NoContractError, ProvenState
from chain.errors import MalformedError
from chain.ids import MemberStatus, Role, name_to_bytes32
from chain.lightclient import HeaderChainError, VerifiedHeader
from chain.node import trie as node_trie
from chain.node.rpc import RpcServer
from chain.qbft.block import sign
from chain.qbft.extradata import ExtraData
from chain.seal import commit_digest
from chain.stateproof import EMPTY_TRIE_ROOT, StateProofError, walk
from tests.support.inprocess_rpc import InProcessRpc, Tamper
from tests.unit.chain.test_node import registry_call
from tests.unit.chain.test_validator_set import Chain, address


@pytest.fixture(scope="module")
def chain() -> Chain:
    """Blocks 1-5: the registry bootstrapped (op the only validator); beta admitted as a validator in block 2,
    so block 3 needs both seals; the regulator freezes beta in block 4, so block 5 is op's alone again."""
    chain = Chain()
    admit = registry_call(
        "propose_admit", name_to_bytes32("beta"), "Beta", int(Role.MEMBER | Role.VALIDATOR), b"\4" * 32,
        [chain.accounts["beta"].address],
    )  # fmt: skip
    chain.send("op", chain.registry, admit)
    chain.seal()
    chain.send("op", chain.registry, registry_call("propose_threshold", 1))
    chain.seal()
    chain.send("reg", chain.registry, registry_call("suspend", name_to_bytes32("beta")))
    chain.seal()
    chain.send("op", chain.registry, registry_call("propose_threshold", 1))
    chain.seal()
    return chain


def rpc_of(chain: Chain, tamper: Tamper | None = None) -> InProcessRpc:
    return InProcessRpc(RpcServer(chain.node), tamper)


def founders(chain: Chain) -> set[bytes]:
    return {address(chain.accounts["op"])}


def head_of(chain: Chain, tamper: Tamper | None = None) -> VerifiedHeader:
    rpc = rpc_of(chain, tamper)
    genesis = lightclient.trust_genesis(lightclient.block_at(rpc, 0), founders(chain))
    return lightclient.follow(rpc, genesis, int(chain.node.head().block_number))


def test_the_chain_of_trust_follows_a_change_of_the_validator_set(chain: Chain) -> None:
    op, beta = address(chain.accounts["op"]), address(chain.accounts["beta"])
    rpc = rpc_of(chain)
    genesis = lightclient.trust_genesis(lightclient.block_at(rpc, 0), {op})
    assert genesis.validators == (op,)
    seen = [lightclient.follow(rpc, genesis, n) for n in range(1, 6)]
    assert seen[1].validators == tuple(sorted((op, beta)))  # block 2 admitted beta: both seal block 3
    assert set(seen[2].sealed_by) == {op, beta}
    assert seen[3].validators == (op,) and seen[4].sealed_by == (op,)  # frozen in block 4
    head = chain.node.head()
    assert (seen[4].number, seen[4].hash, seen[4].state_root) == (5, head.hash, head.state_root)
    assert rpc.requests.count("eth_getBlockByNumber") == 1 + sum(range(1, 6))  # one batch per walk
    # A walk may also start from a block verified before.
    middle = lightclient.trust_header(lightclient.block_at(rpc, 2), 2, seen[1].hash)
    assert lightclient.follow(rpc, middle, 5) == seen[4]


def test_an_earlier_header_is_proven_back_from_a_later_one_by_parent_hashes(chain: Chain) -> None:
    rpc = rpc_of(chain)
    genesis = lightclient.trust_genesis(lightclient.block_at(rpc, 0), founders(chain))
    forward = [lightclient.follow(rpc, genesis, n) for n in range(1, 6)]
    for n in range(0, 5):
        back = lightclient.walk_back(rpc, forward[4], n)
        want = genesis if n == 0 else forward[n - 1]
        assert (back.number, back.hash, back.validators, back.parent_hash) == (
            want.number, want.hash, want.validators, want.parent_hash,
        )  # fmt: skip
        assert back.sealed_by == ()  # proven by its child's parent hash, not by its own seals
    with pytest.raises(HeaderChainError, match="is not before the trusted block 5"):
        lightclient.walk_back(rpc, forward[4], 6)
    # a block 2 that names other validators (and so hashes otherwise) is refused on the way back
    changed = tamper_block(2, lambda b: {**with_extra(b, replace(extra_of(b), validators=())), "hash": None})
    with pytest.raises(HeaderChainError, match=r"block 2: hashes to 0x.*, not block 3's parent hash 0x"):
        lightclient.walk_back(rpc_of(chain, changed), forward[4], 1)


def test_trusted_heads_go_back_from_the_newest_header_when_it_is_nearer_than_the_genesis(chain: Chain) -> None:
    rpc = rpc_of(chain)
    heads = TrustedHeads(rpc, founders(chain))
    parent, header = heads.sealers(4)
    validators = parent.validators
    assert heads.headers_checked == 4 + 1  # four forward from the genesis, then block 3 back from block 4
    assert header.number == 4 and validators == heads.at(3).validators == tuple(sorted(validators))
    assert heads.headers_checked == 5 and heads.newest is not None and heads.newest.number == 4  # block 3 kept
    heads.at(1)  # nearer the genesis: followed from it again
    assert heads.headers_checked == 5 + 1
    parent, header = heads.sealers(1)  # the founding set seals block 1
    assert parent.validators == (address(chain.accounts["op"]),) and header.number == 1


def test_registry_records_are_proven_from_the_state(chain: Chain) -> None:
    state = ProvenState(rpc_of(chain), head_of(chain), {"ConsortiumRegistry": chain.registry})
    beta = state.member("beta")
    assert beta is not None
    assert (beta.name, beta.roles, beta.status) == ("Beta", Role.MEMBER | Role.VALIDATOR, MemberStatus.SUSPENDED)
    assert beta.accounts == (chain.accounts["beta"].address,) and beta.cert_fingerprint == b"\4" * 32
    op = state.member("op")
    assert op is not None and op.status == MemberStatus.ACTIVE and op.accounts == (chain.accounts["op"].address,)
    assert state.member("nobody") is None  # an exclusion proof: the slot was never written
    registry = StorageLayout.of("ConsortiumRegistry")
    (count, voters) = state.read(
        "ConsortiumRegistry", [registry.variable("member_count"), registry.variable("voter_count")]
    )
    assert (count, voters) == (4, 2)  # op, alpha, reg, beta; beta frozen, reg no MEMBER role


def test_slots_come_from_the_compiled_layout() -> None:
    registry = StorageLayout.of("ConsortiumRegistry")
    members = registry.variable("members")
    assert (members.slot, registry.variable("member_count").slot) == (0, 3)
    record = members.at(name_to_bytes32("alpha"))
    assert record.slot == int.from_bytes(keccak((0).to_bytes(32, "big") + name_to_bytes32("alpha")), "big")
    assert record.member("roles").slot == record.slot + 4  # org, then name: a length word and two data words
    with pytest.raises(LayoutError, match="no member 'nope'"):
        record.member("nope")
    with pytest.raises(LayoutError, match="not a hashmap"):
        registry.variable("member_count").at(1)
    with pytest.raises(LayoutError, match="cannot be"):
        members.at(b"short")
    # A length word beyond the type's maximum is refused, not read as a huge string.
    name = record.member("name")
    with pytest.raises(LayoutError, match="exceeds"):
        read([name], lambda slots: dict.fromkeys(slots, 65))


# -- refusals ------------------------------------------------------------------------------------------------


def tamper_block(number: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Tamper:
    def tamper(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and int(params[0], 16) == number:
            return change(dict(result))
        return result

    return tamper


def with_extra(block: dict[str, Any], extra: ExtraData) -> dict[str, Any]:
    return {**block, "extraData": "0x" + extra.encode().hex()}


def extra_of(block: dict[str, Any]) -> ExtraData:
    return ExtraData.decode(bytes.fromhex(block["extraData"][2:]))


def test_a_header_with_too_few_seals_is_refused(chain: Chain) -> None:
    def one_seal(block: dict[str, Any]) -> dict[str, Any]:  # block 3 needs both op's and beta's
        extra = extra_of(block)
        return with_extra(block, extra.with_seals(extra.round, extra.seals[:1]))

    with pytest.raises(HeaderChainError, match=r"block 3: 1 valid seal\(s\) from block 2's validators, 2 of 2"):
        head_of(chain, tamper_block(3, one_seal))


def test_a_header_sealed_by_others_than_the_validators_is_refused(chain: Chain) -> None:
    def alpha_seals(block: dict[str, Any]) -> dict[str, Any]:
        extra = extra_of(block)
        fields = lightclient.header_fields(block)
        key = PrivateKey(bytes(chain.accounts["alpha"].key))  # alpha is no validator
        seal = sign(key, commit_digest(fields, extra))
        return with_extra(block, extra.with_seals(extra.round, (seal,)))

    with pytest.raises(HeaderChainError, match=r"block 5: 0 valid seal\(s\)"):
        head_of(chain, tamper_block(5, alpha_seals))


def test_a_forged_state_root_is_refused(chain: Chain) -> None:
    """The seals cover the whole header: a state root changed under them no longer carries a quorum; a block
    forged and sealed again breaks the next block's parent link."""
    forged = "0x" + "ab" * 32
    with pytest.raises(HeaderChainError, match=r"block 5: 0 valid seal\(s\)"):
        head_of(chain, tamper_block(5, lambda b: {**b, "stateRoot": forged, "hash": None}))

    def resealed(block: dict[str, Any]) -> dict[str, Any]:
        """Block 3 forged and sealed again by both its validators: accepted, but block 4 names the real one."""
        forged_block = {**block, "stateRoot": forged, "hash": None}
        extra, fields = extra_of(block), lightclient.header_fields(forged_block)
        keys = [PrivateKey(bytes(chain.accounts[org].key)) for org in ("op", "beta")]
        seals = tuple(sign(key, commit_digest(fields, extra)) for key in keys)
        return with_extra(forged_block, extra.with_seals(extra.round, seals))

    rpc = rpc_of(chain, tamper_block(3, resealed))
    genesis = lightclient.trust_genesis(lightclient.block_at(rpc, 0), founders(chain))
    assert lightclient.follow(rpc, genesis, 3).state_root == bytes.fromhex("ab" * 32)
    with pytest.raises(HeaderChainError, match=r"block 4: its parent hash is 0x.*, not block 3's 0x"):
        lightclient.follow(rpc, genesis, 4)


def test_a_genesis_naming_other_validators_and_a_wrong_trusted_hash_are_refused(chain: Chain) -> None:
    rpc = rpc_of(chain)
    with pytest.raises(HeaderChainError, match="block 0: the genesis names the validators 0x"):
        lightclient.trust_genesis(lightclient.block_at(rpc, 0), {address(chain.accounts["alpha"])})
    with pytest.raises(HeaderChainError, match=r"block 2: hashes to 0x.*not the trusted 0x1212"):
        lightclient.trust_header(lightclient.block_at(rpc, 2), 2, b"\x12" * 32)
    genesis = lightclient.trust_genesis(lightclient.block_at(rpc, 0), founders(chain))
    with pytest.raises(HeaderChainError, match="no such block"):
        lightclient.follow(rpc, genesis, 99)


def test_a_node_answering_another_block_is_refused(chain: Chain) -> None:
    def block_four(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and params[0] == "0x5":
            return rpc_of(chain).request(method, ["0x4", False])
        if method == "eth_getProof" and params[2] == "0x5":  # the proof of an older state
            return rpc_of(chain).request(method, [params[0], params[1], "0x3"])
        return result

    with pytest.raises(HeaderChainError, match="block 5: the node answered block 4 instead"):
        head_of(chain, block_four)
    head = head_of(chain)
    state = ProvenState(rpc_of(chain, block_four), head, {"ConsortiumRegistry": chain.registry})
    with pytest.raises(StateProofError, match=f"account 0x{chain.registry[2:].lower()}"):
        state.member("beta")
    # a hash the node claims that is not its header's
    with pytest.raises(HeaderChainError, match="block 2: the node names it 0x00"):
        head_of(chain, tamper_block(2, lambda b: {**b, "hash": "0x" + "00" * 32}))


def flip(node: str, at: int) -> str:
    raw = bytearray(bytes.fromhex(node[2:]))
    raw[at] ^= 0x01
    return "0x" + raw.hex()


def tamper_proof(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Tamper:
    def tamper(method: str, params: list[Any], result: Any) -> Any:
        return change(dict(result)) if method == "eth_getProof" else result

    return tamper


@pytest.mark.parametrize(
    ("what", "change", "message"),
    [
        (
            "an account proof node changed",
            lambda p: {**p, "accountProof": [flip(p["accountProof"][0], -1), *p["accountProof"][1:]]},
            "proof node 0 is not the node its parent names",
        ),
        (
            "a storage proof node changed",
            lambda p: {
                **p,
                "storageProof": [
                    {**e, "proof": [*e["proof"][:-1], flip(e["proof"][-1], -1)]} if e["proof"] else e
                    for e in p["storageProof"]
                ],
            },
            "is not the node its parent names",
        ),
        (
            "a node left out",
            lambda p: {**p, "accountProof": p["accountProof"][:-1]},
            "the proof ends after",
        ),
        (
            "a node added",
            lambda p: {**p, "accountProof": [*p["accountProof"], p["accountProof"][-1]]},
            "beyond the end of the key's path",
        ),
        (
            "a value the proof does not show",
            lambda p: {**p, "storageProof": [{**e, "value": hex(int(e["value"], 16) + 1)} for e in p["storageProof"]]},
            "the answer says 0x",
        ),
        (
            "another storage root",
            lambda p: {**p, "storageHash": "0x" + EMPTY_TRIE_ROOT.hex()},
            "not what the proof shows",
        ),
        (
            "the proof of another slot",
            lambda p: {**p, "storageProof": [{**e, "key": hex(int(e["key"], 16) ^ 1)} for e in p["storageProof"]]},
            "another slot than the one asked for",
        ),
    ],
)
def test_a_tampered_proof_is_refused(
    chain: Chain, what: str, change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    state = ProvenState(rpc_of(chain, tamper_proof(change)), head_of(chain), {"ConsortiumRegistry": chain.registry})
    with pytest.raises(StateProofError, match=message):
        state.member("beta")


def test_an_address_without_a_contract_is_refused(chain: Chain) -> None:
    state = ProvenState(rpc_of(chain), head_of(chain), {"ConsortiumRegistry": "0x" + "12" * 20})
    with pytest.raises(NoContractError, match="holds no contract at ConsortiumRegistry's address 0x1212"):
        state.member("beta")
    state = ProvenState(rpc_of(chain), head_of(chain), {"ConsortiumRegistry": chain.accounts["op"].address})
    with pytest.raises(NoContractError):  # an account, not a contract
        state.member("beta")


# -- the trie walk against py-trie ---------------------------------------------------------------------------


def build(items: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    db: dict[bytes, bytes] = {}
    hexary = HexaryTrie(db)
    for key, value in items.items():
        hexary[key] = value
    return bytes(hexary.root_hash), db


_keys = st.binary(min_size=32, max_size=32) | st.sampled_from([b"\0" * 32, b"\0" * 31 + b"\1", b"\1" + b"\0" * 31])
_values = st.binary(min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(items=st.dictionaries(_keys, _values, max_size=40), asked=st.lists(_keys, min_size=1, max_size=4))
def test_the_walk_agrees_with_py_trie_on_random_tries(items: dict[bytes, bytes], asked: list[bytes]) -> None:
    root, db = build(items)
    for key in [*asked, *list(items)[:3]]:
        proof = node_trie.prove(db, root, key)
        expected = HexaryTrie(db, root).get(key)
        assert walk(root, key, proof) == (expected or None)
        decoded = [rlp.decode(node) for node in proof]
        if proof:
            assert HexaryTrie.get_from_proof(root, key, decoded) == expected  # type: ignore[no-untyped-call]


@settings(max_examples=40, deadline=None)
@given(
    items=st.dictionaries(_keys, _values, min_size=2, max_size=30),
    node=st.integers(min_value=0),
    byte=st.integers(min_value=0),
)
def test_any_changed_byte_of_a_proof_is_refused(items: dict[bytes, bytes], node: int, byte: int) -> None:
    root, db = build(items)
    key = next(iter(items))
    proof = node_trie.prove(db, root, key)
    at = node % len(proof)
    raw = bytearray(proof[at])
    raw[byte % len(raw)] ^= 0x01
    with pytest.raises(MalformedError):
        walk(root, key, [*proof[:at], bytes(raw), *proof[at + 1 :]])
