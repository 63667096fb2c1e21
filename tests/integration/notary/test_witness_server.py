"""The witness over real HTTP on loopback: C2SP tlog-witness ``add-checkpoint`` answered as the spec says, every
refusal leaving the state as it was, split views refused with the evidence kept (catalogue 5), concurrent
submissions serialised (catalogue 4), and cosignature times that never go back (catalogue 11).

The log is a list of leaf hashes in memory; its checkpoints are signed with a NoteSigner and its consistency
proofs made with ``prove_consistency``, exactly as the notary does. Nothing here sleeps: waits poll a condition
against a deadline.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.cosignature import CosignatureVerifier
from notary.log.hashing import hash_leaf, root_of
from notary.log.note import NoteSignature, NoteSigner, NoteVerifier, add_signatures, open_note, parse_note, sign_note
from notary.log.proof import MemoryNodeReader, prove_consistency
from notary.log.witnessing import (
    MAX_BODY_SIZE,
    format_add_checkpoint,
    parse_cosignature_lines,
    parse_size_body,
)
from notary.readauth import ReadAccess, UnauthenticatedError, sign_read
from notary.witness import ConflictKind, WitnessConfig, WitnessServer, WitnessState, init_witness, make_server
from notary.witness.server import WORKERS
from tests.support.idle import get, idle_connections
from tests.support.wait import wait_until

ORIGIN = "beijing-capital-market-pilot/audit-log"
UNREGISTERED = "beijing-capital-market-pilot/second-log"
WITNESS_NAME = "beijing-capital-market-pilot/witness/jinghua-sec"
NOW = 1_795_000_000.0
DEADLINE = 20.0


# -- a log in memory --------------------------------------------------------------------------------------------


class MemoryLog:
    """A log of leaf hashes that signs checkpoints and proves consistency, as the notary does."""

    def __init__(self, origin: str = ORIGIN, key: Ed25519PrivateKey | None = None, tag: str = "") -> None:
        self.origin = origin
        self.key = key or Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)
        self.signer = NoteSigner(origin, self.key)
        self.tag = tag
        self.leaves: list[bytes] = []

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.origin, self.signer.public_key)

    def grow(self, size: int) -> MemoryLog:
        while len(self.leaves) < size:
            self.leaves.append(hash_leaf(f"{self.tag}event {len(self.leaves)}".encode()))
        return self

    def fork(self, at: int, tag: str) -> MemoryLog:
        """The same log key, the same first ``at`` leaves, different ones after: a split view."""
        other = MemoryLog(self.origin, self.key, tag)
        other.leaves = list(self.leaves[:at])
        return other

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(self.origin, size, root_of(self.leaves[:size]))

    def text(self, size: int) -> str:
        return format_checkpoint(self.checkpoint(size))

    def note(self, size: int) -> bytes:
        return sign_note(self.text(size), [self.signer])

    def proof(self, old: int, size: int) -> list[bytes]:
        return list(prove_consistency(old, size, MemoryNodeReader(self.leaves[:size])))

    def body(self, old: int, size: int) -> bytes:
        self.grow(size)
        return format_add_checkpoint(old, self.proof(old, size), self.note(size))


def witness_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b"\x22" * 32)


def cosignature_verifier() -> CosignatureVerifier:
    return CosignatureVerifier(WITNESS_NAME, NoteSigner(WITNESS_NAME, witness_key()).public_key)


def check_cosignature(response: httpx.Response, text: str) -> int:
    """The witness's cosignature in a 200 answer verified over exactly ``text``; returns its timestamp."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    sigs = parse_cosignature_lines(response.content)
    assert len(sigs) == 1
    verifier = cosignature_verifier()
    assert verifier.verify(text, sigs[0])
    return verifier.timestamp_of(sigs[0])


