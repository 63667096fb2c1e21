"""Read-only execution for ``eth_call``: a compact EVM interpreter for calls that change nothing.

``eth_call`` is the node's hot read path (the gateway asks ``AccessGrants.check`` before every shared-service
call), and its answer never reaches the chain. py-evm spends most of such a call on its machinery rather than on
the contract: a message, a computation, a gas meter, snapshots and journals for every frame and every storage
read. Here one function runs a frame on plain Python values (a list for the stack, a ``bytearray`` for memory, an
``int`` for gas) with Prague's gas rules, storage and code read once per call state through ``StateReader``, and
``STATICCALL`` run as a nested frame.

It answers only what it can answer exactly as py-evm would. Anything else raises ``UnsupportedError`` and the node runs
the call on py-evm from the start; a call changes nothing, so starting over is always safe:

- any opcode that writes (``SSTORE``, ``TSTORE``, ``LOG*``, ``CREATE*``, ``SELFDESTRUCT``) or that this module does
  not implement (``CALL``, ``CALLCODE``, ``DELEGATECALL``, ``BLOCKHASH``, ``GASPRICE``, ``EXTCODECOPY``,
  ``PREVRANDAO``, ``BLOBHASH``, ``BLOBBASEFEE``), and a call to a precompile or to EIP-7702 delegated code;
- every exceptional halt (out of gas, stack underflow or overflow, a bad jump, ``INVALID``, a read past the return
  data), in any frame, so the caller gets py-evm's own error;
- frames nested deeper than ``MAX_DEPTH``.

What it does answer (success or ``REVERT``, output, gas left) is compared with py-evm on random programs over
random state by ``tests/property/test_readcall_properties.py``, and on the consortium's own contracts by the node's
tests. Transactions, and so consensus, never run here.
"""

from __future__ import annotations

from typing import Any

from eth import constants
from eth._utils.state import code_is_delegation_designation
from eth.vm.forks.berlin import constants as berlin
from eth.vm.forks.spurious_dragon import constants as spurious_dragon
from eth_hash.auto import keccak

from chain.errors import ChainError
from chain.node.evm import analyse, gas_table, growth_fee, mnemonics
from chain.node.precompiles import PRECOMPILES

_U256 = 2**256 - 1
_SIGN = 2**255
_ADDRESS_MASK = 2**160 - 1
_EMPTY_KECCAK = keccak(b"")
_COLD_ACCOUNT = berlin.COLD_ACCOUNT_ACCESS_COST
_COLD_SLOT = berlin.COLD_SLOAD_COST
_WARM = berlin.WARM_STORAGE_READ_COST
_COPY_WORD = constants.GAS_COPY
_SHA3_WORD = constants.GAS_SHA3WORD
_EXP_BYTE = spurious_dragon.GAS_EXPBYTE_EIP160
_STACK_LIMIT = 1024
# py-evm runs nested frames on Python's stack too; past this depth the call goes to py-evm.
MAX_DEPTH = 64
# Ethereum's and the consortium's (SM2 verification): a call to any of them goes to py-evm, and all are warm.
_PRECOMPILES = frozenset(bytes(address) for address in PRECOMPILES)

# The opcodes run here (their static gas is read from py-evm's Prague table, checked by mnemonic).
_SUPPORTED = mnemonics(
    *(*range(0x00, 0x0C), *range(0x10, 0x1E), 0x20, *range(0x30, 0x3A), 0x3B, 0x3D, 0x3E, 0x3F),
    *(0x41, 0x42, 0x43, 0x45, 0x46, 0x47, 0x48, *range(0x50, 0x55), *range(0x56, 0x5D), 0x5E, *range(0x5F, 0xA0)),
    *(0xF3, 0xFA, 0xFD),
)
_GAS = gas_table(_SUPPORTED, 0)  # the others never run here


class UnsupportedError(ChainError):
    """The read path cannot answer this call exactly as py-evm would: run it on py-evm.

    Control flow between the read path and ``Node.call``, which catches it; it never reaches a caller."""


