"""C2SP tlog-checkpoint bodies: exact format and strict parsing."""

from __future__ import annotations

import base64

import pytest

from notary.log.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from notary.log.errors import MalformedError

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_format_is_exact() -> None:
    cp = Checkpoint("example.com/log", 20852163, ROOT)
    assert format_checkpoint(cp) == f"example.com/log\n20852163\n{ROOT_B64}\n"
    with_ext = Checkpoint("o", 0, ROOT, ("ext one", "two"))
    assert format_checkpoint(with_ext) == f"o\n0\n{ROOT_B64}\next one\ntwo\n"


def test_spec_example_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = parse_checkpoint(text)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert format_checkpoint(cp) == text


@pytest.mark.parametrize("size", [0, 1, 2**64 - 1])
def test_round_trip(size: int) -> None:
    cp = Checkpoint("example.com/log", size, ROOT, ("x",))
    assert parse_checkpoint(format_checkpoint(cp)) == cp


@pytest.mark.parametrize(
    "text",
    [
        "",
        "o\n1\n",
        f"o\n1\n{ROOT_B64}",  # no final newline
        f"\n1\n{ROOT_B64}\n",  # empty origin
        f"o\n01\n{ROOT_B64}\n",  # leading zero
        f"o\n00\n{ROOT_B64}\n",
        f"o\n-1\n{ROOT_B64}\n",
        f"o\n+1\n{ROOT_B64}\n",
        f"o\n 1\n{ROOT_B64}\n",
        f"o\n１\n{ROOT_B64}\n",  # a non-ASCII digit
        f"o\n{2**64}\n{ROOT_B64}\n",
        "o\n1\nAAAA\n",  # 3 bytes
        f"o\n1\n{ROOT_B64[:-1]}\n",  # missing padding
        f"o\n1\n{ROOT_B64[:-2]}B=\n",  # non-canonical last character
        f"o\n1\n{ROOT_B64} \n",
        f"o\n1\n{ROOT_B64}\n\n",  # empty extension line
        f"o\n1\n{ROOT_B64}\nx\n\n",
        f"o\x01\n1\n{ROOT_B64}\n",  # control character
        f"o\r\n1\n{ROOT_B64}\n",
    ],
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("", 1, ROOT),
        Checkpoint("a\nb", 1, ROOT),
        Checkpoint("o", -1, ROOT),
        Checkpoint("o", 2**64, ROOT),
        Checkpoint("o", 1, ROOT[:31]),
        Checkpoint("o", 1, ROOT, ("",)),
        Checkpoint("o", 1, ROOT, ("a\nb",)),
        Checkpoint("o\x00", 1, ROOT),
    ],
)
def test_format_refuses(cp: Checkpoint) -> None:
    with pytest.raises(MalformedError):
        format_checkpoint(cp)
