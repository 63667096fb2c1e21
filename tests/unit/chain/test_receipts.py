"""The node's receipts (``ConsortiumVM.make_receipt``, ``validate_receipt``, ``add_receipt_to_header`` and the
bloom behind them, ``chain.node.vm.logs_bloom``) against py-evm's, result by result: the same receipt (fields,
class, encoding) for every transaction type, outcome and set of logs, the same header after it, and the same
errors, with the same messages, for a receipt whose bloom lacks an address's or a topic's bits or whose status is
not one."""

from __future__ import annotations

import ast
import inspect
import itertools
import random
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest
import rlp
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.berlin.receipts import TypedReceipt
from eth.vm.forks.berlin.transactions import TypedTransaction
from eth.vm.forks.byzantium import ByzantiumVM
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_bloom.bloom import BloomFilter
from eth_typing import Hash32
from eth_utils.exceptions import ValidationError

from chain.node.vm import _PLAIN_RECEIPTS, ConsortiumHeader, ConsortiumVM, ReferenceVM, logs_bloom, receipt_rlp

TO = b"\x11" * 20
EDGE_TOPICS = (0, 1, 2**255, 2**256 - 1)


@dataclass
class Computation:
    """What a receipt reads of py-evm's computation once a transaction has run."""

    gas_remaining: int
    refund: int
    is_error: bool
    log_entries: tuple[tuple[bytes, tuple[int, ...], bytes], ...]
    data_floor_gas: int = 0

    def get_gas_remaining(self) -> int:
        return self.gas_remaining

    def get_gas_refund(self) -> int:
        return self.refund

    def get_log_entries(self) -> tuple[tuple[bytes, tuple[int, ...], bytes], ...]:
        return self.log_entries


def transactions() -> list[Any]:
    builder = PragueTransactionBuilder
    common: dict[str, Any] = {"gas": 100_000, "to": TO, "value": 0, "data": b"\x01"}
    signature: dict[str, Any] = {"y_parity": 1, "r": 7, "s": 9}
    fees: dict[str, Any] = {"max_priority_fee_per_gas": 0, "max_fee_per_gas": 0}
    return [
        builder.new_transaction(nonce=0, gas_price=0, v=27, r=7, s=9, **common),
        builder.new_access_list_transaction(chain_id=1, nonce=0, gas_price=0, access_list=[], **common, **signature),
        builder.new_dynamic_fee_transaction(chain_id=1, nonce=0, access_list=[], **fees, **common, **signature),
        builder.new_blob_transaction(
            chain_id=1,
            nonce=0,
            access_list=[],
            max_fee_per_blob_gas=1,
            blob_versioned_hashes=[Hash32(b"\x01" * 32)],
            **fees,
            **common,
            **signature,
        ),
        builder.new_set_code_transaction(
            chain_id=1, nonce=0, access_list=[], authorization_list=[], **fees, **common, **signature
        ),
    ]


def random_logs(rng: random.Random) -> tuple[tuple[bytes, tuple[int, ...], bytes], ...]:
    addresses = [rng.randbytes(20) for _ in range(3)]
    return tuple(
        (
            rng.choice(addresses),
            tuple(rng.choice((rng.choice(EDGE_TOPICS), rng.getrandbits(256))) for _ in range(rng.randint(0, 4))),
            rng.randbytes(rng.randint(0, 40)),
        )
        for _ in range(rng.randint(0, 5))
    )


def header(gas_used: int = 0, bloom: int = 0) -> ConsortiumHeader:
    zero = b"\0" * 32
    fields: dict[str, Any] = {
        "parent_hash": zero, "uncles_hash": zero, "coinbase": TO, "state_root": zero, "transaction_root": zero,
        "receipt_root": zero, "bloom": bloom, "difficulty": 0, "block_number": 1, "gas_limit": 30_000_000,
        "gas_used": gas_used, "timestamp": 1, "extra_data": b"", "mix_hash": zero, "nonce": b"\0" * 8,
        "base_fee_per_gas": 0, "withdrawals_root": zero, "blob_gas_used": 0, "excess_blob_gas": 0,
        "parent_beacon_block_root": zero, "requests_hash": zero,
    }  # fmt: skip
    return ConsortiumHeader(**fields)


def test_the_bloom_is_eth_blooms() -> None:
    rng = random.Random(20261206)
    for _ in range(300):
        logs = [Log(address, topics, data) for address, topics, data in random_logs(rng)]
        bloomables = itertools.chain.from_iterable(log.bloomables for log in logs)
        assert logs_bloom(logs) == int(BloomFilter.from_iterable(bloomables))


