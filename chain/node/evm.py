"""A faster dispatch for py-evm's interpreter: the commonest opcodes run inline in the code stream's loop.

py-evm runs each opcode through an object call, a gas meter call and stack method calls, about 1.5 µs for a
``PUSH1`` or a ``DUP2``. Contract code compiled by Vyper is mostly such opcodes: stack shuffling, pushes, jumps,
comparisons, 256-bit arithmetic, memory words, hashes and call data. Here the code stream's iterator (the loop py-evm's
``apply_computation`` draws opcodes from) executes those itself on py-evm's own stack, memory and gas meter, with
the gas costs taken from py-evm's Prague opcode table, and yields every other opcode to py-evm as before. Errors
are py-evm's own exceptions (out of gas, stack underflow and overflow, bad jump destinations), raised where py-evm
raises them, so a failing computation ends exactly as it would have.

Valid jump destinations are found once per contract code (py-evm looks back from each jump target) and kept
for the 256 most recently run codes. ``consortium chain verify`` re-executes every block with py-evm's own
interpreter (``chain.node.vm.ReferenceVM``), and the property tests compare the two opcode by opcode.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from eth.constants import GAS_SHA3WORD
from eth.exceptions import (
    FullStack,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
    VMError,
)
from eth.vm.code_stream import CodeStream
from eth.vm.computation import memory_gas_cost
from eth.vm.forks.prague.computation import PragueComputation
from eth_hash.auto import keccak

from chain.node.precompiles import ConsortiumComputation

_U256 = 2**256 - 1
_JUMPDEST = 0x5B
_CACHE_SIZE = 256
_SHA3_WORD = GAS_SHA3WORD
_EMPTY_KECCAK = keccak(b"")

# The Prague mnemonics of the opcodes the node runs itself, here and in ``chain.node.readcall``; ``gas_table``
# checks py-evm's table against them.
_MNEMONICS = {
    0x00: "STOP",
    0x01: "ADD",
    0x02: "MUL",
    0x03: "SUB",
    0x04: "DIV",
    0x05: "SDIV",
    0x06: "MOD",
    0x07: "SMOD",
    0x08: "ADDMOD",
    0x09: "MULMOD",
    0x0A: "EXP",
    0x0B: "SIGNEXTEND",
    0x10: "LT",
    0x11: "GT",
    0x12: "SLT",
    0x13: "SGT",
    0x14: "EQ",
    0x15: "ISZERO",
    0x16: "AND",
    0x17: "OR",
    0x18: "XOR",
    0x19: "NOT",
    0x1A: "BYTE",
    0x1B: "SHL",
    0x1C: "SHR",
    0x1D: "SAR",
    0x20: "SHA3",
    0x30: "ADDRESS",
    0x31: "BALANCE",
    0x32: "ORIGIN",
    0x33: "CALLER",
    0x34: "CALLVALUE",
    0x35: "CALLDATALOAD",
    0x36: "CALLDATASIZE",
    0x37: "CALLDATACOPY",
    0x38: "CODESIZE",
    0x39: "CODECOPY",
    0x3B: "EXTCODESIZE",
    0x3D: "RETURNDATASIZE",
    0x3E: "RETURNDATACOPY",
    0x3F: "EXTCODEHASH",
    0x41: "COINBASE",
    0x42: "TIMESTAMP",
    0x43: "NUMBER",
    0x45: "GASLIMIT",
    0x46: "CHAINID",
    0x47: "SELFBALANCE",
    0x48: "BASEFEE",
    0x50: "POP",
    0x51: "MLOAD",
    0x52: "MSTORE",
    0x53: "MSTORE8",
    0x54: "SLOAD",
    0x56: "JUMP",
    0x57: "JUMPI",
    0x58: "PC",
    0x59: "MSIZE",
    0x5A: "GAS",
    0x5B: "JUMPDEST",
    0x5C: "TLOAD",
    0x5E: "MCOPY",
    0x5F: "PUSH0",
    **{0x60 + i: f"PUSH{i + 1}" for i in range(32)},
    **{0x80 + i: f"DUP{i + 1}" for i in range(16)},
    **{0x90 + i: f"SWAP{i + 1}" for i in range(16)},
    0xF3: "RETURN",
    0xFA: "STATICCALL",
    0xFD: "REVERT",
}


def mnemonics(*opcodes: int) -> dict[int, str]:
    """The Prague mnemonic of each of ``opcodes``."""
    return {opcode: _MNEMONICS[opcode] for opcode in opcodes}


# The opcodes run inline.
_INLINE = mnemonics(
    *(0x01, 0x03, 0x10, 0x11, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1B, 0x1C, 0x20, 0x35, 0x50, 0x51, 0x52),
    *(0x56, 0x57, 0x5B, *range(0x5F, 0xA0)),
)


def gas_table(opcodes: dict[int, str], missing: int) -> list[int]:
    """The static gas of each of ``opcodes`` (opcode: mnemonic) per py-evm's Prague table, ``missing`` for the
    others.

    Each opcode must have the mnemonic given: code that runs opcodes itself must be reviewed when py-evm's table
    changes under it."""
    gas = [missing] * 256
    for opcode, mnemonic in opcodes.items():
        fn = PragueComputation.opcodes[opcode]
        if getattr(fn, "mnemonic", None) != mnemonic:
            raise RuntimeError(f"py-evm's opcode 0x{opcode:02x} is not {mnemonic}: the code running it needs review")
        gas[opcode] = int(fn.gas_cost)  # type: ignore[attr-defined]
    return gas


_GAS = gas_table(_INLINE, -1)  # -1: left to py-evm
_analyses: dict[bytes, tuple[frozenset[int], list[int]]] = {}
_analyses_lock = threading.Lock()


def analyse(code: bytes) -> tuple[frozenset[int], list[int]]:
    """The positions of ``code``'s JUMPDEST instructions (not bytes of push data that happen to be 0x5b), and the
    value each push pushes, by its position (a push cut short by the end of the code is padded with zeros on the
    right, as py-evm reads it). Kept for the most recently run codes."""
    found = _analyses.get(code)
    if found is not None:
        return found
    positions = []
    pushes = [0] * len(code)
    pc, length = 0, len(code)
    while pc < length:
        opcode = code[pc]
        if opcode == _JUMPDEST:
            positions.append(pc)
        if 0x60 <= opcode <= 0x7F:
            size = opcode - 0x5F
            pushes[pc] = int.from_bytes(code[pc + 1 : pc + 1 + size].ljust(size, b"\0"), "big")
            pc += size + 1
        else:
            pc += 1
    found = (frozenset(positions), pushes)
    with _analyses_lock:
        if len(_analyses) >= _CACHE_SIZE:
            del _analyses[next(iter(_analyses))]
        _analyses[code] = found
    return found


def jump_destinations(code: bytes) -> frozenset[int]:
    """Positions of the JUMPDEST instructions of ``code`` (not bytes of push data that happen to be 0x5b)."""
    return analyse(code)[0]


def growth_fee(before: int, end: int) -> int:
    """Gas for growing memory from ``before`` bytes (whole words) to cover ``end``, as py-evm's
    ``extend_memory`` charges it."""
    return memory_gas_cost((end + 31) // 32 * 32) - memory_gas_cost(before)


def _out_of_gas(needed: int, left: int, reason: str) -> OutOfGas:
    return OutOfGas(f"Out of gas: Needed {needed} - Remaining {left} - Reason: {reason}")


class InlineCodeStream(CodeStream):
    """py-evm's code stream whose iterator runs the inline opcodes on ``stack_values`` and ``meter`` itself."""

    __slots__ = ["_calldata", "_dests", "_memory", "_message", "_meter", "_values"]

    def __init__(self, code_bytes: bytes, stack_values: list[Any], meter: Any, memory: Any, message: Any) -> None:
        super().__init__(code_bytes)
        self._values = stack_values
        self._meter = meter
        self._memory = memory
        self._message = message
        self._calldata: bytes | None = None
        self._dests: frozenset[int] | None = None

    def _destinations(self) -> frozenset[int]:
        if self._dests is None:
            self._dests = jump_destinations(self._raw_code_bytes)
        return self._dests

    def __iter__(self) -> Iterator[int]:
        # The gas left and the program counter live in locals, written back to py-evm's gas meter and code
        # stream before an opcode is handed to py-evm, when the code ends, and when an error ends the computation.
        code = self._raw_code_bytes
        length = self._length_cache
        values = self._values
        meter = self._meter
        memory = self._memory
        gas_of = _GAS
        pc = self.program_counter
        left = meter.gas_remaining
        try:
            while pc < length:
                opcode = code[pc]
                gas = gas_of[opcode]
                if gas < 0:
                    self.program_counter = pc + 1
                    meter.gas_remaining = left
                    yield opcode
                    pc = self.program_counter
                    left = meter.gas_remaining
                    continue
                if gas > left:
                    raise _out_of_gas(gas, left, _INLINE[opcode])
                left -= gas
                pc += 1
                if opcode >= 0x5F:
                    if opcode < 0x80:  # PUSH0 .. PUSH32
                        if len(values) > 1023:
                            raise FullStack("Stack limit reached")
                        if opcode == 0x5F:
                            values.append(0)
                        else:
                            end = pc + opcode - 0x5F
                            pushed = code[pc:end]
                            values.append(pushed if end <= length else pushed.ljust(end - pc, b"\0"))
                            pc = end
                    elif opcode < 0x90:  # DUP1 .. DUP16
                        if len(values) > 1023:
                            raise FullStack("Stack limit reached")
                        depth = opcode - 0x7F
                        if depth > len(values):
                            raise InsufficientStack(f"Insufficient stack items for DUP{depth}")
                        values.append(values[-depth])
                    else:  # SWAP1 .. SWAP16
                        depth = opcode - 0x8F
                        if depth >= len(values):
                            raise InsufficientStack(f"Insufficient stack items for SWAP{depth}")
                        values[-1], values[-1 - depth] = values[-1 - depth], values[-1]
                elif opcode == 0x5B:  # JUMPDEST
                    pass
                elif opcode == 0x56 or opcode == 0x57:  # JUMP, JUMPI
                    if opcode == 0x56:
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        dest = values.pop()
                    else:
                        if len(values) < 2:
                            raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                        dest = values.pop()
                        condition = values.pop()
                        if not (condition if condition.__class__ is int else int.from_bytes(condition, "big")):
                            continue
                    pc = dest if dest.__class__ is int else int.from_bytes(dest, "big")
                    if pc >= length or code[pc] != _JUMPDEST:
                        raise InvalidJumpDestination("Invalid Jump Destination")
                    if pc not in self._destinations():
                        raise InvalidInstruction("Jump resulted in invalid instruction")
                elif opcode == 0x51 or opcode == 0x52:  # MLOAD, MSTORE
                    if len(values) < opcode - 0x50:
                        values.clear()  # py-evm's MSTORE pops its offset before it finds no value under it
                        raise InsufficientStack("Wanted 1 stack item, had none")
                    start = values.pop()
                    if start.__class__ is not int:
                        start = int.from_bytes(start, "big")
                    word = values.pop() if opcode == 0x52 else None
                    end = start + 32
                    if end > len(memory._bytes):
                        fee = growth_fee(len(memory._bytes), end)
                        if fee > left:
                            raise _out_of_gas(fee, left, "Expanding memory")
                        left -= fee
                        memory.extend(start, 32)
                    if word is None:
                        values.append(bytes(memory._bytes[start:end]))
                    else:
                        memory._bytes[start:end] = (
                            word.to_bytes(32, "big") if word.__class__ is int else word.rjust(32, b"\0")
                        )
                elif opcode == 0x35:  # CALLDATALOAD
                    if not values:
                        raise InsufficientStack("Wanted 1 stack item, had none")
                    start = values.pop()
                    if start.__class__ is not int:
                        start = int.from_bytes(start, "big")
                    if self._calldata is None:
                        self._calldata = bytes(self._message.data)
                    values.append(self._calldata[start : start + 32].ljust(32, b"\0").lstrip(b"\0"))
                elif opcode == 0x50:  # POP
                    if not values:
                        raise InsufficientStack("Wanted 1 stack item, had none")
                    values.pop()
                elif opcode == 0x15 or opcode == 0x19:  # ISZERO, NOT: one operand
                    if not values:
                        raise InsufficientStack("Wanted 1 stack item, had none")
                    a = values.pop()
                    if a.__class__ is not int:
                        a = int.from_bytes(a, "big")
                    values.append((0 if a else 1) if opcode == 0x15 else _U256 - a)
                else:  # two operands, the first the top of the stack (for SHA3: offset, then size)
                    if len(values) < 2:
                        raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                    a = values.pop()
                    b = values.pop()
                    if a.__class__ is not int:
                        a = int.from_bytes(a, "big")
                    if b.__class__ is not int:
                        b = int.from_bytes(b, "big")
                    result: int | bytes
                    if opcode == 0x01:
                        result = (a + b) & _U256
                    elif opcode == 0x03:
                        result = (a - b) & _U256
                    elif opcode == 0x10:
                        result = 1 if a < b else 0
                    elif opcode == 0x11:
                        result = 1 if a > b else 0
                    elif opcode == 0x14:
                        result = 1 if a == b else 0
                    elif opcode == 0x16:
                        result = a & b
                    elif opcode == 0x17:
                        result = a | b
                    elif opcode == 0x18:
                        result = a ^ b
                    elif opcode == 0x1B:
                        result = 0 if a >= 256 else (b << a) & _U256
                    elif opcode == 0x1C:
                        result = 0 if a >= 256 else b >> a
                    elif b:  # SHA3 of b bytes of memory at a
                        end = a + b
                        if end > len(memory._bytes):
                            fee = growth_fee(len(memory._bytes), end)
                            if fee > left:
                                raise _out_of_gas(fee, left, "Expanding memory")
                            left -= fee
                            memory.extend(a, b)
                        fee = _SHA3_WORD * ((b + 31) // 32)
                        if fee > left:
                            raise _out_of_gas(fee, left, "SHA3: word gas cost")
                        left -= fee
                        result = keccak(bytes(memory._bytes[a:end]))
                    else:  # SHA3 of nothing
                        result = _EMPTY_KECCAK
                    values.append(result)
        except VMError:
            self.program_counter = pc
            meter.gas_remaining = left
            raise
        self.program_counter = pc
        meter.gas_remaining = left
        yield 0  # STOP, as py-evm's stream ends


class InlineComputation(ConsortiumComputation):
    """Prague execution, with the consortium's precompiles, whose code stream runs the inline opcodes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.code = InlineCodeStream(
            self.msg.code,
            self._stack.values,  # type: ignore[attr-defined]
            self._gas_meter,
            self._memory,
            self.msg,
        )
