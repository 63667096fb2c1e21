"""A private grant's grantee sees the grant's row on its page before its first allowed call, by opening the
grant's key with its own terms (``explorer.api.grants.opens_key``, the ``consortium-grant-opening`` header), in
process: FastAPI's test client over a real call index and chain index and a real contracts snapshot. Tried as the
grantee, the grantor, another firm (with its own forged opening and with the grantee's), the regulator and an
outsider, and with malformed and wrong openings (docs/explorer.md, "Private grants in the explorer")."""

from __future__ import annotations

from collections.abc import Iterator
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
ASSET = "risk-scores"
PURPOSE = "credit-risk"
GRANT_ID = bytes.fromhex("5a" * 32)
URL = "/api/v1/grants/0x" + GRANT_ID.hex()

TERMS = PrivateTerms(ASSET, GRANTOR, GRANTEE, PURPOSE, 1_790_000_000, 1_800_000_000, 1000, bytes.fromhex("c3" * 32))
LOGINS = OrgTokenLogins(GRANTOR, GRANTEE, THIRD, REGULATOR)


def opening(salt: bytes, purpose: str) -> str:
    return f"0x{salt.hex()} {purpose}"


def world(tmp_path: Path, calls: list[dict[str, Any]]) -> Any:
    asset = AssetInfo(
        asset=AssetId(ASSET), owner=OrgId(GRANTOR), kind=AssetKind.DATASET, classification=3, version_count=1,
        pending_owner=None, registered_at=1_789_000_000, retired=False, transfers=0,
    )  # fmt: skip
    grant = PrivateGrantInfo(
        grant_id=GRANT_ID, asset=AssetId(ASSET), grantor=OrgId(GRANTOR), key=TERMS.key, commitment=TERMS.commitment,
        created_at=1_790_000_000, revoked_at=0, revoke_reason=0, owner_epoch=0,
    )  # fmt: skip
    index = CallIndex(tmp_path / "calls.db")
    if calls:
        index.add_entries(0, [canonical_entry(c) for c in calls])
    chain = ChainIndex(tmp_path / "chain.db")
    snapshot = Snapshot(block=7, block_time=1_790_000_100, assets=(asset,), private_grants=(grant,))
    return SimpleNamespace(
        auth=LOGINS, recorder=None, limits=Limits(), directory=tmp_path, calls=index, chain=chain,
        state=SimpleNamespace(snapshot=snapshot), visibility=QueryVisibility(frozenset({REGULATOR})),
    )  # fmt: skip


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    stand_in = world(tmp_path, [])  # no call under the grant yet
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            yield c
    finally:
        stand_in.calls.close()
        stand_in.chain.close()


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
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as c:
            assert get(c, GRANTEE).json()["grantee"] == GRANTEE
            assert get(c, THIRD).status_code == 404
    finally:
        stand_in.calls.close()
        stand_in.chain.close()
