"""The explorer's errors: one root, :class:`ExplorerError`, and the data each error carries.

Three families below it: :class:`ApiError`, a request the API refuses or cannot answer (its HTTP status is
chosen only in :mod:`explorer.api.errors`); :class:`LogAlarmError`, the notary served log data that does not
check out; :class:`FollowError`, the chain answered something the follower cannot index. A follower error is
also a :class:`~chain.errors.ChainError`, since the seal decoding that meets it catches chain errors.
"""

from __future__ import annotations

from chain.errors import ChainError


class ExplorerError(Exception):
    """The root of the explorer's errors."""


# -- requests ---------------------------------------------------------------------------------------------


class ApiError(ExplorerError):
    """A request the API refuses or cannot answer; ``detail`` is the sentence shown to the person."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(ApiError):
    """Nothing called ``what`` exists, or the person may not see it (the two are answered alike)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no {what}")
        self.what = what


class InvalidParameterError(ApiError):
    """Parameters that are each well formed but do not make sense together (``to`` before ``from``)."""


class InvalidCursorError(ApiError):
    """A pagination cursor this explorer did not issue, or issued for a query with other filters."""


class NotaryUnavailableError(ApiError):
    """The notary cannot be reached."""


class ChainUnavailableError(ApiError):
    """The chain cannot be read for what the answer needs (the witness keys valid for a checkpoint)."""


class IndexUnavailableError(ApiError):
    """The call index's database (PostgreSQL, ``--index``) cannot be reached."""


class NotaryAnswerError(ApiError):
    """The notary answered with an unexpected HTTP ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the notary answered {status}")
        self.status = status


class MalformedEvidenceError(ApiError):
    """The notary's evidence bundle of ``event_id`` does not parse (``notary.bundle``); ``reason`` names the field."""

    def __init__(self, event_id: str, reason: str) -> None:
        super().__init__(f"the notary's evidence bundle of call {event_id} is malformed: {reason}")
        self.event_id = event_id
        self.reason = reason


class BodyTooLargeError(ApiError):
    """A request body over ``limit`` bytes, refused before it is read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"bodies are limited to {limit} bytes")
        self.limit = limit


class RateLimitedError(ApiError):
    """The person's firm has used its request budget; a token is back in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests")
        self.retry_after = retry_after


class AuditUnavailableError(ApiError):
    """The audit outbox is full, so the query could not be recorded and is not run."""

    def __init__(self) -> None:
        super().__init__("queries cannot be recorded right now (the audit outbox is full); try again later")


class ReadOnlyError(ApiError):
    """A write method: the explorer changes nothing, for anyone."""

    def __init__(self) -> None:
        super().__init__("the explorer is read-only; the ledger is changed through the members' own tools")


# -- followers --------------------------------------------------------------------------------------------


class LogAlarmError(ExplorerError):
    """The notary served data that does not check out (a signature, a root, a malformed bundle)."""


class FollowError(ExplorerError, ChainError):
    """The chain answered something the follower cannot index (yet)."""


class ChainDivergedError(FollowError):
    """A block does not extend the indexed chain: indexing stops until the index is rebuilt."""
