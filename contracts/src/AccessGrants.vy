# pragma version 0.4.3
"""
@title AccessGrants
@notice Grants of access to a data asset: the owner grants (asset, grantee, purpose) for a time window and a
        call quota, and may revoke with a reason code. `check` answers whether a call is allowed now and, if
        not, exactly why. A grant counts only while the grantee is an active member and its grantor still
        owns the asset: a suspension voids it for as long as it lasts, a transfer of rights voids it for good.
        A private grant keeps its terms off chain: the chain holds its asset, grantor, a locator `key` and a
        salted `commitment` to grantee, purpose, window and quota; `check_private` is `check` for whoever
        holds the terms and the salt (see docs/confidentiality.md, "Private grants").
"""
from interfaces import IConsortiumRegistry
from interfaces import IDataAssetRegistry
import membership

ALLOWED: constant(uint8) = 0
UNKNOWN_ASSET: constant(uint8) = 1
ASSET_RETIRED: constant(uint8) = 2
GRANTEE_NOT_MEMBER: constant(uint8) = 3
GRANTEE_SUSPENDED: constant(uint8) = 4
OWNER_SUSPENDED: constant(uint8) = 5
NO_GRANT: constant(uint8) = 6
REVOKED: constant(uint8) = 7
OWNERSHIP_CHANGED: constant(uint8) = 8
NOT_YET_VALID: constant(uint8) = 9
EXPIRED: constant(uint8) = 10
TERMS_MISMATCH: constant(uint8) = 11


struct Grant:
    asset: bytes32
    grantor: bytes32
    grantee: bytes32
    purpose: bytes32
    not_before: uint64
    expires_at: uint64
    quota: uint256
    created_at: uint64
    revoked_at: uint64
    revoke_reason: uint16
    owner_epoch: uint256


struct PrivateGrant:
    key: bytes32
    commitment: bytes32


event GrantCreated:
    grant_id: indexed(bytes32)
    asset: indexed(bytes32)
    grantee: indexed(bytes32)
    grantor: bytes32
    purpose: bytes32
    not_before: uint64
    expires_at: uint64
    quota: uint256

event GrantRevoked:
    grant_id: indexed(bytes32)
    asset: indexed(bytes32)
    grantee: indexed(bytes32)
    reason: uint16

event PrivateGrantCreated:
    grant_id: indexed(bytes32)
    asset: indexed(bytes32)
    grantor: bytes32
    key: bytes32
    commitment: bytes32

event PrivateGrantRevoked:
    grant_id: indexed(bytes32)
    asset: indexed(bytes32)
    reason: uint16


registry: public(IConsortiumRegistry)
assets: public(IDataAssetRegistry)
grants: HashMap[bytes32, Grant]
grant_at: public(HashMap[uint256, bytes32])
grant_count: public(uint256)
current: HashMap[bytes32, bytes32]
private_grants: HashMap[bytes32, PrivateGrant]
# asset -> key -> grant id: a key lives in its asset's space, so an owner can replace only its own grants
private_current: HashMap[bytes32, HashMap[bytes32, bytes32]]


@deploy
def __init__(registry: IConsortiumRegistry, assets: IDataAssetRegistry):
    self.registry = registry
    self.assets = assets


@external
def create_grant(asset: bytes32, grantee: bytes32, purpose: bytes32, not_before: uint64, expires_at: uint64,
                 quota: uint256) -> bytes32:
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.MEMBER)
    owner: bytes32 = empty(bytes32)
    retired: bool = False
    epoch: uint256 = 0
    owner, retired, epoch = staticcall self.assets.asset_state(asset)
    assert owner != empty(bytes32), "unknown asset"
    assert owner == org, "not asset owner"
    assert not retired, "asset retired"
    assert grantee != org, "cannot grant to the owner"
    status: uint8 = 0
    roles: uint256 = 0
    status, roles = staticcall self.registry.org_info(grantee)
    assert status != membership.STATUS_SUSPENDED, "grantee suspended"
    assert status == membership.STATUS_ACTIVE and roles & membership.MEMBER != 0, "grantee not a member"
    assert purpose != empty(bytes32), "empty purpose"
    assert expires_at > not_before, "expiry must be after not-before"
    assert convert(expires_at, uint256) > block.timestamp, "grant already expired"
    grant_id: bytes32 = keccak256(abi_encode(chain.id, self, self.grant_count))
    self.grants[grant_id] = Grant(
        asset=asset, grantor=org, grantee=grantee, purpose=purpose, not_before=not_before,
        expires_at=expires_at, quota=quota, created_at=convert(block.timestamp, uint64), revoked_at=0,
        revoke_reason=0, owner_epoch=epoch,
    )
    self.grant_at[self.grant_count] = grant_id
    self.grant_count += 1
    self.current[self._key(asset, grantee, purpose)] = grant_id
    log GrantCreated(grant_id=grant_id, asset=asset, grantee=grantee, grantor=org, purpose=purpose,
                     not_before=not_before, expires_at=expires_at, quota=quota)
    return grant_id


