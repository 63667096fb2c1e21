"""The node's inline opcode dispatch (``chain.node.evm``) against py-evm's own interpreter: on any program, made
of the inline opcodes mixed with others, both end the same way (success, or the same error class), with the
same gas left, the same output, the same stack and the same storage."""

from __future__ import annotations

import functools
from typing import Any, cast

import pytest
from eth.db.atomic import AtomicDB
from eth.vm.forks.cancun.transaction_context import CancunTransactionContext
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.message import Message
from eth.vm.stack import Stack
from eth_typing import Address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.node.evm import _INLINE, InlineComputation, jump_destinations
from chain.node.node import Genesis, Node

SENDER = Address(b"\x11" * 20)
CONTRACT = Address(b"\x22" * 20)
# Opcodes left to py-evm, among them the memory ones that share memory with MLOAD and MSTORE.
_OTHERS = [0x02, 0x04, 0x0A, 0x12, 0x13, 0x1A, 0x1D, 0x36, 0x38, 0x53, 0x54, 0x55, 0x58, 0x59, 0x5A]
_OTHERS += [0xF3, 0xFD, 0x00, 0xFE]
_OFFSETS = [0, 1, 31, 32, 33, 64, 1000, 2**20, 2**32, 2**255]


@functools.cache
def _genesis_state() -> Any:
    node = Node(AtomicDB(), Genesis(20261, ("0x" + "33" * 20,), "0x" + "33" * 20, 1_700_000_000))
    return node.chain.get_vm(node._child_header(node.head())).state


def _state() -> Any:
    """A fresh state at genesis (computations never persist, so the genesis store is never changed)."""
    genesis = _genesis_state()
    return PragueState(genesis._db, genesis.execution_context, genesis.state_root)


_BINARY = [0x01, 0x03, 0x10, 0x11, 0x14, 0x16, 0x17, 0x18, 0x1B, 0x1C]
_EDGES = [0, 1, 2, 31, 32, 255, 256, 257, 2**255, 2**255 + 1, 2**256 - 2, 2**256 - 1]


def _push(value: int) -> bytes:
    size = max(1, (value.bit_length() + 7) // 8)
    return bytes([0x5F + size]) + value.to_bytes(size, "big")


@st.composite
def programs(draw: st.DrawFn) -> bytes:
    """Bytecode biased to the inline opcodes: edge values (shifts of 256, sign bits, the largest words), stacks
    exactly as deep as a DUP or SWAP needs (or one short), conditional jumps on zero and non-zero pushed bytes,
    jumps to real and fake destinations, push data that holds 0x5b, pushes cut short by the end of the code."""
    parts: list[bytes] = []
    if draw(st.booleans()):
        depth = draw(st.integers(1, 17))
        parts.append(b"".join(_push(draw(st.sampled_from(_EDGES))) for _ in range(depth)))
        parts.append(
            bytes([draw(st.sampled_from([0x80, 0x90])) + draw(st.integers(max(0, depth - 2), min(15, depth)))])
        )
    for _ in range(draw(st.integers(0, 60))):
        kind = draw(st.integers(0, 16))
        if kind < 5:
            parts.append(bytes([draw(st.sampled_from(sorted(_INLINE)))]))
        elif kind < 6:
            size = draw(st.integers(1, 32))
            data = draw(st.binary(min_size=size, max_size=size)) if draw(st.booleans()) else b"\x5b" * size
            parts.append(bytes([0x5F + size]) + data)
        elif kind < 8:
            parts.append(_push(draw(st.sampled_from(_EDGES))))
        elif kind < 9:
            parts.append(bytes([draw(st.sampled_from(_OTHERS))]))
        elif kind < 10:  # a conditional jump on a pushed zero or one
            condition = bytes([0x60, draw(st.integers(0, 1))]) if draw(st.booleans()) else bytes([0x5F])
            parts.append(condition + bytes([0x60, draw(st.integers(0, 80)), 0x57]))
        elif kind < 12:  # an operation on edge operands, often equal ones
            a = draw(st.sampled_from(_EDGES))
            b = a if draw(st.booleans()) else draw(st.sampled_from(_EDGES))
            parts.append(_push(b) + _push(a) + bytes([draw(st.sampled_from(_BINARY))]))
        elif kind < 14:  # a memory word stored or loaded at an edge offset (growth, its gas, out of gas)
            offset = _push(draw(st.sampled_from(_OFFSETS)))
            parts.append(
                _push(draw(st.sampled_from(_EDGES))) + offset + b"\x52" if draw(st.booleans()) else offset + b"\x51"
            )
        elif kind < 15:  # a hash of memory at an edge offset and size (growth, word gas, empty input)
            size = draw(st.sampled_from([0, 1, 31, 32, 33, 100, 2**20, 2**255]))
            parts.append(_push(size) + _push(draw(st.sampled_from(_OFFSETS))) + b"\x20")
        else:  # push a small jump target and jump to it
            parts.append(bytes([0x60, draw(st.integers(0, 80)), draw(st.sampled_from([0x56, 0x57]))]))
    code = b"".join(parts)
    if draw(st.booleans()):
        code = code[: draw(st.integers(0, len(code)))]  # a push cut short by the end of the code
    return code


def _run(cls: type[PragueComputation], code: bytes, gas: int, data: bytes) -> tuple[Any, ...]:
    state = _state()
    message = Message(gas=gas, to=CONTRACT, sender=SENDER, value=0, data=data, code=code)
    computation = cls.apply_computation(state, message, CancunTransactionContext(gas_price=0, origin=SENDER))
    error = type(computation.error).__name__ if computation.is_error else None
    stack = [v if isinstance(v, int) else int.from_bytes(v, "big") for v in cast(Stack, computation._stack).values]
    storage = [state.get_storage(CONTRACT, slot) for slot in range(4)]
    return error, computation.get_gas_remaining(), bytes(computation.output), stack, storage


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 60_000), st.binary(max_size=70))  # calldata loads past its end too
def test_inline_dispatch_ends_like_py_evm(code: bytes, gas: int, data: bytes) -> None:
    assert _run(InlineComputation, code, gas, data) == _run(PragueComputation, code, gas, data)


