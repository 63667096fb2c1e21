"""Audit the auditor: every query a person makes in the explorer becomes an event in the audit log.

The explorer records like a gateway does (``docs/gateway.md``): an event per request, numbered in a durable
outbox (``notary.submit.outbox``), shipped in signed batches to the notary (``notary.submit.shipper``),
sequenced, witnessed and anchored like any call. The explorer is the operator's service, so its events carry
``provider_org`` = the operator, ``gateway_id`` = ``<operator>/explorer``, ``center`` = ``unit`` = ``explorer``
and ``api`` = the endpoint's name (``calls.search``, ``calls.provenance``, ...). Such a query is
authorised by the role in the person's certificate, not by a grant, so an allowed one names no grant
(``notary.event.is_ledger_query``). The caller is the person's firm
and ``caller_identity`` the SHA-256 of their certificate (its SM3 under ``sm``, in version 3 events); request
and response are recorded only as salted digests (``notary.submit.digest``), each event's salt from the
explorer's own salt vault of the operator (``vault/`` beside the outbox, ``notary.submit.vault``), as a gateway's:
one event's salt can be revealed and one day's destroyed (``consortium data reveal``, ``consortium data shred``).
A request the explorer refuses is recorded with ``decision = deny`` and the reason (``not_found``, ``read_only``,
``invalid_request``, ``rate_limited``), so probing shows in the log too. Requests without valid credentials have
no person to attribute and are only logged.

The operator is the recorded provider only because it runs the service: a query is seen by the querying firm's
people and the regulator, never by the operator's people unless their firm made it (``explorer.access.sees_call``,
``docs/explorer.md``). A query that answered the detail of one firm's data names that firm in ``subject`` (a call:
its parties; a grant: grantor and grantee; an asset: its owner; a report: its org; ``name_subject``, set by the
route once it has decided the person may see what it answers, so a refused probe names nobody). Under the
consortium's ``audit`` policy the firm then sees the regulator's queries of its data (``notary.event.parties``).
Searches, lists and exports name no subject: one event naming every firm whose rows a regulator's search returned
would show each of them the others.

The response's last body chunk is held back until the event is committed, as the gateway does: a person never
receives an answer whose query is not on record.
"""

from __future__ import annotations

import logging
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notary.event import LEDGER_QUERY_CENTER, MAX_SUBJECTS, UnsequencedEvent
from notary.submit.digest import body_digest, digest_hash, request_digest, response_digest
from notary.submit.outbox import Outbox
from notary.submit.shipper import Shipper, ShipperStatus
from notary.submit.vault import GatewayKey, SaltVault

log = logging.getLogger("explorer.audit")

NAME = LEDGER_QUERY_CENTER
#: The explorer's salt vault, beside its audit outbox.
VAULT_DIR = "vault"
#: HTTP status → the denial reason recorded for a refused query.
DENIALS = {
    400: "invalid_request",
    403: "read_only",
    404: "not_found",
    405: "read_only",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limited",
}


@dataclass(slots=True)
class Query:
    """One request being answered: what the recorder needs to know of it."""

    org: str
    identity: str
    api: str
    method: str
    route: str
    target: str
    traceparent: str
    started_ns: int
    time_ms: int
    event_id: str
    #: The firms whose data the answer holds (``name_subject``); empty for a query that read no one firm's data.
    subject: tuple[str, ...] = ()


#: Where the query being answered is kept in the ASGI scope's state, for :func:`name_subject`.
SCOPE_KEY = "audit_query"


def name_subject(scope: MutableMapping[str, Any], orgs: Iterable[str]) -> None:
    """Record in the query being answered (if it is recorded) that its answer holds the data of ``orgs``. A route
    calls it only after deciding that the person may see that data: a query refused as not found names no one."""
    query = scope.get("state", {}).get(SCOPE_KEY)
    if isinstance(query, Query):
        query.subject = tuple(sorted(set(query.subject) | set(orgs)))[:MAX_SUBJECTS]


