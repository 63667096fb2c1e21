"""The shipper against a real notary process on loopback: order, exactly-once, a notary that is down, killed
or refusing, and ``kill -9`` of a gateway process while it ships."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.event import UnsequencedEvent, canonical_entry
from notary.submit.outbox import Outbox
from notary.submit.shipper import Shipper
from tests.integration.gateway.gateway_notary import NotaryProcess
from tests.support.notary_events import event
from tests.support.wait import wait_until

GATEWAY = "shuzhi-tech/gw-1"
ROOT = Path(__file__).resolve().parents[3]


def call(event_id: str, gateway: str = GATEWAY) -> UnsequencedEvent:
    """A call recorded now (the notary accepts events of the last 7 days), without its gateway_seq."""
    org = gateway.split("/")[0]
    recorded = event(event_id=event_id, time_ms=int(time.time() * 1000), gateway_id=gateway, provider_org=org)
    del recorded["gateway_seq"]
    return cast(UnsequencedEvent, recorded)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def notary(tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[NotaryProcess]:
    """A notary that knows the key of shuzhi-tech's gateways; not started yet."""
    process = NotaryProcess(tmp_path / "notary", {"shuzhi-tech": key})
    yield process
    process.stop()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", GATEWAY)
    box.start()
    yield box
    box.close()


@pytest.fixture
def shippers() -> Iterator[list[Shipper]]:
    """Shippers a test starts; stopped before the notary and the outbox."""
    started: list[Shipper] = []
    yield started
    for shipper in started:
        shipper.stop()


def record(outbox: Outbox, first: int, count: int, gateway: str = GATEWAY) -> dict[int, bytes]:
    """Append ``count`` calls; their entries by seq."""
    recorded = [call(f"ev-{first + i}", gateway) for i in range(count)]
    futures = [outbox.append(r) for r in recorded]
    seqs = [f.result(timeout=30) for f in futures]
    return {seq: canonical_entry({**r, "gateway_seq": seq}) for r, seq in zip(recorded, seqs, strict=True)}


def assert_logged_exactly_once(notary: NotaryProcess, expected: dict[int, bytes]) -> None:
    """The notary holds every expected entry once, in seq order, and nothing else; no gap."""
    entries = notary.entries()
    assert len(entries) == len(expected), f"notary holds {len(entries)} entries, expected {len(expected)}"
    assert entries == [expected[seq] for seq in sorted(expected)]
    gaps = notary.gaps()
    assert gaps["gaps"] == [] and gaps["last_seq"] == {GATEWAY: max(expected)}


def test_everything_is_shipped_in_order_and_logged_once(
    notary: NotaryProcess, outbox: Outbox, key: Ed25519PrivateKey, shippers: list[Shipper]
) -> None:
    notary.start()
    expected = record(outbox, 0, 2500)
    shipper = Shipper(outbox, notary.url, GATEWAY, key, batch_max=1000, rest_s=3600)  # only an append wakes it
    shippers.append(shipper)
    shipper.start()
    assert shipper.drain(30)
    assert_logged_exactly_once(notary, expected)
    for seq in (1, 1000, 1001, 2500):
        receipt = notary.receipt(f"ev-{seq - 1}")
        assert receipt.status_code == 200
        assert receipt.json()["index"] == seq - 1
    status = shipper.status()
    assert status["shipped_total"] == 2500 and status["batches"] == 3
    assert (status["refused"], status["consecutive_failures"], status["last_error"]) == (False, 0, None)
    assert status["last_success_ms"] is not None
    stats = outbox.stats()
    assert (stats.shipped_seq, stats.pending) == (2500, 0)

    more = record(outbox, 2500, 10)  # the resting shipper is woken by the new events
    assert shipper.drain(10)
    assert_logged_exactly_once(notary, expected | more)
    # The outbox commits appends as its writer gets them: the first goes at once, the rest after the gathering
    # window, in one batch or more as the commits fall (four, five or six batches seen in all).
    assert 4 <= shipper.status()["batches"] <= 3 + 10