@pytest.mark.parametrize("opcode", _BINARY)
def test_every_binary_inline_opcode_on_every_pair_of_edge_operands(opcode: int) -> None:
    for a in _EDGES:
        for b in _EDGES:
            code = _push(b) + _push(a) + bytes([opcode])
            assert _run(InlineComputation, code, 100, b"") == _run(PragueComputation, code, 100, b""), (
                hex(opcode),
                a,
                b,
            )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_jump_destinations_are_what_py_evm_accepts(code: bytes) -> None:
    from eth.vm.code_stream import CodeStream

    reference = CodeStream(code)
    expected = {p for p in range(len(code)) if code[p] == 0x5B and reference.is_valid_opcode(p)}
    assert jump_destinations(code) == expected


@pytest.mark.parametrize("opcode", [0x20, 0x35, 0x51, 0x52])
def test_memory_hash_and_calldata_opcodes_at_every_gas_around_their_cost(opcode: int) -> None:
    """Each offset and size at every gas from nothing to enough, so each charge's boundary (base, memory growth,
    hash words) is met exactly, one short and one over."""
    for offset in (0, 1, 31, 32, 33, 64):
        for size in (0, 1, 32, 33):
            code = (_push(size) if opcode in (0x20, 0x52) else b"") + _push(offset) + bytes([opcode])
            for gas in range(0, 72):
                ours = _run(InlineComputation, code, gas, b"\x07" * 40)
                assert ours == _run(PragueComputation, code, gas, b"\x07" * 40), (hex(opcode), offset, size, gas)


@pytest.mark.parametrize("opcode", [0x37, 0x39, 0x5E])
def test_copies_to_memory_at_every_gas_around_their_cost(opcode: int) -> None:
    """CALLDATACOPY, CODECOPY and MCOPY over memory already holding a word, at destination and source offsets
    inside, across and past it (past the call data and the code too), at every gas from nothing to enough; the
    memory's first 128 bytes are returned, so the bytes copied are compared too."""
    for destination in (0, 33, 2**40):
        for source in (1, 200):
            for size in (0, 1, 33):
                code = _push(2**256 - 3) + _push(0) + b"\x52" + _push(size) + _push(source) + _push(destination)
                code += bytes([opcode]) + _push(128) + _push(0) + b"\xf3"
                for gas in range(8, 50):
                    ours = _run(InlineComputation, code, gas, b"\x07" * 40)
                    assert ours == _run(PragueComputation, code, gas, b"\x07" * 40), (
                        hex(opcode), destination, source, size, gas,
                    )  # fmt: skip


@pytest.mark.parametrize("opcode", sorted(_INLINE))
def test_every_inline_opcode_on_every_stack_too_shallow_for_it(opcode: int) -> None:
    """Underflow ends each inline opcode as py-evm ends it, down to what py-evm popped before it found the stack
    short (MSTORE pops its offset first; the others check before popping)."""
    for depth in range(18):
        code = b"".join(_push(0x5B + i) for i in range(depth)) + bytes([opcode])
        assert _run(InlineComputation, code, 1_000, b"") == _run(PragueComputation, code, 1_000, b""), depth
