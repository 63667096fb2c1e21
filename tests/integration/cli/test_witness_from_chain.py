"""The notary's witnesses follow the chain, as real processes: a firm joins the running founders' consortium with
the witness role, from its own directory; until its witness key is on chain its ``witness serve`` is refused and
the notary (given the regulator's witness only) neither asks nor counts it, so with the regulator's witness alone a
checkpoint is not published (the policy: two witnesses, a regulator among them). Once the firm publishes its
keys and its witness's URL, its witness starts and the same notary, with no restart and no ``--witness`` for the
firm, asks it at that URL and publishes checkpoints carrying its cosignature;
once the firm retires that key on chain, the notary stops counting it and publishes nothing more. A founder's
rotation of its witness key on the same chain: the notary's follower gives both keys during the overlap, then
the new one.

The founders run under ``consortium up`` (for its chain); the notary and the two witnesses of this test run from a
copy of the founders' directory and from the firm's, with logs and witness state of their own, so ``up``'s notary
and witnesses are left alone."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.backend import RpcBackend
from chain.contracts.trust import KeyKind, TrustDirectoryClient
from chain.ids import OrgId
from cli.main import cli
from network.config import parse_config
from network.consortium import init_consortium
from network.description import load_description
from network.identity import OrgPaths, _encrypt_log_key, load_gateway_key, load_witness_key
from network.logsetup import (
    ChainWitnesses,
    LogSetupError,
    log_origin,
    notary_settings,
    registry_roles,
    witness_name,
    witness_vkey,
)
from network.trust import trust_view
from notary.log.cosignature import CosignatureSigner, CosignatureVerifier
from notary.log.note import Note, parse_note
from notary.logsuite import public_bytes
from notary.readauth import SignedReads
from notary.sequencer import batch_request
from tests.support.notary_events import event
from tests.support.notary_world import new_key
from tests.support.small_consortium import three_member_config
from tests.support.up_process import (
    CHAIN_ID,
    PLAIN,
    UpProcess,
    consortium_process,
    free_port,
    free_port_block,
    serves,
)
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

PASSPHRASE = "witness-chain-passphrase"
FIRM_PASSPHRASE = "epsilon-witness-passphrase"
NEWCOMER = "epsilon"
START_TIMEOUT = 240.0
FOLLOW_TIMEOUT = 60.0  # a follower sees a block within a poll, a checkpoint round within its interval; generous


def run(directory: Path, passphrase_file: Path, chain: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--dir", str(directory), "--chain-url", chain, "--passphrase-file", str(passphrase_file), *args],
        catch_exceptions=True,
    )


def ok(result: Result) -> str:
    assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
    return result.output


class Traffic:
    """Batches of op's gateway, signed with its gateway key, so that the tree grows and the notary checkpoints."""

    def __init__(self, directory: Path, notary: str) -> None:
        self.key = load_gateway_key(directory, OrgId("op"), PASSPHRASE.encode())
        self.notary = notary
        self.seq = 0

    def grow(self) -> int:
        """Log one event; the size of the tree after it."""
        self.seq += 1
        events = [
            event(
                event_id=str(uuid.uuid4()),
                gateway_id="op/gw-test",
                gateway_seq=self.seq,
                provider_org="op",
                caller_org="alpha",
                time_ms=int(time.time() * 1000),
            )
        ]
        body, headers = batch_request("op/gw-test", events, self.key)
        response = httpx.post(self.notary + "/v1/batches", content=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return int(httpx.get(self.notary + "/healthz", timeout=5).json()["size"])


def health(notary: str) -> dict[str, object]:
    answer: dict[str, object] = httpx.get(notary + "/healthz", timeout=5).json()
    return answer


def not_published(log: Path, size: int) -> bool:
    """Whether the notary logged a round at ``size`` that the regulator's cosignature alone did not publish."""
    return f"checkpoint {size} not published: 1 cosignature(s) (reg)" in log.read_text(errors="replace")


def published_note(notary: str, size: int) -> str | None:
    response = httpx.get(f"{notary}/v1/checkpoints/{size}", timeout=5)
    if response.status_code != 200:
        return None
    note: str = response.json()["note"]
    return note


@pytest.fixture(scope="module")
def founders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, UpProcess]]:
    base = tmp_path_factory.mktemp("witness-chain")
    directory = base / "founders"
    init_consortium(directory, parse_config(three_member_config("witness-test", CHAIN_ID)), PASSPHRASE.encode())
    passphrase_file = base / "founders.pass"
    passphrase_file.write_text(PASSPHRASE)
    port = free_port_block()
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "cli.main", "up", str(directory), "--port", str(port), "--traffic", "0",
            "--block-time", "0.2", *PLAIN]  # fmt: skip
    up = UpProcess(argv, env, port)
    try:
        up.wait_for_summary(timeout=START_TIMEOUT)
        yield directory, passphrase_file, up
    finally:
        if up.process.poll() is None:
            up.stop()


