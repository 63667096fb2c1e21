"""The node's header, block and account copies (``chain.node.vm._shallow_copy``) give what rlp's deep copy gives:
the same fields, the same encoding and hash, lists made tuples, and unknown fields refused; the original is left
as it was. A block sealed and appended with them re-executes cleanly under py-evm's own code (``verify_chain``)."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.db.atomic import AtomicDB
from eth.rlp.accounts import Account as StateAccount
from eth_account import Account
from eth_utils.crypto import keccak
from rlp.sedes.serializable import BaseSerializable

from chain.node.node import Genesis, Node
from chain.node.verify import verify_chain
from chain.node.vm import ConsortiumBlock, ConsortiumHeader, _AccountDB, _shallow_copy
from tests.support.transfers import RECIPIENT

CHAIN_ID = 20261
SEALER = Account.from_key(b"\x09" * 32)


def sealing_node() -> Node:
    return Node(
        AtomicDB(), Genesis(CHAIN_ID, (SEALER.address,), SEALER.address, 1_700_000_000), sealer_key=bytes(SEALER.key)
    )


def deep(item: Any, **changes: Any) -> Any:
    return BaseSerializable.copy(item, **changes)


def test_header_copy_is_rlps() -> None:
    header = sealing_node().head()
    assert isinstance(header, ConsortiumHeader)
    changes = {"gas_used": 21_000, "bloom": 1 << 200, "state_root": keccak(b"state"), "extra_data": b"\x01" * 40}
    ours, theirs = header.copy(**changes), deep(header, **changes)
    assert type(ours) is ConsortiumHeader
    assert ours.as_dict() == theirs.as_dict() and rlp.encode(ours) == rlp.encode(theirs) and ours.hash == theirs.hash
    assert ours.hash != header.hash and header.gas_used == 0  # the original keeps its fields and its hash
    assert header.copy().as_dict() == header.as_dict()


def test_block_copy_shares_transactions_and_makes_lists_tuples() -> None:
    node = sealing_node()
    raw = SEALER.sign_transaction({"chainId": CHAIN_ID, "nonce": 0, "gas": 21_000, "to": RECIPIENT, "value": 0,
                                   "gasPrice": 0}).raw_transaction  # fmt: skip
    node.submit(bytes(raw))
    sealed = node.seal()
    assert sealed is not None
    block = node.block_by_number(1)
    assert isinstance(block, ConsortiumBlock) and len(block.transactions) == 1
    header = block.header.copy(gas_used=7)
    ours = block.copy(header=header, transactions=list(block.transactions))
    theirs = deep(block, header=header, transactions=list(block.transactions))
    assert isinstance(ours.transactions, tuple) and ours.transactions[0] is block.transactions[0]
    assert rlp.encode(ours) == rlp.encode(theirs) and ours.header.gas_used == 7 and block.header.gas_used == 21_000
    # what the node sealed and stored with these copies, py-evm's own code re-executes to the same roots
    report = verify_chain(node.db)
    assert report.head == 1 and report.transactions == 1


def test_account_copy_is_rlps() -> None:
    account = StateAccount(nonce=3, balance=10**18)
    for changes in ({"balance": 5}, {"nonce": 4}, {"storage_root": keccak(b"root"), "code_hash": keccak(b"code")}):
        ours, theirs = _shallow_copy(account, changes), deep(account, **changes)
        assert type(ours) is StateAccount and ours == theirs and rlp.encode(ours) == rlp.encode(theirs)
    assert account.nonce == 3 and account.balance == 10**18


def test_unknown_field_refused() -> None:
    header = sealing_node().head()
    with pytest.raises(TypeError, match="no field gas_spent"):
        header.copy(gas_spent=1)
    with pytest.raises(TypeError, match="no field colour"):
        _shallow_copy(StateAccount(), {"colour": 1})


def test_account_db_balance_and_nonce() -> None:
    node = sealing_node()
    state = node.state_at(node.head())
    assert isinstance(state._account_db, _AccountDB)
    address = bytes.fromhex(RECIPIENT[2:])
    state.set_balance(address, 123)
    state.increment_nonce(address)
    assert state.get_balance(address) == 123 and state.get_nonce(address) == 1
    with pytest.raises(Exception, match="Nonce"):
        state.set_nonce(address, 2**64)


def _body(function: Any, *, drop_debug: bool) -> str:
    """``function``'s statements (no docstring; with ``drop_debug``, no ``….logger.debug2(...)`` line), as an
    AST dump: the same code, however it is laid out."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if drop_debug:
        body = [s for s in body if not (isinstance(s, ast.Expr) and "debug2" in ast.dump(s.value))]
    return "\n".join(ast.dump(s) for s in body)


