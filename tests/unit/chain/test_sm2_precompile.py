"""chain.node.precompiles: the SM2-verify precompile at 0x100a, on every VM that runs contracts.

Directly (a message to the precompile on the node's interpreter, on py-evm's own, through the node's ``eth_call``
and through eth-tester's) with signatures made here, by GmSSL and by GM/T 0003.5's worked example; then from a Vyper
contract, in transactions the node seals (re-executed by ``chain verify``'s reference VM) and in views the node's
read path must hand to py-evm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
import vyper
from eth.db.atomic import AtomicDB
from eth.vm.forks.cancun.transaction_context import CancunTransactionContext
from eth.vm.message import Message
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Address
from web3 import Web3

from chain.backend import EthTesterBackend
from chain.ids import contract_address
from chain.node.evm import InlineComputation
from chain.node.node import Genesis, Node
from chain.node.precompiles import (
    SM2_VERIFY_ADDRESS,
    SM2_VERIFY_GAS,
    SM2_VERIFY_WORD_GAS,
    VALID,
    ConsortiumComputation,
    sm2_verify_gas,
)
from suite.sm2 import DEFAULT_ID, N, P, SM2PrivateKey, der_to_raw
from tests.support.clock import FIXED_NOW_S
from tests.unit.chain.test_node import sign
from tests.unit.suite.test_known_answers import KAT_MESSAGE, KAT_SIGNATURE, KAT_X, KAT_Y

CHAIN_ID = 20261
SENDER = Address(b"\x33" * 20)
SOURCE = Path(__file__).parents[2] / "support" / "SM2Check.vy"
W3 = Web3()

KEY = SM2PrivateKey.generate()
POINT = KEY.public_key().public_bytes()[1:]  # x || y
MESSAGE = b"checkpoint 42 of news-feed-v2"


def verify_input(point: bytes, signature: bytes, message: bytes) -> bytes:
    """The precompile's input: x || y || r || s || message."""
    return point + signature + message


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


VALID_INPUTS = {
    "ours": verify_input(POINT, KEY.sign(MESSAGE), MESSAGE),
    "gmssl": verify_input(
        POINT, der_to_raw(gmssl_pyx.sm2_sign(KEY.private_bytes(), POINT, MESSAGE, DEFAULT_ID)), MESSAGE
    ),
    "gm/t 0003.5 example": verify_input(bytes.fromhex(KAT_X + KAT_Y), KAT_SIGNATURE, KAT_MESSAGE),
    "empty message": verify_input(POINT, KEY.sign(b""), b""),
    "long message": verify_input(POINT, KEY.sign(b"\x07" * 1000), b"\x07" * 1000),
}

_GOOD = VALID_INPUTS["ours"]
_SIGNATURE = _GOOD[64:128]
INVALID_INPUTS = {
    "tampered message": _GOOD + b"!",
    "one bit of the message": _flip(_GOOD, 130),
    "message cut short": _GOOD[:-1],
    "one bit of r": _flip(_GOOD, 70),
    "one bit of s": _flip(_GOOD, 100),
    "another key": verify_input(SM2PrivateKey.generate().public_key().public_bytes()[1:], _SIGNATURE, MESSAGE),
    "signed under the empty ID": verify_input(POINT, KEY.sign(MESSAGE, b""), MESSAGE),
    "signed under another ID": verify_input(POINT, KEY.sign(MESSAGE, b"alice@consortium"), MESSAGE),
    "empty input": b"",
    "127 bytes": _GOOD[:127],
    "the GM/T example's signature of another message": verify_input(
        bytes.fromhex(KAT_X + KAT_Y), KAT_SIGNATURE, KAT_MESSAGE + b"."
    ),
    "point off the curve": verify_input(POINT[:32] + _word(int.from_bytes(POINT[32:], "big") ^ 1), _SIGNATURE, MESSAGE),
    "x not below p": verify_input(_word(P) + POINT[32:], _SIGNATURE, MESSAGE),
    "the zero point": verify_input(bytes(64), _SIGNATURE, MESSAGE),
    "r = 0": verify_input(POINT, _word(0) + _SIGNATURE[32:], MESSAGE),
    "s = 0": verify_input(POINT, _SIGNATURE[:32] + _word(0), MESSAGE),
    "r = n": verify_input(POINT, _word(N) + _SIGNATURE[32:], MESSAGE),
    "s = n": verify_input(POINT, _SIGNATURE[:32] + _word(N), MESSAGE),
    "s = 2^256 - 1": verify_input(POINT, _SIGNATURE[:32] + _word(2**256 - 1), MESSAGE),
}


# -- directly ---------------------------------------------------------------------------------------------


def _node(**options: Any) -> tuple[Node, AtomicDB, LocalAccount]:
    """A node whose operator may still send anything (no registry yet), with its store."""
    operator = Account.create()
    db = AtomicDB()
    genesis = Genesis(CHAIN_ID, (operator.address,), operator.address, FIXED_NOW_S - 100)
    options.setdefault("clock", lambda: float(FIXED_NOW_S))
    return Node(db, genesis, bytes(operator.key), **options), db, operator