def test_a_joined_firms_witness_is_counted_from_its_key_on_chain_until_retired(
    founders: tuple[Path, Path, UpProcess], tmp_path: Path
) -> None:
    directory, passphrase_file, up = founders
    chain = up.url
    firm, firm_pass = tmp_path / "epsilon", tmp_path / "epsilon.pass"
    firm_pass.write_text(FIRM_PASSPHRASE)
    given = tmp_path / "consortium.json"
    given.write_text((directory / "consortium.json").read_text())

    # the firm joins as a witness; op's admission alone carries it (admission threshold 1)
    ok(run(firm, firm_pass, chain, "member", "join", NEWCOMER, "--name", "Epsilon Securities", "--consortium",
           str(given), "--roles", "member,witness"))  # fmt: skip
    out = ok(run(directory, passphrase_file, chain, "member", "propose", "admit", "--request",
                 str(firm / "admission-request.json"), "--as", "op"))  # fmt: skip
    assert "created (carried out)" in out, out

    # a notary and the regulator's witness of this test, from a copy of the founders' keys and description
    mine = tmp_path / "founders-copy"
    mine.mkdir()
    shutil.copy(directory / "consortium.json", mine / "consortium.json")
    shutil.copytree(directory / "orgs", mine / "orgs")
    reg_port, epsilon_port, notary_port = free_port(), free_port(), free_port()
    notary = f"http://127.0.0.1:{notary_port}"
    witness_reg = ["witness", "serve", str(mine), "--org", "reg", "--port", str(reg_port)]
    witness_epsilon = ["--chain-url", chain, "witness", "serve", str(firm), "--org", NEWCOMER,
                       "--port", str(epsilon_port)]  # fmt: skip
    # the firm's witness URL is not on the command line: the notary learns it from the chain once published
    notary_argv = ["notary", "serve", str(mine), "--port", str(notary_port), "--chain-url", chain, "--no-anchor",
                   "--checkpoint-interval", "0.1", "--witness", f"reg=http://127.0.0.1:{reg_port}"]  # fmt: skip
    # genesis listed op's and alpha's witnesses where `consortium up` on its default port serves them, not where
    # this test's `up` does: they retire those endpoints, and the notary asks neither of them
    for org, genesis_url in (("op", b"http://127.0.0.1:8551"), ("alpha", b"http://127.0.0.1:8552")):
        trust = TrustDirectoryClient(RpcBackend(chain), load_description(mine).contracts["TrustDirectory"])
        genesis_index = trust.find(org, KeyKind.WITNESS_ENDPOINT, genesis_url)
        assert genesis_index is not None
        ok(run(mine, passphrase_file, chain, "member", "keys", "retire", str(genesis_index), "--as", org))

    # each witness's state registers the log at size 0 (the firm's: a witness on chain, from its directory)
    ok(run(mine, passphrase_file, chain, "witness", "init", str(mine), "--org", "reg"))
    ok(run(firm, firm_pass, chain, "witness", "init", str(firm), "--org", NEWCOMER))
    # an org that is not a member holding the witness role on chain is refused, as one consortium.json does not name
    stranger = run(firm, firm_pass, chain, "witness", "init", str(firm), "--org", "zeta")
    assert stranger.exit_code != 0, stranger.output
    assert (
        "'zeta' is not a witness of this consortium (op, alpha, reg) nor a member holding the witness role on "
        "chain" in stranger.output
    ), stranger.output

    # before its key is on chain, the firm's witness is refused: not one consortium.json names, its key not listed
    refused = subprocess.run(
        [sys.executable, "-m", "cli.main", *witness_epsilon],
        env={**os.environ, "CONSORTIUM_PASSPHRASE": FIRM_PASSPHRASE},
        capture_output=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert b"is not one the TrustDirectory lists valid now: publish it first" in refused.stderr, refused.stderr

    with (
        consortium_process(witness_reg, PASSPHRASE, tmp_path / "reg.log") as reg,
        consortium_process(notary_argv, PASSPHRASE, tmp_path / "notary.log") as notary_process,
    ):
        wait_until(lambda: serves(f"http://127.0.0.1:{reg_port}", reg, tmp_path / "reg.log"), "reg's witness", 60)
        wait_until(lambda: serves(notary, notary_process, tmp_path / "notary.log"), "the notary", 60)
        traffic = Traffic(mine, notary)
        size = traffic.grow()
        # the regulator cosigns, the firm is not asked: one of the two needed, so nothing is published
        wait_until(lambda: not_published(tmp_path / "notary.log", size), "a round without the firm", FOLLOW_TIMEOUT)
        assert health(notary)["witnesses"] == {"reg": {"status": 200, "detail": ""}}
        assert health(notary)["policy"] == "2 of 3 witnesses including a regulator"
        assert published_note(notary, size) is None

        # the firm publishes its keys and its witness's URL and starts its witness from its own directory; the
        # notary was not restarted
        assert "5 key(s) published for epsilon" in ok(
            run(firm, firm_pass, chain, "member", "keys", "publish", "--as", NEWCOMER,
                "--witness-url", f"http://127.0.0.1:{epsilon_port}")
        )  # fmt: skip
        with consortium_process(witness_epsilon, FIRM_PASSPHRASE, tmp_path / "epsilon.log") as epsilon:
            wait_until(
                lambda: serves(f"http://127.0.0.1:{epsilon_port}", epsilon, tmp_path / "epsilon.log"),
                "the firm's witness",
                60,
            )
            size = traffic.grow()
            note = wait_until(lambda: published_note(notary, size), "a checkpoint cosigned by the firm", FOLLOW_TIMEOUT)
            description = load_description(mine)
            assert f"\u2014 {witness_name(description, NEWCOMER)} " in note, note
            assert f"\u2014 {witness_name(description, 'reg')} " in note, note
            assert health(notary)["policy"] == "2 of 4 witnesses including a regulator"

            # the firm retires its witness key on chain: no longer asked nor counted, nothing more is published
            key = public_bytes(load_witness_key(firm, OrgId(NEWCOMER), FIRM_PASSPHRASE.encode()))
            backend = RpcBackend(chain)
            trust = TrustDirectoryClient(backend, description.contracts["TrustDirectory"])
            index = trust.find(NEWCOMER, KeyKind.WITNESS_KEY, key)
            assert index is not None
            ok(run(firm, firm_pass, chain, "member", "keys", "retire", str(index), "--as", NEWCOMER))
            wait_until(
                lambda: health(notary)["policy"] == "2 of 3 witnesses including a regulator",
                "the notary to drop the retired witness key",
                FOLLOW_TIMEOUT,
                every=0.1,
            )
            size = traffic.grow()
            wait_until(lambda: not_published(tmp_path / "notary.log", size), "a round without the firm", FOLLOW_TIMEOUT)
            assert published_note(notary, size) is None

    # the refusals that need no witness running: an org the notary cannot follow without a directory to read,
    # and a witness of an org consortium.json does not name while the chain does not answer
    description = load_description(mine)
    without_directory = dataclasses.replace(
        description, contracts={k: v for k, v in description.contracts.items() if k != "TrustDirectory"}
    )
    with pytest.raises(LogSetupError, match="not witnesses of this consortium: epsilon"):
        notary_settings(mine, without_directory, PASSPHRASE.encode(), {NEWCOMER: "http://127.0.0.1:1"})
    silent = tmp_path / "silent"
    silent.mkdir()
    chain_of = json.loads((firm / "consortium.json").read_text())
    chain_of["chain"]["url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    (silent / "consortium.json").write_text(json.dumps(chain_of))
    unanswered = run(silent, firm_pass, chain, "witness", "init", str(silent), "--org", NEWCOMER)
    assert unanswered.exit_code != 0, unanswered.output
    assert "'epsilon' is not a witness of this consortium (op, alpha, reg), and the chain did not answer" in (
        unanswered.output
    ), unanswered.output


def test_a_founders_witness_rotation_on_chain_gives_both_keys_then_the_new_one(
    founders: tuple[Path, Path, UpProcess],
) -> None:
    """What the notary's follower answers through a rotation of op's witness key on this chain: op counted
    throughout, asked under both keys during the overlap, then under the new one only; the count unchanged."""
    directory, passphrase_file, up = founders
    description = load_description(directory)
    view = trust_view(description, up.url, poll_s=0.05)
    view.start()
    try:
        urls = {org: f"http://127.0.0.1:{free_port()}" for org in ("op", "alpha", "reg")}
        follow = ChainWitnesses(view, description, urls, registry_roles(view, description))

        def op_keys() -> list[bytes]:
            witnesses, policy = follow()
            assert set(policy.witnesses) >= {"op", "alpha", "reg"} and policy.threshold == 2, policy
            op = next(w for w in witnesses if w.org == "op")
            return [v.key_id for v in op.verifiers]

        def op_keys_when(count: int) -> list[bytes] | None:
            keys = op_keys()
            return keys if len(keys) == count else None

        old = op_keys()
        assert len(old) == 1
        new = public_bytes(new_key(description.suite))
        ok(run(directory, passphrase_file, up.url, "member", "keys", "add", "witness-key", "--hex", new.hex(),
               "--as", "op"))  # fmt: skip
        both = wait_until(lambda: op_keys_when(2), "the overlap", FOLLOW_TIMEOUT)
        assert both[0] == old[0]
        trust = TrustDirectoryClient(RpcBackend(up.url), description.contracts["TrustDirectory"])
        index = trust.find("op", KeyKind.WITNESS_KEY, description.member("op").identity.witness_public_key)
        assert index is not None
        ok(run(directory, passphrase_file, up.url, "member", "keys", "retire", str(index), "--as", "op"))
        assert wait_until(lambda: op_keys_when(1), "the old key's end", FOLLOW_TIMEOUT) == [both[1]]
    finally:
        view.stop()


def _running_pid(words: list[str]) -> int:
    """The pid of the one process whose command line holds ``words`` in a row."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        if any(cmdline[i : i + len(words)] == words for i in range(len(cmdline))):
            found.append(int(proc.name))
    assert len(found) == 1, (words, found)
    return found[0]


def _cosigned_by(note: str, name: str, public_key: bytes) -> bool:
    verifier = CosignatureVerifier(name, public_key)
    return any((s.name, s.key_id) == (name, verifier.key_id) for s in parse_note(note.encode()).signatures)


def test_verify_evidence_counts_a_rotated_witness_key_and_refuses_the_old_ones_cosignature_later(
    founders: tuple[Path, Path, UpProcess], tmp_path: Path
) -> None:
    """alpha rotates its witness key with the CLI (`member keys add witness-key`, its witness restarted on the new
    key by `up`, then `member keys retire` of the old one). `verify evidence` of a checkpoint anchored before the
    rotation counts the old key (valid at its anchor's block); of one anchored after, the new key, read from the
    chain though consortium.json still lists the old one; the same later checkpoint with alpha's cosignature made
    by the old key instead is refused (the old key counts for nobody at its anchor's block), and passes only with
    --offline, which says it trusts the file. The explorer hands the browser the same keys."""
    directory, passphrase_file, up = founders
    description = load_description(directory)
    consortium = str(directory / "consortium.json")
    notary = f"http://127.0.0.1:{up.port + 1}"
    alpha_name = witness_name(description, "alpha")
    gateway_key = load_gateway_key(directory, OrgId("op"), PASSPHRASE.encode())
    reads = SignedReads("op/gw-rotation", gateway_key)
    seq = iter(range(1, 10_000))
    trust = TrustDirectoryClient(RpcBackend(up.url), description.contracts["TrustDirectory"])

    def logged() -> str:
        event_id = str(uuid.uuid4())
        one = event(
            event_id=event_id,
            gateway_id="op/gw-rotation",
            gateway_seq=next(seq),
            provider_org="op",
            caller_org="alpha",
            time_ms=int(time.time() * 1000),
        )
        body, headers = batch_request("op/gw-rotation", [one], gateway_key)
        response = httpx.post(notary + "/v1/batches", content=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return event_id

    def anchored(event_id: str) -> dict[str, Any] | None:
        response = httpx.get(f"{notary}/v1/evidence/{event_id}", auth=reads, timeout=10)
        assert response.status_code in (200, 404), response.text
        bundle: dict[str, Any] | None = response.json() if response.status_code == 200 else None
        return bundle if bundle and bundle.get("anchor") is not None else None

    def verify(bundle: dict[str, Any], name: str, *extra: str) -> Result:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle))
        return CliRunner().invoke(cli, ["verify", "evidence", str(path), "--consortium", consortium, *extra])

    # before the rotation: a checkpoint anchored under the old key, which consortium.json lists too
    old_private = load_witness_key(directory, OrgId("alpha"), PASSPHRASE.encode())
    old = public_bytes(old_private)
    assert old == description.member("alpha").identity.witness_public_key
    first = logged()
    before = wait_until(lambda: anchored(first), "an anchored checkpoint before the rotation", FOLLOW_TIMEOUT * 2)
    checked = verify(before, "before")
    assert checked.exit_code == 0, checked.output
    assert "(the anchor's block), of members active then" in checked.output, checked.output

    # the rotation, by the CLI: the new key on chain, alpha's witness restarted on it, the old key retired
    new_private = new_key(description.suite)
    new = public_bytes(new_private)
    ok(run(directory, passphrase_file, up.url, "member", "keys", "add", "witness-key", "--hex", new.hex(),
           "--as", "alpha"))  # fmt: skip
    paths = OrgPaths.of(directory, OrgId("alpha"))
    paths.witness_key.write_bytes(_encrypt_log_key(new_private, PASSPHRASE.encode()))
    paths.witness_pub.write_text(new.hex() + "\n")
    os.kill(_running_pid(["witness", "serve", str(directory), "--org", "alpha"]), signal.SIGKILL)  # `up` restarts it
    index = trust.find("alpha", KeyKind.WITNESS_KEY, old)
    assert index is not None
    ok(run(directory, passphrase_file, up.url, "member", "keys", "retire", str(index), "--as", "alpha"))
    retired = trust.records("alpha")[index].valid_until
    assert retired is not None

    # a later checkpoint, anchored after the old key's end, that alpha cosigned with its new key
    deadline = time.monotonic() + FOLLOW_TIMEOUT * 4
    while True:  # an event logged while alpha's witness restarts may be in a checkpoint it did not cosign: the next
        later = logged()
        after = wait_until(partial(anchored, later), "an anchored checkpoint after the rotation", FOLLOW_TIMEOUT * 2)
        if after["anchor"]["block"]["number"] >= retired and _cosigned_by(after["checkpoint"]["note"], alpha_name, new):
            break
        assert time.monotonic() < deadline, f"no checkpoint cosigned by alpha's new key: {after['checkpoint']}"
    block = after["anchor"]["block"]["number"]
    checked = verify(after, "after")
    assert checked.exit_code == 0, checked.output
    cosignatures = next(line for line in checked.output.splitlines() if line.startswith("✓ cosignatures — "))
    assert "alpha" in cosignatures.split("(policy")[0], cosignatures
    assert f"witness keys valid on chain at block {block} (the anchor's block)" in cosignatures, cosignatures

    # the same checkpoint with alpha's cosignature made by its old key, and no other witness's but the regulator's
    note = parse_note(after["checkpoint"]["note"].encode())
    regulator = witness_name(description, "reg")
    kept = [s for s in note.signatures if s.name in (log_origin(description), regulator)]
    assert isinstance(old_private, Ed25519PrivateKey)  # the suite of this consortium: intl
    stale = CosignatureSigner(alpha_name, old_private).cosign(note.text, int(time.time()))
    forged = {**after, "checkpoint": {**after["checkpoint"], "cosigners": ["alpha", "reg"]}}
    forged["checkpoint"]["note"] = Note(note.text, (*kept, stale)).to_bytes().decode()
    refused = verify(forged, "stale")
    assert refused.exit_code == 1, refused.output
    assert "✗ cosignatures — cosigned by reg: the policy needs 2 of" in refused.output, refused.output
    assert f"counted under the witness keys valid on chain at block {block}" in refused.output
    trusting = verify(forged, "stale-offline", "--offline")
    assert trusting.exit_code == 0, trusting.output
    assert "cosigned by alpha, reg" in trusting.output
    assert "witness keys of consortium.json, trusted because the file says so (offline)" in trusting.output

    # the checkpoint from before the rotation still verifies: the old key was valid at its anchor's block
    assert verify(before, "before-again").exit_code == 0

    # the explorer `up` runs hands the browser the keys valid for that checkpoint: alpha's new one only
    ok(run(directory, passphrase_file, up.url, "user", "add", str(directory), "--org", "alpha", "--name",
           "rotation-check", "--role", "compliance"))  # fmt: skip
    token = ok(run(directory, passphrase_file, up.url, "user", "token", str(directory), "--org", "alpha", "--name",
                   "rotation-check")).strip()  # fmt: skip
    keys = httpx.get(f"http://127.0.0.1:{up.port + 60}/api/v1/keys", params={"size": after["checkpoint"]["size"]},
                     headers={"Authorization": f"Bearer {token}"}, timeout=30).json()  # fmt: skip
    assert keys["witness_keys"]["source"] == "chain" and keys["witness_keys"]["block"] == block, keys
    alpha_keys = [w["vkey"] for w in keys["witnesses"] if w["org"] == "alpha"]
    assert alpha_keys == [witness_vkey(description, "alpha", new)], keys
