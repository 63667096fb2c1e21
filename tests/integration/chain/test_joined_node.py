"""A firm admitted after ``init`` runs a chain node from its own directory, as real processes, with its peers taken
from the chain's node endpoints and nothing restarted.

The founders (``op`` validates alone, ``reg`` follows) run their two nodes, their JSON-RPC over HTTPS to members only
as ``consortium up`` starts them by default; ``init`` wrote their endpoints and the genesis, and here the nodes run
on other ports, so each org publishes its endpoint where its node is (what ``consortium up --port`` does). The firm
joins with ``member join`` from a copy of ``consortium.json`` (written unchecked: the node does not answer a firm it
does not know), is admitted, has a member relay its signed keys, publishes its node's endpoint, and starts
``consortium node`` from its directory with no ``--peer``: its genesis comes from its copy of ``consortium.json``
(checked against the chain's block 0), its peers from the endpoints on chain, both read through the founders' node
with the firm's admin identity. It syncs to the head (seals checked, blocks re-executed), both founders' nodes link
to it and admit its node certificate through its CA on chain, and it keeps following new blocks. Once the firm
retires its endpoint, the founders' nodes stop linking to it and refuse it, still without a restart."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from chain.backend import ClientTls, RpcBackend
from chain.contracts.trust import KeyKind
from chain.ids import OrgId
from chain.node.node import Genesis
from cli.main import cli
from network.config import parse_config
from network.consortium import Consortium, init_consortium
from network.description import load_description
from network.identity import OrgPaths
from network.localchain import LocalChain, NodeRpcTls, start_nodes, stop_together
from network.nodeaccess import client_tls
from network.nodes import NodeSpec, default_endpoints, member_genesis, plan, read_nodes
from network.trust import publish_node_endpoints
from tests.support.small_consortium import three_member_config
from tests.support.up_process import free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

CHAIN_ID = 20271
PASSPHRASE = "joined-node-passphrase"
FIRM_PASSPHRASE = "epsilon-node-passphrase"
NEWCOMER = "epsilon"
TIMEOUT = 90.0  # generous: two cores shared with other tests


@dataclass
class Founders:
    directory: Path
    passphrase_file: Path
    specs: list[NodeSpec]
    chains: list[LocalChain]
    tls: ClientTls  # op's admin identity, for the founders' nodes

    @property
    def url(self) -> str:
        return self.chains[0].url


def run(directory: Path, passphrase_file: Path, chain: str, *args: str) -> str:
    """``consortium`` from ``directory``: the founders' reads as op, the firm's with the one identity it holds."""
    reader = ["--as", "op"] if (directory / "orgs" / "op").is_dir() else []
    result: Result = CliRunner().invoke(
        cli, ["--dir", str(directory), "--chain-url", chain, "--passphrase-file", str(passphrase_file), *reader, *args]
    )
    assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
    return result.output


def status(url: str, tls: ClientTls | None = None) -> dict[str, Any]:
    answer = RpcBackend(url, 5.0, lean=True, chain_id=CHAIN_ID, tls=tls).node_status()
    assert answer is not None
    return answer


@pytest.fixture
def founders(tmp_path: Path) -> Iterator[Founders]:
    yield from _founders(tmp_path, three_member_config("joined-node", CHAIN_ID))


@pytest.fixture
def two_validators(tmp_path: Path) -> Iterator[Founders]:
    """The founders with alpha validating beside op (the regulator's node follows): two can make the quorum of three
    once a third is admitted, without it."""
    config = three_member_config("joined-validator", CHAIN_ID)
    config["members"][1]["roles"] = ["member", "validator", "witness"]
    yield from _founders(tmp_path, config)


def _founders(tmp_path: Path, config: dict[str, Any]) -> Iterator[Founders]:
    directory = tmp_path / "founders"
    init_consortium(directory, parse_config(config), PASSPHRASE.encode())
    passphrase_file = tmp_path / "founders.pass"
    passphrase_file.write_text(PASSPHRASE)
    entries = read_nodes(directory)
    specs = plan(directory, entries, [(free_port(), free_port()) for _ in entries])
    admin = directory / "orgs" / "op" / "users" / "Admin@op" / "msp"
    tls = client_tls(load_description(directory), admin / "signcerts" / "cert.pem", admin / "keystore" / "key.pem",
                     None, PASSPHRASE.encode())  # fmt: skip

    def members_only(spec: NodeSpec) -> NodeRpcTls:
        paths = OrgPaths.of(directory, spec.org)
        return NodeRpcTls(paths.node_tls_cert, paths.node_tls_key, tls)

    chains = start_nodes(directory, specs, CHAIN_ID, PASSPHRASE.encode(), 0.2, rpc_tls=members_only)
    try:
        assert all(c.url.startswith("https://") for c in chains), [c.url for c in chains]
        yield Founders(directory, passphrase_file, specs, chains, tls)
    finally:
        stop_together([c.process for c in chains])


@dataclass
class Firm:
    """The newcomer's own directory and passphrase, and what ``member join`` printed there."""

    directory: Path
    passphrase_file: Path
    joined: str
    admitted: int = 0  # the chain's head once the admission's transaction was in

    def run(self, founders: Founders, *args: str) -> str:
        return run(self.directory, self.passphrase_file, founders.url, *args)


def admitted_firm(founders: Founders, tmp_path: Path, roles: str) -> Firm:
    """The firm joins from its own directory with ``roles`` (a copy of consortium.json and the chain's URL; the node,
    serving members only, does not answer it: the request is written unchecked) and op's proposal admits it (one
    vote); then its keys, signed in its directory, are sent by op: the founders' nodes refuse the firm until its CA is
    on chain."""
    firm = Firm(tmp_path / "epsilon", tmp_path / "epsilon.pass", "")
    firm.passphrase_file.write_text(FIRM_PASSPHRASE)
    copy = tmp_path / "consortium.json"
    copy.write_text((founders.directory / "consortium.json").read_text())
    firm.joined = firm.run(founders, "member", "join", NEWCOMER, "--name", "Epsilon Securities", "--consortium",
                           str(copy), "--roles", roles)  # fmt: skip
    fingerprint = re.search(r"CA fingerprint  (0x[0-9a-f]{64})", firm.joined)
    assert fingerprint is not None and "not checked against the chain" in firm.joined, firm.joined
    request = str(firm.directory / "admission-request.json")
    run(founders.directory, founders.passphrase_file, founders.url, "member", "propose", "admit", "--request", request,
        "--ca-fingerprint", fingerprint.group(1), "--as", "op")  # fmt: skip
    firm.admitted = RpcBackend(founders.url, tls=founders.tls).head_number()
    publication = tmp_path / "keys.json"
    firm.run(founders, "member", "keys", "publish", "--sign-only", str(publication), "--as", NEWCOMER)
    run(founders.directory, founders.passphrase_file, founders.url, "member", "keys", "relay", str(publication),
        "--as", "op")  # fmt: skip
    return firm


def start_firm_node(firm: Firm, rpc_port: int, peer_port: int, log: Path) -> subprocess.Popen[bytes]:
    """``consortium node`` from the firm's directory: no ``--peer``, no genesis file given."""
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": FIRM_PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "cli.main", "node", str(firm.directory), "--org", NEWCOMER, "--port", str(rpc_port),
            "--peer-port", str(peer_port), "--block-time", "0.2"]  # fmt: skip
    with log.open("wb") as out_file:
        return subprocess.Popen(argv, env=env, stdout=out_file, stderr=out_file, stdin=subprocess.DEVNULL)


