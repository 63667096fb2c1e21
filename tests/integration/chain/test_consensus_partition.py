"""Network partitions between four ``consortium node`` processes: the links cut, not the processes.

The four validators of ``test_consensus_processes`` (own keys, own stores, mutual TLS on loopback) reach each
other through ``tests.support.faultproxy``: node i's link to node j is a port of its own on the proxy, so a
partition is a set of directed links cut, both ways between the two sides, while every process keeps running
and serving JSON-RPC. Every wait polls a condition against a deadline; the one bounded observation (nothing is
decided by a side without a quorum) ends on a condition too: every node's round timer expired twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chain.node.service import load_genesis
from chain.qbft.rules import proposer
from tests.integration.chain.test_consensus_processes import (
    ORGS,
    Consortium,
    NodeProcess,
    consortium,  # noqa: F401  (the fixture: four validators' keys, certificates and genesis)
    nonce_everywhere,
    rpc,
    transfer,
    wait_until,
)
from tests.support.faultproxy import FaultProxy, Mode

pytestmark = pytest.mark.slow

ALL = range(len(ORGS))


@dataclass
class Network:
    c: Consortium
    logs: Path
    proxy: FaultProxy
    #: (from, to) → the proxy's port for node ``from``'s link to node ``to``.
    links: dict[tuple[int, int], int]
    nodes: list[NodeProcess]

    def start(self, i: int, log: str) -> NodeProcess:
        """Start node ``i`` (again), its links through the proxy."""
        peers = [f"https://127.0.0.1:{self.links[i, j]}" for j in ALL if j != i]
        node = NodeProcess(self.c, i, self.logs / log, peers)
        if i < len(self.nodes):
            self.nodes[i] = node
        else:
            self.nodes.append(node)
        return node

    def split(self, side: Collection[int], mode: Mode) -> None:
        """Cut every link between ``side`` and the other nodes, both ways."""
        self.proxy.cut([port for (i, j), port in self.links.items() if (i in side) != (j in side)], mode)

    def heal(self) -> None:
        self.proxy.heal()


@pytest.fixture
def network(consortium: Consortium, tmp_path: Path) -> Iterator[Network]:  # noqa: F811
    proxy = FaultProxy()
    links = {(i, j): proxy.link(consortium.peer_ports[j]) for i in ALL for j in ALL if i != j}
    network = Network(consortium, tmp_path, proxy, links, [])
    for i in ALL:
        network.start(i, f"{ORGS[i]}.log")
    yield network
    for node in network.nodes:
        if node.process.poll() is None:
            node.kill()
    proxy.stop()


def head(c: Consortium, i: int) -> int:
    return int(rpc(c.url(i), "eth_blockNumber"), 16)


def status(c: Consortium, i: int) -> dict[str, Any]:
    result: dict[str, Any] = rpc(c.url(i), "consortium_nodeStatus")
    return result


def nonce(c: Consortium, i: int) -> int:
    return int(rpc(c.url(i), "eth_getTransactionCount", c.operator.address, "latest"), 16)


def assert_one_chain(c: Consortium, top: int) -> None:
    """Every node holds the same block at every height up to ``top``."""
    for n in range(top + 1):
        hashes = {rpc(c.url(i), "eth_getBlockByNumber", hex(n), False)["hash"] for i in ALL}
        assert len(hashes) == 1, f"the nodes disagree on block {n}: {sorted(hashes)}"


def one_head(c: Consortium, nodes: list[NodeProcess]) -> int:
    """Wait until every node has reached the highest head any of them shows; that head."""
    top = max(head(c, i) for i in ALL)
    wait_until(lambda: all(head(c, i) >= top for i in ALL), f"every node at block {top}", nodes)
    return top


def test_a_2_2_partition_decides_nothing_and_after_healing_one_chain_holds_both_sides_transactions(
    consortium: Consortium,  # noqa: F811
    network: Network,
) -> None:
    """Failure catalogue 28. Split {v1, v2} | {v3, v4}: a side of 2 of 4 has no quorum (QBFT needs 3), so
    neither decides a block, whatever its round. That "nothing happens" can only be watched for a while: the
    window here ends once every node's round timer has expired twice while split (rounds 0 and 1 gone by, each
    with another proposer), which with the 1 s round timer is about 3 s, and longer only if the machine is slow.
    The links are blackholed (connections accepted, then silence), the harsher kind of cut: a sender finds out
    only by its own timeout. Healed, the four must meet in a round, decide, and include every transfer either
    side took exactly once."""
    c, nodes = consortium, network.nodes
    wait_until(lambda: all(head(c, i) >= 0 for i in ALL), "four nodes serving", nodes)
    start = nonce(c, 0)
    rpc(c.url(0), "eth_sendRawTransaction", transfer(c, start))
    wait_until(nonce_everywhere(c, list(ALL), start + 1), "a transfer through the proxies on all four", nodes)
    before = one_head(c, nodes)

    network.split({0, 1}, "blackhole")
    changes = [status(c, i)["roundChanges"] for i in ALL]
    # One account sends all (the chain has no registry), so the sides cannot get unrelated transfers: a client
    # sends its next transfer to {v1, v2}, then, hearing nothing, to {v3, v4} as well, and one more after it there.
    both = rpc(c.url(0), "eth_sendRawTransaction", transfer(c, start + 1))
    assert rpc(c.url(2), "eth_sendRawTransaction", transfer(c, start + 1)) == both
    sent = [both, rpc(c.url(2), "eth_sendRawTransaction", transfer(c, start + 2))]

    def two_round_changes_and_nothing_decided() -> bool:
        assert [head(c, i) for i in ALL] == [before] * 4, "a side of two decided a block"
        assert all(rpc(c.url(i), "eth_getTransactionReceipt", tx) is None for i in ALL for tx in sent)
        return all(status(c, i)["roundChanges"] >= changes[i] + 2 for i in ALL)

    def out_of_quorum_and_nothing_decided() -> bool:
        return two_round_changes_and_nothing_decided() and not any(status(c, i)["inQuorum"] for i in ALL)

    wait_until(two_round_changes_and_nothing_decided, "two round changes on every node while split", nodes)
    wait_until(out_of_quorum_and_nothing_decided, "every node out of quorum while split", nodes)

    network.heal()
    wait_until(nonce_everywhere(c, list(ALL), start + 3), "both sides' transfers on all four after healing", nodes)
    top = one_head(c, nodes)
    assert_one_chain(c, top)
    included = [
        tx
        for n in range(before + 1, top + 1)
        for tx in rpc(c.url(0), "eth_getBlockByNumber", hex(n), False)["transactions"]
    ]
    assert sorted(included) == sorted(sent), "each transfer is included exactly once"
    for tx in sent:
        receipt = rpc(c.url(3), "eth_getTransactionReceipt", tx)
        assert receipt is not None and receipt["status"] == "0x1"


def test_a_3_1_partition_the_three_go_on_and_the_one_catches_up_after_healing(
    consortium: Consortium,  # noqa: F811
    network: Network,
) -> None:
    """Split {v1, v2, v3} | {v4}: three of four are a quorum and keep deciding; v4 alone decides nothing.
    Healed, v4 fetches what it missed and all four hold one chain; a block after that is decided by all four."""
    c, nodes = consortium, network.nodes
    wait_until(lambda: all(head(c, i) >= 0 for i in ALL), "four nodes serving", nodes)
    start = nonce(c, 0)
    before = one_head(c, nodes)

    network.split({3}, "refuse")
    for n in range(start, start + 3):
        rpc(c.url(1), "eth_sendRawTransaction", transfer(c, n))
    wait_until(nonce_everywhere(c, [0, 1, 2], start + 3), "3 transfers on the side of three", nodes)
    assert head(c, 3) == before and nonce(c, 3) == start, "the isolated node decided a block alone"
    wait_until(  # each link asks its peer's status every second: the health shows the cut within that
        lambda: not status(c, 3)["inQuorum"] and all(status(c, i)["inQuorum"] for i in range(3)),
        "the isolated node out of quorum, the three in quorum",
        nodes,
    )

    network.heal()
    wait_until(nonce_everywhere(c, list(ALL), start + 3), "the isolated node to catch up", nodes)
    rpc(c.url(3), "eth_sendRawTransaction", transfer(c, start + 3))
    wait_until(nonce_everywhere(c, list(ALL), start + 4), "a transfer sent to the healed node", nodes)
    assert_one_chain(c, one_head(c, nodes))


def test_the_proposer_killed_with_sigkill_once_its_proposal_is_out_the_others_decide_in_a_later_round(
    consortium: Consortium,  # noqa: F811
    network: Network,
) -> None:
    """The next height's round-0 proposer reaches only one other validator (its links to the other two are cut),
    and is killed with SIGKILL as soon as its status counts the proposal. One prepare, or two, is short of the
    quorum of 3, so round 0 cannot decide whenever the kill lands: the three left must change round, decide
    another proposer's block, and the one that saw the dead proposer's block must not hold on to it. Restarted on
    its store, the proposer rejoins the same chain and decides with the others."""
    c, nodes = consortium, network.nodes
    wait_until(lambda: all(head(c, i) >= 0 for i in ALL), "four nodes serving", nodes)
    start = nonce(c, 0)
    before = one_head(c, nodes)
    addresses = [a.lower() for a in load_genesis(c.chain_dir(0))[0].validators]  # in ORGS order
    validators = sorted(bytes.fromhex(a[2:]) for a in addresses)
    previous = bytes.fromhex(rpc(c.url(0), "eth_getBlockByNumber", hex(before), False)["miner"][2:])
    victim = addresses.index("0x" + proposer(validators, previous, 0).hex())
    others = [i for i in ALL if i != victim]
    seen_by, cut_off = others[0], others[1:]

    network.proxy.cut([network.links[victim, j] for j in cut_off])
    proposed = status(c, victim)["proposed"]
    tx = rpc(c.url(seen_by), "eth_sendRawTransaction", transfer(c, start))
    wait_until(lambda: status(c, victim)["proposed"] > proposed, "the round-0 proposer's proposal", nodes)
    nodes[victim].kill()
    network.heal()
    live = [nodes[i] for i in others]
    wait_until(nonce_everywhere(c, others, start + 1), "the three left to decide the transfer", live)
    block = rpc(c.url(seen_by), "eth_getTransactionReceipt", tx)["blockNumber"]
    seals = rpc(c.url(seen_by), "consortium_getSeals", block)
    assert int(seals["round"], 16) >= 1, "decided in round 0 without the proposer's block reaching a quorum"
    assert rpc(c.url(seen_by), "eth_getBlockByNumber", block, False)["miner"].lower() != addresses[victim]

    network.start(victim, f"{ORGS[victim]}-restarted.log")
    wait_until(nonce_everywhere(c, list(ALL), start + 1), "the restarted proposer to catch up", nodes)
    rpc(c.url(victim), "eth_sendRawTransaction", transfer(c, start + 1))
    wait_until(nonce_everywhere(c, list(ALL), start + 2), "a transfer sent to the restarted proposer", nodes)
    assert_one_chain(c, one_head(c, nodes))
