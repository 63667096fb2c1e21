"""The validator set changed by governance while five ``consortium node`` processes run.

Four validators (``v1`` to ``v4``) and ``v5``, a follower started with its own org key and peer certificate from
the start, all on loopback with mutual TLS, on a genesis with ``validator_contract``. The operator ``v1`` deploys
ConsortiumRegistry (two approvals carry a proposal) and registers the four as validators. Then governance admits
``v5`` with the VALIDATOR role (``v1`` proposes, ``v2`` approves): from the block after the one that executed the
admission, five validators decide, ``v5``'s seals count and it proposes in its turn. Then governance removes ``v3``:
from the block after, its seals no longer count, and the four left go on. At the end every node holds one chain
and every stopped store verifies from genesis (which re-derives the set after every block).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.ids import OrgId, Role, name_to_bytes32
from chain.node.node import Genesis
from chain.node.service import STORE_DIR, load_genesis, write_genesis
from chain.node.store import open_store
from chain.node.verify import verify_chain
from contracts import load_artifact
from network.identity import create_org_identity, load_account_key
from tests.integration.chain.test_consensus_processes import CLI, PASSPHRASE, NodeProcess, rpc, wait_until
from tests.support.tls_pki import Pki, make_pki
from tests.support.transfers import transfer
from tests.support.up_process import free_port

pytestmark = pytest.mark.slow

CHAIN_ID = 20262
ORGS = ("v1", "v2", "v3", "v4", "v5")
W3 = Web3()


@dataclass
class Five:
    root: Path
    pki: Pki
    accounts: list[LocalAccount]
    rpc_ports: list[int]
    peer_ports: list[int]
    nonces: list[int]

    def chain_dir(self, i: int) -> Path:
        return self.root / "nodes" / ORGS[i] / "chain"

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.rpc_ports[i]}"

    def send(self, i: int, raw: bytes) -> str:
        """Send org ``i``'s raw transaction to its own node; its hash."""
        self.nonces[i] += 1
        return str(rpc(self.url(i), "eth_sendRawTransaction", "0x" + raw.hex()))

    def call(self, i: int, to: str | None, data: str) -> str:
        tx: dict[str, Any] = {"chainId": CHAIN_ID, "nonce": self.nonces[i], "gas": 8_000_000, "maxFeePerGas": 0,
                              "maxPriorityFeePerGas": 0, "to": to or b"", "data": data, "type": 2}  # fmt: skip
        return self.send(i, bytes(self.accounts[i].sign_transaction(tx).raw_transaction))


class FiveNodeProcess(NodeProcess):
    def __init__(self, c: Five, i: int, log: Path) -> None:
        peers = [f"https://127.0.0.1:{p}" for j, p in enumerate(c.peer_ports) if j != i]
        cert, key = c.pki.certs[i]
        args = [
            *CLI, "node", str(c.root), "--org", ORGS[i], "--chain-dir", str(c.chain_dir(i)),
            "--port", str(c.rpc_ports[i]), "--block-time", "0.3", "--round-timeout", "1",
            "--peer-port", str(c.peer_ports[i]), *[a for p in peers for a in ("--peer", p)],
            "--peer-cert", str(cert), "--peer-key", str(key), "--peer-ca", str(c.pki.ca),
        ]  # fmt: skip
        self._start(args, log)


@pytest.fixture
def five(tmp_path: Path) -> Iterator[tuple[Five, list[NodeProcess]]]:
    root = tmp_path / "consortium"
    accounts = []
    for org in ORGS:
        create_org_identity(root, OrgId(org), f"Member {org}", PASSPHRASE.encode())
        accounts.append(Account.from_key(load_account_key(root, OrgId(org), PASSPHRASE.encode())))
    validators = tuple(a.address for a in accounts[:4])
    genesis = Genesis(CHAIN_ID, validators, validators[0], int(time.time()), validator_contract=True)
    c = Five(
        root,
        make_pki(root, len(ORGS), ORGS, now=datetime.now(UTC)),  # real TLS: OpenSSL checks validity at the real now
        accounts,
        [free_port() for _ in ORGS],
        [free_port() for _ in ORGS],
        [0] * len(ORGS),
    )
    for i, org in enumerate(ORGS):
        write_genesis(c.chain_dir(i), genesis, org)
    nodes: list[NodeProcess] = [FiveNodeProcess(c, i, tmp_path / f"{org}.log") for i, org in enumerate(ORGS)]
    yield c, nodes
    for node in nodes:
        if node.process.poll() is None:
            node.kill()


def registry_call(fn: str, *args: Any) -> str:
    return str(W3.eth.contract(abi=load_artifact("ConsortiumRegistry").abi).encode_abi(fn, args=list(args)))


def receipt(c: Five, i: int, tx_hash: str) -> Callable[[], Any]:
    return lambda: rpc(c.url(i), "eth_getTransactionReceipt", tx_hash)


