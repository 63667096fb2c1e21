"""The explorer's web UI in Debian's chromium (headless, driven by Playwright) against a running demo consortium:
a compliance officer logs in, opens a call and sees every provenance link ✓ — re-verified by the browser itself, the
log part and the chain part of the v2 bundle;
a tampered evidence bundle shows ✗ on the right link; the regulator sees another firm's call that the officer
cannot. Screenshots go to ``build/test-artifacts/explorer/`` (or ``$TEST_ARTIFACTS``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.live.consortium import REGULATOR, Live, wait_until
from tests.support.browser import launched, shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]

playwright_api = pytest.importorskip("playwright.sync_api")

LOG_STEPS = ("entry", "inclusion", "checkpoint", "cosignatures")
CHAIN_STEPS = ("transaction in block", "transaction succeeded", "block hash", "anchor log")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as instance:
        yield instance


def login(browser: Any, live: Live, who: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "404" not in msg.text else None)
    page.errors = errors
    page.goto(live.url + "/#/login")
    page.get_by_test_id("login-token").fill(live.tokens[who])
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("whoami").wait_for()
    assert who.split("@")[1] in page.get_by_test_id("whoami").inner_text()
    return page


def anchored_call(live: Live, who: str, **params: Any) -> dict[str, Any]:
    """A call visible to ``who`` whose provenance verifies end to end (its checkpoint anchored)."""

    def find() -> dict[str, Any] | None:
        rows = live.get(who, "/api/v1/calls", limit=50, decision="allow", **params).json()["calls"]
        for row in rows[5:]:
            if (
                row["center"] != "explorer"
                and live.get(who, f"/api/v1/calls/{row['event_id']}/provenance").json()["verified"]
            ):
                return dict(row)
        return None

    found: dict[str, Any] = wait_until(find, 90, "an anchored call")
    return found


def step_states(page: Any, prefix: str, steps: tuple[str, ...]) -> dict[str, str]:
    return {s: page.get_by_test_id(f"{prefix}-{s}").first.get_attribute("data-ok") for s in steps}


def test_officer_sees_every_provenance_link_verified_in_the_browser(browser: Any, live: Live) -> None:
    org = "jinghua-sec"
    who = f"compliance@{org}"
    call = anchored_call(live, who)
    page = login(browser, live, who)
    page.goto(f"{live.url}/#/calls/{call['event_id']}")
    for step in LOG_STEPS:
        page.wait_for_selector(f'[data-testid="browser-step-{step}"][data-ok="true"]', timeout=20_000)
    server = ("call", *LOG_STEPS, "anchor", "block")
    assert step_states(page, "step", server) == dict.fromkeys(server, "true")
    # True, or null while chain time and the gateway's clock cannot order the call and the grant.
    assert "false" not in step_states(page, "step", ("grant", "asset_version")).values()
    assert step_states(page, "browser-step", LOG_STEPS) == dict.fromkeys(LOG_STEPS, "true")
    # the chain part of the v2 bundle: its Merkle-Patricia proofs, block hash and Anchored log, checked here too
    assert step_states(page, "chain-step", CHAIN_STEPS) == dict.fromkeys(CHAIN_STEPS, "true")
    assert page.get_by_test_id("browser-verdict").get_attribute("data-ok") == "true"
    shot(page, "officer-provenance")
    page.get_by_test_id("lang-switch").click()
    page.wait_for_timeout(300)
    shot(page, "officer-provenance-other-language")
    # The Anchors page says of each anchor whether AuditAnchor checked the log key's signature on it: the demo is
    # intl, whose plain anchors nothing on chain checks ("not applicable"), once the chain index holds them.
    wait_until(
        lambda: any(a["signature"] == "unchecked" for a in live.get(who, "/api/v1/anchors").json()["anchors"]),
        60,
        "an anchor in the explorer's chain index",
    )
    page.goto(f"{live.url}/#/anchors")
    page.get_by_test_id("anchors-table").wait_for(timeout=20_000)
    badges = page.locator('[data-testid="anchors-table"] [data-check="unchecked"]')
    assert {*badges.all_inner_texts()} == {"not applicable (intl)"} or {*badges.all_inner_texts()} == {"不适用（intl）"}
    shot(page, "officer-anchors")
    assert not page.errors, page.errors
    page.close()


def tamper_proof(bundle: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(bundle))
    first = bytearray(base64.b64decode(changed["inclusion"]["proof"][0]))
    first[0] ^= 1
    changed["inclusion"]["proof"][0] = base64.b64encode(bytes(first)).decode()
    return changed


def tamper_cosignatures(bundle: dict[str, Any]) -> dict[str, Any]:
    """Keep the log's signature and one cosignature: below the 4-of-7 policy."""
    changed: dict[str, Any] = json.loads(json.dumps(bundle))
    body, _, signatures = changed["checkpoint"]["note"].partition("\n\n")
    lines = signatures.splitlines()
    changed["checkpoint"]["note"] = body + "\n\n" + "\n".join(lines[:2]) + "\n"
    return changed


