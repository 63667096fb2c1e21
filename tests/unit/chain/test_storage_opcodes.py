"""The node's SLOAD and SSTORE (``chain.node.evm``) against py-evm's: for every original, current and new value
among 0, 1 and 2 (EIP-2200's cases, with EIP-2929's and EIP-3529's costs and refunds), cold and warm slots, at
the gas each needs, one less, and around SSTORE's 2300-gas floor, and in a static frame, both end the same way:
the same error and message, gas left, refund, stack and storage, the same slots warm."""

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

from chain.node import evm
from chain.node.evm import InlineComputation
from chain.node.node import Genesis, Node

SENDER = Address(b"\x11" * 20)
CONTRACT = Address(b"\x22" * 20)
VALUES = (0, 1, 2)


@functools.cache
def _genesis_state() -> Any:
    node = Node(AtomicDB(), Genesis(20261, ("0x" + "33" * 20,), "0x" + "33" * 20, 1_700_000_000))
    return node.chain.get_vm(node._child_header(node.head())).state


def _state(original: int, state_class: type = PragueState) -> Any:
    """A state whose slot 1 holds ``original`` from before the transaction (locked, as a previous transaction
    leaves it), every slot cold."""
    genesis = _genesis_state()
    state = state_class(genesis._db, genesis.execution_context, genesis.state_root)
    state.set_storage(CONTRACT, 1, original)
    state.lock_changes()
    return state


def _push(value: int) -> bytes:
    return bytes([0x60, value])


def _program(current: int, new: int, warm: bool) -> bytes:
    """Slot 1 made ``current`` (when it differs from what it holds, by a first SSTORE), then set to ``new``,
    then read back; with ``warm``, slot 1 read first."""
    code = (_push(1) + b"\x54\x50") if warm else b""
    code += _push(current) + _push(1) + b"\x55"
    return code + _push(new) + _push(1) + b"\x55" + _push(1) + b"\x54"


def _run(cls: type[PragueComputation], state_class: type, original: int, code: bytes, gas: int,
         static: bool = False) -> tuple[Any, ...]:  # fmt: skip
    state = _state(original, state_class)
    message = Message(gas=gas, to=CONTRACT, sender=SENDER, value=0, data=b"", code=code, is_static=static)
    computation = cls.apply_computation(state, message, CancunTransactionContext(gas_price=0, origin=SENDER))
    error = (type(computation.error).__name__, str(computation.error)) if computation.is_error else None
    stack = [v if isinstance(v, int) else int.from_bytes(v, "big") for v in cast(Stack, computation._stack).values]
    warm = [state.is_storage_warm(CONTRACT, slot) for slot in range(3)]
    storage = [(state.get_storage(CONTRACT, s), state.get_storage(CONTRACT, s, from_journal=False)) for s in range(3)]
    return error, computation.get_gas_remaining(), computation.get_gas_refund(), stack, storage, warm


@pytest.mark.parametrize("original", VALUES)
def test_sstore_and_sload_give_py_evms_gas_refunds_and_storage(original: int) -> None:
    for current in VALUES:
        for new in VALUES:
            for warm in (False, True):
                code = _program(current, new, warm)
                needed = 100_000 - _run(PragueComputation, PragueState, original, code, 100_000)[1]
                for gas in (100_000, needed, needed - 1, needed - 100, 2_300 + 9, 2_301 + 9, 2_300, 5):
                    ours = _run(InlineComputation, PragueState, original, code, gas)
                    theirs = _run(PragueComputation, PragueState, original, code, gas)
                    assert ours == theirs, (original, current, new, warm, gas)


def test_sstore_in_a_static_frame_and_with_a_short_stack() -> None:
    for code in (_push(2) + _push(1) + b"\x55", _push(1) + b"\x55", b"\x55", b"\x54"):
        for static in (False, True):
            ours = _run(InlineComputation, PragueState, 1, code, 50_000, static)
            assert ours == _run(PragueComputation, PragueState, 1, code, 50_000, static)


class _OtherStorageState(PragueState):
    def get_storage(self, address: Address, slot: int, from_journal: bool = True) -> int:
        return super().get_storage(address, slot, from_journal)


def test_a_state_that_reads_storage_its_own_way_gets_py_evms_opcodes() -> None:
    assert evm._plain(_state(1)) is not None
    assert evm._plain(_state(1, _OtherStorageState)) is None
    code = _program(2, 0, False)
    assert _run(InlineComputation, _OtherStorageState, 1, code, 100_000) == _run(
        PragueComputation, PragueState, 1, code, 100_000
    )
