"""network.config: the demo consortium, the TOML round trip and every validation rule."""

from __future__ import annotations

import copy
import functools
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import MalformedError
from chain.ids import AssetKind, Role
from demo import demo_config_path
from network.config import (
    GRANT_STATES,
    MAX_APIS,
    MAX_MEMBERS,
    ConsortiumConfig,
    config_to_dict,
    config_to_toml,
    load_config,
    parse_config,
)

Data = dict[str, Any]


@functools.cache
def _demo() -> ConsortiumConfig:
    return load_config(demo_config_path())


def demo_data() -> Data:
    """A fresh, mutable copy of the demo as a TOML table with the catalogue inlined."""
    return copy.deepcopy(_demo_data())


@functools.cache
def _demo_data() -> Data:
    return config_to_dict(_demo())


def rejects(data: Data, fragment: str, base_dir: Path | None = None) -> str:
    with pytest.raises(MalformedError, match=re.escape(fragment)) as e:
        parse_config(data, base_dir)
    return str(e.value)


def api0(d: Data, unit: int = 0, api: int = 0) -> Data:
    api_row: Data = d["catalogue"]["centers"][0]["units"][unit]["apis"][api]
    return api_row


# -- the demo -------------------------------------------------------------------------------------------


def test_demo_loads_with_the_expected_shape() -> None:
    cfg = _demo()
    assert cfg.name == "beijing-capital-market-pilot"
    assert cfg.chain_id == 20261
    assert cfg.admission_threshold == 3
    assert len(cfg.members) == 7
    assert len(cfg.voters()) == 6
    assert cfg.operator().org == "bjic-cloud"
    assert [m.org for m in cfg.regulators()] == ["bjcm-supervision"]
    assert cfg.witness_policy.threshold == 4
    assert cfg.witness_policy.require_regulator
    assert set(cfg.witness_policy.witnesses) == {m.org for m in cfg.members}
    cat = cfg.catalogue
    assert cat is not None
    assert len(cat.centers) == 3
    assert len(cat.units()) == 20
    assert len(cat.apis()) == 80
    assert all(len(u.apis) == 4 for u in cat.units())
    assert 25 <= len(cat.assets) <= 40
    assert 10 <= len(cat.grants) <= 25
    # grants the demo traffic is refused under: a revoked one, an expired one, one with a quota soon used up
    assert {g.state for g in cat.grants} == set(GRANT_STATES)
    assert any(0 < g.quota <= 10 and g.state == "active" for g in cat.grants)
    assert {a.kind for a in cat.assets} == set(AssetKind)


def test_demo_roles() -> None:
    cfg = _demo()
    assert cfg.member("bjic-cloud").roles == (Role.MEMBER | Role.OPERATOR | Role.VALIDATOR | Role.NOTARY | Role.WITNESS)
    for org in ("jinghua-sec", "yanshan-sec", "yongding-sec"):  # with the operator, the four validators
        assert cfg.member(org).roles == Role.MEMBER | Role.VALIDATOR | Role.WITNESS
    for org in ("tonghui-sec", "shuzhi-tech"):
        assert cfg.member(org).roles == Role.MEMBER | Role.WITNESS
    assert cfg.member("bjcm-supervision").roles == Role.REGULATOR | Role.WITNESS


def test_demo_every_api_serves_an_asset_of_its_provider() -> None:
    cat = _demo().catalogue
    assert cat is not None
    for api in cat.apis():
        assert cat.asset(api.asset).owner == api.provider, api.id
    routes = [(a.method, a.route) for a in cat.apis()]
    assert len(set(routes)) == len(routes)
    assert {a.asset for a in cat.apis()} <= {a.id for a in cat.assets}


def test_helpers_raise_malformed_naming_the_org() -> None:
    cfg = _demo()
    with pytest.raises(MalformedError, match="'nobody'"):
        cfg.member("nobody")
    assert [m.org for m in cfg.witnesses()] == list(cfg.witness_policy.witnesses)
    cat = cfg.catalogue
    assert cat is not None
    with pytest.raises(MalformedError, match="'no-such-asset'"):
        cat.asset("no-such-asset")


