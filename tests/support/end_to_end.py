"""The path of one call through the ledger, end to end, under each crypto suite: one test body, parametrised by
suite. A call through a gateway → its event in the notary's log → cosigned by the witnesses → anchored on chain →
indexed and shown by the explorer with its provenance → ``consortium verify evidence`` and ``consortium verify
log`` offline from consortium.json. Each step asserts what the suite implies (:class:`SuiteImplies`), written out
here independently of the project's code: hashes by ``hashlib`` and the plain-Python SM3 of the tests, HMAC-SM3 by
GmSSL, the type bytes of the keys, the algorithms of the files at rest, what each verifier says of the anchors.

**Where each case runs.** Starting a consortium is the costly part of these tests (``init --demo`` and ``up``'s
twenty-odd processes), so each suite's case runs on the consortium that the process tests of that suite start
anyway: the module that defines the module-scoped fixture :attr:`SuiteImplies.fixture` names (``node`` of
tests/integration/cli/test_cli.py for ``intl``, ``sm`` of tests/integration/cli/test_cli_sm.py for ``sm``) imports
the test, and tests/conftest.py's ``pytest_generate_tests`` parametrises it there with the suites whose fixture
that module defines (:func:`suites_run_by`), its ``suite_consortium`` fixture handing the case that running
consortium (:func:`on_suite`). ``make test``'s scheduler gives a module whole to one worker, so each case runs beside
the other tests of its suite, in their worker, and no consortium starts twice. A third suite is one more entry of
:data:`SUITES`, whose case runs in the module whose fixture starts a consortium of that suite.

The test function is collected where it is imported (pytest's ``collect_imported_tests``, on by default), and its
asserts are rewritten (``pytest.register_assert_rewrite`` in tests/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gmssl_pyx import sm3_hmac

from chain.backend import RpcBackend
from chain.contracts import AuditAnchorClient
from chain.ids import OrgId
from network.description import load_description
from network.identity import user_paths
from network.logsetup import log_origin, log_vkey, witness_policy, witness_verifiers
from network.shredding import gateway_vault
from notary.log.checkpoint import parse_checkpoint
from notary.log.note import open_note, parse_note
from notary.logsuite import INTL, SM, LogSuite, parse_log_vkey
from sdk import MemberClient
from tests.support.cli import PASSPHRASE, assert_ok, run_cli, shown
from tests.support.merkle_reference import hash_of, leaf_hash
from tests.support.up_process import UpProcess
from tests.support.wait import wait_until

#: The demo's log (demo/consortium.toml's name), written out as the independent expectation.
DEMO_LOG = "beijing-capital-market-pilot/audit-log"
REGULATOR_TOKEN = Path("explorer") / "logins" / "inspector@bjcm-supervision.token"
#: The links of a call's provenance, in order (docs/explorer.md).
PROVENANCE_LINKS = [
    "call", "grant", "asset_version", "entry", "inclusion", "checkpoint", "cosignatures", "anchor", "block",
]  # fmt: skip
SM2_NOTE_TYPE = b"\xff" + b"consortium-ledger/sm2-note/v1"
SM2_COSIGNATURE_TYPE = b"\xff" + b"consortium-ledger/sm2-cosignature/v1"


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


@dataclass(frozen=True)
class SuiteImplies:
    """What a consortium of one suite shows at each step of a call's path, and which fixture runs one."""

    name: str  # consortium.json's "crypto", and what `up`'s summary says
    fixture: str  # the module-scoped fixture that runs a consortium of this suite (see the module docstring)
    log_suite: LogSuite  # the project's suite the description must load as
    tree: str  # the tree's and the anchored checkpoint digest's hash, as `up` and the verifiers name it
    hash_name: str  # that hash, independently (tests.support.merkle_reference)
    hmac: Callable[[bytes, bytes], bytes]  # the digests' HMAC, independently
    event_version: int  # the schema version of the gateways' events
    reveal_scheme: str  # how their salts are derived, as `data reveal` and the explorer name it
    key_file_prf: bytes  # the DER of the PBKDF2 PRF's OID in an encrypted key file's PBES2
    key_file_cipher: bytes  # the DER of its cipher's OID
    vault_kdf: str  # how a salt vault's key is sealed (vault-key.json)
    vault_cipher: str | None  # (None: the field is absent)
    vault_counts_iterations: bool  # whether it takes $CONSORTIUM_KDF_ITERATIONS
    log_key_type: bytes  # the signature type bytes of the log's vkey, then the public key of this size
    log_key_size: int
    cosigner_key_type: bytes  # the same of a witness's vkey
    anchor_function: str  # what the notary calls on AuditAnchor
    anchors_checked_on_chain: bool  # AuditAnchor checks the log key's signature, and takes nothing else
    verify_log_anchors: str  # what `verify log` says of the anchors' signatures
    migrate_anchor_refusal: str  # why `notary migrate-anchor` has nothing to do

    @property
    def anchor_signature(self) -> str:
        """What the explorer's Anchors list says of every anchor once indexed."""
        return "checked" if self.anchors_checked_on_chain else "unchecked"


