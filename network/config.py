"""The consortium file: who the members are, how they vote and witness, and the demo service catalogue.

A consortium file is TOML::

    name = "beijing-capital-market-pilot"   # short name
    chain_id = 20261                         # 1 .. 2**63 - 1
    admission_threshold = 3                  # k of the k-of-n approval of the voters (members with "member")
    proposal_ttl_days = 7                    # 1 .. 365
    catalogue = "catalogue.toml"             # optional: a file beside this one, or an inline [catalogue]

    [witness_policy]
    threshold = 4                            # k-of-n cosignatures needed on a checkpoint
    witnesses = ["all-members"]              # or an explicit list of org ids
    require_regulator = true                 # a regulator must be among the witnesses

    [[members]]
    org = "bjic-cloud"                       # short name, unique
    name = "Beijing Industry Cloud Infrastructure Co."   # display name, 1..64 characters (64 UTF-8 bytes)
    roles = ["member", "operator", "validator", "notary", "witness"]
    witness_url = "https://witness.bjic.example:8551"   # optional: where the notary reaches its witness

The catalogue (inline as ``[catalogue]`` or in its own file, either at the top level of that file or under a
single ``[catalogue]`` table) holds ``[[centers]]`` with ``[[centers.units]]`` with ``apis = [...]``, and the
demo ``[[assets]]`` and ``[[grants]]``. See ``demo/`` for a complete example.

Every problem raises :class:`chain.errors.MalformedError` naming the file and field, e.g.
``consortium.toml: members[2].org: duplicate org id 'acme-sec' (first used by members[0])``. Unknown keys are
rejected so that a typo never passes silently, and sizes are capped so that a hostile file cannot blow up.
The dataclasses are frozen; :func:`parse_config` is what checks them, so build configurations through it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, TypeVar

import tomli_w

from chain.errors import MalformedError
from chain.ids import MAX_URL, AssetKind, OrgId, Role, check_name, endpoint_url

__all__ = [
    "ALL_MEMBERS",
    "GRANT_STATES",
    "MAX_APIS",
    "MAX_ASSETS",
    "MAX_CENTERS",
    "MAX_FILE_BYTES",
    "MAX_GRANTS",
    "MAX_MEMBERS",
    "MAX_UNITS",
    "Api",
    "Catalogue",
    "ConsortiumConfig",
    "DemoAsset",
    "DemoGrant",
    "Member",
    "ServiceCenter",
    "ServiceUnit",
    "WitnessPolicy",
    "config_to_dict",
    "config_to_toml",
    "load_config",
    "parse_config",
]

ALL_MEMBERS = "all-members"
"""The ``witnesses`` shorthand for every member of the consortium, in file order."""

MAX_MEMBERS = 64
MAX_CENTERS = 32
MAX_UNITS = 256
MAX_APIS = 1000
MAX_ASSETS = 1000
MAX_GRANTS = 5000
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_CHAIN_ID = 2**63 - 1
MAX_TTL_DAYS = 365
MAX_GRANT_DAYS = 3650
MAX_QUOTA = 2**63 - 1
MAX_DISPLAY = 64  # characters, and UTF-8 bytes: names are stored on chain as String[64]
MAX_DESCRIPTION = 512
MAX_ROUTE = 128  # stored on chain as String[128]
METHODS = ("GET", "POST", "PUT", "DELETE")

_ROUTE = re.compile(r"/[!-~]*")  # a slash, then printable ASCII without whitespace
_ROLE_NAMES = {(r.name or "").lower(): r for r in Role}
_KIND_NAMES = {k.name.lower(): k for k in AssetKind}


# -- the configuration ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    org: OrgId
    name: str
    roles: Role
    #: Where the notary reaches its witness (a witness of the policy only): ``consortium init`` writes it on chain
    #: as the witness endpoint. None: where ``consortium up`` serves it.
    witness_url: str | None = None


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    threshold: int
    witnesses: tuple[OrgId, ...]
    require_regulator: bool


@dataclass(frozen=True, slots=True)
class Api:
    id: str
    route: str
    method: str
    provider: OrgId
    asset: str
    name: str


@dataclass(frozen=True, slots=True)
class ServiceUnit:
    id: str
    name: str
    apis: tuple[Api, ...]


@dataclass(frozen=True, slots=True)
class ServiceCenter:
    id: str
    name: str
    units: tuple[ServiceUnit, ...]


@dataclass(frozen=True, slots=True)
class DemoAsset:
    id: str
    owner: OrgId
    kind: AssetKind
    classification: int
    title: str
    description: str


#: What ``consortium init --demo`` leaves a demo grant as: in force, revoked right after its creation, or
#: expiring seconds after it, so that the demo's calls are refused for each of those reasons too.
GRANT_STATES = ("active", "revoked", "expired")


@dataclass(frozen=True, slots=True)
class DemoGrant:
    asset: str
    grantee: OrgId
    purpose: str
    days: int
    quota: int  # 0 = unlimited
    state: str = "active"  # one of GRANT_STATES


@dataclass(frozen=True, slots=True)
class Catalogue:
    centers: tuple[ServiceCenter, ...]
    assets: tuple[DemoAsset, ...]
    grants: tuple[DemoGrant, ...]

    def units(self) -> tuple[ServiceUnit, ...]:
        """Every service unit, center by center."""
        return tuple(u for c in self.centers for u in c.units)

    def apis(self) -> tuple[Api, ...]:
        """Every API, unit by unit."""
        return tuple(a for c in self.centers for u in c.units for a in u.apis)

    def asset(self, asset_id: str) -> DemoAsset:
        """The demo asset ``asset_id``; raises :class:`MalformedError` if there is none."""
        for a in self.assets:
            if a.id == asset_id:
                return a
        raise MalformedError(f"unknown asset {asset_id!r}: not in the catalogue's assets")


@dataclass(frozen=True, slots=True)
class ConsortiumConfig:
    name: str
    chain_id: int
    admission_threshold: int
    proposal_ttl_days: int
    witness_policy: WitnessPolicy
    members: tuple[Member, ...]
    catalogue: Catalogue | None

    def member(self, org: str) -> Member:
        """The member ``org``; raises :class:`MalformedError` naming it if it is not a member."""
        for m in self.members:
            if m.org == org:
                return m
        known = ", ".join(m.org for m in self.members)
        raise MalformedError(f"unknown member {org!r}: the consortium {self.name!r} has {known}")

    def voters(self) -> tuple[Member, ...]:
        """The members that vote on admissions: those holding the ``member`` role."""
        return tuple(m for m in self.members if Role.MEMBER in m.roles)

    def operator(self) -> Member:
        """The one member holding the ``operator`` role."""
        found = [m for m in self.members if Role.OPERATOR in m.roles]
        if len(found) != 1:
            raise MalformedError(f"expected exactly one operator, found {len(found)}")
        return found[0]

    def regulators(self) -> tuple[Member, ...]:
        """The members holding the ``regulator`` role."""
        return tuple(m for m in self.members if Role.REGULATOR in m.roles)

    def witnesses(self) -> tuple[Member, ...]:
        """The checkpoint witnesses, in policy order."""
        return tuple(self.member(org) for org in self.witness_policy.witnesses)


# -- public API ---------------------------------------------------------------------------------------------


def load_config(path: Path) -> ConsortiumConfig:
    """Read, parse and validate the consortium file at ``path`` (and its catalogue file, if it names one)."""
    path = Path(path)
    data = read_toml(path)
    try:
        return parse_config(data, base_dir=path.parent)
    except MalformedError as e:
        raise MalformedError(f"{path}: {e}") from None


def parse_config(data: Mapping[str, Any], base_dir: Path | None = None) -> ConsortiumConfig:
    """Validate the parsed TOML ``data``; ``base_dir`` resolves ``catalogue = "file.toml"``."""
    top = _table(data, "consortium file")
    _keys(
        top,
        "top level",
        required=(
            "name",
            "chain_id",
            "admission_threshold",
            "proposal_ttl_days",
            "witness_policy",
            "members",
        ),
        optional=("catalogue",),
    )
    name = _short(top, "name", "", "consortium name")
    chain_id = _int(top, "chain_id", "", 1, MAX_CHAIN_ID)
    ttl = _int(top, "proposal_ttl_days", "", 1, MAX_TTL_DAYS)
    members = _members(top)
    threshold = _int(top, "admission_threshold", "", 1, None)
    voters = sum(1 for m in members if Role.MEMBER in m.roles)
    if threshold > voters:
        raise MalformedError(
            f"admission_threshold: {threshold} exceeds the {voters} voters (members with role 'member'); "
            f"use 1..{voters}"
        )
    policy = _witness_policy(top, members)
    catalogue: Catalogue | None = None
    if "catalogue" in top:
        catalogue = _catalogue_entry(top["catalogue"], members, base_dir)
    return ConsortiumConfig(
        name=name,
        chain_id=chain_id,
        admission_threshold=threshold,
        proposal_ttl_days=ttl,
        witness_policy=policy,
        members=members,
        catalogue=catalogue,
    )


def config_to_dict(cfg: ConsortiumConfig) -> dict[str, Any]:
    """The TOML-ready table of ``cfg``, catalogue inlined; ``parse_config(config_to_dict(cfg)) == cfg``."""
    out: dict[str, Any] = {
        "name": cfg.name,
        "chain_id": cfg.chain_id,
        "admission_threshold": cfg.admission_threshold,
        "proposal_ttl_days": cfg.proposal_ttl_days,
        "witness_policy": {
            "threshold": cfg.witness_policy.threshold,
            "witnesses": list(cfg.witness_policy.witnesses),
            "require_regulator": cfg.witness_policy.require_regulator,
        },
        "members": [
            {"org": m.org, "name": m.name, "roles": [n.lower() for n in m.roles.names()]}
            | ({} if m.witness_url is None else {"witness_url": m.witness_url})
            for m in cfg.members
        ],
    }
    if cfg.catalogue is not None:
        cat = cfg.catalogue
        out["catalogue"] = {
            "centers": [
                {
                    "id": c.id,
                    "name": c.name,
                    "units": [
                        {
                            "id": u.id,
                            "name": u.name,
                            "apis": [
                                {
                                    "id": a.id,
                                    "method": a.method,
                                    "route": a.route,
                                    "provider": a.provider,
                                    "asset": a.asset,
                                    "name": a.name,
                                }
                                for a in u.apis
                            ],
                        }
                        for u in c.units
                    ],
                }
                for c in cat.centers
            ],
            "assets": [
                {
                    "id": a.id,
                    "owner": a.owner,
                    "kind": a.kind.name.lower(),
                    "classification": a.classification,
                    "title": a.title,
                    "description": a.description,
                }
                for a in cat.assets
            ],
            "grants": [
                {
                    "asset": g.asset,
                    "grantee": g.grantee,
                    "purpose": g.purpose,
                    "days": g.days,
                    "quota": g.quota,
                    **({"state": g.state} if g.state != "active" else {}),
                }
                for g in cat.grants
            ],
        }
    return out


def config_to_toml(cfg: ConsortiumConfig) -> str:
    """``cfg`` as a consortium file with the catalogue inlined; parsing it gives back ``cfg``."""
    header = f"# Consortium {cfg.name!r}, written by network.config.config_to_toml.\n\n"
    return header + tomli_w.dumps(config_to_dict(cfg))


# -- sections -----------------------------------------------------------------------------------------------


def _members(top: Mapping[str, Any]) -> tuple[Member, ...]:
    rows = _array(top, "members", "", MAX_MEMBERS)
    if not rows:
        raise MalformedError("members: the consortium needs at least one member; add [[members]] tables")
    members: list[Member] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows):
        where = f"members[{i}]"
        row = _table(raw, where)
        _keys(row, where, required=("org", "name", "roles"), optional=("witness_url",))
        org = OrgId(_short(row, "org", where, "org id"))
        if org == ALL_MEMBERS:
            raise MalformedError(f"{where}.org: {ALL_MEMBERS!r} is reserved for witness_policy.witnesses")
        if org in seen:
            raise MalformedError(f"{where}.org: duplicate org id {org!r} (first used by members[{seen[org]}])")
        seen[org] = i
        name = _display(row, "name", where)
        roles = _roles(row, where)
        if Role.REGULATOR in roles and roles & (Role.MEMBER | Role.OPERATOR):
            raise MalformedError(
                f"{where}.roles: regulator {org!r} must not also hold 'member' or 'operator' "
                "(a regulator reads everything and writes no business state); drop those roles"
            )
        witness_url = None
        if "witness_url" in row:
            witness_url = _str(row, "witness_url", where)
            if Role.WITNESS not in roles:
                raise MalformedError(f"{where}.witness_url: {org!r} does not hold the 'witness' role; remove the URL")
            if endpoint_url(witness_url.encode("utf-8")) is None:
                raise MalformedError(
                    f"{where}.witness_url: {witness_url!r} is not a URL a notary can reach a witness at; give "
                    f"http://HOST[:PORT][/PATH] or https://…, no spaces, at most {MAX_URL} bytes"
                )
        members.append(Member(org=org, name=name, roles=roles, witness_url=witness_url))
    operators = [m.org for m in members if Role.OPERATOR in m.roles]
    if len(operators) != 1:
        found = ", ".join(repr(o) for o in operators) or "none"
        raise MalformedError(
            f"members: exactly one member must hold the 'operator' role, found {len(operators)} ({found})"
        )
    if not any(Role.REGULATOR in m.roles for m in members):
        raise MalformedError("members: at least one member must hold the 'regulator' role; add one")
    return tuple(members)


def _roles(row: Mapping[str, Any], where: str) -> Role:
    field = f"{where}.roles"
    names = _array(row, "roles", where, len(_ROLE_NAMES))
    if not names:
        raise MalformedError(f"{field}: empty; give at least one of {', '.join(_ROLE_NAMES)}")
    roles = Role(0)
    for j, name in enumerate(names):
        if not isinstance(name, str) or name not in _ROLE_NAMES:
            raise MalformedError(
                f"{field}[{j}]: unknown role {name!r}; known roles are {', '.join(_ROLE_NAMES)}"
                f"{_hint(name, _ROLE_NAMES)}"
            )
        role = _ROLE_NAMES[name]
        if role in roles:
            raise MalformedError(f"{field}[{j}]: role {name!r} listed twice")
        roles |= role
    return roles


def _witness_policy(top: Mapping[str, Any], members: tuple[Member, ...]) -> WitnessPolicy:
    where = "witness_policy"
    table = _table(top["witness_policy"], where)
    _keys(table, where, required=("threshold", "witnesses", "require_regulator"))
    by_org = {m.org: m for m in members}
    raw = table["witnesses"]
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise MalformedError(
            f"{where}.witnesses: expected a list of org ids or [{ALL_MEMBERS!r}], got {type(raw).__name__}"
        )
    if len(raw) > MAX_MEMBERS:
        raise MalformedError(f"{where}.witnesses: {len(raw)} entries, at most {MAX_MEMBERS} allowed")
    witnesses: list[OrgId] = []
    if ALL_MEMBERS in raw:
        if len(raw) != 1:
            raise MalformedError(
                f"{where}.witnesses: {ALL_MEMBERS!r} must be the only entry; list org ids or use it alone"
            )
        witnesses = [m.org for m in members]
    else:
        if not raw:
            raise MalformedError(f"{where}.witnesses: empty; list org ids or use [{ALL_MEMBERS!r}]")
        for j, org in enumerate(raw):
            field = f"{where}.witnesses[{j}]"
            org_id = OrgId(_check(org, field, "org id"))
            if org_id not in by_org:
                raise MalformedError(f"{field}: {org_id!r} is not a member; add it to [[members]] or remove it")
            if org_id in witnesses:
                raise MalformedError(f"{field}: {org_id!r} listed twice")
            witnesses.append(org_id)
    for j, org_id in enumerate(witnesses):
        if Role.WITNESS not in by_org[org_id].roles:
            raise MalformedError(
                f"{where}.witnesses[{j}]: member {org_id!r} does not hold the 'witness' role; "
                "add 'witness' to its roles or leave it out of the witnesses"
            )
    threshold = _int(table, "threshold", where, 1, None)
    if threshold > len(witnesses):
        raise MalformedError(
            f"{where}.threshold: {threshold} exceeds the {len(witnesses)} witnesses; use 1..{len(witnesses)}"
        )
    require = _bool(table, "require_regulator", where)
    if require and not any(Role.REGULATOR in by_org[o].roles for o in witnesses):
        regs = ", ".join(repr(m.org) for m in members if Role.REGULATOR in m.roles)
        raise MalformedError(
            f"{where}.witnesses: require_regulator is true but no regulator ({regs}) is a witness; add one"
        )
    return WitnessPolicy(threshold=threshold, witnesses=tuple(witnesses), require_regulator=require)


def _catalogue_entry(value: Any, members: tuple[Member, ...], base_dir: Path | None) -> Catalogue:
    if isinstance(value, str):
        path = _catalogue_path(value, base_dir)
        data: Mapping[str, Any] = read_toml(path)
        if set(data) == {"catalogue"}:
            data = _table(data["catalogue"], "catalogue")
        try:
            return _catalogue(data, "", members)
        except MalformedError as e:
            raise MalformedError(f"catalogue file {value!r}: {e}") from None
    if isinstance(value, Mapping):
        return _catalogue(value, "catalogue", members)
    raise MalformedError(
        f"catalogue: expected a file name such as 'catalogue.toml' or a [catalogue] table, got {type(value).__name__}"
    )


def _catalogue_path(value: str, base_dir: Path | None) -> Path:
    if base_dir is None:
        raise MalformedError(
            f"catalogue: {value!r} names a file but no base directory was given; use load_config(path) "
            "or pass base_dir to parse_config"
        )
    for flavour in (PurePosixPath(value), PureWindowsPath(value)):
        if not value or flavour.is_absolute() or flavour.drive or ".." in flavour.parts:
            raise MalformedError(f"catalogue: {value!r} must be a relative path inside the consortium file's directory")
    return base_dir / value


def _catalogue(data: Mapping[str, Any], prefix: str, members: tuple[Member, ...]) -> Catalogue:
    def at(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    table = _table(data, prefix or "catalogue")
    _keys(table, prefix or "top level", required=("centers",), optional=("assets", "grants"))
    owners = {m.org: m for m in members if Role.MEMBER in m.roles}

    def business_member(value: Any, field: str, what: str) -> OrgId:
        org = OrgId(_check(value, field, "org id"))
        if org not in owners:
            why = "is not a member" if all(m.org != org for m in members) else "does not hold the 'member' role"
            raise MalformedError(f"{field}: {what} {org!r} {why}; {what}s must be members with role 'member'")
        return org

    # assets first: the apis refer to them
    assets: list[DemoAsset] = []
    asset_at: dict[str, int] = {}
    for i, raw in enumerate(_array(table, "assets", prefix, MAX_ASSETS) if "assets" in table else []):
        where = at(f"assets[{i}]")
        row = _table(raw, where)
        _keys(row, where, required=("id", "owner", "kind", "classification", "title", "description"))
        asset_id = _short(row, "id", where, "asset id")
        if asset_id in asset_at:
            first = at(f"assets[{asset_at[asset_id]}]")
            raise MalformedError(f"{where}.id: duplicate asset id {asset_id!r} (first used by {first})")
        asset_at[asset_id] = i
        owner = business_member(row["owner"], f"{where}.owner", "owner")
        kind_name = _str(row, "kind", where)
        if kind_name not in _KIND_NAMES:
            raise MalformedError(
                f"{where}.kind: unknown kind {kind_name!r}; use one of {', '.join(_KIND_NAMES)}"
                f"{_hint(kind_name, _KIND_NAMES)}"
            )
        assets.append(
            DemoAsset(
                id=asset_id,
                owner=owner,
                kind=_KIND_NAMES[kind_name],
                classification=_int(row, "classification", where, 1, 4),
                title=_display(row, "title", where),
                description=_display(row, "description", where, MAX_DESCRIPTION),
            )
        )

    centers: list[ServiceCenter] = []
    ids: dict[str, str] = {}  # one namespace for centers, units and apis
    routes: dict[tuple[str, str], str] = {}
    n_units = n_apis = 0

    def new_id(row: Mapping[str, Any], where: str, what: str) -> str:
        ident = _short(row, "id", where, f"{what} id")
        if ident in ids:
            raise MalformedError(
                f"{where}.id: duplicate id {ident!r} (first used by {ids[ident]}); center, unit and api ids "
                "share one namespace"
            )
        ids[ident] = where
        return ident

    center_rows = _array(table, "centers", prefix, MAX_CENTERS)
    for ci, raw_center in enumerate(center_rows):
        cwhere = at(f"centers[{ci}]")
        crow = _table(raw_center, cwhere)
        _keys(crow, cwhere, required=("id", "name", "units"))
        center_id = new_id(crow, cwhere, "center")
        center_name = _display(crow, "name", cwhere)
        units: list[ServiceUnit] = []
        for ui, raw_unit in enumerate(_array(crow, "units", cwhere, MAX_UNITS)):
            uwhere = f"{cwhere}.units[{ui}]"
            n_units += 1
            if n_units > MAX_UNITS:
                raise MalformedError(f"{uwhere}: more than {MAX_UNITS} service units in the catalogue")
            urow = _table(raw_unit, uwhere)
            _keys(urow, uwhere, required=("id", "name", "apis"))
            unit_id = new_id(urow, uwhere, "unit")
            unit_name = _display(urow, "name", uwhere)
            apis: list[Api] = []
            for ai, raw_api in enumerate(_array(urow, "apis", uwhere, MAX_APIS)):
                awhere = f"{uwhere}.apis[{ai}]"
                n_apis += 1
                if n_apis > MAX_APIS:
                    raise MalformedError(f"{awhere}: more than {MAX_APIS} apis in the catalogue")
                arow = _table(raw_api, awhere)
                _keys(arow, awhere, required=("id", "method", "route", "provider", "asset", "name"))
                api_id = new_id(arow, awhere, "api")
                method = _str(arow, "method", awhere)
                if method not in METHODS:
                    raise MalformedError(f"{awhere}.method: {method!r} is not one of {', '.join(METHODS)}")
                route = _str(arow, "route", awhere)
                if len(route) > MAX_ROUTE or _ROUTE.fullmatch(route) is None:
                    raise MalformedError(
                        f"{awhere}.route: {route!r} must start with '/' and be at most {MAX_ROUTE} printable "
                        "ASCII characters without whitespace"
                    )
                if (method, route) in routes:
                    raise MalformedError(
                        f"{awhere}.route: {method} {route} is already served by {routes[method, route]}"
                    )
                routes[method, route] = awhere
                provider = business_member(arow["provider"], f"{awhere}.provider", "provider")
                asset_id = _short(arow, "asset", awhere, "asset id")
                if asset_id not in asset_at:
                    raise MalformedError(f"{awhere}.asset: unknown asset {asset_id!r}; declare it under {at('assets')}")
                owner = assets[asset_at[asset_id]].owner
                if owner != provider:
                    raise MalformedError(
                        f"{awhere}.asset: asset {asset_id!r} is owned by {owner!r}, not by the provider "
                        f"{provider!r}; an api may only serve its provider's own assets"
                    )
                apis.append(
                    Api(
                        id=api_id,
                        route=route,
                        method=method,
                        provider=provider,
                        asset=asset_id,
                        name=_display(arow, "name", awhere),
                    )
                )
            units.append(ServiceUnit(id=unit_id, name=unit_name, apis=tuple(apis)))
        centers.append(ServiceCenter(id=center_id, name=center_name, units=tuple(units)))

    grants: list[DemoGrant] = []
    grant_at: dict[tuple[str, str, str], int] = {}
    for i, raw in enumerate(_array(table, "grants", prefix, MAX_GRANTS) if "grants" in table else []):
        where = at(f"grants[{i}]")
        row = _table(raw, where)
        _keys(row, where, required=("asset", "grantee", "purpose", "days", "quota"), optional=("state",))
        asset_id = _short(row, "asset", where, "asset id")
        if asset_id not in asset_at:
            raise MalformedError(f"{where}.asset: unknown asset {asset_id!r}; declare it under {at('assets')}")
        grantee = business_member(row["grantee"], f"{where}.grantee", "grantee")
        if grantee == assets[asset_at[asset_id]].owner:
            raise MalformedError(
                f"{where}.grantee: {grantee!r} owns asset {asset_id!r}; an owner needs no grant to its own asset"
            )
        purpose = _short(row, "purpose", where, "purpose")
        key = (asset_id, grantee, purpose)
        if key in grant_at:
            first = at(f"grants[{grant_at[key]}]")
            raise MalformedError(
                f"{where}: duplicate grant of {asset_id!r} to {grantee!r} for {purpose!r} (first in {first})"
            )
        grant_at[key] = i
        state = _str(row, "state", where) if "state" in row else "active"
        if state not in GRANT_STATES:
            raise MalformedError(
                f"{where}.state: unknown state {state!r}; use one of {', '.join(GRANT_STATES)}"
                f"{_hint(state, GRANT_STATES)}"
            )
        grants.append(
            DemoGrant(
                asset=asset_id,
                grantee=grantee,
                purpose=purpose,
                days=_int(row, "days", where, 1, MAX_GRANT_DAYS),
                quota=_int(row, "quota", where, 0, MAX_QUOTA),
                state=state,
            )
        )
    return Catalogue(centers=tuple(centers), assets=tuple(assets), grants=tuple(grants))


# -- field helpers ----------------------------------------------------------------------------------------

_T = TypeVar("_T")


def read_toml(path: Path, *, max_bytes: int = MAX_FILE_BYTES, too_large: str = "") -> dict[str, Any]:
    """The TOML document of ``path``, read no further than ``max_bytes``, or :class:`MalformedError` naming the
    file: unreadable, larger (with ``too_large`` after the limit), not UTF-8 or not valid TOML. Every TOML file
    of a consortium (``consortium.toml``, ``up.toml``) is read by it."""
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise MalformedError(f"{path}: cannot read the file: {e.strerror or e}") from None
    if len(raw) > max_bytes:
        raise MalformedError(f"{path}: larger than {max_bytes} bytes{too_large}")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise MalformedError(f"{path}: not UTF-8: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise MalformedError(f"{path}: not valid TOML: {e}") from None


def _field(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _hint(value: object, choices: Iterable[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedError(f"{where}: expected a table, got {type(value).__name__}")
    return value


def _keys(table: Mapping[str, Any], where: str, required: Iterable[str], optional: Iterable[str] = ()) -> None:
    required = tuple(required)
    allowed = (*required, *optional)
    for key in table:
        if key not in allowed:
            raise MalformedError(
                f"{where}: unknown key {key!r}{_hint(key, allowed)}; allowed keys are {', '.join(allowed)}"
            )
    for key in required:
        if key not in table:
            raise MalformedError(f"{where}: missing required key {key!r}")


def _typed(table: Mapping[str, Any], key: str, where: str, kind: type[_T], what: str) -> _T:
    value = table[key]
    # bool is an int in Python, but true is not a number in a config file
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedError(f"{_field(where, key)}: expected {what}, got {type(value).__name__} {value!r}")
    return value


def _int(table: Mapping[str, Any], key: str, where: str, lo: int, hi: int | None) -> int:
    value = _typed(table, key, where, int, "an integer")
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise MalformedError(f"{_field(where, key)}: {value} is out of range; use {bound}")
    return value


def _bool(table: Mapping[str, Any], key: str, where: str) -> bool:
    return _typed(table, key, where, bool, "true or false")


def _str(table: Mapping[str, Any], key: str, where: str) -> str:
    return _typed(table, key, where, str, "a string")


def _array(table: Mapping[str, Any], key: str, where: str, limit: int) -> list[Any]:
    value = _typed(table, key, where, list, "an array")
    if len(value) > limit:
        raise MalformedError(f"{_field(where, key)}: {len(value)} entries, at most {limit} allowed")
    return value


def _check(value: Any, field: str, what: str) -> str:
    try:
        return check_name(value, what)
    except MalformedError as e:
        raise MalformedError(f"{field}: {e}") from None


def _short(table: Mapping[str, Any], key: str, where: str, what: str) -> str:
    return _check(table[key], _field(where, key), what)


def _display(table: Mapping[str, Any], key: str, where: str, limit: int = MAX_DISPLAY) -> str:
    field = _field(where, key)
    text = _str(table, key, where)
    if not text.strip():
        raise MalformedError(f"{field}: must not be empty")
    if text != text.strip():
        raise MalformedError(f"{field}: {text!r} has leading or trailing whitespace")
    if len(text) > limit or len(text.encode("utf-8")) > limit:
        raise MalformedError(
            f"{field}: {len(text)} characters ({len(text.encode('utf-8'))} UTF-8 bytes); "
            f"at most {limit} of each allowed"
        )
    if any(unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" for ch in text):
        raise MalformedError(f"{field}: {text!r} contains control or format characters")
    return text
