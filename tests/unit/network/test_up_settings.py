"""``DIR/up.toml``, the settings of ``consortium up`` (``network.upsettings``): what it sets, where each value comes
from, and its refusals, each one line naming the file, the key and what is allowed; `up` given a malformed file
says that line and starts nothing. The thresholds and hold-downs it sets change what the rules and the book do.
No socket, no process: `up` stops at the file, before it reads anything else."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from chain.errors import MalformedError
from cli.up import _setting
from network.alarms.book import FIRE_AFTER_S, RESOLVE_AFTER_S, RULE_FIRE_AFTER_S, AlarmBook
from network.alarms.evaluator import INTERVAL_S, WINDOW_S
from network.alarms.rules import Condition, GatewayProbe, Limits, Snapshot, evaluate
from network.upsettings import SETTINGS_FILE, AlarmSettings, UpSettings, load_up_settings

FULL = """
[alarms]
host = "0.0.0.0"
webhook = "https://alerts.example/consortium"
tls_cert = "certs/alarms.pem"
tls_key = "certs/alarms.key"
interval_s = 1
window_s = 30.5
fire_after_s = 6
resolve_after_s = 20
stale_after_s = 45

[alarms.rules.anchoring-behind]
fire_after_s = 120
resolve_after_s = 30
behind_s = 90

