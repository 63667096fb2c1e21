"""Equivocation evidence in the node: chain.node.consensus keeps it where it decodes peers' messages, the JSON-RPC
answers it (``qbft_getEquivocations``) and ``/metrics`` counts it per validator; the node's store keeps it
(``chain.node.equivocations``), so the same answer comes back after the store is closed and opened again. Stepped
by hand, in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
from eth.abc import AtomicDatabaseAPI
from eth.db.atomic import AtomicDB
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

from chain.node.consensus import Consensus
from chain.node.equivocations import INDEX_KEY, record_key
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from chain.node.service import Metrics
from chain.node.store import StoreError, open_store
from chain.qbft import messages as m
from chain.qbft.block import QbftBlock
from chain.qbft.evidence import Equivocation, verify_equivocation
from chain.qbft.rules import RoundTimer, proposer
from tests.unit.chain.qbft.chainlike import make_block

KEYS = [PrivateKey(bytes([i]) * 32) for i in (1, 2, 3, 4)]
STRANGER = PrivateKey(b"\x09" * 32)
ADDRESSES = tuple(k.public_key.to_checksum_address() for k in KEYS)
GENESIS = Genesis(20261, ADDRESSES, ADDRESSES[0], 1_700_000_000)
BY_ADDRESS = {k.public_key.to_canonical_address(): k for k in KEYS}
PROPOSER = BY_ADDRESS[proposer(sorted(BY_ADDRESS), b"\0" * 20, 0)]
ME = next(k for k in KEYS if k is not PROPOSER)


def validator() -> Consensus:
    """Validator ``ME`` at height 1 of a four-validator chain, its clock fixed (nothing times out)."""
    node = Node(AtomicDB(), GENESIS, clock=lambda: 1_700_000_100)
    return Consensus(node, ME, lambda _code, _body: None, timer=RoundTimer(base=60.0, cap=60.0), clock=lambda: 100.0)


def deliver(consensus: Consensus, *messages: m.Message) -> None:
    for message in messages:
        assert consensus.deliver(*m.encode(message))
        consensus.step(wait=0)


def block(payload: bytes) -> object:
    validators = tuple(sorted(BY_ADDRESS))
    return make_block(bytes(32), 1, PROPOSER.public_key.to_canonical_address(), validators, payload=payload)


def test_an_equivocating_proposer_yields_exactly_one_record_naming_it() -> None:
    consensus = validator()
    one, two = block(b"one"), block(b"two")
    proposals = [m.proposal(PROPOSER, one, 0), m.proposal(PROPOSER, two, 0)]  # type: ignore[arg-type]
    deliver(consensus, *proposals, proposals[0], proposals[1])  # each twice: repeats add nothing
    records = consensus.equivocations.records
    assert len(records) == 1 and consensus.stats.last_error == ""
    (record,) = records
    assert record.code == m.Code.PROPOSAL and (record.height, record.round) == (1, 0)
    assert record.first == m.encode(proposals[0])[1] and record.second == m.encode(proposals[1])[1]
    assert verify_equivocation(record, BY_ADDRESS) == PROPOSER.public_key.to_canonical_address()
    assert consensus.equivocations.counts == {PROPOSER.public_key.to_canonical_address(): 1}


def test_a_later_heights_messages_count_and_strangers_stale_and_garbage_do_not() -> None:
    consensus = validator()
    deliver(
        consensus,
        m.prepare(STRANGER, 1, 0, b"\x01" * 32),
        m.prepare(STRANGER, 1, 0, b"\x02" * 32),  # not a validator
        m.prepare(KEYS[2], 1, 0, b"\x01" * 32),
        m.prepare(KEYS[2], 1, 0, b"\x01" * 32),  # the same message again
        m.prepare(KEYS[3], 0, 0, b"\x01" * 32),
        m.prepare(KEYS[3], 0, 0, b"\x02" * 32),  # a past height
    )
    for body in (b"garbage", b"\xc0"):
        consensus.deliver(int(m.Code.PREPARE), body)
        consensus.step(wait=0)
    assert consensus.equivocations.records == []
    deliver(consensus, m.prepare(KEYS[3], 3, 0, b"\x01" * 32), m.prepare(KEYS[3], 3, 0, b"\x02" * 32))
    assert [r.height for r in consensus.equivocations.records] == [3]  # a later height, kept while buffered


def test_the_json_rpc_answers_the_records_and_the_metrics_count_them() -> None:
    consensus = validator()
    deliver(consensus, m.prepare(KEYS[2], 1, 0, b"\x01" * 32), m.prepare(KEYS[2], 1, 0, b"\x02" * 32))
    server = RpcServer(consensus.node, equivocations=lambda: tuple(consensus.equivocations.records))
    request = {"jsonrpc": "2.0", "id": 1, "method": "qbft_getEquivocations", "params": []}
    answer = server.handle(json.dumps(request).encode())
    assert answer is not None
    (listed,) = json.loads(answer)["result"]
    culprit = KEYS[2].public_key.to_canonical_address()
    assert listed["validator"] == to_checksum_address(culprit) and listed["type"] == "PREPARE"
    assert verify_equivocation(Equivocation.from_json(listed)) == culprit
    alone = RpcServer(consensus.node).handle(json.dumps(request).encode())
    assert alone is not None and json.loads(alone)["result"] == []
    metrics = Metrics(consensus.node, equivocations=lambda: dict(consensus.equivocations.counts))
    line = f'consortium_consensus_equivocations_total{{validator="{to_checksum_address(culprit)}"}} 1'
    assert line in metrics.render().splitlines()


# -- kept in the node's store -----------------------------------------------------------------------------------


def validator_on(store: AtomicDatabaseAPI) -> Consensus:
    node = Node(store, GENESIS, clock=lambda: 1_700_000_100)
    return Consensus(node, ME, lambda _code, _body: None, timer=RoundTimer(base=60.0, cap=60.0), clock=lambda: 100.0)


def answer(consensus: Consensus) -> list[dict[str, object]]:
    server = RpcServer(consensus.node, equivocations=lambda: tuple(consensus.equivocations.records))
    request = {"jsonrpc": "2.0", "id": 1, "method": "qbft_getEquivocations", "params": []}
    raw = server.handle(json.dumps(request).encode())
    assert raw is not None
    result: list[dict[str, object]] = json.loads(raw)["result"]
    return result


@pytest.mark.parametrize("kind", ["lmdb", "sqlite"])
def test_the_evidence_survives_closing_and_reopening_the_store(tmp_path: Path, kind: str) -> None:
    culprit, other = KEYS[2], KEYS[3]
    one = cast(QbftBlock, block(b"one"))
    prepared = (0, one, tuple(m.prepare(k, 1, 0, one.hash) for k in KEYS[:3]))
    conflicts: list[m.Message] = [
        m.prepare(culprit, 1, 0, b"\x01" * 32), m.prepare(culprit, 1, 0, b"\x02" * 32),
        m.round_change(other, 1, 1), m.round_change(other, 1, 1, prepared),
    ]  # fmt: skip
    with open_store(tmp_path / "chain", kind) as store:
        consensus = validator_on(store)
        deliver(consensus, *conflicts)
        before = answer(consensus)
        counts = dict(consensus.equivocations.counts)
    assert [r["type"] for r in before] == ["PREPARE", "ROUND_CHANGE"]
    with open_store(tmp_path / "chain", kind) as store:
        again = validator_on(store)
        assert answer(again) == before and again.equivocations.counts == counts
        deliver(again, *conflicts)  # the same conflicts seen again after the restart: nothing new
        assert answer(again) == before and again.equivocations.counts == counts
        deliver(again, m.commit(culprit, block(b"one"), 0), m.commit(culprit, block(b"two"), 0))  # type: ignore[arg-type]
        after = answer(again)
    assert after[:2] == before and after[2]["type"] == "COMMIT" and len(after) == 3
    with open_store(tmp_path / "chain", kind) as store:
        third = validator_on(store)
        assert answer(third) == after
        assert third.equivocations.counts == {culprit.public_key.to_canonical_address(): 2,
                                              other.public_key.to_canonical_address(): 1}  # fmt: skip
        for record in answer(third):
            verify_equivocation(Equivocation.from_json(record), BY_ADDRESS)


def test_messages_inside_a_round_changes_certificate_are_evidence_kept_in_the_store(tmp_path: Path) -> None:
    culprit, carrier = KEYS[2], KEYS[3]
    one = cast(QbftBlock, block(b"one"))
    certificate = tuple(m.prepare(k, 1, 0, one.hash) for k in KEYS[:3])  # the culprit's PREPARE for `one` in it
    direct = m.prepare(culprit, 1, 0, b"\x02" * 32)
    with open_store(tmp_path / "chain") as store:
        consensus = validator_on(store)
        deliver(consensus, direct, m.round_change(carrier, 1, 1, (0, one, certificate)))
        (record,) = answer(consensus)
    assert record["type"] == "PREPARE" and record["validator"] == culprit.public_key.to_checksum_address()
    assert record["first"] == "0x" + m.encode(direct)[1].hex()
    assert record["second"] == "0x" + m.signed_body(certificate[2]).hex()  # the inner message as received
    with open_store(tmp_path / "chain") as store:
        (again,) = answer(validator_on(store))
    assert again == record
    assert verify_equivocation(Equivocation.from_json(again), BY_ADDRESS) == culprit.public_key.to_canonical_address()


def test_evidence_the_store_cannot_read_stops_the_node_at_start_and_is_left_as_it_is(tmp_path: Path) -> None:
    with open_store(tmp_path / "chain") as store:
        consensus = validator_on(store)
        deliver(consensus, m.prepare(KEYS[2], 1, 0, b"\x01" * 32), m.prepare(KEYS[2], 1, 0, b"\x02" * 32))
        kept = store[record_key(0)]
        store[record_key(0)] = kept[:-1]  # a torn record (a disk fault: a batch is all or nothing)
    with open_store(tmp_path / "chain") as store:
        with pytest.raises(StoreError, match="equivocation evidence in the store cannot be read"):
            validator_on(store)
        assert store[record_key(0)] == kept[:-1]  # nothing overwritten
        del store[record_key(0)]
        with pytest.raises(StoreError, match="record 0 of 1 is missing"):
            validator_on(store)
        store[INDEX_KEY] = b"\x01\x02"
        with pytest.raises(StoreError, match="not an equivocation index"):
            validator_on(store)