@cache
def _genesis_state() -> Any:
    node = _node()[0]
    return node.chain.get_vm(node._child_header(node.head())).state


def _apply(cls: type[ConsortiumComputation], data: bytes, gas: int = 100_000) -> tuple[bool, bytes, int]:
    """(success, output, gas used) of a message to the precompile run by ``cls``."""
    message = Message(gas=gas, to=SM2_VERIFY_ADDRESS, sender=SENDER, value=0, data=data, code=b"")
    computation = cls.apply_computation(_genesis_state(), message, CancunTransactionContext(gas_price=0, origin=SENDER))
    return computation.is_success, bytes(computation.output), gas - computation.get_gas_remaining()


@pytest.fixture(scope="module", params=["node interpreter", "py-evm interpreter", "node eth_call", "eth-tester"])
def verify(request: pytest.FixtureRequest) -> Iterator[Callable[[bytes], bytes]]:
    """The precompile's output for an input, on one of the VMs."""
    if request.param == "node interpreter":
        yield lambda data: _apply(InlineComputation, data)[1]
    elif request.param == "py-evm interpreter":
        yield lambda data: _apply(ConsortiumComputation, data)[1]
    elif request.param == "node eth_call":
        node = _node()[0]
        yield lambda data: node.call(SENDER, SM2_VERIFY_ADDRESS, data)
    else:
        tester = EthTesterBackend()
        to = Web3.to_checksum_address(SM2_VERIFY_ADDRESS)
        yield lambda data: bytes(tester.web3.eth.call({"to": to, "data": data}))
        tester.close()


@pytest.mark.parametrize("name", VALID_INPUTS)
def test_a_valid_signature_answers_the_word_one(verify: Callable[[bytes], bytes], name: str) -> None:
    assert verify(VALID_INPUTS[name]) == VALID == (1).to_bytes(32, "big")


@pytest.mark.parametrize("name", INVALID_INPUTS)
def test_an_invalid_or_malformed_input_answers_empty(verify: Callable[[bytes], bytes], name: str) -> None:
    assert verify(INVALID_INPUTS[name]) == b""


@pytest.mark.parametrize("cls", [InlineComputation, ConsortiumComputation])
@pytest.mark.parametrize("data", [*VALID_INPUTS.values(), *INVALID_INPUTS.values()])
def test_every_call_succeeds_and_costs_the_base_plus_twelve_a_message_word(
    cls: type[ConsortiumComputation], data: bytes
) -> None:
    """Malformed input is a failed check, not a failed call: the caller decides what to do with it."""
    success, _, used = _apply(cls, data)
    message_words = (max(0, len(data) - 128) + 31) // 32
    assert success and used == sm2_verify_gas(len(data)) == SM2_VERIFY_GAS + SM2_VERIFY_WORD_GAS * message_words


def test_the_gas_of_a_200_byte_message_is_15084() -> None:
    data = verify_input(POINT, KEY.sign(b"m" * 200), b"m" * 200)
    assert _apply(InlineComputation, data) == (True, VALID, 15_000 + 12 * 7)


def test_too_little_gas_fails_the_call_alone() -> None:
    data = VALID_INPUTS["ours"]
    success, output, used = _apply(InlineComputation, data, gas=sm2_verify_gas(len(data)) - 1)
    assert not success and output == b"" and used == sm2_verify_gas(len(data)) - 1


# -- from a contract --------------------------------------------------------------------------------------


@cache
def _sm2_check() -> tuple[list[Any], bytes]:
    compiled = vyper.compile_code(SOURCE.read_text(), output_formats=["abi", "bytecode"])
    return compiled["abi"], bytes.fromhex(compiled["bytecode"].removeprefix("0x"))


def _args(data: bytes) -> list[Any]:
    """The arguments of SM2Check's ``check`` and ``record`` for a precompile input of at least 128 bytes."""
    return [data[0:32], data[32:64], data[64:96], data[96:128], data[128:]]


def _encode(fn: str, data: bytes) -> bytes:
    abi, _ = _sm2_check()
    return bytes.fromhex(W3.eth.contract(abi=abi).encode_abi(fn, args=_args(data))[2:])


def _encode_view(fn: str) -> bytes:
    abi, _ = _sm2_check()
    return bytes.fromhex(W3.eth.contract(abi=abi).encode_abi(fn, args=[])[2:])


def _decode(fn: str, output: bytes) -> Any:
    abi, _ = _sm2_check()
    (value,) = W3.codec.decode([o["type"] for o in next(f for f in abi if f.get("name") == fn)["outputs"]], output)
    return value


