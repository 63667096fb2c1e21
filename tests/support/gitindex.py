"""The files git tracks, read from the repository's index file instead of running ``git ls-files``.

Tests under tests/unit/ start no child process, and the repository checks (tests/unit/test_docs.py,
tests/unit/test_error_roots.py) need only the tracked paths: the index lists them, one entry per path and stage.
Versions 2, 3 and 4 of the format are read (https://git-scm.com/docs/index-format); a split or sparse index is
refused with a clear error rather than read partly.
"""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER = struct.Struct(">4sLL")
#: ctime, mtime (seconds and nanoseconds each), dev, ino, mode, uid, gid, size, the object id, flags.
_ENTRY = struct.Struct(">10L20sH")
_EXTENDED = 0x4000


class GitIndexError(Exception):
    """The index is missing or in a form this reader does not handle."""


def git_dir(root: Path) -> Path:
    """The git directory of the work tree at ``root`` (``.git``, or where a ``.git`` file points)."""
    dot_git = root / ".git"
    if dot_git.is_file():  # a linked work tree or a submodule: "gitdir: <path>"
        pointer = dot_git.read_text(encoding="utf-8").strip()
        if not pointer.startswith("gitdir: "):
            raise GitIndexError(f"{dot_git} is a file but does not start with 'gitdir: '")
        return (root / pointer.removeprefix("gitdir: ")).resolve()
    if dot_git.is_dir():
        return dot_git
    raise GitIndexError(f"{root} is not a git work tree (no .git)")


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """Git's offset encoding (index version 4): the value and the position after it."""
    byte = data[at]
    value = byte & 0x7F
    at += 1
    while byte & 0x80:
        byte = data[at]
        value = ((value + 1) << 7) | (byte & 0x7F)
        at += 1
    return value, at


def tracked_files(root: Path) -> list[str]:
    """The paths git tracks under ``root``, relative and with ``/``, sorted, as ``git ls-files`` lists them."""
    index = git_dir(root) / "index"
    try:
        data = index.read_bytes()
    except FileNotFoundError:
        raise GitIndexError(f"{index} does not exist (nothing was ever added?)") from None
    signature, version, count = _HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3, 4):
        raise GitIndexError(f"{index}: not a git index of version 2, 3 or 4 ({signature!r}, version {version})")
    names: list[str] = []
    at = _HEADER.size
    previous = b""
    for _ in range(count):
        start = at
        *_, mode, _uid, _gid, _size, _oid, flags = _ENTRY.unpack_from(data, at)
        at += _ENTRY.size
        if version >= 3 and flags & _EXTENDED:
            at += 2
        if mode & 0o170000 == 0o040000:  # pragma: no cover - a sparse index's directory entry
            raise GitIndexError(f"{index} is a sparse index; expand it with 'git sparse-checkout disable'")
        if version == 4:
            strip, at = _varint(data, at)
            end = data.index(b"\0", at)
            name = previous[: len(previous) - strip] + data[at:end]
            at = end + 1
        else:
            end = data.index(b"\0", at)
            name = data[at:end]
            at = start + ((end - start) // 8 + 1) * 8  # NUL-padded to a multiple of 8 bytes
        previous = name
        names.append(name.decode("utf-8", "surrogateescape"))
    while at + 8 <= len(data) - 20:  # the extensions, then the checksum (20 bytes with SHA-1 object ids)
        extension, size = struct.unpack_from(">4sL", data, at)
        if extension == b"link":  # pragma: no cover - the entries are spread over a shared index
            raise GitIndexError(f"{index} is a split index; join it with 'git update-index --no-split-index'")
        at += 8 + size
    return sorted(set(names))  # a conflicted path has one entry per stage
