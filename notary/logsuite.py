"""A log's cryptographic suite: its tree hash, the keys of its notes, cosignatures and gateway batches, and the
digest of its checkpoints anchored on chain. A log is created under one suite and keeps it for life.

============  =========================================  =====================================================
              ``intl``                                   ``sm`` (``docs/national-suite.md``)
============  =========================================  =====================================================
tree          SHA-256, RFC 9162                          SM3 (GB/T 32905), the same domain separation
notes         Ed25519, C2SP signed-note type 0x01        SM2 of the profile (``notary.log.smnote``)
cosignatures  Ed25519, C2SP tlog-cosignature (0x04)      SM2 of the profile
batches       Ed25519 over the batch context and body    SM2 with ID ``1234567812345678``, r ‖ s (64 bytes)
anchored      SHA-256 of the checkpoint body             SM3 of the checkpoint body (32 bytes either way)
============  =========================================  =====================================================

The key type pins the suite: no key signs under both, and a checkpoint, a receipt or an evidence bundle does not
name its suite, so a verifier learns it from the log key it trusts (:func:`suite_of_key`, :func:`suite_of_vkey`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.log.cosignature import CosignatureSigner, CosignatureVerifier, parse_cosigner_vkey
from notary.log.errors import MalformedError
from notary.log.hashing import SHA256, SM3, TreeHash
from notary.log.note import NoteSigner, NoteVerifier, format_vkey, load_public_key, parse_vkey, verify_ed25519
from notary.log.note import public_bytes as ed25519_public_bytes
from notary.log.smnote import (
    OTHER_TYPE,
    SM2CosignatureSigner,
    SM2CosignatureVerifier,
    SM2NoteSigner,
    SM2NoteVerifier,
    parse_sm2_vkey,
)
from suite.sm2 import DEFAULT_ID, SM2Error, SM2PrivateKey, SM2PublicKey

#: A private key of a log, a witness or a gateway: Ed25519 under ``intl``, SM2 under ``sm``.
PrivateKey: TypeAlias = Ed25519PrivateKey | SM2PrivateKey
LogSigner: TypeAlias = NoteSigner | SM2NoteSigner
LogVerifier: TypeAlias = NoteVerifier | SM2NoteVerifier
WitnessSigner: TypeAlias = CosignatureSigner | SM2CosignatureSigner
WitnessVerifier: TypeAlias = CosignatureVerifier | SM2CosignatureVerifier

SM2_SIGNATURE_SIZE = 64


class BatchKey(Protocol):
    """A gateway's public key, checking its signatures over batches."""

    def verify(self, signature: bytes, message: bytes) -> bool: ...


@dataclass(frozen=True, slots=True, eq=False)
class LogSuite:
    """One suite (see the module docstring): how each artefact of a log is hashed and signed.

    ``digest`` is the hash of a checkpoint body that AuditAnchor stores (``digest_name`` names it in messages);
    the key factories refuse a key of the other suite with MalformedError; ``format_vkey(name, public key)``
    writes a log key's vkey. Compare instances by ``name`` or identity.
    """

    name: str
    tree: TreeHash
    digest_name: str
    digest: Callable[[bytes], bytes]
    note_signer: Callable[[str, PrivateKey], LogSigner]
    note_verifier: Callable[[str, bytes], LogVerifier]
    format_vkey: Callable[[str, bytes], str]
    parse_note_vkey: Callable[[str], LogVerifier]
    cosignature_signer: Callable[[str, PrivateKey], WitnessSigner]
    cosignature_verifier: Callable[[str, bytes], WitnessVerifier]
    parse_cosigner_vkey: Callable[[str], WitnessVerifier]
    batch_key: Callable[[bytes], BatchKey]
    sign_batch: Callable[[PrivateKey, bytes], bytes]

    def vkey(self, signer: LogSigner) -> str:
        """The vkey of a log's note signer: what trust roots and witnesses are configured with."""
        return self.format_vkey(signer.name, signer.public_key)

    def __repr__(self) -> str:
        return f"LogSuite({self.name!r})"


# -- intl -------------------------------------------------------------------------------------------------------


def _ed25519(key: PrivateKey, what: str) -> Ed25519PrivateKey:
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedError(f"{what} of the intl suite is an Ed25519 key, not {type(key).__name__}")
    return key


class _Ed25519BatchKey:
    __slots__ = ("_key",)

    def __init__(self, public_key: bytes) -> None:
        self._key = load_public_key(public_key)

    def verify(self, signature: bytes, message: bytes) -> bool:
        return verify_ed25519(self._key, signature, message)


