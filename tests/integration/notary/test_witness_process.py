"""The witness as a real process (``python -m notary.witness``): ``kill -9`` right after it replied and at random
moments under load never loses a cosigned size, and a witness whose state was wiped refuses to cosign until an
operator runs ``init`` again (catalogue 7).

Each test starts the witness in its own session with an encrypted PKCS#8 key and reads its JSON log lines
live. Nothing waits a fixed time: every wait polls a condition against a deadline. The only ``sleep`` that is
not such a poll is the random moment chosen to ``kill -9`` the witness under load.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat

from notary.log.note import format_vkey
from notary.witness import WitnessState
from tests.integration.notary.test_witness_server import ORIGIN, WITNESS_NAME, MemoryLog, check_cosignature, witness_key
from tests.support.up_process import LineProcess

PASSPHRASE = "witness-process-test-passphrase"
PASSPHRASE_VAR = "WITNESS_TEST_PASSPHRASE"
CLI = [sys.executable, "-m", "notary.witness"]
ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 10.0


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_VAR}
    env.update({PASSPHRASE_VAR: PASSPHRASE, "PYTHONUNBUFFERED": "1"})
    return env


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=ROOT,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=START_TIMEOUT,
        check=False,
    )


def shown(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def init(state: Path, origin: str = ORIGIN) -> None:
    r = run_cli("init", "--state", str(state), "--origin", origin)
    assert r.returncode == 0, shown(r)
    assert f"origin {origin} registered at size 0" in r.stdout, shown(r)


class WitnessProcess(LineProcess):
    """``python -m notary.witness`` in its own session on a port of its choosing, its log lines read live."""

    def __init__(self, state: Path, key_file: Path, log: MemoryLog) -> None:
        self.url: str | None = None
        args = [
            *CLI,
            "--state",
            str(state),
            "--key-file",
            str(key_file),
            "--passphrase-env",
            PASSPHRASE_VAR,
            "--name",
            WITNESS_NAME,
            "--log",
            f"{log.origin}={format_vkey(log.origin, log.signer.public_key)}",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        super().__init__("the witness", args, environment(), cwd=ROOT, stop_timeout=STOP_TIMEOUT)

    def seen(self, line: str, entry: dict[str, Any] | None) -> None:
        if entry is not None and "listening" in str(entry.get("msg")) and "url" in entry:
            self.url = str(entry["url"])

    def wait_serving(self) -> httpx.Client:
        """A client of the witness once it answers /healthz."""
        self.wait_until("listening line", lambda w: w.url is not None, START_TIMEOUT)
        assert self.url is not None
        client = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return client
            if self.process.poll() is not None or time.monotonic() > deadline:
                client.close()
                raise AssertionError(f"the witness does not serve:\n{self.output()}")
            time.sleep(0.01)


Starter = Callable[[], WitnessProcess]


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog().grow(64)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "witness" / "state.db"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "witness-key.pem"
    pem = witness_key().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSPHRASE.encode()))
    path.write_bytes(pem)
    return path


@pytest.fixture
def start(state: Path, key_file: Path, log: MemoryLog) -> Iterator[Starter]:
    """Start witness processes; whatever still runs at the end of the test is killed with its process group."""
    started: list[WitnessProcess] = []

    def starter() -> WitnessProcess:
        witness = WitnessProcess(state, key_file, log)
        started.append(witness)
        return witness

    try:
        yield starter
    finally:
        for witness in started:
            if witness.process.poll() is None:
                witness.kill()


def submit(client: httpx.Client, log: MemoryLog, old: int, size: int) -> httpx.Response:
    return client.post("/add-checkpoint", content=log.body(old, size))


def wipe(state: Path) -> None:
    for path in (state, Path(f"{state}-wal"), Path(f"{state}-shm")):
        path.unlink(missing_ok=True)


# -- the process ------------------------------------------------------------------------------------------------


def test_serves_cosignatures_and_stops_on_sigterm(state: Path, log: MemoryLog, start: Starter) -> None:
    init(state)
    witness = start()
    with contextlib.closing(witness.wait_serving()) as client:
        for old, size in ((0, 3), (3, 9), (9, 9)):
            check_cosignature(submit(client, log, old, size), log.text(size))
        assert client.get("/healthz").json() == {ORIGIN: 9}
    assert witness.terminate() == 0, witness.output()
    assert "Traceback" not in witness.output()


def test_killed_right_after_replying_keeps_what_it_cosigned(state: Path, log: MemoryLog, start: Starter) -> None:
    init(state)
    old = 0
    for sizes in ((3, 7, 12), (13,), (20, 33)):
        witness = start()
        with contextlib.closing(witness.wait_serving()) as client:
            if old:  # after a restart: the witness still stands where its last answer left it
                response = submit(client, log, 0, 1)
                assert (response.status_code, response.content) == (409, f"{old}\n".encode()), response.text
            for size in sizes:
                check_cosignature(submit(client, log, old, size), log.text(size))
                old = size
        witness.kill()  # the moment the last 200 arrived
        stored = WitnessState(state).log_state(ORIGIN)
        assert (stored.size, stored.root) == (old, log.checkpoint(old).root)


def test_killed_at_random_moments_under_load(state: Path, log: MemoryLog, start: Starter) -> None:
    """A client submits growing checkpoints in a loop; ``kill -9`` lands anywhere, possibly between commit and
    reply. After each restart the witness stands at or after the last size it cosigned, at most at the last size
    submitted, with that size's root: it continues from there."""
    rng = random.Random(7)
    log.grow(4000)
    init(state)
    acked = 0
    for _round in range(4):
        witness = start()
        client = witness.wait_serving()
        stored = WitnessState(state).log_state(ORIGIN)
        assert stored.size >= acked
        assert stored.root == log.checkpoint(stored.size).root
        acked = stored.size
        progress = {"acked": acked, "sent": acked, "answers": 0}
        changed = threading.Condition()
        failures: list[str] = []

        def loop(
            client: httpx.Client = client,
            progress: dict[str, int] = progress,
            changed: threading.Condition = changed,
            failures: list[str] = failures,
        ) -> None:
            old = progress["acked"]
            while True:
                size = old + rng.randint(1, 6)
                with changed:
                    progress["sent"] = size
                try:
                    response = submit(client, log, old, size)
                except httpx.TransportError:
                    return  # killed
                if response.status_code != 200:
                    failures.append(f"{old} -> {size}: {response.status_code} {response.text}")
                    return
                old = size
                with changed:
                    progress["acked"] = size
                    progress["answers"] += 1
                    changed.notify_all()

        client_thread = threading.Thread(target=loop, daemon=True)
        client_thread.start()
        with changed:
            assert changed.wait_for(lambda: progress["answers"] >= 5 or bool(failures), START_TIMEOUT), witness.output()  # noqa: B023
        time.sleep(rng.uniform(0, 0.05))  # the random moment
        witness.kill()
        client_thread.join(STOP_TIMEOUT)
        assert not client_thread.is_alive()
        assert not failures, failures
        client.close()
        stored = WitnessState(state).log_state(ORIGIN)
        assert progress["acked"] <= stored.size <= progress["sent"], (progress, stored.size)
        assert stored.root == log.checkpoint(stored.size).root
        acked = progress["acked"]


