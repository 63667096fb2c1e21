"""The gateway as the process ``consortium gateway serve`` runs (``python -m cli.main``), called over mutual
TLS, with the notary as a process too: ``kill -9`` of the gateway while the notary is down, a notary that goes
away and comes back behind a live gateway, and a certificate revoked with ``consortium identity revoke``.

Every call that got an answer must reach the notary exactly once, with the decision, denial reason and status
its caller saw, and the gateway's sequence must arrive whole and in order (no gap at the notary).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from notary.submit.outbox import Outbox
from tests.integration.gateway.gateway_chain import GRANTEE, OTHER, PROVIDER, QUOTA, GatewayChain
from tests.integration.gateway.gateway_notary import NotaryProcess
from tests.integration.gateway.gateway_world import (
    PASS,
    ROOT,
    Answer,
    Caller,
    GatewayProcess,
    Upstream,
    World,
    check_recorded,
    notary_events,
)
from tests.support.wait import wait_until


@pytest.fixture
def notary(tmp_path: Path, world: World) -> Iterator[NotaryProcess]:
    """The notary, not started yet."""
    process = NotaryProcess(tmp_path / "notary", {PROVIDER: world.gateway_key()})
    yield process
    process.stop()


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    """Gateway processes a test starts; stopped after it."""
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        process.stop()


def shipped(gateway: GatewayProcess, at_least: int) -> bool:
    outbox = gateway.health()["outbox"]
    return bool(outbox["last_seq"] >= at_least and outbox["shipped_seq"] == outbox["last_seq"])


def test_kill_9_with_the_notary_down_loses_and_duplicates_no_answered_call(
    world: World,
    chain: GatewayChain,
    upstream: Upstream,
    notary: NotaryProcess,
    processes: list[GatewayProcess],
    tmp_path: Path,
) -> None:
    gateway = GatewayProcess(world, upstream.url, notary.url, tmp_path / "gateway.log", name="crash")
    processes.append(gateway)
    gateway.start()
    answered: list[Answer] = []
    lock = threading.Lock()
    stop = threading.Event()
    cut_off = [0]  # callers whose call was in flight when the gateway died

    def traffic(org: str) -> None:
        with Caller(world, world.identity(org)) as c:
            while not stop.is_set():
                try:
                    answer = c.call(gateway.url)
                except httpx.TransportError:
                    with lock:
                        cut_off[0] += 1
                    return
                with lock:
                    answered.append(answer)

    callers = [threading.Thread(target=traffic, args=(org,)) for org in (GRANTEE, GRANTEE, GRANTEE, OTHER)]
    for t in callers:
        t.start()
    try:
        wait_until(lambda: len(answered) >= 40, "calls to be answered", 30, every=0.001)
        gateway.kill()  # kill -9, with calls in flight
    finally:
        stop.set()
        for t in callers:
            t.join(30)
    assert {(a.status, a.reason) for a in answered} == {(200, None), (403, "no_grant")}
    assert all(a.event_id for a in answered)
    with Outbox(gateway.outbox_path, gateway.gateway_id) as outbox:  # what the dead gateway left
        stats = outbox.stats()
    print(f"killed after {len(answered)} answers with {cut_off[0]} calls in flight; {stats.last_seq} events recorded")
    assert stats.shipped_seq == 0 and len(answered) <= stats.last_seq <= len(answered) + cut_off[0]

    notary.start()
    gateway.start()  # the same outbox: it ships what the first process recorded, and counts the quota on
    wait_until(lambda: shipped(gateway, stats.last_seq), "the recorded events to be shipped", 30, every=0.05)
    allowed_before = sum(a.status == 200 for a in answered)
    with Caller(world, world.identity(GRANTEE)) as beta:
        rest: list[Answer] = []
        while not rest or rest[-1].status == 200:
            rest.append(beta.call(gateway.url))
            assert len(rest) <= QUOTA + 1
    assert (rest[-1].status, rest[-1].reason) == (403, "quota_exhausted")
    assert allowed_before + len(rest) - 1 <= QUOTA
    assert gateway.stop() == 0  # SIGTERM: the gateway drains its outbox to the notary before it exits

    events = notary_events(notary, gateway.gateway_id)
    assert [e["gateway_seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["event_id"] for e in events}) == len(events)
    calls = [*answered, *rest]
    answered_ids = {a.event_id for a in calls}
    unanswered = [e for e in events if e["event_id"] not in answered_ids]  # recorded, the answer lost in the kill
    assert len(unanswered) <= cut_off[0]
    check_recorded([e for e in events if e["event_id"] in answered_ids], calls)
    allowed = [e for e in events if e["decision"] == "allow"]
    assert len(allowed) == QUOTA, "the quota count did not survive kill -9 exactly"
    assert {e["grant_id"] for e in allowed} == {chain.grant_id}
    gaps = notary.gaps()
    assert gaps["gaps"] == [] and gaps["last_seq"][gateway.gateway_id] == len(events)


def test_calls_are_answered_while_the_notary_is_down_and_all_arrive_in_order_once_it_is_back(
    world: World,
    chain: GatewayChain,
    upstream: Upstream,
    notary: NotaryProcess,
    processes: list[GatewayProcess],
    tmp_path: Path,
) -> None:
    purpose = "outage"
    chain.grant(GRANTEE, purpose)
    notary.start()
    gateway = GatewayProcess(world, upstream.url, notary.url, tmp_path / "gateway.log", name="outage")
    processes.append(gateway)
    gateway.start()
    answers: list[Answer] = []
    with Caller(world, world.identity(GRANTEE)) as beta, Caller(world, world.identity(OTHER)) as gamma:

        def calls(n: int) -> list[Answer]:
            made = [beta.call(gateway.url, purpose=purpose) if i % 3 else gamma.call(gateway.url) for i in range(n)]
            assert {(a.status, a.reason) for a in made} == {(200, None), (403, "no_grant")}
            answers.extend(made)
            return made

        calls(10)
        wait_until(lambda: shipped(gateway, 10), "the first calls to be shipped", 20)
        notary.kill()
        down = time.monotonic()
        calls(30)  # answered all the same
        wait_until(
            lambda: gateway.health()["shipper"]["consecutive_failures"] >= 1, "a failed shipment", 20, every=0.02
        )
        outbox = gateway.health()["outbox"]
        assert (outbox["last_seq"], outbox["shipped_seq"], outbox["pending"]) == (40, 10, 30)
        notary.start()
        print(f"notary away for {time.monotonic() - down:.1f} s")
        calls(5)
        back = time.monotonic()
        wait_until(lambda: shipped(gateway, 45), "the backlog to be shipped", 30)
        print(f"backlog shipped {time.monotonic() - back:.1f} s after the notary came back")
    events = notary_events(notary, gateway.gateway_id)
    assert [e["gateway_seq"] for e in events] == list(range(1, 46))
    assert [e["event_id"] for e in events] == [a.event_id for a in answers]  # in the order of the calls
    check_recorded(events, answers)
    gaps = notary.gaps()
    assert gaps["gaps"] == [] and gaps["last_seq"] == {gateway.gateway_id: 45}
    assert gateway.health()["shipper"]["consecutive_failures"] == 0


def test_a_certificate_revoked_with_the_cli_is_refused_by_the_running_gateway(
    world: World,
    chain: GatewayChain,
    upstream: Upstream,
    notary: NotaryProcess,
    processes: list[GatewayProcess],
    tmp_path: Path,
) -> None:
    notary.start()
    gateway = GatewayProcess(world, upstream.url, notary.url, tmp_path / "gateway.log", name="crl")
    processes.append(gateway)
    gateway.start()
    identity = world.identity(GRANTEE, "revoked")
    with Caller(world, identity) as revoked:
        before = revoked.call(gateway.url, purpose="marketing")  # refused by the grant check, but authenticated
        assert (before.status, before.reason) == (403, "no_grant")
        r = subprocess.run(
            [sys.executable, "-m", "cli.main", "--dir", str(world.root), "identity", "revoke", "--org", GRANTEE,
             "--cert", str(identity.cert)],
            cwd=ROOT, env={**os.environ, "CONSORTIUM_PASSPHRASE": PASS.decode()}, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert r.returncode == 0 and r.stdout.startswith("revoked serial "), (r.stdout, r.stderr)
        answers = [before]

        def refused_as_revoked() -> bool:  # the gateway rereads the CRL at its next look (one a second)
            answers.append(revoked.call(gateway.url, purpose="marketing"))
            return answers[-1].status == 401

        wait_until(refused_as_revoked, "the gateway to refuse the revoked certificate", 60, every=0.05)
    assert {(a.status, a.reason) for a in answers[:-1]} == {(403, "no_grant")}  # authenticated until then
    assert (answers[-1].status, answers[-1].reason) == (401, "certificate_revoked")
    assert answers[-1].event_id is None
    with Caller(world, identity) as fresh:  # a new connection is refused once its handshake is done
        again = fresh.call(gateway.url, purpose="marketing")
    assert (again.status, again.reason, again.event_id) == (403, "certificate_revoked", None), again.body
    assert again.headers["Connection"] == "close"
    with Caller(world, world.identity(GRANTEE)) as beta:
        other = beta.call(gateway.url)  # another certificate of the same org
    assert other.status == 200, other.body
    wait_until(lambda: shipped(gateway, len(answers)), "the events to be shipped", 20)
    check_recorded(notary_events(notary, gateway.gateway_id), [*answers, other], GRANTEE)
