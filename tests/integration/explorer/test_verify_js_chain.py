"""The browser's check of a v2 bundle's chain part (``verifyChain`` in ``explorer/static/verify.js``) on bundles the
notary builds: a ``NotaryService`` of each suite anchors its checkpoint through AuditAnchor on the in-process node
of ``tests/conftest.py``, and its evidence bundle is checked under Node, genuine and tampered. The anchor
transaction's and the receipt's Merkle-Patricia proofs, the block hash and the receipt's Anchored log (the
checkpoint's origin, size, root and digest: SHA-256 or SM3 of its body, as the keys' log vkey pins the suite).

The proofs on their own, against many more tamperings, are ``test_verify_js.py``'s."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_utils.crypto import keccak

from chain.tx import Signer
from notary.bundle import FORMAT_V1
from notary.logsuite import INTL, SM, LogSuite
from notary.service import AnchorSettings
from tests.integration.explorer.test_verify_js import CHECK_SCRIPT, NODE, VERIFY_JS, needs_node, said, show
from tests.support.consortium import Consortium
from tests.support.notary_world import ORIGIN, LogWorld

pytestmark = needs_node

CHAIN_STEPS = ("transaction in block", "transaction succeeded", "block hash", "anchor log")
SUITES = {"intl": INTL, "sm": SM}


def anchored_bundle(consortium: Consortium, world: LogWorld) -> dict[str, Any]:
    """The evidence of ev-5 once the notary has anchored the checkpoint covering it."""
    anchor = AnchorSettings(consortium.anchors, Signer(consortium.deployer.account), interval=0)
    world.register_log_key(consortium.trust, consortium.signers["op"])
    bundle = world.anchored_evidence(anchor, 7, "ev-5")
    assert bundle["pending"] == []
    return bundle


def keys_of(world: LogWorld) -> dict[str, Any]:
    """The part of GET /api/v1/keys the chain check reads: the log's vkey, whose type pins the suite."""
    suite: LogSuite = world.suite
    return {"origin": ORIGIN, "log_vkey": suite.vkey(suite.note_signer(ORIGIN, world.log_key))}


