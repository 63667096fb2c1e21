"""A PSI job between two firms through the owner's gateway, each step decided against the grant and recorded, with
real processes: the owner's gateway (``consortium gateway serve``), its PSI service (``consortium privacy
serve``), the notary, and the client as ``consortium privacy run``.

One world for the module: the chain of ``gateway_chain`` plus the identifier set ``customer-ids`` of ``alpha``,
whose metadata digest is its PSI terms document (cap ``CAP``, and ε ``EPSILON``: the log holds each result's count and
both input counts only as differentially private, a job spending 3ε of its grant's privacy budget ``BUDGET``; the
demo's jobs hold the exact ones), its three step APIs, a grant to ``beta`` for ``aml-screening`` (no limit on runs),
one to ``op`` for the same purpose with ``RUNS`` runs and one to ``gamma`` for ``fraud-screening`` (no limit on
runs). Each test depends only on the fixtures it names: ``job_1`` is beta's job through ``consortium privacy run``;
the runs of op's grant are spent by one test alone (a request over the cap takes none, the jobs take them all, the
next is refused), and the budget of gamma's grant by another (two jobs spend 6 of 7, the next is refused).

The world is built once per suite (``psi``'s parameter, ``intl`` and ``sm``): under ``sm`` the consortium.json says
``"crypto": "sm"``, so the gateway keys that sign the job records and the gateway's batches are SM2, the notary's log
is of SM3 trees with an SM2 log key, the gateway's events are of schema version 3 (HMAC-SM3 digests), and the PSI
protocol is ``ecdh-psi-sm2`` (``privacy.smpsi``); every test of the module runs under both. The ``sm`` world writes
its SM2 key files at ``KDF_ITERATIONS`` PBKDF2 iterations, the fewest allowed, as ``tests/integration/cli`` does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import private_set_intersection.python as openmined_psi
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.ids import AssetKind, OrgId
from gateway.headers import EVENT_HEADER
from gateway.psi import terms_dir
from network.identity import load_gateway_key
from notary.event import canonical_entry
from privacy import smpsi
from privacy.asset import JOB_HEADER, job_tag, parse_asset_terms, terms_digest
from privacy.identifiers import cnid_check_character
from privacy.psi import JobTerms, PsiClient, _format_message, _parse_message, max_request_bytes, request_time_budget_s
from privacy.record import format_summary, parse_signed_record
from privacy.suites import SigningKey, psi_suite
from sdk import EvidenceNotReadyError, MemberClient, VerificationFailedError
from sdk.disclosure import fetch_record_evidence, make_disclosure
from sdk.privacy import PsiRefusedError, PsiSetupError, run_psi_job
from suite import sm2group
from suite.sm2 import SM2PrivateKey
from tests.integration.gateway.gateway_chain import GRANTEE, OTHER, PROVIDER, GatewayChain, digest, gateway_chain
from tests.integration.gateway.gateway_notary import NotaryProcess
from tests.integration.gateway.gateway_world import PASS, ROOT, GatewayProcess, World, build_world, notary_events
from tests.support.job_explorer import get, job_explorer
from tests.support.up_process import free_port
from tests.support.wait import wait_until

PSI_ASSET = "customer-ids"
STEPS = "/v1/privacy/customer-ids"
PSI_PURPOSE = "aml-screening"
CAP = 35_000  # a request of CAP elements is over the gateway's 1 MiB limit for other calls
RUNS = 2
EPSILON = "1"  # the terms' ε: the log holds each job's counts only as differentially private
BUDGET = "7"  # the terms' privacy budget per grant: two jobs of 3ε each fit, a third does not
BUDGETED, BUDGET_PURPOSE = OTHER, "fraud-screening"  # the grant whose privacy budget one test spends
METERED = "op"  # the grantee whose grant allows RUNS runs
SHARED = 20
KDF_ITERATIONS = "10000"  # $CONSORTIUM_KDF_ITERATIONS for the sm world's key files (docs/national-suite.md)
APIS = {"terms": ("psi-terms", "GET"), "request": ("psi-request", "POST"), "record": ("psi-record", "POST")}


def cnid(n: int) -> str:
    digits = f"110105{19500101 + n:08d}{n % 1000:03d}"
    return f"CNID:{digits}{cnid_check_character(digits)}"


#: 200 identifiers each, 20 shared: alpha holds 0-199, beta 180-379 (CNIDs) and written in another form.
ALPHA_IDS = [cnid(n) for n in range(200)]
BETA_IDS = [cnid(n).lower().replace("cnid:", "cnid: ") for n in range(200 - SHARED, 400 - SHARED)]
SHARED_IDS = sorted(cnid(n) for n in range(200 - SHARED, 200))


@dataclass
class PsiWorld:
    world: World
    chain: GatewayChain
    notary: NotaryProcess
    gateway: GatewayProcess
    grant_id: str
    metered_grant_id: str
    budgeted_grant_id: str
    files: Path
    crypto: str  # the consortium's suite: intl or sm

    def env(self) -> dict[str, str]:
        return {
            **os.environ, "CONSORTIUM_PASSPHRASE": PASS.decode(), "PYTHONPATH": str(ROOT),
            "CONSORTIUM_KDF_ITERATIONS": KDF_ITERATIONS,
        }  # fmt: skip

    def signing_key(self, org: str) -> SigningKey:
        """``org``'s gateway key, of the world's suite: it signs the org's job records."""
        key = load_gateway_key(self.world.root, OrgId(org), PASS, self.crypto)
        assert isinstance(key, Ed25519PrivateKey | SM2PrivateKey)
        return key

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "cli.main", "--dir", str(self.world.root), *args]
        done = subprocess.run(argv, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=120)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def events(self) -> list[dict[str, Any]]:
        def shipped() -> bool:
            outbox = self.gateway.health()["outbox"]
            return bool(outbox["shipped_seq"] == outbox["last_seq"])

        wait_until(shipped, "the gateway to ship its outbox", 20, every=0.05)
        return notary_events(self.notary, self.gateway.gateway_id)


