"""The evaluator's alarm endpoint as a protocol (``network.alarms.server.answer``), without a socket: the
document of the evaluator's state to the token only, 401 to anyone else (a person's login included), 404 and
405 around it; the evaluator's state is that of its last round, with when it ran; the token file is the
owner's."""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from network.alarms.book import Alarm, AlarmBook
from network.alarms.evaluator import Evaluator
from network.alarms.probe import Prober, Targets
from network.alarms.rules import WitnessPolicyView
from network.alarms.server import (
    PATH,
    AlarmEndpointError,
    AlarmServer,
    answer,
    api_token,
    endpoint_url,
    is_loopback,
    is_wildcard,
    token_path,
)
from network.alarms.store import FORMAT, NEVER, AlarmState, parse_alarms, read_alarms, state_of
from network.errors import NetworkError
from tests.support.refused import refuse_every_connection

QUORUM = Alarm("witness-quorum:witnesses", "witness-quorum", "critical", "witnesses", None, "1 of 3 up", 10.0)
OUTBOX = Alarm("gateway-outbox:gateway/alpha", "gateway-outbox", "warning", "gateway/alpha", "alpha", "80%", 8.0)
GONE = Alarm("gateway-down:gateway/beta", "gateway-down", "warning", "gateway/beta", "beta", "down", 1.0, 2.0)
STATE = state_of(11.5, [QUORUM, OUTBOX], [GONE])
TOKEN = "t0ken"


def ask(
    path: str = PATH, authorization: str | None = f"Bearer {TOKEN}", method: str = "GET"
) -> tuple[int, Mapping[str, object]]:
    return answer(lambda: STATE, TOKEN, method, path, authorization)


def test_the_token_gets_every_alarm_with_when_they_were_evaluated() -> None:
    status, body = ask()
    assert status == 200
    assert body == {
        "format": FORMAT,
        "evaluated_ms": 11500,
        "active": [QUORUM.to_json(), OUTBOX.to_json()],
        "resolved": [GONE.to_json()],
    }
    # what the explorer parses back is what was served, every firm's gateway alarms included (it filters)
    assert parse_alarms(json.dumps(body).encode(), "the endpoint") == STATE
    assert ask(PATH + "?x=1")[0] == 200


def test_without_the_token_nothing_is_said() -> None:
    for authorization in (None, "", "Bearer", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}", "Bearer inspector-login"):
        status, body = ask(authorization=authorization)
        assert status == 401, authorization
        assert set(body) == {"error", "detail"} and "alarm" not in json.dumps(body).replace("alarms/api", ""), body
    assert ask(authorization="Bearer ünïcode")[0] == 401  # not latin-1 encodable as given: refused, no crash


def test_other_paths_and_methods() -> None:
    assert ask("/v1/alarm")[0] == 404
    assert ask("/")[0] == 404
    assert ask(method="POST")[0] == 405
    assert ask(method="DELETE", authorization=None)[0] == 405
    assert ask("/healthz", authorization=None) == (200, {"ok": True})


def test_before_a_round_the_state_is_never_evaluated() -> None:
    status, body = answer(lambda: NEVER, TOKEN, "GET", PATH, f"Bearer {TOKEN}")
    assert status == 200 and body["evaluated_ms"] is None and parse_alarms(json.dumps(body).encode(), "x") == NEVER


def test_the_evaluators_state_is_its_last_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_every_connection(monkeypatch)  # every witness down
    now = [100.0]
    targets = Targets(
        witnesses={"alpha": "http://127.0.0.1:9", "reg": "http://127.0.0.1:9"},
        policy=WitnessPolicyView(2, require_regulator=False, regulators=frozenset()),
    )
    prober = Prober(targets, timeout=0.5)
    evaluator = Evaluator(tmp_path, "c", prober, AlarmBook(fire_after=0.0), clock=lambda: now[0])
    try:
        assert evaluator.state() == NEVER
        evaluator.step()
        first = evaluator.state()
        assert first.evaluated_ms == 100_000 and "witness-quorum:witnesses" in {a.id for a in first.active}
        now[0] = 102.5
        evaluator.step()
        assert evaluator.state().evaluated_ms == 102_500
        assert isinstance(first, AlarmState) and first.evaluated_ms == 100_000  # a reader's copy does not change
        assert read_alarms(tmp_path) == evaluator.state()  # the file says the same
    finally:
        prober.close()


def test_the_token_is_made_once_and_is_the_owners(tmp_path: Path) -> None:
    assert api_token(tmp_path) is None
    made = api_token(tmp_path, create=True)
    assert made and len(made) >= 40 and api_token(tmp_path) == made == api_token(tmp_path, create=True)
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600
    assert endpoint_url(8545) == "http://127.0.0.1:8548/v1/alarms"


def test_a_refused_client_certificate_gets_403_whatever_the_token() -> None:
    """Over mutual TLS (``up --alarms-host``) the server's check of the client certificate comes first: a
    certificate of another org, or none, is refused with the reason, token or not; the health stays open."""
    why = "the alarms are the operator's (acme); a certificate of globex may not read them"
    for authorization in (f"Bearer {TOKEN}", None):
        status, body = answer(lambda: STATE, TOKEN, "GET", PATH, authorization, why)
        assert status == 403 and body == {"error": "forbidden", "detail": why}
    assert answer(lambda: STATE, TOKEN, "GET", "/healthz", None, why) == (200, {"ok": True})
    assert answer(lambda: STATE, TOKEN, "GET", PATH, "Bearer nope", None)[0] == 401  # the certificate passed


def test_where_the_endpoint_listens_and_is_reached() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("ops.example")
    assert is_wildcard("0.0.0.0") and is_wildcard("::") and not is_wildcard("10.0.0.5")
    assert endpoint_url(8545) == "http://127.0.0.1:8548/v1/alarms"
    assert endpoint_url(8545, "10.0.0.5") == "https://10.0.0.5:8548/v1/alarms"
    assert endpoint_url(9000, "0.0.0.0") == "https://127.0.0.1:9003/v1/alarms"  # up's own explorer: on loopback
    assert endpoint_url(9000, "::") == "https://127.0.0.1:9003/v1/alarms"
    assert endpoint_url(9000, "fd00::5") == "https://[fd00::5]:9003/v1/alarms"
    assert endpoint_url(9000, "ops.example") == "https://ops.example:9003/v1/alarms"


def test_plain_http_beyond_loopback_is_refused_before_a_socket_is_opened() -> None:
    for host in ("0.0.0.0", "10.0.0.5", "ops.example"):
        with pytest.raises(AlarmEndpointError, match="mutual TLS only"):
            AlarmServer(TOKEN, 0, host=host)
    assert issubclass(AlarmEndpointError, NetworkError)
