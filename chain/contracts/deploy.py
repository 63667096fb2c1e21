"""Deploy the five contracts and bootstrap the founding members and their keys: the consortium's genesis on any
chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain.backend import Backend
from chain.contracts.anchor import AuditAnchorClient
from chain.contracts.assets import DataAssetRegistryClient
from chain.contracts.grants import AccessGrantsClient
from chain.contracts.registry import ConsortiumRegistryClient
from chain.contracts.trust import KeyKind, TrustDirectoryClient
from chain.ids import OrgId, Role
from chain.tx import Signer, pipelined, transact
from contracts import CONTRACT_NAMES, load_artifact


@dataclass(frozen=True, slots=True)
class FoundingMember:
    org: OrgId
    name: str
    roles: Role
    cert_fingerprint: bytes
    accounts: tuple[str, ...]
    #: The founder's keys written into the TrustDirectory at genesis, valid from block 0.
    keys: tuple[tuple[KeyKind, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Deployment:
    """Addresses of the deployed contracts, by contract name."""

    addresses: dict[str, str]

    def registry(self, backend: Backend) -> ConsortiumRegistryClient:
        return ConsortiumRegistryClient(backend, self.addresses["ConsortiumRegistry"])

    def assets(self, backend: Backend) -> DataAssetRegistryClient:
        return DataAssetRegistryClient(backend, self.addresses["DataAssetRegistry"])

    def grants(self, backend: Backend) -> AccessGrantsClient:
        return AccessGrantsClient(backend, self.addresses["AccessGrants"])

    def anchors(self, backend: Backend) -> AuditAnchorClient:
        return AuditAnchorClient(backend, self.addresses["AuditAnchor"])

    def trust(self, backend: Backend) -> TrustDirectoryClient | None:
        """The TrustDirectory; None for a consortium deployed before it existed."""
        address = self.addresses.get("TrustDirectory")
        return None if address is None else TrustDirectoryClient(backend, address)


def deploy_contract(backend: Backend, signer: Signer, name: str, *args: Any) -> str:
    artifact = load_artifact(name)
    factory = backend.web3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = transact(backend, signer, None, data, f"deploy {name}")
    address = receipt["contractAddress"]
    assert address is not None
    return str(address)


def deploy_consortium(
    backend: Backend,
    deployer: Signer,
    founders: Sequence[FoundingMember],
    threshold: int,
    proposal_ttl_seconds: int = 7 * 86400,
) -> Deployment:
    """Deploy every contract, register the founders and their keys, then close both bootstraps for good."""
    registry = deploy_contract(backend, deployer, "ConsortiumRegistry", threshold, proposal_ttl_seconds)
    assets = deploy_contract(backend, deployer, "DataAssetRegistry", registry)
    grants = deploy_contract(backend, deployer, "AccessGrants", registry, assets)
    anchor = deploy_contract(backend, deployer, "AuditAnchor", registry)
    trust = deploy_contract(backend, deployer, "TrustDirectory", registry)
    deployment = Deployment(dict(zip(CONTRACT_NAMES, (registry, assets, grants, anchor, trust), strict=True)))
    client = deployment.registry(backend)
    for m in founders:
        client.bootstrap_member(deployer, m.org, m.name, m.roles, m.cert_fingerprint, list(m.accounts))
    directory = TrustDirectoryClient(backend, trust)
    with pipelined():  # independent of one another: as few blocks as the chain makes
        deployment.anchors(backend).set_trust_directory(deployer, trust)
        for m in founders:
            for kind, value in m.keys:
                directory.bootstrap_key(deployer, m.org, kind, value)
    directory.finish_bootstrap(deployer)
    client.finish_bootstrap(deployer)
    return deployment
