"""``make bench-privacy``: two-party PSI (``privacy.psi`` over openmined.psi) in one process, no gateways.

``--size`` identifiers each (default 100,000) with ``--overlap`` of them shared (default 10 %). Prints, per step
and per party, wall time and this process's CPU time, the size of each message, and whether the client found
exactly the shared identifiers. Each party's set commitment (one RFC 9381 VRF evaluation per identifier, over
libsodium, and the RFC 9162 root) is part of the run and printed as its own step. First, ``--vrf-sample``
VRF proofs, verifications and disclosure proofs give the rates one auditor's request costs.

``--through-gateways`` (``make bench-privacy ARGS="--through-gateways"``, 10,000 each unless ``--size`` says
otherwise; the issue's figure is ``--size 100000``) instead runs one whole job twice in this process: first
directly (``privacy.psi`` and the record both sign, the parties' files), each call timed to the party that makes
it, and then as the member SDK runs it (``sdk.privacy.run_psi_job``) through the owner's gateway over mutual TLS,
with the grant decided on a chain node, the terms checked against the chain, each step recorded in the outbox, and
the owner's PSI service (``privacy.service``) behind it. The chain node and gateway are the gateway tests' fixtures
(``tests/integration/gateway``), on loopback in this process; the PSI service runs on an event loop and worker
threads of its own. The CPU time of each party is its threads' (the client: the main thread; the server: the
service's threads; the ledger: all others, the gateway, its outbox and the chain node); the server's wall time is
the time spent in its handlers. It prints wall and CPU time of both runs and the ledger's overhead, and writes them
with the load average before and after to ``bench/results/privacy.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bench.common import write_results
from privacy import disclosure, psi, vrf

T = TypeVar("T")
RESULTS: Final = Path(__file__).parent / "results" / "privacy.json"


def _line(label: str, wall: float, cpu: float) -> None:
    print(f"  {label:<44} wall {wall:8.2f} s   cpu {cpu:8.2f} s")


def _timed(label: str, fn: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    _line(label, time.perf_counter() - wall, time.process_time() - cpu)
    return out


def _rate(label: str, count: int, fn: Callable[[int], object]) -> None:
    wall = time.perf_counter()
    for i in range(count):
        fn(i)
    elapsed = time.perf_counter() - wall
    print(f"  {label:<44} {count / elapsed:8.0f} /s   ({elapsed / count * 1e3:.3f} ms each)")


def _vrf_rates(count: int) -> None:
    secret = bytes(range(32))
    public = vrf.public_key(secret)
    alphas = [b"bench-1\x00ACCT:%d" % i for i in range(count)]
    proofs: list[bytes] = []
    print(f"VRF (RFC 9381 ECVRF-EDWARDS25519-SHA512-TAI over libsodium), {count:,} inputs")
    _rate("prove", count, lambda i: proofs.append(vrf.prove(secret, alphas[i])))
    _rate("verify", count, lambda i: vrf.verify(public, proofs[i], alphas[i]))
    evaluator = vrf.Evaluator(secret)
    _rate("output only (a leaf of a commitment)", count, lambda i: evaluator.output(alphas[i]))
    committed = disclosure.commit_set("bench-1", secret, [f"ACCT:{i}" for i in range(count)])
    made: list[disclosure.DisclosureProof] = []
    _rate(
        "disclosure proof (member or not, of this set)",
        count,
        lambda i: made.append(disclosure.prove_disclosure(committed, "client", "input", f"ACCT:{2 * i}")),
    )
    _rate("disclosure verification", count, lambda i: disclosure.verify_disclosure(made[i], committed.commitment))


class _Spent:
    """Wall and CPU time of one party's share of a job run in one thread, added up over its steps."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __call__(self, fn: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn()
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu

    def figures(self) -> dict[str, float]:
        return {"wall_s": round(self.wall, 2), "cpu_s": round(self.cpu, 2)}


