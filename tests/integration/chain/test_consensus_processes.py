"""Four ``consortium node`` processes agree by QBFT over mutual TLS; one killed with SIGKILL and restarted catches up.

Each validator is its own process with its own chain directory and store, signing with its own org's account
key; the four reach each other's peer servers on loopback with certificates from one consortium CA. The chain has
no ConsortiumRegistry, so the first validator (the operator) is the only account allowed to send: its value-0
transfers are the load, sent over JSON-RPC to one node and gossiped to the proposer. Every wait polls a condition
against a deadline. At the end every node has the same blocks, and each stopped store verifies from genesis.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.ids import OrgId
from chain.lightclient import EXTRA, header_fields
from chain.node.node import Genesis
from chain.node.service import GENESIS_FILE, STORE_DIR, write_genesis
from chain.node.store import open_store
from chain.node.verify import verify_chain
from chain.qbft.extradata import ExtraData
from chain.seal import block_hash, signers
from network.identity import create_org_identity, load_account_key
from tests.support.tls_pki import Pki, make_pki
from tests.support.transfers import transfer as support_transfer
from tests.support.up_process import free_port
from tests.support.wait import wait_until as support_wait_until

PASSPHRASE = "consensus-process-test-passphrase"
CHAIN_ID = 20261
ORGS = ("v1", "v2", "v3", "v4")
CLI = [sys.executable, "-m", "cli.main"]
TIMEOUT = 60.0


@dataclass
class Consortium:
    root: Path
    pki: Pki
    operator: LocalAccount
    rpc_ports: list[int]
    peer_ports: list[int]

    def chain_dir(self, i: int) -> Path:
        return self.root / "nodes" / ORGS[i] / "chain"

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.rpc_ports[i]}"


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Consortium:
    root = tmp_path_factory.mktemp("qbft")
    accounts = []
    for org in ORGS:
        create_org_identity(root, OrgId(org), f"Validator {org}", PASSPHRASE.encode())
        accounts.append(Account.from_key(load_account_key(root, OrgId(org), PASSPHRASE.encode())))
    addresses = tuple(a.address for a in accounts)
    genesis = Genesis(CHAIN_ID, addresses, addresses[0], int(time.time()))
    c = Consortium(
        root,
        make_pki(root, len(ORGS), ORGS, now=datetime.now(UTC)),  # real TLS: OpenSSL checks validity at the real now
        accounts[0],
        [free_port() for _ in ORGS],
        [free_port() for _ in ORGS],
    )
    for i, org in enumerate(ORGS):
        write_genesis(c.chain_dir(i), genesis, org)
    return c


class NodeProcess:
    def __init__(self, c: Consortium, i: int, log: Path, peers: Sequence[str] | None = None) -> None:
        """Node ``i``, reaching the others at ``peers`` (their peer servers themselves when None)."""
        if peers is None:
            peers = [f"https://127.0.0.1:{p}" for j, p in enumerate(c.peer_ports) if j != i]
        cert, key = c.pki.certs[i]
        args = [
            *CLI, "node", str(c.root), "--org", ORGS[i], "--chain-dir", str(c.chain_dir(i)),
            "--port", str(c.rpc_ports[i]), "--block-time", "0.3", "--round-timeout", "1",
            "--peer-port", str(c.peer_ports[i]), *[a for p in peers for a in ("--peer", p)],
            "--peer-cert", str(cert), "--peer-key", str(key), "--peer-ca", str(c.pki.ca),
        ]  # fmt: skip
        self._start(args, log)

    def _start(self, args: list[str], log: Path) -> None:
        """Run ``args`` in a session of its own, output appended to ``log``, with the test consortium's passphrase
        and none of the caller's other ``CONSORTIUM_`` settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
        env.update(CONSORTIUM_PASSPHRASE=PASSPHRASE, PYTHONUNBUFFERED="1")
        self.log = log
        self.out = log.open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def output(self) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.out.close()

    def terminate(self) -> int:
        self.send_sigterm()
        return self.exit_code()

    def send_sigterm(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)

    def exit_code(self) -> int:
        code = self.process.wait(30)
        self.out.close()
        return code


