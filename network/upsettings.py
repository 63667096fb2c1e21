"""The settings file of ``consortium up``: ``DIR/up.toml``, beside ``consortium.json``.

It holds what an operator sets once for a consortium rather than at each start: where the live alarms' endpoint
listens and with which certificate, where the alarms are POSTed, and the alarm rules' thresholds and hold-downs
(docs/alarms.md, "Settings")::

    [alarms]
    host = "0.0.0.0"                       # --alarms-host
    webhook = "https://alerts.example/x"   # --alarm-webhook
    tls_cert = "orgs/op/alarms/tls/cert.pem"   # the endpoint's certificate beyond loopback, with tls_key
    tls_key = "orgs/op/alarms/tls/key.pem"     # (relative to DIR, or absolute)
    interval_s = 2                         # seconds between evaluations
    window_s = 60                          # how far back the rising-count rules look
    fire_after_s = 4                       # hold-down before an alarm fires
    resolve_after_s = 10                   # ... and before it resolves
    stale_after_s = 15                     # the explorer `up` starts shows older alarms as stale

    [alarms.rules.anchoring-behind]        # any rule of network.alarms.rules.RULES
    fire_after_s = 4
    resolve_after_s = 10
    behind_s = 60                          # this rule's threshold: seconds a published size may wait unanchored

    [alarms.rules.gateway-outbox]
    warning = 0.5                          # shares of the outbox's capacity
    critical = 0.8

Every key is optional; no file is every default. An option given on the command line wins over the file. Every
problem raises :class:`chain.errors.MalformedError` with one line naming the file, the key and what is allowed
(``DIR/up.toml: alarms.fire_after_s: -1 is out of range; give seconds from 0 to 86400``): an unknown key too, so
that a typo never passes silently, and `up` starts nothing. Reading it opens no socket and starts nothing.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.errors import MalformedError
from chain.ids import endpoint_url
from network.alarms.book import FIRE_AFTER_S, RESOLVE_AFTER_S, RULE_FIRE_AFTER_S
from network.alarms.evaluator import INTERVAL_S, WINDOW_S
from network.alarms.rules import ANCHORING_BEHIND_S, DEFAULT_LIMITS, OUTBOX_CRITICAL, OUTBOX_WARNING, RULES, Limits
from network.config import read_toml

SETTINGS_FILE = "up.toml"
#: A settings file is a few lines; a bigger one is not one.
MAX_FILE_BYTES = 64 * 1024
#: Hold-downs and the explorer's stale threshold: at most a day.
MAX_SECONDS = 86400.0
MAX_INTERVAL_S = 60.0
MIN_INTERVAL_S = 0.5
MAX_WINDOW_S = 3600.0
#: The explorer's default stale threshold (``explorer.alarmsource.STALE_AFTER_S``, which `network` cannot import).
STALE_AFTER_S = 15.0

_TOP_KEYS = ("alarms",)
_ALARM_KEYS = (
    "host",
    "webhook",
    "tls_cert",
    "tls_key",
    "interval_s",
    "window_s",
    "fire_after_s",
    "resolve_after_s",
    "stale_after_s",
    "rules",
)
_RULE_KEYS = ("fire_after_s", "resolve_after_s")
_OUTBOX_RULE = "gateway-outbox"
_OUTBOX_KEYS = (*_RULE_KEYS, "warning", "critical")
_ANCHORING_RULE = "anchoring-behind"
_ANCHORING_KEYS = (*_RULE_KEYS, "behind_s")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    """The ``[alarms]`` table; None where the file says nothing (the command line or the default decides)."""

    host: str | None = None
    webhook: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    interval_s: float = INTERVAL_S
    window_s: float = WINDOW_S
    fire_after_s: float = FIRE_AFTER_S
    resolve_after_s: float = RESOLVE_AFTER_S
    stale_after_s: float | None = None
    rule_fire_after_s: Mapping[str, float] = field(default_factory=lambda: dict(RULE_FIRE_AFTER_S))
    rule_resolve_after_s: Mapping[str, float] = field(default_factory=dict)
    limits: Limits = DEFAULT_LIMITS

    @property
    def tls(self) -> tuple[Path, Path] | None:
        """The endpoint's certificate and key given, or None (the operator's ``alarms`` certificate)."""
        return None if self.tls_cert is None or self.tls_key is None else (self.tls_cert, self.tls_key)


@dataclass(frozen=True, slots=True)
class UpSettings:
    """What ``DIR/up.toml`` says; ``source`` the file it was read from (None: there is none), ``keys`` the
    settings it gives (``alarms.host``, ``alarms.rules.gateway-outbox.warning``), in the file's order."""

    alarms: AlarmSettings = field(default_factory=AlarmSettings)
    source: Path | None = None
    keys: tuple[str, ...] = ()

    def where(self, key: str) -> str:
        """Where a setting of the file comes from, as `up` shows it (``DIR/up.toml alarms.host``)."""
        return f"{self.source} {key}"


