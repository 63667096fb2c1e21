"""The gateway through its HTTP port: mutual TLS with real certificates, the grant on a real chain node, a real
upstream service and a real notary, all on loopback (``gateway_world``). Each test checks what the caller is
told (status, JSON reason, ``Consortium-Event-Id``) and what was recorded: exactly one event per call that has
an event id, with the decision, denial reason and status the caller saw, and none for the others.

The module's chain runs an hour behind the wall clock (``lagging_gateway_chain``), so that a grant that has
expired by the gateway's clock can be created; grants valid "from a minute ago for a day" in chain time are
valid by the wall clock too. Tests that change grants use purposes of their own, and tests that suspend a
member reinstate it, so that they share one chain, gateway and notary. Waiting is for a condition (the
gateway's watcher reaching a block, a CRL being reread), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import private_set_intersection.python as openmined_psi
import pytest
from aiohttp import web
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chain.ids import AssetKind, OrgId
from cli.demo import demo_group
from demo.traffic import write_endpoints
from gateway.breaker import CircuitBreaker
from gateway.headers import REASON_HEADER
from gateway.policy import DENIAL_REASONS
from gateway.psi import PsiGuard
from gateway.quota import PostgresQuota
from network.certificates import CRL_CHECK_INTERVAL_S, REASONS
from network.identity import revoke_identity
from notary.submit.digest import EMPTY_BODY_SHA256, request_digest
from notary.submit.vault import SaltVault
from privacy.asset import STEP_METHODS, PsiAssetTerms, format_asset_terms, format_record_step, job_tag, terms_digest
from privacy.psi import (
    PROTOCOL,
    JobTerms,
    PsiClient,
    PsiServer,
    _format_message,
    _parse_message,
    max_request_bytes,
)
from privacy.record import MAX_RECORD_BYTES, SignedRecord, format_signed_record, format_summary, sign_record
from tests.integration.gateway.gateway_chain import (
    API,
    ASSET,
    GRANTEE,
    METHOD,
    OTHER,
    OTHER_ROUTE,
    PROVIDER,
    PURPOSE,
    RETIRED_ROUTE,
    ROUTE,
    SEARCH_ROUTE,
    GatewayChain,
    digest,
    gateway_chain,
    wait_for_head,
)
from tests.integration.gateway.gateway_notary import NotaryProcess
from tests.integration.gateway.gateway_world import (
    FORGED_HEADERS,
    LAG_S,
    PASS,
    Answer,
    Caller,
    LiveGateway,
    LoopThread,
    Upstream,
    World,
    _serve,
    check_recorded,
    create_expired_grant,
    lagging_gateway_chain,
)
from tests.support.clock import Clock, ShiftedClock
from tests.support.wait import wait_until

#: The module gateway's CRL clock: real time, moved a CRL check interval ahead by the revocation test.
CRL_CLOCK = ShiftedClock()
#: The reasons of a 403/413/503 with an event: the chain's answers and the gateway's own.
GATEWAY_REASONS = {
    *DENIAL_REASONS.values(),
    "purpose_missing",
    "quota_exhausted",
    "body_too_large",
    "chain_unavailable",
    "circuit_open",
    "too_many_in_flight",
    "upstream_timeout",
    "upstream_unreachable",
}


@pytest.fixture(scope="module")
def chain() -> Iterator[GatewayChain]:
    with lagging_gateway_chain() as lagging:
        yield lagging


@pytest.fixture(scope="module")
def notary(tmp_path_factory: pytest.TempPathFactory, world: World) -> Iterator[NotaryProcess]:
    process = NotaryProcess(tmp_path_factory.mktemp("notary"), {PROVIDER: world.gateway_key()})
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
    world: World,
    chain: GatewayChain,
    loop: LoopThread,
    upstream: Upstream,
    notary: NotaryProcess,
) -> Iterator[LiveGateway]:
    live = LiveGateway(
        world, chain, loop, upstream.url, tmp_path_factory.mktemp("gateway"), notary_url=notary.url, crl_clock=CRL_CLOCK
    )
    yield live
    live.close()


@pytest.fixture
def caller(world: World) -> Iterator[Callable[..., Caller]]:
    """``caller(org, name="client")``: a Caller with that identity, closed after the test."""
    made: list[Caller] = []

    def make(org: str, name: str = "client") -> Caller:
        made.append(Caller(world, world.identity(org, name)))
        return made[-1]

    yield make
    for c in made:
        c.close()


def refused(answer: Answer, status: int, reason: str) -> None:
    assert (answer.status, answer.reason) == (status, reason), (answer.status, answer.body)
    assert answer.body["detail"], answer.body


# -- allowed ------------------------------------------------------------------------------------------------------


def test_an_allowed_call_reaches_the_upstream_and_its_event_the_notary(
    chain: GatewayChain,
    world: World,
    gateway: LiveGateway,
    upstream: Upstream,
    notary: NotaryProcess,
    caller: Callable[..., Caller],
) -> None:
    since, served = gateway.outbox.last_seq, len(upstream.served)
    answer = caller(GRANTEE).call(gateway.url)
    assert answer.status == 200 and answer.reason is None, answer.body
    assert answer.event_id is not None
    assert answer.body == {
        "method": METHOD, "path": ROUTE, "caller_org": GRANTEE, "event_id": answer.event_id, "bytes": 0,
    }  # fmt: skip
    assert upstream.served[served:] == [(METHOD, ROUTE, GRANTEE)]
    assert answer.headers["Consortium-Gateway"] == f"{PROVIDER}/gateway"
    assert answer.headers["Consortium-Log-Origin"] == "gateway-http-test/audit-log"
    assert answer.headers["traceparent"].startswith("00-")
    assert [h for h in FORGED_HEADERS if h in answer.headers] == [], answer.headers  # the service's own dropped

    events = gateway.recorded_since(since, notary)
    check_recorded(events, [answer], GRANTEE)
    (event,) = events
    assert (event["api"], event["route"], event["asset_id"], event["asset_version"]) == (API, ROUTE, ASSET, 1)
    assert event["grant_id"] == chain.grant_id and event["response_digest"] is not None
    assert notary.receipt(answer.event_id).status_code == 200
    # salted from the gateway's vault (schema version 2): the event's own salt recomputes its request digest
    vault = SaltVault.for_gateway_key(gateway.outbox.path.parent / "vault", PROVIDER, world.gateway_key())
    salt = vault.reveal(event["event_id"], event["time_ms"])
    assert event["v"] == 2 and request_digest(salt, METHOD, ROUTE, EMPTY_BODY_SHA256) == event["request_digest"]


def test_a_gateway_of_the_sm_suite_digests_with_hmac_sm3_and_an_intl_log_refuses_its_events(
    world: World,
    chain: GatewayChain,
    loop: LoopThread,
    upstream: Upstream,
    notary: NotaryProcess,
    caller: Callable[..., Caller],
    tmp_path: Path,
) -> None:
    """A gateway whose vault is of the ``sm`` suite records events of schema version 3: the salt is HKDF-SM3 of the
    day's epoch key, the digests HMAC-SM3 over SM3 body hashes and the caller identity the SM3 of the certificate,
    recomputed here with GmSSL and the plain-Python SM3, for an allowed call with a body and for a refusal the
    gateway answers itself. The notary's log is of the ``intl`` suite: it refuses the batch (422, the version named),
    the shipper raises the gateway's ``notary-refused`` alarm with the notary's reason, and the outbox keeps every
    event."""
    from gmssl_pyx import sm3_hmac

    from tests.support.sm3_reference import sm3

    live = LiveGateway(world, chain, loop, upstream.url, tmp_path, notary_url=notary.url, name="sm", suite="sm")
    try:
        client = caller(GRANTEE)
        assert client.identity is not None
        der = x509.load_pem_x509_certificate(client.identity.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        sent = b'{"symbols": ["600519.SH"]}'
        allowed = client.http.request(METHOD, live.url + ROUTE, headers={"Consortium-Purpose": PURPOSE}, content=sent)
        refused = client.http.request(METHOD, live.url + ROUTE, content=sent)  # no purpose: 403 purpose_missing
        assert (allowed.status_code, refused.status_code) == (200, 403), (allowed.text, refused.text)
        assert live.shipper is not None
        shipper = live.shipper
        error = str(wait_until(lambda: shipper.status()["refused"] and shipper.status()["last_error"], "a refusal", 20))
        assert "notary refused the batch: 422" in error
        assert "schema version 3 is of the 'sm' suite" in error and "this log is of the 'intl' suite" in error
        assert "notary-refused" in live.gateway.health()["alarms"]
        events = {(e := json.loads(data))["event_id"]: e for _, data in live.outbox.pending(100)}  # none shipped
        assert live.outbox.stats().pending == len(events) == 2
        vault = SaltVault.for_gateway_key(tmp_path / "vault", PROVIDER, world.gateway_key(), suite="sm")
        for answer in (allowed, refused):
            event = events[answer.headers["Consortium-Event-Id"]]
            salt = vault.reveal(event["event_id"], event["time_ms"])
            assert event["v"] == 3, event
            assert event["caller_identity"] == sm3(der).hex(), event  # SM3 of the caller's certificate
            request = f"{METHOD}\n{ROUTE}\n{sm3(sent).hex()}".encode()
            assert event["request_digest"] == sm3_hmac(salt, request).hex(), event
            response = f"{answer.status_code}\n{sm3(answer.content).hex()}".encode()
            assert event["response_digest"] == sm3_hmac(salt, response).hex(), event
            assert notary.receipt(event["event_id"]).status_code == 404
    finally:
        live.close()


# -- authentication: 403 once the handshake is done, or 401; no event ----------------------------------------------

#: reason → the identity presented (org, name), or a crafted certificate, or None for no certificate at all.
AUTH_CASES: dict[str, tuple[str, str] | str | None] = {
    "no_certificate": None,
    "certificate_expired": (GRANTEE, "expired"),
    "certificate_not_yet_valid": (GRANTEE, "early"),
    "not_an_identity": "no-eku",  # issued by beta's CA without any extended key usage
    "unknown_issuer": "other-ou",  # issued by alpha's CA, naming org beta
    "unknown_member": ("delta", "client"),  # in consortium.json, never admitted on chain
}


@pytest.mark.parametrize("reason", list(AUTH_CASES))
def test_a_caller_that_fails_authentication_is_refused_with_its_reason_and_no_event(
    reason: str, world: World, gateway: LiveGateway, upstream: Upstream, notary: NotaryProcess
) -> None:
    """A certificate the verdict refuses is answered 403 as soon as the handshake is done, the connection closed;
    no certificate at all is answered 401 at each request."""
    assert reason in REASONS
    case = AUTH_CASES[reason]
    identity = world.identity(*case) if isinstance(case, tuple) else None if case is None else world.crafted[case]
    since, served = gateway.outbox.last_seq, len(upstream.served)
    with Caller(world, identity) as c:
        answer = c.call(gateway.url)
    if case is None:
        refused(answer, 401, reason)
        assert answer.body["error"] == "unauthorized"
    else:
        refused(answer, 403, reason)
        assert answer.body["error"] == "forbidden" and answer.headers["Connection"] == "close"
    assert answer.event_id is None and "Consortium-Event-Id" not in answer.headers
    assert len(upstream.served) == served
    assert gateway.recorded_since(since, notary) == []


def test_a_certificate_no_member_ca_issued_fails_the_tls_handshake(
    world: World, gateway: LiveGateway, notary: NotaryProcess
) -> None:
    """unknown_issuer for a foreign CA is OpenSSL's answer over direct TLS: an alert, no HTTP answer at all."""
    since = gateway.outbox.last_seq
    with Caller(world, world.crafted["stranger"]) as c, pytest.raises(httpx.TransportError):
        c.call(gateway.url)
    assert gateway.recorded_since(since, notary) == []


