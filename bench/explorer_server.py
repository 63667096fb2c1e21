"""The explorer process ``bench.explorer`` measures: ``python -m bench.explorer_server DIR --notary-url URL
--chain-url URL``.

It is what ``python -m explorer DIR`` runs (``explorer.service.build``: the call and chain indexes under
``DIR/explorer/``, the log and chain followers, the chain state reader, the audit recorder of queries signing
with the operator's gateway key; then ``explorer.api.create_app`` served by uvicorn), with one difference: the
per-firm rate limit (``explorer.api.Limits``, 50 requests/s with a burst of 100 by default) is raised to
``--rate`` so that the benchmark's requests, one after another, are measured rather than answered 429. It
binds 127.0.0.1 on a free port and prints ``listening <url>``; SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The explorer, served for bench.explorer")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--notary-url", required=True)
    parser.add_argument("--chain-url", required=True)
    parser.add_argument("--rate", type=float, default=1e6, help="requests/s per firm before 429")
    parser.add_argument("--no-audit", action="store_true", help="do not record queries in the audit log")
    args = parser.parse_args(argv)
    passphrase = None if args.no_audit else os.environb.get(b"CONSORTIUM_PASSPHRASE")
    if not args.no_audit and not passphrase:
        sys.exit("CONSORTIUM_PASSPHRASE must unlock the operator's gateway key (the audit recorder), or --no-audit")

    import uvicorn

    from bench.common import HOST, bound_socket
    from explorer.api import Limits, create_app
    from explorer.service import ExplorerOptions, build, settle, stop

    options = ExplorerOptions(
        directory=args.directory,
        notary_url=args.notary_url,
        chain_url=args.chain_url,
        passphrase=passphrase,
        limits=Limits(rate=args.rate, burst=int(args.rate)),
    )
    explorer = build(options)
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(create_app(explorer), log_level="warning", access_log=False))
    settle()
    print(f"listening http://{HOST}:{sock.getsockname()[1]}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        stop(explorer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
