"""``consortium data reveal``, ``consortium data shred`` and ``consortium verify reveal`` in process (click's
CliRunner), on a consortium directory of two firms whose gateway vault salted a few events of a past day."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.errors import MalformedError
from chain.ids import OrgId, Role
from cli.main import cli
from contracts import CONTRACT_NAMES
from explorer.api.calls import digests
from network.alarms.audit import alarm_event
from network.alarms.book import Alarm, Transition
from network.alarms.webhook import alarm_document
from network.description import ConsortiumDescription, MemberDescription, load_description
from network.identity import (
    OrgPaths,
    create_org_identity,
    encrypted_log_key,
    load_gateway_key,
    load_org_public,
    new_log_key,
)
from network.shredding import (
    ShredBook,
    alarms_vault,
    explorer_vault,
    gateway_vault,
    load_statements,
    statement_path,
)
from notary.event import canonical_entry, validate_event
from notary.log import verify_inclusion
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner, NoteVerifier
from notary.logsuite import public_bytes
from notary.reader import LogReader
from notary.receipt import verify_receipt
from notary.sequencer import Sequencer, SequencerSettings, encode_batch, sign_batch_body
from notary.store import LogStore
from notary.submit.digest import derive_salt, request_digest, response_digest
from notary.submit.reveal import body_sha256
from notary.submit.vault import SaltVault, epoch_of
from tests.support.clock import FIXED_NOW
from tests.support.notary_events import event
from tests.support.refused import refuse_every_connection

PASS = "correct horse battery"
PROVIDER, OTHER = "alpha", "beta"
DAY = "2026-11-02"
NOON = int(datetime(2026, 11, 2, 12, tzinfo=UTC).timestamp() * 1000)
TARGET, BODY, ANSWER = "/v1/news/latest?n=3", b'{"q": 1}', b'{"news": []}'
ORIGIN = "shred-test/audit-log"


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _consortium(tmp_path_factory.mktemp("consortium"))


def _consortium(root: Path, crypto: str = "intl") -> Path:
    """A consortium directory of PROVIDER (the operator) and OTHER on the suite ``crypto``."""
    for org in (PROVIDER, OTHER):
        create_org_identity(
            root, OrgId(org), org.title(), PASS.encode(), now=FIXED_NOW - timedelta(days=1), crypto=crypto
        )
    ConsortiumDescription(
        name="shred-test", chain_id=1, chain_kind="external", chain_url="http://127.0.0.1:9",
        contracts={name: "0x" + "00" * 20 for name in CONTRACT_NAMES}, deployed_at_block=0, admission_threshold=1,
        proposal_ttl_days=7, witness_policy={}, crypto=crypto,
        members=tuple(
            MemberDescription(OrgId(org), org.title(), Role.MEMBER | (Role.OPERATOR if org == PROVIDER else Role(0)),
                              load_org_public(root, OrgId(org)))
            for org in (PROVIDER, OTHER)
        ),
    ).write(root)  # fmt: skip
    return root


def _record(vault: SaltVault, event_id: str, time_ms: int, gateway: str = f"{PROVIDER}/gateway") -> bytes:
    """The entry of a call recorded as the gateway does: GET TARGET with BODY, answered 200 ANSWER."""
    salt = vault.salt(event_id, time_ms)
    ev = event(
        v=2, event_id=event_id, time_ms=time_ms, provider_org=PROVIDER, gateway_id=gateway,
        request_digest=request_digest(salt, "GET", TARGET, body_sha256(BODY)),
        response_digest=response_digest(salt, 200, body_sha256(ANSWER)),
    )  # fmt: skip
    if gateway.endswith("/explorer"):
        ev.update(center="explorer", unit="explorer", grant_id=None, asset_id=None, asset_version=None)
    return canonical_entry(validate_event(ev))


def _invoke(directory: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--dir", str(directory), *args], env={"CONSORTIUM_PASSPHRASE": PASS})
    return result.exit_code, result.stdout, result.stderr


def test_reveal_verify_shred_and_refuse(directory: Path, tmp_path: Path) -> None:
    key = load_gateway_key(directory, OrgId(PROVIDER), PASS.encode())
    vault = SaltVault.for_gateway_key(gateway_vault(directory, PROVIDER), PROVIDER, key)
    entries = {f"e-{i}": _record(vault, f"e-{i}", NOON + i) for i in range(3)}
    kept = _record(vault, "e-next-day", NOON + 86_400_000)
    files = {}
    for event_id, entry in {**entries, "e-next-day": kept}.items():
        files[event_id] = tmp_path / f"{event_id}.entry"
        files[event_id].write_bytes(entry)
    (tmp_path / "body").write_bytes(BODY)
    (tmp_path / "answer").write_bytes(ANSWER)
    payload = [
        "--target",
        TARGET,
        "--request-body",
        str(tmp_path / "body"),
        "--response-body",
        str(tmp_path / "answer"),
    ]

    code, out, err = _invoke(directory, "data", "reveal", "e-1", "--provider", PROVIDER, "--entry", str(files["e-1"]))
    assert code == 0, err
    document = json.loads(out)
    assert (document["event_id"], document["day"], document["scheme"]) == ("e-1", DAY, "epoch-hkdf/v1")
    assert document["salt"] == vault.reveal("e-1", NOON + 1).hex() and document["entry"] == entries["e-1"].decode()
    reveal = tmp_path / "e-1.reveal.json"
    reveal.write_text(out)

    code, out, err = _invoke(directory, "verify", "reveal", str(reveal), *payload)
    assert code == 0, err
    assert out.splitlines()[-1] == "the payload matches event 'e-1' (epoch-hkdf/v1 salt)"
    code, out, err = _invoke(directory, "verify", "reveal", str(reveal), "--target", "/v1/news/latest?n=4", "--json")
    assert code == 1 and json.loads(out)["checks"][0]["ok"] is False and "does NOT match" in err
    # the salt of e-1 put in e-2's place checks nothing of e-2 (the same request and response)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**document, "event_id": "e-2", "entry": entries["e-2"].decode()}))
    code, out, err = _invoke(directory, "verify", "reveal", str(forged), *payload)
    assert code == 1 and "✗ request" in out and "✗ response" in out
    bundle = tmp_path / "bundle.json"  # the entry must be the evidence bundle's
    bundle.write_text(json.dumps({"entry": base64.b64encode(entries["e-2"]).decode()}))
    code, out, _ = _invoke(directory, "verify", "reveal", str(reveal), *payload, "--evidence", str(bundle))
    assert code == 1 and "✗ entry" in out

    code, _, err = _invoke(directory, "data", "reveal", "e-1", "--provider", OTHER, "--entry", str(files["e-1"]))
    assert code == 1 and "not by beta" in err
    code, _, err = _invoke(directory, "data", "reveal", "e-2", "--provider", PROVIDER, "--entry", str(files["e-1"]))
    assert code == 1 and "not e-2" in err

    today = epoch_of(int(time.time() * 1000))  # the real day: the command reads the machine's clock
    code, _, err = _invoke(directory, "data", "shred", "--provider", PROVIDER, "--day", today)
    assert code == 1 and "is not over" in err
    code, _, err = _invoke(directory, "data", "shred", "--provider", PROVIDER, "--day", "2026-11-31")
    assert code == 2 and "not a calendar day" in err

    code, out, err = _invoke(directory, "data", "shred", "--provider", PROVIDER, "--day", DAY, "--by", "dpo@alpha")
    assert code == 0, err
    assert f"{PROVIDER} {DAY} shredded by dpo@alpha" in out and "destroyed" in out
    assert not (gateway_vault(directory, PROVIDER) / f"{DAY}.key").exists()
    # a repeat after the gateway key changed (a rotation) leaves the published statement, signed by the key then
    key_file = OrgPaths.of(directory, OrgId(PROVIDER)).gateway_key
    published, original_key = statement_path(directory, PROVIDER, DAY).read_bytes(), key_file.read_bytes()
    key_file.write_bytes(encrypted_log_key(new_log_key("intl"), PASS.encode()))
    code, out, err = _invoke(directory, "data", "shred", "--provider", PROVIDER, "--day", DAY, "--by", "someone")
    assert code == 0 and "already shredded" in out and "shredded by dpo@alpha" in out, err  # the first one stands
    assert statement_path(directory, PROVIDER, DAY).read_bytes() == published
    key_file.write_bytes(original_key)
    code, _, err = _invoke(directory, "data", "reveal", "e-1", "--provider", PROVIDER, "--entry", str(files["e-1"]))
    assert code == 1 and "was shredded at" in err and "by dpo@alpha" in err and "not found" not in err
    code, out, err = _invoke(directory, "data", "reveal", "e-next-day", "--provider", PROVIDER, "--entry",
                             str(files["e-next-day"]))  # fmt: skip
    assert code == 0, err  # the next day is untouched

    statements = load_statements(directory, load_description(directory))
    assert set(statements) == {(PROVIDER, DAY)} and statements[(PROVIDER, DAY)].by == "dpo@alpha"
    # the explorer shows the shredded day's version 2 calls as shredded, not the next day's, nor version 1 calls
    shown = ShredBook(directory, load_description(directory), rescan_s=0)
    assert digests(shown, json.loads(entries["e-1"]))["shredded"] == {
        "provider": PROVIDER, "day": DAY, "shredded_ms": statements[(PROVIDER, DAY)].shredded_ms, "by": "dpo@alpha"
    }  # fmt: skip
    assert digests(shown, json.loads(kept)) == {"scheme": "epoch-hkdf/v1", "day": "2026-11-03", "shredded": None}
    old = validate_event(event(v=1, time_ms=NOON, provider_org=PROVIDER))
    assert digests(shown, old) == {"scheme": "gateway-key/v1", "day": DAY, "shredded": None}
    forged_statement = statement_path(directory, OTHER, DAY)  # beta's folder, alpha's statement: ignored
    forged_statement.parent.mkdir(parents=True)
    forged_statement.write_text(statement_path(directory, PROVIDER, DAY).read_text())
    assert set(load_statements(directory, load_description(directory))) == {(PROVIDER, DAY)}


def test_explorer_vault_is_shredded_too_and_version_1_needs_asking(directory: Path, tmp_path: Path) -> None:
    key = load_gateway_key(directory, OrgId(PROVIDER), PASS.encode())
    assert isinstance(key, Ed25519PrivateKey)
    audit = SaltVault.for_gateway_key(explorer_vault(directory), PROVIDER, key)
    SaltVault.open(gateway_vault(directory, PROVIDER), PROVIDER, PASS.encode(), legacy_key=key)  # whatever ran before
    day, noon = "2026-10-02", NOON - 31 * 86_400_000
    entry = tmp_path / "q.entry"
    entry.write_bytes(_record(audit, "q-1", noon, gateway=f"{PROVIDER}/explorer"))
    code, out, err = _invoke(directory, "data", "reveal", "q-1", "--provider", PROVIDER, "--entry", str(entry))
    assert code == 0, err
    assert json.loads(out)["salt"] == audit.reveal("q-1", noon).hex()
    code, out, err = _invoke(directory, "data", "shred", "--provider", PROVIDER, "--day", day, "--json")
    assert code == 0, err
    vaults = json.loads(out)["vaults"]
    assert {v["vault"] for v in vaults} == {str(gateway_vault(directory, PROVIDER)), str(explorer_vault(directory))}
    code, _, err = _invoke(directory, "data", "reveal", "q-1", "--provider", PROVIDER, "--entry", str(entry))
    assert code == 1 and "shredded" in err

    old = event(v=1, provider_org=PROVIDER, gateway_id=f"{PROVIDER}/gateway")
    old["request_digest"] = request_digest(derive_salt(key), "GET", "/v1/news/latest", body_sha256(b""))
    notary_answer = tmp_path / "old.json"  # as /v1/entries/ID answers
    notary_answer.write_text(json.dumps({"entry": base64.b64encode(canonical_entry(validate_event(old))).decode()}))
    args = ["data", "reveal", old["event_id"], "--provider", PROVIDER, "--entry", str(notary_answer)]
    code, _, err = _invoke(directory, *args)
    assert code == 1 and "--gateway-salt" in err
    code, out, err = _invoke(directory, *args, "--gateway-salt", "--out", str(tmp_path / "old.reveal"))
    assert code == 0 and out == "", err
    code, out, err = _invoke(directory, "verify", "reveal", str(tmp_path / "old.reveal"))
    assert code == 0, err
    assert "gateway-key/v1" in out


def test_the_alarm_records_vault_is_revealed_from_and_shredded_too(directory: Path, tmp_path: Path) -> None:
    """An alarm record's salt comes from the operator's vault of alarm records, which reveal finds by the
    record's gateway (``<operator>/alarms``) and shred destroys a day of with the others."""
    vault = SaltVault.open(alarms_vault(directory), PROVIDER, PASS.encode())
    day, noon = "2026-09-02", NOON - 61 * 86_400_000
    alarm = Alarm("witness-down:witness/beta", "witness-down", "warning", "witness/beta", OTHER, "down", noon / 1000)
    transition = Transition("fired", alarm, noon / 1000)
    recorded = alarm_event(transition, alarm_document("shred-test", transition), PROVIDER, vault, event_id="a-1")
    entry = tmp_path / "a.entry"
    entry.write_bytes(canonical_entry(validate_event({**recorded, "gateway_seq": 1})))
    code, out, err = _invoke(directory, "data", "reveal", "a-1", "--provider", PROVIDER, "--entry", str(entry))
    assert code == 0, err
    assert json.loads(out)["salt"] == vault.reveal("a-1", noon).hex()
    code, out, err = _invoke(directory, "data", "shred", "--provider", PROVIDER, "--day", day, "--json")
    assert code == 0, err
    assert str(alarms_vault(directory)) in {v["vault"] for v in json.loads(out)["vaults"]}
    code, _, err = _invoke(directory, "data", "reveal", "a-1", "--provider", PROVIDER, "--entry", str(entry))
    assert code == 1 and "shredded" in err