class RecorderStatus(ShipperStatus):
    """What :meth:`AuditRecorder.status` reports, in the explorer's health as ``audit``: the gateway id it records
    as, the queries recorded, the events its outbox has not shipped, and its shipper's status."""

    gateway: str
    recorded: int
    pending: int


class AuditRecorder:
    """Records queries as events of gateway ``<operator>/explorer`` and ships them to ``notary_url`` (an https one
    with ``notary_tls``, the TLS client context), signed with ``key``, or with the key ``next_key`` gives once it
    gives one (``network.gatewaykeys.following_gateway_key``: the operator's rotated gateway key, valid on chain)."""

    def __init__(
        self,
        outbox_path: Path,
        operator: str,
        notary_url: str,
        key: GatewayKey,
        passphrase: bytes,
        *,
        suite: str = "intl",
        notary_tls: ssl.SSLContext | None = None,
        next_key: Callable[[], GatewayKey | None] | None = None,
    ) -> None:
        self.gateway_id = f"{operator}/{NAME}"
        self.operator = operator
        vault_dir = outbox_path.parent / VAULT_DIR
        self.vault = SaltVault.open(vault_dir, operator, passphrase, legacy_key=key, suite=suite)
        #: The hash of the events' digests and of the bodies they cover: SHA-256, or SM3 under ``sm``.
        self.hash_name = digest_hash(self.vault.version)
        self.outbox = Outbox(outbox_path, self.gateway_id)
        # with ``next_key`` (the operator's key file followed on chain), a rotated key is signed with once valid
        self.shipper = Shipper(self.outbox, notary_url, self.gateway_id, key, tls=notary_tls, next_key=next_key)
        self.recorded = 0

    def start(self) -> None:
        self.outbox.start()
        self.shipper.start()

    def close(self) -> None:
        self.shipper.stop()
        self.outbox.close()

    def begin(self, org: str, identity: str, api: str, method: str, route: str, target: str, trace: str) -> Query:
        return Query(
            org=org,
            identity=identity,
            api=api,
            method=method,
            route=route,
            target=target,
            traceparent=trace,
            started_ns=time.perf_counter_ns(),
            time_ms=int(time.time() * 1000),
            event_id=str(uuid.uuid4()),
        )

    def event(self, query: Query, status: int, body_hash: str) -> UnsequencedEvent:
        """The event of ``query`` answered with ``status`` and a body whose hash (:attr:`hash_name`) is
        ``body_hash``."""
        denied = status >= 400
        salt = self.vault.salt(query.event_id, query.time_ms)
        event: UnsequencedEvent = {
            "v": self.vault.version,
            "event_id": query.event_id,
            "traceparent": query.traceparent,
            "time_ms": query.time_ms,
            "caller_org": query.org,
            "caller_identity": query.identity,
            "provider_org": self.operator,
            "center": NAME,
            "unit": NAME,
            "api": query.api,
            "method": query.method,
            "route": query.route,
            "asset_id": None,
            "asset_version": None,
            "grant_id": None,
            "decision": "deny" if denied else "allow",
            "denial_reason": DENIALS.get(status, "refused") if denied else None,
            "request_digest": request_digest(
                salt, query.method, query.target, body_digest(b"", self.hash_name), self.hash_name
            ),
            "response_digest": response_digest(salt, status, body_hash, self.hash_name),
            "status": status,
            "latency_us": (time.perf_counter_ns() - query.started_ns) // 1000,
            "gateway_id": self.gateway_id,
        }
        if query.subject and not denied:
            event["subject"] = ",".join(query.subject)
        return event

    async def record(self, query: Query, status: int, body_hash: str) -> None:
        """Commit the event of ``query``; returns once it is durable in the outbox."""
        await self.outbox.append_async(self.event(query, status, body_hash))
        self.recorded += 1

    def status(self) -> RecorderStatus:
        stats = self.outbox.stats()
        return {
            "gateway": self.gateway_id,
            "recorded": self.recorded,
            "pending": stats.pending,
            **self.shipper.status(),
        }
