"""The query visibility rule (``notary.event.QueryVisibility``) takes its regulators from the chain, as the people
checks do (``network.logsetup.regulator_orgs``, a ``ChainRegulators`` over the trust view): a regulator admitted
after genesis, which ``consortium.json`` does not list, has its queries shown to their subject under the ``audit``
policy, at the explorer (its call detail and the calls search's marks, a real ``Explorer`` over a real SQLite call
index) and at the notary (``read_access`` over the view, the rule its event reads apply); not with the policy off;
and, once the registry has removed it, still for the queries it made as one.

In process: the contracts deployed on eth-tester, the TrustView reading them when told (``refresh``); no socket."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from chain.backend import EthTesterBackend
from chain.contracts.trust import KeyKind
from chain.ids import OrgId, Role
from chain.trustview import TrustView
from explorer.api import Explorer, create_app
from explorer.calls import CallIndex
from explorer.chainindex import ChainIndex
from explorer.state import ChainState
from network.description import FILENAME, ConsortiumDescription
from network.identity import load_gateway_key
from network.logsetup import (
    ChainRegulators,
    query_regulators,
    read_access,
    registry_roles,
    roots_from_description,
)
from network.trust import ChainMemberStatus
from notary.event import LEDGER_QUERY_CENTER, EventJSON, canonical_entry, parties, validate_event
from notary.readauth import sign_read
from tests.support.consortium import (
    Consortium,
    Keys,
    deploy_test_consortium,
    described,
    revert_to_snapshot,
    take_snapshot,
)
from tests.support.notary_events import event
from tests.support.org_logins import OrgTokenLogins

PASS = b"chain regulator queries passphrase"
SUBJECT = "op"  # the one member consortium.json lists (the operator, here the subject of the regulator's queries)
LATER = "sfc"  # a regulator the registry admits after genesis
NOWHERE = "http://127.0.0.1:9"  # never asked: no follower is started
AT = 1_795_000_200.0  # the notary's clock and the time its reads are signed at: not the wall clock


def _query(event_id: str, seq: int) -> EventJSON:
    """LATER's query of SUBJECT's call ``call-op``, as the operator's explorer records it."""
    return validate_event(
        event(
            event_id=event_id, caller_org=LATER, provider_org=SUBJECT, center=LEDGER_QUERY_CENTER,
            unit=LEDGER_QUERY_CENTER, api="calls.get", route="/api/v1/calls/call-op", asset_id=None,
            asset_version=None, grant_id=None, gateway_id=f"{SUBJECT}/{LEDGER_QUERY_CENTER}", gateway_seq=seq,
            time_ms=1_795_000_100_000 + seq, subject=f"alpha,{SUBJECT}",
        )
    )  # fmt: skip


CALL = validate_event(
    event(event_id="call-op", caller_org=SUBJECT, provider_org="alpha", gateway_id="alpha/gw-1", gateway_seq=1)
)


@dataclasses.dataclass
class World:
    chain: Consortium
    view: TrustView
    root: Path
    description: ConsortiumDescription  # the policy off, as consortium.json has it by default


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path_factory.mktemp("regulator-queries")
        description = described(chain, root, "regvis", PASS, roles=Role.MEMBER | Role.OPERATOR | Role.NOTARY)
        (root / FILENAME).write_text(json.dumps(description.to_json()))  # the people checks read it
        signer = chain.new_signer()  # LATER's account: admitted by alpha and beta (the threshold), a key recorded
        proposal = chain.registry.propose_admit(
            chain.signers["alpha"], LATER, "Securities Regulator", Role.REGULATOR, b"\x05" * 32, [signer.address]
        )
        assert chain.registry.approve(chain.signers["beta"], proposal)
        chain.trust.add_key(signer, KeyKind.GATEWAY_KEY, hashlib.sha256(b"sfc gw").digest())
        view = TrustView(backend, chain.trust.address)
        assert view.refresh()
        yield World(chain, view, root, description)
    finally:
        backend.close()


def _policy(world: World, on: bool) -> ConsortiumDescription:
    return dataclasses.replace(world.description, regulator_queries_visible_to_subject=on)


