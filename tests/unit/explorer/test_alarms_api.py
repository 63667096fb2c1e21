"""``GET /api/v1/alarms`` in process (FastAPI's test client, no socket), over an alarms file as the evaluator of
``consortium up`` writes it and over its endpoint's protocol (``network.alarms.server.answer``, through an
in-process transport): the regulator sees every alarm; a firm's people every alarm but those about another
firm's gateway (docs/confidentiality.md); no evaluation is said as such, an unreachable source too, with null
lists rather than empty ones; old alarms are stale; the login is asked for."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
from fastapi.testclient import TestClient

from explorer.alarmsource import STALE_AFTER_S, AlarmSource, EndpointAlarms, FileAlarms
from explorer.api import Explorer, Limits, create_app
from network.alarms.book import Alarm
from network.alarms.server import answer
from network.alarms.store import AlarmState, state_of, write_alarms
from network.logins import LoginError, Person

PEOPLE = {
    "inspector": Person(org="reg", name="i", role="regulator", identity="ab" * 32, display_name="i", expires_ms=0),
    "alpha": Person(org="alpha", name="c", role="compliance", identity="cd" * 32, display_name="c", expires_ms=0),
    "beta": Person(org="beta", name="o", role="operator", identity="ef" * 32, display_name="o", expires_ms=0),
}
QUORUM = Alarm("witness-quorum:witnesses", "witness-quorum", "critical", "witnesses", None, "1 of 3 up", 10.0)
WITNESS = Alarm("witness-down:witness/beta", "witness-down", "warning", "witness/beta", "beta", "down", 9.0)
OUTBOX = Alarm("gateway-outbox:gateway/alpha", "gateway-outbox", "warning", "gateway/alpha", "alpha", "80%", 8.0)
GONE = Alarm("gateway-down:gateway/alpha", "gateway-down", "warning", "gateway/alpha", "alpha", "down", 1.0, 2.0)


class StandInLogins:
    """The token is the person's key in ``PEOPLE``."""

    def authenticate(self, authorization: str | None) -> Person:
        token = (authorization or "").removeprefix("Bearer ")
        if token not in PEOPLE:
            raise LoginError("no_credentials", "no credentials")
        return PEOPLE[token]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client(directory: Path, alarms: AlarmSource | None = None) -> TestClient:
    source = alarms if alarms is not None else FileAlarms(directory, clock=Clock(11.5))
    stand_in = SimpleNamespace(auth=StandInLogins(), recorder=None, limits=Limits(), directory=directory, alarms=source)
    return TestClient(create_app(cast(Explorer, stand_in)))


def endpoint(state: list[AlarmState | None], clock: Clock) -> EndpointAlarms:
    """The endpoint's protocol in process, serving ``state[0]``; None: it refuses connections."""

    def handle(request: httpx.Request) -> httpx.Response:
        current = state[0]
        if current is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        status, body = answer(lambda: current, "tok", "GET", request.url.path, request.headers.get("Authorization"))
        return httpx.Response(status, json=body)

    return EndpointAlarms("http://127.0.0.1:8548/v1/alarms", "tok", clock=clock, transport=httpx.MockTransport(handle))


def get(client: TestClient, who: str) -> dict[str, Any]:
    answer = client.get("/api/v1/alarms", headers={"Authorization": f"Bearer {who}"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ids(client: TestClient, who: str) -> tuple[list[str], list[str]]:
    body = get(client, who)
    return [a["id"] for a in body["active"]], [a["id"] for a in body["resolved"]]


def test_the_regulator_sees_every_alarm_a_firm_all_but_another_firms_gateways(tmp_path: Path) -> None:
    write_alarms(tmp_path, 11.0, [QUORUM, WITNESS, OUTBOX], [GONE])
    with client(tmp_path) as c:
        assert ids(c, "inspector") == ([QUORUM.id, WITNESS.id, OUTBOX.id], [GONE.id])
        assert ids(c, "alpha") == ([QUORUM.id, WITNESS.id, OUTBOX.id], [GONE.id])  # its own gateway
        assert ids(c, "beta") == ([QUORUM.id, WITNESS.id], [])  # not alpha's gateway
        body = get(c, "inspector")
        assert body["evaluated_ms"] == 11000 and body["active"][0] == QUORUM.to_json()
        assert (body["status"], body["source"], body["age_ms"], body["error"]) == ("live", "file", 500, None)


def test_no_evaluation_yet_is_said_so_and_a_login_is_needed(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        body = get(c, "alpha")
        assert body == {
            "status": "never",
            "source": "file",
            "evaluated_ms": None,
            "age_ms": None,
            "stale_after_ms": int(STALE_AFTER_S * 1000),
            "error": None,
            "active": None,
            "resolved": None,
        }
        assert c.get("/api/v1/alarms").status_code == 401


def test_from_the_endpoint_filtered_per_person_then_stale_then_unreachable(tmp_path: Path) -> None:
    clock = Clock(12.0)
    state: list[AlarmState | None] = [state_of(11.0, [QUORUM, WITNESS, OUTBOX], [GONE])]
    with client(tmp_path, endpoint(state, clock)) as c:
        assert ids(c, "inspector") == ([QUORUM.id, WITNESS.id, OUTBOX.id], [GONE.id])
        assert ids(c, "beta") == ([QUORUM.id, WITNESS.id], [])
        body = get(c, "beta")
        assert (body["status"], body["source"], body["evaluated_ms"], body["age_ms"]) == (
            "live",
            "endpoint",
            11000,
            1000,
        )

        clock.now = 11.0 + STALE_AFTER_S + 5  # the evaluator's rounds stopped: the same alarms, stale
        body = get(c, "beta")
        assert body["status"] == "stale" and [a["id"] for a in body["active"]] == [QUORUM.id, WITNESS.id]

        state[0] = None  # `up` is gone: unreachable, with its last answer, still filtered
        body = get(c, "beta")
        assert body["status"] == "unreachable" and body["error"].startswith("alarm source unreachable")
        assert [a["id"] for a in body["active"]] == [QUORUM.id, WITNESS.id] and body["evaluated_ms"] == 11000


def test_an_endpoint_never_reached_gives_no_list(tmp_path: Path) -> None:
    with client(tmp_path, endpoint([None], Clock(1.0))) as c:
        body = get(c, "inspector")
        assert body["status"] == "unreachable" and body["active"] is None and body["resolved"] is None
        assert "ConnectError" in body["error"]
