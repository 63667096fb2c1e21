"""Client of AccessGrants: grant, revoke, and check whether a call is allowed (and why not)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from chain.contracts._base import ContractClient
from chain.errors import MalformedError
from chain.ids import AssetId, OrgId, bytes32_to_name, name_to_bytes32
from chain.tx import Signer

if TYPE_CHECKING:
    from web3.types import TxReceipt

UINT64_MAX = 2**64 - 1


class GrantStatus(IntEnum):
    """The answers of ``AccessGrants.check``, numbered as in the contract."""

    ALLOWED = 0
    UNKNOWN_ASSET = 1
    ASSET_RETIRED = 2
    GRANTEE_NOT_MEMBER = 3
    GRANTEE_SUSPENDED = 4
    OWNER_SUSPENDED = 5
    NO_GRANT = 6
    REVOKED = 7
    OWNERSHIP_CHANGED = 8
    NOT_YET_VALID = 9
    EXPIRED = 10

    @property
    def reason(self) -> str:
        return _REASONS[self]


_REASONS = {
    GrantStatus.ALLOWED: "allowed",
    GrantStatus.UNKNOWN_ASSET: "unknown asset",
    GrantStatus.ASSET_RETIRED: "asset retired",
    GrantStatus.GRANTEE_NOT_MEMBER: "grantee not a member",
    GrantStatus.GRANTEE_SUSPENDED: "grantee suspended",
    GrantStatus.OWNER_SUSPENDED: "asset owner not active (suspended or removed)",
    GrantStatus.NO_GRANT: "no grant for this asset, grantee and purpose",
    GrantStatus.REVOKED: "grant revoked",
    GrantStatus.OWNERSHIP_CHANGED: "asset changed owner after the grant",
    GrantStatus.NOT_YET_VALID: "grant not yet valid",
    GrantStatus.EXPIRED: "grant expired",
}


@dataclass(frozen=True, slots=True)
class GrantInfo:
    grant_id: bytes
    asset: AssetId
    grantor: OrgId
    grantee: OrgId
    purpose: str
    not_before: int
    expires_at: int
    quota: int
    created_at: int
    revoked_at: int
    revoke_reason: int
    owner_epoch: int  # transfers of the asset before this grant; a later transfer voids the grant


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: GrantStatus
    grant_id: bytes | None

    @property
    def allowed(self) -> bool:
        return self.status is GrantStatus.ALLOWED


def _time(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= UINT64_MAX:
        raise MalformedError(f"{what} must be a unix time in seconds, got {value!r}")
    return value


class AccessGrantsClient(ContractClient):
    NAME = "AccessGrants"

    def create_grant(
        self,
        signer: Signer,
        asset: str,
        grantee: str,
        purpose: str,
        not_before: int,
        expires_at: int,
        quota: int = 0,
    ) -> bytes:
        return self.grant_id_of(self.submit_grant(signer, asset, grantee, purpose, not_before, expires_at, quota))

    def submit_grant(
        self,
        signer: Signer,
        asset: str,
        grantee: str,
        purpose: str,
        not_before: int,
        expires_at: int,
        quota: int = 0,
    ) -> TxReceipt:
        """:meth:`create_grant` without reading the new grant's id from the receipt (which would wait for it
        within ``chain.tx.pipelined``); :meth:`grant_id_of` reads it."""
        if not isinstance(quota, int) or not 0 <= quota < 2**256:
            raise MalformedError(f"quota must be a non-negative integer, got {quota!r}")
        return self._transact(
            signer,
            "create_grant",
            name_to_bytes32(asset, "asset id"),
            name_to_bytes32(grantee, "org id"),
            name_to_bytes32(purpose, "purpose"),
            _time(not_before, "not-before"),
            _time(expires_at, "expiry"),
            quota,
        )

    def grant_id_of(self, receipt: TxReceipt) -> bytes:
        """The id of the grant a ``create_grant`` transaction created."""
        return bytes(self.decode_events(receipt, "GrantCreated")[0]["args"]["grant_id"])

    def revoke(self, signer: Signer, grant_id: bytes, reason: int) -> TxReceipt:
        if not isinstance(reason, int) or not 1 <= reason < 2**16:
            raise MalformedError(f"reason code must be 1-65535, got {reason!r}")
        return self._transact(signer, "revoke", grant_id, reason)

    def grant(self, grant_id: bytes) -> GrantInfo | None:
        raw = self._call("grant", grant_id)
        if raw[0] == b"\0" * 32:
            return None
        return GrantInfo(
            grant_id,
            AssetId(bytes32_to_name(raw[0])),
            OrgId(bytes32_to_name(raw[1])),
            OrgId(bytes32_to_name(raw[2])),
            bytes32_to_name(raw[3]),
            *raw[4:],
        )

    def count(self) -> int:
        """How many grants were ever issued (revoked and expired ones included)."""
        return int(self._call("grant_count"))

    def grants(self) -> list[GrantInfo]:
        ids = [bytes(self._call("grant_at", i)) for i in range(self._call("grant_count"))]
        return [g for i in ids if (g := self.grant(i)) is not None]

    def check(self, asset: str, grantee: str, purpose: str, at: int) -> CheckResult:
        code, grant_id = self._call(
            "check",
            name_to_bytes32(asset, "asset id"),
            name_to_bytes32(grantee, "org id"),
            name_to_bytes32(purpose, "purpose"),
            _time(at, "time"),
        )
        return CheckResult(GrantStatus(code), bytes(grant_id) if any(grant_id) else None)
