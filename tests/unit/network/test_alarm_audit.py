"""The record of an alarm in the audit log (``network.alarms.audit``): its event in the one schema, who reads it,
and a recorder that never holds up the alarm loop (notary unreachable, outbox bounded). Shipping to a real
notary that goes down and comes back is ``tests/integration/network/test_alarms.py``'s."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from explorer import access
from network.alarms.audit import ROUTE_PREFIX, AlarmRecorder, alarm_event, document_hash
from network.alarms.book import Alarm, AlarmBook, Transition
from network.alarms.evaluator import AUDIT_EVENT_KEY, TRANSITIONS_FILE, Evaluator
from network.alarms.probe import Prober, Targets
from network.alarms.store import ALARMS_DIR
from network.alarms.webhook import alarm_document
from network.logins import Person
from notary.event import (
    ALARM_CENTER,
    Event,
    EventSchemaError,
    canonical_entry,
    is_alarm_record,
    is_ledger_query,
    parse_entry,
    parties,
    validate_event,
)
from notary.readauth import Reader
from notary.submit.digest import request_digest
from notary.submit.vault import SaltVault
from tests.support.refused import refuse_every_connection
from tests.support.wait import wait_until

OPERATOR = "shuzhi-tech"
FIRM = "jinghua-sec"
AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def transition(kind: str = "fired", *, org: str | None = FIRM, subject: str | None = None) -> Transition:
    rule = "gateway-outbox" if org else "witness-quorum"
    subject = subject or (f"gateway/{org}" if org else "witnesses")
    alarm = Alarm(f"{rule}:{subject}", rule, "critical", subject, org, "outbox 900 of 1000 pending (90%)", AT - 4)
    return Transition(kind, alarm, AT)  # type: ignore[arg-type]


@pytest.fixture
def vault(tmp_path: Path) -> SaltVault:
    return SaltVault.open(tmp_path / "vault", OPERATOR, b"passphrase", clock=lambda: AT)


def recorded(t: Transition, vault: SaltVault, **ids: Any) -> dict[str, Any]:
    document = alarm_document("test-consortium", t)
    return {**alarm_event(t, document, OPERATOR, vault, **ids), "gateway_seq": 1}


def test_the_record_of_a_gateway_alarm_is_a_valid_event_of_its_firm_and_the_operator(vault: SaltVault) -> None:
    event = validate_event(recorded(transition(), vault))
    assert is_alarm_record(event) and not is_ledger_query(event)
    assert event["center"] == ALARM_CENTER and event["gateway_id"] == f"{OPERATOR}/alarms"
    assert (event["unit"], event["api"], event["route"]) == (
        "gateway-outbox", "fired.critical", f"/alarm/v1/gateway-outbox:gateway/{FIRM}",
    )  # fmt: skip
    assert (event["caller_org"], event["provider_org"]) == (FIRM, OPERATOR)
    assert event["caller_identity"] == hashlib.sha256(f"gateway/{FIRM}".encode()).hexdigest()
    assert event["time_ms"] == int(AT * 1000) and event["grant_id"] is None and event["decision"] == "allow"
    assert parties(event) == (FIRM, OPERATOR)
    assert Event.from_entry(canonical_entry(event)).to_entry() == canonical_entry(event)  # the index's encoder too
    assert parse_entry(canonical_entry(event)) == event


def test_a_consortium_wide_alarm_is_the_operators_alone(vault: SaltVault) -> None:
    event = validate_event(recorded(transition("resolved", org=None), vault))
    assert event["api"] == "resolved.critical" and event["route"] == ROUTE_PREFIX + "witness-quorum:witnesses"
    assert (event["caller_org"], event["provider_org"]) == (OPERATOR, OPERATOR)
    assert set(parties(event)) == {OPERATOR}


def test_the_request_digest_proves_the_kept_document_and_nothing_else(vault: SaltVault) -> None:
    """Revealing the event's salt lets an auditor check the document kept in transitions.jsonl (with its
    summary, which the log does not hold) against the record."""
    t = transition()
    document = alarm_document("test-consortium", t)
    event = alarm_event(t, document, OPERATOR, vault, event_id="alarm-1")
    salt = vault.reveal("alarm-1", event["time_ms"])
    assert event["request_digest"] == request_digest(salt, "POST", event["route"], document_hash(document))
    changed = {**document, "alarm": {**document["alarm"], "summary": "something else"}}
    assert event["request_digest"] != request_digest(salt, "POST", event["route"], document_hash(changed))
    assert "outbox 900" not in json.dumps(event)


def test_an_sm_consortiums_alarm_record_is_of_version_3_with_hmac_sm3_over_the_documents_sm3(tmp_path: Path) -> None:
    """Under the ``sm`` suite the record is salted and digested as an ``sm`` gateway's events are (schema version
    3: HKDF-SM3 salt, HMAC-SM3 over the SM3 of the document), recomputed here with GmSSL's HMAC-SM3 and an SM3
    written from GB/T 32905."""
    from gmssl_pyx import sm3_hmac

    from tests.support.sm3_reference import sm3

    vault = SaltVault.open(tmp_path / "vault", OPERATOR, b"passphrase", clock=lambda: AT, suite="sm")
    t = transition()
    document = alarm_document("test-consortium", t)
    event = validate_event({**alarm_event(t, document, OPERATOR, vault, event_id="alarm-sm"), "gateway_seq": 1})
    assert event["v"] == 3
    assert event["caller_identity"] == sm3(f"gateway/{FIRM}".encode()).hex()  # of the subject, as under intl
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert document_hash(document, "sm3") == sm3(canonical).hex()
    salt = vault.reveal("alarm-sm", event["time_ms"])
    message = f"POST\n{event['route']}\n{sm3(canonical).hex()}".encode()
    assert event["request_digest"] == sm3_hmac(salt, message).hex()


def person(org: str, role: str = "compliance") -> Person:
    return Person(org=org, name="p", role=role, identity="ab" * 32, display_name=f"p ({org})", expires_ms=0)


@pytest.mark.parametrize(
    ("org", "role", "seen"),
    [
        (FIRM, "compliance", True),  # the firm whose gateway it is
        (OPERATOR, "compliance", True),  # the operator, which raised it
        ("huaxia-data", "compliance", False),  # any other member
        ("csrc", "regulator", True),
    ],
    ids=["subject-firm", "operator", "other-member", "regulator"],
)
def test_who_reads_the_record_of_a_gateway_alarm(vault: SaltVault, org: str, role: str, seen: bool) -> None:
    event = validate_event(recorded(transition(), vault))
    assert access.sees_call(person(org, role), event) is seen  # the explorer
    reader = Reader(f"p@{org}", org, regulator=role == "regulator")
    assert reader.may_read_event(parties(event)) is seen  # the notary


@pytest.mark.parametrize("org", [FIRM, "huaxia-data"], ids=["a-firm", "another-firm"])
def test_another_firm_does_not_read_the_record_of_a_consortium_wide_alarm(vault: SaltVault, org: str) -> None:
    event = validate_event(recorded(transition(org=None), vault))
    assert not access.sees_call(person(org), event)
    assert access.sees_call(person(OPERATOR), event) and access.sees_call(person("csrc", "regulator"), event)


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"gateway_id": f"{OPERATOR}/gw"}, "grant_id"),  # center alarms from another gateway: a call, needs a grant
        ({"center": "market"}, "grant_id"),  # the alarms gateway recording anything else: needs a grant too
    ],
    ids=["alarms-center-from-another-gateway", "another-center-from-the-alarms-gateway"],
)
def test_an_event_that_is_not_an_alarm_record_still_names_its_grant(
    vault: SaltVault, changes: dict[str, Any], loc: str
) -> None:
    event = {**recorded(transition(), vault), **changes}
    with pytest.raises(EventSchemaError) as caught:
        validate_event(event)
    assert caught.value.errors == [{"loc": [loc], "msg": "an allowed call must name its grant"}]


#: The notary's URL in the tests where it is down (``refuse_every_connection``: no socket is opened).
NOTARY_DOWN = "http://127.0.0.1:9"


def test_with_the_notary_down_records_wait_in_the_outbox_up_to_its_bound_and_the_excess_is_counted(
    tmp_path: Path, vault: SaltVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried = refuse_every_connection(monkeypatch)
    recorder = AlarmRecorder(
        tmp_path / "audit.outbox.db", OPERATOR, NOTARY_DOWN, Ed25519PrivateKey.generate(), vault, max_pending=2
    )
    recorder.start()
    try:
        kinds = ("fired", "changed")
        ids = [recorder.record(transition(kind), alarm_document("c", transition(kind))) for kind in kinds]
        assert all(ids)
        wait_until(lambda: recorder.recorded == 2, "two records on disk", 10.0)
        third = recorder.record(transition("resolved"), alarm_document("c", transition("resolved")))
        assert third is not None  # queued; the outbox's writer refuses it: full
        wait_until(lambda: recorder.dropped == 1, "the third record refused and counted", 10.0)
        status = recorder.status()
        assert (status["recorded"], status["dropped"], status["pending"]) == (2, 1, 2)
        wait_until(lambda: recorder.status()["consecutive_failures"] >= 1, "the shipper to have tried", 10.0)
        assert {(url.host, url.port) for url in tried} == {("127.0.0.1", 9)}
    finally:
        recorder.close()
    reopened = AlarmRecorder(
        tmp_path / "audit.outbox.db", OPERATOR, NOTARY_DOWN, Ed25519PrivateKey.generate(), vault, max_pending=2
    )
    try:  # what waited is still there after a restart
        assert [parse_entry(e)["event_id"] for _, e in reopened.outbox.pending(10)] == ids
    finally:
        reopened.close()


def test_an_evaluator_with_a_recorder_and_the_notary_down_goes_on_and_notes_each_records_event(
    tmp_path: Path, vault: SaltVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_every_connection(monkeypatch)
    notary = NOTARY_DOWN
    recorder = AlarmRecorder(tmp_path / "audit.outbox.db", OPERATOR, notary, Ed25519PrivateKey.generate(), vault)
    clock = iter(float(t) for t in range(100))
    evaluator = Evaluator(
        tmp_path, "c", Prober(Targets(notary=notary), timeout=0.5), AlarmBook(fire_after=0.0, resolve_after=0.0),
        recorder=recorder, clock=lambda: next(clock),
    )  # fmt: skip
    recorder.start()
    try:
        fired = evaluator.step()
        assert [(t.kind, t.alarm.id) for t in fired] == [("fired", "notary-down:notary")]
        assert evaluator.step() == []  # the next round runs as before
        lines = (tmp_path / ALARMS_DIR / TRANSITIONS_FILE).read_text().splitlines()
        assert len(lines) == 1
        event_id = json.loads(lines[0])[AUDIT_EVENT_KEY]
        wait_until(lambda: recorder.recorded == 1, "the record on disk", 10.0)
        ((_, entry),) = recorder.outbox.pending(10)
        event = parse_entry(entry)
        assert (event["event_id"], event["api"], event["caller_org"]) == (event_id, "fired.critical", OPERATOR)
    finally:
        evaluator.prober.close()
        recorder.close()