def run_chain(tmp_path: Path, cases: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """verifyChain's answers, name → steps; each a list of the four steps, never a throw."""
    assert NODE is not None
    path = tmp_path / "cases.json"
    listed = [{"name": n, "bundle": b, "keys": k, "chain": True} for n, (b, k) in cases.items()]
    path.write_text(json.dumps({"cases": listed}), encoding="utf-8")
    done = subprocess.run(
        [NODE, str(CHECK_SCRIPT), str(VERIFY_JS), str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, f"node failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    results: dict[str, Any] = json.loads(done.stdout)["results"]
    for name, steps in results.items():
        assert isinstance(steps, list), f"{name}: verifyChain threw: {steps}"
        assert [s["step"] for s in steps] == list(CHAIN_STEPS), name
        assert all(isinstance(s["detail"], str) and s["detail"] for s in steps), name
        for s in steps:  # each step's detail is its code's English words with its params, for the page's words
            assert s["detail"] == said(s["code"], s["params"]), (name, s)
    return results


def flip_hex(text: str, byte: int) -> str:
    data = bytearray(bytes.fromhex(text[2:]))
    data[byte] ^= 0x01
    return "0x" + data.hex()


def checkpoint_root(bundle: dict[str, Any]) -> bytes:
    return base64.b64decode(bundle["checkpoint"]["note"].split("\n")[2])


def cases_of(bundle: dict[str, Any], keys: dict[str, Any], other_keys: dict[str, Any]) -> dict[str, Any]:
    """Name → ((bundle, keys), the chain steps that must fail); None: every step not applicable."""

    def changed(edit: Any) -> dict[str, Any]:
        out = copy.deepcopy(bundle)
        edit(out)
        return out

    block = bundle["anchor"]["block"]
    receipt = block["receipt"]
    root_at = bytes.fromhex(receipt[2:]).find(checkpoint_root(bundle))
    assert root_at > 0, "the receipt carries the checkpoint's root"
    body, _, signatures = bundle["checkpoint"]["note"].partition("\n\n")
    lines = body.split("\n")
    other_root = base64.b64encode(bytes(32)).decode()

    def set_block(field: str, value: Any) -> Any:
        return lambda b: b["anchor"]["block"].__setitem__(field, value)

    def set_note(note: str) -> Any:
        return lambda b: b["checkpoint"].__setitem__("note", note)

    proofs = {"transaction in block", "transaction succeeded"}
    anchored_only = strip_logs(receipt, keep=ANCHORED_TOPIC)
    return {
        "genuine": ((bundle, keys), set()),
        "transaction proof node changed": (
            (changed(set_block("transaction_proof", [flip_hex(n, 40) for n in block["transaction_proof"]])), keys),
            proofs,
        ),
        "receipt proof node changed": (
            (changed(set_block("receipt_proof", [flip_hex(n, 40) for n in block["receipt_proof"]])), keys),
            {"transaction succeeded"},
        ),
        "header changed": ((changed(set_block("header", flip_hex(block["header"], 300))), keys), {"block hash"}),
        "root in the receipt's log changed": (
            (changed(set_block("receipt", flip_hex(receipt, root_at))), keys),
            {"transaction succeeded", "anchor log"},
        ),
        "receipt without logs": (
            (changed(set_block("receipt", strip_logs(receipt))), keys),
            {"transaction succeeded", "anchor log"},
        ),
        # under sm the AnchorSigned log goes, which breaks the receipt's proof; under intl there is none to drop
        "receipt with its Anchored log only": (
            (changed(set_block("receipt", anchored_only)), keys),
            set() if anchored_only == receipt else {"transaction succeeded"},
        ),
        "checkpoint of another root": (
            (changed(set_note("\n".join([*lines[:2], other_root, *lines[3:]]) + "\n\n" + signatures)), keys),
            {"anchor log"},
        ),
        "checkpoint of another size": (
            (changed(set_note("\n".join([lines[0], "8", *lines[2:]]) + "\n\n" + signatures)), keys),
            {"anchor log"},
        ),
        # the digest is over the body alone: the note's signature lines are not in it
        "checkpoint with the log's signature only": (
            (changed(set_note(body + "\n\n" + signatures.splitlines()[0] + "\n")), keys),
            set(),
        ),
        "keys of the other suite": ((bundle, other_keys), {"anchor log"}),
        "v1 bundle": (({**bundle, "format": FORMAT_V1}, keys), None),
        "pending anchor": (({**bundle, "anchor": None}, keys), None),
    }


ANCHORED_TOPIC = keccak(text="Anchored(bytes32,uint64,string,bytes32,bytes32,bytes32)")


def strip_logs(receipt: str, keep: bytes | None = None) -> str:
    """The same receipt with an empty list of logs, or only the logs whose first topic is ``keep`` (typed: the
    type byte kept)."""
    raw = bytes.fromhex(receipt[2:])
    typed = raw[0] < 0xC0
    fields = rlp.decode(raw[1:] if typed else raw)
    logs = [log for log in fields[3] if keep is not None and log[1][:1] == [keep]]
    stripped: bytes = rlp.encode([*fields[:3], logs])
    return "0x" + ((raw[:1] if typed else b"") + stripped).hex()


@pytest.fixture
def log_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogWorld]:
    world = LogWorld(tmp_path / "world", suite=SUITES[request.param])
    yield world
    world.close()


@pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)
@pytest.mark.parametrize("log_world", ["intl", "sm"], indirect=True)
def test_the_chain_part_of_a_notarys_v2_bundle(consortium: Consortium, log_world: LogWorld, tmp_path: Path) -> None:
    bundle = anchored_bundle(consortium, log_world)
    suite, other = (INTL, SM) if log_world.suite is INTL else (SM, INTL)
    other_world = LogWorld(tmp_path / "other", suite=other)
    try:
        other_keys = keys_of(other_world)
    finally:
        other_world.close()
    cases = cases_of(bundle, keys_of(log_world), other_keys)
    results = run_chain(tmp_path, {name: case for name, (case, _) in cases.items()})
    for name, (_, failing) in cases.items():
        want = dict.fromkeys(CHAIN_STEPS, None) if failing is None else {s: s not in failing for s in CHAIN_STEPS}
        assert {s["step"]: s["ok"] for s in results[name]} == want, f"{name}:\n{show(results[name])}"
    details = {name: {s["step"]: s["detail"] for s in steps} for name, steps in results.items()}
    digest_name = "SHA-256" if suite is INTL else "SM3"
    assert f"{digest_name}(checkpoint body)" in details["genuine"]["anchor log"]
    assert "anchors root" in details["checkpoint of another root"]["anchor log"]
    assert "tree size 8" in details["checkpoint of another size"]["anchor log"]
    assert "no Anchored log" in details["receipt without logs"]["anchor log"]
    # Under sm the browser says whether AuditAnchor checked the log's SM2 signature (its AnchorSigned log): the
    # notary signs here, as the chain runs the precompile; without that log the anchor reads as unchecked.
    if suite is SM:
        assert "checked on chain: AuditAnchor verified the SM2 signature" in details["genuine"]["anchor log"]
        assert "under the log's key" in details["genuine"]["anchor log"]
        assert "NOT checked on chain" in details["receipt with its Anchored log only"]["anchor log"]
    else:
        assert "checked on chain" not in details["genuine"]["anchor log"]
        assert "checked on chain" not in details["receipt with its Anchored log only"]["anchor log"]
    other_name = "SM3" if suite is INTL else "SHA-256"
    assert f"{other_name}(checkpoint body)" in details["keys of the other suite"]["anchor log"]
