"""Signed notes, C2SP signed-note: text signed by one or more keys (Ed25519, signature type 0x01).

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(key id ‖ signature)``. The text is what is signed; the key id of an Ed25519 key is
SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4]. Verifier keys (vkeys) are ``<name>+<hex key id>+<base64(type ‖
key)>``. ``open_note`` takes any ``Verifier`` (note keys, cosigners) and follows the spec: unknown keys are
ignored, a known key's failing signature rejects the note, and no verified signature rejects it too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from notary.log.errors import MalformedError, SignatureError, UnknownKeyError

ED25519 = 0x01
MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100
KEY_ID_SIZE = 4
SIGNATURE_PREFIX = "— "

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX8 = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key's name, its 4-byte key id and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Note:
    """A note's text (ending in a newline) and its signatures, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        """The signed note: text, a blank line, one line per signature."""
        lines = "".join(format_signature_line(sig) for sig in self.signatures)
        return (self.text + "\n" + lines).encode()


class Verifier(Protocol):
    """A known key: signatures with this name and key id must verify with it."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: str, sig: NoteSignature) -> bool: ...


class Signer(Protocol):
    """A key that signs note texts."""

    @property
    def name(self) -> str: ...

    def sign(self, text: str) -> NoteSignature: ...


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """SHA-256(name ‖ "\\n" ‖ type ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:KEY_ID_SIZE]


def check_key_name(name: str) -> None:
    """Raise MalformedError unless ``name`` is a valid key name: non-empty, no spaces, no '+', no controls."""
    if not name or "+" in name or _CONTROL.search(name) or any(c.isspace() for c in name):
        raise MalformedError(f"invalid key name {name[:100]!r}: must be non-empty, without spaces or '+'")


def check_text(text: str) -> None:
    """Raise MalformedError unless ``text`` can be a note's text: ends in newline, no control characters."""
    if not text.endswith("\n"):
        raise MalformedError("note text must end with a newline")
    bad = _CONTROL.search(text)
    if bad:
        raise MalformedError(f"note text holds control character {bad.group()!r} at offset {bad.start()}")


def b64decode_canonical(text: str, what: str) -> bytes:
    """Strict standard base64: only the canonical encoding of its bytes is accepted."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{what}: invalid base64 {text[:100]!r}") from exc
    if base64.b64encode(data).decode() != text:
        raise MalformedError(f"{what}: non-canonical base64 {text[:100]!r}")
    return data


def b64decode_hash(text: str, what: str) -> bytes:
    """A 32-byte hash from its canonical base64 (44 characters)."""
    data = b64decode_canonical(text, what)
    if len(data) != 32:
        raise MalformedError(f"{what}: {len(data)} bytes, expected 32")
    return data


def format_signature_line(sig: NoteSignature) -> str:
    """``— <name> base64(key id ‖ signature)`` and a newline."""
    check_key_name(sig.name)
    if len(sig.key_id) != KEY_ID_SIZE or not sig.signature:
        raise MalformedError(f"signature by {sig.name!r}: key id must be 4 bytes and the signature non-empty")
    return f"{SIGNATURE_PREFIX}{sig.name} {base64.b64encode(sig.key_id + sig.signature).decode()}\n"


def parse_signature_line(line: str) -> NoteSignature:
    """One signature line without its newline: ``— <name> <base64 of at least 5 bytes>``."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedError(f"signature line must start with '— ': {line[:100]!r}")
    name, sep, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep:
        raise MalformedError(f"signature line lacks a signature: {line[:100]!r}")
    check_key_name(name)
    blob = b64decode_canonical(encoded, f"signature by {name!r}")
    if len(blob) <= KEY_ID_SIZE:
        raise MalformedError(f"signature by {name!r} is {len(blob)} bytes, expected a key id and a signature")
    return NoteSignature(name, blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:])


def parse_signature_lines(block: str) -> list[NoteSignature]:
    """One or more newline-terminated signature lines (at most 100)."""
    if not block.endswith("\n"):
        raise MalformedError("signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"{len(lines)} signature lines, at most {MAX_SIGNATURES} accepted")
    return [parse_signature_line(line) for line in lines]


def _decode(data: bytes) -> str:
    if len(data) > MAX_NOTE_SIZE:
        raise MalformedError(f"note of {len(data)} bytes exceeds {MAX_NOTE_SIZE}")
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"note is not valid UTF-8 at byte {exc.start}") from exc


def parse_note(data: bytes) -> Note:
    """The note in ``data``; the last blank line separates the text from the signature lines."""
    whole = _decode(data)
    bad = _CONTROL.search(whole)
    if bad:
        raise MalformedError(f"note holds control character {bad.group()!r} at offset {bad.start()}")
    split = whole.rfind("\n\n")
    if split < 0:
        raise MalformedError("note lacks the blank line before its signatures")
    signatures = parse_signature_lines(whole[split + 2 :])
    return Note(whole[: split + 1], tuple(signatures))


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """The note: ``text`` (ending in a newline), a blank line, one signature line per signer in order."""
    check_text(text)
    if not signers:
        raise MalformedError("a note needs at least one signer")
    return Note(text, tuple(signer.sign(text) for signer in signers)).to_bytes()


