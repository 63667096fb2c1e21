"""The explorer's own audit (``explorer.audit``) records its queries under the consortium's suite: under ``sm``,
events of schema version 3, HKDF-SM3 salts and HMAC-SM3 digests over SM3 body hashes, as the gateway's; under
``intl`` version 2 with SHA-256, as before."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gmssl_pyx import sm3_hmac

from explorer.audit import AuditRecorder
from tests.support.sm3_reference import sm3

ANSWER = b'{"calls": []}'
TARGET = "/api/v1/calls?limit=1"


@pytest.mark.parametrize(("suite", "version"), [("intl", 2), ("sm", 3)], ids=["intl", "sm"])
def test_the_explorers_events_are_digested_with_the_consortiums_suite(tmp_path: Path, suite: str, version: int) -> None:
    recorder = AuditRecorder(
        tmp_path / "audit.outbox.db", "alpha", "http://127.0.0.1:9", Ed25519PrivateKey.generate(), b"pass", suite=suite
    )
    try:
        query = recorder.begin(
            "beta", "ab" * 32, "calls.search", "GET", "/api/v1/calls", TARGET, "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
        )
        body_hash = hashlib.new(recorder.hash_name, ANSWER).hexdigest()  # as the middleware hashes the answer
        event = recorder.event(query, 200, body_hash)
        salt = recorder.vault.reveal(query.event_id, query.time_ms)
    finally:
        recorder.close()
    assert event["v"] == version
    request, response = f"GET\n{TARGET}\n", "200\n"
    if suite == "sm":
        assert recorder.hash_name == "sm3"
        assert event["request_digest"] == sm3_hmac(salt, (request + sm3(b"").hex()).encode()).hex()
        assert event["response_digest"] == sm3_hmac(salt, (response + sm3(ANSWER).hex()).encode()).hex()
    else:
        assert recorder.hash_name == "sha256"
        empty, answer = hashlib.sha256(b"").hexdigest(), hashlib.sha256(ANSWER).hexdigest()
        assert event["request_digest"] == hmac.new(salt, (request + empty).encode(), hashlib.sha256).hexdigest()
        assert event["response_digest"] == hmac.new(salt, (response + answer).encode(), hashlib.sha256).hexdigest()
