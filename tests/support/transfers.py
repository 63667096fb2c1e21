"""The value-0 transfer the chain and consensus tests use as load: free gas, type 2, to a fixed address."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

CHAIN_ID = 20261
RECIPIENT = to_checksum_address("0x" + "ab" * 20)


def transfer(sender: LocalAccount, nonce: int, chain_id: int = CHAIN_ID) -> bytes:
    """``sender``'s signed raw transfer of 0 wei at ``nonce``."""
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "gas": 21_000, "maxFeePerGas": 0,
                          "maxPriorityFeePerGas": 0, "to": RECIPIENT, "value": 0, "type": 2}  # fmt: skip
    return bytes(sender.sign_transaction(tx).raw_transaction)
