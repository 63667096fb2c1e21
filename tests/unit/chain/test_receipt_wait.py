"""``chain.tx.wait_receipt``: it asks at once, then after pauses growing from 10 ms to 100 ms
(``chain.tx.receipt_pauses``), so a wait of one block of a consortium chain asks about twelve times instead of a
hundred; a receipt the chain has is taken at the first ask, and none within the timeout is a BackendError. On the
in-process chain, with the clock and the sleep given to it."""

from __future__ import annotations

import itertools

import pytest

from chain.backend import EthTesterBackend
from chain.errors import BackendError
from chain.tx import RECEIPT_POLL_LONGEST_S, Signer, build_transaction, receipt_pauses, send_transaction, wait_receipt
from tests.support.rpc_count import counted_requests

RECEIPT = "eth_getTransactionReceipt"
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


class Clock:
    """A clock that moves only when the waiter sleeps; it counts the sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_pauses_grow_from_ten_to_a_hundred_milliseconds() -> None:
    pauses = list(itertools.islice(receipt_pauses(), 10))
    assert pauses[0] == pytest.approx(0.01)
    assert all(b >= a for a, b in itertools.pairwise(pauses))
    assert pauses[-1] == RECEIPT_POLL_LONGEST_S
    # a one-second block is waited for with about a dozen asks, not a hundred
    waited = list(itertools.accumulate(itertools.islice(receipt_pauses(), 100)))
    assert next(i for i, t in enumerate(waited) if t >= 1.0) + 1 <= 14


def test_a_mined_receipt_is_taken_at_the_first_ask_and_none_ends_at_the_timeout() -> None:
    signer = Signer.from_key(KEY)
    backend = EthTesterBackend(funded_accounts=[signer.address])
    clock = Clock()
    tx = build_transaction(backend, signer, signer.address, "0x", gas=21_000)
    tx_hash = send_transaction(backend, signer, tx)  # the in-process chain mines it at once
    with counted_requests(backend) as asked:
        assert wait_receipt(backend, tx_hash, clock=clock, sleep=clock.sleep)["status"] == 1
    assert (asked[RECEIPT], clock.sleeps) == (1, [])

    never = bytes(32)
    with (
        counted_requests(backend) as asked,
        pytest.raises(BackendError, match=f"transaction 0x{never.hex()} not mined within 2 s"),
    ):
        wait_receipt(backend, never, timeout=2.0, clock=clock, sleep=clock.sleep)
    assert clock.now == pytest.approx(1002.0)  # slept up to the deadline, not past it
    assert asked[RECEIPT] == len(clock.sleeps) + 1 <= 30  # about 23 asks in 2 s, where a 10 ms poll took 200
