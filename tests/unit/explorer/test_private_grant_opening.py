"""A private grant's grantee sees the grant's row on its page, in its grants list and in its asset's detail, before
its first allowed call, by opening the grant's key with its own terms (``explorer.api.grants.opens_key``, the
``consortium-grant-opening`` header: one opening for a grant's page, several for the list and the asset's detail,
which apply one rule, ``explorer.api.grants.private_row``), in process: FastAPI's
test client over a real call index and chain index and a real contracts snapshot. Tried as the grantee, the
grantor, another firm (with its own forged opening and with the grantee's), the operator, the regulator and an
outsider, and with malformed and wrong openings (docs/explorer.md, "Private grants in the explorer")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from chain.contracts.assets import AssetInfo
from chain.contracts.grants import PrivateGrantInfo, PrivateTerms
from chain.ids import AssetId, AssetKind, OrgId
from explorer.api import Explorer, Limits, create_app
from explorer.api.grants import OPENING_HEADER
from explorer.calls import CallIndex
from explorer.chainindex import ChainIndex
from explorer.state import Snapshot
from notary.event import QueryVisibility, canonical_entry
from tests.support.notary_events import event
from tests.support.org_logins import REGULATOR, OrgTokenLogins

GRANTOR = "ruida-data"
GRANTEE = "huaxin-bank"
THIRD = "jinghua-sec"
OPERATOR = "shuzhi-tech"  # runs the explorer; a firm like another here
ASSET = "risk-scores"
PURPOSE = "credit-risk"
GRANT_ID = bytes.fromhex("5a" * 32)
URL = "/api/v1/grants/0x" + GRANT_ID.hex()

TERMS = PrivateTerms(ASSET, GRANTOR, GRANTEE, PURPOSE, 1_790_000_000, 1_800_000_000, 1000, bytes.fromhex("c3" * 32))
LOGINS = OrgTokenLogins(GRANTOR, GRANTEE, THIRD, OPERATOR, REGULATOR)
#: A second private grant of the same grantor and asset, to the third firm, and a third to the grantee again.
THIRDS_ID = bytes.fromhex("6b" * 32)
THIRDS = PrivateTerms(ASSET, GRANTOR, THIRD, "market-risk", 1_790_000_000, 1_795_000_000, 0, bytes.fromhex("d4" * 32))
SECOND_ID = bytes.fromhex("7c" * 32)
SECOND = PrivateTerms(ASSET, GRANTOR, GRANTEE, "research", 1_790_000_000, 1_795_000_000, 5, bytes.fromhex("e5" * 32))


def opening(salt: bytes, purpose: str) -> str:
    return f"0x{salt.hex()} {purpose}"


def private_grant(grant_id: bytes, terms: PrivateTerms) -> PrivateGrantInfo:
    return PrivateGrantInfo(
        grant_id=grant_id, asset=AssetId(ASSET), grantor=OrgId(GRANTOR), key=terms.key, commitment=terms.commitment,
        created_at=1_790_000_000, revoked_at=0, revoke_reason=0, owner_epoch=0,
    )  # fmt: skip


def world(
    tmp_path: Path, calls: list[dict[str, Any]], more: tuple[PrivateGrantInfo, ...] = (), classification: int = 3
) -> Any:
    asset = AssetInfo(
        asset=AssetId(ASSET), owner=OrgId(GRANTOR), kind=AssetKind.DATASET, classification=classification,
        version_count=1,
        pending_owner=None, registered_at=1_789_000_000, retired=False, transfers=0,
    )  # fmt: skip
    grant = private_grant(GRANT_ID, TERMS)
    index = CallIndex(tmp_path / "calls.db")
    if calls:
        index.add_entries(0, [canonical_entry(c) for c in calls])
    chain = ChainIndex(tmp_path / "chain.db")
    snapshot = Snapshot(block=7, block_time=1_790_000_100, assets=(asset,), private_grants=(grant, *more))
    return SimpleNamespace(
        auth=LOGINS, recorder=None, limits=Limits(), directory=tmp_path, calls=index, chain=chain,
        state=SimpleNamespace(snapshot=snapshot, fresh_asset=lambda _: None),  # nothing registered since
        visibility=QueryVisibility(frozenset({REGULATOR})),
    )  # fmt: skip


@contextmanager
def served(stand_in: SimpleNamespace) -> Iterator[TestClient]:
    """The explorer's app over ``stand_in`` (a :func:`world`), its index and chain closed after."""
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            yield c
    finally:
        stand_in.calls.close()
        stand_in.chain.close()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    stand_in = world(tmp_path, [])  # no call under the grant yet
    with served(stand_in) as c:
        yield c