def test_the_evm_message_is_built_as_py_evm_builds_it_less_its_debug_line() -> None:
    """The node's ``build_evm_message`` is py-evm's without the debug line it formats at every transaction: if
    py-evm's method changes, this fails and the copy needs review."""
    from eth.vm.forks.cancun.state import CancunTransactionExecutor
    from eth.vm.forks.prague.state import PragueTransactionExecutor

    from chain.node.vm import ConsortiumState, ConsortiumTransactionExecutor

    assert PragueTransactionExecutor.build_evm_message is CancunTransactionExecutor.build_evm_message
    theirs = _body(CancunTransactionExecutor.build_evm_message, drop_debug=True)
    assert "debug2" in _body(CancunTransactionExecutor.build_evm_message, drop_debug=False)
    assert _body(ConsortiumTransactionExecutor.build_evm_message, drop_debug=False) == theirs
    assert ConsortiumState.transaction_executor_class is ConsortiumTransactionExecutor


def test_an_accounts_kept_encoding_is_py_evms_and_never_a_copys() -> None:
    """``_AccountDB._set_account`` keeps an account's encoding on it: the same bytes as py-evm's explicit
    ``sedes=Account``, and a copy with a field changed encodes itself, not the original's kept bytes."""
    account = StateAccount(nonce=3, balance=10**18)
    node = sealing_node()
    state = node.state_at(node.head())
    db = state._account_db
    address = bytes.fromhex(RECIPIENT[2:])
    db._set_account(address, account)
    assert db._journaltrie[address] == rlp.encode(account, sedes=StateAccount)
    assert account._cached_rlp == rlp.encode(account, sedes=StateAccount)
    copied = _shallow_copy(account, {"balance": 5})
    assert rlp.encode(copied) == rlp.encode(copied, sedes=StateAccount) != rlp.encode(account)
    state.set_balance(address, 7)
    assert db._journaltrie[address] == rlp.encode(StateAccount(nonce=3, balance=7), sedes=StateAccount)


def _statements_less_debug(function: Any) -> str:
    """``function``'s statements as an AST dump, less its docstring and every ``….logger.debug2(...)`` statement
    at any depth (in an ``if`` or a loop too)."""
    import ast
    import inspect
    import textwrap

    class DropDebug(ast.NodeTransformer):
        def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
            return None if "debug2" in ast.dump(node.value) else node

    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    kept = [DropDebug().visit(statement) for statement in body]
    return "\n".join(ast.dump(statement) for statement in kept if statement is not None)


def test_refunds_fees_and_clearing_are_py_evms_less_their_debug_lines() -> None:
    """The node's ``finalize_computation`` (EIP-161's clearing over the refunds and fees) is py-evm's two methods
    without the debug lines they format at every transaction: if py-evm's change, this fails and the copies need
    review."""
    from eth.vm.forks.frontier.state import FrontierTransactionExecutor
    from eth.vm.forks.prague.state import PragueTransactionExecutor
    from eth.vm.forks.spurious_dragon.state import SpuriousDragonTransactionExecutor

    from chain.node.vm import ConsortiumState, ConsortiumTransactionExecutor, _FeesExecutor

    assert PragueTransactionExecutor.finalize_computation is SpuriousDragonTransactionExecutor.finalize_computation
    for ours, theirs in (
        (ConsortiumTransactionExecutor.finalize_computation, SpuriousDragonTransactionExecutor.finalize_computation),
        (_FeesExecutor.finalize_computation, FrontierTransactionExecutor.finalize_computation),
    ):
        assert "debug2" in _body(theirs, drop_debug=False) and "debug2" not in _body(ours, drop_debug=False)
        assert _statements_less_debug(ours) == _statements_less_debug(theirs)
    executor = ConsortiumTransactionExecutor.__mro__
    assert executor[1] is _FeesExecutor and executor[2] is PragueTransactionExecutor
    assert ConsortiumState.transaction_executor_class is ConsortiumTransactionExecutor


def test_a_computations_stack_proxies_are_py_evms_cached_properties() -> None:
    """The node's computation keeps each stack proxy (``stack_pop_ints`` and the like) as py-evm's
    ``cached_property`` does: every one of py-evm's is replaced, computed by py-evm's own function, the stack's
    bound method, kept in the computation's ``__dict__`` at its first use and not computed again."""
    from cached_property import cached_property  # type: ignore[import-untyped]
    from eth.vm.message import Message
    from eth_typing import Address

    from chain.node.evm import InlineComputation, _StackProxy

    py_evms = {
        name: attr
        for klass in InlineComputation.__mro__[1:]
        for name, attr in vars(klass).items()
        if isinstance(attr, cached_property)
    }
    assert len(py_evms) == 8
    node = sealing_node()
    state = node.state_at(node.head())
    message = Message(
        gas=100_000, to=Address(b"\x01" * 20), sender=Address(b"\x02" * 20), value=0, data=b"", code=b"\x00"
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=b"\x02" * 20)
    computation = InlineComputation(state, message, context)
    for name, attr in py_evms.items():
        proxy = vars(InlineComputation)[name]
        assert isinstance(proxy, _StackProxy) and proxy.func is attr.func
        assert name not in computation.__dict__
        value = getattr(computation, name)
        assert value == attr.func(computation) == getattr(computation._stack, name.removeprefix("stack_"))
        assert computation.__dict__[name] is value and getattr(computation, name) is value