[alarms.rules.gateway-outbox]
warning = 0.6
critical = 0.9
"""


def write(directory: Path, text: str | bytes) -> Path:
    path = directory / SETTINGS_FILE
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def pems(directory: Path) -> None:
    (directory / "certs").mkdir()
    (directory / "certs" / "alarms.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (directory / "certs" / "alarms.key").write_text("-----BEGIN PRIVATE KEY-----\n")


def test_no_file_is_every_default(tmp_path: Path) -> None:
    settings = load_up_settings(tmp_path)
    assert settings == UpSettings() and settings.source is None and settings.keys == ()
    alarms = settings.alarms
    assert alarms.host is None and alarms.webhook is None and alarms.tls is None and alarms.stale_after_s is None
    assert (alarms.interval_s, alarms.window_s) == (INTERVAL_S, WINDOW_S)
    assert (alarms.fire_after_s, alarms.resolve_after_s) == (FIRE_AFTER_S, RESOLVE_AFTER_S)
    assert dict(alarms.rule_fire_after_s) == dict(RULE_FIRE_AFTER_S) and dict(alarms.rule_resolve_after_s) == {}
    assert alarms.limits == Limits()
    assert load_up_settings(tmp_path) == UpSettings(AlarmSettings())  # an empty [alarms] neither
    write(tmp_path, "[alarms]\n")
    assert load_up_settings(tmp_path).alarms == AlarmSettings()


def test_every_setting_of_a_full_file(tmp_path: Path) -> None:
    pems(tmp_path)
    path = write(tmp_path, FULL)
    settings = load_up_settings(tmp_path)
    alarms = settings.alarms
    assert settings.source == path
    assert alarms.host == "0.0.0.0" and alarms.webhook == "https://alerts.example/consortium"
    assert alarms.tls == (tmp_path / "certs" / "alarms.pem", tmp_path / "certs" / "alarms.key")
    assert (alarms.interval_s, alarms.window_s, alarms.fire_after_s, alarms.resolve_after_s) == (1, 30.5, 6, 20)
    assert alarms.stale_after_s == 45
    assert dict(alarms.rule_fire_after_s) == {"anchoring-behind": 120} and alarms.rule_resolve_after_s == {
        "anchoring-behind": 30
    }
    assert alarms.limits == Limits(outbox_warning=0.6, outbox_critical=0.9, anchoring_behind_s=90)
    assert settings.keys[:3] == ("alarms.host", "alarms.webhook", "alarms.tls_cert")
    assert "alarms.rules.gateway-outbox.critical" in settings.keys and len(settings.keys) == 14
    assert settings.where("alarms.host") == f"{path} alarms.host"


def test_an_absolute_certificate_path_is_taken_as_is(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pems(elsewhere)
    directory = tmp_path / "consortium"
    directory.mkdir()
    cert, key = elsewhere / "certs" / "alarms.pem", elsewhere / "certs" / "alarms.key"
    write(directory, f'[alarms]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    assert load_up_settings(directory).alarms.tls == (cert, key)


def test_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[alarms]\nhost = "10.0.0.5"\n')
    settings = load_up_settings(tmp_path)
    assert _setting("0.0.0.0", "--alarms-host", settings.alarms.host, settings, "alarms.host") == (
        "0.0.0.0",
        "--alarms-host",
    )
    assert _setting(None, "--alarms-host", settings.alarms.host, settings, "alarms.host") == (
        "10.0.0.5",
        f"{path} alarms.host",
    )
    assert _setting(None, "--alarm-webhook", settings.alarms.webhook, settings, "alarms.webhook") == (None, "default")


# (the file's text, what the one line says after "<file>: ")
REFUSED = [
    ("[alarms\n", "not valid TOML"),
    ("port = 9545\n", "port: unknown key; the keys at the top are alarms"),
    ("alarms = 3\n", "alarms: expected a table ([alarms]), got an integer"),
    ("[alarms]\nfire_after = 3\n", "alarms.fire_after: unknown key (did you mean 'fire_after_s'?); the keys of alarms"),
    ('[alarms]\nhost = "http://ops.example:9548"\n', "alarms.host: 'http://ops.example:9548' is not an address"),
    ("[alarms]\nhost = 127\n", "alarms.host: 127 is not an address or a host name"),
    ('[alarms]\nwebhook = "ftp://alerts.example"\n', "alarms.webhook: 'ftp://alerts.example' is not a URL it can"),
    ('[alarms]\nwebhook = "https://"\n', "give an http:// or https:// URL of at most 512 bytes"),
    ("[alarms]\nfire_after_s = -1\n", "alarms.fire_after_s: -1 is out of range; give seconds from 0 to 86400"),
    ('[alarms]\nfire_after_s = "4"\n', "alarms.fire_after_s: '4' is not a number; give seconds from 0 to 86400"),
    ("[alarms]\nresolve_after_s = true\n", "alarms.resolve_after_s: True is not a number"),
    ("[alarms]\nresolve_after_s = nan\n", "alarms.resolve_after_s: nan is not a number"),
    ("[alarms]\nresolve_after_s = inf\n", "alarms.resolve_after_s: inf is not a number"),
    ("[alarms]\nresolve_after_s = 86401\n", "alarms.resolve_after_s: 86401 is out of range"),
    ("[alarms]\ninterval_s = 0.1\n", "alarms.interval_s: 0.1 is out of range; give seconds from 0.5 to 60"),
    (
        "[alarms]\ninterval_s = 10\nwindow_s = 5\n",
        "alarms.window_s: 5 is out of range; give seconds from 10 (alarms.interval_s) to 3600",
    ),
    (
        "[alarms]\nstale_after_s = 2\n",
        "alarms.stale_after_s: 2 is out of range; give seconds above 2 (alarms.interval_s) to 86400",
    ),
    (
        "[alarms]\ninterval_s = 15\n",
        "alarms.interval_s: 15 is out of range; give seconds from 0.5 to below the explorer's stale threshold, 15 "
        "(or set alarms.stale_after_s above it)",
    ),
    ("[alarms]\nrules = 1\n", "alarms.rules: expected a table of rules ([alarms.rules.RULE]), got an integer"),
    (
        "[alarms.rules.witness-dwn]\nfire_after_s = 1\n",
        "alarms.rules.witness-dwn: unknown rule (did you mean "
        "'witness-down'?); the rules are witness-down, witness-quorum,",
    ),
    ("[alarms.rules]\nwitness-down = 1\n", "alarms.rules.witness-down: expected a table ([alarms.rules.witness-down])"),
    (
        "[alarms.rules.witness-down]\nwarning = 0.5\n",
        "alarms.rules.witness-down.warning: unknown key; the keys of "
        "alarms.rules.witness-down are fire_after_s, resolve_after_s",
    ),
    ("[alarms.rules.anchoring-behind]\nfire_after_s = -5\n", "alarms.rules.anchoring-behind.fire_after_s: -5 is out"),
    (
        "[alarms.rules.anchoring-behind]\nbehind_s = -1\n",
        "alarms.rules.anchoring-behind.behind_s: -1 is out of range; give seconds from 0 to 86400",
    ),
    (
        "[alarms.rules.anchoring-behind]\nbehind = 60\n",
        "alarms.rules.anchoring-behind.behind: unknown key (did you mean 'behind_s'?); the keys of "
        "alarms.rules.anchoring-behind are fire_after_s, resolve_after_s, behind_s",
    ),
    (
        "[alarms.rules.sequence-gap]\nbehind_s = 60\n",
        "alarms.rules.sequence-gap.behind_s: unknown key; the keys of alarms.rules.sequence-gap are",
    ),
    (
        "[alarms.rules.gateway-outbox]\ncritical = 1.5\n",
        "alarms.rules.gateway-outbox.critical: 1.5 is out of range; "
        "give a share of the outbox's capacity above 0 and at most 1",
    ),
    (
        "[alarms.rules.gateway-outbox]\nwarning = 0.9\ncritical = 0.8\n",
        "alarms.rules.gateway-outbox.warning: 0.9 is "
        "out of range; give a share of the outbox's capacity above 0 and at most 0.8 (alarms.rules.gateway-outbox."
        "critical)",
    ),
    ("[alarms.rules.gateway-outbox]\nwarning = 0\n", "alarms.rules.gateway-outbox.warning: 0 is out of range"),
    (
        "[alarms.rules.gateway-outbox]\ncritical = 0.3\n",
        "alarms.rules.gateway-outbox.critical: 0.3 is below the "
        "default warning share 0.5; set alarms.rules.gateway-outbox.warning too, at most 0.3",
    ),
    ('[alarms]\ntls_cert = "certs/alarms.pem"\n', "alarms.tls_cert: given without alarms.tls_key; give both or "),
    ('[alarms]\ntls_key = "certs/alarms.key"\n', "alarms.tls_key: given without alarms.tls_cert; give both or "),
    ('[alarms]\ntls_cert = "certs/none.pem"\ntls_key = "certs/alarms.key"\n', "alarms.tls_cert: no file at "),
    ("[alarms]\ntls_key = 1\n", "alarms.tls_key: give a file's path (relative to "),
]


@pytest.mark.parametrize(("text", "says"), REFUSED, ids=[f"{i}" for i in range(len(REFUSED))])
def test_a_malformed_setting_is_one_line_naming_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, says: str
) -> None:
    pems(tmp_path)
    path = write(tmp_path, text)
    with pytest.raises(MalformedError) as refused:
        load_up_settings(tmp_path)
    line = str(refused.value)
    assert line.startswith(f"{path}: ") and says in line and "\n" not in line, line


def test_a_file_that_is_not_utf8_or_too_big_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b'[alarms]\nhost = "\xff"\n')
    with pytest.raises(MalformedError, match=f"^{path}: not UTF-8"):
        load_up_settings(tmp_path)
    write(tmp_path, "# " + "x" * 70_000 + "\n")
    with pytest.raises(MalformedError, match=f"^{path}: larger than 65536 bytes"):
        load_up_settings(tmp_path)


def test_up_with_a_malformed_file_says_one_line_and_starts_nothing(tmp_path: Path) -> None:
    from cli.main import cli

    path = write(tmp_path, "[alarms]\nfire_after_s = -1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, ["up", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path}: alarms.fire_after_s: -1 is out of range; give seconds from 0 to 86400"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, nothing started


def test_the_outbox_thresholds_set_are_the_rules(tmp_path: Path) -> None:
    write(tmp_path, "[alarms.rules.gateway-outbox]\nwarning = 0.2\ncritical = 0.4\n")
    limits = load_up_settings(tmp_path).alarms.limits
    filling = Snapshot(gateways=(GatewayProbe("alpha", True, pending=30, max_pending=100),))
    assert evaluate(filling) == []  # 30 % is below the default warning
    (found,) = evaluate(filling, limits=limits)
    assert (found.rule, found.severity) == ("gateway-outbox", "warning")
    full = Snapshot(gateways=(GatewayProbe("alpha", True, pending=45, max_pending=100),))
    assert [c.severity for c in evaluate(full, limits=limits)] == ["critical"]
    assert [c.severity for c in evaluate(full)] == []


def test_a_rules_resolve_time_set_holds_its_alarm_longer() -> None:
    lag = Condition("anchoring-behind", "notary", "warning", "anchored size trails")
    gap = Condition("sequence-gap", "notary", "warning", "1 open gap")
    book = AlarmBook(0.0, 10.0, rule_fire_after={}, rule_resolve_after={"anchoring-behind": 30.0})
    assert [t.kind for t in book.update([lag, gap], 0.0)] == ["fired", "fired"]
    assert book.update([], 1.0) == []
    assert [(t.kind, t.alarm.rule) for t in book.update([], 11.0)] == [("resolved", "sequence-gap")]
    assert book.update([], 30.0) == []
    assert [(t.kind, t.alarm.rule) for t in book.update([], 31.0)] == [("resolved", "anchoring-behind")]
    assert math.isclose(book.resolved()[0].resolved or 0.0, 31.0)
