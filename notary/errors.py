"""Errors of the notary. The root and the verification errors come from the pure core (``notary.log.errors``);
the service adds the refusals a gateway or reader can meet. HTTP statuses are chosen only in ``notary.api.errors``."""

from __future__ import annotations

from notary.log.errors import (
    ConsistencyProofError,
    InclusionProofError,
    MalformedError,
    NotaryError,
    RootMismatchError,
    SignatureError,
    UnknownKeyError,
    VerificationError,
)
from notary.storage.base import StorageFullError, StoreError, StoreUnavailableError

__all__ = [
    "BatchTooLargeError",
    "CompromisedKeyError",
    "ConflictError",
    "ConsistencyProofError",
    "InclusionProofError",
    "MalformedError",
    "NotFoundError",
    "NotaryError",
    "RootMismatchError",
    "SignatureError",
    "StorageFullError",
    "StoreError",
    "StoreUnavailableError",
    "UnknownGatewayError",
    "UnknownKeyError",
    "UnprocessableError",
    "VerificationError",
]


class UnknownGatewayError(NotaryError):
    """A batch came from a gateway whose org has no gateway key in the consortium."""


class CompromisedKeyError(SignatureError):
    """A batch signed by a gateway key declared compromised carries an event dated at or after the compromise (or
    before the key was valid): the key does not count for it."""


class BatchTooLargeError(NotaryError):
    """A batch exceeds the byte or event limit; split it."""


class ConflictError(NotaryError):
    """An event id or a gateway sequence number was already used by a different event, or an alarm to resolve was
    resolved already."""


class UnprocessableError(NotaryError):
    """A well-formed request whose content is refused (an alarm's resolution without a reason); nothing changed."""


class NotFoundError(NotaryError):
    """No such event, checkpoint or tile (yet)."""
