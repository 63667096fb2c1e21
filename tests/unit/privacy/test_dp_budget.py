"""A grant's privacy budget and the noisy input counts (``privacy.dp``): the terms that set them and every refusal,
a job whose three counts are released with noise (the record, its summary in the log, the owner's checks), and
what the owner's gateway checks and spends of a budget (``gateway.psi.PsiGuard``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.policy import Decision, Service
from gateway.psi import PsiGuard
from notary.event import MAX_PSI_SUMMARY_BYTES, psi_summary_problem
from privacy.asset import PsiAssetTerms, format_asset_terms, format_record_step, parse_asset_terms, terms_digest
from privacy.dp import check_budget, check_dp_terms, format_milli, job_cost, milli, summary_cost
from privacy.errors import MalformedError, RefusedError
from privacy.psi import PROTOCOL, JobTerms, PsiClient, PsiServer, _format_message, _parse_message
from privacy.record import JobRecord, SignedRecord, format_record, format_summary, parse_record, sign_record
from sdk.privacy import PsiSetupError, write_psi_terms

GRANT = "0x" + "4d" * 32
TERMS = JobTerms("job-in", GRANT, "aml-screening", 400, "0.5", dp_inputs=True, dp_budget="4")
CLIENT_KEY, SERVER_KEY = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
KEM = X25519PrivateKey.generate()
CLIENT_IDS = [f"acct:c{n}" for n in range(170)] + [f"acct:s{n}" for n in range(30)]  # 200, 30 shared
SERVER_IDS = [f"acct:s{n}" for n in range(300)]
BASE = PsiAssetTerms("customer-ids", "beta", PROTOCOL, 400, KEM.public_key().public_bytes_raw(), "/v1/privacy/ids")


@pytest.mark.parametrize("bad", ["0", "0.0", "-1", "10000.001", "10001", "01", "1.2345", "1e3", " 1", "", 1, None])
def test_a_budget_that_is_not_a_decimal_string_in_range_is_refused(bad: object) -> None:
    with pytest.raises(MalformedError, match="decimal string above 0 and at most 10000"):
        check_budget(bad)


@pytest.mark.parametrize("good", ["0.001", "1", "2.5", "10", "9999.999", "10000"])
def test_a_budget_in_range_is_taken_and_counted_in_thousandths(good: str) -> None:
    assert check_budget(good) == good
    assert format_milli(milli(good)) == good


def test_a_job_spends_epsilon_for_each_count_it_releases() -> None:
    assert job_cost("0.5", False) == 500 and job_cost("0.5", True) == 1500
    assert job_cost("0.001", True) == 3 and job_cost("10", True) == 30_000
    assert format_milli(1500) == "1.5" and format_milli(3) == "0.003" and format_milli(0) == "0"


def test_terms_refuse_a_budget_or_noisy_inputs_without_an_epsilon_and_a_budget_no_job_fits() -> None:
    for budget, inputs in (("10", False), (None, True), ("10", True)):
        with pytest.raises(MalformedError, match="need dp_epsilon"):
            check_dp_terms(None, budget, inputs)
        with pytest.raises(MalformedError, match="need dp_epsilon"):
            dataclasses.replace(BASE, dp_budget=budget, dp_inputs=inputs)
    with pytest.raises(MalformedError, match=r"less than the ε one job spends \(3\)"):
        dataclasses.replace(BASE, dp_epsilon="1", dp_budget="2.999", dp_inputs=True)
    check_dp_terms("1", "3", True)  # exactly one job
    with pytest.raises(MalformedError, match="need dp_epsilon"):
        JobTerms("job-x", GRANT, "aml-screening", 10, None, dp_inputs=True)


def test_terms_with_a_budget_and_noisy_inputs_keep_them_and_plain_terms_keep_their_bytes() -> None:
    plain = format_asset_terms(BASE)
    assert b"dp_budget" not in plain and b"dp_inputs" not in plain
    full = dataclasses.replace(BASE, dp_epsilon="1", dp_budget="12.5", dp_inputs=True)
    document = format_asset_terms(full)
    assert b'"dp_budget":"12.5"' in document and b'"dp_inputs":true' in document
    assert parse_asset_terms(document) == full
    for forged, field in (
        (document.replace(b'"dp_inputs":true', b'"dp_inputs":false'), "dp_inputs must be true"),
        (document.replace(b'"dp_budget":"12.5"', b'"dp_budget":"0"'), "dp_budget must be"),
        (document.replace(b'"dp_budget":"12.5"', b'"dp_budget":"2.5"'), "less than the ε one job spends (3)"),
    ):
        with pytest.raises(MalformedError) as refused:
            parse_asset_terms(forged)
        assert field in str(refused.value)
    no_epsilon = document.replace(b'"dp_epsilon":"1",', b"")
    with pytest.raises(MalformedError, match="need dp_epsilon"):
        parse_asset_terms(no_epsilon)


@pytest.fixture(scope="module")
def job() -> Iterator[tuple[PsiServer, SignedRecord]]:
    client = PsiClient(TERMS, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
    server = PsiServer(TERMS, "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM)
    record = client.finish(server.respond(client.request())).record
    server.check_record(record)
    signed = SignedRecord(record, sign_record(record, "client", CLIENT_KEY), sign_record(record, "server", SERVER_KEY))
    yield server, signed


def test_a_job_with_noisy_inputs_logs_no_exact_count_at_all(job: tuple[PsiServer, SignedRecord]) -> None:
    _, signed = job
    record = signed.record
    assert (record.client.input.count, record.server.input.count, record.result_count) == (200, 300, 30)
    assert record.dp is not None and record.dp.inputs is not None and record.dp.cost == 1500
    assert all(n >= 0 for n in record.dp.inputs)
    summary = format_summary(signed)
    assert psi_summary_problem(summary) is None
    held = json.loads(summary)
    assert "input_count" not in held["client"] and "input_count" not in held["server"]
    assert "count" not in held["result"]
    assert held["dp"]["inputs"] == {"client": record.dp.inputs[0], "server": record.dp.inputs[1]}
    assert JobRecord.from_json(record.to_json()) == record


def test_the_largest_summary_with_noisy_inputs_fits_the_logs_bound(job: tuple[PsiServer, SignedRecord]) -> None:
    _, signed = job
    big = 2**53 - 1
    record = signed.record
    assert record.dp is not None
    largest = dataclasses.replace(
        record,
        grant_id=GRANT,
        protocol="p" * 32,
        implementation="i" * 64,
        max_input=big,
        client=dataclasses.replace(record.client, org="c" * 32),
        server=dataclasses.replace(record.server, org="s" * 32),
        dp=dataclasses.replace(
            record.dp, implementation="o" * 64, epsilon="10.000", count=big, inputs=(big, big), budget="10000.000"
        ),
    )
    summary = format_summary(dataclasses.replace(signed, record=largest))
    assert len(summary.encode()) <= MAX_PSI_SUMMARY_BYTES and psi_summary_problem(summary) is None
    # with the national suite's longer keys (an SM2 signing key of 65 bytes, a compressed VRF point of 33)
    sm_key = b"\x04" + b"\xee" * 64
    national = dataclasses.replace(
        largest,
        client=dataclasses.replace(
            largest.client,
            signing_key=sm_key,
            input=dataclasses.replace(largest.client.input, vrf_key=b"\x02" + b"\xee" * 32),
        ),
        server=dataclasses.replace(
            largest.server,
            signing_key=sm_key,
            input=dataclasses.replace(largest.server.input, vrf_key=b"\x03" + b"\xee" * 32),
        ),
    )
    summary = format_summary(dataclasses.replace(signed, record=national))
    assert len(summary.encode()) <= MAX_PSI_SUMMARY_BYTES and psi_summary_problem(summary) is None, len(summary)
    # and without noisy inputs: exact input counts instead
    assert national.dp is not None
    exact = dataclasses.replace(national, dp=dataclasses.replace(national.dp, inputs=None))
    summary = format_summary(dataclasses.replace(signed, record=exact))
    assert len(summary.encode()) <= MAX_PSI_SUMMARY_BYTES and psi_summary_problem(summary) is None, len(summary)
    # and under a grant's own terms, which the record names by their digest (privacy.asset): the largest there is
    own = dataclasses.replace(national, terms=b"\xee" * 32)
    summary = format_summary(dataclasses.replace(signed, record=own))
    assert len(summary.encode()) == 1835 <= MAX_PSI_SUMMARY_BYTES and psi_summary_problem(summary) is None


def test_the_record_states_the_grants_budget_and_one_without_keeps_its_bytes(
    job: tuple[PsiServer, SignedRecord],
) -> None:
    _, signed = job
    record = signed.record
    assert record.dp is not None and record.dp.budget == "4"
    held = json.loads(format_summary(signed))
    assert held["dp"]["budget"] == "4" and held["dp"]["epsilon"] == "0.5" and "inputs" in held["dp"]
    assert summary_cost(held["dp"]) == 1500
    # a record written before the field, or under terms without a budget, parses and has no budget
    older = dataclasses.replace(record, dp=dataclasses.replace(record.dp, budget=None))
    data = format_record(older)
    assert b"budget" not in data and parse_record(data) == older
    assert "budget" not in json.loads(format_summary(dataclasses.replace(signed, record=older)))["dp"]
    assert psi_summary_problem(format_summary(dataclasses.replace(signed, record=older))) is None
    for bad in ("0", "10001", "1e3", 4):
        forged = json.loads(format_record(record))
        forged["dp"]["budget"] = bad
        with pytest.raises(MalformedError, match=r"record\.dp\.budget must be a decimal string"):
            JobRecord.from_json(forged)
        wrong = dict(held, dp={**held["dp"], "budget": bad})
        assert psi_summary_problem(json.dumps(wrong, separators=(",", ":"), sort_keys=True)) == (
            "dp.budget must be a decimal string above 0 and at most 10000, such as '10' or '2.5'"
        )


def test_the_owner_and_its_gateway_refuse_a_job_that_states_another_budget(
    job: tuple[PsiServer, SignedRecord],
) -> None:
    server, signed = job
    dp = signed.record.dp
    assert dp is not None
    for other in (None, "5"):
        with pytest.raises(RefusedError, match="dp") as refused:
            server.check_record(dataclasses.replace(signed.record, dp=dataclasses.replace(dp, budget=other)))
        assert refused.value.reason == "record_mismatch"
    for other in (None, "5"):  # a request whose terms name another budget than the owner's
        client_terms = dataclasses.replace(TERMS, job_id="job-bud", dp_budget=other)
        client = PsiClient(client_terms, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
        fresh = PsiServer(
            dataclasses.replace(TERMS, job_id="job-bud"), "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM
        )
        with pytest.raises(RefusedError, match="dp_budget") as refused:
            fresh.respond(client.request())
        assert refused.value.reason == "wrong_terms"
        gate, digest = guard(dp_epsilon="0.5", dp_budget="4", dp_inputs=True)
        denied = gate.check(SERVICE, "request", client.request(), DECISION, "aml-screening", "alpha", digest)
        assert denied is not None and denied.reason == "psi_wrong_terms" and "dp_budget" in denied.detail
        record_step = format_record_step(
            dataclasses.replace(signed.record, dp=dataclasses.replace(dp, budget=other)), signed.client_signature
        )
        denied = gate.check(RECORD_SERVICE, "record", record_step, DECISION, "aml-screening", "alpha", digest)
        assert denied is not None and denied.reason == "psi_wrong_terms" and "dp_budget" in denied.detail


def test_the_log_refuses_a_summary_with_an_exact_and_a_noisy_input_count(job: tuple[PsiServer, SignedRecord]) -> None:
    _, signed = job
    held = json.loads(format_summary(signed))

    def problem(changed: dict[str, object]) -> str | None:
        return psi_summary_problem(json.dumps(changed, separators=(",", ":"), sort_keys=True))

    both = json.loads(json.dumps(held))
    both["client"]["input_count"] = 200
    assert problem(both) == "client must have exactly the fields input_root, org, signing_key, vrf_key"
    bad = json.loads(json.dumps(held))
    bad["dp"]["inputs"]["server"] = -1
    assert problem(bad) == "dp.inputs.server must be a count"
    missing = json.loads(json.dumps(held))
    del missing["dp"]["inputs"]["client"]
    assert problem(missing) == "dp.inputs must have exactly the fields client, server"


def test_the_owner_refuses_a_record_without_its_noisy_input_count_or_with_another(
    job: tuple[PsiServer, SignedRecord],
) -> None:
    server, signed = job
    dp = signed.record.dp
    assert dp is not None and dp.inputs is not None
    for changed in (
        dataclasses.replace(dp, inputs=None),
        dataclasses.replace(dp, inputs=(dp.inputs[0], dp.inputs[1] + 1)),
    ):
        with pytest.raises(RefusedError, match="dp") as refused:
            server.check_record(dataclasses.replace(signed.record, dp=changed))
        assert refused.value.reason == "record_mismatch"


def test_a_request_and_a_response_must_agree_on_noisy_inputs() -> None:
    without = dataclasses.replace(TERMS, job_id="job-io", dp_inputs=False)
    for client_terms, server_terms in ((without, dataclasses.replace(TERMS, job_id="job-io")), (TERMS, without)):
        client = PsiClient(client_terms, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
        server = PsiServer(server_terms, "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM)
        with pytest.raises(RefusedError, match="dp_inputs") as refused:
            server.respond(client.request())
        assert refused.value.reason == "wrong_terms"
    # a response that leaves out the server's noisy input count, or adds one the terms do not ask for
    for terms in (TERMS, without):
        client = PsiClient(terms, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
        server = PsiServer(terms, "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM)
        header, payload = _parse_message(server.respond(client.request()), "response")
        if terms.dp_inputs:
            del header["server_dp_input"]
        else:
            header["server_dp_input"] = 3
        with pytest.raises(RefusedError, match="noisy input count") as refused:
            client.finish(_format_message(header, payload))
        assert refused.value.reason == "wrong_terms"


def test_the_server_draws_its_noisy_input_count_once_per_job() -> None:
    terms = dataclasses.replace(TERMS, job_id="job-once", dp_epsilon="0.01")
    server = PsiServer(terms, "beta", SERVER_KEY.public_key(), SERVER_IDS, KEM)
    drawn = set()
    for _ in range(5):
        client = PsiClient(terms, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS, KEM.public_key())
        drawn.add(_parse_message(server.respond(client.request()), "response")[0]["server_dp_input"])
    assert len(drawn) == 1  # asking again does not average the noise away


# ---------------------------------------------------------------------------------------------- the owner's gateway

SERVICE = Service("psi-request", "screening", "compliance", "customer-ids", "POST", "/v1/privacy/ids/request")
RECORD_SERVICE = dataclasses.replace(SERVICE, api="psi-record", route="/v1/privacy/ids/record")
DECISION = Decision(True, None, "", GRANT, 0, 1)


def guard(**dp: object) -> tuple[PsiGuard, bytes]:
    document = format_asset_terms(dataclasses.replace(BASE, **dp))  # type: ignore[arg-type]
    return PsiGuard({"customer-ids": document}, "beta"), terms_digest(document)


def test_the_gateway_knows_what_a_job_spends_of_a_grants_budget() -> None:
    assert guard()[0].budget(SERVICE, None) is None
    assert guard(dp_epsilon="1")[0].budget(SERVICE, None) is None  # an ε without a budget: bounded by the runs alone
    budget = guard(dp_epsilon="0.5", dp_budget="4", dp_inputs=True)[0].budget(SERVICE, None)
    assert budget is not None and (budget.cost, budget.limit, budget.counts) == (1500, 4000, 3)
    assert budget.refusal(GRANT, 3000) == (
        f"the job would spend ε 1.5 (3 noisy counts of ε 0.5, sequential composition) of the privacy budget of grant "
        f"{GRANT}, 4: 3 spent, 1 left"
    )


def test_the_gateway_refuses_a_request_or_record_that_leaves_out_the_noisy_inputs_or_adds_them(
    job: tuple[PsiServer, SignedRecord],
) -> None:
    _, signed = job
    with_inputs, digest = guard(dp_epsilon="0.5", dp_budget="4", dp_inputs=True)
    without, plain_digest = guard(dp_epsilon="0.5", dp_budget="4")
    request = PsiClient(TERMS, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS[:3], KEM.public_key()).request()
    plain_terms = dataclasses.replace(TERMS, dp_inputs=False)
    plain_request = PsiClient(plain_terms, "alpha", CLIENT_KEY.public_key(), CLIENT_IDS[:3], KEM.public_key()).request()
    record_step = format_record_step(signed.record, signed.client_signature)
    assert with_inputs.check(SERVICE, "request", request, DECISION, "aml-screening", "alpha", digest) is None
    assert with_inputs.check(RECORD_SERVICE, "record", record_step, DECISION, "aml-screening", "alpha", digest) is None
    for gate, step_digest, service, step, body in (
        (with_inputs, digest, SERVICE, "request", plain_request),
        (without, plain_digest, SERVICE, "request", request),
        (without, plain_digest, RECORD_SERVICE, "record", record_step),
    ):
        refused = gate.check(service, step, body, DECISION, "aml-screening", "alpha", step_digest)  # type: ignore[arg-type]
        assert refused is not None and (refused.reason, refused.status) == ("psi_wrong_terms", 403), (step, refused)
        assert "dp_inputs" in refused.detail


@pytest.mark.parametrize(
    ("epsilon", "budget", "inputs", "said"),
    [
        (None, "10", False, "--dp-budget and --dp-inputs need --dp-epsilon"),
        (None, None, True, "--dp-budget and --dp-inputs need --dp-epsilon"),
        ("1", "0", False, "--dp-budget must be a decimal string"),
        ("1", "1e3", True, "--dp-budget must be a decimal string"),
        ("1", "2", True, "less than the ε one job spends (3)"),
        ("0", "10", False, "--dp-epsilon must be a decimal string"),
    ],
)
def test_the_owner_cannot_write_terms_with_a_budget_no_job_fits_or_without_an_epsilon(
    tmp_path: Path, epsilon: str | None, budget: str | None, inputs: bool, said: str
) -> None:
    with pytest.raises(PsiSetupError) as refused:
        write_psi_terms(tmp_path, "beta", "customer-ids", 100, "/v1/privacy/ids", b"pass", epsilon, budget, inputs)
    assert said in str(refused.value)
    assert list(tmp_path.iterdir()) == []  # refused before a key is drawn: nothing written


def test_the_owner_writes_terms_with_a_budget_and_noisy_inputs(tmp_path: Path) -> None:
    path, document = write_psi_terms(
        tmp_path, "beta", "customer-ids", 100, "/v1/privacy/ids", b"pass", "0.25", "12", True
    )
    assert path.read_bytes() == document
    terms = parse_asset_terms(document)
    assert (terms.dp_epsilon, terms.dp_budget, terms.dp_inputs) == ("0.25", "12", True)
