"""Looking for secret values in whatever a reader was served: answers, zips, blocks, logs.

A value can leave in many encodings, so each secret becomes several needles (:func:`needles_of_text`,
:func:`needles_of_int`, :func:`needles_of_bytes`) and each served body is searched as it came and, inside it,
every JSON string that decodes as base64 or hex (raw transactions, entries, receipts) and every member of a zip
(:func:`occurrences`)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

_BASE64 = re.compile(rb"^[A-Za-z0-9+/]{16,}={0,2}$")
_HEX = re.compile(rb"^0x([0-9a-fA-F]{2})+$")


def needles_of_text(text: str) -> list[bytes]:
    """The text as UTF-8, and its hex (as in calldata, ``bytes32`` words or JSON-RPC strings)."""
    raw = text.encode()
    return [raw, raw.hex().encode()]


def needles_of_int(value: int) -> list[bytes]:
    """The number in decimal, as a ``0x`` hex quantity (JSON-RPC) and as a 32-byte ABI word in hex."""
    return [str(value).encode(), f"0x{value:x}".encode(), value.to_bytes(32, "big").hex().encode()]


def needles_of_bytes(value: bytes) -> list[bytes]:
    """The raw bytes, their hex and their base64."""
    return [value, value.hex().encode(), base64.b64encode(value)]


def _decoded(data: bytes) -> Iterator[bytes]:
    """``data``, and what hides inside it: the members of a zip, base64 and hex strings of JSON."""
    yield data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield from _decoded(archive.read(name))
        return
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return
    for text in _strings(document):
        raw = text.encode()
        if _HEX.match(raw):
            yield bytes.fromhex(text[2:])
        elif _BASE64.match(raw):
            try:
                inner = base64.b64decode(raw, validate=True)
            except binascii.Error:
                continue
            yield from _decoded(inner)


def _strings(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, Mapping):
        for key, value in document.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _strings(value)


def occurrences(served: Mapping[str, bytes], needles: Mapping[str, Iterable[bytes]]) -> list[str]:
    """``"<where>: <secret>"`` for every served body (by where it was served) that holds a needle of a secret,
    in any of the forms :func:`_decoded` finds, ignoring ASCII case (hex comes in both)."""
    found = []
    for where, body in served.items():
        pieces = [piece.lower() for piece in _decoded(body)]
        for secret, forms in needles.items():
            if any(form.lower() in piece for piece in pieces for form in forms):
                found.append(f"{where}: {secret}")
    return found


def word_occurrences(served: Mapping[str, bytes], words: Mapping[str, Iterable[bytes]]) -> list[str]:
    """``"<where>: <secret>"`` for every served JSON body that holds one of a secret's 32-byte ABI words (given as
    hex) as a whole word of one of its hex strings: at a 32-byte boundary counted from the string's start (log
    data, topics) or from after a 4-byte selector (calldata), where the ABI puts every argument and every string's
    data. A word's hex across two words (the zero padding of a short name, then a random key that happens to start
    with a quota's digits) is not one: :func:`occurrences` would count it."""
    wanted = {secret: {bytes.fromhex(w.decode()) for w in forms} for secret, forms in words.items()}
    found = []
    for where, body in served.items():
        held: set[bytes] = set()
        for text in _strings(json.loads(body)):
            if _HEX.match(text.encode()):
                raw = bytes.fromhex(text[2:])
                held.update(raw[i : i + 32] for start in (0, 4) for i in range(start, len(raw) - 31, 32))
        found += [f"{where}: {secret}" for secret, forms in wanted.items() if forms & held]
    return found