def get(client: TestClient, who: str, header: str | None = None, path: str = URL) -> Any:
    headers = {"Authorization": f"Bearer {who}"}
    if header is not None:
        headers[OPENING_HEADER] = header
    return client.get(path, headers=headers)


def test_the_grantee_opening_the_key_with_its_terms_sees_the_row_before_any_call(client: TestClient) -> None:
    assert get(client, GRANTEE).status_code == 404  # the log shows no grantee yet
    answer = get(client, GRANTEE, opening(TERMS.salt, PURPOSE))
    assert answer.status_code == 200, answer.text
    row = answer.json()
    assert (row["grantee"], row["grantor"], row["private"]) == (GRANTEE, GRANTOR, True)
    assert row["key"] == "0x" + TERMS.key.hex() and row["commitment"] == "0x" + TERMS.commitment.hex()
    assert row["purpose"] is None and row["quota"] is None  # the terms stay in the grantee's browser
    assert TERMS.salt.hex() not in answer.text


def test_an_opening_is_not_remembered(client: TestClient) -> None:
    assert get(client, GRANTEE, opening(TERMS.salt, PURPOSE)).status_code == 200
    assert get(client, GRANTEE).status_code == 404
    listed = get(client, GRANTEE, path="/api/v1/grants").json()["grants"]
    assert listed == []


@pytest.mark.parametrize(
    "forged",
    [
        opening(bytes.fromhex("c4" + "c3" * 31), PURPOSE),  # another salt
        opening(TERMS.salt, "equity-research"),  # another purpose
        opening(b"\0" * 32, PURPOSE),
    ],
    ids=["wrong-salt", "wrong-purpose", "zero-salt"],
)
def test_a_wrong_opening_is_answered_as_a_grant_that_does_not_exist(client: TestClient, forged: str) -> None:
    answer = get(client, GRANTEE, forged)
    assert answer.status_code == 404
    assert answer.json() == get(client, THIRD).json()  # as another firm is answered, and as no grant is


def test_another_firm_sees_nothing_even_with_the_grantees_own_terms(client: TestClient) -> None:
    """The key binds the grantee: the grantee's salt and purpose open it for the grantee's firm only."""
    assert get(client, THIRD).status_code == 404
    assert get(client, THIRD, opening(TERMS.salt, PURPOSE)).status_code == 404
    own = PrivateTerms(ASSET, GRANTOR, THIRD, PURPOSE, 1, 2, 0, bytes.fromhex("c3" * 32))  # forged for itself
    assert get(client, THIRD, opening(own.salt, own.purpose)).status_code == 404
    assert get(client, THIRD, path="/api/v1/grants").json()["grants"] == []


@pytest.mark.parametrize(
    "malformed",
    ["c3" * 32 + " " + PURPOSE, "0x" + "c3" * 31 + " " + PURPOSE, "0x" + "C3" * 32 + " " + PURPOSE,
     "0x" + "c3" * 32, "0x" + "c3" * 32 + " Credit", "0x" + "c3" * 32 + " " + "p" * 33],
)  # fmt: skip
def test_a_malformed_opening_is_a_clear_422(client: TestClient, malformed: str) -> None:
    answer = get(client, GRANTEE, malformed)
    assert answer.status_code == 422
    assert OPENING_HEADER in answer.text


