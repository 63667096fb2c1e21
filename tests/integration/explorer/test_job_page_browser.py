"""The explorer's page of a PSI job in Debian's chromium (headless, driven by Playwright): the explorer's app over a
real SQLite call index served on loopback (``tests.support.job_explorer``), holding the steps of a real job whose
owner's terms release its three counts with noise (``privacy.dp``). The job's client logs in and opens the job's
page: it shows the noisy counts, their ε and what the job spent, the summary checked in the browser, and none of the
exact counts, which only the parties' ``record.json`` holds; a disclosure document the client picks is found to
carry the record the log holds, and the proof of its claim to hold, then bound to the log by the record step's
evidence bundle, which the page fetches from the explorer (``/calls/{id}/evidence``) with the keys for its checkpoint
(``/keys?size=``) and checks in the browser: a real bundle (``tests.unit.cli.test_disclosure_evidence.log_bundles``:
the three steps logged under the keys of a consortium directory, a checkpoint its witnesses cosigned) before its
anchor, which the stand-in notary serves; once the notary withholds it, the explorer's 404 said as such; then the
same bundle, held by the person and picked as a file, binds the document, and a file that is not JSON is refused
and changes nothing. A
screenshot goes to ``build/test-artifacts/explorer/`` (or ``$TEST_ARTIFACTS``). On the same app, two tabs of the
client share the terms documents one opened (``static/openings.js``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from explorer.errors import NotFoundError
from explorer.keys import ConsortiumKeysJSON, consortium_keys
from network.witnesskeys import offline_witnesses
from notary.bundle import EvidenceBundle
from notary.event import canonical_entry
from privacy.asset import job_tag
from privacy.jobfiles import RECORD_FILE
from privacy.record import format_summary
from sdk.disclosure import make_disclosure
from tests.support.apiserver import ApiServer
from tests.support.browser import launched, shot
from tests.support.job_explorer import job_explorer_app
from tests.support.privacy_job import CLIENT_ORG, SERVER_ORG, Job, small_job
from tests.unit.cli.test_disclosure_evidence import log_bundles
from tests.unit.explorer.test_job_page import CHECKPOINTS, GRANTS, ORGS, step
from tests.unit.network.test_crypto_suite import consortium

pytestmark = [pytest.mark.browser]

playwright_api = pytest.importorskip("playwright.sync_api")

EPSILON = "0.5"
BUDGET = "9"  # the grant's privacy budget: the job spends 1.5 of it
EXACT = {"client": 25, "server": 30, "result": 5}  # small_job's sets: 25 and 30 identifiers, 5 shared
NUMBER = re.compile(r"\b\d[\d,.]*\b")


def noisy_job() -> tuple[str, Job]:
    """A job whose three noisy counts all differ from the three exact ones (the noise is 0 a quarter of the time at
    ε 0.5), so that a page showing an exact count cannot pass for one showing a noisy count."""
    for n in range(200):
        job_id = f"job-dp-{n}"
        job = small_job(job_id, dp_epsilon=EPSILON, dp_inputs=True, dp_budget=BUDGET)
        dp = job.signed.record.dp
        assert dp is not None and dp.inputs is not None
        if not {dp.count, *dp.inputs} & set(EXACT.values()):
            return job_id, job
    raise AssertionError("200 jobs in a row drew a noisy count equal to an exact one")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Job, set[str], dict[str, Any], bytes]]:
    """The explorer's URL, the job's tag, the job, the event ids whose bundle the notary withholds (404), each
    event's bundle, by its id, and the consortium.json whose keys they are under."""
    job_id, job = noisy_job()
    record = job.client_files[RECORD_FILE]
    grant = job.signed.record.grant_id
    tag = job_tag(grant, job_id)
    events = [
        step(0, "terms", psi_job=tag),
        step(1, "request", psi_job=tag, psi_dp_cost="1.5"),  # the ε the owner's gateway charged
        step(
            2,
            "record",
            psi_job=tag,
            psi_record=hashlib.sha256(record).hexdigest(),
            psi_summary=format_summary(job.signed),
        ),
    ]
    entries = [canonical_entry(e) for e in events]
    # the steps logged under a consortium directory's keys: each one's bundle before the anchor, as the notary
    # serves it until then
    keys_root = tmp_path_factory.mktemp("consortium")
    description = consortium(keys_root, "intl")
    logged, _ = log_bundles(keys_root, description, events)
    unanchored = {
        str(b["event_id"]): {**b, "anchor": None, "pending": [{"part": "anchor", "reason": "not anchored yet"}]}
        for b in logged.values()
    }

    withheld: set[str] = set()

    def evidence(event_id: str) -> EvidenceBundle:
        if event_id not in unanchored or event_id in withheld:
            raise NotFoundError(f"evidence for call {event_id} at the notary yet")
        return EvidenceBundle.from_json(unanchored[event_id])

    def keys(size: int | None = None, chosen: object = None) -> ConsortiumKeysJSON:
        return consortium_keys(description, offline_witnesses(description))

    notary = SimpleNamespace(evidence=evidence)
    directory = tmp_path_factory.mktemp("explorer")
    with job_explorer_app(directory, entries, ORGS, GRANTS, CHECKPOINTS[:1], notary, keys) as app:
        server = ApiServer(app)
        try:
            yield server.url, tag, job, withheld, unanchored, json.dumps(description.to_json()).encode()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as instance:
        yield instance


