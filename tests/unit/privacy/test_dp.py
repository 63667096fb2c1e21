"""privacy.dp and a job whose owner's terms set an ε: OpenDP's accounting of the mechanism, the noise it draws,
the record and its summary in the log, and every refusal."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from notary.event import psi_summary_problem
from privacy.asset import PsiAssetTerms, format_asset_terms, parse_asset_terms
from privacy.dp import MECHANISM, DpCount, check_epsilon, implementation, measurement, noisy_count
from privacy.errors import MalformedError, RefusedError
from privacy.psi import PROTOCOL, JobTerms, PsiClient, PsiServer
from privacy.record import (
    JobRecord,
    SignedRecord,
    format_signed_record,
    format_summary,
    parse_signed_record,
    sign_record,
    verify_record,
)

GRANT = "0x" + "3f" * 32
TERMS = JobTerms("job-dp", GRANT, "aml-screening", 400, "0.5")
CLIENT_KEY, SERVER_KEY = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
KEM = X25519PrivateKey.generate()
CLIENT_IDS = [f"acct:c{n}" for n in range(170)] + [f"acct:s{n}" for n in range(30)]  # 200, 30 shared
SERVER_IDS = [f"acct:s{n}" for n in range(300)]


@pytest.mark.parametrize("epsilon", ["0.001", "0.1", "0.3", "0.5", "1", "2.5", "10"])
def test_opendp_accounts_each_epsilon_for_a_change_of_one_identifier(epsilon: str) -> None:
    spent = measurement(epsilon).map(1)
    assert spent == pytest.approx(float(epsilon), rel=1e-9)


@pytest.mark.parametrize("bad", ["0", "0.000", "-1", "10.001", "11", "01", "1.2345", "1e-3", " 1", "", 1, 1.0, None])
def test_an_epsilon_that_is_not_a_decimal_string_in_range_is_refused(bad: object) -> None:
    with pytest.raises(MalformedError, match="decimal string above 0"):
        check_epsilon(bad)
    if bad is not None:  # None is a job without a differentially private count
        with pytest.raises(MalformedError):
            JobTerms("job-x", GRANT, "aml-screening", 10, bad)  # type: ignore[arg-type]


def test_the_noise_is_centred_on_the_count_and_scaled_by_one_over_epsilon() -> None:
    """Discrete Laplace with scale 1/ε puts (1 - e^-ε) / (1 + e^-ε) of its mass on the true count (0.462 at ε = 1)
    and has variance 2e^-ε / (1 - e^-ε)^2 (1.84 at ε = 1, 199.8 at ε = 0.1). The bounds are many standard errors
    wide: a mechanism without noise, or with another scale, falls outside them; a correct one does not flake."""
    one = measurement("1")  # what noisy_count draws from (about 0.5 ms a draw through OpenDP's FFI)
    tight = [one(1000) for _ in range(2000)]
    assert abs(statistics.fmean(tight) - 1000) < 0.25
    assert 0.40 < sum(x == 1000 for x in tight) / len(tight) < 0.52
    assert 1.3 < statistics.pvariance(tight) < 2.5
    tenth = measurement("0.1")
    wide = [tenth(1000) for _ in range(1000)]
    assert 120 < statistics.pvariance(wide) < 290


def test_a_noisy_count_is_clamped_to_zero_and_names_its_mechanism() -> None:
    drawn = [noisy_count(0, "0.01") for _ in range(100)]
    assert min(d.count for d in drawn) == 0 and max(d.count for d in drawn) > 0
    assert {(d.mechanism, d.implementation, d.epsilon) for d in drawn} == {(MECHANISM, implementation(), "0.01")}
    assert implementation().startswith("opendp 0.")
    with pytest.raises(MalformedError):
        noisy_count(-1, "1")


@pytest.fixture(scope="module")
def job() -> Iterator[tuple[PsiServer, SignedRecord]]:
    client = PsiClient(TERMS, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
    server = PsiServer(TERMS, "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM)
    record = client.finish(server.respond(client.request())).record
    server.check_record(record)
    signed = SignedRecord(record, sign_record(record, "client", CLIENT_KEY), sign_record(record, "server", SERVER_KEY))
    yield server, signed


def test_a_job_under_an_epsilon_records_the_exact_and_the_noisy_count_and_the_log_holds_only_the_noisy_one(
    job: tuple[PsiServer, SignedRecord],
) -> None:
    _, signed = job
    record = verify_record(signed, CLIENT_KEY.public_key(), SERVER_KEY.public_key())
    assert record.result_count == 30 and record.dp is not None
    assert (record.dp.mechanism, record.dp.epsilon) == (MECHANISM, "0.5") and record.dp.count >= 0
    assert parse_signed_record(format_signed_record(signed)) == signed
    summary = format_summary(signed)
    assert psi_summary_problem(summary) is None
    held = json.loads(summary)
    assert held["result"] == {"root": record.result_root.hex()}  # no exact count
    assert held["dp"] == record.dp.to_json()


def test_the_owner_refuses_a_record_without_its_epsilon_or_with_another(job: tuple[PsiServer, SignedRecord]) -> None:
    server, signed = job
    assert signed.record.dp is not None
    for dp in (None, dataclasses.replace(signed.record.dp, epsilon="1")):
        with pytest.raises(RefusedError, match="dp"):
            server.check_record(dataclasses.replace(signed.record, dp=dp))


def test_a_request_must_name_the_epsilon_of_the_owners_terms_and_no_other() -> None:
    plain = JobTerms("job-dq", GRANT, "aml-screening", 400)
    for client_terms, server_terms in (
        (plain, TERMS),
        (TERMS, plain),
        (TERMS, dataclasses.replace(TERMS, dp_epsilon="1")),
    ):
        client = PsiClient(client_terms, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
        server = PsiServer(server_terms, "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM)
        with pytest.raises(RefusedError, match="dp_epsilon") as refused:
            server.respond(client.request())
        assert refused.value.reason == "wrong_terms"


def test_the_log_refuses_a_summary_with_both_counts_or_a_bad_dp_field(job: tuple[PsiServer, SignedRecord]) -> None:
    _, signed = job
    held = json.loads(format_summary(signed))

    def problem(changed: dict[str, object]) -> str | None:
        return psi_summary_problem(json.dumps(changed, separators=(",", ":"), sort_keys=True))

    both = json.loads(json.dumps(held))
    both["result"]["count"] = 30
    assert problem(both) == "result must have exactly the fields root"
    for key, value in (("epsilon", "0"), ("epsilon", 0.5), ("mechanism", "gaussian"), ("count", -1)):
        bad = json.loads(json.dumps(held))
        bad["dp"][key] = value
        assert problem(bad) is not None and problem(bad).startswith(f"dp.{key} must be")  # type: ignore[union-attr]
    plain = json.loads(json.dumps(held))
    del plain["dp"]
    assert problem(plain) == "result must have exactly the fields count, root"


def test_a_record_with_a_malformed_dp_field_does_not_parse(job: tuple[PsiServer, SignedRecord]) -> None:
    _, signed = job
    for key, value in (("mechanism", "laplace"), ("epsilon", "0"), ("count", "3"), ("extra", 1)):
        obj = signed.record.to_json()
        obj["dp"][key] = value
        with pytest.raises(MalformedError, match=r"record\.dp"):
            JobRecord.from_json(obj)
    assert DpCount.from_json(signed.record.to_json()["dp"], "dp") == signed.record.dp


def test_asset_terms_carry_an_epsilon_and_keep_their_bytes_without_one() -> None:
    base = PsiAssetTerms("customer-ids", "beta", PROTOCOL, 1000, bytes(32), "/v1/privacy/customer-ids")
    plain = format_asset_terms(base)
    assert b"dp_epsilon" not in plain and parse_asset_terms(plain) == base
    with_dp = dataclasses.replace(base, dp_epsilon="1")
    assert parse_asset_terms(format_asset_terms(with_dp)).dp_epsilon == "1"
    forged = format_asset_terms(with_dp).replace(b'"dp_epsilon":"1"', b'"dp_epsilon":"0"')
    with pytest.raises(MalformedError, match="dp_epsilon"):
        parse_asset_terms(forged)
    with pytest.raises(MalformedError):
        dataclasses.replace(base, dp_epsilon="100")