def test_a_revoked_certificate_is_refused_within_a_second_of_its_crl(
    world: World, chain: GatewayChain, gateway: LiveGateway, notary: NotaryProcess, caller: Callable[..., Caller]
) -> None:
    purpose = "crl-check"
    wait_for_head(gateway.chain, chain.grant_block(chain.grant(GRANTEE, purpose)))
    since = gateway.outbox.last_seq
    revoked, colleague = caller(GRANTEE, "revoked"), caller(GRANTEE, "second")
    before = revoked.call(gateway.url, purpose=purpose)
    assert before.status == 200, before.body
    assert revoked.identity is not None
    revoke_identity(world.root, OrgId(GRANTEE), revoked.identity.pem(), PASS)
    CRL_CLOCK.shift += CRL_CHECK_INTERVAL_S  # a second on, by the clock the gateway times its CRL looks with
    answers = [revoked.call(gateway.url, purpose=purpose)]  # the first call then is refused
    refused(answers[-1], 401, "certificate_revoked")
    assert answers[-1].event_id is None
    refused(revoked.call(gateway.url, purpose=purpose), 401, "certificate_revoked")
    other = colleague.call(gateway.url, purpose=purpose)  # another certificate of the same org is unaffected
    assert other.status == 200, other.body
    check_recorded(gateway.recorded_since(since, notary), [before, *answers, other], GRANTEE)


# -- authorisation: 403 (or 413) with one event each ----------------------------------------------------------------


