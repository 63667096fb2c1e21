"""A test consortium on any chain backend: its founders and keys, the in-process node served over JSON-RPC,
chain time and snapshots, and the deployment every contract test starts from (``tests/conftest.py`` makes
fixtures of them)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.backend import Backend, EthTesterBackend, RpcBackend
from chain.contracts import (
    AccessGrantsClient,
    AuditAnchorClient,
    ConsortiumRegistryClient,
    DataAssetRegistryClient,
    Deployment,
    FoundingMember,
    KeyKind,
    TrustDirectoryClient,
    deploy_consortium,
)
from chain.contracts.deploy import deploy_contract
from chain.ids import OrgId, Role
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from chain.node.service import Metrics, SealingLoop
from chain.tx import Signer, fee_fields

if TYPE_CHECKING:
    from network.description import ConsortiumDescription

ANVIL_CHAIN_ID = 20261

#: The founding members of every test consortium, with their roles.
FOUNDER_ROLES: dict[str, Role] = {
    "op": Role.MEMBER | Role.OPERATOR | Role.NOTARY | Role.VALIDATOR | Role.WITNESS,
    "alpha": Role.MEMBER | Role.WITNESS,
    "beta": Role.MEMBER | Role.WITNESS,
    "gamma": Role.MEMBER | Role.WITNESS,
    "reg": Role.REGULATOR | Role.WITNESS,
}
THRESHOLD = 2
PROPOSAL_TTL = 7 * 86400
#: What the faucet gives an account created during a test, on a chain where gas costs something.
FAUCET_GIFT_WEI = 10**24


def founder_keys(org: str) -> tuple[tuple[KeyKind, bytes], ...]:
    """The keys genesis writes into the TrustDirectory: only alpha's, made up, so that every other contract
    test deploys no more than two extra transactions."""
    if org != "alpha":
        return ()
    return ((KeyKind.CA_CERT, b"ca certificate of alpha"), (KeyKind.GATEWAY_KEY, hashlib.sha256(b"alpha gw").digest()))


def cert_fingerprint(org: str) -> bytes:
    """A founder's (made-up) certificate fingerprint: fixed per org so tests can compare."""
    return hashlib.sha256(f"certificate of {org}".encode()).digest()


@dataclass(frozen=True)
class Keys:
    """The accounts of one test consortium: one per founding org, the deployer, an outsider, a faucet."""

    orgs: dict[str, LocalAccount]
    deployer: LocalAccount
    outsider: LocalAccount
    faucet: LocalAccount

    @classmethod
    def create(cls) -> Keys:
        orgs = {org: Account.create() for org in FOUNDER_ROLES}
        # The operator deploys, as `consortium init` does: on a permissioned chain only it may.
        return cls(orgs, orgs["op"], Account.create(), Account.create())

    def addresses(self) -> list[str]:
        return [str(a.address) for a in (*self.orgs.values(), self.deployer, self.outsider, self.faucet)]


class NodeBackend(RpcBackend):
    """The consortium's own node, in this process, served over real JSON-RPC on loopback.

    Its store is in memory and its clock is the wall clock plus an offset the tests may move forward;
    a sealing loop seals every 10 ms. A ledger has no snapshots: each test gets a fresh node and genesis."""

    def __init__(self, operator: LocalAccount) -> None:
        self.offset = 0.0
        genesis = Genesis(ANVIL_CHAIN_ID, (operator.address,), operator.address, int(time.time()) - 1)
        self.node = Node(AtomicDB(), genesis, bytes(operator.key), clock=lambda: time.time() + self.offset)
        self.metrics = Metrics(self.node)
        self.server = RpcServer(self.node, port=0)
        self.server.start()
        self.loop = SealingLoop(self.node, self.metrics, block_time=0.01, empty_blocks=False)
        self.loop.start()
        super().__init__(self.server.url)

    def advance(self, seconds: int) -> None:
        # Blocks sealed faster than one a second run ahead of the wall clock (each is parent + 1 s at least).
        ahead = max(0.0, self.node.head().timestamp - (time.time() + self.offset))
        self.offset += ahead + seconds
        self.node.seal(allow_empty=True)

    def close(self) -> None:
        self.loop.stop()
        self.server.stop()


