"""The SDK's disclosures (``sdk.disclosure``), in process: made from a real small PSI job's files on disk
(``tests.support.privacy_job``), checked alone, against the auditor's own record and with the evidence bundle of the
job's record step (real bundles under a consortium directory's keys, anchored in a block of an in-process chain
node, ``tests.unit.cli.test_disclosure_evidence``, checked offline); every refusal raises an ``SdkError`` naming
what is wrong. Fetching the bundle through a notary: ``tests/integration/gateway/test_gateway_psi.py``."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from network.logsetup import roots_from_description
from network.witnesskeys import offline_witnesses, with_witnesses
from notary.bundle import EvidenceBundle
from notary.verify import TrustRoots
from privacy.document import parse_document
from privacy.jobfiles import RECORD_FILE
from sdk import SdkError, VerificationFailedError
from sdk.disclosure import DisclosureReport, make_disclosure, verify_disclosure
from sdk.privacy import PsiSetupError
from tests.support.privacy_job import CLIENT_ORG, JOB_ID, SERVER_ORG, small_job
from tests.unit.cli.test_disclosure_evidence import RECORD_INDEX, REQUEST_INDEX, log_bundles
from tests.unit.network.test_crypto_suite import consortium


def write(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The client's and the server's job files of the small job, the log's bundles of its events and the trust
    roots they verify under offline (consortium.json's keys, the in-process node's validator)."""
    root = tmp_path_factory.mktemp("sdk-disclosure")
    description = consortium(root, "intl")
    bundles, validator = log_bundles(root, description)
    roots = dataclasses.replace(roots_from_description(description), validators=(validator,))
    job = small_job()
    return {
        "client": write(root / "client", job.client_files),
        "server": write(root / "server", job.server_files),
        "bundles": bundles,
        "roots": with_witnesses(roots, description, offline_witnesses(description)),
    }


def test_a_disclosure_made_from_a_jobs_directory_verifies_and_says_what_it_proves(world: dict[str, Any]) -> None:
    disclosure = make_disclosure(world["client"], "acct: s-3", set_name="result", job_id=JOB_ID, member=True)
    assert (disclosure.claim.identifier, disclosure.claim.member, disclosure.claim.org) == ("ACCT:S3", True, CLIENT_ORG)
    assert disclosure.summary == f"membership proof: identifier ACCT:S3 was in the result of job {JOB_ID}"
    assert parse_document(disclosure.data).proof.identifier == "ACCT:S3"
    report = verify_disclosure(disclosure.data, record=(world["client"] / RECORD_FILE).read_bytes())
    assert report.ok and report.claim == disclosure.claim and not report.keys_checked
    assert [s.name for s in report.steps] == ["record", "signatures", "keys", "suite", "proof"]
    assert report.pending == ("keys",) and report.failed == ()
    lines = report.to_text().splitlines()
    assert lines[0].startswith(f"✓ record — job {JOB_ID}, sha256 ") and lines[0].endswith("(matches the record given)")
    assert lines[2].startswith("- keys — NOT checked against anything")
    assert lines[-1] == f"identifier ACCT:S3 was in the result of job {JOB_ID} (committed by {CLIENT_ORG})"

    # the server's files, as paths in any order; an identifier it does not hold gets a non-membership proof
    paths = sorted(world["server"].iterdir(), reverse=True)
    other = make_disclosure(paths, "ACCT:C1")
    assert (other.claim.member, other.claim.org, other.claim.party) == (False, SERVER_ORG, "server")
    assert other.summary == f"non-membership proof: identifier ACCT:C1 was not in {SERVER_ORG}'s input of job {JOB_ID}"
    written = world["server"].parent / "c1.json"
    other.write(written)
    assert verify_disclosure(written, job_id=JOB_ID, identifier="acct:c-1", member=False).ok
    with pytest.raises(ValueError, match="fetch it first"):
        other.write(written, evidence=written.with_suffix(".evidence.json"))


def test_job_files_that_cannot_make_the_disclosure_asked_are_refused(world: dict[str, Any], tmp_path: Path) -> None:
    client, server = world["client"], world["server"]
    cases: list[tuple[Any, str, dict[str, Any], str]] = [
        (client, "ACCT:C1", {"set_name": "result", "member": True},
         f"identifier ACCT:C1 is not in the result of job {JOB_ID}: no membership proof to make"),
        (client, "ACCT:S3", {"member": False},
         f"identifier ACCT:S3 is in {CLIENT_ORG}'s input of job {JOB_ID}: no non-membership proof to make"),
        (client, "ACCT:S3", {"job_id": "job-43"}, f"the job files are of job {JOB_ID}, not of job job-43"),
        (server, "ACCT:S3", {"set_name": "result"}, "no result set file among the job files"),
        (client, "ACCT:S3", {"set_name": "output"}, "set_name must be one of input, result, not 'output'"),
        (client, "S3", {}, "names no scheme"),
        ([client / RECORD_FILE], "ACCT:S3", {}, "the job files lack vrf-key.json, a set file"),
        ([client / RECORD_FILE, tmp_path / "missing.json"], "ACCT:S3", {}, "cannot read the job file"),
        ([*sorted(client.iterdir()), server / "vrf-key.json"], "ACCT:S3", {}, "a second VRF key file"),
        (write(tmp_path / "empty", {}), "ACCT:S3", {}, "no job files in"),
        ({"proof.json": b'{"format": "consortium-ledger/privacy-disclosure/v1"}'}, "ACCT:S3", {},
         "proof.json: not a job file (format 'consortium-ledger/privacy-disclosure/v1')"),
        ({**small_job().client_files, RECORD_FILE: small_job("job-43").client_files[RECORD_FILE]}, "ACCT:S3", {},
         "the set file is of job job-42, the key of job-42, the record of job-43"),
    ]  # fmt: skip
    for files, identifier, options, reason in cases:
        with pytest.raises(PsiSetupError) as raised:
            make_disclosure(files, identifier, **options)
        assert reason in str(raised.value), (options, str(raised.value))