INTL = LogSuite(
    name="intl",
    tree=SHA256,
    digest_name="SHA-256",
    digest=lambda data: hashlib.sha256(data).digest(),
    note_signer=lambda name, key: NoteSigner(name, _ed25519(key, "a log key")),
    note_verifier=NoteVerifier,
    format_vkey=format_vkey,
    parse_note_vkey=parse_vkey,
    cosignature_signer=lambda name, key: CosignatureSigner(name, _ed25519(key, "a witness key")),
    cosignature_verifier=CosignatureVerifier,
    parse_cosigner_vkey=parse_cosigner_vkey,
    batch_key=_Ed25519BatchKey,
    sign_batch=lambda key, message: _ed25519(key, "a gateway key").sign(message),
)


# -- sm ---------------------------------------------------------------------------------------------------------


def _sm2(key: PrivateKey, what: str) -> SM2PrivateKey:
    if not isinstance(key, SM2PrivateKey):
        raise MalformedError(f"{what} of the sm suite is an SM2 key, not {type(key).__name__}")
    return key


class _SM2BatchKey:
    __slots__ = ("_key",)

    def __init__(self, public_key: bytes) -> None:
        try:
            self._key = SM2PublicKey.from_bytes(public_key)
        except SM2Error as exc:
            raise MalformedError(f"invalid SM2 gateway key: {exc}") from exc

    def verify(self, signature: bytes, message: bytes) -> bool:
        if len(signature) != SM2_SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message, DEFAULT_ID)
        except SM2Error:  # InvalidSignatureError, or r/s out of range
            return False
        return True


def _parse_sm2_note_vkey(vkey: str) -> SM2NoteVerifier:
    verifier = parse_sm2_vkey(vkey)
    if not isinstance(verifier, SM2NoteVerifier):
        raise MalformedError(f"vkey {verifier.name!r} is an SM2 cosignature key, not a note key")
    return verifier


def _parse_sm2_cosigner_vkey(vkey: str) -> SM2CosignatureVerifier:
    verifier = parse_sm2_vkey(vkey)
    if not isinstance(verifier, SM2CosignatureVerifier):
        raise MalformedError(f"vkey {verifier.name!r} is an SM2 note key, not a cosignature key")
    return verifier


def _sm3(data: bytes) -> bytes:
    return SM3.new(data).digest()


SM = LogSuite(
    name="sm",
    tree=SM3,
    digest_name="SM3",
    digest=_sm3,
    note_signer=lambda name, key: SM2NoteSigner(name, _sm2(key, "a log key")),
    note_verifier=SM2NoteVerifier,
    format_vkey=lambda name, public_key: SM2NoteVerifier(name, public_key).vkey(),
    parse_note_vkey=_parse_sm2_note_vkey,
    cosignature_signer=lambda name, key: SM2CosignatureSigner(name, _sm2(key, "a witness key")),
    cosignature_verifier=SM2CosignatureVerifier,
    parse_cosigner_vkey=_parse_sm2_cosigner_vkey,
    batch_key=_SM2BatchKey,
    sign_batch=lambda key, message: _sm2(key, "a gateway key").sign(message, DEFAULT_ID),
)

_BY_NAME = {suite.name: suite for suite in (INTL, SM)}


def log_suite(name: str) -> LogSuite:
    """The suite called ``name`` ("intl" or "sm"); MalformedError for any other name."""
    suite = _BY_NAME.get(name)
    if suite is None:
        known = ", ".join(repr(n) for n in _BY_NAME)
        raise MalformedError(f"unknown suite {name[:40]!r}: a log's suite is one of {known}")
    return suite


def public_bytes(key: PrivateKey) -> bytes:
    """The raw public key of ``key``: 32 bytes (Ed25519) or the 65-byte point ``04 ‖ x ‖ y`` (SM2)."""
    if isinstance(key, SM2PrivateKey):
        return key.public_key().public_bytes()
    return ed25519_public_bytes(key.public_key())


def suite_of_key(key: PrivateKey | LogVerifier | WitnessVerifier) -> LogSuite:
    """The suite a key belongs to: SM2 keys are ``sm``'s, Ed25519 keys ``intl``'s."""
    if isinstance(key, SM2PrivateKey | SM2NoteVerifier | SM2CosignatureVerifier):
        return SM
    return INTL


def suite_of_vkey(vkey: str) -> LogSuite:
    """The suite of a vkey, from its signature type (0xff and the profile's identifier: ``sm``; else ``intl``).

    Only the type is looked at: the suite's own parser then checks the vkey whole."""
    encoded = vkey.split("+", 2)[-1]
    try:
        first = base64.b64decode(encoded[:4], validate=True)[:1]
    except (binascii.Error, ValueError):
        return INTL  # its parser says what is wrong with it
    return SM if first == bytes([OTHER_TYPE]) else INTL


def parse_log_vkey(vkey: str) -> LogVerifier:
    """The verifier of a log's note vkey of either suite (its signature type says which)."""
    return suite_of_vkey(vkey).parse_note_vkey(vkey)


def parse_witness_vkey(vkey: str) -> WitnessVerifier:
    """The verifier of a witness's cosignature vkey of either suite."""
    return suite_of_vkey(vkey).parse_cosigner_vkey(vkey)
