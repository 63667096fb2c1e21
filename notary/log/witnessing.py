"""Request and response bodies of a witness, C2SP tlog-witness ``POST /add-checkpoint`` (pure codecs).

Request: ``old <size>\\n``, up to 63 base64 consistency proof hashes one per line, a blank line, then the
signed checkpoint note. A 409 reply carries the witness's stored size (``text/x.tlog.size``: decimal and a
newline); a 200 reply carries one or more cosignature lines.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import cast

from notary.log.checkpoint import parse_decimal
from notary.log.errors import MalformedError
from notary.log.hashing import HASH_SIZE, Hash32
from notary.log.note import (
    MAX_NOTE_SIZE,
    NoteSignature,
    b64decode_hash,
    format_signature_line,
    parse_signature_lines,
)

MAX_PROOF_LINES = 63
MAX_BODY_SIZE = MAX_NOTE_SIZE + 4096


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """``old <old_size>\\n``, ``<base64 hash>\\n`` per proof hash, ``\\n``, then the note bytes."""
    if old_size < 0 or len(proof) > MAX_PROOF_LINES or any(len(h) != HASH_SIZE for h in proof):
        raise MalformedError(f"old size {old_size} or proof of {len(proof)} hashes is not a valid request")
    lines = [f"old {old_size}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof] + ["\n"]
    return "".join(lines).encode() + note


def parse_add_checkpoint(body: bytes) -> tuple[int, list[Hash32], bytes]:
    """The old size, consistency proof and note bytes of an add-checkpoint request body."""
    if len(body) > MAX_BODY_SIZE:
        raise MalformedError(f"add-checkpoint body of {len(body)} bytes exceeds {MAX_BODY_SIZE}")
    pos = body.find(b"\n")
    first = body[:pos] if pos >= 0 else b""
    if not first.startswith(b"old "):
        raise MalformedError("add-checkpoint body must start with 'old <size>\\n'")
    old_size = parse_decimal(_ascii(first[4:]), "old size")
    proof: list[bytes] = []
    while True:
        start = pos + 1
        pos = body.find(b"\n", start)
        if pos < 0:
            raise MalformedError("add-checkpoint body lacks the blank line before the checkpoint")
        if pos == start:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise MalformedError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof.append(b64decode_hash(_ascii(body[start:pos]), f"proof line {len(proof) + 1}"))
    note = bytes(body[pos + 1 :])
    if not note:
        raise MalformedError("add-checkpoint body lacks the checkpoint")
    return old_size, cast(list[Hash32], proof), note


def _ascii(data: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"non-ASCII byte in {data[:100]!r}") from exc


def format_size_body(size: int) -> bytes:
    """The 409 body: the stored tree size in decimal and a newline."""
    if size < 0:
        raise MalformedError(f"tree size {size} is negative")
    return f"{size}\n".encode()


def parse_size_body(data: bytes) -> int:
    """The tree size of a 409 body (decimal without leading zeros, then a newline)."""
    if not data.endswith(b"\n") or len(data) > 32:
        raise MalformedError(f"size body must be a decimal and a newline: {data[:100]!r}")
    return parse_decimal(_ascii(data[:-1]), "stored size")


def format_cosignature_lines(sigs: Sequence[NoteSignature]) -> bytes:
    """The 200 body: one signature line per cosignature."""
    if not sigs:
        raise MalformedError("a cosignature response needs at least one signature")
    return "".join(format_signature_line(sig) for sig in sigs).encode()


def parse_cosignature_lines(body: bytes) -> list[NoteSignature]:
    """The signatures of a 200 body: one or more signature lines (at most 100)."""
    if len(body) > MAX_NOTE_SIZE:
        raise MalformedError(f"cosignature body of {len(body)} bytes exceeds {MAX_NOTE_SIZE}")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"cosignature body is not valid UTF-8 at byte {exc.start}") from exc
    return parse_signature_lines(text)