def _explorer(world: World, tmp_path: Path, on: bool, **given: Any) -> Explorer:
    """The explorer over a call index of SUBJECT's call and LATER's query of it (``q-1``), following the view
    unless ``given`` says otherwise."""
    description = _policy(world, on)
    index = CallIndex(tmp_path / "calls.db")
    index.add_entries(0, [canonical_entry(e) for e in (CALL, _query("q-1", 1))])
    return Explorer(
        directory=world.root, description=description, calls=index, chain=ChainIndex(tmp_path / "chain.db"),
        state=ChainState(NOWHERE, dict(description.contracts)), auth=cast(Any, OrgTokenLogins(SUBJECT, "alpha")),
        notary_url=NOWHERE, roots=roots_from_description(description), **{"trust": world.view, **given},
    )  # fmt: skip


def _subject_sees(explorer: Explorer, event_id: str) -> bool:
    """Whether SUBJECT's people open LATER's query ``event_id`` at the explorer, and the search marks SUBJECT's call
    with it."""
    with TestClient(create_app(explorer)) as c:
        headers = {"Authorization": f"Bearer {SUBJECT}"}
        detail: int = c.get(f"/api/v1/calls/{event_id}", headers=headers).status_code
        assert detail in (200, 404)
        rows = c.get("/api/v1/calls", params={"caller": SUBJECT}, headers=headers).json()["calls"]
        marks = [q["event_id"] for r in rows if r["event_id"] == "call-op" for q in r["regulator_queries"]]
        assert (detail == 200) == (event_id in marks), (detail, marks)
        return detail == 200


def _notary_shows_subject(world: World, on: bool, query: EventJSON) -> bool:
    """Whether the notary's event reads (``read_access`` over the view) let SUBJECT's gateway read ``query``."""
    access = read_access(world.root, _policy(world, on), trust=world.view, clock=lambda: AT)
    key = load_gateway_key(world.root, OrgId(SUBJECT), PASS, "intl")
    target = f"/v1/entries/{query['event_id']}"
    reader = access.authenticate("GET", target, sign_read(f"{SUBJECT}/gw-1", key, "GET", target, AT))
    assert (reader.org, reader.regulator) == (SUBJECT, False)
    return reader.may_read_event(parties(query, reader.visibility))


@pytest.mark.parametrize("on", [False, True], ids=["policy-off", "policy-on"])
def test_a_regulator_admitted_later_has_its_queries_shown_to_their_subject_under_the_policy(
    world: World, tmp_path: Path, on: bool
) -> None:
    explorer = _explorer(world, tmp_path, on)
    try:
        assert LATER in explorer.visibility.regulators and LATER not in _policy(world, on).query_visibility().regulators
        assert _subject_sees(explorer, "q-1") is on
    finally:
        explorer.calls.close()
    assert _notary_shows_subject(world, on, _query("q-1", 1)) is on


def test_the_regulators_are_read_from_the_registry_once_per_org_not_per_row_or_request(
    world: World, tmp_path: Path
) -> None:
    """Many rows and requests: the registry is asked each org's roles once (alpha's and LATER's, the orgs of the
    directory that consortium.json does not list), then the set is kept for the view's snapshot."""
    roles = registry_roles(world.view, world.description)
    asked: list[str] = []

    def counted(org: str) -> Role | None:
        asked.append(org)
        return roles(org)

    regulators = ChainRegulators(world.view, world.description, roles_of=counted)
    explorer = _explorer(world, tmp_path, True, regulators=regulators)
    try:
        explorer.calls.add_entries(2, [canonical_entry(_query(f"q-{i}", i)) for i in range(2, 60)])
        for _ in range(3):
            assert _subject_sees(explorer, "q-7")
    finally:
        explorer.calls.close()
    assert sorted(asked) == ["alpha", LATER]


def test_a_roles_read_that_fails_counts_no_regulator_and_is_made_again_at_the_next_question(world: World) -> None:
    """Fail closed, and no set kept for the snapshot while a read failed: the next question asks the registry."""
    roles = registry_roles(world.view, world.description)
    failures = [ConnectionError("the chain did not answer")]

    def flaky(org: str) -> Role | None:
        if org == LATER and failures:
            raise failures.pop()
        return roles(org)

    regulators = ChainRegulators(world.view, world.description, roles_of=flaky)
    assert LATER not in regulators
    assert LATER in regulators and set(regulators) == {LATER}


