"""The Keccak-256 backend the node hashes with, selected when a node is built (``Node.__init__``), not on import.

Keccak-256 runs on safe-pysha3's C code (eth-hash's ``pysha3`` backend), which eth-hash would otherwise pass over
for pycryptodome's, whose calls through cffi cost about 4 µs a hash against 1.7 µs; a block of 600 contract
transactions takes some 60,000 hashes.

eth-hash keeps one backend per process (``eth_hash.auto.keccak``, called by eth-utils, py-evm and web3 alike), so
the choice is made by the code that builds a node, where every path that executes blocks passes (the node
process, ``consortium chain verify``, tests that run a node in-process). Importing ``chain.node``, the offline
verifier or the SDK leaves eth-hash's own choice alone.
"""

from __future__ import annotations

from eth_hash.auto import keccak
from eth_hash.backends.pysha3 import PySha3Backend

_FAST = PySha3Backend()


def select_fast_keccak() -> None:
    """Make eth-hash's process-wide Keccak-256 run on safe-pysha3. Idempotent; one attribute store."""
    setattr(keccak, "hasher", _FAST.keccak256)  # noqa: B010 - replaces eth-hash's chosen backend
