"""The notary's embedded store, kept importable here: :class:`LogStore` is the SQLite backend
(``notary.storage.sqlite``) of the storage interface (``notary.storage.base``)."""

from __future__ import annotations

from notary.storage.base import (
    BatchRow,
    CheckpointRow,
    EntryRow,
    StorageFullError,
    StoreError,
    StoreUnavailableError,
)
from notary.storage.sqlite import SCHEMA_VERSION, LogStore

__all__ = [
    "SCHEMA_VERSION",
    "BatchRow",
    "CheckpointRow",
    "EntryRow",
    "LogStore",
    "StorageFullError",
    "StoreError",
    "StoreUnavailableError",
]