def _direct_job(
    job_id: str, n: int, client_ids: Sequence[str], server_ids: Sequence[str], client: _Spent, server: _Spent
) -> tuple[str, ...]:
    """What a job through the gateways computes, in one call chain, each call timed to the party that makes it:
    both parties, the record signed by both, the files each keeps."""
    from privacy.jobfiles import party_files
    from privacy.record import SignedRecord, sign_record

    terms = psi.JobTerms(job_id, "0x" + "00" * 32, "aml-screening", n)
    kem = X25519PrivateKey.generate()
    client_key, server_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    psi_client = client(lambda: psi.PsiClient(terms, "beta", client_key.public_key(), client_ids, kem.public_key()))
    request = client(psi_client.request)
    psi_server = server(lambda: psi.PsiServer(terms, "alpha", server_key.public_key(), server_ids, kem))
    response = server(lambda: psi_server.respond(request))
    outcome = client(lambda: psi_client.finish(response))
    client_signature = client(lambda: sign_record(outcome.record, "client", client_key))
    server(lambda: psi_server.check_record(outcome.record))
    signed = SignedRecord(
        outcome.record, client_signature, server(lambda: sign_record(outcome.record, "server", server_key))
    )
    server(lambda: party_files("server", signed, psi_server.committed))
    client(lambda: party_files("client", signed, psi_client.committed, outcome.result))
    return outcome.intersection


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """Thread id → (name, CPU seconds) of every live thread of this process."""
    out: dict[int, tuple[str, float]] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            out[thread.ident] = (thread.name, time.clock_gettime(time.pthread_getcpuclockid(thread.ident)))
        except (OSError, ProcessLookupError):  # the thread ended in between
            continue
    return out


#: Threads of the owner's PSI service (its own event loop and worker threads); the client is the main thread;
#: every other thread is the ledger's: the gateway's loop and workers, its outbox, the chain node.
_SERVICE_THREADS: Final = "psi-service"