def latest_timestamp(backend: Backend) -> int:
    return int(backend.web3.eth.get_block("latest")["timestamp"])


def _rpc(backend: Backend, method: str, params: list[Any]) -> Any:
    """A raw JSON-RPC call; None if the node does not know the method."""
    response = backend.web3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in response:
        return None
    return response.get("result")


def advance_time(backend: Backend, seconds: int) -> int:
    """Move chain time at least ``seconds`` forward and mine a block there; returns its timestamp."""
    target = latest_timestamp(backend) + seconds
    if isinstance(backend, NodeBackend):
        backend.advance(seconds + 1)
    elif isinstance(backend, EthTesterBackend):
        backend._tester.time_travel(target + 1)  # mines a block one second before the time given
    else:
        if _rpc(backend, "evm_increaseTime", [seconds]) is None or _rpc(backend, "evm_mine", []) is None:
            pytest.skip(f"{backend.description} cannot move chain time (no evm_increaseTime/evm_mine)")
    now = latest_timestamp(backend)
    assert now >= target, f"chain time moved to {now}, wanted at least {target}"
    return now


def take_snapshot(backend: Backend) -> Any:
    """An id to revert the chain to, or None if the backend has no snapshots."""
    if isinstance(backend, EthTesterBackend):
        return backend._tester.take_snapshot()
    return _rpc(backend, "evm_snapshot", [])


def revert_to_snapshot(backend: Backend, snapshot: Any) -> None:
    if isinstance(backend, EthTesterBackend):
        backend._tester.revert_to_snapshot(snapshot)
    elif _rpc(backend, "evm_revert", [snapshot]) is not True:
        raise AssertionError(f"{backend.description}: evm_revert({snapshot!r}) failed")


# -- the consortium --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consortium:
    """A freshly deployed consortium and the keys of its members."""

    backend: Backend
    deployment: Deployment
    registry: ConsortiumRegistryClient
    assets: DataAssetRegistryClient
    grants: AccessGrantsClient
    anchors: AuditAnchorClient
    trust: TrustDirectoryClient
    signers: dict[str, Signer]
    outsider: Signer
    deployer: Signer
    founders: tuple[FoundingMember, ...]
    faucet: Signer

    def now(self) -> int:
        """Timestamp of the latest block."""
        return latest_timestamp(self.backend)

    def advance_time(self, seconds: int) -> int:
        return advance_time(self.backend, seconds)

    def new_signer(self) -> Signer:
        """A fresh account that belongs to no member, able to pay for its gas on this chain."""
        signer = Signer(Account.create())
        self.fund(signer)
        return signer

    def fund(self, signer: Signer) -> None:
        """Give ``signer`` what pays for its gas on this chain (nothing on a free-gas chain)."""
        fees = fee_fields(self.backend)
        if fees["maxFeePerGas"] > 0:  # free-gas chains need no funding
            w3 = self.backend.web3
            tx: dict[str, Any] = {
                "to": signer.address,
                "value": FAUCET_GIFT_WEI,
                "gas": 21000,
                "chainId": self.backend.chain_id,
                "type": 2,
                "nonce": self.faucet.take_nonce(self.backend),
                **fees,
            }
            tx_hash = w3.eth.send_raw_transaction(self.faucet.account.sign_transaction(tx).raw_transaction)
            assert w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.05)["status"] == 1

    def signed_only_anchors(self) -> AuditAnchorClient:
        """A second AuditAnchor of this consortium, deployed ``signed_only`` and given its TrustDirectory, as
        ``deploy_consortium(..., signed_anchors=True)`` deploys it for an ``sm`` consortium."""
        anchors = self.deploy_audit_anchor(signed_only=True)
        anchors.set_trust_directory(self.deployer, self.trust.address)
        self.forget_nonces()
        return anchors

    def deploy_audit_anchor(self, signed_only: bool) -> AuditAnchorClient:
        """Another AuditAnchor of this consortium's registry, without a TrustDirectory yet."""
        self.forget_nonces()
        registry = self.deployment.addresses["ConsortiumRegistry"]
        address = deploy_contract(self.backend, self.deployer, "AuditAnchor", registry, signed_only)
        self.forget_nonces()
        return AuditAnchorClient(self.backend, address)

    def forget_nonces(self) -> None:
        """The deployer is the operator's account (``Keys.create``): after one of them sends, the other asks the
        chain for its nonce again."""
        for signer in (self.deployer, *self.signers.values()):
            signer.forget_nonce()

    def with_fresh_signers(self) -> Consortium:
        """The same consortium with new Signer objects: no nonce remembered from before a chain revert."""
        return replace(
            self,
            signers={org: Signer(s.account) for org, s in self.signers.items()},
            outsider=Signer(self.outsider.account),
            deployer=Signer(self.deployer.account),
            faucet=Signer(self.faucet.account),
        )


