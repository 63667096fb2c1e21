"""Moving an ``sm`` consortium to a signed-only AuditAnchor (``consortium notary migrate-anchor``).

A deployed contract's code does not change: an AuditAnchor deployed before ``signed_only`` keeps taking plain
``anchor`` from any NOTARY member. The move deploys a new AuditAnchor for the same registry with ``signed_only``
true, gives it the consortium's TrustDirectory (both from the deployer's account: ``set_trust_directory`` is the
deployer's), and records in ``consortium.json`` the old contract under ``retired_anchors`` with the last anchor of
the log it held, whose size and root the verifiers then take from it (``notary.verify.TrustRoots.retired_anchors``,
``cli.verify.read_all_anchors``), while ``contracts.AuditAnchor`` names the new one. The notary, restarted with the
new file, anchors its next checkpoint above its last anchored size on the new contract, checked there.

No contract holds the AuditAnchor's address: the notary and every verifier read it from ``consortium.json``, which
the operator hands to the members after the move, as after ``consortium init``. The notary must be stopped during
the move: an anchor it sent to the old contract after the last one recorded would not count (the move reads the
old contract's last anchor before and after deploying, and refuses to record a moving target).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from network.description import ConsortiumDescription, RetiredAnchor
from network.errors import NetworkError
from network.logsetup import log_origin

if TYPE_CHECKING:
    from chain.backend import Backend
    from chain.tx import Signer


class AnchorMoveError(NetworkError):
    """The consortium cannot move to a signed-only AuditAnchor (its suite, its contracts or its chain)."""


@dataclass(frozen=True, slots=True)
class AnchorMove:
    """What the move did: the new AuditAnchor, the old one as recorded, and the description to write."""

    address: str
    retired: RetiredAnchor
    description: ConsortiumDescription


def move_to_signed_only(backend: Backend, deployer: Signer, description: ConsortiumDescription) -> AnchorMove:
    """Deploy a signed-only AuditAnchor for ``description``'s registry, give it the TrustDirectory, and return the
    description that names it, with the current AuditAnchor retired at its last anchor of the log. Nothing is
    written: the caller writes ``AnchorMove.description``. Raises AnchorMoveError before deploying anything when
    the consortium is not of the ``sm`` suite, has no TrustDirectory, already anchors on a signed-only AuditAnchor,
    or its chain has no SM2-verify precompile."""
    from chain.contracts import AuditAnchorClient
    from chain.contracts.anchor import SM2_VERIFY_ADDRESS, has_sm2_verify
    from chain.contracts.deploy import deploy_contract

    if description.crypto != "sm":
        raise AnchorMoveError(
            f"the consortium's crypto is {description.crypto!r}: only an 'sm' consortium's AuditAnchor checks the "
            "log key's signature (nothing on chain checks an Ed25519 key), so there is no signed-only AuditAnchor "
            "to move to"
        )
    trust = description.contracts.get("TrustDirectory")
    if trust is None:
        raise AnchorMoveError(
            "consortium.json names no TrustDirectory: a signed-only AuditAnchor checks the notary's log key there"
        )
    old = AuditAnchorClient(backend, description.contracts["AuditAnchor"])
    if old.signed_only():
        raise AnchorMoveError(f"AuditAnchor {old.address} takes signed anchors only already: nothing to move")
    if not has_sm2_verify(backend):
        raise AnchorMoveError(
            f"this chain has no SM2-verify precompile at {SM2_VERIFY_ADDRESS}: a signed-only AuditAnchor would "
            "refuse every anchor on it; nothing was deployed"
        )
    origin = log_origin(description)
    before = old.latest(origin)
    registry = description.contracts["ConsortiumRegistry"]
    address = deploy_contract(backend, deployer, "AuditAnchor", registry, True)
    new = AuditAnchorClient(backend, address)
    new.set_trust_directory(deployer, trust)
    after = old.latest(origin)
    if after != before:
        raise AnchorMoveError(
            f"the log was anchored on AuditAnchor {old.address} during the move (size {after and after.tree_size}): "
            f"stop the notary and move again (the AuditAnchor deployed at {address} is left unused)"
        )
    if not new.signed_only() or (new.trust_directory() or "").lower() != trust.lower():
        raise AnchorMoveError(f"the AuditAnchor deployed at {address} is not signed-only with the TrustDirectory")
    retired = (
        RetiredAnchor(old.address, 0, None)
        if before is None
        else RetiredAnchor(old.address, before.tree_size, before.root_hash)
    )
    moved = dataclasses.replace(
        description,
        contracts={**description.contracts, "AuditAnchor": address},
        retired_anchors=(*description.retired_anchors, retired),
    )
    return AnchorMove(address, retired, moved)
