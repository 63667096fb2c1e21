"""The suite's errors: one root, `SuiteError`, a `ValueError` because every one of them is about bad input.

A malformed key, signature or ciphertext raises the algorithm's error (`SM2Error`, `SM4Error`); a well-formed
signature that does not verify raises `InvalidSignature`, a subclass, so `except SM2Error` rejects both.
"""

from __future__ import annotations


class SuiteError(ValueError):
    """Root of the suite's errors."""


class SM2Error(SuiteError):
    """A bad SM2 key, signature, signer ID or encoding, or a failure inside the library."""


class InvalidSignature(SM2Error):
    """A well-formed SM2 signature that does not verify for this key, message and signer ID."""


class SM4Error(SuiteError):
    """A bad SM4 key, or a sealed box that does not open (wrong key, wrong associated data, or tampered)."""
