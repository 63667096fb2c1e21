"""The open-loop load generator of ``make bench-e2e``, run as its own process (``python -m bench.e2e_load SPEC``) so
that its CPU time is its own and it does not share an interpreter lock with the bench that watches the consortium.

SPEC is a JSON file: ``rate`` (calls/s), ``seconds``, ``calls`` (each ``caller``, ``url``, ``purpose``),
``clients`` (caller → PEM file of its certificate and key), ``ca`` (the CA bundle), ``connections`` (per caller),
``max_inflight``, ``sample_every`` (report the event id of every n-th answered call) and ``timeout_s``.

Calls are due at fixed times, ``rate`` per second, whether or not earlier ones have been answered (open loop); a
call's latency is counted from the time it was due, so a queue in front of the gateways shows in it. A call due
while ``max_inflight`` calls are already waiting is not sent and is counted as ``shed`` (the generator, not the
consortium, is then the limit). Output, one line each: ``S <event id> <unix time answered>`` for sampled calls as
they are answered, and at the end ``R <json>`` with the counts by status and the latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from gateway.headers import EVENT_HEADER, PURPOSE_HEADER


def _percentile(ordered: list[float], q: float) -> float | None:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else None


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    rate = float(spec["rate"])
    seconds = float(spec["seconds"])
    calls = spec["calls"]
    sample_every = int(spec.get("sample_every", 0))
    max_inflight = int(spec.get("max_inflight", 4000))
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout_s", 30)))
    sessions: dict[str, aiohttp.ClientSession] = {}
    for caller, pem in spec["clients"].items():
        context = ssl.create_default_context(cafile=spec["ca"])
        context.load_cert_chain(pem)
        connector = aiohttp.TCPConnector(ssl=context, limit=int(spec.get("connections", 64)), keepalive_timeout=60)
        sessions[caller] = aiohttp.ClientSession(connector=connector, timeout=timeout)
    statuses: Counter[str] = Counter()
    with_event = 0
    latencies: list[float] = []
    inflight = 0
    shed = 0
    answered = 0
    out = sys.stdout

    async def one(call: dict[str, Any], due: float) -> None:
        nonlocal inflight, with_event, answered
        try:
            async with sessions[call["caller"]].get(call["url"], headers={PURPOSE_HEADER: call["purpose"]}) as r:
                await r.read()
                status = str(r.status)
                event_id = r.headers.get(EVENT_HEADER)
        except TimeoutError:
            status, event_id = "timeout", None
        except aiohttp.ClientError as exc:
            status, event_id = type(exc).__name__, None
        finally:
            inflight -= 1
        now = time.monotonic()
        statuses[status] += 1
        latencies.append((now - due) * 1000)
        if event_id is not None:
            with_event += 1
            if status == "200":
                answered += 1
                if sample_every and answered % sample_every == 0:
                    out.write(f"S {event_id} {time.time():.4f}\n")
                    out.flush()

    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic()
    total = int(rate * seconds)
    sent = 0
    late_ms = 0.0
    while sent < total:
        now = time.monotonic()
        due_count = min(total, int((now - start) * rate) + 1)
        while sent < due_count:
            due = start + sent / rate
            late_ms = max(late_ms, (now - due) * 1000)
            call = calls[sent % len(calls)]
            sent += 1
            if inflight >= max_inflight:
                shed += 1
                continue
            inflight += 1
            task = asyncio.create_task(one(call, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        next_due = start + sent / rate
        await asyncio.sleep(max(0.0, min(0.005, next_due - time.monotonic())))
    sending_s = time.monotonic() - start
    if tasks:
        await asyncio.wait(set(tasks))
    elapsed = time.monotonic() - start
    for session in sessions.values():
        await session.close()
    latencies.sort()
    return {
        "offered_rate": rate,
        "seconds": seconds,
        "due": total,
        "sent": total - shed,
        "shed_by_generator": shed,
        "sending_s": round(sending_s, 3),
        "elapsed_s": round(elapsed, 3),
        "sent_rate": round((total - shed) / sending_s, 1) if sending_s else None,
        "answered_200_rate": round(statuses.get("200", 0) / elapsed, 1) if elapsed else None,
        "statuses": dict(statuses),
        "ok": statuses.get("200", 0),
        "refused_503": statuses.get("503", 0),
        "with_event_id": with_event,
        "p50_ms": _percentile(latencies, 0.5),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": round(latencies[-1], 2) if latencies else None,
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(run(spec))
    sys.stdout.write("R " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
