"""Failure catalogue 14: the chain unreachable → anchors wait with backoff, nothing is lost, anchoring resumes.

A real consortium (``init_consortium``) whose notary runs as ``consortium notary serve`` in its own process,
pointed at a chain URL where nothing listens yet; its witnesses serve on loopback. The notary must start and
serve — batches sequenced, checkpoints cosigned and published — with no anchor and the chain's error in
``/healthz``. Then the consortium's node starts on that very port, and the newest published checkpoint is
anchored, once. The node is then stopped and started again: the notary reconnects and anchors what was
published meanwhile. Every wait polls a condition against a deadline.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.contracts import AuditAnchorClient
from chain.ids import OrgId
from network.config import parse_config
from network.consortium import init_consortium
from network.description import ConsortiumDescription
from network.identity import load_gateway_key, load_witness_key
from network.localchain import LocalChain, free_port, port_in_use, start_node
from network.logsetup import log_origin, log_verifier, witness_name, witness_orgs
from notary.sequencer import batch_request
from notary.witness.server import WitnessConfig, WitnessServer, make_server
from notary.witness.state import init_witness
from tests.support.notary_events import event
from tests.support.small_consortium import three_member_config
from tests.support.wait import wait_until

PASSPHRASE = b"anchor-outage-test-passphrase"
CHAIN_ID = 20263
GATEWAY_ORG = "alpha"
GATEWAY = f"{GATEWAY_ORG}/gw-1"
DEADLINE = 60.0
_SCRIPT = Path(sys.executable).with_name("consortium")
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "cli.main"]

CONFIG = three_member_config("outage-test", CHAIN_ID)


@dataclass
class World:
    directory: Path
    description: ConsortiumDescription
    chain_port: int
    log: Path
    witnesses: list[tuple[WitnessServer, threading.Thread]] = field(default_factory=list)
    notary: subprocess.Popen[bytes] | None = None
    notary_url: str = ""
    chain: LocalChain | None = None
    next_seq: int = 1

    @property
    def chain_url(self) -> str:
        return f"http://127.0.0.1:{self.chain_port}"

    def start_witnesses(self) -> dict[str, str]:
        urls = {}
        origin = log_origin(self.description)
        for org in witness_orgs(self.description):
            state = self.directory / "witnesses" / org / "witness.db"
            init_witness(state, origin)
            config = WitnessConfig(
                name=witness_name(self.description, org),
                private_key=load_witness_key(self.directory, OrgId(org), PASSPHRASE),
                state_path=state,
                logs={origin: [log_verifier(self.description)]},
            )
            server = make_server(config, "127.0.0.1", 0)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self.witnesses.append((server, thread))
            urls[org] = f"http://127.0.0.1:{server.server_address[1]}"
        return urls

    def start_notary(self, witness_urls: dict[str, str]) -> None:
        port = free_port()
        args = [*CLI, "notary", "serve", str(self.directory), "--port", str(port), "--chain-url", self.chain_url]
        for org, url in witness_urls.items():
            args += ["--witness", f"{org}={url}"]
        args += ["--checkpoint-interval", "0.1", "--anchor-interval", "0.2", "--anchor-max-backoff", "1"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
        env.update({"CONSORTIUM_PASSPHRASE": PASSPHRASE.decode(), "PYTHONUNBUFFERED": "1"})
        with self.log.open("ab") as out:
            self.notary = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        self.notary_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert self.notary is not None
            if self.notary.poll() is not None:
                pytest.fail(f"the notary exited with {self.notary.returncode} while the chain is down:\n{self.tail()}")
            try:
                return httpx.get(self.notary_url + "/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, "the notary to serve /healthz", DEADLINE)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = httpx.get(self.notary_url + "/healthz", timeout=10).json()
        return health

    def get(self, path: str) -> Any:
        response = httpx.get(self.notary_url + path, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def submit(self, count: int) -> None:
        now = int(time.time() * 1000)
        first = self.next_seq
        events = [
            event(
                event_id=f"call-{first + i}",
                gateway_id=GATEWAY,
                gateway_seq=first + i,
                provider_org=GATEWAY_ORG,
                caller_org="op",
                time_ms=now,
            )
            for i in range(count)
        ]
        self.next_seq += count
        key = load_gateway_key(self.directory, OrgId(GATEWAY_ORG), PASSPHRASE)
        body, headers = batch_request(GATEWAY, events, key)
        response = httpx.post(self.notary_url + "/v1/batches", content=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text

    def anchoring(self, failing: bool) -> dict[str, Any] | None:
        """The anchoring part of /healthz if it is failing (an error shown) or not, as asked; else None."""
        state: dict[str, Any] = self.health()["anchoring"]
        return state if (state["last_error"] is not None) == failing else None

    def published(self, size: int) -> bool:
        return bool(self.health()["published_size"] == size)

    def start_chain(self) -> LocalChain:
        assert not port_in_use(self.chain_port)
        self.chain = start_node(self.directory, CHAIN_ID, PASSPHRASE, port=self.chain_port, block_time=0.05)
        return self.chain

    def stop_chain(self) -> None:
        if self.chain is not None:
            self.chain.stop()
            self.chain = None

    def close(self) -> None:
        if self.notary is not None and self.notary.poll() is None:
            self.notary.terminate()
            try:
                self.notary.wait(20)
            except subprocess.TimeoutExpired:
                self.notary.kill()
                self.notary.wait()
        self.stop_chain()
        for server, thread in self.witnesses:
            server.shutdown()
            server.server_close()
            thread.join(5)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    directory = tmp_path / "consortium"
    description = init_consortium(directory, parse_config(CONFIG), PASSPHRASE)
    chain_port = free_port()  # nothing listens here until the test starts the node
    w = World(directory, description, chain_port, tmp_path / "notary.log")
    try:
        yield w
    finally:
        w.close()


def confirmed_anchors(world: World) -> list[dict[str, Any]]:
    return [a for a in world.get("/v1/anchors")["anchors"] if a["state"] == "confirmed"]


def check_chain(world: World, sizes: list[int]) -> None:
    """The chain holds exactly one anchor per size in ``sizes`` (and no other), each with the log's root."""
    assert world.chain is not None
    client = AuditAnchorClient(world.chain.backend, world.description.contracts["AuditAnchor"])
    origin = log_origin(world.description)
    assert client.count(origin) == len(sizes)
    for size in sizes:
        info = client.at_size(origin, size)
        checkpoint = world.get(f"/v1/checkpoints/{size}")
        assert info is not None and base64.b64encode(info.root_hash).decode() == checkpoint["root"]
        assert checkpoint["anchor"]["state"] == "confirmed"


