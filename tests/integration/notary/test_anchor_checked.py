"""Whether an ``sm`` log's anchor was checked on chain, as the verifiers say it.

``consortium verify evidence`` (``notary.verify``, the anchor transaction step, which the explorer's provenance
shows) and ``consortium verify log`` (``cli.verify.read_anchors`` and ``anchor_signature_lines``) tell an anchor that
AuditAnchor checked against the notary's SM2 log key (``anchor_signed``) from one it took unchecked (plain
``anchor``, which only an AuditAnchor deployed before ``signed_only`` takes). Such an unchecked anchor still verifies
offline: its values are the checkpoint's, which the log's SM2 key signs. The chain is the in-process node (evidence)
and eth-tester (the anchors' reading). The "old" AuditAnchor is the one consortia deployed before ``anchor_signed``
existed, from its artifact of then (``tests/support/AuditAnchor-before-anchor_signed.json``): the notary of an
``sm`` log anchors unchecked there; the consortium's own AuditAnchor of the tests (deployed without ``signed_only``,
with its TrustDirectory) stands for one deployed between ``anchor_signed`` and ``signed_only``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3.types import BlockIdentifier

from chain.contracts import AuditAnchorClient, KeyKind, anchor_message
from chain.tx import Signer, transact
from cli.verify import ChainAnchors, anchor_signature_lines, read_anchors
from notary.logsuite import SM
from notary.mirror import LogMismatchError
from notary.service import AnchorSettings
from notary.verify import (
    ANCHOR_CHECKED_ON_CHAIN,
    ANCHOR_NOT_CHECKED_ON_CHAIN,
    STEP_NAMES,
    TrustRoots,
    verify_evidence_json,
)
from suite.sm2 import SM2PrivateKey
from tests.integration.contracts.contract_helpers import digest
from tests.support.consortium import Consortium
from tests.support.notary_world import ORIGIN, LogWorld

OLD_ARTIFACT = Path(__file__).parents[2] / "support" / "AuditAnchor-before-anchor_signed.json"


def old_audit_anchor(c: Consortium) -> AuditAnchorClient:
    """AuditAnchor as a consortium deployed it before ``anchor_signed`` existed (its committed artifact of then):
    it takes plain anchors and has no ``anchor_signed``, ``signature_key``, ``trust_directory`` or ``signed_only``."""
    artifact = json.loads(OLD_ARTIFACT.read_text(encoding="utf-8"))
    factory = c.backend.web3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    data = factory.constructor(c.deployment.addresses["ConsortiumRegistry"]).data_in_transaction
    c.forget_nonces()
    receipt = transact(c.backend, c.deployer, None, data, "deploy the old AuditAnchor")
    c.forget_nonces()
    return AuditAnchorClient(c.backend, str(receipt["contractAddress"]))


@pytest.fixture
def sm_world(tmp_path: Path) -> Iterator[LogWorld]:
    world = LogWorld(tmp_path / "sm", suite=SM)
    yield world
    world.close()


def evidence(c: Consortium, world: LogWorld, anchors: AuditAnchorClient) -> dict[str, Any]:
    return world.anchored_evidence(AnchorSettings(anchors, Signer(c.deployer.account), interval=0), 5, "ev-3")


def anchor_step(c: Consortium, world: LogWorld, anchors: AuditAnchorClient, bundle: dict[str, Any]) -> str:
    roots = TrustRoots(
        log=world.log_verifier(),
        witnesses=world.cosigners(),
        policy=world.policy(),
        notary_account=c.deployer.address,
        anchor_address=anchors.address,
        chain_id=c.backend.chain_id,
        validators=(c.deployer.address,),
    )
    steps = {s.name: s for s in verify_evidence_json(bundle, roots)}
    assert all(steps[name].ok for name in STEP_NAMES), [s.to_text() for s in steps.values()]
    return steps["anchor transaction"].detail


@pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)
def test_evidence_says_whether_the_anchor_was_checked_on_chain(
    consortium: Consortium, sm_world: LogWorld, tmp_path: Path
) -> None:
    c = consortium
    sm_world.register_log_key(c.trust, c.signers["op"])
    signed_only = c.signed_only_anchors()
    detail = anchor_step(c, sm_world, signed_only, evidence(c, sm_world, signed_only))
    assert "AuditAnchor.anchor_signed(" in detail and ANCHOR_CHECKED_ON_CHAIN in detail, detail
    assert ANCHOR_NOT_CHECKED_ON_CHAIN not in detail

    old = old_audit_anchor(c)
    world = LogWorld(tmp_path / "old", suite=SM)  # another log: its own store and event ids
    try:
        detail = anchor_step(c, world, old, evidence(c, world, old))
    finally:
        world.close()
    assert "AuditAnchor.anchor(" in detail and ANCHOR_NOT_CHECKED_ON_CHAIN in detail, detail
    # verify log reads it too: no signed_only, no trust_directory, no signature_key; every anchor unchecked
    assert not old.signed_only() and old.trust_directory() is None and not old.checks_signatures()
    unable = read_anchors(old, ORIGIN, True, c.trust.address)
    assert [(a.size, a.signature_key) for a in unable.claims] == [(5, None)]
    assert (unable.signed_only, unable.signatures) == (False, False)
    (line,) = anchor_signature_lines(unable, True)
    assert line.startswith("- anchor signatures — 1 anchor(s) NOT checked on chain (this AuditAnchor cannot check")


LOG_KEY = SM2PrivateKey.generate()


def anchor_args(size: int) -> tuple[str, int, bytes, bytes]:
    return ORIGIN, size, digest(f"root {size}"), digest(f"checkpoint {size}")


def sign(anchors: AuditAnchorClient, c: Consortium, size: int) -> None:
    a = anchor_args(size)
    anchors.anchor_signed(c.signers["op"], *a, LOG_KEY.public_key().public_bytes(), LOG_KEY.sign(anchor_message(*a)))


@pytest.mark.parametrize("backend", [pytest.param("eth-tester")], indirect=True)
def test_verify_log_lists_the_anchors_checked_on_chain_and_those_not(consortium: Consortium) -> None:
    c = consortium
    index = c.trust.add_key(c.signers["op"], KeyKind.LOG_KEY, LOG_KEY.public_key().public_bytes())
    trust = c.trust.address

    # A consortium deployed before signed_only: one anchor unchecked, then one checked.
    c.anchors.anchor(c.signers["op"], *anchor_args(3))
    sign(c.anchors, c, 7)
    mixed = read_anchors(c.anchors, ORIGIN, True, trust)
    assert [(a.size, a.signature_key) for a in mixed.claims] == [(3, None), (7, index)]
    assert (mixed.signed_only, mixed.signatures) == (False, True)
    checked, unchecked = anchor_signature_lines(mixed, True)
    assert checked.startswith("✓ anchor signatures — 1 of 2 anchor(s) checked on chain") and checked.endswith(": 7")
    assert unchecked.startswith("- anchor signatures — 1 anchor(s) NOT checked on chain (plain anchor")
    assert ": 3; checked offline instead" in unchecked
    # The signature checks count only under the consortium's own TrustDirectory.
    with pytest.raises(LogMismatchError, match="not in the consortium's"):
        read_anchors(c.anchors, ORIGIN, True, c.deployment.addresses["DataAssetRegistry"])

    # An sm consortium's AuditAnchor: signed only.
    signed_only = c.signed_only_anchors()
    (line,) = anchor_signature_lines(read_anchors(signed_only, ORIGIN, True, trust), True)
    assert line == "✓ anchor signatures — AuditAnchor takes signed anchors only; none anchored yet"
    sign(signed_only, c, 4)
    (line,) = anchor_signature_lines(read_anchors(signed_only, ORIGIN, True, trust), True)
    assert line.startswith("✓ anchor signatures — AuditAnchor takes signed anchors only; 1 of 1 anchor(s) checked")

    # An AuditAnchor that cannot check at all: every anchor unchecked, and said why.
    old = old_audit_anchor(c)
    old.anchor(c.signers["op"], *anchor_args(2))
    unable = read_anchors(old, ORIGIN, True, trust)
    assert unable == ChainAnchors(unable.claims, False, False) and unable.claims[0].signature_key is None
    (line,) = anchor_signature_lines(unable, True)
    assert "NOT checked on chain (this AuditAnchor cannot check signatures" in line

    # intl: no on-chain check exists, and the signatures are not read.
    plain = read_anchors(c.anchors, ORIGIN, False, trust)
    assert [a.signature_key for a in plain.claims] == [None, None]
    (line,) = anchor_signature_lines(plain, False)
    assert line.startswith("- anchor signatures — not applicable: an intl log's Ed25519 key has no on-chain check")


@pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)
def test_verify_log_reads_the_anchors_of_one_block_while_the_notary_anchors(consortium: Consortium) -> None:
    """The notary anchors while ``verify log`` reads: an anchor taken between its reads of the list and of ``latest``
    is read in neither (every read is of the block that was the head when it started), so the two agree."""
    c = consortium
    c.anchors.anchor(c.signers["op"], *anchor_args(3))
    c.anchors.anchor(c.signers["op"], *anchor_args(5))

    class AnchoredMeanwhile(AuditAnchorClient):
        """The chain's AuditAnchor, with the notary's next anchor landing right after the list's length is read."""

        def count(self, origin: str, block: BlockIdentifier = "latest") -> int:
            n = super().count(origin, block)
            if not taken:
                taken.append(c.anchors.anchor(c.signers["op"], *anchor_args(9)))
            return n

    taken: list[Any] = []
    read = read_anchors(AnchoredMeanwhile(c.backend, c.anchors.address), ORIGIN, False, None)
    assert taken and taken[0]["status"] == 1
    assert [a.size for a in read.claims] == [3, 5]  # the list and latest of the block before the third anchor
    assert [a.size for a in read_anchors(c.anchors, ORIGIN, False, None).claims] == [3, 5, 9]  # read again: all
