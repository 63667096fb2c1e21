"""``consortium verify disclosure --evidence``: a disclosure bound to the audit log by the evidence bundle of its
job's record step, in process (click's CliRunner, ``--offline``, no socket). The record and its files are a real
small PSI job's (``tests.support.privacy_job``); the bundle is real too: events logged under the log key of a
consortium directory's notary, receipts and a checkpoint cosigned by its witnesses' keys, anchored by the notary's
account in a block of an in-process chain node (JSON-RPC answered by ``RpcServer.handle``, no socket) sealed by
that account, the validator ``--validator`` names; and the same bundle before its anchor (pending)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth.db.atomic import AtomicDB
from eth_account import Account

from chain.ids import OrgId
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from cli.main import cli
from network.description import ConsortiumDescription
from network.identity import load_account_key, load_notary_key, load_witness_key
from network.logsetup import log_origin, notary_member, witness_name
from notary.event import canonical_entry, validate_event
from notary.evidence import anchor_evidence
from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.cosignature import CosignatureSigner
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner, add_signatures, sign_note
from notary.log.proof import MemoryNodeReader, prove_inclusion
from notary.receipt import BatchStatement, batch_receipts, sign_batch
from notary.storage.base import AnchorRow
from notary.verify import STEP_NAMES, anchor_calldata
from privacy.asset import job_tag
from privacy.document import disclosure_binding
from privacy.jobfiles import RECORD_FILE, RECORD_STEP_FILE, format_record_step_file, record_step_of
from privacy.record import format_summary
from tests.support.clock import FIXED_NOW_S
from tests.support.notary_events import event
from tests.support.privacy_job import CLIENT_ORG, GRANT_ID, JOB_ID, SERVER_ORG, Job, small_job
from tests.unit.network.test_crypto_suite import PASS, consortium

RECORD_INDEX, REQUEST_INDEX = 2, 1  # the job's record step, and its request step, in a log of four events


def step(n: int, name: str, record: bytes | None = None) -> dict[str, Any]:
    """The ``n``-th event of the log: a step of the small job at its owner's gateway (the record step names
    ``record``, the bytes of record.json)."""
    fields: dict[str, Any] = {
        "v": 2, "event_id": f"ev-{n}", "gateway_seq": n + 1, "caller_org": CLIENT_ORG, "provider_org": SERVER_ORG,
        "gateway_id": f"{SERVER_ORG}/gw-1", "center": "compliance", "unit": "screening", "api": f"psi-{name}",
        "method": "POST", "route": f"/v1/privacy/customer-ids/{name}", "asset_id": "customer-ids",
        "asset_version": 1, "grant_id": GRANT_ID, "psi_job": job_tag(GRANT_ID, JOB_ID),
    }  # fmt: skip
    if record is not None:
        fields["psi_record"] = hashlib.sha256(record).hexdigest()
        fields["psi_summary"] = format_summary(small_job().signed)
    return dict(validate_event(event(**fields)))


def log_bundles(
    root: Path, description: ConsortiumDescription, events: Sequence[Mapping[str, Any]] | None = None
) -> tuple[dict[int, dict[str, Any]], str]:
    """Each event's evidence bundle in a log of ``events`` (default: four, the small job's request and record steps
    among them) in one batch, under the consortium's keys, anchored; and the validator that sealed the anchor's
    block."""
    if events is None:
        record = small_job().client_files[RECORD_FILE]
        events = [event(v=2, event_id="ev-0", gateway_seq=1), step(1, "request"), step(2, "record", record)]
        events.append(event(v=2, event_id="ev-3", gateway_seq=4))
    leaves = [hash_leaf(canonical_entry(e)) for e in events]
    origin = log_origin(description)
    notary = notary_member(description).org
    log_key = load_notary_key(root, OrgId(notary), PASS, "intl")
    assert isinstance(log_key, Ed25519PrivateKey)
    log_signer = NoteSigner(origin, log_key)
    note = sign_batch(log_signer, BatchStatement(origin, 0, len(leaves), root_of(leaves), 1_795_000_000_000, 10))
    receipts = batch_receipts([str(e["event_id"]) for e in events], 0, leaves, note)
    text = format_checkpoint(Checkpoint(origin, len(leaves), root_of(leaves)))
    witnesses = [m.org for m in description.members]
    cosigs = []
    for org in witnesses:
        key = load_witness_key(root, OrgId(org), PASS, "intl")
        assert isinstance(key, Ed25519PrivateKey)
        cosigs.append(CosignatureSigner(witness_name(description, org), key).cosign(text, 1_795_000_100))
    checkpoint = add_signatures(sign_note(text, [log_signer]), cosigs).decode()
    anchor, validator = anchor_part(root, description, text, len(leaves), root_of(leaves))
    bundles = {
        i: {
            "format": "consortium-ledger/evidence/v2",
            "origin": origin,
            "event_id": e["event_id"],
            "index": i,
            "entry": base64.b64encode(canonical_entry(e)).decode(),
            "leaf_hash": base64.b64encode(leaves[i]).decode(),
            "receipt": receipts[i].to_json(),
            "checkpoint": {"size": len(leaves), "note": checkpoint, "cosigners": witnesses},
            "inclusion": {
                "size": len(leaves),
                "proof": [
                    base64.b64encode(h).decode() for h in prove_inclusion(i, len(leaves), MemoryNodeReader(leaves))
                ],
            },
            "anchor": anchor,
            "pending": [],
        }
        for i, e in enumerate(events)
    }
    return bundles, validator


def anchor_part(
    root: Path, description: ConsortiumDescription, text: str, size: int, tree_root: bytes
) -> tuple[dict[str, Any], str]:
    """The anchor part of a bundle: the checkpoint anchored by the notary's account at the AuditAnchor address of
    ``consortium.json``, in a block of an in-process node sealed by that account; and that account (the validator)."""
    account = Account.from_key(load_account_key(root, notary_member(description).org, PASS))
    genesis = Genesis(description.chain_id, (account.address,), account.address, FIXED_NOW_S - 10)
    node = Node(AtomicDB(), genesis, bytes(account.key), clock=lambda: float(FIXED_NOW_S))
    server = RpcServer(node, port=0)

    def rpc(method: str, params: list[Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return json.loads(server.handle(json.dumps(request).encode()) or b"{}")["result"]

    data = anchor_calldata(log_origin(description), size, tree_root, hashlib.sha256(text.encode()).digest())
    address = description.contracts["AuditAnchor"]
    tx = account.sign_transaction(
        {"type": 2, "to": address, "data": data, "gas": 200_000, "chainId": description.chain_id, "nonce": 0,
         "value": 0, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
    )  # fmt: skip
    node.submit(bytes(tx.raw_transaction))
    assert node.seal() is not None
    row = AnchorRow(
        size=size, tx_hash="0x" + bytes(tx.hash).hex(), raw_tx=bytes(tx.raw_transaction), nonce=0, state="confirmed",
        sent_ms=0, block_number=None, block_hash=None, confirmed_ms=None,
    )  # fmt: skip
    return dict(anchor_evidence(rpc, row, description.chain_id, address).to_json()), account.address


def prove(job: Job, directory: Path) -> str:
    """The client's job files of ``job`` written to ``directory``, and ``privacy prove-member`` of ``ACCT:S3`` over
    them: the disclosure document."""
    directory.mkdir()
    for name, data in job.client_files.items():
        (directory / name).write_bytes(data)
    made = CliRunner().invoke(
        cli, ["privacy", "prove-member", *sorted(map(str, directory.iterdir())), "--id", "ACCT:S3"]
    )
    assert made.exit_code == 0, made.stderr
    return made.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("disclosure-evidence")
    description = consortium(root, "intl")
    (root / "proof.json").write_text(prove(small_job(), root / "client"))
    bundles, validator = log_bundles(root, description)
    for i, bundle in bundles.items():
        (root / f"bundle-{i}.json").write_text(json.dumps(bundle))
    pending = {**bundles[RECORD_INDEX], "anchor": None}  # as the notary serves it before the anchor
    pending["pending"] = [{"part": "anchor", "reason": "the checkpoint is not anchored yet"}]
    (root / "bundle-pending.json").write_text(json.dumps(pending))
    return {"root": root, "bundles": bundles, "validator": validator}


def check(world: dict[str, Any], proof: Path, bundle: Path, *extra: str) -> Result:
    root = world["root"]
    args = ["verify", "disclosure", str(proof), "--evidence", str(bundle)]
    trust = ["--consortium", str(root / "consortium.json"), "--offline", "--validator", world["validator"]]
    return CliRunner().invoke(cli, [*args, *trust, *extra])


def test_a_genuine_document_and_its_record_steps_bundle_verify(world: dict[str, Any]) -> None:
    root = world["root"]
    result = check(world, root / "proof.json", root / f"bundle-{RECORD_INDEX}.json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(line.startswith("✓ ") for line in lines[: len(STEP_NAMES)]), result.stdout  # every evidence step
    for name in ("event", "psi_record", "caller", "provider", "job", "keys"):
        assert any(line.startswith(f"✓ {name} — ") for line in lines), (name, result.stdout)
    assert (
        f"✓ logged — the record is the one logged at index {RECORD_INDEX} (event ev-{RECORD_INDEX}), anchored at "
        f"block 1, by the owner's gateway {SERVER_ORG}/gw-1 ({SERVER_ORG}), with the caller authenticated as the "
        f"client firm {CLIENT_ORG}"
    ) in lines
    assert lines[-1] == f"identifier ACCT:S3 was in {CLIENT_ORG}'s input of job {JOB_ID}"
    shown = json.loads(check(world, root / "proof.json", root / f"bundle-{RECORD_INDEX}.json", "--json").stdout)
    assert shown["keys_checked"] is True and (shown["logged"]["index"], shown["logged"]["block"]) == (RECORD_INDEX, 1)


def test_a_bundle_before_its_anchor_verifies_as_verify_evidence_takes_it_and_says_so(world: dict[str, Any]) -> None:
    result = check(world, world["root"] / "proof.json", world["root"] / "bundle-pending.json")
    assert result.exit_code == 0, result.output
    assert "- anchor transaction — pending: the checkpoint is not anchored yet" in result.stdout
    assert "NOT anchored on chain yet (fetch the bundle again once it is)" in result.stdout


def test_without_evidence_the_keys_are_said_to_be_checked_against_nothing(world: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli, ["verify", "disclosure", str(world["root"] / "proof.json")])
    assert result.exit_code == 0, result.output
    assert "- keys — NOT checked against anything: anyone can make up a record" in result.stdout


def test_a_record_forged_with_other_keys_fails_the_psi_record_check(world: dict[str, Any], tmp_path: Path) -> None:
    """The forger runs the same job (same ids, orgs, grant and sets) with keys of its own: the document verifies
    alone, but the log names the genuine record."""
    root = world["root"]
    forged_job = small_job.__wrapped__()  # a fresh run: other signing keys, other commitments
    forged = tmp_path / "forged-proof.json"
    forged.write_text(prove(forged_job, tmp_path / "forged"))
    assert CliRunner().invoke(cli, ["verify", "disclosure", str(forged)]).exit_code == 0  # alone, it verifies
    result = check(world, forged, root / f"bundle-{RECORD_INDEX}.json")
    assert result.exit_code == 1, result.output
    assert "✗ psi_record — " in result.stdout
    assert result.stderr.endswith(f"is NOT the one event 'ev-{RECORD_INDEX}' logged: psi_record\n"), result.stderr


def test_the_bundle_of_another_event_fails(world: dict[str, Any]) -> None:
    root = world["root"]
    result = check(world, root / "proof.json", root / f"bundle-{REQUEST_INDEX}.json")  # the job's request step
    assert result.exit_code == 1, result.output
    assert result.stderr.endswith("logged: event, psi_record\n"), result.stderr
    result = check(world, root / "proof.json", root / "bundle-0.json")  # another call altogether
    assert result.exit_code == 1, result.output
    assert result.stderr.endswith("logged: event, psi_record, caller, provider, job\n"), result.stderr


def test_a_tampered_bundle_fails_as_verify_evidence_does(world: dict[str, Any], tmp_path: Path) -> None:
    root = world["root"]
    bundle = copy.deepcopy(world["bundles"][RECORD_INDEX])
    bundle["inclusion"]["proof"][0] = base64.b64encode(b"\x00" * 32).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bundle))
    consortium_json = str(root / "consortium.json")
    trust = ["--consortium", consortium_json, "--offline", "--validator", world["validator"]]
    alone = CliRunner().invoke(cli, ["verify", "evidence", str(tampered), *trust])
    result = check(world, root / "proof.json", tampered)
    assert alone.exit_code == result.exit_code == 1, result.output
    assert result.stdout == alone.stdout and result.stderr == alone.stderr
    assert "does NOT verify: inclusion" in result.stderr and "psi_record" not in result.stdout


def test_the_binding_checks_each_field_of_the_event() -> None:
    job = small_job()
    digest = hashlib.sha256(job.client_files[RECORD_FILE]).digest()
    genuine = step(2, "record", job.client_files[RECORD_FILE])
    assert all(c.ok for c in disclosure_binding(job.signed, digest, canonical_entry(genuine)))
    for field, name in (("caller_org", "caller"), ("provider_org", "provider"), ("psi_job", "job")):
        changed = {**genuine, field: "ab" * 32 if field == "psi_job" else "huaxin-bank"}
        failed = [c.name for c in disclosure_binding(job.signed, digest, json.dumps(changed).encode()) if not c.ok]
        assert failed == [name], field


def test_options_that_cannot_work_are_refused_before_anything_is_read(world: dict[str, Any]) -> None:
    """``--evidence`` needs ``--consortium``, the trust options need ``--evidence``; ``prove-member --event``
    reads the notary as a party of the job (``--as``), ``--as`` writes the bundle somewhere (``--evidence-out``, or
    beside ``--out``) and ``--notary-url`` goes with ``--as``."""
    root = world["root"]
    proof, bundle = str(root / "proof.json"), str(root / f"bundle-{RECORD_INDEX}.json")
    cases = {
        "--consortium": (["verify", "disclosure", proof, "--evidence", bundle], "give --consortium"),
        "--evidence": (["verify", "disclosure", proof, "--offline"], "go with --evidence"),
        "--as": (
            [
                "privacy",
                "prove-member",
                *sorted(map(str, (root / "client").iterdir())),
                "--id",
                "ACCT:S3",
                "--event",
                "ev-2",
                "--out",
                str(root / "p.json"),
            ],
            "give --as ORG",
        ),
        "--out": (
            [
                "privacy",
                "prove-member",
                str(root / "client" / RECORD_FILE),
                "--id",
                "ACCT:S3",
                "--event",
                "ev-2",
                "--as",
                CLIENT_ORG,
            ],
            "--evidence-out FILE, or --out FILE",
        ),
        "--notary-url": (
            ["privacy", "prove-member", str(root / "client" / RECORD_FILE), "--id", "ACCT:S3", "--notary-url", "x"],
            "go with --as",
        ),
    }
    for case, (args, reason) in cases.items():
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and reason in result.output, (case, result.output)
    assert not (root / "p.json").exists()


def prove_as(root: Path, files: dict[str, bytes], directory: Path, *extra: str) -> tuple[Result, Path]:
    """``privacy prove-member`` over ``files`` (written to ``directory``) with ``--as`` the client, in the
    consortium directory ``root``: the result, and where the document goes."""
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    out = directory.with_name(directory.name + "-proof.json")
    args = ["--dir", str(root), "privacy", "prove-member", *sorted(map(str, directory.iterdir())), "--id", "ACCT:S3"]
    return CliRunner().invoke(cli, [*args, "--as", CLIENT_ORG, "--out", str(out), *extra]), out


def test_prove_member_as_takes_the_record_step_from_the_job_files_or_says_what_is_missing(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Without ``--event``, ``--as`` fetches the evidence of the event ``record-step.json`` keeps; files without
    one are said to lack it (exit 2, nothing written, as for the other options that cannot work); ``--event``
    overrides the kept one, saying so. (This consortium.json records no notary URL and the kept file none either,
    so the fetch itself stops there: ``tests/integration/gateway/test_gateway_psi.py`` fetches from a notary.)"""
    root, job = world["root"], small_job()
    result, out = prove_as(root, job.client_files, tmp_path / "old")
    assert result.exit_code == 2, result.output
    assert f"no {RECORD_STEP_FILE} among JOB_FILES names its event" in result.output
    assert "give --event EVENT_ID" in result.output and "leave out --as" in result.output
    assert not out.exists()

    kept = format_record_step_file(record_step_of(job.signed, f"ev-{RECORD_INDEX}"))
    result, out = prove_as(root, {**job.client_files, RECORD_STEP_FILE: kept}, tmp_path / "kept")
    assert result.exit_code == 1 and out.read_bytes() == (root / "proof.json").read_bytes(), result.output
    assert "records no notary URL" in result.stderr and "overrides" not in result.stderr, result.stderr
    result, out = prove_as(root, {**job.client_files, RECORD_STEP_FILE: kept}, tmp_path / "over", "--event", "ev-9")
    assert result.exit_code == 1 and out.is_file(), result.output
    assert f"note: --event ev-9 overrides the event ev-{RECORD_INDEX} that {RECORD_STEP_FILE} keeps" in result.stderr


def test_prove_member_refuses_a_record_step_of_another_run_and_writes_nothing(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Job files from two runs (the record-step file of another run of the same job id): refused, naming both
    records, before the document is written, whether the event id would come from it or from ``--event``."""
    job, rerun = small_job(), small_job.__wrapped__()
    other = format_record_step_file(record_step_of(rerun.signed, f"ev-{RECORD_INDEX}"))
    for extra in ((), ("--event", f"ev-{RECORD_INDEX}")):
        directory = tmp_path / f"x{len(extra)}"
        result, out = prove_as(world["root"], {**job.client_files, RECORD_STEP_FILE: other}, directory, *extra)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"error: {directory / RECORD_STEP_FILE}: the record-step file"), result.stderr
        assert "the files are of two runs of job job-42" in result.stderr
        assert not out.exists()