class StateReader:
    """Accounts, code and storage of one state, each read once through py-evm and then kept.

    Valid while the state is unchanged: the node keeps one per call state, which every call leaves as it found it."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self._code: dict[bytes, bytes] = {}
        self._storage: dict[tuple[bytes, int], int] = {}
        self._accounts: dict[tuple[str, bytes], Any] = {}  # (py-evm state method, address): its answer

    def code(self, address: bytes) -> bytes:
        found = self._code.get(address)
        if found is None:
            found = self._code[address] = bytes(self._state.get_code(address))
        return found

    def storage(self, address: bytes, slot: int) -> int:
        key = (address, slot)
        found = self._storage.get(key)
        if found is None:
            found = self._storage[key] = int(self._state.get_storage(address, slot))
        return found

    def balance(self, address: bytes) -> int:
        return int(self._account(address, "get_balance"))

    def code_hash(self, address: bytes) -> bytes:
        return bytes(self._account(address, "get_code_hash"))

    def is_empty(self, address: bytes) -> bool:
        """No code, no nonce and no balance (EIP-161)."""
        return bool(self._account(address, "account_is_empty"))

    def _account(self, address: bytes, read: str) -> Any:
        key = (read, address)
        if key not in self._accounts:
            self._accounts[key] = getattr(self._state, read)(address)
        return self._accounts[key]


class BlockContext:
    """What the block opcodes answer: the header the call runs in, as py-evm's execution context holds it."""

    __slots__ = ("base_fee", "chain_id", "coinbase", "gas_limit", "number", "timestamp")

    def __init__(self, execution_context: Any) -> None:
        self.coinbase = bytes(execution_context.coinbase)
        self.timestamp = int(execution_context.timestamp)
        self.number = int(execution_context.block_number)
        self.gas_limit = int(execution_context.gas_limit)
        self.chain_id = int(execution_context.chain_id)
        self.base_fee = int(execution_context.base_fee_per_gas)


