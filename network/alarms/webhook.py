"""The webhook: each transition of an alarm POSTed as one JSON document, without ever holding up the evaluator.

The document (``FORMAT``, docs/alarms.md)::

    {"format": "consortium-ledger/alarm/v1", "consortium": "<name>", "transition": "fired|changed|resolved",
     "time_ms": <when the transition was seen>, "alarm": {"id", "rule", "severity", "subject", "org",
     "summary", "since_ms", "resolved_ms"}}

:meth:`WebhookSender.send` only queues (a bounded queue: when it is full the oldest document is dropped and
counted). One thread delivers them in order; a delivery that fails (no answer, or a status other than 2xx) is
retried after ``backoff_initial`` seconds, doubling up to ``backoff_max``, at most ``attempts`` times, then
dropped and counted. The wait between attempts is interrupted by :meth:`close`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any, TypedDict

import httpx

from network.alarms.book import Kind, Transition

log = logging.getLogger("network.alarms")

FORMAT = "consortium-ledger/alarm/v1"
QUEUE_SIZE = 1000
ATTEMPTS = 8


class AlarmDocumentJSON(TypedDict):
    """The webhook's document (``FORMAT``): one transition of one alarm."""

    format: str
    consortium: str
    transition: Kind
    time_ms: int
    alarm: dict[str, object]


class WebhookStatus(TypedDict):
    url: str
    queued: int
    delivered: int
    dropped: int


def alarm_document(consortium: str, transition: Transition) -> AlarmDocumentJSON:
    """The webhook's JSON document of ``transition``: the alarm's fields of the format, its summary in English (the
    summary's code and parameters, for a page's words, are the explorer's, not the format's)."""
    alarm = {k: v for k, v in transition.alarm.to_json().items() if k not in ("summary_code", "summary_params")}
    return {
        "format": FORMAT,
        "consortium": consortium,
        "transition": transition.kind,
        "time_ms": int(transition.at * 1000),
        "alarm": alarm,
    }


class WebhookSender:
    """Delivers documents to ``url`` from its own thread; see the module's rules."""

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = QUEUE_SIZE,
        attempts: int = ATTEMPTS,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._queue: queue.Queue[Mapping[str, Any]] = queue.Queue(queue_size)
        self._client = httpx.Client(timeout=timeout)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alarm-webhook", daemon=True)
        self.delivered = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        self._client.close()

    def send(self, document: Mapping[str, Any]) -> None:
        """Queue ``document``; never blocks. A full queue drops its oldest document."""
        while True:
            try:
                self._queue.put_nowait(document)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self._count_drop("the queue is full")
                except queue.Empty:
                    pass

    def status(self) -> WebhookStatus:
        return {"url": self.url, "queued": self._queue.qsize(), "delivered": self.delivered, "dropped": self.dropped}

    def _count_drop(self, why: str) -> None:
        with self._lock:
            self.dropped += 1
        log.warning("alarm document dropped: %s", why)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                document = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(document)

    def _deliver(self, document: Mapping[str, Any]) -> None:
        delay = self.backoff_initial
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._client.post(self.url, json=document)
                if 200 <= response.status_code < 300:
                    with self._lock:
                        self.delivered += 1
                    return
                why = f"status {response.status_code}"
            except httpx.HTTPError as exc:
                why = f"{exc.__class__.__name__}: {exc}"
            if attempt == self.attempts or self._stop.wait(delay):
                self._count_drop(f"{self.url} refused it {attempt} time(s), last: {why}")
                return
            log.info("alarm webhook %s failed (%s); retrying in %g s", self.url, why, delay)
            delay = min(delay * 2, self.backoff_max)