def test_demo_config_path_is_packaged_next_to_the_module() -> None:
    path = demo_config_path()
    assert path.name == "consortium.toml"
    assert path.parent.name == "demo"
    assert (path.parent / "catalogue.toml").is_file()


# -- round trip -----------------------------------------------------------------------------------------


def test_round_trip_through_toml(tmp_path: Path) -> None:
    cfg = _demo()
    text = config_to_toml(cfg)
    assert parse_config(tomllib.loads(text)) == cfg
    path = tmp_path / "inlined.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path) == cfg


def test_round_trip_without_catalogue() -> None:
    d = demo_data()
    del d["catalogue"]
    cfg = parse_config(d)
    assert cfg.catalogue is None
    assert parse_config(tomllib.loads(config_to_toml(cfg))) == cfg


def test_all_members_shorthand_as_a_bare_string() -> None:
    d = demo_data()
    d["witness_policy"]["witnesses"] = "all-members"
    assert parse_config(d) == _demo()


short_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,31}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(short_names, min_size=3, max_size=3, unique=True).filter(lambda n: "all-members" not in n))
def test_random_short_names_round_trip(names: list[str]) -> None:
    a, b, r = names
    data: Data = {
        "name": a,
        "chain_id": 1,
        "admission_threshold": 2,
        "proposal_ttl_days": 1,
        "witness_policy": {"threshold": 1, "witnesses": [r], "require_regulator": True},
        "members": [
            {"org": a, "name": "Operator A", "roles": ["member", "operator"]},
            {"org": b, "name": "Firm B", "roles": ["member"]},
            {"org": r, "name": "Regulator R", "roles": ["regulator", "witness"]},
        ],
        "catalogue": {
            "centers": [
                {
                    "id": a,
                    "name": "Center",
                    "units": [
                        {
                            "id": b,
                            "name": "Unit",
                            "apis": [
                                {
                                    "id": r,
                                    "method": "GET",
                                    "route": f"/v1/{r}",
                                    "provider": a,
                                    "asset": b,
                                    "name": "Api",
                                }
                            ],
                        }
                    ],
                }
            ],
            "assets": [
                {
                    "id": b,
                    "owner": a,
                    "kind": "dataset",
                    "classification": 1,
                    "title": "T",
                    "description": "D",
                }
            ],
            "grants": [{"asset": b, "grantee": b, "purpose": r, "days": 1, "quota": 0}],
        },
    }
    cfg = parse_config(data)
    assert [m.org for m in cfg.members] == names
    assert parse_config(tomllib.loads(config_to_toml(cfg))) == cfg
    assert config_to_dict(cfg) == data


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=40).filter(lambda s: re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,31}", s) is None))
def test_random_invalid_org_ids_are_rejected(org: str) -> None:
    d = demo_data()
    d["members"][1]["org"] = org
    rejects(d, "members[1].org: invalid org id")


# -- top level and members ------------------------------------------------------------------------------


def test_unknown_top_level_key_is_a_typo_not_silence() -> None:
    d = demo_data()
    d["chain_idd"] = 1
    rejects(d, "top level: unknown key 'chain_idd' (did you mean 'chain_id'?)")


def test_missing_top_level_key() -> None:
    d = demo_data()
    del d["proposal_ttl_days"]
    rejects(d, "top level: missing required key 'proposal_ttl_days'")


def test_unknown_member_key() -> None:
    d = demo_data()
    d["members"][1]["rolse"] = ["member"]
    rejects(d, "members[1]: unknown key 'rolse' (did you mean 'roles'?)")


