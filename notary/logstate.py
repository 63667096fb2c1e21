"""What a member remembers of the log between two runs of ``consortium verify log``: the last checkpoint it
verified, so that the next run can tell a log that went back or forked from one that grew.

A witness keeps the checkpoint it last cosigned (``notary.witness.state``) and cosigns only what extends it. A
member that verifies the log daily does the same for itself, in one small JSON file per consortium and log
origin (:func:`default_state_path`)::

    {"format": "consortium-ledger/verified-checkpoint/v1", "origin": ..., "size": N, "root": "<hex>",
     "note": "<the checkpoint note as the log served it: signed by the log key, cosigned>",
     "verified_ms": ..., "url": "<where it was read>"}

The note is the record; ``size`` and ``root`` are there for people reading the file and must agree with it. On
loading, the note must open under the log key of ``consortium.json`` and name the log's origin, so a state file
edited by hand (or written for another log) is refused, not trusted. The file is written atomically (a
temporary file in the same directory, flushed to disk, then renamed over the old one), and only after a run
verified everything; a refused run never touches it. A file that cannot be read or parsed is a
:class:`LogStateError` that says what is wrong and leaves the file as it is.

The comparison itself (the consistency proof, the refusal of a smaller tree or of another root at one size) is
``notary.mirror.check_extends``, with the proof checked by ``notary.log.proof.verify_consistency``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from notary.durable import replace_file
from notary.log.checkpoint import Checkpoint, parse_checkpoint
from notary.log.errors import NotaryError
from notary.log.note import open_note
from notary.logsuite import LogVerifier

FORMAT = "consortium-ledger/verified-checkpoint/v1"
#: Directory beside ``consortium.json`` that holds one state file per log origin.
STATE_DIR = "verified-log"
#: The state file is the member's own: read and written by its owner only.
STATE_FILE_MODE = 0o600
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class LogStateError(NotaryError):
    """The state file of ``verify log`` cannot be read, is not a state of this log, or cannot be written."""


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint a member verified: the log-signed ``note`` as served, when (unix ms) and where it was read."""

    checkpoint: Checkpoint
    note: bytes
    verified_ms: int
    url: str

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "origin": self.checkpoint.origin,
            "size": self.checkpoint.size,
            "root": self.checkpoint.root.hex(),
            "note": self.note.decode("utf-8"),
            "verified_ms": self.verified_ms,
            "url": self.url,
        }


def default_state_path(consortium_file: Path, origin: str) -> Path:
    """``<directory of consortium.json>/verified-log/<origin>.json``: one file per consortium and log origin
    (the origin made a file name, with a short hash of it so two origins never share one)."""
    digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:12]
    name = _UNSAFE.sub("_", origin).strip("._")[:80] or "log"
    return Path(consortium_file).absolute().parent / STATE_DIR / f"{name}-{digest}.json"


def load_state(path: Path, log: LogVerifier, rotated: Sequence[LogVerifier] = ()) -> VerifiedCheckpoint | None:
    """The checkpoint verified last, from ``path``; None when there is no such file (the first run). The note
    must open under ``log`` (the log key of ``consortium.json``), or one of the log's keys on chain ``rotated``
    (it was checked against them, by the rule of ``notary.logkeys``, when it was kept), and agree with the file's
    size and root."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LogStateError(f"cannot read the state file {path}: {exc}") from exc
    problem = f"the state file {path} is not a checkpoint verified before"
    keep = "(it is left as it is: repair it, or move it aside to start again from trust on first use)"
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"its format is {found!r}, expected {FORMAT!r}")
        note = str(data["note"]).encode("utf-8")
        opened, _ = open_note(note, [log, *rotated])
        checkpoint = parse_checkpoint(opened.text)
        if checkpoint.origin != log.name:
            raise ValueError(f"it is of log {checkpoint.origin!r}, not {log.name!r}")
        if (data["origin"], data["size"], data["root"]) != (log.name, checkpoint.size, checkpoint.root.hex()):
            raise ValueError("its origin, size or root is not the note's")
        verified_ms, url = data["verified_ms"], data["url"]
        if not isinstance(verified_ms, int) or isinstance(verified_ms, bool) or not isinstance(url, str):
            raise ValueError("verified_ms must be an integer and url a string")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LogStateError(f"{problem}: not JSON ({exc}) {keep}") from exc
    except KeyError as exc:
        raise LogStateError(f"{problem}: it has no {exc.args[0]!r} {keep}") from exc
    except (ValueError, TypeError, NotaryError) as exc:
        raise LogStateError(f"{problem}: {exc} {keep}") from exc
    return VerifiedCheckpoint(checkpoint, note, verified_ms, url)


def save_state(path: Path, state: VerifiedCheckpoint) -> None:
    """Write ``state`` to ``path`` atomically (readers see the old file or the new one, never a part), creating
    its directory. LogStateError when it cannot be written; the old file is then unchanged."""
    path = Path(path)
    data = (json.dumps(state.to_json(), indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        replace_file(path, data, STATE_FILE_MODE)
    except OSError as exc:
        raise LogStateError(f"cannot write the state file {path}: {exc}") from exc


def save_refused(path: Path, note: bytes, checkpoint: Checkpoint) -> Path:
    """Keep a refused checkpoint's note beside the state file, as evidence (the log key signed it and the one
    in the state file, which cannot both be true): ``<state>.refused-<size>-<root prefix>.note``."""
    target = Path(path).with_name(f"{Path(path).name}.refused-{checkpoint.size}-{checkpoint.root.hex()[:16]}.note")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(note)
    except OSError as exc:
        raise LogStateError(f"cannot keep the refused checkpoint in {target}: {exc}") from exc
    return target
