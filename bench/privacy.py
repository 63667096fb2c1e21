"""``make bench-privacy``: two-party PSI (``privacy.psi``) in one process, under each suite of a consortium.

Each suite's job in the same run, printed side by side: ``intl`` (``ecdh-psi-p256``: openmined.psi on P-256, the
job secret sealed with HPKE to X25519, ECVRF-EDWARDS25519-SHA512-TAI commitments over SHA-256 trees, Ed25519
records) and ``sm`` (``ecdh-psi-sm2``: ``privacy.smpsi`` on the SM2 curve, the job secret SM2-encrypted,
ECVRF-SM2-SM3-SSWU commitments over SM3 trees, SM2 records); ``--suites`` picks them.

``--size`` identifiers each (default 100,000) with ``--overlap`` of them shared (default 10 %); ``--sm-size`` another
size for the ``sm`` job (default: ``--size``; its curve arithmetic is in Python, some five times the CPU). Prints, per
step and per party, wall time and this process's CPU time, the size of each message, and whether the client found
exactly the shared identifiers. Each party's set commitment (one VRF evaluation per identifier and the RFC 9162
root) is part of the run and printed as its own step. First, ``--vrf-sample`` VRF proofs, verifications and
disclosure proofs give the rates one auditor's request costs.

``--through-gateways`` (``make bench-privacy ARGS="--through-gateways"``, 10,000 each unless ``--size`` says
otherwise; the issue's figure is ``--size 100000``) instead runs one whole job of each suite twice in this process:
first directly (``privacy.psi`` and the record both sign, the parties' files), each call timed to the party that
makes it, and then as the member SDK runs it (``sdk.privacy.run_psi_job``) through the owner's gateway over mutual
TLS, with the grant decided on a chain node, the terms checked against the chain, each step recorded in the outbox,
and the owner's PSI service (``privacy.service``) behind it. The chain node and gateway are the gateway tests'
fixtures (``tests/integration/gateway``), on loopback in this process; the PSI service runs on an event loop and
worker threads of its own. Under ``sm`` the gateway's vault is of the national suite (HMAC-SM3 digests, events of
schema version 3), the parties' SM2 record keys are drawn for the run (the fixtures' consortium.json is of the
``intl`` suite, so neither party checks the other's key against it), and the gateway and the client wait up to
``SM_WAIT_S`` for the request step's answer (``privacy.psi.request_time_budget_s`` allows 30 ms an identifier under
``sm``, 5 ms under ``intl``; each waits for the longer of the two). The CPU time of each party is its threads' (the
client: the main thread; the server: the service's threads; the ledger: all others, the gateway, its outbox and the
chain node); the server's wall time is the time spent in its handlers. It prints wall and CPU time of both runs and
the ledger's overhead per suite, then the suites side by side, and writes them with the load average before and
after to ``bench/results/privacy.json``: the ``intl`` job's figures at the top level, as before, and the ``sm``
job's under ``"sm"`` in the same shape.
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

from bench.common import write_results
from privacy import disclosure, psi
from privacy.suites import SUITES, PsiSuite, SigningKey
from suite.sm2 import SM2PrivateKey

T = TypeVar("T")
RESULTS: Final = Path(__file__).parent / "results" / "privacy.json"
#: How long the gateway and the client wait for an ``sm`` request step's answer (module docstring).
SM_WAIT_S: Final = 900.0
#: What each suite's job is, for the headings.
SUITE_LABELS: Final = {
    "intl": "ecdh-psi-p256, HPKE/X25519, ECVRF-EDWARDS25519",
    "sm": "ecdh-psi-sm2, SM2 encryption, ECVRF-SM2-SM3",
}


def _signing_key(suite: PsiSuite) -> SigningKey:
    """A party's record key of ``suite``: Ed25519, or SM2."""
    return SM2PrivateKey.generate() if suite.name == "sm" else Ed25519PrivateKey.generate()


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


