"""Salts and digests under the national suite (``sm``, event schema version 3): HMAC-SM3 against the published
vectors and two implementations that share no code with OpenSSL's, HKDF-SM3 against RFC 5869 written out over
them, the vault salting for version 3, reveal documents that follow the entry's version, and the refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gmssl_pyx import sm3_hmac

from notary.event import validate_event
from notary.log.errors import MalformedError
from notary.submit.digest import (
    EMPTY_BODY_SM3,
    SM3_EVENT_VERSION,
    body_digest,
    digest_hash,
    request_digest,
    response_digest,
)
from notary.submit.reveal import (
    REQUEST_MESSAGE,
    REQUEST_MESSAGE_SM3,
    RESPONSE_MESSAGE_SM3,
    Revealed,
    body_sha256,
    reveal_document,
)
from notary.submit.vault import (
    EVENT_SALT_INFO,
    EVENT_VERSION,
    SaltVault,
    VaultError,
    _expand,
    _extract,
    epoch_of,
    event_salt,
)
from tests.support.notary_events import event
from tests.support.sm3_reference import sm3

NOON = int(datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp() * 1000)
TARGET, BODY, ANSWER = "/v1/news/latest?n=3", b'{"q": 1}', b'{"news": []}'

# HMAC-SM3 examples of GM/T 0042-2015 Appendix D.3, as OpenSSL carries them in
# test/recipes/30-test_evp_data/evpmac_sm3.txt (the second also in intel-ipsec-mb's test/kat-app/hmac_sm3.json.c),
# and the two RFC 2202-style inputs of the same OpenSSL file: (key, message, HMAC-SM3).
GMT_0042_VECTORS = (
    (
        bytes(range(1, 33)),
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" * 2,
        "ca05e144ed05d1857840d1f318a4a8669e559fc8391f414485bfdf7bb408963a",
    ),
    (bytes(range(1, 38)), b"\xcd" * 50, "220bf579ded555393f0159f66c99877822a3ecf610d1552154b41d44b94db3ae"),
    (b"\x0b" * 32, b"Hi There", "c0ba18c68b90c88bc07de794bfc7d2c8d19ec31ed8773bc2b390c9604e0be11e"),
    (
        b"Jefe Jeferson Jr",
        b"what do ya want for nothing?",
        "ce791a34c59adef472997a249600f3f244d59e875be04055ba2ae12fc845e78c",
    ),
)


def rfc2104_hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) over the plain-Python SM3 of GB/T 32905: block size 64 bytes, a longer key hashed first."""
    if len(key) > 64:
        key = sm3(key)
    key = key.ljust(64, b"\x00")
    inner = sm3(bytes(b ^ 0x36 for b in key) + message)
    return sm3(bytes(b ^ 0x5C for b in key) + inner)


