"""C2SP signed-note: signing, strict parsing, opening with known keys, vkeys."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.log.errors import MalformedError, SignatureError, UnknownKeyError
from notary.log.note import (
    ED25519,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    add_signatures,
    format_vkey,
    key_id,
    open_note,
    parse_note,
    parse_vkey,
    sign_note,
)

# The example key and note of Go's golang.org/x/mod/sumdb/note documentation (an interoperability answer).
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
GO_NOTE = f"{GO_TEXT}\n— PeterNeumann {GO_SIGNATURE}\n".encode()

TEXT = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"


def signer(name: str, seed: int) -> NoteSigner:
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def verifier_of(s: NoteSigner) -> NoteVerifier:
    return NoteVerifier(s.name, s.public_key)


ALICE = signer("example.com/alice", 1)
BOB = signer("example.com/bob", 2)


def test_go_example_note_verifies_and_signs_identically() -> None:
    go = NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(GO_SEED))
    assert format_vkey(go.name, go.public_key) == GO_VKEY
    assert sign_note(GO_TEXT, [go]) == GO_NOTE
    note, verified = open_note(GO_NOTE, [parse_vkey(GO_VKEY)])
    assert note.text == GO_TEXT and [s.name for s in verified] == ["PeterNeumann"]


def test_key_id_is_sha256_of_name_newline_type_key() -> None:
    expected = hashlib.sha256(b"example.com/alice\n\x01" + ALICE.public_key).digest()[:4]
    assert key_id("example.com/alice", ED25519, ALICE.public_key) == expected == ALICE.key_id
    assert verifier_of(ALICE).key_id == expected


def test_sign_and_open_round_trip() -> None:
    data = sign_note(TEXT, [ALICE, BOB])
    assert data.startswith(TEXT.encode() + b"\n\xe2\x80\x94 example.com/alice ")
    note, verified = open_note(data, [verifier_of(BOB)])
    assert note.text == TEXT
    assert verified == [note.signatures[1]]
    assert parse_note(note.to_bytes()) == note
    assert note.to_bytes() == data


def test_text_may_contain_blank_lines() -> None:
    text = "a\n\nb\n"
    note, _ = open_note(sign_note(text, [ALICE]), [verifier_of(ALICE)])
    assert note.text == text


def test_unknown_keys_are_ignored() -> None:
    data = sign_note(TEXT, [ALICE, BOB])
    # Same name as Bob but another key (another key id): ignored, not a failure.
    impostor = NoteVerifier("example.com/bob", signer("x", 9).public_key)
    _, verified = open_note(data, [verifier_of(ALICE), impostor])
    assert [s.name for s in verified] == ["example.com/alice"]


def test_no_known_key_is_rejected() -> None:
    data = sign_note(TEXT, [ALICE])
    with pytest.raises(UnknownKeyError, match=r"example\.com/alice") as info:
        open_note(data, [verifier_of(BOB)])
    assert info.value.signers == ("example.com/alice",)
    with pytest.raises(UnknownKeyError):
        open_note(data, [])


def test_known_key_with_bad_signature_is_rejected() -> None:
    note = parse_note(sign_note(TEXT, [ALICE, BOB]))
    forged = NoteSignature(BOB.name, BOB.key_id, bytes(64))
    data = Note(note.text, (note.signatures[0], forged)).to_bytes()
    with pytest.raises(SignatureError, match=r"example\.com/bob"):
        open_note(data, [verifier_of(ALICE), verifier_of(BOB)])
    # A signature over other text is a bad signature too.
    moved = Note("other\n", note.signatures).to_bytes()
    with pytest.raises(SignatureError):
        open_note(moved, [verifier_of(ALICE)])


def test_duplicate_signatures_count_once() -> None:
    data = sign_note(TEXT, [ALICE, ALICE])
    _, verified = open_note(data, [verifier_of(ALICE)])
    assert len(verified) == 1


def test_add_signatures_appends_lines() -> None:
    data = sign_note(TEXT, [ALICE])
    extra = BOB.sign(TEXT)
    grown = add_signatures(data, [extra])
    assert grown == sign_note(TEXT, [ALICE, BOB])
    _, verified = open_note(grown, [verifier_of(BOB)])
    assert verified == [extra]


def test_100_signatures_accepted_101_rejected() -> None:
    line = sign_note(TEXT, [ALICE])[len(TEXT) + 1 :]
    hundred = TEXT.encode() + b"\n" + line * 100
    assert len(parse_note(hundred).signatures) == 100
    with pytest.raises(MalformedError, match="101 signature lines"):
        parse_note(hundred + line)


SIG = "— example.com/alice " + base64.b64encode(b"\x01\x02\x03\x04" + bytes(64)).decode() + "\n"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"text\n",
        b"text\n\n",
        b"text\n\n\n",
        ("text" + "\n\n" + SIG[:-1]).encode(),  # no final newline
        ("te\x07xt\n\n" + SIG).encode(),  # control character
        ("text\r\n\n" + SIG).encode(),
        ("text\n\t\n" + SIG).encode(),
        b"text\n\n\xff\n",  # invalid UTF-8
        ("text\n\n" + SIG.replace("—", "-")).encode(),
        ("text\n\n" + SIG.replace("— ", "—")).encode(),
        ("text\n\n" + SIG.replace("alice", "al ice")).encode(),
        ("text\n\n" + SIG.replace("alice", "al+ice")).encode(),
        ("text\n\n" + SIG.replace("alice", "al\u00a0ice")).encode(),
        ("text\n\n— example.com/alice\n").encode(),
        ("text\n\n— AAAA\n").encode(),
        ("text\n\n— example.com/alice AQIDBA==\n").encode(),  # key id, no signature
        ("text\n\n— example.com/alice AQIDBAU\n").encode(),  # missing padding
        ("text\n\n— example.com/alice AQIDBAV=\n").encode(),  # non-canonical padding bits
        ("text\n\n— example.com/alice AQID BAU=\n").encode(),
        ("text\n\n" + SIG + "garbage\n").encode(),
    ],
)
def test_parse_note_refuses_garbage(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_note(data)


def test_the_last_blank_line_splits_text_from_signatures() -> None:
    note = parse_note(("text\n\n" + SIG + "\n" + SIG).encode())
    assert note.text == "text\n\n" + SIG and len(note.signatures) == 1


def test_parse_note_caps_size() -> None:
    big = b"a" * (1 << 20) + b"\n\n" + SIG.encode()
    with pytest.raises(MalformedError, match="exceeds"):
        parse_note(big)


def test_sign_note_refuses_bad_text() -> None:
    with pytest.raises(MalformedError, match="end with a newline"):
        sign_note("no newline", [ALICE])
    with pytest.raises(MalformedError, match="control character"):
        sign_note("bell\x07\n", [ALICE])
    with pytest.raises(MalformedError):
        sign_note(TEXT, [])


def test_key_names_are_checked() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    for name in ["", "a b", "a+b", "a\u2003b", "a\nb"]:
        with pytest.raises(MalformedError):
            NoteSigner(name, key)
        with pytest.raises(MalformedError):
            NoteVerifier(name, ALICE.public_key)


def test_verifier_refuses_bad_public_key() -> None:
    with pytest.raises(MalformedError):
        NoteVerifier("a", b"\x00" * 31)


def test_vkey_round_trip() -> None:
    vkey = format_vkey(ALICE.name, ALICE.public_key)
    name, hex_id, blob = vkey.split("+")
    assert name == ALICE.name and hex_id == ALICE.key_id.hex()
    assert base64.b64decode(blob) == b"\x01" + ALICE.public_key
    parsed = parse_vkey(vkey)
    assert (parsed.name, parsed.key_id, parsed.public_key) == (ALICE.name, ALICE.key_id, ALICE.public_key)
    assert format_vkey(parsed.name, parsed.public_key) == vkey


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key id
        "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other name
        "PeterNeumann+c74f20a3+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other type
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+x",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_parse_vkey_refuses(vkey: str) -> None:
    with pytest.raises(MalformedError):
        parse_vkey(vkey)


def test_vkey_whose_base64_key_contains_plus_round_trips() -> None:
    """Base64 uses "+": a vkey splits into name, key id and key at its first two "+" only."""
    for seed in range(64):
        public_key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32).public_key().public_bytes_raw()
        vkey = format_vkey("example.com/log", public_key)
        if "+" in vkey.split("+", 2)[2]:
            assert parse_vkey(vkey).public_key == public_key
            return
    raise AssertionError("no key among the 64 tried has a '+' in its base64")
