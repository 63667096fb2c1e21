"""Exports of the filtered calls: CSV and a JSON array, streamed; a zip of their evidence bundles.

Each exported call carries its leaf index, leaf hash and the smallest checkpoint covering it (size and root),
so a row can be checked against the log without the explorer. The streams yield chunks of 500 rows and never
hold the whole export; the zip is built in a spooled temporary file (memory up to 16 MiB, then disk).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import IO

from explorer.calls import CallFilter, CallRow, CallStore
from explorer.errors import ApiError
from explorer.keys import ConsortiumKeysJSON
from explorer.lookedat import Look
from notary.bundle import EvidenceBundle, EvidenceBundleJSON
from notary.storage.base import CheckpointJSON

CSV_COLUMNS = (
    "index", "event_id", "time_ms", "caller_org", "provider_org", "center", "unit", "api", "method", "route",
    "asset_id", "asset_version", "grant_id", "decision", "denial_reason", "status", "latency_us", "trace_id",
    "gateway_id", "gateway_seq", "leaf_hash", "checkpoint_size", "checkpoint_root", "regulator_queries",
)  # fmt: skip
CHUNK_ROWS = 500


class ExportRow(CallRow):
    """A call as an export writes it: the index's row, the smallest checkpoint covering it and the regulator's
    queries of it that the reader may see (``explorer.lookedat``)."""

    checkpoint_size: int | None
    checkpoint_root: str | None
    regulator_queries: list[Look]


def export_rows(calls: CallStore, f: CallFilter, looks: Mapping[str, list[Look]]) -> Iterator[ExportRow]:
    """The calls of ``f`` in log order, each with the size and root of the smallest checkpoint covering it and
    its regulator's queries from ``looks`` (by the call's event id)."""
    covering: CheckpointJSON | None = None
    for row in calls.iter_calls(f):
        if covering is None or row["index"] >= covering["size"]:
            covering = calls.checkpoint_covering(row["index"])
        yield {
            **row,
            "checkpoint_size": covering["size"] if covering else None,
            "checkpoint_root": covering["root"] if covering else None,
            "regulator_queries": list(looks.get(row["event_id"], ())),
        }


def csv_stream(calls: CallStore, f: CallFilter, looks: Mapping[str, list[Look]]) -> Iterator[bytes]:
    """CSV with a header of :data:`CSV_COLUMNS`, CRLF line ends; ``regulator_queries`` the event ids of the
    regulator's queries of the call, separated by spaces."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for n, row in enumerate(export_rows(calls, f, looks), 1):
        writer.writerow({**row, "regulator_queries": " ".join(q["event_id"] for q in row["regulator_queries"])})
        if n % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def json_stream(calls: CallStore, f: CallFilter, looks: Mapping[str, list[Look]]) -> Iterator[bytes]:
    """A JSON array, one compact object per line."""
    yield b"["
    chunk: list[str] = []
    first = True
    for row in export_rows(calls, f, looks):
        chunk.append(("\n" if first else ",\n") + json.dumps(row, separators=(",", ":")))
        first = False
        if len(chunk) >= CHUNK_ROWS:
            yield "".join(chunk).encode()
            chunk.clear()
    yield ("".join(chunk) + "\n]\n").encode()


#: The format of an evidence zip's ``consortium-keys.json``: the keys of each bundle's checkpoint.
EVIDENCE_KEYS_FORMAT = "consortium-ledger/evidence-keys/v1"


def evidence_zip(
    calls: CallStore,
    f: CallFilter,
    limit: int,
    keys: Callable[[int | None], ConsortiumKeysJSON],
    evidence: Callable[[str], EvidenceBundle],
) -> IO[bytes]:
    """A zip of the evidence bundles of the newest ``limit`` calls of ``f`` (``<index>-<event_id>.json``; a bundle
    the notary cannot give is ``{event_id, error}``) and ``consortium-keys.json``: ``{format, checkpoints: {size:
    keys}, latest: keys}``, where ``keys(size)`` is what ``GET /api/v1/keys?size=`` serves, the keys valid at the
    anchor block of each checkpoint a bundle proves against (so a bundle anchored before a rotation is checked under
    the keys of then), and ``latest`` those valid now, for a bundle without a checkpoint yet. Rewound; the caller
    closes it."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - the caller closes it
    sizes: set[int] = set()
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in calls.search(f, before=None, limit=limit):
            try:
                found = evidence(row["event_id"])
            except ApiError as exc:
                bundle: EvidenceBundleJSON | dict[str, str] = {"event_id": row["event_id"], "error": exc.detail}
            else:
                bundle = found.to_json()
                if found.checkpoint is not None:
                    sizes.add(found.checkpoint.size)
            archive.writestr(f"{row['index']:012d}-{row['event_id']}.json", json.dumps(bundle, indent=1))
        by_size = {str(size): keys(size) for size in sorted(sizes)}
        document = {"format": EVIDENCE_KEYS_FORMAT, "checkpoints": by_size, "latest": keys(None)}
        archive.writestr("consortium-keys.json", json.dumps(document, indent=1))
    spool.seek(0)
    return spool


def read_chunks(file: IO[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    """``file`` in chunks of ``size`` bytes, closed at the end."""
    with file:
        while block := file.read(size):
            yield block