def test_a_joined_firm_runs_a_node_from_its_directory_peers_from_the_chain(founders: Founders, tmp_path: Path) -> None:
    description = load_description(founders.directory)
    backend = RpcBackend(founders.url, tls=founders.tls)
    consortium = Consortium(founders.directory, description, backend)
    trust = consortium.trust
    # init recorded the genesis and wrote each founder node's endpoint (up's default ports) at genesis
    assert (
        description.genesis is not None
        and description.genesis["hash"] == "0x" + bytes(consortium.backend.web3.eth.get_block(0)["hash"]).hex()
    )
    at_init = default_endpoints(read_nodes(founders.directory))
    for org, url in at_init.items():
        endpoints = [r for r in trust.records(org) if r.kind is KeyKind.NODE_ENDPOINT]
        assert [(r.value.decode(), r.valid_from) for r in endpoints] == [(url, 0)]
    # the nodes run elsewhere: each org publishes where (up --port does the same)
    signers = {spec.org: consortium.signer(spec.org, PASSPHRASE.encode()) for spec in founders.specs}
    said = publish_node_endpoints(trust, {spec.org: spec.peer_url for spec in founders.specs}, signers)
    assert len(said) == 2, said
    assert publish_node_endpoints(trust, {spec.org: spec.peer_url for spec in founders.specs}, signers) == []
    back = publish_node_endpoints(trust, at_init, signers)  # a URL is recorded once: init's were retired above
    assert len(back) == 2 and all("was retired on chain before and cannot be recorded again" in x for x in back), back

    # the firm joins from its own directory, is admitted (threshold 1) and has its keys relayed
    joined = admitted_firm(founders, tmp_path, "member")
    firm, firm_pass = joined.directory, joined.passphrase_file
    shown = json.loads(run(founders.directory, founders.passphrase_file, founders.url, "member", "show", NEWCOMER,
                           "--json"))  # fmt: skip
    assert shown["status"] == "active", shown
    rpc_port, peer_port = free_port(), free_port()
    firm_peer = f"https://127.0.0.1:{peer_port}"
    assert f"added #3 node-endpoint of {NEWCOMER}" in joined.run(
        founders, "member", "keys", "add", "node-endpoint", "--url", firm_peer, "--as", NEWCOMER
    )

    # a copy of consortium.json whose genesis was altered is refused before anything is written; a file without
    # the genesis (written before init recorded it) has it rebuilt from the chain's block 0, the same
    altered = tmp_path / "altered"
    shutil.copytree(firm, altered)
    data = json.loads((altered / "consortium.json").read_text())
    data["genesis"]["timestamp"] += 1
    (altered / "consortium.json").write_text(json.dumps(data))
    refused = CliRunner().invoke(cli, ["--passphrase-file", str(firm_pass), "node", str(altered), "--org", NEWCOMER,
                                       "--peer-port", str(free_port())])  # fmt: skip
    assert refused.exit_code == 1 and "but consortium.json records 0x" in refused.output, refused.output
    assert not (altered / "nodes" / NEWCOMER / "genesis.json").exists()
    recorded = Genesis.from_json(json.dumps({k: v for k, v in description.genesis.items() if k != "hash"}))
    assert member_genesis(dataclasses.replace(description, genesis=None), backend) == recorded

    # its node, from its directory: no --peer, no genesis file given
    log = tmp_path / "epsilon-node.log"
    node = start_firm_node(joined, rpc_port, peer_port, log)
    firm_url = f"http://127.0.0.1:{rpc_port}"
    try:
        head = int(consortium.backend.web3.eth.block_number)

        def synced() -> dict[str, Any] | None:
            assert node.poll() is None, log.read_text()
            try:
                answer = status(firm_url)
            except Exception:  # not serving yet
                return None
            return answer if answer["head"] >= head and answer["peersConnected"] == 2 else None

        mine = wait_until(synced, "the firm's node to sync to the head with both founders' nodes", TIMEOUT, every=0.2)
        assert mine["mode"] == "follower" and mine["peers"] == 2, mine
        assert (firm / "nodes" / NEWCOMER / "genesis.json").is_file()
        op = founders.chains[0].url
        wait_until(
            lambda: all(status(c.url, founders.tls)["peersConnected"] == 2 for c in founders.chains),
            "both founders' nodes to link to the firm's node and be admitted by it",
            TIMEOUT,
            every=0.2,
        )

        # it keeps following: a transaction through op's node, its block at the firm's node, same hash
        trust.revoke_serial(consortium.signer("op", PASSPHRASE.encode()), 0x1234)  # the CLI used op's nonces
        block = int(consortium.backend.web3.eth.block_number)
        firm_chain = RpcBackend(firm_url, 5.0, lean=True, chain_id=CHAIN_ID)
        wait_until(lambda: firm_chain.web3.eth.block_number >= block, f"block {block} at the firm's node", TIMEOUT)
        assert (
            firm_chain.request("eth_getBlockByNumber", [hex(block), False])["hash"]
            == "0x" + bytes(consortium.backend.web3.eth.get_block(block)["hash"]).hex()
        )
        assert status(op, founders.tls)["peers"] == 2 and status(founders.chains[1].url, founders.tls)["peers"] == 2
        index = next(r.index for r in trust.records(NEWCOMER) if r.kind is KeyKind.NODE_ENDPOINT)

        # the firm retires its endpoint: the founders' nodes drop it and refuse it, with no restart
        run(firm, firm_pass, founders.url, "member", "keys", "retire", str(index), "--as", NEWCOMER)
        wait_until(
            lambda: all(status(c.url, founders.tls)["peers"] == 1 for c in founders.chains),
            "the founders' nodes to drop the firm's node",
            TIMEOUT,
            every=0.2,
        )
        wait_until(
            lambda: status(firm_url)["peersConnected"] == 0,
            "the founders' nodes to refuse the firm's node",
            TIMEOUT,
            every=0.2,
        )
        text = log.read_text(errors="replace")
        assert "peer added from the chain" in text and "Traceback" not in text, text[-3000:]
    finally:
        stop_together([node])
    assert OrgId(NEWCOMER) not in {spec.org for spec in founders.specs}


