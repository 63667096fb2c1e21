"""``consortium gateway rotate-key`` (``network.gatewaykeys``) with a gateway's shipper and the notary's batch
acceptance in this process, against the in-process chain node: batches signed before, during and after the switch
are all accepted and none is refused; a batch signed with the retired key after its retirement is refused; the
gateway's salt vault reveals the salts of earlier events under the new key as before; a firm that joined later
rotating its key with the command line from its own directory."""

from __future__ import annotations

import json
import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.contracts import KeyKind
from chain.contracts.trust import KeyState
from chain.ids import OrgId, Role
from chain.trustview import TrustView
from cli.main import cli
from network.description import ConsortiumDescription
from network.gatewaykeys import GatewayRotationError, following_gateway_key, rotate_gateway_key
from network.identity import OrgPaths, load_gateway_key
from network.shredding import gateway_vault
from network.trust import GatewayKeySource
from notary.api.app import create_app
from notary.checkpointer import WitnessPolicy
from notary.event import UnsequencedEvent
from notary.logsuite import PrivateKey, public_bytes
from notary.sequencer import batch_request
from notary.service import NotaryService, NotarySettings
from notary.submit.outbox import Outbox
from notary.submit.shipper import Shipper
from notary.submit.vault import VAULT_KEY_FILE, SaltVault
from tests.support.apiserver import ApiServer
from tests.support.consortium import Consortium, described, joined
from tests.support.notary_events import event

PASS = b"gateway-rotation-passphrase"
ORG = "op"
GATEWAY = f"{ORG}/gw-1"
#: A second gateway of the org whose batches the test signs itself (one signed before the switch, sent after).
PROBE = f"{ORG}/gw-2"
ORIGIN = "rot/audit-log"
DRAIN_S = 30.0
#: A firm that joined later, from a directory of its own under a passphrase of its own.
JOINED = "delta"
JOINED_PASS = b"delta-own-passphrase"
JOINED_GATEWAY = f"{JOINED}/gw-1"
JOINED_PROBE = f"{JOINED}/gw-2"

pytestmark = pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)


def description_of(c: Consortium, directory: Path, with_directory: bool = True) -> ConsortiumDescription:
    return described(c, directory, "rot", PASS, Role.MEMBER, with_directory=with_directory)


def call(event_id: str, gateway: str = GATEWAY, seq: int | None = None) -> UnsequencedEvent:
    """A call recorded now (the notary takes events of the last 7 days); without a gateway_seq unless given."""
    org = gateway.split("/")[0]
    recorded = event(event_id=event_id, time_ms=int(time.time() * 1000), gateway_id=gateway, provider_org=org)
    if seq is None:
        del recorded["gateway_seq"]
    else:
        recorded["gateway_seq"] = seq
    return cast(UnsequencedEvent, recorded)


def record(outbox: Outbox, prefix: str, count: int) -> None:
    for future in [outbox.append(call(f"{prefix}-{i}", outbox.gateway_id)) for i in range(count)]:
        future.result(timeout=DRAIN_S)


def post(url: str, seq: int, key: PrivateKey, gateway: str = PROBE) -> httpx.Response:
    body, headers = batch_request(gateway, [call(f"probe-{seq}", gateway, seq)], key)
    return httpx.post(f"{url}/v1/batches", content=body, headers=headers, timeout=30)


def fallbacks(caplog: pytest.LogCaptureFixture) -> int:
    """How many batches the shipper sent again under its previous key after the notary refused its new one."""
    return sum("does not take the new key yet" in r.getMessage() for r in caplog.records)


def mine_to(c: Consortium, block: int, *views: TrustView) -> None:
    """Seal blocks until the head is at least ``block``, then let ``views`` read it."""
    while int(c.backend.web3.eth.block_number) < block:
        c.advance_time(1)
    for view in views:
        view.refresh()
        assert view.head >= block


class Notary:
    """The notary's batch acceptance over HTTP, its gateway keys those valid on chain at the head its view read."""

    def __init__(self, directory: Path, view: TrustView, fallback: bytes) -> None:
        self.service = NotaryService(
            NotarySettings(
                directory=directory,
                origin=ORIGIN,
                log_key=Ed25519PrivateKey.generate(),
                gateway_keys=GatewayKeySource(view, {ORG: fallback}),
                witnesses=[],
                policy=WitnessPolicy(0, (), False, frozenset()),
            )
        )
        self.server = ApiServer(create_app(self.service))
        self.url = self.server.url

    def close(self) -> None:
        self.server.stop()
        self.service.stop()


