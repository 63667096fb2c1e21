"""Two replicas of one provider's gateway (``consortium gateway serve --replica a|b --quota-store
postgresql://...``), as processes behind a load balancer would run them, over mutual TLS, with a real notary and
a real PostgreSQL server.

Together they admit exactly a grant's quota, whichever replica each call reaches; each keeps its own outbox and
sequence numbers, and the notary takes both (signed with the org's gateway key) without a gap. With PostgreSQL
down, calls under a quota are refused (503 ``quota_unavailable``) and recorded, never admitted uncounted; once it
is back the count is where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from network.alarms.book import AlarmBook
from network.alarms.evaluator import Evaluator
from network.alarms.probe import Prober, Targets
from network.alarms.store import read_alarms
from tests.integration.gateway.gateway_chain import GRANTEE, PROVIDER, GatewayChain
from tests.integration.gateway.gateway_notary import NotaryProcess
from tests.integration.gateway.gateway_world import (
    Answer,
    Caller,
    GatewayProcess,
    Upstream,
    World,
    check_recorded,
    notary_events,
)
from tests.support.wait import wait_until

QUOTA = 7


@pytest.fixture
def notary(tmp_path: Path, world: World) -> Iterator[NotaryProcess]:
    process = NotaryProcess(tmp_path / "notary", {PROVIDER: world.gateway_key()})
    process.start()
    yield process
    process.stop()


@pytest.fixture
def replicas(
    tmp_path: Path, world: World, upstream: Upstream, notary: NotaryProcess, postgres: Any
) -> Iterator[list[GatewayProcess]]:
    store = postgres.create_database("quota")
    started = [
        GatewayProcess(world, upstream.url, notary.url, tmp_path / f"{r}.log", replica=r, quota_store=store)
        for r in ("a", "b")
    ]
    try:
        for gateway in started:
            gateway.start()
        yield started
    finally:
        for gateway in started:
            gateway.stop()


def test_two_replicas_share_a_quota_and_refuse_when_its_store_is_down(
    world: World, chain: GatewayChain, notary: NotaryProcess, replicas: list[GatewayProcess], postgres: Any
) -> None:
    purpose = "replicas"
    grant = chain.grant(GRANTEE, purpose, quota=QUOTA)
    a, b = replicas
    assert (a.gateway_id, b.gateway_id) == (f"{PROVIDER}/gateway-a", f"{PROVIDER}/gateway-b")
    answers: list[Answer] = []
    with Caller(world, world.identity(GRANTEE)) as beta:

        def call(i: int) -> Answer:
            answer = beta.call(replicas[i % 2].url, purpose=purpose)
            answers.append(answer)
            return answer

        shared = [call(i) for i in range(QUOTA + 4)]  # alternately through a and b
        assert [a.status for a in shared] == [200] * QUOTA + [403] * 4
        assert {x.reason for x in shared[QUOTA:]} == {"quota_exhausted"}
        assert {x.headers["Consortium-Gateway"] for x in shared[:2]} == {a.gateway_id, b.gateway_id}

        postgres.kill()
        try:
            down = [call(i) for i in range(4)]
            assert {(x.status, x.reason) for x in down} == {(503, "quota_unavailable")}
            assert all(x.event_id for x in down)  # recorded
            assert {x.body["error"] for x in down} == {"unavailable"}
            for gateway in replicas:
                health = gateway.health()
                assert "quota-store-unreachable" in health["alarms"], health
                assert health["quota"]["store"] == "postgresql" and health["quota"]["refused"] >= 2
        finally:
            postgres.start()
        # once the store is back (each replica waits 1 s after a failure before it tries again) the count is
        # where it was: the grant stays used up
        for i in range(2):

            def answered(i: int = i) -> Answer | None:
                answer = call(i)
                return answer if answer.status != 503 else None

            back = wait_until(answered, "the quota store to be back", 30, every=0.2)
            assert (back.status, back.reason) == (403, "quota_exhausted")
        wait_until(lambda: "quota-store-unreachable" not in a.health()["alarms"], "the alarm to clear", 10)

    for gateway in replicas:
        wait_until(partial(_shipped, gateway), f"{gateway.gateway_id} to ship its outbox", 30, every=0.05)
    events = [*notary_events(notary, a.gateway_id), *notary_events(notary, b.gateway_id)]
    check_recorded(events, answers, GRANTEE)
    allowed = [e for e in events if e["decision"] == "allow"]
    assert len(allowed) == QUOTA and {e["grant_id"] for e in allowed} == {grant}
    unavailable = [e for e in events if e["denial_reason"] == "quota_unavailable"]
    assert len(unavailable) >= 4 and {(e["status"], e["grant_id"]) for e in unavailable} == {(503, grant)}
    gaps = notary.gaps()
    for gateway in replicas:  # each replica its own sequence, whole
        seqs = [e["gateway_seq"] for e in notary_events(notary, gateway.gateway_id)]
        assert seqs == list(range(1, len(seqs) + 1)) and gaps["last_seq"][gateway.gateway_id] == len(seqs)
    assert gaps["gaps"] == []


def _shipped(gateway: GatewayProcess) -> bool:
    outbox = gateway.health()["outbox"]
    return bool(outbox["last_seq"] > 0 and outbox["shipped_seq"] == outbox["last_seq"])


def test_the_alarm_evaluator_sees_the_quota_store_go_and_come_back_without_a_call(
    tmp_path: Path, replicas: list[GatewayProcess], postgres: Any
) -> None:
    """The evaluator as ``consortium up`` runs it probes a gateway counting quotas in PostgreSQL; no call is
    made, so only the gateway's own check on its health reads can see the store go: ``quota-store`` fires
    (critical) when PostgreSQL is killed and resolves when it is back. Hold-down zero: no step waits on the
    clock (the book's tests cover the hold-down)."""
    gateway = replicas[0]
    evaluator = Evaluator(
        tmp_path, "test-consortium", Prober(Targets(gateways={PROVIDER: gateway.admin}), timeout=5.0),
        AlarmBook(fire_after=0.0, resolve_after=0.0), interval=0.1,
    )  # fmt: skip
    alarm_id = f"quota-store:gateway/{PROVIDER}"

    def active() -> set[str]:
        return {a.id for a in read_alarms(tmp_path).active}

    evaluator.start()
    try:
        wait_until(lambda: evaluator.steps >= 2, "two evaluations", 30)
        assert active() == set()
        postgres.kill()
        try:
            wait_until(lambda: alarm_id in active(), "the quota-store alarm to fire", 30, every=0.1)
            (alarm,) = [a for a in read_alarms(tmp_path).active if a.id == alarm_id]
            assert (alarm.severity, alarm.org) == ("critical", PROVIDER)
            assert gateway.health()["quota"]["refused"] == 0  # seen without refusing a call
        finally:
            postgres.start()
        wait_until(lambda: alarm_id not in active(), "the quota-store alarm to resolve", 30, every=0.1)
        assert alarm_id in {a.id for a in read_alarms(tmp_path).resolved}
    finally:
        evaluator.stop()


def test_a_gateway_does_not_start_on_a_quota_store_a_later_release_migrated(
    tmp_path: Path, world: World, upstream: Upstream, notary: NotaryProcess, postgres: Any
) -> None:
    import psycopg

    from gateway.quota import SCHEMA, PostgresQuota

    store = postgres.create_database("quota")
    made = PostgresQuota(store)
    made.ensure_schema()
    made.close()
    with psycopg.connect(store, autocommit=True) as conn:
        conn.execute(  # as a release with a further migration would leave it
            "INSERT INTO schema_version (component, version) VALUES ('gateway_quota', %s)", (SCHEMA.latest + 1,)
        )
    log = tmp_path / "gateway.log"
    gateway = GatewayProcess(world, upstream.url, notary.url, log, replica="a", quota_store=store)
    try:
        with pytest.raises(AssertionError):  # the process ended before it served
            gateway.start()
        assert gateway.process is not None and gateway.process.wait(timeout=30) != 0
        said = log.read_text()
        assert "cannot start: the quota store" in said
        newer = f"database schema {SCHEMA.latest + 1} of gateway_quota is newer than this release ({SCHEMA.latest})"
        assert f"{newer}: upgrade the release" in said
    finally:
        gateway.stop()
