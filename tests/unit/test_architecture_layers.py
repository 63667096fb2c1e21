"""``docs/architecture.md``'s dependency table is what import-linter enforces: its layers, read from the table's
layer numbers, are the layers contract of ``pyproject.toml``; each package's "may import" cell allows exactly what
the contracts let it import (the layers, less the forbidden contracts between packages), neither more nor less;
and each cell names every package of ours it imports (read from the source with ``ast``, imports inside functions
and under ``TYPE_CHECKING`` too, as import-linter counts them). A package that starts importing another must say
so in its row, not only pass the contract."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

from tests.support.gitindex import tracked_files

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: A row of the layers table: layer number, package, what it owns, what it may import (the last cell).
_ROW = re.compile(r"^\| (\d+) \| `(\w+)/` \| .* \| ([^|]*) \|$", re.MULTILINE)
_CODE = re.compile(r"`(\w+)`")


def table(text: str) -> dict[str, tuple[int, str]]:
    """Each package of the layers table → its layer number and its "may import" cell."""
    return {package: (int(layer), may) for layer, package, may in _ROW.findall(text)}


def allowed(rows: dict[str, tuple[int, str]], package: str) -> set[str]:
    """The packages ``package``'s cell allows: "everything below"; "`x`, ... and below" (those named and every
    package of a lower layer than the lowest named); "nothing of ours"; or a list of names, those after "not"
    excluded."""
    layer, cell = rows[package]
    if "nothing of ours" in cell:
        return set()
    if "everything below" in cell:
        return {p for p, (n, _) in rows.items() if n < layer}
    named = set(_CODE.findall(cell.split("; not ")[0]))
    if "and below" in cell:
        floor = min(rows[p][0] for p in named)
        named |= {p for p, (n, _) in rows.items() if n < floor}
    return named


def imports_of(files: list[str], packages: set[str]) -> dict[str, set[str]]:
    """Each package → the other packages of ``packages`` its tracked modules import."""
    found: dict[str, set[str]] = {p: set() for p in packages}
    for name in files:
        top = name.split("/")[0]
        if top not in packages or not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse((ROOT / name).read_bytes(), name)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            else:
                continue
            found[top] |= {t.split(".")[0] for t in targets} & (packages - {top})
    return found


def importlinter() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]
    return config


def contract_layers(config: dict[str, Any] | None = None) -> list[set[str]]:
    """The layers of the one layers contract over the root packages, highest first, each a set of packages that
    may not import each other (import-linter's ``|``)."""
    config = importlinter() if config is None else config
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers" and "containers" not in c]
    return [{p.strip() for p in layer.split("|")} for layer in contract["layers"]]


def contract_allows(config: dict[str, Any]) -> dict[str, set[str]]:
    """Each root package → the root packages the contracts let it import: every package of a lower layer, less
    those a forbidden contract from that package names (contracts whose sources are modules inside a package
    do not bear on the table)."""
    layers = contract_layers(config)
    roots = set(config["root_packages"])
    allows = {package: set().union(*layers[index + 1 :]) for index, layer in enumerate(layers) for package in layer}
    for contract in config["contracts"]:
        if contract["type"] != "forbidden":
            continue
        for source in set(contract["source_modules"]) & roots:
            allows[source] -= set(contract["forbidden_modules"])
    return allows


def test_the_table_layers_are_the_import_linter_contract() -> None:
    rows = table(ARCHITECTURE.read_text(encoding="utf-8"))
    by_number: dict[int, set[str]] = {}
    for package, (layer, _) in rows.items():
        by_number.setdefault(layer, set()).add(package)
    assert [by_number[n] for n in sorted(by_number, reverse=True)] == contract_layers()


def test_each_row_names_every_package_it_imports() -> None:
    rows = table(ARCHITECTURE.read_text(encoding="utf-8"))
    unnamed = {
        package: sorted(imported - allowed(rows, package))
        for package, imported in imports_of(tracked_files(ROOT), set(rows)).items()
    }
    assert {package: names for package, names in unnamed.items() if names} == {}


def test_the_cells_are_read_as_written() -> None:
    text = (
        "| 3 | `top/` | x | everything below |\n"
        "| 2 | `mid/` | x | `low` (why), and below |\n"
        "| 2 | `side/` | x | `base`; not `mid` |\n"
        "| 1 | `low/` | x | `base` |\n"
        "| 0 | `base/` | x | nothing of ours |\n"
    )
    rows = table(text)
    assert {p: allowed(rows, p) for p in rows} == {
        "top": {"mid", "side", "low", "base"},
        "mid": {"low", "base"},
        "side": {"base"},
        "low": {"base"},
        "base": set(),
    }


def test_each_cell_allows_what_the_contracts_allow() -> None:
    """Both directions: a cell that allows a package the contracts forbid would let a reader plan an import CI
    refuses; a contract that allows what the cell forbids would let that import in unseen."""
    rows = table(ARCHITECTURE.read_text(encoding="utf-8"))
    assert {package: allowed(rows, package) for package in rows} == contract_allows(importlinter())


def test_the_contracts_are_read_as_import_linter_reads_them() -> None:
    config: dict[str, Any] = {
        "root_packages": ["top", "mid", "side", "low", "base"],
        "contracts": [
            {"type": "layers", "layers": ["top", "mid | side", "low", "base"]},
            {"type": "layers", "containers": ["top"], "layers": ["a", "b"]},
            {"type": "forbidden", "source_modules": ["mid"], "forbidden_modules": ["base"]},
            {"type": "forbidden", "source_modules": ["low.core"], "forbidden_modules": ["base"]},
        ],
    }
    assert contract_allows(config) == {
        "top": {"mid", "side", "low", "base"},
        "mid": {"low"},
        "side": {"low", "base"},
        "low": {"base"},
        "base": set(),
    }


def test_the_pure_core_contract_forbids_everything_of_ours_but_the_suite() -> None:
    """``notary.log`` imports nothing of ours outside itself but ``suite`` (``docs/architecture.md``): its
    contract names every other root package and every other part of ``notary``, a new part too."""
    config = importlinter()
    (contract,) = [c for c in config["contracts"] if c.get("source_modules") == ["notary.log"]]
    files = tracked_files(ROOT)
    parts = {
        name.split("/")[1].removesuffix(".py")
        for name in files
        if name.startswith("notary/") and name.endswith(".py") and name.count("/") >= 1
    } - {"__init__", "log"}
    expected = (set(config["root_packages"]) - {"notary", "suite"}) | {f"notary.{part}" for part in parts}
    assert set(contract["forbidden_modules"]) == expected