@pytest.fixture
def closing() -> Iterator[list[Shipper | Outbox | Notary]]:
    """What a test opens, stopped or closed (in reverse) after it."""
    opened: list[Shipper | Outbox | Notary] = []
    yield opened
    for thing in reversed(opened):
        if isinstance(thing, Shipper):
            thing.stop()
        else:
            thing.close()


def test_a_rotated_gateway_key_is_switched_to_with_no_batch_refused(
    consortium: Consortium, tmp_path: Path, closing: list[Shipper | Outbox | Notary], caplog: pytest.LogCaptureFixture
) -> None:
    c = consortium
    op = c.signers[ORG]
    description = description_of(c, tmp_path)
    paths = OrgPaths.of(tmp_path, OrgId(ORG))
    old_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    old = public_bytes(old_key)
    old_index = c.trust.add_key(op, KeyKind.GATEWAY_KEY, old)

    # a vault made before vaults had a key of their own: its epoch keys sealed under the gateway key
    vault_dir = gateway_vault(tmp_path, ORG)
    earlier_ms = int(time.time() * 1000)
    salt_before = SaltVault.for_gateway_key(vault_dir, ORG, old_key).salt("ev-earlier", earlier_ms)

    notary_view, gateway_view = TrustView(c.backend, c.trust.address), TrustView(c.backend, c.trust.address)
    notary_view.refresh()
    gateway_view.refresh()
    notary = Notary(tmp_path / "notary", notary_view, old)
    closing.append(notary)
    outbox = Outbox(tmp_path / "outbox.db", GATEWAY)
    outbox.start()
    closing.append(outbox)
    shipper = Shipper(
        outbox,
        notary.url,
        GATEWAY,
        old_key,
        gather_s=0.01,
        backoff_max_s=0.5,
        next_key=following_gateway_key(gateway_view, tmp_path, ORG, PASS, "intl"),
    )
    closing.append(shipper)
    caplog.set_level(logging.INFO, logger="notary.submit.shipper")
    shipper.start()

    # before: signed with the key of the start
    record(outbox, "before", 5)
    assert shipper.drain(DRAIN_S)
    assert shipper.public_key == old

    # the rotation: the new key valid three blocks after the head, the old one retired four blocks after that
    head = int(c.backend.web3.eth.block_number)
    rotation = rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG, from_block=head + 3, overlap_blocks=4)
    new_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    new = public_bytes(new_key)
    assert (rotation.old_public, rotation.new_public, rotation.old_index) == (old, new, old_index)
    assert (rotation.valid_from, rotation.old_valid_until) == (head + 3, head + 7)
    assert stat.S_IMODE(paths.gateway_key.stat().st_mode) == 0o600
    assert paths.gateway_pub.read_text().strip() == new.hex()
    assert not paths.gateway_key.with_name("gateway.next.pem").exists()
    records = c.trust.records(ORG)
    assert (records[rotation.new_index].kind, records[rotation.new_index].value) == (KeyKind.GATEWAY_KEY, new)
    assert records[old_index].state is KeyState.RETIRED and records[old_index].valid_until == head + 7

    # staged, not valid yet: the key file is the new one, the shipper still signs with the old key, and the
    # notary does not take the new key yet
    notary_view.refresh()
    gateway_view.refresh()
    assert gateway_view.head < rotation.valid_from
    record(outbox, "staged", 5)
    assert shipper.drain(DRAIN_S)
    assert shipper.public_key == old
    assert post(notary.url, 1, new_key).status_code == 401
    signed_before_switch = batch_request(PROBE, [call("probe-1", PROBE, 1)], old_key)

    # the gateway sees the new key valid before the notary does: the shipper switches at its next batch, which
    # the notary refuses under the new key (401) and takes at once under the old one, still valid
    mine_to(c, rotation.valid_from, gateway_view)
    assert notary_view.head < rotation.valid_from
    record(outbox, "lagging", 5)
    assert shipper.drain(DRAIN_S)
    assert shipper.public_key == new and shipper.status()["key"] == new.hex()
    lagged = fallbacks(caplog)
    assert lagged >= 1

    # the overlap, the notary there too: the new key is taken, the old one still is
    notary_view.refresh()
    assert rotation.valid_from <= notary_view.head < rotation.old_valid_until
    record(outbox, "overlap", 5)
    assert shipper.drain(DRAIN_S)
    assert shipper.public_key == new and fallbacks(caplog) == lagged
    body, headers = signed_before_switch  # a batch signed with the old key before the switch, delivered now
    late = httpx.post(f"{notary.url}/v1/batches", content=body, headers=headers, timeout=30)
    assert late.status_code == 200, late.text

    # after the overlap: the shipper's batches are accepted; the retired key's are refused
    mine_to(c, rotation.old_valid_until, notary_view, gateway_view)
    record(outbox, "after", 5)
    assert shipper.drain(DRAIN_S)
    assert shipper.public_key == new
    retired = post(notary.url, 2, old_key)
    assert retired.status_code == 401, retired.text
    assert post(notary.url, 2, new_key).status_code == 200

    # zero refused: every batch the shipper sent was accepted the first time
    status = shipper.status()
    assert status["shipped_total"] == 25 and outbox.stats().pending == 0
    assert (status["refused"], status["consecutive_failures"], status["last_error"]) == (False, 0, None)
    assert [
        r.getMessage() for r in caplog.records if r.name == "notary.submit.shipper" and "refused" in r.getMessage()
    ] == []
    assert notary.service.store.size() == 27  # the shipper's 25 and the probe's two

    # the vault was given its own key before the gateway key changed: the earlier salt is revealed the same
    assert (vault_dir / VAULT_KEY_FILE).exists()
    reopened = SaltVault.open(vault_dir, ORG, PASS, legacy_key=new_key)
    assert reopened.reveal("ev-earlier", earlier_ms) == salt_before


