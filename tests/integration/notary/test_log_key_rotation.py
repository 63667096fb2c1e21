"""The log's key rotated mid-log: the notary (in process) signs with its first key, the new key is added to the
TrustDirectory of the in-process chain node and the old one retired a few blocks later; the running notary
switches when the chain says the new key is valid (its ``next_log_key`` loop), the witnesses (real servers on
loopback) cosign under the log keys valid on chain now, and ``verify evidence`` (``notary.verify``) and ``verify
log`` (``notary.mirror`` over the notary's HTTP API) pass over checkpoints on both sides of the rotation, each
under the key valid at its anchor's block. A checkpoint signed by the retired key after its retirement, or by a key
not on chain, is refused by the verifiers and by a witness. The rule is ``notary.logkeys``'s."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chain.contracts import KeyKind
from cli.verify import _fetcher, read_anchors
from notary.api import create_app
from notary.errors import NotaryError
from notary.log.errors import UnknownKeyError
from notary.log.note import parse_note, sign_note
from notary.log.witnessing import format_add_checkpoint
from notary.logkeys import LogKeyError, LogKeys
from notary.logsuite import INTL, LogVerifier, PrivateKey, public_bytes
from notary.mirror import AnchorClaim, LogMismatchError, mirror_log
from notary.service import AnchorSettings, NotaryService
from notary.verify import STEP_NAMES, TrustRoots, verify_evidence_json
from notary.witness.server import Witness as WitnessProtocol
from notary.witness.server import make_server
from notary.witness.state import init_witness
from tests.support.consortium import Consortium, advance_time
from tests.support.notary_events import event
from tests.support.notary_world import ANCHOR_DEADLINE, GATEWAY, ORIGIN, WITNESS_ORGS, LogWorld, new_key
from tests.support.wait import wait_until

pytestmark = pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)


def chain_keys(c: Consortium) -> LogKeys:
    """The log's keys as the TrustDirectory holds them now (the notary's member is ``op``)."""
    head = int(c.backend.web3.eth.block_number)
    return LogKeys.from_records(ORIGIN, INTL, c.trust.records("op", head), head)


def follow_witnesses(world: LogWorld, c: Consortium) -> None:
    """Restart the world's witnesses on their ports, each following the log's keys on chain."""

    def follow(origin: str) -> Sequence[LogVerifier] | None:
        return chain_keys(c).valid() if origin == ORIGIN else None

    for org in WITNESS_ORGS:
        world.stop_witness(org)
        config = dataclasses.replace(world.witness_config(org), follow_logs=follow)
        server = make_server(config, "127.0.0.1", world.ports[org])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        world.servers[org], world.threads[org] = server, thread


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LogWorld]:
    w = LogWorld(tmp_path)
    yield w
    w.close()


def roots(c: Consortium, world: LogWorld) -> TrustRoots:
    return TrustRoots(
        log=world.log_verifier(),  # consortium.json's key: the first one
        witnesses=world.cosigners(),
        policy=world.policy(),
        notary_account=c.deployer.address,
        anchor_address=c.anchors.address,
        chain_id=c.backend.chain_id,
        validators=(c.deployer.address,),
        log_keys=chain_keys(c),
    )


def at_anchor(r: TrustRoots, claims: Sequence[AnchorClaim], size: int) -> TrustRoots:
    """``r`` with its log keys judged at the block that anchored ``size``, as ``network.witnesskeys`` chooses them
    for a checkpoint (with its witness keys, from the same lookup)."""
    assert r.log_keys is not None
    block = next(a.block_number for a in claims if a.size == size)
    return dataclasses.replace(r, log_keys=r.log_keys.at(block, anchored=True))


def log_events(service: NotaryService, world: LogWorld, first: int, count: int) -> None:
    """Log ``count`` events, publish a checkpoint cosigned by the witnesses and anchor it."""
    anchored_before = len(service.store.anchors(state="confirmed"))
    events = [
        event(event_id=f"ev-{first + i}", gateway_seq=first + i, time_ms=int(time.time() * 1000)) for i in range(count)
    ]
    body = encode(events)
    service.sequencer.submit(GATEWAY, body, sign(world.gateway_key, body))
    assert service.checkpointer.round() is not None
    assert service.anchorer is not None
    service.anchorer.step(force=True)
    wait_until(lambda: len(service.store.anchors(state="confirmed")) > anchored_before, "the anchor", ANCHOR_DEADLINE)


def encode(events: list[dict[str, Any]]) -> bytes:
    from notary.sequencer import encode_batch

    return encode_batch(GATEWAY, events)


def sign(key: PrivateKey, body: bytes) -> bytes:
    from notary.sequencer import sign_batch_body

    return sign_batch_body(key, body)


def passes(bundle: dict[str, Any], r: TrustRoots) -> dict[str, str]:
    steps = {s.name: s for s in verify_evidence_json(bundle, r)}
    assert all(steps[name].ok for name in STEP_NAMES), [s.to_text() for s in steps.values()]
    return {name: s.detail for name, s in steps.items()}


def key_id_of(note: str) -> bytes:
    return next(s.key_id for s in parse_note(note.encode()).signatures if s.name == ORIGIN)


def test_the_log_key_rotates_mid_log_and_both_sides_verify(consortium: Consortium, world: LogWorld) -> None:
    c = consortium
    op = c.signers["op"]
    old_index = world.register_log_key(c.trust, op)
    follow_witnesses(world, c)
    new: PrivateKey = new_key(INTL)
    old_public = public_bytes(world.log_key)

    def next_key() -> PrivateKey | None:  # what `notary serve` answers: the new key file once valid on chain
        head = int(c.backend.web3.eth.block_number)
        record = c.trust.records("op", head)[-1]
        return new if record.value == public_bytes(new) and record.valid_at(head) else None

    anchor = AnchorSettings(c.anchors, op, interval=3600)  # op's account is the deployer's: one nonce counter
    service = world.notary(anchor, next_log_key=next_key, log_key_interval=0.05)
    service.start()
    try:
        log_events(service, world, 1, 3)
        before: dict[str, Any] = dict(service.evidence("ev-2").to_json())
        assert key_id_of(before["checkpoint"]["note"]) == INTL.note_verifier(ORIGIN, old_public).key_id

        # the rotation: the new key valid from the next block, the old one retired three blocks after it
        new_index = c.trust.add_key(op, KeyKind.LOG_KEY, public_bytes(new))
        valid_from = c.trust.record("op", new_index).valid_from  # type: ignore[union-attr]
        c.trust.retire_key(op, old_index, valid_from + 3)
        wait_until(lambda: service.signer.public_key == public_bytes(new), "the notary to switch", 10.0)
        assert service.store.meta("vkey") == INTL.format_vkey(ORIGIN, public_bytes(new))

        log_events(service, world, 4, 3)  # cosigned by the witnesses under the new key, anchored
        after: dict[str, Any] = dict(service.evidence("ev-5").to_json())
        assert key_id_of(after["checkpoint"]["note"]) == INTL.note_verifier(ORIGIN, public_bytes(new)).key_id
        for _ in range(4):  # past the old key's retirement
            advance_time(c.backend, 1)
        r = roots(c, world)
        assert r.log_keys is not None and r.log_keys.head >= valid_from + 3
        claims = read_anchors(c.anchors, ORIGIN, False, c.trust.address).claims  # sizes 3 and 6, with blocks
        assert [a.size for a in claims] == [3, 6]
        # each bundle under the log keys judged at its checkpoint's anchor block
        old_detail = passes(before, at_anchor(r, claims, 3))["checkpoint"]
        new_detail = passes(after, at_anchor(r, claims, 6))["checkpoint"]
        assert f"record {old_index}" in old_detail and "(retired)" in old_detail, old_detail
        assert f"record {new_index}" in new_detail, new_detail
        # judged at the head instead, the old key's checkpoint is past its retirement: refused
        steps = {s.name: s for s in verify_evidence_json(before, r)}
        assert steps["checkpoint"].ok is False and "not valid at the chain head" in steps["checkpoint"].detail
        # the receipt of ev-5 is signed by the new key, the one of ev-2 by the old
        assert key_id_of(after["receipt"]["batch_note"]) != key_id_of(before["receipt"]["batch_note"])

        # without the chain's keys, the new checkpoint is signed by no key consortium.json knows
        plain = dataclasses.replace(r, log_keys=None)
        steps = {s.name: s for s in verify_evidence_json(after, plain)}
        assert steps["checkpoint"].ok is False

        # verify log: the whole log mirrored from the notary's API, under the key valid at the anchor's block
        client = TestClient(create_app(service), base_url="http://testserver/")
        fetch = _fetcher(client)
        report = mirror_log(fetch, r, claims, entries="required", roots_for=lambda size: at_anchor(r, claims, size))
        assert report.size == 6 and report.entries_checked == 6
        # each checkpoint under the key valid at its anchor's block: size 3 the old key, size 6 the new one
        assert (
            r.log_keys.for_checkpoint(before["checkpoint"]["note"].encode(), claims[0].block_number).index == old_index
        )
        assert (
            r.log_keys.for_checkpoint(after["checkpoint"]["note"].encode(), claims[1].block_number).index == new_index
        )

        # refusals: a checkpoint of the current tree signed by the retired key now, and by a key never on chain
        text = parse_note(service.store.latest_checkpoint(published=True).note).text  # type: ignore[union-attr]
        stale = sign_note(text, [INTL.note_signer(ORIGIN, world.log_key)])
        stranger = sign_note(text, [INTL.note_signer(ORIGIN, new_key(INTL))])
        with pytest.raises(LogKeyError, match="not valid at the chain head"):
            r.log_keys.for_checkpoint(stale, None)
        with pytest.raises(LogKeyError, match="no log key"):
            r.log_keys.for_checkpoint(stranger, None)
        for note in (stale, stranger):

            def served(path: str, note: bytes = note) -> bytes:
                return note if path == "checkpoint" else fetch(path)

            with pytest.raises(LogMismatchError, match="checkpoint"):
                mirror_log(served, r, [])
        # a witness following the chain: the retired key and a stranger's are no key of the log now
        fresh = world.directory / "fresh-witness.db"
        init_witness(fresh, ORIGIN)

        def now_valid(origin: str) -> Sequence[LogVerifier] | None:
            return chain_keys(c).valid()

        witness = WitnessProtocol(
            dataclasses.replace(world.witness_config("alpha"), state_path=fresh, follow_logs=now_valid)
        )
        for note in (stale, stranger):
            with pytest.raises(UnknownKeyError, match="no signature from a known key"):
                witness.add_checkpoint(format_add_checkpoint(0, [], note))
        latest = service.store.latest_checkpoint(published=False)
        assert latest is not None
        assert witness.add_checkpoint(format_add_checkpoint(0, [], latest.note))
    finally:
        service.stop()

    # a notary started again over this store with the new key: accepted since it is on chain, refused otherwise
    def on_chain(public: bytes) -> bool:
        return any(v.public_key == public for v in chain_keys(c).valid())

    again = world.notary(anchor, log_key=new, log_key_on_chain=on_chain)
    again.stop()
    with pytest.raises(NotaryError, match="belongs to the log"):
        world.notary(anchor, log_key=new_key(INTL), log_key_on_chain=on_chain)
    with pytest.raises(NotaryError, match="belongs to the log"):
        world.notary(anchor, log_key=world.log_key, log_key_on_chain=on_chain)  # the old key, retired on chain
    with pytest.raises(NotaryError, match="belongs to the log"):
        world.notary(anchor, log_key=world.log_key)  # no chain to check a change of key against