def test_a_firm_admitted_as_a_validator_seals_and_proposes_from_its_own_directory(
    two_validators: Founders, tmp_path: Path
) -> None:
    """A firm joins with the validator role (the set grows to three at the admission; op and alpha make its quorum
    of two meanwhile), has its keys relayed, publishes its node's endpoint and starts ``consortium node`` from its
    directory with no ``--peer``: it syncs, links to the founders' three nodes, reports itself a validator (abstaining
    in the height in progress at its first start, as a fresh record of what it signed keeps it), and its seal
    and its turn as proposer appear in the blocks that follow (``consortium_getSeals``)."""
    founders = two_validators
    backend = RpcBackend(founders.url, tls=founders.tls)
    consortium = Consortium(founders.directory, load_description(founders.directory), backend)
    signers = {spec.org: consortium.signer(spec.org, PASSPHRASE.encode()) for spec in founders.specs}
    publish_node_endpoints(consortium.trust, {spec.org: spec.peer_url for spec in founders.specs}, signers)
    # op and alpha alone seal from the admission on, the relay of its keys included: two of the three
    firm = admitted_firm(founders, tmp_path, "member,validator")
    account = re.search(r"account         (0x[0-9a-fA-F]{40})", firm.joined)
    assert account is not None, firm.joined
    rpc_port, peer_port = free_port(), free_port()
    firm.run(founders, "member", "keys", "add", "node-endpoint", "--url", f"https://127.0.0.1:{peer_port}", "--as",
             NEWCOMER)  # fmt: skip
    seals = RpcBackend(founders.url, 5.0, lean=True, chain_id=CHAIN_ID, tls=founders.tls)
    after = seals.request("consortium_getSeals", [hex(firm.admitted + 1)])
    assert after["valid"] is True and account.group(1).lower() in [v.lower() for v in after["validators"]], after
    assert after["quorum"] == 2 and account.group(1).lower() not in [v.lower() for v in after["signers"]], after

    log = tmp_path / "epsilon-node.log"
    node = start_firm_node(firm, rpc_port, peer_port, log)
    firm_url = f"http://127.0.0.1:{rpc_port}"
    op = consortium.signer("op", PASSPHRASE.encode())
    try:
        seen: list[object] = []

        def validating() -> dict[str, Any] | None:
            assert node.poll() is None, log.read_text()
            try:
                answer = status(firm_url)
            except Exception as exc:  # not serving yet
                seen[:] = [exc]
                return None
            seen[:] = [answer]
            return answer if answer["mode"] == "validator" and answer["peersConnected"] == 3 else None

        try:
            wait_until(
                validating, "the firm's node to validate, linked to the founders' three nodes", TIMEOUT, every=0.2
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; its status: {seen}; its log: {log.read_text(errors='replace')[-3000:]}"
            ) from None
        mine = account.group(1).lower()
        signed, proposed, serial = False, False, 0x1000

        def sealed_and_proposed() -> bool:
            nonlocal signed, proposed, serial
            serial += 1
            consortium.trust.revoke_serial(op, serial)  # a transaction: a block
            head = int(seals.request("eth_blockNumber", []), 16)
            block = seals.request("consortium_getSeals", [hex(head)])
            assert block["valid"] is True and block["quorum"] == 2, block
            signed = signed or mine in [s.lower() for s in block["signers"]]
            proposed = proposed or seals.request("eth_getBlockByNumber", [hex(head), False])["miner"].lower() == mine
            return signed and proposed

        wait_until(sealed_and_proposed, "the firm's seal and proposal in a block", TIMEOUT, every=0.1)
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
    finally:
        stop_together([node])


