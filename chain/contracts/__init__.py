"""Typed Python clients of the consortium's contracts, one module per contract."""

from chain.contracts.anchor import ANCHOR_DOMAIN, AnchorInfo, AuditAnchorClient, anchor_message
from chain.contracts.assets import ApiInfo, AssetInfo, AssetVersionInfo, DataAssetRegistryClient
from chain.contracts.deploy import Deployment, FoundingMember, deploy_consortium
from chain.contracts.grants import (
    AccessGrantsClient,
    CheckResult,
    GrantInfo,
    GrantStatus,
    PrivateGrantInfo,
    PrivateTerms,
)
from chain.contracts.registry import ConsortiumRegistryClient, MemberInfo, ProposalInfo, ProposalKind
from chain.contracts.trust import KeyKind, KeyRecord, KeyState, TrustDirectoryClient

__all__ = [
    "ANCHOR_DOMAIN",
    "AccessGrantsClient",
    "AnchorInfo",
    "ApiInfo",
    "AssetInfo",
    "AssetVersionInfo",
    "AuditAnchorClient",
    "CheckResult",
    "ConsortiumRegistryClient",
    "DataAssetRegistryClient",
    "Deployment",
    "FoundingMember",
    "GrantInfo",
    "GrantStatus",
    "KeyKind",
    "KeyRecord",
    "KeyState",
    "MemberInfo",
    "PrivateGrantInfo",
    "PrivateTerms",
    "ProposalInfo",
    "ProposalKind",
    "TrustDirectoryClient",
    "anchor_message",
    "deploy_consortium",
]