def test_a_witness_url_is_kept_and_checked() -> None:
    d = demo_data()
    witness = next(i for i, m in enumerate(d["members"]) if "witness" in m["roles"])
    d["members"][witness]["witness_url"] = "https://witness.example:8551/log"
    cfg = parse_config(d)
    assert cfg.members[witness].witness_url == "https://witness.example:8551/log"
    assert all(m.witness_url is None for i, m in enumerate(cfg.members) if i != witness)
    assert parse_config(tomllib.loads(config_to_toml(cfg))) == cfg
    for bad in ("witness.example:8551", "ftp://w.example", "https://w .example", "https://" + "w" * 505):
        d["members"][witness]["witness_url"] = bad
        rejects(d, f"members[{witness}].witness_url: ")
    d["members"][witness]["witness_url"] = 8551
    rejects(d, f"members[{witness}].witness_url: ")
    del d["members"][witness]["witness_url"]
    d["members"][witness]["roles"] = [r for r in d["members"][witness]["roles"] if r != "witness"]
    d["witness_policy"]["witnesses"] = [m["org"] for m in d["members"] if "witness" in m["roles"]]
    d["witness_policy"]["threshold"] = 1
    d["members"][witness]["witness_url"] = "https://witness.example"
    rejects(d, "does not hold the 'witness' role; remove the URL")


def test_unknown_witness_policy_key() -> None:
    d = demo_data()
    d["witness_policy"]["treshold"] = 4
    rejects(d, "witness_policy: unknown key 'treshold'")


def test_consortium_name_must_be_a_short_name() -> None:
    d = demo_data()
    d["name"] = "Beijing Pilot"
    rejects(d, "name: invalid consortium name 'Beijing Pilot'")


def test_duplicate_org_id() -> None:
    d = demo_data()
    d["members"][2]["org"] = "jinghua-sec"
    rejects(d, "members[2].org: duplicate org id 'jinghua-sec' (first used by members[1])")


def test_invalid_org_id() -> None:
    d = demo_data()
    d["members"][0]["org"] = "BJIC Cloud"
    rejects(d, "members[0].org: invalid org id 'BJIC Cloud'")


def test_all_members_is_a_reserved_org_id() -> None:
    d = demo_data()
    d["members"][3]["org"] = "all-members"
    rejects(d, "members[3].org: 'all-members' is reserved")


def test_unknown_role() -> None:
    d = demo_data()
    d["members"][1]["roles"] = ["member", "witnes"]
    rejects(d, "members[1].roles[1]: unknown role 'witnes'; known roles are member, operator")


def test_roles_are_lowercase_names() -> None:
    d = demo_data()
    d["members"][1]["roles"] = ["MEMBER"]
    rejects(d, "members[1].roles[0]: unknown role 'MEMBER'")


def test_roles_must_not_be_empty() -> None:
    d = demo_data()
    d["members"][2]["roles"] = []
    rejects(d, "members[2].roles: empty")


def test_roles_must_be_an_array() -> None:
    d = demo_data()
    d["members"][2]["roles"] = "member"
    rejects(d, "members[2].roles: expected an array, got str")


def test_role_listed_twice() -> None:
    d = demo_data()
    d["members"][2]["roles"] = ["member", "witness", "member"]
    rejects(d, "members[2].roles[2]: role 'member' listed twice")


def test_member_must_be_a_table() -> None:
    d = demo_data()
    d["members"][2] = "yanshan-sec"
    rejects(d, "members[2]: expected a table, got str")


def test_members_must_not_be_empty() -> None:
    d = demo_data()
    d["members"] = []
    rejects(d, "members: the consortium needs at least one member")


def test_exactly_one_operator_not_two() -> None:
    d = demo_data()
    d["members"][1]["roles"].append("operator")
    rejects(d, "exactly one member must hold the 'operator' role, found 2 ('bjic-cloud', 'jinghua-sec')")


def test_exactly_one_operator_not_none() -> None:
    d = demo_data()
    d["members"][0]["roles"].remove("operator")
    rejects(d, "exactly one member must hold the 'operator' role, found 0 (none)")


def test_at_least_one_regulator() -> None:
    d = demo_data()
    d["members"][6]["roles"] = ["witness"]
    rejects(d, "members: at least one member must hold the 'regulator' role")


