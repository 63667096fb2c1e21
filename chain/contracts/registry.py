"""Client of ConsortiumRegistry: members, roles, accounts, k-of-n proposals, suspension."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from chain.contracts._base import ContractClient, check_digest
from chain.ids import MemberStatus, OrgId, Role, bytes32_to_name, name_to_bytes32
from chain.tx import Signer

if TYPE_CHECKING:
    from web3.types import TxReceipt


def to_checksum_address(account: str) -> str:
    """eth_utils' checksummed spelling of ``account``; eth_utils is imported at the first use, not by every command
    that imports the contract clients."""
    from eth_utils.address import to_checksum_address as checksummed

    return checksummed(account)


class ProposalKind(IntEnum):
    ADMIT = 1
    REMOVE = 2
    SUSPEND = 3
    REINSTATE = 4
    SET_THRESHOLD = 5


@dataclass(frozen=True, slots=True)
class MemberInfo:
    org: OrgId
    name: str
    roles: Role
    status: MemberStatus
    cert_fingerprint: bytes
    accounts: tuple[str, ...]
    admitted_at: int


@dataclass(frozen=True, slots=True)
class ProposalInfo:
    proposal_id: int
    kind: ProposalKind
    org: OrgId
    name: str
    roles: Role
    accounts: tuple[str, ...]
    threshold: int
    proposer: OrgId
    approvals: int
    created_at: int
    expires_at: int
    executed: bool
    cert_fingerprint: bytes = b""  # an admission's admin certificate fingerprint (32 zero bytes otherwise)


class ConsortiumRegistryClient(ContractClient):
    NAME = "ConsortiumRegistry"

    # -- reads --
    def member(self, org: str) -> MemberInfo | None:
        raw = self._call("member", name_to_bytes32(org, "org id"))
        if raw[3] == MemberStatus.NONE:
            return None
        return MemberInfo(
            OrgId(bytes32_to_name(raw[0])),
            raw[1],
            Role(raw[2]),
            MemberStatus(raw[3]),
            bytes(raw[4]),
            tuple(raw[5]),
            raw[6],
        )

    def validators(self) -> list[str]:
        """The chain's validator set as the registry lists it: the first account of each active member holding
        the validator role (a chain whose genesis says ``validator_contract`` takes it from the next block)."""
        return [str(a) for a in self._call("validators")]

    def members(self) -> list[MemberInfo]:
        out = []
        for i in range(self._call("member_count")):
            info = self.member(bytes32_to_name(self._call("member_at", i)))
            if info is not None:
                out.append(info)
        return out

    def org_of(self, account: str) -> OrgId | None:
        raw = self._call("account_org", to_checksum_address(account))
        name = bytes32_to_name(raw)
        return OrgId(name) if name else None

    def threshold(self) -> int:
        return int(self._call("threshold"))

    def voter_count(self) -> int:
        return int(self._call("voter_count"))

    def is_active_account(self, account: str) -> bool:
        return bool(self._call("is_active_account", to_checksum_address(account)))

    def proposal(self, proposal_id: int) -> ProposalInfo | None:
        raw = self._call("proposal", proposal_id)
        if raw[0] == 0:
            return None
        return ProposalInfo(
            proposal_id,
            ProposalKind(raw[0]),
            OrgId(bytes32_to_name(raw[1])),
            raw[2],
            Role(raw[3]),
            tuple(raw[5]),
            raw[6],
            OrgId(bytes32_to_name(raw[7])),
            raw[8],
            raw[9],
            raw[10],
            raw[11],
            bytes(raw[4]),
        )

    def proposals(self) -> list[ProposalInfo]:
        out = []
        for pid in range(1, int(self._call("proposal_count")) + 1):
            info = self.proposal(pid)
            if info is not None:
                out.append(info)
        return out

    def has_approved(self, proposal_id: int, org: str) -> bool:
        return bool(self._call("has_approved", proposal_id, name_to_bytes32(org, "org id")))

    # -- genesis --
    def bootstrap_member(
        self, signer: Signer, org: str, name: str, roles: Role, cert_fingerprint: bytes, accounts: list[str]
    ) -> TxReceipt:
        return self._transact(
            signer,
            "bootstrap_member",
            name_to_bytes32(org, "org id"),
            name,
            int(roles),
            check_digest(cert_fingerprint, "certificate fingerprint"),
            accounts,
        )

    def finish_bootstrap(self, signer: Signer) -> TxReceipt:
        return self._transact(signer, "finish_bootstrap")

    # -- proposals --
    def _proposal_id(self, receipt: TxReceipt) -> int:
        return int(self.decode_events(receipt, "ProposalCreated")[0]["args"]["proposal_id"])

    def propose_admit(
        self, signer: Signer, org: str, name: str, roles: Role, cert_fingerprint: bytes, accounts: list[str]
    ) -> int:
        return self._proposal_id(
            self._transact(
                signer,
                "propose_admit",
                name_to_bytes32(org, "org id"),
                name,
                int(roles),
                check_digest(cert_fingerprint, "certificate fingerprint"),
                accounts,
            )
        )

    def propose_remove(self, signer: Signer, org: str) -> int:
        return self._proposal_id(self._transact(signer, "propose_remove", name_to_bytes32(org, "org id")))

    def propose_suspend(self, signer: Signer, org: str) -> int:
        return self._proposal_id(self._transact(signer, "propose_suspend", name_to_bytes32(org, "org id")))

    def propose_reinstate(self, signer: Signer, org: str) -> int:
        return self._proposal_id(self._transact(signer, "propose_reinstate", name_to_bytes32(org, "org id")))

    def propose_threshold(self, signer: Signer, threshold: int) -> int:
        return self._proposal_id(self._transact(signer, "propose_threshold", threshold))

    def approve(self, signer: Signer, proposal_id: int) -> bool:
        """Approve; True when this approval reached the threshold and the proposal was carried out."""
        self._transact(signer, "approve", proposal_id)
        info = self.proposal(proposal_id)
        return info is not None and info.executed

    # -- supervision and a member's own identity --
    def suspend(self, signer: Signer, org: str) -> TxReceipt:
        return self._transact(signer, "suspend", name_to_bytes32(org, "org id"))

    def reinstate(self, signer: Signer, org: str) -> TxReceipt:
        return self._transact(signer, "reinstate", name_to_bytes32(org, "org id"))

    def add_account(self, signer: Signer, account: str) -> TxReceipt:
        return self._transact(signer, "add_account", to_checksum_address(account))

    def remove_account(self, signer: Signer, account: str) -> TxReceipt:
        return self._transact(signer, "remove_account", to_checksum_address(account))

    def revoke_account(self, signer: Signer, account: str, replacement: str | None = None) -> TxReceipt:
        """A regulator's revocation of a member's compromised account, with the ``replacement`` account the member
        handed over (None: the member keeps another account)."""
        other = "0x" + "00" * 20 if replacement is None else to_checksum_address(replacement)
        return self._transact(signer, "revoke_account", to_checksum_address(account), other)

    def set_certificate(self, signer: Signer, cert_fingerprint: bytes) -> TxReceipt:
        return self._transact(signer, "set_certificate", check_digest(cert_fingerprint, "certificate fingerprint"))