@dataclass(frozen=True)
class Denied:
    """A call the gateway must refuse, set up on chain by a case function."""

    org: str
    purpose: str | None
    route: str = ROUTE
    method: str = METHOD
    content: bytes | None = None
    status: int = 403
    grant_id: str | None = None  # the grant the event names
    allowed_first: int = 0  # calls that are allowed before the refused one
    midway: Callable[[], int] | None = None  # done after those, the connection kept; returns the block to wait for
    restore: Callable[[], int] | None = None  # undo the setup; returns the block to wait for


def _no_grant(chain: GatewayChain) -> Denied:
    return Denied(OTHER, PURPOSE)  # gamma holds no grant of eq-quotes


def _purpose_missing(chain: GatewayChain) -> Denied:
    return Denied(GRANTEE, None)


def _grant_revoked(chain: GatewayChain) -> Denied:
    grant = chain.grant(OTHER, "revoked-case")
    chain.revoke(grant, 4)
    return Denied(OTHER, "revoked-case", grant_id=grant)


def _grant_expired(chain: GatewayChain) -> Denied:
    grant = create_expired_grant(chain, OTHER, "expired-case")  # ten minutes ago by the gateway's clock
    return Denied(OTHER, "expired-case", grant_id=grant)


def _grant_not_yet_valid(chain: GatewayChain) -> Denied:
    now = chain.now()
    grant = chain.grant(OTHER, "future-case", not_before=now + 2 * LAG_S, expires_at=now + 3 * LAG_S)
    return Denied(OTHER, "future-case", grant_id=grant)


def _member_suspended(chain: GatewayChain) -> Denied:
    """A member suspended while its connection is open: the next call on it authenticates, and is refused by the
    grant check (a new connection is refused once its handshake is done, ``test_gateway_handshake``)."""
    chain.grant(GRANTEE, "suspended-case")
    return Denied(
        GRANTEE, "suspended-case", allowed_first=1, midway=lambda: chain.suspend(GRANTEE),
        restore=lambda: chain.reinstate(GRANTEE),
    )  # fmt: skip


def _provider_suspended(chain: GatewayChain) -> Denied:
    chain.suspend(PROVIDER)
    return Denied(GRANTEE, PURPOSE, restore=lambda: chain.reinstate(PROVIDER))


def _not_a_member(chain: GatewayChain) -> Denied:
    return Denied("reg", PURPOSE)  # the regulator is in the registry, without the MEMBER role


def _asset_retired(chain: GatewayChain) -> Denied:
    chain.register_asset("eq-archive")
    chain.register_api("archive-get", "/v1/archive", asset="eq-archive")
    chain.grant(GRANTEE, PURPOSE, asset="eq-archive")
    chain.retire_asset("eq-archive")  # its API stays in the map, so that the call is decided and recorded
    return Denied(GRANTEE, PURPOSE, route="/v1/archive")


def _quota_exhausted(chain: GatewayChain) -> Denied:
    grant = chain.grant(OTHER, "quota-case", quota=2)
    return Denied(OTHER, "quota-case", grant_id=grant, allowed_first=2)


def _body_too_large(chain: GatewayChain) -> Denied:
    body = b"x" * (1024 * 1024 + 1)  # the gateway's default limit is 1 MiB
    return Denied(GRANTEE, PURPOSE, route=SEARCH_ROUTE, method="POST", content=body, status=413)


DENIAL_CASES: dict[str, Callable[[GatewayChain], Denied]] = {
    "no_grant": _no_grant,
    "purpose_missing": _purpose_missing,
    "grant_revoked": _grant_revoked,
    "grant_expired": _grant_expired,
    "grant_not_yet_valid": _grant_not_yet_valid,
    "member_suspended": _member_suspended,
    "provider_suspended": _provider_suspended,
    "not_a_member": _not_a_member,
    "asset_retired": _asset_retired,
    "quota_exhausted": _quota_exhausted,
    "body_too_large": _body_too_large,
}


@pytest.mark.parametrize("reason", list(DENIAL_CASES))
def test_a_refused_call_gets_its_reason_and_exactly_one_event(
    reason: str,
    chain: GatewayChain,
    gateway: LiveGateway,
    upstream: Upstream,
    notary: NotaryProcess,
    caller: Callable[..., Caller],
) -> None:
    assert reason in GATEWAY_REASONS
    case = DENIAL_CASES[reason](chain)
    wait_for_head(gateway.chain, chain.head())
    since, served = gateway.outbox.last_seq, len(upstream.served)
    try:
        c = caller(case.org)
        answers = []
        for i in range(case.allowed_first + 1):
            if i == case.allowed_first and case.midway is not None:
                wait_for_head(gateway.chain, case.midway())
            answers.append(c.call(gateway.url, case.route, case.purpose, method=case.method, content=case.content))
    finally:
        if case.restore is not None:
            wait_for_head(gateway.chain, case.restore())
    *allowed, denied = answers
    assert [a.status for a in allowed] == [200] * case.allowed_first
    refused(denied, case.status, reason)
    assert denied.event_id is not None
    assert case.status != 403 or denied.body["error"] == "forbidden", denied.body
    assert len(upstream.served) == served + case.allowed_first  # a refused call never reaches the service
    events = gateway.recorded_since(since, notary)
    check_recorded(events, answers, case.org)
    event = events[-1]
    assert event["event_id"] == denied.event_id
    if case.grant_id is not None:
        assert event["grant_id"] == case.grant_id, event


@pytest.mark.parametrize(
    ("method", "route"),
    [
        (METHOD, "/v1/nothing-here"),  # no API at all
        ("POST", ROUTE),  # the method is part of the API
        (METHOD, ROUTE + "/"),  # routes match exactly
        (METHOD, RETIRED_ROUTE),  # a retired API
        (METHOD, OTHER_ROUTE),  # another org's API
    ],
)
def test_a_call_to_no_api_of_the_provider_is_404_without_an_event(
    method: str, route: str, gateway: LiveGateway, upstream: Upstream, notary: NotaryProcess,
    caller: Callable[..., Caller],
) -> None:  # fmt: skip
    since, served = gateway.outbox.last_seq, len(upstream.served)
    answer = caller(GRANTEE).call(gateway.url, route, method=method)
    refused(answer, 404, "unknown_api")
    assert answer.event_id is None
    assert len(upstream.served) == served
    assert gateway.recorded_since(since, notary) == []


# -- grant revocation ---------------------------------------------------------------------------------------------


