"""The owner's PSI service inside the demo's upstream services (``demo.services.make_app(psi=...)``, what
``consortium up`` serves behind the owner's gateway for the demo's identifier set), served for real on loopback.

A whole job through its step routes, the caller named in ``Consortium-Caller-Org`` as the owner's gateway names it
(the gateway's own checks are ``tests/integration/gateway/test_gateway_psi.py``'s); a request over the catalogue
routes' 64 KiB limit taken on the PSI routes and still refused on a catalogue route; and a service started again
over the same job files refusing a finished job's id while it takes a new one. The whole job runs under both suites
(``privacy.suites``; under ``sm`` on 100 of the client's identifiers, the 70 shared among them, to keep it cheap),
and a service of one suite refuses a request of the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from demo import demo_config_path
from demo.privacy import DeferredPsi
from demo.services import MAX_BODY_BYTES, make_app
from demo.services.app import StepRoutes
from network.config import Catalogue, load_config
from network.localchain import free_port
from privacy.asset import PsiAssetTerms, format_record_step
from privacy.identifiers import cnid_check_character
from privacy.psi import JobTerms, PsiClient
from privacy.record import parse_signed_record, sign_record
from privacy.service import PsiService
from privacy.suites import KemKey, PsiSuite, SigningKey, psi_suite
from suite.sm2 import SM2PrivateKey

CALLER = "Consortium-Caller-Org"
OWNER, CLIENT = "yanshan-sec", "jinghua-sec"
ASSET, STEPS, PURPOSE, GRANT = "customer-ids", "/v1/privacy/customer-ids", "aml-screening", "0x" + "ab" * 32
CAP = 5_000
SHARED = 70


def cnid(n: int) -> str:
    digits = f"990000{19600101 + n % 28:08d}{n // 28:03d}"
    return f"CNID:{digits}{cnid_check_character(digits)}"


#: The owner holds 0-299, the client 230-2729: 70 shared, and the client's request is over 64 KiB.
OWNER_IDS = [cnid(n) for n in range(300)]
CLIENT_IDS = [cnid(n) for n in range(300 - SHARED, 2_800 - SHARED)]
SHARED_IDS = sorted(set(OWNER_IDS) & set(CLIENT_IDS))

OWNER_KEY = Ed25519PrivateKey.generate()
CLIENT_KEY = Ed25519PrivateKey.generate()
KEM = X25519PrivateKey.generate()
#: The client's identifiers a job under ``sm`` runs on: the 70 shared ones among them.
SM_CLIENT_IDS = CLIENT_IDS[:100]


@functools.cache
def keys(suite: str) -> tuple[PsiSuite, SigningKey, SigningKey, KemKey]:
    """(the suite, the owner's signing key, the client's, the owner's job-secret key) of ``suite``."""
    if suite == "intl":
        return psi_suite(suite), OWNER_KEY, CLIENT_KEY, KEM
    return psi_suite(suite), SM2PrivateKey.generate(), SM2PrivateKey.generate(), SM2PrivateKey.generate()


@functools.cache
def catalogue() -> Catalogue:
    found = load_config(demo_config_path()).catalogue
    assert found is not None
    return found


def psi_service(jobs: Path, suite: str = "intl") -> PsiService:
    psi, owner_key, client_key, kem = keys(suite)
    terms = PsiAssetTerms(ASSET, OWNER, psi.protocol, CAP, psi.kem_public(kem), STEPS)
    member_keys = {CLIENT: psi.public_key(client_key)}
    return PsiService(terms, owner_key, kem, OWNER_IDS, jobs, member_keys=member_keys)


class Served:
    """``make_app(catalogue, psi=[service])`` in an event loop of its own thread, until ``stop``."""

    def __init__(self, service: StepRoutes) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(make_app(catalogue(), psi=[service]), access_log=None, handle_signals=False)
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            self.loop.call_soon(ready.set)
            self.loop.run_forever()
            self.loop.run_until_complete(self.runner.cleanup())

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(20), "the demo services did not start"
        self.client = httpx.Client(base_url=self.url, timeout=120)

    def stop(self) -> None:
        self.client.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(20)
        self.loop.close()


@contextlib.contextmanager
def served(jobs: Path, deferred: bool = False, suite: str = "intl") -> Iterator[Served]:
    service = psi_service(jobs, suite)
    server = Served(DeferredPsi(STEPS, lambda: service) if deferred else service)
    try:
        yield server
    finally:
        server.stop()


def request_step(server: Served, client: PsiClient) -> httpx.Response:
    return server.client.post(f"{STEPS}/request", content=client.request(), headers={CALLER: CLIENT})


def run_job(server: Served, job_id: str, suite: str = "intl") -> tuple[tuple[str, ...], bytes]:
    """A whole job as the client: (the intersection, the record signed by both as the owner answered it)."""
    psi, _owner_key, client_key, kem = keys(suite)
    ids = CLIENT_IDS if suite == "intl" else SM_CLIENT_IDS
    client = PsiClient(JobTerms(job_id, GRANT, PURPOSE, CAP, suite=psi), CLIENT, psi.public_key(client_key), ids,
                       psi.kem_public(kem))  # fmt: skip
    answer = request_step(server, client)
    assert answer.status_code == 200, answer.text
    outcome = client.finish(answer.content)
    signature = sign_record(outcome.record, "client", client_key)
    body = format_record_step(outcome.record, signature)
    signed = server.client.post(f"{STEPS}/record", content=body, headers={CALLER: CLIENT})
    assert signed.status_code == 200, signed.text
    assert parse_signed_record(signed.content).record == outcome.record
    return outcome.intersection, signed.content


@pytest.mark.parametrize(
    ("suite", "deferred"), [("intl", False), ("intl", True), ("sm", False)], ids=["opened", "deferred", "sm"]
)
def test_a_job_through_the_demo_services_finds_the_shared_customers_and_leaves_the_owners_files(
    tmp_path: Path, suite: str, deferred: bool
) -> None:
    jobs = tmp_path / "jobs"
    with served(jobs, deferred, suite) as server:
        terms = server.client.get(f"{STEPS}/terms")
        assert terms.status_code == 200 and b'"org":"yanshan-sec"' in terms.content, terms.text
        intersection, record = run_job(server, "demo-job-1", suite)
        assert list(intersection) == SHARED_IDS
        assert (jobs / "demo-job-1" / "record.json").read_bytes() == record
        assert parse_signed_record(record).record.protocol == keys(suite)[0].protocol
        # a request of the other suite's job is refused before any computation
        other = "sm" if suite == "intl" else "intl"
        psi, _owner, client_key, _kem = keys(other)
        foreign_kem = keys(other)[3]
        theirs = PsiClient(JobTerms("demo-job-x", GRANT, PURPOSE, CAP, suite=psi), CLIENT, psi.public_key(client_key),
                           CLIENT_IDS[:3], psi.kem_public(foreign_kem))  # fmt: skip
        refused = request_step(server, theirs)
        assert refused.status_code == 403 and refused.json()["reason"] == "wrong_suite", refused.text
        assert {p.name for p in (jobs / "demo-job-1").iterdir()} == {"record.json", "vrf-key.json", "input.set.json"}
        # the catalogue's APIs are still served beside the PSI routes
        quotes = server.client.get("/v1/market/quotes/level1", params={"symbol": "600519.SH"})
        assert quotes.status_code == 200, quotes.text


def test_the_psi_routes_take_a_request_over_the_catalogues_limit_and_the_catalogue_routes_still_refuse_one(
    tmp_path: Path,
) -> None:
    client = PsiClient(JobTerms("demo-job-big", GRANT, PURPOSE, CAP), CLIENT, CLIENT_KEY.public_key(), CLIENT_IDS,
                       KEM.public_key())  # fmt: skip
    request = client.request()
    assert len(request) > MAX_BODY_BYTES
    with served(tmp_path / "jobs") as server:
        answer = server.client.post(f"{STEPS}/request", content=request, headers={CALLER: CLIENT})
        assert answer.status_code == 200, answer.text
        assert len(client.finish(answer.content).intersection) == SHARED
        big = server.client.post("/v1/news/search", content=b" " * (MAX_BODY_BYTES + 1), headers={CALLER: CLIENT})
        assert big.status_code == 400 and "bytes" in big.json()["detail"], big.text


def test_a_service_started_again_refuses_a_finished_jobs_id_and_takes_a_new_one(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    with served(jobs) as server:
        run_job(server, "demo-job-1")
    with served(jobs) as again:  # a restart: the open jobs are gone, the finished job's files are not
        client = PsiClient(JobTerms("demo-job-1", GRANT, PURPOSE, CAP), CLIENT, CLIENT_KEY.public_key(),
                           CLIENT_IDS, KEM.public_key())  # fmt: skip
        refused = request_step(again, client)
        assert refused.status_code == 409 and refused.json()["reason"] == "job_exists", refused.text
        intersection, _record = run_job(again, "demo-job-2")
        assert list(intersection) == SHARED_IDS


def test_a_deferred_service_that_cannot_be_opened_answers_each_step_503_and_the_catalogue_is_served() -> None:
    def unopenable() -> PsiService:
        raise OSError("no such file: demo-customers.txt")

    server = Served(DeferredPsi(STEPS, unopenable))
    try:
        for method, step in (("GET", "terms"), ("POST", "request"), ("POST", "record")):
            answer = server.client.request(method, f"{STEPS}/{step}", content=b"x", headers={CALLER: CLIENT})
            assert answer.status_code == 503, answer.text
            assert answer.json()["reason"] == "psi_unavailable" and "demo-customers.txt" in answer.json()["detail"]
        quotes = server.client.get("/v1/market/quotes/level1", params={"symbol": "600519.SH"})
        assert quotes.status_code == 200, quotes.text
    finally:
        server.stop()
