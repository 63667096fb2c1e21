"""Where the explorer reads the live alarms (docs/alarms.md, "In the explorer"), and how fresh they are.

- :class:`EndpointAlarms`: the alarm endpoint of ``consortium up`` (``network.alarms.server``), asked with its
  token at each request; ``up`` starts the explorer with its URL (``--alarms-url``).
- :class:`FileAlarms`: ``DIR/alarms/alarms.json``, which the evaluator also rewrites: the source of an explorer
  started without ``--alarms-url`` on the machine and directory of ``up`` (a second, read-only explorer beside
  the one ``up`` runs), and of the app in tests.

Both give an :class:`AlarmView`, whose ``status`` says what the list is worth:

- ``live``: evaluated at most ``stale_after`` seconds ago (:data:`STALE_AFTER_S` unless the explorer is started
  with ``--alarms-stale-after``; :func:`stale_after` checks a value given);
- ``stale``: evaluated longer ago (the evaluator stopped, or its rounds keep failing): the alarms are shown as
  they were then, marked stale;
- ``unreachable``: the source gave no usable answer (no connection, a timeout, a refusal, a malformed
  document, an unreadable file): ``error`` says which; the last answer the source gave, if any, comes with it
  as it was (its ``evaluated_ms`` says how old), else the lists are null, never an empty list that would read
  as "no alarm";
- ``never``: the source answers but no evaluation ran yet (lists null too).

The endpoint is plain HTTP on loopback, or HTTPS over mutual TLS when ``up`` serves it beyond loopback
(``up --alarms-host``): :class:`EndpointAlarms` then presents the client certificate of its ``tls`` context.

The clock is injected, so a test ages an answer without waiting.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from chain.errors import MalformedError
from chain.tlsclient import tls_client
from explorer.errors import ExplorerError
from network.alarms.book import Alarm
from network.alarms.store import MAX_BYTES, AlarmState, alarms_path, parse_alarms, read_alarms

Status = Literal["live", "stale", "unreachable", "never"]

#: The evaluator runs a round every 2 s, each probe waiting at most 2 s: an evaluation older than this missed
#: several rounds in a row.
STALE_AFTER_S = 15.0
#: Seconds the explorer waits for the endpoint, which answers from memory.
TIMEOUT_S = 2.0
#: The longest ``stale_after`` taken: a day. Alarms a day old are no live view of anything.
MAX_STALE_AFTER_S = 86_400.0


class StaleAfterError(ExplorerError, ValueError):
    """A stale threshold that is not a number of seconds above 0 and at most :data:`MAX_STALE_AFTER_S`."""


def stale_after(value: object) -> float:
    """``value`` (a number, or its text as given on the command line) as a stale threshold in seconds, or
    :class:`StaleAfterError` saying what is wrong with it: not a number, not finite, 0 or below, over a day."""
    if isinstance(value, bool):
        raise StaleAfterError(f"stale threshold {value!r}: give a number of seconds, e.g. 15")
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StaleAfterError(f"stale threshold {value!r}: give a number of seconds, e.g. 15") from None
    if not math.isfinite(seconds):
        raise StaleAfterError(f"stale threshold {value!r}: give a finite number of seconds, e.g. 15")
    if seconds <= 0:
        raise StaleAfterError(
            f"stale threshold {value!r}: give a number of seconds above 0 (the evaluator runs every 2 s; "
            "the default is 15)"
        )
    if seconds > MAX_STALE_AFTER_S:
        raise StaleAfterError(f"stale threshold {value!r}: at most {MAX_STALE_AFTER_S:g} seconds (a day)")
    return seconds


@dataclass(frozen=True, slots=True)
class AlarmView:
    status: Status
    source: Literal["endpoint", "file"]
    evaluated_ms: int | None
    active: tuple[Alarm, ...] | None
    resolved: tuple[Alarm, ...] | None
    #: How long ago the alarms were evaluated, by the explorer's clock (None: never).
    age_ms: int | None
    stale_after_ms: int
    error: str | None = None

    def to_json(self, shown: Callable[[Alarm], bool]) -> dict[str, Any]:
        """The answer of ``GET /api/v1/alarms``, with only the alarms ``shown`` lets through."""
        return {
            "status": self.status,
            "source": self.source,
            "evaluated_ms": self.evaluated_ms,
            "age_ms": self.age_ms,
            "stale_after_ms": self.stale_after_ms,
            "error": self.error,
            "active": None if self.active is None else [a.to_json() for a in self.active if shown(a)],
            "resolved": None if self.resolved is None else [a.to_json() for a in self.resolved if shown(a)],
        }


class _Freshness:
    def __init__(self, source: Literal["endpoint", "file"], clock: Callable[[], float], seconds: float) -> None:
        self.source, self.clock, self.stale_after = source, clock, stale_after(seconds)

    def view(self, state: AlarmState | None, error: str | None = None) -> AlarmView:
        """The view of ``state`` now; with ``error``, the source is unreachable and ``state`` is its last answer."""
        stale_after_ms = int(self.stale_after * 1000)
        if state is None:
            return AlarmView("unreachable", self.source, None, None, None, None, stale_after_ms, error)
        if state.evaluated_ms is None:
            status: Status = "unreachable" if error else "never"
            return AlarmView(status, self.source, None, None, None, None, stale_after_ms, error)
        age_ms = max(0, int(self.clock() * 1000) - state.evaluated_ms)
        status = "unreachable" if error is not None else "stale" if age_ms > stale_after_ms else "live"
        return AlarmView(
            status, self.source, state.evaluated_ms, state.active, state.resolved, age_ms, stale_after_ms, error
        )


class EndpointAlarms:
    """The alarms ``consortium up`` serves at ``url``, asked with ``token`` (``DIR/alarms/api.token``) at each
    read; the last good answer is kept for when the endpoint stops answering. For an https ``url``, ``tls`` is
    the client context: the CAs the endpoint's certificate is checked against and the client certificate
    presented (mutual TLS)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        clock: Callable[[], float] = time.time,
        stale_after: float = STALE_AFTER_S,
        timeout: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self._fresh = _Freshness("endpoint", clock, stale_after)
        auth = {"Authorization": f"Bearer {token}"}
        if transport is not None:  # a test's in memory
            self._http = httpx.Client(timeout=timeout, headers=auth, transport=transport, trust_env=False)
        else:  # the operator's certificate re-issued (a CA rotated): new connections present it (chain.tlsclient)
            verify: ssl.SSLContext | bool = tls if tls is not None else True
            self._http = tls_client(verify, timeout=timeout, headers=auth, trust_env=False)
        self._last: AlarmState | None = None

    def read(self) -> AlarmView:
        try:
            state = self._fetch()
        except _UnusableError as exc:
            return self._fresh.view(self._last, f"alarm source unreachable: {exc}")
        self._last = state
        return self._fresh.view(state)

    def _fetch(self) -> AlarmState:
        try:
            response = self._http.get(self.url)
        except httpx.HTTPError as exc:
            raise _UnusableError(f"{self.url}: {type(exc).__name__}: {str(exc) or 'no answer'}") from exc
        if response.status_code != 200:
            raise _UnusableError(f"{self.url} answered {response.status_code}: {response.text[:200]}")
        if len(response.content) > MAX_BYTES:
            raise _UnusableError(f"{self.url} answered over {MAX_BYTES} bytes")
        try:
            return parse_alarms(response.content, self.url)
        except MalformedError as exc:
            raise _UnusableError(str(exc)) from exc

    def close(self) -> None:
        self._http.close()


class FileAlarms:
    """The alarms of ``DIR/alarms/alarms.json``, read at each request."""

    def __init__(
        self, directory: Path, *, clock: Callable[[], float] = time.time, stale_after: float = STALE_AFTER_S
    ) -> None:
        self.directory = directory
        self._fresh = _Freshness("file", clock, stale_after)

    def read(self) -> AlarmView:
        try:
            state = read_alarms(self.directory)
        except (MalformedError, OSError) as exc:
            return self._fresh.view(None, f"alarm source unreachable: {alarms_path(self.directory)}: {exc}")
        return self._fresh.view(state)

    def close(self) -> None:
        pass


AlarmSource = EndpointAlarms | FileAlarms


class _UnusableError(ExplorerError):
    """The endpoint gave no usable answer (internal: it never leaves this module)."""
