"""A transaction's signature is checked once at admission (``chain.node.node.check_signature``): the sender it
keeps is the one py-evm recovers, for every transaction type the node accepts, and what py-evm's check refuses
(a signature that recovers no key, or one in the high-s form) is refused the same way."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_keys.constants import SECPK1_N
from eth_utils.exceptions import ValidationError

from chain.errors import MalformedError
from chain.node.node import Genesis, Node
from tests.support.transfers import RECIPIENT

CHAIN_ID = 20261
SENDER = Account.from_key(b"\x07" * 32)
BASE: dict[str, Any] = {"chainId": CHAIN_ID, "nonce": 3, "gas": 50_000, "to": RECIPIENT, "value": 0,
                        "data": "0x1234"}  # fmt: skip
KINDS: dict[str, dict[str, Any]] = {
    "legacy (EIP-155)": {"gasPrice": 0},
    "access list (type 1)": {"gasPrice": 0, "type": 1, "accessList": [{"address": RECIPIENT,
                                                                       "storageKeys": ["0x" + "00" * 32]}]},
    "dynamic fee (type 2)": {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2},
}  # fmt: skip


def signed(kind: str) -> bytes:
    return bytes(SENDER.sign_transaction({**BASE, **KINDS[kind]}).raw_transaction)


def node() -> Node:
    return Node(AtomicDB(), Genesis(CHAIN_ID, (SENDER.address,), SENDER.address, 1_700_000_000))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_sender_kept_is_the_one_py_evm_recovers(kind: str) -> None:
    raw = signed(kind)
    admitted = node().decode_transaction(raw)
    reference = PragueTransactionBuilder.decode(raw)
    reference.check_signature_validity()
    assert admitted.sender == reference.sender == bytes.fromhex(SENDER.address[2:])
    assert admitted.hash == reference.hash


def _with_s(raw: bytes, s_of: Any) -> bytes:
    """``raw`` with its signature's s replaced by ``s_of(s)`` (and the parity flipped: the high-s twin of a
    signature recovers the same key with the other parity)."""
    typed = raw[0] < 0x80
    fields = rlp.decode(raw[1:] if typed else raw)
    s = int.from_bytes(fields[-1], "big")
    fields[-1] = s_of(s).to_bytes(32, "big").lstrip(b"\0")
    v = int.from_bytes(fields[-3], "big")
    flipped = v ^ 1 if typed else v + (1 if v % 2 == 1 else -1)  # EIP-155: v = 2 chain id + 35 + parity
    fields[-3] = flipped.to_bytes(4, "big").lstrip(b"\0")
    body = bytes(rlp.encode(fields))
    return raw[:1] + body if typed else body


def _py_evm(raw: bytes) -> bytes | None:
    """The sender py-evm's own check and recovery give, None if its check refuses the signature."""
    tx = PragueTransactionBuilder.decode(raw)
    try:
        tx.check_signature_validity()
    except ValidationError:
        return None
    return bytes(tx.sender)


def _ours(raw: bytes) -> bytes | None:
    try:
        return bytes(node().decode_transaction(raw).sender)
    except MalformedError as exc:
        assert "not a valid signed transaction" in str(exc)
        return None


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize(
    "change",
    [lambda s: SECPK1_N - s, lambda s: 0, lambda s: SECPK1_N, lambda s: s + 1, lambda s: 2**256 - 1],
    ids=["high-s twin", "zero s", "s = n", "another s", "s over n"],
)
def test_py_evm_and_the_admission_check_agree_on_altered_signatures(kind: str, change: Any) -> None:
    altered = _with_s(signed(kind), change)
    assert _ours(altered) == _py_evm(altered)


def test_a_signature_that_recovers_no_key_is_refused() -> None:
    with pytest.raises(MalformedError, match="not a valid signed transaction"):
        node().decode_transaction(_with_s(signed("dynamic fee (type 2)"), lambda s: 0))
