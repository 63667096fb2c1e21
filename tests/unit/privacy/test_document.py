"""privacy.document and privacy.jobfiles: the files round-trip, a document proves what it says, and every
forged field, foreign record or malformed byte is refused with an error naming what is wrong."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from privacy.document import (
    FORMAT,
    DisclosureDocument,
    format_document,
    parse_document,
    prove_document,
    verify_document,
)
from privacy.errors import DisclosureError, MalformedError, PrivacyError, RecordMismatchError, SignatureError
from privacy.jobfiles import (
    RECORD_STEP_FILE,
    JobFiles,
    RecordStepFile,
    format_committed_set,
    format_record_step_file,
    format_vrf_key,
    parse_committed_set,
    parse_record_step_file,
    parse_vrf_key,
    read_job_files,
    record_step_of,
)
from privacy.record import format_signed_record
from tests.support.privacy_job import CLIENT_ORG, JOB_ID, SERVER_ORG, small_job


def _files(party: str, suite: str = "intl") -> JobFiles:
    job = small_job(suite=suite)
    return read_job_files(job.client_files if party == "client" else job.server_files)


def _document(party: str, set_name: str, identifier: str, suite: str = "intl") -> DisclosureDocument:
    files = _files(party, suite)
    return prove_document(files.record, files.committed(set_name), files.key.party, set_name, identifier)  # type: ignore[arg-type]


BY = f"committed by {CLIENT_ORG}"
CASES = [
    ("client", "input", "ACCT:C3", True, f"identifier ACCT:C3 was in {CLIENT_ORG}'s input of job {JOB_ID}"),
    ("client", "input", "ACCT:S9", False, f"identifier ACCT:S9 was not in {CLIENT_ORG}'s input of job {JOB_ID}"),
    ("client", "result", "ACCT:S2", True, f"identifier ACCT:S2 was in the result of job {JOB_ID} ({BY})"),
    ("client", "result", "ACCT:C2", False, f"identifier ACCT:C2 was not in the result of job {JOB_ID} ({BY})"),
    ("server", "input", "ACCT:S29", True, f"identifier ACCT:S29 was in {SERVER_ORG}'s input of job {JOB_ID}"),
    ("server", "input", "ACCT:C0", False, f"identifier ACCT:C0 was not in {SERVER_ORG}'s input of job {JOB_ID}"),
]  # fmt: skip


@pytest.mark.parametrize("suite", ["intl", "sm"])
@pytest.mark.parametrize(("party", "set_name", "identifier", "member", "sentence"), CASES)
def test_round_trip_and_what_it_proves(
    party: str, set_name: str, identifier: str, member: bool, sentence: str, suite: str
) -> None:
    document = _document(party, set_name, identifier, suite)
    data = format_document(document)
    assert data.endswith(b"}\n") and b"\n" not in data[:-1]
    assert parse_document(data) == document and parse_document(data[:-1]) == document
    assert format_document(parse_document(data)) == data
    claim = verify_document(parse_document(data), format_signed_record(small_job(suite=suite).signed))
    assert document.record.record.protocol == ("ecdh-psi-sm2" if suite == "sm" else "ecdh-psi-p256")
    assert (claim.member, claim.party, claim.set) == (member, party, set_name)
    assert claim.sentence() == sentence
    assert json.loads(data)["format"] == FORMAT == "consortium-ledger/privacy-disclosure/v1"


def _mutations(obj: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every leaf value of the document's JSON changed to another value of the same shape."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _mutations(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _mutations(value, (*path, i))
    elif isinstance(obj, bool):
        yield path, not obj
    elif isinstance(obj, int):
        yield path, obj + 1
    elif path[-1] in ("party", "set"):
        yield path, {"client": "server", "server": "client", "input": "result", "result": "input"}[obj]
    elif path[-1] == "identifier":
        yield path, "ACCT:S1" if obj != "ACCT:S1" else "ACCT:S0"
    elif path[-1] in ("job_id", "format"):
        yield path, obj + "x"
    else:  # base64: one bit of the bytes flipped, in the first and in the last byte
        raw = base64.b64decode(obj)
        for i in (0, len(raw) - 1):
            yield path, base64.b64encode(raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :]).decode()


def _set(obj: Any, path: tuple[str | int, ...], value: Any) -> Any:
    changed = json.loads(json.dumps(obj))
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


@pytest.mark.parametrize("suite", ["intl", "sm"])
@pytest.mark.parametrize(("party", "set_name", "identifier"), [(p, s, i) for p, s, i, _, _ in CASES])
def test_every_forged_field_is_refused(party: str, set_name: str, identifier: str, suite: str) -> None:
    original = json.loads(format_document(_document(party, set_name, identifier, suite)))
    count = 0
    for path, value in _mutations(original):
        forged = json.dumps(_set(original, path, value), sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(PrivacyError):
            verify_document(parse_document(forged))
        count += 1
    assert count >= 12  # format, record ×2, record_sha256 ×2, 5 claim fields, vrf ×4, and each leaf's fields
    # whole leaves: dropped, or one repeated
    leaves = original["leaves"]
    for changed in (leaves[:-1], [*leaves, leaves[0]]):
        forged = json.dumps(_set(original, ("leaves",), changed), sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(PrivacyError):
            verify_document(parse_document(forged))


def test_claims_are_refused_for_the_reason_they_fail() -> None:
    original = json.loads(format_document(_document("server", "input", "ACCT:S3")))

    def check(path: tuple[str | int, ...], value: Any) -> None:
        verify_document(
            parse_document(json.dumps(_set(original, path, value), sort_keys=True, separators=(",", ":")).encode())
        )

    with pytest.raises(DisclosureError, match="VRF proof does not verify"):
        check(("claim", "identifier"), "ACCT:S4")
    with pytest.raises(DisclosureError, match=r"exactly one leaf|at most one leaf"):
        check(("claim", "member"), False)
    with pytest.raises(RecordMismatchError):
        check(("record_sha256",), base64.b64encode(bytes(32)).decode())
    with pytest.raises(DisclosureError, match="claim is about job"):
        check(("claim", "job_id"), "job-43")
    with pytest.raises(MalformedError, match="only the client commits to the result"):
        check(("claim", "set"), "result")
    record = json.loads(base64.b64decode(original["record"]))
    record["record"]["result"]["count"] += 1  # a record whose bytes the parties did not sign, digest updated
    raw = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    original = _set(original, ("record_sha256",), base64.b64encode(hashlib.sha256(raw).digest()).decode())
    with pytest.raises(SignatureError):
        check(("record",), base64.b64encode(raw).decode())


def test_another_record_is_refused() -> None:
    document = _document("client", "input", "ACCT:C1")
    other = small_job("job-43").signed
    with pytest.raises(RecordMismatchError, match="not to the record given") as refused:
        verify_document(document, format_signed_record(other))
    assert refused.value.expected != refused.value.calculated
    with pytest.raises(MalformedError):
        verify_document(document, b"{}")


MALFORMED = [
    ("format", lambda d: d.replace(b"privacy-disclosure/v1", b"privacy-disclosure/v2"), "format is"),
    ("pretty", lambda d: json.dumps(json.loads(d), indent=1).encode(), "canonical form"),
    ("extra", lambda d: d.replace(b'{"claim"', b'{"a":1,"claim"'), "unknown fields"),
    ("not-json", lambda d: d[:-5], "not UTF-8 JSON"),
    ("two-newlines", lambda d: d + b"\n", "not UTF-8 JSON|canonical"),
    ("too-big", lambda d: d + b" " * 70_000, "at most"),
    ("not-an-object", lambda d: b"[]", "JSON object"),
]


@pytest.mark.parametrize(("mangle", "message"), [(m, e) for _, m, e in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_documents_are_refused_by_the_parser(mangle: Any, message: str) -> None:
    data = format_document(_document("client", "input", "ACCT:C1"))
    with pytest.raises(MalformedError, match=message):
        parse_document(mangle(data))


def test_bad_fields_are_named() -> None:
    original = json.loads(format_document(_document("client", "input", "ACCT:S100")))

    def parse(path: tuple[str | int, ...], value: Any) -> None:
        parse_document(json.dumps(_set(original, path, value), sort_keys=True, separators=(",", ":")).encode())

    proof = original["vrf"]["proof"]
    with pytest.raises(MalformedError, match=r"vrf\.proof: 79 bytes, expected 80"):
        parse(("vrf", "proof"), base64.b64encode(base64.b64decode(proof)[:-1]).decode())
    with pytest.raises(MalformedError, match=r"vrf\.proof: not in canonical base64"):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        unused_bit = alphabet[alphabet.index(proof[-2]) ^ 1]  # 80 bytes: the last character's low 2 bits are unused
        parse(("vrf", "proof"), proof[:-2] + unused_bit + proof[-1:])
    with pytest.raises(MalformedError, match=r"vrf\.output: not base64"):
        parse(("vrf", "output"), "not base64!")
    with pytest.raises(MalformedError, match=r"leaves\[0\]\.index: must be an integer"):
        parse(("leaves", 0, "index"), -1)
    with pytest.raises(MalformedError, match=r"claim\.member: must be true or false"):
        parse(("claim", "member"), 0)
    with pytest.raises(MalformedError, match=r"claim\.party: 'auditor' is not one of client, server"):
        parse(("claim", "party"), "auditor")
    with pytest.raises(MalformedError, match=r"leaves: 3 items, at most 2"):
        parse(("leaves",), [original["leaves"][0]] * 3)
    with pytest.raises(MalformedError, match=r"^record: "):
        parse(("record",), base64.b64encode(b'{"record":1}').decode())


@pytest.mark.parametrize("suite", ["intl", "sm"])
def test_job_files_round_trip_and_refuse_what_does_not_fit(suite: str) -> None:
    job = small_job(suite=suite)
    client = read_job_files(job.client_files)
    for name, data in job.client_files.items():
        if name.endswith(".set.json"):
            parsed = parse_committed_set(data)
            committed = client.committed(parsed.set)
            assert format_committed_set(committed, "client", parsed.set) == data
    assert format_vrf_key(parse_vrf_key(job.client_files["vrf-key.json"])) == job.client_files["vrf-key.json"]
    assert set(job.server_files) == {"record.json", "vrf-key.json", "input.set.json"}
    # the server's key with the client's set, a foreign record, a missing file, a doubled file
    mixed = {**job.client_files, "vrf-key.json": job.server_files["vrf-key.json"]}
    with pytest.raises(MalformedError, match="the set file is the client's, the VRF key the server's"):
        read_job_files(mixed).committed("input")
    foreign = {**job.client_files, "record.json": format_signed_record(small_job("job-43", suite=suite).signed)}
    with pytest.raises(MalformedError, match="of job job-42, the key of job-42, the record of job-43"):
        read_job_files(foreign).committed("input")
    # the files of the same job under the other suite, with this suite's record: suites are not mixed
    other = small_job(suite="intl" if suite == "sm" else "sm")
    mixed_suites = {**other.client_files, "record.json": job.client_files["record.json"]}
    with pytest.raises(MalformedError, match=r"the input set file is not the client's input the record commits to"):
        read_job_files(mixed_suites).committed("input")
    with pytest.raises(MalformedError, match=r"lack vrf-key\.json"):
        read_job_files({k: v for k, v in job.client_files.items() if k != "vrf-key.json"})
    with pytest.raises(MalformedError, match=r"again\.json: a second VRF key file"):
        read_job_files({**job.client_files, "again.json": job.client_files["vrf-key.json"]})
    with pytest.raises(MalformedError, match="no result set file"):
        read_job_files(job.server_files).committed("result")
    # a set file whose leaves were reordered, or whose root is another's
    data = json.loads(job.client_files["input.set.json"])
    swapped = {**data, "leaves": [data["leaves"][1], data["leaves"][0], *data["leaves"][2:]]}
    with pytest.raises(MalformedError, match=r"leaves\[1\]: not above leaves\[0\]"):
        parse_committed_set(json.dumps(swapped, sort_keys=True, separators=(",", ":")).encode())
    rooted = {**data, "root": json.loads(job.client_files["result.set.json"])["root"]}
    with pytest.raises(MalformedError, match="root: not the RFC 9162 root"):
        parse_committed_set(json.dumps(rooted, sort_keys=True, separators=(",", ":")).encode())
    lower = {**data, "identifiers": [data["identifiers"][0].lower(), *data["identifiers"][1:]]}
    with pytest.raises(MalformedError, match="not in normal form"):
        parse_committed_set(json.dumps(lower, sort_keys=True, separators=(",", ":")).encode())


EVENT_ID = "4f0c9d1e-8f52-4a7b-9d55-0b7c1d2e3f40"


def test_the_record_step_file_round_trips_and_old_job_files_still_load() -> None:
    """``record-step.json`` keeps the record step's event id beside the files; files kept without it (before it
    existed, or of a job that went through no gateway) read as before, with no record step."""
    job = small_job()
    assert RECORD_STEP_FILE not in job.client_files and read_job_files(job.client_files).record_step is None
    step = record_step_of(job.signed, EVENT_ID, "https://notary.example:8443")
    assert step == RecordStepFile(JOB_ID, hashlib.sha256(job.client_files["record.json"]).digest(), EVENT_ID,
                                  "https://notary.example:8443")  # fmt: skip
    data = format_record_step_file(step)
    assert data.endswith(b"\n") and parse_record_step_file(data) == step
    assert json.loads(data) == {
        "format": "consortium-ledger/privacy-record-step/v1", "job_id": JOB_ID, "event_id": EVENT_ID,
        "record_sha256": base64.b64encode(step.record_sha256).decode(), "notary_url": "https://notary.example:8443",
    }  # fmt: skip
    unknown = format_record_step_file(record_step_of(job.signed, EVENT_ID))
    assert json.loads(unknown)["notary_url"] is None and parse_record_step_file(unknown).notary_url is None
    for party, files in (("client", job.client_files), ("server", job.server_files)):
        kept = read_job_files({**files, RECORD_STEP_FILE: data})
        assert kept.record_step == step and kept.committed("input") == read_job_files(files).committed("input")
        assert kept.key.party == party


def test_a_record_step_file_of_another_job_or_run_or_malformed_is_refused() -> None:
    job = small_job()
    other_job = record_step_of(small_job("job-43").signed, EVENT_ID)
    with pytest.raises(MalformedError, match=r"^record-step\.json: the record-step file is of job job-43, the record"):
        read_job_files({**job.client_files, RECORD_STEP_FILE: format_record_step_file(other_job)})
    rerun = record_step_of(small_job.__wrapped__().signed, EVENT_ID)  # the same job id, run again: another record
    with pytest.raises(MalformedError, match=r"not of this record\.json .*: the files are of two runs of job job-42"):
        read_job_files({**job.client_files, RECORD_STEP_FILE: format_record_step_file(rerun)})
    data = format_record_step_file(record_step_of(job.signed, EVENT_ID))
    with pytest.raises(MalformedError, match=r"^again\.json: a second record-step file \(the first is record-step"):
        read_job_files({**job.client_files, RECORD_STEP_FILE: data, "again.json": data})
    with pytest.raises(MalformedError, match="must match"):
        record_step_of(job.signed, "no spaces allowed")
    original = json.loads(data)

    def parse(field: str, value: Any) -> RecordStepFile:
        return parse_record_step_file(
            json.dumps({**original, field: value}, sort_keys=True, separators=(",", ":")).encode()
        )

    with pytest.raises(MalformedError, match=r"event_id: '' does not match"):
        parse("event_id", "")
    with pytest.raises(MalformedError, match=r"notary_url: 7 is neither null nor a URL"):
        parse("notary_url", 7)
    with pytest.raises(MalformedError, match=r"record_sha256: "):
        parse("record_sha256", "AAAA")
    with pytest.raises(MalformedError, match=r"unknown fields \['party'\]"):
        parse("party", "client")
    with pytest.raises(MalformedError, match=r"format is 'consortium-ledger/privacy-record-step/v2'"):
        parse("format", "consortium-ledger/privacy-record-step/v2")
