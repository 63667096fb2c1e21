"""``make bench-privacy``: two-party PSI (``privacy.psi`` over openmined.psi) in one process, no gateways.

``--size`` identifiers each (default 100,000) with ``--overlap`` of them shared (default 10 %). Prints, per step
and per party, wall time and this process's CPU time, the size of each message, and whether the client found
exactly the shared identifiers. Each party's set commitment (one RFC 9381 VRF evaluation per identifier, over
libsodium, and the RFC 9162 root) is part of the run and printed as its own step. First, ``--vrf-sample``
VRF proofs, verifications and disclosure proofs give the rates one auditor's request costs.

``--through-gateways`` (``make bench-privacy ARGS="--through-gateways"``, 10,000 each unless ``--size`` says
otherwise) instead runs one whole job twice in this process: first directly (``privacy.psi`` and the record both
sign, the parties' files) and then as the member SDK runs it (``sdk.privacy.run_psi_job``) through the owner's
gateway over mutual TLS, with the grant decided on a chain node, the terms checked against the chain, each step
recorded in the outbox, and the owner's PSI service (``privacy.service``) behind it; the chain node, gateway and
service are the gateway tests' fixtures (``tests/integration/gateway``), on loopback in this process, so the CPU
time counts all of them. It prints wall and CPU time of both and the ledger's overhead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privacy import disclosure, psi, vrf

T = TypeVar("T")


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


def _direct_job(job_id: str, n: int, client_ids: Sequence[str], server_ids: Sequence[str]) -> tuple[str, ...]:
    """What a job through the gateways computes, in one call chain: both parties, the record signed by both, the
    files each keeps."""
    from privacy.jobfiles import party_files
    from privacy.record import SignedRecord, sign_record

    terms = psi.JobTerms(job_id, "0x" + "00" * 32, "aml-screening", n)
    kem = X25519PrivateKey.generate()
    client_key, server_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    client = psi.PsiClient(terms, "beta", client_key.public_key(), client_ids, kem.public_key())
    request = client.request()
    server = psi.PsiServer(terms, "alpha", server_key.public_key(), server_ids, kem)
    outcome = client.finish(server.respond(request))
    client_signature = sign_record(outcome.record, "client", client_key)
    server.check_record(outcome.record)
    signed = SignedRecord(outcome.record, client_signature, sign_record(outcome.record, "server", server_key))
    party_files("server", signed, server.committed)
    party_files("client", signed, client.committed, outcome.result)
    return outcome.intersection


def _through_gateways(n: int, shared: int, client_ids: Sequence[str], server_ids: Sequence[str]) -> None:
    from aiohttp import web

    from chain.ids import AssetKind, OrgId
    from gateway.psi import PsiGuard
    from network.identity import load_ed25519_gateway_key
    from privacy.asset import PsiAssetTerms, format_asset_terms, terms_digest
    from privacy.service import PsiService
    from sdk import MemberClient
    from sdk.privacy import run_psi_job
    from tests.integration.gateway.gateway_chain import GRANTEE, PROVIDER, digest, start_gateway_chain
    from tests.integration.gateway.gateway_world import PASS, LiveGateway, LoopThread, build_world

    expected = tuple(sorted(f"ACCT:S{i}" for i in range(shared)))
    print(f"PSI {n:,} x {n:,} identifiers, {shared:,} shared; {psi.IMPLEMENTATION}; one job each way")
    wall, cpu = time.perf_counter(), time.process_time()
    direct = _direct_job("bench-direct", n, client_ids, server_ids)
    direct_wall, direct_cpu = time.perf_counter() - wall, time.process_time() - cpu
    _line("directly (privacy.psi, record, files)", direct_wall, direct_cpu)
    assert direct == expected, "the direct run found other identifiers"

    steps = "/v1/privacy/customer-ids"
    with tempfile.TemporaryDirectory() as tmp:
        chain = start_gateway_chain()
        loop = LoopThread()
        try:
            world = build_world(Path(tmp) / "consortium", chain)
            kem = X25519PrivateKey.generate()
            terms = PsiAssetTerms("customer-ids", PROVIDER, psi.PROTOCOL, n, kem.public_key().public_bytes_raw(), steps)
            document = format_asset_terms(terms)
            chain.consortium.assets.register_asset(
                chain.signers[PROVIDER], terms.asset, AssetKind.DATASET, digest("ids"), terms_digest(document), 4
            )
            for step, method in (("terms", "GET"), ("request", "POST"), ("record", "POST")):
                chain.register_api(f"psi-{step}", f"{steps}/{step}", method, asset=terms.asset)
            grant_id = chain.grant(GRANTEE, "aml-screening", asset=terms.asset)
            service = PsiService(
                terms, load_ed25519_gateway_key(world.root, OrgId(PROVIDER), PASS), kem, server_ids, Path(tmp) / "jobs"
            )

            async def serve() -> tuple[web.AppRunner, int]:
                runner = web.AppRunner(service.app(), access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                return runner, int(runner.addresses[0][1])

            runner, port = loop.run(serve())
            gateway = LiveGateway(
                world,
                chain,
                loop,
                f"http://127.0.0.1:{port}",
                Path(tmp) / "outbox",
                poll_s=0.5,
                settings={"max_body_bytes": 256 * 1024 * 1024, "upstream_timeout_s": 600.0},
                psi=PsiGuard({terms.asset: document}, PROVIDER),
            )
            signing_key = load_ed25519_gateway_key(world.root, OrgId(GRANTEE), PASS)
            try:
                with MemberClient.from_directory(
                    world.root, GRANTEE, name="client", passphrase=PASS, timeout=600.0
                ) as client:
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
            finally:
                gateway.close()
                loop.run(runner.cleanup())
        finally:
            loop.close()
            chain.close()
    _line("through the owner's gateway (3 calls, mTLS)", gateway_wall, gateway_cpu)
    assert tuple(sorted(job.intersection)) == expected, "the run through the gateway found other identifiers"
    print(
        f"  ledger overhead: wall {100 * (gateway_wall / direct_wall - 1):+.1f} %, "
        f"cpu {100 * (gateway_cpu / direct_cpu - 1):+.1f} %; {len(job.intersection):,} shared identifiers found "
        "both ways"
    )


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
        _through_gateways(n, shared, client_ids, server_ids)
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
