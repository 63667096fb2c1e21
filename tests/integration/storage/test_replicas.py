"""Two ``consortium notary serve`` processes share one PostgreSQL database and one bucket behind two URLs; two
gateway-like clients post signed batches to both, alternately. Every receipted event has its own index, the
indexes leave no gap, and either replica serves the same log: entry bundles and tiles that agree, and a
checkpoint whose root the entries recompute. Then one replica is killed (``kill -9``) while a gateway sends it
batches: the gateway sends the unanswered batch to the other replica, which serves everything, the killed
one's last commit included. And leader election: of two replicas exactly one leads (checkpoints); ``kill -9`` of
the leader hands the lead to the other within a deadline, which goes on checkpointing, every checkpoint with
the root its entries recompute."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from network.localchain import free_port
from notary.log.checkpoint import parse_checkpoint
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteVerifier, open_note
from notary.log.tiles import parse_entry_bundle
from notary.sequencer import batch_request
from tests.integration.notary.test_notary_crash import (
    GATEWAY_ORG,
    ORIGIN,
    PASSPHRASE,
    ROOT,
    NotaryProcess,
    raw,
)
from tests.support.notary_events import event
from tests.support.wait import wait_until

BATCH = 40
BATCHES = 8  # per client
LEASE = 3.0  # the replicas' leader lease (s): they try or confirm the lead every 0.6 s


class Replica(NotaryProcess):
    """A notary process on PostgreSQL + S3 (the consortium directory only gives it its keys)."""

    def __init__(self, directory: Path, storage: str, object_store: str, s3: Any, first: bool) -> None:
        if first:
            super().__init__(directory)
        else:  # the same consortium directory, made by the first replica
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            from chain.ids import OrgId
            from network.identity import load_gateway_key, load_notary_key

            self.directory = directory
            log_key = load_notary_key(directory, OrgId(GATEWAY_ORG), PASSPHRASE)
            assert isinstance(log_key, Ed25519PrivateKey)
            self.log_key = log_key
            self.gateway_key = load_gateway_key(directory, OrgId(GATEWAY_ORG), PASSPHRASE)
            self.process = None
            self.url = ""
        self.log = directory / f"notary-{'a' if first else 'b'}.log"
        self.storage, self.object_store, self.s3 = storage, object_store, s3

    def start(self) -> None:
        port = free_port()
        args = [sys.executable, "-m", "cli.main", "notary", "serve", str(self.directory), "--port", str(port)]
        args += ["--no-anchor", "--checkpoint-interval", "0.05", "--leader-lease", str(LEASE)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSORTIUM_", "AWS_"))}
        env.update({
            "CONSORTIUM_PASSPHRASE": PASSPHRASE.decode(), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "CONSORTIUM_NOTARY_STORAGE": self.storage, "CONSORTIUM_NOTARY_OBJECT_STORE": self.object_store,
            "AWS_ACCESS_KEY_ID": self.s3.access_key, "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
        })  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        self.url = f"http://127.0.0.1:{port}"
        wait_until(self.serving, "the notary to serve /healthz", 60, ignoring=(httpx.HTTPError,))


def batch(gateway: str, first_seq: int, key: Any) -> tuple[bytes, dict[str, str]]:
    now = int(time.time() * 1000)
    prefix = gateway.replace("/", ".")
    events = [
        event(event_id=f"{prefix}-{seq}", gateway_id=gateway, gateway_seq=seq, time_ms=now)
        for seq in range(first_seq, first_seq + BATCH)
    ]
    return batch_request(gateway, events, key)


def send(url: str, request: tuple[bytes, dict[str, str]]) -> list[dict[str, Any]]:
    body, headers = request
    response = httpx.post(url + "/v1/batches", content=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    receipts: list[dict[str, Any]] = response.json()["receipts"]
    return receipts


def post(url: str, gateway: str, first_seq: int, key: Any) -> list[dict[str, Any]]:
    return send(url, batch(gateway, first_seq, key))


def check_served(url: str, size: int, log_key: Any) -> None:
    """The replica at ``url`` serves bundles, tiles and a checkpoint of the same log of ``size`` entries."""
    with httpx.Client(timeout=10) as client:
        leaves: list[bytes] = []
        for n in range((size + 255) // 256):
            width = min(256, size - 256 * n)
            suffix = "" if width == 256 else f".p/{width}"
            bundle = client.get(f"{url}/tile/entries/{n:03d}{suffix}")
            assert bundle.status_code == 200, bundle.text
            leaves += [hash_leaf(e) for e in parse_entry_bundle(bundle.content)]
            tile = client.get(f"{url}/tile/0/{n:03d}{suffix}")
            assert tile.content == b"".join(leaves[256 * n :]), f"tile 0/{n} disagrees with its entries"

        def checkpointed() -> bool:
            note = client.get(url + "/checkpoint")
            if note.status_code != 200:
                return False
            opened, _ = open_note(note.content, [NoteVerifier(ORIGIN, raw(log_key))])
            checkpoint = parse_checkpoint(opened.text)
            assert checkpoint.root == root_of(leaves[: checkpoint.size])
            return checkpoint.size == size

        wait_until(checkpointed, f"a checkpoint of size {size}", 60)


@pytest.mark.slow
def test_two_notary_processes_share_postgres_and_s3(tmp_path: Path, postgres: Any, s3: Any) -> None:
    storage = postgres.create_database("notary")
    object_store = f"s3://{s3.create_bucket('notary')}?endpoint={s3.url}"
    directory = tmp_path / "consortium"
    a = Replica(directory, storage, object_store, s3, first=True)
    b = Replica(directory, storage, object_store, s3, first=False)
    receipts: dict[str, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def gateway(number: int) -> None:
        name = f"{GATEWAY_ORG}/gw-{number}"
        try:
            for k in range(BATCHES):
                url = (a, b)[(number + k) % 2].url
                for r in post(url, name, 1 + BATCH * k, a.gateway_key):
                    with lock:
                        receipts[r["event_id"]] = r["index"]
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        a.start()
        b.start()
        threads = [threading.Thread(target=gateway, args=(n,)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        total = 2 * BATCHES * BATCH
        assert sorted(receipts.values()) == list(range(total))  # no gap, no duplicate
        for replica in (a, b):
            assert httpx.get(replica.url + "/healthz", timeout=10).json()["size"] == total
            check_served(replica.url, total, a.log_key)
        # kill -9 of one replica while a gateway sends it batches: the batch in flight may be committed and
        # not yet published; the gateway sends what got no answer to the other replica, which serves it all
        flooding = f"{GATEWAY_ORG}/gw-3"
        unanswered: list[tuple[bytes, dict[str, str]]] = []

        def flood() -> None:
            seq = 1
            while True:
                request = batch(flooding, seq, a.gateway_key)
                try:
                    got = send(a.url, request)
                except httpx.HTTPError:
                    unanswered.append(request)
                    return
                with lock:
                    receipts.update({r["event_id"]: r["index"] for r in got})
                seq += BATCH

        flooder = threading.Thread(target=flood)
        flooder.start()
        wait_until(lambda: len(receipts) >= total + 3 * BATCH, "three batches through the first replica", 60)
        a.kill()
        flooder.join(60)
        assert len(unanswered) == 1
        receipts.update({r["event_id"]: r["index"] for r in send(b.url, unanswered[0])})
        size = len(receipts)
        assert sorted(receipts.values()) == list(range(size))  # the resent batch kept its indexes if committed
        check_served(b.url, size, a.log_key)
    finally:
        a.stop()
        b.stop()


def leader_of(replica: Replica) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(replica.url + "/healthz", timeout=10).json()["leader"]
    return found


@pytest.mark.slow
def test_kill_9_of_the_leader_hands_the_lead_to_the_other_replica(tmp_path: Path, postgres: Any, s3: Any) -> None:
    import psycopg

    storage = postgres.create_database("notary")
    object_store = f"s3://{s3.create_bucket('notary')}?endpoint={s3.url}"
    directory = tmp_path / "consortium"
    a = Replica(directory, storage, object_store, s3, first=True)
    b = Replica(directory, storage, object_store, s3, first=False)
    try:
        starting = threading.Thread(target=b.start)  # both at once: each takes seconds to import and open
        starting.start()
        a.start()
        starting.join(90)
        assert b.url and b.serving()

        def one_leader() -> tuple[Replica, Replica, int] | None:
            first, second = leader_of(a), leader_of(b)
            if first["leader"] == second["leader"]:
                return None
            return (a, b, first["token"]) if first["leader"] else (b, a, second["token"])

        leader, follower, old_token = wait_until(one_leader, "exactly one leader", 30)
        assert leader_of(follower)["leader"] is False  # and it stays so while the leader lives
        post(follower.url, f"{GATEWAY_ORG}/gw-1", 1, a.gateway_key)  # any replica sequences; the leader checkpoints
        check_served(follower.url, BATCH, a.log_key)
        assert "published checkpoint" in leader.log.read_text()
        assert "published checkpoint" not in follower.log.read_text()  # a follower skips its checkpoint rounds

        leader.kill()
        token = wait_until(lambda: leader_of(follower)["token"], "the other replica to lead", 15)
        assert token > old_token
        post(follower.url, f"{GATEWAY_ORG}/gw-1", 1 + BATCH, a.gateway_key)
        check_served(follower.url, 2 * BATCH, a.log_key)  # the new leader checkpoints

        said = [follower.log.read_text(), leader.log.read_text()]
        assert f"became leader, fencing token {token}" in said[0]
        assert f"became leader, fencing token {old_token}" in said[1]
        with psycopg.connect(storage) as conn:  # every checkpoint recorded has the root of the entries it covers
            rows = conn.execute("SELECT size, root FROM checkpoints ORDER BY size").fetchall()
        bundle = httpx.get(f"{follower.url}/tile/entries/000.p/{2 * BATCH}", timeout=10).content
        leaves = [hash_leaf(entry) for entry in parse_entry_bundle(bundle)]
        assert rows and all(bytes(root) == root_of(leaves[:size]) for size, root in rows)
    finally:
        a.stop()
        b.stop()
