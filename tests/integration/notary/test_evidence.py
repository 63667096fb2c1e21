"""Evidence bundles and ``consortium verify`` against a real consortium: ``init_consortium`` writes the keys and
``consortium.json``, the consortium's node runs as a child process, each member's witness serves on loopback,
and the notary (built from the consortium directory by ``network.logsetup``) serves its API with uvicorn.

A bundle is fetched at each stage of an event's life (sequenced, published, anchored) and checked by
``consortium verify evidence`` as a user runs it; ``consortium verify log`` mirrors the live log, and a small
HTTP server in front of the notary serves one tampered tile to show the verifier names it. The evidence is
also built on anvil, whose blocks carry no seals, and on the in-process node of ``tests/conftest.py``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from chain.ids import OrgId, Role
from chain.tx import Signer
from cli.main import cli as consortium_cli
from cli.up import notary_server_tls
from cli.verify import verify
from network.certificates import ca_bundle_pem
from network.config import parse_config
from network.consortium import init_consortium
from network.description import ConsortiumDescription
from network.identity import (
    create_org_identity,
    issue_identity,
    issue_server_certificate,
    load_gateway_key,
    load_user_key,
    load_witness_key,
)
from network.localchain import LocalChain, free_port, start_node
from network.logins import make_token
from network.logsetup import (
    log_origin,
    log_verifier,
    notary_client_tls,
    notary_member,
    notary_settings,
    notary_tls,
    read_access,
    roots_from_description,
    witness_name,
    witness_orgs,
)
from network.supervisor import start_notary
from notary.api import create_app
from notary.log.tiles import entries_path, tile_path
from notary.sequencer import batch_request, encode_batch, sign_batch_body
from notary.service import AnchorSettings, NotaryService
from notary.verify import STEP_NAMES, TrustRoots, verify_evidence_json
from notary.witness.server import WitnessConfig, WitnessServer, make_server
from notary.witness.state import init_witness
from tests.support.apiserver import ApiServer
from tests.support.consortium import Consortium, NodeBackend
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, ORIGIN, LogWorld
from tests.support.servers import LocalHTTPServer, QuietHandler
from tests.support.small_consortium import three_member_config
from tests.support.wait import wait_until

PASSPHRASE = b"evidence-test-passphrase-0815"
CHAIN_ID = 20262
GATEWAY_ORG = "alpha"
LEDGER_GATEWAY = f"{GATEWAY_ORG}/gw-1"
DEADLINE = 30.0
COMMAND_TIMEOUT = 120.0
_SCRIPT = Path(sys.executable).with_name("consortium")
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "cli.main"]

CONFIG = three_member_config("evidence-test", CHAIN_ID)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
    return subprocess.run(
        [*CLI, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**env, "PYTHONUNBUFFERED": "1"},
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def shown(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def marks(output: str) -> dict[str, str]:
    """Step name → its mark (✓ ✗ -) from the lines ``<mark> <name> — <detail>``."""
    found = {}
    for line in output.splitlines():
        head, sep, _ = line.partition(" — ")
        if sep and head[:1] in "✓✗-":
            found[head[2:]] = head[:1]
    return found


@dataclass
class Ledger:
    directory: Path
    description: ConsortiumDescription
    chain: LocalChain
    witnesses: list[tuple[WitnessServer, threading.Thread]]
    service: NotaryService
    api: ApiServer
    next_seq: int = 1

    @property
    def consortium_file(self) -> Path:
        return self.directory / "consortium.json"

    def submit(self, count: int) -> list[str]:
        now = int(time.time() * 1000)
        first = self.next_seq
        events = [
            event(
                event_id=f"call-{first + i}",
                gateway_id=LEDGER_GATEWAY,
                gateway_seq=first + i,
                provider_org=GATEWAY_ORG,
                caller_org="op",
                time_ms=now,
            )
            for i in range(count)
        ]
        self.next_seq += count
        key = load_gateway_key(self.directory, OrgId(GATEWAY_ORG), PASSPHRASE)
        body, headers = batch_request(LEDGER_GATEWAY, events, key)
        response = httpx.post(f"{self.api.url}/v1/batches", content=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return [e["event_id"] for e in events]

    def publish(self) -> int:
        row = self.service.checkpointer.round()
        assert row is not None, "the witnesses did not cosign"
        return row.size

    def anchor(self, size: int) -> None:
        anchorer = self.service.anchorer
        assert anchorer is not None

        def confirmed() -> bool:
            anchorer.step(force=True)
            return any(a["size"] == size and a["state"] == "confirmed" for a in self.service.store.anchors())

        wait_until(confirmed, f"the anchor of size {size} to be confirmed", DEADLINE)

    def evidence(self, event_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.api.url}/v1/evidence/{event_id}", timeout=30)
        assert response.status_code == 200, response.text
        bundle: dict[str, Any] = response.json()
        return bundle

    def close(self) -> None:
        self.api.stop()
        self.service.stop()
        for server, thread in self.witnesses:
            server.shutdown()
            server.server_close()
            thread.join(5)
        self.chain.stop()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    directory = tmp_path_factory.mktemp("evidence") / "consortium"
    description = init_consortium(directory, parse_config(CONFIG), PASSPHRASE)
    chain = start_node(directory, CHAIN_ID, PASSPHRASE, block_time=0.05)
    witnesses = []
    urls = {}
    origin = log_origin(description)
    try:
        for org in witness_orgs(description):
            state = directory / "witnesses" / org / "witness.db"
            init_witness(state, origin)
            config = WitnessConfig(
                name=witness_name(description, org),
                private_key=load_witness_key(directory, OrgId(org), PASSPHRASE),
                state_path=state,
                logs={origin: [log_verifier(description)]},
            )
            server = make_server(config, "127.0.0.1", 0)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            witnesses.append((server, thread))
            urls[org] = f"http://127.0.0.1:{server.server_address[1]}"
        settings = notary_settings(directory, description, PASSPHRASE, urls, chain_url=chain.url, anchor_interval=0)
        service = NotaryService(settings)
        api = ApiServer(create_app(service))
    except BaseException:
        for server, _ in witnesses:
            server.shutdown()
            server.server_close()
        chain.stop()
        raise
    world = Ledger(directory, description, chain, witnesses, service, api)
    yield world
    world.close()


def verify_file(ledger: Ledger, bundle: dict[str, Any], path: Path) -> subprocess.CompletedProcess[str]:
    path.write_text(json.dumps(bundle, indent=1), encoding="utf-8")
    return run_cli(
        "verify", "evidence", str(path), "--consortium", str(ledger.consortium_file), "--chain-url", ledger.chain.url
    )


# -- the life of one event, verified at each stage --------------------------------------------------------------


def test_evidence_at_each_stage_verifies_with_the_consortium_file(ledger: Ledger, tmp_path: Path) -> None:
    ids = ledger.submit(260)
    target = ids[10]

    sequenced = ledger.evidence(target)
    assert sequenced["checkpoint"] is None and sequenced["anchor"] is None
    assert [p["part"] for p in sequenced["pending"]] == ["checkpoint", "anchor"]
    r = verify_file(ledger, sequenced, tmp_path / "sequenced.json")
    assert r.returncode == 0, shown(r)
    assert marks(r.stdout) == {**dict.fromkeys(STEP_NAMES, "-"), "entry": "✓", "leaf hash": "✓", "receipt": "✓"}

    size = ledger.publish()
    assert size == 260
    published = ledger.evidence(target)
    assert published["checkpoint"]["size"] == 260 and published["anchor"] is None
    r = verify_file(ledger, published, tmp_path / "published.json")
    assert r.returncode == 0, shown(r)
    assert [marks(r.stdout)[n] for n in STEP_NAMES] == ["✓"] * 6 + ["-"] * 5
    assert "anchored yet" in r.stdout
    # not anchored: its cosignatures count under the witness keys valid on chain now
    assert "counted under the witness keys valid on chain at block " in r.stdout
    assert "(the head: the checkpoint is not anchored), of members active then" in r.stdout
    # the directory's records proven at the head, walked from the founders (and that header kept for the next run)
    head = re.search(r"valid on chain at block (\d+) \(the head", r.stdout)
    assert head is not None, r.stdout
    assert f"the records proven in the state of block {head.group(1)} and the statuses in block" in r.stdout

    ledger.anchor(260)
    anchored = ledger.evidence(target)
    assert anchored["pending"] == [] and anchored["anchor"]["size"] == 260
    assert anchored["anchor"]["seals"]["seals"] == 1
    r = verify_file(ledger, anchored, tmp_path / "anchored.json")
    assert r.returncode == 0, shown(r)
    assert marks(r.stdout) == dict.fromkeys(STEP_NAMES, "✓"), shown(r)
    assert "sealed by 1 of 1 validators" in r.stdout
    assert "cosigned by alpha, op, reg" in r.stdout
    anchor_block = anchored["anchor"]["block"]["number"]
    # the seals count under the set that sealed the block, proven from the founders (here from the header the run
    # before kept beside consortium.json, the head then) through the node, and so are the keys, in the state of the
    # head now and of the anchor's block; the next run resumes from the header this one kept
    proven = f"counted under the set block {anchor_block - 1} names, block {anchor_block} proven from the"
    assert f"{proven} header of block {head.group(1)} kept before through the node" in r.stdout, r.stdout
    assert f"the statuses in block {anchor_block}'s" in r.stdout, r.stdout
    r = verify_file(ledger, anchored, tmp_path / "anchored.json")
    assert r.returncode == 0, shown(r)
    assert marks(r.stdout) == dict.fromkeys(STEP_NAMES, "✓") and f"{proven} " in r.stdout, r.stdout
    assert f"witness keys valid on chain at block {anchor_block} (the anchor's block)" in r.stdout, r.stdout


def test_the_smallest_anchored_checkpoint_covering_the_event_is_chosen(ledger: Ledger) -> None:
    if ledger.service.store.latest_checkpoint(published=True) is None:
        ledger.submit(260)
        ledger.anchor(ledger.publish())
    first = ledger.service.store.latest_checkpoint(published=True)
    assert first is not None
    ids = ledger.submit(40)
    ledger.anchor(ledger.publish())
    early, late = ledger.evidence("call-1"), ledger.evidence(ids[-1])
    assert early["checkpoint"]["size"] == first.size  # not the newer, larger one
    assert late["checkpoint"]["size"] == first.size + 40
    roots = roots_from_description(ledger.description)
    for bundle in (early, late):
        steps = verify_evidence_json(bundle, roots)
        assert all(s.ok for s in steps), [s.to_text() for s in steps]


def test_a_tampered_bundle_fails_the_command(ledger: Ledger, tmp_path: Path) -> None:
    if not ledger.service.store.anchors(state="confirmed"):
        ledger.submit(5)
        ledger.anchor(ledger.publish())
    bundle = ledger.evidence("call-3")
    proof = bundle["inclusion"]["proof"]
    raw = bytearray(base64.b64decode(proof[0]))
    raw[0] ^= 0x80
    proof[0] = base64.b64encode(bytes(raw)).decode()
    r = verify_file(ledger, bundle, tmp_path / "tampered.json")
    assert r.returncode == 1, shown(r)
    assert marks(r.stdout)["inclusion"] == "✗"
    assert [n for n, m in marks(r.stdout).items() if m != "✓"] == ["inclusion"]
    assert "does NOT verify: inclusion" in r.stderr


def test_seals_count_only_from_the_validators_given(ledger: Ledger, tmp_path: Path) -> None:
    roots = roots_from_description(ledger.description)
    assert roots.validators == (ledger.description.member("op").identity.account,)
    if not ledger.service.store.anchors(state="confirmed"):
        ledger.submit(5)
        ledger.anchor(ledger.publish())
    alpha = ledger.description.member("alpha").identity.account
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(ledger.evidence("call-4")), encoding="utf-8")
    r = run_cli("verify", "evidence", str(path), "--consortium", str(ledger.consortium_file), "--validator", alpha,
                "--chain-url", ledger.chain.url)  # fmt: skip
    assert r.returncode == 1, shown(r)
    assert [n for n, m in marks(r.stdout).items() if m != "✓"] == ["seals"]
    assert "0 valid seal(s)" in r.stdout


def test_an_unknown_event_is_404(ledger: Ledger) -> None:
    response = httpx.get(f"{ledger.api.url}/v1/evidence/no-such-event", timeout=10)
    assert response.status_code == 404
    assert "no-such-event" in response.json()["error"]


def test_verify_evidence_offline_needs_no_network(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--offline``: every step from the bundle and consortium.json alone, the witnesses the file's, said so."""
    if not ledger.service.store.anchors(state="confirmed"):
        ledger.submit(5)
        ledger.anchor(ledger.publish())
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(ledger.evidence("call-2")), encoding="utf-8")

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("verify evidence opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    result = CliRunner().invoke(
        verify, ["evidence", str(path), "--consortium", str(ledger.consortium_file), "--offline"]
    )
    assert result.exit_code == 0, result.output
    assert marks(result.output) == dict.fromkeys(STEP_NAMES, "✓")
    assert "counted under the witness keys of consortium.json, trusted because the file says so" in result.output
    # without --offline it reads the chain: here none answers, and it says so and what to do (exit 2)
    unread = CliRunner().invoke(verify, ["evidence", str(path), "--consortium", str(ledger.consortium_file)])
    assert unread.exit_code == 2, unread.output
    assert "cannot read the chain at http://127.0.0.1:" in unread.output, unread.output


