"""Terms per grant (privacy.asset.terms_of_grant): a grant's own PSI terms document, bound to the grant through the
digest the asset's terms on chain list for it, and what the owner's gateway (gateway.psi.PsiGuard) checks of a job
under them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.policy import Decision, Service
from gateway.psi import PsiGuard
from notary.event import psi_summary_problem
from privacy.asset import (
    PsiAssetTerms,
    PsiGrantTerms,
    format_asset_terms,
    format_grant_terms,
    format_record_step,
    parse_asset_terms,
    parse_grant_terms,
    terms_digest,
    terms_of_grant,
)
from privacy.errors import GrantTermsError, MalformedError
from privacy.psi import PROTOCOL, JobTerms, PsiClient, PsiServer, max_request_bytes
from privacy.record import JobRecord, SignedRecord, format_record, format_summary, parse_record, sign_record

KEM = X25519PrivateKey.generate()
ASSET = PsiAssetTerms("customer-ids", "alpha", PROTOCOL, 50, KEM.public_key().public_bytes_raw(), "/v1/psi/ids")
GRANT, OTHER_GRANT = "0x" + "ab" * 32, "0x" + "cd" * 32
OWN = PsiGrantTerms("customer-ids", GRANT, "beta", PROTOCOL, 10, b"\x01" * 16, dp_epsilon="1", dp_budget="4")
OWN_DOCUMENT = format_grant_terms(OWN)
OWN_DIGEST = terms_digest(OWN_DOCUMENT)
LISTING = ASSET.with_grant(GRANT, OWN_DIGEST)
LISTING_DOCUMENT = format_asset_terms(LISTING)
CLIENT_KEY = Ed25519PrivateKey.generate()
ALLOWED = Decision(True, None, "beta holds a grant", GRANT, 3, 1)
OTHER = Decision(True, None, "gamma holds a grant", OTHER_GRANT, 3, 1)


def service(step: str) -> Service:
    method = "GET" if step == "terms" else "POST"
    return Service(f"psi-{step}", "unit", "center", "customer-ids", method, f"/v1/psi/ids/{step}")


def job(max_input: int = 10, grant: str = GRANT, **changes: object) -> JobTerms:
    base = JobTerms("job-1", grant, "aml-screening", max_input, "1", dp_budget="4", terms_digest=OWN_DIGEST)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def request(count: int, terms: JobTerms, org: str = "beta") -> bytes:
    ids = [f"ACCT:C{n}" for n in range(count)]
    return PsiClient(terms, org, CLIENT_KEY.public_key(), ids, KEM.public_key()).request()


def test_the_grants_terms_document_round_trips_and_the_asset_lists_its_digest() -> None:
    assert parse_grant_terms(OWN_DOCUMENT) == OWN
    assert parse_asset_terms(LISTING_DOCUMENT) == LISTING
    assert b'"grants":{"' + GRANT.encode() + b'":"' + OWN_DIGEST.hex().encode() + b'"}' in LISTING_DOCUMENT
    assert format_asset_terms(ASSET) == format_asset_terms(LISTING.with_grant(GRANT, None))  # no grants: as before
    with pytest.raises(MalformedError, match="canonical"):
        parse_grant_terms(OWN_DOCUMENT.replace(b'{"asset"', b'{ "asset"'))
    with pytest.raises(MalformedError, match="grants"):
        dataclasses.replace(ASSET, grants=((OTHER_GRANT, OWN_DIGEST), (GRANT, OWN_DIGEST)))  # not sorted


def test_a_grant_runs_under_its_own_terms_or_the_assets() -> None:
    view = terms_of_grant(LISTING, GRANT, OWN_DOCUMENT)
    assert (view.terms.max_input, view.terms.dp_epsilon, view.digest, view.grantee) == (10, "1", OWN_DIGEST, "beta")
    assert (view.terms.kem_key, view.terms.steps) == (ASSET.kem_key, ASSET.steps)
    default = terms_of_grant(LISTING, OTHER_GRANT, None)
    assert (default.terms, default.digest, default.grantee) == (LISTING, None, None)


@pytest.mark.parametrize(
    ("asset", "grant", "document", "reason"),
    [
        (LISTING, GRANT, format_grant_terms(dataclasses.replace(OWN, asset="other-ids")), "grant_terms_other_asset"),
        (LISTING, GRANT, format_grant_terms(dataclasses.replace(OWN, max_input=11)), "grant_terms_mismatch"),
        (LISTING.with_grant(OTHER_GRANT, OWN_DIGEST), OTHER_GRANT, OWN_DOCUMENT, "grant_terms_other_grant"),
        (LISTING, GRANT, None, "grant_terms_missing"),
        (ASSET, GRANT, OWN_DOCUMENT, "grant_terms_unlisted"),
        (LISTING, GRANT, b"{}", "grant_terms_malformed"),
    ],
)
def test_grant_terms_that_do_not_bind_to_the_grant_are_refused(
    asset: PsiAssetTerms, grant: str, document: bytes | None, reason: str
) -> None:
    with pytest.raises(GrantTermsError) as caught:
        terms_of_grant(asset, grant, document)
    assert caught.value.reason == reason
    # the owner's gateway refuses to start on them: it would enforce terms the chain does not fix
    with pytest.raises(GrantTermsError):
        PsiGuard({"customer-ids": format_asset_terms(asset)}, "alpha", grant_documents={"customer-ids": {
            grant: document} if document is not None else {}})  # fmt: skip


def test_the_gateway_holds_a_job_to_its_grants_terms_not_the_assets() -> None:
    guard = PsiGuard(
        {"customer-ids": LISTING_DOCUMENT}, "alpha", grant_documents={"customer-ids": {GRANT: OWN_DOCUMENT}}
    )
    digest = terms_digest(LISTING_DOCUMENT)

    def check(body: bytes, decision: Decision = ALLOWED, caller: str = "beta") -> str:
        denial = guard.check(service("request"), "request", body, decision, "aml-screening", caller, digest)
        return "forwarded" if denial is None else f"{denial.status} {denial.reason}"

    assert check(request(10, job())) == "forwarded"
    # within the asset's cap of 50, over the grant's 10: refused before anything is forwarded or counted
    over = request(11, job(max_input=20))
    denial = guard.check(service("request"), "request", over, ALLOWED, "aml-screening", "beta", digest)
    assert denial is not None and denial.reason == "psi_wrong_terms" and "max_input 20 (expected 10)" in denial.detail
    from privacy.psi import _format_message, _parse_message

    header, payload = _parse_message(request(11, job(max_input=20)), "request")
    assert check(_format_message({**header, "max_input": 10}, payload)) == "403 input_over_cap"
    # the asset's terms (no digest, the asset's cap and no ε) are not this grant's
    assert check(request(10, JobTerms("job-1", GRANT, "aml-screening", 50))) == "403 psi_wrong_terms"
    assert check(request(10, job(terms_digest=b"\x00" * 32))) == "403 psi_wrong_terms"
    # another grant of the asset still runs under the asset's terms
    assert check(request(50, JobTerms("job-2", OTHER_GRANT, "aml-screening", 50), "gamma"), OTHER, "gamma") == (
        "forwarded"
    )
    assert check(request(10, job(grant=OTHER_GRANT), "gamma"), OTHER, "gamma") == "403 psi_wrong_terms"
    # the grant's budget and cap, not the asset's, and the body limit of the largest cap before any grant is decided
    budget = guard.budget(service("request"), GRANT)
    assert budget is not None and budget.limit == 4000
    assert guard.budget(service("request"), OTHER_GRANT) is None
    assert guard.body_limit(service("request")) == max_request_bytes(50)


def test_a_record_under_a_grants_terms_names_their_digest_in_the_log() -> None:
    terms = job()
    client = PsiClient(terms, "beta", CLIENT_KEY.public_key(), ["ACCT:1", "ACCT:2"], KEM.public_key())
    server_key = Ed25519PrivateKey.generate()
    server = PsiServer(terms, "alpha", server_key.public_key(), ["ACCT:2", "ACCT:3"], KEM)
    record = client.finish(server.respond(client.request())).record
    assert record.terms == OWN_DIGEST and parse_record(format_record(record)) == record
    server.check_record(record)
    with pytest.raises(Exception, match="grant terms"):
        server.check_record(dataclasses.replace(record, terms=None))
    signed = SignedRecord(record, sign_record(record, "client", CLIENT_KEY), sign_record(record, "server", server_key))
    summary = format_summary(signed)
    assert f'"terms":"{OWN_DIGEST.hex()}"' in summary and psi_summary_problem(summary) is None
    guard = PsiGuard(
        {"customer-ids": LISTING_DOCUMENT}, "alpha", grant_documents={"customer-ids": {GRANT: OWN_DOCUMENT}}
    )
    body = format_record_step(record, signed.client_signature)
    digest = terms_digest(LISTING_DOCUMENT)
    assert guard.check(service("record"), "record", body, ALLOWED, "aml-screening", "beta", digest) is None
    stripped = dataclasses.replace(record, terms=None)
    stripped_body = format_record_step(stripped, sign_record(stripped, "client", CLIENT_KEY))
    denial = guard.check(service("record"), "record", stripped_body, ALLOWED, "aml-screening", "beta", digest)
    assert denial is not None and denial.reason == "psi_wrong_terms"
    assert isinstance(JobRecord.from_json(record.to_json()), JobRecord)


def test_the_owner_gives_a_grant_terms_of_its_own_and_takes_them_back(tmp_path: Path) -> None:
    """sdk.privacy.write_grant_terms: the grant's document beside the asset's, which lists its digest; the asset's
    terms written again keep the list; --clear lists it no more; the service reads both (open_psi_service's files)."""
    from gateway.psi import grant_terms_dir, load_grant_terms, load_terms
    from sdk.privacy import PsiSetupError, write_grant_terms, write_psi_terms

    with pytest.raises(PsiSetupError, match="no PSI terms of customer-ids"):
        write_grant_terms(tmp_path, "alpha", "customer-ids", GRANT, "beta", 10)
    write_psi_terms(tmp_path, "alpha", "customer-ids", 50, "/v1/psi/ids", b"pass", crypto="intl")
    path, document = write_grant_terms(tmp_path, "alpha", "customer-ids", GRANT, "beta", 10, "1", "4")
    own = load_grant_terms(tmp_path, "alpha", "customer-ids")
    assert list(own) == [GRANT] and load_terms(tmp_path, "alpha")["customer-ids"] == document == path.read_bytes()
    view = terms_of_grant(parse_asset_terms(document), GRANT, own[GRANT])
    assert (view.terms.max_input, view.terms.dp_budget, view.grantee) == (10, "4", "beta")
    _, again = write_psi_terms(tmp_path, "alpha", "customer-ids", 60, "/v1/psi/ids", b"pass", crypto="intl")
    assert parse_asset_terms(again).grant_digest(GRANT) == terms_digest(own[GRANT])  # still listed
    with pytest.raises(PsiSetupError, match="budget"):
        write_grant_terms(tmp_path, "alpha", "customer-ids", OTHER_GRANT, "gamma", 10, None, "4")
    assert list(load_grant_terms(tmp_path, "alpha", "customer-ids")) == [GRANT]  # the refusal wrote nothing
    _, cleared = write_grant_terms(tmp_path, "alpha", "customer-ids", GRANT, None, None)
    assert parse_asset_terms(cleared).grants == () and not any(
        grant_terms_dir(tmp_path, "alpha", "customer-ids").iterdir()
    )
    with pytest.raises(PsiSetupError, match="no terms of its own"):
        write_grant_terms(tmp_path, "alpha", "customer-ids", GRANT, None, None)
