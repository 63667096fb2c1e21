"""chain.node.signed: what a validator signed is kept in its store before it is sent, so a validator restarted in
the middle of a height sends again what it signed rather than sign a conflicting message: its peers record no
equivocation. The log alone, a property over random messages and restarts, the QBFT machine using it, and a
simulated network in which a validator restarts mid-height (with and without the log)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.node.node import Genesis
from chain.node.service import NEW_DIRECTORY_FILE, STORE_DIR, write_genesis
from chain.node.signed import (
    ABSTAIN_KEY,
    CHECK_KEY,
    INDEX_KEY,
    OWNER_KEY,
    VOUCHED_HEAD,
    SignedLog,
    mark_new,
    prepared_key,
    record_state,
    sealed_alone,
    slot_key,
    vouch,
)
from chain.node.store import StoreError, open_store
from chain.qbft import messages as m
from chain.qbft.evidence import EquivocationDetector, digest_of
from chain.qbft.machine import Broadcast, Height
from chain.qbft.rules import RoundTimer
from tests.unit.chain.qbft.chainlike import Chain, address, keys, make_block
from tests.unit.chain.qbft.sim import Network

KEYS = keys(4)
ME = KEYS[0]
VALIDATORS = tuple(sorted(address(k) for k in KEYS))
BLOCKS = [make_block(bytes(32), h, address(ME), VALIDATORS, payload=bytes([p])) for h in (1, 2, 3) for p in (1, 2)]


def opened(db: AtomicDB | Any) -> SignedLog:
    """The log of a node started on ``db`` at the genesis (a fresh record there does not abstain)."""
    log = SignedLog(db)
    log.load()
    assert log.at_head(0)
    return log


def message(kind: str, height: int, round_: int, variant: int) -> m.Message:
    """One of the four messages ``ME`` signs; ``variant`` 0 or 1 picks one of two conflicting ones."""
    b = BLOCKS[(height - 1) * 2 + variant]
    if kind == "proposal":
        return m.proposal(ME, b.with_round(round_), round_)
    if kind == "prepare":
        return m.prepare(ME, height, round_, b.hash)
    if kind == "commit":
        return m.commit(ME, b, round_)
    if round_ == 0 or variant == 0:
        return m.round_change(ME, height, max(round_, 1))
    prepares = tuple(m.prepare(k, height, 0, b.hash) for k in KEYS[1:])
    return m.round_change(ME, height, round_, (0, b, prepares))


def test_the_first_message_of_a_slot_is_kept_and_a_conflicting_one_is_replaced_by_it_after_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chain"
    first, conflicting = m.prepare(ME, 1, 0, b"\x01" * 32), m.prepare(ME, 1, 0, b"\x02" * 32)
    with open_store(path) as store:
        log = opened(store)
        assert log.keep(first) is first
        assert log.keep(first) is first  # the same again: sent as it is
        assert log.slots() == [(1, 0, int(m.Code.PREPARE))]
    with open_store(path) as store:  # the process restarted: a new log on the same store
        log = opened(store)
        sent = log.keep(conflicting)
        assert sent is not None and m.encode(sent) == m.encode(first) and log.replaced == 1
        counts = log.counts(0)
        assert (counts.resent, counts.conflicts_refused, counts.withheld, counts.abstained) == (1, 1, 0, 0)
        assert log.keep(m.prepare(ME, 1, 1, b"\x02" * 32)) is not None  # another round: its own slot
        assert store[slot_key((1, 0, int(m.Code.PREPARE)))] == m.encode(first)[1]


def test_a_round_change_is_sent_again_with_the_certificate_it_carried() -> None:
    db = AtomicDB()
    log = SignedLog(db)
    prepared = message("round_change", 1, 2, 1)
    assert log.keep(prepared) is prepared
    again = SignedLog(db)
    again.load()
    sent = again.keep(m.round_change(ME, 1, 2))  # forgot its prepared certificate
    assert sent is not None and m.encode(sent) == m.encode(prepared)
    assert isinstance(sent, m.RoundChange) and isinstance(prepared, m.RoundChange)
    assert sent.block == prepared.block and len(sent.prepares) == 3


def test_slots_below_the_height_being_signed_for_are_deleted_in_the_same_batch() -> None:
    db = AtomicDB()
    log = SignedLog(db)
    for kind in ("proposal", "prepare", "commit"):
        log.keep(message(kind, 1, 0, 0))
    log.keep(message("round_change", 1, 1, 0))
    assert len(log.slots()) == 4
    log.keep(message("prepare", 2, 0, 0))
    assert log.slots() == [(2, 0, int(m.Code.PREPARE))]
    assert not any(db.exists(slot_key(s)) for s in [(1, 0, int(m.Code.PROPOSAL)), (1, 1, int(m.Code.ROUND_CHANGE))])
    reloaded = SignedLog(db)
    reloaded.load()
    assert reloaded.slots() == log.slots()


def test_an_unreadable_record_stops_the_start_and_a_refused_write_sends_nothing(tmp_path: Path) -> None:
    db = AtomicDB()
    SignedLog(db).keep(message("prepare", 1, 0, 0))
    db[slot_key((1, 0, int(m.Code.PREPARE)))] = b"\xc0"
    with pytest.raises(StoreError, match="cannot be read"):
        SignedLog(db).load()
    db[INDEX_KEY] = b"garbage"
    with pytest.raises(StoreError, match="cannot be read"):
        SignedLog(db).load()
    store = open_store(tmp_path / "chain")
    log = SignedLog(store)
    store.close()
    assert log.keep(message("prepare", 1, 0, 0)) is None and log.withheld == 1


KIND = st.sampled_from(["proposal", "prepare", "commit", "round_change"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 2), KIND, st.integers(0, 1), st.booleans()), max_size=30))
def test_whatever_is_signed_and_however_often_it_restarts_nothing_sent_conflicts(
    steps: list[tuple[int, int, str, int, bool]],
) -> None:
    """Messages in height order (as a validator signs them), a restart before any of them: what leaves the node,
    fed to a peer's detector, is never evidence, and each slot's first message is the one sent ever after."""
    db = AtomicDB()
    log = SignedLog(db)
    peer = EquivocationDetector()
    first: dict[tuple[int, int, int], bytes] = {}
    for height, round_, kind, variant, restart in sorted(steps, key=lambda s: s[0]):
        if restart:
            log = opened(db)
        signed = message(kind, height, round_, variant)
        sent = log.keep(signed)
        assert sent is not None
        code, body = m.encode(sent)
        slot = (sent.height, sent.round, int(code))
        assert digest_of(sent) == digest_of(m.decode(int(code), first.setdefault(slot, body)))
        assert peer.observe_all(int(code), body, m.decode(int(code), body), 1, VALIDATORS) == []
    assert peer.records == []


def test_a_restarted_proposer_proposes_the_block_it_proposed_before() -> None:
    db = AtomicDB()
    chain = Chain(address(ME), VALIDATORS, payload=b"\x01")
    proposer = next(k for k in KEYS if address(k) == Height(ME, 1, VALIDATORS, bytes(20), chain, now=0).proposer(0))
    chain = Chain(address(proposer), VALIDATORS, payload=b"\x01")

    def machine(payload: bytes) -> tuple[Height, SignedLog]:
        log = opened(db)
        chain.payload = payload
        return Height(proposer, 1, VALIDATORS, bytes(20), chain, now=0.0, timer=RoundTimer(base=60.0), signed=log), log

    before, _ = machine(b"\x01")
    sent = before.tick(0.0)
    after, log = machine(b"\x02")  # restarted: it would build another block
    again = after.tick(0.0)
    assert all(isinstance(a, Broadcast) for a in [*sent, *again])
    assert [m.encode(a.message) for a in again] == [m.encode(a.message) for a in sent]  # type: ignore[union-attr]
    proposal, prepare = (a.message for a in again)  # type: ignore[union-attr]
    assert isinstance(proposal, m.Proposal) and isinstance(prepare, m.Prepare)
    assert prepare.digest == proposal.block.hash and log.replaced == 1  # and it prepares that block


@pytest.mark.parametrize("keep_signed", [False, True])
def test_a_validator_restarted_mid_height_is_recorded_as_equivocating_only_without_the_log(keep_signed: bool) -> None:
    """Every validator prepared round 0's block, its COMMITs lost, and sent a ROUND-CHANGE for round 1 with that
    certificate; one is restarted. Without the log it times out in round 0 again and signs a ROUND-CHANGE for round
    1 without the certificate: each honest peer records it. With the log it starts prepared with the certificate
    kept with its COMMIT, and what it sends agrees with what it sent before."""
    net = Network(4, seed=3, timer=RoundTimer(base=2.0, cap=16.0), keep_signed=keep_signed)
    net.drop = lambda _src, _dst, msg: isinstance(msg, m.Commit) and net.now < 20.0
    restarted = 1
    assert net.run_until(lambda: all(node.machine.round >= 1 for node in net.nodes), until=30.0)
    net.restart(restarted)
    if keep_signed:  # it starts prepared with round 0's certificate again
        assert net.nodes[restarted].machine.prepared is not None
    assert net.run_until(net.all_reach(3), until=120.0), net.heights()
    net.assert_agreement()
    records = [r for node in net.nodes if node.index != restarted for r in node.evidence.records]
    if keep_signed:
        assert records == []
    else:
        assert {(r.validator, r.code, r.height, r.round) for r in records} == {
            (net.nodes[restarted].me, m.Code.ROUND_CHANGE, 1, 1)
        }


def test_a_validator_restarted_after_its_commit_still_carries_its_prepared_certificate() -> None:
    """It prepared and committed round 0's block, then restarted before its round timer expired: the ROUND-CHANGE
    it sends when that timer expires after the restart carries the certificate, not nothing."""
    db = AtomicDB()
    chain = Chain(address(ME), VALIDATORS)
    first = Height(ME, 1, VALIDATORS, bytes(20), chain, now=0.0, timer=RoundTimer(base=2.0), signed=SignedLog(db))
    proposer = next(k for k in KEYS if address(k) == first.proposer(0))
    proposed = Chain(address(proposer), VALIDATORS).create(0)
    first.receive(m.proposal(proposer, proposed, 0), 0.0)
    for key in KEYS:
        if key is not ME:
            first.receive(m.prepare(key, 1, 0, proposed.hash), 0.0)
    assert first.prepared is not None and first.prepared.block.hash == proposed.hash
    log = SignedLog(db)  # restarted
    log.load()
    assert log.prepared(1) is not None and log.prepared(1)[0] == 0  # type: ignore[index]
    after = Height(ME, 1, VALIDATORS, bytes(20), chain, now=10.0, timer=RoundTimer(base=2.0), signed=log)
    (action,) = [a for a in after.tick(12.0) if isinstance(a, Broadcast)]
    rc = action.message
    assert isinstance(rc, m.RoundChange) and rc.round == 1
    assert (rc.prepared_round, rc.prepared_digest) == (0, proposed.hash) and len(rc.prepares) == 3
    log.keep(message("prepare", 2, 0, 0))  # the next height: the certificate is pruned with its slots
    assert log.prepared(1) is None and not db.exists(prepared_key(1))
    again = SignedLog(db)
    again.load()
    assert again.prepared(1) is None


# -- a fresh record abstains ---------------------------------------------------------------------------------------


def test_a_fresh_record_abstains_until_at_the_head_then_through_the_height_in_progress() -> None:
    db = AtomicDB()
    log = SignedLog(db)
    log.load()
    assert log.pending and db[ABSTAIN_KEY] == b""  # written before anything could be signed
    assert log.keep(message("prepare", 2, 0, 0)) is None  # pending: nothing is signed at any height
    restarted = SignedLog(db)
    restarted.load()
    assert restarted.pending  # a restart before the height is fixed stays pending
    assert restarted.at_head(1) and not restarted.pending and restarted.abstain_through == 2
    for round_ in (0, 1, 3):
        for kind in ("proposal", "prepare", "commit", "round_change"):
            assert restarted.keep(message(kind, 2, round_, 0)) is None  # the height in progress, every round
    sent = message("prepare", 3, 0, 0)
    assert restarted.keep(sent) is sent  # the first height that begins after it is at the head
    counts = restarted.counts(2)
    assert (counts.abstained, counts.abstained_heights, counts.abstaining) == (12, 1, 0)
    assert restarted.counts(1).abstaining == 1
    again = SignedLog(db)
    again.load()  # a restart after: the height it abstains through is kept, the record too
    assert not again.pending and again.abstain_through == 2 and again.slots() == [(3, 0, int(m.Code.PREPARE))]
    assert again.keep(message("commit", 2, 2, 0)) is None


def test_the_height_sat_out_counts_once_passed_even_if_nothing_was_asked_of_it_there() -> None:
    """A validator whose peers decide the height it sits out before it is asked to sign anything there (it synced
    the block instead) sat it out all the same: the counter an operator's alarm watches rises once its head is past
    that height, and only once; a height sat out in an earlier life of the process is not counted again."""
    db = AtomicDB()
    log = SignedLog(db)
    log.load()
    assert log.at_head(1) and log.abstain_through == 2
    assert (log.counts(1).abstained_heights, log.counts(1).abstaining) == (0, 1)  # in progress, not passed
    assert (log.counts(2).abstained_heights, log.counts(2).abstaining) == (1, 0)  # decided without it
    sent = message("prepare", 3, 0, 0)
    assert log.keep(sent) is sent
    assert log.counts(9).abstained_heights == 1
    asked = SignedLog(AtomicDB())
    asked.load()
    assert asked.at_head(1) and asked.keep(message("prepare", 2, 0, 0)) is None
    assert asked.counts(1).abstained_heights == 1 and asked.counts(2).abstained_heights == 1  # not twice
    again = SignedLog(db)
    again.load(head=9)  # restarted later: its record is checked against its peers' head, which it is at
    assert again.at_head(9) and again.abstain_through == 2
    assert again.counts(12).abstained_heights == 0


def test_a_record_abstains_neither_at_the_genesis_nor_when_the_store_holds_one() -> None:
    genesis = SignedLog(AtomicDB())
    genesis.load()
    assert genesis.at_head(0) and genesis.abstain_through == 0  # every validator of a new consortium is fresh
    sent = message("prepare", 1, 0, 0)
    assert genesis.keep(sent) is sent
    db = AtomicDB()
    SignedLog(db).keep(message("prepare", 2, 0, 0))  # a store written before abstaining existed: a record
    assert db.exists(INDEX_KEY) and not db.exists(ABSTAIN_KEY)
    kept = SignedLog(db)
    kept.load()
    assert not kept.pending and kept.abstain_through == 0
    assert kept.keep(message("prepare", 2, 1, 0)) is not None


def test_an_unreadable_abstain_height_stops_the_start() -> None:
    db = AtomicDB()
    db[ABSTAIN_KEY] = b"\x01\x02"
    with pytest.raises(StoreError, match="abstains through"):
        SignedLog(db).load()


def test_a_validator_wiped_mid_height_signs_nothing_there_and_votes_from_the_next() -> None:
    """Three blocks decided; at height 4 every validator prepared round 0's block, its COMMITs lost, and sent a
    ROUND-CHANGE for round 1 with that certificate. One is stopped and restarted on a wiped directory: it syncs
    the three blocks and, its record fresh, signs nothing more at height 4, in any round (without the rule it times
    out in round 0 again and signs a ROUND-CHANGE for round 1 without the certificate, which its peers record as
    an equivocation). The other three decide height 4; it votes from height 5, and the chain goes on."""
    net = Network(4, seed=3, timer=RoundTimer(base=2.0, cap=16.0), keep_signed=True)
    wiped = 1
    assert net.run_until(net.all_reach(3), until=60.0)
    height, lost_until = 4, net.now + 20.0
    net.drop = lambda _src, _dst, msg: isinstance(msg, m.Commit) and msg.height == height and net.now < lost_until
    sent: list[m.Message] = []
    broadcast = net.broadcast

    def recording(src: int, msg: m.Message) -> None:
        if src == wiped:
            sent.append(msg)
        broadcast(src, msg)

    net.broadcast = recording  # type: ignore[method-assign,assignment]
    assert net.run_until(lambda: all(n.machine.height == height and n.machine.round >= 1 for n in net.nodes),
                         until=net.now + 30.0)  # fmt: skip
    before = {(msg.height, msg.round, type(msg).__name__) for msg in sent if msg.height == height}
    assert ("RoundChange", 1) in {(kind, round_) for _, round_, kind in before}  # it signed in rounds 0 and 1
    net.stop(wiped)
    restarted_at = len(sent)  # what it sends from here on, it sends after the restart
    net.restart(wiped, wipe=True)
    back = net.now
    log = net.nodes[wiped].signed
    assert log is not None and net.nodes[wiped].chain.head.number == height - 1
    assert log.abstain_through == height  # fixed at the head its peers show: the height in progress
    assert net.run_until(net.all_reach(height + 3), until=back + 120.0), net.heights()
    net.assert_agreement()
    assert [r for node in net.nodes if node.index != wiped for r in node.evidence.records] == []  # no evidence
    after = sent[restarted_at:]
    assert [msg for msg in after if msg.height <= height] == []  # nothing at the height it was voting in
    assert any(isinstance(msg, m.Commit) and msg.height == height + 1 for msg in after)  # it votes at the next
    me = net.nodes[wiped].me
    # a block decided after it came back holds its seal or was its proposal (a block keeps the first quorum's seals)
    assert any(me in b.committers() or b.proposer == me for b in net.nodes[0].chain.blocks[height + 1 :])
    assert log.abstained_heights == 1 and log.abstained >= 1


def test_a_new_chain_directory_starts_with_an_empty_record_and_a_wiped_store_with_none(tmp_path: Path) -> None:
    genesis = Genesis(20261, tuple(k.public_key.to_checksum_address() for k in KEYS), "0x" + "00" * 20, 0)
    directory = tmp_path / "chain"
    write_genesis(directory, genesis, "op")
    assert (directory / NEW_DIRECTORY_FILE).exists()  # made now: its node has signed nothing
    new = AtomicDB()
    mark_new(new)
    log = SignedLog(new)
    log.load()
    assert not log.pending and log.abstain_through == 0
    (directory / STORE_DIR).mkdir()
    (directory / NEW_DIRECTORY_FILE).unlink()  # consumed by the first start
    write_genesis(directory, genesis, "op")  # written again over a directory with a store: not new
    assert not (directory / NEW_DIRECTORY_FILE).exists()
    write_genesis(tmp_path / "joined", genesis, "op", new=False)  # by a node as it starts: maybe on a wiped one
    assert not (tmp_path / "joined" / NEW_DIRECTORY_FILE).exists()
    pending = AtomicDB()
    SignedLog(pending).load()
    mark_new(pending)  # a fresh record stays fresh
    again = SignedLog(pending)
    again.load()
    assert again.pending


# -- a record behind its peers abstains ----------------------------------------------------------------------------


def copy_of(db: AtomicDB) -> AtomicDB:
    """A backup of ``db`` as it is now (the data directory copied aside)."""
    return AtomicDB(MemoryDB(dict(db.wrapped_db.kv_store)))  # type: ignore[attr-defined]


def test_a_record_restored_from_a_backup_abstains_through_its_peers_head_and_one_kept_current_votes() -> None:
    """The validator signs at height 1, its store is copied (a backup, head 0), and it goes on to commit there and
    prepare at height 2 (block 1 decided). Restored from the copy, its record lacks both; its store's head (0) is
    below its peers' (1), so it signs nothing at height 2 (nor before the check) and votes from height 3. The same
    store kept (not restored) holds head 1, as its peers do: it votes at once, and what it signed at height 2 is sent
    again instead of a conflicting message."""
    me = address(ME)
    db = AtomicDB()
    first = SignedLog(db, me)
    first.load(head=0)
    assert first.pending and db[ABSTAIN_KEY] == b""  # fresh: its first start
    assert first.at_head(0) and first.abstain_through == 0
    restart = SignedLog(db, me)
    restart.load(head=0)
    assert restart.pending and db[CHECK_KEY] == (0).to_bytes(8, "big")  # kept before anything is signed
    assert restart.at_head(0) and not db.exists(CHECK_KEY)
    first = restart
    assert first.keep(message("prepare", 1, 0, 0)) is not None
    backup = copy_of(db)
    assert first.keep(message("commit", 1, 0, 0)) is not None
    signed_at_2 = message("prepare", 2, 0, 0)
    assert first.keep(signed_at_2) is signed_at_2

    restored = SignedLog(backup, me)
    restored.load(head=0)  # the backup's chain: head 0
    assert restored.pending and restored.keep(message("prepare", 2, 0, 1)) is None  # not checked yet: nothing
    assert restored.counts(0).abstaining == 0  # waiting for its peers' head is not counted as sitting out
    again = SignedLog(backup, me)
    again.load(head=1)  # restarted after syncing block 1, before the check: the first start's head counts
    assert again.since == 0
    assert again.at_head(1) and again.abstain_through == 2 and again.counts(1).abstaining == 1
    for round_ in (0, 1):
        for kind in ("proposal", "prepare", "commit", "round_change"):
            assert again.keep(message(kind, 2, round_, 1)) is None  # the height in progress: every round
    assert again.keep(message("prepare", 3, 0, 0)) is not None  # the first height after it knew its peers' head

    kept = SignedLog(db, me)
    kept.load(head=1)
    assert kept.pending and kept.at_head(1) and kept.abstain_through == 0
    sent = kept.keep(message("prepare", 2, 0, 1))
    assert sent is not None and digest_of(sent) == digest_of(signed_at_2)  # the one signed before, not the other
    assert kept.counts(1).abstaining == 0


def test_a_record_of_another_account_is_dropped_and_taken_as_fresh() -> None:
    """A store copied from another node holds that node's record: worth nothing to this validator."""
    other = address(KEYS[1])
    db = AtomicDB()
    log = SignedLog(db, address(ME))
    log.load(head=0)
    assert log.at_head(0)
    assert log.keep(message("prepare", 2, 0, 0)) is not None
    copied = SignedLog(copy_of(db), other)
    copied.load(head=1)
    assert copied.pending and copied.since == 0 and copied.slots() == []  # fresh: ME's messages are not its own
    assert copied.at_head(1) and copied.abstain_through == 2
    unowned = copy_of(db)
    del unowned[OWNER_KEY]  # a store from before the owner was kept: its messages' author tells
    stranger = SignedLog(unowned, other)
    stranger.load(head=1)
    assert stranger.pending and stranger.slots() == [] and unowned[OWNER_KEY] == other