def _vrf_rates(count: int, suite: PsiSuite) -> None:
    secret = suite.new_vrf_secret()
    public = suite.vrf_public_key(secret)
    alphas = [b"bench-1\x00ACCT:%d" % i for i in range(count)]
    proofs: list[bytes] = []
    name = "ECVRF-SM2-SM3-SSWU" if suite.name == "sm" else "RFC 9381 ECVRF-EDWARDS25519-SHA512-TAI over libsodium"
    print(f"VRF ({name}), {count:,} inputs")
    _rate("prove", count, lambda i: proofs.append(suite.vrf_prove(secret, alphas[i])))
    _rate("verify", count, lambda i: suite.vrf_verify(public, proofs[i], alphas[i]))
    evaluator = suite.vrf_evaluator(secret)
    _rate("output only (a leaf of a commitment)", count, lambda i: evaluator(alphas[i]))
    committed = disclosure.commit_set("bench-1", secret, [f"ACCT:{i}" for i in range(count)], suite)
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
    suite: PsiSuite,
    job_id: str,
    n: int,
    client_ids: Sequence[str],
    server_ids: Sequence[str],
    client: _Spent,
    server: _Spent,
) -> tuple[str, ...]:
    """What a job through the gateways computes, in one call chain, each call timed to the party that makes it:
    both parties, the record signed by both, the files each keeps."""
    from privacy.jobfiles import party_files
    from privacy.record import SignedRecord, sign_record

    terms = psi.JobTerms(job_id, "0x" + "00" * 32, "aml-screening", n, suite=suite)
    kem = suite.generate_kem()
    client_key, server_key = _signing_key(suite), _signing_key(suite)
    psi_client = client(
        lambda: psi.PsiClient(terms, "beta", suite.public_key(client_key), client_ids, suite.kem_public(kem))
    )
    request = client(psi_client.request)
    psi_server = server(lambda: psi.PsiServer(terms, "alpha", suite.public_key(server_key), server_ids, kem))
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


def _through_gateways(
    suite: PsiSuite, n: int, shared: int, client_ids: Sequence[str], server_ids: Sequence[str]
) -> dict[str, Any]:
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
    implementation = psi.IMPLEMENTATIONS[suite.name]
    print(f"[{suite.name}] {SUITE_LABELS[suite.name]}")
    print(f"PSI {n:,} x {n:,} identifiers, {shared:,} shared; {implementation}; one job each way")
    direct_client, direct_server = _Spent(), _Spent()
    wall, cpu = time.perf_counter(), time.process_time()
    direct = _direct_job(suite, "bench-direct", n, client_ids, server_ids, direct_client, direct_server)
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
            kem = suite.generate_kem()
            terms = PsiAssetTerms("customer-ids", PROVIDER, suite.protocol, n, suite.kem_public(kem), steps)
            document = format_asset_terms(terms)
            chain.consortium.assets.register_asset(
                chain.signers[PROVIDER], terms.asset, AssetKind.DATASET, digest("ids"), terms_digest(document), 4
            )
            for step in STEPS:
                chain.register_api(f"psi-{step}", terms.route(step), STEP_METHODS[step], asset=terms.asset)
            grant_id = chain.grant(GRANTEE, "aml-screening", asset=terms.asset)
            if suite.name == "sm":  # drawn for the run (module docstring)
                server_key, client_key = _signing_key(suite), _signing_key(suite)
            else:  # the orgs' gateway keys, which the fixtures' consortium.json publishes
                server_key = load_ed25519_gateway_key(world.root, OrgId(PROVIDER), PASS)
                client_key = load_ed25519_gateway_key(world.root, OrgId(GRANTEE), PASS)
            service = PsiService(terms, server_key, kem, server_ids, Path(tmp) / "jobs")

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
                # the body limit and upstream wait follow the terms
                psi=PsiGuard({terms.asset: document}, PROVIDER, crypto=suite.name),
                suite=suite.name,
                settings={"upstream_timeout_s": SM_WAIT_S} if suite.name == "sm" else None,
            )
            wait = SM_WAIT_S if suite.name == "sm" else 10.0
            try:
                with MemberClient.from_directory(
                    world.root, GRANTEE, name="client", passphrase=PASS, timeout=wait
                ) as client:
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
                        signing_key=client_key,
                        metadata_digest=terms_digest(document),
                        suite=suite.name,
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
        "implementation": implementation,
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


def _sets(n: int, overlap: float) -> tuple[int, list[str], list[str]]:
    shared = int(n * overlap)
    client_ids = [f"ACCT:C{i}" for i in range(n - shared)] + [f"ACCT:S{i}" for i in range(shared)]
    return shared, client_ids, [f"ACCT:S{i}" for i in range(n)]


