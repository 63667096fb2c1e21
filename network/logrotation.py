"""Rotating the log's key (``consortium notary rotate-key``): a new key for the notary's checkpoints and receipts,
published in the TrustDirectory, with an overlap during which both keys are valid.

1. the new key is made (of the consortium's suite) and written, encrypted, beside the current one
   (``keys/notary.next.pem``, atomically, mode 0600), so a failure later leaves it to be used or removed;
2. it is added on chain as a LOG_KEY of the notary's member, valid from ``from_block`` (default: the block that
   records it);
3. the current key's record is retired ``overlap_blocks`` blocks after the new key becomes valid: until then both
   are valid, which covers the checkpoints the notary signed with the old key and anchors meanwhile;
4. the new key replaces ``keys/notary.pem`` (atomically, 0600) and ``keys/notary.pub``. The running notary
   (``notary serve`` with a chain) reads the key file again when it changes and signs with the new key from the
   block its record is valid from; a notary started later starts with it. The old private key is not kept: what
   it signed is checked with its public key, which stays on chain.

The verifiers' rule (which key a checkpoint must be signed by) is ``notary.logkeys``'s (``docs/trust.md``).
"""

from __future__ import annotations

from pathlib import Path

from chain.contracts.trust import KeyKind, TrustDirectoryClient
from chain.ids import OrgId
from chain.tx import Signer
from network.description import ConsortiumDescription
from network.identity import OrgPaths, load_notary_key
from network.keyrotation import KeyFile, KeyRotation, KeyRotationError, rotate_key_file
from network.logsetup import notary_member
from network.trust import has_directory

#: The blocks both keys are valid for by default: the notary follows the chain each second and anchors every
#: ten seconds by default, far within this many blocks of a chain making a block a second or slower.
DEFAULT_OVERLAP_BLOCKS = 100

#: What a rotation of the log's key returns (the steps are ``network.keyrotation``'s).
LogKeyRotation = KeyRotation


class LogRotationError(KeyRotationError):
    """The log's key cannot be rotated as asked (no directory, not the notary's member, a key not on chain)."""


def rotate_log_key(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    trust: TrustDirectoryClient,
    signer: Signer,
    *,
    from_block: int | None = None,
    overlap_blocks: int = DEFAULT_OVERLAP_BLOCKS,
) -> LogKeyRotation:
    """Rotate the log key of the consortium in ``directory`` (above), ``signer`` an account of the notary's
    member. Raises LogRotationError before anything is written or sent when it cannot."""
    if not has_directory(description):
        raise LogRotationError("consortium.json names no TrustDirectory: the log's keys are not on chain to rotate")
    org = OrgId(notary_member(description).org)
    paths = OrgPaths.of(directory, org)
    current = load_notary_key(directory, org, passphrase, description.crypto)
    key_file = KeyFile(org, KeyKind.LOG_KEY, paths.notary_key, paths.notary_pub)
    return rotate_key_file(
        key_file,
        current,
        description.crypto,
        passphrase,
        trust,
        signer,
        from_block=from_block,
        overlap_blocks=overlap_blocks,
        error=LogRotationError,
    )