@pytest.mark.slow
def test_notary_serves_with_the_chain_down_and_anchors_once_it_is_up(world: World) -> None:
    world.start_notary(world.start_witnesses())
    try:
        # the chain is down: the notary serves, and its health names the chain's error
        anchoring = wait_until(lambda: world.anchoring(failing=True), "the anchoring error in /healthz", DEADLINE)
        assert "cannot reach the chain" in anchoring["last_error"]
        assert anchoring["connected"] is False and anchoring["failing_since_ms"] is not None
        assert anchoring["retry_at_ms"] is not None

        # sequencing, witnessing and publishing go on: two checkpoints published, none anchored
        world.submit(30)
        wait_until(lambda: world.published(30), "checkpoint 30 to be published with the chain down", DEADLINE)
        world.submit(20)
        wait_until(lambda: world.published(50), "checkpoint 50 to be published with the chain down", DEADLINE)
        published = [c["size"] for c in world.get("/v1/checkpoints")["checkpoints"]]
        assert published[-1] == 50 and len(published) >= 2
        health = world.health()
        assert health["anchored_size"] == 0 and health["anchoring"]["last_error"]
        assert set(health["witnesses"]) == {"op", "alpha", "reg"}
        assert all(w["status"] == 200 for w in health["witnesses"].values())
        assert world.get("/v1/anchors")["anchors"] == []
        evidence = world.get("/v1/evidence/call-1")
        assert evidence["checkpoint"]["size"] == 50 and evidence["anchor"] is None

        # the chain comes up on the URL the notary was given: the newest published checkpoint is anchored, once
        world.start_chain()
        wait_until(
            lambda: world.health()["anchored_size"] == 50, "checkpoint 50 to be anchored after recovery", DEADLINE
        )
        anchoring = wait_until(lambda: world.anchoring(failing=False), "the anchoring error to clear", DEADLINE)
        assert anchoring["connected"] is True and anchoring["failing_since_ms"] is None
        assert [a["size"] for a in confirmed_anchors(world)] == [50]
        check_chain(world, [50])
        assert world.get("/v1/evidence/call-1")["anchor"]["size"] == 50

        # the chain goes away again after the notary was connected, and comes back: it reconnects and resumes
        world.stop_chain()
        world.submit(10)
        wait_until(lambda: world.published(60), "checkpoint 60 to be published with the chain stopped", DEADLINE)
        wait_until(lambda: world.anchoring(failing=True), "the anchoring error after the chain stopped", DEADLINE)
        assert world.health()["anchored_size"] == 50
        world.start_chain()
        wait_until(
            lambda: world.health()["anchored_size"] == 60, "checkpoint 60 to be anchored after the restart", DEADLINE
        )
        anchors = world.get("/v1/anchors")["anchors"]
        assert [(a["size"], a["state"]) for a in anchors] == [(50, "confirmed"), (60, "confirmed")]
        check_chain(world, [50, 60])
        assert world.get("/v1/alarms")["alarms"] == []
    except BaseException:
        print(f"--- notary log\n{world.tail()}")
        raise