@pytest.mark.parametrize("extra", ["member", "operator"])
def test_regulator_holds_no_business_role(extra: str) -> None:
    d = demo_data()
    d["members"][6]["roles"].append(extra)
    rejects(d, "members[6].roles: regulator 'bjcm-supervision' must not also hold 'member' or 'operator'")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "members[1].name: must not be empty"),
        ("   ", "members[1].name: must not be empty"),
        (" Jinghua", "has leading or trailing whitespace"),
        ("J" * 65, "members[1].name: 65 characters (65 UTF-8 bytes); at most 64"),
        ("京" * 22, "members[1].name: 22 characters (66 UTF-8 bytes); at most 64"),
        ("Jinghua\u202eSecurities", "contains control or format characters"),
        ("Jinghua\nSecurities", "contains control or format characters"),
    ],
)
def test_display_name_rules(name: str, fragment: str) -> None:
    d = demo_data()
    d["members"][1]["name"] = name
    rejects(d, fragment)


def test_display_name_of_64_characters_is_fine() -> None:
    d = demo_data()
    d["members"][1]["name"] = "J" * 64
    assert parse_config(d).members[1].name == "J" * 64


def test_member_count_is_capped() -> None:
    d = demo_data()
    d["members"] += [{"org": f"firm-{i}", "name": f"Firm {i}", "roles": ["member"]} for i in range(MAX_MEMBERS + 1 - 7)]
    rejects(d, f"members: {MAX_MEMBERS + 1} entries, at most {MAX_MEMBERS} allowed")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (0, "chain_id: 0 is out of range; use 1..9223372036854775807"),
        (2**63, "chain_id: 9223372036854775808 is out of range"),
        (True, "chain_id: expected an integer, got bool"),
        ("20261", "chain_id: expected an integer, got str"),
        (20261.0, "chain_id: expected an integer, got float"),
    ],
)
def test_chain_id_range_and_type(value: object, fragment: str) -> None:
    d = demo_data()
    d["chain_id"] = value
    rejects(d, fragment)


def test_chain_id_upper_bound_is_allowed() -> None:
    d = demo_data()
    d["chain_id"] = 2**63 - 1
    assert parse_config(d).chain_id == 2**63 - 1


def test_proposal_ttl_days_range() -> None:
    d = demo_data()
    d["proposal_ttl_days"] = 0
    rejects(d, "proposal_ttl_days: 0 is out of range; use 1..365")


def test_admission_threshold_at_least_one() -> None:
    d = demo_data()
    d["admission_threshold"] = 0
    rejects(d, "admission_threshold: 0 is out of range")


def test_admission_threshold_at_most_the_voters() -> None:
    d = demo_data()
    d["admission_threshold"] = 7
    rejects(d, "admission_threshold: 7 exceeds the 6 voters (members with role 'member'); use 1..6")
    d["admission_threshold"] = 6
    assert parse_config(d).admission_threshold == 6


# -- witness policy -------------------------------------------------------------------------------------


def test_witness_threshold_at_least_one() -> None:
    d = demo_data()
    d["witness_policy"]["threshold"] = 0
    rejects(d, "witness_policy.threshold: 0 is out of range")


def test_witness_threshold_at_most_the_witnesses() -> None:
    d = demo_data()
    d["witness_policy"]["threshold"] = 8
    rejects(d, "witness_policy.threshold: 8 exceeds the 7 witnesses; use 1..7")


def test_witnesses_must_be_members() -> None:
    d = demo_data()
    d["witness_policy"]["witnesses"][1] = "acme-sec"
    rejects(d, "witness_policy.witnesses[1]: 'acme-sec' is not a member")


def test_witness_listed_twice() -> None:
    d = demo_data()
    d["witness_policy"]["witnesses"][1] = "bjic-cloud"
    rejects(d, "witness_policy.witnesses[1]: 'bjic-cloud' listed twice")


def test_witness_must_hold_the_witness_role() -> None:
    d = demo_data()
    d["members"][2]["roles"] = ["member"]
    rejects(d, "witness_policy.witnesses[2]: member 'yanshan-sec' does not hold the 'witness' role")


def test_all_members_must_stand_alone() -> None:
    d = demo_data()
    d["witness_policy"]["witnesses"] = ["all-members", "bjic-cloud"]
    rejects(d, "witness_policy.witnesses: 'all-members' must be the only entry")


def test_witnesses_must_not_be_empty() -> None:
    d = demo_data()
    d["witness_policy"]["witnesses"] = []
    rejects(d, "witness_policy.witnesses: empty")


