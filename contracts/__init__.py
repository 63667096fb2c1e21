"""The consortium's Vyper contracts and their committed build artifacts.

``contracts/src/*.vy`` are compiled by ``make contracts`` (``python -m contracts.compile``) into
``contracts/artifacts/<Name>.json`` holding ``abi``, ``bytecode``, ``compiler``, ``source_sha256`` and ``storage`` (the
storage layout: each variable's slot and type, struct members with their offsets; ``contracts.compile``).
Artifacts are committed so that nothing compiles at run time; a test fails when one is stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
SOURCE_DIR = CONTRACTS_DIR / "src"
ARTIFACT_DIR = CONTRACTS_DIR / "artifacts"

#: Deployment order: each contract's constructor takes the addresses of those before it.
CONTRACT_NAMES: tuple[str, ...] = (
    "ConsortiumRegistry",
    "DataAssetRegistry",
    "AccessGrants",
    "AuditAnchor",
    "TrustDirectory",
)


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    compiler: str
    source_sha256: str
    storage: dict[str, Any]


@cache
def load_artifact(name: str) -> Artifact:
    """The committed artifact of contract ``name``."""
    if name not in CONTRACT_NAMES:
        raise KeyError(f"unknown contract {name!r}; known: {', '.join(CONTRACT_NAMES)}")
    data = json.loads((ARTIFACT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        compiler=data["compiler"],
        source_sha256=data["source_sha256"],
        storage=data["storage"],
    )
