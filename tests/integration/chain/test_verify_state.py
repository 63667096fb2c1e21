"""``consortium verify state`` against the consortium's own node, in this process and served over JSON-RPC on
loopback: the whole contract suite deployed (``tests.support.consortium``), key records rotated, grants made and
revoked. Every answer proven from the state (``chain.contracts.proven``) is compared with what the contracts
answer through ``eth_call``, an independent path through the EVM; the command trusts only ``consortium.json``,
whose validator is the node's genesis validator."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from eth_account import Account

from chain.backend import RpcBackend
from chain.contracts import GrantStatus, KeyKind
from chain.contracts.proven import ProvenState
from chain.errors import RpcAnswerError
from chain.ids import AssetKind, OrgId, Role
from chain.lightclient import block_at, follow, trust_genesis
from cli.main import cli
from network.identity import create_org_identity, load_account_key
from tests.support.consortium import ANVIL_CHAIN_ID, Consortium, Keys, NodeBackend, deploy_test_consortium
from tests.support.member_directory import write_description

PASSPHRASE = b"verify-state-test"


@dataclasses.dataclass
class World:
    c: Consortium
    node: NodeBackend
    description: Path
    grants: dict[str, bytes]
    purposes: dict[str, tuple[str, str, str]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("verify-state")
    create_org_identity(root, OrgId("op"), "Operator", PASSPHRASE)
    op = Account.from_key(load_account_key(root, OrgId("op"), PASSPHRASE))
    base = Keys.create()
    keys = Keys({**base.orgs, "op": op}, op, base.outsider, base.faucet)
    node = NodeBackend(op)
    try:
        c = deploy_test_consortium(node, keys)
        alpha = c.signers["alpha"]
        c.assets.register_asset(alpha, "book", AssetKind.DATASET, b"\1" * 32, b"\2" * 32, 2)
        now = c.now()
        grants = {
            "allowed": c.grants.create_grant(alpha, "book", "beta", "research", now - 10, now + 3600),
            "revoked": c.grants.create_grant(alpha, "book", "gamma", "audit", now - 10, now + 3600),
            "later": c.grants.create_grant(alpha, "book", "beta", "backtest", now + 3600, now + 7200),
        }
        purposes = {
            "allowed": ("book", "beta", "research"),
            "revoked": ("book", "gamma", "audit"),
            "later": ("book", "beta", "backtest"),
        }
        c.grants.revoke(alpha, grants["revoked"], 3)
        new = c.trust.add_key(alpha, KeyKind.GATEWAY_KEY, b"\7" * 32)  # a rotation: the new key, the old retired
        old = c.trust.find("alpha", KeyKind.GATEWAY_KEY, hashlib.sha256(b"alpha gw").digest())
        assert old is not None and new != old
        c.trust.retire_key(alpha, old)
        members = {"op": ("Operator", Role.MEMBER | Role.OPERATOR | Role.VALIDATOR | Role.NOTARY)}
        description = write_description(root, members, name="verify state test")
        description = dataclasses.replace(
            description,
            chain_id=ANVIL_CHAIN_ID,
            chain_url=node.server.url,
            contracts=dict(c.deployment.addresses),
        )
        description.write(root)
        yield World(c, node, root / "consortium.json", grants, purposes)
    finally:
        node.close()


def proven_state(world: World) -> ProvenState:
    rpc = RpcBackend(world.node.server.url)
    genesis = trust_genesis(block_at(rpc, 0), {bytes.fromhex(world.c.signers["op"].address[2:])})
    head = follow(rpc, genesis, int(rpc.request("eth_blockNumber", []), 16))
    return ProvenState(rpc, head, dict(world.c.deployment.addresses))


def test_proven_records_are_what_the_contracts_answer(world: World) -> None:
    state = proven_state(world)
    c = world.c
    for org in ("op", "alpha", "beta", "gamma", "reg", "nobody"):
        assert state.member(org) == c.registry.member(org), org
    keys = state.keys("alpha")
    assert list(keys.records) == c.trust.records("alpha") and len(keys.records) == 3
    counted = {r.kind: keys.counts(r) for r in keys.records if r.kind != KeyKind.GATEWAY_KEY or r.valid_until}
    assert counted == {KeyKind.CA_CERT: True, KeyKind.GATEWAY_KEY: False}  # the retired gateway key counts no more
    assert [keys.counts(r) for r in keys.records] == [
        c.trust.is_valid("alpha", r.index, state.header.number) for r in keys.records
    ]
    assert state.keys("beta").records == ()  # no records: beta's founder keys were not written
    for name, grant_id in world.grants.items():
        proven = state.grant(grant_id)
        assert proven is not None and proven.current
        assert proven.grant == c.grants.grant(grant_id)
        asset, grantee, purpose = world.purposes[name]
        assert proven.status == c.grants.check(asset, grantee, purpose, proven.at).status, name
    statuses = {name: state.grant(g).status for name, g in world.grants.items()}  # type: ignore[union-attr]
    assert statuses == {
        "allowed": GrantStatus.ALLOWED,
        "revoked": GrantStatus.REVOKED,
        "later": GrantStatus.NOT_YET_VALID,
    }
    assert state.grant(b"\x42" * 32) is None


def test_a_batch_answers_in_the_order_asked_and_an_error_raises(world: World) -> None:
    rpc = RpcBackend(world.node.server.url)
    numbers = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in (3, 1, 2)])
    assert [int(b["number"], 16) for b in numbers] == [3, 1, 2]
    assert rpc.batch([]) == []
    with pytest.raises(RpcAnswerError, match="no_such_method"):
        rpc.batch([("eth_blockNumber", []), ("no_such_method", [])])


class _Counting(RpcBackend):
    """The same node, the JSON-RPC bodies it is sent counted."""

    posts = 0

    def _post(self, payload: Any, method: str, retries: int | None = None) -> Any:
        self.posts += 1
        return super()._post(payload, method, retries)


def test_a_batch_is_split_at_its_cap_and_can_return_each_answer(world: World) -> None:
    """The explorer's chain follower's way: at most MAX_BATCH_REQUESTS a batch, a failing request answered with its
    error object instead of raised, and nothing asked of the node before the first request (``defer``)."""
    rpc = _Counting(world.node.server.url, defer=True)
    assert rpc.posts == 0
    rpc.MAX_BATCH_REQUESTS = 2
    numbers = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in (3, 1, 2, 0, 1)])
    assert [int(b["number"], 16) for b in numbers] == [3, 1, 2, 0, 1] and rpc.posts == 3
    answers = rpc.batch([("eth_blockNumber", []), ("no_such_method", []), ("eth_chainId", [])], answers=True)
    assert "result" in answers[0] and "error" not in answers[0]
    assert answers[1]["error"]["code"] == -32601 and "result" not in answers[1]
    assert int(answers[2]["result"], 16) == rpc.chain_id
    with pytest.raises(RpcAnswerError, match="no_such_method") as raised:
        rpc.request("no_such_method", [])
    assert raised.value.error["code"] == -32601
    pooled = rpc._http
    assert pooled is not None
    rpc.close()  # a backend made for one question (the explorer's ask of each node) closes its connection
    assert pooled.is_closed and rpc._http is None
    assert int(rpc.request("eth_chainId", []), 16) == rpc.chain_id  # and a later read opens another


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["verify", "state", *args], catch_exceptions=False)


def test_the_command_proves_members_keys_and_grants(world: World) -> None:
    grant = "0x" + world.grants["allowed"].hex()
    shown = run("--consortium", str(world.description), "--member", "alpha", "--keys", "alpha", "--grant", grant)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    kept = world.description.parent / "verified-chain" / "header.json"
    assert lines[0] == (
        f"✓ start — block 0 names the 1 founding validator(s) of consortium.json; no header kept in {kept} yet"
    )
    assert any(line.startswith("✓ member alpha — active, roles member, witness; 'Alpha Securities'") for line in lines)
    assert any(line.startswith("✓ keys alpha — 3 record(s), member active") for line in lines)
    assert any("gateway-key" in line and "does NOT count" in line for line in lines)
    assert any(line.startswith(f"✓ grant {grant} — alpha grants beta book for 'research'") for line in lines)
    assert lines[-1].startswith("state proven at block ")
    resume = lines[-1].rsplit("--trusted-block ", 1)[1]

    answer = run("--consortium", str(world.description), "--trusted-block", resume, "--grant", grant, "--json")
    assert answer.exit_code == 0, answer.output
    data = json.loads(answer.output)
    assert data["verified"] is True and data["start"] == (
        f"block {resume.split(':')[0]} is the trusted {resume[-66:]} (--trusted-block); the header kept in {kept} is "
        "neither read nor written"
    )
    assert data["started_from"] == {"source": "trusted-block", "block": int(resume.split(":")[0])}
    assert data["grants"][grant]["check"] == "allowed" and data["grants"][grant]["grantee"] == "beta"
    assert data["proven_slots"] > 0
    earlier = run("--consortium", str(world.description), "--trusted-block", resume, "--block", "1")
    assert earlier.exit_code == 2 and "before the trusted block" in earlier.output


def test_the_command_refuses_a_genesis_of_other_validators_and_a_wrong_trusted_hash(world: World) -> None:
    refused = run("--consortium", str(world.description), "--validator", "0x" + "12" * 20, "--member", "alpha")
    assert refused.exit_code == 1
    assert "✗ block 0: the genesis names the validators 0x" in refused.output
    assert "NOT proven" in refused.output
    wrong = run("--consortium", str(world.description), "--trusted-block", "1:0x" + "00" * 32)
    assert wrong.exit_code == 1 and "not the trusted 0x00" in wrong.output


def test_unusable_input_is_exit_status_2(world: World, tmp_path: Path) -> None:
    beyond = run("--consortium", str(world.description), "--block", "100000")
    assert beyond.exit_code == 2 and "block 100000 is beyond the node's head, block " in beyond.output
    genesis = run("--consortium", str(world.description), "--block", "0")
    assert genesis.exit_code == 2 and "block 0 carries no seals" in genesis.output
    bad = run("--consortium", str(world.description), "--grant", "0x12")
    assert bad.exit_code == 2 and "not a 0x-prefixed 32-byte grant id" in bad.output
    other = json.loads(world.description.read_text())
    other["chain"]["id"] = 1
    path = tmp_path / "consortium.json"
    path.write_text(json.dumps(other))
    mismatch = run("--consortium", str(path))
    assert mismatch.exit_code == 2 and "consortium.json says 1" in mismatch.output
