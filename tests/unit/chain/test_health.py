"""What a node reports about itself (``chain.node.health``): the definitions of in sync and in quorum, missed
proposals, time to finality, ``consortium_nodeStatus`` and ``GET /health``, with a clock the test owns.

The consensus loops are stepped by hand (no thread, no socket): four validators whose messages a list carries
from one to the others, a follower fed later heights' messages and blocks. Time only moves when the test
moves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
import rlp
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address

import chain.node.consensus as consensus_module
from chain.node.consensus import Consensus, ConsensusNode
from chain.node.health import EVIDENCE_TTL_S, Histogram, NodeStatus, SyncEvidence, alone_status, in_quorum
from chain.node.node import Genesis, Node
from chain.node.peers import PeerLinks
from chain.node.rpc import RpcServer
from chain.node.service import Metrics
from chain.qbft import messages as m
from chain.qbft.rules import RoundTimer, proposer
from chain.seal import extra_data
from tests.support.transfers import transfer

WALL = 1_700_000_000
KEYS = sorted((PrivateKey(bytes([i + 1]) * 32) for i in range(4)), key=lambda k: k.public_key.to_canonical_address())
ADDRESSES = tuple(bytes(k.public_key.to_canonical_address()) for k in KEYS)
GENESIS = Genesis(20261, tuple(to_checksum_address(a) for a in ADDRESSES), to_checksum_address(ADDRESSES[0]), WALL)
OPERATOR = Account.from_key(KEYS[0].to_bytes())
STRANGER = PrivateKey(b"\x09" * 32)  # not a validator: a follower's key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def node_at(clock: Clock, genesis: Genesis = GENESIS) -> Node:
    return Node(AtomicDB(), genesis, clock=lambda: WALL + clock.now)


def rpc(server: RpcServer, method: str) -> object:
    answer = server.handle(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode())
    assert answer is not None
    return json.loads(answer)["result"]


# -- the definitions, alone ----------------------------------------------------------------------------------


def test_in_quorum_counts_the_validators_among_connected_peers_and_the_node_itself_if_it_validates() -> None:
    a, b, c, d = ADDRESSES
    assert in_quorum(ADDRESSES, a, [b, c])  # 3 of 4
    assert not in_quorum(ADDRESSES, a, [b])
    assert not in_quorum(ADDRESSES, a, [b, b])  # one validator behind two links counts once
    assert not in_quorum(ADDRESSES, a, [b, bytes(20)])  # a connected follower is no validator
    assert not in_quorum(ADDRESSES, bytes(20), [a, b])  # a follower: its peers alone must hold the quorum
    assert in_quorum(ADDRESSES, bytes(20), [a, b, d])
    assert in_quorum(ADDRESSES, a, [b, None])  # a peer that named no address yet counts as a validator
    assert in_quorum((a,), a, [])  # a set of one: the node itself


def test_sync_evidence_counts_a_head_more_than_one_block_ahead_until_it_is_stale() -> None:
    evidence = SyncEvidence()
    assert evidence.in_sync(0, 0.0) and evidence.ahead(0, 0.0) == 0
    evidence.saw(1, 0.0)
    assert evidence.in_sync(0, 0.0)  # one block: a node that has not seen the last commit yet
    evidence.saw(5, 1.0)
    assert not evidence.in_sync(0, 1.0) and evidence.ahead(0, 1.0) == 5
    assert evidence.in_sync(4, 1.0)  # caught up to within one block: at once
    evidence.saw(2, 2.0)  # a lower head while the higher one is live changes nothing
    assert evidence.ahead(0, 2.0) == 5
    assert not evidence.in_sync(0, 1.0 + EVIDENCE_TTL_S)
    assert evidence.in_sync(0, 1.0 + EVIDENCE_TTL_S + 0.1)  # nobody repeated it
    evidence.saw(3, 20.0)  # once stale, a lower head replaces it
    assert evidence.ahead(0, 20.0) == 3


def test_the_histogram_renders_cumulative_buckets_sum_and_count() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value)
    assert histogram.render("x_seconds", "doc") == [
        "# HELP x_seconds doc",
        "# TYPE x_seconds histogram",
        'x_seconds_bucket{le="0.1"} 2',
        'x_seconds_bucket{le="1"} 3',
        'x_seconds_bucket{le="+Inf"} 4',
        "x_seconds_sum 3.65",
        "x_seconds_count 4",
    ]


NETWORK = NodeStatus(
    head=7, hash=b"\x01" * 32, mode="validator", height=8, round=0, validators=ADDRESSES, peers=4,
    peers_connected=4, in_sync=True, in_quorum=True, round_changes=1, proposed=2, missed_proposals=1, synced=3,
    last_block_age_seconds=0.5, missed_by_proposer=((ADDRESSES[1], 1),),
)  # fmt: skip


def constant(status: NodeStatus) -> Callable[[], NodeStatus]:
    return lambda: status


def test_node_status_is_camel_case_json_and_health_is_503_for_a_network_node_out_of_sync_or_quorum() -> None:
    clock = Clock()
    server = RpcServer(node_at(clock), port=0, status=constant(NETWORK))
    assert rpc(server, "consortium_nodeStatus") == {
        "head": 7, "hash": "0x" + "01" * 32, "mode": "validator", "height": 8, "round": 0,
        "validators": [to_checksum_address(a) for a in ADDRESSES], "peers": 4, "peersConnected": 4,
        "inSync": True, "inQuorum": True, "roundChanges": 1, "proposed": 2, "missedProposals": 1,
        "missedProposalsBy": {to_checksum_address(ADDRESSES[1]): 1}, "synced": 3, "lastBlockAgeSeconds": 0.5,
        "abstaining": False, "abstainedHeights": 0, "signedConflictsRefused": 0,
        "peerWithheld": {"messages": 0, "transactions": 0, "status": 0}, "peerRequestsRefused": 0,
    }  # fmt: skip
    status, body = server.health()
    assert status == 200 and json.loads(body) == {"head": 7, "mode": "validator", "inSync": True, "inQuorum": True}
    for unhealthy in (replace(NETWORK, in_quorum=False), replace(NETWORK, mode="follower", in_sync=False)):
        status, body = RpcServer(node_at(clock), port=0, status=constant(unhealthy)).health()
        assert status == 503 and json.loads(body)["head"] == 7
    alone = replace(NETWORK, mode="alone", in_sync=False, in_quorum=False)  # never made so; alone is always 200
    assert RpcServer(node_at(clock), port=0, status=constant(alone)).health()[0] == 200


def test_metrics_name_each_proposer_that_missed_its_round() -> None:
    text = Metrics(node_at(Clock()), consensus=constant(NETWORK)).render().splitlines()
    name = "consortium_consensus_missed_proposals_by_proposer_total"
    assert f"# TYPE {name} counter" in text
    assert f'{name}{{proposer="{to_checksum_address(ADDRESSES[1])}"}} 1' in text
    assert [line for line in text if line.startswith(name)] == [
        f'{name}{{proposer="{to_checksum_address(ADDRESSES[1])}"}} 1'
    ]


def test_a_node_sealing_alone_is_in_sync_and_in_quorum_with_no_peers_and_its_last_block_ages_on_its_clock() -> None:
    clock = Clock()
    key = KEYS[0]
    genesis = Genesis(20261, (key.public_key.to_checksum_address(),), key.public_key.to_checksum_address(), WALL)
    node = Node(AtomicDB(), genesis, key.to_bytes(), clock=lambda: WALL + clock.now)
    server = RpcServer(node, port=0)  # no status given: the node seals alone
    result = rpc(server, "consortium_nodeStatus")
    assert result == {
        "head": 0, "hash": "0x" + bytes(node.head().hash).hex(), "mode": "alone", "height": 1, "round": None,
        "validators": [key.public_key.to_checksum_address()], "peers": 0, "peersConnected": 0, "inSync": True,
        "inQuorum": True, "roundChanges": 0, "proposed": 0, "missedProposals": 0, "missedProposalsBy": {},
        "synced": 0, "lastBlockAgeSeconds": None,
        "abstaining": False, "abstainedHeights": 0, "signedConflictsRefused": 0,
        "peerWithheld": {"messages": 0, "transactions": 0, "status": 0}, "peerRequestsRefused": 0,
    }  # fmt: skip
    node.submit(transfer(Account.from_key(key.to_bytes()), 0))
    assert node.seal() is not None
    clock.now += 2.5
    status = alone_status(node, proposed=1)
    assert status.head == 1 and status.proposed == 1 and status.healthy
    assert status.last_block_age_seconds == pytest.approx(WALL + clock.now - node.head().timestamp)
    status_code, body = server.health()
    assert status_code == 200 and json.loads(body) == {"head": 1, "mode": "alone", "inSync": True, "inQuorum": True}


# -- a follower's sync, stepped by hand --------------------------------------------------------------------------


def leader_with_blocks(clock: Clock, count: int) -> tuple[Node, list[tuple[int, bytes]]]:
    """A node of a one-validator chain with ``count`` empty blocks, and the messages its loop sent."""
    key = KEYS[0]
    genesis = Genesis(20261, (key.public_key.to_checksum_address(),), key.public_key.to_checksum_address(), WALL)
    node, sent = node_at(clock, genesis), list[tuple[int, bytes]]()
    loop = Consensus(node, key, lambda code, body: sent.append((code, body)), period=1.0, clock=clock,
                     empty_blocks=True)  # fmt: skip
    while node.head().block_number < count:
        loop.step(wait=0)
        clock.now += 0.5
    return node, sent


def fetcher(ahead: Node, at_most: int = 256) -> consensus_module.Fetch:
    def fetch(first: int) -> Sequence[bytes]:
        last = min(int(ahead.head().block_number), first + at_most - 1)
        return [bytes(rlp.encode(ahead.block_by_number(n))) for n in range(first, last + 1)]

    return fetch


def follower_of(ahead: Node, clock: Clock, fetch: consensus_module.Fetch | None = None) -> Consensus:
    return Consensus(node_at(clock, ahead.genesis), STRANGER, lambda code, body: None, clock=clock,
                     fetch=fetch or fetcher(ahead))  # fmt: skip


def test_a_later_heights_message_from_a_validator_is_evidence_until_caught_up_or_stale() -> None:
    clock = Clock()
    ahead, sent = leader_with_blocks(clock, 4)
    behind = follower_of(ahead, clock, fetch=lambda first: [])  # its peers answer no block
    behind.step(wait=0)
    assert behind.in_sync()  # nothing seen yet
    last = m.decode(*sent[-1])
    assert last.height == 4  # a message of height 4: its author is at head 3 at least
    behind.deliver(*sent[-1])
    behind.step(wait=0)
    assert behind.node.head().block_number == 0 and not behind.in_sync()
    clock.now += EVIDENCE_TTL_S + 0.1
    assert behind.in_sync()  # nobody repeated it
    stranger = m.prepare(PrivateKey(b"\x07" * 32), 9, 0, b"\x01" * 32)  # signed, but by no validator
    behind.deliver(*m.encode(stranger))
    behind.step(wait=0)
    assert behind.in_sync()


def test_a_peers_status_ahead_starts_a_catch_up_and_a_full_answer_keeps_it_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consensus_module, "MAX_BLOCKS", 2)
    clock = Clock()
    ahead, _ = leader_with_blocks(clock, 5)
    follower = follower_of(ahead, clock, fetch=fetcher(ahead, at_most=2))
    follower.peer_at(1)
    assert follower.in_sync()  # one block behind
    follower.peer_at(5)
    assert not follower.in_sync()
    heads = []
    for _ in range(4):
        follower.step(wait=0)
        heads.append((int(follower.node.head().block_number), follower.in_sync()))
    # 2 blocks (a full answer: more wait), 2 more (full again), the last one (not full): caught up
    assert heads == [(2, False), (4, False), (5, True), (5, True)]
    assert follower.stats.synced == 5 and follower.stats.finality.count == 0  # fetched, not decided here


# -- four validators stepped by hand: missed proposals and time to finality --------------------------------------


class Four:
    """Four validators' loops; what one sends reaches the others' inboxes, except those that are down."""

    def __init__(self, clock: Clock, down: set[int]) -> None:
        self.clock, self.down = clock, down
        self.nodes = [node_at(clock) for _ in KEYS]
        self.loops = [
            Consensus(node, key, self._sender(i), period=0.5, timer=RoundTimer(base=2.0, cap=8.0), clock=clock)
            for i, (node, key) in enumerate(zip(self.nodes, KEYS, strict=True))
        ]

    def _sender(self, i: int) -> consensus_module.Send:
        def send(code: int, body: bytes) -> None:
            for j, loop in enumerate(self.loops):
                if j != i and j not in self.down:
                    loop.deliver(code, body)

        return send

    def up(self) -> list[Consensus]:
        return [loop for i, loop in enumerate(self.loops) if i not in self.down]

    def run_until_head(self, head: int, step: float = 0.05, limit: float = 20.0) -> None:
        """Each turn every loop up takes one message (or none) and the clock moves by ``step``."""
        end = self.clock.now + limit
        while any(loop.node.head().block_number < head for loop in self.up()):
            assert self.clock.now < end, "no block decided"
            for loop in self.up():
                loop.step(wait=0)
            self.clock.now += step


def test_a_round_whose_proposer_is_down_is_counted_against_it_and_the_next_block_has_its_time_to_finality() -> None:
    clock = Clock()
    first = proposer(ADDRESSES, bytes(20), 0)  # the genesis names no proposer: the first validator above zero
    four = Four(clock, down={ADDRESSES.index(first)})
    for loop in four.up():
        loop.node.submit(transfer(OPERATOR, 0))  # every height starts: each round timer runs
    start = clock.now
    four.run_until_head(1)
    for loop in four.up():
        assert loop.stats.missed_proposals == {first: 1} and loop.stats.missed_proposals_total == 1
        assert loop.stats.round_changes >= 1
        assert loop.stats.finality.count == 1
        histogram = loop.stats.finality.render("f", "d")
        seconds = float(histogram[-2].split()[1])
        assert 0 < seconds < clock.now - start - 2.0  # from round 1's proposal, after round 0's 2 s timer
    assert extra_data(four.nodes[1].head()).round == 1


def test_with_every_proposer_up_nothing_is_missed_and_every_node_observes_its_finality() -> None:
    clock = Clock()
    four = Four(clock, down=set())
    four.nodes[0].submit(transfer(OPERATOR, 0))  # the first proposer has it; the others start on its proposal
    four.run_until_head(1)
    for loop in four.loops:
        assert loop.stats.missed_proposals == {} and loop.stats.finality.count == 1


# -- a member's report ---------------------------------------------------------------------------------------------


def test_a_members_report_counts_the_validators_its_peers_named_and_metrics_show_it() -> None:
    clock = Clock()
    member = ConsensusNode(node_at(clock), KEYS[0], clock=clock)  # never started: no socket
    report = member.report()
    assert report.mode == "validator" and report.peers == 0 and not report.in_quorum and report.in_sync
    assert report.round is None and report.last_block_age_seconds is None
    urls = [f"https://127.0.0.1:{port}" for port in (1, 2, 3, 4)]
    member.links = PeerLinks(urls)  # not started: the test sets what the status probes would have learned
    member.links.connected.update({urls[0]: True, urls[1]: True, urls[3]: True})
    member.links.addresses.update({urls[0]: ADDRESSES[1], urls[1]: bytes(20), urls[2]: ADDRESSES[2]})
    report = member.report()
    assert (report.peers, report.peers_connected) == (4, 3)
    assert report.in_quorum  # itself, ADDRESSES[1], and urls[3] that named no address yet (counted as one)
    member.links.addresses[urls[3]] = bytes(19) + b"\x01"  # it names an address outside the set
    assert not member.report().in_quorum
    assert member.status()["address"] == to_checksum_address(ADDRESSES[0])
    metrics = Metrics(member.node, consensus=member.report, finality=member.consensus.stats.finality)
    text = metrics.render()
    for line in (
        "consortium_consensus_in_quorum 0",
        "consortium_consensus_in_sync 1",
        "consortium_consensus_missed_proposals_total 0",
        'consortium_consensus_finality_seconds_bucket{le="0.05"} 0',
        'consortium_consensus_finality_seconds_bucket{le="+Inf"} 0',
        "consortium_consensus_finality_seconds_count 0",
        "consortium_consensus_peers_connected 3",
        "consortium_chain_head 0",
    ):
        assert line in text.splitlines(), line
    follower = ConsensusNode(node_at(clock), STRANGER, clock=clock)
    assert follower.report().mode == "follower"


def test_what_a_members_links_withheld_from_refused_peers_and_its_server_refused_is_in_its_report_and_metrics() -> None:
    """``PeerLinks.refused`` (by kind) and ``PeerServer.refused`` as the report and ``/metrics`` show them: zeros
    before any link exists, each count as the links and the server left it after."""
    clock = Clock()
    member = ConsensusNode(node_at(clock), KEYS[0], clock=clock)  # never started: no socket
    metrics = Metrics(member.node, consensus=member.report)
    assert "consortium_peer_requests_refused_total 0" in metrics.render().splitlines()
    assert member.report().to_json()["peerWithheld"] == {"messages": 0, "transactions": 0, "status": 0}
    member.links = PeerLinks(["https://127.0.0.1:1"])  # not started: the test sets what refusals would have left
    member.links.refused.update({"messages": 5, "transactions": 2, "status": 7})
    member.server.refused = 3
    report = member.report().to_json()
    assert report["peerWithheld"] == {"messages": 5, "transactions": 2, "status": 7}
    assert report["peerRequestsRefused"] == 3
    text = metrics.render().splitlines()
    assert "# TYPE consortium_peer_withheld_total counter" in text
    assert [line for line in text if line.startswith("consortium_peer_withheld_total")] == [
        'consortium_peer_withheld_total{kind="messages"} 5',
        'consortium_peer_withheld_total{kind="transactions"} 2',
        'consortium_peer_withheld_total{kind="status"} 7',
    ]
    assert "# TYPE consortium_peer_requests_refused_total counter" in text
    assert "consortium_peer_requests_refused_total 3" in text


def test_a_validators_report_says_whether_its_fresh_record_keeps_it_abstaining_and_what_its_record_did() -> None:
    """The record of signed messages (``chain.node.signed``) in the report: abstaining while a fresh record waits
    for its peers' head, not once that head is known (at the genesis it abstains in no height); the counts of
    heights sat out and of conflicting messages refused as the record keeps them. A follower never abstains."""
    clock = Clock()
    member = ConsensusNode(node_at(clock), KEYS[0], clock=clock)  # never started: no socket
    signed = member.consensus.signed
    assert signed.pending and member.report().abstaining  # fresh, its peers' head not known yet
    assert signed.at_head(0)
    report = member.report()
    assert not report.abstaining and (report.abstained_heights, report.signed_conflicts_refused) == (0, 0)
    signed.abstained_heights, signed.replaced = 2, 3  # as a sit-out and refused conflicts leave them
    expected = {"abstaining": False, "abstainedHeights": 2, "signedConflictsRefused": 3}
    assert expected.items() <= member.report().to_json().items()
    follower = ConsensusNode(node_at(clock), STRANGER, clock=clock)
    assert follower.consensus.signed.pending and not follower.report().abstaining
