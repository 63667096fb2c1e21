"""``make bench-privacy``: two-party PSI (``privacy.psi`` over openmined.psi) in one process, no gateways.

``--size`` identifiers each (default 100,000) with ``--overlap`` of them shared (default 10 %). Prints, per step
and per party, wall time and this process's CPU time, the size of each message, and whether the client found
exactly the shared identifiers. The parties' set commitments (one RFC 9381 VRF evaluation per identifier, in
plain Python) are measured on ``--commit-sample`` identifiers and extrapolated; the protocol run uses stand-in
leaves of the same count (SHA-512, no VRF) so that it measures the PSI alone.
The same job through the gateways (mutual TLS, grant checks, audit events) is measured once the
gateway carries these messages.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privacy import disclosure, psi

T = TypeVar("T")


def _timed(label: str, fn: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    print(f"  {label:<44} wall {time.perf_counter() - wall:8.2f} s   cpu {time.process_time() - cpu:8.2f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--overlap", type=float, default=0.10)
    parser.add_argument("--commit-sample", type=int, default=500)
    args = parser.parse_args()
    n, shared = args.size, int(args.size * args.overlap)
    client_ids = [f"ACCT:C{i}" for i in range(n - shared)] + [f"ACCT:S{i}" for i in range(shared)]
    server_ids = [f"ACCT:S{i}" for i in range(n)]
    terms = psi.JobTerms("bench-1", "0x" + "00" * 32, "aml-screening", n)
    kem = X25519PrivateKey.generate()
    print(f"PSI {n:,} x {n:,} identifiers, {shared:,} shared; {psi.IMPLEMENTATION}, in one process, no gateways")

    # The VRF commitments are measured apart: stub them for the protocol run.
    real_commit = disclosure.commit_set
    sample = client_ids[: args.commit_sample]
    wall, cpu = time.perf_counter(), time.process_time()
    real_commit("bench-1", bytes(32), sample)
    per = (time.process_time() - cpu) / len(sample)
    print(
        f"  set commitment (VRF leaves + RFC 9162 root)   {per * 1e3:.2f} ms cpu per identifier "
        f"(wall {(time.perf_counter() - wall) / len(sample) * 1e3:.2f} ms), so about {per * n:.0f} s per party"
    )
    vars(psi)["commit_set"] = _stand_in_commit
    try:
        client = _timed(
            "client: normalise, key",
            lambda: psi.PsiClient(
                terms, "alpha", Ed25519PrivateKey.generate().public_key(), client_ids, kem.public_key()
            ),
        )
        server = _timed(
            "server: normalise",
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


def _stand_in_commit(job_id: str, key: bytes, ids: list[str]) -> disclosure.CommittedSet:
    """A commitment of the right size with SHA-512 leaves in place of VRF outputs (timed apart above)."""
    return disclosure._build(job_id, key, [(hashlib.sha512(i.encode()).digest(), i) for i in ids])


if __name__ == "__main__":
    main()
