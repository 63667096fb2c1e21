"""The consortium's own chain node: persistent py-evm, sealed blocks, permissioning, JSON-RPC.

Keccak-256 runs on safe-pysha3's C code (eth-hash's ``pysha3`` backend), which eth-hash would otherwise pass over
for pycryptodome's, whose calls through cffi cost about 4 µs a hash against 1.7 µs; a block of 600 contract
transactions takes some 60,000 hashes.
"""

from eth_hash.auto import keccak as _keccak
from eth_hash.backends.pysha3 import PySha3Backend as _PySha3Backend

setattr(_keccak, "hasher", _PySha3Backend().keccak256)  # noqa: B010 - replaces eth-hash's chosen backend