def snapshot(path: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


# -- a witness on loopback ------------------------------------------------------------------------------------


class SteppedClock:
    """The witness's clock: set by the test; ``hold`` makes the next reading wait until ``release``."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.readings = 0
        self._held = False
        self._inside = threading.Event()
        self._release = threading.Event()

    def __call__(self) -> float:
        self.readings += 1
        if self._held:
            self._held = False
            self._inside.set()
            assert self._release.wait(DEADLINE), "the test never released the clock"
        return self.now

    def hold(self) -> None:
        self._inside.clear()
        self._release.clear()
        self._held = True

    def wait_inside(self) -> None:
        assert self._inside.wait(DEADLINE), "no request read the clock"

    def release(self) -> None:
        self._release.set()


@dataclass
class Running:
    server: WitnessServer
    thread: threading.Thread
    client: httpx.Client

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        self.thread.join(DEADLINE)


class Harness:
    """A witness served on a free loopback port, for ``log`` (registered) and UNREGISTERED (configured only)."""

    def __init__(
        self, directory: Path, log: MemoryLog, max_body_bytes: int = MAX_BODY_SIZE, access: ReadAccess | None = None
    ) -> None:
        self.path = directory / "witness.db"
        self.log = log
        self.clock = SteppedClock(NOW)
        self.max_body_bytes = max_body_bytes
        self.config = WitnessConfig(
            name=WITNESS_NAME,
            private_key=witness_key(),
            state_path=self.path,
            logs={log.origin: [log.verifier], UNREGISTERED: [MemoryLog(UNREGISTERED).verifier]},
            clock=self.clock,
            max_body_bytes=max_body_bytes,
            access=access,
        )
        self.running: Running | None = None

    def start(self) -> None:
        server = make_server(self.config, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="witness", daemon=True)
        thread.start()
        self.running = Running(server, thread, httpx.Client(base_url=server.url, timeout=DEADLINE))

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.server.url

    @property
    def client(self) -> httpx.Client:
        assert self.running is not None
        return self.running.client

    def post(self, body: bytes) -> httpx.Response:
        return self.client.post("/add-checkpoint", content=body)

    def submit(self, old: int, size: int) -> httpx.Response:
        return self.post(self.log.body(old, size))

    def stored_size(self) -> int:
        return WitnessState(self.path).log_state(self.log.origin).size


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog().grow(64)


@pytest.fixture
def witness(tmp_path: Path, log: MemoryLog) -> Iterator[Harness]:
    harness = Harness(tmp_path, log)
    init_witness(harness.path, log.origin)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


# -- cosigning ----------------------------------------------------------------------------------------------------


def test_cosigns_a_growing_log(witness: Harness, log: MemoryLog) -> None:
    old = 0
    for size in (1, 2, 3, 7, 8, 9, 16, 17, 40, 64):
        witness.clock.now += 1
        timestamp = check_cosignature(witness.submit(old, size), log.text(size))
        assert timestamp == int(witness.clock.now)
        assert witness.stored_size() == size
        old = size
    stored = WitnessState(witness.path).log_state(ORIGIN)
    assert (stored.root, stored.note, stored.cosigned_at) == (log.checkpoint(64).root, log.note(64), int(NOW) + 10)


def test_a_client_adds_the_cosignature_to_its_note(witness: Harness, log: MemoryLog) -> None:
    """As the spec suggests: append the answer's lines to the checkpoint and open it with the witness's key."""
    response = witness.submit(0, 20)
    cosigned = add_signatures(log.note(20), parse_cosignature_lines(response.content))
    note, verified = open_note(cosigned, [cosignature_verifier()])
    assert note.text == log.text(20)
    assert [sig.name for sig in verified] == [WITNESS_NAME]
    _, by_log = open_note(cosigned, [log.verifier])  # the log's own signature is still there
    assert [sig.name for sig in by_log] == [ORIGIN]


def test_the_cosigned_checkpoint_is_cosigned_again(witness: Harness, log: MemoryLog) -> None:
    check_cosignature(witness.submit(0, 10), log.text(10))
    witness.clock.now += 30
    assert check_cosignature(witness.submit(10, 10), log.text(10)) == int(NOW) + 30
    assert witness.stored_size() == 10


def test_signatures_of_unknown_keys_are_ignored(witness: Harness, log: MemoryLog) -> None:
    stranger = NoteSigner("someone-else/log", Ed25519PrivateKey.from_private_bytes(b"\x33" * 32))
    note = sign_note(log.text(5), [stranger, log.signer])
    response = witness.post(format_add_checkpoint(0, [], note))
    check_cosignature(response, log.text(5))


def test_starts_from_a_trusted_checkpoint(tmp_path: Path, log: MemoryLog) -> None:
    harness = Harness(tmp_path, log)
    init_witness(harness.path, ORIGIN, log.checkpoint(30), log.note(30))
    harness.start()
    try:
        response = harness.submit(0, 31)
        assert (response.status_code, response.content) == (409, b"30\n")
        check_cosignature(harness.submit(30, 31), log.text(31))
    finally:
        harness.stop()


def test_health_and_metrics(witness: Harness, log: MemoryLog) -> None:
    witness.submit(0, 12)
    witness.submit(0, 13)  # 409
    health = witness.client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {ORIGIN: 12}  # the configured but unregistered log is not there
    metrics = witness.client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = metrics.text.splitlines()
    assert f'witness_cosignatures_total{{origin="{ORIGIN}"}} 1' in lines
    assert 'witness_refusals_total{status="409"} 1' in lines
    assert f'witness_tree_size{{origin="{ORIGIN}"}} 12' in lines


MONITOR_TOKEN = "monitor-token-of-the-test"
MEMBER_KEY = Ed25519PrivateKey.from_private_bytes(b"\x44" * 32)


def login(authorization: str) -> tuple[str, bool]:
    """A stand-in of the network's login check: ``Bearer person:<org>`` is a person of ``<org>``."""
    kind, _, rest = authorization.partition(" ")
    if kind != "Bearer" or not rest.startswith("person:"):
        raise UnauthenticatedError("bad login token")
    return rest.removeprefix("person:"), False


@pytest.fixture
def guarded(tmp_path: Path, log: MemoryLog) -> Iterator[Harness]:
    """A witness whose figures go to members (the gateway key of ``member-firm``, people) and the monitor."""
    public = MEMBER_KEY.public_key().public_bytes_raw()
    access = ReadAccess(
        {"member-firm": public}, {}, (), (), people=login, clock=lambda: NOW, monitor_token=MONITOR_TOKEN
    )
    harness = Harness(tmp_path, log, access=access)
    init_witness(harness.path, log.origin)
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()


def figures_headers(reader: str, path: str) -> dict[str, str]:
    """The headers of each kind of reader (``outsider``: none, or credentials that do not verify)."""
    if reader == "monitor":
        return {"Authorization": f"Bearer {MONITOR_TOKEN}"}
    if reader == "person":
        return {"Authorization": "Bearer person:member-firm"}
    if reader == "service":
        return sign_read("member-firm/gateway", MEMBER_KEY, "GET", path, NOW)
    if reader == "wrong-token":
        return {"Authorization": "Bearer not-the-monitor-token"}
    if reader == "stranger-key":
        return sign_read("member-firm/gateway", Ed25519PrivateKey.generate(), "GET", path, NOW)
    return {}


@pytest.mark.parametrize("reader", ["monitor", "person", "service"])
def test_members_and_the_monitor_read_the_figures(guarded: Harness, log: MemoryLog, reader: str) -> None:
    guarded.submit(0, 12)
    health = guarded.client.get("/healthz", headers=figures_headers(reader, "/healthz"))
    assert (health.status_code, health.json()) == (200, {ORIGIN: 12})
    metrics = guarded.client.get("/metrics", headers=figures_headers(reader, "/metrics"))
    assert metrics.status_code == 200
    assert f'witness_tree_size{{origin="{ORIGIN}"}} 12' in metrics.text.splitlines()


@pytest.mark.parametrize("reader", ["outsider", "wrong-token", "stranger-key"])
def test_an_outsider_learns_liveness_only(guarded: Harness, log: MemoryLog, reader: str) -> None:
    """No size cosigned reaches a reader without credentials, or with credentials that do not verify; cosigning
    itself is not a read and stays open to the log."""
    check_cosignature(guarded.submit(0, 12), log.text(12))
    health = guarded.client.get("/healthz", headers=figures_headers(reader, "/healthz"))
    assert (health.status_code, health.json()) == (200, {"ok": True})
    metrics = guarded.client.get("/metrics", headers=figures_headers(reader, "/metrics"))
    assert metrics.status_code == 401
    assert "12" not in metrics.text and ORIGIN not in metrics.text


# -- refusals -----------------------------------------------------------------------------------------------------


def flip_signature(note: bytes) -> bytes:
    parsed = parse_note(note)
    sig = parsed.signatures[0]
    bad = NoteSignature(sig.name, sig.key_id, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    return add_signatures(sign_note(parsed.text, [NoteSigner("placeholder", Ed25519PrivateKey.generate())]), [bad])


def strip_signatures(note: bytes) -> bytes:
    return parse_note(note).text.encode() + b"\n"


def bodies(log: MemoryLog) -> dict[str, tuple[int, bytes]]:
    """Requests the witness refuses while it stands at size 8, with the status each must get."""
    log.grow(64)
    good = log.body(8, 20)
    stranger = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(b"\x44" * 32))  # right name, wrong key
    other_log = MemoryLog(UNREGISTERED).grow(64)
    unconfigured = MemoryLog("somewhere-else/log").grow(64)
    return {
        "empty": (400, b""),
        "garbage": (400, b"\x00\xff" * 50),
        "no-old-line": (400, good[good.index(b"\n") + 1 :]),
        "leading-zero-old-size": (400, good.replace(b"old 8\n", b"old 08\n", 1)),
        "negative-old-size": (400, good.replace(b"old 8\n", b"old -8\n", 1)),
        "bad-base64-proof": (400, good.replace(b"\n", b"\n!!!!\n", 1)),
        "64-proof-lines": (
            400,
            format_add_checkpoint(0, [], log.note(20)).replace(b"\n", b"\n" + b"A" * 43 + b"=\n" * 64, 1),
        ),
        "no-blank-line": (400, b"old 8\n" + log.text(20).encode()),
        "unsigned-checkpoint": (400, b"old 8\n\n" + strip_signatures(log.note(20))),
        "not-a-checkpoint": (400, b"old 8\n\n" + sign_note("hello\n", [log.signer])),
        "old-size-above-size": (400, format_add_checkpoint(21, [], log.note(20))),
        "size-beyond-2^63": (
            400,
            format_add_checkpoint(
                8, [], sign_note(format_checkpoint(Checkpoint(ORIGIN, 2**63, b"\x01" * 32)), [log.signer])
            ),
        ),
        "unknown-key": (403, format_add_checkpoint(8, log.proof(8, 20), sign_note(log.text(20), [stranger]))),
        "bad-signature": (403, format_add_checkpoint(8, log.proof(8, 20), flip_signature(log.note(20)))),
        "unconfigured-origin": (404, unconfigured.body(0, 5)),
        "unregistered-origin": (404, other_log.body(0, 5)),
        "stale-old-size": (409, log.body(5, 20)),
        "old-size-ahead": (409, log.body(12, 20)),
        "proof-from-zero-while-at-8": (409, log.body(0, 20)),
        "smaller-tree": (409, log.body(0, 7)),
    }


BODY_CASES = list(bodies(MemoryLog()))


@pytest.mark.parametrize("case", BODY_CASES)
def test_refusals_change_nothing(witness: Harness, log: MemoryLog, case: str) -> None:
    check_cosignature(witness.submit(0, 8), log.text(8))
    status, body = bodies(log)[case]
    before = snapshot(witness.path)
    response = witness.post(body)
    assert response.status_code == status, response.text
    if status == 409:
        assert response.headers["content-type"] == "text/x.tlog.size"
        assert parse_size_body(response.content) == 8
    else:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.text.endswith("\n") and response.text.strip()
    assert snapshot(witness.path) == before
    check_cosignature(witness.submit(8, 9), log.text(9))  # and the witness carries on


def test_unknown_origin_names_it(witness: Harness) -> None:
    response = witness.post(MemoryLog(UNREGISTERED).grow(3).body(0, 3))
    assert response.status_code == 404
    assert "unknown origin" in response.text and UNREGISTERED in response.text


def test_a_bad_proof_is_refused_and_kept_as_evidence(
    witness: Harness, log: MemoryLog, caplog: pytest.LogCaptureFixture
) -> None:
    check_cosignature(witness.submit(0, 8), log.text(8))
    proof = log.proof(8, 20)
    proof[1] = bytes([proof[1][0] ^ 0x80]) + proof[1][1:]
    with caplog.at_level(logging.ERROR, logger="notary.witness"):
        response = witness.post(format_add_checkpoint(8, proof, log.note(20)))
    assert response.status_code == 422, response.text
    assert witness.stored_size() == 8
    (conflict,) = WitnessState(witness.path).conflicts(ORIGIN)
    assert (conflict.kind, conflict.old_size, conflict.size, conflict.note) == (
        ConflictKind.BAD_PROOF,
        8,
        20,
        log.note(20),
    )
    assert (conflict.stored_size, conflict.stored_note, list(conflict.proof)) == (8, log.note(8), proof)
    assert any(
        r.levelno == logging.ERROR and "ALARM" in r.getMessage() and ORIGIN in r.getMessage() for r in caplog.records
    )
    check_cosignature(witness.submit(8, 20), log.text(20))  # the right proof is accepted


def test_a_proof_for_the_cosigned_checkpoint_must_be_empty(witness: Harness, log: MemoryLog) -> None:
    check_cosignature(witness.submit(0, 8), log.text(8))
    response = witness.post(format_add_checkpoint(8, [b"\x00" * 32], log.note(8)))
    assert response.status_code == 422
    assert WitnessState(witness.path).conflicts() == []  # nothing wrong with the checkpoint itself


def test_a_proof_from_size_zero_must_be_empty(witness: Harness, log: MemoryLog) -> None:
    response = witness.post(format_add_checkpoint(0, [b"\x00" * 32], log.note(8)))
    assert response.status_code == 422
    assert witness.stored_size() == 0


def test_body_over_the_limit_is_refused_unread(witness: Harness) -> None:
    response = witness.post(b"x" * (MAX_BODY_SIZE + 1))
    assert response.status_code == 413
    assert witness.stored_size() == 0
    assert witness.client.get("/healthz").status_code == 200


def test_a_smaller_limit_is_honoured(tmp_path: Path, log: MemoryLog) -> None:
    harness = Harness(tmp_path, log, max_body_bytes=200)
    init_witness(harness.path, ORIGIN)
    harness.start()
    try:
        body = log.body(0, 40)
        assert len(body) > 200
        assert harness.post(body).status_code == 413
        assert harness.stored_size() == 0
    finally:
        harness.stop()


def raw_request(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n", 411),
        (b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 12x\r\nConnection: close\r\n\r\n", 411),
        (b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
        (b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"POST /other HTTP/1.1\r\nHost: w\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", 404),
        (b"GET /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n", 404),
        (b"PUT /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 2\r\n\r\nhi", 405),
        (b"BREW /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n", 501),
        (b"\x00\x01\x02 garbage\r\n\r\n", 400),
    ],
    ids=["no-length", "bad-length", "chunked", "huge-length", "other-path", "get-add", "put", "unknown-method", "junk"],
)
def test_http_framing_refusals(witness: Harness, request_bytes: bytes, status: int) -> None:
    answer = raw_request(witness.url, request_bytes)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()) or answer.startswith(f"HTTP/1.0 {status} ".encode()), (
        answer
    )
    assert witness.stored_size() == 0
    assert witness.client.get("/healthz").status_code == 200


def test_idle_connections_hold_no_thread(witness: Harness) -> None:
    """50 idle connections, 25 that never send and 25 kept alive after a request: the witness's threads stay its
    fixed set (the watcher and the workers, beside the harness's accepting thread), and another connection and the
    kept ones are answered."""
    port = int(witness.url.rsplit(":", 1)[1])
    before = set(threading.enumerate())
    assert sum(t.name.startswith("witness-") for t in before) == WORKERS + 1

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)

    with idle_connections(port, 25, connect, "/healthz") as kept:
        assert witness.client.get("/healthz").status_code == 200  # every connection accepted by now
        assert set(threading.enumerate()) - before == set()
        assert [get(connection, "/healthz") for connection in kept] == [200] * 25