def test_grantor_and_regulator_see_the_row_without_an_opening_and_outsiders_nothing(client: TestClient) -> None:
    for who in (GRANTOR, REGULATOR):
        answer = get(client, who)
        assert answer.status_code == 200 and answer.json()["grantee"] is None  # no call shows the grantee yet
        # an opening changes nothing for them: it names the person's own firm, not theirs
        assert get(client, who, opening(TERMS.salt, PURPOSE)).json()["grantee"] is None
    assert get(client, "no-member", opening(TERMS.salt, PURPOSE)).status_code == 401


def test_after_an_allowed_call_the_log_shows_the_grantee_without_an_opening(tmp_path: Path) -> None:
    call = event(
        caller_org=GRANTEE, provider_org=GRANTOR, asset_id=ASSET, grant_id="0x" + GRANT_ID.hex(),
        gateway_id=f"{GRANTOR}/gw-1", event_id="call-1",
    )  # fmt: skip
    stand_in = world(tmp_path, [call])
    with served(stand_in) as c:
        assert get(c, GRANTEE).json()["grantee"] == GRANTEE
        assert get(c, THIRD).status_code == 404


def test_calls_denied_under_the_grant_show_its_grantee_as_an_allowed_one_does(tmp_path: Path) -> None:
    """A grant revoked before its grantee's first call (the demo's news-flash grant to jinghua-sec): every call the
    log holds under it was refused ``grant_revoked``, naming the grant, as the grantor's gateway names it only when
    the key of its terms for the caller is the grant's. The grantee lists it and reads its page, without an
    opening, and the grantor and the regulator see who its grantee is. The third firm's own refusals (``no_grant``,
    naming no grant) and its calls at another provider that name the grant show it nothing."""
    grant = "0x" + GRANT_ID.hex()
    denied = {"decision": "deny", "status": 403, "response_digest": None, "asset_id": ASSET}
    calls = [
        event(caller_org=GRANTEE, provider_org=GRANTOR, grant_id=grant, denial_reason="grant_revoked",
              gateway_id=f"{GRANTOR}/gw-1", event_id="call-1", **denied),
        event(caller_org=THIRD, provider_org=GRANTOR, grant_id=None, denial_reason="no_grant",
              gateway_id=f"{GRANTOR}/gw-1", event_id="call-2", gateway_seq=2, **denied),
        event(caller_org=THIRD, provider_org=OPERATOR, grant_id=grant, denial_reason="grant_revoked",
              gateway_id=f"{OPERATOR}/gw-1", event_id="call-3", **denied),
    ]  # fmt: skip
    revoked = replace(private_grant(GRANT_ID, TERMS), revoked_at=1_790_000_050, revoke_reason=6)
    stand_in = world(tmp_path, calls)
    stand_in.state.snapshot = replace(stand_in.state.snapshot, private_grants=(revoked,))
    with served(stand_in) as c:
        assert listed(c, GRANTEE) == {grant: GRANTEE}
        page = get(c, GRANTEE)
        assert page.status_code == 200 and page.json()["grantee"] == GRANTEE
        assert page.json()["state"] == "revoked" and page.json()["purpose"] is None
        for who in (GRANTOR, REGULATOR):
            assert listed(c, who) == {grant: GRANTEE} and get(c, who).json()["grantee"] == GRANTEE
        for who in (THIRD, OPERATOR):
            assert listed(c, who) == {} and get(c, who).status_code == 404


# -- the grants list -------------------------------------------------------------------------------------------


@pytest.fixture
def three(tmp_path: Path) -> Iterator[TestClient]:
    """Three private grants of the grantor, none used yet: two to the grantee, one to the third firm."""
    stand_in = world(tmp_path, [], (private_grant(THIRDS_ID, THIRDS), private_grant(SECOND_ID, SECOND)))
    with served(stand_in) as c:
        yield c