def test_the_job_page_shows_the_noisy_counts_and_their_epsilon_and_no_exact_count(
    browser: Any, served: tuple[str, str, Job, set[str], dict[str, Any], bytes]
) -> None:
    url, tag, job, withheld, unanchored, trust = served
    dp = job.signed.record.dp
    assert dp is not None and dp.inputs is not None
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # the stand-in's login takes the org as the token, which the login form (it wants a JWT) would not send:
        # the token goes where the form puts it, the tab's session storage
        page.add_init_script(f"sessionStorage.setItem('explorer.token', '{CLIENT_ORG}')")
        page.goto(f"{url}/#/jobs/{tag}")
        assert CLIENT_ORG in page.get_by_test_id("whoami").inner_text()
        logged = page.get_by_test_id("job-logged")
        logged.wait_for()
        page.get_by_test_id("record-dp-count").first.wait_for()
        shot(page, "psi-job-dp")
        assert logged.get_attribute("data-ok") == "true"  # the summary checked in this browser against the log
        facts = page.get_by_test_id("job-logged-facts")
        assert facts.get_by_test_id("record-dp-count").inner_text() == str(dp.count)
        assert facts.get_by_test_id("record-dp-epsilon").inner_text() == EPSILON
        assert facts.get_by_test_id("record-dp-input-client").inner_text() == str(dp.inputs[0])
        assert facts.get_by_test_id("record-dp-input-server").inner_text() == str(dp.inputs[1])
        assert facts.get_by_test_id("record-dp-spent").inner_text().startswith("ε 1.5 (3 × ε 0.5")
        for exact in ("record-result-count", "record-input-count-client", "record-input-count-server"):
            assert facts.get_by_test_id(exact).count() == 0, exact
        shown = set(NUMBER.findall(page.get_by_test_id("job-logged").inner_text()))
        assert not shown & {str(n) for n in EXACT.values()}, shown
        assert {str(dp.count), str(dp.inputs[0]), str(dp.inputs[1]), EPSILON} <= shown
        assert SERVER_ORG in page.inner_text("body")
        # the grant's quota, which the page knows (a clear grant); the steps in the page's language (Chinese by
        # default), each one's code on hover
        assert page.get_by_test_id("job-runs").inner_text() == "100"
        for code, word in (("terms", "获取条款"), ("request", "请求"), ("record", "记录")):
            name = page.locator(f"[data-testid=job-steps] tr[data-step={code}] td").first.locator("strong")
            assert (name.inner_text(), name.get_attribute("title")) == (word, code)
        # the grant's privacy budget, and what its one recorded job spent of it
        budget = page.get_by_test_id("job-budget")
        assert budget.get_by_test_id("budget-total").inner_text() == BUDGET
        assert budget.get_by_test_id("budget-cost").inner_text() == "ε 1.5 (3 × ε 0.5)"
        assert budget.get_by_test_id("budget-spent").inner_text() == "ε 1.5"
        assert budget.get_by_test_id("budget-remaining").inner_text() == "ε 7.5"
        assert budget.get_by_test_id("budget-remaining-total").inner_text() == "ε 7.5"
        assert budget.get_by_test_id("budget-unrecorded").count() == 0
        assert budget.get_by_test_id("budget-uncounted").count() == 0
        # a party's disclosure document: its record checked in this browser against the record step's, and the
        # proof of its claim (the record's signatures, the VRF proof, the Merkle path)
        disclosure = make_disclosure(job.client_files, "ACCT:S3", set_name="result", member=True).data
        page.get_by_test_id("disclosure-file").set_input_files(
            files=[{"name": "proof.json", "mimeType": "application/json", "buffer": disclosure}]
        )
        page.wait_for_selector("[data-testid=disclosure-check][data-ok]")
        assert page.get_by_test_id("disclosure-check").get_attribute("data-ok") == "true"
        proof = page.get_by_test_id("disclosure-proof")
        assert proof.get_attribute("data-failed") is None and "intl" in proof.inner_text(), proof.inner_text()
        assert "客户端 的 交集结果" in page.get_by_test_id("disclosure-claim").inner_text()  # client, result: in words
        # then bound to the log: the record step's bundle verified in this browser, its event the record step
        bound = page.get_by_test_id("disclosure-logged")
        page.wait_for_selector("[data-testid=disclosure-logged][data-bound]")
        assert (bound.get_attribute("data-bound"), bound.get_attribute("data-failed")) == ("true", ""), (
            bound.inner_text()
        )
        assert (bound.get_attribute("data-checkpoint"), bound.get_attribute("data-block")) == ("3", "")
        assert "ev-2" in bound.inner_text(), bound.inner_text()  # the record step, named in the page's language
        # a bundle the explorer answers 404 for (the notary holds none yet): said, and nothing bound
        withheld.add("ev-2")
        page.get_by_test_id("disclosure-file").set_input_files(
            files=[{"name": "again.json", "mimeType": "application/json", "buffer": disclosure}]
        )
        page.wait_for_selector("[data-testid=disclosure-logged][data-failed=not_found]")
        assert page.get_by_test_id("disclosure-logged").get_attribute("data-bound") == "false"
        # the record step's bundle the person holds (as sent with the document), picked: it binds the document
        # though the explorer withholds its copy; then a file that is not JSON is said not taken, and changes nothing
        held = page.get_by_test_id("held-bundle-file")
        record_step = json.dumps(unanchored["ev-2"]).encode()
        held.set_input_files(files=[{"name": "ev-2.json", "mimeType": "application/json", "buffer": record_step}])
        page.wait_for_selector("[data-testid=disclosure-logged][data-source=held][data-bound]")
        assert (bound.get_attribute("data-bound"), bound.get_attribute("data-checkpoint")) == ("true", "3"), (
            bound.inner_text()
        )
        assert "ev-2.json" in bound.inner_text(), bound.inner_text()
        held.set_input_files(files=[{"name": "broken.json", "mimeType": "application/json", "buffer": b"{"}])
        page.wait_for_selector("[data-testid=held-bundle-status][data-error=not_json]")
        assert "broken.json" in page.get_by_test_id("held-bundle-status").inner_text()
        assert (bound.get_attribute("data-source"), bound.get_attribute("data-bound")) == ("held", "true")
        assert bound.get_attribute("data-keys") == "explorer"
        # the consortium.json the person holds, picked: the bundle is checked under its keys, and the page says so;
        # then a file that is not one is said not taken, and changes nothing
        keys = page.get_by_test_id("held-keys-file")
        keys.set_input_files(files=[{"name": "consortium.json", "mimeType": "application/json", "buffer": trust}])
        page.wait_for_selector("[data-testid=disclosure-logged][data-keys=file][data-bound]")
        assert bound.get_attribute("data-bound") == "true", bound.inner_text()
        assert "consortium.json" in bound.inner_text(), bound.inner_text()
        keys.set_input_files(files=[{"name": "list.json", "mimeType": "application/json", "buffer": b"[]"}])
        page.wait_for_selector("[data-testid=held-keys-status][data-error=not_keys]")
        assert "list.json" in page.get_by_test_id("held-keys-status").inner_text()
        assert (bound.get_attribute("data-keys"), bound.get_attribute("data-bound")) == ("file", "true")
        assert errors == []
    finally:
        page.close()