def test_mangled_requests_never_crash_the_witness(witness: Harness, log: MemoryLog) -> None:
    """Bit flips, truncations and splices of genuine requests: refused or cosigned, never a 500, and the stored
    size only ever grows."""
    rng = random.Random(20261)
    check_cosignature(witness.submit(0, 10), log.text(10))
    genuine = [log.body(10, 30), log.body(0, 10), log.body(10, 10)]
    seen: set[int] = set()
    last = witness.stored_size()
    for _ in range(300):
        body = bytearray(rng.choice(genuine))
        action = rng.randrange(3)
        if action == 0:
            for _ in range(rng.randint(1, 3)):
                position = rng.randrange(len(body))
                body[position] ^= 1 << rng.randrange(8)
        elif action == 1:
            del body[rng.randrange(len(body)) :]
        else:
            start = rng.randrange(len(body))
            body[start:start] = rng.choice(genuine)[: rng.randrange(40)]
        response = witness.post(bytes(body))
        seen.add(response.status_code)
        assert response.status_code in {200, 400, 403, 404, 409, 422}, (response.status_code, response.text)
        size = witness.stored_size()
        assert size >= last
        last = size
    assert {400, 403} <= seen


# -- split views (catalogue 5) ------------------------------------------------------------------------------------


def test_split_view_at_the_same_size_is_refused_with_both_notes_kept(
    witness: Harness, log: MemoryLog, caplog: pytest.LogCaptureFixture
) -> None:
    check_cosignature(witness.submit(0, 8), log.text(8))
    fork = log.fork(5, "forged ").grow(64)
    assert fork.checkpoint(8).root != log.checkpoint(8).root
    with caplog.at_level(logging.ERROR, logger="notary.witness"):
        response = witness.post(format_add_checkpoint(8, [], fork.note(8)))
    assert response.status_code == 422, response.text
    assert "split view" in response.text
    (conflict,) = WitnessState(witness.path).conflicts(ORIGIN)
    assert conflict.kind is ConflictKind.SPLIT_VIEW
    assert (conflict.size, conflict.root, conflict.note) == (8, fork.checkpoint(8).root, fork.note(8))
    assert (conflict.stored_size, conflict.stored_root, conflict.stored_note) == (
        8,
        log.checkpoint(8).root,
        log.note(8),
    )
    # Both notes carry a valid signature by the log's key: the evidence stands on its own.
    for kept in (conflict.note, conflict.stored_note):
        assert kept is not None
        open_note(kept, [log.verifier])
    alarms = [r for r in caplog.records if r.levelno == logging.ERROR and "ALARM" in r.getMessage()]
    assert len(alarms) == 1
    assert ORIGIN in alarms[0].getMessage() and "size 8" in alarms[0].getMessage()
    assert WitnessState(witness.path).log_state(ORIGIN).root == log.checkpoint(8).root
    check_cosignature(witness.submit(8, 9), log.text(9))