def terminate_all(nodes: Sequence[NodeProcess]) -> None:
    """SIGTERM to every node at once (each takes about a second to close, and a second SIGTERM while it closes
    may find it past its handler), then each must exit cleanly."""
    for node in nodes:
        node.send_sigterm()
    for node in nodes:
        assert node.exit_code() == 0, node.output()


def rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        reply = json.loads(answer.read())
    if "error" in reply:
        raise AssertionError(f"{method}: {reply['error']}")
    return reply["result"]


def wait_until(condition: Callable[[], Any], what: str, nodes: list[NodeProcess], timeout: float = TIMEOUT) -> Any:
    """``tests.support.wait.wait_until``, a node not answering yet counting as not yet; a timeout shows the
    nodes' last log lines."""
    try:
        return support_wait_until(condition, what, timeout, every=0.05, ignoring=(OSError,))
    except AssertionError as exc:
        logs = "\n\n".join(f"{n.log.name}:\n{n.output()}" for n in nodes)
        raise AssertionError(f"{exc}\n{logs}") from None


def transfer(c: Consortium, nonce: int) -> str:
    return "0x" + support_transfer(c.operator, nonce, CHAIN_ID).hex()


def nonce_everywhere(c: Consortium, indexes: list[int], count: int) -> Callable[[], bool]:
    return lambda: all(
        int(rpc(c.url(i), "eth_getTransactionCount", c.operator.address, "latest"), 16) >= count for i in indexes
    )


@pytest.fixture
def nodes(consortium: Consortium, tmp_path: Path) -> Iterator[list[NodeProcess | None]]:
    running: list[NodeProcess | None] = [NodeProcess(consortium, i, tmp_path / f"{ORGS[i]}.log") for i in range(4)]
    yield running
    for node in running:
        if node is not None and node.process.poll() is None:
            node.kill()


def test_four_node_processes_agree_and_one_killed_with_sigkill_catches_up(
    consortium: Consortium, nodes: list[NodeProcess | None], tmp_path: Path
) -> None:
    c = consortium
    live = [n for n in nodes if n is not None]
    wait_until(lambda: all(rpc(c.url(i), "eth_blockNumber") == "0x0" for i in range(4)), "four nodes serving", live)
    for nonce in range(3):
        rpc(c.url(1), "eth_sendRawTransaction", transfer(c, nonce))
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], 3), "3 transfers on all four nodes", live)

    victim = nodes[3]
    assert victim is not None
    victim.kill()  # SIGKILL: no chance to close anything
    nodes[3] = None
    live = [n for n in nodes if n is not None]
    for nonce in range(3, 6):
        rpc(c.url(0), "eth_sendRawTransaction", transfer(c, nonce))
    wait_until(nonce_everywhere(c, [0, 1, 2], 6), "3 more transfers with one node down", live)

    nodes[3] = back = NodeProcess(c, 3, tmp_path / "v4-restarted.log")
    live = [n for n in nodes if n is not None]
    rpc(c.url(2), "eth_sendRawTransaction", transfer(c, 6))
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], 7), "the restarted node to catch up", live)
    # killed, not wiped, but its peers decided blocks its store did not hold meanwhile: from its store alone it
    # cannot tell that from a backup restored, so it sits out the height in progress when it comes back; the
    # network goes past that height (the next cases start on these stores)
    behind = wait_until(lambda: abstain_record(back.log, BEHIND), "the restarted node to check its record", live)
    assert behind["since"] < behind["head"] and behind["through"] == behind["head"] + 1
    assert abstain_record(back.log, FRESH) is None  # its record is kept
    sent = 7
    while min(int(rpc(c.url(i), "eth_blockNumber"), 16) for i in range(4)) < behind["through"]:
        rpc(c.url(0), "eth_sendRawTransaction", transfer(c, sent))
        sent += 1
        wait_until(nonce_everywhere(c, [0, 1, 2, 3], sent), f"transfer {sent - 1} on all four", live)

    head = int(rpc(c.url(0), "eth_blockNumber"), 16)
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= head for i in range(4)), "one head", live)
    hashes = [{rpc(c.url(i), "eth_getBlockByNumber", hex(n), False)["hash"] for i in range(4)} for n in range(head + 1)]
    assert all(len(h) == 1 for h in hashes), "the nodes disagree on a block"
    seals = rpc(c.url(0), "consortium_getSeals", hex(head))
    assert seals["valid"] is True and seals["quorum"] == 3 and len(seals["signers"]) >= 3
    metrics = urllib.request.urlopen(f"{c.url(0)}/metrics", timeout=5).read().decode()
    assert "consortium_consensus_validator 1" in metrics and "consortium_consensus_peers_connected" in metrics
    assert "consortium_consensus_abstaining 0" in metrics.splitlines()  # a new consortium's fresh records do not
    restarted = urllib.request.urlopen(f"{c.url(3)}/metrics", timeout=5).read().decode().splitlines()
    assert {"consortium_consensus_abstained_heights_total 0", "consortium_consensus_abstained_heights_total 1"} & set(
        restarted
    )  # 1 if the height it sat out started while it was at it, 0 if it synced past it first

    terminate_all(live)
    for i in range(4):
        with open_store(c.chain_dir(i) / STORE_DIR) as store:
            assert verify_chain(store).head >= head