@pytest.mark.parametrize(
    ("name", "tamper", "failing"),
    [("proof", tamper_proof, "inclusion"), ("cosignatures", tamper_cosignatures, "cosignatures")],
)
def test_a_tampered_bundle_fails_on_the_right_step(
    browser: Any, live: Live, tmp_path: Path, name: str, tamper: Any, failing: str
) -> None:
    who = "compliance@yanshan-sec"
    call = anchored_call(live, who)
    bundle = live.get(who, f"/api/v1/calls/{call['event_id']}/evidence").json()
    genuine = tmp_path / "genuine.json"
    genuine.write_text(json.dumps(bundle))
    tampered = tmp_path / f"tampered-{name}.json"
    tampered.write_text(json.dumps(tamper(bundle)))
    page = login(browser, live, who)
    for path, expected in ((genuine, dict.fromkeys(LOG_STEPS, "true")), (tampered, None)):
        page.goto(f"{live.url}/#/verify")
        page.get_by_test_id("verify-file").set_input_files(str(path))
        run = page.get_by_test_id("verify-run")
        if run.count():
            run.click()
        page.wait_for_selector(f'[data-testid="browser-step-{failing}"][data-ok]:not([data-ok=""])', timeout=20_000)
        states = step_states(page, "browser-step", LOG_STEPS)
        if expected is not None:
            assert states == expected
            # the log keys on chain judged at the anchor's block (the founders' key is in the TrustDirectory since
            # init), and the checkpoint step names the key that signed, valid at that block
            block = bundle["anchor"]["block"]["number"]
            log_keys = page.get_by_test_id("verify-log-keys")
            assert log_keys.get_attribute("data-block") == str(block)
            assert log_keys.locator('li[data-valid="true"]').count() == 1
            detail = page.get_by_test_id("step-checkpoint").inner_text()
            assert f"valid on chain at its anchor's block {block}" in detail, detail
        else:
            assert states[failing] == "false", states
            assert states["entry"] == "true" and states["checkpoint"] == "true", states
    shot(page, f"tampered-{name}")
    page.close()


def test_the_regulator_sees_another_firms_call_the_officer_cannot(browser: Any, live: Live) -> None:
    officer_org = "shuzhi-tech"
    rows = live.get(f"inspector@{REGULATOR}", "/api/v1/calls", limit=200, decision="allow").json()["calls"]
    call = next(
        r for r in rows if officer_org not in (r["caller_org"], r["provider_org"]) and r["center"] != "explorer"
    )
    regulator = login(browser, live, f"inspector@{REGULATOR}")
    regulator.goto(f"{live.url}/#/calls/{call['event_id']}")
    regulator.get_by_test_id("step-call").wait_for(timeout=20_000)
    assert regulator.get_by_test_id("step-call").get_attribute("data-ok") == "true"
    shot(regulator, "regulator-sees-call")
    regulator.close()
    officer = login(browser, live, f"compliance@{officer_org}")
    officer.goto(f"{live.url}/#/calls/{call['event_id']}")
    officer.get_by_test_id("error").wait_for(timeout=20_000)
    assert officer.get_by_test_id("step-call").count() == 0
    shot(officer, "officer-cannot-see-call")
    officer.goto(f"{live.url}/#/calls")
    officer.get_by_test_id("calls-table").wait_for(timeout=20_000)
    ids = officer.locator('[data-testid="calls-table"] [data-event-id]').evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-event-id'))"
    )
    assert call["event_id"] not in ids
    officer.close()


