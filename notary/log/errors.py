"""The errors of the notary's log core: one root, bad input kept apart from failed checks.

``MalformedError`` means the input could not be parsed or is out of range (raised ``from`` the cause);
``VerificationError`` means the input was well formed but a check failed, and its subclasses carry the data
that was checked. HTTP status codes are chosen at the edge, never here.
"""

from __future__ import annotations


class NotaryError(Exception):
    """Root of every error the notary raises."""


class MalformedError(NotaryError, ValueError):
    """Input that is not in the canonical form (a parse failure or an out-of-range argument)."""


class VerificationError(NotaryError):
    """Well-formed input that failed a check (a proof, a root, a signature)."""


class InclusionProofError(VerificationError):
    """An inclusion proof that cannot be checked against the given index and size."""

    def __init__(self, index: int, size: int, reason: str) -> None:
        super().__init__(f"inclusion proof for index {index} in tree of size {size}: {reason}")
        self.index = index
        self.size = size
        self.reason = reason


class ConsistencyProofError(VerificationError):
    """A consistency proof that cannot be checked between the given sizes."""

    def __init__(self, size1: int, size2: int, reason: str) -> None:
        super().__init__(f"consistency proof from size {size1} to size {size2}: {reason}")
        self.size1 = size1
        self.size2 = size2
        self.reason = reason


class RootMismatchError(VerificationError):
    """The root recomputed from a proof is not the root that was expected."""

    def __init__(self, expected: bytes, calculated: bytes, context: str = "") -> None:
        prefix = f"{context}: " if context else ""
        super().__init__(f"{prefix}root mismatch: expected {expected.hex()}, calculated {calculated.hex()}")
        self.expected = expected
        self.calculated = calculated


class SignatureError(VerificationError):
    """A signature by a known key is missing or does not verify."""

    def __init__(self, message: str, *, key_name: str | None = None) -> None:
        super().__init__(message)
        self.key_name = key_name


class UnknownKeyError(VerificationError):
    """No signature on a note verified with a known key."""

    def __init__(self, message: str, *, signers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.signers = signers
