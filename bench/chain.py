"""``make bench-chain``: contract transactions and reads per second, on every chain backend in one run.

For each backend a fresh consortium is deployed; then a mix of contract transactions (a third each:
register a data asset, create an access grant, anchor a checkpoint), signed locally by member accounts and
sent with ``eth_sendRawTransaction``, all in flight before the receipts are collected; every receipt must
show success. Reads are ``AccessGrants.check`` through ``eth_call``, one after another. A second figure times
the path every CLI command takes (estimate, sign, send, wait) one transaction at a time.
Figures go to stdout and to ``bench/results/chain.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account

from chain.backend import Backend, EthTesterBackend
from chain.contracts import Deployment, FoundingMember, deploy_consortium
from chain.ids import AssetKind, OrgId, Role, name_to_bytes32
from chain.tx import Signer, build_transaction, fee_fields, send_transaction, wait_receipt
from network.localchain import start_anvil

RESULTS = Path(__file__).resolve().parent / "results" / "chain.json"
DIGEST = b"\x11" * 32


def _consortium(
    backend_factory: Callable[[list[str]], tuple[Backend, Callable[[], None]]],
) -> tuple[Backend, Callable[[], None], Deployment, dict[str, Signer]]:
    signers = {org: Signer(account=Account.create()) for org in ("op", "alpha", "beta", "gamma")}
    backend, stop = backend_factory([s.address for s in signers.values()])
    founders = [
        FoundingMember(
            OrgId("op"), "Operator", Role.MEMBER | Role.OPERATOR | Role.NOTARY, DIGEST, (signers["op"].address,)
        ),
        *[
            FoundingMember(OrgId(o), o.title(), Role.MEMBER, DIGEST, (signers[o].address,))
            for o in ("alpha", "beta", "gamma")
        ],
    ]
    deployment = deploy_consortium(backend, signers["op"], founders, threshold=2)
    return backend, stop, deployment, signers


def _mixed_calls(
    deployment: Deployment, backend: Backend, signers: dict[str, Signer], n: int, now: int, tag: str
) -> list[tuple[Signer, str, str, str]]:
    """(signer, contract address, calldata, kind) for n transactions: register, grant, anchor in turn."""
    assets, grants, anchors = deployment.assets(backend), deployment.grants(backend), deployment.anchors(backend)
    calls: list[tuple[Signer, str, str, str]] = []
    for i in range(n):
        owner = ("alpha", "beta", "gamma")[i % 3]
        kind = ("register", "grant", "anchor")[i % 3]
        if kind == "register":
            data = assets.encode(
                "register_asset", name_to_bytes32(f"{tag}-{i}"), int(AssetKind.FEED), DIGEST, DIGEST, 2
            )
            calls.append((signers[owner], assets.address, data, kind))
        elif kind == "grant":
            grantee = "beta" if owner == "alpha" else "alpha"
            data = grants.encode(
                "create_grant",
                name_to_bytes32(f"b-base-{owner}"),
                name_to_bytes32(grantee),
                name_to_bytes32(f"{tag}{i}"),
                now,
                now + 86_400,
                100,
            )
            calls.append((signers[owner], grants.address, data, kind))
        else:
            data = anchors.encode("anchor", f"bench/{tag}", i + 1, DIGEST, DIGEST)
            calls.append((signers["op"], anchors.address, data, kind))
    return calls


def measure(
    name: str,
    backend_factory: Callable[[list[str]], tuple[Backend, Callable[[], None]]],
    n_tx: int,
    n_reads: int,
    n_serial: int,
) -> dict[str, Any]:
    backend, stop, deployment, signers = _consortium(backend_factory)
    try:
        assets, grants = deployment.assets(backend), deployment.grants(backend)
        for owner in ("alpha", "beta", "gamma"):
            assets.register_asset(signers[owner], f"b-base-{owner}", AssetKind.FEED, DIGEST, DIGEST, 2)
        now = int(backend.web3.eth.get_block("latest")["timestamp"])
        calls = _mixed_calls(deployment, backend, signers, n_tx, now, "b")
        # Gas per kind, estimated once: the pipelined run must not pay an estimate per transaction.
        gas = {}
        for signer, to, data, kind in calls[:3]:
            gas[kind] = int(backend.web3.eth.estimate_gas({"from": signer.address, "to": to, "data": data})) * 2  # type: ignore[typeddict-item]
        fees = fee_fields(backend)
        start = time.perf_counter()
        hashes = [
            send_transaction(backend, s, build_transaction(backend, s, to, data, gas=gas[kind], fees=fees))
            for s, to, data, kind in calls
        ]
        for h in hashes:
            wait_receipt(backend, h)
        tx_elapsed = time.perf_counter() - start
        blocks = int(backend.web3.eth.block_number)

        serial_calls = _mixed_calls(deployment, backend, signers, n_serial, now, "s")
        start = time.perf_counter()
        for s, to, data, kind in serial_calls:
            wait_receipt(backend, send_transaction(backend, s, build_transaction(backend, s, to, data, label=kind)))
        serial_elapsed = time.perf_counter() - start

        start = time.perf_counter()
        for i in range(n_reads):
            result = grants.check("b-base-beta", "alpha", f"b{(i % (n_tx // 3)) * 3 + 1}", now + 10)
            assert result.allowed, result
        read_elapsed = time.perf_counter() - start
        return {
            "backend": name,
            "transactions": n_tx,
            "tx_per_s": round(n_tx / tx_elapsed, 1),
            "serial_transactions": n_serial,
            "serial_tx_per_s": round(n_serial / serial_elapsed, 1),
            "reads": n_reads,
            "reads_per_s": round(n_reads / read_elapsed, 1),
            "blocks_at_end": blocks,
        }
    finally:
        stop()


def eth_tester_factory(accounts: list[str]) -> tuple[Backend, Callable[[], None]]:
    backend = EthTesterBackend(accounts)
    return backend, backend.close


def anvil_factory(accounts: list[str]) -> tuple[Backend, Callable[[], None]]:
    local = start_anvil(20261)
    return local.backend, local.stop


BACKENDS: dict[str, Callable[[list[str]], tuple[Backend, Callable[[], None]]]] = {
    "eth-tester (in-process py-evm)": eth_tester_factory,
    "anvil (JSON-RPC)": anvil_factory,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Contract transactions and reads per second per chain backend")
    parser.add_argument("--transactions", type=int, default=600)
    parser.add_argument("--serial", type=int, default=150)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    for name, factory in BACKENDS.items():
        row = measure(name, factory, args.transactions, args.reads, args.serial)
        rows.append(row)
        print(
            f"{name:<32} {row['tx_per_s']:>8.1f} tx/s pipelined   {row['serial_tx_per_s']:>7.1f} tx/s one-by-one"
            f"   {row['reads_per_s']:>8.1f} reads/s",
            flush=True,
        )
    result = {
        "benchmark": "chain",
        "workload": "1/3 register_asset, 1/3 create_grant, 1/3 anchor; reads: AccessGrants.check via eth_call",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"written to {args.output.relative_to(Path.cwd()) if args.output.is_relative_to(Path.cwd()) else args.output}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
