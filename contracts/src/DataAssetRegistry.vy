# pragma version 0.4.3
"""
@title DataAssetRegistry
@notice Who owns which data asset (确权), every version of it, and the service catalogue that exposes it:
        service center -> service unit -> API. An asset changes owner only when its owner offers it and the
        receiving member accepts, so ownership is never ambiguous. Only digests go on chain; the data stays home.
"""
from interfaces import IConsortiumRegistry
import membership

KIND_DATASET: constant(uint8) = 1
KIND_API: constant(uint8) = 4


struct Asset:
    owner: bytes32
    kind: uint8
    classification: uint8
    version_count: uint256
    pending_owner: bytes32
    registered_at: uint256
    retired: bool
    transfers: uint256


struct AssetVersion:
    content_digest: bytes32
    metadata_digest: bytes32
    classification: uint8
    registered_at: uint256
    registered_by: address


struct Center:
    name: String[64]
    created_at: uint256


struct Unit:
    center: bytes32
    name: String[64]
    created_at: uint256


struct Api:
    unit: bytes32
    route: String[128]
    method: String[8]
    provider: bytes32
    asset: bytes32
    active: bool


event AssetRegistered:
    asset: indexed(bytes32)
    owner: indexed(bytes32)
    kind: uint8
    classification: uint8
    content_digest: bytes32

event AssetVersionAdded:
    asset: indexed(bytes32)
    version: uint256
    content_digest: bytes32
    metadata_digest: bytes32
    classification: uint8

event TransferOffered:
    asset: indexed(bytes32)
    from_org: indexed(bytes32)
    to_org: indexed(bytes32)

event TransferCancelled:
    asset: indexed(bytes32)
    from_org: indexed(bytes32)

event AssetTransferred:
    asset: indexed(bytes32)
    from_org: indexed(bytes32)
    to_org: indexed(bytes32)

event AssetRetired:
    asset: indexed(bytes32)
    owner: indexed(bytes32)

event CenterAdded:
    center: indexed(bytes32)
    name: String[64]

event UnitAdded:
    unit: indexed(bytes32)
    center: indexed(bytes32)
    name: String[64]

event ApiRegistered:
    api: indexed(bytes32)
    unit: indexed(bytes32)
    provider: indexed(bytes32)
    asset: bytes32
    route: String[128]

event ApiRetired:
    api: indexed(bytes32)
    provider: indexed(bytes32)


registry: public(IConsortiumRegistry)
assets: HashMap[bytes32, Asset]
versions: HashMap[bytes32, HashMap[uint256, AssetVersion]]
asset_at: public(HashMap[uint256, bytes32])
asset_count: public(uint256)
centers: HashMap[bytes32, Center]
center_at: public(HashMap[uint256, bytes32])
center_count: public(uint256)
units: HashMap[bytes32, Unit]
unit_at: public(HashMap[uint256, bytes32])
unit_count: public(uint256)
apis: HashMap[bytes32, Api]
api_at: public(HashMap[uint256, bytes32])
api_count: public(uint256)


@deploy
def __init__(registry: IConsortiumRegistry):
    self.registry = registry


# -- assets ------------------------------------------------------------------------------------------------

@external
def register_asset(asset: bytes32, kind: uint8, content_digest: bytes32, metadata_digest: bytes32,
                   classification: uint8):
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.MEMBER)
    assert asset != empty(bytes32), "empty asset id"
    assert self.assets[asset].owner == empty(bytes32), "asset already registered"
    assert kind >= KIND_DATASET and kind <= KIND_API, "invalid asset kind"
    self._check_version(content_digest, classification)
    self.assets[asset] = Asset(
        owner=org, kind=kind, classification=classification, version_count=1,
        pending_owner=empty(bytes32), registered_at=block.timestamp, retired=False, transfers=0,
    )
    self.versions[asset][1] = AssetVersion(
        content_digest=content_digest, metadata_digest=metadata_digest, classification=classification,
        registered_at=block.timestamp, registered_by=msg.sender,
    )
    self.asset_at[self.asset_count] = asset
    self.asset_count += 1
    log AssetRegistered(asset=asset, owner=org, kind=kind, classification=classification,
                        content_digest=content_digest)
    log AssetVersionAdded(asset=asset, version=1, content_digest=content_digest,
                          metadata_digest=metadata_digest, classification=classification)


@external
def add_version(asset: bytes32, content_digest: bytes32, metadata_digest: bytes32,
                classification: uint8) -> uint256:
    self._owned_live_asset(asset)
    self._check_version(content_digest, classification)
    version: uint256 = self.assets[asset].version_count + 1
    self.assets[asset].version_count = version
    self.assets[asset].classification = classification
    self.versions[asset][version] = AssetVersion(
        content_digest=content_digest, metadata_digest=metadata_digest, classification=classification,
        registered_at=block.timestamp, registered_by=msg.sender,
    )
    log AssetVersionAdded(asset=asset, version=version, content_digest=content_digest,
                          metadata_digest=metadata_digest, classification=classification)
    return version


@external
def offer_transfer(asset: bytes32, to_org: bytes32):
    org: bytes32 = self._owned_live_asset(asset)
    assert to_org != org, "cannot transfer to the owner"
    status: uint8 = 0
    roles: uint256 = 0
    status, roles = staticcall self.registry.org_info(to_org)
    assert status != membership.STATUS_SUSPENDED, "recipient suspended"
    assert status == membership.STATUS_ACTIVE and roles & membership.MEMBER != 0, "recipient not a member"
    self.assets[asset].pending_owner = to_org
    log TransferOffered(asset=asset, from_org=org, to_org=to_org)


