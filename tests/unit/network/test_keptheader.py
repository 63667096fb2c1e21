"""The kept trusted header's file (``network.keptheader``): what is written, where, with which mode, and what a
file that is not a kept header is. That the chain checks what is read from it is in
``tests/integration/contracts/test_private_check_here.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chain.lightclient import KeptHeader, KeptHeaderError
from network.keptheader import FORMAT, KeptHeaderFile, cli_header_path, parse, to_json

KEPT = KeptHeader(b"\x01" * 32, 42, b"\x02" * 32, (b"\x03" * 20, b"\x04" * 20), 1_700_000_000)


def test_a_kept_header_is_read_back_as_written(tmp_path: Path) -> None:
    path = cli_header_path(tmp_path)
    assert path == tmp_path.absolute() / "verified-chain" / "header.json"
    store = KeptHeaderFile(path)
    assert store.load() is None  # nothing kept yet: the first walk starts at the genesis
    store.save(KEPT)
    assert store.load() == KEPT
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["format"], data["number"], data["hash"]) == (FORMAT, 42, "0x" + "02" * 32)
    assert data["validators"] == ["0x" + "03" * 20, "0x" + "04" * 20] and isinstance(data["kept_ms"], int)
    assert path.stat().st_mode & 0o777 == 0o600
    store.save(KeptHeader(KEPT.genesis, 43, b"\x05" * 32, KEPT.validators, KEPT.timestamp + 1))
    assert store.load() == KeptHeader(KEPT.genesis, 43, b"\x05" * 32, KEPT.validators, KEPT.timestamp + 1)
    assert sorted(os.listdir(path.parent)) == ["header.json"]  # replaced whole, no temporary file left


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "consortium-ledger/verified-checkpoint/v1"}, "its format is"),
        ({"genesis": "01" * 32}, "genesis must be a 0x-prefixed hex string"),
        ({"hash": "0x" + "zz" * 32}, "hash is not hex"),
        ({"hash": "0x" + "02" * 31}, "hash must be 32 bytes, not 31"),
        ({"number": "42"}, "number must be a whole number"),
        ({"number": True}, "number must be a whole number"),
        ({"number": -1}, "number must be a whole number"),
        ({"validators": []}, "validators must be a non-empty list"),
        ({"validators": ["0x" + "03" * 19]}, "a validator must be 20 bytes"),
        ({"timestamp": None}, "timestamp must be a whole number"),
    ],
)
def test_a_file_that_is_not_a_kept_header_is_refused_and_left_as_it_is(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = tmp_path / "header.json"
    raw = json.dumps({**to_json(KEPT, 0), **change}).encode()
    path.write_bytes(raw)
    with pytest.raises(KeptHeaderError, match=f"it is not a kept header: {message}"):
        KeptHeaderFile(path).load()
    assert path.read_bytes() == raw
    with pytest.raises(ValueError, match="not an object"):
        parse([])


def test_a_file_that_cannot_be_written_keeps_the_old_one(tmp_path: Path) -> None:
    store = KeptHeaderFile(tmp_path / "header.json")
    store.save(KEPT)
    blocked = KeptHeaderFile(tmp_path / "header.json" / "below")  # its directory is a file
    with pytest.raises(KeptHeaderError, match="cannot be written"):
        blocked.save(KEPT)
    assert store.load() == KEPT