def add_signatures(note_bytes: bytes, extra: Sequence[NoteSignature]) -> bytes:
    """``note_bytes`` with the signature lines of ``extra`` appended (e.g. cosignatures)."""
    note = parse_note(note_bytes)
    return Note(note.text, note.signatures + tuple(extra)).to_bytes()


def open_note(data: bytes, verifiers: Sequence[Verifier]) -> tuple[Note, list[NoteSignature]]:
    """Parse a note and check it against known keys: the note and its verified signatures (one per key).

    Signatures from unknown keys (name and key id not both known) are ignored. A known key whose signature
    fails raises SignatureError; no verified signature at all raises UnknownKeyError.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: dict[tuple[str, bytes], NoteSignature] = {}
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(note.text, sig):
            raise SignatureError(f"signature by {sig.name} ({sig.key_id.hex()}) does not verify", key_name=sig.name)
        verified.setdefault((sig.name, sig.key_id), sig)
    if not verified:
        names = tuple(sig.name for sig in note.signatures)
        raise UnknownKeyError(f"no signature from a known key; signed by: {', '.join(names)}", signers=names)
    return note, list(verified.values())


def public_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_public_key(public_key: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from its 32 raw bytes; MalformedError otherwise."""
    if len(public_key) != 32:
        raise MalformedError(f"Ed25519 public key is {len(public_key)} bytes, expected 32")
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(public_key))
    except ValueError as exc:
        raise MalformedError("invalid Ed25519 public key") from exc


def verify_ed25519(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``key``."""
    if len(signature) != 64:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


class NamedKey:
    """A named key of one signature type: its name, raw public key and note key id.

    The key id is C2SP's SHA-256(name ‖ "\\n" ‖ type ‖ public key)[:4] unless a profile computes its own
    (``given_key_id``: the national suite's takes SM3, see ``notary.log.smnote``).
    """

    __slots__ = ("_key_id", "_name", "_public_key")

    def __init__(self, name: str, key_type: int, public_key: bytes, *, given_key_id: bytes | None = None) -> None:
        check_key_name(name)
        self._name = name
        self._public_key = bytes(public_key)
        self._key_id = key_id(name, key_type, self._public_key) if given_key_id is None else given_key_id

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public_key


class NoteSigner(NamedKey):
    """Signs note texts with an Ed25519 key (signature type 0x01)."""

    __slots__ = ("_key",)

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        super().__init__(name, ED25519, public_bytes(private_key.public_key()))
        self._key = private_key

    def sign(self, text: str) -> NoteSignature:
        """The signature of ``text`` (a note text, ending in a newline)."""
        check_text(text)
        return NoteSignature(self._name, self._key_id, self._key.sign(text.encode()))


class NoteVerifier(NamedKey):
    """Verifies note signatures by one Ed25519 key (signature type 0x01)."""

    __slots__ = ("_key",)

    def __init__(self, name: str, public_key: bytes) -> None:
        super().__init__(name, ED25519, public_key)
        self._key = load_public_key(public_key)

    def verify(self, text: str, sig: NoteSignature) -> bool:
        """Whether ``sig`` is this key's valid signature of ``text``."""
        if sig.name != self._name or sig.key_id != self._key_id:
            return False
        return verify_ed25519(self._key, sig.signature, text.encode())


def encode_vkey(name: str, key_type: int, public_key: bytes) -> str:
    """``<name>+<8 hex digits of key id>+<base64(type ‖ public key)>``."""
    check_key_name(name)
    blob = bytes([key_type]) + public_key
    return f"{name}+{key_id(name, key_type, public_key).hex()}+{base64.b64encode(blob).decode()}"


def decode_vkey(vkey: str, key_type: int) -> tuple[str, bytes]:
    """The name and public key of a vkey of ``key_type``; MalformedError unless canonical and consistent."""
    parts = vkey.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise MalformedError(f"vkey must be <name>+<key id>+<key>: {vkey[:100]!r}")
    name, hex_id, encoded = parts
    check_key_name(name)
    if not _HEX8.fullmatch(hex_id):
        raise MalformedError(f"vkey key id must be 8 lowercase hex digits: {hex_id[:100]!r}")
    blob = b64decode_canonical(encoded, f"vkey {name!r}")
    if not blob or blob[0] != key_type:
        raise MalformedError(f"vkey {name!r} is not of signature type {key_type:#04x}")
    public_key = blob[1:]
    if key_id(name, key_type, public_key).hex() != hex_id:
        raise MalformedError(f"vkey {name!r}: key id {hex_id} does not match the key")
    return name, public_key


def format_vkey(name: str, public_key: bytes) -> str:
    """The vkey of an Ed25519 note key."""
    return encode_vkey(name, ED25519, public_key)


def parse_vkey(vkey: str) -> NoteVerifier:
    """The verifier of an Ed25519 note vkey."""
    name, public_key = decode_vkey(vkey, ED25519)
    return NoteVerifier(name, public_key)