def test_a_new_directory_is_checked_from_block_1() -> None:
    """``consortium init``'s store votes at once if its peers decided block 1 at most, and sits out a height if they
    are further on (a backup of that store restored later looks the same)."""
    for peers, through in ((0, 0), (1, 0), (2, 3)):
        db = AtomicDB()
        mark_new(db)
        log = SignedLog(db, address(ME))
        log.load(head=0)
        assert log.pending and log.at_head(peers) and log.abstain_through == through


def test_blocks_a_node_sealed_alone_count_as_its_own_and_a_lone_validator_votes_at_its_first_qbft_start() -> None:
    """``consortium init`` of a consortium whose first blocks are transactions (a registry and contracts deployed
    by a node sealing alone) leaves a store at block 29, marked new. Its first start by QBFT must vote: the blocks
    are its own, and a validator alone in its set (its peers' head is its own) that sat out height 30 would stall
    the chain for good. A store that sealed nothing alone keeps its check from block 1."""
    for sealed, through in ((True, 0), (False, 30)):
        db = AtomicDB()
        mark_new(db)
        if sealed:
            sealed_alone(db, 29)
            sealed_alone(db, 3)  # a later, lower head never moves the check back
        log = SignedLog(db, address(ME))
        log.load(head=29)
        assert log.pending and log.at_head(29) and log.abstain_through == through