def test_a_branch_inconsistent_with_the_cosigned_root_is_refused(witness: Harness, log: MemoryLog) -> None:
    check_cosignature(witness.submit(0, 8), log.text(8))
    fork = log.fork(5, "forged ").grow(64)
    # The fork's own proof from 8 to 20 is well-formed, but proves the fork's tree of 8, not the cosigned one.
    response = witness.post(fork.body(8, 20))
    assert response.status_code == 422, response.text
    (conflict,) = WitnessState(witness.path).conflicts(ORIGIN)
    assert (conflict.kind, conflict.size, conflict.note) == (ConflictKind.BAD_PROOF, 20, fork.note(20))
    assert conflict.stored_note == log.note(8)
    # The same note again is counted, not stored twice.
    assert witness.post(fork.body(8, 20)).status_code == 422
    (conflict,) = WitnessState(witness.path).conflicts(ORIGIN)
    assert conflict.seen == 2
    assert witness.stored_size() == 8


def test_a_split_view_sent_with_a_stale_old_size_is_still_kept(witness: Harness, log: MemoryLog) -> None:
    check_cosignature(witness.submit(0, 8), log.text(8))
    fork = log.fork(5, "forged ").grow(64)
    response = witness.post(fork.body(3, 8))
    assert (response.status_code, response.content) == (409, b"8\n")  # the spec's answer to a stale old size
    (conflict,) = WitnessState(witness.path).conflicts(ORIGIN)
    assert (conflict.kind, conflict.note) == (ConflictKind.SPLIT_VIEW, fork.note(8))
    metrics = witness.client.get("/metrics").text.splitlines()
    assert f'witness_conflicts_total{{origin="{ORIGIN}",kind="split-view"}} 1' in metrics


