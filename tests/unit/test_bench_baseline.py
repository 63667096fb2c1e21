"""The benchmarks' ``--baseline CHECKOUT`` modes (``bench.gateway_baseline``, ``bench.chain_baseline``): which
command a checkout runs, the medians printed, and a directory that is no checkout refused before anything starts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench import chain_baseline
from bench.gateway_baseline import compare, entry_module, medians


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
    assert medians(rounds) == {
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