def rfc5869_hkdf_sm3(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF (RFC 5869) written out over GmSSL's HMAC-SM3: Extract with a salt of HashLen zeros, then Expand."""
    prk = sm3_hmac(bytes(32), ikm)
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = sm3_hmac(prk, block + info + bytes([counter]))
        out, counter = out + block, counter + 1
    return out[:length]


def _entry(ev: dict[str, object]) -> bytes:
    return json.dumps(validate_event(ev), sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(("key", "message", "mac"), GMT_0042_VECTORS, ids=["d3-1", "d3-2", "hi-there", "jefe"])
def test_hmac_sm3_of_the_digests_gives_the_published_values(key: bytes, message: bytes, mac: str) -> None:
    assert hmac.new(key, message, digest_hash(SM3_EVENT_VERSION)).hexdigest() == mac
    assert rfc2104_hmac_sm3(key, message).hex() == mac  # the oracles themselves agree with the standard
    assert sm3_hmac(key, message).hex() == mac


@pytest.mark.parametrize("key_size", [1, 32, 63, 64, 65, 200], ids=lambda n: f"key-{n}")
def test_request_and_response_digests_are_hmac_sm3_as_two_other_implementations_compute_it(key_size: int) -> None:
    # keys around the 64-byte block: padded, exactly one block, hashed first (GmSSL refuses an empty key)
    salt = bytes((7 * i + key_size) % 256 for i in range(key_size))
    body_hex = body_digest(BODY, "sm3")
    assert body_hex == sm3(BODY).hex() == hashlib.new("sm3", BODY).hexdigest()
    message = f"GET\n{TARGET}\n{body_hex}".encode()
    found = request_digest(salt, "GET", TARGET, body_hex, "sm3")
    assert found == rfc2104_hmac_sm3(salt, message).hex() == sm3_hmac(salt, message).hex()
    assert found != request_digest(salt, "GET", TARGET, body_hex)  # the default stays HMAC-SHA256
    answer = response_digest(salt, 200, body_digest(ANSWER, "sm3"), "sm3")
    assert answer == sm3_hmac(salt, f"200\n{sm3(ANSWER).hex()}".encode()).hex()
    assert sm3(b"").hex() == EMPTY_BODY_SM3


def test_the_sm3_salt_is_hkdf_sm3_of_the_epoch_key_and_the_fast_path_agrees() -> None:
    key = bytes(range(32))
    info = EVENT_SALT_INFO + b"e-1"
    salt = event_salt(key, "e-1", "sm3")
    assert salt == rfc5869_hkdf_sm3(key, info) == _expand(_extract(key, "sm3"), "e-1", "sm3")
    assert salt != event_salt(key, "e-1")  # HKDF-SHA256, the intl salt, is another one
    assert event_salt(key, "e-2", "sm3") != salt


def test_an_sm_vault_salts_version_3_events_with_hkdf_sm3_and_reveals_by_the_entrys_version(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    sm = SaltVault.for_gateway_key(tmp_path / "sm", "alpha", key, suite="sm", clock=lambda: NOON / 1000)
    intl = SaltVault.for_gateway_key(tmp_path / "intl", "alpha", key, clock=lambda: NOON / 1000)
    assert (sm.version, intl.version) == (SM3_EVENT_VERSION, EVENT_VERSION) == (3, 2)
    salt = sm.salt("e-1", NOON)
    epoch_key = sm._read(epoch_of(NOON))
    assert epoch_key is not None
    assert salt == rfc5869_hkdf_sm3(epoch_key, EVENT_SALT_INFO + b"e-1") == sm.reveal("e-1", NOON)
    assert sm.reveal("e-1", NOON, 3) == salt
    # the entry says how it was salted, whichever suite the vault was opened for
    assert sm.reveal("e-1", NOON, 2) == event_salt(epoch_key, "e-1")
    intl.salt("e-1", NOON)
    intl_key = intl._read(epoch_of(NOON))
    assert intl_key is not None
    assert intl.reveal("e-1", NOON, 3) == event_salt(intl_key, "e-1", "sm3")
    assert intl.reveal("e-1", NOON) == event_salt(intl_key, "e-1")


def test_refusals_an_unknown_suite_a_version_no_vault_salts_an_unknown_version(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="unknown suite 'gm'"):
        SaltVault.for_gateway_key(tmp_path, "alpha", key, suite="gm")
    vault = SaltVault.for_gateway_key(tmp_path, "alpha", key, suite="sm", clock=lambda: NOON / 1000)
    vault.salt("e-1", NOON)
    with pytest.raises(VaultError, match="version 1 are not salted from a vault"):
        vault.reveal("e-1", NOON, 1)
    with pytest.raises(MalformedError, match="no digest scheme for event schema version 4"):
        digest_hash(4)


def _sm_event(salt: bytes, hash_name: str = "sm3") -> dict[str, object]:
    ev = event(v=3, time_ms=NOON)
    ev["request_digest"] = request_digest(salt, "GET", TARGET, body_digest(BODY, hash_name), hash_name)
    ev["response_digest"] = response_digest(salt, 200, body_digest(ANSWER, hash_name), hash_name)
    return ev


def test_a_version_3_reveal_names_sm3_and_checks_the_payload_with_hmac_sm3() -> None:
    salt = os.urandom(32)
    entry = _entry(_sm_event(salt))
    document = reveal_document(entry, salt)
    assert document["scheme"] == "epoch-hkdf-sm3/v1"
    assert (document["request"]["message"], document["response"]["message"]) == (
        REQUEST_MESSAGE_SM3,
        RESPONSE_MESSAGE_SM3,
    )
    assert "SM3(request body)" in REQUEST_MESSAGE_SM3 and "SHA-256" in REQUEST_MESSAGE
    revealed = Revealed.from_json(document)
    assert revealed.hash_name == "sm3" and revealed.body_hash(BODY) == sm3(BODY).hex()
    assert revealed.request_matches(TARGET, revealed.body_hash(BODY))
    assert not revealed.request_matches(TARGET, body_sha256(BODY))  # a SHA-256 body hash is not what was digested
    assert not revealed.request_matches(TARGET)  # an empty body (SM3 of "")
    assert revealed.response_matches(revealed.body_hash(ANSWER))
    assert not revealed.response_matches(revealed.body_hash(BODY))
    # the scheme is the entry's: a document that says otherwise is refused
    for scheme in ("epoch-hkdf/v1", "gateway-key/v1"):
        with pytest.raises(MalformedError, match="scheme"):
            Revealed.from_json({**document, "scheme": scheme})


def test_a_version_3_event_digested_with_hmac_sha256_does_not_check() -> None:
    """The version decides the hash: digests made with SHA-256 under a version 3 label match no payload."""
    salt = os.urandom(32)
    revealed = Revealed.from_json(reveal_document(_entry(_sm_event(salt, "sha256")), salt))
    assert not revealed.request_matches(TARGET, revealed.body_hash(BODY))
    assert not revealed.request_matches(TARGET, body_sha256(BODY))
    assert revealed.response_matches(revealed.body_hash(ANSWER)) is False
