"""Four validators agree by QBFT over real sockets with mutual TLS (``chain.node.consensus``, ``chain.node.peers``).

Each validator is a real node with its own store, its consensus loop in its own thread, its peer server on
loopback requiring a client certificate from the consortium's CA, and links to the three others. Time is real
(short block period, round timers and status interval); every wait is on a condition with a deadline. After
each scenario the nodes hold the same chain and ``verify_chain`` is clean on every store.

The health scenarios add a follower (a node whose account is not a validator, as the regulator's) and give each
node its JSON-RPC server with ``consortium_nodeStatus``, ``GET /health`` and ``GET /metrics`` wired as
``consortium node`` wires them (``chain.node.service.run``).

The last scenario puts the consortium's contracts on a validator's chain and has it follow their TrustDirectory as
``consortium node`` does: a firm admitted by governance, its node served and sent to, then removed by governance:
refused, and sent nothing more though its URL was given as a static peer.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_typing import BlockNumber
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.backend import ClientTls, RpcBackend
from chain.contracts.trust import KeyKind, TrustDirectoryClient
from chain.ids import Role
from chain.node.consensus import ConsensusNode
from chain.node.node import Genesis, Node
from chain.node.peerauth import NodeCertificates
from chain.node.peerfollow import PeerFollower
from chain.node.peers import EQUIVOCATIONS_PATH
from chain.node.rpc import RpcServer
from chain.node.service import Metrics, PeerSettings, follow_directory
from chain.node.signed import mark_new
from chain.node.verify import verify_chain
from chain.qbft.rules import RoundTimer, proposer
from chain.seal import extra_data, seal_signers
from chain.trustview import load_snapshot
from chain.tx import Signer
from network.equivocationsources import chain_sources
from tests.support.consortium import Keys, deploy_test_consortium
from tests.support.tls_pki import Pki, make_pki, member_name
from tests.support.transfers import transfer as support_transfer
from tests.support.wait import wait_until

CHAIN_ID = 20261
KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(4)]
VALIDATORS = tuple(k.public_key.to_checksum_address() for k in KEYS)
GENESIS = Genesis(CHAIN_ID, VALIDATORS, VALIDATORS[0], int(time.time()))
OPERATOR = Account.from_key(KEYS[0].to_bytes())
FOLLOWER = PrivateKey(b"\x09" * 32)  # not in the validator set: the regulator's node


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    # real TLS handshakes: OpenSSL checks the certificates' validity at the machine's time
    return make_pki(tmp_path_factory.mktemp("pki"), 5, now=datetime.now(UTC))


class Network:
    """Four validators, and with ``follower`` a fifth node that follows; with ``rpc`` each node's JSON-RPC."""

    def __init__(self, pki: Pki, follower: bool = False, rpc: bool = False) -> None:
        self.pki, self.with_rpc = pki, rpc
        self.keys = [*KEYS, FOLLOWER] if follower else list(KEYS)
        self.members: list[ConsensusNode | None] = [None] * len(self.keys)
        self.servers: list[RpcServer | None] = [None] * len(self.keys)
        self.ports = [0] * len(self.keys)
        for i in range(len(self.keys)):
            store = AtomicDB()
            mark_new(store)  # as a directory made by `consortium init`: its first start does not abstain
            self.start(i, Node(store, GENESIS))
        self.connect()

    def start(self, i: int, node: Node) -> ConsensusNode:
        member = ConsensusNode(
            node, self.keys[i], port=self.ports[i], server_ssl=self.pki.server(i), client_ssl=self.pki.client(i),
            certificates=self.pki.rule(), period=0.2, timer=RoundTimer(base=1.0, cap=4.0), status_interval=0.2,
        )  # fmt: skip
        member.start()
        self.ports[i] = member.server.port
        self.members[i] = member
        if self.with_rpc:
            metrics = Metrics(node, consensus=member.report, finality=member.consensus.stats.finality)
            server = RpcServer(node, port=0, metrics=metrics.render, status=member.report)
            server.start()
            self.servers[i] = server
        return member

    def connect(self, only: int | None = None) -> None:
        urls = [f"https://127.0.0.1:{p}" for p in self.ports]
        for i, member in enumerate(self.members):
            if member is not None and (only is None or only == i):
                member.connect(urls)

    def stop(self, i: int) -> None:
        member = self.members[i]
        assert member is not None
        member.stop()
        self.members[i] = None
        server = self.servers[i]
        if server is not None:
            server.stop()
            self.servers[i] = None

    def running(self) -> list[ConsensusNode]:
        return [m for m in self.members if m is not None]

    def close(self) -> None:
        for i, member in enumerate(self.members):
            if member is not None:
                self.stop(i)

    def server(self, i: int) -> RpcServer:
        server = self.servers[i]
        assert server is not None
        return server

    def head(self, i: int) -> int:
        member = self.members[i]
        assert member is not None
        return int(member.node.head().block_number)

    def assert_one_chain(self) -> int:
        nodes = [m.node for m in self.running()]
        height = min(int(n.head().block_number) for n in nodes)
        for number in range(height + 1):
            hashes = {bytes(n.chain.get_canonical_block_hash(BlockNumber(number))) for n in nodes}
            assert len(hashes) == 1, f"the nodes disagree at block {number}"
        for node in nodes:
            assert verify_chain(node.db).head == node.head().block_number
        return height


