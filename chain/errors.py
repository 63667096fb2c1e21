"""Errors of the chain package: one root, bad input kept apart from failed checks."""

from __future__ import annotations


class ChainError(Exception):
    """Root of every error raised by ``chain``."""


class MalformedError(ChainError, ValueError):
    """Input that is not of the expected form (a bad name, a wrong-length digest)."""


class BackendError(ChainError):
    """The chain could not be reached or answered something unusable."""


class RpcAnswerError(BackendError):
    """The node answered a JSON-RPC error object (a refusal of this client too); ``reason`` is its message."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ContractRevertError(ChainError):
    """A contract refused a call; ``reason`` is the contract's own revert message."""

    def __init__(self, reason: str, function: str = "") -> None:
        self.reason = reason
        self.function = function
        where = f"{function}: " if function else ""
        super().__init__(f"{where}{reason}")