def test_a_version_3_event_of_the_sm_suite_reveals_its_hkdf_sm3_salt_and_checks_with_hmac_sm3(tmp_path: Path) -> None:
    """An event an ``sm`` gateway recorded (schema version 3), in an ``sm`` consortium: ``data reveal`` opens the
    vault under the suite (SM4-GCM) and gives the event's HKDF-SM3 salt and names the scheme, ``verify reveal``
    checks the payload with HMAC-SM3 over SM3 body hashes, as the entry's version says; the same event digested with
    SHA-256 fails the check, and the explorer names the scheme."""
    from gmssl_pyx import sm3_hmac

    from notary.submit.digest import body_digest
    from tests.support.sm3_reference import sm3

    directory = _consortium(tmp_path / "consortium", "sm")
    key = load_gateway_key(directory, OrgId(PROVIDER), PASS.encode())
    vault = SaltVault.open(gateway_vault(directory, PROVIDER), PROVIDER, PASS.encode(), legacy_key=key, suite="sm")
    noon = NOON + 3 * 86_400_000  # 2026-11-05: a day no other test shreds
    salt = vault.salt("sm-1", noon)
    ev = event(
        v=3, event_id="sm-1", time_ms=noon, provider_org=PROVIDER, gateway_id=f"{PROVIDER}/gateway",
        request_digest=sm3_hmac(salt, f"GET\n{TARGET}\n{sm3(BODY).hex()}".encode()).hex(),
        response_digest=sm3_hmac(salt, f"200\n{sm3(ANSWER).hex()}".encode()).hex(),
    )  # fmt: skip
    entry = tmp_path / "sm-1.entry"
    entry.write_bytes(canonical_entry(validate_event(ev)))
    (tmp_path / "body").write_bytes(BODY)
    (tmp_path / "answer").write_bytes(ANSWER)
    payload = [
        "--target",
        TARGET,
        "--request-body",
        str(tmp_path / "body"),
        "--response-body",
        str(tmp_path / "answer"),
    ]

    code, out, err = _invoke(directory, "data", "reveal", "sm-1", "--provider", PROVIDER, "--entry", str(entry))
    assert code == 0, err
    document = json.loads(out)
    assert (document["scheme"], document["salt"]) == ("epoch-hkdf-sm3/v1", salt.hex())
    assert "hex(SM3(request body))" in document["request"]["message"]
    reveal = tmp_path / "sm-1.reveal.json"
    reveal.write_text(out)
    code, out, err = _invoke(directory, "verify", "reveal", str(reveal), *payload)
    assert code == 0, err
    assert out.splitlines()[-1] == "the payload matches event 'sm-1' (epoch-hkdf-sm3/v1 salt)"
    (tmp_path / "other").write_bytes(b'{"news": [1]}')
    code, out, _ = _invoke(directory, "verify", "reveal", str(reveal), *payload[:4], "--response-body",
                           str(tmp_path / "other"))  # fmt: skip
    assert code == 1 and "✓ request" in out and "✗ response" in out

    # the same call digested with HMAC-SHA256 over SHA-256 body hashes, labelled version 3: nothing checks
    wrong = {
        **ev,
        "request_digest": request_digest(salt, "GET", TARGET, body_sha256(BODY)),
        "response_digest": response_digest(salt, 200, body_sha256(ANSWER)),
    }
    entry.write_bytes(canonical_entry(validate_event(wrong)))
    code, out, err = _invoke(directory, "data", "reveal", "sm-1", "--provider", PROVIDER, "--entry", str(entry))
    assert code == 0, err
    reveal.write_text(out)
    code, out, _ = _invoke(directory, "verify", "reveal", str(reveal), *payload)
    assert code == 1 and "✗ request" in out and "✗ response" in out
    assert body_digest(BODY, "sm3") == sm3(BODY).hex()

    shown = ShredBook(directory, load_description(directory), rescan_s=0)
    assert digests(shown, validate_event(ev)) == {"scheme": "epoch-hkdf-sm3/v1", "day": "2026-11-05", "shredded": None}


