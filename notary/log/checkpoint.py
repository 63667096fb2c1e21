"""Checkpoints of the audit log, C2SP tlog-checkpoint: the note text that commits to a tree head.

The body is the origin line, the tree size in decimal, the base64 root hash, then optional extension lines,
each ending in a newline. Signing and opening the note around it is ``note``'s job.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from notary.log.errors import MalformedError
from notary.log.hashing import HASH_SIZE
from notary.log.note import b64decode_hash, check_text

MAX_TREE_SIZE = 2**64 - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's origin, its size and root hash, and opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def parse_decimal(text: str, what: str, limit: int = MAX_TREE_SIZE) -> int:
    """An ASCII decimal without leading zeros (except "0"), at most ``limit``."""
    if not _DECIMAL.fullmatch(text):
        raise MalformedError(f"{what} must be a decimal without leading zeros: {text[:100]!r}")
    value = int(text)
    if value > limit:
        raise MalformedError(f"{what} {value} exceeds {limit}")
    return value


def format_checkpoint(cp: Checkpoint) -> str:
    """The checkpoint body, exactly: ``<origin>\\n<size>\\n<base64 root>\\n`` then ``<extension>\\n`` per line.

    The size is decimal without leading zeros and the root standard padded base64 of its 32 bytes.
    """
    if not 0 <= cp.size <= MAX_TREE_SIZE:
        raise MalformedError(f"tree size {cp.size} out of range 0..2^64-1")
    if len(cp.root) != HASH_SIZE:
        raise MalformedError(f"root hash is {len(cp.root)} bytes, expected {HASH_SIZE}")
    lines = (cp.origin, str(cp.size), base64.b64encode(cp.root).decode(), *cp.extensions)
    if any(not line or "\n" in line for line in lines):
        raise MalformedError("checkpoint origin and extension lines must be non-empty single lines")
    text = "".join(line + "\n" for line in lines)
    check_text(text)
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a body holds; MalformedError unless it is in the canonical form."""
    check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError(f"checkpoint has {len(lines)} lines, needs origin, size and root hash")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise MalformedError("checkpoint origin is empty")
    size = parse_decimal(size_text, "checkpoint tree size")
    root = b64decode_hash(root_text, "checkpoint root hash")
    if any(not line for line in extensions):
        raise MalformedError("checkpoint extension lines must be non-empty")
    return Checkpoint(origin, size, root, tuple(extensions))
