"""``python -m bench.smpsi``: the national suite's PSI core (``privacy.smpsi``) in one process, no gateways.

``--size`` identifiers each (default 10,000), ``--overlap`` of them shared (default 10 %). Prints each party's CPU
time (``time.process_time``), the sizes of the two messages, and whether the client found exactly the shared
identifiers; before that, the CPU time of one SM2 scalar multiplication and one hash-to-curve.
"""

from __future__ import annotations

import argparse
import os
import time

from privacy.identifiers import derive_job_key
from privacy.smpsi import SmPsiClient, SmPsiServer
from suite.sm2group import SM2, hash_to_curve, multiply, random_scalar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--overlap", type=float, default=0.1)
    args = parser.parse_args()
    start = time.process_time()
    for _ in range(200):
        multiply(SM2, random_scalar(), SM2.generator)
    mult = (time.process_time() - start) / 200
    start = time.process_time()
    for i in range(1000):
        hash_to_curve(b"%d" % i, b"bench")
    h2c = (time.process_time() - start) / 1000
    print(f"SM2 scalar multiplication {mult * 1e3:.2f} ms CPU, hash_to_curve {h2c * 1e3:.2f} ms CPU")

    n, shared = args.size, int(args.size * args.overlap)
    key = derive_job_key(os.urandom(32), "bench", "sm")
    mine = [f"ACCT:{i}" for i in range(n)]
    theirs = [f"ACCT:{i}" for i in range(n - shared, 2 * n - shared)]
    t0 = time.process_time()
    client = SmPsiClient(key, mine, n)
    request = client.request()
    t1 = time.process_time()
    response = SmPsiServer(key, theirs, n).respond(request)
    t2 = time.process_time()
    outcome = client.finish(response)
    t3 = time.process_time()
    right = set(outcome.intersection) == set(mine) & set(theirs)
    print(
        f"{n:,} x {n:,}, {shared:,} shared: client {t1 - t0 + t3 - t2:.2f} s CPU, server {t2 - t1:.2f} s CPU, "
        f"request {len(request):,} bytes, response {len(response):,} bytes, "
        f"{len(outcome.intersection):,} found, {'exactly the shared ones' if right else 'WRONG'}"
    )


if __name__ == "__main__":
    main()
