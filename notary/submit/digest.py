"""Salted digests of requests and responses: what an event says about a payload without revealing it.

Each event's salt comes from the provider's salt vault (``notary.submit.vault``): HKDF-SHA256 of the epoch key
of the event's UTC day, with the event id in ``info``, so one event's salt can be revealed to an auditor and one
day's destroyed on their own (events of schema version 2). Events of version 1 were salted with one salt per
gateway, derived from its Ed25519 private key with HKDF-SHA256 (:func:`derive_salt`, ``info`` below), which
stays with the firm and is destroyed only with that key; they still check with it. A digest is HMAC-SHA256 under
the salt, over:

- a request: ``method ‖ "\\n" ‖ target ‖ "\\n" ‖ hex(SHA-256(body))``, the target being the path with its
  query string exactly as received;
- a response: ``status ‖ "\\n" ‖ hex(SHA-256(body))``.

Under the national suite (``sm``, ``docs/national-suite.md``) events are of schema version 3 and every hash above
is SM3: the salt is HKDF with HMAC-SM3, the digest HMAC-SM3 (RFC 2104 over SM3, 64-byte blocks) and the bodies
are hashed with SM3. The version in the entry names the hash (:data:`DIGEST_HASHES`), so a verifier reads it from
the event and never from the provider's word.

Hashing the body first lets the gateway digest a streamed body chunk by chunk. The firm can later prove that a
given payload is the one an event describes by revealing the event's salt to an auditor, or erase that link for
good by destroying the epoch key; no proof in the log depends on the salt.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from notary.log.errors import MalformedError

SALT_INFO = b"consortium-ledger/digest-salt/v1"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
EMPTY_BODY_SM3 = hashlib.new("sm3", b"").hexdigest()
#: The event schema version of events salted with the gateway's one key-derived salt.
GATEWAY_SALT_VERSION: Final = 1
#: The event schema version of events salted from a vault with HKDF-SM3 and digested with HMAC-SM3 (``sm``).
SM3_EVENT_VERSION: Final = 3
#: The hash (a ``hashlib`` name) of each event schema version's salts, digests and body hashes.
DIGEST_HASHES: Final = {1: "sha256", 2: "sha256", SM3_EVENT_VERSION: "sm3"}


class DigestSalts(Protocol):
    """Where a recorder takes each event's salt, and the event schema version that says which scheme it is."""

    @property
    def version(self) -> int: ...

    def salt(self, event_id: str, time_ms: int) -> bytes: ...


class GatewaySalt:
    """The version 1 scheme: one salt for every event of a gateway (:func:`derive_salt`)."""

    version: Final = GATEWAY_SALT_VERSION

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def salt(self, event_id: str, time_ms: int) -> bytes:
        return self._salt


class RawPrivateKey(Protocol):
    """A private key that gives its raw bytes: an Ed25519 key, or an SM2 key (its 32-byte scalar)."""

    def private_bytes_raw(self) -> bytes: ...


def derive_salt(key: RawPrivateKey) -> bytes:
    """The gateway's 32-byte digest salt of version 1 events, derived from its signing key (an SM2 key under ``sm``
    gives its scalar)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SALT_INFO).derive(key.private_bytes_raw())


def digest_hash(version: int) -> str:
    """The hash of the digests of an event of schema ``version``: ``sha256`` or ``sm3``."""
    try:
        return DIGEST_HASHES[version]
    except KeyError:
        raise MalformedError(f"no digest scheme for event schema version {version}") from None


def body_digest(body: bytes, hash_name: str = "sha256") -> str:
    """The hex hash of a request or response body that a digest's message holds."""
    return hashlib.new(hash_name, body).hexdigest()


def request_digest(salt: bytes, method: str, target: str, body_hash_hex: str, hash_name: str = "sha256") -> str:
    message = f"{method}\n{target}\n{body_hash_hex}".encode()
    return hmac.new(salt, message, hash_name).hexdigest()


def response_digest(salt: bytes, status: int, body_hash_hex: str, hash_name: str = "sha256") -> str:
    return hmac.new(salt, f"{status}\n{body_hash_hex}".encode(), hash_name).hexdigest()