def test_wiped_state_refuses_until_an_operator_initialises_it(state: Path, log: MemoryLog, start: Starter) -> None:
    init(state)
    witness = start()
    with contextlib.closing(witness.wait_serving()) as client:
        check_cosignature(submit(client, log, 0, 10), log.text(10))
    witness.kill()
    wipe(state)

    witness = start()
    with contextlib.closing(witness.wait_serving()) as client:
        for old in (0, 10):
            response = submit(client, log, old, 11)
            assert response.status_code == 404, response.text
            assert "unknown origin" in response.text
        assert client.get("/healthz").json() == {}
        assert not state.exists()
        init(state)  # the operator's step, while the witness runs
        check_cosignature(submit(client, log, 0, 11), log.text(11))
        # Wiped again under the running witness: noticed on the next request.
        wipe(state)
        assert submit(client, log, 11, 12).status_code == 404
        assert not state.exists()
    assert witness.terminate() == 0


# -- the command line -----------------------------------------------------------------------------------------


def test_init_twice_is_refused_with_one_error_line(state: Path) -> None:
    init(state)
    r = run_cli("init", "--state", str(state), "--origin", ORIGIN)
    assert r.returncode == 1, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    assert r.stderr.strip().splitlines()[-1].startswith("error: "), shown(r)
    assert "already registered at size 0" in r.stderr, shown(r)


def test_init_from_a_trusted_checkpoint(state: Path, log: MemoryLog, tmp_path: Path, start: Starter) -> None:
    checkpoint = tmp_path / "checkpoint"
    checkpoint.write_bytes(log.note(25))
    r = run_cli("init", "--state", str(state), "--origin", ORIGIN, "--checkpoint", str(checkpoint))
    assert r.returncode == 0, shown(r)
    assert WitnessState(state).log_state(ORIGIN).size == 25
    witness = start()
    with contextlib.closing(witness.wait_serving()) as client:
        assert submit(client, log, 0, 30).content == b"25\n"
        check_cosignature(submit(client, log, 25, 30), log.text(30))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({PASSPHRASE_VAR: "not the passphrase"}, "passphrase is wrong"),
        ({PASSPHRASE_VAR: None}, f"{PASSPHRASE_VAR}"),
    ],
    ids=["wrong-passphrase", "unset-passphrase"],
)
def test_a_key_that_cannot_be_opened_fails_cleanly(
    state: Path, key_file: Path, log: MemoryLog, change: dict[str, str | None], fragment: str
) -> None:
    env = environment()
    for name, value in change.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    vkey = format_vkey(ORIGIN, log.signer.public_key)
    r = subprocess.run(
        [
            *CLI,
            "--state",
            str(state),
            "--key-file",
            str(key_file),
            "--passphrase-env",
            PASSPHRASE_VAR,
            "--name",
            WITNESS_NAME,
            "--log",
            f"{ORIGIN}={vkey}",
            "--port",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=START_TIMEOUT,
        check=False,
    )
    assert r.returncode == 1, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    assert r.stderr.strip().splitlines()[-1].startswith("error: "), shown(r)
    assert fragment in r.stderr, shown(r)
    assert not state.exists()


def test_a_bad_log_key_is_a_usage_error(state: Path, key_file: Path) -> None:
    r = run_cli("--state", str(state), "--key-file", str(key_file), "--name", WITNESS_NAME, "--log", f"{ORIGIN}=junk")
    assert r.returncode == 2, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    assert "--log" in r.stderr, shown(r)
