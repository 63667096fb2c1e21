"""Salted digests of requests and responses: what an event says about a payload without revealing it.

The salt is derived from the gateway's Ed25519 private key with HKDF-SHA256 (``info`` below), so it needs no
storage of its own, stays with the firm that runs the gateway, and is destroyed with that key. A digest is
HMAC-SHA256 under the salt, over:

- a request: ``method ‖ "\\n" ‖ target ‖ "\\n" ‖ hex(SHA-256(body))``, the target being the path with its
  query string exactly as received;
- a response: ``status ‖ "\\n" ‖ hex(SHA-256(body))``.

Hashing the body first lets the gateway digest a streamed body chunk by chunk. The firm can later prove that a
given payload is the one an event describes by revealing the salt to an auditor, or erase that link for good by
destroying the key; no proof in the log depends on the salt.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SALT_INFO = b"consortium-ledger/digest-salt/v1"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def derive_salt(key: Ed25519PrivateKey) -> bytes:
    """The gateway's 32-byte digest salt, derived from its signing key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SALT_INFO).derive(key.private_bytes_raw())


def request_digest(salt: bytes, method: str, target: str, body_sha256_hex: str) -> str:
    message = f"{method}\n{target}\n{body_sha256_hex}".encode()
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


def response_digest(salt: bytes, status: int, body_sha256_hex: str) -> str:
    return hmac.new(salt, f"{status}\n{body_sha256_hex}".encode(), hashlib.sha256).hexdigest()
