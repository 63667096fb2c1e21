"""The consortium's records read from a block's state through Merkle proofs, not through a node's word.

Each value is read from the contract's storage words (``chain.contracts.layout``: slots from the compiled
layout), each word proven by ``eth_getProof`` against the ``stateRoot`` of a header the light client accepted
(``chain.lightclient``). The answers are the typed records the contract clients return from ``eth_call``
(``MemberInfo``, ``KeyRecord``, ``GrantInfo``), so the two can be compared; the judgements (a key's validity at
the block, a grant's ``check``) follow the contracts' own code, applied to proven words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from chain.contracts.grants import GrantInfo, GrantStatus, PrivateGrantInfo
from chain.contracts.layout import Location, StorageLayout, read
from chain.contracts.privatecheck import judge, revoked_or_moved, standing
from chain.contracts.registry import MemberInfo
from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.errors import ChainError, MalformedError
from chain.ids import AssetId, MemberStatus, OrgId, Role, bytes32_to_name, name_to_bytes32
from chain.lightclient import JsonRpc, VerifiedHeader, prove_account
from chain.stateproof import EMPTY_CODE_HASH

ZERO = b"\0" * 32


class NoContractError(ChainError):
    """The proven state holds no contract at the address ``consortium.json`` names."""


@dataclass(frozen=True, slots=True)
class ProvenKeys:
    """An org's key records in the TrustDirectory and its registry status, at ``block``."""

    org: OrgId
    status: MemberStatus
    block: int
    records: tuple[KeyRecord, ...]

    def counts(self, record: KeyRecord) -> bool:
        """Whether ``record`` counts at the block: valid then, and its org not removed (a removed member's keys
        count for nothing; a suspended member's still do)."""
        return record.valid_at(self.block) and self.status in (MemberStatus.ACTIVE, MemberStatus.SUSPENDED)


@dataclass(frozen=True, slots=True)
class ProvenGrant:
    """A grant and what ``AccessGrants.check`` answers for it at time ``at``. ``current``: whether it is the grant
    ``check`` finds for its asset, grantee and purpose (a newer one replaces it). A private grant's window and
    quota are off chain: its ``status`` is None unless its standing (asset, members, revocation) already refuses."""

    grant: GrantInfo | PrivateGrantInfo
    at: int
    current: bool
    status: GrantStatus | None


class ProvenState:
    """Reads of the contracts at ``addresses`` (name to 0x address) in the state of ``header``."""

    def __init__(self, rpc: JsonRpc, header: VerifiedHeader, addresses: Mapping[str, str]) -> None:
        self.rpc = rpc
        self.header = header
        self.addresses = dict(addresses)
        self.proven_slots = 0

    def read(self, contract: str, locations: Sequence[Location]) -> list[Any]:
        address = self._address(contract)

        def fetch(slots: list[int]) -> Mapping[int, int]:
            account = prove_account(self.rpc, self.header, address, slots)
            if not account.exists or account.code_hash == EMPTY_CODE_HASH:
                raise NoContractError(
                    f"block {self.header.number} holds no contract at {contract}'s address 0x{address.hex()}"
                )
            self.proven_slots += len(slots)
            return account.storage

        return read(locations, fetch)

    def _address(self, contract: str) -> bytes:
        text = self.addresses.get(contract)
        if text is None:
            raise MalformedError(f"the consortium names no {contract} contract")
        if not (text.startswith("0x") and len(text) == 42):
            raise MalformedError(f"{contract}'s address {text!r} is not a 0x-prefixed 20-byte address")
        return bytes.fromhex(text[2:])

    # -- ConsortiumRegistry ---------------------------------------------------------------------------------

    def member(self, org: str) -> MemberInfo | None:
        """Org ``org``'s record in the registry; None if it was never admitted."""
        (raw,) = self.read("ConsortiumRegistry", [_members().at(name_to_bytes32(org, "org id"))])
        return None if raw["status"] == MemberStatus.NONE else _member_info(raw)

    # -- TrustDirectory -------------------------------------------------------------------------------------

    def trust_orgs(self) -> tuple[int, tuple[OrgId, ...]]:
        """The directory's change count and every org that holds records in it, in ``org_at`` order."""
        trust = StorageLayout.of("TrustDirectory")
        changes, count = self.read("TrustDirectory", [trust.variable("change_count"), trust.variable("org_count")])
        orgs = self.read("TrustDirectory", [trust.variable("org_at").at(i) for i in range(count)])
        return int(changes), tuple(OrgId(bytes32_to_name(bytes(org))) for org in orgs)

    def keys(self, org: str) -> ProvenKeys:
        """Every key record of ``org``, with its registry status."""
        key = name_to_bytes32(org, "org id")
        trust = StorageLayout.of("TrustDirectory")
        (count,) = self.read("TrustDirectory", [trust.variable("record_count").at(key)])
        records = trust.variable("records").at(key)
        raws = self.read("TrustDirectory", [records.at(i) for i in range(count)])
        (member,) = self.read("ConsortiumRegistry", [_members().at(key).member("status")])
        return ProvenKeys(
            OrgId(org),
            MemberStatus(member),
            self.header.number,
            tuple(_key_record(OrgId(org), i, raw) for i, raw in enumerate(raws)),
        )

    # -- AccessGrants ---------------------------------------------------------------------------------------

    def grant(self, grant_id: bytes, at: int | None = None) -> ProvenGrant | None:
        """Grant ``grant_id`` and ``check``'s answer for it at ``at`` (default: the block's timestamp); None for
        an unknown id."""
        if len(grant_id) != 32:
            raise MalformedError(f"a grant id is 32 bytes, got {len(grant_id)}")
        when = self.header.timestamp if at is None else at
        grants = StorageLayout.of("AccessGrants")
        raw, private = self.read(
            "AccessGrants", [grants.variable("grants").at(grant_id), grants.variable("private_grants").at(grant_id)]
        )
        if raw["asset"] == ZERO:
            return None
        asset = bytes(raw["asset"])
        assets = StorageLayout.of("DataAssetRegistry").variable("assets").at(asset)
        owner, retired, transfers = self.read(
            "DataAssetRegistry", [assets.member("owner"), assets.member("retired"), assets.member("transfers")]
        )
        info: GrantInfo | PrivateGrantInfo
        if raw["grantee"] == ZERO:  # a private grant: no grantee, purpose or window on chain
            info = PrivateGrantInfo(
                grant_id, AssetId(bytes32_to_name(asset)), OrgId(bytes32_to_name(raw["grantor"])),
                bytes(private["key"]), bytes(private["commitment"]), raw["created_at"], raw["revoked_at"],
                raw["revoke_reason"], raw["owner_epoch"],
            )  # fmt: skip
            (current_id,) = self.read("AccessGrants", [grants.variable("private_current").at(asset).at(private["key"])])
            standing = self._standing(owner, retired, None)
            status = standing if standing is not None else _revoked_or_moved(raw, owner, transfers)
            return ProvenGrant(info, when, current_id == grant_id, status)
        info = _grant_info(grant_id, raw)
        key = keccak(asset + bytes(raw["grantee"]) + bytes(raw["purpose"]))
        (current_id,) = self.read("AccessGrants", [grants.variable("current").at(key)])
        standing = self._standing(owner, retired, bytes(raw["grantee"]))
        status = standing if standing is not None else _judge(raw, owner, transfers, when)
        return ProvenGrant(info, when, current_id == grant_id, status)

    def _standing(self, owner: bytes, retired: bool, grantee: bytes | None) -> GrantStatus | None:
        """``AccessGrants._standing``: the refusals that come before any grant; None when there is none."""
        return standing(self.read, owner, retired, grantee)


