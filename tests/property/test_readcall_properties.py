"""The node's read path for calls (``chain.node.readcall``) against py-evm: whenever the read path answers a call,
py-evm answers the same call over the same state the same way (success or revert, the same output, the same gas
left); and wherever py-evm ends a call with an exceptional halt, the read path does not answer at all.

Programs mix every opcode the read path runs with some it hands to py-evm, nested static calls into a second
random program (which may itself fail, revert or call back), storage, balances and account-access gas."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth.exceptions import Revert
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address
from eth_utils.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.node.node import Genesis, Node
from chain.node.readcall import _SUPPORTED, BlockContext, ReadCall, StateReader, UnsupportedError

SENDER = Address(b"\x11" * 20)
CONTRACT = Address(b"\x22" * 20)
CALLEE = Address(b"\x44" * 20)
RICH = Address(b"\x55" * 20)  # a balance, no code
NOBODY = Address(b"\x66" * 20)  # no account at all
PRECOMPILE = Address(b"\0" * 19 + b"\x02")
COINBASE = Address(b"\0" * 20)  # the genesis header's, so the call's block's (warm from the start, EIP-3651)
_ACCOUNTS = [SENDER, CONTRACT, CALLEE, RICH, NOBODY, PRECOMPILE, COINBASE]
_STORAGE = {0: 7, 1: 2**256 - 1, 2: 0, 3: 2**255}
_EDGES = [0, 1, 2, 31, 32, 255, 256, 257, 2**255, 2**255 + 1, 2**256 - 2, 2**256 - 1]
_OFFSETS = [0, 1, 31, 32, 33, 64, 1000, 2**20, 2**32, 2**255]
_SIZES = [0, 1, 31, 32, 33, 100, 2**20, 2**255]
# Opcodes the read path hands to py-evm: writes, other calls, and reads it does not implement.
_HANDED_OVER = [0x3A, 0x3C, 0x40, 0x44, 0x49, 0x4A, 0x55, 0x5D, 0xA0, 0xF0, 0xF1, 0xF2, 0xF4, 0xF5, 0xFE, 0xFF, 0x0C]
_SINGLE = sorted(op for op in _SUPPORTED if not 0x60 <= op <= 0x7F and op not in (0x56, 0x57, 0xFA))


@functools.cache
def _genesis() -> Any:
    node = Node(AtomicDB(), Genesis(20261, ("0x" + "33" * 20,), "0x" + "33" * 20, 1_700_000_000))
    return node.chain.get_vm(node._child_header(node.head())).state


def _world(code: bytes, callee: bytes) -> Any:
    """py-evm's own Prague state at genesis with the two programs, their storage and a rich account."""
    genesis = _genesis()
    state = PragueState(genesis._db, genesis.execution_context, genesis.state_root)
    state.set_code(CONTRACT, code)
    state.set_code(CALLEE, callee)
    for slot, value in _STORAGE.items():
        state.set_storage(CONTRACT, slot, value)
        state.set_storage(CALLEE, slot, value * 3 % 2**256)
    state.set_balance(RICH, 10**18)
    state.set_balance(CONTRACT, 5)
    return state


def _call(data: bytes, gas: int) -> Any:
    """The call as the node makes it: a transaction from SENDER to CONTRACT, as if signed by SENDER."""
    unsigned = PragueTransactionBuilder.create_unsigned_transaction(
        nonce=0, gas_price=0, gas=gas, to=Address(CONTRACT), value=0, data=data
    )
    return SpoofTransaction(unsigned, from_=SENDER)


def _py_evm(code: bytes, callee: bytes, data: bytes, gas: int) -> tuple[str, bytes, int]:
    state = _world(code, callee)
    tx = _call(data, gas)
    executor = state.get_transaction_executor()
    try:
        executor.validate_transaction(tx)
        message = executor.build_evm_message(tx)
    except ValidationError:  # less gas than the intrinsic gas
        return "error", b"", 0
    computation = executor.build_computation(message, tx)
    if computation.is_error:
        kind = "revert" if isinstance(computation.error, Revert) else "error"
        return kind, bytes(computation.output), computation.get_gas_remaining()
    return "ok", bytes(computation.output), computation.get_gas_remaining()