def test_a_founder_listed_with_the_role_the_directory_holds_no_record_of_is_no_regulator(world: World) -> None:
    """Regression: a founder consortium.json lists with the regulator role counted as a regulator while the
    TrustDirectory held no record of it, though its status is read only for orgs with records, so the people checks
    (``ChainMemberStatus``) took it for no member. It is no regulator now either; it still held the role, so the
    query visibility rule still takes its queries for a regulator's."""
    snapshot = world.view.snapshot
    assert snapshot is not None and snapshot.statuses is not None and SUBJECT not in snapshot.records
    (op,) = world.description.members
    listed = dataclasses.replace(op, roles=op.roles | Role.REGULATOR)
    founders = ChainRegulators(world.view, dataclasses.replace(world.description, members=(listed,)))
    assert ChainMemberStatus(world.view, [SUBJECT])(SUBJECT) is None  # the people checks: no member
    assert SUBJECT not in founders and list(founders) == [LATER] and len(founders) == 1
    assert founders.holders() == {SUBJECT, LATER} and SUBJECT in query_regulators(founders)


def test_a_removed_regulator_counts_for_its_queries_not_its_logins_and_without_a_view_only_the_founders_do(
    world: World, tmp_path: Path
) -> None:
    """LATER's query shown to its subject while LATER is a regulator and still once the registry has removed it
    (the rule takes every holder of the role: a query made as a regulator's stays one), though LATER is no
    regulator for the people checks any more, and a founder listed with the role no regulator once removed either
    (the chain put back afterwards); an explorer that follows no view knows consortium.json's regulators only."""
    chain = world.chain
    (tmp_path / "before").mkdir()
    shown = _explorer(world, tmp_path / "before", True)
    try:
        assert _subject_sees(shown, "q-1")  # a regulator's query while it is one
    finally:
        shown.calls.close()
    before = take_snapshot(chain.backend)
    try:
        proposal = chain.registry.propose_remove(chain.signers["alpha"], LATER)
        assert chain.registry.approve(chain.signers["beta"], proposal)
        assert world.view.refresh()
        explorer = _explorer(world, tmp_path, True)
        try:
            assert explorer.regulators is not None and LATER not in explorer.regulators  # the people checks' answer
            assert LATER in explorer.visibility.regulators  # the rule's: it held the role
            assert _subject_sees(explorer, "q-1")  # what the subject was shown stays shown
        finally:
            explorer.calls.close()
        assert _notary_shows_subject(world, True, _query("q-1", 1))
        # a founder that consortium.json lists with the role counts until the registry removes it too
        (op,) = world.description.members
        listed = dataclasses.replace(op, roles=op.roles | Role.REGULATOR)
        founders = ChainRegulators(world.view, dataclasses.replace(world.description, members=(listed,)))
        chain.trust.add_key(chain.signers[SUBJECT], KeyKind.GATEWAY_KEY, hashlib.sha256(b"op gw").digest())
        assert world.view.refresh()  # a founder's records, as genesis writes them: the view reads its status
        assert SUBJECT in founders
        proposal = chain.registry.propose_remove(chain.signers["alpha"], SUBJECT)
        assert chain.registry.approve(chain.signers["beta"], proposal)
        assert world.view.refresh()
        assert SUBJECT not in founders and list(founders) == []
        assert founders.holders() == {SUBJECT, LATER}  # holders of the role still, for the query visibility rule
    finally:
        revert_to_snapshot(chain.backend, before)
        chain.forget_nonces()
        world.view.refresh()
    (tmp_path / "unfollowed").mkdir()
    unfollowed = _explorer(world, tmp_path / "unfollowed", True, trust=None)
    try:
        assert unfollowed.visibility.regulators == frozenset()  # consortium.json lists no regulator
        assert not _subject_sees(unfollowed, "q-1")
    finally:
        unfollowed.calls.close()