def test_a_validators_account_rotates_while_its_node_seals(two_validators: Founders) -> None:
    """alpha, one of the two validators (the quorum is both), rotates its account with its node running
    (``identity rotate-account``): from the block after the old account's removal the set names the new account, its
    node seals with the staged key from that height with no restart (the chain would stop otherwise: op cannot make
    the quorum alone), and a light client following the set from consortium.json's founders still proves the head
    (``verify state``)."""
    founders = two_validators
    description = load_description(founders.directory)
    old = description.member("alpha").identity.account.lower()
    seals = RpcBackend(founders.url, 5.0, lean=True, chain_id=CHAIN_ID, tls=founders.tls)
    shown = json.loads(run(founders.directory, founders.passphrase_file, founders.url,
                           "identity", "rotate-account", "--as", "alpha", "--json"))  # fmt: skip
    new = str(shown["new"]).lower()
    assert shown["old"].lower() == old and new != old and "removed" in shown["done"], shown
    consortium = Consortium(founders.directory, description, RpcBackend(founders.url, tls=founders.tls))
    op = consortium.signer("op", PASSPHRASE.encode())
    serial = 0x2000

    def sealed_by_the_new_account() -> dict[str, Any] | None:
        nonlocal serial
        serial += 1
        consortium.trust.revoke_serial(op, serial)  # a transaction: a block, decided by both
        head = int(seals.request("eth_blockNumber", []), 16)
        block: dict[str, Any] = seals.request("consortium_getSeals", [hex(head)])
        named = [v.lower() for v in block["validators"]]
        return block if block["valid"] and new in named and new in [s.lower() for s in block["signers"]] else None

    block = wait_until(sealed_by_the_new_account, "a block sealed by alpha's new account", TIMEOUT, every=0.1)
    assert old not in [v.lower() for v in block["validators"]] and block["quorum"] == 2, block
    consortium_file = str(founders.directory / "consortium.json")
    proven = run(founders.directory, founders.passphrase_file, founders.url, "verify", "state", "--consortium",
                 consortium_file, "--chain-url", founders.url, "--member", "alpha")  # fmt: skip
    assert "✓ headers — every block up to" in proven and f"accounts {new};" in proven.lower(), proven
    assert "✗" not in proven and new in proven.lower().split("sealed in round")[1], proven
