"""C2SP tlog-witness bodies: add-checkpoint request, 409 size body, 200 cosignature lines."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.log.cosignature import CosignatureSigner
from notary.log.errors import MalformedError
from notary.log.witnessing import (
    format_add_checkpoint,
    format_cosignature_lines,
    format_size_body,
    parse_add_checkpoint,
    parse_cosignature_lines,
    parse_size_body,
)

NOTE = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— x AAAAAAA=\n".encode()
HASHES = [bytes([i]) * 32 for i in range(3)]
B64 = [base64.b64encode(x).decode() for x in HASHES]


def test_spec_example_request_parses() -> None:
    body = (
        b"old 20852014\n"
        b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
        b"jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        b"\n"
        b"example.com/behind-the-sofa\n"
    )
    old, proof, note = parse_add_checkpoint(body)
    assert old == 20852014 and len(proof) == 2 and note == b"example.com/behind-the-sofa\n"
    assert proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")


def test_add_checkpoint_round_trips() -> None:
    body = format_add_checkpoint(7, HASHES, NOTE)
    assert body == ("old 7\n" + "".join(b + "\n" for b in B64) + "\n").encode() + NOTE
    assert parse_add_checkpoint(body) == (7, HASHES, NOTE)
    assert format_add_checkpoint(*parse_add_checkpoint(body)) == body
    assert parse_add_checkpoint(format_add_checkpoint(0, [], NOTE)) == (0, [], NOTE)


def test_63_proof_lines_accepted_64_rejected() -> None:
    assert len(parse_add_checkpoint(format_add_checkpoint(1, HASHES[:1] * 63, NOTE))[1]) == 63
    body = b"old 1\n" + (B64[0] + "\n").encode() * 64 + b"\n" + NOTE
    with pytest.raises(MalformedError, match="63"):
        parse_add_checkpoint(body)
    with pytest.raises(MalformedError):
        format_add_checkpoint(1, HASHES[:1] * 64, NOTE)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1",
        b"old 1\n",
        b"old 1\n\n",  # no checkpoint
        b"old 01\n\n" + NOTE,
        b"old -1\n\n" + NOTE,
        b"old  1\n\n" + NOTE,
        b"Old 1\n\n" + NOTE,
        b"old 1\r\n\n" + NOTE,
        b"old \xff\n\n" + NOTE,
        b"old 1\nAAAA\n\n" + NOTE,  # 3-byte hash
        ("old 1\n" + B64[0][:-1] + "\n\n").encode() + NOTE,
        ("old 1\n" + B64[0] + " \n\n").encode() + NOTE,
        ("old 1\n" + B64[0] + "\n").encode() + NOTE,  # no blank line
        b"old 18446744073709551616\n\n" + NOTE,
    ],
)
def test_parse_add_checkpoint_refuses(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_add_checkpoint(body)


def test_format_add_checkpoint_refuses_bad_input() -> None:
    with pytest.raises(MalformedError):
        format_add_checkpoint(-1, [], NOTE)
    with pytest.raises(MalformedError):
        format_add_checkpoint(1, [b"short"], NOTE)


def test_size_body() -> None:
    assert format_size_body(20852163) == b"20852163\n"
    assert parse_size_body(b"20852163\n") == 20852163
    assert parse_size_body(format_size_body(0)) == 0
    for bad in [b"", b"1", b"01\n", b"1\n\n", b" 1\n", b"1 \n", b"x\n", b"\xff\n", b"9" * 40 + b"\n"]:
        with pytest.raises(MalformedError):
            parse_size_body(bad)
    with pytest.raises(MalformedError):
        format_size_body(-1)


def test_cosignature_lines_round_trip() -> None:
    w1 = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(b"\x03" * 32))
    w2 = CosignatureSigner("witness.example/w2", Ed25519PrivateKey.from_private_bytes(b"\x04" * 32))
    sigs = [w1.cosign("o\n1\nx\n", 10), w2.cosign("o\n1\nx\n", 11)]
    body = format_cosignature_lines(sigs)
    assert body.startswith("— witness.example/w1 ".encode()) and body.count(b"\n") == 2
    assert parse_cosignature_lines(body) == sigs
    assert format_cosignature_lines(parse_cosignature_lines(body)) == body
    with pytest.raises(MalformedError):
        format_cosignature_lines([])


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\n",
        "— w AAAAAAA=".encode(),  # no newline
        "— w AAAAAAA=\n\n".encode(),
        b"- w AAAAAAA=\n",
        "— w AAAAAAA=\r\n".encode(),
        b"\xe2\x80\n",
        "— w AAAAAAA=\n".encode() * 101,
    ],
)
def test_parse_cosignature_lines_refuses(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_cosignature_lines(body)