SUITES: dict[str, SuiteImplies] = {
    "intl": SuiteImplies(
        name="intl",
        fixture="node",
        log_suite=INTL,
        tree="SHA-256",
        hash_name="sha256",
        hmac=_hmac_sha256,
        event_version=2,
        reveal_scheme="epoch-hkdf/v1",
        key_file_prf=bytes.fromhex("06082a864886f70d0209"),  # hmacWithSHA256, 1.2.840.113549.2.9
        key_file_cipher=bytes.fromhex("060960864801650304012a"),  # aes256-CBC, 2.16.840.1.101.3.4.1.42
        vault_kdf="scrypt",
        vault_cipher=None,  # AES-256-GCM, which the document does not name
        vault_counts_iterations=False,
        log_key_type=b"\x01",  # C2SP signed-note's Ed25519
        log_key_size=32,
        cosigner_key_type=b"\x04",  # C2SP tlog-cosignature's Ed25519
        anchor_function="anchor",
        anchors_checked_on_chain=False,
        verify_log_anchors="- anchor signatures — not applicable: an intl log's Ed25519 key has no on-chain check",
        migrate_anchor_refusal="the consortium's crypto is 'intl': only an 'sm' consortium's AuditAnchor checks",
    ),
    "sm": SuiteImplies(
        name="sm",
        fixture="sm",
        log_suite=SM,
        tree="SM3",
        hash_name="sm3-python",
        hmac=sm3_hmac,  # GmSSL's
        event_version=3,
        reveal_scheme="epoch-hkdf-sm3/v1",
        key_file_prf=bytes.fromhex("060a2a811ccf550183110301"),  # HMAC-SM3, 1.2.156.10197.1.401.3.1
        key_file_cipher=bytes.fromhex("06082a811ccf55016802"),  # SM4-CBC, 1.2.156.10197.1.104.2
        vault_kdf="pbkdf2-hmac-sm3",
        vault_cipher="sm4-gcm",
        vault_counts_iterations=True,
        log_key_type=SM2_NOTE_TYPE,
        log_key_size=65,  # 04 ‖ x ‖ y
        cosigner_key_type=SM2_COSIGNATURE_TYPE,
        anchor_function="anchor_signed",
        anchors_checked_on_chain=True,
        verify_log_anchors="✓ anchor signatures — AuditAnchor takes signed anchors only; ",
        migrate_anchor_refusal="takes signed anchors only already: nothing to move",
    ),
}


class RunningConsortium(Protocol):
    """What a module's fixture holds of the consortium it runs: its directory, its ``consortium up`` and the summary
    that printed, and the environment its commands run with."""

    directory: Path
    up: UpProcess
    summary: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class OnSuite:
    """A running consortium and what its suite implies."""

    suite: SuiteImplies
    consortium: RunningConsortium

    @property
    def directory(self) -> Path:
        return self.consortium.directory

    @property
    def chain(self) -> str:
        return self.consortium.up.url

    @property
    def notary(self) -> str:
        return f"http://127.0.0.1:{self.consortium.up.port + 1}"

    @property
    def explorer(self) -> str:
        return f"http://127.0.0.1:{self.consortium.up.port + 60}"

    def regulator(self) -> dict[str, str]:
        """The headers of the demo regulator's login, which ``up`` writes for the explorer."""
        return {"Authorization": "Bearer " + (self.directory / REGULATOR_TOKEN).read_text().strip()}

    def gateway(self, org: str) -> str:
        """The URL of ``org``'s gateway, as ``up``'s summary lists it."""
        line = next(line for line in self.consortium.summary if line.startswith("  gateways "))
        found = re.search(rf"\b{re.escape(org)} (https://localhost:\d+)", line)
        assert found is not None, line
        return found.group(1)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``consortium ARGS`` with the environment the consortium's commands run with."""
        return run_cli(*args, env=self.consortium.env)


def suites_run_by(module: ModuleType) -> list[str]:
    """The suites whose consortium ``module`` runs: those whose fixture it defines."""
    found = [name for name, suite in SUITES.items() if suite.fixture in vars(module)]
    if not found:
        fixtures = ", ".join(f"{s.fixture!r} ({name})" for name, s in SUITES.items())
        raise pytest.UsageError(f"{module.__name__} imports the end-to-end test but defines none of {fixtures}")
    return found


