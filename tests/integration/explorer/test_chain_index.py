"""The chain index and its follower against real chains: our node in this process (sealed blocks, over real
JSON-RPC on loopback) and anvil (no seals); both from ``chainindex_chain``.

One module-scoped world deploys the consortium and then, one transaction each: the operator's catalogue (a
center and a unit), an asset of ``alpha`` with an API and a second version, two grants (one valid now, one
valid only later), a revocation, a transaction that reverts in its block, a transfer of the asset to ``gamma``
and a third version by its new owner, the admission of a new member ``delta`` through a proposal and an
approval, the regulator's suspension and reinstatement of ``beta``, and an anchor. A follower indexes the
chain, and each test reads what it needs from the index and from the chain itself.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3.types import TxReceipt

from chain.backend import RpcBackend
from chain.ids import AssetKind, Role
from chain.seal import SEAL_FORMAT
from chain.tx import Signer
from explorer.api.schemas import AssetVersion, GrantAtTime
from explorer.chainfollow import ChainFollower
from explorer.chainindex import ChainIndex
from explorer.errors import ChainDivergedError
from tests.integration.explorer.chainindex_chain import (
    PROPOSAL_TTL,
    THRESHOLD,
    Deployed,
    LocalNode,
    deploy,
    founder_accounts,
)
from tests.support.wait import wait_until

ASSET = "eq-quotes"
OTHER_ASSET = "bond-prices"
PURPOSE = "risk-control"
LATER_PURPOSE = "research"
ORIGIN = "ledger.example/log"
ZERO_ADDRESS = "0x" + "00" * 20


def digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def hx(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def tx_of(receipt: TxReceipt) -> str:
    return hx(receipt["transactionHash"])


@dataclass
class World:
    """A consortium on our node after the module docstring's transactions, and what they were."""

    consortium: Deployed
    txs: dict[str, str] = field(default_factory=dict)  # what -> transaction hash
    grants: dict[str, str] = field(default_factory=dict)  # name -> grant id
    times: dict[str, int] = field(default_factory=dict)  # what -> block timestamp
    delta: str = ""  # the admitted member's account

    @property
    def backend(self) -> LocalNode:
        backend = self.consortium.backend
        assert isinstance(backend, LocalNode)
        return backend

    @property
    def contracts(self) -> dict[str, str]:
        return dict(self.consortium.deployment.addresses)

    @property
    def url(self) -> str:
        return self.backend.server.url

    def head(self) -> int:
        return int(self.backend.web3.eth.block_number)

    def time_of(self, tx_hash: str) -> int:
        w3 = self.backend.web3
        block = w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]  # type: ignore[arg-type]
        return int(w3.eth.get_block(block)["timestamp"])

    def record(self, what: str, receipt: TxReceipt) -> None:
        self.txs[what] = tx_of(receipt)
        self.times[what] = self.time_of(self.txs[what])

    def record_grant(self, name: str, grant_id: bytes) -> None:
        event = self.consortium.grants.events("GrantCreated", filters={"grant_id": grant_id})[0]
        self.grants[name] = hx(grant_id)
        self.txs[f"grant {name}"] = hx(event["transactionHash"])
        self.times[f"grant {name}"] = self.time_of(self.txs[f"grant {name}"])


