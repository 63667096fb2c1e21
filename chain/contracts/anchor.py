"""Client of AuditAnchor: cosigned checkpoints of the audit log, anchored on chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chain.contracts._base import ContractClient, check_digest
from chain.errors import MalformedError
from chain.ids import OrgId, bytes32_to_name
from chain.tx import Signer

if TYPE_CHECKING:
    from web3.types import TxReceipt

MAX_ORIGIN = 128


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    origin: str
    tree_size: int
    root_hash: bytes
    checkpoint_digest: bytes
    notary: OrgId
    block_number: int
    timestamp: int


def _origin(origin: str) -> str:
    if not isinstance(origin, str) or not 0 < len(origin.encode()) <= MAX_ORIGIN or not origin.isprintable():
        raise MalformedError(f"log origin must be 1-{MAX_ORIGIN} bytes of printable text")
    return origin


class AuditAnchorClient(ContractClient):
    NAME = "AuditAnchor"

    def anchor(
        self, signer: Signer, origin: str, tree_size: int, root_hash: bytes, checkpoint_digest: bytes
    ) -> TxReceipt:
        if not isinstance(tree_size, int) or not 0 < tree_size < 2**64:
            raise MalformedError(f"tree size must be 1..2^64-1, got {tree_size!r}")
        return self._transact(
            signer,
            "anchor",
            _origin(origin),
            tree_size,
            check_digest(root_hash, "root hash"),
            check_digest(checkpoint_digest, "checkpoint digest"),
        )

    def _info(self, origin: str, raw: tuple[int, bytes, bytes, bytes, int, int]) -> AnchorInfo | None:
        if raw[0] == 0:
            return None
        return AnchorInfo(origin, raw[0], bytes(raw[1]), bytes(raw[2]), OrgId(bytes32_to_name(raw[3])), raw[4], raw[5])

    def latest(self, origin: str) -> AnchorInfo | None:
        return self._info(origin, self._call("latest", _origin(origin)))

    def at_size(self, origin: str, tree_size: int) -> AnchorInfo | None:
        return self._info(origin, self._call("at_size", _origin(origin), tree_size))

    def covering(self, origin: str, leaf_index: int) -> AnchorInfo | None:
        return self._info(origin, self._call("covering", _origin(origin), leaf_index))

    def count(self, origin: str) -> int:
        return int(self._call("anchor_count", _origin(origin)))

    def origins(self) -> list[str]:
        return [str(self._call("origin_at", i)) for i in range(self._call("origin_count"))]