def test_sealing_alone_leaves_a_store_without_a_pending_check_alone() -> None:
    """A store with no check pending (checked, or a record that never had one) is not written."""
    db = AtomicDB()
    sealed_alone(db, 29)
    assert not db.exists(CHECK_KEY)
    db[CHECK_KEY] = b"\x01"
    with pytest.raises(StoreError, match="checked from cannot be read"):
        sealed_alone(db, 29)


# -- the operator ends a sit-out -----------------------------------------------------------------------------------


def test_a_vouched_record_votes_at_its_next_start_whatever_its_peers_head_and_is_checked_again_after() -> None:
    """Two validators of four sitting out one height stall it for good. Vouched for (``consortium chain
    vote-again``, the node stopped), a record behind its peers votes at its next start in the height it would have
    sat out, and sends again what it kept; the start after that is checked against its peers as any."""
    me = address(ME)
    db = AtomicDB()
    first = SignedLog(db, me)
    first.load(head=0)
    assert first.at_head(0)
    signed = message("prepare", 1, 0, 0)
    assert first.keep(signed) is signed
    behind = SignedLog(db, me)
    behind.load(head=0)
    assert behind.at_head(2) and behind.abstain_through == 3  # its peers decided blocks 1 and 2 meanwhile
    assert record_state(db) == type(record_state(db))((1,), False, 3, None)

    before = vouch(db)
    assert (before.abstain_through, before.heights, before.vouched) == (3, (1,), False)
    assert record_state(db).vouched and record_state(db).abstain_through == 0
    vouched = SignedLog(db, me)
    vouched.load(head=2)
    assert vouched.pending and vouched.since == VOUCHED_HEAD  # still waits for its peers' statuses
    assert vouched.at_head(2) and vouched.abstain_through == 0 and not db.exists(CHECK_KEY)
    assert vouched.keep(message("prepare", 3, 0, 0)) is not None  # the height it would have sat out
    assert vouched.counts(2).abstaining == 0
    again = SignedLog(db, me)
    again.load(head=2)  # the next start: checked against its peers' head again
    assert again.at_head(3) and again.abstain_through == 4


def test_vouching_for_a_fresh_store_or_another_accounts_record() -> None:
    """A store without a record votes at its next start once vouched for; a record of another account (a copied
    store) is still dropped and taken as fresh: the vouching was for a record, not for that one."""
    fresh = AtomicDB()
    assert record_state(fresh).fresh and vouch(fresh).fresh
    log = SignedLog(fresh, address(ME))
    log.load(head=7)
    assert log.at_head(7) and log.abstain_through == 0
    copied = AtomicDB()
    mine = SignedLog(copied, address(ME))
    mine.load(head=0)
    assert mine.at_head(0) and mine.keep(message("prepare", 2, 0, 0)) is not None
    vouch(copied)
    other = SignedLog(copied, address(KEYS[1]))
    other.load(head=1)
    assert other.pending and other.since == 0 and other.at_head(1) and other.abstain_through == 2
