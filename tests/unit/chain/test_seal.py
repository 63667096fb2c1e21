"""chain.seal on the node's headers: Besu's QBFT block hash and commit digest, and the quorum rule.

The extra data's codec and its Besu vector are tested in ``tests/unit/chain/qbft/test_extradata.py``; here the
rules meet py-evm: the node's header class, its stored headers, and stores made under the old format."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.chains.base import Chain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth_account import Account
from eth_typing import BlockNumber
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import ChainError
from chain.node.node import GENESIS_KEY, Genesis, Node
from chain.node.vm import ConsortiumHeader, chain_class
from chain.qbft.block import QbftBlock
from chain.seal import (
    ExtraData,
    QuorumError,
    add_seals,
    block_hash,
    is_qbft_extra,
    quorum,
    seal_digest,
    seal_signers,
    sign_seal,
    verify_seals,
)
from tests.support.clock import FIXED_NOW_S


def _header(validators: list[bytes], round_: int = 0) -> Any:
    extra = ExtraData(b"\0" * 32, tuple(validators), round=round_).encode()
    params: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "extra_data": extra,
        "nonce": b"\0" * 8,
        "mix_hash": b"\0" * 32,
        "coinbase": b"\0" * 20,
    }
    return chain_class(20261).from_genesis(AtomicDB(), params, {}).get_canonical_head()


def _address(account: Any) -> bytes:
    return bytes.fromhex(account.address[2:])


@given(st.integers(1, 300))
def test_quorum_is_ceil_two_thirds(n: int) -> None:
    q = quorum(n)
    assert 3 * q >= 2 * n and 3 * (q - 1) < 2 * n


def test_the_node_hashes_its_headers_as_besu_qbft_does() -> None:
    validator = Account.create()
    header = _header([_address(validator)], round_=2)
    header = add_seals(header, [sign_seal(header, bytes(validator.key))])
    assert isinstance(header, ConsortiumHeader)
    fields = rlp.decode(rlp.encode(header))
    assert header.hash == block_hash(fields) == QbftBlock.from_items([fields, [], []]).hash
    assert header.hash != keccak(rlp.encode(header))  # not Ethereum's rule: round and seals are left out


def test_sealing_and_the_round_leave_the_hash_alone_and_the_seals_bind_the_round() -> None:
    validator = Account.create()
    header = _header([_address(validator)])
    sealed = add_seals(header, [sign_seal(header, bytes(validator.key))])
    assert sealed.hash == header.hash and seal_digest(header) == header.hash  # round 0: the digest is the hash
    extra = ExtraData.decode(sealed.extra_data)
    later = sealed.copy(extra_data=extra.with_seals(3, extra.seals).encode())  # the same seals, another round
    assert later.hash == header.hash and seal_digest(later) != seal_digest(header)
    with pytest.raises(QuorumError):
        verify_seals(later, [_address(validator)])


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 7), st.integers(0, 5), st.data())
def test_a_quorum_of_distinct_validators_is_needed(n: int, round_: int, data: st.DataObject) -> None:
    accounts = [Account.create() for _ in range(n)]
    validators = [_address(a) for a in accounts]
    header = _header(validators, round_)
    signing = data.draw(st.integers(0, n))
    seals = [sign_seal(header, bytes(a.key)) for a in accounts[:signing]]
    sealed = add_seals(header, seals + seals)  # duplicates must not count twice
    assert seal_digest(sealed) == seal_digest(header) and sealed.hash == header.hash
    if signing >= quorum(n):
        assert verify_seals(sealed, validators) == validators[:signing]
    else:
        with pytest.raises(QuorumError):
            verify_seals(sealed, validators)


def test_a_seal_from_outside_the_validator_set_does_not_count() -> None:
    validator, outsider = Account.create(), Account.create()
    header = _header([_address(validator)])
    sealed = add_seals(header, [sign_seal(header, bytes(outsider.key))])
    assert seal_signers(sealed) == [_address(outsider)]
    with pytest.raises(QuorumError, match="0 valid seal"):
        verify_seals(sealed, [_address(validator)])


def test_an_empty_validator_set_is_never_a_quorum() -> None:
    with pytest.raises(QuorumError):
        verify_seals(_header([b"\1" * 20]), [])


def test_any_change_to_the_header_breaks_the_seal() -> None:
    validator = Account.create()
    header = _header([_address(validator)])
    sealed = add_seals(header, [sign_seal(header, bytes(validator.key))])
    tampered = sealed.copy(state_root=b"\x01" * 32)
    with pytest.raises(QuorumError):
        verify_seals(tampered, [_address(validator)])


@pytest.mark.parametrize(
    ("extra", "qbft"),
    [
        (b"", False),  # anvil and most Ethereum chains
        (b"\0" * 32, False),
        (rlp.encode([b"\0" * 32, [], [], b"", []]), True),
        (rlp.encode([b"\0" * 32, [b"\1" * 20], [], b"\x05", [b"\2" * 65]]), True),
        (rlp.encode([b"\0" * 32, [b"\1" * 20], b"", []]), False),  # the 4-item form of older stores
        (rlp.encode([b"\0" * 32, [], [], [], []]), False),  # the round is not a byte string
        (rlp.encode([b"\0" * 32, [], [], b"", []]) + b"x", False),  # trailing bytes
    ],
)
def test_which_headers_hash_the_qbft_way(extra: bytes, qbft: bool) -> None:
    fields: list[Any] = [b"\0" * 32] * 12 + [extra] + [b"\0" * 32, b"\0" * 8]
    assert is_qbft_extra(extra) is qbft
    if not qbft:
        assert block_hash(fields) == keccak(rlp.encode(fields))
    else:  # round and seals are out of the hash: other ones give the same hash, the rest of the header does not
        items = rlp.decode(extra)
        resealed = [*fields[:12], rlp.encode([*items[:3], b"\x07", [b"\3" * 65]]), *fields[13:]]
        unsealed = [*fields[:12], rlp.encode([*items[:3], b"", []]), *fields[13:]]
        assert block_hash(fields) == block_hash(resealed) == keccak(rlp.encode(unsealed))
        assert block_hash([b"\1" * 32, *fields[1:]]) != block_hash(fields)


def test_stored_headers_come_back_as_the_nodes_header_class_with_their_seals() -> None:
    account = Account.create()
    db = AtomicDB()
    genesis = Genesis(20261, (account.address,), account.address, FIXED_NOW_S)
    block = Node(db, genesis, bytes(account.key), clock=lambda: float(FIXED_NOW_S)).seal(allow_empty=True)
    assert block is not None
    reopened = Node(db, None, bytes(account.key)).chain
    head = reopened.get_canonical_head()
    assert isinstance(head, ConsortiumHeader) and head.hash == block.header.hash
    assert head.extra_data == block.header.extra_data and seal_signers(head) == [_address(account)]
    assert reopened.get_block_by_hash(head.hash).header.hash == head.hash


def test_a_store_made_under_the_old_header_format_is_refused_with_the_way_out() -> None:
    """Stores from before the QBFT header format hold 4-item extra data; their hashes cover the seals."""
    account = Account.create()
    db = AtomicDB()
    old_extra = rlp.encode([b"\0" * 32, [_address(account)], b"", []])
    params: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "extra_data": old_extra,
        "nonce": b"\0" * 8,
        "mix_hash": b"\0" * 32,
        "coinbase": b"\0" * 20,
    }
    old_chain: type[Chain] = type("Old", (Chain,), {"chain_id": 20261, "vm_configuration": ((0, PragueVM),)})
    old_chain.from_genesis(db, params, {})
    db[GENESIS_KEY] = Genesis(20261, (account.address,), account.address, 1_700_000_000, 30_000_000).to_json().encode()
    assert db.exists(GENESIS_KEY) and old_chain(db).get_canonical_block_hash(BlockNumber(0))
    with pytest.raises(ChainError, match=r"before the chain took Besu's QBFT header format.*consortium init"):
        Node(db)
