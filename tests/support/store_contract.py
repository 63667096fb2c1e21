"""A contract for the node's tests: every call stores calldata[32:64] at slot calldata[0:32] (storing 0 deletes
the slot).

- runtime: PUSH1 0x20 CALLDATALOAD PUSH1 0 CALLDATALOAD SSTORE STOP
- init: PUSH1 8 PUSH1 12 PUSH1 0 CODECOPY PUSH1 8 PUSH1 0 RETURN, then the runtime
"""

from __future__ import annotations

STORE_RUNTIME = bytes.fromhex("6020356000355500")
STORE_INIT = bytes.fromhex("6008600c60003960086000f3") + STORE_RUNTIME


def store_call(slot: int, value: int) -> bytes:
    return slot.to_bytes(32, "big") + value.to_bytes(32, "big")