def deploy_test_consortium(backend: Backend, keys: Keys) -> Consortium:
    signers = {org: Signer(account) for org, account in keys.orgs.items()}
    founders = tuple(
        FoundingMember(
            OrgId(org),
            f"{org.title()} Securities",
            roles,
            cert_fingerprint(org),
            (signers[org].address,),
            founder_keys(org),
        )
        for org, roles in FOUNDER_ROLES.items()
    )
    deployer = Signer(keys.deployer)
    deployment = deploy_consortium(backend, deployer, founders, threshold=THRESHOLD, proposal_ttl_seconds=PROPOSAL_TTL)
    return Consortium(
        backend=backend,
        deployment=deployment,
        registry=deployment.registry(backend),
        assets=deployment.assets(backend),
        grants=deployment.grants(backend),
        anchors=deployment.anchors(backend),
        trust=TrustDirectoryClient(backend, deployment.addresses["TrustDirectory"]),
        signers=signers,
        outsider=Signer(keys.outsider),
        deployer=deployer,
        founders=founders,
        faucet=Signer(keys.faucet),
    )


def described(
    c: Consortium,
    directory: Path,
    name: str,
    passphrase: bytes,
    roles: Role = Role.MEMBER | Role.NOTARY,
    with_directory: bool = True,
) -> ConsortiumDescription:
    """A ``consortium.json`` over ``c``'s contracts whose one member, ``op`` (with ``roles``: the notary by
    default), has its identity created in ``directory`` under ``passphrase``; no witnesses. The log's origin is
    ``<name>/audit-log``. Without ``with_directory`` it names no TrustDirectory."""
    from contracts import CONTRACT_NAMES
    from network.description import ConsortiumDescription, MemberDescription
    from network.identity import create_org_identity

    identity = create_org_identity(directory, OrgId("op"), "Operator", passphrase)
    contracts = {n: c.deployment.addresses.get(n, f"0x{i + 1:040x}") for i, n in enumerate(CONTRACT_NAMES)}
    if not with_directory:
        del contracts["TrustDirectory"]
    return ConsortiumDescription(
        name=name,
        chain_id=c.backend.chain_id,
        chain_kind="external",
        chain_url="",
        contracts=contracts,
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={"witnesses": [], "threshold": 0, "require_regulator": False},
        members=(MemberDescription(OrgId("op"), "Operator", roles, identity),),
    )


def joined(
    c: Consortium, founders: ConsortiumDescription, directory: Path, org: str, passphrase: bytes
) -> tuple[ConsortiumDescription, Signer]:
    """A firm that joined later, as ``consortium member join`` leaves it: its own ``directory`` (a copy of the
    founders' ``founders``, its identity under ``passphrase``, its admission request), admitted as a member by
    alpha and beta (the threshold) and its keys published from that directory (``member keys publish``); its
    description (which lists the founders only) and its account, funded for gas."""
    from network.admission import join
    from network.description import load_description
    from network.identity import load_account_key, load_org_public
    from network.trust import founder_keys as published_keys

    request, _ = join(directory, founders, OrgId(org), f"{org.title()} Securities", Role.MEMBER, passphrase)
    proposal = c.registry.propose_admit(
        c.signers["alpha"], org, request.name, request.roles, request.cert_fingerprint, [request.account]
    )
    assert c.registry.approve(c.signers["beta"], proposal)
    signer = Signer.from_key(load_account_key(directory, OrgId(org), passphrase))
    c.fund(signer)
    for kind, value in published_keys(load_org_public(directory, OrgId(org)), request.roles):
        c.trust.add_key(signer, kind, value)
    return load_description(directory), signer
