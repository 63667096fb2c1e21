"""``python -m bench.evidence_cpu``: the CPU time of one ``GET /v1/evidence/{event_id}`` through the notary's app.

The machine the benchmarks run on is shared and loaded, so latencies over HTTP move with the other work; the CPU
time this process spends per request does much less. Here everything is in this process: a consortium node
(``tests.support.consortium.NodeBackend``, sealing every 10 ms) with the test contracts, three witnesses on
loopback (``tests.support.notary_world.LogWorld``), and a notary (not started: no background loop) holding
``--events`` events in one batch, a published checkpoint and its confirmed anchor. Requests go straight into the
ASGI app (``notary.api.create_app``, open reads), one at a time, no HTTP client nor socket: the figure is the
framework's and the route's work. Each figure is this process's ``time.process_time()`` over ``--requests``
requests (events taken in turn), the best of ``--rounds``; the idle threads (the node's sealing loop, the witness
servers) add a little, measured apart (``idle_cpu_ms_per_s``).

Figures: the evidence route as it answers (the bundle checked against ``Evidence`` and written in the route's
thread, ``notary.answer.ModelAnswer``); the same route with the bundle's dict handed to FastAPI to validate
against its ``response_model`` (a second worker-thread hop, as before ``ModelAnswer``), the two taking turns
round by round; ``/healthz`` (the framework's floor with a small answer); the bundle built alone
(``NotaryService.evidence``) and with its ``to_json``. Printed as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chain.tx import Signer
from notary.api import create_app, reads
from notary.sequencer import encode_batch, sign_batch_body
from notary.service import AnchorSettings
from tests.support.consortium import Keys, NodeBackend, deploy_test_consortium
from tests.support.notary_events import event
from tests.support.notary_world import GATEWAY, LogWorld
from tests.support.wait import wait_until

Asgi = Callable[..., Any]


async def _get(app: Asgi, path: str) -> int:
    """One GET of ``path`` through the ASGI app; its status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("bench", 80),
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def cpu_ms(app: Asgi, paths: list[str]) -> float:
    """This process's CPU time per request over ``paths``, in ms."""

    async def run() -> float:
        start = time.process_time()
        for path in paths:
            if await _get(app, path) != 200:
                raise RuntimeError(f"{path} did not answer 200")
        return (time.process_time() - start) * 1000 / len(paths)

    return asyncio.run(run())


def best(rounds: int, measure: Callable[[], float]) -> float:
    return round(min(measure() for _ in range(rounds)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=64)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    keys = Keys.create()
    node = NodeBackend(keys.deployer)
    with tempfile.TemporaryDirectory(prefix="bench-evidence-cpu-") as tmp:
        world = LogWorld(Path(tmp))
        try:
            consortium = deploy_test_consortium(node, keys)
            service = world.notary(AnchorSettings(consortium.anchors, Signer(consortium.deployer.account), interval=0))
            try:
                now = int(time.time() * 1000)
                batch = [event(event_id=f"ev-{i}", gateway_seq=i, time_ms=now) for i in range(1, args.events + 1)]
                body = encode_batch(GATEWAY, batch)
                service.sequencer.submit(GATEWAY, body, sign_batch_body(world.gateway_key, body))
                assert service.checkpointer.round() is not None and service.anchorer is not None
                service.anchorer.step(force=True)
                wait_until(lambda: service.store.anchors(state="confirmed"), "the anchor to be confirmed", 60)
                figures = measure(create_app(service), service, args)
            finally:
                service.stop()
        finally:
            world.close()
            node.close()
    print(json.dumps(figures, indent=1))


def measure(app: Asgi, service: Any, args: argparse.Namespace) -> dict[str, Any]:
    ids = [f"ev-{1 + i % args.events}" for i in range(args.requests)]
    paths = [f"/v1/evidence/{i}" for i in ids]
    cpu_ms(app, paths[:50])  # warm: the anchor part read from the chain once, caches filled
    answered, as_dict = [], []
    for _ in range(args.rounds):
        answered.append(cpu_ms(app, paths))
        reads.EVIDENCE, kept = (lambda bundle: bundle), reads.EVIDENCE  # type: ignore[assignment]
        try:
            as_dict.append(cpu_ms(app, paths))
        finally:
            reads.EVIDENCE = kept
    idle = time.process_time()
    time.sleep(1.0)
    idle_ms = (time.process_time() - idle) * 1000

    def build() -> float:
        start = time.process_time()
        for event_id in ids:
            service.evidence(event_id)
        return (time.process_time() - start) * 1000 / len(ids)

    def build_json() -> float:
        start = time.process_time()
        for event_id in ids:
            service.evidence(event_id).to_json()
        return (time.process_time() - start) * 1000 / len(ids)

    return {
        "cpu_ms_per_request": {
            "evidence": round(min(answered), 3),
            "evidence_dict_validated_by_fastapi": round(min(as_dict), 3),
            "healthz": best(args.rounds, lambda: cpu_ms(app, ["/healthz"] * args.requests)),
            "bundle_built": best(args.rounds, build),
            "bundle_built_and_to_json": best(args.rounds, build_json),
        },
        "idle_cpu_ms_per_s": round(idle_ms, 1),
        "requests": args.requests,
        "rounds": args.rounds,
        "events": args.events,
    }


if __name__ == "__main__":
    main()
