"""The docs hold what the code and tests point at: every "failure catalogue N" resolves in
``docs/failure-catalogue.md``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "failure-catalogue.md"
_CITATION = re.compile(r"catalogue\s+(\d+(?:(?:,\s*|\s+and\s+)\d+)*)", re.IGNORECASE)
_CASE = re.compile(r"^(\d+)\. ", re.MULTILINE)


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in out.splitlines() if name.endswith((".py", ".md", ".js", ".html", ".toml"))]


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
