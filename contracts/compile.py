"""Compile the Vyper contracts into committed artifacts (``make contracts``).

``source_sha256`` covers everything the compiler reads for a contract: its own source, the shared
``membership`` module and the interfaces, so editing any of them makes the artifact stale.
``python -m contracts.compile --check`` exits 1 and names every stale artifact without writing anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys

from contracts import ARTIFACT_DIR, CONTRACT_NAMES, CONTRACTS_DIR, SOURCE_DIR


def source_sha256(name: str) -> str:
    """SHA-256 over the contract source and every shared file it may import, in a fixed order."""
    files = [SOURCE_DIR / f"{name}.vy", SOURCE_DIR / "membership.vy"]
    files += sorted((CONTRACTS_DIR / "interfaces").glob("*.vyi"))
    digest = hashlib.sha256()
    for path in files:
        rel = path.relative_to(CONTRACTS_DIR).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def compiler_version() -> str:
    out = subprocess.run([sys.executable, "-m", "vyper", "--version"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def compile_contract(name: str, version: str) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vyper",
            "-p",
            str(CONTRACTS_DIR),
            "-f",
            "combined_json",
            str(SOURCE_DIR / f"{name}.vy"),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=CONTRACTS_DIR,
    )
    combined = json.loads(out.stdout)
    (entry,) = [v for k, v in combined.items() if k != "version"]
    return {
        "contractName": name,
        "abi": entry["abi"],
        "bytecode": entry["bytecode"],
        "compiler": f"vyper {version}",
        "source_sha256": source_sha256(name),
    }


def stale_artifacts() -> list[str]:
    """Names of contracts whose committed artifact does not match the current sources."""
    stale = []
    for name in CONTRACT_NAMES:
        path = ARTIFACT_DIR / f"{name}.json"
        if not path.exists() or json.loads(path.read_text())["source_sha256"] != source_sha256(name):
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale artifacts")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_artifacts()
        for name in stale:
            print(f"stale artifact: contracts/artifacts/{name}.json (run `make contracts`)", file=sys.stderr)
        return 1 if stale else 0
    version = compiler_version()
    ARTIFACT_DIR.mkdir(exist_ok=True)
    for name in CONTRACT_NAMES:
        artifact = compile_contract(name, version)
        (ARTIFACT_DIR / f"{name}.json").write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
        print(f"compiled {name}: {(len(str(artifact['bytecode'])) - 2) // 2} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
