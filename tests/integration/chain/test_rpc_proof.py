"""eth_getProof (EIP-1186) through ``handle()``, every answer checked by a verifier that is not ours: py-trie's
``HexaryTrie.get_from_proof`` against the block's ``stateRoot`` for the account, and against the account's
``storageHash`` for each slot.

The world of ``test_rpc`` (ConsortiumRegistry with two bootstrapped members, AuditAnchor with three anchors, in
blocks 1 to 4) gives a member's record to prove; a contract that stores any word at any slot
(``tests.support.store_contract``) gives random storage writes for the property test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie.exceptions import BadTrieProof
from trie.hexary import HexaryTrie
from web3 import Web3
from web3.providers import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from chain.ids import Role, contract_address, name_to_bytes32
from chain.node.node import Node
from chain.node.rpc import MAX_PROOF_KEYS, RpcServer
from chain.node.store import open_store
from tests.integration.chain.test_rpc import World, build_world, sign
from tests.support.store_contract import STORE_INIT, store_call

ZERO_HASH = "0x" + "00" * 32
ABSENT = "0x" + "12" * 20

# ConsortiumRegistry's storage layout (`vyper -f layout`): members at slot 0, account_org 1, member_count 3;
# a Member is org, name (a length word and two data words), roles, ... from its base. Vyper places
# HashMap[k] at keccak256(slot ++ k).
MEMBERS_SLOT, ACCOUNT_ORG_SLOT, MEMBER_COUNT_SLOT = 0, 1, 3
MEMBER_ROLES_OFFSET = 4


def mapping_slot(slot: int, key: bytes) -> int:
    return int.from_bytes(keccak(slot.to_bytes(32, "big") + key.rjust(32, b"\0")), "big")


def word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


def proven(root: bytes, key: bytes, proof: list[str]) -> bytes:
    """What py-trie finds at ``key`` under ``root`` in the nodes of ``proof`` (b"" when they show it absent);
    py-trie raises ``BadTrieProof`` when a node on the path is not among them."""
    nodes = [rlp.decode(bytes.fromhex(node[2:])) for node in proof]
    value: bytes = HexaryTrie.get_from_proof(root, key, nodes)  # type: ignore[no-untyped-call]
    return value


def check_account(state_root: str, answer: dict[str, Any]) -> bool:
    """The answer's account fields are what its proof shows in the state of ``state_root``; whether the account
    exists."""
    value = proven(bytes.fromhex(state_root[2:]), keccak(bytes.fromhex(answer["address"][2:])), answer["accountProof"])
    if value == b"":
        assert (answer["nonce"], answer["balance"]) == ("0x0", "0x0")
        assert answer["codeHash"] == answer["storageHash"] == ZERO_HASH  # as geth answers an absent account
        return False
    fields = [
        int(answer["nonce"], 16),
        int(answer["balance"], 16),
        bytes.fromhex(answer["storageHash"][2:]),
        bytes.fromhex(answer["codeHash"][2:]),
    ]
    assert value == rlp.encode(fields)
    return True


def check_storage(answer: dict[str, Any]) -> dict[int, int]:
    """Each slot's value is what its proof shows under the answer's storageHash; slot -> value."""
    root = bytes.fromhex(answer["storageHash"][2:])
    values: dict[int, int] = {}
    for entry in answer["storageProof"]:
        slot, value = int(entry["key"], 16), int(entry["value"], 16)
        if root in (BLANK_ROOT_HASH, b"\0" * 32):  # no storage trie: nothing to walk, as geth answers
            assert entry["proof"] == [] and value == 0
        else:
            found = proven(root, keccak(slot.to_bytes(32, "big")), entry["proof"])
            assert found == (rlp.encode(value) if value else b"")
        values[slot] = value
    return values


def state_root(world: World, tag: str) -> str:
    root: str = world.result("eth_getBlockByNumber", tag, False)["stateRoot"]
    return root


@pytest.fixture(scope="module")
def world() -> World:
    """Shared, read-only."""
    return build_world()


def test_a_members_record_in_the_registry_is_proven_against_the_state_root(world: World) -> None:
    alpha = world.accounts["alpha"]
    org = name_to_bytes32("alpha")
    record = mapping_slot(MEMBERS_SLOT, org)
    keys = {
        "member_count": word(MEMBER_COUNT_SLOT),
        "account_org[alpha]": word(mapping_slot(ACCOUNT_ORG_SLOT, bytes.fromhex(alpha.address[2:]))),
        "members[alpha].org": word(record),
        "members[alpha].roles": word(record + MEMBER_ROLES_OFFSET),
        "members[nobody].org": word(mapping_slot(MEMBERS_SLOT, name_to_bytes32("nobody"))),
    }
    answer = world.result("eth_getProof", world.registry, list(keys.values()), "latest")
    assert answer["address"] == world.registry.lower()
    assert check_account(state_root(world, "latest"), answer)
    values = check_storage(answer)
    by_name = {name: values[int(key, 16)] for name, key in keys.items()}
    assert by_name == {
        "member_count": 2,
        "account_org[alpha]": int.from_bytes(org, "big"),
        "members[alpha].org": int.from_bytes(org, "big"),
        "members[alpha].roles": int(Role.MEMBER | Role.NOTARY),
        "members[nobody].org": 0,  # an exclusion proof: the slot was never written
    }
    assert [entry["key"] for entry in answer["storageProof"]] == list(keys.values())  # 32-byte keys echoed
    for key, entry in zip(keys.values(), answer["storageProof"], strict=True):
        assert int(world.result("eth_getStorageAt", world.registry, key, "latest"), 16) == int(entry["value"], 16)
    code = bytes.fromhex(world.result("eth_getCode", world.registry, "latest")[2:])
    assert answer["codeHash"] == "0x" + keccak(code).hex()
    assert answer["nonce"] == "0x1"  # a contract's nonce starts at 1 (EIP-161)
    assert answer["balance"] == world.result("eth_getBalance", world.registry, "latest")


def test_an_account_without_storage_and_an_absent_account(world: World) -> None:
    op = world.accounts["op"]
    answer = world.result("eth_getProof", op.address, ["0x0"], "latest")
    assert check_account(state_root(world, "latest"), answer)
    assert answer["nonce"] == world.result("eth_getTransactionCount", op.address, "latest") == "0x7"
    assert answer["codeHash"] == "0x" + EMPTY_SHA3.hex()
    assert answer["storageHash"] == "0x" + BLANK_ROOT_HASH.hex()
    assert answer["storageProof"] == [{"key": "0x0", "value": "0x0", "proof": []}]

    absent = world.result("eth_getProof", ABSENT, ["0x1", word(2)], "latest")
    assert not check_account(state_root(world, "latest"), absent)  # py-trie: the proof shows no such account
    assert absent["accountProof"]  # the nodes down to where the address's path leaves the trie
    assert absent["storageProof"] == [
        {"key": "0x1", "value": "0x0", "proof": []},
        {"key": word(2), "value": "0x0", "proof": []},
    ]


def test_proofs_of_past_blocks_by_number_tag_and_hash(world: World) -> None:
    """AuditAnchor was deployed in block 2 and anchored in blocks 3 and 4: each block's proof shows its state."""
    storage_roots: dict[int, str] = {}
    before = world.result("eth_getProof", world.anchor, [], "0x1")
    assert not check_account(state_root(world, "0x1"), before)
    genesis = world.result("eth_getProof", world.anchor, [], "earliest")
    assert genesis["accountProof"] == []  # the genesis state is empty: its root is the empty trie's
    assert state_root(world, "earliest") == "0x" + BLANK_ROOT_HASH.hex()
    assert not check_account(state_root(world, "earliest"), genesis)
    roots: dict[int, str] = {}
    for number in (2, 3, 4):
        tag = hex(number)
        roots[number] = state_root(world, tag)
        block_hash = world.result("eth_getBlockByNumber", tag, False)["hash"]
        by_number = world.result("eth_getProof", world.anchor, [], tag)
        by_hash = world.result("eth_getProof", world.anchor, [], {"blockHash": block_hash})
        assert by_number == by_hash
        assert check_account(roots[number], by_number)
        storage_roots[number] = by_number["storageHash"]
    assert len(set(storage_roots.values())) == 3  # each block changed the anchor's storage
    latest = world.result("eth_getProof", world.anchor, [], "latest")
    assert latest == world.result("eth_getProof", world.anchor, [], "0x4")
    # A proof holds only for its own block's root.
    with pytest.raises(BadTrieProof):
        check_account(roots[3], latest)