@pytest.fixture(scope="module", params=["intl", "sm"])
def psi(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PsiWorld]:
    crypto: str = request.param
    tmp = tmp_path_factory.mktemp(f"psi-{crypto}")
    with gateway_chain() as chain, pytest.MonkeyPatch.context() as env:
        env.setenv("CONSORTIUM_KDF_ITERATIONS", KDF_ITERATIONS)
        world = build_world(tmp / "consortium", chain, crypto)
        files = tmp / "files"
        files.mkdir()
        (files / "alpha.txt").write_text("\n".join(ALPHA_IDS) + "\n")
        (files / "beta.txt").write_text("# beta's customers\n" + "\n".join(BETA_IDS) + "\n")
        partial = PsiWorld(world, chain, None, None, "", "", "", files, crypto)  # type: ignore[arg-type]
        partial.cli(
            "privacy", "terms", PSI_ASSET, "--max-input", str(CAP), "--steps", STEPS, "--dp-epsilon", EPSILON,
            "--dp-inputs", "--dp-budget", BUDGET, "--as", PROVIDER,
        )  # fmt: skip
        document = (terms_dir(world.root, PROVIDER) / f"{PSI_ASSET}.terms.json").read_bytes()
        assets = chain.consortium.assets
        assets.register_asset(
            chain.signers[PROVIDER], PSI_ASSET, AssetKind.DATASET, digest("alpha customers"), terms_digest(document), 4
        )
        for step, (api, method) in APIS.items():
            chain.register_api(api, f"{STEPS}/{step}", method, asset=PSI_ASSET)
        grant_id = chain.grant(GRANTEE, PSI_PURPOSE, asset=PSI_ASSET)
        metered_grant_id = chain.grant(METERED, PSI_PURPOSE, asset=PSI_ASSET, quota=RUNS)
        budgeted_grant_id = chain.grant(BUDGETED, BUDGET_PURPOSE, asset=PSI_ASSET)
        notary = NotaryProcess(tmp / "notary", {PROVIDER: world.gateway_key()}, suite=crypto)
        notary.start()
        port = free_port()
        log = (tmp / "psi-service.log").open("wb")
        service = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "--dir", str(world.root), "privacy", "serve", PSI_ASSET,
             "--ids", str(files / "alpha.txt"), "--port", str(port), "--as", PROVIDER],
            cwd=ROOT, env=partial.env(), stdout=log, stderr=log,
        )  # fmt: skip
        gateway = GatewayProcess(world, f"http://127.0.0.1:{port}", notary.url, tmp / "gateway.log", name="psi")
        try:
            wait_until(
                lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200,
                "the PSI service to serve",
                60,
                every=0.05,
                ignoring=(httpx.HTTPError,),
            )
            gateway.start()
            yield PsiWorld(world, chain, notary, gateway, grant_id, metered_grant_id, budgeted_grant_id, files, crypto)
        finally:
            gateway.stop()
            service.terminate()
            service.wait(20)
            log.close()
            notary.stop()


def member(psi: PsiWorld, org: str) -> MemberClient:
    return MemberClient.from_directory(psi.world.root, org, name="client", passphrase=PASS)


def sdk_job(psi: PsiWorld, org: str, grant_id: str, purpose: str = PSI_PURPOSE) -> Any:
    with member(psi, org) as client:
        return run_psi_job(
            client,
            psi.gateway.url,
            STEPS,
            org=org,
            purpose=purpose,
            grant_id=grant_id,
            identifiers=BETA_IDS,
            signing_key=psi.signing_key(org),
            suite=psi.crypto,
        )


@pytest.fixture(scope="module")
def job_1(psi: PsiWorld) -> tuple[Path, dict[str, Any]]:
    """Beta's job ``job-1`` with ``consortium privacy run``: its files' directory and the printed summary."""
    out = psi.files / "job-1"
    done = psi.cli(
        "privacy", "run", PSI_ASSET, "--gateway", psi.gateway.url, "--purpose", PSI_PURPOSE,
        "--ids", str(psi.files / "beta.txt"), "--job-id", "job-1", "--out", str(out), "--json", "--as", GRANTEE,
    )  # fmt: skip
    return out, json.loads(done.stdout)


def test_a_job_through_the_owners_gateway_finds_the_shared_customers_and_records_each_step(
    psi: PsiWorld, job_1: tuple[Path, dict[str, Any]]
) -> None:
    out, summary = job_1
    assert (summary["intersection"], summary["client_input"], summary["server_input"]) == (SHARED, 200, 200)
    assert summary["grant_id"] == psi.grant_id
    result = json.loads((out / "result.set.json").read_text())
    assert sorted(result["identifiers"]) == SHARED_IDS
    server_files = terms_dir(psi.world.root, PROVIDER) / "jobs" / "job-1"
    assert (server_files / "record.json").read_bytes() == (out / "record.json").read_bytes()
    assert {p.name for p in server_files.iterdir()} == {
        "record.json", "vrf-key.json", "input.set.json", "record-step.json"
    }  # fmt: skip
    assert all((p.stat().st_mode & 0o077) == 0 for p in out.iterdir())
    # both parties keep the record step's event id: the client from the gateway's answer, the owner's service from
    # the header its gateway forwards (neither knows a notary URL: this consortium.json records none)
    record_digest = hashlib.sha256((out / "record.json").read_bytes()).digest()
    for kept in (out / "record-step.json", server_files / "record-step.json"):
        step = json.loads(kept.read_bytes())
        assert (step["event_id"], step["job_id"], step["notary_url"]) == (summary["events"]["record"], "job-1", None)
        assert base64.b64decode(step["record_sha256"]) == record_digest
    assert summary["record_step"] == str(out / "record-step.json")

    events = {e["event_id"]: e for e in psi.events()}
    steps = summary["events"]
    assert set(steps) == set(APIS)
    for step, event_id in steps.items():
        event = events[event_id]
        assert (event["api"], event["method"]) == APIS[step], event
        assert (event["decision"], event["status"], event["grant_id"]) == ("allow", 200, psi.grant_id), event
        assert (event["caller_org"], event["asset_id"]) == (GRANTEE, PSI_ASSET)
        # the job's tag on every step, never its id; the record's digest on the record step only
        assert event["psi_job"] == summary["tag"] == job_tag(psi.grant_id, "job-1"), event
        assert "job-1" not in json.dumps(event)
    record_sha256 = hashlib.sha256((out / "record.json").read_bytes()).hexdigest()
    assert events[steps["record"]]["psi_record"] == record_sha256
    # and what the record says, in digests and counts, from the same bytes
    signed = parse_signed_record((out / "record.json").read_bytes())
    assert events[steps["record"]]["psi_summary"] == format_summary(signed)
    logged = json.loads(events[steps["record"]]["psi_summary"])
    # the exact counts are in the parties' record only; the log holds the noisy ones, with their ε
    assert (signed.record.client.input.count, signed.record.server.input.count) == (200, 200)
    assert "input_count" not in logged["client"] and "input_count" not in logged["server"]
    assert signed.record.result_count == SHARED and "count" not in logged["result"]
    assert signed.record.dp is not None and logged["dp"] == signed.record.dp.to_json()
    assert (logged["dp"]["epsilon"], logged["dp"]["mechanism"]) == (EPSILON, "discrete-laplace")
    assert sorted(logged["dp"]["inputs"]) == ["client", "server"]
    assert logged["dp"]["budget"] == BUDGET  # the grant's privacy budget, as the terms set it
    assert all("psi_summary" not in events[steps[s]] for s in ("terms", "request"))
    assert "psi_record" not in events[steps["request"]] and "psi_record" not in events[steps["terms"]]