def _read_path(code: bytes, callee: bytes, data: bytes, gas: int) -> tuple[str, bytes, int] | None:
    state = _world(code, callee)
    tx = _call(data, gas)
    try:
        ok, output, left = ReadCall(StateReader(state), BlockContext(state.execution_context), SENDER).run(
            CONTRACT, data, tx.gas - tx.intrinsic_gas
        )
    except UnsupportedError:
        return None
    return ("ok" if ok else "revert"), output, left


def _agree(code: bytes, callee: bytes, data: bytes, gas: int) -> tuple[str, bytes, int] | None:
    reference = _py_evm(code, callee, data, gas)
    ours = _read_path(code, callee, data, gas)
    if ours is not None:
        assert reference[0] != "error", "the read path answered a call py-evm ends with an exceptional halt"
        assert ours == reference
    return ours


def _push(value: int) -> bytes:
    size = max(1, (value.bit_length() + 7) // 8)
    return bytes([0x5F + size]) + value.to_bytes(size, "big")


def _address(draw: st.DrawFn) -> bytes:
    return _push(int.from_bytes(draw(st.sampled_from(_ACCOUNTS)), "big"))


@st.composite
def programs(draw: st.DrawFn, calls: bool = True) -> bytes:
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 19))
        if kind < 4:
            parts.append(bytes([draw(st.sampled_from(_SINGLE))]))
        elif kind < 7:
            parts.append(_push(draw(st.sampled_from(_EDGES))))
        elif kind < 8:
            parts.append(bytes([draw(st.sampled_from(_HANDED_OVER))]))
        elif kind < 9:  # a conditional jump on a pushed zero or one, or a jump, to a small target
            condition = bytes([0x60, draw(st.integers(0, 1))])
            parts.append(condition + bytes([0x60, draw(st.integers(0, 90)), draw(st.sampled_from([0x56, 0x57]))]))
        elif kind < 10:
            parts.append(b"\x5b")
        elif kind < 12:  # a storage read, often of a slot read before
            parts.append(_push(draw(st.integers(0, 4))) + b"\x54")
        elif kind < 13:  # an account read: BALANCE, EXTCODESIZE, EXTCODEHASH
            parts.append(_address(draw) + bytes([draw(st.sampled_from([0x31, 0x3B, 0x3F]))]))
        elif kind < 14:  # a copy into memory at edge offsets and sizes
            op = draw(st.sampled_from([0x37, 0x39, 0x3E, 0x5E]))
            size, source, start = (draw(st.sampled_from(s)) for s in (_SIZES[:6], _OFFSETS[:7], _OFFSETS))
            parts.append(_push(size) + _push(source) + _push(start) + bytes([op]))
        elif kind < 15:  # a memory word at an edge offset, a hash of memory
            offset = _push(draw(st.sampled_from(_OFFSETS)))
            op = draw(st.sampled_from([0x51, 0x52, 0x53, 0x20]))
            operand = _push(draw(st.sampled_from(_SIZES if op == 0x20 else _EDGES))) if op != 0x51 else b""
            parts.append(operand + offset + bytes([op]))
        elif kind < 16 and calls:  # a static call: gas from GAS or a small number, edge memory windows
            out_size, out_start, in_size, in_start = (draw(st.sampled_from([0, 1, 32, 64, 2**20])) for _ in range(4))
            gas = b"\x5a" if draw(st.booleans()) else _push(draw(st.sampled_from([0, 1, 100, 3000, 30_000])))
            target = _push(int.from_bytes(draw(st.sampled_from([CALLEE, CALLEE, CONTRACT, *_ACCOUNTS])), "big"))
            parts.append(b"".join(_push(v) for v in (out_size, out_start, in_size, in_start)) + target + gas + b"\xfa")
        elif kind < 17:  # an operation on edge operands
            a, b, c = (draw(st.sampled_from(_EDGES)) for _ in range(3))
            op = draw(st.sampled_from([op for op in _SINGLE if op < 0x20]))
            parts.append(_push(c) + _push(b) + _push(a) + bytes([op]))
        elif kind < 18:  # the end: RETURN or REVERT of an edge window of memory
            size, start = draw(st.sampled_from(_SIZES[:5])), draw(st.sampled_from(_OFFSETS[:7]))
            parts.append(_push(size) + _push(start) + bytes([draw(st.sampled_from([0xF3, 0xFD]))]))
        else:
            size = draw(st.integers(1, 32))
            parts.append(bytes([0x5F + size]) + draw(st.binary(min_size=size, max_size=size)))
    code = b"".join(parts)
    if draw(st.booleans()):
        code = code[: draw(st.integers(0, len(code)))]  # a push cut short by the end of the code
    elif draw(st.booleans()):
        code += _returning_top()  # the top of the stack and the gas left become the output
    return code


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode")
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), programs(calls=True), st.integers(21_000, 400_000), st.binary(max_size=70))
def test_the_read_path_answers_as_py_evm_or_not_at_all(code: bytes, callee: bytes, gas: int, data: bytes) -> None:
    _agree(code, callee, data, gas)


