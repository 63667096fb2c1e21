"""Rotating a gateway key (``consortium gateway rotate-key``) with no call refused: a new signing key for the
batches (and signed reads) of an org's gateways, published in the TrustDirectory, with an overlap during which
both keys are valid (``docs/trust.md``, "Rotating a gateway key").

The steps are ``network.keyrotation``'s: the new key staged as ``keys/gateway.next.pem``, added on chain as a
GATEWAY_KEY of the org valid from ``from_block``, the current key retired ``overlap_blocks`` blocks after that,
then the current key kept as ``keys/gateway.previous.pem`` (0600) until it is retired, and ``keys/gateway.pem``
and ``keys/gateway.pub`` replaced. Before anything is written or sent, every salt vault
of the org in the directory (``network.shredding.vaults_of``) is opened under the current key: a vault made
before vaults had a key of their own (its epoch keys sealed under a key derived from the gateway key) is given
that derived key as its own, sealed under the passphrase, so that it opens the same after the gateway key
changed and every salt of an earlier event is revealed as before. A vault with a key of its own depends on no
gateway key and is left as it is.

The running gateway's side is :func:`following_gateway_key`: its shipper reads the key file again when it changes
and signs with the new key from the block the chain says it is valid (``notary.submit.shipper``). A holder that
starts between the rotation and that block starts from the key kept (``KeyFileReader.start``), valid on chain then,
and switches as a running one does; the SDK (:func:`rereading_gateway_key`) too, with no view of the chain. The
first follower that sees the kept key's record ended removes its file. A batch it
signed with the old key just before (in flight, or sent again after a lost answer) is still accepted during the
overlap: the notary takes any of the org's gateway keys valid at the chain's head
(``network.trust.GatewayKeySource``). After the overlap, a batch signed with the old key is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chain.contracts.trust import TrustDirectoryClient
from chain.ids import OrgId
from chain.tx import Signer
from network.description import ConsortiumDescription
from network.identity import load_gateway_key, load_previous_gateway_key
from network.keyrotation import (
    DEFAULT_OVERLAP_BLOCKS,
    ChainKeyFile,
    KeyFile,
    KeyFileReader,
    KeyRotation,
    KeyRotationError,
    rotate_key_file,
)
from network.shredding import vaults_of
from network.trust import has_directory
from notary.submit.vault import SaltVault, VaultError

if TYPE_CHECKING:
    from chain.trustview import TrustView


class GatewayRotationError(KeyRotationError):
    """A gateway key cannot be rotated as asked (no directory, a key not on chain, a vault that does not open)."""


def rotate_gateway_key(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    trust: TrustDirectoryClient,
    signer: Signer,
    org: str,
    *,
    from_block: int | None = None,
    overlap_blocks: int = DEFAULT_OVERLAP_BLOCKS,
) -> KeyRotation:
    """Rotate ``org``'s gateway key in ``directory`` (above), ``signer`` an account of ``org``. Raises
    GatewayRotationError before anything is written or sent when it cannot."""
    if not has_directory(description):
        raise GatewayRotationError(
            "consortium.json names no TrustDirectory: the gateway keys are not on chain to rotate"
        )
    current = load_gateway_key(directory, OrgId(org), passphrase, description.crypto)
    for vault in vaults_of(directory, org):
        try:  # a vault sealed under the current key gets that key as its own (above)
            SaltVault.open(vault, org, passphrase, legacy_key=current, suite=description.crypto)
        except VaultError as exc:
            raise GatewayRotationError(f"the salt vault {vault} does not open, nothing rotated: {exc}") from None
    return rotate_key_file(
        KeyFile.of_gateway(directory, org),
        current,
        description.crypto,
        passphrase,
        trust,
        signer,
        from_block=from_block,
        overlap_blocks=overlap_blocks,
        error=GatewayRotationError,
    )


def following_gateway_key(
    view: TrustView, directory: Path, org: str, passphrase: bytes, crypto: str | None
) -> ChainKeyFile:
    """The org's gateway key file, read again when it changes, handed to the shipper once the chain says its key
    is a GATEWAY_KEY of ``org`` valid now."""
    return ChainKeyFile(
        view,
        KeyFile.of_gateway(directory, org),
        lambda: load_gateway_key(directory, OrgId(org), passphrase, crypto),
        lambda: load_previous_gateway_key(directory, OrgId(org), passphrase, crypto),
    )


def rereading_gateway_key(directory: Path, org: str, passphrase: bytes, crypto: str | None = None) -> KeyFileReader:
    """The org's gateway key file, read again when it changes, with no view of the chain (the SDK's signed reads:
    ``notary.readauth.SignedReads`` starts from its :meth:`~KeyFileReader.start`, signs with the file's key and
    falls back to the key before while the notary refuses it)."""
    return KeyFileReader(
        KeyFile.of_gateway(directory, org),
        lambda: load_gateway_key(directory, OrgId(org), passphrase, crypto),
        lambda: load_previous_gateway_key(directory, OrgId(org), passphrase, crypto),
    )