def test_a_validator_stopped_with_sigstop_for_10_s_catches_up_within_20_s(
    consortium: Consortium, nodes: list[NodeProcess | None]
) -> None:
    """A frozen process (SIGSTOP: its sockets stay open, nothing answers) is a peer that hangs, not one that is
    gone: the other three must go on around it, and once it thaws it must catch up and vote again."""
    c = consortium
    live = [n for n in nodes if n is not None]
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= 0 for i in range(4)), "four serving", live)
    settled(c, nodes, live)  # no node sitting out a height the three must decide without the frozen one
    start = int(rpc(c.url(0), "eth_getTransactionCount", c.operator.address, "latest"), 16)
    frozen = nodes[2]
    assert frozen is not None
    os.killpg(frozen.process.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        for nonce in range(start, start + 3):
            rpc(c.url(0), "eth_sendRawTransaction", transfer(c, nonce))
        wait_until(nonce_everywhere(c, [0, 1, 3], start + 3), "3 transfers while one validator is frozen", live)
        while time.monotonic() - stopped_at < 10:  # the scenario: frozen for 10 s, whatever the load did meanwhile
            time.sleep(0.2)
    finally:
        os.killpg(frozen.process.pid, signal.SIGCONT)
    rpc(c.url(1), "eth_sendRawTransaction", transfer(c, start + 3))
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], start + 4), "the thawed node to catch up", live, timeout=20)
    head = int(rpc(c.url(2), "eth_blockNumber"), 16)
    hashes = [{rpc(c.url(i), "eth_getBlockByNumber", hex(n), False)["hash"] for i in range(4)} for n in range(head + 1)]
    assert all(len(h) == 1 for h in hashes), "the nodes disagree on a block"


