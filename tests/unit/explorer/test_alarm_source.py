"""The explorer's alarm sources (``explorer.alarmsource``) without a socket: the endpoint client talks to the
endpoint's own protocol (``network.alarms.server.answer``) through an in-process transport, or to a transport
that refuses, times out or answers garbage; the clock is injected, so an answer ages without a wait. Live,
stale, unreachable (with the last answer, or with null lists, never an empty list) and never evaluated; the
file source the same."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from explorer.alarmsource import STALE_AFTER_S, EndpointAlarms, FileAlarms, StaleAfterError, stale_after
from network.alarms.book import Alarm
from network.alarms.server import PATH, answer
from network.alarms.store import NEVER, AlarmState, alarms_path, state_of, write_alarms

URL = f"http://127.0.0.1:8548{PATH}"
TOKEN = "t0ken"
QUORUM = Alarm("witness-quorum:witnesses", "witness-quorum", "critical", "witnesses", None, "1 of 3 up", 10.0)
GONE = Alarm("gateway-down:gateway/beta", "gateway-down", "warning", "gateway/beta", "beta", "down", 1.0, 2.0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """The endpoint's protocol in process: what ``state`` holds is what it serves; ``down`` refuses
    connections, ``reply`` replaces the answer with raw bytes (a broken or foreign server)."""

    def __init__(self, state: AlarmState) -> None:
        self.state = state
        self.down: type[httpx.TransportError] | None = None
        self.reply: tuple[int, bytes] | None = None
        self.seen: list[str | None] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers.get("Authorization"))
        if self.down is not None:
            raise self.down("no answer", request=request)
        if self.reply is not None:
            return httpx.Response(self.reply[0], content=self.reply[1])
        status, body = answer(lambda: self.state, TOKEN, request.method, request.url.path,
                              request.headers.get("Authorization"))  # fmt: skip
        return httpx.Response(status, content=json.dumps(body).encode())

    def client(self, clock: Clock, token: str = TOKEN) -> EndpointAlarms:
        return EndpointAlarms(URL, token, clock=clock, transport=httpx.MockTransport(self.handle))


def test_a_fresh_answer_is_live_and_ages_into_stale() -> None:
    endpoint = Endpoint(state_of(100.0, [QUORUM], [GONE]))
    clock = Clock(101.0)
    source = endpoint.client(clock)
    view = source.read()
    assert endpoint.seen == [f"Bearer {TOKEN}"]
    assert (view.status, view.source, view.evaluated_ms, view.age_ms) == ("live", "endpoint", 100_000, 1_000)
    assert view.active == (QUORUM,) and view.resolved == (GONE,) and view.error is None
    clock.now = 100.0 + STALE_AFTER_S  # exactly the limit: still live
    assert source.read().status == "live"
    clock.now += 0.001
    stale = source.read()
    assert stale.status == "stale" and stale.active == (QUORUM,) and stale.age_ms == int(STALE_AFTER_S * 1000) + 1
    endpoint.state = state_of(clock.now, [], [GONE])  # the evaluator runs again
    back = source.read()
    assert back.status == "live" and back.active == () and back.age_ms == 0


def test_unreachable_before_any_answer_is_no_list_at_all() -> None:
    endpoint = Endpoint(state_of(100.0, [QUORUM], []))
    for error in (httpx.ConnectError, httpx.ReadTimeout):
        endpoint.down = error
        view = endpoint.client(Clock(100.0)).read()
        assert view.status == "unreachable" and view.active is None and view.resolved is None
        assert view.evaluated_ms is None and view.error is not None
        assert view.error.startswith("alarm source unreachable: ") and error.__name__ in view.error
        body = view.to_json(lambda a: True)
        assert body["active"] is None and body["resolved"] is None and body["status"] == "unreachable"


def test_unreachable_after_an_answer_keeps_that_answer_marked_as_such() -> None:
    endpoint = Endpoint(state_of(100.0, [QUORUM], []))
    clock = Clock(100.5)
    source = endpoint.client(clock)
    assert source.read().status == "live"
    endpoint.down = httpx.ConnectError
    clock.now = 130.0
    view = source.read()
    assert view.status == "unreachable" and view.active == (QUORUM,) and view.evaluated_ms == 100_000
    assert view.age_ms == 30_000 and "ConnectError" in (view.error or "")


def test_a_malformed_or_refused_answer_is_unreachable_with_the_reason() -> None:
    endpoint = Endpoint(state_of(100.0, [QUORUM], []))
    cases = {
        (200, b"<html>not json</html>"): "malformed",
        (200, b'{"format": "consortium-ledger/alarms/v2", "evaluated_ms": 1, "active": [], "resolved": []}'): "format",
        (200, b'{"format": "consortium-ledger/alarms/v1", "evaluated_ms": "soon", "active": [], "resolved": []}'): (
            "evaluated_ms"
        ),
        (200, b'{"format": "consortium-ledger/alarms/v1", "evaluated_ms": 1, "active": {}, "resolved": []}'): "lists",
        (
            200,
            json.dumps(
                {
                    "format": "consortium-ledger/alarms/v1",
                    "evaluated_ms": 1,
                    "resolved": [],
                    "active": [{**QUORUM.to_json(), "severity": "apocalyptic"}],
                }
            ).encode(),
        ): "severity",
        (200, b"[]"): "format",
        (500, b"boom"): "answered 500",
    }
    for reply, reason in cases.items():
        endpoint.reply = reply
        view = endpoint.client(Clock(100.0)).read()
        assert view.status == "unreachable" and view.active is None, reply
        assert reason in (view.error or ""), (reply, view.error)


def test_a_wrong_token_is_refused_and_said_so() -> None:
    endpoint = Endpoint(state_of(100.0, [QUORUM], []))
    view = endpoint.client(Clock(100.0), token="not-it").read()
    assert view.status == "unreachable" and view.active is None and "answered 401" in (view.error or "")


def test_an_endpoint_that_never_evaluated_says_so() -> None:
    view = Endpoint(NEVER).client(Clock(100.0)).read()
    assert (view.status, view.evaluated_ms, view.active, view.age_ms) == ("never", None, None, None)


def test_the_file_source(tmp_path: Path) -> None:
    clock = Clock(50.0)
    source = FileAlarms(tmp_path, clock=clock)
    assert source.read().status == "never"
    write_alarms(tmp_path, 49.0, [QUORUM], [GONE])
    view = source.read()
    assert (view.status, view.source, view.active, view.age_ms) == ("live", "file", (QUORUM,), 1_000)
    clock.now = 49.0 + STALE_AFTER_S + 1  # `up` stopped: the file stays, and ages
    assert source.read().status == "stale"
    alarms_path(tmp_path).write_text("{not json", encoding="utf-8")
    broken = source.read()
    assert broken.status == "unreachable" and broken.active is None and "alarms.json" in (broken.error or "")


def test_the_answer_shows_each_person_only_what_they_may_see() -> None:
    view = Endpoint(state_of(100.0, [QUORUM], [GONE])).client(Clock(100.0)).read()
    body = view.to_json(lambda a: not a.subject.startswith("gateway/"))
    assert [a["id"] for a in body["active"]] == [QUORUM.id] and body["resolved"] == []
    assert body["stale_after_ms"] == int(STALE_AFTER_S * 1000)


def test_the_explorer_takes_only_a_loopback_alarms_url_and_needs_the_token(tmp_path: Path) -> None:
    """``python -m explorer DIR --alarms-url URL`` refuses another host, and a directory without the token that
    ``consortium up`` makes, before it opens anything."""
    from click.testing import CliRunner

    from explorer.__main__ import main

    runner = CliRunner()
    far = runner.invoke(main, [str(tmp_path), "--alarms-url", "http://alarms.example/v1/alarms"])
    assert far.exit_code == 2 and "--alarms-url" in far.output, far.output
    tokenless = runner.invoke(main, [str(tmp_path), "--alarms-url", URL])
    assert tokenless.exit_code == 2 and "alarms/api.token" in tokenless.output, tokenless.output


def test_an_https_alarms_url_is_taken_and_plain_http_beyond_loopback_is_not(tmp_path: Path) -> None:
    """Beyond loopback the endpoint is served over mutual TLS only, so the explorer takes an https URL of any host
    and refuses plain http to one; the client certificate options go with an https URL only."""
    from click.testing import CliRunner

    from explorer.__main__ import main

    runner = CliRunner()
    plain = runner.invoke(main, [str(tmp_path), "--alarms-url", "http://10.1.2.3:8548/v1/alarms"])
    assert plain.exit_code == 2 and "plain http beyond loopback" in plain.output, plain.output
    far = runner.invoke(main, [str(tmp_path), "--alarms-url", "https://ops.example:8548/v1/alarms"])
    assert far.exit_code == 2 and "alarms/api.token" in far.output, far.output  # the URL taken; the token missing
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    stray = runner.invoke(main, [str(tmp_path), "--alarms-url", URL, "--alarms-ca", str(cert)])
    assert stray.exit_code == 2 and "https --alarms-url" in stray.output, stray.output
    alone = runner.invoke(main, [str(tmp_path), "--alarms-ca", str(cert)])
    assert alone.exit_code == 2 and "https --alarms-url" in alone.output, alone.output


def test_the_stale_threshold_is_the_one_given(tmp_path: Path) -> None:
    endpoint = Endpoint(state_of(100.0, [QUORUM], [GONE]))
    clock = Clock(100.0 + 4.0)
    source = EndpointAlarms(URL, TOKEN, clock=clock, stale_after=3.5, transport=httpx.MockTransport(endpoint.handle))
    view = source.read()
    assert view.status == "stale" and view.stale_after_ms == 3500 and view.active == (QUORUM,)
    clock.now = 103.5  # exactly the limit: live
    assert source.read().status == "live"
    relaxed = FileAlarms(tmp_path, clock=clock, stale_after=120)
    assert relaxed.read().stale_after_ms == 120_000


def test_a_stale_threshold_that_is_no_positive_number_of_seconds_is_refused() -> None:
    assert stale_after("15") == 15.0 and stale_after(0.5) == 0.5 and stale_after("86400") == 86_400.0
    for bad, says in [
        ("0", "above 0"),
        ("-3", "above 0"),
        (0, "above 0"),
        ("-0.0", "above 0"),
        ("abc", "number of seconds"),
        ("", "number of seconds"),
        ("15s", "number of seconds"),
        ("nan", "finite"),
        ("inf", "finite"),
        (None, "number of seconds"),
        (True, "number of seconds"),
        ("86401", "at most"),
    ]:
        with pytest.raises(StaleAfterError, match=says):
            stale_after(bad)
    with pytest.raises(StaleAfterError):
        EndpointAlarms(URL, TOKEN, stale_after=0)
    with pytest.raises(StaleAfterError):
        FileAlarms(Path("consortium"), stale_after=-1)


def test_the_explorer_refuses_a_bad_stale_threshold_before_anything(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from explorer.__main__ import main

    runner = CliRunner()
    for bad in ("0", "-1", "soon", "nan"):
        result = runner.invoke(main, [str(tmp_path), "--alarms-stale-after", bad])
        assert result.exit_code == 2 and "--alarms-stale-after" in result.output, (bad, result.output)
        assert "stale threshold" in result.output, result.output