def _side_by_side(runs: dict[str, dict[str, Any]]) -> None:
    """The suites' figures in columns."""
    names = list(runs)
    print(f"\n{'side by side':<40}" + "".join(f"{name:>24}" for name in names))

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        print(f"  {label:<38}" + "".join(f"{cell(runs[name]):>24}" for name in names))

    row("identifiers each", lambda r: f"{r['identifiers_each']:,}")
    row("found (shared)", lambda r: f"{r['found']:,} ({r['shared']:,})")
    row("directly: wall / cpu", lambda r: f"{r['direct']['wall_s']:.2f} / {r['direct']['cpu_s']:.2f} s")
    row(
        "  client cpu / server cpu",
        lambda r: f"{r['direct']['client']['cpu_s']:.2f} / {r['direct']['server']['cpu_s']:.2f} s",
    )
    g = "through_gateways"
    row("through the gateway: wall / cpu", lambda r: f"{r[g]['wall_s']:.2f} / {r[g]['cpu_s']:.2f} s")
    row("  client cpu / server cpu", lambda r: f"{r[g]['client']['cpu_s']:.2f} / {r[g]['server']['cpu_s']:.2f} s")
    row("  ledger cpu", lambda r: f"{r[g]['ledger']['cpu_s']:.2f} s")
    row(
        "ledger overhead: wall / cpu", lambda r: f"{r['overhead_pct']['wall']:+.1f} / {r['overhead_pct']['cpu']:+.1f} %"
    )
    row("load average before", lambda r: " ".join(f"{x:.2f}" for x in r["load_average_before"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="identifiers each (100,000; 10,000 through gateways)")
    parser.add_argument("--sm-size", type=int, default=None, help="identifiers each of the sm job (default --size)")
    parser.add_argument("--overlap", type=float, default=0.10)
    parser.add_argument("--vrf-sample", type=int, default=1000)
    parser.add_argument("--suites", default="intl,sm", help="the suites to run, comma-separated (intl,sm)")
    parser.add_argument("--through-gateways", action="store_true", help="the job directly and through a gateway")
    args = parser.parse_args()
    suites = [SUITES[name] for name in args.suites.split(",")]  # KeyError names an unknown suite
    n = args.size or (10_000 if args.through_gateways else 100_000)
    sizes = {suite.name: (args.sm_size or n) if suite.name == "sm" else n for suite in suites}
    if args.through_gateways:
        runs = {}
        for suite in suites:
            shared, client_ids, server_ids = _sets(sizes[suite.name], args.overlap)
            runs[suite.name] = _through_gateways(suite, sizes[suite.name], shared, client_ids, server_ids)
            print()
        _side_by_side(runs)
        command = f"--through-gateways --size {n}" + (f" --sm-size {args.sm_size}" if args.sm_size else "")
        if args.suites != "intl,sm":
            command += f" --suites {args.suites}"
        results: dict[str, Any] = {"command": f'make bench-privacy ARGS="{command}"', "cpus": os.cpu_count()}
        for name, run in runs.items():  # intl's at the top level, as before the sm suite; each other under its name
            if name == "intl":
                results.update(run)
            else:
                results[name] = run
        print(f"  figures in {write_results(results, RESULTS)}")
        return
    for suite in suites:
        _in_process(suite, sizes[suite.name], args.overlap, args.vrf_sample)


def _in_process(suite: PsiSuite, n: int, overlap: float, vrf_sample: int) -> None:
    """One suite's job in one process, no gateways, step by step (module docstring)."""
    shared, client_ids, server_ids = _sets(n, overlap)
    print(f"[{suite.name}] {SUITE_LABELS[suite.name]}")
    _vrf_rates(vrf_sample, suite)
    terms = psi.JobTerms("bench-1", "0x" + "00" * 32, "aml-screening", n, suite=suite)
    kem = suite.generate_kem()
    implementation = psi.IMPLEMENTATIONS[suite.name]
    print(f"PSI {n:,} x {n:,} identifiers, {shared:,} shared; {implementation}, in one process, no gateways")

    # Each party commits inside its constructor; time the commitment apart from the rest of the constructor.
    real_commit = disclosure.commit_set
    spent: list[tuple[float, float]] = []

    def timed_commit(
        job_id: str, key: bytes, ids: Iterable[str], committing: PsiSuite = suite
    ) -> disclosure.CommittedSet:
        wall, cpu = time.perf_counter(), time.process_time()
        out = real_commit(job_id, key, ids, committing)
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
                terms, "alpha", suite.public_key(_signing_key(suite)), client_ids, suite.kem_public(kem)
            ),
        )
        server = party(
            "server",
            "normalise",
            lambda: psi.PsiServer(terms, "beta", suite.public_key(_signing_key(suite)), server_ids, kem),
        )
    finally:
        vars(psi)["commit_set"] = real_commit
    request = _timed("client: message 1 (request)", client.request)
    response = _timed("server: message 2 (key, setup, response)", lambda: server.respond(request))
    outcome = list(_timed("client: intersection and record", lambda: client.finish(response)).intersection)
    ok = outcome == sorted(f"ACCT:S{i}" for i in range(shared))
    print(f"  messages: request {len(request) / 1e6:.2f} MB, response+setup {len(response) / 1e6:.2f} MB")
    print(f"  intersection: {len(outcome):,} found, {'exactly the shared identifiers' if ok else 'WRONG'}")
    print("  through the gateways (mutual TLS, grant checks, audit events): --through-gateways\n")


if __name__ == "__main__":
    main()
