"""Errors of the chain package: one root, bad input kept apart from failed checks."""

from __future__ import annotations

from typing import Any


class ChainError(Exception):
    """Root of every error raised by ``chain``."""


class MalformedError(ChainError, ValueError):
    """Input that is not of the expected form (a bad name, a wrong-length digest)."""


class BackendError(ChainError):
    """The chain could not be reached or answered something unusable."""


class RpcAnswerError(BackendError):
    """The node answered a JSON-RPC error object (a refusal of this client too); ``reason`` is its message."""

    def __init__(self, message: str, reason: str, error: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        #: The JSON-RPC error object as the node answered it (None for a refusal over HTTP without one).
        self.error = error


class BatchAnswerError(BackendError):
    """A JSON-RPC batch not answered one answer per request: refused whole with one error object (``error``), or
    answered with ``answers`` answers (None when refused) to ``requests`` requests."""

    def __init__(self, message: str, requests: int, answers: int | None, error: Any = None) -> None:
        super().__init__(message)
        self.requests = requests
        self.answers = answers
        self.error = error


class ContractRevertError(ChainError):
    """A contract refused a call; ``reason`` is the contract's own revert message."""

    def __init__(self, reason: str, function: str = "") -> None:
        self.reason = reason
        self.function = function
        where = f"{function}: " if function else ""
        super().__init__(f"{where}{reason}")