def test_two_of_four_killed_decide_nothing_and_once_both_restart_the_four_go_on_with_one_chain(
    consortium: Consortium, nodes: list[NodeProcess | None], tmp_path: Path
) -> None:
    """Two validators of four gone (SIGKILL) leave two, under QBFT's quorum of three: the survivors must decide
    nothing, however long they wait, and must not lose the transfer they hold. That "nothing" is watched until
    each survivor's round timer has expired twice with the two down (rounds 0 and 1 gone by, each under another
    proposer), about 3 s with the 1 s timer. Both restarted on their own stores, the four decide it."""
    c = consortium
    live = [n for n in nodes if n is not None]
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= 0 for i in range(4)), "four serving", live)
    settled(c, nodes, live)
    start = int(rpc(c.url(0), "eth_getTransactionCount", c.operator.address, "latest"), 16)
    rpc(c.url(0), "eth_sendRawTransaction", transfer(c, start))
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], start + 1), "a transfer on all four", live)
    top = int(rpc(c.url(0), "eth_blockNumber"), 16)

    for i in (2, 3):
        victim = nodes[i]
        assert victim is not None
        victim.kill()
        nodes[i] = None
    live = [n for n in nodes if n is not None]
    before = {i: rpc(c.url(i), "consortium_nodeStatus")["roundChanges"] for i in (0, 1)}
    rpc(c.url(1), "eth_sendRawTransaction", transfer(c, start + 1))
    wait_until(
        lambda: all(rpc(c.url(i), "consortium_nodeStatus")["roundChanges"] >= before[i] + 2 for i in (0, 1)),
        "two round timers expired on each survivor",
        live,
    )
    for i in (0, 1):
        assert int(rpc(c.url(i), "eth_blockNumber"), 16) == top, "two of four decided a block"
        status = rpc(c.url(i), "consortium_nodeStatus")
        assert status["inQuorum"] is False and status["peersConnected"] == 1
    assert int(rpc(c.url(0), "eth_getTransactionCount", c.operator.address, "pending"), 16) == start + 2  # held

    for i in (2, 3):
        nodes[i] = NodeProcess(c, i, tmp_path / f"{ORGS[i]}-restarted.log")
    live = [n for n in nodes if n is not None]
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], start + 2), "the held transfer decided by the four", live)
    head = max(int(rpc(c.url(i), "eth_blockNumber"), 16) for i in range(4))
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= head for i in range(4)), "one head", live)
    hashes = [{rpc(c.url(i), "eth_getBlockByNumber", hex(n), False)["hash"] for i in range(4)} for n in range(head + 1)]
    assert all(len(h) == 1 for h in hashes), "the nodes disagree on a block"
    # The held transfer is in the very height the two could not decide. The restarted nodes' pools start empty;
    # each takes its peers' pending transactions at its first contact with them and builds no block before (or
    # before a bound), so a restarted node whose turn to propose comes first proposes the transfer, not an empty
    # block (docs/consensus.md).
    counts = [
        len(rpc(c.url(0), "eth_getBlockByNumber", hex(n), False)["transactions"]) for n in range(top + 1, head + 1)
    ]
    assert counts == [1], counts


def sealed_by(url: str, number: int) -> list[bytes]:
    """The addresses whose commit seals block ``number`` carries on the node at ``url``: its header's QBFT extra
    data decoded and each seal recovered over the commit digest (``chain.seal``), the header hashing to the hash
    the node names it by."""
    block = rpc(url, "eth_getBlockByNumber", hex(number), False)
    fields = header_fields(block)
    assert "0x" + block_hash(fields).hex() == block["hash"]
    return signers(fields, ExtraData.decode(fields[EXTRA]))


