"""What the explorer shows of a private grant, on our node over JSON-RPC: the chain index's histories and
state, the provenance link of a call under it, who sees its row and its transactions, and that nothing the
explorer answers carries its terms (the explorer does not hold them)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from chain.contracts import PrivateTerms
from chain.ids import AssetKind
from explorer import access
from explorer.api import Explorer, Limits, create_app
from explorer.api.schemas import GrantAtTime
from explorer.calls import CallIndex
from explorer.chainfollow import ChainFollower
from explorer.chainindex import ChainIndex
from explorer.provenance import grant_step
from explorer.state import PRIVATE_TERMS_NOTE, Snapshot, private_grant_json
from network.logins import LoginError, Person
from notary.event import EventJSON, canonical_entry, validate_event
from tests.integration.explorer.chainindex_chain import Deployed, LocalNode, deploy, founder_accounts
from tests.support.notary_events import event

ASSET = "eq-quotes"


@dataclass
class World:
    consortium: Deployed
    terms: PrivateTerms
    grant_id: str
    create_tx: str
    revoked: PrivateTerms
    revoked_id: str
    revoke_tx: str
    revoked_at: int


def hx(data: bytes) -> str:
    return "0x" + bytes(data).hex()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    accounts = founder_accounts()
    backend = LocalNode(accounts["op"])
    try:
        c = deploy(backend, accounts)
        alpha = c.signers["alpha"]
        c.assets.register_asset(alpha, ASSET, AssetKind.FEED, b"\x01" * 32, b"\x02" * 32, 2)
        now = c.now()
        terms = PrivateTerms.draw(ASSET, "alpha", "beta", "research", now - 60, now + 86_400, 40_404)
        revoked = PrivateTerms.draw(ASSET, "alpha", "gamma", "audit", now - 60, now + 86_400, 0)
        gid = c.grants.create_private_grant(alpha, terms)
        rid = c.grants.create_private_grant(alpha, revoked)
        receipt = c.grants.revoke(alpha, rid, 6)
        block = backend.web3.eth.get_block(receipt["blockNumber"])
        (created,) = c.grants.events("PrivateGrantCreated", filters={"grant_id": gid})
        yield World(
            c, terms, hx(gid), hx(created["transactionHash"]), revoked, hx(rid), hx(receipt["transactionHash"]),
            int(block["timestamp"]),
        )  # fmt: skip
    finally:
        backend.close()


@pytest.fixture(scope="module")
def index(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainIndex]:
    idx = ChainIndex(tmp_path_factory.mktemp("chain-index") / "chain.db")
    c = world.consortium
    assert isinstance(c.backend, LocalNode)
    follower = ChainFollower(idx, c.backend.server.url, dict(c.deployment.addresses))
    head = int(c.backend.web3.eth.block_number)
    while idx.head() < head:
        assert follower.sync_once() > 0 or idx.head() >= head
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def snapshot(world: World) -> Snapshot:
    c = world.consortium
    return Snapshot(
        block=int(c.backend.web3.eth.block_number),
        block_time=c.now(),
        members=tuple(c.registry.members()),
        assets=tuple(c.assets.assets()),
        grants=tuple(c.grants.grants()),
        private_grants=tuple(c.grants.private_grants()),
    )


def person(org: str, role: str = "compliance") -> Person:
    return Person(org=org, name="p", role=role, identity="ab" * 32, display_name=f"p ({org})", expires_ms=0)


def assert_no_terms(value: Any, t: PrivateTerms) -> None:
    text = json.dumps(value, default=str)
    for needle in (f'"{t.grantee}"', f'"{t.purpose}"'):
        assert needle not in text, f"{needle} in {text}"
    assert_no_numbers(text, t)


def assert_no_numbers(text: str, t: PrivateTerms) -> None:
    """No window or quota of ``t`` as a number of its own (not a run of digits inside a key or commitment's hex)."""
    for number in (t.not_before, t.expires_at, t.quota):
        assert not re.search(rf"(?<![0-9a-fx]){number}(?![0-9a-f])", text), f"{number} in {text}"


def test_the_index_keeps_a_private_grants_history_without_terms(world: World, index: ChainIndex) -> None:
    history = index.history("grant", world.grant_id)
    assert [e["event"] for e in history] == ["PrivateGrantCreated"]
    assert [e["event"] for e in index.history("grant", world.revoked_id)] == [
        "PrivateGrantCreated",
        "PrivateGrantRevoked",
    ]
    assert {e["event"] for e in index.history("asset", ASSET)} >= {"PrivateGrantCreated", "PrivateGrantRevoked"}
    created = index.grant_state_at(world.grant_id, world.revoked_at)
    assert created is not None
    assert (created["private"], created["state"], created["asset"], created["grantor"]) == (
        True,
        "private",
        ASSET,
        "alpha",
    )
    assert all(created[k] is None for k in ("grantee", "purpose", "not_before", "expires_at", "quota"))
    gone = index.grant_state_at(world.revoked_id, world.revoked_at)
    assert gone is not None and (gone["state"], gone["revoke_reason"]) == ("revoked", 6)
    assert_no_terms(history + index.history("grant", world.revoked_id), world.terms)
    for state in (created, gone):  # the provenance's grant link shows these as they are (explorer.api.schemas)
        assert GrantAtTime.model_validate(state).model_dump() == state
    assert_no_terms([index.transaction(world.create_tx), index.transaction(world.revoke_tx)], world.terms)


def call(world: World, grant_id: str, *, decision: str = "allow", provider: str = "alpha") -> EventJSON:
    return cast(EventJSON, event(
        grant_id=grant_id, time_ms=(world.revoked_at + 1) * 1000, decision=decision, caller_org="beta",
        provider_org=provider, asset_id=ASSET, denial_reason=None if decision == "allow" else "grant_revoked",
    ))  # fmt: skip


def test_the_provenance_of_a_call_under_a_private_grant(world: World, index: ChainIndex) -> None:
    ok = grant_step(index, call(world, world.grant_id))
    assert ok["ok"] is True and "private grant" in ok["detail"], ok
    assert grant_step(index, call(world, world.revoked_id))["ok"] is False  # allowed under a revoked grant
    assert grant_step(index, call(world, world.revoked_id, decision="deny"))["ok"] is True
    assert grant_step(index, call(world, world.grant_id, provider="gamma"))["ok"] is False


def test_who_sees_a_private_grant(world: World, snapshot: Snapshot) -> None:
    (first, second) = snapshot.private_grants
    assert snapshot.grants == () and snapshot.private_grant(world.grant_id) == first
    seen = {org: access.sees_private_grant(person(org), first) for org in ("alpha", "beta", "gamma", "op")}
    # beta is the grantee, but that is in the terms, which the explorer does not hold
    assert seen == {"alpha": True, "beta": False, "gamma": False, "op": False}
    assert access.sees_private_grant(person("reg", "regulator"), first)
    # once the log shows beta calling under it (explorer.api.grants.private_grantee), beta too, and still no other
    shown = {org: access.sees_private_grant(person(org), first, "beta") for org in ("alpha", "beta", "gamma", "op")}
    assert shown == {"alpha": True, "beta": True, "gamma": False, "op": False}
    row = private_grant_json(first, snapshot.asset(ASSET))
    assert (row["state"], row["private"], row["terms"], row["grantee"]) == ("private", True, PRIVATE_TERMS_NOTE, None)
    assert private_grant_json(second, snapshot.asset(ASSET))["state"] == "revoked"
    assert_no_terms(row, world.terms)


def test_a_private_grants_transactions_are_its_grantors(world: World, index: ChainIndex, snapshot: Snapshot) -> None:
    for tx_hash in (world.create_tx, world.revoke_tx):
        tx = index.transaction(tx_hash)
        assert tx is not None and tx["contract"] == "AccessGrants"
        assert access.sees_transaction(person("alpha"), tx, snapshot)
        assert access.sees_transaction(person("reg", "regulator"), tx, snapshot)
        for org in ("beta", "gamma", "op"):
            assert not access.sees_transaction(person(org), tx, snapshot), (org, tx_hash)
        assert access.redact_transaction(tx)["args"] is None


PEOPLE = {
    "inspector": person("reg", "regulator"),
    "alpha": person("alpha"),
    "beta": person("beta"),
    "gamma": person("gamma"),
    "op": person("op"),
}


class StandInLogins:
    """The token is the person's key in ``PEOPLE``."""

    def authenticate(self, authorization: str | None) -> Person:
        token = (authorization or "").removeprefix("Bearer ")
        if token not in PEOPLE:
            raise LoginError("no_credentials", "no credentials")
        return PEOPLE[token]


def test_the_grants_api(world: World, index: ChainIndex, snapshot: Snapshot, tmp_path: Path) -> None:
    """``/grants`` and ``/grants/{id}`` in process, around this chain's snapshot and index, before any call under
    the private grant is in the log: its grantee's people do not see it, since nothing tells the explorer who
    that is."""
    state = SimpleNamespace(
        snapshot=snapshot, fresh_grant=lambda _grant_id: None, fresh_private_grant=lambda _grant_id: None
    )
    calls = CallIndex(tmp_path / "calls.db")
    stand_in = SimpleNamespace(
        auth=StandInLogins(), recorder=None, limits=Limits(), state=state, chain=index, calls=calls
    )
    with closing(calls), TestClient(create_app(cast(Explorer, stand_in))) as client:

        def get(path: str, who: str) -> Any:
            return client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {who}"})

        listed = get("/grants", "alpha").json()["grants"]
        assert [(g["grant_id"], g["state"], g["terms"]) for g in listed] == [
            (world.grant_id, "private", PRIVATE_TERMS_NOTE),
            (world.revoked_id, "revoked", PRIVATE_TERMS_NOTE),
        ]
        assert [g["grant_id"] for g in get("/grants?state=private", "inspector").json()["grants"]] == [world.grant_id]
        assert get("/grants?grantee=beta", "inspector").json()["grants"] == []  # the grantee is not known here
        assert get("/grants", "beta").json()["grants"] == []
        detail = get(f"/grants/{world.grant_id}", "alpha")
        assert detail.status_code == 200 and detail.json()["history"][0]["event"] == "PrivateGrantCreated"
        assert get(f"/grants/{world.grant_id}", "beta").status_code == 404
        assert get(f"/grants/{world.grant_id}", "inspector").status_code == 200
        assert_no_terms([listed, detail.json()], world.terms)


def logged_call(world: World, grant_id: str | None, caller: str, seq: int, **changes: Any) -> bytes:
    """The entry of a call ``caller`` made to alpha's gateway under ``grant_id``, as the log holds it."""
    fields: dict[str, Any] = {
        "event_id": f"call-{seq}", "caller_org": caller, "provider_org": "alpha", "asset_id": ASSET,
        "asset_version": 1, "grant_id": grant_id, "gateway_id": "alpha/gw-1", "gateway_seq": seq,
        "time_ms": (world.revoked_at + seq) * 1000, **changes,
    }  # fmt: skip
    return canonical_entry(validate_event(event(**fields)))


def test_the_grantee_sees_the_private_grant_once_the_log_shows_it_calling_under_it(
    world: World, index: ChainIndex, snapshot: Snapshot, tmp_path: Path
) -> None:
    """beta (the grantee) made an allowed call under the grant to alpha (its grantor); gamma was refused under its
    own grant, revoked before any call (``grant_revoked``, naming that grant, as alpha's gateway logs it), and for
    beta's asset and purpose (``no_grant``, naming none), and op called under beta's grant at another provider: the
    log names beta as the grant's grantee and gamma as the revoked grant's. Each reader: the grantor, the grantee,
    another firm, the operator, the regulator, and an outsider without a login."""
    state = SimpleNamespace(
        snapshot=snapshot, fresh_grant=lambda _grant_id: None, fresh_private_grant=lambda _grant_id: None
    )
    calls = CallIndex(tmp_path / "calls.db")
    calls.add_entries(0, [
        logged_call(world, world.revoked_id, "gamma", 1, decision="deny", denial_reason="grant_revoked", status=403,
                    response_digest=None),
        logged_call(world, None, "gamma", 2, decision="deny", denial_reason="no_grant", status=403,
                    response_digest=None),
        logged_call(world, world.grant_id, "op", 3, provider_org="delta", gateway_id="delta/gw-1"),
        logged_call(world, world.grant_id, "beta", 4),
    ])  # fmt: skip
    stand_in = SimpleNamespace(
        auth=StandInLogins(), recorder=None, limits=Limits(), state=state, chain=index, calls=calls
    )
    with closing(calls), TestClient(create_app(cast(Explorer, stand_in))) as client:

        def get(path: str, who: str) -> Any:
            return client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {who}"})

        for who in ("alpha", "beta", "inspector"):
            listed = {g["grant_id"]: g for g in get("/grants", who).json()["grants"]}
            assert listed[world.grant_id]["grantee"] == "beta", who
            assert listed[world.grant_id]["terms"] == PRIVATE_TERMS_NOTE
            assert (world.revoked_id in listed) == (who != "beta"), who  # beta is not gamma's grant's grantee
            if who != "beta":  # the log shows gamma as the revoked grant's grantee, by its refused call alone
                assert listed[world.revoked_id]["grantee"] == "gamma", who
            detail = get(f"/grants/{world.grant_id}", who)
            assert detail.status_code == 200 and detail.json()["grantee"] == "beta", who
            assert_no_window([detail.json(), listed], world.terms)
        assert [g["grant_id"] for g in get("/grants?grantee=beta", "inspector").json()["grants"]] == [world.grant_id]
        gammas = get("/grants", "gamma").json()["grants"]
        assert [(g["grant_id"], g["grantee"], g["state"]) for g in gammas] == [(world.revoked_id, "gamma", "revoked")]
        assert get(f"/grants/{world.revoked_id}", "gamma").json()["grantee"] == "gamma"
        assert [(g["purpose"], g["not_before"], g["expires_at"], g["quota"]) for g in gammas] == [(None,) * 4]
        assert get("/grants", "op").json()["grants"] == []
        for who in ("gamma", "op"):
            assert get(f"/grants/{world.grant_id}", who).status_code == 404, who
        assert client.get(f"/api/v1/grants/{world.grant_id}").status_code == 401


def assert_no_window(value: Any, t: PrivateTerms) -> None:
    """No purpose, window or quota of ``t`` (its grantee the log may show, to its parties and the regulator)."""
    text = json.dumps(value, default=str)
    assert f'"{t.purpose}"' not in text, text
    assert_no_numbers(text, t)


def test_a_block_shows_each_person_what_its_transaction_does(
    world: World, index: ChainIndex, snapshot: Snapshot
) -> None:
    """A block's rows carry no events, and ``create_private_grant`` names no firm in its arguments: the grantor's
    people still see its decoded arguments in ``/blocks/{n}`` as in ``/transactions/{hash}``, others neither."""
    state = SimpleNamespace(snapshot=snapshot)
    stand_in = SimpleNamespace(auth=StandInLogins(), recorder=None, limits=Limits(), state=state, chain=index)
    created = index.transaction(world.create_tx)
    assert created is not None
    with TestClient(create_app(cast(Explorer, stand_in))) as client:
        for who, sees in (("alpha", True), ("inspector", True), ("beta", False)):
            headers = {"Authorization": f"Bearer {who}"}
            block = client.get(f"/api/v1/blocks/{created['block_number']}", headers=headers).json()
            (row,) = [t for t in block["transactions"] if t["hash"] == world.create_tx]
            alone = client.get(f"/api/v1/transactions/{world.create_tx}", headers=headers).json()
            assert (row["args"] is not None, alone["args"] is not None) == (sees, sees), who
            assert bool(row.get("redacted")) == bool(alone.get("redacted")) == (not sees), who