@external
def create_private_grant(asset: bytes32, key: bytes32, commitment: bytes32) -> bytes32:
    """
    @notice A grant whose grantee, purpose, window and quota stay off chain. `key` is
            keccak256(abi_encode(salt, asset, grantee, purpose)) and `commitment` is
            keccak256(abi_encode(salt, grantee, purpose, not_before, expires_at, quota)) (bytes32, bytes32,
            bytes32, uint64, uint64, uint256), both made by the grantor with a random 32-byte salt. The chain
            cannot check the terms here: `check_private` checks them, and the grantee's membership, at use.
            A new grant under the key of an earlier one replaces it, as `create_grant` does.
    """
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.MEMBER)
    owner: bytes32 = empty(bytes32)
    retired: bool = False
    epoch: uint256 = 0
    owner, retired, epoch = staticcall self.assets.asset_state(asset)
    assert owner != empty(bytes32), "unknown asset"
    assert owner == org, "not asset owner"
    assert not retired, "asset retired"
    assert key != empty(bytes32), "empty key"
    assert commitment != empty(bytes32), "empty commitment"
    grant_id: bytes32 = keccak256(abi_encode(chain.id, self, self.grant_count))
    self.grants[grant_id] = Grant(
        asset=asset, grantor=org, grantee=empty(bytes32), purpose=empty(bytes32), not_before=0, expires_at=0,
        quota=0, created_at=convert(block.timestamp, uint64), revoked_at=0, revoke_reason=0, owner_epoch=epoch,
    )
    self.private_grants[grant_id] = PrivateGrant(key=key, commitment=commitment)
    self.grant_at[self.grant_count] = grant_id
    self.grant_count += 1
    self.private_current[asset][key] = grant_id
    log PrivateGrantCreated(grant_id=grant_id, asset=asset, grantor=org, key=key, commitment=commitment)
    return grant_id


@external
def revoke(grant_id: bytes32, reason: uint16):
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.MEMBER)
    g: Grant = self.grants[grant_id]
    assert g.asset != empty(bytes32), "unknown grant"
    owner: bytes32 = empty(bytes32)
    retired: bool = False
    epoch: uint256 = 0
    owner, retired, epoch = staticcall self.assets.asset_state(g.asset)
    assert owner == org, "not asset owner"
    assert g.revoked_at == 0, "grant already revoked"
    assert reason != 0, "reason code required"
    self.grants[grant_id].revoked_at = convert(block.timestamp, uint64)
    self.grants[grant_id].revoke_reason = reason
    if g.grantee == empty(bytes32):
        log PrivateGrantRevoked(grant_id=grant_id, asset=g.asset, reason=reason)
    else:
        log GrantRevoked(grant_id=grant_id, asset=g.asset, grantee=g.grantee, reason=reason)


@view
@external
def grant(grant_id: bytes32) -> Grant:
    return self.grants[grant_id]


@view
@external
def current_grant(asset: bytes32, grantee: bytes32, purpose: bytes32) -> bytes32:
    return self.current[self._key(asset, grantee, purpose)]


@view
@external
def private_grant(grant_id: bytes32) -> PrivateGrant:
    """@notice The key and commitment of a private grant; empty for a clear one or an unknown id."""
    return self.private_grants[grant_id]