def reverted_revoke(c: Deployed, signer: Signer) -> str:
    """Send a revoke of an unknown grant past the client's estimate: it is mined and reverts in its block."""
    w3 = c.backend.web3
    tx: dict[str, Any] = {
        "to": c.grants.address,
        "data": c.grants.encode("revoke", b"\x01" * 32, 7),
        "gas": 200_000,
        "chainId": c.backend.chain_id,
        "type": 2,
        "nonce": signer.take_nonce(c.backend),
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    tx_hash = w3.eth.send_raw_transaction(signer.account.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.02)["status"] == 0
    return hx(tx_hash)


def build_world(c: Deployed) -> World:
    world = World(c)
    s = c.signers
    op, alpha, beta, gamma, reg = (s[o] for o in ("op", "alpha", "beta", "gamma", "reg"))
    world.record("center", c.assets.add_center(op, "market-data", "Market data"))
    c.assets.add_unit(op, "quotes", "market-data", "Equity quotes")
    world.record(
        "register",
        c.assets.register_asset(alpha, ASSET, AssetKind.API, digest("v1"), digest("meta v1"), 2),
    )
    c.assets.register_asset(gamma, OTHER_ASSET, AssetKind.DATASET, digest("bonds"), digest("meta bonds"), 3)
    world.record("api", c.assets.register_api(alpha, "quotes-get", "quotes", "/v1/quotes", "GET", ASSET))
    c.assets.add_version(alpha, ASSET, digest("v2"), digest("meta v2"), 3)
    now = c.now()
    world.record_grant("now", c.grants.create_grant(alpha, ASSET, "beta", PURPOSE, now - 60, now + 86_400, 100))
    world.record_grant(
        "later", c.grants.create_grant(alpha, ASSET, "gamma", LATER_PURPOSE, now + 1_000, now + 2_000, 0)
    )
    world.record("revoke", c.grants.revoke(alpha, bytes.fromhex(world.grants["now"][2:]), 3))
    world.txs["reverted"] = reverted_revoke(c, alpha)
    world.record("offer", c.assets.offer_transfer(alpha, ASSET, "gamma"))
    world.record("accept", c.assets.accept_transfer(gamma, ASSET))
    c.assets.add_version(gamma, ASSET, digest("v3"), digest("meta v3"), 3)
    delta = Account.create()
    world.delta = str(delta.address)
    proposal = c.registry.propose_admit(alpha, "delta", "Delta Securities", Role.MEMBER, digest("cert delta"),
                                        [world.delta])  # fmt: skip
    assert c.registry.approve(beta, proposal)
    world.record("suspend", c.registry.suspend(reg, "beta"))
    world.record("reinstate", c.registry.reinstate(reg, "beta"))
    world.record("anchor", c.anchors.anchor(op, ORIGIN, 5, digest("root"), digest("checkpoint")))
    return world


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    accounts = founder_accounts()
    backend = LocalNode(accounts["op"])
    try:
        yield build_world(deploy(backend, accounts))
    finally:
        backend.close()


def follow_to_head(follower: ChainFollower, head: int) -> None:
    while follower.index.head() < head:
        assert follower.sync_once() > 0 or follower.index.head() >= head


@pytest.fixture(scope="module")
def index(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainIndex]:
    """The world's chain, indexed in full."""
    idx = ChainIndex(tmp_path_factory.mktemp("chain-index") / "chain.db")
    follow_to_head(ChainFollower(idx, world.url, world.contracts), world.head())
    yield idx
    idx.close()


def args(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's decoded arguments, which it must have."""
    value = row["args"]
    assert isinstance(value, dict), row
    return value


def names(events: Sequence[Mapping[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


# -- blocks and transactions -------------------------------------------------------------------------------------


def test_every_block_is_indexed_with_its_seals(world: World, index: ChainIndex) -> None:
    w3 = world.backend.web3
    head = world.head()
    assert index.head() == head
    operator = world.consortium.signers["op"].address
    for number in range(head + 1):
        chain_block = w3.eth.get_block(number)
        row = index.block(number)
        assert row is not None
        assert row["hash"] == hx(chain_block["hash"])
        assert row["parent_hash"] == hx(chain_block["parentHash"])
        assert row["timestamp"] == chain_block["timestamp"]
        assert row["tx_count"] == len(chain_block["transactions"]) == len(row["transactions"])
        assert [t["hash"] for t in row["transactions"]] == [hx(h) for h in chain_block["transactions"]]  # type: ignore[arg-type]
        seals = row["seals"]
        assert seals is not None
        assert seals["format"] == SEAL_FORMAT and seals["validators"] == [operator]
        # the beneficiary: the proposer, the zero address in the genesis block
        assert seals["proposer"]["address"] == chain_block["miner"] == (operator if number else ZERO_ADDRESS)
        if number == 0:
            assert seals["signers"] == [] and seals["valid"] is None
        else:
            assert seals["valid"] is True and seals["threshold"] == 1
            assert [s["address"] for s in seals["signers"]] == [operator]
    # The operator's account is named once its admission is indexed: the org appears on the later blocks' seals.
    assert index.block(1)["seals"]["signers"][0]["org"] is None  # type: ignore[index]
    assert index.block(head)["seals"]["signers"][0]["org"] == "op"  # type: ignore[index]
    assert index.block(1)["seals"]["proposer"]["org"] is None  # type: ignore[index]
    assert index.block(head)["seals"]["proposer"] == {"address": operator, "org": "op"}  # type: ignore[index]
    listed = index.blocks(before=None, limit=3)
    assert [b["number"] for b in listed] == [head, head - 1, head - 2]
    assert set(listed[0]) == {"number", "hash", "parent_hash", "timestamp", "tx_count", "seals"}
    assert [b["number"] for b in index.blocks(before=2, limit=10)] == [1, 0]
    assert index.block(head + 1) is None
    assert index.block_number_of(listed[0]["hash"].upper().replace("0X", "0x")) == head


def test_transactions_decode_to_their_calls(world: World, index: ChainIndex) -> None:
    c = world.consortium
    grant = index.transaction(world.txs["grant now"].upper().replace("0X", "0x"))
    assert grant is not None
    assert grant["contract"] == "AccessGrants" and grant["function"] == "create_grant" and grant["status"] == 1
    assert grant["from"] == c.signers["alpha"].address and grant["to"] == c.grants.address
    created = world.times["grant now"]
    assert grant["args"] == {
        "asset": ASSET,
        "grantee": "beta",
        "purpose": PURPOSE,
        "not_before": args(grant)["not_before"],
        "expires_at": args(grant)["not_before"] + 60 + 86_400,
        "quota": 100,
    }
    assert args(grant)["not_before"] <= created
    assert [(e["contract"], e["event"]) for e in grant["events"]] == [("AccessGrants", "GrantCreated")]
    assert args(grant["events"][0])["grant_id"] == world.grants["now"]
    assert args(grant["events"][0])["grantor"] == "alpha"

    revoke = index.transaction(world.txs["revoke"])
    assert revoke is not None and revoke["function"] == "revoke"
    assert revoke["args"] == {"grant_id": world.grants["now"], "reason": 3}

    reverted = index.transaction(world.txs["reverted"])
    assert reverted is not None
    assert reverted["status"] == 0 and reverted["events"] == []
    assert reverted["function"] == "revoke" and reverted["args"] == {"grant_id": "0x" + "01" * 32, "reason": 7}

    register = index.transaction(world.txs["register"])
    assert register is not None and register["function"] == "register_asset"
    assert register["args"] == {
        "asset": ASSET,
        "kind": int(AssetKind.API),
        "content_digest": hx(digest("v1")),
        "metadata_digest": hx(digest("meta v1")),
        "classification": 2,
    }
    assert names(register["events"]) == ["AssetRegistered", "AssetVersionAdded"]

    api = index.transaction(world.txs["api"])
    assert api is not None and api["args"] == {
        "api": "quotes-get",
        "unit": "quotes",
        "route": "/v1/quotes",
        "method": "GET",
        "asset": ASSET,
    }
    anchor = index.transaction(world.txs["anchor"])
    assert anchor is not None and anchor["contract"] == "AuditAnchor" and anchor["function"] == "anchor"
    assert args(anchor)["origin"] == ORIGIN and args(anchor)["root_hash"] == hx(digest("root"))
    assert args(anchor["events"][0])["notary"] == "op" and args(anchor["events"][0])["tree_size"] == 5

    # Genesis of the consortium: the deployments and the bootstrap, in the first blocks.
    deployed = [tx for n in range(1, 12) for tx in (index.block(n) or {"transactions": []})["transactions"]]
    constructors = [tx for tx in deployed if tx["function"] == "constructor"]
    assert [tx["contract"] for tx in constructors] == [
        "ConsortiumRegistry",
        "DataAssetRegistry",
        "AccessGrants",
        "AuditAnchor",
        "TrustDirectory",
    ]
    assert constructors[0]["to"] is None and constructors[0]["created"] == c.registry.address
    assert constructors[0]["args"] == {"threshold": THRESHOLD, "proposal_ttl": PROPOSAL_TTL}
    assert constructors[2]["args"] == {"registry": c.registry.address, "assets": c.assets.address}
    # AuditAnchor's signed_only flag is read from its deployment: false for this (intl) consortium
    assert constructors[3]["args"] == {"registry": c.registry.address, "require_signed": False}
    bootstrap = [tx for tx in deployed if tx["function"] == "bootstrap_member"]
    assert [args(tx)["org"] for tx in bootstrap] == ["op", "alpha", "beta", "gamma", "reg"]
    assert args(bootstrap[1])["name"] == "Alpha Securities"
    assert args(bootstrap[1])["accounts"] == [c.signers["alpha"].address]
    assert args(bootstrap[1])["cert_fingerprint"].startswith("0x")
    assert "events" not in bootstrap[1]
    assert index.transaction("0x" + "ab" * 32) is None


# -- histories and state at a time --------------------------------------------------------------------------------


def test_histories_list_the_events_about_each_key_in_order(world: World, index: ChainIndex) -> None:
    assert names(index.history("grant", world.grants["now"].upper().replace("0X", "0x"))) == [
        "GrantCreated",
        "GrantRevoked",
    ]
    assert names(index.history("grant", world.grants["later"])) == ["GrantCreated"]
    asset = index.history("asset", ASSET)
    assert names(asset) == [
        "AssetRegistered",
        "AssetVersionAdded",
        "ApiRegistered",
        "AssetVersionAdded",
        "GrantCreated",
        "GrantCreated",
        "GrantRevoked",
        "TransferOffered",
        "AssetTransferred",
        "AssetVersionAdded",
    ]
    assert [e["args"]["version"] for e in asset if e["event"] == "AssetVersionAdded"] == [1, 2, 3]
    assert asset[8]["args"] == {"asset": ASSET, "from_org": "alpha", "to_org": "gamma"}
    assert asset[8]["tx_hash"] == world.txs["accept"] and asset[8]["timestamp"] == world.times["accept"]
    positions = [(e["block_number"], e["log_index"]) for e in asset]
    assert positions == sorted(positions)
    assert set(asset[0]) == {"block_number", "timestamp", "tx_hash", "log_index", "contract", "event", "args"}
    assert names(index.history("asset", OTHER_ASSET)) == ["AssetRegistered", "AssetVersionAdded"]

    delta = index.history("member", "delta")
    assert names(delta) == ["ProposalCreated", "ProposalApproved", "ProposalApproved", "MemberAdmitted"]
    assert [e["args"]["org"] for e in delta[1:3]] == ["alpha", "beta"]  # the voters
    beta = index.history("member", "beta")
    assert names(beta) == ["MemberAdmitted", "MemberSuspended", "MemberReinstated"]
    assert beta[1]["args"]["by_org"] == "reg" and beta[1]["tx_hash"] == world.txs["suspend"]
    assert index.account_org(world.delta) == "delta"
    assert index.account_org(world.consortium.signers["alpha"].address.lower()) == "alpha"
    assert index.history("member", "nobody") == []
    with pytest.raises(ValueError, match="unknown history kind"):
        index.history("block", "1")


def test_grant_state_at_each_time(world: World, index: ChainIndex) -> None:
    gid, created, revoked = world.grants["now"], world.times["grant now"], world.times["revoke"]
    assert index.grant_state_at(gid, created - 1) is None
    active = index.grant_state_at(gid, created)
    assert active is not None
    assert active["state"] == "active" and active["revoked"] is False and active["revoked_at"] is None
    assert (active["asset"], active["grantor"], active["grantee"], active["purpose"]) == (
        ASSET,
        "alpha",
        "beta",
        PURPOSE,
    )
    assert active["quota"] == 100 and active["expires_at"] == active["not_before"] + 60 + 86_400
    assert active["created_at"] == created and active["created_tx"] == world.txs["grant now"]
    assert active["created_block"] == index.transaction(world.txs["grant now"])["block_number"]  # type: ignore[index]
    assert index.grant_state_at(gid, revoked - 1)["state"] == "active"  # type: ignore[index]
    gone = index.grant_state_at(gid, revoked)
    assert gone is not None and gone["state"] == "revoked" and gone["revoked"] is True
    assert (gone["revoked_at"], gone["revoke_reason"], gone["revoked_tx"]) == (revoked, 3, world.txs["revoke"])
    # Expiry is a matter of time alone: after it, a grant that was never revoked is expired.
    later, made = world.grants["later"], world.times["grant later"]
    window = index.grant_state_at(later, made)
    assert window is not None and window["state"] == "not_yet_valid"
    assert window["void"] is False  # created before the transfer; at its creation time nothing changed yet
    assert index.grant_state_at(later, window["not_before"])["state"] == "active"  # type: ignore[index]
    assert index.grant_state_at(later, window["expires_at"] - 1)["state"] == "active"  # type: ignore[index]
    expired = index.grant_state_at(later, window["expires_at"])
    assert expired is not None and expired["state"] == "expired" and expired["revoked"] is False
    # The asset changed owner after this grant: the contract now answers OWNERSHIP_CHANGED for it.
    assert expired["void"] is True and expired["void_at"] == world.times["accept"]
    assert index.grant_state_at(later, world.times["accept"] - 1)["void"] is False  # type: ignore[index]
    assert index.grant_state_at("0x" + "00" * 32, created + 10) is None
    # the provenance's grant link shows these as they are: the API's model holds each exactly (explorer.api.schemas)
    for state in (active, gone, window, expired):
        assert GrantAtTime.model_validate(state).model_dump() == state


def test_owner_and_versions_at(world: World, index: ChainIndex) -> None:
    registered, accepted = world.times["register"], world.times["accept"]
    assert index.owner_at(ASSET, registered - 1) is None
    assert index.owner_at(ASSET, registered) == "alpha"
    assert index.owner_at(ASSET, world.times["offer"]) == "alpha"  # offered, not yet accepted
    assert index.owner_at(ASSET, accepted - 1) == "alpha"
    assert index.owner_at(ASSET, accepted) == "gamma"
    assert index.owner_at(OTHER_ASSET, accepted) == "gamma"
    assert index.owner_at("no-such-asset", accepted) is None
    c = world.consortium
    for n in (1, 2, 3):
        row = index.asset_version_at(ASSET, n)
        on_chain = c.assets.version(ASSET, n)
        assert row is not None and on_chain is not None
        assert row["content_digest"] == hx(on_chain.content_digest)
        assert row["metadata_digest"] == hx(on_chain.metadata_digest)
        assert row["classification"] == on_chain.classification
        assert row["timestamp"] == on_chain.registered_at
        assert row["registered_by"] == on_chain.registered_by
    assert index.asset_version_at(ASSET, 1)["tx_hash"] == world.txs["register"]  # type: ignore[index]
    assert index.asset_version_at(ASSET, 3)["registered_by"] == c.signers["gamma"].address  # type: ignore[index]
    assert index.asset_version_at(ASSET, 4) is None
    for n in (1, 2, 3):  # the provenance's asset link shows these as they are
        row = index.asset_version_at(ASSET, n)
        assert AssetVersion.model_validate(row).model_dump() == row


def test_events_newest_first_with_a_cursor(world: World, index: ChainIndex) -> None:
    grants = index.events(contract="AccessGrants", event=None, before=None, limit=10)
    assert names(grants) == ["GrantRevoked", "GrantCreated", "GrantCreated"]
    first = index.events(contract="AccessGrants", event=None, before=None, limit=1)
    cursor = (first[0]["block_number"], first[0]["log_index"])
    assert index.events(contract="AccessGrants", event=None, before=cursor, limit=10) == grants[1:]
    created = index.events(contract=None, event="GrantCreated", before=None, limit=10)
    assert [e["args"]["grant_id"] for e in created] == [world.grants["later"], world.grants["now"]]
    everything = index.events(contract=None, event=None, before=None, limit=1000)
    positions = [(e["block_number"], e["log_index"]) for e in everything]
    assert positions == sorted(positions, reverse=True)
    assert {e["contract"] for e in everything} == set(world.contracts)
    assert index.events(contract="AuditAnchor", event="Anchored", before=None, limit=5)[0]["args"]["origin"] == ORIGIN
    assert index.events(contract="AccessGrants", event=None, before=None, limit=0) == []


# -- writing, restarting, following -------------------------------------------------------------------------------


def test_add_block_refuses_a_wrong_number_and_writes_nothing(world: World, tmp_path: Path) -> None:
    copy = tmp_path / "chain.db"
    own = ChainIndex(copy)
    follow_to_head(ChainFollower(own, world.url, world.contracts), world.head())
    head = own.head()
    tip = own.block(head)
    assert tip is not None
    before = own.blocks(before=None, limit=5)

    def block(number: int) -> dict[str, Any]:
        return {"number": number, "hash": "0x" + "11" * 32, "parent_hash": tip["hash"], "timestamp": 1, "seals": None}

    tx = {"hash": "0x" + "22" * 32, "index": 0, "from": None, "to": None, "contract": None, "function": None,
          "args": None, "status": 1}  # fmt: skip
    for number in (head, head + 2, 0, -1):
        with pytest.raises(ValueError, match="cannot be indexed next"):
            own.add_block(block(number), [tx], [])
    orphan = {"tx_hash": "0x" + "33" * 32, "log_index": 0, "contract": None, "event": None, "args": None}
    with pytest.raises(ValueError, match="not in it"):
        own.add_block(block(head + 1), [tx], [orphan])
    assert own.head() == head and own.blocks(before=None, limit=5) == before
    assert own.transaction(tx["hash"]) is None and own.block(head + 1) is None  # type: ignore[arg-type]
    own.add_block(block(head + 1), [tx], [])  # the right number goes in
    assert own.head() == head + 1 and own.transaction(tx["hash"])["block_number"] == head + 1  # type: ignore[index, arg-type]
    own.close()
    readonly = ChainIndex(copy, readonly=True)
    assert readonly.head() == head + 1
    with pytest.raises(PermissionError):
        readonly.add_block(block(head + 2), [], [])
    readonly.close()
    with pytest.raises(FileNotFoundError):
        ChainIndex(tmp_path / "missing.db", readonly=True)


def test_a_new_index_on_the_same_file_continues_where_it_stopped(
    world: World, index: ChainIndex, tmp_path: Path
) -> None:
    path = tmp_path / "chain.db"
    first = ChainIndex(path)
    assert first.head() == -1
    assert ChainFollower(first, world.url, world.contracts).sync_once(max_blocks=7) == 7
    assert first.head() == 6
    first.close()
    second = ChainIndex(path)
    assert second.head() == 6
    follower = ChainFollower(second, world.url, world.contracts)
    assert follower.status["indexed_head"] == 6
    follow_to_head(follower, world.head())
    head = world.head()
    assert second.blocks(before=None, limit=head + 1) == index.blocks(before=None, limit=head + 1)
    for number in (6, 7, head):
        assert second.block(number) == index.block(number)
    assert second.history("asset", ASSET) == index.history("asset", ASSET)
    assert second.account_org(world.delta) == "delta"
    second.close()


def test_receipts_one_transaction_at_a_time_give_the_same_index(
    world: World, index: ChainIndex, tmp_path: Path
) -> None:
    """The path for a node without eth_getBlockReceipts: eth_getTransactionReceipt for each transaction."""
    idx = ChainIndex(tmp_path / "chain.db")
    follower = ChainFollower(idx, world.url, world.contracts)
    follower.block_receipts = False
    head = world.head()
    follow_to_head(follower, head)
    assert idx.blocks(before=head + 1, limit=head + 1) == index.blocks(before=head + 1, limit=head + 1)
    for tx_hash in world.txs.values():
        assert idx.transaction(tx_hash) == index.transaction(tx_hash)
    idx.close()


def test_a_node_without_block_receipts_is_noticed_and_read_one_transaction_at_a_time(
    world: World, index: ChainIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The node answers eth_getBlockReceipts with -32601 (Besu before 24.x, a proxy): in the batch's answers, not
    raised; the follower says so once and falls back to eth_getTransactionReceipt."""
    methods = world.backend.server._methods
    kept = methods.pop("eth_getBlockReceipts")
    try:
        idx = ChainIndex(tmp_path / "chain.db")
        follower = ChainFollower(idx, world.url, world.contracts)
        assert follower.block_receipts is True
        head = world.head()
        with caplog.at_level(logging.INFO, logger="explorer.chainfollow"):
            follow_to_head(follower, head)
    finally:
        methods["eth_getBlockReceipts"] = kept
    assert follower.block_receipts is False
    assert [r.getMessage() for r in caplog.records if "eth_getBlockReceipts" in r.getMessage()] == [
        "the node has no eth_getBlockReceipts: reading receipts one transaction at a time"
    ]
    assert idx.blocks(before=head + 1, limit=head + 1) == index.blocks(before=head + 1, limit=head + 1)
    idx.close()


def test_readers_see_whole_blocks_while_the_writer_indexes(world: World, tmp_path: Path) -> None:
    idx = ChainIndex(tmp_path / "chain.db")
    head = world.head()
    problems: list[str] = []
    seen: set[int] = set()
    done = threading.Event()

    def read() -> None:
        last = -1
        while not done.is_set():
            now = idx.head()
            block = idx.block(now) if now >= 0 else None
            if now < last or (now >= 0 and (block is None or len(block["transactions"]) != block["tx_count"])):
                problems.append(f"head {now} after {last}: {block}")
            for tx in (block or {"transactions": []})["transactions"]:
                found = idx.transaction(tx["hash"])
                if found is None or found["block_number"] != now:
                    problems.append(f"transaction {tx['hash']} of block {now}: {found}")
            last = now
            seen.add(now)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for r in readers:
        r.start()
    try:
        follower = ChainFollower(idx, world.url, world.contracts)
        while idx.head() < head:
            follower.sync_once(max_blocks=3)
    finally:
        done.set()
        for r in readers:
            r.join()
    assert problems == [] and len(seen) > 3  # the readers ran while the blocks went in
    # A writer in the middle of a block holds no reader back: they answer at once, without the unfinished block.
    answers: list[int] = []

    with pytest.raises(RuntimeError, match="abandon"), idx._transaction() as db:
        db.execute(
            "INSERT INTO blocks (number, hash, parent_hash, timestamp, tx_count) VALUES (?, '0x', '0x', 0, 0)",
            (head + 1,),
        )
        reader = threading.Thread(target=lambda: answers.append(idx.head()))
        reader.start()
        reader.join(timeout=5)
        answered_meanwhile = list(answers)  # before the writer lets go of its block
        raise RuntimeError("abandon the block")
    assert answered_meanwhile == [head]
    assert idx.head() == head
    idx.close()


def test_follower_thread_keeps_up_and_reports(world: World, tmp_path: Path) -> None:
    idx = ChainIndex(tmp_path / "chain.db")
    follower = ChainFollower(idx, world.url, world.contracts, poll=0.05)
    follower.start()
    try:
        receipt = world.consortium.assets.add_center(world.consortium.signers["op"], "fixed-income", "Bonds")
        target = int(receipt["blockNumber"])
        wait_until(lambda: follower.status["indexed_head"] >= target, f"the follower to index block {target}", 30)
        status = follower.status
        assert status["running"] is True and status["halted"] is False and status["last_error"] is None
        assert (
            status["head_seen"] is not None
            and status["head_seen"] >= target
            and isinstance(status["last_sync_ms"], int)
        )
        tx = idx.transaction(tx_of(receipt))
        assert tx is not None and tx["function"] == "add_center"
        assert tx["args"] == {"center": "fixed-income", "name": "Bonds"}
    finally:
        follower.stop()
    assert follower.status["running"] is False
    idx.close()


def test_confirmations_keep_the_follower_behind_the_head(world: World, tmp_path: Path) -> None:
    idx = ChainIndex(tmp_path / "chain.db")
    follower = ChainFollower(idx, world.url, world.contracts, confirmations=3)
    head = world.head()
    while follower.sync_once() > 0:
        pass
    seen = follower.status["head_seen"]
    assert seen is not None and idx.head() >= head - 3 and idx.head() == seen - 3
    idx.close()


def test_a_block_that_does_not_extend_the_index_stops_the_follower(world: World, tmp_path: Path) -> None:
    other = LocalNode(Account.create())  # another chain: its own genesis
    try:
        for _ in range(3):
            other.node.seal(allow_empty=True)
        idx = ChainIndex(tmp_path / "chain.db")
        assert ChainFollower(idx, other.server.url, {}).sync_once(max_blocks=3) == 3
        follower = ChainFollower(idx, world.url, world.contracts, poll=0.05)
        with pytest.raises(ChainDivergedError, match="block 3 has parent"):
            follower.sync_once()
        status = follower.status
        assert status["halted"] is True and "delete the index" in str(status["last_error"])
        assert idx.head() == 2
        with pytest.raises(ChainDivergedError):  # stays stopped
            follower.sync_once()
        follower.start()  # the thread sees the halt and ends
        wait_until(lambda: not follower.status["running"], "the halted follower's thread to end", 10)
        follower.stop()
        assert idx.head() == 2
        idx.close()
    finally:
        other.close()


def test_an_unreachable_node_is_reported_and_retried(world: World, tmp_path: Path) -> None:
    idx = ChainIndex(tmp_path / "chain.db")
    follower = ChainFollower(idx, "http://127.0.0.1:9", world.contracts, timeout=2)
    with pytest.raises(Exception):  # noqa: B017 - whatever the HTTP stack raises for a refused connection
        follower.sync_once()
    assert follower.status["last_error"] and follower.status["halted"] is False
    assert idx.head() == -1
    idx.close()


# -- anvil: the same follower on a chain without our seals ---------------------------------------------------------


@pytest.mark.anvil
def test_follows_anvil_without_seals(anvil_url: str, tmp_path: Path) -> None:
    backend = RpcBackend(anvil_url)
    c = deploy(backend, founder_accounts())
    alpha = c.signers["alpha"]
    c.assets.register_asset(alpha, ASSET, AssetKind.DATASET, digest("v1"), digest("meta v1"), 1)
    now = c.now()
    grant_id = "0x" + c.grants.create_grant(alpha, ASSET, "beta", PURPOSE, now - 10, now + 3_600, 5).hex()
    revoked = c.grants.revoke(alpha, bytes.fromhex(grant_id[2:]), 2)
    head = int(backend.web3.eth.block_number)
    idx = ChainIndex(tmp_path / "chain.db")
    follower = ChainFollower(idx, anvil_url, c.deployment.addresses)
    follow_to_head(follower, head)
    for number in range(head + 1):
        row = idx.block(number)
        assert row is not None and row["seals"] is None
        assert row["hash"] == hx(backend.web3.eth.get_block(number)["hash"])
    assert names(idx.history("grant", grant_id)) == ["GrantCreated", "GrantRevoked"]
    tx = idx.transaction(tx_of(revoked))
    assert tx is not None and tx["contract"] == "AccessGrants" and tx["args"] == {"grant_id": grant_id, "reason": 2}
    created, revoked_at = (e["timestamp"] for e in idx.history("grant", grant_id))
    assert idx.grant_state_at(grant_id, created - 1) is None
    # anvil may mine both in the same second: at that second the grant stood revoked
    expected = "revoked" if revoked_at == created else "active"
    assert idx.grant_state_at(grant_id, created)["state"] == expected  # type: ignore[index]
    assert idx.grant_state_at(grant_id, revoked_at)["state"] == "revoked"  # type: ignore[index]
    assert idx.owner_at(ASSET, created) == "alpha"
    idx.close()


# -- how fast ------------------------------------------------------------------------------------------------------


@pytest.mark.benchmark
@pytest.mark.slow
def test_indexing_rate(tmp_path: Path) -> None:
    """Blocks and transactions indexed per second on our node (in this process, so it shares the interpreter
    with the indexer): first blocks of create_grant transactions, as many as the sealer packs each 10 ms,
    then empty blocks. Run with ``-s`` to see the figures."""
    accounts = founder_accounts()
    backend = LocalNode(accounts["op"])
    try:
        c = deploy(backend, accounts)
        alpha = c.signers["alpha"]
        c.assets.register_asset(alpha, ASSET, AssetKind.API, digest("v1"), digest("meta v1"), 2)
        now = c.now()
        w3 = backend.web3
        sent = []
        for i in range(600):
            tx: dict[str, Any] = {
                "to": c.grants.address,
                "data": c.grants.encode(
                    "create_grant",
                    ASSET.encode().ljust(32, b"\0"),
                    b"beta".ljust(32, b"\0"),
                    PURPOSE.encode().ljust(32, b"\0"),
                    now - 10,
                    now + 86_400,
                    i,
                ),
                "gas": 400_000,
                "chainId": backend.chain_id,
                "type": 2,
                "nonce": alpha.take_nonce(backend),
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
            }
            sent.append(w3.eth.send_raw_transaction(alpha.account.sign_transaction(tx).raw_transaction))
        w3.eth.wait_for_transaction_receipt(sent[-1], timeout=300, poll_latency=0.05)
        busy_head = int(w3.eth.block_number)
        for _ in range(1000):
            backend.node.seal(allow_empty=True)
        head = int(w3.eth.block_number)
        idx = ChainIndex(tmp_path / "chain.db")
        follower = ChainFollower(idx, backend.server.url, c.deployment.addresses)
        started = time.perf_counter()
        while idx.head() < busy_head:
            follower.sync_once(max_blocks=busy_head - idx.head())
        busy = time.perf_counter() - started
        started = time.perf_counter()
        follow_to_head(follower, head)
        empty = time.perf_counter() - started
        transactions = sum(b["tx_count"] for b in idx.blocks(before=None, limit=head + 1))
        print(
            f"\n{busy_head + 1} blocks with {transactions} transactions in {busy:.2f} s: "
            f"{(busy_head + 1) / busy:.0f} blocks/s, {transactions / busy:.0f} tx/s; "
            f"{head - busy_head} empty blocks in {empty:.2f} s: {(head - busy_head) / empty:.0f} blocks/s"
        )
        assert len(idx.history("asset", ASSET)) == 2 + len(sent)
        assert all(e["args"]["grantee"] == "beta" for e in idx.history("asset", ASSET)[2:])
        idx.close()
    finally:
        backend.close()
