"""The committed contract artifacts are fresh: same sources, same compiler, same bytecode."""

from __future__ import annotations

import json
import shutil
import sys
from functools import cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:  # plain `pytest` with the project not installed
    sys.path.insert(0, str(_ROOT))

import contracts  # noqa: E402
import contracts.compile as compile_module  # noqa: E402
from contracts import CONTRACT_NAMES, load_artifact  # noqa: E402


def committed(name: str) -> dict[str, Any]:
    """The artifact file as committed (not through load_artifact's cache)."""
    data: dict[str, Any] = json.loads((contracts.ARTIFACT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def compiler_version() -> str:
    return compile_module.compiler_version()


@pytest.fixture(scope="module")
def compiled(compiler_version: str) -> Any:
    """Compile each contract at most once per module: compiling is the slow part."""

    @cache
    def compile_once(name: str) -> dict[str, Any]:
        return compile_module.compile_contract(name, compiler_version)

    return compile_once


def test_every_contract_has_an_artifact() -> None:
    assert sorted(p.stem for p in contracts.ARTIFACT_DIR.glob("*.json")) == sorted(CONTRACT_NAMES)
    assert sorted(p.stem for p in contracts.SOURCE_DIR.glob("*.vy")) == sorted([*CONTRACT_NAMES, "membership"])


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_matches_the_sources(name: str) -> None:
    assert compile_module.source_sha256(name) == committed(name)["source_sha256"], (
        f"contracts/artifacts/{name}.json is stale: run `make contracts`"
    )


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_artifact_was_built_by_the_installed_compiler(name: str, compiler_version: str) -> None:
    assert compiler_version.startswith(installed_version("vyper"))
    assert committed(name)["compiler"] == "vyper " + compiler_version


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_compiling_the_sources_gives_the_committed_artifact(name: str, compiled: Any) -> None:
    fresh = compiled(name)
    artifact = committed(name)
    assert fresh["bytecode"] == artifact["bytecode"], f"{name}: bytecode differs, run `make contracts`"
    assert fresh["abi"] == artifact["abi"]
    assert fresh == artifact  # the whole file: name, compiler and source hash too
    loaded = load_artifact(name)
    assert (loaded.bytecode, loaded.abi, loaded.source_sha256) == (
        artifact["bytecode"],
        artifact["abi"],
        artifact["source_sha256"],
    )


def test_no_artifact_is_stale() -> None:
    assert compile_module.stale_artifacts() == []
    assert compile_module.main(["--check"]) == 0


# -- staleness detection, on a copy of the contracts directory --------------------------------------------


@pytest.fixture
def contracts_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sources, interfaces and artifacts, which ``contracts.compile`` now reads instead."""
    root = tmp_path / "contracts"
    for sub in ("src", "interfaces", "artifacts"):
        shutil.copytree(contracts.CONTRACTS_DIR / sub, root / sub)
    monkeypatch.setattr(compile_module, "CONTRACTS_DIR", root)
    monkeypatch.setattr(compile_module, "SOURCE_DIR", root / "src")
    monkeypatch.setattr(compile_module, "ARTIFACT_DIR", root / "artifacts")
    return root


def append_comment(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n# an edit the artifact has not seen\n", encoding="utf-8")


def test_the_copy_starts_fresh(contracts_copy: Path) -> None:
    assert compile_module.stale_artifacts() == []
    for name in CONTRACT_NAMES:
        assert compile_module.source_sha256(name) == committed(name)["source_sha256"]


def test_editing_a_contract_makes_its_artifact_stale(contracts_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    append_comment(contracts_copy / "src" / "AccessGrants.vy")
    assert compile_module.stale_artifacts() == ["AccessGrants"]
    assert compile_module.source_sha256("AccessGrants") != committed("AccessGrants")["source_sha256"]
    assert compile_module.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "stale artifact: contracts/artifacts/AccessGrants.json" in err
    assert "AuditAnchor" not in err
    # the real tree is untouched
    assert (contracts.SOURCE_DIR / "AccessGrants.vy").read_bytes() != (
        contracts_copy / "src" / "AccessGrants.vy"
    ).read_bytes()


@pytest.mark.parametrize("shared", ["src/membership.vy", "interfaces/IConsortiumRegistry.vyi"])
def test_editing_a_shared_file_makes_every_artifact_stale(contracts_copy: Path, shared: str) -> None:
    append_comment(contracts_copy / shared)
    assert compile_module.stale_artifacts() == list(CONTRACT_NAMES)


def test_a_missing_artifact_is_stale(contracts_copy: Path) -> None:
    (contracts_copy / "artifacts" / "AuditAnchor.json").unlink()
    assert compile_module.stale_artifacts() == ["AuditAnchor"]


def test_a_new_interface_makes_every_artifact_stale(contracts_copy: Path) -> None:
    (contracts_copy / "interfaces" / "INew.vyi").write_text("# new\n", encoding="utf-8")
    assert compile_module.stale_artifacts() == list(CONTRACT_NAMES)
