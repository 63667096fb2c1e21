"""The member SDK against a real notary: receipts, evidence bundles and offline verification.

The world is a real consortium on loopback: ``init_consortium`` writes the identities and ``consortium.json``,
the consortium's node runs as a child process, each member's witness serves over HTTP, and the notary (built
from the consortium directory by ``network.logsetup``) runs its checkpoint and anchor loops and serves its API
with uvicorn. The gateway is not part of this test: its role, shipping signed batches of events, is played
here exactly as the gateway's shipper does it (``encode_batch``, ``sign_batch_body`` with the org's gateway
key, ``POST /v1/batches``). A second notary of the same consortium that never publishes shows what the SDK says
while a checkpoint is pending.

``MemberClient.call`` is exercised over real mutual TLS against the demo upstream services, served with a
server certificate from a member CA and requiring a client certificate; the gateway's own answers (event
headers, denial bodies) are covered by the ``CallResult`` test here and end to end with the gateway's tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import ipaddress
import os
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chain.ids import OrgId
from demo import demo_config_path
from demo.services import make_app
from network.config import load_config, parse_config
from network.consortium import init_consortium
from network.description import ConsortiumDescription
from network.identity import OrgPaths, load_gateway_key, load_witness_key
from network.localchain import LocalChain, free_port, start_node
from network.logsetup import (
    log_origin,
    log_verifier,
    notary_settings,
    read_access,
    roots_from_description,
    witness_name,
    witness_orgs,
)
from notary.api import create_app
from notary.bundle import EvidenceBundle
from notary.receipt import Receipt, verify_receipt
from notary.sequencer import batch_request
from notary.service import NotaryService
from notary.verify import STEP_NAMES
from notary.witness.server import WitnessConfig, WitnessServer, make_server
from notary.witness.state import init_witness
from sdk import (
    CA_BUNDLE_NAME,
    CallDeniedError,
    CallResult,
    ConfigurationError,
    EvidenceNotReadyError,
    MemberClient,
    NotaryResponseError,
    NotReceiptedError,
    TransportError,
    VerificationFailedError,
    ca_bundle_pem,
)
from tests.support.apiserver import ApiServer
from tests.support.clock import Clock
from tests.support.notary_events import event
from tests.support.small_consortium import three_member_config

PASSPHRASE = b"sdk-test-passphrase-4711"
CHAIN_ID = 20263
GATEWAY_ORG = "alpha"
GATEWAY_ID = f"{GATEWAY_ORG}/gw-1"
DEADLINE = 30.0

CONFIG = three_member_config("sdk-test", CHAIN_ID)


@dataclass
class Notary:
    """One notary service and its API, and the next gateway sequence number to ship to it."""

    service: NotaryService
    api: ApiServer
    next_seq: int = 1

    @property
    def url(self) -> str:
        return self.api.url

    def close(self) -> None:
        self.api.stop()
        self.service.stop()


@dataclass
class World:
    directory: Path
    description: ConsortiumDescription
    chain: LocalChain
    witnesses: list[tuple[WitnessServer, threading.Thread]]
    notary: Notary
    paused: Notary  # never publishes a checkpoint: its loops are not started

    def ship(self, notary: Notary, count: int = 1, event_ids: list[str] | None = None) -> list[str]:
        """Ship ``count`` new events to ``notary`` as the gateway of ``alpha`` does: one signed batch."""
        now = int(time.time() * 1000)
        ids = event_ids or [str(uuid.uuid4()) for _ in range(count)]
        events = [
            event(
                event_id=ids[i],
                gateway_id=GATEWAY_ID,
                gateway_seq=notary.next_seq + i,
                provider_org=GATEWAY_ORG,
                caller_org="op",
                time_ms=now,
            )
            for i in range(count)
        ]
        notary.next_seq += count
        key = load_gateway_key(self.directory, OrgId(GATEWAY_ORG), PASSPHRASE)
        body, headers = batch_request(GATEWAY_ID, events, key)
        response = httpx.post(f"{notary.url}/v1/batches", content=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return [e["event_id"] for e in events]

    def client(self, notary: Notary | None = None, org: str = "op", waits: Waits | None = None) -> MemberClient:
        """``org``'s client; with ``waits``, its polls count time on that clock instead of the machine's."""
        if waits is None:
            return MemberClient.from_directory(
                self.directory, org, name="Admin", passphrase=PASSPHRASE, notary_url=(notary or self.notary).url
            )
        return MemberClient.from_directory(
            self.directory,
            org,
            name="Admin",
            passphrase=PASSPHRASE,
            notary_url=(notary or self.notary).url,
            clock=waits.clock,
            sleep=waits.sleep,
        )


class Waits:
    """The client's clock and pauses, by hand: a pause moves the clock on at once and is recorded; ``between``
    runs after the first pause (what happens while the client waits)."""

    def __init__(self, between: Callable[[], object] | None = None) -> None:
        self.clock = Clock(0.0)
        self.pauses: list[float] = []
        self.between = between

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.now += seconds
        if len(self.pauses) == 1 and self.between is not None:
            self.between()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("sdk") / "consortium"
    description = init_consortium(directory, parse_config(CONFIG), PASSPHRASE)
    chain = start_node(directory, CHAIN_ID, PASSPHRASE, block_time=0.05)
    witnesses: list[tuple[WitnessServer, threading.Thread]] = []
    started: list[Notary] = []
    origin = log_origin(description)
    try:
        urls = {}
        for org in witness_orgs(description):
            state = directory / "witnesses" / org / "witness.db"
            init_witness(state, origin)
            config = WitnessConfig(
                name=witness_name(description, org),
                private_key=load_witness_key(directory, OrgId(org), PASSPHRASE),
                state_path=state,
                logs={origin: [log_verifier(description)]},
            )
            server = make_server(config, "127.0.0.1", 0)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            witnesses.append((server, thread))
            urls[org] = f"http://127.0.0.1:{server.server_address[1]}"
        settings = notary_settings(
            directory, description, PASSPHRASE, urls, chain_url=chain.url, anchor_interval=0, checkpoint_interval=0.2
        )
        service = NotaryService(settings)
        service.start()
        access = read_access(directory, description)  # reads authenticated: the SDK signs as <org>/sdk
        started.append(Notary(service, ApiServer(create_app(service, access))))
        quiet = NotaryService(dataclasses.replace(settings, directory=directory / "paused-notary", anchor=None))
        started.append(Notary(quiet, ApiServer(create_app(quiet, access))))
    except BaseException:
        for notary in started:
            notary.close()
        for server, _ in witnesses:
            server.shutdown()
            server.server_close()
        chain.stop()
        raise
    yield World(directory, description, chain, witnesses, started[0], started[1])
    for notary in started:
        notary.close()
    for server, thread in witnesses:
        server.shutdown()
        server.server_close()
        thread.join(5)
    chain.stop()


# -- CallResult ----------------------------------------------------------------------------------------------------


def test_call_result_reads_the_gateway_headers_and_denial_bodies() -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers = {
        "Consortium-Event-Id": "8b0c2c6e-3f0e-4a57-9b7e-2f4f7d3c9a10",
        "Consortium-Log-Origin": "sdk-test/audit-log",
        "Consortium-Gateway": "alpha/gw-1",
        "traceparent": trace,
    }
    denial = {"error": "forbidden", "reason": "no_grant", "detail": "no grant of financial-news", "event_id": "x"}
    reason = {"Consortium-Denial-Reason": "no_grant"}  # the gateway sends a refusal's reason in both
    denied = CallResult.from_response(httpx.Response(403, headers={**headers, **reason}, json=denial))
    assert (denied.status, denied.event_id, denied.log_origin) == (
        403,
        headers["Consortium-Event-Id"],
        headers["Consortium-Log-Origin"],
    )
    assert (denied.gateway_id, denied.traceparent) == ("alpha/gw-1", trace)
    assert (denied.denial_reason, denied.denial_detail, denied.ok) == ("no_grant", "no grant of financial-news", False)
    with pytest.raises(CallDeniedError, match="403: no_grant") as raised:
        denied.raise_for_denial()
    assert raised.value.result is denied

    unauthenticated = CallResult.from_response(
        httpx.Response(
            401,
            headers={"Consortium-Denial-Reason": "certificate_expired"},
            json={"error": "unauthorized", "reason": "certificate_expired", "detail": "expired"},
        )
    )
    assert unauthenticated.denial_reason == "certificate_expired" and unauthenticated.event_id is None
    unavailable = CallResult.from_response(
        httpx.Response(
            503, headers={"Consortium-Denial-Reason": "chain_unavailable"}, json={"reason": "chain_unavailable"}
        )
    )
    assert unavailable.denial_reason == "chain_unavailable"
    own = CallResult.from_response(httpx.Response(403, headers=headers, json=denial))  # the service's own 403
    assert own.denial_reason is None and own.raise_for_denial() is own

    allowed = CallResult.from_response(httpx.Response(200, headers=headers, json={"reason": "a field of the data"}))
    assert allowed.ok and allowed.denial_reason is None and allowed.raise_for_denial() is allowed
    assert allowed.json() == {"reason": "a field of the data"}
    for odd in (httpx.Response(403, content=b"<html>forbidden</html>"), httpx.Response(503, json=["reason"])):
        result = CallResult.from_response(odd)
        assert result.denial_reason is None and result.event_id is None and result.traceparent is None
    assert CallResult.from_response(httpx.Response(403, json={"reason": 7})).denial_reason is None


# -- receipts ---------------------------------------------------------------------------------------------------------


def test_receipt_polls_until_the_gateway_has_shipped_the_event(world: World) -> None:
    # The gateway names the event in its answer before its shipper sends the batch: the caller may ask first.
    event_id = str(uuid.uuid4())
    waits = Waits(between=lambda: world.ship(world.notary, event_ids=[event_id]))  # shipped while it waits
    with world.client(waits=waits) as client:
        receipt = client.receipt(event_id, wait_s=10)
    assert waits.pauses  # the first ask found nothing: the client waited and asked again
    assert receipt.event_id == event_id
    statement = verify_receipt(receipt.receipt(), log_verifier(world.description))
    assert statement.origin == log_origin(world.description) == receipt.origin
    assert statement.first <= receipt.index < statement.first + statement.count
    assert Receipt.from_json(receipt.to_json()) == receipt.receipt()  # the notary's JSON, written back as read


def test_receipt_of_an_event_never_shipped_raises_after_the_wait(world: World) -> None:
    event_id = str(uuid.uuid4())
    waits = Waits()
    with world.client(waits=waits) as client, pytest.raises(NotReceiptedError, match=event_id) as raised:
        client.receipt(event_id, wait_s=0.3)
    assert sum(waits.pauses) == pytest.approx(0.3)  # it waited the whole 0.3 s, and no longer
    assert raised.value.event_id == event_id and raised.value.waited_s == pytest.approx(0.3)


def test_receipts_are_read_signed_by_the_org_and_refused_unsigned(world: World) -> None:
    [event_id] = world.ship(world.notary)
    for org in ("op", "alpha", "reg"):  # the caller, the provider and the regulator
        with world.client(org=org) as client:
            assert client.receipt(event_id, wait_s=5).event_id == event_id
    with world.client() as client:
        client.notary_auth = None
        with pytest.raises(NotaryResponseError, match="401") as refused:
            client.receipt(event_id, wait_s=0)
    assert refused.value.status == 401


# -- evidence ---------------------------------------------------------------------------------------------------------


def test_evidence_waits_for_a_cosigned_checkpoint_then_for_the_anchor_and_verifies(world: World) -> None:
    [event_id] = world.ship(world.notary)
    with world.client() as client:
        published = client.evidence(event_id, wait_s=DEADLINE)
        assert isinstance(published, EvidenceBundle) and EvidenceBundle.from_json(published.to_json()) == published
        assert published.event_id == event_id
        assert published.checkpoint is not None and published.checkpoint.size > published.index
        report = MemberClient.verify(published, world.description, chain=world.chain.url)
        assert report.ok and report.event_id == event_id
        assert [report.step(n).ok for n in STEP_NAMES[:6]] == [True] * 6
        if published.anchor is None:  # the anchor usually follows a moment later
            assert not report.complete and "seals" in report.pending

        anchored = client.evidence(event_id, wait_s=DEADLINE, anchored=True)
    assert anchored.anchor is not None and anchored.pending == ()
    report = MemberClient.verify(anchored, world.description, chain=world.chain.url)
    assert report.complete, report.to_text()
    assert "sealed by 1 of 1 validators" in report.step("seals").detail
    # the cosignatures counted under the witness keys, the checkpoint checked under the log key (genesis recorded
    # it in the TrustDirectory), both valid on chain at the anchor's block: one lookup, proven from the founders
    # (the directory's records in the state of the head, the statuses in the anchor block's)
    block = anchored.anchor.block.number
    keys = report.witness_keys
    assert keys is not None
    proven = re.compile(rf", the records proven in the state of block \d+ and the statuses in block {block}'s$")
    assert {k: keys[k] for k in ("source", "block", "anchored", "log_key")} == {
        "source": "chain", "block": block, "anchored": True, "log_key": "chain",
    }  # fmt: skip
    detail, log_key = str(keys["detail"]), str(keys["log_key_detail"])
    assert detail.startswith(f"witness keys valid on chain at block {block} (the anchor's block), of members active "
                             "then") and proven.search(detail), keys  # fmt: skip
    assert log_key.startswith(f"log key valid on chain at block {block} (the anchor's block)"), keys
    assert proven.search(log_key), keys
    assert report.step("cosignatures").detail.endswith(f"counted under the {detail}")
    assert report.step("checkpoint").detail.endswith(f"under the {log_key}")
    offline = MemberClient.verify(anchored, world.description, offline=True)
    assert offline.complete and offline.witness_keys is not None and offline.witness_keys["source"] == "consortium.json"
    assert offline.witness_keys["log_key"] == "consortium.json"
    assert "log key of consortium.json, trusted because the file says so (offline)" in offline.step("checkpoint").detail
    assert report.to_text().endswith(f"evidence of {event_id!r} verified")


def test_a_tampered_bundle_fails_verification_naming_the_step(world: World) -> None:
    [event_id] = world.ship(world.notary)
    with world.client() as client:
        bundle = client.evidence(event_id, wait_s=DEADLINE, anchored=True).to_json()  # the JSON, to tamper with
    inclusion = bundle["inclusion"]
    assert inclusion is not None
    proof = inclusion["proof"]
    assert proof, "a tree of one leaf has no proof to tamper with"
    raw = bytearray(base64.b64decode(proof[0]))
    raw[0] ^= 0x80
    proof[0] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(VerificationFailedError, match="does NOT verify: inclusion") as raised:
        MemberClient.verify(bundle, world.description, chain=world.chain.url)
    report = raised.value.report
    assert report.failed == ("inclusion",) and not report.ok
    assert "✗ inclusion — " in report.to_text()
    unchecked = MemberClient.verify(bundle, world.description, check=False, chain=world.chain.url)
    assert unchecked.failed == ("inclusion",)


def test_verify_takes_trust_roots_too(world: World) -> None:
    [event_id] = world.ship(world.notary)
    with world.client() as client:
        bundle = client.evidence(event_id, wait_s=DEADLINE, anchored=True)
    roots = roots_from_description(world.description)
    assert MemberClient.verify(bundle, roots).complete
    alpha = world.description.member("alpha").identity.account
    with pytest.raises(VerificationFailedError) as raised:  # alpha never sealed a block of this chain
        MemberClient.verify(bundle, dataclasses.replace(roots, validators=(alpha,)))
    assert raised.value.report.failed == ("seals",)


def test_evidence_not_ready_says_what_is_pending(world: World) -> None:
    [event_id] = world.ship(world.paused)
    waits = Waits()
    with world.client(world.paused, waits=waits) as client:
        assert client.receipt(event_id, wait_s=5).event_id == event_id
        with pytest.raises(EvidenceNotReadyError, match="not yet in a published checkpoint") as raised:
            client.evidence(event_id, wait_s=0.5)
        assert sum(waits.pauses) == pytest.approx(0.5)  # it waited the whole 0.5 s on its clock, and no longer
        missing = raised.value
        assert missing.waited_s == pytest.approx(0.5)
        assert [p.part for p in missing.pending] == ["checkpoint", "anchor"]
        assert missing.bundle is not None and missing.bundle.checkpoint is None
        # What there is verifies: the entry, its leaf hash and the signed receipt; the rest is pending.
        report = MemberClient.verify(missing.bundle, world.description, chain=world.chain.url)
        assert report.ok and not report.complete
        assert [n for n in STEP_NAMES if report.step(n).ok] == ["entry", "leaf hash", "receipt"]

        with pytest.raises(EvidenceNotReadyError, match="does not know the event") as unknown:
            client.evidence("no-such-event", wait_s=0.2)
        assert unknown.value.bundle is None and unknown.value.pending == ()


# -- the client's configuration -------------------------------------------------------------------------------------


def test_from_directory_writes_the_ca_bundle_only_when_it_changes(world: World) -> None:
    bundle = world.directory / CA_BUNDLE_NAME
    world.client().close()
    text = bundle.read_text()
    assert text == ca_bundle_pem(world.description)
    assert text.count("BEGIN CERTIFICATE") == len(world.description.members)
    before = bundle.stat().st_mtime_ns - 10**9  # a second back: a rewrite now would change it, at any granularity
    os.utime(bundle, ns=(before, before))
    world.client(org="alpha").close()
    assert bundle.stat().st_mtime_ns == before
    bundle.write_text("stale\n")
    world.client().close()
    assert bundle.read_text() == text
    assert not [p for p in world.directory.iterdir() if p.name.endswith(".tmp")]


def test_configuration_errors_are_sdk_errors(world: World, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="wrong passphrase"):
        MemberClient.from_directory(world.directory, "op", name="Admin", passphrase=b"not the passphrase")
    with pytest.raises(ConfigurationError, match="identity issue alpha nobody"):
        MemberClient.from_directory(world.directory, "alpha", name="nobody", passphrase=PASSPHRASE)
    msp = world.directory / "orgs" / "op" / "users" / "Admin@op" / "msp"
    cert, key = msp / "signcerts" / "cert.pem", msp / "keystore" / "key.pem"
    with pytest.raises(ConfigurationError, match="encrypted and no key_password"):
        MemberClient(cert=cert, key=key, key_password=None, ca_bundle=world.directory / CA_BUNDLE_NAME)
    with pytest.raises(ConfigurationError, match="not found"):
        MemberClient(cert=cert, key=key, key_password=PASSPHRASE, ca_bundle=tmp_path / "missing.pem")
    bundle = world.directory / CA_BUNDLE_NAME
    with (
        MemberClient(cert=cert, key=key, key_password=PASSPHRASE, ca_bundle=bundle) as client,
        pytest.raises(ConfigurationError, match="notary_url"),
    ):
        client.receipt("any")
    with (
        MemberClient.from_directory(
            world.directory, "op", name="Admin", passphrase=PASSPHRASE, notary_url=f"http://127.0.0.1:{free_port()}"
        ) as unreachable,
        pytest.raises(TransportError, match="notary"),
    ):
        unreachable.receipt("any", wait_s=0.1)


# -- call over mutual TLS ---------------------------------------------------------------------------------------------


def server_certificate(directory: Path, org: str, out: Path) -> tuple[Path, Path]:
    """A TLS server certificate for 127.0.0.1 issued by ``org``'s CA (as a gateway's is)."""
    paths = OrgPaths.of(directory, OrgId(org))
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), PASSPHRASE)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"gateway.{org}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return out / "cert.pem", out / "key.pem"


class TlsUpstream:
    """The demo services over TLS that requires a client certificate from a member CA; records what it got."""

    def __init__(self, cert: Path, key: Path, trusted: Path) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.seen: list[dict[str, str]] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(trusted))
        context.load_cert_chain(str(cert), str(key))
        context.verify_mode = ssl.CERT_REQUIRED
        catalogue = load_config(demo_config_path()).catalogue
        assert catalogue is not None
        app = make_app(catalogue)

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            peer = request.transport.get_extra_info("peercert") if request.transport else None
            subject = dict(x[0] for x in peer["subject"]) if peer else {}
            self.seen.append({**request.headers, "peer": subject.get("commonName", "")})
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(record)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def run() -> None:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=context).start()
            ready.set()
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.task = self.loop.create_task(run())
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(self.task)

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)
        self.loop.close()


def test_call_speaks_mutual_tls_and_sends_purpose_and_traceparent(world: World, tmp_path: Path) -> None:
    cert, key = server_certificate(world.directory, "alpha", tmp_path / "tls")
    client = world.client()
    upstream = TlsUpstream(cert, key, world.directory / CA_BUNDLE_NAME)
    try:
        trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        result = client.call(
            upstream.url, "get", "/v1/news/latest", purpose="research", params={"limit": 3}, traceparent=trace
        )
        assert result.status == 200 and result.ok
        assert result.json()["meta"]["api"] == "news-latest" and len(result.json()["data"]) == 3
        assert result.event_id is None  # no gateway in between: nothing recorded, no event header
        seen = upstream.seen[-1]
        assert seen["peer"] == "Admin@op"  # the server saw the member's identity certificate
        assert seen["Consortium-Purpose"] == "research" and seen["traceparent"] == trace

        posted = client.call(upstream.url, "POST", "/v1/ai/sentiment", purpose="research", json={"text": "record"})
        assert posted.status == 200 and posted.json()["data"]["results"][0]["label"] == "positive"
        generated = upstream.seen[-1]["traceparent"]
        assert generated != trace and len(generated) == 55  # a fresh trace context when none is given

        missing = client.call(upstream.url, "GET", "/v1/nothing", purpose="research")
        assert missing.status == 404 and missing.denial_reason is None

        with pytest.raises(ValueError, match="traceparent"):
            client.call(upstream.url, "GET", "/v1/news/latest", purpose="research", traceparent="nonsense")
        with pytest.raises(ValueError, match="purpose"):
            client.call(upstream.url, "GET", "/v1/news/latest", purpose="")

        # A client that does not trust the server's CA fails the handshake: a TransportError, not an httpx one.
        reg_only = tmp_path / "reg-only.pem"
        reg_only.write_text(world.description.member("reg").identity.ca_cert_pem)
        msp = world.directory / "orgs" / "op" / "users" / "Admin@op" / "msp"
        with (
            MemberClient(
                cert=msp / "signcerts" / "cert.pem",
                key=msp / "keystore" / "key.pem",
                key_password=PASSPHRASE,
                ca_bundle=reg_only,
            ) as distrustful,
            pytest.raises(TransportError, match="TLS handshake failed"),
        ):
            distrustful.call(upstream.url, "GET", "/v1/news/latest", purpose="research")
    finally:
        client.close()
        upstream.stop()
    with world.client() as closed_port, pytest.raises(TransportError):
        closed_port.call(f"https://127.0.0.1:{free_port()}", "GET", "/v1/news/latest", purpose="research")
