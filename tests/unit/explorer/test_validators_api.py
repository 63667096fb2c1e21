"""``GET /api/v1/validators`` in process (FastAPI's test client, no socket): the app of ``explorer.api`` around a
real chain index filled with synthetic sealed blocks, behind the gatekeeper with a stand-in login. The answer is
what ``explorer.validators.activity`` derives, with each validator named by the member holding its account; the
window is bounded and every refusal is the API's error body; the login is asked for as on the blocks; blocks
indexed before the proposer was recorded are still served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from explorer.api import Explorer, Limits, create_app
from explorer.api.schemas import ValidatorActivity
from explorer.chainindex import ChainIndex
from explorer.validators import MAX_WINDOW, activity
from network.logins import LoginError, Person
from tests.support.validator_blocks import ORGS, A, B, C, D, chain

TOKEN = "good"
REGISTRY = "ConsortiumRegistry"
#: Blocks 1..12, decided in these rounds; block 6 drops D from the set, block 9 brings it back; blocks 1 and 2
#: were indexed before the proposer was recorded.
ROUNDS = [0, 0, 1, 0, 0, 2, 0, 0, 0, 3, 0, 0]
SETS = {6: [A, B, C], 9: [A, B, C, D]}


class StandInLogins:
    """Lets in the one token ``TOKEN``, as a compliance officer of ``alpha``."""

    def authenticate(self, authorization: str | None) -> Person:
        if not authorization:
            raise LoginError("no_credentials", "no credentials")
        if authorization != f"Bearer {TOKEN}":
            raise LoginError("invalid_token", "not a token of ours")
        return Person(org="alpha", name="p", role="compliance", identity="ab" * 32, display_name="p", expires_ms=0)


def fill(index: ChainIndex, rows: list[dict[str, Any]]) -> None:
    """Index ``rows`` (newest first, as listed), oldest first; block 1 adds the four members' accounts."""
    for r in reversed(rows):
        txs: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        if r["number"] == 1:
            for i, (account, org) in enumerate(ORGS.items()):
                tx_hash = f"0x{i + 1:064x}"
                args = {"org": org, "account": account}
                txs.append({"hash": tx_hash, "index": i, "from": account, "to": None, "contract": REGISTRY,
                            "function": "add_account", "args": args, "status": 1})  # fmt: skip
                events.append({"tx_hash": tx_hash, "log_index": i, "contract": REGISTRY, "event": "AccountAdded",
                               "args": args})  # fmt: skip
        index.add_block({**r, "parent_hash": "0x" + "00" * 32}, txs, events)


def client_of(index: ChainIndex) -> TestClient:
    stand_in = SimpleNamespace(
        auth=StandInLogins(), recorder=None, limits=Limits(), chain=index, state=SimpleNamespace(snapshot=None)
    )
    return TestClient(create_app(cast(Explorer, stand_in)), headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return chain(ROUNDS, SETS, recorded_from=3)


@pytest.fixture(scope="module")
def client(rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    index = ChainIndex(tmp_path_factory.mktemp("validators-api") / "chain.db")
    fill(index, rows)
    with client_of(index) as client:
        yield client
    index.close()


def test_the_answer_is_the_activity_derived_from_the_indexed_blocks(
    client: TestClient, rows: list[dict[str, Any]]
) -> None:
    answer = client.get("/api/v1/validators")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == activity(rows, 1000, ORGS.get)
    assert list(body) == list(ValidatorActivity.model_fields)  # every key, none left out, none added
    assert (body["head"], body["window"], body["first"]) == (12, 1000, 0)
    assert [(v["address"], v["org"], v["current"]) for v in body["validators"]] == [
        (A, "alpha", True), (B, "beta", True), (C, "gamma", True), (D, "delta", True),
    ]  # fmt: skip
    assert sum(v["proposed"] for v in body["validators"]) == 10 and body["unknown_proposer"] == 2
    assert [(r["number"], r["round"]) for r in body["round_changes"]] == [(10, 3), (6, 2), (3, 1)]
    assert body["round_changes_total"] == 3 and body["unknown_missed"] == 1  # block 3's parent has no proposer
    assert all(r["missed"] for r in body["round_changes"] if r["number"] != 3)
    assert [(s["number"], s["added"], s["removed"]) for s in body["set_changes"]] == [
        (9, [{"address": D, "org": "delta"}], []),
        (6, [], [{"address": D, "org": "delta"}]),
    ]


def test_the_window_counts_the_newest_blocks(client: TestClient, rows: list[dict[str, Any]]) -> None:
    body = client.get("/api/v1/validators", params={"window": 5}).json()
    assert (body["head"], body["window"], body["first"]) == (12, 5, 8)
    assert body == activity(rows[:6], 5, ORGS.get)
    assert [r["number"] for r in body["round_changes"]] == [10]
    assert [s["number"] for s in body["set_changes"]] == [9]
    one = client.get("/api/v1/validators", params={"window": 1}).json()
    assert one["first"] == 12 and sum(v["proposed"] for v in one["validators"]) == 1
    widest = client.get("/api/v1/validators", params={"window": MAX_WINDOW})
    assert widest.status_code == 200 and widest.json()["first"] == 0


@pytest.mark.parametrize("window", ["0", "-1", str(MAX_WINDOW + 1), str(2**64), "abc", "1.5", "1e3", ""])
def test_a_window_out_of_bounds_or_not_a_number_is_refused(client: TestClient, window: str) -> None:
    answer = client.get("/api/v1/validators", params={"window": window})
    assert answer.status_code == 422, (window, answer.text)
    body = answer.json()
    assert body["error"] == "invalid_parameter" and body["detail"].startswith("query.window: ")
    assert body["errors"][0]["loc"] == ["query", "window"]


@pytest.mark.parametrize("authorization", [None, "Bearer someone-else", "Basic abc"])
def test_the_validators_need_a_login_as_the_blocks_do(client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization or ""}
    for path in ("/api/v1/validators", "/api/v1/blocks"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error"] in ("no_credentials", "invalid_token")
    assert client.get("/api/v1/blocks").status_code == client.get("/api/v1/validators").status_code == 200


def test_nothing_but_get_is_answered(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE"):
        answer = client.request(method, "/api/v1/validators")
        assert answer.status_code == 405 and answer.headers["allow"] == "GET", (method, answer.text)
        assert answer.json()["error"] == "method_not_allowed"


def test_blocks_indexed_before_the_proposer_was_recorded_are_still_served(client: TestClient) -> None:
    old = client.get("/api/v1/blocks/2").json()["seals"]
    new = client.get("/api/v1/blocks/3").json()["seals"]
    assert "proposer" not in old and old["validators"] == [A, B, C, D]
    assert new["proposer"] == {"address": new["proposer"]["address"], "org": ORGS[new["proposer"]["address"]]}
    listed = {b["number"]: b["seals"] for b in client.get("/api/v1/blocks", params={"limit": 20}).json()["blocks"]}
    assert "proposer" not in listed[1] and "proposer" in listed[12]


def test_an_empty_index_has_no_validators(tmp_path: Path) -> None:
    index = ChainIndex(tmp_path / "chain.db")
    try:
        with client_of(index) as client:
            body = client.get("/api/v1/validators").json()
    finally:
        index.close()
    assert body == {
        "head": -1, "window": 1000, "first": None, "validators": [], "unknown_proposer": 0, "unknown_missed": 0,
        "round_changes": [], "round_changes_total": 0, "set_changes": [], "set_changes_total": 0,
    }  # fmt: skip
