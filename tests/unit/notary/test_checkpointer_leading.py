"""The checkpointer's loop runs its rounds only while its replica leads (``notary.storage.leader``): a follower
signs, asks and publishes nothing, and shows no witness's answer, however much the tree grew."""

from __future__ import annotations

import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from notary.checkpointer import Checkpointer, WitnessAnswer, WitnessPolicy
from notary.log.note import NoteSigner
from notary.reader import LogReader
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.storage.sqlite import LogStore
from tests.support.notary_events import event

ORIGIN = "test-consortium/audit-log"
GATEWAY = "shuzhi-tech/gw-1"
NOW = 1_795_000_000.0  # the time of the test events


def run_rounds(checkpointer: Checkpointer, leads: list[bool]) -> None:
    """The loop as the service runs it, asked whether it leads once per tick with the answers of ``leads``."""
    stop = threading.Event()
    answers = iter(leads)

    def leading() -> bool:
        answer = next(answers, None)
        if answer is None:
            stop.set()
            return False
        return answer

    checkpointer.run(stop, 0.001, leading)


def test_a_follower_checkpoints_nothing_and_a_leader_does(tmp_path: Path) -> None:
    log_key, gw_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    store = LogStore(tmp_path / "notary.db")
    reader = LogReader(store)
    signer = NoteSigner(ORIGIN, log_key)
    gw_raw = gw_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sequencer = Sequencer(
        store,
        signer,
        SequencerSettings(ORIGIN),
        {"shuzhi-tech": gw_raw},
        clock=lambda: NOW,
        on_commit=reader.invalidate,
    )
    checkpointer = Checkpointer(
        store, reader, signer, ORIGIN, [], WitnessPolicy(0, (), False, frozenset()), lambda: sequencer.size
    )
    try:
        body = encode_batch(GATEWAY, [event(event_id=f"e-{n}", gateway_id=GATEWAY, gateway_seq=n) for n in (1, 2, 3)])
        sequencer.submit(GATEWAY, body, sign_batch_body(gw_key, body))
        checkpointer.last_answers["witness-1"] = WitnessAnswer("witness-1", 200)  # from when it last led

        run_rounds(checkpointer, [False] * 5)
        assert store.latest_checkpoint(published=False) is None
        assert checkpointer.last_answers == {}

        run_rounds(checkpointer, [True])
        published = store.latest_checkpoint(published=True)
        assert published is not None and published.size == 3
    finally:
        checkpointer.close()
        store.close()
