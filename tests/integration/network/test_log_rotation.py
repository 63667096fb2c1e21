"""``network.logrotation.rotate_log_key`` (``consortium notary rotate-key``) against the in-process chain node: the
new key made of the consortium's suite and written atomically with mode 0600 in place of ``keys/notary.pem``, added
on chain as a LOG_KEY of the notary's member, the old one retired after the overlap; refusals before anything is
written or sent."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from chain.contracts import KeyKind
from chain.contracts.trust import KeyState
from chain.ids import OrgId
from network.description import ConsortiumDescription
from network.identity import OrgPaths, load_notary_key
from network.logrotation import BLOCK_TIME_WINDOW, LogRotationError, anchoring_interval, rotate_log_key
from network.logsetup import ChainLogKey
from network.witnesskeys import ChainWitnessKeys
from notary.logsuite import public_bytes
from tests.support.consortium import Consortium, described

PASS = b"log-rotation-passphrase"

pytestmark = pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)


def description_of(c: Consortium, directory: Path, with_directory: bool = True) -> ConsortiumDescription:
    return described(c, directory, "rot", PASS, with_directory=with_directory)


def test_rotate_key_publishes_the_new_key_and_replaces_the_key_file(consortium: Consortium, tmp_path: Path) -> None:
    c = consortium
    op = c.signers["op"]
    description = description_of(c, tmp_path)
    paths = OrgPaths.of(tmp_path, OrgId("op"))
    old = public_bytes(load_notary_key(tmp_path, OrgId("op"), PASS))

    with pytest.raises(LogRotationError, match="no open LOG_KEY of op valid now on chain"):
        rotate_log_key(tmp_path, description, PASS, c.trust, op)  # its key is not on chain yet
    assert not paths.notary_key.with_name("notary.next.pem").exists()
    with pytest.raises(LogRotationError, match="names no TrustDirectory"):
        rotate_log_key(tmp_path, description_of(c, tmp_path / "no-dir", False), PASS, c.trust, op)

    old_index = c.trust.add_key(op, KeyKind.LOG_KEY, old)
    rotation = rotate_log_key(tmp_path, description, PASS, c.trust, op, overlap_blocks=5)
    new = public_bytes(load_notary_key(tmp_path, OrgId("op"), PASS, "intl"))
    assert new != old and rotation.new_public == new and rotation.old_public == old
    assert stat.S_IMODE(paths.notary_key.stat().st_mode) == 0o600
    assert paths.notary_pub.read_text().strip() == new.hex()
    assert not paths.notary_key.with_name("notary.next.pem").exists()

    records = c.trust.records("op")
    added, retired = records[rotation.new_index], records[old_index]
    assert (added.kind, added.value, added.valid_until) == (KeyKind.LOG_KEY, new, None)
    assert added.valid_from == rotation.valid_from
    assert retired.state is KeyState.RETIRED and retired.valid_until == rotation.valid_from + 5
    old_id, new_id = rotation.key_ids("rot/audit-log", 1)
    assert old_id != new_id

    # what the verifiers read: the log keys beside the witness keys, from the same records at the same block
    chain_keys = ChainWitnessKeys(description, c.backend)
    keys = chain_keys.log_keys()
    assert keys is not None
    head = keys.head
    assert {k.index for k in keys.keys if k.valid_at(head)} == {old_index, rotation.new_index}  # the overlap
    chosen = chain_keys.at_block(head)
    assert chosen.block == head and chosen.log_keys is not None
    assert {v.public_key for v in chosen.log_keys.valid()} == {old, new}

    # the running notary's side: the key file, once its key is valid on chain
    from chain.trustview import TrustView

    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    follow = ChainLogKey(view, tmp_path, description, PASS)
    key = follow()
    assert key is not None and public_bytes(key) == new
    assert follow.on_chain(new) and follow.on_chain(old)  # both during the overlap

    # a second rotation now starts from the new key; one asked to start in the past is refused
    with pytest.raises(LogRotationError, match="in the past"):
        rotate_log_key(tmp_path, description, PASS, c.trust, op, from_block=0)


def test_rotate_key_refuses_an_overlap_shorter_than_the_anchoring_interval(
    consortium: Consortium, tmp_path: Path
) -> None:
    c = consortium
    op = c.signers["op"]
    description = description_of(c, tmp_path)
    paths = OrgPaths.of(tmp_path, OrgId("op"))
    old = public_bytes(load_notary_key(tmp_path, OrgId("op"), PASS))
    old_index = c.trust.add_key(op, KeyKind.LOG_KEY, old)
    for _ in range(BLOCK_TIME_WINDOW):  # a chain making a block every 21 s or slower
        c.advance_time(20)
    anchoring = anchoring_interval(c.backend, 10.0)
    assert anchoring is not None and anchoring.window == BLOCK_TIME_WINDOW and anchoring.block_time_s >= 21
    assert anchoring.blocks == 2  # 10 s of anchoring and 2 s of switching within one block, and the confirming one
    records = c.trust.records("op")

    with pytest.raises(LogRotationError, match=r"--overlap-blocks 1 is shorter than the anchoring interval") as info:
        rotate_log_key(tmp_path, description, PASS, c.trust, op, overlap_blocks=1, anchor_interval_s=10.0)
    assert "give --overlap-blocks 2 or more" in str(info.value) and "every 10 s" in str(info.value)
    # refused before anything is written or sent
    assert c.trust.records("op") == records and not paths.notary_key.with_name("notary.next.pem").exists()
    assert public_bytes(load_notary_key(tmp_path, OrgId("op"), PASS)) == old

    # a longer anchor interval needs more blocks: 100 s is more than four blocks of 21 s
    slow = anchoring_interval(c.backend, 100.0)
    assert slow is not None and slow.blocks > anchoring.blocks
    with pytest.raises(LogRotationError, match=rf"give --overlap-blocks {slow.blocks} or more"):
        rotate_log_key(tmp_path, description, PASS, c.trust, op, overlap_blocks=2, anchor_interval_s=100.0)

    rotation = rotate_log_key(tmp_path, description, PASS, c.trust, op, overlap_blocks=2, anchor_interval_s=10.0)
    assert c.trust.records("op")[old_index].valid_until == rotation.valid_from + 2