def test_the_query_audit_shows_whose_data_the_regulators_query_read(browser: Any, live: Live) -> None:
    """The regulator reads one call; its query's record, once in the log, is listed on the Query audit page with
    the call's two firms as its subject. The caller's compliance officer does not find it there (the demo's
    ``audit`` policy is off). The calls search marks the call with a link to that query. The Alarms page lists
    the audit log's alarm records below the live alarms, which it marks live."""
    regulator = f"inspector@{REGULATOR}"
    rows = live.get(regulator, "/api/v1/calls", limit=200, decision="allow").json()["calls"]
    call = next(r for r in rows if r["center"] != "explorer" and r["caller_org"] != r["provider_org"])
    read = live.get(regulator, f"/api/v1/calls/{call['event_id']}")
    assert read.status_code == 200
    query_id = read.headers["consortium-event-id"]
    subject = sorted({call["caller_org"], call["provider_org"]})

    def listed() -> dict[str, Any] | None:
        page = live.get(regulator, "/api/v1/queries", caller=REGULATOR, limit=200).json()["queries"]
        return next((q for q in page if q["event_id"] == query_id), None)

    row = wait_until(listed, 90, "the regulator's query in the query audit")
    assert row["subject"] == subject and row["api"] == "calls.get"
    officer = f"compliance@{call['caller_org']}"
    theirs = live.get(officer, "/api/v1/queries", limit=200).json()["queries"]
    assert query_id not in {q["event_id"] for q in theirs}
    assert {q["caller_org"] for q in theirs} <= {call["caller_org"]}

    page = login(browser, live, regulator)
    page.goto(f"{live.url}/#/queries?caller={REGULATOR}")
    cell = page.locator(f'[data-testid="queries-table"] [data-event-id="{query_id}"] [data-testid="query-subject"]')
    cell.wait_for(timeout=20_000)
    assert cell.locator(".chip").all_inner_texts() == subject
    shot(page, "regulator-query-audit")
    # the calls search marks the call with the regulator's query of it, linking to the query's record
    page.goto(f"{live.url}/#/calls?trace={call['trace_id']}")
    marks = page.locator(
        f'[data-testid="calls-table"] [data-event-id="{call["event_id"]}"] [data-testid="regulator-query-link"]'
    )
    marks.first.wait_for(timeout=20_000)
    assert f"#/calls/{query_id}" in marks.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    page.goto(f"{live.url}/#/alarms")
    page.get_by_test_id("alarm-records-table").wait_for(timeout=20_000)
    # the live alarms come from up's endpoint, evaluated moments ago: marked live
    page.locator('[data-testid="alarms-evaluated"][data-status="live"]').wait_for(timeout=20_000)
    assert page.get_by_test_id("alarms-status").is_visible()
    shot(page, "alarm-records")
    assert not page.errors, page.errors
    page.close()


def asset_row_terms(row: Any) -> tuple[str, str, str]:
    """Grantee, purpose and quota (its digits) of a row of an asset's grants: columns grant, grantor, grantee,
    purpose, not before, expires, quota, state (``grantColumns`` without the asset)."""
    cells = row.locator("td").all_inner_texts()
    return cells[2].strip(), cells[3].strip(), "".join(c for c in cells[6] if c.isdigit())