# -- verify log ----------------------------------------------------------------------------------------------


def test_verify_log_of_the_live_notary(ledger: Ledger) -> None:
    if ledger.service.store.latest_checkpoint(published=True) is None:
        ledger.submit(300)
        ledger.anchor(ledger.publish())
    size = ledger.service.store.latest_checkpoint(published=True).size  # type: ignore[union-attr]
    r = run_cli(
        "verify", "log", ledger.api.url, "--consortium", str(ledger.consortium_file), "--chain-url", ledger.chain.url
    )
    assert r.returncode == 0, shown(r)
    assert f"✓ checkpoint — size {size}" in r.stdout
    assert "✓ anchors — " in r.stdout and "0 anchor(s)" not in r.stdout
    # an intl log: nothing on chain checks its Ed25519 key, and the command says so rather than claim a check
    assert "- anchor signatures — not applicable: an intl log's Ed25519 key has no on-chain check" in r.stdout
    assert f"verified: {size} entries" in r.stdout
    assert r.stderr == ""  # the progress bar shows on a terminal only


def test_verify_log_of_a_notary_that_authenticates_reads_takes_a_regulators_token(ledger: Ledger) -> None:
    """The regulator's token reads every entry; a member's checks the log by hash only, its own events by id;
    an outsider is refused with nothing verified; a tampered hash tile is caught by hash only too."""
    own = ledger.submit(5)
    size = ledger.publish()
    if size % 256 == 0:  # the tampered tile below is the partial level-0 tile at the checkpoint's size
        own += ledger.submit(1)
        size = ledger.publish()
    people = {"ivy": ("reg", "regulator"), "amy": ("alpha", "compliance")}
    tokens = {}
    for name, (org, role) in people.items():
        roles = ledger.description.member(org).roles
        msp = issue_identity(ledger.directory, OrgId(org), name, PASSPHRASE, role=role, org_roles=roles)
        key = load_user_key(ledger.directory, OrgId(org), name, PASSPHRASE)
        tokens[name] = make_token((msp / "signcerts" / "cert.pem").read_bytes(), key)
    api = ApiServer(create_app(ledger.service, read_access(ledger.directory, ledger.description)))
    try:
        command = ("verify", "log", api.url, "--consortium", str(ledger.consortium_file), "--no-chain")
        r = run_cli(*command, "--token", tokens["ivy"], "--require-entries")
        assert r.returncode == 0, shown(r)
        assert f"✓ entries — {size} entries" in r.stdout, shown(r)
        assert f"verified: {size} entries" in r.stdout and f"{size} entries checked" in r.stdout, shown(r)
        runner = CliRunner()
        env = {"CONSORTIUM_TOKEN": None}

        member = [*command[1:], "--token", tokens["amy"]]  # alpha, the provider of every call logged here
        r2 = runner.invoke(verify, [*member, "--event", own[0], "--event", own[-1]], env=env)
        assert r2.exit_code == 0, r2.output
        assert "- entries — NOT checked: not readable with this credential (HTTP 403" in r2.output
        assert f"✓ leaves — {size} leaf hashes" in r2.output
        assert f"✓ root — root at size {size} recomputed from the leaf hashes" in r2.output
        assert "✓ events — 2 of your entries read by id" in r2.output
        verdict = r2.output.splitlines()[-1]
        assert f"verified BY HASH ONLY: tree of size {size}: root matches the checkpoint" in verdict
        assert f"2 entries checked (your events), {size} leaves checked by hash only" in verdict
        assert "cosigned by 2/3 witnesses" in verdict or "cosigned by 3/3 witnesses" in verdict, verdict

        listed = runner.invoke(verify, ["events", api.url, "--token", tokens["amy"], "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        alphas = [e["event_id"] for e in json.loads(listed.stdout)]
        assert own[0] in alphas and own[-1] in alphas and len(alphas) == ledger.service.sequencer.size
        regulator = runner.invoke(verify, ["events", api.url, "--token", tokens["ivy"], "--org", "op"], env=env)
        assert regulator.exit_code == 0, regulator.output  # op is the caller of every call logged here
        assert f"{len(alphas)} event(s)" in regulator.output
        nosy = runner.invoke(verify, ["events", api.url, "--token", tokens["amy"], "--org", "op"], env=env)
        assert nosy.exit_code == 2, nosy.output
        assert "HTTP 403" in nosy.output and "lists the events of its own org (alpha), not of op" in nosy.output
        outsider_list = runner.invoke(verify, ["events", api.url], env=env)
        assert outsider_list.exit_code == 2 and "HTTP 401" in outsider_list.output
        mine = runner.invoke(verify, [*member, "--mine", "--hashes-only", "--no-state"], env=env)
        assert mine.exit_code == 0, mine.output
        in_tree = sum(1 for e in json.loads(listed.stdout) if e["index"] < size)
        assert f"✓ events — {in_tree} of your entries read by id" in mine.output

        required = runner.invoke(verify, [*member, "--require-entries"], env=env)
        assert required.exit_code == 1, required.output
        assert required.output.startswith(f"✗ {entries_path(0, min(size, 256))} — refused (HTTP 403")
        assert "drop --require-entries" in required.output

        outsider = runner.invoke(verify, list(command[1:]), env=env)
        assert outsider.exit_code == 2, outsider.output
        assert "refuses this credential the log, nothing was verified: HTTP 401 for checkpoint" in outsider.output
        assert "✓" not in outsider.output

        proxy = TamperingProxy(api.url, tile_path(0, size // 256, size % 256), 32 * (size % 256 - 1))
        try:
            tampered = runner.invoke(verify, ["log", proxy.url, *member[2:]], env=env)
        finally:
            proxy.close()
        assert proxy.served_tampered
        assert tampered.exit_code == 1, tampered.output
        assert f"✗ size {size} — the leaf hashes of the level-0 tiles give root" in tampered.output
    finally:
        api.stop()


def test_members_verify_the_log_with_signed_reads(ledger: Ledger, tmp_path: Path) -> None:
    """`verify log --as ORG` signs every read with ORG's gateway key, found beside consortium.json, as ORG/verify: a
    member checks the log by hash only and its own events by id, the regulator reads every entry, `verify events`
    lists the member's own; a key the consortium does not hold for the org it names is refused in one line that
    names the reader, with nothing verified and no state file written; the passphrase given to ``consortium``
    opens the key as the command's own ``--passphrase-file`` does."""
    own = ledger.submit(2)
    size = ledger.publish()
    passphrase = tmp_path / "passphrase"
    passphrase.write_bytes(PASSPHRASE)
    api = ApiServer(create_app(ledger.service, read_access(ledger.directory, ledger.description)))
    try:
        runner = CliRunner()
        env = {"CONSORTIUM_TOKEN": None, "CONSORTIUM_PASSPHRASE": None}
        key = ["--passphrase-file", str(passphrase)]
        command = ["log", api.url, "--consortium", str(ledger.consortium_file), "--no-chain"]
        state = tmp_path / "alpha-state.json"
        member = runner.invoke(
            verify, [*command, "--as", "alpha", *key, "--event", own[-1], "--state", str(state)], env=env
        )
        assert member.exit_code == 0, member.output
        assert "- entries — NOT checked: not readable with this credential (HTTP 403" in member.output
        assert f"✓ leaves — {size} leaf hashes" in member.output
        assert "✓ events — 1 of your entries read by id" in member.output
        assert f"verified BY HASH ONLY: tree of size {size}" in member.output
        assert state.is_file()

        regulator = runner.invoke(verify, [*command, "--no-state", "--as", "reg", *key, "--require-entries"], env=env)
        assert regulator.exit_code == 0, regulator.output
        assert f"✓ entries — {size} entries" in regulator.output
        # the passphrase given to consortium itself opens --as's key, as it opens every command's keys
        root = ["--passphrase-file", str(passphrase), "verify", *command, "--no-state", "--as", "reg"]
        rooted = runner.invoke(consortium_cli, root, env=env)
        assert rooted.exit_code == 0, rooted.output
        assert f"✓ entries — {size} entries" in rooted.output

        events = ["events", api.url, "--consortium", str(ledger.consortium_file), "--as", "alpha", *key]
        listed = runner.invoke(verify, [*events, "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        assert {e["provider_org"] for e in json.loads(listed.stdout)} == {"alpha"}
        assert own[-1] in [e["event_id"] for e in json.loads(listed.stdout)]
        nosy = runner.invoke(verify, [*events, "--org", "op"], env=env)
        assert nosy.exit_code == 2, nosy.output
        assert nosy.output.strip().splitlines() == [
            "error: the notary refuses alpha/verify (reads signed with the gateway key of alpha) the listing: HTTP "
            "403 for v1/events?from=0&org=op: alpha/verify lists the events of its own org (alpha), not of op"
        ]

        both = runner.invoke(verify, [*command, "--no-state", "--as", "alpha", *key, "--token", "t"], env=env)
        assert both.exit_code == 2 and "--as and --token are two identities" in both.output

        # an outsider: an org of its own beside a copy of consortium.json, and a key that claims to be alpha's
        outside = tmp_path / "outsider"
        outside.mkdir()
        shutil.copy(ledger.consortium_file, outside / "consortium.json")
        create_org_identity(outside, OrgId("eve"), "Eve Data", PASSPHRASE)
        create_org_identity(outside, OrgId("alpha"), "Alpha, forged", PASSPHRASE)
        stolen_state = outside / "state.json"
        refusals = {
            "eve": "reader 'eve/verify': org 'eve' has no gateway key in the consortium",
            "alpha": "Consortium-Read-Signature does not verify with the key of 'alpha/verify'",
        }
        for org, why in refusals.items():
            refused = runner.invoke(
                verify,
                ["log", api.url, "--consortium", str(outside / "consortium.json"), "--no-chain", "--as", org, *key,
                 "--state", str(stolen_state)],
                env=env,
            )  # fmt: skip
            assert refused.exit_code == 2, refused.output
            lines = refused.output.strip().splitlines()
            assert len(lines) == 1, refused.output
            assert lines[0].startswith(
                f"error: the notary refuses {org}/verify (reads signed with the gateway key of {org}) the log, nothing "
                f"was verified: HTTP 401 for checkpoint: {why}"
            ), lines[0]
            assert f"(--as {org} signs with the gateway key in orgs/{org} beside consortium.json" in lines[0]
        assert sorted(p.name for p in outside.iterdir()) == ["consortium.json", "orgs"]  # no state written
        assert not stolen_state.exists()
    finally:
        api.stop()


def test_members_verify_the_log_with_their_client_certificates(ledger: Ledger, tmp_path: Path) -> None:
    """A notary served over HTTPS takes a member's client certificate (mutual TLS) as it takes a login token: a
    member's checks the log by hash only and lists its own events; the regulator's reads every entry; a
    certificate of no member CA fails the handshake; none at all is 401."""
    own = ledger.submit(2)
    size = ledger.publish()
    notary_org = notary_member(ledger.description).org
    server_cert, server_key = issue_server_certificate(ledger.directory, OrgId(notary_org), PASSPHRASE)
    context = notary_tls(ledger.directory, ledger.description, server_cert, server_key, PASSPHRASE)
    certs = {}
    for name, (org, role) in {"cat": ("alpha", "compliance"), "reg-ivy": ("reg", "regulator")}.items():
        roles = ledger.description.member(org).roles
        msp = issue_identity(ledger.directory, OrgId(org), name, PASSPHRASE, role=role, org_roles=roles)
        certs[name] = [
            "--cert", str(msp / "signcerts" / "cert.pem"), "--key", str(msp / "keystore" / "key.pem"),
        ]  # fmt: skip
    passphrase = tmp_path / "passphrase"
    passphrase.write_bytes(PASSPHRASE)
    api = ApiServer(create_app(ledger.service, read_access(ledger.directory, ledger.description)), ssl_context=context)
    try:
        assert api.url.startswith("https://")
        runner = CliRunner()
        env = {"CONSORTIUM_TOKEN": None, "CONSORTIUM_PASSPHRASE": None}
        command = ["log", api.url, "--consortium", str(ledger.consortium_file), "--no-chain", "--no-state"]
        key = ["--passphrase-file", str(passphrase)]
        member = runner.invoke(verify, [*command, *certs["cat"], *key, "--event", own[-1]], env=env)
        assert member.exit_code == 0, member.output
        assert "- entries — NOT checked: not readable with this credential (HTTP 403" in member.output
        assert f"verified BY HASH ONLY: tree of size {size}" in member.output
        assert "✓ events — 1 of your entries read by id" in member.output

        regulator = runner.invoke(verify, [*command, *certs["reg-ivy"], *key, "--require-entries"], env=env)
        assert regulator.exit_code == 0, regulator.output
        assert f"✓ entries — {size} entries" in regulator.output

        listed = runner.invoke(
            verify,
            ["events", api.url, "--consortium", str(ledger.consortium_file), *certs["cat"], *key, "--json"],
            env=env,
        )
        assert listed.exit_code == 0, listed.output
        assert {e["provider_org"] for e in json.loads(listed.stdout)} == {"alpha"}
        assert own[-1] in [e["event_id"] for e in json.loads(listed.stdout)]

        anonymous = runner.invoke(verify, command, env=env)
        assert anonymous.exit_code == 2, anonymous.output
        assert "HTTP 401 for checkpoint" in anonymous.output and "--cert and --key over https" in anonymous.output

        stranger_root = tmp_path / "stranger"
        create_org_identity(stranger_root, OrgId("alpha"), "Alpha, forged", PASSPHRASE)  # a CA of no member
        stranger = issue_identity(stranger_root, OrgId("alpha"), "eve", PASSPHRASE)
        stranger_cert = [
            "--cert",
            str(stranger / "signcerts" / "cert.pem"),
            "--key",
            str(stranger / "keystore" / "key.pem"),
        ]
        forged = runner.invoke(verify, [*command, *stranger_cert, *key], env=env)
        assert forged.exit_code == 2, forged.output
        assert "refuses this credential the log, nothing was verified: " in forged.output, forged.output
        assert "client certificate no member CA issued" in forged.output or "UNKNOWN_CA" in forged.output
        assert "✓" not in forged.output

        plain = runner.invoke(verify, [*command[:1], ledger.api.url, *command[2:], *certs["cat"], *key], env=env)
        assert plain.exit_code == 2 and "--cert, --key and --ca are for an https URL" in plain.output
    finally:
        api.stop()


def tls_refusal(port: int, context: ssl.SSLContext) -> str:
    """What the server at ``port`` answers ``GET /healthz`` over ``context``: its status line; the reason of the
    TLS alert it ends the connection with (in the handshake, or, under TLS 1.3, at the first read after it); or
    "" when it closes the connection without a word (asyncio's TLS drops a refused handshake unannounced)."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return tls.recv(4096).split(b"\r\n", 1)[0].decode("ascii", "replace")
    except ssl.SSLError as exc:
        return str(exc.reason)


def test_the_notary_of_up_notary_tls_serves_members_only(ledger: Ledger, tmp_path: Path) -> None:
    """`consortium up --notary-tls`: a `notary serve` process with the certificate `init` issued to the notary
    member, started and health-checked as `up` starts it, completes a TLS handshake only with a member's client
    certificate: none, or one of a CA that is no member's, is refused before any HTTP; a member's log@ identity
    reads its events, its server certificate checked against the consortium's CAs for 127.0.0.1."""
    own = tmp_path / "consortium"  # the directory without the running notary's, witnesses' and chain's state

    def state(where: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(where) == ledger.directory and n in {"notary", "witnesses", "chain"}]

    shutil.copytree(ledger.directory, own, ignore=state)
    operator = next(m.org for m in ledger.description.members if Role.OPERATOR in m.roles)
    cert, key, operator_tls = notary_server_tls(own, ledger.description, PASSPHRASE, operator)
    assert cert == own / "orgs" / notary_member(ledger.description).org / "notary" / "tls" / "cert.pem"
    port = free_port()
    args = ["notary", "serve", str(own), "--port", str(port), "--no-anchor", "--authenticate-reads"]
    notary = start_notary(own, args, port, PASSPHRASE, tls=(cert, key, operator_tls))
    try:
        assert notary.url == f"https://127.0.0.1:{port}"
        member_tls = notary_client_tls(own, ledger.description, "alpha", PASSPHRASE)
        with httpx.Client(verify=member_tls, timeout=10) as member:
            events = member.get(f"{notary.url}/v1/events")  # a read only an authenticated reader gets (else 401)
            assert events.status_code == 200, events.text
            assert member.get(f"{notary.url}/healthz").status_code == 200

        anonymous = ssl.create_default_context(cadata=ca_bundle_pem(ledger.description))
        with pytest.raises(httpx.TransportError), httpx.Client(verify=anonymous, timeout=10) as client:
            client.get(f"{notary.url}/healthz")  # no answer at all
        assert tls_refusal(port, anonymous) in ("", "TLSV13_ALERT_CERTIFICATE_REQUIRED")

        stranger_root = tmp_path / "stranger"
        create_org_identity(stranger_root, OrgId("alpha"), "Alpha, forged", PASSPHRASE)  # a CA of no member
        stranger = issue_identity(stranger_root, OrgId("alpha"), "eve", PASSPHRASE)
        forged = ssl.create_default_context(cadata=ca_bundle_pem(ledger.description))
        forged.load_cert_chain(stranger / "signcerts" / "cert.pem", stranger / "keystore" / "key.pem", PASSPHRASE)
        with pytest.raises(httpx.TransportError), httpx.Client(verify=forged, timeout=10) as client:
            client.get(f"{notary.url}/healthz")
        assert tls_refusal(port, forged) in ("", "TLSV1_ALERT_UNKNOWN_CA")
        assert tls_refusal(port, member_tls) == "HTTP/1.1 200 OK"
    finally:
        notary.stop()


class CheckpointProxy:
    """Serves the notary's log, but ``checkpoint`` as ``note``: a log that went back to an earlier checkpoint
    it signed (and its witnesses cosigned) and serves it again."""

    def __init__(self, upstream: str, note: bytes) -> None:
        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == "/checkpoint":
                    status, body = 200, note
                else:
                    response = httpx.get(upstream + self.path, timeout=30)
                    status, body = response.status_code, response.content
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = LocalHTTPServer(Handler)
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()


def test_verify_log_keeps_the_checkpoint_verified_and_refuses_a_log_that_went_back(
    ledger: Ledger, tmp_path: Path
) -> None:
    """First use at an earlier checkpoint, then the log grown (a consistency proof), then the earlier checkpoint
    served again (a rollback: refused, the state kept, the refused note kept); a damaged state file; --no-state."""
    ledger.submit(3)
    earlier = ledger.publish()
    ledger.submit(2)
    later = ledger.publish()
    row = ledger.service.store.checkpoint(earlier)
    assert row is not None and row.cosigned is not None
    state = tmp_path / "state" / "log.json"
    command = ["log", "--consortium", str(ledger.consortium_file), "--no-chain", "--state", str(state)]
    runner = CliRunner()
    env = {"CONSORTIUM_TOKEN": None}
    proxy = CheckpointProxy(ledger.api.url, row.cosigned)
    try:
        first = runner.invoke(verify, [command[0], proxy.url, *command[1:]], env=env)
        assert first.exit_code == 0, first.output
        assert f"- consistency — first use: no checkpoint verified before in {state}" in first.output
        assert f"checkpoint of size {earlier} kept in {state}" in first.output

        grown = runner.invoke(verify, [command[0], ledger.api.url, *command[1:]], env=env)
        assert grown.exit_code == 0, grown.output
        assert f"✓ consistency — extends the checkpoint verified before (size {earlier}, root " in grown.output
        assert "consistency proof of" in grown.output
        assert f"checkpoint of size {later} kept in {state}" in grown.output
        kept = state.read_bytes()

        back = runner.invoke(verify, [command[0], proxy.url, *command[1:]], env=env)
    finally:
        proxy.close()
    assert back.exit_code == 1, back.output
    assert f"✗ consistency — the log went back: its checkpoint (size {earlier}, root " in back.output
    assert f"  verified before: size {later}, root " in back.output and f"kept in {state})" in back.output
    assert f"  the log now:     size {earlier}, root {row.root.hex()}" in back.output
    assert "REFUSED (rollback): the state file is unchanged" in back.output
    assert state.read_bytes() == kept
    refused = [p for p in state.parent.iterdir() if p.name.startswith(f"log.json.refused-{earlier}-")]
    assert len(refused) == 1 and refused[0].read_bytes() == row.cosigned

    state.write_bytes(kept[: len(kept) // 2])
    damaged = runner.invoke(verify, [command[0], ledger.api.url, *command[1:]], env=env)
    assert damaged.exit_code == 2, damaged.output
    assert f"the state file {state} is not a checkpoint verified before: not JSON" in damaged.output
    assert "nothing was verified" in damaged.output and "✓" not in damaged.output
    assert state.read_bytes() == kept[: len(kept) // 2]

    skipped = runner.invoke(verify, [command[0], ledger.api.url, *command[1:4], "--no-state"], env=env)
    assert skipped.exit_code == 0, skipped.output
    assert "- consistency — not checked (--no-state)" in skipped.output and "kept in" not in skipped.output
    both = runner.invoke(verify, [command[0], ledger.api.url, *command[1:], "--no-state"], env=env)
    assert both.exit_code == 2 and "--state and --no-state contradict each other" in both.output


class TamperingProxy:
    """Serves the notary's log, with one path's bytes altered (the byte at ``offset`` flipped)."""

    def __init__(self, upstream: str, path: str, offset: int) -> None:
        proxy = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                passed_on = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                response = httpx.get(upstream + self.path, headers=passed_on, timeout=30)
                body = response.content
                if self.path.lstrip("/") == path and response.status_code == 200:
                    changed = bytearray(body)
                    changed[offset] ^= 0x01
                    body = bytes(changed)
                    proxy.served_tampered = True
                self.send_response(response.status_code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.served_tampered = False
        self.http = LocalHTTPServer(Handler)
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()


def test_verify_log_names_the_first_tampered_tile(ledger: Ledger) -> None:
    published = ledger.service.store.latest_checkpoint(published=True)
    if published is None or published.size < 256:  # tile 0/000 is full only from 256 leaves on
        ledger.submit(300)
        ledger.anchor(ledger.publish())
    proxy = TamperingProxy(ledger.api.url, "tile/0/000", 32 * 7 + 3)
    try:
        r = run_cli(
            "verify", "log", proxy.url, "--consortium", str(ledger.consortium_file), "--chain-url", ledger.chain.url
        )
    finally:
        proxy.close()
    assert proxy.served_tampered
    assert r.returncode == 1, shown(r)
    assert "✗ tile/0/000 — hash 7 (leaf 7)" in r.stdout, shown(r)


def test_verify_log_names_a_tampered_checkpoint(ledger: Ledger) -> None:
    if ledger.service.store.latest_checkpoint(published=True) is None:
        ledger.submit(5)
        ledger.publish()
    proxy = TamperingProxy(ledger.api.url, "checkpoint", 0)
    try:
        r = run_cli("verify", "log", proxy.url, "--consortium", str(ledger.consortium_file), "--no-chain")
    finally:
        proxy.close()
    assert r.returncode == 1, shown(r)
    assert "✗ checkpoint — " in r.stdout, shown(r)


# -- the same evidence on anvil and on the in-process node ---------------------------------------------------------


@pytest.fixture
def log_world(tmp_path: Path) -> Iterator[LogWorld]:
    world = LogWorld(tmp_path)
    yield world
    world.close()


@pytest.mark.parametrize(
    "backend", [pytest.param("anvil", marks=pytest.mark.anvil), pytest.param("node")], indirect=True
)
def test_evidence_built_through_any_chain_json_rpc(consortium: Consortium, log_world: LogWorld) -> None:
    anchor = AnchorSettings(consortium.anchors, Signer(consortium.deployer.account), interval=0)
    service = log_world.notary(anchor)
    try:
        now = int(time.time() * 1000)
        events = [event(event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in range(1, 8)]
        body = encode_batch(GATEWAY, events)
        service.sequencer.submit(GATEWAY, body, sign_batch_body(log_world.gateway_key, body))
        assert service.checkpointer.round() is not None
        assert service.anchorer is not None
        service.anchorer.step(force=True)
        wait_until(lambda: service.store.anchors(state="confirmed"), "the anchor to be confirmed", DEADLINE)
        bundle = service.evidence("ev-5").to_json()
    finally:
        service.stop()
    sealed = isinstance(consortium.backend, NodeBackend)
    roots = TrustRoots(
        log=log_world.log_verifier(),
        witnesses=log_world.cosigners(),
        policy=log_world.policy(),
        notary_account=consortium.deployer.address,
        anchor_address=consortium.anchors.address,
        chain_id=consortium.backend.chain_id,
        validators=(consortium.deployer.address,) if sealed else (),
    )
    assert bundle["origin"] == ORIGIN and bundle["pending"] == []
    steps = {s.name: s for s in verify_evidence_json(bundle, roots)}
    assert all(steps[n].ok for n in STEP_NAMES if n != "seals"), [s.to_text() for s in steps.values()]
    if sealed:
        assert steps["seals"].ok is True
    else:
        assert steps["seals"].ok is None
        assert bundle["anchor"] is not None
        assert bundle["anchor"]["seals"]["format"] is None  # the builder says the chain has no seals