def test_a_resend_after_a_crash_between_post_and_mark_shipped_adds_nothing(
    notary: NotaryProcess, tmp_path: Path, key: Ed25519PrivateKey, shippers: list[Shipper]
) -> None:
    """The gateway sent a batch, the notary committed it, and the gateway died before marking it shipped: its
    outbox on restart is the outbox as it was before shipping. Built here as exactly that file."""
    path = tmp_path / "outbox.db"
    with Outbox(path, GATEWAY) as outbox:
        expected = record(outbox, 0, 1500)
    shutil.copyfile(path, tmp_path / "before-shipping.db")  # closed: the WAL is checkpointed into the file
    notary.start()
    with Outbox(path, GATEWAY) as outbox:
        shipper = Shipper(outbox, notary.url, GATEWAY, key, batch_max=400)
        shippers.append(shipper)
        shipper.start()
        assert shipper.drain(30)
        shipper.stop()
    assert_logged_exactly_once(notary, expected)

    with Outbox(tmp_path / "before-shipping.db", GATEWAY) as restarted:
        assert restarted.stats().pending == 1500
        expected |= record(restarted, 1500, 100)  # and calls kept coming after the restart
        resender = Shipper(restarted, notary.url, GATEWAY, key, batch_max=1000)  # other batch boundaries
        shippers.append(resender)
        resender.start()
        assert resender.drain(30)
        assert restarted.stats().pending == 0
        assert resender.status()["shipped_total"] == 1600
    assert notary.size() == 1600
    assert_logged_exactly_once(notary, expected)


def test_a_notary_down_at_start_gets_everything_once_it_is_up(
    notary: NotaryProcess, outbox: Outbox, key: Ed25519PrivateKey, shippers: list[Shipper]
) -> None:
    expected = record(outbox, 0, 300)
    shipper = Shipper(outbox, notary.url, GATEWAY, key, batch_max=100, backoff_initial_s=0.05, backoff_max_s=0.4)
    shippers.append(shipper)
    shipper.start()
    wait_until(lambda: shipper.status()["consecutive_failures"] >= 3, "failed attempts", 10)
    status = shipper.status()
    assert status["last_error"] and status["shipped_total"] == 0 and not status["refused"]
    expected |= record(outbox, 300, 200)  # calls keep flowing while the notary is away
    assert outbox.stats().pending == 500 and outbox.stats().shipped_seq == 0
    assert not shipper.drain(0.2)

    notary.start()
    assert shipper.drain(30)
    assert_logged_exactly_once(notary, expected)
    assert shipper.status()["consecutive_failures"] == 0


def test_a_notary_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(
    notary: NotaryProcess, outbox: Outbox, key: Ed25519PrivateKey, shippers: list[Shipper]
) -> None:
    notary.start()
    shipper = Shipper(
        outbox, notary.url, GATEWAY, key, batch_max=100, gather_s=0.005, backoff_initial_s=0.05, backoff_max_s=0.3
    )
    shippers.append(shipper)
    shipper.start()
    expected: dict[int, bytes] = {}
    stop = threading.Event()

    def gateway_traffic() -> None:
        n = 0
        while not stop.is_set():
            expected.update(record(outbox, n, 20))
            n += 20
            time.sleep(0.005)

    traffic = threading.Thread(target=gateway_traffic)
    traffic.start()
    try:
        wait_until(lambda: outbox.stats().shipped_seq >= 500, "shipping to get going", 20)
        notary.kill()  # kill -9, batches in flight
        shipped_at_kill = outbox.stats().shipped_seq
        wait_until(lambda: shipper.status()["consecutive_failures"] >= 2, "the shipper to notice", 10)
        failures = shipper.status()["consecutive_failures"]
        wait_until(lambda: shipper.status()["consecutive_failures"] >= failures + 2, "two more attempts", 10)
        assert outbox.stats().shipped_seq == shipped_at_kill  # nothing marked shipped while the notary is away
        assert outbox.stats().last_seq > shipped_at_kill
        notary.start()
        wait_until(lambda: outbox.stats().shipped_seq > shipped_at_kill, "shipping to resume", 20)
    finally:
        stop.set()
        traffic.join()
    assert shipper.drain(30)
    assert_logged_exactly_once(notary, expected)


