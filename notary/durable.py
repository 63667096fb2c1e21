"""Files that survive a crash: written whole under a temporary name, fsynced, renamed over the old one, and the
directory entry flushed, so a reader (or a restart after ``kill -9``) finds the old file or the new one, never a
part. The members' files (``network``) and the notary's own small state files (a member's verified checkpoint,
a witness's database) are written this way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` atomically (a reader sees the old file or the new one): a temporary file beside it with
    exactly ``mode``, fsync, rename over ``path``, fsync the directory. Missing parents are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry change (a rename) to disk, where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