def test_a_joined_firm_rotates_its_gateway_key_from_its_own_directory(
    consortium: Consortium, tmp_path: Path, closing: list[Shipper | Outbox | Notary]
) -> None:
    """A firm that joined later (``member join``: its own directory, its own passphrase, a ``consortium.json``
    listing the founders only) runs ``gateway rotate-key`` from that directory: the new key on chain, its gateway's
    shipper signing with it once valid, the founders' notary taking its batches and, after the overlap, refusing
    the old key's."""
    c = consortium
    founders = description_of(c, tmp_path / "founders")
    firm_dir = tmp_path / "firm"
    firm, _ = joined(c, founders, firm_dir, JOINED, JOINED_PASS)
    assert [m.org for m in firm.members] == [ORG]  # its consortium.json lists the founders only
    old_key = load_gateway_key(firm_dir, OrgId(JOINED), JOINED_PASS, "intl")
    old = public_bytes(old_key)
    notary_view, gateway_view = TrustView(c.backend, c.trust.address), TrustView(c.backend, c.trust.address)
    notary_view.refresh()
    gateway_view.refresh()
    assert notary_view.gateway_keys(JOINED) == [old]
    notary = Notary(tmp_path / "notary", notary_view, b"")
    closing.append(notary)
    outbox = Outbox(tmp_path / "outbox.db", JOINED_GATEWAY)
    outbox.start()
    closing.append(outbox)
    next_key = following_gateway_key(gateway_view, firm_dir, JOINED, JOINED_PASS, firm.crypto)
    shipper = Shipper(
        outbox, notary.url, JOINED_GATEWAY, next_key.start(), gather_s=0.01, backoff_max_s=0.5, next_key=next_key
    )
    closing.append(shipper)
    shipper.start()
    record(outbox, "before", 3)
    assert shipper.drain(DRAIN_S) and shipper.public_key == old

    passphrase = tmp_path / "delta.pass"
    passphrase.write_bytes(JOINED_PASS)
    url = c.backend.server.url  # type: ignore[attr-defined]
    result = CliRunner().invoke(  # as the firm runs it, in its own directory
        cli,
        ["--dir", str(firm_dir), "--chain-url", url, "--passphrase-file", str(passphrase),
         "gateway", "rotate-key", "--overlap-blocks", "3", "--as", JOINED, "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    answer = json.loads(result.output)
    paths = OrgPaths.of(firm_dir, OrgId(JOINED))
    new_key = load_gateway_key(firm_dir, OrgId(JOINED), JOINED_PASS, "intl")
    new = public_bytes(new_key)
    assert (answer["org"], answer["old"]["public_key"], answer["new"]["public_key"]) == (JOINED, old.hex(), new.hex())
    assert paths.gateway_pub.read_text().strip() == new.hex() and paths.gateway_key_previous.is_file()
    valid_from, old_valid_until = answer["new"]["valid_from"], answer["old"]["valid_until"]
    on_chain = c.trust.records(JOINED)[answer["new"]["index"]]
    assert (on_chain.kind, on_chain.value, on_chain.valid_from) == (KeyKind.GATEWAY_KEY, new, valid_from)

    mine_to(c, valid_from, notary_view, gateway_view)  # valid: both keys in the overlap
    assert sorted(notary_view.gateway_keys(JOINED)) == sorted([old, new])
    record(outbox, "overlap", 3)
    assert shipper.drain(DRAIN_S) and shipper.public_key == new
    mine_to(c, old_valid_until, notary_view, gateway_view)
    record(outbox, "after", 3)
    assert shipper.drain(DRAIN_S) and shipper.public_key == new
    assert not paths.gateway_key_previous.exists()  # removed by the follower that saw the old key retired
    retired = post(notary.url, 1, old_key, JOINED_PROBE)
    assert retired.status_code == 401, retired.text
    assert post(notary.url, 1, new_key, JOINED_PROBE).status_code == 200
    status = shipper.status()
    assert status["shipped_total"] == 9 and (status["refused"], status["last_error"]) == (False, None)
    assert notary.service.store.size() == 10


def test_rotation_is_refused_before_anything_is_written(consortium: Consortium, tmp_path: Path) -> None:
    c = consortium
    op = c.signers[ORG]
    description = description_of(c, tmp_path)
    paths = OrgPaths.of(tmp_path, OrgId(ORG))
    before = paths.gateway_key.read_bytes()
    with pytest.raises(GatewayRotationError, match="no open GATEWAY_KEY of op valid now on chain"):
        rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG)  # its key is not on chain
    with pytest.raises(GatewayRotationError, match="names no TrustDirectory"):
        rotate_gateway_key(tmp_path / "x", description_of(c, tmp_path / "x", False), PASS, c.trust, op, ORG)
    c.trust.add_key(op, KeyKind.GATEWAY_KEY, public_bytes(load_gateway_key(tmp_path, OrgId(ORG), PASS)))
    with pytest.raises(GatewayRotationError, match="in the past"):
        rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG, from_block=0)
    vault_dir = gateway_vault(tmp_path, ORG)
    SaltVault.open(vault_dir, ORG, PASS)
    (vault_dir / VAULT_KEY_FILE).write_text("{}")  # damaged: rotating now could leave its salts unrevealable
    with pytest.raises(GatewayRotationError, match="does not open"):
        rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG)
    assert paths.gateway_key.read_bytes() == before
    assert not paths.gateway_key.with_name("gateway.next.pem").exists()