def test_a_refused_batch_raises_the_alarm_and_nothing_is_marked_shipped(
    notary: NotaryProcess,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    shippers: list[Shipper],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gateway of an org with no registered key: 403 on every try, never dropped; once the notary knows the
    key, the same events go through."""
    gateway = "beiqi-info/gw-1"
    notary.start()
    with Outbox(tmp_path / "beiqi.db", gateway) as outbox:
        expected = record(outbox, 0, 50, gateway)
        shipper = Shipper(outbox, notary.url, gateway, key, backoff_initial_s=0.05, backoff_max_s=0.2)
        shippers.append(shipper)
        shipper.start()
        wait_until(lambda: shipper.status()["consecutive_failures"] >= 3, "refusals", 10)
        status = shipper.status()
        assert status["refused"] and status["shipped_total"] == 0
        assert "403" in str(status["last_error"]) and "beiqi-info" in str(status["last_error"])
        assert any(r.levelname == "ERROR" and "403" in r.getMessage() for r in caplog.records)
        stats = outbox.stats()
        assert (stats.shipped_seq, stats.pending) == (0, 50)
        assert notary.size() == 0

        notary.stop()
        notary.configure({"shuzhi-tech": key, "beiqi-info": key})
        notary.start()
        assert shipper.drain(30)
        assert not shipper.status()["refused"]
    entries = notary.entries()
    assert entries == [expected[seq] for seq in sorted(expected)]


_GATEWAY_PROCESS = """
import sys, time
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
sys.path[:0] = [sys.argv[4], sys.argv[5]]
from test_gateway_shipper import GATEWAY, call
from notary.submit.outbox import Outbox
from notary.submit.shipper import Shipper

outbox = Outbox(Path(sys.argv[1]), GATEWAY)
outbox.start()
shipper = Shipper(outbox, sys.argv[2], GATEWAY, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[3])),
                  batch_max=50, gather_s=0.001)
shipper.start()
n = 0
while True:
    for f in [outbox.append(call(f"{sys.argv[6]}-{n + i}")) for i in range(10)]:
        f.result()
    n += 10
    print(outbox.stats().shipped_seq, flush=True)
"""


def test_kill_9_of_a_shipping_gateway_loses_and_duplicates_nothing(
    notary: NotaryProcess, tmp_path: Path, key: Ed25519PrivateKey, shippers: list[Shipper]
) -> None:
    """A gateway process appending and shipping small batches is killed at random moments; after each restart,
    the notary holds each committed event once. The test goes on until at least one kill fell between a batch
    reaching the notary and its mark_shipped (the notary then holds more than the outbox says is shipped)."""
    notary.start()
    path = tmp_path / "outbox.db"
    rng = random.Random(5)
    shipped, resends = 0, 0
    for round_ in range(8):
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _GATEWAY_PROCESS,
                str(path),
                notary.url,
                key.private_bytes_raw().hex(),
                str(Path(__file__).parent),
                str(ROOT / "tests"),
                f"round{round_}",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.stdout is not None and child.stderr is not None
        while True:  # until it has shipped some of its events
            line = child.stdout.readline()
            assert line, f"the gateway process died: {child.stderr.read()[-2000:]}"
            if int(line) >= shipped + 200:
                break
        time.sleep(rng.uniform(0, 0.05))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
        child.stderr.close()
        with Outbox(path, GATEWAY) as outbox:
            shipped = outbox.stats().shipped_seq
        resends += notary.size() > shipped
        if round_ >= 2 and resends:
            break
    assert resends, "no kill landed between a batch's commit at the notary and its mark_shipped"

    with Outbox(path, GATEWAY) as outbox:
        last = outbox.stats().last_seq
        shipper = Shipper(outbox, notary.url, GATEWAY, key)
        shippers.append(shipper)
        shipper.start()
        assert shipper.drain(30)
    entries = [json.loads(e) for e in notary.entries()]
    assert [e["gateway_seq"] for e in entries] == list(range(1, last + 1))
    assert len({e["event_id"] for e in entries}) == last
    assert notary.gaps()["gaps"] == []
