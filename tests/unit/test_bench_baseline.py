"""The benchmarks' ``--baseline CHECKOUT`` modes (``bench.gateway_baseline``, ``bench.chain_baseline``): which
command a checkout runs, the medians printed, and a directory that is no checkout refused before anything starts."""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import pytest

from bench import chain_baseline, explorer_baseline
from bench.common import write_side_by_side
from bench.gateway_baseline import compare, entry_module, summarise


def test_a_checkout_with_the_cli_package_runs_it_and_an_older_one_runs_network_cli(tmp_path: Path) -> None:
    (tmp_path / "network").mkdir()
    (tmp_path / "network" / "cli.py").write_text("")
    assert entry_module(tmp_path) == "network.cli"
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "main.py").write_text("")
    assert entry_module(tmp_path) == "cli.main"


def _round(calls: float, gateway: float, beside: float, added: float) -> dict[str, object]:
    return {
        "calls_per_s": calls,
        "cpu_us_per_call": {"gateway": gateway, "node": beside},
        "cpu_us_per_call_on_the_path": gateway + 100,
        "cpu_us_per_call_beside": beside,
        "added_p50_ms": added,
    }


def test_the_medians_are_of_each_figure_over_the_rounds() -> None:
    rounds = [_round(1500, 500, 90, 1.2), _round(1300, 560, 110, 1.9), _round(1700, 520, 100, 1.4)]
    assert summarise(rounds) == {
        "calls_per_s": 1500,
        "cpu_us_per_call_on_the_path": 620,
        "cpu_us_per_call_beside": 100,
        "added_p50_ms": 1.4,
        "gateway_cpu_us_per_call": 520,
    }


def test_a_directory_that_is_no_checkout_is_refused_before_anything_starts(tmp_path: Path) -> None:
    args = argparse.Namespace(baseline=tmp_path, rounds=1, requests=10, concurrency=1, latency_samples=1)
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        compare(args, out=tmp_path / "figures.json")
    assert not (tmp_path / "figures.json").exists()


def test_the_chain_comparison_refuses_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    args = argparse.Namespace(baseline=tmp_path, rounds=1, transactions=1, reads=1, serial=1, sustained=1)
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        chain_baseline.compare(args, out=tmp_path / "figures.json")
    assert not (tmp_path / "figures.json").exists()


def test_side_by_side_figures_carry_both_codes_medians_their_ratio_and_every_round(tmp_path: Path) -> None:
    rounds = {"baseline": [{"x": 2.0}, {"x": 4.0}], "this": [{"x": 3.0}, {"x": 3.0}]}
    summary = {"baseline": {"x": 3.0, "y": 0.0}, "this": {"x": 3.3, "y": 1.0}}
    commits = {"baseline": "10564a75", "this": "891b141b+"}
    written = write_side_by_side(rounds, summary, commits, "cmd", {"start": [0.1]}, tmp_path / "f.json")
    assert written["this_over_baseline"] == {"x": 1.1, "y": None}  # no ratio to a zero
    assert json.loads((tmp_path / "f.json").read_text()) == written
    assert written["rounds"] == rounds and written["medians"] == summary and written["command"] == "cmd"
    assert written["commits"] == commits and written["load_average"] == {"start": [0.1]}


def test_the_chain_runner_imports_nothing_of_this_trees_bench_at_its_top() -> None:
    """``bench/chain_baseline.py --one`` runs inside the other checkout, whose ``bench`` is older: the module's top
    imports only the standard library (its ``compare`` imports this tree's ``bench.common`` when it runs)."""
    tree = ast.parse(Path(chain_baseline.__file__).read_text(encoding="utf-8"))
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
    assert names and all(name.split(".")[0] in sys.stdlib_module_names | {"__future__"} for name in names), names


def test_the_explorer_comparison_takes_its_figures_from_a_runs_results() -> None:
    recorded = json.loads((Path(explorer_baseline.ROOT) / "bench" / "results" / "explorer.json").read_text())
    figures = explorer_baseline.figures_of(recorded["results"])
    assert set(figures) == {name for name, _ in explorer_baseline.FIGURES}
    assert figures["provenance_cold_p99_ms"] == recorded["results"]["provenance"]["cold"]["p99_ms"]
    assert figures["export_calls_csv_rows_per_s"] == recorded["results"]["exports"][0]["rows_per_s"]


def test_the_explorer_comparison_refuses_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    args = argparse.Namespace(baseline=tmp_path, rounds=1, events=None)
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        explorer_baseline.compare(args, out=tmp_path / "figures.json")
