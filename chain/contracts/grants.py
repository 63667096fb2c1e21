"""Client of AccessGrants: grant, revoke, and check whether a call is allowed (and why not).

Two kinds of grant live in the contract. A clear grant (``create_grant``) has its grantee, purpose, window
and quota on chain. A private grant (``create_private_grant``) has only its asset and grantor there, beside
two hashes the grantor makes with a random 32-byte salt (:class:`PrivateTerms`):

* ``key = keccak256(abi_encode(salt, asset, grantee, purpose))`` (four bytes32) locates the current private
  grant of (asset, grantee, purpose) without naming them; a grantor keeps one salt per (asset, grantee,
  purpose), so that a new grant of the same three replaces the previous one on chain as a clear grant does;
* ``commitment = keccak256(abi_encode(salt, grantee, purpose, not_before, expires_at, quota))`` (bytes32,
  bytes32, bytes32, uint64, uint64, uint256) binds the terms.

Whoever holds the terms and the salt asks ``check_private``, an ``eth_call``: the terms never go on chain, but
they reach the node that answers it. ``chain.contracts.privatecheck.check_private_here`` computes the same answer
where the terms are, from storage words read by slot, so that they reach no node.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING

from chain.contracts._base import ContractClient, check_digest
from chain.errors import MalformedError
from chain.ids import AssetId, OrgId, bytes32_to_name, name_to_bytes32
from chain.tx import Signer

if TYPE_CHECKING:
    from web3.types import BlockIdentifier, TxReceipt

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
    TERMS_MISMATCH = 11

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
    GrantStatus.TERMS_MISMATCH: "terms do not match the private grant's commitment on chain (wrong terms or salt, "
    "or a newer grant replaced it)",
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
class PrivateGrantInfo:
    """A private grant as every member reads it on chain: no grantee, purpose, window or quota."""

    grant_id: bytes
    asset: AssetId
    grantor: OrgId
    key: bytes
    commitment: bytes
    created_at: int
    revoked_at: int
    revoke_reason: int
    owner_epoch: int


@dataclass(frozen=True, slots=True)
class PrivateTerms:
    """The terms of a private grant and the salt that hides them: what grantor, grantee and regulator hold."""

    asset: str
    grantor: str
    grantee: str
    purpose: str
    not_before: int
    expires_at: int
    quota: int
    salt: bytes

    def __post_init__(self) -> None:
        for value, what in ((self.asset, "asset id"), (self.grantor, "org id"), (self.grantee, "org id")):
            name_to_bytes32(value, what)
        name_to_bytes32(self.purpose, "purpose")
        _time(self.not_before, "not-before")
        _time(self.expires_at, "expiry")
        _quota(self.quota)
        check_digest(self.salt, "salt")

    @classmethod
    def draw(
        cls, asset: str, grantor: str, grantee: str, purpose: str, not_before: int, expires_at: int, quota: int = 0
    ) -> PrivateTerms:
        """New terms under a fresh random salt."""
        return cls(asset, grantor, grantee, purpose, not_before, expires_at, quota, secrets.token_bytes(32))

    @property
    def key(self) -> bytes:
        """``keccak256(abi_encode(salt, asset, grantee, purpose))``: where the grant is found on chain."""
        return private_key(self.salt, self.asset, self.grantee, self.purpose)

    @property
    def commitment(self) -> bytes:
        """``keccak256(abi_encode(salt, grantee, purpose, not_before, expires_at, quota))``."""
        from eth_abi.abi import encode
        from eth_utils.crypto import keccak

        return keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint64", "uint64", "uint256"],
                [
                    self.salt,
                    name_to_bytes32(self.grantee, "org id"),
                    name_to_bytes32(self.purpose, "purpose"),
                    self.not_before,
                    self.expires_at,
                    self.quota,
                ],
            )
        )


def private_key(salt: bytes, asset: str, grantee: str, purpose: str) -> bytes:
    """The locator of the private grants of (asset, grantee, purpose) under ``salt``."""
    from eth_abi.abi import encode
    from eth_utils.crypto import keccak

    return keccak(
        encode(
            ["bytes32"] * 4,
            [
                check_digest(salt, "salt"),
                name_to_bytes32(asset, "asset id"),
                name_to_bytes32(grantee, "org id"),
                name_to_bytes32(purpose, "purpose"),
            ],
        )
    )


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


def _quota(value: int) -> int:
    if not isinstance(value, int) or not 0 <= value < 2**256:
        raise MalformedError(f"quota must be a non-negative integer, got {value!r}")
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
        _quota(quota)
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

    def create_private_grant(self, signer: Signer, terms: PrivateTerms) -> bytes:
        """Put ``terms``' key and commitment on chain (nothing else of them); the new grant's id."""
        return self.private_grant_id_of(self.submit_private_grant(signer, terms.asset, terms.key, terms.commitment))

    def submit_private_grant(self, signer: Signer, asset: str, key: bytes, commitment: bytes) -> TxReceipt:
        return self._transact(
            signer,
            "create_private_grant",
            name_to_bytes32(asset, "asset id"),
            check_digest(key, "key"),
            check_digest(commitment, "commitment"),
        )

    def private_grant_id_of(self, receipt: TxReceipt) -> bytes:
        """The id of the grant a ``create_private_grant`` transaction created."""
        return bytes(self.decode_events(receipt, "PrivateGrantCreated")[0]["args"]["grant_id"])

    def revoke(self, signer: Signer, grant_id: bytes, reason: int) -> TxReceipt:
        if not isinstance(reason, int) or not 1 <= reason < 2**16:
            raise MalformedError(f"reason code must be 1-65535, got {reason!r}")
        return self._transact(signer, "revoke", grant_id, reason)

    def grant(self, grant_id: bytes) -> GrantInfo | None:
        """The clear grant ``grant_id``; None for an unknown id or a private grant (:meth:`private_grant`)."""
        found = self._either(grant_id)
        return found if isinstance(found, GrantInfo) else None

    def _either(self, grant_id: bytes) -> GrantInfo | PrivateGrantInfo | None:
        """Grant ``grant_id`` of either kind (a private grant has no grantee on chain); one read for a clear one."""
        raw = self._call("grant", grant_id)
        if raw[0] == b"\0" * 32:
            return None
        if raw[2] == b"\0" * 32:
            key, commitment = self._call("private_grant", grant_id)
            return PrivateGrantInfo(
                grant_id,
                AssetId(bytes32_to_name(raw[0])),
                OrgId(bytes32_to_name(raw[1])),
                bytes(key),
                bytes(commitment),
                *raw[7:],
            )
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

    def private_grant(self, grant_id: bytes) -> PrivateGrantInfo | None:
        """The private grant ``grant_id``; None for an unknown id or a clear grant."""
        found = self._either(grant_id)
        return found if isinstance(found, PrivateGrantInfo) else None

    def _ids(self) -> list[bytes]:
        return [bytes(self._call("grant_at", i)) for i in range(self._call("grant_count"))]

    def grants(self) -> list[GrantInfo]:
        """Every clear grant, oldest first (private grants: :meth:`private_grants`)."""
        return [g for i in self._ids() if (g := self.grant(i)) is not None]

    def private_grants(self) -> list[PrivateGrantInfo]:
        """Every private grant, oldest first."""
        return [g for i in self._ids() if (g := self.private_grant(i)) is not None]

    def grants_of_both_kinds(self) -> tuple[list[GrantInfo], list[PrivateGrantInfo]]:
        """:meth:`grants` and :meth:`private_grants` in one pass over the ids."""
        found = [g for i in self._ids() if (g := self._either(i)) is not None]
        return [g for g in found if isinstance(g, GrantInfo)], [g for g in found if isinstance(g, PrivateGrantInfo)]

    def check(self, asset: str, grantee: str, purpose: str, at: int) -> CheckResult:
        code, grant_id = self._call(
            "check",
            name_to_bytes32(asset, "asset id"),
            name_to_bytes32(grantee, "org id"),
            name_to_bytes32(purpose, "purpose"),
            _time(at, "time"),
        )
        return CheckResult(GrantStatus(code), bytes(grant_id) if any(grant_id) else None)

    def check_private(self, terms: PrivateTerms, at: int, block: BlockIdentifier = "latest") -> CheckResult:
        """``check`` for the private grant of ``terms`` (an ``eth_call``: nothing of the terms goes on chain, but
        the node answering reads them all; ``chain.contracts.privatecheck.check_private_here`` does not send
        them)."""
        code, grant_id = self._call(
            "check_private",
            name_to_bytes32(terms.asset, "asset id"),
            name_to_bytes32(terms.grantee, "org id"),
            name_to_bytes32(terms.purpose, "purpose"),
            terms.not_before,
            terms.expires_at,
            terms.quota,
            terms.salt,
            _time(at, "time"),
            block=block,
        )
        return CheckResult(GrantStatus(code), bytes(grant_id) if any(grant_id) else None)

    @cached_property
    def linked(self) -> dict[str, str]:
        """The addresses of this contract and of the two it reads, by name (set at deployment, never changed)."""
        return {
            self.NAME: self.address,
            "ConsortiumRegistry": str(self._call("registry")),
            "DataAssetRegistry": str(self._call("assets")),
        }