def transfer(nonce: int) -> bytes:
    return support_transfer(OPERATOR, nonce, CHAIN_ID)


@pytest.fixture
def network(pki: Pki) -> Iterator[Network]:
    net = Network(pki)
    yield net
    net.close()


@pytest.fixture
def watched(pki: Pki) -> Iterator[Network]:
    """Four validators and a follower, each with its JSON-RPC server."""
    net = Network(pki, follower=True, rpc=True)
    yield net
    net.close()


def _on_every_node(network: Network, count: int) -> Callable[[], bool]:
    return lambda: all(_included(m.node, count) for m in network.running())


def _included(node: Node, count: int) -> bool:
    return node.nonce(bytes.fromhex(OPERATOR.address[2:])) >= count


def test_four_validators_agree_over_mutual_tls_and_transactions_reach_the_proposer(network: Network) -> None:
    first = network.members[2]
    assert first is not None
    for nonce in range(3):
        first.node.submit(transfer(nonce))  # to one node: gossip takes it to whoever proposes
    wait_until(_on_every_node(network, 3), "3 transactions on every node", 30)
    assert network.assert_one_chain() >= 1
    for member in network.running():
        assert member.consensus.stats.garbage == 0 and not member.node.mempool.pending
    head = network.running()[0].node.head()
    assert len(set(seal_signers(head)) & {bytes(k.public_key.to_canonical_address()) for k in KEYS}) >= 3
    # an idle consortium makes no blocks: once every loop has let its time act two block periods on, no height
    # runs, nobody proposed, and the chain is where it was
    proposed = sum(m.consensus.stats.proposed for m in network.running())
    due = [(m.consensus, m.consensus.clock() + 2 * m.consensus.period) for m in network.running()]
    wait_until(lambda: all(c.stats.last_tick_at >= at for c, at in due), "two block periods of idle turns", 10)
    assert all(c.machine is None for c, _ in due)
    assert sum(m.consensus.stats.proposed for m in network.running()) == proposed
    assert network.assert_one_chain() == int(head.block_number)