def _by_party(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds by party, and the ledger's by thread name (numbered workers counted together)."""
    spent = {"client": 0.0, "server": 0.0, "ledger": 0.0}
    ledger: dict[str, float] = {}
    main = threading.main_thread().ident
    for ident, (name, cpu) in after.items():
        used = cpu - before.get(ident, (name, 0.0))[1]
        party = "client" if ident == main else "server" if name.startswith(_SERVICE_THREADS) else "ledger"
        spent[party] += used
        if party == "ledger":
            kind = re.sub(r"\d+", "N", name)
            ledger[kind] = ledger.get(kind, 0.0) + used
    return spent, ledger


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _through_gateways(n: int, shared: int, client_ids: Sequence[str], server_ids: Sequence[str]) -> dict[str, Any]:
    from aiohttp import web

    from chain.ids import AssetKind, OrgId
    from gateway.psi import PsiGuard
    from network.identity import load_ed25519_gateway_key
    from privacy.asset import STEP_METHODS, STEPS, PsiAssetTerms, format_asset_terms, terms_digest
    from privacy.service import PsiService
    from sdk import MemberClient
    from sdk.privacy import run_psi_job
    from tests.integration.gateway.gateway_chain import GRANTEE, PROVIDER, digest, start_gateway_chain
    from tests.integration.gateway.gateway_world import PASS, LiveGateway, LoopThread, build_world

    expected = tuple(sorted(f"ACCT:S{i}" for i in range(shared)))
    load_before = _loadavg()
    print(f"PSI {n:,} x {n:,} identifiers, {shared:,} shared; {psi.IMPLEMENTATION}; one job each way")
    direct_client, direct_server = _Spent(), _Spent()
    wall, cpu = time.perf_counter(), time.process_time()
    direct = _direct_job("bench-direct", n, client_ids, server_ids, direct_client, direct_server)
    direct_wall, direct_cpu = time.perf_counter() - wall, time.process_time() - cpu
    _line("directly (privacy.psi, record, files)", direct_wall, direct_cpu)
    _line("  client", direct_client.wall, direct_client.cpu)
    _line("  server", direct_server.wall, direct_server.cpu)
    assert direct == expected, "the direct run found other identifiers"

    steps = "/v1/privacy/customer-ids"
    service_wall = _Spent()
    with tempfile.TemporaryDirectory() as tmp:
        chain = start_gateway_chain()
        loop = LoopThread()
        service_loop = asyncio.new_event_loop()
        service_loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix=f"{_SERVICE_THREADS}-worker"))
        service_thread = threading.Thread(target=service_loop.run_forever, name=f"{_SERVICE_THREADS}-loop", daemon=True)
        service_thread.start()
        try:
            world = build_world(Path(tmp) / "consortium", chain)
            kem = X25519PrivateKey.generate()
            terms = PsiAssetTerms("customer-ids", PROVIDER, psi.PROTOCOL, n, kem.public_key().public_bytes_raw(), steps)
            document = format_asset_terms(terms)
            chain.consortium.assets.register_asset(
                chain.signers[PROVIDER], terms.asset, AssetKind.DATASET, digest("ids"), terms_digest(document), 4
            )
            for step in STEPS:
                chain.register_api(f"psi-{step}", terms.route(step), STEP_METHODS[step], asset=terms.asset)
            grant_id = chain.grant(GRANTEE, "aml-screening", asset=terms.asset)
            service = PsiService(
                terms, load_ed25519_gateway_key(world.root, OrgId(PROVIDER), PASS), kem, server_ids, Path(tmp) / "jobs"
            )

            def timed(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
                async def run(request: web.Request) -> web.StreamResponse:
                    started = time.perf_counter()
                    try:
                        return await handler(request)
                    finally:
                        service_wall.wall += time.perf_counter() - started

                return run

            async def serve() -> tuple[web.AppRunner, int]:
                # as service.app(), its body limit the terms' (privacy.psi.max_request_bytes), but with the
                # handlers timed: the owner's wall time is the time spent in them
                app = web.Application(client_max_size=psi.max_request_bytes(n))
                for step in STEPS:
                    app.router.add_route(STEP_METHODS[step], terms.route(step), timed(service.handler(step)))
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                return runner, int(runner.addresses[0][1])

            runner, port = asyncio.run_coroutine_threadsafe(serve(), service_loop).result(30)
            gateway = LiveGateway(
                world,
                chain,
                loop,
                f"http://127.0.0.1:{port}",
                Path(tmp) / "outbox",
                poll_s=0.5,
                psi=PsiGuard({terms.asset: document}, PROVIDER),  # the body limit and upstream wait follow the terms
            )
            signing_key = load_ed25519_gateway_key(world.root, OrgId(GRANTEE), PASS)
            try:
                with MemberClient.from_directory(world.root, GRANTEE, name="client", passphrase=PASS) as client:
                    threads = _thread_cpu()
                    wall, cpu = time.perf_counter(), time.process_time()
                    job = run_psi_job(
                        client,
                        gateway.url,
                        steps,
                        org=GRANTEE,
                        purpose="aml-screening",
                        grant_id=grant_id,
                        identifiers=client_ids,
                        signing_key=signing_key,
                        metadata_digest=terms_digest(document),
                    )
                    gateway_wall, gateway_cpu = time.perf_counter() - wall, time.process_time() - cpu
                    parties, ledger_threads = _by_party(threads, _thread_cpu())
            finally:
                gateway.close()
                asyncio.run_coroutine_threadsafe(runner.cleanup(), service_loop).result(30)
        finally:
            service_loop.call_soon_threadsafe(service_loop.stop)
            service_thread.join(10)
            loop.close()
            chain.close()
    _line("through the owner's gateway (3 calls, mTLS)", gateway_wall, gateway_cpu)
    _line("  client (its thread)", gateway_wall, parties["client"])
    _line("  server (the PSI service's threads)", service_wall.wall, parties["server"])
    print(f"  {'  ledger (gateway, outbox, chain node)':<44} cpu {parties['ledger']:8.2f} s")
    ledger_top = sorted(ledger_threads.items(), key=lambda kv: -kv[1])[:6]
    print("      " + ", ".join(f"{name} {cpu:.2f} s" for name, cpu in ledger_top))
    unattributed = gateway_cpu - sum(parties.values())
    assert tuple(sorted(job.intersection)) == expected, "the run through the gateway found other identifiers"
    overhead_wall = 100 * (gateway_wall / direct_wall - 1)
    overhead_cpu = 100 * (gateway_cpu / direct_cpu - 1)
    print(
        f"  ledger overhead: wall {overhead_wall:+.1f} %, cpu {overhead_cpu:+.1f} %; {len(job.intersection):,} "
        "shared identifiers found both ways"
    )
    return {
        "command": f'make bench-privacy ARGS="--through-gateways --size {n}"',
        "implementation": psi.IMPLEMENTATION,
        "identifiers_each": n,
        "shared": shared,
        "found": len(job.intersection),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _loadavg(),
        "direct": {
            "wall_s": round(direct_wall, 2),
            "cpu_s": round(direct_cpu, 2),
            "client": direct_client.figures(),
            "server": direct_server.figures(),
        },
        "through_gateways": {
            "wall_s": round(gateway_wall, 2),
            "cpu_s": round(gateway_cpu, 2),
            "client": {"wall_s": round(gateway_wall, 2), "cpu_s": round(parties["client"], 2)},
            "server": {"wall_s": round(service_wall.wall, 2), "cpu_s": round(parties["server"], 2)},
            "ledger": {
                "cpu_s": round(parties["ledger"], 2),
                "threads_cpu_s": {name: round(cpu, 2) for name, cpu in ledger_top},
            },
            "unattributed_cpu_s": round(unattributed, 2) + 0.0,  # threads that ended during the job
        },
        "overhead_pct": {"wall": round(overhead_wall, 1), "cpu": round(overhead_cpu, 1)},
        "target_pct": 10,
        "met": overhead_cpu < 10 and overhead_wall < 10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="identifiers each (100,000; 10,000 through gateways)")
    parser.add_argument("--overlap", type=float, default=0.10)
    parser.add_argument("--vrf-sample", type=int, default=1000)
    parser.add_argument("--through-gateways", action="store_true", help="the job directly and through a gateway")
    args = parser.parse_args()
    n = args.size or (10_000 if args.through_gateways else 100_000)
    shared = int(n * args.overlap)
    client_ids = [f"ACCT:C{i}" for i in range(n - shared)] + [f"ACCT:S{i}" for i in range(shared)]
    server_ids = [f"ACCT:S{i}" for i in range(n)]
    if args.through_gateways:
        results = _through_gateways(n, shared, client_ids, server_ids)
        print(f"  figures in {write_results(results, RESULTS)}")
        return
    _vrf_rates(args.vrf_sample)
    terms = psi.JobTerms("bench-1", "0x" + "00" * 32, "aml-screening", n)
    kem = X25519PrivateKey.generate()
    print(f"PSI {n:,} x {n:,} identifiers, {shared:,} shared; {psi.IMPLEMENTATION}, in one process, no gateways")

    # Each party commits inside its constructor; time the commitment apart from the rest of the constructor.
    real_commit = disclosure.commit_set
    spent: list[tuple[float, float]] = []

    def timed_commit(job_id: str, key: bytes, ids: Iterable[str]) -> disclosure.CommittedSet:
        wall, cpu = time.perf_counter(), time.process_time()
        out = real_commit(job_id, key, ids)
        spent.append((time.perf_counter() - wall, time.process_time() - cpu))
        return out

    def party(role: str, steps: str, make: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        out = make()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        commit_wall, commit_cpu = spent.pop()
        _line(f"{role}: VRF commitment of {n:,} identifiers", commit_wall, commit_cpu)
        _line(f"{role}: {steps}", wall - commit_wall, cpu - commit_cpu)
        return out

    vars(psi)["commit_set"] = timed_commit
    try:
        client = party(
            "client",
            "normalise, key",
            lambda: psi.PsiClient(
                terms, "alpha", Ed25519PrivateKey.generate().public_key(), client_ids, kem.public_key()
            ),
        )
        server = party(
            "server",
            "normalise",
            lambda: psi.PsiServer(terms, "beta", Ed25519PrivateKey.generate().public_key(), server_ids, kem),
        )
    finally:
        vars(psi)["commit_set"] = real_commit
    request = _timed("client: message 1 (request)", client.request)
    response = _timed("server: message 2 (key, setup, response)", lambda: server.respond(request))
    outcome = list(_timed("client: intersection and record", lambda: client.finish(response)).intersection)
    ok = outcome == sorted(f"ACCT:S{i}" for i in range(shared))
    print(f"  messages: request {len(request) / 1e6:.2f} MB, response+setup {len(response) / 1e6:.2f} MB")
    print(f"  intersection: {len(outcome):,} found, {'exactly the shared identifiers' if ok else 'WRONG'}")
    print("  through the gateways (mutual TLS, grant checks, audit events): --through-gateways")


if __name__ == "__main__":
    main()