def test_a_second_tab_of_the_person_holds_the_terms_documents_the_first_opened(
    browser: Any, served: tuple[str, str, Job, set[str], dict[str, Any], bytes]
) -> None:
    """Two tabs of one browser logged in as the job's client (``static/openings.js`` over the browser's
    BroadcastChannel): a terms document opened on the grants page of the first is held in the second, opened after
    it, and a logout in the first forgets it in the second. The module's other rules (another person's tab,
    malformed messages, the bound) are tested under Node, ``test_grant_terms_js.py``. About 2 to 3 s."""
    url, _, _, _, _, _ = served
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    context.on("weberror", lambda exc: errors.append(str(exc.error)))
    # each tab's own session storage holds the client's token, as a login in each tab would (not about:blank's)
    context.add_init_script(
        f"if (location.protocol === 'http:') sessionStorage.setItem('explorer.token', '{CLIENT_ORG}')"
    )
    document = {"grant_id": "0x" + "ab" * 32, "salt": "0x" + "cd" * 32, "purpose": "research"}
    try:
        first = context.new_page()
        first.goto(f"{url}/#/grants")
        first.get_by_test_id("grants-table").wait_for()
        first.get_by_test_id("open-files").set_input_files(
            files=[{"name": "terms.json", "mimeType": "application/json", "buffer": json.dumps(document).encode()}]
        )
        first.get_by_test_id("open-files-status").filter(has_text="1").wait_for()
        second = context.new_page()
        second.goto(f"{url}/#/grants")
        second.get_by_test_id("open-files-status").filter(has_text="1").wait_for(timeout=10_000)
        first.get_by_test_id("logout").click()
        second.wait_for_function(
            "() => document.querySelector('[data-testid=open-files-status]')?.textContent === ''", timeout=10_000
        )
        assert errors == []
    finally:
        context.close()
