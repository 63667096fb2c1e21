"""``chain.tx.known_fees``: transactions built within it take the fees given instead of asking the chain's latest
block (``init`` of a consortium on its own chain, whose base fee is always 0: ``chain.tx.FREE_GAS``; the node's
blocks have a zero base fee, ``tests/unit/chain/test_node.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from chain.backend import EthTesterBackend
from chain.tx import Signer, build_transaction, fee_fields, known_fees

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
FIELDS = ("maxFeePerGas", "maxPriorityFeePerGas")


@pytest.fixture(scope="module")
def chain() -> tuple[EthTesterBackend, Signer]:
    signer = Signer.from_key(KEY)
    return EthTesterBackend(funded_accounts=[signer.address]), signer


def fees_of(chain: tuple[EthTesterBackend, Signer], **given: Any) -> Mapping[str, int]:
    backend, signer = chain
    tx: Mapping[str, Any] = build_transaction(backend, signer, signer.address, "0x", gas=21_000, **given)
    return {name: tx[name] for name in FIELDS}


def test_fees_known_in_a_block_are_taken_instead_of_asked(chain: tuple[EthTesterBackend, Signer]) -> None:
    marked = {"maxFeePerGas": 7, "maxPriorityFeePerGas": 3}  # what the chain would never answer
    with known_fees(marked):
        assert fees_of(chain) == marked
        with known_fees(None):  # None changes nothing
            assert fees_of(chain) == marked
        assert fees_of(chain, fees={"maxFeePerGas": 5, "maxPriorityFeePerGas": 0}) == {
            "maxFeePerGas": 5,
            "maxPriorityFeePerGas": 0,
        }
    assert fees_of(chain) == fee_fields(chain[0])