def settings_path(directory: Path) -> Path:
    return directory / SETTINGS_FILE


def load_up_settings(directory: Path) -> UpSettings:
    """The settings of ``DIR/up.toml``, every default when there is no such file; :class:`MalformedError` (one
    line: the file, the key, what is allowed) for a file that cannot be read, is not TOML or says anything
    unknown or out of range."""
    path = settings_path(directory)
    if not path.exists():
        return UpSettings()
    return parse_up_settings(_read(path), path, directory)


def parse_up_settings(data: Mapping[str, Any], path: Path, directory: Path) -> UpSettings:
    """The settings of the parsed TOML ``data`` of ``path`` (relative paths resolve against ``directory``)."""
    _keys(data, path, "", _TOP_KEYS)
    alarms = data.get("alarms", {})
    if not isinstance(alarms, Mapping):
        raise MalformedError(f"{path}: alarms: expected a table ([alarms]), got {_kind(alarms)}")
    _keys(alarms, path, "alarms", _ALARM_KEYS)
    host = None if "host" not in alarms else _host(alarms["host"], path)
    webhook = None
    if "webhook" in alarms:
        value = alarms["webhook"]
        webhook = endpoint_url(value.encode("utf-8")) if isinstance(value, str) else None
        if webhook is None:
            raise MalformedError(
                f"{path}: alarms.webhook: {value!r} is not a URL it can POST to; give an http:// or https:// URL "
                "of at most 512 bytes"
            )
    cert = _file(alarms, "tls_cert", path, directory)
    key = _file(alarms, "tls_key", path, directory)
    if (cert is None) != (key is None):
        given, missing = ("tls_cert", "tls_key") if cert is not None else ("tls_key", "tls_cert")
        raise MalformedError(f"{path}: alarms.{given}: given without alarms.{missing}; give both or neither")
    interval = _seconds(alarms, "interval_s", path, INTERVAL_S, MIN_INTERVAL_S, MAX_INTERVAL_S)
    window = _seconds(alarms, "window_s", path, WINDOW_S, interval, MAX_WINDOW_S, low_name="alarms.interval_s")
    stale = None
    if "stale_after_s" in alarms:
        stale = _seconds(alarms, "stale_after_s", path, STALE_AFTER_S, interval, MAX_SECONDS, above_low=True,
                         low_name="alarms.interval_s")  # fmt: skip
    elif interval >= STALE_AFTER_S:  # the explorer would show every round stale before the next one
        raise MalformedError(
            f"{path}: alarms.interval_s: {alarms['interval_s']!r} is out of range; give seconds from "
            f"{MIN_INTERVAL_S:g} to below the explorer's stale threshold, {STALE_AFTER_S:g} (or set "
            "alarms.stale_after_s above it)"
        )
    rule_fire = dict(RULE_FIRE_AFTER_S)
    rule_resolve: dict[str, float] = {}
    warning, critical = OUTBOX_WARNING, OUTBOX_CRITICAL
    behind = ANCHORING_BEHIND_S
    rules = alarms.get("rules", {})
    if not isinstance(rules, Mapping):
        raise MalformedError(
            f"{path}: alarms.rules: expected a table of rules ([alarms.rules.RULE]), got {_kind(rules)}"
        )
    for rule, table in rules.items():
        where = f"alarms.rules.{rule}"
        if rule not in RULES:
            raise MalformedError(f"{path}: {where}: unknown rule{_hint(rule, RULES)}; the rules are {', '.join(RULES)}")
        if not isinstance(table, Mapping):
            raise MalformedError(f"{path}: {where}: expected a table ([{where}]), got {_kind(table)}")
        _keys(table, path, where, {_OUTBOX_RULE: _OUTBOX_KEYS, _ANCHORING_RULE: _ANCHORING_KEYS}.get(rule, _RULE_KEYS))
        if "fire_after_s" in table:
            rule_fire[rule] = _seconds(table, "fire_after_s", path, 0.0, 0.0, MAX_SECONDS, where=where)
        if "resolve_after_s" in table:
            rule_resolve[rule] = _seconds(table, "resolve_after_s", path, 0.0, 0.0, MAX_SECONDS, where=where)
        if rule == _OUTBOX_RULE:
            critical = _share(table, "critical", path, where, OUTBOX_CRITICAL, 0.0, None)
            warning = _share(table, "warning", path, where, OUTBOX_WARNING, 0.0, critical)
        if rule == _ANCHORING_RULE:
            behind = _seconds(table, "behind_s", path, ANCHORING_BEHIND_S, 0.0, MAX_SECONDS, where=where)
    return UpSettings(
        AlarmSettings(
            host=host,
            webhook=webhook,
            tls_cert=cert,
            tls_key=key,
            interval_s=interval,
            window_s=window,
            fire_after_s=_seconds(alarms, "fire_after_s", path, FIRE_AFTER_S, 0.0, MAX_SECONDS),
            resolve_after_s=_seconds(alarms, "resolve_after_s", path, RESOLVE_AFTER_S, 0.0, MAX_SECONDS),
            stale_after_s=stale,
            rule_fire_after_s=rule_fire,
            rule_resolve_after_s=rule_resolve,
            limits=Limits(outbox_warning=warning, outbox_critical=critical, anchoring_behind_s=behind),
        ),
        source=path,
        keys=tuple(_leaves(data)),
    )


