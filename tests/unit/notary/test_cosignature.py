"""C2SP tlog-cosignature (Ed25519, type 0x04): message, signature layout, and use with open_note."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.cosignature import (
    COSIGNATURE_V1,
    CosignatureSigner,
    CosignatureVerifier,
    cosigned_message,
    format_cosigner_vkey,
    parse_cosigner_vkey,
)
from notary.log.errors import MalformedError, SignatureError, UnknownKeyError
from notary.log.note import NoteSignature, NoteSigner, NoteVerifier, add_signatures, open_note, parse_vkey, sign_note

TEXT = format_checkpoint(Checkpoint("example.com/behind-the-sofa", 20852163, bytes(32)))
LOG = NoteSigner("example.com/behind-the-sofa", Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
WITNESS = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(b"\x02" * 32))
W_VERIFIER = CosignatureVerifier(WITNESS.name, WITNESS.public_key)


def test_message_is_exact() -> None:
    assert cosigned_message(TEXT, 1679315147) == b"cosignature/v1\ntime 1679315147\n" + TEXT.encode()
    for bad in (-1, 2**63):
        with pytest.raises(MalformedError):
            cosigned_message(TEXT, bad)


def test_signature_layout_and_key_id() -> None:
    sig = WITNESS.cosign(TEXT, 1679315147)
    assert sig.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + WITNESS.public_key).digest()[:4]
    assert COSIGNATURE_V1 == 4 and W_VERIFIER.key_id == sig.key_id
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big") and len(sig.signature) == 72
    public = Ed25519PublicKey.from_public_bytes(WITNESS.public_key)
    public.verify(sig.signature[8:], cosigned_message(TEXT, 1679315147))  # raises if wrong
    assert W_VERIFIER.verify(TEXT, sig)
    assert W_VERIFIER.timestamp_of(sig) == 1679315147


def test_verify_refuses_tampering() -> None:
    sig = WITNESS.cosign(TEXT, 100)
    other_time = NoteSignature(sig.name, sig.key_id, (101).to_bytes(8, "big") + sig.signature[8:])
    assert not W_VERIFIER.verify(TEXT, other_time)
    assert not W_VERIFIER.verify(TEXT.replace("20852163", "20852164"), sig)
    assert not W_VERIFIER.verify(TEXT, NoteSignature(sig.name, sig.key_id, sig.signature[:-1]))
    huge = NoteSignature(sig.name, sig.key_id, b"\xff" * 8 + sig.signature[8:])
    assert not W_VERIFIER.verify(TEXT, huge)
    with pytest.raises(MalformedError):
        W_VERIFIER.timestamp_of(NoteSignature(sig.name, sig.key_id, b"short"))


def test_ed25519_key_is_not_a_cosigner_key() -> None:
    # The same key pair as a plain note key has another key id: the two signature types never mix.
    plain = NoteVerifier(WITNESS.name, WITNESS.public_key)
    assert plain.key_id != W_VERIFIER.key_id
    note = add_signatures(sign_note(TEXT, [LOG]), [WITNESS.cosign(TEXT, 5)])
    with pytest.raises(UnknownKeyError):
        open_note(note, [plain])


def test_cosignatures_open_with_open_note() -> None:
    log_verifier = NoteVerifier(LOG.name, LOG.public_key)
    note = add_signatures(sign_note(TEXT, [LOG]), [WITNESS.cosign(TEXT, 5)])
    opened, verified = open_note(note, [log_verifier, W_VERIFIER])
    assert opened.text == TEXT and [s.name for s in verified] == [LOG.name, WITNESS.name]
    _, only_witness = open_note(note, [W_VERIFIER])
    assert W_VERIFIER.timestamp_of(only_witness[0]) == 5
    forged = add_signatures(sign_note(TEXT, [LOG]), [NoteSignature(WITNESS.name, WITNESS.key_id, bytes(72))])
    with pytest.raises(SignatureError):
        open_note(forged, [log_verifier, W_VERIFIER])


def test_cosigner_vkey_round_trip() -> None:
    vkey = format_cosigner_vkey(WITNESS.name, WITNESS.public_key)
    assert base64.b64decode(vkey.split("+")[2])[0] == 0x04
    parsed = parse_cosigner_vkey(vkey)
    assert (parsed.name, parsed.key_id, parsed.public_key) == (WITNESS.name, WITNESS.key_id, WITNESS.public_key)
    with pytest.raises(MalformedError):
        parse_vkey(vkey)  # a cosigner vkey is not a note vkey
    with pytest.raises(MalformedError):
        parse_cosigner_vkey(vkey.replace(vkey.split("+")[1], "00000000"))


def test_cosign_refuses_bad_text() -> None:
    with pytest.raises(MalformedError):
        WITNESS.cosign("no newline", 1)
