"""A log's suite: names, key types, vkeys and gateway batch signatures under intl and sm."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gmssl_pyx import sm2_verify

from notary.log.errors import MalformedError
from notary.log.hashing import SHA256, SM3
from notary.logsuite import INTL, SM, LogSuite, log_suite, parse_log_vkey, public_bytes, suite_of_key, suite_of_vkey
from notary.sequencer import BATCH_CONTEXT, sign_batch_body
from suite.sm2 import DEFAULT_ID, SM2PrivateKey, raw_to_der
from tests.support.notary_world import each_suite, new_key
from tests.support.sm3_reference import sm3


def test_a_suite_is_named_and_unknown_names_are_refused() -> None:
    assert (log_suite("intl"), log_suite("sm")) == (INTL, SM)
    assert (INTL.tree, SM.tree) == (SHA256, SM3)
    with pytest.raises(MalformedError, match="unknown suite 'SM'"):
        log_suite("SM")


def test_the_checkpoint_digest_is_the_suites_hash() -> None:
    body = b"test-consortium/audit-log\n8\n" + b"A" * 44 + b"\n"
    assert SM.digest(body) == sm3(body)
    assert INTL.digest(body) == SHA256.new(body).digest()


@each_suite
def test_a_key_of_the_other_suite_is_refused(suite: LogSuite) -> None:
    other = SM if suite is INTL else INTL
    key = new_key(other)
    for make in (suite.note_signer, suite.cosignature_signer):
        with pytest.raises(MalformedError, match=f"of the {suite.name} suite"):
            make("test/log", key)
    with pytest.raises(MalformedError, match=f"of the {suite.name} suite"):
        suite.sign_batch(key, b"message")


@each_suite
def test_the_vkey_names_the_suite(suite: LogSuite) -> None:
    key = new_key(suite)
    signer = suite.note_signer("test/log", key)
    vkey = suite.vkey(signer)
    assert suite_of_vkey(vkey) is suite and suite_of_key(key) is suite
    verifier = parse_log_vkey(vkey)
    assert suite_of_key(verifier) is suite and verifier.public_key == public_bytes(key)
    other = SM if suite is INTL else INTL
    with pytest.raises(MalformedError):
        other.parse_note_vkey(vkey)
    cosigner = suite.cosignature_verifier("test/witness", public_bytes(key))
    with pytest.raises(MalformedError):  # a cosigner's vkey is not a log's
        suite.parse_note_vkey(f"{cosigner.name}+{cosigner.key_id.hex()}+{vkey.split('+', 2)[2]}")


@each_suite
def test_batch_signatures_verify_with_the_gateway_key_only(suite: LogSuite) -> None:
    key, stranger = new_key(suite), new_key(suite)
    signature = sign_batch_body(key, b"{}")
    gateway = suite.batch_key(public_bytes(key))
    assert gateway.verify(signature, BATCH_CONTEXT + b"{}")
    assert not gateway.verify(signature, BATCH_CONTEXT + b"{ }")
    assert not gateway.verify(sign_batch_body(stranger, b"{}"), BATCH_CONTEXT + b"{}")
    assert not gateway.verify(signature[:-1], BATCH_CONTEXT + b"{}")


def test_an_sm2_batch_signature_verifies_in_gmssl_under_the_profiles_id() -> None:
    key = SM2PrivateKey.generate()
    signature = sign_batch_body(key, b"{}")
    point = public_bytes(key)
    assert sm2_verify(point[1:], BATCH_CONTEXT + b"{}", raw_to_der(signature), signer_id=DEFAULT_ID)
    assert not SM.batch_key(point).verify(key.sign(BATCH_CONTEXT + b"{}", b""), BATCH_CONTEXT + b"{}")


def test_an_ed25519_gateway_key_is_not_an_sm2_one() -> None:
    with pytest.raises(MalformedError):
        SM.batch_key(public_bytes(Ed25519PrivateKey.generate()))
    with pytest.raises(MalformedError):
        INTL.batch_key(public_bytes(SM2PrivateKey.generate()))
