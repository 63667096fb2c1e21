"""The national suite's profile of signed notes and cosignatures (SM2, SM3 key ids, type 0xff + identifier).

Each layout is checked byte by byte against the profile in docs/national-suite.md, and each signature against
an SM2 implementation other than ours (GmSSL through gmssl-pyx), given the profile's signer ID.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gmssl_pyx import sm2_sign, sm2_verify

from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.cosignature import CosignatureSigner, cosigned_message
from notary.log.errors import MalformedError, SignatureError, UnknownKeyError
from notary.log.note import NoteSignature, NoteSigner, add_signatures, open_note, sign_note
from notary.log.smnote import (
    SM2_COSIGNATURE,
    SM2_NOTE,
    SM2CosignatureSigner,
    SM2CosignatureVerifier,
    SM2NoteSigner,
    SM2NoteVerifier,
    parse_sm2_vkey,
    sm3_key_id,
)
from suite.sm2 import DEFAULT_ID, SM2PrivateKey, der_to_raw, raw_to_der

TEXT = format_checkpoint(Checkpoint("notary.example/log", 20852163, hashlib.new("sm3", b"").digest()))
LOG_KEY = SM2PrivateKey.from_bytes(bytes.fromhex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"))
LOG = SM2NoteSigner("notary.example/log", LOG_KEY)
LOG_VERIFIER = SM2NoteVerifier(LOG.name, LOG.public_key)
WITNESS = SM2CosignatureSigner("witness.example/w1", SM2PrivateKey.from_bytes(b"\x02" * 32))
W_VERIFIER = SM2CosignatureVerifier(WITNESS.name, WITNESS.public_key)


def _gmssl_verifies(public_point: bytes, signature: bytes, message: bytes, signer_id: bytes = DEFAULT_ID) -> bool:
    """GmSSL's verdict on an r ‖ s signature (it takes the point without its 04 prefix, the signature in DER)."""
    return bool(sm2_verify(public_point[1:], message, raw_to_der(signature), signer_id=signer_id))


def test_type_bytes_are_0xff_and_the_identifiers() -> None:
    assert SM2_NOTE == b"\xffconsortium-ledger/sm2-note/v1"
    assert SM2_COSIGNATURE == b"\xffconsortium-ledger/sm2-cosignature/v1"


def test_note_signature_layout_key_id_and_an_independent_verifier() -> None:
    sig = LOG.sign(TEXT)
    assert len(LOG.public_key) == 65 and LOG.public_key[0] == 4
    assert sig.key_id == hashlib.new("sm3", b"notary.example/log\n" + SM2_NOTE + LOG.public_key).digest()[:4]
    assert sig.key_id == sm3_key_id(LOG.name, SM2_NOTE, LOG.public_key) == LOG_VERIFIER.key_id
    assert len(sig.signature) == 64
    assert _gmssl_verifies(LOG.public_key, sig.signature, TEXT.encode())
    assert not _gmssl_verifies(LOG.public_key, sig.signature, TEXT.encode(), signer_id=b"ALICE123@YAHOO.COM")
    assert LOG_VERIFIER.verify(TEXT, sig)


def test_a_note_signed_by_gmssl_opens_with_our_verifier() -> None:
    der = sm2_sign(LOG_KEY.private_bytes(), LOG.public_key[1:], TEXT.encode(), signer_id=DEFAULT_ID)
    line = NoteSignature(LOG.name, LOG.key_id, der_to_raw(der))
    note, verified = open_note((TEXT + "\n").encode() + _line(line), [LOG_VERIFIER])
    assert note.text == TEXT and verified == [line]


def _line(sig: NoteSignature) -> bytes:
    return f"— {sig.name} {base64.b64encode(sig.key_id + sig.signature).decode()}\n".encode()


def test_cosignature_layout_and_an_independent_verifier() -> None:
    sig = WITNESS.cosign(TEXT, 1679315147)
    assert sig.key_id == hashlib.new("sm3", b"witness.example/w1\n" + SM2_COSIGNATURE + WITNESS.public_key).digest()[:4]
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big") and len(sig.signature) == 72
    assert _gmssl_verifies(WITNESS.public_key, sig.signature[8:], cosigned_message(TEXT, 1679315147))
    assert W_VERIFIER.verify(TEXT, sig) and W_VERIFIER.timestamp_of(sig) == 1679315147


def test_checkpoint_signed_by_the_log_and_cosigned_opens() -> None:
    note = add_signatures(sign_note(TEXT, [LOG]), [WITNESS.cosign(TEXT, 100)])
    _, verified = open_note(note, [LOG_VERIFIER, W_VERIFIER])
    assert [s.name for s in verified] == [LOG.name, WITNESS.name]


