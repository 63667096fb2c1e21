"""Witness cosignatures, C2SP tlog-cosignature (Ed25519, signature type 0x04).

A cosigner signs ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body; the note signature
is the timestamp as 8 big-endian bytes followed by the 64-byte Ed25519 signature, and the key id is
SHA-256(name ‖ "\\n" ‖ 0x04 ‖ public key)[:4]. ``CosignatureVerifier`` is a note ``Verifier``, so
cosignatures are checked with ``open_note`` like any other signature.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.log.errors import MalformedError
from notary.log.note import (
    NamedKey,
    NoteSignature,
    check_text,
    decode_vkey,
    encode_vkey,
    load_public_key,
    public_bytes,
    verify_ed25519,
)

COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = 2**63 - 1
COSIGNATURE_SIZE = 8 + 64


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedError(f"cosignature timestamp {timestamp} out of range 0..2^63-1")
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def cosigned_parts(text: str, sig: NoteSignature) -> tuple[bytes, bytes] | None:
    """The message a cosignature ``sig`` of the checkpoint body ``text`` signs, and its signature after the
    timestamp; None unless it is 8 + 64 bytes with a timestamp up to 2^63-1. The SM2 profile
    (``notary.log.smnote``) lays cosignatures out the same way."""
    if len(sig.signature) != COSIGNATURE_SIZE:
        return None
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        return None
    return cosigned_message(text, timestamp), sig.signature[8:]


def cosignature_timestamp(sig: NoteSignature) -> int:
    """The timestamp a cosignature claims (check the cosignature first); MalformedError unless 72 bytes."""
    if len(sig.signature) != COSIGNATURE_SIZE:
        raise MalformedError(f"cosignature by {sig.name} is {len(sig.signature)} bytes, expected 72")
    return int.from_bytes(sig.signature[:8], "big")


class CosignatureSigner(NamedKey):
    """A witness key that cosigns checkpoints."""

    __slots__ = ("_key",)

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        super().__init__(name, COSIGNATURE_V1, public_bytes(private_key.public_key()))
        self._key = private_key

    def cosign(self, checkpoint_text: str, timestamp: int) -> NoteSignature:
        """The cosignature of ``checkpoint_text`` at ``timestamp`` (POSIX seconds)."""
        check_text(checkpoint_text)
        signature = self._key.sign(cosigned_message(checkpoint_text, timestamp))
        return NoteSignature(self._name, self._key_id, timestamp.to_bytes(8, "big") + signature)


class CosignatureVerifier(NamedKey):
    """Verifies one witness's cosignatures; plugs into ``open_note``."""

    __slots__ = ("_key",)

    def __init__(self, name: str, public_key: bytes) -> None:
        super().__init__(name, COSIGNATURE_V1, public_key)
        self._key = load_public_key(public_key)

    def verify(self, text: str, sig: NoteSignature) -> bool:
        """Whether ``sig`` is this witness's valid cosignature of the checkpoint body ``text``."""
        if sig.name != self._name or sig.key_id != self._key_id:
            return False
        parts = cosigned_parts(text, sig)
        return parts is not None and verify_ed25519(self._key, parts[1], parts[0])

    def timestamp_of(self, sig: NoteSignature) -> int:
        """The timestamp a cosignature claims (check it with ``verify`` first)."""
        return cosignature_timestamp(sig)


def format_cosigner_vkey(name: str, public_key: bytes) -> str:
    """The vkey of a witness's cosignature key (type 0x04)."""
    return encode_vkey(name, COSIGNATURE_V1, public_key)


def parse_cosigner_vkey(vkey: str) -> CosignatureVerifier:
    """The verifier of a cosignature vkey (type 0x04)."""
    name, public_key = decode_vkey(vkey, COSIGNATURE_V1)
    return CosignatureVerifier(name, public_key)
