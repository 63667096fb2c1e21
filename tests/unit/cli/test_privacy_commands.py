"""``consortium privacy prove-member`` and ``consortium verify disclosure`` in process (click's CliRunner), on the
files each party of a small PSI job keeps."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.support.privacy_job import CLIENT_ORG, JOB_ID, SERVER_ORG, small_job


def _write(directory: Path, files: dict[str, bytes]) -> list[str]:
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return [str(directory / name) for name in sorted(files)]


@pytest.mark.parametrize("suite", ["intl", "sm"])
def test_prove_and_verify_membership_and_non_membership(tmp_path: Path, suite: str) -> None:
    job = small_job(suite=suite)
    server = _write(tmp_path / "server", job.server_files)
    client = _write(tmp_path / "client", job.client_files)
    runner = CliRunner()

    made = runner.invoke(cli, ["privacy", "prove-member", *server, "--id", "acct: s-17"])
    assert made.exit_code == 0, made.stderr
    assert made.stderr == f"membership proof: identifier ACCT:S17 was in {SERVER_ORG}'s input of job {JOB_ID}\n"
    proof = tmp_path / "s17.json"
    proof.write_text(made.stdout)
    checked = runner.invoke(cli, ["verify", "disclosure", str(proof), "--record", str(tmp_path / "client/record.json")])
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.splitlines()[-1] == f"identifier ACCT:S17 was in {SERVER_ORG}'s input of job {JOB_ID}"
    assert "✓ signatures — client yanshan-sec" in checked.stdout
    protocol = {
        "intl": "ecdh-psi-p256: Ed25519 signatures, SHA-256",
        "sm": "ecdh-psi-sm2: SM2 with SM3 signatures, SM3",
    }
    assert f"✓ suite — {suite} ({protocol[suite]} trees)" in checked.stdout

    out = tmp_path / "c7.json"
    made = runner.invoke(
        cli, ["privacy", "prove-member", *client, "--id", "ACCT:C7", "--set", "result", "--out", str(out)]
    )
    assert made.exit_code == 0, made.stderr
    assert made.stdout == "" and "non-membership proof" in made.stderr
    checked = runner.invoke(cli, ["verify", "disclosure", str(out), "--json"])
    assert checked.exit_code == 0, checked.stderr
    shown = json.loads(checked.stdout)
    assert (shown["member"], shown["set"], shown["org"], shown["suite"]) == (False, "result", CLIENT_ORG, suite)
    assert shown["statement"] == f"identifier ACCT:C7 was not in the result of job {JOB_ID} (committed by {CLIENT_ORG})"


@pytest.mark.parametrize("suite", ["intl", "sm"])
def test_forged_or_foreign_documents_fail_with_exit_1(tmp_path: Path, suite: str) -> None:
    job = small_job(suite=suite)
    client = _write(tmp_path / "client", job.client_files)
    runner = CliRunner()
    made = runner.invoke(cli, ["privacy", "prove-member", *client, "--id", "ACCT:C1"])
    assert made.exit_code == 0, made.stderr
    document = json.loads(made.stdout)

    document["claim"]["identifier"] = "ACCT:C2"  # the proof is for ACCT:C1
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document, sort_keys=True, separators=(",", ":")))
    refused = runner.invoke(cli, ["verify", "disclosure", str(forged)])
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: the disclosure in {forged} does NOT verify: ACCT:C2 was in the client")
    assert "VRF proof does not verify" in refused.stderr and refused.stdout == ""

    garbled = tmp_path / "garbled.json"
    garbled.write_text(made.stdout.replace('"format":"consortium-ledger/privacy-disclosure/v1"', '"format":"v0"'))
    refused = runner.invoke(cli, ["verify", "disclosure", str(garbled)])
    assert refused.exit_code == 1 and "format is 'v0'" in refused.stderr

    other = tmp_path / "other-record.json"
    other.write_bytes(small_job("job-43", suite=suite).client_files["record.json"])
    genuine = tmp_path / "genuine.json"
    genuine.write_text(made.stdout)
    refused = runner.invoke(cli, ["verify", "disclosure", str(genuine), "--record", str(other)])
    assert refused.exit_code == 1 and "not to the record given" in refused.stderr
    assert base64.b64decode(document["record_sha256"]).hex()[:16] in refused.stderr


def test_prove_member_refuses_files_that_do_not_fit(tmp_path: Path) -> None:
    job = small_job()
    mixed = _write(tmp_path / "mixed", {**job.client_files, "vrf-key.json": job.server_files["vrf-key.json"]})
    refused = CliRunner().invoke(cli, ["privacy", "prove-member", *mixed, "--id", "ACCT:C1"])
    assert refused.exit_code == 1
    assert refused.stderr == "error: the set file is the client's, the VRF key the server's\n"
    refused = CliRunner().invoke(cli, ["privacy", "prove-member", *mixed, "--id", "CNID:123"])
    assert refused.exit_code == 1 and refused.stderr.startswith("error: ") and "CNID" in refused.stderr
