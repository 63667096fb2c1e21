"""A faster dispatch for py-evm's interpreter: the commonest opcodes run inline in the code stream's loop.

py-evm runs each opcode through an object call, a gas meter call and stack method calls, about 1.5 µs for a
``PUSH1`` or a ``DUP2``. Contract code compiled by Vyper is mostly such opcodes: stack shuffling, pushes, jumps,
comparisons, 256-bit arithmetic, memory words, hashes and call data. Here the code stream's iterator (the loop py-evm's
``apply_computation`` draws opcodes from) executes those itself on py-evm's own stack, memory and gas meter, with
the gas costs taken from py-evm's Prague opcode table, and yields every other opcode to py-evm as before (of
those, SLOAD and SSTORE are the node's own functions in the computation's opcode table, below). Errors
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

import rlp
from cached_property import cached_property  # type: ignore[import-untyped]
from eth.constants import GAS_COPY, GAS_SHA3WORD
from eth.db.account import IS_PRESENT_VALUE, AccountDB
from eth.db.storage import AccountStorageDB
from eth.exceptions import (
    FullStack,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
    VMError,
    WriteProtection,
)
from eth.vm.code_stream import CodeStream
from eth.vm.computation import memory_gas_cost
from eth.vm.forks.berlin.constants import COLD_SLOAD_COST, WARM_STORAGE_READ_COST
from eth.vm.forks.london.storage import GAS_SCHEDULE_EIP3529
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.interrupt import MissingStorageTrieNode
from eth.vm.opcode import as_opcode
from eth.vm.state import BaseState
from eth_hash.auto import keccak
from eth_utils.hexadecimal import encode_hex

from chain.node.precompiles import ConsortiumComputation

_U256 = 2**256 - 1
_JUMPDEST = 0x5B
_CACHE_SIZE = 256
_SHA3_WORD = GAS_SHA3WORD
_COPY_WORD = GAS_COPY
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
    *(0x01, 0x03, 0x10, 0x11, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1B, 0x1C, 0x20, 0x35, 0x37, 0x39, 0x50),
    *(0x51, 0x52, 0x56, 0x57, 0x5B, 0x5E, *range(0x5F, 0xA0)),
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
    #: The static gas of each opcode run inline, -1 for those left to py-evm.
    gas_table = _GAS

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
        gas_of = self.gas_table
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
                elif opcode == 0x39 or opcode == 0x37 or opcode == 0x5E:  # CODECOPY, CALLDATACOPY, MCOPY
                    if len(values) < 3:
                        raise InsufficientStack(f"Wanted 3 stack items, only had {len(values)}")
                    start = values.pop()
                    source = values.pop()
                    size = values.pop()
                    if start.__class__ is not int:
                        start = int.from_bytes(start, "big")
                    if source.__class__ is not int:
                        source = int.from_bytes(source, "big")
                    if size.__class__ is not int:
                        size = int.from_bytes(size, "big")
                    if size:  # py-evm's extend_memory: MCOPY's from the higher of its two offsets
                        base = start if opcode != 0x5E or start >= source else source
                        end = base + size
                        if end > len(memory._bytes):
                            fee = growth_fee(len(memory._bytes), end)
                            if fee > left:
                                raise _out_of_gas(fee, left, "Expanding memory")
                            left -= fee
                            memory.extend(base, size)
                    fee = _COPY_WORD * ((size + 31) // 32)
                    if fee > left:
                        raise _out_of_gas(fee, left, f"{_INLINE[opcode]}: word gas cost")
                    left -= fee
                    if opcode == 0x5E:
                        memory.copy(start, source, size)
                    elif size:
                        if opcode == 0x39:
                            copied = code[source : source + size]
                        else:
                            if self._calldata is None:
                                self._calldata = bytes(self._message.data)
                            copied = self._calldata[source : source + size]
                        memory._bytes[start : start + size] = copied.ljust(size, b"\0")
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


# -- SLOAD and SSTORE -------------------------------------------------------------------------------------------
#
# py-evm's SLOAD and SSTORE (``eth.vm.forks.berlin.logic``, ``eth.vm.logic.storage``, London's gas schedule) go
# through the state and the account database, which validate the address and the slot again at each of an
# SSTORE's three storage accesses, encode the slot to bytes four times, and format an SSTORE's gas reason
# (the address in hex, slot, values) whether or not the gas runs out. These do the same reads and writes on the
# same journals, in the same order, with the same gas, refunds and errors (the reason is formatted only for the
# error that shows it), on py-evm's own state and account database; any other state or database classes (a
# subclass that changes how storage is read or written) get py-evm's opcodes.

_SSTORE_GAS = GAS_SCHEDULE_EIP3529
_SSTORE_STIPEND = 2300
_plain_types: dict[tuple[type, type], bool] = {}


def _plain(state: Any) -> AccountDB | None:
    """``state``'s account database if storage goes through py-evm's own code there, else None."""
    db = state._account_db
    key = (type(state), type(db))
    plain = _plain_types.get(key)
    if plain is None:
        state_class, db_class = key
        plain = all(
            getattr(state_class, name) is getattr(BaseState, name)
            for name in ("get_storage", "set_storage", "is_storage_warm", "mark_storage_warm")
        ) and all(
            getattr(db_class, name) is getattr(AccountDB, name)
            for name in ("get_storage", "set_storage", "is_storage_warm", "mark_storage_warm",
                         "_get_storage_tracker_key")
        )  # fmt: skip
        _plain_types[key] = plain
    return db if plain else None


def _store(db: Any, address: bytes) -> Any:
    """The storage database of ``address`` (py-evm's ``_get_address_store``), if it is py-evm's own code."""
    store = db._account_stores.get(address)
    if store is None:
        store = db._get_address_store(address)
    cls = type(store)
    if cls.get is not AccountStorageDB.get or cls.set is not AccountStorageDB.set:
        return None
    return store


def _read(store: Any, slot: int, key: bytes, journal: Any) -> int:
    """``AccountStorageDB.get`` with the slot's key already encoded."""
    store._accessed_slots.add(slot)
    try:
        encoded = journal[key]
    except MissingStorageTrieNode:
        raise
    except KeyError:
        return 0
    if encoded == b"":
        return 0
    value: int = rlp.decode(encoded, sedes=rlp.sedes.big_endian_int)
    return value


def _sload(computation: Any) -> None:
    db = _plain(computation.state)
    if db is None:
        _PY_EVM_SLOAD(computation)
        return
    slot = computation.stack_pop1_int()
    address = computation.msg.storage_address
    key = slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
    accessed = db._journal_accessed_state
    tracker = address + key
    if tracker in accessed:
        gas = WARM_STORAGE_READ_COST
    else:
        accessed[tracker] = IS_PRESENT_VALUE
        gas = COLD_SLOAD_COST
    computation.consume_gas(gas, reason="SLOAD")
    store = _store(db, address)
    value = db.get_storage(address, slot) if store is None else _read(store, slot, key, store._journal_storage)
    computation.stack_push_int(value)


def _sstore(computation: Any) -> None:
    db = _plain(computation.state)
    if db is None:
        _PY_EVM_SSTORE(computation)
        return
    if computation.msg.is_static:
        raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
    gas_remaining = computation.get_gas_remaining()
    if gas_remaining <= _SSTORE_STIPEND:
        raise OutOfGas("Net-metered SSTORE always fails below 2300 gas, per EIP-2200", gas_remaining)
    slot, value = computation.stack_pop_ints(2)
    address = computation.msg.storage_address
    key = slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
    store = _store(db, address)
    if store is None:
        current, original = db.get_storage(address, slot), db.get_storage(address, slot, from_journal=False)
    else:
        current = _read(store, slot, key, store._journal_storage)
        original = _read(store, slot, key, store._locked_changes)
    # net_sstore's gas and refund (EIP-2200, with EIP-2929's and EIP-3529's schedule)
    schedule = _SSTORE_GAS
    refund = 0
    if current == value:
        gas = schedule.sload_gas
    elif original == current:
        if original == 0:
            gas = schedule.sstore_set_gas
        else:
            gas = schedule.sstore_reset_gas
            if value == 0:
                refund += schedule.sstore_clears_schedule
    else:
        gas = schedule.sload_gas
        if original != 0:
            if current == 0:
                refund -= schedule.sstore_clears_schedule
            if value == 0:
                refund += schedule.sstore_clears_schedule
        if original == value:
            if original == 0:
                refund += schedule.sstore_set_gas - schedule.sload_gas
            else:
                refund += schedule.sstore_reset_gas - schedule.sload_gas
    if gas > computation.get_gas_remaining():
        reason = (f"SSTORE: {encode_hex(address)}[{slot}] -> {value} (current: {current} / "
                  f"original: {original})")  # fmt: skip
        computation.consume_gas(gas, reason=reason)  # raises py-evm's OutOfGas, with its message
    computation.consume_gas(gas, reason="SSTORE")
    if refund:
        computation.refund_gas(refund)
    if store is None:
        db.set_storage(address, slot, value)
    else:  # AccountDB.set_storage, then AccountStorageDB.set
        db._dirty_accounts.add(address)
        journal = store._journal_storage
        if value:
            journal[key] = rlp.encode(value)
        else:
            try:
                present = journal[key]
            except KeyError:
                present = b""
            if present != b"":
                del journal[key]
    # EIP-2929: the slot's first access in the transaction costs a cold read
    accessed = db._journal_accessed_state
    tracker = address + key
    if tracker not in accessed:
        accessed[tracker] = IS_PRESENT_VALUE
        computation.consume_gas(COLD_SLOAD_COST, reason="Implicit SLOAD during SSTORE")


_PY_EVM_SLOAD = PragueComputation.opcodes[0x54]
_PY_EVM_SSTORE = PragueComputation.opcodes[0x55]
_STORAGE_OPCODES = {
    0x54: as_opcode(_sload, _PY_EVM_SLOAD.mnemonic, _PY_EVM_SLOAD.gas_cost),  # type: ignore[attr-defined]
    0x55: as_opcode(_sstore, _PY_EVM_SSTORE.mnemonic, _PY_EVM_SSTORE.gas_cost),  # type: ignore[attr-defined]
}
if (_PY_EVM_SSTORE.mnemonic, _PY_EVM_SLOAD.mnemonic) != ("SSTORE", "SLOAD"):
    raise RuntimeError("py-evm's storage opcodes moved: the code running them needs review")


class InlineComputation(ConsortiumComputation):
    """Prague execution, with the consortium's precompiles, whose code stream runs the inline opcodes, and with
    the node's SLOAD and SSTORE."""

    opcodes = {**ConsortiumComputation.opcodes, **_STORAGE_OPCODES}  # noqa: RUF012 - py-evm reads this attribute
    stream_class = InlineCodeStream

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.code = self.stream_class(
            self.msg.code,
            self._stack.values,  # type: ignore[attr-defined]
            self._gas_meter,
            self._memory,
            self.msg,
        )


class _StackProxy:
    """py-evm's ``cached_property`` for a computation's stack proxies (``stack_pop_ints`` and the like: the stack's
    bound method, kept in the computation's ``__dict__`` at its first use), less the ``cached_property`` package's
    ``asyncio.iscoroutinefunction`` check at each first use of each proxy in each computation (about 1.5 % of
    executing a block: a transaction and each call between contracts make a computation). py-evm's functions
    are not coroutines (checked here at import), so the value and where it is kept are the same."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.name = func.__name__

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value


def _stack_proxies() -> dict[str, _StackProxy]:
    import asyncio

    proxies = {}
    for klass in reversed(InlineComputation.__mro__):
        for name, attr in vars(klass).items():
            if isinstance(attr, cached_property):
                if asyncio.iscoroutinefunction(attr.func) or attr.func.__name__ != name:
                    raise RuntimeError(f"py-evm's computation.{name} is not a plain cached property: review the node's")
                proxies[name] = _StackProxy(attr.func)
    return proxies


for _name, _proxy in _stack_proxies().items():
    setattr(InlineComputation, _name, _proxy)