def test_a_compromised_gateway_key_counts_only_for_events_before_the_compromise(
    consortium: Consortium, tmp_path: Path, closing: list[Shipper | Outbox | Notary]
) -> None:
    """A regulator declares the org's only gateway key compromised as of a block in the past: the notary takes a
    batch it signed whose events are all dated before that block's time, and refuses, writing nothing, one with
    an event dated at or after it (failure catalogue item 36)."""
    c = consortium
    description_of(c, tmp_path)
    key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    index = c.trust.add_key(c.signers[ORG], KeyKind.GATEWAY_KEY, public_bytes(key))
    c.advance_time(2)
    compromised_ms = c.advance_time(2) * 1000  # block R's time: the key is not valid from R on
    as_of = int(c.backend.web3.eth.block_number)
    c.advance_time(2)
    c.trust.declare_compromised(c.signers["reg"], ORG, index, as_of)
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    assert view.gateway_keys(ORG) == []  # valid now: none
    notary = Notary(tmp_path / "notary", view, public_bytes(key))
    closing.append(notary)

    def send(seq: int, *times_ms: int, signer: PrivateKey = key) -> httpx.Response:
        events = [
            event(event_id=f"ev-{seq}-{i}", time_ms=t, gateway_id=PROBE, provider_org=ORG, gateway_seq=seq + i)
            for i, t in enumerate(times_ms)
        ]
        body, headers = batch_request(PROBE, events, signer)
        return httpx.post(f"{notary.url}/v1/batches", content=body, headers=headers, timeout=30)

    # dated before the compromise (after the key's first block): taken
    before = send(1, compromised_ms - 1500, compromised_ms - 1)
    assert before.status_code == 200, before.text
    assert notary.service.store.size() == 2

    # one event dated at the compromise, or after it, refuses the whole batch: nothing is written
    for times in [(compromised_ms,), (compromised_ms - 1, compromised_ms + 2000)]:
        refused = send(3, *times)
        assert refused.status_code == 401, refused.text
        error = refused.json()["error"]
        assert f"declared compromised as of block {as_of}" in error and "ev-3-" in error and "nothing logged" in error
    assert notary.service.store.size() == 2

    # a key that is no key of the org, whatever the time, as before
    stranger = send(3, compromised_ms - 1, signer=Ed25519PrivateKey.generate())
    assert stranger.status_code == 401 and "does not verify" in stranger.json()["error"]
    assert notary.service.store.size() == 2