def test_a_grant_revocation_takes_effect_on_the_first_call_after_its_block(
    chain: GatewayChain, gateway: LiveGateway, notary: NotaryProcess, caller: Callable[..., Caller]
) -> None:
    purpose = "revocation"
    grant = chain.grant(OTHER, purpose)
    wait_for_head(gateway.chain, chain.grant_block(grant))
    since = gateway.outbox.last_seq
    gamma = caller(OTHER)
    first = gamma.call(gateway.url, purpose=purpose)
    assert first.status == 200, first.body
    block = chain.revoke(grant, 2)  # returns once the block holding the revocation is sealed
    polls = gateway.chain.polls
    meanwhile: list[Answer] = []

    def two_polls_on() -> bool:  # the second poll to finish from now started after the block: it processed it
        meanwhile.append(gamma.call(gateway.url, purpose=purpose))
        return gateway.chain.polls >= polls + 2

    wait_until(two_polls_on, "two polls of the watcher after the revocation's block", 30.0, every=0.01)
    assert gateway.chain.head >= block, f"two polls after block {block} the watcher is at {gateway.chain.head}"
    after = gamma.call(gateway.url, purpose=purpose)
    print(f"revocation block {block}: {len(meanwhile)} calls while the watcher polled twice")
    refused(after, 403, "grant_revoked")
    statuses = [a.status == 200 for a in meanwhile]
    assert all(a.status == 200 or a.reason == "grant_revoked" for a in meanwhile)
    assert statuses == sorted(statuses, reverse=True), "a call was allowed after one was refused as revoked"
    events = gateway.recorded_since(since, notary)
    check_recorded(events, [first, *meanwhile, after], OTHER)
    assert events[-1]["grant_id"] == grant


# -- quota --------------------------------------------------------------------------------------------------------


def test_a_quota_of_20_admits_exactly_20_calls_of_50_concurrent_callers(
    world: World, chain: GatewayChain, gateway: LiveGateway, upstream: Upstream, notary: NotaryProcess
) -> None:
    quota, callers, purpose = 20, 50, "quota-race"
    grant = chain.grant(OTHER, purpose, quota=quota)
    wait_for_head(gateway.chain, chain.grant_block(grant))
    since, served = gateway.outbox.last_seq, len(upstream.served)
    start = threading.Barrier(callers)
    answers: list[list[Answer]] = [[] for _ in range(callers)]
    errors: list[BaseException] = []

    def call_until_refused(i: int) -> None:
        try:
            with Caller(world, world.identity(OTHER)) as c:
                assert c.call(gateway.url, "/v1/warm-up").status == 404  # the TLS handshake, before the race
                start.wait(30)
                while not answers[i] or answers[i][-1].status == 200:
                    answers[i].append(c.call(gateway.url, purpose=purpose))
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=call_until_refused, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    every = [a for mine in answers for a in mine]
    allowed = [a for a in every if a.status == 200]
    denied = [a for a in every if a.status != 200]
    assert len(allowed) == quota, f"{len(allowed)} calls allowed under a quota of {quota}"
    assert len(denied) == callers
    assert {(a.status, a.reason) for a in denied} == {(403, "quota_exhausted")}
    assert len(upstream.served) - served == quota
    assert gateway.outbox.quota_used(grant) == quota  # the count persisted in the outbox
    events = gateway.recorded_since(since, notary)
    check_recorded(events, every, OTHER)
    assert {e["grant_id"] for e in events} == {grant}


# -- the gateway's own limits -------------------------------------------------------------------------------------


def test_a_full_outbox_answers_503_and_records_nothing_more(
    world: World, chain: GatewayChain, loop: LoopThread, upstream: Upstream, tmp_path: Path,
    caller: Callable[..., Caller],
) -> None:  # fmt: skip
    """No notary: the outbox fills up at max_pending events, and from then on calls, allowed or not, are
    answered 503 outbox_full instead of going unrecorded."""
    full = LiveGateway(world, chain, loop, upstream.url, tmp_path, name="full", max_pending=3)
    try:
        beta = caller(GRANTEE)
        recorded = [beta.call(full.url), beta.call(full.url, purpose="marketing"), beta.call(full.url)]
        assert [a.status for a in recorded] == [200, 403, 200]
        served = len(upstream.served)
        for purpose in (PURPOSE, "marketing"):
            answer = beta.call(full.url, purpose=purpose)
            refused(answer, 503, "outbox_full")
            assert answer.event_id is None and answer.headers["Retry-After"]
        assert len(upstream.served) == served  # the allowed call was not forwarded either
        check_recorded(full.recorded_since(0), recorded, GRANTEE)
        assert full.gateway.health()["alarms"] == ["outbox-high"]
    finally:
        full.close()


def test_with_the_notary_down_a_full_outbox_answers_503_keeps_what_it_accepted_and_drains_when_it_returns(
    world: World, chain: GatewayChain, loop: LoopThread, upstream: Upstream, tmp_path: Path,
    caller: Callable[..., Caller],
) -> None:  # fmt: skip
    """A gateway whose shipper has a notary that is down (its process not started yet, its port fixed): the
    outbox fills at max_pending, then every call is answered 503 outbox_full, with its body and Retry-After,
    unrecorded and not forwarded. The notary starts: the shipper delivers every accepted event, none lost and
    none twice, the outbox drains, and calls are accepted again."""
    notary = NotaryProcess(tmp_path / "notary", {PROVIDER: world.gateway_key()})
    full = LiveGateway(
        world, chain, loop, upstream.url, tmp_path, notary_url=notary.url, name="draining", max_pending=3
    )
    try:
        beta = caller(GRANTEE)
        accepted = [beta.call(full.url), beta.call(full.url, purpose="marketing"), beta.call(full.url)]
        assert [a.status for a in accepted] == [200, 403, 200] and all(a.recorded for a in accepted)
        shipper = full.shipper
        assert shipper is not None
        wait_until(lambda: shipper.status()["consecutive_failures"] >= 1, "the shipper to fail", 20)
        served = len(upstream.served)
        answer = beta.call(full.url)
        assert (answer.status, answer.reason, answer.event_id) == (503, "outbox_full", None)
        assert answer.body == {
            "error": "unavailable",
            "reason": "outbox_full",
            "detail": "the gateway cannot record more calls until its outbox drains to the notary",
        }
        assert answer.headers["Retry-After"] == "5" and answer.headers[REASON_HEADER] == "outbox_full"
        assert len(upstream.served) == served  # not forwarded
        assert full.outbox.stats().pending == 3  # what was accepted is still there

        notary.start()
        assert shipper.drain(30), f"the outbox did not drain: {shipper.status()}"
        assert full.outbox.stats().pending == 0
        again = beta.call(full.url)
        assert again.status == 200 and again.recorded
        events = full.recorded_since(0, notary)
        check_recorded(events, [*accepted, answer, again], GRANTEE)
        assert [e["gateway_seq"] for e in events] == [1, 2, 3, 4]
        assert notary.gaps()["gaps"] == []
    finally:
        full.close()
        notary.stop()