def _leaves(table: Mapping[str, Any], where: str = "") -> Iterable[str]:
    for key, value in table.items():
        name = f"{where}.{key}" if where else key
        if isinstance(value, Mapping):
            yield from _leaves(value, name)
        else:
            yield name


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, max_bytes=MAX_FILE_BYTES, too_large="; a settings file is a few lines")


def _keys(table: Mapping[str, Any], path: Path, where: str, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise MalformedError(
                f"{path}: {name}: unknown key{_hint(key, allowed)}; the keys {'of ' + where if where else 'at the top'}"
                f" are {', '.join(allowed)}"
            )


def _hint(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}.get(
        type(value), "a table" if isinstance(value, Mapping) else type(value).__name__
    )


def _host(value: object, path: Path) -> str:
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            if _HOST_NAME.match(value):
                return value
    raise MalformedError(
        f"{path}: alarms.host: {value!r} is not an address or a host name; give an address of this machine "
        "(127.0.0.1, 0.0.0.0 for every address, ::1) or a name that resolves to one, without scheme or port"
    )


def _file(table: Mapping[str, Any], key: str, path: Path, directory: Path) -> Path | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, str) or not value:
        raise MalformedError(f"{path}: alarms.{key}: give a file's path (relative to {directory}, or absolute)")
    found = Path(value) if Path(value).is_absolute() else directory / value
    if not found.is_file():
        raise MalformedError(f"{path}: alarms.{key}: no file at {found}; give a PEM file's path (relative to "
                             f"{directory}, or absolute)")  # fmt: skip
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _seconds(
    table: Mapping[str, Any],
    key: str,
    path: Path,
    default: float,
    low: float,
    high: float,
    *,
    where: str = "alarms",
    above_low: bool = False,
    low_name: str | None = None,
) -> float:
    if key not in table:
        return default
    value = table[key]
    number = _number(value)
    bound = "above" if above_low else "from"
    lower = f"{low:g} ({low_name})" if low_name else f"{low:g}"
    allowed = f"give seconds {bound} {lower} to {high:g}"
    if number is None:
        raise MalformedError(f"{path}: {where}.{key}: {value!r} is not a number; {allowed}")
    if number < low or number > high or (above_low and number == low):
        raise MalformedError(f"{path}: {where}.{key}: {value!r} is out of range; {allowed}")
    return number


def _share(
    table: Mapping[str, Any], key: str, path: Path, where: str, default: float, low: float, high: float | None
) -> float:
    if key not in table:
        if high is not None and default > high:  # the default warning above a critical set lower
            raise MalformedError(
                f"{path}: {where}.critical: {high:g} is below the default warning share {default:g}; set "
                f"{where}.warning too, at most {high:g}"
            )
        return default
    value = table[key]
    number = _number(value)
    top = 1.0 if high is None else high
    allowed = f"give a share of the outbox's capacity above {low:g} and at most {top:g}" + (
        f" ({where}.critical)" if high is not None else ""
    )
    if number is None:
        raise MalformedError(f"{path}: {where}.{key}: {value!r} is not a number; {allowed}")
    if not low < number <= top:
        raise MalformedError(f"{path}: {where}.{key}: {value!r} is out of range; {allowed}")
    return number
