"""The few DER (ITU-T X.690 §10) shapes the suite reads and writes: SEQUENCE, INTEGER, OCTET STRING, OID.

Only the distinguished encoding is accepted: definite, minimal lengths; minimal, non-negative integers. A reader
is a cursor over one byte string; every read names what it expected, so an error says where the input went wrong.
"""

from __future__ import annotations

from suite.errors import SuiteError

SEQUENCE = 0x30
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
OID = 0x06

# Nothing the suite parses is larger than a PKCS#8 key with its PBES2 header.
MAX_INPUT = 64 * 1024


class DERError(SuiteError):
    """The bytes are not the distinguished encoding of the expected shape (a ``ValueError``, as every
    :class:`~suite.errors.SuiteError`)."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, minimal definite length, content."""
    return bytes([tag]) + _length(len(content)) + content


def sequence(*elements: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(elements))


def integer(value: int) -> bytes:
    """A non-negative INTEGER in its minimal two's-complement form (a leading 00 only when the top bit is set)."""
    if value < 0:
        raise AssertionError("the suite encodes no negative integer")
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form (X.690 §8.19)."""
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID, bytes(body))


class Reader:
    """Reads elements one after another from `data`; `end()` checks nothing is left over."""

    def __init__(self, data: bytes, what: str) -> None:
        if len(data) > MAX_INPUT:
            raise DERError(f"{what}: {len(data)} bytes is more than the {MAX_INPUT} accepted")
        self._data = data
        self._pos = 0
        self._what = what

    def _fail(self, message: str) -> DERError:
        return DERError(f"{self._what}: {message} at byte {self._pos}")

    def peek_tag(self) -> int | None:
        return self._data[self._pos] if self._pos < len(self._data) else None

    def read(self, tag: int) -> bytes:
        """The content of the next element, which must carry `tag`."""
        data, pos = self._data, self._pos
        if pos + 2 > len(data):
            raise self._fail(f"expected tag 0x{tag:02x}, found the end")
        if data[pos] != tag:
            raise self._fail(f"expected tag 0x{tag:02x}, found 0x{data[pos]:02x}")
        first = data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise self._fail("indefinite or oversized length")
            if pos + count > len(data):
                raise self._fail("truncated length")
            length = int.from_bytes(data[pos : pos + count], "big")
            if data[pos] == 0 or length < 0x80:
                raise self._fail("length not in its shortest form")
            pos += count
        if pos + length > len(data):
            raise self._fail(f"element of {length} bytes runs past the end")
        self._pos = pos + length
        return data[pos : pos + length]

    def read_sequence(self, what: str) -> Reader:
        return Reader(self.read(SEQUENCE), f"{self._what}: {what}")

    def read_integer(self) -> int:
        """A non-negative INTEGER in minimal form."""
        content = self.read(INTEGER)
        if not content:
            raise self._fail("empty INTEGER")
        if content[0] & 0x80:
            raise self._fail("negative INTEGER")
        if len(content) > 1 and content[0] == 0 and not content[1] & 0x80:
            raise self._fail("INTEGER with a superfluous leading zero")
        return int.from_bytes(content, "big")

    def read_oid(self) -> bytes:
        """The full encoded element, to compare against `oid(...)`."""
        start = self._pos
        self.read(OID)
        return self._data[start : self._pos]

    def end(self) -> None:
        if self._pos != len(self._data):
            raise self._fail(f"{len(self._data) - self._pos} bytes left over")