def _members() -> Location:
    return StorageLayout.of("ConsortiumRegistry").variable("members")


def _member_info(raw: dict[str, Any]) -> MemberInfo:
    return MemberInfo(
        OrgId(bytes32_to_name(raw["org"])),
        raw["name"],
        Role(raw["roles"]),
        MemberStatus(raw["status"]),
        bytes(raw["cert_fingerprint"]),
        tuple(_checksum(a) for a in raw["accounts"]),
        raw["admitted_at"],
    )


def _checksum(address: bytes) -> str:
    """EIP-55, as web3 gives the accounts of ``MemberInfo``."""
    digest = keccak(address.hex().encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(address.hex()))


def _key_record(org: OrgId, index: int, raw: dict[str, Any]) -> KeyRecord:
    ended_by = bytes32_to_name(bytes(raw["ended_by"]))
    state = KeyState(raw["state"])
    return KeyRecord(
        org=org,
        index=index,
        kind=KeyKind(raw["kind"]),
        value=bytes(raw["value"]),
        valid_from=raw["valid_from"],
        valid_until=None if state == KeyState.OPEN else raw["valid_until"],
        state=state,
        added_at=raw["added_at"],
        ended_by=OrgId(ended_by) if ended_by else None,
    )


def _grant_info(grant_id: bytes, raw: dict[str, Any]) -> GrantInfo:
    return GrantInfo(
        grant_id,
        AssetId(bytes32_to_name(raw["asset"])),
        OrgId(bytes32_to_name(raw["grantor"])),
        OrgId(bytes32_to_name(raw["grantee"])),
        bytes32_to_name(raw["purpose"]),
        raw["not_before"],
        raw["expires_at"],
        raw["quota"],
        raw["created_at"],
        raw["revoked_at"],
        raw["revoke_reason"],
        raw["owner_epoch"],
    )


def _revoked_or_moved(raw: dict[str, Any], owner: bytes, transfers: int) -> GrantStatus | None:
    """The part of ``AccessGrants._judge`` that needs no terms."""
    return revoked_or_moved(raw, owner, transfers)


def _judge(raw: dict[str, Any], owner: bytes, transfers: int, at: int) -> GrantStatus:
    """``AccessGrants._judge``: a found grant's answer at time ``at``."""
    return judge(raw, owner, transfers, raw["not_before"], raw["expires_at"], at)


__all__ = ["NoContractError", "ProvenGrant", "ProvenKeys", "ProvenState"]
