"""Compile the Vyper contracts into committed artifacts (``make contracts``).

``source_sha256`` covers everything the compiler reads for a contract: its own source, the shared
``membership`` module and the interfaces, so editing any of them makes the artifact stale.
``python -m contracts.compile --check`` exits 1 and names every stale artifact without writing anything.

Each artifact also holds ``storage``, the contract's storage layout as the compiler allocates it: for each storage
variable its slot (``vyper -f layout``) and its type, with every struct member's offset in words and the size of
each type computed by the compiler's own type objects. A verifier that reads a contract's storage through Merkle
proofs (``chain.contracts.layout``) computes its slots from it instead of hard-coding them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from typing import Any

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
        "storage": storage_layout(name),
    }


def storage_layout(name: str) -> dict[str, Any]:
    """Every storage variable of contract ``name``: ``{"slot": n, "type": T}`` in slot order (see the module)."""
    import vyper.ast as vy_ast
    from vyper.compiler.input_bundle import FilesystemInputBundle
    from vyper.compiler.phases import CompilerData

    bundle = FilesystemInputBundle([CONTRACTS_DIR])
    data = CompilerData(bundle.load_file(SOURCE_DIR / f"{name}.vy"), bundle)
    slots = data.storage_layout["storage_layout"]
    types = {}
    for node in data.annotated_vyper_module.get_children(vy_ast.VariableDecl):
        info = node.target._metadata.get("varinfo")
        if info is not None and info.location.name == "STORAGE":
            types[node.target.id] = info.typ
    if set(types) != set(slots):
        raise AssertionError(f"{name}: storage variables {sorted(types)} but layout {sorted(slots)}")
    layout = {}
    for var, entry in sorted(slots.items(), key=lambda item: int(item[1]["slot"])):
        if entry["n_slots"] != types[var].storage_size_in_words:
            raise AssertionError(f"{name}.{var}: {entry['n_slots']} slots in the layout, type says otherwise")
        layout[var] = {"slot": int(entry["slot"]), "type": _describe(types[var])}
    return layout


def _describe(typ: Any) -> Any:
    """A storage type as JSON: a value type's name, or an object for a string, bytes, array, map or struct."""
    from vyper.semantics.types import (
        AddressT,
        BoolT,
        BytesM_T,
        BytesT,
        DArrayT,
        FlagT,
        HashMapT,
        IntegerT,
        InterfaceT,
        SArrayT,
        StringT,
        StructT,
    )

    if isinstance(typ, AddressT | InterfaceT):
        return "address"
    if isinstance(typ, FlagT):
        return "uint256"
    if isinstance(typ, IntegerT | BoolT | BytesM_T):
        return str(typ)
    if isinstance(typ, StringT | BytesT):
        return {"kind": "string" if isinstance(typ, StringT) else "bytes", "max": typ.length}
    if isinstance(typ, DArrayT):
        return {"kind": "dynarray", "of": _describe(typ.value_type), "max": typ.length}
    if isinstance(typ, SArrayT):
        return {"kind": "array", "of": _describe(typ.value_type), "length": typ.length}
    if isinstance(typ, HashMapT):
        return {"kind": "hashmap", "key": _describe(typ.key_type), "value": _describe(typ.value_type)}
    if isinstance(typ, StructT):
        members, offset = [], 0
        for member, member_type in typ.members.items():
            members.append({"name": member, "offset": offset, "type": _describe(member_type)})
            offset += member_type.storage_size_in_words
        if offset != typ.storage_size_in_words:
            raise AssertionError(f"struct {typ._id}: members take {offset} words, the type {typ.storage_size_in_words}")
        return {"kind": "struct", "name": typ._id, "words": offset, "members": members}
    raise AssertionError(f"a storage type this layout does not describe: {typ}")


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
