"""Client of AuditAnchor: cosigned checkpoints of the audit log, anchored on chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chain.contracts._base import ContractClient, check_digest
from chain.errors import ContractRevertError, MalformedError
from chain.ids import OrgId, bytes32_to_name
from chain.tx import Signer
from suite.sm2 import DEFAULT_ID, SM2PrivateKey

if TYPE_CHECKING:
    from web3.types import BlockIdentifier, TxReceipt

    from chain.backend import Backend

MAX_ORIGIN = 128
#: The SM2-verify precompile (``chain.node.precompiles``; its address only, so that clients need not import py-evm).
SM2_VERIFY_ADDRESS = "0x000000000000000000000000000000000000100A"
#: What an anchor statement starts with (AuditAnchor's ANCHOR_DOMAIN): the NUL keeps it apart from signed notes.
ANCHOR_DOMAIN = b"consortium-ledger/anchor/v1\x00"


def anchor_message(origin: str, tree_size: int, root_hash: bytes, checkpoint_digest: bytes) -> bytes:
    """The bytes a log's SM2 key signs for ``AuditAnchor.anchor_signed``: ANCHOR_DOMAIN, the tree size as 8 bytes
    big-endian, the root hash, the checkpoint digest, then the origin (last, so nothing is ambiguous)."""
    if not isinstance(tree_size, int) or not 0 <= tree_size < 2**64:
        raise MalformedError(f"tree size must be 0..2^64-1, got {tree_size!r}")
    return (
        ANCHOR_DOMAIN
        + tree_size.to_bytes(8, "big")
        + check_digest(root_hash, "root hash")
        + check_digest(checkpoint_digest, "checkpoint digest")
        + _origin(origin).encode()
    )


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


def has_sm2_verify(backend: Backend) -> bool:
    """Whether the chain answers a valid SM2 signature at 0x100a with the word 1 (a fresh key signs a probe)."""
    key = SM2PrivateKey.generate()
    probe = b"consortium-ledger/sm2-verify-probe"
    data = key.public_key().public_bytes()[1:] + key.sign(probe, DEFAULT_ID) + probe
    return backend.call(SM2_VERIFY_ADDRESS, data) == (1).to_bytes(32, "big")


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

    def anchor_signed(
        self,
        signer: Signer,
        origin: str,
        tree_size: int,
        root_hash: bytes,
        checkpoint_digest: bytes,
        public_key: bytes,
        signature: bytes,
    ) -> TxReceipt:
        """``anchor``, with the log's SM2 signature (64 bytes r ‖ s, ID 1234567812345678) over
        ``anchor_message(...)`` under ``public_key`` (the 65-byte point ``04 ‖ x ‖ y`` of a LOG_KEY of the
        signer's member in the TrustDirectory), which the contract checks with the precompile."""
        if not isinstance(tree_size, int) or not 0 < tree_size < 2**64:
            raise MalformedError(f"tree size must be 1..2^64-1, got {tree_size!r}")
        if not isinstance(public_key, bytes) or len(public_key) != 65 or public_key[0] != 4:
            raise MalformedError("an SM2 log key is the 65-byte uncompressed point 04 || x || y")
        if not isinstance(signature, bytes) or len(signature) != 64:
            raise MalformedError("an SM2 signature is 64 bytes, r || s")
        return self._transact(
            signer,
            "anchor_signed",
            _origin(origin),
            tree_size,
            check_digest(root_hash, "root hash"),
            check_digest(checkpoint_digest, "checkpoint digest"),
            public_key[1:33],
            public_key[33:],
            signature[:32],
            signature[32:],
        )

    def signature_key(self, origin: str, tree_size: int, block: BlockIdentifier = "latest") -> int | None:
        """The TrustDirectory index (in the anchoring notary's member) of the SM2 log key the anchor of
        ``tree_size`` was checked under; None when it was anchored unchecked (``anchor``) or not at all."""
        checked, index = self._call("signature_key", _origin(origin), tree_size, block=block)
        return int(index) if checked else None

    def signed_only(self, block: BlockIdentifier = "latest") -> bool:
        """Whether this AuditAnchor refuses plain ``anchor`` (deployed so for a consortium of the ``sm`` suite).
        False for one deployed before the flag existed: it has no ``signed_only`` and reverts."""
        try:
            return bool(self._call("signed_only", block=block))
        except ContractRevertError:
            return False

    def trust_directory(self, block: BlockIdentifier = "latest") -> str | None:
        """The TrustDirectory ``anchor_signed`` finds log keys in; None when it is not set, or for an AuditAnchor
        deployed before ``anchor_signed`` existed (no such function: it reverts)."""
        try:
            address = str(self._call("trust_directory", block=block))
        except ContractRevertError:
            return None
        return None if int(address, 16) == 0 else address

    def checks_signatures(self) -> bool:
        """Whether ``anchor_signed`` can succeed here: this AuditAnchor has its TrustDirectory and the chain runs
        the SM2-verify precompile. An AuditAnchor deployed before ``anchor_signed`` existed has no such function
        and reverts; a chain without the precompile (anvil, Besu) answers a valid signature with nothing, so
        there every ``anchor_signed`` would revert. Both answer False: the notary then anchors with ``anchor``."""
        return self.trust_directory() is not None and has_sm2_verify(self.backend)

    def set_trust_directory(self, signer: Signer, directory: str) -> TxReceipt:
        return self._transact(signer, "set_trust_directory", directory)

    def _info(self, origin: str, raw: tuple[int, bytes, bytes, bytes, int, int]) -> AnchorInfo | None:
        if raw[0] == 0:
            return None
        return AnchorInfo(origin, raw[0], bytes(raw[1]), bytes(raw[2]), OrgId(bytes32_to_name(raw[3])), raw[4], raw[5])

    def latest(self, origin: str, block: BlockIdentifier = "latest") -> AnchorInfo | None:
        return self._info(origin, self._call("latest", _origin(origin), block=block))

    def at_size(self, origin: str, tree_size: int, block: BlockIdentifier = "latest") -> AnchorInfo | None:
        return self._info(origin, self._call("at_size", _origin(origin), tree_size, block=block))

    def covering(self, origin: str, leaf_index: int) -> AnchorInfo | None:
        return self._info(origin, self._call("covering", _origin(origin), leaf_index))

    def count(self, origin: str, block: BlockIdentifier = "latest") -> int:
        return int(self._call("anchor_count", _origin(origin), block=block))

    def size_at(self, origin: str, index: int, block: BlockIdentifier = "latest") -> int:
        """The tree size of the ``index``-th anchor of ``origin``, oldest first (below :meth:`count`)."""
        return int(self._call("size_at", _origin(origin), index, block=block))

    def origins(self) -> list[str]:
        return [str(self._call("origin_at", i)) for i in range(self._call("origin_count"))]
