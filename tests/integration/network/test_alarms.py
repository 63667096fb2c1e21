"""Alarms with real processes: three witness processes (``python -m notary.witness``), the notary on loopback
(policy: 2 of 3 witnesses, the regulator's ``reg`` among them), the evaluator as ``consortium up`` runs it and a
local HTTP receiver as the webhook. Stopping two witnesses fires the quorum alarm, at the webhook and at the
explorer's ``GET /api/v1/alarms`` (the explorer's app served on loopback, reading the evaluator's alarm endpoint
over HTTP with its token as under ``consortium up``, asked as a person of the regulator and of a firm); starting
them again resolves it; the endpoint closed, the explorer says the alarm source is unreachable. Every wait polls a
condition with a deadline; the hold-down is set to zero so that no step waits on the clock (the book's tests cover
the hold-down)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from explorer.alarmsource import AlarmSource, EndpointAlarms
from explorer.api import Explorer, Limits
from explorer.api import create_app as create_explorer_app
from network.alarms.audit import AlarmRecorder
from network.alarms.book import AlarmBook
from network.alarms.evaluator import AUDIT_EVENT_KEY, TRANSITIONS_FILE, Evaluator
from network.alarms.probe import Prober, Targets
from network.alarms.rules import WitnessPolicyView
from network.alarms.server import AlarmServer, api_token
from network.alarms.store import ALARMS_DIR, read_alarms
from network.alarms.webhook import FORMAT, WebhookSender
from network.logins import LoginError, Person
from notary.api.app import create_app
from notary.event import EventJSON, parse_entry
from notary.log.note import format_vkey
from notary.logsuite import public_bytes
from notary.service import NotaryService
from notary.submit.vault import SaltVault
from tests.support.apiserver import ApiServer
from tests.support.notary_world import ORIGIN, WITNESS_ORGS, LogWorld
from tests.support.servers import LocalHTTPServer, QuietHandler
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 20.0
#: Seconds a probe, and the explorer's read of the alarm endpoint, may take before the evaluator counts the component
#: down (the explorer: the source unreachable). A component the test stops refuses connections at once, so this
#: bound only decides how slow a running one may be: seconds on a loaded machine, where the default 2 s (and 1 s)
#: fired a witness-down or notary-down alarm at the first evaluation that nothing in the test had caused. Below
#: the explorer's stale threshold, so that a round slowed by it still reads as live.
PROBE_TIMEOUT = 10.0


class Receiver:
    """The webhook's other end: keeps every JSON document POSTed to it; the first ``fail`` POSTs get a 503."""

    def __init__(self, fail: int = 0) -> None:
        self.documents: list[dict[str, Any]] = []
        self.fail = fail
        self.lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    refuse = receiver.fail > 0
                    if refuse:
                        receiver.fail -= 1
                    else:
                        receiver.documents.append(json.loads(body))
                self.send_response(503 if refuse else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.http = LocalHTTPServer(Handler)

    @property
    def url(self) -> str:
        return f"{self.http.url}/alarms"

    def seen(self, transition: str, alarm_id: str, severity: str | None = None) -> dict[str, Any] | None:
        """The first document of ``transition`` (``fired`` also matches a later ``changed``) of ``alarm_id``."""
        kinds = ("fired", "changed") if transition == "fired" else (transition,)
        with self.lock:
            for d in self.documents:
                alarm = d["alarm"]
                if d["transition"] in kinds and alarm["id"] == alarm_id and severity in (None, alarm["severity"]):
                    return d
        return None

    def close(self) -> None:
        self.http.close()


PEOPLE = {
    org: Person(org=org, name="p", role=role, identity="ab" * 32, display_name=org, expires_ms=0)
    for org, role in (("reg", "regulator"), ("alpha", "compliance"))
}


class StandInLogins:
    """The token is the org of the person asking: the regulator ``reg`` or the firm ``alpha``."""

    def authenticate(self, authorization: str | None) -> Person:
        token = (authorization or "").removeprefix("Bearer ")
        if token not in PEOPLE:
            raise LoginError("no_credentials", "no credentials")
        return PEOPLE[token]


class ExplorerAlarms:
    """The explorer's alarms endpoint reading ``source``, served on loopback."""

    def __init__(self, directory: Path, source: AlarmSource) -> None:
        stand_in = SimpleNamespace(
            auth=StandInLogins(), recorder=None, limits=Limits(), directory=directory, alarms=source
        )
        self.server = ApiServer(create_explorer_app(cast(Explorer, stand_in)))

    def get(self, who: str = "reg") -> dict[str, Any]:
        answer = httpx.get(
            f"{self.server.url}/api/v1/alarms", headers={"Authorization": f"Bearer {who}"}, timeout=TIMEOUT
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def active(self, who: str = "reg") -> dict[str, str]:
        """The active alarms ``who`` is shown: id → severity."""
        return {a["id"]: a["severity"] for a in self.get(who)["active"]}

    def close(self) -> None:
        self.server.stop()


class WitnessProcesses:
    """The world's witnesses as processes on the ports its in-process servers had."""

    def __init__(self, world: LogWorld, directory: Path) -> None:
        self.world, self.directory = world, directory
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.key_files: dict[str, Path] = {}
        for org in WITNESS_ORGS:
            key = world.witness_keys[org]
            assert isinstance(key, Ed25519PrivateKey)  # the world's intl suite
            path = directory / f"{org}.key.pem"
            path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
            self.key_files[org] = path

    def start(self, org: str) -> None:
        vkey = format_vkey(ORIGIN, public_bytes(self.world.log_key))
        args = [sys.executable, "-m", "notary.witness", "--state", str(self.world.state_path(org))]
        args += ["--key-file", str(self.key_files[org]), "--name", f"test-consortium/witness/{org}"]
        args += ["--log", f"{ORIGIN}={vkey}", "--host", "127.0.0.1", "--port", str(self.world.ports[org])]
        log = (self.directory / f"{org}.log").open("ab")
        self.processes[org] = subprocess.Popen(
            args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()

    def url(self, org: str) -> str:
        return f"http://127.0.0.1:{self.world.ports[org]}"

    def serving(self, org: str) -> bool:
        process = self.processes[org]
        if process.poll() is not None:
            raise AssertionError(f"witness {org} exited: {(self.directory / f'{org}.log').read_text()[-2000:]}")
        try:
            return httpx.get(self.url(org) + "/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, org: str) -> None:
        process = self.processes.pop(org)
        process.send_signal(signal.SIGTERM)
        process.wait(TIMEOUT)

    def close(self) -> None:
        for org in list(self.processes):
            process = self.processes.pop(org)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(TIMEOUT)


class ServedNotary:
    """The world's notary, its API served on one loopback port that :meth:`stop` closes and :meth:`start` opens
    again (the service itself runs on: only its API is gone, as far as any client can tell)."""

    def __init__(self, service: NotaryService) -> None:
        self.service = service
        self.server: ApiServer | None = ApiServer(create_app(service))
        self.port = self.server.port
        self.url = self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def start(self) -> None:
        if self.server is None:
            self.server = ApiServer(create_app(self.service), port=self.port)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[LogWorld, WitnessProcesses, ServedNotary]]:
    world = LogWorld(tmp_path)
    world.close()  # its in-process witnesses give way to processes on the same ports and states
    witnesses = WitnessProcesses(world, tmp_path)
    notary: NotaryService | None = None
    served: ServedNotary | None = None
    try:
        for org in WITNESS_ORGS:
            witnesses.start(org)
        for org in WITNESS_ORGS:
            wait_until(lambda o=org: witnesses.serving(o), f"witness {org} to serve", TIMEOUT)  # type: ignore[misc]
        notary = world.notary()
        notary.start()
        served = ServedNotary(notary)
        yield world, witnesses, served
    finally:
        if served is not None:
            served.stop()
        if notary is not None:
            notary.stop()
        witnesses.close()


def test_two_witnesses_stopped_fire_the_quorum_alarm_at_the_webhook_and_their_return_resolves_it(
    tmp_path: Path, world: tuple[LogWorld, WitnessProcesses, ServedNotary]
) -> None:
    _, witnesses, served = world
    notary_url = served.url
    receiver = Receiver(fail=1)  # the first delivery fails: the sender retries
    targets = Targets(
        witnesses={org: witnesses.url(org) for org in WITNESS_ORGS},
        policy=WitnessPolicyView(2, require_regulator=True, regulators=frozenset({"reg"})),
        notary=notary_url,
    )
    webhook = WebhookSender(receiver.url, backoff_initial=0.05, backoff_max=0.2)
    evaluator = Evaluator(
        tmp_path, "test-consortium", Prober(targets, timeout=PROBE_TIMEOUT),
        AlarmBook(fire_after=0.0, resolve_after=0.0), webhook, interval=0.1,
    )  # fmt: skip
    token = api_token(tmp_path, create=True)
    assert token is not None
    endpoint = AlarmServer(token)  # as `up` runs it: its port first, "never evaluated" until the evaluator is attached
    endpoint.start()
    source = EndpointAlarms(endpoint.url, token, timeout=PROBE_TIMEOUT)
    explorer = ExplorerAlarms(tmp_path, source)
    quorum = "witness-quorum:witnesses"
    try:
        assert explorer.get()["status"] == "never" and explorer.get()["active"] is None
        assert httpx.get(endpoint.url, timeout=TIMEOUT).status_code == 401  # no token
        assert httpx.get(endpoint.url, headers={"Authorization": "Bearer reg"}, timeout=TIMEOUT).status_code == 401
        endpoint.attach(evaluator.state)
        evaluator.start()
        wait_until(lambda: evaluator.steps >= 1, "a first evaluation", TIMEOUT)
        first_look = explorer.get()
        assert first_look["evaluated_ms"] is not None and first_look["active"] == []  # 3 up = the 2 needed plus one
        assert (first_look["status"], first_look["source"]) == ("live", "endpoint")

        witnesses.stop("alpha")
        witnesses.stop("beta")
        # alpha's stop alone leaves the quorum at risk (a warning); beta's makes it critical: fired, or changed
        fired = wait_until(
            lambda: receiver.seen("fired", quorum, "critical"), "the critical quorum alarm at the webhook", TIMEOUT
        )
        assert fired["format"] == FORMAT and fired["consortium"] == "test-consortium"
        first = receiver.seen("fired", quorum)
        assert first is not None and first["transition"] == "fired"
        assert fired["alarm"]["summary"] == "checkpoints cannot be published: 1 of 3 witnesses up, the policy needs 2"
        assert receiver.seen("fired", "witness-down:witness/alpha") is not None
        # the explorer serves what the webhook received, to the regulator and to a firm alike (no gateway here)
        wait_until(
            lambda: explorer.active().get(quorum) == "critical", "the critical quorum alarm in the explorer", TIMEOUT
        )
        for who in ("reg", "alpha"):
            active = explorer.active(who)
            assert active[quorum] == "critical" and "witness-down:witness/beta" in active, who
        (served,) = [a for a in explorer.get()["active"] if a["id"] == quorum]
        assert served["summary"] == fired["alarm"]["summary"] and served["resolved_ms"] is None
        assert httpx.get(f"{explorer.server.url}/api/v1/alarms", timeout=TIMEOUT).status_code == 401  # no login

        witnesses.start("alpha")
        witnesses.start("beta")
        resolved = wait_until(lambda: receiver.seen("resolved", quorum), "the quorum alarm resolved", TIMEOUT)
        assert resolved["alarm"]["resolved_ms"] >= resolved["alarm"]["since_ms"]
        wait_until(lambda: not explorer.get()["active"], "no active alarm in the explorer", TIMEOUT)
        (gone,) = [a for a in explorer.get()["resolved"] if a["id"] == quorum]
        assert gone["resolved_ms"] is not None and gone["resolved_ms"] >= gone["since_ms"]
        assert webhook.status()["dropped"] == 0

        endpoint.close()  # `up` gone: the explorer says so, with the last alarms it was given, not an empty "all well"
        gone_away = explorer.get("alpha")
        assert gone_away["status"] == "unreachable" and "alarm source unreachable" in gone_away["error"]
        assert quorum in {a["id"] for a in gone_away["resolved"]}
    finally:
        explorer.close()
        endpoint.close()
        source.close()
        evaluator.stop()
        receiver.close()


def logged(notary_url: str, event_id: str) -> EventJSON | None:
    """The event ``event_id`` as the notary's log holds it, None while it does not."""
    response = httpx.get(f"{notary_url}/v1/entries/{event_id}", timeout=TIMEOUT)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    event = parse_entry(base64.b64decode(response.json()["entry"]))
    assert event["event_id"] == event_id
    return event


def test_every_alarm_is_recorded_in_the_log_those_raised_while_the_notary_is_down_once_it_is_back(
    tmp_path: Path, world: tuple[LogWorld, WitnessProcesses, ServedNotary]
) -> None:
    """The notary's API goes away: ``notary-down`` fires, and a witness stopped meanwhile fires its own alarm;
    the evaluator goes on evaluating while its records wait in the outbox. Once the notary and the witness are
    back, every transition of transitions.jsonl is an event of ``shuzhi-tech/alarms`` in the log, numbered
    without a gap, none dropped."""
    log_world, witnesses, served = world
    operator = "shuzhi-tech"  # the world's notary knows its gateway key
    vault = SaltVault.open(tmp_path / "alarms-vault", operator, b"passphrase")
    recorder = AlarmRecorder(
        tmp_path / "audit.outbox.db", operator, served.url, log_world.gateway_key, vault,
        backoff_initial_s=0.05, backoff_max_s=0.2,
    )  # fmt: skip
    targets = Targets(
        witnesses={org: witnesses.url(org) for org in WITNESS_ORGS},
        policy=WitnessPolicyView(2, require_regulator=True, regulators=frozenset({"reg"})),
        notary=served.url,
    )
    evaluator = Evaluator(
        tmp_path, "test-consortium", Prober(targets, timeout=PROBE_TIMEOUT),
        AlarmBook(fire_after=0.0, resolve_after=0.0), recorder=recorder, interval=0.1,
    )  # fmt: skip
    evaluator.start()
    down, alpha = "notary-down:notary", "witness-down:witness/alpha"
    try:
        wait_until(lambda: evaluator.steps >= 1, "a first evaluation", TIMEOUT)
        assert read_alarms(tmp_path).active == ()

        served.stop()
        wait_until(lambda: _line(tmp_path, "fired", down), "notary-down fired", TIMEOUT)
        witnesses.stop("alpha")
        wait_until(lambda: _line(tmp_path, "fired", alpha), "witness-down of alpha fired", TIMEOUT)
        steps = evaluator.steps
        wait_until(lambda: evaluator.steps >= steps + 3, "the evaluator going on", TIMEOUT)
        wait_until(lambda: recorder.status()["consecutive_failures"] >= 1, "the shipper failing", TIMEOUT)
        assert recorder.outbox.stats().pending >= 2  # held, not lost

        served.start()
        witnesses.start("alpha")
        wait_until(lambda: _line(tmp_path, "resolved", down), "notary-down resolved", TIMEOUT)
        wait_until(lambda: _line(tmp_path, "resolved", alpha), "witness-down of alpha resolved", TIMEOUT)
        lines = _lines(tmp_path)
        wait_until(lambda: recorder.recorded >= len(lines), "every transition on disk", TIMEOUT)
        assert recorder.shipper.drain(TIMEOUT), "the records shipped"
        events = [_logged_within(served.url, line[AUDIT_EVENT_KEY]) for line in lines]
    finally:
        evaluator.stop()
    assert recorder.dropped == 0
    assert [e["gateway_seq"] for e in events] == list(range(1, len(lines) + 1))
    for line, event in zip(lines, events, strict=True):
        alarm = line["alarm"]
        assert event["gateway_id"] == f"{operator}/alarms" and event["route"] == f"/alarm/v1/{alarm['id']}"
        assert event["api"] == f"{line['transition']}.{alarm['severity']}" and event["time_ms"] == line["time_ms"]
        assert event["caller_org"] == (alarm["org"] or operator)
    fired_down = _line(tmp_path, "fired", down)
    assert fired_down is not None
    assert [e["caller_org"] for e in events if e["route"].endswith(alpha)] == ["alpha", "alpha"]


def _logged_within(notary_url: str, event_id: str) -> EventJSON:
    found: EventJSON = wait_until(lambda: logged(notary_url, event_id), f"{event_id} in the log", TIMEOUT)
    return found


def _lines(directory: Path) -> list[dict[str, Any]]:
    path = directory / ALARMS_DIR / TRANSITIONS_FILE
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _line(directory: Path, transition: str, alarm_id: str) -> dict[str, Any] | None:
    return next((x for x in _lines(directory) if x["transition"] == transition and x["alarm"]["id"] == alarm_id), None)