def test_an_unreachable_chain_fails_closed_after_the_staleness_bound(
    world: World, loop: LoopThread, upstream: Upstream, tmp_path: Path, caller: Callable[..., Caller]
) -> None:
    """Within stale_s of the last successful poll the cached grant is honoured and a cache miss is refused
    (503 chain_unavailable, recorded); past it, membership cannot be checked: 503 without an event. The chain
    comes back and calls are allowed again. The view's clock is moved by hand: stale_s passes when the test says
    so, not while the machine is slow."""
    clock = Clock()
    with gateway_chain() as own:
        live = LiveGateway(world, own, loop, upstream.url, tmp_path, name="stale", stale_s=3.0, chain_clock=clock)
        try:
            beta = caller(GRANTEE)
            ok = beta.call(live.url)
            assert ok.status == 200, ok.body
            own.backend.server.stop()
            wait_until(lambda: not live.chain.health()["reachable"], "the watcher to notice", 30, every=0.005)
            clock.now += 3.0  # at the bound: not stale yet
            cached = beta.call(live.url)
            miss = beta.call(live.url, purpose="audit")
            assert not live.chain.health()["stale"]
            assert cached.status == 200, cached.body
            refused(miss, 503, "chain_unavailable")
            assert miss.event_id is not None and miss.body["error"] == "unavailable"
            clock.now += 0.001  # past it
            assert live.chain.health()["stale"]
            stale = beta.call(live.url)
            refused(stale, 503, "chain_unavailable")
            assert stale.event_id is None and stale.headers["Retry-After"]
            own.backend.server.start()
            wait_until(lambda: not live.chain.health()["stale"], "the chain to be back", 30, every=0.005)
            back = beta.call(live.url)
            assert back.status == 200, back.body
            check_recorded(live.recorded_since(0), [ok, cached, miss, stale, back], GRANTEE)
        finally:
            live.close()


# -- the demo traffic ---------------------------------------------------------------------------------------------


def test_the_demo_traffic_is_refused_for_each_kind_of_grant_it_meets(
    world: World, chain: GatewayChain, gateway: LiveGateway, tmp_path: Path
) -> None:
    """``consortium demo traffic`` against this gateway, with a revoked, an expired and a trial grant on chain
    besides the fixture's: every refusal it aims for comes back, and every answer is the one it expected."""
    revoked = chain.grant(OTHER, "traffic-revoked")
    chain.revoke(revoked, 1)
    create_expired_grant(chain, OTHER, "traffic-expired")
    chain.grant(OTHER, "traffic-trial", quota=3)
    wait_for_head(gateway.chain, chain.head())
    write_endpoints(world.root, {PROVIDER: gateway.url})
    passphrase = tmp_path / "passphrase"
    passphrase.write_bytes(PASS)
    since = gateway.outbox.last_seq
    args = ["traffic", str(world.root), "--rate", "300", "--duration", "3", "--deny-share", "0.7", "--seed", "3"]
    result = CliRunner().invoke(demo_group, [*args, "--json", "--passphrase-file", str(passphrase)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    print(summary)
    outcomes = summary["outcomes"]
    assert {"allow", "no_grant", "grant_revoked", "grant_expired", "quota_exhausted"} <= set(outcomes), outcomes
    assert summary["unexpected"] == 0, summary
    assert gateway.outbox.last_seq - since == summary["calls"]  # every call of the traffic was recorded


# -- the upstream fails or hangs: the circuit breaker ---------------------------------------------------------------


class MisbehavingUpstream:
    """An upstream whose behaviour the test switches: ``ok`` (200), ``fail`` (500) or ``hang`` (answers only
    once it is closed, however long the gateway waits)."""

    def __init__(self, loop: LoopThread) -> None:
        self.mode = "fail"
        self.reached = 0
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._loop = loop
        self._runner, port = loop.run(_serve(app))
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, _request: web.Request) -> web.Response:
        self.reached += 1
        if self.mode == "hang":
            await self._closing.wait()
        return web.json_response({"mode": self.mode}, status=500 if self.mode == "fail" else 200)

    def close(self) -> None:
        self._loop.loop.call_soon_threadsafe(self._closing.set)
        self._loop.run(self._runner.cleanup())


def test_the_circuit_breaker_cuts_off_a_failing_then_a_hanging_upstream_and_lets_it_back(
    tmp_path_factory: pytest.TempPathFactory,
    world: World,
    chain: GatewayChain,
    loop: LoopThread,
    caller: Callable[..., Caller],
) -> None:
    bad = MisbehavingUpstream(loop)
    live = LiveGateway(world, chain, loop, bad.url, tmp_path_factory.mktemp("breaker"), name="breaker",
                       settings={"upstream_timeout_s": 0.5})  # fmt: skip
    now = [1000.0]
    live.gateway.breaker = CircuitBreaker(threshold=3, cooldown_s=30.0, clock=lambda: now[0])
    try:
        since, client = live.outbox.last_seq, caller(GRANTEE)
        assert [client.call(live.url).status for _ in range(3)] == [500, 500, 500]  # the upstream's own 500s
        reached = bad.reached
        cut = client.call(live.url)
        refused(cut, 503, "circuit_open")
        assert cut.headers["Retry-After"] == "30" and cut.recorded and bad.reached == reached  # never reached
        assert live.gateway.health()["alarms"] == ["upstream-circuit-open"]

        bad.mode, now[0] = "hang", now[0] + 30.0  # the cooldown is over: one probe, and the upstream now hangs
        refused(client.call(live.url), 504, "upstream_timeout")
        refused(client.call(live.url), 503, "circuit_open")  # open again at once

        bad.mode, now[0] = "ok", now[0] + 30.0  # it recovers: the probe closes the breaker
        assert [client.call(live.url).status for _ in range(2)] == [200, 200]
        assert live.gateway.health()["upstream"] == {
            "state": "closed", "failures_in_a_row": 0, "opened": 2, "refused": 2,
        }  # fmt: skip
        events = live.recorded_since(since)
        assert [e["status"] for e in events] == [500, 500, 500, 503, 504, 503, 200, 200]  # every call, refusals too
        # the breaker's and the timeout's answers are no refusals of the grant: allowed, the status says the rest
        assert {(e["decision"], e["denial_reason"]) for e in events} == {("allow", None)}

        bad.mode = "hang"  # a hanging upstream alone opens it too: timeouts in a row, then no call reaches it
        assert [client.call(live.url).status for _ in range(3)] == [504, 504, 504]
        reached = bad.reached
        refused(client.call(live.url), 503, "circuit_open")
        assert bad.reached == reached and live.gateway.health()["upstream"]["opened"] == 3
        assert live.gateway.inflight.in_flight() == 0  # every path gave its slot back
    finally:
        live.close()
        bad.close()


# -- the caller's limit of calls in flight --------------------------------------------------------------------------


class HoldingUpstream:
    """An upstream that holds every request asking for it (``?hold``) until :meth:`release`, and answers the
    others at once. With ``?hold&stream`` it sends its status, headers and a first chunk, then holds the rest; with
    ``?cut`` it sends its status, headers (a body of ``CUT_LENGTH`` bytes, enough to be streamed by the gateway)
    and ``CUT_AFTER`` bytes of the body, then closes the connection."""

    CUT_LENGTH = 1024 * 1024
    CUT_AFTER = 64 * 1024

    def __init__(self, loop: LoopThread) -> None:
        self.waiting = 0  # requests held now
        self._loop = loop
        self._released = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, port = loop.run(_serve(app))
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if "cut" in request.query:
            response = web.StreamResponse()
            response.content_length = self.CUT_LENGTH
            await response.prepare(request)
            await response.write(b"x" * self.CUT_AFTER)
            assert request.transport is not None
            request.transport.close()  # what is written is sent, then the connection closes mid-body
            return response
        if "hold" not in request.query:
            return web.json_response({"held": False})
        self.waiting += 1
        try:
            if "stream" not in request.query:
                await self._released.wait()
                return web.json_response({"held": True})
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b"x" * 1024)
            await self._released.wait()
            await response.write(b"the end")
            await response.write_eof()
            return response
        finally:
            self.waiting -= 1

    def release(self) -> None:
        self._loop.loop.call_soon_threadsafe(self._released.set)

    def close(self) -> None:
        self.release()
        self._loop.run(self._runner.cleanup())


