"""The explorer's API against a running demo consortium: the access matrix (own firm, other firm, regulator, no
credentials, expired credentials), pagination caps and cursors, malformed input, limits, exports, and the audit
of the auditors' own queries. Everything runs for real: ``consortium up`` with demo traffic, on loopback."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from network.identity import user_paths
from network.logins import make_token
from tests.integration.live.consortium import PASSPHRASE, REGULATOR, Live, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cast(live: Live) -> dict[str, Any]:
    """A call between two firms A → B, and the people of A, of an uninvolved firm C, and the regulator."""
    rows = live.get(live.regulator(), "/api/v1/calls", limit=200, decision="allow").json()["calls"]
    rows = [r for r in rows if r["center"] != "explorer" and r["grant_id"]]
    assert rows, "no allowed demo call yet"
    call = rows[-1]
    orgs = {t.split("@")[1] for t in live.tokens if t.startswith("compliance@")}
    other = sorted(orgs - {call["caller_org"], call["provider_org"], REGULATOR})[0]
    return {
        "call": call,
        "own": f"compliance@{call['caller_org']}",
        "provider": f"compliance@{call['provider_org']}",
        "other": f"compliance@{other}",
        "other_org": other,
        "regulator": live.regulator(),
    }


def expired_token(live: Live, who: str) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    name, org = who.split("@")
    paths = user_paths(live.directory, org, name)  # type: ignore[arg-type]
    key = load_pem_private_key(paths.key.read_bytes(), PASSPHRASE.encode())
    then = datetime.now(UTC) - timedelta(hours=3)
    return make_token(paths.cert.read_bytes(), key, hours=1, now=then)  # type: ignore[arg-type]


def status(live: Live, token: str | None, path: str, method: str = "GET", **params: Any) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live.url, timeout=30.0) as client:
        return client.request(method, path, params=params, headers=headers).status_code


def private_paths(cast: dict[str, Any]) -> list[str]:
    call = cast["call"]
    return [
        f"/api/v1/calls/{call['event_id']}",
        f"/api/v1/calls/{call['event_id']}/provenance",
        f"/api/v1/calls/{call['event_id']}/evidence",
        f"/api/v1/grants/{call['grant_id']}",
    ]


SHARED = [
    "/api/v1/me",
    "/api/v1/keys",
    "/api/v1/members",
    "/api/v1/witnesses",
    "/api/v1/assets",
    "/api/v1/services",
    "/api/v1/grants",
    "/api/v1/calls",
    "/api/v1/blocks",
    "/api/v1/blocks/1",
    "/api/v1/validators",
    "/api/v1/validators/equivocations",
    "/api/v1/checkpoints",
    "/api/v1/anchors",
    "/api/v1/gaps",
    "/api/v1/health",
    "/api/v1/alarms",
    "/api/v1/alarms/records",
    "/api/v1/queries",
    "/api/v1/dashboard",
    "/api/v1/exports/calls.csv",
    "/api/v1/exports/calls.json",
]


def test_access_matrix_for_a_firms_own_objects(live: Live, cast: dict[str, Any]) -> None:
    expired = expired_token(live, cast["own"])
    for path in private_paths(cast):
        assert live.get(cast["own"], path).status_code == 200, path
        assert live.get(cast["provider"], path).status_code == 200, path
        assert live.get(cast["regulator"], path).status_code == 200, path
        other = live.get(cast["other"], path)
        assert other.status_code == 404 and other.json()["error"] == "not_found", path
        assert status(live, None, path) == 401, path
        answer = httpx.get(live.url + path, headers={"Authorization": f"Bearer {expired}"})
        assert answer.status_code == 401 and answer.json()["error"] == "credentials_expired", path


def test_another_firms_objects_look_exactly_like_missing_ones(live: Live, cast: dict[str, Any]) -> None:
    call = cast["call"]
    hidden = live.get(cast["other"], f"/api/v1/calls/{call['event_id']}")
    missing = live.get(cast["other"], "/api/v1/calls/no-such-call-at-all")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"] == missing.json()["error"] == "not_found"
    assert set(hidden.headers) - {"consortium-event-id", "date", "content-length"} == set(missing.headers) - {
        "consortium-event-id", "date", "content-length",
    }  # fmt: skip


def test_shared_endpoints_need_credentials_and_answer_everyone(live: Live, cast: dict[str, Any]) -> None:
    expired = expired_token(live, cast["other"])
    for path in SHARED:
        for who in ("own", "other", "regulator"):
            assert live.get(cast[who], path).status_code == 200, (who, path)
        assert status(live, None, path) == 401, path
        assert status(live, expired, path) == 401, path


def test_reports_are_for_the_own_firm_or_the_regulator(live: Live, cast: dict[str, Any]) -> None:
    org = cast["call"]["caller_org"]
    window = {"from": 0, "to": 2**52}
    for fmt in ("html", "csv", "json"):
        assert live.get(cast["own"], f"/api/v1/reports/{org}", format=fmt, **window).status_code == 200
        assert live.get(cast["regulator"], f"/api/v1/reports/{org}", format=fmt, **window).status_code == 200
        assert live.get(cast["other"], f"/api/v1/reports/{org}", format=fmt, **window).status_code == 404
    report = live.get(cast["own"], f"/api/v1/reports/{org}", format="json", **window).json()
    assert report["org"] == org and report["calls"]
    page = live.get(cast["own"], f"/api/v1/reports/{org}", format="html", **window)
    assert page.headers["content-type"].startswith("text/html") and "<script" not in page.text


def test_nobody_can_write_and_the_regulator_gets_405(live: Live, cast: dict[str, Any]) -> None:
    """No route takes a write method: each is a 405 naming the one method there is, after the login check."""
    for method in ("POST", "PUT", "PATCH", "DELETE", "TRACE"):
        for path in ("/api/v1/calls", f"/api/v1/grants/{cast['call']['grant_id']}", "/api/v1/members"):
            for who in ("regulator", "own"):
                with httpx.Client(base_url=live.url, timeout=30.0) as client:
                    answer = client.request(method, path, headers={"Authorization": f"Bearer {live.tokens[cast[who]]}"})
                assert answer.status_code == 405 and answer.headers["allow"] == "GET", (method, path, who)
                assert answer.json()["error"] == "method_not_allowed", (method, path, who)
            assert status(live, None, path, method) == 401, (method, path)


def test_a_member_search_never_returns_another_firms_call(live: Live, cast: dict[str, Any]) -> None:
    org = cast["other_org"]
    for params in ({}, {"caller": cast["call"]["caller_org"]}, {"provider": cast["call"]["provider_org"]},
                   {"grant": cast["call"]["grant_id"]}, {"decision": "deny"}):  # fmt: skip
        rows = live.get(cast["other"], "/api/v1/calls", limit=200, **params).json()["calls"]
        assert all(org in (r["caller_org"], r["provider_org"]) for r in rows), params
    grants = live.get(cast["other"], "/api/v1/grants").json()["grants"]
    assert all(org in (g["grantor"], g["grantee"]) for g in grants)
    exported = live.get(cast["other"], "/api/v1/exports/calls.csv").text
    assert all(org in (r["caller_org"], r["provider_org"]) for r in csv.DictReader(io.StringIO(exported)))


def test_pagination_is_capped_and_cursors_cover_each_row_once(live: Live, cast: dict[str, Any]) -> None:
    who = cast["regulator"]
    assert live.get(who, "/api/v1/calls", limit=201).status_code == 422
    assert live.get(who, "/api/v1/calls", limit=0).status_code == 422
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7, "provider": cast["call"]["provider_org"]}
        if cursor:
            params["cursor"] = cursor
        page = live.get(who, "/api/v1/calls", **params).json()
        assert len(page["calls"]) <= 7
        seen += [r["index"] for r in page["calls"]]
        cursor = page["next"]
        if cursor is None or len(seen) > 60:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    first = live.get(who, "/api/v1/calls", limit=3).json()
    assert first["next"]
    reused = live.get(who, "/api/v1/calls", limit=3, caller=cast["call"]["caller_org"], cursor=first["next"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_cursor"
    assert live.get(who, "/api/v1/calls", cursor="garbage!").status_code == 422
    assert live.get(who, "/api/v1/calls", cursor="Z2FyYmFnZQ").status_code == 400


INJECTIONS = [
    "../../etc/passwd",
    "x' OR '1'='1",
    "a\r\nX-Forged: 1",
    "nul\x00byte",
    "\u202egnp.exe",
    "%",
    "😀",
    "A" * 300,
]


def test_malformed_parameters_are_4xx_never_5xx(live: Live, cast: dict[str, Any]) -> None:
    who = cast["regulator"]
    for name in ("caller", "provider", "service", "center", "asset", "grant", "decision", "denial_reason", "trace",
                 "status", "from", "to", "limit", "cursor"):  # fmt: skip
        for value in INJECTIONS:
            answer = live.get(who, "/api/v1/calls", **{name: value})
            assert 400 <= answer.status_code < 500, (name, value)
        for value in ("-1", str(2**64), "1e3", ""):  # some are valid names (digits), never a server error
            assert live.get(who, "/api/v1/calls", **{name: value}).status_code < 500, (name, value)
    for path in ("/api/v1/calls/..%2F..%2Fetc", "/api/v1/calls/%00", "/api/v1/grants/0xZZ", "/api/v1/blocks/-1",
                 f"/api/v1/blocks/{2**64}", "/api/v1/transactions/0x12", "/api/v1/assets/%E2%80%AE"):  # fmt: skip
        answer = live.get(who, path)
        assert 400 <= answer.status_code < 500, path
    answer = live.get(who, "/api/v1/calls", **{"from": 10, "to": 5})
    assert answer.status_code == 422


def test_the_validators_over_a_window_of_the_newest_blocks(live: Live, cast: dict[str, Any]) -> None:
    who = cast["other"]
    answer = live.get(who, "/api/v1/validators", window=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    head, first = body["head"], body["first"]
    assert body["window"] == 10 and head > 0 and first == max(0, head - 9)
    current = [v for v in body["validators"] if v["current"]]
    assert current and all(v["address"].startswith("0x") for v in current)
    # every block counted but block 0 has a proposer, known or not
    assert sum(v["proposed"] for v in body["validators"]) + body["unknown_proposer"] == head - max(first, 1) + 1
    assert all(body["first"] <= r["number"] <= body["head"] for r in body["round_changes"])
    assert live.get(who, "/api/v1/validators").json()["window"] == 1000
    for value in ("0", "-1", "10001", "ten", ""):
        refused = live.get(who, "/api/v1/validators", window=value)
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_parameter", value


def test_a_body_over_the_limit_is_refused_before_it_is_read(live: Live, cast: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {live.tokens[cast['own']]}", "Content-Length": str(2**64)}
    with httpx.Client(base_url=live.url) as client:
        assert (
            client.post("/api/v1/calls", content=b"{}", headers={**headers, "Content-Length": "2"}).status_code == 405
        )
        big = client.post(
            "/api/v1/calls", content=b"x" * (65 * 1024), headers={"Authorization": headers["Authorization"]}
        )
        assert big.status_code == 413


def test_exports_carry_leaf_index_hash_and_checkpoint(live: Live, cast: dict[str, Any]) -> None:
    who = cast["own"]
    rows = list(csv.DictReader(io.StringIO(live.get(who, "/api/v1/exports/calls.csv").text)))
    assert rows and all(r["index"] and r["leaf_hash"] for r in rows)
    # with traffic running, the newest calls may be logged after the last checkpoint: those, and only those,
    # have no covering checkpoint yet (the rows are in log order)
    covered = [r for r in rows if r["checkpoint_size"]]
    assert covered and rows[: len(covered)] == covered, "a call without a checkpoint before one with it"
    assert all(int(r["checkpoint_size"]) > int(r["index"]) for r in covered)
    as_json = live.get(who, "/api/v1/exports/calls.json").json()
    assert {r["event_id"] for r in as_json} >= {r["event_id"] for r in rows}
    archive = zipfile.ZipFile(io.BytesIO(live.get(who, "/api/v1/exports/evidence.zip", limit=5).content))
    names = archive.namelist()
    assert "consortium-keys.json" in names and len(names) == 6
    bundle = json.loads(archive.read(names[1]))
    assert bundle["format"] == "consortium-ledger/evidence/v2"


def test_provenance_links_are_all_verified_once_anchored(live: Live, cast: dict[str, Any]) -> None:
    path = f"/api/v1/calls/{cast['call']['event_id']}/provenance"

    def anchored() -> dict[str, Any] | None:
        answer = live.get(cast["own"], path).json()
        return answer if answer["verified"] else None

    answer = wait_until(anchored, 60, "the call's checkpoint to be anchored")
    steps = {s["step"]: s["ok"] for s in answer["steps"]}
    assert list(steps) == ["call", "grant", "asset_version", "entry", "inclusion", "checkpoint", "cosignatures",
                           "anchor", "block"]  # fmt: skip
    links = ("call", "entry", "inclusion", "checkpoint", "cosignatures", "anchor", "block")
    assert all(steps[s] is True for s in links), answer["steps"]
    # the anchor's block and the set that sealed it proven from the founding validators (docs/trust.md)
    block = next(s["detail"] for s in answer["steps"] if s["step"] == "block")
    assert "proven from the" in block and "through the node" in block, block
    # The grant and asset links are True, or None when chain time and the gateway's clock cannot order them.
    assert steps["grant"] is not False and steps["asset_version"] is not False, answer["steps"]


def test_every_query_of_an_auditor_is_itself_in_the_log(live: Live, cast: dict[str, Any]) -> None:
    answer = live.get(cast["regulator"], "/api/v1/calls", caller=cast["call"]["caller_org"], limit=1)
    event_id = answer.headers["consortium-event-id"]
    denied = live.get(cast["other"], f"/api/v1/calls/{cast['call']['event_id']}")
    denied_id = denied.headers["consortium-event-id"]

    def logged(eid: str) -> dict[str, Any] | None:
        regulator = {"Authorization": f"Bearer {live.tokens[live.regulator()]}"}  # the notary authenticates reads
        found = httpx.get(f"{live.notary}/v1/entries/{eid}", headers=regulator)
        return found.json()["event"] if found.status_code == 200 else None

    event = wait_until(lambda: logged(event_id), 30, "the regulator's query in the notary's log")
    assert event["caller_org"] == REGULATOR and event["api"] == "calls.search" and event["decision"] == "allow"
    probe = wait_until(lambda: logged(denied_id), 30, "the refused query in the log")
    assert probe["caller_org"] == cast["other_org"] and probe["denial_reason"] == "not_found"
    shown = wait_until(
        lambda: live.get(cast["regulator"], f"/api/v1/calls/{event_id}").status_code == 200,
        30,
        "the query in the index",
    )
    assert shown


def test_a_noisy_firm_is_rate_limited_without_slowing_another(live: Live, cast: dict[str, Any]) -> None:
    """The bucket holds 100 requests and refills at 50 a second, so how many requests it takes to empty it
    depends on how fast this machine sends them: the noisy firm sends until it is refused (at most 3,000)."""
    refused = None
    with live.client(cast["other"]) as noisy, live.client(cast["own"]) as quiet:
        for _ in range(3000):
            answer = noisy.get("/api/v1/me")
            if answer.status_code == 429:
                refused = answer
                break
            assert answer.status_code == 200
        assert refused is not None, "3,000 requests in a row were all admitted"
        assert int(refused.headers["retry-after"]) >= 1
        assert quiet.get("/api/v1/me").status_code == 200


def test_openapi_describes_the_api(live: Live) -> None:
    # the first request builds the document (every route's models turned into JSON Schema): seconds of CPU on a
    # loaded machine, past httpx's default 5 s, within the 30 s of Live's client
    spec = live.get(None, "/openapi.json").json()
    assert "/api/v1/calls/{event_id}/provenance" in spec["paths"]


def test_a_query_is_seen_by_its_firm_and_the_regulator_not_by_the_operator(live: Live, cast: dict[str, Any]) -> None:
    """The explorer's records of people's queries name the operator as provider; the operator's compliance
    officer still cannot list or open the regulator's queries or another firm's, as if they did not exist."""
    probe = live.get(cast["regulator"], "/api/v1/calls", center="explorer", limit=1).json()["calls"]
    operator = probe[0]["gateway_id"].split("/")[0]
    firm = next(
        o for o in (cast["other_org"], cast["call"]["caller_org"], cast["call"]["provider_org"]) if o != operator
    )
    watcher, querier = f"compliance@{operator}", f"compliance@{firm}"
    assert watcher in live.tokens and querier in live.tokens and REGULATOR not in (operator, firm)
    by_regulator = live.get(cast["regulator"], "/api/v1/calls", caller=firm, limit=1).headers["consortium-event-id"]
    by_firm = live.get(querier, "/api/v1/calls", limit=1).headers["consortium-event-id"]

    def indexed() -> bool:
        return all(
            live.get(cast["regulator"], f"/api/v1/calls/{e}").status_code == 200 for e in (by_regulator, by_firm)
        )

    wait_until(indexed, 30, "both queries in the index")
    missing = live.get(watcher, "/api/v1/calls/no-such-event")
    assert missing.status_code == 404
    for eid in (by_regulator, by_firm):
        for path in (f"/api/v1/calls/{eid}", f"/api/v1/calls/{eid}/provenance", f"/api/v1/calls/{eid}/evidence"):
            answer = live.get(watcher, path)
            assert answer.status_code == 404 and answer.json()["error"] == missing.json()["error"], path
    rows = live.get(watcher, "/api/v1/calls", center="explorer", limit=200).json()["calls"]
    assert rows and all(r["caller_org"] == operator for r in rows)  # its own queries only
    for params in ({"caller": REGULATOR}, {"caller": firm}, {"provider": operator, "center": "explorer"}):
        listed = live.get(watcher, "/api/v1/calls", limit=200, **params).json()["calls"]
        assert {by_regulator, by_firm}.isdisjoint(r["event_id"] for r in listed), params
        assert all(r["caller_org"] == operator for r in listed if r["center"] == "explorer"), params
    exported = json.loads(live.get(watcher, "/api/v1/exports/calls.json", center="explorer").text)
    assert all(r["caller_org"] == operator for r in exported)
    report = live.get(watcher, f"/api/v1/reports/{operator}", format="json", **{"from": 0, "to": 2**52}).json()
    queries = {side: sum(r["calls"] for r in report["calls"][side]["by_api"] if r["center"] == "explorer")
               for side in ("made", "served")}  # fmt: skip
    assert queries["made"] > 0 and queries["served"] == queries["made"]  # it serves only its own queries
    # The querying firm sees its own query, not the regulator's; the regulator sees both.
    assert live.get(querier, f"/api/v1/calls/{by_firm}").status_code == 200
    assert live.get(querier, f"/api/v1/calls/{by_regulator}").status_code == 404
    mine = live.get(querier, "/api/v1/calls", caller=firm, center="explorer", limit=200).json()["calls"]
    assert by_firm in {r["event_id"] for r in mine}
    assert live.get(cast["regulator"], f"/api/v1/calls/{by_firm}/provenance").status_code == 200


def test_a_regulators_query_names_its_subject_and_stays_hidden_from_it_by_default(
    live: Live, cast: dict[str, Any]
) -> None:
    """A query that answered one call's detail names the call's caller and provider as its subject; a search and
    a refused probe name none. Under the default policy (``audit.regulator_queries_visible_to_subject`` off) the
    subject's people see neither the regulator's query at the explorer nor its entry at the notary; the
    regulator sees all; the firm's own query of the call stays the firm's and the regulator's, not its
    counterpart's."""
    call = cast["call"]
    subject = ",".join(sorted({call["caller_org"], call["provider_org"]}))
    ids = {
        "detail": live.get(cast["regulator"], f"/api/v1/calls/{call['event_id']}"),
        "search": live.get(cast["regulator"], "/api/v1/calls", caller=call["caller_org"], limit=1),
        "probe": live.get(cast["other"], f"/api/v1/calls/{call['event_id']}"),
        "own": live.get(cast["own"], f"/api/v1/calls/{call['event_id']}"),
    }
    assert [a.status_code for a in ids.values()] == [200, 200, 404, 200]
    eids = {kind: answer.headers["consortium-event-id"] for kind, answer in ids.items()}

    def entry(who: str, eid: str) -> httpx.Response:
        return httpx.get(f"{live.notary}/v1/entries/{eid}", headers={"Authorization": f"Bearer {live.tokens[who]}"})

    def logged(eid: str) -> dict[str, Any] | None:
        found = entry(cast["regulator"], eid)
        return found.json()["event"] if found.status_code == 200 else None

    events = {kind: wait_until(partial(logged, eid), 30, f"the {kind} query in the log") for kind, eid in eids.items()}
    assert events["detail"]["subject"] == subject and events["own"]["subject"] == subject
    assert "subject" not in events["search"] and "subject" not in events["probe"]

    def indexed(eid: str) -> bool:
        return live.get(cast["regulator"], f"/api/v1/calls/{eid}").status_code == 200

    for kind in ("detail", "own"):
        wait_until(partial(indexed, eids[kind]), 30, f"the {kind} query in the index")
    shown = live.get(cast["regulator"], f"/api/v1/calls/{eids['detail']}").json()
    assert shown["event"]["subject"] == subject
    for who in (cast["own"], cast["provider"], cast["other"]):
        assert live.get(who, f"/api/v1/calls/{eids['detail']}").status_code == 404, who
        assert entry(who, eids["detail"]).status_code == 404, who
    assert live.get(cast["own"], f"/api/v1/calls/{eids['own']}").status_code == 200
    assert live.get(cast["provider"], f"/api/v1/calls/{eids['own']}").status_code == 404
    assert entry(cast["provider"], eids["own"]).status_code == 404