def _returning_top() -> bytes:
    """Stores the top of the stack and returns it with the gas left after."""
    return b"\x5f\x52\x5a\x60\x20\x52\x60\x40\x5f\xf3"  # PUSH0 MSTORE GAS PUSH1 32 MSTORE PUSH1 64 PUSH0 RETURN


@pytest.mark.parametrize("opcode", [op for op in _SINGLE if op < 0x20 and op != 0x00])
def test_every_arithmetic_opcode_on_edge_operands_is_answered_as_py_evm_answers(opcode: int) -> None:
    for a in _EDGES:
        for b in _EDGES:
            for c in (0, 3, 2**256 - 1):
                code = _push(c) + _push(b) + _push(a) + bytes([opcode]) + _returning_top()
                assert _agree(code, b"", b"", 100_000) is not None, (hex(opcode), a, b, c)


@pytest.mark.parametrize("opcode", [op for op in _SINGLE if 0x20 <= op < 0x50])
def test_every_environment_opcode_is_answered_as_py_evm_answers(opcode: int) -> None:
    """Each after a static call that leaves return data: on every kind of account for those that take one, on
    windows inside and at the edge of their source for the copies and the hash."""
    callee = b"\x60\x07\x5f\x52\x60\x20\x5f\xf3"  # returns the word 7
    call = b"\x60\x20\x5f\x5f\x5f" + _push(int.from_bytes(CALLEE, "big")) + b"\x5a\xfa\x50"
    if opcode in (0x31, 0x3B, 0x3F):
        cases = [_push(int.from_bytes(account, "big")) for account in _ACCOUNTS]
    elif opcode in (0x20, 0x37, 0x39, 0x3E):  # (size, source, memory start), the hash taking (size, start)
        windows = [(0, 0, 0), (32, 0, 0), (1, 31, 33), (2, 30, 64)]  # inside the 32 bytes returned
        if opcode == 0x20:
            cases = [_push(w[0]) + _push(w[2]) for w in windows]
        else:  # the copy is read back with MLOAD at its start
            cases = [b"".join(_push(v) for v in w) + bytes([opcode]) + _push(w[2]) + b"\x51" for w in windows]
    elif opcode == 0x35:
        cases = [_push(v) for v in (0, 4, 30, 2**255)]
    else:
        cases = [b""]
    for operands in cases:
        run = operands if opcode in (0x37, 0x39, 0x3E) else operands + bytes([opcode])
        code = call + run + _returning_top()
        assert _agree(code, callee, b"\x01" * 36, 100_000) is not None, (hex(opcode), operands.hex())