def on_suite(request: pytest.FixtureRequest) -> OnSuite:
    """The running consortium of the suite ``request.param`` names: the module's fixture of that suite."""
    suite = SUITES[request.param]
    return OnSuite(suite, cast(RunningConsortium, request.getfixturevalue(suite.fixture)))


def _vkey_type(vkey: str, key_size: int) -> bytes:
    """The signature type bytes of a C2SP vkey (``name+id+base64(type ‖ key)``) whose key has ``key_size`` bytes."""
    decoded = base64.b64decode(vkey.split("+", 2)[2])
    return decoded[: len(decoded) - key_size]


# Started with its module's consortium, on which it is the first case (it is imported at the module's top): the
# setup of init and up (a minute or more on a loaded machine) counts in its time, hence the timeout of the sm module.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_call_is_logged_cosigned_anchored_shown_and_verified_offline(
    suite_consortium: OnSuite, tmp_path: Path
) -> None:
    on = suite_consortium
    suite = on.suite
    directory = on.directory
    data = json.loads((directory / "consortium.json").read_text())
    assert data["crypto"] == suite.name
    # init wrote the key files (an SM2 one under sm, an Ed25519 one under intl) with the run's PBKDF2 cost:
    # iterationCount INTEGER in their PBES2, with the suite's PRF and cipher
    iterations = int(on.consortium.env.get("CONSORTIUM_KDF_ITERATIONS", "200000"))
    pem = (directory / "orgs" / "bjic-cloud" / "keys" / "witness.pem").read_bytes()
    der = base64.b64decode(b"".join(pem.strip().splitlines()[1:-1]))
    counted = iterations.to_bytes((iterations.bit_length() + 8) // 8, "big")
    assert bytes([0x02, len(counted)]) + counted in der
    assert suite.key_file_prf in der and suite.key_file_cipher in der
    description = load_description(directory)
    assert description.suite is suite.log_suite
    origin = log_origin(description)
    assert origin == DEMO_LOG
    text = "\n".join(on.consortium.summary)
    assert f"(log {origin}; suite {suite.name}, {suite.tree} tree;" in text, text

    # A call allowed and one denied through bjic-cloud's gateway, by a jinghua-sec client over mutual TLS (X.509
    # ECDSA under both suites): the gateway signed the batch with the suite's key, the notary logged each,
    # witnesses cosigned, the anchor confirmed, and each bundle verifies offline.
    gateway = on.gateway("bjic-cloud")
    with MemberClient.from_directory(
        directory, "jinghua-sec", name="client", passphrase=PASSPHRASE.encode(), notary_url=on.notary
    ) as client:
        result = client.call(
            gateway, "GET", "/v1/market/quotes/level2", purpose="trading", params={"symbol": "600519.SH"}
        )
        assert result.status == 200, (result.status, result.content[:300])
        assert result.log_origin == DEMO_LOG and result.gateway_id == "bjic-cloud/gateway"
        assert result.json()["meta"]["caller_org"] == "jinghua-sec"
        denied = client.call(gateway, "GET", "/v1/market/quotes/level2", purpose="marketing")
        assert (denied.status, denied.denial_reason) == (403, "no_grant"), denied.content
        bundles = {}
        for call, decision in ((result, "allow"), (denied, "deny")):
            assert call.event_id is not None
            client.receipt(call.event_id, wait_s=30)
            bundle = client.evidence(call.event_id, wait_s=120, anchored=True)
            report = client.verify(bundle, description)
            said = report.to_text()
            assert report.ok and report.complete, said
            # the anchor: what the notary called on AuditAnchor with the suite's digest of the checkpoint, and
            # under sm the log's SM2 signature over what it anchors, checked on chain (and offline too)
            assert f"AuditAnchor.{suite.anchor_function}(" in said, said
            assert f"{suite.tree}(checkpoint body" in said, said
            assert ("checked on chain: anchor_signed succeeds" in said) is suite.anchors_checked_on_chain, said
            entry = json.loads(bundle.entry)
            assert entry["decision"] == decision and entry["event_id"] == call.event_id, entry
            assert bundle.leaf_hash == leaf_hash(bundle.entry, suite.hash_name)  # the suite's tree hash
            bundles[decision] = bundle
    assert result.event_id is not None
    bundle = bundles["allow"]
    entry = json.loads(bundle.entry)
    # ... and AuditAnchor, under sm, checked it on chain with the SM2 precompile against the notary's LOG_KEY,
    # deployed signed-only by `init --crypto sm`: no anchor of that consortium can be unchecked
    anchors = AuditAnchorClient(RpcBackend(on.chain), description.contracts["AuditAnchor"])
    latest = anchors.latest(origin)
    assert latest is not None
    checked = anchors.signature_key(origin, latest.tree_size) is not None
    assert checked is suite.anchors_checked_on_chain
    assert anchors.signed_only() is suite.anchors_checked_on_chain

    # `consortium verify evidence` checks the bundle from consortium.json alone.
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(bundle.to_json()))
    r = on.cli("verify", "evidence", str(path), "--consortium", str(directory / "consortium.json"))
    out = assert_ok(r)
    assert f"evidence of {result.event_id!r} verified" in out, shown(r)

    # The gateway salted the call (HKDF of the suite's hash) and digested it with the suite's HMAC over the suite's
    # hash of the bodies: the provider reveals the salt from the bundle's entry, an independent HMAC recomputes the
    # response digest from the answer the client got, and `consortium verify reveal` checks request and answer
    # against the bundle's entry. The caller is named by the suite's hash of its certificate.
    assert entry["v"] == suite.event_version, entry
    cert = x509.load_pem_x509_certificate(user_paths(directory, OrgId("jinghua-sec"), "client").cert.read_bytes())
    identity = hash_of(cert.public_bytes(serialization.Encoding.DER), suite.hash_name)
    assert entry["caller_identity"] == identity.hex(), entry
    sealed = json.loads((gateway_vault(directory, "bjic-cloud") / "vault-key.json").read_text())
    assert (sealed["kdf"], sealed.get("cipher")) == (suite.vault_kdf, suite.vault_cipher), sealed  # the vault at rest
    # the operator's setting reached the gateway up started (under sm; intl's scrypt has fixed parameters)
    assert sealed.get("iterations") == (iterations if suite.vault_counts_iterations else None), sealed
    r = on.cli("--dir", str(directory), "data", "reveal", result.event_id, "--provider", "bjic-cloud", "--entry",
               str(path))  # fmt: skip
    out = assert_ok(r)
    document = json.loads(out)
    assert document["scheme"] == suite.reveal_scheme, document
    salt = bytes.fromhex(document["salt"])
    answered = f"200\n{hash_of(result.content, suite.hash_name).hex()}".encode()
    assert entry["response_digest"] == suite.hmac(salt, answered).hex()
    (tmp_path / "reveal.json").write_text(out)
    (tmp_path / "answer").write_bytes(result.content)
    target = "/v1/market/quotes/level2?symbol=600519.SH"
    r = on.cli("verify", "reveal", str(tmp_path / "reveal.json"), "--target", target, "--response-body",
               str(tmp_path / "answer"), "--evidence", str(path))  # fmt: skip
    assert "the payload matches" in assert_ok(r), shown(r)

    # The checkpoint is a note signed by the log key of the suite (Ed25519, type 0x01; or an SM2 note, type 0xff ‖
    # "consortium-ledger/sm2-note/v1"), cosigned by a quorum of the witnesses with keys of the suite.
    note = httpx.get(on.notary + "/checkpoint", headers=on.regulator(), timeout=10)
    assert note.status_code == 200, note.text
    vkey = log_vkey(description)
    assert _vkey_type(vkey, suite.log_key_size) == suite.log_key_type, vkey
    log_key = parse_log_vkey(vkey)
    signatures = {s.name: s for s in parse_note(note.content).signatures}
    assert len(signatures[log_key.name].signature) == 64  # Ed25519's, or SM2's r ‖ s
    assert signatures[log_key.name].key_id == log_key.key_id
    opened, verified = open_note(note.content, [log_key])
    checkpoint = parse_checkpoint(opened.text)
    assert checkpoint.origin == origin and checkpoint.size >= 1
    assert [s.name for s in verified] == [log_key.name]
    assert checkpoint.root != hash_of(b"", suite.hash_name)  # the empty tree's root under the suite's hash
    _, cosignatures = open_note(note.content, list(witness_verifiers(description).values()))
    assert len(cosignatures) >= witness_policy(description).threshold, [s.name for s in cosignatures]
    assert all(len(s.signature) == 72 for s in cosignatures)  # timestamp ‖ signature

    # `consortium verify log` mirrors the whole log (tiles of the suite's hash) and compares its roots with the
    # anchors on chain, and says what the chain checked of their signatures.
    token = (directory / REGULATOR_TOKEN).read_text().strip()
    r = on.cli("verify", "log", on.notary, "--consortium", str(directory / "consortium.json"), "--chain-url",
               on.chain, "--token", token)  # fmt: skip
    out = assert_ok(r)
    assert suite.verify_log_anchors in out, shown(r)
    assert "NOT checked on chain" not in out, shown(r)
    # `notary migrate-anchor` has nothing to move, and says so before deploying anything: an sm consortium's
    # AuditAnchor is signed-only from init, and an intl log's Ed25519 key has no check on chain to move to (the
    # move itself: tests/integration/notary/test_anchor_move.py).
    r = on.cli("--dir", str(directory), "--chain-url", on.chain, "notary", "migrate-anchor", "--as", "bjic-cloud")
    assert r.returncode == 1 and suite.migrate_anchor_refusal in r.stderr, shown(r)
    assert "retired_anchors" not in (directory / "consortium.json").read_text()

    # The explorer follows the log with the suite's keys and hash and shows the call to the regulator (the search
    # narrowed to the call's millisecond: an intl consortium's demo traffic runs meanwhile), its salt's scheme, and
    # its provenance, each link checked, the anchor's as the verifiers above say it.
    explorer, regulator = on.explorer, on.regulator()

    def listed() -> bool:
        window = {"limit": 200, "caller": "jinghua-sec", "from": entry["time_ms"], "to": entry["time_ms"] + 1}
        answer = httpx.get(explorer + "/api/v1/calls", params=window, headers=regulator, timeout=10)
        assert answer.status_code == 200, answer.text
        return any(row["event_id"] == result.event_id for row in answer.json()["calls"])

    wait_until(listed, f"the explorer to show call {result.event_id} to the regulator", 60, every=0.5)
    shown_call = httpx.get(f"{explorer}/api/v1/calls/{result.event_id}", headers=regulator, timeout=10)
    assert shown_call.status_code == 200, shown_call.text
    assert shown_call.json()["event"]["v"] == suite.event_version, shown_call.text
    assert shown_call.json()["digests"]["scheme"] == suite.reveal_scheme, shown_call.text

    def provenance() -> dict[str, Any] | None:
        answer = httpx.get(f"{explorer}/api/v1/calls/{result.event_id}/provenance", headers=regulator, timeout=30)
        assert answer.status_code == 200, answer.text
        return cast(dict[str, Any], answer.json()) if answer.json()["verified"] else None

    proven = wait_until(provenance, f"the explorer to verify the provenance of {result.event_id}", 60, every=0.5)
    links = {step["step"]: step for step in proven["steps"]}
    assert list(links) == PROVENANCE_LINKS, proven["steps"]
    assert all(links[name]["ok"] is True for name in PROVENANCE_LINKS[3:]), proven["steps"]
    said = links["anchor"]["detail"]
    assert f"AuditAnchor.{suite.anchor_function}(" in said and f"{suite.tree}(checkpoint body" in said, said
    assert ("checked on chain: anchor_signed succeeds" in said) is suite.anchors_checked_on_chain, said
    assert proven["evidence"]["index"] == bundle.index and proven["keys"]["log_vkey"] == vkey, proven["keys"]
    witnesses = proven["keys"]["witnesses"]
    assert len(witnesses) == len(witness_verifiers(description)), witnesses
    # a witness's key is of the log key's kind and size
    assert all(_vkey_type(w["vkey"], suite.log_key_size) == suite.cosigner_key_type for w in witnesses), witnesses

    # The explorer's anchor list says whether AuditAnchor checked the log key's signature on the call's anchor (its
    # transaction holds an AnchorSigned log beside Anchored under sm), once its chain follower has indexed that
    # block: "checked" for every anchor of an sm consortium (signed-only), "unchecked" for every intl one.
    anchored = bundle.anchor
    assert anchored is not None

    def listed_anchor() -> dict[str, Any] | None:
        answer = httpx.get(explorer + "/api/v1/anchors?limit=200", headers=regulator, timeout=10)
        assert answer.status_code == 200, answer.text
        document = answer.json()
        assert document["crypto"] == suite.name, document
        assert all(row["signature"] in (suite.anchor_signature, "unknown") for row in document["anchors"]), document
        row = next((row for row in document["anchors"] if row["size"] == anchored.size), None)
        return None if row is None or row["signature"] == "unknown" else cast(dict[str, Any], row)

    row = wait_until(listed_anchor, f"the explorer to index the anchor of size {anchored.size}", 60, every=0.5)
    assert row["signature"] == suite.anchor_signature, row
    assert str(row["tx_hash"]).lower() == "0x" + anchored.transaction.hash.hex(), (row, anchored)
    keys = httpx.get(explorer + "/api/v1/keys", timeout=10)
    if keys.status_code == 200:
        assert keys.json()["log_vkey"] == vkey
