"""Chains with our contracts deployed, for the chain index's tests.

``LocalNode`` is the consortium's own node in this process, served over real JSON-RPC on loopback, with an
in-memory store and a sealing loop that seals every 10 ms when there is something to seal (as
``tests/conftest.py``'s NodeBackend, which this directory cannot import: its own conftest takes the name).
``deploy(backend)`` deploys the five contracts on any chain and bootstraps the five founders of the contract
tests ("op", "alpha", "beta", "gamma", "reg"), each with a fresh account; the operator deploys, as
``consortium init`` does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.backend import Backend, RpcBackend
from chain.contracts import (
    AccessGrantsClient,
    AuditAnchorClient,
    ConsortiumRegistryClient,
    DataAssetRegistryClient,
    Deployment,
    FoundingMember,
    deploy_consortium,
)
from chain.ids import OrgId, Role
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from chain.node.service import Metrics, SealingLoop
from chain.tx import Signer

CHAIN_ID = 20263
FOUNDER_ROLES: dict[str, Role] = {
    "op": Role.MEMBER | Role.OPERATOR | Role.NOTARY | Role.VALIDATOR | Role.WITNESS,
    "alpha": Role.MEMBER | Role.WITNESS,
    "beta": Role.MEMBER | Role.WITNESS,
    "gamma": Role.MEMBER | Role.WITNESS,
    "reg": Role.REGULATOR | Role.WITNESS,
}
THRESHOLD = 2
PROPOSAL_TTL = 7 * 86400


class LocalNode(RpcBackend):
    """Our node, sealed by ``operator``'s key, in this process; ``close`` stops it."""

    def __init__(self, operator: LocalAccount) -> None:
        genesis = Genesis(CHAIN_ID, (operator.address,), operator.address, int(time.time()) - 1)
        self.node = Node(AtomicDB(), genesis, bytes(operator.key))
        self.server = RpcServer(self.node, port=0)
        self.server.start()
        self.loop = SealingLoop(self.node, Metrics(self.node), block_time=0.01, empty_blocks=False)
        self.loop.start()
        super().__init__(self.server.url)

    def close(self) -> None:
        self.loop.stop()
        self.server.stop()


@dataclass(frozen=True)
class Deployed:
    backend: Backend
    deployment: Deployment
    registry: ConsortiumRegistryClient
    assets: DataAssetRegistryClient
    grants: AccessGrantsClient
    anchors: AuditAnchorClient
    signers: dict[str, Signer]

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.backend.web3.eth.get_block("latest")["timestamp"])


def founder_accounts() -> dict[str, LocalAccount]:
    return {org: Account.create() for org in FOUNDER_ROLES}


def deploy(backend: Backend, accounts: dict[str, LocalAccount]) -> Deployed:
    signers = {org: Signer(account) for org, account in accounts.items()}
    founders = [
        FoundingMember(
            OrgId(org), f"{org.title()} Securities", roles, f"certificate of {org}".encode().ljust(32, b"."),
            (signers[org].address,),
        )
        for org, roles in FOUNDER_ROLES.items()
    ]  # fmt: skip
    deployment = deploy_consortium(
        backend, signers["op"], founders, threshold=THRESHOLD, proposal_ttl_seconds=PROPOSAL_TTL
    )
    return Deployed(
        backend,
        deployment,
        deployment.registry(backend),
        deployment.assets(backend),
        deployment.grants(backend),
        deployment.anchors(backend),
        signers,
    )