def _deploy(node: Node, operator: LocalAccount) -> bytes:
    """SM2Check's address, deployed by the operator with nonce 1: the operator's first deployment would be where
    the node looks for ConsortiumRegistry, so nonce 0 goes to an empty transaction."""
    _seal_one(node, sign(operator, 0, Web3.to_checksum_address(SENDER)))
    _, bytecode = _sm2_check()
    assert _seal_one(node, sign(operator, 1, None, bytecode)).state_root == b"\x01"
    return contract_address(bytes.fromhex(operator.address[2:]), 1)


def _seal_one(node: Node, raw: bytes) -> Any:
    """Submit one transaction, seal it into a block and return its receipt."""
    tx_hash = node.submit(raw)
    block = node.seal()
    assert block is not None and len(block.transactions) == 1
    found = node.receipt(tx_hash)
    assert found is not None
    return found[2]


CONTRACT_CASES = {
    "ours": (VALID_INPUTS["ours"], True),
    "gmssl": (VALID_INPUTS["gmssl"], True),
    "gm/t 0003.5 example": (VALID_INPUTS["gm/t 0003.5 example"], True),
    "tampered message": (INVALID_INPUTS["tampered message"], False),
    "one bit of s": (INVALID_INPUTS["one bit of s"], False),
    "another key": (INVALID_INPUTS["another key"], False),
    "point off the curve": (INVALID_INPUTS["point off the curve"], False),
    "r = 0": (INVALID_INPUTS["r = 0"], False),
    "s = n": (INVALID_INPUTS["s = n"], False),
}


def test_a_contract_gets_the_verdict_in_sealed_blocks_and_chain_verify_agrees() -> None:
    """Transactions calling the precompile from SM2Check are sealed by the node (its inline interpreter), never
    revert whatever the input, record the right verdict, and the reference VM re-executes the blocks to the same
    roots. The contract's views, answered through the node's call path, give the same verdicts."""
    from chain.node.verify import verify_chain

    node, db, operator = _node()
    address = _deploy(node, operator)
    to = Web3.to_checksum_address(address)
    for nonce, (name, (data, expected)) in enumerate(CONTRACT_CASES.items(), start=2):
        receipt = _seal_one(node, sign(operator, nonce, to, _encode("record", data)))
        assert receipt.state_root == b"\x01", name  # status 1: the caller decides, nothing reverts
        assert _decode("last_verdict", node.call(SENDER, address, _encode_view("last_verdict"))) is expected, name
        assert _decode("check", node.call(SENDER, address, _encode("check", data))) is expected, name
    assert _decode("records", node.call(SENDER, address, _encode_view("records"))) == len(CONTRACT_CASES)
    report = verify_chain(db)
    assert report.head == node.head().block_number and report.state_root == node.head().state_root


def test_a_view_calling_the_precompile_is_answered_by_py_evm_not_the_read_path() -> None:
    """The read path treats a static call to any precompile as unsupported and the node runs the call on py-evm.
    Were 0x100a missing from its precompiles, it would run the call as one to an account without code, answer
    empty, and a valid signature would read as invalid."""
    node, _, operator = _node()
    assert node.read_path
    address = _deploy(node, operator)
    assert _decode("check", node.call(SENDER, address, _encode("check", VALID_INPUTS["ours"]))) is True


def test_the_gas_a_contract_sees_the_call_take_is_the_documented_price_and_a_little_call_work() -> None:
    """SM2Check records the gas its call took: the precompile's price plus under 300 gas of call, copying and
    stack work (the precompile's own price is checked exactly above). The whole transaction's gas for a 200-byte
    message is printed (run with -s)."""
    node, _, operator = _node()
    address = _deploy(node, operator)
    to = Web3.to_checksum_address(address)
    overheads = []
    for nonce, size in enumerate((0, 14, 200, 1000), start=2):
        message = b"m" * size
        data = verify_input(POINT, KEY.sign(message), message)
        receipt = _seal_one(node, sign(operator, nonce, to, _encode("record", data)))
        assert receipt.state_root == b"\x01"
        spent = _decode("last_gas", node.call(SENDER, address, _encode_view("last_gas")))
        overheads.append(spent - sm2_verify_gas(len(data)))
        if size == 200:
            print(f"SM2Check.record, 200-byte message: {receipt.gas_used} gas for the transaction, {spent} in the call")
    assert all(100 <= overhead < 300 for overhead in overheads), overheads


def test_a_contract_on_eth_tester_gets_the_same_verdicts() -> None:
    tester = EthTesterBackend()
    try:
        w3 = tester.web3
        abi, bytecode = _sm2_check()
        sender = w3.eth.accounts[0]
        deployed = w3.eth.wait_for_transaction_receipt(
            w3.eth.contract(abi=abi, bytecode=bytecode).constructor().transact({"from": sender})
        )
        contract = w3.eth.contract(address=deployed["contractAddress"], abi=abi)
        for name, (data, expected) in CONTRACT_CASES.items():
            assert contract.functions.check(*_args(data)).call() is expected, name
            tx_hash = contract.functions.record(*_args(data)).transact({"from": sender})
            assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1, name
            assert contract.functions.last_verdict().call() is expected, name
    finally:
        tester.close()
