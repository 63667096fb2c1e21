"""chain.node.connections.read_headers: a request's header block read as the standard library reads it (the same
headers, values and errors), simple blocks without the email parser."""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.node.connections import read_headers

BLOCKS = [
    b"Host: 127.0.0.1:8545\r\nAccept-Encoding: identity\r\nContent-Length: 63\r\n"
    b"Content-Type: application/json\r\n\r\n",
    b"\r\n",
    b"\n",
    b"",
    b"A: 1\nB:2\n\n",
    b"X:   spaced value  \t \r\n\r\n",
    b"Empty:\r\nTabbed:\t\tx\r\n\r\n",
    b"Dup: 1\r\nDup: 2\r\ndup: 3\r\n\r\n",
    b"Folded: a\r\n  b\r\n\r\n",  # obsolete line folding
    b"Bare: a\rb\r\n\r\n",
    b"Latin: caf\xe9\r\n\r\n",
    b"Nel: a\x85b\r\nNext: c\r\n\r\n",  # a line break to the email parser
    b"No colon here\r\nAfter: x\r\n\r\n",
    b": no name\r\n\r\n",
    b"From nobody\r\nX: y\r\n\r\n",
    b"Sp ace: v\r\n\r\n",
    b"Unended: v",
    b"Half: v\r\n",
]


def both(block: bytes) -> tuple[object, object]:
    """What the standard library and read_headers make of ``block``: its headers in order, or the error."""

    def read(parse: object) -> object:
        try:
            message = parse(io.BytesIO(block))  # type: ignore[operator]
        except http.client.HTTPException as exc:
            return type(exc), str(exc)
        return message.items(), type(message)

    return read(http.client.parse_headers), read(read_headers)


@pytest.mark.parametrize("block", BLOCKS)
def test_a_header_block_reads_as_the_standard_librarys(block: bytes) -> None:
    standard, lean = both(block)
    assert lean == standard


def test_too_long_a_line_and_too_many_headers_are_the_standard_librarys_errors() -> None:
    for block in (b"Long: " + b"x" * 70000 + b"\r\n\r\n", b"".join(b"H%d: v\r\n" % i for i in range(101)) + b"\r\n"):
        standard, lean = both(block)
        assert lean == standard and isinstance(lean, tuple) and issubclass(lean[0], http.client.HTTPException)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=12) | st.sampled_from([b"Name: v", b" ", b":", b"\t", b"\r", b"\x85"]), max_size=8))
def test_any_header_lines_read_as_the_standard_librarys(parts: list[bytes]) -> None:
    block = b"\r\n".join(parts) + b"\r\n\r\n"
    standard, lean = both(block)
    assert lean == standard
