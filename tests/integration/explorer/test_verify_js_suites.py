"""The browser's verifier under both suites: ``intl`` (SHA-256 tree, Ed25519) and ``sm`` (SM3 tree, SM2 notes and
cosignatures per docs/national-suite.md), on evidence Python builds with ``notary.log`` and ``suite.sm2``.

The bundles are assembled here from the log's own functions (events → entries → a tree and an inclusion proof with
the suite's tree hash → a checkpoint signed by the log's key and cosigned by three witnesses), so that the
browser's side of ``sm`` is checked without the notary's services. Each test runs once per suite; the cases that
only make sense under ``sm`` (the signer ID) are their own tests. ``sm_js_check.mjs`` checks the primitives: JS SM3
against GB/T 32905's examples and two Python SM3s, SM2 signatures from ``suite.sm2``, the profile's vkeys, SM3
inclusion proofs.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.bundle import FORMAT_V2
from notary.event import canonical_entry
from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.cosignature import CosignatureSigner, format_cosigner_vkey
from notary.log.hashing import SHA256, SM3, TreeHash
from notary.log.note import NoteSignature, NoteSigner, add_signatures, format_signature_line, format_vkey, sign_note
from notary.log.proof import MemoryNodeReader, prove_inclusion
from notary.log.smnote import SM2CosignatureSigner, SM2NoteSigner
from suite.sm2 import DEFAULT_ID, N, SM2PrivateKey
from tests.integration.explorer.test_verify_js import NODE, STEPS, needs_node, oks, run_node, run_node_full, show
from tests.support.notary_events import event
from tests.support.sm3_reference import sm3 as reference_sm3

HERE = Path(__file__).resolve().parent
SM_CHECK = HERE / "sm_js_check.mjs"
ORIGIN = "suites.example/audit-log"
WITNESSES = ("alpha", "beta", "reg")
SIZE = 7
INDEX = 4  # leaf 4 of 7: a proof of three hashes
TIME = 1_795_000_000


# -- the two suites ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    name: str
    tree: TreeHash
    log: Any  # a note signer with .name, .sign(text), .key_id
    witnesses: dict[str, Any]  # org -> a cosignature signer with .cosign(text, timestamp)
    log_vkey: str
    witness_vkeys: dict[str, str]


def intl_suite() -> Suite:
    log = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    witnesses = {
        org: CosignatureSigner(f"suites.example/witness/{org}", Ed25519PrivateKey.generate()) for org in WITNESSES
    }
    return Suite(
        "intl",
        SHA256,
        log,
        witnesses,
        format_vkey(log.name, log.public_key),
        {org: format_cosigner_vkey(w.name, w.public_key) for org, w in witnesses.items()},
    )


def sm_suite(log_key: SM2PrivateKey | None = None) -> Suite:
    log = SM2NoteSigner(ORIGIN, log_key or SM2PrivateKey.generate())
    witnesses = {
        org: SM2CosignatureSigner(f"suites.example/witness/{org}", SM2PrivateKey.generate()) for org in WITNESSES
    }
    return Suite("sm", SM3, log, witnesses, log.vkey(), {org: w.vkey() for org, w in witnesses.items()})


SUITES: dict[str, Callable[[], Suite]] = {"intl": intl_suite, "sm": sm_suite}


@pytest.fixture(scope="module", params=sorted(SUITES))
def suite(request: pytest.FixtureRequest) -> Suite:
    return SUITES[request.param]()


def other(suite: Suite) -> Suite:
    return SUITES["sm" if suite.name == "intl" else "intl"]()


# -- the evidence ---------------------------------------------------------------------------------------------


def keys_of(suite: Suite) -> dict[str, Any]:
    """The keys as GET /api/v1/keys serves them: policy 2 of 3 with the regulator ``reg``."""
    return {
        "origin": ORIGIN,
        "log_vkey": suite.log_vkey,
        "witnesses": [{"org": org, "vkey": suite.witness_vkeys[org], "regulator": org == "reg"} for org in WITNESSES],
        "policy": {"threshold": 2, "require_regulator": True},
    }


def build_bundle(suite: Suite, tree: TreeHash | None = None) -> dict[str, Any]:
    """The evidence of leaf INDEX in a log of SIZE events, tree hashed with ``tree`` (the suite's unless told)."""
    tree = tree or suite.tree
    entries = [canonical_entry(event(event_id=f"ev-{i + 1}", gateway_seq=i + 1)) for i in range(SIZE)]
    leaves = [tree.leaf(e) for e in entries]
    proof = prove_inclusion(INDEX, SIZE, MemoryNodeReader(leaves, tree), tree)
    text = format_checkpoint(Checkpoint(ORIGIN, SIZE, tree.root_of(leaves)))
    note = sign_note(text, [suite.log])
    note = add_signatures(note, [w.cosign(text, TIME + i) for i, w in enumerate(suite.witnesses.values())])
    return {
        "format": FORMAT_V2,
        "event_id": f"ev-{INDEX + 1}",
        "origin": ORIGIN,
        "index": INDEX,
        "entry": b64(entries[INDEX]),
        "leaf_hash": b64(leaves[INDEX]),
        "inclusion": {"size": SIZE, "proof": [b64(h) for h in proof]},
        "checkpoint": {"size": SIZE, "note": note.decode(), "cosigners": list(WITNESSES)},
        "pending": [],
        "anchor": None,
    }


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def flip_b64(text: str, byte: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[byte] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def replace_line(bundle: dict[str, Any], signer: str, line: str | None) -> dict[str, Any]:
    """The bundle with the signature line of ``signer`` replaced by ``line`` (or dropped)."""
    out = copy.deepcopy(bundle)
    body, _, sigs = out["checkpoint"]["note"].rpartition("\n\n")
    kept = [line if s.split(" ")[1] == signer else s for s in sigs.rstrip("\n").split("\n")]
    out["checkpoint"]["note"] = body + "\n\n" + "\n".join(s for s in kept if s is not None) + "\n"
    return out


def alter_line(bundle: dict[str, Any], signer: str) -> dict[str, Any]:
    """The bundle with one bit of ``signer``'s signature flipped (past the key id and a cosignature's time)."""
    _, _, sigs = bundle["checkpoint"]["note"].rpartition("\n\n")
    line = next(s for s in sigs.split("\n") if s.split(" ")[1:2] == [signer])
    prefix, _, blob = line.rpartition(" ")
    return replace_line(bundle, signer, f"{prefix} {flip_b64(blob, 20)}")


def cases(suite: Suite) -> dict[str, tuple[dict[str, Any], dict[str, Any], set[str]]]:
    """name -> (bundle, keys, the steps that must fail)."""
    b, keys = build_bundle(suite), keys_of(suite)
    foreign = other(suite)
    entry = bytearray(base64.b64decode(b["entry"]))
    entry[entry.index(b'"route":"') + 11] ^= 0x01
    proof = b["inclusion"]["proof"]

    def changed(**fields: Any) -> dict[str, Any]:
        out = copy.deepcopy(b)
        out.update(fields)
        return out

    alpha = suite.witnesses["alpha"].name
    return {
        "genuine": (b, keys, set()),
        "entry: one bit flipped": (
            changed(entry=base64.b64encode(bytes(entry)).decode()),
            keys,
            {"entry", "inclusion"},
        ),
        "inclusion: a proof hash altered": (
            changed(inclusion={"size": SIZE, "proof": [proof[0], flip_b64(proof[1], 31), proof[2]]}),
            keys,
            {"inclusion"},
        ),
        "checkpoint: the log's signature altered": (alter_line(b, ORIGIN), keys, {"checkpoint"}),
        "checkpoint: another log key of the suite": (b, {**keys, "log_vkey": other_log_vkey(suite)}, {"checkpoint"}),
        "cosignatures: one altered": (alter_line(b, alpha), keys, {"cosignatures"}),
        "cosignatures: one dropped, policy still met": (replace_line(b, alpha, None), keys, set()),
        "tree: hashed with the other suite's tree hash": (
            build_bundle(suite, foreign.tree),
            keys,
            {"entry", "inclusion"},
        ),
        "witnesses: one of the other suite": (
            b,
            {
                **keys,
                "witnesses": [*keys["witnesses"][:2], {**keys["witnesses"][2], "vkey": foreign.witness_vkeys["reg"]}],
            },
            {"cosignatures"},
        ),
    }


def other_log_vkey(suite: Suite) -> str:
    if suite.name == "sm":
        return str(SM2NoteSigner(ORIGIN, SM2PrivateKey.generate()).vkey())
    return format_vkey(ORIGIN, NoteSigner(ORIGIN, Ed25519PrivateKey.generate()).public_key)


def run_sm_check(tmp_path: Path, checks: dict[str, Any]) -> dict[str, Any]:
    assert NODE is not None
    path = tmp_path / "checks.json"
    path.write_text(json.dumps(checks), encoding="utf-8")
    done = subprocess.run([NODE, str(SM_CHECK), str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, f"node failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


# -- bundles --------------------------------------------------------------------------------------------------


@needs_node
def test_genuine_and_tampered_bundles(suite: Suite, tmp_path: Path) -> None:
    """Each case fails exactly the steps that depend on what was changed, under either suite."""
    built = cases(suite)
    results = run_node(tmp_path, [{"name": n, "bundle": b, "keys": k} for n, (b, k, _) in built.items()])
    for name, (_, _, failing) in built.items():
        steps = results[name]
        assert oks(steps) == {s: s not in failing for s in STEPS}, f"{suite.name}, {name}:\n{show(steps)}"


@needs_node
def test_the_details_name_the_suite(suite: Suite, tmp_path: Path) -> None:
    built = cases(suite)
    names = ("genuine", "tree: hashed with the other suite's tree hash", "witnesses: one of the other suite")
    results = run_node(tmp_path, [{"name": n, "bundle": built[n][0], "keys": built[n][1]} for n in names])
    details = {n: {s["step"]: s["detail"] for s in results[n]} for n in names}
    hash_name = {"intl": "SHA-256", "sm": "SM3"}[suite.name]
    assert f"{hash_name}(0x00 ‖ entry) = " in details["genuine"]["entry"]
    assert details["genuine"]["cosignatures"].startswith("cosigned by alpha, beta, reg"), details["genuine"]
    log_key = {"intl": "the log key", "sm": "the log's SM2 key"}[suite.name]
    assert details["genuine"]["checkpoint"].startswith(f"signed by {log_key} {ORIGIN} "), details["genuine"]
    wrong_tree = details["tree: hashed with the other suite's tree hash"]["entry"]
    assert wrong_tree.startswith(f"{hash_name}(0x00 ‖ entry) is "), wrong_tree
    mixed = details["witnesses: one of the other suite"]["cosignatures"]
    assert "the vkey of witness reg" in mixed and "suite" in mixed, mixed


# -- sm only: the signer ID, the key types ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sm() -> Suite:
    return sm_suite()


def resign_log_line(bundle: dict[str, Any], key: SM2PrivateKey, signer_id: bytes) -> dict[str, Any]:
    body = bundle["checkpoint"]["note"].rpartition("\n\n")[0] + "\n"
    log = SM2NoteSigner(ORIGIN, key)
    line = format_signature_line(NoteSignature(ORIGIN, log.key_id, key.sign(body.encode(), signer_id))).rstrip("\n")
    return replace_line(bundle, ORIGIN, line)


@needs_node
def test_sm_signatures_under_another_signer_id_are_refused(tmp_path: Path) -> None:
    """The log's key signs the same body under OpenSSL's empty ID and under another: the browser refuses both,
    and accepts the same key's signature under the profile's ID."""
    key = SM2PrivateKey.generate()
    suite = sm_suite(key)
    bundle, keys = build_bundle(suite), keys_of(suite)
    runs = {
        "profile ID": resign_log_line(bundle, key, DEFAULT_ID),
        "empty ID": resign_log_line(bundle, key, b""),
        "another ID": resign_log_line(bundle, key, b"8765432187654321"),
    }
    results = run_node(tmp_path, [{"name": n, "bundle": b, "keys": keys} for n, b in runs.items()])
    assert oks(results["profile ID"])["checkpoint"] is True, show(results["profile ID"])
    for name in ("empty ID", "another ID"):
        steps = results[name]
        assert oks(steps) == {**dict.fromkeys(STEPS, True), "checkpoint": False}, f"{name}:\n{show(steps)}"
        assert "does not verify over the checkpoint body" in steps[2]["detail"], show(steps)


@needs_node
def test_sm_keys_of_the_wrong_kind_are_refused(sm: Suite, tmp_path: Path) -> None:
    """A cosigner key as the log's, a note key as a witness's, a bare hex key as a witness's: each refused."""
    bundle, keys = build_bundle(sm), keys_of(sm)
    witness = sm.witnesses["alpha"]
    note_key_as_witness = SM2NoteSigner(witness.name, SM2PrivateKey.generate()).vkey()
    runs = {
        "cosigner key as the log's": {**keys, "log_vkey": sm.witness_vkeys["alpha"]},
        "note key as a witness's": {
            **keys,
            "witnesses": [{**keys["witnesses"][0], "vkey": note_key_as_witness}, *keys["witnesses"][1:]],
        },
        "bare hex key as a witness's": {
            **keys,
            "witnesses": [{**keys["witnesses"][0], "vkey": "ab" * 32}, *keys["witnesses"][1:]],
        },
    }
    results = run_node(tmp_path, [{"name": n, "bundle": bundle, "keys": k} for n, k in runs.items()])
    steps = results["cosigner key as the log's"]
    assert oks(steps) == {**dict.fromkeys(STEPS, True), "checkpoint": False}, show(steps)
    assert "SM2 cosigner key" in steps[2]["detail"], show(steps)
    for name in ("note key as a witness's", "bare hex key as a witness's"):
        steps = results[name]
        assert oks(steps) == {**dict.fromkeys(STEPS, True), "cosignatures": False}, f"{name}:\n{show(steps)}"
        assert "witness alpha" in steps[3]["detail"], show(steps)


# -- the primitives --------------------------------------------------------------------------------------------


GB_T_32905 = {
    b"abc": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
    b"abcd" * 16: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
}


@needs_node
def test_js_sm3_matches_the_standard_and_python(tmp_path: Path) -> None:
    """GB/T 32905's two examples, then inputs of every length around the 64-byte block and random ones, against
    OpenSSL's SM3 (hashlib) and the plain-Python reference."""
    rng = random.Random(32905)
    inputs = [*GB_T_32905, b""]
    inputs += [rng.randbytes(n) for n in (*range(50, 70), 119, 120, 127, 128, 129, 1000)]
    inputs += [rng.randbytes(rng.randrange(0, 300)) for _ in range(30)]
    answer = run_sm_check(tmp_path, {"sm3": [i.hex() for i in inputs]})["sm3"]
    for data, digest in GB_T_32905.items():
        assert answer[inputs.index(data)] == digest
    for data, digest in zip(inputs, answer, strict=True):
        assert digest == hashlib.new("sm3", data).hexdigest() == reference_sm3(data).hex(), data.hex()


@needs_node
def test_js_sm2_verifies_python_signatures_under_the_profile_id_only(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    point = key.public_key().public_bytes().hex()
    rng = random.Random(32918)
    messages = [b"", b"cosignature/v1\n", *(rng.randbytes(rng.randrange(1, 200)) for _ in range(8))]
    good = [{"point": point, "signature": key.sign(m).hex(), "message": m.hex()} for m in messages]
    message = messages[3]
    signature = bytes.fromhex(good[3]["signature"])
    r, s = signature[:32], signature[32:]
    bad = [
        {**good[3], "signer_id": ""},  # the profile's signature checked under another ID
        {
            **good[3],
            "signature": key.sign(message, b"").hex(),
        },  # signed under the empty ID, checked under the profile's
        {**good[3], "message": (message + b"!").hex()},
        {**good[3], "signature": signature[:-1].hex()},
        {**good[3], "signature": (bytes(32) + s).hex()},  # r = 0
        {**good[3], "signature": (r + N.to_bytes(32, "big")).hex()},  # s = n
        {**good[3], "point": SM2PrivateKey.generate().public_key().public_bytes().hex()},
    ]
    under_empty = {**good[3], "signature": key.sign(message, b"").hex(), "signer_id": ""}
    off_curve = {**good[3], "point": point[:-2] + format(int(point[-2:], 16) ^ 1, "02x")}
    answer = run_sm_check(tmp_path, {"verify": [*good, *bad, under_empty, off_curve]})["verify"]
    assert answer[: len(good)] == [True] * len(good)
    assert answer[len(good) : len(good) + len(bad)] == [False] * len(bad)
    assert answer[-2] is True  # the library does take the ID given
    assert answer[-1] == {"error": "the test key: not a point of the SM2 curve"}


@needs_node
def test_js_reads_the_profiles_vkeys(sm: Suite, tmp_path: Path) -> None:
    log_vkey, witness_vkey = sm.log_vkey, sm.witness_vkeys["beta"]
    name, key_id, encoded = witness_vkey.split("+", 2)
    blob = base64.b64decode(encoded)
    retyped = base64.b64encode(blob[:-66] + b"2" + blob[-65:]).decode()  # the type's "v1" made "v2"
    vkeys = [
        log_vkey,
        witness_vkey,
        f"{name}+00000000+{encoded}",
        f"{name}+{key_id}+{retyped}",
        f"{name}+{key_id}+AQ==",
    ]
    answer = run_sm_check(tmp_path, {"vkeys": vkeys})["vkeys"]
    assert answer[0] == {
        "name": ORIGIN,
        "kind": "note",
        "key_id": sm.log.key_id.hex(),
        "point": sm.log.public_key.hex(),
    }
    assert answer[1]["kind"] == "cosignature" and answer[1]["key_id"] == key_id and answer[1]["name"] == name
    assert "does not match the key" in answer[2]["error"]
    assert "not an SM2 key of the profile" in answer[3]["error"]
    assert "not an SM2 key of the profile" in answer[4]["error"]


@needs_node
def test_js_sm3_inclusion_proofs_match_python(tmp_path: Path) -> None:
    """Every leaf of trees of 1..17 leaves with SM3: the JS root is Python's; with SHA-256 it is not."""
    checks = []
    roots = []
    for size in range(1, 18):
        leaves = [SM3.leaf(i.to_bytes(4, "big")) for i in range(size)]
        reader = MemoryNodeReader(leaves, SM3)
        root = SM3.root_of(leaves)
        for index in range(size):
            proof = [h.hex() for h in prove_inclusion(index, size, reader, SM3)]
            for tree in ("SM3", "SHA-256"):
                checks.append({"leaf": leaves[index].hex(), "index": index, "size": size, "proof": proof, "tree": tree})
                roots.append((root.hex(), tree, bool(proof)))
    answer = run_sm_check(tmp_path, {"inclusion": checks})["inclusion"]
    for got, (want, tree, hashed) in zip(answer, roots, strict=True):
        assert (got == want) == (tree == "SM3" or not hashed), (got, want, tree)


@needs_node
def test_keys_from_an_sm_consortium_description(sm: Suite, tmp_path: Path) -> None:
    """keysFromConsortium reads consortium.json's "crypto": under sm it derives the profile's SM2 vkeys, exactly
    the ones GET /api/v1/keys serves, and they verify an sm bundle; the same keys under intl are refused."""
    consortium: dict[str, Any] = {
        "format": "consortium-ledger/1",
        "name": "suites.example",
        "crypto": "sm",
        "witness_policy": {"threshold": 2, "witnesses": list(WITNESSES), "require_regulator": True},
        "members": [
            {"org": "op", "roles": ["member", "operator", "notary"], "notary_public_key": sm.log.public_key.hex()},
            *(
                {
                    "org": org,
                    "roles": ["regulator" if org == "reg" else "member", "witness"],
                    "witness_public_key": sm.witnesses[org].public_key.hex(),
                }
                for org in WITNESSES
            ),
        ],
    }
    as_intl = {**consortium, "crypto": "intl"}
    bundle = build_bundle(sm)
    output = run_node_full(
        tmp_path,
        [
            {"name": "sm", "bundle": bundle, "consortium": consortium},
            {"name": "sm keys under intl", "bundle": bundle, "consortium": as_intl},
        ],
    )
    assert output["keys"]["sm"] == keys_of(sm)
    assert all(s["ok"] for s in output["results"]["sm"]), show(output["results"]["sm"])
    assert output["keys"]["sm keys under intl"] == {
        "error": "consortium.json: the notary_public_key of op is not a key of its suite (intl)"
    }
