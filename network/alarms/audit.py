"""Every alarm in the audit log: each transition (fired, changed, resolved) recorded as an event in the notary's
log, so that a regulator can later prove which alarm fired when, and that the record was not written after the
fact (it is sequenced, witnessed and anchored like any call).

**Who records, with which key.** The evaluator runs in ``consortium up``, the operator's process; it records as
the explorer records people's queries (``explorer.audit``): a durable outbox of its own
(``DIR/alarms/audit.outbox.db``, ``notary.submit.outbox``), shipped in batches signed with the operator's
gateway key (``notary.submit.shipper``) as gateway ``<operator>/alarms``, with its own sequence numbers, and
each event's digest salt from a salt vault of the operator beside it (``DIR/alarms/vault``,
``network.shredding.alarms_vault``), which ``consortium data reveal`` and ``data shred`` find.

**The record** (layout ``v1``, docs/alarms.md "In the audit log"): an event of the one schema
(``notary.event``), of the kind ``notary.event.is_alarm_record``:

- ``center`` ``alarms``, ``unit`` the rule (``witness-quorum``), ``api`` ``<transition>.<severity>``
  (``fired.critical``), ``method`` ``POST``, ``route`` ``/alarm/v1/<alarm id>`` (``v1`` is this layout's
  version; a later layout changes it);
- ``caller_org`` the firm whose component the alarm is about, the operator for consortium-wide subjects
  (witnesses, chain, notary); ``caller_identity`` the SHA-256 of the subject (``witness/alpha``), its SM3 in
  a version 3 record (an ``sm`` consortium's);
  ``provider_org`` the operator; so the record's parties (``notary.event.parties``) are that firm and the
  operator, and the regulator reads every record;
- ``time_ms`` when the evaluator saw the transition; no asset, no grant, ``decision`` ``allow``, ``status`` 200,
  ``latency_us`` 0;
- ``request_digest`` the salted digest of the webhook's document of the transition (``network.alarms.webhook``,
  which holds the summary and ``since_ms``): the summary stays off the log, and revealing the event's salt
  proves a kept document (``DIR/alarms/transitions.jsonl``) is the one recorded. ``response_digest`` null.

**Never in the alarm loop's way.** :meth:`AlarmRecorder.record` only queues the event for the outbox's writer
(a local disk; the notary is not asked) and returns; the shipper sends from its own thread and, while the notary
is down, keeps the events and tries again, backing off, so a notary that is down (the ``notary-down`` alarm
itself) loses no record. The outbox is bounded (``max_pending``): beyond it a record is refused, counted in
``dropped`` and logged as an error, rather than the disk filling; at the default a transition a second would
take more than a day to reach it. Events are on disk before they are shipped, so they survive a restart of
``up`` too.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from network.alarms.book import Transition
from notary.event import ALARM_CENTER, UnsequencedEvent, caller_identity
from notary.logsuite import PrivateKey
from notary.submit.digest import DigestSalts, body_digest, digest_hash, request_digest
from notary.submit.outbox import Outbox
from notary.submit.shipper import Shipper, ShipperStatus
from notary.tracecontext import new_traceparent

if TYPE_CHECKING:
    from chain.trustview import TrustView

log = logging.getLogger("network.alarms")

#: The layout of the record in the event's fields; its route carries it.
LAYOUT: Final = "v1"
ROUTE_PREFIX: Final = f"/alarm/{LAYOUT}/"
METHOD: Final = "POST"
OUTBOX_FILE: Final = "audit.outbox.db"
#: Records waiting for the notary at most; beyond it a record is dropped and counted.
MAX_PENDING: Final = 100_000


def document_hash(document: Mapping[str, Any], hash_name: str = "sha256") -> str:
    """The hash of a webhook document in canonical JSON (sorted keys, no whitespace, UTF-8): what the event's
    request digest covers. SHA-256, or SM3 for the events of an ``sm`` consortium (schema version 3), as the
    gateway hashes bodies (``notary.submit.digest``)."""
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body_digest(data, hash_name)


def alarm_event(
    transition: Transition,
    document: Mapping[str, Any],
    operator: str,
    salts: DigestSalts,
    *,
    event_id: str | None = None,
    traceparent: str | None = None,
) -> UnsequencedEvent:
    """The event (without ``gateway_seq``, which the outbox assigns) recording ``transition``, whose webhook
    document is ``document``; see the module's layout."""
    alarm = transition.alarm
    event_id = event_id or str(uuid.uuid4())
    time_ms = int(transition.at * 1000)
    route = ROUTE_PREFIX + alarm.id
    salt = salts.salt(event_id, time_ms)
    hash_name = digest_hash(salts.version)
    return {
        "v": salts.version,
        "event_id": event_id,
        "traceparent": traceparent or new_traceparent(),
        "time_ms": time_ms,
        "caller_org": alarm.org or operator,
        "caller_identity": caller_identity(alarm.subject.encode("utf-8"), salts.version),
        "provider_org": operator,
        "center": ALARM_CENTER,
        "unit": alarm.rule,
        "api": f"{transition.kind}.{alarm.severity}",
        "method": METHOD,
        "route": route,
        "asset_id": None,
        "asset_version": None,
        "grant_id": None,
        "decision": "allow",
        "denial_reason": None,
        "request_digest": request_digest(salt, METHOD, route, document_hash(document, hash_name), hash_name),
        "response_digest": None,
        "status": 200,
        "latency_us": 0,
        "gateway_id": f"{operator}/{ALARM_CENTER}",
    }