def test_the_explorer_shows_the_real_jobs_steps_to_its_parties_only(
    psi: PsiWorld, job_1: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The notary's entries of the job (and of whatever else the gateway recorded) in an explorer in process."""
    out, summary = job_1
    entries = [canonical_entry(e) for e in psi.events()]
    with job_explorer(tmp_path, entries, (GRANTEE, PROVIDER, OTHER)) as client:
        status, body = get(client, f"/api/v1/jobs/{summary['tag']}", GRANTEE)
        assert status == 200, body
        job = json.loads(body)
        assert (job["client"], job["owner"], job["grant_id"], job["asset"]) == (
            GRANTEE, PROVIDER, psi.grant_id, PSI_ASSET
        )  # fmt: skip
        assert {s["step"]: s["call"]["event_id"] for s in job["steps"]} == summary["events"]
        assert [s["tag_from"] for s in job["steps"]] == ["client", "message", "message"]
        assert job["record_sha256"] == hashlib.sha256((out / "record.json").read_bytes()).hexdigest()
        assert job["summary"]["dp"]["epsilon"] == EPSILON and job["summary"]["client"]["org"] == GRANTEE
        assert "count" not in job["summary"]["result"]
        assert job["complete"] is True
        # the grant's budget, and what its first job spent of it (3 noisy counts of ε 1)
        budget = job["privacy_budget"]
        assert (budget["budget"], budget["epsilon"], budget["noisy_counts"], budget["cost"]) == (
            BUDGET,
            EPSILON,
            3,
            "3",
        )
        assert (budget["spent"], budget["remaining"]) == ("3", "4")
        assert get(client, f"/api/v1/jobs/{summary['tag']}", PROVIDER)[0] == 200
        assert get(client, f"/api/v1/jobs/{summary['tag']}", OTHER)[0] == 404


def test_a_membership_proof_from_the_jobs_files_verifies_and_a_forged_one_does_not(
    psi: PsiWorld, job_1: tuple[Path, dict[str, Any]]
) -> None:
    out, _summary = job_1
    files = [str(out / name) for name in ("record.json", "vrf-key.json", "input.set.json", "result.set.json")]
    proof = psi.files / "member.json"
    psi.cli("privacy", "prove-member", *files, "--id", SHARED_IDS[3], "--set", "result", "--out", str(proof))
    good = psi.cli("verify", "disclosure", str(proof), "--record", str(out / "record.json"))
    assert f"identifier {SHARED_IDS[3]} was in the result of job job-1" in good.stdout
    document = json.loads(proof.read_bytes())
    document["claim"]["identifier"] = SHARED_IDS[4]  # the proof of another identifier
    forged = psi.files / "forged.json"
    forged.write_bytes(canonical_entry(document) + b"\n")
    bad = psi.cli("verify", "disclosure", str(forged), "--record", str(out / "record.json"), check=False)
    assert bad.returncode == 1 and "does NOT verify" in bad.stderr, (bad.stdout, bad.stderr)


def test_prove_member_fetches_the_record_steps_evidence_or_says_how_to_later(
    psi: PsiWorld, job_1: tuple[Path, dict[str, Any]]
) -> None:
    """``prove-member --as``: the bundle of the record step's event that ``record-step.json`` keeps (or of
    ``--event``), fetched as the SDK fetches it; this notary anchors nothing, so the command says the evidence is
    not ready and how to fetch it later, the document written; the id of another step of the job is refused as
    not the record step."""
    out, summary = job_1
    psi.events()  # the job's events are in the log
    files = [str(out / name) for name in ("record.json", "vrf-key.json", "input.set.json")]
    proof = psi.files / "with-evidence.json"
    fetch = ["--as", GRANTEE, "--notary-url", psi.notary.url, "--wait", "0.5", "--out", str(proof)]
    kept = str(out / "record-step.json")  # the event id privacy run kept, with no --event
    made = psi.cli("privacy", "prove-member", *files, kept, "--id", SHARED_IDS[0], *fetch, check=False)
    assert made.returncode == 1 and proof.is_file(), made.stderr
    assert "the document is written, but not the evidence" in made.stderr and "anchor: " in made.stderr, made.stderr
    assert f"/v1/evidence/{summary['events']['record']}" in made.stderr, made.stderr
    assert not proof.with_name("with-evidence.evidence.json").exists()
    other = psi.cli(  # --event overrides the kept id: the id of another step of the job is not the record step
        "privacy", "prove-member", *files, kept, "--id", SHARED_IDS[0], "--event", summary["events"]["request"],
        *fetch, check=False,
    )  # fmt: skip
    assert other.returncode == 1, other.stderr
    assert f"--event {summary['events']['request']} overrides the event {summary['events']['record']}" in other.stderr
    assert f"event {summary['events']['request']!r} is not the record step of job job-1: event: " in other.stderr
    # the same through the SDK, from the job's directory: typed errors, the bundle so far with the one not anchored
    disclosure = make_disclosure(out, SHARED_IDS[0], job_id="job-1", member=True)
    assert disclosure.record_step is not None and disclosure.record_step.event_id == summary["events"]["record"]
    with MemberClient.from_directory(
        psi.world.root, GRANTEE, name="client", passphrase=PASS, notary_url=psi.notary.url
    ) as client:
        with pytest.raises(EvidenceNotReadyError) as waited:
            fetch_record_evidence(client, disclosure, wait_s=0.2)
        assert waited.value.bundle is not None and waited.value.bundle.event_id == summary["events"]["record"]
        with pytest.raises(VerificationFailedError) as refused:
            fetch_record_evidence(client, disclosure, event_id=summary["events"]["request"], wait_s=0.2)
        assert refused.value.report.failed == ("event", "psi_record"), str(refused.value)
        assert refused.value.report.verdict() == "the event is NOT the record step of job job-1: event, psi_record"
        with pytest.raises(PsiSetupError, match=r"no record-step\.json among the job files names the record step's"):
            fetch_record_evidence(client, make_disclosure(files, SHARED_IDS[0]))  # no event id: nothing is read


def registered_psi_asset(psi: PsiWorld, asset: str, api_prefix: str, quota: int = 0) -> tuple[Any, Any, bytes, str]:
    """A PSI asset of PROVIDER on the module's chain under the world's suite (terms with noise on the counts and the
    inputs, ε ``EPSILON`` of a budget ``BUDGET``, steps under ``/v1/privacy/ASSET``), its three step APIs named
    ``<api_prefix><step>-<suite>``, and a grant of it to GRANTEE (``quota`` runs, 0: no quota):
    the owner's KEM key, the terms, their document and the grant id."""
    from privacy.asset import STEP_METHODS, STEPS, PsiAssetTerms, format_asset_terms

    crypto = psi.crypto
    suite = psi_suite(crypto)
    kem = suite.generate_kem()
    terms = PsiAssetTerms(
        asset, PROVIDER, suite.protocol, 1000, suite.kem_public(kem), f"/v1/privacy/{asset}", EPSILON, BUDGET,
        dp_inputs=True,
    )  # fmt: skip
    document = format_asset_terms(terms)
    chain = psi.chain
    chain.consortium.assets.register_asset(
        chain.signers[PROVIDER], asset, AssetKind.DATASET, digest(asset), terms_digest(document), 4
    )
    for step in STEPS:
        chain.register_api(f"{api_prefix}{step}-{crypto}", terms.route(step), STEP_METHODS[step], asset=asset)
    return kem, terms, document, chain.grant(GRANTEE, PSI_PURPOSE, asset=asset, quota=quota)


def padded_request(
    psi: PsiWorld,
    org: str,
    grant_id: str,
    count: int,
    job_id: str,
    epsilon: str | None = EPSILON,
    purpose: str = PSI_PURPOSE,
) -> bytes:
    """A request under the asset's terms whose header a client made for 2 identifiers and whose PSI payload is padded
    to ``count`` elements: a client that skipped its own cap check (the gateway counts elements, it cannot tell a
    padding element from a real one). Under ``sm`` the padding is the base point, a valid point, so that nothing but
    the number of elements is wrong with the request."""
    document = (terms_dir(psi.world.root, PROVIDER) / f"{PSI_ASSET}.terms.json").read_bytes()
    terms = parse_asset_terms(document)
    suite = psi_suite(psi.crypto)
    client = PsiClient(
        JobTerms(
            job_id,
            grant_id,
            purpose,
            CAP,
            epsilon,
            epsilon is not None,
            dp_budget=None if epsilon is None else terms.dp_budget,
            suite=suite,
        ),
        org,
        suite.public_key(psi.signing_key(org)),
        [cnid(1000), cnid(1001)],
        terms.kem_key,
    )
    header, _payload = _parse_message(client.request(), "request")
    if psi.crypto == "sm":
        return _format_message(header, smpsi.format_points([sm2group.encode_point(sm2group.SM2.generator)] * count))
    padded = openmined_psi.Request(encrypted_elements=[os.urandom(33) for _ in range(count)], reveal_intersection=True)
    return _format_message(header, padded.SerializeToString())


def test_a_request_over_a_mebibyte_reaches_the_owners_service_when_the_terms_allow_it(psi: PsiWorld) -> None:
    """CAP elements take 1.2 MB, over the 1 MiB of any other call: both processes take the body (the gateway's limit
    and the service's follow the terms), and the service refuses it only for what it holds (count_mismatch: the
    header claims 2 elements)."""
    request = padded_request(psi, GRANTEE, psi.grant_id, CAP, "job-large")
    assert 1024 * 1024 < len(request) <= max_request_bytes(CAP)
    wait = request_time_budget_s(CAP, psi_suite(psi.crypto))  # as long as the gateway waits for the service
    with member(psi, GRANTEE) as client:
        answer = client.call(
            psi.gateway.url, "POST", f"{STEPS}/request", purpose=PSI_PURPOSE, content=request, timeout=wait
        )
    # the owner's service refused it, not the gateway: its own answer, no denial of the gateway's
    assert (answer.status, answer.json()["reason"], answer.denial_reason) == (403, "count_mismatch", None), (
        answer.content
    )
    event = next(e for e in psi.events() if e["event_id"] == answer.event_id)
    assert (event["api"], event["decision"], event["status"]) == ("psi-request", "allow", 403), event


def test_refusals_are_recorded_and_runs_are_counted_by_requests(psi: PsiWorld) -> None:
    refused: dict[str, tuple[str, str, int]] = {}  # case → (event id, reason, status)
    with member(psi, METERED) as client:
        request = padded_request(psi, METERED, psi.metered_grant_id, CAP + 1, "job-over-cap")
        answer = client.call(psi.gateway.url, "POST", f"{STEPS}/request", purpose=PSI_PURPOSE, content=request)
    assert (answer.status, answer.denial_reason) == (403, "input_over_cap"), answer.content
    assert answer.event_id is not None
    refused["over the cap"] = (answer.event_id, "input_over_cap", 403)

    with member(psi, METERED) as client:  # a header naming another job than the message's: refused, no run taken
        request = padded_request(psi, METERED, psi.metered_grant_id, 10, "job-wrong-tag")
        answer = client.call(
            psi.gateway.url, "POST", f"{STEPS}/request", purpose=PSI_PURPOSE, content=request,
            headers={JOB_HEADER: job_tag(psi.metered_grant_id, "another-job")},
        )  # fmt: skip
    assert (answer.status, answer.denial_reason) == (403, "psi_wrong_job"), answer.content
    assert answer.event_id is not None
    refused["another job named"] = (answer.event_id, "psi_wrong_job", 403)

    with member(psi, METERED) as client:  # a request without the ε of the terms: the log would get the exact count
        request = padded_request(psi, METERED, psi.metered_grant_id, 2, "job-no-dp", epsilon=None)
        answer = client.call(psi.gateway.url, "POST", f"{STEPS}/request", purpose=PSI_PURPOSE, content=request)
    assert (answer.status, answer.denial_reason) == (403, "psi_wrong_terms"), answer.content
    assert b"dp_epsilon" in answer.content and answer.event_id is not None
    refused["without the terms' epsilon"] = (answer.event_id, "psi_wrong_terms", 403)

    for case, org, purpose in (("no grant", OTHER, PSI_PURPOSE), ("another purpose", GRANTEE, "marketing")):
        with pytest.raises(PsiRefusedError) as denied:
            sdk_job(psi, org, psi.grant_id, purpose)
        assert (denied.value.step, denied.value.reason) == ("terms", "no_grant"), str(denied.value)
        assert denied.value.result.event_id is not None
        refused[case] = (denied.value.result.event_id, "no_grant", 403)

    for _ in range(RUNS):  # the request over the cap took none of the runs
        assert sorted(sdk_job(psi, METERED, psi.metered_grant_id).intersection) == SHARED_IDS

    with pytest.raises(PsiRefusedError) as exhausted:
        sdk_job(psi, METERED, psi.metered_grant_id)
    assert (exhausted.value.step, exhausted.value.reason) == ("request", "quota_exhausted"), str(exhausted.value)
    assert exhausted.value.result.event_id is not None
    refused["past the runs allowed"] = (exhausted.value.result.event_id, "quota_exhausted", 403)

    events = {e["event_id"]: e for e in psi.events()}
    for case, (event_id, reason, status) in refused.items():
        event = events[event_id]
        assert (event["decision"], event["denial_reason"], event["status"]) == ("deny", reason, status), (case, event)
        assert event["asset_id"] == PSI_ASSET, (case, event)
    metered = [e for e in events.values() if e["grant_id"] == psi.metered_grant_id and e["decision"] == "allow"]
    apis = [e["api"] for e in metered]  # the refused job's terms step is allowed too: it is free
    assert (apis.count("psi-terms"), apis.count("psi-request"), apis.count("psi-record")) == (RUNS + 1, RUNS, RUNS)


def test_a_grants_privacy_budget_admits_jobs_until_the_next_would_pass_it(psi: PsiWorld, tmp_path: Path) -> None:
    """Each job spends 3ε (three noisy counts of ε 1): two fit in the budget of 7, a whole job and a request whose
    record step never comes (the owner's service refuses it); after a kill -9 of the gateway the third is refused
    before the owner's service sees it, recorded, and says what was spent; a request that names the terms' ε without
    the noisy input counts they ask for is refused as other terms. Each admitted request's event states the ε it was
    charged, so the explorer's job page adds up what the gateway spent, the job without a record included."""
    with member(psi, BUDGETED) as client:
        request = padded_request(psi, BUDGETED, psi.budgeted_grant_id, 2, "job-no-inputs", purpose=BUDGET_PURPOSE)
        header, payload = _parse_message(request, "request")
        del header["dp_inputs"]
        request = _format_message(header, payload)
        answer = client.call(psi.gateway.url, "POST", f"{STEPS}/request", purpose=BUDGET_PURPOSE, content=request)
    assert (answer.status, answer.denial_reason) == (403, "psi_wrong_terms"), answer.content
    assert b"dp_inputs" in answer.content
    done = sdk_job(psi, BUDGETED, psi.budgeted_grant_id, BUDGET_PURPOSE)
    assert sorted(done.intersection) == SHARED_IDS
    with member(psi, BUDGETED) as client:  # admitted (3ε spent), then refused by the owner's service: no record
        request = padded_request(psi, BUDGETED, psi.budgeted_grant_id, 3, "job-unrecorded", purpose=BUDGET_PURPOSE)
        answer = client.call(psi.gateway.url, "POST", f"{STEPS}/request", purpose=BUDGET_PURPOSE, content=request)
    assert (answer.status, answer.json()["reason"], answer.denial_reason) == (403, "count_mismatch", None), (
        answer.content
    )
    unrecorded = answer.event_id
    psi.gateway.kill()  # kill -9: what the grant spent is in the outbox, with the jobs' request events
    psi.gateway.start()
    with pytest.raises(PsiRefusedError) as spent:
        sdk_job(psi, BUDGETED, psi.budgeted_grant_id, BUDGET_PURPOSE)
    assert (spent.value.step, spent.value.reason) == ("request", "dp_budget_exhausted"), str(spent.value)
    assert "6 spent, 1 left" in str(spent.value), str(spent.value)
    event_id = spent.value.result.event_id
    events = {e["event_id"]: e for e in psi.events()}
    event = events[event_id]
    assert (event["decision"], event["denial_reason"], event["status"]) == ("deny", "dp_budget_exhausted", 403)
    assert "psi_dp_cost" not in event
    allowed = [e for e in events.values() if e["grant_id"] == psi.budgeted_grant_id and e["decision"] == "allow"]
    requests = {e["event_id"]: e for e in allowed if e["api"] == "psi-request"}
    assert set(requests) == {done.event_ids["request"], unrecorded}
    assert all(e["psi_dp_cost"] == "3" for e in requests.values()), requests  # what the gateway charged each
    # the explorer counts both requests: what the grant spent is the gateway's "6 spent, 1 left"
    entries = [canonical_entry(e) for e in psi.events()]
    with job_explorer(tmp_path, entries, (BUDGETED, PROVIDER, GRANTEE)) as client:
        status, body = get(client, f"/api/v1/jobs/{done.tag}", BUDGETED)
        assert status == 200, body
        budget = json.loads(body)["privacy_budget"]
        assert (budget["spent_total"], budget["remaining_total"], budget["budget"]) == ("6", "1", BUDGET), budget
        assert (budget["jobs"], budget["unrecorded_requests"], budget["uncounted_requests"]) == (2, 1, 0), budget
        assert get(client, f"/api/v1/jobs/{done.tag}", PROVIDER)[0] == 200
        assert get(client, f"/api/v1/jobs/{done.tag}", GRANTEE)[0] == 404  # a firm with no part in the job


def test_a_job_in_process_through_the_owners_gateway_spends_what_the_explorer_adds_up(
    psi: PsiWorld, tmp_path: Path
) -> None:
    """Under the world's suite (``privacy.suites``): the owner's gateway (``LiveGateway``, built in this process from
    the parts ``gateway serve`` uses, its vault of the suite: HMAC-SM3 digests and events of schema version 3 under
    ``sm``) and its PSI service (``privacy.service``, the suite's protocol, job-secret key and the members' record
    keys) on the module's chain, and a client running ``sdk.privacy.run_psi_job``.

    A whole job finds the shared customers; the same job id again is admitted by the gateway (its ε spent) and refused
    by the owner's service (``job_exists``), so it never gets a record step. Both request events state the ε charged,
    every event passes the notary's schema, and the explorer's job page adds up what the gateway's outbox spent."""
    from gateway.psi import PsiGuard
    from notary.event import validate_event
    from privacy.dp import format_milli
    from privacy.service import PsiService
    from tests.integration.gateway.gateway_world import LiveGateway, LoopThread, _serve

    crypto = psi.crypto
    suite = psi_suite(crypto)
    chain = psi.chain
    kem, terms, document, grant_id = registered_psi_asset(psi, f"ids-{crypto}", "")
    asset, steps = terms.asset, terms.steps
    server_key, client_key = psi.signing_key(PROVIDER), psi.signing_key(GRANTEE)
    service = PsiService(terms, server_key, kem, ALPHA_IDS, tmp_path / "jobs")
    loop = LoopThread()
    runner, port = loop.run(_serve(service.app()))
    gateway = LiveGateway(
        psi.world, chain, loop, f"http://127.0.0.1:{port}", tmp_path / "outbox",
        psi=PsiGuard({asset: document}, PROVIDER, crypto=crypto), suite=crypto,
    )  # fmt: skip
    try:

        def run(job_id: str) -> Any:
            with member(psi, GRANTEE) as client:
                return run_psi_job(
                    client, gateway.url, steps, org=GRANTEE, purpose=PSI_PURPOSE, grant_id=grant_id,
                    identifiers=BETA_IDS, signing_key=client_key, metadata_digest=terms_digest(document),
                    job_id=job_id, suite=crypto,
                )  # fmt: skip

        done = run(f"job-{crypto}")
        assert sorted(done.intersection) == SHARED_IDS
        assert done.signed.record.protocol == suite.protocol
        with pytest.raises(PsiRefusedError) as again:  # admitted by the gateway, refused by the owner's service
            run(f"job-{crypto}")
        assert (again.value.step, again.value.reason) == ("request", "job_exists"), str(again.value)
        events = gateway.recorded_since(0)
        spent = gateway.outbox.dp_spent(grant_id)
    finally:
        gateway.close()
        loop.run(runner.cleanup())
        loop.close()
    assert spent == 6000  # two admitted requests of 3 noisy counts of ε 1
    for event in events:
        validate_event(event)  # as the notary takes it
        assert event["v"] == (3 if crypto == "sm" else 2), event
    requests = [e for e in events if e["api"] == f"request-{crypto}"]
    assert [(e["decision"], e["status"], e.get("psi_dp_cost")) for e in requests] == [
        ("allow", 200, "3"),
        ("allow", 409, "3"),  # job_exists
    ]
    (record,) = [e for e in events if "psi_record" in e]
    assert json.loads(record["psi_summary"])["protocol"] == suite.protocol
    (tmp_path / "explorer").mkdir()
    with job_explorer(tmp_path / "explorer", [canonical_entry(e) for e in events], (GRANTEE, PROVIDER, OTHER)) as ex:
        status, body = get(ex, f"/api/v1/jobs/{done.tag}", GRANTEE)
        assert status == 200, body
        budget = json.loads(body)["privacy_budget"]
        assert budget["spent_total"] == format_milli(spent) == "6", budget
        # the second request names the recorded job's tag: not an unrecorded job, but its ε is counted all the same
        assert (budget["jobs"], budget["unrecorded_requests"], budget["remaining_total"]) == (1, 0, "1"), budget
        assert get(ex, f"/api/v1/jobs/{done.tag}", OTHER)[0] == 404


def test_a_grants_own_terms_hold_its_jobs_and_a_job_survives_a_restart_of_the_owners_service(
    psi: PsiWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the world's suite, the owner's gateway (``LiveGateway``) and PSI service (``open_psi_service``, as
    ``privacy serve`` opens it) in this process, from the owner's files: an identifier set whose terms (cap 1,000, no
    ε) give beta's grant terms of its own (cap 250, ε 1) with ``consortium privacy grant-terms`` (which refuses a
    grant of another asset, writing nothing), published as the asset's second version. A request within the asset's
    cap but over the grant's is refused by the gateway, no run taken; ``run_psi_job`` reads the grant's terms through
    the gateway (``?grant=``) and runs under them, its record naming their digest; a job whose owner's service is
    replaced by a new one between its request and its record step finishes. The grant's three runs are spent exactly,
    each record step's summary names the digest, and every event passes the notary's schema; ``grant list --as``
    the owner shows the grant's terms digest. A request step sent while the owner's service is down is answered
    502 and takes no run: sent again once the service is back, it is answered and counted once; ``run_psi_job`` with
    ``retries`` sends a step again by itself (its ``sleep`` brings the service back), and also a request step whose
    answer broke off after its headers (a service that cuts its connection mid-body once): one run counted, the cut
    call recorded 502 with no response digest. The same request step sent again after its answer was recorded and
    counted (a client that lost the answer), also after a restart of the gateway, gets the same answer and takes no
    second run, its event naming the counted one (``psi_retry_of``)."""
    from aiohttp import web
    from click.testing import CliRunner

    from cli.main import cli
    from gateway.psi import PsiGuard, load_grant_terms, load_terms
    from notary.event import validate_event
    from privacy.asset import STEP_METHODS, STEPS, format_record_step, parse_grant_terms, terms_of_grant
    from privacy.record import sign_record, verify_record
    from privacy.service import PsiService
    from sdk.privacy import open_psi_service, write_psi_terms
    from tests.integration.gateway.gateway_world import LiveGateway, LoopThread, _serve

    monkeypatch.setenv("CONSORTIUM_KDF_ITERATIONS", KDF_ITERATIONS)  # the job-secret key's file
    crypto, root = psi.crypto, psi.world.root
    suite = psi_suite(crypto)
    asset, steps = f"grant-ids-{crypto}", f"/v1/privacy/grant-ids-{crypto}"
    _, first = write_psi_terms(root, PROVIDER, asset, 1000, steps, PASS)
    base = parse_asset_terms(first)
    chain = psi.chain
    assets = chain.consortium.assets
    assets.register_asset(chain.signers[PROVIDER], asset, AssetKind.DATASET, digest(asset), terms_digest(first), 4)
    for step in STEPS:
        chain.register_api(f"g{step}-{crypto}", base.route(step), STEP_METHODS[step], asset=asset)
    grant_id = chain.grant(GRANTEE, PSI_PURPOSE, asset=asset, quota=4)
    monkeypatch.setenv("CONSORTIUM_PASSPHRASE", PASS.decode())
    grant_terms = ["--dir", str(root), "privacy", "grant-terms", asset, "--max-input", "250", "--as", PROVIDER]
    refused = CliRunner().invoke(cli, [*grant_terms, "--grant", psi.grant_id])  # in process: no interpreter to start
    assert refused.exit_code != 0 and f"is of asset {PSI_ASSET}, not {asset}" in refused.stderr, refused.output
    assert load_terms(root, PROVIDER)[asset] == first and not load_grant_terms(root, PROVIDER, asset)
    shown = CliRunner().invoke(cli, [*grant_terms, "--grant", grant_id, "--dp-epsilon", EPSILON, "--json"])
    assert shown.exit_code == 0, shown.output
    document, own = load_terms(root, PROVIDER)[asset], load_grant_terms(root, PROVIDER, asset)[grant_id]
    assert json.loads(shown.stdout)["metadata_digest"] == "0x" + terms_digest(document).hex()
    listed = CliRunner().invoke(
        cli, ["--dir", str(root), "grant", "list", "--asset", asset, "--as", PROVIDER, "--json"]
    )
    assert listed.exit_code == 0, listed.output
    assert [g.get("psi_terms") for g in json.loads(listed.stdout)] == [terms_digest(own).hex()]
    listing = parse_asset_terms(document)
    assets.add_version(chain.signers[PROVIDER], asset, digest(asset), terms_digest(document), 4)
    server_key, client_key = psi.signing_key(PROVIDER), psi.signing_key(GRANTEE)
    client_public = suite.public_key(client_key)

    def owners_service() -> PsiService:  # as `consortium privacy serve` opens it
        return open_psi_service(root, PROVIDER, asset, ALPHA_IDS, PASS, tmp_path / "jobs")

    async def serve_at(app: web.Application, port: int) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    loop = LoopThread()
    runner, port = loop.run(_serve(owners_service().app()))

    def owners_gateway() -> LiveGateway:  # its outbox, and so its runs, kept across a restart
        return LiveGateway(
            psi.world, chain, loop, f"http://127.0.0.1:{port}", tmp_path / "outbox",
            psi=PsiGuard({asset: document}, PROVIDER, crypto, {asset: {grant_id: own}}), suite=crypto,
        )  # fmt: skip

    gateway = owners_gateway()
    digest_hex = terms_digest(own).hex()
    try:
        with member(psi, GRANTEE) as client:
            # 251 identifiers: within the asset's cap of 1,000, over the grant's 250
            big = JobTerms("job-big", grant_id, PSI_PURPOSE, 1000, EPSILON, suite=suite, terms_digest=terms_digest(own))
            ids = [cnid(n) for n in range(1000, 1251)]
            header, payload = _parse_message(
                PsiClient(big, GRANTEE, client_public, ids, base.kem_key).request(), "request"
            )
            answer = client.call(
                gateway.url, "POST", f"{steps}/request", purpose=PSI_PURPOSE,
                content=_format_message({**header, "max_input": 250}, payload),
            )  # fmt: skip
            assert (answer.status, answer.denial_reason) == (403, "input_over_cap"), answer.content
            assert b"the grant's own terms" in answer.content
            assert gateway.outbox.quota_used(grant_id) == 0

            done = run_psi_job(
                client, gateway.url, steps, org=GRANTEE, purpose=PSI_PURPOSE, grant_id=grant_id,
                identifiers=BETA_IDS, signing_key=client_key, metadata_digest=terms_digest(document),
                job_id=f"job-own-{crypto}", suite=crypto,
            )  # fmt: skip
            assert sorted(done.intersection) == SHARED_IDS
            record = done.signed.record
            assert (record.max_input, record.terms, record.dp is not None) == (250, terms_digest(own), True)
            assert set(done.event_ids) == {"terms", "terms-grant", "request", "record"}

            # the steps one by one, the owner's service replaced between the request and the record
            fetched = client.call(gateway.url, "GET", f"{steps}/terms?grant={grant_id}", purpose=PSI_PURPOSE).content
            assert parse_grant_terms(fetched).max_input == 250
            view = terms_of_grant(listing, grant_id, fetched)
            job = JobTerms(
                f"job-restart-{crypto}", grant_id, PSI_PURPOSE, 250, EPSILON, suite=suite, terms_digest=view.digest
            )
            party = PsiClient(job, GRANTEE, client_public, BETA_IDS, base.kem_key)
            headers = {JOB_HEADER: job_tag(grant_id, job.job_id)}
            message = party.request()
            loop.run(runner.cleanup())  # the owner's service is down: the request step gets no answer, and is no run
            lost = client.call(
                gateway.url, "POST", f"{steps}/request", purpose=PSI_PURPOSE, content=message, headers=headers
            )
            assert (lost.status, json.loads(lost.content)["reason"]) == (502, "upstream_unreachable"), lost.content
            assert gateway.outbox.quota_used(grant_id) == 1
            runner = loop.run(serve_at(owners_service().app(), port))
            response = client.call(  # the same step again
                gateway.url, "POST", f"{steps}/request", purpose=PSI_PURPOSE, content=message, headers=headers
            )
            assert response.status == 200, response.content
            assert gateway.outbox.quota_used(grant_id) == 2
            # the client lost that answer whole (counted), and sends the same request again: the kept answer, no
            # second run; again after a restart of the owner's gateway, whose outbox keeps the runs it counted
            repeats = [
                client.call(
                    gateway.url, "POST", f"{steps}/request", purpose=PSI_PURPOSE, content=message, headers=headers
                )
            ]
            gateway.close()
            gateway = owners_gateway()
            repeats.append(
                client.call(
                    gateway.url, "POST", f"{steps}/request", purpose=PSI_PURPOSE, content=message, headers=headers
                )
            )
            assert [(r.status, r.content) for r in repeats] == [(200, response.content)] * 2
            assert gateway.outbox.quota_used(grant_id) == 2
            loop.run(runner.cleanup())  # the owner's service stops; a new one serves the same files
            runner = loop.run(serve_at(owners_service().app(), port))
            outcome = party.finish(response.content)
            body = format_record_step(outcome.record, sign_record(outcome.record, "client", client_key))
            answer = client.call(
                gateway.url, "POST", f"{steps}/record", purpose=PSI_PURPOSE, content=body, headers=headers
            )
            assert answer.status == 200, answer.content
            signed = parse_signed_record(answer.content)
            verify_record(signed, client_public, suite.public_key(server_key))
            assert sorted(outcome.intersection) == SHARED_IDS and signed.record.terms == terms_digest(own)
            assert not (tmp_path / "jobs" / job.job_id / "open.json").exists()
            assert gateway.outbox.quota_used(grant_id) == 2  # each job counted once, the restarted one too

            # the owner's service is down as a job starts: run_psi_job sends the step again once it is back
            loop.run(runner.cleanup())
            waits: list[float] = []

            def service_back(seconds: float) -> None:
                nonlocal runner
                waits.append(seconds)
                runner = loop.run(serve_at(owners_service().app(), port))

            retried = run_psi_job(
                client, gateway.url, steps, org=GRANTEE, purpose=PSI_PURPOSE, grant_id=grant_id,
                identifiers=BETA_IDS, signing_key=client_key, job_id=f"job-retried-{crypto}", suite=crypto, retries=2,
                retry_wait_s=0.25, sleep=service_back,
            )  # fmt: skip
            assert sorted(retried.intersection) == SHARED_IDS and waits == [0.25]
            assert gateway.outbox.quota_used(grant_id) == 3

            # the owner's answer to a request step breaks off mid-body, its connection cut after the gateway passed
            # on its headers and a part: run_psi_job sends the step again and gets the kept answer, one run counted
            loop.run(runner.cleanup())
            cut: list[str] = []  # the event id of the call whose answer was cut

            @web.middleware
            async def cut_once(
                request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
            ) -> web.StreamResponse:
                answer = await handler(request)
                if cut or not request.path.endswith("/request") or answer.status != 200:
                    return answer
                assert isinstance(answer, web.Response) and isinstance(answer.body, bytes)
                cut.append(request.headers[EVENT_HEADER])
                streamed = web.StreamResponse(status=200)
                streamed.enable_chunked_encoding()  # of unknown length: the gateway passes it on as it arrives
                await streamed.prepare(request)
                third = len(answer.body) // 3
                for part in (answer.body[:third], answer.body[third : 2 * third]):
                    await streamed.write(part)
                    for _ in range(20):  # loop turns, not time: the gateway (on this loop) passes the part on
                        await asyncio.sleep(0)
                assert request.transport is not None
                request.transport.abort()
                return streamed

            cutting = owners_service().app()
            cutting.middlewares.append(cut_once)
            runner = loop.run(serve_at(cutting, port))
            cut_waits: list[float] = []
            resent = run_psi_job(
                client, gateway.url, steps, org=GRANTEE, purpose=PSI_PURPOSE, grant_id=grant_id,
                identifiers=BETA_IDS, signing_key=client_key, job_id=f"job-cut-{crypto}", suite=crypto, retries=1,
                retry_wait_s=0.5, sleep=cut_waits.append,
            )  # fmt: skip
            assert sorted(resent.intersection) == SHARED_IDS and cut_waits == [0.5] and len(cut) == 1
            assert resent.event_ids["request"] != cut[0]
            assert gateway.outbox.quota_used(grant_id) == 4
            with pytest.raises(PsiRefusedError) as spent:
                run_psi_job(
                    client, gateway.url, steps, org=GRANTEE, purpose=PSI_PURPOSE, grant_id=grant_id,
                    identifiers=BETA_IDS, signing_key=client_key, suite=crypto,
                )  # fmt: skip
            assert (spent.value.step, spent.value.reason) == ("request", "quota_exhausted"), str(spent.value)
        events = gateway.recorded_since(0)
    finally:
        gateway.close()
        loop.run(runner.cleanup())
        loop.close()
    for event in events:
        validate_event(event)  # as the notary takes it
    (unanswered,) = [e for e in events if e["event_id"] == lost.event_id]
    assert (unanswered["decision"], unanswered["status"], unanswered["psi_job"]) == ("allow", 502, headers[JOB_HEADER])
    for repeat in repeats:  # each names the counted request step it repeats, and states no ε
        (again,) = [e for e in events if e["event_id"] == repeat.event_id]
        assert (again["decision"], again["status"]) == ("allow", 200), again
        assert again["psi_retry_of"] == response.event_id and "psi_dp_cost" not in again, again
    assert sum("psi_retry_of" in e for e in events) == 2
    (broken,) = [e for e in events if e["event_id"] == cut[0]]  # recorded as the gateway saw it: no answer whole
    assert (broken["decision"], broken["status"], broken["psi_job"]) == ("allow", 502, resent.tag), broken
    assert broken["response_digest"] is None
    summaries = [json.loads(e["psi_summary"]) for e in events if "psi_summary" in e]
    assert [s["terms"] for s in summaries] == [digest_hex] * 4
    assert [s["max_input"] for s in summaries] == [250] * 4


def test_a_request_step_is_one_run_across_two_replicas_sharing_a_store_and_at_a_lone_gateway(
    psi: PsiWorld, tmp_path: Path, postgres: Any
) -> None:
    """Two replicas of the owner's gateway (``LiveGateway``, each with its own outbox) counting in one PostgreSQL
    quota store, and a third gateway counting in its own outbox alone, before the owner's PSI service
    (``privacy.service``), which holds every request step until the test lets them go. While the first request of a
    job is held the same request (the same bytes) is refused 409 ``psi_run_in_flight`` with Retry-After by either
    replica, and by the lone gateway for a job of its own, and recorded so; once answered and counted, the same request
    sent to the other replica (to the lone gateway again) gets the same answer, takes no unit and no ε, and its event
    names the counted one (``psi_retry_of``). Each held run's lease is renewed while its call is alive (a task of the
    gateway that claimed it, stopped once it is counted). One unit and one job's ε used in the store, and in the lone
    gateway's outbox; every event passes the notary's schema."""
    from aiohttp import web

    from gateway.psi import PsiGuard
    from gateway.quota import PostgresQuota
    from gateway.server import PSI_IN_FLIGHT_RETRY_S
    from notary.event import validate_event
    from privacy.service import PsiService
    from tests.integration.gateway.gateway_world import LiveGateway, LoopThread, _serve

    crypto = psi.crypto
    suite = psi_suite(crypto)
    chain = psi.chain
    kem, terms, document, grant_id = registered_psi_asset(psi, f"replica-ids-{crypto}", "r", quota=RUNS)
    asset, steps = terms.asset, terms.steps
    held: list[str] = []  # the event ids of the request steps the service holds, in the order they came
    let_go = asyncio.Event()

    @web.middleware
    async def hold_requests(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.endswith("/request") and not let_go.is_set():
            held.append(request.headers[EVENT_HEADER])
            await let_go.wait()
        return await handler(request)

    app = PsiService(terms, psi.signing_key(PROVIDER), kem, ALPHA_IDS, tmp_path / "jobs").app()
    app.middlewares.append(hold_requests)
    loop = LoopThread()
    runner, port = loop.run(_serve(app))
    store = postgres.create_database("quota")
    counters = [PostgresQuota(store), PostgresQuota(store)]

    def gateway(name: str, counter: PostgresQuota | None) -> LiveGateway:  # its own outbox; the store, if shared
        return LiveGateway(
            psi.world, chain, loop, f"http://127.0.0.1:{port}", tmp_path / "outbox", name=f"gateway-{name}",
            psi=PsiGuard({asset: document}, PROVIDER, crypto=crypto), suite=crypto, quota=counter,
        )  # fmt: skip

    gateways = [gateway("a", counters[0]), gateway("b", counters[1]), gateway("alone", None)]
    a, b, alone = gateways
    client_key = psi.signing_key(GRANTEE)
    requests: list[tuple[bytes, dict[str, str]]] = []  # a job's request message and headers, for a and b, for alone
    for job_id in (f"job-replicas-{crypto}", f"job-alone-{crypto}"):
        job = JobTerms(job_id, grant_id, PSI_PURPOSE, 1000, EPSILON, True, suite=suite, dp_budget=BUDGET)
        message = PsiClient(job, GRANTEE, suite.public_key(client_key), BETA_IDS, terms.kem_key).request()
        requests.append((message, {JOB_HEADER: job_tag(grant_id, job_id)}))
    pool = ThreadPoolExecutor(2)
    try:
        with member(psi, GRANTEE) as client:

            def send(through: LiveGateway, job: int) -> Any:
                message, headers = requests[job]
                return client.call(
                    through.url, "POST", f"{steps}/request", purpose=PSI_PURPOSE, content=message, headers=headers
                )

            first = pool.submit(send, a, 0)  # held by the owner's service
            wait_until(lambda: len(held) == 1, "the owner's service to hold a's request step", 20, every=0.02)
            first_alone = pool.submit(send, alone, 1)
            wait_until(lambda: len(held) == 2, "the owner's service to hold the lone one's", 20, every=0.02)
            busy = [send(b, 0), send(a, 0), send(alone, 1)]
            assert [(r.status, r.denial_reason) for r in busy] == [(409, "psi_run_in_flight")] * 3, busy
            assert {r.headers["Retry-After"] for r in busy} == {str(PSI_IN_FLIGHT_RETRY_S)}
            leases = [each.gateway._leases for each in gateways]  # what renews a held run's lease while it is alive
            assert [sorted(held_by) for held_by in leases] == [[held[0]], [], [held[1]]], leases
            assert not any(renewing.done() for held_by in leases for renewing in held_by.values())
            loop.loop.call_soon_threadsafe(let_go.set)
            answered = [first.result(30), first_alone.result(30)]
            assert leases == [{}, {}, {}]  # stopped once each run was counted
            assert [(r.status, r.event_id) for r in answered] == [(200, held[0]), (200, held[1])], answered
            again = [send(b, 0), send(alone, 1)]
            assert [(r.status, r.content) for r in again] == [(200, r.content) for r in answered]
        used, spent = counters[1].used(grant_id), counters[1].spent(grant_id)
        used_alone, spent_alone = alone.outbox.quota_used(grant_id), alone.outbox.dp_spent(grant_id)
        events = [e for g in gateways for e in g.recorded_since(0)]
    finally:
        loop.loop.call_soon_threadsafe(let_go.set)  # the held requests end, whatever failed
        pool.shutdown()
        for each in gateways:
            each.close()
        for counter in counters:
            counter.close()
        loop.run(runner.cleanup())
        loop.close()
    assert (used, spent) == (1, 3000)  # one run, one job's ε (3 noisy counts of ε 1)
    assert (used_alone, spent_alone) == (1, 3000)
    for event in events:
        validate_event(event)  # as the notary takes it
    by_id = {e["event_id"]: e for e in events}
    assert [(by_id[r.event_id]["decision"], by_id[r.event_id]["status"]) for r in busy] == [("deny", 409)] * 3
    for counted in answered:
        assert by_id[counted.event_id]["psi_dp_cost"] == "3" and "psi_retry_of" not in by_id[counted.event_id]
    retries = [by_id[r.event_id] for r in again]
    assert [(e["decision"], e["gateway_id"], e["psi_retry_of"]) for e in retries] == [
        ("allow", b.gateway_id, held[0]), ("allow", alone.gateway_id, held[1])
    ]  # fmt: skip
    assert not any("psi_dp_cost" in e for e in retries)
