"""``kill -9`` of a process appending to the gateway's outbox (notary.submit.outbox) at random moments: every
acknowledged event survives, seqs stay contiguous, and quota units and the privacy budget spent match the committed
events."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from notary.submit.outbox import Outbox
from tests.unit.notary.test_outbox import GATEWAY, GRANTS, crash_dp_cost, crash_event, entry

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gateways" / "shuzhi-tech" / "outbox.db"


_CHILD = """
import sys, threading
from pathlib import Path
from tests.unit.notary.test_outbox import GATEWAY, crash_dp_cost, crash_event
from notary.submit.outbox import Outbox

outbox = Outbox(Path(sys.argv[1]), GATEWAY)
outbox.start()
round_ = sys.argv[2]
out = threading.Lock()

def appender(n):
    i = 0
    while True:
        event_id = f"crash-{round_}-{n}-{i}"
        seq = outbox.append(crash_event(event_id), dp_cost=crash_dp_cost(event_id)).result()
        with out:
            sys.stdout.write(f"{seq} {event_id}\\n")
            sys.stdout.flush()
        i += 1

for n in range(8):
    threading.Thread(target=appender, args=(n,), daemon=True).start()
threading.Event().wait()
"""


def test_kill_9_while_appending_loses_no_acknowledged_event(path: Path) -> None:
    acknowledged: dict[int, str] = {}
    rng = random.Random(9)
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), str(round_)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout is not None and child.stderr is not None
        wanted = rng.randint(500, 3000)
        lines: list[str] = []
        while len(lines) < wanted:
            line = child.stdout.readline()
            assert line, f"the appending process died: {child.stderr.read()[-2000:]}"
            lines.append(line)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        lines += child.stdout.readlines()  # acknowledged before the kill, still in the pipe
        child.stdout.close()
        child.stderr.close()
        for line in lines:
            if line.endswith("\n"):
                number, event_id = line.split()
                assert int(number) not in acknowledged
                acknowledged[int(number)] = event_id

        with Outbox(path, GATEWAY) as reopened:  # refuses to open a damaged outbox (gaps, shipped > last)
            stats = reopened.stats()
            assert stats.shipped_seq == 0
            assert stats.last_seq >= max(acknowledged)
            rows = reopened.pending(stats.last_seq + 1)
            assert [seq for seq, _ in rows] == list(range(1, stats.last_seq + 1)), "seqs are not contiguous"
            stored = dict(rows)
            for seq, event_id in acknowledged.items():
                assert stored[seq] == entry(crash_event(event_id), seq), f"seq {seq} differs after the crash"
            # every committed allowed event has its quota unit, and no unit exists without its event
            # and the ε its event spent, and no ε is spent without its event
            allowed: dict[str, int] = {}
            spent: dict[str, int] = {}
            for data in stored.values():
                recorded = json.loads(data)
                if recorded["decision"] == "allow":
                    grant = recorded["grant_id"]
                    allowed[grant] = allowed.get(grant, 0) + 1
                    spent[grant] = spent.get(grant, 0) + crash_dp_cost(recorded["event_id"])
            assert {g: reopened.quota_used(g) for g in GRANTS} == {g: allowed.get(g, 0) for g in GRANTS}
            assert {g: reopened.dp_spent(g) for g in GRANTS} == {g: spent.get(g, 0) for g in GRANTS}
            assert sum(spent.values()) > 0
        assert len(acknowledged) >= 500 * (round_ + 1)