def test_a_validator_admitted_by_governance_votes_and_one_removed_stops_counting(
    five: tuple[Five, list[NodeProcess]],
) -> None:
    c, nodes = five
    addresses = [a.address for a in c.accounts]
    wait_until(lambda: all(rpc(c.url(i), "eth_blockNumber") == "0x0" for i in range(5)), "five nodes serving", nodes)

    # the operator deploys the registry (its nonce 0: the genesis's registry address) and registers the four
    art = load_artifact("ConsortiumRegistry")
    deploy = str(W3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(2, 86400).data_in_transaction)
    c.call(0, None, deploy)
    registry = Web3.to_checksum_address(load_genesis(c.chain_dir(0))[0].registry_address)
    for i in range(4):
        roles = Role.MEMBER | Role.VALIDATOR | (Role.OPERATOR if i == 0 else 0)
        member = registry_call(
            "bootstrap_member", name_to_bytes32(ORGS[i]), ORGS[i], int(roles), bytes([i + 1]) * 32, [addresses[i]]
        )
        c.call(0, registry, member)
    last = c.call(0, registry, registry_call("finish_bootstrap"))
    assert wait_until(receipt(c, 0, last), "the registry bootstrapped", nodes)["status"] == "0x1"

    # governance admits v5 as a validator: v1 proposes (its approval is the first of two), v2 approves
    admit = registry_call(
        "propose_admit", name_to_bytes32("v5"), "v5", int(Role.MEMBER | Role.VALIDATOR), b"\5" * 32, [addresses[4]]
    )
    proposed = c.call(0, registry, admit)
    assert wait_until(receipt(c, 1, proposed), "the admission proposed", nodes)["status"] == "0x1"
    approved = c.call(1, registry, registry_call("approve", 1))
    admitted_in = int(wait_until(receipt(c, 4, approved), "the admission executed", nodes)["blockNumber"], 16)
    before = rpc(c.url(4), "consortium_getSeals", hex(admitted_in))
    assert len(before["validators"]) == 4 and addresses[4] not in before["validators"]

    # from the next block, five validators: quorum 4, v5's seal counts and v5 proposes in its turn
    five_set = sorted([*addresses[:4], addresses[4]], key=str.lower)
    proposers, signers = set(), set()
    for _ in range(12):
        number = _one_transfer(c, nodes)
        for n in range(admitted_in + 1, number + 1):
            seals = rpc(c.url(4), "consortium_getSeals", hex(n))
            assert seals["valid"] is True and seals["quorum"] == 4
            assert sorted(seals["validators"], key=str.lower) == five_set
            signers |= set(seals["signers"])
            proposers.add(miner(c, 4, n))
        if addresses[4] in proposers and addresses[4] in signers:
            break
    assert addresses[4] in signers, "v5's seal is in no block after its admission"
    assert addresses[4] in proposers, f"v5 proposed no block after its admission: {proposers}"
    status = rpc(c.url(4), "consortium_nodeStatus")
    assert status["mode"] == "validator"

    # governance removes v3: v1 proposes, v5 (a voting member now) approves
    proposed = c.call(0, registry, registry_call("propose_remove", name_to_bytes32("v3")))
    assert wait_until(receipt(c, 0, proposed), "the removal proposed", nodes)["status"] == "0x1"
    approved = c.call(4, registry, registry_call("approve", 2))
    removed_in = int(wait_until(receipt(c, 4, approved), "the removal executed", nodes)["blockNumber"], 16)
    four_set = sorted([addresses[0], addresses[1], addresses[3], addresses[4]], key=str.lower)
    decided_by = rpc(c.url(4), "consortium_getSeals", hex(removed_in))["validators"]
    assert sorted(decided_by, key=str.lower) == five_set  # the block that removed it was decided by the five
    for _ in range(5):
        last_block = _one_transfer(c, nodes)
    for n in range(removed_in + 1, last_block + 1):
        seals = rpc(c.url(0), "consortium_getSeals", hex(n))
        assert seals["valid"] is True and seals["quorum"] == 3
        assert sorted(seals["validators"], key=str.lower) == four_set
        assert addresses[2] not in seals["signers"], f"block {n} carries the removed validator's seal"
        assert miner(c, 0, n) != addresses[2]
    wait_until(lambda: rpc(c.url(2), "consortium_nodeStatus")["mode"] == "follower", "v3 a follower", nodes)

    # one chain everywhere, and every store verifies from genesis
    head = max(int(rpc(c.url(i), "eth_blockNumber"), 16) for i in range(5))
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= head for i in range(5)), "one head", nodes)
    hashes = [{rpc(c.url(i), "eth_getBlockByNumber", hex(n), False)["hash"] for i in range(5)} for n in range(head + 1)]
    assert all(len(h) == 1 for h in hashes), "the nodes disagree on a block"
    for node in nodes:
        assert node.terminate() == 0, node.output()
        assert "consensus step failed" not in node.log.read_text(encoding="utf-8"), node.output()
    for i in range(5):
        with open_store(c.chain_dir(i) / STORE_DIR) as store:
            assert verify_chain(store).head >= head


def miner(c: Five, i: int, number: int) -> str:
    """The beneficiary (the proposer) of block ``number`` as node ``i`` serves it, checksummed."""
    return str(Web3.to_checksum_address(rpc(c.url(i), "eth_getBlockByNumber", hex(number), False)["miner"]))


def _one_transfer(c: Five, nodes: list[NodeProcess]) -> int:
    """A transfer from v1, sent to v2's node; the number of the block that holds it, once every node has it."""
    raw = transfer(c.accounts[0], c.nonces[0], CHAIN_ID)
    c.nonces[0] += 1
    tx_hash = rpc(c.url(1), "eth_sendRawTransaction", "0x" + raw.hex())
    number = int(wait_until(receipt(c, 3, tx_hash), "a transfer decided", nodes)["blockNumber"], 16)
    every = range(len(ORGS))
    wait_until(lambda: all(int(rpc(c.url(i), "eth_blockNumber"), 16) >= number for i in every), "every node", nodes)
    return number