@view
@external
def check(asset: bytes32, grantee: bytes32, purpose: bytes32, at: uint64) -> (uint8, bytes32):
    """
    @notice Whether `grantee` may use `asset` for `purpose` at time `at`: (ALLOWED, grant id), or the first
            reason it may not, in the order the codes are numbered, with the grant id when one exists.
    """
    code: uint8 = 0
    owner: bytes32 = empty(bytes32)
    epoch: uint256 = 0
    code, owner, epoch = self._standing(asset, grantee)
    if code != ALLOWED:
        return code, empty(bytes32)
    grant_id: bytes32 = self.current[self._key(asset, grantee, purpose)]
    if grant_id == empty(bytes32):
        return NO_GRANT, empty(bytes32)
    g: Grant = self.grants[grant_id]
    return self._judge(g, owner, epoch, g.not_before, g.expires_at, at), grant_id


@view
@external
def check_private(asset: bytes32, grantee: bytes32, purpose: bytes32, not_before: uint64, expires_at: uint64,
                  quota: uint256, salt: bytes32, at: uint64) -> (uint8, bytes32):
    """
    @notice `check` for a private grant, given its terms and salt: the grant is the current one under
            keccak256(abi_encode(salt, asset, grantee, purpose)); TERMS_MISMATCH when the terms do not hash to
            its commitment (wrong terms, or a newer grant replaced the one they belong to). The same order
            and codes as `check` otherwise. A call, not a transaction: the terms do not go on chain.
    """
    code: uint8 = 0
    owner: bytes32 = empty(bytes32)
    epoch: uint256 = 0
    code, owner, epoch = self._standing(asset, grantee)
    if code != ALLOWED:
        return code, empty(bytes32)
    if grantee == owner:
        return NO_GRANT, empty(bytes32)
    grant_id: bytes32 = self.private_current[asset][keccak256(abi_encode(salt, asset, grantee, purpose))]
    if grant_id == empty(bytes32):
        return NO_GRANT, empty(bytes32)
    commitment: bytes32 = keccak256(abi_encode(salt, grantee, purpose, not_before, expires_at, quota))
    if commitment != self.private_grants[grant_id].commitment:
        return TERMS_MISMATCH, grant_id
    return self._judge(self.grants[grant_id], owner, epoch, not_before, expires_at, at), grant_id


@internal
@view
def _standing(asset: bytes32, grantee: bytes32) -> (uint8, bytes32, uint256):
    """@notice The checks that come before any grant: the asset, the grantee and the owner, at use time."""
    owner: bytes32 = empty(bytes32)
    retired: bool = False
    epoch: uint256 = 0
    owner, retired, epoch = staticcall self.assets.asset_state(asset)
    if owner == empty(bytes32):
        return UNKNOWN_ASSET, owner, epoch
    if retired:
        return ASSET_RETIRED, owner, epoch
    status: uint8 = 0
    roles: uint256 = 0
    status, roles = staticcall self.registry.org_info(grantee)
    if status == membership.STATUS_SUSPENDED:
        return GRANTEE_SUSPENDED, owner, epoch
    if status != membership.STATUS_ACTIVE or roles & membership.MEMBER == 0:
        return GRANTEE_NOT_MEMBER, owner, epoch
    status, roles = staticcall self.registry.org_info(owner)
    if status != membership.STATUS_ACTIVE:
        return OWNER_SUSPENDED, owner, epoch
    return ALLOWED, owner, epoch


@internal
@pure
def _judge(g: Grant, owner: bytes32, epoch: uint256, not_before: uint64, expires_at: uint64,
           at: uint64) -> uint8:
    """@notice A found grant's answer: revoked, voided by a transfer, or its window against `at`."""
    if g.revoked_at != 0:
        return REVOKED
    if g.grantor != owner or g.owner_epoch != epoch:
        return OWNERSHIP_CHANGED
    if at < not_before:
        return NOT_YET_VALID
    if at >= expires_at:
        return EXPIRED
    return ALLOWED


@internal
@pure
def _key(asset: bytes32, grantee: bytes32, purpose: bytes32) -> bytes32:
    return keccak256(concat(asset, grantee, purpose))