def test_required_regulator_must_be_a_witness() -> None:
    d = demo_data()
    d["witness_policy"]["witnesses"] = d["witness_policy"]["witnesses"][:6]
    rejects(d, "require_regulator is true but no regulator ('bjcm-supervision') is a witness")
    d["witness_policy"]["require_regulator"] = False
    assert "bjcm-supervision" not in parse_config(d).witness_policy.witnesses


def test_require_regulator_is_a_boolean() -> None:
    d = demo_data()
    d["witness_policy"]["require_regulator"] = "yes"
    rejects(d, "witness_policy.require_regulator: expected true or false, got str")


# -- catalogue ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locate", "where"),
    [
        (lambda d: d["catalogue"], "catalogue"),
        (lambda d: d["catalogue"]["centers"][1], "catalogue.centers[1]"),
        (lambda d: d["catalogue"]["centers"][1]["units"][2], "catalogue.centers[1].units[2]"),
        (
            lambda d: d["catalogue"]["centers"][1]["units"][2]["apis"][3],
            "catalogue.centers[1].units[2].apis[3]",
        ),
        (lambda d: d["catalogue"]["assets"][4], "catalogue.assets[4]"),
        (lambda d: d["catalogue"]["grants"][5], "catalogue.grants[5]"),
    ],
)
def test_unknown_catalogue_keys(locate: Callable[[Data], Data], where: str) -> None:
    d = demo_data()
    locate(d)["nmae"] = "x"
    rejects(d, f"{where}: unknown key 'nmae'")


def test_ids_unique_across_centers_units_and_apis() -> None:
    d = demo_data()
    d["catalogue"]["centers"][0]["units"][1]["id"] = "public-business"
    rejects(
        d,
        "catalogue.centers[0].units[1].id: duplicate id 'public-business' (first used by catalogue.centers[0])",
    )
    d = demo_data()
    api0(d, 1, 2)["id"] = "market-data"
    rejects(d, "catalogue.centers[0].units[1].apis[2].id: duplicate id 'market-data'")


@pytest.mark.parametrize("what", ["center", "unit", "api"])
def test_catalogue_ids_are_short_names(what: str) -> None:
    d = demo_data()
    center = d["catalogue"]["centers"][0]
    row = {"center": center, "unit": center["units"][0], "api": center["units"][0]["apis"][0]}[what]
    row["id"] = "Market Data"
    rejects(d, f"invalid {what} id 'Market Data'")


def test_provider_must_be_a_member() -> None:
    d = demo_data()
    api0(d)["provider"] = "acme-sec"
    rejects(d, "catalogue.centers[0].units[0].apis[0].provider: provider 'acme-sec' is not a member")


def test_provider_must_hold_the_member_role() -> None:
    d = demo_data()
    api0(d)["provider"] = "bjcm-supervision"
    rejects(d, "provider 'bjcm-supervision' does not hold the 'member' role")


def test_api_asset_must_exist() -> None:
    d = demo_data()
    api0(d)["asset"] = "no-such-asset"
    rejects(d, "catalogue.centers[0].units[0].apis[0].asset: unknown asset 'no-such-asset'")


def test_api_asset_must_be_owned_by_the_provider() -> None:
    d = demo_data()
    api0(d)["asset"] = "financial-news"
    rejects(d, "asset 'financial-news' is owned by 'shuzhi-tech', not by the provider 'bjic-cloud'")


@pytest.mark.parametrize("route", ["v1/market/quotes", "/v1/market quotes", "/v1/\tx", "/v1/行情", "/" + "a" * 128])
def test_route_starts_with_slash_without_whitespace(route: str) -> None:
    d = demo_data()
    api0(d)["route"] = route
    rejects(d, "catalogue.centers[0].units[0].apis[0].route: ")
    rejects(d, "must start with '/'")


@pytest.mark.parametrize("method", ["PATCH", "get", ""])
def test_method_is_one_of_the_four(method: str) -> None:
    d = demo_data()
    api0(d)["method"] = method
    rejects(d, f"apis[0].method: {method!r} is not one of GET, POST, PUT, DELETE")


