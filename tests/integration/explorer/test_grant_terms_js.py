"""The grant page's check of a private grant's terms document in the browser (``explorer/static/grantterms.js``),
run under Node: a document ``consortium grant terms export`` prints (``network.grantterms.TermsRecord``) hashes to
the key and commitment that ``chain.contracts.grants.PrivateTerms`` computes (what the chain holds), and a
document with one term changed, another grant's, another salt, a malformed one, and a grant served without its
commitment do not pass. One ``node`` process for every case."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chain.contracts import PrivateTerms
from network.grantterms import TermsRecord

NODE = shutil.which("node")
CHECK = Path(__file__).with_name("grant_terms_check.mjs")
GRANT_ID = bytes.fromhex("ab" * 32)


def served(terms: PrivateTerms, grant_id: bytes = GRANT_ID) -> dict[str, Any]:
    """The private grant as ``GET /grants/{id}`` serves it (``explorer.state.private_grant_json``'s chain part)."""
    return {
        "grant_id": "0x" + grant_id.hex(), "asset": terms.asset, "grantor": terms.grantor, "grantee": None,
        "key": "0x" + terms.key.hex(), "commitment": "0x" + terms.commitment.hex(), "private": True,
    }  # fmt: skip


@pytest.mark.skipif(NODE is None, reason="`node` is not on PATH: grantterms.js is checked with Node.js 20 or newer")
def test_the_browser_check_of_a_terms_document_agrees_with_the_chain(tmp_path: Path) -> None:
    terms = PrivateTerms.draw("eq-quotes", "alpha", "beta", "research", 1_767_225_600, 1_798_761_600, 40_404)
    doc = TermsRecord(terms, GRANT_ID, 1).to_json()
    grant = served(terms)
    other = PrivateTerms.draw("eq-quotes", "alpha", "beta", "research", 1_767_225_600, 1_798_761_600, 40_404)
    big = PrivateTerms.draw("eq-quotes", "alpha", "gamma.x_y-z", "a" * 32, 0, 2**53 - 1, 0)
    cases: dict[str, tuple[Any, dict[str, Any]]] = {
        "genuine": (doc, grant),
        "no grant id yet": ({**doc, "grant_id": None}, grant),
        "extreme values": (TermsRecord(big, GRANT_ID, 1).to_json(), served(big)),
        "quota changed": ({**doc, "quota": 40_405}, grant),
        "window changed": ({**doc, "expires_at": doc["expires_at"] + 1}, grant),
        "grantee changed": ({**doc, "grantee": "gamma"}, grant),
        "purpose changed": ({**doc, "purpose": "audit"}, grant),
        "another salt": ({**doc, "salt": "0x" + other.salt.hex()}, grant),
        "another grant's id": ({**doc, "grant_id": "0x" + "cd" * 32}, grant),
        "another grantor": ({**doc, "grantor": "gamma"}, grant),
        "not a document": ({"format": "something-else"}, grant),
        "not an object": ([1, 2], grant),
        "a name not a name": ({**doc, "grantee": "Beta"}, grant),
        "a negative quota": ({**doc, "quota": -1}, grant),
        "a salt too short": ({**doc, "salt": "0x1234"}, grant),
        "no commitment served": (doc, {k: v for k, v in grant.items() if k != "commitment"}),
    }
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"cases": [{"name": n, "doc": d, "grant": g} for n, (d, g) in cases.items()]}))
    assert NODE is not None
    done = subprocess.run([NODE, str(CHECK), str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    shown = {"grantee": "beta", "purpose": "research", "not_before": 1_767_225_600, "expires_at": 1_798_761_600}
    assert out["genuine"] == {"ok": True, "terms": {**shown, "quota": 40_404}}
    assert out["no grant id yet"] == out["genuine"]
    assert out["extreme values"]["ok"] is True and out["extreme values"]["terms"]["expires_at"] == 2**53 - 1
    problems = {name: answer.get("problem") for name, answer in out.items() if not answer["ok"]}
    assert problems == {
        "quota changed": "commitment_mismatch",
        "window changed": "commitment_mismatch",
        "grantee changed": "key_mismatch",
        "purpose changed": "key_mismatch",
        "another salt": "key_mismatch",
        "another grant's id": "other_grant",
        "another grantor": "other_grant",
        "not a document": "not_a_document",
        "not an object": "not_a_document",
        "a name not a name": "malformed:grantee",
        "a negative quota": "malformed:quota",
        "a salt too short": "malformed:salt",
        "no commitment served": "no_commitment",
    }


OPENINGS_CHECK = Path(__file__).with_name("openings_check.mjs")


def held_by(tmp_path: Path, person: dict[str, str], docs: list[Any], grants: list[Any]) -> Any:
    """What ``openings_check.mjs`` says a tab of ``person`` sends and shows once it opened ``docs``."""
    path = tmp_path / "openings.json"
    path.write_text(json.dumps({"person": person, "docs": docs, "grants": grants}))
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(OPENINGS_CHECK), str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="`node` is not on PATH: openings.js is checked with Node.js 20 or newer")
def test_the_held_documents_make_the_header_the_explorer_reads_and_show_only_checked_terms(tmp_path: Path) -> None:
    """``openings.js``, which the grants list and an asset's page both send and show from: the header of the held
    documents is what ``explorer.api.grants.OPENINGS`` accepts, one opening per document of the person's firm as
    grantee in the order opened, and a grant's terms are shown from its held document only when they hash to its
    key and commitment. A document of another grantee (the grantor's, every one a regulator holds) opens nothing for
    the person: its salt is not sent, and its terms are shown all the same. About 0.4 s (two runs of Node)."""
    from explorer.api.grants import OPENINGS

    first = PrivateTerms.draw("eq-quotes", "alpha", "beta", "research", 1_767_225_600, 1_798_761_600, 7)
    second = PrivateTerms.draw("eq-quotes", "alpha", "beta", "audit", 1_767_225_600, 1_798_761_600, 0)
    gammas = PrivateTerms.draw("eq-quotes", "alpha", "gamma", "billing", 1_767_225_600, 1_798_761_600, 3)
    second_id, gammas_id = bytes.fromhex("cd" * 32), bytes.fromhex("9e" * 32)
    altered = {**TermsRecord(second, second_id, 1).to_json(), "quota": 1}  # held, but hashes to no commitment
    docs = [
        TermsRecord(first, GRANT_ID, 1).to_json(), altered, {"grant_id": "0x" + "ef" * 32, "salt": "0x12"},
        TermsRecord(gammas, gammas_id, 1).to_json(),
    ]  # fmt: skip
    grants = [served(first), served(second, second_id), served(gammas, gammas_id)]
    out = held_by(tmp_path, {"org": "beta", "name": "compliance"}, docs, grants)
    assert out["refused"] == 1  # the malformed document is not held
    assert out["header"] == f"0x{first.salt.hex()} research, 0x{second.salt.hex()} audit"  # not gamma's
    assert re.fullmatch(OPENINGS, out["header"])
    assert out["held"]["0x" + GRANT_ID.hex()] == {
        "grantee": "beta", "purpose": "research", "not_before": 1_767_225_600, "expires_at": 1_798_761_600,
        "quota": 7,
    }  # fmt: skip
    assert out["held"]["0x" + second_id.hex()] is None
    assert out["held"]["0x" + gammas_id.hex()]["purpose"] == "billing"
    regulator = held_by(tmp_path, {"org": "bjcm-supervision", "name": "inspector"}, docs, grants)
    assert regulator["header"] is None  # no salt leaves the regulator's page
    assert regulator["held"] == out["held"]


TABS_CHECK = Path(__file__).with_name("openings_tabs_check.mjs")


@pytest.mark.skipif(NODE is None, reason="`node` is not on PATH: openings.js is checked with Node.js 20 or newer")
def test_the_tabs_of_one_person_share_the_held_documents_and_no_one_elses(tmp_path: Path) -> None:
    """``openings.js`` as four tabs of one browser (``openings_tabs_check.mjs``: the module imported four times,
    talking over Node's BroadcastChannel, and a probe posting what any page of the origin could): a tab of the
    person logged in later asks and gets the documents held, a document opened in one tab reaches the person's
    other tab and neither a tab of another person of the same firm nor one of another firm; garbage, a message for
    another person, a list with one document that fails holdDocument's checks and a list of more than 64 are
    ignored whole; 128 documents received leave the newest 64 held; a logout in one tab empties the person's other
    tab and leaves the other people's; a tab logged in again as another person forgets and gets that person's; and
    the module touches no storage. About 0.2 s."""
    records = [
        TermsRecord(PrivateTerms.draw("eq-quotes", "alpha", "beta", purpose, 1_767_225_600, 1_798_761_600, n), gid, 1)
        for purpose, n, gid in (("research", 7, GRANT_ID), ("audit", 0, b"\xcd" * 32), ("billing", 3, b"\xef" * 32))
    ]
    docs = [r.to_json() for r in records]
    ids = [d["grant_id"] for d in docs]
    path = tmp_path / "tabs.json"
    path.write_text(json.dumps({"docs": docs}))
    assert NODE is not None
    done = subprocess.run([NODE, str(TABS_CHECK), str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)

    def fake(n: int) -> str:
        return f"0x{n:064x}"

    p, other_firm = json.dumps(["beta", "compliance"]), json.dumps(["gamma", "compliance"])
    assert out["channel"] == "consortium-explorer.grant-terms-documents"
    assert out["asked"] == ids[:1]  # the new tab asked, the open one answered
    assert out["sent"] == ids[:2]  # opened in tab a, held in tab b
    assert out["same_firm"] == [fake(1)] and out["other_firm"] == [fake(2)]  # their own sentinel, none of P's
    assert out["after_garbage"] == out["after_garbage_a"] == [*ids[:2], fake(3)]  # the sentinel only
    assert out["answers"] == [
        {"who": p.replace(" ", ""), "grants": [*ids[:2], fake(3)]},
        {"who": p.replace(" ", ""), "grants": [*ids[:2], fake(3)]},
        {"who": other_firm.replace(" ", ""), "grants": [fake(2)]},
    ]  # each tab answers an ask of its own person only, with what it holds
    assert out["bound"]["count"] == 64 and out["bound"]["ids"] == out["bound"]["expected"]
    assert out["after_logout_b"] == [] and out["after_logout_a"] == []
    assert out["after_logout_other_firm"] == [fake(2), fake(4)] and out["after_logout_same_firm"] == [fake(1)]
    assert out["relogin"] == [fake(2), fake(4)]  # P's document forgotten, the other firm's person's received
    assert out["touched"] == []
