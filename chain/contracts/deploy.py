"""Deploy the five contracts and bootstrap the founding members and their keys: the consortium's genesis on any
chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chain.backend import Backend
from chain.contracts.anchor import SM2_VERIFY_ADDRESS, AuditAnchorClient, has_sm2_verify
from chain.contracts.assets import DataAssetRegistryClient
from chain.contracts.grants import AccessGrantsClient
from chain.contracts.registry import ConsortiumRegistryClient
from chain.contracts.trust import KeyKind, TrustDirectoryClient
from chain.errors import ChainError
from chain.ids import OrgId, Role, contract_address
from chain.tx import Signer, pipelined, transact
from contracts import CONTRACT_NAMES, load_artifact

if TYPE_CHECKING:
    from web3.types import TxReceipt


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
    receipt = _send_deployment(backend, signer, name, *args)
    address = receipt["contractAddress"]
    assert address is not None
    return str(address)


def _send_deployment(backend: Backend, signer: Signer, name: str, *args: Any) -> TxReceipt:
    artifact = load_artifact(name)
    factory = backend.web3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*args).data_in_transaction
    return transact(backend, signer, None, data, f"deploy {name}")


def created_address(sender: str, nonce: int) -> str:
    """The checksummed address of the contract ``sender`` creates with its transaction of ``nonce``."""
    from eth_utils.address import to_canonical_address, to_checksum_address

    return str(to_checksum_address(contract_address(to_canonical_address(sender), nonce)))


def deploy_consortium(
    backend: Backend,
    deployer: Signer,
    founders: Sequence[FoundingMember],
    threshold: int,
    proposal_ttl_seconds: int = 7 * 86400,
    signed_anchors: bool = False,
) -> Deployment:
    """Deploy every contract, register the founders and their keys, then close both bootstraps for good.

    ``signed_anchors`` (a consortium of the ``sm`` suite): AuditAnchor is deployed refusing plain ``anchor``, so
    that every anchor is checked against the notary's SM2 log key; a chain without the SM2-verify precompile could
    then anchor nothing, and is refused with ChainError before anything is deployed.

    The five deployments go out together (``chain.tx.pipelined``): each constructor only keeps the addresses it is
    given, which follow from the deployer's nonces; so do the founders' registrations, each of its own org."""
    if signed_anchors and not has_sm2_verify(backend):
        raise ChainError(
            f"this chain has no SM2-verify precompile at {SM2_VERIFY_ADDRESS}: a consortium of the 'sm' suite "
            "has AuditAnchor check the notary's SM2 signature on every anchor, which such a chain would refuse "
            "all; nothing was deployed (use the consortium's own chain node)"
        )
    first = deployer.next_nonce(backend)
    registry, assets, grants, anchor, trust = (created_address(deployer.address, first + i) for i in range(5))
    with pipelined():
        receipts = [
            _send_deployment(backend, deployer, "ConsortiumRegistry", threshold, proposal_ttl_seconds),
            _send_deployment(backend, deployer, "DataAssetRegistry", registry),
            _send_deployment(backend, deployer, "AccessGrants", registry, assets),
            _send_deployment(backend, deployer, "AuditAnchor", registry, signed_anchors),
            _send_deployment(backend, deployer, "TrustDirectory", registry),
        ]
    addresses = (registry, assets, grants, anchor, trust)
    for name, address, receipt in zip(CONTRACT_NAMES, addresses, receipts, strict=True):
        if receipt["contractAddress"] != address:  # another sender of the deployer's account took a nonce
            raise ChainError(f"{name} was deployed at {receipt['contractAddress']}, not at {address} as planned")
    deployment = Deployment(dict(zip(CONTRACT_NAMES, addresses, strict=True)))
    client = deployment.registry(backend)
    with pipelined():
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
