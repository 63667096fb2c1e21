"""The job page's check of a record.json in the browser (``explorer/static/psi.js``), run under Node on a real
record (``tests.support.privacy_job``): the tag it computes is ``privacy.asset.job_tag``'s, a party's record
matches the digest, tag and summary the log holds, and a record changed in one count, another job's record, a file
that is not JSON and JSON that is not a record do not; a record with a differentially private count matches the
summary that holds only the noisy one, and one with noisy input counts too the summary without the exact ones (not
one with them); the summary shown for a job is checked against the string the event holds and the job's parties. A
disclosure document (``sdk.disclosure.make_disclosure``) is checked by the record it carries, against the SHA-256 it
names, the claim's job against the record's, and not taken when its record is another job's, when it names another
record digest, or when it is not a disclosure document. The proof of a disclosure's claim is checked whole, under
either suite (``intl``: Ed25519 and ECVRF-EDWARDS25519-SHA512-TAI; ``sm``: SM2 and ECVRF-SM2-SM3-SSWU): documents
of members and non-members of a party's input and of the result verify, and a document with one byte of its VRF
proof, a sibling of a Merkle path, a signature, its identifier, the committed VRF key (in a record signed again),
its VRF output or its member flag changed is refused for that reason, as ``privacy.document.verify_document``
refuses it. One ``node`` process for every case.

A disclosure is bound to the log as ``consortium verify disclosure --evidence`` binds it (``bindDisclosure``): real
bundles of a log of four events holding the job's steps (``tests.unit.cli.test_disclosure_evidence``, in process:
keys of a consortium directory, a checkpoint cosigned by its witnesses, the anchor in a block of an in-process node),
checked under Node against the keys ``keysFromConsortium`` reads from its consortium.json. The record step's bundle
before its anchor binds the document (checkpoint 4, not anchored); the bundle of another step of the job, of another
call, a forged record's document (another record, so another ``psi_record``) and a bundle with a hash of its
inclusion path changed are refused for that reason, the binding's failures the same as
``privacy.document.disclosure_binding``'s; the anchored bundle's anchor proofs verify, and its Anchored log is
found missing (the in-process block's anchor transaction calls an address without the AuditAnchor contract). A
bundle the person holds, read from a file's bytes (``readBundle``, as the job page reads it), binds the same way
(at the size limit too), another event's is refused by the binding, and a file a byte over the limit, not JSON,
not UTF-8, of another format, with a checkpoint of no size, or a list is not taken; a disclosure document a byte
over ``privacy.document.MAX_DOCUMENT_BYTES`` is not read."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from explorer.keys import consortium_keys
from network.witnesskeys import offline_witnesses
from privacy.asset import job_tag
from privacy.document import MAX_DOCUMENT_BYTES, disclosure_binding, parse_document, verify_document
from privacy.errors import PrivacyError
from privacy.jobfiles import RECORD_FILE
from privacy.record import SignedRecord, format_signed_record, format_summary, parse_signed_record, sign_record
from privacy.suites import psi_suite
from sdk.disclosure import make_disclosure
from suite.sm2 import SM2PrivateKey
from tests.support.privacy_job import CLIENT_ORG, JOB_ID, SERVER_ORG, small_job
from tests.unit.cli.test_disclosure_evidence import RECORD_INDEX, REQUEST_INDEX, log_bundles
from tests.unit.network.test_crypto_suite import consortium

NODE = shutil.which("node")
CHECK = Path(__file__).with_name("psi_record_check.mjs")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _flip(text: str, at: int) -> str:
    """Base64 of the bytes of ``text`` with the byte at ``at`` changed."""
    data = bytearray(base64.b64decode(text))
    data[at] ^= 0x01
    return _b64(bytes(data))


def _with_record(document: dict[str, Any], signed: SignedRecord) -> bytes:
    record = format_signed_record(signed)
    return json.dumps(
        {**document, "record": _b64(record), "record_sha256": _b64(hashlib.sha256(record).digest())}
    ).encode()


def _proof_cases(suite: str) -> list[tuple[str, bytes, dict[str, Any], str | None]]:
    """Disclosure documents of a job under ``suite``: genuine ones (None) and changed ones, with the check that
    refuses each."""
    job = small_job(suite=suite)
    record = job.client_files[RECORD_FILE]
    logged = {
        "tag": job_tag(job.signed.record.grant_id, JOB_ID),
        "record_sha256": hashlib.sha256(record).hexdigest(),
        "summary_json": format_summary(job.signed),
    }
    member = make_disclosure(job.client_files, "ACCT:S3", set_name="result", member=True).data
    doc = json.loads(member)
    signed = parse_signed_record(base64.b64decode(doc["record"]))
    # the record with the client's committed VRF key replaced by the server's, signed again by new keys
    psi = psi_suite(suite)
    keys = (Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()) if suite == "intl" else (
        SM2PrivateKey.generate(), SM2PrivateKey.generate())  # fmt: skip
    old = signed.record
    swapped = replace(
        old,
        client=replace(old.client, signing_key=psi.public_key(keys[0]),
                       input=replace(old.client.input, vrf_key=old.server.input.vrf_key)),
        server=replace(old.server, signing_key=psi.public_key(keys[1])),
    )  # fmt: skip
    resigned = SignedRecord(swapped, sign_record(swapped, "client", keys[0]), sign_record(swapped, "server", keys[1]))
    forged = replace(signed, client_signature=signed.client_signature[:-1] + bytes([signed.client_signature[-1] ^ 1]))
    leaf = doc["leaves"][0]
    return [
        (f"{suite}: in the result", member, logged, None),
        (f"{suite}: not in the result", make_disclosure(job.client_files, "ACCT:C1", set_name="result").data, logged,
         None),
        (f"{suite}: in the client's input", make_disclosure(job.client_files, "ACCT:C1").data, logged, None),
        (f"{suite}: not in the server's input", make_disclosure(job.server_files, "ACCT:C1").data, logged, None),
        (f"{suite}: a byte of the VRF proof", json.dumps(
            {**doc, "vrf": {**doc["vrf"], "proof": _flip(doc["vrf"]["proof"], 40)}}).encode(), logged, "vrf"),
        (f"{suite}: a sibling of the Merkle path", json.dumps(
            {**doc, "leaves": [{**leaf, "path": [_flip(leaf["path"][0], 0), *leaf["path"][1:]]}]}).encode(), logged,
         "path"),
        (f"{suite}: the client's signature", _with_record(doc, forged), logged, "client_signature"),
        (f"{suite}: another identifier", json.dumps(
            {**doc, "claim": {**doc["claim"], "identifier": "ACCT:S4"}}).encode(), logged, "vrf"),
        (f"{suite}: an identifier not in normal form", json.dumps(
            {**doc, "claim": {**doc["claim"], "identifier": "ACCT:S-3"}}).encode(), logged, "identifier"),
        (f"{suite}: another VRF key, signed again", _with_record(doc, resigned), logged, "vrf"),
        (f"{suite}: another VRF output", json.dumps(
            {**doc, "vrf": {**doc["vrf"], "output": _flip(doc["vrf"]["output"], 0)}}).encode(), logged, "output"),
        (f"{suite}: a member claimed as a non-member", json.dumps(
            {**doc, "claim": {**doc["claim"], "member": False}}).encode(), logged, "claim"),
    ]  # fmt: skip


@pytest.mark.skipif(NODE is None, reason="`node` is not on PATH: psi.js is checked with Node.js 20 or newer")
def test_the_browser_check_of_a_record_agrees_with_the_log(tmp_path: Path) -> None:
    record = small_job().client_files[RECORD_FILE]
    grant_id = small_job().signed.record.grant_id
    summary = format_summary(small_job().signed)
    job = {
        "tag": job_tag(grant_id, JOB_ID), "record_sha256": hashlib.sha256(record).hexdigest(), "summary_json": summary,
    }  # fmt: skip
    other = small_job("job-43").client_files[RECORD_FILE]
    private = small_job("job-44", dp_epsilon="1")  # its summary holds a noisy count and no exact one
    private_record = private.client_files[RECORD_FILE]
    private_job = {
        "tag": job_tag(grant_id, "job-44"),
        "record_sha256": hashlib.sha256(private_record).hexdigest(),
        "summary_json": format_summary(private.signed),
    }
    noisy = small_job("job-45", dp_epsilon="1", dp_inputs=True)  # its summary holds no exact count at all
    noisy_record = noisy.client_files[RECORD_FILE]
    noisy_job = {
        "tag": job_tag(grant_id, "job-45"),
        "record_sha256": hashlib.sha256(noisy_record).hexdigest(),
        "summary_json": format_summary(noisy.signed),
    }
    assert "input_count" not in json.loads(noisy_job["summary_json"])["client"]
    held = json.loads(private_job["summary_json"])
    assert "count" not in held["result"] and held["dp"]["epsilon"] == "1"
    tampered = record.replace(b'"count":5,', b'"count":6,')
    assert tampered != record
    cases: dict[str, tuple[bytes, dict[str, Any]]] = {
        "genuine": (record, job),
        "genuine, with a differentially private count": (private_record, private_job),
        "genuine, with noisy input counts": (noisy_record, noisy_job),
        "noisy input counts, the log's summary with exact ones": (
            noisy_record,
            {
                **noisy_job,
                "summary_json": format_summary(noisy.signed).replace(
                    '"input_root"', '"input_count":25,"input_root"', 1
                ),
            },
        ),
        "one count changed": (tampered, job),
        "another job's record": (other, job),
        "no record step in the log": (record, {**job, "record_sha256": None, "summary_json": None}),
        "another summary in the log": (record, {**job, "summary_json": format_summary(small_job("job-43").signed)}),
        "not JSON": (b"\xff\xfe not json", job),
        "not a record": (b'{"record": {"grant_id": 7}}', job),
    }
    genuine = make_disclosure(small_job().client_files, "ACCT:S3", set_name="result", member=True).data
    document = json.loads(genuine)
    foreign = make_disclosure(small_job("job-43").client_files, "ACCT:C1").data
    disclosures = {
        "genuine": genuine,
        "another job's": foreign,
        "another record digest named": json.dumps(
            {**document, "record_sha256": base64.b64encode(b"\0" * 32).decode()}
        ).encode(),
        "another claim's job": json.dumps({**document, "claim": {**document["claim"], "job_id": "job-43"}}).encode(),
        "a record.json": record,
        "not JSON": b"\xff",
    }
    pairs = [[grant_id, JOB_ID], ["0x" + "00" * 32, "psi-0123456789abcdef"], [grant_id, "a.b_c:d-e"]]
    path = tmp_path / "cases.json"
    records = [{"name": n, "bytes": base64.b64encode(b).decode(), "job": j} for n, (b, j) in cases.items()]
    shown = {"client": CLIENT_ORG, "owner": SERVER_ORG, "grant_id": grant_id, "summary_json": summary}
    summaries = {
        "as logged": {**shown, "summary": json.loads(summary)},
        "a count changed by the explorer": {
            **shown, "summary": {**json.loads(summary), "result": {**json.loads(summary)["result"], "count": 6}}
        },
        "another owner": {**shown, "owner": "ruida-data", "summary": json.loads(summary)},
        "none": {**shown, "summary": None, "summary_json": None},
    }  # fmt: skip
    proofs = _proof_cases("intl") + _proof_cases("sm")
    for _, data, _, failed in proofs:  # the Python verifier agrees on every case
        if failed is None:
            verify_document(parse_document(data))
        else:
            with pytest.raises(PrivacyError):
                verify_document(parse_document(data))
    path.write_text(
        json.dumps({
            "tags": pairs, "records": records, "summaries": [{"name": n, "job": j} for n, j in summaries.items()],
            "disclosures": [
                {"name": n, "bytes": base64.b64encode(b).decode(), "job": job} for n, b in disclosures.items()
            ] + [{"name": n, "bytes": _b64(b), "job": j} for n, b, j, _ in proofs],
        }),
        encoding="utf-8",
    )  # fmt: skip
    assert NODE is not None
    done = subprocess.run([NODE, str(CHECK), str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["tags"] == [job_tag(g, j) for g, j in pairs]
    got = {
        name: (r["digestOk"], r["tagOk"], r["summaryOk"], r["error"], r["result_count"])
        for name, r in out["records"].items()
    }
    assert got == {
        "genuine": (True, True, True, None, 5),
        "genuine, with a differentially private count": (True, True, True, None, 5),
        "genuine, with noisy input counts": (True, True, True, None, 5),
        "noisy input counts, the log's summary with exact ones": (True, True, False, None, 5),
        "one count changed": (False, True, False, None, 6),
        "another job's record": (False, False, False, None, 5),
        "no record step in the log": (None, True, None, None, 5),
        "another summary in the log": (True, True, False, None, 5),
        "not JSON": (False, False, False, "not_json", None),
        "not a record": (False, False, False, "not_record", None),
    }
    assert out["summaries"] == {
        "as logged": {"canonical": True, "partiesOk": True, "grantOk": True},
        "a count changed by the explorer": {"canonical": False, "partiesOk": True, "grantOk": True},
        "another owner": {"canonical": True, "partiesOk": False, "grantOk": True},
        "none": None,
    }
    assert out["records"]["genuine"]["digest"] == job["record_sha256"]
    checked = {
        name: (d["error"], d["namedDigestOk"], d["claimJobOk"], rc and (rc["digestOk"], rc["tagOk"], rc["summaryOk"]))
        for name, d in out["disclosures"].items()
        if name in disclosures
        for rc in [d["recordCheck"]]
    }
    assert checked == {
        "genuine": (None, True, True, (True, True, True)),
        "another job's": (None, True, True, (False, False, False)),
        "another record digest named": (None, False, True, (True, True, True)),
        "another claim's job": (None, True, False, (True, True, True)),
        "a record.json": ("not_disclosure", False, False, None),
        "not JSON": ("not_json", False, False, None),
    }
    refused = {n: d["proof"] and d["proof"]["failed"] for n, d in out["disclosures"].items() if n in disclosures}
    assert refused == {
        "genuine": None,
        "another job's": None,  # its proof holds, for a record that is not this job's
        "another record digest named": "named_digest",
        "another claim's job": "claim_job",
        "a record.json": None,
        "not JSON": None,
    }
    assert out["disclosures"]["genuine"]["proof"] == {
        "ok": True, "failed": None, "detail": "", "leaf": None, "suite": "intl", "org": CLIENT_ORG,
    }  # fmt: skip
    for name, _, _, failed in proofs:
        proof = out["disclosures"][name]["proof"]
        assert (proof["ok"], proof["failed"], proof["suite"]) == (failed is None, failed, name.split(":")[0]), (
            name, proof)  # fmt: skip
        assert out["disclosures"][name]["error"] is None, name
    # genuine documents of either suite match the log too; a leaf that fails is named
    assert out["disclosures"]["sm: in the result"]["recordCheck"]["digestOk"] is True
    documents = {name: json.loads(data) for name, data, _, _ in proofs}
    member_leaf = documents["sm: in the result"]["leaves"][0]["index"]
    assert out["disclosures"]["sm: a sibling of the Merkle path"]["proof"]["leaf"] == member_leaf
    assert out["disclosures"]["intl: not in the server's input"]["proof"]["org"] == SERVER_ORG
    assert out["disclosures"]["genuine"]["claim"] == {
        "job_id": JOB_ID, "party": "client", "set": "result", "identifier": "ACCT:S3", "member": True,
    }  # fmt: skip


@pytest.mark.skipif(NODE is None, reason="`node` is not on PATH: psi.js is checked with Node.js 20 or newer")
def test_the_browser_binds_a_disclosure_to_the_log_by_the_record_steps_bundle(tmp_path: Path) -> None:
    description = consortium(tmp_path, "intl")
    bundles, _ = log_bundles(tmp_path, description)
    job = small_job()
    record = job.client_files[RECORD_FILE]
    logged = {
        "tag": job_tag(job.signed.record.grant_id, JOB_ID),
        "record_sha256": hashlib.sha256(record).hexdigest(),
        "summary_json": format_summary(job.signed),
    }
    genuine = make_disclosure(job.client_files, "ACCT:S3", set_name="result", member=True).data
    forged_job = small_job.__wrapped__()  # the same job run again: other keys, another record
    forged = make_disclosure(forged_job.client_files, "ACCT:S3", set_name="result", member=True).data

    def before_anchor(bundle: dict[str, Any]) -> dict[str, Any]:  # as the notary serves it until the anchor
        return {**bundle, "anchor": None, "pending": [{"part": "anchor", "reason": "not anchored yet"}]}

    tampered = before_anchor(copy.deepcopy(bundles[RECORD_INDEX]))
    tampered["inclusion"]["proof"][0] = _b64(b"\0" * 32)
    cases = {
        "the record step, before its anchor": (genuine, before_anchor(bundles[RECORD_INDEX])),
        "the record step, anchored": (genuine, bundles[RECORD_INDEX]),
        "the request step": (genuine, before_anchor(bundles[REQUEST_INDEX])),
        "another call": (genuine, before_anchor(bundles[0])),
        "a forged record": (forged, before_anchor(bundles[RECORD_INDEX])),
        "a hash of the inclusion path changed": (genuine, tampered),
    }
    # a bundle the person holds, read from its file (readBundle), then bound as the explorer's is
    record_step = json.dumps(before_anchor(bundles[RECORD_INDEX])).encode()
    held_cases: dict[str, tuple[bytes, int | None]] = {
        "the record step": (record_step, None),
        "the record step, at the size limit": (record_step, 0),
        "the record step, a byte over it": (record_step, 1),
        "the request step": (json.dumps(before_anchor(bundles[REQUEST_INDEX])).encode(), None),
        "not JSON": (record_step[:-1], None),
        "not UTF-8": (b'{"format": "\xff"}', None),
        "another format": (json.dumps({**before_anchor(bundles[RECORD_INDEX]), "format": "x"}).encode(), None),
        "a checkpoint of no size": (
            json.dumps({**before_anchor(bundles[RECORD_INDEX]), "checkpoint": {"size": "4"}}).encode(),
            None,
        ),
        "a list": (b"[]", None),
    }
    held = [
        {"name": n, "bytes": _b64(b), "document": _b64(genuine), "job": logged, "consortium": description.to_json()}
        | ({} if pad is None else {"pad": pad})
        for n, (b, pad) in held_cases.items()
    ]
    over = genuine + b" " * (MAX_DOCUMENT_BYTES + 1 - len(genuine))  # still the document, but a byte too long
    too_large = [{"name": "too large", "bytes": _b64(over), "job": logged}]
    # a trust file the person holds (readKeysFile), whose keys the held bundle is checked under (keysFromFile)
    served = consortium_keys(description, offline_witnesses(description))  # as GET /api/v1/keys?size= serves them
    trust = description.to_json()
    other_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    other_log = copy.deepcopy(trust)
    no_key = copy.deepcopy(trust)
    for member in other_log["members"]:
        if "notary" in member["roles"]:
            member["notary_public_key"] = other_key
    for member in no_key["members"]:
        member.pop("notary_public_key", None)
    zip_format = "consortium-ledger/evidence-keys/v1"
    key_cases: dict[str, tuple[bytes, int | None]] = {
        "consortium.json": (json.dumps(trust).encode(), None),
        "consortium.json, at the size limit": (json.dumps(trust).encode(), 0),
        "consortium.json, a byte over it": (json.dumps(trust).encode(), 1),
        "consortium-keys.json": (
            json.dumps({"format": zip_format, "checkpoints": {"4": served}, "latest": served}).encode(), None),
        "consortium-keys.json without checkpoint 4": (
            json.dumps({"format": zip_format, "checkpoints": {"3": served}, "latest": served}).encode(), None),
        "another log key": (json.dumps(other_log).encode(), None),
        "no notary key": (json.dumps(no_key).encode(), None),
        "not JSON": (json.dumps(trust).encode()[:-1], None),
        "not UTF-8": (b'{"format": "\xff"}', None),
        "a list": (b"[]", None),
        "another format": (json.dumps({**trust, "format": "consortium-ledger/2"}).encode(), None),
        "a checkpoint size that is no size": (
            json.dumps({"format": zip_format, "checkpoints": {"04": served}}).encode(), None),
        "keys without a log key": (
            json.dumps({"format": zip_format, "checkpoints": {"4": {**served, "log_vkey": None}}}).encode(), None),
    }  # fmt: skip
    held_keys = [
        {"name": n, "bytes": _b64(b), "bundle": _b64(record_step), "document": _b64(genuine), "job": logged}
        | ({} if pad is None else {"pad": pad})
        for n, (b, pad) in key_cases.items()
    ]
    path = tmp_path / "cases.json"
    listed = [
        {"name": n, "bytes": _b64(d), "job": logged, "bundle": b, "consortium": description.to_json()}
        for n, (d, b) in cases.items()
    ]
    path.write_text(
        json.dumps(
            {
                "tags": [],
                "records": [],
                "bindings": listed,
                "held": held,
                "disclosures": too_large,
                "heldKeys": held_keys,
            }
        ),
        encoding="utf-8",
    )
    assert NODE is not None
    done = subprocess.run([NODE, str(CHECK), str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    answer_all = json.loads(done.stdout)
    out = answer_all["bindings"]
    bound = out["the record step, before its anchor"]
    assert (bound["ok"], bound["failed"]) == (True, None), bound
    assert bound["logged"] == {
        "event_id": f"ev-{RECORD_INDEX}", "index": RECORD_INDEX, "checkpoint": 4, "block": None,
        "gateway": f"{SERVER_ORG}/gw-1",
    }  # fmt: skip
    assert [s["ok"] for s in bound["evidence"]] == [True] * 4 and {s["ok"] for s in bound["chain"]} == {None}
    assert [c["name"] for c in bound["binding"] if c["ok"]] == ["event", "psi_record", "caller", "provider", "job"]
    anchored = out["the record step, anchored"]
    assert (anchored["ok"], anchored["failed"]) == (False, "chain")
    assert {s["step"]: s["ok"] for s in anchored["chain"]} == {
        "transaction in block": True, "transaction succeeded": True, "block hash": True, "anchor log": False,
    }  # fmt: skip
    assert "no Anchored log" in anchored["chain"][3]["detail"]
    tampered_out = out["a hash of the inclusion path changed"]
    assert (tampered_out["ok"], tampered_out["failed"], tampered_out["binding"]) == (False, "evidence", [])
    assert {s["step"]: s["ok"] for s in tampered_out["evidence"]}["inclusion"] is False
    # the binding's failures, each as privacy.document.disclosure_binding names them
    digest = hashlib.sha256(record).digest()
    forged_signed = parse_signed_record(forged_job.client_files[RECORD_FILE])
    forged_digest = hashlib.sha256(forged_job.client_files[RECORD_FILE]).digest()
    expected = {
        "the request step": (job.signed, digest, bundles[REQUEST_INDEX], ["event", "psi_record"]),
        "another call": (job.signed, digest, bundles[0], ["event", "psi_record", "caller", "provider", "job"]),
        "a forged record": (forged_signed, forged_digest, bundles[RECORD_INDEX], ["psi_record"]),
    }
    for name, (signed, named, bundle, failed) in expected.items():
        answer = out[name]
        assert (answer["ok"], answer["failed"], answer["logged"]) == (False, "binding", None), name
        assert [c["name"] for c in answer["binding"] if not c["ok"]] == failed, (name, answer["binding"])
        python = disclosure_binding(signed, named, base64.b64decode(bundle["entry"]))
        assert [c.name for c in python if not c.ok] == failed, name
        # the same words, but where Python quotes a value by its repr (the event's id, a field that differs)
        worded = [(c["detail"], p.detail) for c, p in zip(answer["binding"], python, strict=True)]
        shown = [
            d for d, p in zip(worded, python, strict=True) if p.name != "event" and (p.ok or p.name == "psi_record")
        ]
        assert all(js == py for js, py in shown) and shown, name
    # the held bundles: the record step's binds, as the explorer's does; another event's is refused by the binding;
    # a file that is not an evidence bundle, or over the limit, is not read as one (the page then keeps what it had)
    assert answer_all["limits"] == {"bundle": 16 * 1024 * 1024, "disclosure": MAX_DOCUMENT_BYTES}
    taken = answer_all["held"]
    for name in ("the record step", "the record step, at the size limit"):
        assert taken[name]["read"] == {"size": 4, "error": None}, name
        assert taken[name]["bound"] == bound, name
    request = taken["the request step"]
    assert request["read"] == {"size": 4, "error": None}
    assert (request["bound"]["ok"], request["bound"]["failed"]) == (False, "binding")
    assert [c["name"] for c in request["bound"]["binding"] if not c["ok"]] == ["event", "psi_record"]
    refused = {
        "the record step, a byte over it": "too_large", "not JSON": "not_json", "not UTF-8": "not_json",
        "another format": "not_bundle", "a checkpoint of no size": "not_bundle", "a list": "not_bundle",
    }  # fmt: skip
    for name, error in refused.items():
        assert taken[name] == {"read": {"size": None, "error": error}, "bound": None}, name
    # a disclosure document over privacy.document's limit is not read either
    assert answer_all["disclosures"]["too large"]["error"] == "too_large"
    # the held bundle under the keys of a trust file the person holds: its consortium.json's binds as the explorer's
    # keys do, and so does an evidence zip's consortium-keys.json holding the checkpoint's keys
    under = answer_all["heldKeys"]
    for name in ("consortium.json", "consortium.json, at the size limit"):
        assert under[name]["read"] == {"kind": "consortium", "error": None, "detail": None}, name
        assert (under[name]["missing"], under[name]["bound"]) == (None, bound), name
    zipped = under["consortium-keys.json"]
    assert (zipped["read"]["kind"], zipped["missing"]) == ("evidence_keys", None)
    assert (zipped["bound"]["ok"], zipped["bound"]["logged"]) == (True, bound["logged"])
    # a file without the checkpoint's keys says so, and nothing is checked (never the explorer's keys instead)
    assert under["consortium-keys.json without checkpoint 4"]["missing"] == (
        "it holds no keys for the checkpoint of size 4 (it holds sizes: 3)"
    )
    assert under["consortium-keys.json without checkpoint 4"]["bound"] is None
    # under another log key the checkpoint's signature does not verify: the disclosure is not bound
    other = under["another log key"]
    assert (other["read"]["kind"], other["bound"]["ok"], other["bound"]["failed"]) == ("consortium", False, "evidence")
    assert {s["step"]: s["ok"] for s in other["bound"]["evidence"]}["checkpoint"] is False
    assert other["bound"]["binding"] == [] and other["bound"]["logged"] is None
    # a file that is not a trust file is refused, saying why
    not_keys = {
        "consortium.json, a byte over it": ("too_large", None),
        "no notary key": ("not_keys", "consortium.json names no notary member with a notary_public_key"),
        "not JSON": ("not_json", None),
        "not UTF-8": ("not_json", None),
        "a list": ("not_keys", "not a JSON object"),
        "another format": (
            "not_keys",
            'of format "consortium-ledger/2", not consortium-ledger/1 or consortium-ledger/evidence-keys/v1',
        ),
        "a checkpoint size that is no size": ("not_keys", 'checkpoint size "04" is not a size'),
        "keys without a log key": ("not_keys", "the keys of checkpoint 4 has no log_vkey"),
    }
    for name, (error, detail) in not_keys.items():
        assert under[name] == {"read": {"kind": None, "error": error, "detail": detail}, "missing": None,
                               "bound": None}, name  # fmt: skip