class AlarmRecorderStatus(ShipperStatus):
    """What :meth:`AlarmRecorder.status` reports: the gateway id it records as, the transitions recorded and
    dropped, the events its outbox has not shipped, and its shipper's status."""

    gateway: str
    recorded: int
    dropped: int
    pending: int


class AlarmRecorder:
    """Records transitions as events of gateway ``<operator>/alarms`` in the outbox at ``outbox_path`` and ships
    them to ``notary_url`` signed with ``key`` (the operator's gateway key), or with the key ``next_key`` gives once
    it gives one (the operator's rotated gateway key, valid on chain: ``network.gatewaykeys.following_gateway_key``),
    over ``notary_tls`` for an https notary; see the module."""

    def __init__(
        self,
        outbox_path: Path,
        operator: str,
        notary_url: str,
        key: PrivateKey,
        salts: DigestSalts,
        *,
        max_pending: int = MAX_PENDING,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        notary_tls: ssl.SSLContext | None = None,
        next_key: Callable[[], PrivateKey | None] | None = None,
        follows: TrustView | None = None,
    ) -> None:
        self.operator = operator
        self.follows = follows  # the trust view ``next_key`` reads, started by the caller, stopped on close
        self.gateway_id = f"{operator}/{ALARM_CENTER}"
        self.salts = salts
        self.outbox = Outbox(outbox_path, self.gateway_id, max_pending=max_pending)
        self.shipper = Shipper(
            self.outbox, notary_url, self.gateway_id, key,
            backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s, tls=notary_tls, next_key=next_key,
        )  # fmt: skip
        self._lock = threading.Lock()
        self.recorded = 0  # committed to the outbox
        self.dropped = 0  # refused by the outbox (full, invalid, closed) or failed to build

    def start(self) -> None:
        self.outbox.start()
        self.shipper.start()

    def close(self) -> None:
        """Stop shipping and close the outbox; records not yet shipped stay in it for the next start."""
        self.shipper.stop()
        self.outbox.close()
        if self.follows is not None:
            self.follows.stop()

    def record(self, transition: Transition, document: Mapping[str, Any]) -> str | None:
        """Queue the record of ``transition``, whose webhook document is ``document``; its event id, or None if
        the event could not even be built. Never blocks on the notary and never raises: a record the outbox
        refuses (full, closed, a disk that fails) is counted in ``dropped`` and logged when the writer says so."""
        try:
            event = alarm_event(transition, document, self.operator, self.salts)
            future = self.outbox.append(event)
        except Exception as exc:  # a salt vault that fails, say: the alarm loop goes on, the loss is counted
            self._dropped(transition, exc)
            return None
        future.add_done_callback(lambda f: self._committed(transition, f))
        return event["event_id"]

    def _committed(self, transition: Transition, future: concurrent.futures.Future[int]) -> None:
        exc = future.exception()
        if exc is not None:
            self._dropped(transition, exc)
            return
        with self._lock:
            self.recorded += 1

    def _dropped(self, transition: Transition, exc: BaseException) -> None:
        with self._lock:
            self.dropped += 1
        log.error("alarm %s %s not recorded in the audit log: %s", transition.kind, transition.alarm.id, exc)

    def status(self) -> AlarmRecorderStatus:
        stats = self.outbox.stats()
        with self._lock:
            recorded, dropped = self.recorded, self.dropped
        return {
            "gateway": self.gateway_id,
            "recorded": recorded,
            "dropped": dropped,
            "pending": stats.pending,
            **self.shipper.status(),
        }