class ReadCall:
    """One ``eth_call`` of ``to`` by ``origin`` with no value: ``run`` returns (success, output, gas left), where
    not success means the top frame reverted; raises ``UnsupportedError`` where py-evm must answer."""

    def __init__(self, reader: StateReader, block: BlockContext, origin: bytes) -> None:
        self._reader = reader
        self._block = block
        self._origin = origin
        self._warm_accounts = {origin, block.coinbase} | _PRECOMPILES
        self._warm_slots: set[tuple[bytes, int]] = set()
        # Each warm mark made inside a frame, undone when the frame reverts (EIP-2929).
        self._marks: list[Any] = []

    def run(self, to: bytes, data: bytes, gas: int) -> tuple[bool, bytes, int]:
        if gas < 0:
            raise UnsupportedError("less gas than the transaction's intrinsic gas")
        if to in _PRECOMPILES:
            raise UnsupportedError("a call to a precompile")
        self._warm_accounts.add(to)
        code = self._reader.code(to)
        if code_is_delegation_designation(code):
            raise UnsupportedError("EIP-7702 delegated code")
        return self._frame(code, to, self._origin, data, gas, 0)

    def _account_fee(self, address: bytes) -> int:
        if address in self._warm_accounts:
            return _WARM
        self._warm_accounts.add(address)
        self._marks.append(address)
        return _COLD_ACCOUNT

    def _undo_marks(self, mark: int) -> None:
        marks = self._marks
        while len(marks) > mark:
            key = marks.pop()
            if key.__class__ is tuple:
                self._warm_slots.discard(key)
            else:
                self._warm_accounts.discard(key)

    def _account_empty(self, address: bytes) -> bool:
        # The origin's nonce has been raised by the time any code runs, so it is never empty then.
        return address != self._origin and self._reader.is_empty(address)

    def _frame(
        self, code: bytes, address: bytes, caller: bytes, data: bytes, gas: int, depth: int
    ) -> tuple[bool, bytes, int]:
        if not code:
            return True, b"", gas
        dests, pushes = analyse(code)
        reader = self._reader
        block = self._block
        costs = _GAS
        stack: list[int] = []
        push = stack.append
        pop = stack.pop
        memory = bytearray()
        returned = b""
        length = len(code)
        pc = 0
        try:
            while pc < length:
                op = code[pc]
                gas -= costs[op]
                if op >= 0x60:
                    if op < 0x80:  # PUSH1 .. PUSH32
                        if len(stack) >= _STACK_LIMIT:
                            raise UnsupportedError("stack overflow")
                        push(pushes[pc])
                        pc += op - 0x5E
                        continue
                    if op < 0x90:  # DUP1 .. DUP16
                        if len(stack) >= _STACK_LIMIT:
                            raise UnsupportedError("stack overflow")
                        push(stack[0x7F - op])
                    elif op < 0xA0:  # SWAP1 .. SWAP16
                        i = 0x8E - op
                        stack[-1], stack[i] = stack[i], stack[-1]
                    elif op == 0xF3 or op == 0xFD:  # RETURN, REVERT
                        start = pop()
                        size = pop()
                        if size:
                            gas = self._grow(memory, start + size, gas)
                        if gas < 0:
                            raise UnsupportedError("out of gas")
                        return op == 0xF3, bytes(memory[start : start + size]), gas
                    elif op == 0xFA:  # STATICCALL
                        if gas < 0:
                            raise UnsupportedError("out of gas")
                        asked = pop()
                        target = (pop() & _ADDRESS_MASK).to_bytes(20, "big")
                        in_start, in_size, out_start, out_size = pop(), pop(), pop(), pop()
                        if in_size:
                            gas = self._grow(memory, in_start + in_size, gas)
                        if out_size:
                            gas = self._grow(memory, out_start + out_size, gas)
                        if target in _PRECOMPILES:
                            raise UnsupportedError("a call to a precompile")
                        gas -= self._account_fee(target)
                        if gas < 0:
                            raise UnsupportedError("out of gas")
                        callee = reader.code(target)
                        if code_is_delegation_designation(callee):
                            raise UnsupportedError("EIP-7702 delegated code")
                        if depth + 1 > MAX_DEPTH:
                            raise UnsupportedError("a deep call")
                        given = min(asked, gas - gas // 64)
                        gas -= given
                        mark = len(self._marks)
                        ok, returned, left = self._frame(
                            callee, target, address, bytes(memory[in_start : in_start + in_size]), given, depth + 1
                        )
                        if not ok:
                            self._undo_marks(mark)
                        push(1 if ok else 0)
                        if out_size:
                            written = returned[:out_size]
                            memory[out_start : out_start + len(written)] = written
                        gas += left
                    else:
                        raise UnsupportedError(f"opcode 0x{op:02x}")
                elif op >= 0x50:
                    if op == 0x52:  # MSTORE
                        start = pop()
                        value = pop()
                        if start + 32 > len(memory):
                            gas = self._grow(memory, start + 32, gas)
                        memory[start : start + 32] = value.to_bytes(32, "big")
                    elif op == 0x5B:  # JUMPDEST
                        pass
                    elif op == 0x57 or op == 0x56:  # JUMPI, JUMP
                        dest = pop()
                        if op == 0x56 or pop():
                            if dest not in dests:
                                raise UnsupportedError("bad jump destination")
                            if gas < 0:
                                raise UnsupportedError("out of gas")
                            pc = dest
                            continue
                    elif op == 0x51:  # MLOAD
                        start = pop()
                        if start + 32 > len(memory):
                            gas = self._grow(memory, start + 32, gas)
                        push(int.from_bytes(memory[start : start + 32], "big"))
                    elif op == 0x5F:  # PUSH0
                        if len(stack) >= _STACK_LIMIT:
                            raise UnsupportedError("stack overflow")
                        push(0)
                    elif op == 0x50:  # POP
                        pop()
                    elif op == 0x54:  # SLOAD
                        slot = pop()
                        key = (address, slot)
                        if key in self._warm_slots:
                            gas -= _WARM
                        else:
                            gas -= _COLD_SLOT
                            self._warm_slots.add(key)
                            self._marks.append(key)
                        push(reader.storage(address, slot))
                    elif op == 0x5E:  # MCOPY
                        target_start, source_start, size = pop(), pop(), pop()
                        if size:
                            gas = self._grow(memory, max(target_start, source_start) + size, gas)
                            gas -= _COPY_WORD * ((size + 31) // 32)
                            memory[target_start : target_start + size] = memory[source_start : source_start + size]
                    elif op == 0x5A:  # GAS
                        if gas < 0:
                            raise UnsupportedError("out of gas")
                        if len(stack) >= _STACK_LIMIT:
                            raise UnsupportedError("stack overflow")
                        push(gas)
                    elif op == 0x53:  # MSTORE8
                        start = pop()
                        value = pop()
                        if start + 1 > len(memory):
                            gas = self._grow(memory, start + 1, gas)
                        memory[start] = value & 0xFF
                    elif op == 0x58 or op == 0x59 or op == 0x5C:  # PC, MSIZE, TLOAD
                        if op == 0x5C:
                            pop()  # transient storage is empty: any TSTORE sends the call to py-evm
                        elif len(stack) >= _STACK_LIMIT:
                            raise UnsupportedError("stack overflow")
                        push(pc if op == 0x58 else len(memory) if op == 0x59 else 0)
                    else:
                        raise UnsupportedError(f"opcode 0x{op:02x}")
                elif op >= 0x30:
                    if op == 0x35:  # CALLDATALOAD
                        start = pop()
                        push(int.from_bytes(data[start : start + 32].ljust(32, b"\0"), "big"))
                    elif op == 0x37 or op == 0x39 or op == 0x3E:  # CALLDATACOPY, CODECOPY, RETURNDATACOPY
                        start, source_start, size = pop(), pop(), pop()
                        source = data if op == 0x37 else code if op == 0x39 else returned
                        if op == 0x3E and source_start + size > len(returned):
                            raise UnsupportedError("a read past the return data")
                        if size:
                            gas = self._grow(memory, start + size, gas)
                            gas -= _COPY_WORD * ((size + 31) // 32)
                            memory[start : start + size] = source[source_start : source_start + size].ljust(size, b"\0")
                    elif op == 0x31 or op == 0x3B or op == 0x3F:  # BALANCE, EXTCODESIZE, EXTCODEHASH
                        target = (pop() & _ADDRESS_MASK).to_bytes(20, "big")
                        gas -= self._account_fee(target)
                        if op == 0x31:
                            push(reader.balance(target))
                        elif op == 0x3B:
                            push(len(reader.code(target)))
                        else:
                            push(0 if self._account_empty(target) else int.from_bytes(reader.code_hash(target), "big"))
                    else:
                        if len(stack) >= _STACK_LIMIT:
                            raise UnsupportedError("stack overflow")
                        if op == 0x36:
                            push(len(data))
                        elif op == 0x34:
                            push(0)  # CALLVALUE: calls with value go to py-evm, and STATICCALL carries none
                        elif op == 0x3D:
                            push(len(returned))
                        elif op == 0x33:
                            push(int.from_bytes(caller, "big"))
                        elif op == 0x30:
                            push(int.from_bytes(address, "big"))
                        elif op == 0x32:
                            push(int.from_bytes(self._origin, "big"))
                        elif op == 0x38:
                            push(length)
                        elif op == 0x42:
                            push(block.timestamp)
                        elif op == 0x43:
                            push(block.number)
                        elif op == 0x46:
                            push(block.chain_id)
                        elif op == 0x41:
                            push(int.from_bytes(block.coinbase, "big"))
                        elif op == 0x45:
                            push(block.gas_limit)
                        elif op == 0x48:
                            push(block.base_fee)
                        elif op == 0x47:
                            push(reader.balance(address))
                        else:
                            raise UnsupportedError(f"opcode 0x{op:02x}")
                elif op >= 0x10:
                    if op == 0x15:  # ISZERO
                        push(0 if pop() else 1)
                    elif op == 0x19:  # NOT
                        push(_U256 - pop())
                    else:
                        a = pop()
                        b = pop()
                        if op == 0x18:
                            push(a ^ b)
                        elif op == 0x1B:
                            push(0 if a >= 256 else (b << a) & _U256)
                        elif op == 0x10:
                            push(1 if a < b else 0)
                        elif op == 0x14:
                            push(1 if a == b else 0)
                        elif op == 0x1C:
                            push(0 if a >= 256 else b >> a)
                        elif op == 0x16:
                            push(a & b)
                        elif op == 0x17:
                            push(a | b)
                        elif op == 0x11:
                            push(1 if a > b else 0)
                        elif op == 0x20:  # SHA3 of b bytes of memory at a
                            if b:
                                gas = self._grow(memory, a + b, gas)
                                gas -= _SHA3_WORD * ((b + 31) // 32)
                                if gas < 0:
                                    raise UnsupportedError("out of gas")
                                push(int.from_bytes(keccak(bytes(memory[a : a + b])), "big"))
                            else:
                                push(int.from_bytes(_EMPTY_KECCAK, "big"))
                        elif op == 0x12 or op == 0x13:  # SLT, SGT
                            a = a - 2**256 if a & _SIGN else a
                            b = b - 2**256 if b & _SIGN else b
                            push(1 if (a < b if op == 0x12 else a > b) else 0)
                        elif op == 0x1A:  # BYTE: byte a of b, counted from the most significant
                            push((b >> (248 - a * 8)) & 0xFF if a < 32 else 0)
                        elif op == 0x1D:  # SAR
                            signed = b - 2**256 if b & _SIGN else b
                            push((signed >> a if a < 256 else (-1 if signed < 0 else 0)) & _U256)
                        else:
                            raise UnsupportedError(f"opcode 0x{op:02x}")
                elif op == 0x00:  # STOP
                    break
                elif op < 0x0C:
                    a = pop()
                    b = pop()
                    if op == 0x01:
                        push((a + b) & _U256)
                    elif op == 0x03:
                        push((a - b) & _U256)
                    elif op == 0x02:
                        push((a * b) & _U256)
                    elif op == 0x06:
                        push(a % b if b else 0)
                    elif op == 0x04:
                        push(a // b if b else 0)
                    elif op == 0x08 or op == 0x09:  # ADDMOD, MULMOD
                        n = pop()
                        push(((a + b if op == 0x08 else a * b) % n) if n else 0)
                    elif op == 0x0A:  # EXP
                        gas -= _EXP_BYTE * ((b.bit_length() + 7) // 8)
                        push(pow(a, b, 2**256))
                    elif op == 0x0B:  # SIGNEXTEND: b extended from its byte a
                        if a <= 31:
                            sign_bit = 1 << (a * 8 + 7)
                            push(b | (2**256 - sign_bit) if b & sign_bit else b & (sign_bit - 1))
                        else:
                            push(b)
                    else:  # SDIV, SMOD
                        a = a - 2**256 if a & _SIGN else a
                        b = b - 2**256 if b & _SIGN else b
                        if not b:
                            push(0)
                        elif op == 0x05:
                            quotient = abs(a) // abs(b)
                            push((-quotient if (a < 0) != (b < 0) else quotient) & _U256)
                        else:
                            remainder = abs(a) % abs(b)
                            push((-remainder if a < 0 else remainder) & _U256)
                else:
                    raise UnsupportedError(f"opcode 0x{op:02x}")
                pc += 1
        except IndexError:
            raise UnsupportedError("stack underflow") from None
        if gas < 0:
            raise UnsupportedError("out of gas")
        return True, b"", gas

    @staticmethod
    def _grow(memory: bytearray, end: int, gas: int) -> int:
        """Gas left after growing ``memory`` to whole words covering ``end``, as py-evm's ``extend_memory``
        charges it; memory is not grown when the gas does not cover it."""
        size = len(memory)
        if end <= size:
            return gas
        gas -= growth_fee(size, end)
        if gas < 0:
            raise UnsupportedError("out of gas")
        memory.extend(bytes((end + 31) // 32 * 32 - size))
        return gas