@pytest.fixture
def holding(loop: LoopThread) -> Iterator[HoldingUpstream]:
    service = HoldingUpstream(loop)
    yield service
    service.close()


def test_a_caller_over_its_limit_of_calls_in_flight_is_refused_at_once_recorded_and_alone(
    world: World, chain: GatewayChain, loop: LoopThread, holding: HoldingUpstream, tmp_path: Path,
    caller: Callable[..., Caller],
) -> None:  # fmt: skip
    """Three calls of beta wait at the upstream: the fourth is refused 429 at once (not queued) and recorded,
    gamma's call goes through meanwhile, and once the upstream answers, beta's calls pass again."""
    limit, purpose = 3, "in-flight"
    for org in (GRANTEE, OTHER):
        chain.grant(org, purpose)
    live = LiveGateway(world, chain, loop, holding.url, tmp_path, name="inflight", settings={"max_in_flight": limit})
    try:
        wait_for_head(live.chain, chain.head())
        beta = [caller(GRANTEE) for _ in range(limit + 1)]
        with ThreadPoolExecutor(limit) as pool:
            held = [pool.submit(c.call, live.url, ROUTE + "?hold", purpose) for c in beta[:limit]]
            wait_until(lambda: holding.waiting == limit, f"{limit} calls to wait at the upstream", 10)
            over = beta[limit].call(live.url, ROUTE + "?hold", purpose)
            refused(over, 429, "too_many_in_flight")
            # answered while the three are still held at the upstream: it did not wait for one of them to end
            assert holding.waiting == limit and not any(f.done() for f in held), "the call over the limit waited"
            assert over.recorded and over.headers["Retry-After"] == "1" and over.body["error"] == "too_many_requests"
            other = caller(OTHER).call(live.url, purpose=purpose)
            assert other.status == 200, other.body
            assert live.gateway.health()["in_flight"] == {
                "limit_per_caller": limit, "in_flight": {GRANTEE: limit}, "refused": 1,
            }  # fmt: skip
            holding.release()
            answers = [f.result(30) for f in held]
        assert [a.status for a in answers] == [200] * limit
        wait_until(lambda: live.gateway.inflight.in_flight() == 0, "every slot to be given back", 30)
        again = [c.call(live.url, ROUTE + "?hold", purpose) for c in beta]
        assert [a.status for a in again] == [200] * (limit + 1)
        check_recorded(live.recorded_since(0), [*answers, over, other, *again])
    finally:
        live.close()


def test_a_caller_that_goes_away_mid_response_frees_its_slot(
    world: World, chain: GatewayChain, loop: LoopThread, holding: HoldingUpstream, tmp_path: Path,
    caller: Callable[..., Caller],
) -> None:  # fmt: skip
    """A limit of one: beta's streamed answer has begun and the upstream holds the rest; beta hangs up. The
    gateway notices without waiting for the upstream, records the call as 499 with no response digest, and
    beta's next call is admitted while the upstream still holds the first."""
    purpose = "in-flight-gone"
    chain.grant(GRANTEE, purpose)
    live = LiveGateway(world, chain, loop, holding.url, tmp_path, name="inflight-gone", settings={"max_in_flight": 1})
    try:
        wait_for_head(live.chain, chain.head())
        first, second = caller(GRANTEE), caller(GRANTEE)
        headers = {"Consortium-Purpose": purpose}
        with first.http.stream("GET", live.url + ROUTE + "?hold&stream", headers=headers) as response:
            assert response.status_code == 200
            event_id = response.headers["Consortium-Event-Id"]
            assert live.gateway.inflight.in_flight(GRANTEE) == 1
            refused(second.call(live.url, purpose=purpose), 429, "too_many_in_flight")
        # leaving the block unread closes the connection: the caller went away mid-response
        wait_until(lambda: live.gateway.inflight.in_flight() == 0, "the slot to be given back", 30)
        assert holding.waiting == 1  # the upstream never finished: the slot came back because the caller left
        assert second.call(live.url, purpose=purpose).status == 200
        gone = next(e for e in live.recorded_since(0) if e["event_id"] == event_id)
        assert (gone["decision"], gone["status"], gone["response_digest"]) == ("allow", 499, None)
        assert live.gateway.health()["upstream"]["failures_in_a_row"] == 0  # the upstream is not to blame
    finally:
        live.close()


