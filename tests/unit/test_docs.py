"""The docs hold what the code and tests point at: every "failure catalogue N" resolves in
``docs/failure-catalogue.md``, and the maps of the code (``docs/architecture.md``'s layers, the README's layout)
name what the tree holds and nothing it no longer holds."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.gitindex import tracked_files

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "failure-catalogue.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"
#: Top-level directories of Python that sit outside the layers (``docs/architecture.md``).
OUTSIDE_LAYERS = frozenset({"bench", "tests"})
#: A row of the layers table: layer, one package, what it owns, what it may import.
_LAYER_ROW = re.compile(r"^\| \d+ \| `(\w+)/` \| (.*) \| .* \|$", re.MULTILINE)
_CODE = re.compile(r"`([^`\s]+)`")
_CITATION = re.compile(r"catalogue\s+(\d+(?:(?:,\s*|\s+and\s+)\d+)*)", re.IGNORECASE)
_CASE = re.compile(r"^(\d+)\. ", re.MULTILINE)


def _tracked() -> list[str]:
    return tracked_files(ROOT)


def _tracked_text_files() -> list[Path]:
    return [ROOT / name for name in _tracked() if name.endswith((".py", ".md", ".js", ".html", ".toml"))]


def layer_rows(text: str) -> dict[str, str]:
    """Each package of the layers table → the text of its "owns" cell."""
    return {package: owns for package, owns in _LAYER_ROW.findall(text)}


def package_parts(files: list[str]) -> dict[str, set[str]]:
    """Each layered package → what its map row must name: every module directly in it (``x.py``, not
    ``__init__.py`` or ``__main__.py``) and every package directory below it (``node/rpc/``)."""
    parts: dict[str, set[str]] = {}
    for name in files:
        top, _, rest = name.partition("/")
        if not rest or top in OUTSIDE_LAYERS or not name.endswith(".py") or f"{top}/__init__.py" not in files:
            continue
        wanted = parts.setdefault(top, set())
        if "/" not in rest and rest not in ("__init__.py", "__main__.py"):
            wanted.add(rest)
        elif rest.endswith("/__init__.py"):
            wanted.add(rest.removesuffix("__init__.py"))
    return parts


def unnamed_parts(text: str, files: list[str]) -> dict[str, list[str]]:
    """What the layers table of ``text`` leaves out of the tree ``files`` (a package without a row: ``["*"]``)."""
    rows = layer_rows(text)
    missing: dict[str, list[str]] = {}
    for package, wanted in package_parts(files).items():
        if package not in rows:
            missing[package] = ["*"]
            continue
        named = set(_CODE.findall(rows[package]))
        left_out = sorted(part for part in wanted if part not in named and f"{package}/{part}" not in named)
        if left_out:
            missing[package] = left_out
    return missing


def cited_cases(text: str) -> set[int]:
    return {int(n) for match in _CITATION.finditer(text) for n in re.findall(r"\d+", match.group(1))}


def test_the_catalogue_numbers_its_cases_one_to_n_without_gaps() -> None:
    numbers = [int(n) for n in _CASE.findall(CATALOGUE.read_text(encoding="utf-8"))]
    assert numbers == list(range(1, len(numbers) + 1))


def test_every_citation_of_the_catalogue_names_one_of_its_cases() -> None:
    cases = set(int(n) for n in _CASE.findall(CATALOGUE.read_text(encoding="utf-8")))
    dangling = {
        str(path.relative_to(ROOT)): sorted(cited_cases(path.read_text(encoding="utf-8")) - cases)
        for path in _tracked_text_files()
        if path.is_file()
    }
    assert {path: numbers for path, numbers in dangling.items() if numbers} == {}


def test_a_citation_list_counts_each_number() -> None:
    assert cited_cases("catalogue 1, 2, 22 and (catalogue 3) and failure catalogue 14 and 15") == {1, 2, 3, 14, 15, 22}


def test_the_architecture_map_names_every_module_and_directory_of_every_package() -> None:
    assert unnamed_parts(ARCHITECTURE.read_text(encoding="utf-8"), _tracked()) == {}


def test_the_architecture_map_names_no_file_that_is_gone() -> None:
    """A module or directory a row names exists in its package (at any depth: the chain row names the node's
    ``vm.py``) or, for a sibling package, at the top."""
    files = _tracked()

    def exists(package: str, name: str) -> bool:
        return any(path.startswith(f"{package}/") and f"/{name}" in f"/{path}" for path in files) or any(
            path.startswith(name) for path in files
        )

    gone = {
        package: sorted(
            name for name in _CODE.findall(owns) if name.endswith((".py", "/")) and not exists(package, name)
        )
        for package, owns in layer_rows(ARCHITECTURE.read_text(encoding="utf-8")).items()
    }
    assert {package: names for package, names in gone.items() if names} == {}


def test_the_map_check_sees_a_module_or_directory_left_out() -> None:
    text = "| 1 | `pkg/` | the core (`a.py`, `sub/`) | nothing |\n"
    files = ["pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/sub/__init__.py", "pkg/new/__init__.py", "pkg/new/x.py"]
    assert unnamed_parts(text, files) == {"pkg": ["b.py", "new/"]}
    assert unnamed_parts(text, [*files, "other/__init__.py"])["other"] == ["*"]
    assert unnamed_parts(text, ["bench/__init__.py", "bench/run.py", "tests/__init__.py"]) == {}


def test_the_readme_layout_names_every_top_level_directory() -> None:
    text = README.read_text(encoding="utf-8")
    layout = text[text.index("## Layout") :]
    named = {
        name.rstrip("/")
        for row in layout.splitlines()
        if row.startswith("| `")
        for name in _CODE.findall(row.split(" | ")[0])
    }
    directories = {name.split("/")[0] for name in _tracked() if "/" in name and not name.startswith(".")}
    assert directories - named == set()


def layout_paths_gone(layout: str, root: Path) -> list[str]:
    """The paths (names with a ``/``) the rows of a README layout table name that exist neither from ``root``
    nor, for the tests' own folders (``unit/``), under ``root/tests``."""
    named = {name for row in layout.splitlines() if row.startswith("| `") for name in _CODE.findall(row) if "/" in name}
    return sorted(name for name in named if not (root / name).exists() and not (root / "tests" / name).exists())


def test_the_readme_layout_names_no_path_that_is_gone(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    assert layout_paths_gone(text[text.index("## Layout") :], ROOT) == []
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "pkg").mkdir()
    row = "| `pkg/` | a core (`pkg/gone.py`), its tests (`unit/`) |\n"
    assert layout_paths_gone(row, tmp_path) == ["pkg/gone.py"]