def test_a_tampered_proof_or_value_fails_the_third_party_verifier(world: World) -> None:
    key = word(MEMBER_COUNT_SLOT)
    answer = world.result("eth_getProof", world.registry, [key], "latest")
    root = state_root(world, "latest")
    assert check_account(root, answer)
    entry = answer["storageProof"][0]
    storage_root = bytes.fromhex(answer["storageHash"][2:])
    slot_key = keccak(MEMBER_COUNT_SLOT.to_bytes(32, "big"))
    assert proven(storage_root, slot_key, entry["proof"]) == rlp.encode(2)

    def flipped(node: str, at: int) -> str:
        raw = bytearray(bytes.fromhex(node[2:]))
        raw[at] ^= 0x01
        return "0x" + raw.hex()

    def in_a_child_hash(node: str) -> int:
        """The first byte of the node's first 32-byte child hash, so that the node stays a valid node. (Found by
        decoding: a search for the 0xa0 prefix in the encoding may land on a byte inside a hash.)"""
        raw = bytes.fromhex(node[2:])
        child = next(c for c in rlp.decode(raw) if isinstance(c, bytes) and len(c) == 32)
        at = raw.index(b"\xa0" + child) + 1
        assert raw[at : at + 32] == child
        return at

    last = entry["proof"][-1]
    with pytest.raises(BadTrieProof):  # a changed node no longer hashes to what its parent names
        proven(storage_root, slot_key, [*entry["proof"][:-1], flipped(last, -1)])
    with pytest.raises(BadTrieProof):  # a node left out
        proven(storage_root, slot_key, entry["proof"][:-1])
    with pytest.raises(AssertionError):  # a claimed value the proof does not show
        check_storage({**answer, "storageProof": [{**entry, "value": "0x3"}]})
    with pytest.raises((AssertionError, BadTrieProof)):  # a claimed balance the account's leaf does not hold
        check_account(root, {**answer, "balance": "0x1"})
    with pytest.raises(BadTrieProof):  # a changed account node
        check_account(
            root,
            {
                **answer,
                "accountProof": [flipped(answer["accountProof"][0], in_a_child_hash(answer["accountProof"][0]))],
            },
        )
    # An absent account cannot be passed off as present, nor a present one as absent. The absent account is one
    # whose path leaves the registry's at the root: a proof of absence whose path ends at the registry's own leaf
    # (the accounts are new each run) would prove the registry, rightly.
    absent = world.result("eth_getProof", elsewhere(world.registry), [], "latest")
    with pytest.raises(AssertionError):
        check_account(root, {**absent, "nonce": "0x1"})
    with pytest.raises((AssertionError, BadTrieProof)):
        check_account(root, {**answer, "accountProof": absent["accountProof"]})


