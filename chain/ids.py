"""Identifiers shared by the contracts and every Python client.

Org ids, asset ids, purpose codes and service ids are short ASCII names (``[a-z0-9][a-z0-9._-]{0,31}``)
stored on chain as ``bytes32``: the ASCII bytes left-aligned and zero-padded, as Solidity stores a short
string in a ``bytes32``. The mapping is one-to-one, so a name read back from chain is exactly the name written.
"""

from __future__ import annotations

import re
from enum import IntEnum, IntFlag
from typing import NewType

from chain.errors import MalformedError

OrgId = NewType("OrgId", str)
AssetId = NewType("AssetId", str)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


def check_name(text: str, what: str = "name") -> str:
    """Return ``text`` if it is a valid short name, else raise :class:`MalformedError`."""
    if not isinstance(text, str) or _NAME.fullmatch(text) is None:
        raise MalformedError(
            f"invalid {what} {text!r}: use 1-32 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return text


def name_to_bytes32(text: str, what: str = "name") -> bytes:
    """Encode a short name as the 32 bytes stored on chain."""
    return check_name(text, what).encode("ascii").ljust(32, b"\0")


def bytes32_to_name(raw: bytes) -> str:
    """Decode 32 bytes read from chain back into the short name; the empty value decodes to ``""``."""
    if len(raw) != 32:
        raise MalformedError(f"expected 32 bytes, got {len(raw)}")
    text = raw.rstrip(b"\0")
    if b"\0" in text:
        raise MalformedError(f"not a short name: {raw.hex()}")
    return text.decode("ascii", errors="strict")


#: The longest URL an endpoint record of the TrustDirectory holds (the contract refuses a longer one).
MAX_URL = 512


def endpoint_url(value: bytes) -> str | None:
    """The URL an endpoint record holds, or None when it is not one a client can send to (longer than
    :data:`MAX_URL` bytes, not UTF-8, not ``http(s)://`` and a host, spaces or control characters): what a
    command refuses to publish, and a record the chain took but no follower uses."""
    if len(value) > MAX_URL:
        return None
    try:
        url = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or rest.startswith("/"):
        return None
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    return url


class Role(IntFlag):
    """Roles of a member, as the bit set stored in ConsortiumRegistry."""

    MEMBER = 1
    OPERATOR = 2
    REGULATOR = 4
    VALIDATOR = 8
    WITNESS = 16
    NOTARY = 32

    @classmethod
    def parse(cls, names: list[str] | tuple[str, ...]) -> Role:
        value = cls(0)
        for name in names:
            try:
                value |= cls[name.upper()]
            except KeyError:
                known = ", ".join(r.name or "" for r in cls)
                raise MalformedError(f"unknown role {name!r}: known roles are {known}") from None
        return value

    def names(self) -> list[str]:
        return [r.name or "" for r in Role if r in self]


class MemberStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2
    REMOVED = 3


class AssetKind(IntEnum):
    DATASET = 1
    FEED = 2
    MODEL = 3
    API = 4


def contract_address(sender: bytes, nonce: int) -> bytes:
    """The address of the contract that account ``sender`` (20 bytes) creates with its transaction of ``nonce``: the
    yellow paper's ``keccak(rlp([sender, nonce]))[12:]``. rlp is imported here, not at the top: a read-only command
    imports this module, and rlp's codecs pull in eth-account."""
    import rlp
    from eth_utils.crypto import keccak

    return bytes(keccak(rlp.encode([sender, nonce]))[12:])
