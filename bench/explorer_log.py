"""The notary's log of ``bench.explorer``, written in-process by the notary's own sequencer.

``python -m bench.explorer_log DIR --events N --end-ms T [--seed S] [--rate R]`` writes the events of
:class:`bench.explorer_data.EventStream` into ``DIR/notary/notary.db`` (the store the consortium's notary
serves), one gateway batch at a time, through ``notary.sequencer.Sequencer``'s commit (``_commit``: the leaf
hashes appended to the tree's tiles, the batch statement signed with the consortium's log key, the batch row,
its entries, the tiles and the gateway's sequence number in one durable transaction of
``notary.store.LogStore``), so the store is exactly what the notary writes, whatever its code is today. What
``Sequencer.submit`` checks before that (the gateway's signature over the batch body, each event's schema and
time window, the duplicate lookup) is left out: ``bench.notary`` measures it; the entries are checked to be
valid canonical events on a sample (``bench.explorer_data.check_template``), their gateways' sequence numbers
are consecutive by construction. The sequencer's clock is the batch's simulated shipping time, so receipts are
dated like the calls. Prints ``size <n> <seconds>`` after every ``--report-every`` entries or more, and
``done <n> <seconds>`` at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.explorer_data import EventStream, check_template, demo_world
from chain.ids import OrgId
from network.description import load_description
from network.identity import load_notary_key
from network.logsetup import NOTARY_DIR, gateway_keys, log_origin, notary_member
from notary.logsuite import INTL
from notary.sequencer import Sequencer, SequencerSettings
from notary.service import DB_NAME
from notary.store import LogStore

_EVENT_ID = b'"event_id":"'
_SEQ = b'"gateway_seq":'


def _event_id(entry: bytes) -> str:
    start = entry.index(_EVENT_ID) + len(_EVENT_ID)
    return entry[start : entry.index(b'"', start)].decode("ascii")


def _seq(entry: bytes) -> int:
    start = entry.index(_SEQ) + len(_SEQ)
    return int(entry[start : entry.index(b",", start)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write bench.explorer's events into a consortium's notary store")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--end-ms", type=int, required=True, help="the last call's arrival, ms since the epoch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=120.0, help="calls/s of the synthetic consortium")
    parser.add_argument("--report-every", type=int, default=65_536)
    args = parser.parse_args(argv)
    passphrase = os.environb.get(b"CONSORTIUM_PASSPHRASE")
    if not passphrase:
        sys.exit("CONSORTIUM_PASSPHRASE must unlock the notary's log key")
    description = load_description(args.directory)
    origin = log_origin(description)
    key = load_notary_key(args.directory, OrgId(notary_member(description).org), passphrase)
    stream = EventStream(demo_world(), args.events, end_ms=args.end_ms, seed=args.seed, rate=args.rate)
    check_template(EventStream(demo_world(), 5000, end_ms=args.end_ms, seed=args.seed, rate=args.rate))
    store = LogStore(args.directory / NOTARY_DIR / DB_NAME)
    try:
        if store.size():
            sys.exit(f"{store.path} already holds {store.size()} entries")
        shipped = [0.0]
        sequencer = Sequencer(
            store, INTL.note_signer(origin, key), SequencerSettings(origin), gateway_keys(description),
            clock=lambda: shipped[0],
        )  # fmt: skip
        t0 = time.perf_counter()
        reported = 0
        for batch in stream.batches():
            shipped[0] = batch.shipped_ms / 1000
            rows = [(_event_id(e), _seq(e), e) for e in batch.entries]
            gateway, last = batch.gateway_id, rows[-1][1]
            store.sequence(gateway, [], lambda state: sequencer._plan(gateway, rows, last, [], state)[0])  # noqa: B023
            if sequencer.size - reported >= args.report_every:
                reported = sequencer.size
                print(f"size {sequencer.size} {time.perf_counter() - t0:.1f}", flush=True)
        print(f"done {sequencer.size} {time.perf_counter() - t0:.1f}", flush=True)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