@pytest.mark.parametrize("store", ["outbox", "postgresql"])
def test_a_call_whose_streamed_answer_the_upstream_cuts_off_counts_once_against_its_quota(
    store: str, request: pytest.FixtureRequest, world: World, chain: GatewayChain, loop: LoopThread,
    holding: HoldingUpstream, tmp_path: Path, caller: Callable[..., Caller],
) -> None:  # fmt: skip
    """A quota of 2, counted in the outbox or in PostgreSQL. Beta's first call is streamed and held at the
    upstream; its second call's answer (streamed: over 256 KiB) is cut off by the upstream mid-body. The caller
    sees a broken connection; the call is recorded allowed with status 502 and no response digest, and it counts:
    the service did the work, as for a call whose upstream fails before answering. Counted once, not counted and
    then given back too: so while the first call is still in flight the third is refused ``quota_exhausted``, and
    afterwards the store and the outbox hold exactly the two calls admitted."""
    purpose = f"cut-off-{store}"
    grant = chain.grant(GRANTEE, purpose, quota=2)
    shared = PostgresQuota(request.getfixturevalue("postgres").create_database("quota")) if store != "outbox" else None
    live = LiveGateway(world, chain, loop, holding.url, tmp_path, name=f"cut-{store}", quota=shared)
    try:
        wait_for_head(live.chain, chain.grant_block(grant))
        first, second, third = caller(GRANTEE), caller(GRANTEE), caller(GRANTEE)
        headers = {"Consortium-Purpose": purpose}
        with first.http.stream("GET", live.url + ROUTE + "?hold&stream", headers=headers) as held:
            assert held.status_code == 200  # forwarded: one unit taken
            with second.http.stream("GET", live.url + ROUTE + "?cut", headers=headers) as cut:
                assert cut.status_code == 200 and cut.headers["Content-Length"] == str(HoldingUpstream.CUT_LENGTH)
                cut_id = cut.headers["Consortium-Event-Id"]
                with pytest.raises(httpx.RemoteProtocolError):
                    cut.read()
            wait_until(lambda: live.gateway.inflight.in_flight(GRANTEE) == 1, "the cut-off call to end", 10)
            if shared is not None:
                assert shared.used(grant) == 2  # the cut-off call's unit stays used
            refused(third.call(live.url, purpose=purpose), 403, "quota_exhausted")
            holding.release()
            assert held.read() == b"x" * 1024 + b"the end"
        wait_until(lambda: live.gateway.inflight.in_flight() == 0, "every call to end", 10)
        events = {e["event_id"]: e for e in live.recorded_since(0)}
        cut_event = events[cut_id]
        assert (cut_event["decision"], cut_event["status"], cut_event["response_digest"]) == ("allow", 502, None)
        assert cut_event["grant_id"] == grant
        assert [e["status"] for e in events.values()] == [502, 403, 200]
        assert live.outbox.quota_used(grant) == 2  # the events counted: the cut-off call and the first
        if shared is not None:
            assert shared.used(grant) == 2
        refused(third.call(live.url, purpose=purpose), 403, "quota_exhausted")
    finally:
        live.close()
        if shared is not None:
            shared.close()


def test_a_call_whose_caller_hangs_up_mid_answer_counts_once_against_its_quota(
    world: World, chain: GatewayChain, loop: LoopThread, holding: HoldingUpstream, tmp_path: Path,
    caller: Callable[..., Caller],
) -> None:  # fmt: skip
    """A quota of 2, counted in the outbox. Beta's two calls are streamed and held at the upstream; beta hangs up
    on the second mid-answer. It is recorded allowed with status 499 and no response digest, and it counts once,
    like the call the upstream cuts off: while the first is still in flight the third is refused
    ``quota_exhausted``, and afterwards the outbox holds exactly the two calls admitted."""
    purpose = "hung-up-outbox"
    grant = chain.grant(GRANTEE, purpose, quota=2)
    live = LiveGateway(world, chain, loop, holding.url, tmp_path, name="hung-up")
    try:
        wait_for_head(live.chain, chain.grant_block(grant))
        first, second, third = caller(GRANTEE), caller(GRANTEE), caller(GRANTEE)
        headers = {"Consortium-Purpose": purpose}
        with first.http.stream("GET", live.url + ROUTE + "?hold&stream", headers=headers) as held:
            assert held.status_code == 200  # forwarded: one unit taken
            with second.http.stream("GET", live.url + ROUTE + "?hold&stream", headers=headers) as gone:
                assert gone.status_code == 200
                gone_id = gone.headers["Consortium-Event-Id"]
            # leaving the block unread closes the connection: the caller hung up mid-answer
            wait_until(lambda: live.gateway.inflight.in_flight(GRANTEE) == 1, "the hung-up call to end", 10)
            refused(third.call(live.url, purpose=purpose), 403, "quota_exhausted")
            holding.release()
            assert held.read() == b"x" * 1024 + b"the end"
        wait_until(lambda: live.gateway.inflight.in_flight() == 0, "every call to end", 10)
        events = {e["event_id"]: e for e in live.recorded_since(0)}
        gone_event = events[gone_id]
        assert (gone_event["decision"], gone_event["status"], gone_event["response_digest"]) == ("allow", 499, None)
        assert [e["status"] for e in events.values()] == [499, 403, 200]
        assert live.outbox.quota_used(grant) == 2  # the events counted: the hung-up call and the first
        refused(third.call(live.url, purpose=purpose), 403, "quota_exhausted")
    finally:
        live.close()


# -- a PSI job's request step: the body limit its terms give ---------------------------------------------------