def test_receipts_are_py_evms_for_every_transaction_type() -> None:
    rng = random.Random(7)
    for transaction in transactions():
        for _ in range(40):
            computation = Computation(
                gas_remaining=rng.randint(0, 60_000), refund=rng.randint(0, 30_000), is_error=rng.random() < 0.3,
                log_entries=random_logs(rng),
            )  # fmt: skip
            base = header(gas_used=rng.randint(0, 1_000_000), bloom=rng.getrandbits(2048))
            ours = ConsortiumVM.make_receipt(base, transaction, computation, None)  # type: ignore[arg-type]
            theirs = ReferenceVM.make_receipt(base, transaction, computation, None)
            assert type(ours) is type(theirs)
            assert (ours.state_root, ours.gas_used, ours.bloom, ours.logs) == (
                theirs.state_root, theirs.gas_used, theirs.bloom, theirs.logs,
            )  # fmt: skip
            assert ours.encode() == theirs.encode() and rlp.encode(ours) == rlp.encode(theirs)
            assert receipt_rlp(ours) == theirs.encode()
            ConsortiumVM.validate_receipt(ours)
            vm = object.__new__(ConsortiumVM)
            after, reference = vm.add_receipt_to_header(base, ours), ByzantiumVM.add_receipt_to_header(vm, base, ours)
            assert rlp.encode(after) == rlp.encode(reference) and type(after) is type(reference)


def test_a_receipts_encoding_is_rlps_at_the_edges() -> None:
    rng = random.Random(11)
    for status, gas_used, bloom in itertools.product(
        (b"", b"\x01", b"\x00" * 32), (0, 1, 127, 128, 255, 256, 2**64 - 1), (0, 1, 2**2048 - 1)
    ):
        logs = [Log(address, topics, data) for address, topics, data in random_logs(rng)]
        receipt = Receipt(state_root=status, gas_used=gas_used, logs=logs, bloom=bloom)
        assert receipt_rlp(receipt) == rlp.encode(receipt)
        typed = TypedReceipt(1, receipt)
        assert receipt_rlp(typed) == typed.encode()
    long_data = Receipt(state_root=b"\x01", gas_used=1, logs=[Log(TO, (1,), b"\x07" * 70_000)], bloom=0)
    assert receipt_rlp(long_data) == rlp.encode(long_data)


def test_every_known_transaction_receipt_is_built_alike() -> None:
    """The node builds the receipt itself for these transaction classes: their ``make_receipt`` must be one
    function, statement by statement, or the node must be reviewed."""

    def statements(function: Any) -> str:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        return "\n".join(ast.dump(statement) for statement in tree.body[0].body)  # type: ignore[attr-defined]

    bodies = {statements(function) for function in _PLAIN_RECEIPTS}
    assert len(_PLAIN_RECEIPTS) == 5 and len(bodies) == 1
    assert "Receipt" in next(iter(bodies)) and "bloom" not in next(iter(bodies))
    assert "typed_receipt_class(self.type_id, inner_receipt)" in inspect.getsource(TypedTransaction.make_receipt)


def test_another_transaction_class_gets_py_evms_receipt() -> None:
    class Custom(type(transactions()[0])):  # type: ignore[misc]
        def make_receipt(self, status: bytes, gas_used: int, log_entries: Any) -> Any:
            return Receipt(state_root=status, gas_used=gas_used, logs=[], bloom=5)

    transaction = Custom(*transactions()[0])
    computation = Computation(gas_remaining=0, refund=0, is_error=False, log_entries=((TO, (1,), b""),))
    assert ConsortiumVM.make_receipt(header(), transaction, computation, None).bloom == 5  # type: ignore[arg-type]


@pytest.mark.parametrize("broken", ["address", "topic", "status"])
def test_a_bad_receipt_fails_as_in_py_evm(broken: str) -> None:
    rng = random.Random(broken)
    checked = 0
    for _ in range(60):
        entries = random_logs(rng)
        logs = [Log(address, topics, data) for address, topics, data in entries]
        bloom, status = logs_bloom(logs), b"\x01"
        if broken == "status":
            status = rng.choice((b"", b"\x02", b"\x00\x01"))
        else:
            items: list[Any] = (
                [log.address for log in logs] if broken == "address" else [t for log in logs for t in log.topics]
            )
            if not items:
                continue
            item = rng.choice(items)
            bits = int(BloomFilter.from_iterable([item if broken == "address" else item.to_bytes(32, "big")]))
            bloom &= ~(bits & -bits)  # one of its three bits gone
        receipt = Receipt(state_root=status, gas_used=21_000, logs=logs, bloom=bloom)
        outcomes: list[str | None] = []
        for vm in (ConsortiumVM, ReferenceVM):
            try:
                vm.validate_receipt(receipt)
                outcomes.append(None)
            except ValidationError as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1]
        checked += outcomes[0] is not None
    assert checked >= 20
