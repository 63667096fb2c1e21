"""chain.seal: the QBFT-style extra data, seal hashes and the quorum rule."""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import MalformedError
from chain.node.vm import chain_class
from chain.seal import ExtraData, QuorumError, add_seals, quorum, seal_hash, seal_signers, sign_seal, verify_seals

addresses = st.lists(st.binary(min_size=20, max_size=20), min_size=1, max_size=8, unique=True)


@given(addresses, st.integers(0, 2**64 - 1), st.lists(st.binary(min_size=65, max_size=65), max_size=4))
def test_extra_data_round_trips(validators: list[bytes], round_: int, seals: list[bytes]) -> None:
    extra = ExtraData(b"\0" * 32, tuple(validators), round_, tuple(seals))
    assert ExtraData.from_bytes(extra.to_bytes()) == extra


@pytest.mark.parametrize(
    "raw", [b"", b"\xc0", b"garbage", ExtraData(b"\0" * 32, (b"\1" * 20,), 0, ()).to_bytes() + b"x"]
)
def test_malformed_extra_data_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedError):
        ExtraData.from_bytes(raw)


def test_duplicate_validators_are_refused() -> None:
    with pytest.raises(MalformedError, match="distinct"):
        ExtraData.from_bytes(ExtraData(b"\0" * 32, (b"\1" * 20, b"\1" * 20), 0, ()).to_bytes())


@given(st.integers(1, 300))
def test_quorum_is_ceil_two_thirds(n: int) -> None:
    q = quorum(n)
    assert 3 * q >= 2 * n and 3 * (q - 1) < 2 * n


def _header(validators: list[bytes]):  # type: ignore[no-untyped-def]
    extra = ExtraData(b"\0" * 32, tuple(validators), 0, ()).to_bytes()
    params: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": int(time.time()),
        "extra_data": extra,
        "nonce": b"\0" * 8,
        "mix_hash": b"\0" * 32,
        "coinbase": b"\0" * 20,
    }
    return chain_class(20261).from_genesis(AtomicDB(), params, {}).get_canonical_head()


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 7), st.data())
def test_a_quorum_of_distinct_validators_is_needed(n: int, data: st.DataObject) -> None:
    accounts = [Account.create() for _ in range(n)]
    validators = [bytes.fromhex(a.address[2:]) for a in accounts]
    header = _header(validators)
    signing = data.draw(st.integers(0, n))
    seals = [sign_seal(header, bytes(a.key)) for a in accounts[:signing]]
    sealed = add_seals(header, seals + seals)  # duplicates must not count twice
    assert seal_hash(sealed) == seal_hash(header)
    if signing >= quorum(n):
        assert verify_seals(sealed, validators) == validators[:signing]
    else:
        with pytest.raises(QuorumError):
            verify_seals(sealed, validators)


def test_a_seal_from_outside_the_validator_set_does_not_count() -> None:
    validator, outsider = Account.create(), Account.create()
    header = _header([bytes.fromhex(validator.address[2:])])
    sealed = add_seals(header, [sign_seal(header, bytes(outsider.key))])
    assert seal_signers(sealed) == [bytes.fromhex(outsider.address[2:])]
    with pytest.raises(QuorumError, match="0 valid seal"):
        verify_seals(sealed, [bytes.fromhex(validator.address[2:])])


def test_any_change_to_the_header_breaks_the_seal() -> None:
    validator = Account.create()
    v = bytes.fromhex(validator.address[2:])
    header = _header([v])
    sealed = add_seals(header, [sign_seal(header, bytes(validator.key))])
    tampered = sealed.copy(state_root=b"\x01" * 32)
    with pytest.raises(QuorumError):
        verify_seals(tampered, [v])