def test_a_document_that_proves_nothing_is_refused_saying_why(world: dict[str, Any], tmp_path: Path) -> None:
    data = make_disclosure(world["client"], "ACCT:S3").data
    document = json.loads(data)
    document["claim"]["identifier"] = "ACCT:S4"  # the proof of another identifier
    forged = json.dumps(document, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    rerun = small_job.__wrapped__()  # the same job run again: another record
    (tmp_path / "other-record.json").write_bytes(rerun.client_files[RECORD_FILE])
    cases: list[tuple[bytes | Path, dict[str, Any], str, str]] = [
        (b'{"format": "consortium-ledger/privacy-committed-set/v1"}', {}, "document",
         "the disclosure does NOT verify: disclosure: format"),
        (world["client"] / RECORD_FILE, {}, "document", "the disclosure does NOT verify: "),
        (tmp_path / "missing.json", {}, "document", "the disclosure does NOT verify: cannot read "),
        (forged, {}, "document", "the disclosure does NOT verify: "),
        (data, {"record": tmp_path / "other-record.json"}, "document", "not to the record given"),
        (data, {"job_id": "job-43"}, "expected",
         "the disclosure is NOT the one expected: expected"),
        (data, {"identifier": "ACCT:S4", "member": False}, "expected", "the disclosure is NOT the one expected"),
    ]  # fmt: skip
    for source, options, failed, message in cases:
        with pytest.raises(VerificationFailedError) as raised:
            verify_disclosure(source, **options)
        assert message in str(raised.value), (options, str(raised.value))
        report = raised.value.report
        assert not report.ok and report.failed == (failed,), report.failed
        assert report.to_text().splitlines()[-1] == str(raised.value)
        again = verify_disclosure(source, check=False, **options)
        assert again.failed == (failed,) and not again.ok
    expected = verify_disclosure(data, job_id="job-43", identifier="ACCT:S4", member=False, check=False)
    assert expected.step("expected").detail == (
        f"it is about job {JOB_ID}, not job job-43; it is about identifier ACCT:S3, not ACCT:S4; it proves "
        "membership, not the other"
    )
    with pytest.raises(ValueError, match="give description"):
        verify_disclosure(data, evidence=world["bundles"][RECORD_INDEX])
    with pytest.raises(ValueError, match="the identifier expected: identifier 'S3' names no scheme"):
        verify_disclosure(data, identifier="S3")


def test_the_record_steps_evidence_binds_the_disclosure_to_the_log(world: dict[str, Any], tmp_path: Path) -> None:
    made = make_disclosure(world["client"], "ACCT:S3")
    data = made.data
    roots: TrustRoots = world["roots"]
    # as fetch_record_evidence leaves it (the bundle a notary serves), written and read back as an auditor would
    fetched = dataclasses.replace(made, evidence=EvidenceBundle.from_json(world["bundles"][RECORD_INDEX]))
    fetched.write(tmp_path / "s3.json", evidence=tmp_path / "s3.evidence.json")
    bundle = json.loads((tmp_path / "s3.evidence.json").read_text())
    assert bundle == world["bundles"][RECORD_INDEX]
    report = verify_disclosure(tmp_path / "s3.json", evidence=bundle, description=roots)
    assert report.ok and report.keys_checked and report.evidence is not None and report.evidence.complete
    assert report.logged is not None
    assert (report.logged.event_id, report.logged.index, report.logged.block) == (f"ev-{RECORD_INDEX}", RECORD_INDEX, 1)
    assert [s.name for s in report.binding] == ["event", "psi_record", "caller", "provider", "job"]
    assert report.step("keys").ok is True and report.step("logged").detail.startswith(
        f"the record is the one logged at index {RECORD_INDEX} (event ev-{RECORD_INDEX}), anchored at block 1"
    )
    assert report.to_json()["logged"] == {
        "event_id": f"ev-{RECORD_INDEX}", "index": RECORD_INDEX, "block": 1, "gateway": f"{SERVER_ORG}/gw-1"
    }  # fmt: skip

    # evidence of another event: the job's request step, and another call altogether
    for index, failed in (
        (REQUEST_INDEX, ("event", "psi_record")),
        (0, ("event", "psi_record", "caller", "provider", "job")),
    ):
        with pytest.raises(VerificationFailedError) as raised:
            verify_disclosure(data, evidence=world["bundles"][index], description=roots)
        assert raised.value.report.failed == failed
        assert str(raised.value) == f"the record is NOT the one event 'ev-{index}' logged: {', '.join(failed)}"
        refused = raised.value.report
        assert isinstance(refused, DisclosureReport) and not refused.keys_checked

    # a bundle that fails as evidence fails the disclosure, before any binding check
    tampered = copy.deepcopy(world["bundles"][RECORD_INDEX])
    tampered["inclusion"]["proof"][0] = base64.b64encode(b"\x00" * 32).decode()
    report = verify_disclosure(data, evidence=tampered, description=roots, check=False)
    assert not report.ok and report.failed == ("inclusion",) and report.binding == ()
    assert report.verdict() == f"evidence of 'ev-{RECORD_INDEX}' does NOT verify: inclusion"
    assert isinstance(VerificationFailedError(report, report.verdict()), SdkError)