# -- concurrency (catalogue 4) -------------------------------------------------------------------------------


def test_concurrent_larger_and_smaller_checkpoints(witness: Harness, log: MemoryLog) -> None:
    """N+K is being cosigned when N arrives from the same old size: N gets 409 and the size N+K."""
    n, k = 20, 13
    check_cosignature(witness.submit(0, 8), log.text(8))
    witness.clock.hold()  # the first request to read the clock is inside the critical section; it waits there
    with ThreadPoolExecutor(2) as pool:
        larger = pool.submit(witness.submit, 8, n + k)
        witness.clock.wait_inside()
        smaller = pool.submit(witness.submit, 8, n)
        witness.clock.release()
        answers = (larger.result(DEADLINE), smaller.result(DEADLINE))
    check_cosignature(answers[0], log.text(n + k))
    assert (answers[1].status_code, answers[1].content) == (409, f"{n + k}\n".encode())
    assert witness.stored_size() == n + k


def test_racing_submissions_give_one_cosignature_and_one_conflict(witness: Harness, log: MemoryLog) -> None:
    """Free races from the same old size, many rounds: exactly one wins, the loser learns the winner's size, and
    the stored size is the winner's (it never goes back)."""
    old = 0
    rng = random.Random(4)
    sizes_seen = [0]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(15):
            smaller = old + rng.randint(1, 3)
            bodies_ = [log.body(old, smaller + rng.randint(1, 3)), log.body(old, smaller)]
            barrier = threading.Barrier(2)

            def send(body: bytes, barrier: threading.Barrier = barrier) -> httpx.Response:
                barrier.wait(DEADLINE)
                return witness.post(body)

            answers = list(pool.map(send, bodies_))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 409], [a.text for a in answers]
            winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
            won_size = int(parse_note(bodies_[winner].split(b"\n\n", 1)[1]).text.split("\n")[1])
            loser = answers[1 - winner]
            assert parse_size_body(loser.content) == won_size
            assert witness.stored_size() == won_size
            assert won_size > sizes_seen[-1]
            sizes_seen.append(won_size)
            old = won_size


