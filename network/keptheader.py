"""The kept trusted header: the last block header a member's checker accepted from the founding validators, kept
between runs so that the next checker resumes from it instead of following every header from the genesis
(``chain.contracts.privatecheck.TrustedHeads``, ``chain.lightclient.resume``).

One small JSON file, written atomically (``notary.durable.replace_file``: a temporary file beside it, flushed,
renamed over the old one), readable by its owner only::

    {"format": "consortium-ledger/verified-header/v1", "genesis": "0x<hash of block 0>", "number": N,
     "hash": "0x<hash of block N>", "validators": ["0x<address>", ...], "timestamp": T, "kept_ms": ...}

Where it is: ``verified-chain/header.json`` beside ``consortium.json`` for the CLI's checks (``grant check``,
``privacy run``), as ``verify log`` keeps ``verified-log/``; ``gateways/<org>/<name>.verified-header.json`` for
a gateway (``gateway.service``).

What is trusted: the file as a starting point only. On loading, its genesis must be the hash of the block 0 the
checker has just accepted from the founding validators of ``consortium.json``, and the header the node serves
at its number must hash to its hash and name its validators; every header after it is checked seal by seal.
Whoever can write the file could make the checker start from a header of their choosing, as whoever can write
``consortium.json`` beside it could name other founders: both are the member's own files. A file that cannot be
read, is not of this format, is of another chain or names a header the node's chain does not lead through is
refused (``KeptHeaderError``, then ``UnprovenError``: no answer) and left as it is, for someone to look at and
move aside; the checker then follows from the genesis again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

from chain.lightclient import KeptHeader, KeptHeaderError
from notary.durable import replace_file

FORMAT: Final = "consortium-ledger/verified-header/v1"
#: Directory beside ``consortium.json`` that holds the CLI's kept header.
STATE_DIR: Final = "verified-chain"
#: Its file name there.
STATE_FILE: Final = "header.json"
#: The member's own file: read and written by its owner only.
FILE_MODE: Final = 0o600


def cli_header_path(directory: Path) -> Path:
    """``<directory of consortium.json>/verified-chain/header.json``."""
    return Path(directory).absolute() / STATE_DIR / STATE_FILE


def _hex(value: object, what: str, size: int) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{what} must be a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise ValueError(f"{what} is not hex") from None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, not {len(raw)}")
    return raw


def _count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be a whole number")
    return value


def parse(data: Any) -> KeptHeader:
    """A kept header from its JSON form (ValueError naming what is wrong)."""
    if not isinstance(data, dict):
        raise ValueError(f"it is a JSON {type(data).__name__}, not an object")
    if data.get("format") != FORMAT:
        raise ValueError(f"its format is {data.get('format')!r}, expected {FORMAT!r}")
    validators = data.get("validators")
    if not isinstance(validators, list) or not validators:
        raise ValueError("validators must be a non-empty list")
    return KeptHeader(
        genesis=_hex(data.get("genesis"), "genesis", 32),
        number=_count(data.get("number"), "number"),
        hash=_hex(data.get("hash"), "hash", 32),
        validators=tuple(_hex(v, "a validator", 20) for v in validators),
        timestamp=_count(data.get("timestamp"), "timestamp"),
    )


def to_json(kept: KeptHeader, kept_ms: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "genesis": "0x" + kept.genesis.hex(),
        "number": kept.number,
        "hash": "0x" + kept.hash.hex(),
        "validators": ["0x" + v.hex() for v in kept.validators],
        "timestamp": kept.timestamp,
        "kept_ms": kept_ms,
    }


class KeptHeaderFile:
    """A kept header in the file at ``path`` (``chain.contracts.privatecheck.HeaderKeep``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)

    def load(self) -> KeptHeader | None:
        """The header kept, None when there is no file yet; ``KeptHeaderError`` when it cannot be read or is not
        a kept header (the file is left as it is)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeptHeaderError(f"it cannot be read: {exc}") from exc
        try:
            return parse(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KeptHeaderError(f"it is not JSON ({exc})") from exc
        except ValueError as exc:
            raise KeptHeaderError(f"it is not a kept header: {exc}") from exc

    def save(self, kept: KeptHeader) -> None:
        """Write ``kept`` atomically; ``KeptHeaderError`` when it cannot be written (the old file is unchanged)."""
        data = (json.dumps(to_json(kept, int(time.time() * 1000)), indent=1) + "\n").encode("utf-8")
        try:
            replace_file(self.path, data, FILE_MODE)
        except OSError as exc:
            raise KeptHeaderError(f"{self.path} cannot be written: {exc}") from exc


__all__ = ["FILE_MODE", "FORMAT", "STATE_DIR", "STATE_FILE", "KeptHeaderFile", "cli_header_path", "parse", "to_json"]
