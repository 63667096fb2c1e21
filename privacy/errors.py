"""The errors of the privacy-computing core: one root, bad input kept apart from failed checks and refusals.

``MalformedError`` means the input could not be parsed or is not in canonical form (raised ``from`` the cause);
``VerificationError`` means well-formed input failed a check (a signature, a VRF proof, a disclosure proof) and
its subclasses carry the data that was checked; ``RefusedError`` means a party declined to go on under the job's
terms (an input over the grant's cap, a request for another job). HTTP status codes are chosen at the edge.
"""

from __future__ import annotations


class PrivacyError(Exception):
    """Root of every error the privacy core raises."""


class MalformedError(PrivacyError, ValueError):
    """Input that is not in the canonical form (a parse failure or an out-of-range argument)."""


class RefusedError(PrivacyError):
    """A party refuses to take a step under the job's terms; ``reason`` is a short code for audit events."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class GrantTermsError(RefusedError):
    """A grant's own PSI terms cannot be applied: of another asset or grant, or not the ones the asset's terms on
    chain list for it (``privacy.asset.terms_of_grant``)."""


class InputTooLargeError(RefusedError):
    """An input set larger than the grant's cap (``max_input``)."""

    def __init__(self, party: str, count: int, cap: int) -> None:
        super().__init__(
            "input_over_cap",
            f"{party} input has {count} identifiers, over the grant's cap of {cap}; split the set or ask for a grant"
            " with a larger max_input",
        )
        self.party = party
        self.count = count
        self.cap = cap


class VerificationError(PrivacyError):
    """Well-formed input that failed a check."""


class SignatureError(VerificationError):
    """A job record's signature by a party is missing or does not verify."""

    def __init__(self, role: str, message: str) -> None:
        super().__init__(message)
        self.role = role


class VrfError(VerificationError):
    """An ECVRF proof that does not verify for the given public key and input (RFC 9381 §5.3 INVALID)."""


class DisclosureError(VerificationError):
    """A selective-disclosure proof that does not establish its claim against the job record."""

    def __init__(self, claim: str, reason: str) -> None:
        super().__init__(f"{claim}: {reason}")
        self.claim = claim
        self.reason = reason


class RecordMismatchError(VerificationError):
    """A disclosure names another job record than the one given (SHA-256 of the signed record's bytes)."""

    def __init__(self, expected: bytes, calculated: bytes, message: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated


class InvalidPointError(MalformedError):
    """A protocol message carries bytes that are not a valid group element (off the curve, the identity, not in
    the compressed form); ``field`` names the list and ``index`` the element's place in it."""

    def __init__(self, field: str, index: int, reason: str) -> None:
        super().__init__(f"{field}[{index}] is not a valid point: {reason}")
        self.field = field
        self.index = index
        self.reason = reason


class SuiteMismatchError(MalformedError):
    """A key, message, record or terms document of another cryptographic suite than the job's (``privacy.suites``):
    a consortium runs one suite, and a job does not mix two."""