def metric_lines(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        text: str = answer.read().decode()
    return text.splitlines()


FRESH = "fresh record of signed messages: abstaining in the height in progress"
BEHIND = "record of signed messages behind its peers: abstaining in the height in progress"
CHECKED = "record of signed messages checked against its peers' head: voting"


def abstain_record(log: Path, what: str = FRESH) -> dict[str, Any] | None:
    """The node's log record of fixing the height its record of signed messages sits out (``what``: a fresh record,
    or one behind its peers), once written."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("msg") == what:
                return dict(entry)
    return None


def checked_record(log: Path) -> dict[str, Any] | None:
    """The node's log record of checking its record of signed messages against its peers' head (voting, or
    abstaining through a height), once written."""
    for what in (CHECKED, BEHIND, FRESH):
        record = abstain_record(log, what)
        if record is not None:
            return record
    return None


def settled(c: Consortium, nodes: list[NodeProcess | None], live: list[NodeProcess]) -> None:
    """Wait until every node has checked its record against its peers' head, then send transfers until the network
    is past every height one of them sits out: a case that starts on the stores the case before it left (one node
    killed before it stored the last block, a block decided before one had checked) starts with all four voting."""
    logs = [n.log for n in nodes if n is not None]
    records = wait_until(lambda: all(checked_record(log) for log in logs) and [checked_record(log) for log in logs],
                         "every node's record checked", live)  # fmt: skip
    through = max(r["through"] for r in records)
    while min(int(rpc(c.url(i), "eth_blockNumber"), 16) for i in range(4)) < through:
        nonce = int(rpc(c.url(0), "eth_getTransactionCount", c.operator.address, "latest"), 16)
        rpc(c.url(0), "eth_sendRawTransaction", transfer(c, nonce))
        wait_until(nonce_everywhere(c, [0, 1, 2, 3], nonce + 1), f"transfer {nonce} on all four", live)


def seals_again(c: Consortium, me: bytes, after: int, nonces: range, live: list[NodeProcess]) -> None:
    """Transfers with ``nonces``, one at a time, until a block above ``after`` carries ``me``'s commit seal on some
    node (each node keeps the quorum of seals it collected; one that collected three others' first holds none)."""
    for nonce in nonces:
        rpc(c.url(0), "eth_sendRawTransaction", transfer(c, nonce))
        wait_until(nonce_everywhere(c, [0, 1, 2, 3], nonce + 1), f"transfer {nonce} on all four", live)
        top = min(int(rpc(c.url(i), "eth_blockNumber"), 16) for i in range(4))
        if any(me in sealed_by(c.url(i), n) for i in range(4) for n in range(after + 1, top + 1)):
            return
    pytest.fail(f"{me.hex()}'s seal is in no block decided after it came back")


def test_a_validator_restarted_on_a_wiped_or_restored_data_directory_syncs_sits_out_one_height_and_seals_again(
    consortium: Consortium, nodes: list[NodeProcess | None], tmp_path: Path
) -> None:
    """Besu #8307 with this node's rule for a fresh record of signed messages (docs/consensus.md, "A fresh record
    abstains"): a validator killed with SIGKILL whose whole chain directory is deleted, and restarted as a
    process on only what an operator restoring the machine keeps or gets back from the consortium (its org's
    keys and TLS files outside that directory, the genesis), syncs to the others' head, sits out exactly the
    height after the head its peers were at when it learnt it, and from the next height seals blocks again.
    Then another validator, killed, is restarted on a copy of its chain directory taken at the start (frozen with
    SIGSTOP for the copy), which lacks what it signed since ("A record behind its peers abstains"): it too sits out
    the height after its peers' head and seals again, and every node holds the same blocks."""
    c = consortium
    wiped, restored = 1, 2
    me = Account.from_key(load_account_key(c.root, OrgId(ORGS[wiped]), PASSPHRASE.encode())).address
    me_bytes = bytes.fromhex(me[2:])
    others = [i for i in range(4) if i != wiped]
    live = [n for n in nodes if n is not None]
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= 0 for i in range(4)), "four serving", live)
    settled(c, nodes, live)  # one node sitting out a height already, and the wiped one's would stall it
    start = int(rpc(c.url(0), "eth_getTransactionCount", c.operator.address, "latest"), 16)
    # a block past the genesis at least: at the genesis a fresh record votes at once (every new validator's is)
    rpc(c.url(0), "eth_sendRawTransaction", transfer(c, start))
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], start + 1), "a transfer on all four", live)
    backup = tmp_path / "backup"
    frozen = nodes[restored]
    assert frozen is not None
    os.killpg(frozen.process.pid, signal.SIGSTOP)  # nothing written while its directory is copied
    try:
        backed_up_at = int(rpc(c.url(0), "eth_blockNumber"), 16)
        shutil.copytree(c.chain_dir(restored), backup)
    finally:
        os.killpg(frozen.process.pid, signal.SIGCONT)

    victim = nodes[wiped]
    assert victim is not None
    victim.kill()
    nodes[wiped] = None
    live = [n for n in nodes if n is not None]
    chain_dir = c.chain_dir(wiped)
    genesis = (chain_dir / GENESIS_FILE).read_bytes()
    assert {p.name for p in chain_dir.iterdir()} == {GENESIS_FILE, STORE_DIR}  # `new-directory` was consumed
    shutil.rmtree(chain_dir)  # the machine's data directory is gone: store, record of signed messages and all
    chain_dir.mkdir()
    (chain_dir / GENESIS_FILE).write_bytes(genesis)  # the consortium's genesis, as any member has it
    head = int(rpc(c.url(others[0]), "eth_blockNumber"), 16)
    assert head >= 1 and all(int(rpc(c.url(i), "eth_blockNumber"), 16) == head for i in others)

    nodes[wiped] = restarted = NodeProcess(c, wiped, tmp_path / f"{ORGS[wiped]}-wiped.log")
    live = [n for n in nodes if n is not None]
    # nothing is sent meanwhile, so the head its peers are at when it learns it is `head`
    record = wait_until(lambda: abstain_record(restarted.log), "the wiped node to fix the height it sits out", live)
    assert (record["head"], record["through"]) == (head, head + 1)
    wait_until(lambda: int(rpc(c.url(wiped), "eth_blockNumber"), 16) == head, "the wiped node to re-sync", live)
    assert "consortium_consensus_abstaining 1" in metric_lines(c.url(wiped))

    rpc(c.url(0), "eth_sendRawTransaction", transfer(c, start + 1))  # decided at head + 1 by the three others
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], start + 2), "the height it sits out decided", live)
    assert all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= head + 1 for i in range(4))
    for i in range(4):
        assert me_bytes not in sealed_by(c.url(i), head + 1), f"node {ORGS[i]} holds its seal at {head + 1}"
    metrics = metric_lines(c.url(wiped))
    assert "consortium_consensus_abstained_heights_total 1" in metrics
    assert "consortium_consensus_abstaining 0" in metrics

    # it votes again: its commit seal is in a block decided after that height, on some node
    seals_again(c, me_bytes, head + 1, range(start + 2, start + 8), live)
    assert "consortium_consensus_abstained_heights_total 1" in metric_lines(c.url(wiped))  # that height only

    # the other validator, restored from the copy taken at `backed_up_at`: it signed in every height since
    victim = nodes[restored]
    assert victim is not None
    victim.kill()
    nodes[restored] = None
    live = [n for n in nodes if n is not None]
    shutil.rmtree(c.chain_dir(restored))
    shutil.copytree(backup, c.chain_dir(restored))
    head = int(rpc(c.url(0), "eth_blockNumber"), 16)
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) == head for i in range(4) if i != restored),
               "one head on the three", live)  # fmt: skip
    assert head > backed_up_at
    nodes[restored] = back = NodeProcess(c, restored, tmp_path / f"{ORGS[restored]}-restored.log")
    live = [n for n in nodes if n is not None]
    record = wait_until(lambda: abstain_record(back.log, BEHIND), "the restored node to fix the height it sits out",
                        live)  # fmt: skip
    assert (record["since"], record["head"], record["through"]) == (backed_up_at, head, head + 1)
    assert abstain_record(back.log, FRESH) is None  # its record was kept, and found behind
    wait_until(lambda: int(rpc(c.url(restored), "eth_blockNumber"), 16) == head, "the restored node to re-sync", live)
    nonce = int(rpc(c.url(0), "eth_getTransactionCount", c.operator.address, "latest"), 16)
    rpc(c.url(0), "eth_sendRawTransaction", transfer(c, nonce))  # decided at head + 1 by the three others
    wait_until(nonce_everywhere(c, [0, 1, 2, 3], nonce + 1), "the height it sits out decided", live)
    restored_me = Account.from_key(load_account_key(c.root, OrgId(ORGS[restored]), PASSPHRASE.encode())).address
    restored_bytes = bytes.fromhex(restored_me[2:])
    for i in range(4):
        assert restored_bytes not in sealed_by(c.url(i), head + 1), f"node {ORGS[i]} holds its seal at {head + 1}"
    seals_again(c, restored_bytes, head + 1, range(nonce + 1, nonce + 7), live)
    assert "consortium_consensus_abstained_heights_total 1" in metric_lines(c.url(restored))

    top = max(int(rpc(c.url(i), "eth_blockNumber"), 16) for i in range(4))
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= top for i in range(4)), "one head", live)
    hashes = [{rpc(c.url(i), "eth_getBlockByNumber", hex(n), False)["hash"] for i in range(4)} for n in range(top + 1)]
    assert all(len(h) == 1 for h in hashes), "the nodes disagree on a block"
    terminate_all(live)
    for i in range(4):
        with open_store(c.chain_dir(i) / STORE_DIR) as store:
            assert verify_chain(store).head >= top