# -- time (catalogue 11) ------------------------------------------------------------------------------------------


def test_cosignature_time_never_goes_back(tmp_path: Path, log: MemoryLog) -> None:
    harness = Harness(tmp_path, log)
    init_witness(harness.path, ORIGIN)
    harness.start()
    try:
        first = check_cosignature(harness.submit(0, 5), log.text(5))
        assert first == int(NOW)
        harness.clock.now = NOW - 3600  # the clock steps back an hour
        assert check_cosignature(harness.submit(5, 6), log.text(6)) == first
        harness.clock.now = NOW + 2
        assert check_cosignature(harness.submit(6, 7), log.text(7)) == first + 2
    finally:
        harness.stop()
    # A restarted witness with a clock still behind remembers the last time it issued.
    restarted = Harness(tmp_path, log)
    restarted.clock.now = NOW - 86400
    restarted.start()
    try:
        assert check_cosignature(restarted.submit(7, 9), log.text(9)) == first + 2
    finally:
        restarted.stop()


# -- a wiped state ------------------------------------------------------------------------------------------------


def test_wiped_state_refuses_until_initialised_again(witness: Harness, log: MemoryLog) -> None:
    check_cosignature(witness.submit(0, 30), log.text(30))
    wait_until(lambda: not Path(f"{witness.path}-wal").exists(), "an idle state file", DEADLINE, every=0.005)
    witness.path.unlink()
    for old in (0, 30):
        response = witness.submit(old, 31)
        assert response.status_code == 404, response.text
        assert "unknown origin" in response.text
    assert not witness.path.exists()  # serving never re-creates it
    assert witness.client.get("/healthz").json() == {}
    init_witness(witness.path, ORIGIN)
    check_cosignature(witness.submit(0, 31), log.text(31))
