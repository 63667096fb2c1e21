"""The cryptography of a PSI job under each suite of a consortium (``consortium.json``'s ``crypto``).

A job runs under the suite of the consortium it is run in; every primitive of the job comes from that one suite:

================  ==============================================  ==============================================
                  ``intl``                                        ``sm`` (docs/national-suite.md)
================  ==============================================  ==============================================
protocol          ``ecdh-psi-p256`` (openmined.psi, P-256)        ``ecdh-psi-sm2`` (``privacy.smpsi``, SM2 curve)
keyed ids         HKDF/HMAC-SHA256                                HKDF/HMAC-SM3 (``privacy.identifiers``)
job secret        RFC 9180 HPKE to the owner's X25519 key         SM2 encryption (GB/T 32918.4) to its SM2 key
record signature  Ed25519 (the org's gateway key)                 SM2 with SM3, ID ``1234567812345678``, r ‖ s
message digests   SHA-256                                         SM3
commitments       ECVRF-EDWARDS25519-SHA512-TAI, SHA-256 tree     ECVRF-SM2-SM3-SSWU (``privacy.smvrf``), SM3 tree
================  ==============================================  ==============================================

The protocol a job record, a request or a terms document names pins the suite (:func:`suite_of_protocol`), as a
log key pins a log's (``notary.logsuite``): no record mixes them, and a key, a request or terms of the other suite
is refused with :class:`~privacy.errors.SuiteMismatchError` saying which suite each side is of.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from notary.log.hashing import SHA256, SM3, TreeHash
from privacy import smvrf, vrf
from privacy.errors import MalformedError, SuiteMismatchError
from suite import sm2group
from suite.errors import SM2Error
from suite.sm2 import DEFAULT_ID, SM2PrivateKey, SM2PublicKey

#: A party's signing key (its gateway key) or the owner's decryption key of the job secret, of either suite.
SigningKey: TypeAlias = Ed25519PrivateKey | SM2PrivateKey
KemKey: TypeAlias = X25519PrivateKey | SM2PrivateKey

#: The SM2 signer ID of job records (GB/T 35276's, always passed explicitly).
SIGNER_ID: Final = DEFAULT_ID
_HPKE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


@dataclass(frozen=True, slots=True, eq=False)
class PsiSuite:
    """One suite's primitives for a job (module docstring). Compare instances by ``name`` or identity."""

    name: str
    protocol: str
    tree: TreeHash
    digest_name: str
    signing_key_size: int  # the public key a record names: 32 (Ed25519) or 65 (SM2, 04 ‖ x ‖ y)
    kem_key_size: int  # the owner's public key in the terms document: 32 (X25519) or 65 (SM2)
    vrf_public_size: int
    vrf_output_size: int
    vrf_proof_size: int
    message_hash: Callable[[bytes], bytes]
    vrf_public_key: Callable[[bytes], bytes]
    vrf_prove: Callable[[bytes, bytes], bytes]
    vrf_proof_to_hash: Callable[[bytes], bytes]
    vrf_verify: Callable[[bytes, bytes, bytes], bytes]
    new_vrf_secret: Callable[[], bytes]
    vrf_evaluator: Callable[[bytes], Callable[[bytes], bytes]]

    def public_key(self, key: SigningKey) -> bytes:
        """The raw public key of a party's signing key; SuiteMismatchError for a key of the other suite."""
        if self.name == "sm":
            return _sm2(key, "a job's signing key").public_key().public_bytes()
        return _ed25519(key).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, key: SigningKey, message: bytes) -> bytes:
        """Ed25519, or SM2 with SM3 under :data:`SIGNER_ID` (r ‖ s): 64 bytes either way."""
        if self.name == "sm":
            return _sm2(key, "a job's signing key").sign(message, SIGNER_ID)
        return _ed25519(key).sign(message)

    def verify(self, public: bytes, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` over ``message`` verifies under the raw public key ``public``."""
        try:
            if self.name == "sm":
                SM2PublicKey.from_bytes(public).verify(signature, message, SIGNER_ID)
            else:
                Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        except (SM2Error, InvalidSignature, ValueError):
            return False
        return True

    def generate_kem(self) -> KemKey:
        return SM2PrivateKey.generate() if self.name == "sm" else X25519PrivateKey.generate()

    def kem_public(self, key: KemKey) -> bytes:
        if self.name == "sm":
            return _sm2(key, "the owner's job-secret key").public_key().public_bytes()
        if not isinstance(key, X25519PrivateKey):
            raise SuiteMismatchError(f"the owner's job-secret key of the intl suite is X25519, not {_kind(key)}")
        return key.public_key().public_bytes_raw()

    def seal(self, kem_public: bytes, secret: bytes, info: bytes) -> bytes:
        """The job secret for the owner of ``kem_public``: HPKE (``intl``) with ``info``, or SM2 encryption
        (``sm``) of ``info ‖ secret``, so the ciphertext is bound to the job as HPKE's ``info`` binds it."""
        if len(kem_public) != self.kem_key_size:
            raise SuiteMismatchError(
                f"the owner's key is {len(kem_public)} bytes; a job-secret key of the {self.name} suite is "
                f"{self.kem_key_size}"
            )
        try:
            if self.name == "sm":
                return SM2PublicKey.from_bytes(kem_public).encrypt(info + secret)
            return _HPKE.encrypt(secret, X25519PublicKey.from_public_bytes(kem_public), info)
        except (SM2Error, ValueError) as exc:
            raise MalformedError(f"the owner's job-secret key is not usable: {exc}") from exc

    def open(self, key: KemKey, sealed: bytes, info: bytes) -> bytes:
        """The secret :meth:`seal` sealed; MalformedError if it does not open with ``key`` for ``info``."""
        if self.name == "sm":
            try:
                plain = _sm2(key, "the owner's job-secret key").decrypt(sealed)
            except SM2Error as exc:
                raise MalformedError("the sealed job secret does not open with this server's key") from exc
            if not plain.startswith(info):
                raise MalformedError("the sealed job secret is bound to another job")
            return plain[len(info) :]
        if not isinstance(key, X25519PrivateKey):
            raise SuiteMismatchError(f"the owner's job-secret key of the intl suite is X25519, not {_kind(key)}")
        try:
            return _HPKE.decrypt(sealed, key, info)
        except Exception as exc:  # cryptography raises InvalidTag or ValueError for a bad or foreign seal
            raise MalformedError("the sealed job secret does not open with this server's key") from exc

    def __repr__(self) -> str:
        return f"PsiSuite({self.name!r})"


def _kind(key: object) -> str:
    names = {"SM2PrivateKey": "an SM2 key", "Ed25519PrivateKey": "an Ed25519 key", "X25519PrivateKey": "an X25519 key"}
    return names.get(type(key).__name__, type(key).__name__)


def _ed25519(key: SigningKey) -> Ed25519PrivateKey:
    if not isinstance(key, Ed25519PrivateKey):
        raise SuiteMismatchError(
            f"a job of the intl suite is signed with an Ed25519 key, not {_kind(key)}: the key is of the sm suite"
        )
    return key


def _sm2(key: object, what: str) -> SM2PrivateKey:
    if not isinstance(key, SM2PrivateKey):
        raise SuiteMismatchError(
            f"{what} of the sm suite is an SM2 key, not {_kind(key)}: the key is of the intl suite"
        )
    return key


def _ed25519_evaluator(secret: bytes) -> Callable[[bytes], bytes]:
    return vrf.Evaluator(secret).output


def _sm2_evaluator(secret: bytes) -> Callable[[bytes], bytes]:
    return smvrf.Evaluator(secret).output


def _sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


INTL: Final = PsiSuite(
    name="intl",
    protocol="ecdh-psi-p256",
    tree=SHA256,
    digest_name="SHA-256",
    signing_key_size=32,
    kem_key_size=32,
    vrf_public_size=vrf.PUBLIC_KEY_SIZE,
    vrf_output_size=vrf.OUTPUT_SIZE,
    vrf_proof_size=vrf.PROOF_SIZE,
    message_hash=lambda data: hashlib.sha256(data).digest(),
    vrf_public_key=vrf.public_key,
    vrf_prove=vrf.prove,
    vrf_proof_to_hash=vrf.proof_to_hash,
    vrf_verify=vrf.verify,
    new_vrf_secret=lambda: os.urandom(vrf.SECRET_KEY_SIZE),
    vrf_evaluator=_ed25519_evaluator,
)
SM: Final = PsiSuite(
    name="sm",
    protocol="ecdh-psi-sm2",
    tree=SM3,
    digest_name="SM3",
    signing_key_size=65,
    kem_key_size=65,
    vrf_public_size=smvrf.PUBLIC_KEY_SIZE,
    vrf_output_size=smvrf.OUTPUT_SIZE,
    vrf_proof_size=smvrf.PROOF_SIZE,
    message_hash=_sm3,
    vrf_public_key=smvrf.public_key,
    vrf_prove=smvrf.prove,
    vrf_proof_to_hash=smvrf.proof_to_hash,
    vrf_verify=smvrf.verify,
    new_vrf_secret=lambda: sm2group.random_scalar().to_bytes(smvrf.SECRET_KEY_SIZE, "big"),
    vrf_evaluator=_sm2_evaluator,
)
SUITES: Final = {s.name: s for s in (INTL, SM)}
_BY_PROTOCOL: Final = {s.protocol: s for s in (INTL, SM)}
_BY_VRF_KEY_SIZE: Final = {s.vrf_public_size: s for s in (INTL, SM)}


def psi_suite(name: str) -> PsiSuite:
    """The suite called ``name`` (a consortium's ``crypto``); MalformedError for any other."""
    try:
        return SUITES[name]
    except KeyError:
        raise MalformedError(f"unknown suite {name[:40]!r}: a job's suite is one of {sorted(SUITES)}") from None


def suite_of_protocol(protocol: str) -> PsiSuite:
    """The suite whose protocol ``protocol`` is; MalformedError for a protocol of neither."""
    try:
        return _BY_PROTOCOL[protocol]
    except KeyError:
        raise MalformedError(
            f"unknown PSI protocol {protocol[:40]!r}: one of {sorted(_BY_PROTOCOL)} (by suite: intl, sm)"
        ) from None


def suite_of_vrf_key(vrf_key: bytes) -> PsiSuite:
    """The suite of a commitment's VRF public key, by its size (32 bytes: Ed25519; 33: compressed SM2 point)."""
    try:
        return _BY_VRF_KEY_SIZE[len(vrf_key)]
    except KeyError:
        raise MalformedError(f"a VRF public key is 32 (intl) or 33 (sm) bytes, not {len(vrf_key)}") from None


def check_same_suite(expected: PsiSuite, found: PsiSuite, what: str) -> None:
    """Refuse ``what`` of another suite than the job's (or the consortium's)."""
    if found is not expected:
        raise SuiteMismatchError(
            f"{what} is of the {found.name!r} suite ({found.protocol}), but this job runs under the {expected.name!r} "
            f"suite ({expected.protocol}): a consortium keeps one suite (consortium init --crypto), and a job does "
            "not mix them"
        )


def raw_public(key: Ed25519PublicKey | SM2PublicKey | X25519PublicKey | bytes) -> bytes:
    """The raw bytes of a public key of either suite (bytes are taken as they are)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, SM2PublicKey):
        return key.public_bytes()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
