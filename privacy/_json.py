"""Strict reading of the privacy files' JSON: canonical form (RFC 8785) only, exact fields, base64 of RFC 4648 §4.

Every error is a :class:`~privacy.errors.MalformedError` naming the field (``disclosure.leaves[1].path[3]``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Final

from notary.event import canonical_entry
from privacy.errors import MalformedError

MAX_INT: Final = 2**53 - 1


def to_b64(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


def from_b64(value: object, loc: str, size: int | None = None) -> bytes:
    """The bytes of canonical standard base64 (padding, no line breaks), of ``size`` bytes if given."""
    if not isinstance(value, str):
        raise MalformedError(f"{loc}: must be a base64 string")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise MalformedError(f"{loc}: not base64 (RFC 4648 §4, with padding): {exc}") from exc
    if to_b64(data) != value:
        raise MalformedError(f"{loc}: not in canonical base64 (the unused bits must be 0)")
    if size is not None and len(data) != size:
        raise MalformedError(f"{loc}: {len(data)} bytes, expected {size}")
    return data


def format_document(obj: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of ``obj`` and one line feed."""
    return canonical_entry(obj) + b"\n"


def parse_document(data: bytes, what: str, fmt: str, max_bytes: int) -> dict[str, Any]:
    """The object in ``data``: UTF-8 canonical JSON with ``"format": fmt`` and an optional final line feed."""
    if len(data) > max_bytes:
        raise MalformedError(f"{what} is {len(data)} bytes, at most {max_bytes}")
    body = data[:-1] if data.endswith(b"\n") else data
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"{what} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise MalformedError(f"{what} must be a JSON object")
    if obj.get("format") != fmt:
        raise MalformedError(f"{what}: format is {obj.get('format')!r}, expected {fmt!r}")
    if canonical_entry(obj) != body:
        raise MalformedError(f"{what} is not in canonical form (RFC 8785: sorted keys, no whitespace)")
    return obj


def fields(obj: object, loc: str, keys: set[str]) -> dict[str, Any]:
    """``obj`` as a JSON object with exactly ``keys``."""
    if not isinstance(obj, dict):
        raise MalformedError(f"{loc}: must be a JSON object")
    if set(obj) != keys:
        extra, missing = sorted(set(obj) - keys), sorted(keys - set(obj))
        raise MalformedError(f"{loc}: unknown fields {extra}, missing fields {missing}")
    return obj


def text(value: object, loc: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or (pattern is not None and pattern.match(value) is None):
        expected = f"match {pattern.pattern}" if pattern is not None else "be a string"
        raise MalformedError(f"{loc}: {value!r} does not {expected}")
    return value


def choice(value: object, loc: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise MalformedError(f"{loc}: {value!r} is not one of {', '.join(options)}")
    assert isinstance(value, str)
    return value


def uint(value: object, loc: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise MalformedError(f"{loc}: must be an integer between 0 and 2^53-1")
    return value


def boolean(value: object, loc: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedError(f"{loc}: must be true or false")
    return value


def array(value: object, loc: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedError(f"{loc}: must be a JSON array")
    if len(value) > max_items:
        raise MalformedError(f"{loc}: {len(value)} items, at most {max_items}")
    return value
