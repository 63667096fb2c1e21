"""The log follower against a real notary on loopback (``NotaryService`` and ``notary.api`` behind uvicorn, no
witnesses), fed by signed batches: it indexes exactly the published entries and proves them against the
checkpoint's root, in one step or in many through the hash tiles; data altered on the way (by a proxy between
the two) raises the alarm and indexes nothing of it; a notary down at the start, or going down, is caught up
with once it is back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench.common import bound_socket
from explorer import logfollow
from explorer.calls import CallFilter, CallIndex, CallStore
from explorer.logfollow import LogFollower
from notary.api import create_app
from notary.checkpointer import WitnessPolicy
from notary.event import canonical_entry
from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSigner, format_vkey, sign_note
from notary.log.tiles import format_entry_bundle, parse_entry_bundle
from notary.readauth import READER_HEADER, SIGNATURE_HEADER, TIME_HEADER, ReadAccess, SignedReads
from notary.sequencer import batch_request
from notary.service import NotaryService, NotarySettings
from tests.support.notary_events import event
from tests.support.servers import LocalHTTPServer, QuietHandler
from tests.support.up_process import free_port
from tests.support.wait import wait_until

ORIGIN = "explorer-test/audit-log"
ORG = "shuzhi-tech"
GATEWAY = f"{ORG}/gw-1"
HOST = "127.0.0.1"
EXPLORER = "op/explorer"


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    wait_until(check, what, seconds, every=0.05)


class LoopbackNotary:
    """A notary serving its HTTP API on a fixed loopback port, stopped and started again at will (same store,
    same keys). Checkpoints are published when the test says so (``publish``); no witnesses are required. Reads
    are authenticated (``notary.readauth``): the follower signs as the explorer, ``op/explorer``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_key = Ed25519PrivateKey.generate()
        self.gateway_key = Ed25519PrivateKey.generate()
        self.operator_key = Ed25519PrivateKey.generate()
        self.reader = SignedReads(EXPLORER, self.operator_key)  # the test reads the notary as the explorer
        self.vkey = format_vkey(ORIGIN, raw(self.log_key))
        self.next_seq = 1
        self.service: NotaryService | None = None
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.service = NotaryService(
            NotarySettings(
                directory=self.directory,
                origin=ORIGIN,
                log_key=self.log_key,
                gateway_keys={ORG: raw(self.gateway_key)},
                witnesses=[],
                policy=WitnessPolicy(0, (), False, frozenset()),
            )
        )
        sock = bound_socket(self.port)
        keys = {ORG: raw(self.gateway_key), "op": raw(self.operator_key)}
        access = ReadAccess(keys, {}, regulators=(), trusted=(EXPLORER,))
        app = create_app(self.service, access)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.server = server
        self.thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        wait_for(lambda: server.started, 10, "the notary to listen")

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(10)
        if self.service is not None:
            self.service.stop()
        self.server = self.thread = self.service = None

    def submit(self, count: int, *, skip: int = 0) -> list[bytes]:
        """Send ``count`` new events in one signed batch (their sequence numbers after ``skip`` missing ones);
        returns their entries."""
        now = int(time.time() * 1000)
        first = self.next_seq + skip
        events = [
            event(
                event_id=f"ev-{seq}", gateway_seq=seq, time_ms=now - 1000 + seq % 7, status=200 + seq % 2,
                traceparent=f"00-{seq:032x}-{seq:016x}-01",
            )
            for seq in range(first, first + count)
        ]  # fmt: skip
        body, headers = batch_request(GATEWAY, events, self.gateway_key)
        response = httpx.post(f"{self.url}/v1/batches", content=body, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        self.next_seq = first + count
        return [canonical_entry(e) for e in events]

    def publish(self) -> int:
        """Sign and publish a checkpoint of the current size; returns the published size."""
        assert self.service is not None
        self.service.checkpointer.round()
        row = self.service.store.latest_checkpoint(published=True)
        assert row is not None
        return row.size


class TamperingProxy:
    """Passes GET requests to the notary, letting ``tamper(path, body)`` change what comes back."""

    def __init__(self, upstream: str) -> None:
        self.tamper: Callable[[str, bytes], bytes] = lambda path, body: body
        proxy = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                signed = {h: self.headers[h] for h in (READER_HEADER, TIME_HEADER, SIGNATURE_HEADER) if self.headers[h]}
                answer = httpx.get(upstream + self.path, headers=signed, timeout=30)
                body = proxy.tamper(self.path, answer.content) if answer.status_code == 200 else answer.content
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = LocalHTTPServer(Handler, HOST)
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()


def altered_entry(k: int) -> Callable[[str, bytes], bytes]:
    """A tamper that changes entry ``k`` of the bundle that holds it (a valid event, another status)."""
    bundle_path = f"/tile/entries/{k // 256:03d}"

    def tamper(path: str, body: bytes) -> bytes:
        if not path.startswith(bundle_path):
            return body
        entries = parse_entry_bundle(body)
        entry = entries[k % 256]
        entries[k % 256] = entry.replace(b'"status":200', b'"status":503').replace(b'"status":201', b'"status":503')
        assert entries[k % 256] != entry
        return format_entry_bundle(entries)

    return tamper


@pytest.fixture
def notary(tmp_path: Path) -> Iterator[LoopbackNotary]:
    n = LoopbackNotary(tmp_path / "notary")
    n.start()
    yield n
    n.stop()


@pytest.fixture
def index(tmp_path: Path) -> Iterator[CallIndex]:
    idx = CallIndex(tmp_path / "explorer" / "calls.db")
    yield idx
    idx.close()


def follower_of(index: CallStore, url: str, notary: LoopbackNotary, **options: Any) -> LogFollower:
    options.setdefault("auth", SignedReads(EXPLORER, notary.operator_key))
    return LogFollower(index, url, log_vkey=notary.vkey, origin=ORIGIN, **options)


def indexed_entries(index: CallStore) -> list[bytes]:
    rows = list(index.iter_calls(CallFilter()))
    found = [index.by_event_id(r["event_id"]) for r in rows]
    return [f["entry"] for f in found if f is not None]


# -- following ----------------------------------------------------------------------------------------------


def test_indexes_exactly_the_published_entries_and_their_root(notary: LoopbackNotary, index: CallIndex) -> None:
    follower = follower_of(index, notary.url, notary)
    assert follower.sync_once() == 0  # nothing published yet
    assert follower.status["checkpoint_size"] is None and follower.status["last_error"] is None

    entries = notary.submit(700)
    assert follower.sync_once() == 0  # sequenced, not published: not indexed
    assert notary.publish() == 700
    assert follower.sync_once() == 700
    assert indexed_entries(index) == entries
    assert index.root() == root_of([hash_leaf(e) for e in entries])
    status = follower.status
    assert (status["indexed_size"], status["checkpoint_size"], status["alarm"]) == (700, 700, None)
    assert status["last_sync_ms"] is not None
    assert index.latest_checkpoint()["size"] == 700  # type: ignore[index]

    entries += notary.submit(300, skip=2)  # sequence numbers 701 and 702 never come: a gap
    assert notary.publish() == 1000
    assert follower.sync_once() == 300
    assert follower.sync_once() == 0
    assert indexed_entries(index) == entries
    assert index.gaps() == httpx.get(f"{notary.url}/v1/gaps", auth=notary.reader).json()["gaps"]
    assert [g["first"] for g in index.gaps()] == [701]
    assert [c["size"] for c in index.checkpoints(before=None, limit=10)] == [1000, 700]
    listed = httpx.get(f"{notary.url}/v1/checkpoints", auth=notary.reader).json()["checkpoints"]
    assert index.checkpoints(before=None, limit=10) == listed[::-1]
    assert index.checkpoint_covering(700)["size"] == 1000  # type: ignore[index]
    found = index.search(CallFilter(caller="jinghua-sec", status=201), before=None, limit=3)
    assert [r["event_id"] for r in found] == ["ev-1001", "ev-999", "ev-997"]


def test_a_long_catch_up_goes_in_steps_proven_through_the_tiles(
    notary: LoopbackNotary, index: CallIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfollow, "STEP_BUNDLES", 1)  # a step per bundle: all but the last proven by tiles
    follower = follower_of(index, notary.url, notary)
    entries = notary.submit(300)
    notary.publish()
    assert follower.sync_once() == 300  # ends in a partial bundle
    entries += notary.submit(1500)
    entries += notary.submit(333)
    assert notary.publish() == 2133
    calls: list[str] = []
    fetch = follower._fetch

    def counted(path: str) -> bytes:
        calls.append(path)
        return fetch(path)

    monkeypatch.setattr(follower, "_fetch", counted)
    assert follower.sync_once() == 1833
    assert indexed_entries(index) == entries
    assert follower.status["alarm"] is None
    assert any(path.startswith("tile/0/") for path in calls) and any(path.startswith("tile/entries/") for path in calls)
    assert calls.count("tile/entries/001") == 1  # each bundle read once (the partial one at 300 was read before)


def test_only_the_explorer_follows_an_authenticated_notary(notary: LoopbackNotary, index: CallIndex) -> None:
    notary.submit(10)
    notary.publish()
    for auth, status in ((None, "401"), (SignedReads(f"{ORG}/gw-1", notary.gateway_key), "403")):
        follower = LogFollower(index, notary.url, log_vkey=notary.vkey, origin=ORIGIN, auth=auth)
        with pytest.raises(httpx.HTTPStatusError):
            follower.sync_once()
        assert status in str(follower.status["last_error"])
        assert index.size() == 0
    assert follower_of(index, notary.url, notary).sync_once() == 10


# -- tampering ----------------------------------------------------------------------------------------------


def test_an_altered_entry_raises_the_alarm_and_indexes_nothing(notary: LoopbackNotary, index: CallIndex) -> None:
    proxy = TamperingProxy(notary.url)
    try:
        notary.submit(600)
        notary.publish()
        proxy.tamper = altered_entry(517)
        follower = follower_of(index, proxy.url, notary)
        assert follower.sync_once() == 0
        alarm = follower.status["alarm"]
        assert alarm is not None and alarm.startswith("size 600:") and "nothing of them was indexed" in alarm
        assert index.size() == 0 and list(index.iter_calls(CallFilter())) == []
        assert index.checkpoints(before=None, limit=5) == []  # a source caught lying: the round stops

        proxy.tamper = lambda path, body: body  # the data comes back right: indexed, the alarm stays
        assert follower.sync_once() == 600
        assert follower.status["alarm"] == alarm
    finally:
        proxy.close()


def test_in_steps_an_altered_entry_or_tile_stops_at_its_step(
    notary: LoopbackNotary, index: CallIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfollow, "STEP_BUNDLES", 1)
    proxy = TamperingProxy(notary.url)
    try:
        entries = notary.submit(1000)
        notary.publish()
        proxy.tamper = altered_entry(300)
        follower = follower_of(index, proxy.url, notary)
        assert follower.sync_once() == 256  # the first bundle is proven and indexed, the altered one is not
        assert "entries 256..511" in str(follower.status["alarm"])
        assert index.size() == 256 and indexed_entries(index) == entries[:256]

        def bad_tile(path: str, body: bytes) -> bytes:  # a wrong hash of leaves 512..767, right of the step
            return body[:64] + bytes(32) + body[96:] if path == "/tile/1/000.p/3" else body

        proxy.tamper = bad_tile
        assert follower.sync_once() == 0
        assert "entries 256..511" in str(follower.status["alarm"])
        assert index.size() == 256
    finally:
        proxy.close()


def test_a_checkpoint_not_signed_by_the_log_key_raises_the_alarm(notary: LoopbackNotary, index: CallIndex) -> None:
    notary.submit(10)
    notary.publish()
    proxy = TamperingProxy(notary.url)
    forger = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    proxy.tamper = lambda path, body: (
        sign_note(format_checkpoint(Checkpoint(ORIGIN, 10, bytes(32))), [forger]) if path == "/checkpoint" else body
    )
    try:
        follower = follower_of(index, proxy.url, notary)
        assert follower.sync_once() == 0
        assert "does not verify with the log key" in str(follower.status["alarm"])
        assert index.size() == 0
        auth = SignedReads(EXPLORER, notary.operator_key)
        other = LogFollower(index, notary.url, log_vkey=notary.vkey, origin="another/audit-log", auth=auth)
        assert other.sync_once() == 0
        assert "not 'another/audit-log'" in str(other.status["alarm"])
    finally:
        proxy.close()


def test_a_stale_checkpoint_is_ignored_and_a_forked_one_raises_the_alarm(
    notary: LoopbackNotary, index: CallIndex
) -> None:
    notary.submit(300)
    notary.publish()
    stale = httpx.get(f"{notary.url}/checkpoint", auth=notary.reader).content
    notary.submit(100)
    notary.publish()
    proxy = TamperingProxy(notary.url)
    try:
        follower = follower_of(index, proxy.url, notary)
        assert follower.sync_once() == 400
        proxy.tamper = lambda path, body: stale if path == "/checkpoint" else body
        assert follower.sync_once() == 0  # an older checkpoint (say, from a cache) says nothing new
        assert follower.status["alarm"] is None and index.size() == 400

        log = NoteSigner(ORIGIN, notary.log_key)  # the log itself signs another tree of the same size
        fork = sign_note(format_checkpoint(Checkpoint(ORIGIN, 400, bytes(32))), [log])
        proxy.tamper = lambda path, body: fork if path == "/checkpoint" else body
        assert follower.sync_once() == 0
        assert str(follower.status["alarm"]).startswith("size 400: the checkpoint's root 0000")
    finally:
        proxy.close()


# -- a notary that is down ------------------------------------------------------------------------------------


def test_a_notary_down_at_the_start_or_later_is_caught_up_with(tmp_path: Path, index: CallIndex) -> None:
    notary = LoopbackNotary(tmp_path / "notary")
    follower = follower_of(index, notary.url, notary, poll=0.05)
    with pytest.raises(httpx.TransportError):
        follower.sync_once()
    follower.start()
    try:
        wait_for(lambda: follower.status["last_error"] is not None, 10, "the follower to notice the notary is down")
        assert follower.status["running"]

        notary.start()
        entries = notary.submit(400)
        notary.publish()
        wait_for(lambda: index.size() == 400, 30, "the follower to catch up")
        wait_for(lambda: follower.status["last_error"] is None, 10, "the error to clear")

        notary.stop()
        wait_for(lambda: follower.status["last_error"] is not None, 10, "the follower to notice the notary went down")
        assert follower.status["running"] and index.size() == 400

        notary.start()
        entries += notary.submit(250)
        notary.publish()
        wait_for(lambda: index.size() == 650, 60, "the follower to catch up again")
        assert indexed_entries(index) == entries
        assert follower.status["alarm"] is None
    finally:
        follower.stop()
        notary.stop()
    assert not follower.status["running"]


def test_explorer_replicas_on_one_postgresql_index_follow_the_log_one_at_a_time(
    notary: LoopbackNotary, postgres: Any
) -> None:
    from explorer.calls_pg import PostgresCallIndex

    url = postgres.create_database("explorer")
    first, second = PostgresCallIndex(url), PostgresCallIndex(url)
    try:
        leader, standby = follower_of(first, notary.url, notary), follower_of(second, notary.url, notary)
        entries = notary.submit(300)
        assert notary.publish() == 300
        assert leader.sync_once() == 300
        assert standby.sync_once() == 0  # it reads what the leader indexed, and writes nothing
        assert standby.status["indexed_size"] == 300 and standby.status["last_error"] is None
        assert indexed_entries(second) == entries
        assert second.latest_checkpoint() == first.latest_checkpoint() is not None
        first.close()  # the leading explorer goes away; the other one follows the log from where it stopped
        entries += notary.submit(100)
        assert notary.publish() == 400
        assert standby.sync_once() == 100
        assert indexed_entries(second) == entries
        assert second.root() == root_of([hash_leaf(e) for e in entries])
    finally:
        first.close()
        second.close()


def test_after_a_rotation_the_checkpoint_is_taken_under_the_log_key_valid_on_chain(
    notary: LoopbackNotary, index: CallIndex
) -> None:
    """The log's key rotated (``NotaryService.rotate_log_key``, as ``notary serve`` does when the key file changes):
    the follower given the log's keys on chain (``log_keys``, the explorer's view of the TrustDirectory) takes the
    new key's checkpoint, a follower knowing only consortium.json's key raises the alarm, and so does one whose
    chain says the new key is not valid at the head."""
    from chain.contracts.trust import KeyKind, KeyRecord, KeyState
    from chain.ids import OrgId
    from notary.logkeys import LogKeys
    from notary.logsuite import INTL

    assert notary.service is not None
    old = notary.service.signer.public_key
    notary.submit(5)
    notary.publish()
    new_key = Ed25519PrivateKey.generate()
    new = new_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    notary.service.rotate_log_key(new_key)
    notary.submit(5)
    assert notary.publish() == 10

    def keys(head: int, new_until: int | None = None) -> LogKeys:
        state = KeyState.OPEN if new_until is None else KeyState.RETIRED
        records = [
            KeyRecord(OrgId("op"), 0, KeyKind.LOG_KEY, old, 0, 40, KeyState.RETIRED, 0, None),  # overlap
            KeyRecord(OrgId("op"), 1, KeyKind.LOG_KEY, new, 10, new_until, state, 10, None),
        ]
        return LogKeys.from_records(ORIGIN, INTL, records, head)

    plain = follower_of(index, notary.url, notary)
    assert plain.sync_once() == 0
    assert "does not verify with the log key" in str(plain.status["alarm"])
    ended = follower_of(index, notary.url, notary, log_keys=lambda: keys(30, new_until=25))
    assert ended.sync_once() == 0
    assert "not valid at the chain head 30" in str(ended.status["alarm"])
    assert index.size() == 0
    following = follower_of(index, notary.url, notary, log_keys=lambda: keys(30))
    assert following.sync_once() == 10
    assert following.status["alarm"] is None and index.size() == 10