def test_method_and_route_served_once() -> None:
    d = demo_data()
    api0(d, 0, 1)["route"] = api0(d, 0, 0)["route"]
    rejects(
        d,
        "apis[1].route: GET /v1/market/quotes/level1 is already served by catalogue.centers[0].units[0].apis[0]",
    )


def test_api_count_is_capped() -> None:
    d = demo_data()
    unit = d["catalogue"]["centers"][0]["units"][0]
    unit["apis"] = [
        {
            "id": f"api-{i}",
            "method": "GET",
            "route": f"/v1/bulk/{i}",
            "provider": "bjic-cloud",
            "asset": "equity-quotes-l1",
            "name": "Bulk",
        }
        for i in range(MAX_APIS + 1)
    ]
    rejects(d, f"apis: {MAX_APIS + 1} entries, at most {MAX_APIS} allowed")
    # spread over two units: the catalogue-wide cap still holds
    unit["apis"] = unit["apis"][: MAX_APIS // 2 + 1]
    d["catalogue"]["centers"][0]["units"][1]["apis"] = [
        {**a, "id": f"b{a['id']}", "route": f"/v2{a['route']}"} for a in unit["apis"]
    ]
    rejects(d, f"more than {MAX_APIS} apis in the catalogue")


def test_asset_kind_is_known() -> None:
    d = demo_data()
    d["catalogue"]["assets"][0]["kind"] = "Dataset"
    rejects(d, "catalogue.assets[0].kind: unknown kind 'Dataset'; use one of dataset, feed, model, api")


@pytest.mark.parametrize("value", [0, 5])
def test_asset_classification_is_1_to_4(value: int) -> None:
    d = demo_data()
    d["catalogue"]["assets"][0]["classification"] = value
    rejects(d, f"catalogue.assets[0].classification: {value} is out of range; use 1..4")


def test_asset_owner_must_hold_the_member_role() -> None:
    d = demo_data()
    d["catalogue"]["assets"][0]["owner"] = "bjcm-supervision"
    rejects(d, "catalogue.assets[0].owner: owner 'bjcm-supervision' does not hold the 'member' role")


def test_asset_ids_unique() -> None:
    d = demo_data()
    d["catalogue"]["assets"][1]["id"] = d["catalogue"]["assets"][0]["id"]
    rejects(d, "catalogue.assets[1].id: duplicate asset id 'equity-quotes-l1' (first used by catalogue.assets[0])")


def test_grant_asset_must_exist() -> None:
    d = demo_data()
    d["catalogue"]["grants"][0]["asset"] = "no-such-asset"
    rejects(d, "catalogue.grants[0].asset: unknown asset 'no-such-asset'")


@pytest.mark.parametrize(
    ("grantee", "fragment"),
    [
        ("acme-sec", "grantee 'acme-sec' is not a member"),
        ("bjcm-supervision", "grantee 'bjcm-supervision' does not hold the 'member' role"),
    ],
)
def test_grantee_must_be_a_business_member(grantee: str, fragment: str) -> None:
    d = demo_data()
    d["catalogue"]["grants"][0]["grantee"] = grantee
    rejects(d, f"catalogue.grants[0].grantee: {fragment}")


def test_grantee_is_not_the_owner() -> None:
    d = demo_data()
    grant = d["catalogue"]["grants"][0]
    grant["grantee"] = "bjic-cloud"
    rejects(d, f"catalogue.grants[0].grantee: 'bjic-cloud' owns asset {grant['asset']!r}")


def test_grant_days_at_least_one() -> None:
    d = demo_data()
    d["catalogue"]["grants"][0]["days"] = 0
    rejects(d, "catalogue.grants[0].days: 0 is out of range")


def test_grant_quota_not_negative() -> None:
    d = demo_data()
    d["catalogue"]["grants"][0]["quota"] = -1
    rejects(d, "catalogue.grants[0].quota: -1 is out of range")
    d["catalogue"]["grants"][0]["quota"] = 0  # unlimited
    assert parse_config(d).catalogue is not None


def test_grant_purpose_is_a_short_name() -> None:
    d = demo_data()
    d["catalogue"]["grants"][0]["purpose"] = "Risk Control"
    rejects(d, "catalogue.grants[0].purpose: invalid purpose 'Risk Control'")


def test_grant_state_is_optional_and_one_of_the_known_states() -> None:
    d = demo_data()
    grant = d["catalogue"]["grants"][0]
    assert "state" not in grant  # "active" is the default and is not written out
    grant["state"] = "suspended"
    rejects(d, "catalogue.grants[0].state: unknown state 'suspended'; use one of active, revoked, expired")
    grant["state"] = "revoked"
    cfg = parse_config(d)
    assert cfg.catalogue is not None and cfg.catalogue.grants[0].state == "revoked"
    assert config_to_dict(cfg)["catalogue"]["grants"][0]["state"] == "revoked"


def test_duplicate_grant() -> None:
    d = demo_data()
    d["catalogue"]["grants"][1] = dict(d["catalogue"]["grants"][0])
    rejects(d, "catalogue.grants[1]: duplicate grant of 'equity-quotes-l2' to 'jinghua-sec' for 'trading'")


# -- files ----------------------------------------------------------------------------------------------


def _write(path: Path, data: Data) -> Path:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def test_catalogue_in_a_separate_file_under_a_catalogue_table(tmp_path: Path) -> None:
    d = demo_data()
    _write(tmp_path / "cat.toml", {"catalogue": d.pop("catalogue")})
    d["catalogue"] = "cat.toml"
    assert load_config(_write(tmp_path / "c.toml", d)) == _demo()


def test_catalogue_file_errors_name_the_file(tmp_path: Path) -> None:
    d = demo_data()
    cat = d.pop("catalogue")
    cat["centers"][0]["units"][0]["apis"][0]["method"] = "PATCH"
    _write(tmp_path / "cat.toml", cat)
    d["catalogue"] = "cat.toml"
    path = _write(tmp_path / "c.toml", d)
    with pytest.raises(MalformedError) as e:
        load_config(path)
    assert "c.toml: catalogue file 'cat.toml': centers[0].units[0].apis[0].method: 'PATCH'" in str(e.value)


def test_unknown_key_at_catalogue_file_top(tmp_path: Path) -> None:
    _write(tmp_path / "cat.toml", {"centres": []})
    d = demo_data()
    d["catalogue"] = "cat.toml"
    rejects(d, "catalogue file 'cat.toml': top level: unknown key 'centres'", base_dir=tmp_path)


@pytest.mark.parametrize("ref", ["../cat.toml", "/etc/cat.toml", "C:\\cat.toml", ""])
def test_catalogue_file_stays_inside_the_directory(tmp_path: Path, ref: str) -> None:
    d = demo_data()
    d["catalogue"] = ref
    rejects(d, "must be a relative path inside the consortium file's directory", base_dir=tmp_path)


def test_catalogue_file_needs_a_base_dir() -> None:
    d = demo_data()
    d["catalogue"] = "catalogue.toml"
    rejects(d, "catalogue: 'catalogue.toml' names a file but no base directory was given")


def test_missing_catalogue_file(tmp_path: Path) -> None:
    d = demo_data()
    d["catalogue"] = "missing.toml"
    rejects(d, "cannot read the file", base_dir=tmp_path)


def test_catalogue_of_the_wrong_type() -> None:
    d = demo_data()
    d["catalogue"] = 3
    rejects(d, "catalogue: expected a file name such as 'catalogue.toml' or a [catalogue] table, got int")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nchain_id = \n', encoding="utf-8")
    with pytest.raises(MalformedError, match=r"broken\.toml: not valid TOML"):
        load_config(path)


def test_validation_errors_name_the_file(tmp_path: Path) -> None:
    d = demo_data()
    d["members"][2]["org"] = "jinghua-sec"
    with pytest.raises(MalformedError, match=r"c\.toml: members\[2\]\.org: duplicate org id 'jinghua-sec'"):
        load_config(_write(tmp_path / "c.toml", d))


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(MalformedError, match="larger than"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MalformedError, match=r"nope\.toml: cannot read the file"):
        load_config(tmp_path / "nope.toml")
