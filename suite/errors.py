"""The suite's errors: one root, `SuiteError`, a `ValueError` because every one of them is about bad input.

A malformed key, signature or ciphertext raises the algorithm's error (`SM2Error`, `SM4Error`); a well-formed
signature that does not verify raises `InvalidSignatureError`, a subclass, so `except SM2Error` rejects both.
(It is not `cryptography.exceptions.InvalidSignature`, which the Ed25519 and ECDSA keys raise: the name ending in
`Error`, as every error of the project, keeps the two apart where both are caught.)
A certificate or CRL outside the profile raises `CertificateError`; one that fails a check of its path
`PathValidationError`, a subclass carrying the certificate's subject and serial.
"""

from __future__ import annotations

from datetime import datetime


class SuiteError(ValueError):
    """Root of the suite's errors."""


class SM2Error(SuiteError):
    """A bad SM2 key, signature, signer ID or encoding, or a failure inside the library."""


class InvalidSignatureError(SM2Error):
    """A well-formed SM2 signature that does not verify for this key, message and signer ID."""


class SM4Error(SuiteError):
    """A bad SM4 key, or a sealed box that does not open (wrong key, wrong associated data, or tampered)."""


class CertificateError(SuiteError):
    """A certificate or CRL that is malformed or outside the profile: not DER, trailing bytes, not SM2 with SM3."""


class PathValidationError(CertificateError):
    """A well-formed certificate that fails a check of the path (RFC 5280 §6); names the certificate."""

    def __init__(self, message: str, subject: str, serial: int) -> None:
        super().__init__(message)
        self.subject = subject
        self.serial = serial


class CertificateRevokedError(PathValidationError):
    """The certificate is listed on a current CRL of its issuer."""

    def __init__(self, message: str, subject: str, serial: int, revoked_at: datetime) -> None:
        super().__init__(message, subject, serial)
        self.revoked_at = revoked_at
