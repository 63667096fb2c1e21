"""A validator killed with ``kill -9`` after signing, and started again on its store, signs nothing that
conflicts with what it sent before (``chain.node.signed``): a child process runs a validator's consensus loop on
an LMDB store and prints every message it sends; it is fed a proposal, the others' PREPAREs and then its round
timer expires, so it sends a PREPARE, a COMMIT and a ROUND-CHANGE with its prepared certificate; it is killed after
a random number of them. Started again, it is fed another block for the same round (the proposer rebuilt it after
a restart of its own, with another timestamp) and the same steps. Every message it sent in both runs, fed to a
peer's evidence detector, yields no record (two child processes, a few seconds)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from chain.qbft import messages as m
from chain.qbft.evidence import EquivocationDetector
from tests.support.killed import ROOT, child_env, run_until_killed
from tests.unit.chain.test_consensus_evidence import BY_ADDRESS, ME

DEADLINE_S = 60.0

_CHILD = """
import sys, threading, time
from pathlib import Path
from eth.db.atomic import AtomicDB
from chain.node.blocks import NodeBlocks
from chain.node.consensus import Consensus
from chain.node.node import Node
from chain.node.store import open_store
from chain.qbft import messages as m
from chain.qbft.rules import RoundTimer
from tests.unit.chain.test_consensus_evidence import GENESIS, KEYS, ME, PROPOSER

path, run = Path(sys.argv[1]), int(sys.argv[2])
now = [100.0]
node = Node(open_store(path), GENESIS, clock=lambda: 1_700_000_100)
consensus = Consensus(node, ME, lambda code, body: print(code, body.hex(), flush=True),
                      timer=RoundTimer(base=60.0, cap=60.0), clock=lambda: now[0])
print("start", flush=True)
elsewhere = Node(AtomicDB(), GENESIS, clock=lambda: 1_700_000_100 + run)  # each run: another timestamp
block = NodeBlocks(elsewhere, PROPOSER.public_key.to_canonical_address()).create(0)

def deliver(message):
    assert consensus.deliver(*m.encode(message))
    consensus.step(wait=0)
    time.sleep(0.05)

deliver(m.proposal(PROPOSER, block, 0))  # it prepares
for key in KEYS:
    if key is not ME:
        deliver(m.prepare(key, 1, 0, block.hash))  # prepared: it commits
now[0] += 61.0
consensus.step(wait=0)  # round 0's timer expired: its ROUND-CHANGE for round 1
print("done", flush=True)
threading.Event().wait()
"""


def sent(lines: list[str]) -> list[tuple[int, bytes]]:
    out = []
    for line in lines:
        if line.startswith(("start", "done")):
            continue
        code, body = line.split()
        out.append((int(code), bytes.fromhex(body)))
    return out


def test_a_validator_killed_after_signing_and_restarted_signs_nothing_conflicting(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    stop_after = random.Random().randint(1, 3)  # killed after its PREPARE, its COMMIT or its ROUND-CHANGE
    first = sent(run_until_killed(_CHILD, [str(path), "1"], lambda got: len(sent(got)) >= stop_after,
                                  "the first run", DEADLINE_S))  # fmt: skip
    second_run = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), "2"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=ROOT, env=child_env())  # fmt: skip
    lines: list[str] = []
    try:
        assert second_run.stdout is not None
        for line in second_run.stdout:
            lines.append(line)
            if line.startswith("done"):
                break
    finally:
        second_run.kill()
        _, err = second_run.communicate(timeout=DEADLINE_S)
    assert lines and lines[-1].startswith("done"), err
    second = sent(lines)
    assert len(first) >= stop_after and {code for code, _ in second} == {0x13, 0x14, 0x15}
    peer = EquivocationDetector()  # what an honest peer makes of everything that left the validator
    validators = tuple(BY_ADDRESS)
    for code, body in first + second:
        message = m.decode(code, body)
        assert message.author == ME.public_key.to_canonical_address()
        assert peer.observe_all(code, body, message, 1, validators) == []
    assert peer.records == [] and peer.counts == {}
    # what it signed before the kill, it sent again as it was
    for code, body in first:
        again = [b for c, b in second if c == code]
        assert again and again[0] == body, f"message 0x{code:x} of the first run was not sent again as it was"