def test_a_connection_without_a_member_certificate_is_refused(network: Network, pki: Pki) -> None:
    port = network.ports[0]
    stranger = http.client.HTTPSConnection("127.0.0.1", port, context=pki.client(None), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        stranger.request("GET", "/qbft/v1/status")
        stranger.getresponse().read()
    member = http.client.HTTPSConnection("127.0.0.1", port, context=pki.client(1), timeout=5)
    member.request("GET", "/qbft/v1/status")
    answer = member.getresponse()
    assert answer.status == 200 and b'"validator": true' in answer.read()


def test_one_of_four_down_keeps_deciding_and_a_wiped_node_syncs_and_votes_again(network: Network) -> None:
    network.stop(3)
    for nonce in range(2):
        network.running()[0].node.submit(transfer(nonce))
    wait_until(_on_every_node(network, 2), "blocks with 1 of 4 down", 30)
    network.assert_one_chain()
    fresh = network.start(3, Node(AtomicDB(), GENESIS))  # same port, an empty store
    network.connect(only=3)
    before = int(network.running()[0].node.head().block_number)
    network.running()[0].node.submit(transfer(2))
    wait_until(lambda: _included(fresh.node, 3), "the wiped node to sync and follow", 30)
    assert fresh.consensus.stats.synced >= before
    # its record was fresh: it sat out the height in progress once it held its peers' head (chain.node.signed)
    assert fresh.consensus.signed.abstain_through >= before + 1
    me = bytes(KEYS[3].public_key.to_canonical_address())
    for nonce in range(3, 8):  # it votes again: its commit seals appear in the blocks decided after it is back
        network.running()[0].node.submit(transfer(nonce))
        wait_until(_on_every_node(network, nonce + 1), f"transaction {nonce} on every node", 30)
        if me in seal_signers(fresh.node.head()):
            break
    else:
        pytest.fail("the restarted node's seal is in none of the blocks decided after it came back")
    network.assert_one_chain()


def test_the_peer_routes_refuse_what_they_cannot_use(network: Network, pki: Pki) -> None:
    def ask(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        connection = http.client.HTTPSConnection("127.0.0.1", network.ports[0], context=pki.client(1), timeout=5)
        connection.request(method, path, body, headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()

    assert ask("GET", "/qbft/v1/nowhere")[0] == 404
    assert ask("POST", "/qbft/v1/nowhere", b"x")[0] == 404
    assert ask("GET", "/qbft/v1/blocks?from=x")[0] == 400
    assert ask("GET", "/qbft/v1/blocks?from=0")[0] == 400
    assert ask("GET", "/qbft/v1/blocks?from=1") == (200, b"\xc0")  # no block yet: an empty list
    assert ask("POST", "/qbft/v1/message", b"")[0] == 400
    assert ask("POST", "/qbft/v1/message", b"x", {"Content-Length": str(2**40)})[0] == 413
    status, body = ask("POST", "/qbft/v1/transaction", b"not a transaction")
    assert status == 400 and b"not a valid signed transaction" in body
    # a nonce a little ahead is held for the blocks before it (they may not have reached this node yet)
    assert ask("POST", "/qbft/v1/transaction", transfer(5))[0] == 202
    status, body = ask("POST", "/qbft/v1/transaction", transfer(500))  # far ahead: refused, with the reason
    assert status == 400 and b"nonce 500 is not the next nonce 0" in body
    assert ask("POST", "/qbft/v1/message", b"\x13garbage")[0] == 202  # queued; the loop decodes and drops it
    member = network.members[0]
    assert member is not None
    wait_until(lambda: member.consensus.stats.garbage == 1, "the garbage message counted", 10)
    assert member.node.head().block_number == 0 and not member.node.mempool.pending
    assert [tx.nonce for tx in member.node.mempool.held.values()] == [5]


def test_two_of_four_down_stalls_and_blocks_resume_when_one_is_back(network: Network) -> None:
    network.stop(2)
    network.stop(3)
    first = network.members[0]
    assert first is not None
    first.node.submit(transfer(0))
    # over two round timers: no quorum of 3 can form with 2 validators
    wait_until(lambda: first.consensus.stats.round_changes >= 2, "two round changes with 2 of 4 up", 30)
    assert all(m.node.head().block_number == 0 for m in network.running())
    back = network.start(2, Node(AtomicDB(), GENESIS))
    network.connect(only=2)
    # the two that stayed are in a higher round by now; the round timer's cap bounds how long they take to meet
    wait_until(_on_every_node(network, 1), "a block once 3 of 4 are up", 30)
    assert back.node.head().block_number >= 1
    network.assert_one_chain()


# -- health and status ---------------------------------------------------------------------------------------------


def get(server: RpcServer, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def node_status(server: RpcServer) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "consortium_nodeStatus"})
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        result: dict[str, Any] = json.loads(connection.getresponse().read())["result"]
        return result
    finally:
        connection.close()


FIELDS = {
    "head", "hash", "mode", "height", "round", "validators", "peers", "peersConnected", "inSync", "inQuorum",
    "roundChanges", "proposed", "missedProposals", "missedProposalsBy", "synced", "lastBlockAgeSeconds",
    "abstaining", "abstainedHeights", "signedConflictsRefused", "peerWithheld", "peerRequestsRefused",
}  # fmt: skip


def _validators_hold(network: Network, count: int) -> Callable[[], bool]:
    return lambda: all(_included(m.node, count) for m in network.running() if m.consensus.is_validator)


def test_with_four_validators_and_a_follower_up_every_node_is_in_sync_in_quorum_and_healthy(watched: Network) -> None:
    servers = [watched.server(i) for i in range(5)]

    def all_connected() -> list[dict[str, Any]] | None:
        statuses = [node_status(s) for s in servers]
        everyone = all(s["peersConnected"] == 4 and s["inSync"] and s["inQuorum"] for s in statuses)
        return statuses if everyone else None

    wait_until(all_connected, "every node connected to its 4 peers, in sync and in quorum", 10)
    for server in servers:
        code, body = get(server, "/health")
        assert code == 200 and json.loads(body)["inSync"] and json.loads(body)["inQuorum"]
    first = watched.members[1]
    assert first is not None
    first.node.submit(transfer(0))
    wait_until(_validators_hold(watched, 1), "the transfer decided by the validators", 30)
    statuses = wait_until(all_connected, "every node still in sync and in quorum", 10)
    for report in statuses[:4]:
        assert report["mode"] == "validator" and report["peers"] == 4 and report["validators"] == list(VALIDATORS)
        assert report["head"] >= 1 and set(report) == FIELDS
        assert isinstance(report["lastBlockAgeSeconds"], float)
    follower = statuses[4]
    assert follower["mode"] == "follower" and follower["proposed"] == 0 and follower["roundChanges"] == 0
    assert get(servers[4], "/health")[0] == 200
    decided = 0
    for i in range(4):
        member = watched.members[i]
        assert member is not None
        decided += member.consensus.stats.decided
        metrics = get(servers[i], "/metrics")[1].decode().splitlines()
        # every block this validator decided has its time to finality
        assert f"consortium_consensus_finality_seconds_count {member.consensus.stats.decided}" in metrics
        assert "consortium_consensus_in_quorum 1" in metrics and "consortium_consensus_in_sync 1" in metrics
    assert decided >= 3  # at least a quorum decided it (a slow one may have fetched it instead)
    watched.assert_one_chain()


def test_two_of_four_validators_down_a_remaining_node_is_out_of_quorum_and_its_health_answers_503(
    watched: Network,
) -> None:
    wait_until(lambda: all(get(watched.server(i), "/health")[0] == 200 for i in range(5)), "every node healthy", 10)
    watched.stop(2)
    watched.stop(3)
    server = watched.server(0)
    wait_until(lambda: get(server, "/health")[0] == 503, "node 0's /health to answer 503", 10)
    status, body = get(server, "/health")
    assert status == 503 and json.loads(body) == {"head": 0, "mode": "validator", "inSync": True, "inQuorum": False}
    report = node_status(server)
    assert (report["peers"], report["peersConnected"]) == (4, 2)  # validator 1 and the follower
    assert "consortium_consensus_in_quorum 0" in get(server, "/metrics")[1].decode().splitlines()
    wait_until(lambda: not node_status(watched.server(4))["inQuorum"], "the follower out of quorum too", 10)
    assert get(watched.server(4), "/health")[0] == 503


def test_a_validators_missed_proposals_rise_when_the_proposer_of_a_round_is_down(watched: Network) -> None:
    genesis = watched.running()[0].node.head()
    absent = proposer(sorted(extra_data(genesis).validators), bytes(genesis.coinbase), 0)  # height 1, round 0
    down = next(i for i, k in enumerate(KEYS) if bytes(k.public_key.to_canonical_address()) == absent)
    watched.stop(down)
    up = [i for i in range(4) if i != down]
    member = watched.members[up[0]]
    assert member is not None
    member.node.submit(transfer(0))  # gossiped: every validator's round 0 starts, and its timer expires (1 s)
    wait_until(_validators_hold(watched, 1), "the block of round 1", 30)
    counted = {}
    for i in up:
        validator = watched.members[i]
        assert validator is not None
        missed = validator.consensus.stats.missed_proposals
        assert set(missed) <= {absent}  # no running proposer missed a round
        counted[i] = missed.get(absent, 0)
    # whichever validator's timer expired first counted it (one that moved to round 1 on two others' round
    # changes before its own timer expired did not: its timer did not expire)
    assert max(counted.values()) >= 1
    counter = max(counted, key=lambda i: counted[i])
    status = node_status(watched.server(counter))
    assert status["missedProposals"] == counted[counter]
    assert status["missedProposalsBy"] == {to_checksum_address(absent): counted[counter]}  # the one to blame
    metrics = get(watched.server(counter), "/metrics")[1].decode().splitlines()
    assert f"consortium_consensus_missed_proposals_total {counted[counter]}" in metrics
    by_proposer = "consortium_consensus_missed_proposals_by_proposer_total"
    assert f'{by_proposer}{{proposer="{to_checksum_address(absent)}"}} {counted[counter]}' in metrics
    assert node_status(watched.server(4))["missedProposals"] == 0  # a follower runs no round timer
    assert node_status(watched.server(4))["missedProposalsBy"] == {}
    watched.assert_one_chain()


def test_a_validator_started_after_its_peers_takes_their_pending_transactions_at_its_first_contact(pki: Pki) -> None:
    """A peer that holds a transaction it could not pass on (it has no link to the node that starts: that node's
    endpoint is not known to it yet) and that asks its statuses once a minute: the node that starts takes the
    transaction from it at its own first contact (``GET /qbft/v1/transactions``), so it holds it before its turn
    to propose can come. The peer never reaches the node that starts, so only that pull can bring it."""
    members: list[ConsensusNode] = []

    def start(i: int) -> ConsensusNode:
        member = ConsensusNode(
            Node(AtomicDB(), GENESIS), KEYS[i], port=0, server_ssl=pki.server(i), client_ssl=pki.client(i),
            certificates=pki.rule(), period=0.2, timer=RoundTimer(base=1.0, cap=4.0), status_interval=60.0,
        )  # fmt: skip
        member.start()
        members.append(member)
        return member

    try:
        first = start(0)
        first.connect([first.url])  # links to no one
        first.node.submit(transfer(0))  # two of four: no quorum, it stays pending; the gossip finds nobody
        assert first.links is not None and first.links.urls == []
        second = start(1)
        second.connect([first.url, second.url])
        wait_until(lambda: len(second.node.mempool.pending) == 1, "the peer's pending transaction taken", 10)
        assert second.links is not None and second.links.probed()
    finally:
        for member in members:
            member.stop()


# -- a firm removed by governance ----------------------------------------------------------------------------------

FIRM = 4  # the pki's node 4: the org of a firm admitted while the network runs
READS = ("/qbft/v1/status", "/qbft/v1/blocks?from=1", "/qbft/v1/transactions", EQUIVOCATIONS_PATH)


def ask_as(pki: Pki, i: int, port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """A request with node ``i``'s certificate to the peer server on ``port``."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=pki.client(i), timeout=5)
    try:
        connection.request(method, path, body, {"Content-Type": "application/octet-stream"} if body else {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def firm_asks(pki: Pki, port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """A request of the firm's node, with its node certificate."""
    return ask_as(pki, FIRM, port, method, path, body)


def test_a_firm_removed_on_chain_has_its_node_refused_at_every_peer_route(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """The founders' validator runs on a chain with the consortium's contracts, following the TrustDirectory on
    its own JSON-RPC as ``consortium node`` does (``chain.node.service.follow_directory``); its bundle holds its own
    org's CA only, and it was given the firm's node as a static peer (``--peer``, as ``consortium up`` gives each
    founder's). A firm is admitted by governance, publishes its CA and its node's endpoint: the validator's link to
    its node completes and is sent to, and the validator serves it (it syncs the chain). While it is a member, the
    operator's explorer asks its node's evidence at the peer route it lists on chain, with the operator's client
    certificate (a ``chain@`` identity, no node certificate), trusting the firm's CA read on chain. Governance
    removes the firm: from the validator's next look at the directory, its node's requests are refused at every peer
    route, 403 naming the removal, and a transaction and a message it sends are not taken; the static link stays in
    the list, but the firm's server receives nothing more of it (no message, no gossiped transaction, no status
    request)."""
    keys = Keys.create()
    founder = keys.deployer  # the operator: deploys the contracts and validates alone
    genesis = Genesis(CHAIN_ID, (founder.address,), founder.address, int(time.time()))
    started = time.time()

    def clock() -> float:
        """Both nodes' clock, 20 times as fast as the wall's: block timestamps rise a second a block at least and
        may run but a few seconds ahead of it, so on the wall's the validator would make a block a second."""
        return started + 20 * (time.time() - started)

    own_ca = pki._cas[pki.orgs[0]][0].public_bytes(serialization.Encoding.PEM).decode()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=own_ca)
    server_ssl.verify_mode = ssl.CERT_REQUIRED
    server_ssl.load_cert_chain(*map(str, pki.certs[0]))
    client_ssl = ssl.create_default_context(cadata=own_ca)
    client_ssl.load_cert_chain(*map(str, pki.certs[0]))
    store = AtomicDB()
    mark_new(store)
    validator = ConsensusNode(
        Node(store, genesis, clock=clock), PrivateKey(bytes(founder.key)), server_ssl=server_ssl, client_ssl=client_ssl,
        certificates=NodeCertificates.from_bundle(own_ca.encode(), [pki.orgs[0]]), period=0.02,
        timer=RoundTimer(base=1.0, cap=4.0), status_interval=0.2,
    )  # fmt: skip
    rpc = RpcServer(validator.node, port=0)
    firm = Account.create()
    firm_node = ConsensusNode(
        Node(AtomicDB(), genesis, clock=clock), PrivateKey(bytes(firm.key)), server_ssl=pki.server(FIRM),
        client_ssl=pki.client(FIRM), certificates=pki.rule(), period=0.02, timer=RoundTimer(base=1.0, cap=4.0),
        status_interval=60.0,
    )  # fmt: skip
    follower: PeerFollower | None = None
    try:
        validator.start()
        rpc.start()
        firm_node.start()
        validator.connect([])
        chain = RpcBackend(rpc.url)
        c = deploy_test_consortium(chain, keys)
        follower = follow_directory(
            validator, rpc.url, CHAIN_ID,
            PeerSettings(port=validator.server.port, peers=(firm_node.url,), directory=c.trust.address,
                         org=pki.orgs[0], follow_poll_s=0.05),
        )  # fmt: skip
        # the firm's node given with --peer: linked now (its handshake fails until its CA is on chain; linked only
        # now so the deployment's blocks cost no failed handshakes), never unlinked by the follower
        assert validator.add_peer(firm_node.url)
        links = validator.links
        assert links is not None

        # the firm is admitted, publishes its CA and its node's endpoint; the validator's link to it completes
        org = pki.orgs[FIRM]
        proposal = c.registry.propose_admit(
            c.signers["alpha"], org, "Firm Securities", Role.MEMBER, hashlib.sha256(b"firm").digest(), [firm.address]
        )
        assert c.registry.approve(c.signers["gamma"], proposal)
        member = Signer(firm)
        c.trust.add_key(member, KeyKind.CA_CERT, pki._cas[org][0].public_bytes(serialization.Encoding.DER))
        c.trust.add_key(member, KeyKind.NODE_ENDPOINT, firm_node.url.encode())
        wait_until(lambda: links.connected.get(firm_node.url), "the link to the firm's node", 10)
        assert follower.linked == set()  # the endpoint on chain is the static URL: linked once, by the start
        assert firm_node.server.requests > 0  # its status asked, at least
        firm_node.connect([validator.url])  # its first status request, and the sync it starts, are served
        head = int(validator.node.head().block_number)
        wait_until(lambda: firm_node.node.head().block_number >= head, f"the firm's node synced to block {head}", 10)
        port = validator.server.port
        assert [firm_asks(pki, port, "GET", path)[0] for path in READS] == [200] * len(READS)
        explorer_cert = pki.issue(pki.orgs[0], member_name(pki.orgs[0], f"chain@{pki.orgs[0]}"),
                                  (ExtendedKeyUsageOID.CLIENT_AUTH,), "explorer-chain")  # fmt: skip
        at = int(chain.web3.eth.block_number)
        snapshot = load_snapshot(TrustDirectoryClient(chain, c.trust.address), at)
        (asked,) = chain_sources(snapshot, at, {pki.orgs[0]}, ClientTls(*explorer_cert, ca_pem=own_ca), 3.0)
        assert (asked.name, asked.own, asked.fetch()) == (org, False, [])  # served: it kept no evidence
        garbage = validator.consensus.stats.garbage
        assert firm_asks(pki, port, "POST", "/qbft/v1/message", b"\x13garbage")[0] == 202  # queued for the loop
        wait_until(lambda: validator.consensus.stats.garbage == garbage + 1, "the firm's message decoded", 10)
        refused = validator.server.refused

        # governance removes it
        proposal = c.registry.propose_remove(c.signers["alpha"], org)
        assert c.registry.approve(c.signers["gamma"], proposal)
        removed_at = int(validator.node.head().block_number)
        wait_until(
            lambda: follower.plan is not None and org in follower.plan.removed,
            f"the validator's follower to see the removal of block {removed_at}",
            10,
        )
        assert links.urls == [firm_node.url]  # given with --peer: it stays in the list
        before = dict(links.refused)  # the handshakes that completed while its CA was on chain but not its endpoint
        # a transaction the validator takes from a member's node: a founder's, as a client of the firm's node would
        # send it there
        beta = keys.orgs["beta"]
        nonce = validator.node.nonce(bytes.fromhex(beta.address[2:]))
        sent = support_transfer(beta, nonce, CHAIN_ID)
        garbage = validator.consensus.stats.garbage
        with caplog.at_level(logging.WARNING, logger="consortium.node.peers"):
            answers = [firm_asks(pki, port, "GET", path) for path in READS]
            answers.append(firm_asks(pki, port, "POST", "/qbft/v1/message", b"\x13garbage"))
            answers.append(firm_asks(pki, port, "POST", "/qbft/v1/transaction", sent))
        assert [status for status, _ in answers] == [403] * len(answers), answers
        for _, answer in answers:
            assert "removed from the consortium by governance on chain" in json.loads(answer)["error"], answer
        lines = [m for r in caplog.records if (m := r.getMessage()).startswith(("peer request ", "peer connection "))]
        # a line each (and one for any request its node made meanwhile), every one naming the removal
        assert len(lines) >= len(answers) and all(f"{org!r} was removed" in line for line in lines), lines
        refused_now = validator.server.refused
        assert refused_now >= refused + len(answers)
        # its own node's gossip of the transaction is refused the same way (its status prober, every 60 s, sends
        # nothing meanwhile): once the handshake of the connection that carries it is done, before it is read
        firm_node.node.submit(sent)
        wait_until(lambda: validator.server.refused > refused_now, "the firm's node's gossip to be refused", 10)
        # nothing of it was taken: the same message and transaction from a member's node are, and the message is the
        # only one the loop decoded since (its inbox is in order); the transaction was in no pool before
        assert not validator.node.mempool.known(keccak(sent))
        assert ask_as(pki, 0, port, "POST", "/qbft/v1/message", b"\x13garbage")[0] == 202
        wait_until(lambda: validator.consensus.stats.garbage > garbage, "the member's message decoded", 10)
        assert validator.consensus.stats.garbage == garbage + 1
        assert ask_as(pki, 0, port, "POST", "/qbft/v1/transaction", sent)[0] == 202
        assert validator.node.mempool.known(keccak(sent))

        # the validator's own link to the firm's node: refused by the same rule, it sends nothing more. Once each of
        # the link's threads refused something (messages: the next block's; transactions: one the validator takes and
        # gossips; status: its next probe), whatever it sent before the removal has arrived; what it refuses after
        # reaches the firm's server no more
        gamma = keys.orgs["gamma"]

        def take_and_gossip() -> None:
            """A transaction the validator takes from a client: gossiped to its links, and proposed in a block."""
            nonce = validator.node.nonce(bytes.fromhex(gamma.address[2:]), pending=True)
            validator.node.submit(support_transfer(gamma, nonce, CHAIN_ID))

        take_and_gossip()
        wait_until(lambda: all(links.refused[kind] > before[kind] for kind in before),
                   "the link to refuse a message, a transaction and a status request", 10)  # fmt: skip
        assert f"{org!r} was removed" in (links.refusal(firm_node.url) or "")
        assert links.connected[firm_node.url] is False
        served, held = firm_node.server.requests, dict(links.refused)
        take_and_gossip()
        wait_until(lambda: all(links.refused[kind] > held[kind] for kind in held),
                   "the link to refuse a message, a transaction and a status request again", 10)  # fmt: skip
        assert firm_node.server.requests == served, "the removed firm's node still received requests"
        assert links.urls == [firm_node.url]
    finally:
        firm_node.stop()
        if follower is not None:
            follower.stop()
        rpc.stop()
        validator.stop()