@external
def cancel_transfer(asset: bytes32):
    org: bytes32 = self._owned_live_asset(asset)
    assert self.assets[asset].pending_owner != empty(bytes32), "no transfer offered"
    self.assets[asset].pending_owner = empty(bytes32)
    log TransferCancelled(asset=asset, from_org=org)


@external
def accept_transfer(asset: bytes32):
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.MEMBER)
    a: Asset = self.assets[asset]
    assert a.owner != empty(bytes32), "unknown asset"
    assert not a.retired, "asset retired"
    assert a.pending_owner != empty(bytes32), "no transfer offered"
    assert a.pending_owner == org, "transfer not offered to this member"
    status: uint8 = 0
    roles: uint256 = 0
    status, roles = staticcall self.registry.org_info(a.owner)
    assert status != membership.STATUS_SUSPENDED, "owner suspended"
    self.assets[asset].owner = org
    self.assets[asset].pending_owner = empty(bytes32)
    self.assets[asset].transfers = a.transfers + 1
    log AssetTransferred(asset=asset, from_org=a.owner, to_org=org)


@external
def retire_asset(asset: bytes32):
    org: bytes32 = self._owned_live_asset(asset)
    self.assets[asset].retired = True
    self.assets[asset].pending_owner = empty(bytes32)
    log AssetRetired(asset=asset, owner=org)


# -- service catalogue -------------------------------------------------------------------------------------

@external
def add_center(center: bytes32, name: String[64]):
    membership.writer_org(self.registry, msg.sender, membership.OPERATOR)
    assert center != empty(bytes32), "empty center id"
    assert len(name) > 0, "empty name"
    assert self.centers[center].created_at == 0, "center already exists"
    self.centers[center] = Center(name=name, created_at=block.timestamp)
    self.center_at[self.center_count] = center
    self.center_count += 1
    log CenterAdded(center=center, name=name)


@external
def add_unit(unit: bytes32, center: bytes32, name: String[64]):
    membership.writer_org(self.registry, msg.sender, membership.OPERATOR)
    assert unit != empty(bytes32), "empty unit id"
    assert len(name) > 0, "empty name"
    assert self.centers[center].created_at != 0, "unknown center"
    assert self.units[unit].created_at == 0, "unit already exists"
    self.units[unit] = Unit(center=center, name=name, created_at=block.timestamp)
    self.unit_at[self.unit_count] = unit
    self.unit_count += 1
    log UnitAdded(unit=unit, center=center, name=name)


@external
def register_api(api: bytes32, unit: bytes32, route: String[128], method: String[8], asset: bytes32):
    org: bytes32 = self._owned_live_asset(asset)
    assert api != empty(bytes32), "empty api id"
    assert self.units[unit].created_at != 0, "unknown unit"
    assert self.apis[api].provider == empty(bytes32), "api already registered"
    assert len(route) > 0 and slice(route, 0, 1) == "/", "route must start with /"
    assert len(method) > 0, "empty method"
    self.apis[api] = Api(unit=unit, route=route, method=method, provider=org, asset=asset, active=True)
    self.api_at[self.api_count] = api
    self.api_count += 1
    log ApiRegistered(api=api, unit=unit, provider=org, asset=asset, route=route)


@external
def retire_api(api: bytes32):
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.MEMBER)
    provider: bytes32 = self.apis[api].provider
    assert provider != empty(bytes32), "unknown api"
    assert provider == org or self.assets[self.apis[api].asset].owner == org, "not the api provider or asset owner"
    assert self.apis[api].active, "api already retired"
    self.apis[api].active = False
    log ApiRetired(api=api, provider=provider)


# -- views -------------------------------------------------------------------------------------------------

@view
@external
def asset(asset: bytes32) -> Asset:
    return self.assets[asset]


@view
@external
def version(asset: bytes32, version: uint256) -> AssetVersion:
    return self.versions[asset][version]


@view
@external
def owner_of(asset: bytes32) -> bytes32:
    return self.assets[asset].owner


@view
@external
def asset_state(asset: bytes32) -> (bytes32, bool, uint256):
    """@notice (owner, retired, number of transfers so far) in one read, for AccessGrants."""
    return self.assets[asset].owner, self.assets[asset].retired, self.assets[asset].transfers


@view
@external
def center(center: bytes32) -> Center:
    return self.centers[center]


@view
@external
def unit(unit: bytes32) -> Unit:
    return self.units[unit]


@view
@external
def api(api: bytes32) -> Api:
    return self.apis[api]


# -- internals ---------------------------------------------------------------------------------------------

@internal
@view
def _owned_live_asset(asset: bytes32) -> bytes32:
    org: bytes32 = membership.writer_org(self.registry, msg.sender, membership.MEMBER)
    owner: bytes32 = self.assets[asset].owner
    assert owner != empty(bytes32), "unknown asset"
    assert owner == org, "not asset owner"
    assert not self.assets[asset].retired, "asset retired"
    return org


@internal
@pure
def _check_version(content_digest: bytes32, classification: uint8):
    assert content_digest != empty(bytes32), "empty content digest"
    assert classification >= 1 and classification <= 4, "classification must be 1-4"
