"""Signed notes and witness cosignatures with SM2 and SM3: the national suite's profile of C2SP signed-note.

C2SP signed-note reserves signature type ``0xff`` for algorithms without an assigned byte, followed by a
longer identifier. The profile (``docs/national-suite.md``) defines two:

- note signatures (checkpoints, batch statements): type bytes ``0xff ‖ "consortium-ledger/sm2-note/v1"``, the
  signature SM2 (GB/T 32918.2, ID ``1234567812345678`` per GB/T 35276) over the note text, as r ‖ s (64 bytes);
- witness cosignatures: type bytes ``0xff ‖ "consortium-ledger/sm2-cosignature/v1"``, the message of C2SP
  tlog-cosignature (``cosignature/v1\\ntime <t>\\n`` ‖ checkpoint body), the signature the 8-byte timestamp
  followed by r ‖ s (72 bytes).

A public key is the 65-byte uncompressed point; the key id is SM3(name ‖ "\\n" ‖ type bytes ‖ point)[:4];
a vkey is ``<name>+<hex key id>+base64(type bytes ‖ point)``. The verifiers plug into ``open_note`` like the
Ed25519 ones.
"""

from __future__ import annotations

import base64
import hashlib

from notary.log.cosignature import cosignature_timestamp, cosigned_message, cosigned_parts
from notary.log.errors import MalformedError
from notary.log.note import (
    KEY_ID_SIZE,
    NamedKey,
    NoteSignature,
    b64decode_canonical,
    check_key_name,
    check_text,
)
from suite.sm2 import DEFAULT_ID, SM2Error, SM2PrivateKey, SM2PublicKey

OTHER_TYPE = 0xFF
SM2_NOTE = bytes([OTHER_TYPE]) + b"consortium-ledger/sm2-note/v1"
SM2_COSIGNATURE = bytes([OTHER_TYPE]) + b"consortium-ledger/sm2-cosignature/v1"
POINT_SIZE = 65
SIGNATURE_SIZE = 64
_TYPES = (SM2_NOTE, SM2_COSIGNATURE)


def sm3_key_id(name: str, type_bytes: bytes, public_key: bytes) -> bytes:
    """SM3(name ‖ "\\n" ‖ type bytes ‖ public key)[:4]: the profile's key id."""
    return hashlib.new("sm3", name.encode() + b"\n" + type_bytes + public_key).digest()[:KEY_ID_SIZE]


class _SM2Key(NamedKey):
    """A named SM2 key of one of the profile's signature types."""

    __slots__ = ("_type_bytes",)

    def __init__(self, name: str, type_bytes: bytes, public_key: bytes) -> None:
        if type_bytes not in _TYPES:
            raise MalformedError(f"not a signature type of the SM2 profile: {type_bytes[:64]!r}")
        if len(public_key) != POINT_SIZE:
            raise MalformedError(f"SM2 public key is {len(public_key)} bytes, expected {POINT_SIZE}")
        check_key_name(name)
        super().__init__(name, OTHER_TYPE, public_key, given_key_id=sm3_key_id(name, type_bytes, public_key))
        self._type_bytes = type_bytes

    @property
    def type_bytes(self) -> bytes:
        return self._type_bytes

    def vkey(self) -> str:
        """``<name>+<hex key id>+base64(type bytes ‖ point)``."""
        blob = self._type_bytes + self._public_key
        return f"{self._name}+{self._key_id.hex()}+{base64.b64encode(blob).decode()}"


def _public_key(public_key: bytes) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_bytes(public_key)
    except SM2Error as exc:
        raise MalformedError(f"invalid SM2 public key: {exc}") from exc


def _verifies(key: SM2PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        key.verify(signature, message, DEFAULT_ID)
    except SM2Error:  # InvalidSignatureError, or r/s out of range
        return False
    return True


class SM2NoteSigner(_SM2Key):
    """Signs note texts with an SM2 key."""

    __slots__ = ("_key",)

    def __init__(self, name: str, private_key: SM2PrivateKey) -> None:
        super().__init__(name, SM2_NOTE, private_key.public_key().public_bytes())
        self._key = private_key

    def sign(self, text: str) -> NoteSignature:
        """The signature of ``text`` (a note text, ending in a newline)."""
        check_text(text)
        return NoteSignature(self._name, self._key_id, self._key.sign(text.encode(), DEFAULT_ID))


class SM2NoteVerifier(_SM2Key):
    """Verifies note signatures by one SM2 key."""

    __slots__ = ("_key",)

    def __init__(self, name: str, public_key: bytes) -> None:
        super().__init__(name, SM2_NOTE, public_key)
        self._key = _public_key(public_key)

    def verify(self, text: str, sig: NoteSignature) -> bool:
        """Whether ``sig`` is this key's valid signature of ``text``."""
        if sig.name != self._name or sig.key_id != self._key_id:
            return False
        return _verifies(self._key, sig.signature, text.encode())


class SM2CosignatureSigner(_SM2Key):
    """A witness's SM2 key that cosigns checkpoints."""

    __slots__ = ("_key",)

    def __init__(self, name: str, private_key: SM2PrivateKey) -> None:
        super().__init__(name, SM2_COSIGNATURE, private_key.public_key().public_bytes())
        self._key = private_key

    def cosign(self, checkpoint_text: str, timestamp: int) -> NoteSignature:
        """The cosignature of ``checkpoint_text`` at ``timestamp`` (POSIX seconds)."""
        check_text(checkpoint_text)
        signature = self._key.sign(cosigned_message(checkpoint_text, timestamp), DEFAULT_ID)
        return NoteSignature(self._name, self._key_id, timestamp.to_bytes(8, "big") + signature)


class SM2CosignatureVerifier(_SM2Key):
    """Verifies one witness's SM2 cosignatures; plugs into ``open_note``."""

    __slots__ = ("_key",)

    def __init__(self, name: str, public_key: bytes) -> None:
        super().__init__(name, SM2_COSIGNATURE, public_key)
        self._key = _public_key(public_key)

    def verify(self, text: str, sig: NoteSignature) -> bool:
        """Whether ``sig`` is this witness's valid cosignature of the checkpoint body ``text``."""
        if sig.name != self._name or sig.key_id != self._key_id:
            return False
        parts = cosigned_parts(text, sig)
        return parts is not None and _verifies(self._key, parts[1], parts[0])

    def timestamp_of(self, sig: NoteSignature) -> int:
        """The timestamp a cosignature claims (check it with ``verify`` first)."""
        return cosignature_timestamp(sig)


def parse_sm2_vkey(vkey: str) -> SM2NoteVerifier | SM2CosignatureVerifier:
    """The verifier of an SM2 vkey of the profile; MalformedError unless canonical and consistent."""
    parts = vkey.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise MalformedError(f"vkey must be <name>+<key id>+<key>: {vkey[:100]!r}")
    name, hex_id, encoded = parts
    check_key_name(name)
    blob = b64decode_canonical(encoded, f"vkey {name!r}")
    type_bytes, public_key = blob[:-POINT_SIZE], blob[-POINT_SIZE:]
    if len(blob) <= POINT_SIZE or type_bytes not in _TYPES:
        raise MalformedError(f"vkey {name!r} is not an SM2 key of the profile (type {type_bytes[:64]!r})")
    kind = SM2NoteVerifier if type_bytes == SM2_NOTE else SM2CosignatureVerifier
    verifier = kind(name, public_key)
    if verifier.key_id.hex() != hex_id:
        raise MalformedError(f"vkey {name!r}: key id {hex_id[:100]!r} does not match the key")
    return verifier