def test_a_private_grants_grantee_opens_its_page_with_its_terms_document(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    """A private grant made here (``grant create --private``, as the tenancy suite makes one) has no call under
    it, so its page answers the grantee's officer "not found"; the officer opens the terms document, the page
    shows the grant with the officer's firm as grantee and checks the document against key and commitment. In the
    same tab the asset's page shows the grant under its asset with its terms; another firm's officer who opens
    the same document sees nothing of the grant there."""
    from urllib.parse import urlsplit

    from network.grantterms import TermsStore
    from tests.integration.live.test_tenancy import make_private_grant

    regulator = f"inspector@{REGULATOR}"
    officers = {t.split("@")[1] for t in live.tokens if t.startswith("compliance@")}
    rows = live.get(regulator, "/api/v1/calls", limit=200, decision="allow").json()["calls"]
    call = next(
        r
        for r in rows
        if r["center"] != "explorer" and r["grant_id"] and r["caller_org"] != r["provider_org"]
        and {r["caller_org"], r["provider_org"]} <= officers
    )  # fmt: skip
    grantor, grantee = call["provider_org"], call["caller_org"]
    chain = f"http://127.0.0.1:{urlsplit(live.notary).port - 1}"  # type: ignore[operator]
    grant_id, terms, _ = make_private_grant(live, chain, call["asset_id"], grantor, grantee)
    wait_until(lambda: live.get(regulator, f"/api/v1/grants/{grant_id}").status_code == 200, 60, "the grant")

    def listed() -> bool:  # the list reads the explorer's contracts snapshot, the grant's page the chain too
        return grant_id in [g["grant_id"] for g in live.get(regulator, "/api/v1/grants").json()["grants"]]

    wait_until(listed, 60, "the grant in the explorer's list")
    (record,) = [r for r in TermsStore(live.directory, grantor).records() if r.terms.purpose == terms["purpose"]]
    document = tmp_path / "terms.json"
    document.write_text(json.dumps(record.to_json()))

    page = login(browser, live, f"compliance@{grantee}")
    page.goto(f"{live.url}/#/grants/{grant_id}")
    page.get_by_test_id("grant-not-found").wait_for(timeout=20_000)
    page.get_by_test_id("open-file").set_input_files(str(document))
    page.get_by_test_id("terms-facts").wait_for(timeout=20_000)
    shown = page.get_by_test_id("grant-grantee").inner_text()
    assert grantee in shown and "条款文件打开了此授权的键" in shown, shown  # not "from the log": no call yet
    assert page.get_by_test_id("terms-check").get_attribute("data-ok") == "true"
    shot(page, "private-grant-opened")
    # the tab holds the document: its grants list sends the opening and shows the grant with its terms
    page.evaluate("hash => { location.hash = hash; }", f"#/grants?grantee={grantee}")  # the same document
    row = page.locator(f'[data-testid="grants-table"] tr[data-grant-id="{grant_id}"]')
    row.wait_for(timeout=20_000)
    assert terms["purpose"] in row.inner_text() and grantee in row.inner_text()
    # and its asset's page: the detail is asked with the held opening, the grant is under the asset with the
    # grantee, and its terms, checked in this browser against key and commitment, are in its row
    page.evaluate("hash => { location.hash = hash; }", f"#/assets/{call['asset_id']}")
    row = page.locator(f'[data-testid="asset-grants"] tr[data-grant-id="{grant_id}"]')
    row.wait_for(timeout=20_000)
    assert asset_row_terms(row) == (grantee, terms["purpose"], str(terms["quota"])), row.inner_text()
    shot(page, "private-grant-under-its-asset")
    assert not page.errors, page.errors
    page.close()

    # another firm's officer opens the same document in its tab: the asset's page shows it nothing of the grant
    other = sorted(officers - {grantor, grantee})[0]
    page = login(browser, live, f"compliance@{other}")
    page.goto(f"{live.url}/#/grants")
    page.get_by_test_id("grants-table").wait_for(timeout=20_000)
    page.get_by_test_id("open-files").set_input_files([str(document)])
    page.get_by_test_id("open-files-status").filter(has_text="1").wait_for(timeout=20_000)
    page.evaluate("hash => { location.hash = hash; }", f"#/assets/{call['asset_id']}")
    # a private asset's detail is not found for it, a public one's shows the grants it may see
    page.locator('[data-testid="asset-grants"], [data-testid="error"]').first.wait_for(timeout=20_000)
    assert page.locator(f'tr[data-grant-id="{grant_id}"]').count() == 0
    assert terms["purpose"] not in page.content() and str(terms["quota"]) not in page.content()
    shot(page, "private-grant-not-under-its-asset-for-another-firm")
    page.close()

    # another browser context (as another browser: no tab shares with it) holds nothing: the list shows the grant
    # once the officer opens the document there
    page = login(browser, live, f"compliance@{grantee}")
    page.goto(f"{live.url}/#/grants")
    page.get_by_test_id("grants-table").wait_for(timeout=20_000)
    assert page.locator(f'tr[data-grant-id="{grant_id}"]').count() == 0
    page.get_by_test_id("open-files").set_input_files([str(document)])
    page.locator(f'[data-testid="grants-table"] tr[data-grant-id="{grant_id}"]').wait_for(timeout=20_000)
    assert "1" in page.get_by_test_id("open-files-status").inner_text()
    shot(page, "private-grants-listed")
    assert not page.errors, page.errors
    page.close()
