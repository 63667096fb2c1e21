"""An old ``sm`` consortium moved to a signed-only AuditAnchor (``network.anchormove``, the core of ``consortium
notary migrate-anchor``), on the in-process chain node.

The old AuditAnchor is one deployed before ``anchor_signed`` (its committed artifact of then): an ``sm`` notary
anchors there unchecked. After the move, ``consortium.json`` names the new, signed-only AuditAnchor and records the
old one with the last anchor of the log it held; the same notary anchors its next checkpoint on the new one, checked
on chain; ``verify evidence`` takes an anchor on the old contract up to the recorded size only, and ``verify log``
reads both contracts, leaving out what the old one took after the move."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chain.contracts import AuditAnchorClient
from chain.ids import OrgId
from chain.tx import Signer
from cli.main import cli
from cli.verify import anchor_signature_lines, read_all_anchors
from explorer.api.log import signature_check
from explorer.chainfollow import ChainFollower
from explorer.chainindex import ChainIndex
from network.anchormove import AnchorMove, AnchorMoveError, move_to_signed_only
from network.description import ConsortiumDescription, RetiredAnchor, load_description
from network.identity import OrgPaths
from notary.anchor import CHECKED_KEY
from notary.logsuite import SM
from notary.mirror import LogMismatchError
from notary.sequencer import encode_batch, sign_batch_body
from notary.service import AnchorSettings
from notary.verify import (
    ANCHOR_CHECKED_ON_CHAIN,
    ANCHOR_NOT_CHECKED_ON_CHAIN,
    STEP_NAMES,
    TrustRoots,
    verify_evidence_json,
)
from tests.integration.contracts.contract_helpers import digest
from tests.integration.notary.test_anchor_checked import old_audit_anchor
from tests.support.consortium import Consortium, NodeBackend
from tests.support.notary_events import event
from tests.support.notary_world import ANCHOR_DEADLINE, GATEWAY, ORIGIN, LogWorld
from tests.support.wait import wait_until

NAME = ORIGIN.removesuffix("/audit-log")
PASSPHRASE = b"anchor-move-passphrase"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LogWorld]:
    w = LogWorld(tmp_path, suite=SM)
    yield w
    w.close()


def description_of(c: Consortium, anchor: str, crypto: str = "sm") -> ConsortiumDescription:
    """The public description of the test consortium as far as the move reads it: its contracts and suite."""
    return ConsortiumDescription(
        NAME, c.backend.chain_id, "external", "http://127.0.0.1:1", {**c.deployment.addresses, "AuditAnchor": anchor},
        0, 1, 7, {}, (), crypto,
    )  # fmt: skip


def operator_directory(c: Consortium, directory: Path, anchor: str) -> Path:
    """The operator's consortium directory as far as ``notary migrate-anchor`` reads it: ``consortium.json``
    naming ``anchor`` as the AuditAnchor, and the account key of the deployer (org ``op``) encrypted under
    ``PASSPHRASE`` where ``consortium init`` puts an org's account key."""
    directory.mkdir()
    description_of(c, anchor).write(directory)
    paths = OrgPaths.of(directory, OrgId("op"))
    paths.account_key.parent.mkdir(parents=True, mode=0o700)
    key = ec.derive_private_key(int.from_bytes(bytes(c.deployer.account.key), "big"), ec.SECP256K1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )
    paths.account_key.write_bytes(pem)
    paths.account_key.chmod(0o600)
    return directory


def migrate_anchor_through_the_cli(c: Consortium, directory: Path) -> AnchorMove:
    """``consortium --dir DIRECTORY --chain-url URL notary migrate-anchor --as op --json`` in this process,
    against the node's JSON-RPC; what it did, read back from its answer and from the ``consortium.json`` it
    rewrote."""
    assert isinstance(c.backend, NodeBackend)
    before = load_description(directory)
    argv = ["--dir", str(directory), "--chain-url", c.backend.server.url, "notary", "migrate-anchor", "--as", "op"]
    env = {"CONSORTIUM_PASSPHRASE": PASSPHRASE.decode()}
    text = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)
    assert text.exit_code == 0, text.output
    answer = CliRunner().invoke(cli, argv, env=env)
    # a second run finds the new AuditAnchor signed-only already and changes nothing
    assert isinstance(answer.exception, AnchorMoveError), answer.output
    assert "takes signed anchors only already: nothing to move" in str(answer.exception)
    after = load_description(directory)
    assert after.contracts["AuditAnchor"] != before.contracts["AuditAnchor"]
    (retired,) = after.retired_anchors
    address = after.contracts["AuditAnchor"]
    assert text.output.splitlines() == [
        f"AuditAnchor {address} deployed, signed only, checking log keys in TrustDirectory "
        f"{before.contracts['TrustDirectory']}",
        f"retired AuditAnchor {retired.address}: its anchors up to size {retired.last_size} still count",
        f"{directory / 'consortium.json'} rewritten: restart the notary and hand the file to the members",
    ], text.output
    return AnchorMove(address, retired, after)


