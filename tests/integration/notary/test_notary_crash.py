"""Failure catalogue 8: ``kill -9`` of the notary process while batches are being committed.

After each restart: every event that got a receipt is present at its receipted index with its leaf hash;
no batch is partial; the entries recompute to the tiles and to the last signed checkpoint."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chain.ids import OrgId, Role
from network.identity import create_org_identity, load_gateway_key, load_notary_key
from network.localchain import free_port
from notary.log.checkpoint import parse_checkpoint
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteVerifier, open_note
from notary.log.tiles import parse_entry_bundle
from notary.sequencer import batch_request
from tests.support.member_directory import write_description
from tests.support.notary_events import event
from tests.support.wait import wait_until

PASSPHRASE = b"notary-crash-test-passphrase"
NAME = "crash-test"
ORIGIN = f"{NAME}/audit-log"
GATEWAY_ORG = "shuzhi-tech"
GATEWAY = f"{GATEWAY_ORG}/gw-1"
BATCH = 200
ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 60.0


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def consortium_without_chain(directory: Path) -> None:
    """A consortium directory with one member that runs the notary and a gateway, and a witness policy of
    threshold 0 (every checkpoint is published at once); the notary runs with ``--no-anchor``, so no chain is
    needed and the contract addresses are never used."""
    create_org_identity(directory, OrgId(GATEWAY_ORG), "Shuzhi Technology", PASSPHRASE)
    members = {GATEWAY_ORG: ("Shuzhi Technology", Role.MEMBER | Role.NOTARY)}
    policy = {"threshold": 0, "witnesses": [], "require_regulator": False}
    write_description(directory, members, name=NAME, chain_url="", witness_policy=policy)


class NotaryProcess:
    """``consortium notary serve`` as a child process, started and killed at will on the same directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        consortium_without_chain(directory)
        log_key = load_notary_key(directory, OrgId(GATEWAY_ORG), PASSPHRASE)
        assert isinstance(log_key, Ed25519PrivateKey)
        self.log_key = log_key
        self.gateway_key = load_gateway_key(directory, OrgId(GATEWAY_ORG), PASSPHRASE)
        self.log = directory / "notary.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        args = [sys.executable, "-m", "cli.main", "notary", "serve", str(self.directory), "--port", str(port)]
        args += ["--no-anchor", "--checkpoint-interval", "0.05"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
        env.update({"CONSORTIUM_PASSPHRASE": PASSPHRASE.decode(), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        self.url = f"http://127.0.0.1:{port}"
        wait_until(self.serving, "the notary to serve /healthz", START_TIMEOUT, ignoring=(httpx.HTTPError,))

    def serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"the notary exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
        return httpx.get(self.url + "/healthz", timeout=5).status_code == 200

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def flood(proc: NotaryProcess, first_seq: int, receipts: dict[str, int], stop: threading.Event) -> None:
    """Post batches until the server dies, recording each receipted event's index."""
    seq = first_seq
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            now = int(time.time() * 1000)
            events = [event(event_id=f"ev-{seq + i}", gateway_seq=seq + i, time_ms=now) for i in range(BATCH)]
            body, headers = batch_request(GATEWAY, events, proc.gateway_key)
            try:
                response = client.post(proc.url + "/v1/batches", content=body, headers=headers)
            except httpx.HTTPError:
                return  # killed mid-request: this batch has no receipt
            assert response.status_code == 200, response.text
            for r in response.json()["receipts"]:
                receipts[r["event_id"]] = r["index"]
            seq += BATCH


def check_recovered(proc: NotaryProcess, receipts: dict[str, int]) -> int:
    with httpx.Client(timeout=10) as client:
        health = client.get(proc.url + "/healthz").json()
        size = health["size"]
        assert size % BATCH == 0, f"a partial batch survived: size {size}"
        assert size >= len(receipts)
        for event_id, index in random.sample(sorted(receipts.items()), min(200, len(receipts))):
            entry = client.get(f"{proc.url}/v1/entries/{event_id}").json()
            assert entry["index"] == index
        leaves: list[bytes] = []
        for n in range((size + 255) // 256):
            width = min(256, size - 256 * n)
            suffix = "" if width == 256 else f".p/{width}"
            bundle = client.get(f"{proc.url}/tile/entries/{n:03d}{suffix}")  # logs here stay under 256,000
            assert bundle.status_code == 200
            leaves += [hash_leaf(e) for e in parse_entry_bundle(bundle.content)]
            tile = client.get(f"{proc.url}/tile/0/{n:03d}{suffix}").content
            assert tile == b"".join(leaves[256 * n :]), f"tile 0/{n} disagrees with its entries"
        note = client.get(proc.url + "/checkpoint")
        if note.status_code == 200:
            opened, _ = open_note(note.content, [NoteVerifier(ORIGIN, raw(proc.log_key))])
            checkpoint = parse_checkpoint(opened.text)
            assert checkpoint.root == root_of(leaves[: checkpoint.size])
        return int(size)


@pytest.mark.slow
def test_kill_9_during_batch_commits_loses_no_receipted_event(tmp_path: Path) -> None:
    proc = NotaryProcess(tmp_path / "notary")
    receipts: dict[str, int] = {}
    rng = random.Random(8)
    seq = 1
    try:
        for _ in range(4):
            proc.start()
            if receipts:
                seq = check_recovered(proc, receipts) + 1
            stop = threading.Event()
            client = threading.Thread(target=flood, args=(proc, seq, receipts, stop))
            client.start()
            deadline = time.monotonic() + 20
            target = len(receipts) + BATCH * rng.randint(3, 12)
            while len(receipts) < target and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.random() * 0.05)  # land somewhere inside the next commit
            proc.kill()
            stop.set()
            client.join(15)
        proc.start()
        final = check_recovered(proc, receipts)
        assert final >= len(receipts) > 0
    finally:
        proc.stop()


def test_recovery_check_detects_a_partial_batch(tmp_path: Path) -> None:
    """The check above can fail: a log whose size is not a whole number of batches is reported."""
    proc = NotaryProcess(tmp_path / "notary")
    proc.start()
    try:
        now = int(time.time() * 1000)
        events = [event(event_id=f"ev-{1 + i}", gateway_seq=1 + i, time_ms=now) for i in range(BATCH - 1)]
        body, headers = batch_request(GATEWAY, events, proc.gateway_key)
        assert httpx.post(proc.url + "/v1/batches", content=body, headers=headers).status_code == 200
        with pytest.raises(AssertionError, match="partial batch"):
            check_recovered(proc, {})
    finally:
        proc.stop()
