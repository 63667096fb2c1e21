"""privacy.asset (the PSI terms document, the steps), privacy.psi.inspect_request, and what gateway.psi checks on
each step before it forwards it."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.policy import Decision, Service
from gateway.psi import PsiGuard
from privacy.asset import (
    PsiAssetTerms,
    format_asset_terms,
    format_record_step,
    parse_asset_terms,
    parse_record_step,
    step_of,
    terms_digest,
)
from privacy.errors import MalformedError, SuiteMismatchError
from privacy.psi import PROTOCOL, JobTerms, PsiClient, PsiServer, _format_message, _parse_message, inspect_request
from privacy.record import sign_record
from privacy.suites import SM, KemKey, SigningKey
from suite.sm2 import SM2PrivateKey

KEM = X25519PrivateKey.generate()
TERMS = PsiAssetTerms("customer-ids", "alpha", PROTOCOL, 50, KEM.public_key().public_bytes_raw(), "/v1/psi/ids")
DOCUMENT = format_asset_terms(TERMS)
GRANT = "0x" + "ab" * 32
JOB = JobTerms("job-1", GRANT, "aml-screening", 50)
CLIENT_KEY = Ed25519PrivateKey.generate()
ALLOWED = Decision(True, None, "beta holds a grant", GRANT, 3, 1)
SM_KEM, SM_CLIENT_KEY = SM2PrivateKey.generate(), SM2PrivateKey.generate()
SM_TERMS = dataclasses.replace(TERMS, protocol=SM.protocol, kem_key=SM.kem_public(SM_KEM))
#: Per suite (consortium.json's crypto): the terms, their document, a job, the client's key and the owner's KEM key.
WORLDS: dict[str, tuple[PsiAssetTerms, bytes, JobTerms, SigningKey, KemKey]] = {
    "intl": (TERMS, DOCUMENT, JOB, CLIENT_KEY, KEM),
    "sm": (SM_TERMS, format_asset_terms(SM_TERMS), dataclasses.replace(JOB, suite=SM), SM_CLIENT_KEY, SM_KEM),
}


def service(step: str) -> Service:
    method = "GET" if step == "terms" else "POST"
    return Service(f"psi-{step}", "unit", "center", "customer-ids", method, f"/v1/psi/ids/{step}")


def request(count: int, job: JobTerms = JOB, org: str = "beta") -> bytes:
    _terms, _document, _job, client_key, kem = WORLDS[job.suite.name]
    ids = [f"ACCT:C{n}" for n in range(count)]
    return PsiClient(job, org, job.suite.public_key(client_key), ids, job.suite.kem_public(kem)).request()


def test_the_terms_document_round_trips_in_canonical_form_only() -> None:
    assert parse_asset_terms(DOCUMENT) == TERMS
    assert DOCUMENT.endswith(b"\n") and terms_digest(DOCUMENT) == hashlib.sha256(DOCUMENT).digest()
    with pytest.raises(MalformedError, match="canonical"):
        parse_asset_terms(DOCUMENT.replace(b'{"asset"', b'{ "asset"'))
    with pytest.raises(MalformedError):
        dataclasses.replace(TERMS, max_input=0)
    assert [step_of(r) for r in ("/v1/psi/ids/terms", "/v1/psi/ids/request", "/x/record", "/v1/quotes")] == [
        "terms",
        "request",
        "record",
        None,
    ]


@pytest.mark.parametrize("crypto", ["intl", "sm"])
def test_inspect_request_counts_the_elements_without_a_key(crypto: str) -> None:
    summary = inspect_request(request(7, WORLDS[crypto][2]))
    assert (summary.claimed_count, summary.element_count, summary.client_org) == (7, 7, "beta")
    assert summary.terms["max_input"] == 50 and summary.terms["grant_id"] == GRANT
    with pytest.raises(MalformedError):
        inspect_request(b"\x00\x00\x00\x02{}")


@pytest.mark.parametrize("crypto", ["intl", "sm"])
def test_the_guard_forwards_a_request_within_the_terms_and_refuses_each_departure(crypto: str) -> None:
    _terms, document, job, _client_key, _kem = WORLDS[crypto]
    guard = PsiGuard({"customer-ids": document}, "alpha", crypto)
    digest = terms_digest(document)
    assert guard.step(service("request")) == "request" and guard.counts_a_run("request")
    assert not guard.counts_a_run("terms") and not guard.counts_a_run("record")

    def check(body: bytes, *, purpose: str = "aml-screening", caller: str = "beta", on_chain: bytes = digest) -> str:
        denial = guard.check(service("request"), "request", body, ALLOWED, purpose, caller, on_chain)
        return "forwarded" if denial is None else f"{denial.status} {denial.reason}"

    assert check(request(50, job)) == "forwarded"
    assert check(request(10, job), on_chain=b"\x00" * 32) == "503 psi_terms_mismatch"
    assert check(b"not a request") == "400 psi_malformed"
    assert check(request(10, job), purpose="marketing") == "403 psi_wrong_terms"
    assert check(request(10, job), caller="gamma") == "403 psi_wrong_terms"
    assert check(request(10, dataclasses.replace(job, grant_id="0x" + "cd" * 32))) == "403 psi_wrong_terms"
    assert check(request(10, dataclasses.replace(job, max_input=60))) == "403 psi_wrong_terms"
    # a client that skipped its own check: 51 elements under the asset's terms
    header, payload = _parse_message(request(51, dataclasses.replace(job, max_input=60)), "request")
    assert check(_format_message({**header, "max_input": 50}, payload)) == "403 input_over_cap"
    # a header that claims fewer elements than the payload holds is counted by its payload
    big = request(51, dataclasses.replace(job, max_input=60))
    header, payload = _parse_message(big, "request")
    small = header["client_commitment"] | {"count": 3}
    assert check(_format_message({**header, "max_input": 50, "client_commitment": small}, payload)) == (
        "403 input_over_cap"
    )
    other = "sm" if crypto == "intl" else "intl"  # a request of the other suite's job names its protocol
    assert check(request(10, WORLDS[other][2])) == "403 psi_wrong_terms"


def test_the_record_step_round_trips_and_the_guard_checks_its_terms() -> None:
    server_key = Ed25519PrivateKey.generate()
    client = PsiClient(JOB, "beta", CLIENT_KEY.public_key(), ["ACCT:1", "ACCT:2"], KEM.public_key())
    server = PsiServer(JOB, "alpha", server_key.public_key(), ["ACCT:2", "ACCT:3"], KEM)
    outcome = client.finish(server.respond(client.request()))
    signature = sign_record(outcome.record, "client", CLIENT_KEY)
    body = format_record_step(outcome.record, signature)
    assert parse_record_step(body) == (outcome.record, signature)
    with pytest.raises(MalformedError):
        parse_record_step(body[:-1] + b" }")
    guard = PsiGuard({"customer-ids": DOCUMENT}, "alpha")
    digest = terms_digest(DOCUMENT)
    assert guard.check(service("record"), "record", body, ALLOWED, "aml-screening", "beta", digest) is None
    denial = guard.check(service("record"), "record", body, ALLOWED, "aml-screening", "gamma", digest)
    assert denial is not None and denial.reason == "psi_wrong_terms"
    # a record whose server is not the gateway's org: its event could not name its summary (notary.event)
    elsewhere = PsiServer(JOB, "gamma", server_key.public_key(), ["ACCT:2", "ACCT:3"], KEM)
    stray = client.finish(elsewhere.respond(client.request())).record
    stray_body = format_record_step(stray, sign_record(stray, "client", CLIENT_KEY))
    denial = guard.check(service("record"), "record", stray_body, ALLOWED, "aml-screening", "beta", digest)
    assert denial is not None and denial.reason == "psi_wrong_terms"
    assert "server 'gamma' (the owner is 'alpha')" in denial.detail
    assert guard.check(service("terms"), "terms", b"", ALLOWED, "aml-screening", "beta", digest) is None


def test_the_guard_refuses_terms_of_another_asset_or_owner() -> None:
    with pytest.raises(MalformedError):
        PsiGuard({"other-ids": DOCUMENT}, "alpha")
    with pytest.raises(MalformedError):
        PsiGuard({"customer-ids": DOCUMENT}, "gamma")


def test_the_guard_refuses_terms_of_another_suite_than_the_consortiums() -> None:
    PsiGuard({"customer-ids": WORLDS["sm"][1]}, "alpha", "sm")
    with pytest.raises(SuiteMismatchError, match=r"of the 'intl' suite .* under the 'sm' suite"):
        PsiGuard({"customer-ids": DOCUMENT}, "alpha", "sm")
    with pytest.raises(SuiteMismatchError, match="of the 'sm' suite"):
        PsiGuard({"customer-ids": WORLDS["sm"][1]}, "alpha", "intl")
    with pytest.raises(MalformedError, match="kem_key must be 65 bytes"):
        dataclasses.replace(SM_TERMS, kem_key=TERMS.kem_key)


@pytest.mark.parametrize(("crypto", "per_identifier"), [("intl", 0.005), ("sm", 0.03)])
def test_the_guard_waits_for_a_request_step_as_long_as_the_suites_cost_asks(crypto: str, per_identifier: float) -> None:
    """5 ms an identifier of max_input under intl, 30 ms under sm (privacy.psi.REQUEST_SECONDS_PER_ELEMENT_SM);
    other steps keep the gateway's own timeout."""
    terms, document, _job, _client_key, _kem = WORLDS[crypto]
    guard = PsiGuard({"customer-ids": document}, "alpha", crypto)
    assert guard.timeout_s(service("request")) == pytest.approx(per_identifier * terms.max_input)
    assert guard.timeout_s(service("terms")) is None and guard.timeout_s(service("record")) is None
