"""DataAssetRegistry: assets and their versions, transfer of rights, retirement and the service catalogue."""

from __future__ import annotations

from typing import Any

import pytest

from chain.errors import MalformedError
from chain.ids import AssetKind, Role, name_to_bytes32
from tests.integration.contracts.contract_helpers import digest, known, name, refused, send
from tests.support.consortium import Consortium

ZERO32 = b"\0" * 32


def register(c: Any, org: str, asset: str, classification: int = 2, kind: AssetKind = AssetKind.DATASET) -> Any:
    return c.assets.register_asset(
        c.signers[org], asset, kind, digest(f"{asset} v1"), digest(f"{asset} meta v1"), classification
    )


def suspend(c: Any, org: str) -> None:
    c.registry.suspend(c.signers["reg"], org)


def catalogue(c: Any) -> None:
    """The operator's service center "sc" with unit "su"."""
    c.assets.add_center(c.signers["op"], "sc", "Service Center")
    c.assets.add_unit(c.signers["op"], "su", "sc", "Service Unit")


# -- registration and versions ---------------------------------------------------------------------------


def test_register_asset(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    receipt = c.assets.register_asset(alpha, "quotes", AssetKind.FEED, digest("c1"), digest("m1"), 3)
    (registered,) = c.assets.decode_events(receipt, "AssetRegistered")
    args = registered["args"]
    assert (name(args["asset"]), name(args["owner"]), args["kind"], args["classification"]) == (
        "quotes",
        "alpha",
        AssetKind.FEED,
        3,
    )
    assert bytes(args["content_digest"]) == digest("c1")
    (version,) = c.assets.decode_events(receipt, "AssetVersionAdded")
    args = version["args"]
    assert (name(args["asset"]), args["version"], args["classification"]) == ("quotes", 1, 3)
    assert (bytes(args["content_digest"]), bytes(args["metadata_digest"])) == (digest("c1"), digest("m1"))

    block = c.backend.web3.eth.get_block(receipt["blockNumber"])
    info = c.assets.asset("quotes")
    assert info is not None
    assert (info.owner, info.kind, info.classification, info.version_count) == ("alpha", AssetKind.FEED, 3, 1)
    assert (info.pending_owner, info.retired, info.registered_at) == (None, False, block["timestamp"])
    v1 = known(c.assets.version("quotes", 1))
    assert (v1.content_digest, v1.metadata_digest, v1.classification) == (digest("c1"), digest("m1"), 3)
    assert (v1.registered_at, v1.registered_by) == (block["timestamp"], alpha.address)
    assert c.assets.contract.functions.owner_of(name_to_bytes32("quotes")).call() == name_to_bytes32("alpha")
    assert c.assets.contract.functions.asset_state(name_to_bytes32("quotes")).call() == [
        name_to_bytes32("alpha"),
        False,
        0,
    ]

    register(c, "beta", "ratings", kind=AssetKind.MODEL)
    register(c, "op", "op-api", kind=AssetKind.API)  # an operator is a member too
    assert [(a.asset, a.owner, a.kind) for a in c.assets.assets()] == [
        ("quotes", "alpha", AssetKind.FEED),
        ("ratings", "beta", AssetKind.MODEL),
        ("op-api", "op", AssetKind.API),
    ]
    assert c.assets.asset("nothing") is None
    assert c.assets.version("quotes", 2) is None
    assert c.assets.versions("nothing") == []


def test_register_asset_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    register(c, "alpha", "taken")
    suspend(c, "gamma")
    args = ("fresh", AssetKind.DATASET, digest("c"), digest("m"), 1)
    refused("not a member", c.assets.register_asset, c.outsider, *args)
    refused("member suspended", c.assets.register_asset, c.signers["gamma"], *args)
    refused("regulator is read-only", c.assets.register_asset, c.signers["reg"], *args)
    refused("asset already registered", register, c, "alpha", "taken")
    refused("asset already registered", register, c, "beta", "taken")
    refused("empty content digest", c.assets.register_asset, alpha, "fresh", AssetKind.DATASET, ZERO32, digest("m"), 1)
    c.assets.register_asset(alpha, "no-meta", AssetKind.DATASET, digest("c"), ZERO32, 1)  # metadata optional
    assert c.assets.asset("fresh") is None


@pytest.mark.parametrize(
    ("asset", "kind", "classification", "reason"),
    [
        pytest.param(ZERO32, 1, 1, "empty asset id", id="empty-id"),
        pytest.param(name_to_bytes32("fresh"), 0, 1, "invalid asset kind", id="kind-0"),
        pytest.param(name_to_bytes32("fresh"), 5, 1, "invalid asset kind", id="kind-5"),
        pytest.param(name_to_bytes32("fresh"), 1, 0, "classification must be 1-4", id="classification-0"),
        pytest.param(name_to_bytes32("fresh"), 1, 5, "classification must be 1-4", id="classification-5"),
    ],
)
def test_register_asset_validation_in_the_contract(
    consortium: Consortium, asset: bytes, kind: int, classification: int, reason: str
) -> None:
    c = consortium
    refused(
        reason,
        send,
        c,
        c.assets,
        c.signers["alpha"],
        "register_asset",
        asset,
        kind,
        digest("c"),
        digest("m"),
        classification,
    )
    assert c.assets.contract.functions.asset_count().call() == 0


def test_register_asset_validation_in_the_client(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    with pytest.raises(MalformedError):
        c.assets.register_asset(alpha, "", AssetKind.DATASET, digest("c"), digest("m"), 1)
    with pytest.raises(MalformedError):
        c.assets.register_asset(alpha, "fresh", AssetKind.DATASET, digest("c"), digest("m"), 0)
    with pytest.raises(MalformedError):
        c.assets.register_asset(alpha, "fresh", AssetKind.DATASET, digest("c"), digest("m"), 5)
    with pytest.raises(MalformedError):
        c.assets.register_asset(alpha, "fresh", AssetKind.DATASET, b"short", digest("m"), 1)
    with pytest.raises(ValueError):
        c.assets.register_asset(alpha, "fresh", 5, digest("c"), digest("m"), 1)  # type: ignore[arg-type]


def test_versions_keep_the_full_history(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    register(c, "alpha", "book", classification=1)
    receipt = send(
        c, c.assets, alpha, "add_version", name_to_bytes32("book"), digest("book v2"), digest("book meta v2"), 3
    )
    (event,) = c.assets.decode_events(receipt, "AssetVersionAdded")
    args = event["args"]
    assert (name(args["asset"]), args["version"], args["classification"]) == ("book", 2, 3)
    assert (bytes(args["content_digest"]), bytes(args["metadata_digest"])) == (
        digest("book v2"),
        digest("book meta v2"),
    )
    assert c.assets.add_version(alpha, "book", digest("book v3"), digest("book meta v3"), 2) == 3

    info = known(c.assets.asset("book"))
    assert (info.version_count, info.classification) == (3, 2)  # the latest version's classification
    history = c.assets.versions("book")
    assert [(v.version, v.content_digest, v.metadata_digest, v.classification) for v in history] == [
        (1, digest("book v1"), digest("book meta v1"), 1),
        (2, digest("book v2"), digest("book meta v2"), 3),
        (3, digest("book v3"), digest("book meta v3"), 2),
    ]
    assert all(v.registered_by == alpha.address for v in history)
    assert history[0].registered_at <= history[1].registered_at <= history[2].registered_at
    assert len(c.assets.events("AssetVersionAdded", filters={"asset": name_to_bytes32("book")})) == 3


def test_add_version_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    register(c, "alpha", "book")
    register(c, "gamma", "gamma-book")
    register(c, "alpha", "old")
    c.assets.retire_asset(alpha, "old")
    suspend(c, "gamma")
    new = (digest("v2"), digest("m2"), 2)
    refused("not a member", c.assets.add_version, c.outsider, "book", *new)
    refused("member suspended", c.assets.add_version, c.signers["gamma"], "gamma-book", *new)
    refused("regulator is read-only", c.assets.add_version, c.signers["reg"], "book", *new)
    refused("not asset owner", c.assets.add_version, c.signers["beta"], "book", *new)
    refused("unknown asset", c.assets.add_version, alpha, "nothing", *new)
    refused("asset retired", c.assets.add_version, alpha, "old", *new)
    refused("empty content digest", c.assets.add_version, alpha, "book", ZERO32, digest("m2"), 2)
    refused(
        "classification must be 1-4",
        send,
        c,
        c.assets,
        alpha,
        "add_version",
        name_to_bytes32("book"),
        digest("v2"),
        digest("m2"),
        0,
    )
    refused(
        "classification must be 1-4",
        send,
        c,
        c.assets,
        alpha,
        "add_version",
        name_to_bytes32("book"),
        digest("v2"),
        digest("m2"),
        5,
    )
    with pytest.raises(MalformedError):
        c.assets.add_version(alpha, "book", digest("v2"), digest("m2"), 5)
    assert known(c.assets.asset("book")).version_count == 1


# -- transfer of rights ----------------------------------------------------------------------------------


def test_transfer_needs_an_offer_and_the_recipients_acceptance(consortium: Consortium) -> None:
    c = consortium
    alpha, beta, gamma = c.signers["alpha"], c.signers["beta"], c.signers["gamma"]
    register(c, "alpha", "book")
    refused("no transfer offered", c.assets.accept_transfer, beta, "book")

    receipt = c.assets.offer_transfer(alpha, "book", "beta")
    (event,) = c.assets.decode_events(receipt, "TransferOffered")
    assert tuple(name(event["args"][k]) for k in ("asset", "from_org", "to_org")) == ("book", "alpha", "beta")
    info = known(c.assets.asset("book"))
    assert (info.owner, info.pending_owner) == ("alpha", "beta")
    refused("transfer not offered to this member", c.assets.accept_transfer, gamma, "book")
    refused("transfer not offered to this member", c.assets.accept_transfer, alpha, "book")
    refused("regulator is read-only", c.assets.accept_transfer, c.signers["reg"], "book")
    refused("not a member", c.assets.accept_transfer, c.outsider, "book")
    c.assets.add_version(alpha, "book", digest("v2"), digest("m2"), 2)  # still alpha's until accepted

    receipt = c.assets.accept_transfer(beta, "book")
    (event,) = c.assets.decode_events(receipt, "AssetTransferred")
    assert tuple(name(event["args"][k]) for k in ("asset", "from_org", "to_org")) == ("book", "alpha", "beta")
    info = known(c.assets.asset("book"))
    assert (info.owner, info.pending_owner, info.version_count) == ("beta", None, 2)
    refused("not asset owner", c.assets.add_version, alpha, "book", digest("v3"), digest("m3"), 2)
    refused("no transfer offered", c.assets.accept_transfer, beta, "book")
    assert c.assets.add_version(beta, "book", digest("v3"), digest("m3"), 2) == 3
    assert [v.registered_by for v in c.assets.versions("book")] == [alpha.address, alpha.address, beta.address]


def test_a_transfer_offer_can_be_cancelled_or_replaced(consortium: Consortium) -> None:
    c = consortium
    alpha, beta = c.signers["alpha"], c.signers["beta"]
    register(c, "alpha", "book")
    refused("no transfer offered", c.assets.cancel_transfer, alpha, "book")
    c.assets.offer_transfer(alpha, "book", "beta")
    refused("not asset owner", c.assets.cancel_transfer, beta, "book")
    receipt = c.assets.cancel_transfer(alpha, "book")
    (event,) = c.assets.decode_events(receipt, "TransferCancelled")
    assert (name(event["args"]["asset"]), name(event["args"]["from_org"])) == ("book", "alpha")
    assert known(c.assets.asset("book")).pending_owner is None
    refused("no transfer offered", c.assets.accept_transfer, beta, "book")

    c.assets.offer_transfer(alpha, "book", "beta")
    c.assets.offer_transfer(alpha, "book", "gamma")  # a new offer replaces the old one
    assert known(c.assets.asset("book")).pending_owner == "gamma"
    refused("transfer not offered to this member", c.assets.accept_transfer, beta, "book")
    c.assets.accept_transfer(c.signers["gamma"], "book")
    assert known(c.assets.asset("book")).owner == "gamma"


def test_offer_transfer_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    register(c, "alpha", "book")
    register(c, "gamma", "gamma-book")
    register(c, "alpha", "old")
    c.assets.retire_asset(alpha, "old")
    suspend(c, "gamma")
    refused("not a member", c.assets.offer_transfer, c.outsider, "book", "beta")
    refused("member suspended", c.assets.offer_transfer, c.signers["gamma"], "gamma-book", "beta")
    refused("regulator is read-only", c.assets.offer_transfer, c.signers["reg"], "book", "beta")
    refused("not asset owner", c.assets.offer_transfer, c.signers["beta"], "book", "beta")
    refused("unknown asset", c.assets.offer_transfer, alpha, "nothing", "beta")
    refused("asset retired", c.assets.offer_transfer, alpha, "old", "beta")
    refused("cannot transfer to the owner", c.assets.offer_transfer, alpha, "book", "alpha")
    refused("recipient suspended", c.assets.offer_transfer, alpha, "book", "gamma")
    refused("recipient not a member", c.assets.offer_transfer, alpha, "book", "reg")
    refused("recipient not a member", c.assets.offer_transfer, alpha, "book", "nobody")
    assert known(c.assets.asset("book")).pending_owner is None


def test_accept_transfer_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha, beta = c.signers["alpha"], c.signers["beta"]
    for asset in ("book", "old", "frozen-owner"):
        register(c, "alpha", asset)
        c.assets.offer_transfer(alpha, asset, "beta")
    c.assets.retire_asset(alpha, "old")
    refused("unknown asset", c.assets.accept_transfer, beta, "nothing")
    refused("asset retired", c.assets.accept_transfer, beta, "old")
    suspend(c, "alpha")
    refused("owner suspended", c.assets.accept_transfer, beta, "frozen-owner")
    c.registry.reinstate(c.signers["reg"], "alpha")
    suspend(c, "beta")
    refused("member suspended", c.assets.accept_transfer, beta, "book")
    c.registry.reinstate(c.signers["reg"], "beta")
    c.assets.accept_transfer(beta, "book")
    assert known(c.assets.asset("book")).owner == "beta"


# -- retirement ------------------------------------------------------------------------------------------


def test_retire_asset(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    register(c, "alpha", "book")
    c.assets.offer_transfer(alpha, "book", "beta")
    refused("not asset owner", c.assets.retire_asset, c.signers["beta"], "book")
    refused("not a member", c.assets.retire_asset, c.outsider, "book")
    refused("regulator is read-only", c.assets.retire_asset, c.signers["reg"], "book")
    refused("unknown asset", c.assets.retire_asset, alpha, "nothing")

    receipt = c.assets.retire_asset(alpha, "book")
    (event,) = c.assets.decode_events(receipt, "AssetRetired")
    assert (name(event["args"]["asset"]), name(event["args"]["owner"])) == ("book", "alpha")
    info = known(c.assets.asset("book"))
    assert (info.retired, info.pending_owner, info.owner, info.version_count) == (True, None, "alpha", 1)
    assert c.assets.contract.functions.asset_state(name_to_bytes32("book")).call() == [
        name_to_bytes32("alpha"),
        True,
        0,
    ]
    assert c.assets.versions("book")[0].content_digest == digest("book v1")  # history stays readable

    refused("asset retired", c.assets.retire_asset, alpha, "book")
    refused("asset retired", c.assets.add_version, alpha, "book", digest("v2"), digest("m2"), 1)
    refused("asset retired", c.assets.offer_transfer, alpha, "book", "beta")
    refused("asset retired", c.assets.cancel_transfer, alpha, "book")
    refused("asset retired", c.assets.accept_transfer, c.signers["beta"], "book")
    refused("asset already registered", register, c, "alpha", "book")  # ids are never reused


# -- service catalogue -----------------------------------------------------------------------------------


def test_centers_and_units_are_added_by_an_operator(consortium: Consortium) -> None:
    c = consortium
    op = c.signers["op"]
    receipt = c.assets.add_center(op, "sc", "Market Data Center")
    (event,) = c.assets.decode_events(receipt, "CenterAdded")
    assert (name(event["args"]["center"]), event["args"]["name"]) == ("sc", "Market Data Center")
    block = c.backend.web3.eth.get_block(receipt["blockNumber"])
    center = c.assets.contract.functions.center(name_to_bytes32("sc")).call()
    assert tuple(center) == ("Market Data Center", block["timestamp"])
    receipt = c.assets.add_unit(op, "su", "sc", "Quotes Unit")
    (event,) = c.assets.decode_events(receipt, "UnitAdded")
    assert (name(event["args"]["unit"]), name(event["args"]["center"]), event["args"]["name"]) == (
        "su",
        "sc",
        "Quotes Unit",
    )
    c.assets.add_center(op, "sc2", "Second Center")
    c.assets.add_unit(op, "su2", "sc2", "Second Unit")
    c.assets.add_unit(op, "su3", "sc", "Third Unit")
    assert [(x.center, x.name) for x in c.assets.centers()] == [("sc", "Market Data Center"), ("sc2", "Second Center")]
    assert [(u.unit, u.center, u.name) for u in c.assets.units()] == [
        ("su", "sc", "Quotes Unit"),
        ("su2", "sc2", "Second Unit"),
        ("su3", "sc", "Third Unit"),
    ]


def test_catalogue_refusals(consortium: Consortium) -> None:
    c = consortium
    op = c.signers["op"]
    catalogue(c)
    for signer, reason in [
        (c.signers["alpha"], "not an operator"),
        (c.signers["reg"], "regulator is read-only"),
        (c.outsider, "not a member"),
    ]:
        refused(reason, c.assets.add_center, signer, "sc9", "Center")
        refused(reason, c.assets.add_unit, signer, "su9", "sc", "Unit")
    refused("center already exists", c.assets.add_center, op, "sc", "Again")
    refused("empty name", c.assets.add_center, op, "sc9", "")
    refused("empty center id", send, c, c.assets, op, "add_center", ZERO32, "Center")
    refused("unit already exists", c.assets.add_unit, op, "su", "sc", "Again")
    refused("unknown center", c.assets.add_unit, op, "su9", "nowhere", "Unit")
    refused("empty name", c.assets.add_unit, op, "su9", "sc", "")
    refused("empty unit id", send, c, c.assets, op, "add_unit", ZERO32, name_to_bytes32("sc"), "Unit")
    with pytest.raises(MalformedError):
        c.assets.add_center(op, "", "Center")
    suspend(c, "op")
    refused("member suspended", c.assets.add_center, op, "sc9", "Center")
    refused("member suspended", c.assets.add_unit, op, "su9", "sc", "Unit")
    assert [x.center for x in c.assets.centers()] == ["sc"]


def test_an_operator_without_the_member_role_runs_the_catalogue(consortium: Consortium) -> None:
    c = consortium
    ops = c.new_signer()
    pid = c.registry.propose_admit(c.signers["alpha"], "ops", "Ops", Role.OPERATOR, digest("ops"), [ops.address])
    assert c.registry.approve(c.signers["beta"], pid)
    c.assets.add_center(ops, "sc", "Center")
    refused("not a member", c.assets.register_asset, ops, "ops-data", AssetKind.DATASET, digest("c"), digest("m"), 1)


def test_register_and_retire_api(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    catalogue(c)
    register(c, "alpha", "quotes", kind=AssetKind.API)
    receipt = c.assets.register_api(alpha, "quotes-api", "su", "/v1/quotes", "GET", "quotes")
    (event,) = c.assets.decode_events(receipt, "ApiRegistered")
    args = event["args"]
    assert tuple(name(args[k]) for k in ("api", "unit", "provider", "asset")) == ("quotes-api", "su", "alpha", "quotes")
    assert args["route"] == "/v1/quotes"
    api = c.assets.api("quotes-api")
    assert api is not None
    assert (api.unit, api.route, api.method, api.provider, api.asset, api.active) == (
        "su",
        "/v1/quotes",
        "GET",
        "alpha",
        "quotes",
        True,
    )
    c.assets.register_api(alpha, "quotes-api-2", "su", "/", "POST", "quotes")
    assert [a.api for a in c.assets.apis()] == ["quotes-api", "quotes-api-2"]
    counts = c.assets.counts()
    assert (counts.centers, counts.units, counts.apis, counts.assets) == (
        len(c.assets.centers()),
        len(c.assets.units()),
        2,
        len(c.assets.assets()),
    )
    assert c.assets.api("nothing") is None

    refused("not the api provider or asset owner", c.assets.retire_api, c.signers["beta"], "quotes-api")
    refused("regulator is read-only", c.assets.retire_api, c.signers["reg"], "quotes-api")
    refused("not a member", c.assets.retire_api, c.outsider, "quotes-api")
    refused("unknown api", c.assets.retire_api, alpha, "nothing")
    receipt = c.assets.retire_api(alpha, "quotes-api")
    (event,) = c.assets.decode_events(receipt, "ApiRetired")
    assert (name(event["args"]["api"]), name(event["args"]["provider"])) == ("quotes-api", "alpha")
    assert known(c.assets.api("quotes-api")).active is False
    refused("api already retired", c.assets.retire_api, alpha, "quotes-api")
    refused("api already registered", c.assets.register_api, alpha, "quotes-api", "su", "/v2", "GET", "quotes")
    suspend(c, "alpha")
    refused("member suspended", c.assets.retire_api, alpha, "quotes-api-2")


def test_register_api_refusals(consortium: Consortium) -> None:
    c = consortium
    alpha = c.signers["alpha"]
    catalogue(c)
    register(c, "alpha", "quotes")
    register(c, "alpha", "old")
    c.assets.retire_asset(alpha, "old")
    c.assets.register_api(alpha, "taken", "su", "/taken", "GET", "quotes")
    refused("not asset owner", c.assets.register_api, c.signers["beta"], "api", "su", "/x", "GET", "quotes")
    refused("not asset owner", c.assets.register_api, c.signers["op"], "api", "su", "/x", "GET", "quotes")
    refused("regulator is read-only", c.assets.register_api, c.signers["reg"], "api", "su", "/x", "GET", "quotes")
    refused("not a member", c.assets.register_api, c.outsider, "api", "su", "/x", "GET", "quotes")
    refused("unknown asset", c.assets.register_api, alpha, "api", "su", "/x", "GET", "nothing")
    refused("asset retired", c.assets.register_api, alpha, "api", "su", "/x", "GET", "old")
    refused("unknown unit", c.assets.register_api, alpha, "api", "nowhere", "/x", "GET", "quotes")
    refused("unknown unit", c.assets.register_api, alpha, "api", "sc", "/x", "GET", "quotes")  # a center
    refused("api already registered", c.assets.register_api, alpha, "taken", "su", "/x", "GET", "quotes")
    refused("route must start with /", c.assets.register_api, alpha, "api", "su", "v1/x", "GET", "quotes")
    refused("route must start with /", c.assets.register_api, alpha, "api", "su", "", "GET", "quotes")
    refused("empty method", c.assets.register_api, alpha, "api", "su", "/x", "", "quotes")
    refused(
        "empty api id",
        send,
        c,
        c.assets,
        alpha,
        "register_api",
        ZERO32,
        name_to_bytes32("su"),
        "/x",
        "GET",
        name_to_bytes32("quotes"),
    )
    suspend(c, "alpha")
    refused("member suspended", c.assets.register_api, alpha, "api", "su", "/x", "GET", "quotes")
    assert [a.api for a in c.assets.apis()] == ["taken"]


def test_the_new_owner_can_retire_an_api_serving_its_asset(consortium: Consortium) -> None:
    """After a transfer of rights the provider keeps running the API, but the asset's new owner may retire it."""
    c = consortium
    catalogue(c)
    alpha, beta, gamma = c.signers["alpha"], c.signers["beta"], c.signers["gamma"]
    register(c, "alpha", "quotes")
    c.assets.register_api(alpha, "quotes-api", "su", "/v1/quotes", "GET", "quotes")
    c.assets.offer_transfer(alpha, "quotes", "beta")
    c.assets.accept_transfer(beta, "quotes")
    refused("not the api provider or asset owner", c.assets.retire_api, gamma, "quotes-api")
    receipt = c.assets.retire_api(beta, "quotes-api")
    (event,) = c.assets.decode_events(receipt, "ApiRetired")
    assert name(event["args"]["provider"]) == "alpha"
    assert known(c.assets.api("quotes-api")).active is False
    assert known(c.assets.asset("quotes")).transfers == 1
