"""The notary's sequencer takes its gateway keys from the TrustDirectory through a TrustView, while it runs: a key
a member adds on chain signs accepted batches from the block that adds it, both keys of a rotation's overlap are
accepted, and a retired key is refused once the chain passes its end. One sequencer throughout: no restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chain.contracts import KeyKind
from chain.trustview import TrustView
from network.trust import GatewayKeySource
from notary.errors import SignatureError, UnknownGatewayError
from notary.log.note import NoteSigner
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.store import LogStore
from tests.support.consortium import Consortium, founder_keys
from tests.support.notary_events import event
from tests.support.wait import wait_until

ORIGIN = "trust-test/audit-log"
GATEWAY = "beta/gw-1"


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class Notary:
    def __init__(self, directory: Path, view: TrustView) -> None:
        self.view = view
        self.store = LogStore(directory / "notary.db")
        fallback = {"beta": raw(Ed25519PrivateKey.generate())}  # consortium.json's, used until the chain is read
        self.sequencer = Sequencer(
            self.store,
            NoteSigner(ORIGIN, Ed25519PrivateKey.generate()),
            SequencerSettings(ORIGIN),
            GatewayKeySource(view, fallback),
        )
        self.seq = 0

    def submit(self, key: Ed25519PrivateKey, gateway: str = GATEWAY) -> int:
        self.seq += 1
        org = gateway.partition("/")[0]
        events = [
            event(
                event_id=str(uuid.uuid4()),
                gateway_id=gateway,
                gateway_seq=self.seq,
                provider_org=org,
                time_ms=int(time.time() * 1000),
            )
        ]
        body = encode_batch(gateway, events)
        return self.sequencer.submit(gateway, body, sign_batch_body(key, body)).new


@pytest.fixture
def notary(consortium: Consortium, tmp_path: Path) -> Iterator[Notary]:
    view = TrustView(consortium.backend, consortium.trust.address, poll_s=0.02)
    view.start()
    running = Notary(tmp_path, view)
    yield running
    view.stop()
    running.store.close()


def caught_up(c: Consortium, view: TrustView) -> None:
    block = int(c.backend.web3.eth.block_number)
    wait_until(lambda: view.head >= block, f"the trust view to reach block {block}", 10, every=0.005)


def test_a_gateway_key_added_on_chain_signs_accepted_batches(consortium: Consortium, notary: Notary) -> None:
    c = consortium
    key = Ed25519PrivateKey.generate()
    with pytest.raises(UnknownGatewayError):  # beta has no gateway key on chain (the fallback is not used)
        notary.submit(key)
    c.trust.add_key(c.signers["beta"], KeyKind.GATEWAY_KEY, raw(key))
    caught_up(c, notary.view)
    assert notary.submit(key) == 1
    with pytest.raises(SignatureError):
        notary.submit(Ed25519PrivateKey.generate())


def test_a_rotation_accepts_both_keys_during_the_overlap_then_only_the_new(
    consortium: Consortium, notary: Notary
) -> None:
    c = consortium
    beta = c.signers["beta"]
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    index = c.trust.add_key(beta, KeyKind.GATEWAY_KEY, raw(old))
    c.trust.add_key(beta, KeyKind.GATEWAY_KEY, raw(new))
    end = int(c.backend.web3.eth.block_number) + 3
    c.trust.retire_key(beta, index, valid_until=end)
    caught_up(c, notary.view)
    if notary.view.head < end:
        assert notary.submit(old) == 1
    assert notary.submit(new) == 1
    while int(c.backend.web3.eth.block_number) < end:
        c.registry.set_certificate(c.signers["gamma"], uuid.uuid4().bytes * 2)
    caught_up(c, notary.view)
    with pytest.raises(SignatureError):
        notary.submit(old)
    assert notary.submit(new) == 1


def test_the_genesis_gateway_key_is_the_chains(consortium: Consortium, notary: Notary) -> None:
    """alpha's genesis records name a gateway key; a batch of alpha's is checked against it (and refused here,
    as no private key of that made-up public key exists), never against consortium.json's fallback."""
    assert notary.view.gateway_keys("alpha") == [founder_keys("alpha")[1][1]]
    with pytest.raises(SignatureError):
        notary.submit(Ed25519PrivateKey.generate(), gateway="alpha/gw-1")
