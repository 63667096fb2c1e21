"""Reveal documents: one event's digest salt, handed by the provider to an auditor, and the auditor's check that
a payload is the one the event's digests describe.

A reveal document is JSON::

    {"format": "consortium-ledger/salt-reveal/v1",
     "event_id": ..., "provider_org": ..., "gateway_id": ..., "day": "YYYY-MM-DD",
     "scheme": "epoch-hkdf/v1" | "epoch-hkdf-sm3/v1" | "gateway-key/v1",
     "salt": "<64 hex>",
     "entry": "<the event's log entry, its canonical JSON as text>",
     "request": {"method", "route", "digest", "message"}, "response": {"status", "digest", "message"}}

``request`` and ``response`` repeat what the entry says and how the digest is computed (``message``), for a
reader without this code. The checker trusts nothing but the entry: it recomputes HMAC-SHA256 under the salt over
the payload the auditor holds (HMAC-SM3 over SM3 hashes of the bodies for an event of schema version 3, the
``sm`` suite's: ``epoch-hkdf-sm3/v1``; the entry's version, not the document, says which) and compares with the
entry's digests. Whether the entry is in the log is the
evidence bundle's matter (``consortium verify evidence``); given the bundle, the checker requires the document's
entry to be the bundle's, byte for byte.

A salt of the ``epoch-hkdf/v1`` scheme is HKDF of the day's epoch key with the event id (``notary.submit.vault``),
so it checks that one event and no other. A ``gateway-key/v1`` salt (events of schema version 1) is the recording
gateway's one salt: it checks every version 1 event of that gateway, which is why revealing one needs asking for.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from notary.event import EventJSON, parse_entry
from notary.log.errors import MalformedError
from notary.submit.digest import (
    EMPTY_BODY_SHA256,
    GATEWAY_SALT_VERSION,
    SM3_EVENT_VERSION,
    body_digest,
    digest_hash,
    request_digest,
    response_digest,
)
from notary.submit.vault import EVENT_VERSION, SCHEME_EPOCH, SCHEME_EPOCH_SM3, SCHEME_GATEWAY, epoch_of

FORMAT: Final = "consortium-ledger/salt-reveal/v1"
SCHEMES: Final = {
    GATEWAY_SALT_VERSION: SCHEME_GATEWAY,
    EVENT_VERSION: SCHEME_EPOCH,
    SM3_EVENT_VERSION: SCHEME_EPOCH_SM3,
}
REQUEST_MESSAGE: Final = 'method ‖ "\\n" ‖ target (path and query as received) ‖ "\\n" ‖ hex(SHA-256(request body))'
RESPONSE_MESSAGE: Final = 'status ‖ "\\n" ‖ hex(SHA-256(response body))'
REQUEST_MESSAGE_SM3: Final = 'method ‖ "\\n" ‖ target (path and query as received) ‖ "\\n" ‖ hex(SM3(request body))'
RESPONSE_MESSAGE_SM3: Final = 'status ‖ "\\n" ‖ hex(SM3(response body))'
_MESSAGES: Final = {"sha256": (REQUEST_MESSAGE, RESPONSE_MESSAGE), "sm3": (REQUEST_MESSAGE_SM3, RESPONSE_MESSAGE_SM3)}


def reveal_document(entry: bytes, salt: bytes) -> dict[str, Any]:
    """The reveal document of the event held by ``entry`` (canonical bytes) and its salt."""
    event = parse_entry(entry)
    if len(salt) != 32:
        raise MalformedError("a salt is 32 bytes")
    request_message, response_message = _MESSAGES[digest_hash(event["v"])]
    return {
        "format": FORMAT,
        "event_id": event["event_id"],
        "provider_org": event["provider_org"],
        "gateway_id": event["gateway_id"],
        "day": epoch_of(event["time_ms"]),
        "scheme": SCHEMES[event["v"]],
        "salt": salt.hex(),
        "entry": entry.decode("utf-8"),
        "request": {
            "method": event["method"],
            "route": event["route"],
            "digest": event["request_digest"],
            "message": request_message,
        },
        "response": {"status": event["status"], "digest": event["response_digest"], "message": response_message},
    }


@dataclass(frozen=True, slots=True)
class Revealed:
    """A parsed reveal document: the event, its entry bytes and the salt."""

    event: EventJSON
    entry: bytes
    salt: bytes
    scheme: str

    @classmethod
    def from_json(cls, obj: object) -> Revealed:
        """Parse a reveal document; :class:`MalformedError` names what is wrong. The document's summary fields
        must agree with its entry, which must be a valid event in canonical form."""
        if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
            raise MalformedError(f"not a reveal document ({FORMAT})")
        entry_text, salt_hex = obj.get("entry"), obj.get("salt")
        if not isinstance(entry_text, str):
            raise MalformedError("entry must be the log entry as text")
        entry = entry_text.encode("utf-8")
        event = parse_entry(entry)
        if not isinstance(salt_hex, str) or len(salt_hex) != 64:
            raise MalformedError("salt must be 64 hex digits")
        try:
            salt = bytes.fromhex(salt_hex)
        except ValueError:
            raise MalformedError("salt must be 64 hex digits") from None
        scheme = SCHEMES.get(event["v"])
        for field, expected in (
            ("event_id", event["event_id"]),
            ("provider_org", event["provider_org"]),
            ("gateway_id", event["gateway_id"]),
            ("day", epoch_of(event["time_ms"])),
            ("scheme", scheme),
        ):
            if obj.get(field) != expected:
                raise MalformedError(f"{field} is {obj.get(field)!r} but the entry says {expected!r}")
        assert scheme is not None
        return cls(event, entry, salt, scheme)

    @property
    def hash_name(self) -> str:
        """The hash of the event's salt, digests and body hashes, as its schema version says: ``sha256`` or
        ``sm3``."""
        return digest_hash(self.event["v"])

    def body_hash(self, body: bytes) -> str:
        """The hex hash of a request or response body as the event's digests cover it (SHA-256, or SM3)."""
        return body_digest(body, self.hash_name)

    def request_matches(self, target: str, body_hash_hex: str | None = None) -> bool:
        """Whether the request ``method target body`` is the one the event's request digest describes;
        ``body_hash_hex`` is :meth:`body_hash` of the body (by default of an empty one)."""
        body_hex = self.body_hash(b"") if body_hash_hex is None else body_hash_hex
        found = request_digest(self.salt, self.event["method"], target, body_hex, self.hash_name)
        return hmac.compare_digest(found, self.event["request_digest"])

    def response_matches(self, body_hash_hex: str) -> bool | None:
        """Whether the response body (:meth:`body_hash` of it) with the event's status is the one its response
        digest describes; None when the event has no response digest (the gateway never saw a response)."""
        recorded = self.event["response_digest"]
        if recorded is None:
            return None
        found = response_digest(self.salt, self.event["status"], body_hash_hex, self.hash_name)
        return hmac.compare_digest(found, recorded)


def body_sha256(body: bytes) -> str:
    """The SHA-256 hex of a body, as events of schema versions 1 and 2 cover it (:meth:`Revealed.body_hash` follows
    the event's version)."""
    return hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