def elsewhere(address: str) -> str:
    """An address no account holds whose state-trie path differs from ``address``'s in its first nibble."""
    first = keccak(bytes.fromhex(address[2:]))[0] >> 4
    return next(
        candidate
        for candidate in ("0x" + f"{n:02x}" * 20 for n in range(0x12, 0x100))
        if keccak(bytes.fromhex(candidate[2:]))[0] >> 4 != first
    )


@pytest.mark.parametrize(
    ("given_key", "echoed"),
    [
        ("0x3", "0x3"),
        ("0x03", "0x3"),
        ("0x0003", "0x3"),
        ("0x" + "0" * 63 + "3", word(3)),  # 32 bytes once padded, as geth reads an odd number of digits
        ("0x" + "0" * 63 + "A", word(10)),
        ("0x" + "AB" * 32, "0x" + "ab" * 32),
    ],
)
def test_keys_are_echoed_as_geth_echoes_them(world: World, given_key: str, echoed: str) -> None:
    answer = world.result("eth_getProof", world.registry, [given_key], "latest")
    assert answer["storageProof"][0]["key"] == echoed
    check_storage(answer)


@pytest.mark.parametrize(
    "params",
    [
        [],
        [ABSENT],
        ["0x" + "12" * 19, []],
        ["0x" + "12" * 21, []],
        ["12" * 20, []],
        [ABSENT, "0x1"],
        [ABSENT, None],
        [ABSENT, {"0x1": True}],
        [ABSENT, ["0x"]],
        [ABSENT, ["1"]],
        [ABSENT, ["0xzz"]],
        [ABSENT, ["0x" + "1" * 65]],
        [ABSENT, [" 0x1"]],
        [ABSENT, ["0x1 "]],
        [ABSENT, [1]],
        [ABSENT, [None]],
        [ABSENT, ["0x1"] * (MAX_PROOF_KEYS + 1)],
        [ABSENT, [], "0x99"],
        [ABSENT, [], "newest"],
        [ABSENT, [], {"blockHash": "0x" + "00" * 32}],
        [ABSENT, [], "latest", "extra"],
    ],
)
def test_invalid_params(world: World, params: list[Any]) -> None:
    error = world.error("eth_getProof", *params)
    assert error["code"] == -32602, error
    assert error["message"].startswith("invalid params: ")


def test_the_most_keys_allowed_are_proven(world: World) -> None:
    answer = world.result("eth_getProof", world.registry, [hex(n) for n in range(MAX_PROOF_KEYS)], "latest")
    assert len(answer["storageProof"]) == MAX_PROOF_KEYS
    assert check_storage(answer)[MEMBER_COUNT_SLOT] == 2


