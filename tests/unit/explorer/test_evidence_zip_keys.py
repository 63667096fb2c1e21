"""An evidence zip's ``consortium-keys.json`` holds the keys valid at the anchor block of each checkpoint its
bundles prove against (``explorer.exports.evidence_zip``), so a bundle anchored before the log's key rotated is
checked offline under the key of then, and one anchored after under the new one. On the in-process py-evm chain:
the log key is rotated (``network.logrotation``) between two anchored checkpoints, and the keys are the
explorer's own (``explorer.keys.consortium_keys`` of ``ChainWitnessKeys.for_checkpoint``)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3.types import Wei

from chain.contracts import KeyKind
from chain.ids import OrgId
from explorer.calls import CallFilter, CallIndex
from explorer.errors import ApiError
from explorer.exports import EVIDENCE_KEYS_FORMAT, evidence_zip
from explorer.keys import ConsortiumKeysJSON, consortium_keys
from network.identity import load_notary_key
from network.logrotation import rotate_log_key
from network.logsetup import log_origin
from network.witnesskeys import ChainWitnessKeys
from notary.bundle import EvidenceBundle, EvidenceCheckpoint, EvidenceInclusion, EvidenceReceipt, Pending
from notary.event import canonical_entry
from notary.log.hashing import hash_leaf
from notary.log.note import ED25519
from notary.logsuite import public_bytes
from tests.support.consortium import Consortium, described
from tests.support.notary_events import event

pytestmark = pytest.mark.parametrize("backend", [pytest.param("eth-tester")], indirect=True)

PASS = b"evidence-zip-keys"
EVENTS = 6
SIZES = {1: 2, 2: 2, 3: 4, 4: 4}  # event number -> the checkpoint its bundle proves against; 5: none yet
UNKNOWN = 6  # the notary gives no bundle of it


@pytest.fixture
def calls(tmp_path: Path) -> Iterator[CallIndex]:
    index = CallIndex(tmp_path / "calls.db")
    index.add_entries(0, [canonical_entry(event(event_id=f"ev-{i}", gateway_seq=i)) for i in range(1, EVENTS + 1)])
    yield index
    index.close()


def bundle_of(origin: str, event_id: str) -> EvidenceBundle:
    """The shape of the notary's bundle for ``event_id``: only the checkpoint's size matters to the zip's keys."""
    number = int(event_id.removeprefix("ev-"))
    if number == UNKNOWN:
        raise ApiError(f"the notary holds no event {event_id}")
    entry = canonical_entry(event(event_id=event_id, gateway_seq=number))
    leaf = hash_leaf(entry)
    receipt = EvidenceReceipt(event_id, origin, number - 1, leaf, 0, 60, "batch note\n", ())
    size = SIZES.get(number)
    return EvidenceBundle(
        origin=origin,
        event_id=event_id,
        index=number - 1,
        entry=entry,
        leaf_hash=leaf,
        receipt=receipt,
        checkpoint=None if size is None else EvidenceCheckpoint(size, f"{origin}\n{size}\n", ()),
        inclusion=None if size is None else EvidenceInclusion(size, ()),
        anchor=None,
        pending=(Pending("checkpoint", "not in a published checkpoint yet"),) if size is None else (),
    )


def test_the_zip_holds_the_keys_of_each_bundles_anchor_block(
    consortium: Consortium, tmp_path: Path, calls: CallIndex
) -> None:
    c = consortium
    op = c.signers["op"]
    description = described(c, tmp_path, "zip", PASS)
    origin = log_origin(description)
    old = public_bytes(load_notary_key(tmp_path, OrgId("op"), PASS))
    c.trust.add_key(op, KeyKind.LOG_KEY, old)
    before = int(c.anchors.anchor(op, origin, 2, b"\x01" * 32, b"\x02" * 32)["blockNumber"])
    rotation = rotate_log_key(tmp_path, description, PASS, c.trust, op, overlap_blocks=1)
    retired = rotation.old_valid_until
    web3 = c.backend.web3
    while int(web3.eth.block_number) < retired:  # blocks pass: a transfer each
        tx = web3.eth.send_transaction({"from": web3.eth.accounts[0], "to": c.outsider.address, "value": Wei(1)})
        web3.eth.wait_for_transaction_receipt(tx)
    after = int(c.anchors.anchor(op, origin, 4, b"\x03" * 32, b"\x04" * 32)["blockNumber"])
    assert before < rotation.valid_from and after >= retired

    chain_keys = ChainWitnessKeys(description, c.backend)
    asked: list[int | None] = []

    def keys(size: int | None) -> ConsortiumKeysJSON:
        asked.append(size)
        return consortium_keys(description, chain_keys.for_checkpoint(size))

    spool = evidence_zip(calls, CallFilter(), 10, keys, lambda event_id: bundle_of(origin, event_id))
    with spool, zipfile.ZipFile(spool) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("consortium-keys.json"))
        failed = json.loads(archive.read(next(n for n in names if n.endswith(f"-ev-{UNKNOWN}.json"))))
    assert failed == {"event_id": f"ev-{UNKNOWN}", "error": f"the notary holds no event ev-{UNKNOWN}"}
    assert len(names) == EVENTS + 1 and sorted(asked, key=str) == [2, 4, None]  # once per checkpoint
    assert document["format"] == EVIDENCE_KEYS_FORMAT
    assert sorted(document["checkpoints"]) == ["2", "4"]

    old_id, new_id = rotation.key_ids(origin, ED25519)

    def valid(keys: dict[str, Any]) -> list[str]:
        return [k["key_id"] for k in keys["log_keys"]["keys"] if k["valid"]]

    early, late, latest = document["checkpoints"]["2"], document["checkpoints"]["4"], document["latest"]
    assert (early["log_keys"]["block"], early["log_keys"]["anchored"]) == (before, True)
    assert valid(early) == [old_id]  # the key of then, which a bundle of checkpoint 2 is checked under
    assert (late["log_keys"]["block"], late["log_keys"]["anchored"]) == (after, True)
    assert valid(late) == [new_id]
    assert latest["log_keys"]["anchored"] is False and valid(latest) == [new_id]
    for keys_of in (early, late, latest):  # consortium.json's first key, whatever the chain says
        assert keys_of["log_vkey"] == description.suite.format_vkey(origin, old)
        assert keys_of["witness_keys"]["source"] == "chain"