def test_tampering_is_refused() -> None:
    sig = LOG.sign(TEXT)
    assert not LOG_VERIFIER.verify(TEXT.replace("20852163", "20852164"), sig)
    flipped = bytes([sig.signature[0] ^ 1]) + sig.signature[1:]
    assert not LOG_VERIFIER.verify(TEXT, NoteSignature(sig.name, sig.key_id, flipped))
    assert not LOG_VERIFIER.verify(TEXT, NoteSignature(sig.name, sig.key_id, sig.signature[:-1]))
    assert not LOG_VERIFIER.verify(TEXT, NoteSignature(sig.name, sig.key_id, b"\x00" * 64))  # r = s = 0
    assert not LOG_VERIFIER.verify(TEXT, NoteSignature(sig.name, sig.key_id, b"\xff" * 64))  # r, s ≥ n
    with pytest.raises(SignatureError):
        open_note((TEXT + "\n").encode() + _line(NoteSignature(sig.name, sig.key_id, flipped)), [LOG_VERIFIER])
    cosig = WITNESS.cosign(TEXT, 100)
    for stamp in ((101).to_bytes(8, "big"), b"\xff" * 8):  # another time; one past 2^63-1
        assert not W_VERIFIER.verify(TEXT, NoteSignature(cosig.name, cosig.key_id, stamp + cosig.signature[8:]))
    with pytest.raises(MalformedError):
        W_VERIFIER.timestamp_of(NoteSignature(cosig.name, cosig.key_id, b"short"))


def test_the_two_types_and_the_ed25519_profile_never_mix() -> None:
    # One SM2 key as a note key and as a cosigner key has two key ids; a note signature is no cosignature.
    same_key = SM2CosignatureVerifier(LOG.name, LOG.public_key)
    assert same_key.key_id != LOG_VERIFIER.key_id
    note = sign_note(TEXT, [LOG])
    with pytest.raises(UnknownKeyError):
        open_note(note, [same_key])
    # An Ed25519 log of the same name is another key altogether: its notes do not open with the SM2 verifier.
    ed = NoteSigner(LOG.name, Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
    with pytest.raises(UnknownKeyError):
        open_note(sign_note(TEXT, [ed]), [LOG_VERIFIER])
    ed_witness = CosignatureSigner(WITNESS.name, Ed25519PrivateKey.from_private_bytes(b"\x02" * 32))
    assert not W_VERIFIER.verify(TEXT, ed_witness.cosign(TEXT, 100))


def test_vkeys_round_trip() -> None:
    for verifier in (LOG_VERIFIER, W_VERIFIER):
        vkey = verifier.vkey()
        name, hex_id, encoded = vkey.split("+", 2)
        assert name == verifier.name and hex_id == verifier.key_id.hex()
        assert base64.b64decode(encoded) == verifier.type_bytes + verifier.public_key
        parsed = parse_sm2_vkey(vkey)
        assert type(parsed) is type(verifier) and parsed.key_id == verifier.key_id
        assert parsed.public_key == verifier.public_key


def _vkey(name: str, hex_id: str, blob: bytes) -> str:
    return f"{name}+{hex_id}+{base64.b64encode(blob).decode()}"


@pytest.mark.parametrize(
    "vkey",
    [
        "no-plus-signs",
        _vkey("n", "00000000", SM2_NOTE + LOG.public_key),  # wrong key id
        _vkey("n", sm3_key_id("n", b"\xffother", LOG.public_key).hex(), b"\xffother" + LOG.public_key),
        _vkey("n", "00000000", LOG.public_key),  # no type bytes
        _vkey("n", "00000000", b"\x01" + bytes(32)),  # an Ed25519 vkey
        _vkey("n", sm3_key_id("n", SM2_NOTE, b"\x04" + bytes(64)).hex(), SM2_NOTE + b"\x04" + bytes(64)),  # off curve
        _vkey("bad name", "00000000", SM2_NOTE + LOG.public_key),
        "n+00000000+not base64!",
    ],
)
def test_parse_sm2_vkey_refuses(vkey: str) -> None:
    with pytest.raises(MalformedError):
        parse_sm2_vkey(vkey)


def test_verifier_refuses_bad_public_keys() -> None:
    for bad in (b"", LOG.public_key[:-1], b"\x04" + bytes(64), b"\x02" + LOG.public_key[1:33]):
        with pytest.raises(MalformedError):
            SM2NoteVerifier("n", bad)