def test_a_psi_request_may_be_as_large_as_its_terms_allow_and_no_larger(
    world: World, chain: GatewayChain, loop: LoopThread, upstream: Upstream, tmp_path: Path,
    caller: Callable[..., Caller],
) -> None:  # fmt: skip
    """An identifier set whose PSI terms allow 35,000 identifiers: a request of 35,000 elements (1.2 MB, over the
    gateway's 1 MiB limit for every other call) is forwarded whole; a body one byte over what a request of 35,000
    can take is refused 413 ``body_too_large`` and recorded, whether it declares its length or is sent chunked;
    the terms and record steps of the same asset keep 1 MiB."""
    cap, asset, steps, purpose = 35_000, "big-ids", "/v1/privacy/big-ids", "psi-scale"
    kem = X25519PrivateKey.generate()
    terms = PsiAssetTerms(asset, PROVIDER, PROTOCOL, cap, kem.public_key().public_bytes_raw(), steps)
    document = format_asset_terms(terms)
    chain.consortium.assets.register_asset(
        chain.signers[PROVIDER], asset, AssetKind.DATASET, digest("big ids"), terms_digest(document), 4
    )
    for step, method in STEP_METHODS.items():
        chain.register_api(f"big-ids-{step}", terms.route(step), method, asset=asset)
    grant_id = chain.grant(GRANTEE, purpose, asset=asset)
    # a client's real header; the payload padded with elements up to the cap (the gateway counts, it cannot decrypt)
    client = PsiClient(
        JobTerms("job-big", grant_id, purpose, cap), GRANTEE, Ed25519PrivateKey.generate().public_key(),
        ["ACCT:1", "ACCT:2"], kem.public_key(),
    )  # fmt: skip
    header, _payload = _parse_message(client.request(), "request")
    padded = openmined_psi.Request(encrypted_elements=[os.urandom(33) for _ in range(cap)], reveal_intersection=True)
    request = _format_message(header, padded.SerializeToString())
    limit = max_request_bytes(cap)
    assert 1024 * 1024 < len(request) <= limit
    guard = PsiGuard({asset: document}, PROVIDER)
    live = LiveGateway(world, chain, loop, upstream.url, tmp_path, name="psi-scale", psi=guard)
    try:
        wait_for_head(live.chain, chain.head())
        c = caller(GRANTEE)
        since = live.gateway.outbox.last_seq
        allowed = c.call(live.url, terms.route("request"), purpose, method="POST", content=request)
        assert allowed.status == 200 and allowed.body["bytes"] == len(request), allowed.body
        over = c.call(live.url, terms.route("request"), purpose, method="POST", content=b"\0" * (limit + 1))
        refused(over, 413, "body_too_large")
        assert f"over {limit:,} bytes" in over.body["detail"] and "35,000 identifiers" in over.body["detail"]
        headers = {"Consortium-Purpose": purpose}
        chunks = (b"\0" * 65536 for _ in range(limit // 65536 + 1))  # no Content-Length: counted as it arrives
        streamed = c.http.post(live.url + terms.route("request"), headers=headers, content=chunks)
        assert (streamed.status_code, streamed.json()["reason"]) == (413, "body_too_large"), streamed.text
        record = c.call(live.url, terms.route("record"), purpose, method="POST", content=b"{" * (1024 * 1024 + 1))
        refused(record, 413, "body_too_large")
        events = live.recorded_since(since)
        streamed_answer = Answer(413, "body_too_large", streamed.headers["Consortium-Event-Id"], streamed.headers, None)
        check_recorded(events, [allowed, over, streamed_answer, record], GRANTEE)
        assert [e["api"] for e in events] == ["big-ids-request"] * 3 + ["big-ids-record"]
    finally:
        live.close()


# -- a PSI job's record step: what the event records of the owner's answer -------------------------------------


class RecordUpstream:
    """An owner's service that answers every call with ``answer`` (200, JSON), whatever it was sent."""

    def __init__(self, loop: LoopThread) -> None:
        self.answer = b"{}"
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, port = loop.run(_serve(app))
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=self.answer, content_type="application/json")

    def close(self) -> None:
        self._loop.run(self._runner.cleanup())


def signed_job(terms: PsiAssetTerms, kem: X25519PrivateKey, job: JobTerms) -> tuple[bytes, SignedRecord]:
    """A real job of GRANTEE against the asset's owner, run in process: the record step's body (the record and the
    client's signature) and the record signed by both, as the owner's service answers it."""
    client_key, server_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    ids = [f"ACCT:{n}" for n in range(12)]
    client = PsiClient(job, GRANTEE, client_key.public_key(), ids[:8], kem.public_key())
    server = PsiServer(job, terms.org, server_key.public_key(), ids[5:], kem)
    record = client.finish(server.respond(client.request())).record
    signed = SignedRecord(record, sign_record(record, "client", client_key), sign_record(record, "server", server_key))
    return format_record_step(record, signed.client_signature), signed


def test_a_record_step_records_the_answers_digest_and_summary_and_refuses_an_answer_that_is_not_the_record(
    world: World, chain: GatewayChain, loop: LoopThread, tmp_path: Path, caller: Callable[..., Caller]
) -> None:
    """The owner answers the record step with the record the gateway forwarded, signed by both: the event names its
    SHA-256 and its summary (counts, roots, digests, keys, signatures; no job id, purpose or identifier). An answer
    that is another job's record, or larger than a signed record may be, is not passed on: 502
    ``psi_record_mismatch``, recorded without a record."""
    asset, steps, purpose = "summary-ids", "/v1/privacy/summary-ids", "psi-summary"
    kem = X25519PrivateKey.generate()
    terms = PsiAssetTerms(asset, PROVIDER, PROTOCOL, 100, kem.public_key().public_bytes_raw(), steps)
    document = format_asset_terms(terms)
    chain.consortium.assets.register_asset(
        chain.signers[PROVIDER], asset, AssetKind.DATASET, digest("summary ids"), terms_digest(document), 4
    )
    for step, method in STEP_METHODS.items():
        chain.register_api(f"summary-ids-{step}", terms.route(step), method, asset=asset)
    grant_id = chain.grant(GRANTEE, purpose, asset=asset)
    body, signed = signed_job(terms, kem, JobTerms("job-summary", grant_id, purpose, 100))
    _other_body, other = signed_job(terms, kem, JobTerms("job-other", grant_id, purpose, 100))
    owner = RecordUpstream(loop)
    guard = PsiGuard({asset: document}, PROVIDER)
    live = LiveGateway(world, chain, loop, owner.url, tmp_path, name="psi-summary", psi=guard)
    try:
        wait_for_head(live.chain, chain.head())
        c = caller(GRANTEE)
        since = live.gateway.outbox.last_seq
        owner.answer = format_signed_record(signed)
        genuine = c.call(live.url, terms.route("record"), purpose, method="POST", content=body)
        assert genuine.status == 200, genuine.body
        answers = {"another job's record": format_signed_record(other), "oversized": b" " * (MAX_RECORD_BYTES + 1)}
        refused_answers = {}
        for case, answer in answers.items():
            owner.answer = answer
            refused_answers[case] = c.call(live.url, terms.route("record"), purpose, method="POST", content=body)
            refused(refused_answers[case], 502, "psi_record_mismatch")
        assert "another job" in refused_answers["another job's record"].body["detail"]
        assert f"over the {MAX_RECORD_BYTES:,} bytes" in refused_answers["oversized"].body["detail"]
        events = live.recorded_since(since)
        assert [e["event_id"] for e in events] == [
            genuine.event_id, *(a.event_id for a in refused_answers.values())
        ]  # fmt: skip
        first, *rest = events
        assert first["psi_job"] == job_tag(grant_id, "job-summary") and first["status"] == 200
        assert first["psi_record"] == hashlib.sha256(format_signed_record(signed)).hexdigest()
        assert first["psi_summary"] == format_summary(signed)
        summary = json.loads(first["psi_summary"])
        assert (summary["client"]["input_count"], summary["server"]["input_count"], summary["result"]["count"]) == (
            8, 7, 3
        )  # fmt: skip
        assert "job-summary" not in first["psi_summary"] and "ACCT:" not in first["psi_summary"]
        for event in rest:
            assert (event["decision"], event["status"]) == ("allow", 502), event
            assert "psi_record" not in event and "psi_summary" not in event, event
            assert event["psi_job"] == job_tag(grant_id, "job-summary")
    finally:
        live.close()
        owner.close()