@pytest.mark.parametrize("opcode", [0x53, 0x58, 0x59, 0x5A, 0x5C, 0x5E])
def test_every_memory_and_machine_opcode_is_answered_as_py_evm_answers(opcode: int) -> None:
    for operands in ((0, 0, 0), (1, 2, 3), (64, 31, 255), (0, 2**256 - 1, 1)):
        code = _push(2**256 - 3) + b"\x5f\x52" + b"".join(_push(v) for v in operands) + bytes([opcode])
        end = b"\x59\x5f\xf3" if opcode in (0x53, 0x5E) else _returning_top()  # all of memory, or the pushed word
        assert _agree(code + end, b"", b"", 100_000) is not None, (hex(opcode), operands)


def test_return_data_read_one_byte_past_its_end_goes_to_py_evm() -> None:
    callee = b"\x60\x07\x5f\x52\x60\x20\x5f\xf3"  # returns 32 bytes
    call = b"\x60\x20\x5f\x5f\x5f" + _push(int.from_bytes(CALLEE, "big")) + b"\x5a\xfa\x50"
    for source, size, answered in ((0, 32, True), (1, 31, True), (1, 32, False), (32, 1, False), (33, 0, False)):
        code = call + _push(size) + _push(source) + b"\x5f\x3e" + b"\x5f\x51" + _returning_top()
        assert (_agree(code, callee, b"", 100_000) is not None) == answered, (source, size)
        assert (_py_evm(code, callee, b"", 100_000)[0] == "ok") == answered


def test_a_reverted_frame_s_account_and_slot_accesses_are_cold_again_after_it() -> None:
    """EIP-2929: the callee warms RICH and its slot 1 and reverts; the caller's BALANCE of RICH is cold again. The
    gas left, returned by GAS at the end, shows any difference."""
    callee = _push(int.from_bytes(RICH, "big")) + b"\x31\x50\x60\x01\x54\x50\x5f\x5f\xfd"  # BALANCE, SLOAD 1, REVERT
    call = b"\x5f\x5f\x5f\x5f" + _push(int.from_bytes(CALLEE, "big")) + b"\x5a\xfa"
    code = call + b"\x50" + _push(int.from_bytes(RICH, "big")) + b"\x31" + call + b"\x50" + _returning_top()
    assert _agree(code, callee, b"", 200_000) is not None


def test_a_callee_is_given_all_but_one_64th_of_the_gas_left() -> None:
    """The callee returns what GAS says at its start; the caller returns that word and its own gas left."""
    callee = b"\x5a" + _returning_top()
    call = b"\x60\x40\x5f\x5f\x5f" + _push(int.from_bytes(CALLEE, "big")) + b"\x5a\xfa\x50\x5f\x51"
    for gas in (30_000, 64_000, 1_000_000):
        answer = _agree(call + _returning_top(), callee, b"", gas)
        assert answer is not None and answer[1][:32] != bytes(32)


@pytest.mark.parametrize("jump", [b"\x56", b"\x60\x01\x90\x57"])  # JUMP; JUMPI on 1
def test_a_loop_that_runs_out_of_gas_goes_to_py_evm(jump: bytes) -> None:
    code = b"\x5b\x5f" + jump  # JUMPDEST PUSH0 (the destination 0), jump back: forever but for gas
    assert _py_evm(code, b"", b"", 100_000)[0] == "error"
    assert _read_path(code, b"", b"", 100_000) is None


def test_calls_nested_past_the_read_path_s_depth_go_to_py_evm() -> None:
    """A contract that calls itself until its gas runs short: py-evm answers, the read path does not."""
    code = b"\x5f\x5f\x5f\x5f" + _push(int.from_bytes(CONTRACT, "big")) + b"\x5a\xfa" + _returning_top()
    assert _read_path(code, b"", b"", 3_000_000) is None
    assert _py_evm(code, b"", b"", 3_000_000)[0] == "ok"


@pytest.mark.parametrize("opcode", _HANDED_OVER)
def test_opcodes_the_read_path_does_not_run_go_to_py_evm(opcode: int) -> None:
    code = b"\x5f" * 8 + bytes([opcode]) + b"\x00"
    assert _read_path(code, b"", b"", 100_000) is None
