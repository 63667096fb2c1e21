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

The verifiers' rule (which key a checkpoint must be signed by) is ``notary.logkeys``'s (``docs/trust.md``). A
checkpoint the old key signs just before the switch is anchored up to one anchoring interval later, and one anchored
after the old key's retirement counts for nothing: given the notary's anchor interval, the rotation is refused when
the overlap is shorter than that interval in blocks of this chain (:func:`anchoring_interval`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from chain.backend import Backend
from chain.contracts.trust import TrustDirectoryClient
from chain.ids import OrgId
from chain.tx import Signer
from network.description import ConsortiumDescription
from network.identity import load_notary_key
from network.keyrotation import (
    DEFAULT_OVERLAP_BLOCKS,
    KeyFile,
    KeyRotation,
    KeyRotationError,
    rotate_key_file,
)
from network.logsetup import notary_member
from network.trust import has_directory

#: The seconds from the new key's first block to the notary signing with it: its view of the chain follows every
#: 0.5 s and it asks for the next key every second (``NotarySettings.log_key_interval``), rounded up.
SWITCH_SECONDS = 2.0
#: The blocks before the head over which the chain's block time is measured.
BLOCK_TIME_WINDOW = 64

#: What a rotation of the log's key returns (the steps are ``network.keyrotation``'s).
LogKeyRotation = KeyRotation


class LogRotationError(KeyRotationError):
    """The log's key cannot be rotated as asked (no directory, not the notary's member, a key not on chain)."""


@dataclass(frozen=True, slots=True)
class AnchoringInterval:
    """The notary's anchoring interval in blocks of the chain: ``blocks`` is the least overlap that covers a
    checkpoint signed by the old key at the switch and anchored one interval later, in the block after."""

    anchor_interval_s: float
    block_time_s: float  # measured over the last ``window`` blocks
    window: int
    blocks: int

    def describe(self) -> str:
        return (
            f"the notary anchors every {self.anchor_interval_s:g} s (its --anchor-interval) and switches keys within "
            f"{SWITCH_SECONDS:g} s, {self.blocks} blocks on this chain with the block that confirms the anchor (a "
            f"block every {self.block_time_s:.3g} s over its last {self.window} blocks)"
        )


def anchoring_interval(
    backend: Backend, anchor_interval_s: float, head: int | None = None, window: int = BLOCK_TIME_WINDOW
) -> AnchoringInterval | None:
    """The anchoring interval ``anchor_interval_s`` (plus :data:`SWITCH_SECONDS`) in blocks, at the block time the
    chain shows over its last ``window`` blocks (timestamps are whole seconds: blocks within one second count as
    one second). None on a chain of one block, whose pace is unknown."""
    w3 = backend.web3
    head = int(w3.eth.block_number) if head is None else head
    first = max(0, head - window)
    if head <= first:
        return None
    spanned = head - first
    seconds = int(w3.eth.get_block(head)["timestamp"]) - int(w3.eth.get_block(first)["timestamp"])
    block_time = max(seconds, 1) / spanned
    blocks = math.ceil((anchor_interval_s + SWITCH_SECONDS) / block_time) + 1
    return AnchoringInterval(anchor_interval_s, block_time, spanned, blocks)


def rotate_log_key(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    trust: TrustDirectoryClient,
    signer: Signer,
    *,
    from_block: int | None = None,
    overlap_blocks: int = DEFAULT_OVERLAP_BLOCKS,
    anchor_interval_s: float | None = None,
) -> LogKeyRotation:
    """Rotate the log key of the consortium in ``directory`` (above), ``signer`` an account of the notary's
    member. ``anchor_interval_s``: the notary's anchor interval, which ``overlap_blocks`` must cover
    (:func:`anchoring_interval`; None: not checked). Raises LogRotationError before anything is written or sent
    when it cannot."""
    if not has_directory(description):
        raise LogRotationError("consortium.json names no TrustDirectory: the log's keys are not on chain to rotate")
    org = OrgId(notary_member(description).org)
    current = load_notary_key(directory, org, passphrase, description.crypto)
    if anchor_interval_s is not None:
        head = int(trust.backend.web3.eth.block_number)
        anchoring = anchoring_interval(trust.backend, anchor_interval_s, head)
        if anchoring is not None and overlap_blocks < anchoring.blocks:
            raise LogRotationError(
                f"--overlap-blocks {overlap_blocks} is shorter than the anchoring interval: {anchoring.describe()}. "
                "A checkpoint the old key signs before the switch and anchored after it is retired counts for no "
                f"verifier; give --overlap-blocks {anchoring.blocks} or more"
            )
    return rotate_key_file(
        KeyFile.of_log(directory, org),
        current,
        description.crypto,
        passphrase,
        trust,
        signer,
        from_block=from_block,
        overlap_blocks=overlap_blocks,
        error=LogRotationError,
    )