def test_a_state_the_store_lacks_is_a_server_error_naming_the_block() -> None:
    """The node never deletes a trie node; if a store lost one, the answer says which block it cannot prove."""
    world = build_world()
    root = bytes.fromhex(state_root(world, "0x2")[2:])
    del world.node.db[root]
    error = world.error("eth_getProof", world.registry, [], "0x2")
    assert error["code"] == -32000
    assert error["message"].startswith("state unavailable: the node does not hold the state of block 2 ")
    assert "0x" + root.hex() in error["message"]
    assert check_account(state_root(world, "0x3"), world.result("eth_getProof", world.registry, [], "0x3"))


def test_every_past_block_is_proven_from_a_reopened_lmdb_store(tmp_path: Path) -> None:
    """On the node's default store, closed and opened again as at a restart: every block's proofs are the same
    and verify against that block's state root."""
    keys = [hex(n) for n in range(12)]
    with open_store(tmp_path / "chain") as db:
        world = build_world(db)
        contracts = (world.registry, world.anchor)
        before = {(c, n): world.result("eth_getProof", c, keys, hex(n)) for c in contracts for n in range(5)}
    with open_store(tmp_path / "chain") as db:
        node = Node(db)
        again = World(node, RpcServer(node), world.accounts)
        for (contract, number), answer in before.items():
            assert again.result("eth_getProof", contract, keys, hex(number)) == answer
            exists = check_account(state_root(again, hex(number)), answer)
            assert exists == (number >= (1 if contract == world.registry else 2))
            for key, value in check_storage(answer).items():
                assert int(again.result("eth_getStorageAt", contract, hex(key), hex(number)), 16) == value
        assert len({before[world.anchor, n]["storageHash"] for n in (2, 3, 4)}) == 3


class InProcess(BaseProvider):
    """web3.py over ``RpcServer.handle``, without a socket."""

    def __init__(self, rpc: RpcServer) -> None:
        super().__init__()
        self.rpc = rpc

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        answer = self.rpc.handle(body.encode())
        assert answer is not None
        response: RPCResponse = json.loads(answer)
        return response

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


def test_web3_get_proof_parses_the_answer(world: World) -> None:
    w3 = Web3(InProcess(world.rpc))
    get_proof: Any = w3.eth.get_proof  # web3.py types its Method objects' calls loosely
    proof = get_proof(Web3.to_checksum_address(world.registry), [MEMBER_COUNT_SLOT, 99], "latest")
    assert proof["nonce"] == 1 and proof["balance"] == 0
    values = [int.from_bytes(entry["value"], "big") for entry in proof["storageProof"]]  # web3.py gives HexBytes
    assert values == [2, 0]
    assert int.from_bytes(proof["storageProof"][0]["key"], "big") == MEMBER_COUNT_SLOT
    raw = world.result("eth_getProof", world.registry, ["0x3", "0x63"], "latest")
    assert ["0x" + bytes(node).hex() for node in proof["accountProof"]] == raw["accountProof"]
    assert "0x" + bytes(proof["storageHash"]).hex() == raw["storageHash"]


# -- random storage writes ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_world() -> tuple[World, str]:
    """A world with the store contract deployed by the operator: any call writes any word at any slot."""
    world = build_world()
    op = world.accounts["op"]
    nonce = world.nonce("op")
    world.send("deploy_store", sign(op, nonce, None, STORE_INIT))
    world.seal()
    return world, Web3.to_checksum_address(contract_address(bytes.fromhex(op.address[2:]), nonce))


# Slots from a small set, so that writes overwrite, and zero values clear, slots written before.
_slots = st.one_of(st.integers(0, 7), st.sampled_from([2**255, 2**256 - 1, 12345678901234567890]))
_values = st.one_of(st.just(0), st.integers(1, 255), st.integers(1, 2**256 - 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=st.lists(st.dictionaries(_slots, _values, min_size=1, max_size=6), min_size=1, max_size=3))
def test_random_storage_writes_are_proven_block_by_block(
    store_world: tuple[World, str], blocks: list[dict[int, int]]
) -> None:
    world, store = store_world
    op = world.accounts["op"]
    asked = sorted({*(s for writes in blocks for s in writes), 0, 1, 7, 2**255, 2**256 - 1, 99})
    model = check_storage(world.result("eth_getProof", store, [word(s) for s in asked], "latest"))  # earlier examples'
    expected: list[tuple[str, dict[int, int]]] = []
    for writes in blocks:
        for slot, value in writes.items():
            world.send("store", sign(op, world.nonce("op"), store, store_call(slot, value), gas=100_000))
            model[slot] = value
        world.seal()
        expected.append((world.result("eth_blockNumber"), dict(model)))
    for tag, values in expected:
        answer = world.result("eth_getProof", store, [word(s) for s in asked], tag)
        assert check_account(state_root(world, tag), answer)
        assert check_storage(answer) == values