def explorer_signatures(c: Consortium, directory: Path, index_path: Path, bundles: list[dict[str, Any]]) -> list[str]:
    """What the explorer's anchor list says of each bundle's anchor (``signature``), once its chain follower,
    set up from ``directory``'s consortium.json as ``explorer serve`` sets it up (the retired AuditAnchors
    decoded too), has indexed the node's chain to its head."""
    assert isinstance(c.backend, NodeBackend)
    description = load_description(directory)
    retired = {r.address: "AuditAnchor" for r in description.retired_anchors}
    index = ChainIndex(index_path)
    try:
        follower = ChainFollower(index, c.backend.server.url, dict(description.contracts), retired=retired)
        while follower.sync_once() > 0:
            pass
        return [
            signature_check(index, ORIGIN, b["anchor"]["size"], b["anchor"]["transaction"]["hash"]) for b in bundles
        ]
    finally:
        index.close()


def roots(c: Consortium, world: LogWorld, anchor: str, retired: tuple[tuple[str, int], ...]) -> TrustRoots:
    return TrustRoots(
        log=world.log_verifier(), witnesses=world.cosigners(), policy=world.policy(),
        notary_account=c.deployer.address, anchor_address=anchor, chain_id=c.backend.chain_id,
        validators=(c.deployer.address,), retired_anchors=retired,
    )  # fmt: skip


def steps(bundle: dict[str, object], trust: TrustRoots) -> dict[str, tuple[bool | None, str]]:
    return {s.name: (s.ok, s.detail) for s in verify_evidence_json(bundle, trust)}


def anchor_more(
    c: Consortium, world: LogWorld, anchors: AuditAnchorClient, retired: tuple[tuple[str, int], ...]
) -> dict[str, dict[str, Any]]:
    """Events ev-6..ev-8 logged by the world's notary (same store), checkpointed and anchored on ``anchors``; the
    bundles of ev-3 (under the first anchor) and ev-7 (under this one) built after. The notary compares every
    confirmed anchor's root with the chain, the first one's on the retired AuditAnchor."""
    service = world.notary(AnchorSettings(anchors, Signer(c.deployer.account), interval=0, retired=retired))
    try:
        now = int(time.time() * 1000)
        batch = [event(v=world.event_version, event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in range(6, 9)]
        body = encode_batch(GATEWAY, batch)
        service.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))
        assert service.checkpointer.round() is not None
        assert service.anchorer is not None
        service.anchorer.step(force=True)
        wait_until(lambda: len(service.store.anchors(state="confirmed")) == 2, "the new anchor", ANCHOR_DEADLINE)
        assert service.store.alarms() == []  # no root compared on the wrong contract
        return {e: dict(service.evidence(e).to_json()) for e in ("ev-3", "ev-7")}  # the JSON, to tamper with
    finally:
        service.stop()


@pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)
def test_an_old_sm_consortium_moves_to_a_signed_only_anchor(
    consortium: Consortium, world: LogWorld, tmp_path: Path
) -> None:
    c = consortium
    old = old_audit_anchor(c)
    before = world.anchored_evidence(AnchorSettings(old, Signer(c.deployer.account), interval=0), 5, "ev-3")
    world.register_log_key(c.trust, c.signers["op"])
    c.forget_nonces()
    with pytest.raises(AnchorMoveError, match="crypto is 'intl'"):
        move_to_signed_only(c.backend, c.deployer, description_of(c, old.address, "intl"))

    # The operator runs `consortium notary migrate-anchor` on the directory whose consortium.json names the old
    # AuditAnchor, against the node's JSON-RPC, signing as the deployer (its key in orgs/op).
    directory = operator_directory(c, tmp_path / "consortium", old.address)
    moved = migrate_anchor_through_the_cli(c, directory)
    c.forget_nonces()
    new = AuditAnchorClient(c.backend, moved.address)
    assert new.signed_only() and new.trust_directory() == c.trust.address
    last = old.at_size(ORIGIN, 5)
    assert last is not None and moved.retired == RetiredAnchor(old.address, 5, last.root_hash)
    assert moved.description.contracts["AuditAnchor"] == moved.address
    assert moved.description.retired_anchors == (moved.retired,)
    assert load_description(directory) == moved.description  # consortium.json keeps the record
    with pytest.raises(AnchorMoveError, match="takes signed anchors only already"):
        move_to_signed_only(c.backend, c.deployer, moved.description)

    # The notary stopped after confirming the first anchor and before comparing its root with the chain (it does
    # both in one step, so this is a crash between the two): it compares it now, on the retired AuditAnchor.
    stopped = world.notary()
    assert stopped.store.meta(CHECKED_KEY) == "5"
    stopped.store.set_meta(CHECKED_KEY, "0")
    stopped.stop()
    after = anchor_more(c, world, new, ((old.address, 5),))
    trust = roots(c, world, moved.address, ((old.address, 5),))
    for bundle in (before, after["ev-3"]):  # built before the move and after it: both name the old contract
        checked = steps(bundle, trust)
        assert all(checked[name][0] for name in STEP_NAMES), checked
        detail = checked["anchor transaction"][1]
        assert f"the retired AuditAnchor {old.address}" in detail and ANCHOR_NOT_CHECKED_ON_CHAIN in detail
    checked = steps(after["ev-7"], trust)
    assert all(checked[name][0] for name in STEP_NAMES), checked
    assert ANCHOR_CHECKED_ON_CHAIN in checked["anchor transaction"][1]
    assert new.signature_key(ORIGIN, 8) is not None
    assert after["ev-7"]["anchor"]["contract"].lower() == moved.address.lower()
    assert before["anchor"]["contract"].lower() == old.address.lower()
    # The explorer lists the anchor before the move (on the retired AuditAnchor) as unchecked, the one after as
    # checked: AuditAnchor checked the log key's SM2 signature on it.
    assert explorer_signatures(c, directory, tmp_path / "chain.db", [before, after["ev-7"]]) == [
        "unchecked",
        "checked",
    ]
    # Without the record, or with a smaller last size, the old contract's anchor does not count.
    assert steps(before, roots(c, world, moved.address, ()))["anchor transaction"][0] is False
    smaller = steps(before, roots(c, world, moved.address, ((old.address, 4),)))["anchor transaction"]
    assert smaller[0] is False and "count up to size 4 only, for size 5" in smaller[1]

    # verify log reads both contracts; what the old one took after the move is left out.
    c.forget_nonces()
    old.anchor(c.signers["op"], ORIGIN, 9, digest("root 9"), digest("checkpoint 9"))
    chain = read_all_anchors(c.backend, moved.address, moved.description.retired_anchors, ORIGIN, True, c.trust.address)
    assert [(a.size, a.signature_key is not None) for a in chain.claims] == [(5, False), (8, True)]
    retired, checked_line, unchecked_line = anchor_signature_lines(chain, True)
    assert retired == (
        f"✓ retired AuditAnchor {old.address} — 1 anchor(s) up to its recorded last size 5; 1 it took later left out: 9"
    )
    assert checked_line.startswith("✓ anchor signatures — AuditAnchor takes signed anchors only; 1 of 2 anchor(s)")
    assert unchecked_line.startswith("- anchor signatures — 1 anchor(s) NOT checked on chain (anchored on a retired")
    # A record that the old contract contradicts fails.
    wrong = (RetiredAnchor(old.address, 5, digest("another root")),)
    with pytest.raises(LogMismatchError, match=r"holds root 0x[0-9a-f]{64} at size 5, where consortium\.json records"):
        read_all_anchors(c.backend, moved.address, wrong, ORIGIN, True, c.trust.address)
