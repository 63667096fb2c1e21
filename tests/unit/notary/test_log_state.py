"""``verify log``'s memory between runs: the checkpoint verified last (``notary.logstate``) and the check that
the log's checkpoint extends it (``notary.mirror.check_extends``), against real in-process notaries.

Every log here is signed by one log key under one origin; ``honest`` grows, and the others are what a notary
could serve instead of it: fewer entries (a rollback), other entries at the same size (a fork), other entries
and more (a tree that does not extend the one verified). Each is read as ``verify log`` reads it, through the
command's own HTTP fetch over the app in process."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cli.verify import _fetcher
from notary.api import create_app
from notary.checkpointer import WitnessPolicy
from notary.log.checkpoint import parse_checkpoint
from notary.log.note import NoteSigner, NoteVerifier, parse_note, sign_note
from notary.logstate import (
    FORMAT,
    LogStateError,
    VerifiedCheckpoint,
    default_state_path,
    load_state,
    save_refused,
    save_state,
)
from notary.logsuite import INTL, SM, LogSuite, PrivateKey, parse_log_vkey, public_bytes
from notary.mirror import CheckpointConflictError, Fetch, LogMismatchError, MirrorReport, mirror_log
from notary.sequencer import batch_request
from notary.service import NotaryService, NotarySettings
from notary.verify import TrustRoots
from suite.sm2 import SM2PrivateKey
from tests.support.notary_events import event

ORIGIN = "test-consortium/audit-log"
GATEWAY = "shuzhi-tech/gw-1"
NOW = 1_795_000_000.0
LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
GATEWAY_KEY = Ed25519PrivateKey.from_private_bytes(b"\x06" * 32)
ROOTS = TrustRoots(
    log=NoteVerifier(ORIGIN, public_bytes(LOG_KEY)),
    witnesses={},
    policy=WitnessPolicy(0, (), False, frozenset()),
    notary_account="0x" + "11" * 20,
    anchor_address="0x" + "22" * 20,
    chain_id=20261,
)


class Log:
    """A notary of the one origin and log key, its events submitted by the one gateway, read in process (under
    ``suite``, with its own keys, when given)."""

    def __init__(
        self, directory: Path, suite: LogSuite = INTL, keys: tuple[PrivateKey, PrivateKey] | None = None
    ) -> None:
        self.log_key, self.gateway_key = keys or (LOG_KEY, GATEWAY_KEY)
        self.service = NotaryService(
            NotarySettings(
                directory=directory,
                origin=ORIGIN,
                log_key=self.log_key,
                gateway_keys={"shuzhi-tech": public_bytes(self.gateway_key)},
                witnesses=[],
                policy=WitnessPolicy(0, (), False, frozenset()),
                clock=lambda: NOW,
                suite=suite,
            )
        )
        self.client = TestClient(create_app(self.service))
        self.seq = 0
        self.fetched: list[str] = []

    def add(self, count: int, tag: str) -> None:
        """Sequence ``count`` events with ids ``<tag>-<seq>`` and publish a checkpoint of the new size."""
        events = []
        for _ in range(count):
            self.seq += 1
            version = {"intl": 1, "sm": 3}[self.service.suite.name]
            events.append(event(v=version, event_id=f"{tag}-{self.seq}", gateway_seq=self.seq, time_ms=int(NOW * 1000)))
        body, headers = batch_request(GATEWAY, events, self.gateway_key)
        self.service.sequencer.submit(GATEWAY, body, base64.b64decode(headers["Consortium-Signature"]))
        assert self.service.checkpointer.round() is not None

    def fetch(self, path: str) -> bytes:
        self.fetched.append(path)
        return _fetcher(self.client)(path)

    def close(self) -> None:
        self.client.close()
        self.service.stop()


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[dict[str, Log]]:
    made: dict[str, Log] = {}

    def make(name: str) -> Log:
        made[name] = Log(tmp_path / name)
        return made[name]

    honest = make("honest")
    honest.add(5, "ev")
    rollback = make("rollback")
    rollback.add(3, "ev")  # the honest log's first three events, and no more
    fork = make("fork")
    fork.add(5, "other")  # five events, not the honest ones
    inconsistent = make("inconsistent")
    inconsistent.add(8, "other")  # more events, the first five not the honest ones
    yield made
    for log in made.values():
        log.close()


def verified(report: MirrorReport, url: str = "http://notary.test") -> VerifiedCheckpoint:
    return VerifiedCheckpoint(parse_checkpoint(parse_note(report.note).text), report.note, 1_795_000_000_000, url)


def first_run(log: Log, state: Path) -> VerifiedCheckpoint:
    """What ``verify log`` does on its first run: no state, verify, keep."""
    assert load_state(state, ROOTS.log) is None
    report = mirror_log(log.fetch, ROOTS)
    assert report.consistency is None
    kept = verified(report)
    save_state(state, kept)
    return kept


def next_run(fetch: Fetch, state: Path) -> MirrorReport:
    previous = load_state(state, ROOTS.log)
    assert previous is not None
    return mirror_log(fetch, ROOTS, previous=previous.checkpoint)


# -- the state file --------------------------------------------------------------------------------------------


def test_the_first_run_keeps_the_checkpoint_and_it_reads_back(logs: dict[str, Log], tmp_path: Path) -> None:
    state = tmp_path / "state" / "log.json"
    kept = first_run(logs["honest"], state)
    assert load_state(state, ROOTS.log) == kept
    data = json.loads(state.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT and data["size"] == 5 and data["root"] == kept.checkpoint.root.hex()
    assert data["note"] == kept.note.decode()  # the log's signature, with the checkpoint it signs
    assert sorted(p.name for p in state.parent.iterdir()) == ["log.json"]  # no temporary file left


def test_the_default_state_file_is_per_consortium_and_origin(tmp_path: Path) -> None:
    consortium = tmp_path / "consortium.json"
    path = default_state_path(consortium, ORIGIN)
    assert path.parent == tmp_path / "verified-log"
    assert path.name.startswith("test-consortium_audit-log-") and path.suffix == ".json"
    assert default_state_path(consortium, ORIGIN + "2") != path
    assert (
        default_state_path(tmp_path / "other" / "consortium.json", ORIGIN).parent == tmp_path / "other" / "verified-log"
    )
    assert default_state_path(consortium, "a/b") != default_state_path(consortium, "a_b")


def test_a_log_that_grew_is_proven_consistent(logs: dict[str, Log], tmp_path: Path) -> None:
    state = tmp_path / "log.json"
    honest = logs["honest"]
    first_run(honest, state)
    honest.add(4, "ev")
    honest.fetched.clear()
    report = next_run(honest.fetch, state)
    assert report.size == 9
    assert "v1/proofs/consistency?from=5&to=9" in honest.fetched
    assert report.consistency is not None
    assert "extends the checkpoint verified before (size 5" in report.consistency
    assert "consistency proof of" in report.consistency and "hashes verified" in report.consistency
    unchanged = next_run(honest.fetch, state)  # the state still says 5: the command writes, not the check
    assert unchanged.size == 9
    save_state(state, verified(report))
    same = next_run(honest.fetch, state)
    assert same.consistency is not None and same.consistency.startswith("the same tree")


@pytest.mark.parametrize(
    ("log", "kind", "words"),
    [
        ("rollback", "rollback", "the log went back: its checkpoint (size 3, root "),
        ("fork", "fork", "the log forked: its checkpoint (size 5, root "),
        ("inconsistent", "inconsistent", "the log's checkpoint (size 8, root "),
    ],
)
def test_a_log_that_does_not_extend_the_checkpoint_verified_is_refused(
    logs: dict[str, Log], tmp_path: Path, log: str, kind: str, words: str
) -> None:
    state = tmp_path / "log.json"
    kept = first_run(logs["honest"], state)
    before = state.read_bytes()
    other = logs[log]
    with pytest.raises(CheckpointConflictError) as info:
        next_run(other.fetch, state)
    error = info.value
    assert error.kind == kind
    assert words in error.detail
    assert f"(size 5, root {kept.checkpoint.root.hex()})" in error.detail
    current = parse_checkpoint(parse_note(other.fetch("checkpoint")).text)
    assert error.current == current and error.previous == kept.checkpoint
    assert current.root.hex() in error.detail  # both checkpoints named
    assert not any(p.startswith("tile/") for p in other.fetched)  # refused before anything else was read
    assert state.read_bytes() == before
    evidence = save_refused(state, error.note, error.current)
    assert evidence.read_bytes() == other.fetch("checkpoint") and evidence.parent == state.parent


def test_a_consistency_proof_is_checked_not_taken(logs: dict[str, Log], tmp_path: Path) -> None:
    state = tmp_path / "log.json"
    honest = logs["honest"]
    first_run(honest, state)
    honest.add(4, "ev")

    def flipped(path: str) -> bytes:
        data = honest.fetch(path)
        if not path.startswith("v1/proofs/consistency"):
            return data
        body = json.loads(data)
        proof = bytearray(base64.b64decode(body["proof"][0]))
        proof[0] ^= 0x01
        body["proof"][0] = base64.b64encode(bytes(proof)).decode()
        return json.dumps(body).encode()

    with pytest.raises(CheckpointConflictError) as info:
        next_run(flipped, state)
    assert info.value.kind == "inconsistent"
    assert "not consistent with the one verified before (size 5" in info.value.detail


def test_a_log_that_serves_no_consistency_proof_fails(logs: dict[str, Log], tmp_path: Path) -> None:
    state = tmp_path / "log.json"
    honest = logs["honest"]
    first_run(honest, state)
    honest.add(1, "ev")

    def no_proof(path: str) -> bytes:
        return b"{}" if path.startswith("v1/proofs/consistency") else honest.fetch(path)

    with pytest.raises(LogMismatchError) as info:
        next_run(no_proof, state)
    assert not isinstance(info.value, CheckpointConflictError)
    assert info.value.where == "v1/proofs/consistency?from=5&to=6"
    assert "not a consistency proof" in info.value.detail


def test_under_the_sm_suite_the_proof_is_of_sm3_trees(tmp_path: Path) -> None:
    keys = (SM2PrivateKey.generate(), SM2PrivateKey.generate())
    honest, fork = Log(tmp_path / "honest", SM, keys), Log(tmp_path / "fork", SM, keys)
    try:
        roots = dataclasses.replace(ROOTS, log=parse_log_vkey(honest.service.vkey))
        honest.add(5, "ev")
        fork.add(5, "other")
        state = tmp_path / "log.json"
        save_state(state, verified(mirror_log(honest.fetch, roots)))
        honest.add(3, "ev")
        previous = load_state(state, roots.log)
        assert previous is not None
        report = mirror_log(honest.fetch, roots, previous=previous.checkpoint)
        assert report.consistency is not None and "consistency proof of" in report.consistency
        with pytest.raises(CheckpointConflictError) as info:
            mirror_log(fork.fetch, roots, previous=previous.checkpoint)
        assert info.value.kind == "fork"
        with pytest.raises(LogStateError):  # a state of the sm log is not one of the intl log's key
            load_state(state, ROOTS.log)
    finally:
        honest.close()
        fork.close()


# -- a state file that cannot be trusted ------------------------------------------------------------------------


def _edit(state: Path, change: dict[str, object]) -> None:
    data = json.loads(state.read_text(encoding="utf-8"))
    data.update(change)
    state.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda s: s.write_bytes(b'{"format": "consortium-ledger/verified-checkpoint/v1", "size": 5, "ro'), "not JSON"),
        (lambda s: s.write_bytes(b"\xff\xfe"), "not JSON"),
        (lambda s: s.write_text("[]"), "its format is 'list'"),
        (lambda s: _edit(s, {"format": "v0"}), "its format is 'v0'"),
        (lambda s: _edit(s, {"size": 4}), "its origin, size or root is not the note's"),
        (lambda s: _edit(s, {"verified_ms": "yesterday"}), "verified_ms must be an integer"),
        (lambda s: _edit(s, {"note": "not a note"}), "is not a checkpoint verified before"),
        (lambda s: _edit(s, {"url": None}), "url a string"),
    ],
    ids=["truncated", "not-utf8", "not-an-object", "format", "size", "time", "note", "url"],
)
def test_a_damaged_state_file_is_a_clear_error_and_is_left_as_it_is(
    logs: dict[str, Log], tmp_path: Path, damage: object, words: str
) -> None:
    state = tmp_path / "log.json"
    first_run(logs["honest"], state)
    damage(state)  # type: ignore[operator]
    before = state.read_bytes()
    with pytest.raises(LogStateError) as info:
        load_state(state, ROOTS.log)
    message = str(info.value)
    assert str(state) in message and words in message, message
    assert "left as it is" in message
    assert state.read_bytes() == before


def test_a_state_file_without_a_field_names_it(logs: dict[str, Log], tmp_path: Path) -> None:
    state = tmp_path / "log.json"
    first_run(logs["honest"], state)
    data = json.loads(state.read_text(encoding="utf-8"))
    del data["note"]
    state.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(LogStateError, match="it has no 'note'"):
        load_state(state, ROOTS.log)


def test_a_checkpoint_the_log_key_did_not_sign_is_not_trusted(logs: dict[str, Log], tmp_path: Path) -> None:
    """A state file edited to hold another tree (say, to make a forked log pass) needs the log key's signature."""
    state = tmp_path / "log.json"
    kept = first_run(logs["honest"], state)
    text = kept.note.decode().split("\n\n")[0] + "\n"
    forged = sign_note(text, [NoteSigner(ORIGIN, Ed25519PrivateKey.generate())])
    _edit(state, {"note": forged.decode()})
    with pytest.raises(LogStateError, match="is not a checkpoint verified before"):
        load_state(state, ROOTS.log)
    other_log = NoteVerifier("another/log", public_bytes(LOG_KEY))
    first_run(logs["honest"], tmp_path / "again.json")
    with pytest.raises(LogStateError, match="no signature from a known key"):  # a state of another log
        load_state(tmp_path / "again.json", other_log)


def test_a_state_file_that_cannot_be_written_leaves_the_old_one(logs: dict[str, Log], tmp_path: Path) -> None:
    state = tmp_path / "log.json"
    kept = first_run(logs["honest"], state)
    before = state.read_bytes()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    with pytest.raises(LogStateError, match="cannot write the state file"):
        save_state(blocked / "log.json", kept)
    if os.geteuid() != 0:  # root writes into a read-only directory
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(LogStateError, match="cannot write the state file"):
                save_state(state, kept)
        finally:
            tmp_path.chmod(0o700)
        assert state.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
