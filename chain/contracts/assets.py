"""Client of DataAssetRegistry: assets, their versions, transfer of rights, and the service catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chain.contracts._base import ContractClient, check_digest
from chain.errors import MalformedError
from chain.ids import AssetId, AssetKind, OrgId, bytes32_to_name, name_to_bytes32
from chain.tx import Signer

if TYPE_CHECKING:
    from web3.types import TxReceipt


@dataclass(frozen=True, slots=True)
class AssetInfo:
    asset: AssetId
    owner: OrgId
    kind: AssetKind
    classification: int
    version_count: int
    pending_owner: OrgId | None
    registered_at: int
    retired: bool
    transfers: int


@dataclass(frozen=True, slots=True)
class AssetVersionInfo:
    asset: AssetId
    version: int
    content_digest: bytes
    metadata_digest: bytes
    classification: int
    registered_at: int
    registered_by: str


@dataclass(frozen=True, slots=True)
class CenterInfo:
    center: str
    name: str


@dataclass(frozen=True, slots=True)
class UnitInfo:
    unit: str
    center: str
    name: str


@dataclass(frozen=True, slots=True)
class ApiInfo:
    api: str
    unit: str
    route: str
    method: str
    provider: OrgId
    asset: AssetId
    active: bool


@dataclass(frozen=True, slots=True)
class CatalogueCounts:
    centers: int
    units: int
    apis: int
    assets: int


def _classification(level: int) -> int:
    if not isinstance(level, int) or not 1 <= level <= 4:
        raise MalformedError(f"classification must be 1-4, got {level!r}")
    return level


class DataAssetRegistryClient(ContractClient):
    NAME = "DataAssetRegistry"

    # -- reads --
    def asset(self, asset: str) -> AssetInfo | None:
        raw = self._call("asset", name_to_bytes32(asset, "asset id"))
        if raw[0] == b"\0" * 32:
            return None
        pending = bytes32_to_name(raw[4])
        return AssetInfo(
            AssetId(asset),
            OrgId(bytes32_to_name(raw[0])),
            AssetKind(raw[1]),
            raw[2],
            raw[3],
            OrgId(pending) if pending else None,
            raw[5],
            raw[6],
            raw[7],
        )

    def version(self, asset: str, version: int) -> AssetVersionInfo | None:
        raw = self._call("version", name_to_bytes32(asset, "asset id"), version)
        if raw[0] == b"\0" * 32:
            return None
        return AssetVersionInfo(AssetId(asset), version, bytes(raw[0]), bytes(raw[1]), raw[2], raw[3], raw[4])

    def versions(self, asset: str) -> list[AssetVersionInfo]:
        info = self.asset(asset)
        if info is None:
            return []
        return [v for n in range(1, info.version_count + 1) if (v := self.version(asset, n)) is not None]

    def counts(self) -> CatalogueCounts:
        """How many centers, units, APIs and assets are registered: five reads, not a walk of each list."""
        return CatalogueCounts(
            self._call("center_count"), self._call("unit_count"), self._call("api_count"), self._call("asset_count")
        )

    def assets(self) -> list[AssetInfo]:
        ids = [bytes32_to_name(self._call("asset_at", i)) for i in range(self._call("asset_count"))]
        return [a for i in ids if (a := self.asset(i)) is not None]

    def centers(self) -> list[CenterInfo]:
        out = []
        for i in range(self._call("center_count")):
            raw_id = self._call("center_at", i)
            out.append(CenterInfo(bytes32_to_name(raw_id), self._call("center", raw_id)[0]))
        return out

    def units(self) -> list[UnitInfo]:
        out = []
        for i in range(self._call("unit_count")):
            raw_id = self._call("unit_at", i)
            raw = self._call("unit", raw_id)
            out.append(UnitInfo(bytes32_to_name(raw_id), bytes32_to_name(raw[0]), raw[1]))
        return out

    def api(self, api: str) -> ApiInfo | None:
        raw = self._call("api", name_to_bytes32(api, "api id"))
        if raw[3] == b"\0" * 32:
            return None
        return ApiInfo(
            api,
            bytes32_to_name(raw[0]),
            raw[1],
            raw[2],
            OrgId(bytes32_to_name(raw[3])),
            AssetId(bytes32_to_name(raw[4])),
            raw[5],
        )

    def apis(self) -> list[ApiInfo]:
        ids = [bytes32_to_name(self._call("api_at", i)) for i in range(self._call("api_count"))]
        return [a for i in ids if (a := self.api(i)) is not None]

    # -- assets --
    def register_asset(
        self,
        signer: Signer,
        asset: str,
        kind: AssetKind,
        content_digest: bytes,
        metadata_digest: bytes,
        classification: int,
    ) -> TxReceipt:
        return self._transact(
            signer,
            "register_asset",
            name_to_bytes32(asset, "asset id"),
            int(AssetKind(kind)),
            check_digest(content_digest, "content digest"),
            check_digest(metadata_digest, "metadata digest"),
            _classification(classification),
        )

    def add_version(
        self, signer: Signer, asset: str, content_digest: bytes, metadata_digest: bytes, classification: int
    ) -> int:
        receipt = self._transact(
            signer,
            "add_version",
            name_to_bytes32(asset, "asset id"),
            check_digest(content_digest, "content digest"),
            check_digest(metadata_digest, "metadata digest"),
            _classification(classification),
        )
        return int(self.decode_events(receipt, "AssetVersionAdded")[0]["args"]["version"])

    def offer_transfer(self, signer: Signer, asset: str, to_org: str) -> TxReceipt:
        return self._transact(
            signer, "offer_transfer", name_to_bytes32(asset, "asset id"), name_to_bytes32(to_org, "org id")
        )

    def cancel_transfer(self, signer: Signer, asset: str) -> TxReceipt:
        return self._transact(signer, "cancel_transfer", name_to_bytes32(asset, "asset id"))

    def accept_transfer(self, signer: Signer, asset: str) -> TxReceipt:
        return self._transact(signer, "accept_transfer", name_to_bytes32(asset, "asset id"))

    def retire_asset(self, signer: Signer, asset: str) -> TxReceipt:
        return self._transact(signer, "retire_asset", name_to_bytes32(asset, "asset id"))

    # -- catalogue --
    def add_center(self, signer: Signer, center: str, name: str) -> TxReceipt:
        return self._transact(signer, "add_center", name_to_bytes32(center, "center id"), name)

    def add_unit(self, signer: Signer, unit: str, center: str, name: str) -> TxReceipt:
        return self._transact(
            signer, "add_unit", name_to_bytes32(unit, "unit id"), name_to_bytes32(center, "center id"), name
        )

    def register_api(self, signer: Signer, api: str, unit: str, route: str, method: str, asset: str) -> TxReceipt:
        return self._transact(
            signer,
            "register_api",
            name_to_bytes32(api, "api id"),
            name_to_bytes32(unit, "unit id"),
            route,
            method,
            name_to_bytes32(asset, "asset id"),
        )

    def retire_api(self, signer: Signer, api: str) -> TxReceipt:
        return self._transact(signer, "retire_api", name_to_bytes32(api, "api id"))
