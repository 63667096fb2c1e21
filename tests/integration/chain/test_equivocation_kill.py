"""The equivocation evidence a node keeps in its store survives ``kill -9`` (``chain.node.equivocations``): a
child process runs a validator's consensus loop on an LMDB store and is fed conflicting PREPAREs; it prints the
number of records after each one is saved; it is killed at a random point; the store, opened again, holds every
record reported and at most the one in flight, each whole and verifiable, and a loop started on it answers them
(one child process, a few seconds)."""

from __future__ import annotations

import random
from pathlib import Path

from chain.node.equivocations import EquivocationLog
from chain.node.store import open_store
from chain.qbft.evidence import EquivocationDetector, verify_equivocation
from tests.support.killed import run_until_killed
from tests.unit.chain.test_consensus_evidence import BY_ADDRESS, validator_on

DEADLINE_S = 60.0

_CHILD = """
import sys
from pathlib import Path
from chain.node.store import open_store
from chain.qbft import messages as m
from tests.unit.chain.test_consensus_evidence import KEYS, ME, deliver, validator_on

store = open_store(Path(sys.argv[1]))
consensus = validator_on(store)
print("start", len(consensus.equivocations.records), flush=True)
for round_ in range(40):
    for key in KEYS:
        if key is not ME:
            deliver(consensus, m.prepare(key, 1, round_, b"\\x01" * 32), m.prepare(key, 1, round_, b"\\x02" * 32))
            print(len(consensus.equivocations.records), flush=True)
"""


def records_until_killed(path: Path, reports: int) -> list[int]:
    """Start the child on the store at ``path``; kill -9 it once it has reported ``reports`` records saved; every
    count it reported."""
    lines = run_until_killed(
        _CHILD,
        [str(path)],
        lambda got: bool(got) and not got[-1].startswith("start") and int(got[-1]) >= reports,
        "the child",
        DEADLINE_S,
    )
    return [int(line) for line in lines if not line.startswith("start")]


def test_kill_9_leaves_every_record_reported_whole(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    reported = records_until_killed(path, random.Random().randint(1, 30))
    with open_store(path) as store:
        detector = EquivocationDetector()
        EquivocationLog(store).load(detector)
        kept = detector.records
        assert reported[-1] <= len(kept) <= reported[-1] + 1, "a record reported saved is missing"
        assert sum(detector.counts.values()) == len(kept)  # the index and the records of one batch
        assert all(verify_equivocation(r, BY_ADDRESS) == r.validator for r in kept)
        again = validator_on(store)  # the node started again on it answers the same records
        assert again.equivocations.records == kept
