"""``make bench-privacy``: two-party PSI (``privacy.psi`` over openmined.psi) in one process, no gateways.

``--size`` identifiers each (default 100,000) with ``--overlap`` of them shared (default 10 %). Prints, per step
and per party, wall time and this process's CPU time, the size of each message, and whether the client found
exactly the shared identifiers. Each party's set commitment (one RFC 9381 VRF evaluation per identifier, over
libsodium, and the RFC 9162 root) is part of the run and printed as its own step. First, ``--vrf-sample``
VRF proofs, verifications and disclosure proofs give the rates one auditor's request costs.
The same job through the gateways (mutual TLS, grant checks, audit events) is measured once the
gateway carries these messages.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--overlap", type=float, default=0.10)
    parser.add_argument("--vrf-sample", type=int, default=1000)
    args = parser.parse_args()
    _vrf_rates(args.vrf_sample)

    n, shared = args.size, int(args.size * args.overlap)
    client_ids = [f"ACCT:C{i}" for i in range(n - shared)] + [f"ACCT:S{i}" for i in range(shared)]
    server_ids = [f"ACCT:S{i}" for i in range(n)]
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
    print(
        "  through the gateways (mutual TLS, grant checks, audit events): not measured yet — comes with the"
        " gateway transport"
    )


if __name__ == "__main__":
    main()