def test_reveal_reads_the_notary_consortium_json_records_and_says_so_when_none_is(
    directory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --notary-url, `data reveal` asks the notary `consortium up` recorded in consortium.json, never a fixed
    port; with none recorded it says what to do; an explicit --notary-url wins."""
    import shutil

    tried = refuse_every_connection(monkeypatch)

    event_id = "0190f0a8-0000-7000-8000-00000000abcd"
    code, _, err = _invoke(directory, "data", "reveal", event_id, "--provider", PROVIDER)
    assert code != 0 and "consortium.json records no notary URL" in err and "--notary-url" in err, err
    copy = tmp_path / "recorded"
    shutil.copytree(directory, copy)
    recorded = load_description(copy)
    assert recorded.notary_url is None and "notary" not in recorded.to_json()
    running = dataclasses.replace(recorded, notary_url="http://127.0.0.1:9", explorer_url="http://127.0.0.1:10")
    running.write(copy)
    assert load_description(copy) == running
    assert running.to_json()["notary"] == {"url": "http://127.0.0.1:9"}
    assert running.to_json()["explorer"] == {"url": "http://127.0.0.1:10"}
    code, _, err = _invoke(copy, "data", "reveal", event_id, "--provider", PROVIDER)
    assert code != 0 and "the notary at http://127.0.0.1:9:" in err, err  # nothing listens there: refused
    assert [url.port for url in tried] == [9]
    code, _, err = _invoke(
        copy, "data", "reveal", event_id, "--provider", PROVIDER, "--notary-url", "http://127.0.0.1:11"
    )
    assert code != 0 and "the notary at http://127.0.0.1:11:" in err, err
    assert [url.port for url in tried] == [9, 11]
    for bad in ({"url": "ftp://x"}, {"url": 3}, "http://127.0.0.1:9"):
        data = {**running.to_json(), "notary": bad}
        with pytest.raises(MalformedError, match=r"notary\.url must be an http"):
            ConsortiumDescription.from_json(data)


def test_a_shredded_days_entries_receipts_and_proofs_verify_as_before(directory: Path, tmp_path: Path) -> None:
    """A day's calls logged by a notary's sequencer (in process, its SQLite store): a salt revealed before the shred
    checks its own call and no other of the day; after ``data shred`` the day's reveal is refused, and every entry
    of the day is the same bytes, its receipt verifies, its inclusion proof verifies against the same root, and the
    reveal document made before still checks (a shred destroys the day's salts, nothing of the log)."""
    key = load_gateway_key(directory, OrgId(PROVIDER), PASS.encode())
    assert isinstance(key, Ed25519PrivateKey)
    vault = SaltVault.open(gateway_vault(directory, PROVIDER), PROVIDER, PASS.encode(), legacy_key=key)
    day, noon = "2026-08-02", NOON - 92 * 86_400_000
    ids = [f"d-{i}" for i in range(4)] + ["d-next-day"]
    times = [noon + i for i in range(4)] + [noon + 86_400_000]
    batch = [
        {**json.loads(_record(vault, event_id, time_ms)), "gateway_seq": seq}
        for seq, (event_id, time_ms) in enumerate(zip(ids, times, strict=True), start=1)
    ]
    log_key = Ed25519PrivateKey.generate()
    store = LogStore(tmp_path / "notary.db")
    try:
        reader = LogReader(store)
        gateway_keys = {PROVIDER: public_bytes(key)}
        sequencer = Sequencer(store, NoteSigner(ORIGIN, log_key), SequencerSettings(ORIGIN), gateway_keys,
                              clock=lambda: (noon + 86_400_000) / 1000, on_commit=reader.invalidate)  # fmt: skip
        body = encode_batch(f"{PROVIDER}/gateway", batch)
        receipts = sequencer.submit(f"{PROVIDER}/gateway", body, sign_batch_body(key, body)).receipts
        verifier = NoteVerifier(ORIGIN, public_bytes(log_key))
        size = len(batch)
        root = reader.root_at(size)

        def log_verifies() -> list[bytes]:
            """The entries as the store holds them, each receipt and inclusion proof checked against ``root``."""
            entries = store.entries(0, size)
            assert reader.root_at(size) == root == root_of([hash_leaf(e) for e in entries])
            for index, (entry, receipt) in enumerate(zip(entries, receipts, strict=True)):
                statement = verify_receipt(receipt, verifier)
                assert (receipt.index, receipt.leaf_hash) == (index, hash_leaf(entry)), statement
                verify_inclusion(hash_leaf(entry), index, size, reader.inclusion(index, size), root)
            return entries

        logged = log_verifies()
        files = {}
        for event_id, entry in zip(ids, logged, strict=True):
            files[event_id] = tmp_path / f"{event_id}.entry"
            files[event_id].write_bytes(entry)
        (tmp_path / "body").write_bytes(BODY)
        (tmp_path / "answer").write_bytes(ANSWER)
        payload = ["--target", TARGET, "--request-body", str(tmp_path / "body"), "--response-body",
                   str(tmp_path / "answer")]  # fmt: skip

        code, out, err = _invoke(
            directory, "data", "reveal", "d-1", "--provider", PROVIDER, "--entry", str(files["d-1"])
        )
        assert code == 0, err
        reveal = tmp_path / "d-1.reveal.json"
        reveal.write_text(out)
        code, out, err = _invoke(directory, "verify", "reveal", str(reveal), *payload)
        assert code == 0, err
        for other in ("d-0", "d-2"):  # the same request and answer: d-1's salt checks neither
            forged = tmp_path / f"{other}.forged.json"
            forged.write_text(json.dumps({**json.loads(reveal.read_text()), "event_id": other,
                                          "entry": files[other].read_text()}))  # fmt: skip
            code, out, _ = _invoke(directory, "verify", "reveal", str(forged), *payload)
            assert code == 1 and "✗ request" in out and "✗ response" in out, out

        code, out, err = _invoke(directory, "data", "shred", "--provider", PROVIDER, "--day", day, "--by", "dpo@alpha")
        assert code == 0, err
        for event_id in ("d-1", "d-3"):
            code, _, err = _invoke(directory, "data", "reveal", event_id, "--provider", PROVIDER, "--entry",
                                   str(files[event_id]))  # fmt: skip
            assert code == 1 and "was shredded at" in err, err
        code, _, err = _invoke(directory, "data", "reveal", "d-next-day", "--provider", PROVIDER, "--entry",
                               str(files["d-next-day"]))  # fmt: skip
        assert code == 0, err  # the next day is untouched
        assert log_verifies() == logged
        code, out, err = _invoke(directory, "verify", "reveal", str(reveal), *payload)
        assert code == 0, err
    finally:
        store.close()
