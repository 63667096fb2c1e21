"""chain.node.keccak: the node's Keccak-256 backend is chosen when a node is built, never by an import.

Each check runs in a fresh interpreter, since eth-hash's backend is one per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    from eth_hash.auto import keccak
    from eth_hash.backends.pycryptodome import CryptodomeBackend
    from eth_hash.backends.pysha3 import PySha3Backend

    keccak(b"")  # eth-hash makes its own choice, here pycryptodome (ETH_HASH_BACKEND)
    before = keccak.hasher
    assert isinstance(before.__self__, CryptodomeBackend), before

    import chain.node
    import chain.node.node
    import chain.node.rpc
    import chain.node.service
    import chain.node.verify
    import notary.evidence
    import notary.verify
    import sdk

    assert keccak.hasher == before, f"an import replaced eth-hash's backend: {keccak.hasher!r}"

    from eth.db.atomic import AtomicDB
    from chain.node.node import Genesis, Node

    validator = "0x" + "11" * 20
    Node(AtomicDB(), Genesis(20261, (validator,), validator, 1_700_000_000))
    assert isinstance(keccak.hasher.__self__, PySha3Backend), keccak.hasher
    assert keccak(b"") == bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    print("ok")
    """
)


def test_imports_leave_the_keccak_backend_alone_and_building_a_node_selects_the_fast_one() -> None:
    env = {**os.environ, "ETH_HASH_BACKEND": "pycryptodome", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
