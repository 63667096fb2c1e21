"""``GET /api/v1/alarms`` in process (FastAPI's test client, no socket), over an alarms file as the evaluator of
``consortium up`` writes it: the regulator sees every alarm; a firm's people every alarm but those about another
firm's gateway (docs/confidentiality.md); no file is no alarm; the login is asked for."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

from fastapi.testclient import TestClient

from explorer.api import Explorer, Limits, create_app
from network.alarms.book import Alarm
from network.alarms.store import write_alarms
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


def client(directory: Path) -> TestClient:
    stand_in = SimpleNamespace(auth=StandInLogins(), recorder=None, limits=Limits(), directory=directory)
    return TestClient(create_app(cast(Explorer, stand_in)))


def ids(client: TestClient, who: str) -> tuple[list[str], list[str]]:
    answer = client.get("/api/v1/alarms", headers={"Authorization": f"Bearer {who}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [a["id"] for a in body["active"]], [a["id"] for a in body["resolved"]]


def test_the_regulator_sees_every_alarm_a_firm_all_but_another_firms_gateways(tmp_path: Path) -> None:
    write_alarms(tmp_path, 11.0, [QUORUM, WITNESS, OUTBOX], [GONE])
    with client(tmp_path) as c:
        assert ids(c, "inspector") == ([QUORUM.id, WITNESS.id, OUTBOX.id], [GONE.id])
        assert ids(c, "alpha") == ([QUORUM.id, WITNESS.id, OUTBOX.id], [GONE.id])  # its own gateway
        assert ids(c, "beta") == ([QUORUM.id, WITNESS.id], [])  # not alpha's gateway
        body = c.get("/api/v1/alarms", headers={"Authorization": "Bearer inspector"}).json()
        assert body["evaluated_ms"] == 11000 and body["active"][0] == QUORUM.to_json()


def test_no_evaluation_yet_is_no_alarm_and_a_login_is_needed(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        body = c.get("/api/v1/alarms", headers={"Authorization": "Bearer alpha"}).json()
        assert body == {"evaluated_ms": None, "active": [], "resolved": []}
        assert c.get("/api/v1/alarms").status_code == 401
