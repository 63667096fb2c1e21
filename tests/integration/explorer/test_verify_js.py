"""The browser's verifier (``explorer/static/verify.js`` and the ``log/`` modules it imports) under Node, on
evidence from a real notary log.

A notary with three witness servers on loopback (``tests/support/notary_world.py``: policy 2 of 3 with
the regulator ``reg``) logs a batch of events and publishes a cosigned checkpoint; ``notary.evidence`` builds the
bundles. Each bundle, genuine or tampered in one part, goes through ``verifyBundle`` in ``node``
(``verify_js_check.mjs``) with the keys in the form ``GET /api/v1/keys`` serves them. The genuine bundle passes
every step; each tampered one fails exactly the steps that depend on the tampered part; garbage never throws.
Every answer is cross-checked with ``notary.verify.verify_evidence_json`` on the same bundle and the same keys:
the browser's ``entry`` is Python's ``entry`` and ``leaf hash``, the other three steps are Python's own.

The anchor proofs of a v2 bundle (``verifyAnchorProofs``: the browser's keccak-256, RLP and Merkle-Patricia
walker) are checked on an anchor part built by ``notary.evidence`` from a block sealed by an in-process node
(JSON-RPC through ``RpcServer.handle``) with other transactions beside the anchor's, genuine and tampered,
and cross-checked with the same steps of ``notary.verify``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rlp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth.db.atomic import AtomicDB
from eth_account import Account
from eth_utils.crypto import keccak

from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from chain.seal import ExtraData
from explorer.exports import EVIDENCE_KEYS_FORMAT
from explorer.keys import log_keys_json
from notary.bundle import FORMAT_V1, FORMAT_V2, EvidenceBundle
from notary.bundleschema import Evidence as ApiEvidence
from notary.checkpointer import WitnessPolicy
from notary.event import OPTIONAL_FIELDS, parse_entry
from notary.evidence import anchor_evidence
from notary.log.cosignature import COSIGNATURE_V1, CosignatureVerifier, format_cosigner_vkey
from notary.log.note import ED25519, Note, NoteSigner, NoteVerifier, format_vkey, parse_note
from notary.logkeys import LogKey, LogKeys
from notary.logsuite import INTL
from notary.sequencer import encode_batch, sign_batch_body
from notary.storage.base import AnchorRow
from notary.verify import FORMAT, TrustRoots, verify_evidence_json
from tests.support.notary_events import event
from tests.unit.explorer.test_code_words import check_words

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STATIC = ROOT / "explorer" / "static"
VERIFY_JS = STATIC / "verify.js"
CHECK_SCRIPT = HERE / "verify_js_check.mjs"
NOTARY_WORLD = ROOT / "tests" / "support" / "notary_world.py"
STEPS = ("entry", "inclusion", "checkpoint", "cosignatures")
ANCHOR_STEPS = ("transaction in block", "transaction succeeded", "block hash")
EVENTS = 7
PROVEN = "ev-5"  # leaf 4 of 7: a proof of three hashes
PENDING = "ev-9"  # logged after the checkpoint: no published checkpoint covers it yet
NODE = shutil.which("node")


def _node_major() -> int:
    if NODE is None:
        return 0
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    return int(match.group(1)) if match else 0


def _skip_reason() -> str | None:
    if NODE is None:
        return "`node` is not on PATH: verify.js is checked with Node.js 20 or newer"
    if _node_major() < 20:
        return "verify.js needs Node.js 20 or newer (WebCrypto Ed25519 in globalThis.crypto.subtle)"
    return None


SKIP_REASON = _skip_reason()
needs_node = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


def _notary_world() -> ModuleType:
    """The integration tests' log world: the same notary and witnesses they build evidence with."""
    loaded = sys.modules.get("notary_world")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("notary_world", NOTARY_WORLD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["notary_world"] = module  # its dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


# -- the evidence -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    bundle: dict[str, Any]  # of PROVEN, covered by a cosigned checkpoint
    pending: dict[str, Any]  # of PENDING, not yet in a published checkpoint
    keys: dict[str, Any]  # as GET /api/v1/keys serves them
    witness_raw: dict[str, str]  # org -> raw public key in hex, as consortium.json holds it


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    world_module = _notary_world()
    world = world_module.LogWorld(tmp_path_factory.mktemp("log"))
    gateway = world_module.GATEWAY
    service = world.notary()
    try:
        now = int(time.time() * 1000)
        events = [event(event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in range(1, EVENTS + 1)]
        body = encode_batch(gateway, events)
        service.sequencer.submit(gateway, body, sign_batch_body(world.gateway_key, body))
        assert service.checkpointer.round() is not None, "the witnesses did not cosign"
        later = [event(event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in (EVENTS + 1, EVENTS + 2)]
        body = encode_batch(gateway, later)
        service.sequencer.submit(gateway, body, sign_batch_body(world.gateway_key, body))
        bundle = service.evidence(PROVEN).to_json()
        pending = service.evidence(PENDING).to_json()
    finally:
        service.stop()
        world.close()
    cosigners: dict[str, CosignatureVerifier] = world.cosigners()
    policy: WitnessPolicy = world.policy()
    keys = {
        "origin": world_module.ORIGIN,
        "log_vkey": format_vkey(world_module.ORIGIN, world.log_verifier().public_key),
        "witnesses": [
            {"org": org, "vkey": format_cosigner_vkey(v.name, v.public_key), "regulator": org in policy.regulators}
            for org, v in sorted(cosigners.items())
        ],
        "policy": {"threshold": policy.threshold, "require_regulator": policy.require_regulator},
    }
    assert bundle["checkpoint"] is not None and bundle["inclusion"] is not None, bundle["pending"]
    assert sorted(bundle["checkpoint"]["cosigners"]) == ["alpha", "beta", "reg"]
    assert len(bundle["inclusion"]["proof"]) == 3
    assert pending["checkpoint"] is None and pending["pending"]
    yield Evidence(bundle, pending, keys, {org: v.public_key.hex() for org, v in cosigners.items()})


def decode_vkey(vkey: str, key_type: int) -> tuple[str, bytes]:
    """A C2SP vkey's name and public key, split at its first two '+' only (base64 may hold '+' too)."""
    name, key_id, encoded = vkey.split("+", 2)
    blob = base64.b64decode(encoded, validate=True)
    assert blob[0] == key_type and len(key_id) == 8, vkey
    return name, blob[1:]


def roots_of(keys: dict[str, Any]) -> TrustRoots:
    """The Python verifier's trust roots from the same keys the browser gets (no chain part: anchor pending)."""
    log = NoteVerifier(*decode_vkey(keys["log_vkey"], ED25519))
    assert format_vkey(log.name, log.public_key) == keys["log_vkey"]
    witnesses: dict[str, CosignatureVerifier] = {}
    for w in keys["witnesses"]:
        if re.fullmatch(r"[0-9a-f]{64}", w["vkey"]):
            name = keys["origin"].removesuffix("/audit-log") + "/witness/" + w["org"]
            witnesses[w["org"]] = CosignatureVerifier(name, bytes.fromhex(w["vkey"]))
        else:
            witnesses[w["org"]] = CosignatureVerifier(*decode_vkey(w["vkey"], COSIGNATURE_V1))
            assert format_cosigner_vkey(*decode_vkey(w["vkey"], COSIGNATURE_V1)) == w["vkey"]
    policy = WitnessPolicy(
        threshold=keys["policy"]["threshold"],
        witnesses=tuple(sorted(witnesses)),
        require_regulator=keys["policy"]["require_regulator"],
        regulators=frozenset(w["org"] for w in keys["witnesses"] if w["regulator"]),
    )
    zero = "0x" + "00" * 20
    log_keys = None
    if "log_keys" in keys:  # the log's keys on chain, judged at their block (notary.logkeys)
        part = keys["log_keys"]
        on_chain = tuple(
            LogKey(
                NoteVerifier(*decode_vkey(k["vkey"], ED25519)), k["valid_from"], k["valid_until"], k["compromised"],
                k["record"],
            )
            for k in part["keys"]
        )  # fmt: skip
        log_keys = LogKeys(keys["origin"], on_chain, part["block"], part["anchored"])
    return TrustRoots(
        log=log, witnesses=witnesses, policy=policy, notary_account=zero, anchor_address=zero, chain_id=1,
        log_keys=log_keys,
    )  # fmt: skip


# -- tampering ----------------------------------------------------------------------------------------------


def flip_b64(text: str, byte: int, bit: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[byte] ^= 1 << bit
    return base64.b64encode(bytes(raw)).decode("ascii")


def note_lines(bundle: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The checkpoint note's body lines and signature lines."""
    body, _, sigs = bundle["checkpoint"]["note"].rpartition("\n\n")
    return body.split("\n"), sigs.rstrip("\n").split("\n")


def with_note(bundle: dict[str, Any], body: list[str], sigs: list[str]) -> dict[str, Any]:
    changed = copy.deepcopy(bundle)
    changed["checkpoint"]["note"] = "\n".join(body) + "\n\n" + "\n".join(sigs) + "\n"
    return changed


def signer_of(line: str) -> str:
    return line.split(" ")[1]


def alter_signature(line: str) -> str:
    prefix, _, blob = line.rpartition(" ")
    return f"{prefix} {flip_b64(blob, 20)}"  # past the 4-byte key id (and a cosignature's 8-byte time)


def tampered(ev: Evidence) -> dict[str, tuple[dict[str, Any], dict[str, Any], set[str]]]:
    """name -> (bundle, keys, the steps that must fail)."""
    b, keys = ev.bundle, ev.keys
    body, sigs = note_lines(b)
    log_line = next(s for s in sigs if signer_of(s) == keys["origin"])
    witness_lines = {signer_of(s).rsplit("/", 1)[1]: s for s in sigs if "/witness/" in signer_of(s)}
    assert sorted(witness_lines) == ["alpha", "beta", "reg"]

    def changed(**fields: Any) -> dict[str, Any]:
        out = copy.deepcopy(b)
        out.update(fields)
        return out

    entry = base64.b64decode(b["entry"])
    at = entry.index(b'"route":"') + len(b'"route":"') + 2  # a character inside the route: still valid JSON
    flipped = bytearray(entry)
    flipped[at] ^= 0x01
    proof = list(b["inclusion"]["proof"])
    other_log_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    raw_hex_keys = {
        **keys,
        "witnesses": [{**w, "vkey": ev.witness_raw[w["org"]]} for w in keys["witnesses"]],
    }
    other_root = base64.b64encode(bytes(32)).decode()
    witnesses_only = [witness_lines["reg"]]
    return {
        "genuine": (b, keys, set()),
        "witness keys as raw hex (consortium.json form)": (b, raw_hex_keys, set()),
        "format v1 (its log part is v2's)": (changed(format=FORMAT_V1), keys, set()),
        "format v3 (unknown)": (changed(format="consortium-ledger/evidence/v3"), keys, set(STEPS)),
        "entry: one bit flipped": (
            changed(entry=base64.b64encode(bytes(flipped)).decode()),
            keys,
            {"entry", "inclusion"},
        ),
        "entry: leaf_hash altered": (changed(leaf_hash=flip_b64(b["leaf_hash"], 0)), keys, {"entry"}),
        "entry: another event_id claimed": (changed(event_id="ev-6"), keys, {"entry"}),
        "inclusion: a proof hash altered": (
            changed(inclusion={**b["inclusion"], "proof": [proof[0], flip_b64(proof[1], 31), proof[2]]}),
            keys,
            {"inclusion"},
        ),
        "inclusion: a proof hash dropped": (
            changed(inclusion={**b["inclusion"], "proof": proof[:-1]}),
            keys,
            {"inclusion"},
        ),
        "inclusion: another index": (changed(index=b["index"] ^ 1), keys, {"inclusion"}),
        "inclusion: index equal to the size": (
            changed(index=b["checkpoint"]["size"]),
            keys,
            {"inclusion", "checkpoint"},
        ),
        "checkpoint: log signature altered": (
            with_note(b, body, [alter_signature(s) if s == log_line else s for s in sigs]),
            keys,
            {"checkpoint"},
        ),
        "checkpoint: log signature removed": (
            with_note(b, body, [s for s in sigs if s != log_line]),
            keys,
            {"checkpoint"},
        ),
        "checkpoint: body root altered": (
            with_note(b, [body[0], body[1], other_root, *body[3:]], sigs),
            keys,
            {"checkpoint", "cosignatures", "inclusion"},
        ),
        "checkpoint: body extension line added": (
            with_note(b, [*body, "extension"], sigs),
            keys,
            {"checkpoint", "cosignatures"},
        ),
        "checkpoint: another log key": (
            b,
            {**keys, "log_vkey": format_vkey(keys["origin"], other_log_key)},
            {"checkpoint"},
        ),
        "cosignatures: one left, below the threshold": (
            with_note(b, body, [log_line, *witnesses_only]),
            keys,
            {"cosignatures"},
        ),
        "cosignatures: the regulator's dropped": (
            with_note(b, body, [s for s in sigs if s != witness_lines["reg"]]),
            keys,
            {"cosignatures"},
        ),
        "cosignatures: one altered": (
            with_note(b, body, [alter_signature(s) if s == witness_lines["alpha"] else s for s in sigs]),
            keys,
            {"cosignatures"},
        ),
        "cosignatures: one dropped, policy still met": (
            with_note(b, body, [s for s in sigs if s != witness_lines["beta"]]),
            keys,
            set(),
        ),
        "cosignatures: threshold above the witnesses": (
            b,
            {**keys, "policy": {**keys["policy"], "threshold": 4}},
            {"cosignatures"},
        ),
    }


GARBAGE: dict[str, Any] = {
    "null": None,
    "a number": 42,
    "a string": "evidence",
    "a list": [1, 2],
    "an empty object": {},
    "only the format": {"format": FORMAT},
}


def garbage_of(ev: Evidence) -> dict[str, dict[str, Any]]:
    """Bundles of the right format with parts of the wrong type: every step answers, none throws."""
    b = ev.bundle

    def changed(**fields: Any) -> dict[str, Any]:
        out = copy.deepcopy(b)
        out.update(fields)
        return out

    return {
        "entry not base64": changed(entry="%%%"),
        "entry a number": changed(entry=7),
        "index a string": changed(index="4"),
        "index negative": changed(index=-1),
        "proof not a list": changed(inclusion={"size": b["inclusion"]["size"], "proof": "nope"}),
        "proof hash short": changed(inclusion={**b["inclusion"], "proof": ["AAAA", *b["inclusion"]["proof"][1:]]}),
        "inclusion missing": changed(inclusion=None),
        "checkpoint a number": changed(checkpoint=5),
        "note a number": changed(checkpoint={**b["checkpoint"], "note": 42}),
        "note without signatures": changed(checkpoint={**b["checkpoint"], "note": "a\n1\nb\n"}),
        "checkpoint missing, no reason": changed(checkpoint=None, pending=[]),
    }


# -- running verify.js --------------------------------------------------------------------------------------


def run_node(tmp_path: Path, cases: list[dict[str, Any]]) -> dict[str, Any]:
    results: dict[str, Any] = run_node_full(tmp_path, cases)["results"]
    return results


def run_node_full(tmp_path: Path, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """verify.js's answers ``{"results": {name: steps}, "keys": {name: keys from consortium.json}}``."""
    assert NODE is not None
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"cases": cases}), encoding="utf-8")
    done = subprocess.run(
        [NODE, str(CHECK_SCRIPT), str(VERIFY_JS), str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, f"node failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    output: dict[str, Any] = json.loads(done.stdout)
    proofs = {c["name"] for c in cases if c.get("proofs")}
    for name, answer in output["results"].items():
        assert isinstance(answer, list), f"{name}: verifyBundle threw: {answer}"
        assert [s["step"] for s in answer] == list(ANCHOR_STEPS if name in proofs else STEPS), name
        for s in answer:
            assert s["ok"] in (True, False, None) and isinstance(s["detail"], str) and s["detail"], (name, s)
            assert s["detail"] == said(s["code"], s["params"]), (name, s)  # its code's English words with its params
    return output


def said(code: str, params: dict[str, Any]) -> str:
    """What ``CHECK_WORDS[code]`` of verify.js says with ``params``, in English."""
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m[1], m[0])), check_words()[code])


def oks(steps: list[dict[str, Any]]) -> dict[str, bool | None]:
    return {s["step"]: s["ok"] for s in steps}


def python_oks(bundle: Any, keys: dict[str, Any]) -> dict[str, bool | None]:
    """notary.verify's answer on the same bundle, in the browser's four steps."""
    checks = {s.name: s.ok for s in verify_evidence_json(bundle, roots_of(keys))}
    entry = [checks["entry"], checks["leaf hash"]]
    combined = False if False in entry else None if None in entry else True
    return {
        "entry": combined,
        "inclusion": checks["inclusion"],
        "checkpoint": checks["checkpoint"],
        "cosignatures": checks["cosignatures"],
    }


def show(steps: list[dict[str, Any]]) -> str:
    mark = {True: "✓", False: "✗", None: "-"}
    return "\n".join(f"  {mark[s['ok']]} {s['step']}: {s['detail']}" for s in steps)


# -- the tests ----------------------------------------------------------------------------------------------


def test_the_verifier_is_dependency_free() -> None:
    """verify.js imports only the log/ modules, and they only each other: nothing of the UI, nothing from outside
    but the vendored SM2/SM3 bundle, which log/smcrypto.js alone imports."""
    assert "export async function verifyBundle(bundle, keys" in VERIFY_JS.read_text(encoding="utf-8")
    modules = [VERIFY_JS, *sorted((STATIC / "log").glob("*.js"))]
    assert len(modules) > 1
    for path in modules:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"\brequire\(|\bimport\(", source), f"{path.name}: no dynamic imports"
        statements = re.findall(r"^import\b[^;]*;", source, re.MULTILINE)
        assert len(statements) == len(re.findall(r"^\s*import\b", source, re.MULTILINE)), path.name
        allowed = r"\./log/[a-z0-9]+\.js" if path == VERIFY_JS else r"\./[a-z0-9]+\.js"
        if path.name == "smcrypto.js":
            allowed = r"\./[a-z0-9]+\.js|\.\./vendor/sm-crypto\.js"
        for statement in statements:
            match = re.search(r'\bfrom "([^"]+)";$', statement)
            assert match and re.fullmatch(allowed, match.group(1)), f"{path.name}: {statement}"
            assert (path.parent / match.group(1)).is_file(), f"{path.name}: {statement}"


def test_the_built_bundles_round_trip_as_typed_values(evidence: Evidence) -> None:
    """What the builder gives, as the notary's API writes it, parses and writes back unchanged."""
    for data in (evidence.bundle, evidence.pending):
        assert data["format"] == FORMAT_V2
        bundle = EvidenceBundle.from_json(data)
        assert bundle.to_json() == data
        assert json.dumps(bundle.to_json(), indent=1) == json.dumps(data, indent=1)
        assert json.dumps(ApiEvidence.model_validate(data).model_dump(mode="json")) == json.dumps(data)
    assert EvidenceBundle.from_json(evidence.pending).checkpoint is None


@needs_node
def test_genuine_and_tampered_bundles(evidence: Evidence, tmp_path: Path) -> None:
    cases = tampered(evidence)
    results = run_node(tmp_path, [{"name": n, "bundle": b, "keys": k} for n, (b, k, _) in cases.items()])
    for name, (bundle, keys, failing) in cases.items():
        steps = results[name]
        want = {step: step not in failing for step in STEPS}
        assert oks(steps) == want, f"{name}:\n{show(steps)}"
        assert python_oks(bundle, keys) == want, f"{name}: notary.verify disagrees"


@needs_node
def test_the_details_name_the_hash_or_signature(evidence: Evidence, tmp_path: Path) -> None:
    cases = tampered(evidence)
    picked = {
        "entry: leaf_hash altered": ("entry", "SHA-256(0x00 ‖ entry) is "),
        "inclusion: a proof hash altered": ("inclusion", "the proof leads from leaf 4 "),
        "inclusion: a proof hash dropped": ("inclusion", "the proof has 2 hashes"),
        "inclusion: index equal to the size": ("inclusion", "out of range"),
        "checkpoint: log signature altered": ("checkpoint", "the log's signature by test-consortium/audit-log"),
        "checkpoint: another log key": ("checkpoint", "no signature by the log key test-consortium/audit-log"),
        "cosignatures: one altered": ("cosignatures", "the cosignature by alpha does not verify"),
        "cosignatures: the regulator's dropped": ("cosignatures", "cosigned by alpha, beta: the policy needs 2 of 3"),
        "cosignatures: one left, below the threshold": ("cosignatures", "cosigned by reg: the policy needs"),
    }
    results = run_node(tmp_path, [{"name": n, "bundle": cases[n][0], "keys": cases[n][1]} for n in picked])
    for name, (step, text) in picked.items():
        detail = next(s["detail"] for s in results[name] if s["step"] == step)
        assert text in detail, f"{name}: {detail}"
    genuine = run_node(tmp_path, [{"name": "genuine", "bundle": evidence.bundle, "keys": evidence.keys}])["genuine"]
    details = {s["step"]: s["detail"] for s in genuine}
    assert "cosigned by alpha, beta, reg (policy: 2 of 3 witnesses including a regulator)" in details["cosignatures"]
    assert f"size {evidence.bundle['checkpoint']['size']}" in details["checkpoint"]
    leaf = base64.b64decode(evidence.bundle["leaf_hash"]).hex()
    assert leaf in details["entry"] and "event ev-5" in details["entry"]
    codes = {s["step"]: s["code"] for s in genuine}
    assert codes == {
        "entry": "entry.ok",
        "inclusion": "inclusion.ok",
        "checkpoint": "checkpoint.ok",
        "cosignatures": "cosignatures.okRegulator",
    }
    params = {s["step"]: s["params"] for s in genuine}
    assert params["cosignatures"] == {"who": "alpha, beta, reg", "threshold": 2, "witnesses": 3}


@needs_node
def test_the_displayed_event_must_be_the_entry(evidence: Evidence, tmp_path: Path) -> None:
    shown = parse_entry(base64.b64decode(evidence.bundle["entry"]))
    other = {**shown, "status": 503}
    cases = [
        {"name": "same", "bundle": evidence.bundle, "keys": evidence.keys, "event": shown},
        {"name": "other", "bundle": evidence.bundle, "keys": evidence.keys, "event": other},
    ]
    results = run_node(tmp_path, cases)
    assert all(results["same"][i]["ok"] for i in range(4)), show(results["same"])
    assert oks(results["other"]) == {"entry": False, "inclusion": True, "checkpoint": True, "cosignatures": True}
    assert "differ in status" in results["other"][0]["detail"]


@needs_node
def test_the_entry_check_takes_the_optional_fields_and_no_other(evidence: Evidence, tmp_path: Path) -> None:
    """An entry with each of ``notary.event.OPTIONAL_FIELDS`` (an explorer query's ``subject``, a PSI step's
    ``psi_dp_cost``, ``psi_job``, ``psi_record``, ``psi_retry_of`` and ``psi_summary``) passes the entry step, one
    with a field the schema does not know fails it, naming the field. The entries are rewritten in canonical form
    with their leaf hash, so only the entry step's field check tells them apart (inclusion then fails)."""
    event = parse_entry(base64.b64decode(evidence.bundle["entry"]))
    optional = {
        "subject": "huaxin-bank", "psi_dp_cost": "1.5", "psi_job": "a1" * 32, "psi_record": "b2" * 32,
        "psi_retry_of": "ev-1", "psi_summary": '{"v":1}',
    }  # fmt: skip
    assert set(optional) == set(OPTIONAL_FIELDS)
    cases = []
    for name, extra in [*((k, {k: v}) for k, v in optional.items()), ("unknown", {"subjects": "huaxin-bank"})]:
        entry = json.dumps({**event, **extra}, sort_keys=True, separators=(",", ":")).encode()
        leaf = hashlib.sha256(b"\x00" + entry).digest()
        encoded = {"entry": base64.b64encode(entry).decode(), "leaf_hash": base64.b64encode(leaf).decode()}
        bundle = {**evidence.bundle, **encoded}
        cases.append({"name": name, "bundle": bundle, "keys": evidence.keys})
    results = run_node(tmp_path, cases)
    for name in optional:
        assert oks(results[name])["entry"] is True, show(results[name])
    assert oks(results["unknown"])["entry"] is False
    assert "unknown field(s) subjects" in results["unknown"][0]["detail"]


@needs_node
def test_a_bundle_without_a_checkpoint_yet_is_pending(evidence: Evidence, tmp_path: Path) -> None:
    results = run_node(tmp_path, [{"name": "pending", "bundle": evidence.pending, "keys": evidence.keys}])
    steps = results["pending"]
    want = {"entry": True, "inclusion": None, "checkpoint": None, "cosignatures": None}
    assert oks(steps) == want, show(steps)
    assert python_oks(evidence.pending, evidence.keys) == want
    assert all(s["detail"].startswith("pending: ") for s in steps[1:]), show(steps)
    assert [s["code"] for s in steps] == ["entry.ok", "pending", "pending", "pending"], show(steps)


def resigned(bundle: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``bundle`` with its checkpoint's log signature made by ``key`` instead (the cosignatures, over the body
    only, still hold): a checkpoint of the same log after its key rotated."""
    origin = bundle["origin"]
    note = parse_note(bundle["checkpoint"]["note"].encode())
    signature = NoteSigner(origin, key).sign(note.text)
    signatures = tuple(signature if s.name == origin else s for s in note.signatures)
    changed = copy.deepcopy(bundle)
    changed["checkpoint"]["note"] = Note(note.text, signatures).to_bytes().decode()
    return changed


def test_python_and_the_browser_agree_on_the_log_keys_on_chain(evidence: Evidence, tmp_path: Path) -> None:
    """Keys with ``log_keys`` as ``GET /api/v1/keys`` serves them for a log whose key rotated
    (``explorer.keys.log_keys_json``): the world's first key (record 0) retired at block 10, the new one (record 1)
    valid from block 8. A checkpoint is checked under the key its signature line names, valid at the block the keys
    are judged at (its anchor's): the new key's checkpoint anchored at 12 passes, where ``log_vkey`` alone
    (consortium.json's) refuses it; the old key's passes at 9 and is refused at 12; the new key's is refused at 5,
    before it counts; a key not on chain is refused at any block. notary.verify agrees on every case."""
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    origin = evidence.keys["origin"]
    old_key = NoteVerifier(*decode_vkey(evidence.keys["log_vkey"], ED25519))
    new = Ed25519PrivateKey.generate()
    new_key = NoteVerifier(origin, new.public_key().public_bytes_raw())
    on_chain = (LogKey(old_key, 1, 10, False, 0), LogKey(new_key, 8, None, False, 1))

    def keys_at(block: int, anchored: bool = True) -> dict[str, Any]:
        judged = LogKeys(origin, on_chain, block, anchored)
        return {**evidence.keys, "log_keys": log_keys_json(INTL, judged, block, f"log key valid on chain at {block}")}

    rotated = resigned(evidence.bundle, new)
    stranger = resigned(evidence.bundle, Ed25519PrivateKey.generate())
    ok = {step: True for step in STEPS}
    refused = {**ok, "checkpoint": False}
    cases = {
        "the new key, anchored after the rotation": (rotated, keys_at(12), ok),
        "the new key, unanchored: judged at the head": (rotated, keys_at(12, anchored=False), ok),
        "the new key under consortium.json's log_vkey alone": (rotated, evidence.keys, refused),
        "the old key, anchored before its retirement": (evidence.bundle, keys_at(9), ok),
        "the old key, anchored after its retirement": (evidence.bundle, keys_at(12), refused),
        "the new key, anchored before it counts": (rotated, keys_at(5), refused),
        "a key not on chain": (stranger, keys_at(12), refused),
    }
    results = run_node(tmp_path, [{"name": n, "bundle": b, "keys": k} for n, (b, k, _) in cases.items()])
    for name, (bundle, keys, want) in cases.items():
        assert oks(results[name]) == want, f"{name}:\n{show(results[name])}"
        assert python_oks(bundle, keys) == want, f"{name}: notary.verify disagrees"

    def detail(name: str) -> str:
        return str(next(s["detail"] for s in results[name] if s["step"] == "checkpoint"))

    new_id, old_id = new_key.key_id.hex(), old_key.key_id.hex()
    assert f"log key {new_id} (record 1) valid from block 8, valid on chain at its anchor's block 12" in detail(
        "the new key, anchored after the rotation"
    )
    assert "valid on chain at the chain head 12" in detail("the new key, unanchored: judged at the head")
    assert (
        f"the checkpoint is signed by log key {old_id} (record 0) valid from block 1 until block 10 (retired), not "
        "valid at its anchor's block 12" in detail("the old key, anchored after its retirement")
    )
    assert f"log key {new_id} (record 1) valid from block 8, not valid at its anchor's block 5" in detail(
        "the new key, anchored before it counts"
    )
    assert f"signed by no log key of {origin} on chain" in detail("a key not on chain")
    assert f"on chain: {old_id}, {new_id}" in detail("a key not on chain")

    # an evidence zip's consortium-keys.json (explorer.exports): the keys of each bundle's checkpoint, by its size
    size = str(evidence.bundle["checkpoint"]["size"])
    zipped = {"format": EVIDENCE_KEYS_FORMAT, "checkpoints": {size: keys_at(12)}, "latest": keys_at(12, False)}
    other = {**zipped, "checkpoints": {"3": keys_at(12)}}
    answer = run_node_full(
        tmp_path,
        [
            {"name": "zip", "bundle": rotated, "keys_file": zipped},
            {"name": "zip, pending", "bundle": evidence.pending, "keys_file": zipped},
            {"name": "zip of another checkpoint", "bundle": rotated, "keys_file": other},
        ],
    )
    assert oks(answer["results"]["zip"]) == ok, show(answer["results"]["zip"])
    assert answer["keys"]["zip, pending"]["log_keys"]["anchored"] is False
    assert answer["keys"]["zip of another checkpoint"] == {
        "error": f"the keys file holds no keys for the checkpoint of size {size} (it holds sizes: 3)"
    }


def retype(vkey: str) -> str:
    """A cosigner vkey turned into one of signature type 0x01 (same name, key id and key)."""
    name, key_id, encoded = vkey.split("+", 2)
    blob = base64.b64decode(encoded)
    return f"{name}+{key_id}+{base64.b64encode(bytes([ED25519]) + blob[1:]).decode()}"


@needs_node
def test_garbage_never_throws(evidence: Evidence, tmp_path: Path) -> None:
    bad_format: list[dict[str, Any]] = [{"name": n, "bundle": b, "keys": evidence.keys} for n, b in GARBAGE.items()]
    bad_parts: list[dict[str, Any]] = [
        {"name": n, "bundle": b, "keys": evidence.keys} for n, b in garbage_of(evidence).items()
    ]
    bad_keys: list[dict[str, Any]] = [
        {"name": f"keys {n}", "bundle": evidence.bundle, "keys": k}
        for n, k in {
            "null": None,
            "empty": {},
            "log vkey garbage": {**evidence.keys, "log_vkey": "x+y+z"},
            "witness vkey of the wrong type": {
                **evidence.keys,
                "witnesses": [{**w, "vkey": retype(w["vkey"])} for w in evidence.keys["witnesses"]],
            },
            "witnesses not a list": {**evidence.keys, "witnesses": "all"},
            "policy missing": {k: v for k, v in evidence.keys.items() if k != "policy"},
        }.items()
    ]
    results = run_node(tmp_path, bad_format + bad_parts + bad_keys)
    for case in bad_format:
        assert oks(results[case["name"]]) == dict.fromkeys(STEPS, False), case["name"]
        if case["name"] != "only the format":
            assert "not an evidence bundle" in results[case["name"]][0]["detail"]
    for case in bad_format + bad_parts:
        steps = results[case["name"]]
        assert False in oks(steps).values(), f"{case['name']}:\n{show(steps)}"
        assert oks(steps) == python_oks(case["bundle"], evidence.keys), f"{case['name']}:\n{show(steps)}"
    for case in bad_keys:
        steps = results[case["name"]]
        assert oks(steps)["entry"] is True and oks(steps)["inclusion"] is True, show(steps)
        failing = {s["step"] for s in steps if s["ok"] is False}
        assert failing and failing <= {"checkpoint", "cosignatures"}, f"{case['name']}:\n{show(steps)}"


@needs_node
def test_keys_from_the_consortium_description(evidence: Evidence, tmp_path: Path) -> None:
    """The verify page also takes consortium.json: the keys it derives are exactly the API's, and verify."""
    log_key = evidence.keys["log_vkey"].split("+", 2)[2]
    consortium: dict[str, Any] = {
        "format": "consortium-ledger/1",
        "name": "test-consortium",
        "witness_policy": {"threshold": 2, "witnesses": ["alpha", "beta", "reg"], "require_regulator": True},
        "members": [
            {
                "org": "op",
                "roles": ["member", "operator", "notary"],
                "notary_public_key": base64.b64decode(log_key)[1:].hex(),
            },
            *(
                {"org": org, "roles": ["regulator" if org == "reg" else "member", "witness"], "witness_public_key": key}
                for org, key in sorted(evidence.witness_raw.items())
            ),
        ],
    }
    everyone = {**consortium, "witness_policy": {**consortium["witness_policy"], "witnesses": ["all-members"]}}
    op_witness = copy.deepcopy(everyone)
    op_witness["members"][0]["witness_public_key"] = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    cases = [
        {"name": "listed", "bundle": evidence.bundle, "consortium": consortium},
        {"name": "all members, one without a witness key", "bundle": evidence.bundle, "consortium": everyone},
        {"name": "all members", "bundle": evidence.bundle, "consortium": op_witness},
    ]
    output = run_node_full(tmp_path, cases)
    assert output["keys"]["listed"] == evidence.keys
    assert all(s["ok"] for s in output["results"]["listed"]), show(output["results"]["listed"])
    missing = output["keys"]["all members, one without a witness key"]
    assert missing == {"error": "consortium.json: witness op has no witness_public_key"}
    assert "all members, one without a witness key" not in output["results"]
    assert [w["org"] for w in output["keys"]["all members"]["witnesses"]] == ["op", "alpha", "beta", "reg"]
    assert all(s["ok"] for s in output["results"]["all members"]), show(output["results"]["all members"])


def test_every_ui_string_is_in_both_languages() -> None:
    """The UI's strings (``i18n.js``): the same keys in Chinese and English, and every literal key the UI asks
    for is there (the verify page and the provenance page show verify.js's steps through them)."""
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    zh_block = source[source.index("\n  zh: {") : source.index("\n  en: {")]
    en_block = source[source.index("\n  en: {") : source.index("\n};")]
    key = re.compile(r'^\s*"?([A-Za-z0-9_.]+)"?:(?:\s*"|\s*$)', re.MULTILINE)  # quoted or bare, value follows
    zh, en = set(key.findall(zh_block)), set(key.findall(en_block))
    assert zh and zh == en, f"only in zh: {sorted(zh - en)}; only in en: {sorted(en - zh)}"
    ui = "".join(path.read_text(encoding="utf-8") for path in sorted(STATIC.rglob("*.js")))
    used = set(re.findall(r'\bt\(\s*"([^"]+)"', ui))
    assert used and used <= zh, f"missing: {sorted(used - zh)}"
    assert {f"step.{s}" for s in STEPS} <= zh


# -- the anchor proofs of a v2 bundle ----------------------------------------------------------------------------

CHAIN_ID = 20261
ANCHOR_TO = "0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa"
OTHER_TO = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"


@dataclass(frozen=True)
class Anchored:
    bundle: dict[str, Any]  # the log part of ``evidence.bundle`` with a real v2 anchor part
    others: list[str]  # the other raw transactions of the anchor's block, 0x hex


@pytest.fixture(scope="module")
def anchored(evidence: Evidence) -> Anchored:
    """A block of five transactions sealed by an in-process node; the anchor part of the third as the notary
    builds it (the transaction calls a plain address: the proofs do not depend on what it calls)."""
    operator = Account.from_key(b"\x07" * 32)
    node = Node(
        AtomicDB(), Genesis(CHAIN_ID, (operator.address,), operator.address, int(time.time()) - 10), bytes(operator.key)
    )
    server = RpcServer(node, port=0)

    def rpc(method: str, params: list[Any]) -> Any:
        answer = json.loads(
            server.handle(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()) or b"{}"
        )
        assert "error" not in answer, answer
        return answer["result"]

    sent = []
    for nonce in range(5):
        to = ANCHOR_TO if nonce == 2 else OTHER_TO
        tx = {"type": 2, "to": to, "data": bytes([nonce]) * (40 * nonce), "gas": 200_000, "chainId": CHAIN_ID,
              "value": 0, "nonce": nonce, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}  # fmt: skip
        signed = operator.sign_transaction(tx)
        node.submit(bytes(signed.raw_transaction))
        sent.append(signed)
    assert node.seal() is not None
    target = sent[2]
    row = AnchorRow(
        size=7, tx_hash="0x" + bytes(target.hash).hex(), raw_tx=bytes(target.raw_transaction), nonce=2,
        state="confirmed", sent_ms=0, block_number=None, block_hash=None, confirmed_ms=None,
    )  # fmt: skip
    part = anchor_evidence(rpc, row, CHAIN_ID, ANCHOR_TO)
    assert part.transaction.index == 2
    bundle = {**evidence.bundle, "anchor": part.to_json(), "format": FORMAT_V2}
    others = ["0x" + bytes(s.raw_transaction).hex() for i, s in enumerate(sent) if i != 2]
    return Anchored(bundle, others)


MALFORMED = {"proof not a list", "proof node not hex"}


def proof_cases(a: Anchored) -> dict[str, tuple[dict[str, Any], set[str]]]:
    """Name → (bundle, the anchor steps that must fail)."""
    b = a.bundle
    block = b["anchor"]["block"]

    def with_anchor(**changes: Any) -> dict[str, Any]:
        out = copy.deepcopy(b)
        for path, value in changes.items():
            part, field = path.split("__")
            out["anchor"][part][field] = value
        return out

    def flip(text: str, byte: int) -> str:
        data = bytearray(bytes.fromhex(text[2:]))
        data[byte] ^= 0x01
        return "0x" + data.hex()

    tx_nodes, receipt_nodes = block["transaction_proof"], block["receipt_proof"]
    both = {"transaction in block", "transaction succeeded"}
    cases: dict[str, tuple[dict[str, Any], set[str]]] = {"genuine": (b, set())}
    for i in range(len(tx_nodes)):
        changed = [flip(n, 40) if j == i else n for j, n in enumerate(tx_nodes)]
        cases[f"transaction proof node {i} changed"] = (with_anchor(block__transaction_proof=changed), both)
    for i in range(len(receipt_nodes)):
        changed = [flip(n, 40) if j == i else n for j, n in enumerate(receipt_nodes)]
        cases[f"receipt proof node {i} changed"] = (
            with_anchor(block__receipt_proof=changed),
            {"transaction succeeded"},
        )
    cases["transaction proof node dropped"] = (with_anchor(block__transaction_proof=tx_nodes[:-1]), both)
    cases["transaction proof node added"] = (with_anchor(block__transaction_proof=[*tx_nodes, tx_nodes[0]]), both)
    for i, other in enumerate(a.others):
        cases[f"transaction swapped for another of the block ({i})"] = (with_anchor(transaction__raw=other), both)
    for index in (0, 1, 3, 4, 5, 300):
        cases[f"index {index}"] = (with_anchor(transaction__index=index), both)
    cases["receipt changed"] = (with_anchor(block__receipt=flip(block["receipt"], 5)), {"transaction succeeded"})
    cases["header changed"] = (with_anchor(block__header=flip(block["header"], 300)), {"block hash"})
    cases["transactions root changed"] = (
        with_anchor(block__header=flip(block["header"], 130)),
        {*both, "block hash"},
    )
    fields = rlp.decode(bytes.fromhex(block["header"][2:]))

    def with_extra(extra: bytes, rehash: bool = False) -> dict[str, Any]:
        header = rlp.encode([*fields[:12], extra, *fields[13:]])
        if not rehash:
            return with_anchor(block__header="0x" + header.hex())
        return with_anchor(block__header="0x" + header.hex(), block__hash="0x" + keccak(header).hex())

    extra = ExtraData.decode(fields[12])
    # Besu's QBFT rule: round and seals are outside the block hash, the rest of the extra data inside it
    cases["round changed"] = (with_extra(extra.with_seals(extra.round + 1, extra.seals).encode()), set())
    cases["seals dropped"] = (with_extra(extra.with_seals(extra.round, ()).encode()), set())
    cases["vanity changed"] = (with_extra(replace(extra, vanity=b"\1" * 32).encode()), {"block hash"})
    cases["validators changed"] = (with_extra(replace(extra, validators=(b"\2" * 20,)).encode()), {"block hash"})
    # extra data of another shape (anvil's): Ethereum's rule, keccak-256 of the header as it is
    cases["no QBFT extra data, Ethereum's hash"] = (with_extra(b"anvil", rehash=True), set())
    cases["4-item extra data, Ethereum's hash"] = (with_extra(rlp.encode([b"\0" * 32, [], b"", []]), True), set())
    cases["proof not a list"] = (with_anchor(block__transaction_proof="nope"), both)
    cases["proof node not hex"] = (with_anchor(block__receipt_proof=["0xZZ"]), {"transaction succeeded"})
    return cases


@needs_node
def test_the_anchor_proofs_of_a_v2_bundle_in_the_browser(
    anchored: Anchored, evidence: Evidence, tmp_path: Path
) -> None:
    cases = proof_cases(anchored)
    assert len(anchored.bundle["anchor"]["block"]["transaction_proof"]) >= 2  # a branch and a leaf at least
    assert not any(other[2:] in json.dumps(anchored.bundle) for other in anchored.others)
    results = run_node(tmp_path, [{"name": n, "bundle": b, "proofs": True} for n, (b, _) in cases.items()])
    roots = roots_of(evidence.keys)
    for name, (bundle, failing) in cases.items():
        want = {step: step not in failing for step in ANCHOR_STEPS}
        assert oks(results[name]) == want, f"{name}:\n{show(results[name])}"
        python = {s.name: s.ok for s in verify_evidence_json(bundle, roots) if s.name in ANCHOR_STEPS}
        # notary.verify parses the anchor as one part: a malformed field in it fails every anchor step
        expected = dict.fromkeys(ANCHOR_STEPS, False) if name in MALFORMED else want
        assert python == expected, f"{name}: notary.verify disagrees"
    details = {name: {s["step"]: s["detail"] for s in steps} for name, steps in results.items()}
    assert "proof of" in details["genuine"]["transaction in block"]
    assert "transaction proof does not lead" in details["transaction proof node 0 changed"]["transaction in block"]
    assert (
        "another transaction at index 2"
        in details["transaction swapped for another of the block (0)"]["transaction in block"]
    )
    assert "index 4" in details["index 4"]["transaction in block"]
    assert "receipt proof does not lead" in details["receipt proof node 0 changed"]["transaction succeeded"]


@needs_node
def test_anchor_proofs_of_other_bundles(anchored: Anchored, evidence: Evidence, tmp_path: Path) -> None:
    cases = {
        "pending": (evidence.bundle, None),
        "v1": ({**evidence.bundle, "format": FORMAT_V1}, None),
        "garbage": ({"format": "x"}, False),
        "anchor garbage": ({**anchored.bundle, "anchor": {"block": 7}}, False),
    }
    results = run_node(tmp_path, [{"name": n, "bundle": b, "proofs": True} for n, (b, _) in cases.items()])
    for name, (_, ok) in cases.items():
        assert {s["ok"] for s in results[name]} == {ok}, f"{name}:\n{show(results[name])}"