def test_a_call_reveals_its_own_salt_and_shows_shredded_once_its_provider_says_so(
    live: Live, cast: dict[str, Any]
) -> None:
    """The gateway salted the call from its vault (event version 2): its provider reveals that one salt from its
    gateway's data directory, reading the entry from the notary; once the provider publishes a signed shred
    statement for the call's day (as ``consortium data shred`` does for a day that is over), the explorer shows
    the call as shredded while its provenance still verifies."""
    from chain.ids import Role
    from network.description import load_description
    from network.identity import load_gateway_key
    from network.shredding import publish
    from notary.submit.vault import Tombstone, epoch_of
    from tests.integration.live.consortium import CLI, cli_env

    call, provider = cast["call"], cast["call"]["provider_org"]
    made = subprocess.run(
        [*CLI, "--dir", str(live.directory), "data", "reveal", call["event_id"], "--provider", provider,
         "--notary-url", live.notary],
        env=cli_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    document = json.loads(made.stdout)
    assert (document["event_id"], document["scheme"]) == (call["event_id"], "epoch-hkdf/v1")
    assert json.loads(document["entry"])["v"] == 2

    # a query the explorer recorded (provider: the operator) reveals from the explorer's own vault
    query = live.get(cast["regulator"], "/api/v1/calls", limit=1).headers["consortium-event-id"]
    operator = next(m.org for m in load_description(live.directory).members if Role.OPERATOR in m.roles)

    def reveal_query() -> dict[str, Any] | None:
        made = subprocess.run(
            [*CLI, "--dir", str(live.directory), "data", "reveal", query, "--provider", operator,
             "--notary-url", live.notary],
            env=cli_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return json.loads(made.stdout) if made.returncode == 0 else None

    revealed = wait_until(reveal_query, 60, "the query's salt revealed through the notary")
    assert revealed["gateway_id"] == f"{operator}/explorer" and revealed["scheme"] == "epoch-hkdf/v1"

    path = f"/api/v1/calls/{call['event_id']}"
    detail = live.get(cast["provider"], path).json()
    day = epoch_of(call["time_ms"])
    assert detail["digests"] == {"scheme": "epoch-hkdf/v1", "day": day, "shredded": None}
    key = load_gateway_key(live.directory, provider, PASSPHRASE.encode())
    # shredded at a time the chain knows, when the provider's gateway key is valid on it: the explorer judges the
    # statement by the gateway keys on chain at its time (docs/shredding.md)
    shredded_ms = call["time_ms"] + 1
    statement = publish(live.directory, Tombstone(provider, day, shredded_ms, "dpo@test").signed(key))
    try:
        shown = wait_until(
            lambda: live.get(cast["own"], path).json()["digests"]["shredded"], 10, "the call shown as shredded"
        )
        assert shown == {"provider": provider, "day": day, "shredded_ms": shredded_ms, "by": "dpo@test"}
        assert live.get(cast["provider"], path).json()["event"]["request_digest"] == detail["event"]["request_digest"]
    finally:
        statement.unlink()