def listed(client: TestClient, who: str, header: str | None = None, **params: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {who}"} | ({OPENING_HEADER: header} if header is not None else {})
    answer = client.get("/api/v1/grants", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["grants"]
    for row in rows:  # never a term: the explorer holds none
        assert row["private"] and (row["purpose"], row["not_before"], row["expires_at"], row["quota"]) == (None,) * 4
    return {row["grant_id"]: row["grantee"] for row in rows}


def gid(grant_id: bytes) -> str:
    return "0x" + grant_id.hex()


ALL = ", ".join(opening(t.salt, t.purpose) for t in (TERMS, THIRDS, SECOND))


def test_the_grantee_lists_its_private_grants_once_it_opens_them_with_its_terms(three: TestClient) -> None:
    """No call under any grant yet: the grantee's list holds the grants its openings open for its firm, with
    ``grantee`` its firm and no terms, and not the other firm's grant, whose opening it sends too."""
    assert listed(three, GRANTEE) == {}
    assert listed(three, GRANTEE, opening(TERMS.salt, PURPOSE)) == {gid(GRANT_ID): GRANTEE}
    assert listed(three, GRANTEE, ALL) == {gid(GRANT_ID): GRANTEE, gid(SECOND_ID): GRANTEE}
    assert listed(three, GRANTEE, ALL, grantee=GRANTEE) == {gid(GRANT_ID): GRANTEE, gid(SECOND_ID): GRANTEE}
    assert listed(three, GRANTEE, ALL, grantee=THIRD) == {}
    assert listed(three, GRANTEE, ALL, state="private", grantor=GRANTOR) == {
        gid(GRANT_ID): GRANTEE,
        gid(SECOND_ID): GRANTEE,
    }
    answer = three.get("/api/v1/grants", headers={"Authorization": f"Bearer {GRANTEE}", OPENING_HEADER: ALL})
    for t in (TERMS, THIRDS, SECOND):
        assert t.salt.hex() not in answer.text and t.purpose not in answer.text
    assert listed(three, GRANTEE) == {}  # not remembered: each request proves it again


def test_the_third_firm_lists_only_its_own_and_the_grantees_openings_open_nothing_for_it(three: TestClient) -> None:
    assert listed(three, THIRD, opening(TERMS.salt, PURPOSE)) == {}
    assert listed(three, THIRD, ALL) == {gid(THIRDS_ID): THIRD}
    forged = PrivateTerms(ASSET, GRANTOR, THIRD, PURPOSE, 1, 2, 0, TERMS.salt)  # the grantee's salt, for itself
    assert listed(three, THIRD, opening(forged.salt, forged.purpose)) == {}


@pytest.mark.parametrize("who", [GRANTOR, REGULATOR])
def test_grantor_and_regulator_list_every_private_grant_without_a_grantee_until_the_log_shows_it(
    three: TestClient, who: str
) -> None:
    rows = {gid(GRANT_ID): None, gid(THIRDS_ID): None, gid(SECOND_ID): None}
    assert listed(three, who) == rows
    assert listed(three, who, ALL) == rows  # an opening names the person's own firm, not the grantee


def test_the_operator_lists_nothing_with_or_without_openings_and_an_outsider_is_refused(three: TestClient) -> None:
    assert listed(three, OPERATOR) == {}
    assert listed(three, OPERATOR, ALL) == {}
    answer = three.get("/api/v1/grants", headers={"Authorization": "Bearer no-member", OPENING_HEADER: ALL})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "malformed",
    [
        opening(TERMS.salt, PURPOSE) + ",",
        opening(TERMS.salt, PURPOSE) + "," + opening(SECOND.salt, SECOND.purpose),  # the separator is ", "
        opening(TERMS.salt, PURPOSE) + ", " + "0x" + "e5" * 31 + " research",
        ", ".join([opening(TERMS.salt, PURPOSE)] * 65),  # more than MAX_OPENINGS
    ],
    ids=["trailing-comma", "no-space", "short-salt", "too-many"],
)
def test_a_malformed_list_of_openings_is_a_clear_422(three: TestClient, malformed: str) -> None:
    answer = three.get("/api/v1/grants", headers={"Authorization": f"Bearer {GRANTEE}", OPENING_HEADER: malformed})
    assert answer.status_code == 422 and OPENING_HEADER in answer.text
    assert TERMS.salt.hex() not in answer.text  # the refusal does not echo the salts back


def test_sixty_four_openings_are_read() -> None:
    from explorer.api.grants import MAX_OPENINGS, OPENINGS

    assert MAX_OPENINGS == 64
    assert re.fullmatch(OPENINGS, ", ".join([opening(TERMS.salt, PURPOSE)] * 64))
    assert not re.fullmatch(OPENINGS, ", ".join([opening(TERMS.salt, PURPOSE)] * 65))


# -- an asset's detail -----------------------------------------------------------------------------------------

ASSET_URL = f"/api/v1/assets/{ASSET}"


@pytest.fixture(params=[3, 1], ids=["private-asset", "public-asset"])
def assets(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """The three private grants of :func:`three`, on an asset that is private (classification 3) or public."""
    more = (private_grant(THIRDS_ID, THIRDS), private_grant(SECOND_ID, SECOND))
    stand_in = world(tmp_path, [], more, classification=request.param)
    with served(stand_in) as c:
        c.private_asset = request.param >= 3
        yield c


def asset_grants(client: TestClient, who: str, header: str | None = None) -> dict[str, Any] | None:
    """The private grants of the asset's detail as ``who`` with ``header``: grant id to grantee; None for a 404."""
    headers = {"Authorization": f"Bearer {who}"} | ({OPENING_HEADER: header} if header is not None else {})
    answer = client.get(ASSET_URL, headers=headers)
    if answer.status_code == 404:
        missing = client.get("/api/v1/assets/no-such-asset", headers=headers)
        assert missing.status_code == 404  # answered as an asset that does not exist
        assert answer.json()["error"] == missing.json()["error"].replace("no-such-asset", ASSET)
        return None
    assert answer.status_code == 200, answer.text
    rows = [g for g in answer.json()["grants"] if g["private"]]
    for row in rows:  # never a term: the explorer holds none
        assert (row["purpose"], row["not_before"], row["expires_at"], row["quota"]) == (None,) * 4
    for t in (TERMS, THIRDS, SECOND):
        assert t.salt.hex() not in answer.text
    return {row["grant_id"]: row["grantee"] for row in rows}


def test_the_grantee_sees_its_private_grants_under_the_asset_once_it_opens_them(assets: TestClient) -> None:
    """Before any call, the grantee's openings show its grants (not the other firm's, whose opening it sends
    too) and, for a private asset, open the asset's detail itself; without them a private asset is a 404."""
    private = assets.private_asset
    assert asset_grants(assets, GRANTEE) == (None if private else {})
    assert asset_grants(assets, GRANTEE, opening(TERMS.salt, PURPOSE)) == {gid(GRANT_ID): GRANTEE}
    assert asset_grants(assets, GRANTEE, ALL) == {gid(GRANT_ID): GRANTEE, gid(SECOND_ID): GRANTEE}
    assert asset_grants(assets, GRANTEE) == (None if private else {})  # not remembered


@pytest.mark.parametrize(
    "forged",
    [
        opening(bytes.fromhex("c4" + "c3" * 31), PURPOSE),
        opening(TERMS.salt, "equity-research"),
        opening(TERMS.salt, PURPOSE) + ", " + opening(SECOND.salt, PURPOSE),  # SECOND's salt, TERMS' purpose
    ],
    ids=["wrong-salt", "wrong-purpose", "crossed"],
)
def test_a_forged_opening_opens_nothing_under_the_asset(assets: TestClient, forged: str) -> None:
    expected = {gid(GRANT_ID): GRANTEE} if opening(TERMS.salt, PURPOSE) in forged else None
    if expected is None and not assets.private_asset:
        expected = {}
    assert asset_grants(assets, GRANTEE, forged) == expected


def test_another_firm_sees_its_own_grant_only_and_the_grantees_openings_open_nothing_for_it(
    assets: TestClient,
) -> None:
    private = assets.private_asset
    grantees = opening(TERMS.salt, PURPOSE) + ", " + opening(SECOND.salt, SECOND.purpose)
    assert asset_grants(assets, THIRD, grantees) == (None if private else {})  # absent, not 403
    assert asset_grants(assets, THIRD, ALL) == {gid(THIRDS_ID): THIRD}  # its own opening among the grantee's
    forged = PrivateTerms(ASSET, GRANTOR, THIRD, PURPOSE, 1, 2, 0, TERMS.salt)  # the grantee's salt, for itself
    assert asset_grants(assets, THIRD, opening(forged.salt, forged.purpose)) == (None if private else {})


def test_the_operator_sees_nothing_under_the_asset_and_an_outsider_is_refused(assets: TestClient) -> None:
    private = assets.private_asset
    assert asset_grants(assets, OPERATOR) == (None if private else {})
    assert asset_grants(assets, OPERATOR, ALL) == (None if private else {})
    answer = assets.get(ASSET_URL, headers={"Authorization": "Bearer no-member", OPENING_HEADER: ALL})
    assert answer.status_code == 401 and TERMS.salt.hex() not in answer.text


@pytest.mark.parametrize("who", [GRANTOR, REGULATOR])
def test_grantor_and_regulator_see_every_private_grant_under_the_asset(assets: TestClient, who: str) -> None:
    rows = {gid(GRANT_ID): None, gid(THIRDS_ID): None, gid(SECOND_ID): None}
    assert asset_grants(assets, who) == rows
    assert asset_grants(assets, who, ALL) == rows  # an opening names the person's own firm, not the grantee


@pytest.mark.parametrize("who", [GRANTEE, THIRD, OPERATOR, GRANTOR, REGULATOR])
@pytest.mark.parametrize("header", [None, opening(TERMS.salt, PURPOSE), ALL], ids=["none", "one", "all"])
def test_the_asset_shows_the_private_rows_the_grants_list_shows(assets: TestClient, who: str, header: str) -> None:
    """One rule: the asset's private grants are the list's rows for that asset, row for row, for every reader
    and header (where the asset's detail is shown at all)."""
    headers = {"Authorization": f"Bearer {who}"} | ({OPENING_HEADER: header} if header is not None else {})
    detail = assets.get(ASSET_URL, headers=headers)
    listed_rows = assets.get("/api/v1/grants", params={"asset": ASSET}, headers=headers).json()["grants"]
    if detail.status_code == 404:
        assert assets.private_asset and listed_rows == []
        return
    assert [g for g in detail.json()["grants"] if g["private"]] == listed_rows


@pytest.mark.parametrize(
    "malformed",
    [
        opening(TERMS.salt, PURPOSE) + ",",
        opening(TERMS.salt, PURPOSE) + "," + opening(SECOND.salt, SECOND.purpose),
        "0x" + TERMS.salt.hex().upper() + " " + PURPOSE,
        ", ".join([opening(TERMS.salt, PURPOSE)] * 65),
    ],
    ids=["trailing-comma", "no-space", "upper-case", "too-many"],
)
def test_a_malformed_opening_of_an_asset_is_a_clear_422_that_echoes_no_salt(assets: TestClient, malformed: str) -> None:
    answer = assets.get(ASSET_URL, headers={"Authorization": f"Bearer {GRANTEE}", OPENING_HEADER: malformed})
    assert answer.status_code == 422 and OPENING_HEADER in answer.text
    assert TERMS.salt.hex() not in answer.text.lower() and SECOND.salt.hex() not in answer.text.lower()
